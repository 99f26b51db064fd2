"""Is a run still on the curve its fit predicts? (``lrcurve check``)

Each logged point ``s_i`` (after warmup and the fit's skipped start) gets the relative
deviation ``d_i = (L_obs(s_i) - L_pred(s_i)) / L_pred(s_i)``, where ``L_pred`` is the fitted
law under the run's own schedule. The points are cut into windows of consecutive logs
and a window's deviation is the mean of its ``d_i``, so that logging noise averages out.
The run is within tolerance while every window has ``|mean d| <= tolerance``; otherwise it
drifted, from the first step of the first window outside the band.

A partial log whose schedule has a horizon beyond the next logged step (rebuilt from a
config, or given with flags) also gets a forecast: the final loss ``L_pred(T)`` with its
delta-method standard error from :meth:`lrcurve.fitting.FittedLaw.predict`, a 95 %
interval ``L_pred(T) +- 1.96 s.e.`` of the fitted parameters only (the law's own error
across schedules is not in it, so it is a lower bound on the uncertainty), and
``L_pred(T) * (1 + d_last)`` if the deviation of the latest window persists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ExtrapolationError, ParameterError, ReadError
from lrcurve.fitting import FittedLaw, Prediction, fit_window, refuse_nonpositive_loss
from lrcurve.runs import Run

DEFAULT_TOLERANCE = "0.5%"
DEFAULT_WINDOWS = 20
Z95 = 1.959964


def parse_tolerance(text: str) -> float:
    """``0.5%`` or ``0.005`` as a fraction; a bare number of 0.2 or more is taken for a slip."""
    spec = str(text).strip()
    percent = spec.endswith("%")
    try:
        value = float(spec.rstrip("%").strip())
    except ValueError:
        raise ParameterError(
            f"{text!r}: give a relative tolerance such as 0.5% or 0.005", param="tolerance"
        ) from None
    fraction = value / 100 if percent else value
    if not np.isfinite(fraction) or fraction <= 0:
        raise ParameterError(f"{text!r}: must be a positive, finite number", param="tolerance")
    if not percent and fraction >= 0.2:
        raise ParameterError(
            f"{text!r} would allow {100 * fraction:g} %; write {value:g}% for {value:g} percent",
            param="tolerance",
        )
    return fraction


@dataclass(frozen=True)
class Window:
    """Consecutive logged points and their mean relative deviation from the prediction."""

    start: int
    end: int
    points: int
    deviation: float
    in_band: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "points": self.points,
            "deviation": self.deviation,
            "in_band": self.in_band,
        }


@dataclass(frozen=True)
class Forecast:
    """The predicted end of a run that is still going."""

    horizon: int
    final_loss: float
    final_stderr: float | None
    at_current_deviation: float

    @property
    def interval(self) -> tuple[float, float] | None:
        if self.final_stderr is None:
            return None
        return self.final_loss - Z95 * self.final_stderr, self.final_loss + Z95 * self.final_stderr

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "final_loss": self.final_loss,
            "final_stderr": self.final_stderr,
            "fit_interval95": list(self.interval) if self.interval else None,
            "fit_interval_covers": (
                "the fitted parameters' uncertainty only, not the law's own error"
            ),
            "final_loss_at_current_deviation": self.at_current_deviation,
        }


@dataclass(frozen=True, eq=False)
class CheckResult:
    """A run's logged loss against its predicted loss, window by window."""

    run: Run
    tolerance: float
    steps: NDArray[np.int64]
    observed: NDArray[np.float64]
    predicted: NDArray[np.float64]
    windows: tuple[Window, ...]
    forecast: Forecast | None
    prediction: Prediction | None = None

    @property
    def deviation(self) -> NDArray[np.float64]:
        return (self.observed - self.predicted) / self.predicted

    @property
    def drifted(self) -> bool:
        return not all(w.in_band for w in self.windows)

    @property
    def first_drift(self) -> Window | None:
        return next((w for w in self.windows if not w.in_band), None)

    @property
    def worst(self) -> Window:
        return max(self.windows, key=lambda w: abs(w.deviation))

    def summary(self) -> str:
        """One line for people and CI logs."""
        band = f"±{100 * self.tolerance:.3g} %"
        worst = f"{100 * self.worst.deviation:+.2f} %"
        head = f"{self.run.name}: "
        if self.drifted:
            first = self.first_drift
            assert first is not None
            side = "above" if first.deviation > 0 else "below"
            text = (
                f"{head}the loss left the {band} band at step {first.start} "
                f"({100 * first.deviation:+.2f} % {side} "
                f"the prediction over steps {first.start}-{first.end}; worst window {worst})"
            )
        else:
            text = (
                f"{head}within {band} of the prediction over {len(self.windows)} windows to step "
                f"{self.steps[-1]} (worst {worst})"
            )
        if self.forecast is not None:
            interval = self.forecast.interval
            ci = (
                f" [{interval[0]:.4f}, {interval[1]:.4f}, fit uncertainty only]" if interval else ""
            )
            final = f"{self.forecast.final_loss:.4f}"
            text += f"; predicted final loss at step {self.forecast.horizon}: {final}{ci}"
        return text

    def to_dict(self) -> dict[str, Any]:
        first = self.first_drift
        return {
            "run": self.run.name,
            "source": self.run.source,
            "status": "drift" if self.drifted else "ok",
            "tolerance": self.tolerance,
            "points": int(self.steps.size),
            "from_step": int(self.steps[0]),
            "to_step": int(self.steps[-1]),
            "mean_deviation": float(np.mean(self.deviation)),
            "worst_window_deviation": self.worst.deviation,
            "first_drift_step": None if first is None else first.start,
            "drift_direction": None
            if first is None
            else ("above" if first.deviation > 0 else "below"),
            "windows": [w.to_dict() for w in self.windows],
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "schedule": str(self.run.schedule),
            "lr_origin": self.run.lr_origin,
            "summary": self.summary(),
        }


