"""Result objects returned by every estimator: the one result contract.

A :class:`Result` is frozen and self-describing. ``estimate``, ``se``, ``ci``, ``n`` and
``method`` always exist (``None`` where they do not apply); ``scale`` says what the estimate
measures (``"share"``, ``"share-difference"``, ``"mean"``, ``"total"``, ``"coefficient"``,
``"statistic"``) and ``df``/``df_name`` which degrees of freedom its interval used. The interval
itself is derived in one place, :func:`sottovoce.intervals.interval`, through
:meth:`Result.from_estimate`; an estimate outside its scale's range is kept, flagged
(``out_of_range``) and explained in ``warnings``.

Children: ``categories`` (one per category or item), ``groups`` (one per subgroup; a subgroup
that could not be estimated has ``failed`` set to the reason). Models add ``coefficients``
``{part: {term: {"coef", "se"}}}`` (with statsmodels-style ``params``, ``bse``, ``pvalues``,
``conf_int()``), fit statistics in ``stats`` and tests in ``hypothesis_tests``.

Output, written once for every result:

* :meth:`Result.to_dict` — the JSON contract (base fields, ``stats`` and ``details`` flattened,
  plus the fields a subclass declares in ``json_fields``; never patched by subclasses);
* :meth:`Result.display` — one table builder (:mod:`sottovoce.display`) that feeds
  :meth:`summary` (text), :meth:`_repr_html_` (Jupyter) and the CLI's rich tables, with the
  warnings always shown;
* :meth:`Result.to_frame` — a tidy DataFrame, one row per estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import InputError
from .intervals import (
    PERCENT_SCALES,
    SCALE_RANGE,
    DegreesOfFreedom,
    interval,
    rounding_variance,
    small_df_warning,
)

if TYPE_CHECKING:
    import pandas as pd

    from .display import Display

__all__ = ["Result", "jsonable", "format_value"]


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


# Base fields written by to_dict under their own names, when set.
_OPTIONAL = ("label", "code", "variable", "by", "level")


@dataclass(frozen=True)
class Result:
    """An estimate with its uncertainty; the common currency of sottovoce.

    Attributes
    ----------
    estimate, se : point estimate and its standard error (shares as shares in [0, 1]).
    ci : ``(low, high)`` confidence interval at ``level_ci``; None when there is none (a test, a
        failed subgroup, or an estimate whose whole interval lies outside its range).
    n : respondents used (unweighted count, zero weights excluded).
    method : short machine-readable name of the estimator, e.g. ``"direct"``, ``"list-dim"``.
    label, code : what is estimated (a category's value label and its code in the data).
    variable : the column estimated.
    by, level : for a subgroup result, the grouping column and its level.
    categories, groups : child results (per category or item; per subgroup).
    coefficients : regression coefficients ``{part: {term: {"coef", "se"}}}``.
    details : anything else specific to the estimator (design effect, n_eff, ...).
    warnings : plain-language caveats attached to this result (always shown).
    scale : what the estimate measures (see :data:`sottovoce.intervals.SCALES`).
    df, df_name : degrees of freedom of the interval (None = normal) and the rule that chose them.
    ci_method : how ``ci`` was made (``logit``, ``wilson``, ``beta``, ``wald``, ``t``,
        ``t-truncated``; see :mod:`sottovoce.intervals`).
    out_of_range : the estimate lies outside its scale's range (kept as computed; see warnings).
    failed : why this (subgroup) result could not be estimated; None when it was.
    hypothesis_tests : named tests ``{name: {"statistic", "df", "p_value", ...}}``.
    stats : fit statistics of a model (log-likelihood, iterations, convergence, n per arm).
    notes : sentences that belong with the numbers (assumptions, verdicts, the design).
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
    scale: str = ""
    df: float | None = None
    df_name: str = ""
    ci_method: str = ""
    out_of_range: bool = False
    failed: str | None = None
    hypothesis_tests: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    stats: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    #: extra JSON keys a subclass adds: ``{json key: attribute or property name}``
    json_fields: ClassVar[Mapping[str, str]] = {}

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_estimate(
        cls,
        estimate: float,
        se: float,
        *,
        scale: str,
        df: DegreesOfFreedom | None,
        level: float = 0.95,
        ci: str = "t",
        n: int | None = None,
        n_rows: int | None = None,
        where: str | None = None,
        **values: Any,
    ) -> Any:
        """A result whose interval comes from the one rule (:func:`sottovoce.intervals.interval`).

        ``ci`` is ``"t"`` (t on ``df``, truncated to the range of a share or a difference of
        shares) or, for a direct share, a proportion method (``wilson``, ``logit``, ``beta``,
        ``wald``). An estimate outside its range, or an empty interval, adds a warning naming
        ``where`` (default: the variable and subgroup), as does an interval on fewer than 20
        effective degrees of freedom (:func:`sottovoce.intervals.small_df_warning`, issue 17).
        """
        warns = tuple(values.pop("warnings", ()))
        if df is not None and df.value < 1:  # one PSU (in this domain): no design df to speak of
            df = DegreesOfFreedom(math.inf, "normal: a single PSU")
            warns = (*warns, "only one PSU: the SE is unreliable; the interval uses normal quantiles and the respondent count")
        if df is not None and df.design is not None and rounding_variance(estimate, se, scale):
            df = DegreesOfFreedom(df.design, "design: PSUs − strata (the variance is zero)")
        dfv = df.value if df is not None else math.inf
        iv = interval(estimate, se, scale, level=level, df=dfv, method=ci, n=n, n_rows=n_rows)
        pair = iv.pair if iv.pair is None or all(math.isfinite(v) for v in iv.pair) else None
        res = cls(
            estimate=float(estimate), se=float(se), ci=pair, n=n, level_ci=level, scale=scale,
            df=df.finite if df is not None else None, df_name=df.name if df is not None else "normal",
            ci_method=iv.method, out_of_range=iv.out_of_range, **values,
        )
        extra = res._range_warning(iv.empty, where)
        if extra:
            warns = (*warns, extra)
        few = small_df_warning(df, where or res._where()) if pair is not None else None
        if few and few not in warns:
            warns = (*warns, few)
        if not math.isnan(iv.n_eff):  # a proportion method: its effective sample size and fallback
            res = res.with_(details={**res.details, "n_eff": iv.n_eff, **({"ci_fallback": iv.fallback} if iv.fallback else {})})
        return res.with_(warnings=warns) if warns else res

    def _range_warning(self, empty: bool, where: str | None) -> str | None:
        if not self.out_of_range or self.estimate is None:
            return None
        lo, hi = SCALE_RANGE[self.scale]
        what = where or self._where()
        shown = format_value(self.estimate, True)
        rng = f"[{100 * lo:.0f}%, {100 * hi:.0f}%]"
        if empty:
            return (f"{what}: the estimate {shown}% and its whole {100 * self.level_ci:g}% t interval lie outside {rng}: "
                    "no value is compatible with these answers, so no interval is given; the design was probably "
                    "not followed (check the arms, codes and design probabilities, or a design effect)")
        return (f"{what}: the estimate {shown}% lies outside {rng}; it is kept as computed (a moment estimator "
                f"can do this in a small sample or when the design is violated) and its interval is the part of the "
                f"t interval inside {rng}; do not quote it as a share")

    def _where(self) -> str:
        parts = [self.variable or self.method or "estimate"]
        if self.label and self.label != self.variable:
            parts.append(str(self.label))
        if self.by is not None:
            parts.append(f"{self.by}={self.level}")
        return ", ".join(parts)

    @classmethod
    def failure(cls, reason: str, **values: Any) -> Any:
        """A result that could not be estimated (``failed=reason``, no numbers)."""
        return cls(failed=reason, **values)

    def with_(self, **changes: Any) -> Any:
        """A copy with some fields replaced (results are frozen)."""
        return replace(self, **changes)

    # -- what it is ---------------------------------------------------------------------------
    @property
    def is_share(self) -> bool:
        """Shown in percent: a share or a difference of shares."""
        return self.scale in PERCENT_SCALES or bool(self.details.get("is_share", False))

    # -- conversion ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON contract: plain types only, ``None`` for missing or non-finite numbers.

        Base fields first, then ``stats`` and ``details`` flattened (never overriding a base
        key), then the subclass's ``json_fields``, the children and the warnings.
        """
        out: dict[str, Any] = {
            "estimate": jsonable(self.estimate),
            "se": jsonable(self.se),
            "ci": jsonable(self.ci),
            "n": jsonable(self.n),
            "method": self.method,
            "confidence": self.level_ci,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = jsonable(value)
        if self.scale:
            out["scale"] = self.scale
        out["is_share"] = self.is_share
        if self.ci_method:
            out["ci_method"] = self.ci_method
            out["df"] = jsonable(self.df)
            out["df_name"] = self.df_name
        if self.scale in SCALE_RANGE:
            out["out_of_range"] = bool(self.out_of_range)
        if self.failed is not None:
            out["failed"] = self.failed
        if self.coefficients:
            out["coefficients"] = jsonable(self._coefficient_table())
        if self.hypothesis_tests:
            out["tests"] = jsonable(self.hypothesis_tests)
        if self.notes:
            out["notes"] = list(self.notes)
        for source in (self.stats, self.details):
            for k, v in source.items():
                if k not in out:
                    out[k] = jsonable(v)
        for key, attr in self.json_fields.items():
            out[key] = jsonable(getattr(self, attr))
        if self.categories:
            out["categories"] = [c.to_dict() for c in self.categories]
        if self.groups:
            out["groups"] = [g.to_dict() for g in self.groups]
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out

    def to_frame(self) -> pd.DataFrame:
        """A tidy DataFrame: one row per estimate (overall, categories, subgroups)."""
        import pandas as pd

        rows = []
        for name, r in self.rows():
            rows.append({
                "row": name, "variable": r.variable or self.variable, "by": r.by, "level": r.level,
                "code": r.code, "label": r.label, "estimate": r.estimate, "se": r.se,
                "ci_low": r.ci[0] if r.ci else None, "ci_high": r.ci[1] if r.ci else None, "n": r.n,
                "method": r.method, "scale": r.scale, "ci_method": r.ci_method, "df": r.df,
                "out_of_range": r.out_of_range, "failed": r.failed,
            })
        return pd.DataFrame(rows)

    # -- rows of the table --------------------------------------------------------------------
    def rows(self) -> list[tuple[str, Result]]:
        """The estimates shown in the table: (row name, result), overall first."""
        out: list[tuple[str, Result]] = []
        if self.estimate is not None or self.failed is not None:
            out.append((self.label or self.variable or self.method or "estimate", self))
        for cat in self.categories:
            out.append((_name(cat), cat))
        for grp in self.groups:
            shown = grp.label if grp.label not in (None, "") else grp.level
            prefix = f"{grp.by}={shown}" if grp.by is not None else str(grp.label or "")
            if grp.estimate is not None or grp.failed is not None:
                out.append((prefix, grp))
            for cat in grp.categories:
                out.append((f"{prefix}: {_name(cat)}", cat))
        return out

    _rows = rows  # the name used before the contract was written down

    # -- regression accessors (statsmodels names) ---------------------------------------------
    def _coefficient_table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every coefficient with its statistic, p-value and interval (t on ``stats["df_resid"]``
        when the model has residual degrees of freedom, otherwise normal: z)."""
        from .intervals import quantile

        if not self.coefficients:
            return {}
        df_resid = self.stats.get("df_resid")
        q = quantile(self.level_ci, df_resid)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for part, terms in self.coefficients.items():
            out[part] = {}
            for term, v in terms.items():
                coef, se = float(v.get("coef", math.nan)), float(v.get("se", math.nan))
                stat = coef / se if se > 0 else math.nan
                out[part][term] = {**v, "coef": coef, "se": se, "statistic": stat,
                                   "p_value": _two_sided_p(stat, df_resid), "ci": [coef - q * se, coef + q * se]}
        return out

    def _coef_series(self, key: str) -> pd.Series:
        import pandas as pd

        table = self._coefficient_table()
        if not table:
            raise InputError(f"this {self.method or 'result'} has no coefficients (params, bse, pvalues and conf_int() are for regression results)")
        if len(table) == 1:
            (terms,) = table.values()
            return pd.Series({t: v[key] for t, v in terms.items()}, dtype=float, name=key)
        idx = pd.MultiIndex.from_tuples([(p, t) for p, terms in table.items() for t in terms], names=["part", "term"])
        return pd.Series([v[key] for terms in table.values() for v in terms.values()], index=idx, dtype=float, name=key)

    @property
    def params(self) -> pd.Series:
        """Coefficients (index: term; a (part, term) MultiIndex for models with several parts)."""
        return self._coef_series("coef")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the coefficients."""
        return self._coef_series("se")

    @property
    def tvalues(self) -> pd.Series:
        """Coefficient / standard error (z, or t on ``stats["df_resid"]``)."""
        return self._coef_series("statistic")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the coefficients."""
        return self._coef_series("p_value")

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Intervals of the coefficients, columns 0 and 1 as statsmodels (``alpha`` default
        ``1 − level``)."""
        import pandas as pd

        level = self.level_ci if alpha is None else 1.0 - float(alpha)
        res = self if level == self.level_ci else self.with_(level_ci=level)
        lo = res._coef_series("ci")
        return pd.DataFrame({0: [c[0] for c in lo], 1: [c[1] for c in lo]}, index=lo.index)

    @property
    def llf(self) -> float | None:
        """Log-likelihood of a model fitted by maximum likelihood (None otherwise)."""
        v = self.stats.get("loglik", self.details.get("loglik"))
        return None if v is None else float(v)

    @property
    def nobs(self) -> int | None:
        """Respondents used."""
        return self.n

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the coefficients, when the estimator kept it."""
        import pandas as pd

        V = self.details.get("vcov")
        names = self.details.get("vcov_terms") or self.details.get("terms")
        if V is None or names is None:
            raise InputError(f"this {self.method or 'result'} keeps no coefficient covariance")
        return pd.DataFrame(np.asarray(V, dtype=float), index=list(names), columns=list(names))

    # -- display ------------------------------------------------------------------------------
    def display(self) -> Display:
        """The tables, lines and warnings shown for this result (text, HTML and the CLI)."""
        from .display import result_display

        return result_display(self)

    def summary(self) -> str:
        """A plain-text summary: estimates, coefficients, fit statistics, tests and warnings."""
        return self.display().text()

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.display().html()


def _two_sided_p(stat: float, df: float | None) -> float:
    if not math.isfinite(stat):
        return math.nan
    from scipy import special  # not scipy.stats: the same functions, a fraction of the import time

    if df is None or not math.isfinite(df):
        return float(2.0 * special.ndtr(-abs(stat)))
    return float(2.0 * special.stdtr(df, -abs(stat)))


def _name(r: Result) -> str:
    # A coded answer shows its code and label ("1 Yes"); a quantile's label already names its code
    # ("25th percentile" for 0.25), so the code beside it would only repeat it ("0.25 25%").
    if r.label is not None and r.code is not None and str(r.label) != str(r.code) and r.method != "quantile":
        return f"{r.code} {r.label}"
    return str(r.label if r.label is not None else r.code)


def format_value(x: Any, pct: bool) -> str:
    """A number for a table: a share in percent with one decimal, else 4 significant digits;
    "–" for anything missing, non-finite or not a number."""
    if not isinstance(x, (int, float, np.number)) or isinstance(x, bool) or not math.isfinite(float(x)):
        return "–"
    return f"{100 * float(x):.1f}" if pct else f"{float(x):.4g}"


def result_fields() -> tuple[str, ...]:
    """Names of the base fields (for subclasses that rebuild a plain Result)."""
    return tuple(f.name for f in fields(Result))
