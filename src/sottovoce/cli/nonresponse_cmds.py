"""``sottovoce rates`` (AAPOR outcome rates) and ``sottovoce audit`` (audit of a published poll)."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from ._common import JSON_OPTION, console, emit, emit_json, err_console, load_data


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
        from ..audit import audit_poll, curve_text

        if not 0 < level < 1:
            raise InputError(f"--level {level} must be between 0 and 1")
        res = audit_poll(poll, level=level)
        if as_json:
            emit_json(res)
            return
        console.print(res.summary(), markup=False)
        sens, cc = res.sensitivity, res.bounds.get("complete_case")
        if sens["scope"] == "item nonresponse only" and sens["answered_share"] >= 0.995:
            pass  # everyone interviewed answered yes or no: no item nonresponse to be sensitive to
        elif sens["scope"] == "item nonresponse only":
            console.print("sensitivity to item nonresponse (assumed yes-share among respondents without a yes-or-no answer -> "
                          "share among respondents): " + curve_text(sens["curve"], cc), markup=False)
        else:
            console.print(f"sensitivity (assumed yes-share among everyone not counted: no interview or no yes-or-no answer -> "
                          f"share among all eligible, at the {100 * sens['response_rate']:.1f}% response rate): " + curve_text(sens["curve"], cc), markup=False)
        if sens.get("scenarios"):
            console.print("sensitivity to unit and item nonresponse (assumed yes-share among everyone not counted: no interview or "
                          "no yes-or-no answer -> share among all eligible), at hypothetical response rates:", markup=False)
        for sc in sens.get("scenarios", []):
            console.print(f"  {100 * sc['assumed_response_rate']:.0f}%: " + curve_text(sc["curve"], cc), markup=False)
        for w in res.warnings:
            err_console.print(f"warning: {w}")
