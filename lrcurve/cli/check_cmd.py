"""``lrcurve check``: is a run still on its predicted curve? Exit 0 in band, 1 on drift, 2 on bad input."""

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from lrcurve.check import (
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOWS,
    CheckResult,
    check_run,
    parse_tolerance,
)
from lrcurve.cli import app
from lrcurve.cli.common import (
    Force,
    JsonOut,
    RunInputs,
    ScheduleSpec,
    emit_json,
    input_options,
    note,
    out,
    say_notes,
    schedule_options,
)
from lrcurve.errors import InputError
from lrcurve.fitfile import load_fit
from lrcurve.io.stitch import logged_lr, lr_mismatch
from lrcurve.output import check_plot_path
from lrcurve.runs import Run


def with_flag_schedule(run: Run, spec: ScheduleSpec) -> Run:
    """``run`` under the schedule of the flags (its planned horizon), checked against its logged LR."""
    schedule, used = spec.build((run,), {"peak": run.peak_lr, "warmup": run.warmup_steps})
    if schedule.horizon is not None and schedule.horizon < run.last_step:
        raise InputError(
            f"the schedule of the flags ends at step {schedule.horizon}, before {run.source or run.name}'s "
            f"last logged step {run.last_step}; --steps is the run's planned horizon"
        )
    if used:
        note(f"{run.name}: from the log: {', '.join(used)}")
    notes = list(run.notes)
    points = logged_lr(run.schedule)
    gap = None if points is None else lr_mismatch(schedule, *points)
    if gap is not None:
        notes.append(f"{run.source or run.name}: warning: {gap}")
    return replace(
        run, schedule=schedule, lr_origin=f"given with flags: {schedule}", notes=tuple(notes)
    )


def annotation(result: CheckResult) -> str:
    """The one-line verdict; a GitHub Actions workflow command when GITHUB_ACTIONS=true."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        level = "error" if result.drifted else "notice"
        text = result.summary().replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return f"::{level} title=lrcurve check::{text}"
    return f"lrcurve check: {'DRIFT' if result.drifted else 'OK'}: {result.summary()}"


def print_result(result: CheckResult) -> None:
    table = Table(
        title=f"{result.run.name}: logged loss against the prediction (tolerance ±{100 * result.tolerance:.3g} %)",
        title_justify="left",
    )
    for column in ("steps", "points", "deviation %", "band"):
        table.add_column(column, justify="left" if column == "band" else "right")
    for w in result.windows:
        table.add_row(
            f"{w.start}-{w.end}",
            str(w.points),
            f"{100 * w.deviation:+.3f}",
            "ok" if w.in_band else Text("drift", style="red"),
        )
    out.print(table)
    if result.forecast is not None:
        f = result.forecast
        ci = (
            f" (fit uncertainty only, 95 %: {f.interval[0]:.4f} - {f.interval[1]:.4f})"
            if f.interval
            else ""
        )
        out.print(
            f"forecast: final loss at step {f.horizon}: {f.final_loss:.4f}{ci}; "
            f"{f.at_current_deviation:.4f} if the latest deviation persists"
        )


@app.command("check")
@schedule_options
@input_options
def check_command(
    fit_file: Annotated[
        Path, typer.Argument(help="Fit file from `lrcurve fit`.", show_default=False)
    ],
    run_file: Annotated[
        Path,
        typer.Argument(
            help="The run's log so far (CSV, W&B export, TensorBoard).", show_default=False
        ),
    ],
    tolerance: Annotated[
        str,
        typer.Option(
            "--tolerance", "-t", help="Allowed relative deviation of a window, e.g. 0.5% or 0.005."
        ),
    ] = DEFAULT_TOLERANCE,
    windows: Annotated[
        int,
        typer.Option(
            "--windows",
            min=1,
            help="Cut the compared log into this many windows of consecutive points.",
        ),
    ] = DEFAULT_WINDOWS,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Draw logged vs predicted loss and the window deviations to PNG/SVG/PDF."
        ),
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    *,
    spec: ScheduleSpec,
    inputs: RunInputs,
) -> None:
    """Compare a run's logged loss with the loss the fit predicts for its schedule.

    The schedule is the run's own (rebuilt from a W&B config, or its logged LR); give
    --schedule/--steps/... to set its planned horizon, and the rest of a partial run is
    forecast. Exit status: 0 within tolerance, 1 when the loss drifted, 2 on bad input.
    """
    band = parse_tolerance(tolerance)
    if plot is not None:
        check_plot_path(plot, force)
    fitted = load_fit(fit_file)
    if str(inputs.parent) == str(run_file):
        raise InputError(f"--parent {inputs.parent}: a run cannot be its own parent")
    planned = spec.steps is not None or spec.lr_file is not None
    planning = spec.given(ignore=("warmup",))
    if planning and not planned:
        raise InputError(
            f"{planning[0]} sets the run's planned schedule: give --steps (its horizon) or --lr-file too"
        )
    runs = inputs.load([run_file], spec.warmup, quiet=True)
    inherited = None
    if (
        spec.warmup is None
        and fitted.warmup_steps
        and all(r.warmup_steps == 0 and r.steps[0] >= fitted.warmup_steps for r in runs)
    ):
        # a log that starts after the fitted runs' warmup, with no warmup of its own: theirs, as `predict` does
        inherited = f"from the fit: warmup={fitted.warmup_steps} (the log starts at step {runs[0].steps[0]}; give --warmup to change it)"
        runs = inputs.load([run_file], fitted.warmup_steps, quiet=True)
    if planned:
        runs = [
            with_flag_schedule(run, spec) for run in runs
        ]  # may refuse the flags: before any note
    if inherited:
        note(inherited)
    say_notes(runs)
    results = [check_run(fitted, run, band, windows) for run in runs]
    for warning in fitted.warnings:
        note(f"warning: the fit says: {warning}")
    for run in runs:
        for warning in fitted.regime_warnings(run.schedule, run.horizon):
            note(f"warning: {run.name}: {warning}")
    if plot is not None:
        from lrcurve.check import plot_check

        if len(results) > 1:
            note(f"the plot shows the first of {len(results)} runs")
        plot_check(fitted, results[0], plot)
    drifted = any(r.drifted for r in results)
    if json_out:
        emit_json(
            {
                "status": "drift" if drifted else "ok",
                "fit_file": str(fit_file),
                "law": fitted.law.name,
                "runs": [r.to_dict() for r in results],
                "plot": str(plot) if plot else None,
            }
        )
        for result in results:  # keep stdout pure JSON; CI annotations go to stderr
            typer.echo(annotation(result), err=True)
    else:
        for result in results:
            print_result(result)
        for result in results:
            typer.echo(annotation(result))
        if plot is not None:
            out.print(f"wrote {plot}")
    raise typer.Exit(1 if drifted else 0)
