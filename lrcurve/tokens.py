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
from dataclasses import replace
from typing import Any

import numpy as np

from lrcurve.errors import ParameterError
from lrcurve.runs import Run
from lrcurve.schedules import Piecewise, Schedule
from lrcurve.sizes import SAME_SIZE, grouped

# tokens per step within 1 % are one batch size: the tolerance of the readers' agreement check
# (sizes.agreed_size), so what they accept as one value the clock counts as one
SAME_TOKENS_RTOL = SAME_SIZE
NAMED_RUNS = 3  # runs named per value in the warning


def _named(labels: list[str]) -> str:
    shown = ", ".join(labels[:NAMED_RUNS])
    more = len(labels) - NAMED_RUNS
    return shown + (f" and {more} more" if more > 0 else "")


def batch_groups(runs: Sequence[Any]) -> list[tuple[float, list[str]]]:
    """The distinct tokens per step of ``runs`` (within 1 %), ascending, each with the labels
    of its runs; runs of unknown tokens per step are left out."""
    known = [r for r in runs if r.tokens_per_step is not None]
    groups = grouped(known, 1 + SAME_TOKENS_RTOL, lambda r: float(r.tokens_per_step))
    return [(n, [r.label for r in group]) for n, group in groups]


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
        f"of {ratio:.3g}x the tokens counts once; fit runs of one batch size, or count steps "
        "on a common clock of tokens (lrcurve fit --clock tokens; lrcurve.tokens.token_clock)"
    )


def stretched(schedule: Schedule, k: float, n_steps: int) -> Piecewise:
    """``schedule`` over ``n_steps`` steps on a clock of ``1/k`` of its steps: clock step ``t``
    has the LR of step ``ceil(t / k)`` (``k = 2``: each step twice at its LR)."""
    lr = schedule.per_step(n_steps)
    at = np.arange(1, max(round(k * n_steps), 2) + 1)
    index = np.clip(np.ceil(at / k).astype(np.int64), 1, n_steps) - 1
    return Piecewise(at.astype(np.float64), lr[index], round(k * schedule.warmup_steps))


def on_clock(run: Run, unit: float) -> Run:
    """``run`` counted in steps of ``unit`` tokens: a run of ``k x unit`` tokens a step has
    each of its steps counted ``k`` times at its LR (its schedule stretched ``k``-fold)."""
    if run.tokens_per_step is None:
        raise ParameterError(
            f"{run.label}: its tokens per step are not known (no batch size and sequence length "
            "in its W&B config or table); give them",
            param="tokens_per_step",
        )
    k = run.tokens_per_step / unit
    if abs(k - 1) <= SAME_TOKENS_RTOL:
        return replace(run, tokens_per_step=unit)
    steps, keep = np.unique(np.round(k * run.steps).astype(np.int64), return_index=True)
    note = (
        f"{run.label}: {run.tokens_per_step:,.0f} tokens a step, counted as {k:.3g} steps of "
        f"{unit:,.0f} tokens at its LR"
    )
    return replace(
        run,
        steps=steps,
        loss=run.loss[keep],
        schedule=stretched(run.schedule, k, run.horizon),
        tokens_per_step=unit,
        notes=(*run.notes, note),
        diverged_at=None if run.diverged_at is None else round(k * run.diverged_at),
    )


def token_clock(runs: Sequence[Run]) -> tuple[list[Run], str]:
    """``runs`` on one clock, steps of the smallest tokens per step among them
    (:func:`on_clock`), and a note saying so."""
    groups = batch_groups(runs)
    if not groups:
        raise ParameterError(
            "no run says its tokens per step (no batch size and sequence length in a W&B "
            "config or table); give them",
            param="tokens_per_step",
        )
    unit = groups[0][0]
    clocked = [on_clock(run, unit) for run in runs]
    note = (
        f"steps counted in units of {unit:,.0f} tokens (the smallest tokens per step fitted): "
        "a run of k times the tokens a step counts each step k times at its LR; a prediction "
        "takes the target's tokens per step to map back to its steps"
    )
    return clocked, note


def fitted_unit(fitted: Any) -> float:
    """The one tokens per step of ``fitted``'s runs (on a common clock, its unit); refused when
    they differ or are unknown."""
    groups = batch_groups(fitted.runs)
    if len(groups) != 1 or any(r.tokens_per_step is None for r in fitted.runs):
        said = "differ in" if len(groups) > 1 else "do not all say their"
        raise ParameterError(
            f"the fitted runs {said} tokens per step, so a target's cannot be mapped onto "
            "their clock; fit runs of one batch size, or on a clock of tokens",
            param="tokens_per_step",
        )
    return groups[0][0]


def predict_at_batch(
    fitted: Any, schedule: Schedule, n_steps: int, tokens_per_step: float, **options: Any
) -> Any:
    """``fitted.predict`` for a run of ``tokens_per_step`` tokens a step: its schedule counted on
    the fitted runs' clock (:func:`stretched`, ``k = tokens_per_step / unit``), the prediction
    read back at its own steps ``1..n_steps``."""
    if not tokens_per_step > 0:
        raise ParameterError(f"must be above 0, got {tokens_per_step:g}", param="tokens_per_step")
    k = tokens_per_step / fitted_unit(fitted)
    if abs(k - 1) <= SAME_TOKENS_RTOL:
        return fitted.predict(schedule, n_steps, **options)
    clock_steps = max(round(k * n_steps), 2)
    on_clock_ = fitted.predict(stretched(schedule, k, n_steps), clock_steps, **options)
    at = np.clip(np.round(k * np.arange(1, n_steps + 1)).astype(np.int64), 1, clock_steps) - 1

    def back(values: Any) -> Any:
        return None if values is None else values[at]

    return replace(
        on_clock_,
        schedule=schedule,
        steps=np.arange(1, n_steps + 1, dtype=np.int64),
        lr=on_clock_.lr[at],
        loss=on_clock_.loss[at],
        loss_stderr=back(on_clock_.loss_stderr),
        sd=back(on_clock_.sd),
    )


def clock_said(fitted: Any, tokens_per_step: float) -> str:
    """How a target of ``tokens_per_step`` tokens a step is counted on ``fitted``'s clock."""
    unit = fitted_unit(fitted)
    return (
        f"the target's {tokens_per_step:,.0f} tokens a step counted as "
        f"{tokens_per_step / unit:.3g} steps of {unit:,.0f} tokens, the fitted runs' clock"
    )
