"""Read logged runs from CSV/TSV files into :class:`~lrcurve.runs.Run` values.

Columns are found by their usual names (``step|iter|_step``, ``lr|learning_rate|
train_lr``, ``val_loss|loss|train_loss|...|ppl``, optional ``run``) or named
explicitly; the delimiter (comma, tab or semicolon) is the one the header line uses.

Every problem with the input becomes an :class:`~lrcurve.errors.InputError` whose
message names the file, column or value (rows are counted with the header as row 1).
Safe repairs are made and recorded in ``Run.notes``:

- a step logged more than once keeps the last value logged for it, column by column
  (a resumed run logs some steps again; a merged log may hold a step's LR and loss on
  separate lines, so a blank cell never replaces a value);
- rows out of order are sorted by step;
- NaN or infinite values are dropped, and refused when they are most of a column;
- a loss in bits or perplexity is converted to nats (``x ln 2``, ``ln ppl``).

A perplexity is recognised by its column name or by a median above ``ln 2^20`` nats
(no tokenizer has 2^20 tokens, and a per-token loss stays below ``ln(vocabulary)``
after the first steps); a loss in bits only by its column name or ``loss_unit="bits"``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lrcurve.errors import InputError
from lrcurve.output import mark_input
from lrcurve.runs import MAX_STEPS, MIN_LOSS, PEAK_LR_RANGE, Run, check_peak_lr, logged_schedule
from lrcurve.schedules import Schedule

if TYPE_CHECKING:
    from lrcurve.logs import LogOptions

STEP_NAMES = (
    "step",
    "steps",
    "iter",
    "iteration",
    "iterations",
    "_step",
    "global_step",
    "trainer/global_step",
    "train/step",
)
LR_NAMES = (
    "lr",
    "learning_rate",
    "train_lr",
    "learning-rate",
    "learningrate",
    "train/lr",
    "optimizer/lr",
    "lr-adam",
    "lr-adamw",
    "train/learning_rate",
)
LOSS_NAMES = (
    "val_loss",
    "validation_loss",
    "valid_loss",
    "eval_loss",
    "val/loss",
    "eval/loss",
    "validation/loss",
    "loss",
    "lm_loss",
    "train_loss",
    "train/loss",
    "training_loss",
    "val_ppl",
    "val_perplexity",
    "eval_ppl",
    "ppl",
    "perplexity",
    "train_ppl",
)
RUN_NAMES = ("run", "run_name", "run_id")
LOSS_UNITS = ("auto", "nats", "bits", "ppl")
DELIMITERS = (",", "\t", ";")
# ln(vocabulary size) bounds a per-token loss in nats; no tokenizer in use exceeds 2^20 entries.
MAX_PLAUSIBLE_NATS = math.log(2**20)
MIN_LOSS_POINTS = 3
# A logged LR may end this fraction of the run (plus one logging interval) before the last loss unsaid.
LR_HELD_SLACK = 0.05


@dataclass(frozen=True)
class Columns:
    """Explicit column names; ``None`` means detect."""

    step: str | None = None
    lr: str | None = None
    loss: str | None = None
    run: str | None = None


def _decode(path: Path) -> str:
    """The file's text; a missing file, a directory or binary content is refused."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a CSV file")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path}: UTF-16 text; save it as UTF-8")
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: binary file, not a CSV/TSV table")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    return text


def _json_int(text: str) -> int | float:
    """A JSON integer as Python reads it, but one beyond float range as +-inf (as JSON's ``1e400`` is)."""
    return int(text) if len(text) < 300 else float(text)


def read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path``; unreadable, non-UTF-8, invalid or absurdly nested text is refused
    as ``{path}: not {what} (...)``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not {what} (not UTF-8 text, byte {err.start})") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise InputError(f"{path}: not {what} (nested too deeply)") from None
    except ValueError as err:
        raise InputError(f"{path}: not {what} ({err})") from None


def delimiter(header: str) -> str:
    """A table's delimiter: the one of ``DELIMITERS`` its header line uses most."""
    return max(DELIMITERS, key=header.count)


