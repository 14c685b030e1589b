"""``sottovoce check-polls``: check a cited poll corpus and its wordings table before using it."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ..errors import InputError


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
            raise InputError(f"{len(problems)} problem(s) in {corpus}, listed above; fix them and run the check again")
        import pandas as pd

        df = pd.read_csv(corpus, dtype=str, keep_default_na=False)
        ppath = pending or corpus.with_name(f"{corpus.stem}-pending.csv")
        extra = ""
        if ppath.exists():
            pdf = pd.read_csv(ppath, dtype=str, keep_default_na=False)
            extra = f"; {ppath}: {len(pdf)} pending rows from {pdf['pollster'].nunique()} pollsters"
        print(f"ok: {corpus}: {len(df)} polls from {df['pollster'].nunique()} pollsters, "
              f"{df['wording'].nunique()} wordings, fieldwork {df['start'].min()} to {df['end'].max()}{extra}", file=sys.stdout)
