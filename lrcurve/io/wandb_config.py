"""Exact schedules from a W&B run config, and the checkpoint a run resumed from.

The schedule is rebuilt from the config when it names one the trainer of those runs
defines (llm-baselines / Hägele et al., arXiv 2405.18392). With ``peak = lr``, ``T =
iterations``, ``W = warmup_steps`` and the LR at step ``k`` being the one the trainer logs
at ``iter = k`` (after ``k`` updates, as ``train_lr`` is logged):

- ``wsd``: linear warmup from ``peak/100`` over ``W`` steps, ``peak`` until
  ``T - int(wsd_fract_decay*T)``, then a ``decay_type`` (``linear``, ``sqrt`` = 1-sqrt, ...)
  decay to ``wsd_final_lr_scale*peak`` at ``T``;
- ``cos`` (PyTorch ``OneCycleLR``, ``div_factor=100``, ``final_div_factor=0.1``): a half-cosine
  warmup from ``peak/100`` to ``peak`` at ``W-1``, then a cosine to ``peak/10`` (or to
  ``cos_final_lr`` when that is set and not -1) at ``T-1``;
- ``wsd_twostage``: ``wsd`` whose stable phase drops linearly to ``wsd_twostage_factor*peak``
  over ``wsd_twostage_transition_steps`` steps after ``wsd_twostage_transition_after``, and
  decays from there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from lrcurve.runs import MAX_STEPS, PEAK_LR_RANGE
from lrcurve.schedules import WSD, WSD_SHAPES, Cosine, Piecewise, Schedule, Warmup
from lrcurve.values import is_number

MAX_TOKENS_PER_STEP = 1e12  # a config's batch above this is no batch (the largest are ~1e8)
WARMUP_START = 0.01  # both schedulers warm up from lr / 100 (div_factor = init_div_factor = 100)
ONECYCLE_FLOOR = 0.1  # OneCycleLR: initial lr / final_div_factor = (lr / 100) / 0.1
RESUME = re.compile(r"(?:^|/)([^/]+)/ckpts/(\d+)/?$")


def _number(config: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    """``config[key]`` as a float; ``default`` when the config does not set it (absent or
    null). ``ValueError`` when it sets it to anything but a finite number (a string, ``true``,
    NaN): the config then does not say what ran, and its default is no better a guess."""
    value = config.get(key)
    if value is None:
        return default
    if not is_number(value):
        raise ValueError(f"{key}={value!r} is no number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        raise ValueError(f"{key}={value!r} is beyond float range") from None
    if not math.isfinite(number):
        raise ValueError(f"{key}={value!r} is not finite")
    return number


def unwrap_config(config: Any) -> dict[str, Any]:
    """A config as plain values (W&B's config.yaml wraps each as ``{"value": ...}``)."""
    if not isinstance(config, dict):
        return {}
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in config.items()}


def schedule_from_config(config: Mapping[str, Any]) -> Schedule | None:
    """The exact schedule a config describes (see the module docstring), or None.

    None also when the values are out of range (a decay fraction of -1, a negative floor): such a
    config describes no schedule, so the logged LR series is used instead.
    """
    try:
        return _config_schedule(config)
    except ValueError:
        return None


def _config_schedule(config: Mapping[str, Any]) -> Schedule | None:
    name = config.get("scheduler")
    peak, steps = _number(config, "lr"), _number(config, "iterations")
    warmup = int(_number(config, "warmup_steps", 0) or 0)
    if name not in ("wsd", "cos", "wsd_twostage") or not peak or not steps or warmup < 0:
        return None
    if not PEAK_LR_RANGE[0] <= peak <= PEAK_LR_RANGE[1]:
        return None
    steps = int(steps)
    if not max(warmup, 1) < steps <= MAX_STEPS:
        return None
    init = WARMUP_START * peak
    final = _number(config, "wsd_final_lr_scale", 0.0) or 0.0
    if not final <= 1.0:  # decays from the peak, to a fraction of it
        return None
    if name == "cos":
        end_of_warmup = warmup - 1
        floor = _number(config, "cos_final_lr")
        fraction = ONECYCLE_FLOOR if floor is None or floor < 0 else floor / peak
        if not fraction <= 1.0:
            return None
        body: Schedule = Cosine(
            peak, steps, final=fraction, start=end_of_warmup, period=steps - 1 - end_of_warmup
        )
        return Warmup(body, end_of_warmup, init=init, shape="cosine") if end_of_warmup > 0 else body
    fraction = _number(config, "wsd_fract_decay", 0.0) or 0.0
    if not 0.0 <= fraction <= 1.0:
        return None
    decay_steps = int(fraction * steps)
    shape = config.get("decay_type") or "linear"
    if shape not in WSD_SHAPES:
        return None
    if name == "wsd":
        body = WSD(peak, steps, decay=decay_steps / steps, shape=shape, final=final)
    else:
        factor = _number(config, "wsd_twostage_factor")
        after = _number(config, "wsd_twostage_transition_after")
        ramp = _number(config, "wsd_twostage_transition_steps", 0.0) or 0.0
        hold = steps - decay_steps
        if (
            factor is None
            or after is None
            or shape != "linear"
            or not warmup < after < after + ramp < hold
            or not 0 <= factor <= 1
        ):
            return None
        body = Piecewise(
            (float(warmup), after, after + ramp, float(hold), float(steps)),
            (peak, peak, factor * peak, factor * peak, final * peak),
        )
    return Warmup(body, warmup, init=init) if warmup > 0 else body


# llm-baselines: batch_size sequences per device and micro-step, times acc_steps micro-steps,
# times world_size devices, of sequence_length tokens each
BATCH_KEYS = ("batch_size", "acc_steps", "world_size", "sequence_length")


def tokens_per_step(config: Mapping[str, Any]) -> tuple[float, str] | None:
    """Tokens per optimiser step, ``batch_size * acc_steps * world_size * sequence_length``
    (``acc_steps`` and ``world_size`` default to 1), and the keys it multiplied; None without a
    batch size and a sequence length, when one is no number, or when they multiply to less
    than a token or more than :data:`MAX_TOKENS_PER_STEP`."""
    try:
        values = {
            k: _number(config, k, None if k in ("batch_size", "sequence_length") else 1.0)
            for k in BATCH_KEYS
        }
    except ValueError:
        return None
    if any(v is None or v <= 0 for v in values.values()):
        return None
    total = math.prod(values[k] for k in BATCH_KEYS)  # type: ignore[misc]
    if not 1.0 <= total <= MAX_TOKENS_PER_STEP:
        return None
    return total, " x ".join(k for k in BATCH_KEYS if k in config)


def describe_config(config: Mapping[str, Any]) -> str:
    keys = (
        "scheduler",
        "lr",
        "warmup_steps",
        "iterations",
        "wsd_fract_decay",
        "decay_type",
        "cos_final_lr",
        "wsd_twostage_factor",
        "wsd_twostage_transition_after",
        "wsd_twostage_transition_steps",
    )
    return ", ".join(f"{k}={config[k]}" for k in keys if config.get(k) is not None)


def resume_point(config: Mapping[str, Any]) -> tuple[str, int] | None:
    """``(experiment, step)`` of the checkpoint a run resumed from, if any."""
    source = config.get("resume_from")
    match = RESUME.search(str(source).rstrip("/")) if source else None
    return (match.group(1), int(match.group(2))) if match else None
