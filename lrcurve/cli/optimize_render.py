"""How ``lrcurve optimize`` shows a search: the ranked candidates, the trade-off table, the
other laws' and a measured sweep's opinions, or all of it as JSON."""

from __future__ import annotations

from typing import Any


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _x_text(search_result: Any, x: float) -> str:
    return _percent(x) if search_result.family == "wsd" else f"{x:.3g}"


def _candidate_json(candidate: Any, loss: float) -> dict[str, Any]:
    return {
        "label": candidate.label,
        **candidate.params,
        "series": candidate.series,
        "x": candidate.x,
        "loss": loss,
    }


def _interval_json(level: float, lower: float, upper: float) -> dict[str, float]:
    return {"level": level, "lower": lower, "upper": upper}


def _decisions(result: Any) -> list[dict[str, Any]]:
    """Per candidate: its predictive interval, its difference to the best with that
    difference's interval, and whether it is in the tie set (empty without a joint
    prediction)."""
    joint = result.joint
    if joint is None:
        return [{} for _ in result.candidates]
    level, q = joint.level, joint.difference_factor
    value, sd = result.to_best()
    tied = set(result.tie_set)
    return [
        {
            "interval": _interval_json(level, float(joint.lower[i]), float(joint.upper[i])),
            "vs_best": {
                "value": float(value[i]),
                "sd": float(sd[i]),
                **_interval_json(level, float(value[i] - q * sd[i]), float(value[i] + q * sd[i])),
            },
            "tied": i in tied,
        }
        for i in range(len(result.candidates))
    ]


def candidate_table(result: Any, opinions: list[Any]) -> tuple[list[str], list[list[Any]]]:
    """Every candidate as a CSV row, best first (rank, setting, its parameters, loss and the
    difference to the baseline, each other law's loss), then the baseline's row."""
    keys = list(dict.fromkeys(k for c in result.candidates for k in c.params))
    header = ["rank", "setting", *keys, "loss", "lower", "upper", "vs_best", "vs_best_lower"]
    header += ["vs_best_upper", "tied", "vs_baseline", *(f"loss_{o.law}" for o in opinions)]
    decisions = _decisions(result)
    rows: list[list[Any]] = []
    for rank, i in enumerate(result.order, 1):
        candidate, loss = result.candidates[i], float(result.loss[i])
        params = [candidate.params.get(k) for k in keys]
        others = [float(o.loss[i]) for o in opinions]
        rows.append([rank, candidate.label, *params, loss, *_csv_decision(decisions[i])])
        rows[-1] += [loss - result.baseline_loss, *others]
    baseline = [None, f"baseline: {result.baseline_label}", *[None] * len(keys)]
    band = [None] * 2 if result.joint is None else [result.joint.lower[-1], result.joint.upper[-1]]
    rows.append([*baseline, result.baseline_loss, *band, *[None] * 4, 0.0, *[None] * len(opinions)])
    return header, rows


def _csv_decision(decision: dict[str, Any]) -> list[Any]:
    """lower, upper, vs_best and its lower and upper, tied (None without intervals)."""
    if not decision:
        return [None] * 6
    band, to_best = decision["interval"], decision["vs_best"]
    return [band["lower"], band["upper"], to_best["value"], to_best["lower"], to_best["upper"]] + [
        decision["tied"]
    ]


