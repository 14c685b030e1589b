"""Predictive margins and average marginal effects for any single-index model ``μ = h(xᵀβ)``.

One tool serves every regression in sottovoce — design-based GLMs, list-experiment regressions
(linear, NLS and ML; ``μ`` = probability of the sensitive trait) and randomized-response
regressions — because each can describe itself as an :class:`IndexModel`: the data, the rows it
was fitted on with their weights, a way to rebuild the model matrix for changed data, ``β̂``, its
covariance, the link and, when the design is known, the influence values ``U_i`` with
``β̂ − β ≈ Σ w_i U_i``.

A *predictive margin* (Graubard & Korn 1999, *Biometrics* 55:652) is the weighted average of the
predictions ``m = Σ_d w_i h(x_iᵀβ̂) / Σ_d w_i`` over the respondents of a domain ``d`` — either as
observed (``by=``: "predicted support among the young") or with one variable set to a level for
everybody (``at=``: "support if everybody were young, other characteristics as they are"). An
*average marginal effect* is the difference between two such margins (a category against the
reference), or the average derivative for a numeric variable (central differences, step 10⁻⁴ of
its standard deviation).

Variance (``vce``):

* ``"unconditional"`` (default; Stata's ``margins, vce(unconditional)``): the margin's influence
  ``1[i∈d](μ_i − m)/W_d + gᵀU_i`` with ``g = ∂m/∂β`` goes through :meth:`Survey.cov_total`, so the
  sampling of the covariates and of the coefficients and their covariance are all counted, for
  every margin jointly (contrasts of margins are exact). For a GLM fitted on replicate weights
  the margins are recomputed in every replicate from the replicate coefficients instead.
* ``"delta"``: ``gᵀ V_β g``, conditional on the respondents' covariates (``predict.ictreg`` and
  ``predict.rrreg`` with ``avg = TRUE``; Stata's default ``margins``).
* ``"svypredmeans"``: R's ``svypredmeans``, the sum ``gᵀV_βg + var(Σ_d w μ_i / W_d)`` of the two
  parts, leaving out their covariance.

Degrees of freedom: each margin, marginal effect and contrast of margins takes the
Satterthwaite effective df of the linearization values behind its variance (issue 17; for
``"delta"`` the coefficients' part ``gᵀU_i``, for ``"svypredmeans"`` the strata parts of both
terms added), counted over the PSUs of the fit's respondents; ``df="design"``: PSUs − strata, as R.

Models that carry no influence values (fitted without a design) fall back to ``"delta"`` and say
so. :func:`margins_difference` compares two models on the same respondents — an indirect
(list or RR) and a direct question — with the covariance of the two through one
``cov_total`` call: "who hides their view", by group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .estimates import Estimates, Linearization
from .intervals import NORMAL, DegreesOfFreedom, design_df
from .io import value_labels

__all__ = ["IndexModel", "attach_index_model", "index_model", "index_model_of", "predictive_margins",
           "average_marginal_effects", "margins_difference"]

VCE = ("unconditional", "delta", "svypredmeans")
MAX_AT_LEVELS = 50  # at= sets a variable to each of its levels; more than this is a numeric variable


def _inverse_link(link: str) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    if link == "identity":
        return lambda eta: (eta, np.ones_like(eta))
    if link == "logit":
        def logit(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mu = 1.0 / (1.0 + np.exp(-eta))
            return mu, mu * (1 - mu)
        return logit
    if link == "log":
        def log(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mu = np.exp(eta)
            return mu, mu
        return log
    raise InputError(f"link '{link}' is not supported by the margins tool (identity, logit, log)")


@dataclass(frozen=True)
class IndexModel:
    """A fitted ``μ = h(xᵀβ)`` and what margins need (see the module docstring).

    ``frame`` has one row per design row; ``rows`` marks the respondents the fit used (their
    weighted average is the margin), ``weights`` their averaging weights; ``build`` rebuilds the
    model matrix of a changed copy of ``frame`` with the fit's coding; ``influence`` (n, k) is
    ``None`` without a design; ``replicate_coefs``/``replicate_weights`` let a replicate-weight
    GLM recompute margins per replicate; ``survey`` gives ``cov_total``.
    """

    frame: pd.DataFrame
    rows: np.ndarray
    weights: np.ndarray
    X: np.ndarray
    build: Callable[[pd.DataFrame], np.ndarray]
    beta: np.ndarray
    vcov: np.ndarray
    link: str
    terms: tuple[str, ...]
    variables: tuple[str, ...]
    survey: Any = None
    influence: np.ndarray | None = None
    replicate_coefs: np.ndarray | None = None
    replicate_weights: np.ndarray | None = None
    df: DegreesOfFreedom = NORMAL
    what: str = "prediction"
    share: bool = False  # predictions are probabilities (margins are shares)


def attach_index_model(result: Any, **model: Any) -> Any:
    """Give a regression result the margins tools: :func:`index_model_of` is stored on the
    (frozen) result; returns the result (a copy made by ``with_`` loses it: results with a
    ``model`` dict keep it there under ``"index"`` instead)."""
    index = index_model_of(**model)
    if index is not None:
        object.__setattr__(result, "_index_model", index)
    return result


def index_model_of(*, frame: pd.DataFrame, covariates: str | None, beta: np.ndarray, vcov: np.ndarray, link: str,
                   rows: np.ndarray, weights: np.ndarray, X: np.ndarray | None = None, survey: Any = None,
                   influence: np.ndarray | None = None, what: str = "prevalence") -> IndexModel | None:
    """The :class:`IndexModel` of a fitted regression (list experiment, randomized response), or
    None when the formula cannot be rebuilt. ``covariates`` is the formula's right-hand side (or
    the whole formula); ``rows`` is a mask over ``frame`` with ``weights`` and ``influence`` per
    row of ``frame``, or row numbers with one weight each."""
    rhs = (covariates or "1").split("~", 1)[-1].strip() or "1"
    frame = frame.reset_index(drop=True)
    rows = np.asarray(rows)
    if rows.dtype != bool:  # row numbers, with one weight each
        idx = rows.astype(np.int64)
        rows = np.zeros(len(frame), dtype=bool)
        rows[idx] = True
        full = np.zeros(len(frame))
        full[idx] = np.asarray(weights, dtype=float)
        weights = full
    if rhs == "1":  # intercept only (no covariates): no formula to rebuild, and formulaic costs ~0.7 s to import
        terms: tuple[str, ...] = ("(Intercept)",)
        Xf = np.ones((len(frame), 1)) if X is None else np.asarray(X, dtype=float)
        vars_: tuple[str, ...] = ()

        def build(f: pd.DataFrame) -> np.ndarray:
            return np.ones((len(f), 1))
    else:
        from formulaic import Formula, model_matrix

        mm = model_matrix(rhs, frame, na_action="ignore")
        spec = mm.model_spec
        Xf = np.asarray(mm, dtype=float) if X is None else np.asarray(X, dtype=float)
        terms = tuple("(Intercept)" if c == "Intercept" else str(c) for c in mm.columns)

        def build(f: pd.DataFrame) -> np.ndarray:
            return np.asarray(spec.get_model_matrix(f, na_action="ignore"), dtype=float)

        vars_ = tuple(sorted(str(v) for v in Formula(rhs).required_variables if str(v) in frame.columns))
    if Xf.shape != (len(frame), len(terms)) or len(beta) != len(terms):
        return None  # a model this tool cannot rebuild; margins then say so
    return IndexModel(frame=frame, rows=np.asarray(rows, dtype=bool), weights=np.asarray(weights, dtype=float), X=Xf,
                      build=build, beta=np.asarray(beta, dtype=float), vcov=np.asarray(vcov, dtype=float), link=link,
                      terms=terms, variables=vars_, survey=survey, influence=influence,
                      df=design_df(survey) if survey is not None else NORMAL, what=what, share=True)


def index_model(result: Any) -> IndexModel:
    """The :class:`IndexModel` of a fitted regression result (GLM, list experiment, RR)."""
    if isinstance(result, IndexModel):
        return result
    model = getattr(result, "_index_model", None)
    stored = getattr(result, "model", None)
    if model is None and isinstance(stored, dict):
        model = stored.get("index")
    if model is None and getattr(result, "fit", None) is not None and hasattr(result, "coef"):
        model = _glm_model(result)
    if model is None:
        raise InputError("margins need a regression fit (Survey.glm, list_experiment with covariates and method "
                         "lm/nls/ml, or rr_regression); this result has no model")
    return model


def _glm_model(res: Any) -> IndexModel:
    fit = res.fit
    mf = fit.mf
    from .modelframe import _check_variables

    vars_ = tuple(v for v in _check_variables("~ " + mf.rhs, fit.survey.data))
    return IndexModel(
        frame=fit.survey.data.reset_index(drop=True), rows=fit.rows, weights=np.where(fit.rows, fit.survey.weights, 0.0),
        X=np.nan_to_num(mf.X), build=lambda f: np.nan_to_num(mf.matrix(f)), beta=res.coef, vcov=res.vcov, link=res.link,
        terms=res.terms, variables=vars_, survey=fit.survey, influence=fit.influence,
        replicate_coefs=fit.replicate_coefs, replicate_weights=fit.replicate_weights,
        df=design_df(fit.survey.domain(fit.rows)),
        what=f"predicted {mf.response}", share=res.link == "logit",
    )


@dataclass(frozen=True)
class _Scenario:
    name: str
    X: np.ndarray  # (n, k) model matrix for this scenario
    domain: np.ndarray  # bool (n,)


def _evaluate(model: IndexModel, scenarios: list[_Scenario]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Margins m (S,), gradients G (S, k), margin influence (n, S) without and with the
    coefficients' part."""
    h = _inverse_link(model.link)
    n, S = len(model.rows), len(scenarios)
    m = np.zeros(S)
    G = np.zeros((S, len(model.beta)))
    own = np.zeros((n, S))
    for s, sc in enumerate(scenarios):
        d = sc.domain & model.rows
        w = np.where(d, model.weights, 0.0)
        W = w.sum()
        if W <= 0:
            raise InputError(f"margin '{sc.name}': no respondents with a positive weight")
        mu, dmu = h(sc.X @ model.beta)
        mu = np.where(d, mu, 0.0)
        m[s] = float(w @ mu) / W
        G[s] = ((w * np.where(d, dmu, 0.0)) @ np.where(d[:, None], sc.X, 0.0)) / W
        own[:, s] = np.where(d, mu - m[s], 0.0) / W
    total = own + (model.influence @ G.T if model.influence is not None else 0.0)
    return m, G, own, total


