"""``lrcurve lr-horizon``: the best peak LR per horizon and its power law in the horizon."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    FloatOption,
    Force,
    JsonOut,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    Parent,
    RunCol,
    Smooth,
    StepCol,
)


def print_horizon(law: Any, unit: str, target: float | None) -> None:
    import numpy as np

    from lrcurve.cli.render import out, sig, table

    rows = table(
        "best peak LR per horizon (parabola in log LR near the best runs)",
        (f"horizon ({unit})", "runs", "LRs in fit", "best observed", "lr_opt", "×/÷ (1 s.e.)")
        + ("bracketed",),
    )
    for o in law.optima:
        factor = f"{np.exp(o.log_lr_stderr):.3f}" if o.log_lr_stderr is not None else "-"
        rows.add_row(
            f"{o.horizon:.4g}",
            str(len(o.points)),
            str(len(o.used)),
            f"{o.best_observed.lr:.3g}",
            f"{o.lr_opt:.4g}",
            factor,
            "yes" if o.bracketed else "no",
        )
    out.print(rows)
    beta_se = sig(law.beta_stderr, 2) if law.beta_stderr is not None else "n/a"
    out.print(f"lr_opt(D) = {law.formula()}   (beta ± {beta_se}, D in {unit})")
    if target is not None:
        lr, lo, hi = law.predict(target)
        interval = (
            f"95 % interval {lo:.3g} .. {hi:.3g}"
            if lo is not None
            else f"no 95 % interval: {law.no_interval}"
        )
        out.print(
            f"best peak LR at D = {target:.4g} {unit}: {lr:.4g}  ({interval})", soft_wrap=True
        )


def horizon_json(law: Any, unit: str, target: float | None) -> dict[str, Any]:
    prediction = law.predict(target) if target is not None else None
    return {
        "unit": unit,
        "B": law.B,
        "beta": law.beta,
        "beta_stderr": law.beta_stderr,
        "covariance_logB_beta": None if law.covariance is None else law.covariance.tolist(),
        "no_interval": law.no_interval or None,
        "horizons": [
            {
                "horizon": o.horizon,
                "lr_opt": o.lr_opt,
                "log_lr_stderr": o.log_lr_stderr,
                "bracketed": o.bracketed,
                "best_observed_lr": o.best_observed.lr,
                "runs": [{"name": p.name, "lr": p.lr, "loss": p.loss} for p in o.points],
                "note": o.note,
            }
            for o in law.optima
        ],
        "target": None
        if prediction is None
        else {
            "horizon": target,
            "lr_opt": prediction[0],
            "lower95": prediction[1],
            "upper95": prediction[2],
            "no_interval": law.no_interval or None,
        },
        "warnings": list(law.warnings),
    }


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def horizon_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Finished runs at several peak LRs and horizons.", show_default=False),
    ] = None,
    table_file: Annotated[
        Path | None,
        typer.Option(
            "--table",
            help="A summary table instead: one row per run with lr, horizon (tokens or steps) "
            "and final loss columns.",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Keep table rows with COLUMN=VALUE (repeatable)."),
    ] = None,
    tokens_per_step: Annotated[
        float | None,
        FloatOption(
            "--tokens-per-step",
            min=1.0,
            help="Tokens per optimiser step: horizons in tokens instead of steps.",
        ),
    ] = None,
    target: Annotated[
        float | None,
        FloatOption(
            "--target",
            help="Horizon to extrapolate the best LR to (tokens with --tokens-per-step, "
            "else steps).",
        ),
    ] = None,
    span: Annotated[
        float,
        FloatOption(
            "--span",
            min=1.5,
            help="Fit each parabola to the runs within this factor of the best observed LR.",
        ),
    ] = 10.0,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Loss vs LR per horizon and lr_opt vs D, to PNG/SVG/PDF."),
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
) -> None:
    """Best peak LR per training horizon and the power law lr_opt = B * D^-beta.

    After Bjorck et al., Scaling Optimal LR Across Token Horizons, arXiv 2409.19913."""
    from lrcurve.cli.files import check_plot_path, mark_input
    from lrcurve.cli.loading import RunInputs
    from lrcurve.cli.render import emit_json, note, plotting, save_plot
    from lrcurve.errors import InputError, ParameterError
    from lrcurve.horizon import fit_horizon_law
    from lrcurve.sweeps import points_from_runs, points_from_table

    inputs = RunInputs.pick(locals())
    if plot is not None:
        check_plot_path(plot, force)
    if not files and table_file is None:
        raise InputError("give finished runs, or a summary table with --table")
    if target is not None and target <= 0:
        raise ParameterError(f"must be positive, got {target:g}", param="target")
    scale = tokens_per_step or 1.0
    unit = "tokens" if tokens_per_step else "steps"
    points = []
    if table_file is not None:
        table = points_from_table(table_file, where or [], scale)
        mark_input(table_file)
        for message in table.notes:
            note(message)
        points += table.points
        unit = "tokens" if table.in_tokens else unit
    finished, notes = points_from_runs(inputs.load(files or [], None), scale)
    for message in notes:
        note(message)
    points += finished
    law = fit_horizon_law(points, span)
    for warning in law.warnings:
        note(f"warning: {warning}")
    if plot is not None:
        save_plot(plotting().plot_horizon(law, unit, target), plot, force)
    if json_out:
        emit_json(horizon_json(law, unit, target))
        return
    print_horizon(law, unit, target)
