"""The size-aware laws' peak-LR exponents (lrcurve/laws/peak_lr.py): recovered from runs of two
peak LRs, held at 1 (quietly, the published law) on runs of one, kept by the size-free fit at
one size, and followed by the multi-power laws' analytic Jacobians."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lrcurve.fitfile import load_fit, save_fit
from lrcurve.fitting import fit
from lrcurve.laws import law_from_dict, law_to_dict
from lrcurve.laws.base import LRHistory
from lrcurve.laws.forward_momentum import ForwardMomentumLaw
from lrcurve.laws.forward_momentum_size import ForwardMomentumSizeLaw
from lrcurve.laws.momentum import MomentumLaw
from lrcurve.laws.momentum_size import MomentumSizeLaw
from lrcurve.laws.multipower import MultiPowerLaw
from lrcurve.laws.multipower_size import MultiPowerSizeLaw
from lrcurve.laws.peak_lr import P_REF, distinct_peaks, peak_holds
from lrcurve.schedules import make_schedule
from lrcurve.schedules.compose import rewarmup
from lrcurve.size_fit import fitted_at_size
from tests.conftest import size_runs

SIZES = (25e6, 100e6, 400e6)
# L0, A, alpha, B, beta, C, gamma, lam, kappa, mu, D
TRUTH = np.array([1.8, 0.9, 0.45, 0.5, 0.3, 0.2, 0.25, 0.999, 0.2, 0.5, 100.0])
PUBLISHED_PEAK = np.r_[TRUTH[:-3], 1.0, 1.0, TRUTH[-1]]  # kappa = mu = 1
# forward-momentum-size: L0, A, alpha, C, log10_eps, B, beta, kappa, mu, D, gamma
FM_TRUTH = np.array([2.9, 0.55, 0.5, 2000.0, -7.3, 0.34, 0.34, 0.2, 0.5, 50.0, 0.2])
# kappa = mu = 1, no LR term, no size exponent on C: the paper's law
FM_PAPER = np.r_[FM_TRUTH[:7], 1.0, 1.0, 0.0, 0.0]


def _runs(truth, kinds=(("constant", 3e-4), ("wsd", 3e-4), ("cosine", 6e-4))):
    return size_runs(MomentumSizeLaw(), truth, SIZES, kinds)


@pytest.fixture(scope="module")
def two_peaks():
    """The size-aware momentum law fitted to runs of three sizes at two peak LRs."""
    return fit(_runs(TRUTH), MomentumSizeLaw(), backtest=False)


def test_two_peak_lrs_pin_kappa_and_mu(two_peaks):
    fitted = two_peaks
    assert fitted.values == pytest.approx(TRUTH, rel=1e-3)
    assert not fitted.held and not fitted.warnings


def test_one_peak_lr_holds_them_at_1_without_a_note():
    one_peak = (("constant", 3e-4), ("cosine", 3e-4), ("wsd", 3e-4))
    truth = PUBLISHED_PEAK
    fitted = fit(_runs(truth, one_peak), MomentumSizeLaw(), backtest=False)
    assert {"kappa", "mu"} <= set(fitted.held) and not fitted.warnings
    assert fitted.n_free == len(fitted.params) - len(fitted.held)  # AIC/BIC count the fitted
    assert fitted.values == pytest.approx(truth, rel=1e-3)


def test_decayed_runs_of_one_peak_lr_hold_mu_and_say_so():
    kinds = (("constant", 6e-4), ("wsd", 3e-4), ("cosine", 3e-4))
    fitted = fit(_runs(TRUTH, kinds), MomentumSizeLaw(), backtest=False)
    assert "mu" in fitted.held and "kappa" not in fitted.held
    assert any(
        "mu held at 1: the runs that decay their LR have one peak LR" in w for w in fitted.warnings
    )


def test_peaks_within_5_percent_are_one_peak_lr():
    histories = [
        LRHistory.of(make_schedule("constant", steps=100, peak=p, warmup=10), 100)
        for p in (1e-3, 1.02e-3)
    ]
    assert len(distinct_peaks(histories)) == 1
    assert set(peak_holds(histories)) == {"kappa", "mu"}


def test_the_fit_at_one_size_keeps_the_peak_lr_terms(two_peaks):
    fitted = two_peaks
    at = fitted_at_size(fitted, 100e6)
    assert isinstance(at.law, MomentumLaw)
    assert at.law.peak_exponents == pytest.approx((0.2, 0.5), rel=1e-3)
    assert law_from_dict(law_to_dict(at.law)) == at.law
    for peak in (3e-4, 1e-3):
        schedule = make_schedule("wsd", steps=6000, peak=peak, warmup=200, decay=0.3)
        assert at.curve(schedule, np.arange(1, 6001)) == pytest.approx(
            fitted.curve(schedule, np.arange(1, 6001), model_size=100e6), rel=1e-12
        )
    assert "peak_exponents" not in law_to_dict(MomentumLaw())  # the published law's file as before


ADDED = {"kappa": 1.0, "mu": 1.0, "D": 0.0, "gamma": 0.0}  # values of a law without them


def _as_written_before(fitted, tmp_path, names):
    """``fitted`` saved as the law wrote it before it had the parameters ``names`` (of
    :data:`ADDED`), and loaded; and the values it was fitted as (those at :data:`ADDED`)."""
    path = tmp_path / "old.fit.json"
    save_fit(fitted, path)
    data = json.loads(path.read_text())
    for name in names:
        del data["params"][name]
    data["held"] = [h for h in data["held"] if h not in names]
    kept = [i for i, name in enumerate(fitted.law.param_names) if name not in names]
    if data["covariance"] is not None:
        data["covariance"] = [[data["covariance"][i][j] for j in kept] for i in kept]
    path.write_text(json.dumps(data))
    old = [
        ADDED.get(name, v) if name in names else v
        for name, v in zip(fitted.law.param_names, fitted.values)
    ]
    return load_fit(path), np.array(old)


@pytest.mark.parametrize(
    "law, truth, peak",
    [(MomentumSizeLaw(), PUBLISHED_PEAK, 3e-4), (ForwardMomentumSizeLaw(), FM_PAPER, 6e-4)],
)
def test_a_fit_file_from_before_the_peak_lr_terms_loads_with_them_held(tmp_path, law, truth, peak):
    """An old file has no kappa, mu (held at 1) nor D (held at 0: the law it was fitted as),
    nor, of forward-momentum-size, gamma (held at 0)."""
    one_peak = (("constant", 3e-4), ("cosine", 3e-4), ("wsd", 3e-4))
    fitted = fit(size_runs(law, truth, SIZES, one_peak), law, backtest=False)
    names = [p.name for p in law.params if p.added_at is not None]
    loaded, old = _as_written_before(fitted, tmp_path, names)
    assert loaded.values == pytest.approx(old) and set(names) <= set(loaded.held)
    schedule = make_schedule("wsd", steps=6000, peak=peak, warmup=200, decay=0.3)
    steps = np.arange(1, 6001)
    assert np.array_equal(
        loaded.curve(schedule, steps, model_size=2e8),
        law.every_step(old, LRHistory.of(schedule, 6000, 2e8)),
    )


# L0, A, alpha, B, C, beta, gamma, E, eps, zeta, kappa, mu, D
MP_THETA = np.array([1.8, 0.9, 0.45, 400.0, 2.0, 0.6, 0.5, 0.5, 0.3, 0.2, 0.3, 0.6, 150.0])


def _numeric_jacobian(law, theta, prepared):
    columns = []
    for i, value in enumerate(theta):
        h = 1e-6 * max(abs(value), 1e-3)
        up, down = theta.copy(), theta.copy()
        up[i], down[i] = value + h, value - h
        columns.append((law.evaluate(up, prepared) - law.evaluate(down, prepared)) / (2 * h))
    return np.column_stack(columns)


def _wsd_history(peak):
    schedule = make_schedule("wsd", steps=3000, peak=peak, warmup=100, decay=0.3)
    return LRHistory.of(schedule, 3000, 2e8), np.arange(50, 3001, 50)


@pytest.mark.parametrize("peak", [3e-4, 2e-3])
@pytest.mark.parametrize(
    "law, theta",
    [
        (MultiPowerSizeLaw(), MP_THETA),
        (ForwardMomentumSizeLaw(), FM_TRUTH),
        (MomentumSizeLaw(), TRUTH),
    ],
)
def test_the_analytic_jacobians_follow_the_peak_lr_terms(law, theta, peak):
    history, steps = _wsd_history(peak)
    prepared = law.prepare(history, steps)
    assert law.jacobian(theta, prepared) == pytest.approx(
        _numeric_jacobian(law, theta, prepared), rel=1e-5, abs=1e-9
    )


@pytest.mark.parametrize("peak", [3e-4, 2e-3])
def test_the_multipower_law_at_one_size_keeps_the_peak_lr_terms(peak):
    history, steps = _wsd_history(peak)
    sized = MultiPowerSizeLaw()
    prepared = sized.prepare(history, steps)
    free, theta = sized.at_size(MP_THETA, 2e8)
    assert free.peak_exponents == (0.3, 0.6) and law_from_dict(law_to_dict(free)) == free
    assert free.lr_coefficient == pytest.approx(150.0 * 0.2**0.2)  # D n^zeta, n = N / 1e9
    free_prepared = free.prepare(history, steps)
    assert free.evaluate(theta, free_prepared) == pytest.approx(
        sized.evaluate(MP_THETA, prepared), rel=1e-12
    )
    assert free.jacobian(theta, free_prepared) == pytest.approx(
        _numeric_jacobian(free, theta, free_prepared), rel=1e-5, abs=1e-9
    )
    every = np.arange(1, 3001)
    assert free.every_step(theta, history) == pytest.approx(
        sized.predict(MP_THETA, history, every), rel=1e-12
    )
    assert "peak_exponents" not in law_to_dict(MultiPowerLaw())


def test_a_fit_of_two_peak_lrs_has_seen_both(two_peaks):
    """predict said "peak LR 0.0003, fitted at 0.0006" of a peak it was fitted at: the regime
    is judged against the nearest fitted peak LR."""
    fitted = two_peaks
    assert fitted.peak_warning(3e-4) is None and fitted.peak_warning(6e-4) is None
    assert fitted.peak_warning(3.3e-4) is None  # within 20 % of one of them
    far = fitted.peak_warning(2e-3)
    assert far is not None and "fitted runs' 0.0006" in far
    wsd = make_schedule("wsd", steps=6000, peak=3e-4, warmup=200, decay=0.2)
    assert not any("peak LR" in short for short, _ in fitted.regime(wsd, 6000, model_size=1e8))


def test_a_loss_does_not_depend_on_a_later_re_warmup_to_a_higher_peak(two_peaks):
    """The peak a run is scaled by is its first phase's: a re-warmup to twice the LR after
    step 3000 left the loss before it as it was (it used the whole history's maximum)."""
    fitted = two_peaks
    base = make_schedule("constant", steps=6000, peak=3e-4, warmup=200)
    steps = np.arange(100, 3001, 100)
    before = fitted.predict(base, 6000, model_size=1e8, level=None).loss[steps - 1]
    for peak in (3e-4, 6e-4):
        later = rewarmup(base, 3000, make_schedule("cosine", steps=3000, peak=peak), 500)
        after = fitted.predict(later, 6000, model_size=1e8, level=None).loss[steps - 1]
        assert after == pytest.approx(before, rel=1e-12)


def test_forward_momentum_size_recovers_kappa_and_mu_from_two_peak_lrs():
    runs = size_runs(
        ForwardMomentumSizeLaw(),
        FM_TRUTH,
        SIZES,
        (("constant", 3e-4), ("wsd", 3e-4), ("cosine", 6e-4)),
    )
    fitted = fit(runs, ForwardMomentumSizeLaw(), backtest=False)
    assert not fitted.held and not fitted.warnings
    assert fitted.values == pytest.approx(FM_TRUTH, rel=1e-3)


def test_forward_momentum_size_of_one_peak_lr_is_the_papers_law():
    one_peak = (("constant", 3e-4), ("cosine", 3e-4), ("wsd", 3e-4))
    truth = np.r_[FM_TRUTH[:7], 1.0, 1.0, FM_TRUTH[9:]]
    fitted = fit(
        size_runs(ForwardMomentumSizeLaw(), truth, SIZES, one_peak),
        ForwardMomentumSizeLaw(),
        backtest=False,
    )
    assert {"kappa", "mu"} <= set(fitted.held) and not fitted.warnings
    assert fitted.values == pytest.approx(truth, rel=1e-3)
    # at kappa = mu = 1 and D = 0 the run's A and C are the law's own: the same bits as
    # without the terms
    history = LRHistory.of(make_schedule("wsd", steps=3000, peak=6e-4, warmup=100), 3000, 2e8)
    law, steps = ForwardMomentumSizeLaw(), np.arange(1, 3001)
    assert np.array_equal(
        law.predict(FM_PAPER, history, steps),
        ForwardMomentumLaw.evaluate(law, FM_PAPER, law.prepare(history, steps)),
    )


def test_forward_momentum_size_every_step_is_its_evaluation_with_the_peak_lr_terms():
    history, law = _wsd_history(2e-3)[0], ForwardMomentumSizeLaw()
    every = np.arange(1, 3001)
    assert np.array_equal(law.every_step(FM_TRUTH, history), law.predict(FM_TRUTH, history, every))


def test_the_lr_term_is_held_at_0_without_a_decay_and_kept_at_one_size(two_peaks):
    """momentum-size's LR term ``+ D n^gamma q^(mu-1) eta_s``: recovered with the others (the
    two-peak fit above), held at 0 quietly when no run decays its LR, and kept by the
    size-free law at one size (to the bit at every step)."""

    def histories(kinds):
        return [LRHistory.of(r.schedule, 6000, r.model_size) for r in _runs(TRUTH, kinds)]

    held = MomentumSizeLaw().held_values
    assert held(histories((("constant", 3e-4), ("constant", 6e-4))))["D"] == (0.0, "")
    assert "D" not in held(histories((("constant", 3e-4), ("wsd", 3e-4))))
    law, history = (
        MomentumSizeLaw(),
        LRHistory.of(make_schedule("wsd", steps=5000, peak=6e-4, warmup=100, decay=0.3), 5000, 2e8),
    )
    every = np.arange(1, 5001)
    assert np.array_equal(law.every_step(TRUTH, history), law.predict(TRUTH, history, every))
    without = law.predict(np.r_[TRUTH[:-1], 0.0], history, every)
    assert np.max(law.predict(TRUTH, history, every) - without) > 0.005  # the term is there
    free, theta = law.at_size(TRUTH, 2e8)
    assert free.lr_coefficient == pytest.approx(100.0 * 0.2**0.25)
    assert law_from_dict(json.loads(json.dumps(law_to_dict(free)))) == free
    assert np.array_equal(free.every_step(theta, history), law.every_step(TRUTH, history))
    assert "lr_coefficient" not in law_to_dict(MomentumLaw())  # the published law's file


def test_a_multipower_size_fit_file_from_before_the_lr_term_loads_it_held_at_0(tmp_path):
    from lrcurve.fitted import FittedLaw
    from lrcurve.parameter import Parameter

    law = MultiPowerSizeLaw()
    truth = np.r_[MP_THETA[:-1], 0.0]
    runs = size_runs(law, truth, (5e7, 2e8), (("constant", 3e-4), ("wsd", 3e-4)))
    lower, upper = law.bounds()
    params = tuple(
        Parameter(name, float(v), None, float(lo), float(hi))
        for name, v, lo, hi in zip(law.param_names, MP_THETA, lower, upper)
    )
    fitted = FittedLaw(law, params, tuple(runs), 0.1, None, True, "", backtest_scale=0.01)
    path = tmp_path / "old.fit.json"
    save_fit(fitted, path)
    data = json.loads(path.read_text())
    del data["params"]["D"]
    path.write_text(json.dumps(data))
    loaded = load_fit(path)
    assert "D" in loaded.held and loaded.values == pytest.approx(truth)
    schedule = make_schedule("wsd", steps=3000, peak=6e-4, warmup=100, decay=0.3)
    assert np.array_equal(
        loaded.curve(schedule, np.arange(1, 3001), model_size=1e8),
        law.every_step(truth, LRHistory.of(schedule, 3000, 1e8)),
    )
    # the LR term: D n^zeta q^(mu-1) eta_t, the LR with the warmup held
    added = fitted.curve(schedule, np.arange(1, 3001), model_size=1e8) - loaded.curve(
        schedule, np.arange(1, 3001), model_size=1e8
    )
    held = LRHistory.of(schedule, 3000).held
    assert added == pytest.approx(150.0 * 0.1**0.2 * (6e-4 / P_REF) ** (0.6 - 1) * held, rel=1e-9)
