"""Construction and serialisation: a named family from flat options (:func:`make_schedule`,
what the CLI flags give) and a schedule back from its saved dict (:func:`schedule_from_dict`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from lrcurve.errors import ParameterError
from lrcurve.schedules import families
from lrcurve.schedules.base import Schedule, _check_count
from lrcurve.schedules.compose import Join, Warmup, with_warmup

# every schedule class by its saved ``kind``: the families of families.py, warmup and join
_KINDS: dict[str, type[Schedule]] = {
    cls.kind: cls
    for cls in (*vars(families).values(), Warmup, Join)
    if isinstance(cls, type) and issubclass(cls, Schedule) and cls is not Schedule
}


# Schedules nest (a warmup around a body, joined segments) a few levels deep; a saved one nested
# deeper than this is damaged, and evaluating it would exhaust the stack.
MAX_NESTING = 64


def schedule_from_dict(data: dict[str, Any], _depth: int = 0) -> Schedule:
    """Inverse of :meth:`Schedule.to_dict`."""
    if _depth > MAX_NESTING:
        raise ParameterError(f"schedule nested more than {MAX_NESTING} levels deep")
    data = dict(data)
    kind = data.pop("kind")
    cls = _KINDS.get(kind)
    if cls is None:
        raise ParameterError(f"unknown schedule kind {kind!r}")
    if "body" in data:
        data["body"] = schedule_from_dict(data["body"], _depth + 1)
    if "segments" in data:
        data["segments"] = tuple(schedule_from_dict(d, _depth + 1) for d in data["segments"])
    for key in ("milestones", "factors", "boundaries"):
        if key in data:
            data[key] = tuple(data[key])
    return cls(**data)


def _check_run(steps: int, peak: float, warmup: int) -> None:
    """Refuse a horizon, peak LR or warmup that no schedule family can run with."""
    _check_count("steps", steps, 1)
    if peak <= 0 or not math.isfinite(peak):
        raise ParameterError(f"peak LR must be positive, got {peak}")
    _check_count("warmup", warmup, 0)
    if not warmup < steps:
        raise ParameterError(f"warmup ({warmup}) must be in [0, steps)")


def _power_body(
    steps: int,
    peak: float,
    decay_option: dict[str, float],
    shape: str | None,
    floor: float | None,
    power: tuple[float | None, float | None, float | None, float | None],
) -> families.Power:
    """The power scheduler's body from ``power = (a, b, batch, tokens_per_step)``, all needed."""
    missing = [
        n for n, v in zip(("power_a", "power_b", "batch", "tokens_per_step"), power) if v is None
    ]
    if missing:
        raise ParameterError(
            "needed by the power schedule (it needs a, b, batch and tokens per step)",
            param=missing[0],
        )
    return families.Power(
        *power,  # type: ignore[arg-type]
        peak,
        steps,
        **decay_option,
        shape=shape or families.Power.shape,
        final=families.Power.final if floor is None else floor,
    )


DecayingBody = TypeVar("DecayingBody", families.WSD, families.Power)


def decaying_after_warmup(body: DecayingBody, warmup: int) -> DecayingBody:
    """``body`` with a final decay that would start inside the warmup (``decay`` 1 with a
    warmup) starting at the warmup's end instead, so that the warmup reaches its top."""
    if body.decay_start >= warmup:
        return body
    return replace(body, decay=(body.steps - warmup) / body.steps)


def make_schedule(
    name: str,
    *,
    steps: int,
    peak: float,
    warmup: int = 0,
    decay: float | None = None,
    shape: str | None = None,
    floor: float | None = None,
    period: int | None = None,
    cycle: int | None = None,
    milestones: Sequence[int] = (),
    factors: Sequence[float] = (),
    power_a: float | None = None,
    power_b: float | None = None,
    batch: float | None = None,
    tokens_per_step: float | None = None,
) -> Schedule:
    """Build a named schedule family from flat options (what the CLI flags give).

    ``decay``, ``shape`` and ``floor`` default per family: WSD decays linearly over the last
    20 % to 0, the power scheduler exponentially over the last 10 % to 1 % of its LR (the
    defaults of :class:`WSD` and :class:`Power`), cosine to 0. A WSD or power decay that
    would start inside the warmup (``decay`` 1 with a warmup) starts at its end instead: the
    warmup rises to the top of the schedule, which it would otherwise never reach.
    """
    decay_option = {} if decay is None else {"decay": decay}
    _check_run(steps, peak, warmup)
    if name == "constant":
        body: Schedule = families.Constant(peak, steps)
    elif name == "cosine":
        body = families.Cosine(peak, steps, final=floor or 0.0, start=warmup, period=period)
    elif name == "wsd":
        body = families.WSD(
            peak, steps, **decay_option, shape=shape or "linear", final=floor or 0.0
        )
        body = decaying_after_warmup(body, warmup)
    elif name == "cyclic":
        cycle = cycle or max((steps - warmup) // 4, 1)
        body = families.CyclicCosine(peak, cycle, final=floor or 0.0, start=warmup, steps=steps)
    elif name == "multistep":
        body = families.MultiStep(peak, tuple(milestones), tuple(factors), steps)
    elif name == "power":
        power = (power_a, power_b, batch, tokens_per_step)
        body = _power_body(steps, peak, decay_option, shape, floor, power)
        body = decaying_after_warmup(body, warmup)
    else:
        raise ParameterError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULE_NAMES)}")
    return with_warmup(body, warmup)


SCHEDULE_NAMES = ("constant", "cosine", "wsd", "cyclic", "multistep", "power")