def _covariance(model: IndexModel, scenarios: list[_Scenario],
                vce: str) -> tuple[np.ndarray, np.ndarray, str, Linearization | None]:
    """Margins, their covariance, the variance used and the linearization behind it (None when
    the variance does not come from strata: replicates, or no design)."""
    if vce not in VCE:
        raise InputError(f"vce='{vce}' is not one of {', '.join(VCE)}")
    m, G, own, total = _evaluate(model, scenarios)
    delta = G @ model.vcov @ G.T
    survey = model.survey
    if vce == "delta" or survey is None or model.influence is None:
        used = "delta" if vce == "delta" else "delta (no design influence for this model)"
        # gᵀV_βg with V_β = cov_total(U): the margins' influence through the coefficients
        lin = None if model.influence is None or survey is None else _linearization(model, model.influence @ G.T)
        return m, delta, used, lin
    h = _inverse_link(model.link)
    if vce == "svypredmeans":
        if not survey.replicates:  # two variances added, their covariance left out: strata parts add too
            return m, delta + survey.cov_total(own), vce, _linearization(model, model.influence @ G.T, own)
        # R: svymean of the fixed predictions, recomputed in each replicate
        reps = _replicate_weights(model)
        fits = np.column_stack([h(sc.X @ model.beta)[0] for sc in scenarios])
        doms = np.column_stack([sc.domain & model.rows for sc in scenarios]).astype(float)
        est = (reps.T @ (np.nan_to_num(fits) * doms)) / (reps.T @ doms)
        return m, delta + survey.replicate_cov(est, m), vce, None
    if model.replicate_coefs is not None and model.replicate_weights is not None:
        reps = model.replicate_weights
        est = np.full((reps.shape[1], len(scenarios)), np.nan)
        for r in range(reps.shape[1]):
            if not np.isfinite(model.replicate_coefs[r]).all():
                continue
            for s, sc in enumerate(scenarios):
                wr = np.where(sc.domain & model.rows, reps[:, r], 0.0)
                est[r, s] = (wr @ h(sc.X @ model.replicate_coefs[r])[0]) / wr.sum()
        return m, survey.replicate_cov(est, m), "replicates (refitted)", None
    return m, survey.cov_total(total), vce, _linearization(model, total)


