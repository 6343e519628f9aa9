import csv
import random

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo import schema as s
from geo.areas import assign_areas, locate_points
from geo.episodes import read_table
from geo.validate import validate_episodes
from tests.conftest import DATA, episode


def _truth() -> list[dict[str, str]]:
    with (DATA / "truth_points.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_truth_points_land_in_the_right_ward_district_and_lpa(wards, write_csv):
    truth = _truth()
    assert len(truth) == 40
    rows = [episode(i, float(t["lat"]), float(t["lon"])) for i, t in enumerate(truth)]
    frame = assign_areas(validate_episodes(read_table(write_csv(rows))), wards)
    inside = [t for t in truth if t["expected_ward_code"]]
    assert len(inside) == 35
    for t, (_, row) in zip(truth, frame.iterrows(), strict=True):
        if t["expected_ward_code"]:
            assert row[s.STATUS] == s.MAPPED, t["label"]
            assert row[s.WARD_CODE] == t["expected_ward_code"], t["label"]
            assert row[s.WARD_NAME] == t["label"]
            assert row[s.LAD_CODE] == t["expected_lad_code"], t["label"]
            assert row[s.LPA_NAME] == t["expected_lpa_name"], t["label"]
        else:
            assert row[s.STATUS] == s.OUTSIDE_AREA, t["label"]
            assert row[s.REASON] == s.OUTSIDE_REASON
            assert row[s.WARD_CODE] == ""
    assert (frame[s.STATUS] == s.OUTSIDE_AREA).sum() == 5


def test_truth_points_given_as_british_national_grid(wards, write_csv):
    from pyproj import Transformer

    to_bng = Transformer.from_crs(s.WGS84, s.BNG, always_xy=True)
    truth = [t for t in _truth() if t["expected_ward_code"]]
    rows = []
    for i, t in enumerate(truth):
        e, n = to_bng.transform(float(t["lon"]), float(t["lat"]))
        rows.append({"episode_id": f"E{i}", "child_id": "C1", "missing_from": "2020-01-01",
                     "easting": round(e, 1), "northing": round(n, 1)})
    frame = assign_areas(validate_episodes(read_table(write_csv(rows))), wards)
    assert (frame[s.STATUS] == s.MAPPED).all()
    assert frame[s.WARD_CODE].tolist() == [t["expected_ward_code"] for t in truth]


def test_point_on_shared_boundary_goes_to_the_lowest_code_whatever_the_order(wards):
    shared = None
    for lon, lat in shapely.get_coordinates(wards.iloc[0].geometry):
        hits = wards[wards.intersects(shapely.Point(lon, lat))]
        if len(hits) >= 2:
            shared = (lon, lat, min(hits[s.WARD_CODE]))
            break
    assert shared is not None
    lon, lat, expected = shared
    shuffled = wards.sample(frac=1, random_state=3)
    for frame in (wards, wards.iloc[::-1].reset_index(drop=True), shuffled):
        got = locate_points(np.array([lon]), np.array([lat]), frame)
        assert frame.iloc[got[0]][s.WARD_CODE] == expected


def test_rejected_rows_are_not_located(wards, write_csv):
    rows = [episode(1, 52.066495, -1.341187), episode(1, 52.066495, -1.341187)]
    frame = assign_areas(validate_episodes(read_table(write_csv(rows))), wards)
    assert frame[s.STATUS].tolist() == [s.MAPPED, s.REJECTED]
    assert frame.loc[1, s.REASON] == "duplicate_episode_id"
    assert frame.loc[1, s.WARD_CODE] == ""


def test_wards_must_be_wgs84(wards):
    from geo.errors import BoundaryError

    with pytest.raises(BoundaryError, match="WGS84"):
        locate_points(np.array([0.0]), np.array([0.0]), wards.to_crs(s.BNG))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(
        st.sampled_from(["in", "out", "dup", "nodate", "noloc", "badcoord", "swapped"]),
        min_size=1, max_size=40,
    ),
    seed=st.integers(0, 10_000),
)
def test_row_conservation(wards, tmp_path, kinds, seed):
    rng = random.Random(seed)
    rows = []
    for i, kind in enumerate(kinds):
        lat, lon = 51.75 + rng.uniform(-0.02, 0.02), -1.26 + rng.uniform(-0.02, 0.02)
        row = episode(i, round(lat, 6), round(lon, 6))
        if kind == "out":
            row["lat"], row["lon"] = 53.48, -2.24  # Manchester
        elif kind == "dup" and i > 0:
            row["episode_id"] = rows[0]["episode_id"]
        elif kind == "nodate":
            row["missing_from"] = "soon"
        elif kind == "noloc":
            row["lat"] = row["lon"] = ""
        elif kind == "badcoord":
            row["lat"] = "north"
        elif kind == "swapped":
            row["lat"], row["lon"] = row["lon"], row["lat"]
        rows.append(row)
    path = tmp_path / f"e{seed}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    frame = assign_areas(validate_episodes(read_table(path)), wards)
    assert len(frame) == len(rows)
    assert frame[s.ROW_NUMBER].tolist() == list(range(2, len(rows) + 2))
    counts = frame[s.STATUS].value_counts()
    assert counts.sum() == len(rows)
    assert set(counts.index) <= set(s.STATUSES)
    mapped = frame[frame[s.STATUS] == s.MAPPED]
    assert (mapped[s.WARD_CODE] != "").all() and (mapped[s.REASON] == "").all()
    assert (frame.loc[frame[s.STATUS] != s.MAPPED, s.REASON] != "").all()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10**6))
def test_locate_points_matches_a_polygon_test_of_every_point(wards, seed):
    """Random points in and around the county, ward vertices (on shared boundaries) and a
    missing coordinate: each gets the lowest-coded ward whose polygon it touches, or -1."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = wards.total_bounds
    coords = shapely.get_coordinates(wards.geometry.values)
    vertices = coords[rng.integers(0, len(coords), 60)]
    lon = np.r_[rng.uniform(x0 - 0.05, x1 + 0.05, 140), vertices[:, 0], np.nan]
    lat = np.r_[rng.uniform(y0 - 0.05, y1 + 0.05, 140), vertices[:, 1], 51.7]
    got = locate_points(lon, lat, wards)
    codes = wards[s.WARD_CODE].astype(str).to_numpy()
    geoms = list(wards.geometry.values)
    for k in range(len(lon)):
        point = shapely.Point(lon[k], lat[k])
        hits = [i for i, g in enumerate(geoms) if g.intersects(point)]
        assert got[k] == (min(hits, key=lambda i: codes[i]) if hits else -1)
