"""Fit files: a fitted law and the data it saw, as JSON.

``lrcurve fit`` writes one; ``lrcurve predict`` reads it. Without ``-o`` the fit goes
to ``lrcurve.fit.json`` in the working directory, which a later fit of the same runs
may refresh; a fit of other runs needs ``--force`` to replace it, and so does any
existing file named with ``-o``. A fit file is checked as it is read, so a damaged
one ends in one message naming it instead of failing later.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lrcurve import __version__
from lrcurve.backtest import backtest_scale
from lrcurve.clock import read_clock
from lrcurve.errors import InputError, ReadError
from lrcurve.fitting import FittedLaw, fit_window
from lrcurve.io.files import read_json
from lrcurve.laws import law_from_dict
from lrcurve.output import write_json
from lrcurve.runs import MAX_STEPS, PEAK_LR_RANGE, Run
from lrcurve.values import is_number

DEFAULT_FIT_FILE = Path("lrcurve.fit.json")
FORMAT = 1


def _run_keys(sources: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(str(Path(source).resolve()) if source else "", name) for source, name in sources}


def holds_fit_of(path: Path, sources: list[tuple[str, str]]) -> bool:
    """Is ``path`` a fit file of exactly the runs ``sources`` (source path, run name)?"""
    try:
        runs = read_json(path, "a JSON fit file")["runs"]
        return _run_keys([(r.get("source", ""), r["name"]) for r in runs]) == _run_keys(sources)
    except (InputError, KeyError, TypeError, AttributeError):
        return False


def save_fit(fitted: FittedLaw, path: Path, replace: bool = True) -> dict[str, Any]:
    """Write ``fitted`` to ``path`` (``replace=False``: only if ``path`` does not exist)."""
    data = {"lrcurve": __version__, "format": FORMAT, **fitted.to_dict()}
    write_json(path, data, replace)
    return data


def _check_fit(fitted: FittedLaw) -> None:
    """Raise ``ReadError`` unless ``fitted`` is a fit `lrcurve fit` could have written."""
    _check_params(fitted)
    if not fitted.runs:
        raise ReadError("no runs")
    for run in fitted.runs:
        _check_run(fitted, run)


def _check_params(fitted: FittedLaw) -> None:
    """The parameters: numbers, the law's names, within its bounds, a matching covariance."""
    names = tuple(p.name for p in fitted.params)
    if not all(
        is_number(p.value) and (p.stderr is None or is_number(p.stderr)) for p in fitted.params
    ):
        raise ReadError("parameter values and standard errors must be numbers")
    if not 0.0 <= fitted.skip_fraction < 1.0:
        raise ReadError(f"skip_fraction {fitted.skip_fraction} is not in [0, 1)")
    if names != tuple(fitted.law.param_names):
        raise ReadError(
            f"parameters {', '.join(names) or 'none'}; the {fitted.law.name} law has "
            f"{', '.join(fitted.law.param_names)}"
        )
    values = np.array([p.value for p in fitted.params], dtype=np.float64)
    lower, upper = fitted.law.bounds()
    if not np.all(np.isfinite(values) & (values >= lower) & (values <= upper)):
        raise ReadError("parameter values are not finite numbers within the law's bounds")
    stderrs = np.array(
        [np.nan if p.stderr is None else p.stderr for p in fitted.params], dtype=np.float64
    )
    if np.any(stderrs < 0):
        raise ReadError("negative standard errors")
    covariance = fitted.covariance
    if covariance is not None and covariance.shape != (len(names), len(names)):
        raise ReadError(f"covariance of shape {covariance.shape} for {len(names)} parameters")
    if covariance is not None and not _is_covariance(covariance, stderrs):
        raise ReadError(
            "the covariance is not a symmetric matrix of finite numbers whose diagonal holds "
            "the squared standard errors (as a fit writes it)"
        )
    scale = fitted.backtest_scale
    if scale is not None and not (is_number(scale) and 0 <= scale < 1):
        raise ReadError(f"backtest_scale {scale!r} is not a relative error in [0, 1)")


def _is_covariance(matrix: np.ndarray, stderrs: np.ndarray) -> bool:
    """Finite, symmetric to rounding, its diagonal the squared standard errors (0 where there
    is none: a held parameter); its delta-method matrix need not be strictly positive
    definite."""
    diagonal = np.diag(matrix)
    if not np.all(np.isfinite(matrix)) or np.any(diagonal < 0):
        return False
    squared = np.where(np.isnan(stderrs), 0.0, stderrs) ** 2
    if not np.allclose(diagonal, squared, rtol=1e-6, atol=1e-300):
        return False
    scale = np.sqrt(np.outer(diagonal, diagonal))
    return bool(np.all(np.abs(matrix - matrix.T) <= 1e-6 * scale + 1e-300))


