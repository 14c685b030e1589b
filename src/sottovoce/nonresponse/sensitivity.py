"""Sensitivity of a reported share to what the silent would have said.

* **Sensitivity curve**: with ``r`` the unit response rate and ``y``, ``n`` the yes/no shares among
  respondents, the share of the population with a usable answer is ``a = r(y+n)``; if a share
  ``s`` of everyone else would say yes, ``θ(s) = r·y + (1 - a)·s``. At ``s = p = y/(y+n)``
  (missing at random, the complete-case assumption) ``θ(p) = p``: the curve passes through the
  complete-case estimate. ``s`` ranges over [0, 1], so the curve spans the Manski bounds.
* **Tipping point**: the assumed share ``s*`` at which ``θ`` crosses a threshold (0.5 for a
  majority): ``s* = (0.5 - r·y)/(1 - a)``; and the propensity ratio ``Γ* = odds(p)/odds(0.5)``
  at which the propensity-ratio bounds (see :mod:`.bounds`) first include 0.5.
* **SMUB** (Little, West, Boonstra & Hu 2020, *J. Survey Stat. Methodol.* 8:932–964): a proxy
  pattern-mixture index. With ``X`` the best linear predictor of ``Y`` from auxiliary variables
  fitted on the respondents, ``ρ`` the respondent correlation of ``X`` and ``Y``, ``x̄``/``s_xx``
  its respondent mean/variance and ``X̄`` its population mean (from the weighting margins),
  ``SMUB(φ) = (φ + (1-φ)ρ)/(φρ + (1-φ)) · (x̄ - X̄)/√s_xx`` and the implied bias of the
  respondent mean ``MUB(φ) = SMUB(φ)·√s_yy``. ``φ = 0``: selection depends on ``X`` only
  (ignorable given the auxiliaries); ``φ = 1``: on ``Y`` only; ``φ = 0.5``: equally on both.
  We implement the SMUB of the 2020 paper with a linear proxy (for a binary ``Y`` this is its
  linear-probability version) and also report ``SMAB(φ) = SMUB(φ) - SMUB(0)``.
* **MUBP** (Andridge, West, Little, Boonstra & Alvarado-Leiton 2019, *JRSS C* 68:1465–1483), the
  measure built for proportions: ``Y = 1{U > 0}`` with a latent normal ``U``; the proxy ``X`` is the
  linear predictor of a probit regression of ``Y`` on the auxiliaries among respondents. With
  ``μ_U⁽⁰⁾ = Φ⁻¹(ȳ)`` (the two-step "modified ML" estimator), ``ρ`` the biserial correlation of
  ``X`` and ``U`` (profile maximum likelihood) and ``g(φ) = (φ + (1-φ)ρ)/(φρ + (1-φ))``, the
  nonrespondents have ``μ_U⁽¹⁾ = μ_U⁽⁰⁾ + g·(x̄⁽¹⁾ - x̄⁽⁰⁾)/√s_xx`` and
  ``σ_UU⁽¹⁾ = 1 + g²·(s_xx⁽¹⁾ - s_xx)/s_xx``, so ``E[Y | not selected] = Φ(μ_U⁽¹⁾/√σ_UU⁽¹⁾)`` and
  ``MUBP(φ) = ȳ - E[Y] = (1 - π)(ȳ - E[Y | not selected])`` with ``π`` the selected fraction of the
  population. From weighting margins only the population *mean* of ``X`` is known; its variance
  among the non-selected is taken equal to the respondents' unless given (``population_var_x``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .._results import Result
from ..errors import InputError
from .bounds import check_toplines

if TYPE_CHECKING:
    from ..display import Display

__all__ = ["SensitivityResult", "sensitivity_curve", "tipping_point", "SmubResult", "smub", "MubpResult", "mubp"]


@dataclass(frozen=True)
class SensitivityResult(Result):
    """The population share as a function of the assumed yes-share among the silent."""

    curve: tuple[tuple[float, float], ...] = ()
    tipping_share: float | None = None
    tipping_gamma: float | None = None
    threshold: float = 0.5
    answered_share: float = float("nan")

    json_fields: ClassVar[Mapping[str, str]] = {
        "curve": "curve_records", "tipping_share": "tipping_share", "tipping_gamma": "tipping_gamma",
        "threshold": "threshold", "answered_share": "answered_share",
    }

    @property
    def curve_records(self) -> list[dict[str, float]]:
        """The curve as records ``{"assumed_share", "estimate"}``."""
        return [{"assumed_share": s, "estimate": t} for s, t in self.curve]

    def display(self) -> Display:
        from ..display import Display, Table

        title = (f"sensitivity: share answering yes if a share s of the silent ({100 * (1 - self.answered_share):.0f}% "
                 "of the population) would say yes")
        rows = [[f"{100 * s:.1f}", f"{100 * t:.1f}"] for s, t in self.curve]
        lines = []
        if self.tipping_share is not None:
            lines.append(f"tipping point: s* = {100 * self.tipping_share:.1f}% (threshold {100 * self.threshold:.0f}%)")
        if self.details.get("verdict"):
            lines.append(str(self.details["verdict"]))
        return Display(title=title, tables=[Table("", ["assumed yes-share among the silent %", "population share %"], rows)],
                       lines=lines, warnings=list(self.warnings))


def tipping_point(yes: float, no: float, response_rate: float = 1.0, threshold: float = 0.5) -> dict[str, Any]:
    """Where a reported majority (or minority) stops being one.

    Returns ``share``: the yes-share among the silent at which the population share equals
    ``threshold`` (``None`` when no share in [0, 1] reaches it), ``gamma``: the answer-propensity
    ratio at which the propensity-ratio bounds first reach the threshold (``None`` if never), and a
    plain ``verdict``.
    """
    y, n, r = check_toplines(yes, no, response_rate)
    a = r * (y + n)
    p = y / (y + n) if y + n > 0 else float("nan")
    lo, hi = r * y, r * y + (1 - a)
    share: float | None
    if a >= 1:
        share = None
    else:
        s = (threshold - r * y) / (1 - a)
        share = float(s) if 0 <= s <= 1 else None
    side = "above" if p > threshold else "below"
    if lo > threshold:
        verdict = f"the share stays above {100 * threshold:.0f}% even if every nonrespondent and non-answer were a no"
    elif hi < threshold:
        verdict = f"the share stays below {100 * threshold:.0f}% even if every nonrespondent and non-answer were a yes"
    else:
        verdict = (f"the complete-case share is {side} {100 * threshold:.0f}%, and it crosses {100 * threshold:.0f}% "
                   f"if {100 * (share if share is not None else float('nan')):.0f}% of the silent would say yes")
    gamma: float | None = None
    if 0 < p < 1 and lo <= threshold <= hi and p != threshold:
        odds = (p / (1 - p)) / (threshold / (1 - threshold))
        g = float(odds if odds > 1 else 1 / odds)
        gamma = g if np.isfinite(g) else None
    return {"share": share, "gamma": gamma, "verdict": verdict}


def sensitivity_curve(
    yes: float,
    no: float,
    response_rate: float = 1.0,
    shares: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.5,
) -> SensitivityResult:
    """``θ(s) = r·y + (1 - r(y+n))·s`` over assumed shares ``s`` (default 0, 0.1, ..., 1 and the complete-case ``p``)."""
    y, n, r = check_toplines(yes, no, response_rate)
    if y + n <= 0:
        raise InputError("no respondent answered yes or no; the sensitivity curve is undefined")
    p = y / (y + n)
    grid = np.unique(np.r_[np.linspace(0, 1, 11), p]) if shares is None else np.asarray(shares, dtype=float)
    if np.any((grid < 0) | (grid > 1)):
        raise InputError("assumed shares must be in [0, 1]")
    a = r * (y + n)
    theta = r * y + (1 - a) * grid
    tp = tipping_point(y, n, r, threshold)
    return SensitivityResult(
        estimate=p, method="sensitivity-curve", scale="share", details={"verdict": tp["verdict"], "response_rate": r},
        curve=tuple((float(s), float(t)) for s, t in zip(grid, theta, strict=True)),
        tipping_share=tp["share"], tipping_gamma=tp["gamma"], threshold=threshold, answered_share=a,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class SmubResult(Result):
    """SMUB(φ) and the implied bias of the respondent mean for several φ."""

    smub: Mapping[float, float] = field(default_factory=dict)
    smab: Mapping[float, float] = field(default_factory=dict)
    mub: Mapping[float, float] = field(default_factory=dict)
    adjusted: Mapping[float, float] = field(default_factory=dict)
    rho: float = float("nan")

    json_fields: ClassVar[Mapping[str, str]] = {"by_phi": "by_phi", "rho": "rho"}

    @property
    def by_phi(self) -> list[dict[str, float]]:
        """One record per φ: SMUB, SMAB, the implied bias and the adjusted estimate."""
        return [{"phi": k, "smub": self.smub[k], "smab": self.smab[k], "mub": self.mub[k], "adjusted_estimate": self.adjusted[k]} for k in self.smub]

    def display(self) -> Display:
        from ..display import Display, Table

        rows = [[f"{k:.2f}", f"{self.smub[k]:.4f}", f"{self.smab[k]:.4f}", f"{self.mub[k]:.4f}", f"{self.adjusted[k]:.4f}"] for k in self.smub]
        return Display(title=f"SMUB (Little et al. 2020), proxy correlation rho = {self.rho:.3f}, respondent mean {self.estimate:.4f}",
                       tables=[Table("", ["phi", "SMUB", "SMAB", "bias", "adjusted"], rows)], warnings=list(self.warnings))


def smub(
    data: Any,
    outcome: str,
    yes: Any,
    auxiliaries: Sequence[str],
    population: Mapping[str, Mapping[Any, float]],
    phi: Sequence[float] = (0.0, 0.5, 1.0),
    no: Any = None,
) -> SmubResult:
    """Standardized measure of unadjusted bias of the respondents' yes-share (Little et al. 2020).

    ``auxiliaries`` are categorical columns whose population shares are in ``population`` (a
    margins mapping, as from :func:`sottovoce.weighting.load_margins`). Respondents with an
    answer other than ``yes``/``no`` are dropped when ``no`` is given (item nonresponse);
    otherwise ``Y = 1{outcome in yes}``. Unweighted, as in the paper: SMUB measures the departure
    of the respondents from the population.
    """
    y, Z, pop_means = _selected_design(data, outcome, yes, no, auxiliaries, population)
    beta, *_ = np.linalg.lstsq(Z, y, rcond=None)
    x = Z @ beta
    s_xx, s_yy = float(np.var(x, ddof=1)), float(np.var(y, ddof=1))
    if s_xx <= 0 or s_yy <= 0:
        raise InputError("SMUB is undefined: the auxiliary variables do not predict the answer at all (constant proxy) or the answer is constant")
    rho = float(np.corrcoef(x, y)[0, 1])
    xbar, Xbar = float(x.mean()), float(np.asarray(pop_means) @ beta)
    d = (xbar - Xbar) / np.sqrt(s_xx)
    out_s, out_sa, out_m, out_a = {}, {}, {}, {}
    for f in phi:
        if not 0 <= f <= 1:
            raise InputError(f"phi {f}: the SMUB sensitivity parameter must be in [0, 1]")
        g = (f + (1 - f) * rho) / (f * rho + (1 - f))
        out_s[float(f)] = float(g * d)
        out_sa[float(f)] = float((g - rho) * d)  # SMAB: the part not explained by the auxiliaries
        out_m[float(f)] = float(g * d * np.sqrt(s_yy))
        out_a[float(f)] = float(y.mean() - g * d * np.sqrt(s_yy))
    return SmubResult(estimate=float(y.mean()), n=len(y), method="smub", variable=outcome, scale="share",
                      details={ "proxy_mean_respondents": xbar, "proxy_mean_population": Xbar,
                               "auxiliaries": list(auxiliaries)},
                      smub=out_s, smab=out_sa, mub=out_m, adjusted=out_a, rho=rho)


def _selected_design(data: Any, outcome: str, yes: Any, no: Any, auxiliaries: Sequence[str],
                     population: Mapping[str, Mapping[Any, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Respondents' 0/1 outcome, their dummy design matrix and its population means (from margins)."""
    from ..io import as_frame, match_categories, require_columns

    df = as_frame(data)
    require_columns(df, [outcome, *auxiliaries])
    yes_set = set(yes) if isinstance(yes, (list, tuple, set)) else {yes}
    col = df[outcome]
    keep = np.ones(len(df), dtype=bool)
    if no is not None:
        no_set = set(no) if isinstance(no, (list, tuple, set)) else {no}
        keep = (col.isin(yes_set) | col.isin(no_set)).to_numpy()
    sub = df.loc[keep]
    y = sub[outcome].isin(yes_set).to_numpy(dtype=float)
    if len(y) < 3:
        raise InputError(f"column '{outcome}': fewer than 3 respondents with an answer; the index needs more")
    blocks, pop_means = [np.ones((len(sub), 1))], [1.0]
    for aux in auxiliaries:
        if aux not in population:
            raise InputError(f"margins have no table for auxiliary column '{aux}'; add [{aux}] with population shares")
        shares = population[aux]
        codes = match_categories(sub, aux, list(shares), where=f"margins [{aux}]")
        total = float(sum(float(v) for v in shares.values()))
        # dummies for all but the first category (the intercept carries it)
        for k in list(shares)[1:]:
            blocks.append(sub[aux].eq(codes[k]).to_numpy(dtype=float)[:, None])
            pop_means.append(float(shares[k]) / total)
    return y, np.hstack(blocks), np.asarray(pop_means)


