"""Weighted logistic and binomial-logit fits by Newton's method (the M-steps of the EM).

A binomial count ``y`` out of ``J`` with weight ``w`` is the same likelihood (up to a constant)
as a logistic fit of the share ``y / J`` with weight ``J * w``, so one fitter serves both. Targets
may be fractional (EM posteriors). Everything is vectorised; ``X`` is small-column, many-row.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def log_expit(eta: np.ndarray) -> np.ndarray:
    """log(logistic(eta)) without overflow."""
    return -np.logaddexp(0.0, -eta)


def log1m_expit(eta: np.ndarray) -> np.ndarray:
    """log(1 - logistic(eta)) without overflow."""
    return -np.logaddexp(0.0, eta)


def log_both(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log p, log(1 - p))`` for ``p = logistic(eta)`` with one logaddexp."""
    lp = -np.logaddexp(0.0, -eta)
    return lp, lp - eta


def objective(X: np.ndarray, target: np.ndarray, weight: np.ndarray, beta: np.ndarray) -> float:
    """Weighted Bernoulli log-likelihood with fractional targets."""
    eta = X @ beta
    return float(weight @ (target * log_expit(eta) + (1.0 - target) * log1m_expit(eta)))


def fit(
    X: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    beta: np.ndarray | None = None,
    max_iter: int = 50,
    tol: float = 1e-11,
) -> np.ndarray:
    """Maximise :func:`objective` by Newton–Raphson with step halving (never decreases it)."""
    k = X.shape[1]
    beta = np.zeros(k) if beta is None else np.array(beta, dtype=float)
    keep = weight > 0
    if not keep.all():
        X, target, weight = X[keep], target[keep], weight[keep]
    if len(weight) == 0:
        return beta
    current = objective(X, target, weight, beta)
    for _ in range(max_iter):
        p = expit(X @ beta)
        grad = X.T @ (weight * (target - p))
        H = (X * (weight * p * (1.0 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(H + 1e-12 * np.eye(k) * max(1.0, np.trace(H) / k), grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, grad, rcond=None)[0]
        scale = 1.0
        for _ in range(30):
            cand = beta + scale * step
            value = objective(X, target, weight, cand)
            if value >= current - 1e-12 * abs(current):
                break
            scale /= 2.0
        else:
            break
        beta, improvement = cand, value - current
        current = value
        if np.max(np.abs(scale * step)) < tol or improvement < tol * max(1.0, abs(current)) * 1e-3:
            break
    return beta
