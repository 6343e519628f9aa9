"""Locality and hotspot tables: tidy frames of counts, one row per area or hotspot.

Definitions (also in docs/tables.md):

- `episodes`: mapped episodes in the area; `children`: distinct `child_id` among them.
- `repeat_children`: children with 2 or more episodes *in that area* in the period
  (`repeat_children_3plus`, `repeat_children_5plus` likewise). A child who went missing once
  in each of two wards is a repeat child of the county but not of either ward.
- `episodes_<value>` columns count episodes by sex, age band, care status, placement type,
  placing authority (host / other / unknown), category (missing / absent) and location
  precision (coordinates / postcode / sector / district).
- `rhi_completed_within_72h`: episodes with `rhi_completed` no later than 72 hours after
  `returned`; episodes still ongoing or with no `returned` cannot qualify.
- `repeat_children_ce_screened`: repeat children with a CE screening recorded as done on at
  least one of their episodes; `repeat_children_ce_not_screened` is the rest.
- `episodes_duration_<band>`: how long the child was missing, from `missing_from` to
  `returned`: ``under_24h`` (< 24 h), ``1_3_days`` (24 h to 72 h, both included),
  ``over_3_days`` (> 72 h), ``ongoing`` (no `returned`: still missing, or not recorded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo import schema as s

RHI_HOURS = 72
CHILD_CODE = "_child_code"
# Duration bands: [0, 24 h), [24 h, 72 h], (72 h, ...), and no `returned`.
DURATION_BANDS = ("under_24h", "1_3_days", "over_3_days", "ongoing")
DURATION_LIMITS_H = (24, 72)
# The committee report's claims that the tables can check (see `report_checks`).
MAJORITY = 0.5
CATEGORY_COLUMNS = (
    s.SEX, s.AGE_BAND, s.LOOKED_AFTER, s.CARE_STATUS, s.PLACEMENT_TYPE, s.PLACED_BY_OTHER_LA,
    s.CATEGORY, s.PRECISION, s.LPA_NAME, s.LAD_CODE, s.LAD_NAME, s.WARD_CODE, s.WARD_NAME,
    s.HOTSPOT_ID,
)  # fmt: skip

_BREAKDOWNS: tuple[tuple[str, str, Sequence[str]], ...] = (
    (s.SEX, "episodes_sex", s.SEXES),
    (s.AGE_BAND, "episodes_age", s.AGE_BANDS),
    (s.LOOKED_AFTER, "episodes", ("looked_after", "not_looked_after", "unknown")),
    (s.CARE_STATUS, "episodes_care", s.CARE_STATUSES),
    (s.PLACEMENT_TYPE, "episodes_placement", s.PLACEMENT_TYPES),
    (s.PLACED_BY_OTHER_LA, "episodes_placed_by", ("host", "other", "unknown")),
    (s.CATEGORY, "episodes_category", s.CATEGORIES),
    (s.PRECISION, "episodes_precision", s.PRECISIONS),
)


_USED_COLUMNS = (
    CHILD_CODE, s.CHILD_ID, *(column for column, _, _ in _BREAKDOWNS), s.SEX,
    s.PLACED_BY_OTHER_LA, s.MISSING_FROM, s.RETURNED, s.RHI_OFFERED, s.RHI_COMPLETED,
    s.HOTSPOT_ID, s.CE_SCREENING,
)  # fmt: skip  # every column `summarise` reads


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
        columns (names) to keep in front, in the order wanted. Groups not in `index` are
        dropped. Without it, every group present is kept, sorted by `keys`.

    Returns
    -------
    pandas.DataFrame
        One row per group, integer counts and a few ratios.

    Notes
    -----
    Everything is counted with integer codes and `numpy.bincount` (one factorisation per
    column), so a million episodes take well under a second per table.
    """
    keys = list(keys)
    if index is None:
        groups = episodes[keys].drop_duplicates().astype(str).sort_values(keys)
        groups = groups.reset_index(drop=True)
    else:
        groups = index[keys].reset_index(drop=True)
    n_groups = len(groups)
    g = _group_codes(episodes, keys, groups)
    keep = g >= 0
    used = [c for c in dict.fromkeys(_USED_COLUMNS) if c in episodes.columns]
    ep = episodes[used]  # only the columns counted: no copy of the others
    if not keep.all():
        ep = ep.loc[keep]
        g = g[keep]
    columns: dict[str, np.ndarray] = {}

    def count(weights: np.ndarray | None = None, codes: np.ndarray = g) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=n_groups).astype(np.int64)

    columns["episodes"] = count()
    child = (
        ep[CHILD_CODE].to_numpy(dtype=np.int64)
        if CHILD_CODE in ep.columns
        else pd.factorize(ep[s.CHILD_ID].astype(str))[0].astype(np.int64)
    )
    n_child = int(child.max()) + 1 if len(child) else 1
    pair, first, pair_of_row, per_pair = _first_seen(g * n_child + child)
    pair_g = pair // n_child
    columns["children"] = count(codes=pair_g)
    for threshold, name in ((2, ""), (3, "_3plus"), (5, "_5plus")):
        columns[f"repeat_children{name}"] = count(
            (per_pair >= threshold).astype(float), codes=pair_g
        )

    for column, prefix, values in _BREAKDOWNS:
        if column not in ep.columns:  # e.g. a frame built by hand: count nothing
            for value in values:
                columns[_breakdown_name(column, prefix, value)] = np.zeros(n_groups, np.int64)
            continue
        codes = _codes(ep[column], values)
        k = len(values)
        valid = codes >= 0
        table = np.bincount(
            g[valid] * k + codes[valid], minlength=n_groups * k
        ).reshape(n_groups, k)
        for j, value in enumerate(values):
            columns[_breakdown_name(column, prefix, value)] = table[:, j].astype(np.int64)

    dur = _duration_codes(ep)
    table = np.bincount(g * 4 + dur, minlength=n_groups * 4).reshape(n_groups, 4)
    for j, band in enumerate(DURATION_BANDS):
        columns[f"episodes_duration_{band}"] = table[:, j].astype(np.int64)

    # children by sex: the sex recorded on each child's first episode in the group
    sex_first = _codes(ep[s.SEX], s.SEXES)[first]
    for j, value in enumerate(("male", "female")):
        columns[f"children_{value}"] = count((sex_first == j).astype(float), codes=pair_g)
    placed = _codes(ep[s.PLACED_BY_OTHER_LA], ("host", "other", "unknown"))
    for j, value in ((0, "host"), (1, "other")):
        mask = placed == j
        pairs_placed = pd.unique(g[mask] * n_child + child[mask])
        columns[f"children_placed_by_{value}"] = count(codes=pairs_placed // n_child)

    returned = ep[s.RETURNED]
    completed = ep[s.RHI_COMPLETED]
    within = (
        completed.notna()
        & returned.notna()
        & (completed - returned <= pd.Timedelta(hours=RHI_HOURS))
    )
    in_spot = (
        _codes(ep[s.HOTSPOT_ID], ("",)) != 0
        if s.HOTSPOT_ID in ep.columns
        else np.zeros(len(ep), dtype=bool)
    )
    for name, flag in (
        ("episodes_returned", returned.notna().to_numpy()),
        ("rhi_offered", ep[s.RHI_OFFERED].notna().to_numpy()),
        ("rhi_completed", completed.notna().to_numpy()),
        ("rhi_completed_within_72h", within.to_numpy()),
        ("hotspot_episodes", in_spot),
    ):
        columns[name] = count(flag.astype(float))

    # CE screening of repeat children: screened if any of their episodes in the group says so
    screened = _codes(ep[s.CE_SCREENING], ("yes",)) == 0
    pair_screened = np.bincount(pair_of_row, weights=screened, minlength=len(pair)) > 0
    repeat = per_pair >= 2
    columns["repeat_children_ce_screened"] = count(
        (repeat & pair_screened).astype(float), codes=pair_g
    )
    columns["repeat_children_ce_not_screened"] = count(
        (repeat & ~pair_screened).astype(float), codes=pair_g
    )

    out = pd.DataFrame(columns)
    out["episodes_per_child"] = _ratio(out["episodes"], out["children"])
    out["rhi_completed_within_72h_share"] = _ratio(
        out["rhi_completed_within_72h"], out["episodes_returned"]
    )
    out["repeat_children_ce_screened_share"] = _ratio(
        out["repeat_children_ce_screened"], out["repeat_children"]
    )
    front = (index if index is not None else groups).reset_index(drop=True)
    extra = [c for c in front.columns if c not in keys]
    return pd.concat([front[[*keys, *extra]], out], axis=1)


def _first_seen(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct `keys` in order of first appearance, the row of each one's first
    appearance, each row's position among them and how many rows each has: what
    ``np.unique(return_index, return_inverse, return_counts)`` gives, by hashing instead of
    sorting (several times faster on a million rows)."""
    codes, uniques = pd.factorize(keys)
    codes = codes.astype(np.int64, copy=False)
    if len(codes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.asarray(uniques, dtype=np.int64), empty, empty, empty
    # factorize numbers keys as they first appear: a row is a first appearance when its code
    # is one more than every code before it
    seen = np.maximum.accumulate(codes)
    is_first = np.empty(len(codes), dtype=bool)
    is_first[0] = True
    is_first[1:] = seen[1:] > seen[:-1]
    first = np.flatnonzero(is_first)
    counts = np.bincount(codes, minlength=len(uniques))
    return np.asarray(uniques, dtype=np.int64), first, codes, counts


def _duration_codes(ep: pd.DataFrame) -> np.ndarray:
    """Position of each episode's duration in `DURATION_BANDS` (no `returned` = ongoing)."""
    n = len(ep)
    if s.RETURNED not in ep.columns or s.MISSING_FROM not in ep.columns:
        return np.full(n, len(DURATION_BANDS) - 1, dtype=np.int64)
    start = ep[s.MISSING_FROM].to_numpy(dtype="datetime64[ns]")
    end = ep[s.RETURNED].to_numpy(dtype="datetime64[ns]")
    delta = end - start
    ongoing = np.isnat(delta)
    short, long = (np.timedelta64(h, "h") for h in DURATION_LIMITS_H)
    codes = np.where(delta < short, 0, np.where(delta <= long, 1, 2))
    return np.where(ongoing, 3, codes).astype(np.int64)


def _codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Integer codes of `values` in `categories` (-1: not one of them); fast for categoricals."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories.astype(str)
        lookup = pd.Index(list(categories)).get_indexer(cats)
        raw = values.cat.codes.to_numpy(dtype=np.int64)
        return np.where(raw >= 0, lookup[raw], -1)
    return np.asarray(pd.Index(list(categories)).get_indexer(values.astype(str)), dtype=np.int64)


def _group_codes(episodes: pd.DataFrame, keys: list[str], groups: pd.DataFrame) -> np.ndarray:
    """For each episode, the position of its group in `groups` (-1: not there)."""
    if len(keys) == 1:
        return _codes(episodes[keys[0]], groups[keys[0]].astype(str).tolist())
    group_index = pd.MultiIndex.from_frame(groups.astype(str))
    row_keys = pd.MultiIndex.from_frame(episodes[keys].astype(str))
    return np.asarray(group_index.get_indexer(row_keys), dtype=np.int64)


def prepare_for_summaries(episodes: pd.DataFrame, rows: np.ndarray | None = None) -> pd.DataFrame:
    """A copy with categorical columns and integer child codes, so every table is fast.

    Summaries of the same frame (LPA, district, ward, hotspot, totals) then share one
    factorisation per column instead of one per table. With `rows` (positions), the copy holds
    those rows in that order: the categorical columns are then taken as integer codes, not as
    a million strings each.
    """
    cat_columns = [
        c for c in (*CATEGORY_COLUMNS, s.CE_SCREENING)
        if c in episodes.columns and not isinstance(episodes[c].dtype, pd.CategoricalDtype)
    ]  # fmt: skip
    others = [c for c in episodes.columns if c not in cat_columns]
    if rows is None:
        out = episodes[others].copy(deep=False)  # copy-on-write: never reaches `episodes`
    else:
        out = episodes[others].take(rows)
    for column in cat_columns:
        out[column] = _categorical(episodes[column].to_numpy(dtype=object), rows)
    out = out[list(episodes.columns)]
    if CHILD_CODE in episodes.columns:  # codes given (geo.pipeline.analyse): taken as they are
        children = episodes[CHILD_CODE].to_numpy(dtype=np.int64)
    else:
        children = pd.factorize(episodes[s.CHILD_ID].to_numpy(dtype=object))[0]
    out[CHILD_CODE] = children if rows is None else children[rows]
    return out


def _categorical(values: np.ndarray, rows: np.ndarray | None) -> pd.Categorical:
    """= ``pd.Series(values[rows]).astype("category")``: sorted categories of the values
    present, missing values as code -1; by hashing, and taking integer codes."""
    codes, categories = pd.factorize(values, sort=True)
    if rows is None:
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories))
    codes = codes[rows]
    present = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
    renumber = np.cumsum(present) - 1
    codes = np.where(codes >= 0, renumber[np.maximum(codes, 0)], -1)
    return pd.Categorical.from_codes(codes, categories=pd.Index(categories[present]))


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / den.where(den > 0, 1), np.nan)
    return pd.Series(np.round(out, 3), index=num.index)


