import json
from dataclasses import dataclass

import numpy as np
import pytest

from lrcurve import fit, read_runs
from lrcurve.errors import InputError, ParameterError
from lrcurve.fitting import FittedLaw, Parameter
from lrcurve.laws.base import Law, LRHistory
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.optimize import (
    cosine_candidates,
    default_baseline,
    predicted_losses,
    recognise,
    rewarmup_candidates,
    search,
    wsd_candidates,
)
from lrcurve.schedules import make_schedule
from tests.conftest import SAMPLES, data_path
from tests.test_cli import lrcurve

WARMUP, PEAK = 2160, 3e-4


def fit_shared(size):
    folder = data_path("multipowerlaw", size)
    runs = [
        read_runs(folder / f"{name}_24000.csv", warmup_steps=WARMUP)[0]
        for name in ("constant", "cosine")
    ]
    return fit(runs)


@pytest.fixture(scope="module", params=["csv_25", "csv_100"])
def fitted(request):
    return fit_shared(request.param)


def run_search(fitted, family, candidates, steps):
    baseline, label = default_baseline(fitted.runs, steps, PEAK, WARMUP)
    return search(fitted, family, candidates, baseline, label, steps=steps)


# --- evaluation ------------------------------------------------------------------------


class MomentumCopy(MomentumLaw):
    """The momentum law under another class: no fast path, so the generic one runs."""


def test_fast_path_matches_generic_path_and_full_prediction(fitted):
    candidates = wsd_candidates(
        30000, PEAK, WARMUP, fractions=(0.05, 0.2, 0.5), shapes=("linear", "sqrt")
    )
    candidates += cosine_candidates(30000, PEAK, WARMUP, periods=(0.7, 1.2), floors=(0.0, 0.1))
    schedules = [c.schedule for c in candidates]
    for at_step in (30000, 12345):
        fast = predicted_losses(fitted, schedules, at_step)
        generic = predicted_losses(fitted, schedules, at_step, fast=False)
        assert fast == pytest.approx(generic, rel=1e-12, abs=1e-12)
    full = [fitted.predict(s, with_stderr=False).final_loss for s in schedules]
    assert predicted_losses(fitted, schedules, 30000) == pytest.approx(full, rel=1e-12)
    other = FittedLaw(
        MomentumCopy(),
        fitted.params,
        fitted.runs,
        fitted.skip_fraction,
        fitted.covariance,
        True,
        "",
    )
    assert predicted_losses(other, schedules, 30000) == pytest.approx(full, rel=1e-12)


def test_fast_path_takes_each_schedules_peak_lr_with_the_laws_peak_exponents(fitted):
    # a momentum law with peak exponents (the momentum-size law's fit at one size) scales A
    # and C with each schedule's peak LR; the fast path summed the areas without it
    law = MomentumLaw(peak_exponents=(0.8, 1.5))
    at_size = FittedLaw(
        law, fitted.params, fitted.runs, fitted.skip_fraction, fitted.covariance, True, ""
    )
    schedules = [
        make_schedule("wsd", steps=20000, peak=peak, warmup=WARMUP, decay=0.2)
        for peak in (PEAK, PEAK / 2, 2 * PEAK)
    ]
    fast = predicted_losses(at_size, schedules, 20000)
    assert fast == pytest.approx(predicted_losses(at_size, schedules, 20000, fast=False))
    assert fast[1] != pytest.approx(predicted_losses(fitted, schedules[1:2], 20000)[0])


@dataclass(frozen=True)
class AreaLaw(Law):
    """A toy law for known answers: the loss falls linearly with the forward area."""

    name = "area"
    formula = "L = L0 - k*S1"
    reference = "test"
    param_names = ("L0", "k")

    def bounds(self):
        return np.array([0.0, 0.0]), np.array([np.inf, np.inf])

    def prepare(self, history, steps):
        return np.cumsum(history.lr)[np.asarray(steps) - 1]

    def evaluate(self, theta, prepared):
        return theta[0] - theta[1] * prepared