def read_table(path: Path) -> pd.DataFrame:
    """The file as a table of text cells; the index is each row's position."""
    text = _decode(path)
    mark_input(path)
    header = text.lstrip().splitlines()[0]
    if header.startswith(("{", "[")):
        raise InputError(
            f"{path}: looks like JSON; lrcurve reads CSV/TSV tables with step, lr and loss columns"
        )
    sep = delimiter(header)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            skipinitialspace=True,
            dtype=str,
            keep_default_na=False,
            na_values=[],
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot parse as a table: {reason}") from None
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made the extra leading fields an index
        raise InputError(
            f"{path}: the rows have more fields than the header's {len(frame.columns)} names"
        )
    names = [
        name.strip() for name in next(csv.reader([header], delimiter=sep, skipinitialspace=True))
    ]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InputError(f"{path}: column {repeated[0]!r} appears more than once in the header")
    frame.columns = [str(c).strip() for c in frame.columns]
    if any("\n" in c or "\r" in c for c in frame.columns):
        raise InputError(
            f"{path}: a column name spans several lines (an unclosed quote in the header?)"
        )
    if len(frame.columns) < 2:
        raise InputError(
            f"{path}: found a single column {frame.columns[0]!r}; expected step, lr and loss columns "
            "separated by commas, tabs or semicolons"
        )
    if frame.empty:
        raise InputError(f"{path}: has a header but no rows")
    return frame


def find_column(
    frame: pd.DataFrame, path: Path, names: tuple[str, ...], given: str | None
) -> str | None:
    lower = {c.lower(): c for c in frame.columns}
    if given is not None:
        found = given if given in frame.columns else lower.get(given.lower())
        if found is None:
            raise InputError(f"{path}: no column {given!r} (columns: {', '.join(frame.columns)})")
        return found
    return next((lower[name] for name in names if name in lower), None)


_NON_FINITE = {
    "nan": np.nan,
    "inf": np.inf,
    "+inf": np.inf,
    "-inf": -np.inf,
    "infinity": np.inf,
    "+infinity": np.inf,
    "-infinity": -np.inf,
}


