"""``lrcurve optimize``: the best setting of a schedule family, and the whole trade-off."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import DEFAULT_SHAPES, FAMILIES, REWARMUP_PHASE, FitFile, Force, JsonOut
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


def _numbers(text: str | None, flag: str, default: tuple[float, ...]) -> tuple[float, ...]:
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


# Flags that shape only some searches (``rewarmup`` also when it is the baseline: --baseline rewarmup).
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
    """Refuse a flag given (not None) that neither the search of ``family`` nor the baseline uses."""
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


def _rewarmup_start(from_step: int | None, base: Any, steps: int) -> int:
    """Where the re-warmup starts: ``--at-step``, else the end of ``base``; inside the run."""
    from lrcurve.optimize import check_from_step

    check_from_step(from_step or base.horizon, steps, None if from_step else base.name)
    return from_step or base.horizon


def _base_run(runs: tuple[Any, ...], name: str | None) -> Any:
    from lrcurve.cli.render import note
    from lrcurve.optimize import first_decaying_run

    if name is None:
        run, _ = first_decaying_run(runs)
        note(f"re-warmup continues fitted run {run.name} (--base-run to choose)")
        return run
    for run in runs:
        if run.name == name:
            return run
    raise InputError(f"--base-run {name!r}: the fit has runs {', '.join(r.name for r in runs)}")


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _x_text(search_result: Any, x: float) -> str:
    return _percent(x) if search_result.family == "wsd" else f"{x:.3g}"


def _candidate_json(candidate: Any, loss: float) -> dict[str, Any]:
    return {**candidate.params, "series": candidate.series, "x": candidate.x, "loss": loss}


def _print_tables(result: Any, top: int) -> None:
    import numpy as np
    from rich.table import Table

    from lrcurve.cli.render import out

    table = Table(
        title=f"best {min(top, len(result.candidates))} of {len(result.candidates)} candidates "
        f"(predicted loss at step {result.at_step})",
        title_justify="left",
    )
    for column in ("rank", "setting", "loss", "vs baseline"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for rank, i in enumerate(result.order[:top], 1):
        loss = float(result.loss[i])
        table.add_row(
            str(rank),
            result.candidates[i].label,
            f"{loss:.4f}",
            f"{loss - result.baseline_loss:+.4f}",
        )
    table.add_row(
        "", f"baseline: {result.baseline_label}", f"{result.baseline_loss:.4f}", "", style="dim"
    )
    out.print(table)

    curves = result.curves()
    xs = sorted({c.x for c in result.candidates})
    trade = Table(title="trade-off (* best per column)", title_justify="left")
    trade.add_column(result.x_name, justify="right")
    for series in curves:
        trade.add_column(series, justify="right")
    best_x = result.best_per_series()
    for x in xs:
        cells = []
        for series, (sx, sl) in curves.items():
            hit = np.flatnonzero(np.isclose(sx, x, rtol=1e-12, atol=0))
            cells.append(
                ""
                if hit.size == 0
                else f"{sl[hit[0]]:.4f}" + ("*" if best_x[series][0] == x else " ")
            )
        trade.add_row(_x_text(result, x), *cells)
    out.print(trade)


def _print_opinions(result: Any, law: str, opinions: list[Any], top: int) -> None:
    from rich.table import Table

    from lrcurve.cli.render import out

    table = Table(title=f"the laws side by side (rank by the {law} law)", title_justify="left")
    table.add_column("setting")
    for name in (law, *(o.law for o in opinions)):
        table.add_column(f"{name} loss (rank)", justify="right")
    for rank, i in enumerate(result.order[:top], 1):
        cells = [f"{result.loss[i]:.4f} ({rank})"] + [
            f"{o.loss[i]:.4f} ({o.rank_of(int(i))})" for o in opinions
        ]
        table.add_row(result.candidates[i].label, *cells)
    out.print(table)
    for o in opinions:
        best = result.candidates[o.best]
        verdict = (
            "agree"
            if o.best == int(result.order[0])
            else (
                f"differ: the {o.law} law ranks the {law} law's best #{o.rank_of(int(result.order[0]))}"
            )
        )
        out.print(
            f"best by the {o.law} law: {best.label} ({o.loss[o.best]:.4f}); by the {law} law: "
            f"{result.best.label}: {verdict}",
            soft_wrap=True,
        )


def _print_measured(scored: list[Any]) -> None:
    from rich.table import Table

    from lrcurve.cli.render import add_columns, out
    from lrcurve.optimize import measured_bests

    table = Table(
        title="measured sweep: last logged loss against the law's prediction for each run's schedule",
        title_justify="left",
    )
    add_columns(
        table, ("run schedule", "step", "measured", "predicted", "error %"), text=("run schedule",)
    )
    for m in sorted(scored, key=lambda m: (m.horizon, m.label)):
        table.add_row(
            m.label,
            str(m.step),
            f"{m.measured:.4f}",
            f"{m.predicted:.4f}",
            f"{m.error_percent:+.2f}",
        )
    out.print(table)
    for horizon, (measured_best, predicted_best) in measured_bests(scored).items():
        verdict = "agree" if measured_best is predicted_best else "differ"
        out.print(
            f"horizon {horizon}: measured best {measured_best.label} ({measured_best.measured:.4f}); "
            f"the law's best of these runs {predicted_best.label} ({predicted_best.predicted:.4f}): {verdict}",
            soft_wrap=True,
        )


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
    top: Annotated[int, typer.Option("--top", min=1, help="Candidates listed in the table.")] = 10,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Draw the trade-off curves to PNG/SVG/PDF.")
    ] = None,
    json_out: JsonOut = False,
    force: Force = False,
) -> None:
    """Search a schedule family for the lowest predicted loss; show the trade-off and the gain
    over a baseline."""
    from lrcurve.cli.files import check_plot_path, mark_input
    from lrcurve.cli.loading import RunInputs, expand_paths, load_fit
    from lrcurve.cli.render import plotting, save_plot
    from lrcurve.cli.schedule_flags import ScheduleSpec

    args = dict(locals())
    if family not in FAMILIES:
        raise InputError(f"--family must be one of {', '.join(FAMILIES)}, got {family!r}")
    _check_applicable(family, baseline, **{k: args[k] for k in _CHECKED})
    if plot is not None:
        check_plot_path(plot, force)
    fitted = load_fit(fit_file)
    others = [load_fit(path) for path in also or []]  # every input checked before the search
    sweep = RunInputs().load(expand_paths(measured, "--measured"), None) if measured else []
    if lr_file is not None:
        mark_input(lr_file)
    spec = ScheduleSpec.pick({**args, "schedule": baseline or "wsd"})
    setting = _setting(fitted, spec, args)
    result = _search(fitted, setting, spec, args)
    opinions = _other_laws(result, others)
    scored = _against_measured(fitted, sweep)
    if plot is not None:
        save_plot(plotting().plot_search(result, fitted), plot, force)
    _report(result, fitted, setting, opinions, scored, args)


# the flags that apply to some searches or baselines only (see _check_applicable)
_CHECKED = (
    "shapes", "fractions", "periods", "at_step", "base_run", "max_lrs", "rewarmups", "then",
    "decay", "shape", "floor", "period", "cycle", "milestones", "factors", "lr_file",
)  # fmt: skip


def _setting(fitted: Any, spec: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Steps, peak and warmup (the fitted runs' unless given), the base run and re-warmup
    start of a re-warmup search or baseline."""
    from lrcurve.cli.loading import fit_defaults
    from lrcurve.cli.render import note
    from lrcurve.cli.schedule_flags import check_steps, default_from
    from lrcurve.runs import check_peak_lr

    defaults, used = fit_defaults(fitted), []
    steps = default_from("steps", args["steps"], defaults, used)
    peak = default_from("peak", args["peak"], defaults, used)
    warmup = default_from("warmup", args["warmup"], defaults, used)
    check_steps(steps)
    if not 0 <= warmup < steps:
        raise InputError(f"--warmup ({warmup}) must be in [0, --steps ({steps}))")
    if args["peak"] is not None:  # the fit's peak was checked as its file was read
        check_peak_lr(peak, "--peak: peak LR")
    if used:
        note(f"from the fitted runs: {', '.join(used)}")
    score_step = args["score_step"]
    if score_step is not None and score_step > steps:
        raise InputError(f"--score-step ({score_step}) must be between 1 and --steps ({steps})")
    base, start = None, None
    if "rewarmup" in (args["family"], args["baseline"]):
        base = _base_run(fitted.runs, args["base_run"])
        start = _rewarmup_start(args["at_step"], base, steps)
    setting = {"steps": steps, "peak": peak, "warmup": warmup, "used": used}
    return {**setting, "base": base, "start": start, "score_step": score_step}


