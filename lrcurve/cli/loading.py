"""Reading the runs and fit files a command is given (the readers do the reading; this module
names duplicates apart, says the readers' notes and marks every file read as an input)."""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from lrcurve.cli.files import mark_input, mark_runs
from lrcurve.cli.render import note
from lrcurve.errors import InputError, ParameterError

T = TypeVar("T")


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


def load_fit(path: Path | None) -> Any:
    """The fit file ``path`` (default ``lrcurve.fit.json``), marked as an input."""
    from lrcurve.fitfile import DEFAULT_FIT_FILE, load_fit

    fitted = load_fit(path)
    mark_input(path or DEFAULT_FIT_FILE)
    return fitted


def fit_defaults(fitted: Any) -> dict[str, Any]:
    """The schedule settings a command takes from the fitted runs when not given."""
    from lrcurve.target_clock import target_defaults

    return target_defaults(fitted)[0]


def defaults_note(used: list[str] | tuple[str, ...], said: Any = None) -> None:
    """Say the settings taken from the fitted runs (``name=value``) and ``said``
    (:class:`lrcurve.target_clock.DefaultsSaid`): which fitted runs gave them, and how the steps and
    warmup were counted in the target's steps when they are among them."""
    if not used:
        return
    whose = "" if said is None or said.runs is None else f" {said.runs}"
    names = {u.split("=")[0] for u in used}
    parts = [] if said is None else [said.clock if names & {"steps", "warmup"} else None]
    parts += [] if said is None else [said.peak if "peak" in names else None]
    counted = "; ".join(p for p in parts if p)
    note(f"from the fitted runs{whose}: {', '.join(used)}" + (f" ({counted})" if counted else ""))


def distinct_names(runs: list[Any]) -> list[Any]:
    """``runs`` with names that tell them apart: a name shared by runs of different folders
    gets its folder's name (``csv_25/constant_24000``, the multi-power-law sizes' files); when
    that is not enough, every run its position (``constant_24000#3``)."""
    names = [r.name for r in runs]
    if len(set(names)) == len(names):
        return runs
    shared = {n for n in names if names.count(n) > 1}
    folders = [Path(r.source).parent.name if r.source else "" for r in runs]
    renamed = [
        replace(r, name=f"{folder}/{r.name}") if r.name in shared and folder else r
        for r, folder in zip(runs, folders)
    ]
    if len({r.name for r in renamed}) == len(renamed):
        return renamed
    return [replace(r, name=f"{r.name}#{i + 1}") for i, r in enumerate(runs)]


GROUPED = 2  # files saying the same note are said in one line from this many on


def say_notes(runs: list[Any]) -> None:
    """What reading ``runs`` repaired or noticed, on stderr, each once (a cooldown branch
    carries the notes of the parent it is stitched onto, itself among the runs); a note that
    :data:`GROUPED` files or more say alike (``FILE: text``), once for all of them (a fit of
    30 W&B exports said each of three notes 30 times)."""
    sources = {str(run.source) for run in runs if run.source}
    messages = list(dict.fromkeys(m for run in runs for m in run.notes))
    keys, places = [], {}
    for message in messages:
        where, _, text = message.partition(": ")
        # alike but for a file's own figures in brackets ("(3.0713 at step 25000)")
        key = re.sub(r" \([^()]*\d[^()]*\)", "", text) if where in sources else message
        keys.append(key)
        places.setdefault(key, []).append(where)
    done: set[str] = set()
    for message, key in zip(messages, keys):
        group = places[key]
        if len(group) < GROUPED:
            note(message)
        elif key not in done:  # said at its first file, once
            done.add(key)
            if len(group) == len(sources):
                note(f"every file ({len(group)}): {key}")
            else:
                names = [Path(where).name for where in group]
                shown = (
                    " and ".join(names)
                    if len(names) == 2
                    else f"{', '.join(names[:2])} and {len(names) - 2} more"
                )
                note(f"{len(group)} files ({shown}): {key}")


