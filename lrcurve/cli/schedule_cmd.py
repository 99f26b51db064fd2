"""``lrcurve schedule show``: the LR curve of a schedule, as a table, JSON or plot."""

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from lrcurve.areas import annealing_area, forward_area
from lrcurve.cli import app
from lrcurve.cli.common import (
    Force,
    JsonOut,
    ScheduleSpec,
    emit_json,
    out,
    sampled_indices,
    schedule_options,
)
from lrcurve.errors import InputError
from lrcurve.laws.base import LRHistory
from lrcurve.output import check_outputs, write_csv
from lrcurve.schedules import Power, Schedule

schedule_app = typer.Typer(no_args_is_help=True, help="Build and inspect LR schedules.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("show")
@schedule_options
def show_command(
    name: Annotated[
        str | None,
        typer.Argument(help="Schedule family (same as --schedule).", show_default=False),
    ] = None,
    lam: Annotated[
        float,
        typer.Option("--lam", min=0.0, max=0.99999, help="Momentum for the annealing area shown."),
    ] = 0.999,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write step,lr for every step as CSV.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the LR curve to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    *,
    spec: ScheduleSpec,
) -> None:
    """Show a schedule's LR at sampled steps with its forward and annealing areas."""
    if name is not None:
        spec.schedule = name
    check_outputs(force, output, plot)
    if spec.peak is None and spec.schedule != "file":
        raise InputError("give the peak LR with --peak (e.g. --peak 3e-4)")
    schedule, _ = spec.build()
    show_schedule(schedule, lam, output, plot, json_out)


def show_schedule(
    schedule: Schedule,
    lam: float,
    output: Path | None,
    plot: Path | None,
    json_out: bool,
    extra: dict[str, Any] | None = None,
) -> None:
    """Print (or write) a schedule's LR and areas; ``extra`` is added to the JSON."""
    n = schedule.horizon
    if n is None:
        raise InputError("the schedule has no horizon; give --steps")
    lr = schedule.per_step(n)
    law_lr = LRHistory.of(schedule, n).held  # the warmup at the LR it reaches
    s1, s2 = forward_area(law_lr), annealing_area(law_lr, lam)
    if output is not None:
        write_csv(output, "step,lr", [np.arange(1, n + 1), lr], ["%d", "%.8g"])
    if plot is not None:
        from lrcurve.plotting import plot_schedule

        plot_schedule(schedule, n, plot)
    idx = sampled_indices(n)
    if json_out:
        emit_json(
            {
                "schedule": schedule.to_dict(),
                "schedule_text": str(schedule),
                "steps": n,
                "lam": lam,
                "sampled": {
                    "step": (idx + 1).tolist(),
                    "lr": lr[idx].tolist(),
                    "S1": s1[idx].tolist(),
                    "S2": s2[idx].tolist(),
                },
                "final_lr": float(lr[-1]),
                "S1": float(s1[-1]),
                "S2": float(s2[-1]),
                **(extra or {}),
            }
        )
        return
    out.print(f"schedule: {schedule}", soft_wrap=True)
    table = Table(title=f"LR and areas at sampled steps ({n} steps)", title_justify="left")
    for column in ("step", "LR", "S1 (forward)", f"S2 (annealing, λ={lam:g})"):
        table.add_column(column, justify="right")
    for i in idx:
        table.add_row(str(i + 1), f"{lr[i]:.4g}", f"{s1[i]:.4g}", f"{s2[i]:.4g}")
    out.print(table)


@schedule_app.command("power")
def power_command(
    a: Annotated[
        float, typer.Option("--a", help="a in lr = batch*a*tokens^b (e.g. 4.6, the paper's fit).")
    ],
    b: Annotated[float, typer.Option("--b", help="b, the exponent (e.g. -0.51).")],
    batch: Annotated[
        float,
        typer.Option(
            "--batch", help="Batch size, in the unit a was fitted with (sequences in the paper)."
        ),
    ],
    tokens: Annotated[float, typer.Option("--tokens", help="Training tokens of the run.")],
    peak: Annotated[float, typer.Option("--peak", help="lr_max, the cap on the LR.")],
    seq_len: Annotated[
        int | None,
        typer.Option(
            "--seq-len", min=1, help="Tokens per sequence: tokens per step = batch * seq-len."
        ),
    ] = None,
    tokens_per_step: Annotated[
        float | None,
        typer.Option("--tokens-per-step", help="Tokens per optimiser step (instead of --seq-len)."),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Linear warmup steps.")] = 0,
    decay: Annotated[
        float,
        typer.Option(
            "--decay", min=0.0, max=1.0, help="Fraction of the steps spent in the final decay."
        ),
    ] = Power.decay,
    shape: Annotated[
        str, typer.Option("--shape", help="Final decay shape (exp or linear, or any WSD shape).")
    ] = Power.shape,
    floor: Annotated[
        float,
        typer.Option(
            "--floor",
            min=0.0,
            max=1.0,
            help="LR at the end as a fraction of the LR where the decay starts.",
        ),
    ] = Power.final,
    lam: Annotated[
        float,
        typer.Option("--lam", min=0.0, max=0.99999, help="Momentum for the annealing area shown."),
    ] = 0.999,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write step,lr for every step as CSV.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the LR curve to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """The Power scheduler (Shen et al. 2408.13359): lr = min(peak, batch*a*tokens^b), then a short decay."""
    from lrcurve.power import power_schedule, tokens_per_step_of

    check_outputs(force, output, plot)
    per_step = tokens_per_step_of(batch, seq_len, tokens_per_step)
    schedule = power_schedule(
        a, b, batch, per_step, tokens, peak, warmup=warmup, decay=decay, shape=shape, floor=floor
    )
    show_schedule(
        schedule, lam, output, plot, json_out, {"tokens_per_step": per_step, "tokens": tokens}
    )
