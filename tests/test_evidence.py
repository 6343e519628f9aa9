"""Evidence behind hotspots: Gi* with exact p-values and FDR, bootstrap stability, sentences.

Synthetic data only: a planted hotspot (many children, many episodes in a 200 m disc), uniform
noise over the county, and a one-child hotspot. Everything is seeded.
"""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geo import evidence as ev
from geo import schema as s
from geo.areas import locate_points
from geo.cluster import cluster_episodes, hotspot_ids, hotspot_outlines
from geo.errors import ParameterError

EPS_M, MIN_SAMPLES = 250.0, 5
# Kidlington. The disc straddles the 449,500 m easting line of the 500 m grid, as nine in ten
# placements of a 200 m disc do (a disc wholly inside one cell is a single busy cell, which
# Gi* does not call a cluster: see docs/evidence.md).
PLANTED = (449_480.0, 214_230.0)
ONE_CHILD = (445_600.0, 240_700.0)  # Banbury
_TO_WGS84 = Transformer.from_crs(s.BNG, s.WGS84, always_xy=True)


@pytest.fixture(scope="module")
def area(wards) -> shapely.Geometry:
    return wards.to_crs(s.BNG).union_all()


def _uniform(rng: np.random.Generator, area: shapely.Geometry, n: int) -> np.ndarray:
    x0, y0, x1, y1 = area.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(4 * n, 2))
        out = np.vstack([out, xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]])
    return out[:n]


def _disc(rng: np.random.Generator, centre: tuple[float, float], radius: float, n: int):
    r = radius * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * math.pi, n)
    return np.column_stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)])


def _episodes(parts, wards, *, eps_m=EPS_M, min_samples=MIN_SAMPLES):
    """Mapped episodes from (xy, child ids) parts, clustered as the pipeline does."""
    xy = np.vstack([p[0] for p in parts])
    child = np.concatenate([p[1] for p in parts])
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    ward = locate_points(lon, lat, wards)
    labels = cluster_episodes(xy[:, 0], xy[:, 1], eps_m=eps_m, min_samples=min_samples)
    frame = pd.DataFrame(
        {
            s.EPISODE_ID: [f"E{i:05d}" for i in range(len(xy))],
            s.CHILD_ID: child,
            s.X: xy[:, 0],
            s.Y: xy[:, 1],
            s.LAT: lat,
            s.LON: lon,
            s.WARD_CODE: wards[s.WARD_CODE].to_numpy()[ward],
            s.STATUS: s.MAPPED,
            s.PRECISION: "coordinates",
            s.HOTSPOT_ID: hotspot_ids(labels),
        }
    )
    outlines = hotspot_outlines(xy[:, 0], xy[:, 1], labels)
    hotspots = gpd.GeoDataFrame(
        {s.HOTSPOT_ID: hotspot_ids(outlines["label"].to_numpy())},
        geometry=outlines.geometry.to_numpy(),
        crs=s.BNG,
    ).to_crs(s.WGS84)
    return frame, hotspots


def _noise(rng, area, n, prefix="N"):
    return _uniform(rng, area, n), np.array([f"{prefix}{i:04d}" for i in range(n)])


def _planted(rng, children=40, per_child=3):
    xy = _disc(rng, PLANTED, 200.0, children * per_child)
    return xy, np.repeat([f"P{i:03d}" for i in range(children)], per_child)


def _spot_at(hotspots, centre) -> str:
    point = gpd.GeoSeries([shapely.Point(centre)], crs=s.BNG).to_crs(s.WGS84).iloc[0]
    hit = hotspots[hotspots.geometry.contains(point)]
    assert len(hit) == 1, hit
    return str(hit[s.HOTSPOT_ID].iloc[0])


@pytest.fixture(scope="module")
def planted_run(wards, area):
    rng = np.random.default_rng(8)
    episodes, hotspots = _episodes([_planted(rng), _noise(rng, area, 400)], wards)
    grid = ev.gi_star_grid(episodes, wards, seed=1)
    stability = ev.hotspot_stability(
        episodes, hotspots, eps_m=EPS_M, min_samples=MIN_SAMPLES, runs=200, seed=2
    )
    return episodes, hotspots, grid, stability


# --- the planted hotspot and the noise ----------------------------------------------------------