def test_any_law_works_through_the_generic_path_with_known_answers(fitted):
    params = (
        Parameter("L0", 5.0, 0.01, 0.0, np.inf),
        Parameter("k", 1.0, 1.0, 0.0, np.inf),
    )  # losses stay positive
    area = FittedLaw(AreaLaw(), params, fitted.runs, 0.05, np.diag([1e-4, 1.0]), True, "")
    steps = 10000
    wsd = run_search(
        area, "wsd", wsd_candidates(steps, PEAK, 100, fractions=(0.1, 0.3, 0.5)), steps
    )
    # most LR area: the shortest decay with the slowest-falling shape (1-square is not searched;
    # cosine > linear)
    assert wsd.best.params["decay"] == 0.1 and wsd.best.params["shape"] == "cosine"
    best_area = LRHistory.of(wsd.best.schedule, steps).lr.sum()
    assert wsd.best_loss == pytest.approx(5.0 - 1.0 * best_area, rel=1e-12)
    cos = run_search(
        area,
        "cosine",
        cosine_candidates(steps, PEAK, 100, periods=(0.5, 1.0, 1.5), floors=(0.0, 0.2)),
        steps,
    )
    assert cos.best.params["period_fraction"] == 1.5 and cos.best.params["floor"] == 0.2
    # gain's standard error from the covariance: only k matters, se = area difference * se(k)
    area_diff = (
        LRHistory.of(cos.baseline, steps).lr.sum() - LRHistory.of(cos.best.schedule, steps).lr.sum()
    )
    assert cos.gain_stderr == pytest.approx(abs(area_diff) * 1.0, rel=1e-4)


def test_grids_reject_bad_values():
    with pytest.raises(InputError, match="shape"):
        wsd_candidates(1000, PEAK, 0, shapes=("wobbly",))
    with pytest.raises(InputError, match="fractions"):
        wsd_candidates(1000, PEAK, 0, fractions=(0.1, 1.5))
    with pytest.raises(ParameterError, match="2000") as caught:
        rewarmup_candidates(make_schedule("cosine", steps=1000, peak=PEAK), 2000, 1500, PEAK)
    assert caught.value.param == "at_step"  # the re-warmup start


def test_recognises_the_shared_runs_schedules():
    folder = data_path("multipowerlaw", "csv_25")
    read = lambda name: read_runs(folder / f"{name}.csv", warmup_steps=WARMUP)[0].schedule  # noqa: E731
    assert recognise(read("constant_24000")) == ("constant", {})
    name, options = recognise(read("cosine_72000"))
    assert name == "cosine" and options["floor"] == pytest.approx(0.1, abs=1e-3)
    name, options = recognise(read("wsdld_20000_24000"))
    assert (
        name == "wsd"
        and options["shape"] == "linear"
        and options["decay"] == pytest.approx(4000 / 24000, abs=0.01)
    )
    assert recognise(make_schedule("wsd", steps=5000, peak=PEAK, decay=0.3, shape="sqrt")) == (
        "wsd",
        {"decay": 0.3, "shape": "sqrt", "floor": 0.0},
    )


# --- the momentum-law paper's findings, on real fits (Tissue et al. 2408.11029, sec. 5) ------


def test_cosine_best_with_floor_zero_and_period_near_the_total_steps(fitted):
    steps = 72000
    result = run_search(fitted, "cosine", cosine_candidates(steps, PEAK, WARMUP), steps)
    assert result.best.params["floor"] == 0.0
    # among periods that end by the last step (the usual practice) the full length wins ...
    within = [i for i, c in enumerate(result.candidates) if c.params["period_fraction"] <= 1.0]
    assert (
        result.candidates[min(within, key=lambda i: result.loss[i])].params["period_fraction"]
        == 1.0
    )
    # ... and the law prefers a period slightly longer than the run, by a small margin
    assert 1.0 <= result.best.params["period_fraction"] <= 1.3
    at_full = min(result.loss[i] for i in within)
    assert 0 < at_full - result.best_loss < 0.01
    # a floor of 0 beats 10 % at the full period
    by = {
        (c.params["period_fraction"], c.params["floor"]): v
        for c, v in zip(result.candidates, result.loss)
    }
    assert by[(1.0, 0.0)] < by[(1.0, 0.1)]


