"""Split-ballot comparisons of worded questions (``wording_by`` in the study file), for the report
and the terminal: each arm's share of the ``yes`` answers with its interval, and the test that the
answers differ between arms (Rao–Scott; see :func:`sottovoce.split_ballot`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .text import pick

__all__ = ["split_rows", "SPLIT_TEXT"]

SPLIT_TEXT = {
    "en": {"title": "Split-ballot comparison (weighted), %", "question": "question", "arm": "arm", "yes": "yes %",
           "ci": "95% CI", "base": "weighted base", "n": "n",
           "test": "Answers differ between the arms of “{q}”: Rao–Scott χ² = {x}, p {p}.",
           "same": "No evidence that the answers to “{q}” differ between the arms (Rao–Scott p {p})."},
    "ru": {"title": "Сравнение формулировок (взвешено), %", "question": "вопрос", "arm": "вариант", "yes": "да, %",
           "ci": "95% ДИ", "base": "взвеш. база", "n": "n",
           "test": "Ответы на «{q}» различаются между вариантами: χ² Рао–Скотта = {x}, p {p}.",
           "same": "Нет свидетельств, что ответы на «{q}» различаются между вариантами (p Рао–Скотта {p})."},
}


def _fmt(x: float, lang: str) -> str:
    s = f"{100 * x:.1f}"
    return s.replace(".", ",") if lang == "ru" else s


def split_rows(results: Mapping[str, Any], lang: str) -> tuple[list[dict[str, str]], list[str]]:
    """Rows (question, arm, yes %, CI, weighted base, n) and one sentence per question on the test."""
    rows: list[dict[str, str]] = []
    notes: list[str] = []
    T = SPLIT_TEXT[lang]
    for q in results.get("questions", []):
        sp = q.get("split") or {}
        if sp.get("status") != "done":
            continue
        res = sp["result"]
        yes = {str(c) for c in sp.get("yes", [])}
        labels = sp.get("labels") or {}
        for g in res.get("groups", []):
            cats = [c for c in g.get("categories", []) if str(c.get("code")) in yes]
            share = sum(c["estimate"] for c in cats)
            ci = cats[0].get("ci") if len(cats) == 1 else None
            rows.append({
                "question": str(q["id"]), "arm": pick(labels.get(str(g["level"])), lang) or str(g.get("label") or g["level"]),
                "yes": _fmt(share, lang), "ci": f"{_fmt(ci[0], lang)} – {_fmt(ci[1], lang)}" if ci else "",
                "base": f"{g.get('weight_total', 0):.0f}", "n": str(g.get("n", "")),
            })
        test = (res.get("tests") or {}).get("rao_scott") or {}
        if test.get("p_value") is not None:
            p = test["p_value"]
            ptxt = "< 0.001" if p < 0.001 else f"= {p:.3f}"
            key = "test" if p < 0.05 else "same"
            notes.append(T[key].format(q=q["id"], x=f"{test.get('statistic', 0):.1f}", p=ptxt))
    return rows, notes
