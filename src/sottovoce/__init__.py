"""sottovoce: measure public opinion where people are afraid to answer honestly.

``import sottovoce as sv`` gives the whole toolkit: data input (:func:`read_table`), the survey
design (:class:`Survey`), weighting, the sensitive-question estimators, nonresponse audits and
reports. Every estimator returns a frozen :class:`Result`.
"""

from __future__ import annotations

import importlib as _importlib

from ._results import Result
from .errors import ConvergenceError, DesignError, InputError, SottovoceError, SottovoceWarning
from .io import read_table, write_table

__version__ = "0.1.0"

__all__ = [
    "Result",
    "SottovoceError",
    "InputError",
    "DesignError",
    "ConvergenceError",
    "SottovoceWarning",
    "read_table",
    "write_table",
    "__version__",
]

# Each capability is a module with an ``__all__``; its public names are re-exported here.
for _name in (
    "survey", "weighting", "listexp", "rr", "planning", "nonresponse", "audit",
    "glm", "quantile", "ratio", "contrast", "marginal", "coeftable",
    "dynamics", "study", "pipeline", "demo", "codebook",
):
    try:
        _mod = _importlib.import_module(f".{_name}", __name__)
    except ModuleNotFoundError as _exc:
        if _exc.name == f"{__name__}.{_name}":
            continue
        raise
    for _public in getattr(_mod, "__all__", ()):
        globals()[_public] = getattr(_mod, _public)
        __all__.append(_public)
del _name

from . import datasets as datasets  # noqa: E402  (sv.datasets.path("chronicles-01"): bundled real data)

__all__.append("datasets")
