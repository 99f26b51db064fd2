"""Runs that differ in tokens per optimizer step (batch size x sequence length).

The laws count optimizer steps: ``S1 = sum of the LR over steps`` (Tissue et al., arXiv
2408.11029; Luo et al., arXiv 2503.12811). A run of twice the batch learns about as much per
step as two steps of the others, yet counts once, so a fit of runs of several batch sizes
mixes two clocks (on the SlimPajama scaling family the 360M runs, at twice the batch, are
predicted +2.4 to +5.5 % too high from the smaller sizes; docs/model-size.md). A fit of such
runs says so (:func:`batch_warning`).

On a common clock of tokens (:func:`on_clock`) a step of ``k`` times the tokens at LR ``eta``
counts as ``k`` steps at ``eta / sqrt(k)``: Adam's square-root scaling rule (Malladi et al.,
arXiv 2205.10287: ``k`` times the batch at ``sqrt(k)`` times the LR follows the same SDE in
``k`` times fewer steps), read backwards. The larger batch averages away gradient noise,
which a law sees only through the LR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lrcurve.errors import ParameterError
from lrcurve.regime import Said
from lrcurve.runs import MAX_STEPS, Run
from lrcurve.schedules import Piecewise, Schedule
from lrcurve.sizes import SAME_SIZE, grouped

# tokens per step within 1 % are one batch size: the tolerance of the readers' agreement check
# (sizes.agreed_size), so what they accept as one value the clock counts as one
SAME_TOKENS_RTOL = SAME_SIZE
NAMED_RUNS = 3  # runs named per value in the warning
CLOCK_NOTE = "steps counted in units of"  # how a clock fit's note starts (old files: a warning)
# a target's tokens per step more than this many times the clock's (or less than its inverse)
# is no batch of a run like the fitted ones: its clock steps would be absurd (1e300 tokens a
# step: arange of 1e300 steps; 1e-300: one clock step in 1e305 of its steps)
CLOCK_RATIO = 1000.0
# the token clock (a step of k times the tokens is worth k steps) holds below the critical
# batch size and was measured only at 2x (the SlimPajama 360M runs, docs/model-size.md)
BATCH_MEASURED = 2.0
# Adam's square-root scaling rule (module docstring): the exponent of k in the LR a clock step
# of a run of k times the tokens has. Taken from the theory, not fitted: no data set here varies
# the batch at one size (docs/model-size.md gives the 360M figures at 0, 0.5 and 1)
BATCH_LR_EXPONENT = 0.5


def _times(k: float) -> str:
    """A ratio for the user: ``1,000`` rather than ``1e+03``."""
    return f"{k:,.0f}" if k >= 100 else f"{k:.3g}"


def _named(labels: list[str]) -> str:
    shown = ", ".join(labels[:NAMED_RUNS])
    more = len(labels) - NAMED_RUNS
    return shown + (f" and {more} more" if more > 0 else "")


def batch_groups(runs: Sequence[Any]) -> list[tuple[float, list[str]]]:
    """The distinct tokens per step of ``runs`` (within 1 %), ascending, each with the labels
    of its runs; runs of unknown tokens per step are left out."""
    known = [r for r in runs if r.tokens_per_step is not None]
    groups = grouped(known, 1 + SAME_TOKENS_RTOL, lambda r: float(r.tokens_per_step))
    return [(n, [r.label for r in group]) for n, group in groups]


def batch_warning(runs: Sequence[Any]) -> str | None:
    """One line when ``runs`` differ in tokens per step by over 1 %, naming the values and
    runs; None for runs of one batch size (or of unknown ones)."""
    groups = batch_groups(runs)
    if len(groups) < 2:
        return None
    values = "; ".join(f"{n:,.0f} ({_named(labels)})" for n, labels in groups)
    ratio = groups[-1][0] / groups[0][0]
    return (
        f"the runs differ in tokens per step: {values}; the laws count optimizer steps: a step "
        f"of {ratio:.3g}x the tokens counts once; fit runs of one batch size, or count steps "
        "on a common clock of tokens (lrcurve fit --clock tokens; lrcurve.tokens.token_clock)"
    )


def lr_scale(k: float, exponent: float = BATCH_LR_EXPONENT) -> float:
    """The factor on the LR of a run of ``k`` times the clock's tokens a step, counted on the
    clock: ``k^-exponent``, ``1 / sqrt(k)`` by Adam's rule (:data:`BATCH_LR_EXPONENT`)."""
    return float(k**-exponent)


