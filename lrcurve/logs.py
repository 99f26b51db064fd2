"""Runs from the logs of training tools: which loss series, smoothing, and stitching.

Formats (:func:`read_log` picks the reader): CSV/TSV tables (:mod:`lrcurve.readers`),
Weights & Biases run exports and panel CSVs (:mod:`lrcurve.readers_wandb`) and
TensorBoard event files (:mod:`lrcurve.readers_tensorboard`). Every reader turns named
series ``{name: (steps, values)}`` into a :class:`~lrcurve.runs.Run` through
:func:`run_from_series`, so the checks of the CSV reader apply to all of them.

Loss series (``--loss``): ``val`` (the default when logged), ``train``, or a series name.

Smoothing (``--smooth``), per logged point, for noisy training losses:

- ``ema:b``: ``y_t = b*y_(t-1) + (1-b)*x_t``, debiased by ``1 - b^t`` (TensorBoard's smoothing);
- ``window:n``: centred moving average of ``n`` points (no lag inside the run; the window
  is one-sided at the ends, so the last points lag the curve by up to ``(n-1)/4`` logs);
- ``auto``: ``window:11`` for a training loss, nothing for a validation loss.

Stitching (``--parent``): a cooldown branch forked from step ``f`` of a parent run logs only
steps after ``f``. The stitched run takes the parent's points before ``f`` and the branch's
from ``f`` on; its schedule is the branch's own schedule when that covers the whole run (one
rebuilt from a config), else ``Join(parent, branch)`` at ``f``. The laws' areas
``S1 = sum(lr)`` and ``S2`` (Tissue et al., arXiv 2408.11029) then see the whole history.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

from lrcurve.errors import InputError
from lrcurve.output import mark_input
from lrcurve.readers import LOSS_NAMES, LR_NAMES, Columns, delimiter, read_runs, runs_from_frame
from lrcurve.runs import Run
from lrcurve.schedules import Join, Piecewise, Schedule, Warmup

VAL_LOSS_NAMES = tuple(n for n in LOSS_NAMES if n.startswith(("val", "valid", "eval")))
# explicit training names first: a bare "loss" is the last resort for --loss train
TRAIN_LOSS_NAMES = tuple(
    sorted((n for n in LOSS_NAMES if n not in VAL_LOSS_NAMES), key=lambda n: "train" not in n)
)
DEFAULT_TRAIN_SMOOTHING = "window:11"
# the relative LR difference (of the peak) above which a rebuilt schedule and the log disagree
LR_MISMATCH = 1e-3

Series = Mapping[str, tuple[ArrayLike, ArrayLike]]


@dataclass(frozen=True)
class LogOptions:
    """How to take runs from a log: the loss series, its smoothing, the parent run."""

    loss: str | None = None
    smooth: str = "auto"
    parent: str | Path = "auto"


# --- choosing series ---------------------------------------------------------------


def _match(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first of ``names`` equal (ignoring case) to a candidate, or ending in ``/candidate``."""
    lower = {n.lower(): n for n in names}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    for cand in candidates:
        for low, name in lower.items():
            if low.endswith("/" + cand):
                return name
    return None


def choose_loss(names: Sequence[str], loss: str | None, where: str) -> str:
    """The loss series to use: ``val``/``train``/``None`` (val when logged, else train) or a name."""
    if loss in (None, "auto", "val", "train"):
        picked = None
        if loss in (None, "auto", "val"):
            picked = _match(names, VAL_LOSS_NAMES)
        if picked is None and loss != "val":
            picked = _match(names, TRAIN_LOSS_NAMES)
        if picked is None:
            kind = {"val": "validation loss", "train": "training loss"}.get(str(loss), "loss")
            raise InputError(
                f"{where}: no {kind} series (series: {', '.join(names) or 'none'}); "
                "name one with --loss COLUMN"
            )
        return picked
    assert loss is not None
    if loss in names:
        return loss
    lower = {n.lower(): n for n in names}
    if loss.lower() in lower:
        return lower[loss.lower()]
    raise InputError(f"{where}: no series {loss!r} (series: {', '.join(names) or 'none'})")


def choose_lr(names: Sequence[str]) -> str | None:
    """The learning-rate series, if one is logged (PyTorch Lightning names it ``lr-<Optimizer>``)."""
    found = _match(names, LR_NAMES)
    if found is None:
        found = next((n for n in names if n.lower().rsplit("/", 1)[-1].startswith("lr-")), None)
    return found


