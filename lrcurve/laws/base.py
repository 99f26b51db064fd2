"""What every loss law provides: its parameter table, the per-step LR history it reads (with
the warmup conventions applied in one place), and the shared starting-point routine."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError
from lrcurve.parameter import at_bound
from lrcurve.schedules import Schedule

# warmup convention -> (the forward area sees the warmup as run, the annealing term does):
# ``peak`` holds the warmup at the LR it reaches for both (Tissue et al., sec. 3.4); ``actual``
# counts its real area in S1, its rise being no anneal; ``full`` takes it as run everywhere
# (the multi-power paper's code).
WARMUP_AS_RUN: dict[str, tuple[bool, bool]] = {
    "peak": (False, False),
    "actual": (True, False),
    "full": (True, True),
}


STEP_CHUNK = 1 << 16  # steps computed at once where a whole-run temporary would cost memory
FINITE_STEP = float(np.sqrt(np.finfo(np.float64).eps))  # scipy's 2-point step, times max(|x|, 1)


def step_chunks(n_steps: int, size: int = STEP_CHUNK) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``0..n_steps``."""
    for start in range(0, n_steps, size):
        yield slice(start, min(start + size, n_steps))


def running_sum(values: NDArray[np.float64], carry: float) -> NDArray[np.float64]:
    """``np.cumsum`` of ``values`` continued from ``carry``, the sum of the chunks before:
    chunk by chunk, the same sums in the same order as one ``cumsum`` of the whole."""
    out = values.astype(np.float64, copy=True)
    if out.size:
        out[0] += carry
    return np.cumsum(out, out=out)


@dataclass(frozen=True)
class LRHistory:
    """The LR each step ``1..n`` ran with, how many of the first were warmup, and the model's
    parameter count ``N`` (``model_size``, None when unknown; size-aware laws need it)."""

    lr: NDArray[np.float64]
    warmup_steps: int = 0
    model_size: float | None = None

    @classmethod
    def of(cls, schedule: Schedule, n_steps: int, model_size: float | None = None) -> LRHistory:
        """Steps ``1..n_steps`` of ``schedule``, as it runs (``schedule.per_step``, evaluated a
        chunk of steps at a time: a schedule is a function of each step, and its temporaries
        would cost several times the ``8`` bytes a step the result needs)."""
        lr = np.empty(max(n_steps, 0))
        for part in step_chunks(lr.size):
            lr[part] = schedule(np.arange(part.start + 1, part.stop + 1))
        return cls(lr, min(schedule.warmup_steps, n_steps), model_size)

    @cached_property
    def held(self) -> NDArray[np.float64]:
        """The LR with the warmup held at the LR it reaches (that of its last step), whatever
        came before: a Power scheduler's body, say, is above its end-of-warmup LR there."""
        w = self.warmup_steps
        if not w:
            return self.lr
        lr = self.lr.copy()
        lr[:w] = lr[w - 1]
        return lr

    def _seen(self, n_steps: int, as_run: bool) -> NDArray[np.float64]:
        return (self.lr if as_run else self.held)[:n_steps]

    def forward_lr(self, convention: str, n_steps: int) -> NDArray[np.float64]:
        """The per-step LR the forward area ``S1`` sums under a warmup convention."""
        return self._seen(n_steps, WARMUP_AS_RUN[convention][0])

    def annealing_lr(self, convention: str, n_steps: int) -> NDArray[np.float64]:
        """The per-step LR whose changes the annealing term sees under a warmup convention."""
        return self._seen(n_steps, WARMUP_AS_RUN[convention][1])


LR_EXPONENT_RANGE = (0.1, 2.0)


def check_lr_exponent(exponent: float) -> None:
    """Refuse an ``lr_exponent`` outside :data:`LR_EXPONENT_RANGE`."""
    lo, hi = LR_EXPONENT_RANGE
    if not lo <= exponent <= hi:
        raise ParameterError(
            f"must be in [{lo:g}, {hi:g}], got {exponent}", param="law.lr_exponent"
        )


