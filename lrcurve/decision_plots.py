"""What the decision plots add to :mod:`lrcurve.plotting`'s: the tie set on optimize's
trade-off plot, a measured curve over predict's, and compare's plot with the held-out final
losses' intervals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from lrcurve.plotting import (
    AxesPair,
    add_legend,
    loss_lr_figure,
    plot_search,
    run_styles,
    save_figure,
    sized_label,
    zoom_to_tail,
)

if TYPE_CHECKING:
    from lrcurve.compare import Comparison
    from lrcurve.fitting import FittedLaw
    from lrcurve.opinions import MeasuredRun
    from lrcurve.optimize import Search
    from lrcurve.runs import Run


def plot_search_with_ties(
    result: Search,
    fitted: FittedLaw,
    ax: AxesPair = None,
    measured: Sequence[MeasuredRun] = (),
) -> plt.Figure:
    """:func:`~lrcurve.plotting.plot_search` with the tie set ringed (the candidates not
    distinguishable from the best at the joint prediction's level) and, for a WSD search, the
    final losses of ``measured`` WSD runs at its horizon."""
    fig = plot_search(result, fitted, ax)
    joint, ax_loss = result.joint, fig.axes[0] if ax is None else ax[0]
    _measured_points(ax_loss, result, measured)
    if joint is None:
        return fig
    tied = list(result.tie_set)
    level = f"{100 * joint.level:.4g} %"
    ax_loss.plot(
        [result.candidates[i].x for i in tied],
        result.loss[tied],
        "o",
        ms=10,
        mfc="none",
        mec="k",
        mew=1.2,
        zorder=4,
        label=f"tie set ({len(tied)}: not distinguishable from the best at {level})",
    )
    ax_loss.legend(fontsize=7)
    return fig


def _measured_points(ax: plt.Axes, result: Search, measured: Sequence[MeasuredRun]) -> None:
    """The measured WSD runs of the search's horizon at their decay fraction (a WSD search)."""
    points = [
        (m.family[1]["decay"], m.measured)
        for m in measured
        if result.family == "wsd" and m.family and m.family[0] == "wsd"
        and m.horizon == result.steps
    ]  # fmt: skip
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, "kx", ms=8, mew=1.6, zorder=6, label="measured (final loss)")
        ax.legend(fontsize=7)


# each law of a comparison its own line style (six laws: matplotlib's four named ones repeat)
# far apart at a glance (six laws compared: long and short dashes, dots, dash-dots, one solid)
LAW_STYLES = (
    "-",
    (0, (7, 2)),
    (0, (1, 1.5)),
    (0, (7, 2, 1, 2)),
    (0, (2, 4)),
    (0, (7, 2, 1, 2, 1, 2)),
    (0, (14, 4)),
)
MEASURED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def overlay_measured(fig: plt.Figure, runs: list[Run]) -> plt.Figure:
    """Each measured run's points (hollow, dark, a marker of its own) on the loss axes of a
    prediction plot, named by its short label."""
    ax_loss = fig.axes[0]
    shades = plt.get_cmap("Greys")(np.linspace(0.95, 0.55, max(len(runs), 1)))
    for i, run in enumerate(runs):
        ax_loss.plot(
            run.steps,
            run.loss,
            MEASURED_MARKERS[i % len(MEASURED_MARKERS)],
            ms=2.5,
            mfc="none",
            mec=shades[i],
            alpha=0.8,
            markevery=max(run.steps.size // 60, 1),
            label=f"measured: {run.label}",
        )
    zoom_to_tail(ax_loss, [run.loss for run in runs], widen=True)  # the measured points in view
    add_legend(ax_loss, fontsize=7)  # beside the axes when long, as the prediction's was
    return fig


def _final_intervals(ax: plt.Axes, comparison: Comparison) -> None:
    """The recommended law's interval of each held-out final loss, as an error bar."""
    best = comparison.best
    held = [h for h in best.heldout if h.final is not None and h.final.lower is not None]
    finals = [h.final for h in held]
    if not finals:
        return
    level = f"{100 * (best.heldout[0].level or 0):.4g} %"
    at = [h.clock_step or f.step for h, f in zip(held, finals)]
    ax.errorbar(
        at,  # on the clock the curves are drawn on
        [f.predicted for f in finals],
        yerr=[[f.predicted - f.lower for f in finals], [f.upper - f.predicted for f in finals]],
        fmt="none",
        ecolor="k",
        capsize=4,
        lw=1.2,
        zorder=5,
        label=f"{best.name}: held-out final loss, {level} interval",
    )


def plot_comparison(comparison: Comparison, path: Path) -> None:
    """Every run's data against each law fitted to the fit runs (held-out runs are predicted
    unseen, with the recommended law's interval of their final loss as an error bar)."""
    fig, ax_loss, ax_lr = loss_lr_figure()
    first = comparison.results[0]
    shown: list[Run] = list(first.fitted.runs) + [
        h.run for h in first.heldout if comparison.method == "holdout"
    ]
    curves = []
    colors = [color for color, _ in run_styles(len(shown))]
    held = {h.run.name for h in first.heldout} if comparison.method == "holdout" else set()
    sized = len({r.model_size for r in shown if r.model_size}) > 1
    for run, color in zip(shown, colors):
        label = sized_label(run, sized) + (" (held out)" if run.name in held else "")
        ax_loss.plot(run.steps, run.loss, ".", ms=3, color=color, alpha=0.5, label=label)
        own = comparison.own_lr.get(run.name, 1.0)  # its LR as logged, not on the clock
        ax_lr.plot(run.steps, own * run.schedule(run.steps), lw=1, color=color)
        curves.append(run.loss)
    for j, result in enumerate(comparison.results):
        style = LAW_STYLES[j % len(LAW_STYLES)]
        for run, color in zip(shown, colors):
            grid = np.unique(np.linspace(1, run.last_step, 600).astype(np.int64))
            curve = result.fitted.curve(run.schedule, grid, model_size=run.model_size)
            ax_loss.plot(grid, curve, linestyle=style, lw=1.1, color=color)
        ax_loss.plot([], [], linestyle=style, color="k", label=f"{result.name} law")
    if comparison.clock_unit is not None:
        ax_lr.set_xlabel(f"step ({comparison.clock_unit:,.0f} tokens)")
    _final_intervals(ax_loss, comparison)
    zoom_to_tail(ax_loss, curves)
    ax_loss.set_title(
        f"law comparison ({comparison.method}); recommended: {comparison.best.name}", fontsize=10
    )
    add_legend(ax_loss, fontsize=7, markerscale=3, handlelength=4)
    save_figure(fig, path)
