"""``sottovoce rates`` (AAPOR outcome rates) and ``sottovoce audit`` (audit of a published poll)."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from ._common import JSON_OPTION, emit, load_data


def register(app: typer.Typer) -> None:
    @app.command("rates")
    def rates_cmd(
        dispositions: Path = typer.Argument(None, help="Data file with one final AAPOR disposition code per case."),
        column: str = typer.Option(None, "--column", help="Column of AAPOR disposition codes (1.1, 1.2, 2.11, 3.13, 4.3 ...)."),
        counts: str = typer.Option(None, "--counts", help="Counts instead of a file: I=..,P=..,R=..,NC=..,O=..,UH=..,UO=..,NE=.."),
        e: float = typer.Option(None, "--e", help="Eligible share of unknown-eligibility cases (default: proportional allocation)."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """AAPOR response, cooperation, refusal and contact rates (Standard Definitions)."""
        from ..nonresponse.aapor import outcome_rates

        if (dispositions is None) == (counts is None):
            raise InputError("give either DISPOSITIONS --column COL or --counts I=..,P=..,R=..,NC=..,O=..,UH=..,UO=..")
        if dispositions is not None:
            if not column:
                raise InputError(f"{dispositions}: name the disposition column with --column COL")
            df = load_data(dispositions, [column])
            res = outcome_rates(df, column=column, e=e)
        else:
            res = outcome_rates(counts=counts, e=e)
        emit(res, as_json)

    @app.command("audit")
    def audit_cmd(
        poll: Path = typer.Argument(..., help="Poll file (TOML) with the published toplines and their sources."),
        level: float = typer.Option(0.95, "--level", help="Confidence level."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Audit a published poll: honest margin of error, worst-case bounds, sensitivity, tipping point."""
        from ..audit import audit_poll

        if not 0 < level < 1:
            raise InputError(f"--level {level} must be between 0 and 1")
        emit(audit_poll(poll, level=level), as_json)
