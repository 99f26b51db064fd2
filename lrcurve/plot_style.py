"""How many runs stay readable in one plot: distinct colours and line styles, a legend beside
the axes when it is long (W&B run names), and a key for what dots and lines mean."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

# a legend of more entries than this, or of longer ones, goes beside the axes
LEGEND_INSIDE = (6, 40)
LINE_STYLES = ("-", "--", "-.", ":")
# predictions stand out from the fitted runs (drawn faded behind them) in strong colours
PREDICTION_COLORS = ("k", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def run_styles(n: int) -> list[tuple[Any, str]]:
    """``n`` distinct (colour, line style) pairs, in run order: tab10 up to 10; tab20 (dark
    shades, then light) with a second line style up to 20; beyond, viridis with the line styles
    in turn, so that no two runs look alike."""
    if n <= 10:
        return [(f"C{i}", "-") for i in range(n)]
    if n <= 20:
        tab20 = plt.get_cmap("tab20")
        order = [*range(0, 20, 2), *range(1, 20, 2)]
        return [(tab20(order[i]), LINE_STYLES[i // 10]) for i in range(n)]
    viridis = plt.get_cmap("viridis")
    return [(viridis(i / (n - 1)), LINE_STYLES[i % len(LINE_STYLES)]) for i in range(n)]


def add_legend(ax: plt.Axes, fontsize: float = 8, **kwargs: Any) -> None:
    """A legend inside ``ax`` when short; else beside it, the figure widened to hold it, so that
    many or long entries (W&B run names) never squeeze the axes."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        return
    longest = max(len(text) for text in labels)
    if len(labels) <= LEGEND_INSIDE[0] and longest <= LEGEND_INSIDE[1]:
        ax.legend(handles, labels, fontsize=fontsize, **kwargs)
        return
    fig = ax.figure
    w, h = fig.get_size_inches()
    # as many columns as keep it within the axes' height (a row ~1.5 em): 30 fitted runs in
    # one column ran past the loss axes into the LR panel's side
    rows = max(4, int(ax.get_position().height * h / (1.5 * fontsize / 72)))
    columns = -(-len(labels) // rows)
    # about 0.6 em a character, plus the line sample and padding (inches)
    width = columns * (longest * 0.6 * fontsize / 72 + 0.7)
    # a legend added again (more entries drawn since) widens the figure only by what it gains
    before = getattr(ax, "_lrcurve_legend_width", 0.0)
    fig.set_size_inches(w + max(width - before, 0.0), h)
    ax._lrcurve_legend_width = max(width, before)  # type: ignore[attr-defined]
    ax.legend(
        handles,
        labels,
        fontsize=fontsize,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        ncol=columns,
        **kwargs,
    )


def style_key(ax: plt.Axes, entries: Sequence[tuple[str, str]]) -> None:
    """Black legend entries that say what each mark means (``(marker or line, label)``),
    so that each run needs one entry only."""
    for fmt, label in entries:
        ax.plot([], [], fmt, color="k", ms=4, label=label)


def zoom_to_tail(ax: plt.Axes, values: Sequence[Any], widen: bool = False) -> None:
    """Show the part of the curves ``values`` where schedules differ, not the early descent
    (``widen``: what is shown already widened to take them in too)."""
    tail = np.concatenate([np.asarray(v, float)[len(v) // 10 :] for v in values if len(v)])
    tail = tail[np.isfinite(tail)]
    lo, hi = float(np.min(tail)), float(np.max(tail))
    pad = 0.05 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    if widen:
        shown = ax.get_ylim()
        lo, hi = min(lo, shown[0]), max(hi, shown[1])
    ax.set_ylim(lo, hi)


def set_title(ax: plt.Axes, title: str, fontsize: float = 10, width: int = 95) -> None:
    """A title wrapped onto the lines it needs (law formulas and nested schedules are long)."""
    ax.set_title(textwrap.fill(title, width=width, break_long_words=False), fontsize=fontsize)
