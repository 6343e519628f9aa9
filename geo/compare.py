"""Period comparison: change columns for the locality tables, and new / persistent / gone
hotspots.

The comparison period is either given (``--compare-period START:END``) or, when `--period`
has both ends and no comparison period is given, the previous period of the same length:
the same number of whole calendar months when `--period` runs from the first of a month to
the last day of a month (2020-01-01:2020-06-30 -> 2019-07-01:2019-12-31), else the same
number of days ending the day before `--period` starts. It is used automatically only when
the file covers it: its earliest episode (among rows not rejected for another reason)
starts no later than `COVER_DAYS` (7) days into the comparison period, or 10% of its length
if that is shorter (an extract from 1 July whose first episode is on 3 July covers July to
December; one that starts in September does not). Otherwise there is no comparison and
run.json says why.

Hotspots of the comparison period are found the same way (method, eps, min_samples,
precision). A current hotspot whose outline is within `eps_m` of the outline of a
comparison-period hotspot (overlapping outlines are at distance 0) is ``persistent``; one
with no such neighbour is ``new``; a comparison-period hotspot with no current hotspot
within `eps_m` is ``gone`` (listed in tables/hotspots_gone.csv). Comparison-period hotspots
are numbered ``P01``, ``P02``... the same way as the current ``H01``...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.validate import Period

CHANGE_MEASURES = ("episodes", "children", "repeat_children")
COVER_DAYS = 7  # the first episode may start this many days into the previous period ...
COVER_SHARE = 0.1  # ... or this share of its length, if shorter
GIVEN = "given (--compare-period)"
PREVIOUS = "automatic: the previous period of the same length"
TREND = "trend"
PREVIOUS_IDS = "previous_hotspots"
NEW, PERSISTENT, GONE = "new", "persistent", "gone"


@dataclass(frozen=True)
class ComparisonChoice:
    """The comparison period, where it comes from, and in words why (or why not)."""

    period: Period | None
    source: str | None
    reason: str


@dataclass(frozen=True)
class Comparison:
    """The comparison period's tables and the hotspots that have gone."""

    period: Period
    source: str
    localities: dict[str, pd.DataFrame]
    totals: pd.DataFrame
    hotspots: gpd.GeoDataFrame  # comparison-period hotspots (P01...), with `trend`
    counts: dict[str, object] = field(default_factory=dict)

    @property
    def gone(self) -> gpd.GeoDataFrame:
        """The comparison-period hotspots with no current hotspot within eps."""
        if self.hotspots.empty:
            return self.hotspots
        return self.hotspots[self.hotspots[TREND] == GONE].reset_index(drop=True)


def previous_period(period: Period) -> Period | None:
    """The period of the same length just before `period` (None if either end is open)."""
    if period.start is None or period.end is None:
        return None
    start, end = period.start, period.end
    if start.day == 1 and (end + pd.Timedelta(days=1)).day == 1:
        months = (end.year * 12 + end.month) - (start.year * 12 + start.month) + 1
        return Period(start - pd.DateOffset(months=months), start - pd.Timedelta(days=1))
    days = (end - start).days + 1
    return Period(start - pd.Timedelta(days=days), start - pd.Timedelta(days=1))


def choose_comparison(
    period: Period | None, compare: Period | None, earliest: pd.Timestamp | None
) -> ComparisonChoice:
    """Decide the comparison period (see the module notes for the rule)."""
    if compare is not None:
        overlap = ""
        if overlaps(period, compare):
            overlap = "; note: it overlaps the period analysed"
        return ComparisonChoice(compare, GIVEN, f"compared with {compare} as given{overlap}")
    if period is None:
        return ComparisonChoice(None, None, "no comparison: give --period (both dates) or "
                                "--compare-period START:END")
    previous = previous_period(period)
    if previous is None:
        return ComparisonChoice(None, None, "no comparison: --period is open-ended; give "
                                "--compare-period START:END")
    assert previous.start is not None and previous.end is not None
    length = (previous.end - previous.start).days + 1
    slack = pd.Timedelta(days=int(min(COVER_DAYS, COVER_SHARE * length)))
    if earliest is None or pd.isna(earliest) or earliest.normalize() > previous.start + slack:
        first = "no episode" if earliest is None or pd.isna(earliest) else (
            f"the earliest episode starts {earliest:%Y-%m-%d}, more than {slack.days} days "
            "into it"
        )
        return ComparisonChoice(
            None, None,
            f"no comparison: the file does not cover the previous period {previous} ({first}); "
            "give --compare-period START:END to compare anyway",
        )
    return ComparisonChoice(previous, PREVIOUS, f"compared with the previous period {previous}")


