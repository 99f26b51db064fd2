import json
from types import SimpleNamespace

import numpy as np
import pytest

from lrcurve import make_schedule, read_runs
from lrcurve.compare import (
    Comparison,
    Heldout,
    LawResult,
    LeftOut,
    build_laws,
    compare,
    late_window,
)
from lrcurve.errors import InputError
from lrcurve.fitting import FittedLaw, fit_window
from lrcurve.laws.base import LRHistory
from lrcurve.laws.forward_momentum import ForwardMomentumLaw
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.laws.multipower import MultiPowerLaw
from lrcurve.runs import Run
from tests.conftest import SAMPLES
from tests.conftest import run_lrcurve as lrcurve

THETA = np.array([2.9, 0.55, 0.5, 380.0, 2.0, 0.6, 0.65])


def mpl_run(name, schedule, noise_seed):
    steps = np.arange(2200, 24001, 128)
    loss = MultiPowerLaw().predict(THETA, LRHistory.of(schedule, 24000), steps)
    loss *= 1 + 2e-4 * np.random.default_rng(noise_seed).standard_normal(loss.size)
    return Run(name, steps, loss, schedule)


HOLDOUT = ("compare", SAMPLES / "constant.csv", SAMPLES / "cosine.csv", "--holdout",
           SAMPLES / "wsd.csv", "--warmup", 2160)  # fmt: skip


@pytest.fixture(scope="module")
def holdout(tmp_path_factory):
    """``compare`` of the constant and cosine runs, WSD held out, run once for the tests of its
    outputs (each full compare fits three laws and backtests them): ``json`` (--json at
    --level 0.8, with the plot and the CSV table written), ``table`` (the rich table at the
    default level, with its plot), and the folder they wrote to."""
    folder = tmp_path_factory.mktemp("compare")
    flags = ("--plot", "cmp.png", "-o", "cmp.csv", "--json", "--level", 0.8)
    runs = {
        "json": lrcurve(*HOLDOUT, *flags, cwd=folder),
        "table": lrcurve(*HOLDOUT, "--plot", "table.png", cwd=folder),
    }
    for r in runs.values():
        assert r.returncode == 0, r.stderr
    return SimpleNamespace(folder=folder, **runs)


def test_compare_picks_the_law_that_generated_the_data():
    def multistep(at, factor):
        return make_schedule(
            "multistep", steps=24000, peak=3e-4, warmup=2160, milestones=at, factors=factor
        )

    runs = [
        mpl_run("constant", make_schedule("constant", steps=24000, peak=3e-4, warmup=2160), 1),
        mpl_run("two drops", multistep((10000, 17000), (0.3, 0.1)), 2),
    ]
    held = [mpl_run("one drop", multistep((14000,), (0.05,)), 3)]
    result = compare(runs, held)
    assert result.method == "holdout"
    assert result.best.name == "multipower"
    by_name = {r.name: r for r in result.results}
    noise_mape = 100 * 2e-4 * np.sqrt(2 / np.pi)  # mean |N(0, 2e-4)| in percent
    assert by_name["multipower"].mape < 1.2 * noise_mape
    assert by_name["momentum"].mape > 2 * by_name["multipower"].mape
    assert by_name["multipower"].aic < by_name["momentum"].aic


def test_scoring_falls_back_to_leave_one_out_and_to_a_late_window():
    runs = read_runs(SAMPLES / "constant.csv", warmup_steps=2160) + read_runs(
        SAMPLES / "cosine.csv", warmup_steps=2160
    )
    loro = compare(runs, laws=[MomentumLaw()])
    assert loro.method == "leave-one-run-out"
    assert [h.run.name for h in loro.results[0].heldout] == ["constant", "cosine"]
    late = compare(runs[:1], laws=[MomentumLaw()])
    assert late.method == "late-window"
    (held,) = late.results[0].heldout
    assert held.run.steps.min() > 0.8 * runs[0].last_step
    assert held.fitted.runs[0].last_step <= 0.8 * runs[0].last_step
    head, tail = late_window(runs[0])
    assert head.steps.size + tail.steps.size == runs[0].steps.size


