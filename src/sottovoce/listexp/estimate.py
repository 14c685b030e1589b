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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from .._results import Result
from ..errors import DesignError, InputError, SottovoceError
from ..intervals import DegreesOfFreedom, design_df
from ..marginal import index_model_of
from ..subgroups import Level, estimate_by
from ..survey import Survey
from ..validate import check_bool, check_column, check_int, check_level
from . import _data
from . import fit_test as _ft
from . import ml as _ml
from .dim import dim_influence

__all__ = ["list_experiment", "ListFit"]

METHODS = ("dim", "lm", "nls", "ml", "types")


@dataclass(frozen=True)
class ListFit(Result):
    """A list-experiment result; regression fits can :meth:`predict` individual prevalence."""

    #: the fitted model (method, design matrix, coefficients, covariance) for :meth:`predict`
    model: Any = field(default=None, repr=False, compare=False)

    def predict(self, data: Any = None, avg: bool = False, weights: str | None = None) -> Any:
        """Predicted probability of holding the sensitive trait for each respondent of ``data``
        (default: the estimation data), or with ``avg=True`` their (weighted) mean as a Result
        with a delta-method standard error and a ``t_{n}`` interval, as ``predict.ictreg(avg =
        TRUE, interval = "confidence")`` (which simulates the same standard error), kept in [0, 1].
        This is the model of the result it is called on: for a fit ``by`` a column, each of
        ``groups`` carries its own model (refitted in the group) and predicts from it."""
        model = self.model
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
        dof = DegreesOfFreedom(float(len(p)), "ictreg predict: respondents")
        return Result.from_estimate(est, se, scale="share", df=dof, level=self.level_ci, n=len(p),
                                    method=f"list-{model['method']}-predict")


    def display(self) -> Any:
        """The contract's display plus, for a regression fitted ``by`` a column, each group's own
        sensitive-item coefficients (the model refitted in the group), named by the group."""
        d = super().display()
        for owner in (self, *self.categories):
            for g in owner.groups:
                if g.failed is not None or not g.coefficients:
                    continue
                item = f"{owner.label}, " if owner is not self and owner.label else ""
                for t in g.display().tables:
                    if t.title.startswith("coefficients: sensitive"):
                        t.title = f"{t.title} — {item}{g.by}={g.label} ({g.n:,} respondents)"
                        d.tables.append(t)
        return d


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
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
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
    arms: Mapping[Any, str] | None = None,
    control: Any = None,
    overdispersed: bool = False,
    by_model: str = "refit",
) -> ListFit:
    """Estimate the prevalence of the sensitive item(s) of a list experiment.

    Parameters
    ----------
    data : respondents (pandas or polars).
    count : column with the number of items the respondent agrees with.
    treat : column with the arm: 0 control, 1 treatment. More than two arms (several sensitive
        items, or text labels) need them named: ``arms={0: "control", 1: "item A", 2: "item B"}``
        (the arm named "control" is the control) or ``control="control"`` (the control value;
        the other values are the items, named by their text, as R's factor ``control/affirm/race``).
    items : J, the number of control items.
    method : ``dim``, ``lm``, ``nls``, ``ml`` or ``types`` (maximum likelihood over Blair & Imai's
        respondent types: no law assumed for the control count; no covariates).
    covariates : formulaic right-hand side, e.g. ``"age + male + C(region)"`` (regressions).
    weights, strata, psu : survey design columns or Series (see :func:`sottovoce.survey.as_survey`);
        or pass a :class:`sottovoce.Survey` as ``data``.
    by : column; adds one estimate per level under ``groups``. A regression (lm, nls, ml) is
        refitted in each level, a domain of the design (estimates from the level's respondents,
        standard errors on the full design, as R's ``svyby(~y, ~g, design, svyglm)``); a level with
        too few respondents in an arm, or whose fit fails, is a failed group with the reason.
    by_model : ``"refit"`` (default; see ``by``) or ``"overall"``: each level's prevalence
        predicted from the one model fitted to everyone (``predict.ictreg`` on the level), which
        misses group differences the covariates do not carry; such groups are labelled
        ``list-<method>-overall-model`` and the result says so in its notes.
    constrained : ML only; False fits ictreg's unconstrained model (``control.psi0/psi1``).
    ceiling, floor : ML only; Blair & Imai (2012) liar models (``ceiling_covariates`` and
        ``floor_covariates`` give their covariates, default intercept only).
    se : ``observed`` (inverse observed information, ictreg's choice; HC3 for lm), ``sandwich``
        or ``design`` (through ``Survey.cov_total``; the default when strata or PSUs are given).
    joint : several sensitive items with ``method="ml"``: fit ictreg's joint model (one control
        model shared by all arms, one sensitive model per item; Blair & Imai 2012, sec. 4).
        ``False`` fits each item with the control group separately (also used for the
        unconstrained and ceiling/floor models, and for dim, lm and nls, where both coincide).
    overdispersed : ML only: a beta-binomial control count, as ``ictreg(..., overdispersed =
        TRUE)`` (constrained model; its ``logit(ρ)`` is the coefficient ``overdispersion``).

    ML and NLS fits carry a test of their control model against the control arm
    (``hypothesis_tests["control_fit"]``; :mod:`sottovoce.listexp.fit_test`) and a warning when
    it fails; :func:`sottovoce.listexp.fit_list_model` acts on it.
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} is not a list-experiment estimator; use one of {', '.join(METHODS)}")
    if se not in ("observed", "sandwich", "design"):
        raise InputError(f"se={se!r}: use observed, sandwich or design")
    check_level(level)
    check_column(by, "by")
    if by_model not in ("refit", "overall"):
        raise InputError(f"by_model={by_model!r}: use 'refit' (the model fitted in each group) or 'overall' (each group predicted "
                         "from the model of all respondents)")
    if by_model == "overall" and method in ("dim", "types"):
        raise InputError(f"by_model='overall' applies to the regressions (lm, nls, ml); method={method!r} has no model to predict "
                         "from and is estimated in each group")
    if covariates is not None and not isinstance(covariates, str):
        raise InputError(f"covariates={covariates!r} must be a formula right-hand side (a str), e.g. \"age + male\"")
    constrained, ceiling, floor, joint, overdispersed = (check_bool(v, k) for k, v in
                                                         (("constrained", constrained), ("ceiling", ceiling), ("floor", floor),
                                                          ("joint", joint), ("overdispersed", overdispersed)))
    check_int(max_iter, "max_iter", minimum=1)
    if (strata is not None or psu is not None) and se == "observed":
        se = "design"
    if method != "ml" and (ceiling or floor or not constrained or overdispersed):
        raise InputError("ceiling=True, floor=True, constrained=False and overdispersed=True apply to method='ml' only")
    if overdispersed and (ceiling or floor or not constrained):
        raise InputError("overdispersed=True is the constrained beta-binomial model without ceiling/floor liars (as ictreg's); "
                         "drop constrained=False, ceiling=True and floor=True")
    if method == "types":
        if covariates is not None and str(covariates).strip() not in ("", "1"):
            raise InputError("method='types' has no covariates (it models the joint law of control count and sensitive item "
                             "in the whole sample); drop covariates=, or use method='ml' or 'nls'")
        if se == "sandwich":
            raise InputError("method='types' has se='observed' or se='design'")
    extra = [by] if by else []
    d = _data.load(data, count, treat, items, covariates if method not in ("dim", "types") else None, weights, strata, psu, extra=extra,
                   arms=arms, control=control)
    if method != "dim" and d.X.shape[1] > 1 and covariates:
        _check_rank(d)
    treated_arms = [a for a in d.arms if a != 0]
    if method == "ml" and len(treated_arms) > 1 and joint and constrained and not (ceiling or floor or overdispersed):
        out = _ml_joint(d, treated_arms, covariates, se, level, tol, max_iter, by, by_model)
    else:
        results = [_one_arm(d, a, method, covariates, constrained, ceiling, floor, ceiling_covariates, floor_covariates, se, level, tol, max_iter, by,
                            overdispersed, by_model)
                   for a in treated_arms]
        if len(results) == 1:
            out = results[0]
        else:
            out = ListFit(
                method=f"list-{method}", n=int((d.w > 0).sum()), variable=count, level_ci=level, scale="share",
                categories=tuple(r.with_(code=a, label=d.arm_label(a)) for a, r in zip(treated_arms, results, strict=False)),
                details={"J": d.J, "items": len(treated_arms)}, stats={"n_arms": d.arm_counts()},
                warnings=tuple(dict.fromkeys(w for r in results for w in r.warnings)),
                notes=tuple(dict.fromkeys(n for r in results for n in r.notes if by and n.startswith(f"by {by}: "))),
                hypothesis_tests={f"{k}[{d.arm_label(a)}]": v for a, r in zip(treated_arms, results, strict=True)
                                  for k, v in r.hypothesis_tests.items()},
            )
    if d.warnings:
        out = out.with_(warnings=tuple(dict.fromkeys((*d.warnings, *out.warnings))))
    return out


def _check_rank(d: _data.ListData, rows: np.ndarray | None = None, arms: list[int] | None = None, where: str = "") -> None:
    """Each arm's covariates (among ``rows``) must have full rank; name a covariate that does not."""
    for a in d.arms if arms is None else arms:
        Xa = d.X[(d.t == a) if rows is None else (d.t == a) & rows]
        if np.linalg.matrix_rank(Xa) < d.X.shape[1]:
            # name a covariate that is constant within this arm
            const = [term for j, term in enumerate(d.terms) if j > 0 and np.ptp(Xa[:, j]) == 0]
            which = const[0] if const else d.terms[-1]
            arm = "control group" if a == 0 else f"treatment arm {a} ({d.arm_label(a)})"
            raise InputError(f"covariate '{which}' is constant or collinear within the {arm}{where}; drop it or merge its categories")


