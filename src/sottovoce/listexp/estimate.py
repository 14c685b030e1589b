"""``list_experiment``: one entry point for the difference in means and the regressions.

Methods: ``dim`` (difference in means, design-based SE), ``lm`` and ``nls`` (Imai 2011's linear
and two-step NLS estimators) and ``ml`` (Imai 2011's EM maximum likelihood, with the constrained
or unconstrained control model and Blair & Imai 2012's ceiling/floor liars). Several sensitive
items (treatment coded 0 = control, 1..K) give one result per item under ``categories``: the ML
model is ictreg's joint one (a control model shared by all arms, one sensitive model per item);
the other estimators use the control group plus that item's arm (for lm and nls this is what
ictreg's joint fit amounts to).

Coefficients follow ``ictreg``: part ``sensitive`` = ``par.treat``; ``control`` =
``par.control`` (``control.psi0`` / ``control.psi1`` = ``par.control.psi0`` / ``psi1`` of the
unconstrained model); ``ceiling`` / ``floor`` = ``par.ceiling`` / ``par.floor``. Terms are named
like R's model.matrix: ``(Intercept)``, ``age``, ``C(region)[T.x]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm

from .._results import Result
from ..errors import InputError
from ..marginal import attach_index_model
from . import _data
from . import ml as _ml
from . import regression as _reg
from .dim import dim_influence

__all__ = ["list_experiment", "ListFit"]

METHODS = ("dim", "lm", "nls", "ml")


@dataclass(frozen=True)
class ListFit(Result):
    """A list-experiment result; regression fits can :meth:`predict` individual prevalence."""

    def predict(self, data: Any = None, avg: bool = False, weights: str | None = None) -> Any:
        """Predicted probability of holding the sensitive trait for each respondent of ``data``
        (default: the estimation data), or with ``avg=True`` their (weighted) mean as a Result
        with a delta-method standard error and ``± t_{n} · se`` interval, as ``predict.ictreg(avg =
        TRUE, interval = "confidence")`` (which simulates the same standard error)."""
        model = getattr(self, "_model", None)
        if model is None:
            raise InputError("predict() needs a regression fit (method lm, nls or ml)")
        X = model["X"] if data is None else _data.design_matrix(pd.DataFrame(data), model["covariates"])[0]
        if data is not None and X.shape[1] != len(model["beta"]):
            raise InputError("predict(): the new data give different covariate columns than the fit (check categories)")
        w = model["w"] if data is None else (np.ones(len(X)) if weights is None else pd.to_numeric(pd.DataFrame(data)[weights]).to_numpy(float))
        p, grad = _prevalence(model["method"], X, model["beta"], w)
        if not avg:
            return p
        est = float(np.average(p, weights=w))
        se = float(np.sqrt(grad @ model["V"] @ grad))
        # ictreg's predict(avg = TRUE) uses a t quantile with n degrees of freedom
        from scipy.stats import t as student_t

        z = student_t.ppf(0.5 + self.level_ci / 2, df=len(p))
        return Result(estimate=est, se=se, ci=(est - z * se, est + z * se), n=len(p), method=f"list-{model['method']}-predict", details={"is_share": True})


def _prevalence(method: str, X: np.ndarray, beta: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Individual prevalence and the gradient of its weighted mean with respect to ``beta``."""
    W = w.sum()
    if method == "lm":
        return X @ beta, (w @ X) / W
    p = expit(X @ beta)
    return p, ((w * p * (1 - p)) @ X) / W


