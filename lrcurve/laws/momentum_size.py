"""The momentum law across model sizes.

Tissue et al., *Scaling Law with Learning Rate Annealing*, arXiv 2408.11029, extended to the
model size ``N`` as the issue (15) writes it::

    L(s, N) = L0 + A * S1(s)^-alpha + B * n^-beta - C * S2(s) * n^gamma,    n = N / 1e9
              (+ D * eta_s * n^gamma: the LR term, below)

``S1``, ``S2`` and ``lam`` are those of :mod:`lrcurve.laws.momentum`; ``n`` is the parameter
count in billions (so ``B`` and ``C`` stay of the order of the loss). At one size the law is
the size-free momentum law with ``L0 + B n^-beta`` for its ``L0`` and ``C n^gamma`` for its
``C`` (:meth:`MomentumSizeLaw.reduced`), so the two agree to the bit there.

What the runs can pin: ``L0``, ``B`` and ``beta`` need three sizes (two give two offsets), and
``gamma`` needs decayed runs at two sizes. With fewer, the fit holds ``beta`` at
:data:`BETA_PRIOR` (Hoffmann et al. 2022, the ``N`` exponent of the Chinchilla law) or
``gamma`` at 0 (the annealing gain as at the fitted size), and says so.

``kappa`` and ``mu`` scale ``A`` and ``C`` with each run's peak LR
(:mod:`lrcurve.laws.peak_lr`): held at 1 (the law above) unless the runs have two or more
peak LRs, as the lr-scheduling scaling families do (cosine runs at twice the peak LR of the
constant runs and their cooldowns).

**The LR term** (lrcurve's, not the paper's): ``+ D * n^gamma * q^(mu-1) * eta_s``, a loss
that follows the run's current LR ``eta_s`` (warmup held) at once, scaled like the annealing
term. It is the momentum law's ``C S2`` with no memory (``lam -> 0``) but counted from 0
rather than from the peak: a run at a higher LR sits higher while its LR is high (the noise
floor of SGD) and gets it back as the LR falls. Without it one ``lam`` serves the slow gain of
a cosine and the fast one of a short cooldown, and fits neither (docs/model-size.md). ``D`` is
held at 0 (the law above, to the bit) when no run decays its LR; a fit file from before it
loads with it held at 0. Chosen on the OpenWebText2 scaling family (60M + 93M -> 166M: 0.82 %
-> 0.46 % mean MAPE) and the multipowerlaw pair (0.17 % -> 0.15 %), against an S1 summing a
power of the LR, a memory depending on the peak LR or on the LR, and a second memory.

The law is linear in ``(L0, A, B, C, D)`` at fixed ``(alpha, beta, gamma, lam)``: its
starting points come from :func:`lrcurve.laws.base.power_law_starts` (variable projection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError
from lrcurve.laws.base import FitData, LRHistory, Param
from lrcurve.laws.momentum import (
    MomentumLaw,
    _Prepared,
    annealing_area_and_slope,
    annealing_area_at,
    forward_columns,
    lr_now,
)
from lrcurve.laws.peak_lr import KAPPA_START, at_peak, peak_holds
from lrcurve.sizes import decays, distinct

SIZE_UNIT = 1e9  # n = N / SIZE_UNIT
BETA_PRIOR = 0.34  # Hoffmann et al. 2022 (Chinchilla), L = E + A/N^0.34 + B/D^0.28
DECAYED_ONE_SIZE = (
    "runs that decay their LR are of one size only (a short cooldown of another size pins how "
    "the annealing gain grows with size)"
)


@dataclass(frozen=True)
class _SizedPrepared:
    base: _Prepared
    n: float  # the model size in units of SIZE_UNIT

    @property
    def log_s1(self) -> NDArray[np.float64]:
        return self.base.log_s1


def size_holds(
    histories: Sequence[LRHistory],
    law_name: str,
    offset_param: str,
    decayed_param: str,
    one_size: bool = False,
) -> dict[str, tuple[float, str]]:
    """The size exponents runs of too few sizes cannot pin, held (value, why): that of the
    offset's size term (``offset_param``) at :data:`BETA_PRIOR` with two sizes (or one), that
    of the annealing term (``decayed_param``) at 0 when decayed runs have one size. Refuses a
    single size unless ``one_size`` (a law whose size terms vanish at one size)."""
    sizes = distinct(h.model_size for h in histories)
    if len(sizes) < 2 and not one_size:
        raise ParameterError(
            f"the {law_name} law needs runs of at least two model sizes (got "
            f"{len(sizes)}); fit one size with the size-free law",
            param="model_size",
        )
    held: dict[str, tuple[float, str]] = {}
    if len(sizes) < 3:
        held[offset_param] = (BETA_PRIOR, "two model sizes cannot pin the offset's size term")
    annealing = annealing_size_hold(histories)
    if annealing is not None:
        held[decayed_param] = annealing
    return held


def annealing_size_hold(histories: Sequence[LRHistory]) -> tuple[float, str] | None:
    """The annealing term's size exponent held at 0 (value, why) unless runs that decay their
    LR have two sizes or more."""
    decayed = distinct(h.model_size for h in histories if decays(h.held))
    if not decayed:
        return 0.0, "no run decays its LR"
    return (0.0, DECAYED_ONE_SIZE) if len(decayed) < 2 else None


@dataclass(frozen=True)
class MomentumSizeLaw(MomentumLaw):
    name: ClassVar[str] = "momentum-size"
    formula: ClassVar[str] = (
        "L(s,N) = L0 + A*S1(s)^-alpha + B*n^-beta - (C*S2(s) - D*eta_s)*n^gamma, n = N/1e9"
    )
    reference: ClassVar[str] = (
        "Tissue et al., Scaling Law with Learning Rate Annealing, arXiv 2408.11029 (sec. on "
        "model size)"
    )
    params: ClassVar[tuple[Param, ...]] = (
        *MomentumLaw.params[:3],  # L0, A, alpha
        Param("B", 0.0, np.inf, linear=True),
        Param("beta", 1e-3, 2.0, grid=(0.1, 0.2, 0.34, 0.5, 0.8)),
        MomentumLaw.params[3],  # C
        Param("gamma", -2.0, 2.0, grid=(-0.5, -0.2, 0.0, 0.2, 0.5)),
        MomentumLaw.params[4],  # lam
        Param("kappa", -1.0, 3.0, grid=(1.0,), added_at=1.0),  # and KAPPA_START
        Param("mu", -2.0, 4.0, grid=(0.0, 1.0), added_at=1.0),
        Param("D", 0.0, np.inf, linear=True, added_at=0.0),
    )
    size_aware: ClassVar[bool] = True

    @staticmethod
    def reduced(theta: NDArray[np.float64], n: float, log_q: float = 0.0) -> NDArray[np.float64]:
        """The size-free momentum law's ``(L0, A, alpha, C, lam)`` at ``n = N / 1e9`` and a
        peak LR of ``P_REF * e^log_q``."""
        L0, A, alpha, B, beta, C, gamma, lam, kappa, mu = theta[:10]
        A, C = at_peak(A, alpha, C * n**gamma, log_q, kappa, mu)
        return np.array([L0 + B * n ** (-beta), A, alpha, C, lam])

    def at_size(
        self, theta: NDArray[np.float64], n_params: float
    ) -> tuple[MomentumLaw, NDArray[np.float64]]:
        """The momentum law at ``n_params`` with the peak-LR exponents and the LR term's
        ``D n^gamma`` as options."""
        n = n_params / SIZE_UNIT
        gamma, kappa, mu, D = theta[self.index("gamma", "kappa", "mu", "D")]
        law = MomentumLaw(
            warmup=self.warmup,
            lr_exponent=self.lr_exponent,
            peak_exponents=(kappa, mu),
            lr_coefficient=float(D * n**gamma),
        )
        return law, self.reduced(theta, n)

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _SizedPrepared:
        n = self.model_size(history) / SIZE_UNIT
        return _SizedPrepared(super().prepare(history, steps), n)

    def evaluate(self, theta: NDArray[np.float64], prepared: _SizedPrepared) -> NDArray[np.float64]:
        base = prepared.base
        out = super().evaluate(self.reduced(theta, prepared.n, base.log_q), base)
        gamma, mu, D = theta[self.index("gamma", "mu", "D")]
        if not D:  # held at 0: the law without the LR term, to the bit
            return out
        return out + D * prepared.n**gamma * float(np.exp((mu - 1.0) * base.log_q)) * lr_now(base)

    def jacobian(self, theta: NDArray[np.float64], prepared: _SizedPrepared) -> NDArray[np.float64]:
        """``d evaluate / d theta``, one row per requested step (analytic, by the chain rule
        through :meth:`reduced` and the LR term)."""
        base, n = prepared.base, prepared.n
        _, A, alpha, B, beta, C, gamma, lam, kappa, mu, D = theta[:11]
        per_A, per_alpha, per_kappa = forward_columns(A, alpha, kappa, base)
        scale = n**gamma * float(np.exp((mu - 1.0) * base.log_q))  # of C's and D's terms
        s2, slope = annealing_area_and_slope(base, lam)
        eta = lr_now(base)
        scaled = scale * (D * eta - C * s2)  # the annealing and LR terms together
        offset = np.full(per_A.shape, n ** (-beta))
        columns = [
            np.ones_like(per_A),  # L0
            per_A,
            per_alpha,
            offset,  # B
            -B * np.log(n) * offset,  # beta
            -scale * s2,  # C
            scaled * np.log(n),  # gamma
            -C * scale * slope,  # lam
            per_kappa,
            scaled * base.log_q,  # mu
            scale * eta,  # D
        ]
        return np.column_stack(columns)

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        n = self.model_size(history) / SIZE_UNIT
        law, reduced = self.at_size(theta, n * SIZE_UNIT)
        return law.every_step(reduced, history)

    def linear_columns(
        self, prepared: _SizedPrepared, **nonlinear: float
    ) -> list[NDArray[np.float64]]:
        """The columns of ``B``, ``C`` and ``D``: ``n^-beta``, ``-S2 n^gamma q^(mu-1)`` and
        ``eta_s n^gamma q^(mu-1)``."""
        s2 = annealing_area_at(prepared.base, nonlinear["lam"])
        n = prepared.n
        scale = n ** nonlinear["gamma"] * np.exp((nonlinear["mu"] - 1.0) * prepared.base.log_q)
        columns = [np.full(s2.shape, n ** -nonlinear["beta"]), -s2 * scale]
        return columns + [lr_now(prepared.base) * scale]

    def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
        held = {**size_holds(histories, self.name, "beta", "gamma"), **peak_holds(histories)}
        if not any(decays(h.held) for h in histories):
            held["D"] = (0.0, "")  # a constant LR per run: the LR term is an offset per run
        return held

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        """The variable-projection starts (at ``kappa = 1``) and, when the runs can pin
        ``kappa``, each again at :data:`KAPPA_START` (``A`` kept at ``P_REF``)."""
        starts = super().initial_guesses(data)
        if "kappa" in self.held_values([d.history for d in data]):
            return starts
        (k,) = self.index("kappa")
        return starts + [np.r_[s[:k], KAPPA_START, s[k + 1 :]] for s in starts]
