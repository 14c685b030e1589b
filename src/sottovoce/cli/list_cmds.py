"""``sottovoce list``, ``sottovoce list-test`` and ``sottovoce split``: list and split-ballot experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._common import (
    JSON_OPTION,
    PSU_OPTION,
    STRATA_OPTION,
    WEIGHTS_OPTION,
    emit,
    load_data,
)

ARMS_OPTION = typer.Option(None, "--arms", help="Name the arms of a treatment column with more than two values: \"0=control,1=item A,2=item B\" (the arm named control is the control).")
CONTROL_OPTION = typer.Option(None, "--control", help="The control value of a treatment column with text arms (e.g. control for R's control/affirm/race); the other values are the sensitive items.")


def parse_arms(text: str | None, values: Any = None) -> dict[Any, str] | None:
    """``"0=control,1=item A"`` as ``{0: "control", 1: "item A"}`` (codes as numbers when they are)."""
    from ..errors import InputError

    if text is None:
        return None
    out: dict[Any, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--arms: '{part.strip()}' is not CODE=NAME; write e.g. --arms \"0=control,1=item A,2=item B\"")
        code, name = (x.strip() for x in part.split("=", 1))
        key: Any = code
        try:
            key = int(code)
        except ValueError:
            try:
                key = float(code)
            except ValueError:
                key = code
        out[key] = name
    return out


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),  # noqa: B008
        count: str = typer.Option(..., "--count", help="Column with the item count."),
        treat: str = typer.Option(..., "--treat", help="Column with the arm: 0 control, 1 treatment (1..K for K sensitive items)."),
        items: int | None = typer.Option(None, "--items", help="J, the number of control items."),
        method: str = typer.Option("dim", "--method", help="dim, lm, nls, ml or types (ML over respondent types: no law for the control count)."),
        model: str = typer.Option("auto", "--model", help="ml/nls control model: auto (tested against the control arm; the difference in means if rejected), binomial, betabinomial (ictreg's overdispersed=TRUE) or types."),
        covariates: str | None = typer.Option(None, "--covariates", help="Regression covariates, e.g. \"age + male + C(region)\"."),
        weights: str | None = WEIGHTS_OPTION,
        strata: str | None = STRATA_OPTION,
        psu: str | None = PSU_OPTION,
        direct: str | None = typer.Option(None, "--direct", help="Direct-question column (1 yes / 0 no): direct vs list, gap and combined estimate."),
        by: str | None = typer.Option(None, "--by", help="Subgroup column (a regression is refitted in each group)."),
        by_model: str = typer.Option("refit", "--by-model", help="With --by and --covariates: refit (the model fitted in each group) or overall (each group predicted from the model of all respondents; labelled)."),
        unconstrained: bool = typer.Option(False, "--unconstrained", help="ML: control items may depend on the sensitive answer."),
        ceiling: bool = typer.Option(False, "--ceiling", help="ML: model ceiling liars (Blair & Imai 2012)."),
        floor: bool = typer.Option(False, "--floor", help="ML: model floor liars (Blair & Imai 2012)."),
        se: str = typer.Option("observed", "--se", help="observed (as ictreg), sandwich or design."),
        placebo_arm: int | None = typer.Option(None, "--placebo-arm", help="Arm code of a placebo list (item of known prevalence)."),
        placebo_prevalence: float = typer.Option(0.0, "--placebo-prevalence", help="Known prevalence of the placebo item."),
        count_b: str | None = typer.Option(None, "--count-b", help="Double list: count of list B (--treat = 1 if the sensitive item was on list A)."),
        arms: str | None = ARMS_OPTION,
        control: str | None = CONTROL_OPTION,
        level: float = typer.Option(0.95, "--level", help="Confidence level."),
        max_iter: int = typer.Option(5000, "--max-iter", help="ML: maximum number of EM iterations."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Estimate the prevalence of a sensitive item from a list experiment."""
        from .. import listexp
        from ..errors import InputError

        df = load_data(data, [count, treat, weights, strata, psu, direct, by, count_b])
        named = parse_arms(arms)
        if (named is not None or control is not None) and (direct or count_b or placebo_arm is not None):
            raise InputError("--arms and --control name the arms of a multi-item list; --direct, --count-b and --placebo-arm use 0/1 (and the placebo code)")
        if direct:
            if method != "dim":
                raise InputError("--direct uses the difference in means; drop --method or use --method dim")
            res = listexp.list_direct(df, count, treat, items, direct, weights=weights, strata=strata, psu=psu, by=by, level=level)
        elif count_b:
            res = listexp.double_list(df, count, count_b, treat, items, weights=weights, strata=strata, psu=psu, level=level)
        elif placebo_arm is not None:
            res = listexp.placebo_list(df, count, treat, items, placebo_arm=placebo_arm, placebo_prevalence=placebo_prevalence,
                                       weights=weights, strata=strata, psu=psu, level=level)
        else:
            res = listexp.fit_list_model(df, count, treat, items, method=method, list_model=model, covariates=covariates, weights=weights,
                                         strata=strata, psu=psu, by=by, se=se, level=level, arms=named, by_model=by_model,
                                         control=_control_value(control, df, treat), constrained=not unconstrained, ceiling=ceiling,
                                         floor=floor, max_iter=max_iter)
        emit(res, as_json)

    @app.command("list-test")
    def list_test_cmd(
        data: Path = typer.Argument(..., help="Data file."),  # noqa: B008
        count: str = typer.Option(..., "--count", help="Column with the item count."),
        treat: str = typer.Option(..., "--treat", help="Column with the arm (0 control)."),
        items: int | None = typer.Option(None, "--items", help="J, the number of control items."),
        weights: str | None = WEIGHTS_OPTION,
        strata: str | None = STRATA_OPTION,
        psu: str | None = PSU_OPTION,
        alpha: float = typer.Option(0.05, "--alpha", help="Significance level."),
        arms: str | None = ARMS_OPTION,
        control: str | None = CONTROL_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Test a list experiment for a design effect (Blair & Imai 2012)."""
        from .. import listexp

        df = load_data(data, [count, treat, weights, strata, psu])
        res = listexp.list_design_test(df, count, treat, items, weights=weights, strata=strata, psu=psu, alpha=alpha,
                                       arms=parse_arms(arms), control=_control_value(control, df, treat))
        emit(res, as_json)

    @app.command("split")
    def split_cmd(
        data: Path = typer.Argument(..., help="Data file."),  # noqa: B008
        var: str = typer.Option(..., "--var", help="The question whose answers are compared."),
        ballot: str = typer.Option(..., "--ballot", help="Column with the randomized ballot (wording/order)."),
        weights: str | None = WEIGHTS_OPTION,
        strata: str | None = STRATA_OPTION,
        psu: str | None = PSU_OPTION,
        reference: str | None = typer.Option(None, "--reference", help="Reference ballot (default: the lowest code)."),
        level: float = typer.Option(0.95, "--level", help="Confidence level."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Compare answer shares between the ballots of a split-ballot experiment."""
        from .. import listexp

        df = load_data(data, [var, ballot, weights, strata, psu])
        res = listexp.split_ballot(df, var, ballot, weights=weights, strata=strata, psu=psu, reference=reference, level=level)
        emit(res, as_json, title=f"split ballot — {var} by {ballot}")


def _control_value(control: str | None, df: Any, treat: str) -> Any:
    """The --control text as the column's own value (a number when the column is numeric)."""
    if control is None:
        return None
    import pandas as pd

    if pd.api.types.is_numeric_dtype(df[treat]):
        try:
            return float(control)
        except ValueError:
            return control
    return control
