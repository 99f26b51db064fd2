"""Decisions with their uncertainty from the CLI: optimize's tie set and gain interval."""

import csv
import json

import pytest

from tests.test_cli import lrcurve
from tests.test_optimize import fit_dir  # noqa: F401 - the fixture


def _optimize(fit_dir, *extra):  # noqa: F811
    r = lrcurve(
        "optimize", "--family", "wsd", "--steps", 72000, "--shapes", "linear,sqrt", *extra,
        cwd=fit_dir,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r


def test_optimize_json_has_the_tie_set_and_every_candidates_interval(fit_dir):  # noqa: F811
    out = json.loads(_optimize(fit_dir, "--json").stdout)
    assert out["level"] == 0.9
    best, candidates, ties = out["best"], out["candidates"], out["tie_set"]
    assert best["tied"] and best["vs_best"]["value"] == 0 and best["vs_best"]["sd"] == 0
    assert ties[0]["loss"] == best["loss"] and all(t["tied"] for t in ties)
    assert len(ties) == sum(c["tied"] for c in candidates) < len(candidates)
    for c in candidates:
        low, high = c["interval"]["lower"], c["interval"]["upper"]
        assert low < c["loss"] < high
        to_best = c["vs_best"]
        assert to_best["value"] == pytest.approx(c["loss"] - best["loss"])
        # in the tie set exactly when the difference's interval holds 0
        assert c["tied"] == (to_best["lower"] <= 0 <= to_best["upper"])
        # the difference is surer than either loss
        assert to_best["upper"] - to_best["lower"] < high - low
    gain = out["gain_interval"]
    assert gain["lower"] < out["gain"] < gain["upper"] and gain["level"] == 0.9
    assert out["baseline"]["interval"]["lower"] < out["baseline"]["loss"]


def test_a_lower_level_ties_fewer_candidates(fit_dir):  # noqa: F811
    at = {q: json.loads(_optimize(fit_dir, "--json", "--level", q).stdout) for q in (0.5, 0.9)}
    names = {q: {(t["shape"], t["decay"]) for t in out["tie_set"]} for q, out in at.items()}
    assert names[0.5] < names[0.9]
    assert at[0.5]["gain_interval"]["level"] == 0.5


def test_optimize_table_csv_and_plot_mark_the_tie_set(fit_dir):  # noqa: F811
    r = _optimize(fit_dir, "-o", "ties.csv", "--plot", "ties.png", "--force")
    assert "1 =" in r.stdout and "vs best [90 % interval]" in r.stdout
    assert "tie set (90 %):" in r.stdout and "not distinguishable from the best" in r.stdout
    assert "gain over the baseline" in r.stdout and "(90 %)" in r.stdout
    with open(fit_dir / "ties.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["tied"] == "True" and rows[0]["vs_best"] == "0.0"
    assert {"lower", "upper", "vs_best_lower", "vs_best_upper"} <= set(rows[0])
    assert (fit_dir / "ties.png").stat().st_size > 10_000


def test_a_level_outside_0_1_is_refused(fit_dir):  # noqa: F811
    r = lrcurve("optimize", "--level", 1.5, cwd=fit_dir)
    assert r.returncode == 2 and "--level" in r.stderr
