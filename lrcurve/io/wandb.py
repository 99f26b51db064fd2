"""Weights & Biases logs: run JSON exports and CSV exports of a chart panel.

A run export is ``{"name", "config", "summary", "history"}`` with ``history`` either
grouped series ``{"train": {"iter": [...], "train_lr": [...], "train_loss": [...]},
"val": {"iter": [...], "val_loss": [...]}}`` (the layout of ``shared/data/lr-scheduling``)
or W&B's list of logged rows ``[{"_step": 0, "iter": 50, "lr": ...}, ...]``; a file may
hold one export or a list of them. A panel export has a step column and one column
``<run> - <metric>`` per run and metric (the ``__MIN``/``__MAX`` bucket bounds are ignored).

Steps follow the rules of a CSV step column (:func:`lrcurve.io.series.check_steps`); a row
of the list layout without a step is left out. A series that cannot be placed at steps (a
group without a step column, a step column that is no list of numbers, a series longer or
shorter than its steps, a value that is not a number) is left out, and when the loss would
have come from it, one note says so and which series is fitted instead. A ``final-val``
evaluation is a separate measurement, never mixed into the curve: a note says it is left out.

The schedule is rebuilt from the config when it can be (:mod:`lrcurve.io.wandb_config`). A
branch resumed from a checkpoint (``resume_from: .../<experiment>/ckpts/<step>``) is stitched
onto the run of that experiment when its export is found beside it.
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

from lrcurve.errors import ReadError
from lrcurve.io.files import read_json, resolved
from lrcurve.io.options import LOSS_NAMES, STEP_NAMES, ReadOptions, choose_loss, choose_lr
from lrcurve.io.series import Logged, Series, after_start, check_steps, exact_lr, to_run
from lrcurve.io.sizes import with_config_size
from lrcurve.io.stitch import lr_mismatch
from lrcurve.io.table import TableFile
from lrcurve.io.tokens import with_config_tokens
from lrcurve.io.wandb_config import (
    describe_config,
    resume_point,
    schedule_from_config,
    unwrap_config,
)
from lrcurve.runs import Run

# W&B's own "_step" counts log calls, not optimiser steps: the last choice
STEP_PREFERENCE = tuple(n for n in STEP_NAMES if n != "_step") + ("_step",)
PANEL_BOUNDS = ("__MIN", "__MAX")
FINAL_EVAL = re.compile(r"(.*/)?final[-_/]?val[-_/]?loss")  # llm-baselines' "final-val" group


# --- finding a parent run ----------------------------------------------------------


def _search_roots(path: Path) -> list[Path]:
    """The export's folder, and the nearest folder above it (3 levels at most) with an index.csv."""
    roots = [path.parent]
    for folder in list(resolved(path).parents)[:3]:
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
        except ReadError:
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.setdefault(data["name"], str(file))
    return names


def find_parent(path: Path, experiment: str) -> Path | None:
    """The export of the run named ``experiment`` near ``path``: by W&B run name, else file name."""
    roots = _search_roots(path)
    for root in roots:
        found = _run_names(str(resolved(root))).get(experiment)
        if found:
            try:  # as the user named the branch: relative stays relative
                return root / Path(found).relative_to(resolved(root))
            except ValueError:
                return Path(found)
    for root in roots:
        direct = sorted(root.rglob(glob.escape(experiment) + ".json"))
        if direct:
            return direct[0]
    return None


# --- run exports -------------------------------------------------------------------


def _floats(values: Any) -> tuple[np.ndarray | None, str]:
    """``values`` as a 1-d float array (``None`` -> NaN), or ``None`` and what is wrong."""
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        numbers = None
    if numbers is not None and numbers.ndim == 1:
        return numbers, ""
    if not isinstance(values, list):
        return None, f"holds a {type(values).__name__}, not a list of numbers"
    for i, value in enumerate(values):
        try:
            float(value if value is not None else "nan")
        except (TypeError, ValueError, OverflowError):
            return None, f"holds {value!r} at point {i + 1}, not a number"
    return None, "is not a list of numbers"


def _step_column(names: Iterable[Any]) -> str | None:
    lower = {str(n).lower(): n for n in names}
    return next((lower[n] for n in STEP_PREFERENCE if n in lower), None)


def _groups(history: Any, where: str) -> dict[str, Any]:
    if isinstance(history, list):
        if not all(isinstance(row, dict) for row in history):
            raise ReadError(f"{where}: history is a list but not of logged rows")
        keys = dict.fromkeys(key for row in history for key in row)
        return {"": {key: [row.get(key) for row in history] for key in keys}} if history else {}
    if isinstance(history, dict):
        return history
    raise ReadError(f"{where}: no history (a W&B run export has config and history)")


