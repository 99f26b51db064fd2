"""``lrcurve compare``: fit every law, score each on held-out curves, recommend one."""

from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    DEFAULT_SKIP,
    Force,
    JsonOut,
    Labels,
    LossCol,
    LossSeries,
    LossUnit,
    LrCol,
    LRExponent,
    Parent,
    RunCol,
    Skip,
    Smooth,
    StepCol,
    TableOut,
    WarmupArea,
    WarmupSteps,
)


def print_comparison(comparison: Any) -> None:
    from rich.text import Text

    from lrcurve.cli.render import out, table
    from lrcurve.laws import forward_area_note

    best = comparison.best
    area = forward_area_note(comparison.results[0].fitted.law)
    rows = table(
        f"loss laws scored on held-out curves ({comparison.method}{area})",
        ("law", "params", "held-out run", "MAPE %", "final err %", "R²", "AIC", "BIC"),
        text=("law", "held-out run"),
    )
    for result in comparison.results:
        for i, h in enumerate(result.heldout):
            first = i == 0
            rows.add_row(
                result.name + (" *" if result is best and first else "") if first else "",
                str(result.n_params) if first else "",
                h.run.label,
                f"{h.scores.mape:.3f}",
                f"{h.scores.final_error:+.3f}",
                f"{h.scores.r2:.4f}",
                f"{result.aic:.1f}" if first else "",
                f"{result.bic:.1f}" if first else "",
            )
        mean = (Text("mean", style="bold"), Text(f"{result.mape:.3f}", style="bold"))
        rows.add_row("", "", *mean, "", "", "", "", end_section=True)
    for gone in comparison.left_out:
        left = Text("left out (see note)", style="dim")
        rows.add_row(gone.name, str(gone.n_params), left, *["-"] * 5, end_section=True)
    out.print(rows)
    out.print(
        f"recommended: {comparison.recommendation}; AIC/BIC are on the fit data", soft_wrap=True
    )


COMPARISON_HEADER = (
    "law", "n_params", "heldout_run", "mape_percent", "final_error_percent", "r2", "aic", "bic",
    "recommended", "left_out",
)  # fmt: skip


def comparison_rows(comparison: Any) -> list[tuple[Any, ...]]:
    """The table's rows for CSV: one per law and held-out run, a ``mean`` row per law (its MAPE),
    and a row per law left out with the reason."""
    rows: list[tuple[Any, ...]] = []
    for result in comparison.results:
        best = result is comparison.best
        for h in result.heldout:
            scores = (h.scores.mape, h.scores.final_error, h.scores.r2)
            rows.append((result.name, result.n_params, h.run.name, *scores))
            rows[-1] += (result.aic, result.bic, best, None)
        rows.append((result.name, result.n_params, "mean", result.mape, *[None] * 4, best, None))
    for gone in comparison.left_out:
        rows.append((gone.name, gone.n_params, *[None] * 6, False, gone.reason))
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
            help="Runs to score on, never fitted (repeatable). Without it: leave one run out, "
            "or the last 20 % of a single run.",
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
    label: Labels = None,
) -> None:
    """Fit every loss law, score each on curves it did not see, and recommend one."""
    from lrcurve.cli.files import check_outputs
    from lrcurve.cli.loading import RunInputs, labelled
    from lrcurve.cli.render import emit_json, note, out, plotting, progress_bar
    from lrcurve.compare import build_laws, compare
    from lrcurve.errors import InputError

    inputs = RunInputs.pick(locals())
    check_outputs(force, output, plot)
    laws, left_out = build_laws(warmup=warmup_area, lr_exponent=lr_exponent)
    fitted_paths = {path.resolve(): path for path in files}
    for path in holdout or []:
        if path.resolve() in fitted_paths:
            raise InputError(
                f"--holdout {path}: also given as a run to fit; a held-out run must not be fitted"
            )
    runs = inputs.load(files, warmup, strict=False)
    held = inputs.load(holdout or [], warmup, strict=False)
    every = labelled(inputs, runs + held)  # labels unique across fitted and held-out runs
    runs, held = every[: len(runs)], every[len(runs) :]
    check_outputs(force, output, plot)  # again, now that every file read is known as an input
    with progress_bar(f"fitting {len(laws)} laws") as update:
        comparison = compare(
            runs, held, laws=laws, left_out=left_out, skip_fraction=skip, progress=update
        )
    for gone in comparison.left_out:
        note(f"{gone.name} left out: {gone.reason}")
    for warning in comparison.warnings:
        note(f"warning: {warning}")
    for result in comparison.results:
        for warning in result.warnings:
            note(f"warning: {result.name}: {warning}")
    if plot is not None:
        plotting()  # the Agg backend, before compare draws
        from lrcurve.compare import plot_comparison

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
