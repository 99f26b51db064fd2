"""Runs and schedules from a CSV/TSV table (:mod:`lrcurve.io.table` reads it).

Columns are found by their usual names (``step|iter|_step``, ``lr|learning_rate|train_lr``,
a loss chosen as in :func:`lrcurve.io.options.choose_loss`, optional ``run``) or named in
``ReadOptions.columns``; a ``run`` column splits the table into runs. An optional ``params``
column gives each run's model size (:mod:`lrcurve.io.sizes`), an optional ``tokens_per_step``
column its tokens per step (:mod:`lrcurve.io.tokens`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lrcurve.errors import ReadError
from lrcurve.io.options import (
    LOSS_NAMES,
    LR_NAMES,
    RUN_NAMES,
    STEP_NAMES,
    ReadOptions,
    choose_loss,
    find_named,
    match,
)
from lrcurve.io.series import Series, check_steps, last_logged, lr_schedule, to_run
from lrcurve.io.sizes import PARAMS_NAMES, table_size, table_value
from lrcurve.io.table import Table, TableFile
from lrcurve.io.tokens import TOKENS_NAMES, parse_tokens
from lrcurve.runs import Run
from lrcurve.schedules import Schedule


def _column(
    names: list[str],
    given: str | None,
    candidates: tuple[str, ...],
    where: str,
    what: str,
    param: str,
) -> str:
    """The column ``given`` names, or the first of ``candidates``; a missing one is refused."""
    if given is not None:
        return find_named(names, given, where)
    found = match(names, candidates, where)
    if found is None:
        raise ReadError(
            f"{where}: no {what} column (columns: {', '.join(names)}; looked for "
            f"{', '.join(candidates[:4])}, ...); name it",
            param=param,
        )
    return found


def _loss_column(names: list[str], options: ReadOptions, where: str) -> str:
    if options.columns.loss is not None or options.loss in (None, "auto"):
        return _column(names, options.columns.loss, LOSS_NAMES, where, "loss", "loss_col")
    return choose_loss(names, options.loss, where)


def _run_column(names: list[str], options: ReadOptions, where: str) -> str | None:
    given = options.columns.run
    return find_named(names, given, where) if given else match(names, RUN_NAMES, where)


def _groups(table: Table, run_col: str | None) -> list[tuple[str, str, NDArray[np.int64]]]:
    """``(name, where, rows)`` of each run in ``table``, in the order they first appear."""
    path = table.path
    if run_col is None:
        return [(path.stem, str(path), np.arange(table.size))]
    keys = pd.Series(table.text[run_col])
    bad = (keys == "") | keys.str.contains("\n|\r", regex=True)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ReadError(
            f"{path}: column {run_col!r} row {row + 2}: run name {keys.iloc[row]!r} is blank "
            "or spans several lines"
        )
    rows_of = keys.groupby(keys, sort=False).indices
    return [(f"{path.stem}:{k}", f"{path} (run {k})", rows_of[k]) for k in pd.unique(keys)]


def table_runs(tf: TableFile, options: ReadOptions) -> list[tuple[Run, str]]:
    """The runs of a table (several when it has a run column), each with its loss column."""
    where, names, columns = str(tf.path), list(tf.names), options.columns
    step = _column(names, columns.step, STEP_NAMES, where, "step", "step_col")
    lr = _column(names, columns.lr, LR_NAMES, where, "LR", "lr_col")
    loss = _loss_column(names, options, where)
    run_col = _run_column(names, options, where)
    size_col = match(names, PARAMS_NAMES, where)
    tokens_col = match(names, TOKENS_NAMES, where)
    text = [c for c in (run_col, size_col, tokens_col) if c]
    table = tf.read([step, lr, loss], text)
    steps = table.numbers[step]
    check_steps(steps, where, step, table.rows())
    runs = []
    for i, (name, at, rows) in enumerate(_groups(table, run_col)):
        series = {}
        for column in (lr, loss):
            kept = rows[~table.blank[column][rows]]
            series[column] = Series(column, steps[kept], table.numbers[column][kept], kept + 2)
        run = to_run(name, at, where, series[loss], series[lr], options, inputs=(where,))
        if size_col:
            size = table_size(table.text[size_col][rows], rows + 2, where, size_col)
            run = replace(run, model_size=size)
        if tokens_col:
            tokens = table_value(
                table.text[tokens_col][rows],
                rows + 2,
                where,
                tokens_col,
                parse_tokens,
                "tokens per step",
            )
            run = replace(run, tokens_per_step=tokens)
        if i == 0 and table.notes:
            run = replace(run, notes=(*table.notes, *run.notes))
        runs.append((run, loss))
    return runs


def table_schedule(tf: TableFile, options: ReadOptions, notes: list[str]) -> Schedule:
    """The schedule of a table of ``step,lr`` rows (linear between rows); repairs to ``notes``."""
    where, names, columns = str(tf.path), list(tf.names), options.columns
    step, lr = (
        find_named(names, given, where) if given is not None else match(names, cands, where)
        for given, cands in ((columns.step, STEP_NAMES), (columns.lr, LR_NAMES))
    )
    if step is None or lr is None:
        raise ReadError(
            f"{where}: a schedule file needs step and lr columns (columns: {', '.join(names)})"
        )
    run_col = _run_column(names, options, where)
    table = tf.read([step, lr], [run_col] if run_col else [])
    notes.extend(table.notes)
    if run_col is not None:
        keys = pd.Series(table.text[run_col])
        one_run(tf.path, [str(k) for k in pd.unique(keys[keys != ""])], f" in column {run_col!r}")
    steps = table.numbers[step]
    check_steps(steps, where, step, table.rows())
    kept = np.flatnonzero(~table.blank[lr])
    lr_steps = step_changes_written_twice(steps[kept], table.numbers[lr][kept], where, notes)
    series = Series(lr, lr_steps, table.numbers[lr][kept], kept + 2)
    lr_steps, lr_values = last_logged(series, where, notes, 0.5)
    if lr_steps.size < 2:
        raise ReadError(
            f"{where}: a schedule file needs at least 2 rows of step and lr (found {lr_steps.size})"
        )
    schedule, origin = lr_schedule(lr_steps, lr_values, where, lr, options.warmup_steps)
    if lr_steps[0] > 1 and "unlogged warmup" not in origin:
        notes.append(
            f"{where}: the schedule starts at step {lr_steps[0]:g}; the LR before it is taken as "
            f"its first value, {lr_values[0]:g}"
        )
    return schedule


def step_changes_written_twice(
    steps: NDArray[np.float64], lr: NDArray[np.float64], where: str, notes: list[str]
) -> NDArray[np.float64]:
    """The steps of a schedule file with a step change written as two rows at one step
    (``10000,3e-4`` then ``10000,3e-5``, the usual way to write a drop) read as the old LR
    to the step before and the new one from that step (said); a log's repeated step keeps its
    last value instead (:func:`lrcurve.io.series.last_logged`)."""
    twice = np.flatnonzero((steps[1:] == steps[:-1]) & (lr[1:] != lr[:-1]))
    room = twice[(twice == 0) | (steps[twice - 1] < steps[twice] - 1)]  # a step free before
    if not room.size:
        return steps
    steps = steps.copy()
    steps[room] -= 1
    shown = ", ".join(f"{s:g}" for s in steps[room + 1][:3]) + (", ..." if room.size > 3 else "")
    changes = "a step change" if room.size == 1 else f"{room.size} step changes"
    notes.append(
        f"{where}: {changes} written as two rows at one step (step {shown}): the LR changes "
        "at that step"
    )
    return steps


def one_run(path: object, names: list[str], where: str = "") -> None:
    """Refuse a schedule source holding several runs: their LRs would be mixed into one schedule."""
    if len(names) > 1:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ReadError(
            f"{path}: holds {len(names)} runs{where} ({shown}); a schedule is read from one run: "
            "give a file (or TensorBoard folder) holding only the run you want"
        )
