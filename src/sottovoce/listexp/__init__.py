"""List experiments (item count technique): estimators, design test and related designs.

* :func:`list_experiment` — difference in means, linear, NLS and ML (EM) regressions of Imai
  (2011), ceiling/floor models of Blair & Imai (2012), several sensitive items;
* :func:`list_design_test` — Blair & Imai's (2012) test for a design effect;
* :func:`double_list` — double list experiments (Droitcour et al. 1991; Glynn 2013);
* :func:`list_direct` — list plus direct question (Aronow, Coppock, Crawford & Green 2015);
* :func:`placebo_list` — placebo item of known prevalence (Frye et al. 2023);
* :func:`split_ballot` — question-wording experiments: answer shares by ballot and a joint test.
"""

from __future__ import annotations

from .estimate import ListFit, list_experiment

__all__ = ["ListFit", "list_experiment"]

for _mod in ("design_test", "double", "combined", "placebo", "split_ballot"):
    import importlib as _il

    try:
        _m = _il.import_module(f".{_mod}", __name__)
    except ModuleNotFoundError as _exc:
        if _exc.name == f"{__name__}.{_mod}":
            continue
        raise
    for _name in _m.__all__:
        globals()[_name] = getattr(_m, _name)
        __all__.append(_name)
