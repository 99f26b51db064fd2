import numpy as np
import pytest

from lrcurve import MomentumLaw, fit, make_schedule, read_runs
from lrcurve.fitting import FittedLaw, moving_parameters
from lrcurve.laws import make_law
from lrcurve.laws.base import FitData, Law, LRHistory
from lrcurve.metrics import score
from lrcurve.runs import Run
from tests.conftest import SAMPLES


def synthetic_run(name, schedule, theta, steps, noise=0.0, seed=0):
    law = MomentumLaw()
    from lrcurve.laws.base import LRHistory

    loss = law.predict(np.asarray(theta), LRHistory.of(schedule, int(steps[-1])), steps)
    loss = loss * (1 + noise * np.random.default_rng(seed).standard_normal(loss.size))
    return Run(name, steps, loss, schedule)


TRUE = [2.5, 0.6, 0.5, 0.8, 0.998]


def test_fit_recovers_known_parameters_from_two_synthetic_curves():
    steps = np.arange(200, 20001, 100)
    runs = [
        synthetic_run("constant", make_schedule("constant", steps=20000, peak=1e-3), TRUE, steps),
        synthetic_run(
            "cosine", make_schedule("cosine", steps=20000, peak=1e-3, floor=0.1), TRUE, steps
        ),
    ]
    fitted = fit(runs, skip_fraction=0.0)
    assert fitted.values == pytest.approx(TRUE, rel=1e-4)
    assert not fitted.warnings


def test_uncertainties_shrink_with_less_noise():
    steps = np.arange(200, 20001, 100)

    def stderr(noise):
        runs = [
            synthetic_run(
                "c", make_schedule("constant", steps=20000, peak=1e-3), TRUE, steps, noise, 1
            ),
            synthetic_run(
                "k", make_schedule("cosine", steps=20000, peak=1e-3), TRUE, steps, noise, 2
            ),
        ]
        return np.array([p.stderr for p in fit(runs).params])

    assert np.all(stderr(1e-4) < stderr(1e-3))


def test_single_constant_run_says_annealing_is_not_identifiable():
    steps = np.arange(200, 20001, 100)
    fitted = fit(
        [synthetic_run("c", make_schedule("constant", steps=20000, peak=1e-3), TRUE, steps, 1e-4)]
    )
    assert any("not identifiable" in w and "C" in w for w in fitted.warnings)
    assert fitted["C"].stderr is None


@pytest.mark.parametrize("law", ["momentum", "multipower"])
def test_terms_no_run_exercises_are_held_and_the_fit_converges(law):
    """One constant run: the annealing term changes nothing, so its parameters are held at their
    start (a real 50k-step W&B run took 13 s and ran out of evaluations searching them)."""
    steps = np.arange(200, 20001, 100)
    run = synthetic_run("c", make_schedule("constant", steps=20000, peak=1e-3), TRUE, steps, 1e-4)
    model = make_law(law)
    data = [FitData(LRHistory.of(run.schedule, run.last_step), run.steps, run.loss)]
    prepared = [model.prepare(d.history, d.steps) for d in data]
    moving = moving_parameters(model, prepared, model.initial_guesses(data)[0])
    assert list(np.array(model.param_names)[moving]) == ["L0", "A", "alpha"]
    fitted = fit([run], model)
    assert fitted.converged and not any(
        p.at_bound for p in fitted.params if p.name not in fitted.held
    )
    assert any("held at their start" in w for w in fitted.warnings)
    assert score(fitted.predict_run(run), run.loss).mape < 0.05


def test_every_parameter_moves_when_a_run_decays():
    steps = np.arange(200, 20001, 100)
    runs = [synthetic_run("k", make_schedule("cosine", steps=20000, peak=1e-3), TRUE, steps, 1e-4)]
    model = MomentumLaw()
    data = [FitData(LRHistory.of(r.schedule, r.last_step), r.steps, r.loss) for r in runs]
    start = model.initial_guesses(data)[0]
    start[3] = 0.0  # C at 0 must not hide lam
    assert moving_parameters(model, [model.prepare(d.history, d.steps) for d in data], start).all()


def test_real_curves_fit_and_predict_wsd_within_tolerance(samples):
    runs = read_runs(samples / "constant.csv", warmup_steps=2160) + read_runs(
        samples / "cosine.csv", warmup_steps=2160
    )
    fitted = fit(runs)
    for s in fitted.scores().values():
        assert s.mape < 0.15 and s.r2 > 0.998
    wsd = read_runs(samples / "wsd.csv", warmup_steps=2160)[0]
    held_out = score(fitted.predict_run(wsd), wsd.loss)
    assert held_out.mape < 0.2
    assert abs(held_out.final_error) < 0.6
    # the whole-curve prediction agrees with the run-level one at the logged steps
    pred = fitted.predict(wsd.schedule, wsd.last_step)
    assert pred.loss[wsd.steps - 1] == pytest.approx(fitted.predict_run(wsd))
    assert pred.final_stderr is not None and 0 < pred.final_stderr < 0.01


