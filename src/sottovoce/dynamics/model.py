"""Pooling the polls: one latent trend, a house effect per pollster × wording, ML drift variance.

Model (Jackman 2005, *Australian Journal of Political Science* 40(4), 499–517): the share
``alpha_t`` on day (or week) ``t`` follows a Gaussian random walk with variance ``sigma2`` per
unit; poll ``i``, dated at the midpoint of its fieldwork, observes
``y_i = alpha_{t_i} + delta_{house(i)} + eps_i``, ``eps_i ~ N(0, deff_i y_i (1 - y_i) / n_i)``
(or the design-based variance of a microdata wave). House effects are identified either by
making them sum to zero (the trend is then the average house) or by fixing one house at zero
(the trend is then on that pollster's scale). Jackman fits the model by MCMC; we fit the same
model exactly by the Kalman filter with the level and house effects as diffuse effects
(de Jong 1991) and ``sigma2`` by maximizing the diffuse likelihood, profiled over
``log sigma`` with scipy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .._results import Result, jsonable
from .._words import count_en
from ..errors import DesignError, InputError
from .bands import difference_interval, share_band
from .events import Event, check_event_range, parse_events
from .identify import cap_rejected_note, identify, sigma_cap_per_unit, sigma_note
from .identify import house_labels as _house_labels
from .kalman import FilterOutput, GLSFit, diffuse_loglik, kalman_filter, smooth_trend
from .polls import Wave, poll_observations, read_polls

if TYPE_CHECKING:
    from ..display import Display

__all__ = ["TrendResult", "fit_trend", "holm", "SIGMA_BOUNDS"]

UNITS = {"day": 1, "week": 7}
# Search range for sigma (per unit, share scale): 0.001 to 10 percentage points a day.
SIGMA_BOUNDS = (1e-5, 0.1)
# A sigma cap is used only inside the 95% likelihood interval of sigma: log-likelihood within
# chi2(1, 0.95) / 2 of its maximum (a likelihood-ratio test that does not reject the cap).
CAP_LR_HALF = 0.5 * 3.841458820694124


@dataclass(frozen=True)
class TrendResult(Result):
    """The pooled trend: ``trend`` (one row per day/week), ``houses``, ``polls`` and ``events``.

    ``estimate``/``se``/``ci`` are the smoothed share on the last day of the grid.
    """

    trend: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    houses: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    polls: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    events: tuple[Event, ...] = ()
    tests: tuple[Mapping[str, Any], ...] = ()
    house_cov: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)

    json_fields: ClassVar[Mapping[str, str]] = {
        "trend": "trend_records", "houses": "house_records", "polls": "poll_records", "events": "event_records",
        "tests": "test_records", "house_differences": "difference_records",
    }

    @property
    def trend_records(self) -> list[dict[str, Any]]:
        return _records(self.trend)

    @property
    def house_records(self) -> list[dict[str, Any]]:
        return _records(self.houses)

    @property
    def poll_records(self) -> list[dict[str, Any]]:
        return _records(self.polls[_POLL_OUT])

    @property
    def event_records(self) -> list[dict[str, str]]:
        return [{"date": e.date.date().isoformat(), "label": e.label} for e in self.events]

    @property
    def test_records(self) -> list[Any]:
        return jsonable(list(self.tests))  # type: ignore[no-any-return]

    @property
    def difference_records(self) -> list[dict[str, Any]]:
        return _records(self.house_differences())

    def house_contrast(self, weights: Mapping[str, float], level: float | None = None) -> dict[str, float]:
        """A linear combination ``Σ w_h effect(h)`` of house effects (e.g. the mean of the houses
        offering "don't want to answer" minus the mean of the others) with its SE from the joint
        covariance, a normal interval inside [−1, 1], z and p. Weights that sum to zero make it
        independent of the identification constraint."""
        lev = self.level_ci if level is None else level
        if not 0 < lev < 1:
            raise InputError(f"level {lev} must be between 0 and 1")
        names = self.houses["house"].astype(str).tolist()
        unknown = [h for h in weights if h not in names]
        if unknown:
            raise InputError(f"house(s) {', '.join(unknown)} not in the trend; choose from {', '.join(names)}")
        c = np.array([float(weights.get(h, 0.0)) for h in names])
        est = float(c @ self.houses["effect"].to_numpy(float))
        se = float(np.sqrt(max(float(c @ self.house_cov @ c), 0.0)))
        low, high = difference_interval(est, se, float(special.ndtri(0.5 + lev / 2)))
        z = est / se if se > 0 else float("nan")
        return {"estimate": est, "se": se, "low": float(low), "high": float(high), "z": z,
                "p_value": float(2 * stats.norm.sf(abs(z))) if se > 0 else float("nan")}

    def house_differences(self, level: float | None = None) -> pd.DataFrame:
        """Every pair of houses: ``effect(a) − effect(b)`` with its SE, interval, z and p-value.

        The difference of two house effects does not depend on the identification constraint
        (sum to zero or a reference house): it is what the two pollsters × wordings disagree by,
        after the common trend. Its variance ``c' V c`` uses the joint covariance ``V`` of the
        effects (mixed over sigma like the effects themselves, Hamilton 1986), so it equals the
        SE of ``a``'s effect in a fit with ``b`` as the reference. Intervals are inside [−1, 1].
        """
        lev = self.level_ci if level is None else level
        if not 0 < lev < 1:
            raise InputError(f"level {lev} must be between 0 and 1")
        names = self.houses["house"].astype(str).tolist()
        eff = self.houses["effect"].to_numpy(float)
        cols = ["house_a", "house_b", "difference", "se", "low", "high", "z", "p_value"]
        if len(names) < 2 or self.house_cov.shape != (len(names), len(names)):
            return pd.DataFrame(columns=cols)
        a, b = np.triu_indices(len(names), k=1)
        v = self.house_cov
        diff = eff[a] - eff[b]
        se = np.sqrt(np.maximum(v[a, a] + v[b, b] - 2 * v[a, b], 0.0))
        low, high = difference_interval(diff, se, float(special.ndtri(0.5 + lev / 2)))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, diff / se, np.nan)
        return pd.DataFrame({"house_a": np.asarray(names, object)[a], "house_b": np.asarray(names, object)[b],
                             "difference": diff, "se": se, "low": low, "high": high, "z": z,
                             "p_value": 2 * stats.norm.sf(np.abs(z))})

    def tidy(self) -> pd.DataFrame:
        """One long table: trend rows, house-effect rows and poll rows, told apart by ``kind``."""
        t = self.trend.assign(kind="trend", term="trend")
        h = self.houses.rename(columns={"effect": "share"}).assign(kind="house", term=self.houses["house"])
        p = self.polls[_POLL_OUT].rename(columns={"y": "share"}).assign(kind="poll", term=self.polls["house"])
        out = pd.concat([t, h, p], ignore_index=True, sort=False)
        first = ["kind", "term", "date", "share", "se", "low", "high"]
        return out[first + [c for c in out.columns if c not in first]]

    def display(self) -> Display:
        """The fit, the latest share, the house effects (a table), outliers, level shifts, warnings."""
        from ..display import Display, Table

        d = self.details
        pct = lambda x: "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"  # noqa: E731
        latest = (f"latest ({d['last_grid_date']}): {pct(self.estimate)}% "
                  f"[{pct(self.ci[0] if self.ci else None)}, {pct(self.ci[1] if self.ci else None)}]"
                  + (" — outside 0-100%, not a finding" if self.out_of_range else ""))
        lines = [
            f"latent share of {'all respondents' if d['base'] == 'all' else 'respondents with an opinion'}; "
            f"house effects {d['constraint']}",
            f"random-walk sd per {d['unit']}: {100 * d['sigma']:.3f} points (ML); diffuse log-likelihood {d['loglik']:.2f}",
        ]
        lines += [n["en"] for n in d.get("trend_notes") or [] if n["en"] not in self.warnings]  # the defaults applied
        rows = [[h["house"] + (" (reference)" if h["reference"] else ""), str(h["polls"]), pct(h["effect"]), pct(h["low"]), pct(h["high"])]
                for _, h in self.houses.iterrows()]
        lines += [f"outlier: {p['house']} {p['date'].date()} {pct(p['y'])}% (z = {p['z']:.2f})"
                  for _, p in self.polls[self.polls["outlier"]].iterrows()]
        lines += [f"level shift at {t['event']} ({t['date']}): {100 * t['shift']:+.1f} points "
                  f"[{100 * t['low']:+.1f}, {100 * t['high']:+.1f}], z = {t['z']:.2f}, p = {t['p_value']:.3g}"
                  + (f" (Holm-adjusted over {t['tests_in_family']} events: {t['p_holm']:.3g})" if t.get("tests_in_family", 1) > 1 else "")
                  if not t.get("failed") else f"level shift at {t['event']} ({t['date']}) not tested: {t['failed']}"
                  for t in self.tests]
        title = f"{self.method}: {count_en(d['n_polls'], 'poll')}, {count_en(d['n_houses'], 'house')}, {d['first']} to {d['last']} ({d['unit']} grid)\n{latest}"
        return Display(title=title, tables=[Table("house effects, points", ["house", "polls", "effect", "ci low", "ci high"], rows)],
                       lines=lines, warnings=list(self.warnings))


_POLL_OUT = ["pollster", "wording", "house", "start", "end", "date", "n", "n_eff", "y", "se", "fitted",
             "residual", "z", "outlier", "source"]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d")
    return jsonable(out.to_dict(orient="records"))


@dataclass(frozen=True)
class _Design:
    """Polls sorted by grid unit, with the design columns of the diffuse effects."""

    t: np.ndarray          # grid index of each (sorted) poll
    y: np.ndarray
    r: np.ndarray          # sampling variance
    w: np.ndarray          # (n, 1 + H - 1): intercept and house contrasts
    contrast: np.ndarray   # H × (H - 1): delta = contrast @ b[1:]
    order: np.ndarray      # sorted position -> original row
    n_days: int

    def steps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Steps for the likelihood: one per poll (days without polls only add drift)."""
        gap = np.diff(self.t, prepend=0).astype(float)
        return gap, 1.0 / self.r, np.column_stack([self.y, self.w])


