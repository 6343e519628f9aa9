"""The county's own children placed out of area: where they went missing, by local authority.

An episode is "placed out" when its location lies outside the boundary set (status
``outside_area``) and the child's `placing_authority` is the host (``placed_by_other_la ==
"host"``): the host's own child, missing from a placement elsewhere. Each such episode is given
the local authority it happened in, on the first basis that works (`assigned_by`):

1. ``boundary``: its location in a national local-authority boundary layer (point in polygon),
   when one is given;
2. ``placement_la``: the `placement_la` column, when filled (on the episode, or on another
   episode at exactly the same location);
3. ``postcode_area``: the postcode area (the letters of the outward code, ``RG`` for
   ``RG1 2AB``), when the frame has a `postcode` column and the postcode is readable;
4. ``unknown``.

Measures per authority follow the locality tables (`geo.summary`): episodes, distinct
children, repeat children (2+ episodes *in that authority*), return home interviews completed
within 72 hours of `returned`, and CE screening of the repeat children.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schema as s
from geo.errors import BoundaryError

RHI_HOURS = 72
ASSIGNED_BY = ("boundary", "placement_la", "postcode_area", "unknown")
PLACED_OUT_COLUMNS = (
    "la_code", "la_name", "assigned_by", "episodes", "children", "repeat_children",
    "episodes_returned", "rhi_completed", "rhi_completed_within_72h",
    "rhi_completed_within_72h_share", "repeat_children_ce_screened",
    "repeat_children_ce_not_screened",
)  # fmt: skip
TOTAL_LABEL = "All placed out of area"
_CODE_COLUMN = re.compile(r"^(ctyua|utla|lad|cty|ua|cauth|la)\d{0,2}cd$", re.IGNORECASE)
_NAME_COLUMN = re.compile(r"^(ctyua|utla|lad|cty|ua|cauth|la)\d{0,2}nm$", re.IGNORECASE)
_POSTCODE_AREA = re.compile(r"^([A-Z]{1,2})[0-9]")


def placed_out_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    """The episodes of the host's own children located outside the area."""
    for column in (s.STATUS, s.PLACED_BY_OTHER_LA):
        if column not in episodes.columns:
            msg = f"`episodes` lacks the column `{column}` (use the validated episodes frame)."
            raise ValueError(msg)
    keep = (episodes[s.STATUS] == s.OUTSIDE_AREA) & (episodes[s.PLACED_BY_OTHER_LA] == "host")
    return episodes.loc[keep]


def summarise_placed_out(
    episodes: pd.DataFrame,
    *,
    la_boundaries: gpd.GeoDataFrame | None = None,
    la_code_col: str | None = None,
    la_name_col: str | None = None,
    include_total: bool = True,
) -> pd.DataFrame:
    """Count the host's children placed out of area, by the local authority they were in.

    Parameters
    ----------
    episodes
        Every episode of the run (`AnalysisResult.episodes`): `status`, `placed_by_other_la`,
        `child_id`, `lat`/`lon`, `returned`, `rhi_completed`, `ce_screening`, and
        `placement_la` / `postcode` when present. Only the placed-out episodes are used.
    la_boundaries
        Optional national local-authority polygons (e.g. ONS "Counties and Unitary
        Authorities" or "Local Authority Districts"), any CRS.
    la_code_col, la_name_col
        Their code and name columns. Default: the first column named like ``CTYUA23CD`` /
        ``LAD23CD`` / ``UTLA22CD`` / ``la_code`` (and ``...NM`` / ``la_name``).
    include_total
        Add a last row, `la_name` ``"All placed out of area"``, over every placed-out episode
        (its `children` and `repeat_children` count each child once).

    Returns
    -------
    pandas.DataFrame
        `PLACED_OUT_COLUMNS`, one row per (authority, basis), most episodes first (then by
        name); `la_code` is blank unless it came from the boundary layer. `la_name` is the
        layer's name, the `placement_la` text, ``"<AREA> postcode area"`` or ``"unknown"``.

    Raises
    ------
    BoundaryError
        `la_boundaries` has no CRS or no recognisable code/name columns.
    """
    out = placed_out_episodes(episodes)
    code = np.full(len(out), "", dtype=object)
    name = np.full(len(out), "unknown", dtype=object)
    basis = np.full(len(out), "unknown", dtype=object)
    todo = np.ones(len(out), dtype=bool)

    if la_boundaries is not None and len(out):
        code_col, name_col = _la_columns(la_boundaries, la_code_col, la_name_col)
        pos = _locate(out, la_boundaries, code_col)
        hit = pos >= 0
        code[hit] = la_boundaries[code_col].astype(str).to_numpy()[pos[hit]]
        name[hit] = la_boundaries[name_col].astype(str).to_numpy()[pos[hit]]
        basis[hit] = "boundary"
        todo &= ~hit
    elif la_boundaries is not None:
        _la_columns(la_boundaries, la_code_col, la_name_col)

    if s.PLACEMENT_LA in out.columns:
        text = out[s.PLACEMENT_LA].fillna("").astype(str).str.strip()
        text = text.str.replace(r"\s+", " ", regex=True)
        text = _share_by_location(out, text)
        filled = todo & (text != "").to_numpy()
        if filled.any():
            key = text.str.casefold()
            first = text.groupby(key).transform("first")  # one spelling per authority
            name[filled] = first.to_numpy()[filled]
            basis[filled] = "placement_la"
            todo &= ~filled

    if s.POSTCODE in out.columns:
        area = _postcode_area(out[s.POSTCODE])
        readable = todo & (area != "").to_numpy()
        name[readable] = (area[readable] + " postcode area").to_numpy()
        basis[readable] = "postcode_area"

    return _table(out, code, name, basis, include_total)


