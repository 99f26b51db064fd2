import math
from fractions import Fraction

import numpy as np
import pytest

from lrcurve.values import is_number


@pytest.mark.parametrize("value", [3, 3.5, -1, 0, math.inf, math.nan, np.float64(2.5), 10**400])
def test_ints_and_floats_are_numbers(value):
    assert is_number(value)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        np.bool_(True),
        "3",
        b"3",
        None,
        [3],
        np.int64(7),
        np.float32(1.5),
        Fraction(1, 2),
    ],
)
def test_bools_strings_containers_and_what_json_cannot_write_are_not(value):
    assert not is_number(value)
