"""``lrcurve lr-horizon``: the best peak LR per horizon and its power law in the horizon."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    FloatOption,
    Force,
    JsonOut,
    Labels,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    Parent,
    RunCol,
    Smooth,
    StepCol,
    TableOut,
)

HEADER = ("horizon", "runs", "distinct_lrs_in_fit", "best_observed_lr", "lr_opt", "log_lr_stderr")
HEADER += ("bracketed",)


def horizon_rows(law: Any) -> list[tuple[Any, ...]]:
    """One row per horizon (the table's columns, see ``HEADER``); "LRs in fit" counts the
    distinct peak LRs of the parabola's runs, not the runs (repeats at one LR add no LR)."""
    return [
        (
            o.horizon,
            len(o.points),
            len({p.lr for p in o.used}),
            o.best_observed.lr,
            o.lr_opt,
            o.log_lr_stderr,
            o.bracketed,
        )
        for o in law.optima
    ]


def print_horizon(law: Any, unit: str, target: float | None) -> None:
    import numpy as np

    from lrcurve.cli.render import out, sig, table

    rows = table(
        "best peak LR per horizon (parabola in log LR near the best runs)",
        (f"horizon ({unit})", "runs", "LRs in fit", "best observed", "lr_opt", "×/÷ (1 s.e.)")
        + ("bracketed",),
    )
    for horizon, runs, lrs, best, lr_opt, stderr, bracketed in horizon_rows(law):
        factor = f"{np.exp(stderr):.3f}" if stderr is not None else "-"
        rows.add_row(
            f"{horizon:.4g}",
            str(runs),
            str(lrs),
            f"{best:.3g}",
            f"{lr_opt:.4g}",
            factor,
            "yes" if bracketed else "no",
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
                "runs": [
                    {"name": p.name, "label": p.label or p.name, "lr": p.lr, "loss": p.loss}
                    for p in o.points
                ],
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


def _target_units(
    points: list[Any],
    per_step: list[Any],
    unit: str,
    goal: tuple[float, str],
    tokens_per_step: float | None,
) -> tuple[list[Any], str, float]:
    """The points and target in one unit: step horizons become tokens for a target in tokens
    (tokens per step from the configs or table, said in a note); a target in steps becomes
    tokens when the horizons are, with --tokens-per-step."""
    from lrcurve.cli.render import note
    from lrcurve.errors import ParameterError
    from lrcurve.sweeps import in_tokens

    value, goal_unit = goal
    if goal_unit == unit:
        return points, unit, value
    if goal_unit == "tokens":
        points, how = in_tokens(points, per_step)
        note(how)
        return points, "tokens", value
    if tokens_per_step is None:
        raise ParameterError(
            f"{value:g} steps: the table's horizons are in tokens; give the target in tokens",
            param="target",
        )
    return points, unit, value * tokens_per_step


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
        str | None,
        typer.Option(
            "--target",
            metavar="D",
            help="Horizon to extrapolate the best LR to: tokens (per step: --tokens-per-step, "
            "else the W&B configs' or the table's batch x sequence length), or steps as e.g. "
            "2e5steps.",
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
    pool: Annotated[
        bool,
        typer.Option(
            "--pool",
            help="Fit runs or table rows that differ in their schedule (decay_type, decay "
            "fraction, scheduler, ...) together; refused without it, as their best LRs differ.",
        ),
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Loss vs LR per horizon and lr_opt vs D, to PNG/SVG/PDF."),
    ] = None,
    output: TableOut = None,
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
    label: Labels = None,
) -> None:
    """Best peak LR per training horizon and the power law lr_opt = B * D^-beta.

    After Bjorck et al., Scaling Optimal LR Across Token Horizons, arXiv 2409.19913."""
    from lrcurve.cli.files import check_outputs, mark_input
    from lrcurve.cli.loading import RunInputs
    from lrcurve.cli.render import emit_json, note, out, plotting, save_plot
    from lrcurve.errors import InputError
    from lrcurve.horizon import fit_horizon_law
    from lrcurve.output import write_rows
    from lrcurve.sweeps import (
        parse_target,
        points_from_runs,
        points_from_table,
        pool_notes,
        pooled_runs,
        run_tokens_per_step,
    )

    inputs = RunInputs.pick(locals())
    check_outputs(force, output, plot)
    if not files and table_file is None:
        raise InputError("give finished runs, or a summary table with --table")
    wanted = parse_target(target) if target is not None else None  # refused before any reading
    scale = tokens_per_step or 1.0
    unit = "tokens" if tokens_per_step else "steps"
    points, per_step = [], []
    if table_file is not None:
        table = points_from_table(table_file, where or [], scale, pool)
        mark_input(table_file)
        for message in table.notes:
            note(message)
        points += table.points
        per_step += table.per_step
        unit = "tokens" if table.in_tokens else unit
    runs = inputs.load(files or [], None)
    check_outputs(force, output, plot)  # again, now that every file read is known as an input
    finished, notes = points_from_runs(runs, scale)
    notes += pool_notes(pooled_runs(runs), "runs", pool)
    for message in notes:
        note(message)
    by_name = {run.name: run for run in runs}
    points += finished
    per_step += [run_tokens_per_step(by_name[p.name]) for p in finished]
    goal = None
    if wanted is not None:
        points, unit, goal = _target_units(points, per_step, unit, wanted, tokens_per_step)
    law = fit_horizon_law(points, span)
    for warning in law.warnings:
        note(f"warning: {warning}")
    if plot is not None:
        save_plot(plotting().plot_horizon(law, unit, goal), plot, force)
    if output is not None:
        write_rows(output, (f"horizon_{unit}", *HEADER[1:]), horizon_rows(law), force)
    if json_out:
        emit_json(horizon_json(law, unit, goal))
        return
    print_horizon(law, unit, goal)
    written = [str(p) for p in (output, plot) if p is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