def _filter_at(gap: np.ndarray, prec: np.ndarray, cols: np.ndarray, s: float) -> tuple[FilterOutput, GLSFit]:
    out = kalman_filter(gap, prec, cols, s * s)
    return out, diffuse_loglik(out, cols, prec)


class _Likelihood:
    """The diffuse likelihood as a function of sigma, remembering each filter pass.

    The ML search, the sigma quadrature and the smoother reuse the same passes instead of
    filtering again at a sigma already visited.
    """

    def __init__(self, gap: np.ndarray, prec: np.ndarray, cols: np.ndarray):
        self.gap, self.prec, self.cols = gap, prec, cols
        self.memo: dict[float, tuple[FilterOutput, GLSFit]] = {}

    def at(self, s: float) -> tuple[FilterOutput, GLSFit]:
        s = float(s)
        if s not in self.memo:
            self.memo[s] = _filter_at(self.gap, self.prec, self.cols, s)
        return self.memo[s]

    def loglik(self, s: float) -> float:
        return self.at(s)[1].loglik


def _fit_sigma(lik: _Likelihood) -> float:
    """Maximize the diffuse likelihood over log sigma: coarse grid, then bounded Brent."""
    lo, hi = np.log(SIGMA_BOUNDS)
    grid = np.linspace(lo, hi, 9)
    lls = np.array([lik.loglik(math.exp(g)) for g in grid])
    k = int(np.argmax(lls))
    if k == 0 and lik.loglik(0.0) >= lls[0]:
        return 0.0
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(lambda g: -lik.loglik(math.exp(g)), bounds=(a, b),
                                   method="bounded", options={"xatol": 1e-6})
    return math.exp(res.x) if -res.fun >= lls[k] else math.exp(grid[k])


