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
        span = max(abs(self.value), 1e-12)
        return bool(
            abs(self.value - self.lower) <= 1e-6 * span
            or abs(self.value - self.upper) <= 1e-6 * span
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "lower": self.lower,
            "upper": self.upper,
        }
