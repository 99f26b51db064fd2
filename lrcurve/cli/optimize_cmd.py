"""``lrcurve optimize``: the best setting of a schedule family, and the whole trade-off."""

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from lrcurve.cli import app
from lrcurve.cli.common import (
    PEAK_FLAG,
    REWARMUP_PHASE,
    Force,
    JsonOut,
    ScheduleSpec,
    add_columns,
    check_steps,
    default_from,
    emit_json,
    expand_paths,
    load_runs,
    note,
    out,
    progress_bar,
)
from lrcurve.cli.predict_cmd import fit_defaults
from lrcurve.errors import InputError
from lrcurve.fitfile import load_fit
from lrcurve.fitting import FittedLaw
from lrcurve.optimize import (
    DEFAULT_COSINE_FLOORS,
    DEFAULT_FRACTIONS,
    DEFAULT_MAX_LRS,
    DEFAULT_PERIODS,
    DEFAULT_SHAPES,
    FAMILIES,
    Candidate,
    LawOpinion,
    MeasuredRun,
    Search,
    against_measured,
    check_from_step,
    cosine_candidates,
    default_baseline,
    default_rewarmup_baseline,
    first_decaying_run,
    measured_bests,
    other_laws,
    rewarmup_candidates,
    search,
    wsd_candidates,
)
from lrcurve.output import check_plot_path
from lrcurve.io import Columns
from lrcurve.runs import MAX_STEPS, Run, check_peak_lr
from lrcurve.schedules import WSD


def _numbers(text: str | None, flag: str, default: tuple[float, ...]) -> tuple[float, ...]:
    if text is None:
        return default
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{flag} takes comma-separated numbers, got {text!r}") from None


def _step_counts(text: str | None, flag: str) -> list[int] | None:
    """Comma-separated whole numbers of steps (``1e3`` too); ``None`` when the flag is not given."""
    if text is None:
        return None
    counts = []
    for value in _numbers(text, flag, ()):
        if not (value.is_integer() and 0 <= value <= MAX_STEPS):
            raise InputError(
                f"{flag} {text!r}: {value:g} is not a whole number of steps in [0, {MAX_STEPS:,}]"
            )
        counts.append(int(value))
    return counts


# Flags that shape only some searches (``rewarmup`` also when it is the baseline: --baseline rewarmup).
_SEARCH_FLAGS = {
    "shapes": ("wsd",),
    "fractions": ("wsd",),
    "periods": ("cosine",),
    "max_lrs": ("rewarmup",),
    "rewarmups": ("rewarmup",),
}
_REWARMUP_FLAGS = ("from_step", "base_run", "then")
_PHASE_FLAGS = ("decay", "shape")  # the WSD phase of a re-warmup search takes these too


def _check_applicable(family: str, baseline: str | None, **given: Any) -> None:
    """Refuse a flag given (not None) that neither the search of ``family`` nor the baseline uses."""
    wsd_phase = (
        family == "rewarmup" and given.get("then") == "wsd"
    )  # --decay and --shape shape its candidates
    for name, value in given.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name in _SEARCH_FLAGS:
            if family not in _SEARCH_FLAGS[name]:
                raise InputError(f"{flag} does not apply to --family {family}")
        elif name in _REWARMUP_FLAGS:
            if "rewarmup" not in (family, baseline):
                raise InputError(f"{flag} applies to --family rewarmup or --baseline rewarmup only")
        elif baseline is None and not (name in _PHASE_FLAGS and wsd_phase):
            also = (
                " or the candidates of --family rewarmup --then wsd" if name in _PHASE_FLAGS else ""
            )
            raise InputError(
                f"{flag} applies to the --baseline schedule{also}; give --baseline NAME"
            )


def _rewarmup_start(from_step: int | None, base: Run, steps: int) -> int:
    """Where the re-warmup starts: ``--from-step``, else the end of ``base``; inside the run."""
    check_from_step(from_step or base.horizon, steps, None if from_step else base.name)
    return from_step or base.horizon


def _base_run(runs: tuple[Run, ...], name: str | None) -> Run:
    if name is None:
        run, _ = first_decaying_run(runs)
        note(f"re-warmup continues fitted run {run.name} (--base-run to choose)")
        return run
    for run in runs:
        if run.name == name:
            return run
    raise InputError(f"--base-run {name!r}: the fit has runs {', '.join(r.name for r in runs)}")


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _x_text(search_result: Search, x: float) -> str:
    return _percent(x) if search_result.family == "wsd" else f"{x:.3g}"


