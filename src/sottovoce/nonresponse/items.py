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
        gidx, raw_levels = pd.factorize(df[by], sort=True)
        raw_levels = np.asarray(raw_levels, dtype=object)
    else:
        gidx, raw_levels = np.zeros(len(df), dtype=np.int64), np.array([None], dtype=object)
    n_groups = len(raw_levels)
    # domain masks: column 0 is the whole sample, then one per group
    masks = np.column_stack([np.ones(len(df))] + ([(gidx == g).astype(float) for g in range(n_groups)] if by is not None else []))
    positive = w > 0

    def indicators(q: str) -> np.ndarray:
        col = df[q]
        m = col.isna().to_numpy()
        dk_ = col.isin(dk).to_numpy() & ~m
        rf_ = col.isin(rf).to_numpy() & ~m
        return np.column_stack([dk_, rf_, m, dk_ | rf_ | m]).astype(float)

    def question(q: str) -> list[Result]:
        ind = indicators(q)  # n x 4: hard to say, refused, missing, any
        W = w @ masks  # domain weight totals
        p = (masks * w[:, None]).T @ ind / np.where(W > 0, W, np.nan)[:, None]  # domains x 4
        # one design-covariance call per question: linearized domain ratio means of the three
        # kinds in every domain; the variance of their sum comes from the 3x3 blocks
        u = (masks[:, :, None] * (ind[:, None, :3] - np.nan_to_num(p[:, :3])[None, :, :]) / np.where(W > 0, W, 1)[None, :, None]).reshape(len(df), -1)
        cov = svy.cov_total(u)
        blocks = np.stack([cov[3 * j:3 * j + 3, 3 * j:3 * j + 3] for j in range(masks.shape[1])])
        var = np.column_stack([np.diagonal(blocks, axis1=1, axis2=2), blocks.sum(axis=(1, 2))])
        se = np.sqrt(np.clip(var, 0, None))
        counts = (masks.astype(bool) & positive[:, None]).sum(axis=0)
        out = []
        for d_ in range(masks.shape[1]):
            det: dict[str, Any] = {"is_share": True}
            for k, kind in enumerate(_KINDS):
                det[kind] = float(p[d_, k])
                det[f"se_{kind}"] = float(se[d_, k])
            lvl = None if d_ == 0 else raw_levels[d_ - 1]
            lo, hi = max(0.0, p[d_, 3] - z * se[d_, 3]), min(1.0, p[d_, 3] + z * se[d_, 3])
            out.append(Result(estimate=float(p[d_, 3]), se=float(se[d_, 3]), ci=(lo, hi), n=int(counts[d_]),
                              method="item-nonresponse", label=q, variable=q, by=by if d_ > 0 else None,
                              level=lvl, details=det, level_ci=level))
        return out

    per_q = [question(q) for q in qs]
    overall = tuple(rs[0] for rs in per_q)
    groups: tuple[Result, ...] = ()
    if by is not None:
        groups = tuple(
            Result(method="item-nonresponse", by=by, level=raw_levels[g], label=str(raw_levels[g]),
                   categories=tuple(rs[g + 1] for rs in per_q), details={"is_share": True})
            for g in range(n_groups)
        )
    return Result(method="item-nonresponse", categories=overall, groups=groups, n=svy.n, level_ci=level,
                  details={"is_share": True, "hard_to_say_codes": dk, "refused_codes": rf})