@dataclass
class RunInputs:
    """How to read logged runs: column names, loss unit, loss series, smoothing, parent, and
    the labels the user gave."""

    step_col: str | None = None
    lr_col: str | None = None
    loss_col: str | None = None
    run_col: str | None = None
    loss_unit: str = "auto"
    loss: str | None = None
    smooth: str = "auto"
    parent: str = "auto"
    keep_diverged: bool = False  # read a diverged run's loss up to its NaN/inf tail (check)
    params: list[str] | None = None  # FILE=N: a run file's model size
    run_tokens: list[str] | None = None  # FILE=N: a run file's tokens per step
    label: list[str] | None = None  # FILE=NAME labels (--label)

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> RunInputs:
        """The reading options of a command's arguments (``values``: its parameters by name)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    def load(
        self,
        files: list[Path],
        warmup: int | None,
        quiet: bool = False,
        named: list[Path] | None = None,
        strict: bool = True,
    ) -> list[Any]:
        """The runs of every file, renamed apart when names repeat and labelled; their notes
        go to stderr (``quiet``: not yet, the caller says them with :func:`say_notes`).
        ``named``: the files ``--params FILE=N`` may name (default ``files``; a command reading
        its files in several groups names them all). ``strict=False``: a --label of a file read
        in another call is no error here (the caller labels all of them with :func:`labelled`)."""
        from lrcurve.io import Columns, ReadOptions, label_runs, read_runs
        from lrcurve.io.files import resolved
        from lrcurve.io.labels import parse_labels

        labels = parse_labels(self.label or [])
        seen: dict[Path, Path] = {}
        for path in files:
            if resolved(path) in seen:
                raise InputError(f"{path}: given twice (also as {seen[resolved(path)]})")
            seen[resolved(path)] = path
        options = ReadOptions(
            columns=Columns(self.step_col, self.lr_col, self.loss_col, self.run_col),
            loss_unit=self.loss_unit,
            warmup_steps=warmup,
            loss=self.loss,
            smooth=self.smooth,
            parent=self.parent,
            keep_diverged=self.keep_diverged,
        )
        parent = options.parent_path
        from lrcurve.io.tokens import parse_file_tokens
        from lrcurve.sizes import parse_file_size

        sizes = given_values(self.params or [], named or files, parse_file_size, "model_size")
        tokens = given_values(
            self.run_tokens or [], named or files, parse_file_tokens, "tokens_per_step"
        )
        runs: list[Any] = []
        for path in files:
            own = parent is None or resolved(parent) != resolved(path)  # not its own parent
            read = read_runs(path, options if own else replace(options, parent="none"))
            read = with_given(read, path, sizes.get(resolved(path)), "model_size", "model size")
            given = tokens.get(resolved(path))
            runs.extend(with_given(read, path, given, "tokens_per_step", "tokens per step"))
            mark_input(path)
        mark_runs(runs)
        runs = distinct_names(runs)
        runs = label_runs(runs, labels, strict)
        if not quiet:
            say_notes(runs)
        return runs


def given_values(
    values: list[str],
    files: list[Path],
    split: Callable[[str], tuple[str, float]],
    param: str,
) -> dict[Path, tuple[str, float]]:
    """``FLAG FILE=N`` (``--params``, ``--tokens-per-step``; ``split`` reads one): each run
    file's value and how it was given, by resolved path."""
    from lrcurve.cli.flags import flag
    from lrcurve.io.files import resolved

    known = {resolved(path) for path in files}
    given: dict[Path, tuple[str, float]] = {}
    for text in values:
        name, value = split(text)
        key = resolved(Path(name))
        if key not in known:
            raise ParameterError(f"{text}: {name} is not one of the run files given", param=param)
        if key in given and given[key][1] != value:
            raise ParameterError(
                f"{text}: {name} was given another value, {given[key][0]}", param=param
            )
        given[key] = (f"{flag(param)} {text}", value)
    return given


