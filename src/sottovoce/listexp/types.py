"""Maximum likelihood over respondent types: a list model with no law for the control count.

Blair & Imai (2012, Political Analysis 20:47–77, sec. 2.2) describe each respondent by a *type*
``(y, z)``: ``y = 0..J`` control items she agrees with and ``z ∈ {0, 1}`` her answer to the
sensitive item. With no design effect and honest answers, the control arm's counts have law
``P_C(y) = π_{y0} + π_{y1}`` and the treatment arm's ``P_T(y) = π_{y0} + π_{y−1,1}``. The
prevalence is ``Σ_y π_{y1}``. This module maximises the (weighted) likelihood

    ``ℓ(π) = Σ_y n_C(y) log P_C(y) + Σ_y n_T(y) log P_T(y)``  over  ``π ≥ 0, Σ π = 1``

— the nonparametric MLE of the list experiment without covariates (the model of Imai 2011 with
the binomial control law replaced by an arbitrary joint law of control count and sensitive item).

Properties that the tests check:

* The map from ``π`` to the two arms' laws is one to one, so where the moment solution
  ``π̂_{y1} = F̂_C(y) − F̂_T(y)``, ``π̂_{y0} = F̂_T(y) − F̂_C(y − 1)`` (the design test's estimates)
  is non-negative it *is* the MLE, and the prevalence equals the difference in means exactly.
  With all true type shares positive this happens with probability → 1, so the model is
  asymptotically as efficient as the difference in means — no more (it assumes nothing more).
* Where some ``π̂`` would be negative, the constraints bind: the MLE lies on a face of the simplex,
  found here by an active-set Newton method (the log-likelihood is concave, so the KKT point is the
  maximum). The prevalence then differs from the difference in means and is more precise; the
  types at zero are reported (they are what the design-effect test looks at).

Standard errors: the inverse observed information of the free type shares (those not at zero),
with the sum-to-one constraint eliminated (``se="observed"``), or design-based: the influence
values ``∇p · (−H)⁻¹ s_i`` through :meth:`Survey.cov_total` (``se="design"``). In the interior
both reproduce the difference in means' variance (the observed information with divisor ``n``,
the design-based one exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DesignError

__all__: list[str] = []

#: EM steps before the active-set Newton method takes over (they only settle which types vanish)
EM_STEPS = 30


@dataclass(frozen=True)
class TypesFit:
    """The fitted type shares ``pi[z, y]``, the prevalence and what its SEs need."""

    pi: np.ndarray            # (2, J + 1): row 0 sensitive no, row 1 sensitive yes
    prevalence: float
    se: float                 # from the inverse observed information
    pi_se: np.ndarray         # (2, J + 1), 0 for types at zero
    influence: np.ndarray     # per respondent: prevalence − truth ≈ Σ w_i influence_i
    loglik: float
    active: np.ndarray        # (2, J + 1) bool: types constrained to zero
    moment_feasible: bool     # the moment solution is non-negative (MLE = difference in means)
    iterations: int


def _design(J: int) -> np.ndarray:
    """A (2J + 3) × (2J + 2) matrix: cell probabilities (control 0..J, treated 0..J+1) from
    ``π`` ordered ``[π_{0,0} .. π_{J,0}, π_{0,1} .. π_{J,1}]``."""
    K = J + 1
    A = np.zeros((K + K + 1, 2 * K))
    for y in range(K):
        A[y, y] = A[y, K + y] = 1.0          # control: π_{y0} + π_{y1}
        A[K + y, y] = 1.0                    # treated count y: π_{y0} ...
        A[K + y + 1, K + y] = 1.0            # ... and count y + 1: π_{y1}
    return A


def moment_types(nc: np.ndarray, nt: np.ndarray) -> np.ndarray:
    """Blair–Imai's moment estimates from the arms' (weighted) count totals, ordered as ``_design``."""
    J = len(nc) - 1
    Fc = np.cumsum(nc) / nc.sum()
    Ft = np.cumsum(nt) / nt.sum()
    pi1 = Fc[: J + 1] - Ft[: J + 1]
    pi0 = Ft[: J + 1] - np.r_[0.0, Fc[:J]]
    return np.r_[pi0, pi1]


def _loglik(n: np.ndarray, A: np.ndarray, pi: np.ndarray) -> float:
    q = A @ pi
    pos = n > 0
    if np.any(q[pos] <= 0):
        return -np.inf
    return float(n[pos] @ np.log(q[pos]))


def _solve(n: np.ndarray, A: np.ndarray, pi0: np.ndarray, tol: float = 1e-12, max_iter: int = 500) -> tuple[np.ndarray, int]:
    """Maximise ``Σ n_k log (Aπ)_k`` over the simplex: EM to a positive start, then an active-set
    Newton method on the free coordinates (sum-to-one eliminated), with KKT checks."""
    N = float(n.sum())
    m = A.shape[1]
    pos = n > 0
    # EM from a strictly positive start: a few hundred cheap steps settle which types vanish
    pi = np.maximum(pi0, 0) + 1e-3
    pi /= pi.sum()
    for _ in range(EM_STEPS):
        q = A @ pi
        ratio = np.where(pos, n / np.where(q > 0, q, 1.0), 0.0)
        pi = pi * (A.T @ ratio) / N
    free = pi > 1e-6 * pi.max()
    pi = np.where(free, pi, 0.0)
    pi /= pi.sum()
    it = 0
    ll = _loglik(n, A, pi)
    while it < max_iter:
        it += 1
        q = A @ pi
        qi = np.where(pos, 1.0 / np.where(q > 0, q, 1.0), 0.0)
        g = A.T @ (n * qi)                         # ∂ℓ/∂π
        F = np.flatnonzero(free)
        ref = F[np.argmax(pi[F])]
        rest = F[F != ref]
        if rest.size:
            D = A[:, rest] - A[:, [ref]]           # ∂q/∂θ for θ = π_rest (π_ref = 1 − Σ)
            gr = D.T @ (n * qi)
            H = -(D * (n * qi ** 2)[:, None]).T @ D
            try:
                step = np.linalg.solve(-H, gr)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(-H, gr, rcond=None)[0]
            full = np.zeros(m)
            full[rest] = step
            full[ref] = -step.sum()
            # ratio test: the longest step that keeps every free share non-negative
            neg = full < 0
            amax = float(np.min(-pi[neg] / full[neg])) if neg.any() else np.inf
            alpha = min(1.0, amax)
            while True:
                cand = np.maximum(pi + alpha * full, 0.0)
                ll_c = _loglik(n, A, cand)
                if ll_c >= ll - 1e-14 * abs(ll) or alpha < 1e-12:
                    break
                alpha /= 2
            if ll_c >= ll - 1e-14 * abs(ll):
                hit = free & (cand <= 1e-15) & (alpha == amax)
                pi, gain = cand / cand.sum(), ll_c - ll
                ll = ll_c
                if hit.any():
                    free &= ~hit
                    pi = np.where(free, pi, 0.0)
                    continue
                if np.max(np.abs(alpha * step)) > 1e-12 and gain > tol * max(1.0, abs(ll)) * 1e-3:
                    continue
        # converged on this face: a type at zero whose gradient exceeds the multiplier N should
        # be free (KKT: ∂ℓ/∂π_j ≤ N for π_j = 0, = N for π_j > 0)
        q = A @ pi
        g = A.T @ np.where(pos, n / np.where(q > 0, q, 1.0), 0.0)
        viol = ~free & (g > N * (1 + 1e-9))
        if not viol.any():
            return pi, it
        free[np.argmax(np.where(viol, g, -np.inf))] = True
    raise DesignError("the respondent-types model did not converge; use method='dim'")


def fit_types(y: np.ndarray, treated: np.ndarray, control: np.ndarray, w: np.ndarray, J: int) -> TypesFit:
    """Fit the respondent-types model to one treated arm and the control arm (weights ``w``)."""
    K = J + 1
    A = _design(J)
    wt, wcn = np.where(treated, w, 0.0), np.where(control, w, 0.0)
    yi = y.astype(np.int64)
    nc = np.bincount(yi, weights=wcn, minlength=K + 1)[:K]
    nt = np.bincount(yi, weights=wt, minlength=K + 1)[: K + 1]
    if nc.sum() <= 0 or nt.sum() <= 0:
        raise DesignError("an arm of the list experiment has no respondents with a positive weight")
    n = np.r_[nc, nt]
    pim = moment_types(nc, nt)
    feasible = bool(np.all(pim >= -1e-14))
    if feasible:
        pi, it = np.maximum(pim, 0.0), 0
        pi /= pi.sum()
    else:
        pi, it = _solve(n, A, pim)
    q = A @ pi
    pos = n > 0
    qi = np.where(pos, 1.0 / np.where(q > 0, q, 1.0), 0.0)
    active = pi <= 0  # a type at zero (also a zero moment estimate: a cell nobody answered)
    F = np.flatnonzero(~active)
    ref = F[np.argmax(pi[F])]
    rest = F[F != ref]
    D = A[:, rest] - A[:, [ref]]
    H = -(D * (n * qi ** 2)[:, None]).T @ D
    Hinv = np.linalg.pinv(-H)
    grad = np.zeros(len(rest))
    grad += (rest >= K).astype(float) - float(ref >= K)  # ∂ Σ_y π_{y1} / ∂θ
    prev = float(pi[K:].sum())
    se = float(np.sqrt(max(float(grad @ Hinv @ grad), 0.0)))
    # full covariance of π (eliminated reference share = −Σ of the others)
    T = np.zeros((2 * K, len(rest)))
    T[rest, np.arange(len(rest))] = 1.0
    T[ref, :] = -1.0
    pi_cov = T @ Hinv @ T.T
    # influence: respondent i in cell k contributes the score D_k / q_k
    cell = np.where(control, yi, np.where(treated, K + yi, -1))
    s = np.zeros((len(y), len(rest)))
    inside = cell >= 0
    s[inside] = D[cell[inside]] * qi[cell[inside], None]
    influence = s @ (Hinv @ grad)
    return TypesFit(pi=pi.reshape(2, K), prevalence=prev, se=se, pi_se=np.sqrt(np.maximum(np.diag(pi_cov), 0)).reshape(2, K),
                    influence=influence, loglik=_loglik(n, A, pi), active=active.reshape(2, K), moment_feasible=feasible,
                    iterations=it)
