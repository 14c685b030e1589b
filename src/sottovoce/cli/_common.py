"""Helpers shared by the CLI modules: loading data, printing results, JSON output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from .._results import Result, jsonable
from .._results import format_value as _fmt
from ..errors import InputError
from ..io import read_table, require_columns

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON object on stdout and nothing else.")
# The survey design columns, spelled the same in every analysis command.
WEIGHTS_OPTION = typer.Option(None, "--weights", help="Weight column; zero excludes a respondent.")
STRATA_OPTION = typer.Option(None, "--strata", help="Stratum column.")
PSU_OPTION = typer.Option(None, "--psu", help="Primary sampling unit (cluster) column.")


def load_data(path: Path | str, columns: list[str | None] | None = None) -> pd.DataFrame:
    """Read a data file and check that the named columns exist (one-line errors otherwise)."""
    df = read_table(path)
    if columns:
        require_columns(df, columns, where=str(path))
    if len(df) == 0:
        raise InputError(f"{path}: the data file has no rows")
    return df


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    payload = obj.to_dict() if isinstance(obj, Result) else jsonable(obj)
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def emit(result: Result, as_json: bool, title: str | None = None) -> None:
    """Print a result as JSON or as a readable terminal table."""
    if as_json:
        emit_json(result)
        return
    console.print(result_table(result, title=title))
    for w in result.warnings:
        err_console.print(f"warning: {w}")


def result_table(result: Result, title: str | None = None) -> Table:
    """A rich table of a result, its categories and groups (shares shown in percent)."""
    pct = bool(result.details.get("is_share", False))
    unit = " %" if pct else ""
    table = Table(title=title or (f"{result.method} — {result.variable}" if result.variable else result.method))
    table.add_column("")
    table.add_column(f"estimate{unit}", justify="right")
    table.add_column("se", justify="right")
    table.add_column(f"{int(result.level_ci * 100)}% CI", justify="right")
    table.add_column("n", justify="right")
    for name, r in result._rows():
        lo, hi = (r.ci if r.ci else (None, None))
        table.add_row(name, _fmt(r.estimate, pct), _fmt(r.se, pct), f"{_fmt(lo, pct)} – {_fmt(hi, pct)}", f"{r.n if r.n is not None else ''}")
    return table
