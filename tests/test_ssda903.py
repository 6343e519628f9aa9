"""The SSDA903 adapter: synthetic 903 tables in the DfE column names -> contract episodes."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from geo import schema as s
from geo.episodes import read_table
from geo.errors import InputError
from geo.ssda903 import (
    AUDIT_COLUMNS,
    AUDIT_REASONS,
    EPISODE_COLUMNS,
    PLACE_CODES_PATH,
    find_ssda903_files,
    load_place_codes,
    placement_home_id,
    read_ssda903,
)
from geo.validate import validate_episodes

DOCS = Path(__file__).resolve().parents[1] / "docs" / "ssda903.md"
FIXTURE = Path(__file__).parent / "data" / "ssda903"

HEADER_COLS = ("CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB")
EPISODE_COLS = ("CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN")
MISSING_COLS = ("CHILD", "DOB", "MISSING", "MIS_START", "MIS_END")


def _write(path: Path, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def child(cid: str, sex: object = "1", dob: str = "01/06/2005") -> dict[str, object]:
    return {"CHILD": cid, "SEX": sex, "DOB": dob, "ETHNIC": "WBRI", "UPN": "UN1"}


def placement(cid: str, decom: str, dec: str = "", place: str = "U4", **extra: object) -> dict:
    row = {"CHILD": cid, "DECOM": decom, "DEC": dec, "PLACE": place, "PLACE_PROVIDER": "PR4",
           "RNE": "P", "LS": "C2", "CIN": "N1", "PL_POST": "OX16 9AA", "URN": "XXXXXXX"}
    return {**row, **extra}


def period(cid: str, start: str, end: str = "", code: str = "M") -> dict[str, object]:
    return {"CHILD": cid, "DOB": "01/06/2005", "MISSING": code, "MIS_START": start,
            "MIS_END": end}


def run(tmp_path: Path, header: Sequence[dict], episodes: Sequence[dict],
        missing: Sequence[dict], **kwargs: object):
    h = _write(tmp_path / "header.csv", HEADER_COLS, header)
    e = _write(tmp_path / "episodes.csv", EPISODE_COLS, episodes)
    m = _write(tmp_path / "missing.csv", MISSING_COLS, missing)
    return read_ssda903(h, e, m, **kwargs)


def audit_reasons(result) -> dict[int, str]:
    return dict(zip(result.audit[s.ROW_NUMBER], result.audit[s.REASON], strict=True))


# --- linking to the placement in force ---------------------------------------------------------


def test_link_boundary_days(tmp_path):
    eps = [
        placement("C1", "01/01/2020", "10/01/2020", "U4", PL_POST="OX16 9AA"),
        placement("C1", "10/01/2020", "", "K2", PL_POST="OX14 1AA", URN="SC000001"),
    ]
    miss = [
        period("C1", "01/01/2020"),  # == DECOM of the first: in force
        period("C1", "09/01/2020"),  # last day before DEC: still the first
        period("C1", "10/01/2020"),  # == DEC of the first: the next placement
        period("C1", "01/03/2021"),  # the open placement
    ]
    result = run(tmp_path, [child("C1")], eps, miss)
    ep = result.episodes
    assert ep[s.PLACEMENT_TYPE].tolist() == ["foster", "foster", "residential", "residential"]
    assert ep["place_code"].tolist() == ["U4", "U4", "K2", "K2"]
    assert ep[s.POSTCODE].tolist() == ["OX16 9AA", "OX16 9AA", "OX14 1AA", "OX14 1AA"]
    assert ep[s.EPISODE_ID].tolist() == ["903-M2", "903-M3", "903-M4", "903-M5"]
    assert ep["source_row"].tolist() == [f"Missing row {r}" for r in (2, 3, 4, 5)]
    assert result.audit.empty


def test_several_in_force_takes_latest_decom_not_file_order(tmp_path):
    eps = [
        placement("C1", "05/01/2020", "", "K2", PL_POST="OX14 1AA"),  # later DECOM, first row
        placement("C1", "01/01/2020", "", "U4", PL_POST="OX16 9AA"),
    ]
    result = run(tmp_path, [child("C1")], eps,
                 [period("C1", "03/01/2020"), period("C1", "06/01/2020")])
    assert result.episodes["place_code"].tolist() == ["U4", "K2"]


def test_other_childrens_placements_are_not_used(tmp_path):
    eps = [placement("C2", "01/01/2019", "", "K2")]
    result = run(tmp_path, [child("C1"), child("C2")], eps, [period("C1", "03/01/2020")])
    assert result.episodes.empty
    assert audit_reasons(result) == {2: "no_placement_in_force"}
    assert "no usable Episodes row" in result.audit[s.DETAIL].iloc[0]


def test_no_placement_in_force(tmp_path):
    eps = [placement("C1", "01/02/2020", "01/03/2020")]
    miss = [
        period("C1", "31/01/2020"),  # before DECOM
        period("C1", "01/03/2020"),  # on DEC, no later placement: the child left care
        period("C1", "15/02/2020"),  # in force
    ]
    result = run(tmp_path, [child("C1")], eps, miss)
    assert audit_reasons(result) == {2: "no_placement_in_force", 3: "no_placement_in_force"}
    assert result.episodes[s.EPISODE_ID].tolist() == ["903-M4"]
    assert "DECOM <= MIS_START (31/01/2020) < DEC" in result.audit[s.DETAIL].iloc[0]
    assert "1 usable Episodes row" in result.audit[s.DETAIL].iloc[0]


def test_unusable_episodes_rows_are_noted_and_never_in_force(tmp_path):
    eps = [
        placement("C1", "bad", "", "K2"),
        placement("C1", "01/03/2020", "01/02/2020", "K2"),  # ends before it starts
        placement("C1", "01/01/2020", "", "U4"),
    ]
    result = run(tmp_path, [child("C1")], eps, [period("C1", "15/02/2020")])
    assert result.episodes["place_code"].tolist() == ["U4"]
    notes = " ".join(result.notes)
    assert "rows 2" in notes and "rows 3" in notes


# --- PLACE codes -------------------------------------------------------------------------------

DOCUMENTED = {
    "U1": "foster", "U2": "foster", "U3": "foster", "U4": "foster", "U5": "foster",
    "U6": "foster", "K2": "residential", "R1": "residential", "K1": "residential",
    "S1": "residential", "H5": "semi_independent", "P2": "semi_independent",
    "K3": "semi_independent", "k3": "semi_independent", "P1": "family_home", "T0": "other",
    "T1": "other", "T2": "other", "T3": "other", "T4": "other", "Z1": "other", "Z11": "other",
    "Z14": "other", "R2": "other", "R3": "other", "R5": "other", "P3": "other", "A3": "other",
    "A6": "other", "Q1": "foster", "Q2": "foster",
}  # fmt: skip


@pytest.fixture(scope="module")
def every_code(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("codes")
    codes = list(DOCUMENTED)
    header = [child(f"C{i}") for i in range(len(codes))]
    eps = [placement(f"C{i}", "01/01/2020", "", code) for i, code in enumerate(codes)]
    miss = [period(f"C{i}", "02/01/2020") for i in range(len(codes))]
    result = run(tmp, header, eps, miss)
    assert result.audit.empty
    assert result.episodes["place_code"].tolist() == [c.upper() for c in codes]
    assert not any("grouping table" in n for n in result.notes)
    return dict(zip(codes, result.episodes[s.PLACEMENT_TYPE], strict=True))


@pytest.mark.parametrize(("code", "expected"), sorted(DOCUMENTED.items()))
def test_place_code_maps_as_documented(every_code, code, expected):
    assert every_code[code] == expected


def test_every_recent_code_is_in_the_table():
    table = load_place_codes()
    recent = {"A3", "A4", "A5", "A6", "H5", "K1", "K2", "K3", "P1", "P2", "P3", "R1", "R2", "R3",
              "R5", "S1", "T0", "T1", "T2", "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6", "Z1",
              "Z11", "Z12", "Z13", "Z14"}  # validator rule 146, 2022-23 to 2025-26, and LIIA specs
    assert recent <= set(table["code"])
    assert table["code"].is_unique
    assert set(table["placement_type"]) <= set(s.PLACEMENT_TYPES)
    assert (table["description"] != "").all() and (table["years"] != "").all()


def test_unknown_place_code_is_other_with_a_note(tmp_path):
    header = [child("C1"), child("C2"), child("C3")]
    eps = [placement("C1", "01/01/2020", "", "X9"), placement("C2", "01/01/2020", "", "X9"),
           placement("C3", "01/01/2020", "", "")]
    miss = [period("C1", "02/01/2020"), period("C2", "02/01/2020"), period("C2", "03/01/2020"),
            period("C3", "02/01/2020")]
    result = run(tmp_path, header, eps, miss)
    assert result.episodes[s.PLACEMENT_TYPE].tolist() == ["other", "other", "other", "unknown"]
    assert result.episodes["place_code"].tolist() == ["X9", "X9", "X9", ""]
    note = next(n for n in result.notes if "'X9'" in n)
    assert "3 missing period(s)" in note and "`other`" in note
    assert any("blank PLACE" in n for n in result.notes)


def test_edited_grouping_table_is_used(tmp_path):
    edited = tmp_path / "codes.csv"
    edited.write_text("code,placement_type\nK3,residential\nx9,foster\n", encoding="utf-8")
    eps = [placement("C1", "01/01/2020", "", "K3"), placement("C2", "01/01/2020", "", "X9")]
    result = run(tmp_path, [child("C1"), child("C2")], eps,
                 [period("C1", "02/01/2020"), period("C2", "02/01/2020")], place_codes=edited)
    assert result.episodes[s.PLACEMENT_TYPE].tolist() == ["residential", "foster"]


def test_grouping_table_with_a_bad_type_is_refused(tmp_path):
    edited = tmp_path / "codes.csv"
    edited.write_text("code,placement_type\nK3,hostel\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2.*'hostel'.*K3"):
        load_place_codes(edited)
    edited.write_text("code,placement_type\nK3,other\nk3,foster\n", encoding="utf-8")
    with pytest.raises(InputError, match="twice"):
        load_place_codes(edited)
    edited.write_text("code,group\nK3,other\n", encoding="utf-8")
    with pytest.raises(InputError, match="PLACEMENT_TYPE"):
        load_place_codes(edited)


def test_docs_list_every_code_of_the_table():
    text = DOCS.read_text(encoding="utf-8")
    block = text.split("<!-- place-codes:start -->")[1].split("<!-- place-codes:end -->")[0]
    rows = set(re.findall(r"^\| `([A-Z0-9]+)` \| `([a-z_]+)` \|", block, re.M))
    table = load_place_codes()
    assert rows == set(zip(table["code"], table["placement_type"], strict=True))
    for reason in AUDIT_REASONS:
        assert f"`{reason}`" in text


# --- codes and dates ---------------------------------------------------------------------------


def test_missing_codes(tmp_path):
    eps = [placement("C1", "01/01/2020")]
    miss = [period("C1", "02/01/2020", code="M"), period("C1", "03/01/2020", code="A"),
            period("C1", "04/01/2020", code="a"), period("C1", "05/01/2020", code="X"),
            period("C1", "06/01/2020", code="")]
    result = run(tmp_path, [child("C1")], eps, miss)
    assert result.episodes[s.CATEGORY].tolist() == ["missing", "absent", "absent"]
    assert audit_reasons(result) == {5: "unknown_missing_code", 6: "unknown_missing_code"}
    assert "'X'" in result.audit[s.DETAIL].iloc[0]


def test_sex_codes(tmp_path):
    header = [child("C1", "1"), child("C2", "2"), child("C3", "M"), child("C4", "F"),
              child("C5", "U"), child("C6", "7")]
    eps = [placement(f"C{i}", "01/01/2020") for i in range(1, 7)]
    miss = [period(f"C{i}", "02/01/2020") for i in range(1, 7)]
    result = run(tmp_path, header, eps, miss)
    assert result.episodes[s.SEX].tolist() == ["M", "F", "M", "F", "unknown", "unknown"]
    assert any("unrecognised SEX ('7')" in n for n in result.notes)


def test_dates_day_first_and_iso(tmp_path):
    eps = [placement("C1", "2020-01-01")]
    miss = [period("C1", "02/01/2020", "03/01/2020"), period("C1", "2020-01-04", "2020-01-05"),
            period("C1", "6/1/2020", ""), period("C1", "31/02/2020"),
            period("C1", "01/13/2020"), period("C1", "07/01/2020", "yesterday"),
            period("C1", "")]
    result = run(tmp_path, [child("C1", dob="2005-06-01")], eps, miss)
    ep = result.episodes
    assert ep[s.MISSING_FROM].tolist() == ["2020-01-02", "2020-01-04", "2020-01-06"]
    assert ep[s.RETURNED].tolist() == ["2020-01-03", "2020-01-05", ""]  # blank = ongoing
    assert ep[s.DOB].tolist() == ["2005-06-01"] * 3
    assert ep[s.AGE].tolist() == ["14"] * 3
    assert audit_reasons(result) == {5: "invalid_date", 6: "invalid_date", 7: "invalid_date",
                                     8: "missing_date"}
    assert "'yesterday'" in result.audit[s.DETAIL].iloc[2]


def test_end_before_start(tmp_path):
    eps = [placement("C1", "01/01/2020")]
    miss = [period("C1", "05/02/2020", "04/02/2020"), period("C1", "05/02/2020", "05/02/2020")]
    result = run(tmp_path, [child("C1")], eps, miss)
    assert audit_reasons(result) == {2: "end_before_start"}
    assert result.episodes[s.RETURNED].tolist() == ["2020-02-05"]  # same-day return is fine


def test_duplicate_periods(tmp_path):
    eps = [placement("C1", "01/01/2020"), placement("C2", "01/01/2020")]
    miss = [period("C1", "02/01/2020", "03/01/2020"), period("C2", "02/01/2020", "03/01/2020"),
            period("C1", "02/01/2020", "03/01/2020", code="A"), period("C1", "02/01/2020"),
            period("C1", "02/01/2020")]
    result = run(tmp_path, [child("C1"), child("C2")], eps, miss)
    assert audit_reasons(result) == {4: "duplicate_period", 6: "duplicate_period"}
    assert result.audit[s.DETAIL].tolist() == [
        "same child, `MIS_START` and `MIS_END` as Missing row 2",
        "same child, `MIS_START` and `MIS_END` as Missing row 5",
    ]
    assert any("overlap" in n for n in result.notes)  # 2 Jan open overlaps 2-3 Jan


# --- privacy -----------------------------------------------------------------------------------


def test_unknown_child_is_audited_without_its_id(tmp_path):
    secret = "ZQ77731"
    eps = [placement(secret, "01/01/2020", "", "ZZ"), placement("C1", "01/01/2020")]
    miss = [period(secret, "02/01/2020"), period("C1", "02/01/2020")]
    result = run(tmp_path, [child("C1")], eps, miss)
    assert audit_reasons(result) == {2: "unknown_child"}
    assert "Header" in result.audit[s.DETAIL].iloc[0]
    assert secret not in result.audit.to_csv()
    assert secret not in " ".join(result.notes)
    assert not result.episodes[s.EPISODE_ID].str.contains("C1").any()


def test_no_child_id_in_audit_or_notes_whatever_the_reason(tmp_path):
    ids = [f"KID{i:04d}X" for i in range(8)]
    header = [child(c, "9") for c in ids[:7]] + [child(ids[0])]  # repeated child in Header
    eps = [placement(c, "01/01/2020", "", "Q9", PL_POST="OX1 1") for c in ids[:6]]
    eps.append(placement(ids[0], "junk", ""))
    miss = [period(ids[0], "02/01/2020", "01/01/2020"), period(ids[1], "x"),
            period(ids[2], "02/01/2020", code="Q"), period(ids[7], "02/01/2020"),
            period(ids[6], "02/01/2020"), period(ids[3], "02/01/2020"),
            period(ids[3], "02/01/2020"), period(ids[4], "01/01/2019"),
            period(ids[5], "05/01/2020"), period(ids[5], "04/01/2020", "06/01/2020")]
    result = run(tmp_path, header, eps, miss)
    assert set(result.audit[s.REASON]) == {
        "end_before_start", "invalid_date", "unknown_missing_code", "unknown_child",
        "no_placement_in_force", "duplicate_period",
    }
    text = result.audit.to_csv() + "\n".join(result.notes)
    for cid in ids:
        assert cid not in text


def test_home_ids(tmp_path):
    header = [child(f"C{i}") for i in range(1, 6)]
    eps = [
        placement("C1", "01/01/2020", "", "K2", URN="SC123456", PL_POST="OX14 1AA"),
        placement("C2", "01/01/2020", "", "K2", URN="XXXXXXX", PL_POST="OX14 1AA"),
        placement("C3", "01/01/2020", "", "U4", URN="1234567", PL_POST="OX16 9AA"),  # agency URN
        placement("C4", "01/01/2020", "", "K2", URN="", PL_POST="ox14  1aa"),
        placement("C5", "01/01/2020", "", "K2", URN="xxxxxxx", PL_POST="OX14 1"),  # a sector
    ]
    miss = [period(f"C{i}", "02/01/2020") for i in range(1, 6)]
    result = run(tmp_path, header, eps, miss)
    home = result.episodes[s.HOME_ID].tolist()
    assert home[0] == "SC123456"
    assert home[1] == placement_home_id("OX14 1AA", "PR4") == home[3]
    assert re.fullmatch(r"PL-[0-9A-F]{12}", home[1])
    assert home[2] == placement_home_id("OX16 9AA", "PR4") != home[1]
    assert home[4] == ""
    assert result.episodes[s.POSTCODE].tolist()[3:] == ["OX14 1AA", "OX14 1"]
    assert not any("OX14" in h or "OX16" in h for h in home)
    assert placement_home_id("OX14 1AA", "PR1") != placement_home_id("OX14 1AA", "PR4")


# --- the contract shape ------------------------------------------------------------------------


def test_output_passes_episode_validation(tmp_path):
    header = [child("C1", "1", "14/03/2006"), child("C2", "F", "02/11/2007")]
    eps = [placement("C1", "01/01/2020", "", "K2", URN="SC123456"),
           placement("C2", "01/01/2020", "", "K3", PL_POST="OX14 3")]
    miss = [period("C1", "02/01/2020", "03/01/2020", "A"), period("C2", "05/01/2020")]
    result = run(tmp_path, header, eps, miss, host_authority="Oxfordshire County Council")
    assert tuple(result.episodes.columns) == EPISODE_COLUMNS
    assert tuple(result.audit.columns) == AUDIT_COLUMNS
    assert result.episodes.map(lambda v: isinstance(v, str)).all().all()
    path = tmp_path / "episodes_903.csv"
    result.episodes.to_csv(path, index=False)
    checked = validate_episodes(read_table(path), host_authority="Oxfordshire")
    assert checked[s.MISSING_FROM].tolist() == [pd.Timestamp("2020-01-02"),
                                                pd.Timestamp("2020-01-05")]
    assert checked[s.RETURNED].iloc[0] == pd.Timestamp("2020-01-03")
    assert pd.isna(checked[s.RETURNED].iloc[1])
    assert checked[s.SEX].tolist() == ["male", "female"]
    assert checked[s.AGE].tolist() == [13, 12]
    assert checked[s.CARE_STATUS].tolist() == ["looked_after"] * 2
    assert checked[s.PLACEMENT_TYPE].tolist() == ["residential", "semi_independent"]
    assert checked[s.CATEGORY].tolist() == ["absent", "missing"]
    assert checked[s.PLACED_BY_OTHER_LA].tolist() == ["host", "host"]
    assert checked[s.HOME_ID].tolist() == ["SC123456", ""]
    assert (checked[s.WARNINGS] == "").all()
    # Postcode-only rows: nothing but the location can reject them (without a postcode lookup
    # they end `no_location`).
    assert set(checked[s.REASON]) <= {"", "no_location", "postcode_not_found"}
    rejected = checked[s.STATUS] == s.REJECTED
    assert checked.loc[rejected, s.DETAIL].str.contains("postcode").all()


def test_shipped_fixture_reads_end_to_end():
    result = read_ssda903(*find_ssda903_files(FIXTURE))
    assert result.rows_read == 10
    assert len(result.episodes) == 5
    assert audit_reasons(result) == {
        6: "unknown_missing_code", 7: "end_before_start", 8: "unknown_child",
        9: "no_placement_in_force", 10: "duplicate_period",
    }
    assert (result.audit["source_file"] == "missing.csv").all()


# --- files -------------------------------------------------------------------------------------


def _touch_tables(folder: Path, names: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    cols = {"Header": HEADER_COLS, "Episodes": EPISODE_COLS, "Missing": MISSING_COLS}
    rows = {"Header": [child("C1")], "Episodes": [placement("C1", "01/01/2020")],
            "Missing": [period("C1", "02/01/2020")]}
    for kind, name in names.items():
        _write(folder / name, cols[kind], rows[kind])


def test_find_files_by_name_any_case(tmp_path):
    _touch_tables(tmp_path, {"Header": "HEADER.CSV", "Episodes": "Episodes_2024.csv",
                             "Missing": "SSDA903_Missing.Csv"})
    (tmp_path / "notes.txt").write_text("not a table", encoding="utf-8")
    (tmp_path / "reviews.csv").write_text("CHILD,DOB,REVIEW,REVIEW_CODE\n", encoding="utf-8")
    h, e, m = find_ssda903_files(tmp_path)
    assert (h.name, e.name, m.name) == ("HEADER.CSV", "Episodes_2024.csv", "SSDA903_Missing.Csv")
    assert len(read_ssda903(h, e, m).episodes) == 1


def test_find_files_by_columns(tmp_path):
    _touch_tables(tmp_path, {"Header": "a.csv", "Episodes": "b.csv", "Missing": "c.csv"})
    assert [p.name for p in find_ssda903_files(tmp_path)] == ["a.csv", "b.csv", "c.csv"]


def test_find_files_ambiguous_or_missing(tmp_path):
    _touch_tables(tmp_path, {"Header": "header.csv", "Episodes": "episodes.csv",
                             "Missing": "missing.csv"})
    _touch_tables(tmp_path, {"Header": "Header_2023.csv"})
    with pytest.raises(InputError) as err:
        find_ssda903_files(tmp_path)
    message = str(err.value)
    assert "2 files could be the Header table" in message
    assert "header.csv" in message and "Header_2023.csv" in message
    empty = tmp_path / "only"
    _touch_tables(empty, {"Header": "header.csv", "Episodes": "episodes.csv"})
    with pytest.raises(InputError, match=r"no Missing table.*Missing: none"):
        find_ssda903_files(empty)
    with pytest.raises(InputError, match="does not exist"):
        find_ssda903_files(tmp_path / "nowhere")


def test_whole_file_problems(tmp_path):
    _touch_tables(tmp_path, {"Header": "header.csv", "Episodes": "episodes.csv"})
    h, e = tmp_path / "header.csv", tmp_path / "episodes.csv"
    with pytest.raises(InputError, match=r"Missing file .*missing\.csv does not exist"):
        read_ssda903(h, e, tmp_path / "missing.csv")
    bad = tmp_path / "missing.csv"
    bad.write_text("CHILD,MISSING,START,MIS_END\nC1,M,02/01/2020,\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_ssda903(h, e, bad)
    message = str(err.value)
    assert "missing.csv" in message and "`MIS_START`" in message
    assert "'START'" in message  # the columns found are listed
    bad.write_text("CHILD,DOB,MISSING,MIS_START,MIS_END\n", encoding="utf-8")
    with pytest.raises(InputError, match="no data rows"):
        read_ssda903(h, e, bad)


def test_xml_style_column_names_are_accepted(tmp_path):
    h = _write(tmp_path / "h.csv", ("CHILDID", "SEX", "DOB"), [
        {"CHILDID": "C1", "SEX": "2", "DOB": "01/01/2006"}])
    e = _write(tmp_path / "e.csv", ("CHILD", "DECOM", "PL", "DEC", "PL_POST"), [
        {"CHILD": "C1", "DECOM": "01/01/2020", "PL": "K2", "PL_POST": "OX1 1AA"}])
    m = _write(tmp_path / "m.csv", MISSING_COLS, [period("C1", "02/01/2020")])
    result = read_ssda903(h, e, m)
    assert result.episodes[[s.SEX, s.PLACEMENT_TYPE]].values.tolist() == [["F", "residential"]]


def test_xlsx_tables_with_date_cells(tmp_path):
    import datetime as dt

    from openpyxl import Workbook

    def book(name, columns, rows):
        wb = Workbook()
        ws = wb.active
        ws.append(list(columns))
        for row in rows:
            ws.append(row)
        wb.save(tmp_path / name)
        return tmp_path / name

    h = book("Header.xlsx", ("CHILD", "SEX", "DOB"), [[1001, 1, dt.datetime(2006, 3, 14)]])
    e = book("Episodes.xlsx", ("CHILD", "DECOM", "PLACE", "DEC", "PL_POST", "URN"),
             [[1001, dt.datetime(2020, 1, 1), "K2", None, "OX14 1AA", 123456]])
    m = book("Missing.xlsx", MISSING_COLS,
             [[1001, dt.datetime(2006, 3, 14), "M", dt.datetime(2020, 1, 2), None]])
    result = read_ssda903(h, e, m)
    ep = result.episodes
    assert ep[[s.CHILD_ID, s.MISSING_FROM, s.RETURNED, s.HOME_ID, s.AGE]].values.tolist() == [
        ["1001", "2020-01-02", "", "123456", "13"]]


def test_shipped_table_path_exists():
    assert PLACE_CODES_PATH.is_file()
