"""The Forward–Momentum law across model sizes (:mod:`lrcurve.laws.forward_momentum`)::

    L(s, N) = L0 + A * S(s)^-alpha + B * n^-beta - C * M_eps(s) * n^gamma
              (+ D * eta_s * n^gamma: the LR term)      n = N / 1e9

The paper's model-size term ``B * N^-beta`` (Wang et al., arXiv 2512.13705) with ``N`` in
units of 1e9 (``size_unit``), as the other size-aware laws count it: in raw parameters ``B``
and ``beta`` move together (``d/dbeta`` is ``-ln N`` times ``d/dB``, ``ln N`` 17-19 on every
fitted size) and the fit of the SlimPajama sizes up to 124M ended every start at its 2000
evaluations unconverged (105 s); in units of 1e9 it converges in 160-320 (14 s), lower, and
fitted unscaled (``x_scale = 1``; the sizes up to 209M crawled along the offset's ridge with
the Jacobian's column scaling) in 81-166 from every start. A fit
file written before 2026-11-30 has no ``size_unit`` and is read in raw parameters, as it was
fitted. The size-aware
laws' peak-LR exponents (``kappa``, ``mu``: :mod:`lrcurve.laws.peak_lr`), and the LR term of
the momentum-size law (lrcurve's, not the paper's): ``+ D * q^(mu-1) * eta_s``, a loss that
follows the run's current LR (warmup held) at once, scaled with the peak LR like ``C``.
``D`` is held at 0 (the law without it, to the bit) when no run decays its LR; a fit file from
before it loads with it held at 0. Chosen as for momentum-size, on the OpenWebText2 family
(60M + 93M -> 166M: 0.94 % -> 0.67 % mean MAPE) and the multipowerlaw pair (0.160 % either
way), scored on SlimPajama (docs/model-size.md). And lrcurve's ``n^gamma`` on the annealing
and LR terms, momentum-size's size exponent (the paper's law has none): held at 0 when decayed
runs have one size and in a fit file from before it (2026-11-30); chosen on the same sets
(OpenWebText2 0.67 -> 0.47 %, the pair 0.151 -> 0.161 %).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError
from lrcurve.laws.base import (
    FitData,
    LRHistory,
    Param,
    linear_fits,
    power_law_design,
    power_law_starts,
    residual_sums,
)
from lrcurve.laws.forward_momentum import ForwardMomentumLaw, _Prepared
from lrcurve.laws.momentum_size import SIZE_UNIT, size_holds
from lrcurve.laws.peak_lr import KAPPA_START, at_peak, log_peak, peak_holds
from lrcurve.sizes import decays
from lrcurve.values import is_number

SIZE_PARAMS = (
    Param("B", 0.0, np.inf, linear=True),
    Param("beta", 1e-3, 2.0, grid=(0.1, 0.2, 0.3, 0.5, 0.8)),
)
PEAK_PARAMS = (  # as the momentum-size law's (lrcurve.laws.peak_lr)
    Param("kappa", -1.0, 3.0, grid=(1.0,), added_at=1.0),  # and KAPPA_START
    Param("mu", -2.0, 4.0, grid=(0.0, 1.0), added_at=1.0),
)
LR_TERM = Param("D", 0.0, np.inf, linear=True, added_at=0.0)
# the annealing and LR terms' size exponent, as momentum-size's (since 2026-11-30; 0 before)
ANNEALING_SIZE = Param("gamma", -2.0, 2.0, grid=(0.0,), added_at=0.0)


@dataclass(frozen=True)
class ForwardMomentumSizeLaw(ForwardMomentumLaw):
    """The Forward–Momentum law with the paper's model-size term ``B * n^-beta``, the
    size-aware laws' peak-LR exponents: with ``q`` a run's peak LR over ``P_REF``,
    ``A -> A q^(-(kappa-1) alpha)`` (``S ~ peak^kappa``) and ``C -> C q^(mu-1)`` (the
    annealing term ``~ peak^mu``), held at 1 (the paper's law, to the bit) unless the runs
    have two or more peak LRs, and the LR term ``+ D q^(mu-1) eta_s`` (module docstring)."""

    name: ClassVar[str] = "forward-momentum-size"
    params: ClassVar[tuple[Param, ...]] = (
        ForwardMomentumLaw.params + SIZE_PARAMS + PEAK_PARAMS + (LR_TERM, ANNEALING_SIZE)
    )
    size_aware: ClassVar[bool] = True
    options_before: ClassVar[dict[str, Any]] = {"size_unit": 1.0}  # raw N until 2026-11-30
    # scaled by the Jacobian's column norms, the fit of the SlimPajama sizes up to 209M crawled
    # along the offset's ridge (L0, B, beta) to its 2000 evaluations from every start; unscaled
    # every start converges in 81-166 evaluations, to a lower cost (up to 124M: the same optimum)
    x_scale: ClassVar[str | float] = 1.0

    size_unit: float = SIZE_UNIT

    def __post_init__(self) -> None:
        super().__post_init__()
        unit = self.size_unit
        if not (is_number(unit) and 1.0 <= unit < np.inf):
            raise ParameterError(
                f"must be a number of parameters of at least 1, got {unit!r}",
                param="law.size_unit",
            )

    @property
    def formula(self) -> str:  # type: ignore[override]
        """The law as written, in the size unit it counts ``N`` in."""
        n = "N" if self.size_unit == 1.0 else "n"
        written = f"{self.size_unit:g}".replace("e+0", "e").replace("e+", "e")
        unit = "" if self.size_unit == 1.0 else f", n = N/{written}"
        return (
            f"L(s, N) = L0 + A*S(s)^-alpha + B*{n}^-beta - (C*M_eps(s) - D*eta_s)*{n}^gamma, "
            f"M_eps = sum m^/(1+sqrt(v^)/eps){unit}"
        )

    def log_model_size(self, history: LRHistory) -> float:
        """``log n``, ``n = N / size_unit``."""
        return super().log_model_size(history) - float(np.log(self.size_unit))

    def _size_term(self, theta: NDArray[np.float64], log_n: float) -> float:
        B, beta = theta[5:7]
        return float(B * np.exp(-beta * log_n))

    def _size_columns(
        self, theta: NDArray[np.float64], log_n: float, like: NDArray[np.float64]
    ) -> list[NDArray[np.float64]]:
        B, beta = theta[5:7]
        power = np.exp(-beta * log_n)
        return [np.full_like(like, power), np.full_like(like, -B * log_n * power)]

    @staticmethod
    def at_peak(
        theta: NDArray[np.float64], log_q: float, log_n: float = 0.0
    ) -> NDArray[np.float64]:
        """``theta`` with ``A`` and ``C`` as a run of peak ``P_REF * e^log_q`` and size
        ``n = e^log_n`` sees them (``C n^gamma``)."""
        kappa, mu, gamma = theta[7], theta[8], theta[10]
        if kappa == 1.0 and mu == 1.0 and not gamma:
            return theta
        out = theta.copy()
        out[1], out[3] = at_peak(theta[1], theta[2], theta[3], log_q, kappa, mu)
        out[3] *= np.exp(gamma * log_n)
        return out

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> _Prepared:
        prepared = super().prepare(history, steps)
        lr = history.annealing_lr(self.warmup, int(prepared.index.max()) + 1)
        return replace(prepared, lr=lr if prepared.every_step else lr[prepared.index])

    def _lr_term(self, theta: NDArray[np.float64], log_q: float, log_n: float) -> float:
        """The LR term's coefficient ``D q^(mu-1) n^gamma`` at a run of peak ``P_REF * e^log_q``
        and size ``e^log_n``."""
        return float(theta[9] * np.exp((theta[8] - 1.0) * log_q + theta[10] * log_n))

    def evaluate(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        log_q, log_n = prepared.log_q, prepared.log_n
        out = super().evaluate(self.at_peak(theta, log_q, log_n), prepared)
        D = self._lr_term(theta, log_q, log_n)
        return out + D * prepared.lr if D else out  # held at 0: the law without it, to the bit

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        log_q, log_n = log_peak(history), self.log_model_size(history)
        out = super().every_step(self.at_peak(theta, log_q, log_n), history)
        D = self._lr_term(theta, log_q, log_n)
        return out + D * history.annealing_lr(self.warmup, out.size) if D else out

    def jacobian(self, theta: NDArray[np.float64], prepared: _Prepared) -> NDArray[np.float64]:
        """The law's Jacobian at the run's ``A, C``, by the chain rule through
        ``A q^(-(kappa-1) alpha)``, ``C q^(mu-1) n^gamma`` and ``D q^(mu-1) n^gamma``."""
        log_q, log_n = prepared.log_q, prepared.log_n
        seen = self.at_peak(theta, log_q, log_n)
        inner = super().jacobian(seen, prepared)
        alpha, kappa, mu, gamma = theta[[2, 7, 8, 10]]
        d_a, d_c = inner[:, 1].copy(), inner[:, 3].copy()  # d/dA and d/dC as the run sees them
        scale = np.exp((mu - 1.0) * log_q + gamma * log_n)  # of C and D
        inner[:, 1] = d_a * np.exp(-(kappa - 1.0) * alpha * log_q)
        inner[:, 2] += d_a * seen[1] * (-(kappa - 1.0) * log_q)
        inner[:, 3] = d_c * scale
        d_d = scale * prepared.lr
        scaled = d_c * seen[3] + theta[9] * d_d  # the annealing and LR terms together
        d_kappa = d_a * seen[1] * (-alpha * log_q)
        return np.column_stack([inner, d_kappa, scaled * log_q, d_d, scaled * log_n])

    def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
        held = peak_holds(histories)
        held.update(size_holds(histories, self.name, "beta", "gamma", one_size=True))
        if not any(decays(h.held) for h in histories):
            held["D"] = (0.0, "")  # a constant LR per run: the LR term is an offset per run
        return held

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        """The variable-projection starts (:meth:`_size_starts`) at ``kappa = 1`` and, when the
        runs can pin ``kappa``, each again at :data:`KAPPA_START` (``A`` kept at ``P_REF``)."""
        held = self.held_values([d.history for d in data])
        starts = self._size_starts(data, "mu" in held, "D" not in held)
        if "kappa" in held:
            return starts
        return starts + [np.r_[s[:7], KAPPA_START, s[8:]] for s in starts]

    # over 60 lines: one grid of variable projection (its design, solve and clip in one place)
    def _size_starts(
        self, data: Sequence[FitData], mu_held: bool, lr_term: bool
    ) -> list[NDArray[np.float64]]:
        """Variable projection over ``(alpha, log10_eps, beta, mu)``: ``L0, A, C, B`` (and
        ``D`` with ``lr_term``) solved by weighted least squares at each grid point
        (:func:`power_law_starts` with the size and LR columns added), the best
        :attr:`keep_starts` kept. With one model size the size term is a constant: the
        size-free starts, ``B = D = 0``."""
        if len({d.history.model_size for d in data}) < 2:
            for d in data:
                self.log_model_size(d.history)  # refuse a run without its size
            shared = {f.name: getattr(self, f.name) for f in fields(ForwardMomentumLaw)}
            base = ForwardMomentumLaw(**shared)
            starts = power_law_starts(base, data, self.keep_starts)
            return [np.r_[s, 0.0, SIZE_PARAMS[1].grid[2], 1.0, 1.0, 0.0, 0.0] for s in starts]
        prepared = [self.prepare(d.history, d.steps) for d in data]
        weights = np.concatenate([1.0 / d.loss for d in data])
        target = np.concatenate([d.loss for d in data]) * weights
        log_s1 = np.concatenate([p.log_s1 for p in prepared])
        log_n = np.concatenate([np.full(p.log_s1.size, p.log_n) for p in prepared])
        alphas = np.asarray(self.params[2].grid)
        power_terms = np.exp(-np.outer(log_s1, alphas)) * weights[:, None]
        lo = np.array([max(p.lower, p.start_min) for p in self.params])
        _, hi = self.bounds()
        candidates: list[tuple[float, NDArray[np.float64]]] = []
        mus = (1.0,) if mu_held else PEAK_PARAMS[1].grid
        grid = itertools.product(self.params[4].grid, SIZE_PARAMS[1].grid, mus)
        for log10_eps, beta, mu in grid:
            scale = [np.exp((mu - 1.0) * p.log_q) for p in prepared]
            momentum = np.concatenate(
                [self.annealing_term(p, log10_eps=log10_eps) * s for p, s in zip(prepared, scale)]
            )
            design = power_law_design(weights, power_terms, -momentum)
            extra = [np.exp(-beta * log_n) * weights]
            if lr_term:
                extra.append(np.concatenate([p.lr * s for p, s in zip(prepared, scale)]) * weights)
            columns = [np.broadcast_to(c[:, None, None], (*power_terms.shape, 1)) for c in extra]
            design = np.concatenate([design, *columns], axis=-1)  # (L0, A, C, B[, D])
            coef = linear_fits(design, target)
            d_col = coef[:, 4] if lr_term else np.zeros(alphas.size)
            fixed = np.broadcast_to([log10_eps, beta, 1.0, mu], (alphas.size, 4))
            thetas = np.column_stack([coef[:, :2], alphas, coef[:, 2], fixed[:, 0], coef[:, 3]])
            gamma = np.zeros(alphas.size)  # the fit moves it from the size-free annealing term
            thetas = np.clip(np.column_stack([thetas, fixed[:, 1:], d_col, gamma]), lo, hi)
            linear = [0, 1, 3, 5, 9] if lr_term else [0, 1, 3, 5]
            rss = residual_sums(design, thetas[:, linear], target)
            candidates.extend(zip(rss.tolist(), thetas))
        candidates.sort(key=lambda c: c[0])
        return [theta for _, theta in candidates[: self.keep_starts]]