def list_experiment(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    method: str = "dim",
    covariates: str | None = None,
    weights: str | None = None,
    strata: str | None = None,
    psu: str | None = None,
    by: str | None = None,
    constrained: bool = True,
    ceiling: bool = False,
    floor: bool = False,
    ceiling_covariates: str | None = None,
    floor_covariates: str | None = None,
    se: str = "observed",
    level: float = 0.95,
    tol: float = 1e-8,
    max_iter: int = 5000,
    joint: bool = True,
) -> ListFit:
    """Estimate the prevalence of the sensitive item(s) of a list experiment.

    Parameters
    ----------
    data : respondents (pandas or polars).
    count : column with the number of items the respondent agrees with.
    treat : column with the arm: 0 control, 1 treatment (1..K for K sensitive items).
    items : J, the number of control items.
    method : ``dim``, ``lm``, ``nls`` or ``ml``.
    covariates : formulaic right-hand side, e.g. ``"age + male + C(region)"`` (regressions).
    weights, strata, psu : survey design columns (see :class:`sottovoce.Survey`).
    by : column; adds one estimate per level under ``groups``.
    constrained : ML only; False fits ictreg's unconstrained model (``control.psi0/psi1``).
    ceiling, floor : ML only; Blair & Imai (2012) liar models (``ceiling_covariates`` and
        ``floor_covariates`` give their covariates, default intercept only).
    se : ``observed`` (inverse observed information, ictreg's choice; HC3 for lm), ``sandwich``
        or ``design`` (through ``Survey.cov_total``; the default when strata or PSUs are given).
    joint : several sensitive items with ``method="ml"``: fit ictreg's joint model (one control
        model shared by all arms, one sensitive model per item; Blair & Imai 2012, sec. 4).
        ``False`` fits each item with the control group separately (also used for the
        unconstrained and ceiling/floor models, and for dim, lm and nls, where both coincide).
    """
    if method not in METHODS:
        raise InputError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    if se not in ("observed", "sandwich", "design"):
        raise InputError(f"unknown se '{se}'; use observed, sandwich or design")
    if (strata or psu) and se == "observed":
        se = "design"
    if method != "ml" and (ceiling or floor or not constrained):
        raise InputError("--ceiling, --floor and --unconstrained apply to --method ml only")
    extra = [by] if by else []
    d = _data.load(data, count, treat, items, covariates if method != "dim" else None, weights, strata, psu, extra=extra)
    if method != "dim" and d.X.shape[1] > 1 and covariates:
        _check_rank(d)
    treated_arms = [a for a in d.arms if a != 0]
    if method == "ml" and len(treated_arms) > 1 and joint and constrained and not (ceiling or floor):
        return _ml_joint(d, treated_arms, covariates, se, level, tol, max_iter, by)
    results = [_one_arm(d, a, method, covariates, constrained, ceiling, floor, ceiling_covariates, floor_covariates, se, level, tol, max_iter, by) for a in treated_arms]
    if len(results) == 1:
        return results[0]
    return ListFit(
        method=f"list-{method}", n=int((d.w > 0).sum()), variable=count, level_ci=level,
        categories=tuple(r.with_(code=a, label=f"sensitive item {a}") for a, r in zip(treated_arms, results, strict=False)),
        details={"is_share": True, "J": d.J, "items": len(treated_arms)},
    )


def _check_rank(d: _data.ListData) -> None:
    for a in d.arms:
        Xa = d.X[d.t == a]
        if np.linalg.matrix_rank(Xa) < d.X.shape[1]:
            # name a covariate that is constant within this arm
            const = [term for j, term in enumerate(d.terms) if j > 0 and np.ptp(Xa[:, j]) == 0]
            which = const[0] if const else d.terms[-1]
            arm = "control group" if a == 0 else f"treatment arm {a}"
            raise InputError(f"covariate '{which}' is constant or collinear within the {arm}; drop it or merge its categories")


def _ci(est: float, se: float, level: float) -> tuple[float, float]:
    z = norm.ppf(0.5 + level / 2)
    return (est - z * se, est + z * se)