def _group_fit(d: _data.ListData, arms: list[int], dom: Survey, fit: Callable[[Survey], ListFit],
               stated: tuple[str, ...]) -> ListFit:
    """One group's regression (``by=``): the model refitted on the group's respondents, a domain
    of the design (R's ``svyby(~y, ~g, design, svyglm)``: estimates from the group, variance on
    the full design), once every arm has enough respondents in the group for the model. Warnings
    already ``stated`` by the overall fit are not repeated for each group."""
    inside = dom.weights > 0
    k = d.X.shape[1]
    small = []
    for a in arms:
        n_a = int(((d.t == a) & inside).sum())
        name = "control group" if a == 0 else f"treatment arm {a} ({d.arm_label(a)})"
        if n_a <= max(k, _data.MIN_ARM - 1):
            raise DesignError(f"too few respondents: the {name} has {n_a} in this group and the model has {k} coefficient(s) "
                              f"per part (at least {max(k + 1, _data.MIN_ARM)} needed); merge groups, use fewer covariates or method='dim'")
        if n_a < _data.SMALL_ARM:
            small.append(f"the {name} has only {n_a} respondents in this group: the group's fit is very uncertain")
    if k > 1:
        _check_rank(d, inside, arms, " (in this group)")
    res = fit(dom)
    return res.with_(warnings=tuple(w for w in dict.fromkeys((*small, *res.warnings)) if w not in stated))


