"""Matplotlib figures: data against the fitted law, predictions, schedules."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lrcurve.fitting import FittedLaw, Prediction  # noqa: E402
from lrcurve.horizon import HorizonLaw  # noqa: E402
from lrcurve.output import write_atomic  # noqa: E402
from lrcurve.schedules import Schedule  # noqa: E402


def loss_lr_figure() -> tuple[plt.Figure, plt.Axes, plt.Axes]:
    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, height_ratios=(3, 1))
    ax_loss.set_ylabel("loss (nats)")
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("step")
    ax_loss.grid(alpha=0.3)
    ax_lr.grid(alpha=0.3)
    return fig, ax_loss, ax_lr


def set_title(ax: plt.Axes, title: str, fontsize: float = 10, width: int = 95) -> None:
    """A title wrapped onto as many lines as it needs (law formulas and nested schedules are long)."""
    ax.set_title(textwrap.fill(title, width=width, break_long_words=False), fontsize=fontsize)


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Lay out, write atomically (PNG/SVG/PDF by suffix) and close."""
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=130))
    plt.close(fig)


def _data_and_fit(
    fitted: FittedLaw, ax_loss: plt.Axes, ax_lr: plt.Axes, alpha: float = 1.0
) -> None:
    for i, run in enumerate(fitted.runs):
        color = f"C{i}"
        ax_loss.plot(
            run.steps,
            run.loss,
            ".",
            ms=3,
            color=color,
            alpha=0.5 * alpha,
            label=f"{run.name} (data)",
        )
        grid = np.unique(np.linspace(1, run.last_step, 800).astype(np.int64))
        ax_loss.plot(
            grid,
            fitted.curve(run.schedule, grid),
            "-",
            lw=1.2,
            color=color,
            alpha=alpha,
            label=f"{run.name} ({fitted.law.name} fit)",
        )
        ax_lr.plot(grid, run.schedule(grid), "-", lw=1, color=color, alpha=alpha)


def zoom_to_tail(ax: plt.Axes, values: Sequence[np.ndarray]) -> None:
    """Show the part of the curves where schedules differ, not the early descent."""
    tail = np.concatenate([v[len(v) // 10 :] for v in values if len(v)])
    lo, hi = float(np.min(tail)), float(np.max(tail))
    pad = 0.05 * (hi - lo or 1.0)
    ax.set_ylim(lo - pad, hi + pad)


def plot_fit(fitted: FittedLaw, path: Path) -> None:
    fig, ax_loss, ax_lr = loss_lr_figure()
    _data_and_fit(fitted, ax_loss, ax_lr)
    zoom_to_tail(ax_loss, [r.loss for r in fitted.runs])
    set_title(ax_loss, f"{fitted.law.name} law: {fitted.law.formula}")
    ax_loss.legend(fontsize=8)
    save_figure(fig, path)


def plot_prediction(
    fitted: FittedLaw, predictions: Sequence[Prediction], path: Path, labels: Sequence[str]
) -> None:
    fig, ax_loss, ax_lr = loss_lr_figure()
    _data_and_fit(fitted, ax_loss, ax_lr, alpha=0.35)
    curves = [r.loss for r in fitted.runs]
    for j, (pred, label) in enumerate(zip(predictions, labels)):
        color = f"C{len(fitted.runs) + j}"
        ax_loss.plot(pred.steps, pred.loss, "-", lw=1.6, color=color, label=f"predicted: {label}")
        if pred.loss_stderr is not None:
            ax_loss.fill_between(
                pred.steps,
                pred.loss - 2 * pred.loss_stderr,
                pred.loss + 2 * pred.loss_stderr,
                color=color,
                alpha=0.2,
                lw=0,
            )
        ax_lr.plot(pred.steps, pred.lr, "-", lw=1.4, color=color)
        curves.append(pred.loss)
    zoom_to_tail(ax_loss, curves)
    set_title(ax_loss, f"prediction from the {fitted.law.name} law (band: ±2 s.e. from the fit)")
    ax_loss.legend(fontsize=8)
    save_figure(fig, path)


def plot_schedule(schedule: Schedule, n_steps: int, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    steps = np.arange(1, n_steps + 1)
    ax.plot(steps, schedule(steps), lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    set_title(ax, str(schedule), fontsize=9, width=105)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_horizon(law: HorizonLaw, path: Path, unit: str, target: float | None = None) -> None:
    """Left: final loss vs peak LR per horizon with the fitted parabolas. Right: lr_opt vs horizon."""
    fig, (ax_sweep, ax_law) = plt.subplots(1, 2, figsize=(11, 4.5))
    for i, o in enumerate(law.optima):
        color = f"C{i}"
        ax_sweep.plot(
            [p.lr for p in o.points],
            [p.loss for p in o.points],
            "o",
            color=color,
            label=f"D={o.horizon:.3g}",
        )
        x = np.log([p.lr for p in o.used])
        if len(o.used) >= 3:
            coef = np.polyfit(x, [p.loss for p in o.used], 2)
            grid = np.linspace(x.min(), x.max(), 100)
            ax_sweep.plot(np.exp(grid), np.polyval(coef, grid), "-", color=color, lw=1)
        ax_sweep.axvline(o.lr_opt, color=color, ls=":", lw=1)
    ax_sweep.set_xscale("log")
    ax_sweep.set_xlabel("peak LR")
    ax_sweep.set_ylabel("final loss")
    ax_sweep.legend(fontsize=8)
    horizons = np.array([o.horizon for o in law.optima])
    lrs = np.array([o.lr_opt for o in law.optima])
    errors = np.array([o.log_lr_stderr or 0.0 for o in law.optima])
    ax_law.errorbar(
        horizons,
        lrs,
        yerr=[lrs - lrs * np.exp(-errors), lrs * np.exp(errors) - lrs],
        fmt="o",
        label="per-horizon optimum",
    )
    top = max(horizons.max(), target or 0) * 1.3
    grid = np.geomspace(horizons.min() / 1.3, top, 100)
    ax_law.plot(grid, law.B * grid ** (-law.beta), "-", label=law.formula(3))
    if target is not None:
        lr, lo, hi = law.predict(target)
        ax_law.errorbar(
            [target],
            [lr],
            yerr=None if lo is None else [[lr - lo], [hi - lr]],
            fmt="s",
            color="C3",
            label=f"extrapolated: {lr:.3g}",
        )
    ax_law.set_xscale("log")
    ax_law.set_yscale("log")
    ax_law.set_xlabel(f"horizon D ({unit})")
    ax_law.set_ylabel("optimal peak LR")
    ax_law.legend(fontsize=8)
    for ax in (ax_sweep, ax_law):
        ax.grid(alpha=0.3, which="both")
    save_figure(fig, path)
