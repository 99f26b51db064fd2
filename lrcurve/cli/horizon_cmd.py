"""``lrcurve lr-horizon``: the best peak LR per horizon and its power law in the horizon."""

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from numpy.typing import ArrayLike, NDArray
from rich.table import Table

from lrcurve.cli import app
from lrcurve.cli.common import Force, JsonOut, RunInputs, emit_json, input_options, note, out, sig
from lrcurve.errors import InputError
from lrcurve.horizon import HorizonLaw, SweepPoint, fit_horizon_law
from lrcurve.output import check_plot_path
from lrcurve.io.table import find_column, numeric_column
from lrcurve.io.table import read_frame as read_table

TABLE_LR = ("lr", "peak_lr", "learning_rate", "max_lr")
TABLE_HORIZON = ("tokens", "horizon", "steps", "iterations", "iters", "train_steps")
TABLE_LOSS = ("final_val_loss", "final_loss", "val_loss", "loss", "final_train_loss")


def points_from_table(path: Path, where: list[str], tokens_per_step: float) -> list[SweepPoint]:
    """One sweep point per row of a summary table (``lr``, horizon, final ``loss``)."""
    frame = read_table(path)
    for condition in where:
        column, sep, value = condition.partition("=")
        if not sep or column not in frame.columns:
            raise InputError(
                f"--where {condition!r}: expected COLUMN=VALUE with a column of {path}"
            )
        frame = frame[frame[column].astype(str) == value]
    if frame.empty:
        raise InputError(f"{path}: no rows left after --where {' '.join(where)}")
    columns = {
        what: find_column(frame, path, names, None)
        for what, names in (("lr", TABLE_LR), ("horizon", TABLE_HORIZON), ("loss", TABLE_LOSS))
    }
    missing = [what for what, col in columns.items() if col is None]
    if missing:
        raise InputError(
            f"{path}: no {' or '.join(missing)} column (columns: {', '.join(frame.columns)})"
        )
    values: dict[str, NDArray[np.float64]] = {}
    for what, column in columns.items():
        numbers, _ = numeric_column(frame, column, path)
        bad = numbers <= 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: column {column!r} row {frame.index[row] + 2}: {what} {numbers[row]:g} is not positive"
            )
        values[what] = numbers
    lr, loss = values["lr"], values["loss"]
    scale = 1.0 if columns["horizon"].lower() == "tokens" else tokens_per_step
    horizon = scaled_horizons(values["horizon"], scale)
    names = frame[frame.columns[0]].astype(str).tolist()
    keep = np.isfinite(loss) & np.isfinite(lr) & np.isfinite(values["horizon"])
    if (~keep).any():
        note(f"{path}: left out {int((~keep).sum())} rows without a finite LR, horizon and loss")
    return [
        SweepPoint(float(h), float(l), float(v), n)
        for h, l, v, n, k in zip(horizon, lr, loss, names, keep)
        if k
    ]


def scaled_horizons(steps: ArrayLike, tokens_per_step: float) -> NDArray[np.float64]:
    """Horizons in tokens: ``steps * --tokens-per-step``, refusing a product that overflows."""
    steps = np.asarray(steps, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        tokens = steps * tokens_per_step
    over = np.isfinite(steps) & ~np.isfinite(tokens)
    if over.any():
        raise InputError(
            f"--tokens-per-step {tokens_per_step:g}: a horizon of {steps[over][0]:g} steps "
            "overflows to an infinite token count"
        )
    return tokens


def print_horizon(law: HorizonLaw, unit: str, target: float | None) -> None:
    table = Table(
        title="best peak LR per horizon (parabola in log LR near the best runs)",
        title_justify="left",
    )
    for column in (
        f"horizon ({unit})",
        "runs",
        "LRs in fit",
        "best observed",
        "lr_opt",
        "×/÷ (1 s.e.)",
        "bracketed",
    ):
        table.add_column(column, justify="right")
    for o in law.optima:
        factor = f"{np.exp(o.log_lr_stderr):.3f}" if o.log_lr_stderr is not None else "-"
        table.add_row(
            f"{o.horizon:.4g}",
            str(len(o.points)),
            str(len(o.used)),
            f"{o.best_observed.lr:.3g}",
            f"{o.lr_opt:.4g}",
            factor,
            "yes" if o.bracketed else "no",
        )
    out.print(table)
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


@app.command("lr-horizon")
@input_options
def horizon_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Finished runs at several peak LRs and horizons.", show_default=False),
    ] = None,
    table_file: Annotated[
        Path | None,
        typer.Option(
            "--table",
            help="A summary table instead: one row per run with lr, horizon (tokens or steps) and final loss columns.",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Keep table rows with COLUMN=VALUE (repeatable)."),
    ] = None,
    tokens_per_step: Annotated[
        float | None,
        typer.Option(
            "--tokens-per-step",
            min=1.0,
            help="Tokens per optimiser step: horizons in tokens instead of steps.",
        ),
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(
            "--target",
            help="Horizon to extrapolate the best LR to (tokens with --tokens-per-step, else steps).",
        ),
    ] = None,
    span: Annotated[
        float,
        typer.Option(
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
    *,
    inputs: RunInputs,
) -> None:
    """Best peak LR per training horizon and the power law lr_opt = B * D^-beta (Bjorck et al. 2409.19913)."""
    if plot is not None:
        check_plot_path(plot, force)
    if not files and table_file is None:
        raise InputError("give finished runs, or a summary table with --table")
    if target is not None and target <= 0:
        raise InputError(f"--target must be positive, got {target:g}")
    scale = tokens_per_step or 1.0
    unit = "tokens" if tokens_per_step else "steps"
    points: list[SweepPoint] = []
    if table_file is not None:
        points += points_from_table(table_file, where or [], scale)
        if (
            tokens_per_step is None
            and read_table(table_file).columns.str.lower().isin(["tokens"]).any()
        ):
            unit = "tokens"
    for run in inputs.load(files or [], None):
        if run.last_step < 0.98 * run.horizon:
            note(
                f"{run.name}: logged to step {run.last_step} of {run.horizon}; left out (not finished)"
            )
            continue
        points.append(
            SweepPoint(
                float(scaled_horizons(run.horizon, scale)),
                run.peak_lr,
                float(run.loss[-1]),
                run.name,
            )
        )
    law = fit_horizon_law(points, span)
    for warning in law.warnings:
        note(f"warning: {warning}")
    if plot is not None:
        from lrcurve.plotting import plot_horizon

        plot_horizon(law, plot, unit, target)
    if json_out:
        prediction = law.predict(target) if target is not None else None
        emit_json(
            {
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
        )
        return
    print_horizon(law, unit, target)