def test_wsd_best_decay_fraction_is_10_to_30_percent_and_shrinks_with_the_horizon(fitted):
    best = {}
    for steps in (24000, 72000, 100000):
        result = run_search(fitted, "wsd", wsd_candidates(steps, PEAK, WARMUP), steps)
        best[steps] = result.best_per_series()
        assert result.gain > 0  # beats cosine to 10 %
        for shape, (fraction, _) in best[steps].items():
            assert 0.1 <= fraction <= 0.3, (steps, shape, fraction)
    assert 0.1 <= min(f for f, _ in best[100000].values()) <= 0.2
    for shape in ("linear", "sqrt", "cosine"):
        assert best[24000][shape][0] >= best[72000][shape][0] >= best[100000][shape][0]
    assert any(best[24000][s][0] > best[100000][s][0] for s in best[24000])


def test_sqrt_beats_cosine_shape_at_short_decays_and_cosine_wins_at_50_percent(fitted):
    fractions = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
    crossover = {}
    for steps in (24000, 72000):
        result = run_search(
            fitted, "wsd", wsd_candidates(steps, PEAK, WARMUP, fractions, ("sqrt", "cosine")), steps
        )
        curves = result.curves()
        sqrt_better = curves["sqrt"][1] < curves["cosine"][1]
        assert sqrt_better[0] and not sqrt_better[-1]  # sqrt wins at 5 %, cosine at 50 %
        crossover[steps] = fractions[
            int(np.argmin(sqrt_better))
        ]  # first fraction where cosine wins
    assert sqrt_better.tolist() == sorted(sqrt_better.tolist(), reverse=True)  # one crossover
    assert crossover[24000] > 0.1  # at the fitted horizon: sqrt wins at 10 %
    assert crossover[72000] <= crossover[24000]  # the crossover moves to shorter decays


def test_rewarmup_max_lr_depends_on_the_continual_pretraining_length(fitted):
    base = fitted.runs[1].schedule  # cosine to 10 %
    short = rewarmup_candidates(
        base, 24000, 25500, PEAK, max_lrs=(0.1, 0.3, 0.5, 1.0), warmups=(0, 500)
    )
    long = rewarmup_candidates(
        base, 24000, 48000, PEAK, max_lrs=(0.1, 0.3, 0.5, 1.0), warmups=(0, 500)
    )
    baseline = make_schedule("cosine", steps=48000, peak=PEAK, warmup=WARMUP)
    short_best = search(fitted, "rewarmup", short, baseline, "b", steps=25500).best.params
    long_best = search(fitted, "rewarmup", long, baseline, "b", steps=48000).best.params
    assert short_best["max_lr_fraction"] == 0.1 and short_best["rewarmup"] == 0
    assert long_best["max_lr_fraction"] == 1.0


# --- the command ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("opt")
    folder = data_path("multipowerlaw", "csv_25")
    r = lrcurve(
        "fit", folder / "constant_24000.csv", folder / "cosine_24000.csv", "--warmup", WARMUP, cwd=d
    )
    assert r.returncode == 0, r.stderr
    return d


def test_optimize_wsd_json_and_plot(fit_dir):
    r = lrcurve(
        "optimize",
        "--family",
        "wsd",
        "--steps",
        72000,
        "--shapes",
        "linear,sqrt",
        "--json",
        "--plot",
        "wsd.png",
        cwd=fit_dir,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["candidates"]) == 26 and out["best"]["shape"] in ("linear", "sqrt")
    assert out["best"]["loss"] == min(c["loss"] for c in out["candidates"])
    ranked = sorted(out["candidates"], key=lambda c: c["rank"])  # the table's order
    assert [c["rank"] for c in ranked] == list(range(1, 27)) and ranked[0]["x"] == out["best"]["x"]
    assert all(a["loss"] <= b["loss"] for a, b in zip(ranked, ranked[1:]))
    assert out["gain"] == pytest.approx(out["baseline"]["loss"] - out["best"]["loss"])
    assert 0 < out["gain_stderr"] < out["gain"]
    assert (
        "cosine to 10 %" in out["baseline"]["label"]
        and "baseline" in r.stderr
        and "peak=0.0003" in r.stderr
    )
    # fitted on a constant and a cosine to 10 %, a WSD to zero is outside what the fit saw
    # (one line on stderr, the detail in the JSON)
    assert "; the best candidate: LR falls to 0" in r.stderr
    assert "warning" not in r.stderr
    assert any(
        w.startswith("the best candidate: the LR falls to 0, below half the fitted runs' lowest")
        for w in out["warnings"]
    )
    assert (fit_dir / "wsd.png").stat().st_size > 10_000
    again = lrcurve(
        "optimize", "--family", "wsd", "--steps", 72000, "--plot", "wsd.png", cwd=fit_dir
    )
    assert again.returncode == 2 and "--force" in again.stderr


