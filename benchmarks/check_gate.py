"""The drift gate: how often ``lrcurve check`` fails healthy runs, and how soon it flags drift.

On the families of ``benchmarks/calibration.py`` (``--data DIR``, default ``../shared/data``:
the multi-power-law paper's protocol, the 124M cooldown sweeps per peak LR, the scaling
families) the default law is fitted on the family's constant and cosine runs, and every other
run of the family, healthy and never seen by the fit, is checked as ``lrcurve check`` does
(20 windows, ``--direction worse``, ``--smooth auto``):

- false alarms: % of the healthy runs whose status is not ``ok`` (target at most 5 %);
- detection: the same runs with the loss multiplied by 1.01 and by 1.02 from the first log at
  or after mid-run on: % flagged by a window ending at or after that onset (target 100 %), and
  the median and largest number of steps from the onset to the end of the first failing
  window (a window is judged once its last log is in);

once for the default band (the 90 % predictive interval widened by ``m`` times the run's
logging noise, its law part times ``k``, :mod:`lrcurve.check_band`) and once for
``--tolerance 0.5%``. Each family's ``(k, m)`` is the first of a grid (smallest ``k``, then
``m``) whose false-alarm rate on all the *other* families is at most 5 % (the three groups of
families weighted equally), never chosen on the scored runs; the library default is the choice
on all families. Last, not adopted: the default band with a step test (a window whose
deviation rose from the window before it by more than its own band, :func:`window_fails`).

    python benchmarks/check_gate.py [--data DIR] [--markdown docs/check-gate.md] [--cache DIR]

``--cache DIR``: the family fits of ``benchmarks/calibration.py`` (``DIR/fits.pkl``, the same
file), kept for the next run; delete it when the fitting code changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from public_data import add_data_option

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration import (  # noqa: E402
    Family,
    add_fits_cache_option,
    family_fits,
    group,
    shared_families,
)

from lrcurve.check import CheckResult, check_run  # noqa: E402
from lrcurve.check_band import LAW_FACTOR, NOISE_FACTOR, Window, judge  # noqa: E402
from lrcurve.fitted import FittedLaw  # noqa: E402
from lrcurve.prediction import Prediction  # noqa: E402
from lrcurve.runs import Run  # noqa: E402
from lrcurve.uncertainty import interval_factor  # noqa: E402

DRIFTS = (1.01, 1.02)
LAW_GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)  # k, tried first (the smallest that does)
NOISE_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)  # m, at least 1: the estimate itself (a prior)
GRID = [(k, m) for k in LAW_GRID for m in NOISE_GRID]
Gate = tuple[float, float]  # (k, m)
Step = tuple[float, float] | None  # (k_s, m_s) of a step test, not adopted (None: none)
# the step tests tried, the most sensitive first: the smallest m_s, then k_s
STEP_GRID = [(k, m) for m in (8.0, 16.0, 32.0) for k in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)]
TARGET_FALSE_ALARMS = 0.05
LEVEL = 0.9
TOLERANCE = 0.005


@dataclass
class Checked:
    """One held-out run of a family: its check healthy and with each injected drift."""

    family: str
    run: str
    onset: int
    healthy: CheckResult
    drifted: dict[float, CheckResult]
    fixed: CheckResult  # --tolerance 0.5 %, healthy
    fixed_drifted: dict[float, CheckResult]


def drifted(run: Run, factor: float) -> tuple[Run, int]:
    """``run`` with its loss times ``factor`` from the first log at or after mid-run; the
    onset step."""
    onset = int(run.steps[np.searchsorted(run.steps, run.last_step / 2)])
    loss = np.where(run.steps >= onset, factor, 1.0) * run.loss
    return replace(run, name=f"{run.name} x{factor:g}", loss=loss), onset


def check_family(family: Family, fitted: FittedLaw) -> list[Checked]:
    """Check each run of ``family`` but its constant and cosine runs (``fitted`` on those),
    healthy and drifted."""
    out = []
    for run in family.targets:
        reference = fitted.predict(run.schedule, run.last_step, level=LEVEL)

        def check(r: Run, tolerance: float | None, at: Prediction = reference) -> CheckResult:
            return check_run(fitted, r, tolerance, smooth="auto", reference=at)

        variants = {factor: drifted(run, factor)[0] for factor in DRIFTS}
        out.append(
            Checked(
                family.name,
                run.name,
                drifted(run, DRIFTS[0])[1],
                check(run, None),
                {f: check(r, None) for f, r in variants.items()},
                check(run, TOLERANCE),
                {f: check(r, TOLERANCE) for f, r in variants.items()},
            )
        )
    return out


def window_fails(
    result: CheckResult, before: Window | None, w: Window, gate: Gate | None, step: Step = None
) -> bool:
    """Whether window ``w`` fails: its band re-judged at ``gate`` (None: as checked, e.g. a
    fixed tolerance), or with a ``step`` test, its change of deviation from the window
    ``before`` it beyond ``q sqrt((k_s (s_law - s_law,before))^2 + m_s^2 (s_noise^2 +
    s_noise,before^2))``: the law's error changes between windows as its s.d. does."""
    failed = w.failed
    if gate is not None and w.spread is not None:
        half = w.spread.half_width(result.level, gate[1], gate[0])
        failed = judge(w.deviation, half, result.direction)[2]
    if failed or step is None or before is None or before.spread is None or w.spread is None:
        return failed
    law = step[0] * (w.spread.law - before.spread.law)
    noise = step[1] * np.hypot(w.spread.noise, before.spread.noise)
    half = interval_factor(result.level) * float(np.hypot(law, noise))
    return judge(w.deviation - before.deviation, half, result.direction)[2]


