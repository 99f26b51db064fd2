"""What a search shares: the settings (the fitted runs' horizon, peak and warmup unless asked
for), a re-warmup's base run and start, and the baseline the candidates are measured against
(by default the fitted runs' own schedule family, recognised from their LR, at the new
horizon)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lrcurve.candidates import (
    DEFAULT_COSINE_FLOORS,
    DEFAULT_FRACTIONS,
    DEFAULT_MAX_LRS,
    DEFAULT_PERIODS,
    DEFAULT_SHAPES,
    FAMILIES,
    Candidate,
    check_from_step,
    check_score_step,
    cosine_candidates,
    rewarmup_candidates,
    wsd_candidates,
)
from lrcurve.errors import ParameterError
from lrcurve.runs import MAX_STEPS, PEAK_LR_RANGE, Run
from lrcurve.schedules import (
    WSD,
    WSD_SHAPES,
    Constant,
    Cosine,
    Schedule,
    make_schedule,
    rewarmup,
    without_warmup,
)

# --- recognising the fitted runs' schedules ---------------------------------------------


def recognise(schedule: Schedule) -> tuple[str, dict[str, Any]] | None:
    """The family and options (``make_schedule`` keywords) a schedule follows, when it is
    a constant, a cosine or a WSD within 1 % of its peak LR (RMS over the steps); else None."""
    body = without_warmup(schedule)
    if isinstance(body, Constant):
        return "constant", {}
    if isinstance(body, Cosine) and body.start == schedule.warmup_steps and body.period is None:
        return "cosine", {"floor": body.final}
    if isinstance(body, WSD) and body.decay_start >= body.steps:
        return "constant", {}
    if isinstance(body, WSD):
        return "wsd", {"decay": body.decay, "shape": body.shape, "floor": body.final}
    horizon, warmup = schedule.horizon, schedule.warmup_steps
    if not horizon or horizon <= warmup + 2:
        return None
    steps = np.unique(np.linspace(warmup + 1, horizon, 4000).round().astype(np.int64))
    lr = body(steps)
    peak = float(lr.max())
    floor = float(lr[-1] / peak)
    guesses: list[tuple[str, dict[str, Any]]] = [("constant", {})]
    if floor < 0.98:
        guesses.append(("cosine", {"floor": floor}))
        stable_end = int(steps[np.flatnonzero(lr >= peak * (1 - 1e-6)).max()])
        decay = round((horizon - stable_end) / horizon, 4)
        for shape in WSD_SHAPES:
            if shape != "exp" or floor > 0:
                guesses.append(("wsd", {"decay": decay, "shape": shape, "floor": floor}))
    for name, options in guesses:  # simplest family first: the first that follows the LR wins
        model = make_schedule(name, steps=horizon, peak=peak, warmup=warmup, **options)
        if np.sqrt(np.mean((model(steps) - lr) ** 2)) < 0.01 * peak:
            return name, options
    return None


def describe(name: str, options: dict[str, Any]) -> str:
    """``cosine to 10 %``, ``wsd (sqrt, 20 % decay) to 0 %``, ``constant``."""
    if name == "constant":
        return "constant"
    floor = f" to {100 * options.get('floor', 0.0):.3g} %"
    if name == "wsd":
        return f"wsd ({options['shape']}, {100 * options['decay']:.3g} % decay){floor}"
    return f"{name}{floor}"


def short_label(schedule: Schedule) -> str:
    """:func:`describe` of the family ``schedule`` follows, else its full text."""
    family = recognise(schedule)
    return describe(*family) if family is not None else str(schedule)


def held_gap_said(base: Run, at_step: int) -> str | None:
    """What a re-warmup at ``at_step`` after ``base``'s last logged step assumes of the gap
    (its last LR held); None when it starts within the run or within 1 % of its steps past
    its last log (a run of 24000 steps logged to 23920)."""
    if at_step <= base.last_step * 1.01:
        return None
    lr = float(base.schedule(np.array([base.last_step]))[0])
    return (
        f"run {base.name} was logged to step {base.last_step}: its last LR, {lr:g}, is taken "
        f"as held to the re-warmup at step {at_step}"
    )


def first_decaying_run(runs: Sequence[Run]) -> tuple[Run, tuple[str, dict[str, Any]] | None]:
    """The first run whose schedule decays (the natural baseline and re-warmup base), with
    its recognised family; the first run when none decays."""
    families = [recognise(run.schedule) for run in runs]
    for run, family in zip(runs, families):
        if family is None or family[0] != "constant":
            return run, family
    return runs[0], families[0]


def default_baseline(
    runs: Sequence[Run], steps: int, peak: float, warmup: int
) -> tuple[Schedule, str]:
    """The fitted runs' first decaying schedule family at this horizon (cosine to 10 %
    when it cannot be recognised), and a sentence saying what was chosen."""
    run, family = first_decaying_run(runs)
    if family is None:
        family = ("cosine", {"floor": 0.1})
        why = (
            f"the schedule of run {run.name} is not a plain constant/cosine/WSD, so cosine to 10 %"
        )
    else:
        why = f"like run {run.label}: {describe(*family)}"
    schedule = make_schedule(family[0], steps=steps, peak=peak, warmup=warmup, **family[1])
    return schedule, f"{describe(*family)} at {steps} steps ({why})"


def rewarmup_family(base: Schedule) -> tuple[str, dict[str, Any]]:
    """The family a re-warmup's default baseline repeats: the base run's, or cosine to 10 %
    when the base run is constant or not a plain constant/cosine/WSD."""
    family = recognise(base)
    if family is None or family[0] == "constant":
        return "cosine", {"floor": 0.1}
    return family


def default_rewarmup_baseline(
    runs: Sequence[Run], base: Schedule, from_step: int, steps: int, peak: float, warmup: int
) -> tuple[Schedule, str]:
    """Re-warm to the fitted peak over the fitted warmup and repeat the base run's family."""
    family = rewarmup_family(base)
    phase = steps - from_step
    w = min(warmup, phase - 1)
    body = make_schedule(family[0], steps=phase, peak=peak, warmup=w, **family[1])
    return rewarmup(
        base, from_step, body, w
    ), f"re-warm over {w} steps to {peak:g}, then {describe(*family)}"


