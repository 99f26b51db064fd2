"""The Power scheduler and the power law behind it.

Shen et al., *Power Scheduler: A Batch Size and Token Number Agnostic Learning Rate
Scheduler*, arXiv 2408.13359: with a WSD schedule, the best constant LR for a batch of
``beta`` sequences trained on ``n`` tokens follows ::

    eta_opt(beta, n) = beta * a * n^b          (the paper fits a ~ 4.6, b ~ -0.51 with muP)

so ``log(eta_opt / beta) = log a + b log n`` is a straight line, fitted here by ordinary
least squares with covariance ``s^2 (X^T X)^-1``. The Power scheduler follows the law
during training, ``lr(n) = min(lr_max, beta * a * n^b)`` with ``n`` the tokens seen so
far, after a linear warmup and before a short final decay (``lrcurve.schedules.Power``).

``beta`` counts sequences per batch in the paper (IBM's reference implementation takes
``a * batch_size`` with ``tokens = steps * batch_size * sequence_length``); a table of
sweeps with the batch in tokens gives an ``a`` for batches in tokens: use the same unit
when applying it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import InputError, ParameterError, ReadError
from lrcurve.io.options import LR_NAMES
from lrcurve.io.table import find_column, numeric_column
from lrcurve.io.table import read_frame as read_table
from lrcurve.runs import MAX_STEPS, PEAK_LR_RANGE
from lrcurve.schedules import Power, Schedule, with_warmup
from lrcurve.schedules.build import decaying_after_warmup

BATCH_NAMES = ("batch", "batch_size", "bs", "beta", "global_batch_size", "batch_sequences")
TOKENS_NAMES = (
    "tokens",
    "n_tokens",
    "num_tokens",
    "train_tokens",
    "training_tokens",
    "tokens_seen",
    "n",
)
OPT_LR_NAMES = ("optimal_lr", "lr_opt", "opt_lr", "best_lr", *LR_NAMES)
FLAT_LOG = (
    1e-9  # log(lr/batch) values closer than this are the same LR per batch (rounding, not signal)
)


def is_flat(values: NDArray[np.float64]) -> bool:
    """Whether ``values`` (logs) are all the same, up to rounding."""
    return bool(np.ptp(values) <= FLAT_LOG)


@dataclass(frozen=True)
class PowerLawFit:
    """``eta_opt = batch * a * tokens^b`` fitted in log space, with the covariance of
    ``(log a, b)``."""

    log_a: float
    b: float
    covariance: NDArray[np.float64]  # of (log a, b)
    batch: NDArray[np.float64]
    tokens: NDArray[np.float64]
    lr: NDArray[np.float64]

    @property
    def a(self) -> float:
        return math.exp(self.log_a)

    @property
    def a_stderr(self) -> float:
        """Delta method: ``se(a) = a * se(log a)``."""
        return self.a * math.sqrt(self.covariance[0, 0])

    @property
    def b_stderr(self) -> float:
        return math.sqrt(self.covariance[1, 1])

    @property
    def correlation(self) -> float:
        return float(
            self.covariance[0, 1] / math.sqrt(self.covariance[0, 0] * self.covariance[1, 1])
        )

    def optimal_lr(self, batch: ArrayLike, tokens: ArrayLike) -> NDArray[np.float64]:
        return (
            np.asarray(batch, dtype=np.float64)
            * self.a
            * np.asarray(tokens, dtype=np.float64) ** self.b
        )

    def optimal_lr_log_stderr(self, tokens: ArrayLike) -> NDArray[np.float64]:
        """Standard error of ``log eta_opt`` at ``tokens`` (a relative error of the LR)."""
        x = np.stack(
            [
                np.ones_like(np.asarray(tokens, dtype=np.float64)),
                np.log(np.asarray(tokens, dtype=np.float64)),
            ],
            axis=-1,
        )
        return np.sqrt(np.einsum("...i,ij,...j->...", x, self.covariance, x))

    @property
    def residuals(self) -> NDArray[np.float64]:
        """``log(observed) - log(fitted)`` per sweep."""
        return np.log(self.lr) - np.log(self.optimal_lr(self.batch, self.tokens))

    @property
    def r2(self) -> float | None:
        """R² of ``log(lr/batch)``; None (undefined) when that does not vary."""
        y = np.log(self.lr / self.batch)
        if is_flat(y):
            return None
        return float(1.0 - np.sum(self.residuals**2) / np.sum((y - y.mean()) ** 2))


def fit_power_law(batch: ArrayLike, tokens: ArrayLike, lr: ArrayLike) -> PowerLawFit:
    """Least squares of ``log(lr/batch) = log a + b log tokens`` on the sweeps' optimal LRs."""
    batch, tokens, lr = (np.asarray(v, dtype=np.float64) for v in (batch, tokens, lr))
    if not batch.size == tokens.size == lr.size:
        raise InputError("batch, tokens and lr differ in length")
    for name, values in (("batch", batch), ("tokens", tokens), ("lr", lr)):
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            raise InputError(
                f"{name} must be positive and finite; row {int(np.flatnonzero(bad)[0]) + 1} is "
                f"{values[bad][0]!r}"
            )
    if np.unique(tokens).size < 2:
        raise InputError(
            "the sweeps need at least two different token counts to fit the exponent b"
        )
    if batch.size < 3:
        raise InputError(
            f"{batch.size} sweeps cannot give a and b with uncertainties; give at least 3"
        )
    design = np.column_stack([np.ones_like(tokens), np.log(tokens)])
    target = np.log(lr / batch)
    if is_flat(target):
        raise InputError(
            f"every sweep has the same best LR per batch ({lr[0] / batch[0]:.4g}) whatever its "
            "tokens: "
            "that does not determine a and b (it would fit b = 0 with no uncertainty); "
            "a finer LR grid in the sweeps may show the change"
        )
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    resid = target - design @ coef
    s2 = float(resid @ resid) / (target.size - 2)
    covariance = s2 * np.linalg.inv(design.T @ design)
    return PowerLawFit(float(coef[0]), float(coef[1]), covariance, batch, tokens, lr)


