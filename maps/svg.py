"""Small inline SVG figures for the report, written by hand (no plotting library needed):
horizontal bar charts, a column chart over time, and a static overview map that prints.

Every label goes through `maps.text.esc`. Figures scale with the page (``viewBox`` and
``width: 100%``) and carry a ``<title>`` and an ``aria-label`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from maps import style
from maps.places import PlaceLabel
from maps.text import esc, fmt_int

__all__ = ["bar_chart", "column_chart", "overview_map"]

BAR: str = "#4a6fa5"
BAR_ALT: str = "#c0504d"
TEXT: str = "#1a1a1a"
MUTED: str = "#666666"
FONT_CSS = f"font-family:{style.FONT.replace(chr(34), chr(39))}"


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f"<svg class='chart-svg' viewBox='0 0 {width:g} "
        f"{height:g}' width='100%' role='img' aria-label='{esc(label)}' "
        f"style='max-width:{width:g}px;{FONT_CSS}'><title>{esc(label)}</title>"
    )


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    note: str = "",
    total: float | None = None,
    value_fmt: Callable[[float], str] = fmt_int,
    colour: str = BAR,
    highlight: Sequence[int] = (),
    width: int = 380,
) -> str:
    """A horizontal bar chart: one labelled bar per item, the value (and its share of `total`
    when given) at the end of the bar. Returns a ``<figure>``."""
    max_chars = 26  # longer labels are cut with an ellipsis (the full text is a tooltip)
    longest = min(max_chars, max((len(k) for k, _ in items), default=4))
    label_w = max(60, int(6.9 * longest) + 12)
    bar_h, gap, top = 18, 7, 6
    height = top + len(items) * (bar_h + gap) + 4
    values = [max(0.0, float(v)) if pd.notna(v) else 0.0 for _, v in items]
    biggest = max(values, default=0.0) or 1.0
    room = width - label_w - 90
    parts = [_svg_open(width, height, title)]
    for i, ((name, _), v) in enumerate(zip(items, values, strict=True)):
        y = top + i * (bar_h + gap)
        w = room * v / biggest
        fill = BAR_ALT if i in highlight else colour
        share = f" ({100 * v / total:.0f}%)" if total else ""
        shown = name if len(name) <= max_chars else name[: max_chars - 1] + "\u2026"
        parts.append(
            f"<text x='{label_w - 6}' y='{y + bar_h * 0.72:.1f}' text-anchor='end' "
            f"font-size='12' fill='{TEXT}'><title>{esc(name)}</title>{esc(shown)}</text>"
            f"<rect x='{label_w}' y='{y}' width='{w:.1f}' height='{bar_h}' fill='{fill}'/>"
            f"<text x='{label_w + w + 5:.1f}' y='{y + bar_h * 0.72:.1f}' font-size='12' "
            f"fill='{TEXT}'>{esc(value_fmt(v))}{esc(share)}</text>"
        )
    parts.append(f"<line x1='{label_w}' y1='{top - 2}' x2='{label_w}' y2='{height - 2}' "
                 f"stroke='{MUTED}' stroke-width='1'/></svg>")
    caption = f"<figcaption><b>{esc(title)}</b>"
    caption += f"<span class='chart-note'>{esc(note)}</span>" if note else ""
    return f"<figure class='chart'>{caption}</figcaption>{''.join(parts)}</figure>"


def column_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    note: str = "",
    colour: str = BAR,
    width: int = 700,
    height: int = 190,
) -> str:
    """A column chart (e.g. episodes by month), values above the columns. Returns a
    ``<figure>``."""
    values = [max(0.0, float(v)) if pd.notna(v) else 0.0 for _, v in items]
    n = max(1, len(items))
    left, right, top, bottom = 8, 8, 18, 34
    plot_w = width - left - right
    plot_h = height - top - bottom
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    biggest = max(values, default=0.0) or 1.0
    step = max(1, int(np.ceil(n / 18)))  # thin the labels when there are many columns
    parts = [_svg_open(width, height, title)]
    for i, ((name, _), v) in enumerate(zip(items, values, strict=True)):
        h = plot_h * v / biggest
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h - h
        parts.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{bar_w:.1f}' height='{h:.1f}' "
                     f"fill='{colour}'/>")
        if n <= 24:
            parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{y - 4:.1f}' text-anchor='middle' "
                         f"font-size='11' fill='{TEXT}'>{esc(fmt_int(v))}</text>")
        if i % step == 0:
            parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{top + plot_h + 15}' "
                         f"text-anchor='middle' font-size='11' fill='{TEXT}'>{esc(name)}</text>")
    parts.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{width - right}' "
                 f"y2='{top + plot_h}' stroke='{MUTED}' stroke-width='1'/></svg>")
    caption = f"<figcaption><b>{esc(title)}</b>"
    caption += f"<span class='chart-note'>{esc(note)}</span>" if note else ""
    return f"<figure class='chart chart-wide'>{caption}</figcaption>{''.join(parts)}</figure>"


# --------------------------------------------------------------------------------------------
# Static overview map
# --------------------------------------------------------------------------------------------


def _path_d(geom: shapely.Geometry, tx: Callable[[np.ndarray], np.ndarray]) -> str:
    parts: list[str] = []
    polys = getattr(geom, "geoms", [geom])
    for poly in polys:
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in [poly.exterior, *poly.interiors]:
            pts = tx(np.asarray(ring.coords)[:, :2])
            if len(pts) < 3:
                continue
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f"M{coords}Z")
    return "".join(parts)


def _line_d(geom: shapely.Geometry, tx: Callable[[np.ndarray], np.ndarray]) -> str:
    parts: list[str] = []
    lines = getattr(geom, "geoms", [geom])
    for line in lines:
        if line.is_empty:
            continue
        if line.geom_type in ("Polygon", "MultiPolygon"):
            parts.append(_path_d(line, tx))
            continue
        pts = tx(np.asarray(line.coords)[:, :2])
        parts.append("M" + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts))
    return "".join(parts)


def overview_map(
    wards: gpd.GeoDataFrame,
    ward_classes: Sequence[int],
    palette: Sequence[str],
    lpas: gpd.GeoDataFrame,
    hotspots: gpd.GeoDataFrame,
    labels: Sequence[PlaceLabel],
    *,
    title: str,
    width: int = 640,
    max_dots: int = 300,
    centres: bool = True,
) -> str:
    """A printable map: wards shaded by class, LPA outlines, a dot per hotspot (the
    `max_dots` largest, area proportional to episodes) and place names. Returns ``<svg>``.

    Without `centres` (or without the centroid columns) the hotspots' own shapes are drawn
    instead of dots at their centres."""
    w_bng = wards.to_crs(s.BNG)
    minx, miny, maxx, maxy = w_bng.total_bounds
    pad = 0.02 * max(maxx - minx, maxy - miny)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    scale = width / (maxx - minx)
    height = (maxy - miny) * scale

    def tx(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([(xy[:, 0] - minx) * scale, (maxy - xy[:, 1]) * scale])

    tol = 1.2 / scale  # about a pixel
    geoms = np.asarray(w_bng.geometry.values)
    try:
        simple = shapely.coverage_simplify(geoms, tol)
    except Exception:  # invalid coverage: simplify each ward on its own
        simple = shapely.simplify(geoms, tol, preserve_topology=True)
    parts = [_svg_open(width, height, title).replace("class='chart-svg'", "class='map-svg'")]
    parts.append(f"<rect width='{width}' height='{height:.1f}' fill='{style.BACKGROUND}'/>")
    for geom, k in zip(simple, ward_classes, strict=True):
        parts.append(f"<path d='{_path_d(geom, tx)}' fill='{palette[k]}' stroke='"
                     f"{style.WARD_LINE}' stroke-width='0.4'/>")
    l_bng = lpas.to_crs(s.BNG)
    for geom in l_bng.geometry.simplify(tol):
        parts.append(f"<path d='{_line_d(geom.boundary, tx)}' fill='none' "
                     f"stroke='{style.LPA_LINE}' stroke-width='2.2' stroke-linejoin='round'/>")
    centres = centres and {"centroid_lat", "centroid_lon"} <= set(hotspots.columns)
    if len(hotspots) and not centres:
        for geom in hotspots.to_crs(s.BNG).geometry.simplify(tol):
            if geom is not None and not geom.is_empty:
                parts.append(f"<path d='{_path_d(geom, tx)}' fill='{style.HOTSPOT_FILL}' "
                             f"fill-opacity='0.7' stroke='{style.HOTSPOT_LINE}' "
                             "stroke-width='0.8'/>")
    elif len(hotspots):
        spots = hotspots.sort_values("episodes", ascending=False, kind="stable").head(max_dots)
        pts = gpd.GeoSeries(gpd.points_from_xy(spots["centroid_lon"], spots["centroid_lat"]),
                            crs=s.WGS84).to_crs(s.BNG)
        xy = tx(np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()]))
        e = pd.to_numeric(spots["episodes"], errors="coerce").fillna(0).to_numpy()
        r = 2 + 9 * np.sqrt(e / max(1.0, float(e.max())))
        for (x, y), rad in sorted(zip(xy, r, strict=True), key=lambda t: -t[1]):
            parts.append(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{rad:.1f}' "
                         f"fill='{style.HOTSPOT_FILL}' fill-opacity='0.75' "
                         f"stroke='{style.HOTSPOT_LINE}' stroke-width='0.8'/>")
    if labels:
        lab = gpd.GeoSeries(gpd.points_from_xy([p.lon for p in labels], [p.lat for p in labels]),
                            crs=s.WGS84).to_crs(s.BNG)
        xy = tx(np.column_stack([lab.x.to_numpy(), lab.y.to_numpy()]))
        for p, (x, y) in zip(labels, xy, strict=True):
            size = 13 if p.rank == 1 else 11
            half = 0.3 * size * len(p.name) + 3  # about half the label's width
            x = min(max(x, half), width - half)
            parts.append(f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='middle' "
                         f"dominant-baseline='middle' font-size='{size}' font-weight='600' "
                         f"fill='{TEXT}' stroke='#ffffff' stroke-width='3' "
                         f"paint-order='stroke' stroke-linejoin='round'>{esc(p.name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def ward_count_text(n: int) -> str:
    return f"{fmt_int(n)} ward{'s' if n != 1 else ''}"
