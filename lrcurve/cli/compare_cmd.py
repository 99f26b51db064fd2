"""``lrcurve compare``: fit every law, score each on held-out curves, recommend one."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    DEFAULT_SKIP,
    Clock,
    Force,
    JsonOut,
    Labels,
    Level,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    LRExponent,
    Parent,
    RunCol,
    RunParams,
    RunTokens,
    Skip,
    Smooth,
    StepCol,
    TableOut,
    WarmupArea,
    WarmupSteps,
)

LARGEST_SIZE = "largest-size"  # --holdout's keyword: hold out the runs of the largest size


def print_comparison(comparison: Any) -> None:
    """Two narrow tables, so both fit an 80-column terminal: each law's summary (held-out
    MAPE, finals inside their intervals, AIC/BIC), then each held-out curve's scores (R² and
    the rest in ``--json`` and ``-o``)."""
    from rich.text import Text

    from lrcurve.cli.render import out, table
    from lrcurve.laws import forward_area_note

    best = comparison.best
    area = forward_area_note(comparison.results[0].fitted.law)
    level = _level_text(comparison)
    laws = table(
        f"loss laws scored on held-out curves ({comparison.method}{area})",
        ("law", "params", "MAPE %", f"finals in {level}", "AIC", "BIC"),
        text=("law",),
    )
    for result in comparison.results:
        inside, count = result.inside
        name = result.name + (" *" if result is best else "")
        aic_bic = (f"{result.aic:.1f}", f"{result.bic:.1f}")
        laws.add_row(
            name, str(result.n_params), f"{result.mape:.3f}", f"{inside} of {count}", *aic_bic
        )
    for gone in comparison.left_out:
        laws.add_row(gone.name, str(gone.n_params), Text("left out (see note)", style="dim"))
    out.print(laws)
    curves = table(
        f"each held-out curve: the measured final loss in or out of its predicted {level} interval",
        ("law", "run", "MAPE %", "final err %", f"final, {level} interval"),
        text=("law", "run"),
    )
    curves.columns[0].min_width = max(len(r.name) for r in comparison.results)  # names whole
    for result in comparison.results:
        for i, h in enumerate(result.heldout):
            curves.add_row(
                result.name if i == 0 else "",
                h.run.label,
                f"{h.scores.mape:.3f}",
                f"{h.scores.final_error:+.3f}",
                _final_cell(h),
                end_section=i == len(result.heldout) - 1,
            )
    out.print(curves)
    out.print(f"recommended: {comparison.recommendation}; AIC/BIC are on the fit data")


def _level_text(comparison: Any) -> str:
    levels = [h.level for r in comparison.results for h in r.heldout if h.level is not None]
    return f"{100 * levels[0]:.4g} %" if levels else "90 %"


def _final_cell(heldout: Any) -> str:
    """``in [lower, upper]`` (or ``OUT of``) of a held-out final loss (its error is beside);
    ``no interval`` for one whose interval reached below 0 (a warning says why)."""
    final = heldout.final
    if heldout.no_interval:
        return "no interval (see note)"
    if final is None or final.lower is None:
        return "-"
    where = "in" if final.inside else "OUT of"
    return f"{where} [{final.lower:.4f}, {final.upper:.4f}]"


COMPARISON_HEADER = (
    "law", "n_params", "heldout_run", "mape_percent", "final_error_percent", "final_predicted",
    "final_lower", "final_upper", "final_measured", "final_inside", "r2", "aic", "bic",
    "recommended", "left_out", "final_no_interval",
)  # fmt: skip


def comparison_rows(comparison: Any) -> list[tuple[Any, ...]]:
    """The table's rows for CSV: one per law and held-out run (why its final has no interval
    when it has none), a ``mean`` row per law (its MAPE; ``final_inside``: how many held-out
    finals were inside), and a row per law left out with the reason."""
    rows: list[tuple[Any, ...]] = []
    for result in comparison.results:
        best = result is comparison.best
        for h in result.heldout:
            f = h.final
            final = (None,) * 5 if f is None else (f.predicted, f.lower, f.upper, f.measured)
            final += () if f is None else (f.inside,)
            rows.append((result.name, result.n_params, h.run.name, h.scores.mape))
            rows[-1] += (h.scores.final_error, *final, h.scores.r2, result.aic, result.bic)
            rows[-1] += (best, None, h.no_interval)
        inside = "{} of {}".format(*result.inside)
        rows.append((result.name, result.n_params, "mean", result.mape, *[None] * 5, inside))
        rows[-1] += (None, None, None, best, None, None)
    for gone in comparison.left_out:
        rows.append((gone.name, gone.n_params, *[None] * 11, False, gone.reason, None))
    return rows


# over 60 lines for its flag declarations: typer reads each flag from its parameter
def compare_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Runs to fit: CSV/TSV with step, lr and loss columns.", show_default=False
        ),
    ],
    holdout: Annotated[
        list[Path] | None,
        typer.Option(
            "--holdout",
            help="Runs to score on, never fitted (repeatable), or 'largest-size': the runs of "
            "the largest model size (--params). Without it: leave one run out, or the last 20 % "
            "of a single run.",
        ),
    ] = None,
    warmup_area: WarmupArea = "actual",
    lr_exponent: LRExponent = 1.0,
    skip: Skip = DEFAULT_SKIP,
    warmup: WarmupSteps = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Draw every law against the data to a PNG/SVG/PDF file."),
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
    params: RunParams = None,
    run_tokens: RunTokens = None,
    clock: Clock = "steps",
    level: Level = 0.9,
    label: Labels = None,
) -> None:
    """Fit every loss law, score each on curves it did not see, and recommend one; each held-out
    final loss is predicted with its interval at --level."""
    from lrcurve.cli.files import check_outputs
    from lrcurve.cli.loading import RunInputs, check_clock_name, counted, labelled
    from lrcurve.cli.render import emit_json, note, out, plotting, progress_bar
    from lrcurve.compare import build_laws, compare
    from lrcurve.errors import InputError
    from lrcurve.sizes import sized, split_largest_size
    from lrcurve.tokens import batch_groups, batch_warning, own_lrs
    from lrcurve.uncertainty import z_value

    inputs = RunInputs.pick(locals())
    z_value(level)  # refuses a level outside (0, 1) before any work
    check_outputs(force, output, plot)
    build_laws(warmup=warmup_area, lr_exponent=lr_exponent)  # refuses bad options up front
    check_clock_name(clock)
    largest = [p for p in holdout or [] if str(p) == LARGEST_SIZE and not p.exists()]
    holdout = [p for p in holdout or [] if p not in largest]
    fitted_paths = {path.resolve(): path for path in files}
    for path in holdout or []:
        if path.resolve() in fitted_paths:
            raise InputError(
                f"--holdout {path}: also given as a run to fit; a held-out run must not be fitted"
            )
    runs = inputs.load(files, warmup, named=files + holdout, strict=False)
    held = inputs.load(holdout, warmup, named=files + holdout, strict=False)
    every = labelled(inputs, runs + held)  # labels unique across fitted and held-out runs
    logged = {r.name: r.tokens_per_step for r in every if r.tokens_per_step is not None}
    every, clock_note = counted(every, clock)  # one clock for the fitted and held-out runs
    runs, held = every[: len(runs)], every[len(runs) :]
    if clock_note is not None:
        note(clock_note)
    if largest:
        runs, held = split_largest_size(runs, held)
    batches = None if clock_note or len(batch_groups(runs)) > 1 else batch_warning(runs + held)
    laws, left_out = build_laws(
        warmup=warmup_area, lr_exponent=lr_exponent, sized=sized([*runs, *held])
    )
    check_outputs(force, output, plot)  # again, now that every file read is known as an input
    with progress_bar(f"fitting {len(laws)} laws") as update:
        comparison = compare(
            runs,
            held,
            laws=laws,
            left_out=left_out,
            skip_fraction=skip,
            progress=update,
            level=level,
            own_lr=None if clock_note is None else own_lrs(logged, every[0].tokens_per_step),
        )
    if clock_note is not None:  # held-out finals in their runs' own steps
        from lrcurve.heldout import in_run_steps

        comparison = in_run_steps(comparison, logged, float(every[0].tokens_per_step))
    if batches is not None:  # the fits say it when their own runs differ; here held-out ones
        from dataclasses import replace

        comparison = replace(comparison, warnings=(batches, *comparison.warnings))
    for gone in comparison.left_out:
        note(f"{gone.name} left out: {gone.reason}")
    for warning in comparison.warnings:
        note(f"warning: {warning}")
    for result in comparison.results:
        for warning in result.warnings:
            note(f"warning: {result.name}: {warning}")
    if plot is not None:
        plotting()  # the Agg backend, before compare draws
        from lrcurve.decision_plots import plot_comparison

        plot_comparison(comparison, plot)
    if output is not None:
        from lrcurve.output import write_rows

        write_rows(output, COMPARISON_HEADER, comparison_rows(comparison), force)
    if json_out:
        files = {"plot": str(plot) if plot else None, "output": str(output) if output else None}
        emit_json({**comparison.to_dict(), **files})
        return
    print_comparison(comparison)
    written = [str(p) for p in (output, plot) if p is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
