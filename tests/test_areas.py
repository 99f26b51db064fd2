import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lrcurve.areas import annealing_area, annealing_momentum, forward_area, lr_drops


def naive_areas(lr, lam):
    """The paper's recurrence, step by step."""
    s1, s2, m, total1, total2 = [], [], 0.0, 0.0, 0.0
    for i, eta in enumerate(lr):
        m = lam * m + ((lr[i - 1] - eta) if i else 0.0)
        total1 += eta
        total2 += m
        s1.append(total1)
        s2.append(total2)
    return np.array(s1), np.array(s2)


def test_constant_lr_has_no_annealing_area():
    lr = np.full(1000, 3e-4)
    assert np.allclose(forward_area(lr), 3e-4 * np.arange(1, 1001))
    assert np.all(annealing_area(lr, 0.999) == 0.0)


def test_single_drop_matches_closed_form():
    a, b, k, lam = 3e-4, 1e-4, 400, 0.99
    lr = np.where(np.arange(1, 1001) < k, a, b)
    s = np.arange(1, 1001)
    expected = np.where(s >= k, (a - b) * (1 - lam ** (s - k + 1)) / (1 - lam), 0.0)
    assert np.allclose(annealing_area(lr, lam), expected, rtol=1e-10, atol=1e-15)
    # long after the drop the area approaches (a-b)/(1-lam) per step of momentum accumulated
    assert annealing_momentum(lr, lam)[-1] < (a - b) * lam**500


def test_rising_lr_makes_annealing_area_negative():
    lr = np.concatenate([np.full(100, 1e-4), np.full(100, 3e-4)])
    assert annealing_area(lr, 0.999)[-1] < 0


def test_without_momentum_area_is_total_drop_so_far():
    lr = np.linspace(3e-4, 0, 500)
    assert np.allclose(annealing_area(lr, 0.0), lr[0] - lr)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 300), elements=st.floats(0, 1e-2, allow_nan=False)),
    st.floats(0.0, 0.9999),
)
def test_vectorised_areas_match_the_recurrence(lr, lam):
    s1, s2 = naive_areas(lr, lam)
    assert np.allclose(forward_area(lr), s1, rtol=1e-10, atol=1e-14)
    assert np.allclose(annealing_area(lr, lam), s2, rtol=1e-7, atol=1e-12)
    assert lr_drops(lr)[0] == 0.0
