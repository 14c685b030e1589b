"""Split-ballot experiments: answer shares by randomized ballot and their differences.

Respondents are randomized to ballots (question wordings or orders). For each answer ``k`` and
ballot ``b`` we estimate the weighted share ``p_bk`` (a ratio estimator per ballot domain) and
the difference from the reference ballot, ``p_bk − p_1k``, with linearization variances through
:meth:`Survey.cov_total` (domain influence ``u_i = 1[b_i = b] (1[y_i = k] − p_bk) / W_b``).

Joint test that the answer distribution does not depend on the ballot:

* ``wald`` — design-based Wald test of all ``(B − 1)(K − 1)`` differences,
  ``X² = dᵀ V⁻ d`` on ``rank(V)`` degrees of freedom;
* ``rao_scott`` — the Pearson statistic of the weighted table corrected for the design
  (Rao & Scott 1984): first order ``X²_P / δ̄`` and second order (Satterthwaite) ``X²_P /
  (δ̄ (1 + a²))`` on ``df / (1 + a²)`` degrees of freedom, with ``δ`` the generalized design
  effects (eigenvalues of ``V_srs⁻¹ V``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._results import Result
from ..errors import DesignError, InputError
from ..intervals import design_dfs
from ..io import category_label, require_columns
from ..subgroups import clean_code as _clean
from ..survey import Survey, as_survey, design_columns
from ..validate import check_column, check_level

__all__ = ["split_ballot"]


def as_survey_frame(data: Any) -> Any:
    """The table behind ``data`` (pandas; polars and other tables converted)."""
    from ..io import as_frame

    return as_frame(data)


def split_ballot(
    data: Any,
    variable: str,
    ballot: str,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    reference: Any = None,
    level: float = 0.95,
) -> Result:
    """Compare the answers to ``variable`` across the ballots in ``ballot``.

    Respondents with a missing answer or ballot are dropped (a warning says how many). The
    result's ``categories`` hold, per answer, the difference from the reference ballot (the
    lowest code unless ``reference`` is given); ``groups`` hold each ballot's shares.
    """
    check_level(level)
    check_column(variable, "variable", allow_none=False)
    check_column(ballot, "ballot", allow_none=False)
    if isinstance(data, Survey):
        svy = as_survey(data, weights, strata, psu)
        df = svy.data
    else:
        df, (weights, strata, psu) = design_columns(as_survey_frame(data), weights=weights, strata=strata, psu=psu)
        svy = None
    require_columns(df, [variable, ballot])
    keep = (df[variable].notna() & df[ballot].notna()).to_numpy()
    warn = []
    if not keep.all():
        warn.append(f"{int((~keep).sum())} respondents without an answer to '{variable}' or a ballot in '{ballot}' were left out")
    if svy is None:  # a table: drop those rows; a Survey: keep its design and take the domain
        df = df.loc[keep]
        svy = as_survey(df, weights, strata, psu)
    else:
        svy = svy.domain(keep)
        df = svy.data
    w = svy.weights
    yv = df[variable].to_numpy()
    bv = df[ballot].to_numpy()
    cats = sorted(pd.unique(yv[w > 0]), key=lambda v: (str(type(v)), v))
    balls = sorted(pd.unique(bv[w > 0]), key=lambda v: (str(type(v)), v))
    if len(balls) < 2:
        raise DesignError(f"ballot column '{ballot}' has a single ballot ({balls[0] if balls else 'none'}); a split-ballot comparison needs two or more")
    if reference is not None:
        matches = [b for b in balls if str(b) == str(reference) or (_num(b) is not None and _num(b) == _num(reference))]
        if not matches:
            raise InputError(f"reference ballot {reference!r} is not among the ballots of '{ballot}' ({', '.join(map(str, balls))})")
        ref = matches[0]
    else:
        ref = balls[0]
    others = [b for b in balls if b != ref]
    K = len(cats)
    Y = (yv[:, None] == np.array(cats, dtype=object)[None, :]).astype(float)
    shares, infl, nb = {}, {}, {}
    for b in balls:
        m = bv == b
        Wb = w[m].sum()
        if Wb <= 0 or (m & (w > 0)).sum() < 2:
            raise DesignError(f"ballot {b} of '{ballot}' has fewer than 2 respondents with a positive weight")
        p = (w[m] @ Y[m]) / Wb
        shares[b] = p
        infl[b] = np.where(m[:, None], (Y - p) / Wb, 0.0)
        nb[b] = int((m & (w > 0)).sum())
    # all shares and all differences, one covariance
    U_sh = np.hstack([infl[b] for b in balls])
    V_sh = svy.cov_total(U_sh)
    se_sh = np.sqrt(np.maximum(np.diag(V_sh), 0)).reshape(len(balls), K)
    U_d = np.hstack([infl[b] - infl[ref] for b in others])
    V_d = svy.cov_total(U_d)
    d = np.concatenate([shares[b] - shares[ref] for b in others])
    se_d = np.sqrt(np.maximum(np.diag(V_d), 0))
    # joint tests on K-1 answers per contrast (the shares sum to one)
    sub = np.concatenate([np.arange(K - 1) + j * K for j in range(len(others))])
    dd, VV = d[sub], V_d[np.ix_(sub, sub)]
    rank = int(np.linalg.matrix_rank(VV, tol=1e-12 * max(np.abs(VV).max(), 1e-300)))
    wald = float(dd @ np.linalg.pinv(VV, rcond=1e-10) @ dd)
    n = int((w > 0).sum())
    pooled = sum(shares[b] * w[bv == b].sum() for b in balls) / w.sum()
    P = (np.diag(pooled) - np.outer(pooled, pooled))[: K - 1, : K - 1]
    Vsrs = np.kron(np.full((len(others), len(others)), 1.0 / nb[ref]) + np.diag([1.0 / nb[b] for b in others]), P)
    pearson = float(dd @ np.linalg.pinv(Vsrs, rcond=1e-10) @ dd)
    df_ = (K - 1) * len(others)
    delta = np.real(np.linalg.eigvals(np.linalg.pinv(Vsrs, rcond=1e-10) @ VV))
    delta = delta[np.argsort(-delta)][:df_]
    dbar = float(delta.mean()) if df_ else np.nan
    a2 = float(delta.var() / dbar ** 2) if df_ and dbar > 0 else 0.0
    rs1 = pearson / dbar if dbar > 0 else np.nan
    rs2, df2 = pearson / (dbar * (1 + a2)), df_ / (1 + a2)
    label = lambda code: category_label(df, variable, code)  # noqa: E731
    blabel = lambda code: category_label(df, ballot, code)  # noqa: E731
    # each share's and each difference's own effective df (issue 17)
    dof_sh, dof_d = design_dfs(svy, U_sh), design_dfs(svy, U_d)
    diff_cats = []
    for j, b in enumerate(others):
        for k, c in enumerate(cats):
            i = j * K + k
            diff_cats.append(Result.from_estimate(
                float(d[i]), float(se_d[i]), scale="share-difference", df=dof_d[i], level=level, n=nb[b] + nb[ref],
                method="split-ballot-difference", code=_clean(c),
                label=label(c) if len(others) == 1 else f"{label(c) or c} (ballot {b} − {ref})",
                details={"ballot": _clean(b), "reference": _clean(ref)}))
    groups = []
    for i, b in enumerate(balls):
        # Wilson with the design's effective sample size: an answer a wording did not offer (share
        # 0) still gets a real one-sided interval, not [0, 0]
        bc = tuple(Result.from_estimate(float(shares[b][k]), float(se_sh[i, k]), scale="share", df=dof_sh[i * K + k], level=level, ci="wilson",
                                        n=nb[b], method="share", code=_clean(c), label=label(c)) for k, c in enumerate(cats))
        groups.append(Result(n=nb[b], method="share", by=ballot, level=_clean(b), label=blabel(b), categories=bc, level_ci=level,
                             scale="share", details={"weight_total": float(w[bv == b].sum())}))
    p_wald = float(stats.chi2.sf(wald, rank)) if rank else None
    p = float(stats.chi2.sf(rs2, df2))
    tests: dict[str, Any] = {
        "wald": {"name": "design-based Wald", "statistic_name": "χ²", "statistic": wald, "df": rank, "p_value": p_wald},
        "rao_scott": {"name": "Rao–Scott (second order)", "statistic_name": "χ²", "statistic": rs2, "df": df2, "p_value": p,
                      "pearson": pearson, "mean_deff": dbar, "second_order": rs2, "df_second_order": df2,
                      "first_order": rs1, "df_first_order": df_, "p_value_first_order": float(stats.chi2.sf(rs1, df_))},
    }
    verdict = (f"the answers differ between ballots (Rao–Scott p = {p:.3g})" if p < 1 - level else f"no significant difference between ballots (Rao–Scott p = {p:.3g})")
    return Result(method="split-ballot", n=n, variable=variable, by=ballot, categories=tuple(diff_cats), groups=tuple(groups), level_ci=level,
                  scale="share-difference", hypothesis_tests=tests,
                  notes=(f"differences from ballot {_clean(ref)}, then each ballot's shares", verdict),
                  details={"reference": _clean(ref), "verdict": verdict}, warnings=tuple(warn))


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