def numeric_column(
    frame: pd.DataFrame, column: str, path: Path
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A column as floats, and which cells are blank. Text that is not a number is an error."""
    text = frame[column].fillna("").astype(str).str.strip()
    blank = (text == "").to_numpy()
    lowered = text.str.lower()
    special = lowered.isin(_NON_FINITE.keys()).to_numpy()
    values = (
        pd.to_numeric(text.where(~blank & ~special), errors="coerce")
        .to_numpy(dtype=np.float64, na_value=np.nan)
        .copy()
    )
    values[special] = lowered[special].map(_NON_FINITE).to_numpy(dtype=np.float64)
    bad = np.isnan(values) & ~blank & ~special
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: column {column!r} row {frame.index[row] + 2}: {text.iloc[row]!r} is not a number"
        )
    return values, blank


def check_steps(steps: NDArray[np.float64], index: pd.Index, path: Path, column: str) -> None:
    """Refuse a missing, non-finite, negative, fractional or absurdly large step, naming its row."""

    def fail(mask: NDArray[np.bool_], what: str) -> None:
        row = int(np.flatnonzero(mask)[0])
        raise InputError(
            f"{path}: column {column!r} row {index[row] + 2}: {what.format(steps[row])}"
        )

    if not np.all(np.isfinite(steps)):
        fail(~np.isfinite(steps), "missing or non-finite step")
    if np.any(steps < 0):
        fail(steps < 0, "negative step {:g}")
    if np.any(steps > MAX_STEPS):
        fail(
            steps > MAX_STEPS,
            f"step {{:g}} is beyond {MAX_STEPS:,} steps, the most lrcurve handles",
        )
    if np.any(steps != np.round(steps)):
        fail(steps != np.round(steps), "step {:g} is not a whole number")


def _loss_unit(column: str, loss: NDArray[np.float64], unit: str, path: Path) -> str:
    """The unit of a loss column: ``unit`` unless it is ``auto``, else from its name and values."""
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


def _to_nats(loss: NDArray[np.float64], unit: str, column: str, path: Path) -> NDArray[np.float64]:
    if unit == "ppl":
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() < 1:
            raise InputError(f"{path}: column {column!r} has perplexity {finite.min():.4g} < 1")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(loss)
    if unit == "bits":
        return loss * math.log(2.0)
    return loss


def _last_logged(
    steps: NDArray[np.float64],
    values: NDArray[np.float64],
    logged: NDArray[np.bool_],
    column: str,
    where: str,
    notes: list[str],
    max_bad_fraction: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The last value logged for each step, in step order, without NaN or infinite values."""
    rows = np.flatnonzero(logged)
    logged_steps = pd.Series(steps[rows])
    last = rows[~logged_steps.duplicated(keep="last").to_numpy()]
    if last.size < rows.size:
        repeated = np.unique(logged_steps[logged_steps.duplicated()].to_numpy())
        notes.append(
            f"{where}: {repeated.size} steps logged more than once (the first: step {repeated[0]:g}); "
            "kept the last value logged for each"
        )
    if np.any(np.diff(steps[last]) < 0):
        notes.append(f"{where}: steps were not in order; sorted them")
    last = last[np.argsort(steps[last], kind="stable")]
    bad = ~np.isfinite(values[last])
    if bad.any():
        if bad.sum() > max_bad_fraction * bad.size:
            raise InputError(
                f"{where}: column {column!r}: {int(bad.sum())} of {bad.size} values are NaN or infinite; refusing to use it"
            )
        notes.append(f"{where}: dropped {int(bad.sum())} rows whose {column!r} is NaN or infinite")
    return steps[last[~bad]], values[last[~bad]]


def _lr_schedule(
    steps: NDArray[np.float64],
    lr: NDArray[np.float64],
    where: str,
    column: str,
    warmup_steps: int | None,
) -> tuple[Schedule, str]:
    """The schedule of logged ``(step, lr)`` points (sorted, unique, finite)."""
    if not steps.size:
        raise InputError(f"{where}: column {column!r} has no values")
    if np.any(lr < 0):
        raise InputError(
            f"{where}: column {column!r}: negative learning rate {lr[lr < 0][0]:g} at step {steps[lr < 0][0]:g}"
        )
    if not np.any(lr > 0):
        raise InputError(
            f"{where}: column {column!r} is zero everywhere; the laws need a positive learning rate"
        )
    check_peak_lr(float(lr.max()), f"{where}: column {column!r}: peak learning rate")
    lr = np.where(
        lr < PEAK_LR_RANGE[0], 0.0, lr
    )  # such an update changes no float32 weight; as a denormal it overflows the laws
    if steps[0] == 0:  # the LR logged "at step 0" is the one the first update uses
        if steps.size > 1 and steps[1] == 1:
            steps, lr = steps[1:], lr[1:]
        else:
            steps = np.concatenate([[1.0], steps[1:]])
    return logged_schedule(steps, lr, warmup_steps)


def _held_lr_note(
    where: str,
    column: str,
    lr_steps: NDArray[np.float64],
    lr: NDArray[np.float64],
    loss_steps: NDArray[np.float64],
) -> str | None:
    """A note when the logged LR stops well before the last loss (by more than one logging interval
    plus 5 % of the run): the schedule holds its last value over the rest, an assumption to say."""
    if not lr_steps.size or not loss_steps.size:
        return None
    interval = float(np.median(np.diff(lr_steps))) if lr_steps.size > 1 else 0.0
    last, end = float(lr_steps[-1]), float(loss_steps[-1])
    if end - last <= interval + LR_HELD_SLACK * end:
        return None
    return (
        f"{where}: the logged {column!r} stops at step {last:g}, {end - last:g} steps before the last loss "
        f"(step {end:g}); the LR after step {last:g} is held at its last logged value {lr[-1]:g}"
    )


def _idle_until(schedule: Schedule, lr_steps: NDArray[np.float64]) -> float:
    """The last step up to which the LR has been (below ``PEAK_LR_RANGE[0]``, i.e.) 0 since step 1; 0 if none.

    Exact for the schedules read from a log: linear between the logged steps and the warmup's end.
    """
    points = np.unique(np.concatenate([[1.0, float(schedule.warmup_steps)], lr_steps]))
    points = points[points >= 1]
    moving = np.flatnonzero(schedule(points) >= PEAK_LR_RANGE[0])
    return 0.0 if not moving.size or moving[0] == 0 else float(points[moving[0] - 1])


def _one_run(path: Path, names: list[str], where: str = "") -> None:
    """Refuse a schedule source holding several runs: their LRs would be mixed into one schedule."""
    if len(names) > 1:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise InputError(
            f"{path}: holds {len(names)} runs{where} ({shown}); a schedule is read from one run: "
            "give a file (or TensorBoard folder) holding only the run you want"
        )


def read_schedule(
    path: str | Path,
    columns: Columns = Columns(),
    warmup_steps: int | None = None,
    notes: list[str] | None = None,
) -> Schedule:
    """A schedule from a file of ``step,lr`` rows (linear between rows), or a run's log
    (W&B, TensorBoard); repairs go to ``notes``. A file or folder of several runs is refused."""
    path = Path(path)
    from lrcurve import logs

    if logs.log_format(path) != "table":
        runs = read_runs(path, warmup_steps=warmup_steps)
        _one_run(path, [run.name for run in runs])
        if notes is not None:
            notes.extend(runs[0].notes)
        return runs[0].schedule
    frame = read_table(path)
    step_col = find_column(frame, path, STEP_NAMES, columns.step)
    lr_col = find_column(frame, path, LR_NAMES, columns.lr)
    if step_col is None or lr_col is None:
        raise InputError(
            f"{path}: a schedule file needs step and lr columns (columns: {', '.join(frame.columns)})"
        )
    run_col = find_column(frame, path, RUN_NAMES, columns.run)
    if run_col is not None:
        keys = frame[run_col].fillna("").astype(str).str.strip()
        _one_run(path, [str(key) for key in pd.unique(keys[keys != ""])], f" in column {run_col!r}")
    steps, _ = numeric_column(frame, step_col, path)
    check_steps(steps, frame.index, path, step_col)
    lr, blank = numeric_column(frame, lr_col, path)
    notes = [] if notes is None else notes
    lr_steps, lr = _last_logged(steps, lr, ~blank, lr_col, str(path), notes, 0.5)
    if lr_steps.size < 2:
        raise InputError(
            f"{path}: a schedule file needs at least 2 rows of step and lr (found {lr_steps.size})"
        )
    return _lr_schedule(lr_steps, lr, str(path), lr_col, warmup_steps)[0]


def read_runs(
    path: str | Path,
    columns: Columns = Columns(),
    *,
    loss_unit: str = "auto",
    warmup_steps: int | None = None,
    max_bad_fraction: float = 0.5,
    log: LogOptions | None = None,
) -> list[Run]:
    """Read one or more runs from a CSV/TSV file (several when it has a run column).

    W&B exports and TensorBoard logs are read too, and ``log`` picks the loss series,
    its smoothing and a parent run (:mod:`lrcurve.logs`).
    """
    path = Path(path)
    if loss_unit not in LOSS_UNITS:
        raise InputError(f"--loss-unit must be one of {', '.join(LOSS_UNITS)}, got {loss_unit!r}")
    from lrcurve import logs  # W&B, TensorBoard, and the log options for any format

    if log is not None or logs.log_format(path) != "table":
        return logs.read_log(
            path,
            columns,
            log or logs.LogOptions(),
            loss_unit=loss_unit,
            warmup_steps=warmup_steps,
            max_bad_fraction=max_bad_fraction,
        )
    return runs_from_frame(
        read_table(path),
        path,
        columns,
        loss_unit=loss_unit,
        warmup_steps=warmup_steps,
        max_bad_fraction=max_bad_fraction,
    )


def runs_from_frame(
    frame: pd.DataFrame,
    path: Path,
    columns: Columns = Columns(),
    *,
    loss_unit: str = "auto",
    warmup_steps: int | None = None,
    max_bad_fraction: float = 0.5,
    exact_schedule: bool = False,
) -> list[Run]:
    """The runs of a table of text cells read from ``path``, with every check of the CSV reader.

    ``exact_schedule``: the caller replaces the logged LR by an exact schedule, so where
    the logged LR ends is not said.
    """
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
    assert step_col is not None and lr_col is not None and loss_col is not None
    steps, _ = numeric_column(frame, step_col, path)
    check_steps(steps, frame.index, path, step_col)
    lr, lr_blank = numeric_column(frame, lr_col, path)
    loss, loss_blank = numeric_column(frame, loss_col, path)
    unit = _loss_unit(loss_col, loss, loss_unit, path)
    loss = _to_nats(loss, unit, loss_col, path)

    groups: list[tuple[str, str, NDArray[np.int64]]] = [
        (path.stem, str(path), np.arange(len(frame)))
    ]
    if run_col is not None:
        keys = frame[run_col].fillna("").astype(str).str.strip()
        bad = (keys == "") | keys.str.contains("\n|\r", regex=True)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: column {run_col!r} row {row + 2}: run name {keys.iloc[row]!r} is blank or spans several lines"
            )
        rows_of = keys.groupby(keys, sort=False).indices
        groups = [
            (f"{path.stem}:{key}", f"{path} (run {key})", rows_of[key]) for key in pd.unique(keys)
        ]
    runs = []
    for name, where, rows in groups:
        notes = (
            [f"{where}: converted column {loss_col!r} from {unit} to nats"]
            if unit != "nats"
            else []
        )
        lr_steps, lr_values = _last_logged(
            steps[rows], lr[rows], ~lr_blank[rows], lr_col, where, notes, max_bad_fraction
        )
        schedule, origin = _lr_schedule(lr_steps, lr_values, where, lr_col, warmup_steps)
        loss_steps, loss_values = _last_logged(
            steps[rows], loss[rows], ~loss_blank[rows], loss_col, where, notes, max_bad_fraction
        )
        if np.any(loss_values < 0):
            first = int(np.flatnonzero(loss_values < 0)[0])
            raise InputError(
                f"{where}: column {loss_col!r}: negative loss {loss_values[first]:g} at step {loss_steps[first]:g}"
            )
        if np.any(
            loss_values[loss_steps > 0] < MIN_LOSS
        ):  # the laws fit relative errors: 0 cannot be one
            first = int(np.flatnonzero((loss_values < MIN_LOSS) & (loss_steps > 0))[0])
            raise InputError(
                f"{where}: column {loss_col!r}: loss {loss_values[first]:g} at step {loss_steps[first]:g}; "
                f"the laws fit relative errors and need losses of at least {MIN_LOSS:g} nats"
            )
        if loss_steps.size and loss_steps[0] == 0:
            notes.append(f"{where}: dropped the loss at step 0 (before any update)")
            loss_steps, loss_values = loss_steps[1:], loss_values[1:]
        idle = loss_steps <= _idle_until(schedule, lr_steps)
        dropped = ""
        if idle.any():
            dropped = (
                f"dropped {int(idle.sum())} losses up to step {loss_steps[idle][-1]:g}, where the LR has been 0 "
                "since the start (no training yet; the laws need a positive LR area)"
            )
            notes.append(f"{where}: {dropped}")
            loss_steps, loss_values = loss_steps[~idle], loss_values[~idle]
        held = (
            None
            if exact_schedule
            else _held_lr_note(where, lr_col, lr_steps, lr_values, loss_steps)
        )
        if held:
            notes.append(held)
        if loss_steps.size < MIN_LOSS_POINTS:
            raise InputError(
                f"{where}: only {loss_steps.size} usable loss values; a fit needs at least {MIN_LOSS_POINTS}"
                + (f" ({dropped})" if dropped else "")
            )
        if warmup_steps is not None and warmup_steps >= loss_steps[-1]:
            raise InputError(
                f"{where}: warmup of {warmup_steps} steps covers every logged loss (the last is at step {loss_steps[-1]:g})"
            )
        runs.append(
            Run(
                name=name,
                steps=loss_steps.astype(np.int64),
                loss=loss_values,
                schedule=schedule,
                source=str(path),
                lr_origin=origin,
                notes=tuple(dict.fromkeys(notes)),
            )
        )
    return runs
