"""``lrcurve fit-power``: fit the Power scheduler's ``a`` and ``b`` to optimal-LR sweeps."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import POWER_DECAY, POWER_FINAL, POWER_SHAPE, FloatOption, Force, JsonOut
from lrcurve.errors import InputError

# defaults of the Power schedule's flags: a value other than these was given on the command line
WARMUP, DECAY, SHAPE, FLOOR = 0, POWER_DECAY, POWER_SHAPE, POWER_FINAL


def check_new_run_flags(new_run: bool, flags: dict[str, bool]) -> None:
    """Refuse a new-run flag (``flags``: which were given) without ``--batch``/``--tokens``, and a
    schedule flag without ``--seq-len``/``--tokens-per-step``: it would be silently ignored."""
    given = [flag for flag, on in flags.items() if on]
    if given and not new_run:
        raise InputError(f"{given[0]} applies to a new run only: give --batch and --tokens too")
    per_step = flags["--seq-len"] or flags["--tokens-per-step"]
    schedule_only = [flag for flag in given if flag not in ("--seq-len", "--tokens-per-step")]
    if schedule_only and not per_step:
        raise InputError(
            f"{schedule_only[0]} applies to the Power schedule only: give --seq-len or "
            "--tokens-per-step too"
        )


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def fit_power_command(
    sweeps: Annotated[
        Path,
        typer.Argument(help="CSV/TSV: one row per sweep with batch, tokens and the best LR found."),
    ],
    batch_col: Annotated[
        str | None,
        typer.Option(
            "--batch-col", help="Batch-size column (default: detect batch/batch_size/bs)."
        ),
    ] = None,
    tokens_col: Annotated[
        str | None,
        typer.Option("--tokens-col", help="Tokens column (default: detect tokens/n_tokens...)."),
    ] = None,
    lr_col: Annotated[
        str | None,
        typer.Option("--lr-col", help="Optimal-LR column (default: detect optimal_lr/lr...)."),
    ] = None,
    batch: Annotated[
        float | None,
        FloatOption("--batch", help="New run: batch size (same unit as the table)."),
    ] = None,
    tokens: Annotated[
        float | None, FloatOption("--tokens", help="New run: training tokens.")
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(
            "--seq-len",
            min=1,
            help="New run: tokens per sequence (tokens per step = batch * seq-len).",
        ),
    ] = None,
    tokens_per_step: Annotated[
        float | None,
        FloatOption("--tokens-per-step", help="New run: tokens per step (instead of --seq-len)."),
    ] = None,
    peak: Annotated[
        float | None,
        FloatOption(
            "--peak", help="New run: lr_max, the cap (default: the highest LR in the table)."
        ),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="New run: warmup steps.")] = WARMUP,
    decay: Annotated[
        float,
        FloatOption(
            "--decay", min=0.0, max=1.0, help="New run: final decay fraction of the steps."
        ),
    ] = DECAY,
    shape: Annotated[
        str, typer.Option("--shape", help="New run: final decay shape (exp, linear, ...).")
    ] = SHAPE,
    floor: Annotated[
        float,
        FloatOption(
            "--floor",
            min=0.0,
            max=1.0,
            help="New run: LR at the end as a fraction of the LR where the decay starts.",
        ),
    ] = FLOOR,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw the fit (and the implied schedule) to PNG/SVG/PDF."),
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Fit lr_opt = batch * a * tokens^b to optimal-LR sweeps; the Power schedule of a new run.

    The new run is --batch/--tokens (Shen et al., Power Scheduler, arXiv 2408.13359)."""
    from lrcurve.cli.files import check_plot_path, mark_input
    from lrcurve.cli.render import emit_json, out, plotting, save_plot
    from lrcurve.power import fit_power_law, fit_summary, new_run, read_sweeps, tokens_per_step_of

    if plot is not None:
        check_plot_path(plot, force)
    if (batch is None) != (tokens is None):
        raise InputError("give both --batch and --tokens for the new run (or neither)")
    check_new_run_flags(
        batch is not None,
        {
            "--seq-len": seq_len is not None,
            "--tokens-per-step": tokens_per_step is not None,
            "--peak": peak is not None,
            "--warmup": warmup != WARMUP,
            "--decay": decay != DECAY,
            "--shape": shape != SHAPE,
            "--floor": floor != FLOOR,
        },
    )
    columns = read_sweeps(sweeps, batch_col, tokens_col, lr_col)
    mark_input(sweeps)
    try:
        fitted = fit_power_law(*columns)
    except InputError as error:  # about the sweeps' values: name their file
        raise InputError(f"{sweeps}: {error.render()}") from None
    result = {"sweeps": str(sweeps), **fit_summary(fitted)}
    schedule = None
    if batch is not None and tokens is not None:
        given_per_step = seq_len is not None or tokens_per_step is not None
        per_step = tokens_per_step_of(batch, seq_len, tokens_per_step) if given_per_step else None
        options = {"warmup": warmup, "decay": decay, "shape": shape, "floor": floor}
        result["new_run"], schedule = new_run(fitted, batch, tokens, per_step, peak, **options)
    if plot is not None:
        per_step = result.get("new_run", {}).get("tokens_per_step")
        target = None if batch is None or tokens is None else (batch, tokens)
        figure = plotting().plot_power_fit(fitted, schedule, per_step, target=target)
        save_plot(figure, plot, force)
        result["plot"] = str(plot)
    if json_out:
        emit_json(result)
        return
    print_power_fit(fitted, result)
    if "new_run" in result:
        print_new_run(result["new_run"], schedule)
    if plot is not None:
        out.print(f"wrote {plot}")


