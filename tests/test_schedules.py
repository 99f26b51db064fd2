import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcurve.laws.base import LRHistory
from lrcurve.schedules import (
    MAX_NESTING,
    WSD,
    WSD_SHAPES,
    Constant,
    Cosine,
    CyclicCosine,
    Join,
    MultiStep,
    Piecewise,
    Power,
    Schedule,
    Warmup,
    make_schedule,
    rewarmup,
    schedule_from_dict,
)

peaks = st.floats(1e-5, 1e-2)
horizons = st.integers(10, 200_000)
finals = st.floats(0.0, 0.5)


def test_cosine_matches_the_shared_data_schedule():
    # cosine_24000 in the multi-power-law data: warmup 2160, decay to 10 % at 24000
    s = make_schedule("cosine", steps=24000, peak=3e-4, warmup=2160, floor=0.1)
    assert s(np.array([2160]))[0] == pytest.approx(3e-4)
    assert s(np.array([24000]))[0] == pytest.approx(3e-5)
    assert s(np.array([2288]))[0] == pytest.approx(0.0002999771173709568, rel=1e-12)


def test_wsd_exponential_matches_the_shared_data_schedule():
    s = WSD(3e-4, 24000, decay=4000 / 24000, shape="exp", final=0.1)
    assert s(np.array([23904]))[0] == pytest.approx(3.170452527640976e-05, rel=1e-9)
    assert s(np.array([20000]))[0] == pytest.approx(3e-4)


@settings(max_examples=50, deadline=None)
@given(peaks, horizons, st.floats(0.0, 1.0), st.sampled_from(WSD_SHAPES), st.floats(0.01, 0.5))
def test_wsd_is_stable_then_decays_monotonically(peak, steps, decay, shape, final):
    s = WSD(peak, steps, decay=decay, shape=shape, final=final)
    lr = s.per_step(steps)
    assert np.all(lr[: s.decay_start] == pytest.approx(peak))
    assert np.all(np.diff(lr) <= 1e-15 * peak)
    assert lr.min() >= final * peak * (1 - 1e-9)
    if decay * steps >= 1:
        assert lr[-1] == pytest.approx(final * peak, rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(peaks, horizons, finals)
def test_cosine_decays_from_peak_to_floor(peak, steps, final):
    lr = Cosine(peak, steps, final=final).per_step(steps)
    assert np.all(np.diff(lr) <= 1e-15)
    assert lr[-1] == pytest.approx(final * peak, rel=1e-9, abs=1e-18)
    assert lr[0] <= peak


def test_cosine_period_shorter_than_run_holds_the_floor():
    s = Cosine(1e-3, 1000, final=0.1, period=500)
    assert np.all(s(np.arange(500, 1001)) == pytest.approx(1e-4))


def test_cyclic_cosine_restarts():
    s = CyclicCosine(1e-3, cycle=100)
    assert s(np.array([100]))[0] == pytest.approx(0.0)
    assert s(np.array([101]))[0] == pytest.approx(s(np.array([1]))[0])


def test_warmup_ramps_linearly_and_the_laws_hold_it_at_the_lr_it_reaches():
    s = Warmup(Constant(1e-3), 100)
    lr = s.per_step(200)
    assert lr[49] == pytest.approx(0.5e-3)
    assert np.all(lr[99:] == 1e-3)
    history = LRHistory.of(s, 200)
    assert np.array_equal(history.lr, lr)  # the LR as run
    assert np.all(history.held == 1e-3)  # the "peak" convention
    assert np.array_equal(history.forward_lr("actual", 200), lr)
    assert np.all(history.annealing_lr("actual", 200) == 1e-3)  # the warmup's rise is no anneal
    assert np.array_equal(history.annealing_lr("full", 200), lr)
    assert s.warmup_steps == 100


def test_multistep_changes_at_milestones():
    s = MultiStep(3e-4, (8000,), (0.3,))
    assert s(np.array([7999, 8000]))[0] == 3e-4
    assert s(np.array([8000]))[0] == pytest.approx(9e-5)


def test_join_and_rewarmup_continue_from_the_base_run():
    base = Cosine(1e-3, 1000, final=0.1)
    s = rewarmup(base, 1000, Cosine(5e-4, 500, final=0.0, start=50), 50)
    lr = s.per_step(1500)
    assert lr[999] == pytest.approx(1e-4)  # end of the base run
    assert lr[1049] == pytest.approx(5e-4)  # re-warmed to the new peak
    assert lr[-1] == pytest.approx(0.0, abs=1e-12)
    assert s.horizon == 1500
    # the laws keep the re-warmup (it is not the initial warmup)
    assert np.array_equal(LRHistory.of(s, 1500).held, lr)


def test_power_schedule_decays_as_a_power_of_tokens():
    s = Power(
        a=4.6,
        b=-0.51,
        batch=1024,
        tokens_per_step=1024 * 4096,
        peak_lr=0.02,
        steps=100_000,
        decay=0.1,
    )
    lr = s.per_step(100_000)
    assert lr[0] == pytest.approx(0.02)  # capped at the peak early on
    mid = np.array([20_000, 40_000])
    ratio = s(mid)[1] / s(mid)[0]
    assert ratio == pytest.approx(2**-0.51, rel=1e-9)
    assert lr[-1] == pytest.approx(0.01 * s(np.array([90_000]))[0], rel=1e-6)


def test_piecewise_interpolates_and_holds_ends():
    s = Piecewise((10.0, 20.0), (1.0, 3.0))
    assert list(s(np.array([1, 15, 30]))) == [1.0, 2.0, 3.0]


def test_piecewise_keeps_read_only_arrays_equal_hashable_and_serialisable():
    s = Piecewise(np.arange(1.0, 6.0), [5.0, 4.0, 3.0, 2.0, 1.0], warmup_steps=1)
    assert s.at_steps.dtype == np.float64 and not s.lrs.flags.writeable
    twin = schedule_from_dict(json.loads(json.dumps(s.to_dict())))
    assert twin == s and hash(twin) == hash(s)
    assert twin != Piecewise(np.arange(1.0, 6.0), [5.0, 4.0, 3.0, 2.0, 0.5], warmup_steps=1)
    assert s.peak == 5.0


schedules = st.one_of(
    st.builds(Constant, peaks, st.none() | horizons),
    st.builds(Cosine, peaks, horizons, finals, st.integers(0, 100)),
    st.builds(
        WSD,
        peaks,
        horizons,
        st.floats(0, 1),
        st.sampled_from(("linear", "sqrt", "cosine", "square")),
        finals,
    ),
    st.builds(MultiStep, peaks, st.just((100, 200)), st.just((0.5, 0.1))),
)


@settings(max_examples=60, deadline=None)
@given(schedules, st.integers(0, 50))
def test_schedules_round_trip_through_dicts_and_print(schedule, warmup):
    s = Warmup(schedule, warmup) if warmup else schedule
    again = schedule_from_dict(s.to_dict())
    assert again == s
    steps = np.arange(1, 300)
    assert np.array_equal(again(steps), s(steps))
    assert s.kind in str(s) or "warmup" in str(s)
    assert np.all(np.isfinite(s(steps))) and np.all(s(steps) >= 0)


def test_join_round_trips():
    s = Join((Constant(1e-3), Cosine(1e-3, 100)), (50,))
    assert schedule_from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="wsd", steps=0, peak=1e-3), "steps"),
        (dict(name="wsd", steps=100, peak=-1.0), "peak"),
        (dict(name="wsd", steps=100, peak=1e-3, warmup=100), "warmup"),
        (dict(name="wsd", steps=100, peak=1e-3, shape="zigzag"), "shape"),
        (dict(name="nope", steps=100, peak=1e-3), "unknown schedule"),
        (dict(name="power", steps=100, peak=1e-3), "power_a: needed by the power schedule"),
    ],
)
def test_make_schedule_rejects_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_schedule(kwargs.pop("name"), **kwargs)


