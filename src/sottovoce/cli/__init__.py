"""The ``sottovoce`` command line: one executable, one subcommand per job.

Each group of commands lives in its own module with a ``register(app)`` function, so a new
capability adds a module here without touching the others. Errors in the user's input print one
``error: ...`` line on stderr and exit 2; unexpected failures exit 1 (``--debug`` shows the
traceback).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence

import typer

try:  # typer >= 0.20 ships its own copy of click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc  # type: ignore[no-redef]

from ..errors import SottovoceError, SottovoceWarning
from ._common import console_text
from .flags import to_cli

app = typer.Typer(
    name="sottovoce",
    help="Measure opinion where people are afraid to answer: weighting, list experiments, "
    "randomized response, nonresponse audits, reports and an encrypted survey server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_COMMAND_MODULES = (
    "survey_cmds",
    "weight_cmds",
    "demo_cmds",
    "list_cmds",
    "rr_cmds",
    "regress_cmds",
    "nonresponse_cmds",
    "study_cmds",
    "trend_cmds",
    "series_cmds",
    "corpus_cmds",
    "field_cmds",
    "fielding_cmds",
    "describe_cmds",
)


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:  # a capability not built yet
            if exc.name and exc.name.endswith(name):
                continue
            raise
        module.register(app)
    from ._common import add_read_options

    add_read_options(app)  # --sheet/--encoding/--sep/--decimal/--labels on every data command


_register_all()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for unexpected errors."),
) -> None:
    """sottovoce — honest numbers from frightened respondents."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    text = console_text(str(message).replace("\n", " "))
    print(f"warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sottovoce`` executable; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    command = typer.main.get_command(app)
    old_show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SottovoceWarning)
            if not debug:
                warnings.filterwarnings("ignore", category=RuntimeWarning)
                warnings.filterwarnings("ignore", category=FutureWarning)
                warnings.filterwarnings("ignore", category=DeprecationWarning)
            result = command.main(args=args, prog_name="sottovoce", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SottovoceError as exc:
        if debug:
            raise
        print(f"error: {_one_line(to_cli(str(exc)))}", file=sys.stderr)
        code = 2
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        code = 1
    except _click_exc.NoArgsIsHelpError as exc:  # bare `sottovoce`: show the help
        print(exc.format_message() if hasattr(exc, 'format_message') else '', file=sys.stderr)
        code = 0
    except _click_exc.ClickException as exc:  # usage errors: unknown option, missing argument
        print(f"error: {_one_line(exc.format_message())}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        code = 130
    except Exception as exc:
        if debug:
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {_one_line(str(exc))}); rerun with --debug and report it",
            file=sys.stderr,
        )
        code = 1
    finally:
        warnings.showwarning = old_show
    return code


def run() -> None:  # pragma: no cover - console script shim
    raise SystemExit(main())


def _one_line(text: str) -> str:
    return " ".join(text.strip().split())
