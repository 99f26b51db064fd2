"""The ``lrcurve`` command as a real process (a few smoke tests: most CLI tests run it in
this process through ``tests/conftest.py``'s ``run_lrcurve``), and that runner agreeing with
a process."""

import json
import subprocess
import sys

from tests.conftest import ROOT, SAMPLES, data_path

COMMANDS = ("fit", "predict", "optimize", "check", "compare", "schedule", "lr-horizon")


def lrcurve_process(*args: object, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lrcurve", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


def test_help_lists_every_command(tmp_path):
    r = lrcurve_process("--help", cwd=tmp_path)
    assert r.returncode == 0 and r.stderr == ""
    assert all(f" {command} " in r.stdout for command in COMMANDS), r.stdout


def test_a_real_fit_and_predict_give_what_the_in_process_runs_give(tmp_path, cli):
    fit = ("fit", SAMPLES / "constant.csv", SAMPLES / "cosine.csv", "--warmup", 2160)
    predict = ("predict", "fit.json", "--schedule", "wsd", "--decay", 0.15, "--json")
    (tmp_path / "process").mkdir()
    (tmp_path / "here").mkdir()
    real = lrcurve_process(*fit, "-o", "fit.json", "--json", cwd=tmp_path / "process")
    assert real.returncode == 0, real.stderr
    here = cli(*fit, "-o", "fit.json", "--json", cwd=tmp_path / "here")
    assert here.returncode == 0, here.stderr
    params = {name: p["value"] for name, p in json.loads(real.stdout)["params"].items()}
    assert params == {name: p["value"] for name, p in json.loads(here.stdout)["params"].items()}
    assert set(params) == {"L0", "A", "alpha", "C", "lam"}

    real = lrcurve_process(*predict, cwd=tmp_path / "process")
    here = cli(*predict, cwd=tmp_path / "here")
    assert (real.returncode, real.stdout, real.stderr) == (0, here.stdout, here.stderr)
    assert 3.2 < json.loads(real.stdout)["final_loss"] < 3.4
    assert "lrcurve: extrapolating (LR falls to 0; a steeper fall than fitted)" in real.stderr


def test_in_process_runs_do_not_inherit_the_inputs_of_earlier_runs(tmp_path, cli):
    """A process starts with no inputs recorded: a file an earlier run read may be written."""
    for name, sample in (("a.csv", "constant.csv"), ("b.csv", "cosine.csv")):
        (tmp_path / name).write_text((SAMPLES / sample).read_text())
    assert cli("fit", "a.csv", "--warmup", 2160, "-o", "fit.json").returncode == 0
    again = cli("fit", "b.csv", "--warmup", 2160, "-o", "a.csv", "--force")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a.csv").read_text().startswith("{")
    refused = cli("fit", "b.csv", "--warmup", 2160, "-o", "b.csv", "--force")
    assert refused.returncode == 2 and "b.csv is one of the inputs" in refused.stderr


def test_a_usage_error_reads_the_same_in_both(tmp_path, cli):
    args = ("predict", "--schedule", "nosuch")
    real, here = lrcurve_process(*args, cwd=tmp_path), cli(*args)
    assert (real.returncode, real.stdout, real.stderr) == (
        here.returncode,
        here.stdout,
        here.stderr,
    )
    assert real.returncode == 2 and real.stderr.startswith("lrcurve: error: ")


def test_benchmarks_without_the_public_sets_say_where_they_come_from(tmp_path):
    for script, source in (
        ("accuracy.py", "github.com/thu-yao-01-luo/MultiPowerLaw"),
        ("cooldown_sweeps.py", "github.com/fabian-sp/lr-scheduling"),
    ):
        r = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), "--data", str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"{script}: no ") and str(tmp_path) in r.stderr
        assert source in r.stderr and "--data DIR" in r.stderr