def first_failure(result: CheckResult, gate: Gate | None, step: Step = None) -> int | None:
    """The last step of the first failing window (:func:`window_fails`)."""
    for before, w in zip((None, *result.windows), result.windows):
        if window_fails(result, before, w, gate, step):
            return w.end
    return None


def false_alarm(item: Checked, m: Gate | None, step: Step = None) -> bool:
    result = item.healthy if m is not None else item.fixed
    return result.diverged or first_failure(result, m, step) is not None


def delay(item: Checked, factor: float, m: Gate | None, step: Step = None) -> int | None:
    """Steps from the onset to the end of the first failing window at or after it (None: the
    drift is not flagged)."""
    result = item.drifted[factor] if m is not None else item.fixed_drifted[factor]
    for before, w in zip((None, *result.windows), result.windows):
        if w.end >= item.onset and window_fails(result, before, w, m, step):
            return w.end - item.onset
    return None


def weighted_false_alarms(
    items: list[Checked], families: list[str], m: Gate, step: Step = None
) -> float:
    """The false-alarm rate over ``families``, each group of families weighing the same and
    each family the same within its group (as benchmarks/calibration.py weighs them)."""
    groups = [group(f) for f in families]
    rates = [np.mean([false_alarm(i, m, step) for i in items if i.family == f]) for f in families]
    weights = [1 / groups.count(g) for g in groups]
    return float(np.average(rates, weights=weights))


def choose(items: list[Checked], families: list[str]) -> Gate:
    """The first ``(k, m)`` of the grid (smallest ``k``, then ``m``) whose false-alarm rate on
    ``families`` meets the target (the widest when none does)."""
    for gate in GRID:
        if weighted_false_alarms(items, families, gate) <= TARGET_FALSE_ALARMS:
            return gate
    return GRID[-1]


def choose_step(items: list[Checked], families: list[str], gate: Gate) -> Step:
    """The first step test of :data:`STEP_GRID` (the most sensitive first) whose false-alarm
    rate on ``families``, with the band at ``gate``, meets the target (None when none does)."""
    for step in STEP_GRID:
        if weighted_false_alarms(items, families, gate, step) <= TARGET_FALSE_ALARMS:
            return step
    return None


