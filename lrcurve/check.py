"""Is a run still on the curve its fit predicts? (``lrcurve check``)

Each logged point ``s_i`` (after warmup and the fit's skipped start) gets the relative
deviation ``d_i = (L_obs(s_i) - L_pred(s_i)) / L_pred(s_i)``, where ``L_pred`` is the fitted
law under the run's own schedule. The points are cut into windows of consecutive logs
and a window's deviation is the mean of its ``d_i``, so that logging noise averages out.
A window is inside the band ``lower <= mean d <= upper``: by default ``-+ z sqrt(s_law^2 +
(m s_noise)^2)``, the predictive interval of the run's own schedule at ``level`` widened by the
run's logging noise (:mod:`lrcurve.check_band`); with an explicit ``tolerance``, ``-+tolerance``.
``direction`` says which side fails the run: ``worse`` (the default: a CI gate guards against
regressions) only a window above the band, ``better`` only one below it, ``both`` either; a
window outside the band on the other side is reported, not failed. The run drifted from the
first step of the first failing window.

A noisy (training) loss is smoothed as ``d_i``, the deviation from the prediction, not as the
loss (:mod:`lrcurve.io.smoothing`): a log on the prediction has ``d_i = 0`` everywhere, so
smoothing cannot create drift, whatever the logging interval or the curve's bend.

A run whose loss turned NaN or infinite after finite values (``Run.diverged_at``) failed: its
status is ``diverged`` whatever its windows (they cover the points before it).

A partial log whose schedule has a horizon beyond the next logged step (rebuilt from a
config, or given with flags) also gets a forecast: the final loss ``L_pred(T)`` with its
calibrated predictive interval at ``level`` from :meth:`lrcurve.fitted.FittedLaw.predict` (the
law's own error and the parameters' noise, docs/calibration.md), and ``L_pred(T) * (1 +
d_last)`` if the deviation of the latest window persists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.check_band import (
    DEFAULT_LEVEL,
    LAW_FACTOR,
    NOISE_FACTOR,
    Band,
    Window,
    complete_band,
    cut_windows,
)
from lrcurve.errors import ParameterError, ReadError
from lrcurve.fitting import FittedLaw, Prediction, fit_window, refuse_nonpositive_loss
from lrcurve.io.smoothing import Smoothing, resolve_smoothing
from lrcurve.io.smoothing import smooth as smooth_series
from lrcurve.runs import Run
from lrcurve.sizes import distinct, format_size, refuse_size_free
from lrcurve.uncertainty import z_value

DEFAULT_TOLERANCE = None  # the predictive band (lrcurve.check_band); "0.5%" gives a fixed one
DEFAULT_WINDOWS = 20
DIRECTIONS = ("worse", "better", "both")
DEFAULT_DIRECTION = "worse"


def check_direction(direction: str) -> str:
    """``direction`` if it is one of :data:`DIRECTIONS`, else refused."""
    if direction not in DIRECTIONS:
        raise ParameterError(
            f"must be one of {', '.join(DIRECTIONS)}, got {direction!r}", param="direction"
        )
    return direction


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
class Forecast:
    """The predicted end of a run that is still going, with its predictive interval at
    ``level`` (None when the fit cannot give one)."""

    horizon: int
    final_loss: float
    final_stderr: float | None
    at_current_deviation: float
    level: float | None = None
    interval: tuple[float, float] | None = None

    @classmethod
    def of(cls, prediction: Prediction, deviation: float) -> Forecast:
        """The end of ``prediction``, and where it lands if ``deviation`` persists."""
        return cls(
            int(prediction.steps[-1]),
            prediction.final_loss,
            prediction.final_stderr,
            prediction.final_loss * (1.0 + deviation),
            prediction.level,
            prediction.final_interval,
        )

    def to_dict(self) -> dict[str, Any]:
        interval = None
        if self.interval is not None:
            lower, upper = self.interval
            interval = {"level": self.level, "lower": lower, "upper": upper}
        return {
            "horizon": self.horizon,
            "final_loss": self.final_loss,
            "final_stderr": self.final_stderr,
            "interval": interval,
            "final_loss_at_current_deviation": self.at_current_deviation,
        }


@dataclass(frozen=True, eq=False)
class CheckResult:
    """A run's logged loss against its predicted loss, window by window. ``observed`` is the
    logged loss with its deviation smoothed as ``smoothing`` says (``none``: as logged)."""

    run: Run
    tolerance: float | None
    steps: NDArray[np.int64]
    observed: NDArray[np.float64]
    predicted: NDArray[np.float64]
    windows: tuple[Window, ...]
    forecast: Forecast | None
    prediction: Prediction | None = None
    direction: str = DEFAULT_DIRECTION
    smoothing: str = "none"
    notes: tuple[str, ...] = ()
    level: float = DEFAULT_LEVEL
    noise: float | None = None  # sigma, the run's logging noise (None: a fixed tolerance)
    noise_factor: float = NOISE_FACTOR
    law_factor: float = LAW_FACTOR

    @property
    def band(self) -> str:
        """The band in words: ``±0.5 % band``, or the check band and what it is made of
        (``check band (1.75x the 90 % interval + 8x the logging noise)``)."""
        if self.tolerance is not None:
            return f"±{100 * self.tolerance:.3g} % band"
        noise = "" if self.noise is None else f" + {self.noise_factor:g}x the logging noise"
        return f"check band ({self.law_factor:g}x the {100 * self.level:.4g} % interval{noise})"

    @property
    def deviation(self) -> NDArray[np.float64]:
        return (self.observed - self.predicted) / self.predicted

    @property
    def diverged(self) -> bool:
        return self.run.diverged_at is not None

    @property
    def drifted(self) -> bool:
        """A window failed (see :class:`Window`)."""
        return any(w.failed for w in self.windows)

    @property
    def status(self) -> str:
        """``diverged``, ``drift`` or ``ok``: anything but ``ok`` fails the run."""
        return "diverged" if self.diverged else "drift" if self.drifted else "ok"

    @property
    def first_drift(self) -> Window | None:
        return next((w for w in self.windows if w.failed), None)

    @property
    def worst(self) -> Window | None:
        return max(self.windows, key=lambda w: abs(w.deviation), default=None)

    def _verdict(self) -> str:
        """What the windows say, in words."""
        band = self.band
        inside = f"inside the {band}"
        if self.tolerance is not None:
            inside = f"within ±{100 * self.tolerance:.3g} % of the prediction"
        if self.worst is None:
            return "no logged loss after warmup to compare"
        worst = f"{100 * self.worst.deviation:+.2f} %"
        first = self.first_drift
        if first is not None:
            return (
                f"the loss left the {band} at step {first.start} "
                f"({100 * first.deviation:+.2f} % against ±{100 * first.upper:.2f} %, {first.side} "
                f"it over steps {first.start}-{first.end}; worst window {worst})"
            )
        text = f"{inside} over {len(self.windows)} windows to step {self.steps[-1]} (worst {worst})"
        outside = [w for w in self.windows if not w.in_band]
        if outside:
            better = "better" if outside[0].side == "below" else "worse"
            rest = ", the rest within it" if len(outside) < len(self.windows) else ""
            text = (
                f"{len(outside)} of {len(self.windows)} windows {better} than the {band} "
                f"from step {outside[0].start} ({100 * outside[0].deviation:+.2f} %; not failed: "
                f"direction {self.direction}){rest} (worst {worst})"
            )
        return text

    def summary(self) -> str:
        """One line for people and CI logs."""
        text = f"{self.run.label}: "
        if self.diverged:
            text += (
                f"the run diverged at step {self.run.diverged_at} (its loss is NaN or infinite "
                "there, after finite values); before it, "
            )
        text += self._verdict()
        if self.forecast is not None:
            f = self.forecast
            ci = ""
            if f.interval is not None:
                ci = f" [{f.interval[0]:.4f}, {f.interval[1]:.4f}] ({100 * (f.level or 0):.4g} %)"
            final = f"{self.forecast.final_loss:.4f}"
            text += f"; predicted final loss at step {self.forecast.horizon}: {final}{ci}"
        return text

    def to_dict(self) -> dict[str, Any]:
        first, worst, n = self.first_drift, self.worst, self.steps.size
        return {
            "run": self.run.name,
            "label": self.run.label,
            "source": self.run.source,
            "status": self.status,
            "diverged_at": self.run.diverged_at,
            "direction": self.direction,
            "tolerance": self.tolerance,
            "level": None if self.tolerance is not None else self.level,
            "noise": self.noise,
            "noise_factor": None if self.tolerance is not None else self.noise_factor,
            "law_factor": None if self.tolerance is not None else self.law_factor,
            "smoothing": self.smoothing,
            "points": int(n),
            "from_step": int(self.steps[0]) if n else None,
            "to_step": int(self.steps[-1]) if n else None,
            "mean_deviation": float(np.mean(self.deviation)) if n else None,
            "worst_window_deviation": None if worst is None else worst.deviation,
            "first_drift_step": None if first is None else first.start,
            "drift_direction": None if first is None else first.side,
            "windows": [w.to_dict() for w in self.windows],
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "schedule": str(self.run.schedule),
            "lr_origin": self.run.lr_origin,
            "summary": self.summary(),
        }


def _forecast(fitted: FittedLaw, run: Run, level: float) -> Prediction | None:
    """The prediction to the end of ``run``'s planned schedule when more than one more log is
    to come; None otherwise."""
    horizon = run.schedule.horizon
    log_interval = float(np.median(np.diff(run.steps))) if run.steps.size > 1 else 0.0
    if horizon is None or horizon <= run.last_step + log_interval:
        return None
    prediction = fitted.predict(run.schedule, horizon, level=level, model_size=run.model_size)
    refuse_nonpositive_loss(
        prediction.loss,
        run.peak_lr,
        fitted.peak_lr,
        lambda i: f"at step {i + 1} of {run.name}'s forecast",
    )
    return prediction


def _smoothed(
    run: Run, observed: NDArray[np.float64], predicted: NDArray[np.float64], smoothing: Smoothing
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[str, ...]]:
    """The logged loss with its relative deviation from ``predicted`` smoothed, that
    deviation, and a note saying so (none when nothing is smoothed)."""
    deviation = smooth_series((observed - predicted) / predicted, smoothing)
    if smoothing.kind == "none" or not observed.size:
        return observed, deviation, ()
    series = repr(run.loss_series) if run.loss_series else "the loss"
    note = (
        f"{run.source or run.name}: smoothed the deviation of {series} from the prediction "
        f"with {smoothing} (smooth='none' to judge the raw points)"
    )
    return predicted * (1.0 + deviation), deviation, (note,)


def _check_arguments(windows: int, direction: str, level: float, **factors: float) -> None:
    """Refuse a window count below 1, an unknown direction, a level outside (0, 1) and a
    negative or infinite band factor, naming the parameter."""
    if windows < 1:
        raise ParameterError(f"must be at least 1, got {windows}", param="windows")
    for name, factor in factors.items():
        if factor < 0 or not np.isfinite(factor):
            raise ParameterError(f"must be 0 or more, got {factor}", param=name)
    check_direction(direction)
    z_value(level)


def _refuse_another_size(fitted: FittedLaw, run: Run) -> None:
    """A size-free fit predicts the curve of the size it was fitted on (or of one blend of
    several): a run of another size would be checked against it and seem to drift."""
    if fitted.law.size_aware or not fitted.sizes:
        return
    where = run.source or run.name
    if len(distinct(fitted.sizes)) > 1:
        fitted_sizes = ", ".join(format_size(n) for n in fitted.sizes)
        raise ReadError(
            f"{where}: the {fitted.law.name} law is size-free, fitted on {fitted_sizes} as one "
            "model, so it predicts none of them; check against a size-aware fit (--law "
            "momentum-size or multipower-size)"
        )
    if run.model_size is None:
        return
    try:
        refuse_size_free(fitted.law, fitted.sizes, run.model_size)
    except ParameterError as err:
        size = format_size(run.model_size)
        raise ReadError(f"{where}: a {size} model; {err.message}") from None


def check_run(
    fitted: FittedLaw,
    run: Run,
    tolerance: float | None = None,
    windows: int = DEFAULT_WINDOWS,
    *,
    direction: str = DEFAULT_DIRECTION,
    smooth: str = "none",
    level: float = DEFAULT_LEVEL,
    noise_factor: float = NOISE_FACTOR,
    law_factor: float = LAW_FACTOR,
    reference: Prediction | None = None,
) -> CheckResult:
    """Compare ``run``'s logged loss with ``fitted``'s prediction for its schedule.

    Each window is judged against the predictive band at ``level``, its law part times
    ``law_factor``, widened by ``noise_factor`` times the run's logging noise
    (:mod:`lrcurve.check_band`), or against ``±tolerance`` when one is given. ``smooth``
    (``none``, ``auto``, ``ema:B``, ``window:N``; ``auto`` smooths a training loss with
    ``window:11``) applies to the deviation from the prediction, not to the loss (see the
    module docstring): give the run as logged, unsmoothed. ``reference``:
    ``fitted.predict(run.schedule, level=level)`` if already computed.
    """
    _check_arguments(windows, direction, level, noise_factor=noise_factor, law_factor=law_factor)
    _refuse_another_size(fitted, run)
    smoothing = resolve_smoothing(smooth, run.loss_series)
    compared = fit_window(run, fitted.skip_fraction)
    if not compared.any() and run.diverged_at is None:
        raise ReadError(
            f"{run.source or run.name}: no logged loss after warmup ({run.warmup_steps} steps) to "
            "check"
        )
    steps, observed = run.steps[compared], run.loss[compared]
    # FittedLaw.curve refuses a non-finite or non-positive loss after warmup (all these steps)
    predicted = (
        fitted.curve(run.schedule, steps, model_size=run.model_size) if steps.size else np.empty(0)
    )
    prediction = None if run.diverged_at is not None else _forecast(fitted, run, level)
    settings = Band(tolerance, level, noise_factor=noise_factor, law_factor=law_factor)
    raw = (observed - predicted) / predicted
    band = complete_band(fitted, run, steps, raw, settings, reference or prediction)
    observed, deviation, notes = _smoothed(run, observed, predicted, smoothing)
    cut = cut_windows(steps, deviation, windows, band, direction)
    forecast = None if prediction is None else Forecast.of(prediction, cut[-1].deviation)
    noise = None if tolerance is not None else band.sigma
    return CheckResult(
        run, tolerance, steps, observed, predicted, cut, forecast, prediction,
        direction, str(smoothing), notes, level, noise, noise_factor, law_factor,
    )  # fmt: skip


def with_fit_warmup(runs: list[Run], warmup: int) -> list[Run] | None:
    """``runs`` under the fitted runs' ``warmup`` when every log starts after it with no warmup
    of its own (as ``predict`` takes the fit's warmup); None when that does not apply."""
    from lrcurve.schedules import Warmup

    if not warmup or not all(r.warmup_steps == 0 and r.steps[0] >= warmup for r in runs):
        return None
    return [replace(r, schedule=Warmup(r.schedule, warmup)) for r in runs]
