"""``sottovoce analyze STUDY.toml --out DIR`` and ``sottovoce report RESULTS.json --out report.html``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import JSON_OPTION, console, console_language, emit_json, err_console

if TYPE_CHECKING:
    from ..pipeline import StudyResults

LANG_OPTION = typer.Option(None, "--lang", help="Report language: en or ru (default: the study file's).")


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze_command)
    app.command("report")(report_command)


def analyze_command(
    study: Annotated[Path, typer.Argument(help="Study file (TOML; see docs/study-file.md).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, results.csv, charts/ and report.html.")],
    lang: str = LANG_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a whole study: read, weight, estimate, audit nonresponse and write the report."""
    from ..pipeline import analyze
    from ..study import load_study

    loaded = load_study(study)
    with console_language(lang or loaded.report.language):
        res = analyze(loaded, out_dir=out, lang=lang, progress=not as_json)
        show(res, out, as_json, lang, tables=True)


def report_command(
    results: Annotated[Path, typer.Argument(help="results.json written by `sottovoce analyze`.")],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write (e.g. report.html).")],
    lang: str = LANG_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-render the HTML report from results.json without recomputing anything."""
    from ..errors import InputError
    from ..pipeline import load_results
    from ..report import write_report

    res = load_results(results)
    if out.resolve() == results.resolve():
        raise InputError(f"{out}: is the results file itself; give --out a new .html file name")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give --out a file name such as report.html")
    write_report(res.data, out, lang)
    if as_json:
        emit_json({"report": str(out), "headline": res.headline(lang)})
    else:
        from ..report.text import t

        console.print(t(lang or str(res.data.get("language") or "en"), "console_report", path=out), markup=False)


def show(res: StudyResults, out: Path, as_json: bool, lang: str | None = None, extra: dict[str, Any] | None = None,
         tables: bool = False) -> None:
    """Print the headline (and, with ``tables``, the result tables) and where the files are, or one JSON object."""
    if as_json:
        emit_json({**res.to_dict(), "outputs": {"dir": str(out), "report": str(out / "report.html"),
                                                "results": str(out / "results.json"), "csv": str(out / "results.csv")},
                   "headline": res.headline(lang), **(extra or {})})
        return
    from ..report.text import t

    used = lang or str(res.data.get("language") or "en")
    for sentence in res.headline(lang):
        console.print(sentence, markup=False)
    failures = res.failures(lang)
    if failures:  # every question or group that could not be estimated, with why (also in the report)
        err_console.print(t(used, "console_failures"))
        for f in failures:
            err_console.print(f"  - {f}", markup=False, highlight=False)
    if tables:
        from ._study_tables import print_tables

        console.print()
        print_tables(console, res.to_dict(), lang=lang)
    console.print()
    console.print(files_written(used, out), markup=False)


def files_written(lang: str, out: Path) -> str:
    """Where the report and the results are, in ``lang`` (two lines)."""
    from ..report.text import t

    return (t(lang, "console_report", path=out / "report.html") + "\n"
            + t(lang, "console_results", paths=f"{out / 'results.json'}, {out / 'results.csv'}"))