def row(
    label: str,
    items: list[Checked],
    m_of: dict[str, Gate] | None,
    step_of: dict[str, Step] | None = None,
) -> str:
    """A table row: runs, false alarms, and per drift detection and median/largest delay."""
    m = (lambda i: m_of[i.family]) if m_of is not None else (lambda i: None)
    s = (lambda i: step_of[i.family]) if step_of is not None else (lambda i: None)
    alarms = sum(false_alarm(i, m(i), s(i)) for i in items)
    cells = [label, str(len(items)), f"{100 * alarms / len(items):.0f} ({alarms})"]
    for factor in DRIFTS:
        delays = [delay(i, factor, m(i), s(i)) for i in items]
        found = [d for d in delays if d is not None]
        cells.append(f"{100 * len(found) / len(items):.0f} ({len(found)})")
        cells.append(f"{np.median(found):.0f} / {max(found)}" if found else "-")
    if m_of is not None:
        used = sorted({m_of[i.family] for i in items})
        cells.append("; ".join(f"{k:g}, {m:g}" for k, m in used))
    if step_of is not None:
        steps = sorted({step_of[i.family] or (0.0, 0.0) for i in items})
        cells.append("; ".join(f"{k:g}, {m:g}" if m else "none" for k, m in steps))
    return "| " + " | ".join(cells) + " |"


def table(
    title: str,
    items: list[Checked],
    m_of: dict[str, Gate] | None,
    step_of: dict[str, Step] | None = None,
) -> list[str]:
    head = "| family | runs | false alarms % (n) | "
    head += " | ".join(
        f"x{f:g}: flagged % (n) | x{f:g}: steps to flag, median / max" for f in DRIFTS
    )
    head += " | k, m |" if m_of is not None else " |"
    head += " k_s, m_s |" if step_of is not None else ""
    columns = 3 + 2 * len(DRIFTS) + (m_of is not None) + (step_of is not None)
    lines = [f"### {title}", "", head, "|---|" + "---:|" * (columns - 1)]
    names = list(dict.fromkeys(i.family for i in items))
    lines += [row(n, [i for i in items if i.family == n], m_of, step_of) for n in names]
    lines.append(row("**all**", items, m_of, step_of))
    return lines


