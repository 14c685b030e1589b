"""Randomized-response designs: each maps the true prevalence π to P(observed "yes") = a + b·π.

Every design is one small class. It knows its own probabilities, checks that they identify π
(``b != 0``), turns π into the probability of a "yes" and back, says how much a "yes" or a
"no" reveals (P(trait | answer), Bayes' rule at an assumed prevalence), and can simulate its own
randomizing device for respondents with a known trait. Estimation (prevalence, regression, gaps)
uses only ``a`` and ``b``, so a new design is a new class here and nothing else changes.

Sources: Warner (1965, JASA 60:63-69); forced response, Boruch (1971); unrelated question,
Greenberg, Abul-Ela, Simmons & Horvitz (1969, JASA 64:520-539); mirrored question and disguised
response, Blair, Imai & Zhou (2015, JASA 110:1304-1319), whose R package ``rr`` writes
P(yes) = c·π + d with the same c = b, d = a; crosswise model, Yu, Tian & Tang (2008, Metrika
67:251-263) and Jann, Jerke & Krumpal (2012, Public Opinion Quarterly 76:32-49).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..errors import DesignError, InputError

__all__ = [
    "RRDesign",
    "Warner",
    "ForcedResponse",
    "UnrelatedQuestion",
    "Mirrored",
    "Disguised",
    "Crosswise",
    "DESIGNS",
    "make_design",
]

DESIGNS: dict[str, type[RRDesign]] = {}


def _prob(name: str, value: float | None, design: str, *, open_low: bool = True) -> float:
    """Check that a design probability is given and lies in (0, 1) (or [0, 1) when allowed)."""
    if value is None:
        raise DesignError(f"the {design} design needs {name}= (the probability {_MEANING.get(name, name)})")
    v = _number(name, value)
    low_ok = v > 0 if open_low else v >= 0
    if not (math.isfinite(v) and low_ok and v < 1):
        bounds = "(0, 1)" if open_low else "[0, 1)"
        raise DesignError(f"{design} design: {name} = {value} must be a probability in {bounds}")
    return v


_MEANING = {
    "p": "of answering the sensitive question, or of the red card in the 'yes' stack",
    "p1": "of a forced 'yes'",
    "p0": "of a forced 'no'",
    "q": "that the unrelated item is true",
}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name}={value!r} must be a number (a probability between 0 and 1), not a {type(value).__name__}")
    return float(value)


@dataclass(frozen=True)
class RRDesign:
    """Base class: a design is fully described by a and b in P(yes) = a + b·π."""

    name: ClassVar[str] = ""
    #: the design's name in R's ``rr`` package (``rrreg(design=...)``), if it has one
    rr_name: ClassVar[str | None] = None
    #: the answer coded 1, in words (the crosswise answer is "same", not "yes")
    yes_label: ClassVar[str] = "yes"
    no_label: ClassVar[str] = "no"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            DESIGNS[cls.name] = cls

    # -- the mapping ----------------------------------------------------------------------------
    @property
    def a(self) -> float:
        """P(yes | respondent does not have the trait)."""
        raise NotImplementedError

    @property
    def b(self) -> float:
        """P(yes | trait) − P(yes | no trait); zero means π cannot be estimated."""
        raise NotImplementedError

    def p_yes(self, prevalence: Any) -> Any:
        """Probability of an observed "yes" (answer coded 1) when the trait has this prevalence."""
        return self.a + self.b * np.asarray(prevalence, dtype=float)

    def prevalence_from(self, yes_share: Any) -> Any:
        """Invert :meth:`p_yes`: the prevalence implied by an observed share of "yes" answers."""
        return (np.asarray(yes_share, dtype=float) - self.a) / self.b

    def variance(self, prevalence: float, n: float) -> float:
        """Closed-form variance of π̂ under simple random sampling: λ(1−λ)/(n·b²)."""
        lam = float(self.p_yes(prevalence))
        return lam * (1.0 - lam) / (n * self.b**2)

    def privacy(self, prevalence: float) -> dict[str, float]:
        """P(trait | each possible answer) at an assumed prevalence (Bayes' rule).

        A "yes" reveals little when P(trait | yes) stays near the prevalence itself; a design
        protects respondents when neither answer pushes it close to 0 or 1.
        """
        pi = float(prevalence)
        p_yes_trait, p_yes_none = self.a + self.b, self.a
        yes = pi * p_yes_trait / (pi * p_yes_trait + (1 - pi) * p_yes_none)
        no = pi * (1 - p_yes_trait) / (pi * (1 - p_yes_trait) + (1 - pi) * (1 - p_yes_none))
        return {f"P(trait | {self.yes_label})": yes, f"P(trait | {self.no_label})": no}

    def params(self) -> dict[str, float]:
        """The design's own probabilities, as the user gave them."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: name, parameters, the linear map and R's name."""
        return {"design": self.name, **self.params(), "a": self.a, "b": self.b, "rr_name": self.rr_name}

    def _check(self) -> None:
        if abs(self.b) < 1e-9:
            raise DesignError(
                f"{self.name} design with {self.params()} is not identifiable: a 'yes' is equally likely "
                "with and without the trait; choose other probabilities"
            )

    # -- simulation -----------------------------------------------------------------------------
    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Answers (0/1) that respondents with these true traits give through the device."""
        raise NotImplementedError


class _Symmetric(RRDesign):
    """Designs whose answer matches the trait with probability x and mirrors it otherwise
    (Warner, disguised response, crosswise): P(yes) = xπ + (1−x)(1−π), so a = 1 − x, b = 2x − 1."""

    @property
    def _match(self) -> float:
        raise NotImplementedError

    @property
    def a(self) -> float:
        return 1.0 - self._match

    @property
    def b(self) -> float:
        return 2.0 * self._match - 1.0


@dataclass(frozen=True)
class Warner(_Symmetric):
    """Warner (1965): with probability ``p`` the respondent is asked "Do you have the trait?",
    otherwise "Do you NOT have the trait?", and answers truthfully. P(yes) = pπ + (1−p)(1−π)."""

    p: float
    name: ClassVar[str] = "warner"
    rr_name: ClassVar[str | None] = "mirrored"

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _prob("p", self.p, self.name))
        self._check()

    @property
    def _match(self) -> float:
        return self.p

    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        asked_direct = rng.random(trait.shape) < self.p
        return np.where(asked_direct, trait, 1 - trait).astype(np.int8)


