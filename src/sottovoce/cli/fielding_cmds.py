"""``sottovoce field-plan`` and ``sottovoce field-check``: fielding a study through a phone vendor."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ..errors import InputError


def register(app: typer.Typer) -> None:
    app.command("field-plan")(field_plan_cmd)
    app.command("field-check")(field_check_cmd)


def field_plan_cmd(
    study: Path = typer.Argument(..., help="The study file (TOML)."),
    n: int = typer.Option(..., "--n", help="Number of cases (interviews) to assign."),
    out: Path = typer.Option(..., "--out", help="Folder for assignment.csv, plan.json and questionnaire-{en,ru}.xlsx (never overwritten)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the draw (default: a random one, written to plan.json)."),
) -> None:
    """Write a vendor-ready interviewer script (en/ru .xlsx) and a case-level assignment drawn with a recorded seed."""
    from ..fielding import field_plan

    plan = field_plan(study, n, out, seed=seed)
    print(f"assigned {plan.n} cases (seed {plan.seed}) to {plan.assignment}; scripts: "
          f"{', '.join(str(p) for p in plan.scripts.values())}", file=sys.stderr)


def field_check_cmd(
    study: Path = typer.Argument(..., help="The study file (TOML)."),
    vendor: Path = typer.Argument(..., help="The vendor's data file (.sav, or any table `analyze` reads)."),
    assignment: Path | None = typer.Option(None, "--assignment", help="assignment.csv from `field-plan`, to check it was honoured."),
    case_id: str = typer.Option("case_id", "--case-id", help="Case id column (in the file and the assignment)."),
    interviewer: str = typer.Option("interviewer", "--interviewer", help="Interviewer id column."),
    duration: str = typer.Option("duration", "--duration", help="Interview length column (seconds)."),
    min_duration: float | None = typer.Option(None, "--min-duration", help="Interviews shorter than this (seconds) are too short (default: a third of the median)."),
    out: Path | None = typer.Option(None, "--out", help="Write the field report (HTML) here."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the checks as JSON here."),
    lang: str = typer.Option("en", "--lang", help="Report language: en or ru."),
) -> None:
    """Map a vendor's file back to the study and check the fieldwork: arms, assignment, ranges, interviewers, speeders."""
    from ..fielding import field_check, render_field_report
    from ..fielding.report import summary_line
    from ..fielding.texts import T

    if lang not in ("en", "ru"):
        raise InputError(f"--lang {lang}: use en or ru")
    for target in (out, json_out):
        if target is not None and target.exists() and target.resolve() in {study.resolve(), vendor.resolve()}:
            raise InputError(f"{target}: refusing to overwrite an input file; choose another name")
    res = field_check(study, vendor, assignment=assignment, case_id=case_id, interviewer=interviewer,
                      duration=duration, min_duration=min_duration)
    for c in res.checks:
        first = c.findings[0][lang] if c.findings else ""
        print(f"{T(c.status, lang):>12}  {T(c.id, lang)}" + (f": {first}" if first else ""))
        for f in c.findings[1:]:
            print(f"{'':>12}  {f[lang]}")
    if out is not None:
        out.write_text(render_field_report(res, lang), encoding="utf-8")
    if json_out is not None:
        json_out.write_text(json.dumps(res.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    print(summary_line(res, lang), file=sys.stderr)
