"""``sottovoce demo``: the whole pipeline on the bundled, clearly simulated example study."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._common import JSON_OPTION, console, console_language, err_console
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
    from ..report.text import STRINGS, t
    from ..study import load_study

    study = make_demo(out / "study", seed=DEMO_SEED)
    loaded = load_study(study)
    used = lang or loaded.report.language
    if used not in STRINGS:
        from ..errors import InputError

        raise InputError(f"unknown report language '{used}'; use one of {', '.join(STRINGS)}")
    if not as_json:
        err_console.print(t(used, "console_demo_written", path=study.parent), markup=False)
    with console_language(used):
        res = analyze(loaded, out_dir=out, lang=lang, progress=not as_json)
    truth = json.loads((study.parent / "truth.json").read_text(encoding="utf-8")) if (study.parent / "truth.json").exists() else {}
    if as_json:
        show(res, out, as_json, lang, extra={"truth": truth})
        return
    show(res, out, as_json, lang, tables=True)
    # the point of a simulation: the reader sees the planted truth, which intervals contain it and
    # why none of the estimates equals it (the same sentences as the report's)
    from ..report.headline import truth_sentences

    for sentence in truth_sentences(res.data, used):
        console.print(sentence, markup=False)
    console.print(t(used, "truth_file", path=study.parent / "truth.json"), markup=False)
