"""``predict`` of several schedules in one call (``--compare-to``) and against measured runs
(``--measured``): the comparison table and JSON, with each difference to the first schedule
and its interval (:mod:`lrcurve.differences`)."""

from __future__ import annotations

import shlex
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from lrcurve.cli.schedule_flags import ScheduleSpec
from lrcurve.errors import InputError

_ALIASES = {"a": "power_a", "b": "power_b"}
_INHERITED = ("steps", "peak", "warmup")  # from the main flags, unless the spec gives its own
_AT_LEAST_1 = ("steps", "period", "cycle", "at_step")
_FRACTIONS = ("decay", "floor")


def _typed(spec: str, name: str, value: str, kind: str) -> Any:
    """``value`` as the field's type (whole numbers of steps accept ``1e3``), in the range the
    flag of that name takes."""
    import math

    if "Path" in kind or "str" in kind:
        return Path(value) if "Path" in kind else value
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    whole = "int" in kind
    low = 1 if name in _AT_LEAST_1 else 0
    bad = not math.isfinite(number) or (whole and (not number.is_integer() or number < low))
    if bad or (name in _FRACTIONS and not 0 <= number <= 1):
        what = f"a whole number >= {low}" if whole else "a number"
        what = "a fraction in [0, 1]" if name in _FRACTIONS else what
        raise InputError(f"--compare-to {spec!r}: {name}={value} must be {what}")
    return int(number) if whole else number


def parse_compare(spec: str, main: ScheduleSpec) -> ScheduleSpec:
    """``FAMILY key=value ...`` (keys: the schedule flags without ``--``, e.g. ``cosine
    floor=0.1``, ``wsd decay=0.3 shape=sqrt``), taking ``main``'s steps, peak and warmup
    unless it gives them."""
    words = shlex.split(spec)
    if not words or "=" in words[0]:
        raise InputError(
            f"--compare-to {spec!r}: start with the schedule family, e.g. "
            "--compare-to 'cosine floor=0.1'"
        )
    kinds = {f.name: f.type for f in fields(ScheduleSpec) if f.name != "schedule"}
    given: dict[str, Any] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        name = _ALIASES.get(key, key.lstrip("-").replace("-", "_"))
        if not sep or name not in kinds:
            known = ", ".join(k.replace("_", "-") for k in kinds)
            raise InputError(
                f"--compare-to {spec!r}: {word!r} is not KEY=VALUE with KEY in {known}"
            )
        given[name] = _typed(spec, name, value, str(kinds[name]))
    inherited = {} if words[0] == "file" else {k: getattr(main, k) for k in _INHERITED}
    return replace(ScheduleSpec(schedule=words[0]), **{**inherited, **given})


def compared(predictions: list[Any], joint: Any) -> list[dict[str, Any]]:
    """Each schedule's final loss with its interval and its difference to the first (at the
    shortest horizon, ``joint.step``) with that difference's interval."""
    from lrcurve.search_setting import short_label

    labels = [short_label(p.schedule) for p in predictions]
    peaks = {p.schedule.peak for p in predictions}
    if len(peaks) > 1:  # the family's words leave the peak LR out
        labels = [f"{label} lr {p.schedule.peak:g}" for label, p in zip(labels, predictions)]
    out = []
    for i, prediction in enumerate(predictions):
        lower, upper = prediction.final_interval
        out.append(
            {
                "schedule": prediction.schedule.to_dict(),
                "schedule_text": str(prediction.schedule),
                "label": labels[i],
                "steps": int(prediction.steps[-1]),
                "final": {
                    "step": int(prediction.steps[-1]),
                    "loss": prediction.final_loss,
                    "interval": {"level": prediction.level, "lower": lower, "upper": upper},
                },
                "vs_first": {"step": joint.step, **joint.difference(i, 0).to_dict()},
            }
        )
    return out


def print_compared(rows: list[dict[str, Any]], level: float) -> None:
    from lrcurve.cli.predict_cmd import interval_text
    from lrcurve.cli.render import out, table

    step = rows[0]["vs_first"]["step"]
    percent = f"{100 * level:.4g} %"
    shown = table(
        f"schedules compared (final loss; difference to #1 at step {step}, the shortest horizon; "
        f"* : the difference's {percent} interval excludes 0)",
        ("#", "schedule", "steps", f"final loss [{percent}]", f"vs #1 [{percent}]"),
        text=("schedule",),
    )
    for i, row in enumerate(rows, 1):
        final, diff = row["final"], row["vs_first"]
        sure = " *" if diff["distinguishable"] else ""
        vs = f"{diff['value']:+.4f} [{diff['lower']:+.4f}, {diff['upper']:+.4f}]{sure}"
        band = final["interval"]
        shown.add_row(
            str(i),
            row["label"],
            str(row["steps"]),
            interval_text(final["loss"], band["lower"], band["upper"]),
            "" if i == 1 else vs,
        )
    out.print(shown)


def print_measured(scored: list[Any], first: str) -> None:
    from lrcurve.cli.render import out, table

    shown = table(
        f"measured runs against the prediction for #1 ({first})",
        ("run", "points", "MAPE %", "step", "measured", "predicted", "final err %", "inside"),
        text=("run",),
    )
    for s in scored:
        inside = "" if s.inside is None else ("yes" if s.inside else "no")
        share = "" if s.inside_share is None else f" ({100 * s.inside_share:.0f} % of points)"
        shown.add_row(
            s.run,
            str(s.scores.n_points),
            f"{s.scores.mape:.3f}",
            str(s.step),
            f"{s.measured:.4f}",
            f"{s.predicted:.4f}",
            f"{s.scores.final_error:+.3f}",
            inside + share,
        )
    out.print(shown)