def _with_by(res: ListFit, by: str, by_model: str, groups: tuple[Result, ...], notes: tuple[str, ...], covariates: str | None) -> ListFit:
    """The overall fit with its groups and a note saying how the groups were estimated."""
    if by_model == "overall":
        note = (f"by {by}: each group's prevalence is predicted from the overall model (covariates: {covariates or '1'}) fitted to all "
                f"respondents, not refitted in the group, so it misses any difference between the groups that the covariates do "
                f"not carry (the default refits the model in each group)")
    else:
        ses = ("design-based standard errors on the full design, as R's svyby with svyglm" if res.details.get("se_type") == "design"
               else "standard errors of the group's fit")
        note = f"by {by}: the model is refitted in each group (the group's respondents; {ses}), so each group has its own coefficients"
    return res.with_(by=by, groups=groups, notes=(*res.notes, note), details={**res.details, "by_model": by_model},
                     warnings=tuple(dict.fromkeys((*res.warnings, *notes))))


def _one_arm(d, arm, method, covariates, constrained, ceiling, floor, ceiling_cov, floor_cov, se, level, tol, max_iter, by,
             overdispersed=False, by_model="refit") -> ListFit:
    sel = (d.t == 0) | (d.t == arm)
    w = np.where(sel, d.w, 0.0)
    base: dict[str, Any] = {"J": d.J, "arm": arm, "se_type": se if method != "dim" else "design"}
    n_arms = {d.arm_label(0): int(((d.t == 0) & (w > 0)).sum()), d.arm_label(arm): int(((d.t == arm) & (w > 0)).sum())}
    if method == "types":
        res = _types_fit(d, arm, d.survey, level, se)
        if by:
            groups, notes = estimate_by(d.survey, by, lambda dom, lev: _types_fit(d, arm, dom, level, se), min_n=2)
            res = res.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*res.warnings, *notes))))
        return res.with_(details={**res.details, **base}, stats={**res.stats, "n_arms": n_arms})
    if method == "dim":
        res = _dim_fit(d, arm, d.survey, level)
        if by:
            groups, notes = estimate_by(d.survey, by, lambda dom, lev: _dim_fit(d, arm, dom, level), min_n=2)
            res = res.with_(by=by, groups=groups, warnings=tuple(dict.fromkeys((*res.warnings, *notes))))
        return res.with_(details={**res.details, **base, "n_treated": n_arms[d.arm_label(arm)], "n_control": n_arms[d.arm_label(0)]},
                         stats={"n_arms": n_arms})

    def fit_in(svy: Survey) -> ListFit:
        return _reg_fit(d, arm, method, covariates, constrained, ceiling, floor, ceiling_cov, floor_cov, se, level, tol, max_iter, svy,
                        overdispersed)

    res = fit_in(d.survey)
    if not by:
        return res
    if by_model == "overall":
        groups, notes = estimate_by(d.survey, by, lambda dom, lev: _reg_predict(d, res.model, np.where(sel, dom.weights, 0.0), level))
    else:
        groups, notes = estimate_by(d.survey, by, lambda dom, lev: _group_fit(d, [0, arm], dom, fit_in, res.warnings))
    return _with_by(res, by, by_model, groups, notes, covariates)


