"""Runs that differ in tokens per optimizer step (batch size x sequence length).

The laws count optimizer steps: ``S1 = sum of the LR over steps`` (Tissue et al., arXiv
2408.11029; Luo et al., arXiv 2503.12811). A run of twice the batch learns about as much per
step as two steps of the others, yet counts once, so a fit of runs of several batch sizes
mixes two clocks (on the SlimPajama scaling family the 360M runs, at twice the batch, are
predicted +2.4 to +5.5 % too high from the smaller sizes; docs/model-size.md). A fit of such
runs says so (:func:`batch_warning`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SAME_TOKENS_RTOL = 0.01  # tokens per step within 1 % are one batch size
NAMED_RUNS = 3  # runs named per value in the warning


def _named(labels: list[str]) -> str:
    shown = ", ".join(labels[:NAMED_RUNS])
    more = len(labels) - NAMED_RUNS
    return shown + (f" and {more} more" if more > 0 else "")


def batch_groups(runs: Sequence[Any]) -> list[tuple[float, list[str]]]:
    """The distinct tokens per step of ``runs`` (within 1 %), ascending, each with the labels
    of its runs; runs of unknown tokens per step are left out."""
    groups: list[tuple[float, list[str]]] = []
    known = [r for r in runs if r.tokens_per_step is not None]
    for run in sorted(known, key=lambda r: r.tokens_per_step):
        if groups and run.tokens_per_step <= groups[-1][0] * (1 + SAME_TOKENS_RTOL):
            groups[-1][1].append(run.label)
        else:
            groups.append((float(run.tokens_per_step), [run.label]))
    return groups


def batch_warning(runs: Sequence[Any]) -> str | None:
    """One line when ``runs`` differ in tokens per step by over 1 %, naming the values and
    runs; None for runs of one batch size (or of unknown ones)."""
    groups = batch_groups(runs)
    if len(groups) < 2:
        return None
    values = "; ".join(f"{n:,.0f} ({_named(labels)})" for n, labels in groups)
    ratio = groups[-1][0] / groups[0][0]
    return (
        f"the runs differ in tokens per step: {values}; the laws count optimizer steps: a step "
        f"of {ratio:.3g}x the tokens counts once; fit runs of one batch size, or log their "
        "steps in a common unit of tokens"
    )
