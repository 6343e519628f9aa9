"""Synthetic missing-children episodes and a homes register, for demos, tests and benchmarks.

Everything produced here is invented: no real child, home or address is used or can be
recovered. The shape of the data is modelled on the Oxfordshire County Council report
"Safeguarding Missing Children" (January to June 2020): more boys than girls, most children
aged 14-16, a heavy tail of children who go missing repeatedly (concentrated in residential
children's homes), fostering and residential homes concentrated in the Cherwell and West
Oxfordshire Local Police Area, every repeat child screened for child exploitation, and Return
Home Interviews (RHIs) that are not always completed within 72 hours. Every assumption and
number is documented for analysts in ``docs/synthetic-data.md``; the module constants below
are the single source of those numbers.

The ward boundaries are an argument (this package never imports ``boundaries`` or ``maps``).
Every point is sampled inside one of the given wards by rejection, vectorised with
:func:`shapely.contains_xy`. The same seed and arguments give identical frames and
byte-identical CSV files.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as sc
from geo.errors import BoundaryError, ParameterError

__all__ = [
    "EPISODE_COLUMNS", "HOME_COLUMNS", "SynthData", "add_placed_out", "generate_synthetic",
    "write_synthetic",
]

# --- output columns ---------------------------------------------------------------------------
EPISODE_COLUMNS: Final = (
    sc.EPISODE_ID, sc.CHILD_ID, sc.MISSING_FROM, sc.RETURNED, sc.LAT, sc.LON, sc.SEX, sc.AGE,
    sc.DOB, sc.CARE_STATUS, sc.PLACEMENT_TYPE, sc.HOME_ID, sc.PLACING_AUTHORITY, sc.CATEGORY,
    sc.RISK, sc.RHI_OFFERED, sc.RHI_COMPLETED, sc.CE_SCREENING,
)
HOME_COLUMNS: Final = (
    sc.HOME_ID, sc.HOME_TYPE, sc.HOME_NAME, sc.HOME_PROVIDER, sc.HOME_PLACES, sc.LAT, sc.LON,
)

# --- scale ------------------------------------------------------------------------------------
BASE_EPISODES: Final = 1000  # the size the numbers below are calibrated on
CHILDREN_PER_EPISODE: Final = 0.36  # 360 children for 1000 episodes; scales linearly
ADDRESS_POOL_BASE: Final = 300  # family addresses at 1000 episodes; scales with sqrt(n / 1000)

# --- geography --------------------------------------------------------------------------------
CHERWELL_WEST_LADS: Final = ("E07000177", "E07000181")  # Cherwell, West Oxfordshire
CITY_LADS: Final = ("E07000178",)  # Oxford: every ward counts as a town ward
TOWN_PATTERN: Final = re.compile(
    r"\b(?:Banbury|Bicester|Kidlington|Witney|Carterton|Chipping Norton|Abingdon|Didcot"
    r"|Wantage|Grove|Thame|Henley|Wallingford|Faringdon)\b"
)
TOWN_WEIGHT: Final = 3.0  # a town ward is 3x as likely as a rural ward to hold a family address
BOUNDARY_MARGIN_M: Final = 3.0  # homes and addresses keep >= ~2 m from a ward boundary
METRES_PER_DEGREE: Final = 111_320.0
JITTER_MIN_M: Final = 3.0  # distinct_locations: jitter radius, at least 3 m ...
JITTER_PER_SQRT_M: Final = 0.3  # ... or 0.3 m x sqrt(episodes at the location) if larger

# --- children ---------------------------------------------------------------------------------
FOSTER, RESIDENTIAL, SEMI_INDEPENDENT, OTHER, FAMILY_HOME = range(5)
PLACEMENTS: Final = ("foster", "residential", "semi_independent", "other", "family_home")
PLACEMENT_SHARE: Final = (0.17, 0.18, 0.08, 0.02, 0.55)  # share of children
REPEAT_PRONE: Final = (0.30, 0.85, 0.50, 0.30, 0.15)  # P(child has 2+ episodes) by placement
REPEAT_INTENSITY: Final = (1.0, 2.5, 1.2, 0.8, 0.8)  # relative rate of further episodes
PARETO_ALPHA: Final = 1.1  # heavy tail (Lomax) of further episodes of repeat children ...
PARETO_CAP: Final = 5.0  # ... capped, so the busiest child stays plausible at any n
HOME_EFFECT_SIGMA: Final = 0.3  # lognormal home-to-home variation in repeat rates
SHARE_BOYS: Final = 0.60
AGES: Final = (10, 11, 12, 13, 14, 15, 16, 17)  # age at the end of the child's window
AGE_SHARE: Final = (0.02, 0.03, 0.06, 0.11, 0.18, 0.24, 0.22, 0.14)
SEMI_INDEPENDENT_AGES: Final = (16, 17)
SEMI_INDEPENDENT_AGE_SHARE: Final = (0.35, 0.65)
CHILD_WINDOW_DAYS: Final = 183  # a child's episodes fall within one half-year window
FAMILY_CARE_STATUS: Final = (("none", 0.55), ("child_in_need", 0.30), ("child_protection", 0.15))
CE_SCREENED_SINGLE: Final = 0.35  # children with 2+ episodes are always screened

# --- episodes ---------------------------------------------------------------------------------
ABSENT_SHARE: Final = (0.30, 0.38, 0.30, 0.30, 0.22)  # P(absent) by placement; ~30% overall
# hour of day a child goes missing (relative weights, 00:00 to 23:00)
HOUR_WEIGHTS: Final = (3, 2, 2, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 5, 6, 7, 7, 8, 8, 8, 7, 6, 4)
# duration: (share, low_minutes, high_minutes, log-uniform?) per category
DURATION_MISSING: Final = (
    (0.70, 30, 24 * 60, True), (0.23, 24 * 60, 72 * 60, False), (0.07, 72 * 60, 14 * 1440, True),
)
DURATION_ABSENT: Final = ((0.90, 15, 24 * 60, True), (0.10, 24 * 60, 72 * 60, False))
ONGOING_SHARE: Final = 0.02  # of episodes, taken from children's latest episodes
RISK_LEVELS: Final = ("high", "medium", "low", "no_apparent_risk")
RISK_MISSING: Final = (0.14, 0.66, 0.20, 0.0)
RISK_ABSENT: Final = (0.0, 0.05, 0.40, 0.55)
RHI_OFFERED_SHARE: Final = (0.93, 0.75)  # missing, absent (of returned episodes)
RHI_OFFER_DELAY: Final = ((0.70, 60, 24 * 60), (0.25, 24 * 60, 72 * 60), (0.05, 72 * 60, 10 * 1440))
RHI_COMPLETED_SHARE: Final = 0.80  # of offered
RHI_COMPLETE_DELAY: Final = ((0.70, 30, 36 * 60), (0.30, 36 * 60, 14 * 1440))  # after the offer

# --- placing authorities ----------------------------------------------------------------------
OTHER_AUTHORITIES: Final = (
    ("Buckinghamshire", 0.20), ("Swindon", 0.15), ("London Borough of Brent", 0.15),
    ("Reading", 0.10), ("Wiltshire", 0.10), ("Warwickshire", 0.10), ("Birmingham", 0.10),
    ("London Borough of Ealing", 0.10),
)
HOST_COUNCIL: Final = "{host} County Council"  # the host authority's own provision


@dataclass(frozen=True)
class _HomeSpec:
    """How one type of home is generated (see docs/synthetic-data.md, "Homes register")."""

    type: str
    prefix: str  # home_id is prefix + number: F01, R07, S03, O01
    label: str  # name is label + home_id: "Home R07"
    base_count: int  # at 1000 episodes; scales with sqrt(n / 1000)
    min_count: int
    cherwell_west_share: float  # exact share placed in Cherwell and West Oxfordshire
    town_share: float  # share near the centre of a town ward (others anywhere in a ward)
    spread_m: float  # standard deviation of the distance from the town ward's centre
    places: tuple[int, ...]
    places_share: tuple[float, ...]
    providers: tuple[tuple[str, float], ...]
    other_la_council: float  # P(child placed by another authority) in the host's own homes
    other_la_external: float  # ... in independent, private or voluntary homes


HOME_SPECS: Final = (  # indexed by placement code FOSTER, RESIDENTIAL, SEMI_INDEPENDENT, OTHER
    _HomeSpec(
        "foster", "F", "Foster household", 40, 2, 0.50, 0.80, 600.0, (1, 2, 3),
        (0.45, 0.40, 0.15),
        ((HOST_COUNCIL, 0.60), ("Independent fostering agency A", 0.15),
         ("Independent fostering agency B", 0.15), ("Independent fostering agency C", 0.10)),
        0.0, 0.25,
    ),
    _HomeSpec(
        "residential", "R", "Home", 16, 3, 0.70, 1.0, 400.0, (2, 3, 4, 5, 6),
        (0.15, 0.30, 0.30, 0.15, 0.10),
        ((HOST_COUNCIL, 0.25), ("Private provider A", 0.20), ("Private provider B", 0.15),
         ("Private provider C", 0.15), ("Private provider D", 0.10), ("Private provider E", 0.05),
         ("Voluntary provider A", 0.10)),
        0.05, 0.50,
    ),
    _HomeSpec(
        "semi_independent", "S", "Supported flats", 8, 1, 0.30, 1.0, 300.0,
        (4, 5, 6, 7, 8, 9, 10), (0.15, 0.20, 0.20, 0.15, 0.15, 0.10, 0.05),
        ((HOST_COUNCIL, 0.0), ("Private provider F", 0.40), ("Supported housing provider A", 0.35),
         ("Supported housing provider B", 0.25)),
        0.0, 0.35,
    ),
    _HomeSpec(
        "other", "O", "Placement", 4, 1, 0.40, 1.0, 500.0, (1, 2, 3, 4), (0.40, 0.30, 0.20, 0.10),
        ((HOST_COUNCIL, 0.50), ("Other provider A", 0.50)),
        0.05, 0.25,
    ),
)


@dataclass(frozen=True, eq=False)
class SynthData:
    """A synthetic episodes file and homes register.

    Both frames hold exactly what :func:`write_synthetic` writes: date-times are text in
    ISO form ``YYYY-MM-DD HH:MM`` (``dob`` is ``YYYY-MM-DD``), blanks are missing values, and
    ``lat``/``lon`` are WGS84 degrees rounded to 6 decimals.

    Attributes
    ----------
    episodes : pandas.DataFrame
        One row per episode, with the DATA-CONTRACT section 1 columns listed in
        ``EPISODE_COLUMNS``, sorted by ``missing_from`` then ``episode_id``.
    homes : pandas.DataFrame
        One row per home, with the DATA-CONTRACT section 2 columns listed in
        ``HOME_COLUMNS``, sorted by ``home_id``.
    """

    episodes: pd.DataFrame
    homes: pd.DataFrame


@dataclass(frozen=True)
class _Wards:
    geoms: np.ndarray  # prepared shapely geometries, WGS84, sorted by ward code
    lad_codes: np.ndarray
    town: np.ndarray  # bool
    bounds: np.ndarray  # (k, 4) minx, miny, maxx, maxy
    anchors: np.ndarray  # (k, 2) lon, lat of the centroid (or a point on the surface)


@dataclass(frozen=True)
class _Homes:
    frame: pd.DataFrame
    kind: np.ndarray  # placement code of each home
    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    ward: np.ndarray
    places: np.ndarray
    council: np.ndarray  # bool: run by the host authority


# --- public API -------------------------------------------------------------------------------


def generate_synthetic(
    wards: gpd.GeoDataFrame,
    *,
    seed: int = 1,
    n_episodes: int = 1000,
    start: str = "2020-01-01",
    end: str = "2020-06-30",
    host_authority: str = sc.DEFAULT_HOST_AUTHORITY,
    distinct_locations: bool = False,
) -> SynthData:
    """Generate a synthetic episodes file and homes register inside the given wards.

    Parameters
    ----------
    wards : geopandas.GeoDataFrame
        Ward polygons with at least ``ward_code`` and ``lad_code`` (``ward_name`` is used to
        recognise town wards). Any CRS; points are generated in WGS84.
    seed : int
        Seed for :func:`numpy.random.default_rng`. Same seed and arguments, same data.
    n_episodes : int
        Number of episodes (exact). Children, homes and addresses scale with it.
    start, end : str
        First and last day of the period (ISO dates, ``end`` inclusive). Every
        ``missing_from`` falls within it.
    host_authority : str
        The authority the data belongs to: ``placing_authority`` of its own children and the
        name of its own provision (``"<host> County Council"``).
    distinct_locations : bool
        If true, every episode gets its own location: the home or address jittered by a few
        metres (more at very busy locations) inside the same ward. If false, episodes from the
        same home or address share its exact coordinates.

    Returns
    -------
    SynthData
        The episodes and homes frames.

    Raises
    ------
    ParameterError
        ``n_episodes`` below 1, unreadable dates, or ``end`` before ``start``.
    BoundaryError
        ``wards`` has no CRS, lacks ``ward_code``/``lad_code`` or holds no polygon.
    """
    n = _check_count(n_episodes)
    first_day, n_days = _check_period(start, end)
    wd = _prepare_wards(wards)
    rng = np.random.default_rng(seed)
    scale = math.sqrt(n / BASE_EPISODES)

    homes = _make_homes(rng, wd, scale, host_authority)
    n_homes = len(homes.ids)

    # --- children: placement, home, sex, age, window, address ----------------------------------
    n_children = max(1, min(n, round(n * CHILDREN_PER_EPISODE)))
    placement = rng.choice(len(PLACEMENTS), size=n_children, p=_p(PLACEMENT_SHARE))
    home_of = np.full(n_children, -1, dtype=np.int64)
    for code in (FOSTER, RESIDENTIAL, SEMI_INDEPENDENT, OTHER):
        kids = np.flatnonzero(placement == code)
        candidates = np.flatnonzero(homes.kind == code)
        weights = homes.places[candidates].astype(float)
        home_of[kids] = rng.choice(candidates, size=kids.size, p=weights / weights.sum())
    in_home = home_of >= 0
    home_effect = rng.lognormal(0.0, HOME_EFFECT_SIGMA, size=n_homes)

    counts = _episode_counts(rng, n, placement, np.where(in_home, home_effect[home_of], 1.0))
    boy = rng.random(n_children) < SHARE_BOYS

    semi = placement == SEMI_INDEPENDENT
    age_end = rng.choice(np.array(AGES), size=n_children, p=_p(AGE_SHARE))
    age_end[semi] = rng.choice(
        np.array(SEMI_INDEPENDENT_AGES), size=int(semi.sum()), p=_p(SEMI_INDEPENDENT_AGE_SHARE)
    )
    min_age = np.where(semi, SEMI_INDEPENDENT_AGES[0], AGES[0])
    window_days = min(n_days, CHILD_WINDOW_DAYS)
    window_start = rng.integers(0, n_days - window_days + 1, size=n_children)
    dob = _dates_of_birth(rng, first_day, window_start, window_days, age_end, min_age)

    care = np.full(n_children, "looked_after", dtype=object)
    fam = np.flatnonzero(~in_home)
    labels, shares = zip(*FAMILY_CARE_STATUS, strict=True)
    care[fam] = np.array(labels, dtype=object)[rng.choice(len(labels), fam.size, p=_p(shares))]

    ce_yes = (counts >= 2) | (rng.random(n_children) < CE_SCREENED_SINGLE)
    placing = _placing_authorities(rng, host_authority, placement, home_of, homes)

    # family addresses: a pool that grows with sqrt(n); each child keeps one address
    n_family = fam.size
    pool = max(1, min(n_family, round(ADDRESS_POOL_BASE * scale)))
    address_of = np.full(n_children, -1, dtype=np.int64)
    if n_family:
        address_of[fam] = rng.permutation(n_family) if pool == n_family else rng.integers(
            0, pool, size=n_family
        )
    town_w = np.where(wd.town, TOWN_WEIGHT, 1.0)
    address_ward = rng.choice(len(wd.geoms), size=pool, p=town_w / town_w.sum())
    address_lon, address_lat = _uniform_points(rng, wd, address_ward, BOUNDARY_MARGIN_M)

    child_number = rng.permutation(n_children) + 1  # pseudonymous ids, unrelated to placement

    # --- episodes -------------------------------------------------------------------------------
    child = np.repeat(np.arange(n_children), counts)
    start_min = _episode_starts(rng, child, window_start, window_days)
    pl = placement[child]
    absent = rng.random(n) < np.asarray(ABSENT_SHARE)[pl]
    duration = np.where(
        absent, _mixture(rng, DURATION_ABSENT, n), _mixture(rng, DURATION_MISSING, n)
    )
    returned = start_min + duration
    last = np.ones(n, dtype=bool)
    last[:-1] = child[1:] != child[:-1]
    nxt = np.empty_like(start_min)
    nxt[:-1] = start_min[1:]
    overlap = ~last & (returned >= nxt)  # back before the next episode starts
    returned[overlap] = start_min[overlap] + (nxt[overlap] - start_min[overlap]) // 2
    p_ongoing = min(1.0, ONGOING_SHARE * n / n_children)
    has_return = ~(last & (rng.random(n) < p_ongoing))

    risk = np.where(
        absent,
        rng.choice(len(RISK_LEVELS), size=n, p=_p(RISK_ABSENT)),
        rng.choice(len(RISK_LEVELS), size=n, p=_p(RISK_MISSING)),
    )
    p_offer = np.where(absent, RHI_OFFERED_SHARE[1], RHI_OFFERED_SHARE[0])
    offered = has_return & (rng.random(n) < p_offer)
    offered_min = returned + _mixture(rng, tuple((*c, False) for c in RHI_OFFER_DELAY), n)
    completed = offered & (rng.random(n) < RHI_COMPLETED_SHARE)
    completed_min = offered_min + _mixture(rng, tuple((*c, False) for c in RHI_COMPLETE_DELAY), n)

    # --- locations --------------------------------------------------------------------------
    ep_home = home_of[child]
    at_home = ep_home >= 0
    ep_addr = address_of[child]
    safe_home = np.where(at_home, ep_home, 0)
    safe_addr = np.where(at_home, 0, ep_addr)
    lon = np.where(at_home, homes.lon[safe_home], address_lon[safe_addr])
    lat = np.where(at_home, homes.lat[safe_home], address_lat[safe_addr])
    if distinct_locations:
        ward = np.where(at_home, homes.ward[safe_home], address_ward[safe_addr])
        location = np.where(at_home, ep_home, n_homes + ep_addr)
        lon, lat = _jitter_distinct(rng, wd, ward, lon, lat, location)

    # --- assemble, chronological ----------------------------------------------------------------
    order = np.argsort(start_min, kind="stable")
    c = child[order]
    origin = first_day.astype("datetime64[m]")
    ep_dates = first_day + (start_min[order] // 1440).astype("timedelta64[D]")
    home_ids = np.where(at_home[order], homes.ids[safe_home[order]], None)
    episodes = pd.DataFrame(
        {
            sc.EPISODE_ID: _ids("E", np.arange(1, n + 1), 6),
            sc.CHILD_ID: _ids("C", child_number, 5)[c],
            sc.MISSING_FROM: _format_minutes(origin, start_min[order]),
            sc.RETURNED: _format_minutes(origin, returned[order], has_return[order]),
            sc.LAT: lat[order],
            sc.LON: lon[order],
            sc.SEX: _labels(("F", "M"), boy.astype(np.int64))[c],
            sc.AGE: _age_on(dob[c], ep_dates),
            sc.DOB: np.datetime_as_string(dob, unit="D").astype(object)[c],
            sc.CARE_STATUS: care[c],
            sc.PLACEMENT_TYPE: _labels(PLACEMENTS, placement)[c],
            sc.HOME_ID: home_ids,
            sc.PLACING_AUTHORITY: placing[c],
            sc.CATEGORY: _labels(("missing", "absent"), absent[order].astype(np.int64)),
            sc.RISK: _labels(RISK_LEVELS, risk[order]),
            sc.RHI_OFFERED: _format_minutes(origin, offered_min[order], offered[order]),
            sc.RHI_COMPLETED: _format_minutes(origin, completed_min[order], completed[order]),
            sc.CE_SCREENING: _labels(("no", "yes"), ce_yes.astype(np.int64))[c],
        },
        columns=list(EPISODE_COLUMNS),
    )
    return SynthData(episodes=episodes, homes=homes.frame)


def write_synthetic(data: SynthData, out_dir: Path) -> dict[str, Path]:
    """Write ``episodes.csv`` and ``homes.csv`` (UTF-8, no index, ``\\n`` line ends).

    Parameters
    ----------
    data : SynthData
        Output of :func:`generate_synthetic`.
    out_dir : pathlib.Path
        Folder to write into; created if needed. Existing files of the same name are replaced.

    Returns
    -------
    dict[str, pathlib.Path]
        ``{"episodes": path, "homes": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"episodes": out / "episodes.csv", "homes": out / "homes.csv"}
    for key, frame in (("episodes", data.episodes), ("homes", data.homes)):
        frame.to_csv(
            paths[key], index=False, encoding="utf-8", lineterminator="\n", float_format="%.6f"
        )
    return paths


