"""``sottovoce weight``: rake a data file to population margins and write a weighted copy."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import InputError
from ..io import write_table
from ..weighting import load_margins, rake, trim, weight_report
from ._common import JSON_OPTION, console, emit_json, err_console, load_data


def register(app: typer.Typer) -> None:
    app.command("weight")(weight)


def weight(
    data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),
    margins: Path = typer.Option(..., "--margins", help="Population margins (TOML): one table per column."),
    weights: str | None = typer.Option(None, "--weights", help="Column of input (design) weights; zero excludes a respondent."),
    trim_at: float | None = typer.Option(None, "--trim", help="Cap weights at K × the mean weight, then re-rake."),
    out: Path | None = typer.Option(None, "--out", help="Write a copy of DATA with the weight column here (.csv .tsv .parquet .sav .dta)."),
    weight_name: str = typer.Option("weight", "--weight-name", help="Name of the new weight column."),
    tol: float = typer.Option(1e-8, "--tol", help="Convergence tolerance on the margin shares."),
    max_iter: int = typer.Option(1000, "--max-iter", help="Most raking sweeps before giving up."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Rake DATA to the margins in M.toml (optionally trimming), print diagnostics, write a weighted copy."""
    if out is not None and data.exists() and out.exists() and out.resolve() == data.resolve():
        raise InputError(f"{out}: refusing to overwrite the input file; choose another --out")
    m = load_margins(margins)
    df = load_data(data, [weights, *m.keys()])
    if out is not None and weight_name in df.columns:
        raise InputError(f"{data}: already has a column '{weight_name}'; choose another name with --weight-name")
    if trim_at is not None:
        w = trim(df, upper=trim_at, weights=weights, margins=m, tol=tol, max_iter=max_iter)
    else:
        w = rake(df, m, weights, tol=tol, max_iter=max_iter)
    extra = {
        "data_file": str(data),
        "margins_file": str(margins),
        "iterations": w.attrs.get("iterations"),
        "population_total": w.attrs.get("total"),
        "margins_as_counts": bool(m.counts),
        "trim": trim_at,
        "trimmed": w.attrs.get("trimmed"),
        "out": str(out) if out is not None else None,
        "weight_column": weight_name,
    }
    report = weight_report(df, w.to_numpy(), m, **extra)
    if out is not None:
        copy = df.copy()
        copy.attrs = dict(df.attrs)
        copy[weight_name] = w.to_numpy()
        write_table(copy, out, protect=[data])
    if as_json:
        emit_json(report)
        return
    d = report.details
    table = Table(title=f"weighting — {data.name} to {margins.name}")
    for name, justify in (("margin", "left"), ("category", "left"), ("n", "right"), ("sample %", "right"),
                          ("target %", "right"), ("weighted %", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in report.table.itertuples():
        cat = str(r.category) if r.label is None or str(r.label) == str(r.category) else f"{r.category} ({r.label})"
        table.add_row(str(r.variable), cat, str(r.n), f"{100 * r.unweighted:.1f}", f"{100 * r.target:.1f}",
                      f"{100 * r.achieved:.1f}")
    console.print(table)
    console.print(
        f"weights: n={d['n']} (zero weight: {d['n_zero']}), sum {d['sum']:,.6g}, min {d['min']:.3g}, "
        f"max {d['max']:.3g} ({d['max_over_mean']:.2f}× mean), CV {d['cv']:.3f}, "
        f"Kish deff {d['deff']:.3f}, effective n {d['n_eff']:.0f}"
        + (f"; trimmed {d['trimmed']} at {trim_at}× mean" if trim_at is not None else "")
    )
    for warning in report.warnings:
        err_console.print(f"warning: {warning}")
    if out is not None:
        console.print(f"wrote {out} with weight column '{weight_name}'")
