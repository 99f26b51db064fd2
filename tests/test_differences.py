"""Differences between schedules from one fit (lrcurve.differences), on synthetic curves whose
true law is known (made with p = 0.7, fitted with p = 1, as tests/test_uncertainty.py)."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from lrcurve.differences import (
    DIFFERENCE_QUANTILES,
    DISTANCE_ERROR,
    Difference,
    difference_interval,
    joint_prediction,
)
from lrcurve.errors import ParameterError
from lrcurve.regime import peak_apart, peak_said
from lrcurve.schedules import make_schedule
from lrcurve.uncertainty import interval_factor, predictive_interval
from tests.test_uncertainty import PEAK, STEPS, WARMUP, fitted, schedule, true_loss  # noqa: F401 - the fixture

WSD = [("linear", 0.1), ("linear", 0.2), ("linear", 0.4), ("sqrt", 0.2), ("cosine", 0.3)]


def wsd(shape: str, decay: float, steps: int = STEPS):
    return schedule("wsd", steps, decay=decay, shape=shape)


def test_identical_schedules_differ_by_zero_with_zero_width(fitted):  # noqa: F811
    a = wsd("linear", 0.2)
    d = difference_interval(fitted, a, wsd("linear", 0.2))
    assert d.value == 0.0 and d.sd < 1e-12 and not d.distinguishable


def test_near_identical_schedules_differ_much_more_surely_than_either_loss(fitted):  # noqa: F811
    a, b = wsd("linear", 0.2), wsd("linear", 0.21)
    d = difference_interval(fitted, a, b)
    widths = [predictive_interval(fitted, s, np.array([STEPS])).half_width[0] for s in (a, b)]
    assert 0 < d.half_width < 0.2 * min(widths)


def test_each_loss_keeps_its_own_predictive_interval(fitted):  # noqa: F811
    schedules = [wsd(*s) for s in WSD]
    joint = joint_prediction(fitted, schedules, STEPS)
    at = np.array([STEPS])
    alone = [predictive_interval(fitted, s, at) for s in schedules]
    assert joint.sd == pytest.approx([a.sd[0] for a in alone], rel=1e-9)
    assert joint.loss == pytest.approx([a.center[0] for a in alone], rel=1e-12)


def test_the_parameter_part_is_the_joint_delta_method(fitted):  # noqa: F811
    """Without the law error and the effect and distance errors, the s.d. of a difference is
    that of the difference of the two gradients with the fit's covariance, below the sum of
    the two s.e."""
    joint = joint_prediction(fitted, [wsd("linear", 0.1), wsd("sqrt", 0.4)], STEPS)
    bare = replace(joint, discrepancy=np.zeros(2), effect_error=0.0, distance_error=0.0)
    cov = joint.param_cov
    assert bare.difference(0, 1).sd == pytest.approx(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    assert bare.difference(0, 1).sd < np.sqrt(cov[0, 0]) + np.sqrt(cov[1, 1])


def test_the_90_difference_intervals_cover_the_true_differences(fitted):  # noqa: F811
    """Every pair of WSD cooldowns at the fitted horizon and at twice it: the true difference
    (of the p = 0.7 law) lies inside the 90 % interval of the p = 1 fit's difference."""
    for steps in (STEPS, 2 * STEPS):
        schedules = [wsd(*s, steps=steps) for s in WSD]
        joint = joint_prediction(fitted, schedules, steps)
        truth = np.array([true_loss(s, np.array([steps]))[0] for s in schedules])
        for i, j in itertools.combinations(range(len(WSD)), 2):
            d = joint.difference(i, j)
            assert d.lower <= truth[i] - truth[j] <= d.upper, (steps, WSD[i], WSD[j], d)


def test_the_tie_set_holds_the_best_and_not_a_schedule_without_cooldown(fitted):  # noqa: F811
    schedules = [wsd(*s) for s in WSD] + [schedule("constant", STEPS)]
    joint = joint_prediction(fitted, schedules, STEPS)
    tied = joint.tie_set()
    assert tied[0] == int(np.argmin(joint.loss))
    assert len(WSD) not in tied  # the constant LR is clearly worse
    assert joint.difference(len(WSD), int(tied[0])).distinguishable
    wider = replace(joint, level=0.99).tie_set()
    assert set(tied) <= set(wider)  # a higher level ties at least as many


