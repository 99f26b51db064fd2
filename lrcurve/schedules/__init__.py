"""Learning-rate schedules as values.

A schedule maps 1-based optimiser steps to learning rates, vectorised over a numpy
array of steps. Schedules are frozen dataclasses: they can be evaluated, composed
(:class:`Warmup` in front of a body, :class:`Join` to concatenate segments as in
re-warmup for continual pretraining), printed, and saved to JSON with
:meth:`Schedule.to_dict` / :func:`schedule_from_dict`.

Every schedule that decays does so from ``peak`` towards ``final * peak``, where
``final`` is a fraction of the peak (``final=0.1`` is "decay to 10 %").

A schedule gives the LR each step runs with, warmup included; how a loss law counts the warmup
(at the LR it reaches, or as run) is the law's convention, applied in
:class:`lrcurve.laws.base.LRHistory`.
"""

from lrcurve.schedules.base import WARMUP_SHAPES, WSD_SHAPES, Schedule, decay_factor
from lrcurve.schedules.build import (
    MAX_NESTING,
    SCHEDULE_NAMES,
    make_schedule,
    schedule_from_dict,
)
from lrcurve.schedules.compose import Join, Warmup, rewarmup, with_warmup, without_warmup
from lrcurve.schedules.families import (
    WSD,
    Constant,
    Cosine,
    CyclicCosine,
    MultiStep,
    Piecewise,
    Power,
)

__all__ = [
    "MAX_NESTING",
    "SCHEDULE_NAMES",
    "WARMUP_SHAPES",
    "WSD",
    "WSD_SHAPES",
    "Constant",
    "Cosine",
    "CyclicCosine",
    "Join",
    "MultiStep",
    "Piecewise",
    "Power",
    "Schedule",
    "Warmup",
    "decay_factor",
    "make_schedule",
    "rewarmup",
    "schedule_from_dict",
    "with_warmup",
    "without_warmup",
]
