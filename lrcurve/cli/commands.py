"""The ``lrcurve`` typer application: every command, registered explicitly."""

from __future__ import annotations

from typing import Annotated

import typer

from lrcurve.cli.check_cmd import check_command
from lrcurve.cli.compare_cmd import compare_command
from lrcurve.cli.fit_cmd import fit_command
from lrcurve.cli.horizon_cmd import horizon_command
from lrcurve.cli.optimize_cmd import optimize_command
from lrcurve.cli.power_cmd import fit_power_command
from lrcurve.cli.predict_cmd import predict_command
from lrcurve.cli.schedule_cmd import power_command, show_command

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Predict a pretraining loss curve under any learning-rate schedule from logged curves.",
)


def _print_version(value: bool) -> None:
    if value:
        from lrcurve import __version__

        print(f"lrcurve {__version__}")
        raise typer.Exit()


@app.callback()
def _app_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The options of ``lrcurve`` itself (before a command)."""


schedule_app = typer.Typer(no_args_is_help=True, help="Build and inspect LR schedules.")

app.command("fit")(fit_command)
app.command("predict")(predict_command)
app.command("check")(check_command)
app.command("compare")(compare_command)
app.command("optimize")(optimize_command)
app.command("lr-horizon")(horizon_command)
app.command("fit-power")(fit_power_command)
schedule_app.command("show")(show_command)
schedule_app.command("power")(power_command)
app.add_typer(schedule_app, name="schedule")
