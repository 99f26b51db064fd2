"""``lrcurve predict``: the loss curve of a schedule, from a fit file."""

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from lrcurve.cli import app
from lrcurve.cli.common import (
    Force,
    JsonOut,
    ScheduleSpec,
    emit_json,
    note,
    out,
    sampled_indices,
    schedule_options,
    sig,
)
from lrcurve.errors import InputError
from lrcurve.fitfile import load_fit
from lrcurve.fitting import FittedLaw, Prediction
from lrcurve.laws import forward_area_note, law_to_dict
from lrcurve.output import check_outputs, write_csv
from lrcurve.runs import MAX_STEPS


def fit_defaults(fitted: FittedLaw) -> dict:
    return {"steps": fitted.horizon, "peak": fitted.peak_lr, "warmup": fitted.warmup_steps}


def write_prediction_csv(path: Path, prediction: Prediction) -> None:
    """The whole curve, every step: ``step,lr,loss[,loss_stderr]``."""
    columns, formats, header = (
        [prediction.steps, prediction.lr, prediction.loss],
        ["%d", "%.8g", "%.6f"],
        "step,lr,loss",
    )
    if prediction.loss_stderr is not None:
        columns.append(prediction.loss_stderr)
        formats.append("%.6f")
        header += ",loss_stderr"
    write_csv(path, header, columns, formats)


@app.command("predict")
@schedule_options
def predict_command(
    fit_file: Annotated[
        Path | None,
        typer.Argument(
            help="Fit file from `lrcurve fit` (default: lrcurve.fit.json).", show_default=False
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the whole curve, every step, as CSV."),
    ] = None,
    every: Annotated[
        int | None,
        typer.Option(
            "--every", min=1, help="JSON: one point every N steps (default: about 1000 points)."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw the prediction with the fitted data to PNG/SVG/PDF."),
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    *,
    spec: ScheduleSpec,
) -> None:
    """Predict the loss curve of a schedule (default horizon, peak and warmup: the fitted runs')."""
    check_outputs(force, output, plot)
    fitted = load_fit(fit_file)
    schedule, used = spec.build(fitted.runs, fit_defaults(fitted))
    check_outputs(force, output, plot)  # again: the fit file and an --lr-file are inputs now known
    n_steps = schedule.horizon
    if n_steps is None:
        raise InputError("the schedule has no horizon; give --steps")
    if n_steps > MAX_STEPS:
        raise InputError(
            f"the schedule runs {n_steps:,} steps, beyond {MAX_STEPS:,}, the most lrcurve predicts"
        )
    prediction = fitted.predict(schedule, n_steps)  # refuses a loss the law cannot give
    if used:
        note(f"from the fitted runs: {', '.join(used)}")
    for warning in fitted.warnings:
        note(f"warning: the fit says: {warning}")
    for warning in prediction.warnings:
        note(f"warning: {warning}")
    if output is not None:
        write_prediction_csv(output, prediction)
    if plot is not None:
        from lrcurve.plotting import plot_prediction

        plot_prediction(fitted, [prediction], plot, [str(schedule)])
    stride = min(
        every or max(1, n_steps // 1000), n_steps
    )  # an --every past the horizon: the last step only
    if json_out:
        idx = np.unique(np.concatenate([np.arange(stride - 1, n_steps, stride), [n_steps - 1]]))
        idx = idx[idx >= min(schedule.warmup_steps, n_steps - 1)]
        emit_json(
            {
                "schedule": schedule.to_dict(),
                "schedule_text": str(schedule),
                "law": fitted.law.name,
                "law_options": {k: v for k, v in law_to_dict(fitted.law).items() if k != "name"},
                "steps": n_steps,
                "final_loss": prediction.final_loss,
                "final_stderr": prediction.final_stderr,
                "defaults_used": used,
                "warnings": list(fitted.warnings) + list(prediction.warnings),
                "curve": {
                    "step": prediction.steps[idx].tolist(),
                    "lr": prediction.lr[idx].tolist(),
                    "loss": prediction.loss[idx].tolist(),
                    "loss_stderr": None
                    if prediction.loss_stderr is None
                    else prediction.loss_stderr[idx].tolist(),
                },
                "output": str(output) if output else None,
                "plot": str(plot) if plot else None,
            }
        )
        return
    out.print(f"schedule: {schedule}", soft_wrap=True)
    table = Table(
        title=f"predicted loss ({fitted.law.name} law{forward_area_note(fitted.law)})",
        title_justify="left",
    )
    for column in ("step", "LR", "loss", "± s.e."):
        table.add_column(column, justify="right")
    for i in sampled_indices(
        n_steps, start=schedule.warmup_steps
    ):  # the laws do not describe warmup
        stderr = None if prediction.loss_stderr is None else float(prediction.loss_stderr[i])
        table.add_row(
            str(prediction.steps[i]),
            f"{prediction.lr[i]:.4g}",
            f"{prediction.loss[i]:.4f}",
            sig(stderr, 2),
        )
    out.print(table)
    band = f" ± {prediction.final_stderr:.4f}" if prediction.final_stderr is not None else ""
    out.print(f"final loss at step {n_steps}: {prediction.final_loss:.4f}{band}")
    written = [str(p) for p in (output, plot) if p is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
