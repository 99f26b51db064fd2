"""Reading logged runs: every format through one path, file -> series -> checked run.

- :mod:`~lrcurve.io.files`: opening a path (one line for every failure; binary content and
  files too large for memory refused up front);
- :mod:`~lrcurve.io.table` (CSV/TSV, read in chunks into numbers) and
  :mod:`~lrcurve.io.table_runs`; :mod:`~lrcurve.io.wandb` (run exports, panel CSVs;
  :mod:`~lrcurve.io.wandb_config`: config -> exact schedule); :mod:`~lrcurve.io.tensorboard`:
  each yields named numeric series;
- :mod:`~lrcurve.io.series`: the one place series become a checked :class:`~lrcurve.runs.Run`
  (steps, duplicates, order, NaN, units via :mod:`~lrcurve.io.units`, LR -> schedule);
- :mod:`~lrcurve.io.stitch` (a branch onto its parent), :mod:`~lrcurve.io.smoothing`;
- :mod:`~lrcurve.io.labels`: each run's short label (given, from its schedule, or its name
  shortened).

Each run records the files read to make it in ``Run.inputs``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from lrcurve.errors import ParameterError, ReadError
from lrcurve.io.files import resolved, stat_path
from lrcurve.io.labels import label_runs
from lrcurve.io.options import Columns, ReadOptions
from lrcurve.io.series import Logged
from lrcurve.io.smoothing import smooth_run
from lrcurve.io.stitch import stitch
from lrcurve.io.table import TableFile
from lrcurve.io.table_runs import one_run, table_runs, table_schedule
from lrcurve.io.tensorboard import is_event_log, read_tensorboard
from lrcurve.io.wandb import is_wandb_panel, read_wandb_json, read_wandb_panel
from lrcurve.io.wandb_sources import is_api_source, read_wandb_api, read_wandb_folder, run_folders
from lrcurve.runs import Run
from lrcurve.schedules import Schedule

__all__ = ["Columns", "ReadOptions", "label_runs", "log_format", "read_runs", "read_schedule"]


def _options(options: ReadOptions | None, fields: dict[str, Any]) -> ReadOptions:
    """``options`` with ``fields`` replaced (``columns`` may be given as a :class:`Columns`)."""
    try:
        return replace(options or ReadOptions(), **fields)
    except TypeError as err:  # an unknown field name
        raise ParameterError(str(err), param="options") from None


def log_format(path: Path) -> str:
    """``wandb-api`` (``wandb:ENTITY/PROJECT/RUN_ID``), ``wandb-run`` (a W&B run folder or a
    ``wandb/`` folder of them), ``wandb-json``, ``tensorboard`` or ``table`` (CSV/TSV, W&B panel
    CSVs included)."""
    if is_api_source(path):
        return "wandb-api"
    stat_path(path)
    try:
        if run_folders(path):
            return "wandb-run"
        events = is_event_log(path)
    except OSError as err:  # a folder below it that cannot be listed
        raise ReadError(f"{path}: cannot read: {err.strerror or err}") from None
    if events:
        return "tensorboard"
    if path.suffix.lower() == ".json":
        return "wandb-json"
    return "table"


FORMAT_NAMES = {
    "wandb-api": "W&B run",
    "wandb-run": "W&B run folder",
    "tensorboard": "TensorBoard log",
    "wandb-json": "W&B export",
}


def series_options(path: Path, fmt: str, options: ReadOptions) -> ReadOptions:
    """``options`` for a log of named series (``fmt`` not a table): ``--lr-col`` and
    ``--loss-col`` name its LR and loss series; a step or run column is refused, as such a log
    has its own steps and runs."""
    columns = options.columns
    for given, param in ((columns.step, "step_col"), (columns.run, "run_col")):
        if given is not None:
            raise ParameterError(
                f"{given!r}: {path} is a {FORMAT_NAMES[fmt]}, whose steps and runs are its own "
                "(this flag names a table's column)",
                param=param,
            )
    if columns.loss is None:
        return options
    if options.loss not in (None, "auto", columns.loss):
        raise ParameterError(
            f"{columns.loss!r} and --loss {options.loss!r}: name the loss series once",
            param="loss_col",
        )
    return replace(options, loss=columns.loss)


def _read(path: Path, options: ReadOptions) -> list[Logged]:
    """The runs of ``path`` as its format reads them."""
    fmt = log_format(path)
    if fmt != "table":
        options = series_options(path, fmt, options)
    if fmt == "wandb-api":
        return read_wandb_api(str(path), options)
    if fmt == "wandb-run":
        return read_wandb_folder(path, options)
    if fmt == "tensorboard":
        return read_tensorboard(path, options)
    if fmt == "wandb-json":
        return read_wandb_json(path, options)
    with TableFile(path) as tf:
        if is_wandb_panel(tf.names):
            return read_wandb_panel(tf, options)
        return [Logged(run, series, options.parent_path) for run, series in table_runs(tf, options)]


def _stitched(logged: Logged, options: ReadOptions) -> Run:
    """``logged.run`` stitched onto its parent (read with the same loss series) at its fork,
    by default the step before the branch's first logged one."""
    branch, parent_path = logged.run, logged.parent
    assert parent_path is not None
    if branch.source and resolved(parent_path) == resolved(Path(branch.source)):
        raise ParameterError(f"{parent_path}: a run cannot be its own parent", param="parent")
    parents = read_runs(parent_path, options, columns=Columns(), smooth="none", parent="none")
    if len(parents) != 1:
        raise ParameterError(
            f"{parent_path}: holds {len(parents)} runs; the parent must be one run", param="parent"
        )
    fork = int(branch.steps[0]) - 1 if logged.fork is None else logged.fork
    return stitch(parents[0], branch, fork, logged.schedule)


