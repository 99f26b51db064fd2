"""Predictive intervals that include the law's own error, learned from the user's own runs.

The delta-method s.e. of the fitted parameters alone is far narrower than the law's real error
on unseen curves (docs/calibration.md). The predictive s.d. here adds a model-discrepancy term,
relative to the loss, to that parameter noise:

    sd(t)^2 = (w(t) se(t))^2 + (L(t) d(t))^2 + (e s(t))^2,
    d(t)^2 = (k b max(1, t / T)^a (1 + c_peak m_peak) max(u(t), u0)^g w(t))^2
             + (c_steep ln r_steep(t))^2 + f(t)^2 + (c_size ln r_size)^2 + (n sigma_fit)^2,
    w(t) = max(w0, min(1, h(t) / h0))

- ``b`` (:func:`lrcurve.backtest.backtest_scale`): how well the law forecasts the given runs
  themselves, the RMS relative error of the final loss of each fitted run when that run is
  cut at 40-80 % and the law, refitted on the cut run and the other runs, forecasts its tail
  (never below the fit's own RMS relative residual);
- ``t / T``: the step over the longest fitted run (horizon ratio); of a fit of several sizes,
  the longest fitted run of the fitted size nearest the one predicted
  (:meth:`~lrcurve.fitted.FittedLaw.horizon_at`);
- ``r_steep(t)``: how many times more the LR fell over the ``W`` steps before ``t`` (as a
  fraction of its peak) than it ever falls within ``W`` steps in a fitted run, at least 1, with
  ``W`` 5 % of the longest fitted run: how fast the loss answers a recent drop is what a
  constant and a cosine run pin least (issue 14: short cooldowns err most), while long after a
  drop the law is fine again (the multi-power paper's step schedules);
- ``u(t) = 1 - lr(t) / peak``: how far the LR has been annealed at ``t`` (warmup held at the
  peak). Before a schedule anneals the law is as sure as on the fitted runs, and its error
  builds up through the cooldown; ``u0`` keeps a floor (issue 14: whole-curve intervals were
  4.5x the curve's errors with ``g = 0``);
- ``h(t)`` (:func:`lrcurve.fitted_history.history_departure`): how far the schedule's LR
  history up to ``t`` departs from the nearest fitted run's (the largest LR gap so far,
  relative to the lower of the two LRs plus 10 % of the peak: the law's annealing term answers
  a gap near the end of a decay far more than one at the peak). Where the history is a fitted
  run's (``h = 0``: a branch before its cooldown, the stable part of a WSD run fitted with a
  constant run, a prefix of a fitted cosine run) the prediction is in-sample, its error that
  run's own misfit ``f(t)`` and the parameters' noise, and the extrapolation term keeps only
  its share ``w0``, as does the parameters' noise ``se`` (which the fitted run's residual
  already holds; issue 14: the scaling families' branches had a band of +-2 % before their
  cooldown, where the law errs by 0.1 %);
- ``sigma_fit`` (:func:`lrcurve.fitted_history.point_noise`): the scatter of one logged loss
  about its smooth course in the fitted runs (``f`` is a mean over a window and leaves it out),
  times ``n``;
- ``f(t)`` (:func:`local_misfit`): the law's own systematic misfit near step ``t`` of the
  fitted run whose LR there is nearest the schedule's, its ``|mean relative residual|`` over
  the ``W`` steps around ``t`` (runs nearly as near weigh in, so it moves smoothly where the
  nearest run changes): a new run is no better predicted at a stage of
  training than the fitted runs were, which matters early, where the fit skipped its first
  steps and the law misses the fast initial fall by up to a few %;
- ``m_peak``: 1 when its peak LR differs from the fitted runs' by over 20 %;
- ``r_size``: how far the model size predicted lies outside the fitted sizes whose runs decay
  their LR (``N / N_max`` above, ``N_min / N`` below, else 1; :func:`lrcurve.sizes.size_ratio`;
  all fitted sizes when no run decays): a size seen only at a constant LR is extrapolated in
  the annealing term, which a constant run does not pin (``multipowerlaw``: 25M curves and
  a 100M constant run err by up to 1.4 % on 100M cooldowns), with ``c_size`` chosen
  across families by ``benchmarks/cross_size.py`` (docs/model-size.md): like ``c_steep`` it is
  added in quadrature, no backtest on the fitted sizes seeing another size;
- ``s(t)`` (:func:`ensemble_spread`): the s.d. of the predictions of a small ensemble fitted to
  the same runs over what they cannot pin: the forward-area exponent p (0.7, 1, 1.3) and the
  other law (momentum / multipower);
- ``c_steep``: the law's own relative error per unit of ``ln r_steep``, the same for every set
  of runs (no backtest on a constant and a cosine run sees a short cooldown), hence added in
  quadrature rather than scaled by ``b``;
- ``k, a, c_steep, c_peak, e, g, u0, h0, w0, n`` (:class:`Discrepancy`): chosen by
  leave-one-family-out cross-validation over the shared families (``benchmarks/calibration.py``,
  docs/calibration.md), never on a scored curve.

The interval at ``level`` is ``L(t) ± q(level) sd(t)``, centred on the law's prediction.
``q`` (:func:`interval_factor`) is not the Gaussian quantile: the law's errors on unseen
curves are not Gaussian in units of ``sd`` (too many just beyond 1.3 sd, so a Gaussian 80 %
interval held 63 % of them), so ``q`` at 50/80/90 % is the empirical quantile of
``|error| / sd`` of the final losses of held-out runs of the shared families (split
conformal prediction across families; Vovk et al. 2005, Lei et al. 2018), learned by the same
cross-validation. Between those levels ``q / z`` is interpolated, outside them held.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lrcurve.backtest import residual_rms
from lrcurve.errors import ExtrapolationError, ParameterError
from lrcurve.fitted_history import (
    WHOLE_DEPARTURE,
    fitted_lrs,
    history_departure,
    local_misfit,
    point_noise,
)
from lrcurve.fitted_history import share_residuals as share_residuals  # its old home
from lrcurve.laws.base import LRHistory
from lrcurve.sizes import decays, size_ratio

if TYPE_CHECKING:  # lrcurve.fitted builds on this module
    from lrcurve.fitted import FittedLaw
    from lrcurve.schedules import Schedule

MEMBER_EXPONENTS = (0.7, 1.3)  # the ensemble's other forward-area exponents p
# the ensemble's other laws: those the intervals were calibrated with (a law added to LAWS
# does not change the intervals of the others), and for a size-aware law their size-aware forms
ENSEMBLE_LAWS = ("momentum", "multipower")
RECENT_FRACTION = 0.05  # W, the window of a recent LR fall, as a fraction of the fitted horizon
STEEP_FLOOR = 0.01  # a fitted fall below 1 % of the peak within W counts as 1 % (constant runs)


MAX_LEVEL = 0.9999  # the highest interval level accepted
SIZE_FACTOR = 0.005  # c_size, relative error per unit of ln(N / N_max): docs/model-size.md


@dataclass(frozen=True)
class Discrepancy:
    """How the model discrepancy grows with extrapolation (see the module docstring)."""

    scale: float = 1.0
    horizon_exponent: float = 0.5
    steep_factor: float = 0.008
    peak_factor: float = 0.0
    ensemble_factor: float = 0.0
    anneal_exponent: float = 0.5
    anneal_floor: float = 0.25
    # q(level): |error| / sd quantiles of held-out final losses (benchmarks/calibration.py)
    quantiles: tuple[tuple[float, float], ...] = ((0.5, 1.003), (0.8, 1.282), (0.9, 1.709))
    size_factor: float = SIZE_FACTOR
    departure_scale: float = WHOLE_DEPARTURE  # h0: the departure at which the term is whole
    departure_floor: float = 0.0  # w0: the term's least share, where the history was seen
    noise_factor: float = 2.0  # n: the point noise n sigma_fit, added in quadrature


# chosen on all 17 shared families by benchmarks/calibration.py (docs/calibration.md)
DEFAULT = Discrepancy()


@dataclass(frozen=True)
class Extrapolation:
    """How far a prediction leaves the fitted runs: per step, the horizon ratio and how many
    times more its LR fell recently than any fitted run's did (at least 1); and whether its
    peak LR differs."""

    horizon_ratio: NDArray[np.float64]
    steepness: NDArray[np.float64]
    peak_flag: int | NDArray[np.int64]
    annealed: float | NDArray[np.float64] = 1.0  # u(t) = 1 - lr(t) / peak
    misfit: float | NDArray[np.float64] = 0.0  # f(t), relative
    size_ratio: float | NDArray[np.float64] = 1.0  # r_size, N beyond the fitted sizes
    departure: float | NDArray[np.float64] = 1.0  # h(t), the LR history's departure
    noise: float | NDArray[np.float64] = 0.0  # sigma_fit, a logged point's relative noise


@dataclass(frozen=True, eq=False)
class Interval:
    """A central predictive interval at ``level`` around ``center``, with its s.d. and the
    quantiles ``q`` of :func:`interval_factor`."""

    level: float
    steps: NDArray[np.int64]
    center: NDArray[np.float64]
    sd: NDArray[np.float64]
    quantiles: tuple[tuple[float, float], ...] = DEFAULT.quantiles

    @property
    def half_width(self) -> NDArray[np.float64]:
        return interval_factor(self.level, self.quantiles) * self.sd

    @property
    def lower(self) -> NDArray[np.float64]:
        return self.center - self.half_width

    @property
    def upper(self) -> NDArray[np.float64]:
        return self.center + self.half_width


def steepest_fall(lr: NDArray[np.float64], peak: float, window: int) -> float:
    """The largest fall of the LR within ``window`` steps, as a fraction of ``peak``."""
    if lr.size < 2 or peak <= 0:
        return 0.0
    w = min(window, lr.size - 1)
    return float(np.max(lr[:-w] - lr[w:], initial=0.0)) / peak


def z_value(level: float) -> float:
    """The Gaussian quantile of a central interval at ``level`` (0.9 -> 1.645)."""
    if not 0 < level < 1:
        raise ParameterError(
            f"the level must lie strictly between 0 and 1, not {level}", param="level"
        )
    if level > MAX_LEVEL:  # 0.5 + level / 2 rounds to 1 near it; such tails are not learned
        raise ParameterError(f"the level must be at most {MAX_LEVEL}, not {level}", param="level")
    return NormalDist().inv_cdf(0.5 + level / 2)


def interval_factor(
    level: float, quantiles: tuple[tuple[float, float], ...] = DEFAULT.quantiles
) -> float:
    """``q(level)``: the half-width of the central interval at ``level`` in units of the
    predictive s.d. At a level of ``quantiles`` its learned value; elsewhere the Gaussian
    quantile times ``q / z`` interpolated between the nearest learned levels (held beyond)."""
    z = z_value(level)
    if not quantiles:
        return z
    levels = [lv for lv, _ in quantiles]
    ratios = [q / z_value(lv) for lv, q in quantiles]
    return z * float(np.interp(level, levels, ratios))


def extrapolation(
    fitted: FittedLaw,
    schedule: Schedule,
    steps: NDArray[np.int64],
    lr: NDArray[np.float64] | None = None,
    model_size: float | None = None,
) -> Extrapolation:
    """The horizon ratio and recent-fall ratio at each of ``steps``, and the peak flag of
    ``schedule`` and size ratio of ``model_size``. ``lr``: its per-step LR (warmup held), at
    least to ``max(steps)``, if already computed."""
    steps = np.asarray(steps, dtype=np.int64)
    window = max(1, round(RECENT_FRACTION * fitted.horizon))
    held = fitted_lrs(fitted)
    fitted_fall = max(steepest_fall(h, r.peak_lr, window) for h, r in zip(held, fitted.runs))
    # the sizes whose runs show the annealing term, or every fitted size if none does
    annealed = [r.model_size for h, r in zip(held, fitted.runs) if decays(h)] or fitted.sizes
    size = fitted.predicted_size(model_size)
    lr = LRHistory.of(schedule, int(steps.max())).held if lr is None else lr
    before = lr[np.maximum(steps - 1 - window, 0)]
    recent = np.maximum(before - lr[steps - 1], 0.0) / schedule.peak
    return Extrapolation(
        horizon_ratio=np.maximum(steps / fitted.horizon_at(size), 1.0),
        steepness=np.maximum(recent / max(fitted_fall, STEEP_FLOOR), 1.0),
        peak_flag=int(fitted.peak_warning(schedule.peak) is not None),
        size_ratio=1.0 if size is None else size_ratio(size, annealed),
        annealed=np.clip(1.0 - lr[steps - 1] / schedule.peak, 0.0, 1.0),
        misfit=local_misfit(fitted, steps, window, lr, schedule.peak),
        departure=history_departure(fitted, steps, lr, schedule.peak, size),
        noise=point_noise(fitted),
    )


def law_error(fitted: FittedLaw) -> float:
    """``b`` of a fit: its :attr:`~lrcurve.fitted.FittedLaw.backtest_scale`, or its residual RMS
    when it was fitted without backtests."""
    if fitted.backtest_scale is not None:
        return fitted.backtest_scale
    return residual_rms(fitted)


def curve_sd(
    fitted: FittedLaw,
    schedule: Schedule,
    steps: NDArray[np.int64],
    loss: NDArray[np.float64],
    stderr: NDArray[np.float64] | None,
    lr: NDArray[np.float64] | None = None,
    settings: Discrepancy = DEFAULT,
    model_size: float | None = None,
) -> NDArray[np.float64]:
    """The predictive s.d. of ``loss`` at ``steps`` of ``schedule`` (its delta-method ``stderr``
    with the discrepancy of :func:`law_error`; no ensemble) for a model of ``model_size``
    parameters: what ``FittedLaw.predict`` gives."""
    where = extrapolation(fitted, schedule, steps, lr, model_size)
    relative = discrepancy_sd(where, law_error(fitted), settings)
    return predictive_sd(loss, scaled_stderr(stderr, where, settings), relative)


def discrepancy_sd(
    where: Extrapolation, scale: float | NDArray[np.float64], settings: Discrepancy = DEFAULT
) -> NDArray[np.float64]:
    """``d(t)``: the relative s.d. of the law's own error at each step (module docstring).
    Element-wise, so ``where`` and ``scale`` may also hold one entry per prediction."""
    peak = 1.0 + settings.peak_factor * np.asarray(where.peak_flag)
    anneal = np.maximum(where.annealed, settings.anneal_floor) ** settings.anneal_exponent
    anneal = anneal * unseen_share(where, settings)
    fitted = settings.scale * scale * where.horizon_ratio**settings.horizon_exponent * peak * anneal
    steep = settings.steep_factor * np.log(where.steepness)
    size = settings.size_factor * np.log(where.size_ratio)
    noise = settings.noise_factor * np.asarray(where.noise)
    return np.sqrt(fitted**2 + steep**2 + np.square(where.misfit) + size**2 + noise**2)


def unseen_share(where: Extrapolation, settings: Discrepancy = DEFAULT) -> NDArray[np.float64]:
    """``w(t) = max(w0, min(1, h(t) / h0))``: the share of the extrapolation term (and of the
    parameters' noise) left where the LR history departs by ``h(t)`` from a fitted run's."""
    seen = np.clip(np.asarray(where.departure) / settings.departure_scale, 0.0, 1.0)
    return np.maximum(seen, settings.departure_floor)


def scaled_stderr(
    stderr: NDArray[np.float64] | None, where: Extrapolation, settings: Discrepancy = DEFAULT
) -> NDArray[np.float64] | None:
    """The parameters' noise ``w(t) se(t)``: where the history is a fitted run's, the law's
    error is that run's own residual (``f(t)``, measured), which already holds the parameters'
    error on these runs; a spread over hypothetical refits adds nothing to it."""
    return None if stderr is None else stderr * unseen_share(where, settings)


def ensemble(fitted: FittedLaw) -> list[FittedLaw]:
    """The members besides ``fitted``, fitted to its runs: its law at the other forward-area
    exponents :data:`MEMBER_EXPONENTS`, and each other law of :data:`ENSEMBLE_LAWS` that has its
    warmup convention."""
    from lrcurve.fitting import fit
    from lrcurve.laws import LAWS, make_law

    options = fitted.law.options()
    laws = [
        make_law(fitted.law.name, **{**options, "lr_exponent": p})
        for p in MEMBER_EXPONENTS
        if "lr_exponent" in options and p != options["lr_exponent"]
    ]
    laws += [
        make_law(name, warmup=options["warmup"])
        for name, cls in LAWS.items()
        if name.removesuffix("-size") in ENSEMBLE_LAWS
        and name != fitted.law.name
        and cls.size_aware == fitted.law.size_aware
        and options["warmup"] in cls.warmup_conventions
    ]
    return [
        fit(fitted.runs, law, skip_fraction=fitted.skip_fraction, backtest=False) for law in laws
    ]


def ensemble_spread(
    fitted: FittedLaw,
    members: list[FittedLaw],
    schedule: Schedule,
    steps: NDArray[np.int64],
    model_size: float | None = None,
) -> NDArray[np.float64]:
    """``s(t)``: the s.d. over ``fitted`` and ``members`` of the loss they predict at ``steps``
    (a member that cannot predict this schedule is left out)."""
    curves = [fitted.curve(schedule, steps, model_size=model_size)]
    for member in members:
        try:
            curves.append(member.curve(schedule, steps, model_size=model_size))
        except ExtrapolationError:
            continue
    return np.nan_to_num(np.std(np.array(curves), axis=0))


def predictive_sd(
    loss: NDArray[np.float64],
    stderr: NDArray[np.float64] | None,
    relative: NDArray[np.float64],
    spread: NDArray[np.float64] | float = 0.0,
) -> NDArray[np.float64]:
    """``sqrt(se^2 + (L d)^2 + spread^2)``: parameter noise, model discrepancy and the
    ensemble's (already scaled) spread, independent."""
    se = np.zeros_like(loss) if stderr is None else np.nan_to_num(stderr)
    return np.sqrt(se**2 + (loss * relative) ** 2 + np.square(spread))


def predictive_interval(
    fitted: FittedLaw,
    schedule: Schedule,
    steps: NDArray[np.int64] | None = None,
    *,
    level: float = 0.9,
    settings: Discrepancy = DEFAULT,
    scale: float | None = None,
    members: list[FittedLaw] | None = None,
    model_size: float | None = None,
) -> Interval:
    """The predictive interval of the loss at ``steps`` (default: every step of the schedule's
    horizon) under ``schedule``. ``scale``: ``b`` (default :func:`law_error`); ``members``:
    :func:`ensemble` if already computed (it refits the law a few times)."""
    z_value(level)
    n = int(schedule.horizon if steps is None else np.max(steps))
    prediction = fitted.predict(schedule, n, level=None, model_size=model_size)
    at = prediction.steps if steps is None else np.asarray(steps, dtype=np.int64)
    loss = prediction.loss[at - 1]
    stderr = None if prediction.loss_stderr is None else prediction.loss_stderr[at - 1]
    b = law_error(fitted) if scale is None else scale
    where = extrapolation(fitted, schedule, at, model_size=model_size)
    relative = discrepancy_sd(where, b, settings)
    stderr = scaled_stderr(stderr, where, settings)
    spread = 0.0
    if settings.ensemble_factor:
        members = ensemble(fitted) if members is None else members
        spread = settings.ensemble_factor * ensemble_spread(
            fitted, members, schedule, at, model_size
        )
    return Interval(
        level, at, loss, predictive_sd(loss, stderr, relative, spread), settings.quantiles
    )


def with_level(interval: Interval, level: float) -> Interval:
    """The same predictive distribution at another level."""
    z_value(level)
    return replace(interval, level=level)
