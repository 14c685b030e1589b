"""Helpers shared by the CLI modules: loading data, printing results, JSON output.

Nothing heavy is imported at module level (``sottovoce --help`` must start fast): pandas, rich
and the estimators are imported by the functions that use them.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .flags import to_cli

if TYPE_CHECKING:
    import pandas as pd

    from .._results import Result

JSON_OPTION = typer.Option(False, "--json", help="Print exactly one JSON object on stdout and nothing else.")
# The survey design columns, spelled the same in every analysis command.
WEIGHTS_OPTION = typer.Option(None, "--weights", help="Weight column; zero excludes a respondent.")
STRATA_OPTION = typer.Option(None, "--strata", help="Stratum column.")
PSU_OPTION = typer.Option(None, "--psu", help="Primary sampling unit (cluster) column.")


class _LazyConsole:
    """A rich Console made on first use (importing rich costs start-up time)."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._kwargs)
        return getattr(self._console, name)


console: Any = _LazyConsole(highlight=False, soft_wrap=True)
err_console: Any = _LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def load_data(path: Path | str, columns: list[str | None] | None = None) -> pd.DataFrame:
    """Read a data file and check that the named columns exist (one-line errors otherwise)."""
    from ..errors import InputError
    from ..io import read_table, require_columns

    df = read_table(path)
    if columns:
        require_columns(df, columns, where=str(path))
    if len(df) == 0:
        raise InputError(f"{path}: the data file has no rows")
    df.attrs.setdefault("source", str(path))
    return df


def emit_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    from .._results import Result, jsonable

    payload = obj.to_dict() if isinstance(obj, Result) else jsonable(obj)
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def emit(result: Result, as_json: bool, title: str | None = None) -> None:
    """Print a result as JSON, or as the tables of its display; its warnings go to stderr either way."""
    if as_json:
        emit_json(result)
        warn(result.warnings)
        return
    display = result.display()
    if title:
        display.title = title
    for item in display.rich():
        console.print(item)
    warn(display.warnings)


@contextlib.contextmanager
def result_warnings_only() -> Iterator[None]:
    """Silence the estimators' Python warnings: the result carries them and emit() prints each once."""
    from ..errors import SottovoceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SottovoceWarning)
        yield


def warn(messages: Any) -> None:
    """Print each warning on stderr, with Python parameters written as CLI flags."""
    for w in messages:
        err_console.print(f"warning: {to_cli(str(w))}", markup=False)
