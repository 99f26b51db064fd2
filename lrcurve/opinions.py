"""Other opinions on a search: what other fitted laws predict for its candidates, and how the
law scores on a measured sweep (runs that differ in one setting, e.g. the cooldown fraction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lrcurve.fitting import FittedLaw
from lrcurve.optimize import Progress, Search, predicted_losses
from lrcurve.runs import Run
from lrcurve.search_setting import describe, recognise


@dataclass(frozen=True)
class MeasuredRun:
    """A run of a measured sweep: its final logged loss and the law's prediction for its own
    schedule."""

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