def _check_run(fitted: FittedLaw, run: Run) -> None:
    """One fitted run: its steps, horizon, losses and schedule, and the fit describing it."""
    steps = run.steps
    if steps.ndim != 1 or not steps.size or steps[0] < 1 or np.any(np.diff(steps) <= 0):
        raise ReadError(f"run {run.name!r}: steps are not increasing positive numbers")
    if run.horizon > MAX_STEPS or not 0 <= run.warmup_steps < run.horizon:
        raise ReadError(
            f"run {run.name!r}: {run.horizon} steps with a warmup of {run.warmup_steps} "
            f"(at most {MAX_STEPS:,} steps, the warmup shorter than the run)"
        )
    if not np.all(np.isfinite(run.loss)):
        raise ReadError(f"run {run.name!r}: losses are not finite numbers")
    lr = run.schedule(run.steps)
    if not (np.all(np.isfinite(lr) & (lr >= 0)) and 0 < run.peak_lr < np.inf and run.horizon >= 1):
        raise ReadError(f"run {run.name!r}: its schedule has no finite, non-negative LR")
    low, high = PEAK_LR_RANGE
    if not low <= run.peak_lr <= high:
        raise ReadError(
            f"run {run.name!r}: peak LR {run.peak_lr:g} is outside [{low:g}, {high:g}], "
            "the range the laws can evaluate"
        )
    size = run.model_size
    if (size is None and fitted.law.size_aware) or not (size is None or 0 < size < np.inf):
        raise ReadError(f"run {run.name!r}: model size {size} is not a parameter count above 0")
    tokens = run.tokens_per_step
    if not (tokens is None or 0 < tokens < np.inf):
        raise ReadError(f"run {run.name!r}: tokens per step {tokens} is not a number above 0")
    window = fit_window(run, fitted.skip_fraction)
    # a fit lrcurve wrote is within a few percent of its runs where it fitted them
    with np.errstate(all="ignore"):
        gap = np.abs(
            fitted.curve(run.schedule, run.steps[window], model_size=run.model_size)
            - run.loss[window]
        )
    if not np.all(gap < run.loss[window]):
        raise ReadError(
            f"its parameters do not describe its run {run.name!r} (a loss off by 100 % or more, "
            "or not finite)"
        )


def with_added_params(data: dict[str, Any]) -> dict[str, Any]:
    """A fit file written before its law gained parameters (``Param.added_at``), with them
    held at the value the law then had them at (its covariance padded with zeros)."""
    try:
        params = dict(data["params"])
        added = [p for p in law_from_dict(data["law"]).params if p.added_at is not None]
    except (KeyError, TypeError, ValueError, AttributeError):
        return data  # refused, with its reason, by the checks that follow
    missing = [p for p in added if p.name not in params]
    if not missing:
        return data
    for p in missing:
        params[p.name] = {"value": p.added_at, "stderr": None, "lower": p.lower, "upper": p.upper}
    out = {**data, "params": params, "held": [*data.get("held", ()), *(p.name for p in missing)]}
    if data.get("covariance") is not None:
        out["covariance"] = np.pad(
            np.asarray(data["covariance"], float), (0, len(missing))
        ).tolist()
    return out


def _in_words(error: Exception) -> str:
    """What is wrong with a fit file's entry, without Python's names for it (an entry with a
    field missing or unknown reached a constructor as ``X.__init__() ... 'lower'``)."""
    text = str(error)
    fields = re.findall(r"'(\w+)'", text)
    if "__init__()" in text and "missing" in text:
        return f"an entry lacks the field(s) {', '.join(fields)}"
    if "__init__()" in text and "unexpected keyword" in text:
        return f"an entry has the unknown field {', '.join(fields)}"
    return text


def load_fit(path: Path | None) -> FittedLaw:
    if path is None:
        path = DEFAULT_FIT_FILE
        if not path.exists():
            raise ReadError(
                f"no fit file given and no {DEFAULT_FIT_FILE} here; run `lrcurve fit RUNS...` first"
            )
    if not path.exists():
        raise ReadError(f"{path}: no such fit file")
    if path.is_dir():
        raise ReadError(f"{path}: is a directory, not a fit file")
    data = read_json(path, "a JSON fit file")
    if not isinstance(data, dict) or "law" not in data or "params" not in data:
        raise ReadError(f"{path}: not an lrcurve fit file (no law and params)")
    if data.get("format") != FORMAT:
        raise ReadError(
            f"{path}: fit file format {data.get('format')!r}; this lrcurve ({__version__}) reads "
            f"format {FORMAT} (fit the runs again)"
        )
    try:
        fitted = read_clock(FittedLaw.from_dict(with_added_params(data)))
        _check_fit(fitted)
    except KeyError as err:
        raise ReadError(f"{path}: damaged fit file: no {err}") from None
    except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as err:
        raise ReadError(f"{path}: damaged fit file: {_in_words(err)}") from None
    if fitted.backtest_scale is None:  # written before fits kept it: measured now, as fit would
        fitted = replace(fitted, backtest_scale=backtest_scale(fitted))
    return fitted
