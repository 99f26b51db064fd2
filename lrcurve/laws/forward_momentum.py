"""The Forward–Momentum law: a power law in the LR area minus an Adam-normalised annealing sum.

Wang et al., *Scaling and Transferability of Annealing Strategies in Large Language Model
Training*, AAAI 2026, arXiv 2512.13705 (code: github.com/xmed-lab/fm-annealing)::

    L(s)    = L0 + A * S(s)^-alpha - C * M_eps(s)                 (forward-momentum)
    L(s, N) = L0 + A * S(s)^-alpha + B * n^-beta - C * M_eps(s)   (forward-momentum-size)

    S(s)     = sum_{i<=s} eta_i^p                                 the forward effect
    d_i      = eta_{i-1} - eta_i          (d_1 = 0)               the LR drop at step i
    m_i      = b1*m_{i-1} + (1-b1)*d_i,   v_i = b2*v_{i-1} + (1-b2)*d_i^2
    M(s)     = sum_{i<=s} m^_i / (sqrt(v^_i) + eps),  m^_i = m_i/(1-b1^i),  v^_i = v_i/(1-b2^i)
    M_eps(s) = eps * M(s) = sum_{i<=s} m^_i / (1 + sqrt(v^_i)/eps)

``M``, the paper's annealing momentum, is Adam's update applied to the LR drops. While the
drops are large next to ``eps`` each step of a decay adds one or more to ``M`` (more in the
first ~1/(1-b2) steps of a decay, while ``v`` remembers the flat phase) whatever the size of
the drop: ``M`` grows with how long, not how far, the LR has been annealed. Drops small
next to ``eps`` add ``d/eps``: ``M_eps`` is then the sum of the drops so far (lagged by
~1/(1-b1) steps), the LR's fall from its peak. ``N`` is the model's parameter count, read from
the history (:attr:`LRHistory.model_size`).

Where the paper leaves a choice, lrcurve decides:

* ``eps`` is fitted (as ``log10_eps``, in LR units per step, bounded to [1e-12, 1e-4]). The
  paper's code fixes it together with a rescaling of ``v`` (``1e5``), which makes the floor
  an absolute LR drop of about ``3e-7`` per step: runs whose per-step drops are below it (a
  low peak LR, a long decay) get a sum of drops, those above it a count of decay steps.
  Fitting it lets the runs choose. At the upper bound every realistic drop is small next to
  it, and ``M_eps`` is the sum of drops: the law's limit ``eps -> infinity``, which runs whose
  annealing follows the LR's fall (the multi-power-law paper's, say) reach. A fit that ends
  there with every ``sqrt(v^)`` below ``SATURATED * eps`` on its runs holds ``log10_eps`` at
  the bound (:meth:`ForwardMomentumLaw.at_limit`): further up nothing changes by more than
  0.1 %, so the bound is no constraint and no warning is due.
* The coefficient is ``C = C_paper / eps`` on ``M_eps = eps * M``: the same law, but ``C``
  stays finite where the runs prefer the sum of drops (it is then the loss bought per unit
  of LR drop, like the momentum law's ``C``), instead of ``C_paper`` and ``eps`` growing
  together along a ridge the fit cannot resolve.
* ``b1 = 0.9`` and ``b2 = 0.999`` (Adam's defaults, as in the paper's code) are options
  (``adam_beta1``, ``adam_beta2``), not fitted; the bias corrections count from step 1.
* ``p`` (``lr_exponent``) and the ``warmup`` conventions are those of the other laws
  (:data:`lrcurve.laws.base.WARMUP_AS_RUN`; default ``actual``: the warmup's real area in
  ``S``, its rise no drop). With ``full`` (the paper's code) the rise enters ``M`` as
  negative drops.
* The size term is additive (the paper's form): the model size shifts the curve, the
  schedule terms ``A, alpha, C, eps`` are shared by all sizes. ``n = N / 1e9`` (``N`` the
  parameter count), as the other size-aware laws count it: the fit converges where in raw
  parameters it did not (:mod:`lrcurve.laws.forward_momentum_size`).
* Runs of two or more peak LRs (lrcurve's, as the other size-aware laws): ``A`` and ``C``
  scale with a run's peak LR by the exponents ``kappa`` and ``mu``
  (:mod:`lrcurve.laws.peak_lr`), held at 1 (the paper's law, to the bit) when the runs
  cannot pin them.
* The fit is lrcurve's (robust least squares on the relative error), not the paper's Huber
  loss on the absolute error.

``L0, A, C`` (and ``B``) enter linearly, so the starting points are solved on a grid of
the others (variable projection); the fit uses the analytic Jacobian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter

from lrcurve.areas import forward_area, lr_drops
from lrcurve.errors import ParameterError
from lrcurve.laws.base import (
    Law,
    LRHistory,
    Param,
    forward_lr,
    running_sum,
    step_chunks,
)
from lrcurve.laws.peak_lr import log_peak
from lrcurve.parameter import at_bound

WARMUP_CONVENTIONS = ("peak", "actual", "full")
LOG10_EPS_RANGE = (-12.0, -4.0)
LN10 = float(np.log(10.0))
SATURATED = 1e-3  # sqrt(v^)/eps below this on every step: M_eps is the sum of drops to 0.1 %


@dataclass(frozen=True)
class _Prepared:
    log_s1: NDArray[np.float64]  # log of the forward effect S at the requested steps
    m_hat: NDArray[np.float64]  # bias-corrected first moment of the drops, steps 1..last
    root_v: NDArray[np.float64]  # square root of the bias-corrected second moment, same steps
    index: NDArray[np.int64]  # requested steps as 0-based indices
    every_step: bool  # the requested steps are 1..last
    log_n: float  # log of the model size (size-aware law), else 0
    log_q: float = 0.0  # ln(peak LR / P_REF) of the run (lrcurve.laws.peak_lr)
    lr: NDArray[np.float64] | None = None  # the LR at the requested steps (the size law's D)


def adam_moments(
    drops: NDArray[np.float64],
    first_step: int,
    betas: tuple[float, float],
    state: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``m^`` and ``sqrt(v^)`` of ``drops`` (steps ``first_step..``) continued from the
    filters' ``state`` (2 x 1; zeros at step 1), and the state after them."""
    b1, b2 = betas
    step = np.arange(first_step, first_step + drops.size, dtype=np.float64)
    m, zm = lfilter([1.0 - b1], [1.0, -b1], drops, zi=state[0])
    v, zv = lfilter([1.0 - b2], [1.0, -b2], drops * drops, zi=state[1])
    m_hat = m / (1.0 - np.power(b1, step))
    root_v = np.sqrt(v / (1.0 - np.power(b2, step)))
    return m_hat, root_v, np.stack([zm, zv])


