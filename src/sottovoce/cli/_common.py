"""Helpers shared by the CLI modules: loading data, printing results, JSON output.

Nothing heavy is imported at module level (``sottovoce --help`` must start fast): pandas, rich
and the estimators are imported by the functions that use them.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
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
    from ..errors import InputError
    from ..io import read_table, require_columns

    df = read_table(path, **read_options())
    for note in df.attrs.get("read_notes", ()):
        print(f"note: {note}", file=sys.stderr)
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


def labelled_groups(result: Result, df: pd.DataFrame, by: str | None) -> tuple[Result, str]:
    """The table's subgroup rows named by their value labels alone, and the ``--by`` variable's
    label for the title, when the file has one (``AGE_GR=18-34 года`` becomes ``18-34 года`` under
    "by AGE_GR — Возрастные категории респондентов"). Without a variable label nothing changes."""
    from ..io import variable_label

    label = variable_label(df, by) if by is not None else None
    if by is None or not label:
        return result, ""
    groups = tuple(g.with_(by=None, label=str(g.label if g.label not in (None, "") else g.level)) if g.by == by else g
                   for g in result.groups)
    return result.with_(groups=groups), f"by {by} — {label}"


def emit(result: Result, as_json: bool, title: str | None = None, subtitle: str = "") -> None:
    """Print a result as JSON, or as the tables of its display; its warnings go to stderr either way.

    ``subtitle`` is appended to the display's title (e.g. "by AGE_GR — <its label>")."""
    if as_json:
        emit_json(result)
        warn(result.warnings)
        return
    display = result.display()
    if title:
        display.title = title
    if subtitle:
        display.title = f"{display.title}; {subtitle}" if display.title else subtitle
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


# The language of the command's console output (--lang); warnings are worded in it.
_CONSOLE_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("sottovoce_console_lang", default="en")


@contextlib.contextmanager
def console_language(lang: str | None) -> Iterator[None]:
    """Within the block, warnings printed on the console are worded in ``lang`` (``--lang``)."""
    token = _CONSOLE_LANG.set(lang or "en")
    try:
        yield
    finally:
        _CONSOLE_LANG.reset(token)


def console_text(text: str) -> str:
    """A library message as the console shows it: in the command's language, with CLI flags."""
    from ..messages import translate

    return to_cli(translate(text, _CONSOLE_LANG.get()))


def warn(messages: Any) -> None:
    """Print each warning on stderr, in the command's language, with Python parameters written as CLI flags."""
    for w in messages:
        err_console.print(f"warning: {console_text(str(w))}", markup=False)
