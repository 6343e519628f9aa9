"""Tests of the synthetic data generator (geo/synth.py)."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import schema as sc
from geo.errors import BoundaryError, ParameterError
from geo.synth import (
    EPISODE_COLUMNS,
    HOME_COLUMNS,
    SynthData,
    generate_synthetic,
    write_synthetic,
)

REPO = Path(__file__).parents[1]
CHERWELL_WEST = "Cherwell and West Oxfordshire"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
SIX_DECIMALS = re.compile(r"^-?\d+\.\d{6}$")


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    w = gpd.read_file(REPO / "boundaries" / "data" / "wards.geojson")
    lookup = pd.read_csv(REPO / "boundaries" / "data" / "lpa_lookup.csv", dtype=str)
    return w.merge(lookup[[sc.LAD_CODE, sc.LPA_NAME]], on=sc.LAD_CODE, how="left")


@pytest.fixture(scope="module")
def data(wards) -> SynthData:
    return generate_synthetic(wards)


@pytest.fixture(scope="module")
def distinct(wards) -> SynthData:
    return generate_synthetic(wards, distinct_locations=True)


def ward_of(wards: gpd.GeoDataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """For each row: how many wards strictly contain its point, and the (last) ward's codes."""
    lon = frame[sc.LON].to_numpy(float)
    lat = frame[sc.LAT].to_numpy(float)
    hits = np.zeros(len(frame), dtype=int)
    lad = np.full(len(frame), None, dtype=object)
    lpa = np.full(len(frame), None, dtype=object)
    for geom, lad_code, lpa_name in zip(
        wards.geometry.values, wards[sc.LAD_CODE], wards[sc.LPA_NAME], strict=True
    ):
        inside = shapely.contains_xy(geom, lon, lat)
        hits += inside
        lad[inside] = lad_code
        lpa[inside] = lpa_name
    return pd.DataFrame({"hits": hits, sc.LAD_CODE: lad, sc.LPA_NAME: lpa}, index=frame.index)


def per_child(episodes: pd.DataFrame) -> pd.DataFrame:
    return episodes.groupby(sc.CHILD_ID).agg(
        episodes=(sc.EPISODE_ID, "size"),
        sex=(sc.SEX, "first"),
        placement=(sc.PLACEMENT_TYPE, "first"),
        ce=(sc.CE_SCREENING, "first"),
    )


# --- reproducibility and format ---------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_files(wards, data, tmp_path):
    again = generate_synthetic(wards)
    pd.testing.assert_frame_equal(data.episodes, again.episodes)
    pd.testing.assert_frame_equal(data.homes, again.homes)
    first = write_synthetic(data, tmp_path / "a")
    second = write_synthetic(again, tmp_path / "b")
    for key in ("episodes", "homes"):
        assert first[key].read_bytes() == second[key].read_bytes()


def test_different_seed_gives_different_data(wards, data):
    other = generate_synthetic(wards, seed=2)
    assert not data.episodes.equals(other.episodes)
    assert not data.homes.equals(other.homes)


def test_columns_follow_the_data_contract(data):
    assert list(data.episodes.columns) == list(EPISODE_COLUMNS)
    assert set(EPISODE_COLUMNS) <= set(sc.KNOWN_COLUMNS)
    assert set(sc.REQUIRED_COLUMNS) <= set(EPISODE_COLUMNS)
    assert list(data.homes.columns) == [
        sc.HOME_ID, sc.HOME_TYPE, sc.HOME_NAME, sc.HOME_PROVIDER, sc.HOME_PLACES, sc.LAT, sc.LON,
    ]
    assert list(HOME_COLUMNS) == list(data.homes.columns)


def test_values_use_the_contract_vocabulary(data):
    e = data.episodes
    assert set(e[sc.SEX]) == {"M", "F"}
    assert set(e[sc.CARE_STATUS]) <= set(sc.CARE_STATUSES)
    assert set(e[sc.PLACEMENT_TYPE]) <= set(sc.PLACEMENT_TYPES)
    assert set(e[sc.CATEGORY]) == {"missing", "absent"}
    assert set(e[sc.RISK]) <= set(sc.RISKS) - {"unknown"}
    assert set(e[sc.CE_SCREENING]) == {"yes", "no"}
    assert set(data.homes[sc.HOME_TYPE]) == set(sc.HOME_TYPES)
    looked_after = e[sc.PLACEMENT_TYPE] != "family_home"
    assert (e.loc[looked_after, sc.CARE_STATUS] == "looked_after").all()
    assert (e.loc[~looked_after, sc.CARE_STATUS] != "looked_after").all()


