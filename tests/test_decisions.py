"""Decisions with their uncertainty from the CLI: optimize's tie set and gain interval."""

import csv
import json

import pytest

from tests.conftest import data_path
from tests.test_cli import lrcurve
from tests.test_optimize import fit_dir  # noqa: F401 - the fixture


def _optimize(fit_dir, *extra):  # noqa: F811
    r = lrcurve(
        "optimize", "--family", "wsd", "--steps", 72000, "--shapes", "linear,sqrt", *extra,
        cwd=fit_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r


def test_optimize_json_has_the_tie_set_and_every_candidates_interval(fit_dir):  # noqa: F811
    out = json.loads(_optimize(fit_dir, "--json").stdout)
    assert out["level"] == 0.9
    best, candidates, ties = out["best"], out["candidates"], out["tie_set"]
    assert best["tied"] and best["vs_best"]["value"] == 0 and best["vs_best"]["sd"] == 0
    assert ties[0]["loss"] == best["loss"] and all(t["tied"] for t in ties)
    assert len(ties) == sum(c["tied"] for c in candidates) < len(candidates)
    for c in candidates:
        low, high = c["interval"]["lower"], c["interval"]["upper"]
        assert low < c["loss"] < high
        to_best = c["vs_best"]
        assert to_best["value"] == pytest.approx(c["loss"] - best["loss"])
        # in the tie set exactly when the difference's interval holds 0
        assert c["tied"] == (to_best["lower"] <= 0 <= to_best["upper"])
        # the difference is surer than either loss
        assert to_best["upper"] - to_best["lower"] < high - low
    gain = out["gain_interval"]
    assert gain["lower"] < out["gain"] < gain["upper"] and gain["level"] == 0.9
    # the best's neighbours on its series' grid are tied: they differ from it (by 0.0001-0.0003
    # here) far less than the law knows where the optimum lies
    same = sorted((c for c in candidates if c["shape"] == best["shape"]), key=lambda c: c["decay"])
    k = [c["decay"] for c in same].index(best["decay"])
    assert all(c["tied"] for c in same[max(k - 1, 0) : k + 2])
    assert out["baseline"]["interval"]["lower"] < out["baseline"]["loss"]


def test_a_lower_level_ties_fewer_candidates(fit_dir):  # noqa: F811
    # 0.95: the learned q_diff ties the same two candidates at 50 and 90 % here
    at = {q: json.loads(_optimize(fit_dir, "--json", "--level", q).stdout) for q in (0.5, 0.95)}
    names = {q: {(t["shape"], t["decay"]) for t in out["tie_set"]} for q, out in at.items()}
    assert names[0.5] < names[0.95]
    assert at[0.5]["gain_interval"]["level"] == 0.5


def test_optimize_table_csv_and_plot_mark_the_tie_set(fit_dir):  # noqa: F811
    r = _optimize(fit_dir, "-o", "ties.csv", "--plot", "ties.png", "--force")
    assert "1 =" in r.stdout and "vs best [90 % interval]" in r.stdout
    assert "tie set (90 %):" in r.stdout and "not distinguishable from the best" in r.stdout
    assert "gain over the baseline" in r.stdout and "(90 %)" in r.stdout
    with open(fit_dir / "ties.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["tied"] == "True" and rows[0]["vs_best"] == "0.0"
    assert {"lower", "upper", "vs_best_lower", "vs_best_upper"} <= set(rows[0])
    assert (fit_dir / "ties.png").stat().st_size > 10_000


def test_a_level_outside_0_1_is_refused(fit_dir):  # noqa: F811
    r = lrcurve("optimize", "--level", 1.5, cwd=fit_dir)
    assert r.returncode == 2 and "--level" in r.stderr


def _predict(fit_dir, *extra, code=0):  # noqa: F811
    r = lrcurve("predict", "--schedule", "wsd", "--decay", 0.2, *extra, cwd=fit_dir)
    assert r.returncode == code, r.stderr
    return r


def test_predict_several_schedules_in_one_call(fit_dir):  # noqa: F811
    also = ("--compare-to", "cosine floor=0.1", "--compare-to", "wsd decay=0.2")
    out = json.loads(_predict(fit_dir, *also, "--json").stdout)
    first, cosine, same = out["schedules"]
    assert first["final"]["loss"] == out["final"]["loss"]  # today's keys: the first schedule
    assert first["vs_first"]["value"] == 0 and first["vs_first"]["sd"] == 0
    assert same["vs_first"]["sd"] < 1e-12  # the same schedule again: no doubt at all
    assert "cosine" in cosine["schedule_text"] and cosine["steps"] == first["steps"]
    diff = cosine["vs_first"]
    assert diff["value"] == pytest.approx(cosine["final"]["loss"] - first["final"]["loss"])
    assert diff["lower"] < diff["value"] < diff["upper"] and diff["level"] == 0.9
    bands = [s["final"]["interval"] for s in out["schedules"][:2]]
    widths = [band["upper"] - band["lower"] for band in bands]
    # what the two share cancels: narrower than the less sure of the two (a cosine to 10 % is
    # the fitted run's schedule, a WSD to 0 is not: the law's error on it does not cancel)
    assert diff["upper"] - diff["lower"] < max(widths)
    r = _predict(fit_dir, *also, "-o", "three.csv", "--plot", "three.png", "--force")
    assert "vs #1 [90 %]" in r.stdout and "schedules compared" in r.stdout
    lines = (fit_dir / "three.csv").read_text().splitlines()
    assert lines[0] == "schedule,step,lr,loss,loss_stderr,lower,upper"
    steps = first["steps"]
    assert len(lines) == 1 + 3 * steps and lines[-1].startswith(f"3,{steps},")
    assert (fit_dir / "three.png").stat().st_size > 10_000


def test_predict_compare_to_inherits_the_horizon_unless_given(fit_dir):  # noqa: F811
    out = json.loads(
        _predict(fit_dir, "--steps", 30000, "--compare-to", "wsd steps=20000", "--json").stdout
    )
    first, short = out["schedules"]
    assert (first["steps"], short["steps"]) == (30000, 20000)
    assert short["vs_first"]["step"] == 20000  # differences at the shortest horizon


def test_predict_compare_to_labels_say_the_peak_lr_when_it_differs(fit_dir):  # noqa: F811
    """Schedules of two peak LRs were labelled alike ("wsd (linear, 20 % decay) to 0 %")."""
    args = ("--compare-to", "wsd decay=0.2 peak=0.0006", "--json")
    first, other = json.loads(_predict(fit_dir, *args).stdout)["schedules"]
    assert first["label"].endswith(" lr 0.0003") and other["label"].endswith(" lr 0.0006")
    same = json.loads(_predict(fit_dir, "--compare-to", "cosine", "--json").stdout)
    assert not any(" lr " in s["label"] for s in same["schedules"])  # one peak: not said


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("floor=0.1", "start with the schedule family"),
        ("cosine flor=0.1", "is not KEY=VALUE"),
        ("wsd decay=2", "decay=2 must be a fraction in [0, 1]"),
        ("wsd steps=1.5", "steps=1.5 must be a whole number >= 1"),
        ("wobbly", "--compare-to 'wobbly': --schedule must be one of"),
        ("cosine decay=0.2", "--compare-to 'cosine decay=0.2': --decay does not apply"),
    ],
)
def test_a_bad_compare_to_is_one_line_naming_it(fit_dir, spec, said):  # noqa: F811
    r = _predict(fit_dir, "--compare-to", spec, code=2)
    assert said in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_predict_measured_overlays_and_scores_a_real_run(fit_dir):  # noqa: F811
    measured = data_path("multipowerlaw", "csv_25") / "wsdld_20000_24000.csv"
    args = ("--schedule", "file", "--lr-file", measured, "--measured", measured)
    r = lrcurve("predict", *args, "--json", cwd=fit_dir)
    assert r.returncode == 0, r.stderr
    (scored,) = json.loads(r.stdout)["measured"]
    assert scored["run"] == "wsdld_20000_24000" and scored["step"] == 23904  # its last point
    assert 0 < scored["mape"] < 2 and abs(scored["final_error"]) < 3
    assert scored["inside"] == (scored["lower"] <= scored["measured"] <= scored["upper"])
    assert 0 <= scored["inside_share"] <= 1 and scored["lr_gap"] < 0.01
    r = lrcurve("predict", *args, "--plot", "m.png", cwd=fit_dir)
    assert "measured runs against the prediction" in r.stdout and "warning" not in r.stderr
    assert (fit_dir / "m.png").stat().st_size > 10_000
    # the fitted horizon's 20 % decay starts at step ~19150; the measured run's at 20000
    other = _predict(fit_dir, "--measured", measured)
    assert "ran another schedule" in other.stderr