# --- parameters and wards ---------------------------------------------------------------------


def _check_count(n_episodes: int) -> int:
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int | np.integer):
        raise ParameterError(f"n_episodes must be a whole number, got {n_episodes!r}")
    if n_episodes < 1:
        raise ParameterError(f"n_episodes must be at least 1, got {n_episodes}")
    return int(n_episodes)


def _check_period(start: str, end: str) -> tuple[np.datetime64, int]:
    try:
        first, last = np.datetime64(start, "D"), np.datetime64(end, "D")
    except ValueError as exc:
        raise ParameterError(f"start and end must be ISO dates (2020-01-31): {exc}") from None
    if last < first:
        raise ParameterError(f"end ({end}) is before start ({start})")
    return first, int((last - first).astype(int)) + 1


def _prepare_wards(wards: gpd.GeoDataFrame) -> _Wards:
    if not isinstance(wards, gpd.GeoDataFrame):
        raise BoundaryError("wards must be a GeoDataFrame of ward polygons")
    missing = [col for col in (sc.WARD_CODE, sc.LAD_CODE) if col not in wards.columns]
    if missing:
        raise BoundaryError(f"wards lack column(s) {', '.join(missing)}")
    if wards.crs is None:
        raise BoundaryError("wards have no CRS; set one (e.g. EPSG:4326) before generating")
    w = wards if wards.crs.to_epsg() == 4326 else wards.to_crs(sc.WGS84)
    kind = shapely.get_type_id(w.geometry.values)
    w = w[np.isin(kind, (3, 6)) & ~w.geometry.is_empty]  # Polygon, MultiPolygon
    if w.empty:
        raise BoundaryError("wards hold no polygon")
    w = w.sort_values(sc.WARD_CODE, kind="mergesort")
    geoms = np.asarray(w.geometry.values, dtype=object)
    shapely.prepare(geoms)
    lad = w[sc.LAD_CODE].astype(str).to_numpy()
    names = w[sc.WARD_NAME].astype(str) if sc.WARD_NAME in w.columns else pd.Series("", w.index)
    town = names.str.contains(TOWN_PATTERN).to_numpy(dtype=bool) | np.isin(lad, CITY_LADS)
    if not town.any():
        town[:] = True
    centre = shapely.centroid(geoms)
    cx, cy = shapely.get_x(centre), shapely.get_y(centre)
    surface = shapely.point_on_surface(geoms)
    inside = shapely.contains_xy(geoms, cx, cy)
    anchors = np.column_stack(
        [np.where(inside, cx, shapely.get_x(surface)), np.where(inside, cy, shapely.get_y(surface))]
    )
    return _Wards(geoms, lad, town, shapely.bounds(geoms), anchors)


