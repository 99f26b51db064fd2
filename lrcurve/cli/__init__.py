"""The ``lrcurve`` command line: a thin layer over the library.

Every command prints a rich table for people or ``--json`` for machines. Bad input
ends in one line on stderr and exit status 2; nothing is overwritten without --force.
"""

import os
import sys

import typer

from lrcurve.errors import InputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Predict a pretraining loss curve under any learning-rate schedule from logged curves.",
)

from lrcurve.cli import compare_cmd, fit_cmd, predict_cmd, schedule_cmd  # noqa: E402,F401  (registers the commands)


def main() -> None:
    try:
        app()
    except InputError as error:
        print(f"lrcurve: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        print("lrcurve: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as error:  # a bug: still one line, the traceback on request
        if os.environ.get("LRCURVE_DEBUG"):
            raise
        print(f"lrcurve: internal error: {type(error).__name__}: {error} (set LRCURVE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        sys.exit(1)
