"""The momentum law across model sizes.

Tissue et al., *Scaling Law with Learning Rate Annealing*, arXiv 2408.11029, extended to the
model size ``N`` as the issue (15) writes it::

    L(s, N) = L0 + A * S1(s)^-alpha + B * n^-beta - C * S2(s) * n^gamma,    n = N / 1e9

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

The law is linear in ``(L0, A, B, C)`` at fixed ``(alpha, beta, gamma, lam)``: its starting
points come from :func:`lrcurve.laws.base.power_law_starts` (variable projection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError
from lrcurve.laws.base import FitData, LRHistory, Param
from lrcurve.laws.momentum import MomentumLaw, _Prepared, annealing_area_at
from lrcurve.laws.peak_lr import KAPPA_START, at_peak, peak_holds
from lrcurve.sizes import decays, distinct

SIZE_UNIT = 1e9  # n = N / SIZE_UNIT
BETA_PRIOR = 0.34  # Hoffmann et al. 2022 (Chinchilla), L = E + A/N^0.34 + B/D^0.28


@dataclass(frozen=True)
class _SizedPrepared:
    base: _Prepared
    n: float  # the model size in units of SIZE_UNIT

    @property
    def log_s1(self) -> NDArray[np.float64]:
        return self.base.log_s1


def size_holds(
    histories: Sequence[LRHistory], law_name: str, offset_param: str, decayed_param: str
) -> dict[str, tuple[float, str]]:
    """The size exponents runs of too few sizes cannot pin, held (value, why): that of the
    offset's size term (``offset_param``) at :data:`BETA_PRIOR` with two sizes, that of the
    annealing term (``decayed_param``) at 0 when decayed runs have one size. Refuses a single
    size."""
    sizes = distinct(h.model_size for h in histories)
    if len(sizes) < 2:
        raise ParameterError(
            f"the {law_name} law needs runs of at least two model sizes (got "
            f"{len(sizes)}); fit one size with the size-free law",
            param="model_size",
        )
    held: dict[str, tuple[float, str]] = {}
    if len(sizes) < 3:
        held[offset_param] = (BETA_PRIOR, "two model sizes cannot pin the offset's size term")
    decayed = [h for h in histories if decays(h.held)]
    if len(distinct(h.model_size for h in decayed)) < 2:
        held[decayed_param] = (0.0, "runs that decay their LR are of one size only")
    return held


@dataclass(frozen=True)
class MomentumSizeLaw(MomentumLaw):
    name: ClassVar[str] = "momentum-size"
    formula: ClassVar[str] = "L(s,N) = L0 + A*S1(s)^-alpha + B*n^-beta - C*S2(s)*n^gamma, n = N/1e9"
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
    )
    size_aware: ClassVar[bool] = True

    @staticmethod
    def reduced(theta: NDArray[np.float64], n: float, log_q: float = 0.0) -> NDArray[np.float64]:
        """The size-free momentum law's ``(L0, A, alpha, C, lam)`` at ``n = N / 1e9`` and a
        peak LR of ``P_REF * e^log_q``."""
        L0, A, alpha, B, beta, C, gamma, lam, kappa, mu = theta
        A, C = at_peak(A, alpha, C * n**gamma, log_q, kappa, mu)
        return np.array([L0 + B * n ** (-beta), A, alpha, C, lam])

    def at_size(
        self, theta: NDArray[np.float64], n_params: float
    ) -> tuple[MomentumLaw, NDArray[np.float64]]:
        kappa, mu = theta[-2:]
        law = MomentumLaw(
            warmup=self.warmup, lr_exponent=self.lr_exponent, peak_exponents=(kappa, mu)
        )
        return law, self.reduced(theta, n_params / SIZE_UNIT)

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _SizedPrepared:
        n = self.model_size(history) / SIZE_UNIT
        return _SizedPrepared(super().prepare(history, steps), n)

    def evaluate(self, theta: NDArray[np.float64], prepared: _SizedPrepared) -> NDArray[np.float64]:
        base = prepared.base
        return super().evaluate(self.reduced(theta, prepared.n, base.log_q), base)

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        n = self.model_size(history) / SIZE_UNIT
        law, reduced = self.at_size(theta, n * SIZE_UNIT)
        return law.every_step(reduced, history)

    def linear_columns(
        self, prepared: _SizedPrepared, **nonlinear: float
    ) -> list[NDArray[np.float64]]:
        """The columns of ``B`` and ``C``: ``n^-beta`` and ``-S2 n^gamma q^(mu-1)``."""
        s2 = annealing_area_at(prepared.base, nonlinear["lam"])
        n = prepared.n
        scale = n ** nonlinear["gamma"] * np.exp((nonlinear["mu"] - 1.0) * prepared.base.log_q)
        return [np.full(s2.shape, n ** -nonlinear["beta"]), -s2 * scale]

    def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
        return {**size_holds(histories, self.name, "beta", "gamma"), **peak_holds(histories)}

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        """The variable-projection starts (at ``kappa = 1``) and, when the runs can pin
        ``kappa``, each again at :data:`KAPPA_START` (``A`` kept at ``P_REF``)."""
        starts = super().initial_guesses(data)
        if "kappa" in self.held_values([d.history for d in data]):
            return starts
        (k,) = self.index("kappa")
        return starts + [np.r_[s[:k], KAPPA_START, s[k + 1 :]] for s in starts]
