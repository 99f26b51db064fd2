"""The schedule families: constant, cosine, cyclic cosine, WSD, multistep, the power scheduler,
and a logged schedule (:class:`Piecewise`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import ParameterError
from lrcurve.schedules.base import (
    Schedule,
    _check_count,
    _check_decay,
    _check_final,
    _decay_start,
    _steps,
    decay_factor,
)


@dataclass(frozen=True)
class Constant(Schedule):
    """``lr(s) = value``."""

    kind: ClassVar[str] = "constant"
    value: float
    steps: int | None = None

    def __post_init__(self) -> None:
        _check_count("constant schedule: steps", self.steps, 1, optional=True)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        return np.full_like(_steps(steps), self.value)

    @property
    def peak(self) -> float:
        return self.value


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay from ``peak`` to ``final*peak`` between ``start`` and ``start+period``.

    ``period`` defaults to ``steps - start`` (one half-cosine over the run); after the
    period the LR stays at the floor.
    """

    kind: ClassVar[str] = "cosine"
    peak_lr: float
    steps: int
    final: float = 0.0
    start: int = 0
    period: int | None = None

    def __post_init__(self) -> None:
        _check_count("cosine schedule: steps", self.steps, 1)
        _check_count("cosine schedule: period", self.period, 1, optional=True)
        _check_final(self.final)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        period = self.period or max(self.steps - self.start, 1)
        progress = np.clip((_steps(steps) - self.start) / period, 0.0, 1.0)
        return self.peak_lr * decay_factor(progress, "cosine", self.final)


@dataclass(frozen=True)
class CyclicCosine(Schedule):
    """Cosine cycles of ``cycle`` steps from ``peak`` to ``final*peak``, restarting each cycle."""

    kind: ClassVar[str] = "cyclic"
    peak_lr: float
    cycle: int
    final: float = 0.0
    start: int = 0
    steps: int | None = None

    def __post_init__(self) -> None:
        _check_count("cyclic schedule: cycle", self.cycle, 1)
        _check_count("cyclic schedule: steps", self.steps, 1, optional=True)
        _check_final(self.final)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        s = np.maximum(_steps(steps) - self.start, 0.0)
        progress = np.where(s > 0, ((s - 1) % self.cycle + 1) / self.cycle, 0.0)
        return self.peak_lr * decay_factor(progress, "cosine", self.final)


@dataclass(frozen=True)
class WSD(Schedule):
    """Warmup-stable-decay body: ``peak`` until the last ``decay`` fraction of ``steps``,
    then a decay of the given shape to ``final*peak``.

    Shapes: ``linear``, ``sqrt`` (1-sqrt), ``cosine``, ``square`` (1-square), ``exp``.
    """

    kind: ClassVar[str] = "wsd"
    peak_lr: float
    steps: int
    decay: float = 0.2
    shape: str = "linear"
    final: float = 0.0

    def __post_init__(self) -> None:
        _check_count("WSD schedule: steps", self.steps, 1)
        _check_decay(self.shape, self.decay, self.final)

    @property
    def decay_start(self) -> int:
        return _decay_start(self.steps, self.decay)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        decay_steps = max(self.steps - self.decay_start, 1)
        progress = np.clip((_steps(steps) - self.decay_start) / decay_steps, 0.0, 1.0)
        return self.peak_lr * decay_factor(progress, self.shape, self.final)


@dataclass(frozen=True)
class MultiStep(Schedule):
    """``peak`` until the first milestone, then ``factors[i]*peak`` from ``milestones[i]`` on."""

    kind: ClassVar[str] = "multistep"
    peak_lr: float
    milestones: tuple[int, ...]
    factors: tuple[float, ...]
    steps: int | None = None

    def __post_init__(self) -> None:
        _check_count("multistep schedule: steps", self.steps, 1, optional=True)
        if len(self.milestones) != len(self.factors):
            raise ParameterError("multistep needs as many factors as milestones")
        for milestone in self.milestones:
            _check_count("multistep schedule: milestone", milestone, 1)
        if list(self.milestones) != sorted(self.milestones):
            raise ParameterError("multistep milestones must be increasing")
        bad = [f for f in self.factors if not 0.0 <= f < math.inf]
        if bad:
            raise ParameterError(
                f"multistep factors multiply peak_lr and must be finite and >= 0, got {bad[0]}"
            )

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        levels = np.concatenate([[1.0], np.asarray(self.factors, dtype=np.float64)])
        index = np.searchsorted(
            np.asarray(self.milestones, dtype=np.float64), _steps(steps), side="right"
        )
        return self.peak_lr * levels[index]

    @property
    def peak(self) -> float:
        """The largest LR: ``peak_lr``, or more after a milestone with a factor above 1."""
        return self.peak_lr * max((1.0, *self.factors))

    def __str__(self) -> str:
        stages = ", ".join(f"{m}:{f:g}" for m, f in zip(self.milestones, self.factors))
        return f"multistep(peak_lr={self.peak_lr:.4g}, {stages})"


