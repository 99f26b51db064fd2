"""Smoothing a noisy loss series, per logged point.

- ``ema:b``: ``y_t = b*y_(t-1) + (1-b)*x_t``, debiased by ``1 - b^t`` (TensorBoard's smoothing);
- ``window:n``: centred moving average of ``n`` points (no lag inside the run; the window
  is one-sided at the ends, so the last points lag the curve by up to ``(n-1)/4`` logs);
- ``auto``: ``window:11`` for a training loss, nothing for a validation loss.

A moving average of a curved loss is biased where the curve bends and where the window is
one-sided (the ends of the log), the more so the sparser the log: a log every 128 steps
averages 11 points over 1,400 steps. ``lrcurve check`` therefore smooths the relative
deviation from the prediction (:func:`lrcurve.check.check_run`), never the loss: a log that
sits on the prediction stays exactly on it, whatever its logging interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import lfilter

from lrcurve.errors import ParameterError
from lrcurve.runs import Run

DEFAULT_TRAIN_SMOOTHING = "window:11"


@dataclass(frozen=True)
class Smoothing:
    """``kind`` is ``none``, ``ema`` (``value`` = decay b) or ``window`` (``value`` = points)."""

    kind: str = "none"
    value: float = 0.0

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.value:g}"


def parse_smoothing(text: str) -> Smoothing:
    """``none``, ``ema:B`` (0 <= B < 1) or ``window:N`` (N >= 1 points)."""
    spec = text.strip().lower()
    if spec in ("", "none", "off"):
        return Smoothing()
    kind, _, value = spec.partition(":")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if kind == "ema" and 0.0 <= number < 1.0:
        return Smoothing("ema", number)
    if kind == "window" and number >= 1 and number == int(number):
        return Smoothing("window", int(number))
    raise ParameterError(
        f"{text!r}: use none, ema:B with 0 <= B < 1 (e.g. ema:0.9) or window:N (e.g. window:11)",
        param="smooth",
    )


def smooth(values: ArrayLike, smoothing: Smoothing) -> NDArray[np.float64]:
    """``values`` smoothed point by point (vectorised; see the module docstring)."""
    x = np.asarray(values, dtype=np.float64)
    if smoothing.kind == "ema" and x.size:
        b = smoothing.value
        biased = lfilter([1.0 - b], [1.0, -b], x)
        return biased / (1.0 - b ** np.arange(1, x.size + 1))
    if smoothing.kind == "window" and x.size:
        n = int(smoothing.value)
        before, after = n // 2, (n - 1) // 2
        idx = np.arange(x.size)
        lo, hi = np.maximum(idx - before, 0), np.minimum(idx + after + 1, x.size)
        csum = np.concatenate([[0.0], np.cumsum(x)])
        return (csum[hi] - csum[lo]) / (hi - lo)
    return x.copy()


def is_training_loss(name: str) -> bool:
    return "train" in name.lower()


def resolve_smoothing(spec: str, series: str) -> Smoothing:
    """The smoothing ``spec`` means for the loss series named ``series`` (``auto``: only a
    training loss is smoothed)."""
    if spec.strip().lower() == "auto":
        spec = DEFAULT_TRAIN_SMOOTHING if is_training_loss(series) else "none"
    return parse_smoothing(spec)


def smooth_run(run: Run, spec: str, series: str) -> Run:
    """``run`` with its loss smoothed by ``spec`` (``auto``: only a training loss)."""
    smoothing = resolve_smoothing(spec, series)
    if smoothing.kind == "none":
        return run
    if smoothing.kind == "window" and smoothing.value > run.steps.size / 2:
        raise ParameterError(
            f"{smoothing}: a window over half of {run.source or run.name}'s {run.steps.size} "
            "points would flatten its curve; take a shorter one",
            param="smooth",
        )
    note = (
        f"{run.source or run.name}: smoothed the {series!r} series with {smoothing} "
        "(smooth='none' to fit the raw points)"
    )
    return replace(run, loss=smooth(run.loss, smoothing), notes=(*run.notes, note))
