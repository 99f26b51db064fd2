import json

import numpy as np
import pytest

from lrcurve.errors import InputError
from lrcurve.horizon import HorizonLaw, SweepPoint, fit_horizon_law, optimum_at_horizon
from tests.conftest import data_path
from tests.conftest import run_lrcurve as lrcurve


def synthetic_sweep(
    B=0.5,
    beta=0.3,
    horizons=(1e9, 2e9, 4e9, 8e9),
    lrs=(2e-4, 5e-4, 1e-3, 2e-3, 4e-3),
    noise=0.0,
    seed=0,
):
    rng = np.random.default_rng(seed)
    points = []
    for d in horizons:
        best = B * d**-beta
        for lr in lrs:
            loss = (
                3.0
                - 0.1 * np.log(d / 1e9)
                + 0.05 * np.log(lr / best) ** 2
                + noise * rng.standard_normal()
            )
            points.append(SweepPoint(d, lr, loss, f"d{d:g}-lr{lr:g}"))
    return points


def test_recovers_a_known_power_law_exactly():
    law = fit_horizon_law(synthetic_sweep())
    assert law.beta == pytest.approx(0.3, rel=1e-6)
    assert law.B == pytest.approx(0.5, rel=1e-5)
    assert all(o.bracketed for o in law.optima)
    lr, lo, hi = law.predict(1e11)
    assert lr == pytest.approx(0.5 * 1e11**-0.3, rel=1e-5)


def test_noisy_sweep_gives_an_interval_that_covers_the_truth():
    law = fit_horizon_law(synthetic_sweep(noise=0.002, seed=3))
    assert law.beta_stderr is not None and 0 < law.beta_stderr < 0.2
    lr, lo, hi = law.predict(3e10)
    truth = 0.5 * 3e10**-0.3
    assert lo < truth < hi


def test_vertex_outside_the_lrs_tried_falls_back_to_the_best_observed():
    # every LR tried lies below the optimum (1e-3): the parabola's vertex is an extrapolation
    points = [
        SweepPoint(1e9, lr, 3.0 + 0.01 * np.log(lr / 1e-3) ** 2) for lr in (1e-4, 2e-4, 3e-4, 5e-4)
    ]
    optimum = optimum_at_horizon(points)
    assert not optimum.bracketed and "outside" in optimum.note
    assert optimum.lr_opt == 5e-4 and optimum.log_lr_stderr is None


def test_diverged_runs_are_left_out_of_the_parabola():
    points = [p for p in synthetic_sweep(horizons=(1e9,))] + [
        SweepPoint(1e9, 8e-3, 7.5, "diverged")
    ]
    optimum = optimum_at_horizon(points)
    assert all(p.name != "diverged" for p in optimum.used) and "diverged" in optimum.note
    assert optimum.lr_opt == pytest.approx(0.5 * 1e9**-0.3, rel=1e-6)


def test_undetermined_beta_is_said():
    # optima that wander over horizons only 10 % apart: the slope in D is not determined
    points = [
        SweepPoint(d, lr, 3.0 + 0.02 * np.log(lr / best) ** 2)
        for d, best in ((1e9, 1e-3), (1.05e9, 1.3e-3), (1.1e9, 0.8e-3))
        for lr in (2e-4, 5e-4, 1e-3, 2e-3, 4e-3)
    ]
    law = fit_horizon_law(points)
    assert law.beta_stderr > abs(law.beta)
    assert any("do not determine" in w for w in law.warnings)
    assert not any(
        "do not determine" in w
        for w in fit_horizon_law(synthetic_sweep(noise=0.002, seed=3)).warnings
    )


def test_one_horizon_is_not_enough():
    with pytest.raises(InputError, match="at least 2"):
        fit_horizon_law(synthetic_sweep(horizons=(1e9,)))


