"""Runs that differ in tokens per optimizer step (batch size x sequence length).

The laws count optimizer steps: ``S1 = sum of the LR over steps`` (Tissue et al., arXiv
2408.11029; Luo et al., arXiv 2503.12811). A run of twice the batch learns about as much per
step as two steps of the others, yet counts once, so a fit of runs of several batch sizes
mixes two clocks (on the SlimPajama scaling family the 360M runs, at twice the batch, are
predicted +2.4 to +5.5 % too high from the smaller sizes; docs/model-size.md). A fit of such
runs says so (:func:`batch_warning`).

On a common clock of tokens (:func:`on_clock`) a step of ``k`` times the tokens at LR ``eta``
counts as ``k`` steps at ``eta / sqrt(k)``: Adam's square-root scaling rule (Malladi et al.,
arXiv 2205.10287: ``k`` times the batch at ``sqrt(k)`` times the LR follows the same SDE in
``k`` times fewer steps), read backwards. The larger batch averages away gradient noise,
which a law sees only through the LR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from lrcurve.errors import ParameterError
from lrcurve.runs import MAX_STEPS, Run
from lrcurve.schedules import Piecewise, Schedule
from lrcurve.sizes import SAME_SIZE, grouped

# tokens per step within 1 % are one batch size: the tolerance of the readers' agreement check
# (sizes.agreed_size), so what they accept as one value the clock counts as one
SAME_TOKENS_RTOL = SAME_SIZE
NAMED_RUNS = 3  # runs named per value in the warning
CLOCK_NOTE = "steps counted in units of"  # how a clock fit's note starts (old files: a warning)
# a target's tokens per step more than this many times the clock's (or less than its inverse)
# is no batch of a run like the fitted ones: its clock steps would be absurd (1e300 tokens a
# step: arange of 1e300 steps; 1e-300: one clock step in 1e305 of its steps)
CLOCK_RATIO = 1000.0
# the token clock (a step of k times the tokens is worth k steps) holds below the critical
# batch size and was measured only at 2x (the SlimPajama 360M runs, docs/model-size.md)
BATCH_MEASURED = 2.0
# Adam's square-root scaling rule (module docstring): the exponent of k in the LR a clock step
# of a run of k times the tokens has. Taken from the theory, not fitted: no data set here varies
# the batch at one size (docs/model-size.md gives the 360M figures at 0, 0.5 and 1)
BATCH_LR_EXPONENT = 0.5


def ratio_text(k: float) -> str:
    """A ratio for the user: ``1,000`` rather than ``1e+03``."""
    return f"{k:,.0f}" if k >= 100 else f"{k:.3g}"


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


def lr_scale(k: float, exponent: float = BATCH_LR_EXPONENT) -> float:
    """The factor on the LR of a run of ``k`` times the clock's tokens a step, counted on the
    clock: ``k^-exponent``, ``1 / sqrt(k)`` by Adam's rule (:data:`BATCH_LR_EXPONENT`)."""
    return float(k**-exponent)


def own_lr_factor(
    tokens_per_step: float, unit: float, exponent: float = BATCH_LR_EXPONENT
) -> float:
    """What a run of ``tokens_per_step`` has its LR on a clock of ``unit`` multiplied by to
    give the LR it logged: ``1 / lr_scale(k)``."""
    return 1.0 / lr_scale(tokens_per_step / unit, exponent)


def own_lrs(logged: Mapping[str, float], unit: float) -> dict[str, float]:
    """:func:`own_lr_factor` of each run of ``logged`` (tokens per step by name)."""
    return {name: own_lr_factor(tokens, unit) for name, tokens in logged.items()}


def lr_rule_text(k: float, exponent: float = BATCH_LR_EXPONENT) -> str:
    """How a step of ``k`` times the tokens is counted, in words."""
    scale = lr_scale(k, exponent)
    if scale == 1.0:
        return "at its LR"
    if scale < 1:
        return f"at its LR / {ratio_text(1 / scale)}"
    return f"at its LR x {ratio_text(scale)}"


def clock_exponent(fitted: Any) -> float:
    """The LR rule a target is counted on ``fitted``'s clock with: the clock's own (0 in a fit
    file from before the rule), :data:`BATCH_LR_EXPONENT` for a fit in steps as logged."""
    clock = getattr(fitted, "clock", None)
    return BATCH_LR_EXPONENT if clock is None else clock.lr_exponent


def stretched(
    schedule: Schedule, k: float, n_steps: int, lr_exponent: float = BATCH_LR_EXPONENT
) -> Piecewise:
    """``schedule`` over ``n_steps`` steps on a clock of ``1/k`` of its steps: clock step ``t``
    has the LR of step ``ceil(t / k)`` times :func:`lr_scale` (``k = 2``: each step twice at its
    LR / sqrt(2); ``lr_exponent``: another rule's, for benchmarks/cross_size.py)."""
    if k * n_steps > MAX_STEPS:
        raise ParameterError(
            f"{n_steps:,} steps of {k:.3g}x the tokens are {k * n_steps:,.0f} steps on the clock, "
            f"beyond {MAX_STEPS:,}, the most lrcurve predicts",
            param="tokens_per_step",
        )
    lr = schedule.per_step(n_steps)
    at = np.arange(1, max(round(k * n_steps), 2) + 1)
    index = np.clip(np.ceil(at / k).astype(np.int64), 1, n_steps) - 1
    scaled = lr[index] * lr_scale(k, lr_exponent)
    return Piecewise(at.astype(np.float64), scaled, round(k * schedule.warmup_steps))


def on_clock(run: Run, unit: float, lr_exponent: float = BATCH_LR_EXPONENT) -> Run:
    """``run`` counted in steps of ``unit`` tokens: a run of ``k x unit`` tokens a step has
    each of its steps counted ``k`` times at its LR / sqrt(k) (its schedule :func:`stretched`)."""
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
        f"{run.label}: {run.tokens_per_step:,.0f} tokens a step, counted as {ratio_text(k)} "
        f"steps of {unit:,.0f} tokens {lr_rule_text(k, lr_exponent)}"
    )
    return replace(
        run,
        steps=steps,
        loss=run.loss[keep],
        schedule=stretched(run.schedule, k, run.horizon, lr_exponent),
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
        f"{CLOCK_NOTE} {unit:,.0f} tokens (the smallest tokens per step fitted): "
        "a run of k times the tokens a step counts each step k times at its LR / sqrt(k) "
        "(Adam's square-root rule); a prediction "
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


def is_clock_fit(fitted: Any) -> bool:
    """``fitted`` was made on a common clock of tokens (:func:`token_clock`, ``fit --clock
    tokens``): it carries the clock (:attr:`lrcurve.fitted.FittedLaw.clock`)."""
    return getattr(fitted, "clock", None) is not None
