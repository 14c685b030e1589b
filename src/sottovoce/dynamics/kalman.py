"""Kalman filter and RTS smoother for a random-walk share observed by polls with house effects.

State-space form (Jackman 2005, "Pooling the polls over an election campaign", *Australian
Journal of Political Science* 40(4)): the latent share follows a Gaussian random walk
``alpha_t = alpha_{t-1} + omega_t``, ``omega_t ~ N(0, sigma2)``; poll ``i`` observes
``y_i = alpha_{t_i} + x_i' delta + eps_i``, ``eps_i ~ N(0, r_i)``.

House effects and the initial level are handled *exactly* as diffuse regression effects
(de Jong 1991, "The diffuse Kalman filter", *Annals of Statistics* 19(2)): write
``alpha_t = mu + xi_t`` with ``xi`` a random walk started at 0 on the first day, put
``b = (mu, delta)`` in a design row ``w_i = (1, x_i)``, and run one scalar filter on the data
column and on every column of ``W`` at once. Because the gains do not depend on the data, the
filter is a scalar variance recursion plus a linear recursion for the means, which we solve as one
bidiagonal system (compiled, all columns together) instead of a Python loop over matrices. GLS
then gives ``b``, its covariance, and the diffuse log-likelihood; the RTS smoother (Rauch, Tung &
Striebel 1965) is handled the same way.

The filter runs over *steps*: a step is one poll, or a day without polls (so the smoother yields
every day of the grid). Several polls on one day are consecutive steps with a gap of 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_banded

from ..errors import DesignError

__all__ = ["FilterOutput", "kalman_filter", "diffuse_loglik", "rts_smoother", "augmented_state_filter"]

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class FilterOutput:
    """Filtered quantities per step: predicted and updated variances, updated means per column."""

    p_pred: np.ndarray  # P_{i|i-1}
    p_filt: np.ndarray  # P_{i|i}
    m_filt: np.ndarray  # steps × columns, E[xi_i | data up to i] for each column treated as data
    m_pred: np.ndarray  # steps × columns, E[xi_i | data before i]
    gain: np.ndarray


def _variance_recursion(gap: np.ndarray, prec: np.ndarray, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    # Scalar Riccati recursion on Python floats: the only sequential part of the filter.
    p_pred = np.empty(len(gap))
    p_filt = np.empty(len(gap))
    p = 0.0  # xi is exactly 0 on the first day (the level is in b)
    pp, pf = p_pred.tolist(), p_filt.tolist()
    for i, (g, h) in enumerate(zip(gap.tolist(), prec.tolist(), strict=True)):
        p += sigma2 * g
        pp[i] = p
        p = p / (1.0 + p * h)
        pf[i] = p
    return np.asarray(pp), np.asarray(pf)


def kalman_filter(gap: np.ndarray, prec: np.ndarray, cols: np.ndarray, sigma2: float) -> FilterOutput:
    """One forward pass of the filter for ``xi`` on each column of ``cols`` treated as data.

    gap : (m,) days since the previous step (0 for the first step and for polls on the same day).
    prec : (m,) observation precision ``1 / r_i``; 0 for a day without a poll.
    cols : (m, k) the data column ``y`` and the design columns ``W`` (rows of no-poll steps are ignored).
    """
    p_pred, p_filt = _variance_recursion(gap, prec, sigma2)
    gain = p_pred * prec / (1.0 + p_pred * prec)  # K_i = P_{i|i-1} / (P_{i|i-1} + r_i)
    m = len(gap)
    # m_filt_i = (1 - K_i) m_filt_{i-1} + K_i c_i : a lower-bidiagonal linear system.
    ab = np.ones((2, m))
    ab[1, :-1] = -(1.0 - gain[1:])
    rhs = gain[:, None] * np.where(prec[:, None] > 0, cols, 0.0)
    m_filt = solve_banded((1, 0), ab, rhs, check_finite=False)
    m_pred = np.vstack([np.zeros((1, cols.shape[1])), m_filt[:-1]])
    return FilterOutput(p_pred, p_filt, m_filt, m_pred, gain)


@dataclass(frozen=True)
class GLSFit:
    """GLS estimate of the diffuse effects ``b`` and the diffuse log-likelihood."""

    b: np.ndarray
    cov_b: np.ndarray
    loglik: float


def diffuse_loglik(out: FilterOutput, cols: np.ndarray, prec: np.ndarray) -> GLSFit:
    """De Jong's diffuse log-likelihood with ``b`` estimated by GLS from the innovations.

    ``-1/2 [n log 2π + Σ log F_i + log|S_WW| + q]`` with ``F_i = P_{i|i-1} + r_i``,
    ``S = Σ v_i v_i' / F_i`` over the innovations ``v_i`` of the data and design columns and
    ``q = S_yy - S_yW S_WW^{-1} S_Wy`` (the GLS residual sum of squares). Equal to the restricted
    (REML) likelihood of the polls, so it does not depend on how ``b`` is parameterised except for
    a constant.
    """
    obs = prec > 0
    v = (cols - out.m_pred)[obs]
    f = out.p_pred[obs] + 1.0 / prec[obs]
    s = (v / f[:, None]).T @ v
    s_ww, s_wy = s[1:, 1:], s[1:, 0]
    try:
        chol = np.linalg.cholesky(s_ww)
    except np.linalg.LinAlgError:
        raise DesignError("the level and house effects are not identified by these polls") from None
    inv = np.linalg.inv(s_ww)
    b = inv @ s_wy
    q = float(s[0, 0] - s_wy @ b)
    logdet = 2.0 * float(np.log(np.diag(chol)).sum())
    ll = -0.5 * (obs.sum() * LOG_2PI + float(np.log(f).sum()) + logdet + q)
    return GLSFit(b, inv, ll)


def rts_smoother(out: FilterOutput, gap: np.ndarray, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    """Rauch–Tung–Striebel smoother: smoothed means (steps × columns) and variances of ``xi``."""
    m = len(gap)
    p_next = np.append(out.p_pred[1:], np.inf)
    j = np.where(p_next > 0, out.p_filt / np.where(p_next > 0, p_next, 1.0), 0.0)
    j[-1] = 0.0
    # ms_i = (1 - J_i) m_filt_i + J_i ms_{i+1} (the random walk predicts m_{i+1|i} = m_{i|i}).
    ab = np.ones((2, m))
    ab[0, 1:] = -j[:-1]
    ms = solve_banded((0, 1), ab, (1.0 - j)[:, None] * out.m_filt, check_finite=False)
    ps = out.p_filt.tolist()
    pf, pn, jl = out.p_filt.tolist(), p_next.tolist(), j.tolist()
    for i in range(m - 2, -1, -1):
        ps[i] = pf[i] + jl[i] ** 2 * (ps[i + 1] - pn[i])
    return ms, np.maximum(np.asarray(ps), 0.0)


def augmented_state_filter(day: np.ndarray, y: np.ndarray, r: np.ndarray, x: np.ndarray, n_days: int,
                           sigma2: float, kappa: float = 1e6) -> tuple[np.ndarray, np.ndarray]:
    """Textbook Kalman filter with the house effects as constant states, over every day of the grid.

    State ``(alpha_t, delta)``, transition the identity, process noise ``sigma2`` on ``alpha``
    only, and a large prior variance ``kappa`` approximating the diffuse start. Used as the
    baseline "one pass of the Kalman filter" in the benchmark and as an independent check of the
    exact filter in the tests. Returns the final filtered state mean and covariance.
    """
    k = 1 + x.shape[1]
    a = np.zeros(k)
    p = np.eye(k) * kappa
    order = np.argsort(day, kind="stable")
    day, y, r, x = day[order], y[order], r[order], x[order]
    bounds = np.searchsorted(day, np.arange(n_days + 1))
    z = np.column_stack([np.ones(len(y)), x])
    for t in range(n_days):
        if t > 0:
            p[0, 0] += sigma2
        for i in range(bounds[t], bounds[t + 1]):
            zi = z[i]
            pz = p @ zi
            f = zi @ pz + r[i]
            kg = pz / f
            a = a + kg * (y[i] - zi @ a)
            p = p - np.outer(kg, pz)
    return a, p
