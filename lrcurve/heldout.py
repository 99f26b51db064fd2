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

from dataclasses import replace

import numpy as np

from lrcurve.errors import InputError
from lrcurve.fitted import FittedLaw
from lrcurve.fitting import fit_window
from lrcurve.metrics import Scores, score
from lrcurve.prediction import AgainstMeasured
from lrcurve.runs import Run


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
