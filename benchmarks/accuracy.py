"""Accuracy of every law in LAWS on the multi-power-law paper's protocol.

Per model size (csv_25, csv_100): fit on constant_24000 + cosine_24000 (warmup 2160),
predict the other seven runs, and print whole-curve MAPE % and final-loss error % per
curve and law, with the fit time. Goal for the best law: MAPE <= 0.15 % and
|final error| <= 0.3 % on every curve.

    python benchmarks/accuracy.py [--skip 0.05] [--warmup-area actual]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lrcurve import fit, read_runs
from lrcurve.laws import LAWS, make_law
from lrcurve.metrics import score

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "multipowerlaw"
FIT = ("constant_24000", "cosine_24000")
PREDICT = ("constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18")
GOAL_MAPE, GOAL_FINAL = 0.15, 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", type=float, default=0.05)
    parser.add_argument("--warmup-area", default="actual")
    args = parser.parse_args()
    for size in ("csv_25", "csv_100"):
        runs = {name: read_runs(DATA / size / f"{name}.csv", warmup_steps=2160)[0] for name in FIT + PREDICT}
        print(f"\n## {size}: fit on {' + '.join(FIT)}, skip {args.skip}, warmup area {args.warmup_area}\n")
        print("| curve | " + " | ".join(f"{law} MAPE % | {law} final % " for law in LAWS) + "|")
        print("|---|" + "---:|---:|" * len(LAWS))
        rows: dict[str, list[str]] = {name: [] for name in PREDICT}
        summary = []
        for law in LAWS:
            start = time.perf_counter()
            fitted = fit([runs[n] for n in FIT], make_law(law, warmup=args.warmup_area), skip_fraction=args.skip)
            seconds = time.perf_counter() - start
            scores = [score(fitted.predict_run(runs[n]), runs[n].loss) for n in PREDICT]
            for name, s in zip(PREDICT, scores):
                rows[name] += [f"{s.mape:.3f}", f"{s.final_error:+.3f}"]
            worst_mape = max(s.mape for s in scores)
            worst_final = max(abs(s.final_error) for s in scores)
            met = worst_mape <= GOAL_MAPE and worst_final <= GOAL_FINAL
            bounds = [w for w in fitted.warnings if "bound" in w]
            summary.append(f"- {law}: fit {seconds:.1f} s; worst MAPE {worst_mape:.3f} %, worst |final| {worst_final:.3f} % "
                           f"-> goal {'met' if met else 'missed'}" + (f"; {'; '.join(bounds)}" if bounds else ""))
        for name in PREDICT:
            print(f"| {name} | " + " | ".join(rows[name]) + " |")
        print()
        print("\n".join(summary))


if __name__ == "__main__":
    main()
