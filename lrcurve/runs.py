"""A logged training run: its loss at logged steps and the LR schedule it followed.

Logged LRs are usually sparse (every k steps). The per-step LR the laws need comes
from the run's :class:`~lrcurve.schedules.Schedule`: an exact schedule when it is
known (from a config or flags), otherwise a linear interpolation of the logged LR
values, with jumps between flat stretches kept as steps (``lr_origin`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import InputError
from lrcurve.schedules import Piecewise, Schedule, schedule_from_dict

# The laws keep per-step LR arrays; beyond this many steps they no longer fit in memory.
MAX_STEPS = 50_000_000
# The laws raise sums of LRs to powers and fit relative errors of the loss in float64: a peak LR
# outside this range or a loss below MIN_LOSS nats is a unit mistake or junk (Adam's peak LRs are
# ~1e-5..1e-2, per-token losses ~0.1..12 nats), and would overflow the fit.
PEAK_LR_RANGE = (1e-20, 1e20)
MIN_LOSS = 1e-20


def check_peak_lr(peak: float, what: str) -> None:
    """Refuse a peak LR outside ``PEAK_LR_RANGE`` (or NaN); ``what`` names it, e.g.
    ``--peak: peak LR``."""
    low, high = PEAK_LR_RANGE
    if not low <= peak <= high:
        raise InputError(
            f"{what} {peak:g} is outside [{low:g}, {high:g}], the range the laws can evaluate "
            "(a unit mistake?)"
        )


@dataclass(frozen=True, eq=False)
class Run:
    """Loss observed at logged steps under a known LR schedule."""

    name: str
    steps: NDArray[np.int64]
    loss: NDArray[np.float64]
    schedule: Schedule
    source: str = ""
    lr_origin: str = "schedule"
    notes: tuple[str, ...] = field(default=())
    inputs: tuple[str, ...] = field(default=())  # every file read to make the run (never written)
    # the step of the first NaN/inf loss of a non-finite tail after finite losses (the run
    # diverged there; ``steps``/``loss`` end before it), None when the last loss is finite
    diverged_at: int | None = None
    loss_series: str = ""  # the name of the logged series ``loss`` was read from
    model_size: float | None = None  # the model's parameter count N, when known
    # tokens an optimizer step trained on (batch x sequence length), when known
    tokens_per_step: float | None = None
    # the short name legends, tables and JSON show (:func:`lrcurve.io.labels.label_runs`);
    # the name itself when none is given
    label: str = ""

    def __post_init__(self) -> None:
        steps, loss = np.asarray(self.steps), np.asarray(self.loss, dtype=np.float64)
        if steps.ndim != 1 or loss.shape != steps.shape:
            raise InputError(f"run {self.name!r}: steps and loss must be 1-D and of one length")
        if steps.size and not np.all(np.isfinite(steps) & (steps == np.round(steps))):
            raise InputError(f"run {self.name!r}: steps must be whole numbers")
        object.__setattr__(self, "steps", steps.astype(np.int64, copy=False))
        object.__setattr__(self, "loss", loss)
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def __repr__(self) -> str:
        span = f"steps {self.steps[0]}..{self.steps[-1]}" if self.steps.size else "no steps"
        return f"Run({self.name!r}, {self.steps.size} points, {span}, {self.schedule})"

    @property
    def last_step(self) -> int:
        return int(self.steps[-1])

    @property
    def horizon(self) -> int:
        return max(self.schedule.horizon or 0, self.last_step)

    @property
    def warmup_steps(self) -> int:
        return self.schedule.warmup_steps

    @property
    def peak_lr(self) -> float:
        return self.schedule.peak

    def to_dict(self) -> dict[str, Any]:
        size = {} if self.model_size is None else {"model_size": self.model_size}
        if self.tokens_per_step is not None:
            size["tokens_per_step"] = self.tokens_per_step
        return {
            "name": self.name,
            "label": self.label,
            "source": self.source,
            "lr_origin": self.lr_origin,
            **size,
            "schedule": self.schedule.to_dict(),
            "steps": self.steps.tolist(),
            "loss": self.loss.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        return cls(
            name=data["name"],
            steps=np.asarray(data["steps"], dtype=np.int64),
            loss=np.asarray(data["loss"], dtype=np.float64),
            schedule=schedule_from_dict(data["schedule"]),
            source=data.get("source", ""),
            lr_origin=data.get("lr_origin", "schedule"),
            model_size=_optional_float(data.get("model_size")),
            tokens_per_step=_optional_float(data.get("tokens_per_step")),
            label=str(data.get("label") or ""),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


LATE_START = 0.01  # a log starting after this share of its steps did not log its beginning


def starts_late_at_peak(run: Run) -> bool:
    """Whether the run has no warmup yet its log starts late (after :data:`LATE_START` of its
    steps) with the LR already at its peak: the log may have begun after a warmup it does not
    show, which the laws' LR areas would then count at the peak."""
    first = int(run.steps[0])
    if run.warmup_steps > 0 or first <= max(1, LATE_START * run.last_step):
        return False
    return bool(run.schedule(np.array([first]))[0] >= run.peak_lr * (1 - SAME_LR_RTOL))


