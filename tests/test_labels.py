"""Short run labels (given, from the schedule, or the name shortened) and plots that stay
readable with many runs of long W&B names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import data_path

from lrcurve.errors import ParameterError
from lrcurve.io import read_runs
from lrcurve.io.labels import (
    MAX_LABEL,
    label_runs,
    parse_labels,
    schedule_label,
    schedule_text,
    shorten_names,
)
from lrcurve.plotting import add_legend, plt, run_styles
from lrcurve.schedules import WSD, Constant, Cosine, Piecewise, Warmup, rewarmup

WANDB = data_path("lr-scheduling", "data")
# real W&B run names, ~130 characters each
NAMES = sorted(p.stem for p in WANDB.glob("*.json"))


def _wandb(prefix: str) -> list:
    return [run for path in sorted(WANDB.glob(prefix + "*.json")) for run in read_runs(path)]


def test_schedules_are_labelled_shortly():
    assert schedule_label(Warmup(WSD(2e-3, 50_000, 0.2, "sqrt"), 300)) == "wsd 20% sqrt 50k"
    assert schedule_label(WSD(1e-3, 44_444, 0.0)) == "constant 44.4k"
    assert schedule_label(Cosine(1e-3, 24_000, final=0.1)) == "cosine 24k to 10%"
    assert schedule_label(Constant(1e-3)) == "constant"
    assert schedule_label(Piecewise((1.0, 10.0), (1e-3, 1e-4))) is None  # a logged LR
    join = rewarmup(Constant(1e-3, 40_000), 40_000, Cosine(1e-3, 32_000), 1_000)
    assert schedule_label(join) == "constant 40k | @40k re-warmup cosine 32k"
    long = Piecewise(tuple(float(s) for s in range(1, 200)), tuple([1e-3] * 199))
    assert len(schedule_text(long)) <= 2 * MAX_LABEL


def test_wandb_runs_are_labelled_from_their_config_with_the_lr_when_it_differs():
    runs = label_runs(_wandb("ann124-0.2_") + _wandb("cos-10-124m_"))
    labels = [r.label for r in runs]
    assert len(set(labels)) == len(labels)
    assert "wsd 20% sqrt 50k lr 2e-3" in labels and "cosine 25k to 10% lr 5e-4" in labels
    assert all(len(label) <= 30 for label in labels)
    same_lr = label_runs(_wandb("ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001"))
    assert [r.label for r in same_lr] == ["wsd 20% linear 15k", "wsd 20% linear 25k"]


def test_clashing_labels_get_the_distinct_part_of_their_names():
    runs = label_runs(
        _wandb("openwebtext2_") + _wandb("sl_slimpajama_llama_norm_nlayers10_nhead8_lr0.001")
    )
    assert [r.label for r in runs] == [
        "constant 17.5k (openwebtext2)",
        "constant 17.5k (sl_slimpajama)",
    ]


def test_names_lose_their_common_prefix_and_suffix_and_stay_short_and_unique():
    assert shorten_names(["run_lr1e-3_seed0", "run_lr3e-3_seed0"]) == ["lr1e-3", "lr3e-3"]
    assert shorten_names(["cosine_24000", "constant_24000"]) == ["cosine", "constant"]
    assert shorten_names(["only"]) == ["only"]
    assert shorten_names(["r::fire:"]) == ["r::fire:"]  # a name alone is kept as it is
    short = shorten_names(NAMES)
    assert all(len(s) <= MAX_LABEL for s in short)
    assert len(short) == len(NAMES)


def test_given_labels_win_and_name_a_file_or_a_run(samples):
    runs = read_runs(samples / "runs.csv") + read_runs(samples / "wsd.csv")
    given = parse_labels([f"{samples / 'wsd.csv'}=my wsd", "runs:cosine=cos"])
    assert given == {str(samples / "wsd.csv"): "my wsd", "runs:cosine": "cos"}
    assert parse_labels(["out/lr=1e-3/log.csv=small"]) == {"out/lr=1e-3/log.csv": "small"}
    labelled = label_runs(runs, given)
    assert [r.label for r in labelled] == [
        "runs:constant",
        "cos",
        "my wsd",
    ]  # "wsd": no shared prefix
    with pytest.raises(ParameterError, match="holds 2 runs") as caught:
        label_runs(runs, {str(samples / "runs.csv"): "x"})
    assert caught.value.param == "labels"
    with pytest.raises(ParameterError, match="no run read from it"):
        label_runs(runs, {"nothing.csv": "x"})
    with pytest.raises(ParameterError, match="FILE=NAME"):
        parse_labels(["no-equals-sign"])


def test_a_label_given_on_the_command_line_reaches_the_table_and_the_json(cli, samples, tmp_path):
    args = ("fit", samples / "constant.csv", samples / "cosine.csv", "--warmup", "2160")
    named = (f"--label={samples / 'cosine.csv'}=the cosine run",)
    result = cli(*args, *named, "-o", tmp_path / "fit.json", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [(r["name"], r["label"]) for r in runs] == [
        ("constant", "constant"),
        ("cosine", "the cosine run"),
    ]
    table = cli(*args, *named, "-o", tmp_path / "fit2.json")
    assert "the cosine run" in table.stdout
    saved = json.loads((tmp_path / "fit.json").read_text())["runs"]
    assert saved[1]["label"] == "the cosine run"  # kept in the fit file for later plots


def test_a_bad_label_is_one_line_naming_the_flag(cli, samples):
    result = cli("fit", samples / "constant.csv", "--label", "nothing.csv=x")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "--label" in line and "nothing.csv" in line


def test_many_runs_get_distinct_colours_and_styles():
    for n in (3, 14, 20, 35):
        styles = run_styles(n)
        keys = [(tuple(np.atleast_1d(plt.matplotlib.colors.to_rgba(c))), s) for c, s in styles]
        assert len(set(keys)) == n


def test_a_long_legend_goes_beside_the_axes_without_squeezing_them():
    """14 real W&B run names: the axes keep their width, the legend is outside them."""

    def axes_width(labels: list[str]) -> float:
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, (label, (color, style)) in enumerate(zip(labels, run_styles(len(labels)))):
            ax.plot([0, 1], [i, i + 1], style, color=color, label=label)
        add_legend(ax)
        fig.tight_layout()
        fig.canvas.draw()
        width = ax.get_position().width * fig.get_size_inches()[0]
        legend = ax.get_legend().get_window_extent()
        inside = legend.x0 < ax.get_window_extent().x1
        plt.close(fig)
        return width if not inside or len(labels) <= 6 else 0.0

    alone = axes_width(["one run"])
    assert axes_width(NAMES[:14]) >= 0.9 * alone
    assert axes_width([f"run {i}" for i in range(14)]) >= 0.9 * alone


def test_compare_labels_fitted_and_held_out_runs_as_one_set(cli, samples):
    result = cli(
        "compare",
        samples / "constant.csv",
        "--holdout",
        samples / "cosine.csv",
        "--warmup",
        "2160",
        "--label",
        f"{samples / 'cosine.csv'}=held cosine",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    heldout = json.loads(result.stdout)["laws"][0]["heldout"]
    assert [(h["run"], h["label"]) for h in heldout] == [("cosine", "held cosine")]
