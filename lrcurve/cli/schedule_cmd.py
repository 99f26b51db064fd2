"""``lrcurve schedule show``: the LR curve of a schedule, as a table, JSON or plot."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import POWER_DECAY, POWER_FINAL, POWER_SHAPE, FloatOption, Force, JsonOut
from lrcurve.cli.schedule_flags import (
    AtStep,
    BaseRun,
    Batch,
    Cycle,
    Decay,
    Factors,
    Floor,
    LrFile,
    Milestones,
    Peak,
    Period,
    PowerA,
    PowerB,
    ScheduleName,
    Shape,
    Steps,
    Then,
    TokensPerStep,
    Warmup,
)
from lrcurve.errors import InputError, ParameterError

Lam = Annotated[
    float,
    FloatOption("--lam", min=0.0, max=0.99999, help="Momentum for the annealing area shown."),
]


def show_command(
    name: Annotated[
        str | None,
        typer.Argument(help="Schedule family (same as --schedule).", show_default=False),
    ] = None,
    lam: Lam = 0.999,
    warmup_area: Annotated[
        str | None,
        typer.Option(
            "--warmup-area",
            help="How the areas count warmup: 'actual' (its real LR in S1; the default laws'), "
            "'peak' (at the peak LR) or 'full' (also in S2); default: the --fit law's, else "
            "actual.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write step,lr for every step as CSV.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the LR curve to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    fit: Annotated[
        Path | None,
        typer.Option(
            "--fit",
            help="A fit file: its runs' steps, peak and warmup are the defaults, and a "
            "rewarmup continues one of its runs.",
        ),
    ] = None,
    schedule: ScheduleName = "wsd",
    steps: Steps = None,
    peak: Peak = None,
    warmup: Warmup = None,
    decay: Decay = None,
    shape: Shape = None,
    floor: Floor = None,
    period: Period = None,
    cycle: Cycle = None,
    milestones: Milestones = None,
    factors: Factors = None,
    lr_file: LrFile = None,
    at_step: AtStep = None,
    then: Then = None,
    base_run: BaseRun = None,
    power_a: PowerA = None,
    power_b: PowerB = None,
    batch: Batch = None,
    tokens_per_step: TokensPerStep = None,
) -> None:
    """Show a schedule's LR at sampled steps with its forward and annealing areas."""
    from lrcurve.cli.files import check_outputs, mark_input
    from lrcurve.cli.schedule_flags import DEFAULT_SCHEDULE, ScheduleSpec

    spec = ScheduleSpec.pick(locals())
    if name is not None:
        if schedule not in (DEFAULT_SCHEDULE, name):  # an explicit --schedule that disagrees
            raise InputError(f"schedule {name} and --schedule {schedule}: give one family")
        spec.schedule = name
    check_outputs(force, output, plot)
    check_warmup_area(warmup_area)
    if lr_file is not None:
        mark_input(lr_file)
    if fit is None:
        if spec.schedule == "rewarmup":
            spec.check_flags()  # a flag that does not apply is named before the fit is asked for
            raise InputError("a rewarmup continues a fitted run: give its fit file with --fit")
        if spec.peak is None and spec.schedule != "file":
            raise InputError("give the peak LR with --peak (e.g. --peak 3e-4)")
        built, _ = spec.build()
    else:
        from lrcurve.cli.loading import defaults_note, fit_defaults, load_fit
        from lrcurve.clock import clock_of
        from lrcurve.target_clock import DefaultsSaid

        fitted = load_fit(fit)
        built, used = spec.build(fitted.runs, fit_defaults(fitted))
        clock = clock_of(fitted)
        counted = [u for u in used if u.split("=")[0] in ("steps", "warmup")]
        on_clock = None
        if clock is not None:
            on_clock = f"{', '.join(counted)}: clock steps of {clock.unit:,.0f} tokens, the fit's"
        defaults_note(used, DefaultsSaid(clock=on_clock))
        warmup_area = warmup_area or fitted.law.options().get("warmup")
    show_schedule(built, lam, output, plot, json_out, force, warmup_area=warmup_area or "actual")


def check_warmup_area(warmup_area: str | None) -> None:
    """Refuse a ``--warmup-area`` that is not a laws' convention."""
    from lrcurve.laws.base import WARMUP_AS_RUN

    if warmup_area is not None and warmup_area not in WARMUP_AS_RUN:
        raise ParameterError(
            f"must be one of {', '.join(WARMUP_AS_RUN)}, got {warmup_area!r}", param="warmup_area"
        )


