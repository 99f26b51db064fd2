"""What counts as a number in a value a file, a config or a caller gives."""

from __future__ import annotations

import numbers
from typing import Any


def is_number(value: Any) -> bool:
    """An int or a float (numpy's too), not a bool: JSON's ``true`` and Python's ``True`` are
    ints to ``isinstance`` but no count of anything; a string of digits is no number either."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
