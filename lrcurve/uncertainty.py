"""Predictive intervals that include the law's own error, learned from the user's own runs.

Today's ``±`` is the delta-method s.e. of the fitted parameters only; on unseen real curves the
final loss lies 1-46 of them away (issue 14). The predictive s.d. here adds a model-discrepancy
term, relative to the loss, to that parameter noise:

    sd(t)^2 = se(t)^2 + (L(t) d(t))^2,
    d(t) = k b max(1, t / T)^a (1 + c_steep ln r_steep) (1 + c_peak m_peak)

- ``b`` (:func:`backtest_scale`): how well the law forecasts the given runs themselves, the RMS
  relative error of the final loss of each fitted run when that run is cut at 50 % and 75 % and
  the law, refitted on the cut run and the other runs, forecasts its tail (never below the fit's
  own RMS relative residual);
- ``t / T``: the step over the longest fitted run (horizon ratio);
- ``r_steep``: how many times steeper the schedule's LR falls (within 256 steps, as a fraction
  of its peak) than the steepest fitted run's, at least 1: how fast the loss answers a sharp
  drop is what a constant and a cosine run pin least (issue 14: short cooldowns err most);
- ``m_peak``: 1 when its peak LR differs from the fitted runs' by over 20 %;
- ``k, a, c_steep, c_peak`` (:class:`Discrepancy`): chosen by leave-one-family-out
  cross-validation over the shared families (``benchmarks/calibration.py``,
  docs/calibration.md), never on a scored curve.

The interval at ``level`` is Gaussian, ``L(t) ± z sd(t)``, centred on the law's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError
from lrcurve.fitted import FittedLaw, steepest_fall
from lrcurve.fitting import fit
from lrcurve.laws.base import LRHistory
from lrcurve.schedules import Schedule

BACKTEST_CUTS = (0.5, 0.75)  # each fitted run is cut at these fractions to forecast its tail
MIN_TAIL_POINTS = 2  # a cut leaving fewer logged points after it is not a backtest
STEEP_FLOOR = 0.01  # a fitted fall below 1 % of the peak per 256 steps counts as 1 % (constant)


@dataclass(frozen=True)
class Discrepancy:
    """How the model discrepancy grows with extrapolation (see the module docstring)."""

    scale: float = 1.5
    horizon_exponent: float = 0.5
    steep_factor: float = 0.0
    peak_factor: float = 0.0


# chosen on all 17 shared families by benchmarks/calibration.py (docs/calibration.md)
DEFAULT = Discrepancy()


@dataclass(frozen=True)
class Extrapolation:
    """How far a prediction leaves the fitted runs: per-step horizon ratio, how many times
    steeper its LR falls than any fitted run's (at least 1), and whether its peak LR differs."""

    horizon_ratio: NDArray[np.float64]
    steepness: float
    peak_flag: int


@dataclass(frozen=True, eq=False)
class Interval:
    """A central predictive interval at ``level`` around ``center``, with its s.d."""

    level: float
    steps: NDArray[np.int64]
    center: NDArray[np.float64]
    sd: NDArray[np.float64]

    @property
    def half_width(self) -> NDArray[np.float64]:
        return z_value(self.level) * self.sd

    @property
    def lower(self) -> NDArray[np.float64]:
        return self.center - self.half_width

    @property
    def upper(self) -> NDArray[np.float64]:
        return self.center + self.half_width


def z_value(level: float) -> float:
    """The Gaussian quantile of a central interval at ``level`` (0.9 -> 1.645)."""
    if not 0 < level < 1:
        raise ParameterError(
            f"the level must lie strictly between 0 and 1, not {level}", param="level"
        )
    return NormalDist().inv_cdf(0.5 + level / 2)


def backtest_errors(
    fitted: FittedLaw, cuts: tuple[float, ...] = BACKTEST_CUTS
) -> NDArray[np.float64]:
    """Relative errors of the forecast final loss of each fitted run, cut at each fraction of
    its steps, by the law refitted on the cut run and the other runs whole."""
    from lrcurve.compare import truncate

    errors = []
    for i, run in enumerate(fitted.runs):
        for cut in cuts:
            head = truncate(run, cut * run.last_step)
            if (run.steps > cut * run.last_step).sum() < MIN_TAIL_POINTS or head.steps.size < 4:
                continue
            runs = [head if j == i else r for j, r in enumerate(fitted.runs)]
            refit = fit(runs, fitted.law, skip_fraction=fitted.skip_fraction)
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


def extrapolation(fitted: FittedLaw, schedule: Schedule, steps: NDArray[np.int64]) -> Extrapolation:
    """The horizon ratio at each of ``steps``, the steepness ratio and peak flag of
    ``schedule``."""
    steps = np.asarray(steps, dtype=np.int64)
    lr = LRHistory.of(schedule, int(steps.max())).held
    _, fitted_steepest = fitted._fitted_lr_regime  # the fitted runs' steepest fall, cached
    fall = steepest_fall(lr, schedule.peak)
    return Extrapolation(
        horizon_ratio=np.maximum(steps / fitted.horizon, 1.0),
        steepness=max(1.0, fall / max(fitted_steepest, STEEP_FLOOR)),
        peak_flag=int(fitted.peak_warning(schedule.peak) is not None),
    )


def discrepancy_sd(
    where: Extrapolation, scale: float, settings: Discrepancy = DEFAULT
) -> NDArray[np.float64]:
    """``d(t)``: the relative s.d. of the law's own error at each step (module docstring)."""
    steep = 1.0 + settings.steep_factor * np.log(where.steepness)
    peak = 1.0 + settings.peak_factor * where.peak_flag
    return settings.scale * scale * where.horizon_ratio**settings.horizon_exponent * steep * peak


def predictive_sd(
    loss: NDArray[np.float64], stderr: NDArray[np.float64] | None, relative: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``sqrt(se^2 + (L d)^2)``: parameter noise and model discrepancy, independent."""
    se = np.zeros_like(loss) if stderr is None else np.nan_to_num(stderr)
    return np.sqrt(se**2 + (loss * relative) ** 2)


def predictive_interval(
    fitted: FittedLaw,
    schedule: Schedule,
    steps: NDArray[np.int64] | None = None,
    *,
    level: float = 0.9,
    settings: Discrepancy = DEFAULT,
    scale: float | None = None,
) -> Interval:
    """The predictive interval of the loss at ``steps`` (default: every step of the schedule's
    horizon) under ``schedule``. ``scale``: :func:`backtest_scale` if already computed (it
    refits the law a few times)."""
    z_value(level)
    n = int(schedule.horizon if steps is None else np.max(steps))
    prediction = fitted.predict(schedule, n)
    at = prediction.steps if steps is None else np.asarray(steps, dtype=np.int64)
    loss = prediction.loss[at - 1]
    stderr = None if prediction.loss_stderr is None else prediction.loss_stderr[at - 1]
    b = backtest_scale(fitted) if scale is None else scale
    relative = discrepancy_sd(extrapolation(fitted, schedule, at), b, settings)
    return Interval(level, at, loss, predictive_sd(loss, stderr, relative))


def with_level(interval: Interval, level: float) -> Interval:
    """The same predictive distribution at another level."""
    z_value(level)
    return replace(interval, level=level)
