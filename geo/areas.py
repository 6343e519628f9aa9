"""Point-in-polygon assignment of episodes to wards (and through them districts and LPAs)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.errors import BoundaryError

AREA_COLUMNS = (s.WARD_CODE, s.WARD_NAME, s.LAD_CODE, s.LAD_NAME, s.LPA_NAME)


def locate_points(lon: np.ndarray, lat: np.ndarray, wards: gpd.GeoDataFrame) -> np.ndarray:
    """Return, for each point, the position in `wards` of the ward containing it (-1: none).

    A point on a shared boundary goes to the ward with the lowest `ward_code`, so the result
    depends neither on the order of the points nor on the order of the wards.

    The wards are taken in order of their codes; each tests, with its prepared polygon, only
    the points not placed yet that fall in its bounding box (found by binary search on the
    points sorted by longitude). No geometry object is made per point: a million distinct
    points take about half a second for a county (an R-tree query of point objects took 5).
    """
    if wards.crs is None or not wards.crs.equals(s.WGS84):
        msg = "`wards` must be in WGS84 (EPSG:4326) for point-in-polygon assignment."
        raise BoundaryError(msg)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    result = np.full(len(lon), -1, dtype=np.int64)
    if len(lon) == 0 or len(wards) == 0:
        return result
    geoms = np.asarray(wards.geometry.values)
    shapely.prepare(geoms)  # (cached on the polygons: later calls reuse it)
    bounds = shapely.bounds(geoms)
    usable = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    by_lon = usable[np.argsort(lon[usable], kind="stable")]
    sorted_lon, sorted_lat = lon[by_lon], lat[by_lon]
    codes = wards[s.WARD_CODE].astype(str).to_numpy()
    for i in np.argsort(codes, kind="stable"):  # lowest code first: it keeps shared boundaries
        x0, y0, x1, y1 = bounds[i]
        if not np.isfinite(x0):  # an empty geometry
            continue
        a = int(np.searchsorted(sorted_lon, x0, side="left"))
        b = int(np.searchsorted(sorted_lon, x1, side="right"))
        if a == b:
            continue
        in_box = (sorted_lat[a:b] >= y0) & (sorted_lat[a:b] <= y1)
        cand = by_lon[a:b][in_box]
        cand = cand[result[cand] < 0]
        if len(cand):
            hit = shapely.intersects_xy(geoms[i], lon[cand], lat[cand])
            result[cand[hit]] = i
    return result


def assign_areas(episodes: pd.DataFrame, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    """Add ward, district and LPA columns, and set `status` to ``mapped`` or ``outside_area``.

    Parameters
    ----------
    episodes
        The frame from `geo.validate.validate_episodes`. Rows already rejected are left alone.
    wards
        Polygons in WGS84 with `ward_code`, `ward_name`, `lad_code`, `lad_name`, `lpa_name`.

    Returns
    -------
    pandas.DataFrame
        A copy with the five area columns (blank unless mapped). Each distinct location is
        tested once, so repeated addresses cost nothing.
    """
    missing = [c for c in AREA_COLUMNS if c not in wards.columns]
    if missing:
        msg = f"`wards` lacks the column(s) {', '.join(missing)}."
        raise BoundaryError(msg)
    out = episodes.copy(deep=False)  # copy-on-write: new columns never reach `episodes`
    usable = (out[s.STATUS] != s.REJECTED) & out[s.LAT].notna() & out[s.LON].notna()
    lon = out[s.LON].to_numpy(dtype=float)[usable.to_numpy()]
    lat = out[s.LAT].to_numpy(dtype=float)[usable.to_numpy()]
    ward_pos = np.full(len(out), -1, dtype=np.int64)
    if len(lon):
        # one point-in-polygon test per distinct location (keys: microdegrees, exact for the
        # 6-decimal coordinates the validator produces); far faster than np.unique(axis=0)
        key = np.round(lat * 1e6).astype(np.int64) * 1_000_000_000 + np.round(
            (lon + 180.0) * 1e6
        ).astype(np.int64)
        inverse, distinct = pd.factorize(key)  # hashing: no sort of a million keys
        first = np.zeros(len(distinct), dtype=np.int64)
        first[inverse] = np.arange(len(inverse))  # a row of each key (all share its point)
        located = locate_points(lon[first], lat[first], wards)
        ward_pos[usable.to_numpy()] = located[inverse]
    inside = ward_pos >= 0
    for col in AREA_COLUMNS:
        values = wards[col].astype(str).to_numpy()
        column = np.full(len(out), "", dtype=object)
        column[inside] = values[ward_pos[inside]]
        out[col] = column
    status = out[s.STATUS].to_numpy(dtype=object).copy()
    status[usable.to_numpy() & inside] = s.MAPPED
    outside = usable.to_numpy() & ~inside
    status[outside] = s.OUTSIDE_AREA
    out[s.STATUS] = status
    reason = out[s.REASON].to_numpy(dtype=object).copy()
    reason[outside] = s.OUTSIDE_REASON
    out[s.REASON] = reason
    detail = out[s.DETAIL].to_numpy(dtype=object).copy()
    detail[outside] = "the location is outside every ward of the boundary set"
    out[s.DETAIL] = detail
    return out
