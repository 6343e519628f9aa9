import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from geo import schema as s
from geo.episodes import read_table
from geo.output import (
    EPISODE_COLUMNS,
    _csv,
    _csv_fields,
    _fast_csv_agrees,
    columns_markdown,
    describe,
    summary_tables,
    write_plain_csv,
    write_run_json,
    write_tables,
)
from geo.pipeline import AnalysisConfig, analyse
from geo.rates import read_population
from geo.validate import Period
from tests.conftest import BANBURY, OUTSIDE, episode


def _result(wards, write_csv):
    rows = [episode(i, *BANBURY, child_id="K1") for i in range(5)]
    partial = episode(21, 51.75, -1.26)
    partial["lat"] = ""
    rows += [episode(20, *OUTSIDE), partial]
    return analyse(read_table(write_csv(rows)), wards=wards)


def _digest(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def test_episodes_csv_has_the_contract_columns_in_input_order(wards, write_csv, tmp_path):
    result = _result(wards, write_csv)
    paths = write_tables(result, tmp_path / "out")
    frame = pd.read_csv(paths["episodes"], dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == EPISODE_COLUMNS
    assert list(frame.columns) == [
        "row_number", "episode_id", "status", "reason", "precision", "lat", "lon", "ward_code",
        "ward_name", "lad_code", "lad_name", "lpa_name", "hotspot_id", "home_id",
    ]
    assert frame["row_number"].tolist() == [str(i) for i in range(2, 9)]
    assert frame["status"].tolist() == ["mapped"] * 5 + ["outside_area", "rejected"]
    assert frame["reason"].tolist()[5:] == ["outside_boundaries", "invalid_coordinates"]
    assert frame.loc[0, "lat"] == f"{BANBURY[0]:.6f}"
    assert frame.loc[6, "lat"] == "" and frame.loc[6, "precision"] == ""
    # child ids never in the shared per-episode table
    text = paths["episodes"].read_text()
    assert "K1" not in text and "child" not in text


def test_audit_lists_every_row_not_mapped(wards, write_csv, tmp_path):
    paths = write_tables(_result(wards, write_csv), tmp_path / "out")
    audit = pd.read_csv(paths["audit"], dtype=str, keep_default_na=False)
    assert audit["row_number"].tolist() == ["7", "8"]
    assert "both `lat` and `lon` are needed" in audit.loc[1, "detail"]


def test_tables_are_byte_identical_on_a_second_run(wards, write_csv, tmp_path):
    write_tables(_result(wards, write_csv), tmp_path / "a")
    write_tables(_result(wards, write_csv), tmp_path / "b")
    first, second = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert first == second
    assert "tables.xlsx" in first and "tables/localities_ward.csv" in first


def test_xlsx_has_one_sheet_per_summary_table(wards, write_csv, tmp_path):
    paths = write_tables(_result(wards, write_csv), tmp_path / "out")
    wb = load_workbook(paths["xlsx"], read_only=True)
    assert wb.sheetnames == [
        "README", "localities_lpa", "localities_district", "localities_ward", "focus_lpa",
        "totals", "hotspots", "report_checks", "audit_summary",
    ]
    rows = list(wb["localities_ward"].iter_rows(values_only=True))
    assert len(rows) == 113 and rows[0][0] == "ward_code"
    audit = {r[1] or r[0]: r[2] for r in wb["audit_summary"].iter_rows(values_only=True)}
    assert audit["mapped"] == 5 and audit["read"] == 7


def test_run_json_records_counts_checksums_and_parameters(wards, write_csv, tmp_path):
    result = _result(wards, write_csv)
    out = tmp_path / "out"
    paths = write_tables(result, out)
    src = tmp_path / "episodes.csv"
    inputs = [{"path": str(src), "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}]
    write_run_json(result, out / "run.json", inputs=inputs,
                   boundaries={"vintage": "December 2019"}, outputs=paths, version="9.9")
    doc = json.loads((out / "run.json").read_text())
    c = doc["counts"]
    assert c["read"] == c["mapped"] + c["rejected"] + c["outside_area"] == 7
    assert doc["row_conservation"] == "read 7 = mapped 5 + rejected 1 + outside_area 1"
    assert doc["parameters"]["eps_m"] == 250.0 and doc["parameters"]["min_samples"] == 5
    assert doc["boundaries"]["vintage"] == "December 2019"
    assert doc["inputs"][0]["sha256"] == inputs[0]["sha256"]
    assert doc["version"] == "9.9"
    assert doc["outputs"]["episodes"] == "tables/episodes.csv"
    assert s.CHILD_ID not in json.dumps(doc["counts"])


OXFORD = (51.737060, -1.251856)
THAME = (51.739285, -0.976678)


@pytest.fixture(scope="module")
def full(wards, tmp_path_factory):
    """A run with every optional table: homes, population, comparison, focus (made once)."""
    tmp_path = tmp_path_factory.mktemp("full")
    rows = []
    for i in range(6):
        rows.append(episode(i, *BANBURY, child_id=f"K{i % 2}", home_id="R1",
                            placement_type="residential", missing_from="2020-02-01 10:00"))
        rows.append(episode(10 + i, *THAME, child_id=f"T{i}", missing_from="2019-08-01 10:00"))
        rows.append(episode(20 + i, *BANBURY, child_id=f"P{i}", missing_from="2019-07-01"))
    homes = tmp_path / "homes.csv"
    pd.DataFrame([{"home_id": "R1", "type": "residential", "name": "Secret House",
                   "provider": "Acme Care", "places": 3, "lat": BANBURY[0],
                   "lon": BANBURY[1]}]).to_csv(homes, index=False)
    pop = tmp_path / "pop.csv"
    pop.write_text("area_code,population_0_17\nE07000177,30000\n")
    cfg = AnalysisConfig(period=Period.parse("2020-01-01:2020-06-30"))
    src = tmp_path / "episodes.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    return analyse(read_table(src), wards=wards, config=cfg,
                   homes_table=read_table(homes, what="homes register"),
                   population=read_population(pop))


def test_every_column_of_every_table_is_described(full, tmp_path):
    result = full
    assert result.comparison is not None and len(result.comparison.gone) == 1
    paths = write_tables(result, tmp_path / "out", show_home_names=True)
    for name in ("focus_lpa", "hotspots_gone", "homes"):
        assert name in paths, name
    tables = {p.stem: pd.read_csv(p, nrows=0) for p in (tmp_path / "out" / "tables").glob("*")}
    tables.update(summary_tables(result, show_home_names=True))
    undescribed = [
        f"{name}.{col}" for name, frame in tables.items() for col in frame.columns
        if not describe(name, str(col))
    ]
    assert undescribed == []
    # the README sheet lists every column of every sheet, with its description
    wb = load_workbook(paths["xlsx"], read_only=True)
    assert wb.sheetnames[0] == "README"
    readme = list(wb["README"].iter_rows(values_only=True))
    assert readme[0] == ("sheet", "column", "description")
    listed = {(r[0], r[1]) for r in readme[1:] if r[2]}
    for sheet in wb.sheetnames[1:]:
        header = next(wb[sheet].iter_rows(values_only=True))
        for col in header:
            assert (sheet, col) in listed, (sheet, col)
    assert "hotspots_gone" in wb.sheetnames and "homes" in wb.sheetnames


def test_xlsx_number_formats_and_widths(full, tmp_path):
    paths = write_tables(full, tmp_path / "out")
    wb = load_workbook(paths["xlsx"])  # not read-only: formats and widths
    ws = wb["localities_lpa"]
    header = [c.value for c in ws[1]]
    row = {h: c for h, c in zip(header, ws[2], strict=True)}
    assert row["episodes"].number_format == "#,##0"
    assert row["rhi_completed_within_72h_share"].number_format == "0.0%"
    assert row["episodes_change_share"].number_format == "0.0%"
    assert row["episodes_per_child"].number_format == "0.00"
    assert row["episodes_per_10k"].number_format == "0.00"
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["A"].width >= len("Cherwell and West Oxfordshire")
    spots = wb["hotspots"]
    header = [c.value for c in spots[1]]
    cells = {h: c for h, c in zip(header, spots[2], strict=True)}
    assert cells["centroid_lat"].number_format == "0.00000"
    assert cells["episodes_from_homes_share"].number_format == "0.0%"


def test_home_names_only_when_asked(full, tmp_path):
    result = full
    hidden = write_tables(result, tmp_path / "a")
    text = hidden["homes"].read_text()
    assert "Secret House" not in text and "Acme Care" not in text
    shown = write_tables(result, tmp_path / "b", show_home_names=True)
    assert "Secret House" in shown["homes"].read_text()


def test_gone_hotspots_and_focus_tables_are_written(full, tmp_path):
    paths = write_tables(full, tmp_path / "out")
    gone = pd.read_csv(paths["hotspots_gone"])
    assert gone["hotspot_id"].tolist() == ["P02"] and gone["trend"].tolist() == ["gone"]
    assert gone["lpa_name"].tolist() == ["South and Vale"]
    spots = pd.read_csv(paths["hotspots"])
    assert spots["trend"].tolist() == ["persistent"] and spots["previous_hotspots"][0] == "P01"
    focus = pd.read_csv(paths["focus_lpa"], keep_default_na=False)
    assert focus["row"].iloc[-1] == "total" and focus["episodes"].iloc[-1] == 6


def test_docs_tables_md_holds_the_column_dictionary():
    docs = (Path(__file__).parents[1] / "docs" / "tables.md").read_text(encoding="utf-8")
    start, end = "<!-- columns:start -->\n", "<!-- columns:end -->"
    generated = docs[docs.index(start) + len(start):docs.index(end)]
    assert generated == columns_markdown(), (
        "docs/tables.md is out of date: regenerate the part between the markers with "
        "python -c 'from geo.output import columns_markdown; print(columns_markdown())'"
    )


def test_run_json_records_method_rates_comparison_and_checks(full, tmp_path):
    result = full
    out = tmp_path / "out"
    paths = write_tables(result, out)
    write_run_json(result, out / "run.json", inputs=[], boundaries={}, outputs=paths,
                   version="9.9")
    doc = json.loads((out / "run.json").read_text())
    assert doc["parameters"]["eps_m_source"].startswith("default")
    assert doc["method"]["name"] == "dbscan"
    assert doc["comparison"]["period"] == "2019-07-01:2019-12-31"
    assert doc["comparison"]["source"].startswith("automatic")
    assert doc["counts"]["homes_linking"]["linked_by_id"] == 6
    assert doc["rates"]["per_10k"].startswith("episodes and children per 10,000")
    assert {c["measure"] for c in doc["report_checks"]} >= {"repeat_children_ce_not_screened"}
    assert doc["focus_lpa"]["name"] == "Cherwell and West Oxfordshire"
    assert isinstance(doc["notes"], list)


# --- what an audience may see ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_case(wards, tmp_path_factory):
    """A hotspot of 12 children at one Oxford address, one of 1 child in Banbury, strays."""
    from tests.conftest import OXFORD_CARFAX

    folder = tmp_path_factory.mktemp("public")
    rows = [episode(i, *OXFORD_CARFAX, child_id=f"OX{i}") for i in range(12)]
    rows += [episode(20 + i, *BANBURY, child_id="B1") for i in range(6)]
    rows += [episode(40, 51.6, -1.25, child_id="L1")]
    path = folder / "e.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    config = AnalysisConfig(min_children_per_hotspot=10)
    return analyse(read_table(path), wards=wards, config=config)


def test_publish_for_an_internal_audience_changes_nothing(full, wards):
    from geo.output import publish
    from geo.privacy import make_audience

    pub = publish(full, make_audience("internal"), wards)
    raw = summary_tables(full)
    assert list(pub.sheets) == list(raw)
    for name in raw:
        pd.testing.assert_frame_equal(pub.sheets[name], raw[name])
    assert pub.result.episodes is full.episodes and pub.counts == full.counts
    assert pub.result.hotspots.geometry.equals(full.hotspots.geometry)


def test_publish_for_the_public(public_case, wards):
    from geo.output import publish
    from geo.privacy import make_audience

    result = public_case
    assert result.hotspots[s.HOTSPOT_ID].tolist() == ["H01"]  # the small one is gone
    pub = publish(result, make_audience("public"), wards)
    out = pub.result
    assert out.episodes.empty and out.homes is None  # no row-level data reaches the map
    spot = out.hotspots.iloc[0]
    ward = wards[wards[s.WARD_NAME] == spot[s.WARD_NAME]].geometry.iloc[0]
    assert spot.geometry.equals(ward)  # the whole ward, not the hull
    assert "centroid_lat" not in out.hotspots.columns
    ward_table = pub.sheets["localities_ward"].set_index(s.WARD_NAME)
    assert ward_table.loc["Banbury Cross and Neithrop", "children"] == "c"
    hidden = (ward_table["episodes"] == "c").sum()
    assert hidden == 2  # the stray's ward, and one more so it is not total minus the others
    assert ward_table.loc["Carfax", "episodes"] == 12
    assert out.localities["ward"] is pub.sheets["localities_ward"]
    assert pub.counts["children_mapped"] == 14 and pub.counts["mapped"] == 19
    assert "hotspots_suppressed" not in pub.counts
    assert pub.disclosure["rule"] == "dfe" and pub.disclosure["cells_hidden"]["totals"] >= 0
    checks = pub.sheets["report_checks"].set_index("measure")["value"]
    assert checks["repeat_children_ce_not_screened"] in (0, "c")


def test_publish_on_a_grid_draws_whole_cells(public_case, wards):
    from geo.output import publish
    from geo.privacy import make_audience

    pub = publish(public_case, make_audience("public", grid_m=500), wards)
    cells = gpd.GeoSeries(pub.result.hotspots.geometry.values, crs=4326).to_crs(27700)
    xy = shapely.get_coordinates(np.asarray(cells.values))
    assert np.allclose(xy / 500, np.round(xy / 500), atol=1e-6)


def test_episodes_csv_with_a_key_ends_with_the_child_pseudonym(wards, write_csv, tmp_path):
    from geo.privacy import hash_ids

    result = _result(wards, write_csv)
    key = bytes(range(32))
    paths = write_tables(result, tmp_path / "out", pseudonym_key=key)
    frame = pd.read_csv(paths["episodes"], dtype=str, keep_default_na=False)
    assert list(frame.columns) == [*EPISODE_COLUMNS, "child_pseudonym"]
    expected = hash_ids(result.episodes[s.CHILD_ID], key).tolist()
    assert frame["child_pseudonym"].tolist() == expected and expected[0].startswith("K-")
    assert "K1" not in paths["episodes"].read_text().replace("K-", "")
    paths = write_tables(result, tmp_path / "public", row_level=False)
    assert "episodes" not in paths and "audit" not in paths
    assert not (tmp_path / "public" / "tables" / "episodes.csv").exists()


# --- the fast CSV writer: byte for byte what pandas writes ---------------------------------------

_AWKWARD = st.text(
    alphabet=st.sampled_from([*"ab ,\"'\n\r\t;_x", "é", "中", "😀", "\x00", "\x1f", "\u2028"]),
    max_size=6,
)
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 1e-05, 1e-4, 1e15, 1e16, 51.752021, -1.257726, 0.1 + 0.2]),
)


