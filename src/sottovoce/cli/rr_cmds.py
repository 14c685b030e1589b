"""``sottovoce rr`` (randomized response and crosswise estimates) and ``sottovoce plan``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import (
    JSON_OPTION,
    PSU_OPTION,
    STRATA_OPTION,
    WEIGHTS_OPTION,
    emit,
    labelled_groups,
    load_data,
    result_warnings_only,
)

# planning's defaults, repeated here so that `--help` does not import the estimators
DEFAULT_ITEMS = 4
DEFAULT_CONTROL_VAR = 0.5


def register(app: typer.Typer) -> None:
    app.command("rr")(rr_command)
    app.command("plan")(plan_command)


def rr_command(
    data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),  # noqa: B008
    response: str = typer.Option(..., "--response", help="0/1 column of randomized answers (1 = yes / red card / crosswise 'same')."),
    design: str = typer.Option(..., "--design", help="warner|forced|unrelated|mirrored|disguised|crosswise"),
    p: float = typer.Option(None, "--p", help="P(answer the sensitive question truthfully) (forced) or P(being asked it) (warner, unrelated, mirrored); P(red card | yes stack) (disguised)."),
    p1: float = typer.Option(None, "--p1", help="Forced design: probability of a forced 'yes'."),
    p0: float = typer.Option(None, "--p0", help="Forced design: probability of a forced 'no'."),
    q: float = typer.Option(None, "--q", help="Known prevalence of the unrelated (or crosswise) item."),
    covariates: str = typer.Option(None, "--covariates", help="Logistic regression of the trait on these terms, e.g. \"age + C(region)\"."),
    weights: str = WEIGHTS_OPTION,
    strata: str = STRATA_OPTION,
    psu: str = PSU_OPTION,
    by: str = typer.Option(None, "--by", help="Estimate for each level of this column (with --covariates: the regression refitted in each level)."),
    direct: str = typer.Option(None, "--direct", help="0/1 column with the question asked directly: adds the indirect − direct gap."),
    truncate: bool = typer.Option(False, "--truncate", help="Report an impossible estimate truncated to [0, 1] (with a warning) instead of failing."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Prevalence of a sensitive trait from randomized-response or crosswise answers."""
    from ..errors import InputError
    from ..rr import make_design, rr_prevalence, rr_regression

    df = load_data(data, [response, weights, strata, psu, by, direct])
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    if covariates:
        extra = [flag for flag, v in (("--direct", direct), ("--truncate", truncate)) if v]
        if extra:
            raise InputError(f"{', '.join(extra)} cannot be combined with --covariates; run the regression and the prevalence separately")
        with result_warnings_only():
            result = rr_regression(df, response, covariates, dsg, weights=weights, strata=strata, psu=psu, by=by, level=level)
    else:
        with result_warnings_only():
            result = rr_prevalence(
                df, response, dsg, weights=weights, strata=strata, psu=psu, by=by, direct=direct, truncate=truncate, level=level
            )
    by_title = ""
    if not as_json:  # JSON keeps the column names; the table uses the file's labels
        result, by_title = labelled_groups(result, df, by)
    emit(result, as_json, subtitle=by_title)


def plan_command(
    n: int = typer.Option(None, "--n", help="Number of respondents."),
    moe: float = typer.Option(None, "--moe", help="Target margin of error as a share (0.03 = ±3 points)."),
    prevalence: float = typer.Option(0.5, "--prevalence", help="Assumed prevalence of the trait."),
    design: str = typer.Option("all", "--design", help="Comma-separated: direct,list,forced,warner,mirrored,disguised,unrelated,crosswise (default all)."),
    deff: float = typer.Option(1.0, "--deff", help="Design effect of weighting and clustering."),
    items: int = typer.Option(DEFAULT_ITEMS, "--items", help="List experiment: number of control items J."),
    control_var: float = typer.Option(DEFAULT_CONTROL_VAR, "--control-var", help="List experiment: assumed variance of the control-item count."),
    p: float = typer.Option(None, "--p", help="Probability p of the one randomized-response design named in --design."),
    p1: float = typer.Option(None, "--p1", help="Forced design: probability of a forced 'yes'."),
    p0: float = typer.Option(None, "--p0", help="Forced design: probability of a forced 'no'."),
    q: float = typer.Option(None, "--q", help="Known prevalence of the unrelated or crosswise item."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the margins."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Standard errors and sample sizes of every sensitive-question design, side by side."""
    from ..planning import plan

    result = plan(
        design, n=n, moe=moe, prevalence=prevalence, deff=deff, level=level,
        items=items, control_var=control_var, p=p, p1=p1, p0=p0, q=q,
    )
    emit(result, as_json)