def _reg_fit(d, arm, method, covariates, constrained, ceiling, floor, ceiling_cov, floor_cov, se, level, tol, max_iter, svy,
             overdispersed=False) -> ListFit:
    """A list regression of one arm against the control, fitted in ``svy``: the whole design or a
    domain of it (:meth:`Survey.domain`: the domain's respondents, the variance on the full design)."""
    sel = ((d.t == 0) | (d.t == arm)) & svy.domain_mask()
    dw = svy.weights
    w = np.where(sel, dw, 0.0)
    n = int((w > 0).sum())
    warnings: list[str] = []
    base: dict[str, Any] = {"J": d.J, "arm": arm, "se_type": se}
    n_arms = {d.arm_label(0): int(((d.t == 0) & (w > 0)).sum()), d.arm_label(arm): int(((d.t == arm) & (w > 0)).sum())}
    y, t, X = d.y[sel], (d.t[sel] == arm).astype(np.int64), d.X[sel]
    ws = dw[sel]
    k = X.shape[1]
    U_sens = None  # per-respondent influence of the sensitive coefficients (design SEs)
    fit_tests: dict[str, Any] = {}
    if method == "lm":
        from . import regression as _reg  # scipy.optimize: only for lm and nls

        beta, V, infl = _reg.fit_lm(y, t, X, ws, [0, 1])
        if se == "design" or se == "sandwich":
            U = np.zeros((len(d.y), 2 * k))
            U[sel] = infl
            V = svy.cov_total(U) if se == "design" else (infl * (ws ** 2)[:, None]).T @ infl
            U_sens = U[:, k:]
        parts = {"sensitive": (beta[k:], V[k:, k:]), "control": (beta[:k], V[:k, :k])}
        beta_s, V_s = beta[k:], V[k:, k:]
        extra: dict[str, Any] = {}
        vc_terms = [("control", term) for term in d.terms] + [("sensitive", term) for term in d.terms]
        V_full = V
    elif method == "nls":
        if se != "observed":
            raise InputError("method nls has ictreg's two-step standard errors only; use se='observed' (or method ml/lm for design-based SEs)")
        from . import regression as _reg

        delta, psi, V = _reg.fit_nls(y, t, X, ws, d.J)
        fit_tests = {"control_fit": _ft.nls_mean_test(svy, d.y, (d.t == 0) & sel, d.X, psi, d.J)}
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
                raise InputError(f"the {what} covariates have missing values in {int((~ok).sum())} rows; use covariates that are also in covariates=")
        # collapse respondents with the same covariates, count and arm into weighted cells: the
        # likelihood is a sum over cells, so EM iterates on a few cells instead of every row
        pieces = [X, y[:, None], t[:, None]] + ([Xc] if Xc is not None else []) + ([Xf] if Xf is not None else [])
        cells, inv = _cells(np.hstack(pieces))
        wc = np.bincount(inv, weights=ws, minlength=len(cells))
        k0 = X.shape[1]
        kc = Xc.shape[1] if Xc is not None else 0
        model: Any
        if overdispersed:
            from . import betabinomial as _bb

            model = _bb.BBModel(y=cells[:, k0], t=cells[:, k0 + 1].astype(np.int64), X=cells[:, :k0], terms=d.terms, J=d.J, wt=wc)
            fit: Any = _bb.fit_bb(model, max_iter=min(max_iter, 500))
            em_iterations = 0
        else:
            model = _ml.MLModel(y=cells[:, k0], t=cells[:, k0 + 1].astype(np.int64), X=cells[:, :k0], terms=d.terms, J=d.J, wt=wc,
                                constrained=constrained, ceiling=ceiling, floor=floor,
                                X_ceiling=cells[:, k0 + 2:k0 + 2 + kc] if Xc is not None else None, terms_ceiling=tc,
                                X_floor=cells[:, k0 + 2 + kc:] if Xf is not None else None, terms_floor=tf)
            fit = _ml.fit_ml(model, tol=tol, max_iter=max_iter)
            em_iterations = fit.iterations
        S = fit.model.score_rows(fit.theta)[inv]  # per respondent
        Hinv = np.linalg.inv(-fit.hessian)
        U = np.zeros((len(d.y), len(fit.theta)))
        U[sel] = S @ Hinv  # θ̂ − θ ≈ Σ w_i U_i
        if se == "observed":
            V_full = fit.vcov
        elif se == "design":
            V_full = svy.cov_total(U)
            U_sens = U[:, :k]
        else:
            V_full = Hinv @ ((S * (ws ** 2)[:, None]).T @ S) @ Hinv
        fit_tests = {"control_fit": _control_law_test(d, svy, sel, model, inv, fit.theta, U, overdispersed, constrained)}
        par = model.split(fit.theta)
        parts = {}
        for i, b in enumerate(model.blocks):
            lo, hi = model.offsets[i], model.offsets[i + 1]
            parts[b.part] = (par[b.part], V_full[lo:hi, lo:hi])
        block_terms = {b.part: b.terms for b in model.blocks}
        beta_s, V_s = par["sensitive"], V_full[:k, :k]
        vc_terms = [(b.part, term) for b in model.blocks for term in b.terms]
        extra = {"loglik": fit.loglik, "em_iterations": em_iterations, "iterations": len(fit.trace) - 1, "cells": len(cells),
                 "loglik_trace": fit.trace[-50:] if len(fit.trace) > 50 else fit.trace}
        if overdispersed:
            rho = float(expit(par["overdispersion"][0]))
            extra.update({"overdispersed": True, "rho": rho, "variance_inflation": 1 + (d.J - 1) * rho})
        if ceiling or floor:
            extra.update(_liar_shares(model, fit.theta, wc))
        if weights_used(d) and se == "observed":
            warnings.append("observed-information SEs treat the weights as frequency weights (as ictreg does); use se='design' for survey weights")
    if method != "ml":
        block_terms = {part: d.terms for part in parts}
    coefs = {part: {term: {"coef": float(b[j]), "se": float(np.sqrt(max(Vb[j, j], 0.0)))} for j, term in enumerate(block_terms[part])}
             for part, (b, Vb) in parts.items()}
    if method != "lm":
        for entry in fit_tests.values():
            msg = _ft.failure_warning(entry, method)
            if msg:
                warnings.append(msg)
    p, grad = _prevalence(method, d.X, beta_s, w)
    Wsel = w.sum()
    est = float(w @ p / Wsel)
    s = float(np.sqrt(grad @ V_s @ grad))
    u_pop = None
    if se == "design" and U_sens is not None:
        # population prevalence: the coefficients' influence plus the sampling of the covariates
        u_pop = np.where(sel, (p - est) / Wsel, 0.0) + U_sens @ grad
        s = float(np.sqrt(svy.cov_total(u_pop)[0, 0]))
    stats = {"covariates": covariates or "1", **({"loglik": extra["loglik"], "iterations": extra["iterations"],
                                                   "em_iterations": extra["em_iterations"], "converged": True,
                                                   "cells": extra["cells"]} if method == "ml" else {}),
             "n_arms": n_arms, "se_type": _SE_WORDS.get(se, se)}
    fitres = ListFit.from_estimate(
        est, s, scale="share", df=design_df(svy, u_pop), level=level, n=n, method=f"list-{method}", variable=d.count,
        coefficients=coefs, stats=stats,
        details={**base, **extra, "constrained": constrained, "covariates": covariates or "1",
                 "vcov": V_full, "vcov_terms": [f"{a}:{b}" for a, b in vc_terms]},
        warnings=tuple(warnings), hypothesis_tests=fit_tests if method != "lm" else {},
        model={"method": method, "X": d.X[sel], "beta": beta_s, "V": V_s, "w": ws, "covariates": covariates,
               "influence": U_sens if se == "design" else None, "survey": svy,
               "index": index_model_of(frame=d.frame, covariates=covariates, beta=beta_s, vcov=V_s, X=d.X, survey=svy,
                                       link="identity" if method == "lm" else "logit", rows=sel, weights=w,
                                       influence=U_sens if se == "design" else None)},
    )
    return fitres


