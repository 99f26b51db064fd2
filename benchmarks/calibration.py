"""The trust table: how often lrcurve's intervals contain the losses real runs reached.

On every shared family with a constant/cosine pair (``--data DIR``, default ``../shared/data``)
the default momentum law is fitted on that pair and predicts the family's other runs:

- ``mpl-25``, ``mpl-100``: the multi-power-law paper's protocol (``constant_24000`` +
  ``cosine_24000`` -> the other seven curves);
- ``124m-lr*``: the 124M cooldown sweeps, per peak LR: the constant run (``stable-124m``) and
  the 25k cosine run (``cos-10-124m``) -> the linear WSD cooldowns of 10-90 % (``ann124-*``);
- ``sp-*`` / ``owt-*``: the SlimPajama and OpenWebText2 scaling families, per size: the long
  constant run and the longest cosine run -> the 20 % cooldown branches (``ann0.2``,
  ``ann210-0.2``). Their cosine runs use another peak LR than the constant run.

For the final loss and for whole-curve points (every logged point after 10 % of the run) it
prints the nominal 50/80/90 % against the observed coverage, the median 90 % half-width and
the median |error| (both in % of the loss), per family and overall: first for today's
interval (the delta-method s.e. of the fit as a Gaussian), then for the predictive interval of
:mod:`lrcurve.uncertainty` with its settings chosen by leave-one-family-out cross-validation.

    python benchmarks/calibration.py [--data DIR] [--markdown docs/calibration.md]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from public_data import add_data_option, data_set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accuracy import FIT as MPL_FIT  # noqa: E402
from accuracy import PREDICT as MPL_PREDICT  # noqa: E402
from cooldown_sweeps import HORIZONS, stable_and_cosine, sweep_runs  # noqa: E402

from lrcurve import fit, read_runs  # noqa: E402
from lrcurve.fitted import FittedLaw  # noqa: E402
from lrcurve.runs import Run  # noqa: E402
from lrcurve.uncertainty import (  # noqa: E402
    DEFAULT,
    Discrepancy,
    Extrapolation,
    discrepancy_sd,
    ensemble,
    ensemble_spread,
    extrapolation,
    law_error,
    predictive_sd,
    z_value,
)

SWEEP_LRS = ("0.0001", "0.0005", "0.001", "0.002")
LEVELS = (0.5, 0.8, 0.9)
CURVE_FROM = 0.1  # whole-curve points are scored after this fraction of the run
SCALING = {"sl", "sl53", "sl93", "sl166", "openwebtext2", "stable-210m", "cos-210m"}
BRANCHES = {"ann0.2", "ann210-0.2"}
GRID = [
    Discrepancy(k, a, c, p, e)
    for k in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
    for a in (0.5, 1.0, 1.5, 2.0)  # the discrepancy grows with the horizon (a > 0): a prior
    for c in (0.0, 0.002, 0.004, 0.006, 0.008, 0.01)
    for p in (0.0, 1.0, 2.0, 4.0)
    for e in (0.0, 0.5, 1.0, 1.5, 2.0)
]  # without --ensemble the spread is 0 and e changes nothing: the first (0) is kept


HEADER = """# Calibration: how often lrcurve's intervals contain the real losses

Made by `python benchmarks/calibration.py --markdown docs/calibration.md` (public data in
`../shared/data`; about 40 s on one core). Each family: the default momentum law fitted on a
constant and a cosine run, predicting the family's other runs (the benchmark's docstring
lists them). Coverage: % of held-out final losses (or of whole-curve points after 10 % of each
run) inside the interval at the nominal level. Half-width and |error|: medians, in % of the
loss; *ratio*: their quotient (target at most 2.5). Target for 90 %: 85-95 % of final losses.