def _candidates(setting: dict[str, Any], args: dict[str, Any]) -> list[Any]:
    from lrcurve.optimize import (
        DEFAULT_COSINE_FLOORS,
        DEFAULT_FRACTIONS,
        DEFAULT_MAX_LRS,
        DEFAULT_PERIODS,
        cosine_candidates,
        rewarmup_candidates,
        wsd_candidates,
    )

    family, steps, peak, warmup = args["family"], *(setting[k] for k in ("steps", "peak", "warmup"))
    floor_default = DEFAULT_COSINE_FLOORS if family == "cosine" else (0.0,)
    floor_grid = _numbers(args["floors"], "--floors", floor_default)
    if family == "wsd":
        shapes = args["shapes"]
        shape_list = (
            tuple(s.strip() for s in shapes.split(",") if s.strip()) if shapes else DEFAULT_SHAPES
        )
        fractions = _numbers(args["fractions"], "--fractions", DEFAULT_FRACTIONS)
        return wsd_candidates(steps, peak, warmup, fractions, shape_list, floor_grid)
    if family == "cosine":
        periods = _numbers(args["periods"], "--periods", DEFAULT_PERIODS)
        return cosine_candidates(steps, peak, warmup, periods, floor_grid)
    return rewarmup_candidates(
        setting["base"].schedule,
        setting["start"],
        steps,
        peak,
        _numbers(args["max_lrs"], "--max-lrs", DEFAULT_MAX_LRS),
        _step_counts(args["rewarmups"], "--rewarmups"),
        args["then"] or REWARMUP_PHASE,
        floor_grid,
        decay=args["decay"],
        shape=args["shape"],
    )


