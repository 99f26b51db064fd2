"""Opening input files: one line for every way a path can fail, and memory limits.

A file is opened once and read in blocks: the first block decides binary or not (so
``/dev/zero`` is refused at once), and a file whose contents would not fit in the memory
available is refused up front rather than failing half way (``MemoryError``).
"""

from __future__ import annotations

import codecs
import io
import json
import os
import stat
from pathlib import Path
from typing import IO, Any

from lrcurve.errors import ReadError

BLOCK = 1 << 16  # the first block: enough for any header, small enough to check at once
# Python objects of a parsed JSON export take up to ~15x its size in text.
JSON_BYTES_PER_BYTE = 15


def available_memory() -> int:
    """Bytes of memory available to this process (``MemAvailable``; all RAM when unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 1 << 40


def check_fits(path: Path, needed: float, what: str) -> None:
    """Refuse ``path`` when reading it needs more than the memory available."""
    free = available_memory()
    if needed > free:
        raise ReadError(
            f"{path}: too large to read: {what} needs about {needed / 2**30:.1f} GiB of memory "
            f"and {free / 2**30:.1f} GiB are available"
        )


def resolved(path: Path) -> Path:
    """``path`` made absolute with its links followed; a link loop is refused."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as err:
        raise ReadError(f"{path}: cannot resolve the path: {err}") from None


def stat_path(path: Path) -> os.stat_result:
    """``path``'s status: a missing file, a link loop or an unreadable path is one line."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except (OSError, RuntimeError) as err:
        reason = getattr(err, "strerror", None) or err
        raise ReadError(f"{path}: cannot read: {reason}") from None


def open_binary(path: Path, what: str, check: bool = True) -> tuple[IO[bytes], bytes]:
    """``path`` opened for reading, and its first block (not consumed); unless ``check`` is
    false, content that is not text is refused (:func:`check_text`).

    ``what`` names what the file should be (``a CSV/TSV table``).
    """
    if stat.S_ISDIR(stat_path(path).st_mode):
        raise ReadError(f"{path}: is a directory, not {what}")
    try:
        handle = open(path, "rb", buffering=BLOCK)  # noqa: SIM115 - the caller closes it
        head = handle.peek(BLOCK)[:BLOCK]
    except OSError as err:
        raise ReadError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        if check:
            check_text(path, head, what)
    except ReadError:
        handle.close()
        raise
    return handle, head


def check_text(path: Path, head: bytes, what: str) -> None:
    """Refuse a first block that is UTF-16, binary, not UTF-8 or blank."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError(f"{path}: UTF-16 text; save it as UTF-8")
    if b"\x00" in head:
        raise ReadError(f"{path}: binary file, not {what}")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < BLOCK)
    except UnicodeDecodeError as err:
        raise ReadError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not head.strip():
        raise ReadError(f"{path}: file is empty")


def text_stream(handle: IO[bytes]) -> io.TextIOWrapper:
    """The UTF-8 text of an open file (a byte-order mark dropped; newlines kept as they are)."""
    return io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]


def _json_int(text: str) -> int | float:
    """A JSON integer as Python reads it, but one beyond float range as +-inf (as ``1e400`` is)."""
    return int(text) if len(text) < 300 else float(text)


def read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path``; unreadable, non-UTF-8, invalid, absurdly nested or too large
    text is refused as ``{path}: not {what} (...)`` or ``{path}: too large ...``."""
    handle, head = open_binary(path, what, check=False)
    with handle:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
            raise ReadError(f"{path}: not {what} (binary content)")
        size = os.fstat(handle.fileno()).st_size
        limit = available_memory() // JSON_BYTES_PER_BYTE
        check_fits(path, size * JSON_BYTES_PER_BYTE, "its JSON")
        try:
            raw = handle.read(limit + 1)  # a pipe or device has no size: read at most the limit
        except OSError as err:
            raise ReadError(f"{path}: cannot read: {err.strerror or err}") from None
    if len(raw) > limit:
        check_fits(path, len(raw) * JSON_BYTES_PER_BYTE, "its JSON")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReadError(f"{path}: not {what} (not UTF-8 text, byte {err.start})") from None
    try:
        return json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise ReadError(f"{path}: not {what} (nested too deeply)") from None
    except ValueError as err:
        raise ReadError(f"{path}: not {what} ({err})") from None


def files_below(path: Path) -> list[Path]:
    """``path``, and for a folder every file below it."""
    if not path.is_dir():
        return [path]
    return [path, *sorted(p for p in path.rglob("*") if p.is_file())]
