"""Logistic regression of a sensitive trait measured by randomized response.

Blair, Imai & Zhou (2015, JASA 110:1304-1319, §3) model P(trait | x) = g(x) = logit⁻¹(x'β); the
observed answer then has P(yes | x) = c·g(x) + d, with c = b and d = a of the design, and β is
estimated by maximum likelihood,
    ℓ(β) = Σ wᵢ [ yᵢ log(c gᵢ + d) + (1 − yᵢ) log(1 − c gᵢ − d) ].
We maximise it by Fisher scoring with step halving (the EM of the R package ``rr`` reaches the
same maximum, more slowly). Standard errors:

* without survey design (no weights, strata or PSUs) exactly as ``rr::rrreg``: the inverse of
  the outer product of the per-respondent scores, (Σ sᵢsᵢ')⁻¹;
* with a design, the linearization (sandwich) variance: β̂ − β ≈ Σ wᵢ H⁻¹sᵢ with H the
  observed information, through :meth:`Survey.cov_total` (Binder 1983). ``rrreg`` has no
  weights argument; with equal weights and no design it is used above.

Rows with a missing response or covariate are dropped (``rrreg``'s ``na.omit``). The predicted
prevalence is the (weighted) mean of g(xᵢ) over the sample, ``predict.rrreg(avg = TRUE)``,
with a delta-method standard error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix
from scipy.special import expit

from .._results import Result
from ..errors import ConvergenceError, InputError
from ..intervals import NORMAL, design_df
from ..marginal import attach_index_model
from ..subgroups import estimate_by
from ..survey import Survey, as_survey
from ..validate import check_column, check_level
from .designs import RRDesign, make_design
from .moments import binary_column

__all__ = ["rr_regression"]


def _design_matrix(df: pd.DataFrame, response: str, covariates: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Model matrix of ``covariates`` (a formula right-hand side) and the rows it keeps."""
    rhs = covariates.strip() or "1"
    if "~" in rhs:
        rhs = rhs.split("~", 1)[1]
    try:
        mm = model_matrix(rhs, df, na_action="drop")
    except Exception as exc:  # formulaic raises several types for bad formulas / missing columns
        raise InputError(f"covariates '{covariates}': {' '.join(str(exc).split())}; write them like \"age + C(region)\"") from exc
    keep = np.zeros(len(df), dtype=bool)
    keep[df.index.get_indexer(mm.index)] = True
    names = ["(Intercept)" if c == "Intercept" else str(c) for c in mm.columns]
    return np.asarray(mm, dtype=float), names, keep


def _loglik(beta: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, d: float) -> float:
    h = c * expit(X @ beta) + d
    return float(np.sum(w * (y * np.log(h) + (1 - y) * np.log1p(-h))))


def _score_parts(beta: np.ndarray, X: np.ndarray, y: np.ndarray, c: float, d: float) -> tuple[np.ndarray, ...]:
    g = expit(X @ beta)
    h = c * g + d
    dh = c * g * (1 - g)  # dh/dη
    r = y / h - (1 - y) / (1 - h)  # dℓ/dh
    return g, h, dh, r


def fit_rr_logit(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, d: float, *, tol: float = 1e-10, max_iter: int = 500
) -> tuple[np.ndarray, int, float]:
    """ML fit of P(yes) = c·logit⁻¹(Xβ) + d by Fisher scoring with step halving."""
    beta = np.zeros(X.shape[1])
    # start the intercept at the moment estimate so the first steps are sensible
    lam = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    pi0 = np.clip((lam - d) / c, 0.05, 0.95)
    intercept = np.flatnonzero(np.all(X == 1, axis=0))
    if intercept.size:
        beta[intercept[0]] = np.log(pi0 / (1 - pi0))
    ll = _loglik(beta, X, y, w, c, d)
    for it in range(1, max_iter + 1):
        g, h, dh, r = _score_parts(beta, X, y, c, d)
        grad = X.T @ (w * r * dh)
        info = (X * (w * dh**2 / (h * (1 - h)))[:, None]).T @ X  # expected information
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError as exc:
            raise InputError("covariates are collinear (the model matrix is singular); drop a redundant term") from exc
        t = 1.0
        while True:
            new = beta + t * step
            new_ll = _loglik(new, X, y, w, c, d)
            if np.isfinite(new_ll) and new_ll >= ll - 1e-12:
                break
            t /= 2
            if t < 1e-10:
                raise ConvergenceError("randomized-response regression: no step improves the likelihood; check the design probabilities and covariates")
        beta, ll = new, new_ll
        if np.max(np.abs(t * step)) < tol:
            return beta, it, ll
    raise ConvergenceError(
        f"randomized-response regression did not converge in {max_iter} iterations (coefficients drifting to infinity?); "
        "simplify the covariates or merge sparse categories"
    )