The predictive interval (`lrcurve/uncertainty.py`) is Gaussian with
`sd^2 = se^2 + (L d)^2`, `d^2 = (k b max(1, t/T)^a (1 + c_peak m_peak))^2 + (c_steep ln r)^2`:
`b` is the RMS error of backtests on the fitted runs themselves (each cut at 40-80 %,
refitted, forecasting its own final loss), `t/T` the horizon ratio, `r` how much more
the LR fell over the last 5 % of the fitted horizon than it ever does in a fitted run,
`m_peak` a peak LR other than the fitted one. `k, c_steep, c_peak` come from a grid and `a`
from 0.5-2 (the discrepancy grows with the horizon by design), minimising the interval score
(Gneiting & Raftery 2007) at 50/80/90 % in units of `b`, the three groups of families (the
paper's protocol, the 124M sweeps, the scaling families) weighted equally. The second table
scores each family with the settings chosen on all the others (leave one family out); the
library default is the setting chosen on all families (but see the last paragraph). The
scaling families fit a constant run and a cosine run at twice its peak LR: the law misses
their cooldowns by about 4 %, which their backtests see (b of 2.5-3.5 %).

Not adopted: with `--ensemble` the spread of the same fit at p = 0.7 and 1.3 and of the
multipower law joins `sd` (factor `e`, cross-validated too). Measured on 2026-11-29: held-out
90 % final coverage 84 % (83 % without), median half-width / |error| 1.80 (1.92), curve
coverage 89 % (93 %) at a curve ratio of 3.4 (4.5), for three more fits per prediction; the
gain is too small for the cost. Where it fails: the 124M sweeps at peak LR 2e-3, whose short
cooldowns the law predicts 1-3 % too high with no sign of it in the two fitted runs.

Since `fit` keeps `b` (2026-11-29), its backtest refits start from the full fit instead of the
law's own starting points (10x cheaper for the multipower law): `b` is unchanged on the
paper's protocol and the 124M sweeps and 1-3 % higher on the scaling families, which tips
their held-out choice and the choice on all families from k = 1 to k = 0.75. The library's
default is the choice on all families (k = 0.75), by the rule above, although k = 1 covers
better on these same families (90 %: 89 % of final losses against 84 %; 80 %: 82 % against
52 %): picking k by those figures would tune it on the scored curves. The interval score
trades coverage for width, and the scaling families, whose cooldowns the law misses by ~4 %,
pull it narrower; the 80 % intervals under-cover (63 % held out), an open item of issue 14.

"""


def group(family: str) -> str:
    """The kind of family: the paper's protocol, the 124M sweeps, or the scaling families."""
    return {"mpl": "mpl", "124m": "124m-sweeps"}.get(family.split("-")[0], "scaling")


@dataclass
class Family:
    name: str
    fit_runs: list[Run]
    targets: list[Run]


@dataclass
class Forecast:
    """One held-out run: observed and predicted loss with today's s.e. at its scored points."""

    family: str
    run: str
    steps: NDArray[np.int64]
    observed: NDArray[np.float64]
    predicted: NDArray[np.float64]
    stderr: NDArray[np.float64]
    where: Extrapolation
    scale: float  # the family fit's backtest scale b
    spread: NDArray[np.float64]  # the ensemble's s.d. at the scored points


def mpl_families(data: Path) -> list[Family]:
    families = []
    for size in ("25", "100"):
        runs = {
            name: read_runs(data / f"csv_{size}" / f"{name}.csv", warmup_steps=2160)[0]
            for name in MPL_FIT + MPL_PREDICT
        }
        families.append(
            Family(f"mpl-{size}", [runs[n] for n in MPL_FIT], [runs[n] for n in MPL_PREDICT])
        )
    return families


def sweep_families(data: Path) -> list[Family]:
    return [
        Family(
            f"124m-lr{lr}",
            stable_and_cosine(data, lr),
            [r for steps in HORIZONS for r in sweep_runs(data, lr, steps)],
        )
        for lr in SWEEP_LRS
    ]


def scaling_families(folder: Path) -> list[Family]:
    """Per (size, dataset): the longest constant run + the longest cosine run -> the 20 %
    cooldown branches of the constant run."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    with open(folder / "index.csv") as handle:
        for row in csv.DictReader(handle):
            if row["family"] in SCALING | BRANCHES:
                groups.setdefault((row["params"], row["dataset"]), []).append(row)
    families = []
    for (params, dataset), rows in sorted(groups.items(), key=lambda g: int(g[0][0])):
        constant = [r for r in rows if r["family"] in SCALING and r["scheduler"] == "wsd"]
        cosine = [r for r in rows if r["scheduler"] == "cos"]
        branches = [r for r in rows if r["family"] in BRANCHES]
        if not (constant and cosine and branches):
            continue
        longest = [max(rs, key=lambda r: int(r["iterations"])) for rs in (constant, cosine)]
        fit_runs = [run for r in longest for run in read_runs(folder / r["file"])]
        targets = [run for r in branches for run in read_runs(folder / r["file"])]
        tag = "sp" if dataset == "slimpajama" else "owt"
        families.append(Family(f"{tag}-{int(params) / 1e6:.0f}m", fit_runs, targets))
    return families


def shared_families(data: Path) -> list[Family]:
    """Every family of the public sets in ``data`` (the module docstring lists them)."""
    lr_scheduling = data_set(data, "lr-scheduling")
    return (
        mpl_families(data_set(data, "multipowerlaw"))
        + sweep_families(lr_scheduling / "data")
        + scaling_families(lr_scheduling)
    )


def forecasts(
    family: Family, fitted: FittedLaw, scale: float, members: list[FittedLaw]
) -> list[Forecast]:
    """Today's point prediction and delta-method s.e. at each target's scored points, with how
    far each extrapolates."""
    out = []
    for run in family.targets:
        prediction = fitted.predict(run.schedule, run.last_step, level=None)
        keep = run.steps >= CURVE_FROM * run.last_step
        at = run.steps[keep] - 1
        stderr = prediction.loss_stderr
        out.append(
            Forecast(
                family.name,
                run.name,
                run.steps[keep],
                run.loss[keep],
                prediction.loss[at],
                np.zeros(at.size) if stderr is None else stderr[at],
                extrapolation(fitted, run.schedule, run.steps[keep]),
                scale,
                ensemble_spread(fitted, members, run.schedule, run.steps[keep]),
            )
        )
    return out


def coverage_row(
    name: str, errors: NDArray[np.float64], sd: NDArray[np.float64], observed: NDArray[np.float64]
) -> str:
    """Observed coverage at each level, median 90 % half-width and median |error| (% of loss)."""
    cover = [np.mean(np.abs(errors) <= z_value(q) * sd) for q in LEVELS]
    half = 100 * np.median(z_value(0.9) * sd / observed)
    err = 100 * np.median(np.abs(errors) / observed)
    return (
        " | ".join(f"{100 * c:.0f}" for c in cover)
        + f" | {half:.3f} | {err:.3f} | {half / max(err, 1e-12):.2f}"
    )


Sd = Callable[[Forecast], NDArray[np.float64]]


def trust_table(title: str, items: list[Forecast], sd_of: Sd) -> list[str]:
    """The markdown table: per family and overall, final loss and whole-curve points."""
    head = "50 % | 80 % | 90 % | 90 % half-width % | median abs error % | ratio"
    lines = [
        f"### {title}",
        "",
        f"| family | runs | final: {head} | curve: {head} |",
        "|---|---:|" + "---:|" * 12,
    ]
    names = list(dict.fromkeys(f.family for f in items)) + ["all"]
    for name in names:
        group = [f for f in items if name in ("all", f.family)]
        sds = [sd_of(f) for f in group]
        final = coverage_row(
            name,
            np.array([f.predicted[-1] - f.observed[-1] for f in group]),
            np.array([s[-1] for s in sds]),
            np.array([f.observed[-1] for f in group]),
        )
        curve = coverage_row(
            name,
            np.concatenate([f.predicted - f.observed for f in group]),
            np.concatenate(sds),
            np.concatenate([f.observed for f in group]),
        )
        label = f"**{name}**" if name == "all" else name
        lines.append(f"| {label} | {len(group)} | {final} | {curve} |")
    return lines


def method_sd(item: Forecast, settings: Discrepancy) -> NDArray[np.float64]:
    """The predictive s.d. of :mod:`lrcurve.uncertainty` at an item's scored points."""
    relative = discrepancy_sd(item.where, item.scale, settings)
    spread = settings.ensemble_factor * item.spread
    return predictive_sd(item.predicted, item.stderr, relative, spread)


@dataclass
class Finals:
    """The final-loss quantities of every item as arrays, to score many settings at once."""

    family: NDArray[np.int64]
    observed: NDArray[np.float64]
    predicted: NDArray[np.float64]
    stderr: NDArray[np.float64]
    scale: NDArray[np.float64]
    where: Extrapolation  # one entry per item
    spread: NDArray[np.float64]
    weight: NDArray[np.float64]  # per family: 1 / families in its group

    @classmethod
    def of(cls, items: list[Forecast], names: list[str]) -> Finals:
        groups = [group(n) for n in names]

        def column(get: Callable[[Forecast], float]) -> NDArray[np.float64]:
            return np.array([get(f) for f in items], dtype=np.float64)

        return cls(
            np.array([names.index(f.family) for f in items]),
            column(lambda f: f.observed[-1]),
            column(lambda f: f.predicted[-1]),
            column(lambda f: f.stderr[-1]),
            column(lambda f: f.scale),
            Extrapolation(
                column(lambda f: f.where.horizon_ratio[-1]),
                column(lambda f: f.where.steepness[-1]),
                np.array([f.where.peak_flag for f in items]),
            ),
            column(lambda f: f.spread[-1]),
            np.array([1 / groups.count(g) for g in groups]),
        )

    def family_scores(self, s: Discrepancy) -> NDArray[np.float64]:
        """Per family, the mean interval score (Gneiting & Raftery 2007, eq. 43)
        ``(u - l) + 2/alpha (l - y)_+ + 2/alpha (y - u)_+`` over the levels 50/80/90 %, relative
        to the loss and in units of the family's backtest scale ``b`` (so that a family whose
        law errs by 4 % does not outweigh one where it errs by 0.3 %)."""
        relative = discrepancy_sd(self.where, self.scale, s)
        spread = s.ensemble_factor * self.spread
        sd = predictive_sd(self.predicted, self.stderr, relative, spread) / self.observed
        miss = np.abs(self.predicted / self.observed - 1)
        total = np.zeros_like(sd)
        for level in LEVELS:
            half, alpha = z_value(level) * sd, 1 - level
            total += 2 * half + 2 / alpha * np.maximum(miss - half, 0)
        count = np.bincount(self.family)
        total /= len(LEVELS) * self.scale
        return np.bincount(self.family, total) / np.maximum(count, 1)


def choose(finals: Finals, families: list[int]) -> Discrepancy:
    """The grid's settings with the least interval score, the three groups of families
    weighted equally (:func:`group`)."""
    best, best_score = GRID[0], np.inf
    weight = finals.weight[families]
    for settings in GRID:
        value = float(np.sum(finals.family_scores(settings)[families] * weight) / weight.sum())
        if value < best_score:
            best, best_score = settings, value
    return best


def cross_validated(items: list[Forecast], names: list[str]) -> dict[str, Discrepancy]:
    """Leave one family out: each family's settings chosen on all the others."""
    finals = Finals.of(items, names)
    return {
        name: choose(finals, [j for j in range(len(names)) if j != i])
        for i, name in enumerate(names)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the tables here")
    parser.add_argument(
        "--ensemble",
        action="store_true",
        help="also fit the ensemble (p = 0.7, 1.3, the multipower law) and let the "
        "cross-validation weigh its spread (about 40 s more)",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    families = shared_families(args.data)
    print(f"read {len(families)} families in {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    fits = {f.name: fit(f.fit_runs) for f in families}  # with b, from 10 warm refits each
    print(f"fitted with the backtests in {time.perf_counter() - start:.1f} s", flush=True)
    scales = {name: law_error(fitted) for name, fitted in fits.items()}
    start = time.perf_counter()
    members = {name: ensemble(fitted) if args.ensemble else [] for name, fitted in fits.items()}
    if args.ensemble:
        print(f"ensembles (3 fits per family) in {time.perf_counter() - start:.1f} s", flush=True)
    items = [
        item
        for f in families
        for item in forecasts(f, fits[f.name], scales[f.name], members[f.name])
    ]
    names = [f.name for f in families]
    start = time.perf_counter()
    held_out = cross_validated(items, names)
    chosen = choose(Finals.of(items, names), list(range(len(names))))
    print(f"cross-validation in {time.perf_counter() - start:.1f} s", flush=True)
    lines = trust_table(
        "Today's interval: delta-method s.e. of the fit as a Gaussian", items, lambda f: f.stderr
    )
    lines += [""] + trust_table(
        "Predictive interval, settings chosen without the scored family (leave one family out)",
        items,
        lambda f: method_sd(f, held_out[f.family]),
    )
    lines += ["", "Settings chosen per held-out family:", ""]
    lines += [f"- {name}: {held_out[name]}, b = {100 * scales[name]:.3f} %" for name in names]
    lines += ["", f"Settings chosen on all families: {chosen}"]
    if chosen != DEFAULT:
        lines += [f"(lrcurve.uncertainty.DEFAULT is {DEFAULT}: update it to these)"]
    else:
        lines += ["(these are lrcurve.uncertainty.DEFAULT)"]
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text(HEADER + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
