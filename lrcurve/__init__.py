"""lrcurve: predict a pretraining loss curve under any learning-rate schedule.

Fit a loss law to one or two logged curves, then predict others::

    from lrcurve import fit, read_runs, make_schedule
    runs = read_runs("constant.csv") + read_runs("cosine.csv")
    fitted = fit(runs)
    curve = fitted.predict(make_schedule("wsd", steps=72000, peak=3e-4, decay=0.15, shape="sqrt"))
"""

from lrcurve.areas import annealing_area, forward_area
from lrcurve.fitting import FittedLaw, Prediction, fit
from lrcurve.laws import LAWS, make_law
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.io import Columns, read_runs
from lrcurve.runs import Run
from lrcurve.schedules import make_schedule

__version__ = "0.1.0"
__all__ = [
    "Columns",
    "FittedLaw",
    "LAWS",
    "MomentumLaw",
    "Prediction",
    "Run",
    "annealing_area",
    "fit",
    "forward_area",
    "make_law",
    "make_schedule",
    "read_runs",
]