def test_planted_hotspot_is_gi_significant_after_fdr_and_stable(planted_run):
    _, hotspots, grid, stability = planted_run
    planted = _spot_at(hotspots, PLANTED)
    assert len(hotspots) == 1  # uniform noise at this density makes no DBSCAN hotspot
    assert grid.attrs["gi"]["fdr"] is True and grid.attrs["gi"]["cell_m"] == 500.0
    assert grid["hot"].sum() >= 2
    sig = ev.hotspot_significance(hotspots, grid)
    assert sig.dtype == bool and bool(sig[hotspots[s.HOTSPOT_ID] == planted].iloc[0])
    row = stability.set_index(s.HOTSPOT_ID).loc[planted]
    assert row["stability"] >= 0.8 and row["stable"]
    assert row["children"] >= 40 and not row["rests_on_one_child"]
    evidence = ev.hotspot_evidence(hotspots, stability, grid)
    assert evidence.set_index(s.HOTSPOT_ID).loc[planted, "evidence"] == "robust"


def test_noise_makes_no_significant_cell_away_from_the_planted_hotspot(planted_run):
    _, _, grid, _ = planted_run
    significant = grid[grid["q"] <= 0.05]
    corners = np.column_stack([significant["cell_x"], significant["cell_y"]]) + 250.0
    distance = np.hypot(corners[:, 0] - PLANTED[0], corners[:, 1] - PLANTED[1])
    assert (distance < 1_300).all()  # the planted disc's own windows only
    assert not grid["cold"].any()


def test_noise_alone_has_no_significant_cells_and_no_stable_hotspots(wards, area):
    rng = np.random.default_rng(11)
    # min_samples 3 so that chance coincidences of uniform points do make DBSCAN hotspots
    episodes, hotspots = _episodes([_noise(rng, area, 1500)], wards, min_samples=3)
    assert len(hotspots) >= 2
    grid = ev.gi_star_grid(episodes, wards, permutations=99, seed=3)
    assert not grid["hot"].any() and not grid["cold"].any() and grid["q"].min() > 0.05
    stability = ev.hotspot_stability(episodes, hotspots, eps_m=EPS_M, min_samples=3, seed=4)
    assert (stability["stability"] < 0.8).all()
    assert (ev.hotspot_evidence(hotspots, stability)["evidence"] == "fragile").all()


def test_ward_noise_has_no_significant_wards(wards):
    # The null for ward counts is "every ward alike" (wards are drawn to similar electorates),
    # not "uniform over the map": big rural wards would then be busy because they are big.
    rng = np.random.default_rng(12)
    ward = rng.integers(0, len(wards), 2000)
    counts = np.bincount(ward, minlength=len(wards))
    frame = pd.DataFrame(
        {
            s.WARD_CODE: np.repeat(wards[s.WARD_CODE].to_numpy(), counts),
            s.CHILD_ID: [f"C{i}" for i in range(counts.sum())],
        }
    )
    by_ward = ev.gi_star_wards(frame, wards, permutations=99, seed=3)
    assert by_ward["count"].sum() == 2000
    assert not by_ward["hot"].any() and not by_ward["cold"].any()
    # ...whereas one busy group of neighbouring wards is found
    busy = by_ward.to_crs(s.BNG).geometry.distance(shapely.Point(PLANTED)) < 3_000
    extra = pd.DataFrame(
        {
            s.WARD_CODE: np.repeat(by_ward.loc[busy, s.WARD_CODE].to_numpy(), 40),
            s.CHILD_ID: "X",
        }
    )
    hot = ev.gi_star_wards(pd.concat([frame, extra]), wards, permutations=0)
    assert hot["hot"].any() and hot.loc[hot["hot"], s.WARD_CODE].isin(
        by_ward.loc[busy, s.WARD_CODE]
    ).mean() > 0.5