def test_compare_cli_json_and_plot(holdout):
    r = holdout.json
    out = json.loads(r.stdout)
    assert out["method"] == "holdout" and out["warnings"] == []  # the fitted runs' peak LR
    assert {law["law"] for law in out["laws"]} == {"momentum", "multipower", "forward-momentum"}
    lowest = min(law["heldout_mape"] for law in out["laws"])
    tied = [law for law in out["laws"] if law["heldout_mape"] <= 1.01 * lowest]
    assert out["tied"] == [law["law"] for law in tied]
    assert out["recommended"] == min(tied, key=lambda law: law["n_params"])["law"]
    for law in out["laws"]:
        assert [h["run"] for h in law["heldout"]] == ["wsd"]
        assert set(law["heldout"][0]) >= {"mape", "final_error", "r2"}
        assert (
            law["n_params"] == len(law["params"])
            and np.isfinite(law["aic"])
            and np.isfinite(law["bic"])
        )
        assert law["heldout_mape"] < 0.3
    assert (holdout.folder / "cmp.png").stat().st_size > 10_000
    again = lrcurve("compare", SAMPLES / "constant.csv", "--plot", "cmp.png", cwd=holdout.folder)
    assert again.returncode == 2 and "--force" in again.stderr


def test_compare_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    r = lrcurve(
        "compare", SAMPLES / "constant.csv", "--holdout", tmp_path / "missing.csv", cwd=tmp_path
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip().count("\n") == 0
        and "missing.csv" in r.stderr
        and "Traceback" not in r.stderr
    )
    r = lrcurve("compare", SAMPLES / "constant.csv", "--warmup-area", "sideways", cwd=tmp_path)
    assert r.returncode == 2 and "--warmup-area" in r.stderr and "Traceback" not in r.stderr


