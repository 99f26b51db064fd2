"""Predicted against measured best WSD cooldown fraction on the shared 124M sweeps.

The ``ann124-*`` runs of the lr-scheduling set (``--data DIR``, default ``../shared/data``)
train the same 124M model with linear cooldowns over 10-99 % of the run, at several peak LRs
and horizons. For each peak LR, the momentum law is fitted on that LR's constant run
(``stable-124m``, 50k steps) and cosine run (``cos-10-124m``, 25k steps), then asked two
things per horizon: which of the measured runs it ranks best, and its own best fraction on a
fine grid.

Run: ``python benchmarks/cooldown_sweeps.py [--lr-exponent P] [--data DIR]`` (about 30 s).
``--scan-lr-exponent`` instead fits each peak LR's 26 runs together for p in 0.5..1.1 and
prints the in-sample RMS and mean final-loss error (which p the runs themselves prefer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from public_data import add_data_option, data_set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lrcurve import fit, read_runs  # noqa: E402
from lrcurve.laws import MomentumLaw  # noqa: E402
from lrcurve.metrics import score  # noqa: E402
from lrcurve.opinions import against_measured, measured_bests  # noqa: E402
from lrcurve.optimize import predicted_losses, wsd_candidates  # noqa: E402
from lrcurve.runs import Run  # noqa: E402

FINE = tuple(np.round(np.arange(0.05, 0.951, 0.05), 3))
PEAK_LRS = ("0.0005", "0.001", "0.002")
HORIZONS = (15000, 25000, 35000, 50000)


def stable_and_cosine(data: Path, lr: str) -> list[Run]:
    """The constant run (50k steps) and the cosine run (25k steps) at one peak LR."""
    return read_runs(next(data.glob(f"stable-124m_*_lr{lr}_*iter50000*.json"))) + read_runs(
        next(data.glob(f"cos-10-124m_*_lr{lr}_*iter25000*.json"))
    )


def sweep_runs(data: Path, lr: str, steps: int) -> list[Run]:
    """The linear-cooldown WSD runs of one peak LR and horizon, one per cooldown fraction."""
    return [
        r
        for f in sorted(data.glob(f"ann124-0.*_lr{lr}_*decay_linear_0.*_iter{steps}_*.json"))
        for r in read_runs(f)
    ]


def predict_sweeps(data: Path, law: MomentumLaw) -> None:
    print(
        f"{'peak LR':>8} {'steps':>6}  {'measured best':>13}  {'law: best run':>13}  "
        f"{'law: fine grid':>14}  {'final-loss error':>16}  {'curve MAPE':>10}"
    )
    agree = total = 0
    final_errors, curve_mapes = [], []
    for lr in PEAK_LRS:
        fitted = fit(stable_and_cosine(data, lr), law)
        for steps in HORIZONS:
            sweep = sweep_runs(data, lr, steps)
            scored = against_measured(fitted, sweep)
            curves = [score(fitted.predict_run(r), r.loss).mape for r in sweep]
            ((measured_best, predicted_best),) = measured_bests(scored).values()
            candidates = wsd_candidates(steps, float(lr), 300, FINE, ("linear",), (0.0,))
            losses = predicted_losses(fitted, [c.schedule for c in candidates], steps)
            fine_best = candidates[int(np.argmin(losses))].x
            mape = np.mean([abs(m.error_percent) for m in scored])
            final_errors += [abs(m.error_percent) for m in scored]
            curve_mapes += curves
            agree += measured_best is predicted_best
            total += 1
            print(
                f"{lr:>8} {steps:>6}  {measured_best.label.split(', ')[1].split(')')[0]:>13}  "
                f"{predicted_best.label.split(', ')[1].split(')')[0]:>13}  "
                f"{100 * fine_best:>12.0f} %  {mape:>14.2f} %  {np.mean(curves):>8.3f} %"
            )
    print(
        f"the law ranks the measured best run first in {agree} of {total} sweeps; "
        f"over all {len(final_errors)} runs: "
        f"mean |final-loss error| {np.mean(final_errors):.3f} %, "
        f"mean curve MAPE {np.mean(curve_mapes):.3f} %"
    )


def scan_lr_exponent(data: Path) -> None:
    """The momentum law fitted to every run of one peak LR (constant, cosine and all 24
    cooldowns) for each p: which p these runs prefer when nothing is extrapolated."""
    print(
        "in-sample: each peak LR's 26 runs fitted together; RMS in the fit windows, "
        "mean |final-loss error|\n"
    )
    print("| p | " + " | ".join(f"lr {lr}: RMS % / abs final %" for lr in PEAK_LRS) + " |")
    print("|---:|" + "---:|" * len(PEAK_LRS))
    families = {
        lr: stable_and_cosine(data, lr)
        + [r for steps in HORIZONS for r in sweep_runs(data, lr, steps)]
        for lr in PEAK_LRS
    }
    for p in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1):
        cells = []
        for runs in families.values():
            fitted = fit(runs, MomentumLaw(lr_exponent=p))
            rms = 100 * np.sqrt(fitted.fit_rss / fitted.n_fit_points)  # type: ignore[operator]  # set by every fit
            final = np.mean([abs(score(fitted.predict_run(r), r.loss).final_error) for r in runs])
            cells.append(f"{rms:.3f} / {final:.3f}")
        print(f"| {p:g} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lr-exponent",
        type=float,
        default=1.0,
        help="p of the forward area sum eta^p (1: the paper)",
    )
    parser.add_argument(
        "--scan-lr-exponent", action="store_true", help="in-sample fits over p instead"
    )
    add_data_option(parser)
    args = parser.parse_args()
    data = data_set(args.data, "lr-scheduling") / "data"
    if args.scan_lr_exponent:
        scan_lr_exponent(data)
    else:
        predict_sweeps(data, MomentumLaw(lr_exponent=args.lr_exponent))


if __name__ == "__main__":
    main()