class CountingConstant(Constant):
    """A constant schedule that counts its evaluations in ``calls``."""

    calls: list[int] = []

    def __call__(self, steps):
        self.calls.append(1)
        return super().__call__(steps)


def test_nested_warmups_evaluate_their_body_once():
    """Each warmup evaluated its body twice: 22 nested ones in a fit file took minutes."""
    body = CountingConstant(1e-3, 1000)
    nested: Schedule = body
    for depth in range(30):
        nested = Warmup(nested, 10 + depth, init=1e-5)
    CountingConstant.calls.clear()
    lr = nested(np.arange(1, 100))
    assert len(CountingConstant.calls) == 1
    assert lr[-1] == 1e-3 and lr[0] == pytest.approx(
        1e-5 + (1e-3 - 1e-5) / 39
    )  # the outermost ramp
    one = Warmup(Cosine(1e-3, 100), 20, init=1e-4, shape="cosine")
    steps = np.array([[1, 10], [20, 90]])
    assert np.array_equal(one(steps), np.array([one(s) for s in steps.ravel()]).reshape(2, 2))


def test_schedule_dicts_nested_too_deeply_are_refused():
    data = Constant(1e-3, 100).to_dict()
    for _ in range(MAX_NESTING):
        data = {
            "kind": "join",
            "segments": [data, {"kind": "constant", "value": 1e-4}],
            "boundaries": [5],
        }
    assert schedule_from_dict(data).peak == 1e-3
    with pytest.raises(ValueError, match="nested more than"):
        schedule_from_dict({"kind": "warmup", "body": data, "steps": 3})