def _finish(logged: Logged, options: ReadOptions) -> Run:
    """A run as read, stitched onto its parent if it has one, then smoothed."""
    run = logged.run if logged.parent is None else _stitched(logged, options)
    return smooth_run(run, options.smooth, logged.series)


def read_runs(path: str | Path, options: ReadOptions | None = None, **fields: Any) -> list[Run]:
    """The runs logged in ``path``: a CSV/TSV table (several runs with a run column), a W&B
    export or panel CSV, a W&B run folder (or a ``wandb/`` folder of them), a W&B run on the
    server (``wandb:ENTITY/PROJECT/RUN_ID``), or a TensorBoard event file or folder.

    ``fields`` override those of ``options`` (``read_runs(p, loss="train", smooth="none")``).
    Each run is labelled among the file's runs (:func:`~lrcurve.io.labels.label_runs`).
    """
    options = _options(options, fields)
    return label_runs([_finish(logged, options) for logged in _read(Path(path), options)])


def read_schedule(
    path: str | Path,
    options: ReadOptions | None = None,
    *,
    notes: list[str] | None = None,
    inputs: list[str] | None = None,
    **fields: Any,
) -> Schedule:
    """A schedule from a file of ``step,lr`` rows (linear between rows), or a run's log
    (W&B, TensorBoard); repairs go to ``notes``, the files read (a parent run's included) to
    ``inputs``. A file or folder of several runs is refused."""
    options = _options(options, fields)
    path = Path(path)
    notes = [] if notes is None else notes
    inputs = [] if inputs is None else inputs
    if log_format(path) == "table":
        with TableFile(path) as tf:
            if not is_wandb_panel(tf.names):
                inputs.append(str(path))
                return table_schedule(tf, options, notes)
            runs = [_finish(logged, options) for logged in read_wandb_panel(tf, options)]
    else:
        runs = read_runs(path, options)
    one_run(path, [run.name for run in runs])
    notes.extend(runs[0].notes)
    inputs.extend(runs[0].inputs)
    return runs[0].schedule