def with_given(
    runs: list[Any], path: Path, given: tuple[str, float] | None, param: str, quantity: str
) -> list[Any]:
    """``runs`` of ``path`` with the value of their field ``param`` (``model_size``,
    ``tokens_per_step``) given for it, refused where the file says another."""
    if given is None:
        return runs
    from lrcurve.sizes import agreed_size

    return [
        replace(
            r,
            **{
                param: agreed_size([(str(path), getattr(r, param)), given], r.name, quantity, param)
            },
        )
        for r in runs
    ]


def labelled(inputs: RunInputs, runs: list[Any]) -> list[Any]:
    """``runs`` (read by several :meth:`RunInputs.load` calls) labelled as one set."""
    from lrcurve.io import label_runs
    from lrcurve.io.labels import parse_labels

    return label_runs(runs, parse_labels(inputs.label or []))


def check_clock_name(clock: str) -> None:
    from lrcurve.cli.flags import CLOCKS

    if clock not in CLOCKS:
        raise ParameterError(f"must be one of {', '.join(CLOCKS)}, got {clock!r}", param="clock")


def counted(runs: list[Any], clock: str) -> tuple[list[Any], str | None]:
    """``runs`` counted on ``clock``: ``steps`` as logged, ``tokens`` on a common clock of tokens
    (:func:`lrcurve.tokens.token_clock`; each run counted anew said), and its note (kept by a
    fit file so that predict and optimize say it again; None for steps)."""
    check_clock_name(clock)
    if clock == "steps":
        return runs, None
    from lrcurve.tokens import token_clock

    clocked, clock_note = token_clock(runs)
    for before, after in zip(runs, clocked):
        if after.notes is not before.notes:  # counted anew: say how
            note(after.notes[-1])
    return clocked, clock_note


def check_law_name(law: str) -> None:
    from lrcurve.laws import LAWS

    if law not in LAWS:
        raise ParameterError(f"must be one of {', '.join(LAWS)}, got {law!r}", param="law")


def target_tokens_per_step(
    fitted: Any,
    given: float | None,
    family: str | None = None,
    size: float | None = None,
    default_horizon: bool = False,
) -> float | None:
    """The target's tokens per step: ``given``; on a clock fit without one, the fitted runs'
    nearest ``size`` (:func:`lrcurve.clock.logged_target`), said in a note; else None, the
    note saying the steps are the clock's. A ``default_horizon`` (the fitted runs', no --steps)
    counted in a given target's steps is refused beyond what lrcurve handles."""
    from lrcurve.cli.schedule_flags import check_steps
    from lrcurve.clock import clock_of, logged_target
    from lrcurve.target_clock import target_defaults

    if given is not None and default_horizon:
        check_steps(target_defaults(fitted, given, family, size)[0]["steps"], given=False)
    clock = clock_of(fitted)
    if given is not None or clock is None:
        return given
    taken, whose = logged_target(fitted, family, size)
    if taken is None:
        note(
            f"steps are clock steps of {clock.unit:,.0f} tokens (--tokens-per-step N to count "
            "a target's own steps)"
        )
        return None
    whose = f" {whose}" if whose else ""
    note(f"tokens per step {taken:,.0f}: as the fitted runs{whose} logged (--tokens-per-step)")
    return taken


def say_fit(fitted: Any, warnings: bool = True) -> None:
    """What the fit says of itself: a clock fit's clock (a note), then its ``warnings``."""
    from lrcurve.clock import clock_of

    clock = clock_of(fitted)
    if clock is not None:
        note(clock.note)
    for warning in fitted.warnings if warnings else ():
        note(f"warning: the fit says: {warning}")


def say_target_clock(fitted: Any, tokens_per_step: float | None) -> tuple[Any, ...]:
    """Say how a target of ``tokens_per_step`` is counted on the fit's clock (nothing for none,
    or for a target on the clock's own steps); its batch's extrapolation, to say with the
    others (:func:`lrcurve.target_clock.batch_regime`)."""
    from lrcurve.target_clock import batch_regime, clock_said

    if tokens_per_step is None:
        return ()
    said = clock_said(fitted, tokens_per_step)
    if said is not None:
        note(said)
    return batch_regime(fitted, tokens_per_step)
