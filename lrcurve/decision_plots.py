"""What the decision plots add to :mod:`lrcurve.plotting`'s: the tie set on optimize's
trade-off plot, and a measured curve over predict's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from lrcurve.plotting import AxesPair, plot_search

if TYPE_CHECKING:
    from lrcurve.fitting import FittedLaw
    from lrcurve.optimize import Search
    from lrcurve.runs import Run


def plot_search_with_ties(result: Search, fitted: FittedLaw, ax: AxesPair = None) -> plt.Figure:
    """:func:`~lrcurve.plotting.plot_search` with the tie set ringed (the candidates not
    distinguishable from the best at the joint prediction's level)."""
    fig = plot_search(result, fitted, ax)
    joint, ax_loss = result.joint, fig.axes[0] if ax is None else ax[0]
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


def overlay_measured(fig: plt.Figure, runs: list[Run]) -> plt.Figure:
    """Each measured run's points (black, hollow) on the loss axes of a prediction plot."""
    ax_loss = fig.axes[0]
    for run in runs:
        ax_loss.plot(
            run.steps,
            run.loss,
            "o",
            ms=2.5,
            mfc="none",
            mec="k",
            alpha=0.7,
            label=f"measured: {run.name}",
        )
    ax_loss.legend(fontsize=8)
    return fig