def _one_arm(d, arm, method, covariates, constrained, ceiling, floor, ceiling_cov, floor_cov, se, level, tol, max_iter, by) -> ListFit:
    sel = (d.t == 0) | (d.t == arm)
    w = np.where(sel, d.w, 0.0)
    n = int((w > 0).sum())
    warnings: list[str] = []
    base: dict[str, Any] = {"is_share": True, "J": d.J, "arm": arm, "se_type": se if method != "dim" else "design"}
    if method == "dim":
        est, u = dim_influence(d.y, sel & (d.t == arm), d.t == 0, w)
        s = float(np.sqrt(d.survey.cov_total(u)[0, 0]))
        groups = _dim_groups(d, arm, w, by, level) if by else ()
        if est < 0:
            warnings.append("the difference in means is negative: the treatment group counts fewer items than the control group (a design effect or deflation? run `sottovoce list-test`)")
        return ListFit(estimate=est, se=s, ci=_ci(est, s, level), n=n, method="list-dim", variable=d.count, level_ci=level,
                       groups=groups, details={**base, "n_treated": int(((d.t == arm) & (w > 0)).sum()), "n_control": int(((d.t == 0) & (w > 0)).sum())},
                       warnings=tuple(warnings))
    y, t, X = d.y[sel], (d.t[sel] == arm).astype(np.int64), d.X[sel]
    ws = d.w[sel]
    k = X.shape[1]
    U_sens = None  # per-respondent influence of the sensitive coefficients (design SEs)
    if method == "lm":
        beta, V, infl = _reg.fit_lm(y, t, X, ws, [0, 1])
        if se == "design" or se == "sandwich":
            U = np.zeros((len(d.y), 2 * k))
            U[sel] = infl
            V = d.survey.cov_total(U) if se == "design" else (infl * (ws ** 2)[:, None]).T @ infl
            U_sens = U[:, k:]
        parts = {"sensitive": (beta[k:], V[k:, k:]), "control": (beta[:k], V[:k, :k])}
        beta_s, V_s = beta[k:], V[k:, k:]
        extra: dict[str, Any] = {}
        vc_terms = [("control", term) for term in d.terms] + [("sensitive", term) for term in d.terms]
        V_full = V
    elif method == "nls":
        if se != "observed":
            raise InputError("method nls has ictreg's two-step standard errors only; use se='observed' (or method ml/lm for design-based SEs)")
        delta, psi, V = _reg.fit_nls(y, t, X, ws, d.J)
        parts = {"sensitive": (delta, V[:k, :k]), "control": (psi, V[k:, k:])}
        beta_s, V_s, extra = delta, V[:k, :k], {}
        vc_terms = [("sensitive", term) for term in d.terms] + [("control", term) for term in d.terms]
        V_full = V
    else:
        Xc = Xf = None
        tc = tf = None
        okc = okf = None
        if ceiling:
            Xc_all, tc, okc = _data.design_matrix(d.frame, ceiling_cov)
            Xc = Xc_all[sel]
        if floor:
            Xf_all, tf, okf = _data.design_matrix(d.frame, floor_cov)
            Xf = Xf_all[sel]
        for ok, what in ((okc, "ceiling") if ceiling else (None, ""), (okf, "floor") if floor else (None, "")):
            if ok is not None and not ok.all():
                raise InputError(f"the {what} covariates have missing values in {int((~ok).sum())} rows; use covariates that are also in --covariates")
        # collapse respondents with the same covariates, count and arm into weighted cells: the
        # likelihood is a sum over cells, so EM iterates on a few cells instead of every row
        pieces = [X, y[:, None], t[:, None]] + ([Xc] if Xc is not None else []) + ([Xf] if Xf is not None else [])
        cells, inv = _cells(np.hstack(pieces))
        wc = np.bincount(inv, weights=ws, minlength=len(cells))
        k0 = X.shape[1]
        kc = Xc.shape[1] if Xc is not None else 0
        model = _ml.MLModel(y=cells[:, k0], t=cells[:, k0 + 1].astype(np.int64), X=cells[:, :k0], terms=d.terms, J=d.J, wt=wc,
                            constrained=constrained, ceiling=ceiling, floor=floor,
                            X_ceiling=cells[:, k0 + 2:k0 + 2 + kc] if Xc is not None else None, terms_ceiling=tc,
                            X_floor=cells[:, k0 + 2 + kc:] if Xf is not None else None, terms_floor=tf)
        fit = _ml.fit_ml(model, tol=tol, max_iter=max_iter)
        if se == "observed":
            V_full = fit.vcov
        else:
            S = fit.model.score_rows(fit.theta)[inv]  # per respondent
            Hinv = np.linalg.inv(-fit.hessian)
            if se == "design":
                U = np.zeros((len(d.y), len(fit.theta)))
                U[sel] = S @ Hinv
                V_full = d.survey.cov_total(U)
                U_sens = U[:, :k]
            else:
                V_full = Hinv @ ((S * (ws ** 2)[:, None]).T @ S) @ Hinv
        par = model.split(fit.theta)
        parts = {}
        for i, b in enumerate(model.blocks):
            lo, hi = model.offsets[i], model.offsets[i + 1]
            parts[b.part] = (par[b.part], V_full[lo:hi, lo:hi])
        beta_s, V_s = par["sensitive"], V_full[:k, :k]
        vc_terms = [(b.part, term) for b in model.blocks for term in b.terms]
        extra = {"loglik": fit.loglik, "em_iterations": fit.iterations, "cells": len(cells), "loglik_trace": fit.trace[-50:] if len(fit.trace) > 50 else fit.trace}
        if ceiling or floor:
            extra.update(_liar_shares(model, fit.theta, wc))
        if weights_used(d) and se == "observed":
            warnings.append("observed-information SEs treat the weights as frequency weights (as ictreg does); use se='design' for survey weights")
    coefs = {part: {term: {"coef": float(b[j]), "se": float(np.sqrt(max(Vb[j, j], 0.0)))} for j, term in enumerate(d.terms if part in ("sensitive", "control", "control.psi0", "control.psi1") else _terms_for(part, tc if method == "ml" and ceiling else None, tf if method == "ml" and floor else None))}
             for part, (b, Vb) in parts.items()}
    p, grad = _prevalence(method, d.X, beta_s, np.where(sel, d.w, 0.0))
    Wsel = w.sum()
    est = float(w @ p / Wsel)
    s = float(np.sqrt(grad @ V_s @ grad))
    if se == "design" and U_sens is not None:
        # population prevalence: the coefficients' influence plus the sampling of the covariates
        u = np.where(sel, (p - est) / Wsel, 0.0) + U_sens @ grad
        s = float(np.sqrt(d.survey.cov_total(u)[0, 0]))
    groups = _reg_groups(d, method, beta_s, V_s, w, by, level) if by else ()
    fitres = ListFit(estimate=est, se=s, ci=_ci(est, s, level), n=n, method=f"list-{method}", variable=d.count, level_ci=level,
                     coefficients=coefs, groups=groups,
                     details={**base, **extra, "constrained": constrained, "covariates": covariates or "1",
                              "vcov": V_full, "vcov_terms": [f"{a}:{b}" for a, b in vc_terms]},
                     warnings=tuple(warnings))
    object.__setattr__(fitres, "_model", {"method": method, "X": d.X[sel], "beta": beta_s, "V": V_s, "w": ws, "covariates": covariates})
    attach_index_model(fitres, frame=d.frame, covariates=covariates, beta=beta_s, vcov=V_s, link="identity" if method == "lm" else "logit",
                       rows=sel, weights=np.where(sel, d.w, 0.0), X=d.X, survey=d.survey, influence=U_sens if se == "design" else None)
    return fitres


