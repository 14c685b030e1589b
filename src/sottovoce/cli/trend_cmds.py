"""``sottovoce trend``: pool published polls and microdata waves into one trend with house effects."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import InputError
from ._common import JSON_OPTION, emit


def register(app: typer.Typer) -> None:
    @app.command("trend")
    def trend(
        files: list[Path] = typer.Argument(..., help="Polls CSV/TSV/XLSX, waves/study/published-poll TOML files.", show_default=False),  # noqa: B008
        unit: str = typer.Option("day", "--unit", help="Grid of the random walk: day or week."),  # noqa: B008
        reference: str | None = typer.Option(None, "--reference", help="House (pollster, or 'pollster / wording') whose effect is 0. Default: with one pollster, its main wording (most polls); with several, sum to zero."),  # noqa: B008
        sum_to_zero: bool = typer.Option(False, "--sum-to-zero", help="House effects sum to zero (the default with several pollsters; with one pollster, the trend then sits between its wordings)."),  # noqa: B008
        base: str = typer.Option("all", "--base", help="all: share of all respondents; opinion: share of yes + no."),  # noqa: B008
        event: list[str] = typer.Option([], "--event", help="Dated event DATE=LABEL (repeatable); drawn and tested for a level shift."),  # noqa: B008
        sigma: float | None = typer.Option(None, "--sigma", help="Fix the random-walk sd per unit (share scale) instead of estimating it."),  # noqa: B008
        sigma_cap: str = typer.Option("auto", "--sigma-cap", help="When the polls hardly determine the random-walk sd (flat likelihood), bound it: auto (2 points a week, scaled to --unit), a share per unit (0.02), or none."),  # noqa: B008
        level: float = typer.Option(0.95, "--level", help="Confidence level of bands and intervals."),  # noqa: B008
        bands: str = typer.Option("sigma", "--bands", help="sigma: bands include the uncertainty of the ML sigma; plugin: sigma treated as known."),  # noqa: B008
        csv: Path | None = typer.Option(None, "--csv", help="Write a tidy CSV (trend, house effects, polls)."),  # noqa: B008
        chart: Path | None = typer.Option(None, "--chart", help="Write a chart (.png or .svg)."),  # noqa: B008
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Pool polls into one trend with house effects (Jackman 2005; Kalman smoother, ML drift)."""
        from ..dynamics import fit_trend, plot_trend

        if reference is not None and sum_to_zero:
            raise InputError("--reference and --sum-to-zero exclude each other; choose one identification constraint")
        inputs = {p.resolve() for p in files}
        for out in (csv, chart):
            if out is not None and out.resolve() in inputs:
                raise InputError(f"{out}: refusing to write over an input file; choose another output path")
        if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
            raise InputError(f"--chart {chart}: use a .png or .svg file name")
        from ..trend_sources import read_poll_files

        result = fit_trend(read_poll_files(files), unit=unit, reference=reference, sum_to_zero=sum_to_zero, base=base,
                           events=event, sigma=sigma, sigma_cap=_cap(sigma_cap), bands=bands, level=level)
        if csv is not None:
            result.tidy().to_csv(csv, index=False)
        if chart is not None:
            plot_trend(result, chart)
        emit(result, as_json)  # the display (house effects as a table) or one JSON object; warnings on stderr
        if not as_json:
            for out in (csv, chart):
                if out is not None:
                    print(f"wrote {out}", file=sys.stderr)


def _cap(text: str) -> float | str | None:
    """--sigma-cap: auto, none, or a share per unit."""
    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--sigma-cap '{text}' is not auto, none or a share per unit (e.g. 0.02)") from None
