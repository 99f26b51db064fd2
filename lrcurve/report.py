"""The text of a fit report (:meth:`lrcurve.fitting.FittedLaw.summary`), laid out as lmfit's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lrcurve.fitted import FittedLaw, Parameter


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _parameter_line(p: Parameter, held: bool, width: int) -> str:
    if p.stderr is None:
        error = "(not determined)"
    else:
        relative = f" ({100 * p.stderr / abs(p.value):.2f}%)" if p.value else ""
        error = f"+/- {p.stderr:<10.4g}{relative}"
    flags = ", ".join(f for f, on in (("held", held), ("at bound", p.at_bound)) if on)
    return f"    {p.name:<{width}} = {p.value:<12.6g} {error:<28} [{p.lower:g}, {p.upper:g}]" + (
        f"  {flags}" if flags else ""
    )


def fit_report(fitted: FittedLaw) -> str:
    """Law and formula, fit statistics, parameters (value, standard error, bounds, flags),
    each fitted run's scores and the fit's warnings, one block each."""
    law = fitted.law
    options = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in law.options().items()
    )
    free = len(fitted.params) - len(fitted.held)
    lines = [
        f"[[Law]] {law.name} ({options})",
        f"    {law.formula}",
        f"    {law.reference}",
        "[[Fit Statistics]]",
        f"    runs               = {len(fitted.runs)}",
        f"    data points        = {_number(fitted.n_fit_points)} "
        f"(after warmup and the first {fitted.skip_fraction:.0%} of steps)",
        f"    free parameters    = {free} of {len(fitted.params)}",
        f"    converged          = {'yes' if fitted.converged else 'no'} ({fitted.message})",
        f"    RSS (relative)     = {_number(fitted.fit_rss)}",
        f"    AIC                = {_number(fitted.aic)}",
        f"    BIC                = {_number(fitted.bic)}",
        "[[Parameters]]",
    ]
    width = max(len(p.name) for p in fitted.params)
    lines += [_parameter_line(p, p.name in fitted.held, width) for p in fitted.params]
    lines.append("[[Runs]] (fitted points: MAPE %, RMSE, R2, final %, max %)")
    names = max(len(r.name) for r in fitted.runs)
    for name, s in fitted.scores().items():
        lines.append(
            f"    {name:<{names}}  {s.mape:.4f}  {s.rmse:.4g}  {s.r2:.5f}  "
            f"{s.final_error:+.4f}  {s.max_error:.4f}"
        )
    if fitted.warnings:
        lines.append("[[Warnings]]")
        lines += [f"    {w}" for w in fitted.warnings]
    return "\n".join(lines)