def test_optimize_cosine_table_with_a_given_baseline(fit_dir):
    r = lrcurve(
        "optimize",
        "lrcurve.fit.json",
        "--family",
        "cosine",
        "--steps",
        30000,
        "--periods",
        "0.8,1,1.2",
        "--floors",
        "0,0.1",
        "--baseline",
        "wsd",
        "--decay",
        0.2,
        "--shape",
        "sqrt",
        cwd=fit_dir,
    )
    assert r.returncode == 0, r.stderr
    assert "trade-off" in r.stdout and "wsd(" in r.stdout and "gain over the baseline" in r.stdout
    like_the_fit = lrcurve(
        "optimize",
        "lrcurve.fit.json",
        "--family",
        "cosine",
        "--steps",
        30000,
        "--periods",
        "1",
        "--floors",
        "0.1",
        cwd=fit_dir,
    )
    assert like_the_fit.returncode == 0 and "best candidate" not in like_the_fit.stderr


def test_optimize_takes_flags_for_its_baseline_and_wsd_phase(fit_dir):
    for args in (
        ("--family", "wsd", "--baseline", "wsd", "--decay", 0.3),
        ("--family", "rewarmup", "--then", "wsd", "--decay", 0.3),
        ("--family", "rewarmup", "--baseline", "wsd"),
        ("--family", "wsd", "--baseline", "rewarmup", "--at-step", 12000),
    ):
        r = lrcurve("optimize", *args, "--steps", 30000, "--top", 1, cwd=fit_dir)
        assert r.returncode == 0, (args, r.stderr)


