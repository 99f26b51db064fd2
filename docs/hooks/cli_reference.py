"""mkdocs hook: the command-line reference, generated from the typer app at build time.

A page line ``<!-- cli-help: fit -->`` (or ``schedule show``) becomes that command's ``--help``
text in a code block, so the reference cannot drift from the flags the program takes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

_MARK = re.compile(r"^<!-- cli-help: ([a-z -]+) -->$", re.MULTILINE)


def _help_text(words: list[str]) -> str:
    import click
    from typer.testing import CliRunner

    from lrcurve.cli.commands import app

    result = CliRunner().invoke(
        app,
        [*words, "--help"],
        prog_name="lrcurve",
        env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"},
    )
    if result.exit_code != 0:
        raise click.ClickException(f"lrcurve {' '.join(words)} --help failed: {result.output}")
    return result.output.rstrip()


def on_config(config: Any, **_: Any) -> Any:
    """Import the lrcurve of this checkout (beside mkdocs.yml), not an installed one."""
    sys.path.insert(0, str(Path(config.config_file_path).resolve().parent))
    return config


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each cli-help marker by the command's help text."""

    def block(match: re.Match[str]) -> str:
        words = match.group(1).split()
        return f"```text\n$ lrcurve {' '.join(words)} --help\n{_help_text(words)}\n```"

    return _MARK.sub(block, markdown)
