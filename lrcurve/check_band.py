"""The band ``lrcurve check`` judges a window against by default: the predictive interval of the
run's own schedule widened by the run's logging noise.

A window of ``n`` logged points with mean relative deviation ``d`` from the prediction is inside
the band while ``|d| <= q sqrt((k s_law)^2 + (m s_noise)^2)``, with

- ``s_law``: the mean over the window's points of the predictive s.d. relative to the loss,
  ``sd(t) / L(t)`` (:mod:`lrcurve.uncertainty`: the law's own error, learned from backtests on
  the fitted runs and growing with extrapolation, and the parameters' noise). The law's error
  is one smooth offset over a window, so it does not average out: the mean, not ``/ sqrt(n)``;
- ``s_noise = sigma / sqrt(n)``: the logging noise of the window's mean, ``sigma`` the scatter
  of the run's own deviations about their smooth course, estimated robustly from successive
  differences, ``sigma = 1.4826 median |d_(i+1) - d_i| / sqrt(2)`` (the differences cancel the
  slowly varying law error and leave twice the noise variance; von Neumann 1941);
- ``m`` (:data:`NOISE_FACTOR`, at least 1): how many times that estimate the window's noise
  is, as logged losses are often averaged over the logging interval and so correlated;
- ``k`` (:data:`LAW_FACTOR`): how much wider than the interval of one point the band of a run
  judged over all its windows at once must be (a run fails on any of them, so ``k = 1`` fails
  many healthy runs: docs/check-gate.md). ``k`` and ``m`` are
  chosen across the shared families, leaving each out in turn (``benchmarks/check_gate.py``,
  docs/check-gate.md), never on a scored run;
- ``q``: the multiple of the s.d. that makes the central predictive interval at ``level``
  (:func:`lrcurve.uncertainty.interval_factor`, learned across the shared families).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.fitted_history import logging_noise
from lrcurve.uncertainty import interval_factor

if TYPE_CHECKING:
    from lrcurve.fitted import FittedLaw
    from lrcurve.prediction import Prediction
    from lrcurve.runs import Run

NOISE_FACTOR = 8.0  # m: chosen on all shared families by benchmarks/check_gate.py
LAW_FACTOR = 1.75  # k: chosen with m (docs/check-gate.md)
DEFAULT_LEVEL = 0.9


@dataclass(frozen=True)
class WindowSpread:
    """The two relative s.d. that make a window's band (module docstring)."""

    law: float
    noise: float

    def half_width(
        self, level: float, noise_factor: float = NOISE_FACTOR, law_factor: float = LAW_FACTOR
    ) -> float:
        """``q sqrt((k s_law)^2 + (m s_noise)^2)``."""
        spread = np.hypot(law_factor * self.law, noise_factor * self.noise)
        return interval_factor(level) * float(spread)


def window_spreads(
    parts: list[NDArray[np.int64]], relative_sd: NDArray[np.float64], sigma: float
) -> list[WindowSpread]:
    """Each window's (``parts``: indices of its points) law and noise s.d., from the relative
    predictive s.d. at every point and the run's logging noise ``sigma``."""
    return [
        WindowSpread(float(np.mean(relative_sd[p])), float(sigma / np.sqrt(p.size))) for p in parts
    ]


@dataclass(frozen=True)
class Window:
    """Consecutive logged points, their mean relative deviation from the prediction, the band
    ``[lower, upper]`` it is judged against, and whether it fails the run (``failed``: outside
    the band on a side the check's direction guards)."""

    start: int
    end: int
    points: int
    deviation: float
    lower: float
    upper: float
    failed: bool
    spread: WindowSpread | None = None  # the predictive band's parts (None: a fixed tolerance)

    @property
    def in_band(self) -> bool:
        return self.lower <= self.deviation <= self.upper

    @property
    def side(self) -> str:
        """``above`` or ``below`` the band, or ``inside``."""
        if self.in_band:
            return "inside"
        return "above" if self.deviation > self.upper else "below"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "points": self.points,
            "deviation": self.deviation,
            "lower": self.lower,
            "upper": self.upper,
            "in_band": self.in_band,
            "side": self.side,
            "failed": self.failed,
            "law_sd": None if self.spread is None else self.spread.law,
            "noise_sd": None if self.spread is None else self.spread.noise,
        }


def judge(deviation: float, tolerance: float, direction: str) -> tuple[float, float, bool]:
    """The band ``(lower, upper)`` and whether ``deviation`` fails it in ``direction``."""
    lower, upper = -tolerance, tolerance
    above, below = deviation > upper, deviation < lower
    failed = {"worse": above, "better": below, "both": above or below}[direction]
    return lower, upper, bool(failed)


@dataclass(frozen=True)
class Band:
    """What a window is judged against: a fixed ``tolerance``, or else the predictive band at
    ``level`` from the relative predictive s.d. at each point and the run's logging noise
    ``sigma``, widened by ``noise_factor`` (:mod:`lrcurve.check_band`)."""

    tolerance: float | None
    level: float = DEFAULT_LEVEL
    relative_sd: NDArray[np.float64] | None = None
    sigma: float = 0.0
    noise_factor: float = NOISE_FACTOR
    law_factor: float = LAW_FACTOR


def cut_windows(
    steps: NDArray[np.int64], deviation: NDArray[np.float64], count: int, band: Band, direction: str
) -> tuple[Window, ...]:
    """``deviation`` cut into ``count`` windows of consecutive points, each judged."""
    if not steps.size:
        return ()
    parts = np.array_split(np.arange(steps.size), min(count, steps.size))
    starts = np.array([p[0] for p in parts])
    counts = np.array([p.size for p in parts])
    means = np.add.reduceat(deviation, starts) / counts
    spreads: list[WindowSpread | None] = [None] * len(parts)
    if band.tolerance is None:
        assert band.relative_sd is not None
        spreads = list(window_spreads(parts, band.relative_sd, band.sigma))
    out = []
    for p, m, spread in zip(parts, means, spreads):
        half = (
            band.tolerance
            if spread is None
            else spread.half_width(band.level, band.noise_factor, band.law_factor)
        )
        lower, upper, failed = judge(float(m), half, direction)
        out.append(
            Window(int(steps[p[0]]), int(steps[p[-1]]), int(p.size), float(m), lower, upper,
                   failed, spread)
        )  # fmt: skip
    return tuple(out)


def complete_band(
    fitted: FittedLaw,
    run: Run,
    steps: NDArray[np.int64],
    raw: NDArray[np.float64],
    settings: Band,
    reference: Prediction | None,
) -> Band:
    """``settings`` completed with the relative predictive s.d. at ``steps`` (from
    ``reference``, ``fitted``'s prediction for the run's schedule, computed when not given)
    and the logging noise of the raw deviations ``raw``; a fixed tolerance as it is."""
    if settings.tolerance is not None or not steps.size:
        return replace(settings, relative_sd=np.zeros(steps.size))
    if reference is None or reference.sd is None or reference.steps.size < steps[-1]:
        reference = fitted.predict(
            run.schedule, int(steps[-1]), level=settings.level, model_size=run.model_size
        )
    assert reference.sd is not None
    relative = reference.sd[steps - 1] / reference.loss[steps - 1]
    return replace(settings, relative_sd=relative, sigma=logging_noise(raw))
