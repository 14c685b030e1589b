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

from .combined import list_direct
from .design_test import list_design_test
from .double import double_list
from .estimate import ListFit, list_experiment
from .placebo import placebo_list
from .split_ballot import split_ballot

__all__ = ["ListFit", "list_experiment", "list_design_test", "double_list", "list_direct", "placebo_list", "split_ballot"]
