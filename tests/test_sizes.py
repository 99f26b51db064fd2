"""Model sizes (issue 15): the size parser, the readers' size sources and refusals, the
size-aware laws on synthetic multi-size data from a known law, and predictions at a size."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrcurve.errors import ParameterError, ReadError
from lrcurve.fitted import FittedLaw
from lrcurve.fitting import fit
from lrcurve.io import read_runs
from lrcurve.io.sizes import config_size, llama_params
from lrcurve.laws import LAWS
from lrcurve.laws.base import LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.laws.momentum_size import BETA_PRIOR, MomentumSizeLaw
from lrcurve.laws.multipower_size import MultiPowerSizeLaw
from lrcurve.runs import Run
from lrcurve.schedules import make_schedule
from lrcurve.size_fit import fitted_at_size
from lrcurve.sizes import MAX_SIZE, MIN_SIZE, parse_size, size_said, split_largest_size
from lrcurve.uncertainty import extrapolation, share_residuals
from tests.conftest import data_path, size_runs

SIZES = (25e6, 100e6, 400e6)
MOMENTUM_TRUTH = np.array([1.8, 0.9, 0.45, 0.5, 0.3, 0.2, 0.25, 0.999, 1.0, 1.0, 100.0])
MULTIPOWER_TRUTH = np.array([1.8, 0.9, 0.45, 400.0, 2.0, 0.6, 0.5, 0.5, 0.3, 0.2, 1.0, 1.0, 100.0])


# --- parsing sizes ------------------------------------------------------------------------


@given(
    st.floats(0.001, 9999, allow_nan=False),
    st.sampled_from([("", 1.0), ("K", 1e3), ("m", 1e6), ("M", 1e6), ("B", 1e9), ("T", 1e12)]),
)
def test_parse_size_reads_a_number_with_a_suffix(number, suffix):
    text = f"{number:.6g}{suffix[0]}"
    value = float(f"{number:.6g}") * suffix[1]
    if value < MIN_SIZE:  # no language model: a count written without its unit
        with pytest.raises(ParameterError, match="is no language model"):
            parse_size(text)
        return
    if value > MAX_SIZE:  # beyond any model: a count gone wrong
        with pytest.raises(ParameterError, match="is beyond any model"):
            parse_size(text)
        return
    assert parse_size(text) == pytest.approx(value)


@given(st.integers(MIN_SIZE, 10**13))
def test_parse_size_reads_plain_counts_and_exponents(n):
    assert parse_size(str(n)) == n
    assert parse_size(f"{n:e}") == pytest.approx(n)


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0M",
        "-3",
        "-25M",
        "abc",
        "25Q",
        "",
        "M",
        "1.3.4B",
        "nan",
        "25",
        "9999",
        "1e-3M",
        "1e20",
    ],
)
def test_parse_size_refuses_what_is_no_parameter_count(text):
    with pytest.raises(ParameterError) as error:
        parse_size(text)
    assert error.value.param == "model_size"


@given(st.text(max_size=12))
def test_parse_size_either_reads_or_refuses_any_text(text):
    try:
        assert parse_size(text) > 0
    except ParameterError:
        pass


# --- readers ------------------------------------------------------------------------------


def _table(path, rows):
    path.write_text("step,lr,loss,run,params\n" + "\n".join(rows) + "\n")
    return path


def _rows(run, params, n=12):
    return [f"{100 * (i + 1)},0.001,{4 - 0.1 * i:.2f},{run},{params}" for i in range(n)]


def test_a_table_params_column_gives_each_run_its_size(tmp_path):
    path = _table(tmp_path / "t.csv", _rows("a", "25M") + _rows("b", "1.3e8"))
    runs = read_runs(path)
    assert [r.model_size for r in runs] == [25e6, 1.3e8]


def test_a_run_of_two_sizes_is_refused_naming_the_row(tmp_path):
    rows = _rows("a", "25M")
    rows[5] = rows[5].replace("25M", "26M")
    with pytest.raises(ReadError, match=r"column 'params' row 7: model size '26M' differs"):
        read_runs(_table(tmp_path / "t.csv", rows))


@pytest.mark.parametrize("bad", ["0", "-5M", "big"])
def test_a_params_cell_that_is_no_size_is_refused(tmp_path, bad):
    with pytest.raises(ReadError, match=r"t.csv: column 'params' row 2"):
        read_runs(_table(tmp_path / "t.csv", _rows("a", bad)))


def test_a_wandb_config_gives_the_size_from_the_architecture_and_says_so():
    path = data_path(
        "lr-scheduling",
        "data",
        "sl_slimpajama_llama_norm_nlayers10_nhead8_lr0.001_sched_wsd_warmup300_iter17500_bs50x2_"
        "ws2_seed0_data_seed1337.json",
    )
    (run,) = read_runs(path, parent="none")
    assert run.model_size == 59845120  # the count in the data set's index.csv
    assert any("architecture (llama_norm: n_layer=10" in n for n in run.notes)


@pytest.mark.parametrize(
    "change",
    [
        {"n_layer": True},  # JSON true is no layer count
        {"n_embd": True},
        {"n_layer": 10**30},  # a count beyond any model
        {"n_embd": 10**200},  # beyond float range once multiplied
        {"n_params": 1.7e308},
    ],
)
def test_a_config_size_that_is_no_count_or_beyond_any_model_gives_no_size(tmp_path, change):
    source = data_path(
        "lr-scheduling",
        "data",
        "sl_slimpajama_llama_norm_nlayers10_nhead8_lr0.001_sched_wsd_warmup300_iter17500_bs50x2_"
        "ws2_seed0_data_seed1337.json",
    )
    doc = json.loads(source.read_text())
    doc["config"].update(change)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    (run,) = read_runs(path, parent="none")
    assert run.model_size is None or run.model_size == 59845120  # the architecture's, if kept
    if "n_params" not in change:
        assert run.model_size is None


def test_a_logged_count_wins_over_the_architecture():
    config = {"n_params": 123e6, "model": "llama", "n_layer": 2, "n_embd": 8, "vocab_size": 10}
    assert config_size(config) == (123e6, "the W&B config's n_params")
    assert config_size({}, {"num_params": "25M"}) == (25e6, "the W&B summary's num_params")
    assert config_size({"model": "base", "n_layer": 2, "n_embd": 8, "vocab_size": 10}) is None
    assert llama_params(24, 1024, 50304) == 359842816  # the 360M model of lr-scheduling


# --- the laws on synthetic data -----------------------------------------------------------


def _runs(law, truth, sizes=SIZES, kinds=("constant", "cosine", "wsd")):
    return size_runs(law, truth, sizes, [(kind, 3e-4) for kind in kinds])


@pytest.fixture(scope="module")
def momentum_fit():
    return fit(_runs(MomentumSizeLaw(), MOMENTUM_TRUTH), MomentumSizeLaw(), backtest=False)


def test_the_momentum_size_law_recovers_beta_and_gamma(momentum_fit):
    assert momentum_fit.values == pytest.approx(MOMENTUM_TRUTH, rel=1e-3)
    assert momentum_fit["beta"].value == pytest.approx(0.3, rel=1e-3)
    assert momentum_fit["gamma"].value == pytest.approx(0.25, rel=1e-3)
    assert momentum_fit.sizes == SIZES and not momentum_fit.warnings


def test_the_multipower_size_law_recovers_its_size_exponents():
    law = MultiPowerSizeLaw()
    fitted = fit(_runs(law, MULTIPOWER_TRUTH), law, backtest=False)
    assert fitted.values == pytest.approx(MULTIPOWER_TRUTH, rel=1e-3)
    assert (fitted["eps"].value, fitted["zeta"].value) == pytest.approx((0.3, 0.2), rel=1e-3)


def test_at_one_size_a_size_aware_law_is_its_size_free_law():
    law, history = (
        MomentumSizeLaw(),
        LRHistory.of(make_schedule("cosine", steps=3000, peak=3e-4), 3000, 1e8),
    )
    free, theta = law.at_size(MOMENTUM_TRUTH, 1e8)
    assert isinstance(free, MomentumLaw)
    steps = np.arange(1, 3001)
    assert np.array_equal(
        law.predict(MOMENTUM_TRUTH, history, steps), free.predict(theta, history, steps)
    )
    assert np.array_equal(law.every_step(MOMENTUM_TRUTH, history), free.every_step(theta, history))
    mp = MultiPowerSizeLaw()
    free, theta = mp.at_size(MULTIPOWER_TRUTH, 1e8)
    assert mp.predict(MULTIPOWER_TRUTH, history, steps) == pytest.approx(
        free.predict(theta, history, steps), rel=1e-12
    )


def test_two_sizes_hold_beta_at_the_prior_and_one_size_is_refused():
    law = MomentumSizeLaw()
    two = fit(_runs(law, MOMENTUM_TRUTH, SIZES[:2]), law, backtest=False)
    assert two["beta"].value == BETA_PRIOR and "beta" in two.held
    assert two["beta"].stderr is None
    assert any("beta held at 0.34" in w for w in two.warnings)
    constant_only = _runs(law, MOMENTUM_TRUTH, SIZES[1:2], ("constant",))
    mixed = _runs(law, MOMENTUM_TRUTH, SIZES[:1]) + constant_only
    probe = fit(mixed, law, backtest=False)
    assert "gamma" in probe.held  # decayed runs of one size only
    assert any("gamma held at 0" in w and "a short cooldown" in w for w in probe.warnings)
    with pytest.raises(ParameterError, match="at least two model sizes") as error:
        fit(_runs(law, MOMENTUM_TRUTH, SIZES[:1]), law, backtest=False)
    assert error.value.param == "model_size"


def test_a_size_aware_law_refuses_a_run_without_its_size():
    runs = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH)
    runs[0] = replace(runs[0], model_size=None, source="runs/a.csv")
    with pytest.raises(ParameterError) as error:
        fit(runs, MomentumSizeLaw(), backtest=False)
    assert error.value.param == "model_size"
    assert "runs/a.csv: no model size; the momentum-size law" in str(error.value)


def test_no_decaying_run_holds_the_annealing_size_exponent_and_says_why():
    constant = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH, SIZES, ("constant",))
    fitted = fit(constant, MomentumSizeLaw(), backtest=False)
    assert "gamma" in fitted.held
    assert any("gamma held at 0: no run decays its LR" in w for w in fitted.warnings)
    assert not any("of one size only" in w for w in fitted.warnings)


# --- predicting at a size -----------------------------------------------------------------


def test_a_prediction_at_a_new_size_needs_the_size_and_widens_with_it(momentum_fit):
    fitted = replace(momentum_fit, backtest_scale=0.003)
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    with pytest.raises(ParameterError) as error:
        fitted.predict(schedule)
    assert error.value.param == "model_size"
    truth = MomentumSizeLaw().predict(
        MOMENTUM_TRUTH, LRHistory.of(schedule, 6000, 1.6e9), np.arange(1, 6001)
    )
    widths = {}
    for n in (400e6, 1.6e9, 16e9):
        prediction = fitted.predict(schedule, model_size=n)
        widths[n] = prediction.half_width[-1] / prediction.final_loss
    assert widths[400e6] < widths[1.6e9] < widths[16e9]
    far = fitted.predict(schedule, model_size=16e9)
    assert any("40x the largest fitted size" in w for w in far.warnings)
    near = fitted.predict(schedule, model_size=1.6e9)
    assert near.final_loss == pytest.approx(truth[-1], rel=1e-6)
    assert size_said(400e6, fitted.sizes) is None


@pytest.fixture(scope="module")
def short_at_the_largest_size():
    """Runs of 25M and 100M to 6k steps and of 400M to 3k (a constant and a WSD run)."""
    runs = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH, sizes=SIZES[:2])
    steps = np.arange(100, 3001, 60)
    for kind, extra in (("constant", {}), ("wsd", {"decay": 0.2})):
        schedule = make_schedule(kind, steps=3000, peak=3e-4, warmup=200, **extra)
        loss = MomentumSizeLaw().predict(MOMENTUM_TRUTH, LRHistory.of(schedule, 3000, 400e6), steps)
        runs.append(Run(f"short-{kind}", steps, loss, schedule, model_size=400e6))
    return replace(fit(runs, MomentumSizeLaw(), backtest=False), backtest_scale=0.003)


def test_the_horizon_seen_is_that_of_the_nearest_fitted_size(short_at_the_largest_size):
    """At 400M, or at any size nearer to it than to 100M, 6k steps are twice the horizon seen:
    they widen the interval and are said; at 25M and 100M they are not. Of two sizes as near,
    the shorter horizon counts (200M lies as far from 100M as from 400M)."""
    fitted = short_at_the_largest_size
    sizes = (25e6, 50e6, 100e6, 200e6, 400e6, 410e6, 1.6e9, None)
    assert [fitted.horizon_at(n) for n in sizes] == [6000] * 3 + [3000] * 4 + [6000]
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    big, small = (fitted.predict(schedule, model_size=n) for n in (400e6, 100e6))
    assert any("2.0x the longest fitted run" in w for w in big.warnings)
    assert not any("longest fitted run" in w for w in small.warnings)
    ratios = [extrapolation(fitted, schedule, [6000], model_size=n).horizon_ratio for n in SIZES]
    assert np.concatenate(ratios) == pytest.approx([1.0, 1.0, 2.0])
    beyond = [fitted.predict(schedule, model_size=n) for n in (400e6, 410e6, 800e6)]
    widths = [p.half_width[-1] / p.final_loss for p in beyond]
    assert widths[0] <= widths[1] <= widths[2]  # no narrower just past the largest size


def test_check_and_optimize_say_the_horizon_seen_at_the_runs_size(
    short_at_the_largest_size, tmp_path, cli
):
    from lrcurve.fitfile import save_fit

    save_fit(short_at_the_largest_size, tmp_path / "fit.json")
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    steps = np.arange(100, 6001, 60)
    loss = MomentumSizeLaw().predict(MOMENTUM_TRUTH, LRHistory.of(schedule, 6000, 400e6), steps)
    rows = [f"{s},{schedule(np.array([s]))[0]:.6g},{v:.6f}" for s, v in zip(steps, loss)]
    (tmp_path / "big.csv").write_text("step,lr,loss\n" + "\n".join(rows) + "\n")
    checked = cli(
        "check",
        "fit.json",
        "big.csv",
        "--params",
        "big.csv=400M",
        "--warmup",
        200,
        "--json",
        cwd=tmp_path,
    )
    assert checked.returncode in (0, 1), checked.stderr
    assert "2.0x the fitted horizon" in checked.stderr
    best = cli(
        "optimize",
        "fit.json",
        "--params",
        "400M",
        "--steps",
        6000,
        "--warmup",
        200,
        cwd=tmp_path,
    )
    assert best.returncode == 0, best.stderr
    assert "2.0x the fitted horizon" in best.stderr


@pytest.fixture(scope="module")
def unpinned_offset_fit():
    """Noisy runs of 33M, 60M and 360M whose loss has no constant part and a flat offset
    (``beta`` 0.09), as the lr-scheduling clock fit of docs/model-size.md: the fit leaves ``L0``
    at its bound of 0 with an s.e. far above it."""
    truth = MOMENTUM_TRUTH.copy()
    truth[[0, 3, 4]] = 0.0, 2.3, 0.09
    kinds = [("constant", 3e-4), ("wsd", 3e-4)]
    runs = size_runs(MomentumSizeLaw(), truth, (33e6, 60e6, 360e6), kinds, noise=2e-3)
    return fit(runs, MomentumSizeLaw(), backtest=False)


def test_the_curves_s_e_at_a_fitted_run_is_that_of_a_typical_point(unpinned_offset_fit):
    """The delta method's s.e. at a fitted point is ``s sqrt(h_ii)``, the leverage ``h_ii``
    averaging ``p / n``; a point above ``3 p / n`` is one of high leverage (Hoaglin & Welsch
    1978), which the median point of a run is not. With ``L0`` at its bound of 0 a finite step
    relative to the value alone gave a derivative of rounding noise and 2-5x that s.e. here
    (50-100x on the clock fit)."""
    fitted = unpinned_offset_fit
    assert fitted["L0"].value < 1e-6 < 0.1 < fitted["L0"].stderr
    n, p = fitted.n_fit_points, len(fitted.params)
    typical = np.sqrt(fitted.fit_rss / (n - p)) * np.sqrt(3 * p / n)
    for run in fitted.runs:
        prediction = fitted.predict(run.schedule, level=None, model_size=run.model_size)
        relative = prediction.loss_stderr[run.steps - 1] / prediction.loss[run.steps - 1]
        assert np.median(relative) <= typical


def test_the_interval_grows_with_every_step_beyond_the_fitted_sizes(unpinned_offset_fit):
    fitted = replace(unpinned_offset_fit, backtest_scale=0.003)
    schedule = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    largest = max(fitted.sizes)
    sizes = np.geomspace(largest * 1.01, largest * 40, 12)
    for step in (4000, 6000):  # before the decay, and the final loss
        stderr, width = [], []
        for n in sizes:
            prediction = fitted.predict(schedule, model_size=n)
            stderr.append(prediction.loss_stderr[step - 1] / prediction.loss[step - 1])
            width.append(prediction.half_width[step - 1] / prediction.loss[step - 1])
        assert np.all(np.diff(stderr) > 0), (step, stderr)
        assert np.all(np.diff(width) > 0), (step, width)


def test_a_size_free_law_predicts_its_fitted_size_whatever_the_size():
    runs = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH, SIZES[:1])
    fitted = fit(runs, MomentumLaw(), backtest=False)
    schedule = runs[1].schedule
    assert np.array_equal(
        fitted.curve(schedule, runs[1].steps), fitted.curve(schedule, runs[1].steps, model_size=4e8)
    )
    assert fitted_at_size(fitted, 25e6) is fitted
    with pytest.raises(ParameterError, match="size-free, fitted on 25M; to predict 400M"):
        fitted_at_size(fitted, 4e8)


def test_a_size_free_law_on_several_sizes_warns_and_predicts_none_of_them():
    """Fitted on runs of two sizes, a size-free law fits one blend: it says so and refuses a
    size, even a fitted one."""
    runs = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH, SIZES[:2])
    fitted = fit(runs, MomentumLaw(), backtest=False)
    (said,) = [w for w in fitted.warnings if "model sizes" in w]
    assert "2 model sizes (25M, 100M)" in said and "--law momentum-size" in said
    with pytest.raises(ParameterError, match="fitted on 25M, 100M as one model"):
        fitted_at_size(fitted, 25e6)
    one = fit(runs[:2], MomentumLaw(), backtest=False)  # one size: nothing new
    assert not any("model sizes" in w for w in one.warnings)


def test_a_size_far_below_the_fitted_ones_is_said():
    assert size_said(1e6, (25e6, 100e6))[0] == "1/25 of the smallest fitted size"
    assert size_said(5e6, (25e6, 100e6))[0] == "size 5M below the smallest fitted, 25M"
    assert size_said(60e6, (25e6, 50e6, 100e6))[0] == "size 60M between the fitted 50M and 100M"
    assert "interpolates" in size_said(60e6, (25e6, 100e6))[1]
    assert size_said(400e6, (25e6, 100e6))[0] == "size 400M above the largest fitted, 100M"


def test_the_sizes_round_trip_through_the_fit_json(momentum_fit):
    data = json.loads(json.dumps(momentum_fit.to_dict()))
    assert data["model_sizes"] == list(SIZES)
    again = FittedLaw.from_dict(data)
    assert again.sizes == SIZES and again.law == momentum_fit.law
    assert [r.model_size for r in again.runs] == [r.model_size for r in momentum_fit.runs]


def test_a_fit_at_a_size_is_the_size_free_fit_with_its_covariance(momentum_fit):
    at = fitted_at_size(momentum_fit, 1.6e9)
    assert replace(at.law, lr_coefficient=0.0) == MomentumLaw()  # with the LR term's D n^gamma
    assert at.law.lr_coefficient == pytest.approx(100.0 * 1.6**0.25, rel=1e-3)
    schedule = make_schedule("cosine", steps=6000, peak=3e-4, warmup=200)
    steps = np.arange(300, 6001, 100)
    assert at.curve(schedule, steps) == pytest.approx(
        momentum_fit.curve(schedule, steps, model_size=1.6e9), rel=1e-12
    )
    assert at.covariance.shape == (5, 5) and np.all(np.diag(at.covariance) >= 0)
    # its interval keeps the size term of 1.6B, 4x the largest fitted size (optimize --params
    # predicts through it); the runs of other sizes, which the size-free law at 1.6B cannot
    # describe, are not taken for its misfit
    sized = replace(momentum_fit, backtest_scale=0.003)
    view = fitted_at_size(sized, 1.6e9)
    assert view.at_size == 1.6e9
    width = np.diff(view.predict(schedule).final_interval)[0]
    blind = replace(view, at_size=None, sized_from=None)
    share_residuals(blind, sized)
    no_size = np.diff(blind.predict(schedule).final_interval)[0]
    full = np.diff(sized.predict(schedule, model_size=1.6e9).final_interval)[0]
    assert 0 < no_size < width
    assert width == pytest.approx(full, rel=1e-12)  # the view predicts as its origin at 1.6B


def test_holding_out_the_largest_size():
    runs = _runs(MomentumSizeLaw(), MOMENTUM_TRUTH)
    fitted, held = split_largest_size(runs)
    assert {r.model_size for r in fitted} == set(SIZES[:2])
    assert {r.model_size for r in held} == {SIZES[2]}
    with pytest.raises(ParameterError, match="at least three sizes"):
        split_largest_size(fitted)
    from lrcurve.compare import compare

    scored = compare(fitted, held, laws=[MomentumSizeLaw()]).to_dict()
    assert {h["model_size"] for h in scored["laws"][0]["heldout"]} == {SIZES[2]}


def test_compare_and_fit_know_the_size_aware_laws():
    from lrcurve.compare import build_laws

    assert {"momentum-size", "multipower-size"} <= set(LAWS)
    assert all(not law.size_aware for law in build_laws()[0])
    assert {law.name for law in build_laws(sized=True)[0]} >= {"momentum-size", "multipower-size"}


# --- the command line ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def size_fit_dir(tmp_path_factory):
    from tests.conftest import run_lrcurve

    d = tmp_path_factory.mktemp("sizes")
    files = [
        data_path("multipowerlaw", f"csv_{size}", f"{name}.csv")
        for size in ("25", "100")
        for name in ("constant_24000", "cosine_24000")
    ]
    params = [
        arg
        for path in files
        for arg in ("--params", f"{path}={'25M' if 'csv_25' in str(path) else '100M'}")
    ]
    r = run_lrcurve("fit", *files, "--law", "momentum-size", "--warmup", 2160, *params, cwd=d)
    assert r.returncode == 0, r.stderr
    return d, files


def test_fit_and_predict_a_larger_model_from_the_cli(size_fit_dir, cli):
    d, _ = size_fit_dir
    data = json.loads((d / "lrcurve.fit.json").read_text())
    assert data["law"]["name"] == "momentum-size" and data["model_sizes"] == [25e6, 100e6]
    r = cli(
        "predict",
        d / "lrcurve.fit.json",
        "--schedule",
        "wsd",
        "--decay",
        0.2,
        "--params",
        "400M",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["model_size"] == 4e8
    lower, upper = out["final"]["interval"]["lower"], out["final"]["interval"]["upper"]
    assert lower < out["final_loss"] < upper
    assert any("model size 400M was not fitted" in w for w in out["warnings"])
    r = cli("predict", d / "lrcurve.fit.json", "--schedule", "wsd", "--params", "400M")
    assert r.returncode == 0 and "model size: 400M (fitted: 25M, 100M)" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--params: the momentum-size law is size-aware: give the model size (--params)"),
        (
            ("--params", "0"),
            "--params: model size '0' = 0 must be a finite parameter count above 0",
        ),
        (("--params", "lots"), "--params: 'lots' is not a parameter count"),
    ],
)
def test_predict_refuses_a_missing_or_bad_size(size_fit_dir, cli, args, message):
    d, _ = size_fit_dir
    r = cli("predict", d / "lrcurve.fit.json", *args)
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_fit_refuses_sizes_that_disagree_or_name_no_run_file(size_fit_dir, cli, tmp_path):
    _, files = size_fit_dir
    table = _table(tmp_path / "t.csv", _rows("a", "25M", 40))
    r = cli("fit", table, files[0], "--params", f"{table}=100M", "--params", f"{files[0]}=1B")
    assert r.returncode == 2
    assert "--params: t:a: model size 25M from" in r.stderr and "disagrees with 100M" in r.stderr
    r = cli("fit", files[0], "--params", "other.csv=25M")
    assert r.returncode == 2 and "other.csv is not one of the run files given" in r.stderr
    r = cli("fit", files[0], "--params", "25M")
    assert r.returncode == 2 and "write FILE=N" in r.stderr


def test_optimize_and_a_size_free_fit_at_another_size_from_the_cli(size_fit_dir, cli):
    d, files = size_fit_dir
    r = cli("optimize", d / "lrcurve.fit.json", "--params", "400M", "--json")
    assert r.returncode == 0, r.stderr
    r = cli(
        "fit",
        files[0],
        files[1],
        "--warmup",
        2160,
        "--params",
        f"{files[0]}=25M",
        "-o",
        "free.json",
    )
    assert r.returncode == 0, r.stderr
    r = cli("predict", "free.json", "--params", "400M")
    assert r.returncode == 2 and "the momentum law is size-free, fitted on 25M" in r.stderr
    # check: a run of another size than a size-free fit's is refused (it would seem to drift)
    r = cli("check", "free.json", files[2], "--params", f"{files[2]}=100M")
    assert r.returncode == 2, r.stdout
    assert f"{files[2]}: a 100M model; the momentum law is size-free, fitted on 25M" in r.stderr
    r = cli("check", "free.json", files[1], "--params", f"{files[1]}=25M")
    assert r.returncode == 0, r.stderr


def test_the_interval_widens_with_size_said_only_outside_the_fitted_sizes(size_fit_dir, cli):
    d, _ = size_fit_dir
    widens = "the interval also widens with the size"
    inside = cli("predict", d / "lrcurve.fit.json", "--schedule", "wsd", "--params", "50M")
    assert inside.returncode == 0 and "size 50M between the fitted 25M and 100M" in inside.stderr
    assert widens not in inside.stderr
    outside = cli("predict", d / "lrcurve.fit.json", "--schedule", "wsd", "--params", "400M")
    assert outside.returncode == 0 and widens in outside.stderr


def test_check_takes_the_runs_size_from_params(size_fit_dir, cli):
    """check on a size-aware fit needs the run's size; it named --params, which check lacked."""
    d, files = size_fit_dir
    run = str(files[1])  # the 25M cosine run, a fitted one
    ok = cli("check", "lrcurve.fit.json", run, "--params", f"{run}=25M", cwd=d)
    assert ok.returncode == 0, ok.stderr
    assert "inside the check band (1.75x the 90 % interval" in ok.stdout
    missing = cli("check", "lrcurve.fit.json", run, cwd=d)
    assert missing.returncode == 2 and "--params" in missing.stderr.splitlines()[-1]


