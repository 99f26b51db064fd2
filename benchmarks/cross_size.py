"""Across model sizes: fit a size-aware law on smaller models, predict a larger model's curves.

Scenarios (public data in ``../shared/data``, or ``--data DIR``):

- ``mpl-probe``: the multi-power-law paper's runs (warmup 2160): every 25M curve plus the
  100M ``constant_24000`` alone (a cheap probe of the target size) -> the other eight 100M
  curves;
- ``mpl-probe-cooldown``: the probe and one short cooldown of the target size
  (``wsd_20000_24000``: the constant schedule decayed to 0 over its last 4k steps; branched
  off the probe run at 20k it costs 4k steps more, a sixth of the probe's) -> the other seven
  100M curves: decayed runs at two sizes pin the annealing term's size exponent, which the
  probe holds at 0;
- ``mpl-pair``: the 25M and 100M ``constant_24000`` + ``cosine_24000`` (the paper's two-run
  protocol at both sizes) -> the other seven 100M curves;
- ``sp-209m``: the lr-scheduling SlimPajama scaling family (8 sizes, 33M-360M, read from the
  W&B exports; each size: cosine at 3 horizons, a long constant run, its 20 % cooldown
  branches stitched onto it; peak LRs differ, each run has its own): every size up to 209M ->
  all 360M runs;
- ``sp-124m``: the same, sizes up to 124M -> every run of 152M, 209M and 360M;
- ``sp-209m-tokens``, ``sp-124m-tokens``: the same fits, only the 360M targets (trained with twice
  the batch of the others, 400 sequences a step) on the clock of the others' steps: each of
  their steps counts two at its LR (:func:`lrcurve.tokens.on_clock`, what ``fit --clock
  tokens`` and ``predict --tokens-per-step`` do). The laws count steps, not tokens; this shows
  what the batch difference costs.

Per held-out curve: MAPE % over the logged points after warmup, final-loss error %, the 90 %
interval's half-width at the final step (% of the loss) and whether the final loss is inside;
per scenario the mean MAPE on the largest size and the coverage of whole-curve points.

The size term of the interval, ``c_size ln r`` (``r``: the target size over the largest
fitted, lrcurve/uncertainty.py), has its coefficient chosen across the two data sets: chosen
on the multipowerlaw scenarios (interval score of final losses at 90 %, Gneiting & Raftery
2007), scored on the lr-scheduling ones, and the other way round; the library default is the
choice on all scenarios, each held-out curve counted as lrcurve is meant to be run on it (a
target of another batch on the fitted runs' clock: its ``-tokens`` outcome). Backtests
(``b``) use the cuts ``--cuts`` (default 0.6 only: the full five cuts refit the law 5x per
run, too slow for 40 runs on a shared machine).

    python benchmarks/cross_size.py [--data DIR] [--laws momentum-size,multipower-size,...]
                                    [--markdown docs/model-size.md] [--fits FILE]
"""

from __future__ import annotations

import argparse
import csv
import pickle
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from accuracy import FIT, PREDICT
from numpy.typing import NDArray
from public_data import add_data_option, data_set

from lrcurve import fit, read_runs
from lrcurve.backtest import backtest_scale
from lrcurve.fitted import FittedLaw
from lrcurve.laws import make_law
from lrcurve.metrics import score
from lrcurve.runs import Run
from lrcurve.sizes import format_size
from lrcurve.tokens import BATCH_LR_EXPONENT, batch_groups, on_clock
from lrcurve.uncertainty import (
    DEFAULT,
    SIZE_FACTOR,
    curve_sd,
    extrapolation,
    interval_factor,
)

MPL_RUNS = FIT + PREDICT  # the fitted pair first
COOLDOWN = "wsd_20000_24000"  # a 4k-step cooldown branched off the constant run at 20k
SCALING = {"sl", "sl53", "sl93", "sl166", "ann0.2"}
C_GRID = (0.0, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05)
LEVEL = 0.9
CURVE_FROM = 0.1  # whole-curve coverage counts the points after this fraction of a run
# the LR exponent of the token clock (lrcurve.tokens.BATCH_LR_EXPONENT, Adam's 0.5) against the
# LR kept (0) and SGD's linear rule (1), on the only targets of another batch: shown, not chosen
BATCH_EXPONENTS = (0.0, 0.5, 1.0)


