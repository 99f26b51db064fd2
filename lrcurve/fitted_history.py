"""What the fitted runs saw, per fit: their LR histories and their own residuals, and how far a
new schedule's LR history departs from them (:mod:`lrcurve.uncertainty` builds its
discrepancy on these).

Each is fixed by the fit, and every prediction (each candidate of a search) would otherwise
recompute it for every fitted run, so it is kept per fit (weakly, dropped with the fit).
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from lrcurve.fit_window import fit_window
from lrcurve.laws.base import LRHistory
from lrcurve.runs import Run
from lrcurve.sizes import same_size

MAD_TO_SD = 1.4826  # a Gaussian's s.d. over its median absolute deviation
NEAR_LR = 0.2  # tau: a run whose LR gap is this share of the nearest's farther weighs 1/e
NEAR_FLOOR = 0.001  # eps: gaps below this share of the peak are the same LR
WHOLE_DEPARTURE = 0.1  # h0, Discrepancy.departure_scale: a departure taking the whole term
SIZE_APART = math.log(1.2)  # sizes this far apart in ln N are apart wholly (size_apart)
DEPARTURE_FLOOR = 0.1  # eps: an LR gap counts relative to the lower LR plus eps times the peak

if TYPE_CHECKING:  # lrcurve.fitted builds on lrcurve.uncertainty, which builds on this
    from lrcurve.fitted import FittedLaw

# per fit, each fitted run's per-step LR (warmup held), and its logged steps after warmup with
# the running sum of its relative residuals there and that LR
_LRS: weakref.WeakKeyDictionary[FittedLaw, list[NDArray[np.float64]]] = weakref.WeakKeyDictionary()
Residuals = list[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]]
_RESIDUALS: weakref.WeakKeyDictionary[FittedLaw, Residuals] = weakref.WeakKeyDictionary()
_NOISE: weakref.WeakKeyDictionary[FittedLaw, float] = weakref.WeakKeyDictionary()


def fitted_lrs(fitted: FittedLaw) -> list[NDArray[np.float64]]:
    """Each fitted run's per-step LR with the warmup held, up to its last logged step,
    computed once per fit."""
    if fitted not in _LRS:
        _LRS[fitted] = [LRHistory.of(r.schedule, r.last_step).held for r in fitted.runs]
    return _LRS[fitted]


def _running_residuals(fitted: FittedLaw) -> Residuals:
    if fitted not in _RESIDUALS:
        parts = []
        for run, lr in zip(fitted.runs, fitted_lrs(fitted)):
            after = run.steps > run.schedule.warmup_steps
            if not after.any():
                continue
            with np.errstate(all="ignore"):
                relative = np.nan_to_num(fitted.predict_run(run)[after] / run.loss[after] - 1.0)
            total = np.concatenate([[0.0], np.cumsum(relative)])
            parts.append((run.steps[after], total, lr))
        _RESIDUALS[fitted] = parts
    return _RESIDUALS[fitted]


def logging_noise(deviation: NDArray[np.float64]) -> float:
    """``sigma``: the robust s.d. of a run's point-to-point scatter of its relative deviations
    from successive differences (0 with fewer than 3 points)."""
    if deviation.size < 3:
        return 0.0
    return MAD_TO_SD * float(np.median(np.abs(np.diff(deviation)))) / np.sqrt(2.0)


def point_noise(fitted: FittedLaw) -> float:
    """The relative s.d. of one logged loss about its smooth course in the fitted runs: the
    root mean square over them of :func:`logging_noise` of their relative residuals after
    warmup. A new run's logged point scatters as much about whatever the law predicts."""
    if fitted not in _NOISE:
        noises = [logging_noise(np.diff(total)) for _, total, _ in _running_residuals(fitted)]
        _NOISE[fitted] = float(np.sqrt(np.mean(np.square(noises)))) if noises else 0.0
    return _NOISE[fitted]


MISFIT_WARNING = 0.05  # a run missed by more, over a stretch of its later points, is said
MISFIT_FROM = 0.5  # the share of a run before which its misfit is not judged


