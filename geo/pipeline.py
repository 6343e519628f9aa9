"""The whole analysis as one pure function: episodes in; areas, hotspots and tables out."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.areas import AREA_COLUMNS, assign_areas
from geo.cluster import (
    check_cluster_params,
    check_method,
    cluster_episodes_info,
    hotspot_ids,
    hotspot_outlines,
)
from geo.compare import (
    Comparison,
    ComparisonChoice,
    add_changes,
    choose_comparison,
    hotspot_trends,
    overlaps,
    trend_counts,
)
from geo.episodes import Table
from geo.errors import ParameterError
from geo.homes import (
    HOME_LINK,
    LINKED_HOME_ID,
    home_measures,
    hotspot_homes,
    link_homes,
    linking_counts,
    validate_homes,
)
from geo.postcodes import PostcodeIndex
from geo.privacy import suppress_small_hotspots
from geo.rates import (
    NO_HOMES_NOTE,
    NO_POPULATION_NOTE,
    AreaPopulation,
    Population,
    add_rates,
    places_by_area,
    population_by_area,
)
from geo.summary import (
    CHILD_CODE,
    prepare_for_summaries,
    report_checks,
    summarise,
    summarise_totals,
)
from geo.validate import Period, validate_episodes

DEFAULT_EPS_M = 250.0
DEFAULT_MIN_SAMPLES = 5
DEFAULT_FOCUS_LPA = "Cherwell and West Oxfordshire"
FOCUS_ROW = "row"  # first column of the focus table: "ward" or "total"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class AnalysisConfig:
    """Parameters of a run; checked on creation."""

    eps_m: float = DEFAULT_EPS_M
    min_samples: int = DEFAULT_MIN_SAMPLES
    period: Period | None = None
    host_authority: str = s.DEFAULT_HOST_AUTHORITY
    hotspot_precision: str = s.DEFAULT_HOTSPOT_PRECISION
    method: str = "dbscan"  # or "hdbscan"
    #: whether `eps_m` was chosen by the user (None: it was if it differs from the default)
    eps_given: bool | None = None
    #: the LPA of the focus table (None: no focus table)
    focus_lpa: str | None = DEFAULT_FOCUS_LPA
    #: True when the user named the focus LPA: a boundary set without it is then an error
    focus_lpa_given: bool = False
    #: compare with this period (None: the previous period of the same length, if covered)
    compare_period: Period | None = None
    #: compare automatically with the previous period when `compare_period` is None
    auto_compare: bool = True
    #: hotspots with fewer distinct children are dropped before the tables are made, and the
    #: rest renumbered (`geo.privacy.suppress_small_hotspots`); 1 keeps every hotspot
    min_children_per_hotspot: int = 1

    def __post_init__(self) -> None:
        check_cluster_params(self.eps_m, self.min_samples)
        check_method(self.method)
        n = self.min_children_per_hotspot
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            msg = (f"`min_children_per_hotspot` must be a whole number >= 1. Got {n!r} "
                   "instead.")
            raise ParameterError(msg)
        if self.eps_given is None:
            object.__setattr__(self, "eps_given", self.eps_m != DEFAULT_EPS_M)
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
        The validated homes register with areas, hotspot and per-home measures (``None``
        without a register).
    counts
        read, mapped, rejected, outside_area, by reason, homes linking, and others.
    timings
        Seconds per step.
    focus_lpa
        The focus LPA's wards and its total row (``None``: no focus table).
    comparison
        The comparison period's tables and hotspots (``None``: no comparison).
    notes
        Things the analyst should know, in words (also in run.json).
    info
        Sections for run.json: method, homes linking, rates, comparison, focus, report checks.
    """

    config: AnalysisConfig
    episodes: pd.DataFrame
    hotspots: gpd.GeoDataFrame
    localities: dict[str, pd.DataFrame]
    totals: pd.DataFrame
    homes: pd.DataFrame | None
    counts: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)
    focus_lpa: pd.DataFrame | None = None
    comparison: Comparison | None = None
    notes: tuple[str, ...] = ()
    info: dict[str, object] = field(default_factory=dict)

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
    population: Population | None = None,
    progress: Progress = _noop,
    after_validation: Callable[[pd.DataFrame], None] | None = None,
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
        eps, min samples, method, period, comparison, focus LPA, host authority.
    homes_table
        An optional homes register.
    postcodes
        An offline postcode index for rows (and homes) located by postcode.
    prerejected
        Input rows already rejected upstream (e.g. SSDA903 Missing rows with no placement),
        with `row_number`, `episode_id`, `reason`, `detail`: they join the audit so that rows
        read = mapped + rejected + outside_area still holds.
    population
        Children aged 0-17 by ward or district code (`geo.rates.read_population`), for the
        rates per 10,000.
    progress
        Called with a short message as each step starts.
    after_validation
        Called with the validated rows (one per input row, with `status` and `reason`;
        outside_area is not known yet) before anything else is done: it may raise to stop the
        run (``hotspots run --strict``).

    Raises
    ------
    ParameterError
        The focus LPA was named (`focus_lpa_given`) but the boundary set has no such LPA.
    InputError
        No area code of the population file is in the boundary set.
    """
    config = config or AnalysisConfig()
    timings: dict[str, float] = {}
    notes: list[str] = []
    info: dict[str, object] = {}

    def step(name: str, message: str) -> None:
        timings[name] = time.perf_counter()
        progress(message)

    def done(name: str) -> None:
        timings[name] = round(time.perf_counter() - timings[name], 3)

    focus = _check_focus(config, wards, notes)
    area_population = population_by_area(population, wards) if population is not None else None

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
    if after_validation is not None:
        after_validation(episodes)

    step("areas", "Assigning wards, districts and LPAs")
    episodes = assign_areas(episodes, wards)
    done("areas")

    homes = None
    if homes_table is not None:
        step("homes", f"Reading the homes register ({len(homes_table.frame):,} rows)")
        homes = assign_areas(validate_homes(homes_table, postcodes), wards)
        episodes = _with_links(episodes, homes)
        done("homes")
    else:
        episodes = _with_links(episodes, None)

    step("hotspots", _cluster_message(config, episodes))
    episodes, outlines = _cluster(episodes, config)
    suppressed = int(episodes.attrs.pop(SUPPRESSED_HOTSPOTS, 0))
    clustering = episodes.attrs.pop(CLUSTERING, {})
    # each child's integer code, hashed once for the tables, the counts, the evidence and the
    # pseudonyms (never written: outputs name their columns)
    episodes[CHILD_CODE] = pd.factorize(episodes[s.CHILD_ID].astype(str))[0]
    done("hotspots")

    step("tables", "Summarising localities and hotspots")
    mapped = prepare_for_summaries(
        episodes, rows=_canonical_rows(episodes, episodes[s.STATUS] == s.MAPPED)
    )
    localities = _localities(mapped, wards)
    totals = summarise_totals(mapped, "All areas")
    hotspots = _hotspot_table(mapped, outlines, homes, config.eps_m)
    if homes is not None:
        homes = home_measures(mapped, _homes_in_hotspots(homes, hotspots, config.eps_m))
    done("tables")

    comparison = None
    choice = choose_comparison(
        config.period,
        config.compare_period,
        _earliest(episodes) if config.auto_compare or config.compare_period else None,
    )
    if not config.auto_compare and config.compare_period is None:
        choice = dataclasses.replace(choice, reason="no comparison (not asked for)")
    if choice.period is not None:
        step("compare", f"Comparing with {choice.period}")
        comparison = _compare(table, episodes, wards, config, choice, homes, postcodes)
        localities = {
            level: add_changes(frame, comparison.localities[level], _LEVEL_KEY[level])
            for level, frame in localities.items()
        }
        totals = add_changes(totals, comparison.totals, None)
        hotspots, previous = hotspot_trends(hotspots, comparison.hotspots, config.eps_m)
        comparison = dataclasses.replace(comparison, hotspots=previous)
        done("compare")
    info["comparison"] = {
        "period": str(choice.period) if choice.period else None,
        "source": choice.source,
        "reason": choice.reason,
        **(
            {"hotspots": trend_counts(hotspots, comparison.hotspots),
             "counts": comparison.counts}
            if comparison is not None else {}
        ),
    }
    if choice.period is not None or config.period is not None:
        notes.append(choice.reason)

    places = places_by_area(homes) if homes is not None else None
    localities = {
        level: add_rates(frame, _LEVEL_KEY[level], level, places, area_population)
        for level, frame in localities.items()
    }
    totals = add_rates(totals, None, "all", places, area_population)
    info["rates"] = _rates_info(homes, area_population, notes)

    focus_table = _focus_table(localities, focus) if focus is not None else None
    info["focus_lpa"] = {"name": focus, "wards": None if focus_table is None
                         else int((focus_table[FOCUS_ROW] == "ward").sum())}

    counts = _counts(episodes, table)
    counts["hotspots_suppressed"] = suppressed
    count_notes: list[str] = []
    if homes is not None:
        counts["homes_linking"] = linking_counts(episodes)
        unlinked = counts["homes_linking"]
        count_notes.append(
            "episodes linked to the homes register: {linked_by_id} by home_id, "
            "{linked_by_location} by location; {unlinked} from a home placement could not be "
            "linked; {home_id_not_in_register} have a home_id not in the register".format(
                **unlinked
            )
        )
        notes.extend(count_notes)
    else:
        counts["homes_linking"] = None
    info["notes_with_counts"] = count_notes  # left out of outputs under disclosure control
    info["method"] = {**_method_info(config), "clustering": clustering}
    info["report_checks"] = report_checks(totals)
    info["notes"] = notes
    return AnalysisResult(
        config=config,
        episodes=episodes,
        hotspots=hotspots,
        localities=localities,
        totals=totals,
        homes=homes,
        counts=counts,
        timings=timings,
        focus_lpa=focus_table,
        comparison=comparison,
        notes=tuple(notes),
        info=info,
    )


_LEVEL_KEY = {"lpa": s.LPA_NAME, "district": s.LAD_CODE, "ward": s.WARD_CODE}


def _check_focus(config: AnalysisConfig, wards: gpd.GeoDataFrame, notes: list[str]) -> str | None:
    """The focus LPA if the boundary set has it; refuse a missing one the user named."""
    name = config.focus_lpa
    if not name:
        return None
    names = sorted(wards[s.LPA_NAME].astype(str).unique())
    if name in names:
        return name
    if config.focus_lpa_given:
        msg = (
            f"`--focus-lpa` {name!r} is not an LPA of the boundary set. Its LPAs are: "
            f"{', '.join(names)}."
        )
        raise ParameterError(msg)
    notes.append(f"no focus table: the boundary set has no LPA named {name!r} "
                 "(name one with --focus-lpa)")
    return None


def _with_links(episodes: pd.DataFrame, homes: pd.DataFrame | None) -> pd.DataFrame:
    links = link_homes(episodes, homes)
    out = episodes.copy(deep=False)  # copy-on-write: new columns never reach `episodes`
    out[LINKED_HOME_ID] = links[LINKED_HOME_ID].to_numpy()
    out[HOME_LINK] = links[HOME_LINK].to_numpy()
    return out


def _cluster_message(config: AnalysisConfig, episodes: pd.DataFrame) -> str:
    if config.method == "hdbscan":
        return f"Finding hotspots (HDBSCAN, min {config.min_samples} episodes)"
    return (f"Finding hotspots (DBSCAN, eps {config.eps_m:g} m, "
            f"min {config.min_samples} episodes)")


SUPPRESSED_HOTSPOTS = "hotspots_suppressed"  # attrs key: hotspots dropped as too small
CLUSTERING = "clustering"  # attrs key: how the clustering ran (geo.cluster.ClusterInfo)


def _cluster(
    episodes: pd.DataFrame, config: AnalysisConfig, prefix: str = "H"
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Hotspot ids for the precise mapped episodes, and the outlines (EPSG:27700) with their
    `hotspot_id`.

    With ``config.min_children_per_hotspot`` above 1, hotspots with fewer distinct children
    are dropped (their episodes are in no hotspot) and the others renumbered, before anything
    is summarised; ``out.attrs["hotspots_suppressed"]`` says how many were dropped.
    """
    mapped_mask = (episodes[s.STATUS] == s.MAPPED).to_numpy()
    precise = mapped_mask & episodes[s.PRECISION].isin(config.hotspot_precisions).to_numpy()
    x = episodes[s.X].to_numpy()[precise]
    y = episodes[s.Y].to_numpy()[precise]
    labels, how = cluster_episodes_info(
        x, y, eps_m=config.eps_m, min_samples=config.min_samples, method=config.method
    )
    ids = np.full(len(episodes), "", dtype=object)
    ids[precise] = hotspot_ids(labels, prefix=prefix)
    out = episodes.copy(deep=False)  # copy-on-write: new columns never reach `episodes`
    out[s.HOTSPOT_ID] = ids
    out.attrs[CLUSTERING] = how.describe()
    outlines = hotspot_outlines(x, y, labels)
    outlines[s.HOTSPOT_ID] = hotspot_ids(outlines["label"].to_numpy(dtype=np.int64),
                                         prefix=prefix)
    suppressed = 0
    if config.min_children_per_hotspot > 1:
        out, mapping = suppress_small_hotspots(
            out, min_children=config.min_children_per_hotspot, prefix=prefix
        )
        outlines[s.HOTSPOT_ID] = outlines[s.HOTSPOT_ID].map(lambda h: mapping.get(h, ""))
        outlines = outlines[outlines[s.HOTSPOT_ID] != ""].reset_index(drop=True)
        suppressed = sum(1 for new in mapping.values() if not new)
    out.attrs[SUPPRESSED_HOTSPOTS] = suppressed
    return out, outlines