def _cells(stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and each respondent's row index; identity when nearly all rows differ."""
    probe = stacked[:: max(1, len(stacked) // 1000)]
    if len(np.unique(probe, axis=0)) < 0.5 * len(probe):
        cells, inv = np.unique(stacked, axis=0, return_inverse=True)
        return cells, inv.ravel()
    return stacked, np.arange(len(stacked))


def _ml_joint(d: _data.ListData, arms: list[int], covariates: str | None, se: str, level: float, tol: float, max_iter: int, by: str | None) -> ListFit:
    """ictreg's multi-item ML: shared control model, one sensitive model per item."""
    k = d.X.shape[1]
    cells, inv = _cells(np.c_[d.X, d.y, d.t])
    wc = np.bincount(inv, weights=d.w, minlength=len(cells))
    model = _ml.MLModel(y=cells[:, k], t=cells[:, k + 1].astype(np.int64), X=cells[:, :k], terms=d.terms, J=d.J, wt=wc, arms=len(arms))
    fit = _ml.fit_ml(model, tol=tol, max_iter=max_iter)
    U = None
    if se == "observed":
        V = fit.vcov
    else:
        S = model.score_rows(fit.theta)[inv]
        Hinv = np.linalg.inv(-fit.hessian)
        U = S @ Hinv
        V = d.survey.cov_total(U) if se == "design" else Hinv @ ((S * (d.w ** 2)[:, None]).T @ S) @ Hinv
    par = model.split(fit.theta)
    blocks = {b.part: slice(model.offsets[i], model.offsets[i + 1]) for i, b in enumerate(model.blocks)}

    def coef(part: str) -> dict[str, dict[str, float]]:
        b, sl = par[part], blocks[part]
        return {term: {"coef": float(b[j]), "se": float(np.sqrt(max(V[sl, sl][j, j], 0.0)))} for j, term in enumerate(d.terms)}

    cats = []
    for m, arm in enumerate(arms, start=1):
        part = f"sensitive.{m}"
        Vs = V[blocks[part], blocks[part]]
        p, grad = _prevalence("ml", d.X, par[part], d.w)
        est = float(np.average(p, weights=d.w))
        s = float(np.sqrt(grad @ Vs @ grad))
        if se == "design" and U is not None:  # add the sampling of the covariates
            u = (p - est) / d.w.sum() + U[:, blocks[part]] @ grad
            s = float(np.sqrt(d.survey.cov_total(u)[0, 0]))
        groups = _reg_groups(d, "ml", par[part], Vs, d.w, by, level) if by else ()
        r = ListFit(estimate=est, se=s, ci=_ci(est, s, level), n=int((d.w > 0).sum()), method="list-ml", variable=d.count, level_ci=level,
                    code=arm, label=f"sensitive item {arm}", groups=groups,
                    coefficients={"sensitive": coef(part), "control": coef("control")},
                    details={"is_share": True, "J": d.J, "arm": arm, "se_type": se})
        object.__setattr__(r, "_model", {"method": "ml", "X": d.X, "beta": par[part], "V": Vs, "w": d.w, "covariates": covariates})
        attach_index_model(r, frame=d.frame, covariates=covariates, beta=par[part], vcov=Vs, link="logit", rows=d.w > 0, weights=d.w,
                           X=d.X, survey=d.survey, influence=U[:, blocks[part]] if (U is not None and se == "design") else None)
        cats.append(r)
    names = [f"{b.part}:{term}" for b in model.blocks for term in b.terms]
    return ListFit(method="list-ml", n=int((d.w > 0).sum()), variable=d.count, level_ci=level, categories=tuple(cats),
                   details={"is_share": True, "J": d.J, "items": len(arms), "joint": True, "loglik": fit.loglik,
                            "em_iterations": fit.iterations, "vcov": V, "vcov_terms": names, "se_type": se})


def weights_used(d: _data.ListData) -> bool:
    """Whether the respondents carry unequal weights (a weight column or a calibrated Survey)."""
    pos = d.w[d.w > 0]
    return d.survey.weights_column is not None or bool(pos.size and np.ptp(pos) > 0)


def _terms_for(part: str, tc: list[str] | None, tf: list[str] | None) -> list[str]:
    if part == "ceiling":
        return tc or ["(Intercept)"]
    return tf or ["(Intercept)"]


def _liar_shares(model: _ml.MLModel, theta: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Population shares of ceiling/floor liars (Blair & Imai 2012, eq. 12–13)."""
    par = model.split(theta)
    g = expit(model.X @ par["sensitive"])
    h = expit(model.X @ par["control"])
    out = {}
    W = w.sum()
    if model.ceiling:
        q = expit(model.blocks[model._idx("ceiling")].X @ par["ceiling"])
        out["ceiling_liars_share"] = float(w @ (q * g * h ** model.J) / W)
        out["ceiling_liars_conditional"] = float((w @ (q * g * h ** model.J)) / (w @ (g * h ** model.J)))
    if model.floor:
        q = expit(model.blocks[model._idx("floor")].X @ par["floor"])
        out["floor_liars_share"] = float(w @ (q * g * (1 - h) ** model.J) / W)
        out["floor_liars_conditional"] = float((w @ (q * g * (1 - h) ** model.J)) / (w @ (g * (1 - h) ** model.J)))
    return out


def _levels(d: _data.ListData, by: str) -> list[Any]:
    col = d.frame[by]
    if col.isna().any():
        raise InputError(f"--by column '{by}' has {int(col.isna().sum())} missing values; drop them or fill in a category")
    return sorted(col.unique(), key=lambda v: (str(type(v)), v))


def _dim_groups(d, arm, w, by, level) -> tuple[Result, ...]:
    from ..io import category_label

    out = []
    col = d.frame[by].to_numpy()
    for lev in _levels(d, by):
        dom = col == lev
        est, u = dim_influence(d.y, dom & (d.t == arm), dom & (d.t == 0), np.where(dom, w, 0.0))
        u = np.where(dom, u, 0.0)
        s = float(np.sqrt(d.survey.cov_total(u)[0, 0]))
        out.append(Result(estimate=est, se=s, ci=_ci(est, s, level), n=int((dom & (w > 0)).sum()), method="list-dim", by=by,
                          level=lev, label=category_label(d.frame, by, lev), level_ci=level, details={"is_share": True}))
    return tuple(out)


def _reg_groups(d, method, beta, V, w, by, level) -> tuple[Result, ...]:
    from ..io import category_label

    out = []
    col = d.frame[by].to_numpy()
    for lev in _levels(d, by):
        dom = (col == lev) & (w > 0)
        p, grad = _prevalence(method, d.X[dom], beta, w[dom])
        est = float(np.average(p, weights=w[dom]))
        s = float(np.sqrt(grad @ V @ grad))
        out.append(Result(estimate=est, se=s, ci=_ci(est, s, level), n=int(dom.sum()), method=f"list-{method}", by=by, level=lev,
                          label=category_label(d.frame, by, lev), level_ci=level, details={"is_share": True}))
    return tuple(out)
