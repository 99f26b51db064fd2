"""What every loss law provides, and the per-step LR history the laws read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.schedules import Schedule


@dataclass(frozen=True)
class LRHistory:
    """The per-step LR of steps ``1..n`` as the laws see it (warmup held at the peak),
    and the LR the warmup steps really had."""

    lr: NDArray[np.float64]
    warmup_lr: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, schedule: Schedule, n_steps: int) -> LRHistory:
        """Steps ``1..n_steps`` of ``schedule``; the warmup held at the LR it reaches (the body's
        LR at its last step), whatever the body does before that: a Power scheduler's body, say,
        is above its end-of-warmup LR there, and training never ran at it."""
        warmup = min(schedule.warmup_steps, n_steps)
        lr = schedule.law_view().per_step(n_steps)
        if warmup:
            lr[:warmup] = lr[warmup - 1]
        return cls(lr, schedule.per_step(warmup))

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_lr.size)

    def actual_lr(self, n_steps: int) -> NDArray[np.float64]:
        """The LR of steps ``1..n_steps`` with the warmup as it was run."""
        lr = self.lr[:n_steps].copy()
        w = min(self.warmup_steps, n_steps)
        lr[:w] = self.warmup_lr[:w]
        return lr


LR_EXPONENT_RANGE = (0.1, 2.0)


def check_lr_exponent(exponent: float) -> None:
    """Refuse an ``lr_exponent`` outside :data:`LR_EXPONENT_RANGE`."""
    lo, hi = LR_EXPONENT_RANGE
    if not lo <= exponent <= hi:
        raise ValueError(f"lr exponent must be in [{lo:g}, {hi:g}], got {exponent}")


def forward_lr(
    history: LRHistory, n_steps: int, warmup: str, exponent: float
) -> NDArray[np.float64]:
    """The per-step terms ``eta^p`` that the forward area ``S1`` sums over steps ``1..n_steps``:
    warmup steps at the peak LR under the ``"peak"`` convention, at the LR they ran with
    otherwise (``p = 1``: the LR itself)."""
    lr = history.lr[:n_steps] if warmup == "peak" else history.actual_lr(n_steps)
    return lr if exponent == 1.0 else np.power(lr, exponent)


def power_law_grid(
    prepared: Sequence[Any], data: Sequence[FitData], alphas: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The weighted problem behind a law's starting points, for runs ``data`` prepared as
    ``prepared`` (each with its ``log_s1``): weights ``1/loss`` (relative error), the weighted
    target, and the weighted ``S1^-alpha`` at every point and ``alpha`` (points x n_alpha)."""
    weights = np.concatenate([1.0 / d.loss for d in data])
    target = np.concatenate([d.loss for d in data]) * weights
    log_s1 = np.concatenate([p.log_s1 for p in prepared])
    return weights, target, np.exp(-np.outer(log_s1, alphas)) * weights[:, None]


def power_law_design(
    weights: NDArray[np.float64], power_terms: NDArray[np.float64], annealing: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The linear part of ``L0 + A*S1^-alpha + (annealing coefficient)*annealing`` at each
    ``alpha`` of a grid, weighted: points x n_alpha x (L0, A, coefficient). ``power_terms``
    (points x n_alpha) are ``S1^-alpha`` already weighted; ``annealing`` is per point."""
    shape = power_terms.shape
    return np.stack(
        [
            np.broadcast_to(weights[:, None], shape),
            power_terms,
            np.broadcast_to((annealing * weights)[:, None], shape),
        ],
        axis=-1,
    )


def linear_fits(design: NDArray[np.float64], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least-squares coefficients of ``g`` linear problems at once: ``design`` is points x g x
    columns (a law's linear parameters at each point of a grid over its nonlinear ones),
    ``target`` the points. Columns are scaled to unit norm and the normal equations solved by
    pseudo-inverse, so a column that vanishes or repeats another gives no error."""
    norms = np.sqrt(np.einsum("ngk,ngk->gk", design, design))
    norms[norms == 0] = 1.0
    gram = np.einsum("ngj,ngk->gjk", design, design) / (norms[:, :, None] * norms[:, None, :])
    rhs = np.einsum("ngk,n->gk", design, target) / norms
    return np.einsum("gjk,gk->gj", np.linalg.pinv(gram, rcond=1e-12), rhs) / norms


def residual_sums(
    design: NDArray[np.float64], coef: NDArray[np.float64], target: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Sum of squared residuals of each of the ``g`` problems of :func:`linear_fits` at ``coef`` (g x columns)."""
    resid = np.einsum("ngk,gk->ng", design, coef) - target[:, None]
    return np.einsum("ng,ng->g", resid, resid)


@dataclass(frozen=True)
class FitData:
    """One run's points inside the fit window, with its LR history."""

    history: LRHistory
    steps: NDArray[np.int64]
    loss: NDArray[np.float64]


class Law:
    """A loss law ``L(step; theta)`` of the LR history.

    ``prepare`` does the work that does not depend on the parameters (once per run);
    ``evaluate`` is called many times while fitting.
    """

    name: ClassVar[str]
    formula: ClassVar[str]
    reference: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    warmup_conventions: ClassVar[tuple[str, ...]]  # the ``warmup`` options the law accepts

    def check_options(self) -> None:
        """Refuse a ``warmup`` convention the law does not have and an ``lr_exponent`` out of range
        (laws call this from ``__post_init__``)."""
        warmup = self.warmup
        if warmup not in self.warmup_conventions:
            raise ValueError(
                f"warmup convention must be one of {self.warmup_conventions}, got {warmup!r}"
            )
        check_lr_exponent(self.lr_exponent)

    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        raise NotImplementedError

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> Any:
        raise NotImplementedError

    def evaluate(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        raise NotImplementedError

    def evaluate_many(self, thetas: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        """``evaluate`` for each row of ``thetas``; laws override it to share work between rows."""
        return np.array([self.evaluate(theta, prepared) for theta in thetas])

    def jacobian(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64] | None:
        """``d evaluate / d theta`` (points x parameters). Laws that override this give the fit an
        analytic Jacobian (an override must return the matrix); the base class's None means the fit
        takes finite differences."""
        return None

    def derivatives(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        """``d evaluate / d theta`` (points x parameters) for propagating uncertainties: the
        analytic :meth:`jacobian` when the law has one, else one-sided finite differences
        that step away from an upper bound."""
        analytic = self.jacobian(theta, prepared)
        if analytic is not None:
            return analytic
        theta = np.asarray(theta, dtype=np.float64)
        _, hi = self.bounds()
        h = 1e-6 * np.maximum(np.abs(theta), 1e-8)
        h = np.where(theta + h > hi, -h, h)
        shifted = self.evaluate_many(theta + np.diag(h), prepared)
        return ((shifted - self.evaluate(theta, prepared)) / h[:, None]).T

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return {}

    def predict(
        self, theta: NDArray[np.float64], history: LRHistory, steps: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        return self.evaluate(theta, self.prepare(history, steps))