_SE_WORDS = {"observed": "observed information (as ictreg)", "sandwich": "sandwich", "design": "design-based (linearization)"}


def _dim_fit(d: _data.ListData, arm: int, svy: Survey, level: float) -> ListFit:
    """The difference in means of one arm against the control in ``svy`` (the design or a domain)."""
    w = np.where((d.t == 0) | (d.t == arm), svy.weights, 0.0)
    est, u = dim_influence(d.y, (d.t == arm) & (w > 0), (d.t == 0) & (w > 0), w)
    s = float(np.sqrt(svy.cov_total(u)[0, 0]))
    notes: tuple[str, ...] = ()
    if est < 0:
        notes = ("the difference in means is negative: the treatment group counts fewer items than the control group "
                 "(a design effect or deflation? run the design test, list_design_test)",)
    return ListFit.from_estimate(est, s, scale="share", df=design_df(svy, u), level=level, n=int((w > 0).sum()),
                                 method="list-dim", variable=d.count, notes=notes)


def _types_fit(d: _data.ListData, arm: int, svy: Survey, level: float, se: str) -> ListFit:
    """The respondent-types ML of one arm against the control in ``svy`` (the design or a domain)."""
    from .types import fit_types

    w = np.where((d.t == 0) | (d.t == arm), svy.weights, 0.0)
    T, C = (d.t == arm) & (w > 0), (d.t == 0) & (w > 0)
    f = fit_types(d.y, T, C, w, d.J)
    u = None
    s = f.se
    if se == "design":
        u = f.influence
        s = float(np.sqrt(svy.cov_total(u)[0, 0]))
    table = [{"y": y, "sensitive": z, "estimate": float(f.pi[z, y]), "se": float(f.pi_se[z, y]), "at_zero": bool(f.active[z, y])}
             for z in (1, 0) for y in range(d.J + 1)]
    zero = [f"π(y={r['y']}, sensitive={'yes' if r['sensitive'] else 'no'})" for r in table if r["at_zero"]]
    if f.moment_feasible:
        notes: tuple[str, ...] = ("every respondent type has a non-negative estimated share, so the types model's estimate "
                                  "is the difference in means",)
    else:
        dim = float(np.average(d.y[T], weights=w[T]) - np.average(d.y[C], weights=w[C]))
        notes = (f"the difference in means ({100 * dim:.1f}%) implies negative shares of some respondent types; the types model "
                 f"holds {', '.join(zero)} at zero (no design effect and no liars assumed — check list_design_test)",)
    return ListFit.from_estimate(
        f.prevalence, s, scale="share", df=design_df(svy, u), level=level, n=int((w > 0).sum()), method="list-types",
        variable=d.count, notes=notes,
        details={"pi": table, "types_at_zero": zero, "moment_feasible": f.moment_feasible, "loglik": f.loglik,
                 "se_type": se},
        stats={"loglik": f.loglik, "se_type": _SE_WORDS.get(se, se)},
    )


