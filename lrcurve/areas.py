"""Learning-rate areas: the two statistics of a schedule that the momentum law needs.

Tissue et al., *Scaling Law with Learning Rate Annealing* (arXiv 2408.11029):

* forward area  ``S1(s) = sum_{i<=s} eta_i``
* annealing area ``S2(s) = sum_{i<=s} m_i`` with
  ``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)`` and ``m_0 = 0``.

``eta`` is the per-step LR (index 0 is step 1). The first step has no predecessor,
so it contributes no drop. A rising LR (re-warmup) makes the drop negative and
so lowers ``S2``. Both are O(n): a cumulative sum and a first-order linear filter.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter


def forward_area(lr: ArrayLike) -> NDArray[np.float64]:
    """``S1``: the cumulative sum of the per-step LR."""
    return np.cumsum(np.asarray(lr, dtype=np.float64))


def lr_drops(lr: ArrayLike) -> NDArray[np.float64]:
    """``eta_{i-1} - eta_i`` per step, zero at the first step."""
    eta = np.asarray(lr, dtype=np.float64)
    drops = np.empty_like(eta)
    if eta.size:
        drops[0] = 0.0
        np.subtract(eta[:-1], eta[1:], out=drops[1:])
    return drops


def annealing_momentum(lr: ArrayLike, lam: float) -> NDArray[np.float64]:
    """``m_i = lam * m_{i-1} + (eta_{i-1} - eta_i)``, as a linear filter."""
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"decay factor lam must be in [0, 1), got {lam}")
    return lfilter([1.0], [1.0, -lam], lr_drops(lr))


def annealing_area(lr: ArrayLike, lam: float) -> NDArray[np.float64]:
    """``S2``: the cumulative sum of the annealing momentum."""
    return np.cumsum(annealing_momentum(lr, lam))