def _table(
    out: pd.DataFrame,
    code: np.ndarray,
    name: np.ndarray,
    basis: np.ndarray,
    include_total: bool,
) -> pd.DataFrame:
    keys = pd.DataFrame({"la_code": code, "la_name": name, "assigned_by": basis})
    grouped = keys.groupby(list(keys.columns), sort=True)
    group = grouped.ngroup().to_numpy(dtype=np.int64)
    groups = grouped.size().reset_index()[list(keys.columns)]
    rows = _measures(out, group, len(groups))
    table = pd.concat([groups.reset_index(drop=True), rows], axis=1)
    table = table.sort_values(
        ["episodes", "la_name", "assigned_by"], ascending=[False, True, True], kind="stable"
    ).reset_index(drop=True)
    if include_total:
        total = _measures(out, np.zeros(len(out), dtype=np.int64), 1)
        total.insert(0, "assigned_by", "")
        total.insert(0, "la_name", TOTAL_LABEL)
        total.insert(0, "la_code", "")
        table = pd.concat([table, total], ignore_index=True)
    return table[list(PLACED_OUT_COLUMNS)]


def _measures(out: pd.DataFrame, group: np.ndarray, n_groups: int) -> pd.DataFrame:
    """The counts per group code (0..n_groups-1) of the rows of `out`."""

    def count(codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(codes, weights=weights, minlength=n_groups).astype(np.int64)

    child = pd.factorize(out[s.CHILD_ID].astype(str))[0].astype(np.int64)
    n_child = int(child.max()) + 1 if len(child) else 1
    pair_key = group.astype(np.int64) * n_child + child
    pair, pair_of_row, per_pair = np.unique(pair_key, return_inverse=True, return_counts=True)
    pair_group = pair // n_child
    repeat = per_pair >= 2

    returned = _dates(out, s.RETURNED)
    completed = _dates(out, s.RHI_COMPLETED)
    within = (
        completed.notna() & returned.notna()
        & (completed - returned <= pd.Timedelta(hours=RHI_HOURS))
    ).to_numpy()  # fmt: skip
    screened_row = (
        out[s.CE_SCREENING].astype(str).str.lower().eq("yes").to_numpy()
        if s.CE_SCREENING in out.columns
        else np.zeros(len(out), dtype=bool)
    )
    pair_screened = (
        np.bincount(pair_of_row.ravel(), weights=screened_row, minlength=len(pair)) > 0
    )
    table = pd.DataFrame(
        {
            "episodes": count(group),
            "children": count(pair_group),
            "repeat_children": count(pair_group, repeat.astype(float)),
            "episodes_returned": count(group, returned.notna().to_numpy().astype(float)),
            "rhi_completed": count(group, completed.notna().to_numpy().astype(float)),
            "rhi_completed_within_72h": count(group, within.astype(float)),
            "repeat_children_ce_screened": count(
                pair_group, (repeat & pair_screened).astype(float)
            ),
            "repeat_children_ce_not_screened": count(
                pair_group, (repeat & ~pair_screened).astype(float)
            ),
        }
    )
    den = table["episodes_returned"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(den > 0, table["rhi_completed_within_72h"] / den.clip(lower=1), np.nan)
    table["rhi_completed_within_72h_share"] = np.round(share, 3)
    return table


def _share_by_location(out: pd.DataFrame, text: pd.Series) -> pd.Series:
    """A blank `placement_la` takes the one recorded on another episode at the same location."""
    if s.LAT not in out.columns or s.LON not in out.columns:
        return text
    located = out[s.LAT].notna() & out[s.LON].notna()
    given = located & (text != "")
    if not given.any() or given.equals(located):
        return text
    key = pd.MultiIndex.from_arrays([out[s.LAT].round(6), out[s.LON].round(6)])
    known = pd.Series(text[given].to_numpy(), index=key[given.to_numpy()])
    known = known[~known.index.duplicated(keep="first")]
    fill = pd.Series(known.reindex(key).to_numpy(), index=text.index).fillna("")
    return text.where((text != "") | ~located, fill)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame[column], errors="coerce")


def _la_columns(
    layer: gpd.GeoDataFrame, code_col: str | None, name_col: str | None
) -> tuple[str, str]:
    if layer.crs is None:
        msg = "The local authority boundary layer has no CRS."
        raise BoundaryError(msg)
    columns = [c for c in layer.columns if c != layer.geometry.name]
    code = code_col or next(
        (c for c in columns if _CODE_COLUMN.match(str(c)) or str(c).lower() == "la_code"), None
    )
    name = name_col or next(
        (c for c in columns if _NAME_COLUMN.match(str(c)) or str(c).lower() == "la_name"), None
    )
    for label, col in (("code", code), ("name", name)):
        if col is None or col not in layer.columns:
            msg = (
                f"The local authority boundary layer has no {label} column "
                f"({col!r} not found). Columns: {', '.join(map(str, columns))}. Name them "
                "with `la_code_col` / `la_name_col` (e.g. CTYUA23CD / CTYUA23NM)."
            )
            raise BoundaryError(msg)
    assert code is not None and name is not None
    return code, name


def _locate(out: pd.DataFrame, layer: gpd.GeoDataFrame, code_col: str) -> np.ndarray:
    """Position in `layer` of the polygon holding each episode (-1: none); ties: lowest code."""
    pos = np.full(len(out), -1, dtype=np.int64)
    lon = out[s.LON].to_numpy(dtype=float)
    lat = out[s.LAT].to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return pos
    points = gpd.GeoSeries(shapely.points(lon[ok], lat[ok]), crs=s.WGS84).to_crs(layer.crs)
    tree = shapely.STRtree(np.asarray(layer.geometry.values))
    p_idx, l_idx = tree.query(np.asarray(points.values), predicate="intersects")
    if len(p_idx):
        rank = np.empty(len(layer), dtype=np.int64)
        rank[np.argsort(layer[code_col].astype(str).to_numpy(), kind="stable")] = np.arange(
            len(layer)
        )
        order = np.lexsort((rank[l_idx], p_idx))
        p_idx, l_idx = p_idx[order], l_idx[order]
        first = np.r_[True, p_idx[1:] != p_idx[:-1]]
        found = np.full(int(ok.sum()), -1, dtype=np.int64)
        found[p_idx[first]] = l_idx[first]
        pos[ok] = found
    return pos


def _postcode_area(postcodes: pd.Series) -> pd.Series:
    """The postcode area (``RG`` for ``rg1 2ab``, ``RG1``, ``RG1 2``); blank if unreadable."""
    text = postcodes.fillna("").astype(str).str.upper().str.strip()
    return text.str.extract(_POSTCODE_AREA, expand=False).fillna("")
