"""CSV/TSV tables, read once, in bounded chunks, into numeric columns.

The delimiter (comma, tab or semicolon) is the one the header line uses; cells are parsed
chunk by chunk (``CHUNK_CELLS`` cells), so memory holds the numbers, not the text. A blank
cell is "not logged"; ``nan``/``inf`` are logged bad values; other text in a numeric column
is refused naming its row (the header is row 1). A file too large for the memory available
is refused before it is read.

Live logs: a file still being written may end in a row cut mid-write. When the file does
not end in a newline, its last row is dropped with a note if it has fewer fields than the
header, a cell in a column read as numbers that is not a number, a step below an earlier
step, a value over 10x the largest magnitude earlier in its column (``23904,3.17e-0``:
an LR cut from ``3.17e-05``), or a non-zero value written with fewer significant digits than
every earlier value of its column (``14976,0.0003,3``: a loss cut from ``3.4066``); otherwise
it is kept (many writers omit the last newline).
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from lrcurve.errors import ReadError
from lrcurve.io.files import check_fits, open_binary, text_stream
from lrcurve.io.options import find_named, match

CHUNK_CELLS = 600_000  # the text cells parsed at a time: 200,000 rows of step, lr, loss
DELIMITERS = (",", "\t", ";")
# Peak bytes per row and column while a run is made from a table (the float64s, blank flags,
# chunk text, the schedule's points): 70 measured reading a 7.5M-row step,lr,loss log.
BYTES_PER_CELL = 80
CUT_FACTOR = 10.0  # a last value this many times beyond its column's earlier ones was cut
_NON_FINITE = {
    "nan": np.nan,
    "inf": np.inf,
    "+inf": np.inf,
    "-inf": -np.inf,
    "infinity": np.inf,
    "+infinity": np.inf,
    "-infinity": -np.inf,
}


def delimiter(header: str) -> str:
    """A table's delimiter: the one of ``DELIMITERS`` its header line uses most."""
    return max(DELIMITERS, key=header.count)


