"""``sottovoce estimate``: design-based estimates of a variable, overall and by group."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import typer

from .._words import count_en, en_form
from ._common import (
    JSON_OPTION,
    PSU_OPTION,
    STRATA_OPTION,
    WEIGHTS_OPTION,
    console,
    emit,
    labelled_groups,
    load_data,
)


def register(app: typer.Typer) -> None:
    app.command("estimate")(estimate)


def estimate(
    data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),  # noqa: B008
    var: str = typer.Option(..., "--var", help="Column to estimate: categories give one share each, numbers a mean."),
    by: str | None = typer.Option(None, "--by", help="Column of subgroups: one estimate per level (domain estimation)."),
    weights: str | None = WEIGHTS_OPTION,
    strata: str | None = STRATA_OPTION,
    psu: str | None = PSU_OPTION,
    fpc: str | None = typer.Option(None, "--fpc", help="Column of population PSU counts per stratum (or sampling fractions)."),
    margins: Path | None = typer.Option(None, "--margins", help="Population margins (TOML): rake first; SEs then account for the raking."),  # noqa: B008
    ci: str = typer.Option("wilson", "--ci", help="Interval for shares: wilson, logit, beta (Korn-Graubard) or wald."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    lonely_psu: str = typer.Option("adjust", "--lonely-psu", help="Strata with one PSU: adjust, remove, certainty or fail."),
    categories: bool = typer.Option(False, "--categories", help="Treat VAR as categorical even without value labels (one share per code)."),
    crosstab: str | None = typer.Option(None, "--chisq", help="Also test independence of --var and this column (Rao-Scott)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Weighted shares (or a mean) of VAR with design-based standard errors and intervals."""
    from ..errors import InputError, SottovoceWarning
    from ..intervals import CI_METHODS
    from ..io import variable_label
    from ..survey import LONELY_PSU, Survey

    if ci not in CI_METHODS:
        raise InputError(f"--ci '{ci}' is not one of {', '.join(CI_METHODS)}")
    if not 0 < level < 1:
        raise InputError(f"--level {level} must be between 0 and 1 (e.g. 0.95)")
    if lonely_psu not in LONELY_PSU:
        raise InputError(f"--lonely-psu '{lonely_psu}' is not one of {', '.join(LONELY_PSU)}")
    df = load_data(data, [var, by, weights, strata, psu, fpc, crosstab])
    svy = Survey(df, weights=weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=lonely_psu)  # type: ignore[arg-type]
    if margins is not None:
        svy = svy.rake(margins)
    with warnings.catch_warnings():
        # The result carries its warnings and emit() prints them once.
        warnings.simplefilter("ignore", SottovoceWarning)
        if categories:
            result = svy.proportion(var, by=by, ci=ci, level=level)
        else:
            result = svy.estimate(var, by=by, ci=ci, level=level)
    extra: dict[str, Any] = {"data_file": str(data), "weights": weights, "margins_file": str(margins) if margins else None,
                             "question": variable_label(df, var), "by_label": variable_label(df, by) if by else None}
    test = svy.chisq(var, crosstab) if crosstab is not None else None
    if test is not None:
        extra["chisq"] = test.to_dict()
    d = result.details
    notes = [f"weighted base {d['weighted_base']:,.1f}; {count_en(result.n or 0, 'respondent')}; {d.get('design', '')}"]
    if d.get("n_zero_weight"):
        k = d["n_zero_weight"]
        notes.append(f"{count_en(k, 'respondent')} with zero weight {en_form(k, 'is', 'are')} excluded")
    if margins is not None:
        notes.append(f"raked to {margins}; standard errors account for the raking")
    result = result.with_(details={**result.details, **{k: v for k, v in extra.items() if v is not None}},
                          notes=(*result.notes, *notes))
    title = f"{var}" + (f" — {extra['question']}" if extra.get("question") else "")
    if not as_json:  # JSON keeps the column names; the table reads like the questionnaire
        result, by_title = labelled_groups(result, df, by)
        title += f"; {by_title}" if by_title else ""
    emit(result, as_json, title=title)
    if test is not None and not as_json:
        console.print()
        emit(test, False, title=f"Rao-Scott test of {var} × {crosstab}")
