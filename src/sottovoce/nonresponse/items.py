"""Item nonresponse: how many respondents said "hard to say", refused, or broke off before a question.

Shares are weighted (``Σ w_i 1{i did not answer} / Σ w_i``) with design-based standard errors
from the linearization of a ratio mean, ``u_i = (1{·}_i - p)/Σ w`` passed to
:meth:`sottovoce.survey.Survey.cov_total` (Lumley 2010, *Complex Surveys*, §2.3). Subgroup
shares are domain estimates: the variance keeps the full design.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._results import Result
from ..errors import InputError

__all__ = ["item_nonresponse"]

_KINDS = ("hard_to_say", "refused", "missing")


def _as_set(codes: Any) -> list[Any]:
    if codes is None:
        return []
    if isinstance(codes, (str, bytes)) or not isinstance(codes, Iterable):
        return [codes]
    return list(codes)


def item_nonresponse(
    data: Any,
    questions: Sequence[str] | str,
    hard_to_say: Any = None,
    refused: Any = None,
    by: str | None = None,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    level: float = 0.95,
) -> Result:
    """Weighted shares of "hard to say" (codes ``hard_to_say``), refusals (``refused``) and missing
    values (break-offs, skipped) for each question, overall and by ``by``.

    Returns a :class:`Result` whose ``categories`` hold one result per question (``estimate`` =
    total item nonresponse share, ``details`` the three parts with their SEs) and whose ``groups``
    hold the same per level of ``by``.
    """
    from ..io import as_frame, require_columns
    from ..survey import Survey

    df = as_frame(data)
    qs = [questions] if isinstance(questions, str) else list(questions)
    if not qs:
        raise InputError("name at least one question column")
    require_columns(df, [*qs, by])
    svy = Survey(df, weights=weights, strata=strata, psu=psu)
    w = svy.weights
    dk, rf = _as_set(hard_to_say), _as_set(refused)
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    if by is not None:
        if df[by].isna().any():
            raise InputError(f"column '{by}' has {int(df[by].isna().sum())} missing values; recode them before grouping")
        levels, gidx = np.unique(df[by].astype(str).to_numpy(), return_inverse=True)
        raw_levels = pd.Series(df[by].to_numpy()).groupby(gidx).first().to_numpy()
    else:
        levels, gidx, raw_levels = np.array(["all"]), np.zeros(len(df), dtype=np.int64), np.array([None])

    def indicators(q: str) -> np.ndarray:
        col = df[q]
        m = col.isna().to_numpy()
        return np.column_stack([col.isin(dk).to_numpy() & ~m, col.isin(rf).to_numpy() & ~m, m]).astype(float)

    def shares(ind: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # columns: the three kinds and their sum; domain ratio means with full-design variance
        full = np.column_stack([ind, ind.sum(axis=1)])
        wm = w * mask
        W = wm.sum()
        if W <= 0:
            nan = np.full(4, np.nan)
            return nan, nan, nan
        p = wm @ full / W
        u = mask[:, None] * (full - p) / W
        se = np.sqrt(np.clip(np.diag(svy.cov_total(u)), 0, None))
        return p, se, np.array([int(((w > 0) & mask.astype(bool)).sum())] * 4)

    def one(q: str, ind: np.ndarray, mask: np.ndarray, lvl: Any = None) -> Result:
        p, se, n = shares(ind, mask)
        det: dict[str, Any] = {"is_share": True}
        for k, kind in enumerate(_KINDS):
            det[kind] = p[k]
            det[f"se_{kind}"] = se[k]
        lo, hi = max(0.0, p[3] - z * se[3]), min(1.0, p[3] + z * se[3])
        return Result(estimate=p[3], se=se[3], ci=(lo, hi), n=int(n[0]), method="item-nonresponse",
                      label=q, variable=q, by=by if lvl is not None else None, level=lvl, details=det, level_ci=level)

    inds = {q: indicators(q) for q in qs}
    overall = tuple(one(q, inds[q], np.ones(len(df))) for q in qs)
    groups: tuple[Result, ...] = ()
    if by is not None:
        groups = tuple(
            Result(method="item-nonresponse", by=by, level=raw_levels[g], label=str(levels[g]),
                   categories=tuple(one(q, inds[q], (gidx == g).astype(float), raw_levels[g]) for q in qs),
                   details={"is_share": True})
            for g in range(len(levels))
        )
    return Result(method="item-nonresponse", categories=overall, groups=groups, n=svy.n, level_ci=level,
                  details={"is_share": True, "hard_to_say_codes": dk, "refused_codes": rf})