def _at_lr(k: float, exponent: float = BATCH_LR_EXPONENT) -> str:
    """How a step of ``k`` times the tokens is counted, in words."""
    scale = lr_scale(k, exponent)
    if scale == 1.0:
        return "at its LR"
    return f"at its LR / {_times(1 / scale)}" if scale < 1 else f"at its LR x {_times(scale)}"


def clock_exponent(fitted: Any) -> float:
    """The LR rule a target is counted on ``fitted``'s clock with: the clock's own (0 in a fit
    file from before the rule), :data:`BATCH_LR_EXPONENT` for a fit in steps as logged."""
    clock = getattr(fitted, "clock", None)
    return BATCH_LR_EXPONENT if clock is None else clock.lr_exponent


def stretched(
    schedule: Schedule, k: float, n_steps: int, lr_exponent: float = BATCH_LR_EXPONENT
) -> Piecewise:
    """``schedule`` over ``n_steps`` steps on a clock of ``1/k`` of its steps: clock step ``t``
    has the LR of step ``ceil(t / k)`` times :func:`lr_scale` (``k = 2``: each step twice at its
    LR / sqrt(2); ``lr_exponent``: another rule's, for benchmarks/cross_size.py)."""
    if k * n_steps > MAX_STEPS:
        raise ParameterError(
            f"{n_steps:,} steps of {k:.3g}x the tokens are {k * n_steps:,.0f} steps on the clock, "
            f"beyond {MAX_STEPS:,}, the most lrcurve predicts",
            param="tokens_per_step",
        )
    lr = schedule.per_step(n_steps)
    at = np.arange(1, max(round(k * n_steps), 2) + 1)
    index = np.clip(np.ceil(at / k).astype(np.int64), 1, n_steps) - 1
    scaled = lr[index] * lr_scale(k, lr_exponent)
    return Piecewise(at.astype(np.float64), scaled, round(k * schedule.warmup_steps))


def on_clock(run: Run, unit: float, lr_exponent: float = BATCH_LR_EXPONENT) -> Run:
    """``run`` counted in steps of ``unit`` tokens: a run of ``k x unit`` tokens a step has
    each of its steps counted ``k`` times at its LR / sqrt(k) (its schedule :func:`stretched`)."""
    if run.tokens_per_step is None:
        raise ParameterError(
            f"{run.label}: its tokens per step are not known (no batch size and sequence length "
            "in its W&B config or table); give them",
            param="tokens_per_step",
        )
    k = run.tokens_per_step / unit
    if abs(k - 1) <= SAME_TOKENS_RTOL:
        return replace(run, tokens_per_step=unit)
    steps, keep = np.unique(np.round(k * run.steps).astype(np.int64), return_index=True)
    note = (
        f"{run.label}: {run.tokens_per_step:,.0f} tokens a step, counted as {_times(k)} steps of "
        f"{unit:,.0f} tokens {_at_lr(k, lr_exponent)}"
    )
    return replace(
        run,
        steps=steps,
        loss=run.loss[keep],
        schedule=stretched(run.schedule, k, run.horizon, lr_exponent),
        tokens_per_step=unit,
        notes=(*run.notes, note),
        diverged_at=None if run.diverged_at is None else round(k * run.diverged_at),
    )


def token_clock(runs: Sequence[Run]) -> tuple[list[Run], str]:
    """``runs`` on one clock, steps of the smallest tokens per step among them
    (:func:`on_clock`), and a note saying so."""
    groups = batch_groups(runs)
    if not groups:
        raise ParameterError(
            "no run says its tokens per step (no batch size and sequence length in a W&B "
            "config or table); give them",
            param="tokens_per_step",
        )
    unit = groups[0][0]
    clocked = [on_clock(run, unit) for run in runs]
    note = (
        f"{CLOCK_NOTE} {unit:,.0f} tokens (the smallest tokens per step fitted): "
        "a run of k times the tokens a step counts each step k times at its LR / sqrt(k) "
        "(Adam's square-root rule); a prediction "
        "takes the target's tokens per step to map back to its steps"
    )
    return clocked, note


