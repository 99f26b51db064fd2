import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lrcurve.errors import InputError
from lrcurve.fitting import fit
from lrcurve.io import read_runs
from lrcurve.io.smoothing import parse_smoothing, smooth
from lrcurve.io.stitch import stitch
from lrcurve.io.wandb_config import resume_point, schedule_from_config
from lrcurve.runs import Run
from lrcurve.schedules import Constant, Join, Piecewise
from tests.conftest import FUZZ_SCALE, SAMPLES, data_path

LR_DATA = ("lr-scheduling",)
STABLE = (
    "stable-124m_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300"
    "_decay_linear_0.0_iter50000_bs50x2_ws2_seed0_data_seed1337.json"
)
COSINE = (
    "cos-10-124m_slimpajama_llama_norm_nlayers12_nhead12_lr0.0005_sched_cos_warmup300"
    "_decay_sqrt_0.0_iter25000_bs50x2_ws2_seed0_data_seed1337.json"
)


def lr_file(name: str):
    return data_path("lr-scheduling", "data", name)


@pytest.fixture(scope="module")
def index() -> pd.DataFrame:
    return pd.read_csv(data_path("lr-scheduling", "index.csv"))


def one_of(index: pd.DataFrame, **where) -> str:
    rows = index
    for key, value in where.items():
        rows = rows[rows[key] == value]
    assert len(rows), where
    return rows.file.iloc[0]


@pytest.mark.parametrize(
    "where",
    [
        dict(scheduler="wsd", decay_type="linear", needs_stitch_with_stable_run=False),
        dict(scheduler="wsd", decay_type="sqrt", needs_stitch_with_stable_run=False),
        dict(scheduler="cos", family="cos-10-124m"),
        dict(scheduler="cos", family="cos-zero-124m"),
        dict(scheduler="wsd_twostage"),
    ],
)
def test_config_schedule_reproduces_every_logged_lr(index, where):
    path = data_path("lr-scheduling", one_of(index, **where))
    data = json.loads(path.read_text())
    schedule = schedule_from_config(data["config"])
    train = data["history"]["train"]
    steps, logged = np.array(train["iter"], dtype=float), np.array(train["train_lr"], dtype=float)
    used = (
        steps < data["config"]["iterations"]
    )  # the LR logged after the last update is used by none
    np.testing.assert_allclose(
        schedule(steps[used]), logged[used], rtol=1e-5, atol=1e-6 * data["config"]["lr"]
    )
    assert schedule.horizon == data["config"]["iterations"]
    run = read_runs(path)[0]
    assert (
        run.schedule == schedule
        and "rebuilt from the W&B config" in run.lr_origin
        and "matches" in run.lr_origin
    )
    assert not any("warning" in n for n in run.notes)


def test_reads_validation_loss_by_default_and_train_loss_on_request():
    data = json.loads(lr_file(STABLE).read_text())
    val = read_runs(lr_file(STABLE))[0]
    val_iters = np.array(data["history"]["val"]["iter"])
    assert set(val.steps) == set(val_iters[val_iters > 0])  # sorted, deduplicated, step 0 dropped
    assert np.all(np.diff(val.steps) > 0)
    last = dict(zip(data["history"]["val"]["iter"], data["history"]["val"]["val_loss"]))
    assert val.loss[-1] == pytest.approx(last[val.steps[-1]])

    raw = read_runs(lr_file(STABLE), loss="train", smooth="none")[0]
    train = dict(zip(data["history"]["train"]["iter"], data["history"]["train"]["train_loss"]))
    assert np.allclose(raw.loss, [train[s] for s in raw.steps])
    smoothed = read_runs(lr_file(STABLE), loss="train")[0]  # auto: a training loss is smoothed
    assert any("window:11" in n for n in smoothed.notes)
    assert np.std(np.diff(smoothed.loss)) < 0.5 * np.std(np.diff(raw.loss))
    named = read_runs(lr_file(STABLE), loss="val_perplexity")[0]
    assert np.allclose(
        named.loss, np.log(np.exp(val.loss)), rtol=1e-6
    )  # perplexity converted to nats


def test_missing_loss_series_is_one_clear_error():
    with pytest.raises(InputError, match="no series 'val_bpb'.*val_loss"):
        read_runs(lr_file(STABLE), loss="val_bpb")