def test_written_csv_has_iso_datetimes_and_six_decimal_coordinates(data, tmp_path):
    paths = write_synthetic(data, tmp_path / "out")
    assert set(paths) == {"episodes", "homes"}
    raw = pd.read_csv(paths["episodes"], dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(EPISODE_COLUMNS)  # no index column
    for col in (sc.MISSING_FROM, sc.RETURNED, sc.RHI_OFFERED, sc.RHI_COMPLETED):
        filled = raw[col][raw[col] != ""]
        assert filled.str.fullmatch(DATETIME).all(), col
    assert raw[sc.DOB].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    for col in (sc.LAT, sc.LON):
        assert raw[col].str.fullmatch(SIX_DECIMALS).all()
    back = pd.read_csv(paths["episodes"])
    np.testing.assert_array_equal(back[sc.LAT].to_numpy(), data.episodes[sc.LAT].to_numpy())
    homes = pd.read_csv(paths["homes"], dtype=str)
    assert len(homes) == len(data.homes)
    assert homes[sc.HOME_PLACES].str.fullmatch(r"\d+").all()
    assert paths["episodes"].read_bytes()[:3] != b"\xef\xbb\xbf"  # plain UTF-8, no BOM


def test_sorted_by_missing_from_then_episode_id_and_ids_unique(data):
    e = data.episodes
    assert e[sc.EPISODE_ID].is_unique
    assert e[sc.EPISODE_ID].str.fullmatch(r"E\d{6}").all()
    assert e[sc.CHILD_ID].str.fullmatch(r"C\d{5}").all()
    keys = list(zip(e[sc.MISSING_FROM], e[sc.EPISODE_ID], strict=True))
    assert keys == sorted(keys)


# --- geography --------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", ["episodes", "homes"])
def test_every_point_is_strictly_inside_exactly_one_ward(wards, data, distinct, frame):
    for d in (data, distinct):
        hits = ward_of(wards, getattr(d, frame))["hits"]
        assert (hits == 1).all(), f"{(hits != 1).sum()} points outside every ward or on a border"


def test_most_residential_and_fostering_homes_are_in_cherwell_and_west(wards, data):
    homes = data.homes.join(ward_of(wards, data.homes))
    share = homes.groupby(sc.HOME_TYPE)[sc.LPA_NAME].apply(lambda s: (s == CHERWELL_WEST).mean())
    assert share["residential"] > 0.6
    assert share["foster"] >= 0.45
    assert share["residential"] > share["semi_independent"]


def test_home_episodes_are_at_their_home_and_family_episodes_at_one_address(data):
    e = data.episodes
    homes = data.homes.set_index(sc.HOME_ID)
    placed = e[e[sc.PLACEMENT_TYPE] != "family_home"]
    assert placed[sc.HOME_ID].notna().all()
    assert placed[sc.HOME_ID].isin(homes.index).all()
    assert (homes.loc[placed[sc.HOME_ID], sc.HOME_TYPE].to_numpy()
            == placed[sc.PLACEMENT_TYPE].to_numpy()).all()
    np.testing.assert_array_equal(homes.loc[placed[sc.HOME_ID], sc.LAT], placed[sc.LAT])
    np.testing.assert_array_equal(homes.loc[placed[sc.HOME_ID], sc.LON], placed[sc.LON])
    family = e[e[sc.PLACEMENT_TYPE] == "family_home"]
    assert family[sc.HOME_ID].isna().all()
    spots = family.groupby(sc.CHILD_ID)[[sc.LAT, sc.LON]].nunique()
    assert (spots == 1).all().all()
    # every child keeps one placement, home, sex and date of birth
    fixed = e.groupby(sc.CHILD_ID)[[sc.PLACEMENT_TYPE, sc.SEX, sc.DOB, sc.PLACING_AUTHORITY]]
    assert (fixed.nunique() == 1).all().all()
    assert (placed.groupby(sc.CHILD_ID)[sc.HOME_ID].nunique() == 1).all()


def test_distinct_locations_gives_every_episode_its_own_point_near_the_shared_one(data, distinct):
    d = distinct.episodes
    assert not d[[sc.LAT, sc.LON]].duplicated().any()
    assert len(data.episodes[[sc.LAT, sc.LON]].drop_duplicates()) < len(d) / 2
    # everything but the coordinates is the same; each point moved by a few metres at most
    others = [c for c in EPISODE_COLUMNS if c not in (sc.LAT, sc.LON)]
    pd.testing.assert_frame_equal(d[others], data.episodes[others])
    dy = (d[sc.LAT] - data.episodes[sc.LAT]) * 111_320
    dx = (d[sc.LON] - data.episodes[sc.LON]) * 111_320 * np.cos(np.radians(d[sc.LAT]))
    moved = np.hypot(dx, dy)
    assert moved.max() < 15
    assert moved.median() > 0.5


# --- the shape of the data (seed report) ------------------------------------------------------


def test_counts_and_demographics_look_like_the_report(data):
    e = data.episodes
    children = per_child(e)
    assert len(e) == 1000
    assert 300 <= len(children) <= 400
    boys = (children["sex"] == "M").mean()
    assert 0.5 < boys < 0.7
    assert e[sc.AGE].between(10, 17).all()
    bands = pd.cut(e[sc.AGE], [9, 10, 13, 16, 17], labels=["under_11", "11_13", "14_16", "17"])
    assert bands.value_counts().idxmax() == "14_16"
    assert bands.value_counts(normalize=True)["14_16"] > 0.5
    assert 0.5 < (children["episodes"] == 1).mean() < 0.75
    assert (children["episodes"] >= 20).sum() >= 1
    assert 0.6 < (e[sc.CATEGORY] == "missing").mean() < 0.8
    assert (e[sc.PLACING_AUTHORITY] == "Oxfordshire").mean() > 0.6
    assert e[sc.PLACING_AUTHORITY].nunique() > 3
    assert set(data.homes[sc.HOME_TYPE].value_counts().index) == set(sc.HOME_TYPES)


def test_age_matches_date_of_birth(data):
    e = data.episodes
    dob = pd.to_datetime(e[sc.DOB])
    day = pd.to_datetime(e[sc.MISSING_FROM])
    before_birthday = (day.dt.month * 100 + day.dt.day) < (dob.dt.month * 100 + dob.dt.day)
    age = day.dt.year - dob.dt.year - before_birthday.astype(int)
    assert (age == e[sc.AGE]).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_repeat_children_are_concentrated_in_residential_homes(wards, data, seed):
    e = data.episodes if seed == 1 else generate_synthetic(wards, seed=seed).episodes
    children = per_child(e)
    residential = (children["placement"] == "residential").mean()
    assert residential < 0.3  # a minority of the children ...
    repeat = children[children["episodes"] >= 2]
    assert repeat["placement"].value_counts().idxmax() == "residential"  # ... most repeat ones
    frequent = children[children["episodes"] >= 5]
    assert (frequent["placement"] == "residential").mean() > 2 * residential
    assert e[sc.PLACEMENT_TYPE].value_counts().idxmax() == "residential"


def test_every_repeat_child_had_ce_screening(data):
    children = per_child(data.episodes)
    assert (children.loc[children["episodes"] >= 2, "ce"] == "yes").all()
    singles = children.loc[children["episodes"] == 1, "ce"]
    assert 0 < (singles == "yes").mean() < 1


def test_returned_and_return_home_interviews_are_consistent(data):
    e = data.episodes
    start = pd.to_datetime(e[sc.MISSING_FROM])
    back = pd.to_datetime(e[sc.RETURNED])
    offered = pd.to_datetime(e[sc.RHI_OFFERED])
    completed = pd.to_datetime(e[sc.RHI_COMPLETED])
    assert (back[back.notna()] >= start[back.notna()]).all()
    assert 0.005 < back.isna().mean() < 0.05
    hours = (back - start).dt.total_seconds() / 3600
    assert (hours < 24).mean() > 0.6
    assert (hours > 72).any()
    assert start.between(pd.Timestamp("2020-01-01"), pd.Timestamp("2020-07-01")).all()
    # RHIs: only after a return, offered before completed, most offered, not all within 72 h
    assert offered[back.isna()].isna().all()
    assert completed[offered.isna()].isna().all()
    assert (offered[offered.notna()] >= back[offered.notna()]).all()
    assert (completed[completed.notna()] >= offered[completed.notna()]).all()
    assert offered[back.notna()].notna().mean() > 0.75
    within = (completed - back).dt.total_seconds() <= 72 * 3600
    assert 0.3 < within[completed.notna()].mean() < 0.95
    # one child is never missing twice at once
    order = e.assign(start=start, back=back).sort_values([sc.CHILD_ID, "start"])
    following = order.groupby(sc.CHILD_ID)["start"].shift(-1)
    assert not (order["back"] > following).any()
    assert not (order["back"].isna() & following.notna()).any()


# --- parameters and scale ---------------------------------------------------------------------


def test_period_and_host_authority_are_respected(wards):
    d = generate_synthetic(
        wards, n_episodes=300, start="2021-03-01", end="2021-03-31", host_authority="Swindon"
    )
    start = pd.to_datetime(d.episodes[sc.MISSING_FROM])
    assert start.min() >= pd.Timestamp("2021-03-01")
    assert start.max() < pd.Timestamp("2021-04-01")
    assert d.episodes[sc.AGE].between(10, 17).all()
    assert (d.episodes[sc.PLACING_AUTHORITY] == "Swindon").mean() > 0.6
    assert "Swindon County Council" in set(d.homes[sc.HOME_PROVIDER])


def test_a_long_period_keeps_ages_in_range(wards):
    d = generate_synthetic(wards, n_episodes=500, start="2018-01-01", end="2020-12-31")
    assert d.episodes[sc.AGE].between(10, 17).all()
    semi = d.episodes[d.episodes[sc.PLACEMENT_TYPE] == "semi_independent"]
    assert semi[sc.AGE].between(16, 17).all()


def test_larger_data_scales_children_but_not_locations(wards):
    d = generate_synthetic(wards, seed=7, n_episodes=20_000)
    e = d.episodes
    assert len(e) == 20_000
    assert e[sc.EPISODE_ID].is_unique
    assert 6000 <= e[sc.CHILD_ID].nunique() <= 8000
    locations = len(e[[sc.LAT, sc.LON]].drop_duplicates())
    assert 500 < locations < 3000
    assert len(d.homes) < 500
    assert (ward_of(wards, e)["hits"] == 1).all()


@pytest.mark.parametrize("n", [1, 2, 7])
def test_tiny_sizes_work(wards, n):
    d = generate_synthetic(wards, n_episodes=n)
    assert len(d.episodes) == n
    assert d.episodes[sc.EPISODE_ID].is_unique


def test_bad_parameters_are_refused(wards):
    with pytest.raises(ParameterError):
        generate_synthetic(wards, n_episodes=0)
    with pytest.raises(ParameterError):
        generate_synthetic(wards, start="2020-06-30", end="2020-01-01")
    with pytest.raises(ParameterError):
        generate_synthetic(wards, start="31/01/2020")
    with pytest.raises(BoundaryError):
        generate_synthetic(wards.drop(columns=[sc.LAD_CODE]))


def test_wards_in_another_crs_give_the_same_kind_of_data(wards):
    d = generate_synthetic(wards.to_crs(sc.BNG), n_episodes=200)
    assert (ward_of(wards, d.episodes)["hits"] == 1).all()


def test_add_placed_out_moves_some_host_children_outside_the_county(wards):
    from geo.synth import PLACED_OUT_TOWNS, add_placed_out

    data = generate_synthetic(wards, seed=1)
    moved = add_placed_out(data, seed=1)
    ep = moved.episodes
    out = ep[ep["placement_la"] != ""]
    assert len(out) > 0 and len(ep) == len(data.episodes)
    assert set(out["placing_authority"]) == {"Oxfordshire"}
    assert set(out["care_status"]) == {"looked_after"}
    assert set(out["placement_la"]) <= {t[0] for t in PLACED_OUT_TOWNS}
    # the moved children's episodes all moved, and lie outside every ward
    moved_children = set(out["child_id"])
    assert (ep[ep["child_id"].isin(moved_children)]["placement_la"] != "").all()
    union = wards.union_all()
    import shapely

    pts = shapely.points(out["lon"].astype(float), out["lat"].astype(float))
    assert not shapely.contains(union, pts).any()
    # nobody else changed
    same = ~ep["child_id"].isin(moved_children)
    assert ep.loc[same, "lat"].equals(data.episodes.loc[same, "lat"])
