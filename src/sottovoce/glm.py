"""Design-based generalised linear models (R's ``svyglm``).

The coefficients solve the survey-weighted score equations ``Σ w_i x_i (y_i − μ_i) μ'_i / V(μ_i)
= 0`` (pseudo-maximum likelihood; Binder 1983, *Int. Stat. Review* 51:279), found by iteratively
reweighted least squares on numpy arrays (no per-row Python), following R's ``glm.fit`` step by
step (see :func:`irls`).

Standard errors, as ``svyglm`` (Lumley 2010, *Complex Surveys*, ch. 5; Lumley & Scott 2017,
*Stat. Science* 32:265):

* linearization: the estimating-function influence values ``U_i = x_i (y_i − μ_i) μ'_i / V(μ_i)
  · A⁻¹`` with ``A = Σ w_i x_i x_iᵀ μ'_i² / V(μ_i)`` go through :meth:`Survey.cov_total`, which
  applies strata, PSUs, later stages, fpc and — after raking or post-stratification — the
  calibration residuals (``svy.varcoef``);
* replicate weights: the model is refitted with each replicate's weights, starting from the
  full-sample coefficients, and the replicate coefficients give the covariance (``svrepglm``).

Rows with a missing value in a variable of the formula are left out as R's ``na.omit`` does, but
stay in the design (a domain), so the variance keeps every PSU. Tests and intervals are Student-t
with R's residual degrees of freedom: design df + 1 − number of coefficients.

Families (canonical links): ``gaussian`` (identity), ``binomial`` and ``quasibinomial`` (logit),
``poisson`` and ``quasipoisson`` (log). Design-based variances do not use the family's
dispersion, so a family and its quasi- version give the same estimates and standard errors, as
in R. Names of terms follow :mod:`sottovoce.modelframe` (``C(x)[T.level]`` for R's ``xlevel``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd
from scipy.special import expit, xlogy

from ._results import Result
from ._words import count_en, en_form
from .errors import ConvergenceError, DesignError, InputError, SottovoceWarning
from .estimates import Estimates, contrast_matrix, term_index, wald_test
from .intervals import DegreesOfFreedom
from .modelframe import ModelFrame, model_frame

if TYPE_CHECKING:
    from .survey import Survey

__all__ = ["svyglm", "GLMResult", "FAMILIES"]

FAMILIES = ("gaussian", "binomial", "quasibinomial", "poisson", "quasipoisson")
_EPS = 10 * np.finfo(float).eps  # R's threshold for fitted probabilities "numerically 0 or 1"


_THRESH = 30.0  # R's logit link clamps η beyond ±30 (family.c)
_DEPS = np.finfo(float).eps


@dataclass(frozen=True)
class Family:
    """A GLM family with its canonical link, written as R's ``family`` objects (same clamps)."""

    name: str

    @property
    def link(self) -> str:
        return {"gaussian": "identity", "binomial": "logit", "poisson": "log"}[self.kind]

    @property
    def kind(self) -> str:
        return self.name.removeprefix("quasi")

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        if self.kind == "gaussian":
            return eta
        if self.kind == "binomial":
            mu = expit(eta)
            if eta.size and (eta.min() < -_THRESH or eta.max() > _THRESH):  # R clamps: exp(η) → ε or 1/ε
                mu = np.where(eta < -_THRESH, _DEPS / (1 + _DEPS), np.where(eta > _THRESH, 1 / (1 + _DEPS), mu))
            return mu
        with np.errstate(over="ignore"):
            return np.maximum(np.exp(np.minimum(eta, 700.0)), _DEPS)

    def mu_eta(self, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """dμ/dη (``mu`` = linkinv(eta) when at hand, to save a pass)."""
        if self.kind == "gaussian":
            return np.ones_like(eta)
        if self.kind == "binomial":
            m = expit(eta) if mu is None else mu
            d = m * expit(-eta)  # e^η/(1+e^η)², without the cancellation of μ(1 − μ) near 1
            if eta.size and (eta.min() < -_THRESH or eta.max() > _THRESH):
                d = np.where(np.abs(eta) > _THRESH, _DEPS, d)
            return d
        return self.linkinv(eta) if mu is None else mu

    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.kind == "gaussian":
            return np.ones_like(mu)
        if self.kind == "binomial":
            return mu * (1 - mu)
        return mu

    def start(self, y: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Starting means, as R's ``family$initialize``."""
        if self.kind == "binomial":
            return (w * y + 0.5) / (w + 1)
        if self.kind == "poisson":
            return y + 0.1
        return y

    def evaluate(self, eta: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """``(μ, dμ/dη, deviance)`` at ``eta`` in one go. A 0/1 outcome (``y`` boolean) with the
        logit link takes ``e = exp(−|η|)`` once: ``μ = 1/(1+e)`` or ``e/(1+e)``, ``μ' = e/(1+e)²``
        and the deviance ``2 Σ w (log(1+e) + max(∓η, 0))`` — the same values as ``linkinv``,
        ``mu_eta`` and ``deviance`` to rounding, with one exponential and one logarithm."""
        if self.kind == "binomial" and y.dtype == bool and eta.size and -_THRESH <= eta.min() and eta.max() <= _THRESH:
            e = np.abs(eta)
            np.negative(e, out=e)
            np.exp(e, out=e)  # e = exp(−|η|)
            r = e + 1.0
            np.reciprocal(r, out=r)  # 1/(1 + e)
            me = e * r
            mu = np.where(eta >= 0, r, me)
            me *= r
            t = np.where(y, -eta, eta)
            np.maximum(t, 0.0, out=t)
            np.log1p(e, out=e)
            t += e
            return mu, me, float(2.0 * (w @ t))
        mu = self.linkinv(eta)
        return mu, self.mu_eta(eta, mu), self.deviance(y, mu, w)

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        if self.kind == "gaussian":
            return mu
        if self.kind == "binomial":
            return np.log(mu / (1 - mu))
        return np.log(mu)

    def deviance(self, y: np.ndarray, mu: np.ndarray, w: np.ndarray) -> float:
        if self.kind == "gaussian":
            r = y - mu
            return float(w @ (r * r))
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "binomial" and y.dtype == bool:  # 0/1 outcome: one log per row
                return float(-2 * (w @ np.log(np.where(y, mu, 1 - mu))))
            if self.kind == "binomial":
                d = xlogy(y, y / mu) + xlogy(1 - y, (1 - y) / (1 - mu))
            else:
                d = xlogy(y, y / mu) - (y - mu)
        return float(2 * (w @ d))


def family_of(name: str) -> Family:
    key = str(name).lower().strip()
    if key not in FAMILIES:
        raise InputError(f"family '{name}' is not one of {', '.join(FAMILIES)}")
    return Family(key)


@dataclass(frozen=True)
class IRLSFit:
    beta: np.ndarray
    iterations: int
    converged: bool
    deviance: float
    working: np.ndarray  # μ'(η)²/V(μ) of the last iteration (R's glm weights over the prior weights)
    gram: np.ndarray  # Xᵀ diag(w · working) X of the last iteration (the sandwich's bread, inverted)
    eta: np.ndarray  # linear predictor, mean and dμ/dη at the final coefficients
    mu: np.ndarray
    mu_eta: np.ndarray


def irls(X: np.ndarray, y: np.ndarray, w: np.ndarray, fam: Family, beta0: np.ndarray | None = None,
         tol: float = 1e-8, max_iter: int = 25, rank_check: Callable[[np.ndarray], None] | None = None) -> IRLSFit:
    """Iteratively reweighted least squares exactly as R's ``glm.fit``: R's starting values (or
    ``beta0``), a weighted least-squares fit of the working response each iteration, step halving
    only when the deviance is not finite, convergence when ``|dev − dev_old|/(|dev| + 0.1) < tol``
    (R's ``epsilon = 1e-8``). The working weights returned are those of the last iteration — the
    ones R's ``summary.glm`` and ``svyglm``'s sandwich use — so standard errors agree with R to
    rounding rather than to R's convergence tolerance.

    Each least-squares fit solves the k×k normal equations (Cholesky of the equilibrated
    ``XᵀWX``, built with ``XᵀWz`` in one blocked pass over ``X``); with the linear predictor that
    is two passes over ``X`` per iteration. ``rank_check`` sees the first ``XᵀWX`` (same rank as
    ``Xᵀ diag(w) X``, as every working weight is positive there).
    """
    yd = y.astype(bool) if fam.kind == "binomial" and bool(np.all((y == 0) | (y == 1))) else y  # fast deviance
    if beta0 is None:
        mu = fam.start(y, w)
        eta = fam.linkfun(mu)
        beta_old = None
        me = fam.mu_eta(eta, mu)
        dev_old = fam.deviance(yd, mu, w)
    else:
        beta_old = np.array(beta0, dtype=float)
        eta = X @ beta_old
        mu, me, dev_old = fam.evaluate(eta, yd, w)
    working = np.ones_like(y)
    beta = np.zeros(X.shape[1]) if beta_old is None else beta_old
    G = np.eye(X.shape[1])
    for it in range(1, max_iter + 1):
        # μ'²/V(μ); for these canonical links V(μ) = μ', so it is μ' itself (one pass fewer)
        working = me if fam.kind != "gaussian" else np.ones_like(me)
        sw = w * working
        np.sqrt(sw, out=sw)  # √W, W = w · working weight
        swz = y - mu
        swz /= me
        swz += eta  # the working response z …
        swz *= sw  # … times √W
        G, b = _gram_sqrt(X, sw, swz)
        if it == 1 and rank_check is not None:
            rank_check(G)
        beta = _solve(G, b)
        eta = X @ beta
        mu, me, dev = fam.evaluate(eta, yd, w)
        halvings = 0
        while not math.isfinite(dev):  # R: step halving only for a non-finite deviance
            if beta_old is None or halvings > 30:
                raise ConvergenceError("the model's deviance is not finite at any step; check the outcome and covariates")
            beta = (beta + beta_old) / 2
            eta = X @ beta
            mu, me, dev = fam.evaluate(eta, yd, w)
            halvings += 1
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            return IRLSFit(beta, it, True, dev, working, G, eta, mu, me)
        dev_old, beta_old = dev, beta
    return IRLSFit(beta, max_iter, False, dev_old, working, G, eta, mu, me)


_BLOCK = 32_768  # rows per block: the scaled copy of X stays in cache instead of a new n×k array


@overload
def gram(X: np.ndarray, W: np.ndarray) -> np.ndarray: ...
@overload
def gram(X: np.ndarray, W: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
def gram(X: np.ndarray, W: np.ndarray, z: np.ndarray | None = None) -> Any:
    """``Xᵀ diag(W) X`` for ``W ≥ 0`` (and ``Xᵀ(W z)`` when ``z`` is given) in one pass over
    ``X``: ``Σ_blocks (√W X)ᵀ(√W X)``, BLAS ``syrk`` on blocks that stay in cache."""
    sw = np.sqrt(W)
    G, b = _gram_sqrt(X, sw, None if z is None else sw * z)
    return G if z is None else (G, b)


def _gram_sqrt(X: np.ndarray, sw: np.ndarray, swz: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(√W X)ᵀ(√W X)`` and ``(√W X)ᵀ swz`` block by block."""
    k = X.shape[1]
    G = np.zeros((k, k))
    b = np.zeros(k)
    buf = np.empty((min(_BLOCK, len(X)), k))
    for start in range(0, len(X), _BLOCK):
        xb = X[start:start + _BLOCK]
        out = buf[: len(xb)]
        np.multiply(xb, sw[start:start + _BLOCK, None], out=out)
        G += out.T @ out
        if swz is not None:
            b += swz[start:start + _BLOCK] @ out
    return G, b


def scaled_product(X: np.ndarray, c: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``diag(c) X B`` as a column-major array (each column contiguous for the design variance)."""
    out = B.T @ X.T  # (k, n) row-major is (n, k) column-major
    out *= c
    return out.T


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    d = np.sqrt(np.clip(np.diag(A), 1e-300, None))
    As = A / d[:, None] / d[None, :]  # equilibrate: columns of very different scales
    try:
        return cho_solve(cho_factor(As), b / d) / d
    except (LinAlgError, ValueError):
        return np.linalg.lstsq(As, b / d, rcond=None)[0] / d


def aliased_columns(X: np.ndarray, w: np.ndarray, tol: float = 1e-10) -> list[int]:
    """Columns that are (numerically) linear combinations of earlier ones (see :func:`aliased`)."""
    return aliased(gram(X, w), tol)


def aliased(G: np.ndarray, tol: float = 1e-10) -> list[int]:
    """Columns of a Gram matrix ``XᵀWX`` that are linear combinations of earlier ones, in order
    (as R's ``glm`` marks later columns aliased): a Cholesky of the equilibrated matrix that skips
    a column whose pivot falls below ``tol`` of its diagonal."""
    d = np.sqrt(np.clip(np.diag(G), 0, None))
    k = len(d)
    out = [j for j in range(k) if d[j] == 0]
    scale = np.where(d > 0, d, 1.0)
    Gs = G / scale[:, None] / scale[None, :]
    L = np.zeros((k, k))
    kept: list[int] = []
    for j in range(k):
        if d[j] == 0:
            continue
        lj = L[j, kept]
        piv = Gs[j, j] - lj @ lj
        if piv <= tol:
            out.append(j)
            continue
        L[j, j] = math.sqrt(piv)
        for i in range(j + 1, k):
            L[i, j] = (Gs[i, j] - L[i, kept] @ lj) / L[j, j]
        kept.append(j)
    return sorted(out)


def _outcome(mf: ModelFrame, fam: Family, rows: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The outcome as floats, checked for the family; a note when text categories were coded."""
    s = mf.y
    assert s is not None
    name = mf.response
    note = None
    vals = s[rows]
    if fam.kind == "binomial" and not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        levels = sorted(pd.unique(vals.dropna()), key=str)
        if len(levels) != 2:
            shown = ", ".join(map(str, levels[:6]))
            raise InputError(f"outcome '{name}' has {len(levels)} categories ({shown}); a binomial model needs two, or a 0/1 column")
        y = np.where(s.to_numpy() == levels[1], 1.0, 0.0)
        note = f"'{name}' = {levels[1]!r} is coded 1 and {levels[0]!r} 0 (R's rule: the second level in sorted order)"
        return y, note
    if not pd.api.types.is_numeric_dtype(s):
        raise InputError(f"outcome '{name}' is not numeric; the {fam.name} family needs numbers (recode it first)")
    y = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    yr = y[rows]
    if fam.kind == "binomial":
        if fam.name == "binomial" and not ((yr == 0) | (yr == 1)).all():
            bad = np.unique(yr[(yr != 0) & (yr != 1)])[:5]
            vals = np.unique(yr[yr != 0])
            raise InputError(f"outcome '{name}' has values {', '.join(f'{b:g}' for b in bad)}: a binomial model needs 0/1; "
                             f"write the outcome as a condition, e.g. I({name} == {vals[0]:g}) ~ ..., or use "
                             "family='quasibinomial' for proportions in [0, 1]")
        if ((yr < 0) | (yr > 1)).any():
            bad = yr[(yr < 0) | (yr > 1)][0]
            raise InputError(f"outcome '{name}' has the value {bad:g}; the quasibinomial family needs proportions in [0, 1]")
    if fam.kind == "poisson" and (yr < 0).any():
        raise InputError(f"outcome '{name}' has negative values; the {fam.name} family needs counts (>= 0)")
    return y, note


@dataclass(frozen=True)
class _Fit:
    """What predictions, margins and replicate refits need from a fitted model (not serialised)."""

    survey: Any
    mf: ModelFrame
    fam: Family
    rows: np.ndarray
    y: np.ndarray
    influence: np.ndarray
    replicate_coefs: np.ndarray | None
    replicate_weights: np.ndarray | None


@dataclass(frozen=True)
class GLMResult(Result):
    """A design-based GLM on the result contract: ``coefficients["model"]`` with statsmodels'
    accessors (``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int()``, ``cov_params()``; t on
    the residual df ``stats["df_resid"]``), fit statistics in ``stats``; plus Wald tests, odds
    ratios, predictions and predictive margins (see the module docstring)."""

    #: the fitted model, for predictions, margins and tests (not serialised)
    fit: Any = field(default=None, repr=False, compare=False)

    @property
    def _fit(self) -> _Fit:
        if self.fit is None:
            raise InputError("this result does not carry its fitted model (it was rebuilt from JSON?)")
        return self.fit  # type: ignore[no-any-return]

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.coefficients["model"]) if self.coefficients else ()

    @property
    def coef(self) -> np.ndarray:
        return np.array([v["coef"] for v in self.coefficients["model"].values()]) if self.coefficients else np.zeros(0)

    @property
    def vcov(self) -> np.ndarray:
        return np.asarray(self.details["vcov"], dtype=float)

    @property
    def df_resid(self) -> float:
        return float(self.stats["df_resid"])

    @property
    def family(self) -> str:
        return str(self.stats["family"])

    @property
    def link(self) -> str:
        return str(self.stats["link"])

    @property
    def fittedvalues(self) -> pd.Series:
        """Fitted means of the respondents used, aligned to the data's index (NaN for the rest)."""
        fit = self._fit
        mu = np.where(fit.rows, fit.fam.linkinv(np.nan_to_num(fit.mf.X) @ self.coef), np.nan)
        return pd.Series(mu, index=fit.survey.data.index, name="fitted")

    def predict(self, data: Any = None, which: str = "response") -> np.ndarray:
        """Predicted means (``which="response"``) or linear predictors (``"link"``) for the rows of
        ``data`` (default: the data of the fit, every row, NaN where a variable is missing)."""
        fit = self._fit
        X = fit.mf.X if data is None else fit.mf.matrix(pd.DataFrame(data).reset_index(drop=True))
        eta = X @ self.coef
        if which == "link":
            return eta
        if which != "response":
            raise InputError(f"which='{which}' must be 'response' or 'link'")
        return fit.fam.linkinv(eta)

    def wald_test(self, terms: Any, null: Sequence[float] | None = None) -> Result:
        """Joint Wald test that terms are zero (R's ``regTermTest``, its default ``"Wald"``): F on
        the number of coefficients and the residual df. ``terms``: a model term (``C(region)``: all
        its coefficients), a variable (``region``), a coefficient name, a list, or ``"~a + b"``."""
        groups = dict(self.fit.mf.term_columns) if self.fit is not None else {t: [j] for j, t in enumerate(self.terms)}
        idx = term_index(terms, self.terms, groups)
        label = terms if isinstance(terms, str) else " + ".join(map(str, terms))
        df = self.df_resid if math.isfinite(self.df_resid) else None
        return wald_test(self.coef, self.vcov, idx, list(self.terms), df, n=self.n, label=label, null=null)

    def with_tests(self, *terms: Any) -> GLMResult:
        """This result with Wald tests of ``terms`` added to ``hypothesis_tests`` (shown and in JSON)."""
        tests = dict(self.hypothesis_tests)
        warns = list(self.warnings)
        for t in terms:
            w = self.wald_test(t)
            tests[str(w.variable)] = w.hypothesis_tests["wald"]
            warns.extend(w.warnings)
        return self.with_(hypothesis_tests=tests, warnings=tuple(dict.fromkeys(warns)))  # type: ignore[no-any-return]

    def contrast(self, weights: Any, level: float | None = None) -> Estimates:
        """Linear combinations of the coefficients with their SEs and t tests (R's ``svycontrast``)."""
        names, L = contrast_matrix(self.terms, weights)
        dof = DegreesOfFreedom(self.df_resid, "residual: design df + 1 − coefficients")
        out = Estimates.build(names, L @ self.coef, L @ self.vcov @ L.T, scale="coefficient", dof=dof,
                              level=self.level_ci if level is None else level, tests=True, n=self.n, method="contrast",
                              variable=self.variable, details={"of": self.method})
        return out

    def odds_ratios(self, level: float | None = None) -> pd.DataFrame:
        """``exp(coef)`` with ``exp`` of the interval ends (odds ratios for logit models, rate
        ratios for log links), as R's ``exp(cbind(coef(m), confint(m)))``."""
        if self.link not in ("logit", "log"):
            raise InputError(f"odds ratios need a logit (or log) link; this model has the {self.link} link")
        ci = self.conf_int(None if level is None else 1 - level)
        what = "odds_ratio" if self.link == "logit" else "rate_ratio"
        return pd.DataFrame({what: np.exp(self.params), "ci_low": np.exp(ci[0]), "ci_high": np.exp(ci[1]), "p": self.pvalues},
                            index=pd.Index(list(self.terms), name="term"))

    def margins(self, at: str | None = None, by: str | None = None, vce: str = "unconditional") -> Estimates:
        """Predictive margins (Graubard & Korn 1999): see :func:`sottovoce.marginal.predictive_margins`."""
        from .marginal import predictive_margins

        return predictive_margins(self, at=at, by=by, vce=vce)

    def marginal_effects(self, variables: str | Sequence[str] | None = None, by: str | None = None,
                         vce: str = "unconditional") -> Estimates:
        """Average marginal effects: see :func:`sottovoce.marginal.average_marginal_effects`."""
        from .marginal import average_marginal_effects

        return average_marginal_effects(self, variables, by=by, vce=vce)

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table: one row per term with coef, se, t (or z), p, ci_low, ci_high.
        A model fitted ``by`` a column adds each level's refit, indexed by ``(group, term)``
        (``group`` is ``"all"`` for the whole sample; a level that could not be fitted is left out)."""
        ci = self.conf_int()
        own = pd.DataFrame({"coef": self.params, "se": self.bse, "t" if math.isfinite(self.df_resid) else "z": self.tvalues,
                            "p": self.pvalues, "ci_low": ci[0], "ci_high": ci[1]}).rename_axis("term")
        fitted = [g for g in self.groups if isinstance(g, GLMResult) and g.failed is None]
        if not self.groups:
            return own
        frames = [own.set_axis(own.columns, axis=1)] + [g.to_frame().set_axis(own.columns, axis=1) for g in fitted]
        keys = ["all"] + [f"{self.by}={g.label}" for g in fitted]
        return pd.concat(frames, keys=keys, names=["group", "term"])

    def display(self) -> Any:
        """The contract's display (coefficients, fit statistics, tests) titled with the model, plus
        the odds (or rate) ratios of a logit (log) model."""
        from .display import Table

        d = super().display()
        d.title = f"Design-based GLM: {self.stats.get('formula', '')} — {self.family} ({self.link}), {self.n:,} respondents"
        if self.link in ("logit", "log") and self.coefficients:
            o = self.odds_ratios()
            lo_q, hi_q = (1 - self.level_ci) / 2, 1 - (1 - self.level_ci) / 2
            rows = [[t, f"{r.iloc[0]:.4f}", f"{r['ci_low']:.3f}", f"{r['ci_high']:.3f}"] for t, r in o.iterrows() if t != "(Intercept)"]
            name = "odds ratios" if self.link == "logit" else "rate ratios"
            at = next((i for i, t in enumerate(d.tables) if t.title.startswith("coefficients")), len(d.tables) - 1) + 1
            d.tables.insert(at, Table(name, ["", name.split()[0] + " ratio", f"[{lo_q:.3g}", f"{hi_q:.3g}]"], rows))
        for g in self.groups:  # the model refitted in each level (svy.glm(..., by=))
            where = f"{self.by}={g.label}"
            if g.failed is not None or not g.coefficients:
                d.lines.append(f"{where}: not estimated: {g.failed}")
                continue
            for t in g.display().tables:
                if t.title.startswith("coefficients"):
                    t.title = f"coefficients: {where} ({g.n:,} respondents, residual df {_fmt_df(g.stats.get('df_resid'))})"
                    d.tables.append(t)
        return d


def _fmt_df(x: Any) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{float(x):g}"


def svyglm(survey: Survey, formula: str, family: str = "gaussian", *, level: float = 0.95,
           tol: float = 1e-8, max_iter: int = 25) -> GLMResult:
    """Fit a design-based GLM (R's ``svyglm``); see the module docstring.

    ``formula`` is ``"outcome ~ x1 + C(x2) + x1:x3"`` (formulaic syntax, R-style term names).
    """
    fam = family_of(family)
    if not 0 < level < 1:
        raise InputError(f"confidence level {level} must be between 0 and 1 (e.g. 0.95)")
    mf = model_frame(formula, survey.data)
    w_all = survey.weights
    rows = mf.complete & (w_all > 0)
    k = mf.X.shape[1]
    n = int(rows.sum())
    if n == 0:
        raise InputError(f"formula '{formula}': no respondent with a positive weight has every variable present")
    y, coding = _outcome(mf, fam, rows)
    every = bool(rows.all())  # no copies of a million-row matrix when every row is used
    X, yv, w = (mf.X, y, w_all) if every else (mf.X[rows], y[rows], w_all[rows])
    if n <= k:
        raise DesignError(f"formula '{formula}': {n} complete respondents for {k} coefficients; simplify the model")

    def rank_check(G: np.ndarray) -> None:
        alias = aliased(G)
        if alias:
            names = ", ".join(f"'{mf.names[j]}'" for j in alias)
            raise InputError(f"formula '{formula}': {names} {'is' if len(alias) == 1 else 'are'} collinear with the other terms "
                             "(constant among the respondents, or a combination of other columns); drop "
                             f"{'it' if len(alias) == 1 else 'them'} or merge categories")

    # R's rescale=TRUE: weights over their mean, so the deviance is on the scale of the sample
    # size (it only moves the convergence test). R's subset of a calibrated design keeps the rows
    # outside the domain with weight zero, and they count in that mean; other designs drop them.
    w_mean = float(w_all.mean()) if survey.calibrated else float(w.mean())
    ws = w / w_mean
    fit = irls(X, yv, ws, fam, tol=tol, max_iter=max_iter, rank_check=rank_check)
    warns: list[str] = []
    beta, mu = fit.beta, fit.mu
    _check_separation(fam, mf, X, yv, mu, fit.converged, formula)
    if not fit.converged:
        raise ConvergenceError(f"formula '{formula}': the {fam.name} model did not converge in {max_iter} iterations; "
                               "simplify the model, merge sparse categories or rescale covariates")
    # svyglm's sandwich: estfun = x · working residual · working weight (of the last iteration),
    # bread = (Xᵀ diag(w · working weight) X)⁻¹; β̂ − β ≈ Σ w_i U_i.
    Ainv = np.linalg.inv(fit.gram * w_mean)  # Xᵀ diag(w · working) X of the last iteration
    # column-major, so that the design variance sums each column contiguously
    Urows = scaled_product(X, (yv - mu) / fit.mu_eta * fit.working, Ainv)
    if every:
        U = Urows
    else:
        U = np.zeros((len(w_all), k), order="F")
        U[rows] = Urows
    dom = survey if mf.complete.all() else survey.domain(mf.complete)
    rep_coefs = rep_w = None
    if survey.replicates:
        rep_w = survey.replicate_weights() * (dom.domain_mask() & rows)[:, None]
        rep_coefs, failed = _replicate_fits(mf.X, y, rep_w, fam, beta, tol, max_iter)
        if failed:
            warns.append(f"{failed} replicate fits failed and were left out of the variance (as R's svrVar)")
        vcov = survey.replicate_cov(rep_coefs, beta)
        variance = f"{survey.replicates} replicate refits"
    else:
        vcov = dom.cov_total(U)
        variance = "linearization (sandwich)"
    design_df = dom.df
    df_resid = design_df + 1 - k
    if df_resid <= 0:
        warns.append(f"the design has {design_df:g} degrees of freedom for {k} coefficients: t tests, p-values and "
                     "intervals are not available; use fewer terms or a design with more PSUs")
    if coding:
        warns.append(coding)
    pearson = (yv - mu) / np.sqrt(fam.variance(mu))
    n_missing = int((~mf.complete & (w_all > 0)).sum())
    if n_missing:
        warns.append(f"{count_en(n_missing, 'respondent')} with a missing value in the formula's variables {en_form(n_missing, 'is', 'are')} left out (a domain)")
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    coefs = {"model": {t: {"coef": float(b), "se": float(e)} for t, b, e in zip(mf.names, beta, se, strict=True)}}
    stats = {"formula": formula, "family": fam.name, "link": fam.link, "iterations": fit.iterations,
             "converged": fit.converged, "design_df": design_df, "df_resid": float(df_resid),
             "weighted_n": float(w.sum()), "se_method": variance}
    details: dict[str, Any] = {
        "vcov": vcov, "vcov_terms": list(mf.names),
        "design": survey._describe() if hasattr(survey, "_describe") else "",
        "dispersion": float(w @ pearson**2 / w.sum() * n / (n - 1)), "n_missing": n_missing,
    }
    res = GLMResult(n=n, method=f"svyglm-{fam.name}", level_ci=level, variable=mf.response, scale="coefficient",
                    coefficients=coefs, stats=stats, details=details, warnings=tuple(warns),
                    fit=_Fit(survey=survey, mf=mf, fam=fam, rows=rows, y=y, influence=U,
                             replicate_coefs=rep_coefs, replicate_weights=rep_w))
    if fam.link in ("logit", "log"):  # in the JSON too
        o = res.odds_ratios()
        key = "odds_ratios" if fam.link == "logit" else "rate_ratios"
        res = res.with_(details={**details, key: {t: {"ratio": r.iloc[0], "ci": [r["ci_low"], r["ci_high"]]} for t, r in o.iterrows()}})
    for msg in warns:
        warnings.warn(msg, SottovoceWarning, stacklevel=3)
    return res


def _check_separation(fam: Family, mf: ModelFrame, X: np.ndarray, y: np.ndarray, mu: np.ndarray,
                      converged: bool, formula: str) -> None:
    """Infinite maximum-likelihood coefficients (complete or quasi-complete separation).

    When the fit looks like it (no convergence, or fitted probabilities — Poisson means — within
    1e-8 of 0 or 1; R warns "fitted probabilities numerically 0 or 1 occurred"), a linear
    program decides (Konis 2007, *Linear programming algorithms for detecting separated data in
    binary logistic regression models*): is there a direction ``d`` with ``x_iᵀd ≥ 0`` where
    ``y = 1`` and ``≤ 0`` where ``y = 0`` (Poisson: ``= 0`` where ``y > 0``, ``≤ 0`` where
    ``y = 0``), not zero everywhere? Then the coefficients along ``d`` run off to infinity.
    """
    if fam.kind == "gaussian":
        return
    lo, hi = float(mu.min()), float(mu.max())
    if converged and lo >= 1e-8 and (fam.kind != "binomial" or hi <= 1 - 1e-8):
        return
    d = _separating_direction(X, y, fam.kind)
    if d is None:
        return
    sd = X.std(axis=0)
    j = int(np.argmax(np.abs(d) * np.where(sd > 0, sd, 0.0)))
    hit = int((np.abs(X @ d) > 1e-7).sum())
    what = "fitted probabilities of 0 or 1" if fam.kind == "binomial" else "fitted means of 0"
    raise DesignError(
        f"formula '{formula}': perfect separation — '{mf.response}' is predicted exactly for at least {hit} respondents "
        f"({what}), through '{mf.names[j]}'; its maximum-likelihood coefficient is infinite. Drop that term, "
        "merge its categories, or fit the model where the outcome varies"
    )


def _separating_direction(X: np.ndarray, y: np.ndarray, kind: str) -> np.ndarray | None:
    from scipy.optimize import linprog

    rows, inv = np.unique(np.column_stack([X, y > 0]), axis=0, return_inverse=True)
    Xu, pos = rows[:, :-1], rows[:, -1] > 0
    scale = np.maximum(np.abs(Xu).max(axis=0), 1e-12)
    Xs = Xu / scale
    if kind == "binomial":
        s = np.where(pos, 1.0, -1.0)
        A = -(s[:, None] * Xs)  # s_i x_iᵀd ≥ 0
        res = linprog(c=-(s @ Xs), A_ub=A, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * X.shape[1], method="highs")
    else:
        A_eq = Xs[pos] if pos.any() else None
        res = linprog(c=Xs[~pos].sum(axis=0), A_ub=Xs[~pos], b_ub=np.zeros(int((~pos).sum())),
                      A_eq=A_eq, b_eq=np.zeros(int(pos.sum())) if pos.any() else None,
                      bounds=[(-1, 1)] * X.shape[1], method="highs")
    if res.status != 0 or -res.fun <= 1e-7:
        return None
    return res.x / scale


def _replicate_fits(X: np.ndarray, y: np.ndarray, rep_w: np.ndarray, fam: Family, beta: np.ndarray,
                    tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Refit with each replicate's weights, from the full-sample coefficients (R's svrepglm)."""
    R = rep_w.shape[1]
    out = np.full((R, len(beta)), np.nan)
    failed = 0
    for r in range(R):  # one vectorised IRLS per replicate
        wr = rep_w[:, r]
        sel = wr > 0
        if aliased_columns(X[sel], wr[sel] / wr[sel].mean()):  # a category lost in this replicate
            failed += 1
            continue
        try:
            fr = irls(X[sel], y[sel], wr[sel] / wr[sel].sum(), fam, beta0=beta, tol=tol, max_iter=max_iter)
        except (np.linalg.LinAlgError, ValueError):
            failed += 1
            continue
        if fr.converged and np.isfinite(fr.beta).all():
            out[r] = fr.beta
        else:
            failed += 1
    return out, failed