def _baseline(fitted: Any, setting: dict[str, Any], spec: Any, args: dict[str, Any]) -> Any:
    """The baseline schedule and its label: the flags' with --baseline, else the fitted runs'."""
    from dataclasses import replace

    from lrcurve.cli.render import note
    from lrcurve.optimize import default_baseline, default_rewarmup_baseline

    baseline, then = args["baseline"], args["then"]
    steps, peak, warmup = (setting[k] for k in ("steps", "peak", "warmup"))
    if baseline is None:
        if args["family"] == "rewarmup":
            base = setting["base"].schedule
            chosen = default_rewarmup_baseline(
                fitted.runs, base, setting["start"], steps, peak, warmup
            )
        else:
            chosen = default_baseline(fitted.runs, steps, peak, warmup)
        note(f"baseline (--baseline to choose): {chosen[1]}")
        return chosen
    if "power" in (baseline, then if baseline == "rewarmup" else None):
        given = "--baseline power" if baseline == "power" else "--baseline rewarmup --then power"
        raise InputError(
            f"{given}: optimize has no --a, --b, --batch or --tokens-per-step; give the power "
            "schedule as --baseline file --lr-file LR.csv (from `lrcurve schedule power -o LR.csv`)"
        )
    rewarm = baseline == "rewarmup"  # takes --at-step, --then and the base run; others refuse them
    spec = replace(
        spec,
        steps=steps,
        peak=peak,
        warmup=warmup,
        at_step=setting["start"] if rewarm else None,
        then=then if rewarm else None,
        base_run=setting["base"].name if rewarm else None,
    )
    schedule, _ = spec.build(fitted.runs)
    return schedule, str(schedule)


