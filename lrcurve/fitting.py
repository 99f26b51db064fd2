"""Fitting a loss law to logged runs.

One mechanism serves every law: robust least squares on the relative error
(``scipy.optimize.least_squares``, soft-L1 loss) from each of the law's starting
points, bounds from the law, and parameter uncertainties from the Jacobian at the
solution (``cov = s^2 (J^T J)^-1``). Parameters the data cannot determine (a single
constant-LR run says nothing about the annealing term) are reported as such, and those
that change nothing on the runs are held at their start (:attr:`FittedLaw.held`).
The fitted object is :class:`lrcurve.fitted.FittedLaw`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import OptimizeResult, least_squares

from lrcurve.errors import InputError, ParameterError
from lrcurve.fit_window import DEFAULT_SKIP, fit_points, fit_window
from lrcurve.fitted import FittedLaw, Parameter, Prediction, refuse_nonpositive_loss
from lrcurve.fitted_history import misfit_warnings
from lrcurve.laws.base import FitData, Law, LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.runs import Run
from lrcurve.sizes import size_free_warning
from lrcurve.tokens import batch_warning
from lrcurve.uncertainty import steepest_fall

__all__ = [
    "DEFAULT_SKIP",
    "FittedLaw",
    "Parameter",
    "Prediction",
    "fit",
    "fit_points",
    "fit_window",
    "moving_parameters",
    "refuse_nonpositive_loss",
    "steepest_fall",
]

Progress = Callable[[int, int], None]
ROBUST_SCALE = 1e-3  # relative residual where the soft-L1 loss turns from quadratic to linear


def moving_parameters(
    law: Law, prepared: Sequence[Any], start: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Which parameters change the law's curve on these runs at all: a column of the Jacobian
    that is zero at ``start`` and at a nudged copy of it (so a coefficient that starts at 0 does
    not hide its partner) belongs to a term these runs never exercise, e.g. the annealing
    term when no run decays its LR. The fit holds those at their start."""
    lo, hi = law.bounds()
    nudged = np.clip(start + 0.1 * (np.abs(start) + 1e-3), lo, hi)
    moving = np.zeros(len(start), dtype=bool)
    for theta in (start, nudged):
        with np.errstate(all="ignore"):
            columns = np.concatenate([law.derivatives(theta, p) for p in prepared])
        moving |= np.any((columns != 0) & np.isfinite(columns), axis=0)
    return moving


