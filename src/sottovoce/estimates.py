"""A vector of estimates with their joint covariance: contrasts and Wald tests of them.

:class:`Estimates` is what R's ``svyby(..., covmat = TRUE)``, ``svycontrast`` and
``svypredmeans`` return: several estimates (domain means, predictive margins, marginal effects,
combinations of coefficients) and their covariance matrix. Each estimate is a child result in
``categories`` whose interval follows the one interval rule (:meth:`Result.from_estimate`: t on
its own df, cut to [0, 1] for shares and [−1, 1] for differences of shares); the covariance
is in ``details["vcov"]`` (``cov_params()``). On top of the result contract it gives any linear
combination with its standard error (:meth:`Estimates.contrast`, R's ``svycontrast``), the joint
Wald test of several (:meth:`Estimates.wald_test`, R's ``regTermTest``) and statsmodels'
accessors (``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``) over the estimates.

Degrees of freedom (issue 17): estimates built with a :class:`Linearization` (domain means,
margins) give each estimate, and each contrast of them, the Satterthwaite effective df of its own
linearization values (:func:`sottovoce.intervals.design_df`); under ``df="design"`` these are
PSUs − strata, as R. Joint Wald tests keep the design df (R's ``regTermTest``); GLM coefficient
contrasts keep the model's residual df.

:func:`wald_test` is the one Wald test, shared with the GLM: ``F = βᵀV⁻¹β / q`` on ``q`` and the
residual degrees of freedom (R's default ``method = "Wald"``), χ² on ``q`` df without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ._results import Result, _two_sided_p
from .errors import InputError
from .intervals import NORMAL, DegreesOfFreedom, _design_df_only, design_df, satterthwaite_df

if TYPE_CHECKING:
    import pandas as pd

    from .survey import Survey

__all__ = ["Estimates", "Linearization", "wald_test"]


@dataclass(frozen=True)
class Linearization:
    """The linearization of k estimates, kept so that every linear combination of them gets its
    own effective degrees of freedom (issue 17; :func:`sottovoce.intervals.design_df`).

    ``influence``: one or more (n, k) arrays of linearization values whose strata contributions
    *sum* to the estimates' variances (one array for the usual ``cov_total(U)``; two for
    R's ``svypredmeans``, which adds two variances and leaves out their covariance). ``survey``
    is the design (or domain) the variance is over. ``masks`` (n, k), for estimates in domains:
    a combination's df count the PSUs holding any domain it involves (Korn & Graubard 1999,
    §5.2), as :meth:`Survey.mean` with ``by=`` counts those holding its domain.
    """

    survey: Survey
    influence: tuple[np.ndarray, ...]
    masks: np.ndarray | None = None

    def combine(self, L: np.ndarray) -> Linearization:
        """The linearization of ``L @ estimates``."""
        masks = None if self.masks is None else (self.masks.astype(float) @ (np.abs(L) > 0).T) > 0
        return Linearization(self.survey, tuple(u @ L.T for u in self.influence), masks)

    def dofs(self) -> list[DegreesOfFreedom]:
        """Each estimate's degrees of freedom by the one rule (:func:`design_df`), from one pass
        over the strata for all of them."""
        svy = self.survey
        k = self.influence[0].shape[1]
        doms = [svy] * k if self.masks is None else [svy.domain(self.masks[:, j]) for j in range(k)]
        if _design_df_only(svy):
            return [design_df(d) for d in doms]  # replicates, SRS or R's rule: the design df
        # the influence is zero outside each estimate's domain, so the strata parts are those of
        # the whole design; a domain changes only the PSUs that count (those holding it)
        parts = [svy.variance_by_stratum(u) for u in self.influence]
        total = parts[0] if len(parts) == 1 else replace(parts[0], var=np.sum([p.var for p in parts], axis=0),
                                                         parts=np.sum([p.parts for p in parts], axis=0))
        held = None if self.masks is None else np.column_stack([d._psus_held() for d in doms])
        return [design_df(d, effective=float(e)) for d, e in zip(doms, satterthwaite_df(total, held), strict=True)]


@dataclass(frozen=True)
class Estimates(Result):
    """Estimates with their covariance (see the module docstring).

    ``terms`` names the estimates (the children's labels); ``dof`` are the design's degrees of
    freedom (those of joint Wald tests, as R's ``regTermTest``); each estimate's interval and t
    test use its own, ``dofs``: its effective df when a :class:`Linearization` is given (issue 17),
    else ``dof``. Build with :meth:`build`.
    """

    terms: tuple[str, ...] = ()
    dof: DegreesOfFreedom = field(default=NORMAL, repr=False, compare=False)
    #: each estimate's degrees of freedom (all ``dof`` unless a linearization gave their own)
    dofs: tuple[DegreesOfFreedom, ...] = field(default=(), repr=False, compare=False)
    linearization: Linearization | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(cls, terms: Sequence[str], coef: Any, vcov: Any, *, scale: str, dof: DegreesOfFreedom | None,
              level: float = 0.95, tests: bool = False, codes: Sequence[Any] | None = None,
              linearization: Linearization | None = None, dofs: Sequence[DegreesOfFreedom] | None = None,
              **values: Any) -> Estimates:
        """One child per estimate (interval by the one rule), the covariance in ``details``; with
        ``tests`` the t (or z) test that each is zero in ``hypothesis_tests``. Each estimate's df:
        ``dofs`` if given, else from ``linearization`` (its effective df), else ``dof``."""
        coef = np.asarray(coef, dtype=float).reshape(-1)
        vcov = np.asarray(vcov, dtype=float).reshape(len(coef), len(coef))
        if len(terms) != len(coef):
            raise InputError(f"{len(terms)} names for {len(coef)} estimates")
        dof = NORMAL if dof is None else dof
        if dofs is None:
            dofs = linearization.dofs() if linearization is not None else [dof] * len(coef)
        se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
        children = tuple(
            Result.from_estimate(float(c), float(s), scale=scale, df=d, level=level, n=values.get("n"), label=str(t),
                                 code=None if codes is None else codes[j], method=values.get("method", ""))
            for j, (t, c, s, d) in enumerate(zip(terms, coef, se, dofs, strict=True))
        )
        details = {**values.pop("details", {}), "vcov": vcov, "vcov_terms": list(terms)}
        hyp: dict[str, dict[str, Any]] = {}
        if tests:
            for t, c, s, kid in zip(terms, coef, se, children, strict=True):
                df = kid.df  # the interval's df (from_estimate may have replaced a rounding-noise df)
                stat = c / s if s > 0 else math.nan
                hyp[str(t)] = {"name": f"{t} = 0", "statistic_name": "t" if df is not None else "z", "statistic": stat,
                               "df": df, "p_value": _two_sided_p(stat, df)}
        warns = tuple(dict.fromkeys((*values.pop("warnings", ()), *(w for c in children for w in c.warnings))))
        return cls(terms=tuple(str(t) for t in terms), dof=dof, dofs=tuple(dofs), linearization=linearization,
                   categories=children, level_ci=level, scale=scale, df=dof.finite, df_name=dof.name, details=details, hypothesis_tests=hyp, warnings=warns, **values)

    # -- the vector ---------------------------------------------------------------------------
    @property
    def coef(self) -> np.ndarray:
        """The estimates, in order."""
        return np.array([c.estimate for c in self._kids()], dtype=float)

    def _kids(self) -> tuple[Result, ...]:
        """One result per estimate (a single contrast is the result itself)."""
        return self.categories if self.categories else (self,)

    @property
    def vcov(self) -> np.ndarray:
        """Their covariance matrix."""
        return np.asarray(self.details["vcov"], dtype=float)

    def _series(self, values: Any, name: str) -> pd.Series:
        import pandas as pd

        return pd.Series(np.asarray(values, dtype=float), index=list(self.terms), name=name)

    @property
    def params(self) -> pd.Series:
        return self._series(self.coef, "coef")

    @property
    def bse(self) -> pd.Series:
        return self._series(np.sqrt(np.clip(np.diag(self.vcov), 0, None)), "se")

    @property
    def tvalues(self) -> pd.Series:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._series(self.coef / self.bse.to_numpy(), "statistic")

    @property
    def pvalues(self) -> pd.Series:
        return self._series([_two_sided_p(t, c.df) for t, c in zip(self.tvalues, self._kids(), strict=True)], "p_value")

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """The children's intervals (columns 0 and 1; another ``alpha`` rebuilds them by the rule)."""
        import pandas as pd

        kids = self._kids()
        if alpha is not None and abs((1 - alpha) - self.level_ci) > 1e-12:
            kids = Estimates.build(self.terms, self.coef, self.vcov, scale=self.scale, dof=self.dof, level=1 - alpha,
                                   dofs=self.dofs or None).categories
        ci = [c.ci if c.ci is not None else (math.nan, math.nan) for c in kids]
        return pd.DataFrame({0: [c[0] for c in ci], 1: [c[1] for c in ci]}, index=list(self.terms))

    # -- linear combinations and tests --------------------------------------------------------
    def contrast(self, weights: Any, level: float | None = None) -> Estimates:
        """Linear combinations ``L @ estimates`` with covariance ``L V Lᵀ`` (R's ``svycontrast``).

        ``weights``: ``{"men": 1, "women": -1}``; several as ``{"gap": {...}, "avg": {...}}``; or a
        vector/matrix over the estimates in order. A single combination also fills ``estimate``,
        ``se`` and ``ci``; each comes with its t test against zero.
        """
        names, L = contrast_matrix(self.terms, weights)
        scale = _combined_scale(self.scale, L)
        lin = None if self.linearization is None else self.linearization.combine(L)
        out = Estimates.build(names, L @ self.coef, L @ self.vcov @ L.T, scale=scale, dof=self.dof, linearization=lin,
                              level=self.level_ci if level is None else level, tests=True, n=self.n, method="contrast",
                              variable=self.variable, by=self.by,
                              details={"of": self.method, "weights": {nm: dict(zip(self.terms, r.tolist(), strict=True))
                                                                       for nm, r in zip(names, L, strict=True)}})
        if len(names) == 1:
            c = out.categories[0]
            out = out.with_(estimate=c.estimate, se=c.se, ci=c.ci, ci_method=c.ci_method, out_of_range=c.out_of_range,
                            categories=(), label=names[0], df=c.df, df_name=c.df_name)
        return out

    def wald_test(self, terms: Any, null: Sequence[float] | None = None) -> Result:
        """Joint Wald test that the named estimates are zero (see :func:`wald_test`)."""
        idx = term_index(terms, self.terms, {t: [j] for j, t in enumerate(self.terms)})
        return wald_test(self.coef, self.vcov, idx, list(self.terms), self.dof.finite, n=self.n, label=_label(terms), null=null)


def _combined_scale(scale: str, L: np.ndarray) -> str:
    """The scale of combinations of estimates: differences of shares, averages of shares, or as before."""
    if scale not in ("share", "share-difference"):
        return scale
    sums, l1 = L.sum(axis=1), np.abs(L).sum(axis=1)
    if scale == "share" and np.all(np.abs(sums) < 1e-12) and np.all(l1 <= 2 + 1e-12):
        return "share-difference"
    if scale == "share" and np.all(np.abs(sums - 1) < 1e-12) and np.all(L >= -1e-15):
        return "share"
    return "coefficient"


def contrast_matrix(terms: Sequence[str], spec: Any) -> tuple[list[str], np.ndarray]:
    """Rows of a contrast matrix from ``{term: weight}``, a dict of such dicts, a vector or a matrix."""
    k = len(terms)
    index = {t: j for j, t in enumerate(terms)}

    def row(m: Mapping[Any, float]) -> np.ndarray:
        r = np.zeros(k)
        for name, wt in m.items():
            if str(name) not in index:
                raise InputError(f"contrast names '{name}', which is not one of the estimates: {', '.join(terms)}")
            r[index[str(name)]] = float(wt)
        return r

    if isinstance(spec, Mapping):
        values = list(spec.values())
        if values and all(isinstance(v, Mapping) for v in values):
            return [str(n) for n in spec], np.vstack([row(v) for v in values])
        return ["contrast"], row(spec)[None, :]
    L = np.atleast_2d(np.asarray(spec, dtype=float))
    if L.shape[1] != k:
        raise InputError(f"a contrast needs {k} weights (one per estimate: {', '.join(terms)}); got {L.shape[1]}")
    return ([f"contrast {i + 1}" for i in range(L.shape[0])] if L.shape[0] > 1 else ["contrast"]), L


def term_index(terms: Any, names: Sequence[str], groups: Mapping[str, list[int]]) -> list[int]:
    """Columns of the named terms: a coefficient name, a model term (``C(region)``: all its
    columns), a variable (``region``), a list of them or R's ``"~a + b"``."""
    from .modelframe import variables

    if isinstance(terms, str):
        wanted = variables(terms) if terms.strip().startswith("~") or "+" in terms else [terms.strip()]
    else:
        wanted = [str(t) for t in terms]
    idx: list[int] = []
    for name in wanted:
        if name in names:
            hit = [list(names).index(name)]
        elif name in groups:
            hit = list(groups[name])
        else:
            hit = [j for label, cols in groups.items() if _term_variables(label) == {name} for j in cols]
        if not hit:
            raise InputError(f"'{name}' is not a term of the model; terms are: {', '.join(groups)}")
        idx.extend(j for j in hit if j not in idx)
    return idx


def _term_variables(label: str) -> set[str]:
    """Variables of a term label: ``C(region):age`` → ``{"region", "age"}``."""
    import re

    out = set()
    for factor in label.split(":"):
        m = re.fullmatch(r"C\((\w+)[^)]*\)", factor.strip())
        out.add(m.group(1) if m else factor.strip())
    return out


def _label(terms: Any) -> str:
    return terms if isinstance(terms, str) else " + ".join(map(str, terms))


def wald_test(coef: np.ndarray, vcov: np.ndarray, idx: list[int], names: list[str], df_resid: float | None, *,
              n: int | None = None, label: str = "", null: Sequence[float] | None = None) -> Result:
    """The Wald test that ``coef[idx]`` equal ``null`` (zero): R's ``regTermTest`` (``"Wald"``).

    ``F = βᵀV⁻¹β / q`` on ``q`` and ``df_resid`` degrees of freedom; χ² on ``q`` df when
    ``df_resid`` is None (normal). A design with no residual degrees of freedom gets no p-value
    and a warning.
    """
    from scipy import special

    beta = np.asarray(coef, dtype=float)[idx] - (0.0 if null is None else np.asarray(null, dtype=float))
    V = np.asarray(vcov, dtype=float)[np.ix_(idx, idx)]
    try:
        chisq = float(beta @ np.linalg.solve(V, beta))
    except np.linalg.LinAlgError:
        raise InputError("the covariance of the tested coefficients is singular (fewer PSUs than coefficients?); "
                         "test fewer terms or use a design with more PSUs") from None
    q = len(idx)
    tested = [names[i] for i in idx]
    warns: list[str] = []
    if df_resid is not None:
        F = chisq / q
        if df_resid > 0:
            p = float(special.fdtrc(q, df_resid, F))
        else:
            p = math.nan
            warns.append(f"the design has {df_resid:g} residual degrees of freedom: no F test is possible; "
                         "use a design with more PSUs or fewer terms")
        test = {"name": f"Wald test: {label} = 0", "statistic_name": "F", "statistic": F, "df": [q, df_resid], "p_value": p}
        stat = F
    else:
        p = float(special.chdtrc(q, chisq))
        test = {"name": f"Wald test: {label} = 0", "statistic_name": "χ²", "statistic": chisq, "df": q, "p_value": p}
        stat = chisq
    return Result(estimate=stat, n=n, method="wald-test", variable=label, scale="statistic",
                  hypothesis_tests={"wald": test},
                  details={"terms": tested, "chisq": chisq, "df": q, "ddf": df_resid, "p_value": p,
                           **({"F": stat} if df_resid is not None else {})},
                  warnings=tuple(warns))
