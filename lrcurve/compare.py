"""Which loss law predicts these runs best: fit every law, score it on curves it did not see.

Held-out scoring, in order of preference:

* ``holdout`` runs given: fit on the fit runs, score on the held-out runs;
* two or more fit runs: leave one run out (fit on the others, score on it), in turn;
* a single run: fit on its first 80 % of steps, score on the rest (late window).

A law is left out, with the reason, when it lacks the requested warmup convention
(``build_laws``) or when its fit to all runs or to any fold fails (too few points).

Every law is also fitted to all fit runs for the information criteria on the fit data
(:attr:`FittedLaw.aic`, :attr:`FittedLaw.bic`: ``n ln(RSS/n) + 2k`` and ``+ k ln n``, from the
``n`` relative residuals the fit minimises and the ``k`` parameters it estimated).
The recommended law has the lowest mean held-out MAPE; laws within ``TIE`` (1 %, relative)
of the lowest count as tied, and the tie goes to the law with the fewest parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lrcurve.errors import InputError, ParameterError
from lrcurve.fitting import DEFAULT_SKIP, FittedLaw, fit
from lrcurve.heldout import final_against, heldout_score
from lrcurve.laws import LAWS, law_class, make_law
from lrcurve.laws.base import Law
from lrcurve.laws.peak_lr import PEAK_EXPONENTS
from lrcurve.metrics import Scores
from lrcurve.prediction import AgainstMeasured
from lrcurve.regime import nearest_peak_said
from lrcurve.runs import Run, truncate

LATE_WINDOW = 0.8  # single run: fit on steps up to this fraction of the last step
TIE = 0.01  # mean held-out MAPEs within this fraction of the lowest are tied
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Heldout:
    """A curve a law did not see while fitted, and how well it predicted it; ``final``: its
    last logged loss against the prediction's interval at ``level`` (``None`` where the law
    cannot predict the run's schedule)."""

    run: Run
    fitted: FittedLaw
    scores: Scores
    final: AgainstMeasured | None = None
    level: float | None = None
    no_interval: str | None = None  # why the final has none (its interval reached below 0)
    # the final's step on the runs' common clock of tokens when not the run's own (``final``
    # is then at the run's own step; the plot draws on the clock): :func:`in_run_steps`
    clock_step: int | None = None

    def final_dict(self) -> dict[str, Any] | None:
        """The held-out final loss: step, measured, predicted, its interval and ``inside``."""
        f = self.final
        if f is None:
            return None
        clock = {} if self.clock_step is None else {"clock_step": self.clock_step}
        return {
            "step": f.step,
            **clock,
            "measured": f.measured,
            "predicted": f.predicted,
            "interval": None  # none (why: no_interval), as docs/commands/compare.md says
            if f.lower is None or f.upper is None
            else {"level": self.level, "lower": f.lower, "upper": f.upper},
            "inside": f.inside,
            "no_interval": self.no_interval,
        }


@dataclass(frozen=True)
class LawResult:
    name: str
    fitted: FittedLaw  # fitted to all fit runs
    heldout: tuple[Heldout, ...]

    @property
    def n_params(self) -> int:
        """The law's parameters on these runs (not a peak-LR exponent held at 1: one peak LR)."""
        return len(self.fitted.params) - len(set(self.fitted.held) & set(PEAK_EXPONENTS))

    @property
    def n_points(self) -> int:
        """Points in the full fit's window."""
        if self.fitted.n_fit_points is None:
            raise ValueError(f"the {self.name} fit does not record its residuals")
        return self.fitted.n_fit_points

    @property
    def warnings(self) -> tuple[str, ...]:
        """The full fit's warnings, then those of each fold fit that produced a held-out score."""
        folds = [
            f"fit predicting {h.run.label}: {w}"
            for h in self.heldout
            if h.fitted is not self.fitted
            for w in h.fitted.warnings
        ]
        gone = [f"held-out {h.run.label}: {h.no_interval}" for h in self.heldout if h.no_interval]
        return (*self.fitted.warnings, *dict.fromkeys(folds), *gone)

    @property
    def inside(self) -> tuple[int, int]:
        """Held-out final losses inside their predictive interval, of those with one."""
        said = [h.final.inside for h in self.heldout if h.final and h.final.inside is not None]
        return sum(said), len(said)

    @property
    def mape(self) -> float:
        """Mean held-out MAPE, percent."""
        return float(np.mean([h.scores.mape for h in self.heldout]))

    def _recorded(self, value: float | None) -> float:
        if value is None:
            raise ValueError(f"the {self.name} fit does not record its residuals")
        return value

    @property
    def aic(self) -> float:
        return self._recorded(self.fitted.aic)

    @property
    def bic(self) -> float:
        return self._recorded(self.fitted.bic)

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.name,
            "n_params": self.n_params,
            "params": {p.name: p.value for p in self.fitted.params},
            "warnings": list(self.warnings),
            "heldout_mape": self.mape,
            "heldout": [
                {
                    "run": h.run.name,
                    "label": h.run.label,
                    "model_size": h.run.model_size,
                    **h.scores.to_dict(),
                    "final": h.final_dict(),
                }
                for h in self.heldout
            ],
            "heldout_inside": self.inside,
            "fit": {name: s.to_dict() for name, s in self.fitted.scores().items()},
            "n_points": self.n_points,
            "aic": self.aic,
            "bic": self.bic,
        }


