"""The small-cell rule: no estimate from fewer than ``min_cell`` respondents leaves sottovoce.

Statistical agencies suppress table cells below a threshold so that no reader can single out a
respondent or a handful of them (Hundepool et al. 2012, *Statistical Disclosure Control*, ch. 5,
threshold rule). A study's ``[report] min_cell`` (default 30) is that threshold. The same rule
applies to every file a user may publish: ``results.json``, ``results.csv``, the report and its
charts, the terminal tables and ``--json``. :func:`publishable` applies it to the results
payload once; everything else is rendered from its output.

A suppressed estimate keeps what identifies it (question, group, level, label, method) and its
respondent count ``n`` (the count alone says nothing about anyone's answer), and gets
``"suppressed": true``; its estimate, standard error, interval and every derived figure are
removed. Unsuppressed figures are not written to any file: the analyst who needs them has the
microdata and gets them in Python (:attr:`sottovoce.pipeline.StudyResults.internal`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_MIN_CELL", "is_small", "publishable", "suppress"]

DEFAULT_MIN_CELL = 30
WITHHELD = "not estimated; the reason is withheld because it may quote the answers of fewer than min_cell respondents"
# What a suppressed entry keeps: identification and the respondent count, nothing estimated.
_KEEP = ("by", "level", "label", "code", "variable", "method", "n", "confidence", "status", "message", "message_withheld", "failed",
         "direct", "indirect", "indirect_type", "definition")


def is_small(r: Mapping[str, Any] | None, min_cell: int) -> bool:
    """True when an estimate rests on fewer than ``min_cell`` respondents (or an unknown number)."""
    if r is None:
        return True
    n = r.get("n")
    return n is None or int(n) < min_cell


def suppress(r: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with its figures removed: identification, ``n`` and ``suppressed: true``."""
    out = {k: r[k] for k in _KEEP if k in r}
    out.update(estimate=None, se=None, ci=None, suppressed=True)
    return out


def _result(r: Mapping[str, Any] | None, min_cell: int) -> Any:
    if not isinstance(r, Mapping):
        return r
    out = suppress(r) if r.get("estimate") is not None and is_small(r, min_cell) else dict(r)
    if (out.get("message") or out.get("failed")) and is_small(out, min_cell) and (out.get("status") == "failed" or out.get("failed")):
        # an estimator's message can quote the group's figures ("a prevalence of -0.250")
        out.update(message=None, message_withheld=True)
        if out.get("failed"):
            out["failed"] = WITHHELD
    if "groups" in r and not out.get("suppressed"):
        out["groups"] = [_result(g, min_cell) for g in r.get("groups") or []]
    return out


def publishable(data: Mapping[str, Any]) -> dict[str, Any]:
    """The results payload with the small-cell rule applied to every estimate it holds.

    Question results and direct − indirect comparisons are suppressed overall and per group;
    shares describing all respondents (item nonresponse, the nonresponse bounds and sensitivity
    curve) are removed when the whole sample is below ``min_cell``.
    """
    min_cell = int(data.get("min_cell", DEFAULT_MIN_CELL) or DEFAULT_MIN_CELL)
    out = copy.deepcopy(dict(data))
    n_all = out.get("n_respondents")
    whole_sample_small = n_all is not None and int(n_all) < min_cell
    for q in out.get("questions", []):
        if q.get("status") == "failed" and q.get("message") and whole_sample_small:
            q.update(message=None, message_withheld=True)
        if q.get("result"):
            q["result"] = _result(q["result"], min_cell)
        if is_small(q.get("result"), min_cell):  # figures derived from the same few answers go too
            for key in ("item_nonresponse", "design_test"):
                if q.get(key):
                    q[key] = None
    out["comparisons"] = [_result(c, min_cell) for c in out.get("comparisons", [])]
    nr = out.get("nonresponse")
    if isinstance(nr, dict) and whole_sample_small:
        for key in ("bounds", "sensitivity"):
            if key in nr:
                nr[key] = {"suppressed": True}
    return out
