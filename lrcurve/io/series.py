"""Named series of logged points -> a checked :class:`~lrcurve.runs.Run`: the one place every
format's runs are made, so a CSV, a W&B export and a TensorBoard log get the same checks.

A :class:`Series` holds the points that were logged: a NaN in it is a logged bad value, a
step it has no point at was not logged (a blank cell). The checks and repairs:

- a step must be a whole number in ``0..MAX_STEPS`` (else refused, naming its row or point);
- a step logged more than once keeps the last value logged for it, series by series (a
  resumed run logs some steps again; a merged log may hold a step's LR and loss on separate
  lines, so a blank cell never replaces a value); steps out of order are sorted; both said;
- NaN or infinite values are dropped and said, and refused when they are most of a series;
  losses that are NaN or infinite from some step to the end of the log, after finite ones,
  say that the run diverged there (``Run.diverged_at``; ``lrcurve check`` fails such a run,
  and reads a NaN or infinite loss after finite ones anywhere so);
- the loss is converted to nats (:mod:`lrcurve.io.units`); a loss at step 0 (before any
  update) and losses while the LR has been 0 since the start are dropped and said;
- the logged LR becomes the run's schedule (:func:`lrcurve.runs.logged_schedule`); when it
  stops well before the last loss, that it is held is said.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ReadError
from lrcurve.io.options import LR_NAMES, ReadOptions
from lrcurve.io.units import loss_unit, to_nats
from lrcurve.runs import MAX_STEPS, MIN_LOSS, PEAK_LR_RANGE, Run, check_peak_lr, logged_schedule
from lrcurve.schedules import Schedule

MIN_LOSS_POINTS = 3
# A logged LR may end this fraction of the run (plus one logging interval) before the last
# loss without a note.
LR_HELD_SLACK = 0.05


@dataclass(frozen=True)
class Series:
    """The points logged for one quantity, in the order logged: ``values[i]`` at ``steps[i]``.

    ``rows`` numbers each point for messages, as ``label`` says: its row in a table (the
    header is row 1) or its point in a logged series (from 1).
    """

    name: str
    steps: NDArray[np.float64]
    values: NDArray[np.float64]
    rows: NDArray[np.int64] | None = None
    label: str = "row"


@dataclass(frozen=True)
class Logged:
    """A run as a format read it: the loss series it fits, and the parent run it continues
    (read and stitched on at ``fork``, under ``schedule`` when that covers the whole run)."""

    run: Run
    series: str
    parent: Path | None = None
    fork: int | None = None
    schedule: Schedule | None = None


def check_steps(
    steps: NDArray[np.float64],
    where: str,
    column: str,
    rows: NDArray[np.int64] | None = None,
    label: str = "row",
) -> None:
    """Refuse a missing, non-finite, negative, fractional or absurdly large step, naming its
    ``label`` (row or point) ``rows[i]`` in ``column`` (default: its position from 1)."""

    def fail(mask: NDArray[np.bool_], what: str) -> None:
        i = int(np.flatnonzero(mask)[0])
        at = f"{label} {rows[i] if rows is not None else i + 1}"
        raise ReadError(f"{where}: column {column!r} {at}: {what.format(steps[i])}")

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


def _last_points(series: Series, where: str, notes: list[str]) -> NDArray[np.int64] | None:
    """The index of the last point logged for each step, in step order (None: all of them,
    already in order)."""
    steps = series.steps
    if np.all(np.diff(steps) > 0):  # the usual log: nothing to repair, no copies
        return None
    order = np.argsort(steps, kind="stable")  # a step's points in the order logged
    ordered = steps[order]
    same = ordered[1:] == ordered[:-1]
    last = order[np.append(~same, True)]  # the last point of each step, in step order
    if same.any():
        notes.append(
            f"{where}: {np.unique(ordered[1:][same]).size} steps logged more than once "
            f"(the first: step {ordered[1:][same][0]:g}); kept the last value logged for each"
        )
    if np.any(np.diff(last) < 0):
        notes.append(f"{where}: steps were not in order; sorted them")
    return last


def _finite(
    series: Series,
    last: NDArray[np.int64],
    where: str,
    notes: list[str],
    max_bad_fraction: float,
    tail: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The points ``last`` without NaN or infinite values (said), refused when those are more
    than ``max_bad_fraction`` of them; the last ``tail`` points (a diverged run's, already
    said) count in that fraction but are not said again."""
    bad = ~np.isfinite(series.values[last])
    dropped = int(bad[: bad.size - tail].sum())
    if bad.sum() > max_bad_fraction * bad.size:
        raise ReadError(
            f"{where}: column {series.name!r}: {int(bad.sum())} of {bad.size} values are NaN "
            "or infinite; refusing to use it"
        )
    if dropped:
        notes.append(f"{where}: dropped {dropped} rows whose {series.name!r} is NaN or infinite")
    return series.steps[last[~bad]], series.values[last[~bad]]


