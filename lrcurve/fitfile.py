"""Fit files: a fitted law and the data it saw, as JSON.

``lrcurve fit`` writes one; ``lrcurve predict`` reads it. Without ``-o`` the fit goes
to ``lrcurve.fit.json`` in the working directory, which a later fit of the same runs
may refresh; a fit of other runs needs ``--force`` to replace it, and so does any
existing file named with ``-o``. A fit file is checked as it is read, so a damaged
one ends in one message naming it instead of failing later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lrcurve import __version__
from lrcurve.errors import InputError
from lrcurve.fitting import FittedLaw, fit_window
from lrcurve.output import check_writable, mark_input, write_json
from lrcurve.io.files import read_json
from lrcurve.runs import MAX_STEPS

DEFAULT_FIT_FILE = Path("lrcurve.fit.json")
FORMAT = 1


def _run_keys(sources: list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(str(Path(source).resolve()) if source else "", name) for source, name in sources}


def _holds_fit_of(path: Path, sources: list[tuple[str, str]]) -> bool:
    """Is ``path`` a fit file of exactly the runs ``sources`` (source path, run name)?"""
    try:
        runs = read_json(path, "a JSON fit file")["runs"]
        return _run_keys([(r.get("source", ""), r["name"]) for r in runs]) == _run_keys(sources)
    except (InputError, KeyError, TypeError, AttributeError):
        return False


def check_fit_destination(
    path: Path, sources: list[tuple[str, str]], force: bool, default: bool
) -> None:
    """May a fit of ``sources`` (source path, run name) be written to ``path``?

    ``default``: the path was not named by the user, so a fit of the same runs may refresh it.
    """
    if default and path.is_file() and not force:
        if not _holds_fit_of(path, sources):
            raise InputError(
                f"{path} holds a fit of other runs; pass --force to replace it, or -o to write elsewhere"
            )
        force = True
    check_writable(path, force)


def save_fit(fitted: FittedLaw, path: Path) -> dict[str, Any]:
    data = {"lrcurve": __version__, "format": FORMAT, **fitted.to_dict()}
    write_json(path, data)
    return data


def _is_number(x: Any) -> bool:
    """A JSON number (not a string of digits, not true/false)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_fit(fitted: FittedLaw) -> None:
    """Raise ``ValueError`` unless ``fitted`` is a fit `lrcurve fit` could have written."""
    names = tuple(p.name for p in fitted.params)
    if not all(
        _is_number(p.value) and (p.stderr is None or _is_number(p.stderr)) for p in fitted.params
    ):
        raise ValueError("parameter values and standard errors must be numbers")
    if not 0.0 <= fitted.skip_fraction < 1.0:
        raise ValueError(f"skip_fraction {fitted.skip_fraction} is not in [0, 1)")
    if names != tuple(fitted.law.param_names):
        raise ValueError(
            f"parameters {', '.join(names) or 'none'}; the {fitted.law.name} law has {', '.join(fitted.law.param_names)}"
        )
    values = np.array([p.value for p in fitted.params], dtype=np.float64)
    lower, upper = fitted.law.bounds()
    if not np.all(np.isfinite(values) & (values >= lower) & (values <= upper)):
        raise ValueError("parameter values are not finite numbers within the law's bounds")
    stderrs = np.array(
        [np.nan if p.stderr is None else p.stderr for p in fitted.params], dtype=np.float64
    )
    if np.any(stderrs < 0):
        raise ValueError("negative standard errors")
    if fitted.covariance is not None and fitted.covariance.shape != (len(names), len(names)):
        raise ValueError(
            f"covariance of shape {fitted.covariance.shape} for {len(names)} parameters"
        )
    if not fitted.runs:
        raise ValueError("no runs")
    for run in fitted.runs:
        if (
            run.steps.ndim != 1
            or not run.steps.size
            or run.steps[0] < 1
            or np.any(np.diff(run.steps) <= 0)
        ):
            raise ValueError(f"run {run.name!r}: steps are not increasing positive numbers")
        if run.horizon > MAX_STEPS or not 0 <= run.warmup_steps < run.horizon:
            raise ValueError(
                f"run {run.name!r}: {run.horizon} steps with a warmup of {run.warmup_steps} "
                f"(at most {MAX_STEPS:,} steps, the warmup shorter than the run)"
            )
        if not np.all(np.isfinite(run.loss)):
            raise ValueError(f"run {run.name!r}: losses are not finite numbers")
        lr = run.schedule(run.steps)
        if not (
            np.all(np.isfinite(lr) & (lr >= 0)) and 0 < run.peak_lr < np.inf and run.horizon >= 1
        ):
            raise ValueError(f"run {run.name!r}: its schedule has no finite, non-negative LR")
        window = fit_window(run, fitted.skip_fraction)
        with np.errstate(
            all="ignore"
        ):  # a fit lrcurve wrote is within a few percent of its runs where it fitted them
            gap = np.abs(fitted.curve(run.schedule, run.steps[window]) - run.loss[window])
        if not np.all(gap < run.loss[window]):
            raise ValueError(
                f"its parameters do not describe its run {run.name!r} (a loss off by 100 % or more, "
                "or not finite)"
            )


def load_fit(path: Path | None) -> FittedLaw:
    if path is None:
        path = DEFAULT_FIT_FILE
        if not path.exists():
            raise InputError(
                f"no fit file given and no {DEFAULT_FIT_FILE} here; run `lrcurve fit RUNS...` first"
            )
    if not path.exists():
        raise InputError(f"{path}: no such fit file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a fit file")
    data = read_json(path, "a JSON fit file")
    mark_input(path)
    if not isinstance(data, dict) or "law" not in data or "params" not in data:
        raise InputError(f"{path}: not an lrcurve fit file (no law and params)")
    if data.get("format") != FORMAT:
        raise InputError(
            f"{path}: fit file format {data.get('format')!r}; this lrcurve ({__version__}) reads format {FORMAT} "
            "(fit the runs again)"
        )
    try:
        fitted = FittedLaw.from_dict(data)
        _check_fit(fitted)
    except KeyError as err:
        raise InputError(f"{path}: damaged fit file: no {err}") from None
    except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as err:
        raise InputError(f"{path}: damaged fit file: {err}") from None
    return fitted
