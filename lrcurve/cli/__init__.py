"""The ``lrcurve`` command line: a thin layer over the library.

Every command prints a rich table for people or ``--json`` for machines. Exit status: 0 done,
1 ``check`` found drift, 2 bad input or usage (one ``lrcurve: error:`` line on stderr, never a
traceback), 3 a bug (an internal error), 128+N stopped by signal N (130: Ctrl-C). Warnings are
one ``lrcurve: warning:`` line each; nothing is overwritten without --force, and a stopped
command leaves no file behind.

This module imports only the standard library, so that Ctrl-C during start-up is caught.
"""

from __future__ import annotations

import os
import signal
import sys
import warnings

TYPE_CHECKING = False  # typing is not imported before main(): its import takes ~3 ms of start-up
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

EXIT_INTERNAL = 3
# numpy's floating-point warnings are not for users: every result is checked for non-finite
# values where it is made, and refused with a message that says what went wrong.
_NUMPY_WARNINGS = r"(invalid value|divide by zero|overflow|underflow) encountered"


class Stopped(BaseException):
    """A stop signal, raised where the program is: a BaseException, so that nothing on the
    way up catches it, and every ``finally`` (temporary files) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum: int, frame: Any) -> NoReturn:
    raise Stopped(signum)


def _catch_signals(before: dict[int, Any]) -> None:
    """Turn stop signals into :class:`Stopped`, keeping in ``before`` the handlers they had
    (filled as it goes: a signal may arrive between two of them). A signal the caller ignores
    stays ignored: ``nohup lrcurve ...`` must outlive the terminal (SIGHUP), and a background
    job of a non-interactive shell ignores SIGINT."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signum = getattr(signal, name)
            handler = signal.getsignal(signum)
            if handler is signal.SIG_IGN:
                continue
            before[signum] = handler
            signal.signal(signum, _raise_stopped)


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


def _exit(message: str, code: int) -> NoReturn:
    print(f"lrcurve: {message}", file=sys.stderr)
    sys.exit(code)


def _usage_error(error: Any) -> str:
    ctx: Any = getattr(error, "ctx", None)
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"error: {_one_line(error.format_message())}{hint}"


def _run() -> int:
    """Run the command of ``sys.argv``; its exit status (errors propagate)."""
    import typer

    from lrcurve.cli.commands import app
    from lrcurve.cli.flags import FLAGS
    from lrcurve.errors import LrcurveError

    try:
        code = app(prog_name="lrcurve", standalone_mode=False)
    except typer.TyperException as error:  # click's usage errors
        if type(error).__name__ == "NoArgsIsHelpError":  # bare `lrcurve`: the help
            if error.format_message():
                print(error.format_message())
            return int(getattr(error, "exit_code", 2))
        _exit(_usage_error(error), int(getattr(error, "exit_code", 2)))
    except typer.Abort:  # click's word for a KeyboardInterrupt it caught
        _exit("interrupted", 130)
    except LrcurveError as error:
        _exit(f"error: {_one_line(error.render(FLAGS))}", error.exit_code)
    except OSError as error:
        if error.filename is None:  # not about a path the user gave: a bug or the machine's
            raise
        # a path that cannot be used as given (a name too long, a loop of links, no access)
        _exit(f"error: {error.filename}: {_one_line(error.strerror or str(error))}", 2)
    return code if isinstance(code, int) else 0


def main() -> None:
    """The ``lrcurve`` script."""
    before: dict[int, Any] = {}
    try:  # the handlers are installed inside: a Ctrl-C right after the first is caught too
        _catch_signals(before)
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.filterwarnings("ignore", message=_NUMPY_WARNINGS, category=RuntimeWarning)
            code = _run()
    except Stopped as stop:
        if stop.signum == getattr(signal, "SIGINT", 2):
            _exit("interrupted", 130)
        _exit(f"stopped by {signal.Signals(stop.signum).name}", 128 + stop.signum)
    except KeyboardInterrupt:  # before the handler was in place
        _exit("interrupted", 130)
    except Exception as error:  # a bug: still one line, the traceback on request
        if os.environ.get("LRCURVE_DEBUG"):
            raise
        _exit(
            f"internal error: {type(error).__name__}: {_one_line(str(error))} "
            "(set LRCURVE_DEBUG=1 for the traceback)",
            EXIT_INTERNAL,
        )
    finally:  # main() also runs inside other programs (tests): leave their handlers as they were
        for signum, handler in before.items():
            signal.signal(signum, handler)
    sys.exit(code)
