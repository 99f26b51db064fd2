"""A logged training run: its loss at logged steps and the LR schedule it followed.

Logged LRs are usually sparse (every k steps). The per-step LR the laws need comes
from the run's :class:`~lrcurve.schedules.Schedule`: an exact schedule when it is
known (from a config or flags), otherwise a linear interpolation of the logged LR
values (``lr_origin`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.schedules import Piecewise, Schedule, Warmup, schedule_from_dict

# The laws keep per-step LR arrays; beyond this many steps they no longer fit in memory.
MAX_STEPS = 50_000_000
# The laws raise sums of LRs to powers and fit relative errors of the loss in float64: a peak LR
# outside this range or a loss below MIN_LOSS nats is a unit mistake or junk (Adam's peak LRs are
# ~1e-5..1e-2, per-token losses ~0.1..12 nats), and would overflow the fit.
PEAK_LR_RANGE = (1e-20, 1e20)
MIN_LOSS = 1e-20


@dataclass(frozen=True, eq=False)
class Run:
    """Loss observed at logged steps under a known LR schedule."""

    name: str
    steps: NDArray[np.int64]
    loss: NDArray[np.float64]
    schedule: Schedule
    source: str = ""
    lr_origin: str = "schedule"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.steps) != len(self.loss):
            raise ValueError("steps and loss differ in length")

    @property
    def last_step(self) -> int:
        return int(self.steps[-1])

    @property
    def horizon(self) -> int:
        return max(self.schedule.horizon or 0, self.last_step)

    @property
    def warmup_steps(self) -> int:
        return self.schedule.warmup_steps

    @property
    def peak_lr(self) -> float:
        return self.schedule.peak

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "lr_origin": self.lr_origin,
            "schedule": self.schedule.to_dict(),
            "steps": self.steps.tolist(),
            "loss": self.loss.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Run":
        return cls(
            name=data["name"],
            steps=np.asarray(data["steps"], dtype=np.int64),
            loss=np.asarray(data["loss"], dtype=np.float64),
            schedule=schedule_from_dict(data["schedule"]),
            source=data.get("source", ""),
            lr_origin=data.get("lr_origin", "schedule"),
        )


def logged_schedule(steps: ArrayLike, lr: ArrayLike, warmup_steps: int | None = None) -> tuple[Schedule, str]:
    """The schedule implied by logged ``(step, lr)`` points, and how it was rebuilt.

    A rising start is read as warmup (held at the LR it reaches, for the laws) when the
    log begins near the start of training, in the first half of the rise; a log that
    begins later (a branch re-warming from a checkpoint) keeps its rise as logged.
    ``warmup_steps`` overrides that, e.g. when the log starts after warmup. Before the
    first logged step the LR is taken as the first logged value.
    """
    s = np.asarray(steps, dtype=np.float64)
    eta = np.asarray(lr, dtype=np.float64).copy()
    rising = 0
    while rising + 1 < len(eta) and eta[rising + 1] > eta[rising]:
        rising += 1
    if warmup_steps is None:
        warmup_steps = int(s[rising]) if rising > 0 and s[0] <= 0.5 * s[rising] else 0
    if warmup_steps > 0:
        in_warmup = s < warmup_steps
        after = np.flatnonzero(~in_warmup)
        hold = eta[after[0]] if after.size else eta.max()
        eta[in_warmup] = hold
    gaps = np.diff(s)
    if s.size == 1 or np.all(gaps == 1):
        origin = "logged at every step"
    else:
        origin = f"interpolated linearly between {s.size} logged LR values (every ~{int(np.median(gaps))} steps)"
    body: Schedule = Piecewise(tuple(s.tolist()), tuple(eta.tolist()))
    return (Warmup(body, warmup_steps) if warmup_steps > 0 else body), origin