@dataclass(frozen=True)
class Mirrored(Warner):
    """Mirrored question (Blair, Imai & Zhou 2015): with probability ``p`` the sensitive question,
    otherwise its mirror image ("Do you NOT ..."); the same likelihood as Warner's design."""

    name: ClassVar[str] = "mirrored"
    rr_name: ClassVar[str | None] = "mirrored"


@dataclass(frozen=True)
class Disguised(_Symmetric):
    """Disguised response (Kuk 1990; Blair, Imai & Zhou 2015): a respondent with the trait draws
    from the "yes" stack, where a red card (answer 1) has probability ``p``; one without it draws
    from the "no" stack, where red has probability 1 − ``p``. P(red) = pπ + (1−p)(1−π)."""

    p: float
    name: ClassVar[str] = "disguised"
    rr_name: ClassVar[str | None] = "disguised"
    yes_label: ClassVar[str] = "red"
    no_label: ClassVar[str] = "black"

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _prob("p", self.p, self.name))
        self._check()

    @property
    def _match(self) -> float:
        return self.p

    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p_red = np.where(trait == 1, self.p, 1.0 - self.p)
        return (rng.random(trait.shape) < p_red).astype(np.int8)


@dataclass(frozen=True)
class ForcedResponse(RRDesign):
    """Forced response (Boruch 1971): the device says "answer truthfully" with probability ``p``,
    "say yes" with ``p1`` and "say no" with ``p0`` (p + p1 + p0 = 1). P(yes) = p1 + pπ."""

    p: float
    p1: float
    p0: float
    name: ClassVar[str] = "forced"
    rr_name: ClassVar[str | None] = "forced-known"

    def __post_init__(self) -> None:
        p1 = _prob("p1", self.p1, self.name, open_low=False)
        p0 = _prob("p0", self.p0, self.name, open_low=False)
        if p1 + p0 >= 1:
            raise DesignError(f"forced design: p1 + p0 = {p1 + p0:g} leaves no truthful answers; it must be < 1")
        p = _prob("p", self.p, self.name)
        if abs(p + p1 + p0 - 1) > 1.5e-3:  # allow probabilities rounded to 3 decimals
            raise DesignError(
                f"forced design: p + p1 + p0 = {p + p1 + p0:g} but the three outcomes of the device must sum to 1 "
                "(give two of them and the third is implied)"
            )
        for k, v in (("p", p), ("p1", p1), ("p0", p0)):
            object.__setattr__(self, k, v)
        self._check()

    @property
    def a(self) -> float:
        return self.p1

    @property
    def b(self) -> float:
        return self.p

    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(trait.shape)
        return np.where(u < self.p, trait, (u < self.p + self.p1).astype(trait.dtype)).astype(np.int8)


