"""The points a fit uses: after the warmup and the first ``skip_fraction`` of a run, thinned
evenly when a log holds more of them than a smooth law can use."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from lrcurve.runs import Run

DEFAULT_SKIP = 0.05


MAX_FIT_POINTS = 20_000  # per run; a smooth law gains nothing from more, and memory grows with them


def fit_window(run: Run, skip_fraction: float) -> NDArray[np.bool_]:
    """The points a fit uses: after warmup and after the first ``skip_fraction`` of the run."""
    return (run.steps > run.warmup_steps) & (run.steps >= skip_fraction * run.last_step)


def fit_points(run: Run, skip_fraction: float, limit: int = MAX_FIT_POINTS) -> NDArray[np.int64]:
    """The indices of the points a fit uses: the :func:`fit_window`, thinned to at most
    ``limit`` points evenly spread over it (its first and last point kept) when it has more.
    A log of every step of a million-step run would otherwise cost the fit gigabytes."""
    index = np.flatnonzero(fit_window(run, skip_fraction))
    if index.size <= limit:
        return index
    return index[np.unique(np.linspace(0, index.size - 1, limit).round().astype(np.int64))]
