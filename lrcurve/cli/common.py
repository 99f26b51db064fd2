"""Shared CLI plumbing: consoles, JSON, progress, run loading, schedule flags."""

import functools
import glob
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Any, Optional, get_args

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from lrcurve.errors import InputError
from lrcurve.io import Columns, ReadOptions, read_runs, read_schedule
from lrcurve.io.files import files_below, resolved
from lrcurve.io.stitch import logged_lr
from lrcurve.laws.base import LR_EXPONENT_RANGE
from lrcurve.output import mark_input
from lrcurve.runs import MAX_STEPS, Run, check_peak_lr
from lrcurve.schedules import (
    SCHEDULE_NAMES,
    WSD,
    WSD_SHAPES,
    Power,
    Schedule,
    make_schedule,
    rewarmup,
)

# No markup: user-supplied names may contain "[". Piped output gets room for the widest tables
# rather than rich's 80 columns, so numbers are never cut (COLUMNS still wins when set).
out = Console(
    highlight=False,
    markup=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160,
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # one message, one line


def note(message: str) -> None:
    """A one-line message for people, on stderr."""
    err.print(f"lrcurve: {message}", markup=False, soft_wrap=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def emit_json(data: Any) -> None:
    """Machine output on stdout: strict JSON (non-finite numbers become null)."""
    sys.stdout.write(json.dumps(_jsonable(data), indent=1) + "\n")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr (none when stderr is not a terminal); yields ``update(done, total)``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


NAME_WIDTH = 48


def add_columns(table: Any, names: Sequence[str], text: Sequence[str] = ()) -> None:
    """Add columns: ``text`` ones (run names, settings) fold at ``NAME_WIDTH`` characters,
    numeric ones never wrap, so long W&B run names cannot squeeze the numbers out."""
    for name in names:
        if name in text:
            table.add_column(name, justify="left", overflow="fold", max_width=NAME_WIDTH)
        else:
            table.add_column(name, justify="right", no_wrap=True)


def sig(value: float | None, digits: int = 5) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


# --- reading runs -------------------------------------------------------------------

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
        help="Loss series: val, train, or a column/tag/metric name (default: val when logged, else train).",
    ),
]
Smooth = Annotated[
    str,
    typer.Option(
        "--smooth",
        help="Smooth the loss before fitting: none, ema:B (e.g. ema:0.9), window:N; auto = window:11 for a training loss, none for validation.",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")]
WarmupArea = Annotated[
    str,
    typer.Option(
        "--warmup-area",
        help="How the laws count warmup: 'actual' (its real area in S1), 'peak' (every warmup step at the peak LR, as in the momentum-law paper), or 'full' (multipower only: warmup rises also enter the loss-drop sum, as in the authors' code).",
    ),
]
LRExponent = Annotated[
    float,
    typer.Option(
        "--lr-exponent",
        min=LR_EXPONENT_RANGE[0],
        max=LR_EXPONENT_RANGE[1],
        help="Exponent p of the forward area S1 = sum eta^p (1: the papers' laws; lrcurve's extension, see the README's accuracy section).",
    ),
]
Skip = Annotated[
    float,
    typer.Option(
        "--skip",
        min=0.0,
        max=0.95,
        help="Leave out the first fraction of each run's steps (and its warmup) from the fit.",
    ),
]
Parent = Annotated[
    str,
    typer.Option(
        "--parent",
        help="Stitch each run onto this parent run (the run it forked from): a file, 'auto' (W&B configs' resume_from) or 'none'.",
    ),
]


def _option_flag(option: Any) -> str | None:
    """The first declared name of a typer option, if it declares one. Inside ``Annotated``,
    typer keeps the first name as the option's ``default`` (``typer.Option("--a")``)."""
    decls = (getattr(option, "default", None), *(getattr(option, "param_decls", None) or ()))
    return next((d for d in decls if isinstance(d, str) and d.startswith("-")), None)


def _flag_of(parameter: inspect.Parameter) -> str:
    """The command-line flag of a typer parameter (its first declared name)."""
    for meta in getattr(parameter.annotation, "__metadata__", ()):
        flag = _option_flag(meta)
        if flag:
            return flag
    return "--" + parameter.name.replace("_", "-")


def finite_floats(command: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse a NaN or infinite number given to any float flag of ``command``, naming the flag."""
    signature = inspect.signature(command)
    flags = {name: _flag_of(p) for name, p in signature.parameters.items()}

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"{flags.get(name, name)} {value}: not a finite number")
        return command(*args, **kwargs)

    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    return wrapper


def expand_paths(patterns: list[str], flag: str) -> list[Path]:
    """Paths, with glob patterns (``*``, ``?``, ``[``) expanded in sorted order."""
    paths: list[Path] = []
    for pattern in patterns:
        if any(c in pattern for c in "*?["):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise InputError(f"{flag} {pattern}: no file matches")
            paths += [Path(m) for m in matches]
        else:
            paths.append(Path(pattern))
    return paths


def load_runs(
    files: list[Path],
    columns: Columns,
    loss_unit: str,
    warmup: int | None,
    log: ReadOptions | None = None,
    quiet: bool = False,
) -> list[Run]:
    """The runs of every file, renamed apart when names repeat; their notes go to stderr
    (``quiet``: not yet, the caller says them with :func:`say_notes`). Every file read is
    marked as an input (never written)."""
    seen: dict[Path, Path] = {}
    for path in files:
        if resolved(path) in seen:
            raise InputError(f"{path}: given twice (also as {seen[resolved(path)]})")
        seen[resolved(path)] = path
    runs: list[Run] = []
    options = replace(
        log or ReadOptions(), columns=columns, loss_unit=loss_unit, warmup_steps=warmup
    )
    parent = options.parent_path
    for path in files:
        own = parent is None or resolved(parent) != resolved(path)  # not its own parent
        runs.extend(read_runs(path, options if own else replace(options, parent="none")))
    for run in runs:
        for file in run.inputs:
            mark_input(Path(file))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        runs = [replace(r, name=f"{r.name}#{i + 1}") for i, r in enumerate(runs)]
    if not quiet:
        say_notes(runs)
    return runs


def say_notes(runs: list[Run]) -> None:
    """What reading ``runs`` repaired or noticed, on stderr."""
    for run in runs:
        for message in run.notes:
            note(message)


# --- schedule flags -------------------------------------------------------------------


# Flags that only mean something for some families (rewarmup: the family of the new phase).
_FAMILY_FLAGS = {
    "steps": SCHEDULE_NAMES,
    "peak": SCHEDULE_NAMES,
    "lr_file": ("file",),
    "period": ("cosine",),
    "cycle": ("cyclic",),
    "milestones": ("multistep",),
    "factors": ("multistep",),
    "power_a": ("power",),
    "power_b": ("power",),
    "batch": ("power",),
    "tokens_per_step": ("power",),
    "decay": ("wsd", "power"),
    "shape": ("wsd", "power"),
    "floor": ("cosine", "wsd", "cyclic", "power"),
}
_REWARMUP_FLAGS = ("at_step", "base_run", "then")
REWARMUP_PHASE = "cosine"  # the family of a re-warmup's new phase without --then


def _flag(name: str) -> str:
    """The command-line spelling of a schedule option, e.g. ``power_a`` -> ``--a``."""
    return _option_flag(_SCHEDULE_OPTIONS[name][1]) or name


def _numbers(name: str, text: str | None, kind: type) -> tuple[Any, ...]:
    if not text:
        return ()
    try:
        return tuple(kind(item) for item in text.split(","))
    except ValueError:
        raise InputError(
            f"{_flag(name)} {text!r}: expected comma-separated numbers, e.g. --milestones 8000,16000 "
            "--factors 0.3,0.1"
        ) from None


def default_from(
    name: str, value: Any, defaults: dict[str, Any], used: list[str], fallback: Any = None
) -> Any:
    """``value`` when given; else ``defaults[name]``, noted in ``used`` as ``name=value``; else ``fallback``."""
    if value is not None:
        return value
    if defaults.get(name) is not None:
        used.append(f"{name}={defaults[name]:g}")
        return defaults[name]
    return fallback


PEAK_FLAG = "--peak: peak LR"  # how a peak LR given as --peak is named when refused


def check_steps(steps: int) -> None:
    """Refuse ``--steps`` beyond what the laws can hold in memory."""
    if steps > MAX_STEPS:
        raise InputError(f"--steps {steps} is beyond {MAX_STEPS:,} steps, the most lrcurve handles")


def _check_milestones(milestones: Sequence[int], start: int, steps: int) -> None:
    """Refuse a milestone outside the schedule's steps ``start+1 .. steps-1`` (steps of the whole run)."""
    outside = [m for m in milestones if not start < m < steps]
    if outside:
        where = f"--at-step {start}" if start else "0"
        raise InputError(
            f"--milestones {outside[0]}: milestones must lie between {where} and --steps {steps}"
        )


@dataclass
class ScheduleSpec:
    """The schedule flags of ``predict`` and ``schedule show``."""

    schedule: str
    steps: int | None
    peak: float | None
    warmup: int | None
    decay: float | None
    shape: str | None
    floor: float | None
    period: int | None
    cycle: int | None
    milestones: str | None
    factors: str | None
    lr_file: Path | None
    at_step: int | None
    then: str | None
    base_run: str | None
    power_a: float | None
    power_b: float | None
    batch: float | None
    tokens_per_step: float | None

    def build(
        self, runs: tuple[Run, ...] = (), defaults: dict[str, Any] | None = None
    ) -> tuple[Schedule, list[str]]:
        """The schedule, and the defaults it took from ``defaults`` (the fitted runs)."""
        defaults = defaults or {}
        used: list[str] = []
        self._check_flags()
        if self.schedule == "file":
            if self.lr_file is None:
                raise InputError("--schedule file needs --lr-file PATH (a table of step,lr)")
            notes: list[str] = []
            read: list[str] = []
            schedule = read_schedule(
                self.lr_file, warmup_steps=self.warmup, notes=notes, inputs=read
            )
            for file in [*files_below(self.lr_file), *map(Path, read)]:
                mark_input(file)
            inherited = defaults.get("warmup")
            points = logged_lr(schedule)
            if (
                self.warmup is None
                and schedule.warmup_steps == 0
                and inherited
                and points is not None
                and points[0][0] >= inherited
            ):
                # a file that starts after warmup (like the fitted runs' logs): their warmup, as for the other families
                notes = []
                schedule = read_schedule(self.lr_file, warmup_steps=int(inherited), notes=notes)
                used.append(f"warmup={int(inherited)}")
            if (
                self.warmup is not None
                and schedule.horizon is not None
                and self.warmup >= schedule.horizon
            ):
                raise InputError(
                    f"--warmup {self.warmup} must be less than the {schedule.horizon} steps of --lr-file {self.lr_file}"
                )
            for message in notes:
                note(message)
            return schedule, used
        steps = default_from("steps", self.steps, defaults, used)
        peak = default_from("peak", self.peak, defaults, used)
        if steps is None:
            raise InputError("give the number of steps with --steps")
        if peak is None:
            raise InputError("give the peak LR with --peak")
        check_peak_lr(peak, PEAK_FLAG)
        check_steps(steps)
        name = self.new_phase if self.schedule == "rewarmup" else self.schedule
        warmup = (
            default_from("warmup", self.warmup, defaults, used, 0)
            if self.schedule != "rewarmup"
            else (self.warmup or 0)
        )
        if warmup >= steps:
            if self.warmup is None:
                raise InputError(
                    f"the fitted runs' warmup, {warmup} steps, must be less than --steps {steps} "
                    "(give --warmup to change it)"
                )
            raise InputError(f"--warmup {warmup} must be less than --steps {steps}")
        milestones = _numbers("milestones", self.milestones, int)
        factors = _numbers("factors", self.factors, float)
        if any(not 0.0 <= f <= 1.0 for f in factors):  # also refuses nan
            raise InputError(
                f"--factors {self.factors}: each factor is a fraction of the peak LR, in [0, 1]"
            )
        if self.schedule == "rewarmup":
            return self._rewarmup(
                runs, int(steps), float(peak), int(warmup), milestones, factors
            ), used
        _check_milestones(milestones, 0, steps)
        try:
            schedule = make_schedule(
                name,
                steps=int(steps),
                peak=float(peak),
                warmup=int(warmup),
                milestones=milestones,
                factors=factors,
                **self._family_options(),
            )
        except ValueError as error:
            raise InputError(str(error)) from None
        return schedule, used

    @property
    def new_phase(self) -> str:
        """The family a re-warmup follows after its new warmup."""
        return self.then or REWARMUP_PHASE

    def _family_options(self) -> dict[str, Any]:
        """The ``make_schedule`` keywords given as they are by the family flags."""
        return {
            name: getattr(self, name)
            for name in (
                "decay",
                "shape",
                "floor",
                "period",
                "cycle",
                "power_a",
                "power_b",
                "batch",
                "tokens_per_step",
            )
        }

    def given(self, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """The schedule flags given on the command line (``--schedule`` when not its default)."""
        flags = [
            _flag(name)
            for name, value in vars(self).items()
            if value is not None and name != "schedule" and name not in ignore
        ]
        if self.schedule != _SCHEDULE_DEFAULTS["schedule"] and "schedule" not in ignore:
            flags.insert(0, _flag("schedule"))
        return flags

    def _check_flags(self) -> None:
        """Refuse unknown names, non-finite numbers and flags the chosen family does not use."""
        families = (*SCHEDULE_NAMES, "rewarmup", "file")
        if self.schedule not in families:
            raise InputError(
                f"--schedule must be one of {', '.join(families)}, got {self.schedule!r}"
            )
        if self.schedule == "rewarmup" and self.new_phase not in SCHEDULE_NAMES:
            raise InputError(
                f"--then must be one of {', '.join(SCHEDULE_NAMES)}, got {self.then!r}"
            )
        if self.shape is not None and self.shape not in WSD_SHAPES:
            raise InputError(f"--shape must be one of {', '.join(WSD_SHAPES)}, got {self.shape!r}")
        family = self.new_phase if self.schedule == "rewarmup" else self.schedule
        chosen = f"--then {family}" if self.schedule == "rewarmup" else f"--schedule {family}"
        for name, value in vars(self).items():
            if value is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"{_flag(name)} {value}: not a finite number")
            if name in _REWARMUP_FLAGS and self.schedule != "rewarmup":
                raise InputError(f"{_flag(name)} applies to --schedule rewarmup only")
            if family not in _FAMILY_FLAGS.get(name, (family,)):
                raise InputError(f"{_flag(name)} does not apply to {chosen}")
        for name in ("power_a", "batch", "tokens_per_step"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"{_flag(name)} {value:g}: must be positive")

    def _rewarmup(
        self,
        runs: tuple[Run, ...],
        steps: int,
        peak: float,
        warmup: int,
        milestones: tuple[int, ...],
        factors: tuple[float, ...],
    ) -> Schedule:
        if not runs:
            raise InputError("--schedule rewarmup continues a fitted run; give a fit file")
        base = runs[0]
        if self.base_run is not None:
            matches = [r for r in runs if r.name == self.base_run]
            if not matches:
                raise InputError(
                    f"--base-run {self.base_run!r}: the fit has runs {', '.join(r.name for r in runs)}"
                )
            base = matches[0]
        at_step = self.at_step or base.horizon
        if not 0 < at_step < steps:
            raise InputError(f"--at-step ({at_step}) must be between 0 and --steps ({steps})")
        if warmup >= steps - at_step:
            raise InputError(
                f"--warmup {warmup} must be less than the {steps - at_step} steps of the re-warmup's new phase "
                f"(steps {at_step}..{steps})"
            )
        _check_milestones(milestones, at_step, steps)
        try:  # the new phase counts its steps from --at-step
            body = make_schedule(
                self.new_phase,
                steps=steps - at_step,
                peak=peak,
                warmup=warmup,
                milestones=tuple(m - at_step for m in milestones),
                factors=factors,
                **self._family_options(),
            ).law_view()
        except ValueError as error:
            raise InputError(str(error)) from None
        return rewarmup(base.schedule, at_step, body, warmup)


_SCHEDULE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "schedule": (
        str,
        typer.Option(
            "--schedule",
            "-s",
            help=f"Family: {', '.join(SCHEDULE_NAMES)}, rewarmup, or file (--lr-file).",
        ),
    ),
    "steps": (
        Optional[int],
        typer.Option("--steps", min=1, help="Total steps (default: the fitted runs' horizon)."),
    ),
    "peak": (
        Optional[float],
        typer.Option("--peak", help="Peak LR (default: the fitted runs' peak)."),
    ),
    "warmup": (
        Optional[int],
        typer.Option("--warmup", min=0, help="Warmup steps (default: the fitted runs')."),
    ),
    "decay": (
        Optional[float],
        typer.Option(
            "--decay",
            min=0.0,
            max=1.0,
            help=f"WSD/power: fraction of the steps spent decaying (default: WSD {WSD.decay:g}, power {Power.decay:g}).",
        ),
    ),
    "shape": (
        Optional[str],
        typer.Option("--shape", help=f"Decay shape: {', '.join(WSD_SHAPES)} (WSD default linear)."),
    ),
    "floor": (
        Optional[float],
        typer.Option("--floor", min=0.0, max=1.0, help="Final LR as a fraction of the peak."),
    ),
    "period": (
        Optional[int],
        typer.Option(
            "--period", min=1, help="Cosine: steps of the half-cosine (default: to the end)."
        ),
    ),
    "cycle": (
        Optional[int],
        typer.Option("--cycle", min=1, help="Cyclic cosine: steps per cycle."),
    ),
    "milestones": (
        Optional[str],
        typer.Option(
            "--milestones", help="Multistep: steps where the LR changes, e.g. 8000,16000."
        ),
    ),
    "factors": (
        Optional[str],
        typer.Option(
            "--factors", help="Multistep: LR after each milestone as a fraction of the peak."
        ),
    ),
    "lr_file": (
        Optional[Path],
        typer.Option("--lr-file", help="File schedule: a table of step,lr."),
    ),
    "at_step": (
        Optional[int],
        typer.Option(
            "--at-step",
            min=1,
            help="Rewarmup: step where the new phase starts (default: the base run's end).",
        ),
    ),
    "then": (
        Optional[str],
        typer.Option(
            "--then", help=f"Rewarmup: family of the new phase (default {REWARMUP_PHASE})."
        ),
    ),
    "base_run": (
        Optional[str],
        typer.Option("--base-run", help="Rewarmup: fitted run to continue (default: the first)."),
    ),
    "power_a": (
        Optional[float],
        typer.Option("--a", help="Power scheduler: a in lr = batch*a*tokens^b."),
    ),
    "power_b": (Optional[float], typer.Option("--b", help="Power scheduler: b (negative).")),
    "batch": (Optional[float], typer.Option("--batch", help="Power scheduler: batch size.")),
    "tokens_per_step": (
        Optional[float],
        typer.Option("--tokens-per-step", help="Power scheduler: tokens per optimiser step."),
    ),
}
_SCHEDULE_DEFAULTS = {"schedule": "wsd"}


def _inject(
    command: Callable[..., Any],
    param: str,
    cls: type,
    options: dict[str, tuple[Any, Any]],
    defaults: dict[str, Any],
) -> Callable[..., Any]:
    """Give ``command`` the flags in ``options``; it receives them as one ``cls`` value named ``param``."""
    signature = inspect.signature(command)
    kept = [p for p in signature.parameters.values() if p.name != param]
    added = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=defaults.get(name),
            annotation=Annotated[kind, option],
        )
        for name, (kind, option) in options.items()
    ]
    names = [f.name for f in fields(cls)]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        value = cls(**{name: kwargs.pop(name) for name in names})
        return command(**{param: value}, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in kept + added}
    return wrapper


def schedule_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the schedule flags; it receives them as ``spec: ScheduleSpec``."""
    return _inject(command, "spec", ScheduleSpec, _SCHEDULE_OPTIONS, _SCHEDULE_DEFAULTS)


# The flags of the reading parameters that errors name (io names parameters, not flags).
READ_FLAGS = {
    "step_col": "--step-col",
    "lr_col": "--lr-col",
    "loss_col": "--loss-col",
    "run_col": "--run-col",
    "loss_unit": "--loss-unit",
    "loss": "--loss",
    "smooth": "--smooth",
    "parent": "--parent",
    "warmup_steps": "--warmup",
}


@dataclass
class RunInputs:
    """How to read logged runs: column names, loss unit, which loss series, smoothing, parent."""

    step_col: str | None
    lr_col: str | None
    loss_col: str | None
    run_col: str | None
    loss_unit: str
    loss: str | None
    smooth: str
    parent: str

    @property
    def columns(self) -> Columns:
        return Columns(self.step_col, self.lr_col, self.loss_col, self.run_col)

    @property
    def log(self) -> ReadOptions:
        return ReadOptions(loss=self.loss, smooth=self.smooth, parent=self.parent)

    def load(self, files: list[Path], warmup: int | None, quiet: bool = False) -> list[Run]:
        return load_runs(files, self.columns, self.loss_unit, warmup, self.log, quiet)


_INPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    name: (get_args(alias)[0], get_args(alias)[1])
    for name, alias in (
        ("step_col", StepCol),
        ("lr_col", LrCol),
        ("loss_col", LossCol),
        ("run_col", RunCol),
        ("loss_unit", LossUnit),
        ("loss", LossSeries),
        ("smooth", Smooth),
        ("parent", Parent),
    )
}


def input_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` the flags that say how to read runs; it receives them as ``inputs: RunInputs``."""
    return _inject(
        command,
        "inputs",
        RunInputs,
        _INPUT_OPTIONS,
        {"loss_unit": "auto", "smooth": "auto", "parent": "auto"},
    )


def sampled_indices(n: int, rows: int = 12, start: int = 0) -> np.ndarray:
    """About ``rows`` evenly spaced indices of ``start..n-1``, always with the last."""
    start = min(start, n - 1)
    return np.unique(np.concatenate([np.linspace(start, n - 1, rows).round().astype(int), [n - 1]]))
