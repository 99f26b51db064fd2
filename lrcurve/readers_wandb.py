"""Weights & Biases logs: run JSON exports and CSV exports of a chart panel.

A run export is ``{"name", "config", "summary", "history"}`` with ``history`` either
grouped series ``{"train": {"iter": [...], "train_lr": [...], "train_loss": [...]},
"val": {"iter": [...], "val_loss": [...]}}`` (the layout of ``shared/data/lr-scheduling``)
or W&B's list of logged rows ``[{"_step": 0, "iter": 50, "lr": ...}, ...]``; a file may
hold one export or a list of them. A panel export has a step column and one column
``<run> - <metric>`` per run and metric (the ``__MIN``/``__MAX`` bucket bounds are ignored).

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

A branch resumed from a checkpoint (``resume_from: .../<experiment>/ckpts/<step>``) is
stitched onto the run of that experiment when its export is found beside it (see
:func:`lrcurve.logs.stitch`).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lrcurve.errors import InputError
from lrcurve.logs import (
    LogOptions,
    ReadOptions,
    attach_parent,
    choose_loss,
    choose_lr,
    lr_mismatch,
    run_from_series,
    table_header,
)
from lrcurve.readers import (
    LOSS_NAMES,
    STEP_NAMES,
    check_steps,
    numeric_column,
    read_json,
    read_table,
)
from lrcurve.runs import MAX_STEPS, PEAK_LR_RANGE, Run
from lrcurve.schedules import WSD, WSD_SHAPES, Cosine, Piecewise, Schedule, Warmup

# W&B's own "_step" counts log calls, not optimiser steps: the last choice
STEP_PREFERENCE = tuple(n for n in STEP_NAMES if n != "_step") + ("_step",)
WARMUP_START = 0.01  # both schedulers warm up from lr / 100 (div_factor = init_div_factor = 100)
ONECYCLE_FLOOR = 0.1  # OneCycleLR: initial lr / final_div_factor = (lr / 100) / 0.1
PANEL_BOUNDS = ("__MIN", "__MAX")
RESUME = re.compile(r"(?:^|/)([^/]+)/ckpts/(\d+)/?$")

Series = dict[str, tuple[np.ndarray, np.ndarray]]


# --- schedules from a config -------------------------------------------------------


def _number(config: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    """``config[key]`` when it is a finite number, else ``default``."""
    value = config.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        return default
    return number if np.isfinite(number) else default


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
    decay_steps = int((_number(config, "wsd_fract_decay", 0.0) or 0.0) * steps)
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


def _describe(config: Mapping[str, Any]) -> str:
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


# --- finding a parent run ----------------------------------------------------------


def _search_roots(path: Path) -> list[Path]:
    """The export's folder, and the nearest folder above it (3 levels at most) with an index.csv."""
    roots = [path.parent]
    for folder in list(path.resolve().parents)[:3]:
        if (folder / "index.csv").exists():
            roots.append(folder)
            break
    return roots


@lru_cache(maxsize=8)
def _run_names(root: str) -> dict[str, str]:
    """W&B run name -> export file, for every JSON export under ``root``."""
    names: dict[str, str] = {}
    for file in sorted(Path(root).rglob("*.json")):
        try:
            data = read_json(file, "valid JSON")
        except InputError:
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.setdefault(data["name"], str(file))
    return names


def find_parent(path: Path, experiment: str) -> Path | None:
    """The export of the run named ``experiment`` near ``path``: by W&B run name, else by file name."""
    roots = _search_roots(path)
    for root in roots:
        found = _run_names(str(root.resolve())).get(experiment)
        if found:
            try:  # as the user named the branch: relative stays relative
                return root / Path(found).relative_to(root.resolve())
            except ValueError:
                return Path(found)
    for root in roots:
        direct = sorted(root.rglob(glob.escape(experiment) + ".json"))
        if direct:
            return direct[0]
    return None


# --- run exports -------------------------------------------------------------------


def _unwrap(config: Any) -> dict[str, Any]:
    """A config as plain values (W&B's config.yaml wraps each as ``{"value": ...}``)."""
    if not isinstance(config, dict):
        return {}
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in config.items()}


def _floats(values: Any) -> np.ndarray | None:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _step_column(names: Any) -> str | None:
    lower = {str(n).lower(): n for n in names}
    return next((lower[n] for n in STEP_PREFERENCE if n in lower), None)


