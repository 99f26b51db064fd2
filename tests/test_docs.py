"""Every example in README.md and docs/ runs.

Each ```console / ```bash block is read as a shell session: lines ``$ lrcurve ...`` (or
``lrcurve ...`` in a bash block; ``NAME=value lrcurve ...`` sets environment variables) are run
in this process through the CLI (``run_lrcurve``), in a temporary folder holding
``sample_runs/``, ``tests/data/`` and an empty ``demo_out/``, one folder per page so that a page's
commands see the files its earlier commands wrote. ``$ D=...`` sets a shell variable for the
page's later commands; arguments are expanded by bash (variables, globs, quotes) exactly as a
user's shell would. Each command must exit 0, or with the status the block states on the
line after ``$ echo $?``. Other lines (output, other commands) are not run.

A block right after a line ``<!-- docs-test: skip, run by tests/FILE::TEST -->`` is not run: for
slow examples (a multi-power fit) that a named test already runs.

A ```python block runs in the same folder, in its place among the page's commands (a block that
writes the files later commands read comes before them).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT, SAMPLES, run_lrcurve

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")], key=lambda path: str(path))
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_RUN = re.compile(r"^((?:[A-Za-z_]\w*=\S*\s+)*)lrcurve(\s.*)?$")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)=(\S*)$")
_SKIP = re.compile(r"<!-- docs-test: skip, run by (tests/\S+::\w+) -->")


@dataclass
class Command:
    """One ``lrcurve`` line of a page: its environment, its arguments as typed, the status
    it must end with, and where it is (for the failure message)."""

    env: dict[str, str]
    args: str
    where: str
    expected: int = 0
    python: str = ""  # a Python block, run in its place instead of a command


@dataclass
class Page:
    commands: list[Command] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


def _session_lines(language: str, body: str) -> list[tuple[bool, str]]:
    """``(is_command, text)`` per logical line of a block (continuations joined)."""
    lines: list[tuple[bool, str]] = []
    pending = ""
    for raw in body.splitlines():
        if pending:
            pending += " " + raw.strip()
        elif language == "console":
            if not raw.startswith("$ "):
                lines.append((False, raw))
                continue
            pending = raw[2:].strip()
        else:  # bash: every line is a command; comments and blank lines are not
            pending = raw.split(" #", 1)[0].strip() if not raw.startswith("#") else ""
            if not pending:
                continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        lines.append((True, pending))
        pending = ""
    return lines


def parse(path: Path) -> Page:
    """The commands and Python blocks of one page, in order."""
    page = Page()
    text = path.read_text()
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        line_no = text.count("\n", 0, match.start()) + 1
        where = f"{path.name}:{line_no}"
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        skip = _SKIP.fullmatch(before.strip())
        if skip and _runs_elsewhere(skip.group(1)):
            continue
        if language == "python":
            page.commands.append(Command({}, "", where, python=body))
            continue
        if language not in ("console", "bash"):
            continue
        session = _session_lines(language, body)
        for index, (is_command, line) in enumerate(session):
            if not is_command:
                continue
            if line == "echo $?" and page.commands and index + 1 < len(session):
                page.commands[-1].expected = int(session[index + 1][1].strip())
                continue
            for part in line.split("; "):
                _add(page, part.strip(), where)
    return page


def _runs_elsewhere(test: str) -> bool:
    """A skip marker must name a test that exists: ``tests/FILE.py::test_name``."""
    file, name = test.split("::")
    if f"def {name}(" not in (ROOT / file).read_text():
        raise AssertionError(f"docs-test skip marker names {test}, which does not exist")
    return True


def _add(page: Page, line: str, where: str) -> None:
    assign = _ASSIGN.match(line)
    if assign:
        page.variables[assign.group(1)] = assign.group(2)
        page.commands.append(Command({}, f"{assign.group(1)}={assign.group(2)}", where, -1))
        return
    run = _RUN.match(line)
    if run:
        env = dict(pair.split("=", 1) for pair in run.group(1).split())
        page.commands.append(Command(env, (run.group(2) or "").strip(), where))


def _expand(args: str, cwd: Path, variables: dict[str, str]) -> list[str]:
    """``args`` as bash splits and expands them (variables, quotes, globs) in ``cwd``."""
    assignments = "".join(f"{name}={value}; " for name, value in variables.items())
    script = f"{assignments}printf '%s\\0' {args}"
    result = subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, check=True
    )
    return result.stdout.split("\0")[:-1]


def _workspace(tmp_path: Path) -> Path:
    (tmp_path / "sample_runs").symlink_to(SAMPLES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(DATA)
    (tmp_path / "demo_out").mkdir()
    return tmp_path


def _pages_with_examples() -> list[Path]:
    return [path for path in PAGES if "hooks" not in path.parts and _has_examples(path)]


def _has_examples(path: Path) -> bool:
    page = parse(path)
    return any(command.python or command.expected >= 0 for command in page.commands)


# The pages in two classes: xdist's --dist loadscope gives each class to a worker, so the
# model-size page (its size-aware fits take about as long as all the other pages together)
# runs beside the rest.
_SLOWEST = ROOT / "docs" / "model-size.md"
_PAGES = _pages_with_examples()
_IDS = {"ids": lambda path: str(path.relative_to(ROOT))}


class TestPagesA:
    @pytest.mark.parametrize("path", [p for p in _PAGES if p == _SLOWEST], **_IDS)
    def test_every_example_of_the_page_runs(self, path: Path, tmp_path: Path) -> None:
        _run_page(path, tmp_path)


class TestPagesB:
    @pytest.mark.parametrize("path", [p for p in _PAGES if p != _SLOWEST], **_IDS)
    def test_every_example_of_the_page_runs(self, path: Path, tmp_path: Path) -> None:
        _run_page(path, tmp_path)


def _run_page(path: Path, tmp_path: Path) -> None:
    """Every ``lrcurve`` line and python block of the page, in page order, in a workspace."""
    page = parse(path)
    cwd = _workspace(tmp_path)
    variables: dict[str, str] = {}
    for command in page.commands:
        if command.python:
            _run_python(command, cwd)
            continue
        if command.expected < 0:  # a shell variable for the commands after it
            name, value = command.args.split("=", 1)
            variables[name] = value
            continue
        argv = _expand(command.args, cwd, variables)
        result = run_lrcurve(*argv, cwd=cwd, env=command.env)
        assert result.returncode == command.expected, (
            f"{command.where}: lrcurve {command.args} exited {result.returncode}, "
            f"the page says {command.expected}\n{result.stderr[-2000:]}"
        )


def _run_python(command: Command, cwd: Path) -> None:
    saved = os.getcwd()
    os.chdir(cwd)
    try:
        code = compile(command.python, f"{command.where} python block", "exec")
        exec(code, {"__name__": "__doc__"})
    finally:
        os.chdir(saved)


def test_the_extractor_reads_commands_variables_and_stated_exit_codes(tmp_path: Path) -> None:
    page_file = tmp_path / "page.md"
    page_file.write_text(
        "```console\n$ D=sample_runs\n$ lrcurve fit $D/constant.csv \\\n"
        "      --warmup 2160\noutput line\n$ echo $?\n0\n```\n\n"
        "```bash\n# a comment\nGITHUB_ACTIONS=true lrcurve check f.json x.csv  # note\n"
        "mkdir -p out\n```\n\n"
        "```console\n$ lrcurve check f.json drifting.csv\n...\n$ echo $?\n1\n```\n"
        "```text\nlrcurve not-run\n```\n"
        "<!-- docs-test: skip, run by tests/test_docs.py::test_the_readme_stays_a_front_door -->\n"
        "```console\n$ lrcurve compare a.csv\n```\n"
    )
    commands = parse(page_file).commands
    assert [(c.env, c.args, c.expected) for c in commands] == [
        ({}, "D=sample_runs", -1),
        ({}, "fit $D/constant.csv --warmup 2160", 0),
        ({"GITHUB_ACTIONS": "true"}, "check f.json x.csv", 0),
        ({}, "check f.json drifting.csv", 1),
    ]
    page_file.write_text(
        "<!-- docs-test: skip, run by tests/test_docs.py::no_such_test -->\n```bash\n```\n"
    )
    with pytest.raises(AssertionError, match="no_such_test"):
        parse(page_file)
    (tmp_path / "work").mkdir()
    cwd = _workspace(tmp_path / "work")
    assert _expand('$D/c*.csv "a b"', cwd, {"D": "sample_runs"}) == [
        "sample_runs/constant.csv",
        "sample_runs/constant_72000.csv",
        "sample_runs/cosine.csv",
        "a b",
    ]


def test_the_readme_stays_a_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    assert "…" not in readme
    assert "pip install -e ." in readme and "schedlaw" in readme


def test_the_example_files_are_what_make_examples_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", SAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("drifting.csv", "live.csv", "sweeps_synthetic.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
