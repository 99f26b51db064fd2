"""Decisions with their uncertainty: difference intervals and tie sets on measured pairs of runs.

On every shared family the default momentum law is fitted on its constant and cosine runs (as
``calibration.py``) and predicts, jointly (:mod:`lrcurve.differences`), the final losses of the
family's held-out runs that end at one step (within 1 %). Every two of them make a measured
pair, a difference the fit never saw:

- ``124m-lr*``: the 124M cooldown sweeps, per peak LR and horizon the linear WSD cooldowns of
  10-90 % (210 pairs at peak LR 1e-4..2e-3);
- ``mpl-25``, ``mpl-100``: the multi-power-law paper's protocol, constant against cosine at
  72k steps, WSD against WSD-LD at 24k and the three ``wsdcon`` runs;
- ``sp-*`` / ``owt-*``: the scaling families, each 20 % cooldown branch against the (not
  fitted) cosine run of its length.

The effect error ``c`` and the quantiles ``q_diff`` at 50/80/90 % are chosen jointly on the
124M sweeps' pairs (the decisions optimize makes: cooldowns of one peak LR and horizon): for
each ``c`` of a grid, ``q_diff`` is the split-conformal quantile (Lei et al. 2018) of
``|error| / sd`` over the pairs chosen on, and the ``c`` whose intervals ``± q_diff sd`` have
the least interval score (Gneiting & Raftery 2007, eq. 43, mean over 50/80/90 %) wins. Each
peak LR's pairs are scored with ``c`` and ``q_diff`` chosen on the other peak LRs (leave one
peak LR out); the paper's protocol and the scaling families are only checked, with the choice
on all sweeps (never on their pairs). Then the tie sets: per sweep of peak LR 5e-4..2e-3, is
the measured best run among the runs not distinguishable from the predicted best at 90 %
(target: in 11 of 12), and how many are there (target: at most 3)?

    python benchmarks/decisions.py [--data DIR] [--markdown docs/decisions.md] [--cache DIR]

``--markdown`` replaces the part of the page between the two markers below. ``--cache DIR``
keeps the family fits (``DIR/fits.pkl``, the same as ``calibration.py``'s); delete it when the
fitting code changes.
"""

from __future__ import annotations

import argparse
import csv
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

from calibration import (  # noqa: E402
    SCALING,
    Family,
    add_fits_cache_option,
    family_fits,
    group,
    mpl_families,
    scaling_families,
    sweep_families,
)
from cooldown_sweeps import PEAK_LRS  # noqa: E402

from lrcurve import read_runs  # noqa: E402
from lrcurve.differences import (  # noqa: E402
    DIFFERENCE_QUANTILES,
    DISTANCE_ERROR,
    EFFECT_ERROR,
    JointPrediction,
    joint_prediction,
)
from lrcurve.fitted import FittedLaw  # noqa: E402
from lrcurve.runs import Run  # noqa: E402
from lrcurve.uncertainty import interval_factor  # noqa: E402

LEVELS = (0.5, 0.8, 0.9)
EFFECT_GRID = tuple(np.round(np.arange(0.0, 3.001, 0.1), 2))
SAME_STEP = 0.01  # runs whose last steps differ by less (relative) end at one step
BEGIN = "<!-- begin: written by benchmarks/decisions.py -->"
END = "<!-- end: written by benchmarks/decisions.py -->"
DISTANCE_GRID = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08)
Quantiles = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Choice:
    """The effect error ``c``, the distance error ``a`` and ``q_diff``."""

    effect: float
    distance: float
    quantiles: Quantiles = ()

    def __str__(self) -> str:
        q = "/".join(f"{v:.3g}" for _, v in self.quantiles)
        return f"c = {self.effect:g}, a = {self.distance:g}, q_diff = {q}"


BEFORE = Choice(0.35, 0.0)  # the model until 2026-11-29 (with Gaussian quantiles)


