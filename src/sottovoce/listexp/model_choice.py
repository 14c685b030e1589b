"""Which list model to report: a control model is checked before it is trusted.

The ML estimator (Imai 2011) gains precision over the difference in means by assuming a law for
the control count; when that law is wrong the gain turns into bias (control items of unequal
prevalence — the usual case — make the count under-dispersed relative to a binomial; with
prevalences .2/.45/.6/.75 the ML estimate of a 35% item is about 5 points too low).
:func:`fit_list_model` is the one decision the pipeline (``analyze``) and the CLI (``list``) make:

``list_model="auto"`` (default), for ``method="ml"`` or ``"nls"``:

1. fit the requested model and test its control model against the control arm
   (:mod:`~sottovoce.listexp.fit_test`); if the test passes (p ≥ ``alpha``), report it;
2. (ML, constrained, no liars) if the counts are over-dispersed, fit the beta-binomial model
   (ictreg's ``overdispersed = TRUE``) and report it if *its* test passes;
3. otherwise report the **difference in means**, which assumes nothing about the control
   items, with a note saying which model was rejected, by how much, and what it would have said.

The difference in means is the fallback rather than the respondent-types model (``"types"``)
because the latter, though free of any control-count law, is pulled away from zero-share types
when its constraints bind (a small upward bias in Monte Carlo runs; see the README) — and where
they do not bind it *is* the difference in means. Choose it with ``list_model="types"``.

``"binomial"`` reports the requested ML/NLS model as it is (the test stays in the result, with a
warning when it fails); ``"betabinomial"`` is ML with ``overdispersed=True``; ``"types"`` is
``method="types"``. For ``method="dim"`` and ``"lm"`` there is no count model to check.
"""

from __future__ import annotations

from typing import Any

from .._results import Result
from ..errors import ConvergenceError, DesignError, InputError
from ..survey import Survey
from ..validate import check_probability
from .estimate import ListFit, list_experiment
from .fit_test import ALPHA

__all__ = ["fit_list_model", "LIST_MODELS"]

LIST_MODELS = ("auto", "binomial", "betabinomial", "types")
_ML_ONLY = ("constrained", "ceiling", "floor", "ceiling_covariates", "floor_covariates", "max_iter", "tol", "joint", "overdispersed",
            "by_model")


def _control_tests(res: Result) -> dict[str, Any]:
    return {k: v for k, v in res.hypothesis_tests.items() if k.startswith("control_fit")}


def _rejected(tests: dict[str, Any], alpha: float) -> bool:
    return any(v.get("p_value") is not None and v["p_value"] < alpha for v in tests.values())


def _describe(tests: dict[str, Any]) -> str:
    parts = []
    for v in tests.values():
        if v.get("p_value") is None:
            continue
        parts.append(f"{v['statistic_name']} = {v['statistic']:.2f}, p = {v['p_value']:.2g}")
    return "; ".join(parts)


def _dispersion(tests: dict[str, Any]) -> float | None:
    vals = [v["dispersion"] for v in tests.values() if v.get("dispersion") is not None]
    return max(vals) if vals else None


def _shown(res: Result) -> str:
    if res.estimate is not None:
        return f"{100 * res.estimate:.1f}%"
    return ", ".join(f"{c.label}: {100 * c.estimate:.1f}%" for c in res.categories if c.estimate is not None)