def test_every_run_needing_a_stitch_is_stitched_at_its_fork(index):
    flagged = index[index.needs_stitch_with_stable_run]
    for file in flagged.file.iloc[::10]:
        path = data_path("lr-scheduling", file)
        config = json.loads(path.read_text())["config"]
        _, fork = resume_point(config)
        run = read_runs(path)[0]
        assert any(f"at step {fork}" in n and "stitched onto" in n for n in run.notes), run.notes
        assert run.steps[0] < fork <= run.steps[-1]
        assert np.all(np.diff(run.steps) > 0)
        assert run.schedule.horizon == config["iterations"]


def test_stitched_branch_has_the_parents_history_and_fits_better_than_the_branch_alone(index):
    file = one_of(
        index,
        family="ann124-0.2",
        needs_stitch_with_stable_run=True,
        decay_type="linear",
        peak_lr=0.001,
    )
    path = data_path("lr-scheduling", file)
    stitched = read_runs(path)[0]
    alone = read_runs(path, parent="none")[0]
    fork = resume_point(json.loads(path.read_text())["config"])[1]
    assert alone.steps[0] >= fork and stitched.steps[0] < 0.1 * fork
    assert np.array_equal(stitched.steps[stitched.steps >= fork], alone.steps)
    parent = read_runs(lr_file(STABLE))[0]  # the run named in the branch's resume_from
    assert stitched.inputs == (str(lr_file(STABLE)), str(path))  # both read: both inputs
    assert alone.inputs == (str(path),)
    before = stitched.steps < fork
    assert np.array_equal(stitched.loss[before], parent.loss[parent.steps < fork])
    # the stable parent alone says nothing about annealing; with the branch the fit sees a cooldown
    fitted = fit([stitched])
    assert fitted.scores()[stitched.name].mape < 0.5


def test_explicit_parent_of_a_csv_branch_joins_the_schedules(tmp_path):
    parent = pd.read_csv(SAMPLES / "constant.csv")
    branch = pd.read_csv(SAMPLES / "wsd.csv")
    fork = 20000
    (tmp_path / "stable.csv").write_text(parent.to_csv(index=False))
    (tmp_path / "cooldown.csv").write_text(branch[branch.step >= fork].to_csv(index=False))
    run = read_runs(tmp_path / "cooldown.csv", parent=str(tmp_path / "stable.csv"))[0]
    assert isinstance(run.schedule, Join) and run.schedule.boundaries == (
        int(branch.step[branch.step >= fork].iloc[0]) - 1,
    )
    assert run.steps[0] == parent.step.iloc[0] and run.steps[-1] == branch.step.iloc[-1]
    whole = read_runs(SAMPLES / "wsd.csv")[0]
    np.testing.assert_allclose(run.schedule(whole.steps), whole.schedule(whole.steps), rtol=1e-9)
    with pytest.raises(InputError, match="its own parent"):
        read_runs(tmp_path / "stable.csv", parent=str(tmp_path / "stable.csv"))


def test_stitch_needs_points_on_both_sides():
    parent = Run("p", np.array([100, 200]), np.array([3.0, 2.9]), Constant(1e-3, 1000))
    branch = Run(
        "b", np.array([300, 400]), np.array([2.8, 2.7]), Piecewise((300.0, 400.0), (1e-3, 5e-4))
    )
    with pytest.raises(InputError, match="no logged loss before"):
        stitch(parent, branch, 50)
    with pytest.raises(InputError, match="from the fork step 500"):
        stitch(parent, branch, 500)
    assert list(stitch(parent, branch, 299).steps) == [100, 200, 300, 400]


def test_config_lr_mismatch_is_a_note(tmp_path):
    data = json.loads(lr_file(COSINE).read_text())
    data["config"]["lr"] = 0.0006  # the logged LR says 5e-4
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(data))
    run = read_runs(path)[0]
    assert any("warning" in n and "differs from the logged LR" in n for n in run.notes)
    assert "matches" not in run.lr_origin


@pytest.mark.parametrize(
    "key, value",
    [
        ("wsd_fract_decay", -1),
        ("wsd_fract_decay", 1.5),
        ("wsd_final_lr_scale", -0.5),
        ("wsd_final_lr_scale", 3.0),
        ("lr", 1e-100),
        ("lr", 1e100),
        ("iterations", 10**9),
        ("cos_final_lr", 0.5),
    ],
)
def test_out_of_range_config_falls_back_to_the_logged_lr(tmp_path, key, value):
    """A config LR of 1e-100 replaced the logged LR and overflowed the fit; a floor above the peak
    is no decay."""
    data = json.loads(lr_file(COSINE).read_text())
    data["config"].update({"scheduler": "cos" if key == "cos_final_lr" else "wsd", key: value})
    path = tmp_path / "bad_config.json"
    path.write_text(json.dumps(data))
    assert schedule_from_config(data["config"]) is None
    run = read_runs(path)[0]
    assert not run.lr_origin.startswith("rebuilt") and run.peak_lr > 0


