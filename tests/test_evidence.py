"""Evidence behind hotspots: Gi* with exact p-values and FDR, bootstrap stability, sentences.

Synthetic data only: a planted hotspot (many children, many episodes in a 200 m disc), uniform
noise over the county, and a one-child hotspot. Everything is seeded.
"""

from __future__ import annotations

import itertools
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from esda import G_Local
from libpysal.graph import Graph
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components
from scipy.special import comb

from geo import evidence as ev
from geo import schema as s
from geo.areas import locate_points
from geo.cluster import (
    cluster_episodes,
    dbscan_fit,
    distinct_locations,
    hotspot_ids,
    hotspot_outlines,
)
from geo.errors import ParameterError
from tests.conftest import disc_points, uniform_points

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
    return uniform_points(rng, area, n), np.array([f"{prefix}{i:04d}" for i in range(n)])


def _planted(rng, children=40, per_child=3):
    xy = disc_points(rng, PLANTED, 200.0, children * per_child)
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
    one = (disc_points(rng, ONE_CHILD, 30.0, 30), np.array(["K0001"] * 30))
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


def _plain_window_tails(values, sizes, totals):
    """window_total_tails as first written: every value on the whole table (the reference)."""
    values = np.asarray(values)
    n, k_max, cap = len(values), int(np.max(sizes)), max(int(np.max(totals)), 0)
    distinct, mult = np.unique(values.astype(np.int64), return_counts=True)
    ways = np.zeros((k_max + 1, cap + 1))
    ways[0, 0] = 1.0
    for value, count in zip(distinct.tolist(), mult.tolist(), strict=True):
        new = ways.copy()
        for r in range(1, min(count, k_max) + 1):
            shift = r * value
            weight = float(comb(count, r, exact=True))
            src = ways[: k_max + 1 - r]
            if shift > cap:
                new[r:, cap] += src.sum(axis=1) * weight
                continue
            new[r:, shift:] += src[:, : cap + 1 - shift] * weight
            if shift > 0:
                new[r:, cap] += src[:, cap + 1 - shift :].sum(axis=1) * weight
        ways = new
    all_ways = np.array([float(comb(n, k, exact=True)) for k in range(k_max + 1)])
    pmf = ways / all_ways[:, None]
    upper = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    lower = np.cumsum(pmf, axis=1)
    t = np.clip(np.asarray(totals), 0, cap)
    return np.minimum(upper[sizes, t], 1.0), np.minimum(lower[sizes, t], 1.0)


