import json

import numpy as np
import pytest

from tests.conftest import SAMPLES, data_path, run_lrcurve, short_log


def lrcurve(*args, cwd, columns=None):
    return run_lrcurve(*args, cwd=cwd, env={"COLUMNS": str(columns)} if columns else None)


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    r = lrcurve(
        "fit",
        SAMPLES / "constant.csv",
        SAMPLES / "cosine.csv",
        "--warmup",
        2160,
        "--plot",
        "fit.png",
        cwd=d,
    )
    assert r.returncode == 0, r.stderr
    return d


def test_fit_writes_default_fit_file_and_plot(fitted_dir):
    data = json.loads((fitted_dir / "lrcurve.fit.json").read_text())
    assert data["law"]["name"] == "momentum"
    assert set(data["params"]) == {"L0", "A", "alpha", "C", "lam"}
    assert all(r["scores"]["mape"] < 0.2 for r in data["runs"])
    assert (fitted_dir / "fit.png").stat().st_size > 10_000


def test_a_parameter_at_its_bound_is_noted_in_the_table_not_warned(tmp_path):
    """Every SlimPajama and OpenWebText2 scaling family's fit ends with lam at its upper bound;
    the intervals are calibrated on those fits, so a warning on each would be noise."""
    folder = data_path("lr-scheduling", "data")
    runs = [*folder.glob("sl_slimpajama_llama_norm_nlayers8_*.json")]
    r = lrcurve("fit", *runs, "-o", "sp.fit.json", cwd=tmp_path, columns=120)
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr and "at its bound" not in r.stderr
    (lam,) = [line for line in r.stdout.splitlines() if "│ lam " in line]
    assert "at upper bound" in lam
    (alpha,) = [line for line in r.stdout.splitlines() if "│ alpha " in line]
    assert "bound" not in alpha
    params = json.loads((tmp_path / "sp.fit.json").read_text())["params"]
    assert params["lam"]["value"] == pytest.approx(params["lam"]["upper"])
    r = lrcurve("fit", *runs, "-o", "sp2.fit.json", "--json", cwd=tmp_path)
    flags = {name: p["at_bound"] for name, p in json.loads(r.stdout)["params"].items()}
    assert flags == {"L0": False, "A": False, "alpha": False, "C": False, "lam": True}