def _linearization(model: IndexModel, *influence: np.ndarray) -> Linearization | None:
    """The margins' linearization over the fit's respondents (their PSUs give the df, as the
    model's), so each margin and each contrast of margins gets its effective df (issue 17)."""
    if model.survey is None or model.survey.replicates:
        return None
    return Linearization(model.survey.domain(model.rows), influence)


def _replicate_weights(model: IndexModel) -> np.ndarray:
    if model.replicate_weights is not None:
        return model.replicate_weights
    return model.survey.replicate_weights() * (model.survey.domain_mask() & model.rows)[:, None]


def _levels(model: IndexModel, col: str) -> list[Any]:
    if col not in model.frame.columns:
        raise InputError(f"column '{col}' is not in the model's data; columns are: {', '.join(map(str, model.frame.columns[:20]))}")
    s = model.frame.loc[model.rows, col].dropna()
    return sorted(pd.unique(s), key=lambda v: (str(type(v)), v))


def _label(model: IndexModel, col: str, level: Any) -> str:
    lab = value_labels(model.frame, col).get(level)
    return str(lab if lab is not None else level)


def _scenarios(model: IndexModel, at: str | None, by: str | None) -> list[_Scenario]:
    domains: list[tuple[str, np.ndarray]] = [("", np.ones(len(model.rows), dtype=bool))]
    if by is not None:
        col = model.frame[by].to_numpy()
        domains = [(f"{by}={_label(model, by, lev)}", col == lev) for lev in _levels(model, by)]
    out = []
    for dname, dmask in domains:
        if at is None:
            out.append(_Scenario(dname or "all", model.X, dmask))
            continue
        if at not in model.variables:
            raise InputError(f"'{at}' is not a variable of the model ({', '.join(model.variables)}); margins at= needs one")
        levels = _levels(model, at)
        if len(levels) > MAX_AT_LEVELS:
            raise InputError(f"'{at}' has {len(levels)} distinct values; margins at= is for categories "
                             "(use marginal_effects() for a numeric variable, or group it first)")
        for lev in levels:
            f = model.frame.copy()
            f[at] = pd.Series([lev] * len(f), index=f.index, dtype=model.frame[at].dtype)
            name = f"{at}={_label(model, at, lev)}" + (f", {dname}" if dname else "")
            out.append(_Scenario(name, model.build(f), dmask))
    return out


