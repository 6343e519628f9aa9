"""The whole analysis as one pure function: episodes in; areas, hotspots and tables out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.areas import AREA_COLUMNS, assign_areas
from geo.cluster import check_cluster_params, cluster_episodes, hotspot_ids, hotspot_outlines
from geo.episodes import Table
from geo.errors import ParameterError
from geo.homes import validate_homes
from geo.postcodes import PostcodeIndex
from geo.summary import prepare_for_summaries, summarise, summarise_totals
from geo.validate import Period, validate_episodes

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AnalysisConfig:
    """Parameters of a run; checked on creation."""

    eps_m: float = 250.0
    min_samples: int = 5
    period: Period | None = None
    host_authority: str = s.DEFAULT_HOST_AUTHORITY
    hotspot_precision: str = s.DEFAULT_HOTSPOT_PRECISION

    def __post_init__(self) -> None:
        check_cluster_params(self.eps_m, self.min_samples)
        if self.hotspot_precision not in s.PRECISIONS:
            msg = (
                f"`hotspot_precision` must be one of {', '.join(s.PRECISIONS)}. "
                f"Got {self.hotspot_precision!r} instead."
            )
            raise ParameterError(msg)

    @property
    def hotspot_precisions(self) -> tuple[str, ...]:
        """The precisions used for hotspots: `hotspot_precision` and anything finer."""
        return s.PRECISIONS[: s.PRECISIONS.index(self.hotspot_precision) + 1]


@dataclass(frozen=True)
class AnalysisResult:
    """Everything a run produces, ready to be written or drawn.

    Attributes
    ----------
    episodes
        One row per input record, input order: audit status and reason, normalised fields,
        lat/lon, x/y, areas, `hotspot_id`.
    hotspots
        One row per hotspot (GeoDataFrame, WGS84 hull polygons) with its counts.
    localities
        ``{"lpa": ..., "district": ..., "ward": ...}`` tables, every area included.
    totals
        The same measures for the whole area, one row.
    homes
        The validated homes register with areas and hotspot (``None`` without a register).
    counts
        read, mapped, rejected, outside_area, by reason, and others.
    timings
        Seconds per step.
    """

    config: AnalysisConfig
    episodes: pd.DataFrame
    hotspots: gpd.GeoDataFrame
    localities: dict[str, pd.DataFrame]
    totals: pd.DataFrame
    homes: pd.DataFrame | None
    counts: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mapped(self) -> pd.DataFrame:
        """The mapped episodes only."""
        return self.episodes[self.episodes[s.STATUS] == s.MAPPED]


def _noop(_: str) -> None:
    return None


def analyse(
    table: Table,
    *,
    wards: gpd.GeoDataFrame,
    config: AnalysisConfig | None = None,
    homes_table: Table | None = None,
    postcodes: PostcodeIndex | None = None,
    prerejected: pd.DataFrame | None = None,
    progress: Progress = _noop,
) -> AnalysisResult:
    """Validate, locate, cluster and summarise an episodes file.

    Parameters
    ----------
    table
        The episodes file as read by `geo.episodes.read_table`.
    wards
        Ward polygons (WGS84) with `ward_code`, `ward_name`, `lad_code`, `lad_name`,
        `lpa_name`; districts and LPAs are the groupings of these columns.
    config
        eps, min samples, period, host authority.
    homes_table
        An optional homes register.
    postcodes
        An offline postcode index for rows (and homes) located by postcode.
    prerejected
        Input rows already rejected upstream (e.g. SSDA903 Missing rows with no placement),
        with `row_number`, `episode_id`, `reason`, `detail`: they join the audit so that rows
        read = mapped + rejected + outside_area still holds.
    progress
        Called with a short message as each step starts.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}

    def step(name: str, message: str) -> None:
        timings[name] = time.perf_counter()
        progress(message)

    def done(name: str) -> None:
        timings[name] = round(time.perf_counter() - timings[name], 3)

    step("validate", f"Validating {len(table.frame):,} rows")
    if table.frame.empty and prerejected is not None:
        episodes = _empty_validated()
    else:
        episodes = validate_episodes(
            table, host_authority=config.host_authority, period=config.period,
            postcodes=postcodes,
        )
    if prerejected is not None and len(prerejected):
        episodes = _merge_prerejected(episodes, prerejected)
    done("validate")

    step("areas", "Assigning wards, districts and LPAs")
    episodes = assign_areas(episodes, wards)
    done("areas")

    step("hotspots", f"Finding hotspots (DBSCAN, eps {config.eps_m:g} m, "
         f"min {config.min_samples} episodes)")
    mapped_mask = (episodes[s.STATUS] == s.MAPPED).to_numpy()
    precise = mapped_mask & episodes[s.PRECISION].isin(config.hotspot_precisions).to_numpy()
    x = episodes[s.X].to_numpy()[precise]
    y = episodes[s.Y].to_numpy()[precise]
    labels = cluster_episodes(x, y, eps_m=config.eps_m, min_samples=config.min_samples)
    ids = np.full(len(episodes), "", dtype=object)
    ids[precise] = hotspot_ids(labels)
    episodes[s.HOTSPOT_ID] = ids
    outlines = hotspot_outlines(x, y, labels)
    done("hotspots")

    homes = None
    if homes_table is not None:
        step("homes", f"Reading the homes register ({len(homes_table.frame):,} rows)")
        homes = assign_areas(validate_homes(homes_table, postcodes), wards)
        done("homes")

    step("tables", "Summarising localities and hotspots")
    mapped = prepare_for_summaries(episodes[mapped_mask])
    localities = _localities(mapped, wards)
    totals = summarise_totals(mapped, "All areas")
    hotspots = _hotspot_table(mapped, outlines, homes, config.eps_m)
    if homes is not None:
        homes = _homes_in_hotspots(homes, hotspots, config.eps_m)
    done("tables")

    counts = _counts(episodes, table)
    return AnalysisResult(
        config=config,
        episodes=episodes,
        hotspots=hotspots,
        localities=localities,
        totals=totals,
        homes=homes,
        counts=counts,
        timings=timings,
    )