def test_history_as_logged_rows_and_no_config(tmp_path):
    rows = [
        {"_step": i, "trainer/global_step": 10 * (i + 1), "lr": 1e-3, "train/loss": 4 - 0.01 * i}
        for i in range(30)
    ]
    rows += [
        {"_step": 30 + i, "trainer/global_step": 50 * (i + 1), "val/loss": 3.9 - 0.05 * i}
        for i in range(6)
    ]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"name": "x", "config": {}, "history": rows}))
    run = read_runs(path)[0]
    assert list(run.steps) == [50, 100, 150, 200, 250, 300]  # the training step, not W&B's _step
    assert run.lr_origin.startswith("interpolated") and run.peak_lr == 1e-3


def test_steps_counted_by_wandb_log_calls_are_said(tmp_path):
    """Rows with only W&B's _step were fitted on log-call counts with no word of it."""
    rows = [{"_step": i, "lr": 1e-3, "train/loss": 4 - 0.01 * i} for i in range(30)]
    path = tmp_path / "calls.json"
    path.write_text(json.dumps({"name": "x", "config": {}, "history": rows}))
    run = read_runs(path)[0]
    assert any("the steps are W&B's '_step', its count of log calls" in n for n in run.notes), (
        run.notes
    )
    rows = [{**row, "trainer/global_step": 10 * (row["_step"] + 1)} for row in rows]
    path.write_text(json.dumps({"name": "x", "config": {}, "history": rows}))
    assert not any("'_step'" in n for n in read_runs(path)[0].notes)


def test_wandb_panel_export(tmp_path):
    steps = np.arange(100, 2100, 100)
    frame = pd.DataFrame({"Step": steps})
    for run, scale in (("a", 1.0), ("b", 1.02)):
        frame[f"{run} - val_loss"] = scale * (3 + 10 / np.sqrt(steps))
        frame[f"{run} - val_loss__MIN"] = frame[f"{run} - val_loss"] - 0.01
        frame[f"{run} - val_loss__MAX"] = frame[f"{run} - val_loss"] + 0.01
        frame[f"{run} - lr"] = 1e-3
    frame.loc[3, "b - val_loss"] = np.nan  # runs logged at other steps leave blanks
    path = tmp_path / "panel.csv"
    path.write_text(frame.to_csv(index=False))
    runs = {r.name: r for r in read_runs(path)}
    assert set(runs) == {"panel:a", "panel:b"}
    assert len(runs["panel:a"].steps) == 20 and len(runs["panel:b"].steps) == 19
    assert runs["panel:b"].loss[0] == pytest.approx(1.02 * (3 + 1))
    no_lr = frame[[c for c in frame.columns if not c.endswith(" - lr")]]
    no_lr.to_csv(path, index=False)
    with pytest.raises(InputError, match="no learning-rate metric"):
        read_runs(path)


def small_panel(path, runs=("a",), sep=","):
    """A W&B panel export of ``runs``, each with a val_loss and an lr metric, written to
    ``path``."""
    steps = np.arange(100, 2100, 100)
    frame = pd.DataFrame({"Step": steps})
    for i, run in enumerate(runs):
        frame[f"{run} - val_loss"] = (1 + 0.02 * i) * (3 + 10 / np.sqrt(steps))
        frame[f"{run} - lr"] = 1e-3
    path.write_text(frame.to_csv(index=False, sep=sep))
    return frame


def test_exports_panels_and_lr_files_read_are_never_written(tmp_path):
    """Only CSV tables were marked: ``fit run.json -o run.json --force`` replaced the export.
    Readers record every file they read in ``Run.inputs``; the CLI marks them (``--lr-file``:
    test_cli_never_writes_over_a_wandb_export_even_with_force)."""
    from lrcurve.cli.files import refuse_input
    from lrcurve.cli.loading import RunInputs

    export, panel = tmp_path / "run.json", tmp_path / "panel.csv"
    export.write_text(lr_file(COSINE).read_text())
    small_panel(panel)
    for path in (export, panel):
        assert all(run.inputs == (str(path),) for run in read_runs(path))
    RunInputs().load([export, panel], None, quiet=True)
    for path in (export, panel):
        with pytest.raises(InputError, match="is one of the inputs"):
            refuse_input(path)


