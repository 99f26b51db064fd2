import json
from dataclasses import replace

import numpy as np
import pytest

from lrcurve.errors import InputError, ParameterError
from lrcurve.power import fit_power_law, power_schedule, read_sweeps, tokens_per_step_of
from lrcurve.schedules import Power, make_schedule, schedule_from_dict
from tests.test_cli import lrcurve

A, B = 4.6, -0.51


def sweeps(noise=0.0, seed=0):
    """Synthetic optimal-LR sweeps: 4 batch sizes x 5 token counts on the paper's law."""
    batch, tokens = np.meshgrid([16.0, 32.0, 64.0, 128.0], [1e9, 2e9, 4e9, 8e9, 16e9])
    batch, tokens = batch.ravel(), tokens.ravel()
    lr = (
        batch
        * A
        * tokens**B
        * np.exp(noise * np.random.default_rng(seed).standard_normal(batch.size))
    )
    return batch, tokens, lr


def test_fit_recovers_a_and_b_exactly_without_noise():
    fitted = fit_power_law(*sweeps())
    assert fitted.a == pytest.approx(A, rel=1e-9) and fitted.b == pytest.approx(B, rel=1e-9)
    assert fitted.r2 == pytest.approx(1.0) and fitted.a_stderr < 1e-6


def test_fit_with_noise_matches_polyfit_and_covers_the_truth():
    batch, tokens, lr = sweeps(noise=0.05, seed=3)
    fitted = fit_power_law(batch, tokens, lr)
    coef, cov = np.polyfit(np.log(tokens), np.log(lr / batch), 1, cov=True)
    assert fitted.b == pytest.approx(coef[0]) and fitted.log_a == pytest.approx(coef[1])
    assert fitted.covariance[::-1, ::-1] == pytest.approx(cov, rel=1e-6)
    assert abs(fitted.b - B) < 3 * fitted.b_stderr and abs(fitted.a - A) < 3 * fitted.a_stderr
    quieter = fit_power_law(*sweeps(noise=0.005, seed=3))
    assert quieter.b_stderr < fitted.b_stderr / 5


def test_extrapolated_lr_uncertainty_grows_away_from_the_data():
    fitted = fit_power_law(*sweeps(noise=0.05, seed=1))
    inside, far = fitted.optimal_lr_log_stderr([4e9, 1e13])
    assert far > 3 * inside


def test_fit_rejects_bad_sweeps():
    with pytest.raises(InputError, match="two different token counts"):
        fit_power_law([1, 2, 4], [1e9, 1e9, 1e9], [1e-3, 2e-3, 4e-3])
    with pytest.raises(InputError, match="lr must be positive"):
        fit_power_law([1, 2, 4], [1e9, 2e9, 4e9], [1e-3, -2e-3, 4e-3])


def test_power_schedule_follows_the_paper():
    per_step, tokens, lr_max = 64 * 2048, 64 * 2048 * 10000, 0.01
    schedule = power_schedule(
        A, B, 64, per_step, tokens, lr_max, warmup=100, decay=0.1, shape="exp", floor=0.01
    )
    steps = np.arange(1, schedule.horizon + 1)
    lr = schedule(steps)
    law = np.minimum(lr_max, 64 * A * (steps * per_step) ** B)
    stable = (steps >= 100) & (steps <= 9000)
    assert lr[stable] == pytest.approx(law[stable], rel=1e-12)
    assert lr[:100] == pytest.approx(
        law[99] * steps[:100] / 100, rel=1e-12
    )  # linear warmup to the power LR
    assert lr[-1] == pytest.approx(0.01 * law[8999], rel=1e-9)  # exponential decay to 1 %
    assert np.all(np.diff(lr[9000:]) < 0)
    assert schedule.peak == pytest.approx(min(lr_max, 64 * A * per_step**B))
    assert schedule_from_dict(schedule.to_dict()) == schedule
    linear = power_schedule(
        A, B, 64, per_step, tokens, lr_max, decay=0.2, shape="linear", floor=0.0
    )
    assert linear(np.array([10000]))[0] == 0.0


def test_power_schedule_validation():
    with pytest.raises(ValueError, match="batch"):
        Power(A, B, 0.0, 100.0, 1e-3, 1000)
    with pytest.raises(ValueError, match="shape"):
        Power(A, B, 8.0, 100.0, 1e-3, 1000, shape="zigzag")
    with pytest.raises(ParameterError, match="needed by the power schedule") as missing:
        make_schedule("power", steps=100, peak=1e-3, power_a=A, power_b=B)
    assert missing.value.param == "batch"
    with pytest.raises(ParameterError, match="seq_len .* or tokens_per_step") as caught:
        tokens_per_step_of(8, None, None)
    assert caught.value.param == "seq_len"


