"""Estimates with a joint covariance, shown and accessed as statsmodels users expect.

:class:`CoefResult` is the result of anything that gives a vector of estimates with a covariance
matrix: design-based GLMs, domain means (R's ``svyby``), predictive margins, contrasts. It adds to
:class:`~sottovoce._results.Result` the accessors of a statsmodels results object (``params``,
``bse``, ``tvalues``, ``pvalues``, ``conf_int()``, ``cov_params()``, ``df_resid``), a coefficient
table (``summary()``, ``to_frame()``, ``_repr_html_``), any linear combination with its standard
error (:meth:`CoefResult.contrast`, R's ``svycontrast``) and the Wald test of several of them.

Tests and intervals are Student-t with ``df_resid`` degrees of freedom (R's ``svyglm`` uses the
design degrees of freedom minus the number of coefficients plus one; domain means use the design
degrees of freedom); ``df_resid = inf`` gives normal quantiles (a z table).

The table itself is drawn by :func:`coef_table_text` and :func:`coef_table_html`, which take only
plain columns (names, coef, se, statistic, p, interval) and a list of model statistics, so a
result contract can swap them for its own table builder in one place.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd

from ._results import Result, jsonable
from .errors import InputError

__all__ = ["CoefResult", "WaldTest", "coef_table_text", "coef_table_html"]


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    a = abs(x)
    if a != 0 and (a < 1e-3 or a >= 1e7):
        return f"{x:.4e}"
    return f"{x:.4f}"


def _p(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def coef_table_text(names: Sequence[str], coef: np.ndarray, se: np.ndarray, stat: np.ndarray,
                    p: np.ndarray, ci: np.ndarray, model_stats: Sequence[tuple[str, str]], *,
                    title: str = "", stat_name: str = "t", level: float = 0.95,
                    notes: Sequence[str] = ()) -> str:
    """A plain-text coefficient table in statsmodels' layout: a header of model statistics in two
    columns, then one row per term with coef, std err, t (or z), P>|t|, and the interval."""
    lo_name, hi_name = f"[{(1 - level) / 2:.3g}", f"{1 - (1 - level) / 2:.3g}]"
    wname = max([len(n) for n in names] + [12])
    wname = min(wname, 40)
    cols = ["coef", "std err", stat_name, f"P>|{stat_name}|", lo_name, hi_name]
    rows = [[_num(c), _num(s), f"{t:.3f}" if math.isfinite(t) else "–", _p(pv), _num(lo), _num(hi)]
            for c, s, t, pv, lo, hi in zip(coef, se, stat, p, ci[:, 0], ci[:, 1], strict=True)]
    widths = [max(len(h), *(len(r[j]) for r in rows)) + 2 if rows else len(h) + 2 for j, h in enumerate(cols)]
    width = wname + sum(widths)
    out = []
    if title:
        out.append(title.center(width).rstrip())
    out.append("=" * width)
    pairs = list(model_stats)
    half = max([width // 2] + [16 + len(v) + 2 for _, v in pairs[::2]])
    for i in range(0, len(pairs), 2):
        left = f"{pairs[i][0] + ':':<16}{pairs[i][1]}"
        right = f"{pairs[i + 1][0] + ':':<16}{pairs[i + 1][1]}" if i + 1 < len(pairs) else ""
        out.append(f"{left:<{half}}{right}".rstrip())
    out.append("=" * width)
    out.append(" " * wname + "".join(f"{h:>{w}}" for h, w in zip(cols, widths, strict=True)))
    out.append("-" * width)
    for name, r in zip(names, rows, strict=True):
        shown = name if len(name) <= wname else name[: wname - 1] + "…"
        out.append(f"{shown:<{wname}}" + "".join(f"{v:>{w}}" for v, w in zip(r, widths, strict=True)))
    out.append("=" * width)
    out.extend(notes)
    return "\n".join(out)


def coef_table_html(names: Sequence[str], coef: np.ndarray, se: np.ndarray, stat: np.ndarray,
                    p: np.ndarray, ci: np.ndarray, model_stats: Sequence[tuple[str, str]], *,
                    title: str = "", stat_name: str = "t", level: float = 0.95,
                    notes: Sequence[str] = ()) -> str:
    """The same table as :func:`coef_table_text` as HTML (for Jupyter)."""
    e = html.escape
    stats_rows = "".join(f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>{e(v)}</td></tr>" for k, v in model_stats)
    head = "".join(f"<th>{e(h)}</th>" for h in ["", "coef", "std err", stat_name, f"P>|{stat_name}|",
                                                  f"[{(1 - level) / 2:.3g}", f"{1 - (1 - level) / 2:.3g}]"])
    body = "".join(
        f"<tr><th style='text-align:left'>{e(n)}</th><td>{_num(c)}</td><td>{_num(s)}</td>"
        f"<td>{f'{t:.3f}' if math.isfinite(t) else '–'}</td><td>{_p(pv)}</td><td>{_num(lo)}</td><td>{_num(hi)}</td></tr>"
        for n, c, s, t, pv, lo, hi in zip(names, coef, se, stat, p, ci[:, 0], ci[:, 1], strict=True)
    )
    note = "".join(f"<p><i>{e(n)}</i></p>" for n in notes)
    return (f"<div><p><b>{e(title)}</b></p><table>{stats_rows}</table>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>")


@dataclass(frozen=True, eq=False)
class CoefResult(Result):
    """A vector of estimates with their covariance (see the module docstring).

    ``terms`` names the estimates, ``coef`` and ``vcov`` hold them, ``df_resid`` gives the degrees
    of freedom of tests and intervals, ``part`` is the key under ``coefficients`` in JSON.
    """

    terms: tuple[str, ...] = ()
    coef: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vcov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    df_resid: float = math.inf
    part: str = "model"
    title: str = ""
    bounds: str = "none"  # "share": estimates in [0, 1] (logit-scale intervals); "share-difference": in [-1, 1]

    def __post_init__(self) -> None:
        coef = np.asarray(self.coef, dtype=float).reshape(-1)
        vcov = np.asarray(self.vcov, dtype=float).reshape(len(coef), len(coef))
        object.__setattr__(self, "coef", coef)
        object.__setattr__(self, "vcov", vcov)
        if len(self.terms) != len(coef):
            raise InputError(f"{len(self.terms)} names for {len(coef)} estimates")
        if self.coefficients is None and len(coef):
            table = self._table()
            coefs = {name: {"coef": float(c), "se": float(s), self.stat_name: float(t), "p": float(pv),
                            "ci": [float(lo), float(hi)]}
                     for name, c, s, t, pv, lo, hi in zip(self.terms, *table.T, strict=True)}
            object.__setattr__(self, "coefficients", cast(Any, {self.part: coefs}))

    # -- statsmodels' accessors ---------------------------------------------------------------
    @property
    def stat_name(self) -> str:
        """``"t"`` with finite degrees of freedom, ``"z"`` with normal quantiles."""
        return "t" if math.isfinite(self.df_resid) else "z"

    @property
    def params(self) -> pd.Series:
        """The estimates, indexed by term."""
        return pd.Series(self.coef, index=list(self.terms), name="coef")

    @property
    def bse(self) -> pd.Series:
        """Standard errors (square roots of the diagonal of the covariance)."""
        return pd.Series(np.sqrt(np.clip(np.diag(self.vcov), 0, None)), index=list(self.terms), name="se")

    @property
    def tvalues(self) -> pd.Series:
        """``coef / se``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.Series(self.coef / self.bse.to_numpy(), index=list(self.terms), name=self.stat_name)

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of ``coef = 0`` (t with ``df_resid``, normal when infinite)."""
        return pd.Series(self._table()[:, 3], index=list(self.terms), name="p")

    @property
    def nobs(self) -> int | None:
        """Respondents used."""
        return self.n

    def cov_params(self) -> pd.DataFrame:
        """The covariance matrix of the estimates, labelled."""
        return pd.DataFrame(self.vcov, index=list(self.terms), columns=list(self.terms))

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals at ``1 - alpha`` (default: the result's level), columns 0 and 1 as statsmodels."""
        level = self.level_ci if alpha is None else 1 - alpha
        ci = self._table(level)[:, 4:6]
        return pd.DataFrame(ci, index=list(self.terms), columns=[0, 1])

    def _critical(self, level: float) -> float:
        from .intervals import quantile

        if not math.isfinite(self.df_resid):
            return quantile(level, None)
        return quantile(level, self.df_resid) if self.df_resid > 0 else math.nan

    def _table(self, level: float | None = None) -> np.ndarray:
        """Columns coef, se, stat, p, low, high."""
        from scipy import stats

        level = self.level_ci if level is None else level
        se = np.sqrt(np.clip(np.diag(self.vcov), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = self.coef / se
        if math.isfinite(self.df_resid):
            p = 2 * stats.t.sf(np.abs(t), self.df_resid) if self.df_resid > 0 else np.full(len(t), math.nan)
        else:
            p = 2 * stats.norm.sf(np.abs(t))
        q = self._critical(level)
        lo, hi = self.coef - q * se, self.coef + q * se
        if self.bounds == "share":
            # a share's interval stays in [0, 1]: symmetric on the logit scale (R's svyciprop
            # "logit"); an estimate outside (0, 1) keeps the clipped Wald interval
            c = self.coef
            inside = (c > 0) & (c < 1) & (se > 0)
            cc = np.where(inside, c, 0.5)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                half = q * se / (cc * (1 - cc))
                eta = np.log(cc / (1 - cc))
                lo = np.where(inside, 1 / (1 + np.exp(-(eta - half))), np.clip(lo, 0, 1))
                hi = np.where(inside, 1 / (1 + np.exp(-(eta + half))), np.clip(hi, 0, 1))
        elif self.bounds == "share-difference":
            lo, hi = np.clip(lo, -1, 1), np.clip(hi, -1, 1)
        return np.column_stack([self.coef, se, t, p, lo, hi])

    # -- linear combinations and tests --------------------------------------------------------
    def _weights(self, spec: Any) -> tuple[list[str], np.ndarray]:
        """Rows of a contrast matrix from a dict ``{term: weight}``, a dict of such dicts, a
        vector or a matrix (one row per combination)."""
        k = len(self.terms)
        index = {t: j for j, t in enumerate(self.terms)}

        def row(m: Mapping[str, float]) -> np.ndarray:
            r = np.zeros(k)
            for name, wt in m.items():
                if str(name) not in index:
                    raise InputError(f"contrast names '{name}', which is not one of the estimates: {', '.join(self.terms)}")
                r[index[str(name)]] = float(wt)
            return r

        if isinstance(spec, Mapping):
            values = list(spec.values())
            if values and all(isinstance(v, Mapping) for v in values):
                return [str(n) for n in spec], np.vstack([row(v) for v in values])
            return ["contrast"], row(spec)[None, :]
        L = np.atleast_2d(np.asarray(spec, dtype=float))
        if L.shape[1] != k:
            raise InputError(f"a contrast needs {k} weights (one per estimate: {', '.join(self.terms)}); got {L.shape[1]}")
        return [f"contrast {i + 1}" for i in range(L.shape[0])] if L.shape[0] > 1 else ["contrast"], L

    def contrast(self, weights: Any, level: float | None = None) -> CoefResult:
        """Linear combinations ``L @ coef`` with covariance ``L V Lᵀ`` (R's ``svycontrast``).

        ``weights``: ``{"men": 1, "women": -1}``; several as ``{"gap": {...}, "avg": {...}}``; or a
        vector/matrix over the estimates in order. A single combination also fills
        ``estimate``/``se``/``ci``.
        """
        names, L = self._weights(weights)
        coef = L @ self.coef
        vcov = L @ self.vcov @ L.T
        lv = self.level_ci if level is None else level
        diff_of_shares = self.bounds == "share" and bool(np.all(np.abs(L).sum(axis=1) <= 2 + 1e-12))
        out = CoefResult(terms=tuple(names), coef=coef, vcov=vcov, df_resid=self.df_resid, n=self.n,
                         method="contrast", level_ci=lv, variable=self.variable, part="contrast",
                         bounds="share-difference" if diff_of_shares else "none",
                         title=f"Contrasts of {self.title or self.method}",
                         details={"of": self.method, "weights": {nm: dict(zip(self.terms, r.tolist(), strict=True)) for nm, r in zip(names, L, strict=True)}},
                         warnings=self.warnings)
        if len(names) == 1:
            t = out._table()[0]
            out = _with_headline(out, t)
        return out

    def wald_test(self, terms: Any, null: Sequence[float] | None = None) -> Result:
        """Joint Wald test that the named estimates are zero (R's ``regTermTest``, method "Wald").

        ``F = βᵀV⁻¹β / q`` on ``q`` and ``df_resid`` degrees of freedom (a χ² test on ``q`` df when
        ``df_resid`` is infinite). ``terms`` is a name, a list of names or R's ``"~a + b"``;
        a model term (``C(region)``) or a variable (``region``) stands for all its coefficients.
        """
        from scipy import stats

        idx = self._term_index(terms)
        beta = self.coef[idx] - (0.0 if null is None else np.asarray(null, dtype=float))
        V = self.vcov[np.ix_(idx, idx)]
        try:
            chisq = float(beta @ np.linalg.solve(V, beta))
        except np.linalg.LinAlgError:
            raise InputError("the covariance of the tested coefficients is singular (fewer PSUs than coefficients?); "
                             "test fewer terms or use a design with more PSUs") from None
        q = len(idx)
        warns: list[str] = []
        details: dict[str, Any] = {"terms": [self.terms[i] for i in idx], "df": q, "chisq": chisq}
        if math.isfinite(self.df_resid):
            F = chisq / q
            if self.df_resid > 0:
                p = float(stats.f.sf(F, q, self.df_resid))
            else:
                p = math.nan
                warns.append(f"the design has {self.df_resid:g} residual degrees of freedom: no F test is possible; "
                             "use a design with more PSUs or fewer terms")
            details.update({"statistic": "F", "F": F, "ddf": self.df_resid, "p_value": p})
            stat = F
        else:
            p = float(stats.chi2.sf(chisq, q))
            details.update({"statistic": "chisq", "p_value": p})
            stat = chisq
        label = terms if isinstance(terms, str) else " + ".join(map(str, terms))
        return WaldTest(estimate=stat, n=self.n, method="wald-test", variable=label, label=label,
                        details=details, warnings=tuple(warns))

    def _term_index(self, terms: Any) -> list[int]:
        if isinstance(terms, str):
            from .modelframe import variables

            names = variables(terms) if terms.strip().startswith("~") or "+" in terms else [terms.strip()]
        else:
            names = [str(t) for t in terms]
        groups = self._term_groups()
        idx: list[int] = []
        for name in names:
            if name in self.terms:
                hit = [self.terms.index(name)]
            elif name in groups:
                hit = groups[name]
            else:
                hit = [j for label, cols in groups.items() if _term_variables(label) == {name} for j in cols]
            if not hit:
                raise InputError(f"'{name}' is not a term of the model; terms are: {', '.join(groups)}")
            idx.extend(j for j in hit if j not in idx)
        return idx

    def _term_groups(self) -> dict[str, list[int]]:
        """Term label → its columns (each estimate alone unless a subclass knows the terms)."""
        return {t: [j] for j, t in enumerate(self.terms)}

    # -- display and conversion ---------------------------------------------------------------
    def _model_stats(self) -> list[tuple[str, str]]:
        stats = [("Method", self.method)]
        if self.n is not None:
            stats.append(("Respondents", f"{self.n:,}"))
        stats.append(("Df", f"{self.df_resid:g}" if math.isfinite(self.df_resid) else "inf (normal)"))
        return stats

    def _notes(self) -> list[str]:
        return [f"warning: {w}" for w in self.warnings]

    def summary(self) -> str:  # type: ignore[override]
        """The coefficient table with the model statistics above it and warnings below."""
        t = self._table()
        return coef_table_text(self.terms, t[:, 0], t[:, 1], t[:, 2], t[:, 3], t[:, 4:6], self._model_stats(),
                               title=self.title or self.method, stat_name=self.stat_name, level=self.level_ci,
                               notes=self._notes())

    def _repr_html_(self) -> str:
        t = self._table()
        return coef_table_html(self.terms, t[:, 0], t[:, 1], t[:, 2], t[:, 3], t[:, 4:6], self._model_stats(),
                               title=self.title or self.method, stat_name=self.stat_name, level=self.level_ci,
                               notes=self._notes())

    def to_frame(self) -> pd.DataFrame:
        """A tidy table: one row per estimate with coef, se, t (or z), p, ci_low, ci_high."""
        t = self._table()
        return pd.DataFrame({"coef": t[:, 0], "se": t[:, 1], self.stat_name: t[:, 2], "p": t[:, 3],
                             "ci_low": t[:, 4], "ci_high": t[:, 5]}, index=pd.Index(list(self.terms), name="term"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: ``coefficients.<part>.<term>.{coef, se, t, p, ci}`` plus ``vcov``."""
        out = super().to_dict()
        for k in ("terms", "coef", "vcov", "df_resid", "part", "title", "bounds"):
            out.pop(k, None)
        out["df_resid"] = jsonable(self.df_resid)
        out["vcov"] = jsonable(self.vcov)
        out["vcov_terms"] = list(self.terms)
        return out


@dataclass(frozen=True)
class WaldTest(Result):
    """A joint test of several coefficients; ``estimate`` is F (or χ² with infinite df)."""

    def summary(self) -> str:
        d = self.details
        q = d.get("df")
        if d.get("statistic") == "F":
            stat = f"F = {d['F']:.4g} on {q} and {d['ddf']:g} df"
        else:
            stat = f"chi-squared = {d['chisq']:.4g} on {q} df"
        p = d.get("p_value", math.nan)
        ptxt = "–" if not math.isfinite(p) else (f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}")
        lines = [f"Wald test that {self.label} = 0 ({q} coefficient{'s' if q != 1 else ''}: {', '.join(d['terms'])})",
                 f"{stat}, p = {ptxt}"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


def _with_headline(r: CoefResult, row: np.ndarray) -> CoefResult:
    from dataclasses import replace

    return replace(r, estimate=float(row[0]), se=float(row[1]), ci=(float(row[4]), float(row[5])),
                   coefficients=r.coefficients, details={**r.details, "p_value": float(row[3])})


def _term_variables(label: str) -> set[str]:
    """Variables of a term label: ``C(region):age`` → ``{"region", "age"}``."""
    import re

    out = set()
    for factor in label.split(":"):
        m = re.fullmatch(r"C\((\w+)[^)]*\)", factor.strip())
        out.add(m.group(1) if m else factor.strip())
    return out
