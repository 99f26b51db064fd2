"""Decisions with their uncertainty on the shared 124M cooldown sweeps.

For each peak LR the default momentum law is fitted on that LR's constant and cosine runs
(as ``cooldown_sweeps.py``) and predicts, jointly (:mod:`lrcurve.differences`), the final loss
of each horizon's linear WSD cooldowns (10-90 %). Two figures:

- difference intervals on measured pairs: for every two runs of one sweep, is the measured
  difference inside the predicted one's interval (50/80/90 %)? The effect error ``c`` is
  chosen by leave-one-peak-LR-out cross-validation (least interval score on the other LRs'
  pairs), never on the scored pairs;
- tie sets: per sweep, the runs whose predicted difference to the predicted best is not
  distinguishable from 0 at 90 %: is the measured best among them, and how many are there
  (targets: in 11 of 12 sweeps of peak LR 5e-4..2e-3, at most 3 runs on average)?

    python benchmarks/decisions.py [--data DIR] [--markdown docs/decisions.md]

``--markdown`` replaces the part of the page between the two markers below.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from public_data import add_data_option, data_set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cooldown_sweeps import HORIZONS, PEAK_LRS, stable_and_cosine, sweep_runs  # noqa: E402

from lrcurve import fit  # noqa: E402
from lrcurve.differences import EFFECT_ERROR, JointPrediction, joint_prediction  # noqa: E402
from lrcurve.uncertainty import z_value  # noqa: E402

SWEEP_LRS = ("0.0001", *PEAK_LRS)
LEVELS = (0.5, 0.8, 0.9)
EFFECT_GRID = tuple(np.round(np.arange(0.0, 1.001, 0.05), 2))
BEGIN = "<!-- begin: written by benchmarks/decisions.py -->"
END = "<!-- end: written by benchmarks/decisions.py -->"


@dataclass
class Sweep:
    """One peak LR and horizon: the runs' fractions, measured and jointly predicted losses."""

    lr: str
    steps: int
    fractions: list[str]
    measured: NDArray[np.float64]
    joint: JointPrediction

    def pairs(self, effect: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """For every two runs: the prediction's error on their difference, and its s.d."""
        joint = replace(self.joint, effect_error=effect)
        errors, sds = [], []
        for i, j in itertools.combinations(range(self.measured.size), 2):
            value, sd = joint.differences_to(j)
            errors.append(value[i] - (self.measured[i] - self.measured[j]))
            sds.append(sd[i])
        return np.array(errors), np.array(sds)


def sweeps(data: Path) -> list[Sweep]:
    out = []
    for lr in SWEEP_LRS:
        fitted = fit(stable_and_cosine(data, lr))
        for steps in HORIZONS:
            runs = sweep_runs(data, lr, steps)
            if not runs:
                continue
            joint = joint_prediction(fitted, [r.schedule for r in runs], runs[0].last_step)
            fractions = [r.name.split("_")[0].removeprefix("ann124-") for r in runs]
            out.append(Sweep(lr, steps, fractions, np.array([r.loss[-1] for r in runs]), joint))
    return out


def interval_score(errors: NDArray[np.float64], sds: NDArray[np.float64]) -> float:
    """Mean interval score (Gneiting & Raftery 2007, eq. 43) over the levels 50/80/90 %."""
    total = 0.0
    for level in LEVELS:
        half, alpha = z_value(level) * sds, 1 - level
        total += float(np.mean(2 * half + 2 / alpha * np.maximum(np.abs(errors) - half, 0)))
    return total / len(LEVELS)


def choose_effect(chosen_on: list[Sweep]) -> float:
    """The effect error ``c`` with the least interval score on these sweeps' pairs."""
    scores = []
    for effect in EFFECT_GRID:
        errors, sds = zip(*(s.pairs(effect) for s in chosen_on))
        scores.append(interval_score(np.concatenate(errors), np.concatenate(sds)))
    return float(EFFECT_GRID[int(np.argmin(scores))])


def coverage_table(all_sweeps: list[Sweep], effects: dict[str, float]) -> list[str]:
    head = " | ".join(f"{100 * q:.0f} %" for q in LEVELS)
    lines = [
        f"| peak LR | pairs | c | {head} | median 90 % half-width | median abs error |",
        "|---|---:|---:|" + "---:|" * (len(LEVELS) + 2),
    ]
    everything: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    for lr in SWEEP_LRS:
        pairs = [s.pairs(effects[lr]) for s in all_sweeps if s.lr == lr]
        errors, sds = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
        everything.append((errors, sds))
        lines.append(_coverage_row(lr, f"{effects[lr]:g}", errors, sds))
    errors = np.concatenate([e for e, _ in everything])
    sds = np.concatenate([s for _, s in everything])
    lines.append(_coverage_row("**all**", "", errors, sds))
    return lines


def _coverage_row(name: str, effect: str, errors: NDArray[np.float64], sds: NDArray[np.float64]):
    cover = " | ".join(f"{100 * np.mean(np.abs(errors) <= z_value(q) * sds):.0f}" for q in LEVELS)
    half = np.median(z_value(0.9) * sds)
    return (
        f"| {name} | {errors.size} | {effect} | {cover} | {half:.4f} | "
        f"{np.median(np.abs(errors)):.4f} |"
    )


def tie_table(all_sweeps: list[Sweep], effects: dict[str, float]) -> tuple[list[str], str]:
    lines = [
        "| peak LR | steps | measured best | predicted best | tie set (90 %) | best in it |",
        "|---|---:|---|---|---|---|",
    ]
    hits = sizes = count = 0
    for s in all_sweeps:
        tied = replace(s.joint, effect_error=effects[s.lr]).tie_set()
        measured_best = int(np.argmin(s.measured))
        inside = measured_best in tied
        if s.lr in PEAK_LRS:
            hits, sizes, count = hits + inside, sizes + tied.size, count + 1
        lines.append(
            f"| {s.lr} | {s.steps} | {s.fractions[measured_best]} | "
            f"{s.fractions[int(np.argmin(s.joint.loss))]} | "
            f"{', '.join(s.fractions[i] for i in tied)} | {'yes' if inside else '**no**'} |"
        )
    summary = (
        f"Peak LR {PEAK_LRS[0]}-{PEAK_LRS[-1]}: the measured best run is in the tie set in "
        f"{hits} of {count} sweeps (target at least 11); mean tie-set size {sizes / count:.2f} "
        f"runs of 6 (target at most 3)."
    )
    return lines, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    args = parser.parse_args()
    start = time.perf_counter()
    all_sweeps = sweeps(data_set(args.data, "lr-scheduling") / "data")
    held_out = {lr: choose_effect([s for s in all_sweeps if s.lr != lr]) for lr in SWEEP_LRS}
    chosen = choose_effect(all_sweeps)
    ties, summary = tie_table(all_sweeps, held_out)
    lines = [
        "### Difference intervals on measured pairs (c chosen without the scored peak LR)",
        "",
        *coverage_table(all_sweeps, held_out),
        "",
        f"c chosen on all peak LRs: {chosen:g} (lrcurve.differences.EFFECT_ERROR is "
        f"{EFFECT_ERROR:g}{'' if chosen == EFFECT_ERROR else ': update it'}).",
        "",
        "### Tie sets (c chosen without the scored peak LR)",
        "",
        *ties,
        "",
        summary,
    ]
    print("\n".join(lines))
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.markdown:
        text = args.markdown.read_text() if args.markdown.exists() else f"{BEGIN}\n{END}\n"
        if BEGIN not in text or END not in text:
            sys.exit(f"{args.markdown}: no {BEGIN} ... {END} markers to write between")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        args.markdown.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}")


if __name__ == "__main__":
    main()
