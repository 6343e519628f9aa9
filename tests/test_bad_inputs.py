"""The hardened-reading corpus: messy exports run through the CLI in-process.

Whole-file problems: exit code 2 and one paragraph starting ``hotspots: error:`` that names
the file, with no traceback (and nothing written). Row-level problems: exit 0, every row
accounted for, and the reason in the `hotspots validate` report or tables/audit.csv.
docs/bad-inputs.md lists every case and what the analyst sees.
"""

import datetime as dt
import time

import pandas as pd
import pytest
from openpyxl import Workbook

import cli

HEADER = "episode_id,child_id,missing_from,lat,lon\n"
GOOD = "E1,C1,2020-03-01 18:00,52.066495,-1.341187\n"  # Banbury
GOOD2 = "E2,C2,2020-03-02,51.752,-1.2577\n"  # Oxford


def _cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _flat(text):
    return " ".join(text.split())


def _xlsx(path, sheets, *, hidden=()):
    wb = Workbook()
    for i, (name, rows) in enumerate(sheets.items()):
        ws = wb.active if i == 0 else wb.create_sheet(name)
        ws.title = name
        for row in rows:
            ws.append(row)
        if name in hidden:
            ws.sheet_state = "hidden"
    visible = [i for i, name in enumerate(sheets) if name not in hidden]
    wb.active = visible[0]
    wb.save(path)
    return path


EPISODE_ROWS = [
    ["episode_id", "child_id", "missing_from", "lat", "lon"],
    ["E1", "C1", dt.datetime(2020, 1, 31, 14, 5), 52.066495, -1.341187],
    ["E2", "C2", dt.date(2020, 2, 1), 51.752, -1.2577],
]


# --- whole-file problems: exit 2, one paragraph, no traceback -----------------------------------

WHOLE_FILE = [
    pytest.param("e.csv", b"", (), "is empty. Expected a header row", id="empty-file"),
    pytest.param("e.csv", b"\n\n   \n", (), "is empty", id="blank-lines-only"),
    pytest.param("e.csv", b",,,,\n,,,,\n", (), "is empty", id="delimiters-only"),
    pytest.param("e.csv", HEADER.encode(), (), "has a header row but no data rows",
                 id="header-only"),
    pytest.param("e.csv", (HEADER + ",,,,\n" * 10).encode(), (),
                 "has a header row but no data rows (10 blank rows were skipped)",
                 id="header-and-blank-rows"),
    pytest.param("e.csv", bytes(range(256)) * 8, (),
                 "is not a text CSV file (it contains binary data)", id="binary-with-nul"),
    pytest.param("e.csv", bytes(range(1, 256)) * 4, (),
                 "is neither UTF-8 nor Windows-1252 text (byte 0x81", id="garbage-bytes"),
    pytest.param("e.csv", b"PK\x03\x04" + b"not really a zip" * 8, (),
                 "is not a readable XLSX workbook (BadZipFile", id="damaged-zip"),
    pytest.param("e.xlsx", (HEADER + GOOD).encode(), (),
                 "is named .xlsx but is not an XLSX workbook", id="csv-named-xlsx"),
    pytest.param("e.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, (),
                 "is an old Excel .xls workbook", id="old-xls"),
    pytest.param("e.xls", b"<html><body><table><tr><td>E1</td></tr></table></body></html>", (),
                 "is a web page or XML document", id="html-saved-as-xls"),
    pytest.param("e.csv", (HEADER.strip() + ",Episode ID\n" + GOOD.strip() + ",X\n").encode(), (),
                 "has two columns that both mean 'episode_id': column A ('episode_id') and "
                 "column F ('Episode ID')", id="duplicate-column-names"),
    pytest.param("e.csv", b"episode_id,missing_from,lat,lon\nE1,2020-01-01,52.06,-1.34\n", (),
                 "is missing the required column(s) `child_id`. Columns found: 'episode_id', "
                 "'missing_from', 'lat', 'lon'", id="required-column-missing"),
    pytest.param("e.csv", b"episode_id,child_id,missing_from,ward\nE1,C1,2020-01-01,X\n", (),
                 "has no location columns", id="no-location-columns"),
    pytest.param("e.csv", b"episode_id,child_id,missing_from,lat\nE1,C1,2020-01-01,52.06\n", (),
                 "has a `lat` column but no `lon` column", id="lat-without-lon"),
    pytest.param("e.csv", (HEADER.strip() + ",\n" + GOOD.strip() + ",note\n").encode(), (),
                 "has a blank column header (column F) above cells that hold values (row 2: "
                 "'note')", id="blank-header-above-values"),
    pytest.param("e.csv", (HEADER + GOOD + "E2,C2,2020-01-01,52.06,-1.34,extra\n").encode(), (),
                 "row 3, has a value ('extra') in column F, beyond the last named column",
                 id="ragged-row"),
    pytest.param("e.csv", (HEADER + GOOD + 'E2,"C2,2020-01-01,52.06,-1.34\n').encode(), (),
                 "is not well-formed CSV", id="unbalanced-quote"),
    pytest.param("e.csv", (HEADER + "E1,C1,01/31/2020,52.06,-1.34\n"
                           "E2,C1,02/03/2020,52.06,-1.34\n").encode(), (),
                 "column `missing_from` looks month-first (US style): 1 value(s) such as "
                 "'01/31/2020' in row 2", id="month-first-dates"),
    pytest.param("e.csv", (b"episode_id,child_id,missing_from,returned,lat,lon\n"
                           b"E1,C1,2020-01-01,01/13/2020,52.06,-1.34\n"), (),
                 "column `returned` looks month-first", id="month-first-returned"),
    pytest.param("e.csv", (HEADER + GOOD).encode(), ("--sheet", "Episodes"),
                 "A sheet name ('Episodes') was given, but the episodes file", id="sheet-on-csv"),
]


