"""A predicted loss curve: the law's loss at every step of a schedule, the parameters' s.e.
and the predictive interval of :mod:`lrcurve.uncertainty`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ExtrapolationError, ReadError
from lrcurve.metrics import Scores, score
from lrcurve.runs import MIN_LOSS
from lrcurve.schedules import Schedule
from lrcurve.uncertainty import interval_factor

if TYPE_CHECKING:
    import pandas as pd

    from lrcurve.runs import Run


@dataclass(frozen=True)
class AgainstMeasured:
    """A measured run against a prediction, on its logged points after the predicted schedule's
    warmup and up to its last predicted step: the scores (MAPE, final error, ...), the last
    point compared, its interval, the share of points inside the interval, and ``lr_gap``, the
    largest difference between the run's LR and the predicted schedule's at those points, as a
    fraction of the peak (a run of another schedule compares apples and pears)."""

    run: str
    scores: Scores
    step: int
    measured: float
    predicted: float
    lower: float | None
    upper: float | None
    inside_share: float | None
    lr_gap: float = 0.0

    @property
    def inside(self) -> bool | None:
        """The last measured point is inside the predictive interval (None without one)."""
        if self.lower is None or self.upper is None:
            return None
        return self.lower <= self.measured <= self.upper

    def to_dict(self) -> dict[str, object]:
        return {
            "run": self.run,
            **self.scores.to_dict(),
            "step": self.step,
            "measured": self.measured,
            "predicted": self.predicted,
            "lower": self.lower,
            "upper": self.upper,
            "inside": self.inside,
            "inside_share": self.inside_share,
            "lr_gap": self.lr_gap,
        }


@dataclass(frozen=True, eq=False)
class Prediction:
    """A predicted loss curve at every step ``1..n`` of a schedule.

    ``loss_stderr``: the delta-method s.e. of the fitted parameters only. ``sd``: the predictive
    s.d. of :mod:`lrcurve.uncertainty` (that s.e. and the law's own error, learned from
    backtests on the fitted runs and growing with extrapolation), whose central interval at
    ``level`` is ``lower``..``upper`` (``None`` when predicted with ``level=None``).
    ``warnings`` say where the schedule leaves the fitted regime; ``extrapolating`` says the
    same in a few words each."""

    schedule: Schedule
    steps: NDArray[np.int64]
    lr: NDArray[np.float64]
    loss: NDArray[np.float64]
    loss_stderr: NDArray[np.float64] | None = None
    warnings: tuple[str, ...] = ()
    level: float | None = None
    sd: NDArray[np.float64] | None = None
    extrapolating: tuple[str, ...] = ()

    @property
    def final_loss(self) -> float:
        return float(self.loss[-1])

    @property
    def final_stderr(self) -> float | None:
        return None if self.loss_stderr is None else float(self.loss_stderr[-1])

    @property
    def half_width(self) -> NDArray[np.float64] | None:
        """Half the predictive interval's width at each step (``q(level) sd``)."""
        if self.sd is None or self.level is None:
            return None
        return interval_factor(self.level) * self.sd

    @property
    def lower(self) -> NDArray[np.float64] | None:
        half = self.half_width
        return None if half is None else self.loss - half

    @property
    def upper(self) -> NDArray[np.float64] | None:
        half = self.half_width
        return None if half is None else self.loss + half

    @property
    def final_interval(self) -> tuple[float, float] | None:
        """The predictive interval of the final loss at ``level``: (lower, upper)."""
        half = self.half_width
        if half is None:
            return None
        return self.final_loss - float(half[-1]), self.final_loss + float(half[-1])

    def __repr__(self) -> str:
        band = "" if self.final_stderr is None else f" ± {self.final_stderr:.2g}"
        if self.final_interval is not None:
            lower, upper = self.final_interval
            band = f" [{lower:.4f}, {upper:.4f}] ({self.level:.0%})"
        return (
            f"Prediction({self.schedule}, {self.steps.size} steps, final loss "
            f"{self.final_loss:.4f}{band}, {len(self.warnings)} warnings)"
        )

    def against(self, run: Run) -> AgainstMeasured:
        """``run``'s logged loss against this prediction (:class:`AgainstMeasured`);
        ``ReadError`` when it logs no point after the warmup within the predicted steps."""
        keep = (run.steps > self.schedule.warmup_steps) & (run.steps <= self.steps[-1])
        if not keep.any():
            raise ReadError(
                f"{run.source or run.name}: no logged point between the warmup (step "
                f"{self.schedule.warmup_steps}) and step {int(self.steps[-1])}, the predicted steps"
            )
        at, measured = run.steps[keep] - 1, run.loss[keep]
        lower, upper = self.lower, self.upper
        inside = None
        if lower is not None and upper is not None:
            lower, upper = lower[at], upper[at]
            inside = float(np.mean((lower <= measured) & (measured <= upper)))
        return AgainstMeasured(
            run.label,
            score(self.loss[at], measured),
            int(run.steps[keep][-1]),
            float(measured[-1]),
            float(self.loss[at[-1]]),
            None if lower is None else float(lower[-1]),
            None if upper is None else float(upper[-1]),
            inside,
            float(np.max(np.abs(run.schedule(run.steps[keep]) - self.lr[at]))) / self.schedule.peak,
        )

    def to_frame(self) -> pd.DataFrame:
        """The curve as a DataFrame: step, lr, loss, stderr, lower, upper (NaN without a
        covariance or an interval)."""
        import pandas as pd

        def column(values: NDArray[np.float64] | None) -> NDArray[np.float64]:
            return np.full(self.loss.shape, np.nan) if values is None else values

        return pd.DataFrame(
            {
                "step": self.steps,
                "lr": self.lr,
                "loss": self.loss,
                "stderr": column(self.loss_stderr),
                "lower": column(self.lower),
                "upper": column(self.upper),
            }
        )


def refuse_nonpositive_loss(
    loss: NDArray[np.float64], peak: float, fitted_peak: float, where: Callable[[int], str]
) -> None:
    """Refuse a predicted loss at or below zero (``where(i)`` says where entry ``i`` is): a law
    taken far from its fit, e.g. to a peak LR thousands of times the fitted one, gives one."""
    low = np.flatnonzero(loss <= MIN_LOSS)
    if low.size:
        i = int(low[0])
        raise ExtrapolationError(
            f"the law predicts a loss of {loss[i]:.4g} {where(i)}: this schedule is far outside "
            f"the fitted runs (peak LR {peak:g}; fitted at {fitted_peak:g})"
        )
