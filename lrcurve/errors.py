"""Errors that reach the user as one line on stderr."""

from __future__ import annotations


class InputError(Exception):
    """Bad input or usage: the CLI prints the message and exits with status 2."""

    exit_code = 2