@dataclass(frozen=True)
class Power(Schedule):
    """Power scheduler (Shen et al., arXiv 2408.13359).

    ``lr(n) = min(peak, batch * a * n^b)`` with ``n`` the tokens seen after the step
    (``tokens_per_step`` per step) and ``batch`` the batch size (in sequences in the
    paper), then a decay over the last ``decay`` fraction of ``steps`` from the LR reached
    there (shape as in :class:`WSD`, default exponential to ``final`` of it). Warmup, as
    in the paper, is a :class:`Warmup` in front: linear to the power LR at its end.
    """

    kind: ClassVar[str] = "power"
    a: float
    b: float
    batch: float
    tokens_per_step: float
    peak_lr: float
    steps: int
    decay: float = 0.1
    shape: str = "exp"
    final: float = 0.01

    def __post_init__(self) -> None:
        _check_count("power schedule: steps", self.steps, 1)
        for name in ("a", "batch", "tokens_per_step", "peak_lr"):
            if not 0 < getattr(self, name) < math.inf:
                raise ParameterError(
                    f"power schedule: {name} must be positive and finite, got {getattr(self, name)}"
                )
        if not math.isfinite(self.b):
            raise ParameterError(f"power schedule: b must be finite, got {self.b}")
        _check_decay(self.shape, self.decay, self.final)

    @property
    def decay_start(self) -> int:
        return _decay_start(self.steps, self.decay)

    def _power(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        """``min(peak, batch * a * n^b)`` after step ``s`` (at least one step: ``n`` > 0 for a
        negative ``b``)."""
        tokens = np.maximum(s, 1.0) * self.tokens_per_step
        return np.minimum(self.peak_lr, self.batch * self.a * tokens**self.b)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        s = _steps(steps)
        decay_start = self.decay_start
        progress = np.clip((s - decay_start) / max(self.steps - decay_start, 1), 0.0, 1.0)
        # a decay over every step starts from the LR of step 1
        at_decay = self._power(np.float64(decay_start))
        return np.where(
            s <= decay_start,
            self._power(s),
            at_decay * decay_factor(progress, self.shape, self.final),
        )

    @property
    def peak(self) -> float:
        """The highest LR reached: the power law is monotone, so at step 1 or where the decay
        starts."""
        return float(np.max(self(np.array([1.0, float(max(self.decay_start, 1))]))))


@dataclass(frozen=True, eq=False)
class Piecewise(Schedule):
    """Linear interpolation of logged ``(step, lr)`` points, held constant outside them.

    ``warmup_steps``: how many of the first steps were warmup (their LRs are the points' own:
    a logged warmup stays as logged)."""

    kind: ClassVar[str] = "piecewise"
    at_steps: NDArray[np.float64]
    lrs: NDArray[np.float64]
    warmup_steps: int = 0  # type: ignore[assignment]

    def __post_init__(self) -> None:
        # kept as read-only float arrays: a logged LR can have millions of points, which as
        # tuples of Python floats cost 4x the memory and a conversion at every evaluation
        for name in ("at_steps", "lrs"):
            values = np.array(getattr(self, name), dtype=np.float64)
            values.flags.writeable = False
            object.__setattr__(self, name, values)
        _check_count("piecewise schedule: warmup", self.warmup_steps, 0)
        if self.at_steps.shape != self.lrs.shape or self.at_steps.ndim != 1 or not self.lrs.size:
            raise ParameterError("piecewise schedule needs matching, non-empty steps and LRs")
        if np.any(np.diff(self.at_steps) <= 0):
            raise ParameterError("piecewise schedule steps must be strictly increasing")

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        return np.interp(_steps(steps), self.at_steps, self.lrs)

    @property
    def horizon(self) -> int | None:
        return int(self.at_steps[-1])

    @property
    def peak(self) -> float:
        return float(self.lrs.max())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Piecewise)
            and np.array_equal(self.at_steps, other.at_steps)
            and np.array_equal(self.lrs, other.lrs)
            and self.warmup_steps == other.warmup_steps
        )

    def __hash__(self) -> int:
        return hash((self.at_steps.tobytes(), self.lrs.tobytes(), self.warmup_steps))

    def __str__(self) -> str:
        points = f"{len(self.at_steps)} points, steps {self.at_steps[0]:g}..{self.at_steps[-1]:g}"
        warmup = f", warmup {self.warmup_steps}" if self.warmup_steps else ""
        return f"piecewise({points}{warmup})"
