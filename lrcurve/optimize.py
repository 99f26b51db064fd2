"""Choosing a schedule: search a family's parameters for the lowest predicted loss.

A fitted law predicts the loss of any schedule, so the best schedule of a family is a
search over its parameters (Tissue et al., *Scaling Law with Learning Rate Annealing*,
arXiv 2408.11029, sec. 5, does this with the momentum law
``L(s) = L0 + A*S1(s)^-alpha - C*S2(s)``):

* ``wsd``: decay fraction x decay shape (x final LR),
* ``cosine``: period (as a fraction of the steps after warmup; 1 ends the half-cosine at
  the last step, more leaves the LR above the floor at the end) x floor,
* ``rewarmup`` (continual pretraining): continue a fitted run to ``from_step``, warm up
  again over ``w`` steps to a maximum LR ``m`` and decay (default cosine) to the end:
  ``m`` x ``w`` (x floor).

Every candidate is scored by the loss its law predicts at one step (the last by default).
Any :class:`~lrcurve.fitting.FittedLaw` works through :meth:`FittedLaw.curve`; for the
momentum law an optional fast path computes both areas at that step for many candidates
in one pass: ``S1(s) = sum_i eta_i`` and ``S2(s) = (eta_1 - eta_s - lam*m_s)/(1-lam)``
with ``m_s = sum_i lam^(s-i) (eta_{i-1} - eta_i)``, one matrix-vector product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import InputError, ParameterError
from lrcurve.fitting import FittedLaw, refuse_nonpositive_loss
from lrcurve.laws.base import LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.runs import Run
from lrcurve.schedules import WSD, WSD_SHAPES, Constant, Cosine, Schedule, make_schedule, rewarmup

FAMILIES = ("wsd", "cosine", "rewarmup")
# The new phase of a re-warmup search: families built from the flags optimize has (not multistep's
# milestones nor the power scheduler's a, b, batch and tokens per step).
REWARMUP_THEN = ("constant", "cosine", "wsd", "cyclic")
DEFAULT_FRACTIONS = (0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
DEFAULT_SHAPES = ("linear", "sqrt", "cosine")
DEFAULT_PERIODS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5)
DEFAULT_COSINE_FLOORS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
DEFAULT_MAX_LRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # fractions of the peak
DEFAULT_REWARMUP_FRACTIONS = (0.0, 0.01, 0.02, 0.05, 0.1)  # of the new phase's steps
CHUNK_VALUES = 8_000_000  # per-step LRs held at once by the fast path (64 MB)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Candidate:
    """One setting of a family: its parameters, where it sits on the trade-off plot
    (``x`` on the curve of ``series``), and the schedule it makes."""

    params: dict[str, Any]
    x: float
    series: str
    label: str
    schedule: Schedule = field(repr=False)


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


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.3g} %"


def _check_fractions(values: Sequence[float], what: str, lo: float, hi: float) -> None:
    bad = [v for v in values if not lo <= v <= hi]
    if bad or not values:
        raise InputError(
            f"{what} must be a non-empty list of numbers in [{lo:g}, {hi:g}], got {list(values)}"
        )


# --- candidate grids -----------------------------------------------------------------


def wsd_candidates(
    steps: int,
    peak: float,
    warmup: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    shapes: Sequence[str] = DEFAULT_SHAPES,
    floors: Sequence[float] = (0.0,),
) -> list[Candidate]:
    """WSD with every decay fraction x shape x final-LR fraction."""
    _check_fractions(fractions, "WSD decay fractions", 0.0, 1.0)
    _check_fractions(floors, "floors", 0.0, 1.0)
    unknown = [s for s in shapes if s not in WSD_SHAPES]
    if unknown or not shapes:
        raise ParameterError(
            f"unknown decay shape(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(WSD_SHAPES)}",
            param="shapes",
        )
    out = []
    for floor in floors:
        for shape in shapes:
            if shape == "exp" and floor <= 0:
                raise ParameterError("the exp decay shape needs a floor > 0", param="floors")
            series = shape if len(floors) == 1 else f"{shape}, floor {floor:g}"
            for fraction in fractions:
                schedule = make_schedule(
                    "wsd",
                    steps=steps,
                    peak=peak,
                    warmup=warmup,
                    decay=fraction,
                    shape=shape,
                    floor=floor,
                )
                label = f"{shape} decay over the last {_pct(fraction)}" + (
                    f", to {_pct(floor)}" if floor else ""
                )
                out.append(
                    Candidate(
                        {"shape": shape, "decay": float(fraction), "floor": float(floor)},
                        float(fraction),
                        series,
                        label,
                        schedule,
                    )
                )
    return out


def cosine_candidates(
    steps: int,
    peak: float,
    warmup: int,
    periods: Sequence[float] = DEFAULT_PERIODS,
    floors: Sequence[float] = DEFAULT_COSINE_FLOORS,
) -> list[Candidate]:
    """Cosine with every period (fraction of the steps after warmup) x floor."""
    _check_fractions(periods, "cosine periods", 0.01, 10.0)
    _check_fractions(floors, "floors", 0.0, 1.0)
    out = []
    for floor in floors:
        for fraction in periods:
            period = max(1, int(round(fraction * (steps - warmup))))
            schedule = make_schedule(
                "cosine", steps=steps, peak=peak, warmup=warmup, floor=floor, period=period
            )
            label = f"period {fraction:g} x {steps - warmup} = {period} steps, floor {_pct(floor)}"
            out.append(
                Candidate(
                    {"period": period, "period_fraction": float(fraction), "floor": float(floor)},
                    float(fraction),
                    f"floor {floor:g}",
                    label,
                    schedule,
                )
            )
    return out


def check_from_step(from_step: int, steps: int, default_of: str | None = None) -> None:
    """Refuse a re-warmup start outside the run; ``default_of`` names the run whose end it
    defaulted to."""
    if not 0 < from_step < steps:
        given = (
            f"({from_step})"
            if default_of is None
            else f"(the end of run {default_of}, {from_step})"
        )
        raise ParameterError(f"{given} must be between 0 and steps ({steps})", param="at_step")


def rewarmup_candidates(
    base: Schedule,
    from_step: int,
    steps: int,
    peak: float,
    max_lrs: Sequence[float] = DEFAULT_MAX_LRS,
    warmups: Sequence[int] | None = None,
    then: str = "cosine",
    floors: Sequence[float] = (0.0,),
    **then_options: Any,
) -> list[Candidate]:
    """Continue ``base`` to ``from_step``, re-warm over ``w`` steps to ``m * peak`` and decay
    with family ``then`` to the end: every ``m`` in ``max_lrs`` x ``w`` in ``warmups`` x floor."""
    if then not in REWARMUP_THEN:
        raise ParameterError(
            f"the re-warmup search's new phase is one of {', '.join(REWARMUP_THEN)}, got {then!r}",
            param="then",
        )
    check_from_step(from_step, steps)
    phase = steps - from_step
    warmups = (
        sorted({int(round(f * phase)) for f in DEFAULT_REWARMUP_FRACTIONS})
        if warmups is None
        else list(warmups)
    )
    _check_fractions(max_lrs, "maximum LRs (fractions of the peak)", 1e-6, 100.0)
    _check_fractions(floors, "floors", 0.0, 1.0)
    if not warmups or min(warmups) < 0 or max(warmups) >= phase:
        raise ParameterError(
            f"re-warmup lengths must be in [0, {phase}) steps (the new phase), got {warmups}",
            param="rewarmups",
        )
    out = []
    for floor in floors:
        for w in warmups:
            series = f"warmup {w}" if len(floors) == 1 else f"warmup {w}, floor {floor:g}"
            for m in max_lrs:
                try:
                    body = make_schedule(
                        then, steps=phase, peak=m * peak, warmup=w, floor=floor, **then_options
                    ).law_view()
                except ValueError as error:
                    raise InputError(str(error)) from None
                label = f"max LR {m * peak:.3g} ({_pct(m)} of peak), re-warmup {w} steps" + (
                    f", to {_pct(floor)}" if floor else ""
                )
                out.append(
                    Candidate(
                        {
                            "max_lr": float(m * peak),
                            "max_lr_fraction": float(m),
                            "rewarmup": int(w),
                            "floor": float(floor),
                        },
                        float(m * peak),
                        series,
                        label,
                        rewarmup(base, from_step, body, w),
                    )
                )
    return out


# --- recognising the fitted runs' schedules ---------------------------------------------


def recognise(schedule: Schedule) -> tuple[str, dict[str, Any]] | None:
    """The family and options (``make_schedule`` keywords) a schedule follows, when it is
    a constant, a cosine or a WSD within 1 % of its peak LR (RMS over the steps); else None."""
    body = schedule.law_view()
    if isinstance(body, Constant):
        return "constant", {}
    if isinstance(body, Cosine) and body.start == schedule.warmup_steps and body.period is None:
        return "cosine", {"floor": body.final}
    if isinstance(body, WSD) and body.decay_start >= body.steps:
        return "constant", {}
    if isinstance(body, WSD):
        return "wsd", {"decay": body.decay, "shape": body.shape, "floor": body.final}
    horizon, warmup = schedule.horizon, schedule.warmup_steps
    if not horizon or horizon <= warmup + 2:
        return None
    steps = np.unique(np.linspace(warmup + 1, horizon, 4000).round().astype(np.int64))
    lr = body(steps)
    peak = float(lr.max())
    floor = float(lr[-1] / peak)
    guesses: list[tuple[str, dict[str, Any]]] = [("constant", {})]
    if floor < 0.98:
        guesses.append(("cosine", {"floor": floor}))
        stable_end = int(steps[np.flatnonzero(lr >= peak * (1 - 1e-6)).max()])
        decay = round((horizon - stable_end) / horizon, 4)
        for shape in WSD_SHAPES:
            if shape != "exp" or floor > 0:
                guesses.append(("wsd", {"decay": decay, "shape": shape, "floor": floor}))
    for name, options in guesses:  # simplest family first: the first that follows the LR wins
        model = make_schedule(name, steps=horizon, peak=peak, warmup=warmup, **options).law_view()
        if np.sqrt(np.mean((model(steps) - lr) ** 2)) < 0.01 * peak:
            return name, options
    return None


def describe(name: str, options: dict[str, Any]) -> str:
    """``cosine to 10 %``, ``wsd (sqrt, 20 % decay) to 0 %``, ``constant``."""
    if name == "constant":
        return "constant"
    floor = f" to {100 * options.get('floor', 0.0):.3g} %"
    if name == "wsd":
        return f"wsd ({options['shape']}, {100 * options['decay']:.3g} % decay){floor}"
    return f"{name}{floor}"


def first_decaying_run(runs: Sequence[Run]) -> tuple[Run, tuple[str, dict[str, Any]] | None]:
    """The first run whose schedule decays (the natural baseline and re-warmup base), with
    its recognised family; the first run when none decays."""
    families = [recognise(run.schedule) for run in runs]
    for run, family in zip(runs, families):
        if family is None or family[0] != "constant":
            return run, family
    return runs[0], families[0]


def default_baseline(
    runs: Sequence[Run], steps: int, peak: float, warmup: int
) -> tuple[Schedule, str]:
    """The fitted runs' first decaying schedule family at this horizon (cosine to 10 %
    when it cannot be recognised), and a sentence saying what was chosen."""
    run, family = first_decaying_run(runs)
    if family is None:
        family = ("cosine", {"floor": 0.1})
        why = (
            f"the schedule of run {run.name} is not a plain constant/cosine/WSD, so cosine to 10 %"
        )
    else:
        why = f"like run {run.name}: {describe(*family)}"
    schedule = make_schedule(family[0], steps=steps, peak=peak, warmup=warmup, **family[1])
    return schedule, f"{describe(*family)} at {steps} steps ({why})"


def default_rewarmup_baseline(
    runs: Sequence[Run], base: Schedule, from_step: int, steps: int, peak: float, warmup: int
) -> tuple[Schedule, str]:
    """Re-warm to the fitted peak over the fitted warmup and repeat the base run's family."""
    family = recognise(base) or ("cosine", {"floor": 0.1})
    if family[0] == "constant":
        family = ("cosine", {"floor": 0.1})
    phase = steps - from_step
    w = min(warmup, phase - 1)
    body = make_schedule(family[0], steps=phase, peak=peak, warmup=w, **family[1]).law_view()
    return rewarmup(
        base, from_step, body, w
    ), f"re-warm over {w} steps to {peak:g}, then {describe(*family)}"


