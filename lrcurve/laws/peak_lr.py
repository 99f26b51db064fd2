"""How a law's terms scale with a run's peak LR, for runs of two or more peak LRs.

The momentum law sums the LR itself into ``S1`` and ``S2``, so it fixes how the loss answers
a change of the peak LR: doubling it doubles both areas. On the lr-scheduling scaling
families (cosine runs at twice the peak LR of the constant runs and of their cooldowns) that
is far off: fitted on both peak LRs the law misses each run by 1.7-2.7 % MAPE, while each peak
LR's runs alone fit to 0.1-0.3 % (docs/model-size.md). Two exponents free it, with
``q = peak / P_REF`` for each run (its LR at the end of warmup, the most it reaches):

    A -> A * q^(-(kappa - 1) * alpha)    (S1 scaled by q^(kappa - 1): S1 ~ peak^kappa)
    C -> C * q^(mu - 1)                  (the annealing term ~ peak^mu)

``kappa = mu = 1`` is the law as published. The runs pin ``kappa`` only with two peak LRs or
more, and ``mu`` only when runs that decay their LR have two or more; otherwise each is held
at 1 without a note (the law is then the published one, to the bit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lrcurve.laws.base import LRHistory
from lrcurve.sizes import decays, grouped

P_REF = 1e-3  # the peak LR at which A and C are stated
SAME_PEAK = 1.05  # peak LRs within 5 % are one peak LR (a logged LR is rounded)
KAPPA_START = 0.25  # a second start for kappa: the scaling families fit 0-0.2


def first_peak(history: LRHistory) -> float:
    """The peak LR of a run's first phase: the highest LR (warmup held) before the LR rises
    again after its first rise has ended (a re-warmup), 0 for an empty history. A re-warmup to
    a higher LR later does not change it, so a loss never depends on the LR of later steps."""
    held = history.held
    if not held.size:
        return 0.0
    rising = np.diff(held) > 1e-6 * float(held.max())
    stopped = np.flatnonzero(~rising)
    if not stopped.size:  # it only rises
        return float(held[-1])
    again = np.flatnonzero(rising[stopped[0] :])
    end = stopped[0] + again[0] + 1 if again.size else held.size
    return float(held[:end].max())


def log_peak(history: LRHistory) -> float:
    """``ln(peak / P_REF)`` of a run's :func:`first_peak` (0 when it never rises above 0)."""
    peak = first_peak(history)
    return float(np.log(peak / P_REF)) if peak > 0 else 0.0


def distinct_peaks(histories: Iterable[LRHistory]) -> list[float]:
    """The distinct peak LRs (:func:`first_peak`, within :data:`SAME_PEAK`) of ``histories``,
    ascending."""
    peaks = (first_peak(h) for h in histories if h.held.size)
    return [peak for peak, _ in grouped(peaks, SAME_PEAK, float)]


PEAK_EXPONENTS = ("kappa", "mu")  # the size-aware laws' names of the two exponents


def peak_holds(
    histories: Sequence[LRHistory], forward: str = "kappa", annealing: str = "mu"
) -> dict[str, tuple[float, str]]:
    """The peak-LR exponents these runs cannot pin, held at 1 (value, why): quietly (no why)
    when all runs share one peak LR; the annealing one with a note when only the runs that
    decay share one."""
    if len(distinct_peaks(histories)) < 2:
        return {forward: (1.0, ""), annealing: (1.0, "")}
    if len(distinct_peaks(h for h in histories if decays(h.held))) < 2:
        return {annealing: (1.0, "the runs that decay their LR have one peak LR")}
    return {}


def at_peak(
    A: float, alpha: float, C: float, log_q: float, kappa: float, mu: float
) -> tuple[float, float]:
    """``A`` and ``C`` at a run of peak ``P_REF * e^log_q`` (unchanged at ``kappa = mu = 1``)."""
    if kappa == 1.0 and mu == 1.0:
        return A, C
    return A * float(np.exp(-(kappa - 1.0) * alpha * log_q)), C * float(np.exp((mu - 1.0) * log_q))
