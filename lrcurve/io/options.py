"""What to read: the column and series names, and one frozen :class:`ReadOptions`.

Names are matched ignoring case; a series name also matches when it ends in ``/name``
(``metrics/val_loss``). Two names equal ignoring case (``loss`` and ``LOSS``) are
ambiguous and refused, naming both. The loss is chosen in this order: a validation loss,
then a bare ``loss`` (what a table's bare name means: its evaluation loss), then a
training loss, then a bare perplexity; ``loss="train"`` puts training losses first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lrcurve.errors import ParameterError, ReadError
from lrcurve.io.smoothing import parse_smoothing

STEP_NAMES = (
    "step",
    "steps",
    "iter",
    "iteration",
    "iterations",
    "_step",
    "global_step",
    "trainer/global_step",
    "train/step",
)
LR_NAMES = (
    "lr",
    "learning_rate",
    "train_lr",
    "learning-rate",
    "learningrate",
    "train/lr",
    "optimizer/lr",
    "lr-adam",
    "lr-adamw",
    "train/learning_rate",
)
VAL_LOSS_NAMES = (
    "val_loss",
    "validation_loss",
    "valid_loss",
    "eval_loss",
    "val/loss",
    "eval/loss",
    "validation/loss",
    "val_ppl",
    "val_perplexity",
    "eval_ppl",
)
BARE_LOSS_NAMES = ("loss", "lm_loss")
TRAIN_LOSS_NAMES = ("train_loss", "train/loss", "training_loss", "train_ppl")
BARE_PPL_NAMES = ("ppl", "perplexity")
LOSS_NAMES = VAL_LOSS_NAMES + BARE_LOSS_NAMES + TRAIN_LOSS_NAMES + BARE_PPL_NAMES
RUN_NAMES = ("run", "run_name", "run_id")
LOSS_UNITS = ("auto", "nats", "bits", "ppl")
LOSS_SERIES = ("auto", "val", "train")


@dataclass(frozen=True)
class Columns:
    """Explicit column names; ``None`` means detect."""

    step: str | None = None
    lr: str | None = None
    loss: str | None = None
    run: str | None = None


@dataclass(frozen=True)
class ReadOptions:
    """How to read runs, passed unchanged from :func:`lrcurve.io.read_runs` to every reader.

    ``loss`` picks the loss series (``val``, ``train``, ``None``/``auto``: val when logged,
    or a series name), ``smooth`` its smoothing (:mod:`lrcurve.io.smoothing`), ``parent``
    the run a branch is stitched onto (``auto``: from a W&B config, ``none``, or a path).
    ``keep_diverged``: a loss that turns NaN/inf for good (the run diverged) is read up to
    there however long that tail, for a judge of the run (``lrcurve check``); otherwise the
    tail counts towards ``max_bad_fraction``.
    """

    columns: Columns = field(default_factory=Columns)
    loss_unit: str = "auto"
    warmup_steps: int | None = None
    max_bad_fraction: float = 0.5
    loss: str | None = None
    smooth: str = "auto"
    parent: str | Path = "auto"
    keep_diverged: bool = False

    def __post_init__(self) -> None:
        if self.loss_unit not in LOSS_UNITS:
            raise ParameterError(
                f"must be one of {', '.join(LOSS_UNITS)}, got {self.loss_unit!r}", param="loss_unit"
            )
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ParameterError(
                f"must be between 0 and 1, got {self.max_bad_fraction!r}", param="max_bad_fraction"
            )
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ParameterError(
                f"must be at least 0, got {self.warmup_steps}", param="warmup_steps"
            )
        if self.smooth.strip().lower() != "auto":
            parse_smoothing(self.smooth)

    @property
    def parent_path(self) -> Path | None:
        """The parent given by path, if one is."""
        return None if str(self.parent) in ("auto", "none") else Path(self.parent)


def match(names: Sequence[str], candidates: Sequence[str], where: str) -> str | None:
    """The first of ``names`` equal (ignoring case) to a candidate, or ending in ``/candidate``.

    Two names equal ignoring case to one of the candidates are ambiguous: refused, naming both.
    """
    lower: dict[str, str] = {}
    for name in names:
        key = name.lower()
        if key in lower and key in candidates:
            raise ReadError(
                f"{where}: columns {lower[key]!r} and {name!r} differ only in case; "
                "which one is meant is ambiguous: rename one or name the column to use"
            )
        lower.setdefault(key, name)
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    for cand in candidates:
        for low, name in lower.items():
            if low.endswith("/" + cand):
                return name
    return None


def find_named(names: Sequence[str], given: str, where: str, what: str = "column") -> str:
    """The column (or series) ``given`` names: exactly, else the one equal ignoring case."""
    if given in names:
        return given
    found = [n for n in names if n.lower() == given.lower()]
    plural = what if what.endswith("s") else f"{what}s"
    if len(found) > 1:
        raise ReadError(
            f"{where}: {plural} {found[0]!r} and {found[1]!r} both match {given!r} ignoring "
            "case; give the exact name"
        )
    if not found:
        raise ReadError(f"{where}: no {what} {given!r} ({plural}: {', '.join(names) or 'none'})")
    return found[0]


def choose_loss(names: Sequence[str], loss: str | None, where: str) -> str:
    """The loss series: ``val``/``train``/``None``/``auto`` (see the module docstring) or a name."""
    if loss not in (None, *LOSS_SERIES):
        assert loss is not None
        return find_named(names, loss, where, "series")
    order = {
        "val": VAL_LOSS_NAMES,
        "train": TRAIN_LOSS_NAMES + BARE_LOSS_NAMES + BARE_PPL_NAMES,
    }.get(str(loss), LOSS_NAMES)
    picked = match(names, order, where)
    if picked is None:
        kind = {"val": "validation loss", "train": "training loss"}.get(str(loss), "loss")
        raise ReadError(
            f"{where}: no {kind} series (series: {', '.join(names) or 'none'}); name one",
            param="loss",
        )
    return picked


def choose_lr(names: Sequence[str], where: str, given: str | None = None) -> str | None:
    """The learning-rate series ``given`` names, or else the one logged under a usual name,
    if any (PyTorch Lightning names it ``lr-<Optimizer>``)."""
    if given is not None:
        return find_named(names, given, where, "series")
    found = match(names, LR_NAMES, where)
    if found is None:
        found = next((n for n in names if n.lower().rsplit("/", 1)[-1].startswith("lr-")), None)
    return found
