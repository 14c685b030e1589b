"""Beta-binomial control-item model: R ``ictreg(..., method = "ml", overdispersed = TRUE)``.

Imai (2011, sec. 2.4) allows the control count to be overdispersed: given the covariates, the
number of control items a respondent agrees with is beta-binomial,

    ``Y*_i | X_i ~ BetaBinomial(J, μ_i, ρ)``,  ``μ_i = logistic(X_i ψ)``,  ``ρ = logistic(ζ)``,

with mean ``J μ`` and variance ``J μ (1 − μ) (1 + (J − 1) ρ)``: ``ρ`` is the correlation between
two control answers of the same respondent (0 gives the binomial). The sensitive item is
``Z_i ~ Bernoulli(logistic(X_i δ))`` and, as in the constrained binomial model, ``Y*`` does not
depend on ``Z``.

Parameterisation, exactly as ictreg: its observed-data log-likelihood evaluates gamlss.dist's
``dBB(y, mu = μ, sigma = ρ / (1 − ρ), bd = J)`` (shape parameters ``μ/σ`` and ``(1 − μ)/σ``),
and its EM M-step is VGAM's ``betabinomial`` family, whose second linear predictor is
``logit(ρ)``. ictreg reports that coefficient as ``par.overdispersion`` (named
``"overdispersion"``), on the logit scale, with its standard error from the inverse observed
information (``optim(..., hessian = TRUE)``); so do we (part ``overdispersion``, term
``overdispersion``), and ``details`` add ``ρ`` itself.

Numerics: with ``φ = ρ / (1 − ρ) = exp(ζ)`` the beta-binomial probability is a ratio of short
products (``J`` is small),

    ``P(y) = C(J, y) Π_{k<y} (μ + kφ) Π_{k<J−y} (1 − μ + kφ) / Π_{k<J} (1 + kφ)``,

which is exact and stays finite as ``φ → 0`` (the binomial limit), unlike the gamma-function form.

The maximum is found by a trust-region Newton method on the observed log-likelihood (analytic
score, Hessian by central differences of the score), started from the binomial fit; ictreg's
EM reaches the same maximum. Under-dispersed counts (control items of unequal prevalence) put
the maximum on the boundary ``ρ = 0``, which the beta-binomial cannot go beyond: that is
reported as a :class:`DesignError` (use the binomial or the respondent-types model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, gammaln

from ..errors import ConvergenceError, DesignError
from . import _logit
from .ml import Block, MLModel, fit_ml, score_difference_hessian

__all__: list[str] = []

#: logit(ρ) below this is the binomial boundary (ρ < 1e-6): no overdispersion to estimate
BOUNDARY_ZETA = -13.8

Tables = tuple[np.ndarray, ...]


def _lchoose(J: int, k: np.ndarray) -> np.ndarray:
    kk = np.clip(k, 0, J)
    return gammaln(J + 1) - gammaln(kk + 1) - gammaln(J - kk + 1)


def _tables(J: int, eta: np.ndarray, zeta: float, second: bool = False) -> Tables:
    """``log P(Y = y)`` for y = 0..J (last axis) and its derivatives in ``eta`` and ``zeta``
    (first: ``d_eta, d_zeta``; with ``second``: ``d_eta_eta, d_eta_zeta, d_zeta_zeta`` too).

    Cumulative sums over the factors ``μ + kφ`` (k < y), ``1 − μ + kφ`` (k < J − y) and
    ``1 + kφ`` (k < J): one pass over k = 0..J−1 for every row and count at once. The k = 0
    factors are ``μ`` and ``1 − μ``, whose derivatives are written out (exact near 0 and 1).
    """
    eta = np.asarray(eta, dtype=float)[..., None]
    k = np.arange(J, dtype=float)
    k0 = k == 0
    phi = float(np.exp(zeta))
    lmu, l1mu = _logit.log_both(eta)
    mu, omu = np.exp(lmu), np.exp(l1mu)
    kphi = k * phi
    fa, fb = mu + kphi, omu + kphi  # (..., J)
    mo = mu * omu
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.where(k0, lmu, np.log(fa))
        lb = np.where(k0, l1mu, np.log(fb))
        da = np.where(k0, omu, mo / fa)        # d log(μ + kφ) / dη
        db = np.where(k0, -mu, -mo / fb)       # d log(1 − μ + kφ) / dη
        za, zb = kphi / fa, kphi / fb          # d log(·) / dζ
        tabs = [la, lb, da, db, za, zb]
        if second:
            tabs += [np.where(k0, -mo, mo * (1 - 2 * mu) / fa - (mo / fa) ** 2),
                     np.where(k0, -mo, -mo * (1 - 2 * mu) / fb - (mo / fb) ** 2),
                     -mo * kphi / fa ** 2, mo * kphi / fb ** 2,
                     za - za ** 2, zb - zb ** 2]
    c = kphi / (1 + kphi)
    lc, zc, zzc = float(np.sum(np.log1p(kphi))), float(np.sum(c)), float(np.sum(c - c ** 2))

    def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # Σ_{k<y} a_k + Σ_{k<J−y} b_k for y = 0..J
        ca = np.concatenate([np.zeros(a.shape[:-1] + (1,)), np.cumsum(a, axis=-1)], axis=-1)
        cb = np.concatenate([np.zeros(b.shape[:-1] + (1,)), np.cumsum(b, axis=-1)], axis=-1)
        return ca + cb[..., ::-1]

    out = [_lchoose(J, np.arange(J + 1)) + both(la, lb) - lc, both(da, db), both(za, zb) - zc]
    if second:
        out += [both(tabs[6], tabs[7]), both(tabs[8], tabs[9]), both(tabs[10], tabs[11]) - zzc]
    return tuple(out)


def _pick(tabs: Tables, y: np.ndarray, J: int) -> list[np.ndarray]:
    """Each row's entry at count ``y`` of the tables of :func:`_tables` (outside 0..J: the
    log-probability is -inf and the derivatives 0)."""
    ok = (y >= 0) & (y <= J)
    idx = np.clip(y, 0, J).astype(np.int64)[..., None]
    vals = [np.take_along_axis(a, idx, axis=-1)[..., 0] for a in tabs]
    return [np.where(ok, vals[0], -np.inf)] + [np.where(ok, v, 0.0) for v in vals[1:]]


def bb_logpmf(y: np.ndarray, J: int, eta: np.ndarray, zeta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log P(Y = y)`` under BetaBinomial(J, logistic(eta), logistic(zeta)) and its derivatives
    with respect to ``eta`` and ``zeta`` (``-inf`` and zeros where ``y`` is outside 0..J)."""
    y = np.asarray(y, dtype=float)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), y.shape)
    lp, de, dz = _pick(_tables(J, eta, zeta), y, J)
    return lp, de, dz