def forward_lr(
    history: LRHistory, n_steps: int, warmup: str, exponent: float
) -> NDArray[np.float64]:
    """The per-step terms ``eta^p`` that the forward area ``S1`` sums over steps ``1..n_steps``
    under the ``warmup`` convention (``p = 1``: the LR itself)."""
    lr = history.forward_lr(warmup, n_steps)
    return lr if exponent == 1.0 else np.power(lr, exponent)


@dataclass(frozen=True)
class Param:
    """One parameter of a law: its bounds, whether the law is linear in it (then its starting
    values are solved exactly), the grid of starting values of a nonlinear one, the least
    starting value (``start_min``: an amplitude of ~0 would hide its exponent), and for one
    added later the value older fits had it at (``added_at``)."""

    name: str
    lower: float
    upper: float
    linear: bool = False
    grid: tuple[float, ...] = ()
    start_min: float = -np.inf
    # added to the law after its first release: a fit file without it held it at this value
    added_at: float | None = None


def power_law_design(
    weights: NDArray[np.float64], power_terms: NDArray[np.float64], *columns: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The linear part of ``L0 + A*S1^-alpha + sum_j c_j*column_j`` at each ``alpha`` of a grid,
    weighted: points x n_alpha x (L0, A, c_1, ...). ``power_terms`` (points x n_alpha) are
    ``S1^-alpha`` already weighted; each column (e.g. the annealing term) is per point."""
    shape = power_terms.shape
    return np.stack(
        [
            np.broadcast_to(weights[:, None], shape),
            power_terms,
            *(np.broadcast_to((column * weights)[:, None], shape) for column in columns),
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
    """Sum of squared residuals of each of the ``g`` problems of :func:`linear_fits` at
    ``coef`` (g x columns)."""
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

    A law declares its parameters once in ``params`` (names, bounds, starting grid come from
    it) and its options as dataclass fields. ``prepare`` does the work that does not depend on
    the parameters (once per run); ``evaluate`` is called many times while fitting.
    """

    name: ClassVar[str]
    formula: ClassVar[str]
    reference: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    param_names: ClassVar[tuple[str, ...]] = ()
    warmup_conventions: ClassVar[tuple[str, ...]]  # the ``warmup`` options the law accepts
    keep_starts: ClassVar[int] = 3  # starting points the fit runs from
    size_aware: ClassVar[bool] = False  # reads the model size N of each run's history
    # an option's value before the law gained it: a law written out before then (a fit file)
    # is read back with it, and predicts as it was fitted
    options_before: ClassVar[dict[str, Any]] = {}
    # the fit's parameter scaling (scipy's ``x_scale``): the Jacobian's column norms, or 1
    x_scale: ClassVar[str | float] = "jac"
    # a term's amplitude -> the parameters that shape it, which change nothing when it is 0
    shapes: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params" in cls.__dict__:
            cls.param_names = tuple(p.name for p in cls.params)

    @classmethod
    def index(cls, *names: str) -> list[int]:
        """The positions of the named parameters in a parameter vector."""
        return [cls.param_names.index(name) for name in names]

    def check_options(self) -> None:
        """Refuse a ``warmup`` convention the law does not have and an ``lr_exponent`` out of
        range (laws call this from ``__post_init__``)."""
        warmup = self.warmup  # type: ignore[attr-defined]
        if warmup not in self.warmup_conventions:
            raise ParameterError(
                f"must be one of {self.warmup_conventions}, got {warmup!r}", param="law.warmup"
            )
        check_lr_exponent(self.lr_exponent)  # type: ignore[attr-defined]
        if hasattr(self, "peak_exponents"):  # a JSON list from a fit file: the tuple it was
            exponents = tuple(float(e) for e in self.peak_exponents)
            object.__setattr__(self, "peak_exponents", exponents)

    def options(self) -> dict[str, Any]:
        """The law's options: its dataclass fields (``peak_exponents`` and ``lr_coefficient``
        only when set: a fit seen at one size, :mod:`lrcurve.laws.peak_lr`; a fit file keeps
        its old form)."""
        options = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        if options.get("peak_exponents") == (1.0, 1.0):
            del options["peak_exponents"]
        if options.get("lr_coefficient") == 0.0:
            del options["lr_coefficient"]
        return options

    def bounds(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.array([p.lower for p in self.params]), np.array([p.upper for p in self.params])

    def prepare(self, history: LRHistory, steps: NDArray[np.int64]) -> Any:
        raise NotImplementedError

    def evaluate(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        raise NotImplementedError

    def evaluate_many(self, thetas: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        """``evaluate`` for each row of ``thetas``; laws override it to share work between rows."""
        return np.array([self.evaluate(theta, prepared) for theta in thetas])

    def jacobian(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64] | None:
        """``d evaluate / d theta`` (points x parameters). Laws that override this give the fit an
        analytic Jacobian (an override must return the matrix); the base class's None means the
        fit takes finite differences."""
        return None

    def derivatives(self, theta: NDArray[np.float64], prepared: Any) -> NDArray[np.float64]:
        """``d evaluate / d theta`` (points x parameters) for propagating uncertainties: the
        analytic :meth:`jacobian` when the law has one, else one-sided finite differences
        that step away from an upper bound. The step is scipy's for its fit's Jacobian,
        ``sqrt(eps) max(|theta|, 1)``: a step relative to the value alone shrinks with it, and a
        parameter near 0 (``L0`` at its bound) then got a derivative of rounding noise, which
        inflated the s.e. of the curve 50-100x where it cancels against another's."""
        analytic = self.jacobian(theta, prepared)
        if analytic is not None:
            return analytic
        theta = np.asarray(theta, dtype=np.float64)
        _, hi = self.bounds()
        h = FINITE_STEP * np.maximum(np.abs(theta), 1.0)
        h = np.where(theta + h > hi, -h, h)
        shifted = self.evaluate_many(theta + np.diag(h), prepared)
        return ((shifted - self.evaluate(theta, prepared)) / h[:, None]).T

    def annealing_term(self, prepared: Any, **nonlinear: float) -> NDArray[np.float64]:
        """The term the annealing coefficient multiplies, at fixed values of the other nonlinear
        parameters (for :func:`power_law_starts`)."""
        raise NotImplementedError

    def linear_columns(self, prepared: Any, **nonlinear: float) -> list[NDArray[np.float64]]:
        """The terms the linear parameters after ``L0`` and ``A`` multiply, in their order, at
        fixed values of the other nonlinear parameters (for :func:`power_law_starts`): by
        default the annealing term alone, which the law subtracts."""
        return [-self.annealing_term(prepared, **nonlinear)]

    def at_limit(self, theta: NDArray[np.float64], prepared: Sequence[Any]) -> tuple[str, ...]:
        """Parameters at a bound where the law has reached a limit on these runs (moving them
        further changes no prediction by more than a rounding): the fit holds them there
        instead of estimating them. By default a term switched off: an amplitude of
        :attr:`shapes` at its lower bound 0, with the parameters that shape the term, which
        then change nothing (left free, their s.e. ran to 1e17 and the delta method gave a
        fitted size's final loss an interval of [-8.7, 14.5])."""
        held: list[str] = []
        for amplitude, shaping in self.shapes.items():
            (i,) = self.index(amplitude)
            if self.params[i].lower == 0.0 and at_bound(float(theta[i]), 0.0):
                held += [amplitude, *shaping]
        return tuple(held)

    def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
        """Parameters these runs cannot pin, which the fit holds: name -> (value, why). A
        size-aware law holds its size exponents when the runs span too few sizes."""
        return {}

    def at_size(
        self, theta: NDArray[np.float64], n_params: float
    ) -> tuple[Law, NDArray[np.float64]]:
        """A size-aware law at a model size: the size-free law it is there and that law's
        parameters (:mod:`lrcurve.size_fit`). A size-aware law without that form refuses."""
        if not self.size_aware:
            raise NotImplementedError(f"the {self.name} law is size-free")
        raise ParameterError(
            f"the {self.name} law has no size-free form at one size (its peak-LR exponents and "
            "LR term have none in the size-free law): `predict --params` predicts it at a size; "
            "`optimize --params` needs momentum-size or multipower-size",
            param="model_size",
        )

    def model_size(self, history: LRHistory) -> float:
        """The model size ``N`` of ``history``; refused when it has none (a size-aware law)."""
        if history.model_size is None:
            raise ParameterError(
                f"the {self.name} law is size-aware: every run needs its model size "
                "(parameter count)",
                param="model_size",
            )
        return float(history.model_size)

    def initial_guesses(self, data: Sequence[FitData]) -> list[NDArray[np.float64]]:
        """Starting points for the fit (default: :func:`power_law_starts`)."""
        return power_law_starts(self, data, self.keep_starts)

    def predict(
        self, theta: NDArray[np.float64], history: LRHistory, steps: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        return self.evaluate(theta, self.prepare(history, steps))

    def every_step(self, theta: NDArray[np.float64], history: LRHistory) -> NDArray[np.float64]:
        """The loss at every step ``1..n`` of ``history``: ``predict(theta, history, 1..n)`` to
        the bit; laws override it to compute in chunks, in a few bytes a step."""
        return self.predict(theta, history, np.arange(1, history.lr.size + 1, dtype=np.int64))


EXPONENT = "alpha"  # the exponent of the forward area, solved for on the whole grid at once


def power_law_starts(law: Law, data: Sequence[FitData], keep: int) -> list[NDArray[np.float64]]:
    """The best ``keep`` starting points of a law ``L0 + A*S1^-alpha + sum_j c_j*column_j(...)``
    (default: the annealing term, :meth:`Law.linear_columns`) by variable projection: on the
    grid of its nonlinear parameters (``Param.grid``), the linear ones ``(L0, A, c_j)`` solved
    by weighted least squares (relative error: weights ``1/loss``,
    :func:`linear_fits`), clipped to their bounds, ranked by their residual sums."""
    prepared = [law.prepare(d.history, d.steps) for d in data]
    table = {p.name: p for p in law.params}
    held = law.held_values([d.history for d in data])
    every_linear = [p.name for p in law.params if p.linear]
    kept = [name not in held for name in every_linear[2:]]  # a held one's column is left out
    linear = [name for name in every_linear if name not in held]  # 1, S1^-alpha, columns
    others = [p.name for p in law.params if not p.linear and p.name != EXPONENT]
    grids = [(held[name][0],) if name in held else table[name].grid for name in others]
    alphas = np.asarray(table[EXPONENT].grid)
    weights = np.concatenate([1.0 / d.loss for d in data])
    target = np.concatenate([d.loss for d in data]) * weights
    log_s1 = np.concatenate([p.log_s1 for p in prepared])
    power_terms = np.exp(-np.outer(log_s1, alphas)) * weights[:, None]
    lo = np.array([max(p.lower, p.start_min) for p in law.params])
    _, hi = law.bounds()
    columns = law.index(*linear)
    candidates: list[tuple[float, NDArray[np.float64]]] = []
    for values in itertools.product(*grids):
        fixed = dict(zip(others, values))
        per_run = [
            [c for c, keep in zip(law.linear_columns(p, **fixed), kept) if keep] for p in prepared
        ]
        columns_at = [np.concatenate(parts) for parts in zip(*per_run)]
        design = power_law_design(weights, power_terms, *columns_at)
        thetas = np.zeros((alphas.size, len(law.params)))  # a held linear one: set by the fit
        thetas[:, columns] = linear_fits(design, target)
        thetas[:, law.index(EXPONENT)[0]] = alphas
        for name, value in fixed.items():
            thetas[:, law.index(name)[0]] = value
        thetas = np.clip(thetas, lo, hi)
        candidates.extend(zip(residual_sums(design, thetas[:, columns], target).tolist(), thetas))
    candidates.sort(key=lambda c: c[0])
    return [theta for _, theta in candidates[:keep]]