def _empty_validated() -> pd.DataFrame:
    """The frame `validate_episodes` returns, with no rows (every input row was prerejected)."""
    columns = {
        s.ROW_NUMBER: "int64", s.EPISODE_ID: object, s.CHILD_ID: object,
        s.MISSING_FROM: "datetime64[ns]", s.RETURNED: "datetime64[ns]",
        s.DURATION_HOURS: float, s.SEX: object, s.CARE_STATUS: object,
        s.PLACEMENT_TYPE: object, s.CATEGORY: object, s.RISK: object, s.LOOKED_AFTER: object,
        s.AGE: "Int64", s.AGE_BAND: object, s.HOME_ID: object, s.PLACING_AUTHORITY: object,
        s.PLACED_BY_OTHER_LA: object, s.PLACEMENT_LA: object,
        s.RHI_OFFERED: "datetime64[ns]", s.RHI_COMPLETED: "datetime64[ns]",
        s.CE_SCREENING: object, s.LAT: float, s.LON: float, s.X: float, s.Y: float,
        s.PRECISION: object, s.STATUS: object, s.REASON: object, s.DETAIL: object,
        s.WARNINGS: object,
    }  # fmt: skip
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in columns.items()})


def _merge_prerejected(episodes: pd.DataFrame, prerejected: pd.DataFrame) -> pd.DataFrame:
    """Add upstream-rejected rows to the validated frame, in row order."""
    extra = pd.DataFrame(
        {
            s.ROW_NUMBER: prerejected[s.ROW_NUMBER].astype("int64").to_numpy(),
            s.EPISODE_ID: prerejected[s.EPISODE_ID].astype(str).to_numpy(),
            s.STATUS: s.REJECTED,
            s.REASON: prerejected[s.REASON].astype(str).replace(s.SSDA903_REASONS).to_numpy(),
            s.DETAIL: prerejected[s.DETAIL].astype(str).to_numpy(),
            s.WARNINGS: "",
            s.PRECISION: "",
            s.CHILD_ID: "",
            s.HOME_ID: "",
        }
    )
    merged = pd.concat([episodes, extra], ignore_index=True)
    for col in episodes.columns:
        if merged[col].dtype == object:
            merged[col] = merged[col].fillna("")
    merged = merged.sort_values(s.ROW_NUMBER, kind="stable").reset_index(drop=True)
    return merged