@st.composite
def _column(draw, n: int) -> pd.Series:
    kind = draw(st.sampled_from(
        ["object", "str", "int", "Int64", "float", "float32", "bool", "boolean", "category",
         "mixed"]
    ))  # fmt: skip
    text = st.one_of(_AWKWARD, st.none(), st.just(float("nan")))
    if kind == "object":
        return pd.Series(draw(st.lists(text, min_size=n, max_size=n)), dtype=object)
    if kind == "str":
        return pd.Series(draw(st.lists(st.one_of(_AWKWARD, st.none()), min_size=n, max_size=n)),
                         dtype="str")
    if kind == "int":
        values = st.integers(min_value=-(2**63), max_value=2**63 - 1)
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.int64)
    if kind == "Int64":
        values = st.one_of(st.integers(min_value=-(2**53), max_value=2**53), st.none())
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype="Int64")
    if kind in ("float", "float32"):
        values = draw(st.lists(_FLOATS, min_size=n, max_size=n))
        with np.errstate(over="ignore"):
            return pd.Series(np.array(values, dtype=np.float64 if kind == "float" else np.float32))
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "boolean":
        values = st.one_of(st.booleans(), st.none())
        return pd.Series(draw(st.lists(values, min_size=n, max_size=n)), dtype="boolean")
    if kind == "category":
        return pd.Series(pd.Categorical(draw(st.lists(st.one_of(_AWKWARD, st.none()),
                                                      min_size=n, max_size=n))))
    mixed = st.one_of(text, st.integers(-5, 5), _FLOATS, st.booleans(), st.just(pd.NA),
                      st.just(np.float64(0.5)), st.just(np.int64(7)))
    return pd.Series(draw(st.lists(mixed, min_size=n, max_size=n)), dtype=object)


