"""Goodness-of-fit tests of a list experiment's control-item model.

The ML estimators (Imai 2011; Blair & Imai 2012) assume a law for the number of control items a
respondent agrees with — binomial, or beta-binomial with ``overdispersed=True`` — and their
prevalence is biased when that law is wrong. The usual way it is wrong: control items of unequal
prevalence make the count a sum of Bernoullis with different probabilities, which is
*under*-dispersed relative to a binomial. The NLS estimator assumes only the logistic mean of the
count. The control arm shows the control count directly, so each assumption can be checked there.

**Count law (ML).** For the control arm, compare the (weighted) observed share of each count
``y = 0..J`` with the share the fitted model implies, averaged over the control respondents'
covariates: ``r_y = p̂_y − π̄_y(θ̂)``. Counts whose expected number of respondents is below 5 are
pooled with their neighbours (Cochran's rule). Because ``θ̂`` is estimated (from both arms), the
residuals are linearised in it, ``r̂ − r ≈ Σ_i w_i u_i`` with
``u_i = C_i (e_{y_i} − π(X_i) − r) / W_C − G ψ_i`` (``G = ∂π̄/∂θ`` and ``ψ_i = (−H)⁻¹ s_i`` the
estimate's influence), and the test is the Wald statistic ``r̂ᵀ V⁻ r̂`` with
``V = Survey.cov_total(u)`` (so weights, strata, PSUs and calibration are accounted for) and a
generalised inverse over the non-degenerate directions. Its null law is χ² with ``rank(V)``
degrees of freedom (Moore 1977, JASA 72:131 — a Wald-type χ² test of fit with estimated
parameters; Moore & Spruill 1975); it is reported as the design-adjusted F of Korn & Graubard
(1990), ``F = (d − k + 1) X² / (d k)`` on ``(k, d − k + 1)`` df with ``d`` the design's degrees of
freedom, which is χ²/k for a simple random sample.

**Mean (NLS).** The control respondents are grouped by deciles of the fitted mean; the residuals
``Σ_g w_i (y_i − J h_i) / W_C`` are linearised in the first-step NLS coefficients in the same way
(a Hosmer–Lemeshow-type check, with an honest reference law). Without covariates the NLS mean
model is saturated (the estimate is the difference in means) and there is nothing to test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..intervals import design_df
from ..survey import Survey

__all__: list[str] = []

#: pool counts until each cell expects at least this many control respondents
MIN_EXPECTED = 5.0
#: level of the control-model tests (a warning, and a fallback in fit_list_model, below it)
ALPHA = 0.05


def wald_test(r: np.ndarray, U: np.ndarray, survey: Survey, name: str, what: str, U_raw: np.ndarray | None = None) -> dict[str, Any]:
    """Design-adjusted Wald test of ``r = 0`` with linearization values ``U`` (n × k).

    The covariance is ``survey.cov_total(U)``; directions whose variance is (numerically) zero
    — relative to that of ``U_raw``, the residuals before the estimated parameters are accounted
    for, where the estimation removes whole directions — are dropped, which sets the degrees of
    freedom. Returns the contract's test entry (``df`` is ``[k, d − k + 1]``), or an entry with
    ``p_value`` None and a ``reason`` when nothing is left.
    """
    # scipy.special, not scipy.stats: the distribution objects cost ~0.9 s to import per CLI call
    from scipy.special import chdtrc, fdtrc

    V = survey.cov_total(U)
    V = (V + V.T) / 2
    lam, Q = np.linalg.eigh(V)
    # a control arm whose counts pool into one group leaves nothing to test (k = 0, not a crash)
    raw = np.linalg.eigvalsh(survey.cov_total(U_raw)) if U_raw is not None and U_raw.shape[1] else lam
    top = float(raw.max()) if raw.size else 0.0
    keep = lam > 1e-9 * top if top > 0 else np.zeros_like(lam, dtype=bool)
    k = int(keep.sum())
    entry: dict[str, Any] = {"name": name, "statistic_name": "F", "what": what}
    if k == 0:
        return {**entry, "statistic": None, "df": None, "p_value": None, "reason": "no residual to test (the model is saturated here)"}
    z = Q[:, keep].T @ r
    chi2 = float(np.sum(z ** 2 / lam[keep]))
    d = design_df(survey, U).value
    if not np.isfinite(d):
        return {**entry, "statistic_name": "chi2", "statistic": chi2, "df": k, "p_value": float(chdtrc(k, chi2)), "chi2": chi2}
    ddf = d - k + 1
    if ddf < 1:
        return {**entry, "statistic": None, "df": [k, ddf], "p_value": None, "chi2": chi2,
                "reason": f"the design has {d:g} degrees of freedom, too few for a {k}-df test"}
    F = chi2 * ddf / (d * k)
    return {**entry, "statistic": float(F), "df": [k, float(ddf)], "p_value": float(fdtrc(k, ddf, F)), "chi2": chi2}


def _pool(expected: np.ndarray) -> list[list[int]]:
    """Adjacent counts merged from both tails (and inside) until each group expects ≥ MIN_EXPECTED."""
    groups = [[j] for j in range(len(expected))]
    e = list(map(float, expected))
    while len(groups) > 1:
        low = int(np.argmin(e))
        if e[low] >= MIN_EXPECTED:
            break
        if low == 0:
            nb = 1
        elif low == len(groups) - 1:
            nb = low - 1
        else:
            nb = low - 1 if e[low - 1] <= e[low + 1] else low + 1
        a, b = sorted((low, nb))
        groups[a] = groups[a] + groups[b]
        e[a] += e[b]
        del groups[b], e[b]
    return groups


def count_law_test(
    survey: Survey,
    y: np.ndarray,
    control: np.ndarray,
    pmf: Callable[[np.ndarray], np.ndarray],
    theta: np.ndarray,
    U_theta: np.ndarray,
    J: int,
    model: str,
) -> dict[str, Any]:
    """Wald test that the control arm's count distribution is the model's (see module docstring).

    ``pmf(theta)`` gives each respondent's model probabilities of the counts 0..J (n × (J+1));
    ``control`` marks the control respondents with a positive weight; ``U_theta`` (n × p) is the
    influence of ``θ̂`` per respondent (``θ̂ − θ ≈ Σ w_i U_theta_i``).
    """
    w = survey.weights
    C = control & (w > 0)
    wC = np.where(C, w, 0.0)
    W = float(wC.sum())
    P = pmf(theta)
    Y = (y[:, None] == np.arange(J + 1)[None, :]).astype(float)
    obs = wC @ Y / W
    exp_ = wC @ P / W
    r = obs - exp_
    # G = ∂π̄/∂θ by central differences (π̄ is cheap: a weighted mean of the model's table)
    p = len(theta)
    G = np.empty((J + 1, p))
    for j in range(p):
        h = 1e-6 * max(1.0, abs(theta[j]))
        e = np.zeros(p)
        e[j] = h
        G[:, j] = (wC @ pmf(theta + e) - wC @ pmf(theta - e)) / (2 * h * W)
    U_raw = np.where(C[:, None], (Y - P - r) / W, 0.0)
    U = U_raw - U_theta @ G.T
    n_c = int(C.sum())
    groups = _pool(n_c * exp_)
    M = np.zeros((J + 1, len(groups)))
    for gi, g in enumerate(groups):
        M[g, gi] = 1.0
    rg, Ug = r @ M, U @ M
    # the pooled residuals sum to zero (both laws sum to one): drop the last group
    entry = wald_test(rg[:-1], Ug[:, :-1], survey, f"control-count law ({model})",
                      "control arm: observed vs model share of each count", U_raw=(U_raw @ M)[:, :-1])
    labels = ["–".join(str(v) for v in (g[0], g[-1])) if len(g) > 1 else str(g[0]) for g in groups]
    counts = np.arange(J + 1)
    var_obs = float(obs @ counts ** 2 - (obs @ counts) ** 2)
    var_mod = float(exp_ @ counts ** 2 - (exp_ @ counts) ** 2)
    entry.update({"counts": labels, "observed": [float(v) for v in obs @ M], "expected": [float(v) for v in exp_ @ M],
                  "n_control": n_c, "dispersion": var_obs / var_mod if var_mod > 0 else None})
    return entry


def failure_warning(entry: dict[str, Any], method: str, alpha: float = ALPHA) -> str | None:
    """The warning for a failed control-model test (None when it passes or could not be run)."""
    p = entry.get("p_value")
    if p is None or p >= alpha:
        return None
    stat = f"{entry['statistic_name']} = {entry['statistic']:.2f}, p = {p:.2g}"
    if method == "nls":
        return (f"the NLS control model (a logistic mean count) does not fit the control arm ({entry['name']}: {stat}); "
                "the NLS estimate may be biased: use method='dim', or other covariates")
    disp = entry.get("dispersion")
    if disp is not None and disp < 1:
        why = (f"the control counts are under-dispersed (variance {disp:.2f} × the model's), as when the control items "
               "have unequal prevalences; use method='types' (no law for the control count) or method='dim'")
    else:
        why = (f"the control counts are over-dispersed (variance {disp:.2f} × the model's); try overdispersed=True, "
               "or use method='types' or method='dim'") if disp is not None else "use method='types' or method='dim'"
    return f"the {entry['name']} is rejected by the control arm ({stat}), so the ML estimate may be biased: {why}"


def nls_mean_test(
    survey: Survey,
    y: np.ndarray,
    control: np.ndarray,
    X: np.ndarray,
    psi: np.ndarray,
    J: int,
    groups: int = 10,
) -> dict[str, Any]:
    """Hosmer–Lemeshow-type Wald test of the NLS control mean ``E[Y | X] = J·logistic(X ψ)``."""
    from scipy.special import expit

    w = survey.weights
    C = control & (w > 0)
    wC = np.where(C, w, 0.0)
    W = float(wC.sum())
    h = expit(X @ psi)
    # groups: weighted deciles of the fitted mean among control respondents (ties kept together)
    hc = h[C]
    cuts = np.unique(np.quantile(hc, np.linspace(0, 1, groups + 1)[1:-1])) if hc.size else np.array([])
    gid = np.searchsorted(cuts, h, side="right")
    G = len(cuts) + 1
    Ind = (gid[:, None] == np.arange(G)[None, :]).astype(float)
    e = y - J * h
    r = (wC * e) @ Ind / W
    # first-step NLS: Σ_C w (y/J − h) h(1−h) x = 0  →  ψ̂ − ψ ≈ M⁻¹ Σ w m_i
    dh = h * (1 - h)
    Mmat = (X * (wC * dh ** 2)[:, None]).T @ X
    m = np.where(C[:, None], X * ((y / J - h) * dh)[:, None], 0.0)
    U_psi = m @ np.linalg.pinv(Mmat)
    Dr = -(Ind * (wC * J * dh)[:, None]).T @ X / W  # ∂r/∂ψ
    U_raw = np.where(C[:, None], Ind * (e / W)[:, None] - r / W, 0.0)
    U = U_raw + U_psi @ Dr.T
    entry = wald_test(r, U, survey, "control mean (NLS)", f"control arm: observed vs fitted mean count in {G} groups of the fitted mean",
                      U_raw=U_raw)
    entry.update({"groups": G})
    return entry