def test_cli_never_writes_over_a_wandb_export_even_with_force(tmp_path, cli):
    lrcurve = cli
    export = tmp_path / "run.json"
    export.write_text(lr_file(COSINE).read_text())
    before = export.read_bytes()
    r = lrcurve("fit", "run.json", "-o", "run.json", "--force")
    assert r.returncode == 2 and r.stderr.strip().endswith(
        "run.json is one of the inputs; lrcurve never overwrites its inputs, write elsewhere"
    )
    assert lrcurve("fit", lr_file(STABLE), "-o", "fit.json").returncode == 0
    p = lrcurve(
        "predict",
        "fit.json",
        "--schedule",
        "file",
        "--lr-file",
        "run.json",
        "-o",
        "run.json",
        "--force",
    )
    assert p.returncode == 2 and "run.json is one of the inputs" in p.stderr
    assert export.read_bytes() == before


@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_panel_delimiter_is_read_from_the_header(tmp_path, sep):
    """A tab- or semicolon-separated panel was split on commas: "column 'Step;a - lr' holds values
    that are not numbers"."""
    path = tmp_path / "panel.csv"
    frame = small_panel(path, runs=("a", "b"), sep=sep)
    runs = {r.name: r for r in read_runs(path)}
    assert set(runs) == {"panel:a", "panel:b"} and len(runs["panel:a"].steps) == len(frame)
    assert runs["panel:b"].loss[0] == pytest.approx(frame["b - val_loss"].iloc[0])


def test_panel_refuses_what_the_table_reader_refuses(tmp_path):
    """A repeated panel column was renamed 'val_loss.1' by pandas and read silently; a CSV table
    refuses it."""
    path = tmp_path / "panel.csv"
    small_panel(path)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header + ",a - val_loss", *(row + ",3.5" for row in rows)]) + "\n")
    with pytest.raises(
        InputError, match="column 'a - val_loss' appears more than once in the header"
    ):
        read_runs(path)
    path.write_text("\n".join([header, *rows[:4], rows[4].replace(",", ",x", 1), *rows[5:]]) + "\n")
    with pytest.raises(
        InputError, match=r"panel.csv: column 'a - val_loss' row 6: 'x.*' is not a number"
    ):
        read_runs(path)


LOSS_CELL = st.one_of(st.floats(2.0, 6.0), st.sampled_from([math.nan, math.inf, None]))


def read_or_refusal(path) -> tuple:
    """What a reader makes of ``path``, with the path left out: the points and notes, or the
    error."""
    try:
        (run,) = read_runs(path, smooth="none", parent="none")
    except InputError as error:
        return ("refused", str(error).replace(str(path), "F"))
    return (
        run.steps.tolist(),
        run.loss.tolist(),
        sorted(n.replace(str(path), "F") for n in run.notes),
    )


