"""The schedule flags of ``predict``, ``check``, ``schedule show`` and ``optimize``'s baseline:
declared once here, gathered into one :class:`ScheduleSpec`, built into a schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from lrcurve.cli.flags import (
    POWER_DECAY,
    REWARMUP_PHASE,
    SCHEDULE_NAMES,
    WSD_DECAY,
    WSD_SHAPES,
    FloatOption,
    flag,
)
from lrcurve.errors import InputError

ScheduleName = Annotated[
    str,
    typer.Option(
        "--schedule",
        "-s",
        help=f"Family: {', '.join(SCHEDULE_NAMES)}, rewarmup, or file (--lr-file).",
    ),
]
Steps = Annotated[
    int | None,
    typer.Option("--steps", min=1, help="Total steps (default: the fitted runs' horizon)."),
]
Peak = Annotated[float | None, FloatOption("--peak", help="Peak LR (default: the fitted runs').")]
Warmup = Annotated[
    int | None, typer.Option("--warmup", min=0, help="Warmup steps (default: the fitted runs').")
]
Decay = Annotated[
    float | None,
    FloatOption(
        "--decay",
        min=0.0,
        max=1.0,
        help=f"WSD/power: fraction of the steps spent decaying (default: WSD {WSD_DECAY:g}, "
        f"power {POWER_DECAY:g}); with optimize --family rewarmup --then wsd, of its new phase.",
    ),
]
Shape = Annotated[
    str | None,
    typer.Option("--shape", help=f"Decay shape: {', '.join(WSD_SHAPES)} (WSD default linear)."),
]
Floor = Annotated[
    float | None,
    FloatOption("--floor", min=0.0, max=1.0, help="Final LR as a fraction of the peak."),
]
Period = Annotated[
    int | None,
    typer.Option("--period", min=1, help="Cosine: steps of the half-cosine (default: to the end)."),
]
Cycle = Annotated[
    int | None, typer.Option("--cycle", min=1, help="Cyclic cosine: steps per cycle.")
]
Milestones = Annotated[
    str | None,
    typer.Option("--milestones", help="Multistep: steps where the LR changes, e.g. 8000,16000."),
]
Factors = Annotated[
    str | None,
    typer.Option("--factors", help="Multistep: LR after each milestone as a fraction of the peak."),
]
LrFile = Annotated[
    Path | None, typer.Option("--lr-file", help="File schedule: a table of step,lr.")
]
AtStep = Annotated[
    int | None,
    typer.Option(
        "--at-step",
        min=1,
        help="Rewarmup: step where the new phase starts (default: the base run's end).",
    ),
]
Then = Annotated[
    str | None,
    typer.Option("--then", help=f"Rewarmup: family of the new phase (default {REWARMUP_PHASE})."),
]
BaseRun = Annotated[
    str | None,
    typer.Option("--base-run", help="Rewarmup: fitted run to continue (default: the first)."),
]
PowerA = Annotated[
    float | None, FloatOption("--a", help="Power scheduler: a in lr = batch*a*tokens^b.")
]
PowerB = Annotated[float | None, FloatOption("--b", help="Power scheduler: b (negative).")]
Batch = Annotated[float | None, FloatOption("--batch", help="Power scheduler: batch size.")]
TokensPerStep = Annotated[
    float | None,
    FloatOption("--tokens-per-step", help="Power scheduler: tokens per optimiser step."),
]

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
REWARMUP_FLAGS = ("at_step", "base_run", "then")
_OPTIONS = ("decay", "shape", "floor", "period", "cycle", "power_a", "power_b", "batch")
FAMILY_OPTIONS = (*_OPTIONS, "tokens_per_step")  # given as they are to ``make_schedule``
DEFAULT_SCHEDULE = "wsd"


def default_from(
    name: str, value: Any, defaults: Mapping[str, Any], used: list[str], fallback: Any = None
) -> Any:
    """``value`` when given; else ``defaults[name]``, noted in ``used`` as ``name=value``;
    else ``fallback``."""
    if value is not None:
        return value
    if defaults.get(name) is not None:
        used.append(f"{name}={defaults[name]:g}")
        return defaults[name]
    return fallback


def _numbers(name: str, text: str | None, kind: type) -> tuple[Any, ...]:
    if not text:
        return ()
    try:
        return tuple(kind(item) for item in text.split(","))
    except ValueError:
        raise InputError(
            f"{flag(name)} {text!r}: expected comma-separated numbers, e.g. --milestones "
            "8000,16000 --factors 0.3,0.1"
        ) from None


def _check_milestones(milestones: Sequence[int], start: int, steps: int) -> None:
    """Refuse a milestone outside the schedule's steps ``start+1 .. steps-1`` (of the whole run)."""
    outside = [m for m in milestones if not start < m < steps]
    if outside:
        where = f"--at-step {start}" if start else "0"
        raise InputError(
            f"--milestones {outside[0]}: milestones must lie between {where} and --steps {steps}"
        )


