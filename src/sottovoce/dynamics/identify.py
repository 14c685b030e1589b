"""The defaults that make a pooled trend fit a tracker: which house is the reference, which polls
cannot enter, and a bounded random-walk sd when the polls hardly determine it.

Every entry point (``sottovoce trend``, the study pipeline's ``[trend]``, ``sottovoce series``)
goes through :func:`sottovoce.dynamics.fit_trend`, which applies these rules, so the three agree.

* **Reference house.** Jackman (2005) identifies house effects by a constraint. Summing them to
  zero makes the trend the average house: right for a corpus of several pollsters, wrong for one
  pollster that changed its wording, whose "trend" would then sit halfway between two wordings
  (the issue's example: 54.5% while the last wave measured 51.7%). With one pollster and several
  wordings, and no constraint asked for, the reference is the pollster's *main* wording (the one
  with most polls; a tie goes to the wording of the latest poll), so the trend is on the scale the
  pollster reports now. Several pollsters keep sum to zero unless a reference is given.
* **A wording with one poll** (a split-ballot arm asked once) has a free house effect that fits
  its poll exactly: the poll says nothing about the trend. When its pollster has another wording
  with at least two polls it is left out, with a note, instead of stopping the fit. A *pollster*
  with a single poll is still an error (make it the reference or drop it).
* **Bounded sigma.** When the likelihood of the random-walk sd is flat up to the search bound
  (the polls hardly say how fast opinion moves), the bands that average over its
  uncertainty (Hamilton 1986) balloon between polls. The sd is then fixed at a cap (2 points a
  week by default, ``2/sqrt(7)`` a day: a random walk's variance grows linearly in time) — the
  largest movement the analyst is willing to assume, so the bands are as wide as that assumption
  allows — and a warning says the bands rest on it. The cap is used only when the polls do not
  reject it (a likelihood-ratio test at 5%: the cap lies inside sigma's 95% likelihood interval).
  When they do (opinion really moved fast, e.g. the first weeks of the war, or awareness of the
  mobilisation), a cap would force a misfit: the fit keeps the ML sigma, its wide bands and the
  warning that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["Identification", "identify", "sigma_cap_per_unit", "DEFAULT_SIGMA_CAP_WEEK", "sigma_note", "cap_rejected_note"]

DEFAULT_SIGMA_CAP_WEEK = 0.02  # 2 points per week (share scale)
_UNIT_RU = {"week": "неделю", "day": "день"}  # "points per week" in Russian: п.п. в неделю
Text = dict[str, str]


@dataclass(frozen=True)
class Identification:
    """How the house effects are identified and which polls enter the fit."""

    keep: np.ndarray                 # one bool per poll
    reference: str | None            # the reference house (None: sum to zero)
    rule: str                        # "given", "sum-to-zero", "main-wording" or "one-house"
    left_out: tuple[str, ...] = ()   # one-poll wordings left out
    notes: tuple[Text, ...] = ()     # what was decided, in English and Russian


def house_labels(polls: pd.DataFrame) -> np.ndarray:
    """House label of each poll: the pollster, or "pollster / wording" when a wording id is given."""
    p = polls["pollster"].astype(str).to_numpy(object)
    w = polls["wording"].fillna("").astype(str).to_numpy(object)
    out = p.copy()
    has = w != ""
    out[has] = p[has] + " / " + w[has]
    return out


def identify(polls: pd.DataFrame, reference: str | None = None, sum_to_zero: bool = False) -> Identification:
    """The reference house and the polls that enter the trend (rules in the module docstring)."""
    if reference is not None and sum_to_zero:
        raise InputError("reference and sum_to_zero exclude each other; choose one identification constraint")
    house = house_labels(polls)
    pollster = polls["pollster"].astype(str).to_numpy(object)
    names, counts = np.unique(house, return_counts=True)
    n_of = dict(zip(names.tolist(), counts.tolist(), strict=True))
    notes: list[Text] = []
    rule = "given" if reference is not None else "sum-to-zero"
    if reference is None and not sum_to_zero and len(set(pollster)) == 1:
        if len(names) == 1:
            rule = "one-house"
        else:
            reference, rule = _main_house(polls, house, n_of), "main-wording"
            notes.append({"en": f"reference: {reference}, the pollster's main wording (most polls); the other wordings are measured "
                                "relative to it, so the trend is on the scale the pollster reports (with one pollster, house "
                                "effects that sum to zero would put the trend between its wordings)",
                          "ru": f"база сравнения: {reference}, основная формулировка исследователя (больше всего опросов); другие "
                                "формулировки измерены относительно неё, и тренд — в шкале, в которой исследователь публикует "
                                "результаты (при одном исследователе сумма эффектов, равная нулю, поставила бы тренд между формулировками)"})
    # A one-poll wording of a pollster that has another wording with >= 2 polls: its poll is fitted
    # exactly by its own house effect and says nothing about the trend.
    tracked = {pollster[i] for i, h in enumerate(house) if n_of[h] >= 2}
    single = sorted({h for i, h in enumerate(house) if n_of[h] == 1 and pollster[i] in tracked
                     and h != reference and pollster[i] != reference})
    keep = ~np.isin(house, single)
    if single:
        shown = ", ".join(single)
        notes.append({"en": f"left out of the trend: {shown} (one poll only, so its house effect cannot be told apart from the trend)",
                      "ru": f"не вошли в тренд: {shown} (только один опрос, поэтому эффект формулировки неотделим от тренда)"})
    return Identification(keep=keep, reference=reference, rule=rule, left_out=tuple(single), notes=tuple(notes))


def _main_house(polls: pd.DataFrame, house: np.ndarray, n_of: dict[str, int]) -> str:
    """The house with most polls; a tie goes to the house of the latest poll (by end of fieldwork)."""
    top = max(n_of.values())
    tied = {h for h, c in n_of.items() if c == top}
    end = pd.to_datetime(polls["end"]).to_numpy()
    order = np.argsort(end, kind="stable")[::-1]
    return next(str(house[i]) for i in order if house[i] in tied)


def sigma_cap_per_unit(cap: float | str | None, unit_days: int) -> float | None:
    """The cap on the random-walk sd per grid unit: ``"auto"`` is 2 points a week scaled to the
    unit (sd grows with the square root of time), a number is taken per unit, ``None`` is no cap."""
    if cap is None:
        return None
    if isinstance(cap, str):
        if cap != "auto":
            raise InputError(f"sigma_cap '{cap}' is unknown; use auto, a share per unit (e.g. 0.02) or none")
        return DEFAULT_SIGMA_CAP_WEEK * math.sqrt(unit_days / 7)
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < float(cap) <= 0.1:
        raise InputError(f"sigma_cap {cap!r} must be a share per unit between 0 and 0.1 (e.g. 0.02 = 2 points)")
    return float(cap)


def sigma_note(cap: float, unit: str, bound: float) -> Text:
    """The bilingual note of a bounded sigma (also the warning's text in English)."""
    unit_ru = _UNIT_RU.get(unit, unit)
    return {"en": f"the polls hardly determine how fast opinion moves (a flat likelihood for the random-walk sd, still high at "
                  f"{100 * bound:g} points per {unit}); the sd is fixed at its cap, {100 * cap:.3g} points per {unit}, so the bands "
                  "between polls rest on that assumption (set sigma_cap, or fix sigma)",
            "ru": f"опросы почти не определяют скорость изменения мнений (плоское правдоподобие для стандартного отклонения "
                  f"случайного блуждания, высокое и при {100 * bound:g} п.п. в {unit_ru}); оно зафиксировано на пределе, "
                  f"{100 * cap:.3g} п.п. в {unit_ru}, поэтому полосы между опросами опираются на это допущение "
                  "(предел можно задать другим или зафиксировать отклонение)"}


def cap_rejected_note(cap: float, unit: str) -> Text:
    """The bilingual note of a flat likelihood whose cap the polls reject (sigma stays at its ML)."""
    return {"en": f"the polls hardly determine how fast opinion moves (a flat likelihood for the random-walk sd), but they reject "
                  f"a cap of {100 * cap:.3g} points per {unit} (likelihood-ratio test at 5%): opinion moved faster than that, so the "
                  "sd stays at its ML value and the bands between polls are wide",
            "ru": f"опросы почти не определяют скорость изменения мнений (плоское правдоподобие для стандартного отклонения "
                  f"случайного блуждания), но отвергают предел {100 * cap:.3g} п.п. в {_UNIT_RU.get(unit, unit)} (тест отношения правдоподобия, 5%): "
                  "мнения менялись быстрее, поэтому отклонение оставлено на оценке максимального правдоподобия, и полосы между "
                  "опросами широкие"}
