"""The meeting map: one self-contained HTML page (Leaflet via folium) that loads nothing.

What it shows (each layer toggled in the layer control, each with its own legend, shown only
while the layer is on):

- a **basemap** drawn from the boundary set itself (no tiles): the county's land, ward and
  district lines and the county outline, plus **place names** (the main towns for the bundled
  Oxfordshire set, else district names; `maps.places`);
- **ward shading** (radio buttons: episodes, children, a rate column such as
  ``episodes_per_10k`` when the locality table has one, or none), classed by nested quantiles
  (`class_breaks`);
- **Local Police Area** outlines;
- **hotspots**: DBSCAN hulls and a dot at each centre, coloured by episodes, with a popup
  (episodes, children, homes nearby by type, LPA, what drives it when the table says);
- **homes** from the homes register, by type (``show_homes``; names only with
  ``show_home_names``);
- **episode density**: a Gaussian kernel density in metres (`geo.density`) drawn as a classed
  image (a PNG ``data:`` URI);
- **episode locations**, counted per grid square (never one marker per episode, never at an
  address), at most `MAX_LOCATION_SQUARES` squares;
- with ``MapContext.evidence`` (`geo.context.build_evidence`), the **Gi* hot spots**: the grid
  squares of the Getis-Ord Gi* test that are significant hot spots (false discovery rate),
  drawn as squares, and the hotspot popups give each hotspot's verdict (robust / stable only /
  fragile), the share of re-runs in which it was found again and whether it rests on one child.

Online tiles are opt-in (``MapContext.tiles``): the page then requests tiles, which tells the
tile server which area is being looked at; `tiles_warning` says so, and the offline check lets
exactly that tile URL template through and nothing else.

All user text is HTML-escaped (`_esc`). Geometry is rounded to 5 decimals (about 1 m) and
hotspot hulls simplified by 2 m, so a million episodes make a page of a few megabytes.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.map import Layer
from folium.template import Template

from geo import schema as s
from geo.cluster import unique_sorted
from geo.density import episode_density
from geo.errors import ParameterError
from geo.pipeline import AnalysisResult
from maps import style
from maps.js import HS_LIB
from maps.offline import make_self_contained
from maps.places import OXFORDSHIRE_TOWNS, PlaceLabel, place_labels
from maps.raster import density_png
from maps.text import (
    PRECISION_TEXT,
    abridge_ids,
    area_label,
    cluster_method,
    data_as_of,
    esc,
    fmt_int,
    fmt_pct,
    hotspot_rule,
    hotspot_short,
    period_text,
    run_notes,
)

if TYPE_CHECKING:  # geo.context imports esda and libpysal: only when evidence is built
    from geo.context import Evidence

__all__ = [
    "GI_LAYER_NAME",
    "MAX_LOCATION_SQUARES",
    "MapContext",
    "TilesPrivacyWarning",
    "class_breaks",
    "map_html",
    "render_map",
    "tile_provider",
    "tiles_warning",
    "write_map",
]

MAX_LOCATION_SQUARES = 2000  # episode-location squares drawn at most
LOCATION_SQUARE_M = 100  # first square size tried; doubled until few enough squares
MAX_HOTSPOTS_DRAWN = 5000
MAX_HOMES_DRAWN = 5000
MAX_GI_CELLS_DRAWN = 5000
GI_LAYER_NAME = "Gi* hot spots (grid squares)"
DENSITY_SHARES = (0.25, 0.5, 0.75, 0.9)
HULL_SIMPLIFY_M = 2.0


@dataclass(frozen=True)
class MapContext:
    """What the map and report show besides the analysis, and how.

    Only the first five fields are required; the rest have safe defaults.

    Attributes
    ----------
    wards, lpas
        The boundary set's ward and LPA polygons (any CRS).
    attribution
        Lines printed on every map and report (licence credits).
    boundary_name, boundary_vintage
        E.g. ``oxfordshire-2019``, ``December 2019``.
    title
        The map's heading.
    districts
        District polygons; default: dissolved from the wards.
    area_name
        E.g. ``Oxfordshire``; default: from `boundary_name`.
    place_labels
        Labels for the basemap; default: `maps.places.place_labels`.
    tiles
        ``None`` (default, offline), or an online background such as ``"OpenStreetMap"``
        (any xyzservices provider name that needs no API key). See `tiles_warning`.
    show_homes
        Draw the homes register (when the run had one). Default true.
    show_home_names
        Show home names and ids in the homes' tooltips. Default false.
    density_bandwidth_m
        Bandwidth of the kernel density; default the run's ``eps_m``.
    focus_lpa
        The LPA whose wards the report tabulates; default ``result.config.focus_lpa`` if the
        config has one, else "Cherwell and West Oxfordshire" when present, else the LPA with
        the most episodes.
    show_hotspot_centres
        Draw a dot at each hotspot's centre (the mean of its episodes' positions: for a
        one-address hotspot, the address). Default true; also needs the `centroid_lat` /
        `centroid_lon` columns (a public hotspot table has none).
    show_locations
        Draw the layers made from episode positions: the density surface and the episode
        counts per grid square. Default true; a public map turns them off.
    evidence
        The evidence for the panel (`geo.context.build_evidence`), or ``None`` (default).
        With it the map has a "Gi* hot spots" layer (the significant hot cells of the Gi*
        grid, as squares), the hotspot popups give the evidence verdict, the share of re-runs
        in which the hotspot was found again and whether it rests on one child, and the
        method panel carries the evidence sentences; the report gains its "Evidence for the
        panel" section.
    """

    wards: gpd.GeoDataFrame
    lpas: gpd.GeoDataFrame
    attribution: Sequence[str]
    boundary_name: str
    boundary_vintage: str
    title: str = "Missing episodes: hotspots"
    districts: gpd.GeoDataFrame | None = None
    area_name: str | None = None
    place_labels: Sequence[PlaceLabel] | None = None
    tiles: str | None = None
    show_homes: bool = True
    show_home_names: bool = False
    density_bandwidth_m: float | None = None
    focus_lpa: str | None = None
    show_hotspot_centres: bool = True
    show_locations: bool = True
    evidence: Evidence | None = None

    def __post_init__(self) -> None:
        if self.tiles is not None:
            tile_provider(self.tiles)  # fail early on an unknown or keyed provider
        bw = self.density_bandwidth_m
        if bw is not None and (not math.isfinite(bw) or bw <= 0):
            raise ParameterError(f"density_bandwidth_m must be a positive number of metres, "
                                 f"got {bw!r}.")


# --------------------------------------------------------------------------------------------
# Online tiles (opt-in)
# --------------------------------------------------------------------------------------------

_TILE_ALIASES = {
    "openstreetmap": "OpenStreetMap.Mapnik",
    "osm": "OpenStreetMap.Mapnik",
    "cartodb": "CartoDB.Positron",
    "cartodb positron": "CartoDB.Positron",
    "cartodbpositron": "CartoDB.Positron",
}


class TilesPrivacyWarning(UserWarning):
    """The map will request background tiles from an online server."""


def tile_provider(name: str):  # noqa: ANN201 - xyzservices.TileProvider
    """The xyzservices provider for `name` (``OpenStreetMap``, ``CartoDB`` or any provider
    name such as ``Esri.WorldGrayCanvas``). Raises `ParameterError` for an unknown name or a
    provider that needs an API key (a key in a shared HTML file would be given away)."""
    import xyzservices

    key = _TILE_ALIASES.get(name.strip().lower(), name.strip())
    try:
        provider = xyzservices.providers.query_name(key)
    except ValueError:
        raise ParameterError(
            f"Unknown tile provider {name!r}. Use OpenStreetMap, or an xyzservices provider "
            "name such as Esri.WorldGrayCanvas; leave it out for the offline map."
        ) from None
    if provider.requires_token():
        raise ParameterError(
            f"The tile provider {provider.name} needs an API key, which would be written into "
            "the HTML file for anyone it is shared with. Use OpenStreetMap, another provider "
            "that needs no key, or the offline map (the default)."
        )
    return provider


def tile_url(name: str) -> str:
    """The tile URL template that a map with ``tiles=name`` requests, exactly as written."""
    return tile_provider(name).build_url(fill_subdomain=False, scale_factor="")


def tiles_warning(name: str) -> str:
    """The privacy warning to print when a map uses online tiles."""
    provider = tile_provider(name)
    host = re.sub(r"^https?://([^/]+)/.*$", r"\1", tile_url(name))
    return (
        f"Warning: the map will load background tiles from {host} ({provider.name}). Each "
        "time it is opened with a network connection, the tile server learns the viewer's "
        "IP address and which part of the map is being looked at (the area of interest). "
        "No episode data is sent. Leave out the tiles option for a fully offline map."
    )


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------


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


def rate_breaks(values: Sequence[float] | np.ndarray, k: int = 5) -> list[float]:
    """`class_breaks` for a rate: the same nested quantiles, rounded up to 2 significant
    digits instead of whole numbers."""
    arr = np.asarray(values, dtype=float)
    positive = np.sort(arr[np.isfinite(arr) & (arr > 0)])
    if len(positive) == 0:
        return []
    n = len(positive)
    picks = [positive[(i * n + k - 1) // k - 1] for i in range(1, k + 1)]
    out = []
    for q in picks:
        digits = 1 - math.floor(math.log10(q))
        out.append(math.ceil(q * 10**digits) / 10**digits)
    return sorted(set(out))


def class_of(value: float, breaks: Sequence[float]) -> int:
    if not value > 0:  # 0, negative or NaN
        return 0
    for i, upper in enumerate(breaks, start=1):
        if value <= upper:
            return i
    return len(breaks)


def class_labels(breaks: Sequence[int], lowest: int = 1) -> list[str]:
    """``["0", "1-11", "12-26", ...]`` (with en dashes): 0, then each class from the previous
    upper bound + 1 (the first from `lowest`) to its own."""
    labels = ["0"]
    lower = lowest
    for upper in breaks:
        labels.append(f"{lower:,}" if lower == upper else f"{lower:,}\u2013{upper:,}")
        lower = upper + 1
    return labels


def rate_labels(breaks: Sequence[float]) -> list[str]:
    labels = ["0"]
    lower = 0.0
    for upper in breaks:
        labels.append(f"over {lower:g} to {upper:g}" if lower else f"up to {upper:g}")
        lower = upper
    return labels


def _esc(value: object) -> str:
    """HTML-escape user text; also ` and $ so it is inert inside folium's JS template strings."""
    return esc(value)


# Population rates: episodes_per_10k, children_per_10k, episodes_per_1000_children... (not
# episodes_per_child, nor the homes' episodes_per_place)
RATE_COLUMN_RE = re.compile(r"^(?:episodes|children)_per_\d+k?(?:_[a-z0-9_]+)?$")


def rate_label(column: str) -> str:
    """``episodes_per_10k`` -> ``Episodes per 10,000``."""
    what, _, rest = column.partition("_per_")
    rest = re.sub(r"^(\d+)k(?=_|$)", lambda m: f"{int(m[1]) * 1000:,}", rest)
    rest = re.sub(r"^(\d+)(?=_|$)", lambda m: f"{int(m[1]):,}", rest)
    return f"{what.capitalize()} per " + rest.replace("_", " ")


def ward_measures(ward_table: pd.DataFrame) -> list[tuple[str, str, bool]]:
    """The ward shadings offered: ``(column, label, is_count)``: episodes, children, and every
    population rate column present with at least one value (``episodes_per_10k``,
    ``children_per_10k``...), in that order."""
    measures = [("episodes", "Episodes", True), ("children", "Children", True)]
    for col in ward_table.columns:
        if not RATE_COLUMN_RE.match(str(col)):
            continue
        values = pd.to_numeric(ward_table[col], errors="coerce")
        if values.notna().any():
            measures.append((str(col), rate_label(str(col)), False))
    return measures


# --------------------------------------------------------------------------------------------
# GeoJSON and JSON helpers
# --------------------------------------------------------------------------------------------


def _geojson(frame: gpd.GeoDataFrame, props: Sequence[dict[str, object]] | None = None,
             digits: int = 5) -> dict[str, object]:
    """A FeatureCollection in WGS84 with the given properties (already escaped), coordinates
    rounded to `digits` decimals (5: about 1 m)."""
    geoms = shapely.transform(
        np.asarray(frame.geometry.to_crs(s.WGS84).values), lambda c: np.round(c, digits)
    )
    collection = json.loads(gpd.GeoSeries(geoms, crs=s.WGS84).to_json(drop_id=True))
    records = props if props is not None else [{} for _ in range(len(frame))]
    for feature, record in zip(collection["features"], records, strict=True):
        feature["properties"] = record
        feature.pop("bbox", None)
    collection.pop("bbox", None)
    return collection


def _num(value: object) -> object:
    """A JSON-friendly number: ints stay ints, floats are rounded, NaN becomes null."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else round(value, 2)
    return value


def _script_json(data: object) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class _Script(MacroElement):
    """Raw JavaScript placed in the map's script, in the order the element was added."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "HsScript"
        self.code = code


class _JsLayer(Layer):
    """A layer built by a JavaScript expression (``HS.hotspots()``...), listed in the control."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "var {{ this.get_name() }} = {{ this.expr }};"
        "{% endmacro %}"
    )

    def __init__(self, expr: str, *, name: str, overlay: bool = True, control: bool = True,
                 show: bool = True) -> None:
        super().__init__(name=name, overlay=overlay, control=control, show=show)
        self._name = "HsLayer"
        self.expr = expr


# --------------------------------------------------------------------------------------------
# Layer data
# --------------------------------------------------------------------------------------------


@dataclass
class _Legend:
    key: str
    html: str


def _districts(context: MapContext) -> gpd.GeoDataFrame:
    if context.districts is not None and not context.districts.empty:
        return context.districts.to_crs(s.WGS84)
    wards = context.wards.to_crs(s.WGS84)
    key = s.LAD_CODE if s.LAD_CODE in wards.columns else s.LAD_NAME
    return wards[[key, "geometry"]].dissolve(by=key, as_index=False)


def _ward_data(result: AnalysisResult, wards: gpd.GeoDataFrame
               ) -> tuple[dict[str, object], list[dict[str, object]], list[_Legend]]:
    table = result.localities["ward"].drop_duplicates(s.WARD_CODE).set_index(s.WARD_CODE)
    table = table.reindex(wards[s.WARD_CODE].astype(str))
    measures = ward_measures(table)
    legends: list[_Legend] = []
    specs: list[dict[str, object]] = []
    classes: list[list[int]] = []
    values: list[list[object]] = []
    for j, (col, label, is_count) in enumerate(measures):
        vals = pd.to_numeric(table[col], errors="coerce")
        if is_count:
            vals = vals.fillna(0)
            breaks: list[float] = list(class_breaks(vals.to_numpy()))
            labels = class_labels([int(b) for b in breaks])
            scheme = ("Classes: quantiles of the wards with any (about as many wards in "
                      "each class); 0 is its own class.")
        else:
            breaks = rate_breaks(vals.to_numpy())
            labels = rate_labels(breaks)
            scheme = ("Classes: quantiles of the wards with a rate above 0 (about as many "
                      "wards in each class); blank rates show as 0.")
        palette = style.sequential(len(breaks) + 1)
        classes.append([class_of(float(v), breaks) for v in vals.to_numpy()])
        values.append([_num(v) for v in vals.to_numpy()])
        specs.append({"label": label, "colours": palette})
        rows = "".join(
            f"<div class='hs-row'><span class='hs-swatch' style='background:{palette[i]}'>"
            f"</span>{_esc(text)}</div>"
            for i, text in enumerate(labels)
        )
        legends.append(_Legend(f"wards{j}", f"<h2>Wards: {_esc(label.lower())}</h2>{rows}"
                                            f"<div class='hs-note'>{_esc(scheme)}</div>"))
    props = []
    repeat = pd.to_numeric(table.get("repeat_children"), errors="coerce")
    in_spots = pd.to_numeric(table.get("hotspot_episodes"), errors="coerce")
    for i, (_, row) in enumerate(wards.iterrows()):
        props.append({
            "n": _esc(row[s.WARD_NAME]),
            "c": _esc(row[s.WARD_CODE]),
            "d": _esc(row.get(s.LAD_NAME, "")),
            "l": _esc(row.get(s.LPA_NAME, "")),
            "v": [values[j][i] for j in range(len(measures))],
            "k": [classes[j][i] for j in range(len(measures))],
            "r": _num(repeat.iloc[i]) if repeat is not None else None,
            "h": _num(in_spots.iloc[i]) if in_spots is not None else None,
        })
    return {"measures": specs}, props, legends


EVIDENCE_LABELS = {
    "robust": "robust",
    "stable_only": "stable only",
    "fragile": "fragile",
    "not_tested": "not tested",
}
EVIDENCE_MEANINGS = {
    "robust": "overlaps a Gi* hot spot and is found again in at least 80% of the re-runs on "
              "resampled children",
    "stable_only": "found again in at least 80% of the re-runs, but its neighbourhood is not "
                   "a Gi* hot spot (usually one busy address)",
    "fragile": "found again in fewer than 80% of the re-runs on resampled children: a "
               "possible rather than an established hotspot",
    "not_tested": "its stability was not tested (see the method notes)",
}


def check_evidence(result: AnalysisResult, evidence: Evidence | None) -> None:
    """Refuse evidence built for another analysis: every hotspot drawn must have a verdict
    (`ParameterError` naming the hotspots without one). Build the evidence from the same
    result (or one whose hotspot ids are the same, such as `geo.output.publish`'s)."""
    if evidence is None:
        return
    have = set(evidence.hotspot_evidence[s.HOTSPOT_ID].astype(str))
    missing = [h for h in result.hotspots[s.HOTSPOT_ID].astype(str) if h not in have]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5:,} more"
                                            if len(missing) > 5 else "")
        raise ParameterError(
            f"The evidence has no verdict for hotspot(s) {shown}: it was built for another "
            "analysis. Build it with geo.context.build_evidence on the result being drawn.")


def _evidence_by_spot(evidence: Evidence | None) -> dict[str, dict[str, object]]:
    """Per hotspot id: the popup's evidence fields (already escaped)."""
    if evidence is None:
        return {}
    table = evidence.hotspot_evidence
    runs = int(evidence.parameters.get("stability_runs") or 0)
    out: dict[str, dict[str, object]] = {}
    for _, row in table.iterrows():
        verdict = str(row["evidence"])
        stab = row.get("stability")
        share = (f"{float(stab):.0%} of {runs:,}" if runs and stab is not None
                 and not pd.isna(stab) else "not tested")
        gi = row.get("gi_significant")
        one = bool(row.get("rests_on_one_child")) if not pd.isna(
            row.get("rests_on_one_child")) else False
        out[str(row[s.HOTSPOT_ID])] = {
            "ev": _esc(verdict),  # a key of D.evidence (labels and meanings, written once)
            "stab": _esc(share),
            "gi": int(gi is not None and not pd.isna(gi) and bool(gi)),
            "one": int(one),
        }
    return out


def _evidence_words() -> dict[str, object]:
    """The verdict labels and meanings, and the yes/no words of the popups (escaped)."""
    return {
        "labels": {k: _esc(v) for k, v in EVIDENCE_LABELS.items()},
        "meanings": {k: _esc(v) for k, v in EVIDENCE_MEANINGS.items()},
        "one": ["no", _esc("yes: one child accounts for half or more of its episodes")],
        "gi": ["no", "yes"],
    }


MAX_SHARED_NAMED = 20  # hotspots named in the popup of an outline they share


def _one_outline_per_shape(hulls: gpd.GeoSeries, rows: list[dict[str, object]]) -> np.ndarray:
    """The hotspots whose outlines are drawn: one per distinct shape, the first (largest).

    Public hotspots are drawn as the wards (or grid cells) they touch, so many share one
    shape: drawn once each, they would stack hundreds of identical polygons (a million
    episodes made a 10 MB page). The drawn one's popup names the others in the same area.
    """
    keys = pd.Series(shapely.to_wkb(np.asarray(hulls.values)))
    first = ~keys.duplicated().to_numpy()
    codes = pd.factorize(keys)[0]
    drawn = np.flatnonzero(first)
    for code in np.flatnonzero(np.bincount(codes) > 1):
        members = np.flatnonzero(codes == code)
        others = [str(rows[i]["id"]) for i in members[1:]]
        named = ", ".join(others[:MAX_SHARED_NAMED])
        if len(others) > MAX_SHARED_NAMED:
            named += f" and {len(others) - MAX_SHARED_NAMED:,} more (see the hotspot table)"
        homes = rows[members[0]]["homes"]
        assert isinstance(homes, list)
        homes.append([_esc("Other hotspots drawn with the same outline"), named])
    return drawn


def _hotspot_data(result: AnalysisResult, centres: bool = True,
                  evidence: Evidence | None = None
                  ) -> tuple[dict[str, object], _Legend, int]:
    spots = result.hotspots
    by_spot = _evidence_by_spot(evidence)
    centres = centres and {"centroid_lat", "centroid_lon"} <= set(spots.columns)
    n_all = len(spots)
    if n_all > MAX_HOTSPOTS_DRAWN:
        spots = spots.sort_values("episodes", ascending=False, kind="stable").head(
            MAX_HOTSPOTS_DRAWN)
    episodes = pd.to_numeric(spots["episodes"], errors="coerce").fillna(0).astype(int)
    breaks = class_breaks(episodes.to_numpy(), k=4)
    colours = style.hotspot_colours(len(breaks))
    lowest = max(1, int(episodes.min())) if len(episodes) else 1
    labels = class_labels(breaks, lowest=lowest)[1:]
    home_cols = [c for c in spots.columns if str(c).startswith("homes_")]
    mapped = max(1, int(result.counts.get("mapped", 0) or 0))
    biggest = max(1, int(episodes.max())) if len(episodes) else 1
    eps = f"{result.config.eps_m:g}"
    rows = []
    for (_, row), e in zip(spots.iterrows(), episodes, strict=True):
        homes = [
            [_esc(f"Homes within {eps} m: "
                  + style.HOME_LABELS.get(c.removeprefix("homes_"),
                                          c.removeprefix("homes_").replace("_", " ")).lower()),
             _num(row[c])]
            for c in home_cols
        ]
        driver = row.get("driver") if "driver" in spots.columns else None
        trend = str(row.get("trend", "") or "") if "trend" in spots.columns else ""
        if trend and str(row.get("previous_hotspots", "") or ""):
            trend += f" (then {str(row.get('previous_hotspots')).replace(';', ', ')})"
        if trend:
            homes.append([_esc("Compared with the previous period"), _esc(trend)])
        rows.append({
            "id": _esc(row[s.HOTSPOT_ID]),
            "e": int(e),
            "pct": fmt_pct(int(e), mapped, 1),
            "c": _num(row.get("children")),
            "r": _num(row.get("repeat_children")),
            "loc": _num(row.get("locations")),
            "ha": _num(row.get("area_ha")),
            "lpa": _esc(row.get(s.LPA_NAME, "")),
            "lad": _esc(row.get(s.LAD_NAME, "")),
            "ward": _esc(row.get(s.WARD_NAME, "")),
            "homes": homes,
            "drv": _esc(driver) if isinstance(driver, str) and driver.strip() else "",
            "k": max(0, class_of(int(e), breaks) - 1),
            "lat": _coord(row.get("centroid_lat")) if centres else None,
            "lon": _coord(row.get("centroid_lon")) if centres else None,
            "rad": round(4 + 9 * math.sqrt(int(e) / biggest), 1),
            **by_spot.get(str(row[s.HOTSPOT_ID]), {}),
        })
    if len(spots):
        hulls = spots.to_crs(s.BNG).geometry.simplify(HULL_SIMPLIFY_M, preserve_topology=True)
        drawn = _one_outline_per_shape(hulls, rows)
        hull_frame = gpd.GeoDataFrame(geometry=hulls.iloc[drawn], crs=s.BNG)
        hull_json = _geojson(hull_frame, [{"i": int(i)} for i in drawn])
    else:
        hull_json = {"type": "FeatureCollection", "features": []}
    swatches = "".join(
        f"<div class='hs-row'><span class='hs-swatch' style='background:{colours[i]};"
        f"border-color:{style.HOTSPOT_LINE}'></span>{_esc(label)} episodes</div>"
        for i, label in enumerate(labels)
    )
    capped = (f" The {MAX_HOTSPOTS_DRAWN:,} largest of {n_all:,} are drawn."
              if n_all > len(spots) else "")
    note = (f"{n_all:,} hotspot{'s' if n_all != 1 else ''}: {hotspot_short(result.config)}. "
            "Outline and a dot at the centre; darker = more episodes (classes: nested "
            f"quantiles).{capped} Click one for its numbers.")
    if evidence is not None:
        counts = evidence.verdict_counts()
        parts = [f"{counts[k]:,} {EVIDENCE_LABELS[k]}" for k in EVIDENCE_LABELS if counts[k]]
        if parts:
            note += f" Evidence: {', '.join(parts)} (in each popup)."
    legend = _Legend("hotspots", f"<h2>Hotspots</h2>{swatches or ''}"
                                 f"<div class='hs-note'>{_esc(note)}</div>")
    data = {"spots": rows, "hulls": hull_json, "spotColours": colours or [style.HOTSPOT_FILL]}
    if evidence is not None:
        data["evidence"] = _evidence_words()
    return data, legend, n_all


def _home_data(result: AnalysisResult, context: MapContext
               ) -> tuple[dict[str, object] | None, _Legend | None, int]:
    homes = result.homes
    if homes is None or not context.show_homes:
        return None, None, 0
    usable = homes[homes[s.STATUS] == s.MAPPED] if s.STATUS in homes.columns else homes
    usable = usable[np.isfinite(pd.to_numeric(usable[s.LAT], errors="coerce"))]
    n_all = len(usable)
    usable = usable.head(MAX_HOMES_DRAWN)
    kinds = list(style.HOME_COLOURS)
    mapped = result.episodes[result.episodes[s.STATUS] == s.MAPPED]
    per_home = (mapped[s.HOME_ID].astype(str).value_counts()
                if s.HOME_ID in mapped.columns else pd.Series(dtype=int))
    rows = []
    for _, h in usable.iterrows():
        kind = str(h.get(s.HOME_TYPE, "other") or "other")
        kind = kind if kind in style.HOME_COLOURS else "other"
        name = ""
        if context.show_home_names:
            bits = [str(h.get(s.HOME_NAME, "") or ""), str(h.get(s.HOME_ID, "") or "")]
            name = _esc(" ".join(b for b in bits if b))
        hid = str(h.get(s.HOME_ID, ""))
        rows.append([
            round(float(h[s.LAT]), 5), round(float(h[s.LON]), 5), kinds.index(kind),
            _num(h.get(s.HOME_PLACES)) if pd.notna(h.get(s.HOME_PLACES)) else None,
            _esc(h.get(s.WARD_NAME, "")), _esc(h.get(s.LPA_NAME, "")),
            _esc(h.get(s.HOTSPOT_ID, "") or ""), int(per_home.get(hid, 0)) if hid else 0, name,
        ])
    counts = pd.Series([r[2] for r in rows], dtype=int).value_counts()
    types = [{"label": _esc(style.HOME_LABELS[k]), "colour": style.HOME_COLOURS[k]}
             for k in kinds]
    items = "".join(
        f"<div class='hs-row'><span class='hs-dot' style='background:{style.HOME_COLOURS[k]}'>"
        f"</span>{_esc(style.HOME_LABELS[k])} ({int(counts.get(i, 0)):,})</div>"
        for i, k in enumerate(kinds)
    )
    capped = f" The first {MAX_HOMES_DRAWN:,} of {n_all:,} are drawn." if n_all > len(rows) else ""
    names = ("Names are shown." if context.show_home_names
             else "Names and ids are not shown.")
    legend = _Legend("homes", f"<h2>Homes (register)</h2>{items}<div class='hs-note'>"
                              f"{_esc(names + capped)}</div>")
    return {"types": types, "rows": rows}, legend, n_all


def _location_squares(result: AnalysisResult) -> tuple[dict[str, object], _Legend, str]:
    ep = result.episodes
    keep = (ep[s.STATUS] == s.MAPPED) & ep[s.PRECISION].isin(result.config.hotspot_precisions)
    x = ep.loc[keep, s.X].to_numpy(dtype=float)
    y = ep.loc[keep, s.Y].to_numpy(dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    cell = LOCATION_SQUARE_M
    # finest squares first (one sort of all episodes), then coarser squares from those
    sq, counts = _count_squares(np.floor(x / cell), np.floor(y / cell), None)
    while len(sq) > MAX_LOCATION_SQUARES and cell < 12_800:
        cell *= 2
        sq, counts = _count_squares(np.floor(sq[:, 0] / 2), np.floor(sq[:, 1] / 2), counts)
    squares = sq
    n_squares = len(squares)
    if n_squares > MAX_LOCATION_SQUARES:
        top = np.argsort(-counts, kind="stable")[:MAX_LOCATION_SQUARES]
        squares, counts = squares[top], counts[top]
    cx = (squares[:, 0] + 0.5) * cell
    cy = (squares[:, 1] + 0.5) * cell
    pts = gpd.GeoSeries(gpd.points_from_xy(cx, cy), crs=s.BNG).to_crs(s.WGS84)
    rows = [[round(float(p.y), 5), round(float(p.x), 5), int(n)]
            for p, n in zip(pts, counts, strict=True)]
    biggest = int(counts.max()) if len(counts) else 1
    capped = (f" Only the {MAX_LOCATION_SQUARES:,} busiest of {n_squares:,} squares are drawn."
              if n_squares > len(rows) else "")
    note = (f"{int(ok.sum()):,} episodes counted per {cell:,} m grid square, drawn at the "
            f"square's centre (not at any address); size = number of episodes (largest "
            f"{biggest:,}).{capped}")
    legend = _Legend("locations",
                     "<h2>Episode locations</h2><div class='hs-row'><span class='hs-dot' "
                     f"style='background:{style.LOCATION_FILL};border-color:#fff'></span>"
                     f"Episodes in a {cell:,} m square</div><div class='hs-note'>"
                     f"{_esc(note)}</div>")
    return {"rows": rows, "max": biggest, "cell": f"{cell:,}"}, legend, note


def _count_squares(kx: np.ndarray, ky: np.ndarray, weights: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (kx, ky) integer squares and their total weight (1 each by default)."""
    if len(kx) == 0:
        return np.empty((0, 2), np.int64), np.empty(0, np.int64)
    kx = kx.astype(np.int64)
    ky = ky.astype(np.int64)
    x0, y0 = kx.min(), ky.min()
    span = int(ky.max() - y0) + 1
    key = (kx - x0) * span + (ky - y0)
    uniq, inverse, _ = unique_sorted(key)
    w = np.ones(len(key), np.int64) if weights is None else weights.astype(np.int64)
    counts = np.bincount(inverse, weights=w, minlength=len(uniq)).astype(np.int64)
    squares = np.stack([uniq // span + x0, uniq % span + y0], axis=1)
    return squares, counts


def _density_data(result: AnalysisResult, context: MapContext, wards_bng: gpd.GeoDataFrame
                  ) -> tuple[dict[str, object] | None, _Legend, str]:
    bw = context.density_bandwidth_m or result.config.eps_m
    grid = episode_density(result, bandwidth_m=bw, bounds=tuple(wards_bng.total_bounds))
    levels = grid.mass_levels(DENSITY_SHARES)
    used = f"{grid.total:,.0f}"
    note = (f"Gaussian kernel density of the {used} episodes used for hotspots, bandwidth "
            f"{bw:g} m (standard deviation), {grid.cell_m:g} m grid (British National Grid). "
            "Each colour marks the densest areas holding that share of the episodes.")
    if grid.total <= 0 or grid.peak <= 0:
        legend = _Legend("density", "<h2>Episode density</h2><div class='hs-note'>No episodes "
                                    "to show.</div>")
        return None, legend, note
    # class k (1..4) = at least the k-th lowest level; the lowest level is the 90% area,
    # drawn lightest, the highest the 25% core, drawn darkest
    palette = [(0, 0, 0, 0), *style.DENSITY_RGBA]
    uri, bounds = density_png(grid, list(levels), palette)
    rows = "".join(
        f"<div class='hs-row'><span class='hs-swatch' style='background:"
        f"{style.rgba_css(style.DENSITY_RGBA[len(DENSITY_SHARES) - 1 - i])}'></span>"
        f"Densest areas holding {share:.0%} (at least {_fmt_density(level)} per km\u00b2)</div>"
        for i, (share, level) in enumerate(zip(DENSITY_SHARES, levels, strict=True))
    )
    legend = _Legend("density", f"<h2>Episode density ({bw:g} m kernel)</h2>{rows}"
                                f"<div class='hs-note'>{_esc(note)}</div>")
    return {"uri": uri, "bounds": bounds}, legend, note


def gi_legend_title(evidence: Evidence) -> str:
    """``Gi* hot spot (FDR q < 0.05)`` (or ``p < alpha`` without the false discovery rate)."""
    settings = evidence.gi_grid.attrs.get("gi", {})
    alpha = float(settings.get("alpha", evidence.parameters.get("alpha", 0.05)))
    fdr = bool(settings.get("fdr", evidence.parameters.get("fdr", True)))
    return f"Gi* hot spot (FDR q < {alpha:g})" if fdr else f"Gi* hot spot (p < {alpha:g})"


def _gi_data(evidence: Evidence, show_counts: bool
             ) -> tuple[dict[str, object], _Legend, str]:
    """The significant Gi* hot cells as whole grid squares (WGS84 GeoJSON) and their legend.

    A square is the full cell of the grid (cells clipped at the county edge are drawn whole),
    so the layer reads as a grid. At most `MAX_GI_CELLS_DRAWN` (the highest z first)."""
    grid = evidence.gi_grid
    settings = grid.attrs.get("gi", {})
    cell = float(settings.get("cell_m") or evidence.parameters.get("cell_m") or 500.0)
    hot = grid[grid["hot"].to_numpy(dtype=bool)]
    n_all = len(hot)
    if n_all > MAX_GI_CELLS_DRAWN:
        hot = hot.sort_values(["z", "cell_id"], ascending=[False, True], kind="stable").head(
            MAX_GI_CELLS_DRAWN)
    x = hot["cell_x"].to_numpy(dtype=float)
    y = hot["cell_y"].to_numpy(dtype=float)
    squares = gpd.GeoDataFrame(geometry=shapely.box(x, y, x + cell, y + cell), crs=s.BNG)
    props = []
    for _, row in hot.iterrows():
        props.append({
            "w": _num(row["window_count"]),
            "x": _num(round(float(row["expected"]), 2)),
            "z": _num(round(float(row["z"]), 1)) if pd.notna(row["z"]) else None,
            "q": _esc(f"{float(row['q']):.2g}"),
            "n": _num(row["count"]) if show_counts else None,
        })
    collection = (_geojson(squares, props) if len(squares)
                  else {"type": "FeatureCollection", "features": []})
    title = gi_legend_title(evidence)
    alpha = float(settings.get("alpha", 0.05))
    capped = (f" The {MAX_GI_CELLS_DRAWN:,} with the highest z of {n_all:,} are drawn."
              if n_all > len(hot) else "")
    note = (f"{n_all:,} of {len(grid):,} squares of {cell:g} m: the square and the 8 around it "
            "together hold significantly more episodes than the same counts shuffled at random "
            f"over the map would (exact randomisation test, Benjamini-Hochberg false discovery "
            f"rate {alpha:.0%}).{capped} A busy single address is rarely one; a busy "
            "neighbourhood is.")
    if not n_all:
        note = (f"No square of {cell:g} m is a significant Gi* hot spot (of {len(grid):,}).")
    legend = _Legend(
        "gi",
        f"<h2>{_esc(title)}</h2><div class='hs-row'><span class='hs-swatch' style='background:"
        f"{style.rgba_css((0, 0, 0, round(255 * style.GI_FILL_OPACITY)))};border:2px solid "
        f"{style.GI_LINE}'></span>{_esc(f'Significant hot square ({cell:g} m)')}</div>"
        f"<div class='hs-note'>{_esc(note)}</div>",
    )
    data = {"cells": collection, "cell": f"{cell:g}", "title": _esc(title),
            "line": style.GI_LINE, "fill": style.GI_FILL, "opacity": style.GI_FILL_OPACITY}
    return data, legend, note


def _coord(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else round(v, 5)


def _fmt_density(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.2g}"


def _lpa_data(result: AnalysisResult, lpas: gpd.GeoDataFrame) -> list[dict[str, object]]:
    table = result.localities["lpa"].drop_duplicates(s.LPA_NAME).set_index(s.LPA_NAME)
    spots = result.hotspots
    per_lpa = (spots[s.LPA_NAME].value_counts() if len(spots) and s.LPA_NAME in spots.columns
               else pd.Series(dtype=int))
    props = []
    for name in lpas[s.LPA_NAME]:
        row = table.loc[name] if name in table.index else None
        props.append({
            "n": _esc(name),
            "e": _num(row["episodes"]) if row is not None else 0,
            "c": _num(row["children"]) if row is not None else 0,
            "s": int(per_lpa.get(name, 0)),
        })
    return props


# --------------------------------------------------------------------------------------------
# Panels
# --------------------------------------------------------------------------------------------


def _title_html(result: AnalysisResult, context: MapContext) -> str:
    c = result.counts
    area = area_label(context.boundary_name, context.area_name)
    as_of = data_as_of(result)
    mapped = int(c.get("mapped", 0) or 0)
    children = int(c.get("children_mapped", 0) or 0)
    in_spots = int(c.get("episodes_in_hotspots", 0) or 0)
    return (
        "<div class='hs-panel hs-title' id='hs-title'>"
        f"<h1>{_esc(context.title)}</h1>"
        f"<div class='hs-sub'>{_esc(area)} \u00b7 episodes starting {_esc(period_text(result))}"
        f"{' · data as of ' + _esc(as_of) if as_of else ''}</div>"
        f"<div class='hs-figs'><b>{mapped:,}</b> episodes \u00b7 <b>{children:,}</b> children "
        f"\u00b7 <b>{int(c.get('hotspots', 0) or 0):,}</b> hotspots holding "
        f"<b>{fmt_pct(in_spots, mapped)}</b> of episodes</div>"
        "</div>"
    )


def how_to_read(result: AnalysisResult, context: MapContext) -> list[str]:
    """Plain-language reading notes (also used by the report)."""
    eps = f"{result.config.eps_m:g}"
    lines = [
        "Each ward is shaded by how many missing episodes started there: the darker, the "
        "more. A child who went missing three times counts three times (switch the shading "
        "to children in the list at the top right).",
        (f"Purple shapes are hotspots: places where at least {result.config.min_samples} "
         f"episodes started within {eps} m of each other."
         if cluster_method(result.config) == "DBSCAN" else
         f"Purple shapes are hotspots: clusters of at least {result.config.min_samples} "
         "episodes found by HDBSCAN.")
        + " Darker purple means more episodes. Click a hotspot to see its numbers.",
        "The thick blue lines are the Local Police Areas; dashed grey lines are districts.",
    ]
    if result.homes is not None and context.show_homes:
        lines.append("Switch on 'Homes by type' to see the homes register: coloured dots with "
                     "a dark rim (children's homes, foster households...).")
    if context.evidence is not None:
        lines.append("Black-rimmed squares are Gi* hot spots: neighbourhoods with more episodes "
                     "than chance would give. Each hotspot's popup says whether it is robust "
                     "(a Gi* hot spot and found again when the children are resampled), "
                     "stable only, or fragile, and whether it rests on one child.")
    lines.append("Use the list at the top right to switch layers on and off; each legend "
                 "appears while its layer is on. Hover over a ward for its figures.")
    return lines


def _method_html(result: AnalysisResult, context: MapContext, *, density_note: str,
                 location_note: str, n_homes: int) -> str:
    cfg = result.config
    c = result.counts
    precision = PRECISION_TEXT.get(cfg.hotspot_precision, str(cfg.hotspot_precision))
    read = "".join(f"<li>{_esc(line)}</li>" for line in how_to_read(result, context))
    rejected = c.get("rejected_by_reason") or {}
    reasons = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in rejected.items())
    items = [
        f"Hotspots: {hotspot_rule(cfg)}; from {precision} (coarser locations count in the "
        "ward totals only). Each outline is the convex hull of the hotspot's locations; a "
        "single address is drawn as a 50 m circle.",
        f"Rows read {fmt_int(c.get('read'))}: mapped {fmt_int(c.get('mapped'))}, rejected "
        f"{fmt_int(c.get('rejected'))}{' (' + reasons + ')' if reasons else ''}, outside the "
        f"area {fmt_int(c.get('outside_area'))}.",
        "Ward shading: nested quantiles of the wards with any episode (each class holds about "
        "the same number of wards); 0 is its own class.",
        f"Density: {density_note}",
        f"Episode locations: {location_note}",
    ]
    if result.homes is not None:
        items.append(
            f"Homes: {n_homes:,} from the homes register, by type; names and ids "
            f"{'shown' if context.show_home_names else 'not shown'}."
            if context.show_homes else "Homes: the homes register is not shown on this map."
        )
    items.append(f"Boundaries: {context.boundary_name}, {context.boundary_vintage}.")
    items += [f"Note: {note}" for note in run_notes(result)]
    evidence_html = ""
    if context.evidence is not None:
        lines = [*(abridge_ids(x) for x in context.evidence.sentences),
                 *(f"Note: {n}" for n in context.evidence.notes)]
        evidence_html = ("<h3>Evidence behind the hotspots</h3>"
                         + "".join(f"<p>{_esc(x)}</p>" for x in lines))
    if context.tiles:
        items.append(tiles_warning(context.tiles))
    else:
        items.append("Background: drawn from the boundaries; the map loads nothing from the "
                     "internet.")
    method = "".join(f"<p>{_esc(t)}</p>" for t in items)
    return (
        "<details class='hs-panel hs-method' id='hs-method'>"
        "<summary>How to read this map \u00b7 method and sources</summary>"
        f"<h3>How to read this map</h3><ul>{read}</ul>"
        f"<h3>Method</h3>{method}{evidence_html}"
        "</details>"
    )


def _footer_html(context: MapContext) -> str:
    credits = " \u00b7 ".join(_esc(line) for line in context.attribution)
    return (
        "<div class='hs-panel hs-footer' id='hs-footer'>"
        f"Boundaries: {_esc(context.boundary_name)}, {_esc(context.boundary_vintage)}. "
        f"{credits}</div>"
    )


def _legend_html(legends: Sequence[_Legend], base_note: str) -> str:
    parts = "".join(
        f"<div class='hs-legend-item' id='hs-legend-{lg.key}'>{lg.html}</div>" for lg in legends
    )
    return (
        "<div class='hs-panel hs-legend' id='hs-legend'>"
        f"{parts}<div class='hs-legend-item'>"
        f"<div class='hs-row'><span class='hs-line' style='border-top:3.5px solid "
        f"{style.LPA_LINE}'></span>Local Police Area</div>"
        f"<div class='hs-row'><span class='hs-line' style='border-top:2px dashed "
        f"{style.DISTRICT_LINE}'></span>District</div>"
        f"<div class='hs-row'><span class='hs-line' style='border-top:1px solid "
        f"{style.WARD_LINE}'></span>Ward</div>"
        f"<div class='hs-note'>{_esc(base_note)}</div></div>"
        "</div>"
    )


# --------------------------------------------------------------------------------------------
# The map
# --------------------------------------------------------------------------------------------


def render_map(result: AnalysisResult, context: MapContext) -> folium.Map:
    """Build the folium map (not yet self-contained: see `map_html` / `write_map`)."""
    check_evidence(result, context.evidence)
    wards = context.wards.to_crs(s.WGS84)
    wards_bng = wards.to_crs(s.BNG)
    minx, miny, maxx, maxy = wards.total_bounds
    m = folium.Map(
        location=[(miny + maxy) / 2, (minx + maxx) / 2],
        tiles=None,
        zoom_start=10,
        control_scale=False,
    )
    m.options["attribution_control"] = False  # credits are in the page's footer
    m.options["max_zoom"] = 18
    m.options["min_zoom"] = 6
    m.options["zoom_snap"] = 0.25  # fit the whole area, not the nearest whole zoom level
    m.options["zoom_delta"] = 0.5
    m.fit_bounds([[miny, minx], [maxy, maxx]], padding=(20, 20))

    districts = _districts(context)
    county = gpd.GeoDataFrame(geometry=[shapely.union_all(np.asarray(wards.geometry.values))],
                              crs=s.WGS84)
    ward_spec, ward_props, ward_legends = _ward_data(result, wards)
    spot_data, spot_legend, _ = _hotspot_data(result, context.show_hotspot_centres,
                                              context.evidence)
    gi_data = gi_legend = None
    if context.evidence is not None:
        gi_data, gi_legend, _ = _gi_data(context.evidence, context.show_locations)
    home_data, home_legend, n_homes = _home_data(result, context)
    loc_data = loc_legend = dens_data = dens_legend = None
    if context.show_locations:
        loc_data, loc_legend, loc_note = _location_squares(result)
        dens_data, dens_legend, dens_note = _density_data(result, context, wards_bng)
    else:
        loc_note = dens_note = "not shown on this map (it would show episode positions)."
    labels = (list(context.place_labels) if context.place_labels is not None
              else place_labels(wards, districts))

    data: dict[str, object] = {
        "style": {
            "land": None if context.tiles else style.LAND,
            "ward": style.WARD_LINE,
            "district": style.DISTRICT_LINE,
            "county": style.COUNTY_LINE,
            "lpa": style.LPA_LINE,
            "spotLine": style.HOTSPOT_LINE,
            "location": style.LOCATION_FILL,
            "choroOpacity": 0.6 if context.tiles else 0.78,
        },
        "wards": _geojson(wards, ward_props),
        "districts": _geojson(districts),
        "county": _geojson(county),
        "lpas": _geojson(context.lpas, _lpa_data(result, context.lpas.to_crs(s.WGS84))),
        "labels": [[_esc(p.name), round(p.lat, 5), round(p.lon, 5), p.rank] for p in labels],
        **ward_spec,
        **spot_data,
    }
    if home_data is not None:
        data["homes"] = home_data
    if dens_data is not None:
        data["density"] = dens_data
    if loc_data is not None:
        data["locations"] = loc_data
    if gi_data is not None:
        data["gi"] = gi_data

    root = m.get_root()
    root.header.add_child(Element(style.CSS))
    root.header.add_child(Element(f"<script>{HS_LIB}</script>"))
    _Script(f"var HS = hsLib({m.get_name()}, {_script_json(data)});").add_to(m)

    tracked: list[tuple[_JsLayer, str]] = []
    _JsLayer("HS.basemap()", name="Basemap", control=False).add_to(m)

    # Ward shading: base layers (radio buttons), one per measure, plus "none".
    for j, spec in enumerate(ward_spec["measures"]):  # type: ignore[union-attr]
        layer = _JsLayer(f"HS.choropleth({j})", name=str(spec["label"]),
                         overlay=False, show=j == 0)
        layer.add_to(m)
        tracked.append((layer, f"wards{j}"))
    _JsLayer("L.layerGroup()", name="None", overlay=False, show=False).add_to(m)

    overlays: list[tuple[str, str, bool, str | None]] = [
        ("HS.labels()", "Place names", True, None),
        ("HS.lpas()", "Local Police Areas", True, None),
        ("HS.hotspots()", "Hotspots", True, "hotspots"),
    ]
    if gi_data is not None:
        overlays.append(("HS.gi()", GI_LAYER_NAME, True, "gi"))
    if home_data is not None:
        overlays.append(("HS.homes()", "Homes by type", False, "homes"))
    if dens_data is not None:
        overlays.append(("HS.density()", "Episode density", False, "density"))
    if loc_data is not None:
        overlays.append(("HS.locations()", "Episode locations (grid squares)", False,
                         "locations"))
    for expr, name, show, key in overlays:
        layer = _JsLayer(expr, name=name, show=show)
        layer.add_to(m)
        if key:
            tracked.append((layer, key))

    if context.tiles:
        provider = tile_provider(context.tiles)
        folium.TileLayer(
            tiles=tile_url(context.tiles),
            attr=provider.html_attribution,
            name=f"Street map (online, {provider.name})",
            overlay=True,
            control=True,
            show=True,
            max_zoom=min(18, int(provider.get("max_zoom", 18))),
            subdomains=provider.get("subdomains", "abc"),
        ).add_to(m)

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    pairs = ", ".join(f"[{layer.get_name()}, {json.dumps(key)}]" for layer, key in tracked)
    _Script(f"HS.track([{pairs}]);"
            f"L.control.scale({{position: 'bottomleft', imperial: false, maxWidth: 140}})"
            f".addTo({m.get_name()});").add_to(m)

    legends = [*ward_legends, spot_legend]
    if gi_legend is not None:
        legends.append(gi_legend)
    if home_legend is not None:
        legends.append(home_legend)
    legends += [lg for lg in (dens_legend, loc_legend) if lg is not None]
    root.html.add_child(Element(_title_html(result, context)))
    root.html.add_child(Element(_legend_html(
        legends, f"Place names: {_label_source(context, labels)}. Grey: outside the boundary "
        "set.")))
    root.html.add_child(Element(_method_html(result, context, density_note=dens_note,
                                             location_note=loc_note, n_homes=n_homes)))
    root.html.add_child(Element(_footer_html(context)))
    return m


def _label_source(context: MapContext, labels: Sequence[PlaceLabel]) -> str:
    if context.place_labels is not None:
        return "as given"
    towns = {p.name for p in OXFORDSHIRE_TOWNS}
    return "main towns" if labels and all(p.name in towns for p in labels) else "districts"


def map_html(result: AnalysisResult, context: MapContext) -> str:
    """The self-contained map page as a string (what `write_map` writes).

    With ``context.tiles`` a `TilesPrivacyWarning` is issued and the tile URL template is the
    only network URL allowed in the page.
    """
    allowed: tuple[str, ...] = ()
    if context.tiles:
        warnings.warn(tiles_warning(context.tiles), TilesPrivacyWarning, stacklevel=3)
        allowed = (tile_url(context.tiles),)
    html = render_map(result, context).get_root().render()
    return make_self_contained(html, allowed_urls=allowed)


def write_map(result: AnalysisResult, context: MapContext, path: Path) -> Path:
    """Render the map, make it self-contained (no network unless ``context.tiles``), and
    write it to `path`."""
    page = map_html(result, context)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
