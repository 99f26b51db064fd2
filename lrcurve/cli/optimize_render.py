"""How ``lrcurve optimize`` shows a search: the ranked candidates, the trade-off table, the
other laws' and a measured sweep's opinions, or all of it as JSON."""

from __future__ import annotations

from typing import Any


def _percent(value: float) -> str:
    return f"{100 * value:.3g} %"


def _x_text(search_result: Any, x: float) -> str:
    return _percent(x) if search_result.family == "wsd" else f"{x:.3g}"


def _candidate_json(candidate: Any, loss: float) -> dict[str, Any]:
    return {**candidate.params, "series": candidate.series, "x": candidate.x, "loss": loss}


def candidate_table(result: Any, opinions: list[Any]) -> tuple[list[str], list[list[Any]]]:
    """Every candidate as a CSV row, best first (rank, setting, its parameters, loss and the
    difference to the baseline, each other law's loss), then the baseline's row."""
    keys = list(dict.fromkeys(k for c in result.candidates for k in c.params))
    header = ["rank", "setting", *keys, "loss", "vs_baseline", *(f"loss_{o.law}" for o in opinions)]
    rows: list[list[Any]] = []
    for rank, i in enumerate(result.order, 1):
        candidate, loss = result.candidates[i], float(result.loss[i])
        params = [candidate.params.get(k) for k in keys]
        others = [float(o.loss[i]) for o in opinions]
        rows.append([rank, candidate.label, *params, loss, loss - result.baseline_loss, *others])
    baseline = [None, f"baseline: {result.baseline_label}", *[None] * len(keys)]
    rows.append([*baseline, result.baseline_loss, 0.0, *[None] * len(opinions)])
    return header, rows


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
                f"differ: the {o.law} law ranks the {law} law's best "
                f"#{o.rank_of(int(result.order[0]))}"
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
    from lrcurve.opinions import measured_bests

    table = Table(
        title="measured sweep: last logged loss against the law's prediction for each run's "
        "schedule",
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
            f"horizon {horizon}: measured best {measured_best.label} "
            f"({measured_best.measured:.4f}); "
            f"the law's best of these runs {predicted_best.label} "
            f"({predicted_best.predicted:.4f}): {verdict}",
            soft_wrap=True,
        )


def _json(done: Any, fitted: Any, opinions: list, scored: list, args: dict) -> dict:
    from dataclasses import asdict

    from lrcurve.opinions import measured_bests

    plot, result, setting = args["plot"], done.search, done.setting
    output = args["output"]
    return {
        "family": args["family"],
        "law": fitted.law.name,
        "steps": setting.steps,
        "at_step": result.at_step,
        "peak": setting.peak,
        "warmup": setting.warmup,
        "defaults_used": list(setting.used),
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
        "gain_percent": 100 * (result.gain / result.baseline_loss),
        "best_per_series": {
            s: {"x": x, "loss": v} for s, (x, v) in result.best_per_series().items()
        },
        "candidates": [
            _candidate_json(c, float(v)) for c, v in zip(result.candidates, result.loss)
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
            }
            for o in opinions
        ],
        "measured": [{**asdict(m), "error_percent": m.error_percent} for m in scored],
        "measured_best": {
            str(h): {"measured": mb.name, "predicted": pb.name}
            for h, (mb, pb) in measured_bests(scored).items()
        },
    }


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
    written = [str(args[k]) for k in ("output", "plot") if args[k] is not None]
    if written:
        out.print(f"wrote {' and '.join(written)}")
