"""Stops, limits and the start-up path of the ``lrcurve`` script (issues 12 and 13): signals
leave no file behind, two writers cannot both create one file, Ctrl-C is one line, exit codes,
``--help`` without the numeric stack, one error line without numpy's warnings."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrcurve.errors import ParameterError
from lrcurve.output import write_text
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# A prediction whose CSV takes seconds to write (~25 MB; 3 s on a quiet machine, longer on a
# busy one): a signal sent when its temporary file appears arrives while it is written.
BIG_STEPS = 500_000


def start(*args: object, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lrcurve", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    process = start(*args, cwd=cwd)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def fit_file(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("fit")
    r = run("fit", SAMPLES / "constant.csv", SAMPLES / "cosine.csv", "--warmup", 2160, "-o",
            "fit.json", cwd=directory)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return directory / "fit.json"


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_while_writing_leaves_no_temporary_file(fit_file, tmp_path, signum):
    process = start("predict", fit_file, "--steps", BIG_STEPS, "-o", "big.csv", cwd=tmp_path)
    deadline = time.time() + 120
    while not any(p.name.startswith(".big.csv.") and p.stat().st_size for p in tmp_path.iterdir()):
        assert time.time() < deadline and process.poll() is None, "no temporary file appeared"
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum and "Traceback" not in err
    assert err.splitlines()[-1] == f"lrcurve: stopped by {signal.Signals(signum).name}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("delay", [0.05, 0.3, 1.0])
def test_ctrl_c_during_start_up_or_work_is_one_line_and_exit_130(fit_file, tmp_path, delay):
    process = start("predict", fit_file, "--steps", 3_000_000, "-o", "big.csv", cwd=tmp_path)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    if err.rstrip().endswith("KeyboardInterrupt") or (
        process.returncode == -signal.SIGINT and not err
    ):
        # before lrcurve.cli.main() installed its handler: the interpreter's start-up (site,
        # the import of the package and of lrcurve.cli, which import only the standard
        # library); the default action, or Python's traceback (exit 1, or death by SIGINT
        # after it). A busy machine stretches start-up past the delay (even into the import
        # of site, whose own main() the traceback then names). Never inside lrcurve's main().
        assert process.returncode in (1, -signal.SIGINT), (process.returncode, err)
        frames = re.findall(r'File "([^"]+)", line \d+, in (\w+)', err)
        assert not [f for f, name in frames if "lrcurve" in f and name in ("main", "_run")], err
    else:
        assert process.returncode == 130 and "Traceback" not in err, (process.returncode, err)
        assert err.splitlines()[-1] == "lrcurve: interrupted"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_two_writers_cannot_both_create_one_file(tmp_path):
    runs = [SAMPLES / "constant.csv", SAMPLES / "cosine.csv"]
    writers = [start("fit", *runs, "--warmup", 2160, "-o", "new.json", cwd=tmp_path) for _ in "ab"]
    results = [(w.wait(timeout=300), w.stderr.read()) for w in writers]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert "new.json" in refused.splitlines()[-1] and "Traceback" not in refused
    assert json.loads((tmp_path / "new.json").read_text())["law"]["name"] == "momentum"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"]


def test_no_overwrite_holds_at_the_rename(tmp_path):
    target = tmp_path / "out.txt"

    def meanwhile(tmp: Path) -> None:
        tmp.write_text("mine")
        target.write_text("theirs")  # another process creates the file while we write

    from lrcurve.output import write_atomic

    with pytest.raises(ParameterError) as caught:
        write_atomic(target, meanwhile, replace=False)
    assert caught.value.param == "force" and target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    write_text(target, "forced", replace=True)
    assert target.read_text() == "forced"


def test_help_imports_no_numeric_stack():
    code = (
        "import sys, time; sys.argv = ['lrcurve', '--help']; t = time.perf_counter()\n"
        "from lrcurve.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "heavy = [m for m in ('numpy', 'scipy', 'pandas', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print(time.perf_counter() - t, file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Usage" in r.stdout and "predict" in r.stdout


def test_exit_codes(fit_file, tmp_path):
    ok = run("schedule", "show", "cosine", "--steps", 1000, "--peak", 3e-4, cwd=tmp_path)
    usage = run("predict", fit_file, "--no-such-flag", cwd=tmp_path)
    bad = run("predict", fit_file, "--peak", -1, cwd=tmp_path)
    assert (ok.returncode, usage.returncode, bad.returncode) == (0, 2, 2)
    assert one_line(usage.stderr).startswith("lrcurve: error: ")
    assert one_line(bad.stderr) == (
        "lrcurve: error: --peak: peak LR -1 is outside [1e-20, 1e+20], the range the laws can "
        "evaluate (a unit mistake?)"
    )
    # a bug is exit 3 (exit 1 means drift to a CI gate): here, a fit file the loader chokes on
    code = (
        "import sys; sys.argv = ['lrcurve', 'schedule', 'show', 'cosine', '--steps', '10', "
        "'--peak', '1e-3']\n"
        "import lrcurve.cli.schedule_cmd as m\n"
        "def boom(*a, **k):\n    raise RuntimeError('a bug')\n"
        "m.show_schedule = boom\n"
        "from lrcurve.cli import main\nmain()"
    )
    bug = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True)
    assert bug.returncode == 3 and "internal error: RuntimeError: a bug" in one_line(bug.stderr)


# --- issue 13, item 12 ----------------------------------------------------------------------


def test_run_names_are_never_rendered_as_emoji(tmp_path):
    rows = (SAMPLES / "constant.csv").read_text().splitlines()
    text = "\n".join(["run," + rows[0], *(f":fire:,{r}" for r in rows[1:])])
    (tmp_path / "r.csv").write_text(text + "\n")
    r = run("fit", "r.csv", "--warmup", 2160, cwd=tmp_path)
    assert r.returncode == 0 and ":fire:" in r.stdout and "\N{FIRE}" not in r.stdout + r.stderr


def test_a_bad_lr_inside_a_fit_file_is_blamed_on_the_file(fit_file, tmp_path):
    data = json.loads(fit_file.read_text())
    schedule = data["runs"][0]["schedule"]
    while "body" in schedule:  # the logged LR under the warmup
        schedule = schedule["body"]
    schedule["lrs"] = [1e30 for _ in schedule["lrs"]]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    r = run("predict", "bad.json", "--schedule", "cosine", cwd=tmp_path)
    line = one_line(r.stderr)
    assert r.returncode == 2 and "bad.json" in line and "--peak" not in line, line


def test_optimize_checks_every_input_before_the_search(fit_file, tmp_path):
    r = run("optimize", fit_file, "--also", "missing.json", cwd=tmp_path)
    assert r.returncode == 2 and "missing.json" in one_line(r.stderr)


def test_schedule_show_refuses_two_families(tmp_path):
    r = run("schedule", "show", "wsd", "--schedule", "cosine", "--peak", 1e-3, "--steps", 100,
            cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "--schedule cosine" in one_line(r.stderr)
    same = run("schedule", "show", "cosine", "--schedule", "cosine", "--peak", 1e-3, "--steps",
               100, "--json", cwd=tmp_path)  # fmt: skip
    assert same.returncode == 0 and json.loads(same.stdout)["schedule"]["kind"] == "cosine"


def test_numpy_floating_point_warnings_never_reach_stderr(tmp_path, monkeypatch, capsys):
    import numpy as np

    import lrcurve.cli.schedule_cmd as schedule_cmd
    from lrcurve.cli import main

    shown = schedule_cmd.show_schedule

    def noisy(*args, **kwargs):
        np.log(np.array([-1.0]))  # "invalid value encountered in log"
        return shown(*args, **kwargs)

    monkeypatch.setattr(schedule_cmd, "show_schedule", noisy)
    monkeypatch.setattr(sys, "argv", ["lrcurve", "schedule", "show", "cosine", "--steps", "10",
                                      "--peak", "1e-3"])  # fmt: skip
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code == 0 and "invalid value" not in capsys.readouterr().err


def test_every_float_flag_refuses_non_finite_numbers():
    from typer.main import get_command

    from lrcurve.cli.commands import app
    from lrcurve.cli.flags import _finite

    def commands(group):
        for command in getattr(group, "commands", {}).values():
            yield from commands(command) if hasattr(command, "commands") else [command]

    def guarded(param) -> bool:  # typer wraps the callback it is given
        cells = [c.cell_contents for c in getattr(param.callback, "__closure__", None) or ()]
        return param.callback is _finite or _finite in cells

    floats = [
        (command.name, param)
        for command in commands(get_command(app))
        for param in command.params
        if "float" in param.bare_type()
    ]
    assert len(floats) > 20
    assert [(name, p.opts[0]) for name, p in floats if not guarded(p)] == []


def test_the_help_texts_quote_the_library_constants():
    from lrcurve import fitfile, fitting, optimize, schedules
    from lrcurve.check import DEFAULT_TOLERANCE, DEFAULT_WINDOWS
    from lrcurve.cli import fit_cmd, flags
    from lrcurve.laws import LAWS
    from lrcurve.laws.base import LR_EXPONENT_RANGE

    assert flags.SCHEDULE_NAMES == schedules.SCHEDULE_NAMES
    assert flags.WSD_SHAPES == schedules.WSD_SHAPES
    assert flags.WSD_DECAY == schedules.WSD.decay
    power = (schedules.Power.decay, schedules.Power.shape, schedules.Power.final)
    assert (flags.POWER_DECAY, flags.POWER_SHAPE, flags.POWER_FINAL) == power
    assert flags.LAW_NAMES == tuple(LAWS)
    assert flags.LR_EXPONENT_RANGE == LR_EXPONENT_RANGE
    assert flags.DEFAULT_SKIP == fitting.DEFAULT_SKIP
    assert (flags.FAMILIES, flags.DEFAULT_SHAPES) == (optimize.FAMILIES, optimize.DEFAULT_SHAPES)
    assert (flags.DEFAULT_TOLERANCE, flags.DEFAULT_WINDOWS) == (DEFAULT_TOLERANCE, DEFAULT_WINDOWS)
    assert fit_cmd.DEFAULT_FIT_FILE == str(fitfile.DEFAULT_FIT_FILE)


def test_a_signal_the_caller_ignores_stays_ignored(fit_file, tmp_path):
    """`nohup lrcurve predict ...` sets SIGHUP to be ignored: the command must outlive the
    terminal, not stop with 'stopped by SIGHUP'."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lrcurve", "predict", str(fit_file), "--steps", str(BIG_STEPS)]
        + ["-o", "big.csv"],
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    deadline = time.time() + 120
    while not any(p.name.startswith(".big.csv.") for p in tmp_path.iterdir()):
        assert time.time() < deadline and process.poll() is None, "no temporary file appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert (tmp_path / "big.csv").read_text().count("\n") == BIG_STEPS + 1  # written whole