@dataclass
class Sweep:
    """Held-out runs of one family that end at one step: their measured and jointly predicted
    losses there."""

    family: str
    steps: int
    labels: list[str]
    measured: NDArray[np.float64]
    joint: JointPrediction

    def pairs(
        self, choice: Choice, before: bool = False
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """For every two runs: the prediction's error on their difference, and its s.d.
        (``before``: no distance term, law errors shared across peak LRs, as until
        2026-11-29)."""
        joint = replace(
            self.joint,
            effect_error=choice.effect,
            distance_error=choice.distance,
            peaks=None if before else self.joint.peaks,
            profiles=None if before else self.joint.profiles,
        )
        errors, sds = [], []
        for i, j in itertools.combinations(range(self.measured.size), 2):
            value, sd = joint.differences_to(j)
            errors.append(value[i] - (self.measured[i] - self.measured[j]))
            sds.append(sd[i])
        return np.array(errors), np.array(sds)


def with_cosines(families: list[Family], folder: Path) -> list[Family]:
    """The scaling families, each also predicting its cosine runs but the longest (fitted)."""
    cosines: dict[str, list[Run]] = {}
    with open(folder / "index.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["family"] in SCALING]
    for row in sorted(rows, key=lambda r: int(r["iterations"])):
        if row["scheduler"] == "cos":
            tag = "sp" if row["dataset"] == "slimpajama" else "owt"
            name = f"{tag}-{int(row['params']) / 1e6:.0f}m"
            cosines.setdefault(name, []).extend(read_runs(folder / row["file"]))
    return [replace(f, targets=f.targets + cosines.get(f.name, [])[:-1]) for f in families]


def ending_together(runs: list[Run]) -> list[list[Run]]:
    """The runs grouped by their last step (within :data:`SAME_STEP`), groups of two or more."""
    groups: list[list[Run]] = []
    for run in sorted(runs, key=lambda r: r.last_step):
        if groups and run.last_step <= (1 + SAME_STEP) * groups[-1][0].last_step:
            groups[-1].append(run)
        else:
            groups.append([run])
    return [g for g in groups if len(g) > 1]


def label(run: Run) -> str:
    """A sweep run by its cooldown fraction, any other by its name."""
    return run.name.split("_")[0].removeprefix("ann124-") if "ann124" in run.name else run.name


def family_sweeps(family: Family, fitted: FittedLaw) -> list[Sweep]:
    out = []
    for runs in ending_together(family.targets):
        step = min(r.last_step for r in runs)
        measured = np.array([np.interp(step, r.steps, r.loss) for r in runs])
        joint = joint_prediction(fitted, [r.schedule for r in runs], step)
        out.append(Sweep(family.name, step, [label(r) for r in runs], measured, joint))
    return out


def pooled(sweeps: list[Sweep], choice: Choice) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Every pair's error and s.d."""
    errors, sds = zip(*(s.pairs(choice) for s in sweeps))
    return np.concatenate(errors), np.concatenate(sds)


def conformal(ratio: NDArray[np.float64]) -> Quantiles:
    """``q_diff`` at each level: rank ``ceil((n + 1) level)`` of the ``n`` ratios."""
    n = ratio.size
    ranks = [min(1.0, np.ceil((n + 1) * level) / n) for level in LEVELS]
    values = np.quantile(ratio, ranks, method="inverted_cdf")
    return tuple((level, round(float(v), 3)) for level, v in zip(LEVELS, values))


def interval_score(errors: NDArray[np.float64], sds: NDArray[np.float64], q: Quantiles) -> float:
    """Mean interval score (Gneiting & Raftery 2007, eq. 43) over 50/80/90 %."""
    total = 0.0
    for level in LEVELS:
        half, alpha = interval_factor(level, q) * sds, 1 - level
        total += float(np.mean(2 * half + 2 / alpha * np.maximum(np.abs(errors) - half, 0)))
    return total / len(LEVELS)


def choose(chosen_on: list[Sweep]) -> Choice:
    """``c``, ``a`` and ``q_diff`` chosen jointly on these sweeps' pairs (module docstring)."""
    best: tuple[float, Choice] | None = None
    for effect, distance in itertools.product(EFFECT_GRID, DISTANCE_GRID):
        errors, sds = pooled(chosen_on, Choice(float(effect), distance))
        q = conformal(np.abs(errors) / sds)
        score = interval_score(errors, sds, q)
        if best is None or score < best[0]:
            best = (score, Choice(float(effect), distance, q))
    assert best is not None
    return best[1]


def coverage_table(all_sweeps: list[Sweep], chosen: dict[str, Choice]) -> list[str]:
    head = " | ".join(f"{100 * q:.0f} %" for q in LEVELS)
    lines = [
        f"| family | pairs | c, a | q_diff 50/80/90 % | {head} | median 90 % half-width "
        "| median abs error |",
        "|---|---:|---:|---|" + "---:|" * (len(LEVELS) + 2),
    ]
    rows: dict[str, tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]] = {}
    for name in dict.fromkeys(s.family for s in all_sweeps):
        choice = chosen[name]
        errors, sds = pooled([s for s in all_sweeps if s.family == name], choice)
        halves = np.outer(sds, [interval_factor(level, choice.quantiles) for level in LEVELS])
        rows[name] = (errors, halves, np.full(errors.size, group(name)))
        text = "/".join(f"{v:.2f}" for _, v in choice.quantiles)
        effect = f"{choice.effect:g}, {choice.distance:g}"
        lines.append(_coverage_row(name, effect, text, errors, halves))
    for kind in dict.fromkeys(group(n) for n in rows):
        parts = [r for n, r in rows.items() if group(n) == kind]
        errors, halves = np.concatenate([p[0] for p in parts]), np.vstack([p[1] for p in parts])
        lines.append(_coverage_row(f"**{kind}**", "", "", errors, halves))
    errors = np.concatenate([r[0] for r in rows.values()])
    halves = np.vstack([r[1] for r in rows.values()])
    lines.append(_coverage_row("**all**", "", "", errors, halves))
    return lines


def before_table(all_sweeps: list[Sweep]) -> list[str]:
    """The model until 2026-11-29 on the same pairs: ``c`` = 0.35 (chosen on the sweeps), no
    distance term, Gaussian quantiles, law errors shared across peak LRs."""
    lines = [
        f"| kind | pairs | c, a | q | {' | '.join(f'{100 * q:.0f} %' for q in LEVELS)} "
        "| median 90 % half-width | median abs error |",
        "|---|---:|---:|---|" + "---:|" * (len(LEVELS) + 2),
    ]
    for kind in dict.fromkeys(group(s.family) for s in all_sweeps):
        pairs = [s.pairs(BEFORE, before=True) for s in all_sweeps if group(s.family) == kind]
        errors, sds = map(np.concatenate, zip(*pairs))
        halves = np.outer(sds, [interval_factor(level, ()) for level in LEVELS])
        lines.append(_coverage_row(kind, "0.35, 0", "Gaussian", errors, halves))
    return lines


def _coverage_row(
    name: str, effect: str, q: str, errors: NDArray[np.float64], halves: NDArray[np.float64]
) -> str:
    """``halves``: each pair's half-width at each of :data:`LEVELS` (pairs x levels)."""
    inside = np.abs(errors)[:, None] <= halves
    cover = " | ".join(f"{100 * v:.0f}" for v in inside.mean(axis=0))
    return (
        f"| {name} | {errors.size} | {effect} | {q} | {cover} | "
        f"{np.median(halves[:, LEVELS.index(0.9)]):.4f} | {np.median(np.abs(errors)):.4f} |"
    )


def tie_table(all_sweeps: list[Sweep], chosen: dict[str, Choice]) -> tuple[list[str], str]:
    lines = [
        "| peak LR | steps | measured best | predicted best | tie set (90 %) | best in it |",
        "|---|---:|---|---|---|---|",
    ]
    hits = sizes = count = 0
    for s in all_sweeps:
        if group(s.family) != "124m-sweeps":
            continue
        choice = chosen[s.family]
        joint = replace(
            s.joint,
            effect_error=choice.effect,
            distance_error=choice.distance,
            difference_quantiles=choice.quantiles,
        )
        tied = joint.tie_set()
        measured_best = int(np.argmin(s.measured))
        inside = measured_best in tied
        lr = s.family.removeprefix("124m-lr")
        if lr in PEAK_LRS:
            hits, sizes, count = hits + inside, sizes + tied.size, count + 1
        lines.append(
            f"| {lr} | {s.steps} | {s.labels[measured_best]} | "
            f"{s.labels[int(np.argmin(s.joint.loss))]} | "
            f"{', '.join(s.labels[i] for i in tied)} | {'yes' if inside else '**no**'} |"
        )
    summary = (
        f"Peak LR {PEAK_LRS[0]}-{PEAK_LRS[-1]}: the measured best run is in the tie set in "
        f"{hits} of {count} sweeps (target at least 11); mean tie-set size {sizes / count:.2f} "
        f"runs of 6 (target at most 3)."
    )
    return lines, summary


def all_sweeps(data: Path, cache: Path | None) -> list[Sweep]:
    lr_scheduling = data_set(data, "lr-scheduling")
    families = (
        mpl_families(data_set(data, "multipowerlaw"))
        + sweep_families(lr_scheduling / "data")
        + with_cosines(scaling_families(lr_scheduling), lr_scheduling)
    )
    fits = family_fits(families, cache)
    return [s for f in families for s in family_sweeps(f, fits[f.name])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    add_fits_cache_option(parser)
    args = parser.parse_args()
    start = time.perf_counter()
    sweeps = all_sweeps(args.data, args.cache)
    learned = [s for s in sweeps if group(s.family) == "124m-sweeps"]
    chosen = choose(learned)
    held_out = {s.family: chosen for s in sweeps}  # the other families: only checked
    names = dict.fromkeys(s.family for s in learned)
    held_out |= {n: choose([s for s in learned if s.family != n]) for n in names}
    ties, summary = tie_table(sweeps, held_out)
    library = Choice(EFFECT_ERROR, DISTANCE_ERROR, DIFFERENCE_QUANTILES)
    lines = [
        "### Difference intervals on measured pairs (124M: c, a and q_diff chosen without the "
        "scored peak LR; the others: chosen on all 124M sweeps, only checked)",
        "",
        *coverage_table(sweeps, held_out),
        "",
        f"Chosen on all 124M sweeps: {chosen} ("
        + ("the library default" if chosen == library else f"update the library's {library}")
        + ": lrcurve.differences.EFFECT_ERROR, DISTANCE_ERROR, DIFFERENCE_QUANTILES).",
        "",
        "### Before: c = 0.35, no distance term, Gaussian intervals, law errors shared across "
        "peak LRs",
        "",
        *before_table(sweeps),
        "",
        "### Tie sets (c, a and q_diff chosen without the scored peak LR)",
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