# --- geometry helpers -------------------------------------------------------------------------


def _quantise(values: np.ndarray) -> np.ndarray:
    """Round to 6 decimals exactly as written to CSV (about 0.1 m)."""
    return np.round(values * 1e6) / 1e6


def _inside(
    geom: shapely.Geometry, lon: np.ndarray, lat: np.ndarray, margin_m: float
) -> np.ndarray:
    """Strictly inside ``geom``; with a margin, so are 4 points ``margin_m`` metres away."""
    ok = shapely.contains_xy(geom, lon, lat)
    if margin_m > 0 and ok.any():
        dlat = margin_m / METRES_PER_DEGREE
        dlon = dlat / np.cos(np.radians(lat))
        for sx, sy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ok &= shapely.contains_xy(geom, lon + sx * dlon, lat + sy * dlat)
    return ok


def _by_ward(ward: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """Positions of each ward's points, wards in ascending order."""
    if ward.size == 0:
        return []
    order = np.argsort(ward, kind="stable")
    keys, first = np.unique(ward[order], return_index=True)
    return list(zip(keys.tolist(), np.split(order, first[1:]), strict=True))


def _inside_wards(
    wd: _Wards, ward: np.ndarray, lon: np.ndarray, lat: np.ndarray, margin_m: float
) -> np.ndarray:
    ok = np.zeros(lon.size, dtype=bool)
    for w, idx in _by_ward(ward):
        ok[idx] = _inside(wd.geoms[w], lon[idx], lat[idx], margin_m)
    return ok


def _uniform_points(
    rng: np.random.Generator, wd: _Wards, ward: np.ndarray, margin_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """One point per entry of ``ward``, uniform (in degrees) inside that ward, by rejection."""
    lon, lat = np.empty(ward.size), np.empty(ward.size)
    for w, idx in _by_ward(ward):
        x0, y0, x1, y1 = wd.bounds[w]
        filled = 0
        while filled < idx.size:
            k = max(16, 3 * (idx.size - filled))
            x = _quantise(rng.uniform(x0, x1, k))
            y = _quantise(rng.uniform(y0, y1, k))
            keep = np.flatnonzero(_inside(wd.geoms[w], x, y, margin_m))[: idx.size - filled]
            lon[idx[filled : filled + keep.size]] = x[keep]
            lat[idx[filled : filled + keep.size]] = y[keep]
            filled += keep.size
    return lon, lat


def _points_near_anchor(
    rng: np.random.Generator, wd: _Wards, ward: np.ndarray, spread_m: float, margin_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points scattered around each ward's centre (normal, ``spread_m``), inside the ward."""
    lon, lat = np.empty(ward.size), np.empty(ward.size)
    pending = np.arange(ward.size)
    for _ in range(50):
        if pending.size == 0:
            break
        w = ward[pending]
        ax, ay = wd.anchors[w, 0], wd.anchors[w, 1]
        y = _quantise(ay + rng.normal(0.0, spread_m, pending.size) / METRES_PER_DEGREE)
        x = _quantise(
            ax + rng.normal(0.0, spread_m, pending.size)
            / (METRES_PER_DEGREE * np.cos(np.radians(ay)))
        )
        ok = _inside_wards(wd, w, x, y, margin_m)
        lon[pending[ok]], lat[pending[ok]] = x[ok], y[ok]
        pending = pending[~ok]
    if pending.size:  # a ward too thin around its centre: anywhere in the ward instead
        lon[pending], lat[pending] = _uniform_points(rng, wd, ward[pending], margin_m)
    return lon, lat


def _jitter_distinct(
    rng: np.random.Generator,
    wd: _Wards,
    ward: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    location: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Move every point a few metres, within its ward, so that no two (lat, lon) are equal."""
    n = lon.size
    radius = np.maximum(JITTER_MIN_M, JITTER_PER_SQRT_M * np.sqrt(np.bincount(location)))
    radius = radius[location]
    out_lon, out_lat = lon.copy(), lat.copy()
    accepted = np.zeros(n, dtype=bool)
    pending = np.arange(n)
    for round_no in range(200):
        if pending.size == 0:
            return out_lon, out_lat
        if round_no >= 10:  # crowded or squeezed against a boundary: widen a little
            radius[pending] *= 1.1
        r = radius[pending] * np.sqrt(rng.random(pending.size))
        theta = rng.uniform(0.0, 2.0 * np.pi, pending.size)
        base_lat = lat[pending]
        y = _quantise(base_lat + r * np.sin(theta) / METRES_PER_DEGREE)
        x = _quantise(
            lon[pending] + r * np.cos(theta) / (METRES_PER_DEGREE * np.cos(np.radians(base_lat)))
        )
        ok = _inside_wards(wd, ward[pending], x, y, 0.0)
        cand = pending[ok]
        out_lon[cand], out_lat[cand] = x[ok], y[ok]
        kept = np.flatnonzero(accepted)
        both = np.concatenate([kept, cand])
        dup = pd.Series(_point_keys(out_lon[both], out_lat[both])).duplicated().to_numpy()
        fresh = cand[~dup[kept.size :]]
        accepted[fresh] = True
        pending = np.flatnonzero(~accepted)
    raise RuntimeError("could not spread the points into distinct locations")  # pragma: no cover


def _point_keys(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """One int64 per (lat, lon) rounded to 6 decimals."""
    ilat = np.round(lat * 1e6).astype(np.int64)
    ilon = np.round(lon * 1e6).astype(np.int64)
    return (ilat << 32) + (ilon & 0xFFFFFFFF)


# --- homes ------------------------------------------------------------------------------------


def _make_homes(rng: np.random.Generator, wd: _Wards, scale: float, host: str) -> _Homes:
    in_cw = np.isin(wd.lad_codes, CHERWELL_WEST_LADS)
    parts: list[dict[str, np.ndarray]] = []
    for code, spec in enumerate(HOME_SPECS):
        count = max(spec.min_count, round(spec.base_count * scale))
        cw = rng.permutation(np.arange(count) < round(spec.cherwell_west_share * count))
        town = rng.random(count) < spec.town_share
        ward = np.empty(count, dtype=np.int64)
        for want_cw in (True, False):
            for want_town in (True, False):
                sel = np.flatnonzero((cw == want_cw) & (town == want_town))
                cands = _candidate_wards(wd, in_cw == want_cw, want_town)
                ward[sel] = cands[rng.integers(0, cands.size, size=sel.size)]
        lon, lat = np.empty(count), np.empty(count)
        lon[town], lat[town] = _points_near_anchor(
            rng, wd, ward[town], spec.spread_m, BOUNDARY_MARGIN_M
        )
        lon[~town], lat[~town] = _uniform_points(rng, wd, ward[~town], BOUNDARY_MARGIN_M)
        names, shares = zip(*spec.providers, strict=True)
        provider = rng.choice(len(names), size=count, p=_p(shares))
        width = max(2, len(str(count)))
        ids = np.array([f"{spec.prefix}{i:0{width}d}" for i in range(1, count + 1)], dtype=object)
        parts.append({
            "kind": np.full(count, code),
            "ids": ids,
            "names": np.array([f"{spec.label} {i}" for i in ids], dtype=object),
            "provider": np.array([names[p].format(host=host) for p in provider], dtype=object),
            "council": np.array([names[p] == HOST_COUNCIL for p in provider], dtype=bool),
            "places": rng.choice(np.array(spec.places), size=count, p=_p(spec.places_share)),
            "lon": lon,
            "lat": lat,
            "ward": ward,
        })
    cat = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    frame = pd.DataFrame(
        {
            sc.HOME_ID: cat["ids"],
            sc.HOME_TYPE: np.array([HOME_SPECS[k].type for k in cat["kind"]], dtype=object),
            sc.HOME_NAME: cat["names"],
            sc.HOME_PROVIDER: cat["provider"],
            sc.HOME_PLACES: cat["places"].astype(np.int64),
            sc.LAT: cat["lat"],
            sc.LON: cat["lon"],
        },
        columns=list(HOME_COLUMNS),
    )
    frame = frame.sort_values(sc.HOME_ID, kind="mergesort").reset_index(drop=True)
    return _Homes(
        frame, cat["kind"], cat["ids"], cat["lon"], cat["lat"], cat["ward"],
        cat["places"], cat["council"],
    )


def _candidate_wards(wd: _Wards, in_group: np.ndarray, want_town: bool) -> np.ndarray:
    """Wards of the group (town wards if asked), falling back to any ward of the group, then
    to any ward at all, so that a partial boundary set still works."""
    for mask in (in_group & (wd.town if want_town else True), in_group, np.ones_like(in_group)):
        cands = np.flatnonzero(mask)
        if cands.size:
            return cands
    raise BoundaryError("wards hold no polygon")  # pragma: no cover


# --- children and episodes --------------------------------------------------------------------


def _p(shares: tuple[float, ...]) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return p / p.sum()


def _episode_counts(
    rng: np.random.Generator, n: int, placement: np.ndarray, home_effect: np.ndarray
) -> np.ndarray:
    """Episodes per child, summing to exactly ``n``: one each, a second for repeat-prone
    children, the rest spread with heavy-tailed (capped Lomax) weights."""
    n_children = placement.size
    prone = rng.random(n_children) < np.asarray(REPEAT_PRONE)[placement]
    excess = n_children + int(prone.sum()) - n
    if excess > 0:  # tiny n: fewer repeat children
        prone[rng.permutation(np.flatnonzero(prone))[:excess]] = False
    counts = 1 + prone.astype(np.int64)
    heavy = np.minimum(rng.pareto(PARETO_ALPHA, n_children), PARETO_CAP)
    weights = np.where(prone, np.asarray(REPEAT_INTENSITY)[placement] * home_effect * heavy, 0.0)
    rest = n - int(counts.sum())
    if rest > 0:
        if weights.sum() <= 0:
            weights = np.ones(n_children)
        counts += rng.multinomial(rest, weights / weights.sum())
    return counts


def _shift_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    y = days.astype("datetime64[Y]")
    m = days.astype("datetime64[M]")
    month = (m - y.astype("datetime64[M]")).astype(np.int64)
    day = (days - m.astype("datetime64[D]")).astype(np.int64)
    new_month = (y - years.astype("timedelta64[Y]")).astype("datetime64[M]") + month.astype(
        "timedelta64[M]"
    )
    next_month = (new_month + np.timedelta64(1, "M")).astype("datetime64[D]")
    month_end = next_month - np.timedelta64(1, "D")
    return np.minimum(new_month.astype("datetime64[D]") + day.astype("timedelta64[D]"), month_end)


def _dates_of_birth(
    rng: np.random.Generator,
    first_day: np.datetime64,
    window_start: np.ndarray,
    window_days: int,
    age_end: np.ndarray,
    min_age: np.ndarray,
) -> np.ndarray:
    """Birth dates so that a child is ``age_end`` on the last day of their window and never
    younger than ``min_age`` (nor 18) within it."""
    w0 = first_day + window_start.astype("timedelta64[D]")
    w1 = w0 + np.timedelta64(window_days - 1, "D")
    lo = _shift_years(w1, age_end + 1) + np.timedelta64(1, "D")
    hi = _shift_years(w1, age_end)
    youngest = age_end <= min_age
    hi = np.where(youngest, np.minimum(hi, _shift_years(w0, min_age)), hi)
    span = (hi - lo).astype(np.int64) + 1
    offset = np.floor(rng.random(age_end.size) * span).astype(np.int64)
    return lo + offset.astype("timedelta64[D]")


def _age_on(dob: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whole years from ``dob`` to ``day`` (both datetime64[D])."""

    def parts(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = d.astype("datetime64[Y]")
        m = d.astype("datetime64[M]")
        year = y.astype(np.int64) + 1970
        month_day = (m - y.astype("datetime64[M]")).astype(np.int64) * 100 + (
            d - m.astype("datetime64[D]")
        ).astype(np.int64)
        return year, month_day

    y0, md0 = parts(dob)
    y1, md1 = parts(day)
    return (y1 - y0 - (md1 < md0)).astype(np.int64)


def _episode_starts(
    rng: np.random.Generator,
    child: np.ndarray,
    window_start: np.ndarray,
    window_days: int,
) -> np.ndarray:
    """Start minute (from the first day, 00:00) of each episode, within the child's window, by
    hour-of-day profile; sorted within child, never two at the same minute for one child."""
    hour_p = _p(HOUR_WEIGHTS)
    n = child.size
    minutes = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    while pending.size:
        k = pending.size
        day = window_start[child[pending]] + rng.integers(0, window_days, size=k)
        minutes[pending] = (
            day * 1440 + rng.choice(24, size=k, p=hour_p) * 60 + rng.integers(0, 60, size=k)
        )
        key = child * (1 << 32) + minutes  # child is already sorted, so only minutes move
        key.sort()
        minutes = key - child * (1 << 32)
        same = (child[1:] == child[:-1]) & (minutes[1:] == minutes[:-1])
        pending = np.flatnonzero(same) + 1
    return minutes


def _mixture(
    rng: np.random.Generator, parts: tuple[tuple[float, int, int, bool], ...], n: int
) -> np.ndarray:
    """Whole minutes from a mixture of uniform (or log-uniform) ranges [low, high)."""
    shares = _p(tuple(part[0] for part in parts))
    which = rng.choice(len(parts), size=n, p=shares)
    u = rng.random(n)
    low = np.array([part[1] for part in parts], dtype=float)[which]
    high = np.array([part[2] for part in parts], dtype=float)[which]
    logu = np.array([part[3] for part in parts], dtype=bool)[which]
    value = np.where(logu, low * (high / low) ** u, low + (high - low) * u)
    return np.minimum(np.floor(value), high - 1).astype(np.int64)


def _placing_authorities(
    rng: np.random.Generator, host: str, placement: np.ndarray, home_of: np.ndarray, homes: _Homes
) -> np.ndarray:
    """The host authority for most children; another authority for some children in homes,
    more often in independent, private and voluntary homes."""
    others = [(name, share) for name, share in OTHER_AUTHORITIES if name.lower() != host.lower()]
    out = np.full(placement.size, host, dtype=object)
    in_home = home_of >= 0
    safe = np.where(in_home, home_of, 0)
    p_council = np.array([spec.other_la_council for spec in HOME_SPECS])
    p_external = np.array([spec.other_la_external for spec in HOME_SPECS])
    kind = np.minimum(placement, len(HOME_SPECS) - 1)
    p_other = np.where(homes.council[safe], p_council[kind], p_external[kind])
    draw = rng.random(placement.size)
    pick = rng.choice(len(others), size=placement.size, p=_p(tuple(s for _, s in others)))
    chosen = in_home & (draw < p_other)
    out[chosen] = np.array([name for name, _ in others], dtype=object)[pick[chosen]]
    return out


# --- text -------------------------------------------------------------------------------------


def _labels(names: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    """Object array of ``names[code]``, sharing one string object per label."""
    return np.array(names, dtype=object)[codes]


def _put_digits(codes: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    """Write ``values`` as zero-padded decimal digits into ``codes[:, col:col + width]``."""
    rest = values.astype(np.int64)
    for k in range(col + width - 1, col - 1, -1):
        codes[:, k] = ord("0") + rest % 10
        rest = rest // 10


def _text(codes: np.ndarray) -> np.ndarray:
    """Object array of the strings spelled by the UCS-4 code points in each row of ``codes``."""
    width = codes.shape[1]
    return np.ascontiguousarray(codes).view(f"<U{width}").reshape(codes.shape[0]).astype(object)


def _ids(prefix: str, numbers: np.ndarray, min_width: int) -> np.ndarray:
    """``prefix`` + zero-padded number, e.g. E000001; wider when the numbers need it."""
    width = max(min_width, len(str(int(numbers.max())))) if numbers.size else min_width
    codes = np.empty((numbers.size, len(prefix) + width), dtype=np.uint32)
    codes[:, : len(prefix)] = [ord(ch) for ch in prefix]
    _put_digits(codes, len(prefix), numbers, width)
    return _text(codes)


def _format_minutes(
    origin: np.datetime64, minutes: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray:
    """``YYYY-MM-DD HH:MM`` text for minutes after ``origin``; missing where not ``valid``.

    Each distinct minute is spelled once, digit by digit (years 0-9999), and shared by the rows
    that need it: at a million rows this is many times faster than ``datetime_as_string``."""
    out = np.full(minutes.size, None, dtype=object)
    keep = np.ones(minutes.size, dtype=bool) if valid is None else valid
    distinct, inverse = np.unique(minutes[keep], return_inverse=True)
    stamp = origin + distinct.astype("timedelta64[m]")
    day = stamp.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    year = month.astype("datetime64[Y]")
    minute_of_day = (stamp - day.astype("datetime64[m]")).astype(np.int64)
    codes = np.empty((distinct.size, 16), dtype=np.uint32)
    _put_digits(codes, 0, year.astype(np.int64) + 1970, 4)
    codes[:, 4] = codes[:, 7] = ord("-")
    _put_digits(codes, 5, (month - year.astype("datetime64[M]")).astype(np.int64) + 1, 2)
    _put_digits(codes, 8, (day - month.astype("datetime64[D]")).astype(np.int64) + 1, 2)
    codes[:, 10] = ord(" ")
    _put_digits(codes, 11, minute_of_day // 60, 2)
    codes[:, 13] = ord(":")
    _put_digits(codes, 14, minute_of_day % 60, 2)
    out[keep] = _text(codes)[inverse]
    return out


# --- children placed out of area (the host's own children, missing elsewhere) ------------------

# Town centres outside Oxfordshire where the county places children (public places, not
# addresses): name of the local authority, lat, lon.
PLACED_OUT_TOWNS: Final = (
    ("Reading", 51.4543, -0.9781),
    ("Swindon", 51.5558, -1.7797),
    ("West Northamptonshire", 52.2405, -0.9027),
    ("Buckinghamshire", 51.8168, -0.8124),
    ("Gloucestershire", 51.8994, -2.0783),
)
PLACED_OUT_SHARE: Final = 0.04  # of the host's looked-after children, in the demo


def add_placed_out(
    data: SynthData,
    *,
    share: float = PLACED_OUT_SHARE,
    seed: int = 1,
    host_authority: str = "Oxfordshire",
) -> SynthData:
    """Move some of the host's own looked-after children to placements outside the county.

    Their episodes are located in a neighbouring authority's town (jittered by up to ~300 m)
    with `placement_la` set, so they come out as ``outside_area`` and feed the placed-out
    table. The returned data is otherwise unchanged (same episodes, same order).
    """
    rng = np.random.default_rng(seed + 7919)
    episodes = data.episodes.copy()
    host = episodes[sc.PLACING_AUTHORITY].astype(str) == host_authority
    looked_after = episodes[sc.CARE_STATUS].astype(str) == "looked_after"
    children = np.sort(episodes.loc[host & looked_after, sc.CHILD_ID].astype(str).unique())
    n = round(len(children) * share)
    if n == 0:
        return data
    chosen = rng.choice(children, size=n, replace=False)
    town_of = {c: PLACED_OUT_TOWNS[i % len(PLACED_OUT_TOWNS)] for i, c in enumerate(chosen)}
    rows = episodes[sc.CHILD_ID].astype(str).isin(set(chosen)).to_numpy()
    towns = [town_of[c] for c in episodes.loc[rows, sc.CHILD_ID].astype(str)]
    jitter = rng.uniform(-0.003, 0.003, size=(int(rows.sum()), 2))
    episodes["placement_la"] = ""
    lat = np.array([t[1] for t in towns]) + jitter[:, 0]
    lon = np.array([t[2] for t in towns]) + jitter[:, 1]
    episodes.loc[rows, sc.LAT] = np.round(lat, 6)
    episodes.loc[rows, sc.LON] = np.round(lon, 6)
    episodes.loc[rows, "placement_la"] = [t[0] for t in towns]
    episodes.loc[rows, sc.HOME_ID] = ""
    return SynthData(episodes=episodes, homes=data.homes)
