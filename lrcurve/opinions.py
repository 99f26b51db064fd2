"""Other opinions on a search: what other fitted laws predict for its candidates, and how the
law scores on a measured sweep (runs that differ in one setting, e.g. the cooldown fraction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.differences import joint_prediction
from lrcurve.fitting import FittedLaw
from lrcurve.optimize import Progress, Search, predicted_losses
from lrcurve.runs import Run
from lrcurve.search_setting import recognise, short_label
from lrcurve.target_clock import counted_on
from lrcurve.uncertainty import predictive_interval


@dataclass(frozen=True)
class MeasuredRun:
    """A run of a measured sweep: its final logged loss and the law's prediction for its own
    schedule; ``family``: the family and options it follows (:func:`recognise`), if any;
    ``tied``: in the tie set of the runs of its horizon (:mod:`lrcurve.differences`), the runs
    the law cannot tell from its best of them at ``against_measured``'s level."""

    name: str
    label: str
    horizon: int
    step: int
    measured: float
    predicted: float
    family: tuple[str, dict[str, Any]] | None = None
    tied: bool | None = None
    lower: float | None = None  # the predictive interval of ``predicted`` at ``level``
    upper: float | None = None
    level: float | None = None

    @property
    def error_percent(self) -> float:
        return 100.0 * (self.predicted - self.measured) / self.measured

    @property
    def inside(self) -> bool | None:
        """The measured loss lies inside the predictive interval (None without one)."""
        if self.lower is None or self.upper is None:
            return None
        return self.lower <= self.measured <= self.upper


def against_measured(
    fitted: FittedLaw, runs: Sequence[Run], level: float = 0.9
) -> list[MeasuredRun]:
    """Score the law on a measured sweep (e.g. WSD runs that differ in cooldown fraction):
    each run's last logged loss next to the loss the law predicts for that run's schedule with
    its predictive interval at ``level``, and whether the law ties it with its best run of that
    horizon at ``level``."""
    scored = []
    for run in runs:
        family = recognise(run.schedule)
        label = short_label(run.schedule)
        at = np.array([run.last_step])
        band = predictive_interval(fitted, run.schedule, at, level=level)
        predicted = float(predicted_losses(fitted, [run.schedule], run.last_step)[0])
        measured = float(run.loss[-1])
        scored.append(
            MeasuredRun(
                run.name,
                label,
                run.horizon,
                run.last_step,
                measured,
                predicted,
                family,
                None,
                float(band.lower[0]),
                float(band.upper[0]),
                level,
            )  # fmt: skip
        )
    tied: set[int] = set()
    for horizon in {m.horizon for m in scored}:
        group = [i for i, m in enumerate(scored) if m.horizon == horizon]
        step = min(scored[i].step for i in group)
        joint = joint_prediction(fitted, [runs[i].schedule for i in group], step, level=level)
        tied |= {group[int(j)] for j in joint.tie_set()}
    return [replace(m, tied=i in tied) for i, m in enumerate(scored)]


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
    """Another fitted law's losses for the same candidates, where it puts the best, and the
    candidates it cannot tell from its best at the search's level (``tied``, empty when the
    search has no intervals)."""

    law: str
    loss: NDArray[np.float64]
    tied: tuple[int, ...] = ()

    @property
    def best(self) -> int:
        return int(np.argmin(self.loss))

    def rank_of(self, index: int) -> int:
        """1-based rank this law gives candidate ``index``."""
        return int(np.sum(self.loss < self.loss[index])) + 1


def other_laws(
    result: Search, fits: Sequence[FittedLaw], *, progress: Progress | None = None
) -> list[LawOpinion]:
    """Score the search's candidates with other fitted laws, to see where the laws disagree
    (each on its own clock for a target of the search's tokens per step)."""
    schedules = [c.schedule for c in result.candidates]
    opinions = []
    for f in fits:
        counted, at = counted_on(f, schedules, result.at_step, result.tokens_per_step)
        loss = predicted_losses(f, counted, at, progress=progress)
        tied: tuple[int, ...] = ()
        if result.joint is not None:
            origin = f.sized_from
            joint = joint_prediction(
                f if origin is None else origin,
                counted,
                at,
                level=result.joint.level,
                loss=loss,
                model_size=None if origin is None else f.at_size,
            )
            tied = tuple(int(i) for i in joint.tie_set())
        opinions.append(LawOpinion(f.law.name, loss, tied))
    return opinions


def tied_by_any(result: Search, opinions: Sequence[LawOpinion]) -> list[int]:
    """The candidates some law cannot tell from its own best: the search's tie set and each
    other law's, the search's order first. Where the laws disagree about the best, the tie
    set of one law says less than it seems; this one holds what either could pick."""
    seen = list(result.tie_set)
    for opinion in opinions:
        seen += [i for i in opinion.tied if i not in seen]
    return seen
