"""Read logged runs from CSV/TSV files into :class:`~lrcurve.runs.Run` values.

Columns are found by their usual names (``step|iter|_step``, ``lr|learning_rate|
train_lr``, ``val_loss|loss|train_loss``, optional ``run``) or named explicitly.
Every problem with the input becomes an :class:`~lrcurve.errors.InputError` whose
message names the file, column or value; repairs that are safe (dropping NaN
losses, duplicate steps, sorting) are made and recorded in ``Run.notes``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lrcurve.errors import InputError
from lrcurve.runs import Run, logged_schedule
from lrcurve.schedules import Schedule

if TYPE_CHECKING:
    from lrcurve.logs import LogOptions

STEP_NAMES = ("step", "steps", "iter", "iteration", "iterations", "_step", "global_step", "trainer/global_step", "train/step")
LR_NAMES = ("lr", "learning_rate", "train_lr", "learning-rate", "learningrate", "train/lr", "optimizer/lr", "lr-adam", "lr-adamw", "train/learning_rate")
LOSS_NAMES = (
    "val_loss", "validation_loss", "valid_loss", "eval_loss", "val/loss", "eval/loss", "validation/loss",
    "loss", "lm_loss", "train_loss", "train/loss", "training_loss",
)
RUN_NAMES = ("run", "run_name", "run_id")
LOSS_UNITS = ("auto", "nats", "bits", "ppl")
# ln(vocabulary size) bounds a per-token loss in nats; no tokenizer in use exceeds 2^20 entries.
MAX_PLAUSIBLE_NATS = math.log(2**20)


@dataclass(frozen=True)
class Columns:
    """Explicit column names; ``None`` means detect."""

    step: str | None = None
    lr: str | None = None
    loss: str | None = None
    run: str | None = None


def read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a CSV file")
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: binary file, not a CSV/TSV table")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    first = text.lstrip().splitlines()[0]
    if first.startswith(("{", "[")):
        raise InputError(f"{path}: looks like JSON; lrcurve reads CSV/TSV tables with step, lr and loss columns")
    sep = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
    if sep == "," and ";" in first and "," not in first:
        sep = ";"
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True, dtype=str,
                            keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot parse as a table: {reason}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame.columns) < 2:
        raise InputError(
            f"{path}: found a single column {frame.columns[0]!r}; expected step, lr and loss columns separated by ',' or tabs"
        )
    if frame.empty:
        raise InputError(f"{path}: has a header but no rows")
    return frame


def find_column(frame: pd.DataFrame, path: Path, names: tuple[str, ...], given: str | None) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise InputError(f"{path}: no column {given!r} (columns: {', '.join(frame.columns)})")
        return given
    lower = {c.lower(): c for c in frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


_NON_FINITE = {"nan": np.nan, "inf": np.inf, "+inf": np.inf, "-inf": -np.inf, "infinity": np.inf, "-infinity": -np.inf}


def numeric_column(frame: pd.DataFrame, column: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A column as floats, and which cells were blank. Text that is not a number is an error."""
    text = frame[column].fillna("").astype(str).str.strip()
    blank = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~blank), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan).copy()
    lowered = text.str.lower()
    special = lowered.isin(_NON_FINITE).to_numpy()
    values[special] = lowered[special].map(_NON_FINITE).to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~blank & ~special
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{path}: column {column!r} row {row + 2}: {text.iloc[row]!r} is not a number")
    return values, blank


def _loss_unit(column: str, loss: np.ndarray, unit: str, path: Path) -> str:
    if unit not in LOSS_UNITS:
        raise InputError(f"--loss-unit must be one of {', '.join(LOSS_UNITS)}, got {unit!r}")
    if unit != "auto":
        return unit
    name = column.lower()
    if "ppl" in name or "perplexity" in name:
        return "ppl"
    if "bits" in name or "bpt" in name:
        return "bits"
    finite = loss[np.isfinite(loss)]
    if finite.size and np.median(finite) > MAX_PLAUSIBLE_NATS:
        raise InputError(
            f"{path}: column {column!r} has median {np.median(finite):.4g}, too large for a loss in nats; "
            "if it is perplexity pass --loss-unit ppl (or bits: --loss-unit bits)"
        )
    return "nats"