def worst_misfit(fitted: FittedLaw, run: Run) -> tuple[float, int]:
    """How far the law misses ``run`` where it fitted it in its second half, systematically:
    the largest ``|mean relative residual|`` over ``k`` consecutive fitted points (``k`` a
    twentieth of them, at least 5, so that logging noise averages out), and the step that
    stretch ends at. Early on the law misses healthy runs by up to 5 % (the fast initial fall;
    a cosine run at another peak LR than the constant one, as in the scaling families), which
    the intervals hold (:func:`local_misfit`); after half the run the shared families' fits
    miss by 4.4 % at most (a scaling family's cooldown branches fitted with its constant run
    at another peak LR than its cosine run), while a bad point or a loss rising at the end
    are missed by 5.5 % and more."""
    window = fit_window(run, max(fitted.skip_fraction, MISFIT_FROM))
    if not window.any():
        return 0.0, int(run.last_step)
    with np.errstate(all="ignore"):
        relative = np.nan_to_num(fitted.predict_run(run)[window] / run.loss[window] - 1.0)
    k = min(max(5, relative.size // 20), relative.size)
    means = np.convolve(relative, np.ones(k) / k, mode="valid")
    worst = int(np.argmax(np.abs(means)))
    return float(np.abs(means[worst])), int(run.steps[window][worst + k - 1])


def misfit_warnings(fitted: FittedLaw) -> list[str]:
    """A warning per run the law misses by over :data:`MISFIT_WARNING` (:func:`worst_misfit`)."""
    said = []
    for run in fitted.runs:
        value, step = worst_misfit(fitted, run)
        if value > MISFIT_WARNING:
            said.append(
                f"the law misses run {run.label or run.name} by {100 * value:.1f} % on average "
                f"over a stretch of its second half (to step {step}; the shared families' fits "
                "miss by 4.4 % at most there): a bad point, a run that diverged, runs that do "
                "not belong together? The fit plot shows where"
            )
    return said


def share_residuals(target: FittedLaw, source: FittedLaw) -> None:
    """Give ``target`` the fitted runs' residuals of ``source``: a size-aware fit seen at one
    size (:mod:`lrcurve.size_fit`) cannot evaluate its runs of other sizes itself."""
    _RESIDUALS[target] = _running_residuals(source)


def local_misfit(
    fitted: FittedLaw,
    steps: NDArray[np.int64],
    window: int,
    lr: NDArray[np.float64],
    peak: float,
) -> NDArray[np.float64]:
    """``f(t)``: at each of ``steps``, the ``|mean|`` of the relative residuals logged within
    ``window / 2`` steps of it (after warmup, including the steps the fit skipped) of the
    fitted run whose LR there is nearest the predicted schedule's ``lr`` (per step, warmup
    held). A step outside a run is taken as its nearest logged one, and its LR as its last:
    its misfit and LR are held beyond it.

    Runs nearly as near count too, each weighted by ``exp(-(g_j - g_min) / (tau g_min + eps
    peak))`` of how much farther its LR gap ``g_j`` is than the nearest's ``g_min`` (``tau``
    :data:`NEAR_LR`, ``eps`` :data:`NEAR_FLOOR`), and the largest weighted misfit is taken:
    equally near runs give the largest of their misfits, and where the nearest run changes
    along a schedule (through a cooldown between a constant and a cosine run) ``f`` moves
    smoothly instead of jumping from one run's misfit to the other's; where the schedule runs
    at a fitted run's LR (``g_min = 0``: a WSD run's stable part and the constant run) that
    run's misfit alone counts."""
    gaps, means = [], []
    for at, total, run_lr in _running_residuals(fitted):
        near = np.clip(steps, at[0], at[-1])
        lo = np.searchsorted(at, near - window / 2)
        hi = np.searchsorted(at, near + window / 2, side="right")
        means.append(np.abs(total[hi] - total[lo]) / np.maximum(hi - lo, 1))
        gaps.append(np.abs(run_lr[np.minimum(steps, run_lr.size) - 1] - lr[steps - 1]))
    if not gaps:
        return np.zeros(steps.size)
    gap = np.array(gaps)
    nearest = gap.min(axis=0)
    weight = np.exp(-(gap - nearest) / (NEAR_LR * nearest + NEAR_FLOOR * peak))
    return np.max(weight * np.array(means), axis=0)


def history_departure(
    fitted: FittedLaw,
    steps: NDArray[np.int64],
    lr: NDArray[np.float64],
    peak: float,
    model_size: float | None = None,
) -> NDArray[np.float64]:
    """``h(t)``: how far the schedule's LR history up to each of ``steps`` departs from the
    nearest fitted run's, ``min_j max_{s <= t} |lr(s) - lr_j(s)| / (min(lr(s), lr_j(s)) + eps
    peak)`` (per step, warmup held; ``eps`` :data:`DEPARTURE_FLOOR`), at most 1. Beyond a
    run's last logged step ``n`` its departure is at least ``(t - n) / t``, the share of the
    history it did not see (smooth, so the interval does not jump one step past ``n``); a run
    of another model size than ``model_size`` departs by at least :func:`size_apart` (the
    history at another size is another model's). ``h = 0`` where the schedule so far is a
    fitted run's (a branch before its cooldown, the stable part of a WSD run fitted with a
    constant run): the law's
    error there is that run's own residual, not an extrapolation. A largest gap rather than a
    mean, as the law's annealing term answers a recent gap fully; relative to the lower LR, as
    a gap near the end of a decay moves the loss most (a linear decay to 0 and a cosine one to
    10 % of the peak differ by 0.09 of the peak at most, yet their final losses by 0.5 %: the
    124M sweeps)."""
    out = np.ones(steps.size)
    for run, run_lr in zip(fitted.runs, fitted_lrs(fitted)):
        apart = size_apart(model_size, run.model_size)
        if apart >= 1.0:
            continue
        n = min(run_lr.size, lr.size)
        low = np.minimum(lr[:n], run_lr[:n]) + DEPARTURE_FLOOR * peak
        gap = np.maximum.accumulate(np.abs(lr[:n] - run_lr[:n]) / low)
        beyond = np.maximum(steps - run_lr.size, 0) / np.maximum(steps, 1)
        seen = np.maximum(np.maximum(gap[np.minimum(steps, n) - 1], beyond), apart)
        out = np.minimum(out, seen)
    return out


def size_apart(model_size: float | None, run_size: float | None) -> float:
    """The departure of a run of ``run_size`` from a prediction at ``model_size``: 0 for one
    size (or an unknown one), growing with ``|ln(N / N_run)|`` to :data:`WHOLE_DEPARTURE` (the
    whole extrapolation term) at :data:`SIZE_APART`, so that the interval widens smoothly from
    a fitted size (at 355M it jumped to the whole term that 360M did not have).
    No benchmark target lies within it (the nearest, 152M from 124M, is ln 1.23 away)."""
    if model_size is None or run_size is None or same_size(model_size, run_size):
        return 0.0
    return min(1.0, WHOLE_DEPARTURE * abs(math.log(model_size / run_size)) / SIZE_APART)
