"""``lrcurve predict``: the loss curve of a schedule, from a fit file."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import FitFile, Force, JsonOut, Level, TargetParams, TargetTokens
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

LR_GAP = 0.01  # a measured run whose LR differs by more (of the peak) ran another schedule


def predict_schedule(
    fitted: Any,
    schedule: Any,
    level: float = 0.9,
    model_size: float | None = None,
    tokens_per_step: float | None = None,
) -> Any:
    """``fitted``'s prediction over the whole of ``schedule`` with its interval at ``level``
    for a model of ``model_size`` parameters trained on ``tokens_per_step`` tokens a step
    (counted on the fitted runs' clock, :func:`lrcurve.target_clock.predict_at_batch`), refused
    where the law cannot make one (no horizon, too long, non-finite or non-positive loss, a size
    a size-free law was not fitted at)."""
    from lrcurve.errors import ParameterError
    from lrcurve.runs import MAX_STEPS
    from lrcurve.sizes import refuse_size_free

    n_steps = schedule.horizon
    if n_steps is None:
        raise ParameterError("the schedule has no horizon; give it", param="steps")
    if n_steps > MAX_STEPS:
        raise ParameterError(
            f"the schedule runs {n_steps:,} steps, beyond {MAX_STEPS:,}, the most lrcurve predicts",
            param="steps",
        )
    refuse_size_free(fitted.law, fitted.sizes, model_size)
    if tokens_per_step is not None:
        from lrcurve.target_clock import predict_at_batch

        return predict_at_batch(
            fitted, schedule, n_steps, tokens_per_step, level=level, model_size=model_size
        )
    # refuses a loss the law cannot give
    return fitted.predict(schedule, n_steps, level=level, model_size=model_size)


def write_prediction_csv(path: Path, predictions: list[Any], force: bool) -> None:
    """The whole curve, every step: ``step,lr,loss[,loss_stderr],lower,upper`` (the predictive
    interval at the prediction's level); of several predictions, one after the other, led by a
    ``schedule`` column numbering them from 1 (as the table does)."""
    import numpy as np

    from lrcurve.output import write_csv

    def column(values: Any) -> Any:
        return np.concatenate([values(p) for p in predictions])

    columns = [column(lambda p: p.steps), column(lambda p: p.lr), column(lambda p: p.loss)]
    formats, header = ["%d", "%.8g", "%.6f"], "step,lr,loss"
    if len(predictions) > 1:
        numbers = np.concatenate([np.full(p.steps.size, i) for i, p in enumerate(predictions, 1)])
        columns, formats, header = [numbers, *columns], ["%d", *formats], "schedule," + header
    if all(p.loss_stderr is not None for p in predictions):
        columns.append(column(lambda p: p.loss_stderr))
        formats.append("%.6f")
        header += ",loss_stderr"
    columns += [column(lambda p: p.lower), column(lambda p: p.upper)]
    formats += ["%.6f", "%.6f"]
    header += ",lower,upper"
    write_csv(path, header, columns, formats, replace=force)


def every_index(n_steps: int, warmup: int, every: int) -> Any:
    """The indices of steps ``every, 2 every, ...`` after ``warmup`` and of the last step (past
    the horizon: the last step alone)."""
    import numpy as np

    stride = min(every, n_steps)
    idx = np.unique(np.concatenate([np.arange(stride - 1, n_steps, stride), [n_steps - 1]]))
    return idx[idx >= min(warmup, n_steps - 1)]


def prediction_json(fitted: Any, schedule: Any, prediction: Any, every: int | None) -> dict:
    """``predict --json``: one point every ``every`` steps (default ~1000 points) after warmup."""

    from lrcurve.laws import law_to_dict

    n_steps = schedule.horizon
    idx = every_index(n_steps, schedule.warmup_steps, every or max(1, n_steps // 1000))
    lower, upper = prediction.final_interval
    return {
        "schedule": schedule.to_dict(),
        "schedule_text": str(schedule),
        "law": fitted.law.name,
        "law_options": {k: v for k, v in law_to_dict(fitted.law).items() if k != "name"},
        "steps": n_steps,
        "final_loss": prediction.final_loss,
        "final_stderr": prediction.final_stderr,
        "final": {
            "step": n_steps,
            "loss": prediction.final_loss,
            "interval": {"level": prediction.level, "lower": lower, "upper": upper},
        },
        "curve": {
            "step": prediction.steps[idx].tolist(),
            "lr": prediction.lr[idx].tolist(),
            "loss": prediction.loss[idx].tolist(),
            "loss_stderr": None
            if prediction.loss_stderr is None
            else prediction.loss_stderr[idx].tolist(),
            "lower": prediction.lower[idx].tolist(),
            "upper": prediction.upper[idx].tolist(),
        },
    }


def interval_text(loss: float, lower: float, upper: float, level: float | None = None) -> str:
    """``3.1553 [3.1201, 3.1905]``, with `` (90 %)`` when given the level."""
    text = f"{loss:.4f} [{lower:.4f}, {upper:.4f}]"
    return text if level is None else f"{text} ({100 * level:.4g} %)"


def print_prediction(
    fitted: Any,
    schedule: Any,
    prediction: Any,
    model_size: float | None = None,
    every: int | None = None,
) -> None:
    """The prediction's table: about 12 rows after warmup, or a row every ``every`` steps."""
    from lrcurve.cli.fit_cmd import law_error_text
    from lrcurve.cli.render import out, sampled_indices, table
    from lrcurve.laws import forward_area_note
    from lrcurve.sizes import format_size

    n_steps = schedule.horizon
    level = f"{100 * prediction.level:.4g} %"
    out.print(f"schedule: {schedule}", soft_wrap=True)
    if model_size is not None:
        fitted_sizes = ", ".join(format_size(n) for n in fitted.sizes)
        out.print(f"model size: {format_size(model_size)} (fitted: {fitted_sizes})")
    rows = table(
        f"predicted loss ({fitted.law.name} law{forward_area_note(fitted.law)})",
        ("step", "LR", f"loss [{level} interval]"),
    )
    lower, upper = prediction.lower, prediction.upper
    shown = (  # after warmup: the laws skip it
        sampled_indices(n_steps, start=schedule.warmup_steps)
        if every is None
        else every_index(n_steps, schedule.warmup_steps, every)
    )
    for i in shown:
        rows.add_row(
            str(prediction.steps[i]),
            f"{prediction.lr[i]:.4g}",
            interval_text(prediction.loss[i], lower[i], upper[i]),
        )
    out.print(rows)
    final = interval_text(prediction.final_loss, *prediction.final_interval, prediction.level)
    out.print(f"final loss at step {n_steps}: {final}")
    out.print(
        f"law error from backtests: {law_error_text(fitted)} (the interval adds the parameters' "
        "noise and widens with extrapolation)",
        style="dim",
    )


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def predict_command(
    fit_file: FitFile = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the whole curve, every step, as CSV."),
    ] = None,
    every: Annotated[
        int | None,
        typer.Option(
            "--every",
            min=1,
            help="One point every N steps, in the table and the JSON (default: about 12 rows "
            "in the table, 1000 points in the JSON).",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw the prediction with the fitted data to PNG/SVG/PDF."),
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
    level: Level = 0.9,
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
    tokens_per_step: TargetTokens = None,
    params: TargetParams = None,
    compare_to: Annotated[
        list[str] | None,
        typer.Option(
            "--compare-to",
            help="Another schedule to predict beside --schedule, as 'FAMILY KEY=VALUE ...' with "
            "the schedule flags as keys (e.g. 'cosine floor=0.1', 'wsd decay=0.3 shape=sqrt'); "
            "it takes --steps, --peak and --warmup unless it gives them. Repeatable: one table, "
            "plot and CSV, each schedule's difference to the first with its interval.",
        ),
    ] = None,
    measured: Annotated[
        list[str] | None,
        typer.Option(
            "--measured",
            help="A logged run (file or quoted glob, repeatable) to draw over the plot and score "
            "against the prediction for --schedule: MAPE, final error, inside the interval.",
        ),
    ] = None,
) -> None:
    """Predict the loss curve of a schedule (default horizon, peak and warmup: the fitted runs').

    With --compare-to, several schedules at once and their differences to the first, whose
    intervals use what the predictions share (a difference is surer than either loss)."""
    from lrcurve.cli.files import check_outputs
    from lrcurve.cli.loading import (
        RunInputs,
        expand_paths,
        load_fit,
        say_target_clock,
        target_tokens_per_step,
    )
    from lrcurve.cli.predict_many import parse_compare
    from lrcurve.cli.schedule_flags import ScheduleSpec
    from lrcurve.io.tokens import parse_tokens
    from lrcurve.sizes import parse_size

    power = "power" in (schedule, then)  # the power scheduler takes it too
    target_tokens = None if tokens_per_step is None else parse_tokens(tokens_per_step)
    main = ScheduleSpec.pick({**locals(), "tokens_per_step": target_tokens if power else None})
    model_size = None if params is None else parse_size(params)
    tokens_per_step = target_tokens  # the flag's text, read
    specs = [main, *(parse_compare(text, main) for text in compare_to or [])]
    check_outputs(force, output, plot)
    fitted = load_fit(fit_file)
    if power and all(r.tokens_per_step is None for r in fitted.runs):
        tokens_per_step = None  # the power scheduler's alone: the fit has no clock to map onto
    tokens_per_step = target_tokens_per_step(fitted, tokens_per_step, main.schedule, model_size)
    texts = ["", *(compare_to or [])]
    built, used, said = _build(fitted, specs, texts, tokens_per_step, model_size)
    runs = RunInputs().load(expand_paths(measured, "--measured"), None) if measured else []
    check_outputs(force, output, plot)  # again: the fit file and every file read are inputs now
    predictions = [
        predict_schedule(fitted, schedule, level, model_size, tokens_per_step) for schedule in built
    ]
    _notes(fitted, predictions, (used, said), model_size)
    say_target_clock(fitted, tokens_per_step)
    if output is not None:
        write_prediction_csv(output, predictions, force)
    _report(fitted, predictions, runs, locals())


def _build(
    fitted: Any,
    specs: list[Any],
    texts: list[str],
    tokens_per_step: float | None,
    model_size: float | None,
) -> tuple[list[Any], list[str], Any]:
    """Each spec's schedule (its --lr-file marked an input), the defaults the first took (of
    the fitted runs nearest ``model_size``, in the steps of a target of ``tokens_per_step``
    tokens a step) and how they were taken (:func:`lrcurve.target_clock.target_defaults`); an
    error in a --compare-to spec (``texts``: as given, the first empty) names it."""
    from lrcurve.cli.files import mark_input
    from lrcurve.errors import InputError
    from lrcurve.target_clock import refuse_rewarmup, target_defaults

    defaults, said = target_defaults(fitted, tokens_per_step, specs[0].schedule, model_size)
    built, used = [], []
    for spec, text in zip(specs, texts):
        if spec.schedule == "rewarmup":
            refuse_rewarmup(fitted, tokens_per_step)
        if spec.lr_file is not None:
            mark_input(spec.lr_file)
        try:
            schedule, took = spec.build(fitted.runs, defaults)
        except InputError as error:
            if not text:
                raise
            raise InputError(f"--compare-to {text!r}: {error}") from None
        built.append(schedule)
        used += took if not text else []
    return built, used, said


def _notes(
    fitted: Any, predictions: list[Any], used: tuple[list[str], Any], model_size: Any
) -> None:
    """The defaults taken (``used``: and how they were counted), the fit's warnings and where
    the predictions extrapolate."""
    from lrcurve.cli.loading import defaults_note, say_fit
    from lrcurve.cli.render import extrapolation_note, note
    from lrcurve.sizes import size_ratio, size_said

    defaults_note(*used)
    say_fit(fitted)
    extrapolating = [e for p in predictions for e in p.extrapolating]
    extrapolation_note(extrapolating)
    if extrapolating and size_said(model_size, fitted.sizes) is not None:
        if size_ratio(model_size, fitted.sizes) > 1.0:  # not a fitted size, outside them
            note(
                "the interval also widens with the size beyond the fitted ones (docs/model-size.md)"
            )


def _report(fitted: Any, predictions: list[Any], runs: list[Any], args: dict[str, Any]) -> None:
    """The plot, then the JSON or the tables: one schedule's curve, or several compared; the
    measured runs against the first."""
    from lrcurve.cli.predict_many import compared, print_compared, print_measured
    from lrcurve.cli.render import emit_json, note, out, plotting, save_plot
    from lrcurve.target_clock import other_tokens_said

    output, plot, first = args["output"], args["plot"], predictions[0]
    scored = [first.against(run) for run in runs]
    for said in other_tokens_said(runs, args["tokens_per_step"]):
        note(f"warning: {said}")
    for s in scored:
        if s.lr_gap > LR_GAP:
            note(
                f"warning: measured run {s.run}'s LR differs from the predicted schedule's by up "
                f"to {100 * s.lr_gap:.3g} % of the peak: it ran another schedule"
            )
    rows = None
    if len(predictions) > 1:
        from dataclasses import replace

        from lrcurve.differences import joint_prediction
        from lrcurve.target_clock import counted_on

        step = min(int(p.steps[-1]) for p in predictions)
        schedules, at = counted_on(  # a target of other tokens per step: on the fit's clock
            fitted, [p.schedule for p in predictions], step, args["tokens_per_step"]
        )
        joint = joint_prediction(
            fitted, schedules, at, level=args["level"], model_size=args["model_size"]
        )
        rows = compared(predictions, replace(joint, step=step))
    if plot is not None:
        labels = [str(p.schedule) for p in predictions]
        figure = plotting().plot_prediction(
            fitted,
            predictions,
            labels,
            tokens_per_step=args["tokens_per_step"],
            model_size=args["model_size"],
        )
        if runs:
            from lrcurve.decision_plots import overlay_measured

            overlay_measured(figure, runs)
        save_plot(figure, plot, args["force"])
    if args["json_out"]:
        from lrcurve.clock import clock_json

        data = prediction_json(fitted, first.schedule, first, args["every"])
        warnings = list(fitted.warnings) + [w for p in predictions for w in p.warnings]
        emit_json(
            {
                **data,
                "model_size": args["model_size"],
                "tokens_per_step": args["tokens_per_step"],
                "clock": clock_json(fitted),
                "defaults_used": args["used"],
                "warnings": list(dict.fromkeys(warnings)),
                "schedules": rows,
                "measured": [s.to_dict() for s in scored],
                "output": str(output) if output else None,
                "plot": str(plot) if plot else None,
            }
        )
        return
    if rows is None:
        print_prediction(fitted, first.schedule, first, args["model_size"], args["every"])
    else:
        print_compared(rows, args["level"])
    if scored:
        from lrcurve.search_setting import short_label

        print_measured(scored, short_label(first.schedule))
    written = [str(p) for p in (output, plot) if p is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