@pytest.mark.parametrize(("name", "content", "extra", "fragment"), WHOLE_FILE)
def test_whole_file_problem(capsys, tmp_path, name, content, extra, fragment):
    src = tmp_path / name
    src.write_bytes(content)
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "run", src, *extra, "--out", out_dir, "-q")
    assert code == 2, err
    assert err.startswith("hotspots: error: ")
    assert err.count("hotspots: error:") == 1 and "Traceback" not in err
    assert "\n\n" not in err.strip()  # one paragraph
    assert str(src) in _flat(err)
    assert fragment in _flat(err)
    assert out == ""
    assert not out_dir.exists()  # nothing written


def test_missing_sheet_lists_the_sheets(capsys, tmp_path):
    src = _xlsx(tmp_path / "e.xlsx", {"Episodes": EPISODE_ROWS, "Lookup": [["a", "b"]]})
    code, _, err = _cli(capsys, "validate", src, "--sheet", "Nope", "-q")
    assert code == 2 and "Traceback" not in err
    assert "has no sheet named 'Nope'. Sheets found: 'Episodes', 'Lookup'." in _flat(err)


def test_missing_file_and_folder(capsys, tmp_path):
    code, _, err = _cli(capsys, "validate", tmp_path / "nope.csv", "-q")
    assert code == 2 and "does not exist" in _flat(err)
    code, _, err = _cli(capsys, "validate", tmp_path, "-q")
    assert code == 2 and "is a folder, not a file" in _flat(err)


def test_a_title_line_above_the_header_is_named_in_the_message(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_text("Missing episodes report\n\n" + HEADER + GOOD)
    code, _, err = _cli(capsys, "validate", src, "-q")
    assert code == 2 and "Traceback" not in err
    assert "Missing episodes report" in err


def test_missing_columns_in_an_xlsx_name_the_sheet_read(capsys, tmp_path):
    src = _xlsx(tmp_path / "e.xlsx", {"Lookup": [["code", "label"], ["M", "Missing"]],
                                       "Episodes": EPISODE_ROWS})
    code, _, err = _cli(capsys, "validate", src, "-q")
    assert code == 2 and "Traceback" not in err
    assert "'Lookup'" in err and "--sheet" in err


def test_a_hidden_first_sheet_is_not_read_by_default(capsys, tmp_path):
    src = _xlsx(tmp_path / "e.xlsx", {"Lookup": [["code", "label"], ["M", "Missing"]],
                                       "Episodes": EPISODE_ROWS}, hidden=("Lookup",))
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "sheet 'Episodes'" in out


# --- accepted files -----------------------------------------------------------------------------

ACCEPTED = [
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).replace(",", ";").encode(), "utf-8",
                 id="semicolon"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).replace(",", "\t").encode(), "utf-8", id="tab"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).replace(",", "|").encode(), "utf-8", id="pipe"),
    pytest.param("e.csv", ("sep=;\n" + (HEADER + GOOD + GOOD2).replace(",", ";")).encode(),
                 "utf-8", id="excel-sep-line"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).encode("utf-16"), "utf-16", id="utf-16-bom"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).encode("utf-16-le"), "utf-16",
                 id="utf-16-le-no-bom"),
    pytest.param("e.csv", b"\xef\xbb\xbf" + (HEADER + GOOD + GOOD2).encode(), "utf-8-sig",
                 id="utf-8-bom"),
    pytest.param("e.csv", (HEADER.strip() + ",placement_type\n" + GOOD.strip()
                           + ",Children\u2019s home\n" + GOOD2.strip() + ",foster\n")
                 .encode("cp1252"), "cp1252", id="windows-1252"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).replace("\n", "\r\n").encode(), "utf-8",
                 id="crlf"),
    pytest.param("e.csv", (HEADER + GOOD + GOOD2).replace("\n", "\r").encode(), "utf-8",
                 id="old-mac-cr"),
    pytest.param("e.csv", (" Episode ID ,Child-ID,MISSING FROM,Lat,LON\n" + GOOD + GOOD2)
                 .encode(), "utf-8", id="header-case-spaces-dashes"),
    pytest.param("e.txt", (HEADER + GOOD + GOOD2).encode(), "utf-8", id="any-file-name"),
]


