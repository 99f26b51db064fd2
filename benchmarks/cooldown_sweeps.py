"""Predicted against measured best WSD cooldown fraction on the shared 124M sweeps.

The ``ann124-*`` runs of ``../shared/data/lr-scheduling`` train the same 124M model with
linear cooldowns over 10-99 % of the run, at several peak LRs and horizons. For each peak
LR, the momentum law is fitted on that LR's constant run (``stable-124m``, 50k steps) and
cosine run (``cos-10-124m``, 25k steps), then asked two things per horizon: which of the
measured runs it ranks best, and its own best fraction on a fine grid.

Run: ``python benchmarks/cooldown_sweeps.py [--lr-exponent P]`` (about 30 s).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lrcurve import fit, read_runs  # noqa: E402
from lrcurve.laws import MomentumLaw  # noqa: E402
from lrcurve.metrics import score  # noqa: E402
from lrcurve.optimize import against_measured, measured_bests, predicted_losses, wsd_candidates  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "lr-scheduling" / "data"
FINE = tuple(np.round(np.arange(0.05, 0.951, 0.05), 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-exponent", type=float, default=1.0, help="p of the forward area sum eta^p (1: the paper)")
    law = MomentumLaw(lr_exponent=parser.parse_args().lr_exponent)
    print(f"{'peak LR':>8} {'steps':>6}  {'measured best':>13}  {'law: best run':>13}  {'law: fine grid':>14}  "
          f"{'final-loss error':>16}  {'curve MAPE':>10}")
    agree = total = 0
    final_errors, curve_mapes = [], []
    for lr in ("0.0005", "0.001", "0.002"):
        fitted = fit(read_runs(next(DATA.glob(f"stable-124m_*_lr{lr}_*iter50000*.json")))
                     + read_runs(next(DATA.glob(f"cos-10-124m_*_lr{lr}_*iter25000*.json"))), law)
        for steps in (15000, 25000, 35000, 50000):
            files = sorted(DATA.glob(f"ann124-0.*_lr{lr}_*decay_linear_0.*_iter{steps}_*.json"))
            sweep = [r for f in files for r in read_runs(f)]
            scored = against_measured(fitted, sweep)
            curves = [score(fitted.predict_run(r), r.loss).mape for r in sweep]
            (measured_best, predicted_best), = measured_bests(scored).values()
            candidates = wsd_candidates(steps, float(lr), 300, FINE, ("linear",), (0.0,))
            losses = predicted_losses(fitted, [c.schedule for c in candidates], steps)
            fine_best = candidates[int(np.argmin(losses))].x
            mape = np.mean([abs(m.error_percent) for m in scored])
            final_errors += [abs(m.error_percent) for m in scored]
            curve_mapes += curves
            agree += measured_best is predicted_best
            total += 1
            print(f"{lr:>8} {steps:>6}  {measured_best.label.split(', ')[1].split(')')[0]:>13}  "
                  f"{predicted_best.label.split(', ')[1].split(')')[0]:>13}  {100 * fine_best:>12.0f} %  {mape:>14.2f} %  {np.mean(curves):>8.3f} %")
    print(f"the law ranks the measured best run first in {agree} of {total} sweeps; over all {len(final_errors)} runs: "
          f"mean |final-loss error| {np.mean(final_errors):.3f} %, mean curve MAPE {np.mean(curve_mapes):.3f} %")


if __name__ == "__main__":
    main()
