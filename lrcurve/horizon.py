"""Optimal peak LR across token horizons.

Bjorck et al., *Scaling Optimal LR Across Token Horizons*, arXiv 2409.19913: at a fixed
model size the best peak LR falls as a power of the training horizon ``D`` (tokens)::

    lr_opt(D) = B * D^-beta

Per horizon, the final loss is close to a parabola in ``log(lr)`` near its minimum; the
vertex gives ``log lr_opt`` and, through the delta method on the parabola's coefficient
covariance, its standard error. When no parabola fits, the best observed LR stands in, with
half the LR grid's spacing around it as its standard error (none when it is the lowest or
highest LR tried: the optimum may lie beyond). ``log lr_opt = log B - beta log D`` is then a
weighted linear fit across horizons, which extrapolates to a longer horizon with an interval
when the optima's uncertainties (or their scatter about the law) allow one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from scipy.stats import t as student_t

from lrcurve.errors import InputError

Z95 = 1.959964


@dataclass(frozen=True)
class SweepPoint:
    """One finished run of a sweep: its horizon, peak LR and final loss; its short ``label``
    (:mod:`lrcurve.io.labels`) when it was read from a run's log."""

    horizon: float
    lr: float
    loss: float
    name: str = ""
    label: str = ""


@dataclass(frozen=True)
class HorizonOptimum:
    """The best peak LR at one horizon, from a parabola in log LR."""

    horizon: float
    lr_opt: float
    log_lr_stderr: float | None
    loss_at_opt: float
    points: tuple[SweepPoint, ...]
    used: tuple[SweepPoint, ...]
    bracketed: bool
    note: str = ""

    @property
    def best_observed(self) -> SweepPoint:
        return min(self.points, key=lambda p: p.loss)