def test_fit_warns_when_logs_start_late_at_the_peak_lr_and_no_warmup_is_given(tmp_path):
    """The sample runs' logs start at step 2176 at the peak LR: without --warmup the fit
    counts the warmup at the peak (alpha 0.83 instead of 0.52), which is said; --warmup,
    0 included, says what the run did, and a log that starts at step 1 says nothing."""
    runs = (SAMPLES / "constant.csv", SAMPLES / "cosine.csv")
    r = lrcurve("fit", *runs, "-o", "a.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (warning,) = [line for line in r.stderr.splitlines() if "warning" in line]
    assert "constant, cosine: the logs start at step 2160 or later" in warning
    assert "give --warmup N" in warning
    for warmup in ("0", "2160"):
        r = lrcurve("fit", *runs, "--warmup", warmup, "-o", "b.json", "--force", cwd=tmp_path)
        assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    early = tmp_path / "early.csv"
    rows = (SAMPLES / "constant.csv").read_text().splitlines()
    early.write_text("\n".join([rows[0], "1,0.0003,10.0", *rows[1:]]) + "\n")
    r = lrcurve("fit", early, SAMPLES / "cosine.csv", "-o", "c.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (warning,) = [line for line in r.stderr.splitlines() if "warning" in line]
    assert warning.startswith("lrcurve: warning: cosine: the log starts at step 2160 ")


def test_predict_without_fit_file_uses_the_default_and_says_which_defaults(fitted_dir):
    r = lrcurve("predict", "--schedule", "wsd", "--decay", "0.15", "--json", cwd=fitted_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["steps"] == 23936
    assert "steps=23936" in r.stderr and "peak=0.0003" in r.stderr
    assert 3.2 < out["final_loss"] < 3.4


def test_fit_says_the_law_error_from_backtests(fitted_dir):
    data = json.loads((fitted_dir / "lrcurve.fit.json").read_text())
    assert 0.001 < data["backtest_scale"] < 0.01
    r = lrcurve("fit", SAMPLES / "constant.csv", "--warmup", 2160, "-o", "one.json", cwd=fitted_dir)
    assert r.returncode == 0, r.stderr
    assert "law error from backtests: " in r.stdout


def test_predict_gives_the_calibrated_interval_in_json_and_table(fitted_dir):
    args = ("predict", "--schedule", "wsd", "--steps", 72000, "--decay", 0.15, "--every", 1000)
    r = lrcurve(*args, "--json", cwd=fitted_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    final = out["final"]
    assert final["step"] == 72000 and final["loss"] == out["final_loss"]
    interval = final["interval"]
    assert interval["level"] == 0.9
    assert interval["lower"] < final["loss"] - 3 * out["final_stderr"]
    assert interval["upper"] > final["loss"] + 3 * out["final_stderr"]
    curve = out["curve"]
    lower, loss, upper = (np.array(curve[k]) for k in ("lower", "loss", "upper"))
    assert np.all(lower < loss) and np.all(loss < upper)
    assert (lower[-1], upper[-1]) == (interval["lower"], interval["upper"])
    # the interval widens as the prediction leaves the fitted 24k steps
    width = (upper - lower) / loss
    assert width[60] > width[20] > width[10]
    assert any("3.0x the longest fitted run" in w for w in out["warnings"])
    eighty = json.loads(lrcurve(*args, "--json", "--level", 0.8, cwd=fitted_dir).stdout)
    assert eighty["final"]["interval"]["level"] == 0.8
    assert interval["lower"] < eighty["final"]["interval"]["lower"] < final["loss"]
    table = lrcurve(*args, cwd=fitted_dir)
    assert table.returncode == 0, table.stderr
    text = f"final loss at step 72000: {final['loss']:.4f} [{interval['lower']:.4f}, "
    assert text + f"{interval['upper']:.4f}] (90 %)" in table.stdout
    assert "loss [90 % interval]" in table.stdout
    said = [line for line in table.stderr.splitlines() if "extrapolat" in line]
    assert said == [
        "lrcurve: extrapolating (3.0x the fitted horizon; LR falls to 0): the interval grows "
        "with the horizon and with LR falls steeper than fitted (docs/calibration.md)"
    ]


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2])
def test_predict_refuses_a_level_outside_0_1(fitted_dir, level):
    r = lrcurve("predict", "--schedule", "cosine", "--level", level, cwd=fitted_dir)
    assert r.returncode == 2 and "--level" in r.stderr and "Traceback" not in r.stderr


def test_predict_writes_csv_and_refuses_to_overwrite(fitted_dir):
    args = (
        "predict",
        "lrcurve.fit.json",
        "--schedule",
        "cosine",
        "--steps",
        30000,
        "--floor",
        0.1,
        "-o",
        "cos.csv",
    )
    assert lrcurve(*args, cwd=fitted_dir).returncode == 0
    lines = (fitted_dir / "cos.csv").read_text().splitlines()
    assert lines[0] == "step,lr,loss,loss_stderr,lower,upper" and len(lines) == 30001
    curve = np.loadtxt(fitted_dir / "cos.csv", delimiter=",", skiprows=1)
    assert curve[:, 0].tolist() == list(range(1, 30001)) and lines[-1].startswith("30000,3e-05,")
    assert np.all(np.isfinite(curve[:, 2:])) and np.all(curve[:, 3] > 0)
    assert np.all(curve[:, 4] < curve[:, 2]) and np.all(curve[:, 2] < curve[:, 5])
    again = lrcurve(*args, cwd=fitted_dir)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert lrcurve(*args, "--force", cwd=fitted_dir).returncode == 0


def test_schedule_show_json():
    r = lrcurve(
        "schedule",
        "show",
        "wsd",
        "--steps",
        24000,
        "--decay",
        0.2,
        "--peak",
        3e-4,
        "--json",
        cwd=SAMPLES,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["final_lr"] == 0.0 and out["S1"] == pytest.approx(
        3e-4 * (24000 - 0.5 * 4800), rel=1e-3
    )


def test_schedule_show_counts_the_warmup_as_the_laws_do():
    """S1 counts the warmup's real LR (the default laws' convention, 'actual'), not the peak
    from step 1; --warmup-area peak counts it at the peak; a --fit takes its law's."""
    args = ("schedule", "show", "wsd", "--steps", 24000, "--peak", 3e-4, "--warmup", 500)
    actual = json.loads(lrcurve(*args, "--json", cwd=SAMPLES).stdout)
    peak = json.loads(lrcurve(*args, "--json", "--warmup-area", "peak", cwd=SAMPLES).stdout)
    stable = 3e-4 * (24000 - 500 - 0.5 * 4800)
    assert actual["warmup_area"] == "actual" and peak["warmup_area"] == "peak"
    assert actual["S1"] == pytest.approx(stable + 3e-4 * 500 / 2, rel=1e-3)
    assert peak["S1"] == pytest.approx(stable + 3e-4 * 500, rel=1e-3)
    assert "S1 (forward, warmup actual)" in lrcurve(*args, cwd=SAMPLES).stdout


def test_names_with_brackets_are_printed_verbatim(tmp_path):
    rows = "\n".join(
        f"[/dim],{s},1e-3,{4.0 - 0.1 * i**0.5:.4f}" for i, s in enumerate(range(100, 1100, 100))
    )
    (tmp_path / "r[x].csv").write_text("run,step,lr,loss\n" + rows + "\n")
    r = lrcurve("fit", "r[x].csv", "-o", "m.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "r[x]:[/dim]" in r.stdout and "Traceback" not in r.stderr


def test_compare_calls_a_tie_on_a_late_window_and_recommends_the_fewer_parameters(tmp_path):
    # The last 20 % of the WSD run: its first 80 % never decays, so the laws reduce to the same
    # L0 + A*S1^-alpha (their annealing terms held) and miss the cooldown by the same 1.41 %.
    # Which is lower is rounding; the tie goes to the fewer parameters (the branch where that
    # overrides a lower MAPE is tested in test_compare).
    r = lrcurve("compare", SAMPLES / "wsd.csv", "--warmup", 2160, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    mape = {law["law"]: law["heldout_mape"] for law in out["laws"]}
    assert (
        mape["momentum"] == pytest.approx(mape["multipower"], rel=1e-6)
        and mape["momentum"] == pytest.approx(mape["forward-momentum"], rel=1e-6)
        and 1.3 < mape["momentum"] < 1.5
    )
    assert out["method"] == "late-window"
    assert out["tied"] == ["momentum", "multipower", "forward-momentum"]
    assert out["recommended"] == "momentum"
    table = lrcurve("compare", SAMPLES / "wsd.csv", "--warmup", 2160, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    (line,) = [s for s in table.stdout.splitlines() if s.startswith("recommended:")]
    assert line.startswith("recommended: momentum") and "a tie within 1 % with multipower" in line


def test_compare_with_the_full_warmup_area_leaves_the_momentum_law_out(tmp_path):
    for name in ("constant", "cosine"):  # their first third: the laws' fits take a third
        rows = (SAMPLES / f"{name}.csv").read_text().splitlines()
        (tmp_path / f"{name}.csv").write_text("\n".join(rows[:60]) + "\n")
    r = lrcurve(
        "compare",
        "constant.csv",
        "--holdout",
        "cosine.csv",
        "--warmup",
        2160,
        "--warmup-area",
        "full",
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [law["law"] for law in out["laws"]] == ["multipower", "forward-momentum"]
    assert out["recommended"] == min(out["laws"], key=lambda law: law["heldout_mape"])["law"]
    assert out["left_out"] == [
        {
            "law": "momentum",
            "n_params": 5,
            "reason": "no 'full' warmup convention (it has peak, actual)",
        }
    ]
    assert "lrcurve: momentum left out: no 'full' warmup convention" in r.stderr


def test_compare_leaves_out_a_law_too_big_for_a_short_run_and_scores_the_rest(tmp_path):
    short_log(tmp_path / "run.csv", 11)  # the first 80 %: 7 points after warmup
    r = lrcurve("compare", "run.csv", "--warmup", 2160, cwd=tmp_path, columns=160)
    assert r.returncode == 0, r.stderr
    reason = (
        "fit on run (first 80%) to predict run (last 20%): 7 points cannot determine 7 parameters"
    )
    assert f"lrcurve: multipower left out: {reason}" in r.stderr.splitlines()
    assert "recommended: momentum (lowest mean held-out MAPE" in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("│ ")]
    assert rows[0].split("│")[1].strip() == "momentum *"
    assert [
        [cell.strip() for cell in row.split("│")[1:4]] for row in rows if "left out" in row
    ] == [["multipower", "7", "left out (see note)"]]


def test_predict_rewarmup_continues_the_first_decaying_run_and_says_so(fitted_dir):
    """Issue 16.2: predict --schedule rewarmup silently continued the first fitted run (the
    constant one, so no anneal happened before the re-warmup); optimize took the first run that
    decays. One rule, said on stderr."""
    args = ("predict", "--schedule", "rewarmup", "--steps", 40000, "--json")
    default = lrcurve(*args, cwd=fitted_dir)
    chosen = lrcurve(*args, "--base-run", "cosine", cwd=fitted_dir)
    assert default.returncode == 0 and chosen.returncode == 0, default.stderr
    assert "base-run=cosine (the first fitted run that decays)" in default.stderr
    assert "base-run=" not in chosen.stderr
    assert json.loads(default.stdout)["final_loss"] == json.loads(chosen.stdout)["final_loss"]
    constant = lrcurve(*args, "--base-run", "constant", cwd=fitted_dir)
    assert json.loads(constant.stdout)["final_loss"] != json.loads(default.stdout)["final_loss"]


def test_runs_of_one_name_in_different_folders_are_named_by_their_folder(tmp_path):
    """The multi-power-law sizes' files share their names (csv_25/constant_24000.csv,
    csv_100/constant_24000.csv): they were told apart as #1 and #3 only."""
    for folder in ("csv_25", "csv_100", "x/run", "y/run"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "constant.csv").write_text((SAMPLES / "constant.csv").read_text())
    r = lrcurve("fit", "csv_25/constant.csv", "csv_100/constant.csv", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [run["name"] for run in json.loads(r.stdout)["runs"]] == [
        "csv_25/constant",
        "csv_100/constant",
    ]
    r = lrcurve("fit", "x/run/constant.csv", "y/run/constant.csv", "-o", "2.json", "--json",
                cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert [run["name"] for run in json.loads(r.stdout)["runs"]] == ["constant#1", "constant#2"]


def test_every_sets_the_tables_rows_as_it_sets_the_jsons_points(fitted_dir):
    args = ("predict", "--schedule", "wsd", "--steps", 24000, "--every", 5000)
    table = lrcurve(*args, cwd=fitted_dir)
    assert table.returncode == 0, table.stderr
    rows = [line.split("│")[1].strip() for line in table.stdout.splitlines() if line[:1] == "│"]
    assert rows == ["5000", "10000", "15000", "20000", "24000"]
    data = json.loads(lrcurve(*args, "--json", cwd=fitted_dir).stdout)
    assert data["curve"]["step"] == [5000, 10000, 15000, 20000, 24000]


def test_a_note_that_every_file_says_alike_is_said_once(tmp_path):
    """A fit of 30 W&B exports said each of three notes 30 times (review 9): from two files
    on, a note alike but for each file's own figures in brackets is said once."""
    folder = data_path("lr-scheduling", "data")
    files = [
        next(folder.glob(pattern))
        for pattern in (
            "stable-124m_*_lr0.001_*iter50000*.json",
            "cos-10-124m_*_lr0.001_*iter25000*.json",
            "ann124-0.2_*_lr0.001_*iter25000*.json",
        )
    ]
    r = lrcurve("fit", *files, "-o", "w.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "lrcurve: every file (3): model size 124M from the W&B config's architecture" in lines
    assert sum("final evaluation" in line for line in lines) == 1
    assert sum("tokens per step" in line for line in lines) == 1
    one = lrcurve("fit", files[0], "-o", "one.json", cwd=tmp_path)  # one file: its own figures
    assert "(123587328 parameters)" in one.stderr and "every file" not in one.stderr
    # two files of three alike (review 10: a two-file fit said each note twice, long paths)
    two = lrcurve("fit", *files[:2], SAMPLES / "constant.csv", "-o", "two.json", cwd=tmp_path)
    (said,) = [line for line in two.stderr.splitlines() if "model size 124M" in line]
    assert said == (
        f"lrcurve: 2 files ({files[0].name} and {files[1].name}): model size 124M from the W&B "
        "config's architecture"
    )
