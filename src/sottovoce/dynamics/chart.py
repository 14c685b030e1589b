"""The trend chart: polls as points sized by effective sample size, one colour per pollster ×
wording, the smoothed trend with its band, and events as vertical lines.

Drawn straight onto a matplotlib renderer (Agg for PNG, the SVG renderer for SVG) rather than
through a Figure and Axes: the chart's layout is fixed, so building the artist tree, tick objects
and layout passes would cost several times more than the drawing itself. Ticks still come from
matplotlib's locators and date formatter, so the axes read as a matplotlib chart does.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from .model import TrendResult

__all__ = ["plot_trend"]

_SIZE_IN = (11.0, 5.5)
_DPI = 100
_AXES = (0.07, 0.08, 0.78, 0.93)  # left, bottom, right, top (figure fractions)
_MARGIN = 0.05                    # data margin on each side, like matplotlib's autoscale
_RADIUS_STEP = 0.25               # marker radii are drawn to a quarter point (invisible at 100 dpi)


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def plot_trend(result: TrendResult, path: str | Path, title: str | None = None, *,
               labels: Mapping[str, Any] | None = None, house_names: Mapping[str, str] | None = None) -> Path:
    """Draw the trend to ``path`` (``.png`` or ``.svg``) and return the path.

    ``labels`` translates the chart's words (keys ``ylabel``, ``band`` (with ``{level}``), ``trend``,
    ``outlier``, ``months`` (12 month abbreviations), ``title``, ``events`` (event label -> shown
    label)); ``house_names`` maps a house label
    to the name shown in the legend. Defaults: English, the house labels as they are.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise InputError(f"chart {path}: use a .png or .svg file name")
    if suffix == ".png":
        from matplotlib.backends.backend_agg import RendererAgg

        agg = RendererAgg(int(_SIZE_IN[0] * _DPI), int(_SIZE_IN[1] * _DPI), _DPI)
        png = _PngCanvas(agg, _DPI)
        _draw(png, result, title, labels or {}, house_names or {})
        rgba = np.asarray(agg.buffer_rgba())
        png.draw_texts(rgba)
        path.write_bytes(_png(rgba, _DPI))
    else:
        from matplotlib.backends.backend_svg import RendererSVG

        with open(path, "w", encoding="utf-8") as fh:
            svg = RendererSVG(_SIZE_IN[0] * 72, _SIZE_IN[1] * 72, fh, image_dpi=_DPI)
            cv = _Canvas(svg, 72)
            _draw(cv, result, title, labels or {}, house_names or {})
            cv.draw_texts(None)
            svg.finalize()
    return path


def _png(rgba: np.ndarray, dpi: float) -> bytes:
    """Encode an RGBA canvas as an 8-bit RGBA PNG (W3C PNG specification, 2nd ed., 2003).

    Every row uses the "Up" filter (the difference from the row above), which turns the flat
    background, the opaque alpha channel and vertical runs into zeros; zlib's run-length strategy
    then compresses them at a fraction of the cost of adaptive filtering with full deflate.
    """
    h, w, _ = rgba.shape
    flat = rgba.reshape(h, 4 * w)
    raw = np.empty((h, 4 * w + 1), np.uint8)
    raw[:, 0] = 2  # filter type Up
    raw[0, 1:] = flat[0]
    np.subtract(flat[1:], flat[:-1], out=raw[1:, 1:])  # modulo 256, as the filter defines
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = z.compress(raw.data) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ppm = int(round(dpi / 0.0254))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


