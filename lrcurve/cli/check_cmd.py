"""``lrcurve check``: is a run still on its predicted curve? Exit 0 ok, 1 on drift or a diverged
run, 2 on bad input, 3 on an internal error."""

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOWS,
    CheckTokens,
    Force,
    JsonOut,
    Labels,
    Level,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    Parent,
    RunCol,
    RunParams,
    StepCol,
)
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
    Warmup,
)

CheckSmooth = Annotated[
    str,
    typer.Option(
        "--smooth",
        help="Smooth the deviation from the prediction (not the loss): none, ema:B, window:N; "
        "auto = window:11 for a training loss, none for validation.",
    ),
]
Direction = Annotated[
    str,
    typer.Option(
        "--direction",
        help="Which side of the band fails the run: worse (above the predicted loss), better "
        "(below it) or both; the other side is reported, not failed.",
    ),
]
DEFAULT_DIRECTION = "worse"  # lrcurve.check's, not imported here: --help must not load numpy
VERDICT = {"ok": "OK", "drift": "DRIFT", "diverged": "DIVERGED"}


def with_flag_schedule(run: Any, spec: Any, fitted_peak: float) -> Any:
    """``run`` under the schedule of the flags (its planned horizon), checked against its
    logged LR; the peak not given is the log's, or the fit's when the log starts in a decay
    (below the peak it does not show)."""
    from lrcurve.cli.render import note
    from lrcurve.io.stitch import logged_lr, lr_mismatch
    from lrcurve.runs import starts_in_a_decay

    late = starts_in_a_decay(run, fitted_peak) and spec.peak is None
    peak = fitted_peak if late else run.peak_lr
    schedule, used = spec.build((run,), {"peak": peak, "warmup": run.warmup_steps})
    if late:
        note(f"{run.name}: from the fit: peak={peak:g} (the log starts in a decay, below its peak)")
        used = [u for u in used if not u.startswith("peak=")]
    if schedule.horizon is not None and schedule.horizon < run.last_step:
        from lrcurve.errors import InputError

        raise InputError(
            f"the schedule of the flags ends at step {schedule.horizon}, before "
            f"{run.source or run.name}'s last logged step {run.last_step}; --steps is the run's "
            "planned horizon"
        )
    if used:
        note(f"{run.name}: from the log: {', '.join(used)}")
    notes = list(run.notes)
    points = logged_lr(run.schedule)
    gap = None if points is None else lr_mismatch(schedule, *points)
    if gap is not None:
        notes.append(f"{run.source or run.name}: warning: {gap}")
    origin = f"given with flags: {schedule}"
    return replace(run, schedule=schedule, lr_origin=origin, notes=tuple(notes))


def annotation(result: Any) -> str:
    """The one-line verdict; a GitHub Actions workflow command when GITHUB_ACTIONS=true."""
    import os

    if os.environ.get("GITHUB_ACTIONS") == "true":
        level = "notice" if result.status == "ok" else "error"
        text = result.summary().replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return f"::{level} title=lrcurve check::{text}"
    return f"lrcurve check: {VERDICT[result.status]}: {result.summary()}"