def rr_regression(
    data: Any,
    response: str,
    covariates: str,
    design: str | RRDesign,
    *,
    p: float | None = None,
    p1: float | None = None,
    p0: float | None = None,
    q: float | None = None,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    by: str | None = None,
    level: float = 0.95,
) -> Result:
    """Logistic regression of the sensitive trait on covariates (Blair, Imai & Zhou 2015).

    ``covariates`` is a formula right-hand side (``"age + C(region)"``, formulaic syntax); the
    coefficients are reported as ``coefficients["sensitive"][term] = {"coef", "se"}`` with R's
    intercept name ``(Intercept)``. Without weights, strata and PSUs the estimates and standard
    errors are those of ``rr::rrreg``; the design names map as in ``design.rr_name``
    (Warner → ``mirrored``, crosswise → ``mirrored`` with p = q).

    ``by``: the regression is also refitted in each level of this column, a domain of the design
    (the level's respondents; design-based SEs on the full design, as R's ``svyby`` with
    ``svyglm``), one result per level under ``groups``; a level whose fit fails (too few
    respondents for the coefficients, a covariate constant there, no convergence) is a failed
    group with the reason while the others stand.
    """
    check_column(response, "response", allow_none=False)
    check_column(by, "by")
    if not isinstance(covariates, str):
        raise InputError(f"covariates={covariates!r} must be a formula right-hand side (a str), e.g. \"age + C(region)\"")
    check_level(level)
    dsg = make_design(design, p=p, p1=p1, p0=p0, q=q)
    has_design = isinstance(data, Survey) or any(v is not None for v in (weights, strata, psu))
    svy = as_survey(data, weights, strata, psu)
    df = svy.data
    if response not in df.columns:
        raise InputError(f"response column '{response}' not found; columns are: {', '.join(map(str, df.columns[:20]))}")
    y_all = binary_column(df, response)
    X, names, keep = _design_matrix(df.reset_index(drop=True), response, covariates)
    keep_y = np.isfinite(y_all)
    rows = keep & keep_y
    # model_matrix rows are the complete cases of the covariates; align with the response
    X = X[keep_y[keep]]

    def fit(s: Survey) -> Result:
        inside = s.domain_mask()[rows]  # the domain's rows among the complete ones
        return rr_logit(
            X[inside], y_all[rows][inside], dsg, names=names, weights=s.weights[rows][inside], survey=s if has_design else None,
            survey_rows=np.flatnonzero(rows)[inside], level=level, variable=response, formula=f"{response} ~ {covariates}", frame=df,
        )

    top = fit(svy)
    if by is None:
        return top
    groups, notes = estimate_by(svy, by, lambda dom, lev: fit(dom))
    note = (f"by {by}: the regression is refitted in each group (the group's respondents; "
            + ("design-based standard errors on the full design, as R's svyby with svyglm" if has_design else "rrreg's standard errors of the group's fit")
            + "), so each group has its own coefficients")
    out = top.with_(by=by, groups=groups, notes=(*top.notes, note), warnings=tuple(dict.fromkeys((*top.warnings, *notes))))
    index = getattr(top, "_index_model", None)
    if index is not None:  # with_ makes a copy without the margins model: keep the overall one
        object.__setattr__(out, "_index_model", index)
    return out