def write_sweeps(path, noise=0.03):
    batch, tokens, lr = sweeps(noise=noise, seed=2)
    path.write_text(
        "batch_size,tokens,optimal_lr\n"
        + "".join(f"{b:g},{t:.0f},{v:.6g}\n" for b, t, v in zip(batch, tokens, lr))
    )
    return path


def test_read_sweeps_names_the_problem(tmp_path):
    batch, tokens, lr = read_sweeps(write_sweeps(tmp_path / "s.csv"))
    assert batch.size == tokens.size == lr.size == 20
    bad = tmp_path / "bad.csv"
    bad.write_text("batch,steps,lr\n1,2,3\n")
    with pytest.raises(InputError, match="bad.csv: no tokens column"):
        read_sweeps(bad)


def test_fit_power_cli_json_table_and_plot(tmp_path):
    write_sweeps(tmp_path / "sweeps.csv")
    r = lrcurve(
        "fit-power",
        "sweeps.csv",
        "--batch",
        256,
        "--tokens",
        1e11,
        "--seq-len",
        4096,
        "--peak",
        0.02,
        "--json",
        "--plot",
        "p.png",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["b"] - B) < 3 * out["b_stderr"]
    new = out["new_run"]
    assert new["optimal_constant_lr"] == pytest.approx(256 * out["a"] * 1e11 ** out["b"])
    assert new["range_2se"][0] < new["optimal_constant_lr"] < new["range_2se"][1]
    assert (
        new["steps"] == int(np.ceil(1e11 / (256 * 4096))) and new["tokens_per_step"] == 256 * 4096
    )
    assert (tmp_path / "p.png").stat().st_size > 10_000
    table = lrcurve("fit-power", "sweeps.csv", cwd=tmp_path)
    assert table.returncode == 0 and "std. error" in table.stdout and "residual" in table.stdout
    missing = lrcurve("fit-power", "nope.csv", cwd=tmp_path)
    assert (
        missing.returncode == 2
        and "nope.csv" in missing.stderr
        and "Traceback" not in missing.stderr
    )


