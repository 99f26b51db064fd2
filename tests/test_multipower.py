import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lrcurve import fit, make_schedule
from lrcurve.areas import lr_drops
from lrcurve.laws import make_law
from lrcurve.laws.base import LRHistory
from lrcurve.laws.multipower import Knots, LossDrop, MultiPowerLaw, loss_drop_direct
from lrcurve.runs import Run
from lrcurve.schedules import rewarmup
from tests.conftest import FUZZ_SCALE

SHAPE = dict(B=400.0, C=2.0, beta=0.6, gamma=0.65)


def double_sum(lr, t, B, C, beta, gamma):
    """LD(t) written out term by term (eta index 1..t, eta_0 has no drop)."""
    total = 0.0
    for k in range(2, t + 1):
        drop = lr[k - 2] - lr[k - 1]
        area = sum(lr[k - 1 : t])
        total += drop * (1 - (C * lr[k - 1] ** -gamma * area + 1) ** -beta)
    return B * total


def test_constant_lr_has_no_loss_drop():
    lr = np.full(50, 3e-4)
    steps = np.arange(1, 51)
    assert np.all(LossDrop.of(lr, steps)(**SHAPE) == 0.0)


def test_single_drop_by_hand():
    lr = np.array([4e-4, 4e-4, 1e-4, 1e-4, 1e-4])
    B, C, beta, gamma = 100.0, 2.0, 0.5, 0.5
    steps = np.arange(1, 6)
    # the drop of 3e-4 happens at step 3; S_3(t) = 1e-4 * (t - 2)
    expected = [0, 0] + [
        B * 3e-4 * (1 - (C * (1e-4) ** -0.5 * 1e-4 * (t - 2) + 1) ** -0.5) for t in (3, 4, 5)
    ]
    assert LossDrop.of(lr, steps)(B, C, beta, gamma) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )
    assert loss_drop_direct(lr, steps, B, C, beta, gamma) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )


def test_tiny_schedule_matches_the_written_double_sum():
    lr = [5e-4, 4e-4, 4e-4, 2e-4, 3e-4, 1e-4]  # includes a rise
    steps = np.arange(1, 7)
    expected = [double_sum(lr, t, **SHAPE) for t in steps]
    assert LossDrop.of(np.array(lr), steps, tolerance=0.0)(**SHAPE) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )
    assert LossDrop.of(np.array(lr), steps)(**SHAPE) == pytest.approx(
        expected, rel=1e-12, abs=1e-15
    )


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.floats(1e-6, 1e-3), min_size=2, max_size=12),
    st.integers(0, 2**31 - 1),
    st.integers(20, 400),
)
def test_fast_evaluation_matches_the_double_sum_on_random_schedules(levels, seed, n):
    rng = np.random.default_rng(seed)
    # piecewise schedules: random levels, some held, some ramped linearly
    knots = np.sort(rng.choice(np.arange(1, n + 1), size=min(len(levels), n), replace=False))
    lr = np.interp(np.arange(1, n + 1), knots, levels[: knots.size])
    kind = rng.random()
    if kind < 0.25:
        lr = lr[np.argsort(-lr, kind="stable")]  # decaying
    elif kind < 0.5:
        lr = np.round(lr, 4) + 1e-6  # steps
    elif kind < 0.75:
        lr = rng.choice(levels, size=n)  # a jump at every step
    steps = np.unique(rng.integers(1, n + 1, size=15))
    exact = loss_drop_direct(lr, steps, **SHAPE)
    assert LossDrop.of(lr, steps, tolerance=0.0)(**SHAPE) == pytest.approx(
        exact, rel=1e-10, abs=1e-12
    )
    # block merging: second order in the tolerance, relative to B * (summed |LR changes|)
    scale = SHAPE["B"] * np.abs(np.diff(lr)).sum()
    for tolerance in (0.1, 0.2):
        error = np.max(np.abs(LossDrop.of(lr, steps, tolerance)(**SHAPE) - exact))
        assert error <= 0.02 * tolerance**2 * scale + 1e-15