def clustering_points(
    episodes: pd.DataFrame, config: AnalysisConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The x/y (metres) of the episodes the hotspots are found from: mapped, and located at
    least as precisely as `config.hotspot_precision`."""
    mask = (episodes[s.STATUS] == s.MAPPED) & episodes[s.PRECISION].isin(
        config.hotspot_precisions
    )
    return episodes.loc[mask, s.X].to_numpy(float), episodes.loc[mask, s.Y].to_numpy(float)


def locate(
    table: Table,
    *,
    wards: gpd.GeoDataFrame,
    config: AnalysisConfig | None = None,
    postcodes: PostcodeIndex | None = None,
) -> pd.DataFrame:
    """Validate and place every row in its areas (no hotspots, no tables): e.g. for tuning."""
    config = config or AnalysisConfig()
    episodes = validate_episodes(
        table, host_authority=config.host_authority, period=config.period, postcodes=postcodes
    )
    return assign_areas(episodes, wards)


def _earliest(episodes: pd.DataFrame) -> pd.Timestamp | None:
    """The earliest `missing_from` of the rows not rejected for a reason other than period."""
    usable = (episodes[s.STATUS] != s.REJECTED) | (episodes[s.REASON] == "outside_period")
    value = episodes.loc[usable, s.MISSING_FROM].min()
    return None if pd.isna(value) else pd.Timestamp(value)


def _compare(
    table: Table,
    episodes: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    config: AnalysisConfig,
    choice: ComparisonChoice,
    homes: pd.DataFrame | None,
    postcodes: PostcodeIndex | None,
) -> Comparison:
    """Validate the rows again for the comparison period, and cluster and summarise them."""
    period = choice.period
    assert period is not None and choice.source is not None
    outside = episodes[s.REASON] == "outside_period"
    if config.period is not None and not overlaps(config.period, period):
        usable = outside  # no row of the period analysed can be in the comparison period
    else:
        usable = (episodes[s.STATUS] != s.REJECTED) | outside
    rows = episodes.loc[usable, s.ROW_NUMBER]
    frame = table.frame[table.frame[s.ROW_NUMBER].isin(rows)]
    if frame.empty:
        prev = _empty_validated()
    else:
        prev = validate_episodes(
            dataclasses.replace(table, frame=frame), host_authority=config.host_authority,
            period=period, postcodes=postcodes,
        )
    prev = assign_areas(prev, wards)
    prev = _with_links(prev, homes)
    prev, outlines = _cluster(prev, config, prefix="P")
    prev_suppressed = int(prev.attrs.pop(SUPPRESSED_HOTSPOTS, 0))
    mapped = prepare_for_summaries(prev, rows=_canonical_rows(prev, prev[s.STATUS] == s.MAPPED))
    hotspots = _hotspot_table(mapped, outlines, homes, config.eps_m)
    in_period = prev[s.REASON] != "outside_period"
    return Comparison(
        period=period,
        source=choice.source,
        localities=_localities(mapped, wards),
        totals=summarise_totals(mapped, "All areas"),
        hotspots=hotspots,
        counts={
            "rows_in_period": int(in_period.sum()),
            "mapped": int((prev[s.STATUS] == s.MAPPED).sum()),
            "hotspots": len(hotspots),
            "episodes_in_hotspots": int((mapped[s.HOTSPOT_ID] != "").sum()),
            "hotspots_suppressed": prev_suppressed,
        },
    )


def _rates_info(
    homes: pd.DataFrame | None, population: AreaPopulation | None, notes: list[str]
) -> dict[str, object]:
    out: dict[str, object] = {}
    if homes is None:
        notes.append(NO_HOMES_NOTE)
        out["per_place"] = NO_HOMES_NOTE
    else:
        looked_after = homes[
            (homes[s.STATUS] == s.MAPPED)
            & homes[s.HOME_TYPE].isin(("foster", "residential", "semi_independent"))
        ]
        no_places = int(looked_after[s.HOME_PLACES].isna().sum())
        out["per_place"] = (
            f"registered places of {len(looked_after)} foster, residential and "
            f"semi-independent homes in the area"
        )
        if no_places:
            notes.append(f"{no_places} looked-after homes of the register have no `places`: "
                         "counted as homes, not places")
    if population is None:
        notes.append(NO_POPULATION_NOTE)
        out["per_10k"] = NO_POPULATION_NOTE
    else:
        notes.extend(population.notes)
        out["per_10k"] = "episodes and children per 10,000 children aged 0-17"
        out["population_notes"] = list(population.notes)
    return out


def _focus_table(localities: dict[str, pd.DataFrame], lpa: str) -> pd.DataFrame:
    """The focus LPA's wards (most episodes first) and a total row: the LPA's own figures
    (repeat children counted within the LPA, so not the sum of the ward rows)."""
    wards = localities["ward"]
    rows = wards[wards[s.LPA_NAME] == lpa].sort_values(
        ["episodes", s.WARD_NAME], ascending=[False, True], kind="stable"
    )
    total = localities["lpa"]
    total = total[total[s.LPA_NAME] == lpa].copy()
    total[s.WARD_CODE] = ""
    total[s.WARD_NAME] = "All wards (LPA total)"
    total[s.LAD_CODE] = ""
    total[s.LAD_NAME] = ""
    out = pd.concat([rows, total[wards.columns]], ignore_index=True)
    out.insert(0, FOCUS_ROW, ["ward"] * len(rows) + ["total"] * len(total))
    return out


def _method_info(config: AnalysisConfig) -> dict[str, object]:
    if config.method == "hdbscan":
        return {
            "name": "hdbscan",
            "min_cluster_size": max(2, config.min_samples),
            "min_samples": config.min_samples,
            "weighting": "each distinct location given as min(episodes, min_samples) points "
            "(scikit-learn's HDBSCAN takes no sample_weight): core distances exact, cluster "
            "sizes capped per address; see docs/method.md",
            "eps_m_used_for": "homes near a hotspot and matching hotspots between periods",
        }
    return {
        "name": "dbscan",
        "eps_m": config.eps_m,
        "min_samples": config.min_samples,
        "weighting": "distinct locations weighted by their episodes (sample_weight): "
        "identical to DBSCAN on every episode",
    }


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


def _canonical_rows(episodes: pd.DataFrame, keep: pd.Series) -> np.ndarray:
    """The positions of the episodes of `keep`, in an order that does not depend on the
    input's: earliest `missing_from` first, ties in a fixed order (a hash of the episode id).
    The tables take some measures from a child's first episode in an area (e.g.
    `children_male`): the first in time, never the first in the file, so the same episodes in
    any order give the same tables."""
    rows = np.flatnonzero(keep.to_numpy(dtype=bool))
    if len(rows) >= 2:
        when = episodes[s.MISSING_FROM].to_numpy(dtype="datetime64[ns]")[rows].view(np.int64)
        ids = episodes[s.EPISODE_ID].astype(str).to_numpy(dtype=object)[rows]
        rows = rows[np.lexsort((pd.util.hash_array(ids), when))]
    return rows


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
    """One row per hotspot (ids ``H01``..., or ``P01``... for a comparison period), WGS84
    hulls: `outlines` holds each hotspot's hull (EPSG:27700) and its `hotspot_id`."""
    in_spot = mapped[mapped[s.HOTSPOT_ID] != ""]
    columns = [
        s.HOTSPOT_ID, s.LPA_NAME, s.LAD_NAME, s.WARD_NAME, "wards", "episodes", "children",
        "repeat_children", "locations", "centroid_lat", "centroid_lon", "area_ha",
    ]  # fmt: skip
    table = summarise(in_spot, [s.HOTSPOT_ID])
    table[s.HOTSPOT_ID] = table[s.HOTSPOT_ID].astype(str)
    main = {}
    for col in (s.LPA_NAME, s.LAD_NAME, s.WARD_NAME):
        counts = (
            in_spot.groupby([s.HOTSPOT_ID, col], observed=True).size().rename("n").reset_index()
        )
        counts = counts[counts["n"] > 0].astype({s.HOTSPOT_ID: str, col: str})
        counts = counts.sort_values([s.HOTSPOT_ID, "n", col], ascending=[True, False, True])
        main[col] = counts.drop_duplicates(s.HOTSPOT_ID).set_index(s.HOTSPOT_ID)[col]
    keyed = in_spot.assign(_h=in_spot[s.HOTSPOT_ID].astype(str))
    grouped = keyed.groupby("_h")
    extra = pd.DataFrame(
        {
            s.LPA_NAME: main[s.LPA_NAME],
            s.LAD_NAME: main[s.LAD_NAME],
            s.WARD_NAME: main[s.WARD_NAME],
            "wards": grouped[s.WARD_CODE].nunique(),
            "locations": keyed.drop_duplicates(["_h", s.X, s.Y]).groupby("_h").size(),
            "centroid_lat": grouped[s.LAT].mean().round(5),
            "centroid_lon": grouped[s.LON].mean().round(5),
        }
    )
    table = table.merge(extra, left_on=s.HOTSPOT_ID, right_index=True, how="left")
    geom = gpd.GeoSeries(outlines.geometry.values, index=outlines[s.HOTSPOT_ID].to_numpy(),
                         crs=s.BNG)
    table["area_ha"] = (
        table[s.HOTSPOT_ID].map(geom.area.to_dict()).astype(float).div(10_000).round(2)
    )
    geometry = gpd.GeoSeries(
        table[s.HOTSPOT_ID].map(geom.to_dict()).to_list(), crs=s.BNG
    ).to_crs(s.WGS84)
    if homes is not None:
        near = hotspot_homes(in_spot, geom, homes, eps_m)
        table = table.merge(near, left_on=s.HOTSPOT_ID, right_index=True, how="left")
    ordered = columns + [c for c in table.columns if c not in columns]
    return gpd.GeoDataFrame(
        table[ordered].reset_index(drop=True), geometry=geometry.to_numpy(), crs=s.WGS84
    )


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
    # split the distinct warning lists, not a million rows of them
    warnings: dict[str, int] = {}
    for codes, n in episodes[s.WARNINGS].astype(object).value_counts().items():
        for code in str(codes).split(";"):
            if code:
                warnings[code] = warnings.get(code, 0) + int(n)
    precision = (
        episodes.loc[status == s.MAPPED, s.PRECISION].value_counts().sort_index()
    )
    is_mapped = (status == s.MAPPED).to_numpy()

    def of_mapped(column: str) -> pd.Series:  # one column of the mapped rows (not the frame)
        return episodes[column][is_mapped]

    spot = of_mapped(s.HOTSPOT_ID)
    when = of_mapped(s.MISSING_FROM)
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
        "children_mapped": _distinct_children(episodes, is_mapped),
        "hotspots": int(spot[spot != ""].nunique()),
        "episodes_in_hotspots": int((spot != "").sum()),
        "missing_from_first": _iso(when.min()),
        "missing_from_last": _iso(when.max()),
    }


def _distinct_children(episodes: pd.DataFrame, rows: np.ndarray) -> int:
    if CHILD_CODE in episodes.columns:
        codes = episodes[CHILD_CODE].to_numpy(dtype=np.int64)[rows]
        return int(np.count_nonzero(np.bincount(codes[codes >= 0])))
    return int(episodes[s.CHILD_ID][rows].nunique())


def _iso(value: object) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).isoformat()