@dataclass(frozen=True)
class LeftOut:
    """A law the comparison does not score, and why."""

    name: str
    n_params: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.name, "n_params": self.n_params, "reason": self.reason}


@dataclass(frozen=True)
class Comparison:
    method: str  # "holdout", "leave-one-run-out" or "late-window"
    results: tuple[LawResult, ...]
    left_out: tuple[LeftOut, ...] = ()
    warnings: tuple[str, ...] = ()  # held-out runs outside the fitted runs' regime
    clock_unit: float | None = None  # tokens a step of the runs' common clock (None: steps)
    own_lr: Mapping[str, float] = field(default_factory=dict)  # clock LR -> logged, by name

    @property
    def tied(self) -> tuple[LawResult, ...]:
        """The laws whose mean held-out MAPE is within ``TIE`` (relative) of the lowest."""
        mapes = [_mape_key(r) for r in self.results]
        lowest = min(mapes)
        return tuple(r for r, m in zip(self.results, mapes) if m <= lowest * (1 + TIE))

    @property
    def best(self) -> LawResult:
        """The recommended law: the fewest parameters among the tied, then the lowest MAPE."""
        return min(self.tied, key=lambda r: (r.n_params, _mape_key(r)))

    @property
    def recommendation(self) -> str:
        """Which law is recommended and why, in words."""
        best = self.best
        rivals = [r for r in self.tied if r is not best]
        if not rivals:
            return f"{best.name} (lowest mean held-out MAPE, {best.mape:.3f} %)"
        within = f"a tie within {100 * TIE:g} % with " + ", ".join(
            f"{r.name}, {r.mape:.3f} %" for r in rivals
        )
        if any(
            _mape_key(r) < _mape_key(best) for r in rivals
        ):  # a law with more parameters predicted better
            counts = " vs ".join(
                str(n) for n in sorted({best.n_params, *(r.n_params for r in rivals)})
            )
            return (
                f"{best.name} (mean held-out MAPE {best.mape:.3f} %; {within}, "
                f"decided by parameter count: {counts})"
            )
        return f"{best.name} (lowest mean held-out MAPE, {best.mape:.3f} %; {within})"

    @property
    def lr_exponent(self) -> float:
        """The forward-area exponent every law was fitted with."""
        return float(self.results[0].fitted.law.options().get("lr_exponent", 1.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "lr_exponent": self.lr_exponent,
            "recommended": self.best.name,
            "tied": [r.name for r in self.tied],
            "laws": [r.to_dict() for r in self.results],
            "left_out": [gone.to_dict() for gone in self.left_out],
            "warnings": list(self.warnings),
            "clock_unit": self.clock_unit,
        }


def _mape_key(result: LawResult) -> float:
    """Mean held-out MAPE for ranking (no score ranks last)."""
    return float(np.nan_to_num(result.mape, nan=np.inf))


def late_window(run: Run, fraction: float = LATE_WINDOW) -> tuple[Run, Run]:
    """The run split into its first ``fraction`` of steps and the rest."""
    cut = fraction * run.last_step
    first, last = f" (first {fraction:.0%})", f" (last {1 - fraction:.0%})"
    head = replace(truncate(run, cut), name=run.name + first, label=run.label + first)
    tail_keep = run.steps > cut
    if tail_keep.sum() < 1:
        raise InputError(
            f"{run.source or run.name}: no points after {fraction:.0%} of the run to score on"
        )
    return head, replace(
        run,
        name=run.name + last,
        label=run.label + last,
        steps=run.steps[tail_keep],
        loss=run.loss[tail_keep],
    )


def build_laws(
    names: Sequence[str] | None = None,
    *,
    warmup: str = "actual",
    lr_exponent: float = 1.0,
    sized: bool = False,
) -> tuple[tuple[Law, ...], tuple[LeftOut, ...]]:
    """Each law in ``names`` (default: all of ``LAWS``, the size-aware ones only when the runs
    are ``sized``) with these options, and those left out for lacking the ``warmup``
    convention. ``ParameterError`` for an unknown law or a bad option, or when no law has the
    convention."""
    default = [name for name, c in LAWS.items() if sized or not c.size_aware]
    classes = [law_class(name) for name in names or default]
    having = [c for c in classes if warmup in c.warmup_conventions]
    if not having:
        known = dict.fromkeys(w for c in classes for w in c.warmup_conventions)
        raise ParameterError(
            f"no law has the warmup convention {warmup!r}; choose from {', '.join(known)}",
            param="law.warmup",
        )
    laws = tuple(make_law(c.name, warmup=warmup, lr_exponent=lr_exponent) for c in having)
    left_out = tuple(
        LeftOut(
            c.name,
            len(c.param_names),
            f"no {warmup!r} warmup convention (it has {', '.join(c.warmup_conventions)})",
        )
        for c in classes
        if c not in having
    )
    return laws, left_out


def compare(
    runs: Sequence[Run],
    holdout: Sequence[Run] = (),
    *,
    laws: Sequence[Law] | None = None,
    left_out: Sequence[LeftOut] = (),
    skip_fraction: float = DEFAULT_SKIP,
    progress: Progress | None = None,
    level: float = 0.9,
    own_lr: Mapping[str, float] | None = None,
) -> Comparison:
    """Fit each of ``laws`` (default: every law, default options) and score it on held-out curves
    (each final loss also against its predictive interval at ``level``). ``own_lr``: runs on a
    clock of tokens, the factor from each one's LR there to the LR it logged (by name), for
    what is said of a held-out run's peak LR.

    ``left_out`` (from ``build_laws``) is reported with the laws that fail to fit; a law that
    fails is left out and the rest are compared; ``InputError`` when none can be."""
    if not runs:
        raise InputError("no runs to compare the laws on")
    laws = build_laws()[0] if laws is None else tuple(laws)
    if holdout:
        method, splits = "holdout", [(list(runs), list(holdout))]
    elif len(runs) >= 2:
        method = "leave-one-run-out"
        splits = [([r for j, r in enumerate(runs) if j != i], [run]) for i, run in enumerate(runs)]
    else:
        method = "late-window"
        head, tail = late_window(runs[0])
        splits = [([head], [tail])]
    per_law = 1 + (0 if method == "holdout" else len(splits))
    results: list[LawResult] = []
    failed: list[LeftOut] = []
    for i, law in enumerate(laws):

        def tick(done: int, before: int = i * per_law) -> None:
            """``done`` of this law's fits are done."""
            if progress:
                progress(before + done, len(laws) * per_law)

        try:
            results.append(
                _fit_and_score(law, runs, splits, (method == "holdout", skip_fraction, level), tick)
            )
        except InputError as error:
            failed.append(LeftOut(law.name, len(law.param_names), str(error)))
        tick(per_law)
    gone = (*left_out, *failed)
    if not results:
        raise InputError(
            "no law could be compared: " + "; ".join(f"{g.name}: {g.reason}" for g in gone)
        )
    own = dict(own_lr or {})
    return Comparison(method, tuple(results), gone, _peak_warnings(splits, own), own_lr=own)


def _peak_warnings(
    splits: Sequence[tuple[list[Run], list[Run]]], own_lr: Mapping[str, float] | None = None
) -> tuple[str, ...]:
    """A held-out run whose peak LR is none of its fitted runs': the size-free laws are fitted
    at one peak LR, so its score says as much about that as about the law. On a clock, said in
    the held-out run's own LR (the fitted runs' clock peaks at its tokens a step)."""
    said = []
    for train, held in splits:
        for run in held:
            f = (own_lr or {}).get(run.name, 1.0)
            mismatch = nearest_peak_said(f * run.peak_lr, (f * r.peak_lr for r in train))
            at = "" if f == 1.0 else " (the fitted runs' peak at its tokens a step, on the clock)"
            if mismatch:
                said.append(f"held-out run {run.label}: {mismatch[1]}{at}")
    return tuple(dict.fromkeys(said))


def _names(runs: Sequence[Run]) -> str:
    """The runs' names, for messages."""
    return ", ".join(run.name for run in runs)


def _fit_and_score(
    law: Law,
    runs: Sequence[Run],
    splits: Sequence[tuple[list[Run], list[Run]]],
    how: tuple[bool, float, float],
    tick: Callable[[int], None],
) -> LawResult:
    """Fit ``law`` to all ``runs`` and to each split's fit runs, score it on each split's others;
    ``how``: (held-out runs given, skip fraction, level). ``InputError`` naming the fit that
    failed."""
    holdout, skip_fraction, level = how

    def fit_on(train: Sequence[Run], what: str) -> FittedLaw:
        try:
            return fit(train, law, skip_fraction=skip_fraction)
        except InputError as error:
            raise InputError(f"{what}: {error}") from None

    fitted = fit_on(runs, f"fit on {_names(runs)}")
    tick(1)
    heldout: list[Heldout] = []
    for j, (train, test) in enumerate(splits):
        model = (
            fitted
            if holdout
            else fit_on(train, f"fit on {_names(train)} to predict {_names(test)}")
        )
        if not holdout:
            tick(2 + j)
        for run in test:
            final, no_interval = final_against(model, run, level)
            score = heldout_score(model, run, skip_fraction)
            heldout.append(Heldout(run, model, score, final, level, no_interval))
    return LawResult(law.name, fitted, tuple(heldout))
