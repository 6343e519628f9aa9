import hashlib
import json

import pandas as pd
from openpyxl import load_workbook

from geo import schema as s
from geo.episodes import read_table
from geo.output import EPISODE_COLUMNS, write_run_json, write_tables
from geo.pipeline import analyse
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
        "localities_lpa", "localities_district", "localities_ward", "totals", "hotspots",
        "audit_summary",
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