def bb_pmf_table(J: int, eta: np.ndarray, zeta: float) -> np.ndarray:
    """``P(Y = y)`` for y = 0..J (columns) for each linear predictor ``eta`` (rows)."""
    return np.exp(_tables(J, eta, zeta)[0])


@dataclass
class BBModel:
    """Constrained list-experiment likelihood with a beta-binomial control count (one item).

    Parameters ``θ = (δ, ψ, ζ)``: sensitive logit, control-mean logit, ``logit(ρ)``.
    """

    y: np.ndarray
    t: np.ndarray  # 0 control, 1 treated
    X: np.ndarray
    terms: list[str]
    J: int
    wt: np.ndarray
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        k = self.X.shape[1]
        self.blocks = [Block("sensitive", self.X, self.terms), Block("control", self.X, self.terms),
                       Block("overdispersion", np.ones((len(self.y), 1)), ["overdispersion"])]
        self.sizes = [k, k, 1]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.k = k

    def split(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        k = self.k
        return {"sensitive": theta[:k], "control": theta[k:2 * k], "overdispersion": theta[2 * k:]}

    def _states(self, theta: np.ndarray, second: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[np.ndarray]], np.ndarray]:
        """Per-row log-likelihood, posterior of Z = 1, g, and per latent state (Z = 1: count y − 1;
        Z = 0: count y) the beta-binomial log-probability and its derivatives."""
        k, y, X = self.k, self.y, self.X
        treated = self.t >= 1
        eta_g = X @ theta[:k]
        tabs = _tables(self.J, X @ theta[k:2 * k], float(theta[2 * k]), second=second)
        s1 = _pick(tabs, y - 1, self.J)  # Z = 1: Y* = y − 1 (treated rows only)
        s0 = _pick(tabs, y, self.J)      # Z = 0, and control rows (Y* = y whatever Z)
        lg, l1g = _logit.log_both(eta_g)
        a = np.where(treated, lg + s1[0], -np.inf)
        b = np.where(treated, l1g + s0[0], s0[0])
        ll = np.logaddexp(a, b)
        with np.errstate(invalid="ignore"):
            p1 = np.where(treated & np.isfinite(ll), np.exp(a - ll), 0.0)
        return ll, p1, expit(eta_g), [s0, s1], treated

    def loglik(self, theta: np.ndarray) -> float:
        return float(self.wt @ self._states(theta)[0])

    def score_rows(self, theta: np.ndarray) -> np.ndarray:
        """Per-row (unweighted) scores of the observed log-likelihood (Fisher's identity)."""
        _, p1, g, (s0, s1), treated = self._states(theta)
        p0 = 1.0 - p1
        r_g = np.where(treated, p1 - g, 0.0)
        r_h = p1 * s1[1] + p0 * s0[1]
        r_z = p1 * s1[2] + p0 * s0[2]
        return np.hstack([self.X * r_g[:, None], self.X * r_h[:, None], r_z[:, None]])

    def score(self, theta: np.ndarray) -> np.ndarray:
        return self.wt @ self.score_rows(theta)

    def derivatives(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, score and analytic Hessian (Louis 1982: the posterior mean of the
        complete-data Hessian plus the posterior covariance of the complete-data score)."""
        ll, p1, g, (s0, s1), treated = self._states(theta, second=True)
        p0 = 1.0 - p1
        w, X = self.wt, self.X
        # complete-data residuals per state: δ (z − g), η (d log BB / dη), ζ (d log BB / dζ)
        R1 = [np.where(treated, 1 - g, 0.0), s1[1], s1[2]]
        R0 = [np.where(treated, -g, 0.0), s0[1], s0[2]]
        mean = [p1 * a + p0 * b for a, b in zip(R1, R0, strict=True)]
        # posterior covariance of the residuals: p1 p0 (R1 − R0)(R1 − R0)ᵀ
        diff = [a - b for a, b in zip(R1, R0, strict=True)]
        pp = p1 * p0
        curv = {(0, 0): np.where(treated, -g * (1 - g), 0.0), (1, 1): p1 * s1[3] + p0 * s0[3],
                (1, 2): p1 * s1[4] + p0 * s0[4], (2, 2): p1 * s1[5] + p0 * s0[5]}
        cols = [X, X, np.ones((len(w), 1))]
        grad = np.concatenate([c.T @ (w * m) for c, m in zip(cols, mean, strict=True)])
        H = np.zeros((len(grad), len(grad)))
        off = self.offsets
        for i in range(3):
            for j in range(i + 1):
                c = w * (pp * diff[i] * diff[j] + curv.get((j, i), 0.0))
                H[off[i]:off[i + 1], off[j]:off[j + 1]] = (cols[i] * c[:, None]).T @ cols[j]
                H[off[j]:off[j + 1], off[i]:off[i + 1]] = H[off[i]:off[i + 1], off[j]:off[j + 1]].T
        return float(w @ ll), grad, H

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        return self.derivatives(theta)[2]

    def hessian_fd(self, theta: np.ndarray) -> np.ndarray:
        """Hessian by central differences of the analytic score (a check of :meth:`hessian`)."""
        return score_difference_hessian(self.score, theta)

    def control_pmf(self, theta: np.ndarray) -> np.ndarray:
        """Model probability of each control count 0..J for every row (the control arm's law)."""
        k = self.k
        return bb_pmf_table(self.J, self.X @ theta[k:2 * k], float(theta[2 * k]))


@dataclass
class BBFit:
    theta: np.ndarray
    vcov: np.ndarray
    loglik: float
    iterations: int
    model: BBModel
    hessian: np.ndarray
    trace: list[float]


_BOUNDARY_MSG = (
    "the beta-binomial overdispersion is estimated at its boundary (ρ = 0): the control counts are not "
    "overdispersed — they may be under-dispersed (control items of unequal prevalence), which a beta-binomial "
    "cannot represent; use the binomial model (overdispersed=False), method='types' or method='dim'"
)


def fit_bb(model: BBModel, tol: float = 1e-9, max_iter: int = 200, theta0: np.ndarray | None = None) -> BBFit:
    """Maximise the beta-binomial list likelihood by Newton–Raphson with step halving (gradient
    ascent where the Hessian is not negative definite), from the binomial fit (``ρ`` small).

    A :class:`DesignError` when ``ρ`` runs to its boundary 0 (no overdispersion) or a coefficient
    diverges; a :class:`ConvergenceError` when the iteration budget runs out.
    """
    if theta0 is None:
        binom = MLModel(y=model.y, t=model.t, X=model.X, terms=model.terms, J=model.J, wt=model.wt)
        theta0 = np.r_[fit_ml(binom).theta, np.log(0.05 / 0.95)]  # [δ, ψ] of the binomial model, ρ = 0.05
    theta = np.array(theta0, dtype=float)
    ll, g, H = model.derivatives(theta)
    trace = [ll]
    W = float(model.wt.sum())
    for _ in range(max_iter):
        # Newton step; where the log-likelihood is not concave, the curvature's absolute values
        # (a "saddle-free" Newton step, which still ascends)
        lam, V = np.linalg.eigh(-H)
        lam = np.maximum(np.abs(lam), 1e-8 * max(float(np.abs(lam).max()), 1e-300))
        step = V @ ((V.T @ g) / lam)
        scale = 1.0
        while True:
            cand = theta + scale * step
            ll_c = model.loglik(cand)
            if ll_c >= ll - 1e-12 * abs(ll) or scale < 1e-10:
                break
            scale /= 2
        if not ll_c >= ll - 1e-12 * abs(ll):
            break
        gain = ll_c - ll
        theta = cand
        ll, g, H = model.derivatives(theta)
        trace.append(ll)
        if theta[-1] < BOUNDARY_ZETA:
            raise DesignError(_BOUNDARY_MSG)
        if gain < tol * max(1.0, abs(ll)) * 1e-3 and np.max(np.abs(g)) < 1e-6 * max(1.0, W):
            break
    else:
        raise ConvergenceError(f"the beta-binomial list model did not converge in {max_iter} iterations; "
                               "simplify the covariates or use method='dim'")
    if np.max(np.abs(g)) > 1e-4 * max(1.0, W):
        if theta[-1] < -8:  # creeping towards ρ = 0
            raise DesignError(_BOUNDARY_MSG)
        raise ConvergenceError("the beta-binomial list model stopped away from a maximum; simplify the covariates or use method='dim'")
    names = [(b.part, term) for b in model.blocks for term in b.terms]
    if np.max(np.abs(theta[:-1])) > 15:
        j = int(np.argmax(np.abs(theta[:-1])))
        part, term = names[j]
        raise DesignError(f"the beta-binomial fit is on the boundary: the {part} coefficient '{term}' diverges ({theta[j]:.3g}); "
                          "use fewer covariates or method='dim'")
    try:
        np.linalg.cholesky(-H)
        vcov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        if theta[-1] < -8:
            raise DesignError(_BOUNDARY_MSG) from None
        raise DesignError("the beta-binomial list model's information matrix is singular at the maximum "
                          "(a covariate separates the respondents?); simplify the covariates or use method='dim'") from None
    return BBFit(theta=theta, vcov=vcov, loglik=ll, iterations=len(trace) - 1, model=model, hessian=H, trace=trace)
