"""A target run of other tokens per step than a fit's runs, counted on the fit's clock.

Its step ``s`` is clock step ``k s`` and its LR the clock's ``lr_scale(k)`` times its own
(:mod:`lrcurve.tokens`); predictions, checks and defaults are read back in the target's own
steps and LR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lrcurve.errors import ParameterError
from lrcurve.regime import Said
from lrcurve.runs import Run
from lrcurve.schedules import Schedule
from lrcurve.tokens import (
    BATCH_LR_EXPONENT,
    BATCH_MEASURED,
    CLOCK_RATIO,
    SAME_TOKENS_RTOL,
    batch_groups,
    batch_warning,
    clock_exponent,
    fitted_unit,
    is_clock_fit,
    lr_rule_text,
    lr_scale,
    on_clock,
    ratio_text,
    stretched,
)


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
            f"{whose} {self.tokens_per_step:,.0f} tokens a step counted as {ratio_text(self.k)} "
            f"steps of {self.unit:,.0f} tokens {lr_rule_text(self.k, self.lr_exponent)}, the "
            "fitted runs' clock"
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
            f"batch {ratio_text(self.k)}x the fitted",
            f"{self.tokens_per_step:,.0f} tokens a step is {ratio_text(self.k)}x the fitted runs' "
            f"clock of {self.unit:,.0f}: the token clock counts each of its steps as "
            f"{ratio_text(self.k)} {lr_rule_text(self.k, self.lr_exponent)}, a rule for batches "
            "below the critical one, measured only at 2x (SlimPajama 360M); the interval is not "
            "widened for it (docs/model-size.md)",
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
    peak: str | None = None  # how the peak was taken to the target's tokens a step


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
    counted = lr_said = None
    if clock is not None and not clock.same:
        peak = defaults["peak"]  # the LR of the clock's steps, at the target's batch
        own = peak / clock.lr_factor
        defaults.update(steps=max(clock.back(steps), 2), warmup=clock.back(warmup), peak=own)
        counted = (
            f"in the target's steps of {clock.tokens_per_step:,.0f} tokens: the fitted runs' "
            f"steps={steps:g}, warmup={warmup:g} are steps of {clock.unit:,.0f} tokens"
        )
        if own != peak:
            lr_said = f"the fitted peak {peak:.6g} on the clock is {own:.6g} at the target's"
    if chosen.said is None and counted is None:
        return defaults, None
    return defaults, DefaultsSaid(chosen.said, counted, lr_said)


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
    counted = in_target_lr(counted, fitted, clock, clock.step(n_steps), options.get("model_size"))
    said = clock.batch_said()
    if said is not None:  # said with the prediction's other extrapolations
        counted = replace(
            counted,
            warnings=(*counted.warnings, said[1]),
            extrapolating=(*counted.extrapolating, said[0]),
        )
    return read_back(counted, schedule, n_steps, clock)


def in_target_units(
    said: Sequence[Said],
    fitted: Any,
    clock: TargetClock,
    schedule: Schedule,
    n_steps: int,
    model_size: float | None = None,
) -> tuple[Said, ...]:
    """What a prediction of ``schedule`` on ``clock`` (``n_steps`` clock steps) for a model of
    ``model_size`` (default: the fit's) said of the fitted regime (peak LR, horizon seen at that
    size, how low and fast the LR falls), in the target's steps and LR: the fitted runs' clock
    values taken to the target's tokens a step (the same ratios)."""
    from lrcurve.laws.base import LRHistory
    from lrcurve.regime import decay_said, horizon_said, nearest_peak_said

    if clock.same or not said:
        return tuple(said)
    f = 1.0 / clock.lr_factor  # clock LR -> the target's
    peaks = [r.peak_lr for r in fitted.runs]
    horizon = fitted.horizon_at(fitted.predicted_size(model_size))
    pairs = [
        (
            nearest_peak_said(schedule.peak, peaks),
            nearest_peak_said(f * schedule.peak, [f * p for p in peaks]),
        ),
        (
            horizon_said(n_steps, horizon),
            horizon_said(clock.back(n_steps), clock.back(horizon)),
        ),
    ]
    lr = LRHistory.of(schedule, n_steps).held
    lowest, steepest = fitted._fitted_lr_regime
    on, there = (
        fitted.decay_regime(schedule, n_steps, lr),
        decay_said(f * lr, f * schedule.peak, f * lowest, steepest),
    )
    pairs += list(zip(on, there)) if len(on) == len(there) else []
    mapping = {old: new for old, new in pairs if old is not None and new is not None}
    return tuple(mapping.get(s, s) for s in said)


def in_target_lr(
    prediction: Any, fitted: Any, clock: TargetClock, n_steps: int, model_size: float | None
) -> Any:
    """``prediction`` on ``clock`` (over ``n_steps`` clock steps) for a model of ``model_size``
    with what it says of the fitted regime in the target's units (:func:`in_target_units`)."""
    said = list(zip(prediction.extrapolating, prediction.warnings))
    if len(prediction.extrapolating) != len(prediction.warnings):
        return prediction  # not one-to-one: kept as said on the clock
    moved = in_target_units(said, fitted, clock, prediction.schedule, n_steps, model_size)
    return replace(
        prediction,
        extrapolating=tuple(short for short, _ in moved),
        warnings=tuple(detail for _, detail in moved),
    )


def other_tokens_said(runs: Sequence[Run], tokens_per_step: float | None) -> list[str]:
    """Measured ``runs`` that logged other tokens a step than a target's ``tokens_per_step``
    (compared step by step with its prediction, each is another target), one line each."""
    return [
        f"measured run {run.label} logged {run.tokens_per_step:,.0f} tokens a step, the "
        f"prediction is for {tokens_per_step:,.0f} (--tokens-per-step)"
        for run in runs
        if run.tokens_per_step
        and tokens_per_step
        and abs(run.tokens_per_step / tokens_per_step - 1) > SAME_TOKENS_RTOL
    ]


def regime_on(
    fitted: Any,
    schedule: Schedule,
    n_steps: int,
    clock: TargetClock | None,
    model_size: float | None = None,
) -> tuple[Said, ...]:
    """:meth:`~lrcurve.fitted.FittedLaw.regime` of ``schedule`` on the fit's clock for a model
    of ``model_size``, said in the target's units when it has a ``clock``
    (:func:`in_target_units`)."""
    said = fitted.regime(schedule, n_steps, model_size=model_size)
    if clock is None:
        return said
    return in_target_units(said, fitted, clock, schedule, n_steps, model_size)


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
