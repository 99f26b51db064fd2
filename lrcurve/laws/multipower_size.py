"""The multi-power law across model sizes: two of its parameters as power laws in ``N``.

Luo et al., arXiv 2503.12811 (the law; :mod:`lrcurve.laws.multipower`), with ``n = N / 1e9``::

    L(t, N) = L0 + E * n^-eps + A * (S1(t) + S_W)^-alpha - B * n^zeta * LD_1(t; C, beta, gamma)
              + D * n^zeta * eta_t

``LD_1`` is the loss drop at ``B = 1``. What varies with ``N``, and why (lrcurve's choice; the
paper fits each size on its own):

- the offset ``L0 + E n^-eps``: the model-size term of the Chinchilla law (Hoffmann et al.
  2022), the loss a larger model reaches at any amount of training (the paper's fitted ``L0``
  falls with size);
- the loss-drop amplitude ``B n^zeta``: how much an LR decay buys grows or shrinks with size
  (the momentum law's ``C N^gamma``, arXiv 2408.11029);
- ``A`` and ``alpha`` stay shared: the data term of the Chinchilla law does not depend on
  ``N``, and the S1 exponent is a property of the optimisation, pinned best by all sizes at once;
- ``C``, ``beta``, ``gamma`` (how fast a drop saturates with the LR area after it) stay
  shared: a handful of decayed runs per size cannot pin a size trend in them.

As with the momentum-size law, ``eps`` is held at the Chinchilla exponent with two sizes only,
and ``zeta`` at 0 when decayed runs have one size (:func:`size_holds`); ``kappa`` and ``mu``
scale ``A`` and ``B`` with each run's peak LR (:mod:`lrcurve.laws.peak_lr`), held at 1 unless
the runs have two or more peak LRs. ``D n^zeta q^(mu-1) eta_t`` is the momentum-size law's
LR term (:mod:`lrcurve.laws.momentum_size`: the loss a run carries while its LR is high, ``eta_t``
its LR with the warmup held), held at 0 when no run decays its LR; a fit file from before it
loads with it held at 0. The law is linear in ``(L0, A, B, E, D)``: its starting points come
from :func:`lrcurve.laws.base.power_law_starts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.laws.base import FitData, LRHistory, Param
from lrcurve.laws.momentum_size import SIZE_UNIT, size_holds
from lrcurve.laws.multipower import MultiPowerLaw
from lrcurve.laws.peak_lr import KAPPA_START, at_peak, peak_holds
from lrcurve.sizes import decays

SIZE_PARAMS = ("E", "eps", "zeta")


@dataclass(frozen=True)
class _SizedPrepared:
    base: Any  # the multi-power law's prepared run
    n: float  # the model size in units of SIZE_UNIT
    drops: dict[tuple[float, float, float], NDArray[np.float64]] = field(default_factory=dict)

    @property
    def log_s1(self) -> NDArray[np.float64]:
        return self.base.log_s1


@dataclass(frozen=True)
class MultiPowerSizeLaw(MultiPowerLaw):
    name: ClassVar[str] = "multipower-size"
    formula: ClassVar[str] = (
        "L(t,N) = L0 + E*n^-eps + A*(S1(t)+S_W)^-alpha - B*n^zeta*sum_k (eta_{k-1}-eta_k)"
        "*(1-(C*eta_k^-gamma*S_k(t)+1)^-beta) + D*n^zeta*eta_t, n = N/1e9"
    )
    reference: ClassVar[str] = (
        "Luo et al., A Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules, "
        "arXiv 2503.12811; size terms as in Hoffmann et al. 2022 and arXiv 2408.11029"
    )
    params: ClassVar[tuple[Param, ...]] = (
        *MultiPowerLaw.params,
        Param("E", 0.0, np.inf, linear=True),
        Param("eps", 1e-3, 2.0, grid=(0.15, 0.34, 0.6)),
        Param("zeta", -2.0, 2.0, grid=(-0.3, 0.0, 0.3)),
        Param("kappa", -1.0, 3.0, grid=(1.0,), added_at=1.0),  # and KAPPA_START
        Param("mu", -2.0, 4.0, grid=(0.0, 1.0), added_at=1.0),
        Param("D", 0.0, np.inf, linear=True, added_at=0.0),
    )
    size_aware: ClassVar[bool] = True

    @classmethod
    def reduced(
        cls, theta: NDArray[np.float64], n: float, log_q: float = 0.0
    ) -> NDArray[np.float64]:
        """The size-free multi-power law's parameters at ``n = N / 1e9`` and a peak LR of
        ``P_REF * e^log_q``."""
        base = np.array(theta[: len(MultiPowerLaw.params)], dtype=np.float64)
        E, eps, zeta, kappa, mu = theta[cls.index(*SIZE_PARAMS, "kappa", "mu")]
        a, alpha, b = MultiPowerLaw.index("A", "alpha", "B")
        base[0] += E * n ** (-eps)
        base[a], base[b] = at_peak(base[a], base[alpha], base[b] * n**zeta, log_q, kappa, mu)
        return base

    def _base(self) -> MultiPowerLaw:
        return MultiPowerLaw(self.warmup, self.tolerance, self.lr_exponent)

    def at_size(
        self, theta: NDArray[np.float64], n_params: float
    ) -> tuple[MultiPowerLaw, NDArray[np.float64]]:
        zeta, kappa, mu, D = theta[self.index("zeta", "kappa", "mu", "D")]
        n = n_params / SIZE_UNIT
        law = MultiPowerLaw(
            self.warmup, self.tolerance, self.lr_exponent, (kappa, mu), float(D * n**zeta)
        )
        return law, self.reduced(theta, n)

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _SizedPrepared:
        n = self.model_size(history) / SIZE_UNIT
        return _SizedPrepared(self._base().prepare(history, steps), n)

    def evaluate_many(
        self, thetas: NDArray[np.float64], prepared: _SizedPrepared
    ) -> NDArray[np.float64]:
        log_q, thetas = prepared.base.log_q, np.atleast_2d(thetas)
        reduced = np.array([self.reduced(t, prepared.n, log_q) for t in thetas])
        out = self._base().evaluate_many(reduced, prepared.base)
        zeta, mu, D = (thetas[:, i, None] for i in self.index("zeta", "mu", "D"))
        if not D.any():  # held at 0: the law without the LR term, to the bit
            return out
        return out + D * prepared.n**zeta * np.exp((mu - 1.0) * log_q) * prepared.base.lr_now

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        law, reduced = self.at_size(theta, self.model_size(history))
        return law.every_step(reduced, history)

    def jacobian(self, theta: NDArray[np.float64], prepared: _SizedPrepared) -> NDArray[np.float64]:
        """The multi-power law's analytic Jacobian at the reduced parameters, by the chain rule
        through ``L0 + E n^-eps``, ``A q^(-(kappa-1) alpha)`` and ``B n^zeta q^(mu-1)``, and
        the LR term's ``D n^zeta q^(mu-1) eta_t``."""
        n, log_q, base = prepared.n, prepared.base.log_q, self._base()
        reduced = self.reduced(theta, n, log_q)
        inner = base.jacobian(reduced, prepared.base)
        E, eps, zeta, kappa, mu, alpha, D = theta[
            self.index(*SIZE_PARAMS, "kappa", "mu", "alpha", "D")
        ]
        i_l0, i_a, i_alpha, i_b = base.index("L0", "A", "alpha", "B")
        offset = n ** (-eps)
        d_l0, d_a, d_b = inner[:, i_l0].copy(), inner[:, i_a].copy(), inner[:, i_b].copy()
        scaled_a, scaled_b = reduced[i_a], reduced[i_b]  # A and B as the run sees them
        inner[:, i_a] = d_a * np.exp(-(kappa - 1.0) * alpha * log_q)
        inner[:, i_alpha] += d_a * scaled_a * (-(kappa - 1.0) * log_q)
        scale = n**zeta * np.exp((mu - 1.0) * log_q)  # on B and D
        inner[:, i_b] = d_b * scale
        lr_term = scale * prepared.base.lr_now  # d / dD
        size_columns = [
            d_l0 * offset,
            -d_l0 * E * offset * np.log(n),
            (d_b * scaled_b + D * lr_term) * np.log(n),
            d_a * scaled_a * (-alpha * log_q),
            (d_b * scaled_b + D * lr_term) * log_q,
            lr_term,
        ]
        return np.column_stack([inner, *size_columns])

    def linear_columns(
        self, prepared: _SizedPrepared, **nonlinear: float
    ) -> list[NDArray[np.float64]]:
        """The columns of ``B``, ``E`` and ``D``: ``-LD_1 n^zeta q^(mu-1)``, ``n^-eps`` and
        ``eta_t n^zeta q^(mu-1)`` (``LD_1`` kept per ``(C, beta, gamma)``: the size exponents'
        grid reuses it)."""
        key = (nonlinear["C"], nonlinear["beta"], nonlinear["gamma"])
        if key not in prepared.drops:
            prepared.drops[key] = self._base().annealing_term(prepared.base, **nonlinear)
        drop, n = prepared.drops[key], prepared.n
        scale = n ** nonlinear["zeta"] * np.exp((nonlinear["mu"] - 1.0) * prepared.base.log_q)
        columns = [-drop * scale, np.full(drop.shape, n ** -nonlinear["eps"])]
        return columns + [prepared.base.lr_now * scale]

    def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
        held = {**size_holds(histories, self.name, "eps", "zeta"), **peak_holds(histories)}
        if not any(decays(h.held) for h in histories):
            held["D"] = (0.0, "")  # a constant LR per run: the LR term is an offset per run
        return held

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        """The variable-projection starts (at ``kappa = 1``) and, when the runs can pin
        ``kappa``, the best two again at :data:`KAPPA_START` (each start of this law is a
        slow fit)."""
        starts = super().initial_guesses(data)
        if "kappa" in self.held_values([d.history for d in data]):
            return starts
        (k,) = self.index("kappa")
        return starts + [np.r_[s[:k], KAPPA_START, s[k + 1 :]] for s in starts[:2]]
