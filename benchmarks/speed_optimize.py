"""Speed of ``lrcurve optimize``: 50 WSD candidates at 100,000 steps (target: <= 2 s).

Run: ``python benchmarks/speed_optimize.py``. Fits the momentum law to the 25M curves of
``sample_runs/`` (constant + cosine, 24k steps, the multi-power-law set's ``csv_25``), then
times the search with the momentum fast path (both areas at the last step for all candidates
in one pass) and with the generic path any law uses (``FittedLaw.curve`` per candidate), best
of several repeats.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_of  # noqa: E402

from lrcurve import fit, read_runs  # noqa: E402
from lrcurve.optimize import (  # noqa: E402
    cosine_candidates,
    default_baseline,
    predicted_losses,
    search,
    wsd_candidates,
)

SAMPLES = ROOT / "sample_runs"
STEPS, PEAK, WARMUP = 100_000, 3e-4, 2160


def main() -> None:
    runs = [
        read_runs(SAMPLES / f"{name}.csv", warmup_steps=WARMUP)[0]
        for name in ("constant", "cosine")
    ]
    fitted = fit(runs)
    fractions = tuple(np.round(np.linspace(0.02, 0.6, 17), 4))

    def wsd() -> list:
        shapes = ("linear", "sqrt", "cosine")
        return wsd_candidates(STEPS, PEAK, WARMUP, fractions[:17], shapes)[:50]

    candidates = wsd()
    schedules = [c.schedule for c in candidates]
    baseline, label = default_baseline(fitted.runs, STEPS, PEAK, WARMUP)
    print(f"{len(candidates)} WSD candidates at {STEPS:,} steps (target <= 2 s)")
    rows = [
        ("build the candidate schedules", best_of(wsd)),
        ("losses, momentum fast path", best_of(lambda: predicted_losses(fitted, schedules, STEPS))),
        (
            "losses, generic path (any law)",
            best_of(lambda: predicted_losses(fitted, schedules, STEPS, fast=False)),
        ),
        (
            "whole search incl. grid, baseline, gain s.e.",
            best_of(lambda: search(fitted, "wsd", wsd(), baseline, label, steps=STEPS)),
        ),
    ]
    cosine = [c.schedule for c in cosine_candidates(STEPS, PEAK, WARMUP)]
    rows.append(
        (
            f"{len(cosine)} cosine candidates, fast path",
            best_of(lambda: predicted_losses(fitted, cosine, STEPS)),
        )
    )
    for what, seconds in rows:
        print(f"{what:<48} {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