@st.composite
def _frames(draw) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=12))
    labels = draw(st.lists(st.one_of(_AWKWARD, st.sampled_from(["lat", "a,b", ""])),
                           min_size=1, max_size=6))
    columns = [draw(_column(n)) for _ in labels]
    return pd.concat(columns, axis=1, keys=range(len(labels))).set_axis(labels, axis=1)


def _pandas_csv(frame: pd.DataFrame, path: Path) -> bytes:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_frames())
def test_fast_csv_is_byte_identical_to_pandas(frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    assert _csv_fields(frame) is not None  # written by the fast writer, not pandas
    assert _csv(frame, folder / "fast.csv").read_bytes() == _pandas_csv(frame, folder / "pd.csv")


def test_fast_csv_agrees_with_this_pandas_and_python():
    assert _fast_csv_agrees()


def test_fast_csv_awkward_cases(tmp_path):
    frames = {
        "one empty column": pd.DataFrame({"": ["", None, "x", float("nan")]}),
        "floats": pd.DataFrame({"x": [0.0, -0.0, 1e-05, 1e16, 123456789.123456, np.nan,
                                      np.inf, -np.inf, 5e-324, 1.7976931348623157e308]}),
        "quotes": pd.DataFrame({"a": ['"', '""', "a,b", "x\ny", "x\ry", " lead", "trail "],
                                "b": range(7)}),
        "no rows": pd.DataFrame({"a": pd.Series([], dtype=object),
                                 "b": pd.Series([], dtype=float)}),
        "many rows": pd.DataFrame({"i": np.arange(12_345), "s": ["a,b", "c"] * 6172 + ["d"]}),
        "categorical ints": pd.DataFrame({"c": pd.Categorical([3, None, 1, 3])}),
        "non-default index": pd.DataFrame({"a": [1, 2]}, index=["x", "y"]),
        "duplicate labels": pd.DataFrame([[1, "a"], [2, "b"]], columns=["x", "x"]),
    }
    for name, frame in frames.items():
        assert _csv_fields(frame) is not None, name
        fast = _csv(frame, tmp_path / f"{name}.csv").read_bytes()
        assert fast == _pandas_csv(frame, tmp_path / f"{name}.pd.csv"), name


def test_csv_falls_back_to_pandas_for_other_types(tmp_path):
    frames = {
        "datetimes": pd.DataFrame({"t": pd.to_datetime(["2020-01-01", None, "2020-01-02 10:00"],
                                                       format="ISO8601")}),
        "timedeltas": pd.DataFrame({"d": pd.to_timedelta(["1h", None])}),
        "nullable floats": pd.DataFrame({"f": pd.array([0.1, None], dtype="Float64")}),
        "integer labels": pd.DataFrame({0: [1, 2], 1: ["a", "b"]}),
        "no columns": pd.DataFrame(index=range(3)),
    }
    for name, frame in frames.items():
        assert _csv_fields(frame) is None, name
        written = _csv(frame, tmp_path / f"{name}.csv").read_bytes()
        assert written == _pandas_csv(frame, tmp_path / f"{name}.pd.csv"), name
    # a float format, or a name pandas would compress: pandas writes it
    frame = pd.DataFrame({"x": [0.123456789]})
    assert _csv(frame, tmp_path / "f.csv", float_format="%.2f").read_text() == "x\n0.12\n"
    gz = write_plain_csv(frame, tmp_path / "x.csv.gz").read_bytes()
    assert gz[:2] == b"\x1f\x8b"  # gzip, as pandas infers from the name