def _made(name: str, **options: Any) -> Any:
    """``make_schedule(name, ...)``, imported only when a schedule is built."""
    from lrcurve.schedules import make_schedule

    return make_schedule(name, **options)


@dataclass
class ScheduleSpec:
    """The schedule flags as given (``None``: not given); built by keyword."""

    schedule: str = DEFAULT_SCHEDULE
    steps: int | None = None
    peak: float | None = None
    warmup: int | None = None
    decay: float | None = None
    shape: str | None = None
    floor: float | None = None
    period: int | None = None
    cycle: int | None = None
    milestones: str | None = None
    factors: str | None = None
    lr_file: Path | None = None
    at_step: int | None = None
    then: str | None = None
    base_run: str | None = None
    power_a: float | None = None
    power_b: float | None = None
    batch: float | None = None
    tokens_per_step: float | None = None

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> ScheduleSpec:
        """The spec of a command's arguments (``values``: its parameters by name)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    @property
    def new_phase(self) -> str:
        """The family a re-warmup follows after its new warmup."""
        return self.then or REWARMUP_PHASE

    def given(self, *, ignore: tuple[str, ...] = ()) -> list[str]:
        """The schedule flags given (``--schedule`` when not its default)."""
        names = [
            name
            for name, value in vars(self).items()
            if value is not None and name != "schedule" and name not in ignore
        ]
        if self.schedule != DEFAULT_SCHEDULE and "schedule" not in ignore:
            names.insert(0, "schedule")
        return [flag(name) for name in names]

    def build(self, runs: tuple[Any, ...] = (), defaults: Mapping[str, Any] | None = None) -> Any:
        """The schedule and the defaults it took from ``defaults`` (the fitted runs')."""
        from lrcurve.runs import check_peak_lr

        defaults = defaults or {}
        used: list[str] = []
        self.check_flags()
        if self.schedule == "file":
            return self._from_file(defaults, used), used
        steps = default_from("steps", self.steps, defaults, used)
        peak = default_from("peak", self.peak, defaults, used)
        if steps is None:
            raise InputError("give the number of steps with --steps")
        if peak is None:
            raise InputError("give the peak LR with --peak")
        if self.peak is not None:  # a peak from the fit file was checked as the file was read
            check_peak_lr(peak, "--peak: peak LR")
        check_steps(steps, given=self.steps is not None)
        rewarm = self.schedule == "rewarmup"
        warmup = (
            (self.warmup or 0) if rewarm else default_from("warmup", self.warmup, defaults, used, 0)
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
        options = {
            "peak": float(peak),
            "warmup": int(warmup),
            "factors": factors,
            **self._options(),
        }
        if rewarm:
            return self._rewarmup(runs, int(steps), milestones, options, used), used
        _check_milestones(milestones, 0, steps)
        return _made(self.schedule, steps=int(steps), milestones=milestones, **options), used

    def _options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FAMILY_OPTIONS}

    def _from_file(self, defaults: Mapping[str, Any], used: list[str]) -> Any:
        """The schedule of ``--lr-file``; one that starts after warmup (like the fitted runs'
        logs) gets their warmup, as the other families do."""
        from lrcurve.cli.files import mark_input
        from lrcurve.cli.render import note
        from lrcurve.io import read_schedule
        from lrcurve.io.files import files_below
        from lrcurve.io.stitch import logged_lr
        from lrcurve.runs import unlogged_warmup

        if self.lr_file is None:
            raise InputError("--schedule file needs --lr-file PATH (a table of step,lr)")
        notes: list[str] = []
        read: list[str] = []
        schedule = read_schedule(self.lr_file, warmup_steps=self.warmup, notes=notes, inputs=read)
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
            schedule = unlogged_warmup(schedule, int(inherited))[0]
            used.append(f"warmup={int(inherited)}")
        if self.warmup is not None and schedule.horizon is not None:
            if self.warmup >= schedule.horizon:
                raise InputError(
                    f"--warmup {self.warmup} must be less than the {schedule.horizon} steps of "
                    f"--lr-file {self.lr_file}"
                )
        for message in notes:
            note(message)
        return schedule

    def check_flags(self) -> None:
        """Refuse unknown names and flags the chosen family does not use."""
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
            if name in REWARMUP_FLAGS and self.schedule != "rewarmup":
                raise InputError(f"{flag(name)} applies to --schedule rewarmup only")
            if family not in _FAMILY_FLAGS.get(name, (family,)):
                raise InputError(f"{flag(name)} does not apply to {chosen}")
        for name in ("power_a", "batch", "tokens_per_step"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise InputError(f"{flag(name)} {value:g}: must be positive")

    def _rewarmup(
        self,
        runs: tuple[Any, ...],
        steps: int,
        milestones: tuple[int, ...],
        options: dict,
        used: list[str],
    ) -> Any:
        """The re-warmup schedule; without --base-run it continues the first fitted run that
        decays (optimize's rule: continual pretraining resumes an annealed checkpoint), said
        in ``used``."""
        from lrcurve.schedules import rewarmup
        from lrcurve.search_setting import first_decaying_run, held_gap_said

        if not runs:
            raise InputError("--schedule rewarmup continues a fitted run; give a fit file")
        if self.base_run is None:
            base = first_decaying_run(runs)[0]
            used.append(f"base-run={base.name} (the first fitted run that decays)")
        else:
            matches = [r for r in runs if r.name == self.base_run]
            if not matches:
                names = ", ".join(r.name for r in runs)
                raise InputError(f"--base-run {self.base_run!r}: the fit has runs {names}")
            base = matches[0]
        at_step = self.at_step or base.horizon
        if not 0 < at_step < steps:
            raise InputError(f"--at-step ({at_step}) must be between 0 and --steps ({steps})")
        warmup = options["warmup"]
        if warmup >= steps - at_step:
            raise InputError(
                f"--warmup {warmup} must be less than the {steps - at_step} steps of the "
                f"re-warmup's new phase (steps {at_step}..{steps})"
            )
        _check_milestones(milestones, at_step, steps)
        gap = held_gap_said(base, at_step)
        if gap:
            from lrcurve.cli.render import note

            note(gap)
        body = _made(  # the new phase counts its steps from --at-step
            self.new_phase,
            steps=steps - at_step,
            milestones=tuple(m - at_step for m in milestones),
            **options,
        )
        return rewarmup(base.schedule, at_step, body, warmup)


def check_steps(steps: int, given: bool = True) -> None:
    """Refuse ``--steps`` beyond what the laws can hold in memory (not ``given``: the fitted
    runs' horizon, beyond it only counted in a target's steps of fewer tokens)."""
    from lrcurve.runs import MAX_STEPS

    if steps > MAX_STEPS and not given:
        raise horizon_beyond(steps)
    if steps > MAX_STEPS:
        raise InputError(f"--steps {steps} is beyond {MAX_STEPS:,} steps, the most lrcurve handles")


def horizon_beyond(steps: int) -> InputError:
    """The refusal of a default horizon of ``steps`` beyond ``MAX_STEPS``: the fitted runs'
    horizon (at most it) counted in the steps of a target of fewer tokens a step."""
    from lrcurve.runs import MAX_STEPS

    return InputError(
        f"--tokens-per-step: the fitted runs' horizon is {steps:,} of the target's steps, "
        f"beyond {MAX_STEPS:,}, the most lrcurve handles; give --steps, or more tokens a step"
    )
