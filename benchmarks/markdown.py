"""Run a benchmark script and write what it prints to a docs page, so that no table of
measured figures in docs/ is typed by hand.

    python benchmarks/markdown.py --as-markdown docs/accuracy-figures.md -- benchmarks/accuracy.py
    python benchmarks/markdown.py --append docs/accuracy-figures.md -- benchmarks/cooldown_sweeps.py

The page gets, per script run, a heading naming the command and the date, then the script's
standard output as it was printed: in a text block, or as markdown with ``--as-markdown`` (for
scripts that print markdown tables, as ``accuracy.py`` does). ``--append`` adds a section to
the page instead of replacing it; ``--title`` sets the page's first heading.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def section(command: list[str], as_markdown: bool) -> str:
    """The script's output under a heading that says how it was made and when."""
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    output = result.stdout.strip()
    body = output if as_markdown else f"```text\n{output}\n```"
    made = f"`python {' '.join(command)}`, {datetime.date.today().isoformat()}"
    return f"## {made}\n\n{body}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="the docs page to write")
    parser.add_argument("--append", action="store_true", help="add a section to the page")
    parser.add_argument(
        "--as-markdown", action="store_true", help="the script prints markdown: keep it as is"
    )
    parser.add_argument("--title", default="Measured figures", help="the page's first heading")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- SCRIPT [ARGS]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the benchmark to run after --")
    text = section(command, args.as_markdown)
    if args.append and args.page.exists():
        text = args.page.read_text().rstrip() + "\n\n" + text
    else:
        note = "Written by `benchmarks/markdown.py`; do not edit by hand."
        text = f"# {args.title}\n\n{note}\n\n{text}"
    args.page.write_text(text)


if __name__ == "__main__":
    main()