def fitted_unit(fitted: Any) -> float:
    """The one tokens per step of ``fitted``'s runs (on a common clock, its unit); refused when
    they differ or are unknown."""
    groups = batch_groups(fitted.runs)
    if len(groups) != 1 or any(r.tokens_per_step is None for r in fitted.runs):
        said = "differ in" if len(groups) > 1 else "do not all say their"
        raise ParameterError(
            f"the fitted runs {said} tokens per step, so a target's cannot be mapped onto "
            "their clock; fit runs of one batch size, or on a clock of tokens",
            param="tokens_per_step",
        )
    return groups[0][0]


def is_clock_fit(fitted: Any) -> bool:
    """``fitted`` was made on a common clock of tokens (:func:`token_clock`, ``fit --clock
    tokens``): it carries the clock (:attr:`lrcurve.fitted.FittedLaw.clock`)."""
    return getattr(fitted, "clock", None) is not None


@dataclass(frozen=True)
class TargetClock:
    """A target of ``tokens_per_step`` tokens a step counted on a fit's clock of ``unit``
    tokens a step: its step ``s`` is clock step ``k s``, ``k = tokens_per_step / unit``, and
    its schedule is :func:`stretched` ``k``-fold."""

    tokens_per_step: float
    unit: float
    lr_exponent: float = BATCH_LR_EXPONENT  # the LR rule (lr_scale)

    @property
    def lr_factor(self) -> float:
        """The factor on the target's LR on the clock (:func:`lr_scale`)."""
        return lr_scale(self.k, self.lr_exponent)

    @property
    def k(self) -> float:
        return self.tokens_per_step / self.unit

    @property
    def same(self) -> bool:
        """The target's steps are the clock's (within 1 %)."""
        return abs(self.k - 1) <= SAME_TOKENS_RTOL

    def step(self, step: int) -> int:
        """The clock step of the target's ``step``."""
        return step if self.same else max(round(self.k * step), 1)

    def back(self, step: int) -> int:
        """The target's step of the clock's ``step``."""
        return step if self.same else round(step / self.k)

    def schedule(self, schedule: Schedule, n_steps: int) -> Schedule:
        """``schedule``'s first ``n_steps`` target steps on the clock."""
        return schedule if self.same else stretched(schedule, self.k, n_steps, self.lr_exponent)

    def said(self, whose: str = "the target's") -> str:
        return (
            f"{whose} {self.tokens_per_step:,.0f} tokens a step counted as {_times(self.k)} "
            f"steps of {self.unit:,.0f} tokens {_at_lr(self.k, self.lr_exponent)}, the fitted "
            "runs' clock"
        )

    def batch_said(self) -> Said | None:
        """Said (as :mod:`lrcurve.regime` says things) when the target's batch is over
        :data:`BATCH_MEASURED` times the clock's or below its inverse: the clock's premise
        is extrapolated there, and the interval is not widened for it (no data to size it)."""
        if (
            1 / (BATCH_MEASURED * (1 + SAME_TOKENS_RTOL))
            <= self.k
            <= BATCH_MEASURED * (1 + SAME_TOKENS_RTOL)
        ):
            return None
        return (
            f"batch {_times(self.k)}x the fitted",
            f"{self.tokens_per_step:,.0f} tokens a step is {_times(self.k)}x the fitted runs' "
            f"clock of {self.unit:,.0f}: the token clock counts a step of k times the tokens as k "
            "steps at the LR / sqrt(k), a rule for batches below the critical one, measured only "
            "at 2x (SlimPajama 360M); the interval is not widened for it (docs/model-size.md)",
        )


def target_clock(fitted: Any, tokens_per_step: float) -> TargetClock:
    """The clock of ``fitted`` for a target of ``tokens_per_step`` tokens a step; refused when
    not above 0 or when the fitted runs do not share one."""
    if not tokens_per_step > 0:
        raise ParameterError(f"must be above 0, got {tokens_per_step:g}", param="tokens_per_step")
    clock = TargetClock(float(tokens_per_step), fitted_unit(fitted), clock_exponent(fitted))
    if not 1 / CLOCK_RATIO <= clock.k <= CLOCK_RATIO:
        raise ParameterError(
            f"{tokens_per_step:g} is {clock.k:.3g}x the fitted runs' {clock.unit:,.0f} tokens a "
            f"step: a target is counted on their clock within {1 / CLOCK_RATIO:g}x to "
            f"{CLOCK_RATIO:g}x of it",
            param="tokens_per_step",
        )
    return clock


