"""Linear and nonlinear least-squares list-experiment regressions (Imai 2011, sec. 2.2–2.3).

Both follow R's ``list::ictreg`` exactly:

* ``method="lm"``: one weighted least-squares fit of the count on ``[X, X·T]`` (no extra
  intercept); the ``X`` coefficients are the ``control`` part, the ``X·T`` coefficients the
  ``sensitive`` part (a linear probability model). Standard errors: HC3 (``sandwich::vcovHC``'s
  default, which ictreg uses), i.e. ``(XᵀWX)⁻¹ Σ w_i² e_i² x_i x_iᵀ / (1 − h_ii)² (XᵀWX)⁻¹``.
* ``method="nls"``: two-step NLS. Step 1 fits ``Y/J = logistic(X ψ)`` by weighted NLS in the
  control group; step 2 fits ``Y − J·logistic(X ψ̂) = logistic(X δ)`` by weighted NLS in the
  treatment group. Standard errors: the two-step M-estimation sandwich of Imai (2011, appendix),
  which ictreg computes without the weights; so do we (documented difference from a weighted
  sandwich).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from . import _logit

__all__: list[str] = []


def fit_lm(y: np.ndarray, t: np.ndarray, X: np.ndarray, w: np.ndarray, arms: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients ``[control, arm1, arm2, ...]``, their HC3 covariance and per-row influence."""
    Z = np.hstack([X] + [X * (t == a)[:, None] for a in arms if a != 0])
    sw = np.sqrt(w)
    Zw = Z * sw[:, None]
    Q, R = np.linalg.qr(Zw)
    beta = np.linalg.solve(R, Q.T @ (y * sw))
    e = y - Z @ beta
    bread = np.linalg.inv(R.T @ R)
    hat = np.sum(Q * Q, axis=1)  # leverages of the weighted fit
    score = Z * (w * e / (1.0 - hat))[:, None]
    vcov = bread @ (score.T @ score) @ bread
    influence = (Z * e[:, None]) @ bread  # theta_hat - theta ≈ Σ w_i influence_i
    return beta, vcov, influence


def _nls(X: np.ndarray, target: np.ndarray, w: np.ndarray, start: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)

    def resid(b: np.ndarray) -> np.ndarray:
        return sw * (target - expit(X @ b))

    def jac(b: np.ndarray) -> np.ndarray:
        p = expit(X @ b)
        return -(X * (sw * p * (1 - p))[:, None])

    sol = least_squares(resid, start, jac=jac, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10000)
    return sol.x


def fit_nls(y: np.ndarray, t: np.ndarray, X: np.ndarray, w: np.ndarray, J: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-step NLS for one sensitive item (``t`` is 0/1): ``(delta, psi, vcov[delta, psi])``."""
    c, tr = t == 0, t == 1
    psi0 = _logit.fit(X[c], y[c] / J, J * w[c])
    psi = _nls(X[c], y[c] / J, w[c], psi0)
    adj = y[tr] - J * expit(X[tr] @ psi)
    d0 = _logit.fit(X[tr], np.clip(adj, 0, 1), w[tr])
    delta = _nls(X[tr], adj, w[tr], d0)
    return delta, psi, _vcov_twostep(delta, psi, J, y, t, X)


def _vcov_twostep(delta: np.ndarray, psi: np.ndarray, J: int, y: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Sandwich of the stacked NLS estimating equations (unweighted, as ictreg)."""
    n = len(y)
    x1, x0 = X[t == 1], X[t == 0]
    y1, y0 = y[t == 1], y[t == 0]
    gd1, gp1, gp0 = expit(x1 @ delta), expit(x1 @ psi), expit(x0 @ psi)
    m1 = x1 * ((y1 - J * gp1 - gd1) * gd1 * (1 - gd1))[:, None]
    m0 = x0 * ((y0 - J * gp0) * J * gp0 * (1 - gp0))[:, None]
    k = X.shape[1]
    F = np.zeros((2 * k, 2 * k))
    F[:k, :k] = m1.T @ m1 / n
    F[k:, k:] = m0.T @ m0 / n
    a = x1 * (gd1 * (1 - gd1))[:, None]
    G1 = -(a.T @ a) / n
    G2 = -(x1 * (J * gd1 * (1 - gd1) * gp1 * (1 - gp1))[:, None]).T @ x1 / n
    b = x0 * (J * gp0 * (1 - gp0))[:, None]
    G3 = -(b.T @ b) / n
    iG1, iG3 = np.linalg.inv(G1), np.linalg.inv(G3)
    invG = np.block([[iG1, -iG1 @ G2 @ iG3], [np.zeros((k, k)), iG3]])
    return invG @ F @ invG.T / n
