"""sottovoce: measure public opinion where people are afraid to answer honestly.

``import sottovoce as sv`` gives the whole toolkit: data input (:func:`read_table`,
:func:`describe`, bundled data in ``sv.datasets``), the survey
design (:class:`Survey`, :func:`as_survey`), weighting, the sensitive-question estimators,
nonresponse audits, trends and reports. Every estimator returns a frozen :class:`Result`.

The names below are the public API. They are imported on first use (PEP 562 module
``__getattr__``, as SciPy does), so ``import sottovoce`` and ``sottovoce --help`` start fast and
a command loads only what it uses; type checkers and IDEs read the explicit imports in the
``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConvergenceError, DesignError, InputError, SottovoceError, SottovoceWarning

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "Result": "._results",
    "read_table": ".io", "write_table": ".io",
    "Survey": ".survey", "as_survey": ".survey",
    "Margins": ".margins", "load_margins": ".margins",
    "rake": ".weighting", "poststratify": ".weighting", "trim": ".weighting", "kish_deff": ".weighting",
    "effective_n": ".weighting", "diagnostics": ".weighting", "weight_report": ".weighting", "WeightReport": ".weighting",
    "ListFit": ".listexp", "list_experiment": ".listexp", "fit_list_model": ".listexp", "list_design_test": ".listexp", "double_list": ".listexp",
    "list_direct": ".listexp", "placebo_list": ".listexp", "split_ballot": ".listexp",
    "RRDesign": ".rr", "Warner": ".rr", "ForcedResponse": ".rr", "UnrelatedQuestion": ".rr", "Mirrored": ".rr",
    "Disguised": ".rr", "Crosswise": ".rr", "RR_DESIGNS": ".rr", "rr_design": ".rr", "rr_prevalence": ".rr",
    "rr_regression": ".rr", "rr_gap": ".rr", "simulate_rr": ".rr",
    "PLAN_DEFAULTS": ".planning", "PLAN_DESIGNS": ".planning", "Plan": ".planning", "plan": ".planning",
    "planned_variance": ".planning",
    "Dispositions": ".nonresponse", "OutcomeRates": ".nonresponse", "classify_dispositions": ".nonresponse",
    "parse_counts": ".nonresponse", "outcome_rates": ".nonresponse", "BoundsResult": ".nonresponse",
    "manski_bounds": ".nonresponse", "propensity_ratio_bounds": ".nonresponse", "survey_bounds": ".nonresponse",
    "item_nonresponse": ".nonresponse", "r_indicator": ".nonresponse", "margin_distance": ".nonresponse",
    "SensitivityResult": ".nonresponse", "sensitivity_curve": ".nonresponse", "tipping_point": ".nonresponse",
    "SmubResult": ".nonresponse", "smub": ".nonresponse", "MubpResult": ".nonresponse", "mubp": ".nonresponse",
    "alternative_targets": ".nonresponse",
    "AuditResult": ".audit", "load_poll": ".audit", "audit_poll": ".audit",
    "fit_trend": ".dynamics", "TrendResult": ".dynamics", "plot_trend": ".dynamics", "Event": ".dynamics",
    "parse_events": ".dynamics", "Wave": ".dynamics", "read_polls": ".dynamics", "check_corpus": ".dynamics",
    "validate_corpus": ".dynamics", "analyze_corpus": ".corpus_analysis", "read_events": ".corpus_analysis",
    "Study": ".study", "DirectQuestion": ".study", "ListQuestion": ".study", "DoubleListQuestion": ".study",
    "RRQuestion": ".study", "CrosswiseQuestion": ".study", "TrendSpec": ".study", "load_study": ".study",
    "analyze": ".pipeline", "StudyResults": ".pipeline", "load_results": ".pipeline",
    "make_demo": ".demo", "demo_truth": ".demo",
    "describe": ".codebook", "Codebook": ".codebook", "Variable": ".codebook", "ValueCount": ".codebook",
    "WeightCandidate": ".codebook", "load_labels": ".codebook", "apply_labels": ".codebook",
    "svyglm": ".glm", "GLMResult": ".glm", "FAMILIES": ".glm",
    "svyquantile": ".quantile", "weighted_quantile": ".quantile", "svyratio": ".ratio",
    "domain_means": ".contrast", "contrast": ".contrast", "Estimates": ".estimates",
    "IndexModel": ".marginal", "predictive_margins": ".marginal", "average_marginal_effects": ".marginal",
    "margins_difference": ".marginal",
    "field_plan": ".fielding", "field_check": ".fielding",
}
# submodules reachable as attributes (sv.io, sv.listexp, ...)
_SUBMODULES = frozenset({
    "audit", "codebook", "datasets", "demo", "display", "dynamics", "errors", "intervals", "io", "listexp", "margins", "nonresponse",
    "pipeline", "planning", "report", "rr", "study", "subgroups", "survey", "validate", "weighting",
    "glm", "quantile", "ratio", "contrast", "marginal", "estimates", "modelframe", "multistage", "fielding",
})

__all__ = [
    "__version__", "SottovoceError", "InputError", "DesignError", "ConvergenceError", "SottovoceWarning", *_LAZY,
    "datasets",  # sv.datasets.path("chronicles-01"): bundled real data
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sottovoce' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES})


if TYPE_CHECKING:  # the same names, imported for type checkers and IDEs
    from . import datasets
    from ._results import Result
    from .audit import AuditResult, audit_poll, load_poll
    from .codebook import (
        Codebook,
        ValueCount,
        Variable,
        WeightCandidate,
        apply_labels,
        describe,
        load_labels,
    )
    from .contrast import contrast, domain_means
    from .corpus_analysis import analyze_corpus, read_events
    from .demo import demo_truth, make_demo
    from .dynamics import (
        Event,
        TrendResult,
        Wave,
        check_corpus,
        fit_trend,
        parse_events,
        plot_trend,
        read_polls,
        validate_corpus,
    )
    from .estimates import Estimates
    from .fielding import field_check, field_plan
    from .glm import FAMILIES, GLMResult, svyglm
    from .io import read_table, write_table
    from .listexp import (
        ListFit,
        double_list,
        fit_list_model,
        list_design_test,
        list_direct,
        list_experiment,
        placebo_list,
        split_ballot,
    )
    from .marginal import (
        IndexModel,
        average_marginal_effects,
        margins_difference,
        predictive_margins,
    )
    from .margins import Margins, load_margins
    from .nonresponse import (
        BoundsResult,
        Dispositions,
        MubpResult,
        OutcomeRates,
        SensitivityResult,
        SmubResult,
        alternative_targets,
        classify_dispositions,
        item_nonresponse,
        manski_bounds,
        margin_distance,
        mubp,
        outcome_rates,
        parse_counts,
        propensity_ratio_bounds,
        r_indicator,
        sensitivity_curve,
        smub,
        survey_bounds,
        tipping_point,
    )
    from .pipeline import StudyResults, analyze, load_results
    from .planning import PLAN_DEFAULTS, PLAN_DESIGNS, Plan, plan, planned_variance
    from .quantile import svyquantile, weighted_quantile
    from .ratio import svyratio
    from .rr import (
        RR_DESIGNS,
        Crosswise,
        Disguised,
        ForcedResponse,
        Mirrored,
        RRDesign,
        UnrelatedQuestion,
        Warner,
        rr_design,
        rr_gap,
        rr_prevalence,
        rr_regression,
        simulate_rr,
    )
    from .study import (
        CrosswiseQuestion,
        DirectQuestion,
        DoubleListQuestion,
        ListQuestion,
        RRQuestion,
        Study,
        TrendSpec,
        load_study,
    )
    from .survey import Survey, as_survey
    from .weighting import (
        WeightReport,
        diagnostics,
        effective_n,
        kish_deff,
        poststratify,
        rake,
        trim,
        weight_report,
    )