def test_difference_to_dict_and_bounds():
    """The half-width is q_diff(level) sd (the learned quantile at 90 %), Gaussian without
    quantiles."""
    d = Difference(0.01, 0.005, 0.9)
    assert dict(DIFFERENCE_QUANTILES)[0.9] < 1.0  # heavy tails: narrower than z in the middle
    assert d.lower == pytest.approx(0.01 - dict(DIFFERENCE_QUANTILES)[0.9] * 0.005)
    assert Difference(0.01, 0.005, 0.9, ()).lower == pytest.approx(0.01 - 1.6448536 * 0.005)
    assert d.to_dict()["distinguishable"] is True
    assert set(d.to_dict()) == {"value", "sd", "level", "lower", "upper", "distinguishable"}


def test_the_difference_quantiles_rise_with_the_level_and_interpolate_between():
    q = [interval_factor(level, DIFFERENCE_QUANTILES) for level in (0.5, 0.7, 0.8, 0.9, 0.95)]
    assert q == sorted(q) and len(set(q)) == len(q)
    assert q[0] == pytest.approx(dict(DIFFERENCE_QUANTILES)[0.5])


def test_each_loss_interval_is_that_of_predict(fitted):  # noqa: F811
    """A loss alone gets predict's interval at the level (its q, not the Gaussian z)."""
    schedules = [wsd(*s) for s in WSD]
    at = np.array([STEPS])
    for level in (0.5, 0.9):
        joint = joint_prediction(fitted, schedules, STEPS, level=level)
        alone = [predictive_interval(fitted, s, at, level=level) for s in schedules]
        assert joint.lower == pytest.approx([a.lower[0] for a in alone], rel=1e-9)
        assert joint.upper == pytest.approx([a.upper[0] for a in alone], rel=1e-9)


def test_law_errors_at_another_peak_lr_do_not_cancel(fitted):  # noqa: F811
    """Schedules whose peak LRs differ by over 20 % do not share the law's error: the s.d. of
    their difference holds both law errors, not only their gap."""
    base = wsd("linear", 0.2)
    other = make_schedule("wsd", steps=STEPS, peak=2 * PEAK, warmup=WARMUP, decay=0.2)
    joint = joint_prediction(fitted, [base, other], STEPS)
    law = joint.discrepancy
    assert joint.difference(1, 0).sd >= np.sqrt(law[0] ** 2 + law[1] ** 2)
    shared = replace(joint, peaks=None).difference(1, 0).sd
    assert shared < joint.difference(1, 0).sd


def test_peaks_are_apart_exactly_where_a_peak_lr_is_said():
    """``regime.peak_apart``, the predicate the joint prediction uses, is ``peak_said``'s test:
    beyond 1.2x either way, the bounds themselves inside."""
    fitted_peak = 3e-4
    for peak in (fitted_peak, fitted_peak * 1.2, fitted_peak / 1.2, 3.5e-4, 2.6e-4):
        assert not peak_apart(peak, fitted_peak) and peak_said(peak, fitted_peak) is None
    for peak in (fitted_peak * 1.2001, fitted_peak / 1.2001, 3.7e-4, 2.4e-4, 6e-4):
        assert peak_apart(peak, fitted_peak) and peak_said(peak, fitted_peak) is not None


def test_bad_level_and_no_schedules_are_refused_naming_the_parameter(fitted):  # noqa: F811
    with pytest.raises(ParameterError, match="level"):
        difference_interval(fitted, wsd("linear", 0.2), wsd("linear", 0.1), level=1.5)
    with pytest.raises(ParameterError) as caught:
        joint_prediction(fitted, [], STEPS)
    assert caught.value.param == "schedules"


def test_the_distance_term_grows_with_how_far_apart_the_schedules_are(fitted):  # noqa: F811
    """``a L D_ij``: D_ij, the mean |lr_i - lr_j| over the run (of the fitted peak), is 0 for
    the same schedule and grows with the cooldowns' gap."""
    schedules = [wsd("linear", 0.2), wsd("linear", 0.21), wsd("linear", 0.4)]
    joint = joint_prediction(fitted, schedules, STEPS)
    bare = replace(joint, distance_error=0.0)
    extra = [joint.difference(i, 0).sd ** 2 - bare.difference(i, 0).sd ** 2 for i in (1, 2)]
    distance = np.mean(np.abs(joint.profiles - joint.profiles[0]), axis=1)
    assert distance[0] == 0 and 0 < distance[1] < distance[2]
    mean_loss = (joint.loss + joint.loss[0]) / 2
    assert extra == pytest.approx(list((DISTANCE_ERROR * mean_loss * distance)[1:] ** 2))