def history_series(
    history: Any, where: str, left_out: dict[str, str], step_columns: dict[str, str]
) -> dict[str, Series]:
    """Named series of a W&B history (grouped series or logged rows).

    A series holds the points logged: a ``null`` (or a row without the key) is left out, a
    ``NaN`` is kept, a logged bad value. A series that cannot be placed goes to ``left_out``
    (name -> why); ``step_columns`` receives the step column of each series.
    """
    series: dict[str, Series] = {}
    for group, table in _groups(history, where).items():
        if not isinstance(table, dict):
            continue
        prefix = f"{group}." if group else ""
        step_col = _step_column(table)
        steps, why = _floats(table[step_col]) if step_col is not None else (None, "")
        if steps is None:
            why = f"{prefix}{step_col} {why}" if step_col else f"group {group!r} logs no step"
            left_out.update({str(c): why for c in table if c != step_col})
            continue
        placed = np.array([v is not None for v in table[step_col]], dtype=bool)
        check_steps(
            steps[placed], where, f"{prefix}{step_col}", np.flatnonzero(placed) + 1, "point"
        )
        for column, values in table.items():
            if column == step_col:
                continue
            numbers, why = _floats(values)
            if numbers is None:
                left_out[column] = f"{prefix}{column} {why}"
                continue
            logged = np.array([v is not None for v in values], dtype=bool)
            if not logged.any():
                continue
            if numbers.size != steps.size:  # exports drop some values of some series
                left_out[column] = (
                    f"{prefix}{column} has {numbers.size} values for {steps.size} steps"
                )
                continue
            keep = np.flatnonzero(logged & placed)
            name = column if column not in series else f"{group}/{column}"
            series[name] = Series(name, steps[keep], numbers[keep], keep + 1, "point")
            step_columns[name] = str(step_col)
    return series


def _loss_candidates(names: Iterable[str], loss: str | None) -> list[str]:
    """The series ``loss`` may pick from: any, for a named series; else those like a loss."""
    if loss not in (None, "auto", "val", "train"):
        return list(names)
    words = ("loss", "perplexity", "ppl")
    return [n for n in names if n.lower() in LOSS_NAMES or any(w in n.lower() for w in words)]


def _fallback(
    names: list[str], left_out: Mapping[str, str], loss: str | None, where: str
) -> str | None:
    """The series ``loss`` would have picked had it not been left out, if any."""
    skipped = [n for n in _loss_candidates(left_out, loss) if n not in names]
    if not skipped:
        return None
    try:
        preferred = choose_loss(names + skipped, loss, where)
    except ReadError:
        return None
    return preferred if preferred in skipped else None


def read_wandb_json(path: Path, options: ReadOptions) -> list[Logged]:
    """Runs of a W&B run export."""
    data = read_json(path, "valid JSON")
    exports = data if isinstance(data, list) else [data]
    if not exports or not all(isinstance(e, dict) and "history" in e for e in exports):
        raise ReadError(
            f"{path}: not a W&B run export (expected an object with config and history)"
        )
    return [
        export_run(
            path,
            path.stem if len(exports) == 1 else f"{path.stem}:{export.get('name', i + 1)}",
            export,
            options,
        )
        for i, export in enumerate(exports)
    ]


def _series_notes(
    series: Mapping[str, Series],
    left_out: Mapping[str, str],
    step_columns: Mapping[str, str],
    names: list[str],
    loss_name: str,
    options: ReadOptions,
    where: str,
) -> list[str]:
    """What choosing ``loss_name`` from ``series`` left aside: a series that cannot be placed,
    W&B's own step count, a final evaluation."""
    notes = []
    skipped = _fallback(names, left_out, options.loss, where)
    if skipped is not None:
        notes.append(
            f"{where}: {left_out[skipped]}, so it cannot be placed at steps and is left out; "
            f"fitting {loss_name!r} instead"
        )
    if step_columns.get(loss_name) == "_step":
        notes.append(
            f"{where}: the steps are W&B's '_step', its count of log calls (no iter, step or "
            "global_step is logged); they are optimizer steps only if the run logged once per step"
        )
    notes += [
        f"{where}: the final evaluation {n!r} ({series[n].values[-1]:.5g} at step "
        f"{series[n].steps[-1]:g}) is a separate measurement, not a point of the "
        f"{loss_name!r} curve"
        for n in series
        if FINAL_EVAL.fullmatch(n.lower())
        and series[n].steps.size
        and n != loss_name
        and "val" in loss_name.lower()  # a validation curve the final evaluation could extend
    ]
    return notes