@settings(
    max_examples=60 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(losses=st.lists(LOSS_CELL, min_size=3, max_size=25))
def test_a_logged_nan_counts_as_in_a_csv_and_a_value_never_logged_does_not(tmp_path, losses):
    """Every NaN became a blank cell ("not logged") before the bad values were counted: a W&B or
    panel log of a diverged run was fitted on its few finite points, where the same CSV is
    refused."""
    assume(
        any(v is not None for v in losses)
    )  # a series never logged is no series: "no loss series"
    steps = [100 * (i + 1) for i in range(len(losses))]
    cells = ["" if v is None else repr(v) for v in losses]
    csv_path, export, rows, panel = (tmp_path / n for n in ("a.csv", "a.json", "b.json", "c.csv"))
    csv_path.write_text(
        "step,lr,val_loss\n" + "".join(f"{s},0.001,{c}\n" for s, c in zip(steps, cells))
    )
    export.write_text(
        json.dumps(
            {
                "config": {},
                "history": {
                    "train": {"iter": steps, "train_lr": [1e-3] * len(steps)},
                    "val": {"iter": steps, "val_loss": losses},
                },
            }
        )
    )
    rows.write_text(
        json.dumps(
            {
                "config": {},
                "history": [
                    {"iter": s, "lr": 1e-3, **({} if v is None else {"val_loss": v})}
                    for s, v in zip(steps, losses)
                ],
            }
        )
    )
    panel.write_text(
        "Step,a - lr,a - val_loss\n" + "".join(f"{s},0.001,{c}\n" for s, c in zip(steps, cells))
    )
    expected = read_or_refusal(csv_path)
    for path in (export, rows, panel):
        assert read_or_refusal(path) == expected, path.name


def test_a_misaligned_validation_loss_left_out_is_said(tmp_path):
    """A val_loss one value short of its steps silently switched the fit to the (smoothed) training
    loss."""
    data = json.loads(lr_file(COSINE).read_text())
    data["history"]["val"] = {
        k: v for k, v in data["history"]["val"].items() if k in ("iter", "val_loss")
    }
    data["history"]["val"]["val_loss"].pop()
    path = tmp_path / "short.json"
    path.write_text(json.dumps(data))
    run = read_runs(path)[0]
    assert any(
        "val.val_loss has 132 values for 133 steps" in n
        and "left out; fitting 'train_loss' instead" in n
        for n in run.notes
    ), run.notes
    assert not any("left out" in n for n in read_runs(lr_file(COSINE))[0].notes)
    assert not any(
        "left out" in n for n in read_runs(path, loss="train")[0].notes
    )  # train was asked for


@pytest.mark.parametrize(
    "text, message",
    [
        ("json", "not valid JSON"),
        ('{"a": 1}', "not a W&B run export"),
        ('{"history": 3}', "no history"),
    ],
)
def test_bad_exports_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_runs(path)


def test_smoothing_specs_and_their_effect():
    x = np.array([1.0, 3.0, 1.0, 3.0, 1.0, 3.0])
    assert np.allclose(smooth(x, parse_smoothing("window:3"))[1:-1], [5 / 3, 7 / 3, 5 / 3, 7 / 3])
    assert smooth(x, parse_smoothing("window:3"))[0] == pytest.approx(
        2.0
    )  # shorter window at the ends
    ema = smooth(x, parse_smoothing("ema:0.5"))
    assert ema[0] == pytest.approx(1.0)  # debiased
    assert ema[1] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / 0.75)
    assert np.array_equal(smooth(x, parse_smoothing("none")), x)
    for bad in ("ema:1.5", "window:0", "gauss:3", "window:2.5"):
        with pytest.raises(InputError, match="use none, ema:B") as caught:
            parse_smoothing(bad)
        assert caught.value.param == "smooth"


def test_cli_fits_wandb_exports_and_predicts_their_schedule(tmp_path, cli):
    lrcurve = cli
    branch = lr_file(
        "ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_decay_linear_0.2"
        "_iter25000_bs50x2_ws2_seed0_data_seed1337.json"
    )
    r = lrcurve("fit", lr_file(STABLE), branch, "--loss", "train", "--json")
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout)["runs"]
    assert [run["lr_origin"].startswith("rebuilt from the W&B config") for run in runs] == [
        True,
        True,
    ]
    assert (
        "stitched onto" in r.stderr
        and "smoothed the 'train_loss' series with window:11" in r.stderr
    )
    assert all(run["scores"]["mape"] < 1.5 for run in runs)
    p = lrcurve("predict", "--schedule", "file", "--lr-file", branch, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["steps"] == 25000 and "wsd" in json.loads(p.stdout)["schedule_text"]


def test_cli_parent_listed_among_the_runs_is_not_stitched_onto_itself(tmp_path, cli):
    branch = pd.read_csv(SAMPLES / "wsd.csv")
    (tmp_path / "cooldown.csv").write_text(branch[branch.step >= 20000].to_csv(index=False))
    r = cli(
        "fit",
        SAMPLES / "constant.csv",
        "cooldown.csv",
        "--parent",
        SAMPLES / "constant.csv",
        "--warmup",
        "2160",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    runs = {run["name"]: run for run in json.loads(r.stdout)["runs"]}
    assert runs["constant"]["scores"]["n_points"] == 171
    assert (
        runs["cooldown"]["scores"]["n_points"] > 150
    )  # the parent's points before the fork, then the cooldown's


def test_stitching_keeps_a_branch_re_warmup_ramp(tmp_path):
    """A branch that re-warms from its parent's final LR keeps the ramp it logged."""

    steps = np.arange(100, 10001, 100)
    parent_lr = np.where(
        steps <= 8000, 3e-4, 3e-4 - (steps - 8000) * 1e-7
    )  # decays to 1e-4 at 10000
    (tmp_path / "parent.csv").write_text(
        "step,lr,loss\n"
        + "\n".join(
            f"{s},{lr:.6g},{3.5 - 0.1 * np.log(s / 100):.5f}" for s, lr in zip(steps, parent_lr)
        )
    )
    branch_steps = np.arange(10100, 14001, 100)
    branch_lr = np.minimum(1e-4 + (branch_steps - 10000) * 4e-7, 5e-4)  # ramps to 5e-4 at 11000
    (tmp_path / "branch.csv").write_text(
        "step,lr,loss\n"
        + "\n".join(f"{s},{lr:.6g},{3.0 - 1e-6 * s:.5f}" for s, lr in zip(branch_steps, branch_lr))
    )
    (run,) = read_runs(tmp_path / "branch.csv", parent=str(tmp_path / "parent.csv"))
    lr = run.schedule(np.array([10100, 10500, 10900, 11000]))
    assert lr == pytest.approx([1.4e-4, 3.0e-4, 4.6e-4, 5e-4], rel=1e-6)
    assert run.steps[0] == 100 and run.steps[-1] == 14000


CONFIG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**7),
    st.sampled_from(["linear", "sqrt", "cosine", "exp", "miror_cosine", -1, 0, 1, 0.5]),
)


