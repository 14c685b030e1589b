"""``sottovoce weight``: rake a data file to population margins and write a weighted copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import console, emit_json, err_console, load_data


def register(app: typer.Typer) -> None:
    app.command("weight")(weight)


def weight(
    data: Annotated[Path, typer.Argument(help="Data file (.csv .tsv .parquet .sav .dta .xlsx).")],
    margins: Annotated[Path, typer.Option("--margins", help="Population margins (TOML): one table per column.")],
    weights: Annotated[str | None, typer.Option("--weights", help="Column of input (design) weights; zero excludes a respondent.")] = None,
    trim_at: Annotated[float | None, typer.Option("--trim", help="Cap weights at K × the mean weight, then re-rake.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write a copy of DATA with the weight column here (.csv .tsv .parquet .sav .dta).")] = None,
    weight_name: Annotated[str, typer.Option("--weight-name", help="Name of the new weight column.")] = "weight",
    tol: Annotated[float, typer.Option("--tol", help="Convergence tolerance on the margin shares.")] = 1e-8,
    max_iter: Annotated[int, typer.Option("--max-iter", help="Most raking sweeps before giving up.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout and nothing else.")] = False,
) -> None:
    """Rake DATA to the margins in M.toml (optionally trimming), print diagnostics, write a weighted copy."""
    from rich.table import Table

    from ..errors import InputError
    from ..io import write_table
    from ..weighting import load_margins, rake, trim, weight_report

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
