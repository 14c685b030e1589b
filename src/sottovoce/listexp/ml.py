"""Maximum-likelihood list-experiment regression fitted by EM (Imai 2011; Blair & Imai 2012).

The model of Imai (2011, JASA 106:407–416), as in R's ``list::ictreg(method = "ml")``:

* sensitive item ``Z_i ~ Bernoulli(g(X_i))``, ``g = logistic(X δ)``  (part ``sensitive``);
* control count ``Y*_i | Z_i = z ~ Binomial(J, h_z(X_i))``, ``h_z = logistic(X ψ_z)``.
  Constrained model: ``ψ_0 = ψ_1 = ψ`` (part ``control``); unconstrained: parts
  ``control.psi0`` and ``control.psi1`` (ictreg's ``par.control.psi0`` / ``psi1``);
* observed ``Y_i = Y*_i + T_i Z_i``.

Ceiling and floor liars (Blair & Imai 2012, Political Analysis 20:47–77, sec. 3): among treated
respondents with ``Z = 1``, those with ``Y* = J`` answer ``J`` instead of ``J + 1`` with probability
``q_u(X)`` (part ``ceiling``) and those with ``Y* = 0`` answer ``0`` instead of ``1`` with
probability ``q_l(X)`` (part ``floor``), both logistic; these models use the constrained control
model, as ictreg does.

EM: the E-step computes, for all respondents at once, the posterior of the latent ``(Z, Y*,
lie)`` given ``Y, T, X``; the M-step is a set of weighted logistic / binomial-logit fits solved by
Newton (``_logit.fit``). Each step cannot lower the observed log-likelihood (the trace is kept in
``details["loglik_trace"]``). Once EM has settled, Newton–Raphson on the observed log-likelihood
(score by Fisher's identity, Hessian by central differences of the analytic score) polishes the
maximum, with step halving so that it too never lowers the likelihood.

Standard errors: ``se="observed"`` (default) inverts the observed information of the full
(weighted) log-likelihood at the MLE — what ictreg computes with ``optim(..., hessian = TRUE)``
(ictreg multiplies each respondent's log-likelihood by its weight, so its SEs assume frequency
weights). ``se="sandwich"`` gives the robust ``H⁻¹ (Σ w² s sᵀ) H⁻¹``; ``se="design"`` feeds the
influence values ``H⁻¹ s_i`` to :meth:`Survey.cov_total` (strata, PSUs, calibration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit, gammaln

from ..errors import ConvergenceError, DesignError, InputError
from . import _logit

__all__: list[str] = []


@dataclass
class Block:
    """One logistic sub-model: its part name, design matrix, term names and coefficients."""

    part: str
    X: np.ndarray
    terms: list[str]


@dataclass
class MLModel:
    """Latent-class likelihood of one list experiment (one sensitive item vs control)."""

    y: np.ndarray
    t: np.ndarray  # 0 control, 1..arms: which sensitive item the respondent's list had
    X: np.ndarray
    terms: list[str]
    J: int
    wt: np.ndarray
    constrained: bool = True
    ceiling: bool = False
    floor: bool = False
    X_ceiling: np.ndarray | None = None
    terms_ceiling: list[str] | None = None
    X_floor: np.ndarray | None = None
    terms_floor: list[str] | None = None
    arms: int = 1
    blocks: list[Block] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.ceiling or self.floor) and not self.constrained:
            raise InputError("ceiling/floor models use the constrained control model (as ictreg does); drop constrained=False")
        if self.arms > 1 and (self.ceiling or self.floor or not self.constrained):
            raise InputError("the joint model of several sensitive items is the constrained one without ceiling/floor liars (as ictreg's)")
        # several sensitive items share one control model (ictreg's multi-item ML, Blair & Imai
        # 2012 sec. 4): one sensitive block per item, part "sensitive.<arm>"
        self.sens_parts = ["sensitive"] if self.arms == 1 else [f"sensitive.{m}" for m in range(1, self.arms + 1)]
        self.blocks = [Block(part, self.X, self.terms) for part in self.sens_parts]
        if self.constrained:
            self.blocks.append(Block("control", self.X, self.terms))
        else:
            self.blocks += [Block("control.psi0", self.X, self.terms), Block("control.psi1", self.X, self.terms)]
        if self.floor:
            Xf = self.X_floor if self.X_floor is not None else np.ones((len(self.y), 1))
            self.blocks.append(Block("floor", Xf, self.terms_floor or ["(Intercept)"]))
        if self.ceiling:
            Xc = self.X_ceiling if self.X_ceiling is not None else np.ones((len(self.y), 1))
            self.blocks.append(Block("ceiling", Xc, self.terms_ceiling or ["(Intercept)"]))
        self.sizes = [b.X.shape[1] for b in self.blocks]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        J, y = self.J, self.y
        # log binomial coefficients for Y* = y and Y* = y - 1 (invalid cells get -inf below)
        self._lc_y = _lchoose(J, y)
        self._lc_y1 = _lchoose(J, y - 1)

    # -- parameters ---------------------------------------------------------------------------
    def split(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return {b.part: theta[self.offsets[i]:self.offsets[i + 1]] for i, b in enumerate(self.blocks)}

    # -- E-step -------------------------------------------------------------------------------
    def estep(self, theta: np.ndarray, parts_needed: bool = True) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """Per-row log-likelihood and, per block, (row mask, multiplier, target) of the Q function.

        Block b's expected complete-data log-likelihood is
        ``Σ wt_i m_i [τ_i log p_i + (1 - τ_i) log(1 - p_i)]`` with ``p_i = logistic(X_b β_b)``.
        """
        J, y, t = self.J, self.y, self.t
        par = self.split(theta)
        if self.arms == 1:
            eta_g = self.X @ par["sensitive"]
        else:  # each respondent's own item; control rows (t = 0) do not use it
            eta_g = np.zeros(len(y))
            for m, part in enumerate(self.sens_parts, start=1):
                rows = t == m
                eta_g[rows] = self.X[rows] @ par[part]
        lg, l1g = _logit.log_both(eta_g)
        if self.constrained:
            eta0 = eta1 = self.X @ par["control"]
        else:
            eta0, eta1 = self.X @ par["control.psi0"], self.X @ par["control.psi1"]
        lh0, l1h0 = _logit.log_both(eta0)
        lh1, l1h1 = (lh0, l1h0) if self.constrained else _logit.log_both(eta1)
        ninf = -np.inf
        treated = t >= 1
        ys = y - treated  # Y* when Z = 1 and the respondent is honest
        # Z = 0: Y* = y (valid when y <= J)
        la0 = np.where(y <= J, l1g + self._lc_y + y * lh0 + (J - y) * l1h0, ninf)
        # Z = 1, honest: Y* = y - t
        lcs = np.where(treated, self._lc_y1, self._lc_y)
        la1 = np.where((ys >= 0) & (ys <= J), lg + lcs + ys * lh1 + (J - ys) * l1h1, ninf)
        la2 = np.full_like(la0, ninf)  # Z = 1, Y* = y, lied (treated only)
        if self.floor:
            eta_l = self.blocks[self._idx("floor")].X @ par["floor"]
            lq, l1q = _logit.log_both(eta_l)
            at0 = treated & (y == 0)
            la2 = np.where(at0, lg + self._lc_y + l1h0 * J + lq, la2)
            la1 = np.where(treated & (y == 1), la1 + l1q, la1)
        if self.ceiling:
            eta_u = self.blocks[self._idx("ceiling")].X @ par["ceiling"]
            lq, l1q = _logit.log_both(eta_u)
            atJ = treated & (y == J)
            la2 = np.where(atJ, np.logaddexp(la2, lg + self._lc_y + lh0 * J + lq), la2)
            la1 = np.where(treated & (y == J + 1), la1 + l1q, la1)
        if self.constrained:
            # control respondents: Z is unobserved and does not change their count's law
            la0 = np.where(treated, la0, l1g + self._lc_y + y * lh0 + (J - y) * l1h0)
            la1 = np.where(treated, la1, lg + self._lc_y + y * lh0 + (J - y) * l1h0)
        ll = np.logaddexp(la0, la1)
        if self.floor or self.ceiling:
            ll = np.logaddexp(ll, la2)
        if not parts_needed:
            return ll, []
        p0, p1, p2 = np.exp(la0 - ll), np.exp(la1 - ll), np.exp(la2 - ll)
        self._post = (p0, p1, p2)
        ez = p1 + p2
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        one = np.ones_like(y)
        for b in self.blocks:
            if b.part.startswith("sensitive"):
                # constrained: a control respondent's posterior equals the prior, so its rows add
                # nothing to the score; leaving them out speeds EM up and keeps it monotone
                if self.arms > 1:
                    mask = t == int(b.part.split(".")[1])
                else:
                    mask = treated if self.constrained else np.ones_like(treated)
                parts.append((mask, one, ez))
            elif b.part == "control":
                ystar = np.where(treated, y * p0 + ys * p1 + y * p2, y)
                parts.append((np.ones_like(treated), J * one, ystar / J))
            elif b.part == "control.psi0":
                parts.append((np.ones_like(treated), J * p0, np.clip(y, 0, J) / J))
            elif b.part == "control.psi1":
                parts.append((np.ones_like(treated), J * p1, np.clip(ys, 0, J) / J))
            elif b.part == "floor":
                m = treated & ((y == 0) | (y == 1))
                mass = np.where(y == 0, p2, p1)
                parts.append((m, mass, (y == 0).astype(float)))
            elif b.part == "ceiling":
                m = treated & ((y == J) | (y == J + 1))
                mass = np.where(y == J, p2, p1)
                parts.append((m, mass, (y == J).astype(float)))
        return ll, parts

    def control_pmf(self, theta: np.ndarray) -> np.ndarray:
        """Model probability of each control count 0..J for every row: what a control respondent
        with these covariates answers (binomial; a mixture of two binomials when unconstrained)."""
        par = self.split(theta)
        J = self.J
        counts = np.arange(J + 1)
        lc = _lchoose(J, counts)

        def binom(eta: np.ndarray) -> np.ndarray:
            lp, l1p = _logit.log_both(eta)
            return np.exp(lc + counts * lp[:, None] + (J - counts) * l1p[:, None])

        if self.constrained:
            return binom(self.X @ par["control"])
        g = expit(self.X @ par["sensitive"])[:, None]
        return g * binom(self.X @ par["control.psi1"]) + (1 - g) * binom(self.X @ par["control.psi0"])

    def _idx(self, part: str) -> int:
        return [b.part for b in self.blocks].index(part)

    def loglik(self, theta: np.ndarray) -> float:
        ll, _ = self.estep(theta, parts_needed=False)
        return float(self.wt @ ll)

    def score_rows(self, theta: np.ndarray) -> np.ndarray:
        """Per-row (unweighted) scores of the observed log-likelihood (Fisher's identity)."""
        _, parts = self.estep(theta)
        par = self.split(theta)
        cols = []
        for b, (mask, mult, tau) in zip(self.blocks, parts, strict=False):
            p = expit(b.X @ par[b.part])
            r = np.where(mask, mult * (tau - p), 0.0)
            cols.append(b.X * r[:, None])
        return np.hstack(cols)

    def score(self, theta: np.ndarray) -> np.ndarray:
        return self.wt @ self.score_rows(theta)

    def derivatives(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Log-likelihood, score and analytic Hessian of the observed-data log-likelihood.

        Each respondent's log-likelihood is ``log Σ_s exp(l_s)`` over the latent states ``s``
        (``Z``, ``Y*``, lie) with complete-data log-likelihoods ``l_s``; so its Hessian is the
        posterior mean of ``∇²l_s`` plus the posterior covariance of ``∇l_s`` (Louis 1982).
        ``∇l_s`` is ``x_b r_bs`` per block, so both terms are cheap products of the design.
        """
        ll, parts = self.estep(theta)
        post = np.stack(self._post)  # (3, n): Z=0 ; Z=1 honest ; Z=1 lied
        par = self.split(theta)
        J, y, t = self.J, self.y, self.t
        treated = t >= 1
        ys = y - treated
        zero = np.zeros_like(y)
        R, curv = [], []
        for b, (mask, mult, _tau) in zip(self.blocks, parts, strict=False):
            p = expit(b.X @ par[b.part])
            if b.part.startswith("sensitive"):
                r = np.stack([-p, 1 - p, 1 - p])
            elif b.part == "control":
                r = np.stack([y - J * p, ys - J * p, y - J * p])
            elif b.part == "control.psi0":
                r = np.stack([y - J * p, zero, zero])
            elif b.part == "control.psi1":
                r = np.stack([zero, ys - J * p, zero])
            elif b.part == "floor":
                r = np.stack([zero, np.where(treated & (y == 1), -p, 0.0), np.where(treated & (y == 0), 1 - p, 0.0)])
            else:  # ceiling
                r = np.stack([zero, np.where(treated & (y == J + 1), -p, 0.0), np.where(treated & (y == J), 1 - p, 0.0)])
            R.append(np.where(mask, r, 0.0))
            curv.append(np.where(mask, mult * p * (1 - p), 0.0))
        w = self.wt
        rbar = [(post * r).sum(axis=0) for r in R]
        grad = np.concatenate([b.X.T @ (w * rbar[i]) for i, b in enumerate(self.blocks)])
        p_tot = int(self.offsets[-1])
        H = np.zeros((p_tot, p_tot))
        for i, bi in enumerate(self.blocks):
            si = slice(self.offsets[i], self.offsets[i + 1])
            for j, bj in enumerate(self.blocks[: i + 1]):
                sj = slice(self.offsets[j], self.offsets[j + 1])
                # weight x posterior covariance of the two blocks' residuals (minus curvature)
                c = w * ((post * R[i] * R[j]).sum(axis=0) - rbar[i] * rbar[j])
                if i == j:
                    c -= w * curv[i]
                H[si, sj] = (bi.X * c[:, None]).T @ bj.X
                H[sj, si] = H[si, sj].T
        return float(w @ ll), grad, H

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Analytic Hessian of the observed-data log-likelihood."""
        return self.derivatives(theta)[2]

    def hessian_fd(self, theta: np.ndarray) -> np.ndarray:
        """Hessian by central differences of the analytic score (a check of :meth:`hessian`)."""
        return score_difference_hessian(self.score, theta)

    # -- EM -----------------------------------------------------------------------------------
    def em_step(self, theta: np.ndarray) -> np.ndarray:
        _, parts = self.estep(theta)
        par = self.split(theta)
        new = []
        for b, (mask, mult, tau) in zip(self.blocks, parts, strict=False):
            weight = np.where(mask, self.wt * mult, 0.0)
            new.append(_logit.fit(b.X, np.clip(tau, 0.0, 1.0), weight, par[b.part], max_iter=25))
        return np.concatenate(new)

    def start(self) -> np.ndarray:
        """Starting values: control model from the control group, sensitive intercept from DiM."""
        J, y, t, wt = self.J, self.y, self.t, self.wt
        c = t == 0
        psi = _logit.fit(self.X[c], y[c] / J, J * wt[c])
        deltas = []
        for m in range(1, self.arms + 1):
            arm = t == m
            dim = float(np.clip(np.average(y[arm], weights=wt[arm]) - np.average(y[c], weights=wt[c]), 0.05, 0.95))
            delta = np.zeros(self.X.shape[1])
            delta[0] = np.log(dim / (1 - dim))
            deltas.append(delta)
        theta = [*deltas, psi] if self.constrained else [*deltas, psi, psi.copy()]
        if self.floor:
            theta.append(np.r_[-2.0, np.zeros(self.blocks[self._idx("floor")].X.shape[1] - 1)])
        if self.ceiling:
            theta.append(np.r_[-2.0, np.zeros(self.blocks[self._idx("ceiling")].X.shape[1] - 1)])
        return np.concatenate(theta)


def score_difference_hessian(score: Callable[[np.ndarray], np.ndarray], theta: np.ndarray) -> np.ndarray:
    """The Hessian as central differences of an analytic ``score`` at ``theta`` (relative step
    1e-5), symmetrised: the independent check of a model's analytic Hessian."""
    p = len(theta)
    H = np.empty((p, p))
    for j in range(p):  # p parameters, each a full score evaluation: no loop over respondents
        h = 1e-5 * max(1.0, abs(theta[j]))
        e = np.zeros(p)
        e[j] = h
        H[:, j] = (score(theta + e) - score(theta - e)) / (2 * h)
    return (H + H.T) / 2


def _lchoose(J: int, k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    ok = (k >= 0) & (k <= J)
    kk = np.clip(k, 0, J)
    return np.where(ok, gammaln(J + 1) - gammaln(kk + 1) - gammaln(J - kk + 1), -np.inf)


@dataclass
class MLFit:
    theta: np.ndarray
    vcov: np.ndarray
    loglik: float
    trace: list[float]
    iterations: int
    model: MLModel
    hessian: np.ndarray


def fit_ml(model: MLModel, tol: float = 1e-8, max_iter: int = 5000, theta0: np.ndarray | None = None) -> MLFit:
    """Find the MLE by EM (monotone) and a Newton polish; raise a clear error if it cannot."""
    theta = model.start() if theta0 is None else np.array(theta0, dtype=float)
    ll = model.loglik(theta)
    trace = [ll]
    it = 0
    if max_iter > 1:  # a good start (e.g. a warm one) needs no EM at all
        polished = _newton(model, theta, ll, tol, max_iter=max_iter - 1, trace=trace)
        if polished is not None:
            theta, ll, H = polished
            return _finish(model, theta, ll, trace, it, H)
    while it < max_iter:
        new = model.em_step(theta)
        ll_new = model.loglik(new)
        it += 1
        trace.append(ll_new)
        gain = ll_new - ll
        theta, ll = new, ll_new
        if gain < tol:
            break
        if max_iter - it > 0:  # Newton from here on (it declines where not concave); same iteration budget
            polished = _newton(model, theta, ll, tol, max_iter=max_iter - it, trace=trace)
            if polished is not None:
                theta, ll, H = polished
                return _finish(model, theta, ll, trace, it, H)
    else:
        raise ConvergenceError(
            f"the ML fit of the list experiment did not converge in {max_iter} EM iterations "
            f"(last log-likelihood gain {gain:.2e}); simplify the covariates, merge sparse categories or use method='dim'"
        )
    polished = _newton(model, theta, ll, tol, max_iter=max(max_iter - it, 1), trace=trace)
    if polished is not None:
        theta, ll, H = polished
    else:
        H = model.hessian(theta)
    return _finish(model, theta, ll, trace, it, H)


def _newton(model: MLModel, theta: np.ndarray, ll: float, tol: float, max_iter: int = 50,
            trace: list[float] | None = None) -> tuple[np.ndarray, float, np.ndarray] | None:
    """Newton–Raphson on the observed log-likelihood with step halving; None if not concave here,
    a ConvergenceError if the iteration budget runs out. Each accepted step's log-likelihood is
    appended to ``trace``.

    The derivatives at an accepted point serve the next step, so a full step costs one pass.
    """
    _, g, H = model.derivatives(theta)
    for _ in range(max_iter):
        try:
            np.linalg.cholesky(-H)
        except np.linalg.LinAlgError:
            return None
        step = np.linalg.solve(-H, g)
        cand = theta + step
        ll_c, g_c, H_c = model.derivatives(cand)
        scale = 1.0
        while not ll_c >= ll and scale > 1e-12:  # also rejects NaN
            scale /= 2
            cand = theta + scale * step
            ll_c = model.loglik(cand)
            if ll_c >= ll:
                ll_c, g_c, H_c = model.derivatives(cand)
        if not ll_c >= ll:
            return theta, ll, H
        gain = ll_c - ll
        theta, ll, g, H = cand, ll_c, g_c, H_c
        if trace is not None:
            trace.append(ll)
        if np.max(np.abs(theta)) > 30:  # a coefficient runs off to infinity: let _finish name it
            return theta, ll, H
        if gain < tol and np.max(np.abs(scale * step)) < 1e-7:
            return theta, ll, H
    raise ConvergenceError(
        f"the ML fit of the list experiment did not converge within its iteration budget (last log-likelihood gain {gain:.2e}); "
        "simplify the covariates, merge sparse categories or use method='dim'"
    )


def _finish(model: MLModel, theta: np.ndarray, ll: float, trace: list[float], it: int, H: np.ndarray) -> MLFit:
    names = [(b.part, term) for b in model.blocks for term in b.terms]
    big = np.abs(theta) > 15
    try:
        np.linalg.cholesky(-H)
        vcov = np.linalg.inv(-H)
        bad_se = ~np.isfinite(np.diag(vcov)) | (np.diag(vcov) <= 0)
    except np.linalg.LinAlgError:
        vcov = np.full_like(H, np.nan)
        bad_se = np.ones(len(theta), dtype=bool)
    if big.any() or bad_se.any():
        j = int(np.argmax(np.where(big, np.abs(theta), 0))) if big.any() else int(np.argmax(bad_se))
        part, term = names[j]
        if part in ("ceiling", "floor") and theta[j] < 0:
            raise DesignError(
                f"the share of {part} liars is estimated at zero (on the boundary, coefficient '{term}' = {theta[j]:.3g}), "
                f"so the {part} model has no finite standard errors: the data show no {part} effect; refit without {part}=True"
            )
        if term == "(Intercept)" and len(model.terms) >= 1:
            raise DesignError(
                f"the ML fit is on the boundary: the {part} model's intercept diverges ({theta[j]:.3g}), i.e. an estimated share of 0 or 1 "
                f"(no or all respondents hold the {'sensitive item' if part == 'sensitive' else 'control items'}); use method='dim', or fewer covariates"
            )
        raise DesignError(
            f"the ML fit is not identified: the {part} model's coefficient for '{term}' diverges ({theta[j]:.3g}) — "
            f"the covariate separates the respondents (or the item is never/always chosen in a cell); "
            f"drop '{term}', merge its sparse categories, or use method='dim'"
        )
    return MLFit(theta=theta, vcov=vcov, loglik=ll, trace=trace, iterations=it, model=model, hessian=H)


def vcov_of(fit: MLFit, se: str, survey: Any = None) -> np.ndarray:
    """Covariance of the coefficients: observed information, sandwich, or design-based."""
    if se == "observed":
        return fit.vcov
    S = fit.model.score_rows(fit.theta)
    Hinv = np.linalg.inv(-fit.hessian)
    if se == "sandwich":
        meat = (S * (fit.model.wt ** 2)[:, None]).T @ S
        return Hinv @ meat @ Hinv
    if se == "design":
        if survey is None:
            raise InputError("se='design' needs the survey design")
        return survey.cov_total(S @ Hinv)
    raise InputError(f"unknown se '{se}'; use observed, sandwich or design")