def is_training_loss(name: str) -> bool:
    return "train" in name.lower()


# --- smoothing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Smoothing:
    """``kind`` is ``none``, ``ema`` (``value`` = decay b) or ``window`` (``value`` = points)."""

    kind: str = "none"
    value: float = 0.0

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.value:g}"


def parse_smoothing(text: str) -> Smoothing:
    """``none``, ``ema:B`` (0 <= B < 1) or ``window:N`` (N >= 1 points)."""
    spec = text.strip().lower()
    if spec in ("", "none", "off"):
        return Smoothing()
    kind, _, value = spec.partition(":")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if kind == "ema" and 0.0 <= number < 1.0:
        return Smoothing("ema", number)
    if kind == "window" and number >= 1 and number == int(number):
        return Smoothing("window", int(number))
    raise InputError(
        f"--smooth {text!r}: use none, ema:B with 0 <= B < 1 (e.g. ema:0.9) or window:N (e.g. window:11)"
    )


def smooth(values: ArrayLike, smoothing: Smoothing) -> NDArray[np.float64]:
    """``values`` smoothed point by point (vectorised; see the module docstring)."""
    x = np.asarray(values, dtype=np.float64)
    if smoothing.kind == "ema" and x.size:
        b = smoothing.value
        biased = lfilter([1.0 - b], [1.0, -b], x)
        return biased / (1.0 - b ** np.arange(1, x.size + 1))
    if smoothing.kind == "window" and x.size:
        n = int(smoothing.value)
        before, after = n // 2, (n - 1) // 2
        idx = np.arange(x.size)
        lo, hi = np.maximum(idx - before, 0), np.minimum(idx + after + 1, x.size)
        csum = np.concatenate([[0.0], np.cumsum(x)])
        return (csum[hi] - csum[lo]) / (hi - lo)
    return x.copy()


def smooth_run(run: Run, spec: str, series: str) -> Run:
    """``run`` with its loss smoothed by ``spec`` (``auto``: only a training loss)."""
    if spec.strip().lower() == "auto":
        spec = DEFAULT_TRAIN_SMOOTHING if is_training_loss(series) else "none"
    smoothing = parse_smoothing(spec)
    if smoothing.kind == "none":
        return run
    note = f"{run.source or run.name}: smoothed the {series!r} series with {smoothing} (--smooth none to fit the raw points)"
    return replace(run, loss=smooth(run.loss, smoothing), notes=(*run.notes, note))


# --- series -> run -----------------------------------------------------------------


def _deduplicated(steps: ArrayLike, values: ArrayLike) -> pd.Series:
    """The last value logged at each step (a logged NaN included), in step order."""
    s = pd.Series(np.asarray(values, dtype=np.float64), index=np.asarray(steps, dtype=np.float64))
    s = s[np.isfinite(s.index.to_numpy())]
    return s[~s.index.duplicated(keep="last")].sort_index()


def _cells(values: pd.Series, steps: pd.Index) -> pd.Series:
    """``values`` as table cells at ``steps``: blank where nothing was logged, ``nan`` where a NaN was
    (a diverged run), so the table reader counts it as a bad value."""
    return values.astype(object).where(values.notna(), "nan").reindex(steps, fill_value="")


def run_from_series(
    name: str,
    path: Path,
    series: Series,
    loss_name: str,
    lr_name: str | None,
    *,
    lr_fallback: Schedule | None = None,
    loss_unit: str = "auto",
    warmup_steps: int | None = None,
    max_bad_fraction: float = 0.5,
) -> Run:
    """A run from named ``(steps, values)`` series, checked like a CSV table.

    A series holds the points that were logged: a NaN in it is a logged NaN, a bad value
    counted as in a CSV column (dropped with a note, most of a series bad is refused); a
    step a series has no point at is a blank cell. The loss and LR series may be logged at
    different steps, in any order (a repeated step keeps its last value); a loss at step 0,
    before any update, is left out. Without an LR series the LR is ``lr_fallback`` at the
    loss steps; ``lr_fallback`` is an exact schedule that will replace the logged LR, so where the
    logged LR ends is not said.
    """
    loss = _deduplicated(*series[loss_name]).rename("loss")
    loss = loss[
        loss.index > 0
    ]  # trainers log the loss before any update as step 0: not part of the curve
    if lr_name is not None:
        lr = _deduplicated(*series[lr_name]).rename("lr")
    elif lr_fallback is not None:
        lr = pd.Series(lr_fallback(loss.index.to_numpy()), index=loss.index, name="lr")
    else:
        raise InputError(
            f"{path}: no learning-rate series for run {name} (looked for {', '.join(LR_NAMES[:4])}, ...)"
        )
    steps = loss.index.union(lr.index)
    frame = pd.DataFrame(
        {
            "step": steps.to_numpy(),
            loss_name: _cells(loss, steps).to_numpy(),
            (lr_name or "lr"): _cells(lr, steps).to_numpy(),
        }
    )
    (run,) = runs_from_frame(
        frame,
        path,
        Columns(step="step", lr=lr_name or "lr", loss=loss_name),
        loss_unit=loss_unit,
        warmup_steps=warmup_steps,
        max_bad_fraction=max_bad_fraction,
        exact_schedule=lr_fallback is not None,
    )
    return run if run.name == name else replace(run, name=name)


