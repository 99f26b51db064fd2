"""Writing results atomically: a temporary file beside the target, moved into place only when
complete. Without ``replace`` the target is created exclusively (a hard link of the temporary
file), so a file that appeared meanwhile, e.g. from a second lrcurve, is never overwritten.

Which paths may be written (never an input, an existing file only with ``--force``) is the
command line's decision: see :mod:`lrcurve.cli.files`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lrcurve.errors import InputError, ParameterError


def _new_file_mode() -> int:
    """The permissions ``open()`` would give a new file (mkstemp makes it private)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _move_into_place(tmp: Path, path: Path, replace: bool) -> None:
    """``tmp`` becomes ``path``; without ``replace``, only if ``path`` does not exist yet."""
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and exclusive: fails if path exists
    except FileExistsError:
        raise ParameterError(
            f"{path} was created by another process while lrcurve worked; not overwritten",
            param="force",
        ) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)  # no hard links here: claim it
        os.close(fd)
        os.replace(tmp, path)


def write_atomic(path: Path, write: Callable[[Path], None], replace: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place
    (``replace=False``: refuse if ``path`` exists by then). The temporary file is removed on
    any error or stop (signals included, once the CLI turns them into exceptions)."""
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
        _move_into_place(tmp, path, replace)
    except FileExistsError:
        raise ParameterError(f"{path} exists; not overwritten", param="force") from None
    except OSError as err:
        raise InputError(f"{path}: cannot write: {err.strerror or err}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str, replace: bool = True) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text), replace)


def write_csv(
    path: Path,
    header: str,
    columns: Sequence[NDArray[Any]],
    formats: Sequence[str],
    replace: bool = True,
) -> None:
    """Write ``columns`` as CSV rows under ``header``, one ``formats`` entry per column. Rows are
    written one by one, so a curve of millions of steps never becomes one string in memory."""
    table = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])
    write_atomic(
        path,
        lambda tmp: np.savetxt(
            tmp, table, fmt=list(formats), delimiter=",", header=header, comments=""
        ),
        replace,
    )


def write_rows(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], replace: bool = True
) -> None:
    """Write a table as CSV: one header line, then ``rows`` (``None`` cells are left empty)."""
    import csv

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(["" if v is None else v for v in row] for row in rows)

    write_atomic(path, write, replace)


def write_json(path: Path, data: Any, replace: bool = True) -> None:
    write_text(path, json.dumps(data, indent=1, allow_nan=True) + "\n", replace)