def test_cli_on_the_shared_cooldown_sweep():
    index = data_path("lr-scheduling", "index.csv")
    r = lrcurve(
        "lr-horizon",
        "--table",
        index,
        "--where",
        "family=ann124-0.1",
        "--tokens-per-step",
        102400,
        "--target",
        1e10,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["unit"] == "tokens" and len(out["horizons"]) == 4
    # the best LR falls with the horizon (the paper's finding) and the fit says so with confidence
    assert out["beta"] > 0 and out["beta"] - 2 * out["beta_stderr"] > 0
    optima = [h["lr_opt"] for h in out["horizons"]]
    assert optima == sorted(optima, reverse=True)
    target = out["target"]
    assert target["lower95"] < target["lr_opt"] < target["upper95"] < optima[-1]


def test_cli_bad_filter_is_one_line_exit_2():
    r = lrcurve(
        "lr-horizon",
        "--table",
        data_path("lr-scheduling", "index.csv"),
        "--where",
        "nosuchcolumn",
    )
    assert r.returncode == 2 and "--where" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def grid_sweep(losses, horizons=(1000, 2000, 4000), lrs=(1e-3, 2e-3, 4e-3, 8e-3, 16e-3)):
    """Every horizon with the same loss-vs-LR shape (shifted down with the horizon)."""
    return [
        SweepPoint(h, lr, loss - 0.1 * i, f"h{h}-lr{lr:g}")
        for i, h in enumerate(horizons)
        for lr, loss in zip(lrs, losses)
    ]


def write_table(path, points):
    path.write_text(
        "name,steps,lr,loss\n"
        + "".join(f"{p.name},{p.horizon:g},{p.lr:g},{p.loss:.17g}\n" for p in points)
    )
    return path


def test_optima_at_the_edge_of_the_lrs_tried_give_no_zero_width_interval():
    # the best LR is the highest tried at every horizon: the optima agree exactly, yet they are only
    # bounds
    law = fit_horizon_law(grid_sweep([3.2, 3.1, 3.05, 3.02, 3.0]))
    assert all(o.log_lr_stderr is None for o in law.optima)
    assert (
        law.covariance is None
        and law.beta_stderr is None
        and "lowest or highest" in law.no_interval
    )
    assert law.predict(8000)[1:] == (None, None)
    assert any("no interval" in w for w in law.warnings)


def test_an_interior_grid_point_optimum_has_half_the_grid_spacing_as_its_error():
    # not convex in log LR (a W), best at the middle LR: known to the grid, not better
    law = fit_horizon_law(grid_sweep([3.0, 3.03, 2.99, 3.03, 3.0]))
    assert all(not o.bracketed and o.lr_opt == 4e-3 for o in law.optima)
    assert all(o.log_lr_stderr == pytest.approx(np.log(2) / 2) for o in law.optima)
    lr, lo, hi = law.predict(8000)
    assert law.no_interval == "" and hi / lo > 2  # an honest width, not 0.004 .. 0.004


def test_two_horizons_without_error_bars_have_no_interval():
    points = [
        SweepPoint(d, lr, 3.0 + 0.02 * np.log(lr / best) ** 2)
        for d, best in ((1e9, 1e-3), (4e9, 0.7e-3))
        for lr in (3e-4, 1e-3, 3e-3)
    ]
    law = fit_horizon_law(points)
    assert all(o.bracketed and o.log_lr_stderr is None for o in law.optima)
    assert law.covariance is None and "degrees of freedom" in law.no_interval


def test_scatter_alone_sets_the_interval_with_students_t():
    points = [
        SweepPoint(d, lr, 3.0 + 0.02 * np.log(lr / best) ** 2)
        for d, best in ((1e9, 1e-3), (2e9, 0.85e-3), (4e9, 0.75e-3))
        for lr in (3e-4, 1e-3, 3e-3)
    ]
    law = fit_horizon_law(points)
    assert all(o.log_lr_stderr is None for o in law.optima) and law.covariance is not None
    assert law.z95 == pytest.approx(12.706, rel=1e-4)  # one degree of freedom


def test_cli_says_why_there_is_no_interval(tmp_path):
    table = write_table(tmp_path / "sw.csv", grid_sweep([3.2, 3.1, 3.05, 3.02, 3.0]))
    r = lrcurve("lr-horizon", "--table", table, "--target", "8000steps")
    assert r.returncode == 0, r.stderr
    assert "no 95 % interval: " in r.stdout and "0.008 .. 0.008" not in r.stdout
    assert "beta ± n/a" in r.stdout
    out = json.loads(
        lrcurve("lr-horizon", "--table", table, "--target", "8000steps", "--json").stdout
    )
    assert out["target"]["lower95"] is None and out["target"]["upper95"] is None
    assert "lowest or highest" in out["target"]["no_interval"] and out["beta_stderr"] is None


def test_cli_signs_the_exponent_once(tmp_path):
    # the best LR rises with the horizon: beta < 0, printed D^+0.1..., never D^--0.1...
    rising = write_table(tmp_path / "rising.csv", synthetic_sweep(B=1.2e-4, beta=-0.1))
    r = lrcurve("lr-horizon", "--table", rising)
    assert r.returncode == 0, r.stderr
    assert "D^+0.1000" in r.stdout and "^--" not in r.stdout
    flat = write_table(
        tmp_path / "flat.csv", grid_sweep([3.2, 3.1, 3.05, 3.02, 3.0])
    )  # beta ~ ±1e-14
    assert "D^+0.0000" in lrcurve("lr-horizon", "--table", flat).stdout


@pytest.mark.parametrize("loss", [0.0, -2.5])
def test_cli_refuses_a_loss_that_is_not_positive(tmp_path, loss):
    points = grid_sweep([3.0, 2.9, 2.95, 3.0, 3.1])
    points[7] = SweepPoint(points[7].horizon, points[7].lr, loss, points[7].name)
    r = lrcurve("lr-horizon", "--table", write_table(tmp_path / "sw.csv", points))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"sw.csv: column 'loss' row 9: loss {loss:g} is not positive" in r.stderr
    with pytest.raises(InputError, match="positive"):
        fit_horizon_law(points)


def test_tokens_per_step_that_overflows_is_refused(tmp_path):
    table = write_table(tmp_path / "sw.csv", grid_sweep([3.0, 2.9, 2.95, 3.0, 3.1]))
    r = lrcurve("lr-horizon", "--table", table, "--tokens-per-step", "1e308")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (
        "--tokens-per-step" in r.stderr and "overflow" in r.stderr and "horizon(s)" not in r.stderr
    )
    assert "RuntimeWarning" not in r.stderr and "warning" not in r.stderr
    with pytest.raises(InputError, match="finite horizon"):
        fit_horizon_law(
            [SweepPoint(float("inf"), 1e-3, 3.0), *synthetic_sweep(horizons=(1e9, 2e9))]
        )


def test_the_formula_signs_its_exponent_once():
    law = HorizonLaw(B=0.02, beta=-0.1, covariance=None, optima=())
    assert law.formula() == "0.02 * D^+0.1000" and law.formula(3) == "0.02 * D^+0.100"
    assert HorizonLaw(B=0.02, beta=0.3, covariance=None, optima=()).formula() == "0.02 * D^-0.3000"
    assert "-0.0000" not in HorizonLaw(B=0.02, beta=1e-9, covariance=None, optima=()).formula()


def test_a_parabola_that_happens_to_fit_exactly_does_not_take_all_the_weight():
    """Each horizon's error bar uses the noise pooled over horizons: one horizon whose four
    points lay on a parabola by chance had an error bar of ~1e-13 from its own 1-dof residuals."""
    points = synthetic_sweep(lrs=(4e-4, 7e-4, 1.2e-3, 2e-3), noise=2e-3, seed=3)
    exact = [
        p
        for p in synthetic_sweep(lrs=(4e-4, 7e-4, 1.2e-3, 2e-3), noise=1e-7, seed=5)
        if p.horizon == 2e9
    ]
    points = [p for p in points if p.horizon != 2e9] + exact
    law = fit_horizon_law(points)
    errors = [o.log_lr_stderr for o in law.optima]
    assert all(e is not None for e in errors) and max(errors) / min(errors) < 5
    assert abs(law.beta - 0.3) < 3 * law.beta_stderr


def test_points_from_runs_keeps_finished_runs_and_notes_the_others():
    from lrcurve.runs import Run
    from lrcurve.schedules import WSD
    from lrcurve.sweeps import points_from_runs

    steps = np.arange(100, 1001, 100)
    finished = Run("done", steps, np.linspace(4.0, 3.0, 10), WSD(1e-3, 1000), label="wsd 1k")
    partial = Run("half", steps[:5], np.linspace(4.0, 3.5, 5), WSD(2e-3, 1000))
    points, notes = points_from_runs([finished, partial], 1000.0)
    assert points == [SweepPoint(1e6, 1e-3, 3.0, "done", "wsd 1k")]
    assert notes == ["half: logged to step 500 of 1000; left out (not finished)"]


def cooldown_sweep(*args):
    return lrcurve(
        "lr-horizon", "--table", data_path("lr-scheduling", "index.csv"), "--where",
        "family=ann124-0.1", *args,
    )  # fmt: skip


def test_a_target_in_tokens_takes_the_tables_batch_times_sequence_length():
    # issue 16 item 5: --target 1e10 read steps, 200,000x beyond the runs
    r = cooldown_sweep("--target", 1e10, "--json")
    assert r.returncode == 0, r.stderr
    assert "102,400 tokens per step, from the columns batch_seqs x seq_len" in r.stderr
    out = json.loads(r.stdout)
    given = json.loads(
        cooldown_sweep("--target", 1e10, "--tokens-per-step", 102400, "--json").stdout
    )
    assert out["unit"] == "tokens" and out["horizons"][0]["horizon"] == 15000 * 102400
    assert out["target"] == given["target"] and out["beta"] == given["beta"]
    text = cooldown_sweep("--target", "1e10tokens")
    assert "D in tokens" in text.stdout and "horizon (tokens)" in text.stdout
    assert "best peak LR at D = 1e+10 tokens" in text.stdout


def test_a_target_in_steps_stays_in_steps_and_scales_with_tokens_per_step():
    steps = json.loads(cooldown_sweep("--target", "5e5steps", "--json").stdout)
    assert steps["unit"] == "steps" and steps["target"]["horizon"] == 5e5
    assert steps["horizons"][0]["horizon"] == 15000
    tokens = json.loads(
        cooldown_sweep("--target", "5e5steps", "--tokens-per-step", 1000, "--json").stdout
    )
    assert tokens["unit"] == "tokens" and tokens["target"]["horizon"] == 5e8
    assert tokens["target"]["lr_opt"] == pytest.approx(steps["target"]["lr_opt"])
    bad = cooldown_sweep("--target", "1e10 parsecs")
    assert bad.returncode == 2 and bad.stderr.startswith("lrcurve: error: --target: ")


def test_a_target_without_tokens_per_step_is_refused_in_one_line(tmp_path):
    table = write_table(tmp_path / "sw.csv", grid_sweep([3.2, 3.1, 3.05, 3.1, 3.2]))
    r = lrcurve("lr-horizon", "--table", table, "--target", 1e10)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("lrcurve: error: --tokens-per-step: needed for a target in tokens")
    assert "steps" in r.stderr and "2e5steps" in r.stderr


def test_a_target_takes_tokens_per_step_from_the_wandb_configs():
    from lrcurve import read_runs
    from lrcurve.sweeps import run_tokens_per_step

    folder = data_path("lr-scheduling", "data")
    runs = [
        folder / f"ann124-0.2_slimpajama_llama_norm_nlayers12_nhead12_lr0.001_sched_wsd_warmup300_"
        f"decay_linear_0.2_iter{steps}_bs50x2_ws2_seed0_data_seed1337.json"
        for steps in (15000, 25000)
    ]
    r = lrcurve("lr-horizon", *runs, "--target", 1e10, "--json")
    assert r.returncode == 0, r.stderr
    assert (
        "horizons in tokens: 102,400 tokens per step, from the W&B configs' batch_size x "
        "acc_steps x world_size x sequence_length" in r.stderr
    )
    out = json.loads(r.stdout)
    assert [h["horizon"] for h in out["horizons"]] == [15000 * 102400, 25000 * 102400]
    # batch_size 50 x acc_steps 4 x world_size 2 x sequence_length 512 (bs50x4_ws2 in its name)
    big = "sl_slimpajama_llama_norm_nlayers24_nhead16_lr0.0005_sched_wsd_warmup300_iter50000_"
    run = read_runs(folder / f"{big}bs50x4_ws2_seed0_data_seed1337.json")[0]
    assert run_tokens_per_step(run)[0] == 50 * 4 * 2 * 512


def test_lrs_in_fit_counts_distinct_peak_lrs_not_runs(tmp_path):
    sweep = grid_sweep([3.1, 3.05, 3.02, 3.05, 3.1])  # every run in the valley: all in the fit
    seeds = sweep + [SweepPoint(p.horizon, p.lr, p.loss + 0.001, p.name + "-seed1") for p in sweep]
    table = write_table(tmp_path / "seeds.csv", seeds)
    r = lrcurve("lr-horizon", "--table", table, "-o", "h.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "h.csv").read_text().splitlines()
    assert rows[0] == (
        "horizon_steps,runs,distinct_lrs_in_fit,best_observed_lr,lr_opt,log_lr_stderr,bracketed"
    )
    assert [row.split(",")[1:3] for row in rows[1:]] == [["10", "5"]] * 3
    assert "│   10 │          5 │" in r.stdout and "wrote h.csv" in r.stdout


def test_horizon_csv_holds_the_tables_rows_and_the_output_checks_apply(tmp_path):
    r = cooldown_sweep("--target", 1e10, "-o", tmp_path / "h.csv", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    header, *rows = (tmp_path / "h.csv").read_text().splitlines()
    assert header.startswith("horizon_tokens,runs,")
    assert len(rows) == len(out["horizons"]) == 4
    for row, h in zip(rows, out["horizons"]):
        cells = row.split(",")
        assert float(cells[0]) == h["horizon"] and float(cells[4]) == h["lr_opt"]
        assert float(cells[5]) == h["log_lr_stderr"] and cells[6] == str(h["bracketed"])
    again = cooldown_sweep("-o", tmp_path / "h.csv")
    assert again.returncode == 2 and "--force" in again.stderr
    same = cooldown_sweep("-o", tmp_path / "h.png", "--plot", tmp_path / "h.png")
    assert same.returncode == 2 and "-o and --plot" in same.stderr
    index = data_path("lr-scheduling", "index.csv")
    mine = cooldown_sweep("-o", index, "--force")
    assert mine.returncode == 2 and "one of the inputs" in mine.stderr
    assert index.read_text().startswith("file,family,")


def test_rows_or_runs_with_different_schedules_are_pooled_only_with_pool():
    # issue 16 item 5: family=ann124-0.2 holds linear and sqrt cooldowns
    index = data_path("lr-scheduling", "index.csv")
    args = ("lr-horizon", "--table", index, "--where", "family=ann124-0.2")
    r = lrcurve(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("lrcurve: error: --pool: needed to fit together rows of ")
    assert "decay_type (linear, sqrt)" in r.stderr and "cos_final_lr" not in r.stderr
    pooled = lrcurve(*args, "--pool")
    assert pooled.returncode == 0, pooled.stderr
    assert "pooled rows of " in pooled.stderr and "decay_type (linear, sqrt)" in pooled.stderr
    one = lrcurve(*args, "--where", "decay_type=linear")
    assert one.returncode == 0 and "pooled" not in one.stderr
    folder = data_path("lr-scheduling", "data")
    runs = sorted(folder.glob("ann124-0.[12]_*lr0.001_*iter25000_*.json"))
    assert len(runs) == 2
    mixed = lrcurve("lr-horizon", *runs)
    assert mixed.returncode == 2 and "runs that differ in wsd.decay (0.1, 0.2)" in mixed.stderr
