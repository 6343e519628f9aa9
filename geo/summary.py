"""Locality and hotspot tables: tidy frames of counts, one row per area or hotspot.

Definitions (also in docs/tables.md):

- `episodes`: mapped episodes in the area; `children`: distinct `child_id` among them.
- `repeat_children`: children with 2 or more episodes *in that area* in the period
  (`repeat_children_3plus`, `repeat_children_5plus` likewise). A child who went missing once
  in each of two wards is a repeat child of the county but not of either ward.
- `episodes_<value>` columns count episodes by sex, age band, care status, placement type,
  placing authority (host / other / unknown) and category (missing / absent).
- `rhi_completed_within_72h`: episodes with `rhi_completed` no later than 72 hours after
  `returned`; episodes still ongoing or with no `returned` cannot qualify.
- `repeat_children_ce_screened`: repeat children with a CE screening recorded as done on at
  least one of their episodes; `repeat_children_ce_not_screened` is the rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo import schema as s

RHI_HOURS = 72

_BREAKDOWNS: tuple[tuple[str, str, Sequence[str]], ...] = (
    (s.SEX, "episodes_sex", s.SEXES),
    (s.AGE_BAND, "episodes_age", s.AGE_BANDS),
    (s.LOOKED_AFTER, "episodes", ("looked_after", "not_looked_after", "unknown")),
    (s.CARE_STATUS, "episodes_care", s.CARE_STATUSES),
    (s.PLACEMENT_TYPE, "episodes_placement", s.PLACEMENT_TYPES),
    (s.PLACED_BY_OTHER_LA, "episodes_placed_by", ("host", "other", "unknown")),
    (s.CATEGORY, "episodes_category", s.CATEGORIES),
)


def _breakdown_name(column: str, prefix: str, value: str) -> str:
    if column == s.LOOKED_AFTER:
        return f"episodes_{value}" if value != "unknown" else "episodes_looked_after_unknown"
    return f"{prefix}_{value}"


def summarise(
    episodes: pd.DataFrame,
    keys: Sequence[str],
    index: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Count the measures for every group of `keys` in mapped `episodes`.

    Parameters
    ----------
    episodes
        Mapped episodes (normalised columns from `geo.validate`, areas, `hotspot_id`).
    keys
        Grouping columns, e.g. ``["lpa_name"]`` or ``["ward_code"]``.
    index
        Every group that must appear (zero rows included), with `keys` and any descriptive
        columns (names) to keep in front. Groups not in `index` are dropped.

    Returns
    -------
    pandas.DataFrame
        One row per group, integer counts and a few ratios, in the order of `index`.
    """
    keys = list(keys)
    ep = episodes
    grouped = ep.groupby(keys, sort=True, dropna=False)
    table = pd.DataFrame({"episodes": grouped.size()})
    per_child = ep.groupby([*keys, s.CHILD_ID], sort=True).size().rename("n")
    child_groups = per_child.groupby(level=list(range(len(keys))))
    table["children"] = child_groups.size()
    levels = list(range(len(keys)))
    table["repeat_children"] = (per_child >= 2).groupby(level=levels).sum()
    table["repeat_children_3plus"] = (per_child >= 3).groupby(level=levels).sum()
    table["repeat_children_5plus"] = (per_child >= 5).groupby(level=levels).sum()

    for column, prefix, values in _BREAKDOWNS:
        counts = ep.groupby([*keys, column], sort=True).size().unstack(column, fill_value=0)
        for value in values:
            name = _breakdown_name(column, prefix, value)
            table[name] = counts[value] if value in counts.columns else 0

    sex_children = (
        ep.drop_duplicates([*keys, s.CHILD_ID])
        .groupby([*keys, s.SEX], sort=True)
        .size()
        .unstack(s.SEX, fill_value=0)
    )
    for value in ("male", "female"):
        table[f"children_{value}"] = sex_children[value] if value in sex_children.columns else 0
    other = ep[ep[s.PLACED_BY_OTHER_LA] == "other"]
    table["children_placed_by_other"] = other.groupby(keys)[s.CHILD_ID].nunique()

    returned = ep[s.RETURNED]
    offered = ep[s.RHI_OFFERED].notna()
    completed = ep[s.RHI_COMPLETED].notna()
    within = completed & returned.notna() & (
        ep[s.RHI_COMPLETED] - returned <= pd.Timedelta(hours=RHI_HOURS)
    )
    flags = pd.DataFrame(
        {
            "episodes_returned": returned.notna(),
            "rhi_offered": offered,
            "rhi_completed": completed,
            "rhi_completed_within_72h": within,
            "hotspot_episodes": ep[s.HOTSPOT_ID].astype(str) != ""
            if s.HOTSPOT_ID in ep.columns
            else False,
        },
        index=ep.index,
    )
    flags[keys] = ep[keys]
    table = table.join(flags.groupby(keys, sort=True).sum().astype("int64"))

    screened = (
        ep.assign(_ce=(ep[s.CE_SCREENING] == "yes"))
        .groupby([*keys, s.CHILD_ID], sort=True)
        .agg(n=(s.EPISODE_ID, "size"), ce=("_ce", "any"))
    )
    repeat = screened[screened["n"] >= 2]
    rep_groups = repeat.groupby(level=levels)
    table["repeat_children_ce_screened"] = rep_groups["ce"].sum()
    table["repeat_children_ce_not_screened"] = rep_groups["ce"].size() - rep_groups["ce"].sum()

    if index is not None:
        if len(keys) > 1:
            wanted: pd.Index = pd.MultiIndex.from_frame(index[keys])
        else:
            wanted = pd.Index(index[keys[0]])
        table = table.reindex(wanted)
    table = table.fillna(0)
    count_cols = list(table.columns)
    table[count_cols] = table[count_cols].astype("int64")
    table["episodes_per_child"] = _ratio(table["episodes"], table["children"])
    table["rhi_completed_within_72h_share"] = _ratio(
        table["rhi_completed_within_72h"], table["episodes_returned"]
    )
    table = table.reset_index()
    if index is not None:
        extra = [c for c in index.columns if c not in keys]
        table = index[[*keys, *extra]].reset_index(drop=True).merge(table, on=keys, how="left")
    return table


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den.where(den > 0, 1), np.nan)
    return pd.Series(np.round(out, 3), index=num.index)


def summarise_totals(episodes: pd.DataFrame, label: str) -> pd.DataFrame:
    """The same measures for all mapped episodes together, as one row named `label`."""
    tagged = episodes.assign(_all=label)
    return summarise(tagged, ["_all"]).rename(columns={"_all": "area"})
