"""``lrcurve schedule show``: the LR curve of a schedule, as a table, JSON or plot."""

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from lrcurve.areas import annealing_area, forward_area
from lrcurve.cli import app
from lrcurve.cli.common import ScheduleSpec, emit_json, out, sampled_indices, schedule_options
from lrcurve.errors import InputError
from lrcurve.output import check_plot_path, check_writable, write_text

schedule_app = typer.Typer(no_args_is_help=True, help="Build and inspect LR schedules.")
app.add_typer(schedule_app, name="schedule")


@schedule_app.command("show")
@schedule_options
def show_command(
    name: Annotated[Optional[str], typer.Argument(help="Schedule family (same as --schedule).", show_default=False)] = None,
    lam: Annotated[float, typer.Option("--lam", min=0.0, max=0.99999, help="Momentum for the annealing area shown.")] = 0.999,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write step,lr for every step as CSV.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Draw the LR curve to PNG/SVG/PDF.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
    *,
    spec: ScheduleSpec,
) -> None:
    """Show a schedule's LR at sampled steps with its forward and annealing areas."""
    if name is not None:
        spec.schedule = name
    if output is not None:
        check_writable(output, force)
    if plot is not None:
        check_plot_path(plot, force)
    if spec.peak is None and spec.schedule != "file":
        raise InputError("give the peak LR with --peak (e.g. --peak 3e-4)")
    schedule, _ = spec.build()
    n = schedule.horizon
    if n is None:
        raise InputError("the schedule has no horizon; give --steps")
    lr = schedule.per_step(n)
    law_lr = schedule.law_view().per_step(n)
    s1, s2 = forward_area(law_lr), annealing_area(law_lr, lam)
    if output is not None:
        steps = np.arange(1, n + 1)
        write_text(output, "step,lr\n" + "\n".join(f"{s},{v:.8g}" for s, v in zip(steps, lr)) + "\n")
    if plot is not None:
        from lrcurve.plotting import plot_schedule

        plot_schedule(schedule, n, plot)
    idx = sampled_indices(n)
    if json_out:
        emit_json({"schedule": schedule.to_dict(), "schedule_text": str(schedule), "steps": n, "lam": lam,
                   "sampled": {"step": (idx + 1).tolist(), "lr": lr[idx].tolist(), "S1": s1[idx].tolist(), "S2": s2[idx].tolist()},
                   "final_lr": float(lr[-1]), "S1": float(s1[-1]), "S2": float(s2[-1])})
        return
    out.print(f"schedule: {schedule}", soft_wrap=True)
    table = Table(title=f"LR and areas at sampled steps ({n} steps)", title_justify="left")
    for column in ("step", "LR", "S1 (forward)", f"S2 (annealing, λ={lam:g})"):
        table.add_column(column, justify="right")
    for i in idx:
        table.add_row(str(i + 1), f"{lr[i]:.4g}", f"{s1[i]:.4g}", f"{s2[i]:.4g}")
    out.print(table)
