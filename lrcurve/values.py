"""What counts as a number in a value a file, a config or a caller gives."""

from __future__ import annotations

from typing import Any


def is_number(value: Any) -> bool:
    """A Python int or float, not a bool: JSON's ``true`` and Python's ``True`` are ints to
    ``isinstance`` but no count of anything; a string of digits is no number either, nor a
    Fraction or a numpy scalar (a fit file could not write them)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
