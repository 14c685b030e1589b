"""Result objects returned by every estimator.

A :class:`Result` is frozen and self-describing: ``estimate``, ``se``, ``ci``, ``n`` and ``method``
always exist (``None`` where they do not apply); categorical variables give one child result per
category in ``categories``; subgroup results sit in ``groups``; regression models add
``coefficients`` as ``{part: {term: {"coef": x, "se": y}}}``. ``to_dict()`` gives the JSON
contract of DESIGN.md, ``summary()`` a printable table and ``_repr_html_`` a table for Jupyter.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

__all__ = ["Result", "jsonable"]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and non-finite floats into plain JSON values."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Result:
    """An estimate with its uncertainty; the common currency of sottovoce.

    Attributes
    ----------
    estimate, se : point estimate and its standard error (proportions as shares in [0, 1]).
    ci : ``(low, high)`` confidence interval at ``level``.
    n : respondents used (unweighted count, zero weights excluded).
    method : short machine-readable name of the estimator, e.g. ``"direct"``, ``"list-dim"``.
    label, code : what is estimated (a category's value label and its code in the data).
    by, level : for a subgroup result, the grouping column and its level.
    categories, groups : child results (per category; per subgroup).
    coefficients : regression coefficients ``{part: {term: {"coef", "se"}}}``.
    details : anything else specific to the estimator (design effect, n_eff, tests, ...).
    warnings : plain-language caveats attached to this result.
    """

    estimate: float | None = None
    se: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    method: str = ""
    level_ci: float = 0.95
    label: str | None = None
    code: Any = None
    variable: str | None = None
    by: str | None = None
    level: Any = None
    categories: tuple[Result, ...] = ()
    groups: tuple[Result, ...] = ()
    coefficients: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    # -- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: plain types only, ``None`` for missing or non-finite numbers."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("categories", "groups"):
                if value:
                    out[f.name] = [child.to_dict() for child in value]
                continue
            if f.name == "details":
                out.update({k: jsonable(v) for k, v in value.items() if k not in out})
                continue
            if value is None and f.name in ("label", "code", "variable", "by", "level", "coefficients"):
                continue
            if f.name == "warnings" and not value:
                continue
            if f.name == "level_ci":
                out["confidence"] = value
                continue
            out[f.name] = jsonable(value)
        return out

    def with_(self, **changes: Any) -> Result:
        """A copy with some fields replaced (results are frozen)."""
        return replace(self, **changes)

    # -- display ------------------------------------------------------------------------------
    def _rows(self) -> list[tuple[str, Result]]:
        rows: list[tuple[str, Result]] = []
        if self.estimate is not None:
            rows.append((self.label or self.variable or self.method or "estimate", self))
        for cat in self.categories:
            rows.append((_name(cat), cat))
        for grp in self.groups:
            shown = grp.label if grp.label not in (None, "") else grp.level
            prefix = f"{grp.by}={shown}" if grp.by is not None else (grp.label or "")
            if grp.estimate is not None:
                rows.append((f"{prefix}", grp))
            for cat in grp.categories:
                rows.append((f"{prefix}: {_name(cat)}", cat))
        return rows

    def summary(self) -> str:
        """A plain-text table of the estimate(s), their standard errors and intervals."""
        pct = _is_share(self)
        head = f"{self.method}" + (f" — {self.variable}" if self.variable else "")
        lines = [head, f"{'':<32} {'estimate':>10} {'se':>9} {'ci low':>9} {'ci high':>9} {'n':>7}"]
        for name, r in self._rows():
            lines.append(
                f"{name[:32]:<32} {format_value(r.estimate, pct):>10} {format_value(r.se, pct):>9} "
                f"{format_value(r.ci[0] if r.ci else None, pct):>9} {format_value(r.ci[1] if r.ci else None, pct):>9} "
                f"{r.n if r.n is not None else '':>7}"
            )
        if self.coefficients:
            for part, terms in self.coefficients.items():
                lines.append(f"coefficients: {part}")
                for term, v in terms.items():
                    lines.append(f"  {term[:30]:<30} {v.get('coef', float('nan')):>10.4f} {v.get('se', float('nan')):>9.4f}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        pct = _is_share(self)
        cells = "".join(
            "<tr><th style='text-align:left'>{}</th><td>{}</td><td>{}</td><td>{} – {}</td><td>{}</td></tr>".format(
                html.escape(str(name)), format_value(r.estimate, pct), format_value(r.se, pct),
                format_value(r.ci[0] if r.ci else None, pct), format_value(r.ci[1] if r.ci else None, pct),
                r.n if r.n is not None else "",
            )
            for name, r in self._rows()
        )
        coef = ""
        if self.coefficients:
            coef = "".join(
                f"<tr><td colspan=5><b>{html.escape(part)}</b></td></tr>"
                + "".join(
                    f"<tr><th style='text-align:left'>{html.escape(t)}</th><td>{v.get('coef', float('nan')):.4f}</td>"
                    f"<td>{v.get('se', float('nan')):.4f}</td><td></td><td></td></tr>"
                    for t, v in terms.items()
                )
                for part, terms in self.coefficients.items()
            )
        warn = "".join(f"<p><i>warning: {html.escape(w)}</i></p>" for w in self.warnings)
        unit = " (%)" if pct else ""
        return (
            f"<div><p><b>{html.escape(self.method)}</b>{' — ' + html.escape(self.variable) if self.variable else ''}</p>"
            f"<table><thead><tr><th></th><th>estimate{unit}</th><th>se</th><th>{int(self.level_ci * 100)}% CI</th><th>n</th></tr></thead>"
            f"<tbody>{cells}{coef}</tbody></table>{warn}</div>"
        )


def _name(r: Result) -> str:
    if r.label is not None and r.code is not None and str(r.label) != str(r.code):
        return f"{r.code} {r.label}"
    return str(r.label if r.label is not None else r.code)


def _is_share(r: Result) -> bool:
    return bool(r.details.get("is_share", False)) if r.details else False


def format_value(x: Any, pct: bool) -> str:
    """A number for a table: a share in percent with one decimal, else 4 significant digits;
    "–" for anything missing, non-finite or not a number."""
    if not isinstance(x, (int, float, np.number)) or isinstance(x, bool) or not math.isfinite(float(x)):
        return "–"
    return f"{100 * float(x):.1f}" if pct else f"{float(x):.4g}"

