"""Comparison with published figures: reading, refusing, and the comparison rows by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo import schema as s
from geo.comparators import (
    COMPARISON_COLUMNS,
    MEASURES,
    compare_with_benchmarks,
    host_figures,
    read_benchmarks,
    read_neighbours,
)
from geo.errors import InputError, ParameterError

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

TINY = (
    "LA Code,LA Name,Period,Children Missing Rate per 10k,Incidents per Child,Share 2plus,"
    "Region,Neighbour Of\n"
) + """\
E1,Host,2019/20,10,1,0.1,yes,
E1,Host,2020/21,40,3,0.5,yes,
N1,Nb One,2020/21,30,2,0.4,yes,E1
N2,Nb Two,2020/21,50,4,40%,,e1
N3,Nb Three,2020/21,c,5,0.6,,X9;E1
R1,Region Only,2020/21,20,1,0.2,Y,
E92000001,England,2020/21,"45.0",3.5,0.45,,
"""


def _write(tmp_path: Path, text: str, name: str = "benchmarks.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("comparator")


def test_comparison_rows_by_hand(tmp_path):
    bench = read_benchmarks(_write(tmp_path, TINY))
    assert bench.loc[bench["la_code"] == "N2", "share_2plus"].item() == 0.4  # "40%"
    assert np.isnan(bench.loc[bench["la_code"] == "N3", "children_missing_rate_per_10k"].item())
    host = {"children_missing_rate_per_10k": 35.0, "incidents_per_child": 2.5,
            "share_2plus": 0.25}  # fmt: skip
    table = compare_with_benchmarks("e1", host, bench)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert table["comparator"].tolist() == [
        "host", "host_published", "statistical_neighbours", "region", "england",
    ]  # fmt: skip
    r = _rows(table)
    assert r.loc["host", list(MEASURES)].tolist() == [35.0, 2.5, 0.25]
    assert r.loc["host", "period"] == "this analysis"
    # the latest period is used: 2020/21, not 2019/20
    assert r.loc["host_published", list(MEASURES)].tolist() == [40.0, 3.0, 0.5]
    assert (r.loc["host_published", "period"], r.loc["england", "period"]) == ("2020/21",) * 2
    # neighbours from `neighbour_of`: N1, N2, N3 (N3's suppressed rate left out of that mean)
    nb = r.loc["statistical_neighbours"]
    assert (nb["n_las"], nb["la_code"]) == (3, "N1;N2;N3")
    assert nb[list(MEASURES)].tolist() == [40.0, round(11 / 3, 3), round(1.4 / 3, 3)]
    assert "children_missing_rate_per_10k for 1" in nb["note"]
    # region: the rows flagged `region` (E1, N1, R1)
    reg = r.loc["region"]
    assert (reg["n_las"], reg["la_code"]) == (3, "E1;N1;R1")
    assert reg[list(MEASURES)].tolist() == [30.0, 2.0, round(1.1 / 3, 3)]
    assert r.loc["england", list(MEASURES)].tolist() == [45.0, 3.5, 0.45]


def test_neighbours_file_ranks_and_explicit_region(tmp_path):
    bench = read_benchmarks(_write(tmp_path, TINY))
    neighbours = read_neighbours(_write(tmp_path, (
        "la_code,neighbour_code,rank\nE1,N2,2\nE1,N9,3\nE1,N1,1\nE7,N3,1\n"
    ), "neighbours.csv"))  # fmt: skip
    assert neighbours["rank"].tolist() == [1, 2, 3, 1]
    table = _rows(compare_with_benchmarks(
        "E1", {}, bench, neighbours, region_codes=["N1", "N2"], period="2020/21",
    ))  # fmt: skip
    nb = table.loc["statistical_neighbours"]
    assert (nb["la_code"], nb["n_las"]) == ("N1;N2", 2)  # N9 is not in the benchmarks
    assert "1 of 3 not in the benchmarks for 2020/21: N9" in nb["note"]
    assert nb["incidents_per_child"] == 3.0
    assert table.loc["region", "children_missing_rate_per_10k"] == 40.0
    assert np.isnan(table.loc["host", "share_2plus"])  # no host figures given
    top = _rows(compare_with_benchmarks("E1", {}, bench, neighbours, max_neighbours=1))
    assert top.loc["statistical_neighbours", "la_code"] == "N1"


def test_measures_computed_from_counts(tmp_path):
    text = (
        "la_code;la_name;period;children_missing;population_0_17;incidents;"
        "children_2plus;region_code\n"
        "E10000025;Oxfordshire;2019/20;600;150,000;1800;240;E12000008\n"
        "E06000038;Reading;2019/20;100;40000;;c;E12000008\n"
        "E06000039;Slough;2019/20;50;0;100;25;E12000009\n"
    )
    bench = read_benchmarks(_write(tmp_path, text)).set_index("la_code")
    assert bench.loc["E10000025", list(MEASURES)].tolist() == [40.0, 3.0, 0.4]
    assert bench.loc["E06000038", "children_missing_rate_per_10k"] == 25.0
    assert np.isnan(bench.loc["E06000038", "incidents_per_child"])  # blank incidents
    assert np.isnan(bench.loc["E06000039", "children_missing_rate_per_10k"])  # population 0
    # region from the host's region_code: Oxfordshire and Reading, not Slough
    table = _rows(compare_with_benchmarks("E10000025", {}, bench.reset_index()))
    assert table.loc["region", "la_code"] == "E10000025;E06000038"
    assert table.loc["region", "children_missing_rate_per_10k"] == 32.5
    assert np.isnan(table.loc["england", "share_2plus"])
    assert "E92000001" in table.loc["england", "note"]
    assert table.loc["statistical_neighbours", "n_las"] == 0


def test_missing_columns_are_refused_with_names(tmp_path):
    path = _write(tmp_path, "la_code,la_name,children_missing,population_0_17,share_2plus\n"
                            "E1,Host,10,1000,0.5\n")  # fmt: skip
    with pytest.raises(InputError) as err:
        read_benchmarks(path)
    message = str(err.value)
    assert str(path) in message
    assert "period" in message and "incidents_per_child" in message
    assert "lacks incidents" in message  # the half-given pair is named
    assert "children_missing_rate_per_10k" not in message.split("Expected")[0]
    assert "Expected columns: `la_code`, `la_name`, `period`" in message
    with pytest.raises(InputError, match="neighbour_code"):
        read_neighbours(_write(tmp_path, "la_code,neighbour\nE1,N1\n", "n.csv"))


@pytest.mark.parametrize(
    ("cell", "what"),
    [("4O", "not a number"), ("42", "proportion from 0 to 1")],
)
def test_bad_values_are_refused_with_the_row(tmp_path, cell, what):
    text = TINY.replace("N1,Nb One,2020/21,30,2,0.4", f"N1,Nb One,2020/21,30,2,{cell}")
    with pytest.raises(InputError, match=f"row 4.*{what}"):
        read_benchmarks(_write(tmp_path, text))


def test_duplicate_rows_and_unknown_period_are_refused(tmp_path):
    with pytest.raises(InputError, match="more than once"):
        read_benchmarks(_write(tmp_path, TINY + "N1,Again,2020/21,1,1,0.1,,\n"))
    bench = read_benchmarks(_write(tmp_path, TINY))
    with pytest.raises(ParameterError, match="2018/19"):
        compare_with_benchmarks("E1", {}, bench, period="2018/19")


def test_host_figures_by_hand():
    rows = [("A", s.MAPPED, "host")] * 3 + [("B", s.MAPPED, "other")] + [
        ("C", s.MAPPED, "other")] * 2 + [("A", s.OUTSIDE_AREA, "host"),
        ("D", s.OUTSIDE_AREA, "host"), ("E", s.REJECTED, "host")]  # fmt: skip
    episodes = pd.DataFrame(rows, columns=[s.CHILD_ID, s.STATUS, s.PLACED_BY_OTHER_LA])
    fig = host_figures(episodes, population_0_17=1000)
    assert (fig["children_missing"], fig["incidents"], fig["children_2plus"]) == (3, 6, 2)
    assert fig["children_missing_rate_per_10k"] == 30.0
    assert fig["incidents_per_child"] == 2.0 and fig["share_2plus"] == pytest.approx(2 / 3)
    own = host_figures(episodes, basis="host_children")
    assert (own["children_missing"], own["incidents"], own["children_2plus"]) == (2, 5, 1)
    assert np.isnan(own["children_missing_rate_per_10k"])
    with pytest.raises(ParameterError):
        host_figures(episodes, population_0_17=0)
    # the child ids already coded: the same figures; a missing child id is not a child
    codes = pd.factorize(episodes[s.CHILD_ID].astype(str))[0]
    for basis in ("in_area", "host_children"):
        assert host_figures(episodes, basis=basis, child_codes=codes) == pytest.approx(
            host_figures(episodes, basis=basis), nan_ok=True
        )
    with pytest.raises(ParameterError, match="child_codes"):
        host_figures(episodes, child_codes=codes[1:])
    unknown = episodes.assign(**{s.CHILD_ID: episodes[s.CHILD_ID].where(
        episodes[s.CHILD_ID] != "A")})  # fmt: skip
    fig = host_figures(unknown)
    assert (fig["children_missing"], fig["incidents"], fig["children_2plus"]) == (2, 3, 1)


def test_the_shipped_examples_are_synthetic_and_work():
    bench = read_benchmarks(EXAMPLES / "benchmarks_example.csv")
    neighbours = read_neighbours(EXAMPLES / "neighbours_example.csv")
    raw = pd.read_csv(EXAMPLES / "benchmarks_example.csv")
    assert raw["note"].str.startswith("SYNTHETIC").all()
    assert pd.read_csv(EXAMPLES / "neighbours_example.csv")["note"].str.startswith(
        "SYNTHETIC").all()  # fmt: skip
    table = _rows(compare_with_benchmarks(
        "E10000025", {"incidents_per_child": 3.1}, bench, neighbours))  # fmt: skip
    assert table.loc["statistical_neighbours", "n_las"] == 10
    assert table.loc["region", "n_las"] == 19  # South East, from region_code
    assert table.loc["england", "la_code"] == "E92000001"
    assert table.loc["host_published", "label"] == "Oxfordshire (published)"
    assert (table[list(MEASURES)].iloc[1:] > 0).all().all()