def normalised(
    m_hat: NDArray[np.float64], root_v: NDArray[np.float64], eps: float
) -> NDArray[np.float64]:
    """The per-step terms ``eps * m^ / (sqrt(v^) + eps) = m^ / (1 + sqrt(v^)/eps)`` that
    ``M_eps`` sums."""
    return m_hat / (1.0 + root_v / eps)


@dataclass(frozen=True)
class ForwardMomentumLaw(Law):
    name: ClassVar[str] = "forward-momentum"
    formula: ClassVar[str] = (
        "L(s) = L0 + A*S(s)^-alpha - C*M_eps(s), M_eps = sum m^/(1+sqrt(v^)/eps)"
    )
    reference: ClassVar[str] = (
        "Wang et al., Scaling and Transferability of Annealing Strategies in Large Language "
        "Model Training, arXiv 2512.13705"
    )
    params: ClassVar[tuple[Param, ...]] = (
        Param("L0", 0.0, np.inf, linear=True),
        Param("A", 1e-12, np.inf, linear=True, start_min=1e-6),
        Param("alpha", 1e-3, 3.0, grid=tuple(np.linspace(0.05, 2.0, 40).tolist())),
        Param("C", 0.0, np.inf, linear=True),
        Param("log10_eps", *LOG10_EPS_RANGE, grid=(-11.0, -9.0, -8.0, -7.0, -6.0, -5.0, -4.0)),
    )
    warmup_conventions: ClassVar[tuple[str, ...]] = WARMUP_CONVENTIONS
    keep_starts: ClassVar[int] = 3
    shapes: ClassVar[dict[str, tuple[str, ...]]] = {"C": ("log10_eps",)}

    warmup: str = "actual"
    lr_exponent: float = 1.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        self.check_options()
        for name in ("adam_beta1", "adam_beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ParameterError(f"must be in [0, 1), got {value}", param=f"law.{name}")

    @property
    def betas(self) -> tuple[float, float]:
        return self.adam_beta1, self.adam_beta2

    def log_model_size(self, history: LRHistory) -> float:
        """``log N`` of a size-aware law's history (0 for the size-free law)."""
        if not self.size_aware:
            return 0.0
        size = history.model_size
        if size is None:
            raise ParameterError(
                f"the {self.name} law is size-aware: every run needs its model size "
                "(parameter count)",
                param="model_size",
            )
        if not (size > 0 and np.isfinite(size)):
            raise ParameterError(f"must be a finite number > 0, got {size}", param="model_size")
        return float(np.log(size))

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _Prepared:
        index = np.asarray(steps, dtype=np.int64) - 1
        n = int(index.max()) + 1
        log_n = self.log_model_size(history)
        s1 = forward_area(forward_lr(history, n, self.warmup, self.lr_exponent))
        drops = lr_drops(history.annealing_lr(self.warmup, n))
        m_hat, root_v, _ = adam_moments(drops, 1, self.betas, np.zeros((2, 1)))
        every_step = index.size == n and index[0] == 0 and bool(np.all(np.diff(index) == 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_s1 = np.log(s1 if every_step else s1[index])
        return _Prepared(log_s1, m_hat, root_v, index, every_step, log_n, log_peak(history))

    def _at_steps(self, values: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        """A cumulative sum over steps ``1..last`` at the requested steps."""
        total = np.cumsum(values)
        return total if prepared.every_step else total[prepared.index]

    def _size_term(self, theta: NDArray[np.float64], log_n: float) -> float:
        return 0.0

    def evaluate(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        L0, A, alpha, C, log10_eps = theta[:5]
        eps = 10.0**log10_eps
        momentum = self._at_steps(normalised(prepared.m_hat, prepared.root_v, eps), prepared)
        size = self._size_term(theta, prepared.log_n)
        return L0 + A * np.exp(-alpha * prepared.log_s1) + size - C * momentum

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        """:meth:`evaluate` at every step, a chunk at a time: ``S``, the two moments' filter
        states and ``M`` carried over from chunk to chunk (the same sums and filters as over
        the whole run, so the same bits), in a few bytes a step."""
        L0, A, alpha, C, log10_eps = theta[:5]
        eps = 10.0**log10_eps
        size = self._size_term(theta, self.log_model_size(history))
        n = history.lr.size
        forward = forward_lr(history, n, self.warmup, self.lr_exponent)
        annealing = history.annealing_lr(self.warmup, n)
        out = np.empty(n)
        s1, total, state, before = 0.0, 0.0, np.zeros((2, 1)), 0.0
        for part in step_chunks(n):
            s1_part = running_sum(forward[part], s1)
            lr = annealing[part]
            drops = np.subtract(np.concatenate([[before], lr[:-1]]), lr)
            if part.start == 0:
                drops[0] = 0.0
            m_hat, root_v, state = adam_moments(drops, part.start + 1, self.betas, state)
            momentum = running_sum(normalised(m_hat, root_v, eps), total)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_s1 = np.log(s1_part)
            out[part] = L0 + A * np.exp(-alpha * log_s1) + size - C * momentum
            s1, total, before = s1_part[-1], momentum[-1], lr[-1]
        return out

    def jacobian(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        """``d evaluate / d theta``, one row per requested step (analytic)."""
        _, A, alpha, C, log10_eps = theta[:5]
        eps = 10.0**log10_eps
        power = np.exp(-alpha * prepared.log_s1)
        terms = normalised(prepared.m_hat, prepared.root_v, eps)
        momentum = self._at_steps(terms, prepared)
        # d/deps of m^/(1 + r/eps) is (m^/(1 + r/eps)) * r/(eps*(eps + r)), r = sqrt(v^); and
        # deps/dlog10_eps = ln(10)*eps
        slope = self._at_steps(terms * (prepared.root_v / (eps + prepared.root_v)), prepared)
        columns = [
            np.ones_like(power),
            power,
            -A * prepared.log_s1 * power,
            -momentum,
            -C * LN10 * slope,
        ]
        return np.column_stack(columns + self._size_columns(theta, prepared.log_n, power))

    def _size_columns(
        self, theta: NDArray[np.float64], log_n: float, like: NDArray[np.float64]
    ) -> list[NDArray[np.float64]]:
        return []

    def at_limit(self, theta: NDArray[np.float64], prepared: Sequence[Any]) -> tuple[str, ...]:
        """``C`` and ``log10_eps`` when ``C`` is 0 (:meth:`Law.at_limit`); else ``log10_eps``
        when it is at its upper bound and every step of these runs has ``sqrt(v^) < SATURATED *
        eps``: ``M_eps`` is then the sum of drops, the law's limit."""
        switched_off = super().at_limit(theta, prepared)  # C at 0, and so log10_eps
        log10_eps = float(theta[self.index("log10_eps")[0]])
        if switched_off or not at_bound(log10_eps, LOG10_EPS_RANGE[1]):
            return switched_off
        largest = max((float(p.root_v.max()) for p in prepared if p.root_v.size), default=0.0)
        return ("log10_eps",) if largest < SATURATED * 10.0**log10_eps else ()

    def annealing_term(self, prepared: _Prepared, **nonlinear: float) -> NDArray[np.float64]:
        """``M_eps`` at the requested steps for the given ``log10_eps``."""
        eps = 10.0 ** nonlinear["log10_eps"]
        return self._at_steps(normalised(prepared.m_hat, prepared.root_v, eps), prepared)
