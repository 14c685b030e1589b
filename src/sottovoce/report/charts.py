"""Charts for the report, drawn with matplotlib's Agg/SVG backends and embedded inline as SVG.

Inline SVG keeps the report one self-contained file that loads nothing (text is drawn as paths,
so no font is fetched) and prints sharply to PDF. Every chart is paired in the template with a
caption and a data table, its text alternative.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["Point", "interval_chart", "grouped_interval_chart", "line_chart"]

# Colour-blind safe (Okabe & Ito 2008); one colour per question design.
COLOURS = {"direct": "#0072B2", "list": "#D55E00", "double_list": "#CC79A7", "rr": "#009E73", "crosswise": "#E69F00"}


@dataclass(frozen=True)
class Point:
    """One estimate to draw: a label, the design (for the colour), the estimate and its interval."""

    label: str
    kind: str
    estimate: float
    low: float
    high: float


def _svg(fig: plt.Figure, title: str) -> str:
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "sottovoce", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and DOCTYPE: invalid inside HTML
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)  # RDF boilerplate with URLs
    # Scale with the page, and expose the chart as one image with a name to screen readers.
    text = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', text, count=1)
    return text.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" class="chart" ', 1)


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def interval_chart(points: Sequence[Point], title: str, xlabel: str) -> str:
    """Horizontal point-and-interval chart of shares (in percent), one row per estimate."""
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(points) + 1.0))
    ys = list(range(len(points)))[::-1]
    for y, p in zip(ys, points, strict=True):
        c = COLOURS.get(p.kind, "#555555")
        ax.plot([100 * p.low, 100 * p.high], [y, y], color=c, lw=2.5, solid_capstyle="butt")
        ax.plot([100 * p.estimate], [y], "o", color=c, ms=8)
        ax.annotate(f"{100 * p.estimate:.0f}%", (100 * p.estimate, y), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=9)
    ax.set_yticks(ys, [p.label for p in points])
    ax.set_ylim(-0.6, len(points) - 0.4)
    _style(ax, xlabel)
    return _svg(fig, title)


def grouped_interval_chart(levels: Sequence[str], series: dict[str, list[Point | None]], names: dict[str, str], title: str, xlabel: str) -> str:
    """Estimates per subgroup level (rows), one coloured series per design, offset vertically."""
    k = max(len(series), 1)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(levels) * max(k, 2) + 1.2))
    ys = list(range(len(levels)))[::-1]
    for j, (kind, pts) in enumerate(series.items()):
        off = ((k - 1) / 2 - j) * (0.7 / k)  # first series on top, as in the legend
        c = COLOURS.get(kind, "#555555")
        first = True
        for y, p in zip(ys, pts, strict=True):
            if p is None:  # suppressed or not estimated
                continue
            ax.plot([100 * p.low, 100 * p.high], [y + off, y + off], color=c, lw=2)
            ax.plot([100 * p.estimate], [y + off], "o", color=c, ms=6, label=names.get(kind, kind) if first else None)
            first = False
    ax.set_yticks(ys, list(levels))
    ax.set_ylim(-0.6, len(levels) - 0.4)
    _style(ax, xlabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(k, 3), frameon=False, fontsize=9)
    return _svg(fig, title)


def line_chart(x: Sequence[float], y: Sequence[float], title: str, xlabel: str, ylabel: str, hline: float | None = None) -> str:
    """A simple line (the nonresponse sensitivity curve), ``y`` in shares shown as percent."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.plot(list(x), [100 * v for v in y], color=COLOURS["direct"], lw=2)
    if hline is not None:
        ax.axhline(100 * hline, color="#777777", lw=1, ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(alpha=0.3)
    return _svg(fig, title)


def _style(ax: plt.Axes, xlabel: str) -> None:
    ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.tick_params(axis="y", length=0)