def _localities(mapped: pd.DataFrame, wards: gpd.GeoDataFrame) -> dict[str, pd.DataFrame]:
    ward_index = (
        wards[list(AREA_COLUMNS)].astype(str).sort_values(s.WARD_CODE).reset_index(drop=True)
    )
    district_index = (
        ward_index[[s.LAD_CODE, s.LAD_NAME, s.LPA_NAME]]
        .drop_duplicates(s.LAD_CODE)
        .sort_values(s.LAD_CODE)
        .reset_index(drop=True)
    )
    lpa_index = (
        ward_index[[s.LPA_NAME]].drop_duplicates().sort_values(s.LPA_NAME).reset_index(drop=True)
    )
    return {
        "lpa": summarise(mapped, [s.LPA_NAME], lpa_index),
        "district": summarise(mapped, [s.LAD_CODE], district_index),
        "ward": summarise(mapped, [s.WARD_CODE], ward_index),
    }


def _hotspot_table(
    mapped: pd.DataFrame,
    outlines: gpd.GeoDataFrame,
    homes: pd.DataFrame | None,
    eps_m: float,
) -> gpd.GeoDataFrame:
    in_spot = mapped[mapped[s.HOTSPOT_ID] != ""]
    columns = [
        s.HOTSPOT_ID, s.LPA_NAME, s.LAD_NAME, s.WARD_NAME, "wards", "episodes", "children",
        "repeat_children", "locations", "centroid_lat", "centroid_lon", "area_ha",
    ]  # fmt: skip
    if in_spot.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=s.WGS84), crs=s.WGS84)
    table = summarise(in_spot, [s.HOTSPOT_ID])
    main = {}
    for col in (s.LPA_NAME, s.LAD_NAME, s.WARD_NAME):
        counts = in_spot.groupby([s.HOTSPOT_ID, col]).size().rename("n").reset_index()
        counts = counts.sort_values([s.HOTSPOT_ID, "n", col], ascending=[True, False, True])
        main[col] = counts.drop_duplicates(s.HOTSPOT_ID).set_index(s.HOTSPOT_ID)[col]
    grouped = in_spot.groupby(s.HOTSPOT_ID)
    extra = pd.DataFrame(
        {
            s.LPA_NAME: main[s.LPA_NAME],
            s.LAD_NAME: main[s.LAD_NAME],
            s.WARD_NAME: main[s.WARD_NAME],
            "wards": grouped[s.WARD_CODE].nunique(),
            "locations": in_spot.drop_duplicates([s.HOTSPOT_ID, s.X, s.Y])
            .groupby(s.HOTSPOT_ID)
            .size(),
            "centroid_lat": grouped[s.LAT].mean().round(5),
            "centroid_lon": grouped[s.LON].mean().round(5),
        }
    )
    table = table.merge(extra, left_on=s.HOTSPOT_ID, right_index=True, how="left")
    label_ids = hotspot_ids(outlines["label"].to_numpy())
    geom = gpd.GeoSeries(outlines.geometry.values, index=label_ids, crs=s.BNG)
    table["area_ha"] = (
        table[s.HOTSPOT_ID].map(geom.area.to_dict()).astype(float).div(10_000).round(2)
    )
    geometry = gpd.GeoSeries(
        table[s.HOTSPOT_ID].map(geom.to_dict()).to_list(), crs=s.BNG
    ).to_crs(s.WGS84)
    if homes is not None:
        table = _homes_near(table, geom, homes, eps_m)
    ordered = columns + [c for c in table.columns if c not in columns]
    return gpd.GeoDataFrame(table[ordered], geometry=geometry.to_numpy(), crs=s.WGS84)