def _fit_probit(Z: np.ndarray, y: np.ndarray, tol: float = 1e-10, max_iter: int = 100) -> np.ndarray:
    """Probit regression by Fisher scoring on the distinct covariate patterns."""
    from scipy import stats

    pats, inv = np.unique(Z, axis=0, return_inverse=True)
    inv = inv.ravel()
    m = np.bincount(inv, minlength=len(pats)).astype(float)
    s = np.bincount(inv, weights=y, minlength=len(pats))
    beta = np.zeros(Z.shape[1])
    for _ in range(max_iter):
        eta = pats @ beta
        mu = np.clip(stats.norm.cdf(eta), 1e-12, 1 - 1e-12)
        dens = stats.norm.pdf(eta)
        v = mu * (1 - mu)
        score = pats.T @ ((s - m * mu) * dens / v)
        info = (pats * (m * dens**2 / v)[:, None]).T @ pats
        step = np.linalg.lstsq(info, score, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


@dataclass(frozen=True)
class MubpResult(Result):
    """MUBP(φ): the bias of the respondents' proportion under the proxy pattern-mixture model."""

    mubp: Mapping[float, float] = field(default_factory=dict)
    adjusted: Mapping[float, float] = field(default_factory=dict)
    rho: float = float("nan")

    json_fields: ClassVar[Mapping[str, str]] = {"by_phi": "by_phi", "rho": "rho"}

    @property
    def by_phi(self) -> list[dict[str, float]]:
        """One record per φ: MUBP and the adjusted estimate."""
        return [{"phi": k, "mubp": self.mubp[k], "adjusted_estimate": self.adjusted[k]} for k in self.mubp]

    def display(self) -> Display:
        from ..display import Display, Table

        rows = [[f"{k:.2f}", f"{self.mubp[k]:.4f}", f"{self.adjusted[k]:.4f}"] for k in self.mubp]
        return Display(title=f"MUBP (Andridge et al. 2019), biserial correlation rho = {self.rho:.3f}, respondent share {self.estimate:.4f}",
                       tables=[Table("", ["phi", "MUBP", "adjusted"], rows)], warnings=list(self.warnings))


def mubp(
    data: Any,
    outcome: str,
    yes: Any,
    auxiliaries: Sequence[str],
    population: Mapping[str, Mapping[Any, float]],
    phi: Sequence[float] = (0.0, 0.5, 1.0),
    no: Any = None,
    selected_fraction: float = 0.0,
    population_var_x: float | None = None,
) -> MubpResult:
    """Measure of unadjusted bias for a proportion (Andridge et al. 2019), two-step estimator.

    ``selected_fraction`` is the share of the population that responded (0 for a sample from a
    large population); ``population_var_x`` the variance of the probit proxy among the
    non-selected when known (default: equal to the respondents'). See the module docstring.
    """
    from scipy import optimize, stats

    y, Z, pop_means = _selected_design(data, outcome, yes, no, auxiliaries, population)
    ybar = float(y.mean())
    if ybar in (0.0, 1.0):
        raise InputError(f"column '{outcome}': every respondent gave the same answer; MUBP is undefined")
    if not 0 <= selected_fraction < 1:
        raise InputError(f"selected_fraction {selected_fraction} must be in [0, 1)")
    beta = _fit_probit(Z, y)
    x = Z @ beta
    xbar0 = float(x.mean())
    sxx0 = float(np.mean((x - xbar0) ** 2))  # ML variance, as in the paper
    if sxx0 <= 0:
        raise InputError("MUBP is undefined: the auxiliary variables do not predict the answer (constant proxy)")
    xbar_pop = float(pop_means @ beta)
    pi = float(selected_fraction)
    xbar1 = (xbar_pop - pi * xbar0) / (1 - pi)
    sxx1 = sxx0 if population_var_x is None else float(population_var_x)
    mu_u0 = float(stats.norm.ppf(ybar))
    # profile likelihood of the biserial correlation with the threshold fixed at mu_u0
    xs, cnt = np.unique(x, return_counts=True)
    succ = np.bincount(np.searchsorted(xs, x), weights=y, minlength=len(xs))

    def negloglik(r: float) -> float:
        a = (mu_u0 - xbar0 * r / np.sqrt(sxx0)) / np.sqrt(1 - r**2)
        b = (r / np.sqrt(sxx0)) / np.sqrt(1 - r**2)
        eta = a + b * xs
        return float(-(succ @ stats.norm.logcdf(eta) + (cnt - succ) @ stats.norm.logsf(eta)))

    rho = float(optimize.minimize_scalar(negloglik, bounds=(-0.99, 0.99), method="bounded", options={"xatol": 1e-10}).x)
    out_b, out_a = {}, {}
    for f in phi:
        if not 0 <= f <= 1:
            raise InputError(f"phi {f}: the MUBP sensitivity parameter must be in [0, 1]")
        g = (f + (1 - f) * rho) / (f * rho + (1 - f))
        mu_u1 = mu_u0 + g * (xbar1 - xbar0) / np.sqrt(sxx0)
        s_uu1 = max(1 + g**2 * (sxx1 - sxx0) / sxx0, np.finfo(float).eps)
        mu_y1 = float(stats.norm.cdf(mu_u1 / np.sqrt(s_uu1)))
        mu_y = pi * ybar + (1 - pi) * mu_y1
        out_b[float(f)] = ybar - mu_y
        out_a[float(f)] = mu_y
    return MubpResult(estimate=ybar, n=len(y), method="mubp", variable=outcome, scale="share",
                      details={ "proxy_mean_respondents": xbar0, "proxy_mean_population": xbar_pop,
                               "auxiliaries": list(auxiliaries)},
                      mubp=out_b, adjusted=out_a, rho=rho)
