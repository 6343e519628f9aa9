"""Place labels for the offline basemap, derived without any external data.

A meeting needs a few names to find its bearings on a boundaries-only map. Two sources:

- a small shipped list of the main towns of Oxfordshire (public facts: name and approximate
  town-centre position, WGS84), used for the towns that fall inside the boundary set; and
- for any other boundary set (or when fewer than `MIN_TOWNS` shipped towns fall inside it),
  the district names at a point inside each district.

The caller can also give its own labels (`MapContext.place_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import shapely

from geo import schema as s

__all__ = ["OXFORDSHIRE_TOWNS", "PlaceLabel", "place_labels"]


@dataclass(frozen=True)
class PlaceLabel:
    name: str
    lat: float
    lon: float
    rank: int = 2  # 1: city / main town (larger type), 2: town


# Town centres (approximate, WGS84). Oxford is the county's city; the rest are the market and
# new towns named in the districts' local plans.
OXFORDSHIRE_TOWNS: Final[tuple[PlaceLabel, ...]] = (
    PlaceLabel("Oxford", 51.7520, -1.2577, 1),
    PlaceLabel("Banbury", 52.0629, -1.3398, 1),
    PlaceLabel("Bicester", 51.8998, -1.1534, 1),
    PlaceLabel("Witney", 51.7856, -1.4857, 1),
    PlaceLabel("Abingdon", 51.6708, -1.2837, 1),
    PlaceLabel("Didcot", 51.6080, -1.2448, 1),
    PlaceLabel("Kidlington", 51.8232, -1.2899),
    PlaceLabel("Carterton", 51.7590, -1.5950),
    PlaceLabel("Chipping Norton", 51.9417, -1.5459),
    PlaceLabel("Woodstock", 51.8480, -1.3540),
    PlaceLabel("Wantage", 51.5880, -1.4265),
    PlaceLabel("Faringdon", 51.6567, -1.5863),
    PlaceLabel("Wallingford", 51.5998, -1.1246),
    PlaceLabel("Thame", 51.7459, -0.9787),
    PlaceLabel("Henley-on-Thames", 51.5357, -0.9031),
)
MIN_TOWNS: Final = 3
MAX_LABELS: Final = 40


def place_labels(
    wards: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None = None,
    shipped: Sequence[PlaceLabel] = OXFORDSHIRE_TOWNS,
) -> list[PlaceLabel]:
    """Labels for the map: the shipped towns inside the wards' area when at least `MIN_TOWNS`
    are, else one label per district (its name at a point inside it, largest districts first,
    at most `MAX_LABELS`)."""
    wgs = wards.to_crs(s.WGS84)
    area = shapely.union_all(np.asarray(wgs.geometry.values))
    inside = [
        p for p in shipped
        if shapely.contains_xy(area, p.lon, p.lat)
    ]
    if len(inside) >= MIN_TOWNS:
        return inside
    if districts is None or districts.empty:
        if s.LAD_NAME not in wgs.columns:
            return []
        districts = wgs.dissolve(by=s.LAD_NAME, as_index=False)
    d = districts.to_crs(s.BNG)
    d = d.assign(_area=d.geometry.area).sort_values("_area", ascending=False).head(MAX_LABELS)
    points = gpd.GeoSeries(d.geometry.representative_point(), crs=s.BNG).to_crs(s.WGS84)
    name_col = s.LAD_NAME if s.LAD_NAME in d.columns else d.columns[0]
    return [
        PlaceLabel(str(name), float(pt.y), float(pt.x), 1)
        for name, pt in zip(d[name_col], points, strict=True)
    ]
