"""Uncertain population targets: how much do estimates move with the margins they are weighted to?

Population margins for Russia are themselves uncertain (the 2010 and 2021 censuses differ, the
2021 census was partly filled from registers). :func:`alternative_targets` rakes the same sample
to each margin set (:func:`sottovoce.weighting.rake`) and reports each estimate under each set and
the spread (max − min) across sets, next to each estimate's design standard error, so a reader can
see whether the choice of targets matters more than sampling error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._results import Result
from ..errors import InputError

__all__ = ["alternative_targets"]


def alternative_targets(
    data: Any,
    variables: Sequence[str] | str,
    margin_sets: Mapping[str, Any],
    weights: str | None = None,
) -> Result:
    """Rake to each margin set in ``margin_sets`` ({name: margins file or mapping}) and compare.

    For every category of every variable: its weighted share under each set, the spread across
    sets, and the largest linearization SE (design of ``weights`` with the raked weights; the
    calibration gain is ignored, so the SE is conservative). Returns a :class:`Result` with one
    child per (variable, category) in ``categories`` and a ``table`` in ``details``.
    """
    from ..io import as_frame, require_columns
    from ..survey import Survey
    from ..weighting import load_margins, rake

    df = as_frame(data)
    vars_ = [variables] if isinstance(variables, str) else list(variables)
    require_columns(df, [*vars_, weights])
    if len(margin_sets) < 2:
        raise InputError("give at least two margin sets to compare (e.g. census 2010 and census 2021)")
    raked: dict[str, np.ndarray] = {}
    for name, m in margin_sets.items():
        raked[name] = rake(df, load_margins(m), weights=weights).to_numpy(dtype=float)
    rows: list[dict[str, Any]] = []
    children: list[Result] = []
    for v in vars_:
        col = df[v]
        cats = [c for c in pd.unique(col.dropna())]
        cats.sort(key=lambda c: str(c))
        ind = np.column_stack([col.eq(c).to_numpy(dtype=float) for c in cats])
        per_set: dict[str, np.ndarray] = {}
        ses: list[np.ndarray] = []
        for name, w in raked.items():
            W = w.sum()
            p = w @ ind / W
            per_set[name] = p
            svy = Survey(df.assign(_w_=w), weights="_w_")
            ses.append(np.sqrt(np.clip(np.diag(svy.cov_total((ind - p) / W)), 0, None)))
        se_max = np.max(np.vstack(ses), axis=0)
        allp = np.vstack(list(per_set.values()))
        spread = allp.max(axis=0) - allp.min(axis=0)
        for k, c in enumerate(cats):
            row = {"variable": v, "category": c, **{name: float(per_set[name][k]) for name in per_set},
                   "spread": float(spread[k]), "max_se": float(se_max[k]), "spread_over_se": float(spread[k] / se_max[k]) if se_max[k] > 0 else np.nan}
            rows.append(row)
            children.append(Result(estimate=float(allp[:, k].mean()), se=float(se_max[k]), label=str(c), code=c, variable=v,
                                   method="alternative-targets", scale="share", details={"by_margin_set": {n: float(per_set[n][k]) for n in per_set}, "spread": float(spread[k])}))
    table = pd.DataFrame(rows)
    return Result(method="alternative-targets", categories=tuple(children), n=len(df), scale="share",
                  details={"margin_sets": list(margin_sets), "max_spread": float(table["spread"].max()), "table": table.to_dict(orient="records")})
