"""Learning-rate schedules as values.

A schedule maps 1-based optimiser steps to learning rates, vectorised over a numpy
array of steps. Schedules are frozen dataclasses: they can be evaluated, composed
(:class:`Warmup` in front of a body, :class:`Join` to concatenate segments as in
re-warmup for continual pretraining), printed, and saved to JSON with
:meth:`Schedule.to_dict` / :func:`schedule_from_dict`.

Every schedule that decays does so from ``peak`` towards ``final * peak``, where
``final`` is a fraction of the peak (``final=0.1`` is "decay to 10 %").

A schedule gives the LR each step runs with, warmup included; how a loss law counts the warmup
(at the LR it reaches, or as run) is the law's convention, applied in
:class:`lrcurve.laws.base.LRHistory`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

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
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def __str__(self) -> str:
        args = ", ".join(
            f"{f.name}={_fmt(getattr(self, f.name))}"
            for f in fields(self)  # type: ignore[arg-type]
            if f.repr and not isinstance(getattr(self, f.name), (tuple, np.ndarray))
        )
        return f"{self.kind}({args})"


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


def _check_count(what: str, value: Any, minimum: int, optional: bool = False) -> None:
    """Refuse a number of steps that is not a whole number >= ``minimum`` (``None`` too, unless
    optional)."""
    if value is None and optional:
        return
    whole = (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and float(value).is_integer()
    )
    if not (whole and value >= minimum):
        raise ValueError(f"{what} must be a whole number of steps >= {minimum}, got {value!r}")


def _check_final(final: float) -> None:
    """Refuse a final LR that is not a fraction of the peak in [0, 1] (NaN too)."""
    if not 0.0 <= final <= 1.0:
        raise ValueError(f"final LR fraction must be in [0, 1], got {final}")


def _check_decay(shape: str, decay: float, final: float) -> None:
    if shape not in WSD_SHAPES:
        raise ValueError(f"unknown decay shape {shape!r}; choose from {', '.join(WSD_SHAPES)}")
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay fraction must be in [0, 1], got {decay}")
    _check_final(final)
    if shape == "exp" and final <= 0:
        raise ValueError("an exponential decay needs a final LR fraction > 0")


def decay_factor(progress: NDArray[np.float64], shape: str, final: float) -> NDArray[np.float64]:
    """LR as a fraction of the peak, for decay progress in [0, 1]."""
    if shape == "exp":
        if final <= 0:
            raise ValueError("an exponential decay needs a final LR fraction > 0")
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
        raise ValueError(f"unknown decay shape {shape!r}; choose from {', '.join(WSD_SHAPES)}")
    return final + (1.0 - final) * f


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
        return self.steps - int(round(self.decay * self.steps))

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
            raise ValueError("multistep needs as many factors as milestones")
        for milestone in self.milestones:
            _check_count("multistep schedule: milestone", milestone, 1)
        if list(self.milestones) != sorted(self.milestones):
            raise ValueError("multistep milestones must be increasing")
        bad = [f for f in self.factors if not 0.0 <= f < math.inf]
        if bad:
            raise ValueError(
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
                raise ValueError(
                    f"power schedule: {name} must be positive and finite, got {getattr(self, name)}"
                )
        if not math.isfinite(self.b):
            raise ValueError(f"power schedule: b must be finite, got {self.b}")
        _check_decay(self.shape, self.decay, self.final)

    def _power(self, s: NDArray[np.float64]) -> NDArray[np.float64]:
        """``min(peak, batch * a * n^b)`` after step ``s`` (at least one step: ``n`` > 0 for a
        negative ``b``)."""
        tokens = np.maximum(s, 1.0) * self.tokens_per_step
        return np.minimum(self.peak_lr, self.batch * self.a * tokens**self.b)

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        s = _steps(steps)
        decay_start = self.steps - int(round(self.decay * self.steps))
        progress = np.clip((s - decay_start) / max(self.steps - decay_start, 1), 0.0, 1.0)
        at_decay = self._power(
            np.float64(decay_start)
        )  # a decay over every step starts from the LR of step 1
        return np.where(
            s <= decay_start,
            self._power(s),
            at_decay * decay_factor(progress, self.shape, self.final),
        )

    @property
    def peak(self) -> float:
        """The highest LR reached: the power law is monotone, so at step 1 or where the decay
        starts."""
        decay_start = self.steps - int(round(self.decay * self.steps))
        return float(np.max(self(np.array([1.0, float(max(decay_start, 1))]))))


@dataclass(frozen=True, eq=False)
class Piecewise(Schedule):
    """Linear interpolation of logged ``(step, lr)`` points, held constant outside them.

    ``warmup_steps``: how many of the first steps were warmup (their LRs are the points' own:
    a logged warmup stays as logged)."""

    kind: ClassVar[str] = "piecewise"
    at_steps: tuple[float, ...]
    lrs: tuple[float, ...]
    warmup_steps: int = 0  # type: ignore[assignment]

    def __post_init__(self) -> None:
        _check_count("piecewise schedule: warmup", self.warmup_steps, 0)
        if len(self.at_steps) != len(self.lrs) or not self.at_steps:
            raise ValueError("piecewise schedule needs matching, non-empty steps and LRs")
        if np.any(np.diff(self.at_steps) <= 0):
            raise ValueError("piecewise schedule steps must be strictly increasing")

    def __call__(self, steps: ArrayLike) -> NDArray[np.float64]:
        return np.interp(_steps(steps), self.at_steps, self.lrs)

    @property
    def horizon(self) -> int | None:
        return int(self.at_steps[-1])

    @property
    def peak(self) -> float:
        return float(max(self.lrs))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Piecewise)
            and np.array_equal(self.at_steps, other.at_steps)
            and np.array_equal(self.lrs, other.lrs)
            and self.warmup_steps == other.warmup_steps
        )

    def __hash__(self) -> int:
        return hash((self.at_steps, self.lrs, self.warmup_steps))

    def __str__(self) -> str:
        points = f"{len(self.at_steps)} points, steps {self.at_steps[0]:g}..{self.at_steps[-1]:g}"
        warmup = f", warmup {self.warmup_steps}" if self.warmup_steps else ""
        return f"piecewise({points}{warmup})"


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
            raise ValueError(
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
            raise ValueError("join needs one boundary fewer than segments")
        if any(later <= earlier for earlier, later in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"join boundaries must be increasing, got {list(self.boundaries)}")

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


_KINDS: dict[str, type[Schedule]] = {
    cls.kind: cls
    for cls in (Constant, Cosine, CyclicCosine, WSD, MultiStep, Power, Piecewise, Warmup, Join)
}


# Schedules nest (a warmup around a body, joined segments) a few levels deep; a saved one nested
# deeper than this is damaged, and evaluating it would exhaust the stack.
MAX_NESTING = 64


def schedule_from_dict(data: dict[str, Any], _depth: int = 0) -> Schedule:
    """Inverse of :meth:`Schedule.to_dict`."""
    if _depth > MAX_NESTING:
        raise ValueError(f"schedule nested more than {MAX_NESTING} levels deep")
    data = dict(data)
    kind = data.pop("kind")
    cls = _KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown schedule kind {kind!r}")
    if "body" in data:
        data["body"] = schedule_from_dict(data["body"], _depth + 1)
    if "segments" in data:
        data["segments"] = tuple(schedule_from_dict(d, _depth + 1) for d in data["segments"])
    for key in ("milestones", "factors", "boundaries", "at_steps", "lrs"):
        if key in data:
            data[key] = tuple(data[key])
    return cls(**data)


def with_warmup(body: Schedule, warmup_steps: int) -> Schedule:
    """``body`` with a linear warmup in front, or ``body`` itself when there is none."""
    return Warmup(body, warmup_steps) if warmup_steps > 0 else body


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
    defaults of :class:`WSD` and :class:`Power`), cosine to 0.
    """
    # over 60 lines: one short branch per family, each with its defaults, reads best in one place
    decay_option = {} if decay is None else {"decay": decay}
    _check_count("steps", steps, 1)
    if peak <= 0 or not math.isfinite(peak):
        raise ValueError(f"peak LR must be positive, got {peak}")
    _check_count("warmup", warmup, 0)
    if not warmup < steps:
        raise ValueError(f"warmup ({warmup}) must be in [0, steps)")
    if name == "constant":
        body: Schedule = Constant(peak, steps)
    elif name == "cosine":
        body = Cosine(peak, steps, final=floor or 0.0, start=warmup, period=period)
    elif name == "wsd":
        body = WSD(peak, steps, **decay_option, shape=shape or "linear", final=floor or 0.0)
    elif name == "cyclic":
        body = CyclicCosine(
            peak,
            cycle or max((steps - warmup) // 4, 1),
            final=floor or 0.0,
            start=warmup,
            steps=steps,
        )
    elif name == "multistep":
        body = MultiStep(peak, tuple(milestones), tuple(factors), steps)
    elif name == "power":
        if None in (power_a, power_b, batch, tokens_per_step):
            raise ValueError("the power schedule needs --a, --b, --batch and --tokens-per-step")
        body = Power(
            power_a,
            power_b,
            batch,
            tokens_per_step,
            peak,
            steps,  # type: ignore[arg-type]
            **decay_option,
            shape=shape or Power.shape,
            final=Power.final if floor is None else floor,
        )
    else:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULE_NAMES)}")
    return with_warmup(body, warmup)


SCHEDULE_NAMES = ("constant", "cosine", "wsd", "cyclic", "multistep", "power")