def check_run(
    fitted: FittedLaw, run: Run, tolerance: float, windows: int = DEFAULT_WINDOWS
) -> CheckResult:
    """Compare ``run``'s logged loss with ``fitted``'s prediction for its schedule."""
    if windows < 1:
        raise ParameterError(f"must be at least 1, got {windows}", param="windows")
    compared = fit_window(run, fitted.skip_fraction)
    if not compared.any():
        raise ReadError(
            f"{run.source or run.name}: no logged loss after warmup ({run.warmup_steps} steps) to "
            "check"
        )
    steps, observed = run.steps[compared], run.loss[compared]
    predicted = fitted.curve(run.schedule, steps)
    if not np.all(np.isfinite(predicted)):
        raise ExtrapolationError(
            f"{run.source or run.name}: the law is not defined for this run's schedule "
            f"({run.schedule})"
        )
    refuse_nonpositive_loss(
        predicted, run.peak_lr, fitted.peak_lr, lambda i: f"at step {steps[i]} of {run.name}"
    )
    deviation = (observed - predicted) / predicted
    parts = np.array_split(np.arange(steps.size), min(windows, steps.size))
    starts = np.array([p[0] for p in parts])
    counts = np.array([p.size for p in parts])
    means = np.add.reduceat(deviation, starts) / counts
    cut = tuple(
        Window(
            int(steps[p[0]]), int(steps[p[-1]]), int(p.size), float(m), bool(abs(m) <= tolerance)
        )
        for p, m in zip(parts, means)
    )
    forecast, prediction = None, None
    horizon = run.schedule.horizon
    log_interval = float(np.median(np.diff(run.steps))) if run.steps.size > 1 else 0.0
    if (
        horizon is not None and horizon > run.last_step + log_interval
    ):  # more than one more log to come
        prediction = fitted.predict(run.schedule, horizon)
        refuse_nonpositive_loss(
            prediction.loss,
            run.peak_lr,
            fitted.peak_lr,
            lambda i: f"at step {i + 1} of {run.name}'s forecast",
        )
        forecast = Forecast(
            horizon,
            prediction.final_loss,
            prediction.final_stderr,
            prediction.final_loss * (1.0 + cut[-1].deviation),
        )
    return CheckResult(run, tolerance, steps, observed, predicted, cut, forecast, prediction)


def with_fit_warmup(runs: list[Run], warmup: int) -> list[Run] | None:
    """``runs`` under the fitted runs' ``warmup`` when every log starts after it with no warmup
    of its own (as ``predict`` takes the fit's warmup); None when that does not apply."""
    from dataclasses import replace

    from lrcurve.schedules import Warmup

    if not warmup or not all(r.warmup_steps == 0 and r.steps[0] >= warmup for r in runs):
        return None
    return [replace(r, schedule=Warmup(r.schedule, warmup)) for r in runs]
