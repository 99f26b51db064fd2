"""Writing results: never over an existing file without ``force``, never over an input,
always atomically (a temporary file beside the target, renamed into place).

Readers call :func:`mark_input` on every file they read; a write to one of those
files is refused even with ``force``, so nothing the user gave is ever modified.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import InputError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")

_inputs: set[Path] = set()


def mark_input(path: Path) -> None:
    """Remember that ``path`` was read: it is an input and is never written."""
    _inputs.add(path.resolve())


def _refuse_input(path: Path) -> None:
    if path.resolve() in _inputs:
        raise InputError(
            f"{path} is one of the inputs; lrcurve never overwrites its inputs, write elsewhere"
        )


def check_writable(path: Path, force: bool, flag: str = "--force") -> None:
    """Refuse early, before any work, when ``path`` may not be written."""
    _refuse_input(path)
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
        raise InputError(f"{path} exists; pass {flag} to overwrite it")
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


def _new_file_mode() -> int:
    """The permissions ``open()`` would give a new file (mkstemp makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    _refuse_input(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else _new_file_mode()
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent
        )
    except OSError as err:
        raise InputError(f"{path}: cannot write: {err.strerror or err}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as err:
        raise InputError(f"{path}: cannot write: {err.strerror or err}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_csv(
    path: Path, header: str, columns: Sequence[NDArray[Any]], formats: Sequence[str]
) -> None:
    """Write ``columns`` as CSV rows under ``header``, one ``formats`` entry per column. Rows are
    written one by one, so a curve of millions of steps never becomes one string in memory."""
    table = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    write_atomic(
        path,
        lambda tmp: np.savetxt(
            tmp, table, fmt=list(formats), delimiter=",", header=header, comments=""
        ),
    )


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=True) + "\n")
