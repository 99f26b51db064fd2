"""Shared test helpers: where the curves are, and the CLI run in this process.

Every file a test reads is in the repository (``sample_runs/`` and the trimmed public curves
vendored under ``tests/data/``): a fresh clone runs the whole suite, with no ``../shared``.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_runs"
DATA = ROOT / "tests" / "data"
# `make fuzz` multiplies the number of examples of the malformed-input tests by this.
FUZZ_SCALE = max(1, int(os.environ.get("LRCURVE_FUZZ_SCALE", "1")))
# Plots are files: no window, whichever test imports matplotlib first (the CLI picks Agg too).
os.environ.setdefault("MPLBACKEND", "Agg")
# Tables are as wide as a console that is not a terminal, whatever runs the tests (a terminal of
# any width, or a pytest-xdist worker): the tests read the rendered tables.
os.environ["COLUMNS"] = "160"
# The warnings a Python process ignores by default (pytest shows some of them).
QUIET_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@pytest.fixture
def samples() -> Path:
    return SAMPLES


def data_path(*parts: str) -> Path:
    """A file or folder of the public curves vendored under tests/data (see its README)."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"test data missing: {path} (tests/data/vendor.py copies it from the sets)")
    return path


def short_log(path: Path, n_rows: int) -> Path:
    """``path``: ``n_rows`` of the sample WSD run, spread over it, the first moved into the
    2160-step warmup."""
    header, *rows = (SAMPLES / "wsd.csv").read_text().splitlines()
    picked = [rows[round(i * (len(rows) - 1) / (n_rows - 1))] for i in range(n_rows)]
    path.write_text("\n".join([header, "1080,0.00015,4.5", *picked[1:]]) + "\n")
    return path


# --- the CLI in this process ------------------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def size_runs(law, truth, sizes, kinds, noise=0.0):
    """Synthetic runs of a size-aware ``law`` at ``truth``: for each model size of ``sizes``,
    one run (6000 steps, warmup 200, logged every 60) per ``(kind, peak LR)`` of ``kinds``,
    with a seeded relative Gaussian ``noise`` on each logged loss."""
    import numpy as np

    from lrcurve.laws.base import LRHistory
    from lrcurve.runs import Run
    from lrcurve.schedules import make_schedule

    runs = []
    for n in sizes:
        for kind, peak in kinds:
            extra = {"decay": 0.2} if kind == "wsd" else {}
            schedule = make_schedule(kind, steps=6000, peak=peak, warmup=200, **extra)
            steps = np.arange(100, 6001, 60)
            loss = law.predict(truth, LRHistory.of(schedule, 6000, n), steps)
            loss = loss * (1 + noise * np.random.default_rng(len(runs)).standard_normal(loss.size))
            runs.append(Run(f"{kind}-{peak:g}-{n:g}", steps, loss, schedule, model_size=n))
    return runs


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    """``os.environ`` updated with ``env`` for the block, then restored."""
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _fresh_process_state() -> Iterator[None]:
    """What a new ``lrcurve`` process starts without: the files earlier runs read (the
    registry that keeps inputs from being overwritten), cached lookups, open figures, and
    pytest's warning filters (a process has Python's defaults)."""
    for name, module in list(sys.modules.items()):
        if name == "lrcurve" or name.startswith("lrcurve."):
            for value in list(vars(module).values()):
                if hasattr(value, "cache_clear") and getattr(value, "__module__", None) == name:
                    value.cache_clear()
            registry = getattr(module, "_inputs", None)
            if isinstance(registry, set):
                registry.clear()
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for quiet in QUIET_BY_DEFAULT:
            warnings.simplefilter("ignore", quiet)
        try:
            yield
        finally:
            pyplot = sys.modules.get("matplotlib.pyplot")
            if pyplot is not None:
                pyplot.close("all")


_COMMANDS: dict[int, tuple[object, object]] = {}  # id(app) -> (app, its click command)


@contextlib.contextmanager
def _command_built_once() -> Iterator[None]:
    """typer builds the click command from the app's functions at every call (two thirds of a
    refused command's 24 ms); a process builds it once, and so do the runs in this process:
    each app's command is built at its first run and reused (a click command keeps nothing of
    a run; its context is made per call)."""
    import typer.main

    build = typer.main.get_command

    def built(app: Any) -> Any:
        known = _COMMANDS.get(id(app))
        if known is None or known[0] is not app:
            known = _COMMANDS[id(app)] = (app, build(app))
        return known[1]

    typer.main.get_command = built
    try:
        yield
    finally:
        typer.main.get_command = build


def run_lrcurve(
    *args: object,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str = "",
) -> CliResult:
    """``lrcurve ARGS`` in ``cwd``, in this process, through ``lrcurve.cli.main()`` (what the
    ``lrcurve`` script calls: its error handling and exit codes included)."""
    from lrcurve.cli import main

    argv = ["lrcurve", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_stdin, saved_cwd = sys.argv, sys.stdin, os.getcwd()
    code: int = 0
    try:
        sys.argv, sys.stdin = argv, io.StringIO(input)
        if cwd is not None:
            os.chdir(cwd)
        with (
            _environment(env),
            _fresh_process_state(),
            _command_built_once(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main()
            except SystemExit as stop:
                if isinstance(stop.code, int) or stop.code is None:
                    code = stop.code or 0
                else:  # a message: printed, status 1, as the interpreter does
                    print(stop.code, file=sys.stderr)
                    code = 1
    finally:
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.chdir(saved_cwd)
    return CliResult(tuple(argv[1:]), code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CliResult]:
    """``cli(*args, cwd=tmp_path, env=None, input="")``: :func:`run_lrcurve`, by default in
    the test's temporary folder."""

    def run(
        *args: object,
        cwd: Path | str | None = tmp_path,
        env: Mapping[str, str] | None = None,
        input: str = "",
    ) -> CliResult:
        return run_lrcurve(*args, cwd=cwd, env=env, input=input)

    return run


# The scopes that take longest, dispatched first (`make test` runs xdist's loadscope with
# --no-loadscope-reorder, which keeps this order): a scope of a few slow tests (a docs page's
# fits) dispatched last keeps one worker busy while the other idles.
SLOWEST_FIRST = (
    "tests/test_docs.py",
    "tests/test_multipower.py",
    "tests/test_fitting.py",
    "tests/test_fuzz.py",
    "tests/test_cli_stops.py",
    "tests/test_compare.py",
    "tests/test_laws_peak_lr.py",
    "tests/test_process.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: each module's own order is kept
