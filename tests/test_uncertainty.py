"""Predictive intervals (lrcurve.uncertainty) on synthetic curves whose true law is known."""

import json
from dataclasses import replace

import numpy as np
import pytest

from lrcurve.backtest import backtest_errors, backtest_scale, residual_rms
from lrcurve.errors import ParameterError
from lrcurve.fitted_history import NEAR_LR, history_departure
from lrcurve.fitting import fit
from lrcurve.laws import MomentumLaw
from lrcurve.laws.base import LRHistory
from lrcurve.runs import Run
from lrcurve.schedules import make_schedule
from lrcurve.uncertainty import (
    DEFAULT,
    Discrepancy,
    Extrapolation,
    discrepancy_sd,
    extrapolation,
    interval_factor,
    local_misfit,
    predictive_interval,
    with_level,
    z_value,
)

PEAK, WARMUP, STEPS = 1e-3, 200, 8000
TRUE = MomentumLaw(lr_exponent=0.7)  # the members fit p = 1 (the default law)
THETA = np.array([3.0, 0.6, 0.5, 0.45, 0.999])  # L0, A, alpha, C, lam


def schedule(name: str, steps: int, **options):
    return make_schedule(name, steps=steps, peak=PEAK, warmup=WARMUP, **options)


def true_loss(sched, steps: np.ndarray) -> np.ndarray:
    return TRUE.predict(THETA, LRHistory.of(sched, int(steps.max())), steps)


def synthetic_run(name: str, sched, noise: float, seed: int) -> Run:
    steps = np.arange(100, sched.horizon + 1, 100, dtype=np.int64)
    loss = true_loss(sched, steps) * (
        1 + noise * np.random.default_rng(seed).normal(size=steps.size)
    )
    return Run(name, steps, loss, sched)


@pytest.fixture(scope="module")
def fitted():
    runs = [
        synthetic_run("constant", schedule("constant", STEPS), 0.001, 1),
        synthetic_run("cosine", schedule("cosine", STEPS), 0.001, 2),
    ]
    return fit(runs)


@pytest.fixture(scope="module")
def scale(fitted):
    return backtest_scale(fitted)


TARGETS = [
    ("wsd", STEPS, {"decay": 0.2, "shape": "linear"}),
    ("wsd", STEPS, {"decay": 0.1, "shape": "sqrt"}),
    ("cosine", 2 * STEPS, {}),
    ("constant", 2 * STEPS, {}),
    ("wsd", 2 * STEPS, {"decay": 0.2, "shape": "linear"}),
]


