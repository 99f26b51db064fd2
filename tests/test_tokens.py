"""Tokens per step: read from W&B configs, table columns and --tokens-per-step FILE=N, kept in
fit files, and a fit of runs of two batch sizes says so (issue 15)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcurve.errors import ParameterError, ReadError
from lrcurve.fitfile import load_fit, save_fit
from lrcurve.fitting import fit
from lrcurve.io import read_runs
from lrcurve.io.stitch import stitch
from lrcurve.io.tokens import parse_tokens
from lrcurve.schedules import make_schedule
from lrcurve.target_clock import clock_said, predict_at_batch
from lrcurve.tokens import batch_warning, on_clock, stretched, token_clock
from tests.conftest import data_path

WANDB = "lr-scheduling", "data"
BIG = "sl_slimpajama_llama_norm_nlayers24_nhead16_lr0.0005_sched_wsd_warmup300_iter50000_bs50x4_ws2"
SMALL = "sl_slimpajama_llama_norm_nlayers8_nhead6_lr0.001_sched_wsd_warmup300_iter10000_bs50x2_ws2"
TAIL = "_seed0_data_seed1337.json"


def _export(stem: str):
    return data_path(*WANDB, stem + TAIL)


def _loss(step: int, lr: float) -> float:
    return 2.5 + 3.0 * (step * lr / 1e-3) ** -0.3


def _table(path, runs, column="tokens_per_step", n=40):
    """A table of ``runs`` (name -> (tokens per step cell, LR)), each a constant-LR run."""
    rows = [
        f"{100 * i},{lr},{_loss(100 * i, lr):.5f},{name},{tokens}"
        for name, (tokens, lr) in runs.items()
        for i in range(1, n + 1)
    ]
    path.write_text(f"step,lr,loss,run,{column}\n" + "\n".join(rows) + "\n")
    return path


# --- readers -------------------------------------------------------------------------------


def test_a_wandb_config_gives_tokens_per_step_and_names_its_fields():
    big = read_runs(_export(BIG))[0]
    assert big.tokens_per_step == 50 * 4 * 2 * 512
    assert any(
        "204,800 tokens per step from the W&B config (batch_size=50 x acc_steps=4 x "
        "world_size=2 x sequence_length=512)" in note
        for note in big.notes
    )
    assert read_runs(_export(SMALL))[0].tokens_per_step == 50 * 2 * 2 * 512


@pytest.mark.parametrize("column", ["tokens_per_step", "batch_tokens"])
def test_a_table_column_gives_each_run_its_tokens_per_step(tmp_path, column):
    path = _table(tmp_path / "t.csv", {"a": ("102400", 1e-3), "b": ("204.8K", 1e-3)}, column)
    runs = read_runs(path)
    assert [r.tokens_per_step for r in runs] == [102400.0, 204800.0]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("0", "tokens per step '0' must be above 0"),
        ("-5", "tokens per step '-5' must be above 0"),
        ("lots", "'lots' is not a number of tokens per step"),
    ],
)
def test_a_table_cell_that_is_no_tokens_per_step_is_refused_naming_the_row(tmp_path, cell, message):
    path = _table(tmp_path / "t.csv", {"a": (cell, 1e-3)})
    with pytest.raises(ReadError, match=rf"t.csv: column 'tokens_per_step' row 2: {message}"):
        read_runs(path)


def test_a_run_of_two_tokens_per_step_is_refused(tmp_path):
    path = _table(tmp_path / "t.csv", {"a": ("102400", 1e-3)})
    lines = path.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",204800"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReadError, match=r"row 6: tokens per step '204800' differs from 102K"):
        read_runs(path)


def test_parse_tokens_reads_numbers_and_refuses_the_rest():
    assert parse_tokens("204800") == parse_tokens("204.8K") == parse_tokens("2.048e5") == 204800
    for bad in ("", "nan", "inf", "1e5x", "-1", "0"):
        with pytest.raises(ParameterError) as err:
            parse_tokens(bad)
        assert err.value.param == "tokens_per_step"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--tokens-per-step: tokens per step '0' must be above 0"),
        ("lots", "--tokens-per-step: 'lots' is not a number of tokens per step"),
        ("409600", "tokens per step 205K from"),  # the config's 204,800
    ],
)
def test_tokens_per_step_flag_refusals_are_one_line_exit_2(cli, value, message):
    path = _export(BIG)
    r = cli("fit", path, "--tokens-per-step", f"{path}={value}")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr
    if value == "409600":
        assert "disagrees with 410K from --tokens-per-step" in r.stderr


def test_tokens_per_step_flag_must_name_a_run_file(cli):
    r = cli("fit", _export(SMALL), "--tokens-per-step", "other.json=1e5")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--tokens-per-step: other.json=1e5: other.json is not one of the run files" in r.stderr
    r = cli("fit", _export(SMALL), "--tokens-per-step", "1e5")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "'1e5': write FILE=N, the run file and its tokens per step" in r.stderr


# --- the fit's warning ---------------------------------------------------------------------


def test_a_fit_of_two_batch_sizes_warns_once_and_keeps_it_in_the_fit_file(tmp_path):
    runs = read_runs(
        _table(
            tmp_path / "t.csv", {"a": ("102400", 1e-3), "b": ("102400", 2e-3), "c": ("2e5", 1e-3)}
        )
    )
    fitted = fit(runs, backtest=False)
    mixed = [w for w in fitted.warnings if "tokens per step" in w]
    assert mixed == [
        "the runs differ in tokens per step: 102,400 (a, b); 200,000 (c); the laws count "
        "optimizer steps: a step of 1.95x the tokens counts once; fit runs of one batch size, "
        "or count steps on a common clock of tokens (lrcurve fit --clock tokens; "
        "lrcurve.tokens.token_clock)"
    ]
    save_fit(fitted, tmp_path / "f.json")
    loaded = load_fit(tmp_path / "f.json")
    assert mixed[0] in loaded.warnings
    assert [r.tokens_per_step for r in loaded.runs] == [102400.0, 102400.0, 2e5]


def test_a_fit_of_one_batch_size_says_nothing_new(tmp_path):
    # within 1 % is one batch size; runs of unknown tokens per step are not compared
    runs = read_runs(
        _table(tmp_path / "t.csv", {"a": ("102400", 1e-3), "b": ("103000", 2e-3), "c": ("", 1e-3)})
    )
    assert runs[2].tokens_per_step is None
    assert not any("tokens per step" in w for w in fit(runs, backtest=False).warnings)
    assert batch_warning([]) is None


def test_the_warning_names_a_few_runs_per_value(tmp_path):
    runs = read_runs(
        _table(tmp_path / "t.csv", {k: ("1e5", 1e-3) for k in "abcde"} | {"f": ("4e5", 1e-3)})
    )
    warning = batch_warning(runs)
    assert warning is not None and len(warning.splitlines()) == 1
    assert "100,000 (a, b, c and 2 more); 400,000 (f)" in warning and "4x" in warning


def test_a_fit_file_without_tokens_per_step_loads(tmp_path):
    data = json.loads(data_path("format1_momentum.fit.json").read_text())
    assert all("tokens_per_step" not in r for r in data["runs"])
    fitted = load_fit(data_path("format1_momentum.fit.json"))
    assert all(r.tokens_per_step is None for r in fitted.runs)
    assert not any("tokens per step" in w for w in fitted.warnings)
    assert np.isfinite(fitted.params[0].value)


# --- a common clock of tokens --------------------------------------------------------------


def test_on_clock_counts_each_step_of_k_times_the_tokens_k_times_at_its_lr_over_sqrt_k():
    run = read_runs(_export(BIG))[0]
    clocked = on_clock(run, 102400)
    assert np.array_equal(clocked.steps, 2 * run.steps)
    assert np.array_equal(clocked.loss, run.loss)
    n = run.last_step
    twice = np.repeat(run.schedule.per_step(n), 2) / np.sqrt(2)  # Adam's square-root rule
    assert np.allclose(clocked.schedule.per_step(2 * n), twice, rtol=1e-12)
    assert clocked.warmup_steps == 2 * run.warmup_steps and clocked.tokens_per_step == 102400
    assert (
        "204,800 tokens a step, counted as 2 steps of 102,400 tokens at its LR / 1.41"
        in (clocked.notes[-1])
    )
    half = stretched(run.schedule, 0.5, n)  # half the tokens: a step in two, at the LR x 1.41
    assert np.allclose(half.per_step(n // 2), np.sqrt(2) * run.schedule.per_step(n)[1::2])
    same = on_clock(run, 204800)
    assert same.steps is run.steps and same.tokens_per_step == 204800


def test_token_clock_fits_without_the_warning_and_refuses_an_unknown_batch(tmp_path):
    runs = read_runs(
        _table(tmp_path / "t.csv", {"a": ("1e5", 1e-3), "b": ("1e5", 2e-3), "c": ("2e5", 1e-3)})
    )
    clocked, note = token_clock(runs)
    assert [r.last_step for r in clocked] == [4000, 4000, 8000]
    assert "units of 100,000 tokens" in note
    assert not any("tokens per step" in w for w in fit(clocked, backtest=False).warnings)
    unknown = read_runs(_table(tmp_path / "u.csv", {"a": ("1e5", 1e-3), "b": ("", 1e-3)}))
    with pytest.raises(ParameterError, match="b: its tokens per step are not known") as err:
        token_clock(unknown)
    assert err.value.param == "tokens_per_step"


def test_a_target_of_twice_the_batch_is_predicted_on_the_fitted_clock(tmp_path):
    runs = read_runs(_table(tmp_path / "t.csv", {"a": ("1e5", 1e-3), "b": ("1e5", 5e-4)}))
    fitted = fit(runs, backtest=False)
    constant = runs[0].schedule
    doubled = predict_at_batch(fitted, constant, 3000, 2e5, level=0.9)
    at_root = replace(constant, lrs=constant.lrs / np.sqrt(2))  # each step twice at LR / sqrt 2
    plain = fitted.predict(at_root, 6000, level=0.9)
    assert doubled.steps.tolist() == list(range(1, 3001))
    assert np.allclose(doubled.loss, plain.loss[1::2]) and np.allclose(doubled.sd, plain.sd[1::2])
    assert np.allclose(doubled.lr, constant.per_step(3000))  # shown at the target's own LR
    same = predict_at_batch(fitted, constant, 3000, 1e5, level=0.9)
    assert np.allclose(same.loss, fitted.predict(constant, 3000).loss)
    with pytest.raises(ParameterError, match="must be above 0"):
        predict_at_batch(fitted, constant, 3000, 0.0)


def test_fit_clock_tokens_and_predict_tokens_per_step_from_the_cli(cli, tmp_path):
    table = _table(tmp_path / "t.csv", {"a": ("1e5", 1e-3), "b": ("1e5", 2e-3), "c": ("2e5", 1e-3)})
    r = cli("fit", table, "-o", "mixed.json")
    assert r.returncode == 0, r.stderr
    assert "warning: the runs differ in tokens per step" in r.stderr
    r = cli("predict", "mixed.json", "--tokens-per-step", "2e5")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--tokens-per-step: the fitted runs differ in tokens per step" in r.stderr
    r = cli("fit", table, "--clock", "tokens", "-o", "clock.json")
    assert r.returncode == 0, r.stderr
    assert "differ in tokens per step" not in r.stderr
    assert "c: 200,000 tokens a step, counted as 2 steps of 100,000 tokens" in r.stderr
    assert "c: peak LR 0.001, warmup 0 steps (0.000707107 and 0 steps on the clock)" in r.stderr
    r = cli("predict", "clock.json", "--schedule", "constant", "--tokens-per-step", "2e5", "--json")
    assert r.returncode == 0, r.stderr
    assert "the target's 200,000 tokens a step counted as 2 steps of 100,000" in r.stderr
    data = json.loads(r.stdout)
    assert "units of 100,000 tokens" in data["clock"]["note"] and data["clock"]["unit"] == 1e5
    assert not any("units of" in w for w in data["warnings"])  # a note, not a warning
    assert data["tokens_per_step"] == 2e5
    r = cli("fit", table, "--clock", "hours")
    assert r.returncode == 2 and "--clock: must be one of steps, tokens, got 'hours'" in r.stderr


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (0, "run 'constant': tokens per step 0.0 is not a number above 0"),
        (-5, "run 'constant': tokens per step -5.0 is not a number above 0"),
        ("lots", "could not convert string to float: 'lots'"),
    ],
)
def test_a_fit_file_with_a_bad_tokens_per_step_is_refused(tmp_path, bad, message):
    data = json.loads(data_path("format1_momentum.fit.json").read_text())
    data["runs"][0]["tokens_per_step"] = bad
    (tmp_path / "f.json").write_text(json.dumps(data))
    with pytest.raises(ReadError, match=rf"f.json: damaged fit file: {message}"):
        load_fit(tmp_path / "f.json")


def test_a_branch_stitched_onto_a_parent_of_another_batch_is_refused():
    branch = read_runs(
        data_path(*WANDB, "ann0.2" + BIG[2:].replace("iter50000", "iter37500") + TAIL),
        parent="none",
    )[0]
    parent = read_runs(_export(BIG))[0]
    fork = int(branch.steps[0]) - 1
    assert stitch(parent, branch, fork, branch.schedule).tokens_per_step == 204800
    with pytest.raises(ParameterError, match="stitched onto its parent: tokens per step 205K from"):
        stitch(replace(parent, tokens_per_step=102400.0), branch, fork, branch.schedule)


# --- the target's tokens per step in optimize, check and compare ----------------------------


@pytest.fixture(scope="module")
def clock_fits(tmp_path_factory):
    """A folder with runs a, b (100,000 tokens a step) and c (200,000), each run alone in a
    file too, and their fits: ``clock.json`` (--clock tokens), ``plain.json`` (a and b, in
    steps) and ``mixed.json`` (a, b and c, in steps)."""
    from tests.conftest import run_lrcurve

    folder = tmp_path_factory.mktemp("clock")
    runs = {"a": ("1e5", 1e-3), "b": ("1e5", 2e-3), "c": ("2e5", 1e-3)}
    table = _table(folder / "t.csv", runs)
    header, *rows = table.read_text().splitlines()
    for name in runs:
        mine = [row for row in rows if f",{name}," in row]
        (folder / f"{name}.csv").write_text("\n".join([header, *mine]) + "\n")
    for args in (
        ("t.csv", "--clock", "tokens", "-o", "clock.json"),
        ("a.csv", "b.csv", "-o", "plain.json"),
        ("t.csv", "-o", "mixed.json"),
    ):
        r = run_lrcurve("fit", *args, cwd=folder)
        assert r.returncode == 0, r.stderr
    return folder


def test_optimize_scores_the_targets_candidates_on_the_fitted_clock(clock_fits):
    from tests.conftest import run_lrcurve

    def search(*args):
        r = run_lrcurve("optimize", "clock.json", "--fractions", "0.1,0.3", *args, cwd=clock_fits)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout), r.stderr

    target, said = search("--tokens-per-step", "2e5", "--shapes", "linear", "--json")
    assert (target["steps"], target["warmup"], target["tokens_per_step"]) == (4000, 0, 2e5)
    assert "steps=4000" in target["defaults_used"]  # the fit's 8000 clock steps, in the target's
    assert "in the target's steps of 200,000 tokens: the fitted runs' steps=8000" in said
    assert "the target's 200,000 tokens a step counted as 2 steps of 100,000 tokens" in said
    # a WSD of 4000 steps of twice the tokens is about the same WSD over 8000 clock steps at the
    # peak LR / sqrt(2)
    root = f"{target['peak'] / np.sqrt(2):.17g}"
    clock, _ = search("--steps", "8000", "--peak", root, "--shapes", "linear", "--json")
    steps, _ = search("--steps", "4000", "--shapes", "linear", "--json")
    losses = [[c["loss"] for c in d["candidates"]] for d in (target, clock, steps)]
    assert np.allclose(losses[0], losses[1], rtol=2e-4)
    assert not np.allclose(losses[0], losses[2], rtol=2e-3)
    for candidate in target["candidates"]:  # every number keeps its interval
        interval = candidate["interval"]
        assert interval["lower"] < candidate["loss"] < interval["upper"]
    assert target["gain_interval"]["lower"] < target["gain"] < target["gain_interval"]["upper"]


def test_predict_takes_the_fits_defaults_in_the_targets_steps(clock_fits):
    from tests.conftest import run_lrcurve

    args = ("predict", "clock.json", "--schedule", "constant", "--json")
    r = run_lrcurve(*args, "--tokens-per-step", "2e5", cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["steps"] == 4000
    # the fitted runs' highest clock peak, 2e-3, at twice the tokens: 2e-3 * sqrt(2)
    assert (
        "from the fitted runs: steps=4000, peak=0.00282843, warmup=0 (in the target's steps of "
        "200,000 tokens: the fitted runs' steps=8000, warmup=0 are steps of 100,000 tokens; "
        "the fitted peak 0.002 on the clock is 0.00282843 at the target's)"
    ) in r.stderr
    assert json.loads(r.stdout)["schedule"]["value"] == pytest.approx(2e-3 * np.sqrt(2))
    r = run_lrcurve(*args, "--tokens-per-step", "2e5", "--peak", "1e-3", cwd=clock_fits)
    assert "steps of 100,000 tokens)" in r.stderr and "the fitted peak" not in r.stderr
    r = run_lrcurve(*args, cwd=clock_fits)
    assert json.loads(r.stdout)["steps"] == 8000 and "target's steps" not in r.stderr
    assert json.loads(r.stdout)["schedule"]["value"] == 2e-3  # the clock's own


def test_check_counts_a_run_of_another_batch_on_a_clock_fit_and_reads_it_back(clock_fits):
    from lrcurve.check import check_run
    from tests.conftest import run_lrcurve

    plan = ("--schedule", "constant", "--steps", "6000", "--peak", "1e-3", "--json")
    r = run_lrcurve("check", "clock.json", "c.csv", *plan, cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    assert "c:c: its 200,000 tokens a step counted as 2 steps of 100,000 tokens" in r.stderr
    checked = json.loads(r.stdout)["runs"][0]
    assert (checked["from_step"], checked["to_step"]) == (200, 4000)  # its own steps
    assert checked["windows"][-1]["end"] == 4000
    assert checked["forecast"]["horizon"] == 6000
    # the same as checking the run counted on the clock, there
    fitted = load_fit(clock_fits / "clock.json")
    run = read_runs(clock_fits / "c.csv")[0]
    plan_schedule = replace(run, schedule=make_schedule("constant", steps=6000, peak=1e-3))
    there = check_run(fitted, on_clock(plan_schedule, 1e5))
    assert np.isclose(checked["mean_deviation"], float(np.mean(there.deviation)))
    assert np.isclose(checked["forecast"]["final_loss"], there.forecast.final_loss)
    lower, upper = (checked["forecast"]["interval"][k] for k in ("lower", "upper"))
    assert lower < checked["forecast"]["final_loss"] < upper


def test_check_of_another_batch_on_a_fit_in_steps_warns_unless_given(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("check", "plain.json", "c.csv", "--json", cwd=clock_fits)
    assert r.returncode in (0, 1), r.stderr
    assert (
        "warning: the runs differ in tokens per step: 100,000 (a:a, b:b); 200,000 (c:c); the "
        "laws count optimizer steps"
    ) in r.stderr
    assert "counted as" not in r.stderr
    in_steps = json.loads(r.stdout)["runs"][0]["mean_deviation"]
    r = run_lrcurve("check", "plain.json", "c.csv", "--tokens-per-step", "2e5", cwd=clock_fits)
    assert "its 200,000 tokens a step counted as 2 steps" in r.stderr
    assert "differ in tokens per step" not in r.stderr
    r = run_lrcurve("check", "plain.json", "a.csv", cwd=clock_fits)  # its own batch: nothing
    assert r.returncode == 0 and "tokens" not in r.stderr
    assert in_steps != 0


def test_compare_counts_the_runs_on_a_clock_of_tokens(clock_fits):
    from tests.conftest import run_lrcurve

    (clock_fits / "d.csv").write_text(
        "\n".join(
            line.rsplit(",", 1)[0] for line in (clock_fits / "c.csv").read_text().splitlines()
        )
        + "\n"
    )  # run c without its tokens per step
    args = ("compare", "a.csv", "d.csv", "--holdout", "b.csv", "--clock", "tokens", "--json")
    r = run_lrcurve(*args, "--tokens-per-step", "d.csv=2e5", cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    assert "d:c: 200,000 tokens a step, counted as 2 steps of 100,000 tokens" in r.stderr
    assert "steps counted in units of 100,000 tokens" in r.stderr
    r = run_lrcurve(*args, cwd=clock_fits)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--tokens-per-step: d:c: its tokens per step are not known" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("optimize", "mixed.json", "--tokens-per-step", "2e5"), "the fitted runs differ in"),
        (("optimize", "clock.json", "--tokens-per-step", "0"), "'0' must be above 0"),
        (("optimize", "clock.json", "--tokens-per-step", "lots"), "not a number of tokens"),
        (("optimize", "clock.json", "--family", "rewarmup", "--tokens-per-step", "2e5"), "re-warm"),
        (("predict", "clock.json", "--tokens-per-step", "-1"), "'-1' must be above 0"),
        (("predict", "clock.json", "--tokens-per-step", "1e300"), "within 0.001x to 1000x"),
        (("optimize", "clock.json", "--tokens-per-step", "1e300"), "within 0.001x to 1000x"),
        (("predict", "clock.json", "--tokens-per-step", "1e-300"), "less than one token"),
        (("predict", "clock.json", "--tokens-per-step", "50"), "0.0005x the fitted runs'"),
        (("check", "clock.json", "c.csv", "--tokens-per-step", "0"), "'0' must be above 0"),
        (("check", "clock.json", "c.csv", "--tokens-per-step", "lots"), "not a number of tokens"),
        (("check", "mixed.json", "c.csv", "--tokens-per-step", "2e5"), "the fitted runs differ"),
        (("compare", "a.csv", "--clock", "hours"), "--clock: must be one of steps, tokens"),
    ],
)
def test_tokens_per_step_refusals_are_one_line_exit_2(clock_fits, args, message):
    from tests.conftest import run_lrcurve

    r = run_lrcurve(*args, cwd=clock_fits)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr
    assert ("--clock" if "--clock" in args else "--tokens-per-step") in r.stderr


def test_predict_compares_schedules_of_the_target_on_the_fitted_clock(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve(
        "predict", "clock.json", "--schedule", "constant", "--compare-to", "wsd decay=0.5",
        "--tokens-per-step", "2e5", "--json", cwd=clock_fits,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    first, wsd = json.loads(r.stdout)["schedules"]
    difference = wsd["vs_first"]
    assert difference["step"] == 4000  # the target's last step
    assert np.isclose(difference["value"], wsd["final"]["loss"] - first["final"]["loss"])
    assert difference["lower"] < difference["value"] < difference["upper"]


def test_predict_and_optimize_read_tokens_per_step_as_fit_does(clock_fits):
    from tests.conftest import run_lrcurve

    args = ("predict", "clock.json", "--schedule", "constant", "--json")
    plain = run_lrcurve(*args, "--tokens-per-step", "2e5", cwd=clock_fits)
    suffixed = run_lrcurve(*args, "--tokens-per-step", "200K", cwd=clock_fits)
    assert suffixed.returncode == 0, suffixed.stderr
    assert json.loads(suffixed.stdout)["final"] == json.loads(plain.stdout)["final"]
    r = run_lrcurve("optimize", "clock.json", "--tokens-per-step", "200K", "--fractions", "0.2",
                    "--shapes", "linear", "--json", cwd=clock_fits)  # fmt: skip
    assert r.returncode == 0 and json.loads(r.stdout)["tokens_per_step"] == 2e5, r.stderr


def test_a_batch_beyond_twice_the_fitted_clock_is_said_not_widened(clock_fits):
    from tests.conftest import run_lrcurve

    def predict(tokens):
        r = run_lrcurve("predict", "clock.json", "--schedule", "constant", "--steps", "2000",
                        "--tokens-per-step", tokens, "--json", cwd=clock_fits)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout), r.stderr

    twice, said = predict("2e5")  # the fitted runs' own 2x: nothing
    assert "batch" not in said and not any("critical batch" in w for w in twice["warnings"])
    four, said = predict("4e5")
    assert "extrapolating (batch 4x the fitted)" in said
    _, said = predict("1e8")  # a readable ratio, not 1e+03x
    assert "batch 1,000x the fitted" in said and "1e+03" not in said
    _, said = predict("1e5")  # the clock's own steps: nothing said of counting them
    assert "counted as" not in said and "batch" not in said
    assert any("measured only at 2x" in w for w in four["warnings"])
    # the same interval as the prediction it is read back from: 8000 clock steps at 4x, at the
    # LR / 2: the default peak is the fit's clock peak, 2e-3, at four times the tokens
    assert four["schedule"]["value"] == pytest.approx(4e-3)
    clock = ("predict", "clock.json", "--schedule", "constant", "--steps", "8000", "--json")
    assert four["final"]["interval"] == pytest.approx(
        run_json(clock_fits, *clock)["final"]["interval"]
    )
    r = run_lrcurve("optimize", "clock.json", "--tokens-per-step", "4e5", "--fractions", "0.2",
                    "--shapes", "linear", "--json", cwd=clock_fits)  # fmt: skip
    assert "batch 4x the fitted" in r.stderr, r.stderr
    assert any("measured only at 2x" in w for w in json.loads(r.stdout)["warnings"])


def run_json(folder, *args):
    from tests.conftest import run_lrcurve

    r = run_lrcurve(*args, cwd=folder)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_clock_beyond_the_step_limit_is_refused():
    from lrcurve.runs import MAX_STEPS
    from lrcurve.tokens import stretched

    schedule = make_schedule("constant", steps=MAX_STEPS, peak=1e-3)
    with pytest.raises(ParameterError, match="steps on the clock, beyond 50,000,000") as err:
        stretched(schedule, 2.0, MAX_STEPS)
    assert err.value.param == "tokens_per_step"


def test_compare_says_a_heldout_run_of_another_batch(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("compare", "a.csv", "b.csv", "--holdout", "c.csv", "--json", cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    said = [line for line in r.stderr.splitlines() if "differ in tokens per step" in line]
    assert len(said) == 1 and "(lrcurve fit --clock tokens;" in said[0]
    assert said[0] == "lrcurve: warning: " + json.loads(r.stdout)["warnings"][0]
    r = run_lrcurve("compare", "a.csv", "b.csv", "--holdout", "c.csv", "--clock", "tokens",
                    cwd=clock_fits)  # fmt: skip
    assert r.returncode == 0 and "differ in tokens per step" not in r.stderr, r.stderr


def test_check_plot_draws_the_run_at_its_own_steps_and_fit_plot_labels_clock_steps(clock_fits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrcurve.plotting import plot_check, plot_fit
    from lrcurve.target_clock import check_at_batch, target_clock

    fitted = load_fit(clock_fits / "clock.json")
    run = read_runs(clock_fits / "c.csv")[0]  # 200,000 tokens a step: 2 clock steps each
    own, counted = check_at_batch(fitted, run, target_clock(fitted, run.tokens_per_step))
    figure = plot_check(fitted, own, counted=counted)
    line = next(x for x in figure.axes[0].lines if x.get_label() == "predicted")
    steps, loss = line.get_xdata(), line.get_ydata()
    assert steps[-1] == run.last_step == 4000  # not its 8000 clock steps
    clock_steps = 2 * np.asarray(steps, dtype=np.int64)
    assert np.allclose(loss, fitted.curve(counted.run.schedule, clock_steps))
    assert plot_fit(fitted).axes[1].get_xlabel() == "step (100,000 tokens)"
    assert plot_fit(load_fit(clock_fits / "plain.json")).axes[1].get_xlabel() == "step"
    plt.close("all")


# --- a clock fit of several sizes: the target's tokens per step at a size -----------------


@pytest.fixture(scope="module")
def sized_clock(tmp_path_factory):
    """A clock fit (momentum-size) of 10M runs a, b (100,000 tokens a step, 4,000 steps) and
    100M runs c, d (200,000 tokens a step, 30,000 steps: 60,000 on the clock): ``sized.json``,
    and ``old.json``, the same as a fit file written before the clock had a field."""
    from tests.conftest import run_lrcurve

    folder = tmp_path_factory.mktemp("sized")
    runs = {"a": (1e5, 1e-3, 1e7, 100), "b": (1e5, 2e-3, 1e7, 100)}
    runs |= {"c": (2e5, 1e-3, 1e8, 750), "d": (2e5, 2e-3, 1e8, 750)}
    rows = [
        f"{every * i},{lr},{_loss(every * i * tokens / 1e5, lr) + 50 * size**-0.3:.5f},"
        f"{name},{tokens:g},{size:g}"
        for name, (tokens, lr, size, every) in runs.items()
        for i in range(1, 41)
    ]
    head = "step,lr,loss,run,tokens_per_step,params\n"
    (folder / "s.csv").write_text(head + "\n".join(rows) + "\n")
    r = run_lrcurve(
        "fit", "s.csv", "--law", "momentum-size", "--clock", "tokens", "-o", "sized.json",
        cwd=folder,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "lrcurve: steps counted in units of 100,000 tokens" in r.stderr  # a note
    assert "warning: steps counted" not in r.stderr
    data = json.loads((folder / "sized.json").read_text())
    assert data["clock"]["logged_tokens_per_step"] == {
        "s:a": 1e5,
        "s:b": 1e5,
        "s:c": 2e5,
        "s:d": 2e5,
    }
    old = {k: v for k, v in data.items() if k != "clock"}
    old["warnings"] = [*data["warnings"], data["clock"]["note"]]
    (folder / "old.json").write_text(json.dumps(old))
    return folder


def test_predict_at_a_size_takes_the_tokens_per_step_its_runs_logged(sized_clock):
    from tests.conftest import run_lrcurve

    args = ("predict", "sized.json", "--params", "100M", "--schedule", "constant", "--json")
    r = run_lrcurve(*args, cwd=sized_clock)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["steps"], data["tokens_per_step"]) == (30000, 2e5)  # not the 60,000 clock steps
    assert "tokens per step 200,000: as the fitted runs of 100M (c, d) logged" in r.stderr
    assert "the fitted runs' steps=60000" in r.stderr
    assert "warning: the fit says: steps counted" not in r.stderr
    given = run_lrcurve(*args, "--tokens-per-step", "2e5", cwd=sized_clock)
    assert json.loads(given.stdout)["final_loss"] == data["final_loss"]
    # a fit file written before the clock had a field: still a clock fit, its note a note
    r = run_lrcurve(*[a if a != "sized.json" else "old.json" for a in args], cwd=sized_clock)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["clock"]["unit"] == 1e5
    assert "lrcurve: steps counted in units of 100,000 tokens" in r.stderr
    assert "warning: the fit says: steps counted" not in r.stderr
    assert "steps are clock steps of 100,000 tokens" in r.stderr  # it kept no run's own
    assert json.loads(r.stdout)["steps"] == 60000


def test_optimize_at_a_size_takes_the_tokens_per_step_its_runs_logged(sized_clock):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("optimize", "sized.json", "--params", "100M", "--fractions", "0.2",
                    "--shapes", "linear", "--json", cwd=sized_clock)  # fmt: skip
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert (data["steps"], data["tokens_per_step"], data["clock"]["unit"]) == (30000, 2e5, 1e5)
    assert "tokens per step 200,000: as the fitted runs of 100M (c, d) logged" in r.stderr
    assert "lrcurve: steps counted in units of 100,000 tokens" in r.stderr
    assert not any("units of" in w for w in data["warnings"])


def test_predict_without_a_size_says_its_steps_are_the_clocks(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("predict", "clock.json", "--schedule", "constant", cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    assert "steps are clock steps of 100,000 tokens" in r.stderr  # a, b and c differ


@pytest.mark.parametrize("command", ["predict", "optimize"])
def test_a_default_horizon_beyond_the_most_names_tokens_per_step(sized_clock, command):
    from tests.conftest import run_lrcurve

    args = (command, "sized.json", "--params", "100M", "--tokens-per-step", "101")
    r = run_lrcurve(*args, cwd=sized_clock)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (
        "--tokens-per-step: the fitted runs' horizon is 59,405,941 of the target's steps, beyond "
        "50,000,000, the most lrcurve handles; give --steps"
    ) in r.stderr


def test_check_json_keeps_the_batch_warning(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("check", "plain.json", "c.csv", "--json", cwd=clock_fits)
    data = json.loads(r.stdout)
    assert "the runs differ in tokens per step" in data["runs"][0]["warnings"][0]
    fitted = load_fit(clock_fits / "plain.json")
    assert data["warnings"] == [f"the fit says: {w}" for w in fitted.warnings]


def test_compare_on_a_clock_reports_held_out_finals_at_their_own_steps(clock_fits):
    from lrcurve.decision_plots import LAW_STYLES
    from lrcurve.laws import LAWS
    from tests.conftest import run_lrcurve

    args = ("compare", "a.csv", "b.csv", "--holdout", "c.csv", "--clock", "tokens", "--json")
    r = run_lrcurve(*args, cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["clock_unit"] == 1e5
    for law in data["laws"]:  # c ran 4,000 steps of 200,000 tokens: 8,000 on the clock
        final = law["heldout"][0]["final"]
        assert (final["step"], final["clock_step"]) == (4000, 8000)
    assert len(set(LAW_STYLES)) >= len(LAWS)  # each law of the plot its own line style


def test_a_prediction_plot_at_another_batch_draws_the_fitted_runs_in_its_steps(clock_fits):
    from lrcurve.plotting import plot_prediction, plt

    fitted = load_fit(clock_fits / "clock.json")  # a, b: 4,000 steps; c: 8,000 on the clock
    pred = predict_at_batch(fitted, make_schedule("constant", steps=4000, peak=1e-3), 4000, 2e5)
    fig = plot_prediction(fitted, [pred], tokens_per_step=2e5)
    assert fig.axes[1].get_xlabel() == "step (200,000 tokens)"
    ends = [line.get_xdata()[-1] for line in fig.axes[0].lines]
    assert max(ends) == 4000  # c's 8,000 clock steps are the target's 4,000, as predicted
    plt.close(fig)
    fig = plot_prediction(fitted, [fitted.predict(pred.schedule, 4000)])
    assert fig.axes[1].get_xlabel() == "step (100,000 tokens)"  # the clock's, as plot_fit's
    plt.close(fig)


def test_the_clock_is_a_field_of_the_fit_kept_through_its_dict_and_a_replace(clock_fits):
    from lrcurve.fitted import FittedLaw

    fitted = load_fit(clock_fits / "clock.json")
    assert type(fitted) is FittedLaw and fitted.clock is not None
    assert fitted.clock.unit == 1e5 and set(fitted.clock.logged.values()) == {1e5, 2e5}
    again = FittedLaw.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert again.clock == fitted.clock
    assert replace(fitted, backtest_scale=0.01).clock == fitted.clock
    assert load_fit(clock_fits / "plain.json").clock is None
    assert "clock" not in load_fit(clock_fits / "plain.json").to_dict()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8),
    st.floats(1e-4, 1e-2),
    st.integers(20, 5000),
    st.sampled_from(("constant", "cosine", "wsd")),
)
def test_a_schedule_on_the_clock_keeps_its_shape_and_sums_sqrt_k_times_its_lr(k, peak, n, kind):
    # an integer k: each step exactly k clock steps, at the LR / sqrt(k)
    schedule = make_schedule(kind, steps=n, peak=peak)
    clocked = stretched(schedule, k, n)
    lr = schedule.per_step(n)
    on = clocked.per_step(k * n)
    assert np.isclose(on.sum(), np.sqrt(k) * lr.sum(), rtol=1e-9)
    assert np.allclose(on.reshape(n, k).T, lr / np.sqrt(k), rtol=1e-12)
    assert np.isclose(clocked.peak, lr.max() / np.sqrt(k), rtol=1e-12)


def test_schedule_show_says_a_clock_fits_default_steps_are_its_clock_steps(clock_fits):
    from tests.conftest import run_lrcurve

    r = run_lrcurve("schedule", "show", "--fit", "clock.json", "--schedule", "cosine",
                    cwd=clock_fits)  # fmt: skip
    assert r.returncode == 0, r.stderr
    said = "steps=8000, peak=0.002, warmup=0 (steps=8000, warmup=0: clock steps of 100,000 tokens"
    assert said in r.stderr
    r = run_lrcurve("schedule", "show", "--fit", "plain.json", "--schedule", "cosine",
                    cwd=clock_fits)  # fmt: skip
    assert "steps=4000, peak=0.002, warmup=0\n" in r.stderr and "clock" not in r.stderr


def test_a_clock_fits_default_peak_is_the_lr_the_runs_logged(cli, tmp_path):
    # c logs 2e-3 at twice the tokens: 1.41e-3 on the clock, 2e-3 its own
    table = _table(tmp_path / "t.csv", {"a": ("1e5", 1e-3), "c": ("2e5", 2e-3)})
    assert cli("fit", table, "--clock", "tokens", "-o", "clock.json").returncode == 0
    r = cli("predict", "clock.json", "--schedule", "constant", "--tokens-per-step", "2e5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["schedule"]["value"] == pytest.approx(2e-3)
    assert "peak=0.002" in r.stderr


def test_a_clock_fit_file_from_before_the_lr_rule_keeps_counting_at_the_lr_as_logged(clock_fits):
    """A file without the clock's ``lr_exponent`` was fitted with each step counted at its LR:
    its targets are counted so too, not under the square-root rule."""
    data = json.loads((clock_fits / "clock.json").read_text())
    assert data["clock"]["lr_exponent"] == 0.5
    del data["clock"]["lr_exponent"]
    (clock_fits / "before.json").write_text(json.dumps(data))
    old = load_fit(clock_fits / "before.json")
    assert old.clock.lr_exponent == 0.0
    constant = make_schedule("constant", steps=3000, peak=1e-3)
    doubled = predict_at_batch(old, constant, 3000, 2e5, level=0.9)
    plain = old.predict(make_schedule("constant", steps=6000, peak=1e-3), 6000, level=0.9)
    assert np.allclose(doubled.loss, plain.loss[1::2])
    assert "2 steps of 100,000 tokens at its LR, the fitted" in clock_said(old, 2e5)
    assert "at its LR / 1.41" in clock_said(load_fit(clock_fits / "clock.json"), 2e5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unit", 0, "clock: tokens per step of unit is 0, not above 0"),
        ("logged_tokens_per_step", {"c": -5}, "clock: tokens per step of c is -5, not above 0"),
        ("lr_exponent", 3, "clock: lr_exponent 3 is not in"),
    ],
)
def test_a_damaged_clock_in_a_fit_file_is_refused(clock_fits, tmp_path, field, value, message):
    data = json.loads((clock_fits / "clock.json").read_text())
    data["clock"][field] = value
    (tmp_path / "f.json").write_text(json.dumps(data))
    with pytest.raises(ReadError, match=f"f.json: damaged fit file: {message}"):
        load_fit(tmp_path / "f.json")


@pytest.mark.parametrize("tokens", [5e4, 1.5e5, 2e5])
def test_a_prediction_read_back_shows_the_targets_own_lr_at_every_step(clock_fits, tokens):
    fitted = load_fit(clock_fits / "plain.json")
    wsd = make_schedule("wsd", steps=2000, peak=1e-3, warmup=100, decay=0.2)
    prediction = predict_at_batch(fitted, wsd, 2000, tokens, level=None)
    assert np.array_equal(prediction.lr, wsd.per_step(2000))


def test_a_peak_lr_extrapolation_is_said_in_the_targets_lr(clock_fits):
    fitted = load_fit(clock_fits / "clock.json")  # clock peaks 1e-3, 2e-3 and c's 7.07e-4
    wide = make_schedule("constant", steps=3000, peak=8e-3)  # 5.66e-3 on the clock
    said = predict_at_batch(fitted, wide, 3000, 2e5, level=0.9).extrapolating
    assert "peak LR 0.008, fitted at 0.00282843" in said  # 2e-3 at twice the tokens


def test_compare_on_a_clock_draws_and_says_each_runs_lr_as_logged(clock_fits, monkeypatch):
    import lrcurve.decision_plots as plots
    from tests.conftest import run_lrcurve

    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.append(fig))
    args = ("a.csv", "b.csv", "--clock", "tokens", "--holdout", "c.csv", "--plot", "c.png")
    r = run_lrcurve("compare", *args, cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    # said in c's own LR: it logged 1e-3 at twice a's tokens a step, where a's 1e-3 is 1.41e-3
    assert "c: peak LR 0.001 differs from the fitted runs' 0.00141421 (the nearest)" in r.stderr
    lr_axis = drawn[0].axes[1]
    peaks = sorted(round(float(line.get_ydata().max()), 6) for line in lr_axis.get_lines())
    assert peaks and set(peaks) <= {1e-3, 2e-3}  # c logged 1e-3 at twice the tokens, not 7.07e-4


def test_what_is_said_of_the_fitted_regime_is_in_the_targets_units(clock_fits):
    from tests.conftest import run_lrcurve

    def run_json(*args):
        r = run_lrcurve(*args, "--json", cwd=clock_fits)
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout), r.stderr

    # predict: the horizon in the target's steps (8000 of them are 16,000 clock steps)
    data, _ = run_json("predict", "clock.json", "--schedule", "constant", "--steps", "8000",
                       "--tokens-per-step", "2e5")  # fmt: skip
    assert "8000 steps is 2.0x the longest fitted run; the law extrapolates" in data["warnings"]
    # optimize: its default peak (the clock's 2e-3 at twice the tokens) is not beyond the fit
    data, _ = run_json("optimize", "clock.json", "--tokens-per-step", "2e5", "--fractions",
                       "0.2", "--shapes", "linear")  # fmt: skip
    assert not any("exceeds the fitted runs' peak" in w for w in data["warnings"])
    # check: a run of twice the tokens at 4e-3 (2.83e-3 on the clock) said in its own LR
    rows = (clock_fits / "c.csv").read_text().replace(",0.001,", ",0.004,").replace(",c,", ",d,")
    (clock_fits / "d.csv").write_text(rows)
    data, said = run_json("check", "clock.json", "d.csv")
    assert "peak LR 0.004, fitted at 0.00282843" in said


def test_optimize_counts_a_measured_run_on_a_clock_fit_by_its_own_tokens(clock_fits):
    from tests.conftest import run_lrcurve

    def measured(*extra):
        args = ("optimize", "clock.json", "--fractions", "0.2", "--shapes", "linear",
                "--measured", "c.csv", "--json", *extra)  # fmt: skip
        r = run_lrcurve(*args, cwd=clock_fits)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["measured"][0]["predicted"]

    assert measured() == pytest.approx(measured("--tokens-per-step", "2e5"), rel=1e-9)


def test_predict_says_a_measured_run_of_other_tokens_a_step(clock_fits):
    from tests.conftest import run_lrcurve

    args = ("predict", "clock.json", "--schedule", "constant", "--measured", "c.csv")
    r = run_lrcurve(*args, "--tokens-per-step", "1e5", cwd=clock_fits)
    assert r.returncode == 0, r.stderr
    said = "measured run c:c logged 200,000 tokens a step, the prediction is for 100,000"
    assert said in r.stderr
    r = run_lrcurve(*args, "--tokens-per-step", "2e5", cwd=clock_fits)
    assert "logged 200,000 tokens a step" not in r.stderr
