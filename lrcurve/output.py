"""Writing results: never over an existing file without ``force``, always atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from lrcurve.errors import InputError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_writable(path: Path, force: bool, flag: str = "--force") -> None:
    """Refuse early, before any work, when ``path`` exists and may not be replaced."""
    if path.exists() and not force:
        raise InputError(f"{path} exists; pass {flag} to overwrite it")
    if path.exists() and path.is_dir():
        raise InputError(f"{path} is a directory")
    if not path.parent.exists():
        raise InputError(f"{path.parent}: no such directory for output {path.name}")


def check_plot_path(path: Path, force: bool) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"--plot {path}: the file must end in {', '.join(PLOT_SUFFIXES)}")
    check_writable(path, force)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=True) + "\n")