def test_one_child_hotspot_rests_on_one_child_and_is_unstable(wards, area):
    rng = np.random.default_rng(5)
    one = (_disc(rng, ONE_CHILD, 30.0, 30), np.array(["K0001"] * 30))
    episodes, hotspots = _episodes([_planted(rng), one, _noise(rng, area, 400)], wards)
    spot = _spot_at(hotspots, ONE_CHILD)
    stability = ev.hotspot_stability(
        episodes, hotspots, eps_m=EPS_M, min_samples=MIN_SAMPLES, seed=6
    ).set_index(s.HOTSPOT_ID)
    row = stability.loc[spot]
    assert row["rests_on_one_child"] and row["children"] == 1
    assert (row["top_child_episodes"], row["episodes"], row["top_child_share"]) == (30, 30, 1.0)
    # the child is drawn in about 1 - 1/e = 63% of the resamples
    assert 0.5 < row["stability"] < 0.8 and not row["stable"]
    assert stability.loc[_spot_at(hotspots, PLANTED), "stability"] >= 0.8


# --- Gi* details --------------------------------------------------------------------------------


def test_exact_window_tails_match_brute_force_enumeration():
    values = np.array([0, 0, 3, 1, 0, 7, 2, 0, 1])
    sizes = np.array([1, 2, 3, 4, 3, 2])
    totals = np.array([7, 0, 9, 5, 1, 10])
    upper, lower = ev.window_total_tails(values, sizes, totals)
    for k, t, up, lo in zip(sizes, totals, upper, lower, strict=True):
        sums = np.array([sum(c) for c in itertools.combinations(values.tolist(), int(k))])
        assert up == pytest.approx((sums >= t).mean(), rel=1e-12)
        assert lo == pytest.approx((sums <= t).mean(), rel=1e-12)


def test_benjamini_hochberg_by_hand():
    q = ev.benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5, 0.001]))
    # sorted: 0.001*5/1, 0.01*5/2, 0.03*5/3, 0.04*5/4, 0.5*5/5 -> monotone from the top
    assert q.round(6).tolist() == [0.025, 0.05, 0.05, 0.5, 0.005]


def test_grid_is_clipped_to_the_area_and_p_sim_ignores_ties(planted_run, area):
    _, _, grid, _ = planted_run
    cells = grid.to_crs(s.BNG)
    assert cells.geometry.within(area.buffer(1.0)).all()
    # 500 m cells over Oxfordshire's 2,606 km2: about 10,400 whole cells, plus the edge ones
    assert 10_400 < len(grid) < 11_500
    assert grid["cell_id"].is_unique
    assert grid.attrs["gi"]["permutations"] == 999
    assert grid["count"].sum() == 520
    empty = grid["window_count"] == 0
    # esda 2.9's default p_sim is 0.001 for every empty window (ties counted as "more extreme"
    # in the low direction); here a tie counts both ways, so an empty window is unremarkable
    assert (grid.loc[empty, "p_sim"] > 0.5).all()
    assert (grid.loc[empty, "p_exact"] == 1.0).all()
    hot = grid[grid["hot"]]
    assert (hot["z"] > 0).all() and (hot["p_sim"] <= 0.01).all()


def test_children_measure_and_ward_output(planted_run, wards):
    episodes = planted_run[0]
    by_ward = ev.gi_star_wards(episodes, wards, permutations=0, measure="children")
    assert len(by_ward) == 112 and by_ward[s.WARD_CODE].is_monotonic_increasing
    assert by_ward["count"].sum() == episodes.groupby(s.WARD_CODE)[s.CHILD_ID].nunique().sum()
    assert by_ward["p_sim"].isna().all()
    assert by_ward.crs.to_epsg() == 4326


def test_gi_parameters_are_checked(wards, planted_run):
    episodes = planted_run[0]
    for kwargs in ({"cell_m": 0}, {"cell_m": 5}, {"permutations": -1}, {"alpha": 1.5},
                   {"measure": "rate"}):  # fmt: skip
        with pytest.raises(ParameterError):
            ev.gi_star_grid(episodes, wards, **kwargs)


def test_no_episodes_gives_no_hot_cells(wards):
    empty = pd.DataFrame({s.X: [], s.Y: [], s.CHILD_ID: [], s.WARD_CODE: []})
    grid = ev.gi_star_grid(empty, wards, cell_m=2_000, permutations=9)
    assert len(grid) > 600 and not grid["hot"].any() and (grid["p_exact"] == 1).all()


