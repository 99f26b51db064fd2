"""Short run labels for legends, tables and JSON (W&B run names run to ~130 characters).

Each run of a set gets a label, in this order:

1. the one the user gave (``labels``: ``{file or run name: label}``, the CLI's ``--label``);
2. its schedule, when the reader knows it exactly (a W&B config, a schedule given by flags):
   ``wsd 20% sqrt 50k``, ``cosine 25k to 10%``, ``constant 50k``; with ``lr 2e-3`` appended when
   the runs so labelled differ in peak LR;
3. its name shortened: the prefix and suffix common to the set (whole ``_``/``-``/``:``
   separated pieces) removed, then cut to :data:`MAX_LABEL` characters.

Labels are unique within the set: runs whose labels would clash get the distinct part of their
names appended, else ``#1``, ``#2``...
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from lrcurve.errors import ParameterError
from lrcurve.io.files import resolved
from lrcurve.runs import Run
from lrcurve.schedules import (
    WSD,
    Constant,
    Cosine,
    CyclicCosine,
    Join,
    MultiStep,
    Power,
    Schedule,
    Warmup,
)

MAX_LABEL = 24
_SEPARATORS = "_: /-"
# a piece of a name: up to and with the separators after it; a "-" before a digit is a sign
# (``lr1e-3``), not a separator
_PIECE = re.compile(r"(?:[^_:/ -]|-(?=\d))*(?:[_:/ ]|-(?!\d))*")


def count(n: float) -> str:
    """A step count in a few characters: ``50000`` -> ``50k``, ``1500000`` -> ``1.5M``."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return f"{n:.0f}"


def lr_text(lr: float) -> str:
    """A peak LR as ``2e-3`` / ``2.5e-4``."""
    mantissa, exponent = f"{lr:.1e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _fraction(x: float) -> str:
    return f"{100 * x:.3g}%"


def schedule_label(schedule: Schedule) -> str | None:
    """A short text for ``schedule`` (warmup left out), None for a logged (piecewise) one."""
    body = schedule.body if isinstance(schedule, Warmup) else schedule
    if isinstance(body, Constant) or (isinstance(body, WSD) and body.decay == 0):
        return "constant" + (f" {count(body.steps)}" if body.steps else "")
    floor = getattr(body, "final", 0.0)
    to = f" to {_fraction(floor)}" if floor else ""
    if isinstance(body, WSD):
        return f"wsd {_fraction(body.decay)} {body.shape} {count(body.steps)}{to}"
    if isinstance(body, Cosine):
        return f"cosine {count(body.steps)}{to}"
    if isinstance(body, CyclicCosine):
        return f"cyclic {count(body.cycle)}{to}"
    if isinstance(body, Power):
        return f"power {count(body.steps)}"
    if isinstance(body, MultiStep):
        return "multistep " + ",".join(count(m) for m in body.milestones)
    if isinstance(body, Join):  # a re-warmup: the base, then each segment from its step
        parts = [schedule_label(s) or "logged LR" for s in body.segments]
        later = [
            f"@{count(b)} {'re-warmup ' if isinstance(s, Warmup) else ''}{p}"
            for b, s, p in zip(body.boundaries, body.segments[1:], parts[1:])
        ]
        return " | ".join([parts[0], *later])
    return None


def schedule_text(schedule: Schedule, width: int = 2 * MAX_LABEL) -> str:
    """``schedule`` for a legend: its label, else its full text cut to ``width`` characters."""
    return schedule_label(schedule) or cut(str(schedule), width)


def _pieces(name: str) -> list[str]:
    """``name`` split after each separator, so that joining the pieces gives it back."""
    return _PIECE.findall(name)[:-1] or [name]


def _common(lists: Sequence[list[str]]) -> int:
    """How many leading items all of ``lists`` share."""
    n = 0
    while all(len(p) > n for p in lists) and len({tuple(p[n : n + 1]) for p in lists}) == 1:
        n += 1
    return n


def cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters: its start and end around an ellipsis."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def shorten_names(names: Sequence[str], width: int = MAX_LABEL) -> list[str]:
    """``names`` without the prefix and suffix they all share (whole pieces), each cut to
    ``width`` characters; a name that would be left empty is kept whole (then cut)."""
    pieces = [_pieces(n) for n in names]
    end = 0
    if len(names) > 1:
        start = _common(pieces)
        end = _common([p[start:][::-1] for p in pieces])
        pieces = [p[start : len(p) - end] for p in pieces]
    out = []
    for name, kept in zip(names, pieces):
        text = "".join(kept)
        if end:  # the separator before the suffix removed
            text = text.rstrip(_SEPARATORS)
        out.append(cut(text or name, width))
    return out


def _unique(labels: list[str], names: Sequence[str]) -> list[str]:
    """``labels`` made unique: a clash gets the distinct part of the names, else ``#i``."""
    out = list(labels)
    for label in dict.fromkeys(labels):
        clash = [i for i, other in enumerate(labels) if other == label]
        if len(clash) < 2:
            continue
        parts = shorten_names([names[i] for i in clash], width=14)
        for j, i in enumerate(clash):
            out[i] = f"{label} ({parts[j]})" if parts[j] != label else label
    if len(set(out)) < len(out):
        seen: dict[str, int] = {}
        for i, label in enumerate(out):
            if out.count(label) > 1:
                seen[label] = seen.get(label, 0) + 1
                out[i] = f"{label} #{seen[label]}"
    return out


def _given(runs: Sequence[Run], labels: Mapping[str, str], strict: bool) -> dict[int, str]:
    """Run index -> label the user gave; a key names a run's file or the run itself (a key
    that names none is refused when ``strict``)."""
    given: dict[int, str] = {}
    for key, label in labels.items():
        if not label.strip():
            raise ParameterError(f"{key}={label!r}: an empty label", param="labels")
        hits = [i for i, run in enumerate(runs) if _names(run, key)]
        if not hits and not strict:
            continue
        if not hits:
            known = ", ".join(sorted({r.source or r.name for r in runs}))
            raise ParameterError(f"{key}: no run read from it (runs: {known})", param="labels")
        if len(hits) > 1:
            names = ", ".join(runs[i].name for i in hits)
            raise ParameterError(
                f"{key}: holds {len(hits)} runs ({names}); label each by its run name",
                param="labels",
            )
        given[hits[0]] = label.strip()
    if len(set(given.values())) < len(given):
        raise ParameterError("two runs are given the same label", param="labels")
    return given


def _names(run: Run, key: str) -> bool:
    """Does ``key`` name ``run``: its name, or the file (or folder) it was read from?"""
    if key == run.name:
        return True
    if not run.source:
        return False
    return key == run.source or resolved(Path(key)) == resolved(Path(run.source))


def label_runs(
    runs: Sequence[Run], labels: Mapping[str, str] | None = None, strict: bool = True
) -> list[Run]:
    """``runs`` with their labels set (see the module docstring); ``strict=False`` passes over
    a label of a file that is not among them (read in another set)."""
    given = _given(runs, labels or {}, strict)
    derived = {
        i: text
        for i, run in enumerate(runs)
        if i not in given and (text := schedule_label(run.schedule)) is not None
    }
    if len({runs[i].peak_lr for i in derived}) > 1:
        derived = {i: f"{text} lr {lr_text(runs[i].peak_lr)}" for i, text in derived.items()}
    stems = shorten_names([run.name for run in runs])  # what all the names share removed
    chosen = [given.get(i) or derived.get(i) or stems[i] for i in range(len(runs))]
    final = _unique(chosen, [r.name for r in runs])
    for i, label in given.items():  # a given label is kept as given
        final[i] = label
    return [replace(run, label=label) for run, label in zip(runs, final)]


def parse_labels(pairs: Sequence[str]) -> dict[str, str]:
    """``FILE=NAME`` texts -> ``{FILE: NAME}`` (split at the last ``=``: paths may hold one)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, label = pair.rpartition("=")
        if not sep or not key or not label.strip():
            raise ParameterError(f"{pair!r}: expected FILE=NAME", param="labels")
        out[key] = label
    return out
