"""The clock of tokens a fit was made on (``fit --clock tokens``): a field of the fitted law
(:attr:`lrcurve.fitted.FittedLaw.clock`), kept in the fit file as a field of its own
(``"clock"``), not among the fit's warnings.

The clock keeps its unit (tokens per clock step), the note the fit printed, and each fitted
run's logged tokens per step, so a prediction at a fitted size can map the clock's steps back
to the steps those runs took (:func:`lrcurve.target_clock.target_defaults`). Fit files written
before the field kept the note among their warnings: they are still read as clock fits (without
the runs' logged tokens per step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from lrcurve.tokens import (
    BATCH_LR_EXPONENT,
    CLOCK_NOTE,
    SAME_TOKENS_RTOL,
    fitted_unit,
    own_lr_factor,
)

if TYPE_CHECKING:
    from lrcurve.fitted import FittedLaw


@dataclass(frozen=True)
class Clock:
    """``unit`` tokens a clock step; ``logged``: each fitted run's own tokens per step (by run
    name; empty for a fit file written before they were kept); ``note``: what the fit said."""

    unit: float
    note: str
    logged: Mapping[str, float] = field(default_factory=dict)
    lr_exponent: float = 0.0  # the clock's LR rule (lrcurve.tokens.lr_scale); 0 before it had one

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "note": self.note,
            "logged_tokens_per_step": dict(self.logged),
            "lr_exponent": self.lr_exponent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clock:
        """The clock of a fit file (one written before the LR rule counted at the LR as logged:
        exponent 0); a unit or tokens per step not above 0 is refused."""
        logged = data.get("logged_tokens_per_step") or {}
        own = {str(name): float(tokens) for name, tokens in logged.items()}
        unit, exponent = float(data["unit"]), float(data.get("lr_exponent", 0.0))
        for what, value in (("unit", unit), *own.items()):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"clock: tokens per step of {what} is {value:g}, not above 0")
        if not (np.isfinite(exponent) and 0 <= exponent <= 1):
            raise ValueError(f"clock: lr_exponent {exponent:g} is not in [0, 1]")
        return cls(unit, str(data["note"]), own, exponent)

    def own_lr_factor(self, name: str) -> float:
        """What the clock LR of the fitted run ``name`` is multiplied by to give the LR it
        logged (1 when its tokens per step are not kept)."""
        logged = self.logged.get(name)
        return 1.0 if logged is None else own_lr_factor(logged, self.unit, self.lr_exponent)

    def logged_of(self, runs: Sequence[Any]) -> float | None:
        """The one logged tokens per step of ``runs`` (within 1 %), None when unknown or not one."""
        values = [self.logged.get(r.name) for r in runs]
        if not values or any(v is None for v in values):
            return None
        low, high = min(values), max(values)  # type: ignore[type-var]
        return float(low) if high <= low * (1 + SAME_TOKENS_RTOL) else None


def made_on_clock(fitted: FittedLaw, logged: Sequence[Any], note: str) -> FittedLaw:
    """``fitted``, made on a clock of tokens from the runs ``logged`` (as read, before
    :func:`lrcurve.tokens.token_clock`), carrying that clock and ``note``."""
    own = {r.name: float(r.tokens_per_step) for r in logged if r.tokens_per_step is not None}
    return replace(fitted, clock=Clock(fitted_unit(fitted), note, own, BATCH_LR_EXPONENT))


def clock_of(fitted: Any) -> Clock | None:
    """The clock ``fitted`` was made on, None for a fit in steps as logged."""
    return getattr(fitted, "clock", None)


def clock_json(fitted: Any) -> dict[str, Any] | None:
    """The clock of ``fitted`` for a command's --json: its unit and note (None: in steps)."""
    clock = clock_of(fitted)
    return None if clock is None else {"unit": clock.unit, "note": clock.note}


def read_clock(fitted: FittedLaw) -> FittedLaw:
    """``fitted`` as read from a fit file written before the ``"clock"`` field: with the clock
    note found among its warnings, taken out of them, as its clock."""
    if fitted.clock is not None:
        return fitted
    old = [w for w in fitted.warnings if w.startswith(CLOCK_NOTE)]
    if not old:
        return fitted
    rest = tuple(w for w in fitted.warnings if not w.startswith(CLOCK_NOTE))
    return replace(fitted, warnings=rest, clock=Clock(fitted_unit(fitted), old[0]))


def logged_target(
    fitted: Any, family: str | None = None, model_size: float | None = None
) -> tuple[float | None, str | None]:
    """On a clock fit, the tokens per step a target takes when none is given: the one logged by
    the fitted runs its defaults come from (:func:`lrcurve.default_runs.default_runs`: those of
    the fitted size nearest ``model_size``), and which runs those are in words; None (and
    None) when the fit is not a clock fit, does not keep them, or they differ."""
    from lrcurve.default_runs import default_runs

    clock = clock_of(fitted)
    if clock is None:
        return None, None
    size = getattr(fitted, "at_size", None) if model_size is None else model_size
    chosen = default_runs(fitted.runs, size, family)
    return clock.logged_of(chosen.runs), chosen.said