def fit_list_model(
    data: Any,
    count: str,
    treat: str,
    items: int | None,
    method: str = "ml",
    list_model: str = "auto",
    covariates: str | None = None,
    *,
    alpha: float = ALPHA,
    se: str | None = None,
    **options: Any,
) -> ListFit:
    """A list-experiment estimate whose control model has passed its test, or the difference in
    means with a note saying why (see the module docstring).

    ``options`` go to :func:`list_experiment` (``weights``, ``strata``, ``psu``, ``by``,
    ``constrained``, ``ceiling``, ``floor``, ``level``, ``arms``, ``control``, ...). ``se``
    defaults to ``"design"`` when ``data`` is a :class:`Survey` or a design is given (the pipeline
    hands over its calibrated design), else ``"observed"``. The result's ``details`` say which
    model was asked for (``list_model_requested``) and which is reported (``list_model``);
    ``tests`` keep the control-model test of every model tried.
    """
    if list_model not in LIST_MODELS:
        raise InputError(f"list_model={list_model!r} is not a list model; use one of {', '.join(LIST_MODELS)}")
    check_probability(alpha, "alpha")
    given_se = se
    if se is None:
        designed = isinstance(data, Survey) or any(options.get(k) is not None for k in ("weights", "strata", "psu"))
        se = "design" if designed else "observed"

    def fit(m: str, fallback: bool = False, **extra: Any) -> ListFit:
        opts = {**options, **extra}
        if fallback:  # the difference in means or the types model in place of a rejected model
            for k in _ML_ONLY:
                opts.pop(k, None)
        if m == "dim":
            return list_experiment(data, count, treat, items, method="dim", **opts)
        if m == "types":
            return list_experiment(data, count, treat, items, method="types", se="observed" if se == "sandwich" else se, **opts)
        # NLS has ictreg's two-step SEs only: a design-based default does not apply to it
        m_se = "observed" if m == "nls" and given_se is None else se
        return list_experiment(data, count, treat, items, method=m, covariates=covariates, se=m_se, **opts)

    if list_model == "types" or method == "types":
        if method not in ("ml", "types"):
            raise InputError(f"list_model='types' is its own estimator; it replaces method={method!r} (use method='ml' or 'types')")
        return _tag(fit("types"), "types", list_model)
    if list_model == "betabinomial":
        if method != "ml":
            raise InputError(f"list_model='betabinomial' is an ML model (ictreg's overdispersed=TRUE); use method='ml', not {method!r}")
        return _tag(fit("ml", overdispersed=True), "betabinomial", list_model)
    if method in ("dim", "lm"):
        if list_model != "auto" and list_model != "binomial":
            raise InputError(f"list_model={list_model!r} applies to method='ml'")
        return _tag(fit(method), method, list_model)
    first = fit(method)
    first_name = "binomial" if method == "ml" else "nls"
    tests = _control_tests(first)
    if list_model == "binomial" or not _rejected(tests, alpha):
        return _tag(first, first_name, list_model)
    tried = {f"control_fit[{first_name}]": v for v in tests.values()} if len(tests) == 1 else {
        f"{k}[{first_name}]": v for k, v in tests.items()}
    notes = [f"the {first_name} control model was rejected by the control arm ({_describe(tests)}); its estimate would be {_shown(first)}"]
    plain = method == "ml" and options.get("constrained", True) and not options.get("ceiling") and not options.get("floor")
    disp = _dispersion(tests)
    if plain and disp is not None and disp > 1:
        try:
            bb = fit("ml", overdispersed=True)
        except (DesignError, ConvergenceError) as exc:
            notes.append(f"the beta-binomial (overdispersed) model could not be fitted: {exc}")
        else:
            bb_tests = _control_tests(bb)
            if not _rejected(bb_tests, alpha):
                notes.append(f"the beta-binomial (overdispersed) control model fits ({_describe(bb_tests)}): reported instead")
                out = _tag(bb, "betabinomial", list_model)
                return out.with_(notes=(*notes, *out.notes), hypothesis_tests={**tried, **out.hypothesis_tests},
                                 details={**out.details, "rejected_model": first_name, "rejected_estimate": first.estimate,
                                 "rejected_ci": first.ci})
            tried.update({f"{k}[betabinomial]": v for k, v in bb_tests.items()})
            notes.append(f"the beta-binomial (overdispersed) control model was rejected too ({_describe(bb_tests)})")
    dim = fit("dim", fallback=True)
    why = ("the control counts are under-dispersed (control items of unequal prevalence?), which no binomial or "
           "beta-binomial model represents" if disp is not None and disp < 1 else "the control model does not fit")
    notes.append(f"{why}: the estimate shown is the difference in means, which assumes no law for the control count"
                 + (f" (the covariates {covariates!r} are not used)" if covariates else ""))
    out = _tag(dim, "dim", list_model)
    return out.with_(notes=(*notes, *out.notes), hypothesis_tests={**tried, **out.hypothesis_tests},
                     details={**out.details, "rejected_model": first_name, "rejected_estimate": first.estimate,
                                 "rejected_ci": first.ci})


def _tag(res: ListFit, chosen: str, requested: str) -> ListFit:
    return res.with_(details={**res.details, "list_model": chosen, "list_model_requested": requested})