def print_result(result: Any) -> None:
    from rich.text import Text

    from lrcurve.cli.render import out, table

    band = f"tolerance ±{100 * result.tolerance:.3g} %" if result.tolerance else result.band
    if result.noise is not None:
        band += f", logging noise {100 * result.noise:.3f} %"
    rows = table(
        f"{result.run.label}: logged loss against the prediction; {band}",
        ("steps", "points", "deviation %", "band ±%", "verdict"),
        text=("verdict",),
    )
    for w in result.windows:
        band = (
            "ok"
            if w.in_band
            else Text("drift", style="red")
            if w.failed
            else Text(f"{w.side} (not judged)", style="yellow")
        )
        rows.add_row(
            f"{w.start}-{w.end}",
            str(w.points),
            f"{100 * w.deviation:+.3f}",
            f"{100 * w.upper:.3f}",
            band,
        )
    out.print(rows)
    if result.diverged:
        out.print(
            Text(f"diverged at step {result.run.diverged_at}: NaN or infinite loss", style="red")
        )
    if result.forecast is not None:
        f = result.forecast
        ci = ""
        if f.interval is not None:
            ci = f" [{f.interval[0]:.4f}, {f.interval[1]:.4f}] ({100 * (f.level or 0):.4g} %)"
        out.print(
            f"forecast: final loss at step {f.horizon}: {f.final_loss:.4f}{ci}; "
            f"{f.at_current_deviation:.4f} if the latest deviation persists"
        )


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def check_command(
    fit_file: Annotated[
        Path, typer.Argument(help="Fit file from `lrcurve fit`.", show_default=False)
    ],
    run_file: Annotated[
        Path,
        typer.Argument(
            help="The run's log so far (CSV, W&B export or run folder, "
            "wandb:ENTITY/PROJECT/RUN_ID, TensorBoard).",
            show_default=False,
        ),
    ],
    tolerance: Annotated[
        str | None,
        typer.Option(
            "--tolerance",
            "-t",
            help="A fixed allowed relative deviation of a window, e.g. 0.5% or 0.005; by default "
            "a window may deviate as far as the predictive interval of the run's schedule at "
            "--level widened by the run's own logging noise.",
            show_default=False,
        ),
    ] = DEFAULT_TOLERANCE,
    level: Level = 0.9,
    windows: Annotated[
        int,
        typer.Option(
            "--windows",
            min=1,
            help="Cut the compared log into this many windows of consecutive points.",
        ),
    ] = DEFAULT_WINDOWS,
    direction: Direction = DEFAULT_DIRECTION,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Draw logged vs predicted loss and the window deviations to PNG/SVG/PDF."
        ),
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
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
    tokens_per_step: CheckTokens = None,
    step_col: StepCol = None,
    lr_col: LrCol = None,
    loss_col: LossCol = None,
    run_col: RunCol = None,
    loss_unit: LossUnit = "auto",
    loss: LossSeries = None,
    smooth: CheckSmooth = "auto",
    parent: Parent = "auto",
    label: Labels = None,
    params: RunParams = None,
) -> None:
    """Compare a run's logged loss with the loss the fit predicts for its schedule.

    The schedule is the run's own (rebuilt from a W&B config, or its logged LR); give
    --schedule/--steps/... to set its planned horizon, and the rest of a partial run is
    forecast. Exit status: 0 ok, 1 when the loss drifted (in --direction) or the run
    diverged (its loss turned NaN or infinite), 2 on bad input, 3 on an internal error.
    """
    from lrcurve.check import check_direction, check_run, parse_tolerance, with_fit_warmup
    from lrcurve.cli.files import check_plot_path, mark_input
    from lrcurve.cli.loading import RunInputs, load_fit, say_notes
    from lrcurve.cli.render import note
    from lrcurve.cli.schedule_flags import ScheduleSpec
    from lrcurve.errors import InputError
    from lrcurve.io.smoothing import parse_smoothing
    from lrcurve.target_clock import check_at_batch, check_clock
    from lrcurve.uncertainty import z_value

    power = "power" in (schedule, then)
    given = _given_tokens(tokens_per_step, run_file)
    spec = ScheduleSpec.pick({**locals(), "tokens_per_step": given[1] if power else None})
    # the run as logged, to its divergence: check smooths the deviation, not the loss
    inputs = replace(
        RunInputs.pick(locals()), smooth="none", keep_diverged=True, run_tokens=given[0]
    )
    band = None if tolerance is None else parse_tolerance(tolerance)
    z_value(level)
    check_direction(direction)
    if smooth.strip().lower() != "auto":
        parse_smoothing(smooth)
    if plot is not None:
        check_plot_path(plot, force)
    fitted = load_fit(fit_file)
    if str(inputs.parent) == str(run_file):
        raise InputError(f"--parent {inputs.parent}: a run cannot be its own parent")
    planned = spec.steps is not None or spec.lr_file is not None
    planning = spec.given(ignore=("warmup",))
    if planning and not planned:
        raise InputError(
            f"{planning[0]} sets the run's planned schedule: give --steps (its horizon) or "
            "--lr-file too"
        )
    runs = inputs.load([run_file], spec.warmup, quiet=True)  # read once
    if power and all(r.tokens_per_step is None for r in fitted.runs):
        given = ([], None)  # the power scheduler's alone: the fit has no clock to map onto
    clocks = [check_clock(fitted, run, given[0] != []) for run in runs]
    inherited = None
    warmup = _fit_warmup(fitted, clocks[0][0])
    fit_warmup = with_fit_warmup(runs, warmup) if spec.warmup is None else None
    if fit_warmup is not None:
        runs = fit_warmup
        inherited = (
            f"from the fit: warmup={warmup} (the log starts at step "
            f"{runs[0].steps[0]}; give --warmup to change it)"
        )
    if planned:
        if lr_file is not None:
            mark_input(lr_file)
        runs = [with_flag_schedule(run, spec, fitted.peak_lr) for run in runs]  # may refuse
    if inherited:
        note(inherited)
    say_notes(runs)
    if not planned:
        from lrcurve.runs import in_a_decay_said, starts_in_a_decay

        remedy = "give its schedule (--schedule and its flags, or --lr-file) to check it fairly"
        for run in runs:
            if starts_in_a_decay(run, fitted.peak_lr):
                note(f"warning: {in_a_decay_said(run, remedy)}")
    _say_clocks(runs, clocks)
    options = {"direction": direction, "smooth": smooth, "level": level}
    checked = [
        check_at_batch(fitted, run, clock, tolerance=band, windows=windows, **options)
        if clock is not None
        else (check_run(fitted, run, band, windows, **options),) * 2
        for run, (clock, _) in zip(runs, clocks)
    ]
    for result, _ in checked:
        for message in result.notes:
            note(message)
    said = [warning for _, warning in clocks]
    targets = [clock for clock, _ in clocks]
    report_check(fitted, checked, plot, json_out, force, fit_file, said, targets)