def _result(model: IndexModel, names: list[str], m: np.ndarray, V: np.ndarray, vce: str, method: str,
            title: str, base: Any = None, difference: bool = False, derivative: bool = False,
            tests: bool = False, lin: Linearization | None = None) -> Estimates:
    """Margins (or their differences) as an :class:`Estimates`: shares (differences of shares) for
    probability models, numbers on the outcome's scale otherwise; differences get t tests."""
    n = int((model.rows & (model.weights > 0)).sum())
    if derivative:
        scale = "coefficient"
    elif model.share:
        scale = "share-difference" if difference else "share"
    else:
        scale = "mean"
    warns = tuple(getattr(base, "warnings", ()) or ())
    return Estimates.build(names, m, V, scale=scale, dof=model.df, linearization=lin, tests=tests or difference or derivative,
                           n=n, method=method,
                           variable=title, details={"vce": vce, "link": model.link, "of": model.what}, warnings=warns)


def predictive_margins(fit: Any, at: str | None = None, by: str | None = None, vce: str = "unconditional") -> Estimates:
    """Predictive margins of a fitted regression (see the module docstring).

    ``by="age_group"``: the average prediction among each group's respondents as they are;
    ``at="sex"``: the average prediction with everybody set to each level of ``sex`` (R's
    ``svypredmeans``, which adds the variable to the model; here it must be in the model);
    neither: the average prediction over the fit's respondents. The result supports
    ``.contrast()`` for differences between margins with exact joint SEs.
    """
    model = index_model(fit)
    sc = _scenarios(model, at, by)
    m, V, used, lin = _covariance(model, sc, vce)
    return _result(model, [s.name for s in sc], m, V, used, "predictive-margins",
                   f"Predictive margins ({model.what})" + (f" at {at}" if at else "") + (f" by {by}" if by else ""), fit,
                   lin=lin)


