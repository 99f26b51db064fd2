import numpy as np
import pytest

from lrcurve import MomentumLaw, fit, make_schedule, read_runs
from lrcurve.fitting import FittedLaw, moving_parameters
from lrcurve.laws import make_law
from lrcurve.laws.base import FitData, LRHistory
from lrcurve.metrics import score
from lrcurve.runs import Run


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
    assert fitted.converged and not any("at its bound" in w for w in fitted.warnings)
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
    # a fitted WSD run (falling 13 % of the peak within 256 steps) puts the sharp cooldown inside the regime
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


def test_finite_difference_derivatives_match_the_momentum_law_written_out():
    from lrcurve.areas import forward_area
    from lrcurve.laws.base import LRHistory

    law = MomentumLaw()
    schedule = make_schedule("cosine", steps=5000, peak=1e-3, floor=0.1)
    steps = np.arange(100, 5001, 100)
    prepared = law.prepare(LRHistory.of(schedule, 5000), steps)
    theta = np.array(TRUE)
    derivatives = law.derivatives(theta, prepared)
    s1 = forward_area(LRHistory.of(schedule, 5000).lr)[steps - 1]
    L0, A, alpha = theta[:3]
    assert derivatives[:, 0] == pytest.approx(1.0, rel=1e-6)
    assert derivatives[:, 1] == pytest.approx(s1**-alpha, rel=1e-5)
    assert derivatives[:, 2] == pytest.approx(-A * np.log(s1) * s1**-alpha, rel=1e-4)


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
