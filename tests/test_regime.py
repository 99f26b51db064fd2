import numpy as np

from lrcurve.regime import decay_said


def test_a_decay_to_zero_is_lower_than_fitted_only_by_more_than_a_rounding():
    """A fitted run logged to 2e-6 of its peak and a target decaying to 0 saw the same end of
    the decay; a fitted lowest of 5 % of the peak did not."""
    peak = 1e-3
    lr = np.linspace(peak, 0.0, 1000)
    assert decay_said(lr, peak, 2e-6 * peak, 1.0) == []
    (said,) = decay_said(lr, peak, 0.05 * peak, 1.0)
    assert said[0] == "LR falls to 0"
