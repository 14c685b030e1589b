"""The trend chart: polls as points sized by effective sample size, one colour per pollster ×
wording, the smoothed trend with its band, and events as vertical lines (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .model import TrendResult

__all__ = ["plot_trend"]


def plot_trend(result: TrendResult, path: str | Path, title: str | None = None) -> Path:
    """Draw the trend to ``path`` (``.png`` or ``.svg``) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"chart {path}: use a .png or .svg file name")
    trend, polls, houses = result.trend, result.polls, result.houses
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
    level = int(round(result.level_ci * 100))
    ax.fill_between(trend["date"], 100 * trend["low"], 100 * trend["high"], color="0.55", alpha=0.45, lw=0, zorder=3,
                    label=f"trend, {level}% band")
    ax.plot(trend["date"], 100 * trend["share"], color="black", lw=1.5, label="trend", zorder=4)
    colours = matplotlib.colormaps["tab10" if len(houses) <= 10 else "tab20"]
    neff = polls["n_eff"].to_numpy(float)
    size = 12 + 60 * np.sqrt(neff / max(neff.max(), 1.0))  # area grows with n_eff, like precision
    house_index = {h: i for i, h in enumerate(houses["house"])}
    hi = np.array([house_index[h] for h in polls["house"]])
    rgba = colours(hi % colours.N)
    # One scatter call for all polls (fast), with one legend entry per house.
    ax.scatter(polls["date"].to_numpy(), 100 * polls["y"].to_numpy(), s=size, c=rgba, alpha=0.7,
               edgecolors="white", linewidths=0.5)
    handles = [Line2D([], [], ls="", marker="o", color=colours(i % colours.N), label=h) for h, i in house_index.items()]
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
    # A fixed title position avoids a tight-bbox pass over the axes at draw time.
    ax.set_title(title or "Pooled trend with house effects (Kalman smoother)", y=1.01)
    band_handles: list[Any]
    band_handles, band_labels = ax.get_legend_handles_labels()
    # A fixed legend place: loc="best" would test every point for overlap (slow with many polls).
    ax.legend([*band_handles, *handles], band_labels + [h.get_label() for h in handles], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(maxticks=7)
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.subplots_adjust(left=0.07, right=0.78, top=0.93, bottom=0.08)
    # Light PNG compression: the default level costs more than drawing the chart.
    if path.suffix.lower() == ".png":
        fig.savefig(path, pil_kwargs={"compress_level": 1})
    else:
        fig.savefig(path)
    plt.close(fig)
    return path
