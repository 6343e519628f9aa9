"""geo.context: the evidence for the panel built from a whole analysis (issue 8).

Synthetic data only, every number checkable by hand: a planted hotspot (40 children, 3 episodes
each, in a 200 m disc at Kidlington), a one-child hotspot (30 episodes at one Banbury spot) and
uniform noise (one episode per child) over the county; a hand-built placed-out frame; the
synthetic examples/ benchmark and neighbour files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import geo.context as gc
from geo import schema as s
from geo.context import (
    EVIDENCE_COLUMNS,
    GI_CELL_COLUMNS,
    build_evidence,
    default_stability_runs,
    evidence_summary,
    evidence_tables,
)
from geo.episodes import read_table
from geo.errors import ParameterError
from geo.pipeline import AnalysisConfig, analyse
from geo.placed_out import PLACED_OUT_COLUMNS, TOTAL_LABEL
from tests.conftest import disc_points, uniform_points

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BENCHMARKS = EXAMPLES / "benchmarks_example.csv"
NEIGHBOURS = EXAMPLES / "neighbours_example.csv"
HOST = "E10000025"  # Oxfordshire
PLANTED = (449_480.0, 214_230.0)  # Kidlington; the disc straddles a 500 m cell edge
ONE_CHILD = (445_600.0, 240_700.0)  # Banbury
_TO_WGS84 = Transformer.from_crs(s.BNG, s.WGS84, always_xy=True)


def _rows(xy: np.ndarray, children: np.ndarray, start: int, **extra: object) -> list[dict]:
    lon, lat = _TO_WGS84.transform(xy[:, 0], xy[:, 1])
    return [
        {
            "episode_id": f"E{start + i:05d}",
            "child_id": f"SECRET{c}",
            "missing_from": f"2020-{1 + i % 6:02d}-{1 + i % 27:02d} 18:00",
            "returned": f"2020-{1 + i % 6:02d}-{2 + i % 27:02d} 09:00",
            "lat": round(float(la), 7),
            "lon": round(float(lo), 7),
            **extra,
        }
        for i, (la, lo, c) in enumerate(zip(lat, lon, children, strict=True))
    ]


@pytest.fixture(scope="module")
def planted(wards, tmp_path_factory):
    """The analysis of a planted hotspot, a one-child hotspot and noise, and its evidence."""
    rng = np.random.default_rng(8)
    area = wards.to_crs(s.BNG).union_all()
    rows = _rows(disc_points(rng, PLANTED, 200.0, 120), np.repeat(np.arange(40), 3), 0)
    rows += _rows(disc_points(rng, ONE_CHILD, 30.0, 30), np.array([900] * 30), 200)
    rows += _rows(uniform_points(rng, area, 400), np.arange(1000, 1400), 300)
    path = tmp_path_factory.mktemp("planted") / "episodes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = analyse(read_table(path), wards=wards)
    evidence = build_evidence(result, wards, seed=2)
    return result, evidence


def _spot_at(result, centre) -> str:
    point = gpd.GeoSeries([shapely.Point(centre)], crs=s.BNG).to_crs(s.WGS84).iloc[0]
    hit = result.hotspots[result.hotspots.geometry.contains(point)]
    assert len(hit) == 1, hit
    return str(hit[s.HOTSPOT_ID].iloc[0])


# --- the planted hotspot ----------------------------------------------------------------------


def test_planted_hotspot_is_robust_and_the_one_child_spot_is_not(planted):
    result, evidence = planted
    table = evidence_tables(evidence)["hotspot_evidence"].set_index(s.HOTSPOT_ID)
    spot = _spot_at(result, PLANTED)
    one = _spot_at(result, ONE_CHILD)
    # 40 children with 3 episodes each in a 200 m disc: a Gi* hot spot, found in every re-run
    assert table.loc[spot, "evidence"] == "robust"
    assert table.loc[spot, "gi_significant"] and table.loc[spot, "gi_max_z"] > 3
    assert table.loc[spot, "gi_min_q"] <= 0.05
    assert table.loc[spot, "stability"] >= 0.8
    assert not table.loc[spot, "rests_on_one_child"]
    assert table.loc[spot, "top_child_share"] <= 0.1  # 3 (or so) of ~120 episodes
    # one child, 30 episodes at one spot: found again only when that child is drawn (~63%)
    assert table.loc[one, "rests_on_one_child"] and table.loc[one, "top_child_share"] == 1.0
    assert table.loc[one, "evidence"] == "fragile"
    assert 0.5 < table.loc[one, "stability"] < 0.8
    # nothing else is robust: noise at this density makes no stable Gi* hot spot
    assert (table["evidence"] == "robust").sum() == 1
    assert evidence.verdict_counts()["robust"] == 1


def test_the_default_sizes_are_recorded(planted):
    _, evidence = planted
    p = evidence.parameters
    assert p["cell_m"] == 500.0 and p["permutations"] == 999
    assert p["stability_runs"] == 200 and p["stability_runs_chosen_by"] == "default"
    assert (p["seed"], p["fdr"], p["alpha"]) == (2, True, 0.05)
    assert (p["eps_m"], p["min_samples"]) == (250.0, 5)
    assert p["gi_cells"] == len(evidence.gi_grid) > 10_000
    assert p["gi_hot_cells"] == int(evidence.gi_grid["hot"].sum()) >= 2
    assert p["period_days"] == 179  # 1 Jan to 27 Jun 2020, the first and last missing_from
    assert set(evidence.timings) >= {"gi_grid", "gi_wards", "stability", "total"}
    assert evidence.timings["total"] < 30
    assert evidence.notes == ()  # nothing scaled, no population asked for without benchmarks
    assert evidence.comparison is None and p["population_0_17"] is None


def test_sentences_name_the_robust_hotspot_and_the_one_child_one(planted):
    result, evidence = planted
    text = " ".join(evidence.sentences)
    assert f"Robust: {_spot_at(result, PLANTED)}." in evidence.sentences
    assert f"{_spot_at(result, ONE_CHILD)} (30 of 30 episodes)" in text
    assert "200 re-runs" in text and "500 m grid" in text
    assert "SECRET" not in text


def test_gi_cells_table_holds_only_significant_cells_at_cell_centres(planted, wards):
    _, evidence = planted
    cells = evidence_tables(evidence)["gi_cells"]
    assert list(cells.columns) == list(GI_CELL_COLUMNS)
    grid = evidence.gi_grid
    assert len(cells) == int(grid["hot"].sum() + grid["cold"].sum())
    assert set(cells["spot"]) <= {"hot", "cold"}
    # a centre is a multiple of half a cell, never an episode's position
    assert ((cells["centre_easting"] - 250) % 500 == 0).all()
    assert ((cells["centre_northing"] - 250) % 500 == 0).all()
    assert (cells["q"] <= 0.05).all() and (cells["z"] > 0).all()
    # the planted disc is inside the windows of the hot cells
    d = np.hypot(cells["centre_easting"] - PLANTED[0], cells["centre_northing"] - PLANTED[1])
    assert (d < 1_300).all()


def test_tables_have_the_documented_columns_and_no_child_id(planted):
    result, evidence = planted
    tables = evidence_tables(evidence)
    assert list(tables) == ["hotspot_evidence", "gi_cells", "placed_out"]
    verdicts = tables["hotspot_evidence"]
    assert list(verdicts.columns) == list(EVIDENCE_COLUMNS)
    assert verdicts[s.HOTSPOT_ID].tolist() == result.hotspots[s.HOTSPOT_ID].tolist()
    assert set(verdicts["evidence"]) <= {"robust", "stable_only", "fragile"}
    for table in tables.values():
        assert "SECRET" not in table.to_csv()
        assert s.CHILD_ID not in table.columns
    summary = evidence_summary(evidence)
    assert summary["hotspots"]["robust"] == 1 and "SECRET" not in str(summary)
    json.dumps(summary, allow_nan=False)  # plain JSON for run.json


# --- bounded work -----------------------------------------------------------------------------


def test_default_stability_runs_by_hand():
    # 1,000 episodes: 0.0015 + 0.000006 + 0.0000127 + 0.0000045 s per run: 200 fit easily
    assert default_stability_runs(1_000, 253, 425) == 200
    # 100,000 episodes at 3,675 locations: 0.0027 s per run: 371 fit, 200 are run
    assert default_stability_runs(100_000, 3_675, 38_783) == 200
    # 1,000,000 episodes: 0.0015 + 0.006 + 0.00058 + 0.00388 = 0.012 s; 1 s holds 83 -> 80
    assert default_stability_runs(1_000_000, 11_637, 369_921) == 80
    # 100,000 all-distinct locations, 71 million pairs: 0.75 s a run; raised to the minimum
    assert default_stability_runs(100_000, 100_000, 70_934_824) == 20


def test_large_inputs_scale_the_work_down_and_say_so(planted, wards, monkeypatch):
    result, _ = planted
    monkeypatch.setattr(gc, "MAX_CELLS", 3_000)  # 500 m: ~10,900 cells; 1,000 m: ~2,800
    monkeypatch.setattr(gc, "MAX_PERMUTATION_CELLS", 500_000)  # 2,800 x 999 is over
    # a run here: 0.0015 + 550 x 6e-9 + 550 locations x 5e-8 + 15,654 pairs x 1.05e-8
    # = 0.0017 s, so a budget of 0.09 s holds 53 runs: 50 in tens
    monkeypatch.setattr(gc, "STABILITY_BUDGET_S", 0.09)
    evidence = build_evidence(result, wards, seed=2)
    p = evidence.parameters
    assert p["cell_m"] == 1_000.0 and p["cell_m_asked"] == 500.0
    area = float(wards.to_crs(s.BNG).area.sum())  # about 2,606 km2
    cells = area / 1_000**2 + 4 * math.sqrt(area) / 1_000  # whole cells plus an edge ring
    assert p["permutations"] == int(500_000 / cells) == 177
    assert p["stability_runs"] == 50 and p["stability_runs_chosen_by"] == "scaled"
    notes = " ".join(evidence.notes)
    assert "1000 m cells were used" in notes and "permutations reduced from 999" in notes
    assert "50 re-runs instead of 200" in notes
    assert evidence.gi_grid.attrs["gi"]["cell_m"] == 1_000.0
    assert "1000 m grid" in evidence.sentences[0]
    # a number of runs given is used as it is
    given = build_evidence(result, wards, stability_runs=7, permutations=0)
    assert given.parameters["stability_runs"] == 7
    assert given.parameters["stability_runs_chosen_by"] == "given"


def test_stability_is_not_run_when_dbscan_needed_the_memory_fallback(planted, wards,
                                                                      monkeypatch):
    result, _ = planted
    monkeypatch.setattr(gc, "DEFAULT_BUDGET_BYTES", 8)
    evidence = build_evidence(result, wards, permutations=0)
    assert evidence.parameters["stability_runs"] == 0
    assert set(evidence.hotspot_evidence["evidence"]) == {"not_tested"}
    assert evidence.stability["stability"].isna().all()
    # who each hotspot rests on is still known
    one = _spot_at(result, ONE_CHILD)
    assert evidence.stability.set_index(s.HOTSPOT_ID).loc[one, "top_child_episodes"] == 30
    assert any("Stability was not tested" in n for n in evidence.notes)
    assert "Rests on one child" in " ".join(evidence.sentences)


def test_who_a_hotspot_rests_on_is_the_same_on_codes_and_on_the_rows(planted):
    result, evidence = planted
    episodes, precisions = result.episodes, tuple(result.config.hotspot_precisions)
    codes = pd.factorize(episodes[s.CHILD_ID].astype(str))[0]
    fast = gc._untested_stability(
        episodes, result.hotspots, precisions, codes, gc._Clustered(episodes, precisions)
    )
    slow = gc._untested_from_frame(episodes, result.hotspots, precisions)
    pd.testing.assert_frame_equal(fast, slow)
    columns = ["episodes", "children", "locations", "top_child_episodes", "top_child_share"]
    pd.testing.assert_frame_equal(fast[columns], evidence.stability[columns])
    # an episode without a child id: counted by the rows (groups leave it out)
    missing = episodes.copy()
    one = _spot_at(result, ONE_CHILD)
    missing.loc[missing[s.HOTSPOT_ID] == one, s.CHILD_ID] = np.nan
    codes = pd.factorize(missing[s.CHILD_ID].astype(str))[0]
    assert (codes < 0).sum() == 30
    again = gc._untested_stability(
        missing, result.hotspots, precisions, codes, gc._Clustered(missing, precisions)
    )
    pd.testing.assert_frame_equal(
        again, gc._untested_from_frame(missing, result.hotspots, precisions)
    )
    assert again.set_index(s.HOTSPOT_ID).loc[one, "episodes"] == 0


def test_hdbscan_runs_are_not_tested_for_stability(wards, write_csv):
    rows = [{"episode_id": f"E{i}", "child_id": f"C{i % 7}", "missing_from": "2020-02-01",
             "lat": 51.752 + (i % 5) * 1e-4, "lon": -1.2577} for i in range(30)]
    result = analyse(read_table(write_csv(rows)), wards=wards,
                     config=AnalysisConfig(method="hdbscan"))
    evidence = build_evidence(result, wards, permutations=0)
    assert len(result.hotspots) >= 1
    assert set(evidence.hotspot_evidence["evidence"]) == {"not_tested"}
    assert "HDBSCAN" in " ".join(evidence.sentences)


# --- placed out of area -----------------------------------------------------------------------

READING = (51.4545, -0.9780)
SWINDON = (51.5600, -1.7800)


def _placed_out_rows() -> list[dict]:
    def row(i, child, where, placed="Oxfordshire", la="", returned="2020-03-02 09:00",
            rhi="", ce=""):
        return {"episode_id": f"P{i}", "child_id": f"SECRET{child}",
                "missing_from": "2020-03-01 18:00", "returned": returned, "lat": where[0],
                "lon": where[1], "placing_authority": placed, "placement_la": la,
                "rhi_completed": rhi, "ce_screening": ce}

    return [
        # child A: three episodes in Reading; RHI in 47 h, in 73 h, none; screened once
        row(1, "A", READING, la="Reading", rhi="2020-03-04 08:00", ce="yes"),
        row(2, "A", READING, la="Reading", rhi="2020-03-05 10:00"),
        row(3, "A", READING, la="Reading"),
        # child B: once in Reading, RHI exactly 72 h after the return
        row(4, "B", READING, la="Reading", rhi="2020-03-05 09:00"),
        # child C: twice in Swindon, never screened (not returned the second time)
        row(5, "C", SWINDON, la="Swindon", ce="no"),
        row(6, "C", SWINDON, la="Swindon", returned="", ce="no"),
        # not placed out: another authority's child outside, and our child inside the county
        row(7, "D", READING, placed="Buckinghamshire", la="Reading"),
        row(8, "E", (52.066495, -1.341187)),
    ]


def test_placed_out_counts_by_hand(wards, write_csv):
    result = analyse(read_table(write_csv(_placed_out_rows())), wards=wards)
    assert result.counts["outside_area"] == 7
    evidence = build_evidence(result, wards, permutations=0)
    table = evidence_tables(evidence)["placed_out"]
    assert list(table.columns) == list(PLACED_OUT_COLUMNS)
    assert table["la_name"].tolist() == ["Reading", "Swindon", TOTAL_LABEL]
    t = table.set_index("la_name")
    assert t.loc["Reading", "assigned_by"] == "placement_la"
    expected = {  # episodes, children, repeat, returned, RHI in 72 h, CE screened, not screened
        "Reading": (4, 2, 1, 4, 2, 1, 0),
        "Swindon": (2, 1, 1, 1, 0, 0, 1),
        TOTAL_LABEL: (6, 3, 2, 5, 2, 1, 1),
    }
    columns = ["episodes", "children", "repeat_children", "episodes_returned",
               "rhi_completed_within_72h", "repeat_children_ce_screened",
               "repeat_children_ce_not_screened"]
    for name, values in expected.items():
        assert tuple(int(v) for v in t.loc[name, columns]) == values, name
    assert t.loc["Reading", "rhi_completed_within_72h_share"] == 0.5
    assert "SECRET" not in table.to_csv()


# --- comparison with published figures --------------------------------------------------------


def test_benchmark_comparison_rows_with_the_example_files(planted, wards):
    result, _ = planted
    evidence = build_evidence(result, wards, permutations=0, stability_runs=5,
                              benchmarks=BENCHMARKS, neighbours=NEIGHBOURS)
    p = evidence.parameters
    assert p["host_code"] == HOST  # found by the host authority's name, Oxfordshire
    # no population given and none in the run: the host's row of the file (146,000)
    assert (p["population_0_17"], p["population_source"]) == (146_000.0, "benchmarks")
    table = evidence_tables(evidence)["benchmark_comparison"].set_index("comparator")
    assert table.index.tolist() == ["host", "host_published", "statistical_neighbours",
                                    "region", "england"]
    # this analysis: 40 + 1 + 400 children, 120 + 30 + 400 episodes (all mapped)
    children, episodes = 441, 550
    assert evidence.host_figures["children_missing"] == children
    host = table.loc["host"]
    assert host["children_missing_rate_per_10k"] == round(children / 146_000 * 10_000, 3)
    assert host["incidents_per_child"] == round(episodes / children, 3)
    assert host["share_2plus"] == round(41 / children, 3)  # the 40 planted and the one child
    # the file's own rows, by hand
    bench = pd.read_csv(BENCHMARKS).set_index("la_code")
    published = table.loc["host_published"]
    assert published["children_missing_rate_per_10k"] == round(604 / 146_000 * 10_000, 3)
    assert published["incidents_per_child"] == round(1950 / 604, 3)
    codes = pd.read_csv(NEIGHBOURS)["neighbour_code"].tolist()
    neighbours = table.loc["statistical_neighbours"]
    assert neighbours["n_las"] == 10 and neighbours["la_code"] == ";".join(codes)
    rates = bench.loc[codes, "children_missing"] / bench.loc[codes, "population_0_17"] * 10_000
    assert neighbours["children_missing_rate_per_10k"] == round(rates.mean(), 3)
    assert neighbours["share_2plus"] == round(bench.loc[codes, "share_2plus"].mean(), 3)
    south_east = bench[bench["region_code"] == "E12000008"]
    assert table.loc["region", "n_las"] == len(south_east) == 19
    england = table.loc["england"]
    assert england["children_missing_rate_per_10k"] == 41.0  # 49,200 / 12,000,000
    assert england["incidents_per_child"] == 3.4  # 167,280 / 49,200


def test_a_population_given_wins_and_a_missing_host_is_refused(planted, wards, tmp_path):
    result, _ = planted
    evidence = build_evidence(result, wards, permutations=0, stability_runs=5,
                              benchmarks=BENCHMARKS, population_0_17=100_000)
    host = evidence.comparison.set_index("comparator").loc["host"]
    assert host["children_missing_rate_per_10k"] == 44.1  # 441 / 100,000 x 10,000
    assert evidence.parameters["population_source"] == "given"
    # without a neighbours file and no `neighbour_of` column: the row says why
    row = evidence.comparison.set_index("comparator").loc["statistical_neighbours"]
    assert row["n_las"] == 0 and "no neighbours" in row["note"]
    other = pd.read_csv(BENCHMARKS)
    other = other[other["la_name"] != "Oxfordshire"]
    path = tmp_path / "bench.csv"
    other.to_csv(path, index=False)
    with pytest.raises(ParameterError, match="host_code"):
        build_evidence(result, wards, permutations=0, stability_runs=5, benchmarks=path)
    named = build_evidence(result, wards, permutations=0, stability_runs=5, benchmarks=path,
                           host_code="e10000025")
    assert named.parameters["host_code"] == HOST
    assert "host_published" not in set(named.comparison["comparator"])


def test_stability_is_not_run_when_its_pairs_would_not_fit_in_memory(planted, wards,
                                                                     monkeypatch):
    """The bound on neighbour pairs is loose: the pairs are counted, and the check is left
    out, with a note, only when the counted pairs would not fit."""
    from geo import evidence as gev

    result, _ = planted
    counted = []
    real = gev.count_neighbour_pairs

    def spy(x, y, eps):
        counted.append(real(x, y, eps))
        return counted[-1]

    monkeypatch.setattr(gev, "count_neighbour_pairs", spy)
    monkeypatch.setattr(gc, "STABILITY_BYTES_PER_PAIR", 10**6)  # every pair "costs" 1 MB
    evidence = build_evidence(result, wards, permutations=0)
    assert counted and counted[0] > 0
    assert evidence.parameters["stability_runs"] == 0
    assert "would take about" in " ".join(evidence.notes) and "GiB of memory" in " ".join(
        evidence.notes
    )
