import json
import subprocess
import sys

import numpy as np
import pytest

from lrcurve.errors import InputError
from lrcurve.horizon import SweepPoint, fit_horizon_law, optimum_at_horizon
from tests.conftest import shared_path


def synthetic_sweep(B=0.5, beta=0.3, horizons=(1e9, 2e9, 4e9, 8e9), lrs=(2e-4, 5e-4, 1e-3, 2e-3, 4e-3), noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    points = []
    for d in horizons:
        best = B * d**-beta
        for lr in lrs:
            loss = 3.0 - 0.1 * np.log(d / 1e9) + 0.05 * np.log(lr / best) ** 2 + noise * rng.standard_normal()
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
    points = [SweepPoint(1e9, lr, 3.0 + 0.01 * np.log(lr / 1e-3) ** 2) for lr in (1e-4, 2e-4, 3e-4, 5e-4)]
    optimum = optimum_at_horizon(points)
    assert not optimum.bracketed and "outside" in optimum.note
    assert optimum.lr_opt == 5e-4 and optimum.log_lr_stderr is None


def test_diverged_runs_are_left_out_of_the_parabola():
    points = [p for p in synthetic_sweep(horizons=(1e9,))] + [SweepPoint(1e9, 8e-3, 7.5, "diverged")]
    optimum = optimum_at_horizon(points)
    assert all(p.name != "diverged" for p in optimum.used) and "diverged" in optimum.note
    assert optimum.lr_opt == pytest.approx(0.5 * 1e9**-0.3, rel=1e-6)


def test_undetermined_beta_is_said():
    # optima that wander over horizons only 10 % apart: the slope in D is not determined
    points = [SweepPoint(d, lr, 3.0 + 0.02 * np.log(lr / best) ** 2)
              for d, best in ((1e9, 1e-3), (1.05e9, 1.3e-3), (1.1e9, 0.8e-3)) for lr in (2e-4, 5e-4, 1e-3, 2e-3, 4e-3)]
    law = fit_horizon_law(points)
    assert law.beta_stderr > abs(law.beta)
    assert any("do not determine" in w for w in law.warnings)
    assert not any("do not determine" in w for w in fit_horizon_law(synthetic_sweep(noise=0.002, seed=3)).warnings)


def test_one_horizon_is_not_enough():
    with pytest.raises(InputError, match="at least 2"):
        fit_horizon_law(synthetic_sweep(horizons=(1e9,)))


def lrcurve(*args):
    return subprocess.run([sys.executable, "-m", "lrcurve", *map(str, args)], capture_output=True, text=True)


def test_cli_on_the_shared_cooldown_sweep():
    index = shared_path("lr-scheduling", "index.csv")
    r = lrcurve("lr-horizon", "--table", index, "--where", "family=ann124-0.1", "--tokens-per-step", 102400,
                "--target", 1e10, "--json")
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
    r = lrcurve("lr-horizon", "--table", shared_path("lr-scheduling", "index.csv"), "--where", "nosuchcolumn")
    assert r.returncode == 2 and "--where" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
