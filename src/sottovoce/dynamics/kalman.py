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

The filter runs over *steps*: one step per poll (several polls on one day are consecutive steps
with a gap of 0). Days between polls need no steps: given the smoothed states at the polls on
either side, the random walk in between is a Brownian bridge, so ``smooth_trend`` interpolates
the smoothed means linearly and adds the bridge variance (exact, not an approximation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dtbtrs

from ..errors import DesignError

__all__ = ["FilterOutput", "kalman_filter", "diffuse_loglik", "rts_smoother", "smooth_trend", "augmented_state_filter"]

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
    # (Bound appends: attribute lookups would be a third of the loop's time.)
    pp: list[float] = []
    pf: list[float] = []
    put_pred, put_filt = pp.append, pf.append
    p = 0.0  # xi is exactly 0 on the first day (the level is in b)
    for q, h in zip((sigma2 * gap).tolist(), prec.tolist(), strict=True):
        p += q
        put_pred(p)
        p = p / (1.0 + p * h)
        put_filt(p)
    return np.array(pp), np.array(pf)


def _unit_bidiagonal_solve(off: np.ndarray, rhs: np.ndarray, lower: bool) -> np.ndarray:
    """Solve ``x_i + off_i x_{i-1} = rhs_i`` (lower) or ``x_i + off_i x_{i+1} = rhs_i`` (upper).

    ``off`` has length m - 1. LAPACK's banded triangular solve is plain forward/back substitution
    in compiled code (no pivoting, which a unit diagonal does not need).
    """
    ab = np.ones((2, len(rhs)))
    if lower:
        ab[1, :-1] = off
    else:
        ab[0, 1:] = off
    x, info = dtbtrs(ab, rhs, uplo="L" if lower else "U", diag="U")
    if info != 0:  # pragma: no cover - a unit-diagonal system is never singular
        raise RuntimeError(f"banded solve failed (info={info})")
    return x


def kalman_filter(gap: np.ndarray, prec: np.ndarray, cols: np.ndarray, sigma2: float) -> FilterOutput:
    """One forward pass of the filter for ``xi`` on each column of ``cols`` treated as data.

    gap : (m,) days since the previous step (0 for the first step and for polls on the same day).
    prec : (m,) observation precision ``1 / r_i``; 0 for a day without a poll.
    cols : (m, k) the data column ``y`` and the design columns ``W`` (rows of no-poll steps are ignored).
    """
    p_pred, p_filt = _variance_recursion(gap, prec, sigma2)
    gain = p_pred * prec / (1.0 + p_pred * prec)  # K_i = P_{i|i-1} / (P_{i|i-1} + r_i)
    # m_filt_i = (1 - K_i) m_filt_{i-1} + K_i c_i : a lower-bidiagonal linear system.
    data = cols if prec.min() > 0 else np.where(prec[:, None] > 0, cols, 0.0)
    m_filt = _unit_bidiagonal_solve(gain[1:] - 1.0, gain[:, None] * data, lower=True)
    m_pred = np.empty_like(m_filt)
    m_pred[0] = 0.0
    m_pred[1:] = m_filt[:-1]
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


def rts_smoother(out: FilterOutput) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rauch–Tung–Striebel smoother over the steps.

    Returns the smoothed means (steps × columns) and variances of ``xi`` and the gains ``J_i``;
    ``J_i * P^s_{i+1}`` is the smoothed covariance of consecutive steps.
    """
    p_next = np.append(out.p_pred[1:], np.inf)
    j = np.where(p_next > 0, out.p_filt / np.where(p_next > 0, p_next, 1.0), 0.0)
    j[-1] = 0.0
    # ms_i = (1 - J_i) m_filt_i + J_i ms_{i+1} (the random walk predicts m_{i+1|i} = m_{i|i}) and
    # ps_i = P_{i|i} + J_i^2 (ps_{i+1} - P_{i+1|i}): two upper-bidiagonal linear systems.
    ms = _unit_bidiagonal_solve(-j[:-1], (1.0 - j)[:, None] * out.m_filt, lower=False)
    j2 = j * j
    rhs = out.p_filt.copy()
    rhs[:-1] -= j2[:-1] * out.p_pred[1:]
    ps = _unit_bidiagonal_solve(-j2[:-1], rhs[:, None], lower=False)[:, 0]
    return ms, np.maximum(ps, 0.0), j


def smooth_trend(out: FilterOutput, step_day: np.ndarray, n_days: int, sigma2: float, b: np.ndarray,
                 cov_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed trend and its MSE on every day ``0 .. n_days - 1``, with the diffuse effects ``b``.

    ``step_day`` is the (non-decreasing) grid day of each step; the first step is on day 0. On
    the steps, the trend is ``m_y - m_W' b + b_0`` (``E[alpha_t | y] = L_t(y) + (e1 - L_t(W))' b``)
    with MSE ``P^s + g' cov_b g``, ``g = e1 - L_t(W)``. A day with polls takes the state of its
    last poll. A day strictly between steps ``i`` and ``i + 1`` at fraction ``u`` of the gap ``h``
    is, given both states, a Brownian bridge: mean ``(1-u) xi_i + u xi_{i+1}``, variance
    ``sigma2 h u (1-u)``. So the smoother (linear in the data) interpolates linearly, and the MSE
    is ``(1-u)^2 M_ii + u^2 M_kk + 2u(1-u) M_ik + sigma2 h u (1-u)`` with ``M_ik = J_i P^s_k +
    g_i' cov_b g_k`` (``J_i P^s_{i+1}`` is the smoothed covariance of consecutive states). A day
    after the last step adds the drift ``sigma2 (d - t_last)``.

    Returns the step-level smoothed means (steps × columns) and variances, and the day-level
    trend and MSE.
    """
    ms, ps, j = rts_smoother(out)
    g = -ms[:, 1:]
    g[:, 0] += 1.0
    trend = ms[:, 0] + g @ b
    gc = g @ cov_b
    m_own = ps + np.einsum("ij,ij->i", gc, g)
    m_next = np.append(j[:-1] * ps[1:] + np.einsum("ij,ij->i", gc[:-1], g[1:]), 0.0)
    days = np.arange(n_days)
    i = np.searchsorted(step_day, days, side="right") - 1
    if i.min() < 0:
        raise ValueError("the first step must be on day 0")
    m = len(step_day)
    k = np.minimum(i + 1, m - 1)
    inside = i < m - 1
    span = np.where(inside, step_day[k] - step_day[i], 1).astype(float)
    u = np.where(inside, (days - step_day[i]) / span, 0.0)
    v = 1.0 - u
    share = v * trend[i] + u * trend[k]
    drift = np.where(inside, span * u * v, days - step_day[i])
    mse = v * v * m_own[i] + u * u * m_own[k] + 2.0 * u * v * m_next[i] + sigma2 * drift
    return ms, ps, share, mse


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
