"""The fit defaults, re-examined across every shared family (issue 14 item 5).

On the families of ``benchmarks/calibration.py`` (``--data DIR``, default ``../shared/data``:
the multi-power-law paper's protocol, the 124M cooldown sweeps per peak LR, the scaling
families), each variant of the default fit (one default changed at a time: skip fraction,
warmup convention, forward-area exponent p, law) is fitted on each family's constant and
cosine runs and predicts the family's other runs. Per variant and group of families it prints
the mean |error| of the held-out final losses and the mean whole-curve MAPE (points after
10 % of each run), both in %, and how many fits put a parameter on its bound (``L0 = 0``
among them).

A default changes only when cross-validation across families supports it: for each family,
the variant with the least mean final |error| on all the *other* families (the three groups
weighted equally) is chosen and scored on it; the held-out error of those choices is set
against the default's on the same families. A variant tuned on one family is not a default.

    python benchmarks/defaults.py [--data DIR] [--markdown docs/defaults.md] [--cache DIR]

``--cache DIR`` keeps each variant's scores (``DIR/defaults-*.pkl``); delete them when the
fitting code changes.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from public_data import add_data_option

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calibration import CURVE_FROM, Family, group, pickled, shared_families  # noqa: E402

from lrcurve import fit  # noqa: E402
from lrcurve.errors import InputError  # noqa: E402
from lrcurve.fit_window import DEFAULT_SKIP  # noqa: E402
from lrcurve.laws import make_law  # noqa: E402
from lrcurve.laws.base import Law  # noqa: E402


@dataclass(frozen=True)
class Variant:
    """One way to fit: a law (with its options) and a skip fraction."""

    label: str
    law: Law
    skip_fraction: float = DEFAULT_SKIP


DEFAULT_LABEL = "default (momentum, skip 0.05, warmup actual, p = 1)"
VARIANTS = (
    Variant(DEFAULT_LABEL, make_law("momentum")),
    Variant("skip 0", make_law("momentum"), 0.0),
    Variant("skip 0.1", make_law("momentum"), 0.1),
    Variant("skip 0.2", make_law("momentum"), 0.2),
    Variant("warmup peak", make_law("momentum", warmup="peak")),
    Variant("p = 0.7", make_law("momentum", lr_exponent=0.7)),
    Variant("p = 0.85", make_law("momentum", lr_exponent=0.85)),
    Variant("p = 1.15", make_law("momentum", lr_exponent=1.15)),
    Variant("law multipower", make_law("multipower")),
)
GROUPS = ("mpl", "124m-sweeps", "scaling")


@dataclass
class Scored:
    """One variant on one family: mean |final error| and curve MAPE (%) over its targets,
    and the parameters the fit left on a bound (held there at a limit of the law, or fitted)."""

    final: float
    mape: float
    bounded: tuple[str, ...]
    worst: float = np.inf  # the largest |final error| of a target, %


def score_family(family: Family, variant: Variant) -> Scored:
    """Fit ``variant`` on the family's constant and cosine runs; score its other runs."""
    try:
        fitted = fit(
            family.fit_runs, variant.law, skip_fraction=variant.skip_fraction, backtest=False
        )
    except InputError:
        return Scored(np.inf, np.inf, ())  # the variant cannot fit this family
    finals, mapes = [], []
    for run in family.targets:
        predicted = fitted.curve(run.schedule, run.steps)
        keep = run.steps >= CURVE_FROM * run.last_step
        relative = np.abs(predicted[keep] / run.loss[keep] - 1)
        finals.append(100 * relative[-1])
        mapes.append(100 * float(np.mean(relative)))
    bounded = tuple(p.name for p in fitted.params if p.at_bound)
    return Scored(float(np.mean(finals)), float(np.mean(mapes)), bounded, max(finals))


def weighted(values: np.ndarray, names: list[str]) -> float:
    """The mean over families, the three groups weighted equally."""
    groups = [group(n) for n in names]
    weight = np.array([1 / groups.count(g) for g in groups])
    return float(np.sum(values * weight) / weight.sum())


def variant_table(results: dict[str, dict[str, Scored]], names: list[str]) -> list[str]:
    head = " | ".join(f"{g}: final % | worst | MAPE %" for g in GROUPS)
    lines = [
        "### Each variant on every family (fit on the constant and cosine runs)",
        "",
        f"| variant | {head} | all (groups equal): final % | fits with a bound hit (L0) |",
        "|---|" + "---:|" * (3 * len(GROUPS) + 2),
    ]
    for label, by_family in results.items():
        cells = []
        for g in GROUPS:
            members = [by_family[n] for n in names if group(n) == g]
            cells.append(f"{np.mean([s.final for s in members]):.3f}")
            cells.append(f"{max(s.worst for s in members):.3f}")
            cells.append(f"{np.mean([s.mape for s in members]):.3f}")
        overall = weighted(np.array([by_family[n].final for n in names]), names)
        bounded = sum(bool(by_family[n].bounded) for n in names)
        l0 = sum("L0" in by_family[n].bounded for n in names)
        lines.append(f"| {label} | {' | '.join(cells)} | {overall:.3f} | {bounded} ({l0}) |")
    return lines