@pytest.mark.parametrize(
    "build",
    [
        lambda v: Warmup(Constant(1e-3), v),
        lambda v: WSD(1e-3, v),
        lambda v: Cosine(1e-3, v),
        lambda v: Cosine(1e-3, 100, period=v),
        lambda v: CyclicCosine(1e-3, v),
        lambda v: Constant(1e-3, v),
        lambda v: MultiStep(1e-3, (), (), v),
        lambda v: Power(1.0, -0.5, 1.0, 1.0, 1e-3, v),
        lambda v: Join((Constant(1e-3), Constant(1e-4)), (v,)),
    ],
)
@pytest.mark.parametrize("value", [-1, -1.0, 2.5, float("nan"), float("inf"), True, "10", [10]])
def test_step_counts_are_whole_numbers(build, value):
    """A fit file with a warmup of -1 steps made `optimize` fail inside (internal error); a count
    is checked when built."""
    with pytest.raises(ValueError, match="whole number of steps"):
        build(value)


def test_whole_float_counts_from_json_are_accepted():
    assert Warmup(WSD(1e-3, 100.0), 10.0)(np.array([5, 50]))[1] == 1e-3


def test_power_schedule_decaying_over_every_step_starts_from_step_one():
    """With decay=1 the decay started at step 0, where n^b with b < 0 divided by zero
    (ZeroDivisionError)."""
    schedule = Power(4.6, -0.51, 256.0, 1e6, 0.02, 1000, decay=1.0, shape="linear", final=0.0)
    lr = schedule(np.array([1, 500, 1000]))
    start = min(0.02, 256.0 * 4.6 * 1e6**-0.51)
    assert lr.tolist() == pytest.approx([start * 999 / 1000, start * 500 / 1000, 0.0])
    with np.errstate(
        over="ignore"
    ):  # an exponent far beyond any fit: the LR is capped at the peak, not an error
        assert np.all(Power(4.6, 50.0, 256.0, 1e6, 0.02, 1000)(np.array([1, 999])) <= 0.02)


def test_make_schedule_decay_defaults_per_family():
    """The power family decayed over the last 20 % (WSD's default) through make_schedule, 10 %
    through Power."""
    power = make_schedule(
        "power", steps=1000, peak=1e-3, power_a=4.6, power_b=-0.5, batch=8.0, tokens_per_step=1e4
    )
    assert power.decay == Power(4.6, -0.5, 8.0, 1e4, 1e-3, 1000).decay == 0.1
    assert make_schedule("wsd", steps=1000, peak=1e-3).decay == WSD(1e-3, 1000).decay == 0.2
    assert make_schedule("wsd", steps=1000, peak=1e-3, decay=0.5).decay == 0.5


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: make_schedule("cosine", steps=10, peak=1e-3, floor=2),
            "final LR fraction must be in \\[0, 1\\], got 2",
        ),
        (lambda: WSD(1e-3, 100, final=float("nan")), "final LR fraction .* nan"),
        (lambda: MultiStep(1e-3, (10,), (-0.5,), 100), "factors .* -0.5"),
        (lambda: MultiStep(1e-3, (10,), (float("nan"),), 100), "factors .* nan"),
        (lambda: MultiStep(1e-3, (10,), (float("inf"),), 100), "factors .* inf"),
        (lambda: MultiStep(1e-3, (0.5,), (0.1,), 100), "milestone must be a whole number"),
        (lambda: Power(4.6, float("nan"), 8.0, 1e4, 1e-3, 100), "b must be finite, got nan"),
        (
            lambda: Power(float("inf"), -0.5, 8.0, 1e4, 1e-3, 100),
            "a must be positive and finite, got inf",
        ),
        (
            lambda: Join((Constant(1e-3), Constant(1e-4), Constant(1e-5)), (50, 20)),
            "boundaries must be increasing, got \\[50, 20\\]",
        ),
        (
            lambda: make_schedule("wsd", steps=float("nan"), peak=1e-3),
            "steps must be a whole number of steps >= 1, got nan",
        ),
        (
            lambda: make_schedule("wsd", steps=100, peak=1e-3, warmup=float("nan")),
            "warmup must be a whole number",
        ),
    ],
)
def test_constructors_refuse_values_outside_their_meaning(build, message):
    """A floor of 2 reached twice the peak .peak reported; negative or NaN factors, b=nan and
    unsorted boundaries were built."""
    with pytest.raises(ValueError, match=message):
        build()


def test_rewarmup_warms_up_to_the_body_at_the_end_of_the_warmup():
    body = Cosine(
        1e-3, 100
    )  # no warmup held at the peak: the ramp ends where the cosine is at step 20
    joined = rewarmup(Constant(1e-4, 50), 50, body, 20)
    target = body(np.array([20]))[0]
    assert target < 1e-3 and joined(np.array([60, 70]))[1] == pytest.approx(target)
    assert joined(np.array([60]))[0] == pytest.approx(1e-4 + (target - 1e-4) * 10 / 20)