def _usable_homes(homes: pd.DataFrame) -> pd.DataFrame:
    return homes[homes[s.STATUS] == s.MAPPED]


def _homes_near(
    table: pd.DataFrame, geom: gpd.GeoSeries, homes: pd.DataFrame, eps_m: float
) -> pd.DataFrame:
    usable = _usable_homes(homes)
    points = shapely.points(usable[s.X].to_numpy(), usable[s.Y].to_numpy())
    for kind in s.HOME_TYPES:
        table[f"homes_{kind}"] = 0
    for pos, hid in enumerate(table[s.HOTSPOT_ID]):
        near = shapely.dwithin(geom[hid], points, eps_m)
        kinds = usable[s.HOME_TYPE].to_numpy()[near]
        for kind in s.HOME_TYPES:
            table.iloc[pos, table.columns.get_loc(f"homes_{kind}")] = int((kinds == kind).sum())
    return table


def _homes_in_hotspots(
    homes: pd.DataFrame, hotspots: gpd.GeoDataFrame, eps_m: float
) -> pd.DataFrame:
    out = homes.copy()
    out[s.HOTSPOT_ID] = ""
    if hotspots.empty:
        return out
    hulls = hotspots.to_crs(s.BNG)
    usable = (out[s.STATUS] == s.MAPPED).to_numpy()
    points = shapely.points(out[s.X].to_numpy()[usable], out[s.Y].to_numpy()[usable])
    tree = shapely.STRtree(np.asarray(hulls.geometry.values))
    home_idx, hull_idx = tree.query(points, predicate="dwithin", distance=eps_m)
    ids = np.full(int(usable.sum()), "", dtype=object)
    dist = shapely.distance(points[home_idx], np.asarray(hulls.geometry.values)[hull_idx])
    order = np.lexsort((hull_idx, dist, home_idx))  # nearest hotspot wins, then lowest id
    home_idx, hull_idx = home_idx[order], hull_idx[order]
    first = np.r_[True, home_idx[1:] != home_idx[:-1]] if len(home_idx) else np.array([], bool)
    ids[home_idx[first]] = hulls[s.HOTSPOT_ID].to_numpy()[hull_idx[first]]
    column = out[s.HOTSPOT_ID].to_numpy(dtype=object)
    column[usable] = ids
    out[s.HOTSPOT_ID] = column
    return out


def _counts(episodes: pd.DataFrame, table: Table) -> dict[str, object]:
    status = episodes[s.STATUS]
    read = len(episodes)
    mapped = int((status == s.MAPPED).sum())
    rejected = int((status == s.REJECTED).sum())
    outside = int((status == s.OUTSIDE_AREA).sum())
    reasons = episodes.loc[status == s.REJECTED, s.REASON].value_counts().sort_index()
    warnings = (
        episodes[s.WARNINGS].str.split(";").explode().loc[lambda w: w != ""].value_counts()
    )
    precision = (
        episodes.loc[status == s.MAPPED, s.PRECISION].value_counts().sort_index()
    )
    mapped_frame = episodes[status == s.MAPPED]
    return {
        "read": read,
        "mapped": mapped,
        "rejected": rejected,
        "outside_area": outside,
        "conserved": read == mapped + rejected + outside,
        "blank_rows_skipped": table.blank_rows,
        "rejected_by_reason": {str(k): int(v) for k, v in reasons.items()},
        "warnings_by_code": {str(k): int(v) for k, v in sorted(warnings.items())},
        "mapped_by_precision": {str(k): int(v) for k, v in precision.items()},
        "children_mapped": int(mapped_frame[s.CHILD_ID].nunique()),
        "hotspots": int(mapped_frame.loc[mapped_frame[s.HOTSPOT_ID] != "", s.HOTSPOT_ID].nunique()),
        "episodes_in_hotspots": int((mapped_frame[s.HOTSPOT_ID] != "").sum()),
        "missing_from_first": _iso(mapped_frame[s.MISSING_FROM].min()),
        "missing_from_last": _iso(mapped_frame[s.MISSING_FROM].max()),
    }


def _iso(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()