def show_schedule(
    schedule: Any,
    lam: float,
    output: Path | None,
    plot: Path | None,
    json_out: bool,
    force: bool,
    extra: dict[str, Any] | None = None,
    warmup_area: str = "actual",
) -> None:
    """Print (or write) a schedule's LR and areas, its warmup counted as ``warmup_area`` says
    (the laws' convention); ``extra`` is added to the JSON."""
    import numpy as np
    from rich.table import Table

    from lrcurve.areas import annealing_area, forward_area
    from lrcurve.cli.render import emit_json, out, plotting, sampled_indices, save_plot
    from lrcurve.laws.base import LRHistory
    from lrcurve.output import write_csv

    n = schedule.horizon
    if n is None:
        raise InputError("the schedule has no horizon; give --steps")
    lr = schedule.per_step(n)
    history = LRHistory.of(schedule, n)
    s1 = forward_area(history.forward_lr(warmup_area, n))
    s2 = annealing_area(history.annealing_lr(warmup_area, n), lam)
    if output is not None:
        write_csv(output, "step,lr", [np.arange(1, n + 1), lr], ["%d", "%.8g"], replace=force)
    if plot is not None:
        save_plot(plotting().plot_schedule(schedule, n), plot, force)
    idx = sampled_indices(n)
    if json_out:
        emit_json(
            {
                "schedule": schedule.to_dict(),
                "schedule_text": str(schedule),
                "steps": n,
                "lam": lam,
                "warmup_area": warmup_area,
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
    forward = f"S1 (forward, warmup {warmup_area})"
    for column in ("step", "LR", forward, f"S2 (annealing, λ={lam:g})"):
        table.add_column(column, justify="right")
    for i in idx:
        table.add_row(str(i + 1), f"{lr[i]:.4g}", f"{s1[i]:.4g}", f"{s2[i]:.4g}")
    out.print(table)


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def power_command(
    a: Annotated[
        float, FloatOption("--a", help="a in lr = batch*a*tokens^b (e.g. 4.6, the paper's fit).")
    ],
    b: Annotated[float, FloatOption("--b", help="b, the exponent (e.g. -0.51).")],
    batch: Annotated[
        float,
        FloatOption(
            "--batch", help="Batch size, in the unit a was fitted with (sequences in the paper)."
        ),
    ],
    tokens: Annotated[float, FloatOption("--tokens", help="Training tokens of the run.")],
    peak: Annotated[float, FloatOption("--peak", help="lr_max, the cap on the LR.")],
    seq_len: Annotated[
        int | None,
        typer.Option(
            "--seq-len", min=1, help="Tokens per sequence: tokens per step = batch * seq-len."
        ),
    ] = None,
    tokens_per_step: Annotated[
        float | None,
        FloatOption("--tokens-per-step", help="Tokens per optimiser step (instead of --seq-len)."),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Linear warmup steps.")] = 0,
    decay: Annotated[
        float,
        FloatOption(
            "--decay", min=0.0, max=1.0, help="Fraction of the steps spent in the final decay."
        ),
    ] = POWER_DECAY,
    shape: Annotated[
        str, typer.Option("--shape", help="Final decay shape (exp or linear, or any WSD shape).")
    ] = POWER_SHAPE,
    floor: Annotated[
        float,
        FloatOption(
            "--floor",
            min=0.0,
            max=1.0,
            help="LR at the end as a fraction of the LR where the decay starts.",
        ),
    ] = POWER_FINAL,
    lam: Lam = 0.999,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write step,lr for every step as CSV.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the LR curve to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """The Power scheduler (Shen et al. 2408.13359): lr = min(peak, batch*a*tokens^b), decayed."""
    from lrcurve.cli.files import check_outputs
    from lrcurve.power import power_schedule, tokens_per_step_of

    check_outputs(force, output, plot)
    per_step = tokens_per_step_of(batch, seq_len, tokens_per_step)
    schedule = power_schedule(
        a, b, batch, per_step, tokens, peak, warmup=warmup, decay=decay, shape=shape, floor=floor
    )
    show_schedule(
        schedule,
        lam,
        output,
        plot,
        json_out,
        force,
        {"tokens_per_step": per_step, "tokens": tokens},
    )