def cross_validation(results: dict[str, dict[str, Scored]], names: list[str]) -> list[str]:
    """Leave one family out: the variant chosen on the others, scored on the held-out one."""
    labels = list(results)
    matrix = np.array([[results[label][n].final for n in names] for label in labels])
    lines = [
        "### Leave one family out: the variant chosen on the other families",
        "",
        "| family | chosen on the others | its final % | default's final % |",
        "|---|---|---:|---:|",
    ]
    chosen_err, default_err = [], []
    for i, name in enumerate(names):
        others = [j for j in range(len(names)) if j != i]
        pick = int(np.argmin([weighted(row[others], [names[j] for j in others]) for row in matrix]))
        chosen_err.append(matrix[pick, i])
        default_err.append(matrix[0, i])
        lines.append(f"| {name} | {labels[pick]} | {matrix[pick, i]:.3f} | {matrix[0, i]:.3f} |")
    held_out, default = (
        weighted(np.array(chosen_err), names),
        weighted(np.array(default_err), names),
    )
    best = labels[int(np.argmin([weighted(row, names) for row in matrix]))]
    lines += [
        f"| **all (groups equal)** | | {held_out:.3f} | {default:.3f} |",
        "",
        f"Chosen on all families: {best}. {verdict(results, names, best, held_out < default)}",
    ]
    return lines


def verdict(results: dict[str, dict[str, Scored]], names: list[str], best: str, cv: bool) -> str:
    """Whether ``best`` replaces the default: only when the held-out choices beat the default
    (``cv``) and no group's mean final error, worst final error or mean MAPE gets worse (a
    point prediction must not get worse on any shared benchmark)."""
    if best == DEFAULT_LABEL:
        return "The default stays."
    worse = []
    for g in GROUPS:
        members = [n for n in names if group(n) == g]
        for what, get in (
            ("mean final error", lambda s: s.final),
            ("MAPE", lambda s: s.mape),
        ):
            new = np.mean([get(results[best][n]) for n in members])
            old = np.mean([get(results[DEFAULT_LABEL][n]) for n in members])
            if new > old:
                worse.append(f"{g} {what} {old:.3f} -> {new:.3f} %")
        for n in members:
            if results[best][n].worst > results[DEFAULT_LABEL][n].worst:
                old, new = results[DEFAULT_LABEL][n].worst, results[best][n].worst
                worse.append(f"{n} worst final error {old:.3f} -> {new:.3f} %")
    if cv and not worse:
        return "It replaces the default."
    why = "; ".join(worse) if worse else "the held-out choices do not beat the default"
    return f"The default stays: with it {why}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    parser.add_argument(
        "--cache", type=Path, metavar="DIR", help="keep each variant's scores here (reused)"
    )
    args = parser.parse_args()
    families = shared_families(args.data)
    names = [f.name for f in families]
    results: dict[str, dict[str, Scored]] = {}
    for variant in VARIANTS:
        start = time.perf_counter()
        path = None if args.cache is None else args.cache / f"defaults-{variant.label[:12]}.pkl"
        results[variant.label] = pickled(
            path, lambda v=variant: {f.name: score_family(f, v) for f in families}
        )
        print(f"{variant.label}: {time.perf_counter() - start:.1f} s", flush=True)
    lines = variant_table(results, names) + [""] + cross_validation(results, names)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text(HEADER + "\n".join(lines) + "\n")


HEADER = """# Fit defaults, chosen across families

Made by `python benchmarks/defaults.py --markdown docs/defaults.md` (public data in
`../shared/data`; about a minute on one core; `--cache DIR`
keeps each variant's scores for the next run). Each variant changes one default of `lrcurve
fit` (skip fraction, warmup convention, forward-area exponent p, law), is fitted on each
family's constant and cosine runs (the 17 families of docs/calibration.md) and predicts the
family's other runs. *final %*: mean |error| of the held-out final losses; *worst*: the largest
of them; *MAPE %*: mean whole-curve error after 10 % of each run; *fits with a bound hit*:
family fits that left a parameter on its bound (`L0 = 0` in brackets).

The rule: a variant replaces the default only when (1) chosen on the other families, it lowers
the held-out mean final error (leave one family out, the three groups of families weighted
equally), and (2) no group's mean final error or MAPE and no family's worst final error gets
worse with it: a point prediction must not get worse on any shared benchmark. The verdict line
at the end applies it. Bounds (last column): every momentum-law variant ends with `lam` at
its upper bound 0.9999 on the 11 scaling families (the runs ask for a longer memory; the
intervals are calibrated on those fits, docs/calibration.md), and the multipower law holds
`beta` or `gamma` at a limit of the law (docs/laws.md) on 16 families and ends with `C` at its
lower bound on the scaling ones; no fit puts `L0` at 0, so they give no evidence for another
bound than `L0 >= 0`. (Until 2026-11-30 the column counted the parameters a fit held, not
those on a bound, and read 0 for the momentum law.)

"""


if __name__ == "__main__":
    main()
