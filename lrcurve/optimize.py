"""Choosing a schedule: search a family's parameters for the lowest predicted loss.

A fitted law predicts the loss of any schedule, so the best schedule of a family is a
search over its parameters (Tissue et al., *Scaling Law with Learning Rate Annealing*,
arXiv 2408.11029, sec. 5, does this with the momentum law
``L(s) = L0 + A*S1(s)^-alpha - C*S2(s)``). The candidates of each family, the defaults and
the baseline are in :mod:`lrcurve.candidates`; :func:`optimize` runs a whole search.

Every candidate is scored by the loss its law predicts at one step (the last by default).
Any :class:`~lrcurve.fitting.FittedLaw` works through :meth:`FittedLaw.curve`; for the
momentum law an optional fast path computes both areas at that step for many candidates
in one pass: ``S1(s) = sum_i eta_i`` and ``S2(s) = (eta_1 - eta_s - lam*m_s)/(1-lam)``
with ``m_s = sum_i lam^(s-i) (eta_{i-1} - eta_i)``, one matrix-vector product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from lrcurve.candidates import (  # noqa: F401 - also this module's names, as before the split
    DEFAULT_COSINE_FLOORS,
    DEFAULT_FRACTIONS,
    DEFAULT_MAX_LRS,
    DEFAULT_PERIODS,
    DEFAULT_SHAPES,
    FAMILIES,
    REWARMUP_THEN,
    Candidate,
    check_family,
    check_from_step,
    check_score_step,
    cosine_candidates,
    format_value,
    rewarmup_candidates,
    wsd_candidates,
)
from lrcurve.default_runs import default_runs
from lrcurve.differences import Difference, JointPrediction, joint_prediction
from lrcurve.errors import ExtrapolationError, InputError, ParameterError
from lrcurve.fitting import FittedLaw, refuse_nonpositive_loss
from lrcurve.laws.base import LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.laws.peak_lr import log_peak
from lrcurve.regime import below_zero_said, horizon_said
from lrcurve.schedules import Schedule
from lrcurve.search_setting import (  # noqa: F401 - also this module's names, as before the split
    SearchRequest,
    Setting,
    baseline_of,
    candidates_of,
    default_baseline,
    default_rewarmup_baseline,
    describe,
    first_decaying_run,
    recognise,
    settle,
)
from lrcurve.sizes import size_said
from lrcurve.target_clock import (
    DefaultsSaid,
    counted_on,
    in_target_units,
    refuse_rewarmup,
    target_clock,
    target_defaults,
)

CHUNK_VALUES = 8_000_000  # per-step LRs held at once by the fast path (64 MB)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Search:
    """A family's candidates, their predicted losses at ``at_step``, and the baseline."""

    family: str
    x_name: str
    series_name: str
    steps: int
    at_step: int
    candidates: tuple[Candidate, ...]
    loss: NDArray[np.float64]
    baseline: Schedule
    baseline_label: str
    baseline_loss: float
    gain_stderr: float | None = None
    notes: tuple[str, ...] = ()
    joint: JointPrediction | None = None  # the candidates, then the baseline, jointly
    tokens_per_step: float | None = None  # the target's: scored on the fit's clock of tokens

    @property
    def order(self) -> NDArray[np.int64]:
        return np.argsort(self.loss, kind="stable")

    @property
    def best(self) -> Candidate:
        return self.candidates[int(self.order[0])]

    @property
    def best_loss(self) -> float:
        return float(self.loss[self.order[0]])

    @property
    def gain(self) -> float:
        """How much lower the best candidate's loss is than the baseline's."""
        return self.baseline_loss - self.best_loss

    def to_best(self) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """Each candidate's loss minus the best's and its s.d. (:mod:`lrcurve.differences`)."""
        if self.joint is None:
            return None
        value, sd = self.joint.differences_to(int(self.order[0]))
        return value[:-1], sd[:-1]

    @property
    def tie_set(self) -> tuple[int, ...]:
        """The candidates (indices, lowest loss first) whose difference to the best is not
        distinguishable from 0 at the joint prediction's level; just the best without one."""
        if self.joint is None:
            return (int(self.order[0]),)
        tied = self.joint.tie_set(int(self.order[0]))
        return tuple(int(i) for i in tied if i < len(self.candidates))

    @property
    def gain_interval(self) -> Difference | None:
        """The baseline's loss minus the best's, with its interval."""
        if self.joint is None:
            return None
        return self.joint.difference(len(self.candidates), int(self.order[0]))

    def curves(self) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]]:
        """The trade-off: for each series, its ``x`` values (sorted) and losses."""
        out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = {}
        for series in dict.fromkeys(c.series for c in self.candidates):
            idx = [i for i, c in enumerate(self.candidates) if c.series == series]
            xs = np.array([self.candidates[i].x for i in idx])
            order = np.argsort(xs, kind="stable")
            out[series] = (xs[order], self.loss[np.asarray(idx)[order]])
        return out

    def best_per_series(self) -> dict[str, tuple[float, float]]:
        """For each series, the ``x`` with the lowest loss and that loss."""
        return {
            s: (float(x[np.argmin(y)]), float(np.min(y))) for s, (x, y) in self.curves().items()
        }