def test_exact_window_tails_are_bit_identical_to_the_plain_knapsack():
    # the shortcuts (columns known to be zero, a value met once added in place) change no bit:
    # many zeros, repeated small values, values over the cap, long tables
    rng = np.random.default_rng(21)
    for trial in range(120):
        n = int(rng.integers(1, 150))
        kind = trial % 4
        if kind == 0:
            values = rng.poisson(rng.uniform(0.1, 8), n)
        elif kind == 1:
            values = np.where(rng.random(n) < 0.7, 0, rng.geometric(0.02, n))
        elif kind == 2:
            values = rng.integers(0, 600, n)
        else:
            values = rng.integers(0, 4, n) * int(rng.integers(1, 60))
        sizes = rng.integers(1, min(n, 16) + 1, int(rng.integers(1, 30)))
        totals = rng.integers(0, max(1, int(values.sum()) // 3 + 2), len(sizes))
        got = ev.window_total_tails(values, sizes, totals)
        want = _plain_window_tails(values, sizes, totals)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), trial


def test_p_sim_is_exactly_esdas_conditional_randomisation():
    # a lattice with holes (cells with 1 to 8 neighbours) and, beyond an empty column,
    # three islands
    rng = np.random.default_rng(22)
    col, row = (a.ravel() for a in np.meshgrid(np.arange(14), np.arange(11)))
    keep = (rng.random(len(col)) < 0.75) & (col < 12) | (col == 13) & (row % 5 == 0)
    col, row = col[keep], row[keep]
    adjacency = ev._queen_lattice(col, row, 14, 11)
    card = np.diff(adjacency.indptr)
    sparse = rng.integers(0, 40, len(col)) * (rng.random(len(col)) < 0.4)
    for counts in (rng.poisson(2.0, len(col)), sparse):
        values = counts.astype(float)
        for seed, permutations in ((0, 99), (7, 999)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # esda's notices on `alternative`, islands
                stat = G_Local(
                    values, Graph.from_sparse(adjacency), transform="B", star=True,
                    permutations=permutations, seed=seed, n_jobs=1, keep_simulations=True,
                )  # fmt: skip
            want = ev._pseudo_p(np.asarray(stat.Gs), np.asarray(stat.rGs), permutations)
            got = ev._conditional_p_sim(
                values, adjacency, np.asarray(stat.Gs), permutations, seed, block=7
            )
            assert np.array_equal(got, want)
    assert card.min() == 0 and card.max() == 8


def test_weighted_dbscan_gives_scikit_learns_labels():
    rng = np.random.default_rng(23)
    for trial in range(40):
        n = int(rng.integers(2, 400))
        # whole metres on a 50 m lattice: many pairs exactly eps = 250 m apart (150, 200)
        xy = rng.integers(0, 40, (n, 2)) * 50.0 + 400_000.0
        loc = distinct_locations(xy[:, 0], xy[:, 1])
        weight = rng.integers(0, 4, len(loc.x)).astype(float)
        min_samples = int(rng.integers(1, 9))
        pairs = ev._neighbour_pairs(loc.x, loc.y, 250.0)
        got = ev._weighted_dbscan(pairs, weight, min_samples)
        present = weight > 0
        want, _ = dbscan_fit(
            loc.x[present], loc.y[present], eps_m=250.0, min_samples=min_samples,
            sample_weight=weight[present],
        )  # fmt: skip
        assert np.array_equal(got[present], want), trial
        assert (got[~present] == -1).all()


def _weighted_dbscan_by_pairs(pairs, weight, min_samples):
    """The first `_weighted_dbscan`, on the pairs themselves: the reference for the faster one."""
    i, j = pairs
    n = len(weight)
    labels = np.full(n, -1, dtype=np.int64)
    present = weight > 0
    within = weight + np.bincount(i, weights=weight[j], minlength=n)
    within += np.bincount(j, weights=weight[i], minlength=n)
    core = present & (within >= min_samples)
    core_at = np.flatnonzero(core)
    if len(core_at) == 0:
        return labels
    linked = core[i] & core[j]
    graph = sp.csr_matrix(
        (np.ones(int(linked.sum()), dtype=np.int8), (i[linked], j[linked])), shape=(n, n)
    )
    _, component = connected_components(graph, directed=False)
    _, first, which = np.unique(component[core_at], return_index=True, return_inverse=True)
    number = np.empty(len(first), dtype=np.int64)
    number[np.argsort(first, kind="stable")] = np.arange(len(first))
    labels[core_at] = number[which.ravel()]
    border = present & ~core
    to_j, to_i = core[i] & border[j], core[j] & border[i]
    target = np.concatenate([j[to_j], i[to_i]])
    if len(target):
        joined = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(joined, target, np.concatenate([labels[i[to_j]], labels[j[to_i]]]))
        hit = joined < np.iinfo(np.int64).max
        labels[hit] = joined[hit]
    return labels


def test_neighbour_graph_gives_the_labels_of_the_pairs_on_dense_points():
    rng = np.random.default_rng(5)
    # 3,000 distinct points on 3 x 3 km: ~60 neighbours each within 250 m, and 40 scattered
    xy = np.vstack([rng.uniform(0, 3_000, (3_000, 2)), rng.uniform(5_000, 9_000, (40, 2))])
    loc = distinct_locations(xy[:, 0] + 400_000.0, xy[:, 1] + 200_000.0)
    pairs = ev._neighbour_pairs(loc.x, loc.y, 250.0)
    graph = ev._NeighbourGraph(pairs, len(loc.x))
    borders = clusters = 0
    for trial in range(12):
        zeros = rng.uniform(0.2, 0.9)  # many absent points: thin, broken clusters and borders
        weight = rng.integers(1, 4, len(loc.x)) * (rng.random(len(loc.x)) > zeros)
        weight = weight.astype(float)
        min_samples = int(rng.integers(2, 40))
        got = graph.labels(weight, min_samples)
        assert np.array_equal(got, _weighted_dbscan_by_pairs(pairs, weight, min_samples)), trial
        assert np.array_equal(got, ev._weighted_dbscan(pairs, weight, min_samples)), trial
        within = weight + np.bincount(pairs[0], weights=weight[pairs[1]], minlength=len(weight))
        within += np.bincount(pairs[1], weights=weight[pairs[0]], minlength=len(weight))
        borders += int(((got >= 0) & (within < min_samples)).sum())
        clusters = max(clusters, int(got.max()) + 1)
    assert borders > 100 and clusters > 2
    assert (graph.labels(np.zeros(len(loc.x)), 3) == -1).all()
    single = ev._NeighbourGraph(ev._neighbour_pairs(loc.x[:1], loc.y[:1], 250.0), 1)
    assert single.labels(np.array([2.0]), 2).tolist() == [0]


def test_distinct_locations_by_hashing_is_np_unique():
    """`distinct_locations` hashes repeated points before sorting: the same as np.unique."""
    rng = np.random.default_rng(24)
    for n, spread in ((0, 1), (1, 1), (5_000, 40), (5_000, 10**9), (100_000, 300)):
        pick = rng.integers(0, spread, n)
        x, y = 400_000 + (pick % 997) * 13.7, 200_000 + (pick // 997) * 7.3
        uniq, inverse, counts = np.unique(x + 1j * y, return_inverse=True, return_counts=True)
        got = distinct_locations(x, y)
        want = {"x": uniq.real, "y": uniq.imag, "weight": counts.astype(float),
                "inverse": inverse.ravel()}
        for field in ("x", "y", "weight", "inverse"):
            assert np.array_equal(getattr(got, field), want[field])


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


def test_stability_with_codes_given_is_the_same(planted_run):
    episodes, hotspots, _, stability = planted_run
    codes = pd.factorize(episodes[s.CHILD_ID].astype(str))[0]
    rows = ev.clustered_rows(episodes, ev.HOTSPOT_PRECISIONS)
    loc = distinct_locations(episodes[s.X][rows].to_numpy(), episodes[s.Y][rows].to_numpy())
    again = ev.hotspot_stability(
        episodes, hotspots, eps_m=EPS_M, min_samples=MIN_SAMPLES, runs=200, seed=2,
        child_codes=codes, locations=loc,
    )  # fmt: skip
    pd.testing.assert_frame_equal(again, stability)
    two = distinct_locations(np.zeros(2), np.zeros(2))  # not these episodes' locations
    with pytest.raises(ParameterError, match="locations"):
        ev.hotspot_stability(episodes, hotspots, eps_m=EPS_M, min_samples=5, locations=two)
    with pytest.raises(ParameterError, match="child_codes"):
        ev.hotspot_stability(
            episodes, hotspots, eps_m=EPS_M, min_samples=5, child_codes=codes[1:]
        )


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


def test_describe_evidence_names_at_most_max_named_hotspots_per_sentence():
    from geo.evidence import MAX_NAMED, describe_evidence

    n = MAX_NAMED + 25
    evidence = pd.DataFrame({
        s.HOTSPOT_ID: [f"H{i:03d}" for i in range(1, n + 1)],
        "gi_significant": False, "gi_max_z": 0.0, "gi_min_q": 1.0, "stability": 1.0,
        "rests_on_one_child": False, "top_child_share": 0.2, "evidence": "stable_only",
    })  # fmt: skip
    text = " ".join(describe_evidence(evidence, stability_runs=200))
    assert f"H{MAX_NAMED:03d} (100%)" in text and f"H{MAX_NAMED + 1:03d}" not in text
    assert "and 25 more (see hotspot_evidence.csv)" in text
