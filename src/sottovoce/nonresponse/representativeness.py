"""How far the respondents are from the sample and from the population.

* **R-indicator** (Schouten, Cobben & Bethlehem 2009, *Survey Methodology* 35:101–113):
  ``R = 1 - 2·S(ρ̂)`` where ``ρ̂_i`` are response propensities of all sample units estimated by a
  logistic regression of the response indicator on frame variables, and ``S`` their (design
  weighted) standard deviation. ``R = 1`` is a perfectly representative response; the bound on the
  absolute standardized nonresponse bias of any mean is ``(1 - R)/(2·ρ̄)`` (their eq. 12).
  The logistic model is fitted by Newton–Raphson (IRLS) on the distinct covariate patterns.
* **Margin distance**: the dissimilarity index (total variation distance)
  ``½ Σ_k |sample share_k - population share_k|`` for each weighting margin, before and after
  weighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._results import Result
from ..errors import ConvergenceError, InputError

__all__ = ["fit_logistic", "r_indicator", "margin_distance"]


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Weighted logistic regression by Newton–Raphson; returns the coefficients.

    Rows are first collapsed to distinct covariate patterns (sums of weights and of weighted
    successes), so the cost per iteration is in patterns, not respondents.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    pats, inv = np.unique(X, axis=0, return_inverse=True)
    inv = inv.ravel()
    m = np.bincount(inv, weights=w, minlength=len(pats))
    s = np.bincount(inv, weights=w * y, minlength=len(pats))
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        eta = pats @ beta
        mu = 1 / (1 + np.exp(-eta))
        grad = pats.T @ (s - m * mu)
        H = (pats * (m * mu * (1 - mu))[:, None]).T @ pats
        try:
            step = np.linalg.solve(H + 1e-12 * np.eye(len(beta)), grad)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError("response propensity model is singular; drop a frame variable or merge rare categories") from exc
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            return beta
    if np.max(np.abs(beta)) > 25:
        raise ConvergenceError("response propensity model does not converge (a category where everyone or no one responds); merge rare categories")
    return beta


def _design_matrix(df: pd.DataFrame, columns: Sequence[str], full: pd.DataFrame | None = None) -> tuple[np.ndarray, list[str]]:
    full = df if full is None else full
    blocks, names = [np.ones((len(df), 1))], ["(Intercept)"]
    for c in columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col) and full[c].nunique() > 12:
            blocks.append(col.to_numpy(dtype=float)[:, None])
            names.append(c)
            continue
        levels, idx = np.unique(col.astype(str).to_numpy(), return_inverse=True)
        for k in range(1, len(levels)):
            blocks.append((idx == k).astype(float)[:, None])
            names.append(f"{c}[{levels[k]}]")
    return np.hstack(blocks), names


def r_indicator(
    data: Any,
    response: str,
    frame: Sequence[str],
    weights: str | None = None,
    disposition_codes: bool = False,
    include_partials: bool = False,
) -> Result:
    """R-indicator of Schouten, Cobben & Bethlehem (2009) from the sample's frame variables.

    ``response`` is a 0/1 (or boolean) column, or, with ``disposition_codes=True``, a column of
    AAPOR final disposition codes: completes (and partials if ``include_partials``) are
    respondents, not-eligible cases (4.x) are dropped, everything else is a nonrespondent.
    ``weights`` are design (inclusion) weights of the sample units.
    """
    from ..io import as_frame, require_columns
    from .aapor import _category, _normalise_code

    df = as_frame(data)
    require_columns(df, [response, *frame, weights])
    if disposition_codes:
        # classify each distinct code once, never row by row
        idx, uniq = pd.factorize(df[response])
        if (idx < 0).any():
            raise InputError(f"column '{response}': {int((idx < 0).sum())} cases have no disposition code")
        ucat = np.array([(_category(c) if (c := _normalise_code(v)) else None) for v in uniq], dtype=object)
        if any(c is None for c in ucat):
            bad = [str(v) for v, c in zip(uniq, ucat, strict=True) if c is None][:10]
            raise InputError(f"column '{response}': unknown AAPOR disposition codes {', '.join(bad)}")
        cats = ucat[idx]
        keep = cats != "NE"
        df = df.loc[keep]
        resp_cats = ["I", "P"] if include_partials else ["I"]
        y = np.isin(cats[keep], resp_cats).astype(float)
    else:
        vals = pd.to_numeric(df[response], errors="coerce")
        if vals.isna().any() or not vals.isin([0, 1]).all():
            raise InputError(f"column '{response}' must be 0/1 (1 = responded) for every sample unit; or pass disposition codes")
        y = vals.to_numpy(dtype=float)
    if y.min() == y.max():
        raise InputError(f"column '{response}': everyone (or no one) responded; the R-indicator needs both")
    d = np.ones(len(df)) if weights is None else pd.to_numeric(df[weights], errors="coerce").to_numpy(dtype=float)
    for c in frame:
        if df[c].isna().any():
            raise InputError(f"frame variable '{c}' has {int(df[c].isna().sum())} missing values; recode them as a category")
    # collapse the sample to cells of the frame variables: the model and S only need cell totals
    cell_id = df.groupby(list(frame), sort=True).ngroup().to_numpy()
    n_cells = int(cell_id.max()) + 1
    D = np.bincount(cell_id, weights=d, minlength=n_cells)
    Dy = np.bincount(cell_id, weights=d * y, minlength=n_cells)
    first = np.unique(cell_id, return_index=True)[1]
    cells = df.iloc[first].reset_index(drop=True)
    X, names = _design_matrix(cells, frame, df)
    beta = fit_logistic(X, Dy / D, D)
    rho_cell = 1 / (1 + np.exp(-(X @ beta)))
    N = d.sum()
    rbar = float(D @ rho_cell / N)
    S = float(np.sqrt(D @ (rho_cell - rbar) ** 2 / (N - 1)))
    R = 1 - 2 * S
    return Result(
        estimate=R, n=len(y), method="r-indicator", scale="statistic",
        coefficients={"propensity": {nm: {"coef": float(b)} for nm, b in zip(names, beta, strict=True)}},
        details={"sd_propensity": S, "mean_propensity": rbar, "cv_propensity": S / rbar,
                 "max_abs_standardized_bias": (1 - R) / (2 * rbar), "frame": list(frame)},
    )


def margin_distance(
    data: Any,
    margins: Any,
    weights_before: Any = None,
    weights_after: Any = None,
) -> pd.DataFrame:
    """Dissimilarity index per weighting margin, before and after weighting.

    ``margins`` is a margins file or mapping (see :func:`sottovoce.weighting.load_margins`);
    weights are column names, arrays or ``None`` (equal weights).
    """
    from ..io import as_frame, match_categories
    from ..weighting import load_margins

    df = as_frame(data)
    m = load_margins(margins)

    def wvec(wt: Any) -> np.ndarray:
        if wt is None:
            return np.ones(len(df))
        if isinstance(wt, str):
            if wt not in df.columns:
                raise InputError(f"weight column '{wt}' not found")
            return pd.to_numeric(df[wt], errors="coerce").fillna(0).to_numpy(dtype=float)
        return np.asarray(wt, dtype=float)

    rows = []
    for col, shares in m.items():
        if col not in df.columns:
            raise InputError(f"margins table [{col}] has no column '{col}' in the data")
        codes = match_categories(df, col, list(shares), where=f"margins [{col}]")
        pop = np.array([float(v) for v in shares.values()])
        row: dict[str, Any] = {"margin": col}
        for tag, wt in (("before", weights_before), ("after", weights_after)):
            if tag == "after" and wt is None:
                row[tag] = np.nan
                continue
            w = wvec(wt)
            tot = np.array([w[df[col].eq(codes[k]).to_numpy()].sum() for k in shares])
            samp = tot / w.sum()
            row[tag] = 0.5 * (np.abs(samp - pop).sum() + max(0.0, 1 - samp.sum()))
        rows.append(row)
    return pd.DataFrame(rows)


