"""Where a prediction leaves the regime its fit saw: a longer horizon, another peak LR, an LR
lower or falling faster than in any fitted run (the things a constant and a cosine run do not
pin; docs/accuracy.md). Each is said as a pair: a few words (the CLI's one line) and the detail
(``--json``'s warnings). The predictive interval widens for them (:mod:`lrcurve.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from lrcurve.laws.base import LRHistory
from lrcurve.runs import Run
from lrcurve.uncertainty import steepest_fall

DROP_WINDOW = 256  # steps over which the steepest LR fall of a schedule is measured
STEEP_FACTOR = 2.0  # a fall this many times steeper than any fitted run's is out of regime
STEEP_MINIMUM = 0.05  # ... and at least this fraction of the peak
LOW_FACTOR = 0.5  # an LR below this fraction of the fitted runs' lowest is out of regime
LOW_GAP = 0.01  # of the peak: a decay to 0 where a fitted run's last step is at 2e-6 is none lower
PEAK_FACTOR = 1.2  # a peak LR beyond this factor of the fitted one (either way) is out of regime

Said = tuple[str, str]  # (a few words, the detail)


def horizon_said(n_steps: int, horizon: int) -> Said | None:
    """Said when ``n_steps`` is well beyond the longest fitted run (``horizon`` steps)."""
    if n_steps > 1.5 * horizon:
        ratio = n_steps / horizon
        return (
            f"{ratio:.1f}x the fitted horizon",
            f"{n_steps} steps is {ratio:.1f}x the longest fitted run; the law extrapolates",
        )
    return None


def peak_apart(peak: float, fitted_peak: float) -> bool:
    """Is ``peak`` another peak LR than ``fitted_peak`` (beyond :data:`PEAK_FACTOR` either way)?"""
    return not fitted_peak / PEAK_FACTOR <= peak <= PEAK_FACTOR * fitted_peak


def peak_said(peak: float, fitted_peak: float) -> Said | None:
    """Said when a peak LR is not the one the runs were fitted at (:func:`peak_apart`)."""
    if peak_apart(peak, fitted_peak):
        return (
            f"peak LR {peak:g}, fitted at {fitted_peak:g}",
            f"peak LR {peak:g} differs from the fitted runs' {fitted_peak:g} (the nearest); "
            "the law extrapolates in peak LR",
        )
    return None


def nearest_peak_said(peak: float, fitted_peaks: Iterable[float]) -> Said | None:
    """:func:`peak_said` against the nearest of ``fitted_peaks`` (runs fitted at two peak LRs
    have seen both)."""
    nearest = min(set(fitted_peaks), key=lambda p: abs(np.log(peak / p)))
    return peak_said(peak, nearest)


def lr_regime(runs: Sequence[Run]) -> tuple[float, float]:
    """The runs' lowest LR after warmup and steepest LR fall (fraction of the peak)."""
    histories = [LRHistory.of(r.schedule, r.last_step).held for r in runs]
    return (
        min(float(h.min()) for h in histories),
        max(steepest_fall(h, r.peak_lr, DROP_WINDOW) for h, r in zip(histories, runs)),
    )


def decay_said(lr: NDArray[np.float64], peak: float, lowest: float, steepest: float) -> list[Said]:
    """Said when a per-step ``lr`` (warmup held) of peak ``peak`` falls lower or faster than
    the fitted runs' ``lowest`` and ``steepest`` (:func:`lr_regime`)."""
    said = []
    if lr.size and float(lr.min()) < LOW_FACTOR * lowest - LOW_GAP * peak:
        said.append(
            (
                f"LR falls to {float(lr.min()):.2g}",
                f"the LR falls to {float(lr.min()):.3g}, below half the fitted runs' lowest "
                f"({lowest:.3g}); the loss gained from the end of the decay is extrapolated",
            )
        )
    fall = steepest_fall(lr, peak, DROP_WINDOW)
    if fall > max(STEEP_FACTOR * steepest, STEEP_MINIMUM):
        said.append(
            (
                "a steeper fall than fitted",
                f"the LR falls by {fall:.0%} of its peak within {DROP_WINDOW} steps, faster "
                f"than in any fitted run ({steepest:.0%}); how fast the loss answers a sharp "
                "drop is extrapolated",
            )
        )
    return said


def below_zero_said(
    loss: NDArray[np.float64],
    half: NDArray[np.float64],
    level: float,
    unpinned: Sequence[str],
    where: str | None = None,
) -> list[Said]:
    """Said when the interval ``loss ± half`` reaches below 0, none for a loss: the parameters'
    noise of a fit that does not pin ``unpinned`` (runs that confound two of them). ``where``:
    which losses, in words (default: from which step)."""
    below = np.flatnonzero(loss - half <= 0)
    if not below.size:
        return []
    names = ", ".join(unpinned) or "some parameters"
    where = f"from step {below[0] + 1}" if where is None else where
    return [
        (
            "the interval reaches below 0",
            f"the {100 * level:.4g} % interval reaches below 0 {where}: "
            f"the fit does not pin {names} (s.e. above the value), so the interval says "
            "nothing there; fit runs that tell them apart",
        )
    ]
