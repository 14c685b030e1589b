"""``sottovoce describe`` (the codebook of a data file) and ``sottovoce datasets`` (bundled data)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import JSON_OPTION, console, emit_json, read_options

if TYPE_CHECKING:  # imported by the commands, not at start-up (sottovoce --help)
    from ..codebook import Codebook


def register(app: typer.Typer) -> None:
    app.command("describe")(describe_command)
    app.command("datasets")(datasets_command)


def describe_command(
    data: Path = typer.Argument(..., help="Data file (.sav .dta .csv .tsv .txt .parquet .xlsx .xls .ods)."),  # noqa: B008
    find: str | None = typer.Option(None, "--find", help="Keep variables whose name, question or answer labels contain these words."),
    weights: str | None = typer.Option(None, "--weights", help="Weight column: counts also as weighted totals and shares."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The codebook of a data file: variables, labels, values with counts, missing codes, likely weights.

    --find searches names, question texts and answer labels (Cyrillic or Latin, any case, ё = е);
    several words must all occur. A file of bare codes gets its labels from --labels LABELS.toml
    (one [COLUMN] table each, with label = "..." and values = { 1 = "...", 2 = "..." }).
    """
    from ..codebook import describe

    book = describe(data, find=find, weights=weights, **read_options())
    if as_json:
        emit_json(book.to_dict())
        return
    for note in book.notes:
        print(f"note: {note}", file=sys.stderr)
    print_codebook(book)


def print_codebook(book: Codebook) -> None:
    """The codebook as a terminal table."""
    from rich.table import Table

    from ..codebook import _value_lines

    console.print(book._headline(), markup=False)
    for w in book.weights:
        console.print(f"likely weight: {w.name} — {w.reason}", markup=False)
    if book.find is not None and not book.variables:
        console.print(f"no variable matches '{book.find}'", markup=False)
        return
    table = Table(show_lines=True)
    table.add_column("variable", no_wrap=True)
    table.add_column("question / label", ratio=2)
    table.add_column("answers: code, share, n, label", ratio=3)
    weighted = book.weighted_by is not None
    for v in book.variables:
        about = f"{v.name}\n{v.kind}\nn={v.n}" + (f"\n{v.missing} missing" if v.missing else "")
        table.add_row(about, v.label or "", "\n".join(_value_lines(v, weighted)))
    console.print(table)


def datasets_command(as_json: bool = JSON_OPTION) -> None:
    """The real data files bundled with sottovoce (their paths work in every command)."""
    from rich.table import Table

    from .. import datasets

    rows = [
        {"name": d.name, "path": str(datasets.path(d.name)), "title": d.title, "citation": d.citation}
        for d in datasets.DATASETS.values()
    ]
    if as_json:
        emit_json({"datasets": rows})
        return
    table = Table(title="bundled data (sottovoce.datasets)")
    for col in ("name", "path", "what"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["path"], r["title"])
    console.print(table)
    console.print(f"Cite as: {rows[0]['citation']}. See {Path(rows[0]['path']).parent / 'ATTRIBUTION.md'}.", markup=False)
