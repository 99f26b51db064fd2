"""Loss laws: each predicts the loss curve from the per-step LR history."""

from __future__ import annotations

from typing import Any

from lrcurve.errors import ParameterError
from lrcurve.laws.base import Law
from lrcurve.laws.forward_momentum import ForwardMomentumLaw
from lrcurve.laws.forward_momentum_size import ForwardMomentumSizeLaw
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.laws.momentum_size import MomentumSizeLaw
from lrcurve.laws.multipower import MultiPowerLaw
from lrcurve.laws.multipower_size import MultiPowerSizeLaw

LAWS: dict[str, type[Law]] = {
    law.name: law
    for law in (
        MomentumLaw,
        MultiPowerLaw,
        ForwardMomentumLaw,
        MomentumSizeLaw,
        MultiPowerSizeLaw,
        ForwardMomentumSizeLaw,
    )
}  # size-aware laws (``Law.size_aware``) after the size-free ones


def law_class(name: str) -> type[Law]:
    """The law called ``name``; ``ParameterError`` for an unknown name."""
    if name not in LAWS:
        raise ParameterError(f"unknown law {name!r}; choose from {', '.join(LAWS)}", param="law")
    return LAWS[name]


def make_law(name: str, **options: Any) -> Law:
    return law_class(name)(**options)  # type: ignore[call-arg]


def forward_area_note(law: Law) -> str:
    """``", S1 = sum eta^p"`` when the law sums a power of the LR, else ``""`` (for titles)."""
    exponent = float(law.options().get("lr_exponent", 1.0))
    return f", S1 = sum eta^{exponent:g}" if exponent != 1.0 else ""


def law_to_dict(law: Law) -> dict[str, Any]:
    return {"name": law.name, **law.options()}


def law_from_dict(data: dict[str, Any]) -> Law:
    """The law ``law_to_dict`` wrote; an option it lacks (written before the law had it) at its
    value then (:attr:`Law.options_before`)."""
    data = dict(data)
    cls = law_class(data.pop("name"))
    return cls(**{**cls.options_before, **data})  # type: ignore[call-arg]