def _control_law_test(d: _data.ListData, svy: Survey, sel: np.ndarray, model: Any, inv: np.ndarray, theta: np.ndarray, U: np.ndarray,
                      overdispersed: bool, constrained: bool) -> dict[str, Any]:
    """The control-count test of an ML fit on cells (``inv`` maps respondents of ``sel`` to cells)."""
    J = d.J

    def pmf(th: np.ndarray) -> np.ndarray:
        P = np.zeros((len(d.y), J + 1))
        P[sel] = model.control_pmf(th)[inv]
        return P

    name = "beta-binomial" if overdispersed else ("binomial" if constrained else "binomial mixture (unconstrained)")
    return _ft.count_law_test(svy, d.y, (d.t == 0) & sel, pmf, theta, U, J, name)


def _reg_predict(d: _data.ListData, model: dict[str, Any], w: np.ndarray, level: float) -> ListFit:
    """A group's prevalence predicted by the overall model (``by_model="overall"``): the weighted
    mean of the individual predictions over the group (``predict.ictreg(newdata = group, avg =
    TRUE)``). Its variance: the overall coefficients' (from every respondent) and, with design
    SEs, the sampling of the group's covariates, on the overall model's design."""
    dom = w > 0
    if not dom.any():
        raise DesignError("no respondents with a positive weight in this group's arms")
    method, beta, svy = model["method"], model["beta"], model["survey"]
    p, grad = _prevalence(method, d.X, beta, w)
    W = float(w.sum())
    est = float(w @ p / W)
    s = float(np.sqrt(grad @ model["V"] @ grad))
    u = None
    if model["influence"] is not None:
        u = np.where(dom, (p - est) / W, 0.0) + model["influence"] @ grad
        s = float(np.sqrt(svy.cov_total(u)[0, 0]))
    return ListFit.from_estimate(est, s, scale="share", df=design_df(svy, u), level=level, n=int(dom.sum()),
                                 method=f"list-{method}-overall-model", variable=d.count,
                                 notes=("predicted from the overall model, not refitted in this group",))