HEADER = """# The drift gate: false alarms on healthy runs and detection of injected drift

Made by `nice -n 10 python benchmarks/check_gate.py --markdown docs/check-gate.md` (public data
in `../shared/data`). Each family of `benchmarks/calibration.py`: the default law fitted on its
constant and cosine runs; each other run of the family (healthy, unseen by the fit) checked as
`lrcurve check RUN` does (20 windows, `--direction worse`, `--smooth auto`), and again with its
loss x 1.01 and x 1.02 from mid-run on. *False alarms*: healthy runs not `ok` (target at most 5
%). *Flagged*: drifted runs failed by a window ending at or after the onset (target 100 %);
*steps to flag*: from the onset to the end of the first failing window.

The default band of a window is `q sqrt((k s_law)^2 + (m s_noise)^2)`
(`lrcurve/check_band.py`): `q` the multiple of the s.d. of the 90 % predictive interval (1.709,
learned across families), `s_law` the mean relative predictive s.d. over the window
(`lrcurve/uncertainty.py`, docs/calibration.md), `s_noise` the run's logging noise (a robust
s.d. of the successive differences of its deviations, over sqrt 2) over the square root of the
window's points. A run is judged on all its windows at once, so the interval of one point (`k =
1`) fails healthy runs far more often than 10 %: `k` widens it. `(k, m)` is the first of k in
{k}, then m in {m} (m = 1: the noise estimate as it is, the least it can be) whose false-alarm
rate on the *other* families is at most 5 % (leave one family out, the three groups of families
weighted equally); the library's default is the choice on all families.

Measured on 2026-11-29 (held out), with the predictive interval of docs/calibration.md, now
with its history departure: where a run's LR history so far is a fitted run's (a 20 % cooldown
branch of the fitted constant run before its cooldown, the stable part of a WSD run), the
prediction is in-sample and its interval is that run's own misfit and a logged point's noise,
without the law's extrapolation error or the parameters' noise. Held out, `k = 1.75` and `m =
8` (a window's noise as large as about one point's: logged losses drift together) for most
families. The default band fails 2 % of the healthy runs (3 of 126: two on mpl-100, whose
held-out choice is k = 1, one on the 124M sweeps; before the history departure: 4;
`--tolerance 0.5%`: 25) and flags a 2 % drift in 99 % of the runs (125 of 126; before: 79 %)
and a 1 % drift in 90 % (114; before: 69 %). On the scaling families, whose band was about ±2
% before the cooldown (their b of 2.5-3.5 % times the annealing floor), the band there is now
±0.4-0.7 % (±2.3 % for the 33M model, logged once a window) and ±3-10 % through the cooldown:
it flags 27 of 28 drifts of 2 % (before: 1) and 26 of 28 drifts of 1 % (before: 0), a median
of 200-1,800 steps after the onset. The 100 % target is missed by ten 1 % drifts of the 124M
sweeps, whose mid-run onset lies in a long cooldown, where the band is as wide as the law's
error there (up to 1-3 % at peak LR 2e-3), and by three drifts of the 33M and 53M models.

Not adopted (last table): also failing a window whose deviation rose from the window before
it by more than `q sqrt((k_s (s_law - s_law,before))^2 + m_s^2 (s_noise^2 +
s_noise,before^2))` (the law's error changes between windows as its s.d. does; `(k_s, m_s)`
the most sensitive of k_s in 1-32 and m_s in 8, 16, 32 whose false-alarm rate on the other
families stays at most 5 %). Held out, it flags two more 1 % drifts (116 of 126) for two more
false alarms (5 of 126, 3 of mpl-100's 7): the drifts it could add lie in cooldowns, where the
law's own deviation moves from window to window about as much as a 1 % step.

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    add_fits_cache_option(parser)
    args = parser.parse_args()
    start = time.perf_counter()
    families = shared_families(args.data)
    fits = family_fits(families, args.cache)
    items = [item for f in families for item in check_family(f, fits[f.name])]
    print(f"fitted and checked {len(items)} runs in {time.perf_counter() - start:.0f} s")
    names = [f.name for f in families]
    held_out = {n: choose(items, [x for x in names if x != n]) for n in names}
    chosen = choose(items, names)
    lines = table("Default band, k and m chosen without the scored family", items, held_out)
    lines += ["", *table("`--tolerance 0.5%`", items, None), ""]
    lines.append(f"Chosen on all families: k = {chosen[0]:g}, m = {chosen[1]:g}")
    if chosen != (LAW_FACTOR, NOISE_FACTOR):
        lines.append(
            f"(lrcurve.check_band has k = {LAW_FACTOR:g}, m = {NOISE_FACTOR:g}: update it)"
        )
    else:
        lines.append("(these are lrcurve.check_band.LAW_FACTOR and NOISE_FACTOR)")
    steps = {n: choose_step(items, [x for x in names if x != n], held_out[n]) for n in names}
    title = "Not adopted: the default band and a step test, both chosen without the scored family"
    lines += ["", *table(title, items, held_out, steps)]
    print("\n".join(lines))
    if args.markdown:
        grid = ", ".join(f"{k:g}" for k in LAW_GRID), ", ".join(f"{m:g}" for m in NOISE_GRID)
        header = HEADER.replace("{k}", grid[0]).replace("{m}", grid[1])
        args.markdown.write_text(header + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
