"""Matplotlib figures: data against the fitted law, predictions, schedules, checks, searches.

Each ``plot_*`` function draws on the axes it is given (``ax=None``: a new figure) and returns
the figure; :func:`save_figure` writes it. The backend is the caller's choice (the CLI picks
Agg before it draws). Colours, legends and the style key for many runs: :mod:`lrcurve.plot_style`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from lrcurve.output import write_atomic
from lrcurve.plot_style import (  # noqa: F401 - re-exported: plots elsewhere use them from here
    LEGEND_INSIDE,
    LINE_STYLES,
    PREDICTION_COLORS,
    add_legend,
    run_styles,
    set_title,
    style_key,
    zoom_to_tail,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from lrcurve.check import CheckResult
    from lrcurve.fitting import FittedLaw, Prediction
    from lrcurve.horizon import HorizonLaw
    from lrcurve.optimize import Search
    from lrcurve.power import PowerLawFit
    from lrcurve.schedules import Schedule

Axes = plt.Axes
AxesPair = Sequence[plt.Axes] | None


def loss_lr_figure(ax: AxesPair = None) -> tuple[plt.Figure, plt.Axes, plt.Axes]:
    """Loss above the LR, sharing the step axis (or the pair ``ax``)."""
    if ax is not None:
        ax_loss, ax_lr = ax
        fig = ax_loss.figure
    else:
        fig, (ax_loss, ax_lr) = plt.subplots(
            2, 1, figsize=(8, 6.5), sharex=True, height_ratios=(3, 1)
        )
    ax_loss.set_ylabel("loss (nats)")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_loss.grid(alpha=0.3)
    ax_lr.grid(alpha=0.3)
    return fig, ax_loss, ax_lr


def save_figure(fig: plt.Figure, path: Path, replace: bool = True) -> None:
    """Lay out, write atomically (PNG/SVG/PDF by suffix; ``replace=False``: only as a new
    file) and close."""
    fig.tight_layout()
    try:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=130), replace)
    finally:
        plt.close(fig)


def sized_label(run: Any, sized: bool) -> str:
    """A run's legend label, with its model size when the runs drawn have several
    (``constant 10k lr 1e-3 (33.5M)``)."""
    from lrcurve.sizes import format_size

    return f"{run.label} ({format_size(run.model_size)})" if sized and run.model_size else run.label


def _data_and_fit(
    fitted: FittedLaw,
    ax_loss: plt.Axes,
    ax_lr: plt.Axes,
    alpha: float = 1.0,
    styles: Sequence[tuple[Any, str]] | None = None,
    scale: float = 1.0,
) -> None:
    """Each run's data (dots), fitted curve (its line style, one legend entry) and LR as
    logged; steps ``scale`` times (a clock fit's in a target's of other tokens a step)."""
    styles = styles or run_styles(len(fitted.runs))
    sized = len(fitted.sizes) > 1
    for run, (color, line) in zip(fitted.runs, styles):
        ax_loss.plot(scale * run.steps, run.loss, ".", ms=3, color=color, alpha=0.5 * alpha)
        grid = np.unique(np.linspace(1, run.last_step, 800).astype(np.int64))
        ax_loss.plot(
            scale * grid,
            fitted.curve(run.schedule, grid, model_size=run.model_size),
            line,
            lw=1.2,
            color=color,
            alpha=alpha,
            label=sized_label(run, sized),
        )
        own = 1.0 if fitted.clock is None else fitted.clock.own_lr_factor(run.name)
        ax_lr.plot(scale * grid, own * run.schedule(grid), line, lw=1, color=color, alpha=alpha)


def plot_fit(fitted: FittedLaw, ax: AxesPair = None) -> plt.Figure:
    """The fitted runs' data and the law's curves, above their LR (a clock fit's steps: tokens)."""
    from lrcurve.tokens import fitted_unit, is_clock_fit

    fig, ax_loss, ax_lr = loss_lr_figure(ax)
    if is_clock_fit(fitted):
        ax_lr.set_xlabel(f"step ({fitted_unit(fitted):,.0f} tokens)")
    _data_and_fit(fitted, ax_loss, ax_lr)
    zoom_to_tail(ax_loss, [r.loss for r in fitted.runs])
    set_title(ax_loss, f"{fitted.law.name} law: {fitted.law.formula}")
    style_key(ax_loss, [(".", "logged loss"), ("-", f"{fitted.law.name} fit")])
    add_legend(ax_loss)
    return fig


def _band(pred: Prediction) -> tuple[NDArray[np.float64], NDArray[np.float64], str] | None:
    """A prediction's band to shade: its predictive interval, else ±2 s.e. of the fit."""
    if pred.lower is not None and pred.upper is not None:
        return pred.lower, pred.upper, f"{100 * pred.level:.4g} % predictive interval"
    if pred.loss_stderr is not None:
        spread = 2 * pred.loss_stderr
        return pred.loss - spread, pred.loss + spread, "±2 s.e. from the fit"
    return None


def plot_prediction(
    fitted: FittedLaw,
    predictions: Sequence[Prediction],
    labels: Sequence[str] | None = None,
    ax: AxesPair = None,
    tokens_per_step: float | None = None,
    model_size: float | None = None,
) -> plt.Figure:
    """Predicted curves over the fitted data, above their LR; the band is each prediction's
    predictive interval (±2 s.e. of the fit for one predicted with ``level=None``). A label
    longer than ``2 * MAX_LABEL`` characters (or none) becomes the schedule's short text. A
    target of ``tokens_per_step`` not the fit's: every curve in its steps, the axis says so; of
    ``model_size``: the title says it."""
    from lrcurve.io.labels import MAX_LABEL, schedule_text
    from lrcurve.target_clock import target_clock
    from lrcurve.tokens import fitted_unit, is_clock_fit

    labels = [
        label if label is not None and len(label) <= 2 * MAX_LABEL else schedule_text(p.schedule)
        for p, label in zip(predictions, labels or [None] * len(predictions))
    ]
    fig, ax_loss, ax_lr = loss_lr_figure(ax)
    # the fitted runs in shades of grey, so that no prediction shares a run's colour, each in
    # its own line style too (four or more greys alone cannot be told apart)
    greys = np.linspace(0.15, 0.7, len(fitted.runs)) if len(fitted.runs) > 1 else [0.5]
    context = [(str(round(g, 2)), LINE_STYLES[i % len(LINE_STYLES)]) for i, g in enumerate(greys)]
    clock = None if tokens_per_step is None else target_clock(fitted, tokens_per_step)
    scale = 1.0 if clock is None or clock.same else 1 / clock.k
    if scale != 1.0 or is_clock_fit(fitted):  # steps of the target's tokens, or the clock's
        ax_lr.set_xlabel(f"step ({fitted_unit(fitted) / scale:,.0f} tokens)")
    _data_and_fit(fitted, ax_loss, ax_lr, alpha=0.5, styles=context, scale=scale)
    curves = [r.loss for r in fitted.runs]
    bands = set()
    for j, (pred, label) in enumerate(zip(predictions, labels)):
        color = PREDICTION_COLORS[j % len(PREDICTION_COLORS)]
        ax_loss.plot(pred.steps, pred.loss, "-", lw=1.6, color=color, label=f"predicted: {label}")
        band = _band(pred)
        if band is not None:
            ax_loss.fill_between(pred.steps, *band[:2], color=color, alpha=0.2, lw=0)
            bands.add(band[2])
            curves += band[:2]  # the band in view
        ax_lr.plot(pred.steps, pred.lr, "-", lw=1.4, color=color)
        curves.append(pred.loss)
    zoom_to_tail(ax_loss, curves)
    said = f" (band: {', '.join(sorted(bands))})" if bands else ""
    from lrcurve.sizes import format_size

    at = f" at {format_size(model_size)} parameters" if model_size else ""
    set_title(ax_loss, f"prediction from the {fitted.law.name} law{at}{said}")
    add_legend(ax_loss)
    return fig


def plot_schedule(schedule: Schedule, n_steps: int, ax: Axes | None = None) -> plt.Figure:
    """The LR of ``schedule`` at every step."""
    fig, ax = plt.subplots(figsize=(8, 3.5)) if ax is None else (ax.figure, ax)
    steps = np.arange(1, n_steps + 1)
    ax.plot(steps, schedule(steps), lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    set_title(ax, str(schedule), fontsize=9, width=105)
    ax.grid(alpha=0.3)
    return fig


def plot_horizon(
    law: HorizonLaw, unit: str, target: float | None = None, ax: AxesPair = None
) -> plt.Figure:
    """Left: final loss vs peak LR per horizon with the fitted parabolas; right: lr_opt vs
    horizon (Bjorck et al. 2409.19913)."""
    if ax is None:
        fig, (ax_sweep, ax_law) = plt.subplots(1, 2, figsize=(11, 4.5))
    else:
        (ax_sweep, ax_law), fig = ax, ax[0].figure
    for i, o in enumerate(law.optima):
        color = f"C{i}"
        ax_sweep.plot(
            [p.lr for p in o.points],
            [p.loss for p in o.points],
            "o",
            color=color,
            label=f"D={o.horizon:.3g}",
        )
        x = np.log([p.lr for p in o.used])
        if len(o.used) >= 3:
            coef = np.polyfit(x, [p.loss for p in o.used], 2)
            grid = np.linspace(x.min(), x.max(), 100)
            ax_sweep.plot(np.exp(grid), np.polyval(coef, grid), "-", color=color, lw=1)
        ax_sweep.axvline(o.lr_opt, color=color, ls=":", lw=1)
    ax_sweep.set_xscale("log")
    ax_sweep.set_xlabel("peak LR")
    ax_sweep.set_ylabel("final loss")
    ax_sweep.legend(fontsize=8)
    horizons = np.array([o.horizon for o in law.optima])
    lrs = np.array([o.lr_opt for o in law.optima])
    errors = np.array([o.log_lr_stderr or 0.0 for o in law.optima])
    ax_law.errorbar(
        horizons,
        lrs,
        yerr=[lrs - lrs * np.exp(-errors), lrs * np.exp(errors) - lrs],
        fmt="o",
        label="per-horizon optimum",
    )
    top = max(horizons.max(), target or 0) * 1.3
    grid = np.geomspace(horizons.min() / 1.3, top, 100)
    ax_law.plot(grid, law.B * grid ** (-law.beta), "-", label=law.formula(3))
    if target is not None:
        lr, lo, hi = law.predict(target)
        ax_law.errorbar(
            [target],
            [lr],
            yerr=None if lo is None else [[lr - lo], [hi - lr]],
            fmt="s",
            color="C3",
            label=f"extrapolated: {lr:.3g}",
        )
    ax_law.set_xscale("log")
    ax_law.set_yscale("log")
    # horizons within a decade or two: labels at 1, 2 and 5 alone (2, 3, 4, 6 x 10^9 ran into
    # each other), written 2e9
    ax_law.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax_law.xaxis.set_major_formatter(FuncFormatter(_short_number))
    ax_law.xaxis.set_minor_formatter(NullFormatter())
    ax_law.set_xlabel(f"horizon D ({unit})")
    ax_law.set_ylabel("optimal peak LR")
    ax_law.legend(fontsize=8)
    for ax in (ax_sweep, ax_law):
        ax.grid(alpha=0.3, which="both")
    return fig


def _short_number(value: float, _position: object = None) -> str:
    """``2e9``, ``1e10``: a tick's number in few characters."""
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _draw_forecast(ax: plt.Axes, prediction: Prediction, last_step: int) -> None:
    """The forecast past the logged steps, with its predictive interval when it has one."""
    later = prediction.steps > last_step
    steps, loss = prediction.steps[later], prediction.loss[later]
    ax.plot(steps, loss, "--", color="C1", lw=1.2, label="forecast")
    if prediction.lower is not None and prediction.upper is not None:
        ax.fill_between(
            steps, prediction.lower[later], prediction.upper[later], color="C1", alpha=0.12, lw=0
        )


def _check_ylim(result: CheckResult, predicted: np.ndarray) -> tuple[float, float]:
    """Loss limits that leave out the steep start: the logged and predicted losses after the
    first tenth, and the forecast when there is one."""
    tail = result.observed[len(result.observed) // 10 :]
    lo, hi = (
        float(min(tail.min(), predicted.min())),
        float(max(tail.max(), predicted[len(predicted) // 10 :].max())),
    )
    if result.prediction is not None:  # the forecast is drawn too
        forecast = result.prediction.loss[result.prediction.steps > result.run.last_step]
        lo = min(lo, float(forecast.min(initial=lo)))
    margin = 0.05 * (hi - lo or 1)
    return lo - margin, hi + margin


def _checked_curve(
    fitted: FittedLaw, result: CheckResult, grid: NDArray[np.int64], counted: CheckResult | None
) -> NDArray[np.float64]:
    """The law at the run's own steps ``grid`` (read at their clock steps if ``counted``)."""
    run = result.run
    if counted is None or counted is result or counted.run.tokens_per_step is None:
        return fitted.curve(run.schedule, grid, model_size=run.model_size)
    k = (run.tokens_per_step or counted.run.tokens_per_step) / counted.run.tokens_per_step
    clock, back = np.unique(np.maximum(np.round(k * grid), 1).astype(np.int64), return_inverse=True)
    return fitted.curve(counted.run.schedule, clock, model_size=run.model_size)[back]


def plot_check(
    fitted: FittedLaw, result: CheckResult, ax: AxesPair = None, counted: CheckResult | None = None
) -> plt.Figure:
    """Logged and predicted loss with each window's band (top), window deviations (bottom), at
    the run's own steps (``counted``: the check on the fit's clock of a run of other tokens
    per step, whose law curve is read there)."""
    if ax is None:
        fig, (ax_loss, ax_dev) = plt.subplots(
            2, 1, figsize=(8, 6.5), sharex=True, height_ratios=(3, 1.3)
        )
    else:
        (ax_loss, ax_dev), fig = ax, ax[0].figure
    run = result.run
    grid = np.unique(np.linspace(result.steps[0], run.last_step, 800).astype(np.int64))
    ax_loss.plot(
        run.steps, run.loss, ".", ms=3, color="C0", alpha=0.5, label=f"{run.label} (logged)"
    )
    predicted = _checked_curve(fitted, result, grid, counted)
    ax_loss.plot(grid, predicted, "-", color="C1", lw=1.4, label="predicted")
    # each window's band, a step function over the grid (the predictive band varies by window)
    starts = np.array([w.start for w in result.windows])
    at = np.clip(np.searchsorted(starts, grid, side="right") - 1, 0, None)
    lower = np.array([w.lower for w in result.windows])[at]
    upper = np.array([w.upper for w in result.windows])[at]
    ax_loss.fill_between(
        grid,
        predicted * (1 + lower),
        predicted * (1 + upper),
        color="C1",
        alpha=0.2,
        lw=0,
        label=result.band,
    )
    if result.prediction is not None:
        _draw_forecast(ax_loss, result.prediction, run.last_step)
    first = result.first_drift
    for ax in (ax_loss, ax_dev):
        if first is not None:
            ax.axvline(first.start, color="C3", lw=1, ls=":")
        ax.grid(alpha=0.3)
    ax_loss.set_ylim(*_check_ylim(result, predicted))
    for w in result.windows:
        ax_dev.hlines(100 * w.deviation, w.start, w.end, color="C0" if w.in_band else "C3", lw=3)
    ax_dev.fill_between(grid, 100 * lower, 100 * upper, color="C1", alpha=0.15, lw=0)
    ax_dev.set_ylabel("window deviation (%)")
    ax_dev.set_xlabel("step")
    ax_loss.set_ylabel("loss (nats)")
    set_title(
        ax_loss, ("DRIFT: " if result.drifted else "OK: ") + result.summary(), fontsize=8, width=115
    )
    add_legend(ax_loss)
    return fig


def plot_search(result: Search, fitted: FittedLaw, ax: AxesPair = None) -> plt.Figure:
    """Trade-off curves (loss vs the family's main parameter, one line per series) and the
    LR of the best candidate against the baseline's."""
    if ax is None:
        fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=(3, 2))
    else:
        (ax, ax_lr), fig = ax, ax[0].figure
    for i, (series, (x, loss)) in enumerate(result.curves().items()):
        ax.plot(x, loss, "o-", ms=3.5, lw=1.3, color=f"C{i}", label=series)
    baseline = result.baseline_label.split(" (")[0]
    ax.axhline(result.baseline_loss, color="k", ls="--", lw=1, label=f"baseline: {baseline}")
    best = dict(ms=14, color="gold", mec="k", zorder=5, label=f"best: {result.best.label}")
    ax.plot([result.best.x], [result.best_loss], "*", **best)
    ax.set_xlabel(result.x_name)
    ax.set_ylabel(f"predicted loss at step {result.at_step}")
    from lrcurve.sizes import format_size

    law = (fitted.sized_from or fitted).law.name  # a size-aware fit seen at one size: its own
    at = f" at {format_size(fitted.at_size)} parameters" if fitted.sized_from else ""
    ax.set_title(f"{result.family}: predicted loss ({law} law{at})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    steps = np.unique(np.linspace(1, result.steps, 2000).round().astype(np.int64))
    ax_lr.plot(steps, result.baseline(steps), "k--", lw=1.2, label="baseline")
    ax_lr.plot(steps, result.best.schedule(steps), "-", lw=1.6, color="C3", label="best")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    ax_lr.legend(fontsize=8)
    return fig


def plot_power_fit(
    fitted: PowerLawFit,
    schedule: Schedule | None = None,
    per_step: float | None = None,
    ax: AxesPair = None,
    target: tuple[float, float] | None = None,
) -> plt.Figure:
    """Left: ``lr/batch`` against tokens (log-log) with the fitted line (Shen et al.
    2408.13359), drawn on to the ``target`` run's ``(batch, tokens)`` and marked there; right,
    with ``schedule``: the implied Power schedule against tokens seen."""
    panels = 2 if schedule is not None else 1
    if ax is None:
        fig, grid_axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5), squeeze=False)
        axes = list(grid_axes[0])
    else:
        axes, fig = list(ax), ax[0].figure
    left = axes[0]
    for i, batch in enumerate(np.unique(fitted.batch)):
        rows = fitted.batch == batch
        x, y = fitted.tokens[rows], fitted.lr[rows] / batch
        left.loglog(x, y, "o", color=f"C{i}", label=f"batch {batch:g}")
    right_end = fitted.tokens.max() * 1.5 if target is None else max(target[1], fitted.tokens.max())
    grid = np.geomspace(fitted.tokens.min() / 1.5, right_end * 1.2, 100)
    line = fitted.a * grid**fitted.b
    left.loglog(grid, line, "k-", lw=1.2, label=f"a n^b: a={fitted.a:.3g}, b={fitted.b:.3f}")
    band = np.exp(2 * fitted.optimal_lr_log_stderr(grid))
    left.fill_between(grid, line / band, line * band, color="k", alpha=0.12, lw=0)
    if target is not None:
        batch, tokens = target
        at = fitted.a * tokens**fitted.b
        left.errorbar(
            [tokens],
            [at],
            yerr=[[at - at / np.exp(2 * fitted.optimal_lr_log_stderr(tokens))],
                  [at * np.exp(2 * fitted.optimal_lr_log_stderr(tokens)) - at]],
            fmt="s",
            color="C3",
            label=f"the new run: batch {batch:g}, {tokens:.3g} tokens, LR {batch * at:.3g}",
        )  # fmt: skip
    left.set_xlabel("training tokens n")
    left.set_ylabel("optimal LR / batch")
    left.set_title("optimal LR sweeps and the fitted power law (band: ±2 s.e.)", fontsize=9)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=7)
    if schedule is not None and per_step is not None:
        steps = np.unique(np.geomspace(1, schedule.horizon, 2000).round())
        axes[1].plot(steps * per_step, schedule(steps), lw=1.5)
        axes[1].set_xlabel("tokens seen")
        axes[1].set_ylabel("learning rate")
        said = f"{schedule.horizon:,} steps of {per_step:,.0f} tokens"
        set_title(axes[1], f"the Power schedule: peak {schedule.peak:g}, {said}", fontsize=9)
        axes[1].grid(alpha=0.3)
    return fig
