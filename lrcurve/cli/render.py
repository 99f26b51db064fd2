"""How results reach people and machines: rich consoles, notes on stderr, JSON, progress."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console

# No markup and no emoji: user-supplied names may contain "[" or read like ":fire:". Piped output
# gets room for the widest tables rather than rich's 80 columns, so numbers are never cut
# (COLUMNS still wins when set).
out = Console(
    highlight=False,
    markup=False,
    emoji=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160,
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)


def note(message: str) -> None:
    """A one-line message for people, on stderr."""
    err.print(f"lrcurve: {message}", markup=False, soft_wrap=True)


def extrapolation_note(shorts: Iterable[str], subject: str = "") -> None:
    """One line for all the ways a prediction leaves the fitted regime (a few words each; the
    details are in ``--json``): they widen its interval rather than warn on every use."""
    said = list(dict.fromkeys(shorts))
    if said:
        note(
            f"{subject}extrapolating ({'; '.join(said)}): the interval grows with the horizon "
            "and with LR falls steeper than fitted (docs/calibration.md)"
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a numpy scalar
        return _jsonable(value.item())
    return value


def emit_json(data: Any) -> None:
    """Machine output on stdout: strict JSON (non-finite numbers become null)."""
    sys.stdout.write(json.dumps(_jsonable(data), indent=1) + "\n")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr (none when stderr is not a terminal);
    yields ``update(done, total)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


NAME_WIDTH = 48
NAME_MIN = 8  # a name column folds to no narrower, so that some of each name shows


def table(title: str, columns: Sequence[str], text: Sequence[str] = ()) -> Any:
    """A left-titled table: ``text`` columns (run names, settings) fold at ``NAME_WIDTH``
    characters, the others (numbers) are right-aligned and never shrink below their widest
    cell, so long W&B run names or a narrow console cannot cut a number (``71920`` shown as
    ``7192`` at 80 columns); the text columns give way, then the headers wrap at their
    spaces (``horizon (tokens)`` on two lines) and intervals and verdicts at theirs, and on
    the narrowest consoles a header folds (``predicted`` as ``predic`` / ``ted``)."""
    from rich.cells import cell_len
    from rich.table import Table

    class NumbersWhole(Table):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            super().add_row(*renderables, **options)
            for column, cell in zip(self.columns, renderables):  # the least widths, see below
                if not isinstance(cell, str):
                    continue
                header = max((cell_len(w) for w in str(column.header).split()), default=0)
                if column.justify == "left":  # a name: wraps at its spaces, then folds, to 8
                    word = max(cell_len(w) for w in [*cell.split(), ""])
                    shown = min(NAME_MIN, max(cell_len(cell), header))
                    column.whole = max(getattr(column, "whole", 0), shown)
                    words = min(NAME_WIDTH, max(word, header))
                    column.words = max(getattr(column, "words", 0), words)
                else:  # a number whole; an interval or a verdict to its widest word
                    words = cell.split() if getattr(column, "wraps", False) else [cell]
                    widest = max((cell_len(w) for w in words), default=0)
                    column.whole = max(getattr(column, "whole", 0), widest)
                    column.words = max(getattr(column, "words", 0), widest, header)

        def _calculate_column_widths(self, console: Any, options: Any) -> list[int]:
            # each column's natural width, less a share of the excess in proportion to how far
            # it lies above its least: the widest word of its header and cells (text wraps at
            # its spaces) if all fit, else names to 8 (they fold), else headers fold too
            from rich._ratio import ratio_reduce

            natural = super()._calculate_column_widths(console, options.update_width(10**6))
            room = options.max_width  # rich gives it without the borders
            if sum(natural) <= room:
                return super()._calculate_column_widths(console, options)
            padding = [self._get_padding_width(i) for i in range(len(self.columns))]
            for names, others in (("words", "words"), ("whole", "words"), ("whole", "whole")):
                least = [
                    getattr(c, names if c.justify == "left" else others, 1) + p
                    for c, p in zip(self.columns, padding)
                ]
                if sum(least) <= room:
                    break
            slack = [max(n - low, 0) for n, low in zip(natural, least)]
            excess = min(sum(natural) - room, sum(slack))
            return ratio_reduce(excess, slack, slack, natural)

    result = NumbersWhole(title=title, title_justify="left")
    add_columns(result, columns, text)
    return result


def add_columns(table: Any, names: Sequence[str], text: Sequence[str] = ()) -> None:
    """Add columns to ``table``: ``text`` ones fold, the others are numbers whose header may
    wrap at its spaces and whose cells may not, except an interval's or a verdict's (see
    :func:`table`)."""
    for name in names:
        if name in text:
            table.add_column(name, justify="left", overflow="fold", max_width=NAME_WIDTH)
        else:
            table.add_column(name, justify="right", overflow="fold")
            # an interval ("3.2766 in [3.2412, 3.2874]") or a verdict ("yes (100 % of points)")
            # may wrap at its spaces; a number never (its column is never narrower than it)
            table.columns[-1].wraps = "interval" in name or "[" in name or name == "inside"


def sig(value: float | None, digits: int = 5) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def sampled_indices(n: int, rows: int = 12, start: int = 0) -> Any:
    """About ``rows`` evenly spaced indices of ``start..n-1``, always with the last."""
    import numpy as np

    start = min(start, n - 1)
    return np.unique(np.concatenate([np.linspace(start, n - 1, rows).round().astype(int), [n - 1]]))


def plotting() -> Any:
    """:mod:`lrcurve.plotting` on matplotlib's Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    from lrcurve import plotting as module

    return module


def save_plot(figure: Any, path: Any, force: bool) -> None:
    """Write ``figure`` to ``path`` (replacing a file only with ``force``)."""
    plotting().save_figure(figure, path, replace=force)
