"""The interactive map: a self-contained Folium page with LPAs, a ward choropleth and hotspots.

`render_map` builds the `folium.Map`; `write_map` renders it, makes it self-contained (no CDN,
no tiles: see `maps.offline`) and writes it. No analysis happens here: everything drawn comes
from a `geo.pipeline.AnalysisResult`.

Privacy: nothing about an individual child is drawn. Tooltips hold area and hotspot counts
only; no child id, no episode location. Every user-supplied text (area names from boundary
files, titles) is HTML-escaped before it reaches the page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.pipeline import AnalysisResult
from maps import style
from maps.offline import make_self_contained

__all__ = ["MapContext", "class_breaks", "render_map", "write_map"]


@dataclass(frozen=True)
class MapContext:
    """What the map shows besides the analysis: boundaries and their credits, and the title."""

    wards: gpd.GeoDataFrame
    lpas: gpd.GeoDataFrame
    attribution: Sequence[str]
    boundary_name: str
    boundary_vintage: str
    title: str = "Missing episodes: hotspots"


def class_breaks(values: Sequence[float] | np.ndarray, k: int = 5) -> list[int]:
    """Upper bounds of up to `k` classes for a count choropleth (0 is always its own class).

    The scheme: nested quantiles of the non-zero counts, rounded up to whole episodes and made
    unique, so each class holds roughly the same number of areas with any episode. Returns the
    upper bound of each non-zero class; the last is the maximum.
    """
    arr = np.asarray(values, dtype=float)
    positive = np.sort(arr[arr > 0])
    if len(positive) == 0:
        return []
    n = len(positive)
    # the i-th k-quantile by the inverted CDF, in integer arithmetic (no float rounding)
    picks = [positive[(i * n + k - 1) // k - 1] for i in range(1, k + 1)]
    return sorted({int(np.ceil(q)) for q in picks})


def _class_of(value: float, breaks: Sequence[int]) -> int:
    if value <= 0:
        return 0
    for i, upper in enumerate(breaks, start=1):
        if value <= upper:
            return i
    return len(breaks)


def _class_labels(breaks: Sequence[int]) -> list[str]:
    labels = ["0"]
    lower = 1
    for upper in breaks:
        labels.append(f"{lower}" if lower == upper else f"{lower}\u2013{upper}")
        lower = upper + 1
    return labels


def _esc(value: object) -> str:
    """HTML-escape user text; also ` and $ so it is inert inside folium's JS template strings."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def _tip(title: str, rows: Sequence[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<div class='hs-tip'><b>{_esc(title)}</b><table>{body}</table></div>"


def _geojson(frame: gpd.GeoDataFrame, props: pd.DataFrame, digits: int = 5) -> dict[str, object]:
    """A GeoJSON FeatureCollection with only the given (already escaped) properties.

    Coordinates are rounded to `digits` decimals (5: about 1 m), which keeps the page small.
    """
    geoms = shapely.transform(
        np.asarray(frame.geometry.to_crs(s.WGS84).values), lambda c: np.round(c, digits)
    )
    collection = json.loads(gpd.GeoSeries(geoms, crs=s.WGS84).to_json(drop_id=True))
    records = props.to_dict(orient="records")
    for feature, record in zip(collection["features"], records, strict=True):
        feature["properties"] = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()
        }
    return collection


def render_map(result: AnalysisResult, context: MapContext) -> folium.Map:
    """Build the map: LPA outlines, ward choropleth of episodes, hotspot hulls, legends."""
    wards = context.wards.to_crs(s.WGS84)
    minx, miny, maxx, maxy = wards.total_bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        tiles=None,
        zoom_start=10,
        control_scale=True,
        prefer_canvas=False,
    )
    m.options["max_zoom"] = 18
    m.options["min_zoom"] = 7
    m.options["zoom_snap"] = 0.25  # fit the whole area, not the nearest whole zoom level
    m.options["zoom_delta"] = 0.5
    m.fit_bounds([[miny, minx], [maxy, maxx]])

    ward_table = result.localities["ward"].set_index(s.WARD_CODE)
    counts = wards[s.WARD_CODE].map(ward_table["episodes"]).fillna(0).astype(int)
    breaks = class_breaks(counts.to_numpy())
    classes = [_class_of(v, breaks) for v in counts]
    palette = style.sequential(len(breaks) + 1)
    ward_props = pd.DataFrame(
        {
            "fill": [palette[c] for c in classes],
            "tip": [
                _tip(
                    f"{row[s.WARD_NAME]} ({row[s.WARD_CODE]})",
                    [
                        ("District", row[s.LAD_NAME]),
                        ("LPA", row[s.LPA_NAME]),
                        ("Episodes", int(ward_table.at[row[s.WARD_CODE], "episodes"])),
                        ("Children", int(ward_table.at[row[s.WARD_CODE], "children"])),
                        (
                            "Repeat children (2+)",
                            int(ward_table.at[row[s.WARD_CODE], "repeat_children"]),
                        ),
                    ],
                )
                for _, row in wards.iterrows()
            ],
        }
    )
    ward_layer = folium.FeatureGroup(name="Wards: episodes (choropleth)", show=True)
    folium.GeoJson(
        _geojson(wards, ward_props),
        style_function=lambda f: {
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.75,
            "color": style.WARD_LINE,
            "weight": 0.6,
        },
        highlight_function=lambda _: {"weight": 2.5, "color": style.HIGHLIGHT},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        name="wards",
    ).add_to(ward_layer)
    ward_layer.add_to(m)

    lpa_table = result.localities["lpa"].set_index(s.LPA_NAME)
    lpas = context.lpas.to_crs(s.WGS84)
    lpa_props = pd.DataFrame(
        {
            "tip": [
                _tip(
                    f"LPA: {name}",
                    [
                        ("Episodes", int(lpa_table.at[name, "episodes"])
                         if name in lpa_table.index else 0),
                        ("Children", int(lpa_table.at[name, "children"])
                         if name in lpa_table.index else 0),
                    ],
                )
                for name in lpas[s.LPA_NAME]
            ]
        }
    )
    lpa_layer = folium.FeatureGroup(name="Local Police Areas (outlines)", show=True)
    folium.GeoJson(
        _geojson(lpas, lpa_props),
        style_function=lambda _: {
            "fill": False,
            "color": style.LPA_LINE,
            "weight": 3,
            "opacity": 0.9,
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        name="lpas",
    ).add_to(lpa_layer)
    lpa_layer.add_to(m)

    hotspots = result.hotspots
    spot_layer = folium.FeatureGroup(name="Hotspots (DBSCAN hulls)", show=True)
    if not hotspots.empty:
        home_cols = [c for c in hotspots.columns if c.startswith("homes_")]
        spot_props = pd.DataFrame(
            {
                "tip": [
                    _tip(
                        f"Hotspot {row[s.HOTSPOT_ID]}",
                        [
                            ("Episodes", int(row["episodes"])),
                            ("Children", int(row["children"])),
                            ("Repeat children (2+)", int(row["repeat_children"])),
                            ("Distinct locations", int(row["locations"])),
                            ("LPA", row[s.LPA_NAME]),
                            ("Main ward", row[s.WARD_NAME]),
                            *(
                                (f"Homes nearby: {c.removeprefix('homes_').replace('_', '-')}",
                                 int(row[c]))
                                for c in home_cols
                            ),
                        ],
                    )
                    for _, row in hotspots.iterrows()
                ],
                "size": hotspots["episodes"].astype(int).to_numpy(),
            }
        )
        folium.GeoJson(
            _geojson(hotspots, spot_props),
            style_function=lambda _: {
                "fillColor": style.HOTSPOT_FILL,
                "fillOpacity": 0.45,
                "color": style.HOTSPOT_LINE,
                "weight": 2,
            },
            highlight_function=lambda _: {"weight": 4},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
            popup=folium.GeoJsonPopup(fields=["tip"], labels=False),
            name="hotspots",
        ).add_to(spot_layer)
        # A dot at each hotspot's centre, sized by episodes, so small hulls show at county
        # zoom. One GeoJson layer for all dots: the page stays small with thousands of them.
        biggest = max(1, int(hotspots["episodes"].max()))
        centres = gpd.GeoDataFrame(
            geometry=gpd.points_from_xy(hotspots["centroid_lon"], hotspots["centroid_lat"]),
            crs=s.WGS84,
        )
        dot_props = spot_props.assign(
            radius=np.round(4 + 10 * np.sqrt(spot_props["size"] / biggest), 1)
        )
        folium.GeoJson(
            _geojson(centres, dot_props),
            marker=folium.CircleMarker(
                radius=6, color=style.HOTSPOT_LINE, weight=1.5, fill=True,
                fill_color=style.HOTSPOT_FILL, fill_opacity=0.6,
            ),
            style_function=lambda f: {"radius": f["properties"]["radius"]},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
            name="hotspot_centres",
        ).add_to(spot_layer)
    spot_layer.add_to(m)

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.get_root().header.add_child(folium.Element(style.CSS))
    m.get_root().html.add_child(
        folium.Element(_title_html(result, context))
    )
    m.get_root().html.add_child(
        folium.Element(_legend_html(breaks, palette, len(hotspots)))
    )
    m.get_root().html.add_child(folium.Element(_footer_html(result, context)))
    return m


def _title_html(result: AnalysisResult, context: MapContext) -> str:
    c = result.counts
    first, last = c.get("missing_from_first"), c.get("missing_from_last")
    period = (
        str(result.config.period)
        if result.config.period
        else (f"{str(first)[:10]} to {str(last)[:10]}" if first else "no mapped episodes")
    )
    return (
        "<div class='hs-panel hs-title'>"
        f"<h1>{_esc(context.title)}</h1>"
        f"<div>Episodes starting {_esc(period)} · {c['mapped']:,} mapped of {c['read']:,} "
        f"read · {c['hotspots']} hotspots</div>"
        "</div>"
    )


def _legend_html(breaks: Sequence[int], palette: Sequence[str], n_hotspots: int) -> str:
    rows = "".join(
        f"<div><span class='hs-swatch' style='background:{palette[i]}'></span>{_esc(label)}</div>"
        for i, label in enumerate(_class_labels(breaks))
    )
    return (
        "<div class='hs-panel hs-legend'>"
        "<b>Episodes per ward</b>"
        f"{rows}"
        "<div class='hs-gap'><span class='hs-swatch hs-hotspot'></span>"
        f"Hotspot ({n_hotspots})</div>"
        "<div><span class='hs-swatch hs-lpa'></span>LPA boundary</div>"
        "</div>"
    )


def _footer_html(result: AnalysisResult, context: MapContext) -> str:
    cfg = result.config
    c = result.counts
    precision = {
        "coordinates": "coordinates only",
        "postcode": "coordinates and full postcodes",
        "sector": "coordinates, full postcodes and postcode sectors",
        "district": "every mapped location",
    }[cfg.hotspot_precision]
    method = (
        f"Hotspots: DBSCAN in metres (British National Grid), eps {cfg.eps_m:g} m, at least "
        f"{cfg.min_samples} episodes within eps of a core location, from {precision} "
        f"(coarser locations count in the ward totals only). Read {c['read']:,}: "
        f"mapped {c['mapped']:,}, rejected {c['rejected']:,}, outside the area "
        f"{c['outside_area']:,}. Ward classes: quantiles of wards with any episode."
    )
    credits = " · ".join(_esc(line) for line in context.attribution)
    return (
        "<div class='hs-panel hs-footer'>"
        f"<div>{_esc(method)}</div>"
        f"<div>Boundaries: {_esc(context.boundary_name)}, {_esc(context.boundary_vintage)}. "
        f"{credits}</div>"
        "</div>"
    )


def write_map(result: AnalysisResult, context: MapContext, path: Path) -> Path:
    """Render the map, make it self-contained (no network), and write it to `path`."""
    m = render_map(result, context)
    page = make_self_contained(m.get_root().render())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
