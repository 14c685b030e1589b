"""List experiments (item count technique): estimators, design test and related designs.

* :func:`list_experiment` — difference in means, linear, NLS and ML (EM) regressions of Imai
  (2011), ceiling/floor models of Blair & Imai (2012), several sensitive items;
* :func:`fit_list_model` — the estimate the pipeline and CLI report: an ML/NLS control model is
  tested against the control arm and replaced by the difference in means when it fails;
* :func:`list_design_test` — Blair & Imai's (2012) test for a design effect;
* :func:`double_list` — double list experiments (Droitcour et al. 1991; Glynn 2013);
* :func:`list_direct` — list plus direct question (Aronow, Coppock, Crawford & Green 2015);
* :func:`placebo_list` — placebo item of known prevalence (Frye et al. 2023);
* :func:`split_ballot` — question-wording experiments: answer shares by ballot and a joint test.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["ListFit", "list_experiment", "fit_list_model", "LIST_MODELS", "list_design_test", "double_list", "list_direct", "placebo_list", "split_ballot"]

# loaded on first use, so that one estimator does not import the others' dependencies
_LAZY = {
    "ListFit": ".estimate", "list_experiment": ".estimate", "fit_list_model": ".model_choice", "LIST_MODELS": ".model_choice", "list_design_test": ".design_test",
    "double_list": ".double", "list_direct": ".combined", "placebo_list": ".placebo", "split_ballot": ".split_ballot",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sottovoce.listexp' has no attribute {name!r}")


if TYPE_CHECKING:
    from .combined import list_direct
    from .design_test import list_design_test
    from .double import double_list
    from .estimate import ListFit, list_experiment
    from .model_choice import LIST_MODELS, fit_list_model
    from .placebo import placebo_list
    from .split_ballot import split_ballot