def starts_in_a_decay(run: Run, peak: float) -> bool:
    """Whether the run's log starts late (after its warmup and :data:`LATE_START` of its
    steps) with its LR falling and below ``peak`` (the fit's; 95 % of it at most): what it
    ran before, its peak included, is not in the log, and the laws take the LR before the
    first logged step as the first logged one."""
    first = int(run.steps[0])
    if first <= max(1, run.warmup_steps, LATE_START * run.last_step) or run.steps.size < 2:
        return False
    lr = run.schedule(run.steps[:2])
    return bool(lr[1] < lr[0] * (1 - SAME_LR_RTOL) and lr[0] < 0.95 * peak)


def in_a_decay_said(run: Run, remedy: str) -> str:
    """What :func:`starts_in_a_decay` means for ``run``, and ``remedy``."""
    first = int(run.steps[0])
    return (
        f"{run.label}: the log starts at step {first} with the LR already falling (from "
        f"{float(run.schedule(np.array([first]))[0]):g}): what the run ran before, its peak "
        f"included, is not in the log and is taken as that first LR, which understates its LR "
        f"area; {remedy}"
    )


# Two logged LRs closer than this (relative) are the same LR level.
SAME_LR_RTOL = 1e-6


def step_changes(steps: NDArray[np.float64], lr: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which gaps between logged rows (``i`` between rows ``i`` and ``i+1``) hold a step
    change: the LR jumps there from one flat stretch (two or more rows at one level) to
    another. A multi-step or WSD-with-drops schedule changes like this; a decay that merely
    starts between two rows does not (the rows after it differ)."""
    if steps.size < 4:
        return np.zeros(max(steps.size - 1, 0), dtype=bool)
    same = np.isclose(lr[1:], lr[:-1], rtol=SAME_LR_RTOL, atol=0.0)
    flat_before = np.concatenate([[False], same[:-1]])
    flat_after = np.concatenate([same[1:], [False]])
    return ~same & flat_before & flat_after & (np.diff(steps) > 1)


def with_step_changes(
    steps: NDArray[np.float64], lr: NDArray[np.float64], jumps: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The logged points with the old LR held up to the step before each jump's second row
    (the first row that shows the new LR), so interpolation makes a step there, not a ramp."""
    gap = np.flatnonzero(jumps)
    return np.insert(steps, gap + 1, steps[gap + 1] - 1.0), np.insert(lr, gap + 1, lr[gap])


def logged_schedule(
    steps: ArrayLike, lr: ArrayLike, warmup_steps: int | None = None
) -> tuple[Schedule, str]:
    """The schedule implied by logged ``(step, lr)`` points, and how it was rebuilt.

    The logged LRs are kept as logged, warmup included; the schedule records how many steps
    were warmup (the laws apply their warmup convention to them). A rising start is read as
    warmup when the log begins near the start of training, in the first half of the rise; a
    log that begins later (a branch re-warming from a checkpoint) is no warmup. ``warmup_steps``
    overrides that, e.g. when the log starts after warmup. Before the first logged step the LR
    is the first logged value, except in a warmup that was not logged from step 1: there it is
    taken to rise linearly from 0 at step 0 (what warmups do) to the first logged LR, reached
    at the end of the warmup or at the first logged step if that is earlier. Between rows the
    LR is interpolated linearly, except across a jump between two flat stretches, which is a
    step change at the first row that shows the new LR (see :func:`step_changes`): a linear
    ramp there would spread a drop over the whole logging interval.
    """
    s = np.asarray(steps, dtype=np.float64)
    eta = np.asarray(lr, dtype=np.float64)
    rising = 0
    while rising + 1 < len(eta) and eta[rising + 1] > eta[rising]:
        rising += 1
    if warmup_steps is None:
        warmup_steps = int(s[rising]) if rising > 0 and s[0] <= 0.5 * s[rising] else 0
    gaps = np.diff(s)
    if s.size == 1 or np.all(gaps == 1):
        origin = "logged at every step"
    else:
        origin = (
            f"interpolated linearly between {s.size} logged LR values "
            f"(every ~{int(np.median(gaps))} steps)"
        )
        jumps = step_changes(s, eta)
        if jumps.any():
            n = int(jumps.sum())
            plural = "s" if n > 1 else ""
            origin += f"; {n} jump{plural} between flat stretches kept as step{plural}"
            s, eta = with_step_changes(s, eta, jumps)
    schedule, said = unlogged_warmup(Piecewise(s, eta), warmup_steps)
    return schedule, origin + said


def unlogged_warmup(logged: Piecewise, warmup_steps: int) -> tuple[Piecewise, str]:
    """``logged`` (a log's points, read without warmup) with ``warmup_steps`` of warmup, and
    what that adds to its origin: a log that starts after step 1 rises linearly from 0 at step
    0 to its first LR, reached at the end of the warmup or at the first logged step if earlier
    (:func:`logged_schedule`)."""
    s, eta = logged.at_steps, logged.lrs
    if not (warmup_steps > 0 and s[0] > 1):  # no warmup, or its start is logged
        return Piecewise(s, eta, warmup_steps), ""
    reached = min(float(warmup_steps), s[0])
    later = s > reached
    s, eta = (
        np.concatenate([[0.0, reached], s[later]]),
        np.concatenate([[0.0, eta[0]], eta[later]]),
    )
    said = f"; the unlogged warmup before step {reached:g} taken to rise linearly from 0"
    return Piecewise(s, eta, warmup_steps), said


def truncate(run: Run, last_step: float) -> Run:
    """The run's points up to ``last_step``, with the same schedule."""
    keep = run.steps <= last_step
    return replace(run, steps=run.steps[keep], loss=run.loss[keep])