def rr_logit(
    X: np.ndarray,
    y: np.ndarray,
    design: RRDesign,
    *,
    names: list[str] | None = None,
    weights: np.ndarray | None = None,
    survey: Survey | None = None,
    survey_rows: np.ndarray | None = None,
    level: float = 0.95,
    variable: str | None = None,
    formula: str | None = None,
    frame: pd.DataFrame | None = None,
) -> Result:
    """The regression on a ready model matrix ``X`` (n×k) and 0/1 answers ``y`` (no missing).

    ``survey`` (with ``survey_rows``, the rows of the survey's data that ``X`` holds) switches to
    design-based standard errors; without it the standard errors are rrreg's. ``frame`` (the data
    whose rows ``survey_rows`` count, with ``formula``) enables :mod:`sottovoce.marginal`.
    """
    names = names or [f"x{j}" for j in range(X.shape[1])]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    pos = w > 0
    if pos.sum() <= X.shape[1]:
        raise InputError(f"randomized-response regression: {int(pos.sum())} complete rows for {X.shape[1]} coefficients")
    rank = np.linalg.matrix_rank(X[pos])
    if rank < X.shape[1]:
        raise InputError(
            f"the covariates {', '.join(names)} are collinear (rank {rank} of {X.shape[1]} terms): "
            "drop a redundant term or a constant column"
        )
    c, d = design.b, design.a
    beta, iters, ll = fit_rr_logit(X[pos], y[pos], w[pos], c, d)

    g, h, dh, r = _score_parts(beta, X, y, c, d)
    scores = (r * dh)[:, None] * X  # per-respondent score sᵢ
    if survey is not None:
        # observed information: −Σ wᵢ ∂²ℓᵢ/∂β∂β'
        d2h = dh * (1 - 2 * g)
        curv = r * d2h - dh**2 * (y / h**2 + (1 - y) / (1 - h) ** 2)
        H = -(X * (w * curv)[:, None]).T @ X
        u = np.zeros((len(survey.weights), X.shape[1]))
        u[np.arange(len(y)) if survey_rows is None else survey_rows] = scores @ np.linalg.inv(H)
        vcov = survey.cov_total(u)
        se_method = "design-based linearization (sandwich)"
    else:
        vcov = np.linalg.inv(scores[pos].T @ scores[pos])
        se_method = "outer product of scores, as rr::rrreg"
    se = np.sqrt(np.diag(vcov))

    # average predicted prevalence, predict.rrreg(avg = TRUE), delta-method SE
    wp = w / w.sum()
    pred = float(wp @ g)
    grad = (wp * g * (1 - g)) @ X
    pred_se = float(np.sqrt(grad @ vcov @ grad))
    coefs = {"sensitive": {nm: {"coef": float(b_), "se": float(s_)} for nm, b_, s_ in zip(names, beta, se, strict=True)}}
    # the average prediction is a share: t on its effective df from the coefficients' influence
    # (issue 17; normal without a design)
    dof = design_df(survey, u @ grad) if survey is not None else NORMAL
    result = Result.from_estimate(
        pred,
        pred_se,
        scale="share",
        df=dof,
        level=level,
        n=int(pos.sum()),
        method=f"rr-{design.name}-logit",
        variable=variable,
        coefficients=coefs,
        stats={"formula": formula, "loglik": ll, "iterations": iters, "converged": True, "se_method": se_method},
        notes=(f"estimate: the average predicted prevalence (rr::predict.rrreg(avg = TRUE)); {design.name} design",),
        details={
            "is_share": True,
            "design": design.describe(),
            "formula": formula,
            "vcov": vcov,
            "terms": names,
            "loglik": ll,
            "iterations": iters,
            "se_method": se_method,
        },
    )
    if frame is not None and formula is not None:  # predictive margins (sottovoce.marginal)
        attach_index_model(result, frame=frame, covariates=formula, beta=beta, vcov=vcov, link="logit",
                           rows=np.arange(len(y)) if survey_rows is None else survey_rows, weights=w,
                           survey=survey, influence=u if survey is not None else None)
    return result
