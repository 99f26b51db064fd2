"""The sweep points ``lr-horizon`` fits (:mod:`lrcurve.horizon`): one per row of a summary table
(peak LR, horizon, final loss), or one per finished run."""

from __future__ import annotations

import re
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
TABLE_TOKENS_PER_STEP = ("tokens_per_step", "batch_tokens")
TABLE_BATCH = ("batch_seqs", "global_batch_size", "batch_size")  # sequences per step
TABLE_SEQ_LEN = ("seq_len", "sequence_length", "seq_length", "block_size")
# columns that set a run's schedule beyond its peak LR and horizon: rows that differ in one are
# different experiments, whose best LRs differ (e.g. a sqrt cooldown's loss is lower than a
# linear one's at every LR, so pooling them shifts the parabola)
WSD_SCHEDULERS = ("wsd", "wsd_twostage")
SCHEDULE_COLUMNS: dict[str, tuple[str, ...] | None] = {  # column: the schedulers it shapes
    "scheduler": None,
    "schedule": None,
    "decay_type": WSD_SCHEDULERS,
    "wsd_fract_decay": WSD_SCHEDULERS,
    "wsd_final_lr_scale": WSD_SCHEDULERS,
    "cos_final_lr": ("cos", "cosine"),
    "warmup_steps": None,
    "warmup": None,
}

# tokens per step of one sweep point, with how it is known; None when unknown
PerStep = tuple[float, str] | None


@dataclass(frozen=True)
class TablePoints:
    """The sweep points of a summary table; ``in_tokens``: its horizon column is ``tokens``;
    ``per_step``: each point's tokens per step from the table's batch columns."""

    points: list[SweepPoint]
    in_tokens: bool
    notes: list[str]
    per_step: list[PerStep]


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


def pooled_schedules(frame: Any) -> str:
    """``column (values)`` for each schedule column whose values differ between ``frame``'s
    rows (among the rows whose scheduler the column shapes), joined by ``; ``, or ``""``."""
    mixed = []
    for column, schedulers in SCHEDULE_COLUMNS.items():
        if column not in frame.columns:
            continue
        rows = frame
        if schedulers is not None and "scheduler" in frame.columns:
            rows = frame[frame["scheduler"].astype(str).isin(schedulers)]
        values = sorted({"" if v != v else str(v) for v in rows[column]})  # v != v: NaN
        if len(values) > 1:
            mixed.append(f"{column} ({', '.join(v or 'empty' for v in values)})")
    return "; ".join(mixed)


def pool_notes(mixed: str, what: str, pool: bool) -> list[str]:
    """Refuse to fit ``what`` together when they differ in the schedule settings ``mixed``
    (unless ``pool``: then a note says it)."""
    if not mixed:
        return []
    if not pool:
        raise ParameterError(
            f"needed to fit together {what} that differ in {mixed}: schedules whose best LRs "
            "differ (or keep one kind)",
            param="pool",
        )
    return [f"pooled {what} that differ in {mixed}"]


# schedule settings that follow from the peak LR and horizon, not from the kind of schedule
_SCALED = {"peak_lr", "init", "period", "start"}


def schedule_settings(data: dict[str, Any], kind: str = "") -> dict[str, str]:
    """A schedule's settings beyond its peak LR and horizon (``Schedule.to_dict()`` flattened,
    e.g. ``{"wsd.decay": "0.2", "wsd.shape": "sqrt", "warmup.steps": "300"}``)."""
    kind = f"{kind}>{data.get('kind')}" if kind else str(data.get("kind"))
    name = kind.rsplit(">", 1)[-1]
    settings = {"schedule": kind}
    for key, value in data.items():
        if isinstance(value, dict):
            settings.update(schedule_settings(value, kind))
        elif key not in _SCALED | {"kind"} and not (key == "steps" and name != "warmup"):
            settings[f"{name}.{key}"] = f"{value:g}" if isinstance(value, float) else str(value)
    return settings


def pooled_runs(runs: Sequence[Run]) -> str:
    """``setting (values)`` for each schedule setting in which runs with schedules rebuilt from a
    config differ, joined by ``; ``, or ``""`` (logged LR series are not compared)."""
    exact = [r for r in runs if r.lr_origin.startswith("rebuilt")]
    settings = [schedule_settings(r.schedule.to_dict()) for r in exact]
    mixed = []
    for key in dict.fromkeys(k for s in settings for k in s):
        values = sorted({s.get(key, "none") for s in settings})
        if len(values) > 1:
            mixed.append(f"{key} ({', '.join(values)})")
    return "; ".join(mixed)


