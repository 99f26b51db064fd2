"""Fitting a loss law to logged runs, and the fitted object that predicts.

One mechanism serves every law: robust least squares on the relative error
(``scipy.optimize.least_squares``, soft-L1 loss) from each of the law's starting
points, bounds from the law, and parameter uncertainties from the Jacobian at the
solution (``cov = s^2 (J^T J)^-1``). Parameters the data cannot determine (a single
constant-LR run says nothing about the annealing term) are reported as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from lrcurve.errors import InputError
from lrcurve.laws import law_from_dict, law_to_dict
from lrcurve.laws.base import FitData, Law, LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.metrics import Scores, score
from lrcurve.runs import MIN_LOSS, Run
from lrcurve.schedules import Schedule

Progress = Callable[[int, int], None]
DEFAULT_SKIP = 0.05
ROBUST_SCALE = 1e-3  # relative residual where the soft-L1 loss turns from quadratic to linear
DROP_WINDOW = 256  # steps over which the steepest LR fall of a schedule is measured
STEEP_FACTOR = 2.0  # a fall this many times steeper than any fitted run's is out of regime
STEEP_MINIMUM = 0.05  # ... and at least this fraction of the peak
LOW_FACTOR = 0.5  # an LR below this fraction of the fitted runs' lowest is out of regime


def steepest_fall(lr: NDArray[np.float64], peak: float, window: int = DROP_WINDOW) -> float:
    """The largest fall of the LR within ``window`` steps, as a fraction of ``peak``."""
    if lr.size < 2 or peak <= 0:
        return 0.0
    w = min(window, lr.size - 1)
    return float(np.max(lr[:-w] - lr[w:], initial=0.0)) / peak


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    stderr: float | None
    lower: float
    upper: float

    @property
    def at_bound(self) -> bool:
        span = max(abs(self.value), 1e-12)
        return bool(
            abs(self.value - self.lower) <= 1e-6 * span
            or abs(self.value - self.upper) <= 1e-6 * span
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "lower": self.lower,
            "upper": self.upper,
        }


@dataclass(frozen=True)
class Prediction:
    """A predicted loss curve at every step ``1..n`` of a schedule."""

    schedule: Schedule
    steps: NDArray[np.int64]
    lr: NDArray[np.float64]
    loss: NDArray[np.float64]
    loss_stderr: NDArray[np.float64] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_stderr(self) -> float | None:
        return None if self.loss_stderr is None else float(self.loss_stderr[-1])


def refuse_nonpositive_loss(
    loss: NDArray[np.float64], peak: float, fitted_peak: float, where: Callable[[int], str]
) -> None:
    """Refuse a predicted loss at or below zero (``where(i)`` says where entry ``i`` is): a law
    taken far from its fit, e.g. to a peak LR thousands of times the fitted one, gives one."""
    low = np.flatnonzero(loss <= MIN_LOSS)
    if low.size:
        i = int(low[0])
        raise InputError(
            f"the law predicts a loss of {loss[i]:.4g} {where(i)}: this schedule is far outside the fitted "
            f"runs (peak LR {peak:g}; fitted at {fitted_peak:g})"
        )


def fit_window(run: Run, skip_fraction: float) -> NDArray[np.bool_]:
    """The points a fit uses: after warmup and after the first ``skip_fraction`` of the run."""
    return (run.steps > run.warmup_steps) & (run.steps >= skip_fraction * run.last_step)


@dataclass(frozen=True, eq=False)
class FittedLaw:
    """A law with fitted parameters, the runs it saw, and how well it fits them.

    ``n_fit_points`` and ``fit_rss`` are the points in the fit window and the sum of squares
    of their relative residuals at the solution (``None`` in fit files older than them)."""

    law: Law
    params: tuple[Parameter, ...]
    runs: tuple[Run, ...]
    skip_fraction: float
    covariance: NDArray[np.float64] | None
    converged: bool
    message: str
    warnings: tuple[str, ...] = field(default=())
    n_fit_points: int | None = None
    fit_rss: float | None = None

    @property
    def values(self) -> NDArray[np.float64]:
        return np.array([p.value for p in self.params])

    def __getitem__(self, name: str) -> Parameter:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def peak_lr(self) -> float:
        return max(r.peak_lr for r in self.runs)

    @property
    def horizon(self) -> int:
        return max(r.horizon for r in self.runs)

    @property
    def warmup_steps(self) -> int:
        return max(r.warmup_steps for r in self.runs)

    def curve(
        self, schedule: Schedule, steps: NDArray[np.int64], theta: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        history = LRHistory.of(schedule, int(np.max(steps)))
        return self.law.predict(self.values if theta is None else theta, history, steps)

    def predict(
        self, schedule: Schedule, n_steps: int | None = None, *, with_stderr: bool = True
    ) -> Prediction:
        """The loss at every step of ``schedule`` up to ``n_steps`` (default: its horizon)."""
        n = n_steps or schedule.horizon
        if not n or n < 1:
            raise InputError("the schedule has no horizon; give the number of steps")
        steps = np.arange(1, n + 1, dtype=np.int64)
        history = LRHistory.of(schedule, n)
        prepared = self.law.prepare(history, steps)
        loss = self.law.evaluate(self.values, prepared)
        stderr = None
        if with_stderr and self.covariance is not None and np.all(np.isfinite(self.covariance)):
            stderr = self._propagate(prepared)
        return Prediction(
            schedule,
            steps,
            history.actual_lr(n),
            loss,
            stderr,
            self.regime_warnings(schedule, n, history.lr),
        )

    def horizon_warning(self, n_steps: int) -> str | None:
        """Said when ``n_steps`` is well beyond the longest fitted run."""
        if n_steps > 1.5 * self.horizon:
            return f"{n_steps} steps is {n_steps / self.horizon:.1f}x the longest fitted run; the law extrapolates"
        return None

    def peak_warning(self, peak: float) -> str | None:
        """Said when a peak LR is not the one the runs were fitted at."""
        if not self.peak_lr / 1.2 <= peak <= 1.2 * self.peak_lr:
            return f"peak LR {peak:g} differs from the fitted runs' {self.peak_lr:g}; the laws are fitted at one peak LR"
        return None

    @cached_property
    def _fitted_lr_regime(self) -> tuple[float, float]:
        """The fitted runs' lowest LR after warmup and steepest LR fall (fraction of the peak)."""
        histories = [LRHistory.of(r.schedule, r.last_step).lr for r in self.runs]
        return (
            min(float(h.min()) for h in histories),
            max(steepest_fall(h, r.peak_lr) for h, r in zip(histories, self.runs)),
        )

    def decay_warnings(
        self, schedule: Schedule, n_steps: int, lr: NDArray[np.float64] | None = None
    ) -> tuple[str, ...]:
        """Said when ``schedule`` decays lower or faster than any fitted run over its first
        ``n_steps``: the two things a constant and a cosine run do not pin (README, accuracy).
        ``lr``: its per-step LR (warmup at the peak) if already computed."""
        lr = LRHistory.of(schedule, n_steps).lr if lr is None else lr
        peak = schedule.peak
        lowest, steepest = self._fitted_lr_regime
        warnings = []
        if lr.size and float(lr.min()) < LOW_FACTOR * lowest:
            warnings.append(
                f"the LR falls to {float(lr.min()):.3g}, below half the fitted runs' lowest ({lowest:.3g}); "
                "the loss gained from the end of the decay is extrapolated"
            )
        fall = steepest_fall(lr, peak)
        if fall > max(STEEP_FACTOR * steepest, STEEP_MINIMUM):
            warnings.append(
                f"the LR falls by {fall:.0%} of its peak within {DROP_WINDOW} steps, faster than in any fitted run "
                f"({steepest:.0%}); how fast the loss answers a sharp drop is extrapolated"
            )
        return tuple(warnings)

    def regime_warnings(
        self, schedule: Schedule, n_steps: int, lr: NDArray[np.float64] | None = None
    ) -> tuple[str, ...]:
        """Where a prediction leaves the regime the fit saw: a longer horizon, another peak LR,
        a decay lower or steeper than the fitted runs'. ``lr``: the schedule's per-step LR if known."""
        return tuple(
            w
            for w in (
                self.horizon_warning(n_steps),
                self.peak_warning(schedule.peak),
                *self.decay_warnings(schedule, n_steps, lr),
            )
            if w
        )

    def _propagate(self, prepared: Any) -> NDArray[np.float64]:
        """Delta-method standard error of the curve from the parameter covariance."""
        jac = self.law.derivatives(self.values, prepared)
        variance = np.einsum("ij,jk,ik->i", jac, self.covariance, jac)
        return np.sqrt(np.maximum(variance, 0.0))

    def predict_run(self, run: Run) -> NDArray[np.float64]:
        """The law's loss at a run's logged steps, under the run's own schedule."""
        return self.curve(run.schedule, run.steps)

    def scores(self) -> dict[str, Scores]:
        return {run.name: score(self.predict_run(run), run.loss) for run in self.runs}

    def to_dict(self) -> dict[str, Any]:
        scores = self.scores()
        return {
            "law": law_to_dict(self.law),
            "formula": self.law.formula,
            "reference": self.law.reference,
            "params": {p.name: p.to_dict() for p in self.params},
            "covariance": None if self.covariance is None else self.covariance.tolist(),
            "converged": self.converged,
            "message": self.message,
            "warnings": list(self.warnings),
            "skip_fraction": self.skip_fraction,
            "n_fit_points": self.n_fit_points,
            "fit_rss": self.fit_rss,
            "peak_lr": self.peak_lr,
            "warmup_steps": self.warmup_steps,
            "horizon": self.horizon,
            "runs": [{**run.to_dict(), "scores": scores[run.name].to_dict()} for run in self.runs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedLaw:
        cov = data.get("covariance")
        return cls(
            law=law_from_dict(data["law"]),
            params=tuple(Parameter(name, **p) for name, p in data["params"].items()),
            runs=tuple(Run.from_dict(r) for r in data["runs"]),
            skip_fraction=float(data.get("skip_fraction", DEFAULT_SKIP)),
            covariance=None if cov is None else np.asarray(cov, dtype=np.float64),
            converged=bool(data.get("converged", True)),
            message=str(data.get("message", "")),
            warnings=tuple(data.get("warnings", ())),
            n_fit_points=None if data.get("n_fit_points") is None else int(data["n_fit_points"]),
            fit_rss=None if data.get("fit_rss") is None else float(data["fit_rss"]),
        )


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


def fit(
    runs: Sequence[Run],
    law: Law | None = None,
    *,
    skip_fraction: float = DEFAULT_SKIP,
    progress: Progress | None = None,
) -> FittedLaw:
    """Fit ``law`` (default: the momentum law) jointly to ``runs``."""
    law = law or MomentumLaw()
    if not runs:
        raise InputError("no runs to fit")
    if not 0.0 <= skip_fraction < 1.0:
        raise InputError(f"--skip must be in [0, 1), got {skip_fraction}")
    data: list[FitData] = []
    for run in runs:
        window = fit_window(run, skip_fraction)
        if window.sum() < 3:
            raise InputError(
                f"{run.source or run.name}: only {int(window.sum())} points after warmup and the first "
                f"{skip_fraction:.0%} of steps; a fit needs at least 3 (lower --skip)"
            )
        data.append(
            FitData(LRHistory.of(run.schedule, run.last_step), run.steps[window], run.loss[window])
        )
    prepared = [law.prepare(d.history, d.steps) for d in data]
    observed = np.concatenate([d.loss for d in data])
    n_points = observed.size
    if n_points <= len(law.param_names):
        raise InputError(f"{n_points} points cannot determine {len(law.param_names)} parameters")

    def residuals(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        predicted = np.concatenate([law.evaluate(theta, p) for p in prepared])
        return (predicted - observed) / observed

    def analytic_jacobian(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.concatenate([law.jacobian(theta, p) for p in prepared]) / observed[:, None]  # type: ignore[misc]

    jacobian: Any = analytic_jacobian if type(law).jacobian is not Law.jacobian else "2-point"

    lo, hi = law.bounds()
    starts = [np.clip(x0, lo, hi) for x0 in law.initial_guesses(data)]
    best = None
    for i, x0 in enumerate(starts):
        free = moving_parameters(
            law, prepared, x0
        )  # the rest keep their start (reported as not identifiable)
        fun, jac_free, full = _on_free(residuals, jacobian, x0, free)
        with np.errstate(all="ignore"):
            result = least_squares(
                fun,
                x0[free],
                jac=jac_free,
                bounds=(lo[free], hi[free]),
                loss="soft_l1",
                f_scale=ROBUST_SCALE,
                x_scale="jac",
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

    warnings: list[str] = []
    plain = residuals(best.x)
    with np.errstate(all="ignore"):
        jac = least_squares(residuals, best.x, jac=jacobian, bounds=(lo, hi), max_nfev=1).jac
    covariance, unidentified = _covariance(np.asarray(jac), plain, law.param_names)
    if unidentified:
        warnings.append(
            f"parameters not identifiable from these runs: {', '.join(unidentified)} "
            "(e.g. no run decays its LR); their values are arbitrary"
            + (
                " (those that change nothing on these runs are held at their start)"
                if held.any()
                else ""
            )
        )
    stderr = (
        np.sqrt(np.diag(covariance))
        if covariance is not None
        else np.full(len(law.param_names), np.nan)
    )
    params = tuple(
        Parameter(name, float(v), None if not np.isfinite(e) else float(e), float(l), float(h))
        for name, v, e, l, h in zip(law.param_names, best.x, stderr, lo, hi)
    )
    for p, is_held in zip(params, held):
        if p.at_bound and not is_held:
            warnings.append(
                f"parameter {p.name} = {p.value:.6g} is at its bound [{p.lower:g}, {p.upper:g}]"
            )
    if not best.success:
        warnings.append(f"the optimiser did not converge: {best.message}")
    return FittedLaw(
        law,
        params,
        tuple(runs),
        skip_fraction,
        covariance,
        bool(best.success),
        str(best.message),
        tuple(warnings),
        n_fit_points=n_points,
        fit_rss=float(plain @ plain),
    )