def _cells(stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and each respondent's row index; identity when nearly all rows differ."""
    probe = stacked[:: max(1, len(stacked) // 1000)]
    if len(np.unique(probe, axis=0)) < 0.5 * len(probe):
        # one integer key per row (column codes in mixed radix, first column most significant):
        # sorting it orders the rows as np.unique(axis=0) does, several times faster
        key = np.zeros(len(stacked), dtype=np.int64)
        size = 1
        for col in stacked.T:
            u, code = np.unique(col, return_inverse=True)
            size *= len(u)
            if size >= 2 ** 62:
                cells, inv = np.unique(stacked, axis=0, return_inverse=True)
                return cells, inv.ravel()
            key = key * len(u) + code.ravel()
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return stacked[first], inv.ravel()
    return stacked, np.arange(len(stacked))


def _ml_joint(d: _data.ListData, arms: list[int], covariates: str | None, se: str, level: float, tol: float, max_iter: int,
              by: str | None, by_model: str = "refit") -> ListFit:
    """ictreg's multi-item ML: shared control model, one sensitive model per item; ``by`` refits the
    joint model in each group (one fit per group serves every item)."""
    def fit_in(svy: Survey) -> ListFit:
        return _ml_joint_fit(d, arms, covariates, se, level, tol, max_iter, svy)

    out = fit_in(d.survey)
    if not by:
        return out
    tried: dict[int, ListFit | SottovoceError | np.linalg.LinAlgError] = {}

    def group(dom: Survey, lev: Level, m: int) -> ListFit:
        if lev.index not in tried:  # the joint fit of this group, shared by the items
            try:
                tried[lev.index] = _group_fit(d, [0, *arms], dom, fit_in, out.warnings)
            except (SottovoceError, np.linalg.LinAlgError) as exc:
                tried[lev.index] = exc
        got = tried[lev.index]
        if not isinstance(got, ListFit):
            raise got
        return got.categories[m].with_(warnings=got.warnings)

    items = [c for c in out.categories if isinstance(c, ListFit)]  # all of them: a joint fit's items are ListFits

    def item(m: int) -> Callable[[Survey, Level], Result]:
        model = items[m].model
        if by_model == "overall":
            return lambda dom, lev: _reg_predict(d, model, dom.weights, level)
        return lambda dom, lev: group(dom, lev, m)

    cats = []
    for m, cat in enumerate(items):
        groups, notes = estimate_by(d.survey, by, item(m))
        cats.append(_with_by(cat, by, by_model, groups, notes, covariates))
    return out.with_(categories=tuple(cats), notes=(*out.notes, cats[0].notes[-1]), details={**out.details, "by_model": by_model},
                     warnings=tuple(dict.fromkeys((*out.warnings, *(w for c in cats for w in c.warnings)))))


def _ml_joint_fit(d: _data.ListData, arms: list[int], covariates: str | None, se: str, level: float, tol: float, max_iter: int,
                  svy: Survey) -> ListFit:
    """The joint multi-item ML fitted in ``svy`` (the whole design or a domain of it)."""
    k = d.X.shape[1]
    rows = svy.domain_mask()
    w_all = np.where(rows, svy.weights, 0.0)
    X, y, t, w = d.X[rows], d.y[rows], d.t[rows], w_all[rows]
    cells, inv = _cells(np.c_[X, y, t])
    wc = np.bincount(inv, weights=w, minlength=len(cells))
    model = _ml.MLModel(y=cells[:, k], t=cells[:, k + 1].astype(np.int64), X=cells[:, :k], terms=d.terms, J=d.J, wt=wc, arms=len(arms))
    fit = _ml.fit_ml(model, tol=tol, max_iter=max_iter)
    U = None
    if se == "observed":
        V = fit.vcov
    else:
        S = model.score_rows(fit.theta)[inv]
        Hinv = np.linalg.inv(-fit.hessian)
        U = np.zeros((len(d.y), len(fit.theta)))
        U[rows] = S @ Hinv
        V = svy.cov_total(U) if se == "design" else Hinv @ ((S * (w ** 2)[:, None]).T @ S) @ Hinv
    par = model.split(fit.theta)
    blocks = {b.part: slice(model.offsets[i], model.offsets[i + 1]) for i, b in enumerate(model.blocks)}

    def coef(part: str) -> dict[str, dict[str, float]]:
        b, sl = par[part], blocks[part]
        return {term: {"coef": float(b[j]), "se": float(np.sqrt(max(V[sl, sl][j, j], 0.0)))} for j, term in enumerate(d.terms)}

    cats = []
    for m, arm in enumerate(arms, start=1):
        part = f"sensitive.{m}"
        Vs = V[blocks[part], blocks[part]]
        p, grad = _prevalence("ml", d.X, par[part], w_all)
        est = float(np.average(p, weights=w_all))
        s = float(np.sqrt(grad @ Vs @ grad))
        u = None
        U_part = U[:, blocks[part]] if (U is not None and se == "design") else None
        if U_part is not None:  # add the sampling of the covariates
            u = np.where(rows, (p - est) / w_all.sum(), 0.0) + U_part @ grad
            s = float(np.sqrt(svy.cov_total(u)[0, 0]))
        r = ListFit.from_estimate(
            est, s, scale="share", df=design_df(svy, u), level=level, n=int((w_all > 0).sum()), method="list-ml",
            variable=d.count, code=arm, label=d.arm_label(arm),
            coefficients={"sensitive": coef(part), "control": coef("control")},
            details={"J": d.J, "arm": arm, "se_type": se},
            model={"method": "ml", "X": X, "beta": par[part], "V": Vs, "w": w, "covariates": covariates,
                   "influence": U_part, "survey": svy,
                   "index": index_model_of(frame=d.frame, covariates=covariates, beta=par[part], vcov=Vs, X=d.X, survey=svy,
                                           link="logit", rows=w_all > 0, weights=w_all, influence=U_part)},
        )
        cats.append(r)
    names = [f"{b.part}:{term}" for b in model.blocks for term in b.terms]
    n_arms = {d.arm_label(a): int(((d.t == a) & (w_all > 0)).sum()) for a in [0, *arms]}
    return ListFit(method="list-ml", n=int((w_all > 0).sum()), variable=d.count, level_ci=level, scale="share", categories=tuple(cats),
                   stats={"covariates": covariates or "1", "loglik": fit.loglik, "iterations": len(fit.trace) - 1,
                          "em_iterations": fit.iterations, "converged": True,
                          "n_arms": n_arms, "se_type": _SE_WORDS.get(se, se)},
                   details={"J": d.J, "items": len(arms), "joint": True, "loglik": fit.loglik,
                            "em_iterations": fit.iterations, "vcov": V, "vcov_terms": names, "se_type": se},
                   warnings=tuple(dict.fromkeys(w for c in cats for w in c.warnings)))


def weights_used(d: _data.ListData) -> bool:
    """Whether the respondents carry unequal weights (a weight column or a calibrated Survey)."""
    pos = d.w[d.w > 0]
    return d.survey.weights_column is not None or bool(pos.size and np.ptp(pos) > 0)


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
