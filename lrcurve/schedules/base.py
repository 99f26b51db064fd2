"""The :class:`Schedule` base class, the argument checks every family shares, and the decay
shapes (``decay_factor``) that WSD, cosine and the power scheduler decay along."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import ParameterError
from lrcurve.values import is_number

WSD_SHAPES = ("linear", "sqrt", "cosine", "square", "exp")
WARMUP_SHAPES = ("linear", "cosine")


def _steps(steps: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(steps, dtype=np.float64)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class Schedule:
    """Base class: a pure function from 1-based steps to learning rates."""

    kind: ClassVar[str] = "schedule"

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        raise NotImplementedError

    def per_step(self, n_steps: int) -> NDArray[np.float64]:
        """The LR at steps ``1..n_steps``."""
        return self(np.arange(1, n_steps + 1))

    @property
    def horizon(self) -> int | None:
        """The planned number of steps, where the schedule has one."""
        return getattr(self, "steps", None)

    @property
    def warmup_steps(self) -> int:
        return 0

    @property
    def peak(self) -> float:
        """The largest LR the schedule reaches."""
        return float(self.peak_lr)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Schedule):
                value = value.to_dict()
            elif isinstance(value, tuple) and value and isinstance(value[0], Schedule):
                value = [v.to_dict() for v in value]
            elif isinstance(value, (tuple, np.ndarray)):
                value = list(value) if isinstance(value, tuple) else value.tolist()
            out[f.name] = value
        return out

    def __str__(self) -> str:
        args = ", ".join(
            f"{f.name}={_fmt(getattr(self, f.name))}"
            for f in fields(self)  # type: ignore[arg-type]
            if f.repr and not isinstance(getattr(self, f.name), (tuple, np.ndarray))
        )
        return f"{self.kind}({args})"


def _check_count(what: str, value: Any, minimum: int, optional: bool = False) -> None:
    """Refuse a number of steps that is not a whole number >= ``minimum`` (``None`` too, unless
    optional)."""
    if value is None and optional:
        return
    whole = (is_number(value) or isinstance(value, (np.integer, np.floating))) and float(
        value
    ).is_integer()
    if not (whole and value >= minimum):
        raise ParameterError(f"{what} must be a whole number of steps >= {minimum}, got {value!r}")


def _check_final(final: float) -> None:
    """Refuse a final LR that is not a fraction of the peak in [0, 1] (NaN too)."""
    if not 0.0 <= final <= 1.0:
        raise ParameterError(f"final LR fraction must be in [0, 1], got {final}")


def _check_decay(shape: str, decay: float, final: float) -> None:
    if shape not in WSD_SHAPES:
        raise ParameterError(f"unknown decay shape {shape!r}; choose from {', '.join(WSD_SHAPES)}")
    if not 0.0 <= decay <= 1.0:
        raise ParameterError(f"decay fraction must be in [0, 1], got {decay}")
    _check_final(final)
    if shape == "exp" and final <= 0:
        raise ParameterError("an exponential decay needs a final LR fraction > 0")


def _decay_start(steps: int, decay: float) -> int:
    """The last step before a final decay over the last ``decay`` fraction of ``steps``."""
    return steps - int(round(decay * steps))


def decay_factor(progress: NDArray[np.float64], shape: str, final: float) -> NDArray[np.float64]:
    """LR as a fraction of the peak, for decay progress in [0, 1]."""
    if shape == "exp":
        if final <= 0:
            raise ParameterError("an exponential decay needs a final LR fraction > 0")
        return final**progress
    if shape == "linear":
        f = 1.0 - progress
    elif shape == "sqrt":
        f = 1.0 - np.sqrt(progress)
    elif shape == "cosine":
        f = 0.5 * (1.0 + np.cos(np.pi * progress))
    elif shape == "square":
        f = 1.0 - progress**2
    else:
        raise ParameterError(f"unknown decay shape {shape!r}; choose from {', '.join(WSD_SHAPES)}")
    return final + (1.0 - final) * f