def test_compare_with_an_lr_exponent_fits_every_law_with_it_and_says_so(tmp_path, monkeypatch):
    """The CLI's --lr-exponent builds every law with it (build_laws), and the comparison
    says it; the library's result is the one the CLI ran (recorded, not fitted again)."""
    import lrcurve.compare as compare_module

    laws, left_out = build_laws(lr_exponent=0.7)
    assert left_out == ()
    results = []

    def recorded(*args, **kwargs):
        results.append((kwargs.get("laws"), compare(*args, **kwargs)))
        return results[-1][1]

    monkeypatch.setattr(compare_module, "compare", recorded)
    r = lrcurve(*HOLDOUT, "--lr-exponent", 0.7, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "S1 = sum eta^0.7" in r.stdout
    ((used, result),) = results
    assert list(used) == list(laws)
    assert [h.run.name for h in result.results[0].heldout] == ["wsd"]
    assert result.to_dict()["lr_exponent"] == 0.7
    assert all(r.fitted.law.options()["lr_exponent"] == 0.7 for r in result.results)


def test_aic_and_bic_come_from_the_fit_residuals_and_survive_a_fit_file():
    runs = read_runs(SAMPLES / "constant.csv", warmup_steps=2160) + read_runs(
        SAMPLES / "cosine.csv", warmup_steps=2160
    )
    (result,) = compare(runs, laws=[MomentumLaw()]).results
    rel = np.concatenate(
        [
            result.fitted.curve(r.schedule, r.steps[w]) / r.loss[w] - 1
            for r in runs
            for w in [fit_window(r, result.fitted.skip_fraction)]
        ]
    )
    n, rss, k = rel.size, float(rel @ rel), 5
    assert result.n_points == n == 341
    assert result.aic == pytest.approx(n * np.log(rss / n) + 2 * k, rel=1e-9)
    assert result.bic == pytest.approx(n * np.log(rss / n) + k * np.log(n), rel=1e-9)
    saved = result.fitted.to_dict()
    again = FittedLaw.from_dict(json.loads(json.dumps(saved)))
    assert (again.n_fit_points, again.fit_rss) == (n, pytest.approx(rss, rel=1e-9))
    old = FittedLaw.from_dict(
        {k: v for k, v in saved.items() if k not in ("n_fit_points", "fit_rss")}
    )
    assert (
        old.n_fit_points is None
        and old.fit_rss is None
        and np.allclose(old.values, result.fitted.values)
    )


def constructed(name, n_params, *mapes):
    """A LawResult with ``n_params`` parameters and these held-out MAPEs (nothing else is needed to
    rank it)."""
    fitted = SimpleNamespace(params=(None,) * n_params, held=())
    return LawResult(
        name, fitted, tuple(Heldout(None, fitted, SimpleNamespace(mape=m)) for m in mapes)
    )


def test_mapes_within_one_percent_are_a_tie_that_goes_to_the_fewest_parameters():
    small, big = (
        constructed("small", 5, 1.0, 1.02),
        constructed("big", 7, 0.99, 1.02),
    )  # means 1.01 and 1.005
    tie = Comparison("leave-one-run-out", (big, small))
    assert tie.tied == (big, small) and tie.best is small
    assert (
        "decided by parameter count: 5 vs 7" in tie.recommendation
        and "big, 1.005 %" in tie.recommendation
    )
    apart = Comparison(
        "holdout", (constructed("big", 7, 0.98), constructed("small", 5, 0.99))
    )  # 1.02 % apart
    assert apart.best.name == "big" and [r.name for r in apart.tied] == ["big"]
    assert apart.recommendation == "big (lowest mean held-out MAPE, 0.980 %)"
    same = Comparison(
        "holdout", (constructed("a", 5, 1.004), constructed("b", 5, 1.0), constructed("c", 7, 0.5))
    )
    assert same.best.name == "c"  # a and b are within 1 % of each other, not of the best
    equal = Comparison("holdout", (constructed("a", 5, 1.004), constructed("b", 5, 1.0)))
    assert (
        equal.best.name == "b"
        and equal.recommendation
        == "b (lowest mean held-out MAPE, 1.000 %; a tie within 1 % with a, 1.004 %)"
    )
    # the simpler law also predicted best: parameter count decided nothing, and the line does not
    # say it did
    simpler_and_better = Comparison(
        "holdout", (constructed("big", 7, 1.0), constructed("small", 5, 0.995))
    )
    assert simpler_and_better.best.name == "small"
    assert "parameter count" not in simpler_and_better.recommendation
    assert simpler_and_better.recommendation.startswith(
        "small (lowest mean held-out MAPE, 0.995 %; a tie within 1 % with big"
    )
    unscored = Comparison("holdout", (constructed("nan", 2, np.nan), constructed("scored", 7, 3.0)))
    assert unscored.best.name == "scored"


def test_build_laws_leaves_out_the_laws_without_the_warmup_convention():
    laws, left_out = build_laws(warmup="full", lr_exponent=0.8)
    assert laws == (
        MultiPowerLaw(warmup="full", lr_exponent=0.8),
        ForwardMomentumLaw(warmup="full", lr_exponent=0.8),
    )
    assert left_out == (
        LeftOut("momentum", 5, "no 'full' warmup convention (it has peak, actual)"),
    )
    assert [law.name for law in build_laws(warmup="peak")[0]] == [
        "momentum",
        "multipower",
        "forward-momentum",
    ]
    with pytest.raises(
        ValueError, match="no law has the warmup convention 'full'; choose from peak, actual"
    ):
        build_laws(["momentum"], warmup="full")
    with pytest.raises(ValueError, match="'sideways'; choose from peak, actual, full"):
        build_laws(warmup="sideways")
    with pytest.raises(ValueError, match="unknown law 'power'"):
        build_laws(["power"])


def short_run(name, steps):
    """A WSD run logged only at ``steps``, its loss from the momentum law."""
    schedule = make_schedule("wsd", steps=24000, peak=3e-4, warmup=2160, decay=0.2)
    steps = np.asarray(steps)
    loss = MomentumLaw().predict(
        np.array([2.9, 0.6, 0.5, 0.45, 0.999]), LRHistory.of(schedule, 24000), steps
    )
    return Run(name, steps, loss, schedule)


TWO_LAWS = (MomentumLaw(), MultiPowerLaw())  # a 5- and a 7-parameter law


def test_a_law_that_cannot_be_fitted_is_left_out_and_the_others_are_compared():
    # 7 points after warmup in the first 80 %: enough for momentum's 5 parameters, not multipower's
    # 7
    run = short_run("short", [1080, *range(2400, 19000, 2400), 21000, 23000, 24000])
    result = compare([run], laws=TWO_LAWS)
    assert [r.name for r in result.results] == ["momentum"] and result.best.name == "momentum"
    assert np.isfinite(result.best.mape) and np.isfinite(result.best.aic)
    (gone,) = result.left_out
    assert gone.name == "multipower"
    assert (
        gone.reason == "fit on short (first 80%) to predict short (last 20%): "
        "7 points cannot determine 7 parameters"
    )
    assert result.to_dict()["left_out"] == [
        {"law": "multipower", "n_params": 7, "reason": gone.reason}
    ]
    with pytest.raises(
        InputError,
        match=r"no law could be compared: momentum: fit on short \(first 80%\) to "
        r"predict short \(last 20%\): 5 points .*; multipower: fit on short: 7 points cannot",
    ):
        compare(
            [short_run("short", [1080, *range(2400, 19300, 3600), 21000, 24000])], laws=TWO_LAWS
        )
    # leave-one-run-out: both runs fit together, but b alone (3 points) cannot predict a
    runs = [short_run("a", range(2400, 24001, 2400)), short_run("b", [2400, 12000, 24000])]
    with pytest.raises(
        InputError,
        match=r"^no law could be compared: multipower: no 'full' warmup convention; "
        r"momentum: fit on b to predict a: 3 points cannot determine 5 parameters$",
    ):
        compare(
            runs,
            laws=[MomentumLaw()],
            left_out=[LeftOut("multipower", 7, "no 'full' warmup convention")],
        )


def test_a_held_out_run_at_another_peak_lr_is_said(tmp_path):
    """Issue 16.6: a held-out run at twice the fitted peak LR scored a 4.8 % MAPE silently."""
    import pandas as pd

    frame = pd.read_csv(SAMPLES / "wsd.csv")
    frame["lr"] *= 2
    frame.to_csv(tmp_path / "wsd_2x.csv", index=False)
    fitted_on = [
        read_runs(SAMPLES / f"{n}.csv", warmup_steps=2160)[0] for n in ("constant", "cosine")
    ]
    held = [
        read_runs(p, warmup_steps=2160)[0] for p in (SAMPLES / "wsd.csv", tmp_path / "wsd_2x.csv")
    ]
    result = compare(fitted_on, held, laws=[MomentumLaw()])
    assert result.warnings == (
        "held-out run wsd_2x: peak LR 0.0006 differs from the fitted runs' 0.0003 (the "
        "nearest); the law extrapolates in peak LR",
    )
    assert result.to_dict()["warnings"] == list(result.warnings)


def test_compare_writes_its_table_as_csv(holdout):
    import csv

    out = json.loads(holdout.json.stdout)
    assert out["output"] == "cmp.csv"
    text = (holdout.folder / "cmp.csv").read_text()
    header, *_ = text.splitlines()
    assert header == (
        "law,n_params,heldout_run,mape_percent,final_error_percent,final_predicted,final_lower,"
        "final_upper,final_measured,final_inside,r2,aic,bic,recommended,left_out,"
        "final_no_interval"
    )
    rows = list(csv.DictReader(text.splitlines()))
    by_law = {law["law"]: law for law in out["laws"]}
    assert [(row["law"], row["heldout_run"]) for row in rows] == [
        (law, run) for law in by_law for run in ("wsd", "mean")
    ]
    for row in rows:
        law = by_law[row["law"]]
        assert float(row["mape_percent"]) == pytest.approx(law["heldout_mape"])
        assert (row["recommended"] == "True") == (row["law"] == out["recommended"])
        if row["heldout_run"] == "wsd":
            assert float(row["r2"]) == pytest.approx(law["heldout"][0]["r2"])
            assert float(row["aic"]) == pytest.approx(law["aic"])
            final = law["heldout"][0]["final"]
            assert float(row["final_lower"]) == pytest.approx(final["interval"]["lower"])
            assert (row["final_inside"] == "True") == final["inside"]
    again = lrcurve(*HOLDOUT, "-o", "cmp.csv", cwd=holdout.folder)
    assert again.returncode == 2 and "--force" in again.stderr
    mine = lrcurve(*HOLDOUT, "-o", SAMPLES / "wsd.csv", "--force", cwd=holdout.folder)
    assert mine.returncode == 2 and "one of the inputs" in mine.stderr


def test_every_held_out_score_carries_its_final_interval(holdout):
    """Each held-out run's final loss is predicted with its interval at --level, and said to be
    inside or not; the table, the JSON and the plot show it; a lower level, a narrower one."""
    out = {0.8: json.loads(holdout.json.stdout)}
    for q, result in out.items():
        for law in result["laws"]:
            (held,) = law["heldout"]
            final = held["final"]
            band = final["interval"]
            assert band["level"] == q and band["lower"] < final["predicted"] < band["upper"]
            assert final["measured"] == pytest.approx(3.2766) and final["step"] == 23904
            assert final["inside"] == (band["lower"] <= final["measured"] <= band["upper"])
            assert law["heldout_inside"] == [int(final["inside"]), 1]
            error = 100 * (final["predicted"] / final["measured"] - 1)
            # the whole curve (predict) and the logged points alone (the scores) agree to ~1e-6
            assert error == pytest.approx(held["final_error"], abs=1e-3)
    from lrcurve.fitting import fit
    from lrcurve.heldout import final_against

    names = ("constant", "cosine")
    fitted = fit([read_runs(SAMPLES / f"{n}.csv", warmup_steps=2160)[0] for n in names])
    wsd = read_runs(SAMPLES / "wsd.csv", warmup_steps=2160)[0]
    bands = [final_against(fitted, wsd, q)[0] for q in (0.5, 0.8)]
    assert bands[0].upper - bands[0].lower < bands[1].upper - bands[1].lower
    momentum = out[0.8]["laws"][0]
    assert momentum["law"] == "momentum"
    assert momentum["heldout"][0]["final"]["interval"]["upper"] == pytest.approx(bands[1].upper)
    r = holdout.table
    assert "final, 90 % interval" in r.stdout and "1 of 1" in r.stdout
    assert " in [" in r.stdout or " OUT of [" in r.stdout
    assert (holdout.folder / "table.png").stat().st_size > 10_000


def test_a_heldout_final_whose_interval_reaches_below_0_is_not_counted():
    from dataclasses import replace

    from lrcurve.cli.compare_cmd import _final_cell, comparison_rows
    from lrcurve.fitting import fit
    from lrcurve.heldout import final_against, heldout_score

    runs = [
        mpl_run("constant", make_schedule("constant", steps=24000, peak=3e-4, warmup=2160), 1),
        mpl_run("cosine", make_schedule("cosine", steps=24000, peak=3e-4, warmup=2160), 2),
    ]
    held = mpl_run("wsd", make_schedule("wsd", steps=24000, peak=3e-4, warmup=2160, decay=0.3), 3)
    fitted = fit(runs, MomentumLaw(), backtest=False)
    final, why = final_against(fitted, held, 0.9)
    assert why is None and final.lower > 0 and final.inside  # a pinned fit: as before
    blown = replace(  # the s.e. of parameters the fit does not pin, blown up
        fitted,
        covariance=fitted.covariance * 1e10,
        params=tuple(replace(p, stderr=p.stderr * 1e5) for p in fitted.params),
    )
    wide = blown.predict(held.schedule, held.last_step, level=0.9).against(held)
    assert wide.lower < 0 < wide.upper and wide.inside  # what compare counted as covered
    final, why = final_against(blown, held, 0.9)
    assert final.lower is None and final.inside is None and final.predicted == wide.predicted
    assert why.startswith("no interval: its 90 % interval [-")
    assert "reaches below 0, none for a loss; the fit does not pin L0, A, alpha, C, lam" in why
    heldout = Heldout(held, blown, heldout_score(blown, held, 0.05), final, 0.9, why)
    result = LawResult("momentum", blown, (heldout,))
    assert result.inside == (0, 0)
    assert f"held-out wsd: {why}" in result.warnings
    assert result.to_dict()["heldout"][0]["final"]["no_interval"] == why
    assert result.to_dict()["heldout"][0]["final"]["interval"] is None  # null, as documented
    assert _final_cell(heldout) == "no interval (see note)"
    row = comparison_rows(Comparison("holdout", (result,)))[0]
    assert row[6:10] == (None, None, final.measured, None)  # lower, upper, measured, inside
    assert row[-1] == why  # the CSV says why too


def test_compare_warnings_name_runs_by_their_short_label():
    """A W&B run's full name is long; its warnings use the label the tables show."""
    from dataclasses import replace

    from lrcurve.compare import _peak_warnings

    schedule = make_schedule("constant", steps=24000, peak=3e-4, warmup=2160)
    twice = make_schedule("constant", steps=24000, peak=6e-4, warmup=2160)
    fitted_on = mpl_run("constant", schedule, 1)
    held = replace(
        mpl_run("sl_slimpajama_llama_norm_nlayers24_lr0.0006", twice, 2),
        label="wsd 2x",
    )
    (said,) = _peak_warnings([([fitted_on], [held])])
    assert said.startswith("held-out run wsd 2x: peak LR 0.0006") and "slimpajama" not in said


def test_the_comparison_plot_marks_the_held_out_runs_and_tells_the_laws_apart(
    samples, tmp_path, monkeypatch
):
    from lrcurve import decision_plots
    from lrcurve.laws.momentum import MomentumLaw

    drawn = []
    monkeypatch.setattr(decision_plots, "save_figure", lambda fig, path: drawn.append(fig))
    runs = [read_runs(samples / f"{n}.csv", warmup_steps=2160)[0] for n in ("constant", "cosine")]
    held = read_runs(samples / "wsd.csv", warmup_steps=2160)
    laws = [MomentumLaw(), ForwardMomentumLaw()]
    decision_plots.plot_comparison(compare(runs, held, laws=laws), tmp_path / "c.png")
    legend = drawn[0].axes[0].get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "wsd (held out)" in texts and "constant" in texts
    styles = [h.get_linestyle() for h, t in zip(legend.legend_handles, texts) if "law" in t]
    assert len(set(styles)) == len(laws)
