"""Poll dynamics: one latent trend from many polls, with each pollster's house effect.

Jackman (2005) pooling model fitted by the Kalman filter and RTS smoother with exact (diffuse)
house effects and a maximum-likelihood random-walk variance. See :func:`fit_trend`.
"""

from __future__ import annotations

from .chart import plot_trend
from .corpus import check_corpus, validate_corpus
from .events import Event, parse_events
from .model import TrendResult, fit_trend
from .polls import POLL_COLUMNS, Wave, poll_observations, read_polls, validate_polls, wave_to_poll

__all__ = [
    "fit_trend", "TrendResult", "plot_trend", "Event", "parse_events", "Wave", "read_polls",
    "validate_polls", "wave_to_poll", "poll_observations", "POLL_COLUMNS", "check_corpus", "validate_corpus",
]