@settings(max_examples=300, deadline=None)
@given(
    scheduler=st.sampled_from(["wsd", "cos", "wsd_twostage", "const", None]),
    values=st.dictionaries(
        st.sampled_from(
            [
                "lr",
                "iterations",
                "warmup_steps",
                "wsd_fract_decay",
                "decay_type",
                "wsd_final_lr_scale",
                "cos_final_lr",
                "wsd_twostage_factor",
                "wsd_twostage_transition_after",
                "wsd_twostage_transition_steps",
            ]
        ),
        CONFIG_VALUES,
    ),
)
def test_any_config_gives_a_valid_schedule_or_none(scheduler, values):
    config = {"scheduler": scheduler, "lr": 1e-3, "iterations": 1000, "warmup_steps": 100, **values}
    schedule = schedule_from_config(config)
    if schedule is not None:
        lr = schedule(
            np.arange(1, int(config["iterations"]) + 1, max(1, int(config["iterations"]) // 500))
        )
        assert np.all(np.isfinite(lr)) and np.all(lr >= 0)


# --- malformed values: every export is read or refused with an InputError -------------------------

JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
        st.floats(),
        st.text(max_size=4),
        st.sampled_from(["nan", "inf", "1e400", "wsd", "cos", "linear"]),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=6,
)
SMALL_EXPORT = "ann0.2_slimpajama_llama_norm_nlayers8_nhead6_*iter3000*.json"


def assert_valid_run(run: Run) -> None:
    assert run.steps.size >= 3 and run.steps[0] >= 1 and np.all(np.diff(run.steps) > 0)
    assert np.all(np.isfinite(run.loss)) and np.all(run.loss >= 0)
    lr = run.schedule(run.steps)
    assert np.all(np.isfinite(lr)) and np.all(lr >= 0) and 0 < run.peak_lr < np.inf


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("config", "lr", 10**400),
        ("config", "iterations", -(10**400)),
        ("config", "warmup_steps", 10**400),
        ("history", ("train", "train_lr", 3), 10**400),
        ("history", ("val", "iter", 2), 10**400),
        ("history", ("val", "val_loss", 1), -(10**400)),
    ],
    ids=lambda v: "huge" if isinstance(v, int) else None,
)
def test_integers_beyond_float_range_are_infinite_values(tmp_path, section, key, value):
    """JSON has no limit on integers: one beyond float range is +-inf, like 1e400 (was an
    OverflowError)."""
    data = json.loads(next(data_path(*LR_DATA, "data").glob(SMALL_EXPORT)).read_text())
    if section == "config":
        data["config"][key] = value
    else:
        group, series, i = key
        data["history"][group][series][i] = value
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    try:
        runs = read_runs(path, parent="none")
    except InputError as error:  # a step of +-inf is refused, naming it
        assert "non-finite step" in str(error) and section == "history"
        return
    assert_valid_run(runs[0])
    if key in ("lr", "iterations"):
        assert not runs[0].lr_origin.startswith(
            "rebuilt"
        )  # the config describes no schedule: the logged LR


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_runs(path)