def history_series(
    history: Any,
    where: str,
    misaligned: dict[str, str] | None = None,
    step_columns: dict[str, str] | None = None,
) -> Series:
    """Named ``(steps, values)`` series of a W&B history (grouped series or logged rows).

    A series holds the points logged: a ``null`` (or a row without the key) is left out,
    a ``NaN`` is kept, a logged bad value.

    A series with more or fewer values than its group has steps cannot be placed; it
    is left out and described in ``misaligned`` (series name -> why) when that dict is given.
    ``step_columns`` receives the step column of each series.
    """
    series: Series = {}
    misaligned = {} if misaligned is None else misaligned
    step_columns = {} if step_columns is None else step_columns
    if isinstance(history, list):
        if not all(isinstance(row, dict) for row in history):
            raise InputError(f"{where}: history is a list but not of logged rows")
        keys = dict.fromkeys(key for row in history for key in row)
        groups = {"": {key: [row.get(key) for row in history] for key in keys}} if history else {}
    elif isinstance(history, dict):
        groups = history
    else:
        raise InputError(f"{where}: no history (a W&B run export has config and history)")
    for group, table in groups.items():
        if not isinstance(table, dict):
            continue
        step_col = _step_column(table)
        steps = _floats(table[step_col]) if step_col is not None else None
        if steps is None or steps.ndim != 1:
            continue
        for column, values in table.items():
            numbers = _floats(values)
            if column == step_col or numbers is None or numbers.ndim != 1:
                continue
            logged = (
                np.array([v is not None for v in values], dtype=bool)
                if isinstance(values, list)
                else np.ones(numbers.size, dtype=bool)
            )
            if not logged.any():
                continue
            if (
                numbers.size != steps.size
            ):  # exports drop some values of some series: they cannot be placed
                misaligned[column] = (
                    f"{group}.{column} has {numbers.size} values for {steps.size} steps"
                )
                continue
            name = column if column not in series else f"{group}/{column}"
            series[name] = (steps[logged], numbers[logged])
            step_columns[name] = str(step_col)
    return series


def _loss_candidates(names: Iterable[str], log: LogOptions) -> list[str]:
    """The series ``--loss`` may pick from: any, for a named series; else those that look like a loss."""
    if log.loss not in (None, "auto", "val", "train"):
        return list(names)
    return [
        n
        for n in names
        if n.lower() in LOSS_NAMES or any(w in n.lower() for w in ("loss", "perplexity", "ppl"))
    ]


def _skipped_loss(
    names: list[str], misaligned: Mapping[str, str], log: LogOptions, where: str
) -> str | None:
    """The series ``--loss`` would have picked were it not left out as misaligned, if any."""
    left_out = [n for n in _loss_candidates(misaligned, log) if n not in names]
    if not left_out:
        return None
    try:
        preferred = choose_loss(names + left_out, log.loss, where)
    except InputError:
        return None
    return preferred if preferred in left_out else None


def read_wandb_json(path: Path, log: LogOptions, options: ReadOptions) -> list[tuple[Run, str]]:
    """Runs of a W&B run export, each with the name of its loss series."""
    data = read_json(path, "valid JSON")
    exports = data if isinstance(data, list) else [data]
    if not exports or not all(isinstance(e, dict) and "history" in e for e in exports):
        raise InputError(
            f"{path}: not a W&B run export (expected an object with config and history)"
        )
    runs = []
    for i, export in enumerate(exports):
        name = path.stem if len(exports) == 1 else f"{path.stem}:{export.get('name', i + 1)}"
        runs.append(_wandb_run(path, name, export, log, options))
    return runs