def test_optimize_measured_sweep_ties_and_plot(tmp_path):
    """The 124M sweep (linear cooldowns of 10-90 % at 25k steps, peak LR 1e-3): the law's tie
    set of the measured runs holds the measured best (60 %), and the plot draws them."""
    data = data_path("lr-scheduling", "data")
    fit_runs = [next(data.glob(f"{name}-124m_*_lr0.001_*.json")) for name in ("stable", "cos-10")]
    r = lrcurve("fit", *fit_runs, "-o", "fit.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    sweep = str(data / "ann124-0.*_lr0.001_*decay_linear_0.*_iter25000_*.json")
    args = ("optimize", "fit.json", "--steps", 25000, "--shapes", "linear", "--measured", sweep)
    out = json.loads(lrcurve(*args, "--json", cwd=tmp_path).stdout)
    (best,) = out["measured_best"].values()
    assert best["measured"] in best["tie_set"] and 1 <= len(best["tie_set"]) <= 3
    assert [m["label"] for m in out["measured"] if m["tied"]] == best["tie_set"]
    assert all(not name.startswith("ann124") for name in best["tie_set"])  # short labels
    for m in out["measured"]:  # each measured loss against its predicted interval, like compare
        assert m["lower"] < m["predicted"] < m["upper"] and m["level"] == 0.9
        assert m["inside"] == (m["lower"] <= m["measured"] <= m["upper"])
    assert sum(m["inside"] for m in out["measured"]) >= 5  # 90 % intervals, 6 runs
    half = {m["name"]: m["upper"] - m["predicted"] for m in out["measured"]}
    narrow = json.loads(lrcurve(*args, "--json", "--level", 0.5, cwd=tmp_path).stdout)
    assert all(m["upper"] - m["predicted"] < half[m["name"]] for m in narrow["measured"])
    r = lrcurve(*args, "--plot", "sweep.png", cwd=tmp_path)
    assert "the measured best is in it" in r.stdout
    assert "predicted [90 %]" in r.stdout and "inside" in r.stdout
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def test_a_search_without_a_level_has_no_joint_prediction(fit_dir):  # noqa: F811
    """``search(..., level=None)``: no intervals, the tie set is the best alone."""
    from lrcurve.fitfile import load_fit
    from lrcurve.optimize import default_baseline, search, wsd_candidates

    fitted = load_fit(fit_dir / "lrcurve.fit.json")
    candidates = wsd_candidates(30000, 3e-4, 2160, fractions=(0.1, 0.2, 0.3))
    baseline = default_baseline(fitted.runs, 30000, 3e-4, 2160)
    bare = search(fitted, "wsd", candidates, *baseline, steps=30000, level=None)
    assert bare.joint is None and bare.gain_interval is None and bare.to_best() is None
    assert bare.tie_set == (int(bare.order[0]),) and bare.gain_stderr is not None
    full = search(fitted, "wsd", candidates, *baseline, steps=30000)
    assert full.gain_stderr == bare.gain_stderr and full.best_loss == bare.best_loss
    gain = full.gain_interval
    assert gain.value == pytest.approx(full.gain) and gain.lower < full.gain < gain.upper
    assert full.tie_set[0] == int(full.order[0])