@settings(
    max_examples=100 * FUZZ_SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_value_anywhere_in_an_export_is_read_or_refused(tmp_path, data):
    doc = json.loads(next(data_path(*LR_DATA, "data").glob(SMALL_EXPORT)).read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        section = data.draw(st.sampled_from(["config", "history"]))
        key = data.draw(st.sampled_from(sorted(doc[section])))
        target, name = doc[section], key
        if (
            section == "history"
            and isinstance(target[key], dict)
            and target[key]
            and data.draw(st.booleans())
        ):
            target, name = target[key], data.draw(st.sampled_from(sorted(target[key])))
            if isinstance(target[name], list) and target[name] and data.draw(st.booleans()):
                target, name = target[name], data.draw(st.integers(0, len(target[name]) - 1))
        target[name] = data.draw(JSON_VALUES)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    try:
        runs = read_runs(path, parent="none", smooth=data.draw(st.sampled_from(["auto", "none"])))
    except InputError as error:
        assert "\n" not in str(error)
        return
    for run in runs:
        assert_valid_run(run)


# --- issue 13.5: fallbacks said, steps checked as in a CSV -----------------------------------


def _cosine_export(tmp_path, change) -> tuple:
    data = json.loads(lr_file(COSINE).read_text())
    change(data["history"])
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(data))
    return path, data


def _no_iter(history):
    del history["val"]["iter"]


def _dict_iter(history):
    history["val"]["iter"] = {str(i): s for i, s in enumerate(history["val"]["iter"])}


def _bad_cell(history):
    history["val"]["val_loss"][5] = "oops"


@pytest.mark.parametrize(
    "change, why, instead",
    [
        (_no_iter, "group 'val' logs no step", "train_loss"),
        (_dict_iter, "val.iter holds a dict, not a list of numbers", "train_loss"),
        (_bad_cell, "val.val_loss holds 'oops' at point 6, not a number", "val_perplexity"),
    ],
)
def test_a_validation_series_that_cannot_be_placed_is_said_in_one_note(
    tmp_path, change, why, instead
):
    """Issue 13.5: these fell back to train_loss or val_perplexity without a word."""
    path, _ = _cosine_export(tmp_path, change)
    (run,) = read_runs(path)
    said = [n for n in run.notes if "cannot be placed" in n]
    assert len(said) == 1 and why in said[0] and f"fitting {instead!r} instead" in said[0], said


@pytest.mark.parametrize(
    "value, fragment", [(-50, "negative step -50"), (50.5, "step 50.5 is not a whole number")]
)
@pytest.mark.parametrize("layout", ["groups", "rows"])
def test_steps_are_refused_as_in_a_csv(tmp_path, value, fragment, layout):
    """Issue 13.5: a negative iter was accepted where a CSV refuses a negative step."""
    steps = [100 * (i + 1) for i in range(8)]
    steps[2] = value
    losses = [4.0 - 0.1 * i for i in range(8)]
    if layout == "groups":
        history = {"train": {"iter": steps, "train_lr": [1e-3] * 8, "train_loss": losses}}
    else:
        history = [{"iter": s, "lr": 1e-3, "train_loss": x} for s, x in zip(steps, losses)]
    path = tmp_path / "steps.json"
    path.write_text(json.dumps({"config": {}, "history": history}))
    with pytest.raises(InputError, match=fragment) as caught:
        read_runs(path)
    assert "point 3" in str(caught.value) and str(path) in str(caught.value)
    csv_path = tmp_path / "steps.csv"
    csv_path.write_text(
        "step,lr,train_loss\n" + "".join(f"{s},0.001,{x}\n" for s, x in zip(steps, losses))
    )
    with pytest.raises(InputError, match=fragment):
        read_runs(csv_path)


def test_rows_without_a_step_are_left_out(tmp_path):
    rows = [{"iter": 100 * (i + 1), "lr": 1e-3, "val_loss": 4.0 - 0.1 * i} for i in range(8)]
    rows.insert(3, {"lr": 1e-3, "val_loss": 9.0})  # a log call without the step
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"config": {}, "history": rows}))
    (run,) = read_runs(path)
    assert run.steps.tolist() == [100 * (i + 1) for i in range(8)] and 9.0 not in run.loss


def test_a_final_evaluation_left_out_of_the_curve_is_said():
    """Issue 16.8: the W&B `final-val` evaluation (1 % above the last `val` point) was ignored
    without a word; it stays out of the curve, and a note says so."""
    data = json.loads(lr_file(COSINE).read_text())
    final = data["history"]["final-val"]
    (run,) = read_runs(lr_file(COSINE))
    said = [n for n in run.notes if "final evaluation" in n]
    assert len(said) == 1 and "'final_val_loss'" in said[0] and "'val_loss' curve" in said[0]
    assert f"{final['final_val_loss'][0]:.5g}" in said[0]
    val = data["history"]["val"]
    last = dict(zip(val["iter"], val["val_loss"]))  # the last value logged at each step
    assert run.loss.tolist() == [last[s] for s in run.steps]
    assert final["final_val_loss"][0] not in run.loss.tolist()
    (named,) = read_runs(lr_file(COSINE), loss="train", smooth="none")
    assert not any("final evaluation" in n for n in named.notes)