# --- a search as asked for, and the settings it shares -----------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """A search as asked for; ``None`` is the default (for steps, peak and warmup: the fitted
    runs'; for a grid: the ``DEFAULT_*`` above)."""

    family: str = "wsd"
    steps: int | None = None
    peak: float | None = None
    warmup: int | None = None
    score_step: int | None = None  # where the losses are compared (default: the last step)
    shapes: tuple[str, ...] | None = None
    fractions: tuple[float, ...] | None = None
    periods: tuple[float, ...] | None = None
    floors: tuple[float, ...] | None = None
    max_lrs: tuple[float, ...] | None = None
    rewarmups: tuple[int, ...] | None = None
    at_step: int | None = None  # where a re-warmup starts (default: the base run's end)
    base_run: str | None = None  # the fitted run a re-warmup continues
    then: str | None = None  # the family of a re-warmup's new phase
    decay: float | None = None  # of a re-warmup's WSD phase
    shape: str | None = None


@dataclass(frozen=True)
class Setting:
    """What a search's candidates share: ``used`` lists the defaults taken from the fit
    (``name=value``); a re-warmup's base run (``base_defaulted``: not asked for) and start."""

    steps: int
    peak: float
    warmup: int
    used: tuple[str, ...] = ()
    score_step: int | None = None
    base: Run | None = None
    base_defaulted: bool = False
    start: int | None = None


def settle(
    runs: Sequence[Run],
    defaults: dict[str, Any],
    request: SearchRequest,
    rewarmup_baseline: bool = False,
) -> Setting:
    """The setting of ``request``: steps, peak and warmup from ``defaults`` (the fitted runs')
    unless asked for, checked; the base run and start of a re-warmup search or baseline."""
    used = tuple(
        f"{k}={defaults[k]:g}" for k in ("steps", "peak", "warmup") if getattr(request, k) is None
    )
    steps, peak, warmup = (
        defaults[k] if getattr(request, k) is None else getattr(request, k)
        for k in ("steps", "peak", "warmup")
    )
    if steps > MAX_STEPS:
        raise ParameterError(
            f"{steps} is beyond {MAX_STEPS:,} steps, the most lrcurve handles", param="steps"
        )
    if not 0 <= warmup < steps:
        raise ParameterError(f"{warmup} must be in [0, steps ({steps}))", param="warmup")
    low, high = PEAK_LR_RANGE
    if not low <= peak <= high:  # a peak from a fit file was checked as the file was read
        raise ParameterError(
            f"peak LR {peak:g} is outside [{low:g}, {high:g}], the range the laws can evaluate "
            "(a unit mistake?)",
            param="peak",
        )
    if request.score_step is not None:
        check_score_step(request.score_step, steps)
    setting = Setting(steps, peak, warmup, used, request.score_step)
    if request.family != "rewarmup" and not rewarmup_baseline:
        return setting
    return rewarmup_setting(runs, request, setting)