def test_one_grouping_serves_sizes_peak_lrs_and_tokens_per_step():
    """``sizes.grouped``: a value joins the last group while at most ``ratio`` times its least
    value (so a chain of small steps does not grow one group without end); the three groupings
    built on it keep their tolerances (1e-6, 5 %, 1 %) and the runs' labels in input order."""
    from types import SimpleNamespace

    from lrcurve.laws.peak_lr import distinct_peaks
    from lrcurve.sizes import distinct, grouped
    from lrcurve.tokens import batch_groups

    values = [1.018, 1.0, 1.009, 1.01, 2.0, 2.02]
    assert grouped(values, 1.01, float) == [(1.0, [1.0, 1.009, 1.01]), (1.018, [1.018]),
                                            (2.0, [2.0, 2.02])]  # fmt: skip
    assert distinct([25e6, None, 25e6 * (1 + 1e-7), 25e6 * (1 + 1e-5), 1e8]) == [
        25e6,
        25e6 * (1 + 1e-5),
        1e8,
    ]
    peaks = [3e-4, 3.1e-4, 3.14e-4, 3.16e-4, 3.3e-4, 6e-4]
    histories = [LRHistory(np.r_[np.linspace(0, p, 10), np.full(50, p)]) for p in peaks]
    assert distinct_peaks([*histories, LRHistory(np.zeros(0))]) == [3e-4, 3.16e-4, 6e-4]
    runs = [SimpleNamespace(tokens_per_step=n, label=label)
            for n, label in [(204800, "c"), (102400, "a"), (None, "x"), (103400, "b"),
                             (102400 * 1.011, "d")]]  # fmt: skip
    assert batch_groups(runs) == [(102400.0, ["a", "b"]), (102400 * 1.011, ["d"]),
                                  (204800.0, ["c"])]  # fmt: skip