def export_run(path: Path, name: str, export: dict[str, Any], options: ReadOptions) -> Logged:
    """The run of one export (from a JSON file, a run folder or the API) named ``name``."""
    where = str(path) if name == path.stem else f"{path} (run {name})"
    left_out: dict[str, str] = {}
    step_columns: dict[str, str] = {}
    series = history_series(export["history"], where, left_out, step_columns)
    config = unwrap_config(export.get("config"))
    names = _loss_candidates(series, options.loss)
    try:
        loss_name = choose_loss(names, options.loss, where)
    except ReadError as error:
        reasons = "; left out: " + "; ".join(left_out.values()) if left_out else ""
        raise ReadError(f"{error.message}{reasons}", param=error.param) from None
    notes = _series_notes(series, left_out, step_columns, names, loss_name, options, where)
    lr_name = choose_lr(list(series), where, options.columns.lr)
    schedule = schedule_from_config(config)
    if schedule is None and lr_name is None:
        raise ReadError(
            f"{where}: no LR series (train_lr, lr, ...) and no schedule in the config to "
            "rebuild it from"
        )
    loss = after_start(series[loss_name])
    lr = series[lr_name] if lr_name is not None else exact_lr(schedule, loss)  # type: ignore[arg-type]
    run = to_run(
        name,
        str(path),
        str(path),
        loss,
        lr,
        options,
        exact_schedule=schedule is not None,
        inputs=(str(path),),
    )
    if schedule is not None:
        origin = f"rebuilt from the W&B config ({describe_config(config)})"
        if lr_name is not None:
            gap = lr_mismatch(schedule, lr.steps, lr.values, horizon=schedule.horizon)
            if gap is None:
                origin += f", matches the logged {lr_name!r}"
            else:
                notes.append(f"{where}: warning: {gap}")
        run = replace(run, schedule=schedule, lr_origin=origin)
    run = with_config_size(replace(run, notes=(*run.notes, *notes)), config, export, where)
    run = with_config_tokens(run, config, where)
    return _with_parent(path, run, loss_name, config, options, schedule)


def _with_parent(
    path: Path,
    run: Run,
    series: str,
    config: Mapping[str, Any],
    options: ReadOptions,
    schedule: Any,
) -> Logged:
    """``run`` with the parent it continues: given, or found beside it from its config."""
    resume = resume_point(config)
    fork = resume[1] if resume and resume[1] else None
    if str(options.parent) == "none":
        return Logged(run, series)
    if options.parent_path is not None:
        return Logged(run, series, options.parent_path, fork, schedule)
    if resume is None or not fork:
        return Logged(run, series)
    parent = find_parent(path, resume[0])
    if parent is None or resolved(parent) == resolved(path):
        note = (
            f"{path}: a branch of {resume[0]} from step {fork}, whose export is not beside it; "
            "give its parent to add the parent's points (fitting the branch alone)"
        )
        return Logged(replace(run, notes=(*run.notes, note)), series)
    return Logged(run, series, parent, fork, schedule)


# --- panel exports -----------------------------------------------------------------


def _panel_columns(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """``{run: {metric: column}}`` of a panel export's columns after the first (bounds left out)."""
    runs: dict[str, dict[str, str]] = {}
    for column in names:
        if " - " not in column or column.endswith(PANEL_BOUNDS):
            continue
        run, metric = column.rsplit(" - ", 1)
        runs.setdefault(run.strip(), {})[metric.strip()] = column
    return runs


def is_wandb_panel(names: tuple[str, ...]) -> bool:
    """Do a table's columns make a W&B panel export (a step, then ``<run> - <metric>`` columns)?"""
    return bool(names) and _step_column(names[:1]) is not None and bool(_panel_columns(names[1:]))


def read_wandb_panel(tf: TableFile, options: ReadOptions) -> list[Logged]:
    """Runs of a W&B panel export; each needs its LR among the panel's metrics."""
    path, step_col = tf.path, tf.names[0]
    by_run = _panel_columns(tf.names[1:])
    table = tf.read([step_col, *(c for metrics in by_run.values() for c in metrics.values())])
    steps = table.numbers[step_col]
    check_steps(steps, str(path), step_col, table.rows())
    runs = []
    for run_name, metrics in by_run.items():
        series = {}
        for metric, column in metrics.items():
            kept = np.flatnonzero(~table.blank[column])  # a blank cell: nothing logged there
            series[metric] = Series(metric, steps[kept], table.numbers[column][kept], kept + 2)
        name = path.stem if len(by_run) == 1 else f"{path.stem}:{run_name}"
        where = f"{path} (run {run_name})"
        loss_name = choose_loss(_loss_candidates(series, options.loss), options.loss, where)
        lr_name = choose_lr(list(series), where, options.columns.lr)
        if lr_name is None:
            raise ReadError(
                f"{where}: the panel has no learning-rate metric (metrics: {', '.join(series)}); "
                "export a chart that plots the LR (lr, train_lr, ...) with the loss, or the "
                "run's JSON export"
            )
        run = to_run(
            name,
            str(path),
            str(path),
            after_start(series[loss_name]),
            series[lr_name],
            options,
            inputs=(str(path),),
        )
        if not runs and table.notes:
            run = replace(run, notes=(*table.notes, *run.notes))
        runs.append(Logged(run, loss_name, options.parent_path))
    return runs
