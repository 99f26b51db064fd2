"""lrcurve: predict a pretraining loss curve under any learning-rate schedule.

Fit a loss law to one or two logged curves, then predict others::

    from lrcurve import fit, read_runs, make_schedule
    runs = read_runs("constant.csv") + read_runs("cosine.csv")
    fitted = fit(runs)
    curve = fitted.predict(make_schedule("wsd", steps=72000, peak=3e-4, decay=0.15, shape="sqrt"))
"""

import importlib  # loaded already by the interpreter: this module imports nothing new

# Names are imported on first use, so that `lrcurve --help` starts without numpy, and so that
# a Ctrl-C reaches the CLI's handler (lrcurve.cli.main) a few instructions after start-up.
_EXPORTS = {
    "annealing_area": "lrcurve.areas",
    "forward_area": "lrcurve.areas",
    "FittedLaw": "lrcurve.fitting",
    "Prediction": "lrcurve.prediction",
    "fit": "lrcurve.fitting",
    "LAWS": "lrcurve.laws",
    "make_law": "lrcurve.laws",
    "MomentumLaw": "lrcurve.laws.momentum",
    "Columns": "lrcurve.io",
    "read_runs": "lrcurve.io",
    "Run": "lrcurve.runs",
    "make_schedule": "lrcurve.schedules",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lrcurve' has no attribute {name!r}")


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
