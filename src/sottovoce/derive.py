"""Derived (composite) variables: respondents who meet conditions over several questions.

A pollster's most telling measures are often built from several answers of one respondent, e.g.
the Chronicles project's "consistent supporters of the war" (support the war *and* oppose a truce
without its goals achieved *and* put army spending before social spending). A ``[[derive]]`` entry
of a study or series file names the conditions; :func:`derive_indicator` turns them into a 0/1
column that is then estimated like any direct question (design-based SE, subgroups, trends).

Syntax (TOML)::

    [[derive]]
    id = "consistent_war"
    text = { en = "Consistent supporters of the war", ru = "Последовательные сторонники войны" }
    all = [                                  # every condition holds (AND)
      { column = "Q21", in = [1] },          # codes or value labels (text answers match too)
      { column = "Q25", in = [2] },
      { column = "Q35", in = ["For the armed forces"] },
    ]
    any = [ ... ]                            # optional: at least one holds (OR)
    base = "all"                             # or "answered"

A condition is ``in = [...]`` or ``not_in = [...]``; ``column`` names a data column, or (in a
series file) ``question`` names a harmonised question whose categories are given by name. With
``base = "all"`` (the default; how the Chronicles reports count) a respondent without an answer
to a condition's column does not meet ``in`` and does meet ``not_in`` ("did not say they support
it"); with ``base = "answered"`` respondents lacking any of the answers are left out of the base.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, SottovoceWarning

__all__ = ["Condition", "DerivedVariable", "parse_derive", "derive_indicator", "DERIVE_BASES"]

DERIVE_BASES = ("all", "answered")
_KEYS = {"id", "text", "all", "any", "base", "measures"}


@dataclass(frozen=True)
class Condition:
    """``column`` (or ``question``) is / is not one of ``values`` (codes, labels or category names)."""

    ref: str
    values: tuple[Any, ...]
    negate: bool = False
    kind: str = "column"  # "column" (study file) or "question" (series file: harmonised categories)

    def describe(self) -> str:
        op = "not in" if self.negate else "in"
        return f"{self.ref} {op} [{', '.join(map(str, self.values))}]"


@dataclass(frozen=True)
class DerivedVariable:
    """A composite 0/1 variable: ``all`` conditions and at least one ``any`` condition hold."""

    id: str
    text: Mapping[str, str] = field(default_factory=dict)
    all: tuple[Condition, ...] = ()
    any: tuple[Condition, ...] = ()
    base: str = "all"

    def conditions(self) -> tuple[Condition, ...]:
        return self.all + self.any

    def refs(self) -> list[str]:
        """The columns (or questions) the conditions read, in order, without repeats."""
        return list(dict.fromkeys(c.ref for c in self.conditions()))

    def definition(self) -> str:
        """The rule in words, for the report and results.json."""
        parts = [" AND ".join(c.describe() for c in self.all)] if self.all else []
        if self.any:
            parts.append("(" + " OR ".join(c.describe() for c in self.any) + ")")
        return " AND ".join(parts) + ("" if self.base == "all" else " [base: respondents who answered all]")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": dict(self.text), "definition": self.definition(), "base": self.base,
                "all": [_cond_dict(c) for c in self.all], "any": [_cond_dict(c) for c in self.any]}


def _cond_dict(c: Condition) -> dict[str, Any]:
    return {c.kind: c.ref, ("not_in" if c.negate else "in"): list(c.values)}


def parse_derive(raw: Any, where: str, *, refs: str = "column", taken: Sequence[str] = ()) -> tuple[DerivedVariable, ...]:
    """Validate the ``[[derive]]`` array of a study (``refs="column"``) or series file
    (``refs="question"``; ``column`` is accepted too). ``taken`` are ids already used by questions.
    Errors name the file (``where``), the entry and the fix."""
    if not isinstance(raw, list):
        raise InputError(f"{where}: derive: must be an array of tables; write each as [[derive]] with id = \"...\" and all = [...]")
    out: list[DerivedVariable] = []
    ids = list(taken)
    for i, d in enumerate(raw):
        key = f"derive[{i}]" + (f" (id '{d.get('id')}')" if isinstance(d, dict) and isinstance(d.get("id"), str) else "")
        if not isinstance(d, dict):
            raise InputError(f"{where}: {key}: must be a table; write [[derive]] then id = \"...\" and all = [...]")
        for k in d:
            if k not in _KEYS:
                raise InputError(f"{where}: {key}.{k}: unknown key; allowed keys here: {', '.join(sorted(_KEYS))}")
        did = d.get("id")
        if not isinstance(did, str) or not did.strip():
            raise InputError(f"{where}: {key}.id: missing or empty; give the composite a short id, e.g. id = \"consistent_war\"")
        if did in ids:
            raise InputError(f"{where}: {key}.id: '{did}' is already used by a question or another derived variable; give it its own id")
        ids.append(did)
        text = d.get("text", {})
        if isinstance(text, str):
            text = {"en": text} if text else {}
        if not isinstance(text, dict) or not all(isinstance(v, str) for v in text.values()):
            raise InputError(f"{where}: {key}.text: must be a string or a table of translations; write {{ en = \"...\", ru = \"...\" }}")
        base = d.get("base", "all")
        if base not in DERIVE_BASES:
            raise InputError(f"{where}: {key}.base: unknown base {base!r}; use \"all\" (missing answers do not meet 'in') or \"answered\"")
        all_ = _conditions(d.get("all", []), f"{where}: {key}.all", refs)
        any_ = _conditions(d.get("any", []), f"{where}: {key}.any", refs)
        if not all_ and not any_:
            raise InputError(f"{where}: {key}: no conditions; add all = [{{ column = \"Q1\", in = [1] }}, ...]")
        out.append(DerivedVariable(id=did, text=dict(text), all=all_, any=any_, base=str(base)))
    return tuple(out)


def _conditions(raw: Any, where: str, refs: str) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list of conditions; write [{{ column = \"Q1\", in = [1] }}]")
    out = []
    for j, c in enumerate(raw):
        w = f"{where}[{j}]"
        if not isinstance(c, dict):
            raise InputError(f"{w}: must be a table; write {{ column = \"Q1\", in = [1] }}")
        allowed = {"column", "in", "not_in"} | ({"question"} if refs == "question" else set())
        bad = [k for k in c if k not in allowed]
        if bad:
            raise InputError(f"{w}.{bad[0]}: unknown key; allowed keys here: {', '.join(sorted(allowed))}")
        named = [k for k in ("column", "question") if k in c]
        if len(named) != 1 or not isinstance(c[named[0]], str) or not c[named[0]].strip():
            what = "column = \"Q1\"" if refs == "column" else "question = \"support\" (or column = \"Q1\")"
            raise InputError(f"{w}: name exactly one {what}")
        ops = [k for k in ("in", "not_in") if k in c]
        if len(ops) != 1:
            raise InputError(f"{w}: give exactly one of in = [...] or not_in = [...]")
        vals = c[ops[0]]
        if not isinstance(vals, list):
            vals = [vals]
        if not vals or not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in vals):
            raise InputError(f"{w}.{ops[0]}: {vals!r} is not a non-empty list of codes or labels; write [1] or [\"Yes\"]")
        out.append(Condition(ref=c[named[0]], values=tuple(vals), negate=ops[0] == "not_in", kind=named[0]))
    return tuple(out)


Resolver = Callable[[Condition], tuple[np.ndarray, np.ndarray]]


def column_resolver(df: pd.DataFrame, where: str = "data") -> Resolver:
    """Conditions on data columns: ``(hit, answered)`` masks, values matched as codes or value labels
    (:func:`sottovoce.io.category_mask`: ``1`` matches ``1.0``, a label matches its code, text
    answers match their label)."""
    from .io import category_mask, require_columns

    def resolve(c: Condition) -> tuple[np.ndarray, np.ndarray]:
        require_columns(df, [c.ref], where=where)
        return category_mask(df, c.ref, c.values), df[c.ref].notna().to_numpy()

    return resolve


def derive_indicator(d: DerivedVariable, resolve: Resolver, index: pd.Index, where: str = "data") -> pd.Series:
    """The 0/1 indicator of ``d`` (float; NaN outside the base when ``base = "answered"``).

    A condition that selects nobody is legal (a code absent from this wave) but is warned about,
    because it is more often a typo."""
    n = len(index)
    ok_all = np.ones(n, dtype=bool)
    ok_any = np.zeros(n, dtype=bool) if d.any else np.ones(n, dtype=bool)
    answered = np.ones(n, dtype=bool)
    for group, is_any in ((d.all, False), (d.any, True)):
        for c in group:
            hit, ans = resolve(c)
            if not hit.any():
                warnings.warn(f"{where}: derived variable '{d.id}': condition {c.describe()} matches no respondent; "
                              "check the codes or labels", SottovoceWarning, stacklevel=2)
            met = (~hit) if c.negate else hit
            answered &= ans
            if is_any:
                ok_any |= met
            else:
                ok_all &= met
    out = (ok_all & ok_any).astype(float)
    if d.base == "answered":
        out[~answered] = np.nan
    return pd.Series(out, index=index)
