"""Differences between schedules predicted by one fit, with intervals that use their correlation.

Two schedules predicted from one fit share most of their error: the same parameters and the
same law error. The difference of their losses is therefore much surer than either loss. For
the losses ``L_i`` of schedules ``i = 1..n`` at one step, the s.d. of ``L_i - L_j`` is

    sd_ij^2 = g_ij' S g_ij + (delta_i - delta_j)^2 + (c (L_i - L_j))^2 + (a L_ij D_ij)^2
              + (e s_ij)^2

- ``g_ij' S g_ij``: the joint delta method, ``g_ij = dL_i/dtheta - dL_j/dtheta`` with the fit's
  parameter covariance ``S`` (what moves both losses together cancels);
- ``delta_i = L_i d_i``: the law's own error of :mod:`lrcurve.uncertainty` (backtests, horizon,
  recent LR falls). It is taken as fully correlated between schedules of one fit and one peak
  LR, so only the gap between how far each extrapolates stays: two schedules of one horizon
  whose LR falls alike share it whole. Between schedules whose peak LRs differ by over 20 %
  (``m_peak``) it is taken as independent, ``delta_i^2 + delta_j^2``: the law's error at
  another peak LR is not its error at this one (the scaling families' 20 % cooldowns against
  cosine runs at twice their peak LR err by 0.1 nats on the difference, docs/decisions.md);
- ``c (L_i - L_j)``: the law misjudges the effect of a schedule change by a fraction ``c`` of
  its size (``c`` = :data:`EFFECT_ERROR`; ``c``, ``a`` and ``q_diff`` below are chosen
  jointly on the measured pairs of the 124M cooldown sweeps and scored by leave-one-peak-LR-out
  cross-validation, ``benchmarks/decisions.py``, docs/decisions.md);
- ``a L_ij D_ij``: the law misjudges an effect also in proportion to how much the schedules
  differ, ``D_ij`` the mean ``|lr_i - lr_j|`` over the run as a fraction of the fitted peak LR
  (in 20 equal segments; ``L_ij`` the pair's mean loss, ``a`` = :data:`DISTANCE_ERROR`). Near
  an optimum two neighbours' losses differ little (to second order) while the law's error on
  their difference is of first order in how far apart they are (where the optimum lies), so
  ``c (L_i - L_j)`` alone would call a 0.0001 difference between neighbours certain;
- ``s_ij``: the s.d. over the ensemble's members of their paired difference ``L_i - L_j`` (each
  member predicts both), only when :attr:`Discrepancy.ensemble_factor` ``e`` is set.

Identical schedules differ by exactly 0 with s.d. 0. Each loss alone keeps the interval of
:func:`~lrcurve.uncertainty.predictive_interval` (its s.d. and ``q(level)``).

The interval of a difference at ``level`` is ``(L_i - L_j) ± q_diff(level) sd_ij``. Like
``q`` of a single loss, ``q_diff`` (:data:`DIFFERENCE_QUANTILES`) is not the Gaussian
quantile: the errors of predicted differences are heavy-tailed in units of ``sd_ij`` (most
pairs are predicted closely, a few short cooldowns widely), so a Gaussian 50 % interval held
34 % of the measured pairs of the 124M sweeps. ``q_diff`` at 50/80/90 % is the split-conformal
quantile (Lei et al. 2018) of ``|error| / sd_ij`` over measured pairs of runs, learned jointly
with ``c`` and ``a`` (``benchmarks/decisions.py``, docs/decisions.md); between those levels
``q / z`` is interpolated (:func:`~lrcurve.uncertainty.interval_factor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ExtrapolationError, ParameterError
from lrcurve.laws.base import LRHistory
from lrcurve.regime import peak_apart
from lrcurve.uncertainty import (
    DEFAULT,
    Discrepancy,
    discrepancy_sd,
    ensemble,
    extrapolation,
    interval_factor,
    law_error,
    predictive_sd,
    z_value,
)

if TYPE_CHECKING:
    from lrcurve.fitted import FittedLaw
    from lrcurve.schedules import Schedule

# c (the relative error of a predicted schedule effect), a and q_diff(level) (the |error| / sd
# quantiles of measured pairs' differences): chosen jointly on the 124M sweeps' pairs
# (benchmarks/decisions.py, docs/decisions.md)
EFFECT_ERROR = 0.9
DISTANCE_ERROR = 0.01  # a, relative loss error per unit of schedule distance D_ij
PROFILE_SEGMENTS = 20  # D_ij compares the mean LR of this many equal parts of the run
DIFFERENCE_QUANTILES: tuple[tuple[float, float], ...] = ((0.5, 0.512), (0.8, 0.641), (0.9, 0.696))


@dataclass(frozen=True)
class Difference:
    """``value`` = loss(a) - loss(b) with its s.d. and central interval at ``level``, of
    half-width ``q_diff(level) sd`` (``quantiles``: ``q_diff`` at its learned levels)."""

    value: float
    sd: float
    level: float
    quantiles: tuple[tuple[float, float], ...] = DIFFERENCE_QUANTILES

    @property
    def half_width(self) -> float:
        return interval_factor(self.level, self.quantiles) * self.sd

    @property
    def lower(self) -> float:
        return self.value - self.half_width

    @property
    def upper(self) -> float:
        return self.value + self.half_width

    @property
    def distinguishable(self) -> bool:
        """The interval excludes 0: at ``level``, the sign of the difference is known."""
        return abs(self.value) > self.half_width

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "value": self.value,
            "sd": self.sd,
            "level": self.level,
            "lower": self.lower,
            "upper": self.upper,
            "distinguishable": self.distinguishable,
        }


@dataclass(frozen=True, eq=False)
class JointPrediction:
    """The losses of several schedules at one ``step`` from one fit, with what their errors
    share (module docstring): ``param_cov`` (n x n, ``None`` without a covariance), the law
    errors ``discrepancy`` (absolute s.d. each) and the members' losses (members x n);
    ``quantiles``: ``q`` of each loss's interval, ``difference_quantiles``: ``q_diff``."""

    level: float
    step: int
    loss: NDArray[np.float64]
    param_cov: NDArray[np.float64] | None
    discrepancy: NDArray[np.float64]
    members: NDArray[np.float64]
    ensemble_factor: float = 0.0
    effect_error: float = EFFECT_ERROR
    quantiles: tuple[tuple[float, float], ...] = DEFAULT.quantiles
    difference_quantiles: tuple[tuple[float, float], ...] = DIFFERENCE_QUANTILES
    peaks: NDArray[np.float64] | None = None  # each schedule's peak LR (None: all alike)
    profiles: NDArray[np.float64] | None = None  # n x PROFILE_SEGMENTS mean LR / fitted peak
    distance_error: float = DISTANCE_ERROR

    @property
    def sd(self) -> NDArray[np.float64]:
        """Each loss's own predictive s.d. (as :func:`~lrcurve.uncertainty.predictive_interval`)."""
        se = None if self.param_cov is None else np.sqrt(np.maximum(np.diag(self.param_cov), 0))
        spread = self._spread(self.members) if self.members.size else 0.0
        relative = self.discrepancy / self.loss
        return predictive_sd(self.loss, se, relative, self.ensemble_factor * spread)

    @property
    def lower(self) -> NDArray[np.float64]:
        return self.loss - interval_factor(self.level, self.quantiles) * self.sd

    @property
    def upper(self) -> NDArray[np.float64]:
        return self.loss + interval_factor(self.level, self.quantiles) * self.sd

    @property
    def difference_factor(self) -> float:
        """``q_diff(level)``: a difference's half-width in units of its s.d."""
        return interval_factor(self.level, self.difference_quantiles)

    def _spread(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """The s.d. over the fit and its members (rows of ``values``, the fit's own first)."""
        return np.nan_to_num(np.std(values, axis=0))

    def _peak_apart(self, j: int) -> NDArray[np.bool_]:
        """Whether each schedule's peak LR differs from ``j``'s as a fitted one would be
        said to (:func:`~lrcurve.regime.peak_apart`): then their law errors are independent."""
        if self.peaks is None:
            return np.zeros(self.loss.size, dtype=bool)
        return np.array([peak_apart(p, self.peaks[j]) for p in self.peaks])

    def differences_to(self, j: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``L_i - L_j`` for every ``i`` and its s.d. (module docstring)."""
        value, law = self.loss - self.loss[j], self.discrepancy
        variance = np.where(self._peak_apart(j), law**2 + law[j] ** 2, (law - law[j]) ** 2)
        variance += (self.effect_error * value) ** 2
        if self.profiles is not None:
            distance = np.mean(np.abs(self.profiles - self.profiles[j]), axis=1)
            variance += (self.distance_error * (self.loss + self.loss[j]) / 2 * distance) ** 2
        if self.param_cov is not None:
            cov = self.param_cov
            variance += np.diag(cov) + cov[j, j] - 2 * cov[:, j]
        if self.members.size and self.ensemble_factor:
            paired = self.members - self.members[:, [j]]
            variance += (self.ensemble_factor * self._spread(paired)) ** 2
        return value, np.sqrt(np.maximum(variance, 0.0))

    def difference(self, i: int, j: int) -> Difference:
        """``L_i - L_j`` with its interval at ``level``."""
        value, sd = self.differences_to(j)
        return Difference(float(value[i]), float(sd[i]), self.level, self.difference_quantiles)

    def tie_set(self, best: int | None = None) -> NDArray[np.int64]:
        """The schedules whose difference to ``best`` (default: the lowest loss) is not
        distinguishable from 0 at ``level``; ``best`` among them, lowest loss first."""
        best = int(np.argmin(self.loss)) if best is None else best
        value, sd = self.differences_to(best)
        tied = np.flatnonzero(np.abs(value) <= self.difference_factor * sd)
        return tied[np.argsort(self.loss[tied], kind="stable")]


def _per_schedule(
    fitted: FittedLaw,
    schedules: Sequence[Schedule],
    step: int,
    settings: Discrepancy,
    model_size: float | None = None,
) -> tuple[NDArray[np.float64] | None, NDArray[np.float64], NDArray[np.float64]]:
    """Each schedule's ``dL/dtheta`` at ``step`` (schedules x parameters; ``None`` without a
    finite covariance), relative law error ``d`` and LR profile (mean LR over the fitted peak
    in :data:`PROFILE_SEGMENTS` parts of ``[1, step]``): one LR history at a time (memory)."""
    at = np.array([step], dtype=np.int64)
    law, theta, b = fitted.law, fitted.values, law_error(fitted)
    cov = fitted.covariance
    with_cov = cov is not None and bool(np.all(np.isfinite(cov)))
    grads, relative, profiles = [], [], []
    for schedule in schedules:
        history = LRHistory.of(schedule, step, fitted.target_size(model_size))
        if with_cov:
            with np.errstate(all="ignore"):
                grads.append(law.derivatives(theta, law.prepare(history, at))[0])
        where = extrapolation(fitted, schedule, at, history.held, model_size)
        relative.append(discrepancy_sd(where, b, settings)[0])
        parts = np.array_split(history.held[:step] / fitted.peak_lr, PROFILE_SEGMENTS)
        profiles.append([part.mean() if part.size else 0.0 for part in parts])
    grads_or_none = np.nan_to_num(np.array(grads)) if with_cov else None
    return grads_or_none, np.array(relative), np.array(profiles)


def _member_losses(
    fitted: FittedLaw,
    members: Sequence[FittedLaw],
    schedules: Sequence[Schedule],
    step: int,
    model_size: float | None = None,
) -> NDArray[np.float64]:
    """The fit's and each member's losses (rows) for every schedule; a member that cannot
    predict one of them is left out (its paired differences would be missing)."""
    at = np.array([step], dtype=np.int64)
    rows = []
    for model in (fitted, *members):
        try:
            rows.append([float(model.curve(s, at, model_size=model_size)[0]) for s in schedules])
        except ExtrapolationError:
            continue
    return np.array(rows)


def joint_prediction(
    fitted: FittedLaw,
    schedules: Sequence[Schedule],
    step: int,
    *,
    level: float = 0.9,
    settings: Discrepancy = DEFAULT,
    members: Sequence[FittedLaw] | None = None,
    effect_error: float = EFFECT_ERROR,
    distance_error: float = DISTANCE_ERROR,
    difference_quantiles: tuple[tuple[float, float], ...] = DIFFERENCE_QUANTILES,
    loss: NDArray[np.float64] | None = None,
    model_size: float | None = None,
) -> JointPrediction:
    """The losses of ``schedules`` at ``step`` with their joint errors (module docstring).
    ``members``: :func:`~lrcurve.uncertainty.ensemble` if already computed (used only when
    ``settings.ensemble_factor`` is set); ``effect_error``, ``distance_error``,
    ``difference_quantiles``: ``c``, ``a`` and ``q_diff`` (module docstring); ``loss``: the
    losses, if already predicted; ``model_size``: the parameter count N predicted for (a
    size-aware fit needs it)."""
    z_value(level)
    if not schedules:
        raise ParameterError("no schedules to predict", param="schedules")
    if step < 1:
        raise ParameterError(f"the step must be at least 1, not {step}", param="step")
    at = np.array([step], dtype=np.int64)
    if loss is None:
        loss = np.array([float(fitted.curve(s, at, model_size=model_size)[0]) for s in schedules])
    grads, relative, profiles = _per_schedule(fitted, schedules, step, settings, model_size)
    param_cov = None if grads is None else grads @ fitted.covariance @ grads.T
    spread = np.empty((0, len(schedules)))
    if settings.ensemble_factor:
        members = ensemble(fitted) if members is None else members
        spread = _member_losses(fitted, members, schedules, step, model_size)
    return JointPrediction(
        level,
        step,
        loss,
        param_cov,
        loss * relative,
        spread,
        settings.ensemble_factor,
        effect_error,
        settings.quantiles,
        difference_quantiles,
        np.array([s.peak for s in schedules]),
        profiles,
        distance_error,
    )


def difference_interval(
    fitted: FittedLaw,
    schedule_a: Schedule,
    schedule_b: Schedule,
    n_steps: int | None = None,
    level: float = 0.9,
) -> Difference:
    """loss(a) - loss(b) at step ``n_steps`` (default: the shorter schedule's horizon) with
    its interval at ``level``, the correlation of the two predictions included."""
    if n_steps is None:
        horizons = [s.horizon for s in (schedule_a, schedule_b) if s.horizon is not None]
        if not horizons:
            raise ParameterError("the schedules have no horizon; give the step", param="n_steps")
        n_steps = min(horizons)
    return joint_prediction(fitted, [schedule_a, schedule_b], n_steps, level=level).difference(0, 1)