def plot_search(result: Search, fitted: FittedLaw, path: Path) -> None:
    """Trade-off curves (loss vs the family's main parameter, one line per series) and the
    LR of the best candidate against the baseline's."""
    from lrcurve.plotting import plt, save_figure

    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(12, 4.8), width_ratios=(3, 2))
    for i, (series, (x, loss)) in enumerate(result.curves().items()):
        ax.plot(x, loss, "o-", ms=3.5, lw=1.3, color=f"C{i}", label=series)
    ax.axhline(
        result.baseline_loss,
        color="k",
        ls="--",
        lw=1,
        label=f"baseline: {result.baseline_label.split(' (')[0]}",
    )
    ax.plot(
        [result.best.x],
        [result.best_loss],
        "*",
        ms=14,
        color="gold",
        mec="k",
        zorder=5,
        label=f"best: {result.best.label}",
    )
    ax.set_xlabel(result.x_name)
    ax.set_ylabel(f"predicted loss at step {result.at_step}")
    ax.set_title(f"{result.family}: predicted loss ({fitted.law.name} law)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    steps = np.unique(np.linspace(1, result.steps, 2000).round().astype(np.int64))
    ax_lr.plot(steps, result.baseline(steps), "k--", lw=1.2, label="baseline")
    ax_lr.plot(steps, result.best.schedule(steps), "-", lw=1.6, color="C3", label="best")
    ax_lr.set_xlabel("step")
    ax_lr.set_ylabel("learning rate")
    ax_lr.grid(alpha=0.3)
    ax_lr.legend(fontsize=8)
    save_figure(fig, path)


def _candidate_json(candidate: Candidate, loss: float) -> dict[str, Any]:
    return {**candidate.params, "series": candidate.series, "x": candidate.x, "loss": loss}


def _print_tables(result: Search, top: int) -> None:
    table = Table(
        title=f"best {min(top, len(result.candidates))} of {len(result.candidates)} candidates "
        f"(predicted loss at step {result.at_step})",
        title_justify="left",
    )
    for column in ("rank", "setting", "loss", "vs baseline"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for rank, i in enumerate(result.order[:top], 1):
        loss = float(result.loss[i])
        table.add_row(
            str(rank),
            result.candidates[i].label,
            f"{loss:.4f}",
            f"{loss - result.baseline_loss:+.4f}",
        )
    table.add_row(
        "", f"baseline: {result.baseline_label}", f"{result.baseline_loss:.4f}", "", style="dim"
    )
    out.print(table)

    curves = result.curves()
    xs = sorted({c.x for c in result.candidates})
    trade = Table(title="trade-off (* best per column)", title_justify="left")
    trade.add_column(result.x_name, justify="right")
    for series in curves:
        trade.add_column(series, justify="right")
    best_x = result.best_per_series()
    for x in xs:
        cells = []
        for series, (sx, sl) in curves.items():
            hit = np.flatnonzero(np.isclose(sx, x, rtol=1e-12, atol=0))
            cells.append(
                ""
                if hit.size == 0
                else f"{sl[hit[0]]:.4f}" + ("*" if best_x[series][0] == x else " ")
            )
        trade.add_row(_x_text(result, x), *cells)
    out.print(trade)


def _print_opinions(result: Search, law: str, opinions: list[LawOpinion], top: int) -> None:
    table = Table(title=f"the laws side by side (rank by the {law} law)", title_justify="left")
    table.add_column("setting")
    for name in (law, *(o.law for o in opinions)):
        table.add_column(f"{name} loss (rank)", justify="right")
    for rank, i in enumerate(result.order[:top], 1):
        cells = [f"{result.loss[i]:.4f} ({rank})"] + [
            f"{o.loss[i]:.4f} ({o.rank_of(int(i))})" for o in opinions
        ]
        table.add_row(result.candidates[i].label, *cells)
    out.print(table)
    for o in opinions:
        best = result.candidates[o.best]
        verdict = (
            "agree"
            if o.best == int(result.order[0])
            else (
                f"differ: the {o.law} law ranks the {law} law's best #{o.rank_of(int(result.order[0]))}"
            )
        )
        out.print(
            f"best by the {o.law} law: {best.label} ({o.loss[o.best]:.4f}); by the {law} law: "
            f"{result.best.label}: {verdict}",
            soft_wrap=True,
        )


def _print_measured(scored: list[MeasuredRun]) -> None:
    table = Table(
        title="measured sweep: last logged loss against the law's prediction for each run's schedule",
        title_justify="left",
    )
    add_columns(
        table, ("run schedule", "step", "measured", "predicted", "error %"), text=("run schedule",)
    )
    for m in sorted(scored, key=lambda m: (m.horizon, m.label)):
        table.add_row(
            m.label,
            str(m.step),
            f"{m.measured:.4f}",
            f"{m.predicted:.4f}",
            f"{m.error_percent:+.2f}",
        )
    out.print(table)
    for horizon, (measured_best, predicted_best) in measured_bests(scored).items():
        verdict = "agree" if measured_best is predicted_best else "differ"
        out.print(
            f"horizon {horizon}: measured best {measured_best.label} ({measured_best.measured:.4f}); "
            f"the law's best of these runs {predicted_best.label} ({predicted_best.predicted:.4f}): {verdict}",
            soft_wrap=True,
        )


@app.command("optimize")
def optimize_command(
    fit_file: Annotated[
        Path | None,
        typer.Argument(
            help="Fit file from `lrcurve fit` (default: lrcurve.fit.json).", show_default=False
        ),
    ] = None,
    family: Annotated[
        str, typer.Option("--family", "-f", help=f"Family to search: {', '.join(FAMILIES)}.")
    ] = "wsd",
    steps: Annotated[
        int | None,
        typer.Option("--steps", min=1, help="Total steps (default: the fitted runs' horizon)."),
    ] = None,
    peak: Annotated[
        float | None, typer.Option("--peak", help="Peak LR (default: the fitted runs').")
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option("--warmup", min=0, help="Warmup steps (default: the fitted runs')."),
    ] = None,
    at_step: Annotated[
        int | None,
        typer.Option("--at-step", min=1, help="Compare the loss at this step (default: the last)."),
    ] = None,
    shapes: Annotated[
        str | None,
        typer.Option(
            "--shapes", help=f"WSD: decay shapes searched (default {','.join(DEFAULT_SHAPES)})."
        ),
    ] = None,
    fractions: Annotated[
        str | None,
        typer.Option(
            "--fractions", help="WSD: decay fractions searched (default 0.025..0.6, 13 values)."
        ),
    ] = None,
    periods: Annotated[
        str | None,
        typer.Option(
            "--periods",
            help="Cosine: periods searched, as fractions of the steps after warmup (1 = ends at the last step; default 0.5..1.5).",
        ),
    ] = None,
    floors: Annotated[
        str | None,
        typer.Option(
            "--floors",
            help="Final LR fractions searched (cosine default 0,0.01,0.02,0.05,0.1,0.2; WSD and re-warmup default 0).",
        ),
    ] = None,
    from_step: Annotated[
        int | None,
        typer.Option(
            "--from-step",
            min=1,
            help="Re-warmup: step where the new phase starts (default: the base run's end).",
        ),
    ] = None,
    base_run: Annotated[
        str | None,
        typer.Option(
            "--base-run", help="Re-warmup: fitted run to continue (default: the first that decays)."
        ),
    ] = None,
    max_lrs: Annotated[
        str | None,
        typer.Option(
            "--max-lrs",
            help="Re-warmup: maximum LRs searched, as fractions of --peak (default 0.1..1).",
        ),
    ] = None,
    rewarmups: Annotated[
        str | None,
        typer.Option(
            "--rewarmups",
            help="Re-warmup: warmup lengths searched, in steps (default 0,1,2,5,10 % of the new phase).",
        ),
    ] = None,
    then: Annotated[
        str | None,
        typer.Option(
            "--then",
            help=f"Re-warmup: family of the new phase (candidates and a rewarmup baseline; default {REWARMUP_PHASE}).",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline family, with the usual flags below (default: the fitted runs' first decaying schedule at this horizon).",
        ),
    ] = None,
    decay: Annotated[
        float | None,
        typer.Option(
            "--decay",
            min=0.0,
            max=1.0,
            help=f"WSD: decay fraction of the baseline or of the re-warmup's new phase (default {WSD.decay:g}).",
        ),
    ] = None,
    shape: Annotated[
        str | None, typer.Option("--shape", help="Baseline WSD: decay shape.")
    ] = None,
    floor: Annotated[
        float | None,
        typer.Option(
            "--floor", min=0.0, max=1.0, help="Baseline: final LR as a fraction of the peak."
        ),
    ] = None,
    period: Annotated[
        int | None,
        typer.Option("--period", min=1, help="Baseline cosine: steps of the half-cosine."),
    ] = None,
    cycle: Annotated[
        int | None,
        typer.Option("--cycle", min=1, help="Baseline cyclic cosine: steps per cycle."),
    ] = None,
    milestones: Annotated[
        str | None,
        typer.Option("--milestones", help="Baseline multistep: steps where the LR changes."),
    ] = None,
    factors: Annotated[
        str | None,
        typer.Option(
            "--factors", help="Baseline multistep: LR after each milestone (fraction of the peak)."
        ),
    ] = None,
    lr_file: Annotated[
        Path | None, typer.Option("--lr-file", help="Baseline file: a table of step,lr.")
    ] = None,
    also: Annotated[
        list[Path] | None,
        typer.Option(
            "--also",
            help="Fit files of other laws (e.g. from `fit --law multipower`): score the same candidates with each and show where the laws disagree (repeatable).",
        ),
    ] = None,
    measured: Annotated[
        list[str] | None,
        typer.Option(
            "--measured",
            help="Runs of a measured sweep (e.g. WSD runs with different cooldown fractions; a file or a quoted glob pattern, repeatable): their final loss next to the law's prediction, and the best of each.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Candidates listed in the table.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the trade-off curves to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Search a schedule family for the lowest predicted loss; show the trade-off and the gain over a baseline."""
    if family not in FAMILIES:
        raise InputError(f"--family must be one of {', '.join(FAMILIES)}, got {family!r}")
    _check_applicable(
        family,
        baseline,
        shapes=shapes,
        fractions=fractions,
        periods=periods,
        from_step=from_step,
        base_run=base_run,
        max_lrs=max_lrs,
        rewarmups=rewarmups,
        then=then,
        decay=decay,
        shape=shape,
        floor=floor,
        period=period,
        cycle=cycle,
        milestones=milestones,
        factors=factors,
        lr_file=lr_file,
    )
    if plot is not None:
        check_plot_path(plot, force)
    fitted = load_fit(fit_file)
    defaults = fit_defaults(fitted)
    used: list[str] = []
    steps = default_from("steps", steps, defaults, used)
    peak = default_from("peak", peak, defaults, used)
    warmup = default_from("warmup", warmup, defaults, used)
    check_steps(steps)
    if not 0 <= warmup < steps:
        raise InputError(f"--warmup ({warmup}) must be in [0, --steps ({steps}))")
    check_peak_lr(peak, PEAK_FLAG)
    if used:
        note(f"from the fitted runs: {', '.join(used)}")
    if at_step is not None and at_step > steps:
        raise InputError(f"--at-step ({at_step}) must be between 1 and --steps ({steps})")
    floor_grid = _numbers(
        floors, "--floors", DEFAULT_COSINE_FLOORS if family == "cosine" else (0.0,)
    )

    base: Run | None = None
    if "rewarmup" in (family, baseline):
        base = _base_run(fitted.runs, base_run)
        from_step = _rewarmup_start(from_step, base, steps)
    if family == "wsd":
        shape_list = (
            tuple(s.strip() for s in shapes.split(",") if s.strip()) if shapes else DEFAULT_SHAPES
        )
        candidates = wsd_candidates(
            steps,
            peak,
            warmup,
            _numbers(fractions, "--fractions", DEFAULT_FRACTIONS),
            shape_list,
            floor_grid,
        )
    elif family == "cosine":
        candidates = cosine_candidates(
            steps, peak, warmup, _numbers(periods, "--periods", DEFAULT_PERIODS), floor_grid
        )
    else:
        warmup_grid = _step_counts(rewarmups, "--rewarmups")
        candidates = rewarmup_candidates(
            base.schedule,
            from_step,
            steps,
            peak,
            _numbers(max_lrs, "--max-lrs", DEFAULT_MAX_LRS),
            warmup_grid,
            then or REWARMUP_PHASE,
            floor_grid,
            decay=decay,
            shape=shape,
        )

    if baseline is None:
        if family == "rewarmup":
            baseline_schedule, baseline_label = default_rewarmup_baseline(
                fitted.runs, base.schedule, from_step, steps, peak, warmup
            )
        else:
            baseline_schedule, baseline_label = default_baseline(fitted.runs, steps, peak, warmup)
        note(f"baseline (--baseline to choose): {baseline_label}")
    else:
        if "power" in (baseline, then if baseline == "rewarmup" else None):
            given = (
                "--baseline power" if baseline == "power" else "--baseline rewarmup --then power"
            )
            raise InputError(
                f"{given}: optimize has no --a, --b, --batch or --tokens-per-step; give the power "
                "schedule as --baseline file --lr-file LR.csv (from `lrcurve schedule power -o LR.csv`)"
            )
        rewarm = (
            baseline == "rewarmup"
        )  # takes --from-step, --then and the base run; other baselines refuse them
        spec = ScheduleSpec(
            baseline,
            steps,
            peak,
            warmup,
            decay,
            shape,
            floor,
            period,
            cycle,
            milestones,
            factors,
            lr_file,
            from_step if rewarm else None,
            then if rewarm else None,
            base.name if rewarm else None,
            None,
            None,
            None,
            None,
        )
        baseline_schedule, _ = spec.build(fitted.runs)
        baseline_label = str(baseline_schedule)
    if baseline_schedule.horizon is not None and baseline_schedule.horizon < (at_step or steps):
        raise InputError(
            f"the baseline ends at step {baseline_schedule.horizon}, before step {at_step or steps}"
        )

    with progress_bar(f"predicting {len(candidates)} {family} schedules") as update:
        result = search(
            fitted,
            family,
            candidates,
            baseline_schedule,
            baseline_label,
            steps=steps,
            at_step=at_step,
            progress=update,
        )
    for warning in fitted.warnings:
        note(f"warning: the fit says: {warning}")
    horizon_warning = fitted.horizon_warning(
        steps
    )  # candidates' peaks are reported below, for all of them
    if horizon_warning:
        note(f"warning: {horizon_warning}")
    if max(c.schedule.peak for c in candidates) > 1.2 * fitted.peak_lr:
        note(
            f"warning: some candidates' LR exceeds the fitted runs' peak {fitted.peak_lr:g}; the law has no penalty for "
            "too high an LR and extrapolates there"
        )
    for warning in fitted.decay_warnings(result.best.schedule, result.at_step):
        note(f"warning: the best candidate: {warning}")
    for message in result.notes:
        note(message)
    opinions = []
    if also:
        with progress_bar("scoring the candidates with the other laws") as update:
            opinions = other_laws(result, [load_fit(path) for path in also], progress=update)
    scored = (
        against_measured(
            fitted, load_runs(expand_paths(measured, "--measured"), Columns(), "auto", None)
        )
        if measured
        else []
    )
    if plot is not None:
        plot_search(result, fitted, plot)

    rel = result.gain / result.baseline_loss
    if json_out:
        emit_json(
            {
                "family": family,
                "law": fitted.law.name,
                "steps": steps,
                "at_step": result.at_step,
                "peak": peak,
                "warmup": warmup,
                "defaults_used": used,
                "x_name": result.x_name,
                "series_name": result.series_name,
                "best": {
                    **_candidate_json(result.best, result.best_loss),
                    "schedule": result.best.schedule.to_dict(),
                    "schedule_text": str(result.best.schedule),
                },
                "baseline": {
                    "label": result.baseline_label,
                    "loss": result.baseline_loss,
                    "schedule": result.baseline.to_dict(),
                },
                "gain": result.gain,
                "gain_stderr": result.gain_stderr,
                "gain_percent": 100 * rel,
                "best_per_series": {
                    s: {"x": x, "loss": v} for s, (x, v) in result.best_per_series().items()
                },
                "candidates": [
                    _candidate_json(c, float(v)) for c, v in zip(result.candidates, result.loss)
                ],
                "notes": list(result.notes),
                "plot": str(plot) if plot else None,
                "other_laws": [
                    {
                        "law": o.law,
                        "best": _candidate_json(result.candidates[o.best], float(o.loss[o.best])),
                        "rank_of_our_best": o.rank_of(int(result.order[0])),
                        "losses": o.loss.tolist(),
                    }
                    for o in opinions
                ],
                "measured": [{**asdict(m), "error_percent": m.error_percent} for m in scored],
                "measured_best": {
                    str(h): {"measured": mb.name, "predicted": pb.name}
                    for h, (mb, pb) in measured_bests(scored).items()
                },
            }
        )
        return
    _print_tables(result, top)
    if opinions:
        _print_opinions(result, fitted.law.name, opinions, top)
    if scored:
        _print_measured(scored)
    band = f" ± {result.gain_stderr:.2g}" if result.gain_stderr is not None else ""
    out.print(
        f"best: {result.best.label}: loss {result.best_loss:.4f} at step {result.at_step}",
        soft_wrap=True,
    )
    out.print(
        f"gain over the baseline ({result.baseline_loss:.4f}): {result.gain:.4f}{band} ({100 * rel:.2f} %)",
        soft_wrap=True,
    )
    if plot is not None:
        out.print(f"wrote {plot}")
