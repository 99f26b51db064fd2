"""The multi-power law: the loss curve as a power law minus a sum of power-law drops.

Luo et al., *A Multi-Power Law for Loss Curve Prediction Across Learning Rate
Schedules*, arXiv 2503.12811::

    L(t)  = L0 + A * (S1(t) + S_W)^-alpha - LD(t)
    LD(t) = B * sum_{k=1..t} (eta_{k-1} - eta_k) * G(eta_k^-gamma * S_k(t))
    G(x)  = 1 - (C*x + 1)^-beta,        S_k(t) = sum_{tau=k..t} eta_tau

``S1`` is the forward area after warmup and ``S_W`` the warmup's area (both sums of
``eta^p`` with ``lr_exponent=p``, as in :mod:`lrcurve.laws.momentum`; default 1): with the
default ``warmup="actual"`` the warmup counts with the LR it really had, with
``warmup="peak"`` every warmup step counts at the LR the warmup reaches, and with
``warmup="full"`` (the paper's code) the warmup's rise also enters ``LD`` as run
(:data:`lrcurve.laws.base.WARMUP_AS_RUN`). Each LR drop
``eta_{k-1} - eta_k`` buys a loss reduction that grows with the area trained
since, saturating at ``B`` times the drop; a rise (re-warmup) costs loss the same way.

The loss drop ``LD`` is evaluated fast by :mod:`lrcurve.laws.loss_drop` (a Barnes-Hut
walk over the LR changes, and Hermite interpolation between knots for dense requests).

The parameters ``(L0, A, B)`` enter linearly; starting points come from solving for
them on a grid of the nonlinear ``(alpha, C, beta, gamma)`` (variable projection,
:func:`lrcurve.laws.base.power_law_starts`). The
fit uses the analytic Jacobian (:meth:`MultiPowerLaw.jacobian`: the derivatives of ``G``
summed over the same block terms in one walk), about twice as fast as finite differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.areas import forward_area
from lrcurve.errors import ParameterError
from lrcurve.laws.base import Law, LRHistory, Param, forward_lr, running_sum, step_chunks
from lrcurve.laws.knots import Knots
from lrcurve.laws.loss_drop import (
    DEFAULT_TOLERANCE,
    GAMMA_MAX,
    LossDrop,
    loss_drop_direct,
    loss_drop_every_step,
)
from lrcurve.laws.peak_lr import log_peak

__all__ = ["Knots", "LossDrop", "MultiPowerLaw", "loss_drop_direct"]

WARMUP_CONVENTIONS = ("peak", "actual", "full")
# beta at a bound is at the law's limit when one decade further along it moves no predicted
# loss of the fitted runs by more than this (relative): forward-momentum's criterion for eps
LIMIT_CHANGE = 1e-3
LINEAR = ("L0", "A", "alpha")  # the power-law part
DROP = ("B", "C", "beta", "gamma")  # the loss drop's parameters, in LossDrop's order


@dataclass(frozen=True)
class _Prepared:
    log_s1: NDArray[np.float64]  # log(S1 + S_W) at the requested steps
    loss_drop: LossDrop
    lr_now: NDArray[np.float64]  # the LR (warmup held) at the requested steps
    log_q: float = 0.0  # ln(peak LR / P_REF) of the run (lrcurve.laws.peak_lr)


@dataclass(frozen=True)
class MultiPowerLaw(Law):
    name: ClassVar[str] = "multipower"
    formula: ClassVar[str] = (
        "L(t) = L0 + A*(S1(t)+S_W)^-alpha"
        " - B*sum_k (eta_{k-1}-eta_k)*(1-(C*eta_k^-gamma*S_k(t)+1)^-beta)"
    )
    reference: ClassVar[str] = (
        "Luo et al., A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules, "
        "arXiv 2503.12811"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("L0", 0.0, np.inf, linear=True),
        Param("A", 1e-12, np.inf, linear=True, start_min=1e-6),
        Param("alpha", 1e-3, 3.0, grid=tuple(np.linspace(0.1, 1.2, 23).tolist())),
        Param("B", 0.0, np.inf, linear=True),
        Param("C", 1e-6, 1e6, grid=(0.5, 2.0, 8.0)),
        Param("beta", 1e-3, 3.0, grid=(0.3, 0.6, 1.0)),
        Param("gamma", 0.0, GAMMA_MAX, grid=(0.3, 0.6, 0.9)),
    )
    warmup_conventions: ClassVar[tuple[str, ...]] = WARMUP_CONVENTIONS
    keep_starts: ClassVar[int] = 4

    warmup: str = "actual"
    tolerance: float = DEFAULT_TOLERANCE
    lr_exponent: float = 1.0
    # (kappa, mu) of lrcurve.laws.peak_lr: A and B scaled with the run's peak LR; set by the
    # multipower-size law's fit at one size, (1, 1) (the published law) otherwise
    peak_exponents: tuple[float, float] = (1.0, 1.0)
    lr_coefficient: float = 0.0  # D of the multipower-size law's LR term at one size

    def __post_init__(self) -> None:
        self.check_options()
        if not 0.0 <= self.tolerance <= 1.0:
            raise ParameterError(f"must be in [0, 1], got {self.tolerance}", param="law.tolerance")

    def peak_factors(self, alpha: Any, log_q: float) -> tuple[Any, float]:
        """The factors ``q^(-(kappa-1)*alpha)`` and ``q^(mu-1)`` on ``A`` and ``B``."""
        kappa, mu = self.peak_exponents
        return np.exp(-(kappa - 1.0) * alpha * log_q), float(np.exp((mu - 1.0) * log_q))

    def lr_term(self, log_q: float) -> float:
        """The coefficient of the LR term ``+ D * eta_t`` at a run of peak ``P_REF * e^log_q``
        (scaled like ``B``; 0 unless this is a multipower-size fit at one size)."""
        if not self.lr_coefficient:
            return 0.0
        return self.lr_coefficient * self.peak_factors(0.0, log_q)[1]

    def at_peak(self, thetas: NDArray[np.float64], log_q: float) -> NDArray[np.float64]:
        """Rows of ``thetas`` with ``A`` and ``B`` at a run of peak ``P_REF * e^log_q``."""
        if self.peak_exponents == (1.0, 1.0) or log_q == 0.0:
            return thetas
        (a, alpha, b) = self.index("A", "alpha", "B")
        out = np.array(thetas, dtype=np.float64)
        f_a, f_b = self.peak_factors(out[..., alpha], log_q)
        out[..., a] *= f_a
        out[..., b] *= f_b
        return out

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _Prepared:
        steps = np.asarray(steps, dtype=np.int64)
        n = int(steps.max())
        s1 = forward_area(forward_lr(history, n, self.warmup, self.lr_exponent))
        drop_lr = history.annealing_lr(self.warmup, n)
        loss_drop = LossDrop.of(drop_lr, steps, self.tolerance)
        lr_now = history.held[steps - 1]
        return _Prepared(np.log(s1[steps - 1]), loss_drop, lr_now, log_peak(history))

    def evaluate(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        return self.evaluate_many(np.asarray(theta)[None, :], prepared)[0]

    def evaluate_many(
        self, thetas: NDArray[np.float64], prepared: _Prepared
    ) -> NDArray[np.float64]:
        thetas = self.at_peak(np.asarray(thetas, dtype=np.float64), prepared.log_q)
        L0, A, alpha = (thetas[:, i, None] for i in self.index(*LINEAR))
        drop = prepared.loss_drop.many(thetas[:, self.index(*DROP)])
        out = L0 + A * np.exp(-alpha * prepared.log_s1) - drop
        D = self.lr_term(prepared.log_q)
        return out + D * prepared.lr_now if D else out

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        """:meth:`evaluate` at every step, to the bit, in less memory: ``LD`` without the
        interpolation map (:func:`loss_drop_every_step`), the power part a chunk at a time."""
        n = history.lr.size
        thetas = self.at_peak(np.asarray(theta, dtype=np.float64)[None, :], log_peak(history))
        L0, A, alpha = (thetas[:, i, None] for i in self.index(*LINEAR))
        drop_lr = history.annealing_lr(self.warmup, n)
        out = loss_drop_every_step(drop_lr, thetas[:, self.index(*DROP)], self.tolerance)[0]
        forward = forward_lr(history, n, self.warmup, 1.0)
        D = self.lr_term(log_peak(history))
        s1 = 0.0
        for part in step_chunks(n):
            terms = forward[part]
            if self.lr_exponent != 1.0:
                terms = np.power(terms, self.lr_exponent)
            s1_part = running_sum(terms, s1)
            out[part] = (L0 + A * np.exp(-alpha * np.log(s1_part)) - out[part])[0]
            if D:
                out[part] += D * history.held[part]
            s1 = s1_part[-1]
        return out

    def jacobian(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        """``d evaluate / d theta``, one row per requested step (analytic, one tree walk;
        through the peak-LR factors on ``A`` and ``B`` when they are set)."""
        scaled = self.at_peak(np.asarray(theta, dtype=np.float64), prepared.log_q)
        A, alpha = scaled[self.index("A", "alpha")]
        power = np.exp(-alpha * prepared.log_s1)
        drop = prepared.loss_drop.with_gradient(*scaled[self.index(*DROP)])
        f_a, f_b = self.peak_factors(alpha, prepared.log_q)
        kappa = self.peak_exponents[0]
        by_name = {
            "L0": np.ones_like(power),
            "A": power * f_a,
            "alpha": -A * (prepared.log_s1 + (kappa - 1.0) * prepared.log_q) * power,
            **{name: -row for name, row in zip(DROP, drop[1:])},
        }
        by_name["B"] = by_name["B"] * f_b
        return np.column_stack([by_name[name] for name in self.param_names])

    def at_limit(self, theta: NDArray[np.float64], prepared: Sequence[Any]) -> tuple[str, ...]:
        """``beta`` at a bound where ``G`` has reached a limit on these runs, and ``gamma`` at
        its cap :data:`GAMMA_MAX`: the fit holds them there without a bound warning.

        ``beta -> 0`` with ``B*beta`` fixed: ``B*G -> B*beta*ln(1 + C*x)``; ``beta -> inf``
        with ``C*beta`` fixed: ``G -> 1 - exp(-C*beta*x)``. The distance to either limit
        shrinks in proportion to ``beta`` (``1/beta``), so one decade further along it (the
        check here) moves the predictions ~0.9 of the way to the limit. ``gamma``'s cap is the
        loss-drop walk's (its error bound assumes it), not a limit of the law: constant and
        cosine runs alone pin ``C`` and ``gamma`` only along a ridge that reaches it (docs/laws.md
        gives the fits' evidence)."""
        theta = np.asarray(theta, dtype=np.float64)
        b, c, beta, gamma = self.index("B", "C", "beta", "gamma")
        lower, upper = self.bounds()
        found = []
        further = theta.copy()
        if theta[beta] <= lower[beta] * (1 + 1e-6):  # the logarithmic limit
            further[[beta, b]] = theta[beta] / 10, theta[b] * 10
        elif theta[beta] >= upper[beta] * (1 - 1e-6):  # the exponential limit
            further[[beta, c]] = theta[beta] * 10, theta[c] / 10
        if further[beta] != theta[beta] and all(
            np.max(np.abs(self.evaluate(further, p) / self.evaluate(theta, p) - 1)) <= LIMIT_CHANGE
            for p in prepared
        ):
            found.append("beta")
        if theta[gamma] >= upper[gamma] * (1 - 1e-6):
            found.append("gamma")
        return tuple(found)

    def annealing_term(self, prepared: _Prepared, **nonlinear: float) -> NDArray[np.float64]:
        """``LD`` at ``B = 1`` for the given ``C``, ``beta`` and ``gamma``."""
        return prepared.loss_drop(1.0, nonlinear["C"], nonlinear["beta"], nonlinear["gamma"])