def last_logged(
    series: Series, where: str, notes: list[str], max_bad_fraction: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The last value logged for each step, in step order, without NaN or infinite values."""
    last = _last_points(series, where, notes)
    if last is None:
        if np.all(np.isfinite(series.values)):
            return series.steps, series.values
        last = np.arange(series.steps.size)
    return _finite(series, last, where, notes, max_bad_fraction)


def non_finite_tail(values: NDArray[np.float64]) -> int:
    """How many values at the end are NaN or infinite after a finite one (0 if the last is
    finite or none is)."""
    finite = np.flatnonzero(np.isfinite(values))
    return 0 if not finite.size else int(values.size - 1 - finite[-1])


NAN_STRETCH = 0.1  # a NaN stretch over this share of the rows, mid-log, is a divergence


def first_non_finite(values: NDArray[np.float64]) -> int | None:
    """Where the loss diverged mid-log, finite values following or not: the first infinite
    value after a finite one, or the first of a stretch of NaN values over
    :data:`NAN_STRETCH` of the rows (at least 3); None if none. Shorter NaN stretches are
    rows not evaluated (a validation loss logged every few rows, ``nan`` between)."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    start = int(np.argmax(finite))
    tail = values[start:]
    candidates = [int(i) for i in np.flatnonzero(np.isinf(tail))[:1]]
    nan = np.isnan(tail).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], nan, [0]])))
    longest = max(3, int(np.ceil(NAN_STRETCH * values.size)))
    candidates += [int(a) for a, b in zip(edges[::2], edges[1::2]) if b - a >= longest][:1]
    return None if not candidates else start + min(candidates)


def logged_loss(
    series: Series, where: str, notes: list[str], options: ReadOptions
) -> tuple[NDArray[np.float64], NDArray[np.float64], int | None]:
    """:func:`last_logged` for the loss, and the step where the run diverged: the first of the
    NaN or infinite losses that end the log after finite ones (said as such, not as dropped
    rows). ``options.keep_diverged`` (a gate's reading) leaves that tail out of
    ``max_bad_fraction``, and takes a NaN or infinite loss after finite ones anywhere, finite
    ones following or not, for the step the run diverged at: a gate must not pass a run that
    logged a NaN loss because it logged finite ones again."""
    last = _last_points(series, where, notes)
    last = np.arange(series.steps.size) if last is None else last
    tail = non_finite_tail(series.values[last])
    later = first_non_finite(series.values[last]) if options.keep_diverged else None
    if later is not None and later < last.size - tail:  # bad, then finite again: a gate fails it
        first, bad = float(series.steps[last[later]]), ~np.isfinite(series.values[last[later:]])
        notes.append(
            f"{where}: {series.name!r} is NaN or infinite at step {first:g} after finite values "
            f"({int(bad.sum())} such rows to step {series.steps[last[later:]][bad][-1]:g}, "
            f"finite ones between): the run diverged at step {first:g}"
        )
        steps, values = _finite(series, last[:later], where, notes, options.max_bad_fraction)
        return steps, values, int(first)
    if not tail:
        return (*last_logged(series, where, notes, options.max_bad_fraction), None)
    first = float(series.steps[last[-tail]])
    notes.append(
        f"{where}: {series.name!r} is NaN or infinite from step {first:g} on ({tail} rows, to "
        f"the last logged at step {series.steps[last[-1]]:g}): the run diverged at step {first:g}"
    )
    if options.keep_diverged:
        steps, values = _finite(series, last[:-tail], where, notes, options.max_bad_fraction)
    else:
        steps, values = _finite(series, last, where, notes, options.max_bad_fraction, tail)
    return steps, values, int(first)