class _Canvas:
    """Thin helpers over a renderer: display units, y upwards from the bottom edge."""

    def __init__(self, renderer: Any, dpi: float):
        from matplotlib.font_manager import FontProperties

        self.r = renderer
        self.dpi = dpi
        self.w, self.h = renderer.get_canvas_width_height()
        self._fonts: dict[float, Any] = {}
        self._extents: dict[tuple[str, float], tuple[float, float, float]] = {}
        self.texts: list[tuple[Any, ...]] = []
        self._font_cls = FontProperties

    def pt(self, v: float) -> float:
        return v * self.dpi / 72.0

    def gc(self, color: Any = "black", lw: float = 1.0, alpha: float | None = None, dashes: tuple | None = None,
           clip: Any = None) -> Any:
        gc = self.r.new_gc()
        gc.set_foreground(color)
        gc.set_linewidth(lw)
        if alpha is not None:
            gc.set_alpha(alpha)
        if dashes is not None:
            gc.set_dashes(0, [self.pt(d) for d in dashes])
        if clip is not None:
            gc.set_clip_rectangle(clip)
        gc.set_antialiased(True)
        return gc

    def font(self, size: float) -> Any:
        if size not in self._fonts:
            self._fonts[size] = self._font_cls(size=size)
        return self._fonts[size]

    def extent(self, s: str, size: float) -> tuple[float, float, float]:
        """Width, height and descent of a text (display units), measured once per chart."""
        key = (s, size)
        if key not in self._extents:
            self._extents[key] = self._measure(s, size)
        return self._extents[key]

    def _measure(self, s: str, size: float) -> tuple[float, float, float]:
        return self.r.get_text_width_height_descent(s, self.font(size), ismath=False)

    def text(self, x: float, y: float, s: str, size: float = 10.0, ha: str = "left", va: str = "baseline",
             color: Any = "black", rotation: float = 0.0) -> None:
        """Queue a text anchored at (x, y): ``ha`` along the text, ``va`` across it (rotation 0 or 90).

        Texts are drawn last, above everything else, by ``draw_texts``.
        """
        if s:
            self.texts.append((x, y, s, size, ha, va, color, rotation))

    def draw_texts(self, image: Any) -> None:
        """Draw the queued texts with the renderer (the SVG path: glyphs as paths)."""
        for x, y, s, size, ha, va, color, rotation in self.texts:
            prop = self.font(size)
            w, h, d = self.extent(s, size)
            along = {"left": 0.0, "center": -w / 2, "right": -w}[ha]
            across = {"baseline": 0.0, "bottom": d, "center": d - h / 2, "top": d - h}[va]
            a = math.radians(rotation)
            bx = x + along * math.cos(a) - across * math.sin(a)
            by = y + along * math.sin(a) + across * math.cos(a)
            gc = self.gc(color)
            self.r.draw_text(gc, bx, self.h - by, s, prop, rotation, ismath=False)
            gc.restore()


    def line(self, xy: Any, color: Any = "black", lw: float = 1.0, alpha: float | None = None,
             dashes: tuple | None = None, clip: Any = None) -> None:
        from matplotlib.path import Path as MPath
        from matplotlib.transforms import IdentityTransform

        gc = self.gc(color, lw, alpha, dashes, clip)
        self.r.draw_path(gc, MPath(np.asarray(xy, float)), IdentityTransform())
        gc.restore()


