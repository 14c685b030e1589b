"""``sottovoce check-polls`` checks a cited poll corpus; ``sottovoce corpus-report`` analyses it and
writes the corpus report (English and Russian HTML) and its results JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .._words import count_en
from ..errors import InputError
from ._common import JSON_OPTION, emit_json


def register(app: typer.Typer) -> None:
    @app.command("check-polls")
    def check_polls(
        corpus: Path = typer.Argument(..., help="The corpus CSV (e.g. examples/polls/war-support.csv).", show_default=False),  # noqa: B008
        wordings: Path | None = typer.Option(None, "--wordings", help="Wordings table (default: wordings.csv next to the corpus)."),  # noqa: B008
        pending: Path | None = typer.Option(None, "--pending", help="Pending rows (default: <corpus>-pending.csv next to the corpus, if present)."),  # noqa: B008
    ) -> None:
        """Check a cited poll corpus: shares add up, dates parse, no poll twice, wordings and citations present."""
        from ..dynamics.corpus import check_corpus

        problems = check_corpus(corpus, wordings, pending=pending)
        if problems:
            for p in problems:
                print(p)
            raise InputError(f"{count_en(len(problems), 'problem')} in {corpus}, listed above; fix them and run the check again")
        import pandas as pd

        df = pd.read_csv(corpus, dtype=str, keep_default_na=False)
        ppath = pending or corpus.with_name(f"{corpus.stem}-pending.csv")
        extra = ""
        if ppath.exists():
            pdf = pd.read_csv(ppath, dtype=str, keep_default_na=False)
            extra = f"; {ppath}: {count_en(len(pdf), 'pending row')} from {count_en(pdf['pollster'].nunique(), 'pollster')}"
        print(f"ok: {corpus}: {count_en(len(df), 'poll')} from {count_en(df['pollster'].nunique(), 'pollster')}, "
              f"{count_en(df['wording'].nunique(), 'wording')}, fieldwork {df['start'].min()} to {df['end'].max()}{extra}", file=sys.stdout)

    @app.command("corpus-report")
    def corpus_report(
        corpus: Path = typer.Argument(..., help="The corpus CSV (e.g. examples/polls/war-support.csv).", show_default=False),  # noqa: B008
        out: Path = typer.Option(..., "--out", help="Folder for corpus-report.<lang>.html and corpus-results.json.", show_default=False),  # noqa: B008
        events: Path | None = typer.Option(None, "--events", help="Events TOML ([[event]] date, en, ru, source), e.g. examples/polls/events.toml."),  # noqa: B008
        event: list[str] = typer.Option([], "--event", help="A dated event DATE=LABEL (repeatable; added to --events)."),  # noqa: B008
        wordings: Path | None = typer.Option(None, "--wordings", help="Wordings table (default: wordings.csv next to the corpus)."),  # noqa: B008
        lang: list[str] = typer.Option(["en", "ru"], "--lang", help="Report language(s): en, ru (repeatable)."),  # noqa: B008
        unit: str = typer.Option("day", "--unit", help="Grid of the random walk: day or week."),  # noqa: B008
        window: int = typer.Option(120, "--window", help="Days either side of an event within which a pollster's own polls are compared."),  # noqa: B008
        level: float = typer.Option(0.95, "--level", help="Confidence level of bands and intervals."),  # noqa: B008
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Analyse a cited poll corpus (pooled trend, wordings, events, disagreements, bounds) and write the report."""
        from ..corpus_analysis import analyze_corpus, read_events
        from ..report.corpus import CORPUS_LANGUAGES, render_corpus_report

        for lg in lang:
            if lg not in CORPUS_LANGUAGES:
                raise InputError(f"--lang {lg}: unknown report language; use one of {', '.join(CORPUS_LANGUAGES)}")
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: is a file; give a folder for the report")
        inputs = {p.resolve() for p in (corpus, events, wordings) if p is not None}
        targets = [out / f"corpus-report.{lg}.html" for lg in lang] + [out / "corpus-results.json"]
        for t in targets:
            if t.resolve() in inputs:
                raise InputError(f"{t}: refusing to write over an input file; choose another --out folder")
        evs: list[dict] = read_events(events) if events is not None else []
        if event:
            from ..dynamics.events import parse_events

            evs += [{"date": str(e.date.date()), "label": {"en": e.label, "ru": e.label}, "source": ""} for e in parse_events(event)]
        payload, trend = analyze_corpus(corpus, wordings=wordings, events=evs, unit=unit, level=level, window=window)
        out.mkdir(parents=True, exist_ok=True)
        import json

        (out / "corpus-results.json").write_text(json.dumps(payload, ensure_ascii=False, indent=1, allow_nan=False) + "\n",
                                                 encoding="utf-8")
        for lg in lang:
            (out / f"corpus-report.{lg}.html").write_text(render_corpus_report(payload, lg, trend), encoding="utf-8")
        if as_json:
            emit_json(payload)
        else:
            print(trend.summary())
        for t in targets:
            print(f"wrote {t}", file=sys.stderr)