def _print_tables(result: Any, top: int) -> None:
    import numpy as np
    from rich.table import Table

    from lrcurve.cli.render import out

    decisions = _decisions(result)
    level = "" if result.joint is None else f" [{100 * result.joint.level:.4g} % interval]"
    table = Table(
        title=f"best {min(top, len(result.candidates))} of {len(result.candidates)} candidates "
        f"(predicted loss at step {result.at_step}; = : in the tie set, not distinguishable "
        "from the best)",
        title_justify="left",
    )
    for column in ("rank", "setting", f"loss{level}", f"vs best{level}", "vs baseline"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for rank, i in enumerate(result.order[:top], 1):
        loss, decision = float(result.loss[i]), decisions[i]
        table.add_row(
            f"{rank}{' =' if decision.get('tied') else ''}",
            result.candidates[i].label,
            _with_band(loss, decision.get("interval"), "{:.4f}"),
            _with_band(decision["vs_best"]["value"], decision["vs_best"], "{:+.4f}")
            if decision
            else "",
            f"{loss - result.baseline_loss:+.4f}",
        )
    joint = result.joint
    band = None if joint is None else {"lower": joint.lower[-1], "upper": joint.upper[-1]}
    baseline = _with_band(result.baseline_loss, band, "{:.4f}")
    table.add_row("", f"baseline: {result.baseline_label}", baseline, "", "", style="dim")
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


def _with_band(value: float, band: dict[str, float] | None, form: str) -> str:
    """``value [lower, upper]`` in ``form`` (just the value without a band)."""
    if band is None:
        return form.format(value)
    return f"{form.format(value)} [{form.format(band['lower'])}, {form.format(band['upper'])}]"


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
                f"differ: the {o.law} law ranks the {law} law's best "
                f"#{o.rank_of(int(result.order[0]))}"
            )
        )
        out.print(
            f"best by the {o.law} law: {best.label} ({o.loss[o.best]:.4f}); by the {law} law: "
            f"{result.best.label}: {verdict}",
            soft_wrap=True,
        )
    if result.joint is not None:
        from lrcurve.opinions import tied_by_any

        union = tied_by_any(result, opinions)
        laws = " or ".join((law, *(o.law for o in opinions)))
        extra = len(union) - len(result.tie_set)
        more = (
            f"{extra} more than the {law} law's alone: its tie set says less than it seems"
            if extra
            else f"the {law} law's"
        )
        level = f"{100 * result.joint.level:.4g} %"
        out.print(
            f"tie set of the laws ({level}, not distinguishable from the best by the {laws} law): "
            f"{len(union)} of {len(result.candidates)} candidates, {more}",
            soft_wrap=True,
        )


def _print_measured(scored: list[Any]) -> None:
    from rich.table import Table

    from lrcurve.cli.render import add_columns, out
    from lrcurve.opinions import measured_bests

    level = f"{100 * (scored[0].level or 0.9):.4g} %" if scored else ""
    table = Table(
        title="measured sweep: last logged loss against the law's prediction for each run's "
        f"schedule, in or out of its {level} interval",
        title_justify="left",
    )
    head = ("run schedule", "step", "measured", f"predicted [{level}]", "error %", "inside")
    add_columns(table, head, text=("run schedule",))
    for m in sorted(scored, key=lambda m: (m.horizon, m.label)):
        band = None if m.lower is None else {"lower": m.lower, "upper": m.upper}
        table.add_row(
            m.label,
            str(m.step),
            f"{m.measured:.4f}",
            _with_band(m.predicted, band, "{:.4f}"),
            f"{m.error_percent:+.2f}",
            "" if m.inside is None else ("yes" if m.inside else "no"),
        )
    out.print(table)
    for horizon, (measured_best, predicted_best) in measured_bests(scored).items():
        verdict = "agree" if measured_best is predicted_best else "differ"
        tied = [m.label for m in scored if m.horizon == horizon and m.tied]
        inside = "in it" if measured_best.tied else "not in it"
        out.print(
            f"horizon {horizon}: measured best {measured_best.label} "
            f"({measured_best.measured:.4f}); "
            f"the law's best of these runs {predicted_best.label} "
            f"({predicted_best.predicted:.4f}): {verdict}; the law's tie set of these runs: "
            f"{'; '.join(tied)}: the measured best is {inside}",
            soft_wrap=True,
        )