def lr_mismatch(
    schedule: Schedule, steps: ArrayLike, lr: ArrayLike, horizon: int | None = None
) -> str | None:
    """Where ``schedule`` and logged LRs differ by more than ``LR_MISMATCH`` of the peak, or None.

    Steps at or after ``horizon`` are left out: the LR a trainer logs after its last
    update is used by none.
    """
    s = np.asarray(steps, dtype=np.float64)
    logged = np.asarray(lr, dtype=np.float64)
    keep = np.isfinite(logged) & (s >= 1) & (s < (horizon or np.inf))
    if not keep.any():
        return None
    s, logged = s[keep], logged[keep]
    gap = np.abs(schedule(s) - logged) / schedule.peak
    if gap.max() <= LR_MISMATCH:
        return None
    i = int(np.argmax(gap))
    return (
        f"the schedule {schedule} differs from the logged LR by up to {100 * gap[i]:.3g} % of the peak "
        f"(step {int(s[i])}: {float(schedule(s[i : i + 1])[0]):.4g} vs {logged[i]:.4g} logged)"
    )


def logged_lr(schedule: Schedule) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The logged ``(steps, lr)`` points behind a schedule rebuilt from a log, if it is one."""
    body = schedule.body if isinstance(schedule, Warmup) else schedule
    if isinstance(body, Piecewise):
        return np.asarray(body.at_steps), np.asarray(body.lrs)
    return None


# --- stitching ---------------------------------------------------------------------


def stitch(parent: Run, branch: Run, fork: int, schedule: Schedule | None = None) -> Run:
    """``branch`` resumed from ``parent``'s checkpoint at step ``fork``, as one run.

    Its points are the parent's up to the fork and the branch's from the fork on (at the
    fork, both evaluated the same weights: the branch's point is kept). ``schedule`` is the
    whole run's schedule when known (e.g. rebuilt from the branch's config); otherwise the
    parent's LR to step ``fork``, then the branch's logged LR.
    """
    after = branch.steps >= fork
    before = (parent.steps <= fork) & (
        parent.steps < (branch.steps[after][0] if after.any() else fork)
    )
    if not before.any():
        raise InputError(
            f"{parent.source or parent.name}: no logged loss before the fork step {fork} of {branch.name}"
        )
    if not after.any():
        raise InputError(
            f"{branch.source or branch.name}: no logged loss from the fork step {fork} on"
        )
    notes = [*parent.notes, *branch.notes]
    if schedule is None:
        points = logged_lr(branch.schedule)
        if points is None:
            raise InputError(
                f"{branch.source or branch.name}: cannot join a {branch.schedule.kind} schedule onto its parent; "
                "give its schedule in full"
            )
        at, values = points
        later = at > fork
        if not later.any():
            raise InputError(
                f"{branch.source or branch.name}: no logged LR after the fork step {fork}"
            )
        tail = Piecewise(tuple((at[later] - fork).tolist()), tuple(values[later].tolist()))
        schedule = Join((parent.schedule, tail), (fork,))
        origin = f"the parent's LR to step {fork}, then the branch's ({branch.lr_origin})"
    else:
        origin = branch.lr_origin
        gap = lr_mismatch(schedule, np.arange(1, fork + 1), parent.schedule.per_step(fork))
        if gap is not None:
            notes.append(
                f"{branch.source or branch.name}: warning: before the fork the parent's LR differs: {gap}"
            )
    notes.append(
        f"{branch.source or branch.name}: stitched onto {parent.source or parent.name} at step {fork}: "
        f"{int(before.sum())} points of the parent, {int(after.sum())} of the branch"
    )
    return Run(
        name=branch.name,
        steps=np.concatenate([parent.steps[before], branch.steps[after]]),
        loss=np.concatenate([parent.loss[before], branch.loss[after]]),
        schedule=schedule,
        source=branch.source,
        lr_origin=origin,
        notes=tuple(notes),
    )


# --- dispatch ----------------------------------------------------------------------


def log_format(path: Path) -> str:
    """``wandb-json``, ``wandb-panel``, ``tensorboard`` or ``table`` (CSV/TSV)."""
    from lrcurve.readers_tensorboard import is_event_log
    from lrcurve.readers_wandb import is_wandb_panel

    if is_event_log(path):
        return "tensorboard"
    if path.suffix.lower() == ".json":
        return "wandb-json"
    if path.is_file() and is_wandb_panel(path):
        return "wandb-panel"
    return "table"


def mark_log_inputs(path: Path) -> None:
    """Mark ``path`` as an input (never written, even with ``--force``), and for a folder
    every file below it: a TensorBoard run's event files are read through their folder."""
    mark_input(path)
    if path.is_dir():
        for file in path.rglob("*"):
            if file.is_file():
                mark_input(file)


