"""Speed of the LR areas, momentum-law prediction and fitting, on this machine.

Run: ``python benchmarks/speed.py`` (or ``make bench``). Prints one line per figure:
the best of several repeats, next to a naive Python-loop reference where one applies; the
peak memory per predicted step of ``predict`` without the band (5M-step WSD and cosine, each
in a fresh process: the growth of peak RSS, and numpy's allocations by tracemalloc);
then the multi-power-law figures (``speed_multipower.py``) and ``optimize``'s
(``speed_optimize.py``), which also run on their own.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import best_of  # noqa: E402

from lrcurve import MomentumLaw, fit, make_schedule, read_runs  # noqa: E402
from lrcurve.areas import annealing_area, forward_area  # noqa: E402
from lrcurve.laws.base import LRHistory  # noqa: E402
from lrcurve.runs import Run  # noqa: E402


def naive_areas(lr: np.ndarray, lam: float) -> tuple[list[float], list[float]]:
    """The recurrence as a Python loop: the reference the vectorised code replaces."""
    s1, s2, m, total1, total2, previous = [], [], 0.0, 0.0, 0.0, lr[0]
    for eta in lr.tolist():
        m = lam * m + (previous - eta)
        previous = eta
        total1 += eta
        total2 += m
        s1.append(total1)
        s2.append(total2)
    return s1, s2


def row(what: str, seconds: float, reference: float | None = None) -> None:
    extra = (
        f"   naive loop {reference * 1e3:9.1f} ms  ({reference / seconds:,.0f}x)"
        if reference
        else ""
    )
    print(f"{what:<58} {seconds * 1e3:9.2f} ms{extra}")


def synthetic_runs(n_steps: int, every: int) -> list[Run]:
    theta = np.array([2.5, 0.6, 0.5, 0.8, 0.998])
    law = MomentumLaw()
    steps = np.arange(every, n_steps + 1, every)
    rng = np.random.default_rng(0)
    runs = []
    for name in ("constant", "cosine"):
        schedule = make_schedule(name, steps=n_steps, peak=1e-3, warmup=n_steps // 50, floor=0.1)
        loss = law.predict(theta, LRHistory.of(schedule, n_steps), steps) * (
            1 + 5e-4 * rng.standard_normal(steps.size)
        )
        runs.append(Run(name, steps, loss, schedule))
    return runs


MEMORY_STEPS = 5_000_000


def memory_child(fit_file: str, kind: str, n: int) -> None:
    """In a fresh process that only loads a fit file (so the fit's own peak is not the
    high-water mark): the peak RSS growth, then the traced peak, of one prediction of ``n``
    steps without the band, in bytes a step."""
    from lrcurve.fitfile import load_fit

    fitted = load_fit(Path(fit_file))
    shape = {"decay": 0.2, "shape": "sqrt"} if kind == "wsd" else {"floor": 0.1}
    schedule = make_schedule(kind, steps=n, peak=3e-4, warmup=2160, **shape)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fitted.predict(schedule, with_stderr=False)
    rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024  # KiB on Linux
    tracemalloc.start()
    fitted.predict(schedule, with_stderr=False)
    traced = tracemalloc.get_traced_memory()[1]
    print(rss / n, traced / n)


def memory_rows() -> None:
    import tempfile

    from lrcurve.fitfile import save_fit
    from lrcurve.laws import make_law

    runs = [
        read_runs(ROOT / "sample_runs" / f"{name}.csv", warmup_steps=2160)[0]
        for name in ("constant", "cosine")
    ]
    for law in ("momentum", "multipower"):
        fit_file = Path(tempfile.mkdtemp()) / f"{law}.fit.json"
        save_fit(fit(runs, law=make_law(law)), fit_file)
        for kind in ("wsd", "cosine"):
            child = subprocess.run(
                [sys.executable, __file__, "--memory", str(fit_file), kind, str(MEMORY_STEPS)],
                capture_output=True,
                text=True,
                check=True,
            )
            rss, traced = map(float, child.stdout.split())
            print(
                f"{law} predict, {MEMORY_STEPS:,}-step {kind}, no s.e.: peak memory "
                f"{rss:5.1f} bytes/step (RSS), {traced:5.1f} (traced)"
            )


def main() -> None:
    print(f"lrcurve speed on {sys.platform}, numpy {np.__version__}")
    for n in (100_000, 1_000_000):
        schedule = make_schedule(
            "wsd", steps=n, peak=3e-4, warmup=n // 100, decay=0.2, shape="sqrt"
        )
        lr = LRHistory.of(schedule, n).held
        fast = best_of(lambda lr=lr: (forward_area(lr), annealing_area(lr, 0.999)))
        slow = best_of(lambda lr=lr: naive_areas(lr, 0.999), repeats=1)
        row(f"areas S1+S2, {n:,} steps", fast, slow)

    constant, cosine = (
        read_runs(ROOT / "sample_runs" / f"{name}.csv", warmup_steps=2160)[0]
        for name in ("constant", "cosine")
    )
    fitted = fit([constant, cosine])
    for n in (100_000, 1_000_000):
        schedule = make_schedule("wsd", steps=n, peak=3e-4, warmup=2160, decay=0.2, shape="sqrt")
        row(
            f"momentum predict, {n:,}-step WSD (no s.e.)",
            best_of(lambda s=schedule: fitted.predict(s, with_stderr=False)),
        )
        row(
            f"momentum predict, {n:,}-step WSD (with s.e. band)",
            best_of(lambda s=schedule: fitted.predict(s, level=None)),
        )
        row(
            f"momentum predict, {n:,}-step WSD (calibrated interval)",
            best_of(lambda s=schedule: fitted.predict(s)),
        )

    memory_rows()
    row(
        "momentum fit incl. lam, two real 24k-step curves",
        best_of(lambda: fit([constant, cosine], backtest=False), repeats=3),
    )
    row(
        "  the same with the backtest scale b (10 warm refits)",
        best_of(lambda: fit([constant, cosine]), repeats=3),
    )
    for every in (100, 10):
        runs = synthetic_runs(100_000, every)
        points = sum(r.steps.size for r in runs)
        row(
            f"momentum fit incl. lam, two 100k-step curves ({points:,} points)",
            best_of(lambda runs=runs: fit(runs), repeats=3),
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--memory"]:
        memory_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        sys.exit()
    main()
    import speed_multipower
    import speed_optimize

    print("\nmulti-power law")
    speed_multipower.main()
    print("\noptimize")
    speed_optimize.main()
