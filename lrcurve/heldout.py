"""A held-out run scored against a law that did not see it (:mod:`lrcurve.compare`): its curve
after the skipped start, and its final loss against the prediction's interval.

An interval that reaches below 0 is none for a loss (a loss is positive): it comes from
parameters the fit does not pin, whose s.e. blow up through the delta method (the
multi-power law fitted to constant and cooldown runs of two sizes: ``gamma`` at 0, ``B``,
``C`` and ``beta`` trade off, their s.e. 10^4 to 10^8 times their values, and a held-out
cooldown's interval spans [-10.1, 16.5]). Such a final counts as neither in nor out, and
says why; the intervals themselves are not changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lrcurve.errors import InputError
from lrcurve.fitted import FittedLaw
from lrcurve.fitting import fit_window
from lrcurve.metrics import Scores, score
from lrcurve.prediction import AgainstMeasured
from lrcurve.runs import Run

if TYPE_CHECKING:
    from lrcurve.compare import Comparison


def heldout_score(model: FittedLaw, run: Run, skip_fraction: float) -> Scores:
    """Score a held-out run where the laws apply: after its warmup and the skipped start,
    the same window the fits and ``check`` use."""
    window = fit_window(run, skip_fraction)
    if window.sum() < 2:
        window = np.ones(run.steps.size, dtype=bool)
    return score(model.predict_run(run)[window], run.loss[window])


def final_against(
    model: FittedLaw, run: Run, level: float
) -> tuple[AgainstMeasured | None, str | None]:
    """The run's logged loss against the prediction of its schedule at ``level`` (None where
    the law cannot predict it), and why it has no interval when its interval reaches below 0
    (then without one)."""
    try:
        prediction = model.predict(
            run.schedule, run.last_step, level=level, model_size=run.model_size
        )
        final = prediction.against(run)
    except InputError:  # the law cannot predict this schedule (a non-positive loss, ...)
        return None, None
    if final.lower is None or final.upper is None or final.lower > 0:
        return final, None
    names = model.unpinned
    why = f"the fit does not pin {', '.join(names)} (s.e. over their value)" if names else ""
    reason = (
        f"no interval: its {100 * level:.4g} % interval [{final.lower:.4g}, {final.upper:.4g}] "
        f"reaches below 0, none for a loss{'; ' + why if why else ''}; not counted"
    )
    return replace(final, lower=None, upper=None, inside_share=None), reason


def in_run_steps(comparison: Comparison, logged: Mapping[str, float], unit: float) -> Comparison:
    """``comparison`` of runs counted on a clock of ``unit`` tokens a step
    (:func:`lrcurve.tokens.token_clock`), its held-out finals at their runs' own steps
    (``logged``: each run's own tokens per step, by name), their clock steps kept."""
    from lrcurve.target_clock import TargetClock

    def own(h: Any) -> Any:  # a Heldout
        clock = TargetClock(logged.get(h.run.name, unit), unit)
        if h.final is None or clock.same:
            return h
        at = clock.back(h.final.step)
        return replace(h, final=replace(h.final, step=at), clock_step=h.final.step)

    results = tuple(
        replace(r, heldout=tuple(own(h) for h in r.heldout)) for r in comparison.results
    )
    return replace(comparison, results=results, clock_unit=unit)