def test_optimize_rewarmup_at_step(fit_dir):
    r = lrcurve(
        "optimize",
        "--family",
        "rewarmup",
        "--at-step",
        24000,
        "--steps",
        30000,
        "--score-step",
        29000,
        "--max-lrs",
        "0.2,0.6,1",
        "--rewarmups",
        "0,300",
        "--json",
        cwd=fit_dir,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["at_step"] == 29000 and len(out["candidates"]) == 6 and "cosine_24000" in r.stderr


def test_a_wsd_search_leaves_out_decays_that_would_start_inside_the_warmup(fit_dir):
    """Review 11: at 4000 steps after a 2160-step warmup the 50 % and 60 % decays never reached
    the peak yet were ranked; they are left out of the default grid, refused when asked for,
    and a horizon where every default decay does so is refused."""
    r = lrcurve("optimize", "--family", "wsd", "--steps", 4000, "--json", cwd=fit_dir)
    assert r.returncode == 0, r.stderr
    assert max(c["x"] for c in json.loads(r.stdout)["candidates"]) == 0.4
    refused = lrcurve("optimize", "--steps", 4000, "--fractions", "0.1,0.5", cwd=fit_dir)
    assert refused.returncode == 2 and refused.stderr.startswith("lrcurve: error: --fractions")
    assert "0.5: a decay over that share of 4000 steps starts inside" in refused.stderr
    short = lrcurve("optimize", "--steps", 2200, cwd=fit_dir)
    assert short.returncode == 2 and "every default decay of 2200 steps" in short.stderr


def test_a_rewarmup_search_decays_to_the_baselines_floor_and_cannot_bound_the_max_lr(fit_dir):
    """The candidates end at the LR the default baseline ends at (cosine to 10 %, like the base
    run), so the gain is the re-warmup's own; a best max LR at the top of the grid and at the
    fitted peak is not said to have an optimum beyond it: the law rewards LR without limit."""
    args = ("optimize", "--family", "rewarmup", "--at-step", 24000, "--steps", 48000, "--json")
    r = lrcurve(*args, "--max-lrs", "0.5,0.8,1,2", "--rewarmups", "0,1000", cwd=fit_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    floors = {c["floor"] for c in out["candidates"]}
    assert len(floors) == 1 and floors.pop() == pytest.approx(0.1, abs=1e-3)
    assert "floor=0.1" in r.stderr and "to 10 %" in out["baseline"]["label"]
    assert "may lie beyond" not in r.stderr
    assert "cannot place an optimum above the fitted peak (0.0003)" in r.stderr
    # a floor asked for is the floor searched
    r = lrcurve(*args, "--max-lrs", "0.5,1", "--rewarmups", "0", "--floors", "0", cwd=fit_dir)
    assert {c["floor"] for c in json.loads(r.stdout)["candidates"]} == {0.0}
    assert "floor=" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (("--family", "linear"), "--family"),
        (("--family", "wsd", "--fractions", "0.1,abc"), "--fractions"),
        (
            ("--family", "wsd", "--score-step", 99999),
            "--score-step: 99999 must be between 1 and steps",
        ),
        # --at-step is the re-warmup start, as in predict; the scoring step is --score-step
        (("--family", "wsd", "--at-step", 1000), "--at-step applies to --family rewarmup"),
        (("--family", "wsd", "--baseline", "nope"), "--schedule"),
        # the power family needs flags optimize has not; --then multistep searched constant
        # schedules
        (("--family", "wsd", "--baseline", "power"), "--baseline power: optimize has no --a"),
        (
            ("--family", "wsd", "--baseline", "rewarmup", "--then", "power"),
            "--baseline rewarmup --then power: optimize has no --a",
        ),
        (
            ("--family", "rewarmup", "--then", "power"),
            "--then: the re-warmup search's new phase is one of constant, cosine, wsd, cyclic, "
            "got 'power'",
        ),
        (
            ("--family", "rewarmup", "--then", "multistep"),
            "--then: the re-warmup search's new phase is one of constant, cosine, wsd, cyclic, "
            "got 'multi",
        ),
        # flags that do not apply to the search or the baseline were silently ignored
        (("--family", "cosine", "--shapes", "sqrt"), "--shapes does not apply to --family cosine"),
        (("--family", "wsd", "--periods", "1"), "--periods does not apply to --family wsd"),
        (
            ("--family", "wsd", "--then", "power"),
            "--then applies to --family rewarmup or --baseline rewarmup only",
        ),
        (
            ("--family", "wsd", "--base-run", "x"),
            "--base-run applies to --family rewarmup or --baseline rewarmup only",
        ),
        (("--family", "wsd", "--decay", 0.3), "--decay applies to the --baseline schedule"),
        (("--family", "rewarmup", "--decay", 0.3), "--decay applies to the --baseline schedule"),
        (("--family", "wsd", "--floor", 0.1), "--floor applies to the --baseline schedule"),
        (
            ("--family", "wsd", "--baseline", "cosine", "--decay", 0.3),
            "--decay does not apply to --schedule cosine",
        ),
        # the start of a rewarmup baseline is --at-step (default: the base run's end)
        (
            ("--family", "wsd", "--steps", 23920, "--baseline", "rewarmup"),
            "--at-step: 23920 (the end of run cosine_24000) must be",
        ),
        (("--family", "wsd", "--peak", "1e-30"), "--peak: peak LR 1e-30 is outside [1e-20, 1e+20]"),
        (
            ("--family", "rewarmup", "--peak", "1e308"),
            "--peak: peak LR 1e+308 is outside [1e-20, 1e+20]",
        ),
    ],
)
def test_optimize_bad_input_is_one_line(fit_dir, args, message):
    r = lrcurve("optimize", *args, cwd=fit_dir)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("rewarmups", ["nan", "1e400", "0.5", "100,-1", "7000"])