def _sigma_weights(lik: _Likelihood, s_hat: float, ll_hat: float, drop: float = 7.0,
                   k: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature points and weights for sigma, proportional to its likelihood (flat in sigma >= 0).

    Used to add the uncertainty of sigma_hat to the bands (Hamilton 1986, *JASA* 81(396)): the
    band's variance is ``E[P_t(sigma)] + E[(a_t(sigma) - a_t(sigma_hat))^2]`` over this
    distribution, while the point estimates stay at the ML sigma.
    """
    step = max(0.25 * s_hat, 1e-4)
    up = s_hat + step
    while lik.loglik(up) > ll_hat - drop and up < SIGMA_BOUNDS[1]:
        step *= 2
        up = s_hat + step
    step = max(0.25 * s_hat, 1e-4)
    lo = max(s_hat - step, 0.0)
    while lo > 0 and lik.loglik(lo) > ll_hat - drop:
        step *= 2
        lo = max(s_hat - step, 0.0)
    grid = np.linspace(lo, min(up, SIGMA_BOUNDS[1]), k)
    lls = np.array([lik.loglik(s) for s in grid])
    w = np.exp(lls - lls.max())
    keep = np.flatnonzero(w > 1e-3 * w.max())
    return grid[keep], w[keep] / w[keep].sum()


def _flat_sigma(lik: _Likelihood, s_hat: float) -> bool:
    """The likelihood of sigma is still within the quadrature's reach at the search bound (the same
    rule as the "hardly determine" warning of an uncapped fit)."""
    grid, _ = _sigma_weights(lik, s_hat, lik.loglik(s_hat))
    return bool(grid[-1] >= SIGMA_BOUNDS[1] * (1 - 1e-9))


def _smooth(d: _Design, out: FilterOutput, s2: float,
            fit: GLSFit) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RTS smoothing: step-level means and variances; the trend and its MSE (including the GLS
    error of b) on every grid day."""
    return smooth_trend(out, d.t, d.n_days, s2, fit.b, fit.cov_b)


