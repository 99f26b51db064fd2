"""A fitted law: its parameters, the runs it saw, what it predicts, and its fit report.

:class:`FittedLaw` refuses a prediction it cannot make (not finite, or a loss at or below zero
after the warmup) with :class:`~lrcurve.errors.ExtrapolationError`. Its information criteria
are on the fit window's relative residuals (``n`` points, ``k`` the law's parameters, ``RSS``
their sum of squares): ``AIC = n ln(RSS/n) + 2k``, ``BIC = n ln(RSS/n) + k ln n``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ExtrapolationError, ParameterError
from lrcurve.fit_window import DEFAULT_SKIP, fit_window
from lrcurve.laws import law_from_dict, law_to_dict
from lrcurve.laws.base import Law, LRHistory
from lrcurve.memory import check_memory
from lrcurve.metrics import Scores, score
from lrcurve.parameter import Parameter
from lrcurve.prediction import Prediction, refuse_nonpositive_loss  # noqa: F401 - also here
from lrcurve.regime import (
    below_zero_said,
    decay_said,
    horizon_said,
    lr_regime,
    nearest_peak_said,
)
from lrcurve.report import fit_report
from lrcurve.runs import MAX_STEPS, MIN_LOSS, Run
from lrcurve.schedules import Schedule
from lrcurve.sizes import same_size, size_said, target_size
from lrcurve.uncertainty import curve_sd, interval_factor, z_value

if TYPE_CHECKING:
    import pandas as pd

    from lrcurve.clock import Clock


# what a fit file written before 2026-11-30 kept among its warnings for a parameter on a bound
# (now the parameter table's note, not a warning): dropped on load, so predict does not repeat it
_BOUND_WARNING = re.compile(r"parameter \S+ = \S+ is at its bound \[")


def whole_steps(n_steps: Any) -> int:
    """``n_steps`` as an int: a whole number from 1 to ``MAX_STEPS`` (an int, a whole float, a
    numpy scalar or 0-d array), else refused."""
    try:
        value = float(np.asarray(n_steps, dtype=np.float64))
    except (TypeError, ValueError):
        value = float("nan")
    if not (value.is_integer() and 1 <= value <= MAX_STEPS) or isinstance(n_steps, bool):
        raise ParameterError(
            f"must be a whole number of steps from 1 to {MAX_STEPS:,}, got {n_steps!r}",
            param="steps",
        )
    return int(value)


@dataclass(frozen=True, eq=False)
class FittedLaw:
    """A law with fitted parameters, the runs it saw, and how well it fits them.

    ``held`` names the parameters the fit held at their start (they change nothing on these
    runs). ``n_fit_points`` and ``fit_rss`` are the points in the fit window and the sum of
    squares of their relative residuals at the solution (``None`` in fit files older than
    them). ``backtest_scale`` is ``b`` of :mod:`lrcurve.backtest`, the law's RMS relative
    error forecasting its own runs' tails, which the predictive interval scales with (``None``
    from ``fit(..., backtest=False)``: the interval then uses the residual RMS). ``at_size``:
    the model size a size-free view of a size-aware fit predicts for
    (:func:`lrcurve.size_fit.fitted_at_size`), whose interval keeps the size term;
    ``sized_from``: the size-aware fit it views, whose predictions at ``at_size`` it gives (its
    own covariance leaves out the peak-LR exponents and the LR term that the view holds fixed).
    ``clock``: the clock of tokens the runs were counted on (``fit --clock tokens``; None: in
    steps as logged).
    """

    law: Law
    params: tuple[Parameter, ...]
    runs: tuple[Run, ...]
    skip_fraction: float
    covariance: NDArray[np.float64] | None
    converged: bool
    message: str
    warnings: tuple[str, ...] = field(default=())
    n_fit_points: int | None = None
    fit_rss: float | None = None
    held: tuple[str, ...] = ()
    backtest_scale: float | None = None
    at_size: float | None = None
    sized_from: FittedLaw | None = field(default=None, repr=False, compare=False)
    clock: Clock | None = None

    @property
    def values(self) -> NDArray[np.float64]:
        return np.array([p.value for p in self.params])

    def __getitem__(self, name: str) -> Parameter:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __repr__(self) -> str:
        values = ", ".join(f"{p.name}={p.value:.4g}" for p in self.params)
        runs = ", ".join(r.name for r in self.runs[:3]) + (", ..." if len(self.runs) > 3 else "")
        held = f", held {', '.join(self.held)}" if self.held else ""
        return f"FittedLaw({self.law.name}: {values}{held}; {len(self.runs)} runs: {runs})"

    @property
    def peak_lr(self) -> float:
        return max(r.peak_lr for r in self.runs)

    @property
    def horizon(self) -> int:
        return max(r.horizon for r in self.runs)

    def horizon_at(self, model_size: float | None) -> int:
        """The horizon seen at ``model_size``: the longest fitted run of the fitted size nearest
        to it (in ``ln N``; of two as near, the shorter horizon), or the longest fitted run when
        no size is given or the runs have none. A size-aware fit of 25M runs to 72k steps and
        a 100M run to 24k has seen the 100M curve to 24k only (its 100M runs to 72k came out
        0.5-0.7 % off with intervals that took 72k as seen), and a size beyond 100M no further."""
        sizes = self.sizes
        if model_size is None or not sizes:
            return self.horizon
        gaps = [abs(math.log(model_size / n)) for n in sizes]
        nearest = [n for n, gap in zip(sizes, gaps) if gap <= min(gaps) + 1e-12]
        return min(
            max(r.horizon for r in self.runs if r.model_size and same_size(r.model_size, n))
            for n in nearest
        )

    @property
    def warmup_steps(self) -> int:
        return max(r.warmup_steps for r in self.runs)

    @property
    def sizes(self) -> tuple[float, ...]:
        """The model sizes ``N`` of the fitted runs, ascending (empty when none was given)."""
        return tuple(sorted({r.model_size for r in self.runs if r.model_size is not None}))

    def predicted_size(self, model_size: float | None) -> float | None:
        """The size a prediction is for: ``model_size``, else the size a size-free view of a
        size-aware fit keeps (:attr:`at_size`; None for a fit of no size)."""
        return self.at_size if model_size is None else model_size

    def target_size(self, model_size: float | None) -> float | None:
        """The size to predict at (:func:`lrcurve.sizes.target_size`)."""
        return target_size(self.law, model_size)

    def _log_mean_square(self) -> float | None:
        if self.n_fit_points is None or self.fit_rss is None:
            return None
        return float(self.n_fit_points * np.log(self.fit_rss / self.n_fit_points))

    @property
    def n_free(self) -> int:
        """How many parameters the fit estimated (those it held are not counted)."""
        return len(self.params) - len(set(self.held) & {p.name for p in self.params})

    @property
    def aic(self) -> float | None:
        """Akaike's criterion on the fit window's relative residuals, with the parameters the
        fit estimated (None in old fit files)."""
        base = self._log_mean_square()
        return None if base is None else base + 2 * self.n_free

    @property
    def bic(self) -> float | None:
        """The Bayesian (Schwarz) criterion on the same residuals (None in old fit files)."""
        base = self._log_mean_square()
        return None if base is None else base + self.n_free * np.log(self.n_fit_points)

    def _checked(
        self, loss: NDArray[np.float64], steps: NDArray[np.int64], schedule: Schedule
    ) -> NDArray[np.float64]:
        """``loss`` at ``steps`` of ``schedule``, refused where the law cannot give it after the
        warmup; inside the warmup (which no law is fitted to: an LR of 0 at step 1 makes the
        forward area 0) a value that is not finite is NaN."""
        after = steps > schedule.warmup_steps
        finite = np.isfinite(loss)
        missing = after & ~finite
        if missing.any():
            raise ExtrapolationError(
                f"the law is not defined at step {steps[np.argmax(missing)]} of {schedule} "
                "(an LR of zero from the start?)"
            )
        del missing
        low = loss <= MIN_LOSS  # the first low loss after the warmup, without copying the loss
        low &= after
        if low.any():
            i = int(np.argmax(low))
            refuse_nonpositive_loss(
                loss[i : i + 1],
                schedule.peak,
                self.peak_lr,
                lambda _: f"at step {steps[i]} of {schedule}",
            )
        return loss if finite.all() else np.where(finite, loss, np.nan)

    def _evaluate(
        self,
        schedule: Schedule,
        steps: NDArray[np.int64],
        theta: NDArray[np.float64] | None = None,
        model_size: float | None = None,
    ) -> NDArray[np.float64]:
        history = LRHistory.of(schedule, int(np.max(steps)), model_size)
        return self.law.predict(self.values if theta is None else theta, history, steps)

    def curve(
        self,
        schedule: Schedule,
        steps: NDArray[np.int64],
        theta: NDArray[np.float64] | None = None,
        model_size: float | None = None,
    ) -> NDArray[np.float64]:
        """The loss at ``steps`` of ``schedule`` (at ``theta``, default the fitted values) for
        a model of ``model_size`` parameters (see :meth:`target_size`)."""
        asked = np.asarray(steps)
        whole = np.isfinite(asked) & (asked == np.round(asked))
        if asked.size and not np.all(whole & (asked >= 1) & (asked <= MAX_STEPS)):
            raise ParameterError(
                f"steps must be whole numbers from 1 to {MAX_STEPS:,}", param="steps"
            )
        steps = asked.astype(np.int64)
        size = self.target_size(model_size)
        if not steps.size:
            return np.zeros(steps.shape)
        return self._checked(self._evaluate(schedule, steps, theta, size), steps, schedule)

    def predict(
        self,
        schedule: Schedule,
        n_steps: int | None = None,
        *,
        level: float | None = 0.9,
        with_stderr: bool = True,
        model_size: float | None = None,
    ) -> Prediction:
        """The loss at every step of ``schedule`` up to ``n_steps`` (default: its horizon), with
        the parameters' s.e. and the predictive interval at ``level`` (``None``: none; see
        :class:`Prediction`), for a model of ``model_size`` parameters (a size-aware law needs
        it; :meth:`target_size`). ``with_stderr=False``: the curve alone (no s.e., no interval)
        in a few bytes a step."""
        if self.sized_from is not None and model_size is None:  # a view: its origin's at N
            return self.sized_from.predict(
                schedule, n_steps, level=level, with_stderr=with_stderr, model_size=self.at_size
            )
        if level is not None:
            z_value(level)  # refuses a level outside (0, 1) before any work
        size = self.target_size(model_size)
        if n_steps is not None:
            n_steps = whole_steps(n_steps)
        n = n_steps or schedule.horizon
        if not n or n < 1:
            raise ExtrapolationError("the schedule has no horizon; give the number of steps")
        check_memory(self.law.name, n, with_stderr and self.covariance is not None)
        history = LRHistory.of(schedule, n, size)
        stderr = None
        if with_stderr and self.covariance is not None and np.all(np.isfinite(self.covariance)):
            steps = np.arange(1, n + 1, dtype=np.int64)
            prepared = self.law.prepare(history, steps)
            loss = self.law.evaluate(self.values, prepared)
            stderr = self._propagate(prepared)
            del prepared
        else:  # the same numbers in a few bytes a step (benchmarks/speed.py)
            loss = self.law.every_step(self.values, history)
            steps = np.arange(1, n + 1, dtype=np.int64)
        loss = self._checked(loss, steps, schedule)
        regime = self.regime(schedule, n, history.held, size)
        sd = None
        if level is not None and with_stderr:
            sd = curve_sd(self, schedule, steps, loss, stderr, history.held, model_size=size)
            half = interval_factor(level) * sd
            regime = (*regime, *below_zero_said(loss, half, level, self.unpinned))
        return Prediction(
            schedule,
            steps,
            history.lr,
            loss,
            stderr,
            tuple(detail for _, detail in regime),
            None if sd is None else level,
            sd,
            tuple(short for short, _ in regime),
        )

    @property
    def unpinned(self) -> list[str]:
        """The fitted parameters whose s.e. exceeds their value (the runs do not pin them)."""
        return [p.name for p in self.params if p.stderr is not None and p.stderr > abs(p.value)]

    def peak_warning(self, peak: float) -> str | None:
        """Said when a peak LR is none of those the runs were fitted at."""
        said = nearest_peak_said(peak, (r.peak_lr for r in self.runs))
        return None if said is None else said[1]

    @cached_property
    def _fitted_lr_regime(self) -> tuple[float, float]:
        return lr_regime(self.runs)

    def decay_regime(
        self, schedule: Schedule, n_steps: int, lr: NDArray[np.float64] | None = None
    ) -> list[tuple[str, str]]:
        """Said when ``schedule`` decays lower or faster than any fitted run over its first
        ``n_steps``: the two things a constant and a cosine run do not pin (docs/accuracy.md),
        each as (a few words, the detail). ``lr``: its per-step LR (warmup held at the LR it
        reaches) if already computed."""
        lr = LRHistory.of(schedule, n_steps).held if lr is None else lr
        return decay_said(lr, schedule.peak, *self._fitted_lr_regime)

    def regime(
        self,
        schedule: Schedule,
        n_steps: int,
        lr: NDArray[np.float64] | None = None,
        model_size: float | None = None,
    ) -> tuple[tuple[str, str], ...]:
        """Where a prediction leaves the regime the fit saw (a longer horizon, another peak LR,
        a decay lower or steeper than the fitted runs', a model size not fitted), each as (a
        few words, the detail). ``lr``: as in :meth:`decay_regime`."""
        size = self.predicted_size(model_size)
        said = (
            horizon_said(n_steps, self.horizon_at(size)),
            nearest_peak_said(schedule.peak, (r.peak_lr for r in self.runs)),
            *self.decay_regime(schedule, n_steps, lr),
            size_said(size, self.sizes),
        )
        return tuple(s for s in said if s)

    def regime_warnings(
        self, schedule: Schedule, n_steps: int, lr: NDArray[np.float64] | None = None
    ) -> tuple[str, ...]:
        """The details of :meth:`regime`."""
        return tuple(detail for _, detail in self.regime(schedule, n_steps, lr))

    def _propagate(self, prepared: Any) -> NDArray[np.float64]:
        """Delta-method standard error of the curve from the parameter covariance."""
        with np.errstate(all="ignore"):  # no value in a warmup from LR 0: NaN there
            jac = self.law.derivatives(self.values, prepared)
        variance = np.einsum("ij,jk,ik->i", jac, self.covariance, jac)
        return np.sqrt(np.maximum(variance, 0.0))

    def predict_run(self, run: Run) -> NDArray[np.float64]:
        """The law's loss at a run's logged steps, under the run's own schedule, for scoring: not
        refused (a law that predicts a held-out run below zero gets the score it earns)."""
        return self._evaluate(run.schedule, run.steps, model_size=run.model_size)

    def scores(self) -> dict[str, Scores]:
        """How well the law fits each run on the points it was fitted to (after warmup and the
        first ``skip_fraction``): the skipped start is no part of the fit's claim."""
        out = {}
        for run in self.runs:
            window = fit_window(run, self.skip_fraction)
            out[run.name] = score(self.predict_run(run)[window], run.loss[window])
        return out

    def summary(self) -> str:
        """A fit report (as lmfit's): law, formula, each parameter's value ± standard error,
        bounds and flags (held, at a bound), the fit statistics and each run's scores."""
        return fit_report(self)

    def to_frame(self) -> pd.DataFrame:
        """The parameters as a DataFrame indexed by name: value, stderr, lower, upper, held,
        at_bound."""
        import pandas as pd

        rows = [
            {
                **p.to_dict(),
                "stderr": np.nan if p.stderr is None else p.stderr,
                "held": p.name in self.held,
                "at_bound": p.at_bound,
            }
            for p in self.params
        ]
        return pd.DataFrame(rows, index=pd.Index([p.name for p in self.params], name="param"))

    def to_dict(self) -> dict[str, Any]:
        scores = self.scores()
        return {
            "law": law_to_dict(self.law),
            "formula": self.law.formula,
            "reference": self.law.reference,
            "params": {p.name: p.to_dict() for p in self.params},
            "held": list(self.held),
            "covariance": None if self.covariance is None else self.covariance.tolist(),
            "converged": self.converged,
            "message": self.message,
            "warnings": list(self.warnings),
            "skip_fraction": self.skip_fraction,
            "n_fit_points": self.n_fit_points,
            "fit_rss": self.fit_rss,
            "backtest_scale": self.backtest_scale,
            "aic": self.aic,
            "bic": self.bic,
            "peak_lr": self.peak_lr,
            "warmup_steps": self.warmup_steps,
            "horizon": self.horizon,
            "model_sizes": list(self.sizes),
            "runs": [{**run.to_dict(), "scores": scores[run.name].to_dict()} for run in self.runs],
            **({} if self.clock is None else {"clock": self.clock.to_dict()}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedLaw:
        from lrcurve.clock import Clock

        cov = data.get("covariance")
        params = tuple(Parameter(name, **p) for name, p in data["params"].items())
        held = tuple(str(name) for name in data.get("held", ()))
        if not set(held) <= {p.name for p in params}:
            raise ValueError(f"held parameters {', '.join(held)} are not all parameters of the fit")
        return cls(
            law=law_from_dict(data["law"]),
            params=params,
            runs=tuple(Run.from_dict(r) for r in data["runs"]),
            skip_fraction=float(data.get("skip_fraction", DEFAULT_SKIP)),
            covariance=None if cov is None else np.asarray(cov, dtype=np.float64),
            converged=bool(data.get("converged", True)),
            message=str(data.get("message", "")),
            warnings=tuple(w for w in data.get("warnings", ()) if not _BOUND_WARNING.match(str(w))),
            n_fit_points=None if data.get("n_fit_points") is None else int(data["n_fit_points"]),
            fit_rss=None if data.get("fit_rss") is None else float(data["fit_rss"]),
            held=held,
            backtest_scale=None
            if data.get("backtest_scale") is None
            else float(data["backtest_scale"]),
            clock=None if data.get("clock") is None else Clock.from_dict(data["clock"]),
        )