@dataclass(frozen=True)
class HorizonLaw:
    """``lr_opt(D) = B * D^-beta`` fitted to per-horizon optima."""

    B: float
    beta: float
    covariance: NDArray[np.float64] | None  # of (log B, beta)
    optima: tuple[HorizonOptimum, ...]
    warnings: tuple[str, ...] = field(default=())
    no_interval: str = ""  # why there is no covariance (and so no interval), when there is none
    # the two-sided 95 % quantile: Student's t when the scale comes from the scatter
    z95: float = Z95

    def formula(self, digits: int = 4) -> str:
        """``B * D^e`` with the exponent ``e = -beta`` signed once (never ``D^--0.1``,
        ``-0.0000``)."""
        exponent = round(-self.beta, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
        return f"{self.B:.{digits}g} * D^{exponent:+.{digits}f}"

    @property
    def beta_stderr(self) -> float | None:
        return None if self.covariance is None else float(np.sqrt(self.covariance[1, 1]))

    def predict(self, horizon: float) -> tuple[float, float | None, float | None]:
        """``lr_opt`` at ``horizon`` and its 95 % interval (None without a covariance:
        ``no_interval`` says why)."""
        lr = self.B * horizon ** (-self.beta)
        if self.covariance is None:
            return lr, None, None
        grad = np.array([1.0, -np.log(horizon)])
        se = float(np.sqrt(grad @ self.covariance @ grad))
        return lr, lr * np.exp(-self.z95 * se), lr * np.exp(self.z95 * se)


# a run this much worse than the best is off the valley (diverged, or far from the optimum)
MAX_EXCESS = 0.05


def _valley(points: Sequence[SweepPoint], span: float) -> tuple[SweepPoint, ...]:
    """The runs within a factor ``span`` of the best observed LR and within ``MAX_EXCESS``
    of its loss: the parabola only describes the loss near its minimum."""
    best = min(points, key=lambda p: p.loss)
    return tuple(
        p
        for p in sorted(points, key=lambda p: p.lr)
        if best.lr / span <= p.lr <= best.lr * span and p.loss <= best.loss * (1 + MAX_EXCESS)
    )


def _parabola(
    used: Sequence[SweepPoint],
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, int]:
    """Least-squares ``loss = a x^2 + b x + c`` in ``x = log lr``: coefficients, unscaled
    covariance ``(X^T X)^-1``, residual sum of squares and degrees of freedom."""
    x = np.log([p.lr for p in used])
    y = np.array([p.loss for p in used])
    design = np.vander(x, 3)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return coef, np.linalg.pinv(design.T @ design), float(resid @ resid), len(used) - 3


def grid_stderr(points: Sequence[SweepPoint], lr: float) -> float | None:
    """Half the wider log-LR gap from ``lr`` to its neighbours among the LRs tried: the
    standard error of an optimum known only to the grid. None when ``lr`` is the lowest or
    highest LR tried, where the optimum may lie anywhere beyond it."""
    x = np.log(sorted({p.lr for p in points}))
    i = int(np.searchsorted(x, np.log(lr)))
    if i == 0 or i >= len(x) - 1:
        return None
    return float(max(x[i] - x[i - 1], x[i + 1] - x[i]) / 2)


def _best_observed(
    points: tuple[SweepPoint, ...], used: tuple[SweepPoint, ...], why: str
) -> HorizonOptimum:
    """The fallback optimum: the best observed LR, with half the LR grid spacing as its error
    bar (none at the lowest or highest LR tried); ``why`` says why no parabola stood."""
    best = min(points, key=lambda p: p.loss)
    stderr = grid_stderr(points, best.lr)
    error = (
        " (± half the LR grid spacing)"
        if stderr is not None
        else "; no error bar (it is the lowest or highest LR tried)"
    )
    note = why + error + _left_out_note(points)
    return HorizonOptimum(points[0].horizon, best.lr, stderr, best.loss, points, used, False, note)


def _left_out_note(points: Sequence[SweepPoint]) -> str:
    """``; left out N run(s) ...`` for the runs off the valley by loss, or nothing."""
    best = min(points, key=lambda p: p.loss)
    off = len([p for p in points if p.loss > best.loss * (1 + MAX_EXCESS)])
    if not off:
        return ""
    return f"; left out {off} run(s) over {MAX_EXCESS:.0%} worse than the best (diverged?)"


def _vertex_doubt(
    used: Sequence[SweepPoint], best: SweepPoint, coef: NDArray[np.float64], rss: float, dof: int
) -> str:
    """Why the parabola's vertex is no optimum (not convex, outside the LRs tried, far below
    every observed loss), or ``""`` when it is one."""
    a, b, _ = coef
    if a <= 0:
        return "loss is not convex in log LR here; took the best observed"
    vertex = -b / (2 * a)
    x = np.log([p.lr for p in used])
    if not x.min() < vertex < x.max():
        return (
            "the parabola's vertex lies outside the LRs tried; took the best observed (try LRs "
            "beyond it)"
        )
    if np.polyval(coef, vertex) < best.loss - 3 * np.sqrt(rss / max(dof, 1)) - 0.01 * best.loss:
        return "the parabola dips far below every observed loss; took the best observed"
    return ""


def optimum_at_horizon(
    points: Sequence[SweepPoint], span: float = 10.0, noise_var: float | None = None
) -> HorizonOptimum:
    """The vertex of the parabola through the valley of one horizon's sweep. Its standard
    error uses the loss noise ``noise_var`` pooled over horizons, or this horizon's own
    residuals when there is no pooled value."""
    points = tuple(sorted(points, key=lambda p: p.lr))
    best = min(points, key=lambda p: p.loss)
    used = _valley(points, span)
    distinct = len({p.lr for p in used})
    if distinct < 3:
        why = f"only {distinct} distinct LRs near the best; took the best observed"
        return _best_observed(points, used, why)
    coef, unscaled, rss, dof = _parabola(used)
    doubt = _vertex_doubt(used, best, coef, rss, dof)
    if doubt:
        return _best_observed(points, used, doubt)
    a, b, _ = coef
    vertex = -b / (2 * a)
    # the pooled noise when there is one: a parabola's own residuals have a degree of freedom or two
    # and can be near zero by chance, which gave one horizon an error bar of 1e-13 and all the
    # weight
    variance = noise_var if noise_var is not None else (rss / dof if dof > 0 else None)
    stderr = None
    if variance is not None:
        grad = np.array([b / (2 * a * a), -1 / (2 * a), 0.0])
        stderr = float(np.sqrt(max(grad @ (unscaled * variance) @ grad, 0.0)))
    loss_at_vertex = float(np.polyval(coef, vertex))
    note = _left_out_note(points).lstrip("; ")
    return HorizonOptimum(
        points[0].horizon, float(np.exp(vertex)), stderr, loss_at_vertex, points, used, True, note
    )


def pooled_noise_variance(groups: Sequence[Sequence[SweepPoint]], span: float) -> float | None:
    """Loss noise variance around the parabolas, pooled over the horizons that have
    more runs in their valley than a parabola has coefficients."""
    rss_total, dof_total = 0.0, 0
    for group in groups:
        used = _valley(group, span)
        if len(used) > 3 and len({p.lr for p in used}) >= 3:
            _, _, rss, dof = _parabola(used)
            rss_total, dof_total = rss_total + rss, dof_total + dof
    return rss_total / dof_total if dof_total else None


def _by_horizon(points: Sequence[SweepPoint]) -> list[list[SweepPoint]]:
    """The sweep points grouped by horizon, shortest first; at least two horizons, every point
    with a positive LR and a positive finite horizon and loss."""
    by_horizon: dict[float, list[SweepPoint]] = {}
    for p in points:
        if not (0 < p.loss < np.inf and p.lr > 0 and 0 < p.horizon < np.inf):
            raise InputError(
                f"sweep point {p.name or p}: needs a positive LR and a positive finite horizon "
                "and loss"
            )
        by_horizon.setdefault(p.horizon, []).append(p)
    if len(by_horizon) < 2:
        raise InputError(
            f"the runs cover {len(by_horizon)} horizon(s); fitting lr_opt(D) needs at least 2"
        )
    return [group for _, group in sorted(by_horizon.items())]


def _law_covariance(
    optima: Sequence[HorizonOptimum],
    normal: NDArray[np.float64],
    chi2: float,
    dof: int,
    known: bool,
) -> tuple[NDArray[np.float64] | None, str, float]:
    """The covariance of ``(log B, beta)`` from the weighted fit's normal matrix, why there is
    none when there is none, and the two-sided 95 % quantile for its interval."""
    edges = [f"{o.horizon:g}" for o in optima if o.log_lr_stderr is None and not o.bracketed]
    if known:
        # measured errors are inflated by the scatter about the law, never shrunk
        return np.linalg.inv(normal) * max(chi2, 1.0), "", Z95
    if edges:
        return (
            None,
            f"the best LR at horizon(s) {', '.join(edges)} is the lowest or highest LR tried, "
            "a bound rather than an estimate; try LRs beyond it",
            Z95,
        )
    if dof == 0:
        why = "two horizons without error bars leave no degrees of freedom for the scatter"
        return None, why, Z95
    if chi2 <= 0:
        why = "the optima lie exactly on the law and have no error bars: no scale for an interval"
        return None, why, Z95
    # equal weights carry no scale of their own: the scatter about the law sets it, with t's
    # wider quantile
    return np.linalg.inv(normal) * chi2, "", float(student_t.ppf(0.975, dof))


def fit_horizon_law(points: Sequence[SweepPoint], span: float = 10.0) -> HorizonLaw:
    """Best LR per horizon, then ``lr_opt = B D^-beta`` across horizons by weighted least
    squares in ``log lr_opt = log B - beta log D`` (Bjorck et al., arXiv 2409.19913)."""
    groups = _by_horizon(points)
    noise_var = pooled_noise_variance(groups, span)
    optima = tuple(optimum_at_horizon(group, span, noise_var) for group in groups)
    warnings = [f"horizon {o.horizon:g}: {o.note}" for o in optima if o.note]
    log_d = np.log([o.horizon for o in optima])
    log_lr = np.log([o.lr_opt for o in optima])
    errors = np.array([o.log_lr_stderr if o.log_lr_stderr else np.nan for o in optima])
    known = bool(np.all(np.isfinite(errors)))
    if known:
        weights = 1.0 / errors**2
    else:
        weights = np.ones_like(log_d)
        warnings.append("not every horizon has an uncertainty; fitted lr_opt(D) with equal weights")
    design = np.column_stack([np.ones_like(log_d), -log_d])
    normal = design.T @ (design * weights[:, None])
    coef = np.linalg.solve(normal, design.T @ (weights * log_lr))
    dof = len(optima) - 2
    resid = log_lr - design @ coef
    chi2 = float(resid @ (weights * resid)) / dof if dof > 0 else 0.0
    covariance, no_interval, z95 = _law_covariance(optima, normal, chi2, dof, known)
    if no_interval:
        warnings.append(f"no interval for lr_opt(D): {no_interval}")
    log_b, beta = coef
    law = HorizonLaw(
        float(np.exp(log_b)), float(beta), covariance, optima, tuple(warnings), no_interval, z95
    )
    if law.beta_stderr is not None and law.beta_stderr > abs(law.beta):
        undetermined = (
            f"beta = {law.beta:.3g} ± {law.beta_stderr:.2g}: these runs do not "
            "determine how the best LR moves with the horizon"
        )
        law = replace(law, warnings=(*law.warnings, undetermined))
    return law