class _PngCanvas(_Canvas):
    """Shapes with Agg; texts with Pillow's FreeType text drawing on the finished canvas.

    matplotlib's own text path lays out and rasterizes each glyph from Python (about 1 ms per
    label), more than everything else in the chart together; Pillow draws the same font
    (matplotlib's default, found by its font manager) at the same size in compiled code.
    """

    def __init__(self, renderer: Any, dpi: float):
        super().__init__(renderer, dpi)
        from matplotlib.font_manager import findfont

        self._font_path = findfont(self.font(10.0))
        self._pil_fonts: dict[float, Any] = {}

    def pil_font(self, size: float) -> Any:
        from PIL import ImageFont

        if size not in self._pil_fonts:
            self._pil_fonts[size] = ImageFont.truetype(self._font_path, self.pt(size))
        return self._pil_fonts[size]

    def _measure(self, s: str, size: float) -> tuple[float, float, float]:
        font = self.pil_font(size)
        ascent, descent = font.getmetrics()
        return float(font.getlength(s)), float(ascent + descent), float(descent)

    def draw_texts(self, image: Any) -> None:
        """Blend the queued texts into the RGBA canvas array ``image`` (in place)."""
        from matplotlib.colors import to_rgba
        from PIL import Image, ImageDraw

        h_img, w_img = image.shape[:2]
        for x, y, s, size, ha, va, color, rotation in self.texts:
            font = self.pil_font(size)
            ink = np.array([round(255 * c) for c in to_rgba(color)[:3]], np.int32)
            ax, ay = int(round(x)), int(round(h_img - y))  # Pillow's y runs downwards
            if rotation == 0:
                anchor = {"left": "l", "center": "m", "right": "r"}[ha] + {"baseline": "s", "bottom": "d",
                                                                           "center": "m", "top": "a"}[va]
            else:
                anchor = "ls"
            left, top, right, bottom = font.getbbox(s, anchor=anchor)
            mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)))
            ImageDraw.Draw(mask).text((-left, -top), s, font=font, fill=255, anchor=anchor)
            if rotation == 0:
                px, py = ax + left, ay + top
            else:  # reading upwards: turn the flat text a quarter anticlockwise
                mask = mask.transpose(Image.Transpose.ROTATE_90)
                bw, bh = mask.size
                px = {"bottom": ax - bw, "center": ax - bw // 2, "top": ax, "baseline": ax + top}[va]
                py = {"left": ay - bh, "center": ay - bh // 2, "right": ay}[ha]
            _blend(image, np.asarray(mask), px, py, ink)


def _blend(image: np.ndarray, alpha: np.ndarray, px: int, py: int, ink: np.ndarray) -> None:
    """Composite ``ink`` with coverage ``alpha`` (0-255) over ``image`` at top-left (px, py)."""
    h, w = alpha.shape
    x0, y0 = max(px, 0), max(py, 0)
    x1, y1 = min(px + w, image.shape[1]), min(py + h, image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - py:y1 - py, x0 - px:x1 - px, None].astype(np.int32)
    region = image[y0:y1, x0:x1, :3]
    region[...] = (region * (255 - a) + ink * a + 127) // 255


def _draw(cv: _Canvas, result: TrendResult, title: str | None, labels: Mapping[str, Any],
          house_names: Mapping[str, str]) -> None:
    import matplotlib
    import matplotlib.dates as mdates
    from matplotlib.path import Path as MPath
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import Affine2D, Bbox, IdentityTransform

    renderer = cv.r
    trend, polls, houses = result.trend, result.polls, result.houses
    x0, y0, x1, y1 = _AXES[0] * cv.w, _AXES[1] * cv.h, _AXES[2] * cv.w, _AXES[3] * cv.h
    box = Bbox.from_extents(x0, y0, x1, y1)

    # Data (x in matplotlib day numbers, converted in one vectorised step; y in percent).
    day = mdates.date2num(trend["date"].to_numpy("datetime64[ns]"))
    pday = mdates.date2num(polls["date"].to_numpy("datetime64[ns]"))
    share, low, high = (100 * trend[c].to_numpy(float) for c in ("share", "low", "high"))
    py = 100 * polls["y"].to_numpy(float)
    ev_day = mdates.date2num(np.array([e.date.to_datetime64() for e in result.events], dtype="datetime64[ns]"))
    xs = np.concatenate([day, pday, ev_day])
    ys = np.concatenate([low, high, py])
    ys = ys[np.isfinite(ys)]
    xlo, xhi = _padded(float(xs.min()), float(xs.max()))
    ylo, yhi = _padded(float(ys.min()), float(ys.max()))
    sx, sy = (x1 - x0) / (xhi - xlo), (y1 - y0) / (yhi - ylo)
    to_x = lambda v: x0 + (np.asarray(v, float) - xlo) * sx  # noqa: E731
    to_y = lambda v: y0 + (np.asarray(v, float) - ylo) * sy  # noqa: E731

    # Background and grid.
    white = cv.gc("white")
    renderer.draw_path(white, MPath([[0, 0], [cv.w, 0], [cv.w, cv.h], [0, cv.h], [0, 0]], closed=True),
                       IdentityTransform(), (1, 1, 1, 1))
    white.restore()
    locator = mdates.AutoDateLocator(maxticks=7)
    # Yearly steps of months too: without 12, a span of 3-5 years fits no monthly step within 7
    # ticks and matplotlib warns and falls back to every 6 months (too many labels).
    locator.intervald[mdates.MONTHLY] = [1, 2, 3, 4, 6, 12]
    xt = np.asarray(locator.tick_values(mdates.num2date(xlo), mdates.num2date(xhi)))
    xt = xt[(xt >= xlo) & (xt <= xhi)]
    formatter = mdates.ConciseDateFormatter(locator)
    months = labels.get("months")
    xlabels = [_months(s, months) for s in formatter.format_ticks(xt)]
    yt = np.asarray(MaxNLocator(6).tick_values(ylo, yhi), float)
    yt = yt[(yt >= ylo - 1e-9) & (yt <= yhi + 1e-9)]
    grid = (0.69, 0.69, 0.69)
    for v in to_x(xt):
        cv.line([[v, y0], [v, y1]], grid, lw=0.8, alpha=0.3)
    for v in to_y(yt):
        cv.line([[x0, v], [x1, v]], grid, lw=0.8, alpha=0.3)

    # Polls: one colour per house, area growing with n_eff (like precision). Markers are stamped
    # per (house, radius) group, radii rounded to a quarter point.
    colours = matplotlib.colormaps["tab10" if len(houses) <= 10 else "tab20"]
    house_index = {h: i for i, h in enumerate(houses["house"])}
    hi = np.array([house_index[h] for h in polls["house"]])
    neff = polls["n_eff"].to_numpy(float)
    size = 12 + 60 * np.sqrt(neff / max(neff.max(), 1.0))  # marker area in pt^2
    radius = np.round(np.sqrt(size / math.pi) / _RADIUS_STEP) * _RADIUS_STEP
    pxy = np.column_stack([to_x(pday), to_y(py)])
    circle = MPath.unit_circle()
    gc = cv.gc("white", lw=0.5, alpha=0.7, clip=box)
    for (h, rad) in sorted(set(zip(hi.tolist(), radius.tolist(), strict=True))):
        sel = (hi == h) & (radius == rad)
        renderer.draw_markers(gc, circle, Affine2D().scale(cv.pt(rad)), MPath(pxy[sel]), IdentityTransform(),
                              colours(h % colours.N))
    gc.restore()

    # The band and the trend above the polls.
    band = np.vstack([np.column_stack([to_x(day), to_y(low)]), np.column_stack([to_x(day[::-1]), to_y(high[::-1])])])
    ok = np.isfinite(band).all(axis=1)
    gc = cv.gc((0.55, 0.55, 0.55), lw=0.0, alpha=0.45, clip=box)
    renderer.draw_path(gc, MPath(band[ok]), IdentityTransform(), (0.55, 0.55, 0.55, 0.45))
    gc.restore()
    cv.line(np.column_stack([to_x(day), to_y(share)]), "black", lw=1.5, clip=box)

    out = polls["outlier"].to_numpy(bool)
    if out.any():
        gc = cv.gc("red", lw=1.0, clip=box)
        for rad in sorted(set(radius[out].tolist())):
            sel = out & (radius == rad)
            renderer.draw_markers(gc, circle, Affine2D().scale(cv.pt(rad * math.sqrt(1.8))), MPath(pxy[sel]),
                                  IdentityTransform(), None)
        gc.restore()
    for e, v in zip(result.events, to_x(ev_day), strict=True):
        cv.line([[v, y0], [v, y1]], "firebrick", lw=1.0, dashes=(3.7, 1.6), clip=box)
        cv.text(v - cv.pt(2), y1 - cv.pt(3), dict(labels.get("events", {})).get(e.label, e.label), size=8, ha="right", va="bottom", color="firebrick",
                rotation=90)

    # Frame, ticks and labels.
    cv.line([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], "black", lw=0.8)
    tick = cv.pt(3.5)
    for v, s in zip(to_x(xt), xlabels, strict=True):
        cv.line([[v, y0], [v, y0 - tick]], "black", lw=0.8)
        cv.text(v, y0 - tick - cv.pt(3.5), s, ha="center", va="top")
    offset = _months(formatter.get_offset(), months)
    if offset:
        cv.text(x1, y0 - tick - cv.pt(18), offset, ha="right", va="top")
    ylabels = [f"{v:g}" for v in yt]
    widest = 0.0
    for v, s in zip(to_y(yt), ylabels, strict=True):
        cv.line([[x0, v], [x0 - tick, v]], "black", lw=0.8)
        cv.text(x0 - tick - cv.pt(3.5), v, s, ha="right", va="center")
        widest = max(widest, cv.extent(s, 10.0)[0])
    base = "all respondents" if result.details.get("base") == "all" else "respondents with an opinion"
    cv.text(x0 - tick - cv.pt(3.5) - widest - cv.pt(4), (y0 + y1) / 2, labels.get("ylabel", f"share, % of {base}"),
            ha="center", va="bottom", rotation=90)
    cv.text((x0 + x1) / 2, y1 + cv.pt(6), title or labels.get("title", "Pooled trend with house effects (Kalman smoother)"),
            size=12, ha="center", va="baseline")

    # Legend to the right of the axes.
    level = int(round(result.level_ci * 100))
    entries: list[tuple[str, Any]] = [(str(labels.get("band", "trend, {level}% band")).format(level=level), "band"),
                                      (str(labels.get("trend", "trend")), "line")]
    if out.any():
        entries.append((str(labels.get("outlier", "outlier (|z| > 3)")), "ring"))
    entries += [(house_names.get(h, h), colours(i % colours.N)) for h, i in house_index.items()]
    _legend(cv, entries, x1 + 0.01 * cv.w, y1)


def _months(text: str, names: Any) -> str:
    """A tick label with the English month abbreviations of matplotlib's formatter replaced."""
    if not names or not text:
        return text
    for en, other in zip(_MONTHS_EN, names, strict=True):
        text = text.replace(en, other)
    return text


def _legend(cv: _Canvas, entries: list[tuple[str, Any]], left: float, top: float) -> None:
    from matplotlib.path import Path as MPath
    from matplotlib.transforms import Affine2D, IdentityTransform

    size, row, pad, handle = 7.0, cv.pt(7 * 1.7), cv.pt(4), cv.pt(14)
    widths = [cv.extent(s, size)[0] for s, _ in entries]
    # One baseline offset for every row (from a reference with ascenders and descenders), so the
    # labels share a baseline grid as matplotlib's legend does.
    _, ref_h, ref_d = cv.extent("Pg", size)
    width = pad * 3 + handle + max(widths)
    height = pad * 2 + row * len(entries)
    frame = [[left, top], [left + width, top], [left + width, top - height], [left, top - height], [left, top]]
    gc = cv.gc((0.8, 0.8, 0.8), lw=0.8, alpha=0.8)
    cv.r.draw_path(gc, MPath(frame, closed=True), IdentityTransform(), (1, 1, 1, 0.8))
    gc.restore()
    circle = MPath.unit_circle()
    for k, (label, kind) in enumerate(entries):
        yc = top - pad - row * (k + 0.5)
        hx0, hx1 = left + pad, left + pad + handle
        if kind == "band":
            rect = [[hx0, yc - cv.pt(3)], [hx1, yc - cv.pt(3)], [hx1, yc + cv.pt(3)], [hx0, yc + cv.pt(3)], [hx0, yc - cv.pt(3)]]
            gc = cv.gc((0.55, 0.55, 0.55), lw=0.0, alpha=0.45)
            cv.r.draw_path(gc, MPath(rect, closed=True), IdentityTransform(), (0.55, 0.55, 0.55, 0.45))
            gc.restore()
        elif kind == "line":
            cv.line([[hx0, yc], [hx1, yc]], "black", lw=1.5)
        else:
            gc = cv.gc("red" if kind == "ring" else kind, lw=1.0)
            face = None if kind == "ring" else kind
            cv.r.draw_markers(gc, circle, Affine2D().scale(cv.pt(4.5 if kind == "ring" else 3.0)),
                              MPath([[(hx0 + hx1) / 2, yc]]), IdentityTransform(), face)
            gc.restore()
        cv.text(hx1 + pad, yc + ref_d - ref_h / 2, label, size=size)


def _padded(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo if hi > lo else max(abs(lo) * 1e-3, 1.0)
    return lo - _MARGIN * span, hi + _MARGIN * span