@dataclass
class Scenario:
    name: str
    data_set: str
    fit_runs: list[Run]
    targets: list[Run]


@dataclass
class Outcome:
    """One held-out curve: its scores and what its interval is made of."""

    scenario: str
    data_set: str
    law: str
    run: Run
    mape: float
    final_error: float  # % of the observed final loss
    observed: NDArray[np.float64]  # whole-curve points scored for coverage
    predicted: NDArray[np.float64]
    sd0: NDArray[np.float64]  # the predictive s.d. without the size term
    log_ratio: float  # ln r of the size term

    def sd(self, c: float) -> NDArray[np.float64]:
        return np.sqrt(self.sd0**2 + (self.predicted * c * self.log_ratio) ** 2)

    def final_inside(self, c: float) -> bool:
        return bool(
            abs(self.predicted[-1] - self.observed[-1]) <= interval_factor(LEVEL) * self.sd(c)[-1]
        )

    def interval_score(self, c: float) -> float:
        """Gneiting & Raftery's interval score of the final loss at 90 %, relative to it."""
        half = interval_factor(LEVEL) * self.sd(c)[-1]
        miss = max(abs(self.observed[-1] - self.predicted[-1]) - half, 0.0)
        return float((2 * half + 2 / (1 - LEVEL) * miss) / self.observed[-1])


def mpl_scenarios(folder: Path) -> list[Scenario]:
    runs = {}
    for size, n in (("25", 25e6), ("100", 100e6)):
        for name in MPL_RUNS:
            run = read_runs(folder / f"csv_{size}" / f"{name}.csv", warmup_steps=2160)[0]
            runs[size, name] = replace(run, name=f"{size}M/{name}", model_size=n)
    big = [runs["100", name] for name in MPL_RUNS]
    probe = [runs["25", name] for name in MPL_RUNS] + [runs["100", "constant_24000"]]
    cooldown = [*probe, runs["100", COOLDOWN]]
    pair = [runs[size, name] for size in ("25", "100") for name in MPL_RUNS[:2]]
    return [
        Scenario("mpl-probe", "multipowerlaw", probe, [r for r in big if r not in probe]),
        Scenario(
            "mpl-probe-cooldown", "multipowerlaw", cooldown, [r for r in big if r not in cooldown]
        ),
        Scenario("mpl-pair", "multipowerlaw", pair, [r for r in big if r not in pair]),
    ]


def scaling_runs(folder: Path) -> list[Run]:
    """The SlimPajama scaling family, each run with its size and tokens per step from its W&B
    config."""
    with open(folder / "index.csv") as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if r["family"] in SCALING and r["dataset"] == "slimpajama"
        ]
    runs = [run for r in rows for run in read_runs(folder / r["file"])]
    return sorted(runs, key=lambda r: (r.model_size, r.name))


def scaling_scenarios(folder: Path) -> list[Scenario]:
    """``sp-209m`` and ``sp-124m``, and each again (``-tokens``) with its targets of a larger
    batch on the fitted runs' clock (:func:`lrcurve.tokens.on_clock`; the same fit: every
    fitted run has one batch)."""
    runs = scaling_runs(folder)
    for run in runs:
        if run.model_size is None or run.tokens_per_step is None:
            raise SystemExit(f"{run.source}: no model size or batch in its W&B config")
    sizes = sorted({r.model_size for r in runs})
    out = []
    for name, last_fitted in (("sp-209m", sizes[-2]), ("sp-124m", 124e6)):
        fitted = [r for r in runs if r.model_size <= last_fitted * 1.01]
        targets = [r for r in runs if r not in fitted]
        out.append(Scenario(name, "lr-scheduling", fitted, targets))
        out.append(replace(clocked(out[-1]), name=f"{name}-tokens"))
    return out