def read_sweeps(
    path: Path,
    batch_col: str | None = None,
    tokens_col: str | None = None,
    lr_col: str | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """A table with one row per sweep: batch size, training tokens, best LR found."""
    frame = read_table(path)
    columns = []
    for what, names, given in (
        ("batch", BATCH_NAMES, batch_col),
        ("tokens", TOKENS_NAMES, tokens_col),
        ("lr", OPT_LR_NAMES, lr_col),
    ):
        column = find_column(frame, path, names, given)
        if column is None:
            raise ParameterError(
                f"{path}: no {what} column (looked for {', '.join(names[:5])}...; name it)",
                param=f"{what}_col",
            )
        values, blank = numeric_column(frame, column, path)
        if blank.any():
            row = int(np.flatnonzero(blank)[0]) + 2
            raise ReadError(f"{path}: column {column!r} row {row} is empty")
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ReadError(
                f"{path}: column {column!r} row {row + 2}: {values[row]!r} is not a positive number"
            )
        columns.append(values)
    return columns[0], columns[1], columns[2]


def power_schedule(
    a: float,
    b: float,
    batch: float,
    tokens_per_step: float,
    tokens: float,
    lr_max: float,
    *,
    warmup: int = 0,
    decay: float = Power.decay,
    shape: str = Power.shape,
    floor: float = Power.final,
) -> Schedule:
    """The Power scheduler for a run of ``tokens`` tokens at ``tokens_per_step`` per step."""
    if not tokens > 0:
        raise ParameterError(f"must be positive, got {tokens:g}", param="tokens")
    low, high = PEAK_LR_RANGE
    if not low <= lr_max <= high:
        raise ParameterError(
            f"lr_max {lr_max:g} is outside [{low:g}, {high:g}], the range the laws can evaluate "
            "(a unit mistake?)",
            param="lr_max",
        )
    exact = tokens / tokens_per_step
    if not exact <= MAX_STEPS:
        raise ParameterError(
            f"{tokens:g} tokens at {tokens_per_step:g} per step is beyond {MAX_STEPS:,} steps, "
            "the most lrcurve handles",
            param="tokens",
        )
    steps = int(math.ceil(exact))
    if steps < 2:
        raise ParameterError(
            f"{tokens:g} tokens at {tokens_per_step:g} per step is less than two steps",
            param="tokens",
        )
    if not 0 <= warmup < steps:
        raise ParameterError(f"({warmup}) must be in [0, {steps}) steps", param="warmup")
    body = Power(a, b, batch, tokens_per_step, lr_max, steps, decay=decay, shape=shape, final=floor)
    return with_warmup(decaying_after_warmup(body, warmup), warmup)


def tokens_per_step_of(batch: float, seq_len: int | None, tokens_per_step: float | None) -> float:
    """Tokens per optimiser step from ``seq_len`` (``batch * seq_len``) or ``tokens_per_step``."""
    if (seq_len is None) == (tokens_per_step is None):
        raise ParameterError(
            "give the tokens per step: seq_len L (tokens per step = batch * L) or tokens_per_step",
            param="seq_len",
        )
    per_step = batch * seq_len if seq_len is not None else float(tokens_per_step)  # type: ignore[arg-type]
    if not per_step > 0:
        raise ParameterError(f"must be positive, got {per_step:g}", param="tokens_per_step")
    return per_step


def fit_summary(fitted: PowerLawFit) -> dict[str, Any]:
    """The fit as plain numbers (what ``fit-power --json`` prints before the new run)."""
    return {
        "points": int(fitted.lr.size),
        "a": fitted.a,
        "a_stderr": fitted.a_stderr,
        "b": fitted.b,
        "b_stderr": fitted.b_stderr,
        "log_a": fitted.log_a,
        "covariance_log_a_b": fitted.covariance.tolist(),
        "correlation": fitted.correlation,
        "r2": fitted.r2,
        "rms_log_residual": float(np.sqrt(np.mean(fitted.residuals**2))),
    }


def new_run(
    fitted: PowerLawFit,
    batch: float,
    tokens: float,
    per_step: float | None = None,
    lr_max: float | None = None,
    **schedule_options: Any,
) -> tuple[dict[str, Any], Schedule | None]:
    """A new run's best constant LR ``batch * a * tokens^b`` with its ±2 s.e. range and, given
    the tokens per step, its Power schedule (capped at ``lr_max``, default the highest LR of
    the sweeps) sampled at 10 steps; the schedule itself too."""
    if not (batch > 0 and tokens > 0):
        raise ParameterError(f"batch and tokens must be positive, got {batch:g} and {tokens:g}")
    lr_opt = float(fitted.optimal_lr(batch, tokens))
    rel = float(fitted.optimal_lr_log_stderr(tokens))
    run: dict[str, Any] = {
        "batch": batch,
        "tokens": tokens,
        "optimal_constant_lr": lr_opt,
        "log_stderr": rel,
        "range_2se": [lr_opt * np.exp(-2 * rel), lr_opt * np.exp(2 * rel)],
    }
    if per_step is None:
        return run, None
    lr_max = float(fitted.lr.max()) if lr_max is None else lr_max
    schedule = power_schedule(
        fitted.a, fitted.b, batch, per_step, tokens, lr_max, **schedule_options
    )
    steps = np.unique(np.linspace(0, schedule.horizon - 1, 10).round().astype(int)) + 1
    run.update(
        {
            "tokens_per_step": per_step,
            "lr_max": lr_max,
            "schedule": schedule.to_dict(),
            "schedule_text": str(schedule),
            "steps": schedule.horizon,
            "sampled": {
                "step": steps.tolist(),
                "tokens": (steps * per_step).tolist(),
                "lr": schedule(steps).tolist(),
            },
        }
    )
    return run, schedule
