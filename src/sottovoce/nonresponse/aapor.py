"""AAPOR outcome rates: response, cooperation, refusal and contact rates.

The formulas are those of the American Association for Public Opinion Research, *Standard
Definitions: Final Dispositions of Case Codes and Outcome Rates for Surveys* (AAPOR 2016, 9th
edition; unchanged in the 2023 10th edition), section "Calculating rates from response
distributions". Cases fall into

* ``I`` complete interviews (1.1), ``P`` partial interviews (1.2);
* ``R`` refusals and break-offs (2.1x), ``NC`` non-contacts (2.2x), ``O`` other eligible
  non-interviews (2.3x, 2.9x);
* ``UH`` unknown whether a household/person is reached (3.1x), ``UO`` other unknown eligibility
  (3.2x–3.9x);
* ``NE`` not eligible (4.x).

``e`` is the estimated share of the unknown-eligibility cases that are eligible. When it is not
given it is the proportional allocation of the resolved cases (the "CASRO" estimate discussed by
AAPOR and by Smith 2009, *A Revised Review of Methods to Estimate the Status of Cases with Unknown
Eligibility*): ``e = (I+P+R+NC+O) / (I+P+R+NC+O+NE)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from .._results import Result
from ..errors import InputError

if TYPE_CHECKING:
    from ..display import Display

__all__ = ["Dispositions", "OutcomeRates", "classify_dispositions", "parse_counts", "outcome_rates", "RATE_FORMULAS"]

CATEGORIES = ("I", "P", "R", "NC", "O", "UH", "UO", "NE")

# name -> (long name, formula text); the evaluation is in ``_rate_values`` below.
RATE_FORMULAS: dict[str, tuple[str, str]] = {
    "RR1": ("Response rate 1 (minimum)", "I / ((I+P) + (R+NC+O) + (UH+UO))"),
    "RR2": ("Response rate 2 (partials count)", "(I+P) / ((I+P) + (R+NC+O) + (UH+UO))"),
    "RR3": ("Response rate 3 (estimated eligibility)", "I / ((I+P) + (R+NC+O) + e(UH+UO))"),
    "RR4": ("Response rate 4", "(I+P) / ((I+P) + (R+NC+O) + e(UH+UO))"),
    "RR5": ("Response rate 5 (unknowns ineligible)", "I / ((I+P) + (R+NC+O))"),
    "RR6": ("Response rate 6 (maximum)", "(I+P) / ((I+P) + (R+NC+O))"),
    "COOP1": ("Cooperation rate 1", "I / ((I+P) + R + O)"),
    "COOP2": ("Cooperation rate 2", "(I+P) / ((I+P) + R + O)"),
    "COOP3": ("Cooperation rate 3", "I / ((I+P) + R)"),
    "COOP4": ("Cooperation rate 4", "(I+P) / ((I+P) + R)"),
    "REF1": ("Refusal rate 1", "R / ((I+P) + (R+NC+O) + (UH+UO))"),
    "REF2": ("Refusal rate 2", "R / ((I+P) + (R+NC+O) + e(UH+UO))"),
    "REF3": ("Refusal rate 3", "R / ((I+P) + (R+NC+O))"),
    "CON1": ("Contact rate 1", "((I+P) + R + O) / ((I+P) + R + O + NC + (UH+UO))"),
    "CON2": ("Contact rate 2", "((I+P) + R + O) / ((I+P) + R + O + NC + e(UH+UO))"),
    "CON3": ("Contact rate 3", "((I+P) + R + O) / ((I+P) + R + O + NC)"),
}


@dataclass(frozen=True)
class Dispositions:
    """Case counts by AAPOR outcome category (non-negative, possibly fractional if weighted)."""

    I: float = 0.0  # noqa: E741 - AAPOR's own symbol
    P: float = 0.0
    R: float = 0.0
    NC: float = 0.0
    O: float = 0.0  # noqa: E741
    UH: float = 0.0
    UO: float = 0.0
    NE: float = 0.0

    def __post_init__(self) -> None:
        for k in CATEGORIES:
            v = getattr(self, k)
            if not np.isfinite(v):
                raise InputError(f"disposition count {k}={v} is not a finite number")
            if v < 0:
                raise InputError(f"disposition count {k}={v:g} is negative; counts of cases must be >= 0")

    def as_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in CATEGORIES}

    @property
    def total(self) -> float:
        return float(sum(self.as_dict().values()))

    def estimated_e(self) -> float:
        """Proportional allocation: eligible share among cases whose eligibility is resolved."""
        eligible = self.I + self.P + self.R + self.NC + self.O
        resolved = eligible + self.NE
        if resolved <= 0:
            raise InputError("cannot estimate e: no case has a resolved eligibility (I+P+R+NC+O+NE = 0); give e=")
        return float(eligible / resolved)


# -- disposition codes ----------------------------------------------------------------------
_CODE_RE = re.compile(r"^([1-4])\.(\d+)$")


def _normalise_code(raw: Any) -> str | None:
    """'1.10', 1.1, '1100', 1100 -> '1.1'; returns None when the value is not a code at all."""
    if raw is None or (isinstance(raw, float) and not np.isfinite(raw)):
        return None
    if isinstance(raw, (bool, np.bool_)):
        return None
    if isinstance(raw, (int, np.integer)) or (isinstance(raw, (float, np.floating)) and float(raw).is_integer() and raw >= 10):
        digits = str(int(raw))
        text = digits[0] + "." + digits[1:] if len(digits) > 1 else digits
    elif isinstance(raw, (float, np.floating)):
        text = repr(float(raw))
    else:
        text = str(raw).strip()
        if re.fullmatch(r"\d{2,}", text):
            text = text[0] + "." + text[1:]
    m = _CODE_RE.match(text)
    if not m:
        return None
    sub = m.group(2).rstrip("0") or "0"
    return f"{m.group(1)}.{sub}"


def _category(code: str) -> str | None:
    major, sub = code.split(".")
    first = sub[0]
    if major == "1":
        return {"1": "I", "2": "P"}.get(first)
    if major == "2":
        return {"1": "R", "2": "NC", "3": "O", "9": "O"}.get(first)
    if major == "3":
        if first == "0":
            return None
        return "UH" if first == "1" else "UO"
    if major == "4":
        return None if first == "0" else "NE"
    return None


def classify_dispositions(codes: Iterable[Any], where: str = "dispositions") -> Dispositions:
    """Count AAPOR final disposition codes into the outcome categories.

    Accepted spellings: ``"1.1"``, ``"1.10"``, ``1.1`` (float), ``1100`` or ``"1100"`` (the
    digits after the first are the sub-levels, so ``2111`` is 2.111). Codes are classified by
    their first two levels as in the Standard Definitions tables for telephone and web surveys:
    1.1 complete, 1.2 partial, 2.1x refusal and break-off, 2.2x non-contact, 2.3x/2.9x other,
    3.1x unknown if household (UH), 3.2x–3.9x other unknown eligibility (UO), 4.1x–4.9x not
    eligible. The summary codes 1.0, 2.0, 3.0, 4.0 do not say which rate a case enters and are
    rejected, as is anything else; the error lists every unknown code.
    """
    s = pd.Series(list(codes) if not isinstance(codes, pd.Series) else codes)
    missing = s.isna()
    if missing.any():
        raise InputError(f"{where}: {int(missing.sum())} cases have no disposition code (first at row {int(np.argmax(missing.to_numpy())) + 1}); give every case a final AAPOR code")
    # classify each distinct spelling once (hash-based), then count with bincount
    inverse, uniq = pd.factorize(s)
    cats: list[str | None] = []
    bad: list[str] = []
    for raw in uniq:
        code = _normalise_code(raw)
        cat = _category(code) if code else None
        if cat is None:
            bad.append(str(raw))
        cats.append(cat)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:20]) + (" ..." if len(bad) > 20 else "")
        raise InputError(
            f"{where}: unknown AAPOR disposition codes {shown}; use final codes such as 1.1 complete, "
            "1.2 partial, 2.1x refusal/break-off, 2.2x non-contact, 2.3x other, 3.1x/3.2x-3.9x unknown eligibility, 4.x not eligible"
        )
    counts = np.bincount(inverse, minlength=len(uniq)).astype(float)
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for cat, c in zip(cats, counts, strict=True):
        totals[str(cat)] += c
    return Dispositions(**totals)


def parse_counts(text: str | Mapping[str, Any]) -> Dispositions:
    """Read counts such as ``"I=500,P=20,R=300,NC=200,O=10,UH=900,UO=50,NE=400"`` (case-insensitive)."""
    if isinstance(text, Mapping):
        items = [(str(k), v) for k, v in text.items()]
    else:
        items = []
        for part in [p for p in re.split(r"[,;\s]+", str(text).strip()) if p]:
            if "=" not in part:
                raise InputError(f"counts=: '{part}' is not of the form KEY=NUMBER (e.g. I=500,P=20,R=300,NC=200,O=10,UH=900,UO=50,NE=400)")
            k, v = part.split("=", 1)
            items.append((k, v))
    values: dict[str, float] = {}
    for k, v in items:
        key = k.strip().upper()
        if key not in CATEGORIES:
            raise InputError(f"counts=: unknown category '{k}'; use I, P, R, NC, O, UH, UO, NE")
        try:
            num = float(v)
        except (TypeError, ValueError):
            raise InputError(f"counts=: {k}={v!r} is not a number") from None
        if not np.isfinite(num) or num < 0:
            raise InputError(f"counts=: {key}={v} is negative or not finite; counts of cases must be >= 0")
        values[key] = values.get(key, 0.0) + num
    if not values:
        raise InputError("counts=: no counts given; write e.g. I=500,P=20,R=300,NC=200,O=10,UH=900,UO=50")
    return Dispositions(**values)


def _rate_values(d: Dispositions, e: float) -> dict[str, float]:
    I, P, R, NC, O, U = d.I, d.P, d.R, d.NC, d.O, d.UH + d.UO  # noqa: E741, N806

    def ratio(num: float, den: float) -> float:
        return float(num / den) if den > 0 else float("nan")

    ip, eligible = I + P, I + P + R + NC + O
    contacted = ip + R + O
    return {
        "RR1": ratio(I, eligible + U),
        "RR2": ratio(ip, eligible + U),
        "RR3": ratio(I, eligible + e * U),
        "RR4": ratio(ip, eligible + e * U),
        "RR5": ratio(I, eligible),
        "RR6": ratio(ip, eligible),
        "COOP1": ratio(I, ip + R + O),
        "COOP2": ratio(ip, ip + R + O),
        "COOP3": ratio(I, ip + R),
        "COOP4": ratio(ip, ip + R),
        "REF1": ratio(R, eligible + U),
        "REF2": ratio(R, eligible + e * U),
        "REF3": ratio(R, eligible),
        "CON1": ratio(contacted, contacted + NC + U),
        "CON2": ratio(contacted, contacted + NC + e * U),
        "CON3": ratio(contacted, contacted + NC),
    }


@dataclass(frozen=True)
class OutcomeRates(Result):
    """AAPOR outcome rates; ``estimate`` is RR3 and ``rates[name]`` every rate by name."""

    rates: Mapping[str, float] = field(default_factory=dict)
    counts: Mapping[str, float] = field(default_factory=dict)
    e: float = float("nan")
    e_source: str = ""

    json_fields: ClassVar[Mapping[str, str]] = {
        "rates": "rates", "formulas": "formulas", "counts": "counts", "e": "e", "e_source": "e_source",
    }

    @property
    def formulas(self) -> dict[str, dict[str, str]]:
        """Each rate's name and formula (AAPOR Standard Definitions)."""
        return {k: {"name": RATE_FORMULAS[k][0], "formula": RATE_FORMULAS[k][1]} for k in self.rates}

    def display(self) -> Display:
        from ..display import Display, Table

        rows = [[k, "–" if not np.isfinite(v) else f"{100 * v:.2f}", RATE_FORMULAS[k][1]] for k, v in self.rates.items()]
        return Display(title=f"AAPOR outcome rates (e = {self.e:.4f}, {self.e_source})",
                       tables=[Table("", ["rate", "%", "formula"], rows)],
                       lines=["counts: " + ", ".join(f"{k}={v:g}" for k, v in self.counts.items())],
                       warnings=list(self.warnings))


