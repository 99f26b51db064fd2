"""Composition: a :class:`Warmup` in front of a body, :class:`Join` of segments one after
another, and re-warmup for continual pretraining built from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import ParameterError
from lrcurve.schedules.base import WARMUP_SHAPES, Schedule, _check_count, _steps


@dataclass(frozen=True)
class Warmup(Schedule):
    """Warmup from ``init`` to ``body(steps)`` over the first ``steps`` steps.

    ``shape`` is ``linear`` or ``cosine`` (a half-cosine ramp, as PyTorch's
    ``OneCycleLR`` warms up: ``init + (target - init) * (1 - cos(pi * s / steps)) / 2``).
    """

    kind: ClassVar[str] = "warmup"
    body: Schedule
    steps: int
    init: float = 0.0
    shape: str = "linear"

    def __post_init__(self) -> None:
        _check_count("warmup", self.steps, 0)
        if self.shape not in WARMUP_SHAPES:
            raise ParameterError(
                f"unknown warmup shape {self.shape!r}; choose from {', '.join(WARMUP_SHAPES)}"
            )

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        s = _steps(steps)
        if self.steps <= 0:
            return self.body(s)
        # one evaluation of the body, at the steps and at the end of warmup (nested warmups stay
        # linear in depth)
        body = self.body(np.append(s.ravel(), float(self.steps)))
        target, after = body[-1], body[:-1].reshape(s.shape)
        progress = np.clip(s / self.steps, 0.0, 1.0)
        if self.shape == "cosine":
            progress = 0.5 * (1.0 - np.cos(np.pi * progress))
        ramp = self.init + (target - self.init) * progress
        return np.where(s < self.steps, ramp, after)

    @property
    def horizon(self) -> int | None:
        return self.body.horizon

    @property
    def warmup_steps(self) -> int:
        return self.steps

    @property
    def peak(self) -> float:
        return self.body.peak

    def __str__(self) -> str:
        shape = "" if self.shape == "linear" else f", {self.shape}"
        return f"warmup({self.steps}{shape}) -> {self.body}"


@dataclass(frozen=True)
class Join(Schedule):
    """Segments one after another: segment ``i+1`` starts after step ``boundaries[i]``
    and sees steps counted from that boundary (like ``optax.join_schedules``)."""

    kind: ClassVar[str] = "join"
    segments: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        for boundary in self.boundaries:
            _check_count("join boundary", boundary, 0)
        if len(self.segments) != len(self.boundaries) + 1:
            raise ParameterError("join needs one boundary fewer than segments")
        if any(later <= earlier for earlier, later in zip(self.boundaries, self.boundaries[1:])):
            raise ParameterError(f"join boundaries must be increasing, got {list(self.boundaries)}")

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        s = _steps(steps)
        out = self.segments[0](s)
        for boundary, segment in zip(self.boundaries, self.segments[1:]):
            later = s > boundary
            if np.any(later):
                out = np.where(later, segment(s - boundary), out)
        return out

    @property
    def horizon(self) -> int | None:
        last = self.segments[-1].horizon
        return None if last is None else self.boundaries[-1] + last

    @property
    def warmup_steps(self) -> int:
        return self.segments[0].warmup_steps

    @property
    def peak(self) -> float:
        return max(seg.peak for seg in self.segments)

    def __str__(self) -> str:
        parts = [str(self.segments[0])]
        parts += [f"@{b}: {seg}" for b, seg in zip(self.boundaries, self.segments[1:])]
        return " | ".join(parts)


def without_warmup(schedule: Schedule) -> Schedule:
    """``schedule`` without the :class:`Warmup` in front of it (a warmed-up family's body)."""
    return schedule.body if isinstance(schedule, Warmup) else schedule


def rewarmup(base: Schedule, at_step: int, body: Schedule, warmup_steps: int) -> Join:
    """Continual pretraining: run ``base`` to ``at_step``, then warm up again over ``warmup_steps``
    from the LR reached there to ``body``'s LR at the end of the warmup (a :class:`Warmup` in
    front of ``body`` is replaced by this one) and follow ``body`` (steps counted from
    ``at_step``)."""
    start_lr = float(base(np.array([at_step]))[0])
    return Join((base, Warmup(without_warmup(body), warmup_steps, init=start_lr)), (at_step,))


def with_warmup(body: Schedule, warmup_steps: int) -> Schedule:
    """``body`` with a linear warmup in front, or ``body`` itself when there is none."""
    return Warmup(body, warmup_steps) if warmup_steps > 0 else body