def fit_trend(
    polls: pd.DataFrame | str | Path | Sequence[str | Path],
    *,
    waves: Iterable[Wave] = (),
    unit: str = "day",
    reference: str | None = None,
    sum_to_zero: bool = False,
    base: str = "all",
    events: Iterable[Any] | Mapping[Any, str] | None = None,
    test_events: bool = True,
    event_errors: str = "raise",
    sigma: float | None = None,
    sigma_cap: float | str | None = "auto",
    bands: str = "sigma",
    level: float = 0.95,
    outlier_z: float = 3.0,
) -> TrendResult:
    """Pool polls into one trend with house effects (Jackman 2005), fitted by Kalman smoothing.

    Parameters
    ----------
    polls : a poll table (see :mod:`sottovoce.dynamics.polls`) or paths to CSV/TOML files.
    waves : microdata waves (:class:`Wave`) added as polls with design-based standard errors.
    unit : ``"day"`` or ``"week"``: the grid of the random walk (sigma is per unit).
    reference : house (``"pollster"`` or ``"pollster / wording"``) whose effect is fixed at 0.
        ``None``: with one pollster and several wordings, its main wording (most polls; said in
        ``details["trend_notes"]``); with several pollsters, house effects that sum to zero.
    sum_to_zero : house effects sum to zero even with one pollster.
        A wording with a single poll, of a pollster that has another wording with at least two,
        is left out with a note (its house effect would fit its poll exactly); see
        :mod:`sottovoce.dynamics.identify`.
    base : ``"all"`` (share of all respondents) or ``"opinion"`` (share among yes + no).
    events : dated events ``"YYYY-MM-DD=Label"``; each is drawn and, with ``test_events``,
        tested for a level shift (Wald test; ``p_holm`` adjusts the p-values over the events
        tested, Holm 1979).
    event_errors : ``"raise"`` (default): an event outside the polls' range or one whose shift
        cannot be told apart from the house effects is an error. ``"report"``: that event is
        left off the chart and its test carries ``failed`` (why) instead of numbers, so a fixed
        list of events can be used on any corpus.
    sigma : fix the random-walk sd per unit instead of estimating it (0 = a constant share).
    sigma_cap : when the likelihood of sigma is flat up to its search bound, sigma is fixed at
        this cap per unit (``"auto"``: 2 points a week, scaled to the unit) and a warning says
        so. ``None``: no cap (sigma by ML, bands widened for its uncertainty).
    bands : ``"sigma"`` (default) widens the bands and house-effect intervals for the uncertainty
        of the ML sigma (Hamilton 1986); ``"plugin"`` treats sigma_hat as known, as most
        state-space software does. Point estimates are the same either way.
    """
    if unit not in UNITS:
        raise InputError(f"unit '{unit}' is unknown; use day or week")
    if not 0 < level < 1:
        raise InputError(f"level {level} must be between 0 and 1")
    if bands not in ("sigma", "plugin"):
        raise InputError(f"bands '{bands}' is unknown; use sigma (account for the uncertainty of sigma) or plugin")
    table = read_polls(polls, waves)
    ident = identify(table, reference, sum_to_zero)
    if not ident.keep.all():
        table = table[ident.keep].reset_index(drop=True)
    reference = ident.reference
    cap = sigma_cap_per_unit(sigma_cap, UNITS[unit])
    y, r, neff = poll_observations(table, base)
    if len(table) < 2:
        raise InputError("a trend needs at least two polls")
    layout = _layout(table, y, r, UNITS[unit], reference)
    d = layout.design
    if event_errors not in ("raise", "report"):
        raise InputError(f"event_errors '{event_errors}' is unknown; use raise or report")
    evs = parse_events(events)
    out_of_range: list[dict[str, Any]] = []
    if event_errors == "raise":
        check_event_range(evs, table["start"].min(), table["end"].max())
    else:
        first_day, last_day = table["start"].min(), table["end"].max()
        for e in evs:
            if e.date < first_day or e.date > last_day:
                out_of_range.append({"event": e.label, "date": str(e.date.date()), "reason": "outside_range",
                                     "failed": f"outside the polls' date range {first_day.date()} to {last_day.date()}"})
        evs = [e for e in evs if first_day <= e.date <= last_day]

    lik = _Likelihood(*d.steps())
    if sigma is not None and sigma < 0:
        raise InputError(f"sigma = {sigma} must be >= 0")
    sig = _fit_sigma(lik) if sigma is None else float(sigma)
    notes = list(ident.notes)
    capped = None
    if sigma is None and cap is not None and _flat_sigma(lik, sig) and lik.loglik(sig) - lik.loglik(cap) <= CAP_LR_HALF:
        # The polls hardly determine sigma and do not reject the cap: fix sigma there (module
        # identify). A cap the polls reject would force a misfit: that fit keeps its wide bands.
        sigma = sig = capped = cap
        notes.append(sigma_note(cap, unit, SIGMA_BOUNDS[1]))
    out, gls_fit = lik.at(sig)

    # Smoothing over every grid day: E[alpha_t | y] = L_t(y) + (e1 - L_t(W))' b_hat.
    ms, ps, share, var = _smooth(d, out, sig * sig, gls_fit)
    delta = d.contrast @ gls_fit.b[1:]
    dcov = d.contrast @ gls_fit.cov_b[1:, 1:] @ d.contrast.T
    sigma_weights = None
    if sigma is None and bands == "sigma":
        var, dcov, sigma_weights = _with_sigma_uncertainty(d, lik, sig, gls_fit, share, delta)
    dvar = np.diag(dcov)
    zq = float(special.ndtri(0.5 + level / 2))
    trend = _trend_table(layout, share, np.sqrt(np.maximum(var, 0.0)), zq)
    house_df = _house_table(layout, table, delta, np.sqrt(np.maximum(dvar, 0.0)), zq)
    table = _poll_residuals(layout, table, y, r, neff, ms, ps, gls_fit, outlier_z)
    tests = (tuple(sorted(_event_tests(d, evs, layout, sigma, zq, bands, event_errors) + tuple(out_of_range), key=lambda x: x["date"]))
             if test_events else ())

    last = trend.iloc[-1]
    flat_sigma = sigma_weights is not None and sigma_weights["sigma"][-1] >= SIGMA_BOUNDS[1] * (1 - 1e-9)
    warn = _fit_warnings(sigma is None and sig == 0.0, flat_sigma, int(table["outlier"].sum()), outlier_z, unit, last)
    if capped is not None:
        warn.insert(0, notes[-1]["en"])
    elif flat_sigma and cap is not None:
        notes.append(cap_rejected_note(cap, unit))
        warn.append(notes[-1]["en"])
    ref = layout.ref
    # The latest share's interval by the one rule (R svyciprop's "logit", normal quantiles): the
    # same formula as the band on every day (bands.share_band), which the tests check agree.
    return TrendResult.from_estimate(
        float(last["share"]), float(last["se"]), scale="share", df=None, level=level, ci="logit",
        n=int(table["n"].sum()), where=f"the smoothed share on {last['date'].date()}",
        method="trend-kalman", variable="trend",
        details={
            "sigma": sig, "loglik": gls_fit.loglik, "unit": unit, "base": base,
            "constraint": f"relative to {layout.houses[ref]}" if ref is not None else "sum to zero",
            "reference": layout.houses[ref] if ref is not None else None,
            "n_polls": len(table), "n_houses": len(layout.houses), "first": str(table["start"].min().date()),
            "last": str(table["end"].max().date()), "last_grid_date": str(last["date"].date()),
            "poll_date": "midpoint of fieldwork", "bands": bands if sigma is None else "plugin",
            "sigma_weights": sigma_weights,
            "sigma_cap": capped, "flat_sigma": flat_sigma or capped is not None, "reference_rule": ident.rule,
            "left_out": list(ident.left_out), "trend_notes": notes,
            "band": "logit-transformed (delta method) inside [0, 1]; house effects and shifts inside [-1, 1]",
        },
        warnings=tuple(warn), trend=trend, houses=house_df, polls=table, events=tuple(evs), tests=tests,
        house_cov=dcov,
    )


