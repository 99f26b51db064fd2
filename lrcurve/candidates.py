"""What ``optimize`` searches: the candidates of each schedule family, the settings they share
(the fitted runs' horizon, peak and warmup unless given) and the baseline they are measured
against (by default the fitted runs' own schedule family at the new horizon).

* ``wsd``: decay fraction x decay shape (x final LR),
* ``cosine``: period (as a fraction of the steps after warmup; 1 ends the half-cosine at
  the last step, more leaves the LR above the floor at the end) x floor,
* ``rewarmup`` (continual pretraining): continue a fitted run to ``from_step``, warm up
  again over ``w`` steps to a maximum LR ``m`` and decay (default cosine) to the end:
  ``m`` x ``w`` (x floor).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lrcurve.errors import ParameterError
from lrcurve.schedules import WSD_SHAPES, Schedule, make_schedule, rewarmup

FAMILIES = ("wsd", "cosine", "rewarmup")
# The new phase of a re-warmup search: families built from the flags optimize has (not multistep's
# milestones nor the power scheduler's a, b, batch and tokens per step).
REWARMUP_THEN = ("constant", "cosine", "wsd", "cyclic")
DEFAULT_FRACTIONS = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
DEFAULT_SHAPES = ("linear", "sqrt", "cosine")
DEFAULT_PERIODS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5)
DEFAULT_COSINE_FLOORS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
DEFAULT_MAX_LRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # fractions of the peak
DEFAULT_REWARMUP_FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1)  # of the new phase's steps


@dataclass(frozen=True)
class Candidate:
    """One setting of a family: its parameters, where it sits on the trade-off plot
    (``x`` on the curve of ``series``), and the schedule it makes."""

    params: dict[str, Any]
    x: float
    series: str
    label: str
    schedule: Schedule = field(repr=False)


def format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _pct(fraction: float) -> str:
    percent = 100 * fraction
    return f"{percent:.0f} %" if percent >= 1000 else f"{percent:.3g} %"


def _check_fractions(values: Sequence[float], what: str, lo: float, hi: float, param: str) -> None:
    bad = [v for v in values if not lo <= v <= hi]
    if bad or not values:
        raise ParameterError(
            f"{what} must be a non-empty list of numbers in [{lo:g}, {hi:g}], got {list(values)}",
            param=param,
        )


# --- candidate grids -----------------------------------------------------------------


def wsd_candidates(
    steps: int,
    peak: float,
    warmup: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    shapes: Sequence[str] = DEFAULT_SHAPES,
    floors: Sequence[float] = (0.0,),
) -> list[Candidate]:
    """WSD with every decay fraction x shape x final-LR fraction."""
    _check_fractions(fractions, "WSD decay fractions", 0.0, 1.0, "fractions")
    _check_fractions(floors, "floors", 0.0, 1.0, "floors")
    early = [f for f in fractions if steps - round(f * steps) < warmup]
    if early:
        raise ParameterError(
            f"{', '.join(f'{f:g}' for f in early)}: a decay over that share of {steps} steps "
            f"starts inside the {warmup}-step warmup (the LR would never reach the peak)",
            param="fractions",
        )
    unknown = [s for s in shapes if s not in WSD_SHAPES]
    if unknown or not shapes:
        raise ParameterError(
            f"unknown decay shape(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(WSD_SHAPES)}",
            param="shapes",
        )
    out = []
    for floor in floors:
        for shape in shapes:
            if shape == "exp" and floor <= 0:
                raise ParameterError("the exp decay shape needs a floor > 0", param="floors")
            series = shape if len(floors) == 1 else f"{shape}, floor {floor:g}"
            for fraction in fractions:
                schedule = make_schedule(
                    "wsd",
                    steps=steps,
                    peak=peak,
                    warmup=warmup,
                    decay=fraction,
                    shape=shape,
                    floor=floor,
                )
                label = f"{shape} decay over the last {_pct(fraction)}" + (
                    f", to {_pct(floor)}" if floor else ""
                )
                out.append(
                    Candidate(
                        {"shape": shape, "decay": float(fraction), "floor": float(floor)},
                        float(fraction),
                        series,
                        label,
                        schedule,
                    )
                )
    return out


def cosine_candidates(
    steps: int,
    peak: float,
    warmup: int,
    periods: Sequence[float] = DEFAULT_PERIODS,
    floors: Sequence[float] = DEFAULT_COSINE_FLOORS,
) -> list[Candidate]:
    """Cosine with every period (fraction of the steps after warmup) x floor."""
    _check_fractions(periods, "cosine periods", 0.01, 10.0, "periods")
    _check_fractions(floors, "floors", 0.0, 1.0, "floors")
    out = []
    for floor in floors:
        for fraction in periods:
            period = max(1, int(round(fraction * (steps - warmup))))
            schedule = make_schedule(
                "cosine", steps=steps, peak=peak, warmup=warmup, floor=floor, period=period
            )
            label = f"period {fraction:g} x {steps - warmup} = {period} steps, floor {_pct(floor)}"
            out.append(
                Candidate(
                    {"period": period, "period_fraction": float(fraction), "floor": float(floor)},
                    float(fraction),
                    f"floor {floor:g}",
                    label,
                    schedule,
                )
            )
    return out


def check_family(family: str) -> None:
    """Refuse a family ``optimize`` cannot search."""
    if family not in FAMILIES:
        raise ParameterError(
            f"must be one of {', '.join(FAMILIES)}, got {family!r}", param="family"
        )


def check_score_step(score_step: int, steps: int) -> None:
    """Refuse a step to compare the losses at outside the run."""
    if not 1 <= score_step <= steps:
        raise ParameterError(
            f"{score_step} must be between 1 and steps ({steps})", param="score_step"
        )


def check_from_step(from_step: int, steps: int, default_of: str | None = None) -> None:
    """Refuse a re-warmup start outside the run; ``default_of`` names the run whose end it
    defaulted to."""
    if not 0 < from_step < steps:
        given = (
            f"{from_step}" if default_of is None else f"{from_step} (the end of run {default_of})"
        )
        raise ParameterError(f"{given} must be between 0 and steps ({steps})", param="at_step")


def _rewarmup_lengths(warmups: Sequence[int] | None, phase: int) -> list[int]:
    """The re-warmup lengths searched: ``warmups``, or fractions of the new ``phase`` by default;
    each must end inside the phase."""
    lengths = (
        sorted({int(round(f * phase)) for f in DEFAULT_REWARMUP_FRACTIONS})
        if warmups is None
        else list(warmups)
    )
    if not lengths or min(lengths) < 0 or max(lengths) >= phase:
        raise ParameterError(
            f"re-warmup lengths must be in [0, {phase}) steps (the new phase), got {lengths}",
            param="rewarmups",
        )
    return lengths


def rewarmup_candidates(
    base: Schedule,
    from_step: int,
    steps: int,
    peak: float,
    max_lrs: Sequence[float] = DEFAULT_MAX_LRS,
    warmups: Sequence[int] | None = None,
    then: str = "cosine",
    floors: Sequence[float] = (0.0,),
    **then_options: Any,
) -> list[Candidate]:
    """Continue ``base`` to ``from_step``, re-warm over ``w`` steps to ``m * peak`` and decay
    with family ``then`` to the end: every ``m`` in ``max_lrs`` x ``w`` in ``warmups`` x floor."""
    if then not in REWARMUP_THEN:
        raise ParameterError(
            f"the re-warmup search's new phase is one of {', '.join(REWARMUP_THEN)}, got {then!r}",
            param="then",
        )
    check_from_step(from_step, steps)
    phase = steps - from_step
    _check_fractions(max_lrs, "maximum LRs (fractions of the peak)", 1e-6, 100.0, "max_lrs")
    _check_fractions(floors, "floors", 0.0, 1.0, "floors")
    warmups = _rewarmup_lengths(warmups, phase)
    out = []
    for floor in floors:
        for w in warmups:
            series = f"warmup {w}" if len(floors) == 1 else f"warmup {w}, floor {floor:g}"
            for m in max_lrs:
                body = make_schedule(
                    then, steps=phase, peak=m * peak, warmup=w, floor=floor, **then_options
                )
                label = f"max LR {m * peak:.3g} ({_pct(m)} of peak), re-warmup {w} steps" + (
                    f", to {_pct(floor)}" if floor else ""
                )
                out.append(
                    Candidate(
                        {
                            "max_lr": float(m * peak),
                            "max_lr_fraction": float(m),
                            "rewarmup": int(w),
                            "floor": float(floor),
                        },
                        float(m * peak),
                        series,
                        label,
                        rewarmup(base, from_step, body, w),
                    )
                )
    return out
