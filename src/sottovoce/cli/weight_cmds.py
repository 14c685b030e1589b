"""``sottovoce weight``: rake a data file to population margins and write a weighted copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import console, emit, load_data


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
    if trim_at is not None:
        report = report.with_(notes=(f"trimmed {report.details.get('trimmed')} weights at {trim_at}× the mean, then re-raked",))
    emit(report, as_json, title=f"weighting — {data.name} to {margins.name}")
    if as_json:
        return
    if out is not None:
        console.print(f"wrote {out} with weight column '{weight_name}'")