@dataclass(frozen=True)
class UnrelatedQuestion(RRDesign):
    """Unrelated question (Greenberg et al. 1969): with probability ``p`` the sensitive question,
    otherwise an innocuous one whose "yes" prevalence ``q`` is known. P(yes) = (1−p)q + pπ."""

    p: float
    q: float
    name: ClassVar[str] = "unrelated"
    rr_name: ClassVar[str | None] = "unrelated-known"

    def __post_init__(self) -> None:
        object.__setattr__(self, "p", _prob("p", self.p, self.name))
        object.__setattr__(self, "q", _prob("q", self.q, self.name))
        self._check()

    @property
    def a(self) -> float:
        return (1.0 - self.p) * self.q

    @property
    def b(self) -> float:
        return self.p

    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        asked = rng.random(trait.shape) < self.p
        innocuous = rng.random(trait.shape) < self.q
        return np.where(asked, trait, innocuous).astype(np.int8)


@dataclass(frozen=True)
class Crosswise(_Symmetric):
    """Crosswise model (Yu, Tian & Tang 2008): one joint answer to the sensitive item and an
    unrelated one of known prevalence ``q``; the answer coded 1 is "both yes or both no"
    ("same"), 0 is "exactly one yes" ("different"). P(same) = qπ + (1−q)(1−π)."""

    q: float
    name: ClassVar[str] = "crosswise"
    yes_label: ClassVar[str] = "same"
    no_label: ClassVar[str] = "different"

    def __post_init__(self) -> None:
        object.__setattr__(self, "q", _prob("q", self.q, self.name))
        self._check()

    @property
    def _match(self) -> float:
        return self.q

    def simulate_answers(self, trait: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        other = (rng.random(trait.shape) < self.q).astype(trait.dtype)
        return (trait == other).astype(np.int8)


def make_design(
    design: str | RRDesign,
    p: float | None = None,
    p1: float | None = None,
    p0: float | None = None,
    q: float | None = None,
) -> RRDesign:
    """Build a design from its name and its probabilities ``p``, ``p1``, ``p0``, ``q``.

    For the forced design any two of ``p``, ``p1``, ``p0`` imply the third. R ``rr`` names
    (``forced-known``, ``unrelated-known``) are accepted too.
    """
    if isinstance(design, RRDesign):
        extra = [k for k, v in (("p", p), ("p1", p1), ("p0", p0), ("q", q)) if v is not None]
        if extra:
            raise InputError(f"design= is a design object with its own probabilities; drop {', '.join(k + '=' for k in extra)}")
        return design
    if not isinstance(design, str):
        raise InputError(f"design={design!r} must be a design name ({', '.join(DESIGNS)}) or a design object")
    for k, v in (("p", p), ("p1", p1), ("p0", p0), ("q", q)):
        if v is not None:
            _number(k, v)
    key = str(design).strip().lower().removesuffix("-known")
    cls = DESIGNS.get(key)
    if cls is None:
        raise DesignError(f"unknown randomized-response design '{design}'; use one of {', '.join(DESIGNS)}")
    if cls is ForcedResponse:
        given = {"p": p, "p1": p1, "p0": p0}
        missing = [k for k, v in given.items() if v is None]
        if len(missing) > 1:
            raise DesignError(f"the forced design needs two of p=, p1=, p0= (missing {', '.join(m + '=' for m in missing)})")
        if missing:
            rest = 1.0 - sum(v for v in given.values() if v is not None)
            # rounding of the two given probabilities may leave a tiny negative remainder
            given[missing[0]] = 0.0 if -1.5e-3 < rest < 0 else rest
        return ForcedResponse(**given)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        kwargs[f.name] = {"p": p, "q": q}[f.name]
    return cls(**kwargs)
