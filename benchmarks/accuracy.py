"""Accuracy of every size-free law in LAWS on the multi-power-law paper's protocol.

Per model size (csv_25, csv_100): fit on constant_24000 + cosine_24000 (warmup 2160),
predict the other seven runs, and print whole-curve MAPE % and final-loss error % per
curve and law, with the fit time. Goal for the best law: MAPE <= 0.15 % and
|final error| <= 0.3 % on every curve.

Three reference tables follow per size, to tell a fitting problem from a limit of the law
or of the data:

- *ceiling*: each law fitted to all nine curves at once and scored in-sample; a curve
  that misses the goal here cannot meet it from any two-curve fit of the same law (the
  same robust least squares chooses the parameters);
- *published*: the multi-power law with the parameters its authors published for these
  runs (github.com/thu-yao-01-luo/MultiPowerLaw, README, "Best Parameters"), under their
  warmup convention (``full``);
- *run to run*: each held-out curve against the fitted constant run where their LRs
  agree (identical losses: branched from that run; otherwise another run whose gap no
  law fitted to the first can predict).

With ``--scan-lr-exponent`` it prints instead, per size and for each forward-area exponent
p in 0.4..1.2, which p each criterion prefers for the momentum law: the fit on the two
24k runs (its RMS, and how well it forecasts the last 8-12k steps of either run when that
run is cut at 12k or 16k), the protocol's worst curve, and the fit on all nine curves
(in-sample RMS, worst MAPE and worst final error).

    python benchmarks/accuracy.py [--skip 0.05] [--warmup-area actual] [--lr-exponent 1]
                                  [--law NAME ...] [--no-reference] [--data DIR]
                                  [--markdown docs/laws.md]
    python benchmarks/accuracy.py --scan-lr-exponent

``--law`` (repeatable) picks the laws (default: every law of LAWS that needs no model size);
``--markdown FILE`` also writes what it prints into FILE, between the markers
:data:`BEGIN` and :data:`END` (added at the end when FILE has none; the rest of FILE is kept).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np
from public_data import add_data_option, data_set

from lrcurve import fit, read_runs
from lrcurve.fitting import FittedLaw
from lrcurve.laws import LAWS, make_law
from lrcurve.laws.base import Law, LRHistory
from lrcurve.metrics import Scores, score
from lrcurve.output import write_text
from lrcurve.runs import Run, truncate

FIT = ("constant_24000", "cosine_24000")
PREDICT = (
    "constant_72000",
    "cosine_72000",
    "wsd_20000_24000",
    "wsdld_20000_24000",
    "wsdcon_3",
    "wsdcon_9",
    "wsdcon_18",
)
GOAL_MAPE, GOAL_FINAL = 0.15, 0.3
BEGIN = "<!-- made by benchmarks/accuracy.py: begin -->"
END = "<!-- made by benchmarks/accuracy.py: end -->"
TAIL_CUTS = (12000, 16000)
# (L0, A, alpha, B, C, beta, gamma) as published by the authors for these two model sizes.
PUBLISHED = {
    "csv_25": (3.040, 0.525, 0.508, 363.788, 2.066, 0.583, 0.641),
    "csv_100": (2.651, 0.601, 0.453, 437.946, 2.132, 0.598, 0.655),
}


def table(title: str, curves: tuple[str, ...], columns: dict[str, list[Scores]]) -> None:
    print(f"\n{title}\n")
    print("| curve | " + " | ".join(f"{name} MAPE % | {name} final % " for name in columns) + "|")
    print("|---|" + "---:|---:|" * len(columns))
    for i, curve in enumerate(curves):
        print(
            f"| {curve} | "
            + " | ".join(f"{s[i].mape:.3f} | {s[i].final_error:+.3f}" for s in columns.values())
            + " |"
        )


def verdict(name: str, scores: list[Scores], extra: str = "") -> str:
    worst_mape = max(s.mape for s in scores)
    worst_final = max(abs(s.final_error) for s in scores)
    met = worst_mape <= GOAL_MAPE and worst_final <= GOAL_FINAL
    mean_mape = float(np.mean([s.mape for s in scores]))
    return (
        f"- {name}: mean MAPE {mean_mape:.3f} %, worst MAPE {worst_mape:.3f} %, "
        f"worst |final| {worst_final:.3f} % "
        f"-> goal {'met' if met else 'missed'}{extra}"
    )


def published_scores(size: str, runs: dict[str, Run], curves: tuple[str, ...]) -> list[Scores]:
    law = make_law("multipower", warmup="full")
    theta = np.array(PUBLISHED[size])
    return [
        score(
            law.predict(theta, LRHistory.of(runs[n].schedule, runs[n].last_step), runs[n].steps),
            runs[n].loss,
        )
        for n in curves
    ]


def tail_forecast_mape(runs: dict[str, Run], law: Law, skip: float) -> float:
    """Mean MAPE on the held-back tails when one fit run is cut at 12k or 16k steps and the
    law, fitted on the cut run plus the other whole run, forecasts the rest of the cut run."""
    mapes = []
    for cut in TAIL_CUTS:
        for name in FIT:
            fit_runs = [truncate(runs[n], cut) if n == name else runs[n] for n in FIT]
            fitted = fit(fit_runs, law, skip_fraction=skip)
            tail = runs[name].steps > cut
            mapes.append(score(fitted.predict_run(runs[name])[tail], runs[name].loss[tail]).mape)
    return float(np.mean(mapes))


def rms_percent(fitted: FittedLaw, runs: list[Run]) -> float:
    return 100 * float(
        np.sqrt(
            np.mean(
                np.concatenate([((fitted.predict_run(r) - r.loss) / r.loss) ** 2 for r in runs])
            )
        )
    )


def scan_lr_exponent(size: str, runs: dict[str, Run], args: argparse.Namespace) -> None:
    """Which forward-area exponent p each criterion prefers, for the momentum law."""
    print(f"\n## {size}: momentum law by forward-area exponent p\n")
    print(
        "| p | two fit runs: RMS % | two fit runs: tail forecast MAPE % "
        "| protocol: worst MAPE % / abs final % "
        "| all nine in-sample: RMS % | all nine in-sample: worst MAPE % / abs final % |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    every = [runs[n] for n in FIT + PREDICT]
    for p in np.round(np.arange(0.4, 1.21, 0.1), 2):
        law = make_law("momentum", warmup=args.warmup_area, lr_exponent=float(p))
        on_two = fit([runs[n] for n in FIT], law, skip_fraction=args.skip)
        on_protocol = [score(on_two.predict_run(runs[n]), runs[n].loss) for n in PREDICT]
        on_nine = fit(every, law, skip_fraction=args.skip)
        nine = [score(on_nine.predict_run(r), r.loss) for r in every]
        worst = [
            f"{max(s.mape for s in scores):.3f} / {max(abs(s.final_error) for s in scores):.3f}"
            for scores in (on_protocol, nine)
        ]
        print(
            f"| {p:g} | {rms_percent(on_two, [runs[n] for n in FIT]):.3f} "
            f"| {tail_forecast_mape(runs, law, args.skip):.3f} | {worst[0]} "
            f"| {rms_percent(on_nine, every):.3f} | {worst[1]} |"
        )


def run_to_run(size: str, runs: dict[str, Run], fits: dict[str, FittedLaw]) -> None:
    """How far apart two runs are while their LRs agree: each held-out curve against the
    fitted constant run over their common steps at the same LR. Identical losses mean the
    curve was branched from that very run; otherwise the gap is run-to-run variation
    (another seed or data order) that no law fitted to constant_24000 can predict. Next to
    it, each protocol fit's MAPE on the same steps, and on the rest of the curve."""
    print(f"\n### {size} reference: held-out curves against constant_24000 where their LRs agree\n")
    laws = " | ".join(f"{name}: MAPE there / after % " for name in fits)
    print(f"| curve | common steps | same run | MAPE % | first 2k steps MAPE % | {laws}|")
    print("|---|---:|---|---:|---:|" + "---:|" * len(fits))
    fitted_run = runs["constant_24000"]
    for name in PREDICT:
        run = runs[name]
        common, i, j = np.intersect1d(run.steps, fitted_run.steps, return_indices=True)
        same_lr = np.isclose(run.schedule(common), fitted_run.schedule(common), rtol=1e-9, atol=0.0)
        if same_lr.sum() < 2:
            continue
        a, b, at = run.loss[i][same_lr], fitted_run.loss[j][same_lr], common[same_lr]
        early = at < at[0] + 2000
        there = np.isin(run.steps, at)
        by_law = " | ".join(
            f"{score(f.predict_run(run)[there], run.loss[there]).mape:.3f} / "
            + (
                f"{score(f.predict_run(run)[~there], run.loss[~there]).mape:.3f}"
                if (~there).any()
                else "-"
            )
            for f in fits.values()
        )
        same = "yes" if np.array_equal(a, b) else "no"
        print(
            f"| {name} | {same_lr.sum()} | {same} | {score(b, a).mape:.3f} "
            f"| {score(b[early], a[early]).mape:.3f} | {by_law} |"
        )


