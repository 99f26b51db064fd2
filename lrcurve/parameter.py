"""A fitted parameter: its value, standard error and bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def at_bound(value: float, bound: float) -> bool:
    """``value`` within 1e-6 of a finite ``bound``, relative to the larger of the two and 1 (a
    bound of 0 is reached at 1e-6: L0 = 1e-8 nats is the optimiser stopped at it)."""
    return math.isfinite(bound) and abs(value - bound) <= 1e-6 * max(abs(value), abs(bound), 1.0)


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    stderr: float | None
    lower: float
    upper: float

    @property
    def bound(self) -> str | None:
        """``"lower"`` or ``"upper"`` when the value is at that bound, else None."""
        for side, limit in (("lower", self.lower), ("upper", self.upper)):
            if at_bound(self.value, limit):
                return side
        return None

    @property
    def at_bound(self) -> bool:
        return self.bound is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "lower": self.lower,
            "upper": self.upper,
        }
