"""Every bad input to the CLI ends as a user sees it: exit status 2, one line on stderr
naming the file, column or value, no traceback, and no file written or changed.

The commands run in-process through ``lrcurve.cli.main()`` (what the ``lrcurve``
script calls; the ``cli`` fixture of conftest.py); one test checks a real process agrees.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrcurve import fit, read_runs
from lrcurve.fitfile import save_fit
from tests.conftest import SAMPLES, short_log


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def lrcurve(tmp_path, monkeypatch, cli):
    """Run ``lrcurve ARGS`` in ``tmp_path`` and return its exit code, stdout and stderr."""
    monkeypatch.chdir(tmp_path)

    def run(*args: object) -> Result:
        result = cli(*args)
        return Result(result.returncode, result.stdout, result.stderr)

    return run


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def refused(result: Result, *fragments: str) -> str:
    """Exit 2 with exactly one stderr line that names every fragment, and nothing on stdout."""
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrcurve: error: "), result.err
    assert "Traceback" not in result.err and result.out == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def logs(tmp_path) -> Path:
    for name, sample in (("a.csv", "constant.csv"), ("b.csv", "cosine.csv"), ("c.csv", "wsd.csv")):
        shutil.copy(SAMPLES / sample, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="module")
def fit_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "fit.json"
    save_fit(
        fit(
            [
                run
                for name in ("constant.csv", "cosine.csv")
                for run in read_runs(SAMPLES / name, warmup_steps=2160)
            ]
        ),
        path,
    )
    return path


@pytest.fixture
def fitted(logs, fit_template) -> Path:
    """A good fit file, fit.json, beside the logs."""
    return Path(shutil.copy(fit_template, logs / "fit.json"))


ROWS = "".join(f"{100 * i},3e-4,{round(4 - 0.1 * i, 2)}\n" for i in range(1, 8))

BAD_LOGS = [
    ("empty.csv", b"", ["empty"]),
    ("header.csv", b"step,lr,loss\n", ["no rows"]),
    ("noloss.csv", b"step,lr\n1,0.1\n2,0.1\n3,0.1\n", ["no loss column", "--loss-col"]),
    (
        "nan.csv",
        b"step,lr,loss\n1,0.1,3\n2,0.1,nan\n3,0.1,inf\n4,0.1,NaN\n5,0.1,2.9\n",
        ["column 'loss'", "3 of 5 values are NaN or infinite", "refusing"],
    ),
    (
        "zero.csv",
        ("step,lr,loss\n" + ROWS.replace("3e-4", "0")).encode(),
        ["column 'lr'", "zero everywhere"],
    ),
    (
        "neg.csv",
        ("step,lr,loss\n" + ROWS.replace("300,3e-4", "300,-3e-4")).encode(),
        ["column 'lr'", "-0.0003", "step 300"],
    ),
    (
        "ppl.csv",  # too large for nats, and below 1 so no perplexity (30, 25, 20 is one)
        b"step,lr,loss\n1,0.1,0.5\n2,0.1,25\n3,0.1,20\n",
        ["column 'loss'", "--loss-unit", "ppl or bits"],
    ),
    (
        "pipe.csv",
        ("step|lr|loss\n" + ROWS.replace(",", "|")).encode(),
        ["single column", "'step|lr|loss'"],
    ),
    (
        "text.csv",
        ("step,lr,loss\n" + ROWS.replace("3.6", "3.6abc")).encode(),
        ["column 'loss'", "row 5", "'3.6abc'"],
    ),
    ("one.csv", b"step,lr,loss\n100,3e-4,4.0\n", ["only 1 usable loss"]),
    ("junk.csv", bytes(range(256)) * 3, ["binary"]),
    ("latin.csv", "step,lr,loss\n1,0.1,3\n# café\n".encode("latin-1"), ["not UTF-8"]),
    (
        "steps.csv",
        ("step,lr,loss\n" + ROWS.replace("400,", "400.5,")).encode(),
        ["column 'step'", "400.5"],
    ),
]


@pytest.mark.parametrize("name, content, fragments", BAD_LOGS, ids=[case[0] for case in BAD_LOGS])
def test_fit_refuses_bad_logs(tmp_path, lrcurve, name, content, fragments):
    (tmp_path / name).write_bytes(content)
    before = snapshot(tmp_path)
    refused(lrcurve("fit", name, "--plot", "fit.png"), name, *fragments)
    assert snapshot(tmp_path) == before


def test_fit_refuses_a_directory_and_a_missing_file(tmp_path, lrcurve):
    (tmp_path / "logs").mkdir()
    refused(lrcurve("fit", "logs"), "logs", "directory")
    refused(lrcurve("fit", "missing.csv"), "missing.csv", "no such file")
    assert snapshot(tmp_path) == {}


def test_fit_names_the_bad_file_among_good_ones(logs, lrcurve):
    (logs / "bad.csv").write_text("step,lr,loss\n")
    refused(lrcurve("fit", "a.csv", "bad.csv", "b.csv"), "bad.csv")
    assert not (logs / "lrcurve.fit.json").exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--step-col", "iteration"], ["a.csv", "no column 'iteration'"]),
        (["--loss-unit", "furlongs"], ["--loss-unit", "furlongs"]),
        (["--law", "nope"], ["--law", "nope"]),
        (["--warmup-area", "half"], ["--warmup-area", "half"]),
        (["--lr-exponent", "0"], ["--lr-exponent", "greater than or equal to 0.1"]),
        (["--lr-exponent", "nan"], ["--lr-exponent"]),
        (["--warmup", "-5"], ["--warmup", "greater than or equal to 0"]),
        (["--warmup", "999999"], ["a.csv", "warmup of 999999 steps"]),
        (["--skip", "2"], ["--skip"]),
        (["--frobnicate"], ["No such option", "--frobnicate"]),
        (["--plot", "fit.txt"], ["--plot fit.txt", ".png"]),
        (["--plot", "nodir/fit.png"], ["nodir", "no such directory"]),
        (["-o", "nodir/fit.json"], ["nodir", "no such directory"]),
        (["a.csv"], ["a.csv", "given twice"]),
    ],
)
def test_fit_refuses_bad_flags(logs, lrcurve, args, fragments):
    before = snapshot(logs)
    refused(lrcurve("fit", "a.csv", *args), *fragments)
    assert snapshot(logs) == before


def test_fit_needs_files(tmp_path, lrcurve):
    refused(lrcurve("fit"), "Missing argument", "lrcurve fit --help")


def test_fit_never_writes_over_its_inputs(logs, lrcurve):
    before = snapshot(logs)
    refused(
        lrcurve("fit", "a.csv", "b.csv", "-o", "a.csv", "--force"), "a.csv", "one of the inputs"
    )
    assert snapshot(logs) == before


def test_existing_outputs_are_refused_before_the_fit(logs, lrcurve, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before refusing the output")

    monkeypatch.setattr("lrcurve.fitting.fit", no_fit)  # the command imports it when run
    (logs / "out.json").write_text("{}")
    (logs / "fit.png").write_text("an old plot")
    before = snapshot(logs)
    refused(lrcurve("fit", "a.csv", "-o", "out.json"), "out.json exists", "--force")
    refused(lrcurve("fit", "a.csv", "--plot", "fit.png"), "fit.png exists", "--force")
    assert snapshot(logs) == before


# --- the default fit file ---------------------------------------------------------------------


def fit_runs(path: Path) -> set[str]:
    return {run["name"] for run in json.loads(path.read_text())["runs"]}


def test_default_fit_file_rule(logs, lrcurve):
    default = logs / "lrcurve.fit.json"
    assert lrcurve("fit", "a.csv", "b.csv", "--warmup", 2160).code == 0
    assert fit_runs(default) == {"a", "b"}
    umask = os.umask(0)
    os.umask(umask)
    assert (
        default.stat().st_mode & 0o777 == 0o666 & ~umask
    )  # as open() makes it, not private like a temp file

    again = lrcurve("fit", "b.csv", "a.csv", "--warmup", 2160, "--skip", 0.1, "--json")
    assert again.code == 0 and json.loads(again.out)["fit_file"] == "lrcurve.fit.json"
    assert json.loads(default.read_text())["skip_fraction"] == 0.1  # the same runs refresh it

    before = default.read_bytes()
    refused(
        lrcurve("fit", "a.csv", "c.csv", "--warmup", 2160),
        "lrcurve.fit.json",
        "other runs",
        "--force",
        "-o",
    )
    assert default.read_bytes() == before

    assert lrcurve("fit", "a.csv", "c.csv", "--warmup", 2160, "-o", "other.json").code == 0
    assert fit_runs(logs / "other.json") == {"a", "c"} and default.read_bytes() == before
    other = (logs / "other.json").read_bytes()
    refused(
        lrcurve("fit", "a.csv", "c.csv", "--warmup", 2160, "-o", "other.json"),
        "other.json exists",
        "--force",
    )
    refused(
        lrcurve("fit", "a.csv", "c.csv", "--warmup", 2160, "-o", "lrcurve.fit.json"),
        "lrcurve.fit.json exists",
    )
    assert (logs / "other.json").read_bytes() == other and default.read_bytes() == before

    assert lrcurve("fit", "a.csv", "c.csv", "--warmup", 2160, "--force").code == 0
    assert fit_runs(default) == {"a", "c"}


def test_a_damaged_default_fit_file_is_not_replaced_without_force(logs, lrcurve):
    (logs / "lrcurve.fit.json").write_text("{not json")
    refused(lrcurve("fit", "a.csv"), "lrcurve.fit.json", "--force")
    assert (logs / "lrcurve.fit.json").read_text() == "{not json"


# --- predict: fit files ------------------------------------------------------------------------


def damaged(data: dict) -> list[tuple[str, dict | list | str]]:
    """Fit files damaged in the ways a hand edit or a truncated copy does."""

    def edit(change) -> dict:
        copy = json.loads(json.dumps(data))
        change(copy)
        return copy

    return [
        ("truncated", json.dumps(data)[: len(json.dumps(data)) // 2]),
        ("a list", []),
        ("not a fit", {"hello": 1}),
        ("params null", edit(lambda d: d.update(params=None))),
        ("params empty", edit(lambda d: d.update(params={}))),
        ("param missing", edit(lambda d: d["params"].pop("A"))),
        ("param text", edit(lambda d: d["params"]["alpha"].update(value="x"))),
        ("param null", edit(lambda d: d["params"]["L0"].update(value=None))),
        ("param out of bounds", edit(lambda d: d["params"]["lam"].update(value=2.0))),
        ("unknown law", edit(lambda d: d["law"].update(name="magic"))),
        ("no runs", edit(lambda d: d.update(runs=[]))),
        ("runs missing", edit(lambda d: d.pop("runs"))),
        ("covariance shape", edit(lambda d: d.update(covariance=[[1.0]]))),
        (
            "huge step",
            edit(lambda d: d["runs"][0].update(steps=[1e308] * len(d["runs"][0]["steps"]))),
        ),
        ("bad schedule", edit(lambda d: d["runs"][0]["schedule"].update(kind="spiral"))),
        ("bad lr", edit(lambda d: d["runs"][0]["schedule"]["lrs"].__setitem__(0, "fast"))),
        ("param a numeric string", edit(lambda d: d["params"]["L0"].update(value="3.1"))),
        ("last step 1e12", edit(lambda d: d["runs"][0]["steps"].__setitem__(-1, 10**12))),
        ("skip fraction 5", edit(lambda d: d.update(skip_fraction=5))),
        ("skip fraction NaN", edit(lambda d: d.update(skip_fraction=float("nan")))),
        ("A 1e308", edit(lambda d: d["params"]["A"].update(value=1e308))),
        ("warmup 1e13", edit(lambda d: d["runs"][0]["schedule"].update(steps=10**13))),
        ("format 99", edit(lambda d: d.update(format=99))),
        ("no format", edit(lambda d: d.pop("format"))),
        # review 11: these gave [nan, nan] with check passing, or intervals of +-1e152
        ("backtest scale NaN", edit(lambda d: d.update(backtest_scale=float("nan")))),
        ("backtest scale -1", edit(lambda d: d.update(backtest_scale=-1))),
        ("covariance asymmetric", edit(lambda d: d["covariance"][0].__setitem__(1, 1.0))),
        ("covariance 1e300", edit(lambda d: d["covariance"][0].__setitem__(0, 1e300))),
        ("covariance NaN", edit(lambda d: d["covariance"][1].__setitem__(1, float("nan")))),
        ("param field missing", edit(lambda d: d["params"]["A"].pop("lower"))),
        ("param field unknown", edit(lambda d: d["params"]["A"].update(bogus=1))),
    ]


@pytest.mark.parametrize("where", ["-o", "--plot", "fit"])
def test_a_file_name_too_long_is_bad_input(fitted, lrcurve, where):
    """Review 11: a 300-character name for an output, a plot or the fit file ended in an
    internal error (OSError, exit 3)."""
    long = "a" * 300
    args = {
        "-o": ("fit.json", "-o", f"{long}.csv"),
        "--plot": ("fit.json", "--plot", f"{long}.png"),
        "fit": (f"{long}.json",),
    }[where]
    refused(lrcurve("predict", *args, "--schedule", "cosine"), long, "too long")


def test_predict_refuses_damaged_fit_files(fitted, lrcurve):
    data = json.loads(fitted.read_text())
    for label, content in damaged(data):
        path = fitted.parent / "damaged.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        before = snapshot(fitted.parent)
        line = refused(
            lrcurve("predict", "damaged.json", "--schedule", "cosine", "-o", "curve.csv"),
            "damaged.json",
        )
        assert "fit file" in line and "__init__" not in line, (label, line)
        assert snapshot(fitted.parent) == before, label


@pytest.mark.parametrize(
    "args, fragments",
    [
        ([], ["no fit file given", "lrcurve.fit.json", "lrcurve fit"]),
        (["missing.json"], ["missing.json", "no such fit file"]),
        (["a.csv"], ["a.csv", "not a JSON fit file"]),
        (["."], [".", "directory"]),
    ],
)
def test_predict_without_a_fit_file(logs, lrcurve, args, fragments):
    refused(lrcurve("predict", *args), *fragments)


def test_predict_refuses_outputs_before_any_work(fitted, lrcurve, monkeypatch):
    def no_load(path):
        raise AssertionError("read the fit before refusing the output")

    (fitted.parent / "curve.csv").write_text("old")
    before = snapshot(fitted.parent)
    with monkeypatch.context() as patch:
        patch.setattr("lrcurve.fitfile.load_fit", no_load)  # the command imports it when run
        refused(lrcurve("predict", "fit.json", "-o", "curve.csv"), "curve.csv exists", "--force")
        refused(lrcurve("predict", "fit.json", "--plot", "curve.jpg"), "--plot curve.jpg", ".png")
    assert snapshot(fitted.parent) == before


def test_predict_never_writes_over_its_inputs(fitted, lrcurve):
    (fitted.parent / "lr.csv").write_text("step,lr\n1,3e-4\n20000,3e-5\n")
    before = snapshot(fitted.parent)
    for args in (["-o", "fit.json"], ["--schedule", "file", "--lr-file", "lr.csv", "-o", "lr.csv"]):
        result = lrcurve("predict", "fit.json", *args, "--force")
        assert result.code == 2 and "Traceback" not in result.err
        assert result.err.splitlines()[-1].endswith(
            "is one of the inputs; lrcurve never overwrites its inputs, write elsewhere"
        )
    assert snapshot(fitted.parent) == before


def test_one_file_for_both_outputs_is_refused(fitted, lrcurve):
    """-o and --plot naming one file: the plot would replace the CSV."""
    before = snapshot(fitted.parent)
    refused(
        lrcurve("predict", "fit.json", "-o", "same.png", "--plot", "same.png"),
        "-o and --plot",
        "same.png",
    )
    refused(
        lrcurve(
            "schedule",
            "show",
            "wsd",
            "--peak",
            "1e-3",
            "--steps",
            "100",
            "--warmup",
            "0",
            "-o",
            "s.svg",
            "--plot",
            "./s.svg",
            "--force",
        ),
        "-o and --plot",
        "s.svg",
    )
    assert snapshot(fitted.parent) == before


def test_outputs_that_are_not_regular_files_are_refused(fitted, lrcurve, tmp_path):
    """-o /dev/null --force must not replace the device with a file; -o - is not a file name."""
    fifo = fitted.parent / "pipe"
    os.mkfifo(fifo)
    refused(
        lrcurve("predict", "fit.json", "-o", str(fifo), "--force"), "pipe", "not a regular file"
    )
    assert fifo.is_fifo()
    refused(lrcurve("predict", "fit.json", "-o", "-"), "-o -", "stdout")
    refused(lrcurve("predict", "fit.json", "--plot", ".png"), "--plot .png", "after a name")


def test_predict_refuses_a_negative_loss(fitted, lrcurve):
    """--peak 1e3 is inside the LR range runs are read in, but the law then predicts -3e5 nats."""
    refused(
        lrcurve("predict", "fit.json", "--peak", "1e3"),
        "predicts a loss of -",
        "peak LR 1000",
        "fitted at 0.0003",
    )
    result = lrcurve("optimize", "fit.json", "--peak", "1e3")
    assert result.code == 2 and result.out == "" and "Traceback" not in result.err
    assert result.err.splitlines()[-1].startswith("lrcurve: error: the law predicts a loss of -")


def test_predict_every_beyond_the_horizon_gives_the_last_step(fitted, lrcurve):
    result = lrcurve("predict", "fit.json", "--json", "--every", str(2**63))
    assert result.code == 0, result.err
    curve = json.loads(result.out)["curve"]
    assert curve["step"] == [json.loads(result.out)["steps"]]


# --- schedule flags (predict and schedule show share them) ---------------------------------------

SCHEDULE_CASES = [
    (["--schedule", "zigzag"], ["--schedule", "zigzag"]),
    (["--schedule", "wsd", "--shape", "wobbly"], ["--shape", "wobbly"]),
    (
        ["--schedule", "wsd", "--warmup", "1000", "--steps", "1000"],
        ["--warmup 1000", "--steps 1000"],
    ),
    (
        ["--schedule", "multistep", "--milestones", "8k,16k", "--factors", "0.3,0.1"],
        ["--milestones", "8k,16k"],
    ),
    (["--schedule", "multistep", "--milestones", "100", "--factors", "x"], ["--factors", "'x'"]),
    (
        ["--schedule", "multistep", "--milestones", "100,200", "--factors", "0.1"],
        ["factors", "milestones"],
    ),
    (
        ["--schedule", "multistep", "--milestones", "200,100", "--factors", "0.3,0.1"],
        ["milestones", "increasing"],
    ),
    (
        [
            "--schedule",
            "multistep",
            "--milestones",
            "5000",
            "--factors",
            "0.1",
            "--steps",
            "1000",
            "--warmup",
            "0",
        ],
        ["--milestones 5000", "--steps 1000"],
    ),
    (["--schedule", "multistep", "--milestones", "100", "--factors", "-0.5"], ["--factors -0.5"]),
    (["--schedule", "cosine", "--milestones", "100"], ["--milestones", "does not apply", "cosine"]),
    (["--schedule", "constant", "--cycle", "100"], ["--cycle", "does not apply"]),
    (["--schedule", "cosine", "--peak", "nan"], ["--peak nan", "not a finite number"]),
    (["--schedule", "cosine", "--peak", "-1e-3"], ["peak LR", "-0.001"]),
    # a peak outside the range runs are read in: 1e-320 predicted a loss of 8.5e303 ± nan
    (["--schedule", "cosine", "--peak", "1e-30"], ["--peak", "1e-30", "outside [1e-20, 1e+20]"]),
    (["--schedule", "cosine", "--peak", "1e308"], ["--peak", "1e+308", "outside [1e-20, 1e+20]"]),
    (["--schedule", "cosine", "--steps", "0"], ["--steps", "lrcurve"]),
    (["--schedule", "cosine", "--steps", "100000000000"], ["--steps 100000000000", "beyond"]),
    (["--schedule", "cosine", "--decay", "1.5"], ["--decay"]),
    (
        [
            "--schedule",
            "power",
            "--a",
            "4",
            "--b",
            "-0.5",
            "--batch",
            "0",
            "--tokens-per-step",
            "4096",
        ],
        ["--batch 0", "positive"],
    ),
    (["--schedule", "power"], ["--a: needed by the power schedule"]),
    # the flags are --a and --b (they were named --power-a and --power-b, which do not exist)
    (
        [
            "--schedule",
            "power",
            "--a",
            "4",
            "--b",
            "nan",
            "--batch",
            "8",
            "--tokens-per-step",
            "4096",
        ],
        ["--b nan", "not a finite number"],
    ),
    (
        [
            "--schedule",
            "power",
            "--a",
            "inf",
            "--b",
            "-0.5",
            "--batch",
            "8",
            "--tokens-per-step",
            "4096",
        ],
        ["--a inf", "not a finite number"],
    ),
    (["--schedule", "file"], ["--lr-file"]),
    (["--schedule", "file", "--lr-file", "nowhere.csv"], ["nowhere.csv", "no such file"]),
    (["--schedule", "file", "--lr-file", "one_lr.csv"], ["one_lr.csv", "at least 2 rows"]),
    (["--schedule", "cosine", "--at-step", "10"], ["--at-step", "rewarmup only"]),
    (
        ["--schedule", "file", "--lr-file", "one_lr.csv", "--steps", "100"],
        ["--steps", "does not apply", "file"],
    ),
    # a warmup covering the whole file was accepted, where every other family refuses --warmup >=
    # --steps
    (
        ["--schedule", "file", "--lr-file", "two_lrs.csv", "--warmup", "200"],
        ["--warmup 200", "100 steps of --lr-file two_lrs.csv"],
    ),
    (
        ["--schedule", "file", "--lr-file", "two_lrs.csv", "--warmup", "100"],
        ["--warmup 100", "100 steps of --lr-file two_lrs.csv"],
    ),
    (["--schedule", "rewarmup", "--then", "zigzag"], ["--then", "zigzag"]),
    # a flag the family does not use is refused, also when it has a default (--decay was 0.2, --then
    # cosine)
    (
        ["--schedule", "cosine", "--decay", "0.5"],
        ["--decay", "does not apply", "--schedule cosine"],
    ),
    (["--schedule", "cosine", "--then", "wsd"], ["--then", "rewarmup only"]),
]


@pytest.mark.parametrize(
    "args, fragments", SCHEDULE_CASES, ids=[" ".join(a) for a, _ in SCHEDULE_CASES]
)
def test_predict_refuses_bad_schedule_flags(fitted, lrcurve, args, fragments):
    (fitted.parent / "one_lr.csv").write_text("step,lr\n100,3e-4\n")
    (fitted.parent / "two_lrs.csv").write_text("step,lr\n1,3e-4\n100,3e-5\n")
    before = snapshot(fitted.parent)
    refused(
        lrcurve("predict", "fit.json", *args, "-o", "curve.csv", "--plot", "curve.png"), *fragments
    )
    assert snapshot(fitted.parent) == before


@pytest.mark.parametrize(
    "args, fragments", SCHEDULE_CASES, ids=[" ".join(a) for a, _ in SCHEDULE_CASES]
)
def test_schedule_show_refuses_bad_schedule_flags(tmp_path, lrcurve, args, fragments):
    (tmp_path / "one_lr.csv").write_text("step,lr\n100,3e-4\n")
    (tmp_path / "two_lrs.csv").write_text("step,lr\n1,3e-4\n100,3e-5\n")
    before = snapshot(tmp_path)
    family = ["--steps", "24000", "--peak", "3e-4"] if "file" not in args else []
    refused(lrcurve("schedule", "show", *family, *args, "-o", "lr.csv"), *fragments)
    assert snapshot(tmp_path) == before


def test_rewarmup_flags(fitted, lrcurve):
    refused(
        lrcurve(
            "predict",
            "fit.json",
            "--schedule",
            "rewarmup",
            "--steps",
            "30000",
            "--at-step",
            "40000",
        ),
        "--at-step (40000)",
        "--steps (30000)",
    )
    refused(
        lrcurve(
            "predict", "fit.json", "--schedule", "rewarmup", "--steps", "50000", "--base-run", "zz"
        ),
        "--base-run 'zz'",
        "constant, cosine",
    )
    refused(
        lrcurve("schedule", "show", "rewarmup", "--steps", "30000", "--peak", "3e-4"),
        "rewarmup",
        "fit file",
        "--fit",
    )


def test_schedule_show_rewarmup_continues_a_run_of_the_fit(fitted, lrcurve):
    """Issue 16.3: `schedule show rewarmup` could not work: without a fit it asked for one, with
    one for --peak, then for a fit again."""
    r = lrcurve("schedule", "show", "rewarmup", "--fit", "fit.json", "--steps", "40000", "--json")
    assert r.code == 0, r.err
    assert "base-run=" in r.err and "from the fitted runs" in r.err
    shown = json.loads(r.out)
    assert shown["schedule"]["kind"] == "join" and shown["steps"] == 40000


def test_rewarmup_milestones_are_steps_of_the_run_within_the_new_phase(fitted, lrcurve):
    """A milestone was checked against --steps but applied from --at-step: 20000 fired at step
    32000, never."""
    rewarm = (
        "predict",
        "fit.json",
        "--schedule",
        "rewarmup",
        "--at-step",
        "12000",
        "--steps",
        "30000",
        "--then",
        "multistep",
    )
    for milestone in ("11000", "12000", "30000"):
        refused(
            lrcurve(*rewarm, "--milestones", milestone, "--factors", "0.1"),
            f"--milestones {milestone}",
            "--at-step 12000",
            "--steps 30000",
        )
    result = lrcurve(
        *rewarm, "--milestones", "20000", "--factors", "0.1", "--every", "10", "--json"
    )
    assert result.code == 0, result.err
    curve = json.loads(result.out)["curve"]
    lr = dict(zip(curve["step"], curve["lr"]))
    assert lr[19990] == pytest.approx(3e-4) and lr[20010] == pytest.approx(3e-5)


def test_rewarmup_warmup_longer_than_the_new_phase_names_the_flag_and_the_phase(fitted, lrcurve):
    refused(
        lrcurve(
            "predict",
            "fit.json",
            "--schedule",
            "rewarmup",
            "--at-step",
            "12000",
            "--steps",
            "30000",
            "--warmup",
            "18000",
        ),
        "--warmup 18000",
        "18000 steps of the re-warmup's new phase",
        "12000..30000",
    )


def test_rewarmup_then_power_takes_the_power_flags(fitted, lrcurve):
    """The power flags were not passed on to the new phase: 'needs --a, --b, ...' although given."""
    result = lrcurve(
        "predict",
        "fit.json",
        "--schedule",
        "rewarmup",
        "--at-step",
        "12000",
        "--steps",
        "30000",
        "--then",
        "power",
        "--a",
        "4.6",
        "--b",
        "-0.51",
        "--batch",
        "1024",
        "--tokens-per-step",
        "4194304",
        "--peak",
        "3e-4",
        "--json",
    )
    assert result.code == 0, result.err
    phase = json.loads(result.out)["schedule"]["segments"][1]["body"]
    assert phase["kind"] == "power" and phase["a"] == 4.6 and phase["steps"] == 18000


def test_schedule_show_needs_a_peak_and_refuses_existing_output(tmp_path, lrcurve):
    refused(lrcurve("schedule", "show", "cosine", "--steps", "1000"), "--peak")
    (tmp_path / "lr.csv").write_text("mine")
    refused(
        lrcurve("schedule", "show", "cosine", "--steps", "1000", "--peak", "1e-3", "-o", "lr.csv"),
        "lr.csv exists",
    )
    refused(
        lrcurve(
            "schedule", "show", "cosine", "--steps", "1000", "--peak", "1e-3", "--plot", "lr.gif"
        ),
        "lr.gif",
    )
    assert snapshot(tmp_path) == {"lr.csv": b"mine"}


# --- compare ------------------------------------------------------------------------------------


def test_compare_refuses_when_no_law_can_be_fitted_and_says_why_for_each(tmp_path, lrcurve):
    short_log(tmp_path / "run.csv", 8)  # 7 points after warmup, 5 of them in the first 80 %
    refused(
        lrcurve("compare", "run.csv", "--warmup", 2160),
        "no law could be compared",
        "momentum: fit on run (first 80%) to predict run (last 20%): 5 points cannot determine 5 "
        "parameters",
        "multipower: fit on run: 7 points cannot determine 7 parameters",
    )
    refused(
        lrcurve("compare", "run.csv", "--warmup-area", "sideways"),
        "--warmup-area: no law has the warmup convention 'sideways'; choose from peak, actual, "
        "full",
    )


def test_compare_refuses_a_holdout_that_is_also_fitted(logs, lrcurve):
    refused(
        lrcurve("compare", "a.csv", "b.csv", "--holdout", "./a.csv"),
        "--holdout a.csv",
        "also given as a run to fit",
    )


def test_compare_does_not_blame_the_warmup_area_for_an_error_while_fitting(
    logs, lrcurve, monkeypatch
):
    def broken(*args, **kwargs):
        raise ValueError("a bug while fitting")

    monkeypatch.setattr("lrcurve.compare.fit", broken)
    result = lrcurve("compare", "a.csv", "--warmup-area", "full")
    assert result.code == 3 and "--warmup-area" not in result.err  # a bug: exit 3, not drift (1)
    assert "internal error: ValueError: a bug while fitting" in result.err


# --- notes and warnings -------------------------------------------------------------------------


def test_repairs_are_one_line_notes_on_stderr_and_json_stays_clean(logs, lrcurve):
    lines = (logs / "a.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    messy = rows[:50] + rows[40:60] + rows[60:][::-1] + [rows[70].rsplit(",", 1)[0] + ",nan"]
    (logs / "messy.csv").write_text("\n".join([header, *messy]) + "\n")
    result = lrcurve("fit", "messy.csv", "b.csv", "--warmup", 2160, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["fit_file"] == "lrcurve.fit.json"
    notes = result.err.splitlines()
    assert all(line.startswith("lrcurve: ") for line in notes), result.err
    text = "\n".join(notes)
    assert (
        "messy.csv" in text
        and "logged more than once" in text
        and "sorted" in text
        and "NaN" in text
    )


def test_numeric_warnings_are_one_line(fitted, lrcurve):
    data = json.loads(fitted.read_text())
    data["params"]["A"]["value"] = 1e308  # within the law's bounds, but the curve overflows
    (fitted.parent / "huge.json").write_text(json.dumps(data))
    result = lrcurve("predict", "huge.json", "--schedule", "cosine")
    assert result.code == 2 and "Traceback" not in result.err
    assert all(line.startswith("lrcurve: ") for line in result.err.splitlines()), result.err
    assert result.err.splitlines()[-1].startswith("lrcurve: error: ")


# --- what a real process shows --------------------------------------------------------------------


def test_a_real_process_shows_the_same(tmp_path):
    (tmp_path / "header.csv").write_text("step,lr,loss\n")
    for args, fragment in (
        (["fit", "header.csv"], "header.csv: has a header but no rows"),
        (["schedule", "show", "--steps", "0"], "--steps"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "lrcurve", *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert result.returncode == 2 and result.stdout == ""
        assert (
            result.stderr.count("\n") == 1
            and fragment in result.stderr
            and "Traceback" not in result.stderr
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["header.csv"]