def test_block_merging_error_on_a_long_cosine_is_tiny():
    lr = (
        LRHistory.of(make_schedule("cosine", steps=30000, peak=3e-4, warmup=2000, floor=0.0), 30000)
    ).held
    steps = np.arange(1, 30001, 97)
    fast = LossDrop.of(lr, steps)
    exact = loss_drop_direct(lr, steps, **SHAPE)
    assert np.max(np.abs(fast(**SHAPE) - exact)) < 3e-6
    assert fast.n_terms() < 0.02 * steps.size * 30000  # far fewer terms than the double sum


def test_requested_steps_may_be_dense_or_sparse_with_the_same_values():
    lr = make_schedule("wsd", steps=6000, peak=3e-4, decay=0.3, shape="sqrt").per_step(6000)
    dense = LossDrop.of(lr, np.arange(1, 6001))(**SHAPE)
    sparse_steps = np.array([1, 10, 4199, 4200, 4201, 5000, 6000])
    assert LossDrop.of(lr, sparse_steps)(**SHAPE) == pytest.approx(
        dense[sparse_steps - 1], abs=3e-6
    )
    assert np.all(
        np.diff(dense[4200:-1]) > 0
    )  # the loss drop grows while the LR decays (to 0 at the end)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 2**31 - 1), st.integers(200, 5000))
def test_knots_interpolate_piecewise_quadratics_exactly_and_keep_their_jumps(seed, n):
    rng = np.random.default_rng(seed)
    # an LR with a few jumps and corners: each starts a segment
    lr = np.interp(
        np.arange(1, n + 1),
        np.sort(rng.choice(np.arange(1, n + 1), 6, replace=False)),
        rng.uniform(1e-5, 1e-3, 6),
    )
    lr[rng.choice(n, 3)] *= 0.5
    knots = Knots.of(lr_drops(lr))
    assert knots.steps[0] == 1 and knots.steps[-1] == n and np.all(np.diff(knots.steps) > 0)
    starts = knots.steps[np.flatnonzero(np.diff(knots.segment, prepend=-1))]
    assert np.all(np.isin(starts[1:] - 1, knots.steps))  # the step before a segment is a knot
    steps = np.arange(1, n + 1)
    piece = np.searchsorted(starts, steps, side="right") - 1
    coef = rng.normal(size=(starts.size, 3))
    curve = (
        coef[piece, 0] + coef[piece, 1] * steps / n + coef[piece, 2] * (steps / n) ** 2 + 10 * piece
    )
    values = np.vstack([curve[knots.steps - 1], -curve[knots.steps - 1]])
    assert knots.interpolate(values, knots.interpolation(steps)) == pytest.approx(
        np.vstack([curve, -curve]), abs=1e-9
    )


