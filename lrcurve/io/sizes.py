"""A run's model size ``N`` from its log: a table's ``params`` column, or a W&B config.

- Table: a column named as in :data:`PARAMS_NAMES`, one value per run (``25M``, ``1.3B``,
  ``4e8`` or a plain count, :func:`lrcurve.sizes.parse_size`); a run whose rows give two
  different sizes is refused naming the row.
- W&B config (or summary): a logged count under one of :data:`COUNT_KEYS`; else, for a
  llama-style model of the llm-baselines trainer (Hägele et al., arXiv 2405.18392; the
  lr-scheduling exports), the count computed from ``n_layer``, ``n_embd``, ``vocab_size`` and
  ``multiple_of`` (:func:`llama_params`); a GPT-2-style config is not computed (its count
  depends on biases and position embeddings the config does not say), so give ``--params``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import ParameterError, ReadError
from lrcurve.runs import Run
from lrcurve.sizes import MAX_SIZE, MIN_SIZE, format_size, parse_size
from lrcurve.values import is_number

PARAMS_NAMES = ("params", "n_params", "num_params", "model_params", "model_size", "parameters")
COUNT_KEYS = (
    "n_params",
    "num_params",
    "model_params",
    "n_parameters",
    "num_parameters",
    "parameter_count",
    "params",
    "model/num_params",
)
ARCHITECTURE_KEYS = ("n_layer", "n_embd", "vocab_size")


def table_size(
    text: NDArray[np.object_], rows: NDArray[np.int64], where: str, column: str
) -> float | None:
    """The one model size in a run's cells of ``column`` (file rows ``rows``), None when all are
    blank; a cell that is no size, or a second size in the same run, is refused."""
    return table_value(text, rows, where, column, parse_size, "model size")


def table_value(
    text: NDArray[np.object_],
    rows: NDArray[np.int64],
    where: str,
    column: str,
    parse: Callable[[str], float],
    quantity: str,
) -> float | None:
    """The one value ``parse`` reads in a run's cells of ``column`` (file rows ``rows``), None
    when all are blank; a cell it refuses, or a second value in the same run, is refused."""
    value, first = None, 0
    for cell, row in zip(text, rows):
        if cell == "":
            continue
        try:
            number = parse(str(cell))
        except ParameterError as err:
            raise ReadError(f"{where}: column {column!r} row {row}: {err.message}") from None
        if value is None:
            value, first = number, int(row)
        elif number != value:
            raise ReadError(
                f"{where}: column {column!r} row {row}: {quantity} {cell!r} differs from "
                f"{format_size(value)} at row {first}; a run has one {quantity}"
            )
    return value


def _count(config: Mapping[str, Any], key: str) -> float | None:
    value = config.get(key)
    if not (is_number(value) or isinstance(value, str)):
        return None
    try:
        return parse_size(str(value))
    except ParameterError:
        return None


def llama_params(n_layer: int, d: int, vocab: int, multiple_of: int = 256) -> int:
    """Parameters of an llm-baselines llama model, embeddings tied to the output: ``V d`` +
    per layer ``4 d^2`` (attention) ``+ 3 d h`` (SwiGLU, ``h = int(8 d / 3)`` rounded up to a
    multiple of ``multiple_of``) ``+ 2 d`` (norms), + ``d`` (final norm)."""
    hidden = int(2 * 4 * d / 3)
    hidden = multiple_of * ((hidden + multiple_of - 1) // multiple_of)
    return vocab * d + n_layer * (4 * d * d + 3 * d * hidden + 2 * d) + d


def config_size(
    config: Mapping[str, Any], summary: Mapping[str, Any] | None = None
) -> tuple[float, str] | None:
    """``(N, how it was found)`` from a W&B config (or its summary), None when it says none."""
    for source, values in (("config", config), ("summary", summary or {})):
        for key in COUNT_KEYS:
            n = _count(values, key)
            if n is not None:
                return n, f"the W&B {source}'s {key}"
    model = str(config.get("model", ""))
    arch = [config.get(k) for k in ARCHITECTURE_KEYS]
    if "llama" not in model or not all(_positive_int(v) for v in arch):
        return None
    if config.get("mlp_dim_exp_factor", 1) != 1:  # another MLP width than the default
        return None
    multiple_of = config.get("multiple_of", 256)
    if not _positive_int(multiple_of):
        return None
    n_layer, d, vocab = arch
    how = (
        f"the W&B config's architecture ({model}: n_layer={n_layer}, n_embd={d}, "
        f"vocab_size={vocab}, multiple_of={multiple_of}; tied embeddings, computed)"
    )
    count = llama_params(n_layer, d, vocab, multiple_of)  # an int: no overflow before the test
    return (float(count), how) if MIN_SIZE <= count <= MAX_SIZE else None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and is_number(value) and value > 0


def with_config_size(run: Run, config: Mapping[str, Any], export: Any, where: str) -> Run:
    """``run`` with the model size its W&B config (or the export's summary) gives, noted."""
    summary = export.get("summary") if isinstance(export, dict) else None
    found = config_size(config, summary if isinstance(summary, dict) else None)
    if found is None:
        return run
    n, how = found
    note = f"{where}: model size {format_size(n)} ({n:.0f} parameters) from {how}"
    return replace(run, model_size=n, notes=(*run.notes, note))