# --- evaluation ----------------------------------------------------------------------


def _momentum_at_step(
    fitted: FittedLaw, schedules: Sequence[Schedule], at_step: int, progress: Progress | None
) -> NDArray[np.float64]:
    """The momentum law's loss at ``at_step`` for many schedules: both areas in one pass."""
    law: MomentumLaw = fitted.law  # type: ignore[assignment]
    lam = fitted.values[4]
    j = np.arange(1, at_step + 1, dtype=np.float64)
    # m_s = sum_j c_j eta_j:  +lam^(s-j-1) from the drop after step j, -lam^(s-j) from the drop into j
    coef = np.where(j < at_step, lam ** np.maximum(at_step - j - 1, 0), 0.0) - np.where(
        j >= 2, lam ** (at_step - j), 0.0
    )
    chunk = max(1, CHUNK_VALUES // at_step)
    loss = np.empty(len(schedules))
    for start in range(0, len(schedules), chunk):
        histories = [LRHistory.of(s, at_step) for s in schedules[start : start + chunk]]
        lr = np.stack([h.lr[:at_step] for h in histories])
        s1 = np.array([law.forward_lr(h, at_step).sum() for h in histories])
        s2 = (lr[:, 0] - lr[:, -1] - lam * (lr @ coef)) / (1.0 - lam)
        loss[start : start + len(histories)] = law.loss(fitted.values, s1, s2)
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


def difference_stderr(
    fitted: FittedLaw, first: Schedule, second: Schedule, at_step: int
) -> float | None:
    """Delta-method standard error of ``loss(first) - loss(second)`` at ``at_step`` from
    the fitted parameters' covariance (how well the fit pins the difference down)."""
    cov = fitted.covariance
    if cov is None or not np.all(np.isfinite(cov)):
        return None
    at = np.array([at_step], dtype=np.int64)
    law, theta = fitted.law, fitted.values
    first_grad, second_grad = (
        law.derivatives(theta, law.prepare(LRHistory.of(s, at_step), at))[0]
        for s in (first, second)
    )
    grad = first_grad - second_grad
    return float(np.sqrt(max(grad @ cov @ grad, 0.0)))


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
) -> Search:
    """Score every candidate and the baseline at ``at_step`` (default: the last step)."""
    if family not in FAMILIES:
        raise ParameterError(
            f"must be one of {', '.join(FAMILIES)}, got {family!r}", param="family"
        )
    if not candidates:
        raise InputError("no candidates to search")
    at_step = steps if at_step is None else at_step
    if not 1 <= at_step <= steps:
        raise ParameterError(
            f"({at_step}) must be between 1 and steps ({steps})", param="score_step"
        )
    schedules = [c.schedule for c in candidates] + [baseline]
    losses = predicted_losses(fitted, schedules, at_step, progress=progress)
    if not np.all(np.isfinite(losses)):
        raise InputError(
            "the law is not defined for some candidates (an LR of zero from the start?)"
        )
    labels = [c.label for c in candidates] + [baseline_label]
    refuse_nonpositive_loss(
        losses,
        max(s.peak for s in schedules),
        fitted.peak_lr,
        lambda i: f"for {labels[i]} at step {at_step}",
    )
    x_name, series_name = {
        "wsd": ("decay fraction", "shape"),
        "cosine": ("period / steps after warmup", "floor"),
        "rewarmup": ("max LR", "re-warmup steps"),
    }[family]
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
    )
    notes = []
    xs = sorted({c.x for c in candidates if c.series == result.best.series})
    if len(xs) > 2 and result.best.x in (xs[0], xs[-1]):
        notes.append(
            f"the best {x_name} ({_fmt(result.best.x)}) is at the edge of the range searched; "
            "the optimum may lie beyond it"
        )
    return replace(
        result,
        gain_stderr=difference_stderr(fitted, baseline, result.best.schedule, at_step),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class MeasuredRun:
    """A run of a measured sweep: its final logged loss and the law's prediction for its own schedule."""

    name: str
    label: str
    horizon: int
    step: int
    measured: float
    predicted: float

    @property
    def error_percent(self) -> float:
        return 100.0 * (self.predicted - self.measured) / self.measured


def against_measured(fitted: FittedLaw, runs: Sequence[Run]) -> list[MeasuredRun]:
    """Score the law on a measured sweep (e.g. WSD runs that differ in cooldown fraction):
    each run's last logged loss next to the loss the law predicts for that run's schedule."""
    scored = []
    for run in runs:
        family = recognise(run.schedule)
        label = describe(*family) if family is not None else str(run.schedule)
        predicted = float(predicted_losses(fitted, [run.schedule], run.last_step)[0])
        scored.append(
            MeasuredRun(run.name, label, run.horizon, run.last_step, float(run.loss[-1]), predicted)
        )
    return scored


def measured_bests(scored: Sequence[MeasuredRun]) -> dict[int, tuple[MeasuredRun, MeasuredRun]]:
    """Per horizon: the measured best run and the run the law ranks best."""
    groups: dict[int, list[MeasuredRun]] = {}
    for item in scored:
        groups.setdefault(item.horizon, []).append(item)
    return {
        h: (min(g, key=lambda m: m.measured), min(g, key=lambda m: m.predicted))
        for h, g in sorted(groups.items())
    }


@dataclass(frozen=True)
class LawOpinion:
    """Another fitted law's losses for the same candidates, and where it puts the best."""

    law: str
    loss: NDArray[np.float64]

    @property
    def best(self) -> int:
        return int(np.argmin(self.loss))

    def rank_of(self, index: int) -> int:
        """1-based rank this law gives candidate ``index``."""
        return int(np.sum(self.loss < self.loss[index])) + 1


def other_laws(
    result: Search, fits: Sequence[FittedLaw], *, progress: Progress | None = None
) -> list[LawOpinion]:
    """Score the search's candidates with other fitted laws, to see where the laws disagree."""
    schedules = [c.schedule for c in result.candidates]
    return [
        LawOpinion(f.law.name, predicted_losses(f, schedules, result.at_step, progress=progress))
        for f in fits
    ]
