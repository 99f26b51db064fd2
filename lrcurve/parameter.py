"""A fitted parameter: its value, standard error and bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    stderr: float | None
    lower: float
    upper: float

    @property
    def at_bound(self) -> bool:
        """At a bound to 1e-6 of its value, or (a bound of 0, say) nearer it than 1e-3 of its
        s.e.: indistinguishable from the bound."""
        tolerance = max(1e-6 * max(abs(self.value), 1e-12), 1e-3 * (self.stderr or 0.0))
        return bool(
            abs(self.value - self.lower) <= tolerance or abs(self.value - self.upper) <= tolerance
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "lower": self.lower,
            "upper": self.upper,
        }