@dataclass(frozen=True)
class _Layout:
    """Where each poll sits: its grid unit and house, and the design the filter runs on."""

    design: _Design
    house: np.ndarray      # house label of each poll (table order)
    houses: list[str]      # sorted house labels
    hidx: np.ndarray       # house index of each poll
    counts: np.ndarray     # polls per house
    ref: int | None        # the reference house, or None (sum to zero)
    t_all: np.ndarray      # grid unit of each poll (table order)
    poll_date: pd.Series   # midpoint of fieldwork, to the day
    origin: pd.Timestamp
    step: int


def _layout(table: pd.DataFrame, y: np.ndarray, r: np.ndarray, step: int, reference: str | None) -> _Layout:
    """Grid units, houses and their identification, and the diffuse-effect design (sorted by day)."""
    n = len(table)
    house = _house_labels(table)
    pollster = table["pollster"].to_numpy(object)
    poll_date = (table["start"] + (table["end"] - table["start"]) / 2).dt.floor("D")
    origin = poll_date.min()
    t_all = ((poll_date - origin).dt.days // step).to_numpy(int)
    houses = sorted(set(house.tolist()))
    hidx = np.searchsorted(houses, house)
    counts = np.bincount(hidx, minlength=len(houses))
    ref = _resolve_reference(reference, houses, house, pollster)
    for h, c in zip(houses, counts, strict=True):
        if c == 1 and len(houses) > 1 and (ref is None or houses[ref] != h):
            raise DesignError(
                f"house effect of '{h}' cannot be identified: it has only one poll, which it would fit exactly; "
                f"make it the reference (--reference \"{h}\") or drop its poll"
            )
    H = len(houses)
    if H == 1:
        contrast = np.zeros((1, 0))
    elif ref is not None:
        contrast = np.delete(np.eye(H), ref, axis=1)
    else:
        contrast = np.vstack([np.eye(H - 1), -np.ones((1, H - 1))])
    order = np.lexsort((r, y, hidx, t_all))
    d = _Design(t_all[order], y[order], r[order], np.column_stack([np.ones(n), contrast[hidx[order]]]), contrast, order,
                int(t_all.max()) + 1)
    return _Layout(d, house, houses, hidx, counts, ref, t_all, poll_date, origin, step)


def _with_sigma_uncertainty(d: _Design, lik: _Likelihood, sig: float, gls_fit: GLSFit, share: np.ndarray,
                            delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Variances of the trend and the covariance of the house effects mixed over sigma (Hamilton
    1986): the uncertainty of sigma_hat is added, the point estimates stay at the ML fit."""
    sig_k, w_k = _sigma_weights(lik, sig, gls_fit.loglik)
    var_mix, dcov_mix = np.zeros_like(share), np.zeros((len(delta), len(delta)))
    for s_k, w in zip(sig_k, w_k, strict=True):
        out_k, fit_k = lik.at(s_k)
        _, _, share_k, var_k = _smooth(d, out_k, float(s_k) ** 2, fit_k)
        var_mix += w * (var_k + (share_k - share) ** 2)
        dd = d.contrast @ fit_k.b[1:] - delta
        dcov_mix += w * (d.contrast @ fit_k.cov_b[1:, 1:] @ d.contrast.T + np.outer(dd, dd))
    return var_mix, dcov_mix, {"sigma": sig_k, "weight": w_k}


def _trend_table(layout: _Layout, share: np.ndarray, se: np.ndarray, zq: float) -> pd.DataFrame:
    """One row per grid day: the smoothed share, its SE and its band inside [0, 1] (see bands.py)."""
    n_days = layout.design.n_days
    dates = layout.origin + pd.to_timedelta(np.arange(n_days) * layout.step, unit="D")
    low, high, off = share_band(share, se, zq)
    return pd.DataFrame({"date": dates, "share": share, "se": se, "low": low, "high": high,
                         "polls": np.bincount(layout.t_all, minlength=n_days), "out_of_range": off})


def _house_table(layout: _Layout, table: pd.DataFrame, delta: np.ndarray, dse: np.ndarray, zq: float) -> pd.DataFrame:
    """House effects delta = C b[1:] with intervals inside [-1, 1]."""
    first_poll = np.unique(layout.hidx, return_index=True)[1]  # the first row of each house
    low, high = difference_interval(delta, dse, zq)
    return pd.DataFrame({
        "house": layout.houses,
        "pollster": table["pollster"].to_numpy(object)[first_poll],
        "wording": table["wording"].to_numpy(object)[first_poll],
        "polls": layout.counts, "effect": delta, "se": dse, "low": low, "high": high,
        "reference": [layout.ref is not None and i == layout.ref for i in range(len(layout.houses))],
    })


def _poll_residuals(layout: _Layout, table: pd.DataFrame, y: np.ndarray, r: np.ndarray, neff: np.ndarray, ms: np.ndarray,
                    ps: np.ndarray, fit: GLSFit, outlier_z: float) -> pd.DataFrame:
    """Poll residuals standardized by their own variance r_i - Var(signal_i | y) (auxiliary
    residuals, de Jong & Penzer 1998, JASA 93(442)), added to the poll table once."""
    d = layout.design
    rows = np.empty(len(table), dtype=int)
    rows[d.order] = np.arange(len(table))
    ti = np.searchsorted(d.t, layout.t_all, side="right") - 1  # the last step on each poll's day
    gi = d.w[rows] - ms[ti, 1:]
    fitted = ms[ti, 0] + gi @ fit.b
    v_sig = ps[ti] + np.einsum("ij,jk,ik->i", gi, fit.cov_b, gi)
    resid = y - fitted
    z = resid / np.sqrt(np.maximum(r - v_sig, 1e-12 * r))
    return table.assign(house=layout.house, y=y, se=np.sqrt(r), n_eff=neff, date=layout.poll_date, fitted=fitted,
                        residual=resid, z=z, outlier=np.abs(z) > outlier_z)


def _fit_warnings(sigma_zero: bool, flat_sigma: bool, n_out: int, outlier_z: float, unit: str, last: pd.Series) -> list[str]:
    warn = []
    if sigma_zero:
        warn.append("the random-walk variance is estimated at 0: the polls are consistent with a constant share")
    if flat_sigma:
        warn.append(f"the polls hardly determine the random-walk sd (its likelihood is still high at {100 * SIGMA_BOUNDS[1]:g} points "
                    f"per {unit}), so the bands are very wide; add polls, use --unit week, or fix --sigma")
    if n_out:
        warn.append(f"{count_en(n_out, 'poll')} with |z| > {outlier_z:g} (listed as outliers)")
    return warn  # a last day outside 0-100% is flagged and explained by Result.from_estimate


def _resolve_reference(reference: str | None, houses: list[str], house: np.ndarray, pollster: np.ndarray) -> int | None:
    if reference is None:
        return None
    if reference in houses:
        return houses.index(reference)
    own = [h for h in houses if pollster[np.flatnonzero(house == h)[0]] == reference]
    if len(own) == 1:
        return houses.index(own[0])
    if own:
        raise InputError(f"reference '{reference}' has several wordings ({', '.join(own)}); name one of them")
    raise InputError(f"reference pollster '{reference}' is not in the polls; choose one of: {', '.join(houses)}")


def _event_tests(d: _Design, evs: list[Event], layout: _Layout, sigma: float | None, zq: float, bands: str,
                 event_errors: str) -> tuple[dict[str, Any], ...]:
    """One level-shift test per event, with Holm-adjusted p-values over the events tested."""
    out: list[dict[str, Any]] = []
    for ev in evs:
        try:
            out.append(_level_shift(d, ev, layout.origin, layout.step, sigma, zq, bands))
        except DesignError as exc:
            if event_errors == "raise":
                raise
            out.append({"event": ev.label, "date": str(ev.date.date()), "reason": "not_identified",
                        "failed": str(exc).split(": ", 1)[-1]})
    done = [k for k, t in enumerate(out) if not t.get("failed")]
    adj = holm([out[k]["p_value"] for k in done])
    for k, p in zip(done, adj, strict=True):
        out[k]["p_holm"] = float(p)
        out[k]["tests_in_family"] = len(done)
    return tuple(out)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, in the order given (family-wise error rate)."""
    pv = np.asarray(p, dtype=float)
    m = len(pv)
    if m == 0:
        return pv
    order = np.argsort(pv, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * pv[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def _level_shift(d: _Design, ev: Event, origin: pd.Timestamp, step: int, sigma: float | None, zq: float,
                 bands: str) -> dict[str, Any]:
    """Wald test of a step at the event, sigma re-estimated by ML with the step in the model."""
    te = (ev.date - origin).days // step
    s = (d.t >= te).astype(float)
    if s.all() or not s.any():
        raise DesignError(f"event '{ev.label}' on {ev.date.date()}: the polls are all on one side of it, so a level "
                          "shift cannot be tested; add polls on both sides or drop the event")
    dd = _Design(d.t, d.y, d.r, np.column_stack([d.w, s]), d.contrast, d.order, d.n_days)
    lik = _Likelihood(*dd.steps())
    try:
        sig = _fit_sigma(lik) if sigma is None else float(sigma)
        fit = lik.at(sig)[1]
    except DesignError:
        raise DesignError(f"event '{ev.label}' on {ev.date.date()}: a level shift there cannot be told apart from the "
                          "house effects (the same houses poll only on one side of it); add polls on both sides "
                          "or drop the event") from None
    est, var = float(fit.b[-1]), float(fit.cov_b[-1, -1])
    if sigma is None and bands == "sigma":
        sig_k, w_k = _sigma_weights(lik, sig, fit.loglik)
        fits = [lik.at(s_k)[1] for s_k in sig_k]
        var = float(sum(w * (f.cov_b[-1, -1] + (f.b[-1] - est) ** 2) for w, f in zip(w_k, fits, strict=True)))
    se = math.sqrt(var)
    z = est / se
    low, high = difference_interval(est, se, zq)
    return {"event": ev.label, "date": str(ev.date.date()), "shift": est, "se": se, "low": float(low),
            "high": float(high), "z": z, "p_value": float(2 * stats.norm.sf(abs(z))), "sigma": sig,
            "test": "Wald test of a step at the event (sigma re-estimated by ML with the step; its uncertainty included unless bands=plugin)"}