def protocol(size: str, runs: dict[str, Run], args: argparse.Namespace) -> dict[str, FittedLaw]:
    """Each law fitted on the two 24k runs, scored on the other seven: the table and verdicts."""
    columns: dict[str, list[Scores]] = {}
    fits: dict[str, FittedLaw] = {}
    summary = []
    for name in args.law:
        try:
            law = make_law(name, warmup=args.warmup_area, lr_exponent=args.lr_exponent)
        except ValueError as error:
            summary.append(f"- {name}: left out ({error})")
            continue
        start = time.perf_counter()
        fitted = fit([runs[n] for n in FIT], law, skip_fraction=args.skip)
        seconds = time.perf_counter() - start
        columns[name] = [score(fitted.predict_run(runs[n]), runs[n].loss) for n in PREDICT]
        fits[name] = fitted
        bounds = [w for w in fitted.warnings if "bound" in w]
        extra = f"; fit {seconds:.1f} s" + (f"; {'; '.join(bounds)}" if bounds else "")
        summary.append(verdict(name, columns[name], extra))
    table(
        f"## {size}: fit on {' + '.join(FIT)}, skip {args.skip}, "
        f"warmup area {args.warmup_area}, lr exponent {args.lr_exponent:g}",
        PREDICT,
        columns,
    )
    print()
    print("\n".join(summary))
    return fits