def print_power_fit(fitted: Any, result: dict[str, Any]) -> None:
    import numpy as np

    from lrcurve.cli.render import out, sig, table

    params = table(
        f"lr_opt = batch*a*tokens^b ({fitted.lr.size} sweeps)", ("parameter", "value", "std. error")
    )
    params.add_row("a", sig(fitted.a), sig(fitted.a_stderr, 3))
    params.add_row("b", sig(fitted.b), sig(fitted.b_stderr, 3))
    out.print(params)
    r2 = "n/a" if fitted.r2 is None else f"{fitted.r2:.4f}"
    out.print(
        f"corr(log a, b) = {fitted.correlation:+.3f}; R² = {r2} (of log(lr/batch)); "
        f"RMS residual {100 * result['rms_log_residual']:.1f} % of the LR",
        soft_wrap=True,
    )
    rows = table(
        "sweeps: best LR found and the law's", ("batch", "tokens", "best LR", "law", "residual")
    )
    for bt, tk, lr_obs, res in zip(fitted.batch, fitted.tokens, fitted.lr, fitted.residuals):
        law = f"{lr_obs / np.exp(res):.4g}"
        rows.add_row(f"{bt:g}", f"{tk:.4g}", f"{lr_obs:.4g}", law, f"{100 * res:+.1f} %")
    out.print(rows)


def print_new_run(new: dict[str, Any], schedule: Any) -> None:
    from lrcurve.cli.render import out, table

    lo, hi = new["range_2se"]
    out.print(
        f"new run: batch {new['batch']:g}, {new['tokens']:.4g} tokens: best constant (WSD) LR "
        f"{new['optimal_constant_lr']:.4g} (±2 s.e.: {lo:.4g} .. {hi:.4g})",
        soft_wrap=True,
    )
    if schedule is None:
        out.print("give --seq-len or --tokens-per-step for the Power schedule itself")
        return
    steps = f"{schedule.horizon} steps of {new['tokens_per_step']:g} tokens"
    out.print(f"Power schedule: {schedule} ({steps})", soft_wrap=True)
    sampled = table("its LR at sampled steps", ("step", "tokens", "LR"))
    for s, t, v in zip(*(new["sampled"][k] for k in ("step", "tokens", "lr"))):
        sampled.add_row(str(s), f"{t:.4g}", f"{v:.4g}")
    out.print(sampled)
