"""The sweep points ``lr-horizon`` fits (:mod:`lrcurve.horizon`): one per row of a summary table
(peak LR, horizon, final loss), or one per finished run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import ParameterError, ReadError
from lrcurve.horizon import SweepPoint
from lrcurve.runs import Run

# a run logged to this fraction of its horizon counts as finished
FINISHED = 0.98

# Column names of a summary table, one row per finished run (the first found is used).
TABLE_LR = ("lr", "peak_lr", "learning_rate", "max_lr")
TABLE_HORIZON = ("tokens", "horizon", "steps", "iterations", "iters", "train_steps")
TABLE_LOSS = ("final_val_loss", "final_loss", "val_loss", "loss", "final_train_loss")


@dataclass(frozen=True)
class TablePoints:
    """The sweep points of a summary table; ``in_tokens``: its horizon column is ``tokens``."""

    points: list[SweepPoint]
    in_tokens: bool
    notes: list[str]


def _rows_where(frame: Any, path: Path, where: Sequence[str]) -> Any:
    for condition in where:
        column, sep, value = condition.partition("=")
        if not sep or column not in frame.columns:
            raise ParameterError(
                f"{condition!r}: expected COLUMN=VALUE with a column of {path}", param="where"
            )
        frame = frame[frame[column].astype(str) == value]
    if frame.empty:
        raise ParameterError(f"{path}: no rows left after {' '.join(where)}", param="where")
    return frame


def points_from_table(
    path: Path, where: Sequence[str] = (), tokens_per_step: float = 1.0
) -> TablePoints:
    """One sweep point per row of a summary table (``lr``, horizon, final ``loss``), horizons
    in tokens (``steps * tokens_per_step`` unless the column is ``tokens``)."""
    from lrcurve.io.table import find_column, numeric_column
    from lrcurve.io.table import read_frame as read_table

    frame = _rows_where(read_table(path), path, where)
    columns = {
        what: find_column(frame, path, names, None)
        for what, names in (("lr", TABLE_LR), ("horizon", TABLE_HORIZON), ("loss", TABLE_LOSS))
    }
    missing = [what for what, col in columns.items() if col is None]
    if missing:
        raise ReadError(
            f"{path}: no {' or '.join(missing)} column (columns: {', '.join(frame.columns)})"
        )
    values: dict[str, NDArray[np.float64]] = {}
    for what, column in columns.items():
        numbers, _ = numeric_column(frame, column, path)
        bad = numbers <= 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ReadError(
                f"{path}: column {column!r} row {frame.index[row] + 2}: {what} "
                f"{numbers[row]:g} is not positive"
            )
        values[what] = numbers
    lr, loss = values["lr"], values["loss"]
    in_tokens = columns["horizon"].lower() == "tokens"
    horizon = scaled_horizons(values["horizon"], 1.0 if in_tokens else tokens_per_step)
    names = frame[frame.columns[0]].astype(str).tolist()
    keep = np.isfinite(loss) & np.isfinite(lr) & np.isfinite(values["horizon"])
    notes = []
    if (~keep).any():
        left = int((~keep).sum())
        notes.append(f"{path}: left out {left} rows without a finite LR, horizon and loss")
    points = [
        SweepPoint(float(h), float(r), float(v), n)
        for h, r, v, n, k in zip(horizon, lr, loss, names, keep)
        if k
    ]
    return TablePoints(points, in_tokens, notes)


def scaled_horizons(steps: ArrayLike, tokens_per_step: float) -> NDArray[np.float64]:
    """Horizons in tokens: ``steps * tokens_per_step``, refusing a product that overflows."""
    steps = np.asarray(steps, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        tokens = steps * tokens_per_step
    over = np.isfinite(steps) & ~np.isfinite(tokens)
    if over.any():
        raise ParameterError(
            f"{tokens_per_step:g}: a horizon of {steps[over][0]:g} steps overflows to an "
            "infinite token count",
            param="tokens_per_step",
        )
    return tokens


def points_from_runs(
    runs: Sequence[Run], tokens_per_step: float
) -> tuple[list[SweepPoint], list[str]]:
    """A sweep point per finished run (peak LR, horizon in tokens, last logged loss), and a note
    for each run left out as not finished."""
    points, notes = [], []
    for run in runs:
        if run.last_step < FINISHED * run.horizon:
            notes.append(
                f"{run.name}: logged to step {run.last_step} of {run.horizon}; left out (not "
                "finished)"
            )
            continue
        horizon = float(scaled_horizons(run.horizon, tokens_per_step))
        points.append(SweepPoint(horizon, run.peak_lr, float(run.loss[-1]), run.name))
    return points, notes
