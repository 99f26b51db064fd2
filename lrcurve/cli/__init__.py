"""The ``lrcurve`` command line: a thin layer over the library.

Every command prints a rich table for people or ``--json`` for machines. Bad input
and bad usage (unknown options, invalid values) end in one line on stderr and exit
status 2, never a traceback; warnings are one ``lrcurve: warning:`` line each;
nothing is overwritten without --force.
"""

import os
import sys
import warnings
from typing import Any, TextIO

import typer

from lrcurve.errors import InputError

try:  # typer >= 0.20 ships its own copy of click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.exceptions import ClickException

    NoArgsIsHelpError = ()  # type: ignore[assignment,misc]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Predict a pretraining loss curve under any learning-rate schedule from logged curves.",
)

from lrcurve.cli import (
    check_cmd,
    compare_cmd,
    fit_cmd,
    horizon_cmd,
    optimize_cmd,
    power_cmd,  # noqa: E402,F401  (registers the commands)
    predict_cmd,
    schedule_cmd,
)
from lrcurve.cli.common import READ_FLAGS, finite_floats  # noqa: E402


def _guard_floats(group: typer.Typer) -> None:
    """Every command, in every group, refuses non-finite float flags (one mechanism for all)."""
    for info in group.registered_commands:
        info.callback = finite_floats(info.callback)
    for sub in group.registered_groups:
        _guard_floats(sub.typer_instance)


_guard_floats(app)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    print(f"lrcurve: warning: {_one_line(str(message))}", file=sys.stderr)


def _usage_error(error: ClickException) -> str:
    ctx: Any = getattr(error, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"lrcurve: error: {_one_line(error.format_message())}{hint}"


def main() -> None:
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            code = app(prog_name="lrcurve", standalone_mode=False)
        except (
            NoArgsIsHelpError
        ) as error:  # bare `lrcurve` or `lrcurve schedule`: the help (rich prints it itself)
            if error.format_message():
                print(error.format_message())
            sys.exit(error.exit_code)
        except ClickException as error:
            print(_usage_error(error), file=sys.stderr)
            sys.exit(error.exit_code)
        except typer.Abort:
            print("lrcurve: aborted", file=sys.stderr)
            sys.exit(1)
        except InputError as error:
            print(f"lrcurve: error: {_one_line(error.render(READ_FLAGS))}", file=sys.stderr)
            sys.exit(error.exit_code)
        except KeyboardInterrupt:
            print("lrcurve: interrupted", file=sys.stderr)
            sys.exit(130)
        except Exception as error:  # a bug: still one line, the traceback on request
            if os.environ.get("LRCURVE_DEBUG"):
                raise
            print(
                f"lrcurve: internal error: {type(error).__name__}: {_one_line(str(error))} "
                "(set LRCURVE_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)