def test_hotspot_significance_needs_an_overlap_with_a_hot_cell():
    cells = gpd.GeoDataFrame(
        {"hot": [True, False], "z": [4.0, 0.1], "q": [0.01, 0.9]},
        geometry=[shapely.box(0, 0, 500, 500), shapely.box(500, 0, 1000, 500)],
        crs=s.BNG,
    )
    spots = gpd.GeoDataFrame(
        {s.HOTSPOT_ID: ["H01", "H02", "H03"]},
        geometry=[
            shapely.Point(400, 100).buffer(150),  # overlaps the hot cell
            shapely.Point(800, 100).buffer(50),  # only the cold one
            shapely.box(-100, 500, 0, 600),  # touches the hot cell's corner only
        ],
        crs=s.BNG,
    )
    assert ev.hotspot_significance(spots, cells).tolist() == [True, False, False]
    detail = ev.hotspot_gi(spots, cells)
    assert detail["gi_hot_cells"].tolist() == [1, 0, 0]
    assert detail.loc[0, "gi_max_z"] == 4.0 and np.isnan(detail.loc[1, "gi_min_q"])


# --- stability details and sentences -------------------------------------------------------------


def test_stability_of_a_home_shared_by_many_children_is_one(wards):
    # 12 children, 2 episodes each, one address: every resample draws enough of them
    xy = np.tile([[451_000.0, 206_000.0]], (24, 1))
    episodes, hotspots = _episodes([(xy, np.repeat([f"C{i}" for i in range(12)], 2))], wards)
    out = ev.hotspot_stability(episodes, hotspots, eps_m=EPS_M, min_samples=5, runs=50)
    assert out[["stability", "mean_jaccard", "locations", "children"]].iloc[0].tolist() == [
        1.0, 1.0, 1, 12,
    ]  # fmt: skip
    assert out.attrs["stability"]["runs"] == 50


def test_stability_refuses_hotspots_without_episodes(planted_run):
    episodes, hotspots, _, _ = planted_run
    with pytest.raises(ParameterError, match="H99"):
        ev.hotspot_stability(
            episodes, pd.DataFrame({s.HOTSPOT_ID: ["H99"]}), eps_m=EPS_M, min_samples=5
        )
    with pytest.raises(ParameterError):
        ev.hotspot_stability(episodes, hotspots, eps_m=EPS_M, min_samples=5, runs=0)


def test_describe_evidence_names_robust_fragile_and_one_child():
    evidence = pd.DataFrame(
        {
            s.HOTSPOT_ID: ["H01", "H02", "H03", "H04"],
            "gi_significant": [True, False, True, False],
            "stability": [0.97, 0.91, 0.62, 0.55],
            "episodes": [120, 40, 35, 30],
            "top_child_episodes": [6, 10, 12, 30],
            "rests_on_one_child": [False, False, False, True],
            "evidence": ["robust", "stable_only", "fragile", "fragile"],
        }
    )
    grid = gpd.GeoDataFrame({"hot": [True, False], "cold": [False, False]})
    grid.attrs["gi"] = {"cell_m": 500.0, "alpha": 0.05, "fdr": True}
    text = ev.describe_evidence(evidence, gi_cells=grid, stability_runs=200)
    assert "500 m grid" in text[0] and "200 re-runs" in text[0] and "80%" in text[0]
    assert text[1] == "Robust: H01."
    assert "H02 (91%)" in text[2] and "children's home" in text[2]
    assert "H03 (62%, Gi* hot spot), H04 (55%)" in text[3]
    assert "H04 (30 of 30 episodes)" in text[4] and "H01" not in text[4]
    assert "1 hot-spot cells among 2" in text[5]
    assert ev.describe_evidence(evidence.iloc[:0])[1] == (
        "No hotspot was found, so there is nothing to test."
    )


def test_describe_evidence_without_gi():
    evidence = pd.DataFrame(
        {
            s.HOTSPOT_ID: ["H01", "H02"],
            "gi_significant": pd.array([pd.NA, pd.NA], dtype="boolean"),
            "stability": [0.9, 0.3],
            "episodes": [10, 8],
            "top_child_episodes": [3, 8],
            "rests_on_one_child": [False, True],
            "evidence": ["stable_only", "fragile"],
        }
    )
    text = ev.describe_evidence(evidence)
    assert "hot spot" not in " ".join(text)
    assert text[1] == "Without the Gi* test no hotspot can be called robust."
    assert text[2] == "Stable, found again in at least 80% of the re-runs: H01 (90%)."
    assert text[3].startswith("Fragile, found again in fewer than 80% of the re-runs: H02 (30%)")