# --- evaluation ----------------------------------------------------------------------


def _momentum_at_step(
    fitted: FittedLaw, schedules: Sequence[Schedule], at_step: int, progress: Progress | None
) -> NDArray[np.float64]:
    """The momentum law's loss at ``at_step`` for many schedules: both areas in one pass."""
    law: MomentumLaw = fitted.law  # type: ignore[assignment]
    lam = fitted["lam"].value
    j = np.arange(1, at_step + 1, dtype=np.float64)
    # m_s = sum_j c_j eta_j: +lam^(s-j-1) from the drop after step j, -lam^(s-j) from the drop
    # into j
    coef = np.where(j < at_step, lam ** np.maximum(at_step - j - 1, 0), 0.0) - np.where(
        j >= 2, lam ** (at_step - j), 0.0
    )
    chunk = max(1, CHUNK_VALUES // at_step)
    loss = np.empty(len(schedules))
    for start in range(0, len(schedules), chunk):
        histories = [LRHistory.of(s, at_step) for s in schedules[start : start + chunk]]
        lr = np.stack([h.annealing_lr(law.warmup, at_step) for h in histories])
        s1 = np.array([law.forward_lr(h, at_step).sum() for h in histories])
        s2 = (lr[:, 0] - lr[:, -1] - lam * (lr @ coef)) / (1.0 - lam)
        # A and C at each schedule's own peak LR (the law's peak exponents), as curve() does
        for i, history in enumerate(histories):
            log_q = log_peak(history)
            theta = law.at_peak(fitted.values, log_q)
            loss[start + i] = law.loss(theta, s1[i : i + 1], s2[i : i + 1])[0]
            loss[start + i] += law.lr_term(log_q) * lr[i, -1]  # the LR term, 0 without it
        if progress:
            progress(start + len(histories), len(schedules))
    return loss


FAST_PATHS: dict[
    type, Callable[[FittedLaw, Sequence[Schedule], int, Progress | None], NDArray[np.float64]]
] = {
    MomentumLaw: _momentum_at_step,
}


def predicted_losses(
    fitted: FittedLaw,
    schedules: Sequence[Schedule],
    at_step: int,
    *,
    progress: Progress | None = None,
    fast: bool = True,
) -> NDArray[np.float64]:
    """Each schedule's predicted loss at ``at_step``: a law's fast path when it has one,
    else :meth:`FittedLaw.curve` per schedule (any law)."""
    fast_path = FAST_PATHS.get(type(fitted.law)) if fast else None
    if fast_path is not None:
        return fast_path(fitted, schedules, at_step, progress)
    loss = np.empty(len(schedules))
    at = np.array([at_step], dtype=np.int64)
    for i, schedule in enumerate(schedules):
        loss[i] = fitted.curve(schedule, at)[0]
        if progress:
            progress(i + 1, len(schedules))
    return loss


# each family's trade-off axis and what tells its series apart
AXES = {
    "wsd": ("decay fraction", "shape"),
    "cosine": ("period / steps after warmup", "floor"),
    "rewarmup": ("max LR", "re-warmup steps"),
}


def _score_step(
    family: str, candidates: Sequence[Candidate], at_step: int | None, steps: int
) -> int:
    """Refuse an unknown family or no candidates; the step scored (default: the last)."""
    check_family(family)
    if not candidates:
        raise InputError("no candidates to search")
    at_step = steps if at_step is None else at_step
    check_score_step(at_step, steps)
    return at_step


def _edge_notes(result: Search, fitted_peak: float) -> tuple[str, ...]:
    """A note when the best candidate is at the edge of its series' range (a maximum LR at
    the top edge and not below the fitted peak: what the law cannot bound)."""
    best = result.best
    xs = sorted({c.x for c in result.candidates if c.series == best.series})
    if result.family == "rewarmup" and best.x == xs[-1] and best.x >= fitted_peak * (1 - 1e-9):
        return (
            f"the best max LR ({format_value(best.x)}) is the highest searched: the law lowers "
            "the loss with more LR without limit (it has no term for an LR too high to train "
            f"stably), so it cannot place an optimum above the fitted peak ({fitted_peak:g})",
        )
    if len(xs) > 2 and best.x in (xs[0], xs[-1]):
        return (
            f"the best {result.x_name} ({format_value(best.x)}) is at the edge of the range "
            "searched; the optimum may lie beyond it",
        )
    return ()


def search(
    fitted: FittedLaw,
    family: str,
    candidates: Sequence[Candidate],
    baseline: Schedule,
    baseline_label: str,
    *,
    steps: int,
    at_step: int | None = None,
    progress: Progress | None = None,
    level: float | None = 0.9,
    tokens_per_step: float | None = None,
) -> Search:
    """Score every candidate and the baseline at ``at_step`` (default: the last step), and
    (``level`` not None) predict them jointly for their differences' intervals; the schedules
    of a target of ``tokens_per_step`` tokens a step are counted on the fit's clock
    (:func:`lrcurve.target_clock.counted_on`)."""
    at_step = _score_step(family, candidates, at_step, steps)
    schedules = [c.schedule for c in candidates] + [baseline]
    schedules, clock_step = counted_on(fitted, schedules, at_step, tokens_per_step)
    losses = predicted_losses(fitted, schedules, clock_step, progress=progress)
    if not np.all(np.isfinite(losses)):
        raise ExtrapolationError(
            "the law is not defined for some candidates (an LR of zero from the start?)"
        )
    labels = [c.label for c in candidates] + [baseline_label]
    refuse_nonpositive_loss(
        losses,
        max(s.peak for s in schedules),
        fitted.peak_lr,
        lambda i: f"for {labels[i]} at step {at_step}",
    )
    x_name, series_name = AXES[family]
    result = Search(
        family,
        x_name,
        series_name,
        steps,
        at_step,
        tuple(candidates),
        losses[:-1],
        baseline,
        baseline_label,
        float(losses[-1]),
        tokens_per_step=tokens_per_step,
    )
    origin = fitted.sized_from  # a size-aware fit's view: its intervals are the origin's at N
    joint = joint_prediction(
        fitted if origin is None else origin,
        schedules,
        clock_step,
        level=level or 0.9,
        loss=losses,
        model_size=None if origin is None else fitted.at_size,
    )
    gain_stderr = None
    if joint.param_cov is not None:  # the parameters' part alone, as before the joint model
        cov, b, n = joint.param_cov, int(result.order[0]), len(candidates)
        gain_stderr = float(np.sqrt(max(cov[n, n] + cov[b, b] - 2 * cov[n, b], 0.0)))
    return replace(
        result,
        gain_stderr=gain_stderr,
        notes=_edge_notes(result, fitted.peak_lr),
        joint=None if level is None else joint,
    )


# --- a whole search --------------------------------------------------------------------


@dataclass(frozen=True)
class Optimization:
    """A search and what it was run with: ``baseline_defaulted``: the baseline was chosen
    (no ``baseline`` given); ``warnings``: the fit's and the search's, one sentence each;
    ``regime``: where the search leaves the fitted regime (it widens the intervals), each as
    (a few words, the detail); ``defaults_said``: how the defaults taken from the fit were
    counted in the target's steps (:func:`lrcurve.target_clock.target_defaults`)."""

    setting: Setting
    search: Search
    baseline_defaulted: bool
    warnings: tuple[str, ...]
    regime: tuple[tuple[str, str], ...] = ()
    defaults_said: DefaultsSaid | None = None


def optimize(
    fitted: FittedLaw,
    request: SearchRequest,
    baseline: Callable[[Setting], tuple[Schedule, str]] | None = None,
    rewarmup_baseline: bool = False,
    progress: Progress | None = None,
    level: float = 0.9,
    tokens_per_step: float | None = None,
) -> Optimization:
    """Search ``request``'s family for the lowest predicted loss against ``baseline`` (a
    schedule and its label for the setting; default: :func:`~lrcurve.candidates.baseline_of`).
    ``rewarmup_baseline``: the baseline continues a fitted run (the setting finds it);
    ``level``: of the intervals of the differences and the tie set; ``tokens_per_step``: the
    target's, its schedules counted on the fit's clock and the defaults in its steps."""
    if request.family == "rewarmup" or rewarmup_baseline:
        refuse_rewarmup(fitted, tokens_per_step)
    defaults, defaults_said = target_defaults(fitted, tokens_per_step, request.family)
    setting = settle(fitted.runs, defaults, request, rewarmup_baseline)
    candidates = candidates_of(request, setting)
    near = default_runs(fitted.runs, fitted.at_size, request.family).runs  # the target size's
    chosen = baseline(setting) if baseline else baseline_of([*near], request.family, setting)
    end = setting.score_step or setting.steps
    if chosen[0].horizon is not None and chosen[0].horizon < end:
        raise ParameterError(
            f"the baseline ends at step {chosen[0].horizon}, before step {end}", param="baseline"
        )
    result = search(
        fitted,
        request.family,
        candidates,
        *chosen,
        steps=setting.steps,
        at_step=setting.score_step,
        progress=progress,
        level=level,
        tokens_per_step=tokens_per_step,
    )
    warnings = [f"the fit says: {warning}" for warning in fitted.warnings]
    clock = None if tokens_per_step is None else target_clock(fitted, tokens_per_step)
    own = 1.0 if clock is None else 1.0 / clock.lr_factor  # the fitted peak at the target's
    if max(c.schedule.peak for c in candidates) > 1.2 * own * fitted.peak_lr:  # peaks: for all
        at_target = "" if own == 1.0 else " at the target's tokens a step"
        warnings.append(
            f"some candidates' LR exceeds the fitted runs' peak {own * fitted.peak_lr:g}"
            f"{at_target}; the law has no penalty for too high an LR and extrapolates there"
        )
    joint = result.joint
    if joint is not None:  # an interval below 0 says nothing
        half = joint.loss - joint.lower
        said = below_zero_said(joint.loss, half, joint.level, fitted.unpinned, "for some losses")
        warnings += [detail for _, detail in said]
    clock_steps = counted_on(fitted, [], setting.steps, tokens_per_step)[1]
    size = size_said(fitted.at_size, fitted.sizes)
    best, at = counted_on(fitted, [result.best.schedule], result.at_step, tokens_per_step)
    said = [s for s in (horizon_said(clock_steps, fitted.horizon_at(fitted.at_size)),) if s]
    decay = fitted.decay_regime(best[0], at)
    if clock is not None:  # in the target's steps and LR
        said = list(in_target_units(said, fitted, clock, best[0], clock_steps))
        decay = list(in_target_units(decay, fitted, clock, best[0], at))
    said += [size] if size else []
    if decay:
        shorts, details = (", ".join(s for s, _ in decay), "; ".join(d for _, d in decay))
        said.append((f"the best candidate: {shorts}", f"the best candidate: {details}"))
    regime = tuple(said)
    return Optimization(setting, result, baseline is None, tuple(warnings), regime, defaults_said)
