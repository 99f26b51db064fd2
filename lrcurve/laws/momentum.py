"""The momentum law: scaling law with LR annealing.

Tissue et al., *Scaling Law with Learning Rate Annealing*, arXiv 2408.11029::

    L(s) = L0 + A * S1(s)^-alpha - C * S2(s)

``S1`` is the forward area (cumulative LR) and ``S2`` the annealing area, the sum of
the momentum ``m_i = lam*m_{i-1} + (eta_{i-1} - eta_i)`` (see :mod:`lrcurve.areas`).
Warmup steps count as the LR the warmup reaches in the paper (``warmup="peak"``);
the default ``warmup="actual"`` counts the warmup's real area in ``S1``, as the
multi-power law does with its ``S_W``.

``lr_exponent`` (``p``, default 1: the paper) generalises the forward area to
``S1(s) = sum_{i<=s} eta_i^p``: with ``p < 1`` a step at a low LR advances training more
than its share of the LR area. This is lrcurve's own extension, not the paper's; the
docs/accuracy.md gives the evidence for and against it.

``peak_exponents`` (``(kappa, mu)``, default ``(1, 1)``: the paper) scale ``A`` and ``C`` with
the run's peak LR (:mod:`lrcurve.laws.peak_lr`); the momentum-size law fits them on runs of
two or more peak LRs, and its fit at one size is this law with them set; likewise
``lr_coefficient`` (default 0), the momentum-size law's LR term ``+ D * eta_s`` at one size.

For fixed ``alpha`` and ``lam`` the law is linear in ``(L0, A, C)``; the starting
points come from solving that linear problem on a grid of ``(alpha, lam)``
(variable projection), so the fit needs no guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from lrcurve.areas import forward_area, lr_drops
from lrcurve.laws.base import Law, LRHistory, Param, forward_lr, running_sum, step_chunks
from lrcurve.laws.peak_lr import at_peak, log_peak

WARMUP_CONVENTIONS = ("peak", "actual")
LAM_RANGE = (0.99, 0.9999)


@dataclass(frozen=True)
class _Prepared:
    log_s1: NDArray[np.float64]  # log of the forward area at the requested steps
    cum_drops: NDArray[np.float64]  # sum of LR drops up to each requested step
    drops: NDArray[np.float64]  # per-step drops up to the last requested step
    index: NDArray[np.int64]  # requested steps as 0-based indices
    log_q: float = 0.0  # ln(peak LR / P_REF) of the run (lrcurve.laws.peak_lr)
    start_lr: float = 0.0  # the annealing term's LR at step 1: eta_s = start_lr - cum_drops


def lr_now(prepared: _Prepared) -> NDArray[np.float64]:
    """The LR (warmup held) at the requested steps, ``eta_1 - D(s)``, for the LR term."""
    return prepared.start_lr - prepared.cum_drops


def annealing_area_at(prepared: _Prepared, lam: float) -> NDArray[np.float64]:
    """``S2`` at the requested steps: ``S2(s) = (D(s) - lam*m_s) / (1 - lam)``,
    where ``D`` is the summed drops and ``m_s`` the momentum (one linear filter)."""
    return _area(prepared, lam, lfilter([1.0], [1.0, -lam], prepared.drops))


def _at_requested(prepared: _Prepared, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-step ``values`` (steps ``1..last``) at the requested steps."""
    return values if values.size == prepared.index.size else values[prepared.index]


def _area(prepared: _Prepared, lam: float, momentum: NDArray[np.float64]) -> NDArray[np.float64]:
    """``S2(s) = (D(s) - lam*m_s) / (1 - lam)`` from the momentum at every step."""
    return (prepared.cum_drops - lam * _at_requested(prepared, momentum)) / (1.0 - lam)


