"""Speed of the multi-power law, each figure next to a naive reference on a smaller n.

    python benchmarks/speed_multipower.py

- predict: the loss at every step of a cosine (100k and 1M steps), with and without the
  delta-method standard error; reference: the double sum in a plain Python loop.
- fit: two 24k-step curves logged every 128 steps (constant + cosine, warmup 2160).
- accuracy: max |LD - LD_exact| on the 100k cosine at sampled steps (sparse requests: the
  block merging; every step: knots + interpolation), and for the 1M-step prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from timing import timed  # noqa: E402

from lrcurve import fit, make_schedule, read_runs
from lrcurve.fitting import FittedLaw, Parameter
from lrcurve.laws.base import LRHistory
from lrcurve.laws.multipower import LossDrop, MultiPowerLaw, loss_drop_direct

THETA = np.array([3.04, 0.525, 0.508, 364.0, 2.07, 0.583, 0.641])
SAMPLES = Path(__file__).resolve().parent.parent / "sample_runs"


def naive_loss_drop(
    lr: list[float], t: int, B: float, C: float, beta: float, gamma: float
) -> float:
    """LD(t) as two nested Python loops (O(t^2))."""
    total, area = 0.0, 0.0
    for k in range(t, 1, -1):  # walk back so S_k(t) accumulates
        area += lr[k - 1]
        drop = lr[k - 2] - lr[k - 1]
        if drop:
            total += drop * (1 - (C * lr[k - 1] ** -gamma * area + 1) ** -beta)
    return B * total


def main() -> None:
    law = MultiPowerLaw()
    fitted_params = tuple(
        Parameter(n, float(v), None, -np.inf, np.inf) for n, v in zip(law.param_names, THETA)
    )
    cov = np.diag((1e-3 * THETA) ** 2)
    runs = read_runs(SAMPLES / "constant.csv", warmup_steps=2160) + read_runs(
        SAMPLES / "cosine.csv", warmup_steps=2160
    )
    model = FittedLaw(law, fitted_params, tuple(runs), 0.05, cov, True, "")
    shape = dict(zip(("B", "C", "beta", "gamma"), THETA[3:]))
    for n in (100_000, 1_000_000):
        schedule = make_schedule("cosine", steps=n, peak=3e-4, warmup=2160, floor=0.0)
        _, plain = timed(lambda s=schedule: model.predict(s, with_stderr=False))
        pred, full = timed(lambda s=schedule: model.predict(s))
        assert pred.loss_stderr is not None
        print(
            f"MPL predict, cosine {n:>9,} steps: {plain:6.2f} s (loss)   "
            f"{full:6.2f} s (loss + std. error)"
        )
    n_small = 2_000
    small = make_schedule("cosine", steps=n_small, peak=3e-4, warmup=200, floor=0.1)
    lr = LRHistory.of(small, n_small).held.tolist()
    _, naive = timed(lambda: [naive_loss_drop(lr, t, **shape) for t in range(1, n_small + 1)])
    _, fast = timed(lambda: LossDrop.of(np.array(lr), np.arange(1, n_small + 1))(**shape))
    print(
        f"LD at every step, cosine {n_small:,} steps: naive Python loops {naive:6.2f} s, "
        f"lrcurve {fast:6.3f} s "
        f"(naive is O(n^2): ~{naive * (100_000 / n_small) ** 2 / 3600:.0f} h at 100k steps)"
    )

    cosine100 = make_schedule("cosine", steps=100_000, peak=3e-4, warmup=2160, floor=0.0)
    lr100 = LRHistory.of(cosine100, 100_000).held
    check = np.unique(np.linspace(2200, 100_000, 200).astype(np.int64))
    direct = loss_drop_direct(lr100, check, **shape)
    loss = law.predict(
        THETA,
        LRHistory.of(make_schedule("cosine", steps=100_000, peak=3e-4, warmup=2160), 100_000),
        check,
    )
    sparse = np.max(np.abs(LossDrop.of(lr100, check)(**shape) - direct))
    dense = np.max(np.abs(LossDrop.of(lr100, np.arange(1, 100_001))(**shape)[check - 1] - direct))
    print(
        f"error vs the exact sum, 100k cosine: sparse steps max |dLD| = {sparse:.1e} "
        f"({sparse / loss.min():.1e} of the loss), "
        f"every step {dense:.1e} ({dense / loss.min():.1e})"
    )
    n = 1_000_000
    lr1m = LRHistory.of(make_schedule("cosine", steps=n, peak=3e-4, warmup=2160, floor=0.0), n).held
    check = np.unique(np.linspace(2200, n, 24).astype(np.int64))
    dense = np.max(
        np.abs(
            LossDrop.of(lr1m, np.arange(1, n + 1))(**shape)[check - 1]
            - LossDrop.of(lr1m, check, 0.0)(**shape)
        )
    )
    print(
        f"error vs the exact sum, 1M cosine, every step: max |dLD| = {dense:.1e} "
        f"({dense / loss.min():.1e} of the loss)"
    )

    fitted, seconds = timed(lambda: fit(runs, law))
    print(
        f"MPL fit, two 24k-step curves ({sum(r.steps.size for r in runs)} logged points): "
        f"{seconds:.1f} s "
        f"({'converged' if fitted.converged else 'not converged'})"
    )
    one = [r.steps.size for r in runs]
    prepared = [law.prepare(LRHistory.of(r.schedule, r.last_step), r.steps) for r in runs]
    _, eval_fast = timed(lambda: [law.evaluate(THETA, p) for p in prepared for _ in range(10)])
    lr_run = LRHistory.of(runs[1].schedule, runs[1].last_step).held
    _, eval_direct = timed(lambda: loss_drop_direct(lr_run, runs[1].steps, *THETA[3:]))
    print(
        f"  one residual evaluation ({sum(one)} points): {eval_fast / 10 * 1e3:.1f} ms; "
        f"direct double sum for the cosine run alone: {eval_direct * 1e3:.0f} ms"
    )


if __name__ == "__main__":
    main()