# over 60 lines: one dict literal, the JSON keys in the order scripts read them
def _json(done: Any, fitted: Any, opinions: list, scored: list, args: dict) -> dict:
    from dataclasses import asdict

    import numpy as np

    from lrcurve.clock import clock_json
    from lrcurve.opinions import measured_bests, tied_by_any

    plot, result, setting = args["plot"], done.search, done.setting
    output = args["output"]
    decisions = _decisions(result)
    best = int(result.order[0])
    rank = np.empty(len(result.candidates), dtype=int)
    rank[result.order] = np.arange(1, len(result.candidates) + 1)
    gain = result.gain_interval
    joint = result.joint
    return {
        "family": args["family"],
        "law": fitted.law.name,
        "model_size": fitted.at_size,
        "steps": setting.steps,
        "at_step": result.at_step,
        "peak": setting.peak,
        "warmup": setting.warmup,
        "tokens_per_step": result.tokens_per_step,
        "clock": clock_json(fitted),
        "defaults_used": list(setting.used),
        "warnings": [*done.warnings, *(detail for _, detail in done.regime)],
        "x_name": result.x_name,
        "series_name": result.series_name,
        "level": None if joint is None else joint.level,
        "best": {
            **_candidate_json(result.best, result.best_loss),
            **decisions[best],
            "schedule": result.best.schedule.to_dict(),
            "schedule_text": str(result.best.schedule),
        },
        "baseline": {
            "label": result.baseline_label,
            "loss": result.baseline_loss,
            "interval": None
            if joint is None
            else _interval_json(joint.level, float(joint.lower[-1]), float(joint.upper[-1])),
            "schedule": result.baseline.to_dict(),
        },
        "gain": result.gain,
        "gain_stderr": result.gain_stderr,
        "gain_interval": None
        if gain is None
        else {"sd": gain.sd, **_interval_json(gain.level, gain.lower, gain.upper)},
        "tie_set": [
            {**_candidate_json(result.candidates[i], float(result.loss[i])), **decisions[i]}
            for i in result.tie_set
        ],
        "gain_percent": 100 * (result.gain / result.baseline_loss),
        "best_per_series": {
            s: {"x": x, "loss": v} for s, (x, v) in result.best_per_series().items()
        },
        "candidates": [  # in the grid's order; "rank" is the table's (1: the best)
            {"rank": int(rank[i]), **_candidate_json(c, float(v)), **d}
            for i, (c, v, d) in enumerate(zip(result.candidates, result.loss, decisions))
        ],
        "notes": list(result.notes),
        "plot": str(plot) if plot else None,
        "output": str(output) if output else None,
        "other_laws": [
            {
                "law": o.law,
                "best": _candidate_json(result.candidates[o.best], float(o.loss[o.best])),
                "rank_of_our_best": o.rank_of(int(result.order[0])),
                "losses": o.loss.tolist(),
                "tie_set": [result.candidates[i].label for i in o.tied],
            }
            for o in opinions
        ],
        "tie_set_of_the_laws": [result.candidates[i].label for i in tied_by_any(result, opinions)]
        if opinions and joint is not None
        else None,
        "measured": [
            {**asdict(m), "error_percent": m.error_percent, "inside": m.inside} for m in scored
        ],
        "measured_best": {
            str(h): {
                "measured": mb.label,  # as the tables name them
                "predicted": pb.label,
                "tie_set": [m.label for m in scored if m.horizon == h and m.tied],
            }
            for h, (mb, pb) in measured_bests(scored).items()
        },
    }


def _print_decision(result: Any) -> None:
    """The best, the tie set and the gain over the baseline, each with its interval."""
    from lrcurve.cli.render import out

    joint, gain, rel = result.joint, result.gain_interval, result.gain / result.baseline_loss
    best = int(result.order[0])
    band = "" if joint is None else f" [{joint.lower[best]:.4f}, {joint.upper[best]:.4f}]"
    level = "" if joint is None else f" ({100 * joint.level:.4g} %)"
    out.print(
        f"best: {result.best.label}: loss {result.best_loss:.4f}{band}{level} at step "
        f"{result.at_step}",
        soft_wrap=True,
    )
    if joint is not None:
        tied = result.tie_set
        others = [result.candidates[i].label for i in tied if i != best]
        said = "; ".join(others[:5]) + (f"; and {len(others) - 5} more" if len(others) > 5 else "")
        out.print(
            f"tie set{level}: {len(tied)} of {len(result.candidates)} candidates not "
            f"distinguishable from the best" + (f": also {said}" if others else ""),
            soft_wrap=True,
        )
    band = "" if gain is None else f" [{gain.lower:.4f}, {gain.upper:.4f}]{level}"
    verdict = ""
    if gain is not None:
        verdict = "; real at this level" if gain.distinguishable else "; not distinguishable from 0"
    out.print(
        f"gain over the baseline ({result.baseline_loss:.4f}): {result.gain:.4f}{band} "
        f"({100 * rel:.2f} %{verdict})",
        soft_wrap=True,
    )


def report(done: Any, fitted: Any, opinions: list, scored: list, args: dict) -> None:
    from lrcurve.cli.render import emit_json, out

    if args["json_out"]:
        emit_json(_json(done, fitted, opinions, scored, args))
        return
    result = done.search
    top = args["top"]
    _print_tables(result, top)
    if opinions:
        _print_opinions(result, fitted.law.name, opinions, top)
    if scored:
        _print_measured(scored)
    _print_decision(result)
    written = [str(args[k]) for k in ("output", "plot") if args[k] is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
