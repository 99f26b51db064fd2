"""Stitching a branch onto its parent run, and comparing a schedule with logged LRs.

A cooldown branch forked from step ``f`` of a parent run logs only steps after ``f``. The
stitched run takes the parent's points before ``f`` and the branch's from ``f`` on; its
schedule is the branch's own schedule when that covers the whole run (one rebuilt from a
config), else ``Join(parent, branch)`` at ``f``. The laws' areas ``S1 = sum(lr)`` and ``S2``
(Tissue et al., arXiv 2408.11029) then see the whole history.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from lrcurve.errors import ReadError
from lrcurve.runs import Run
from lrcurve.schedules import Join, Piecewise, Schedule, Warmup
from lrcurve.sizes import agreed_size

# the relative LR difference (of the peak) above which a rebuilt schedule and the log disagree
LR_MISMATCH = 1e-3


def lr_mismatch(
    schedule: Schedule, steps: ArrayLike, lr: ArrayLike, horizon: int | None = None
) -> str | None:
    """Where ``schedule`` and logged LRs differ by more than ``LR_MISMATCH`` of the peak, or None.

    Steps at or after ``horizon`` are left out: the LR a trainer logs after its last
    update is used by none.
    """
    s = np.asarray(steps, dtype=np.float64)
    logged = np.asarray(lr, dtype=np.float64)
    keep = np.isfinite(logged) & (s >= 1) & (s < (horizon or np.inf))
    if not keep.any():
        return None
    s, logged = s[keep], logged[keep]
    gap = np.abs(schedule(s) - logged) / schedule.peak
    if gap.max() <= LR_MISMATCH:
        return None
    i = int(np.argmax(gap))
    return (
        f"the schedule {schedule} differs from the logged LR by up to {100 * gap[i]:.3g} % of "
        "the peak "
        f"(step {int(s[i])}: {float(schedule(s[i : i + 1])[0]):.4g} vs {logged[i]:.4g} logged)"
    )


def logged_lr(schedule: Schedule) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The logged ``(steps, lr)`` points behind a schedule rebuilt from a log, if it is one."""
    body = schedule.body if isinstance(schedule, Warmup) else schedule
    if isinstance(body, Piecewise):
        return np.asarray(body.at_steps), np.asarray(body.lrs)
    return None


def _joined(parent: Run, branch: Run, fork: int) -> Schedule:
    """The parent's schedule to step ``fork``, then the branch's logged LR."""
    points = logged_lr(branch.schedule)
    if points is None:
        raise ReadError(
            f"{branch.source or branch.name}: cannot join a {branch.schedule.kind} schedule "
            "onto its parent; give its schedule in full"
        )
    at, values = points
    later = at > fork
    if not later.any():
        raise ReadError(f"{branch.source or branch.name}: no logged LR after the fork step {fork}")
    tail = Piecewise(at[later] - fork, values[later])
    return Join((parent.schedule, tail), (fork,))


def stitch(parent: Run, branch: Run, fork: int, schedule: Schedule | None = None) -> Run:
    """``branch`` resumed from ``parent``'s checkpoint at step ``fork``, as one run.

    Its points are the parent's up to the fork and the branch's from the fork on (at the
    fork, both evaluated the same weights: the branch's point is kept). ``schedule`` is the
    whole run's schedule when known (e.g. rebuilt from the branch's config); otherwise the
    parent's LR to step ``fork``, then the branch's logged LR.
    """
    after = branch.steps >= fork
    before = (parent.steps <= fork) & (
        parent.steps < (branch.steps[after][0] if after.any() else fork)
    )
    if not before.any():
        raise ReadError(
            f"{parent.source or parent.name}: no logged loss before the fork step {fork} of "
            f"{branch.name}"
        )
    if not after.any():
        raise ReadError(
            f"{branch.source or branch.name}: no logged loss from the fork step {fork} on"
        )
    notes = [*parent.notes, *branch.notes]
    if schedule is None:
        schedule = _joined(parent, branch, fork)
        origin = f"the parent's LR to step {fork}, then the branch's ({branch.lr_origin})"
    else:
        origin = branch.lr_origin
        gap = lr_mismatch(schedule, np.arange(1, fork + 1), parent.schedule.per_step(fork))
        if gap is not None:
            notes.append(
                f"{branch.source or branch.name}: warning: before the fork the parent's LR "
                f"differs: {gap}"
            )
    notes.append(
        f"{branch.source or branch.name}: stitched onto {parent.source or parent.name} at step "
        f"{fork}: {int(before.sum())} points of the parent, {int(after.sum())} of the branch"
    )
    return Run(
        name=branch.name,
        steps=np.concatenate([parent.steps[before], branch.steps[after]]),
        loss=np.concatenate([parent.loss[before], branch.loss[after]]),
        schedule=schedule,
        source=branch.source,
        lr_origin=origin,
        notes=tuple(notes),
        inputs=tuple(dict.fromkeys((*parent.inputs, *branch.inputs))),
        diverged_at=branch.diverged_at,
        model_size=_agreed(parent, branch, "model_size", "model size"),
        tokens_per_step=_agreed(parent, branch, "tokens_per_step", "tokens per step"),
    )


def _agreed(parent: Run, branch: Run, param: str, quantity: str) -> float | None:
    """The one value of ``param`` (``model_size``, ``tokens_per_step``) of a branch and its
    parent, refused when they disagree by over 1 %."""
    where = branch.source or branch.name
    return agreed_size(
        [(where, getattr(branch, param)), (parent.source, getattr(parent, param))],
        f"{where} stitched onto its parent",
        quantity,
        param,
    )