def test_optimize_at_a_far_size_says_so_without_a_note_on_every_use(size_fit_dir, cli):
    d, _ = size_fit_dir
    far = cli("optimize", d / "lrcurve.fit.json", "--params", "100B", "--json")
    assert far.returncode == 0, far.stderr
    out = json.loads(far.stdout)
    assert out["model_size"] == 1e11
    assert any("1000x the largest fitted size" in w for w in out["warnings"]), out["warnings"]
    fitted = cli("optimize", d / "lrcurve.fit.json", "--params", "100M", "--json")
    said = json.loads(fitted.stdout)["warnings"]
    assert not any("fitted size" in w or "size 100M" in w or ", as the" in w for w in said)


@pytest.fixture(scope="module")
def two_size_fit(momentum_fit, tmp_path_factory):
    """``momentum_fit`` with the runs of the lr-scheduling family's shape: the small size 10k
    steps (a constant at 1e-3, a cosine at 2e-3), the large one 50k steps at 5e-4."""
    from lrcurve.fitfile import save_fit
    from lrcurve.runs import Run

    def run(kind, peak, steps, size):
        schedule = make_schedule(kind, steps=steps, peak=peak, warmup=300 if size < 1e8 else 600)
        at = np.arange(1000, steps + 1, 1000)
        return Run(
            f"{kind}-{peak:g}-{size:g}", at, np.full(at.size, 3.0), schedule, model_size=size
        )

    runs = (
        run("constant", 1e-3, 10_000, SIZES[0]),
        run("cosine", 2e-3, 10_000, SIZES[0]),
        run("constant", 5e-4, 50_000, SIZES[2]),
        run("wsd", 5e-4, 40_000, SIZES[2]),
    )
    path = tmp_path_factory.mktemp("two_sizes") / "fit.json"
    save_fit(replace(momentum_fit, runs=runs, backtest_scale=0.01), path)  # no backtests on load
    return path