@pytest.mark.parametrize(("name", "steps", "options"), TARGETS)
def test_the_90_interval_covers_a_law_with_another_exponent(fitted, scale, name, steps, options):
    """Curves made by p = 0.7, fitted with p = 1: the true final loss and the true curve after
    10 % of the run lie inside the 90 % interval."""
    sched = schedule(name, steps, **options)
    at = np.arange(steps // 10, steps + 1, 100, dtype=np.int64)
    interval = predictive_interval(fitted, sched, at, scale=scale)
    truth = true_loss(sched, at)
    assert interval.lower[-1] <= truth[-1] <= interval.upper[-1]
    assert np.mean((interval.lower <= truth) & (truth <= interval.upper)) >= 0.9


def test_the_backtest_scale_is_at_least_the_residual_rms(fitted, scale):
    assert scale >= residual_rms(fitted) > 0


def test_backtests_of_a_well_specified_law_find_almost_no_error():
    """Noise-free curves made by the fitted law itself (p = 1): the cut runs' tails are
    forecast almost exactly, whereas p = 0.7 curves give a visible backtest error."""
    errors = {}
    for p in (1.0, 0.7):
        law = MomentumLaw(lr_exponent=p)
        runs = []
        for name in ("constant", "cosine"):
            sched = schedule(name, STEPS)
            steps = np.arange(100, STEPS + 1, 100, dtype=np.int64)
            runs.append(
                Run(name, steps, law.predict(THETA, LRHistory.of(sched, STEPS), steps), sched)
            )
        errors[p] = np.max(np.abs(backtest_errors(fit(runs))))
    assert errors[1.0] < 2e-4
    assert errors[0.7] > 3 * errors[1.0]


def test_the_interval_widens_with_the_horizon(fitted, scale):
    """Relative half-width of the final loss at 1x, 2x and 4x the fitted horizon grows."""
    widths = []
    for factor in (1, 2, 4):
        interval = predictive_interval(fitted, schedule("constant", factor * STEPS), scale=scale)
        widths.append(interval.half_width[-1] / interval.center[-1])
    assert widths[0] < widths[1] < widths[2]


def test_the_horizon_exponent_drives_the_widening(fitted, scale):
    sched = schedule("constant", 4 * STEPS)
    flat = predictive_interval(fitted, sched, scale=scale, settings=Discrepancy(1.0, 0.0))
    steep = predictive_interval(fitted, sched, scale=scale, settings=Discrepancy(1.0, 1.0))
    assert steep.half_width[-1] > 1.5 * flat.half_width[-1]
    assert np.allclose(steep.half_width[:STEPS], flat.half_width[:STEPS])


def test_levels_nest_and_the_interval_contains_the_prediction(fitted, scale):
    sched = schedule("wsd", STEPS, decay=0.2, shape="linear")
    ninety = predictive_interval(fitted, sched, scale=scale)
    half = with_level(ninety, 0.5)
    assert np.all(half.lower > ninety.lower) and np.all(half.upper < ninety.upper)
    assert np.allclose(ninety.center, fitted.predict(sched).loss)
    assert np.all(ninety.lower < ninety.center) and np.all(ninety.center < ninety.upper)


def test_it_is_wider_than_the_parameter_noise(fitted, scale):
    sched = schedule("cosine", 2 * STEPS)
    interval = predictive_interval(fitted, sched, scale=scale)
    stderr = fitted.predict(sched).loss_stderr
    assert np.all(interval.sd[WARMUP:] >= stderr[WARMUP:])


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, 0.9999999999999999, 0.99999])
def test_a_level_outside_0_1_is_refused_naming_the_parameter(level):
    with pytest.raises(ParameterError) as error:
        z_value(level)
    assert error.value.param == "level"


def test_z_values():
    assert z_value(0.9) == pytest.approx(1.6449, abs=1e-4)
    assert z_value(0.5) == pytest.approx(0.6745, abs=1e-4)


def test_a_recent_steep_fall_widens_the_interval(fitted, scale):
    """A 5 % linear cooldown ends far steeper than the cosine fitted: a wider interval than an
    80 % cooldown of the same length gets."""
    short = schedule("wsd", STEPS, decay=0.05, shape="linear")
    long = schedule("wsd", STEPS, decay=0.8, shape="linear")
    at = np.array([STEPS])
    assert extrapolation(fitted, short, at).steepness[-1] > 5
    assert extrapolation(fitted, long, at).steepness[-1] == 1.0
    widths = [predictive_interval(fitted, s, at, scale=scale).half_width[-1] for s in (short, long)]
    assert widths[0] > 1.5 * widths[1]


def test_long_after_a_step_drop_the_steepness_is_back_to_1(fitted):
    """A drop to 30 % at 2000 steps is recent just after it, not by the end of the run."""
    sched = make_schedule(
        "multistep", steps=STEPS, peak=PEAK, warmup=WARMUP, milestones=[2000], factors=[0.3]
    )
    where = extrapolation(fitted, sched, np.array([2100, STEPS]))
    assert where.steepness[0] > 1.0
    assert where.steepness[1] == 1.0


def test_discrepancy_is_element_wise_over_predictions():
    """One entry per prediction (as the benchmark scores many at once)."""
    where = Extrapolation(np.array([1.0, 4.0]), np.array([1.0, np.e]), np.array([0, 1]))
    settings = Discrepancy(2.0, 0.5, 0.01, 1.0)
    d = discrepancy_sd(where, np.array([0.001, 0.002]), settings)
    assert d == pytest.approx([0.002, np.hypot(2.0 * 0.002 * 2.0 * 2.0, 0.01)])


