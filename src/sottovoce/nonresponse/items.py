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
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    level: float = 0.95,
) -> Result:
    """Weighted shares of "hard to say" (codes ``hard_to_say``), refusals (``refused``) and missing
    values (break-offs, skipped) for each question, overall and by ``by``.

    Returns a :class:`Result` whose ``categories`` hold one result per question (``estimate`` =
    total item nonresponse share, ``details`` the three parts with their SEs) and whose ``groups``
    hold the same per level of ``by`` (:func:`sottovoce.subgroups.estimate_by`). ``data`` may be a
    :class:`~sottovoce.survey.Survey`. Intervals: Wilson with the design's effective sample size
    and degrees of freedom (a direct share; :func:`sottovoce.intervals.interval`).
    """
    from ..io import require_columns
    from ..subgroups import estimate_by
    from ..survey import as_survey
    from ..validate import check_level

    check_level(level)
    qs = [questions] if isinstance(questions, str) else list(questions)
    if not qs:
        raise InputError("name at least one question column")
    bad = [q for q in qs if not isinstance(q, str)]
    if bad:
        raise InputError(f"questions= must be column names, not {type(bad[0]).__name__}")
    svy = as_survey(data, weights, strata, psu)
    df = svy.data
    require_columns(df, [*qs, by])
    dk, rf = _as_set(hard_to_say), _as_set(refused)
    ind = {q: _indicators(df[q], dk, rf) for q in qs}

    def fit(s: Any) -> Result:
        per_q = tuple(_question(q, ind[q], s, level) for q in qs)
        return Result(method="item-nonresponse", categories=per_q, n=s.n, level_ci=level, scale="share")

    top = fit(svy).with_(details={"hard_to_say_codes": dk, "refused_codes": rf})
    if by is None:
        return top
    groups, notes = estimate_by(svy, by, lambda dom, lev: fit(dom))
    return top.with_(by=by, groups=groups, warnings=tuple(notes))


def _indicators(col: pd.Series, dk: list[Any], rf: list[Any]) -> np.ndarray:
    """n × 4: hard to say, refused, missing, any of them."""
    m = col.isna().to_numpy()
    dk_ = col.isin(dk).to_numpy() & ~m
    rf_ = col.isin(rf).to_numpy() & ~m
    return np.column_stack([dk_, rf_, m, dk_ | rf_ | m]).astype(float)


def _question(q: str, ind: np.ndarray, svy: Any, level: float) -> Result:
    """The three kinds of item nonresponse and their total in ``svy`` (a design or a domain):
    weighted ratio means with linearization ``u = (1{·} − p)/Σw`` through ``cov_total``."""
    from ..intervals import design_df

    w = svy.weights
    W = float(w.sum())
    p = (w @ ind) / W
    u = (ind[:, :3] - p[:3]) / W
    cov = svy.cov_total(u)
    var = np.r_[np.diag(cov), cov.sum()]
    se = np.sqrt(np.clip(var, 0, None))
    det: dict[str, Any] = {}
    for k, kind in enumerate(_KINDS):
        det[kind] = float(p[k])
        det[f"se_{kind}"] = float(se[k])
    return Result.from_estimate(float(p[3]), float(se[3]), scale="share", df=design_df(svy), level=level, ci="wilson",
                                n=svy.n, method="item-nonresponse", label=q, variable=q, details=det)
