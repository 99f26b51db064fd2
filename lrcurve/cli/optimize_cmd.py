"""``lrcurve optimize``: the best setting of a schedule family, and the whole trade-off."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    DEFAULT_SHAPES,
    FAMILIES,
    REWARMUP_PHASE,
    FitFile,
    Force,
    JsonOut,
    Labels,
    Level,
    SearchTokens,
    TableOut,
    TargetParams,
)
from lrcurve.cli.optimize_render import candidate_table, report
from lrcurve.cli.schedule_flags import (
    AtStep,
    BaseRun,
    Cycle,
    Decay,
    Factors,
    Floor,
    LrFile,
    Milestones,
    Peak,
    Period,
    Shape,
    Steps,
    Warmup,
)
from lrcurve.errors import InputError


def _numbers(text: str | None, flag: str, default: Any = ()) -> Any:
    if text is None:
        return default
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{flag} takes comma-separated numbers, got {text!r}") from None


def _step_counts(text: str | None, flag: str) -> list[int] | None:
    """Comma-separated whole numbers of steps (``1e3`` too); ``None`` when the flag is not given."""
    from lrcurve.runs import MAX_STEPS

    if text is None:
        return None
    counts = []
    for value in _numbers(text, flag, ()):
        if not (value.is_integer() and 0 <= value <= MAX_STEPS):
            raise InputError(
                f"{flag} {text!r}: {value:g} is not a whole number of steps in [0, {MAX_STEPS:,}]"
            )
        counts.append(int(value))
    return counts


# Flags that shape only some searches (``rewarmup`` also when it is the baseline).
_SEARCH_FLAGS = {
    "shapes": ("wsd",),
    "fractions": ("wsd",),
    "periods": ("cosine",),
    "max_lrs": ("rewarmup",),
    "rewarmups": ("rewarmup",),
}
_REWARMUP_FLAGS = ("at_step", "base_run", "then")
_PHASE_FLAGS = ("decay", "shape")  # the WSD phase of a re-warmup search takes these too


def _check_applicable(family: str, baseline: str | None, **given: Any) -> None:
    """Refuse a flag given (not None) that neither the search of ``family`` nor the baseline
    uses."""
    wsd_phase = (
        family == "rewarmup" and given.get("then") == "wsd"
    )  # --decay and --shape shape its candidates
    for name, value in given.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name in _SEARCH_FLAGS:
            if family not in _SEARCH_FLAGS[name]:
                raise InputError(f"{flag} does not apply to --family {family}")
        elif name in _REWARMUP_FLAGS:
            if "rewarmup" not in (family, baseline):
                raise InputError(f"{flag} applies to --family rewarmup or --baseline rewarmup only")
        elif baseline is None and not (name in _PHASE_FLAGS and wsd_phase):
            also = (
                " or the candidates of --family rewarmup --then wsd" if name in _PHASE_FLAGS else ""
            )
            raise InputError(
                f"{flag} applies to the --baseline schedule{also}; give --baseline NAME"
            )


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def optimize_command(
    fit_file: FitFile = None,
    family: Annotated[
        str, typer.Option("--family", "-f", help=f"Family to search: {', '.join(FAMILIES)}.")
    ] = "wsd",
    steps: Steps = None,
    peak: Peak = None,
    warmup: Warmup = None,
    score_step: Annotated[
        int | None,
        typer.Option(
            "--score-step",
            min=1,
            help="Compare the predicted losses at this step (default: the last). Not --at-step, "
            "which is where a re-warmup starts.",
        ),
    ] = None,
    shapes: Annotated[
        str | None,
        typer.Option(
            "--shapes", help=f"WSD: decay shapes searched (default {','.join(DEFAULT_SHAPES)})."
        ),
    ] = None,
    fractions: Annotated[
        str | None,
        typer.Option(
            "--fractions", help="WSD: decay fractions searched (default 0.025..0.6, 13 values)."
        ),
    ] = None,
    periods: Annotated[
        str | None,
        typer.Option(
            "--periods",
            help="Cosine: periods searched, as fractions of the steps after warmup (1 = ends at "
            "the last step; default 0.5..1.5).",
        ),
    ] = None,
    floors: Annotated[
        str | None,
        typer.Option(
            "--floors",
            help="Final LR fractions searched (cosine default 0,0.01,0.02,0.05,0.1,0.2; WSD and "
            "re-warmup default 0).",
        ),
    ] = None,
    at_step: AtStep = None,
    base_run: BaseRun = None,
    max_lrs: Annotated[
        str | None,
        typer.Option(
            "--max-lrs",
            help="Re-warmup: maximum LRs searched, as fractions of --peak (default 0.1..1).",
        ),
    ] = None,
    rewarmups: Annotated[
        str | None,
        typer.Option(
            "--rewarmups",
            help="Re-warmup: warmup lengths searched, in steps (default 0,1,2,5,10 % of the new "
            "phase).",
        ),
    ] = None,
    then: Annotated[
        str | None,
        typer.Option(
            "--then",
            help="Re-warmup: family of the new phase (candidates and a rewarmup baseline; "
            f"default {REWARMUP_PHASE}).",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Baseline family, with the schedule flags (default: the fitted runs' first "
            "decaying schedule at this horizon).",
        ),
    ] = None,
    decay: Decay = None,
    shape: Shape = None,
    floor: Floor = None,
    period: Period = None,
    cycle: Cycle = None,
    milestones: Milestones = None,
    factors: Factors = None,
    lr_file: LrFile = None,
    also: Annotated[
        list[Path] | None,
        typer.Option(
            "--also",
            help="Fit files of other laws (e.g. from `fit --law multipower`): score the same "
            "candidates with each and show where the laws disagree (repeatable).",
        ),
    ] = None,
    measured: Annotated[
        list[str] | None,
        typer.Option(
            "--measured",
            help="Runs of a measured sweep (e.g. WSD runs with different cooldown fractions; a "
            "file or a quoted glob pattern, repeatable): their final loss next to the law's "
            "prediction, and the best of each.",
        ),
    ] = None,
    label: Labels = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Candidates listed in the table.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the trade-off curves to PNG/SVG/PDF.")
    ] = None,
    output: TableOut = None,
    json_out: JsonOut = False,
    force: Force = False,
    params: TargetParams = None,
    tokens_per_step: SearchTokens = None,
    level: Level = 0.9,
) -> None:
    """Search a schedule family for the lowest predicted loss, with the trade-off and the gain.

    The gain is over a baseline: --baseline with the schedule flags, or the fitted runs' own.
    The tie set: the candidates whose difference to the best is not distinguishable from 0 at
    --level (the differences use what the candidates' predictions share)."""
    from lrcurve.cli.files import check_outputs, mark_input
    from lrcurve.cli.loading import RunInputs, expand_paths, load_fit, target_tokens_per_step
    from lrcurve.cli.render import plotting, save_plot
    from lrcurve.cli.schedule_flags import ScheduleSpec
    from lrcurve.io.tokens import parse_tokens
    from lrcurve.uncertainty import z_value

    tokens_per_step = None if tokens_per_step is None else parse_tokens(tokens_per_step)
    args = dict(locals())
    z_value(level)  # refuses a level outside (0, 1) before any work
    if family not in FAMILIES:
        raise InputError(f"--family must be one of {', '.join(FAMILIES)}, got {family!r}")
    _check_applicable(family, baseline, **{k: args[k] for k in _CHECKED})
    check_outputs(force, output, plot)
    fitted, others = _at_size([load_fit(p) for p in [fit_file, *(also or [])]], params)
    tokens_per_step = target_tokens_per_step(fitted, tokens_per_step, family, None, steps is None)
    args["tokens_per_step"] = tokens_per_step
    sweep = []
    if measured:
        sweep = RunInputs(label=label).load(expand_paths(measured, "--measured"), None)
    if lr_file is not None:
        mark_input(lr_file)
    check_outputs(force, output, plot)  # again, now that every file read is known as an input
    spec = ScheduleSpec.pick({**args, "schedule": baseline or "wsd"})
    done = _optimize(fitted, _request(args), spec if baseline else None, level, tokens_per_step)
    opinions = _other_laws(done.search, others)
    scored = _against_measured(fitted, sweep, level, tokens_per_step)
    if plot is not None:
        plotting()  # the Agg backend, before the figure is drawn
        from lrcurve.decision_plots import plot_search_with_ties

        save_plot(plot_search_with_ties(done.search, fitted, measured=scored), plot, force)
    if output is not None:
        from lrcurve.output import write_rows

        write_rows(output, *candidate_table(done.search, opinions), force)
    report(done, fitted, opinions, scored, args)


# the flags that apply to some searches or baselines only (see _check_applicable)
_CHECKED = (
    "shapes", "fractions", "periods", "at_step", "base_run", "max_lrs", "rewarmups", "then",
    "decay", "shape", "floor", "period", "cycle", "milestones", "factors", "lr_file",
)  # fmt: skip


def _at_size(fits: list[Any], params: str | None) -> tuple[Any, list[Any]]:
    """Each fit at the model size ``--params`` (:func:`lrcurve.size_fit.fitted_at_size`);
    every input is checked before the search."""
    from lrcurve.size_fit import fitted_at_size
    from lrcurve.sizes import parse_size

    size = None if params is None else parse_size(params)
    sized = [fitted_at_size(f, size) for f in fits]
    return sized[0], sized[1:]


def _request(args: dict[str, Any]) -> Any:
    """The search the flags ask for (the grids parsed; the rest as given)."""
    from lrcurve.optimize import SearchRequest

    shapes = args["shapes"]
    family = args["family"]
    return SearchRequest(
        family=family,
        steps=args["steps"],
        peak=args["peak"],
        warmup=args["warmup"],
        score_step=args["score_step"],
        shapes=tuple(s.strip() for s in shapes.split(",") if s.strip()) if shapes else None,
        fractions=_numbers(args["fractions"], "--fractions", None),
        periods=_numbers(args["periods"], "--periods", None),
        floors=_numbers(args["floors"], "--floors", None),
        max_lrs=_numbers(args["max_lrs"], "--max-lrs", None),
        rewarmups=_step_counts(args["rewarmups"], "--rewarmups"),
        at_step=args["at_step"],
        base_run=args["base_run"],
        then=args["then"],
        decay=args["decay"] if family == "rewarmup" else None,  # else: the baseline's
        shape=args["shape"] if family == "rewarmup" else None,
    )


def _optimize(
    fitted: Any, request: Any, spec: Any, level: float, tokens_per_step: float | None
) -> Any:
    """Run the search (``spec``: the --baseline schedule's flags, or None) for a target of
    ``tokens_per_step`` tokens a step and say its notes."""
    from dataclasses import replace

    from lrcurve.cli.loading import defaults_note, say_fit, say_target_clock
    from lrcurve.cli.render import extrapolation_note, note, progress_bar
    from lrcurve.optimize import optimize

    with progress_bar(f"predicting {request.family} schedules") as update:
        done = optimize(
            fitted,
            request,
            None if spec is None else lambda setting: _baseline(fitted, setting, spec),
            rewarmup_baseline=spec is not None and spec.schedule == "rewarmup",
            progress=update,
            level=level,
            tokens_per_step=tokens_per_step,
        )
    setting = done.setting
    defaults_note(setting.used, done.defaults_said)
    say_fit(fitted, warnings=False)  # the search's warnings say them
    done = replace(done, regime=(*done.regime, *say_target_clock(fitted, tokens_per_step)))
    if setting.base_defaulted:
        note(
            f"re-warmup continues fitted run {setting.base.name}, the first that decays "
            "(--base-run to choose)"
        )
    if setting.base is not None and setting.start is not None:
        from lrcurve.search_setting import held_gap_said

        gap = held_gap_said(setting.base, setting.start)
        if gap:
            note(gap)
    if done.baseline_defaulted:
        note(f"baseline (--baseline to choose): {done.search.baseline_label}")
    for warning in done.warnings:
        note(f"warning: {warning}")
    extrapolation_note(short for short, _ in done.regime)
    for message in done.search.notes:
        note(message)
    return done


def _baseline(fitted: Any, setting: Any, spec: Any) -> tuple[Any, str]:
    """The --baseline schedule of the flags, at the search's steps, peak and warmup."""
    from dataclasses import replace

    if "power" in (spec.schedule, spec.then if spec.schedule == "rewarmup" else None):
        given = (
            "--baseline power" if spec.schedule == "power" else "--baseline rewarmup --then power"
        )
        raise InputError(
            f"{given}: optimize has no --a, --b or --batch (its --tokens-per-step is the "
            "target's); give the power schedule as --baseline file --lr-file LR.csv (from "
            "`lrcurve schedule power -o LR.csv`)"
        )
    rewarm = spec.schedule == "rewarmup"  # takes --at-step, --then and the base run
    spec = replace(
        spec,
        steps=setting.steps,
        peak=setting.peak,
        warmup=setting.warmup,
        at_step=setting.start if rewarm else None,
        then=spec.then if rewarm else None,
        base_run=setting.base.name if rewarm else None,
    )
    schedule, _ = spec.build(fitted.runs)
    return schedule, str(schedule)


def _other_laws(result: Any, others: list[Any]) -> list[Any]:
    from lrcurve.cli.render import progress_bar
    from lrcurve.opinions import other_laws

    if not others:
        return []
    with progress_bar("scoring the candidates with the other laws") as update:
        return other_laws(result, others, progress=update)


def _against_measured(
    fitted: Any, sweep: list[Any], level: float, tokens_per_step: float | None
) -> list[Any]:
    """The law on the measured runs; with the target's ``tokens_per_step`` (the runs' own when
    they say it), each counted on the fit's clock and said at its own steps."""
    from dataclasses import replace

    from lrcurve.opinions import against_measured
    from lrcurve.tokens import clock_exponent, fitted_unit, is_clock_fit, on_clock

    if not sweep or (tokens_per_step is None and not is_clock_fit(fitted)):
        return against_measured(fitted, sweep, level) if sweep else []
    unit = fitted_unit(fitted)
    given = tokens_per_step or unit  # on a clock fit without it: the clock's own steps
    own = [r if r.tokens_per_step else replace(r, tokens_per_step=given) for r in sweep]
    rule = clock_exponent(fitted)
    scored = against_measured(fitted, [on_clock(r, unit, rule) for r in own], level)
    return [replace(m, horizon=r.horizon, step=r.last_step) for m, r in zip(scored, own)]