def table_header(path: Path) -> list[str]:
    """The column names of a table's first line, split as :func:`~lrcurve.readers.read_table` splits them."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return []
    return [c.strip() for c in next(csv.reader([first], delimiter=delimiter(first)), [])]


def read_log(
    path: Path,
    columns: Columns,
    log: LogOptions,
    *,
    loss_unit: str = "auto",
    warmup_steps: int | None = None,
    max_bad_fraction: float = 0.5,
) -> list[Run]:
    """Runs from a log of any supported format, with ``log``'s loss, smoothing and parent."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    mark_log_inputs(path)
    fmt = log_format(path)
    options = ReadOptions(loss_unit, warmup_steps, max_bad_fraction)
    runs: list[tuple[Run, str]]
    if fmt == "table":
        column = columns.loss
        if column is None:
            try:
                column = choose_loss(table_header(path), log.loss, str(path))
            except InputError:
                if log.loss is not None:
                    raise
                column = None  # the table reader says what is missing
        runs = [
            (run, column or "")
            for run in read_runs(path, replace(columns, loss=column), **options.kwargs())
        ]
    elif fmt == "tensorboard":
        from lrcurve.readers_tensorboard import read_tensorboard

        runs = read_tensorboard(path, log.loss, options)
    else:
        from lrcurve.readers_wandb import read_wandb_json, read_wandb_panel

        runs = (read_wandb_json if fmt == "wandb-json" else read_wandb_panel)(path, log, options)
    if fmt != "wandb-json" and str(log.parent) not in ("auto", "none"):
        runs = [
            (attach_parent(run, Path(log.parent), log, options), series) for run, series in runs
        ]
    return [smooth_run(run, log.smooth, series) for run, series in runs]


@dataclass(frozen=True)
class ReadOptions:
    """The table reader's options, passed on to every reader."""

    loss_unit: str = "auto"
    warmup_steps: int | None = None
    max_bad_fraction: float = 0.5

    def kwargs(self) -> dict:
        return {
            "loss_unit": self.loss_unit,
            "warmup_steps": self.warmup_steps,
            "max_bad_fraction": self.max_bad_fraction,
        }


def attach_parent(
    branch: Run,
    parent_path: Path,
    log: LogOptions,
    options: ReadOptions,
    fork: int | None = None,
    schedule: Schedule | None = None,
) -> Run:
    """Stitch ``branch`` onto the run in ``parent_path`` at ``fork`` (default: the step before
    the branch's first logged one).

    The parent's loss is the series ``log.loss`` picks, like the branch's.
    """
    if branch.source and parent_path.resolve() == Path(branch.source).resolve():
        raise InputError(f"--parent {parent_path}: a run cannot be its own parent")
    parents = read_log(
        parent_path,
        Columns(),
        LogOptions(loss=log.loss, smooth="none", parent="none"),
        **options.kwargs(),
    )
    if len(parents) != 1:
        raise InputError(
            f"--parent {parent_path}: holds {len(parents)} runs; the parent must be one run"
        )
    return stitch(parents[0], branch, int(branch.steps[0]) - 1 if fork is None else fork, schedule)
