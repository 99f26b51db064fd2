"""TensorBoard event logs (``events.out.tfevents.*``), through the optional extra
``pip install 'lrcurve[tensorboard]'`` (TensorBoard's own ``EventAccumulator``).

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

from lrcurve.errors import InputError
from lrcurve.logs import ReadOptions, choose_loss, choose_lr, run_from_series
from lrcurve.runs import Run

EXTRA = "pip install 'lrcurve[tensorboard]'"
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
        raise InputError(f"reading TensorBoard logs needs the tensorboard extra: {EXTRA}") from None
    return event_accumulator


def _scalars(source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every scalar tag of an event file or folder as ``(steps, values)``."""
    ea = _accumulator()
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(str(source), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
    try:
        acc.Reload()
    except Exception as error:  # damaged files raise protobuf and I/O errors of many kinds
        raise InputError(
            f"{source}: cannot read the TensorBoard events: {type(error).__name__}: {error}"
        ) from None
    tags = acc.Tags()
    if getattr(acc, "file_version", None) is None and not any(
        v for v in tags.values() if isinstance(v, list)
    ):
        what = "its event files hold" if source.is_dir() else "it holds"
        raise InputError(
            f"{source}: not a readable TensorBoard event log: {what} no event TensorBoard can read "
            "(empty, damaged or another format)"
        )
    series = {}
    for tag in tags.get(ea.SCALARS, []):
        events = acc.Scalars(tag)
        series[tag] = (
            np.array([e.step for e in events], dtype=np.float64),
            np.array([e.value for e in events], dtype=np.float64),
        )
    for tag in tags.get(ea.TENSORS, []):
        events = acc.Tensors(tag)
        values = [tensor_util.make_ndarray(e.tensor_proto) for e in events]
        if (
            tag not in series
            and values
            and all(v.size == 1 and v.dtype.kind in "fiu" for v in values)
        ):
            series[tag] = (
                np.array([e.step for e in events], dtype=np.float64),
                np.array([float(v.reshape(())) for v in values], dtype=np.float64),
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


def read_tensorboard(path: Path, loss: str | None, options: ReadOptions) -> list[tuple[Run, str]]:
    """Runs of a TensorBoard log, each with the name of its loss tag."""
    runs = []
    for name, source in _run_sources(path):
        series = _scalars(source)
        where = f"{source}"
        tags = list(series)
        loss_tag = choose_loss(
            tags
            if loss not in (None, "auto", "val", "train")
            else [
                t
                for t in tags
                if "loss" in t.lower() or "ppl" in t.lower() or "perplexity" in t.lower()
            ],
            loss,
            where,
        )
        lr_tag = choose_lr(tags)
        if lr_tag is None:
            raise InputError(
                f"{where}: no learning-rate tag (tags: {', '.join(tags) or 'none'}); log the LR as lr or learning_rate"
            )
        runs.append(
            (run_from_series(name, source, series, loss_tag, lr_tag, **options.kwargs()), loss_tag)
        )
    if not runs:
        raise InputError(f"{path}: no TensorBoard event files")
    return runs