def test_fit_round_trips_through_a_dict(samples):
    runs = read_runs(samples / "constant.csv") + read_runs(samples / "cosine.csv")
    fitted = fit(runs)
    again = FittedLaw.from_dict(fitted.to_dict())
    schedule = make_schedule("wsd", steps=30000, peak=3e-4, decay=0.2)
    assert np.array_equal(again.predict(schedule).loss, fitted.predict(schedule).loss)
    assert again.law == fitted.law


def test_predictions_outside_the_fitted_regime_carry_warnings(samples):
    fitted = fit(read_runs(samples / "runs.csv", warmup_steps=2160))  # constant + cosine to 10 %
    for inside in (
        make_schedule("cosine", steps=20000, peak=3e-4, floor=0.1, warmup=2160),
        make_schedule("wsd", steps=24000, peak=3e-4, decay=0.2, floor=0.1, warmup=2160),
    ):  # 4.8 % per 256 steps
        assert fitted.predict(inside).warnings == (), str(inside)
    to_zero = fitted.predict(
        make_schedule("wsd", steps=24000, peak=3e-4, decay=0.5, warmup=2160)
    ).warnings
    assert (
        len(to_zero) == 1 and "falls to 0, below half the fitted runs' lowest (3e-05)" in to_zero[0]
    )
    sharp = fitted.predict(
        make_schedule("wsd", steps=24000, peak=3e-4, decay=0.1, floor=0.1, warmup=2160)
    ).warnings
    assert (
        len(sharp) == 1
        and "falls by 10% of its peak within 256 steps" in sharp[0]
        and "(2%)" in sharp[0]
    )
    # a fitted WSD run (falling 13 % of the peak within 256 steps) puts the sharp cooldown inside
    # the regime
    wsd = read_runs(samples / "wsd.csv", warmup_steps=2160)
    with_wsd = fit(read_runs(samples / "runs.csv", warmup_steps=2160) + wsd)
    assert (
        with_wsd.predict(
            make_schedule("wsd", steps=24000, peak=3e-4, decay=0.1, floor=0.1, warmup=2160)
        ).warnings
        == ()
    )
    longer = fitted.predict(make_schedule("wsd", steps=72000, peak=3e-4, warmup=2160))
    assert any("3.0x" in w for w in longer.warnings)
    hotter = fitted.predict(make_schedule("wsd", steps=24000, peak=1e-3, warmup=2160))
    assert any("peak LR" in w for w in hotter.warnings)


@pytest.mark.parametrize("law_name", ["momentum", "multipower"])
def test_lr_exponent_generalises_the_forward_area_analytically(law_name):
    from lrcurve.laws import make_law
    from lrcurve.laws.base import LRHistory

    lr, p = 2e-4, 0.6
    steps = np.arange(10, 1001, 10)
    history = LRHistory.of(make_schedule("constant", steps=1000, peak=lr), 1000)
    theta = np.array(
        [2.5, 0.6, 0.5, 0.8, 0.998]
        if law_name == "momentum"
        else [2.5, 0.6, 0.5, 300.0, 2.0, 0.6, 0.6]
    )
    law = make_law(law_name, lr_exponent=p)
    # a constant LR has no annealing: L = L0 + A * (t * lr^p)^-alpha
    expected = 2.5 + 0.6 * (steps * lr**p) ** -0.5
    assert law.predict(theta, history, steps) == pytest.approx(expected, rel=1e-12)
    assert make_law(law_name, lr_exponent=1.0).predict(theta, history, steps) == pytest.approx(
        make_law(law_name).predict(theta, history, steps), rel=0
    )
    with pytest.raises(ValueError, match="lr_exponent"):
        make_law(law_name, lr_exponent=0.0)


def test_fit_with_the_right_lr_exponent_recovers_the_curves_and_p1_does_not():
    from lrcurve.laws.base import LRHistory

    truth = MomentumLaw(lr_exponent=0.6)
    theta = np.array([2.5, 2.0, 0.5, 0.8, 0.998])
    steps = np.arange(200, 20001, 100)
    runs = []
    for kind in ("constant", "cosine", "wsd"):
        schedule = make_schedule(kind, steps=20000, peak=1e-3, floor=0.1, decay=0.2)
        runs.append(
            Run(kind, steps, truth.predict(theta, LRHistory.of(schedule, 20000), steps), schedule)
        )
    right = fit(runs, MomentumLaw(lr_exponent=0.6), skip_fraction=0.0)
    assert right.values == pytest.approx(theta, rel=1e-4)
    assert FittedLaw.from_dict(right.to_dict()).law == MomentumLaw(lr_exponent=0.6)
    wrong = fit(runs, MomentumLaw(), skip_fraction=0.0)
    assert max(s.mape for s in wrong.scores().values()) > 20 * max(
        s.mape for s in right.scores().values()
    )


