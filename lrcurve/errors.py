"""The errors lrcurve raises on purpose, each one line for the user.

Library code names *parameters* (``skip_fraction``, ``peak``), never command-line flags: an
error about an argument carries it in ``param``, and :meth:`LrcurveError.render` shows it under
whatever name the caller uses (the CLI maps parameter names to its flags in one place).
Errors about a file's contents name the file, column, row or value in their message.

``exit_code`` is the CLI's exit status: 2 for bad input or usage; 3 is kept for bugs
(any exception that is not an ``LrcurveError``).
"""

from __future__ import annotations

from collections.abc import Mapping


class LrcurveError(Exception):
    """Base of the errors lrcurve raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message, led by the parameter's name as ``names`` spells it (default: its own)."""
        if self.param is None:
            return self.message
        return f"{(names or {}).get(self.param, self.param)}: {self.message}"

    def __str__(self) -> str:
        return self.render()


class InputError(LrcurveError, ValueError):
    """Bad input or usage: a file that cannot be used, or an argument outside its meaning."""


class ReadError(InputError):
    """A file that cannot be read as what it should be (the message names the file)."""


class ParameterError(InputError):
    """An argument outside its meaning (``param`` names it)."""


class ExtrapolationError(InputError):
    """A prediction the law cannot make: non-finite, or a loss at or below zero."""
