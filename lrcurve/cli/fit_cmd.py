"""``lrcurve fit``: fit a loss law to logged runs and save a fit file."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    DEFAULT_SKIP,
    LAW_NAMES,
    Clock,
    Force,
    JsonOut,
    Labels,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    LRExponent,
    Parent,
    RunCol,
    RunParams,
    RunTokens,
    Skip,
    Smooth,
    StepCol,
    WarmupArea,
    WarmupSteps,
)

DEFAULT_FIT_FILE = "lrcurve.fit.json"  # fitfile.DEFAULT_FIT_FILE (a test keeps them equal)


def fit_summary(fitted: Any) -> dict:
    """What ``fit --json`` prints: the fit without the raw data, each parameter with whether it
    ended on a bound (``at_bound``; the fit file leaves it out: it follows from the values)."""
    full = fitted.to_dict()
    for p in fitted.params:
        full["params"][p.name]["at_bound"] = p.at_bound
    full["runs"] = [
        {k: v for k, v in r.items() if k not in ("steps", "loss", "schedule")} for r in full["runs"]
    ]
    full.pop("covariance")
    return full


def law_error_text(fitted: Any) -> str:
    """``b`` of :mod:`lrcurve.uncertainty`, the law's RMS error forecasting its own runs' tails,
    in % of the loss: ``0.35 %``."""
    from lrcurve.uncertainty import law_error

    return f"{100 * law_error(fitted):.2g} %"


def parameter_note(p: Any, held: bool) -> str:
    """``held``, ``at lower bound`` or ``at upper bound`` (a held parameter is not estimated, so
    not said to be at a bound), else empty."""
    if held:
        return "held"
    return f"at {p.bound} bound" if p.bound else ""


def print_fit(fitted: Any) -> None:
    from lrcurve.cli.render import out, sig, table
    from lrcurve.laws import forward_area_note

    notes = {p.name: parameter_note(p, p.name in fitted.held) for p in fitted.params}
    noted = ("note",) if any(notes.values()) else ()
    params = table(
        f"{fitted.law.name} law: {fitted.law.formula}{forward_area_note(fitted.law)}",
        ("parameter", "value", "std. error", "rel. error", *noted),
        text=("parameter", "note"),
    )
    for p in fitted.params:
        rel = f"{100 * p.stderr / abs(p.value):.2g} %" if p.stderr is not None and p.value else "-"
        row = (p.name, sig(p.value, 6), sig(p.stderr, 3), rel)
        params.add_row(*row, *((notes[p.name],) if noted else ()))
    out.print(params)
    runs = table(
        "goodness of fit on each run (the fitted points: after warmup and the first "
        f"{fitted.skip_fraction:.0%} of steps)",
        ("run", "points", "MAPE %", "max err %", "RMSE", "R²", "final err %"),
        text=("run",),
    )
    scores = fitted.scores()
    for run in fitted.runs:
        s = scores[run.name]
        runs.add_row(
            run.label,
            str(s.n_points),
            f"{s.mape:.3f}",
            f"{s.max_error:.3f}",
            f"{s.rmse:.4f}",
            f"{s.r2:.5f}",
            f"{s.final_error:+.3f}",
        )
    out.print(runs)
    out.print(
        f"law error from backtests: {law_error_text(fitted)} (each run cut at 40-80 %, its tail "
        "forecast; it scales the predictive intervals)"
    )


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def fit_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Logged runs: CSV/TSV with step, lr and loss columns, W&B exports (run JSON, "
            "panel CSV), W&B run folders (wandb/run-*, or a wandb/ folder of them), "
            "wandb:ENTITY/PROJECT/RUN_ID, TensorBoard event files or folders.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help=f"Fit file to write (default: {DEFAULT_FIT_FILE})."),
    ] = None,
    law: Annotated[
        str, typer.Option("--law", help=f"Loss law: {', '.join(LAW_NAMES)}.")
    ] = "momentum",
    warmup_area: WarmupArea = "actual",
    lr_exponent: LRExponent = 1.0,
    skip: Skip = DEFAULT_SKIP,
    warmup: WarmupSteps = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw data and fit to a PNG/SVG/PDF file.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    step_col: StepCol = None,
    lr_col: LrCol = None,
    loss_col: LossCol = None,
    run_col: RunCol = None,
    loss_unit: LossUnit = "auto",
    loss: LossSeries = None,
    smooth: Smooth = "auto",
    parent: Parent = "auto",
    params: RunParams = None,
    run_tokens: RunTokens = None,
    clock: Clock = "steps",
    label: Labels = None,
) -> None:
    """Fit a loss law to one or more logged runs; write a fit file for `predict`."""
    from lrcurve.cli.files import check_outputs, check_writable
    from lrcurve.cli.loading import RunInputs, check_clock_name, check_law_name, counted
    from lrcurve.cli.render import err, note, out, plotting, progress_bar, save_plot
    from lrcurve.errors import InputError
    from lrcurve.fitfile import holds_fit_of, save_fit
    from lrcurve.fitting import fit
    from lrcurve.laws import make_law

    inputs = RunInputs.pick(locals())
    destination = output or Path(DEFAULT_FIT_FILE)
    check_outputs(force, output, plot)  # an explicit -o needs no look at the runs to be refused
    check_law_name(law)
    model = make_law(law, warmup=warmup_area, lr_exponent=lr_exponent)
    check_clock_name(clock)
    logged = inputs.load(files, warmup)
    runs, clock_note = counted(logged, clock)
    check_outputs(force, output, plot)  # again, now that every file read is known as an input
    sources = [(r.source, r.name) for r in runs]
    refresh = output is None and not force and destination.is_file()
    if refresh and not holds_fit_of(destination, sources):
        raise InputError(
            f"{destination} holds a fit of other runs; pass --force to replace it, or -o to write "
            "elsewhere"
        )
    check_writable(destination, force or refresh)
    _say_late_starts(logged, warmup_given=warmup is not None)  # after every refusal
    with progress_bar(f"fitting the {law} law") as update:
        fitted = fit(runs, model, skip_fraction=skip, progress=update)
    if clock_note is not None:  # kept in the fit file, so predict and optimize say it again
        from lrcurve.clock import made_on_clock

        note(clock_note)
        fitted = made_on_clock(fitted, logged, clock_note)
    for warning in fitted.warnings:
        note(f"warning: {warning}")
    save_fit(fitted, destination, replace=force or refresh)
    if plot is not None:
        save_plot(plotting().plot_fit(fitted), plot, force)
    if json_out:
        from lrcurve.cli.render import emit_json

        summary = fit_summary(fitted)
        emit_json({**summary, "fit_file": str(destination), "plot": str(plot) if plot else None})
        return
    print_fit(fitted)
    from lrcurve.sizes import format_size

    for run in fitted.runs:
        size = "" if run.model_size is None else f"{format_size(run.model_size)} parameters, "
        err.print(f"{run.label}: {size}{_as_logged(fitted, run)}, LR {run.lr_origin}", style="dim")
    out.print(f"wrote {destination}" + (f" and {plot}" if plot else ""))


def _say_late_starts(runs: list[Any], warmup_given: bool) -> None:
    """Warn of runs whose log starts in a decay, or late at the peak LR with no warmup
    given."""
    from lrcurve.cli.render import note
    from lrcurve.runs import in_a_decay_said, starts_in_a_decay, starts_late_at_peak

    peak = max((run.peak_lr for run in runs), default=0.0)
    for run in runs:
        if starts_in_a_decay(run, peak):
            note(f"warning: {in_a_decay_said(run, 'fit runs logged from their start')}")
    late = [] if warmup_given else [run for run in runs if starts_late_at_peak(run)]
    if late:
        names = ", ".join(run.label for run in late[:3])
        names += f" and {len(late) - 3} more" if len(late) > 3 else ""
        starts = sorted({int(run.steps[0]) for run in late})
        logs = "the log starts" if len(late) == 1 else "the logs start"
        later = " or later" if len(starts) > 1 else ""
        note(
            f"warning: {names}: {logs} at step {starts[0]}{later} with the LR at its peak, so "
            "no warmup is assumed; if the runs warmed up before that, give --warmup N (the fit "
            "depends on it; --warmup 0 says there was none)"
        )


def _as_logged(fitted: Any, run: Any) -> str:
    """A fitted run's peak LR and warmup as it logged them (on a clock of tokens, and there)."""
    from lrcurve.target_clock import TargetClock

    clock = fitted.clock
    logged = None if clock is None else clock.logged.get(run.name)
    own = None if logged is None else TargetClock(logged, clock.unit, clock.lr_exponent)
    if own is None or own.same:
        return f"peak LR {run.peak_lr:g}, warmup {run.warmup_steps} steps"
    return (
        f"peak LR {run.peak_lr / own.lr_factor:g}, warmup {own.back(run.warmup_steps)} steps "
        f"({run.peak_lr:g} and {run.warmup_steps} steps on the clock)"
    )