def test_fit_files_without_an_lr_exponent_load_with_the_papers_forward_area(samples):
    runs = read_runs(samples / "constant.csv") + read_runs(samples / "cosine.csv")
    data = fit(runs).to_dict()
    data["law"].pop("lr_exponent")
    assert FittedLaw.from_dict(data).law == MomentumLaw()


# --- fit files: a damaged one ends in one InputError naming it ----------------------------------


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"law": ' + '{"a": ' * 5000 + "1" + "}" * 5001]
)
def test_deeply_nested_fit_file_is_refused(tmp_path, text):
    from lrcurve.errors import InputError
    from lrcurve.fitfile import load_fit

    path = tmp_path / "deep.fit.json"
    path.write_text(text)
    with pytest.raises(
        InputError, match=r"deep\.fit\.json: not a JSON fit file \(nested too deeply\)"
    ):
        load_fit(path)


class _FiniteDifferences(MomentumLaw):
    """The momentum law without its analytic Jacobian: derivatives by finite differences, as
    for a law that has none."""

    jacobian = Law.jacobian


@pytest.mark.parametrize("law", [MomentumLaw(), _FiniteDifferences()], ids=["analytic", "finite"])
def test_derivatives_match_the_momentum_law_written_out(law):
    from lrcurve.areas import annealing_momentum, forward_area

    schedule = make_schedule("cosine", steps=5000, peak=1e-3, floor=0.1)
    steps = np.arange(100, 5001, 100)
    prepared = law.prepare(LRHistory.of(schedule, 5000), steps)
    theta = np.array(TRUE)
    derivatives = law.derivatives(theta, prepared)
    lr = LRHistory.of(schedule, 5000).lr
    s1 = forward_area(lr)[steps - 1]
    L0, A, alpha, C, lam = theta
    assert derivatives[:, 0] == pytest.approx(1.0, rel=1e-6)
    assert derivatives[:, 1] == pytest.approx(s1**-alpha, rel=1e-5)
    assert derivatives[:, 2] == pytest.approx(-A * np.log(s1) * s1**-alpha, rel=1e-4)
    # d S2 / d lam written out: S2 sums m_i = sum_j lam^(i-j) d_j,
    # so m_i' = sum_j (i-j) lam^(i-j-1) d_j (finite differences: to ~1e-8, the loss's rounding)
    drops = np.r_[0.0, -np.diff(lr)]
    s2 = np.cumsum(annealing_momentum(lr, lam))
    lags = np.arange(5000)[:, None] - np.arange(5000)[None, :]
    weights = np.where(lags > 0, lags * lam ** np.maximum(lags - 1, 0), 0.0)
    slope = np.cumsum(weights @ drops)
    assert derivatives[:, 3] == pytest.approx(-s2[steps - 1], rel=1e-5, abs=1e-7)
    assert derivatives[:, 4] == pytest.approx(-C * slope[steps - 1], rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("peak", [3e-4, 2e-3])
def test_the_analytic_jacobian_holds_with_the_peak_lr_exponents_and_the_lr_term(peak):
    law = MomentumLaw(peak_exponents=(0.6, 0.7), lr_coefficient=100.0)
    schedule = make_schedule("wsd", steps=3000, peak=peak, warmup=100, decay=0.3)
    prepared = law.prepare(LRHistory.of(schedule, 3000), np.arange(50, 3001, 50))
    theta = np.array([2.0, 0.5, 0.5, 300.0, 0.995])
    numeric = _FiniteDifferences(peak_exponents=(0.6, 0.7), lr_coefficient=100.0).derivatives(
        theta, prepared
    )
    assert law.jacobian(theta, prepared) == pytest.approx(numeric, rel=1e-4, abs=1e-9)


def test_a_fit_with_the_analytic_jacobian_finds_the_finite_differences_optimum(samples):
    runs = [read_runs(samples / f, warmup_steps=2160)[0] for f in ("constant.csv", "cosine.csv")]
    analytic = fit(runs, MomentumLaw(), backtest=False)
    finite = fit(runs, _FiniteDifferences(), backtest=False)
    assert analytic.values == pytest.approx(finite.values, rel=1e-3)
    assert analytic.fit_rss == pytest.approx(finite.fit_rss, rel=1e-4)


def test_linear_fits_solve_a_batch_of_problems_and_survive_a_vanishing_column():
    from lrcurve.laws.base import linear_fits, power_law_design, residual_sums

    rng = np.random.default_rng(3)
    s1 = np.linspace(1.0, 20.0, 60)
    weights = 1.0 / (3.0 + rng.random(60))
    alphas = np.array([0.3, 0.6, 0.9])
    power = np.exp(-np.outer(np.log(s1), alphas)) * weights[:, None]
    annealing = np.sin(s1)
    truth = np.array(
        [[2.0, 0.5, 0.1], [1.5, 0.8, -0.2], [3.0, 0.1, 0.0]]
    )  # (L0, A, coefficient) per alpha
    design = power_law_design(weights, power, annealing)
    assert design.shape == (60, 3, 3)
    for g, coef in enumerate(
        truth
    ):  # a target made exactly by grid point g is solved exactly there
        target = design[:, g, :] @ coef
        solved = linear_fits(design, target)
        assert solved[g] == pytest.approx(coef, abs=1e-8)
        sums = residual_sums(design, solved, target)
        assert sums[g] == pytest.approx(0.0, abs=1e-16) and np.argmin(sums) == g
    flat = power_law_design(weights, power, np.zeros(60))  # no annealing at all (a constant-LR run)
    solved = linear_fits(flat, flat[:, 1, :] @ np.array([2.0, 0.5, 0.0]))
    assert np.all(np.isfinite(solved)) and solved[1] == pytest.approx([2.0, 0.5, 0.0], abs=1e-8)


DATA = __import__("pathlib").Path(__file__).parent / "data"


def _on_grid(law, values):
    """``values`` with each nonlinear parameter moved to the nearest point of its grid."""
    out = np.array(values, dtype=np.float64)
    for i, p in enumerate(law.params):
        if p.grid:
            out[i] = min(p.grid, key=lambda g: abs(g - out[i]))
    return out


@pytest.mark.parametrize("name", ["momentum", "multipower"])
def test_shared_starting_points_recover_parameters_on_their_grid(name):
    """Noise-free curves made at a grid point of the nonlinear parameters: the best start is
    the truth (the linear ones solved exactly), whichever law."""
    law = make_law(name)
    guess = (
        [2.5, 0.6, 0.5, 0.8, 0.998] if name == "momentum" else [2.9, 0.55, 0.5, 400, 2, 0.6, 0.6]
    )
    truth = _on_grid(law, guess)
    steps = np.arange(200, 20001, 100)
    data = []
    for kind in ("constant", "cosine"):
        schedule = make_schedule(kind, steps=20000, peak=1e-3, warmup=100)
        history = LRHistory.of(schedule, 20000)
        data.append(FitData(history, steps, law.predict(truth, history, steps)))
    starts = law.initial_guesses(data)
    assert len(starts) == law.keep_starts
    assert starts[0] == pytest.approx(truth, rel=1e-6)
    fitted = fit(
        [
            Run(k, d.steps, d.loss, make_schedule(k, steps=20000, peak=1e-3, warmup=100))
            for k, d in zip(("constant", "cosine"), data)
        ],
        law,
        skip_fraction=0.0,
    )
    assert fitted.values == pytest.approx(truth, rel=1e-5)


def test_a_law_declares_its_parameters_once():
    from lrcurve.laws.base import Param

    for name in ("momentum", "multipower"):
        law = make_law(name)
        assert all(isinstance(p, Param) for p in law.params)
        assert law.param_names == tuple(p.name for p in law.params)
        lo, hi = law.bounds()
        assert lo.tolist() == [p.lower for p in law.params]
        assert hi.tolist() == [p.upper for p in law.params]
        assert law.index("alpha") == [law.param_names.index("alpha")]
        assert {p.name for p in law.params if p.linear} == {"L0", "A", law.param_names[3]}


@pytest.mark.parametrize(
    "options",
    [
        {"name": "momentum", "warmup": "peak", "lr_exponent": 0.8},
        {"name": "multipower", "warmup": "full", "tolerance": 0.05, "lr_exponent": 1.2},
    ],
)
def test_options_are_the_dataclass_fields_and_round_trip_through_fit_files(options, tmp_path):
    from lrcurve.fitfile import load_fit, save_fit
    from lrcurve.laws import law_from_dict, law_to_dict

    law = law_from_dict(options)
    assert law_to_dict(law) == options
    steps = np.arange(200, 20001, 200)
    runs = [
        synthetic_run(k, make_schedule(k, steps=20000, peak=1e-3), TRUE, steps, 1e-4)
        for k in ("constant", "cosine")
    ]
    fitted = fit(runs, law)
    save_fit(fitted, tmp_path / "fit.json")
    again = load_fit(tmp_path / "fit.json")
    assert again.law == law and law_to_dict(again.law) == options
    assert again.held == fitted.held and np.array_equal(again.values, fitted.values)


@pytest.mark.parametrize(
    "name, values, final, at_100",
    [
        (
            "momentum",
            [
                2.591988896288924,
                0.563177693936392,
                0.7012732652298235,
                0.7433687807905142,
                0.998145937482011,
            ],
            2.4601000654009844,
            5.422850972321658,
        ),
        (
            "multipower",
            [
                1.9595724211576413,
                1.0452558759566806,
                0.5057442105774338,
                536.7699211371043,
                0.0002139036740739556,
                0.5700500842743758,
                1.4272418146309647,
            ],
            2.4816848421149156,
            7.376554511682926,
        ),
    ],
)
def test_fit_files_of_the_previous_release_load_and_predict_as_before(name, values, final, at_100):
    """Written by the code before parameter tables (no ``held``; runs with a logged warmup saved
    as a ramp in front of held LRs); the figures are what that code predicted."""
    from lrcurve.fitfile import load_fit

    fitted = load_fit(DATA / f"format1_{name}.fit.json")
    assert fitted.values.tolist() == values and fitted.held == ()
    prediction = fitted.predict(make_schedule("wsd", steps=8000, peak=1e-3, warmup=300, decay=0.2))
    assert prediction.final_loss == pytest.approx(final, rel=1e-12)
    assert prediction.loss[99] == pytest.approx(at_100, rel=1e-12)


def test_held_parameters_are_named_saved_and_reported():
    steps = np.arange(200, 20001, 100)
    run = synthetic_run("c", make_schedule("constant", steps=20000, peak=1e-3), TRUE, steps, 1e-4)
    fitted = fit([run])
    assert fitted.held == ("C", "lam")
    assert FittedLaw.from_dict(fitted.to_dict()).held == ("C", "lam")
    assert fitted.to_dict()["held"] == ["C", "lam"]
    report = fitted.summary()
    held_lines = [line for line in report.splitlines() if line.strip().startswith(("C ", "lam"))]
    assert len(held_lines) == 2 and all("held" in line for line in held_lines)
    frame = fitted.to_frame()
    assert frame["held"].to_dict() == {n: n in ("C", "lam") for n in fitted.law.param_names}
    both = fit(
        [run, synthetic_run("k", make_schedule("cosine", steps=20000, peak=1e-3), TRUE, steps)]
    )
    assert both.held == () and not both.to_frame()["held"].any()


def test_aic_and_bic_are_on_the_fit_windows_relative_residuals():
    steps = np.arange(200, 20001, 100)
    runs = [
        synthetic_run(k, make_schedule(k, steps=20000, peak=1e-3), TRUE, steps, 1e-3, seed)
        for seed, k in enumerate(("constant", "cosine"))
    ]
    fitted = fit(runs, skip_fraction=0.1)
    window = np.concatenate([r.steps >= 0.1 * r.last_step for r in runs])
    observed = np.concatenate([r.loss for r in runs])[window]
    predicted = np.concatenate([fitted.predict_run(r) for r in runs])[window]
    rss = float(np.sum(((predicted - observed) / observed) ** 2))
    n, k = observed.size, 5
    assert fitted.n_fit_points == n and fitted.fit_rss == pytest.approx(rss, rel=1e-9)
    assert fitted.aic == pytest.approx(n * np.log(rss / n) + 2 * k, rel=1e-9)
    assert fitted.bic == pytest.approx(n * np.log(rss / n) + k * np.log(n), rel=1e-9)
    assert "AIC" in fitted.summary() and f"{fitted.aic:.6g}" in fitted.summary()
    old = FittedLaw.from_dict({**fitted.to_dict(), "n_fit_points": None, "fit_rss": None})
    assert old.aic is None and old.bic is None


def _exact_fit():
    """Noise-free constant and cosine runs of the momentum law, and its fit to them."""
    steps = np.arange(200, 20001, 100)
    runs = [
        synthetic_run(k, make_schedule(k, steps=20000, peak=1e-3), TRUE, steps)
        for k in ("constant", "cosine")
    ]
    return runs, fit(runs, skip_fraction=0.0)


def test_predict_and_curve_refuse_a_loss_the_law_cannot_give():
    from lrcurve.errors import ExtrapolationError
    from lrcurve.schedules import Constant

    _, fitted = _exact_fit()
    far = make_schedule("cosine", steps=20000, peak=1e3)  # the annealing term runs away
    with pytest.raises(ExtrapolationError, match=r"predicts a loss of -.* at step \d+ of cosine"):
        fitted.predict(far)
    with pytest.raises(ExtrapolationError, match="peak LR 1000; fitted at 0.001"):
        fitted.curve(far, np.array([19000, 20000]))
    with pytest.raises(ExtrapolationError, match="not defined at step 1 of constant"):
        fitted.curve(Constant(0.0, 100), np.arange(1, 5))


def test_a_warmup_from_zero_is_not_refused_inside_the_warmup():
    """An LR logged as 0 at step 1: the forward area is 0 there and the law has no value; the
    prediction is NaN there and finite after the warmup."""
    from lrcurve.schedules import Piecewise

    _, fitted = _exact_fit()
    logged = Piecewise((1.0, 100.0, 20000.0), (0.0, 1e-3, 1e-3), warmup_steps=100)
    prediction = fitted.predict(logged)
    assert np.isnan(prediction.loss[0]) and np.all(np.isfinite(prediction.loss[1:]))


def test_short_reprs_and_frames():
    runs, fitted = _exact_fit()
    for text in (repr(fitted), repr(runs[0]), repr(fitted.predict(runs[1].schedule))):
        assert "\n" not in text and len(text) < 300 and "array" not in text
    assert repr(fitted).startswith("FittedLaw(momentum: L0=2.5")
    prediction = fitted.predict(runs[1].schedule)
    frame = prediction.to_frame()
    columns = ["step", "lr", "loss", "stderr", "lower", "upper"]
    assert list(frame.columns) == columns and len(frame) == 20000
    assert frame["loss"].iloc[-1] == prediction.final_loss
    assert (frame["lower"].iloc[-1], frame["upper"].iloc[-1]) == prediction.final_interval
    after = frame["step"] > runs[1].warmup_steps
    assert np.all(frame["lower"][after] < frame["loss"][after])
    assert np.all(frame["loss"][after] < frame["upper"][after])
    params = fitted.to_frame()
    assert params.loc["lam", "value"] == fitted["lam"].value
    assert list(params.columns) == ["value", "stderr", "lower", "upper", "held", "at_bound"]
    assert params["stderr"].dtype == np.float64
    report = fitted.summary()
    for fragment in ("[[Law]] momentum", fitted.law.formula, "[[Parameters]]", "[[Runs]]", "BIC"):
        assert fragment in report


def test_a_fit_file_holding_an_unknown_parameter_is_damaged(tmp_path):
    import json

    from lrcurve.errors import InputError
    from lrcurve.fitfile import load_fit, save_fit

    _, fitted = _exact_fit()
    save_fit(fitted, tmp_path / "fit.json")
    data = json.loads((tmp_path / "fit.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**data, "held": ["gamma"]}))
    with pytest.raises(InputError, match="damaged fit file: held parameters gamma"):
        load_fit(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def sample_fits():
    """Both laws fitted to the sample constant and cosine runs, with non-default options too."""
    from lrcurve.laws import MultiPowerLaw

    runs = [read_runs(SAMPLES / f"{n}.csv", warmup_steps=2160)[0] for n in ("constant", "cosine")]
    laws = (
        MomentumLaw(),
        MultiPowerLaw(),
        MomentumLaw(warmup="peak", lr_exponent=0.7),
        MultiPowerLaw(warmup="full", lr_exponent=0.8),
    )
    return [fit(runs, law=law) for law in laws]


EVERY_STEP_SCHEDULES = [
    ("wsd", dict(steps=150_001, warmup=2160, decay=0.2, shape="sqrt")),  # 3 chunks
    ("cosine", dict(steps=70_000, warmup=2160, floor=0.1)),
    ("constant", dict(steps=5000, warmup=100)),  # few knots: LD walked at every step
    ("wsd", dict(steps=3000, warmup=50, decay=0.5, shape="linear")),
]


@pytest.mark.parametrize("kind, options", EVERY_STEP_SCHEDULES)
def test_prediction_at_every_step_is_bit_identical_to_the_laws_evaluation(
    sample_fits, kind, options
):
    """Issue 13 item 10: predict computes every step in chunks (areas and filter state carried,
    LD interpolated without its map): the numbers must not move by a bit."""
    schedule = make_schedule(kind, peak=3e-4, **options)
    n = options["steps"]
    history = LRHistory.of(schedule, n)
    assert np.array_equal(history.lr, schedule.per_step(n))  # evaluated in chunks
    steps = np.arange(1, n + 1)
    for fitted in sample_fits:
        whole = fitted.law.evaluate(fitted.values, fitted.law.prepare(history, steps))
        assert np.array_equal(fitted.law.every_step(fitted.values, history), whole), fitted.law
        plain = fitted.predict(schedule, with_stderr=False)
        banded = fitted.predict(schedule)
        assert np.array_equal(plain.loss, banded.loss) and np.array_equal(plain.steps, steps)
        assert plain.loss_stderr is None and banded.loss_stderr is not None


def test_the_loss_drop_at_every_step_matches_its_interpolation_map():
    from lrcurve.laws.loss_drop import LossDrop, loss_drop_every_step

    schedule = make_schedule("cosine", steps=100_000, peak=3e-4, warmup=1000, floor=0.0)
    lr = schedule.per_step(100_000)
    params = np.array([[0.5, 2.0, 0.6, 0.3], [1.0, 0.5, 1.0, 0.0]])
    mapped = LossDrop.of(lr, np.arange(1, lr.size + 1))
    assert mapped.knots is not None  # the dense path: knots and the interpolation map
    assert np.array_equal(loss_drop_every_step(lr, params), mapped.many(params))


def traced_peak(work) -> int:
    """The peak of numpy's and Python's allocations while ``work()`` runs, in bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("law_index, limit", [(0, 64), (1, 64)])
def test_memory_per_predicted_step_without_the_band(sample_fits, law_index, limit):
    """Issue 13 item 10: ~177 and ~271 bytes a step (88 and 234 before this change); at most
    64 now on a WSD run of 2M steps or more (the multi-power walk has a fixed ~25 MB on top;
    benchmarks/speed.py prints the figures)."""
    fitted, n = sample_fits[law_index], 2_000_000
    schedule = make_schedule("wsd", steps=n, peak=3e-4, warmup=2160, decay=0.2, shape="sqrt")
    peak = traced_peak(lambda: fitted.predict(schedule, with_stderr=False))
    assert peak / n <= limit


def test_a_prediction_that_cannot_fit_in_memory_is_refused_up_front(
    sample_fits, monkeypatch, tmp_path
):
    import lrcurve.memory
    from lrcurve.errors import ParameterError
    from lrcurve.fitfile import save_fit
    from tests.conftest import run_lrcurve

    monkeypatch.setattr(lrcurve.memory, "available_memory", lambda: 100_000_000)
    fitted = sample_fits[0]
    schedule = make_schedule("constant", steps=2_000_000, peak=3e-4)
    with pytest.raises(ParameterError) as caught:
        fitted.predict(schedule, with_stderr=False)  # 128 MB needed
    assert caught.value.param == "steps" and "0.1 GB are available" in str(caught.value)
    assert fitted.predict(schedule, 1_000_000, with_stderr=False).steps.size == 1_000_000
    save_fit(fitted, tmp_path / "fit.json")
    r = run_lrcurve("predict", "fit.json", "--steps", 20_000_000, "--schedule", "wsd", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("lrcurve: error: --steps: predicting")


def test_scores_are_on_the_fitted_points_not_the_skipped_start(samples):
    """Issue 16.4: the fit table scored every logged point, the skipped start too (R2 -1.38 on
    a W&B training loss); a fit is judged on the points it was fitted to."""
    from lrcurve.fitting import fit_window

    runs = [read_runs(samples / f"{n}.csv", warmup_steps=2160)[0] for n in ("constant", "cosine")]
    fitted = fit(runs, skip_fraction=0.3)
    for run in runs:
        window = fit_window(run, 0.3)
        assert 0 < window.sum() < len(run.steps)
        expected = score(fitted.predict_run(run)[window], run.loss[window])
        assert fitted.scores()[run.name] == expected


@pytest.mark.parametrize(
    "kind, options", [("cosine", dict(floor=0.1)), ("wsd", dict(decay=1.0, shape="sqrt"))]
)
def test_multipower_memory_per_step_when_the_lr_changes_at_every_step(sample_fits, kind, options):
    """Issue 13 item 10: on a cosine (the LR changes at every step) the multi-power prediction
    peaked at ~178 bytes a step at 5M steps (the change tree: 160 bytes a change); at most 64
    now from 3M steps (the walk of the knots has a fixed ~50 MB on top, 62 bytes a step at 2M;
    ~47 at 5M in benchmarks/speed.py, ~49 by peak RSS)."""
    fitted, n = sample_fits[1], 3_000_000
    schedule = make_schedule(kind, steps=n, peak=3e-4, warmup=2160, **options)
    assert np.count_nonzero(np.diff(schedule.per_step(n))) > 0.99 * n
    peak = traced_peak(lambda: fitted.predict(schedule, with_stderr=False))
    assert peak / n <= 64


def test_a_dense_log_is_fitted_on_evenly_thinned_points():
    from lrcurve.fit_window import fit_points, fit_window

    steps = np.arange(1, 5001)
    run = synthetic_run(
        "dense", make_schedule("cosine", steps=5000, peak=1e-3, warmup=50), TRUE, steps
    )
    window = np.flatnonzero(fit_window(run, 0.05))
    thinned = fit_points(run, 0.05, limit=100)
    assert thinned.size == 100 and thinned[0] == window[0] and thinned[-1] == window[-1]
    gaps = np.diff(run.steps[thinned])
    assert gaps.max() - gaps.min() <= 1  # evenly spread over the window
    assert np.array_equal(fit_points(run, 0.05, limit=window.size), window)


def test_an_interval_reaching_below_zero_is_said_naming_what_the_fit_does_not_pin(samples):
    """A fit that does not pin its parameters (runs confounding two of them) gave a loss
    interval reaching below 0 with exit 0 and no word."""
    from dataclasses import replace

    runs = [read_runs(samples / f, warmup_steps=2160)[0] for f in ("constant.csv", "cosine.csv")]
    fitted = fit(runs, backtest=False)
    schedule = make_schedule("wsd", steps=23936, peak=3e-4, warmup=2160, decay=0.2)
    assert not any("below 0" in w for w in fitted.predict(schedule).warnings)
    blown = replace(
        fitted,
        covariance=fitted.covariance * 1e10,
        params=tuple(
            replace(p, stderr=p.stderr * 1e5 if p.name in ("C", "lam") else p.stderr)
            for p in fitted.params
        ),
    )
    prediction = blown.predict(schedule)
    assert prediction.lower.min() <= 0
    (said,) = [w for w in prediction.warnings if "below 0" in w]
    assert "the 90 % interval reaches below 0 from step" in said
    assert "the fit does not pin C, lam" in said
    assert "the interval reaches below 0" in prediction.extrapolating


def test_finite_difference_derivatives_hold_for_a_parameter_at_its_bound_of_zero():
    law = _FiniteDifferences()
    schedule = make_schedule("cosine", steps=5000, peak=1e-3, floor=0.1)
    prepared = law.prepare(LRHistory.of(schedule, 5000), np.arange(100, 5001, 100))
    theta = np.array(TRUE)
    theta[0] = 1e-8  # L0 at its lower bound of 0, as size-aware fits leave it
    assert law.derivatives(theta, prepared)[:, 0] == pytest.approx(1.0, rel=1e-6)


def test_a_bound_warning_kept_by_an_older_fit_file_is_dropped_on_load(samples):
    """Fit files written before 2026-11-30 kept 'parameter lam = 0.9999 is at its bound [...]'
    among their warnings, which every predict repeated; the table's note says it now."""
    run = read_runs(samples / "constant.csv", warmup_steps=2160)[0]
    data = fit([run], backtest=False).to_dict()
    kept = "the runs differ in tokens per step: ..."
    data["warnings"] = ["parameter lam = 0.9999 is at its bound [0.99, 0.9999]", kept]
    assert FittedLaw.from_dict(data).warnings == (kept,)


@pytest.mark.parametrize("damage", ["spike", "rise", "another model"])
def test_a_fit_that_misses_a_run_says_so(sample_fits, damage):
    """Review 11: one loss of 50, or a loss rising over the last fifth, were fitted with R^2
    near 0 and no word; so would a run of another model (its loss 5 % higher); the healthy fit
    says nothing."""
    from dataclasses import replace

    from lrcurve.fitted_history import MISFIT_WARNING, worst_misfit

    healthy = sample_fits[0]  # the default law on the sample constant and cosine runs
    constant, cosine = healthy.runs
    assert not any("misses run" in w for w in healthy.warnings)
    assert all(worst_misfit(healthy, run)[0] < MISFIT_WARNING / 2 for run in healthy.runs)
    loss = cosine.loss.copy()
    if damage == "spike":
        loss[100] = 50.0
        bad = replace(cosine, loss=loss)
    elif damage == "rise":
        tail = cosine.steps > 0.8 * cosine.last_step
        loss[tail] *= 1 + 0.002 * np.arange(tail.sum())
        bad = replace(cosine, loss=loss)
    else:
        bad = replace(cosine, loss=loss * np.linspace(1.0, 1.1, loss.size))
    said = [w for w in fit([constant, bad], backtest=False).warnings if "misses run" in w]
    assert len(said) == 1 and "misses run cosine by" in said[0], said


def test_the_library_refuses_steps_and_losses_no_reader_would_give(sample_fits):
    """Review 11: curve() at step 0 gave the last step's loss, at -1 the one before; fit() of
    negated losses returned numbers, of a NaN loss a LinAlgError, of lists a TypeError."""
    from dataclasses import replace

    from lrcurve.errors import InputError, ParameterError

    fitted = sample_fits[0]
    constant, cosine = fitted.runs
    for steps in ([0, 24000], [-1, 24000], [np.nan], [1.5], [10**12]):
        with pytest.raises(ParameterError, match="whole numbers from 1"):
            fitted.curve(cosine.schedule, np.array(steps))
    assert fitted.curve(cosine.schedule, np.array([], dtype=int)).size == 0
    for n in (0, -5, 3000.5, True):
        with pytest.raises(ParameterError, match="a whole number of steps"):
            fitted.predict(cosine.schedule, n)
    for n in (np.array(24000), 24000.0, np.int32(24000)):  # whole numbers however written
        assert fitted.predict(cosine.schedule, n, level=None).steps[-1] == 24000
    nan = np.where(np.arange(constant.loss.size) == 5, np.nan, constant.loss)
    for bad in (replace(constant, loss=-constant.loss), replace(constant, loss=nan)):
        with pytest.raises(InputError, match="the warmup must be finite positive numbers"):
            fit([bad, cosine], backtest=False)
    with pytest.raises(InputError, match="steps must increase from 1"):
        fit([replace(constant, steps=constant.steps[::-1].copy()), cosine], backtest=False)
    listed = Run("listed", list(constant.steps), list(constant.loss), constant.schedule)
    by_name = fit([listed, cosine], "momentum", backtest=False)
    assert by_name.values == pytest.approx(fitted.values, rel=1e-6)
