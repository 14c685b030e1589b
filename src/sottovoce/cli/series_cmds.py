"""``sottovoce series``: a survey series (many waves, harmonised questions) to a tracker report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JSON_OPTION, console_language


def register(app: typer.Typer) -> None:
    @app.command("series")
    def series_cmd(
        series_file: Annotated[Path, typer.Argument(help="Series file (TOML): waves, harmonised questions, composites.")],
        out: Annotated[Path | None, typer.Option("--out", help="Folder for results.json, results.csv and report.html.")] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="Report language: en or ru (default: the series file's).")] = None,
        data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Folder with the wave files (overrides data_dir in the series file).")] = None,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Estimate every tracked question and composite in every wave, by subgroup, with trends."""
        import json

        from ..survey_series import load_series, series
        from .study_cmds import files_written

        spec = load_series(series_file, data_dir=data_dir)
        used = lang or spec.language
        with console_language(used):
            res = series(spec, out, lang)
        if as_json:
            typer.echo(json.dumps(res.to_dict(), ensure_ascii=False, allow_nan=False))
            return
        typer.echo(res.summary(lang))
        if out is not None:
            typer.echo(files_written(used, out))