def _on_free(
    residuals: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    jacobian: Any,
    start: NDArray[np.float64],
    free: NDArray[np.bool_],
) -> tuple[Callable[..., Any], Any, Callable[..., Any]]:
    """The fit problem in the ``free`` parameters only, the others held at ``start``: its
    residuals, its Jacobian (a callable's columns, or the finite-difference scheme as given),
    and the map from free values back to all parameters."""

    def full(x: NDArray[np.float64]) -> NDArray[np.float64]:
        theta = start.copy()
        theta[free] = x
        return theta

    def fun(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return residuals(full(x))

    def jac(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return jacobian(full(x))[:, free]

    return fun, jac if callable(jacobian) else jacobian, full


def _covariance(
    jac: NDArray[np.float64], residuals: NDArray[np.float64], names: Sequence[str]
) -> tuple[NDArray[np.float64] | None, list[str]]:
    """``s^2 (J^T J)^-1`` and the names of parameters the data do not determine."""
    n, p = jac.shape
    if n <= p:
        return None, list(names)
    scale = np.linalg.norm(jac, axis=0)
    scale[scale == 0] = 1.0
    _, sing, vt = np.linalg.svd(jac / scale, full_matrices=False)
    weak = sing < 1e-9 * sing[0]
    unidentified = sorted({names[int(np.argmax(np.abs(v)))] for v in vt[weak]})
    if unidentified:
        return None, unidentified
    inv = (vt.T / sing**2) @ vt
    s2 = float(residuals @ residuals) / (n - p)
    return s2 * inv / np.outer(scale, scale), []


def _free_covariance(
    jac: NDArray[np.float64],
    residuals: NDArray[np.float64],
    names: Sequence[str],
    fixed: NDArray[np.bool_],
) -> tuple[NDArray[np.float64] | None, list[str]]:
    """:func:`_covariance` of the parameters not ``fixed``, with zero (co)variance for those."""
    if not fixed.any():
        return _covariance(jac, residuals, names)
    free = ~fixed
    part, unidentified = _covariance(jac[:, free], residuals, [n for n, f in zip(names, free) if f])
    if part is None:
        return None, unidentified
    covariance = np.zeros((len(names), len(names)))
    covariance[np.ix_(free, free)] = part
    return covariance, unidentified


def _holding(
    law: Law, theta: NDArray[np.float64], holds: dict[str, tuple[float, str]]
) -> NDArray[np.float64]:
    """``theta`` with the held parameters at their values."""
    theta = np.array(theta, dtype=np.float64)
    for name, (value, _) in holds.items():
        theta[law.index(name)[0]] = value
    return theta


def _hold_notes(holds: dict[str, tuple[float, str]]) -> list[str]:
    """One note per held parameter; none for a hold without a reason (the law as published)."""
    return [f"{name} held at {value:g}: {why}" for name, (value, why) in holds.items() if why]


def _check_run(run: Run) -> None:
    """Refuse a run no reader would make: steps not increasing from 1, or a loss after the
    warmup that is not a finite positive number (the readers drop or refuse those, naming the
    row)."""
    where = run.source or run.name
    if not run.steps.size or run.steps[0] < 1 or np.any(np.diff(run.steps) <= 0):
        raise InputError(f"{where}: steps must increase from 1 or later")
    after = run.loss[run.steps > run.warmup_steps]  # those a fit may use
    if not np.all(np.isfinite(after) & (after > 0)):
        raise InputError(f"{where}: losses after the warmup must be finite positive numbers")


def _fit_data(runs: Sequence[Run], skip_fraction: float, law: Law) -> list[FitData]:
    """Each run's points in its fit window; refuses too few."""
    if not runs:
        raise ParameterError("no runs to fit", param="runs")
    if not 0.0 <= skip_fraction < 1.0:
        raise ParameterError(f"must be in [0, 1), got {skip_fraction}", param="skip_fraction")
    data: list[FitData] = []
    for run in runs:
        _check_run(run)
        window = fit_points(run, skip_fraction)
        if window.size < 3:
            raise ParameterError(
                f"{run.source or run.name}: only {window.size} points after warmup and the "
                f"first {skip_fraction:.0%} of steps; a fit needs at least 3 (lower it)",
                param="skip_fraction",
            )
        if law.size_aware and run.model_size is None:
            raise ParameterError(
                f"{run.source or run.name}: no model size; the {law.name} law is size-aware "
                "(give it with --params FILE=N, a params column or the W&B config)",
                param="model_size",
            )
        history = LRHistory.of(run.schedule, run.last_step, run.model_size)
        data.append(FitData(history, run.steps[window], run.loss[window]))
    n_points = sum(d.steps.size for d in data)
    if n_points <= len(law.param_names):
        raise InputError(f"{n_points} points cannot determine {len(law.param_names)} parameters")
    return data


def _best_fit(
    law: Law,
    prepared: Sequence[Any],
    residuals: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    jacobian: Any,
    starts: Sequence[NDArray[np.float64]],
    progress: Progress | None,
    fixed: NDArray[np.bool_],
) -> tuple[OptimizeResult, NDArray[np.bool_]]:
    """The lowest-cost robust fit from ``starts``, and which parameters it held (those that
    change nothing on the runs, and the ``fixed`` ones)."""
    lo, hi = law.bounds()
    best, held = None, np.zeros(len(law.param_names), dtype=bool)
    for i, x0 in enumerate(starts):
        free = moving_parameters(law, prepared, x0) & ~fixed  # the rest keep their start
        fun, jac_free, full = _on_free(residuals, jacobian, x0, free)
        with np.errstate(all="ignore"):
            result = least_squares(
                fun,
                x0[free],
                jac=jac_free,
                bounds=(lo[free], hi[free]),
                loss="soft_l1",
                f_scale=ROBUST_SCALE,
                x_scale=law.x_scale,
                max_nfev=2000,
            )
        result.x = full(result.x)
        if np.all(np.isfinite(result.fun)) and (best is None or result.cost < best.cost):
            best, held = result, ~free
        if progress:
            progress(i + 1, len(starts))
    if best is None:
        raise InputError(
            "the fit failed from every starting point (the loss could not be evaluated)"
        )
    return best, held


def _fit_warnings(
    held: Sequence[str],
    unidentified: Sequence[str],
    best: Any,
    runs: Sequence[Run],
    law: Law,
) -> list[str]:
    """What the fit says about itself: runs of several batch sizes (or model sizes, to a
    size-free law), unidentifiable parameters, no convergence. A parameter at a bound is not
    warned of (the report's table and ``to_frame`` flag it): every scaling family's fit of the
    momentum law ends with ``lam`` at its upper bound, and the predictive intervals are
    calibrated on those fits (docs/calibration.md)."""
    said = (batch_warning(runs), size_free_warning(law, (r.model_size for r in runs)))
    warnings: list[str] = [w for w in said if w is not None]
    if unidentified:
        warnings.append(
            f"parameters not identifiable from these runs: {', '.join(unidentified)} "
            "(e.g. no run decays its LR); their values are arbitrary"
            + (" (those that change nothing on these runs are held at their start)" if held else "")
        )
    if not best.success:
        warnings.append(f"the optimiser did not converge: {best.message}")
    return warnings


# over 60 lines: one fit's steps in their order (data, residuals, starts, solve, report)
def fit(
    runs: Sequence[Run],
    law: Law | str | None = None,
    *,
    skip_fraction: float = DEFAULT_SKIP,
    progress: Progress | None = None,
    start: NDArray[np.float64] | None = None,
    backtest: bool = True,
) -> FittedLaw:
    """Fit ``law`` (a law or its name; default: the momentum law) jointly to ``runs``.

    ``start``: the one starting point (a warm start from a fit of similar runs) instead of the
    law's own. ``backtest``: also measure the law's error on its own runs,
    :attr:`FittedLaw.backtest_scale` (:func:`lrcurve.backtest.backtest_scale`, a few refits
    warm-started from this fit), which the predictive intervals scale with."""
    if isinstance(law, str):
        from lrcurve.laws import make_law

        law = make_law(law)
    law = law or MomentumLaw()
    data = _fit_data(runs, skip_fraction, law)
    prepared = [law.prepare(d.history, d.steps) for d in data]
    observed = np.concatenate([d.loss for d in data])

    def residuals(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        predicted = np.concatenate([law.evaluate(theta, p) for p in prepared])
        return (predicted - observed) / observed

    def analytic_jacobian(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        columns = np.concatenate([law.jacobian(theta, p) for p in prepared])  # type: ignore[misc]
        return columns / observed[:, None]

    jacobian: Any = analytic_jacobian if type(law).jacobian is not Law.jacobian else "2-point"
    lo, hi = law.bounds()
    holds = law.held_values([d.history for d in data])
    fixed = np.array([name in holds for name in law.param_names])
    guesses = law.initial_guesses(data) if start is None else [np.asarray(start, np.float64)]
    starts = [np.clip(_holding(law, x0, holds), lo, hi) for x0 in guesses]
    best, held_mask = _best_fit(law, prepared, residuals, jacobian, starts, progress, fixed)
    # a limit the fit reached; parameters it held at their start stay unidentified, and said
    limits = np.isin(law.param_names, law.at_limit(best.x, prepared)) & ~held_mask
    held_mask, fixed = held_mask | limits, fixed | limits
    held = tuple(name for name, h in zip(law.param_names, held_mask) if h)
    plain = residuals(best.x)
    with np.errstate(all="ignore"):
        jac = least_squares(residuals, best.x, jac=jacobian, bounds=(lo, hi), max_nfev=1).jac
    covariance, unidentified = _free_covariance(np.asarray(jac), plain, law.param_names, fixed)
    stderr = np.sqrt(np.diag(covariance)) if covariance is not None else np.full(len(lo), np.nan)
    stderr[fixed] = np.nan  # held by the law, not estimated
    params = tuple(
        Parameter(name, float(v), None if not np.isfinite(e) else float(e), float(a), float(b))
        for name, v, e, a, b in zip(law.param_names, best.x, stderr, lo, hi)
    )
    fitted = FittedLaw(
        law,
        params,
        tuple(runs),
        skip_fraction,
        covariance,
        bool(best.success),
        str(best.message),
        tuple(_fit_warnings(held, unidentified, best, runs, law) + _hold_notes(holds)),
        n_fit_points=observed.size,
        fit_rss=float(plain @ plain),
        held=held,
    )
    fitted = replace(fitted, warnings=(*fitted.warnings, *misfit_warnings(fitted)))
    if not backtest:
        return fitted
    from lrcurve.backtest import backtest_scale  # it refits through this module

    return replace(fitted, backtest_scale=backtest_scale(fitted))