def ceiling(size: str, runs: dict[str, Run], args: argparse.Namespace, names: list[str]) -> None:
    """Each law fitted to all nine curves (in-sample), and the published multipower parameters."""
    every = FIT + PREDICT
    columns: dict[str, list[Scores]] = {}
    for name in names:
        law = make_law(name, warmup=args.warmup_area, lr_exponent=args.lr_exponent)
        fitted = fit([runs[n] for n in every], law, skip_fraction=args.skip)
        columns[f"{name} ceiling"] = [
            score(fitted.predict_run(runs[n]), runs[n].loss) for n in every
        ]
    columns["published multipower"] = published_scores(size, runs, every)
    table(
        f"### {size} reference: each law fitted to all nine curves (in-sample), "
        "and the published multipower parameters",
        every,
        columns,
    )
    print()
    print("\n".join(verdict(name, scores) for name, scores in columns.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", type=float, default=0.05)
    parser.add_argument("--warmup-area", default="actual")
    parser.add_argument(
        "--lr-exponent",
        type=float,
        default=1.0,
        help="p of the forward area sum eta^p (1: the papers)",
    )
    parser.add_argument("--no-reference", action="store_true", help="only the protocol table")
    parser.add_argument(
        "--scan-lr-exponent", action="store_true", help="which p each criterion prefers, instead"
    )
    parser.add_argument(
        "--law",
        action="append",
        choices=list(LAWS),
        help="a law to score (repeatable; default: the laws that need no model size)",
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the tables into FILE"
    )
    add_data_option(parser)
    args = parser.parse_args()
    args.law = args.law or [name for name, law in LAWS.items() if not law.size_aware]
    data = data_set(args.data, "multipowerlaw")
    if not args.markdown:
        run(data, args)
        return
    printed = io.StringIO()
    with contextlib.redirect_stdout(Tee(sys.stdout, printed)):
        run(data, args)
    write_section(args.markdown, " ".join(sys.argv[1:]), printed.getvalue())


class Tee(io.TextIOBase):
    """A text stream writing to several."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)


def write_section(path: Path, arguments: str, text: str) -> None:
    """``text`` into ``path`` between :data:`BEGIN` and :data:`END`, replacing what was there
    (appended when the markers are missing), with the command that made it."""
    old = path.read_text() if path.exists() else ""
    made = f"Made by `nice -n 10 python benchmarks/accuracy.py {arguments}`:\n"
    section = f"{BEGIN}\n{made}{text.rstrip()}\n{END}"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + section + rest.split(END, 1)[1]
    else:
        new = old + ("\n" if old else "") + section + "\n"
    write_text(path, new)


def run(data: Path, args: argparse.Namespace) -> None:
    """The tables, printed: per size, the protocol and its references (or the exponent scan)."""
    for size in ("csv_25", "csv_100"):
        # the CSVs log from step 2160 on: the reader takes the warmup before it as a linear
        # rise from 0 (as the paper's runs warm up)
        runs = {
            name: read_runs(data / size / f"{name}.csv", warmup_steps=2160)[0]
            for name in FIT + PREDICT
        }
        if args.scan_lr_exponent:
            scan_lr_exponent(size, runs, args)
            continue
        fits = protocol(size, runs, args)
        if not args.no_reference:
            ceiling(size, runs, args, list(fits))
            run_to_run(size, runs, fits)


if __name__ == "__main__":
    main()
