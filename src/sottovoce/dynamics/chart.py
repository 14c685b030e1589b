"""The trend chart: polls as points sized by effective sample size, one colour per pollster ×
wording, the smoothed trend with its band, and events as vertical lines (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .model import TrendResult

__all__ = ["plot_trend"]


def plot_trend(result: TrendResult, path: str | Path, title: str | None = None) -> Path:
    """Draw the trend to ``path`` (``.png`` or ``.svg``) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"chart {path}: use a .png or .svg file name")
    trend, polls, houses = result.trend, result.polls, result.houses
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=100)
    level = int(round(result.level_ci * 100))
    ax.fill_between(trend["date"], 100 * trend["low"], 100 * trend["high"], color="0.8", lw=0,
                    label=f"trend, {level}% band")
    ax.plot(trend["date"], 100 * trend["share"], color="black", lw=1.5, label="trend")
    colours = matplotlib.colormaps["tab10" if len(houses) <= 10 else "tab20"]
    neff = polls["n_eff"].to_numpy(float)
    size = 12 + 60 * np.sqrt(neff / max(neff.max(), 1.0))  # area grows with n_eff, like precision
    house_index = {h: i for i, h in enumerate(houses["house"])}
    for h, idx in polls.groupby("house", sort=False).indices.items():
        ax.scatter(polls["date"].to_numpy()[idx], 100 * polls["y"].to_numpy()[idx], s=size[idx],
                   color=colours(house_index[h] % colours.N), alpha=0.7, edgecolor="white", lw=0.5, label=h)
    out = polls["outlier"].to_numpy(bool)
    if out.any():
        ax.scatter(polls["date"][out], 100 * polls["y"][out], s=size[out] * 1.8, facecolor="none",
                   edgecolor="red", lw=1.0, label="outlier (|z| > 3)")
    for e in result.events:
        ax.axvline(e.date, color="firebrick", ls="--", lw=1)
        ax.annotate(e.label, (e.date, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top",
                    ha="right", fontsize=8, color="firebrick")
    base = "all respondents" if result.details.get("base") == "all" else "respondents with an opinion"
    ax.set_ylabel(f"share, % of {base}")
    ax.set_title(title or "Pooled trend with house effects (Kalman smoother)")
    ax.legend(fontsize=7, loc="best", markerscale=0.6)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