def test_multistep_peak_counts_a_factor_above_one():
    assert (
        MultiStep(1e-3, (10, 20), (2.0, 0.5), 100).peak == 2e-3
        and MultiStep(1e-3, (10,), (0.1,)).peak == 1e-3
    )
    assert (
        MultiStep(1e-3, (), ()).peak == 1e-3
    )  # no milestones: a constant (predict --schedule multistep without any)


def test_a_logged_warmup_reaches_the_actual_convention_as_logged(tmp_path):
    """A warmup logged from 1e-5: the `actual` convention sums the logged LRs (before, the
    reader held them at the peak and a ramp from 0 was invented: 3e-6, 6e-6, ...)."""
    from lrcurve import read_runs
    from lrcurve.laws.momentum import MomentumLaw

    steps = np.arange(1, 3001, 10)
    lr = np.where(steps < 501, 1e-5 + (3e-4 - 1e-5) * (steps - 1) / 500, 3e-4)
    rows = "".join(f"{s},{x:.17g},{4.0 - s / 1e4}\n" for s, x in zip(steps, lr))
    (tmp_path / "run.csv").write_text("step,lr,loss\n" + rows)
    (run,) = read_runs(tmp_path / "run.csv")
    assert run.warmup_steps == 501
    history = LRHistory.of(run.schedule, 3000)
    actual = history.forward_lr("actual", 3000)
    assert actual[steps - 1] == pytest.approx(lr, rel=1e-12) and actual[0] == 1e-5
    assert np.all(history.forward_lr("peak", 3000)[:501] == 3e-4)
    prepared = MomentumLaw().prepare(history, steps)
    assert np.exp(prepared.log_s1) == pytest.approx(np.cumsum(actual)[steps - 1], rel=1e-12)


def test_an_unlogged_warmup_is_taken_as_a_linear_rise_from_zero(tmp_path):
    """A log that starts after a warmup of given length: nothing logged to keep, so the warmup
    rises linearly from 0 to the first logged LR (said in the run's LR origin)."""
    from lrcurve import read_runs

    steps = np.arange(400, 3001, 100)
    rows = "".join(f"{s},3e-4,{4.0 - s / 1e4}\n" for s in steps)
    (tmp_path / "run.csv").write_text("step,lr,loss\n" + rows)
    (run,) = read_runs(tmp_path / "run.csv", warmup_steps=300)
    assert run.warmup_steps == 300 and "rise linearly from 0" in run.lr_origin
    assert run.schedule(np.array([1, 150, 300, 350])) == pytest.approx([1e-6, 1.5e-4, 3e-4, 3e-4])
    again = schedule_from_dict(run.schedule.to_dict())
    assert again == run.schedule and again.warmup_steps == 300


def test_a_wsd_decay_that_would_start_inside_the_warmup_starts_at_its_end():
    """Review 11: a 20 % decay of 2600 steps after a 2160-step warmup never reached the peak
    (2.5e-4 of 3e-4); decay 1.0 with a warmup means 'decay from the warmup's end'."""
    short = make_schedule("wsd", steps=2600, peak=3e-4, warmup=2160, decay=0.2)
    lr = short(np.array([2160, 2161, 2600]))
    assert lr[0] == pytest.approx(3e-4) and lr[1] < 3e-4 and lr[2] == 0.0
    whole = make_schedule("wsd", steps=10000, peak=1e-3, warmup=1000, decay=1.0, shape="linear")
    assert whole(np.array([1000, 5500, 10000])).tolist() == pytest.approx([1e-3, 5e-4, 0.0])
    usual = make_schedule("wsd", steps=10000, peak=1e-3, warmup=1000, decay=0.2)
    assert usual(np.array([8000, 9000])).tolist() == pytest.approx([1e-3, 5e-4])


def test_a_power_decay_that_would_start_inside_the_warmup_starts_at_its_end():
    """Review 12: the WSD fix left the power schedule's decay starting inside its warmup (the
    LR reached 2 % of its top); it now starts at the warmup's end, as WSD's does."""
    from lrcurve.power import power_schedule

    options = dict(power_a=100.0, power_b=-0.1, batch=1.0, tokens_per_step=1e5)
    built = make_schedule("power", steps=2600, peak=3e-4, warmup=2160, decay=1.0, **options)
    direct = power_schedule(100.0, -0.1, 1.0, 1e5, 2600 * 1e5, 3e-4, warmup=2160, decay=1.0)
    for schedule in (built, direct):
        top = schedule(np.array([2160]))[0]
        assert top == pytest.approx(float(np.max(schedule(np.arange(1, 2601)))))
        assert schedule(np.array([2600]))[0] < 0.05 * top
