"""Backtests: how well a law forecasts the tails of the very runs it was fitted to.

Each fitted run is cut at several fractions of its steps; the law, refitted on the cut run and
the other runs whole (warm-started from the fit), forecasts the run's final loss. The RMS of
those relative errors, ``b`` (:func:`backtest_scale`), is the scale of the law's own error that
the predictive intervals of :mod:`lrcurve.uncertainty` grow from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import InputError

if TYPE_CHECKING:
    from lrcurve.fitted import FittedLaw

BACKTEST_CUTS = (0.4, 0.5, 0.6, 0.7, 0.8)  # each fitted run is cut here to forecast its tail
MIN_TAIL_POINTS = 2  # a cut leaving fewer logged points after it is not a backtest


def backtest_errors(
    fitted: FittedLaw, cuts: tuple[float, ...] = BACKTEST_CUTS
) -> NDArray[np.float64]:
    """Relative errors of the forecast final loss of each fitted run, cut at each fraction of
    its steps, by the law refitted on the cut run and the other runs whole."""
    from lrcurve.fitting import fit
    from lrcurve.runs import truncate

    errors = []
    for i, run in enumerate(fitted.runs):
        for cut in cuts:
            head = truncate(run, cut * run.last_step)
            if (run.steps > cut * run.last_step).sum() < MIN_TAIL_POINTS or head.steps.size < 4:
                continue
            runs = [head if j == i else r for j, r in enumerate(fitted.runs)]
            try:
                refit = fit(
                    runs,
                    fitted.law,
                    skip_fraction=fitted.skip_fraction,
                    start=fitted.values,
                    backtest=False,
                )
            except InputError:  # too few points left in the cut run's fit window
                continue
            forecast = float(refit.predict_run(run)[-1])
            errors.append(forecast / float(run.loss[-1]) - 1.0)
    return np.asarray(errors, dtype=np.float64)


def residual_rms(fitted: FittedLaw) -> float:
    """The fit's RMS relative residual (0 when the fit did not record it)."""
    if not fitted.n_fit_points or fitted.fit_rss is None:
        return 0.0
    return float(np.sqrt(fitted.fit_rss / fitted.n_fit_points))


def backtest_scale(fitted: FittedLaw, cuts: tuple[float, ...] = BACKTEST_CUTS) -> float:
    """``b``: RMS relative backtest error of the law on its own runs, at least its residual RMS."""
    errors = backtest_errors(fitted, cuts)
    rms = float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0
    return max(rms, residual_rms(fitted))
