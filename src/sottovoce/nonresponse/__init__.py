"""Nonresponse: outcome rates, item nonresponse, bounds, sensitivity, targets and representativeness.

Submodules: :mod:`.aapor` (AAPOR outcome rates), :mod:`.items` (item nonresponse),
:mod:`.bounds` (Manski, Imbens–Manski and propensity-ratio bounds), :mod:`.sensitivity`
(sensitivity curve, tipping point, SMUB), :mod:`.targets` (alternative population margins),
:mod:`.representativeness` (R-indicator, margin distances).
"""

from __future__ import annotations

from . import aapor, bounds, items, representativeness, sensitivity, targets
from .aapor import *  # noqa: F403
from .bounds import *  # noqa: F403
from .items import *  # noqa: F403
from .representativeness import *  # noqa: F403
from .sensitivity import *  # noqa: F403
from .targets import *  # noqa: F403

__all__ = [
    *aapor.__all__, *bounds.__all__, *items.__all__, *representativeness.__all__,
    *sensitivity.__all__, *targets.__all__,
]
