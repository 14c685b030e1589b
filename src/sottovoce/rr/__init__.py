"""Randomized response and the crosswise model: designs, prevalence, regression, direct gaps.

``designs`` holds one class per design (Warner, forced response, unrelated question, mirrored,
disguised, crosswise); ``prevalence``, ``regression`` and ``gap`` estimate from any of them
through the design's linear map P(yes) = a + b·π. :func:`simulate` draws answers for a
simulated study (the demo uses it).
"""

from __future__ import annotations

import numpy as np

from .designs import (
    DESIGNS,
    Crosswise,
    Disguised,
    ForcedResponse,
    Mirrored,
    RRDesign,
    UnrelatedQuestion,
    Warner,
    make_design,
)
from .gap import rr_gap
from .prevalence import rr_prevalence
from .regression import rr_regression

__all__ = [
    "RRDesign",
    "Warner",
    "ForcedResponse",
    "UnrelatedQuestion",
    "Mirrored",
    "Disguised",
    "Crosswise",
    "RR_DESIGNS",
    "rr_design",
    "rr_prevalence",
    "rr_regression",
    "rr_gap",
    "simulate_rr",
]

RR_DESIGNS = DESIGNS


def simulate(
    design: RRDesign | str,
    prevalence: float | np.ndarray,
    n: int,
    rng: np.random.Generator | int | None = None,
    **params: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``n`` respondents: their true traits and the answers the design's device yields.

    ``prevalence`` is a number or one probability per respondent (e.g. from a covariate model);
    ``design`` is a design object or a name plus ``p``/``p1``/``p0``/``q`` keywords. Returns
    ``(trait, answer)``, two int8 arrays of 0/1.
    """
    dsg = make_design(design, **params)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pi = np.broadcast_to(np.asarray(prevalence, dtype=float), (n,))
    trait = (gen.random(n) < pi).astype(np.int8)
    return trait, dsg.simulate_answers(trait, gen)


simulate_rr = simulate
rr_design = make_design