def summarise_totals(episodes: pd.DataFrame, label: str) -> pd.DataFrame:
    """The same measures for all mapped episodes together, as one row named `label`."""
    tagged = episodes.assign(_all=label)
    index = pd.DataFrame({"_all": [label]})
    return summarise(tagged, ["_all"], index).rename(columns={"_all": "area"})


def report_checks(totals: pd.DataFrame) -> list[dict[str, object]]:
    """The committee report's claims, checked against the totals row.

    Each check has the claim in words, the measure, its value and whether the claim holds
    (``None`` when the data cannot tell, e.g. no repeat children or no returned episodes).
    """
    row = totals.iloc[0] if len(totals) else pd.Series(dtype=object)

    def num(name: str) -> float:
        value = row.get(name)
        return float(value) if value is not None and not pd.isna(value) else float("nan")

    episodes = num("episodes")
    repeat = num("repeat_children")
    within_share = num("rhi_completed_within_72h_share")
    age_share = num("episodes_age_14_16") / episodes if episodes > 0 else float("nan")
    checks: list[tuple[str, str, float, bool | None]] = [
        (
            "All children reported missing more than once had a completed CE screening",
            "repeat_children_ce_not_screened",
            num("repeat_children_ce_not_screened"),
            None if repeat == 0 else bool(num("repeat_children_ce_not_screened") == 0),
        ),
        (
            "More episodes of boys going missing than of girls",
            "episodes_sex_male - episodes_sex_female",
            num("episodes_sex_male") - num("episodes_sex_female"),
            None if episodes == 0 else bool(num("episodes_sex_male") > num("episodes_sex_female")),
        ),
        (
            "The majority of episodes are of children aged 14-16",
            "episodes_age_14_16 / episodes",
            round(age_share, 3),
            None if episodes == 0 else bool(age_share > MAJORITY),
        ),
        (
            "Not all children have a return home interview within 72 hours",
            "rhi_completed_within_72h_share",
            within_share,
            None if np.isnan(within_share) else bool(within_share < 1),
        ),
    ]
    return [
        {
            "claim": claim,
            "measure": measure,
            "value": None if np.isnan(value) else (
                int(value) if measure.startswith(("repeat", "episodes_sex")) else value
            ),
            "holds": holds,
        }
        for claim, measure, value, holds in checks
    ]
