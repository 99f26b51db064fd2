"""Tokens per step: read from W&B configs, table columns and --tokens-per-step FILE=N, kept in
fit files, and a fit of runs of two batch sizes says so (issue 15)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from lrcurve.errors import ParameterError, ReadError
from lrcurve.fitfile import load_fit, save_fit
from lrcurve.fitting import fit
from lrcurve.io import read_runs
from lrcurve.io.stitch import stitch
from lrcurve.io.tokens import parse_tokens
from lrcurve.tokens import batch_warning, on_clock, predict_at_batch, token_clock
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


def test_on_clock_counts_each_step_of_k_times_the_tokens_k_times_at_its_lr():
    run = read_runs(_export(BIG))[0]
    clocked = on_clock(run, 102400)
    assert np.array_equal(clocked.steps, 2 * run.steps)
    assert np.array_equal(clocked.loss, run.loss)
    n = run.last_step
    assert np.array_equal(clocked.schedule.per_step(2 * n), np.repeat(run.schedule.per_step(n), 2))
    assert clocked.warmup_steps == 2 * run.warmup_steps and clocked.tokens_per_step == 102400
    assert "204,800 tokens a step, counted as 2 steps of 102,400 tokens" in clocked.notes[-1]
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
    plain = fitted.predict(constant, 6000, level=0.9)
    assert doubled.steps.tolist() == list(range(1, 3001))
    assert np.allclose(doubled.loss, plain.loss[1::2]) and np.allclose(doubled.sd, plain.sd[1::2])
    same = predict_at_batch(fitted, constant, 3000, 1e5, level=0.9)
    assert np.allclose(same.loss, plain.loss[:3000])
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
    r = cli("predict", "clock.json", "--schedule", "constant", "--tokens-per-step", "2e5", "--json")
    assert r.returncode == 0, r.stderr
    assert "the target's 200,000 tokens a step counted as 2 steps of 100,000" in r.stderr
    assert any("units of 100,000 tokens" in w for w in json.loads(r.stdout)["warnings"])
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