def test_optimize_refuses_rewarmup_lengths_that_are_not_whole_steps_of_the_phase(
    fit_dir, rewarmups
):
    # nan and 1e400 were an internal error from int(); 0.5 was silently truncated to 0
    r = lrcurve(
        "optimize",
        "--family",
        "rewarmup",
        "--at-step",
        24000,
        "--steps",
        30000,
        "--rewarmups",
        rewarmups,
        cwd=fit_dir,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    error = r.stderr.splitlines()[-1]
    assert error.startswith("lrcurve: error: --rewarmups") and "internal" not in error, error


def test_law_fitted_on_124m_runs_picks_the_measured_best_cooldown_fraction():
    """The ann124 sweep measured linear cooldowns of 10-90 % at 25k steps (lr 1e-3); the
    momentum law fitted on the constant and cosine runs of the same model ranks them."""
    from lrcurve import read_runs
    from lrcurve.opinions import against_measured, measured_bests

    data = data_path("lr-scheduling", "data")
    fitted = fit(
        read_runs(next(data.glob("stable-124m_*_lr0.001_*iter50000*.json")))
        + read_runs(next(data.glob("cos-10-124m_*_lr0.001_*iter25000*.json")))
    )
    sweep = [
        r
        for f in sorted(data.glob("ann124-0.*_lr0.001_*decay_linear_0.*_iter25000_*.json"))
        for r in read_runs(f)
    ]
    scored = against_measured(fitted, sweep)
    assert len(scored) == 6
    ((measured_best, predicted_best),) = measured_bests(scored).values()
    assert measured_best.label == "wsd (linear, 60 % decay) to 0 %"
    assert predicted_best is measured_best
    # the law is close where it matters (near the optimum) and pessimistic for short cooldowns
    near = [m for m in scored if "40 %" in m.label or "60 %" in m.label]
    assert all(abs(m.error_percent) < 0.3 for m in near)
    assert all(m.error_percent > 0 for m in scored)


def test_other_laws_score_the_same_candidates_and_report_disagreement(tmp_path):
    from lrcurve.fitfile import save_fit
    from tests.test_fuzz import run_cli

    runs = read_runs(SAMPLES / "constant.csv", warmup_steps=2160) + read_runs(
        SAMPLES / "cosine.csv", warmup_steps=2160
    )
    save_fit(fit(runs, MomentumLaw()), tmp_path / "actual.json")
    save_fit(fit(runs, MomentumLaw(warmup="peak")), tmp_path / "peak.json")
    code, out, err = run_cli(
        tmp_path,
        "optimize",
        "actual.json",
        "--family",
        "wsd",
        "--steps",
        "72000",
        "--also",
        "peak.json",
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    (other,) = result["other_laws"]
    assert other["law"] == "momentum" and len(other["losses"]) == len(result["candidates"])
    ours = [c["loss"] for c in result["candidates"]]
    assert other["rank_of_our_best"] == 1 + sum(
        v < other["losses"][ours.index(min(ours))] for v in other["losses"]
    )
    assert other["best"]["loss"] == pytest.approx(min(other["losses"]))
    # each law's own tie set, and theirs together (review 10: the search's tie set alone hid
    # that the other law picks elsewhere)
    ours_tied = [c["label"] for c in result["tie_set"]]
    assert other["best"]["label"] in other["tie_set"]
    union = result["tie_set_of_the_laws"]
    assert union[: len(ours_tied)] == ours_tied and set(other["tie_set"]) <= set(union)
    assert len(union) == len(set(ours_tied) | set(other["tie_set"]))
    code, out, err = run_cli(
        tmp_path, "optimize", "actual.json", "--family", "wsd", "--steps", "72000",
        "--also", "peak.json",
    )  # fmt: skip
    (said,) = [line for line in out.splitlines() if line.startswith("tie set of the laws")]
    assert f"{len(union)} of {len(result['candidates'])} candidates" in said


def test_search_and_the_setting_refuse_a_score_step_past_the_end_alike(fitted):
    steps = 30000
    baseline, label = default_baseline(fitted.runs, steps, PEAK, WARMUP)
    candidates = wsd_candidates(steps, PEAK, WARMUP)
    with pytest.raises(ParameterError) as error:
        search(fitted, "wsd", candidates, baseline, label, steps=steps, at_step=steps + 1)
    assert error.value.param == "score_step"
    assert str(error.value) == f"score_step: {steps + 1} must be between 1 and steps ({steps})"
    with pytest.raises(ParameterError, match="must be one of wsd, cosine, rewarmup") as error:
        search(fitted, "linear", candidates, baseline, label, steps=steps)
    assert error.value.param == "family"


def test_optimize_writes_every_candidate_as_csv_not_just_the_top(fit_dir):
    import csv

    r = lrcurve(
        "optimize", "--steps", 72000, "--shapes", "linear,sqrt", "--top", 3, "-o", "all.csv",
        cwd=fit_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "wrote all.csv" in r.stdout
    text = (fit_dir / "all.csv").read_text()
    assert text.splitlines()[0] == (
        "rank,setting,shape,decay,floor,loss,lower,upper,vs_best,vs_best_lower,vs_best_upper,"
        "tied,vs_baseline"
    )
    rows = list(csv.DictReader(text.splitlines()))
    js = json.loads(lrcurve("optimize", "--steps", 72000, "--shapes", "linear,sqrt", "--json",
                            cwd=fit_dir).stdout)  # fmt: skip
    assert len(rows) == 26 + 1 and rows[-1]["setting"].startswith("baseline: ")  # all 26, then it
    ranked = rows[:-1]
    assert [int(row["rank"]) for row in ranked] == list(range(1, 27))
    losses = [float(row["loss"]) for row in ranked]
    assert losses == sorted(c["loss"] for c in js["candidates"])
    assert float(ranked[0]["vs_baseline"]) == pytest.approx(-js["gain"])
    assert {row["shape"] for row in ranked} == {"linear", "sqrt"}
    # the CLI's output checks: an existing file needs --force, -o and --plot are two files
    again = lrcurve("optimize", "--steps", 72000, "-o", "all.csv", cwd=fit_dir)
    assert again.returncode == 2 and "--force" in again.stderr
    same = lrcurve("optimize", "-o", "x.png", "--plot", "x.png", cwd=fit_dir)
    assert same.returncode == 2 and "-o and --plot" in same.stderr
    fit_file = lrcurve("optimize", "-o", "lrcurve.fit.json", "--force", cwd=fit_dir)
    assert fit_file.returncode == 2 and "one of the inputs" in fit_file.stderr


def test_optimize_says_when_its_intervals_reach_below_zero(fitted):
    from dataclasses import replace

    from lrcurve.optimize import SearchRequest, optimize

    request = SearchRequest(fractions=(0.2,), shapes=("linear",))
    assert not any("below 0" in w for w in optimize(fitted, request).warnings)
    loose = replace(fitted, covariance=fitted.covariance * 1e8)  # parameters pinned by nothing
    said = [w for w in optimize(loose, request).warnings if "below 0" in w]
    assert said and "the 90 % interval reaches below 0 for some losses" in said[0]


def test_a_rewarmup_after_the_base_runs_last_log_says_the_held_gap(fit_dir):
    """Review 11: --at-step 30000 after a run logged to 23920 held its last LR over the gap
    without a word; a start within 1 % of the run past its last log says nothing."""
    args = ("--family", "rewarmup", "--steps", 48000, "--max-lrs", "1", "--rewarmups", "0")
    far = lrcurve("optimize", *args, "--at-step", 30000, cwd=fit_dir)
    assert far.returncode == 0, far.stderr
    assert (
        "was logged to step 23920: its last LR, 3.00089e-05, is taken as held to the "
        "re-warmup at step 30000" in far.stderr
    )
    near = lrcurve("optimize", *args, "--at-step", 24000, cwd=fit_dir)
    assert near.returncode == 0 and "was logged to step" not in near.stderr
