"""Helpers shared by the CLI modules: loading data, printing results, JSON output."""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import sys
from collections.abc import Callable, Sequence
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


# How to read a data file, on every command that reads one (added by add_read_options).
_READ_OPTIONS: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("sottovoce_read_options")
_READ_PANEL = "Reading the data file"
_READ_PARAMS: dict[str, Any] = {
    "sheet": typer.Option(None, "--sheet", help="Spreadsheet sheet: its name or its number (1 = first).", rich_help_panel=_READ_PANEL),
    "encoding": typer.Option(None, "--encoding", help="Text encoding of a CSV/TSV (e.g. cp1251, utf-16); detected if not given.", rich_help_panel=_READ_PANEL),
    "sep": typer.Option(None, "--sep", help="Field separator of a CSV/TSV (',', ';', 'tab'); detected if not given.", rich_help_panel=_READ_PANEL),
    "decimal": typer.Option(None, "--decimal", help="Decimal mark of a CSV/TSV ('.' or ','); detected if not given.", rich_help_panel=_READ_PANEL),
    "labels": typer.Option(None, "--labels", help="Labels file (TOML) giving variable and value labels to a file without them.", rich_help_panel=_READ_PANEL),
}
# The commands whose data file load_data reads; a new such command adds its name here.
DATA_COMMANDS = ("estimate", "weight", "list", "list-test", "split", "rr", "rates", "describe")


def add_read_options(app: typer.Typer, commands: Sequence[str] = DATA_COMMANDS) -> None:
    """Give each data-reading command --sheet/--encoding/--sep/--decimal/--labels.

    The options are added to the command's signature (so they show in its --help) and handed to
    :func:`load_data` through a context variable, so no command has to pass them along.
    """
    for info in app.registered_commands:
        if info.name in commands and info.callback is not None and not getattr(info.callback, "_sv_read", False):
            info.callback = _with_read_options(info.callback)


def _with_read_options(func: Callable[..., Any]) -> Callable[..., Any]:
    sig = inspect.signature(func, eval_str=True)  # real annotations: typer reads Annotated[...] from them
    extra = [
        inspect.Parameter(f"_sv_{k}", inspect.Parameter.KEYWORD_ONLY, default=v, annotation=str | None)
        for k, v in _READ_PARAMS.items()
    ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = {k: kwargs.pop(f"_sv_{k}", None) for k in _READ_PARAMS}
        token = _READ_OPTIONS.set({k: v for k, v in opts.items() if v is not None})
        try:
            return func(*args, **kwargs)
        finally:
            _READ_OPTIONS.reset(token)

    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**getattr(func, "__annotations__", {}), **{f"_sv_{k}": str | None for k in _READ_PARAMS}}
    wrapper._sv_read = True  # type: ignore[attr-defined]
    return wrapper


def read_options() -> dict[str, Any]:
    """The reading options given on the command line (empty outside a data command)."""
    return dict(_READ_OPTIONS.get({}))


def load_data(path: Path | str, columns: list[str | None] | None = None) -> pd.DataFrame:
    """Read a data file and check that the named columns exist (one-line errors otherwise).

    Honours --sheet/--encoding/--sep/--decimal/--labels and prints what was detected
    (encoding, separator, sheet) as ``note:`` lines on stderr.
    """
    df = read_table(path, **read_options())
    for note in df.attrs.get("read_notes", ()):
        print(f"note: {note}", file=sys.stderr)
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
