"""``sottovoce regress``: design-based GLMs (R's ``svyglm``) with tests, odds ratios and margins."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import InputError
from ._common import (
    JSON_OPTION,
    PSU_OPTION,
    STRATA_OPTION,
    WEIGHTS_OPTION,
    emit,
    emit_json,
    load_data,
    result_warnings_only,
    warn,
)


def register(app: typer.Typer) -> None:
    app.command("regress")(regress)


def _columns(spec: str | None) -> list[str] | str | None:
    """``"dnum,snum"`` or ``"dnum + snum"``: the stages of a multistage design."""
    if spec is None:
        return None
    parts = [p.strip() for p in spec.replace("+", ",").split(",") if p.strip()]
    return parts[0] if len(parts) == 1 else parts


def regress(
    data: Path = typer.Argument(..., help="Data file (.csv .tsv .parquet .sav .dta .xlsx)."),  # noqa: B008
    formula: str = typer.Option(..., "--formula", help="Model, e.g. \"support ~ age + C(region)\"; the outcome may be an expression: \"I(q == 1) ~ age\"."),
    family: str = typer.Option("gaussian", "--family", help="gaussian, binomial, quasibinomial, poisson or quasipoisson."),
    weights: str | None = WEIGHTS_OPTION,
    strata: str | None = STRATA_OPTION,
    psu: str | None = PSU_OPTION,
    fpc: str | None = typer.Option(None, "--fpc", help="Population PSU counts per stratum (or sampling fractions); \"N1,N2\" for two stages with --psu \"psu,ssu\"."),
    margins: Path | None = typer.Option(None, "--margins", help="Population margins (TOML): rake first; SEs then account for the raking."),  # noqa: B008
    subset: str | None = typer.Option(None, "--subset", help="Fit in a domain, e.g. \"age >= 18 & region == 'Moscow'\" (SEs keep the full design)."),
    test: list[str] = typer.Option([], "--test", help="Wald test (R's regTermTest) that these terms are zero, e.g. \"C(region)\" or \"age + educ\"; repeatable."),  # noqa: B008
    predict_by: str | None = typer.Option(None, "--predict-by", help="Predictive margins: the average prediction in each level of this column."),
    predict_at: str | None = typer.Option(None, "--predict-at", help="Predictive margins with everybody set to each level of this model variable."),
    effects: bool = typer.Option(False, "--effects", help="Average marginal effects of every variable."),
    level: float = typer.Option(0.95, "--level", help="Confidence level."),
    lonely_psu: str = typer.Option("adjust", "--lonely-psu", help="Strata with one PSU: adjust, remove, certainty or fail."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Design-based regression (svyglm): coefficients with design SEs, tests, odds ratios, margins."""
    from ..glm import FAMILIES  # numerical imports only when the command runs (start-up of --help)
    from ..survey import LONELY_PSU, Survey

    if family not in FAMILIES:
        raise InputError(f"--family '{family}' is not one of {', '.join(FAMILIES)}")
    if lonely_psu not in LONELY_PSU:
        raise InputError(f"--lonely-psu '{lonely_psu}' is not one of {', '.join(LONELY_PSU)}")
    if not 0 < level < 1:
        raise InputError(f"--level {level} must be between 0 and 1 (e.g. 0.95)")
    psu_cols, fpc_cols = _columns(psu), _columns(fpc)
    listed = [c for c in ([psu_cols] if isinstance(psu_cols, str) else (psu_cols or []))]
    listed += [c for c in ([fpc_cols] if isinstance(fpc_cols, str) else (fpc_cols or []))]
    df = load_data(data, [weights, strata, *listed])
    df.attrs.setdefault("source", str(data))
    svy = Survey(df, weights=weights, strata=strata, psu=psu_cols, fpc=fpc_cols, lonely_psu=lonely_psu)  # type: ignore[arg-type]
    if margins is not None:
        svy = svy.rake(margins)
    if subset:
        svy = svy.subset(subset)
    with result_warnings_only():  # the results carry their warnings; printed once below
        fit = svy.glm(formula, family=family, level=level).with_tests(*test)
        pm = fit.margins(at=predict_at, by=predict_by) if (predict_by or predict_at) else None
        ame = fit.marginal_effects() if effects else None
    if as_json:
        out = fit.to_dict()
        out["data_file"] = str(data)
        if subset:
            out["subset"] = subset
        if pm is not None:
            out["predictive_margins"] = pm.to_dict()
        if ame is not None:
            out["marginal_effects"] = ame.to_dict()
        emit_json(out)
        warn(fit.warnings)
        return
    emit(fit, False)
    for block in (pm, ame):
        if block is not None:
            emit(block, False)