def rewarmup_setting(runs: Sequence[Run], request: SearchRequest, setting: Setting) -> Setting:
    """``setting`` with the base run (default: the first that decays) and the re-warmup start
    (default: the base run's end)."""
    if request.base_run is None:
        base, _ = first_decaying_run(runs)
    else:
        matches = [run for run in runs if run.name == request.base_run]
        if not matches:
            names = ", ".join(r.name for r in runs)
            raise ParameterError(
                f"{request.base_run!r}: the fit has runs {names}", param="base_run"
            )
        base = matches[0]
    start = request.at_step or base.horizon
    check_from_step(start, setting.steps, None if request.at_step else base.name)
    used = setting.used
    if request.family == "rewarmup" and request.floors is None:  # candidates_of's default
        used += (f"floor={rewarmup_floor(base.schedule):.3g}",)
    return replace(
        setting, used=used, base=base, base_defaulted=request.base_run is None, start=start
    )


def rewarmup_floor(base: Schedule) -> float:
    """The final LR (a fraction of the peak) re-warmup candidates decay to by default: the
    default baseline's (:func:`rewarmup_family`), so that a search weighs the re-warmup's
    maximum LR and length, not a lower final LR."""
    return float(rewarmup_family(base)[1].get("floor", 0.0))


def _given(value: tuple[Any, ...] | None, default: tuple[Any, ...]) -> tuple[Any, ...]:
    return default if value is None else value


def decays_after_warmup(steps: int, warmup: int) -> tuple[float, ...]:
    """The default WSD decay fractions whose decay starts after the warmup (the others would
    never reach the peak); refused when none does."""
    fractions = tuple(f for f in DEFAULT_FRACTIONS if steps - round(f * steps) >= warmup)
    if not fractions:
        raise ParameterError(
            f"every default decay of {steps} steps starts inside the {warmup}-step warmup: give "
            "more steps, a shorter warmup or --fractions",
            param="steps",
        )
    return fractions


def candidates_of(request: SearchRequest, setting: Setting) -> list[Candidate]:
    """The candidates of ``request``'s family and grids (the defaults where not given)."""
    family, steps, peak, warmup = request.family, setting.steps, setting.peak, setting.warmup
    floors = _given(request.floors, DEFAULT_COSINE_FLOORS if family == "cosine" else (0.0,))
    if family == "wsd":
        fractions = _given(request.fractions, decays_after_warmup(steps, warmup))
        shapes = _given(request.shapes, DEFAULT_SHAPES)
        return wsd_candidates(steps, peak, warmup, fractions, shapes, floors)
    if family == "cosine":
        periods = _given(request.periods, DEFAULT_PERIODS)
        return cosine_candidates(steps, peak, warmup, periods, floors)
    if family != "rewarmup" or setting.base is None or setting.start is None:
        raise ParameterError(
            f"must be one of {', '.join(FAMILIES)}, got {family!r}", param="family"
        )
    return rewarmup_candidates(
        setting.base.schedule,
        setting.start,
        steps,
        peak,
        _given(request.max_lrs, DEFAULT_MAX_LRS),
        request.rewarmups,
        request.then or "cosine",
        _given(request.floors, (rewarmup_floor(setting.base.schedule),)),
        decay=request.decay,
        shape=request.shape,
    )


def baseline_of(runs: Sequence[Run], family: str, setting: Setting) -> tuple[Schedule, str]:
    """The default baseline: re-warm like the base run for a re-warmup search, else the fitted
    runs' first decaying schedule family at this horizon."""
    steps, peak, warmup = setting.steps, setting.peak, setting.warmup
    if family == "rewarmup" and setting.base is not None and setting.start is not None:
        base = setting.base.schedule
        return default_rewarmup_baseline(runs, base, setting.start, steps, peak, warmup)
    return default_baseline(runs, steps, peak, warmup)
