"""The unit of a loss series: nats, bits or perplexity, and its conversion to nats.

A name says it first (``ppl``/``perplexity``; ``bits``/``bpt``), then ``loss_unit``.
Otherwise the values decide, from two facts about a per-token loss in nats: it stays below
``ln(vocabulary)`` once training starts (no tokenizer has 2^20 tokens, so its median is
below ``ln 2^20`` = 13.9), and it falls below ``ln 4096`` = 8.3 within the first steps (below
the entropy of the token frequencies). A series that breaks either (its median above 13.9,
or never below 8.3: e.g. a perplexity of 9-20, which is 2.2-3.0 nats) is not in nats; being
at least 1 everywhere it is taken as a perplexity (``exp`` of the loss), and a note says so.
Bits are recognised only by name or ``loss_unit="bits"``: the 2-5 bits of a trained model
look like nats.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ReadError

# ln(vocabulary size) bounds a per-token loss in nats; no tokenizer in use exceeds 2^20 entries.
MAX_PLAUSIBLE_NATS = math.log(2**20)
# A loss in nats falls below ln(4096) early in training; one that never does is another unit.
NATS_FLOOR = math.log(4096)


def loss_unit(column: str, loss: NDArray[np.float64], unit: str, where: str) -> tuple[str, str]:
    """The unit of a loss series, and why when the values decided it (else ``""``)."""
    if unit != "auto":
        return unit, ""
    name = column.lower()
    if "ppl" in name or "perplexity" in name:
        return "ppl", ""
    if "bits" in name or "bpt" in name:
        return "bits", ""
    finite = loss[np.isfinite(loss)]
    if not finite.size:
        return "nats", ""
    median, low = float(np.median(finite)), float(finite.min())
    if median <= MAX_PLAUSIBLE_NATS and low < NATS_FLOOR:
        return "nats", ""
    shown = f"{low:.4g} to {float(finite.max()):.4g}, median {median:.4g}"
    if low < 1:
        raise ReadError(
            f"{where}: column {column!r} ({shown}) is too large for a loss in nats and "
            "below 1, so no perplexity; give its unit (ppl or bits)",
            param="loss_unit",
        )
    return "ppl", (
        f"{where}: read column {column!r} as perplexity: its values ({shown}) are no loss in "
        "nats, which stays below ln 2^20 = 13.9 and soon falls below ln 4096 = 8.3; give the "
        "loss unit if it is bits or nats"
    )


def to_nats(loss: NDArray[np.float64], unit: str, column: str, where: str) -> NDArray[np.float64]:
    """``loss`` in nats: ``ln ppl`` or ``bits * ln 2``."""
    if unit == "ppl":
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() < 1:
            raise ReadError(f"{where}: column {column!r} has perplexity {finite.min():.4g} < 1")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(loss)
    if unit == "bits":
        return loss * math.log(2.0)
    return loss