def _search(fitted: Any, setting: dict[str, Any], spec: Any, args: dict[str, Any]) -> Any:
    """Score the candidates and the baseline; say the warnings that apply."""
    from lrcurve.cli.render import note, progress_bar
    from lrcurve.optimize import search

    candidates = _candidates(setting, args)
    baseline_schedule, baseline_label = _baseline(fitted, setting, spec, args)
    score_step, steps = setting["score_step"], setting["steps"]
    if baseline_schedule.horizon is not None and baseline_schedule.horizon < (score_step or steps):
        raise InputError(
            f"the baseline ends at step {baseline_schedule.horizon}, before step "
            f"{score_step or steps}"
        )
    family = args["family"]
    with progress_bar(f"predicting {len(candidates)} {family} schedules") as update:
        result = search(
            fitted,
            family,
            candidates,
            baseline_schedule,
            baseline_label,
            steps=steps,
            at_step=score_step,
            progress=update,
        )
    for warning in fitted.warnings:
        note(f"warning: the fit says: {warning}")
    horizon_warning = fitted.horizon_warning(steps)  # candidates' peaks: below, for all of them
    if horizon_warning:
        note(f"warning: {horizon_warning}")
    if max(c.schedule.peak for c in candidates) > 1.2 * fitted.peak_lr:
        note(
            f"warning: some candidates' LR exceeds the fitted runs' peak {fitted.peak_lr:g}; the "
            "law has no penalty for too high an LR and extrapolates there"
        )
    for warning in fitted.decay_warnings(result.best.schedule, result.at_step):
        note(f"warning: the best candidate: {warning}")
    for message in result.notes:
        note(message)
    return result


def _other_laws(result: Any, others: list[Any]) -> list[Any]:
    from lrcurve.cli.render import progress_bar
    from lrcurve.optimize import other_laws

    if not others:
        return []
    with progress_bar("scoring the candidates with the other laws") as update:
        return other_laws(result, others, progress=update)


def _against_measured(fitted: Any, sweep: list[Any]) -> list[Any]:
    from lrcurve.optimize import against_measured

    return against_measured(fitted, sweep) if sweep else []


def _json(
    result: Any, fitted: Any, setting: dict, opinions: list, scored: list, args: dict
) -> dict:
    from dataclasses import asdict

    from lrcurve.optimize import measured_bests

    plot = args["plot"]
    return {
        "family": args["family"],
        "law": fitted.law.name,
        "steps": setting["steps"],
        "at_step": result.at_step,
        "peak": setting["peak"],
        "warmup": setting["warmup"],
        "defaults_used": setting["used"],
        "x_name": result.x_name,
        "series_name": result.series_name,
        "best": {
            **_candidate_json(result.best, result.best_loss),
            "schedule": result.best.schedule.to_dict(),
            "schedule_text": str(result.best.schedule),
        },
        "baseline": {
            "label": result.baseline_label,
            "loss": result.baseline_loss,
            "schedule": result.baseline.to_dict(),
        },
        "gain": result.gain,
        "gain_stderr": result.gain_stderr,
        "gain_percent": 100 * result.gain / result.baseline_loss,
        "best_per_series": {
            s: {"x": x, "loss": v} for s, (x, v) in result.best_per_series().items()
        },
        "candidates": [
            _candidate_json(c, float(v)) for c, v in zip(result.candidates, result.loss)
        ],
        "notes": list(result.notes),
        "plot": str(plot) if plot else None,
        "other_laws": [
            {
                "law": o.law,
                "best": _candidate_json(result.candidates[o.best], float(o.loss[o.best])),
                "rank_of_our_best": o.rank_of(int(result.order[0])),
                "losses": o.loss.tolist(),
            }
            for o in opinions
        ],
        "measured": [{**asdict(m), "error_percent": m.error_percent} for m in scored],
        "measured_best": {
            str(h): {"measured": mb.name, "predicted": pb.name}
            for h, (mb, pb) in measured_bests(scored).items()
        },
    }


def _report(
    result: Any, fitted: Any, setting: dict, opinions: list, scored: list, args: dict
) -> None:
    from lrcurve.cli.render import emit_json, out

    if args["json_out"]:
        emit_json(_json(result, fitted, setting, opinions, scored, args))
        return
    top = args["top"]
    _print_tables(result, top)
    if opinions:
        _print_opinions(result, fitted.law.name, opinions, top)
    if scored:
        _print_measured(scored)
    band = f" ± {result.gain_stderr:.2g}" if result.gain_stderr is not None else ""
    rel = result.gain / result.baseline_loss
    out.print(
        f"best: {result.best.label}: loss {result.best_loss:.4f} at step {result.at_step}",
        soft_wrap=True,
    )
    out.print(
        f"gain over the baseline ({result.baseline_loss:.4f}): {result.gain:.4f}{band} "
        f"({100 * rel:.2f} %)",
        soft_wrap=True,
    )
    if args["plot"] is not None:
        out.print(f"wrote {args['plot']}")