def lr_schedule(
    steps: NDArray[np.float64],
    lr: NDArray[np.float64],
    where: str,
    column: str,
    warmup_steps: int | None,
) -> tuple[Schedule, str]:
    """The schedule of logged ``(step, lr)`` points (sorted, unique, finite)."""
    if not steps.size:
        raise ReadError(f"{where}: column {column!r} has no values")
    if np.any(lr < 0):
        raise ReadError(
            f"{where}: column {column!r}: negative learning rate {lr[lr < 0][0]:g} "
            f"at step {steps[lr < 0][0]:g}"
        )
    if not np.any(lr > 0):
        raise ReadError(
            f"{where}: column {column!r} is zero everywhere; the laws need a positive learning rate"
        )
    check_peak_lr(float(lr.max()), f"{where}: column {column!r}: peak learning rate")
    # such an update changes no float32 weight; as a denormal it overflows the laws
    lr = np.where(lr < PEAK_LR_RANGE[0], 0.0, lr)
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
    """A note when the logged LR stops well before the last loss (by more than one logging
    interval plus 5 % of the run): the schedule holds its last value, an assumption to say."""
    if not lr_steps.size or not loss_steps.size:
        return None
    interval = float(np.median(np.diff(lr_steps))) if lr_steps.size > 1 else 0.0
    last, end = float(lr_steps[-1]), float(loss_steps[-1])
    if end - last <= interval + LR_HELD_SLACK * end:
        return None
    return (
        f"{where}: the logged {column!r} stops at step {last:g}, {end - last:g} steps before the "
        f"last loss (step {end:g}); the LR after step {last:g} is held at its last logged value "
        f"{lr[-1]:g}"
    )


def _idle_until(schedule: Schedule, lr_steps: NDArray[np.float64]) -> float:
    """The last step up to which the LR has been (below ``PEAK_LR_RANGE[0]``, i.e.) 0 since
    step 1; 0 if none. Exact for schedules read from a log: linear between the logged steps."""
    points = np.unique(np.concatenate([[1.0, float(schedule.warmup_steps)], lr_steps]))
    points = points[points >= 1]
    moving = np.flatnonzero(schedule(points) >= PEAK_LR_RANGE[0])
    return 0.0 if not moving.size or moving[0] == 0 else float(points[moving[0] - 1])


def _check_losses(where: str, column: str, steps: NDArray[np.float64], loss: NDArray) -> None:
    """Refuse a negative loss, or one too small for the laws' relative errors."""
    if np.any(loss < 0):
        first = int(np.flatnonzero(loss < 0)[0])
        raise ReadError(
            f"{where}: column {column!r}: negative loss {loss[first]:g} at step {steps[first]:g}"
        )
    small = (loss < MIN_LOSS) & (steps > 0)
    if np.any(small):  # the laws fit relative errors: 0 cannot be one
        first = int(np.flatnonzero(small)[0])
        raise ReadError(
            f"{where}: column {column!r}: loss {loss[first]:g} at step {steps[first]:g}; "
            f"the laws fit relative errors and need losses of at least {MIN_LOSS:g} nats"
        )


def after_start(series: Series) -> Series:
    """``series`` without its points at step 0: a trainer logs the loss before any update
    there, which is no point of the curve (left out unsaid from a training tool's log)."""
    keep = series.steps != 0
    rows = series.rows[keep] if series.rows is not None else np.flatnonzero(keep) + 1
    return replace(series, steps=series.steps[keep], values=series.values[keep], rows=rows)