def test_schedule_power_cli(tmp_path):
    r = lrcurve(
        "schedule",
        "power",
        "--a",
        A,
        "--b",
        B,
        "--batch",
        1024,
        "--seq-len",
        4096,
        "--tokens",
        1e12,
        "--peak",
        0.02,
        "--warmup",
        500,
        "--json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (
        out["steps"] == int(np.ceil(1e12 / (1024 * 4096)))
        and out["schedule"]["body"]["kind"] == "power"
    )
    assert out["final_lr"] == pytest.approx(0.01 * 1024 * A * (0.9 * 1e12) ** B, rel=1e-3)
    bad = lrcurve(
        "schedule",
        "power",
        "--a",
        A,
        "--b",
        B,
        "--batch",
        8,
        "--tokens",
        1e9,
        "--peak",
        0.02,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "--seq-len" in bad.stderr


@pytest.mark.parametrize(
    "tokens, per_step", [(-1.0, 5e-324), (0.0, 1.0), (-1e9, 1e6), (float("nan"), 1e6)]
)
def test_no_tokens_or_a_negative_count_is_refused_not_an_overflow(tokens, per_step):
    # -1 token at 5e-324 tokens per step was -inf steps: an OverflowError inside (found by make
    # fuzz)
    with pytest.raises(ParameterError, match="must be positive") as caught:
        power_schedule(4.6, -0.51, 64, per_step, tokens, 3e-4)
    assert caught.value.param == "tokens"


def test_schedule_power_cli_refuses_negative_tokens_in_one_line(tmp_path):
    r = lrcurve(
        "schedule",
        "power",
        "--a",
        4.6,
        "--b",
        -0.51,
        "--batch",
        512,
        "--peak",
        3e-4,
        "--tokens-per-step",
        "5e-324",
        "--tokens",
        -1,
        cwd=tmp_path,
    )
    assert (
        r.returncode == 2 and r.stderr.count("\n") == 1 and "--tokens: must be positive" in r.stderr
    ), r.stderr


def test_sweeps_whose_best_lr_per_batch_never_moves_are_refused():
    # constant batch and LR at three token counts: b = 0 with zero residuals, R² 0/0 (was -inf and a
    # numpy warning)
    with pytest.raises(InputError, match="same best LR per batch"):
        fit_power_law([16, 16, 16], [1e9, 2e9, 4e9], [1e-3, 1e-3, 1e-3])
    with pytest.raises(InputError, match="same best LR per batch"):
        fit_power_law([16, 32, 64], [1e9, 2e9, 4e9], [1e-3, 2e-3, 4e-3])


def test_r2_is_undefined_without_variance():
    fitted = fit_power_law(*sweeps())
    flat = replace(
        fitted, batch=np.full(3, 16.0), tokens=np.array([1e9, 2e9, 4e9]), lr=np.full(3, 1e-3)
    )
    with np.errstate(all="raise"):
        assert flat.r2 is None and fitted.r2 == pytest.approx(1.0)


def test_fit_power_cli_refuses_a_flat_table_in_one_line(tmp_path):
    (tmp_path / "flat.csv").write_text(
        "batch,tokens,lr\n16,1e9,0.001\n16,2e9,0.001\n16,4e9,0.001\n"
    )
    for extra in ([], ["--json"]):
        r = lrcurve("fit-power", "flat.csv", *extra, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(
            "lrcurve: error: flat.csv: every sweep has the same best LR per batch (6.25e-05)"
        )
        assert "-inf" not in r.stdout + r.stderr and "divide" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seq-len", 4096], "--seq-len applies to a new run only: give --batch and --tokens too"),
        (["--tokens-per-step", 1e6], "--tokens-per-step applies to a new run only"),
        (["--warmup", 10], "--warmup applies to a new run only"),
        (
            ["--batch", 256, "--tokens", 1e11, "--peak", 0.02],
            "--peak applies to the Power schedule only: give --seq-len",
        ),
        (
            ["--batch", 256, "--tokens", 1e11, "--shape", "linear"],
            "--shape applies to the Power schedule only",
        ),
    ],
)
def test_fit_power_refuses_flags_that_would_be_ignored(tmp_path, args, message):
    # --seq-len without --batch/--tokens was silently ignored
    write_sweeps(tmp_path / "sweeps.csv")
    r = lrcurve("fit-power", "sweeps.csv", *args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


@pytest.mark.parametrize("lr_max", [1e-320, 1e308, -1.0, float("nan")])
def test_power_schedule_refuses_a_peak_outside_the_range_runs_are_read_in(lr_max):
    with pytest.raises(ParameterError, match="lr_max .* is outside") as caught:
        power_schedule(4.6, -0.51, 64, 1e6, 1e10, lr_max)
    assert caught.value.render({"lr_max": "--peak"}).startswith("--peak: lr_max")


def test_schedule_show_power_and_schedule_power_build_the_same_schedule(tmp_path):
    """`schedule show power` decayed over 20 % (the WSD default of --decay), `schedule power` over
    10 %."""
    flags = ("--a", A, "--b", B, "--batch", 1024, "--tokens-per-step", 4194304, "--peak", 0.02)
    shown = lrcurve("schedule", "show", "power", *flags, "--steps", 238419, "--json", cwd=tmp_path)
    built = lrcurve(
        "schedule", "power", *flags, "--tokens", 238419 * 4194304, "--json", cwd=tmp_path
    )
    assert shown.returncode == built.returncode == 0, shown.stderr + built.stderr
    assert json.loads(shown.stdout)["schedule"] == json.loads(built.stdout)["schedule"]


def test_the_laws_hold_a_power_warmup_at_the_lr_it_reaches():
    """The Power body is above its end-of-warmup LR during the warmup; the laws counted that as
    a drop training never had (S2 997 instead of 71 at lam 0.999 with a cap of 1.0)."""
    from lrcurve.laws.base import LRHistory

    schedule = make_schedule(
        "power",
        steps=5000,
        peak=1.0,
        warmup=500,
        power_a=4.0,
        power_b=-0.51,
        batch=1024,
        tokens_per_step=4e6,
    )
    history = LRHistory.of(schedule, 5000)
    reached = float(schedule(np.array([500]))[0])
    assert reached < 0.1 and np.all(history.held[:500] == reached)
    assert (
        np.all(np.diff(history.held) <= 0) and history.lr[0] < reached
    )  # the real warmup still ramps


def test_the_power_fit_plot_draws_the_law_on_to_the_new_run():
    """Review 10: the plot stopped at the sweeps and titled its schedule panel with the
    schedule's repr; the line now reaches the new run's tokens, marked with its LR, and the
    panel says the schedule in words."""
    import matplotlib

    matplotlib.use("Agg")
    from lrcurve.plotting import plot_power_fit

    batch, tokens = np.repeat([16.0, 32.0], 5), np.tile(np.geomspace(1e9, 1.6e10, 5), 2)
    fitted = fit_power_law(batch, tokens, batch * 4.6 * tokens**-0.51)
    schedule = power_schedule(4.6, -0.51, 256, 2**20, 1e11, 0.02, warmup=100)
    figure = plot_power_fit(fitted, schedule, 2**20, target=(256, 1e11))
    left, right = figure.axes[:2]
    assert left.get_xlim()[1] >= 1e11
    (marked,) = [t.get_text() for t in left.get_legend().get_texts() if "new run" in t.get_text()]
    assert f"LR {256 * 4.6 * 1e11**-0.51:.3g}" in marked
    assert (
        right.get_title().startswith("the Power schedule: peak 0.02,")
        and "(" not in right.get_title()
    )