def test_fit_keeps_the_backtest_scale_measured_warm_started(fitted, scale):
    """``fit`` measures b once (refits warm-started from the full fit) and keeps it; the same
    measurement again gives the same value."""
    assert fitted.backtest_scale == pytest.approx(scale, rel=1e-12)
    assert fit(fitted.runs, backtest=False).backtest_scale is None


def test_predict_carries_the_calibrated_interval(fitted, scale):
    """``FittedLaw.predict``'s interval is :func:`predictive_interval` at every step, at the
    level asked for; ``level=None`` leaves it out."""
    sched = schedule("wsd", 2 * STEPS, decay=0.1, shape="linear")
    prediction = fitted.predict(sched)
    at = np.arange(WARMUP + 1, 2 * STEPS + 1, dtype=np.int64)
    interval = predictive_interval(fitted, sched, at, scale=scale)
    assert prediction.level == 0.9
    assert np.allclose(prediction.lower[at - 1], interval.lower, rtol=1e-12)
    assert np.allclose(prediction.upper[at - 1], interval.upper, rtol=1e-12)
    assert prediction.final_interval == (prediction.lower[-1], prediction.upper[-1])
    eighty = fitted.predict(sched, level=0.8)
    assert eighty.upper[-1] - eighty.lower[-1] < prediction.upper[-1] - prediction.lower[-1]
    bare = fitted.predict(sched, level=None)
    assert bare.lower is None and bare.final_interval is None
    assert np.array_equal(bare.loss, prediction.loss)
    with pytest.raises(ParameterError) as error:
        fitted.predict(sched, level=1.0)
    assert error.value.param == "level"


def test_predicted_intervals_widen_with_the_horizon_and_say_why(fitted):
    widths = []
    for factor in (1, 2, 4):
        prediction = fitted.predict(schedule("constant", factor * STEPS))
        lower, upper = prediction.final_interval
        widths.append((upper - lower) / prediction.final_loss)
    assert widths[0] < widths[1] < widths[2]
    assert fitted.predict(schedule("constant", 4 * STEPS)).extrapolating == (
        "4.0x the fitted horizon",
    )


def test_a_fit_file_keeps_b_and_an_older_one_gets_it_on_load(fitted, tmp_path):
    from lrcurve.fitfile import load_fit, save_fit

    path = tmp_path / "fit.json"
    data = save_fit(fitted, path)
    assert load_fit(path).backtest_scale == fitted.backtest_scale
    data.pop("backtest_scale")
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    assert load_fit(old).backtest_scale == pytest.approx(fitted.backtest_scale, rel=1e-9)


def test_the_interval_factor_is_the_learned_quantile_and_interpolates_between():
    """q(level): the learned |error| / sd quantile at 50/80/90 %, q / z interpolated between
    and held beyond; the Gaussian quantile with no table."""
    table = ((0.5, 1.0), (0.8, 1.3), (0.9, 1.7))
    for level, q in table:
        assert interval_factor(level, table) == pytest.approx(q)
    ratio = np.interp(0.85, [0.8, 0.9], [1.3 / z_value(0.8), 1.7 / z_value(0.9)])
    assert interval_factor(0.85, table) == pytest.approx(z_value(0.85) * ratio)
    assert interval_factor(0.95, table) == pytest.approx(z_value(0.95) * 1.7 / z_value(0.9))
    assert interval_factor(0.9, ()) == pytest.approx(z_value(0.9))
    levels = np.linspace(0.05, 0.99, 40)
    assert np.all(np.diff([interval_factor(lv) for lv in levels]) > 0)