def clocked(scenario: Scenario, lr_exponent: float = BATCH_LR_EXPONENT) -> Scenario:
    """``scenario`` with only its targets of a larger batch than the fitted runs', counted on
    their clock (:func:`lrcurve.tokens.on_clock` with ``lr_exponent``)."""
    ((unit, _),) = batch_groups(scenario.fit_runs)
    wider = [r for r in scenario.targets if r.tokens_per_step > 1.01 * unit]
    return replace(scenario, targets=[on_clock(r, unit, lr_exponent) for r in wider])


def batch_rule(
    scenarios: list[Scenario], fits: dict[tuple[str, str], FittedLaw]
) -> list[tuple[float, Outcome]]:
    """The targets of a larger batch predicted at each of :data:`BATCH_EXPONENTS`."""
    out = []
    for scenario in (s for s in scenarios if s.name + "-tokens" in {t.name for t in scenarios}):
        for (name, law), fitted in fits.items():
            if name == scenario.name:
                for exponent in BATCH_EXPONENTS:
                    variant = replace(clocked(scenario, exponent), name=f"{name}-tokens")
                    out += [(exponent, o) for o in evaluate(variant, law, fitted)]
    return out


def batch_rule_table(rows: list[tuple[float, Outcome]], c: float) -> list[str]:
    lines = [
        "| scenario | law | LR exponent | mean MAPE % | final errors % | final inside 90 % |",
        "|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((o.scenario, o.law, e) for e, o in rows):
        group = [o for e, o in rows if (o.scenario, o.law, e) == key]
        errors = " ".join(f"{o.final_error:+.2f}" for o in group)
        inside = sum(o.final_inside(c) for o in group)
        adopted = " (adopted)" if key[2] == BATCH_LR_EXPONENT else ""
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]:g}{adopted} | "
            f"{np.mean([o.mape for o in group]):.3f} | {errors} | {inside} of {len(group)} |"
        )
    return lines


def fit_scenario(scenario: Scenario, law_name: str, cuts: tuple[float, ...]) -> FittedLaw:
    """The law fitted on the scenario's runs, with its backtest error."""
    fitted = fit(scenario.fit_runs, make_law(law_name), backtest=False)
    return replace(fitted, backtest_scale=backtest_scale(fitted, cuts))


def evaluate(scenario: Scenario, law_name: str, fitted: FittedLaw) -> list[Outcome]:
    """Predict each target of the scenario at its own size from ``fitted``."""
    no_size_term = replace(DEFAULT, size_factor=0.0)
    out = []
    for run in scenario.targets:
        prediction = fitted.predict(
            run.schedule, run.last_step, level=None, model_size=run.model_size
        )
        after = run.steps > run.warmup_steps
        at = run.steps[after] - 1
        scores = score(prediction.loss[at], run.loss[after])
        keep = run.steps >= CURVE_FROM * run.last_step
        steps = run.steps[keep]
        loss = prediction.loss[steps - 1]
        stderr = None if prediction.loss_stderr is None else prediction.loss_stderr[steps - 1]
        sd0 = curve_sd(
            fitted, run.schedule, steps, loss, stderr, None, no_size_term, run.model_size
        )
        ratio = extrapolation(fitted, run.schedule, steps, model_size=run.model_size).size_ratio
        out.append(
            Outcome(
                scenario.name,
                scenario.data_set,
                law_name,
                run,
                scores.mape,
                100 * (loss[-1] / run.loss[keep][-1] - 1),
                run.loss[keep],
                loss,
                sd0,
                float(np.log(ratio)),
            )
        )
    return out


def choose_c(outcomes: list[Outcome]) -> float:
    """The size coefficient with the lowest mean interval score of final losses."""
    return min(C_GRID, key=lambda c: float(np.mean([o.interval_score(c) for o in outcomes])))