def batch_regime(fitted: Any, tokens_per_step: float) -> tuple[Said, ...]:
    """:meth:`TargetClock.batch_said` of a target on ``fitted``'s clock, as a regime's
    extrapolations are kept (none, or one)."""
    said = target_clock(fitted, tokens_per_step).batch_said()
    return () if said is None else (said,)


def counted_on(
    fitted: Any, schedules: Sequence[Schedule], step: int, tokens_per_step: float | None
) -> tuple[list[Schedule], int]:
    """``schedules`` of a target of ``tokens_per_step`` tokens a step up to its ``step``, and
    that step, counted on ``fitted``'s clock (as they are without a target's tokens)."""
    if tokens_per_step is None:
        return list(schedules), step
    clock = target_clock(fitted, tokens_per_step)
    if clock.same:
        return list(schedules), step
    return [clock.schedule(s, step) for s in schedules], clock.step(step)


def refuse_rewarmup(fitted: Any, tokens_per_step: float | None) -> None:
    """A re-warmup continues a fitted run, counted in the fitted runs' steps: refused for a
    target of other tokens per step (its steps are not theirs)."""
    if tokens_per_step is not None and not target_clock(fitted, tokens_per_step).same:
        raise ParameterError(
            f"{tokens_per_step:g}: a re-warmup continues a fitted run, whose steps are not the "
            "target's; re-warmups are counted in the fitted runs' steps only",
            param="tokens_per_step",
        )


@dataclass(frozen=True)
class DefaultsSaid:
    """How a command's defaults were taken: ``runs``, from which fitted runs (None: all of
    them); ``clock``, how the steps and warmup were counted in the target's steps (None: as
    the fitted runs')."""

    runs: str | None = None
    clock: str | None = None


def target_defaults(
    fitted: Any,
    tokens_per_step: float | None = None,
    family: str | None = None,
    model_size: float | None = None,
) -> tuple[dict[str, Any], DefaultsSaid | None]:
    """The schedule settings a command takes from the fitted runs (horizon, peak, warmup):
    those of the runs of the fitted size nearest ``model_size`` (default: the size a sized
    view of the fit is at), the peak of their ``family`` runs
    (:func:`lrcurve.default_runs.default_runs`); in the target's steps for a target of
    ``tokens_per_step`` tokens a step (the same tokens as the fitted runs' clock steps); and
    how they were taken (None when as every fitted run's, in their steps)."""
    from lrcurve.default_runs import default_runs

    size = getattr(fitted, "at_size", None) if model_size is None else model_size
    chosen = default_runs(fitted.runs, size, family)
    defaults = chosen.defaults
    steps, warmup = defaults["steps"], defaults["warmup"]
    clock = None if tokens_per_step is None else target_clock(fitted, tokens_per_step)
    counted = None
    if clock is not None and not clock.same:
        peak = defaults["peak"]  # the LR of the clock's steps, at the target's batch
        own = peak / clock.lr_factor
        defaults.update(steps=max(clock.back(steps), 2), warmup=clock.back(warmup), peak=own)
        counted = (
            f"in the target's steps of {clock.tokens_per_step:,.0f} tokens: the fitted runs' "
            f"steps={steps:g}, warmup={warmup:g} are steps of {clock.unit:,.0f} tokens"
        )
        if own != peak:
            counted += f"; their peak {peak:.6g} there is {own:.6g} at the target's tokens a step"
    if chosen.said is None and counted is None:
        return defaults, None
    return defaults, DefaultsSaid(chosen.said, counted)


def read_back(prediction: Any, schedule: Schedule, n_steps: int, clock: TargetClock) -> Any:
    """A prediction on ``clock`` (over ``clock.step(n_steps)`` steps) at the target's own steps
    ``1..n_steps``, for its ``schedule``."""
    last = prediction.steps.size
    at = np.clip(np.round(clock.k * np.arange(1, n_steps + 1)).astype(np.int64), 1, last) - 1

    def back(values: Any) -> Any:
        return None if values is None else values[at]

    return replace(
        prediction,
        schedule=schedule,
        steps=np.arange(1, n_steps + 1, dtype=np.int64),
        lr=schedule.per_step(n_steps),
        loss=prediction.loss[at],
        loss_stderr=back(prediction.loss_stderr),
        sd=back(prediction.sd),
    )