def _to_nats(loss: np.ndarray, unit: str, column: str, path: Path) -> np.ndarray:
    if unit == "ppl":
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() < 1:
            raise InputError(f"{path}: column {column!r} has perplexity {finite.min():.4g} < 1")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(loss)
    if unit == "bits":
        return loss * math.log(2.0)
    return loss


def _check_steps(steps: np.ndarray, where: str, column: str) -> None:
    def fail(mask: np.ndarray, what: str) -> None:
        row = int(np.flatnonzero(mask)[0])
        raise InputError(f"{where}: column {column!r} row {row + 2}: {what.format(steps[row])}")

    if not np.all(np.isfinite(steps)):
        fail(~np.isfinite(steps), "missing or non-finite step")
    if np.any(steps != np.round(steps)):
        fail(steps != np.round(steps), "step {:g} is not a whole number")
    if np.any(steps < 0):
        fail(steps < 0, "negative step {:g}")


def _check_lr(lr: np.ndarray, where: str, column: str) -> None:
    bad = np.isinf(lr) | (np.isfinite(lr) & (lr < 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{where}: column {column!r} row {row + 2}: learning rate {lr[row]:g} is not a non-negative number")


def _lr_schedule(steps: np.ndarray, lr: np.ndarray, where: str, column: str, warmup_steps: int | None) -> tuple[Schedule, str]:
    """The schedule from the rows that carry an LR (steps sorted and unique)."""
    rows = np.isfinite(lr)
    if not rows.any():
        raise InputError(f"{where}: column {column!r} has no values")
    if not np.any(lr[rows] > 0):
        raise InputError(f"{where}: column {column!r} is zero everywhere; the laws need a positive learning rate")
    lr_steps, values = steps[rows], lr[rows]
    if lr_steps[0] == 0:  # the LR logged "at step 0" is the one the first update uses
        if lr_steps.size > 1 and lr_steps[1] == 1:
            lr_steps, values = lr_steps[1:], values[1:]
        else:
            lr_steps = np.concatenate([[1.0], lr_steps[1:]])
    return logged_schedule(lr_steps, values, warmup_steps)


def _unique_sorted(steps: np.ndarray, where: str, notes: list[str]) -> np.ndarray:
    """Row order that sorts by step, keeping the last line logged for a repeated step
    (a resumed run logs some steps again and its later lines win)."""
    keep = ~pd.Series(steps).duplicated(keep="last").to_numpy()
    if not keep.all():
        notes.append(f"{where}: {int((~keep).sum())} duplicate steps; kept the last line logged for each")
    idx = np.flatnonzero(keep)
    if np.any(np.diff(steps[idx]) < 0):
        notes.append(f"{where}: steps were not in order; sorted them")
    return idx[np.argsort(steps[idx], kind="stable")]


def read_schedule(path: str | Path, columns: Columns = Columns(), warmup_steps: int | None = None) -> Schedule:
    """A schedule from a file of ``step,lr`` rows (linear between rows), or a run's log (W&B, TensorBoard)."""
    path = Path(path)
    from lrcurve import logs

    if logs.log_format(path) != "table":
        return read_runs(path, warmup_steps=warmup_steps)[0].schedule
    frame = read_table(path)
    step_col = find_column(frame, path, STEP_NAMES, columns.step)
    lr_col = find_column(frame, path, LR_NAMES, columns.lr)
    if step_col is None or lr_col is None:
        raise InputError(f"{path}: a schedule file needs step and lr columns (columns: {', '.join(frame.columns)})")
    steps, _ = numeric_column(frame, step_col, path)
    lr, _ = numeric_column(frame, lr_col, path)
    _check_steps(steps, str(path), step_col)
    _check_lr(lr, str(path), lr_col)
    idx = _unique_sorted(steps, str(path), [])
    return _lr_schedule(steps[idx], lr[idx], str(path), lr_col, warmup_steps)[0]


def read_runs(
    path: str | Path,
    columns: Columns = Columns(),
    *,
    loss_unit: str = "auto",
    warmup_steps: int | None = None,
    max_bad_fraction: float = 0.5,
    log: "LogOptions | None" = None,
) -> list[Run]:
    """Read one or more runs from a CSV/TSV file (several when it has a run column).

    W&B exports and TensorBoard logs are read too, and ``log`` picks the loss series,
    its smoothing and a parent run (:mod:`lrcurve.logs`).
    """
    path = Path(path)
    from lrcurve import logs  # W&B, TensorBoard, and the log options for any format

    if log is not None or logs.log_format(path) != "table":
        return logs.read_log(path, columns, log or logs.LogOptions(), loss_unit=loss_unit, warmup_steps=warmup_steps,
                             max_bad_fraction=max_bad_fraction)
    frame = read_table(path)
    step_col = find_column(frame, path, STEP_NAMES, columns.step)
    lr_col = find_column(frame, path, LR_NAMES, columns.lr)
    loss_col = find_column(frame, path, LOSS_NAMES, columns.loss)
    run_col = find_column(frame, path, RUN_NAMES, columns.run)
    for what, col, names, flag in (
        ("step", step_col, STEP_NAMES, "--step-col"),
        ("LR", lr_col, LR_NAMES, "--lr-col"),
        ("loss", loss_col, LOSS_NAMES, "--loss-col"),
    ):
        if col is None:
            raise InputError(
                f"{path}: no {what} column (columns: {', '.join(frame.columns)}; looked for {', '.join(names[:4])}, ...); "
                f"name it with {flag}"
            )
    if run_col is None:
        groups = [(path.stem, frame)]
    else:
        groups = [(f"{path.stem}:{key}", part) for key, part in frame.groupby(run_col, sort=False)]
    return [
        _run_from_frame(part.reset_index(drop=True), name, path, step_col, lr_col, loss_col,  # type: ignore[arg-type]
                        loss_unit, warmup_steps, max_bad_fraction)
        for name, part in groups
    ]


def _run_from_frame(
    frame: pd.DataFrame,
    name: str,
    path: Path,
    step_col: str,
    lr_col: str,
    loss_col: str,
    loss_unit: str,
    warmup_steps: int | None,
    max_bad_fraction: float,
) -> Run:
    notes: list[str] = []
    steps, _ = numeric_column(frame, step_col, path)
    lr, _ = numeric_column(frame, lr_col, path)
    loss, loss_blank = numeric_column(frame, loss_col, path)
    where = f"{path}" if name == path.stem else f"{path} (run {name.split(':', 1)[1]})"

    _check_steps(steps, where, step_col)
    _check_lr(lr, where, lr_col)

    unit = _loss_unit(loss_col, loss, loss_unit, path)
    loss = _to_nats(loss, unit, loss_col, path)
    if unit != "nats":
        notes.append(f"{where}: converted column {loss_col!r} from {unit} to nats")

    idx = _unique_sorted(steps, where, notes)
    steps, lr, loss, loss_blank = steps[idx], lr[idx], loss[idx], loss_blank[idx]

    schedule, origin = _lr_schedule(steps, lr, where, lr_col, warmup_steps)

    if np.any(np.isfinite(loss) & (loss < 0)):
        row = int(np.flatnonzero(np.isfinite(loss) & (loss < 0))[0])
        raise InputError(f"{where}: column {loss_col!r}: negative loss {loss[row]:g} at step {steps[row]:g}")
    # A blank loss cell is a row that logged something else; a NaN or inf loss is a bad value.
    bad = ~np.isfinite(loss) & ~loss_blank
    if bad.any():
        logged = int((~loss_blank).sum())
        if bad.sum() / logged > max_bad_fraction:
            raise InputError(f"{where}: column {loss_col!r}: {int(bad.sum())} of {logged} losses are NaN or infinite; refusing to fit")
        notes.append(f"{where}: dropped {int(bad.sum())} rows whose {loss_col!r} is NaN or infinite")
    usable = np.isfinite(loss) & (steps > 0)
    if np.any(np.isfinite(loss) & (steps == 0)):
        notes.append(f"{where}: dropped the loss at step 0 (before any update)")
    if usable.sum() < 3:
        raise InputError(f"{where}: only {int(usable.sum())} usable loss values; a fit needs at least 3")
    return Run(
        name=name,
        steps=steps[usable].astype(np.int64),
        loss=loss[usable],
        schedule=schedule,
        source=str(path),
        lr_origin=origin,
        notes=tuple(notes),
    )