def overlaps(a: Period | None, b: Period) -> bool:
    """Whether two periods share a day (None: the whole time)."""
    if a is None:
        return True
    lo = max(x for x in (a.start, b.start, pd.Timestamp.min) if x is not None)
    hi = min(x for x in (a.end, b.end, pd.Timestamp.max) if x is not None)
    return bool(lo <= hi)


def add_changes(
    current: pd.DataFrame, previous: pd.DataFrame, key: str | None
) -> pd.DataFrame:
    """Add `<measure>_prev`, `<measure>_change` and `episodes_change_share` columns.

    Rows are matched on `key` (None: one-row totals). `_change` is current minus previous;
    `episodes_change_share` is the change over the previous count (blank when it was 0).
    """
    out = current.copy()
    if key is None:
        prev = previous.iloc[[0] * len(out)].reset_index(drop=True)
        prev.index = out.index
    else:
        prev = previous.set_index(previous[key].astype(str)).reindex(out[key].astype(str))
        prev.index = out.index
    for measure in CHANGE_MEASURES:
        before = prev[measure].fillna(0).astype("int64")
        out[f"{measure}_prev"] = before
        out[f"{measure}_change"] = out[measure].astype("int64") - before
    before = out["episodes_prev"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(before > 0, out["episodes_change"] / np.where(before > 0, before, 1),
                         np.nan)
    out["episodes_change_share"] = np.round(share, 3)
    return out


def hotspot_trends(
    current: gpd.GeoDataFrame, previous: gpd.GeoDataFrame, eps_m: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Classify hotspots: current ones ``new`` / ``persistent``, previous ones ``persistent`` /
    ``gone``.

    Returns copies of both tables with `trend`, `previous_hotspots` (current: the ids of the
    comparison-period hotspots within `eps_m`, ``;``-separated) or `current_hotspots`
    (previous), and `episodes_prev` (current: the episodes of those previous hotspots).
    """
    cur = current.copy()
    prev = previous.copy()
    cur_geom = np.asarray(cur.to_crs(s.BNG).geometry.values) if len(cur) else np.array([])
    prev_geom = np.asarray(prev.to_crs(s.BNG).geometry.values) if len(prev) else np.array([])
    if len(cur) and len(prev):
        tree = shapely.STRtree(prev_geom)
        cur_pos, prev_pos = tree.query(cur_geom, predicate="dwithin", distance=eps_m)
    else:
        cur_pos = prev_pos = np.empty(0, dtype=np.int64)
    order = np.lexsort((prev_pos, cur_pos))
    cur_pos, prev_pos = cur_pos[order], prev_pos[order]
    cur_ids = cur[s.HOTSPOT_ID].astype(str).to_numpy() if len(cur) else np.array([], object)
    prev_ids = prev[s.HOTSPOT_ID].astype(str).to_numpy() if len(prev) else np.array([], object)
    prev_eps = prev["episodes"].to_numpy(dtype=np.int64) if len(prev) else np.array([], int)

    matched_cur = np.zeros(len(cur), dtype=bool)
    matched_cur[cur_pos] = True
    matched_prev = np.zeros(len(prev), dtype=bool)
    matched_prev[prev_pos] = True
    cur[TREND] = np.where(matched_cur, PERSISTENT, NEW)
    cur[PREVIOUS_IDS] = _joined(cur_pos, prev_ids[prev_pos], len(cur))
    cur["episodes_prev"] = (
        np.bincount(cur_pos, weights=prev_eps[prev_pos], minlength=len(cur)).astype(np.int64)
        if len(cur) else np.array([], dtype=np.int64)
    )
    prev[TREND] = np.where(matched_prev, PERSISTENT, GONE)
    back = np.lexsort((cur_pos, prev_pos))
    prev["current_hotspots"] = _joined(prev_pos[back], cur_ids[cur_pos[back]], len(prev))
    return cur, prev


def _joined(keys: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """For positions 0..n-1, the `values` of each key joined with ``;`` (blank: none)."""
    out = np.full(n, "", dtype=object)
    if len(keys):
        joined = pd.Series(values, dtype=object).groupby(keys, sort=True).agg(";".join)
        out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy(dtype=object)
    return out


def trend_counts(current: pd.DataFrame, previous: pd.DataFrame) -> dict[str, int]:
    """How many hotspots are new, persistent and gone."""
    cur = current[TREND] if len(current) else pd.Series([], dtype=object)
    prev = previous[TREND] if len(previous) else pd.Series([], dtype=object)
    return {
        "new": int((cur == NEW).sum()),
        "persistent": int((cur == PERSISTENT).sum()),
        "gone": int((prev == GONE).sum()),
        "comparison_period_hotspots": len(previous),
    }
