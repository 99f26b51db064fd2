"""The files a command reads and writes: inputs are never written, outputs are checked before
any work (an existing file needs ``--force``, a plot needs a known suffix)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lrcurve.errors import InputError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")

_inputs: set[Path] = set()


def mark_input(path: Path | str) -> None:
    """Remember that ``path`` was read: it is an input and is never written."""
    _inputs.add(Path(path).resolve())


def mark_runs(runs: Iterable[Any]) -> None:
    """Mark every file a run was read from (``Run.source`` and ``Run.inputs``)."""
    for run in runs:
        for path in (run.source, *run.inputs):
            if path:
                mark_input(path)


def _is_input(path: Path) -> bool:
    return path.resolve() in _inputs


def refuse_input(path: Path) -> None:
    if _is_input(path):
        raise InputError(
            f"{path} is one of the inputs; lrcurve never overwrites its inputs, write elsewhere"
        )


def check_writable(path: Path, force: bool) -> None:
    """Refuse early, before any work, when ``path`` may not be written."""
    refuse_input(path)
    if str(path) == "-":
        raise InputError(
            "-o -: lrcurve does not write files to stdout; give a file name (or use --json)"
        )
    if path.is_dir():
        raise InputError(f"{path} is a directory")
    if path.exists() and not path.is_file():
        raise InputError(
            f"{path} is not a regular file (a device or pipe); lrcurve writes only regular files"
        )
    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{parent}: no such directory for output {path.name}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{parent}: no permission to write {path.name} there")


def check_plot_path(path: Path, force: bool) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        hint = " after a name (e.g. curve.png)" if path.name.lower() in PLOT_SUFFIXES else ""
        raise InputError(
            f"--plot {path}: the file name must end in {', '.join(PLOT_SUFFIXES)}{hint}"
        )
    check_writable(path, force)


def check_outputs(force: bool, output: Path | None = None, plot: Path | None = None) -> None:
    """Refuse early, before any work, a ``-o`` output or ``--plot`` file that may not be
    written, or the two naming one file (the second write would replace the first)."""
    if output is not None and plot is not None and output.resolve() == plot.resolve():
        raise InputError(f"-o and --plot both name {plot}; give two different files")
    if output is not None:
        check_writable(output, force)
    if plot is not None:
        check_plot_path(plot, force)