def _in_nats(loss: Series, unit: str, where: str, notes: list[str]) -> Series:
    """``loss`` converted to nats; the unit, when not nats, said in ``notes``."""
    unit, why = loss_unit(loss.name, loss.values, unit, where)
    notes += [why] if why else []
    if unit != "nats":
        notes.append(f"{where}: converted column {loss.name!r} from {unit} to nats")
    return replace(loss, values=to_nats(loss.values, unit, loss.name, where))


def _after_training_starts(
    steps: NDArray[np.float64],
    values: NDArray[np.float64],
    schedule: Schedule,
    lr_steps: NDArray[np.float64],
    where: str,
    notes: list[str],
) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """The losses after step 0 and after the LR first moves, and what was dropped (said)."""
    if steps.size and steps[0] == 0:
        notes.append(f"{where}: dropped the loss at step 0 (before any update)")
        steps, values = steps[1:], values[1:]
    idle = steps <= _idle_until(schedule, lr_steps)
    if not idle.any():
        return steps, values, ""
    dropped = (
        f"dropped {int(idle.sum())} losses up to step {steps[idle][-1]:g}, where the LR has "
        "been 0 since the start (no training yet; the laws need a positive LR area)"
    )
    notes.append(f"{where}: {dropped}")
    return steps[~idle], values[~idle], dropped


def exact_lr(schedule: Schedule, loss: Series) -> Series:
    """An LR series of ``schedule`` at the loss's steps, for a run whose LR was not logged."""
    steps = np.unique(loss.steps[np.isfinite(loss.steps) & (loss.steps > 0)])
    return Series("lr", steps, schedule(steps))


def to_run(
    name: str,
    where: str,
    source: str,
    loss: Series,
    lr: Series | None,
    options: ReadOptions,
    *,
    exact_schedule: bool = False,
    inputs: tuple[str, ...] = (),
) -> Run:
    """A run from its loss and LR series with every check (see the module docstring).

    ``exact_schedule``: the caller replaces the logged LR by an exact schedule, so where the
    logged LR ends is not said. ``where`` names the run in messages, ``source`` is its file.
    """
    if lr is None:
        raise ReadError(
            f"{where}: no learning-rate series (looked for {', '.join(LR_NAMES[:4])}, ...)"
        )
    for series in (lr, loss):
        check_steps(series.steps, where, series.name, series.rows, series.label)
    notes: list[str] = []
    loss = _in_nats(loss, options.loss_unit, where, notes)
    warmup = options.warmup_steps
    lr_steps, lr_values = last_logged(lr, where, notes, options.max_bad_fraction)
    schedule, origin = lr_schedule(lr_steps, lr_values, where, lr.name, warmup)
    steps, values, diverged_at = logged_loss(loss, where, notes, options)
    _check_losses(where, loss.name, steps, values)
    steps, values, dropped = _after_training_starts(steps, values, schedule, lr_steps, where, notes)
    held = None if exact_schedule else _held_lr_note(where, lr.name, lr_steps, lr_values, steps)
    if held:
        notes.append(held)
    if steps.size < MIN_LOSS_POINTS:
        raise ReadError(
            f"{where}: only {steps.size} usable loss values; a fit needs at least "
            f"{MIN_LOSS_POINTS}" + (f" ({dropped})" if dropped else "")
        )
    if warmup is not None and warmup >= steps[-1]:
        raise ReadError(
            f"{where}: warmup of {warmup} steps covers every logged loss (the last is at step "
            f"{steps[-1]:g})",
            param="warmup_steps",
        )
    return Run(
        name=name,
        steps=steps.astype(np.int64),
        loss=values,
        schedule=schedule,
        source=source,
        lr_origin=origin,
        notes=tuple(dict.fromkeys(notes)),
        inputs=inputs,
        diverged_at=diverged_at,
        loss_series=loss.name,
    )
