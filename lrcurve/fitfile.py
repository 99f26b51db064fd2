"""Fit files: a fitted law and the data it saw, as JSON.

``lrcurve fit`` writes one; ``lrcurve predict`` reads it. Without ``-o`` the fit goes
to ``lrcurve.fit.json`` in the working directory, which a later fit of the same runs
may refresh; a fit of other runs needs ``--force`` to replace it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lrcurve import __version__
from lrcurve.errors import InputError
from lrcurve.fitting import FittedLaw
from lrcurve.output import check_writable, write_json

DEFAULT_FIT_FILE = Path("lrcurve.fit.json")
FORMAT = 1


def _run_keys(data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(str(Path(r.get("source", "")).resolve()) if r.get("source") else "", r["name"]) for r in data.get("runs", [])}


def check_fit_destination(path: Path, sources: list[tuple[str, str]], force: bool, default: bool) -> None:
    """May a fit of ``sources`` (source path, run name) be written to ``path``?"""
    if not path.exists() or force:
        check_writable(path, True)
        return
    if not default:
        check_writable(path, force)
    try:
        existing = json.loads(path.read_text())
        same = _run_keys(existing) == {(str(Path(s).resolve()) if s else "", n) for s, n in sources}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        same = False
    if not same:
        raise InputError(f"{path} holds a fit of other runs; pass --force to replace it, or -o to write elsewhere")


def save_fit(fitted: FittedLaw, path: Path) -> dict[str, Any]:
    data = {"lrcurve": __version__, "format": FORMAT, **fitted.to_dict()}
    write_json(path, data)
    return data


def load_fit(path: Path | None) -> FittedLaw:
    if path is None:
        path = DEFAULT_FIT_FILE
        if not path.exists():
            raise InputError(f"no fit file given and no {DEFAULT_FIT_FILE} here; run `lrcurve fit RUNS...` first")
    if not path.exists():
        raise InputError(f"{path}: no such fit file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read: {err}") from None
    except ValueError as err:
        raise InputError(f"{path}: not a JSON fit file ({err})") from None
    if not isinstance(data, dict) or "law" not in data or "params" not in data:
        raise InputError(f"{path}: not an lrcurve fit file (no law and params)")
    try:
        return FittedLaw.from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path}: damaged fit file ({type(err).__name__}: {err})") from None