def annealing_area_and_slope(
    prepared: _Prepared, lam: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``S2`` and ``d S2 / d lam`` at the requested steps. ``S2`` sums the momentum, and its
    derivative ``m'_i = m_{i-1} + lam*m'_{i-1}`` is the momentum's own filter run on it one step
    late."""
    momentum = lfilter([1.0], [1.0, -lam], prepared.drops)
    slope = np.cumsum(lfilter([0.0, 1.0], [1.0, -lam], momentum))
    return _area(prepared, lam, momentum), _at_requested(prepared, slope)


def forward_columns(
    A: float, alpha: float, kappa: float, prepared: _Prepared
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The derivatives of ``A q^(-(kappa-1) alpha) S1^-alpha`` in ``A``, ``alpha`` and
    ``kappa`` (:mod:`lrcurve.laws.peak_lr`'s scaling of ``A`` with the run's peak LR)."""
    log_q = prepared.log_q
    per_A = np.exp(-alpha * (prepared.log_s1 + (kappa - 1.0) * log_q))
    term = A * per_A
    return per_A, -term * (prepared.log_s1 + (kappa - 1.0) * log_q), -term * alpha * log_q


@dataclass(frozen=True)
class MomentumLaw(Law):
    name: ClassVar[str] = "momentum"
    formula: ClassVar[str] = "L(s) = L0 + A*S1(s)^-alpha - C*S2(s)"
    reference: ClassVar[str] = (
        "Tissue et al., Scaling Law with Learning Rate Annealing, arXiv 2408.11029"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("L0", 0.0, np.inf, linear=True),
        Param("A", 1e-12, np.inf, linear=True, start_min=1e-6),
        Param("alpha", 1e-3, 3.0, grid=tuple(np.linspace(0.05, 2.0, 40).tolist())),
        Param("C", 0.0, np.inf, linear=True),
        Param(
            "lam",
            *LAM_RANGE,
            grid=tuple((1.0 - np.geomspace(1 - LAM_RANGE[0], 1 - LAM_RANGE[1], 9)).tolist()),
        ),
    )
    warmup_conventions: ClassVar[tuple[str, ...]] = WARMUP_CONVENTIONS
    keep_starts: ClassVar[int] = 3
    shapes: ClassVar[dict[str, tuple[str, ...]]] = {"C": ("lam",)}

    warmup: str = "actual"
    lr_exponent: float = 1.0
    peak_exponents: tuple[float, float] = (1.0, 1.0)
    lr_coefficient: float = 0.0  # D of the momentum-size law's LR term at one size

    def __post_init__(self) -> None:
        self.check_options()

    def lr_term(self, log_q: float) -> float:
        """The coefficient of the LR term ``+ D * eta_s`` at a run of peak ``P_REF * e^log_q``
        (scaled like ``C``; 0 unless this is a momentum-size fit at one size)."""
        if not self.lr_coefficient:
            return 0.0
        return self.lr_coefficient * float(np.exp((self.peak_exponents[1] - 1.0) * log_q))

    def at_peak(self, theta: NDArray[np.float64], log_q: float) -> NDArray[np.float64]:
        """``theta`` with ``A`` and ``C`` at a run of peak LR ``P_REF * e^log_q``."""
        if self.peak_exponents == (1.0, 1.0):
            return theta
        L0, A, alpha, C, lam = theta
        A, C = at_peak(A, alpha, C, log_q, *self.peak_exponents)
        return np.array([L0, A, alpha, C, lam])

    def forward_lr(self, history: LRHistory, n_steps: int) -> NDArray[np.float64]:
        """The per-step terms ``eta^p`` that ``S1`` sums, under this law's warmup convention."""
        return forward_lr(history, n_steps, self.warmup, self.lr_exponent)

    @staticmethod
    def loss(
        theta: NDArray[np.float64], s1: NDArray[np.float64], s2: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``L0 + A*S1^-alpha - C*S2`` from the two areas."""
        L0, A, alpha, C, _ = theta
        return L0 + A * s1 ** (-alpha) - C * s2

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _Prepared:
        index = np.asarray(steps, dtype=np.int64) - 1
        n = int(index.max()) + 1
        s1 = forward_area(self.forward_lr(history, n))
        drops = lr_drops(history.annealing_lr(self.warmup, n))
        cum_drops = np.cumsum(drops)
        every_step = index.size == n and index[0] == 0 and bool(np.all(np.diff(index) == 1))
        if not every_step:  # pick the requested steps
            s1, cum_drops = s1[index], cum_drops[index]
        start = float(history.annealing_lr(self.warmup, 1)[0]) if n else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s1 = np.log(s1)
        return _Prepared(log_s1, cum_drops, drops, index, log_peak(history), start)

    def evaluate(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        L0, A, alpha, C, lam = self.at_peak(theta, prepared.log_q)
        out = L0 + A * np.exp(-alpha * prepared.log_s1) - C * annealing_area_at(prepared, lam)
        D = self.lr_term(prepared.log_q)
        return out + D * lr_now(prepared) if D else out

    def jacobian(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        """``d evaluate / d theta``, one row per requested step (analytic)."""
        _, A, alpha, C, lam = theta
        kappa, mu = self.peak_exponents
        per_A, per_alpha, _ = forward_columns(A, alpha, kappa, prepared)
        c_scale = float(np.exp((mu - 1.0) * prepared.log_q))
        s2, slope = annealing_area_and_slope(prepared, lam)
        return np.column_stack(
            [np.ones_like(per_A), per_A, per_alpha, -c_scale * s2, -C * c_scale * slope]
        )

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        """:meth:`evaluate` at every step, a chunk at a time (the areas carried over from
        chunk to chunk: the same sums and filter as over the whole run, so the same bits)."""
        L0, A, alpha, C, lam = self.at_peak(theta, log_peak(history))
        D = self.lr_term(log_peak(history))
        n = history.lr.size
        forward = self.forward_lr(history, n)
        annealing = history.annealing_lr(self.warmup, n)
        start = float(annealing[0]) if n else 0.0
        out = np.empty(n)
        s1, cum_drops, state, before = 0.0, 0.0, np.zeros(1), 0.0
        for part in step_chunks(n):
            s1_part = running_sum(forward[part], s1)
            lr = annealing[part]
            drops = np.empty_like(lr)
            np.subtract(np.concatenate([[before], lr[:-1]]), lr, out=drops)
            if part.start == 0:
                drops[0] = 0.0
            cum = running_sum(drops, cum_drops)
            momentum, state = lfilter([1.0], [1.0, -lam], drops, zi=state)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_s1 = np.log(s1_part)
            s2 = (cum - lam * momentum) / (1.0 - lam)
            out[part] = L0 + A * np.exp(-alpha * log_s1) - C * s2
            if D:
                out[part] += D * (start - cum)
            s1, cum_drops, before = s1_part[-1], cum[-1], lr[-1]
        return out

    def annealing_term(self, prepared: _Prepared, **nonlinear: float) -> NDArray[np.float64]:
        """``S2`` at the requested steps for the given ``lam``."""
        return annealing_area_at(prepared, nonlinear["lam"])
