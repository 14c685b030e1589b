"""``sottovoce demo``: the whole pipeline on the bundled, clearly simulated example study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import JSON_OPTION, err_console
from .study_cmds import LANG_OPTION, show


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)


def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the example study, its results and report.")] = Path("demo-output"),
    lang: str = LANG_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Simulate the example study (a wartime phone survey with known truth), analyse it and write
    the report: the same results.json and report.html as `sottovoce analyze`."""
    from ..demo import DEMO_SEED, make_demo
    from ..pipeline import analyze

    if out.exists() and not out.is_dir():
        from ..errors import InputError

        raise InputError(f"{out}: exists and is not a folder; give --out a folder name")
    study = make_demo(out / "study", seed=DEMO_SEED)
    if not as_json:
        err_console.print(f"simulated example study written to {study.parent}")
    res = analyze(study, out_dir=out, lang=lang, progress=not as_json)
    show(res, out, as_json, lang)