def numeric_cells(
    cells: pd.Series, column: str, where: str
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Text cells as floats, and which are blank; other text is refused naming its row (the
    cells' index counts data rows from 0, so the file row is the index + 2)."""
    values = np.array(
        pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    )
    blank = np.zeros(values.size, dtype=bool)
    odd = np.flatnonzero(np.isnan(values))  # blank, NaN, spaced or not a number: look closer
    if not odd.size:
        return values, blank
    text = cells.iloc[odd].fillna("").astype(str).str.strip()
    lowered = text.str.lower()
    empty, special = (text == "").to_numpy(), lowered.isin(_NON_FINITE.keys()).to_numpy()
    blank[odd[empty]] = True
    values[odd[special]] = lowered[special].map(_NON_FINITE).to_numpy(dtype=np.float64)
    rest = ~empty & ~special
    values[odd[rest]] = pd.to_numeric(text[rest], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    bad = rest & np.isnan(values[odd])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ReadError(
            f"{where}: column {column!r} row {cells.index[odd[i]] + 2}: {text.iloc[i]!r} is not "
            "a number"
        )
    return values, blank


@dataclass(frozen=True)
class Table:
    """The columns read from a table: numbers (NaN where blank) and text, row by row."""

    path: Path
    names: tuple[str, ...]
    numbers: dict[str, NDArray[np.float64]]
    blank: dict[str, NDArray[np.bool_]]
    text: dict[str, NDArray[np.object_]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(next(iter(self.numbers.values()))) if self.numbers else 0

    def rows(self) -> NDArray[np.int64]:
        """The file row of each table row (the header is row 1)."""
        return np.arange(self.size, dtype=np.int64) + 2


class _Tail:
    """A binary reader that remembers what follows the last newline it has passed on."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.tail = b""
        self.closed = False

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def _keep(self, data: bytes) -> bytes:
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        self.tail = data[cut + 1 :] if cut >= 0 else (self.tail + data)[-(1 << 20) :]
        return data

    def read(self, size: int = -1) -> bytes:
        return self._keep(self.handle.read(size))

    def read1(self, size: int = -1) -> bytes:
        return self._keep(self.handle.read1(size))  # type: ignore[attr-defined]

    def close(self) -> None:
        self.closed = True
        self.handle.close()

    def flush(self) -> None:
        pass


class _Columns:
    """The columns being read, chunk by chunk, and each one's largest magnitude so far."""

    def __init__(self, where: str, numeric: Sequence[str], text: Sequence[str]) -> None:
        self.where = where
        self.numbers: dict[str, list[NDArray[np.float64]]] = {c: [] for c in numeric}
        self.blank: dict[str, list[NDArray[np.bool_]]] = {c: [] for c in numeric}
        self.text: dict[str, list[NDArray[np.object_]]] = {c: [] for c in text}
        self.largest: dict[str, float | None] = dict.fromkeys(numeric)

    def add(self, chunk: pd.DataFrame) -> None:
        for column in self.numbers:
            values, blank = numeric_cells(chunk[column], column, self.where)
            self.numbers[column].append(values)
            self.blank[column].append(blank)
            finite = np.abs(values[np.isfinite(values)])
            if finite.size:
                self.largest[column] = max(self.largest[column] or 0.0, float(finite.max()))
        for column in self.text:
            self.text[column].append(chunk[column].fillna("").astype(str).str.strip().to_numpy())

    def table(self, path: Path, names: tuple[str, ...], notes: tuple[str, ...]) -> Table:
        joined = {c: np.concatenate(v) for c, v in self.numbers.items()}
        blank = {c: np.concatenate(v) for c, v in self.blank.items()}
        return Table(
            path, names, joined, blank, {c: np.concatenate(v) for c, v in self.text.items()}, notes
        )


class TableFile:
    """An open table: its header now, its columns on :meth:`read` (once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        handle, head = open_binary(path, "a CSV/TSV table")
        self._tail = _Tail(handle)
        self._size = _file_size(handle)
        try:
            self._start(head)
        except BaseException:
            self.close()
            raise

    def _start(self, head: bytes) -> None:
        """Read the header and the first chunk; refuse what is not a table."""
        path = self.path
        text = head.decode("utf-8-sig", errors="replace").lstrip()
        header = text.splitlines()[0] if text else ""
        if header.startswith(("{", "[")):
            raise ReadError(
                f"{path}: looks like JSON; lrcurve reads CSV/TSV tables with step, lr and loss "
                "columns"
            )
        self._bytes_per_row = len(head) / max(head.count(b"\n"), 1)
        self.sep = delimiter(header)
        header_names = [n.strip() for n in next(csv.reader([header], delimiter=self.sep), [])]
        reader = self._parse(
            lambda: pd.read_csv(
                text_stream(self._tail),  # type: ignore[arg-type]
                sep=self.sep,
                skipinitialspace=True,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                chunksize=max(CHUNK_CELLS // max(len(header_names), 1), 1),
            )
        )
        self._chunks = iter(reader)
        self._first: pd.DataFrame | None = self._parse(lambda: next(self._chunks, None))
        columns = [] if self._first is None else [str(c) for c in self._first.columns]
        if self._first is not None and not isinstance(self._first.index, pd.RangeIndex):
            raise ReadError(  # pandas made the extra leading fields an index
                f"{path}: the rows have more fields than the header's {len(columns)} names"
            )
        repeated = sorted({n for n in header_names if n and header_names.count(n) > 1})
        if repeated:
            raise ReadError(f"{path}: column {repeated[0]!r} appears more than once in the header")
        self.names = tuple(c.strip() for c in columns)
        if any("\n" in c or "\r" in c for c in self.names):
            raise ReadError(
                f"{path}: a column name spans several lines (an unclosed quote in the header?)"
            )
        if len(self.names) < 2:
            shown = self.names[0] if self.names else header
            raise ReadError(
                f"{path}: found a single column {shown!r}; expected step, lr and loss "
                "columns separated by commas, tabs or semicolons"
            )
        if self._first is None or self._first.empty:
            raise ReadError(f"{path}: has a header but no rows")

    def __enter__(self) -> TableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tail.close()

    def _parse(self, step: Any) -> Any:
        """``step()``, with pandas' parse errors as one line naming the file."""
        try:
            return step()
        except UnicodeDecodeError:
            raise ReadError(f"{self.path}: not UTF-8 text") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ReadError(f"{self.path}: cannot parse as a table: {reason}") from None
        except OSError as err:
            raise ReadError(f"{self.path}: cannot read: {err.strerror or err}") from None

    def read(self, numeric: Sequence[str], text: Sequence[str] = ()) -> Table:
        """The columns ``numeric`` (as numbers; the first is the step) and ``text`` of every row."""
        if self._size is not None:
            rows = self._size / self._bytes_per_row
            check_fits(self.path, rows * BYTES_PER_CELL * max(len(numeric), 1), "the table")
        columns = _Columns(str(self.path), numeric, text)
        last = None
        for chunk in self._chunks_checked():
            if last is not None:  # the row still being written, if any, is the very last
                columns.add(last)
            last = chunk
        assert last is not None  # the first chunk has rows
        notes: list[str] = []
        line = self._tail.tail.decode("utf-8", errors="replace")
        if line.strip():  # no newline at the end: the last row may be cut mid-write
            columns.add(last.iloc[:-1])
            why = self._cut(line, last.iloc[-1:], columns) or _fewer_digits(last, columns)
            if why:
                notes.append(
                    f"{self.path}: dropped the last row {line.strip()!r}: the file does not end "
                    f"in a newline and {why} (a row still being written)"
                )
            else:
                columns.add(last.iloc[-1:])
        else:
            columns.add(last)
        return columns.table(self.path, self.names, tuple(notes))

    def _chunks_checked(self) -> Any:
        """The table's chunks, each checked, the columns named as the stripped header."""
        chunk, self._first = self._first, None
        while chunk is not None:
            if not isinstance(chunk.index, pd.RangeIndex):  # extra leading fields made an index
                raise ReadError(
                    f"{self.path}: the rows have more fields than the header's "
                    f"{len(self.names)} names"
                )
            chunk.columns = list(self.names)
            yield chunk
            chunk = self._parse(lambda: next(self._chunks, None))

    def _cut(self, line: str, row: pd.DataFrame, columns: _Columns) -> str:
        """Why the last ``row`` (the text ``line``) was cut mid-write, or ``""`` if it was not."""
        fields = next(csv.reader([line], delimiter=self.sep), [])
        if len(fields) < len(self.names):
            return f"it has {len(fields)} of the header's {len(self.names)} fields"
        for i, column in enumerate(columns.numbers):
            try:
                value = numeric_cells(row[column], column, "")[0][0]
            except ReadError:
                return f"its {column!r} is not a number"
            largest = columns.largest[column]
            if not np.isfinite(value) or largest is None:
                continue
            if i == 0 and value < largest:
                return f"its step {value:g} is below an earlier step"
            if abs(value) > CUT_FACTOR * largest:
                return f"its {column!r} {value:g} is over {CUT_FACTOR:g}x any earlier value"
        return ""

    def frame(self) -> pd.DataFrame:
        """Every cell as text (for small summary tables); the index is each row's position."""
        if self._size is not None:
            check_fits(self.path, self._size * BYTES_PER_CELL, "the table")
        return pd.concat(list(self._chunks_checked()), ignore_index=True)


DIGITS_SEEN = 1000  # the earlier rows whose digits a last, unterminated row is compared with


def significant_digits(cells: pd.Series) -> pd.Series:
    """How many significant digits each number's text shows (``0.00300`` has 3)."""
    mantissa = cells.fillna("").astype(str).str.strip().str.lower().str.split("e").str[0]
    digits = mantissa.str.replace(r"[^0-9]", "", regex=True).str.lstrip("0")
    return digits.str.len()


def decimals(cells: pd.Series) -> pd.Series:
    """How many digits each number's text shows after its decimal point (-1: no point, or
    written with an exponent)."""
    text = cells.fillna("").astype(str).str.strip().str.lower()
    after = text.str.partition(".")[2]
    plain = text.str.contains(".", regex=False) & ~text.str.contains("e", regex=False)
    return after.str.len().where(plain, -1)


def _fewer_digits(last: pd.DataFrame, columns: _Columns) -> str:
    """Why the last row of ``last`` looks cut: a non-zero value of a column (the step aside)
    with fewer significant digits than every earlier row of the chunk, or a zero written with
    fewer decimals than every earlier value written with a decimal point (``0.000`` cut from
    ``0.0003``; a zero written ``0`` is an LR fallen to 0); ``""`` if none."""
    earlier = last.iloc[-DIGITS_SEEN - 1 : -1]
    if earlier.empty:
        return ""
    for column in list(columns.numbers)[1:]:
        cell = last[column].iloc[-1:]
        seen = significant_digits(earlier[column])
        seen = seen[seen > 0]
        shown = int(significant_digits(cell).iloc[0])
        if 0 < shown and not seen.empty and shown < int(seen.min()):
            return (
                f"its {column!r} {cell.iloc[0].strip()} has fewer digits than any earlier "
                f"value ({int(seen.min())} or more)"
            )
        places, before = int(decimals(cell).iloc[0]), decimals(earlier[column])
        if shown == 0 and places >= 0 and (before > places).all():
            return (
                f"its {column!r} {cell.iloc[0].strip()} is a zero with fewer decimals than any "
                f"earlier value ({int(before.min())} or more)"
            )
    return ""


def _file_size(handle: IO[bytes]) -> int | None:
    info = os.fstat(handle.fileno())
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def read_frame(path: Path) -> pd.DataFrame:
    """A small summary table (one row per sweep) with every cell as text."""
    with TableFile(path) as tf:
        return tf.frame()


def find_column(
    frame: pd.DataFrame, path: Path, names: tuple[str, ...], given: str | None
) -> str | None:
    """The column of ``frame`` that ``given`` names, or the first of ``names`` found."""
    columns = [str(c) for c in frame.columns]
    if given is not None:
        return find_named(columns, given, str(path))
    return match(columns, names, str(path))


def numeric_column(
    frame: pd.DataFrame, column: str, path: Path
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A column of a summary table as floats, and which cells are blank."""
    return numeric_cells(frame[column], column, str(path))
