"""TensorBoard event logs (``events.out.tfevents.*``), through the optional extra
``pip install 'schedlaw[tensorboard]'`` (TensorBoard's own ``EventAccumulator``).

A path is an event file or a folder; every folder holding event files is one run (a
run's files are read in order, a step logged again keeps its last value). Scalars are
read whether written as ``simple_value`` (PyTorch, tensorboardX) or as scalar tensors
(TensorFlow 2). Tags are matched like CSV columns: ``val/loss``, ``eval/loss``,
``train/loss``, ``loss``, ... for the loss (``--loss``), ``lr``, ``learning_rate``,
``train/learning_rate``, ``lr-AdamW`` (PyTorch Lightning), ... for the LR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lrcurve.errors import ReadError
from lrcurve.io.files import files_below
from lrcurve.io.options import ReadOptions, choose_loss, choose_lr
from lrcurve.io.series import Logged, Series, after_start, to_run

EXTRA = "pip install 'schedlaw[tensorboard]'"
EVENT_MARK = "tfevents"


def is_event_log(path: Path) -> bool:
    """An event file, or a folder with event files in it or below it."""
    if path.is_file():
        return EVENT_MARK in path.name
    return path.is_dir() and any(p.is_file() for p in path.rglob(f"*{EVENT_MARK}*"))


def _accumulator() -> Any:
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError:
        raise ReadError(f"reading TensorBoard logs needs the tensorboard extra: {EXTRA}") from None
    return event_accumulator


def _scalars(source: Path) -> dict[str, Series]:
    """Every scalar tag of an event file or folder as ``(steps, values)``."""
    ea = _accumulator()
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(str(source), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    try:
        acc.Reload()
    except Exception as error:  # damaged files raise protobuf and I/O errors of many kinds
        raise ReadError(
            f"{source}: cannot read the TensorBoard events: {type(error).__name__}: {error}"
        ) from None
    tags = acc.Tags()
    if getattr(acc, "file_version", None) is None and not any(
        v for v in tags.values() if isinstance(v, list)
    ):
        what = "its event files hold" if source.is_dir() else "it holds"
        raise ReadError(
            f"{source}: not a readable TensorBoard event log: {what} no event TensorBoard can read "
            "(empty, damaged or another format)"
        )
    series = {}
    for tag in tags.get(ea.SCALARS, []):
        events = acc.Scalars(tag)
        series[tag] = Series(
            tag,
            np.array([e.step for e in events], dtype=np.float64),
            np.array([e.value for e in events], dtype=np.float64),
            label="point",
        )
    for tag in tags.get(ea.TENSORS, []):
        events = acc.Tensors(tag)
        values = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
        if (
            tag not in series
            and values
            and all(v.size == 1 and v.dtype.kind in "fiu" for v in values)
        ):
            series[tag] = Series(
                tag,
                np.array([e.step for e in events], dtype=np.float64),
                np.array([float(v.reshape(())) for v in values], dtype=np.float64),
                label="point",
            )
    return series


def _run_sources(path: Path) -> list[tuple[str, Path]]:
    """``(run name, file or folder)`` pairs: one per folder of event files."""
    if path.is_file():
        return [(path.parent.name or path.stem, path)]
    folders = sorted({p.parent for p in path.rglob(f"*{EVENT_MARK}*") if p.is_file()})
    return [
        (path.name if f == path else f"{path.name}:{f.relative_to(path).as_posix()}", f)
        for f in folders
    ]


def read_tensorboard(path: Path, options: ReadOptions) -> list[Logged]:
    """Runs of a TensorBoard log, each recording every file below its folder as an input."""
    runs = []
    loss = options.loss
    for name, source in _run_sources(path):
        series = _scalars(source)
        where = str(source)
        tags = list(series)
        words = ("loss", "ppl", "perplexity")
        candidates = (
            tags
            if loss not in (None, "auto", "val", "train")
            else [t for t in tags if any(w in t.lower() for w in words)]
        )
        loss_tag = choose_loss(candidates, loss, where)
        lr_tag = choose_lr(tags, where, options.columns.lr)
        if lr_tag is None:
            raise ReadError(
                f"{where}: no learning-rate tag (tags: {', '.join(tags) or 'none'}); log the LR "
                "as lr or learning_rate"
            )
        inputs = tuple(str(f) for f in files_below(source))
        run = to_run(
            name,
            where,
            where,
            after_start(series[loss_tag]),
            series[lr_tag],
            options,
            inputs=inputs,
        )
        runs.append(Logged(run, loss_tag, options.parent_path))
    if not runs:
        raise ReadError(f"{path}: no TensorBoard event files")
    return runs