def _table_per_step(frame: Any, path: Path) -> list[PerStep]:
    """Each row's tokens per step from a tokens-per-step column or batch x sequence length."""
    from lrcurve.io.table import find_column, numeric_column

    direct = find_column(frame, path, TABLE_TOKENS_PER_STEP, None)
    batch = find_column(frame, path, TABLE_BATCH, None)
    seq = find_column(frame, path, TABLE_SEQ_LEN, None)
    if direct is not None:
        values, how = numeric_column(frame, direct, path)[0], f"column {direct}"
    elif batch is not None and seq is not None:
        values = numeric_column(frame, batch, path)[0] * numeric_column(frame, seq, path)[0]
        how = f"columns {batch} x {seq}"
    else:
        return [None] * len(frame)
    return [(float(v), how) if np.isfinite(v) and v > 0 else None for v in values]


def points_from_table(
    path: Path, where: Sequence[str] = (), tokens_per_step: float = 1.0, pool: bool = False
) -> TablePoints:
    """One sweep point per row of a summary table (``lr``, horizon, final ``loss``), horizons
    in tokens (``steps * tokens_per_step`` unless the column is ``tokens``). Rows that differ in
    a schedule column are refused unless ``pool``, then noted."""
    from lrcurve.io.table import find_column, numeric_column
    from lrcurve.io.table import read_frame as read_table

    frame = _rows_where(read_table(path), path, where)
    notes = pool_notes(pooled_schedules(frame), f"rows of {path}", pool)
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
    if (~keep).any():
        left = int((~keep).sum())
        notes.append(f"{path}: left out {left} rows without a finite LR, horizon and loss")
    points = [
        SweepPoint(float(h), float(r), float(v), n)
        for h, r, v, n, k in zip(horizon, lr, loss, names, keep)
        if k
    ]
    per_step = [s for s, k in zip(_table_per_step(frame, path), keep) if k]
    return TablePoints(points, in_tokens, notes, per_step)


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
        points.append(SweepPoint(horizon, run.peak_lr, float(run.loss[-1]), run.name, run.label))
    return points, notes


def run_tokens_per_step(run: Run) -> PerStep:
    """Tokens per step from the W&B config of the export ``run`` was read from, or None."""
    from lrcurve.io.tokens import export_tokens_per_step

    source = Path(run.source) if run.source else None
    if source is None or source.suffix.lower() != ".json" or not source.is_file():
        return None
    found = export_tokens_per_step(source)
    return None if found is None else (found[0], f"W&B configs' {found[1]}")


def in_tokens(points: Sequence[SweepPoint], per_step: Sequence[PerStep]) -> tuple[list, str]:
    """``points`` (horizons in steps) with horizons in tokens from each point's tokens per step,
    and a note saying where those came from; refused when one is unknown."""
    unknown = [p.name for p, s in zip(points, per_step) if s is None]
    if unknown:
        raise ParameterError(
            f"needed for a target in tokens: the horizons are in steps and {len(unknown)} of "
            f"{len(points)} runs (e.g. {unknown[0]}) give no tokens per step (no batch size and "
            "sequence length in a W&B config or table); give it, or the target in steps (2e5steps)",
            param="tokens_per_step",
        )
    known = [s for s in per_step if s is not None]
    scaled = [
        SweepPoint(float(scaled_horizons(p.horizon, s[0])), p.lr, p.loss, p.name, p.label)
        for p, s in zip(points, known)
    ]
    kinds = sorted({s[1] for s in known})
    values = ", ".join(f"{v:,.0f}" for v in sorted({s[0] for s in known}))
    return scaled, f"horizons in tokens: {values} tokens per step, from the {'; '.join(kinds)}"


TARGET = re.compile(r"\s*([^\sa-df-zA-DF-Z]+)\s*(tokens|steps)?\s*")


def parse_target(text: str) -> tuple[float, str]:
    """A target horizon ``NUMBER[tokens|steps]`` (e.g. ``1e10``, ``2e5steps``) as (value, unit);
    without a unit it is in tokens, the D of lr_opt(D)."""
    match = TARGET.fullmatch(text)
    try:
        value = float(match.group(1)) if match else float("nan")
    except ValueError:
        value = float("nan")
    if not (match and np.isfinite(value) and value > 0):
        raise ParameterError(
            f"{text!r}: expected a positive number of tokens, or of steps as e.g. 2e5steps",
            param="target",
        )
    return value, match.group(2) or "tokens"
