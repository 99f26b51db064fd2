"""Why the momentum law misses the lr-scheduling scaling families' cooldowns: the peak LR.

Each size of the SlimPajama and OpenWebText2 scaling families has cosine runs at peak LR 2P
and a constant run at P with its 20 % cooldown branches (P = 1e-3 up to 93M, 5e-4 above).
Per size, the size-free momentum law is fitted four ways and scored in-sample (MAPE % over the
fitted points' steps after warmup) or on the runs it did not see:

- every run of the size together;
- each peak LR's runs alone (the cosines; the constant run and its cooldowns), scored
  in-sample and on the other peak LR's final losses;
- the calibration protocol: the constant run and the longest cosine, then the cooldowns'
  final-loss error %.

Then the choice of the size-aware laws' peak-LR exponents (lrcurve/laws/peak_lr.py) and of
the size-aware laws' LR term ``D``, on the OpenWebText2 family (which benchmarks/cross_size.py
does not score): momentum-size fitted on its 60M and 93M runs, with both exponents held at 1
(the published law), ``kappa`` alone fitted, both fitted, and both with ``D``; multipower-size
with both fitted, without and with ``D``; scored on the 166M runs.

    python benchmarks/peak_lr.py [--data DIR] [--markdown docs/model-size.md]
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cross_size import write_markdown
from public_data import add_data_option, data_set

from lrcurve import fit, read_runs
from lrcurve.fitted import FittedLaw
from lrcurve.laws.base import Law, LRHistory
from lrcurve.laws.momentum_size import MomentumSizeLaw
from lrcurve.laws.multipower_size import MultiPowerSizeLaw
from lrcurve.metrics import score
from lrcurve.runs import Run

FAMILIES = {"sl", "sl53", "sl93", "sl166", "ann0.2", "openwebtext2"}
BEGIN, END = "<!-- peak_lr: begin -->", "<!-- peak_lr: end -->"
HEADER = "Made by `python benchmarks/peak_lr.py --markdown docs/model-size.md`.\n\n"


def families(folder: Path) -> dict[tuple[str, int], dict[str, list[Run]]]:
    """Per (data set, size): its cosine runs, its constant run and its cooldowns."""
    out: dict[tuple[str, int], dict[str, list[Run]]] = {}
    with open(folder / "index.csv") as handle:
        for row in csv.DictReader(handle):
            if row["family"] not in FAMILIES:
                continue
            key = (row["dataset"], int(row["params"]))
            group = out.setdefault(key, {"cos": [], "constant": [], "cooldown": []})
            kind = "cooldown" if row["family"] == "ann0.2" else row["scheduler"]
            group["constant" if kind == "wsd" else kind] += read_runs(folder / row["file"])
    return {key: g for key, g in sorted(out.items()) if all(g.values())}


def mape(fitted: FittedLaw, runs: list[Run]) -> float:
    """Mean MAPE % of ``fitted`` on ``runs`` (steps after warmup)."""
    values = []
    for run in runs:
        prediction = fitted.predict(
            run.schedule, run.last_step, level=None, model_size=run.model_size
        )
        after = run.steps > run.warmup_steps
        values.append(score(prediction.loss[run.steps[after] - 1], run.loss[after]).mape)
    return float(np.mean(values))


def final_errors(fitted: FittedLaw, runs: list[Run]) -> list[float]:
    return [
        100
        * (
            fitted.predict(r.schedule, r.last_step, level=None, model_size=r.model_size).final_loss
            / r.loss[-1]
            - 1
        )
        for r in runs
    ]


def row(name: str, cos: list[Run], constant: list[Run], cooldowns: list[Run]) -> str:
    """One size: the four fits' figures."""
    wsd = constant + cooldowns
    together = fit(cos + wsd, backtest=False)
    alone = fit(cos, backtest=False), fit(wsd, backtest=False)
    protocol = fit([constant[0], max(cos, key=lambda r: r.last_step)], backtest=False)
    errors = final_errors(protocol, cooldowns)
    across = final_errors(alone[0], wsd) + final_errors(alone[1], cos)
    peaks = f"{constant[0].peak_lr:g} / {cos[0].peak_lr:g}"
    return (
        f"| {name} | {peaks} | {mape(together, cos):.2f} | {mape(together, wsd):.2f} | "
        f"{mape(alone[0], cos):.2f} | {mape(alone[1], wsd):.2f} | "
        f"{min(np.abs(across)):.1f} to {max(np.abs(across)):.1f} | "
        f"{min(errors):+.1f} to {max(errors):+.1f} |"
    )


def holding(law: type[Law]) -> type[Law]:
    """``law`` with some peak-LR exponents held at 1 (and the LR term ``D`` at 0) whatever the
    runs (``hold``)."""

    @dataclass(frozen=True)
    class Holding(law):  # type: ignore[valid-type, misc]
        hold: tuple[str, ...] = ()

        def held_values(self, histories: Sequence[LRHistory]) -> dict[str, tuple[float, str]]:
            held = {name: (0.0 if name == "D" else 1.0, "") for name in self.hold}
            return {**super().held_values(histories), **held}

    return Holding


VARIANTS = (
    (MomentumSizeLaw, "published", ("kappa", "mu", "D")),
    (MomentumSizeLaw, "kappa fitted", ("mu", "D")),
    (MomentumSizeLaw, "both fitted", ("D",)),
    (MomentumSizeLaw, "both fitted, and the LR term D", ()),
    (MultiPowerSizeLaw, "both fitted", ("D",)),
    (MultiPowerSizeLaw, "both fitted, and the LR term D", ()),
)


def choice(groups: dict[tuple[str, int], dict[str, list[Run]]]) -> list[str]:
    """The variants on OpenWebText2: fitted below 100M, scored on the larger size."""
    runs = [
        r for (ds, _), g in groups.items() if ds == "openwebtext2" for rs in g.values() for r in rs
    ]
    fitted_runs = [r for r in runs if r.model_size < 1e8]
    targets = [r for r in runs if r.model_size >= 1e8]
    lines = [
        "| OpenWebText2 60M + 93M -> 166M | variant | mean MAPE % | final err % | kappa | mu |",
        "|---|---|---|---|---|---|",
    ]
    for law, name, hold in VARIANTS:
        fitted = fit(fitted_runs, holding(law)(hold=hold), backtest=False)
        errors = final_errors(fitted, targets)
        lines.append(
            f"| {law.name} | {name} | {mape(fitted, targets):.2f} | "
            f"{min(errors):+.1f} to {max(errors):+.1f} "
            f"| {fitted['kappa'].value:.2f} | {fitted['mu'].value:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_option(parser)
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="write the table here")
    args = parser.parse_args()
    folder = data_set(args.data, "lr-scheduling")
    lines = [
        "| size | peak LR constant / cosine | all runs: cosine MAPE % | all runs: constant + "
        "cooldowns MAPE % | alone: cosine MAPE % | alone: constant + cooldowns MAPE % | "
        "alone -> the other peak LR: abs final err % | constant + longest cosine -> "
        "cooldowns' final err % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups = families(folder)
    for (dataset, size), group in groups.items():
        name = f"{'sp' if dataset == 'slimpajama' else 'owt'}-{size / 1e6:.0f}m"
        lines.append(row(name, group["cos"], group["constant"], group["cooldown"]))
    lines += ["", *choice(groups)]
    print("\n".join(lines))
    if args.markdown:
        write_markdown(args.markdown, "\n".join(lines), BEGIN, END, HEADER)


if __name__ == "__main__":
    main()
