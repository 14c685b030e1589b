"""Blair & Imai's (2012, Political Analysis 20:47–77, sec. 2) test for a design effect.

Without a design effect (adding the sensitive item does not change answers to the control items)
and with honest answers, the population shares of the respondent types are
``π(y, 1) = P(Y_C ≤ y) − P(Y_T ≤ y)`` (type: y control items and yes to the sensitive item) and
``π(y, 0) = P(Y_T ≤ y) − P(Y_C ≤ y − 1)`` (y control items, no to the sensitive item), and all
must be non-negative. A negative estimate is evidence of a design effect. For each of the two
families (sensitive yes / no) the test statistic is the distance of the estimated vector from the
non-negative orthant in the metric of its covariance, ``λ = min_{π̃ ≥ 0} (π̂ − π̃)ᵀ Σ⁻¹ (π̂ − π̃)``,
whose null distribution is a mixture of χ² laws (chi-bar-square, Kudo 1963; Wolak 1987). The two
p-values are combined with a Bonferroni correction (``2 × min``, capped at 1), as in
``list::ict.test``; generalized moment selection (Andrews & Soares 2010) drops moments that are
clearly positive or exactly zero, exactly as ``ict.test(gms = TRUE)`` does.

Mixture weights: closed forms for 2 and 3 inequalities (those of ``ict.test``); for 4 or more,
exact weights by simulation (ict.test's 4-inequality formulas do not sum to one, so we do not
copy them). One inequality: a one-sided test (Welch's t as ``t.test``, or design-based z when
weighted). Weighted / complex designs: the shares use the weights and their covariance comes from
:meth:`Survey.cov_total` of the CDF influence values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from .._results import Result
from ..validate import check_probability
from . import _data

if TYPE_CHECKING:
    from ..display import Display


@dataclass(frozen=True)
class DesignTestResult(Result):
    """The design-effect test; its display adds the table of estimated respondent types."""

    def display(self) -> Display:
        from ..display import Table

        out = super().display()
        for r in self.categories or (self,):
            rows = [[f"π(y={t['y']}, sensitive={'yes' if t['sensitive'] else 'no'})", f"{t['estimate']:.4f}", f"{t['se']:.4f}"]
                    for t in r.details.get("pi", [])]
            title = "respondent types" + (f": {r.label}" if r.label else "")
            out.tables.append(Table(title, ["type", "estimate", "se"], rows))
            out.lines.append((f"{r.label}: " if r.label else "") + str(r.details.get("verdict", "")))
        return out

__all__ = ["list_design_test"]


def list_design_test(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    weights: Any = None,
    strata: Any = None,
    psu: Any = None,
    alpha: float = 0.05,
    gms: bool = True,
    n_draws: int = 200_000,
    seed: int = 20120101,
    arms: Mapping[Any, str] | None = None,
    control: Any = None,
) -> Result:
    """Test a list experiment for a design effect; one p-value per sensitive item.

    Returns a Result whose ``estimate`` is the Bonferroni-corrected p-value (``details`` hold the
    respondent-type table ``pi`` with standard errors and a plain ``verdict``). Several sensitive
    items need their arms named (``arms=`` or ``control=``, as :func:`list_experiment`).
    """
    check_probability(alpha, "alpha")
    d = _data.load(data, count, treat, items, None, weights, strata, psu, arms=arms, control=control)
    design = weights is not None or strata is not None or psu is not None
    out = []
    for arm in [a for a in d.arms if a != 0]:
        out.append(_test_arm(d, arm, design, alpha, gms, n_draws, seed))
    if len(out) == 1:
        return out[0].with_(warnings=tuple(d.warnings)) if d.warnings else out[0]
    verdicts = [r.details["verdict"] for r in out]
    return DesignTestResult(
        method="list-design-test", n=int((d.w > 0).sum()), variable=count, scale="p-value",
        categories=tuple(r.with_(code=a, label=d.arm_label(a)) for a, r in zip([a for a in d.arms if a], out, strict=False)),
        details={"verdict": "; ".join(f"{d.arm_label(a)}: {v}" for a, v in zip([a for a in d.arms if a], verdicts, strict=False)), "alpha": alpha},
        warnings=tuple(d.warnings))


def _test_arm(d: _data.ListData, arm: int, design: bool, alpha: float, gms: bool, n_draws: int, seed: int) -> Result:
    J = d.J
    sel = (d.t == 0) | (d.t == arm)
    w = np.where(sel, d.w, 0.0)
    y = d.y
    T, C = sel & (d.t == arm), d.t == 0
    WT, WC = w[T].sum(), w[C].sum()
    grid = np.arange(-1, J + 2)
    # weighted CDFs at -1..J+1 and their influence values (one column per grid point)
    ind = (y[:, None] <= grid[None, :]).astype(float)
    F1 = (w[T] @ ind[T]) / WT
    F0 = (w[C] @ ind[C]) / WC
    U1 = np.where(T[:, None], (ind - F1) / WT, 0.0)
    U0 = np.where(C[:, None], (ind - F0) / WC, 0.0)
    pos: dict[int, int] = {int(v): i for i, v in enumerate(grid)}
    # types: (y, z) -> pi = coefficient on F1(a) and F0(b)
    rows: list[tuple[int, int, float, int, float, int]] = [(j, 1, -1.0, j, +1.0, j) for j in range(J + 1)] + [(j, 0, +1.0, j, -1.0, j - 1) for j in range(J + 1)]
    est = np.array([c1 * F1[pos[a1]] + c0 * F0[pos[a0]] for (_, _, c1, a1, c0, a0) in rows])
    if design:
        U = np.stack([c1 * U1[:, pos[a1]] + c0 * U0[:, pos[a0]] for (_, _, c1, a1, c0, a0) in rows], axis=1)
        cov = d.survey.cov_total(U)
    else:
        # multinomial covariances of the empirical CDFs, as ict.test computes them
        nT, nC = int(T.sum()), int(C.sum())
        cov = np.zeros((len(rows), len(rows)))
        for i, (_, _, c1i, a1i, c0i, a0i) in enumerate(rows):
            for k, (_, _, c1k, a1k, c0k, a0k) in enumerate(rows):
                cov[i, k] = (c1i * c1k * F1[pos[min(a1i, a1k)]] * (1 - F1[pos[max(a1i, a1k)]]) / nT
                             + c0i * c0k * F0[pos[min(a0i, a0k)]] * (1 - F0[pos[max(a0i, a0k)]]) / nC)
    se = np.sqrt(np.maximum(np.diag(cov), 0))
    n = int(sel.sum()) if not design else int((w > 0).sum())
    idx1 = list(range(0, J))            # pi(y = 0..J-1, z = 1)
    idx0 = list(range(J + 2, 2 * J + 2))  # pi(y = 1..J, z = 0)
    p_vals = []
    for idx, _z in ((idx1, 1), (idx0, 0)):
        pi = est[idx]
        keep = pi != 0
        if gms and len(pi) > 1:
            sdv = np.std(pi, ddof=1)
            keep &= ~(np.sqrt(n) * pi / sdv > np.sqrt(np.log(n))) if sdv > 0 else keep
        sub = [i for i, k in zip(idx, keep, strict=False) if k]
        if not sub:
            continue
        p_vals.append(_family_p(est[sub], cov[np.ix_(sub, sub)], d, arm, rows, sub, design, n_draws, seed))
    p = 1.0 if not p_vals else min(1.0, 2 * min(p_vals)) if len(p_vals) == 2 else min(1.0, 2 * p_vals[0])
    table = [{"y": r[0], "sensitive": r[1], "estimate": float(e), "se": float(s)} for r, e, s in zip(rows, est, se, strict=False)]
    negative = [f"π(y={r['y']}, sensitive={'yes' if r['sensitive'] else 'no'}) = {r['estimate']:.3f} (se {r['se']:.3f})" for r in table if r["estimate"] < 0]
    if p < alpha:
        verdict = "design effect detected: negative share of respondent types " + ", ".join(negative) + f" (Bonferroni p = {p:.3g} < {alpha})"
    else:
        verdict = f"no evidence of a design effect (Bonferroni-corrected p = {p:.3g} ≥ {alpha})"
    return DesignTestResult(
        estimate=p, n=n, method="list-design-test", variable=d.count, scale="p-value",
        hypothesis_tests={"design_effect": {"name": "Blair–Imai design effect (Bonferroni)", "statistic_name": "p", "statistic": p,
                                            "df": None, "p_value": p}},
        details={"p_value": p, "p_yes": p_vals[0] if p_vals else None, "verdict": verdict, "alpha": alpha,
                 "pi": table, "design_effect": bool(p < alpha), "weighted": design, "gms": gms})


def _family_p(pi: np.ndarray, cov: np.ndarray, d, arm, rows, sub, design, n_draws, seed) -> float:
    m = len(pi)
    if m == 1:
        r = rows[sub[0]]
        if not design:
            # ict.test: t.test(I(Y_C <= a0), I(Y_T <= a1), alternative = "less") for pi = F0 - F1,
            # and t.test(I(Y_T <= a1), I(Y_C <= a0), "less") for pi = F1 - F0.
            T, C = d.t == arm, d.t == 0
            a = (d.y[T] <= r[3]).astype(float)
            b = (d.y[C] <= r[5]).astype(float)
            first, second = (b, a) if r[1] == 1 else (a, b)
            if np.var(first) == 0 and np.var(second) == 0:
                return 1.0 if first.mean() >= second.mean() else 0.0
            return float(stats.ttest_ind(first, second, equal_var=False, alternative="less").pvalue)
        return float(stats.norm.cdf(pi[0] / np.sqrt(cov[0, 0])))
    Sinv = np.linalg.pinv(cov)
    lam = 0.0 if (pi >= 0).all() else _orthant_distance(pi[None, :], cov, Sinv)[0][0]
    wts = _chibar_weights(cov, n_draws, seed)  # wts[k] = weight of chi2 with k df
    # P(χ²_0 > λ) = 0: ict.test's pchisq(λ, 0, lower.tail = FALSE), kept for identical p-values
    return float(sum(wk * stats.chi2.sf(lam, k) for k, wk in enumerate(wts) if k > 0))


def _chibar_weights(cov: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    m = cov.shape[0]
    sd = np.sqrt(np.diag(cov))
    rho = cov / np.outer(sd, sd)
    if m == 2:
        a = np.arccos(np.clip(rho[0, 1], -1, 1)) / np.pi
        return np.array([0.5 - 0.5 * a, 0.5, 0.5 * a])
    if m == 3:
        def partial(i: int, j: int, k: int) -> float:
            return (rho[i, j] - rho[i, k] * rho[j, k]) / np.sqrt((1 - rho[i, k] ** 2) * (1 - rho[j, k] ** 2))
        ac = np.arccos
        w0 = (2 * np.pi - ac(rho[0, 1]) - ac(rho[0, 2]) - ac(rho[1, 2])) / (4 * np.pi)
        w1 = (3 * np.pi - ac(partial(0, 1, 2)) - ac(partial(0, 2, 1)) - ac(partial(1, 2, 0))) / (4 * np.pi)
        return np.array([w0, w1, 0.5 - w0, 0.5 - w1])
    rng = np.random.default_rng(seed)
    # the exact projection checks all 2^m faces, so long lists get fewer (but >= 20,000) draws
    size = max(20_000, min(n_draws, int(2e8 // (m * 2 ** m))))
    draws = rng.multivariate_normal(np.zeros(m), cov, size=size)
    _, active = _orthant_distance(draws, cov, np.linalg.pinv(cov))
    return np.bincount(active, minlength=m + 1) / len(draws)


def _orthant_distance(x: np.ndarray, cov: np.ndarray, Sinv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each row of ``x`` from the non-negative orthant (metric Σ⁻¹) and the number
    of active constraints of the projection; exact, by checking the KKT conditions of every face."""
    n, m = x.shape
    dist = np.full(n, np.nan)
    active = np.zeros(n, dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    for size in range(m + 1):
        for combo in combinations(range(m), size):
            A = list(combo)
            F = [i for i in range(m) if i not in A]
            if A:
                SAA_inv = np.linalg.pinv(cov[np.ix_(A, A)])
                mult = -(x[:, A] @ SAA_inv)  # Lagrange multipliers of the active constraints
                proj_F = x[:, F] - x[:, A] @ SAA_inv @ cov[np.ix_(A, F)] if F else np.zeros((n, 0))
                ok = (mult >= -1e-12).all(axis=1) & (proj_F >= -1e-12).all(axis=1)
            else:
                proj_F = x
                ok = (x >= 0).all(axis=1)
            ok &= ~done
            if not ok.any():
                continue
            proj = np.zeros_like(x[ok])
            if F:
                proj[:, F] = proj_F[ok]
            diff = x[ok] - proj
            dist[ok] = np.einsum("ij,jk,ik->i", diff, Sinv, diff)
            active[ok] = size
            done |= ok
    return dist, active