def coverage(outcomes: list[Outcome], c: float) -> tuple[float, float]:
    """% of final losses and of whole-curve points inside their 90 % interval."""
    finals = np.mean([o.final_inside(c) for o in outcomes])
    inside = np.concatenate(
        [np.abs(o.predicted - o.observed) <= interval_factor(LEVEL) * o.sd(c) for o in outcomes]
    )
    return 100 * float(finals), 100 * float(np.mean(inside))


def curve_table(outcomes: list[Outcome], c: float) -> list[str]:
    lines = [
        "| scenario | law | held-out run | size | MAPE % | final err % | 90 % half-width % "
        "| inside |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        half = 100 * interval_factor(LEVEL) * o.sd(c)[-1] / o.predicted[-1]
        lines.append(
            f"| {o.scenario} | {o.law} | {o.run.name[:60]} | {format_size(o.run.model_size)} | "
            f"{o.mape:.3f} | {o.final_error:+.3f} | {half:.3f} | "
            f"{'yes' if o.final_inside(c) else 'NO'} |"
        )
    return lines


def summary_table(outcomes: list[Outcome], c: float) -> list[str]:
    lines = [
        "| scenario | law | curves | mean MAPE % (largest size) | mean MAPE % per size "
        "| max |final err| % | final inside 90 % | curve points inside 90 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key in dict.fromkeys((o.scenario, o.law) for o in outcomes):
        group = [o for o in outcomes if (o.scenario, o.law) == key]
        top = max(o.run.model_size for o in group)
        largest = [o.mape for o in group if o.run.model_size == top]
        finals, points = coverage(group, c)
        worst = max(abs(o.final_error) for o in group)
        sizes = sorted({o.run.model_size for o in group})
        per_size = ", ".join(
            f"{format_size(n)}: {np.mean([o.mape for o in group if o.run.model_size == n]):.2f}"
            for n in sizes
        )
        lines.append(
            f"| {key[0]} | {key[1]} | {len(group)} | {np.mean(largest):.3f} | {per_size} | "
            f"{worst:.3f} | {finals:.0f} % | {points:.0f} % |"
        )
    return lines


def cross_validation(outcomes: list[Outcome]) -> tuple[list[str], float]:
    """c_size chosen on one data set and scored on the other, and chosen on both."""
    lines = ["| chosen on | c_size | scored on | final inside 90 % | curve points inside |"]
    lines.append("|---|---|---|---|---|")
    sets = sorted({o.data_set for o in outcomes})
    for train in sets:
        c = choose_c([o for o in outcomes if o.data_set == train])
        for test in (s for s in sets if s != train):
            finals, points = coverage([o for o in outcomes if o.data_set == test], c)
            lines.append(f"| {train} | {c:g} | {test} | {finals:.0f} % | {points:.0f} % |")
    chosen = choose_c(outcomes)
    lines += ["", f"c_size chosen on both data sets: {chosen:g} (library: {SIZE_FACTOR:g})"]
    return lines, chosen


BEGIN, END = "<!-- cross_size: begin -->", "<!-- cross_size: end -->"
HEADER = """Made by `python benchmarks/cross_size.py --markdown docs/model-size.md` (public data in
`../shared/data`; the scenarios are in the script's docstring). Intervals: 90 %, with the
library's size coefficient; MAPE over every logged point after warmup.

"""


def write_markdown(
    path: Path, text: str, begin: str = BEGIN, end: str = END, header: str = HEADER
) -> None:
    """``text`` between the page's markers (the page around them is kept), or the whole page."""
    block = f"{begin}\n{header}{text}\n{end}"
    page = path.read_text() if path.exists() else ""
    if begin in page and end in page:
        block = page[: page.index(begin)] + block + page[page.index(end) + len(end) :]
    path.write_text(block if block.endswith("\n") else block + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_option(parser)
    parser.add_argument("--laws", default="momentum-size,multipower-size,forward-momentum-size")
    parser.add_argument(
        "--scenarios",
        default="mpl-probe,mpl-probe-cooldown,mpl-pair,sp-209m,sp-124m,sp-209m-tokens,"
        "sp-124m-tokens",
    )
    parser.add_argument("--cuts", default="0.6", help="backtest cuts, comma-separated")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    parser.add_argument("--save", type=Path, metavar="FILE", help="keep the outcomes (pickle)")
    parser.add_argument("--load", type=Path, nargs="*", help="tables from saved outcomes only")
    parser.add_argument(
        "--fits",
        type=Path,
        metavar="FILE",
        help="reuse the fits kept here (pickle, by scenario and law) and keep new ones: the "
        "targets are predicted again without refitting (delete it after changing a law)",
    )
    args = parser.parse_args()
    if args.load:
        saved = [pickle.loads(path.read_bytes()) for path in args.load]
        outcomes = [o for kept in saved for o in kept[0]]
        timing = [t for kept in saved for t in kept[1]]
        render(args, outcomes, timing, [r for kept in saved for r in (kept[2:] or [[]])[0]])
        return
    wanted = args.scenarios.split(",")
    scenarios = mpl_scenarios(data_set(args.data, "multipowerlaw"))
    if any(name.startswith("sp-") for name in wanted):
        scenarios += scaling_scenarios(data_set(args.data, "lr-scheduling"))
    cuts = tuple(float(c) for c in args.cuts.split(","))
    outcomes: list[Outcome] = []
    timing = []
    # by the scenario's fitted runs (a -tokens scenario shares its fit) and law
    fits: dict[tuple[str, str], FittedLaw] = {}
    if args.fits and args.fits.exists():
        fits = pickle.loads(args.fits.read_bytes())
    loaded = set(fits)
    for scenario in (s for s in scenarios if s.name in wanted):
        for law in args.laws.split(","):
            start = time.perf_counter()
            key = (scenario.name.removesuffix("-tokens"), law)
            kept = key in loaded
            if key not in fits:
                fits[key] = fit_scenario(scenario, law, cuts)
                if args.fits:
                    args.fits.write_bytes(pickle.dumps(fits))
            outcomes += evaluate(scenario, law, fits[key])
            took = f"{time.perf_counter() - start:.0f} s" + (" (fit kept from --fits)" * kept)
            timing.append(f"{scenario.name} {law}: {took}")
            print(timing[-1], flush=True)
    laws = args.laws.split(",")
    rule = batch_rule(
        [s for s in scenarios if s.name in wanted],
        {key: fitted for key, fitted in fits.items() if key[1] in laws},
    )
    if args.save:
        args.save.write_bytes(pickle.dumps((outcomes, timing, rule)))
    render(args, outcomes, timing, rule)


def as_lrcurve_runs(outcomes: list[Outcome]) -> list[Outcome]:
    """Each held-out curve as lrcurve is meant to be run on it: a target of another batch than
    the fitted runs on their clock of tokens (its ``-tokens`` outcome), the others as fitted."""
    clocked = {
        (o.scenario.removesuffix("-tokens"), o.law, o.run.name)
        for o in outcomes
        if o.scenario.endswith("-tokens")
    }
    return [
        o
        for o in outcomes
        if o.scenario.endswith("-tokens") or (o.scenario, o.law, o.run.name) not in clocked
    ]


def render(
    args: argparse.Namespace,
    outcomes: list[Outcome],
    timing: list[str],
    rule: list[tuple[float, Outcome]],
) -> None:
    """Print the tables (and write them to ``--markdown``)."""
    cv_lines, _ = cross_validation(as_lrcurve_runs(outcomes))
    lines = ["### Per scenario", "", *summary_table(outcomes, SIZE_FACTOR), ""]
    lines += ["### Size coefficient, cross-validated across data sets", "", *cv_lines, ""]
    if rule:
        lines += ["### The token clock's LR rule (targets of twice the batch)", ""]
        lines += [*batch_rule_table(rule, SIZE_FACTOR), ""]
    lines += ["### Per curve", "", *curve_table(outcomes, SIZE_FACTOR), ""]
    lines += ["Fit times (fit + backtests, shared 2-core machine): " + "; ".join(timing)]
    print("\n".join(lines))
    if args.markdown:
        write_markdown(args.markdown, "\n".join(lines))


if __name__ == "__main__":
    main()