@pytest.mark.parametrize(("name", "content", "encoding"), ACCEPTED)
def test_accepted_file(capsys, tmp_path, name, content, encoding):
    src = tmp_path / name
    src.write_bytes(content)
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert f"2 rows read ({encoding}" in out
    assert "mapped        2" in out


def test_windows_1252_curly_apostrophe_is_read(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_bytes((HEADER.strip() + ",placement_type\n" + GOOD.strip()
                     + ",Children\u2019s home\n").encode("cp1252"))
    out_dir = tmp_path / "o"
    code, _, err = _cli(capsys, "run", src, "--out", out_dir, "-q")
    assert code == 0, err
    ward = pd.read_csv(out_dir / "tables" / "localities_lpa.csv")
    assert ward["episodes_placement_residential"].sum() == 1  # not "unknown"


MIXED = (
    "episode_id,child_id,missing_from,lat,lon,home_id,placement_type\n"
    "E1,C1,2020-01-01,52.066495,-1.341187,Maison-\u00e9,foster\n"
).encode("utf-8") + b"E2,C2,2020-01-01,52.066495,-1.341187,H2,Children\x92s home\n"


def test_mixed_encodings_are_read_as_utf8_with_a_note_and_keep_every_row(capsys, tmp_path):
    """A UTF-8 file with one Windows-1252 byte (0x92, a curly apostrophe): the UTF-8 text is
    kept, only the stray byte is read as Windows-1252, and a note names its line."""
    src = tmp_path / "e.csv"
    src.write_bytes(MIXED)
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "2 rows read (utf-8 (with Windows-1252 bytes))" in out and "mapped        2" in out
    assert "were read as Windows-1252 (the first on line" in out


def test_mixed_encodings_keep_the_utf8_text(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_bytes(MIXED)
    out_dir = tmp_path / "o"
    code, _, err = _cli(capsys, "run", src, "--out", out_dir, "-q")
    assert code == 0, err
    table = pd.read_csv(out_dir / "tables" / "episodes.csv", dtype=str, keep_default_na=False)
    assert table["home_id"].tolist() == ["Maison-\u00e9", "H2"]


def test_quoted_line_breaks_keep_spreadsheet_row_numbers(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_text(
        "episode_id,child_id,missing_from,lat,lon,notes\n"
        'E1,C1,2020-01-01,52.066495,-1.341187,"first line\nsecond line"\n'
        'E2,C2,2020-01-01,52.066495,-1.341187,"a, b"\n'
        "E3,,2020-01-01,52.066495,-1.341187,x\n"
    )
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "3 rows read" in out and "mapped        2" in out
    # E3 is the 4th spreadsheet row (header = row 1), although it is on the 5th line
    assert "row 4, episode 'E3': missing_child_id" in out


@pytest.mark.parametrize("blank", [",,,,\n", "\n", ",,,,\r\n"], ids=["commas", "empty", "crlf"])
def test_a_million_trailing_blank_rows_are_skipped_and_counted_fast(capsys, tmp_path, blank):
    src = tmp_path / "e.csv"
    src.write_text(HEADER + GOOD + GOOD2 + blank * 1_000_000, newline="")
    start = time.perf_counter()
    code, out, err = _cli(capsys, "validate", src, "-q")
    elapsed = time.perf_counter() - start
    assert code == 0, err
    assert "2 rows read (utf-8, 1000000 blank rows skipped)" in out
    assert "mapped        2" in out
    assert elapsed < 10, f"{elapsed:.1f} s"


# --- row-level problems: exit 0, the reason in the report or the audit --------------------------

ROW_LEVEL = [
    pytest.param(HEADER + GOOD + "E2,C2,31/01/20,52.06,-1.34\n",
                 ["invalid_date             1",
                  "`missing_from` = '31/01/20': two-digit years are ambiguous; write the year "
                  "in full"], id="two-digit-year"),
    pytest.param(HEADER + GOOD + "E2,C2,31-Jan-2020,52.06,-1.34\n",
                 ["invalid_date             1",
                  "`missing_from` = '31-Jan-2020': not a date in a recognised format"],
                 id="month-name"),
    pytest.param(HEADER + GOOD + "E2,C2,43861,52.06,-1.34\n",
                 ["`missing_from` = '43861': not a date in a recognised format"],
                 id="excel-serial-number-in-csv"),
    pytest.param(HEADER + GOOD + "E2,C2,2020-01-01,-1.341187,52.066495\n",
                 ["invalid_coordinates      1", "lat and lon look swapped"], id="lat-lon-swapped"),
    pytest.param("episode_id,child_id,missing_from,easting,northing\n"
                 "E1,C1,2020-01-01,445100,240200\nE2,C2,2020-01-01,445.1,240.2\n",
                 ["invalid_coordinates      1", "looks like kilometres; expected metres"],
                 id="easting-northing-in-km"),
    pytest.param((HEADER + GOOD).replace(",", ";") + "E2;C2;2020-01-01;52,066495;-1,341187\n",
                 ["invalid_coordinates      1", "`lat` = '52,066495', `lon` = '-1,341187': not "
                  "numbers"], id="decimal-commas"),
    pytest.param(HEADER + GOOD + GOOD,
                 ["duplicate_episode_id     1",
                  "row 3, episode 'E1': duplicate_episode_id: `episode_id` 'E1' already used "
                  "in row 2"], id="duplicate-episode"),
    pytest.param(HEADER + GOOD + "Total,,,,\n",
                 ["missing_child_id         1", "row 3, episode 'Total': missing_child_id"],
                 id="totals-row-at-the-bottom"),
    pytest.param("episode_id,child_id,missing_from,returned,lat,lon\n"
                 "E1,C1,2020-01-01,2020-01-02,52.066495,-1.341187\n"
                 "E2,C2,2020-01-01,N/A,52.066495,-1.341187\n",
                 ["invalid_date             1", "`returned` = 'N/A': not a date"],
                 id="returned-placeholder"),
    pytest.param("episode_id,child_id,missing_from,lat,lon\n"
                 "E1,C1,2020-01-01,52.066495,\nE2,C2,2020-01-01,0,0\n",
                 ["invalid_coordinates      2", "both `lat` and `lon` are needed",
                  "0,0 is a placeholder"], id="partial-and-zero-coordinates"),
]


@pytest.mark.parametrize(("content", "fragments"), ROW_LEVEL)
def test_row_level_problem(capsys, tmp_path, content, fragments):
    src = tmp_path / "e.csv"
    src.write_text(content)
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "(read 2 = mapped + rejected + outside_area: yes)" in out
    for fragment in fragments:
        assert fragment in out, fragment


@pytest.mark.parametrize(("content", "fragments"), ROW_LEVEL)
def test_strict_turns_a_row_level_problem_into_exit_2(capsys, tmp_path, content, fragments):
    src = tmp_path / "e.csv"
    src.write_text(content)
    reason = fragments[0].split()[0] if fragments[0].endswith(" 1") else None
    code, out, err = _cli(capsys, "run", src, "--out", tmp_path / "o", "-q", "--strict")
    assert code == 2 and out == "" and "Traceback" not in err
    flat = _flat(err)
    assert flat.startswith("hotspots: error: --strict: ") and "rows were rejected (" in flat
    if reason:
        assert f"({reason} 1)" in flat
    assert "nothing was written" in flat and "hotspots validate" in flat
    assert not (tmp_path / "o").exists()


def test_every_row_rejected_is_still_a_report_not_a_crash(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_text(HEADER + "E1,C1,2020-01-01,-1.341187,52.066495\nE2,,2020-01-01,52.06,-1.34\n")
    out_dir = tmp_path / "o"
    code, out, err = _cli(capsys, "run", src, "--out", out_dir, "-q")
    assert code == 0, err
    assert "Rows read 2: mapped 0, rejected 2" in out
    audit = pd.read_csv(out_dir / "tables" / "audit.csv", dtype=str, keep_default_na=False)
    assert audit["reason"].tolist() == ["invalid_coordinates", "missing_child_id"]


def test_absurd_ages_warn_and_keep_the_row(capsys, tmp_path):
    src = tmp_path / "e.csv"
    src.write_text(
        "episode_id,child_id,missing_from,lat,lon,age\n"
        "E1,C1,2020-01-01,52.066495,-1.341187,-2\n"
        "E2,C2,2020-01-01,52.066495,-1.341187,140\n"
        "E3,C3,2020-01-01,52.066495,-1.341187,fifteen\n"
        "E4,C4,2020-01-01,52.066495,-1.341187,15\n"
    )
    code, out, _ = _cli(capsys, "validate", src, "-q")
    assert code == 0 and "mapped        4" in out and "invalid_age              3" in out
    out_dir = tmp_path / "o"
    code, _, err = _cli(capsys, "run", src, "--out", out_dir, "-q")
    assert code == 0, err
    audit = pd.read_csv(out_dir / "tables" / "audit.csv", dtype=str, keep_default_na=False)
    assert audit["episode_id"].tolist() == ["E1", "E2", "E3"]
    assert set(audit["status"]) == {"mapped"} and set(audit["warnings"]) == {"invalid_age"}
    lpa = pd.read_csv(out_dir / "tables" / "localities_lpa.csv")
    assert lpa["episodes_age_unknown"].sum() == 3 and lpa["episodes_age_14_16"].sum() == 1


def test_postcode_typos_are_never_guessed(capsys, tmp_path):
    pcs = tmp_path / "pc.csv"
    pcs.write_text("postcode,lat,lon\nOX16 9AA,52.0629,-1.3398\nOX16 9AB,52.0640,-1.3420\n")
    index = tmp_path / "pc.npz"
    assert _cli(capsys, "postcodes", "import", pcs, "--into", index, "-q")[0] == 0
    src = tmp_path / "e.csv"
    src.write_text(
        "episode_id,child_id,missing_from,postcode\n"
        "E1,C1,2020-01-01,OX16 9A\n"  # inward code cut short
        "E2,C1,2020-01-01,0X16 9AA\n"  # zero for O
        "E3,C1,2020-01-01,OXI6 9AA\n"  # I for 1
        "E4,C1,2020-01-01,OX16 9AA.\n"  # trailing full stop
        "E5,C1,2020-01-01,OX16 9ZZ\n"  # well formed, not in the index
        "E6,C1,2020-01-01,ox169aa\n"  # case and spacing are normalised
        "E7,C1,2020-01-01,OX16  9AB\n"
    )
    code, out, err = _cli(capsys, "validate", src, "--postcodes", index, "-q")
    assert code == 0, err
    assert "mapped        2" in out
    assert "invalid_postcode         4" in out and "postcode_not_found       1" in out
    for row, value in ((2, "OX16 9A"), (3, "0X16 9AA"), (4, "OXI6 9AA"), (5, "OX16 9AA.")):
        assert f"row {row}, episode 'E{row - 1}': invalid_postcode: `postcode` = '{value}'" in out
    assert "row 6, episode 'E5': postcode_not_found: `postcode` = 'OX16 9ZZ'" in out


# --- workbooks ----------------------------------------------------------------------------------


def test_xlsx_dates_cells_are_dates_and_raw_numbers_are_invalid(capsys, tmp_path):
    rows = [
        *EPISODE_ROWS,
        ["E3", "C3", 43861, 52.066495, -1.341187],  # a serial number in a General cell
        ["E4", "C4", "31/01/2020 14:05", 52.066495, -1.341187],  # text, UK day-first
    ]
    src = _xlsx(tmp_path / "e.xlsx", {"Episodes": rows})
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "4 rows read (xlsx, sheet 'Episodes')" in out and "mapped        3" in out
    assert ("row 4, episode 'E3': invalid_date: `missing_from` = '43861': not a date in a "
            "recognised format") in out


def test_xlsx_with_several_sheets_reads_the_first_with_a_note(capsys, tmp_path):
    src = _xlsx(tmp_path / "e.xlsx", {"Episodes": EPISODE_ROWS, "Lookup": [["a", "b"]],
                                       "Notes": [["x"]]})
    code, out, err = _cli(capsys, "validate", src, "-q")
    assert code == 0, err
    assert "sheet 'Episodes'" in out and "mapped        2" in out
    assert ("note: the workbook has 3 sheets (Episodes, Lookup, Notes); read the first "
            "visible one, 'Episodes'. Use --sheet to choose another.") in out
    code, out, err = _cli(capsys, "validate", src, "--sheet", " episodes ", "-q")
    assert code == 0 and "sheet 'Episodes'" in out  # case and spaces ignored