def _wandb_run(
    path: Path, name: str, export: dict[str, Any], log: LogOptions, options: ReadOptions
) -> tuple[Run, str]:
    where = str(path) if name == path.stem else f"{path} (run {name})"
    misaligned: dict[str, str] = {}
    step_columns: dict[str, str] = {}
    series = history_series(export["history"], where, misaligned, step_columns)
    config = _unwrap(export.get("config"))
    names = _loss_candidates(series, log)
    try:
        loss_name = choose_loss(names, log.loss, where)
    except InputError as error:
        raise InputError(
            f"{error}{'; left out: ' + '; '.join(misaligned.values()) if misaligned else ''}"
        ) from None
    skipped = _skipped_loss(names, misaligned, log, where)
    lr_name = choose_lr(list(series))
    schedule = schedule_from_config(config)
    if schedule is None and lr_name is None:
        raise InputError(
            f"{where}: no LR series (train_lr, lr, ...) and no schedule in the config to rebuild it from"
        )
    run = run_from_series(
        name, path, series, loss_name, lr_name, lr_fallback=schedule, **options.kwargs()
    )
    if skipped is not None:
        run = replace(
            run,
            notes=(
                *run.notes,
                f"{where}: {misaligned[skipped]}, so its values cannot be "
                f"placed at steps and it is left out; fitting {loss_name!r} instead",
            ),
        )
    if step_columns.get(loss_name) == "_step":
        run = replace(
            run,
            notes=(
                *run.notes,
                f"{where}: the steps are W&B's '_step', its count of log calls (no "
                "iter, step or global_step is logged); they are optimizer steps only if the run "
                "logged once per step",
            ),
        )
    if schedule is not None:
        notes = list(run.notes)
        origin = f"rebuilt from the W&B config ({_describe(config)})"
        if lr_name is not None:
            gap = lr_mismatch(schedule, *series[lr_name], horizon=schedule.horizon)
            if gap is None:
                origin += f", matches the logged {lr_name!r}"
            else:
                notes.append(f"{where}: warning: {gap}")
        run = replace(run, schedule=schedule, lr_origin=origin, notes=tuple(notes))
    return _with_parent(path, run, config, log, options, schedule), loss_name


def _with_parent(
    path: Path,
    run: Run,
    config: Mapping[str, Any],
    log: LogOptions,
    options: ReadOptions,
    schedule: Schedule | None,
) -> Run:
    resume = resume_point(config)
    if str(log.parent) == "none":
        return run
    if str(log.parent) != "auto":
        return attach_parent(
            run,
            Path(log.parent),
            log,
            options,
            fork=resume[1] if resume and resume[1] else None,
            schedule=schedule,
        )
    if resume is None or resume[1] == 0:
        return run
    experiment, fork = resume
    parent = find_parent(path, experiment)
    if parent is None or parent.resolve() == path.resolve():
        return replace(
            run,
            notes=(
                *run.notes,
                f"{path}: a branch of {experiment} from step {fork}, whose export is not "
                "beside it; pass --parent FILE to add the parent's points (fitting the branch alone)",
            ),
        )
    return attach_parent(run, parent, log, options, fork=fork, schedule=schedule)


# --- panel exports -----------------------------------------------------------------


def _panel_columns(header: list[str]) -> dict[str, dict[str, str]]:
    """``{run: {metric: column}}`` of a panel export's header (bounds left out)."""
    runs: dict[str, dict[str, str]] = {}
    for column in header[1:]:
        if " - " not in column or column.endswith(PANEL_BOUNDS):
            continue
        run, metric = column.rsplit(" - ", 1)
        runs.setdefault(run.strip(), {})[metric.strip()] = column
    return runs


def is_wandb_panel(path: Path) -> bool:
    """Does ``path`` look like a W&B panel export (a step column, then ``<run> - <metric>`` columns)?"""
    header = table_header(path)
    return bool(header) and _step_column(header[:1]) is not None and bool(_panel_columns(header))


def read_wandb_panel(path: Path, log: LogOptions, options: ReadOptions) -> list[tuple[Run, str]]:
    """Runs of a W&B panel export; each needs its LR among the panel's metrics."""
    frame = read_table(path)  # the delimiter from the header; repeated column names refused
    step_col = str(frame.columns[0])
    steps, _ = numeric_column(frame, step_col, path)
    check_steps(steps, frame.index, path, step_col)
    by_run = _panel_columns([str(c) for c in frame.columns])
    runs = []
    for run_name, metrics in by_run.items():
        series: Series = {}
        for metric, column in metrics.items():
            values, blank = numeric_column(frame, column, path)
            series[metric] = (
                steps[~blank],
                values[~blank],
            )  # a blank cell: the run logged nothing at that step
        name = path.stem if len(by_run) == 1 else f"{path.stem}:{run_name}"
        where = f"{path} (run {run_name})"
        loss_name = choose_loss(_loss_candidates(series, log), log.loss, where)
        lr_name = choose_lr(list(series))
        if lr_name is None:
            raise InputError(
                f"{where}: the panel has no learning-rate metric (metrics: {', '.join(series)}); export a chart "
                "that plots the LR (lr, train_lr, ...) with the loss, or the run's JSON export"
            )
        runs.append(
            (run_from_series(name, path, series, loss_name, lr_name, **options.kwargs()), loss_name)
        )
    return runs
