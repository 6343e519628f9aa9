"""The homes register (DATA-CONTRACT section 2): fostering households, children's homes and
other placements, with their locations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo import schema as s
from geo.episodes import Table
from geo.errors import InputError
from geo.postcodes import PostcodeIndex
from geo.validate import (
    _Audit,
    _col,
    _locations,
    require_coordinate_pairs,
    require_location_columns,
)

_TYPES = {
    "foster": "foster", "fostering": "foster", "foster carer": "foster",
    "residential": "residential", "children's home": "residential",
    "childrens home": "residential", "childrens_home": "residential",
    "semi_independent": "semi_independent", "semi-independent": "semi_independent",
    "semi independent": "semi_independent", "supported accommodation": "semi_independent",
    "other": "other",
}  # fmt: skip


def validate_homes(table: Table, postcodes: PostcodeIndex | None = None) -> pd.DataFrame:
    """Type and audit a homes register; unusable rows get `status` ``rejected`` and a reason.

    Reasons: ``missing_home_id``, ``duplicate_home_id``, ``invalid_type`` and the location
    reasons of the episodes file. Rows that survive have `status` blank (areas decide later).
    """
    raw = table.frame
    cols = set(raw.columns)
    found = ", ".join(table.original_headers.values())
    missing = [c for c in (s.HOME_ID, s.HOME_TYPE) if c not in cols]
    if missing:
        msg = (
            f"The homes register {table.path} is missing the required column(s) "
            f"{', '.join(f'`{c}`' for c in missing)}. Columns found: {found}."
        )
        raise InputError(msg, path=table.path)
    require_coordinate_pairs(table, "homes register", found)
    require_location_columns(table, "homes register", found)
    if raw.empty:
        msg = f"The homes register {table.path} has a header row but no data rows."
        raise InputError(msg, path=table.path)
    audit = _Audit(raw.index)
    out = pd.DataFrame({s.ROW_NUMBER: raw[s.ROW_NUMBER].astype("int64")}, index=raw.index)
    home_id = _col(raw, s.HOME_ID)
    out[s.HOME_ID] = home_id
    audit.reject(home_id == "", "missing_home_id", "`home_id` is blank")
    dup = home_id.duplicated() & (home_id != "")
    audit.reject(dup, "duplicate_home_id", "`home_id` " + home_id.map(repr) + " used twice")
    kind_text = _col(raw, s.HOME_TYPE)
    kind = kind_text.str.lower().map(_TYPES)
    audit.reject(
        kind.isna(),
        "invalid_type",
        "`type` = " + kind_text.map(repr) + ": expected foster, residential, semi_independent "
        "or other",
    )
    out[s.HOME_TYPE] = kind.fillna("")
    out[s.HOME_NAME] = _col(raw, s.HOME_NAME)
    out[s.HOME_PROVIDER] = _col(raw, s.HOME_PROVIDER)
    places_text = _col(raw, s.HOME_PLACES)
    places = pd.to_numeric(places_text, errors="coerce")
    bad_places = (places_text != "") & (places.isna() | (places < 0) | (places % 1 != 0))
    audit.warn(bad_places, "invalid_places")
    out[s.HOME_PLACES] = places.where(~bad_places).astype("Int64")
    _locations(raw, out, audit, postcodes)
    out[s.STATUS] = np.where(audit.reason != "", s.REJECTED, "")
    out[s.REASON] = audit.reason
    out[s.DETAIL] = audit.detail
    out[s.WARNINGS] = audit.warnings
    return out


# --- linking episodes to homes ----------------------------------------------------------------
LINKED_HOME_ID = "linked_home_id"  # the register's home an episode is linked to ("" = none)
HOME_LINK = "home_link"  # how: see LINK_VALUES
LINK_BY_ID = "id"
LINK_BY_LOCATION = "location"
LINK_UNLINKED = "unlinked"
LINK_NOT_IN_REGISTER = "not_in_register"
LINK_VALUES = {
    LINK_BY_ID: "its `home_id` is in the register",
    LINK_BY_LOCATION: "no `home_id`, a placement in a home, and exactly one registered home at "
    "the same location (within 1 m)",
    LINK_UNLINKED: "no `home_id`, a placement in a home (foster, residential or "
    "semi-independent), and no registered home, or more than one, at its location",
    LINK_NOT_IN_REGISTER: "its `home_id` is not in the register",
}
HOME_PLACEMENTS = ("foster", "residential", "semi_independent")
LOCATION_TOLERANCE_M = 1.0
LINKABLE_PRECISIONS = ("coordinates", "postcode")  # sector / district centroids never link


def link_homes(episodes: pd.DataFrame, homes: pd.DataFrame | None) -> pd.DataFrame:
    """Link each mapped episode to a home of the register: by `home_id`, else by location.

    Parameters
    ----------
    episodes
        Validated, located episodes (`status`, `home_id`, `placement_type`, `x`, `y`,
        `precision`).
    homes
        The validated register with areas (``None``: no register, nothing is linked).

    Returns
    -------
    pandas.DataFrame
        Two columns aligned with `episodes`: `linked_home_id` (blank when not linked) and
        `home_link`: ``id``, ``location``, ``unlinked``, ``not_in_register``, or blank (not
        mapped, no register, or an episode with no `home_id` that was not in a home).

    Notes
    -----
    An episode with a `home_id` is linked to that home whatever its placement type; a home
    rejected in the register (e.g. no location) still receives its episodes by id. Linking by
    location considers only episodes of foster, residential or semi-independent placements
    with a blank `home_id`, and only locations at least as precise as a full postcode (for
    the episode and the home): a postcode-sector centroid says nothing about the address.
    """
    n = len(episodes)
    linked = np.full(n, "", dtype=object)
    how = np.full(n, "", dtype=object)
    out = pd.DataFrame({LINKED_HOME_ID: linked, HOME_LINK: how}, index=episodes.index)
    if homes is None or n == 0:
        return out
    mapped = (episodes[s.STATUS] == s.MAPPED).to_numpy()
    home_id = episodes[s.HOME_ID].fillna("").astype(str).to_numpy()
    register = pd.Index(homes.loc[homes[s.HOME_ID] != "", s.HOME_ID].drop_duplicates())
    given = mapped & (home_id != "")
    known = given & (register.get_indexer(home_id) >= 0)  # hashed: fast at a million rows
    linked[known] = home_id[known]
    how[known] = LINK_BY_ID
    how[given & ~known] = LINK_NOT_IN_REGISTER

    wanted = (
        mapped
        & (home_id == "")
        & episodes[s.PLACEMENT_TYPE].astype(str).isin(HOME_PLACEMENTS).to_numpy()
    )
    how[wanted] = LINK_UNLINKED
    placeable = (
        wanted & episodes[s.PRECISION].astype(str).isin(LINKABLE_PRECISIONS).to_numpy()
    )
    usable = (
        (homes[s.STATUS] != s.REJECTED)
        & homes[s.PRECISION].astype(str).isin(LINKABLE_PRECISIONS)
        & homes[s.X].notna()
        & homes[s.Y].notna()
    ).to_numpy()
    if placeable.any() and usable.any():
        from scipy.spatial import cKDTree

        hx = homes[s.X].to_numpy(dtype=float)[usable]
        hy = homes[s.Y].to_numpy(dtype=float)[usable]
        ids = homes[s.HOME_ID].to_numpy(dtype=object)[usable]
        tree = cKDTree(np.column_stack([hx, hy]))
        ex = episodes[s.X].to_numpy(dtype=float)[placeable]
        ey = episodes[s.Y].to_numpy(dtype=float)[placeable]
        xy, inverse = np.unique(np.column_stack([ex, ey]), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        near = tree.query_ball_point(xy, r=LOCATION_TOLERANCE_M, return_length=True)
        one = np.asarray(near) == 1
        nearest = np.full(len(xy), -1, dtype=np.int64)
        if one.any():
            _, pos = tree.query(xy[one], k=1)
            nearest[one] = pos
        rows = np.flatnonzero(placeable)
        hit = one[inverse]
        linked[rows[hit]] = ids[nearest[inverse[hit]]]
        how[rows[hit]] = LINK_BY_LOCATION
    out[LINKED_HOME_ID] = linked
    out[HOME_LINK] = how
    return out


def linking_counts(episodes: pd.DataFrame) -> dict[str, int]:
    """Mapped episodes by how they were linked to the register (run.json `homes_linking`)."""
    how = episodes.loc[episodes[s.STATUS] == s.MAPPED, HOME_LINK]
    return {
        "linked_by_id": int((how == LINK_BY_ID).sum()),
        "linked_by_location": int((how == LINK_BY_LOCATION).sum()),
        "unlinked": int((how == LINK_UNLINKED).sum()),
        "home_id_not_in_register": int((how == LINK_NOT_IN_REGISTER).sum()),
        "not_from_a_home": int((how == "").sum()),
    }


# --- per-home measures ------------------------------------------------------------------------
HOME_MEASURES = (
    "episodes", "children", "repeat_children", "episodes_category_missing",
    "episodes_category_absent", "episodes_category_unknown",
)  # fmt: skip


def home_measures(mapped: pd.DataFrame, homes: pd.DataFrame) -> pd.DataFrame:
    """The register with, per home, the measures of the episodes linked to it.

    `mapped` holds mapped episodes with `linked_home_id` / `home_link` (and, preferably,
    prepared by `geo.summary.prepare_for_summaries`). A row rejected as a duplicate id gets
    zeros: its episodes go to the first row with that id.
    """
    from geo.summary import summarise

    out = homes.copy()
    first = ~out[s.HOME_ID].duplicated() & (out[s.HOME_ID] != "")
    index = pd.DataFrame({LINKED_HOME_ID: out.loc[first, s.HOME_ID].astype(str).to_numpy()})
    # summarise keeps only the rows of homes in `index` (so no unlinked row): no copy of them
    table = summarise(mapped, [LINKED_HOME_ID], index).set_index(LINKED_HOME_ID)
    has_link = (mapped[LINKED_HOME_ID] != "").to_numpy()
    linked_id = mapped[LINKED_HOME_ID][has_link].astype(str)
    how = mapped[HOME_LINK][has_link].astype(str)
    for name, value in (("episodes_linked_by_id", LINK_BY_ID),
                        ("episodes_linked_by_location", LINK_BY_LOCATION)):
        table[name] = (
            linked_id[how == value].value_counts()
            .reindex(table.index, fill_value=0).astype("int64")
        )
    columns = [*HOME_MEASURES, "episodes_linked_by_id", "episodes_linked_by_location"]
    for col in columns:
        values = out[s.HOME_ID].map(table[col]).where(first, 0)
        out[col] = values.fillna(0).astype("int64")
    places = out[s.HOME_PLACES].astype("Float64")
    per_place = places.where(places > 0)
    out["episodes_per_place"] = (out["episodes"] / per_place).round(2).astype("float64")
    out["children_per_place"] = (out["children"] / per_place).round(2).astype("float64")
    return out


# --- homes around hotspots ------------------------------------------------------------------
DRIVER_SINGLE_HOME_SHARE = 0.6  # >= 60% of a hotspot's episodes from one home
DRIVER_SEVERAL_HOMES_SHARE = 0.6  # >= 60% from 2+ homes near it
DRIVER_COMMUNITY_SHARE = 0.4  # < 40% from homes near it
DRIVERS = {
    "single residential home": f">= {DRIVER_SINGLE_HOME_SHARE:.0%} of its episodes from one "
    "residential children's home near it",
    "single foster home": f">= {DRIVER_SINGLE_HOME_SHARE:.0%} from one fostering household",
    "single semi-independent home": f">= {DRIVER_SINGLE_HOME_SHARE:.0%} from one "
    "semi-independent home",
    "single other home": f">= {DRIVER_SINGLE_HOME_SHARE:.0%} from one home of type other",
    "several homes": f">= {DRIVER_SEVERAL_HOMES_SHARE:.0%} from registered homes near it, no "
    f"one of them {DRIVER_SINGLE_HOME_SHARE:.0%}",
    "community / family homes": f"< {DRIVER_COMMUNITY_SHARE:.0%} from registered homes near it",
    "mixed": "anything else",
}
_SINGLE = {
    "residential": "single residential home", "foster": "single foster home",
    "semi_independent": "single semi-independent home", "other": "single other home",
}  # fmt: skip


def driver_label(episodes: int, from_homes: int, main_home: int, main_type: str) -> str:
    """The driver of a hotspot from its episodes, those from homes near it, and the most from
    one of them (rule in `DRIVERS` and docs/method.md)."""
    if episodes <= 0:
        return ""
    if main_home / episodes >= DRIVER_SINGLE_HOME_SHARE:
        return _SINGLE.get(main_type, "single other home")
    share = from_homes / episodes
    if share >= DRIVER_SEVERAL_HOMES_SHARE:
        return "several homes"
    if share < DRIVER_COMMUNITY_SHARE:
        return "community / family homes"
    return "mixed"


def hotspot_homes(
    in_spot: pd.DataFrame,
    hulls: pd.Series,
    homes: pd.DataFrame,
    eps_m: float,
) -> pd.DataFrame:
    """Per hotspot: the registered homes inside or within `eps_m` of its outline, by type, the
    episodes that came from them and the driver.

    Parameters
    ----------
    in_spot
        Mapped episodes in a hotspot, with `hotspot_id` and `linked_home_id`.
    hulls
        Hotspot outlines in EPSG:27700 (shapely geometries), indexed by hotspot id.
    homes
        The register with areas; only homes mapped inside the area count.
    eps_m
        Distance from the outline within which a home counts as near.

    Returns
    -------
    pandas.DataFrame
        Indexed like `hulls`: `homes_<type>`, `episodes_from_homes`,
        `episodes_from_homes_share`, `contributing_homes`, `main_home_id`,
        `main_home_type`, `main_home_share`, `driver`.
    """
    import shapely

    ids = np.asarray(hulls.index, dtype=object)
    geoms = np.asarray(hulls.to_numpy(), dtype=object)
    usable = homes[homes[s.STATUS] == s.MAPPED]
    points = shapely.points(usable[s.X].to_numpy(float), usable[s.Y].to_numpy(float))
    tree = shapely.STRtree(geoms)
    home_pos, spot_pos = tree.query(points, predicate="dwithin", distance=eps_m)
    kinds = usable[s.HOME_TYPE].to_numpy(dtype=object)
    out = pd.DataFrame(index=pd.Index(ids, name=s.HOTSPOT_ID))
    for kind in s.HOME_TYPES:
        out[f"homes_{kind}"] = np.bincount(
            spot_pos[kinds[home_pos] == kind], minlength=len(ids)
        ).astype(np.int64)
    near = pd.DataFrame(
        {
            s.HOTSPOT_ID: ids[spot_pos],
            LINKED_HOME_ID: usable[s.HOME_ID].to_numpy(dtype=object)[home_pos],
            s.HOME_TYPE: kinds[home_pos],
        }
    )
    per_home = (
        in_spot.loc[in_spot[LINKED_HOME_ID] != "", [s.HOTSPOT_ID, LINKED_HOME_ID]]
        .astype(str)
        .value_counts()
        .rename("n")
        .reset_index()
        .merge(near, on=[s.HOTSPOT_ID, LINKED_HOME_ID], how="inner")
        .sort_values([s.HOTSPOT_ID, "n", LINKED_HOME_ID], ascending=[True, False, True])
    )
    episodes = in_spot[s.HOTSPOT_ID].astype(str).value_counts().reindex(ids, fill_value=0)
    from_homes = per_home.groupby(s.HOTSPOT_ID)["n"].sum().reindex(ids, fill_value=0)
    contributing = per_home.groupby(s.HOTSPOT_ID).size().reindex(ids, fill_value=0)
    main = per_home.drop_duplicates(s.HOTSPOT_ID).set_index(s.HOTSPOT_ID).reindex(ids)
    out["episodes_from_homes"] = from_homes.to_numpy(dtype=np.int64)
    out["episodes_from_homes_share"] = _share(from_homes.to_numpy(), episodes.to_numpy())
    out["contributing_homes"] = contributing.to_numpy(dtype=np.int64)
    out["main_home_id"] = main[LINKED_HOME_ID].fillna("").to_numpy(dtype=object)
    out["main_home_type"] = main[s.HOME_TYPE].fillna("").to_numpy(dtype=object)
    main_n = main["n"].fillna(0).to_numpy(dtype=np.int64)
    out["main_home_share"] = _share(main_n, episodes.to_numpy())
    out["driver"] = [
        driver_label(int(e), int(f), int(m), str(t))
        for e, f, m, t in zip(episodes, from_homes, main_n, out["main_home_type"], strict=True)
    ]
    return out


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan), 3)
