"""The command-line flags: their names, the options shared by several commands, and the one
map from library parameter names to flags (:data:`FLAGS`).

Nothing here imports numpy: ``lrcurve --help`` builds every command's options from this
module. The few library constants the help texts quote are copied below; a test keeps each
copy equal to its source.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.errors import InputError

# Copies of library constants (tests/test_cli.py checks them against their sources).
SCHEDULE_NAMES = ("constant", "cosine", "wsd", "cyclic", "multistep", "power")  # schedules
WSD_SHAPES = ("linear", "sqrt", "cosine", "square", "exp")  # schedules
WSD_DECAY, POWER_DECAY, POWER_SHAPE, POWER_FINAL = 0.2, 0.1, "exp", 0.01  # schedules
LAW_NAMES = (  # laws.LAWS
    "momentum",
    "multipower",
    "forward-momentum",
    "momentum-size",
    "multipower-size",
    "forward-momentum-size",
)
LR_EXPONENT_RANGE = (0.1, 2.0)  # laws.base
DEFAULT_SKIP = 0.05  # fitting
FAMILIES = ("wsd", "cosine", "rewarmup")  # optimize
DEFAULT_SHAPES = ("linear", "sqrt", "cosine")  # optimize
DEFAULT_TOLERANCE, DEFAULT_WINDOWS = None, 20  # check: None judges by the predictive band
REWARMUP_PHASE = "cosine"  # the family of a re-warmup's new phase without --then


class _Flags(Mapping[str, str]):
    """Parameter name -> flag: ``--`` and the name with dashes, unless :data:`_RENAMED`."""

    def __getitem__(self, name: str) -> str:
        return _RENAMED.get(name, "--" + name.replace("_", "-"))

    def __iter__(self) -> Iterator[str]:
        return iter(_RENAMED)

    def __len__(self) -> int:
        return len(_RENAMED)

    def get(self, name: str, default: Any = None) -> str:  # every parameter has a flag
        return self[name]


_RENAMED = {
    "skip_fraction": "--skip",
    "law.warmup": "--warmup-area",
    "law.lr_exponent": "--lr-exponent",
    "warmup_steps": "--warmup",
    "power_a": "--a",
    "power_b": "--b",
    "lr_max": "--peak",
    "output": "-o",
    "fit_file": "FIT_FILE",
    "sweeps": "SWEEPS",
    "model_size": "--params",
    "labels": "--label",
}
FLAGS: Mapping[str, str] = _Flags()


def flag(name: str) -> str:
    """The flag of the library parameter ``name`` (e.g. ``skip_fraction`` -> ``--skip``)."""
    return FLAGS[name]


def _finite(param: typer.CallbackParam, value: Any) -> Any:
    """Refuse NaN and infinities, naming the flag (a float range lets NaN through)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"{param.opts[0]} {v}: not a finite number")
    return value


def FloatOption(*decls: str, **kwargs: Any) -> Any:  # noqa: N802 - reads like typer.Option
    """A float option that refuses non-finite numbers (every float flag is one of these)."""
    return typer.Option(*decls, callback=_finite, **kwargs)


# --- options shared by several commands ----------------------------------------------------

JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
TableOut = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the table's rows as CSV (one header line)."),
]
FitFile = Annotated[
    Path | None,
    typer.Argument(
        help="Fit file from `lrcurve fit` (default: lrcurve.fit.json).", show_default=False
    ),
]
StepCol = Annotated[
    str | None,
    typer.Option("--step-col", help="Step column (default: detect step/iter/_step...)."),
]
LrCol = Annotated[
    str | None,
    typer.Option("--lr-col", help="LR column (default: detect lr/learning_rate/train_lr...)."),
]
LossCol = Annotated[
    str | None,
    typer.Option("--loss-col", help="Loss column (default: detect val_loss/loss/train_loss...)."),
]
RunCol = Annotated[
    str | None,
    typer.Option(
        "--run-col", help="Column that tells several runs in one file apart (default: run)."
    ),
]
LossUnit = Annotated[
    str,
    typer.Option("--loss-unit", help="auto, nats, bits or ppl (perplexity); converted to nats."),
]
WarmupSteps = Annotated[
    int | None,
    typer.Option(
        "--warmup",
        min=0,
        help="Warmup steps of the runs (default: detected from a rising LR at the start, else 0).",
    ),
]
LossSeries = Annotated[
    str | None,
    typer.Option(
        "--loss",
        help="Loss series: val, train, or a column/tag/metric name "
        "(default: val when logged, else train).",
    ),
]
Smooth = Annotated[
    str,
    typer.Option(
        "--smooth",
        help="Smooth the loss before fitting: none, ema:B (e.g. ema:0.9), window:N; "
        "auto = window:11 for a training loss, none for validation.",
    ),
]
Parent = Annotated[
    str,
    typer.Option(
        "--parent",
        help="Stitch each run onto this parent run (the run it forked from): a file, "
        "'auto' (W&B configs' resume_from) or 'none'.",
    ),
]
Labels = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        help="Short name of a run in legends, tables and JSON: FILE=NAME (repeatable; FILE may "
        "be a run's name). Default: from the run's schedule when known (e.g. 'wsd 20% sqrt "
        "50k'), else its file name shortened.",
        show_default=False,
    ),
]
WarmupArea = Annotated[
    str,
    typer.Option(
        "--warmup-area",
        help="How the laws count warmup: 'actual' (its real area in S1), 'peak' (every warmup "
        "step at the peak LR, as in the momentum-law paper), or 'full' (multipower and "
        "forward-momentum: warmup rises also enter the annealing term, as in their authors' code).",
    ),
]
LRExponent = Annotated[
    float,
    FloatOption(
        "--lr-exponent",
        min=LR_EXPONENT_RANGE[0],
        max=LR_EXPONENT_RANGE[1],
        help="Exponent p of the forward area S1 = sum eta^p (1: the papers' laws; lrcurve's "
        "extension, see docs/accuracy.md).",
    ),
]
Skip = Annotated[
    float,
    FloatOption(
        "--skip",
        min=0.0,
        max=0.95,
        help="Leave out the first fraction of each run's steps (and its warmup) from the fit.",
    ),
]

RunParams = Annotated[
    list[str] | None,
    typer.Option(
        "--params",
        help="A run file's model size (parameter count) as FILE=N, N like 25M, 1.3B or 4e8; "
        "repeat for each file (default: the file's params column or W&B config).",
        show_default=False,
    ),
]
RunTokens = Annotated[
    list[str] | None,
    typer.Option(
        "--tokens-per-step",
        help="A run file's tokens per optimizer step (batch x sequence length) as FILE=N; "
        "repeat for each file (default: the file's tokens_per_step column or W&B config).",
        show_default=False,
    ),
]
CLOCKS = ("steps", "tokens")
Clock = Annotated[
    str,
    typer.Option(
        "--clock",
        help="Count the runs' steps as logged ('steps'), or in units of the smallest tokens "
        "per step among them ('tokens': a run of k times the tokens a step counts each step "
        "k times at its LR / sqrt(k), Adam's square-root rule; predict takes the target's "
        "--tokens-per-step to map back).",
    ),
]
TargetTokens = Annotated[
    str | None,
    typer.Option(
        "--tokens-per-step",
        help="The target run's tokens per optimizer step (204800 or 204.8K): its schedule is "
        "counted on the clock of the fitted runs (of one batch size, or fitted with --clock "
        "tokens) and read back at its own steps; also the power scheduler's tokens per step.",
        show_default=False,
    ),
]
CheckTokens = Annotated[
    str | None,
    typer.Option(
        "--tokens-per-step",
        help="The run's tokens per optimizer step, N or FILE=N (default: its W&B config or "
        "tokens_per_step column): given, or on a fit made with --clock tokens, the run is counted "
        "on the fitted runs' clock and its band read back at its own steps; also the power "
        "scheduler's tokens per step.",
        show_default=False,
    ),
]
SearchTokens = Annotated[
    str | None,
    typer.Option(
        "--tokens-per-step",
        help="The target run's tokens per optimizer step (204800 or 204.8K): the candidates are "
        "its schedules (its steps and warmup), counted on the clock of the fitted runs (of one "
        "batch size, or fitted with --clock tokens) and scored at its own steps.",
        show_default=False,
    ),
]
TargetParams = Annotated[
    str | None,
    typer.Option(
        "--params",
        help="Model size (parameter count) to predict, like 400M, 1.3B or 4e8: a size-aware fit "
        "predicts a model of that size.",
        show_default=False,
    ),
]

Level = Annotated[
    float,
    FloatOption(
        "--level",
        help="Level of the predictive intervals, in (0, 1): the law's own error from backtests "
        "on the fitted runs with the parameters' noise.",
    ),
]