def test_defaults_at_a_size_come_from_the_nearest_fitted_sizes_runs(two_size_fit, cli):
    r = cli("predict", two_size_fit, "--params", "300M", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["steps"], data["schedule"]["body"]["peak_lr"]) == (50_000, 5e-4)
    assert data["defaults_used"] == ["steps=50000", "peak=0.0005", "warmup=600"]
    assert "from the fitted runs of 400M, the nearest fitted size (constant-0.0005-4e+08, " in (
        r.stderr
    )
    # the small size: its 10k steps; a WSD at its constant run's peak, a cosine at its cosine's
    r = cli("predict", two_size_fit, "--params", "25M", "--json")
    assert json.loads(r.stdout)["defaults_used"] == ["steps=10000", "peak=0.001", "warmup=300"]
    assert "of 25M (constant-0.001-2.5e+07, cosine-0.002-2.5e+07; the peak of its wsd/constant" in (
        r.stderr
    )
    r = cli("predict", two_size_fit, "--params", "25M", "--schedule", "cosine", "--json")
    assert json.loads(r.stdout)["defaults_used"] == ["steps=10000", "peak=0.002", "warmup=300"]
    r = cli("optimize", two_size_fit, "--params", "30M", "--fractions", "0.2", "--shapes",
            "linear", "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    search = json.loads(r.stdout)
    assert (search["steps"], search["peak"], search["warmup"]) == (10_000, 1e-3, 300)


def test_defaults_of_a_fit_of_one_size_are_every_runs():
    from lrcurve.default_runs import default_runs

    runs = size_runs(MomentumSizeLaw(), MOMENTUM_TRUTH, SIZES[:1], [("constant", 1e-3)])
    runs += [replace(runs[0], schedule=make_schedule("cosine", steps=9000, peak=2e-3))]
    chosen = default_runs(runs, 400e6, "wsd")
    assert chosen.said is None
    assert chosen.defaults == {"steps": 9000, "peak": 2e-3, "warmup": 200}


def test_a_size_within_1_percent_of_a_fitted_one_is_not_said_to_widen(two_size_fit, cli):
    args = ("predict", two_size_fit, "--steps", "200000")  # extrapolating: 4x the horizon
    r = cli(*args, "--params", "401M")  # the fitted 400M
    assert r.returncode == 0 and "4.0x the fitted horizon" in r.stderr, r.stderr
    assert "widens with the size" not in r.stderr
    r = cli(*args, "--params", "900M")
    assert "the interval also widens with the size beyond the fitted ones" in r.stderr


def test_optimize_at_a_size_scores_and_bounds_as_predict_does(size_fit_dir, cli):
    """optimize --params searched a size-free view whose fast path left out the LR term and
    whose covariance left out what the view holds fixed: its baseline was 0.6 % off predict's
    loss for the same schedule, its interval up to 4.5x as wide."""
    d, _ = size_fit_dir
    r = cli("optimize", d / "lrcurve.fit.json", "--params", "400M", "--json")
    baseline = json.loads(r.stdout)["baseline"]
    assert baseline["schedule"]["body"]["kind"] == "cosine"
    floor = baseline["schedule"]["body"]["final"]
    r = cli("predict", d / "lrcurve.fit.json", "--schedule", "cosine", "--floor", floor,
            "--params", "400M", "--json")  # fmt: skip
    final = json.loads(r.stdout)["final"]
    assert baseline["loss"] == pytest.approx(final["loss"], rel=1e-9)
    width = baseline["interval"]["upper"] - baseline["interval"]["lower"]
    assert width == pytest.approx(final["interval"]["upper"] - final["interval"]["lower"], rel=0.2)


def test_check_refuses_a_size_free_fit_of_several_sizes(size_fit_dir, cli):
    """A size-free fit of two sizes is a blend of both: a run checked against it (a 25M run of
    no given size passed with a +12 % worst window) is refused, sized or not."""
    d, files = size_fit_dir
    sizes = ("25M", "25M", "100M", "100M")
    params = [a for f, n in zip(files, sizes) for a in ("--params", f"{f}={n}")]
    r = cli("fit", *files, "--warmup", 2160, *params, "-o", "blend.json", cwd=d)
    assert r.returncode == 0, r.stderr
    for extra in ((), ("--params", f"{files[1]}=25M")):
        r = cli("check", "blend.json", files[1], *extra, cwd=d)
        assert r.returncode == 2, r.stdout
        assert "fitted on 25M, 100M as one model, so it predicts none of them" in r.stderr


def test_forward_momentum_size_holds_beta_at_the_prior_with_two_sizes():
    """It left beta arbitrary ("not identifiable ... no run decays") with no s.e. anywhere."""
    from lrcurve.laws.forward_momentum_size import ForwardMomentumSizeLaw

    law = ForwardMomentumSizeLaw()
    truth = np.array([2.9, 0.55, 0.5, 2000.0, -7.3, 400.0, 0.34, 1.0, 1.0, 0.0, 0.0])
    two = fit(_runs(law, truth, SIZES[:2]), law, backtest=False)
    assert two["beta"].value == BETA_PRIOR and "beta" in two.held
    assert any("beta held at 0.34" in w for w in two.warnings)
    assert not any("not identifiable" in w for w in two.warnings)
    assert two["B"].stderr is not None and two["B"].stderr < 0.1 * two["B"].value


def test_forward_momentum_size_pins_the_annealing_size_exponent_with_two_decayed_sizes():
    """Like momentum-size's gamma (since 2026-11-30): C and D scale as n^gamma, pinned by
    decayed runs of two sizes, held at 0 (and said) when they have one."""
    from lrcurve.laws.forward_momentum_size import ForwardMomentumSizeLaw

    law = ForwardMomentumSizeLaw()
    truth = np.array([2.9, 0.55, 0.5, 2000.0, -7.3, 0.34, 0.34, 1.0, 1.0, 0.0, 0.3])
    pinned = fit(_runs(law, truth), law, backtest=False)
    assert pinned["gamma"].value == pytest.approx(0.3, rel=1e-3) and "gamma" not in pinned.held
    constant = _runs(law, truth, SIZES[1:], ("constant",))
    probe = fit(_runs(law, truth, SIZES[:1]) + constant, law, backtest=False)
    assert probe["gamma"].value == 0.0 and "gamma" in probe.held
    assert any("gamma held at 0" in w and "a short cooldown" in w for w in probe.warnings)


def test_optimize_at_a_fitted_size_takes_its_baseline_from_that_sizes_runs(momentum_fit):
    from lrcurve.optimize import SearchRequest, optimize
    from lrcurve.size_fit import fitted_at_size

    sizes = sorted({r.model_size for r in momentum_fit.runs})
    mine = [r for r in momentum_fit.runs if r.model_size == sizes[-1]]
    first = next(r for r in mine if "constant" not in r.name)  # its first decaying run
    request = SearchRequest(fractions=(0.2,), shapes=("linear",))
    at_size = fitted_at_size(momentum_fit, sizes[-1])
    done = optimize(at_size, request)
    assert f"like run {first.label}" in done.search.baseline_label
    from lrcurve.plotting import plot_search, plt

    figure = plot_search(done.search, at_size)
    assert "(momentum-size law at 400M parameters)" in figure.axes[0].get_title()
    plt.close(figure)


def test_a_size_aware_law_without_a_size_free_form_is_refused_at_one_size_in_one_line():
    from lrcurve.laws.forward_momentum_size import ForwardMomentumSizeLaw

    truth = np.array([2.9, 0.55, 0.5, 2000.0, -7.3, 0.34, 0.34, 1.0, 1.0, 0.0, 0.0])
    runs = size_runs(ForwardMomentumSizeLaw(), truth, SIZES, [("constant", 3e-4), ("wsd", 3e-4)])
    fitted = fit(runs, ForwardMomentumSizeLaw(), backtest=False)
    with pytest.raises(ParameterError, match="no size-free form at one size") as error:
        fitted_at_size(fitted, 1e9)
    assert error.value.param == "model_size" and "\n" not in str(error.value)


def test_the_size_free_view_of_an_unpinned_offset_carries_l0_one_to_one(unpinned_offset_fit):
    from lrcurve.size_fit import _jacobian

    fitted = unpinned_offset_fit
    assert fitted["L0"].value < 1e-6  # at its bound of 0, where a relative step was noise
    assert _jacobian(fitted, 124e6)[0, 0] == pytest.approx(1.0, rel=1e-8)


def test_on_a_token_clock_the_horizon_seen_at_the_size_is_said_in_the_targets_steps():
    """400M runs of twice the tokens a step, 1.5k steps (3k on the clock of the others'): a
    400M target of 3k of its own steps is twice the horizon seen at 400M, said in its steps."""
    from lrcurve.target_clock import predict_at_batch
    from lrcurve.tokens import token_clock

    runs = [
        replace(r, tokens_per_step=1e5) for r in _runs(MomentumSizeLaw(), MOMENTUM_TRUTH, SIZES[:2])
    ]
    steps = np.arange(50, 1501, 30)
    for kind, extra in (("constant", {}), ("wsd", {"decay": 0.2})):
        schedule = make_schedule(kind, steps=1500, peak=3e-4, warmup=100, **extra)
        loss = MomentumSizeLaw().predict(MOMENTUM_TRUTH, LRHistory.of(schedule, 1500, 400e6), steps)
        runs.append(
            Run(f"big-{kind}", steps, loss, schedule, model_size=400e6, tokens_per_step=2e5)
        )
    clocked, _ = token_clock(runs)
    fitted = replace(fit(clocked, MomentumSizeLaw(), backtest=False), backtest_scale=0.003)
    assert fitted.horizon_at(400e6) == 3000
    target = make_schedule("wsd", steps=3000, peak=3e-4, warmup=100, decay=0.2)
    said = predict_at_batch(fitted, target, 3000, 2e5, level=0.9, model_size=400e6).warnings
    assert any(w.startswith("3000 steps is 2.0x the longest fitted run") for w in said), said


def test_the_interval_widens_smoothly_away_from_a_fitted_size(momentum_fit):
    """Review 9: at 355M the interval of a schedule a fitted 360M run ran jumped to the whole
    extrapolation term; it grows with |ln(N / N_fitted)| to the whole at 1.2x, then as before."""
    from lrcurve.fitted_history import size_apart

    run = next(r for r in momentum_fit.runs if r.model_size == 100e6)
    at = np.array([run.last_step // 2], dtype=np.int64)

    def half_width(size):
        p = momentum_fit.predict(run.schedule, run.last_step, model_size=size)
        return float((p.sd / p.loss)[at - 1][0])

    widths = [half_width(f * 100e6) for f in (1.0, 1.014, 1.05, 1.1, 1.2, 1.3)]
    assert widths[1] < widths[0] + 0.2 * (widths[4] - widths[0])  # 1.4 % away: nearly as sure
    assert all(a <= b + 1e-12 for a, b in zip(widths, widths[1:4]))
    assert widths[4] > 2 * widths[0]
    assert size_apart(100e6, 100.5e6) == 0.0 and size_apart(None, 100e6) == 0.0
    assert size_apart(120e6, 100e6) == pytest.approx(0.1) and size_apart(1e12, 1e6) == 1.0