def test_the_default_interval_is_wider_than_gaussian_at_50_and_80_percent():
    """The held-out errors have more mass just beyond 1 sd than a Gaussian (80 % Gaussian
    intervals held 63 % of final losses): the learned q exceeds z there."""
    assert interval_factor(0.5) > z_value(0.5)
    assert interval_factor(0.8) > z_value(0.8)


def test_the_discrepancy_grows_with_how_far_the_lr_has_been_annealed():
    settings = Discrepancy(1.0, 0.5, 0.0, 0.0, 0.0, 0.5, 0.05)
    ones = np.ones(3)
    where = Extrapolation(ones, ones, 0, np.array([0.0, 0.25, 1.0]))
    d = discrepancy_sd(where, 0.01, settings)
    assert d == pytest.approx(0.01 * np.array([0.05, 0.25, 1.0]) ** 0.5)


def test_a_wsd_interval_is_narrow_before_its_cooldown_and_widens_through_it(fitted, scale):
    sched = schedule("wsd", STEPS, decay=0.2, shape="linear")
    at = np.array([STEPS // 2, int(0.8 * STEPS), int(0.9 * STEPS), STEPS], dtype=np.int64)
    interval = predictive_interval(fitted, sched, at, scale=scale)
    relative = interval.sd / interval.center
    assert np.all(np.diff(relative[1:]) > 0)
    assert relative[0] < 0.5 * relative[-1]


def test_the_local_misfit_is_the_mean_residual_of_the_fitted_run_at_the_nearest_lr(fitted):
    """f(t): where the law misses the fitted run that ran at the schedule's LR, a new run's
    interval there is at least that wide; logging noise averages out over the window. A run
    whose LR there is far from the schedule's does not count; one about as near may raise it."""
    window = round(0.05 * fitted.horizon)
    steps = np.array([1000, 4000, 7000], dtype=np.int64)
    histories = [LRHistory.of(run.schedule, 3 * STEPS).held for run in fitted.runs]
    for run, lr in zip(fitted.runs, histories):  # each fitted schedule is nearest to itself
        misfit = local_misfit(fitted, steps, window, lr, PEAK)
        for step, value in zip(steps, misfit):
            near = np.abs(run.steps - step) <= window / 2
            own = abs(np.mean(fitted.predict_run(run)[near] / run.loss[near] - 1))
            others = min(abs(h[step - 1] - lr[step - 1]) for h in histories if h is not lr)
            if others > 20 * NEAR_LR * PEAK:  # weighed by e^-20 at most
                assert value == pytest.approx(own)
            else:
                assert value >= own * (1 - 1e-9)
        assert np.all(misfit < 0.001)  # the synthetic runs' noise is 0.1 % a point
        beyond = local_misfit(fitted, np.array([STEPS, 3 * STEPS]), window, lr, PEAK)
        assert beyond[1] == pytest.approx(beyond[0])  # held beyond the fitted runs


def test_the_local_misfit_moves_smoothly_where_the_nearest_run_changes(fitted):
    """As a schedule's LR at a step passes from the constant run's to the cosine run's (as
    through a cooldown), f(t) goes from the one run's misfit to the other's without a jump,
    and where both are as near it is the larger."""
    window = round(0.05 * fitted.horizon)
    step = np.array([5500], dtype=np.int64)
    runs_lr = [LRHistory.of(r.schedule, STEPS).held[step[0] - 1] for r in fitted.runs]
    own = []
    for value in runs_lr:
        lr = np.full(STEPS, value)
        own.append(local_misfit(fitted, step, window, lr, PEAK)[0])
    assert abs(own[0] - own[1]) > 0  # the runs miss by different amounts there
    values = np.linspace(*runs_lr, 2001)
    misfit = np.array(
        [local_misfit(fitted, step, window, np.full(STEPS, v), PEAK)[0] for v in values]
    )
    assert np.abs(np.diff(misfit)).max() < 0.05 * abs(own[0] - own[1])  # 1 if it switched
    assert misfit[1000] == pytest.approx(max(own), rel=1e-6)


def test_the_misfit_joins_the_discrepancy_in_quadrature():
    settings = Discrepancy(1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.05)
    ones = np.ones(2)
    where = Extrapolation(ones, ones, 0, 1.0, np.array([0.0, 0.03]))
    assert discrepancy_sd(where, 0.04, settings) == pytest.approx([0.04, 0.05])


def test_the_history_departure_is_zero_where_a_fitted_run_ran_the_schedule(fitted):
    """h(t): 0 on a fitted run's own history (a WSD run before its cooldown is the constant
    run, a cosine run is the fitted one), growing through a cooldown; 1 beyond every fitted
    run's last step and for another model size."""
    steps = np.array([2000, 6000, 6400, 7000, STEPS], dtype=np.int64)
    wsd = extrapolation(fitted, schedule("wsd", STEPS, decay=0.2, shape="linear"), steps)
    assert np.all(wsd.departure[:3] == 0.0)
    assert 0.0 < wsd.departure[3] < wsd.departure[4] <= 1.0
    cosine = extrapolation(fitted, schedule("cosine", STEPS), steps)
    assert np.all(cosine.departure == 0.0)
    # beyond the last logged step it grows with the share of the history no run saw, smoothly
    # (it jumped to 1 one step past it, and the interval 5-16x with it: review 2026-11-29)
    at = np.array([STEPS, STEPS + 1, 2 * STEPS], dtype=np.int64)
    longer = extrapolation(fitted, schedule("constant", 2 * STEPS), at)
    assert longer.departure == pytest.approx([0.0, 1 / (STEPS + 1), 0.5])
    band = predictive_interval(fitted, schedule("constant", 2 * STEPS), at[:2])
    assert band.half_width[1] == pytest.approx(band.half_width[0], rel=0.05)
    lr = LRHistory.of(schedule("cosine", STEPS), STEPS).held
    assert np.all(history_departure(fitted, steps, lr, PEAK, model_size=1e9) == 0.0)  # no size
    sized = replace(fitted, runs=tuple(replace(r, model_size=1e8) for r in fitted.runs))
    assert np.all(history_departure(sized, steps, lr, PEAK, model_size=1e8) == 0.0)
    assert np.all(history_departure(sized, steps, lr, PEAK, model_size=1e9) == 1.0)
    # a size typed as displayed ("100.4M" of 1.004e8 parameters) is the fitted size
    assert np.all(history_departure(sized, steps, lr, PEAK, model_size=1.004e8) == 0.0)


def test_where_the_history_was_seen_the_interval_is_the_runs_own_misfit_and_noise(fitted, scale):
    """Before its cooldown a WSD run is the fitted constant run: its s.d. is that run's local
    misfit and a logged point's noise, without the extrapolation term or the parameters'
    noise; through the cooldown both come back."""
    sched = schedule("wsd", STEPS, decay=0.2, shape="linear")
    at = np.array([4000, 6000, STEPS], dtype=np.int64)
    interval = predictive_interval(fitted, sched, at, scale=scale)
    where = extrapolation(fitted, sched, at)
    assert where.noise == pytest.approx(0.001, rel=0.25)  # the synthetic runs' 0.1 % a point
    in_sample = np.hypot(where.misfit, DEFAULT.noise_factor * where.noise)
    assert interval.sd[:2] / interval.center[:2] == pytest.approx(in_sample[:2])
    unseen = predictive_interval(fitted, sched, at, scale=scale, settings=replace(
        DEFAULT, departure_floor=1.0))  # fmt: skip
    se = fitted.predict(sched, STEPS, level=None).loss_stderr[at - 1]
    extrapolated = DEFAULT.scale * scale * DEFAULT.anneal_floor**DEFAULT.anneal_exponent
    expected = np.hypot(se, interval.center * np.hypot(in_sample, extrapolated))
    assert unseen.sd[:2] == pytest.approx(expected[:2])
    assert np.all(unseen.sd[:2] > interval.sd[:2])
    assert interval.sd[2] == pytest.approx(unseen.sd[2])  # h = 1 at the end of the cooldown
