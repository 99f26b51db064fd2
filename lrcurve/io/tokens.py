"""A run's tokens per optimizer step, from its log: a table's ``tokens_per_step`` column, or a
W&B config.

- Table: a column named as in :data:`TOKENS_NAMES`, one value per run (``204800``,
  ``204.8K``, ``2.048e5``); a run whose rows give two values is refused naming the row.
- W&B config: ``batch_size x acc_steps x world_size x sequence_length`` (the llm-baselines
  trainer, :func:`lrcurve.io.wandb_config.tokens_per_step`), the fields said in a note.

The laws count optimizer steps, so runs that differ in tokens per step are not on one clock
(:mod:`lrcurve.tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from lrcurve.errors import ParameterError, ReadError
from lrcurve.io.files import read_json
from lrcurve.io.wandb_config import tokens_per_step, unwrap_config
from lrcurve.runs import Run
from lrcurve.sizes import SUFFIXES, parse_file_value

TOKENS_NAMES = ("tokens_per_step", "batch_tokens")


def parse_tokens(text: str, param: str = "tokens_per_step") -> float:
    """Tokens per step written as a number with an optional suffix K, M (``204800``,
    ``204.8K``, ``2e5``); refuses anything else, a number not above 0, and less than one
    token a step (not :func:`~lrcurve.sizes.parse_size`'s floor: a step of 4096 tokens is a
    small batch, not a mistake)."""
    body = str(text).strip()
    suffix = body[-1:].lower() if body[-1:].lower() in ("k", "m") else ""
    try:
        number = float(body[: len(body) - len(suffix)]) * SUFFIXES[suffix]
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ParameterError(
            f"{text!r} is not a number of tokens per step (write e.g. 204800 or 204.8K)",
            param=param,
        )
    if number <= 0:
        raise ParameterError(f"tokens per step {text!r} must be above 0", param=param)
    if number < 1:
        raise ParameterError(f"tokens per step {text!r} is less than one token", param=param)
    return number


def parse_file_tokens(text: str, param: str = "tokens_per_step") -> tuple[str, float]:
    """``FILE=N``: a run file and its tokens per step (as :func:`parse_tokens` reads them)."""
    return parse_file_value(text, parse_tokens, "tokens per step (e.g. a.json=204800)", param)


def with_config_tokens(run: Run, config: Mapping[str, Any], where: str) -> Run:
    """``run`` with the tokens per step its W&B config gives, and a note naming the fields."""
    found = tokens_per_step(config)
    if found is None:
        return run
    n, keys = found
    fields = " x ".join(f"{k}={config[k]}" for k in keys.split(" x "))
    note = f"{where}: {n:,.0f} tokens per step from the W&B config ({fields})"
    return replace(run, tokens_per_step=n, notes=(*run.notes, note))


def export_tokens_per_step(path: Path) -> tuple[float, str] | None:
    """Tokens per step from the config of the W&B run export ``path`` (see
    :func:`~lrcurve.io.wandb_config.tokens_per_step`), None when it has none."""
    try:
        data = read_json(path, "valid JSON")
    except ReadError:
        return None
    export = data[0] if isinstance(data, list) and data else data
    if not isinstance(export, dict):
        return None
    return tokens_per_step(unwrap_config(export.get("config")))
