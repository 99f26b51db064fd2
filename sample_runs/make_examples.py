"""Write the small example files the docs use, from ``wsd.csv`` and a fixed random seed.

    python sample_runs/make_examples.py

- ``drifting.csv``: ``wsd.csv`` with its loss 2 % higher from step 15000 on (a run that drifts,
  for ``lrcurve check``'s exit status 1).
- ``live.csv``: ``wsd.csv`` cut at step 20064, just as its decay starts (a run still training,
  for ``check``'s forecast of the rest).
- ``sweeps_synthetic.csv``: 20 **synthetic** optimal-LR sweeps (batch in sequences, tokens, best
  LR) drawn from the Power scheduler paper's ``lr = batch * 4.6 * tokens^-0.51`` with 5 %
  log-normal noise (for ``lrcurve fit-power``; no real sweep table was available).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DRIFT_FROM, DRIFT = 15000, 1.02
LIVE_UNTIL = 20064


def _rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(HERE / name, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main(folder: Path = HERE) -> None:
    """Write the three files into ``folder`` (this one by default)."""
    header, rows = _rows("wsd.csv")
    step, loss = header.index("step"), header.index("loss")
    drifting = [
        [*row[:loss], f"{float(row[loss]) * DRIFT:.6g}", *row[loss + 1 :]]
        if int(row[step]) >= DRIFT_FROM
        else row
        for row in rows
    ]
    _write(folder / "drifting.csv", header, drifting)
    _write(folder / "live.csv", header, [row for row in rows if int(row[step]) <= LIVE_UNTIL])

    rng = np.random.default_rng(2408_13359)
    sweeps = []
    for batch in (16, 32, 64, 128):
        for tokens in (1e9, 2e9, 4e9, 8e9, 1.6e10):
            lr = batch * 4.6 * tokens**-0.51 * np.exp(rng.normal(0.0, 0.05))
            sweeps.append([batch, f"{tokens:g}", f"{lr:.4g}"])
    _write(folder / "sweeps_synthetic.csv", ["batch", "tokens", "optimal_lr"], sweeps)


if __name__ == "__main__":
    main()
