"""Dated events (mobilization, elections) for the trend: parsing, range checks, level-shift test.

The level-shift test adds a step regressor ``s_i = 1[t_i >= t_event]`` to the diffuse effects of
the state-space model (intervention analysis, Box & Tiao 1975, *JASA* 70(349)), re-estimates the
random-walk variance by maximum likelihood with the step in the model, and reports a Wald test of
the step. A random walk can absorb a jump by itself, so the test asks whether the polls move more
at the event than the day-to-day drift explains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..errors import InputError

__all__ = ["Event", "parse_events"]


@dataclass(frozen=True)
class Event:
    """A dated event drawn on the chart and, optionally, tested for a level shift."""

    date: pd.Timestamp
    label: str


def parse_events(events: Iterable[Any] | Mapping[Any, str] | None) -> list[Event]:
    """Events from ``"2022-09-21=Mobilization"`` strings, ``{date: label}``, pairs or :class:`Event`."""
    if events is None:
        return []
    items: Iterable[Any] = events.items() if isinstance(events, Mapping) else events
    out: list[Event] = []
    for item in items:
        if isinstance(item, Event):
            out.append(item)
            continue
        if isinstance(item, str):
            date, _, label = item.partition("=")
        else:
            date, label = item
        ts = pd.to_datetime(str(date).strip(), errors="coerce")
        if pd.isna(ts):
            raise InputError(f"event '{item}': '{date}' is not a date; write events as YYYY-MM-DD=Label")
        out.append(Event(ts.normalize(), str(label).strip() or str(ts.date())))
    return sorted(out, key=lambda e: e.date)


def check_event_range(events: list[Event], first: pd.Timestamp, last: pd.Timestamp) -> None:
    """An event outside the polls' fieldwork range cannot be drawn or tested: say so."""
    for e in events:
        if e.date < first or e.date > last:
            raise InputError(
                f"event '{e.label}' on {e.date.date()} is outside the polls' date range "
                f"{first.date()} to {last.date()}; drop the event or add polls around it"
            )