def outcome_rates(
    data: Any = None,
    column: str | None = None,
    counts: Dispositions | str | Mapping[str, Any] | None = None,
    e: float | None = None,
) -> OutcomeRates:
    """AAPOR response (RR1–RR6), cooperation (COOP1–4), refusal (REF1–3) and contact (CON1–3) rates.

    Give either ``data`` with a ``column`` of final disposition codes (see
    :func:`classify_dispositions`) or ``counts`` (a :class:`Dispositions`, a mapping or the text
    ``"I=..,P=..,R=..,NC=..,O=..,UH=..,UO=..,NE=.."``). ``e`` in [0, 1] is the eligible share of
    unknown-eligibility cases; by default it is estimated by proportional allocation.
    Formulas: AAPOR *Standard Definitions* (2016, 2023).
    """
    if (data is None) == (counts is None):
        raise InputError("give either a disposition column (data and column) or counts, not both/neither")
    if counts is not None:
        d = counts if isinstance(counts, Dispositions) else parse_counts(counts)
    else:
        from ..io import as_frame, require_columns

        df = as_frame(data)
        if column is None:
            raise InputError("name the disposition column with column=")
        require_columns(df, [column])
        d = classify_dispositions(df[column], where=f"column '{column}'")
    warnings: list[str] = []
    if d.I + d.P + d.R + d.NC + d.O <= 0:
        raise InputError("no eligible cases (I+P+R+NC+O = 0): response rates are undefined")
    if e is None:
        e_val = d.estimated_e()
        e_source = "estimated by proportional allocation (I+P+R+NC+O)/(I+P+R+NC+O+NE)"
        if d.NE == 0 and (d.UH + d.UO) > 0:
            warnings.append("no not-eligible cases (NE) given, so the estimated e is 1 and RR3 = RR1; give NE or e=")
    else:
        e_val = float(e)
        if not (0.0 <= e_val <= 1.0) or not np.isfinite(e_val):
            raise InputError(f"e={e}: e is the eligible share of unknown-eligibility cases and must be in [0, 1]")
        e_source = "given"
    rates = _rate_values(d, e_val)
    children = tuple(
        Result(estimate=v, label=k, code=k, method="aapor-" + k.lower(), scale="share",
               details={"formula": RATE_FORMULAS[k][1], "name": RATE_FORMULAS[k][0]})
        for k, v in rates.items()
    )
    return OutcomeRates(
        estimate=rates["RR3"],
        n=int(round(d.total)),
        method="aapor-rates",
        label="RR3",
        categories=children,
        scale="share",
        warnings=tuple(warnings),
        rates=rates,
        counts=d.as_dict(),
        e=e_val,
        e_source=e_source,
    )
