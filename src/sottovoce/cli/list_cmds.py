"""``sottovoce list``, ``sottovoce list-test`` and ``sottovoce split``: list and split-ballot experiments."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from ._common import (
    JSON_OPTION,
    PSU_OPTION,
    STRATA_OPTION,
    WEIGHTS_OPTION,
    console,
    emit,
    emit_json,
    load_data,
)


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(
        data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),  # noqa: B008
        count: str = typer.Option(..., "--count", help="Column with the item count."),
        treat: str = typer.Option(..., "--treat", help="Column with the arm: 0 control, 1 treatment (1..K for K sensitive items)."),
        items: int | None = typer.Option(None, "--items", help="J, the number of control items."),
        method: str = typer.Option("dim", "--method", help="dim, lm, nls or ml."),
        covariates: str | None = typer.Option(None, "--covariates", help="Regression covariates, e.g. \"age + male + C(region)\"."),
        weights: str | None = WEIGHTS_OPTION,
        strata: str | None = STRATA_OPTION,
        psu: str | None = PSU_OPTION,
        direct: str | None = typer.Option(None, "--direct", help="Direct-question column (1 yes / 0 no): direct vs list, gap and combined estimate."),
        by: str | None = typer.Option(None, "--by", help="Subgroup column."),
        unconstrained: bool = typer.Option(False, "--unconstrained", help="ML: control items may depend on the sensitive answer."),
        ceiling: bool = typer.Option(False, "--ceiling", help="ML: model ceiling liars (Blair & Imai 2012)."),
        floor: bool = typer.Option(False, "--floor", help="ML: model floor liars (Blair & Imai 2012)."),
        se: str = typer.Option("observed", "--se", help="observed (as ictreg), sandwich or design."),
        placebo_arm: int | None = typer.Option(None, "--placebo-arm", help="Arm code of a placebo list (item of known prevalence)."),
        placebo_prevalence: float = typer.Option(0.0, "--placebo-prevalence", help="Known prevalence of the placebo item."),
        count_b: str | None = typer.Option(None, "--count-b", help="Double list: count of list B (--treat = 1 if the sensitive item was on list A)."),
        level: float = typer.Option(0.95, "--level", help="Confidence level."),
        max_iter: int = typer.Option(5000, "--max-iter", help="ML: maximum number of EM iterations."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Estimate the prevalence of a sensitive item from a list experiment."""
        from .. import listexp

        df = load_data(data, [count, treat, weights, strata, psu, direct, by, count_b])
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
            res = listexp.list_experiment(df, count, treat, items, method=method, covariates=covariates, weights=weights, strata=strata,
                                          psu=psu, by=by, constrained=not unconstrained, ceiling=ceiling, floor=floor, se=se, level=level, max_iter=max_iter)
        if as_json:
            emit_json(res)
            return
        emit(res, False)
        if res.coefficients:
            lines = res.summary().split("\n")
            first = next(i for i, line in enumerate(lines) if line.startswith("coefficients"))
            console.print("\n".join(lines[first:]))
        for key in ("gap", "deflation", "corr_lists"):
            if key in res.details:
                console.print(f"{key}: {res.details[key]:.4f}" + (f" (se {res.details[key + '_se']:.4f})" if key + "_se" in res.details else ""))
        if "assumptions" in res.details:
            console.print(f"assumptions: {res.details['assumptions']}")

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
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Test a list experiment for a design effect (Blair & Imai 2012)."""
        from .. import listexp

        df = load_data(data, [count, treat, weights, strata, psu])
        res = listexp.list_design_test(df, count, treat, items, weights=weights, strata=strata, psu=psu, alpha=alpha)
        if as_json:
            emit_json(res)
            return
        parts = res.categories or (res,)
        for r in parts:
            if r.label:
                console.print(r.label)
            console.print(f"{'type':<28} {'estimate':>9} {'se':>8}")
            for row in r.details["pi"]:
                name = f"π(y={row['y']}, sensitive={'yes' if row['sensitive'] else 'no'})"
                console.print(f"{name:<28} {row['estimate']:>9.4f} {row['se']:>8.4f}")
            console.print(f"Bonferroni-corrected p-value: {r.details['p_value']:.4g}")
            console.print(r.details["verdict"])

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
        if as_json:
            emit_json(res)
            return
        emit(res, False, title=f"split ballot — {var} by {ballot} (differences from ballot {res.details['reference']}, then shares)")
        t = res.details["tests"]
        console.print(f"Wald χ² = {t['wald']['statistic']:.2f} on {t['wald']['df']} df, p = {t['wald']['p_value']:.3g}; "
                      f"Rao–Scott χ² = {t['rao_scott']['second_order']:.2f} on {t['rao_scott']['df_second_order']:.2f} df, p = {t['rao_scott']['p_value']:.3g}")
        console.print(res.details["verdict"])
