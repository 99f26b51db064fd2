"""Which fitted runs a prediction's defaults (horizon, peak LR, warmup) come from.

A fit of one model size takes them over every run (the longest horizon, the highest peak,
the longest warmup). A fit of several sizes asked about one size (``--params``) takes them
from the runs of the fitted size nearest it (in log size): the SlimPajama family trains its
360M model 50k steps at 5e-4 and its 33M model 10k steps at 1e-3, and the maximum over both
is neither. Its peak comes from those runs of the schedule family asked for where there are
any (a WSD search at the constant and WSD runs' peak, not at the cosines' twice as high).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrcurve.runs import Run
from lrcurve.sizes import distinct, format_size, same_size

NAMED_RUNS = 3  # runs named in the note
# the fitted runs' families (lrcurve.search_setting.recognise) whose peak LR a family takes
PEAK_FAMILIES = {
    "wsd": ("wsd", "constant"),
    "constant": ("wsd", "constant"),
    "cosine": ("cosine",),
}


@dataclass(frozen=True)
class DefaultRuns:
    """The fitted runs whose horizon and warmup are the defaults, those whose peak is, and
    which they are in words (None: every fitted run, as for a fit of one size)."""

    runs: tuple[Run, ...]
    peak_runs: tuple[Run, ...]
    said: str | None = None

    @property
    def defaults(self) -> dict[str, Any]:
        """``steps``, ``peak`` and ``warmup``: the largest of the runs'."""
        return {
            "steps": max(r.horizon for r in self.runs),
            "peak": max(r.peak_lr for r in self.peak_runs),
            "warmup": max(r.warmup_steps for r in self.runs),
        }


def _family(run: Run) -> str | None:
    from lrcurve.search_setting import recognise

    found = recognise(run.schedule)
    return None if found is None else found[0]


def _labels(runs: Sequence[Run]) -> str:
    shown = ", ".join(r.label for r in runs[:NAMED_RUNS])
    more = len(runs) - NAMED_RUNS
    return shown + (f" and {more} more" if more > 0 else "")


def default_runs(
    runs: Sequence[Run], model_size: float | None = None, family: str | None = None
) -> DefaultRuns:
    """The runs the defaults of a prediction at ``model_size`` under ``family`` come from:
    every run, unless they are of several sizes and a size is asked for (see the module)."""
    sizes = distinct(r.model_size for r in runs)
    if model_size is None or len(sizes) < 2:
        return DefaultRuns(tuple(runs), tuple(runs))
    nearest = min(sizes, key=lambda n: abs(np.log(model_size / n)))
    mine = tuple(r for r in runs if r.model_size is not None and same_size(r.model_size, nearest))
    kin = PEAK_FAMILIES.get(family or "", ())
    of_family = tuple(r for r in mine if _family(r) in kin)
    nearest_said = "" if same_size(nearest, model_size) else ", the nearest fitted size"
    which = _labels(mine)
    peak_runs = mine
    if of_family and max(r.peak_lr for r in of_family) != max(r.peak_lr for r in mine):
        peak_runs = of_family
        which += f"; the peak of its {'/'.join(kin)} runs"
    return DefaultRuns(mine, peak_runs, f"of {format_size(nearest)}{nearest_said} ({which})")
