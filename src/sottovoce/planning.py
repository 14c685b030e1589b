"""Sample-size planning for every sensitive-question design, side by side.

For a prevalence π and n respondents (design effect ``deff``) the standard error of each design
under simple random sampling, inflated by √deff (Kish 1965, §8.2), is

* direct question:         π(1−π)/n;
* list experiment, difference in means with n/2 respondents per arm, J control items whose
  count has variance σ² (assumed independent of the sensitive item; Imai 2011, §2;
  Glynn 2013 on choosing items that keep σ² small):  [σ² + π(1−π)]/(n/2) + σ²/(n/2);
* randomized response and crosswise, P(yes) = a + bπ = λ:  λ(1−λ)/(n b²)
  (Warner 1965; Greenberg et al. 1969; Yu, Tian & Tang 2008; Blair, Imai & Zhou 2015, §2.3).

The margin of error is z·se, and the n for a target margin is ⌈z²·V₁·deff/moe²⌉ with V₁ the
variance for one respondent. For the indirect designs the plan also reports their privacy:
P(trait | each answer) at the assumed prevalence (Bayes' rule), i.e. how much an answer reveals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._results import Result
from .errors import InputError
from .intervals import quantile
from .rr.designs import DESIGNS, RRDesign, make_design
from .validate import check_int, check_level, check_number

if TYPE_CHECKING:
    from .display import Display

__all__ = ["PLAN_DEFAULTS", "PLAN_DESIGNS", "Plan", "plan", "planned_variance"]

#: the parameters assumed when the user names a design without its probabilities
PLAN_DEFAULTS: dict[str, dict[str, float]] = {
    "forced": {"p": 2 / 3, "p1": 1 / 6, "p0": 1 / 6},  # one die: 1 → say yes, 6 → say no (Blair et al. 2015)
    "warner": {"p": 0.75},
    "mirrored": {"p": 0.75},
    "disguised": {"p": 0.75},
    "unrelated": {"p": 0.75, "q": 0.5},  # e.g. "were you born in the first half of the year?"
    "crosswise": {"q": 0.25},  # e.g. "is your mother's birthday in January–March?"
}
#: list-experiment defaults: J control items and the variance of their count
DEFAULT_ITEMS = 4
DEFAULT_CONTROL_VAR = 0.5

PLAN_DESIGNS = ("direct", "list", "forced", "warner", "mirrored", "disguised", "unrelated", "crosswise")


def planned_variance(
    design: str | RRDesign,
    prevalence: float,
    *,
    items: int = DEFAULT_ITEMS,
    control_var: float = DEFAULT_CONTROL_VAR,
    **params: float | None,
) -> float:
    """Variance of the prevalence estimate for ONE respondent (n·Var under simple random sampling)."""
    pi = float(prevalence)
    if isinstance(design, RRDesign):
        lam = float(design.p_yes(pi))
        return lam * (1 - lam) / design.b**2
    if design == "direct":
        return pi * (1 - pi)
    if design == "list":
        # n/2 per arm: Var = [σ² + π(1−π)]/(n/2) + σ²/(n/2)
        return 2.0 * (2.0 * control_var + pi * (1 - pi))
    return planned_variance(_rr(design, params), pi)


def _rr(name: str, params: dict[str, float | None]) -> RRDesign:
    given = {k: v for k, v in params.items() if v is not None}
    return make_design(name, **(given or PLAN_DEFAULTS.get(name, {})))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Plan(Result):
    """A planning table: one row per design in ``details["designs"]``, shown by ``summary()``."""

    def display(self) -> Display:
        from .display import Display, Table

        d = self.details
        head = (
            f"plan at prevalence {d['prevalence']:.0%}, design effect {d['deff']:g}, "
            f"{int(d['confidence'] * 100)}% margins"
        )
        rows = []
        for r in d["designs"]:
            params = ", ".join(f"{k}={v:.3g}" for k, v in r["parameters"].items())
            priv = "  ".join(f"{k} = {v:.0%}" for k, v in (r.get("privacy") or {}).items())
            need = f"{r['n_required']:,}" if r.get("n_required") is not None else "–"
            rows.append([r["design"], params, f"{100 * r['se']:.2f}", f"{100 * r['moe']:.1f}", need, priv])
        table = Table("", ["design", "parameters", "se (points)", "± moe", "n needed", "privacy"], rows)
        return Display(title=head, tables=[table], lines=[d["sentence"]], warnings=list(self.warnings))


def plan(
    designs: str | Iterable[str] | None = None,
    *,
    n: int | None = None,
    moe: float | None = None,
    prevalence: float = 0.5,
    deff: float = 1.0,
    level: float = 0.95,
    items: int = DEFAULT_ITEMS,
    control_var: float = DEFAULT_CONTROL_VAR,
    p: float | None = None,
    p1: float | None = None,
    p0: float | None = None,
    q: float | None = None,
) -> Plan:
    """Standard error and margin of error at ``n``, and the n needed for a margin ``moe``, per design.

    ``designs``: names from :data:`PLAN_DESIGNS` (default: all). ``p/p1/p0/q`` set the
    probabilities when a single randomized-response design is planned; otherwise
    :data:`PLAN_DEFAULTS` apply. ``moe`` is a share (0.03 = ±3 points). Without ``n``
    the standard errors are shown for n = 1,600 (and for the n required when ``moe`` is given).
    """
    names = _names(designs)
    _check(n=n, moe=moe, prevalence=prevalence, deff=deff, level=level, items=items, control_var=control_var)
    z = quantile(level, None)
    n_eval = n if n is not None else 1600
    given = {"p": p, "p1": p1, "p0": p0, "q": q}
    rr_names = [x for x in names if x in DESIGNS]
    if any(v is not None for v in given.values()) and len(rr_names) != 1:
        raise InputError("p=, p1=, p0= and q= set one design's probabilities: name exactly one randomized-response design in designs=")
    rows: list[dict[str, Any]] = []
    for name in names:
        row: dict[str, Any] = {"design": name}
        if name in DESIGNS:
            dsg = _rr(name, given)
            v1 = planned_variance(dsg, prevalence)
            row["parameters"] = dsg.params()
            row["privacy"] = dsg.privacy(prevalence)
        elif name == "list":
            v1 = planned_variance("list", prevalence, items=items, control_var=control_var)
            row["parameters"] = {"items": items, "control_var": control_var}
        else:
            v1 = planned_variance("direct", prevalence)
            row["parameters"] = {}
        se = math.sqrt(v1 * deff / n_eval)
        row.update({"n": n_eval, "se": se, "moe": z * se, "unit_variance": v1})
        if moe is not None:
            row["n_required"] = math.ceil(z * z * v1 * deff / moe**2 - 1e-9)
        rows.append(row)
    sentence = f"with {n_eval:,} respondents: " + ", ".join(f"{r['design']} ±{100 * r['moe']:.1f} points" for r in rows)
    if moe is not None:
        sentence += f"; for ±{100 * moe:.1f} points: " + ", ".join(f"{r['design']} n = {r['n_required']:,}" for r in rows)
    return Plan(
        method="plan",
        n=n_eval,
        level_ci=level,
        details={"prevalence": prevalence, "deff": deff, "confidence": level, "target_moe": moe, "designs": rows, "sentence": sentence},
    )


def _names(designs: str | Iterable[str] | None) -> list[str]:
    if designs is None:
        return list(PLAN_DESIGNS)
    items: Sequence[str] = designs.split(",") if isinstance(designs, str) else list(designs)
    out = []
    for raw in items:
        key = str(raw).strip().lower().removesuffix("-known")
        if not key:
            continue
        if key == "all":
            return list(PLAN_DESIGNS)
        if key not in PLAN_DESIGNS:
            raise InputError(f"design={raw!r}: unknown design; use any of {', '.join(PLAN_DESIGNS)} (comma-separated) or all")
        out.append(key)
    return out or list(PLAN_DESIGNS)


def _check(**kw: Any) -> None:
    check_int(kw["n"], "n", minimum=1, allow_none=True)
    moe = check_number(kw["moe"], "moe", allow_none=True)
    if moe is not None and not 0 < moe < 1:
        raise InputError(f"moe={moe}: the margin of error is a share between 0 and 1 (0.03 = ±3 points)")
    prevalence = check_number(kw["prevalence"], "prevalence")
    if not 0 < prevalence < 1:  # type: ignore[operator]
        raise InputError(f"prevalence={prevalence}: must be strictly between 0 and 1")
    deff = check_number(kw["deff"], "deff")
    if not deff > 0:  # type: ignore[operator]
        raise InputError(f"deff={deff}: the design effect must be positive")
    check_level(kw["level"])
    items = int(check_int(kw["items"], "items", minimum=1) or 1)
    control_var = float(check_number(kw["control_var"], "control_var") or 0.0)
    if not 0 <= control_var <= items ** 2 / 4:
        raise InputError(
            f"control_var={control_var}: the variance of a count of {items} items must be between 0 and {items ** 2 / 4:g}"
        )