def predict_at_batch(
    fitted: Any, schedule: Schedule, n_steps: int, tokens_per_step: float, **options: Any
) -> Any:
    """``fitted.predict`` for a run of ``tokens_per_step`` tokens a step: its schedule counted on
    the fitted runs' clock (:class:`TargetClock`), the prediction read back at its own steps
    ``1..n_steps``."""
    clock = target_clock(fitted, tokens_per_step)
    if clock.same:
        return fitted.predict(schedule, n_steps, **options)
    counted = fitted.predict(clock.schedule(schedule, n_steps), clock.step(n_steps), **options)
    counted = in_target_lr(counted, fitted, clock)
    said = clock.batch_said()
    if said is not None:  # said with the prediction's other extrapolations
        counted = replace(
            counted,
            warnings=(*counted.warnings, said[1]),
            extrapolating=(*counted.extrapolating, said[0]),
        )
    return read_back(counted, schedule, n_steps, clock)


def in_target_lr(prediction: Any, fitted: Any, clock: TargetClock) -> Any:
    """``prediction`` on ``clock`` with its peak-LR extrapolation said in the target's LR: the
    target's peak, and the fitted runs' clock peaks at the target's batch (the same ratio)."""
    from lrcurve.regime import nearest_peak_said

    peaks = [r.peak_lr for r in fitted.runs]
    on_clock_said = nearest_peak_said(prediction.schedule.peak, peaks)
    if on_clock_said is None or clock.lr_factor == 1.0:
        return prediction
    scale = 1 / clock.lr_factor
    said = nearest_peak_said(prediction.schedule.peak * scale, [p * scale for p in peaks])
    if said is None:  # the same ratio: not expected, kept as said on the clock
        return prediction

    def swap(texts: tuple[str, ...], old: str, new: str) -> tuple[str, ...]:
        return tuple(new if t == old else t for t in texts)

    return replace(
        prediction,
        warnings=swap(prediction.warnings, on_clock_said[1], said[1]),
        extrapolating=swap(prediction.extrapolating, on_clock_said[0], said[0]),
    )


def clock_said(fitted: Any, tokens_per_step: float) -> str | None:
    """How a target of ``tokens_per_step`` tokens a step is counted on ``fitted``'s clock (None
    when its steps are the clock's)."""
    clock = target_clock(fitted, tokens_per_step)
    return None if clock.same else clock.said()


def check_clock(fitted: Any, run: Run, given: bool) -> tuple[TargetClock | None, str | None]:
    """How ``run`` is checked against ``fitted``: on the fit's clock (a clock fit, or the run's
    tokens per step ``given``), else in steps as logged, with :func:`batch_warning` when the
    run's tokens per step differs from the fitted runs' (the laws count steps)."""
    clocked = is_clock_fit(fitted)
    if run.tokens_per_step is not None and (given or clocked):
        return target_clock(fitted, run.tokens_per_step), None
    if clocked:
        return None, (
            f"{run.label}: its tokens per step are not known (no batch size and sequence length "
            f"in its W&B config or table): counted as steps of {fitted_unit(fitted):,.0f} tokens, "
            "the fit's clock; give them"
        )
    if len(batch_groups(fitted.runs)) == 1:
        return None, batch_warning([*fitted.runs, run])
    return None, None


def check_at_batch(fitted: Any, run: Run, clock: TargetClock, **options: Any) -> tuple[Any, Any]:
    """:func:`lrcurve.check.check_run` of ``run`` counted on ``clock`` (:func:`on_clock`): the
    result read back at the run's own steps (its points, windows and forecast), and as checked
    on the clock (to draw with the fit's curve)."""
    from lrcurve.check import check_run

    counted = check_run(fitted, on_clock(run, clock.unit, clock.lr_exponent), **options)
    if clock.same:
        return replace(counted, run=run), counted
    clock_steps = np.round(clock.k * run.steps).astype(np.int64)

    def own(step: Any) -> Any:  # the first logged step counted as clock step ``step``
        return run.steps[np.searchsorted(clock_steps, step)]

    windows = tuple(
        replace(w, start=int(own(w.start)), end=int(own(w.end))) for w in counted.windows
    )
    prediction, forecast = counted.prediction, counted.forecast
    if prediction is not None and forecast is not None:  # to the run's planned horizon
        horizon = run.schedule.horizon
        prediction = read_back(prediction, run.schedule, horizon, clock)
        forecast = replace(forecast, horizon=horizon)
    result = replace(
        counted,
        run=run,
        steps=own(counted.steps),
        windows=windows,
        forecast=forecast,
        prediction=prediction,
    )
    return result, counted
