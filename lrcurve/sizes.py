"""Model sizes: a run's parameter count ``N``, as written by people (``25M``, ``1.3B``, ``4e8``),
checked, and what a prediction at a size the fit did not see says about itself.

A size-aware law (``Law.size_aware``) reads ``N`` from each run's LR history; a size-free law
predicts the size it was fitted at. A size over :data:`FAR_SIZE_FACTOR` times the largest
fitted one is predicted but said (:func:`size_said`); the predictive interval widens with the
size ratio either way (:mod:`lrcurve.uncertainty`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lrcurve.errors import ParameterError
from lrcurve.values import is_number

if TYPE_CHECKING:  # no numpy on the CLI's --help path, which parses sizes
    from lrcurve.laws.base import Law

SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
FAR_SIZE_FACTOR = 10.0  # a size beyond this many times the largest fitted one is said
MIN_SIZE = 1e4  # fewer parameters is no language model: ``--params 25`` meant 25M
MAX_SIZE = 1e14  # more is no model of today (the largest are ~2e12): a count gone wrong
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)

Said = tuple[str, str]  # (a few words, the detail), as in lrcurve.regime
T = TypeVar("T")


def format_size(n: float) -> str:
    """``25000000`` -> ``25M``; ``1.3e9`` -> ``1.3B`` (three significant digits)."""
    for suffix, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return f"{n:.3g}"


def check_size(n: float, what: str = "model size", param: str = "model_size") -> float:
    """``n`` as a float, refused unless a finite number from :data:`MIN_SIZE` to
    :data:`MAX_SIZE`."""
    if not is_number(n):
        raise ParameterError(f"{what} {n!r} is not a number", param=param)
    value = float(n)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"{what} {value:g} must be a finite parameter count above 0", param=param
        )
    if value < MIN_SIZE:
        raise ParameterError(
            f"{what} {value:g} parameters is no language model (at least {MIN_SIZE:,.0f}); "
            "write the count with its unit, e.g. 25M for 25 million",
            param=param,
        )
    if value > MAX_SIZE:
        raise ParameterError(
            f"{what} {value:g} parameters is beyond any model (at most {format_size(MAX_SIZE)})",
            param=param,
        )
    return value


def parse_size(text: str, param: str = "model_size") -> float:
    """A parameter count written as a number with an optional suffix K, M, B (or G), T:
    ``25M``, ``1.3B``, ``4e8``, ``124000000``. Refuses anything else, and 0."""
    match = _SIZE.match(str(text))
    if match is None:
        raise ParameterError(
            f"{text!r} is not a parameter count (write e.g. 25M, 1.3B or 4e8)", param=param
        )
    value = float(match.group(1)) * SUFFIXES[match.group(2).lower()]
    return check_size(value, f"model size {text!r} =", param)


def parse_file_size(text: str, param: str = "model_size") -> tuple[str, float]:
    """``FILE=N`` (a run file and its model size, as :func:`parse_size` reads it)."""
    return parse_file_value(text, parse_size, "model size (e.g. a.csv=25M)", param)


def parse_file_value(
    text: str, parse: Callable[[str, str], float], what: str, param: str
) -> tuple[str, float]:
    """``FILE=N``: a run file and a value of it that ``parse(N, param)`` reads; ``what`` names
    the value (with an example) in the refusal of a text without ``FILE=``."""
    path, sep, value = str(text).rpartition("=")
    if not sep or not path:
        raise ParameterError(f"{text!r}: write FILE=N, the run file and its {what}", param=param)
    return path, parse(value, param)


SAME_SIZE = 0.01  # sizes this close (relative) are one size: a count and its rounded ``25M``


def same_size(a: float, b: float) -> bool:
    """Are ``a`` and ``b`` one model size (within :data:`SAME_SIZE`)?"""
    return abs(a - b) <= SAME_SIZE * max(a, b)


def agreed_size(
    sources: Iterable[tuple[str, float | None]],
    what: str,
    quantity: str = "model size",
    param: str = "model_size",
) -> float | None:
    """The one size given by ``sources`` (each ``(where it came from, N or None)``); refuses
    two that disagree by more than 1 % (a count and its rounded ``25M`` agree). ``quantity``
    and ``param`` name another count so checked (tokens per step)."""
    found = [(where, float(n)) for where, n in sources if n is not None]
    for where, n in found[1:]:
        first_where, first = found[0]
        if not same_size(n, first):
            raise ParameterError(
                f"{what}: {quantity} {format_size(first)} from {first_where} disagrees with "
                f"{format_size(n)} from {where}",
                param=param,
            )
    return found[0][1] if found else None


DECAYED = 0.9  # a run whose last LR is below this fraction of its peak shows the annealing term


def decays(held_lr: Any) -> bool:
    """Does a per-step LR (warmup held, a numpy array) end below ``DECAYED`` of its peak?"""
    return bool(held_lr.size) and bool(held_lr[-1] < DECAYED * held_lr.max())


def size_ratio(n: float, sizes: Iterable[float]) -> float:
    """How far ``n`` lies outside the fitted ``sizes``: ``N / max`` above them, ``min / N``
    below, 1 inside (and 1 without fitted sizes)."""
    fitted = [float(s) for s in sizes]
    if not fitted:
        return 1.0
    return max(n / max(fitted), min(fitted) / n, 1.0)


def size_said(n: float | None, sizes: tuple[float, ...]) -> Said | None:
    """Said when ``n`` is not a fitted size: beyond ``FAR_SIZE_FACTOR`` times the largest (a
    long extrapolation, allowed), or any other unseen size."""
    if n is None or not sizes or any(same_size(n, s) for s in sizes):
        return None
    largest, smallest = max(sizes), min(sizes)
    fitted = ", ".join(format_size(s) for s in sizes)
    if n > FAR_SIZE_FACTOR * largest:
        return (
            f"{n / largest:.0f}x the largest fitted size",
            f"model size {format_size(n)} is {n / largest:.0f}x the largest fitted size "
            f"({format_size(largest)}); the size law extrapolates far and its interval is wide",
        )
    if n * FAR_SIZE_FACTOR < smallest:
        return (
            f"1/{smallest / n:.0f} of the smallest fitted size",
            f"model size {format_size(n)} is 1/{smallest / n:.0f} of the smallest fitted size "
            f"({format_size(smallest)}); the size law extrapolates far and its interval is wide",
        )
    if smallest < n < largest:
        below = max(s for s in sizes if s < n)
        above = min(s for s in sizes if s > n)
        where = f"between the fitted {format_size(below)} and {format_size(above)}"
        how = "interpolates"
    else:
        side = "above the largest" if n > largest else "below the smallest"
        where = f"{side} fitted, {format_size(largest if n > largest else smallest)}"
        how = "extrapolates"
    return (
        f"size {format_size(n)} {where}",
        f"model size {format_size(n)} was not fitted (fitted: {fitted}); the size law {how} in N",
    )


def target_size(law: Law, model_size: float | None) -> float | None:
    """The size a fit of ``law`` predicts at: a size-aware law needs ``model_size``; a
    size-free law predicts the size it was fitted at whatever the size (``None``)."""
    if not law.size_aware:
        return None
    if model_size is None:
        raise ParameterError(
            f"the {law.name} law is size-aware: give the model size (--params)",
            param="model_size",
        )
    return check_size(model_size)


def refuse_size_free(law: Law, sizes: tuple[float, ...], model_size: float | None) -> None:
    """Refuse to predict a size other than the fitted ones with a size-free ``law`` (it would
    give the fitted size's curve): the CLI's ``--params N`` on a size-free fit."""
    if model_size is None or law.size_aware:
        return
    several = len(distinct(sizes)) > 1
    if several or not any(same_size(model_size, n) for n in sizes):
        fitted = ", ".join(format_size(n) for n in sizes) or "runs of no given size"
        raise ParameterError(
            f"the {law.name} law is size-free, fitted on {fitted}"
            + (" as one model" if several else "")
            + "; to predict "
            f"{format_size(model_size)} fit a size-aware law (--law momentum-size or "
            "multipower-size) on runs of two or more sizes",
            param="model_size",
        )


def grouped(
    items: Iterable[T], ratio: float, key: Callable[[T], float]
) -> list[tuple[float, list[T]]]:
    """``items`` grouped by ``key``, ascending: each group is its least value and its items (in
    their order of ``items`` among equal values); an item joins the last group while its value
    is at most ``ratio`` times that group's least value. Model sizes, peak LRs and tokens per
    step are grouped so (:func:`distinct`, ``peak_lr.distinct_peaks``, ``tokens.batch_groups``)."""
    groups: list[tuple[float, list[T]]] = []
    for item in sorted(items, key=key):
        value = key(item)
        if groups and not value > groups[-1][0] * ratio:
            groups[-1][1].append(item)
        else:
            groups.append((value, [item]))
    return groups


def size_free_warning(law: Law, sizes: Iterable[float | None]) -> str | None:
    """One line when a size-free ``law`` is fitted on runs of two or more model sizes (it
    fits them as one model, each size's curve missed by the others'); None otherwise."""
    seen = distinct(sizes)
    if law.size_aware or len(seen) < 2:
        return None
    return (
        f"the runs are of {len(seen)} model sizes ({', '.join(format_size(n) for n in seen)}); "
        f"the {law.name} law is size-free and fits them as one model: fit a size-aware law "
        "(--law momentum-size or multipower-size) to tell the sizes apart"
    )


def distinct(sizes: Iterable[float | None]) -> list[float]:
    """The distinct sizes (within 1e-6) of ``sizes``, ascending, ``None`` left out."""
    return [n for n, _ in grouped((float(s) for s in sizes if s is not None), 1 + 1e-6, float)]


def sized(runs: Sequence[Any]) -> bool:
    """Do ``runs`` all carry a model size, of two or more sizes (a size-aware law's fit)?"""
    return (
        all(r.model_size is not None for r in runs)
        and len(distinct(r.model_size for r in runs)) > 1
    )


def split_largest_size(
    runs: Sequence[Any], held: Sequence[Any] = ()
) -> tuple[list[Any], list[Any]]:
    """``runs`` apart from those of the largest model size, and those (after ``held``): what
    ``compare --holdout largest-size`` fits and scores. Every run needs its size."""
    missing = [r.name for r in runs if r.model_size is None]
    if missing:
        raise ParameterError(
            f"largest-size needs every run's model size; none for {', '.join(missing[:3])}",
            param="holdout",
        )
    sizes = distinct(r.model_size for r in runs)
    if len(sizes) < 3:
        raise ParameterError(
            f"largest-size needs runs of at least three sizes (got {len(sizes)}): the fit keeps "
            "two",
            param="holdout",
        )
    top = sizes[-1] * (1 - 1e-6)
    return [r for r in runs if r.model_size < top], [
        *held,
        *(r for r in runs if r.model_size >= top),
    ]