def _given_tokens(text: str | None, run_file: Path) -> tuple[list[str], float | None]:
    """``--tokens-per-step N`` or ``FILE=N``: as the run file's (``FILE=N``) and the number."""
    if text is None:
        return [], None
    from lrcurve.io.tokens import parse_file_tokens, parse_tokens

    if "=" in text:
        return [text], parse_file_tokens(text)[1]
    return [f"{run_file}={text}"], parse_tokens(text)


def _say_clocks(runs: list[Any], clocks: list[tuple[Any, str | None]]) -> None:
    """How each run is counted on the fit's clock, or the warning that it is not."""
    from lrcurve.cli.render import note

    for run, (clock, warning) in zip(runs, clocks):
        if warning is not None:
            note(f"warning: {warning}")
        elif clock is not None and not clock.same:
            note(f"{run.label}: {clock.said('its')}")


def _fit_warmup(fitted: Any, clock: Any) -> int:
    """The fitted runs' warmup in the steps of a run on ``clock`` (None: the fit's steps)."""
    from lrcurve.target_clock import target_defaults

    return target_defaults(fitted, None if clock is None else clock.tokens_per_step)[0]["warmup"]


def report_check(
    fitted: Any,
    checked: list[tuple[Any, Any]],
    plot: Path | None,
    json_out: bool,
    force: bool,
    fit_file: Path,
    clock_warnings: list[str | None] | None = None,
    targets: list[Any] | None = None,
) -> None:
    """Warnings, the plot, the table or JSON, and the exit status (1 on drift or divergence).
    ``checked``: each run's result at its own steps and as checked (on the fit's clock);
    ``clock_warnings``: each run's, said already, that it is not on the fit's clock (--json);
    ``targets``: each run's :class:`~lrcurve.target_clock.TargetClock` (None: as logged),
    what is said of the fitted regime given in the run's own steps and LR."""
    from lrcurve.cli.loading import say_fit
    from lrcurve.cli.render import emit_json, extrapolation_note, note, out, plotting, save_plot
    from lrcurve.target_clock import regime_on

    say_fit(fitted)
    results = [result for result, _ in checked]
    runs = [result.run for result in results]
    regimes = [
        regime_on(fitted, c.run.schedule, c.run.horizon, clock, c.run.model_size)
        for (_, c), clock in zip(checked, targets or [None] * len(checked))
    ]
    for run, regime in zip(runs, regimes):
        extrapolation_note((short for short, _ in regime), f"{run.label}: ")
    if plot is not None and not results[0].steps.size:  # it diverged before any compared point
        note(f"no plot: {results[0].run.label} has no logged loss after warmup to draw")
        plot = None
    if plot is not None:
        if len(results) > 1:
            note(f"the plot shows the first of {len(results)} runs")
        figure = plotting().plot_check(fitted, results[0], counted=checked[0][1])
        save_plot(figure, plot, force)  # at the run's own steps, the law read on the fit's clock
    statuses = {r.status for r in results}
    status = next((s for s in ("diverged", "drift") if s in statuses), "ok")
    if json_out:
        emit_json(
            {
                "status": status,
                "direction": results[0].direction,
                "fit_file": str(fit_file),
                "law": fitted.law.name,
                "warnings": [f"the fit says: {w}" for w in fitted.warnings],
                "runs": [
                    {**r.to_dict(), "warnings": [*([w] if w else []), *(d for _, d in regime)]}
                    for r, regime, w in zip(
                        results, regimes, clock_warnings or [None] * len(results)
                    )
                ],
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
    raise typer.Exit(0 if status == "ok" else 1)
