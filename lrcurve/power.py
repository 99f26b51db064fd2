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

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import InputError
from lrcurve.io.options import LR_NAMES
from lrcurve.io.table import find_column, numeric_column
from lrcurve.io.table import read_frame as read_table
from lrcurve.runs import MAX_STEPS, check_peak_lr
from lrcurve.schedules import Power, Schedule, with_warmup

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
                f"{name} must be positive and finite; row {int(np.flatnonzero(bad)[0]) + 1} is {values[bad][0]!r}"
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
            f"every sweep has the same best LR per batch ({lr[0] / batch[0]:.4g}) whatever its tokens: "
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
            raise InputError(
                f"{path}: no {what} column (looked for {', '.join(names[:5])}...; name it with --{what}-col)"
            )
        values, blank = numeric_column(frame, column, path)
        if blank.any():
            raise InputError(
                f"{path}: column {column!r} row {int(np.flatnonzero(blank)[0]) + 2} is empty"
            )
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
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
        raise InputError(f"--tokens must be positive, got {tokens:g}")
    check_peak_lr(lr_max, "--peak: lr_max")
    exact = tokens / tokens_per_step
    if not exact <= MAX_STEPS:
        raise InputError(
            f"{tokens:g} tokens at {tokens_per_step:g} per step is beyond {MAX_STEPS:,} steps, "
            "the most lrcurve handles"
        )
    steps = int(math.ceil(exact))
    if steps < 2:
        raise InputError(
            f"{tokens:g} tokens at {tokens_per_step:g} per step is less than two steps"
        )
    if not 0 <= warmup < steps:
        raise InputError(f"--warmup ({warmup}) must be in [0, {steps}) steps")
    try:
        body = Power(
            a, b, batch, tokens_per_step, lr_max, steps, decay=decay, shape=shape, final=floor
        )
    except ValueError as error:
        raise InputError(str(error)) from None
    return with_warmup(body, warmup)


def tokens_per_step_of(batch: float, seq_len: int | None, tokens_per_step: float | None) -> float:
    """Tokens per optimiser step from ``--seq-len`` (``batch * seq_len``) or ``--tokens-per-step``."""
    if (seq_len is None) == (tokens_per_step is None):
        raise InputError(
            "give the tokens per step: --seq-len L (tokens per step = batch * L) or --tokens-per-step N"
        )
    per_step = batch * seq_len if seq_len is not None else float(tokens_per_step)  # type: ignore[arg-type]
    if not per_step > 0:
        raise InputError(f"tokens per step must be positive, got {per_step:g}")
    return per_step