def family(name, n):
    peak, warmup = 3e-4, n // 20
    return {
        "cosine": make_schedule("cosine", steps=n, peak=peak, warmup=warmup, floor=0.0),
        "wsd": make_schedule("wsd", steps=n, peak=peak, warmup=warmup, decay=0.2),
        "wsd-sqrt": make_schedule(
            "wsd", steps=n, peak=peak, warmup=warmup, decay=0.3, shape="sqrt", floor=0.1
        ),
        "multistep": make_schedule(
            "multistep",
            steps=n,
            peak=peak,
            warmup=warmup,
            milestones=[n // 2, 3 * n // 4],
            factors=[0.3, 0.1],
        ),
        "cyclic": make_schedule("cyclic", steps=n, peak=peak, warmup=warmup, cycle=n // 5),
        "rewarmup": rewarmup(
            make_schedule("cosine", steps=n // 2, peak=peak, warmup=warmup, floor=0.1),
            n // 2,
            make_schedule("cosine", steps=n // 2, peak=peak, floor=0.0),
            n // 40,
        ),
    }[name]


# 0.4-1.2 s an example (the law evaluated densely over 60k steps): 8 here (with the example,
# every schedule family), 20x as many in `make fuzz`
@settings(max_examples=8 * FUZZ_SCALE, deadline=None, derandomize=True)
@example("wsd-sqrt", "full", 0.5, 0.6, 0.65, 7)
@given(
    st.sampled_from(["cosine", "wsd", "wsd-sqrt", "multistep", "cyclic", "rewarmup"]),
    st.sampled_from(["actual", "full"]),
    st.floats(-3, 4),
    st.floats(0.05, 3.0),
    st.floats(0.0, 1.5),
    st.integers(0, 2**31 - 1),
)
def test_dense_prediction_matches_the_exact_sum(name, warmup, log_C, beta, gamma, seed):
    n = 60_000
    history = LRHistory.of(family(name, n), n)
    theta = np.array([2.9, 0.55, 0.5, 400.0, 10.0**log_C, beta, gamma])
    law = MultiPowerLaw(warmup)
    dense = law.prepare(history, np.arange(1, n + 1))
    knots = dense.loss_drop.knots
    assert knots is not None and knots.steps.size < n / 2  # the knots are what is walked
    check = np.unique(np.random.default_rng(seed).integers(1, n + 1, 25))
    lr = history.annealing_lr(warmup, n)
    exact_drop = LossDrop.of(lr, check, tolerance=0.0)(*theta[3:])
    # the interpolation alone, from exact values at the knots it reads (within two of each interval)
    interpolation = knots.interpolation(check)
    read = np.unique(
        np.clip(
            np.unique(interpolation.indices % knots.steps.size)[:, None] + np.arange(-2, 3),
            0,
            knots.steps.size - 1,
        )
    )
    at_knots = np.zeros((1, knots.steps.size))
    at_knots[0, read] = LossDrop.of(lr, knots.steps[read], tolerance=0.0)(*theta[3:])
    scale = theta[3] * np.abs(lr_drops(lr)).sum()
    assert (
        np.max(np.abs(knots.interpolate(at_knots, interpolation)[0] - exact_drop)) <= 1e-7 * scale
    )
    # with the block merging at the knots: far below fit noise
    loss = law.evaluate(theta, dense)[check - 1]
    assert np.max(np.abs(dense.loss_drop(*theta[3:])[check - 1] - exact_drop) / loss) < 1e-6


def test_dense_prediction_holds_to_the_last_step_of_a_decay_to_zero():
    """The LR reaching 0 bends LD fast in the last steps; with knots only from the segment's start
    the Hermite fill erred by 2e-5 of LD's scale there (found by an audit against a loop
    reference)."""
    n = 20_000
    history = LRHistory.of(family("wsd", n), n)
    lr = history.lr
    theta = np.array([2.9, 0.55, 0.5, 400.0, 1e6, 0.5, 0.5])
    knots = MultiPowerLaw().prepare(history, np.arange(1, n + 1)).loss_drop.knots
    check = np.arange(n - 40, n)  # the LR is 0 at step n itself: G is not defined there
    at_knots = LossDrop.of(lr, knots.steps, tolerance=0.0)(*theta[3:])[None, :]
    exact = LossDrop.of(lr, check, tolerance=0.0)(*theta[3:])
    scale = theta[3] * np.abs(lr_drops(lr)).sum()
    assert (
        np.max(np.abs(knots.interpolate(at_knots, knots.interpolation(check))[0] - exact))
        <= 1e-7 * scale
    )


def test_dense_rows_share_the_walk_and_the_interpolation():
    law = MultiPowerLaw()
    n = 40_000
    prepared = law.prepare(LRHistory.of(family("wsd", n), n), np.arange(1, n + 1))
    thetas = np.array(
        [
            [3.0, 0.5, 0.5, 400, 2.0, 0.6, 0.65],
            [2.8, 0.6, 0.4, 300, 1.0, 0.5, 0.5],
            [2.8, 0.6, 0.4, 300, 1.0, 0.5, 0.0],
        ]
    )
    both = law.evaluate_many(thetas, prepared)
    assert prepared.loss_drop.knots is not None
    for row, theta in zip(both, thetas):
        assert row == pytest.approx(law.evaluate(theta, prepared), rel=1e-14)
        assert np.all(np.isfinite(row))


def test_evaluate_many_agrees_with_evaluate():
    law = MultiPowerLaw()
    schedule = make_schedule("cosine", steps=5000, peak=3e-4, warmup=500, floor=0.1)
    prepared = law.prepare(LRHistory.of(schedule, 5000), np.arange(600, 5001, 50))
    thetas = np.array([[3.0, 0.5, 0.5, 400, 2.0, 0.6, 0.65], [2.8, 0.6, 0.4, 300, 1.0, 0.5, 0.5]])
    both = law.evaluate_many(thetas, prepared)
    for row, theta in zip(both, thetas):
        assert row == pytest.approx(law.evaluate(theta, prepared), rel=1e-14)


def test_warmup_conventions_change_only_the_warmup_area():
    schedule = make_schedule("constant", steps=4000, peak=3e-4, warmup=1000)
    theta = np.array([3.0, 0.5, 0.5, 400, 2.0, 0.6, 0.65])
    steps = np.arange(1200, 4001, 100)
    history = LRHistory.of(schedule, 4000)
    actual = MultiPowerLaw("actual").predict(theta, history, steps)
    peak = MultiPowerLaw("peak").predict(theta, history, steps)
    full = MultiPowerLaw("full").predict(theta, history, steps)
    assert np.all(actual > peak)  # less area trained counts as less progress
    assert np.all(full > actual)  # "full": the warmup's LR rises count as (negative) drops
    with pytest.raises(ValueError, match="warmup"):
        make_law("multipower", warmup="none")


TRUE = np.array([2.9, 0.55, 0.5, 380.0, 2.0, 0.6, 0.65])


def synthetic(name, schedule, steps):
    loss = MultiPowerLaw().predict(TRUE, LRHistory.of(schedule, int(steps[-1])), steps)
    return Run(name, steps, loss, schedule)


def test_fit_recovers_known_parameters_from_synthetic_curves():
    steps = np.arange(2200, 24001, 128)
    runs = [
        synthetic(
            "constant", make_schedule("constant", steps=24000, peak=3e-4, warmup=2160), steps
        ),
        synthetic(
            "cosine", make_schedule("cosine", steps=24000, peak=3e-4, warmup=2160, floor=0.1), steps
        ),
        synthetic(
            "wsd",
            make_schedule("wsd", steps=24000, peak=3e-4, warmup=2160, decay=0.2, floor=0.1),
            steps,
        ),
    ]
    fitted = fit(runs, MultiPowerLaw(), skip_fraction=0.0)
    predicted = np.concatenate([fitted.predict_run(r) for r in runs])
    assert np.max(np.abs(predicted / np.concatenate([r.loss for r in runs]) - 1)) < 1e-5
    assert fitted.values == pytest.approx(TRUE, rel=0.05)
    long = make_schedule("cosine", steps=60000, peak=3e-4, warmup=2160, floor=0.0)
    truth = MultiPowerLaw().predict(TRUE, LRHistory.of(long, 60000), np.array([60000]))
    assert fitted.predict(long).final_loss == pytest.approx(truth[0], rel=2e-4)


@pytest.mark.parametrize(
    "name, lr, steps",
    [
        (
            "cosine to 10 %, every step (knots)",
            make_schedule("cosine", steps=3000, peak=3e-4, floor=0.1)(np.arange(1, 3001)),
            np.arange(1, 3001),
        ),
        (
            "WSD to zero LR, logged rows",
            make_schedule("wsd", steps=2000, peak=3e-4, decay=0.2)(np.arange(1, 2001)),
            np.arange(100, 2001, 128),
        ),
        (
            "re-warmup",
            rewarmup(
                make_schedule("cosine", steps=1000, peak=3e-4, floor=0.1),
                1000,
                make_schedule("cosine", steps=1000, peak=2e-4),
                100,
            )(np.arange(1, 2001)),
            np.arange(50, 2001, 50),
        ),
    ],
)
@pytest.mark.parametrize(
    "theta",
    [
        (3.0, 0.5, 0.5, 400.0, 2.0, 0.6, 0.65),
        (2.5, 1.0, 0.3, 50.0, 0.01, 1.5, 0.0),
        (3.0, 0.5, 0.5, 400.0, 30.0, 0.05, 1.4),
    ],
)
def test_analytic_jacobian_matches_finite_differences(name, lr, steps, theta):
    law = MultiPowerLaw()
    prepared = law.prepare(LRHistory(np.asarray(lr, dtype=np.float64)), steps)
    theta = np.array(theta)
    analytic = law.jacobian(theta, prepared)
    for i in range(theta.size):
        h = 1e-6 * max(abs(theta[i]), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        high, low = law.evaluate(up, prepared), law.evaluate(down, prepared)
        numeric = (high - low) / (2 * h)
        roundoff = (
            64 * np.finfo(float).eps * np.abs(high).max() / h
        )  # the difference quotient's own error
        assert np.abs(analytic[:, i] - numeric).max() <= 1e-5 * np.abs(numeric).max() + roundoff, (
            name,
            law.param_names[i],
        )
    assert np.all(np.isfinite(analytic))


def test_fit_with_the_analytic_jacobian_recovers_the_parameters():
    theta = np.array([3.0, 0.5, 0.5, 400.0, 2.0, 0.6, 0.65])
    law = MultiPowerLaw()
    runs = []
    for kind in ("constant", "cosine", "wsd"):
        schedule = make_schedule(kind, steps=6000, peak=3e-4, floor=0.1, decay=0.2)
        steps = np.arange(64, 6001, 64)
        loss = law.predict(theta, LRHistory.of(schedule, 6000), steps)
        runs.append(Run(kind, steps, loss, schedule))
    fitted = fit(runs, law)
    assert fitted.values == pytest.approx(theta, rel=1e-3)


def test_analytic_jacobian_is_finite_when_the_lr_reaches_zero_and_rises_again_at_gamma_zero():
    schedule = make_schedule("cyclic", steps=3000, peak=3e-4, cycle=1000, floor=0.0)
    lr = schedule(np.arange(1, 3001))
    assert np.any(lr == 0)
    law = MultiPowerLaw()
    prepared = law.prepare(LRHistory(lr), np.arange(10, 3001, 10))
    jacobian = law.jacobian(np.array([3.0, 0.5, 0.5, 400.0, 2.0, 0.6, 0.0]), prepared)
    assert np.all(np.isfinite(jacobian))


class _WithoutJacobian(MultiPowerLaw):
    def jacobian(self, theta, prepared):
        return None


def test_prediction_band_from_the_analytic_jacobian_matches_finite_differences():
    theta = np.array([3.0, 0.5, 0.5, 400.0, 2.0, 0.6, 0.65])
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, decay=0.2)
    prepared = MultiPowerLaw().prepare(LRHistory.of(schedule, 6000), np.arange(1, 6001))
    analytic = MultiPowerLaw().derivatives(theta, prepared)
    numeric = _WithoutJacobian().derivatives(theta, prepared)
    assert analytic.shape == numeric.shape == (6000, 7)
    scale = np.abs(numeric).max(axis=0)
    assert np.all(np.abs(analytic - numeric).max(axis=0) <= 1e-4 * scale)
    # and so the standard-error band a prediction carries
    covariance = np.diag((0.01 * theta) ** 2)
    band = [np.sqrt(np.einsum("ij,jk,ik->i", d, covariance, d)) for d in (analytic, numeric)]
    assert band[0] == pytest.approx(band[1], rel=1e-3)


@pytest.mark.parametrize("name", ["cosine", "wsd", "multistep", "cyclic", "rewarmup"])
def test_blocks_merged_on_demand_give_the_stored_trees_numbers_to_the_bit(name, monkeypatch):
    """Issue 13 item 10: the change tree stores only its upper levels and merges the lower
    blocks from their changes when the walk visits them; with every level stored (the layout
    before, 160 bytes a change) LD, sparse, dense and its gradient, must not move by a bit."""
    import lrcurve.laws.change_tree as change_tree
    from lrcurve.laws.loss_drop import loss_drop_every_step

    n = 20_001  # 2,500 blocks of the 8 leaves the implicit levels merge: every path walked
    history = LRHistory.of(family(name, n), n)
    params = np.array([[0.5, 2.0, 0.6, 0.3], [1.0, 0.5, 1.0, 0.0], [0.8, 8.0, 0.3, 1.2]])
    sparse = np.unique(np.r_[np.arange(1, n + 1, 7), n])

    def values():
        out = []
        for lr in (history.held, history.lr):
            out.append(loss_drop_every_step(lr, params))
            walked = LossDrop.of(lr, sparse)
            out += [walked.many(params), walked.with_gradient(*params[2])]
        return out

    implicit = values()
    assert change_tree.IMPLICIT_LEVELS > 0
    monkeypatch.setattr(change_tree, "IMPLICIT_LEVELS", 0)
    for got, stored in zip(implicit, values()):
        assert np.array_equal(got, stored)
    assert np.any(implicit[0] != 0)


def test_beta_at_a_limit_of_g_and_gamma_at_its_cap_are_held_without_a_warning():
    """The constant and cosine sample runs fit beta at its lower bound, G's logarithmic limit
    (a decade lower, B*beta fixed, no prediction moves by 0.1 %), and gamma at GAMMA_MAX:
    both held (no standard error), no bound warning; the predictions are the fit's as before."""
    from lrcurve.io import read_runs
    from lrcurve.laws.multipower import GAMMA_MAX, LIMIT_CHANGE
    from tests.conftest import SAMPLES

    runs = [read_runs(SAMPLES / f"{n}.csv", warmup_steps=2160)[0] for n in ("constant", "cosine")]
    fitted = fit(runs, MultiPowerLaw(), backtest=False)
    value = {p.name: p for p in fitted.params}
    assert value["beta"].value == pytest.approx(1e-3)
    assert value["gamma"].value == pytest.approx(GAMMA_MAX)
    assert fitted.held == ("beta", "gamma") and not fitted.warnings
    assert value["beta"].stderr is None and value["B"].stderr is not None
    assert fitted.n_free == 5
    law, theta = MultiPowerLaw(), np.array([p.value for p in fitted.params])
    b, c, beta = law.index("B", "C", "beta")
    further = theta.copy()
    further[[beta, b]] = theta[beta] / 10, theta[b] * 10
    moved = []
    for run in runs:
        history, steps = LRHistory.of(run.schedule, run.last_step), run.steps
        ratio = law.predict(further, history, steps) / law.predict(theta, history, steps)
        moved.append(np.max(np.abs(ratio - 1)))
    assert moved[0] == 0 and 0 < moved[1] <= LIMIT_CHANGE  # the constant run has no drop


def test_beta_at_its_upper_bound_far_from_the_exponential_limit_is_not_held():
    """At beta = 3 with C*x near 1, G = 1 - (1 + C x)^-3 is far from 1 - exp(-3 C x): a
    decade further moves the loss by well over 0.1 %, so beta is at a bound, not a limit."""
    schedule = make_schedule("cosine", steps=6000, peak=3e-4, warmup=200)
    law = MultiPowerLaw()
    prepared = [law.prepare(LRHistory.of(schedule, 6000), np.arange(300, 6001, 60))]
    theta = np.array([2.9, 0.55, 0.5, 600.0, 0.05, 3.0, 0.6])
    assert law.at_limit(theta, prepared) == ()
    interior = theta.copy()
    interior[law.index("beta")] = 0.6
    assert law.at_limit(interior, prepared) == ()
    capped = interior.copy()
    capped[law.index("gamma")] = law.bounds()[1][law.index("gamma")[0]]
    assert law.at_limit(capped, prepared) == ("gamma",)