def average_marginal_effects(fit: Any, variables: str | Sequence[str] | None = None, by: str | None = None,
                             vce: str = "unconditional") -> Estimates:
    """Average marginal effects: for a numeric variable the average derivative of the prediction
    (per unit), for a categorical one each level's predictive margin minus the reference level's
    (the first in sorted order). Default: every variable of the model."""
    model = index_model(fit)
    names = list(model.variables) if variables is None else ([variables] if isinstance(variables, str) else list(variables))
    domains: list[tuple[str, np.ndarray]] = [("", np.ones(len(model.rows), dtype=bool))]
    if by is not None:
        col = model.frame[by].to_numpy()
        domains = [(f"{by}={_label(model, by, lev)}", col == lev) for lev in _levels(model, by)]
    scen: list[_Scenario] = []
    all_categorical = True
    rows_L: list[dict[int, float]] = []
    labels: list[str] = []
    for v in names:
        if v not in model.variables:
            raise InputError(f"'{v}' is not a variable of the model ({', '.join(model.variables)})")
        s = model.frame[v]
        categorical = (not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                       or any(f"C({v}" in t for t in model.terms))
        for dname, dmask in domains:
            suffix = f", {dname}" if dname else ""
            if categorical:
                levs = _levels(model, v)
                start = len(scen)
                for lev in levs:
                    f = model.frame.copy()
                    f[v] = pd.Series([lev] * len(f), index=f.index, dtype=s.dtype)
                    scen.append(_Scenario(f"{v}={lev}", model.build(f), dmask))
                for j, lev in enumerate(levs[1:], start=1):
                    rows_L.append({start + j: 1.0, start: -1.0})
                    labels.append(f"{v}: {_label(model, v, lev)} − {_label(model, v, levs[0])}{suffix}")
            else:
                all_categorical = False
                x = s.to_numpy(dtype=float)
                sd = float(np.nanstd(x[model.rows])) if model.rows.any() else 0.0
                step = 1e-4 * (sd if sd > 0 else 1.0)
                start = len(scen)
                for sign in (1, -1):
                    f = model.frame.copy()
                    f[v] = x + sign * step
                    scen.append(_Scenario(f"{v}{'+' if sign > 0 else '-'}h", model.build(f), dmask))
                rows_L.append({start: 1 / (2 * step), start + 1: -1 / (2 * step)})
                labels.append(f"d {v}{suffix}")
    m, V, used, lin = _covariance(model, scen, vce)
    L = np.zeros((len(rows_L), len(scen)))
    for i, r in enumerate(rows_L):
        for j, c in r.items():
            L[i, j] = c
    return _result(model, labels, L @ m, L @ V @ L.T, used, "marginal-effects",
                   f"Average marginal effects on the {model.what}", fit, difference=all_categorical and model.share,
                   derivative=not all_categorical, tests=True, lin=None if lin is None else lin.combine(L))


def _same_design(a: Any, b: Any) -> bool:
    """Whether two fits used one design (the same Survey, or equal data and design)."""
    if a is None or b is None:
        return False
    if a is b or a.data is b.data:
        return True
    return (len(a.data) == len(b.data) and a._describe() == b._describe()
            and np.array_equal(a.weights, b.weights) and a.data.equals(b.data))


def margins_difference(first: Any, second: Any, at: str | None = None, by: str | None = None,
                       vce: str = "unconditional") -> Estimates:
    """Margins of ``first`` minus those of ``second``, with the covariance between the two fits.

    "Who hides it": ``margins_difference(list_fit, direct_glm, by="age_group")`` gives, per age
    group, the share with the trait by the indirect question minus the share who say so when
    asked directly. Both models must be fitted on the same respondents' design (the same data
    and Survey) to get their covariance from one ``cov_total`` call; otherwise (or with
    ``vce="delta"``) the two are treated as independent, which the result says.
    """
    a, b = index_model(first), index_model(second)
    sa, sb = _scenarios(a, at, by), _scenarios(b, at, by)
    if [s.name for s in sa] != [s.name for s in sb]:
        raise InputError("the two models give different groups; use the same data and the same by=/at=")
    joint = (vce == "unconditional" and a.influence is not None and b.influence is not None
             and _same_design(a.survey, b.survey))
    if joint:
        ma, _, _, ua = _evaluate(a, sa)
        mb, _, _, ub = _evaluate(b, sb)
        V2 = a.survey.cov_total(np.hstack([ua, ub]))
        S = len(sa)
        L = np.hstack([np.eye(S), -np.eye(S)])
        m, V, used = ma - mb, L @ V2 @ L.T, "unconditional (joint)"
        lin = None if a.survey.replicates else Linearization(a.survey.domain(a.rows | b.rows), (ua - ub,))
    else:
        ma, Va, ua_used, lin_a = _covariance(a, sa, vce)
        mb, Vb, ub_used, lin_b = _covariance(b, sb, vce)
        m, V, used = ma - mb, Va + Vb, f"{ua_used} / {ub_used}, the two fits treated as independent"
        # independent variances add, and so do their strata parts when both come from one design
        lin = (Linearization(a.survey.domain(a.rows | b.rows), (*lin_a.influence, *lin_b.influence))
               if lin_a is not None and lin_b is not None and _same_design(a.survey, b.survey) else None)
    return _result(a, [s.name for s in sa], m, V, used, "margins-difference",
                   f"Difference of predictive margins: {a.what} − {b.what}", first, difference=a.share and b.share, tests=True,
                   lin=lin)
