"""``lrcurve fit``: fit a loss law to logged runs and save a fit file."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lrcurve.cli import app
from lrcurve.cli.common import (
    Force,
    JsonOut,
    LRExponent,
    RunInputs,
    Skip,
    WarmupArea,
    WarmupSteps,
    add_columns,
    emit_json,
    err,
    input_options,
    note,
    out,
    progress_bar,
    sig,
)
from lrcurve.errors import InputError
from lrcurve.fitfile import DEFAULT_FIT_FILE, check_fit_destination, save_fit
from lrcurve.fitting import DEFAULT_SKIP, FittedLaw, fit
from lrcurve.laws import LAWS, forward_area_note, make_law
from lrcurve.output import check_outputs


def fit_summary(fitted: FittedLaw) -> dict:
    """What ``fit --json`` prints: the fit without the raw data."""
    full = fitted.to_dict()
    full["runs"] = [
        {k: v for k, v in r.items() if k not in ("steps", "loss", "schedule")} for r in full["runs"]
    ]
    full.pop("covariance")
    return full


def print_fit(fitted: FittedLaw) -> None:
    table = Table(
        title=f"{fitted.law.name} law: {fitted.law.formula}{forward_area_note(fitted.law)}",
        title_justify="left",
    )
    for column in ("parameter", "value", "std. error", "rel. error"):
        table.add_column(column, justify="right" if column != "parameter" else "left")
    for p in fitted.params:
        rel = f"{100 * p.stderr / abs(p.value):.2g} %" if p.stderr is not None and p.value else "-"
        table.add_row(p.name, sig(p.value, 6), sig(p.stderr, 3), rel)
    out.print(table)
    runs = Table(title="goodness of fit on each run (all logged points)", title_justify="left")
    add_columns(
        runs, ("run", "points", "MAPE %", "max err %", "RMSE", "R²", "final err %"), text=("run",)
    )
    scores = fitted.scores()
    for run in fitted.runs:
        s = scores[run.name]
        runs.add_row(
            run.name,
            str(s.n_points),
            f"{s.mape:.3f}",
            f"{s.max_error:.3f}",
            f"{s.rmse:.4f}",
            f"{s.r2:.5f}",
            f"{s.final_error:+.3f}",
        )
    out.print(runs)


@app.command("fit")
@input_options
def fit_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Logged runs: CSV/TSV with step, lr and loss columns, W&B exports (run JSON, panel CSV), TensorBoard event files or folders.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help=f"Fit file to write (default: {DEFAULT_FIT_FILE})."),
    ] = None,
    law: Annotated[str, typer.Option("--law", help=f"Loss law: {', '.join(LAWS)}.")] = "momentum",
    warmup_area: WarmupArea = "actual",
    lr_exponent: LRExponent = 1.0,
    skip: Skip = DEFAULT_SKIP,
    warmup: WarmupSteps = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw data and fit to a PNG/SVG/PDF file.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    *,
    inputs: RunInputs,
) -> None:
    """Fit a loss law to one or more logged runs; write a fit file for `predict`."""
    destination = output or DEFAULT_FIT_FILE
    check_outputs(force, output, plot)  # an explicit -o needs no look at the runs to be refused
    if law not in LAWS:
        raise InputError(f"--law must be one of {', '.join(LAWS)}, got {law!r}")
    try:
        model = make_law(law, warmup=warmup_area, lr_exponent=lr_exponent)
    except ValueError as error:
        raise InputError(f"--warmup-area: {error}") from None
    runs = inputs.load(files, warmup)
    check_outputs(
        force, output, plot
    )  # again, now that every file read is known as an input: refused before the fit
    check_fit_destination(
        destination, [(r.source, r.name) for r in runs], force, default=output is None
    )
    with progress_bar(f"fitting the {law} law") as update:
        fitted = fit(runs, model, skip_fraction=skip, progress=update)
    for warning in fitted.warnings:
        note(f"warning: {warning}")
    save_fit(fitted, destination)
    if plot is not None:
        from lrcurve.plotting import plot_fit

        plot_fit(fitted, plot)
    if json_out:
        emit_json(
            {
                **fit_summary(fitted),
                "fit_file": str(destination),
                "plot": str(plot) if plot else None,
            }
        )
        return
    print_fit(fitted)
    for run in fitted.runs:
        err.print(
            f"{run.name}: peak LR {run.peak_lr:g}, warmup {run.warmup_steps} steps, LR {run.lr_origin}",
            style="dim",
        )
    out.print(f"wrote {destination}" + (f" and {plot}" if plot else ""))