def test_every_benchmark_script_imports_what_it_uses():
    """Each script under benchmarks/ is imported as a module (its main guarded), in one
    process: a name moved in the library breaks the suite, not the next benchmark run."""
    script = (
        "import importlib.util, pathlib, sys\n"
        f"folder = pathlib.Path({str(ROOT / 'benchmarks')!r})\n"
        "sys.path.insert(0, str(folder.parent)); sys.path.insert(0, str(folder))\n"
        "for path in sorted(folder.glob('*.py')):\n"
        "    spec = importlib.util.spec_from_file_location('bench_' + path.stem, path)\n"
        "    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)\n"
        "    spec.loader.exec_module(module)\n"
        "    print(path.name)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    names = {path.name for path in (ROOT / "benchmarks").glob("*.py")}
    assert set(result.stdout.split()) == names and "cross_size.py" in names


def test_version_is_the_package_version_and_imports_no_numpy(tmp_path):
    import re

    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    script = (
        "import sys; sys.argv = ['lrcurve', '--version']\n"
        "from lrcurve.cli import main\n"
        "try:\n    main()\nexcept SystemExit as stop:\n"
        "    print(stop.code, 'numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.splitlines() == [f"lrcurve {declared.group(1)}", "0 False"], result


LAW_NAMES = ["momentum", "multipower", "forward-momentum"]


def test_compare_in_an_80_column_console_keeps_names_and_numbers_whole(tmp_path):
    """An 80-column console: compare's two tables fit, the interval texts wrap at their
    spaces, law and run names are not squeezed into a letter a line and numbers never break."""
    import os

    result = subprocess.run(
        [sys.executable, "-m", "lrcurve", "compare", str(SAMPLES / "constant.csv"),
         str(SAMPLES / "cosine.csv"), "--holdout", str(SAMPLES / "wsd.csv"), "--holdout",
         str(SAMPLES / "constant_72000.csv"), "--warmup", "2160"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines()
            if line.startswith("│ ")]  # fmt: skip
    laws, curves = rows[:3], [row for row in rows if row[1] in ("wsd", "constant_72000")]
    assert [row[0].removesuffix(" *") for row in laws] == LAW_NAMES
    assert [row[0] for row in curves[::2]] == LAW_NAMES  # whole, not folded
    assert all(row[3] == "2 of 2" for row in laws)
    for row in curves:  # numbers whole; the interval wraps at its space: "in [3.2412," "3.2874]"
        assert all(" " not in cell for cell in (row[2], row[3]))
        assert row[4].startswith(("in [", "OUT of [")) and row[4].endswith(",")


def test_an_80_column_console_shows_every_column_of_a_wide_table(tmp_path):
    """lr-horizon's table (7 columns) lost its last one and the rest of a header at 80
    columns: the headers wrap at their spaces first, and no line is longer than the console."""
    import os

    result = subprocess.run(
        [sys.executable, "-m", "lrcurve", "lr-horizon", "--table",
         str(data_path("lr-scheduling") / "index.csv"), "--where", "family=ann124-0.1",
         "--target", "1e10"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]  # the table
    assert all(len(line) <= 80 for line in lines)
    header = [line for line in lines if line.startswith("┃")]
    assert any("bracketed" in line for line in header) and any("s.e.)" in line for line in header)
    row = next(line for line in lines if line.startswith("│") and "1.536e+09" in line)
    assert row.rstrip().endswith("yes │")


def test_a_narrow_console_never_cuts_a_number_or_a_header(tmp_path):
    """At 80 columns, beside a long run name, the measured-runs table showed step 23920 as
    2392 and its headers as 'measur', 'predicte': numbers keep their width, the name folds."""
    import os

    long = tmp_path / "cosine_run_of_the_25m_model_with_a_long_wandb_name_v2.csv"
    long.write_text((SAMPLES / "cosine.csv").read_text())
    fitted = lrcurve_process("fit", SAMPLES / "constant.csv", SAMPLES / "cosine.csv",
                             "--warmup", "2160", cwd=tmp_path)  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    result = subprocess.run(
        [sys.executable, "-m", "lrcurve", "predict", "--schedule", "cosine", "--steps", "24000",
         "--floor", "0.1", "--measured", str(long)],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = result.stdout[result.stdout.index("measured runs against") :]
    row = next(line for line in table.splitlines() if "23920" in line)
    assert "3.3044" in row and "┃ measured ┃" in table and "┃ predicted ┃" in table
