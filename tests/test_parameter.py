"""Parameter: when a fitted value is at a bound."""

import math

import pytest

from lrcurve.parameter import Parameter

INF = math.inf


@pytest.mark.parametrize(
    ("value", "lower", "upper", "at"),
    [
        (9.87e-9, 0.0, INF, True),  # the optimiser stopped at a bound of 0 (nats)
        (0.0, 0.0, 1.0, True),
        (14978.6, 0.0, INF, False),  # far from 0, however unpinned
        (1.0002e-6, 1e-6, 1e6, True),  # within 1e-6 of the scale of 1
        (0.9999, 0.99, 0.9999, True),
        (0.99989, 0.99, 0.9999, False),
        (-4.0, -12.0, -4.0, True),
        (2.37596, 0.0, INF, False),  # an infinite bound is never reached
    ],
)
def test_a_value_is_at_a_bound_within_1e_6_of_the_larger_of_them_and_1(value, lower, upper, at):
    assert Parameter("p", value, None, lower, upper).at_bound is at
