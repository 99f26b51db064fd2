"""A size-aware fit seen at one model size: the size-free fit it makes there.

At a size ``N`` a size-aware law is its size-free law with some parameters set by ``N`` (the
momentum-size law: ``L0 + B n^-beta`` and ``C n^gamma``; :meth:`Law.at_size`). Whatever
works on a size-free fit (``optimize``'s fast paths, the schedule search) then works at
``N``, the covariance carried over by the delta method (``J cov J^T``, ``J`` the derivative
of the size-free parameters in the size-aware ones).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from lrcurve.fitted import FittedLaw, Parameter
from lrcurve.sizes import refuse_size_free, target_size
from lrcurve.uncertainty import share_residuals

CENTRAL_STEP = float(np.finfo(np.float64).eps ** (1 / 3))  # the usual central-difference step


def _jacobian(fitted: FittedLaw, size: float) -> NDArray[np.float64]:
    """``d at_size(theta) / d theta`` by central differences, stepping ``eps^(1/3)`` of
    ``max(|theta|, 1)`` (a step relative to the value alone gave ``L0`` at its bound of 0 a
    derivative of rounding noise, as in :meth:`lrcurve.laws.base.Law.derivatives`)."""
    theta = fitted.values
    columns = []
    for i, value in enumerate(theta):
        h = CENTRAL_STEP * max(abs(value), 1.0)
        up, down = theta.copy(), theta.copy()
        up[i], down[i] = value + h, value - h
        columns.append(
            (fitted.law.at_size(up, size)[1] - fitted.law.at_size(down, size)[1]) / (2 * h)
        )
    return np.column_stack(columns)


def fitted_at_size(fitted: FittedLaw, model_size: float | None) -> FittedLaw:
    """``fitted`` at ``model_size``: a size-aware fit as the size-free fit it makes there (its
    size refused if missing), a size-free fit as it is (another size than fitted refused)."""
    if not fitted.law.size_aware:
        refuse_size_free(fitted.law, fitted.sizes, model_size)
        return fitted
    size = target_size(fitted.law, model_size)
    assert size is not None
    law, theta = fitted.law.at_size(fitted.values, size)
    covariance = None
    if fitted.covariance is not None:
        jac = _jacobian(fitted, size)
        covariance = jac @ fitted.covariance @ jac.T
    lo, hi = law.bounds()
    theta = np.clip(theta, lo, hi)
    stderr = np.full(len(theta), np.nan) if covariance is None else np.sqrt(np.diag(covariance))
    params = tuple(
        Parameter(name, float(v), float(e) if np.isfinite(e) else None, float(a), float(b))
        for name, v, e, a, b in zip(law.param_names, theta, stderr, lo, hi)
    )
    sized = replace(
        fitted,
        law=law,
        params=params,
        covariance=covariance,
        held=tuple(name for name in fitted.held if name in law.param_names),
        at_size=size,
        sized_from=fitted,
    )
    share_residuals(sized, fitted)  # its runs are of other sizes than the one it predicts
    return sized
