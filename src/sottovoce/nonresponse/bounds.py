"""Bounds on a population proportion when respondents are few and some do not answer.

Notation (shares of the *eligible population*): a fraction ``r`` responds to the survey (unit
response rate, e.g. AAPOR RR3); among respondents, ``y`` say yes, ``n`` say no and ``1 - y - n``
give no usable answer (hard to say, refusal, break-off). The quantity of interest ``theta`` is the
share of the eligible population who would say yes if everyone gave a yes/no answer.

* **Worst case** (Manski 1989, *J. Human Resources*; Manski 2003, *Partial Identification*, ch. 1):
  with no assumption about the missing answers, ``theta`` lies in
  ``[r·y, r·y + (1 - r·(y+n))] = [r·y, 1 - r·n]``.
* **Imbens–Manski (2004, Econometrica 72:1845–1857)** confidence interval for ``theta``:
  ``[L̂ - c·σ_L, Û + c·σ_U]`` with ``c`` solving ``Φ(c + Δ̂/max(σ_L, σ_U)) - Φ(-c) = 1 - α``,
  ``Δ̂ = Û - L̂``. For the identified set itself we give the (conservative) Bonferroni interval
  ``[L̂ - z_{1-α/2}σ_L, Û + z_{1-α/2}σ_U]``. ``r`` is taken as known (it comes from the
  dispositions of the whole sample, not from the respondents).
* **Propensity-ratio bound** (the assumption a researcher can defend): the probability of giving
  a yes/no answer (responding *and* answering the item) differs between supporters and opponents by
  at most a factor ``Γ ≥ 1``: ``1/Γ ≤ P(answer | yes) / P(answer | no) ≤ Γ``. By Bayes' rule the
  odds of yes among those who answer equal the population odds times that ratio, so
  ``logit θ = logit p - log λ`` with ``p = y/(y+n)``, ``λ ∈ [1/Γ, Γ]``, giving
  ``θ ∈ [expit(logit p - log Γ), expit(logit p + log Γ)]``. Both propensities must be at most 1,
  which is exactly the worst-case interval; the reported bound is the intersection. ``Γ = 1`` is
  the complete-case (missing at random) estimate ``p``; ``Γ → ∞`` gives the worst case.
  (This is the odds-ratio form of Rosenbaum-style sensitivity bounds applied to selection.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import optimize, special, stats

from .._results import Result
from ..errors import InputError
from ..validate import check_level, check_number

if TYPE_CHECKING:
    from ..display import Display

__all__ = [
    "BoundsResult",
    "check_toplines",
    "manski_bounds",
    "imbens_manski_c",
    "propensity_ratio_bounds",
    "survey_bounds",
]


def check_toplines(yes: float, no: float, response_rate: float = 1.0, where: str = "toplines", tol: float = 0.015) -> tuple[float, float, float]:
    """Validate shares and a response rate; shares up to ``tol`` above 100% are rounding."""
    yes = float(check_number(yes, "yes") or 0.0)
    no = float(check_number(no, "no") or 0.0)
    response_rate = float(check_number(response_rate, "response_rate") or 0.0)
    for name, v in (("yes", yes), ("no", no)):
        if not np.isfinite(v) or v < 0 or v > 1 + tol:
            raise InputError(f"{where}: the '{name}' share {v} must be between 0 and 1 (give shares, e.g. 0.59 for 59%)")
    if yes + no > 1 + tol:
        raise InputError(f"{where}: the shares sum to {100 * (yes + no):.1f}%, more than 100% beyond rounding; check the figures")
    if not np.isfinite(response_rate) or not (0 < response_rate <= 1):
        raise InputError(f"{where}: response rate {response_rate} must be in (0, 1] (a share, e.g. 0.09 for 9%)")
    s = yes + no
    if s > 1:  # rounding: rescale so that shares sum to one
        yes, no = yes / s, no / s
    return float(yes), float(no), float(response_rate)


def imbens_manski_c(delta: float | np.ndarray, sigma: float | np.ndarray, level: float = 0.95) -> np.ndarray:
    """Critical value of Imbens & Manski (2004): ``Φ(c + Δ/σ) - Φ(-c) = level``, ``σ = max(σ_L, σ_U)``."""
    d = np.atleast_1d(np.asarray(delta, dtype=float) / np.maximum(np.asarray(sigma, dtype=float), 1e-300))
    d = np.maximum(d, 0.0)
    out = np.empty_like(d)
    lo_c, hi_c = stats.norm.ppf(level), stats.norm.ppf(1 - (1 - level) / 2)
    for i, di in enumerate(d.ravel()):  # one scalar root per interval (few intervals, not respondents)
        f = lambda c, di=di: stats.norm.cdf(c + di) - stats.norm.cdf(-c) - level  # noqa: E731
        if di > 50:
            out.ravel()[i] = lo_c
        else:
            out.ravel()[i] = optimize.brentq(f, lo_c - 1e-9, hi_c + 1e-9)
    return out


@dataclass(frozen=True)
class BoundsResult(Result):
    """An interval of values of ``theta`` consistent with the data and an assumption.

    ``estimate`` is the complete-case estimate ``y/(y+n)``; ``lower``/``upper`` the bounds;
    ``ci`` the Imbens–Manski interval for ``theta`` and ``set_ci`` the one for the whole set.
    """

    lower: float = float("nan")
    upper: float = float("nan")
    se_lower: float | None = None
    se_upper: float | None = None
    set_ci: tuple[float, float] | None = None
    assumption: str = ""

    json_fields: ClassVar[Mapping[str, str]] = {
        "lower": "lower", "upper": "upper", "width": "width", "se_lower": "se_lower", "se_upper": "se_upper",
        "set_ci": "set_ci", "assumption": "assumption",
    }

    @property
    def width(self) -> float:
        """Width of the identified set."""
        return self.upper - self.lower

    def display(self) -> Display:
        from .._results import format_value as f
        from ..display import Display, Table

        def pair(x: tuple[float, float] | None) -> str:
            return "–" if x is None else f"{f(x[0], True)} – {f(x[1], True)}"

        lvl = f"{100 * self.level_ci:g}%"
        rows = [
            ["complete-case estimate", f(self.estimate, True)],
            ["bounds (identified set)", pair((self.lower, self.upper))],
            [f"{lvl} CI for the share (Imbens–Manski)", pair(self.ci)],
            [f"{lvl} CI for the set", pair(self.set_ci)],
        ]
        return Display(title=f"{self.method}: {self.assumption}", tables=[Table("", ["", "%"], rows)],
                       lines=list(self.notes), warnings=list(self.warnings))


def _interval_cis(lo: float, hi: float, se_lo: float | None, se_hi: float | None, level: float) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if se_lo is None or se_hi is None:
        return None, None
    c = float(imbens_manski_c(hi - lo, max(se_lo, se_hi), level)[0])
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    ci = (max(0.0, lo - c * se_lo), min(1.0, hi + c * se_hi))
    set_ci = (max(0.0, lo - z * se_lo), min(1.0, hi + z * se_hi))
    return ci, set_ci


def manski_bounds(
    yes: float,
    no: float,
    response_rate: float = 1.0,
    se_yes: float | None = None,
    se_no: float | None = None,
    n: int | None = None,
    level: float = 0.95,
) -> BoundsResult:
    """Worst-case bounds ``[r·y, 1 - r·n]`` for the population share answering yes (Manski 2003).

    ``yes`` and ``no`` are shares among respondents (the rest gave no usable answer); the
    standard errors of ``yes`` and ``no`` (design-based if available) give the Imbens–Manski
    (2004) intervals; each bound depends on one share only, so their covariance is not needed.
    """
    check_level(level)
    y, no_, r = check_toplines(yes, no, response_rate)
    lo, hi = r * y, 1.0 - r * no_
    cc = y / (y + no_) if (y + no_) > 0 else float("nan")
    se_lo = r * se_yes if se_yes is not None else None
    se_hi = r * se_no if se_no is not None else None
    ci, set_ci = _interval_cis(lo, hi, se_lo, se_hi, level)
    return BoundsResult(
        estimate=cc, ci=ci, n=n, method="manski-bounds", level_ci=level, scale="share",
        ci_method="imbens-manski" if ci else "", df_name="normal",
        details={"response_rate": r, "answered_share": y + no_},
        lower=lo, upper=hi, se_lower=se_lo, se_upper=se_hi, set_ci=set_ci,
        assumption="no assumption about nonrespondents or non-answers (worst case)",
    )


def propensity_ratio_bounds(
    yes: float,
    no: float,
    response_rate: float = 1.0,
    gamma: float = 2.0,
    se_yes: float | None = None,
    se_no: float | None = None,
    cov_yes_no: float | None = None,
    n: int | None = None,
    level: float = 0.95,
) -> BoundsResult:
    """Bounds when supporters' and opponents' answer propensities differ by at most ``gamma``.

    ``θ ∈ [expit(logit p - log Γ), expit(logit p + log Γ)] ∩ [r·y, 1 - r·n]`` with ``p = y/(y+n)``
    (derivation in the module docstring). Intervals use the delta method for ``p`` and Imbens–Manski.
    """
    check_level(level)
    y, no_, r = check_toplines(yes, no, response_rate)
    gamma = float(check_number(gamma, "gamma") or 0.0)
    if np.isnan(gamma) or gamma < 1:
        raise InputError(f"gamma {gamma}: the propensity ratio bound must be >= 1 (1 = missing at random)")
    a = y + no_
    if a <= 0:
        raise InputError("no respondent answered yes or no; nothing to bound")
    p = y / a
    wlo, whi = r * y, 1.0 - r * no_
    if p <= 0 or p >= 1:
        lo_g = hi_g = p
    else:
        lg = np.log(p / (1 - p))
        lo_g = float(special.expit(lg - np.log(gamma)))
        hi_g = float(special.expit(lg + np.log(gamma)))
    lo, hi = max(lo_g, wlo), min(hi_g, whi)
    se_lo = se_hi = None
    if se_yes is not None and se_no is not None:
        if cov_yes_no is None:  # multinomial shares: cov(y, n) = -y·n/n_eff
            cov_yes_no = -se_yes * se_no * float(np.sqrt(y * no_ / max((1 - y) * (1 - no_), 1e-12)))
        gy, gn = no_ / a**2, -y / a**2  # gradient of p = y/(y+n)
        se_p = float(np.sqrt(max(gy**2 * se_yes**2 + gn**2 * se_no**2 + 2 * gy * gn * cov_yes_no, 0.0)))

        def se_at(b: float, g: float) -> float:  # d expit(logit p ± log Γ)/dp = b(1-b)/(p(1-p))
            return b * (1 - b) / max(p * (1 - p), 1e-12) * se_p

        se_lo = se_at(lo, gamma) if lo == lo_g else r * se_yes
        se_hi = se_at(hi, gamma) if hi == hi_g else r * se_no
    ci, set_ci = _interval_cis(lo, hi, se_lo, se_hi, level)
    return BoundsResult(
        estimate=p, ci=ci, n=n, method="propensity-ratio-bounds", level_ci=level, scale="share",
        ci_method="imbens-manski" if ci else "", df_name="normal",
        details={"gamma": gamma, "response_rate": r},
        lower=lo, upper=hi, se_lower=se_lo, se_upper=se_hi, set_ci=set_ci,
        assumption=f"supporters are at most {gamma:g} times as likely (or as unlikely) to answer as opponents",
    )


def survey_bounds(
    data: Any,
    var: str,
    yes: Any,
    no: Any,
    response_rate: float = 1.0,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    gamma: float | None = None,
    level: float = 0.95,
) -> BoundsResult:
    """Worst-case (or, with ``gamma``, propensity-ratio) bounds from microdata of the respondents.

    ``yes``/``no`` are the code(s) of the answers counted as yes and no in column ``var``; every
    other value (hard to say, refusal, missing = break-off) is item nonresponse. Shares are
    weighted and their standard errors design-based (:meth:`sottovoce.survey.Survey.cov_total`,
    linearization ``u_i = (1{answer} - share)/Σw``).
    """
    from ..io import require_columns
    from ..survey import as_survey

    svy = as_survey(data, weights, strata, psu)
    df = svy.data
    require_columns(df, [var])
    w = svy.weights
    col = df[var]
    yes_set = set(yes) if isinstance(yes, (list, tuple, set)) else {yes}
    no_set = set(no) if isinstance(no, (list, tuple, set)) else {no}
    iy = col.isin(yes_set).to_numpy(dtype=float)
    ino = col.isin(no_set).to_numpy(dtype=float)
    if iy.sum() == 0 and ino.sum() == 0:
        raise InputError(f"column '{var}': no value matches yes={sorted(map(str, yes_set))} or no={sorted(map(str, no_set))}; check the codes")
    W = w.sum()
    py, pn = float(w @ iy / W), float(w @ ino / W)
    u = np.column_stack([(iy - py) / W, (ino - pn) / W])
    cov = svy.cov_total(u)
    se_y, se_n = float(np.sqrt(cov[0, 0])), float(np.sqrt(cov[1, 1]))
    if gamma is None:
        res = manski_bounds(py, pn, response_rate, se_y, se_n, n=svy.n, level=level)
    else:
        res = propensity_ratio_bounds(py, pn, response_rate, gamma, se_y, se_n, float(cov[0, 1]), n=svy.n, level=level)
    out = res.with_(variable=var, details={**res.details, "yes_share": py, "no_share": pn, "se_yes": se_y, "se_no": se_n})
    assert isinstance(out, BoundsResult)
    return out