def test_an_export_too_large_for_memory_is_refused_up_front(tmp_path, monkeypatch):
    import lrcurve.io.files as files

    monkeypatch.setattr(files, "available_memory", lambda: 1000)
    with pytest.raises(InputError, match="too large to read") as caught:
        read_runs(lr_file(COSINE))
    assert str(lr_file(COSINE)) in str(caught.value) and "\n" not in str(caught.value)


def test_a_schedule_read_from_a_stitched_branch_lists_both_files_read(index):
    from lrcurve.io import read_schedule

    file = one_of(index, family="ann124-0.2", needs_stitch_with_stable_run=True, peak_lr=0.001)
    path = data_path("lr-scheduling", file)
    read: list[str] = []
    schedule = read_schedule(path, inputs=read)
    assert read == list(read_runs(path)[0].inputs) and len(read) == 2 and str(path) in read
    assert schedule.horizon == json.loads(path.read_text())["config"]["iterations"]


def test_a_parent_and_its_stitched_branch_say_the_parents_notes_once(cli):
    folder = data_path("lr-scheduling", "data")
    files = sorted(folder.glob("*_slimpajama_llama_norm_nlayers8_*wsd*.json"))
    assert len(files) >= 2  # the stable run and its 20 % cooldown branch
    r = cli("fit", *files, "--law", "momentum", "-o", "f.json")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "model size 33.5M" in line]
    assert len(lines) == 1  # the two files' alike notes in one line, the parent's not again
    assert lines[0].startswith("lrcurve: every file (2): model size 33.5M"), lines


@pytest.mark.parametrize(
    "key, value",
    [("batch_size", 1.7e308), ("sequence_length", 1.7e308), ("batch_size", 1e-9)],
)
def test_a_config_batch_beyond_float_range_or_below_a_token_gives_no_tokens_per_step(
    tmp_path, key, value
):
    doc = json.loads(next(data_path(*LR_DATA, "data").glob(SMALL_EXPORT)).read_text())
    doc["config"][key] = value
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow on the user's stderr
        (run,) = read_runs(path, parent="none")
    assert run.tokens_per_step is None
    assert not any("tokens per step" in note for note in run.notes)


@pytest.mark.parametrize("fraction", [1.7e308, -1.7e308, 1.5, -0.1])
def test_a_wsd_decay_fraction_outside_0_to_1_leaves_the_schedule_to_the_logged_lr(fraction):
    config = {
        "scheduler": "wsd",
        "lr": 1e-3,
        "iterations": 3000,
        "warmup_steps": 300,
        "wsd_fract_decay": fraction,
    }
    assert schedule_from_config(config) is None
    assert schedule_from_config({**config, "wsd_fract_decay": 0.2}) is not None


@pytest.mark.parametrize(
    "key, value",
    [
        ("wsd_fract_decay", "0.2"),
        ("wsd_fract_decay", True),
        ("warmup_steps", "300"),
        ("lr", True),
        ("iterations", "3000"),
        ("wsd_final_lr_scale", "0"),
    ],
)
def test_a_schedule_field_set_to_no_number_rebuilds_no_schedule(key, value):
    """A field the config sets but not to a number does not say what ran: its default (no
    decay, no warmup) is no better a guess than the logged LR, which is used instead."""
    config = {
        "scheduler": "wsd",
        "lr": 1e-3,
        "iterations": 3000,
        "warmup_steps": 300,
        "wsd_fract_decay": 0.2,
    }
    assert schedule_from_config(config) is not None
    assert schedule_from_config({**config, key: value}) is None
    assert schedule_from_config({**config, "cos_final_lr": None}) is not None  # null: unset


@pytest.mark.parametrize(
    "key, value", [("acc_steps", "2"), ("world_size", True), ("batch_size", 1e30)]
)
def test_a_batch_field_set_to_no_number_or_beyond_any_batch_gives_no_tokens_per_step(key, value):
    from lrcurve.io.wandb_config import tokens_per_step

    config = {"batch_size": 50, "acc_steps": 2, "world_size": 2, "sequence_length": 512}
    assert tokens_per_step(config) == (
        102400.0,
        "batch_size x acc_steps x world_size x sequence_length",
    )
    assert tokens_per_step({**config, key: value}) is None
