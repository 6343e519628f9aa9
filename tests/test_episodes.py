"""geo.episodes.read_table: CSV in every encoding and delimiter Excel produces, and XLSX.

Every fixture is built in the test under tmp_path; the data are synthetic.
"""

import csv
import datetime as dt
import io
import random
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from geo.episodes import Table, _cells_may_need_strip, normalise_header, read_table
from geo.errors import HotspotError, InputError
from geo.schema import ROW_NUMBER

HEADER = "episode_id,child_id,missing_from,lat,lon"


def write_bytes(tmp_path: Path, data: bytes, name: str = "episodes.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def write_text(tmp_path: Path, text: str, name: str = "episodes.csv", encoding: str = "utf-8"):
    return write_bytes(tmp_path, text.encode(encoding), name)


def rows_of(table: Table) -> list[dict[str, object]]:
    return table.frame.to_dict("records")


def write_xlsx(tmp_path: Path, sheets: dict[str, list[list[object]]], name="episodes.xlsx"):
    wb = Workbook()
    first = True
    for title, rows in sheets.items():
        ws = wb.active if first else wb.create_sheet()
        ws.title = title
        first = False
        for row in rows:
            ws.append(row)
    path = tmp_path / name
    wb.save(path)
    return path


# --- encodings -------------------------------------------------------------------------------


def test_utf8_csv_every_cell_is_text_and_rows_are_numbered_from_2(tmp_path):
    path = write_text(tmp_path, HEADER + "\nE1,C1,2020-01-31,51.75,-1.26\nE2,C2,31/01/2020,,\n")
    table = read_table(path)
    assert table.encoding == "utf-8"
    assert table.delimiter == ","
    assert table.sheet is None
    assert table.blank_rows == 0
    assert table.notes == ()
    assert list(table.frame.columns) == [ROW_NUMBER, *HEADER.split(",")]
    assert rows_of(table) == [
        {ROW_NUMBER: 2, "episode_id": "E1", "child_id": "C1", "missing_from": "2020-01-31",
         "lat": "51.75", "lon": "-1.26"},
        {ROW_NUMBER: 3, "episode_id": "E2", "child_id": "C2", "missing_from": "31/01/2020",
         "lat": "", "lon": ""},
    ]  # fmt: skip
    assert table.frame[ROW_NUMBER].dtype == "int64"
    assert all(pd.api.types.is_string_dtype(table.frame[c]) for c in HEADER.split(","))


def test_utf8_with_bom_header_is_matched(tmp_path):
    path = write_bytes(
        tmp_path, b"\xef\xbb\xbf" + (HEADER + "\nE1,C1,2020-01-31,51.7,-1.2\n").encode()
    )
    table = read_table(path)
    assert table.encoding == "utf-8-sig"
    assert table.frame.columns[1] == "episode_id"
    assert table.frame.at[0, "episode_id"] == "E1"
    assert not any("\ufeff" in h for h in table.original_headers.values())


def test_bom_character_left_in_a_header_is_ignored():
    assert normalise_header("\ufeffepisode_id") == "episode_id"
    assert normalise_header("\u200bEpisode ID") == "episode_id"


def test_windows_1252_csv(tmp_path):
    text = (
        HEADER
        + ",placement_la,note\nE1,Chloé,2020-01-31,51.7,-1.2,Reading,£5 for the child\u2019s bus\n"
    )
    path = write_text(tmp_path, text, encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # the fixture really is not UTF-8
    table = read_table(path)
    assert table.encoding == "cp1252"
    assert table.frame.at[0, "child_id"] == "Chloé"
    assert table.frame.at[0, "note"] == "£5 for the child\u2019s bus"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_with_or_without_bom(tmp_path, encoding):
    text = HEADER + "\r\nE1,Zoë,2020-01-31,51.7,-1.2\r\n"
    table = read_table(write_text(tmp_path, text, encoding=encoding))
    assert table.encoding == "utf-16"
    assert table.frame.at[0, "child_id"] == "Zoë"
    assert table.frame.at[0, ROW_NUMBER] == 2
    assert table.frame.columns[1] == "episode_id"


def test_utf8_bom_then_invalid_utf8_is_refused(tmp_path):
    path = write_bytes(tmp_path, b"\xef\xbb\xbf" + HEADER.encode() + b"\nE1,\xff\xfe\x81,x,1,2\n")
    with pytest.raises(InputError, match=r"byte-order mark but is not valid UTF-8") as info:
        read_table(path)
    assert str(path) in str(info.value)


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Episode-ID", "episode_id"),
        (" Missing From ", "missing_from"),
        ("MISSING_FROM", "missing_from"),
        ("missing  -  from", "missing_from"),
        ("Placing\u00a0Authority", "placing_authority"),
        ("lat", "lat"),
    ],
)
def test_normalise_header(raw, expected):
    assert normalise_header(raw) == expected


def test_headers_match_ignoring_case_spaces_and_dashes(tmp_path):
    path = write_text(
        tmp_path, "Episode-ID, Child ID ,  Missing From ,LAT,Lon\nE1,C1,2020-01-31,1,2\n"
    )
    table = read_table(path)
    assert list(table.frame.columns) == [ROW_NUMBER, "episode_id", "child_id", "missing_from",
                                         "lat", "lon"]  # fmt: skip
    assert table.original_headers["missing_from"] == "  Missing From "
    assert table.original_headers["episode_id"] == "Episode-ID"


def test_duplicate_column_names_are_refused_naming_both(tmp_path):
    path = write_text(tmp_path, "episode_id,lat,LAT,lon\nE1,51.7,51.8,-1.2\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "'lat'" in msg and "'LAT'" in msg
    assert "column B" in msg and "column C" in msg


def test_duplicate_after_normalisation_is_refused(tmp_path):
    path = write_text(tmp_path, "Missing From,missing-from,episode_id\n2020-01-01,2020-01-02,E\n")
    with pytest.raises(InputError, match=r"'Missing From'.*'missing-from'"):
        read_table(path)


def test_blank_header_over_values_is_refused(tmp_path):
    path = write_text(tmp_path, "episode_id,child_id,,lat\nE1,C1,,1\nE2,C2,oops,2\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "blank column header (column C)" in msg
    assert "row 3: 'oops'" in msg
    assert str(path) in msg


def test_blank_header_over_blank_or_space_cells_is_ignored(tmp_path):
    path = write_text(tmp_path, "episode_id,,child_id,\nE1,  ,C1\nE2,,C2,\n")
    table = read_table(path)
    assert list(table.frame.columns) == [ROW_NUMBER, "episode_id", "child_id"]
    assert table.frame["child_id"].tolist() == ["C1", "C2"]


def test_a_column_called_row_number_is_renamed_with_a_note(tmp_path):
    path = write_text(tmp_path, "Row Number,episode_id\n17,E1\n18,E2\n")
    table = read_table(path)
    assert table.frame[ROW_NUMBER].tolist() == [2, 3]
    assert table.frame["file_row_number"].tolist() == ["17", "18"]
    assert any("file_row_number" in n and "column A" in n for n in table.notes)


# --- delimiters and quoting ------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_other_delimiters(tmp_path, delimiter, name):
    text = (
        HEADER.replace(",", delimiter)
        + "\n"
        + delimiter.join(["E1", "C1", "31/01/2020 14:05", "51,75", "-1,26"])
        + "\n"
    )
    table = read_table(write_text(tmp_path, text))
    assert table.delimiter == delimiter
    assert table.frame.at[0, "missing_from"] == "31/01/2020 14:05"
    assert table.frame.at[0, "lat"] == "51,75"  # a decimal comma is kept as written


def test_excel_sep_line_sets_the_delimiter_and_is_not_a_row(tmp_path):
    text = "sep=;\r\nepisode_id;child_id;note\r\nE1;C1;a, b\r\nE2;C2;c\r\n"
    table = read_table(write_text(tmp_path, text))
    assert table.delimiter == ";"
    assert table.frame[ROW_NUMBER].tolist() == [2, 3]
    assert table.frame["note"].tolist() == ["a, b", "c"]
    assert table.notes == ("the first line 'sep=;' set the delimiter",)


def test_single_column_comma_file_gets_a_note(tmp_path):
    table = read_table(write_text(tmp_path, "episode_id\nE1\n"))
    assert any("single column" in n for n in table.notes)


def test_quoted_fields_with_newlines_and_commas_keep_record_numbers(tmp_path):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["episode_id", "child_id", "note"])
    writer.writerow(["E1", "C1", "line one\nline two, with a comma"])
    writer.writerow(["E2", "C2", 'said "hello",\r\nthen left'])
    writer.writerow(["E3", "C3", "plain"])
    table = read_table(write_text(tmp_path, buf.getvalue()))
    assert table.frame[ROW_NUMBER].tolist() == [2, 3, 4]
    assert table.frame["note"].tolist() == [
        "line one\nline two, with a comma",
        'said "hello",\r\nthen left',
        "plain",
    ]
    assert table.frame["episode_id"].tolist() == ["E1", "E2", "E3"]


def test_unbalanced_quote_is_refused_with_the_row(tmp_path):
    path = write_text(tmp_path, 'episode_id,child_id\nE1,C1\nE2,"C2\nE3,C3\n')
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "row 3" in msg and "unbalanced double quote" in msg and str(path) in msg


def test_blank_lines_and_many_trailing_empty_rows_are_skipped_and_counted(tmp_path):
    lines = [HEADER, "E1,C1,2020-01-31,1,2", "", "E2,C2,2020-01-31,1,2", ",,,,", "  ,  ,,,",
             "E3,C3,2020-01-31,1,2"]  # fmt: skip
    text = "\n".join(lines) + "\n" + ",,,,\n" * 10_000
    table = read_table(write_text(tmp_path, text))
    assert table.frame["episode_id"].tolist() == ["E1", "E2", "E3"]
    assert table.frame[ROW_NUMBER].tolist() == [2, 4, 7]
    assert table.blank_rows == 3 + 10_000


def test_blank_lines_before_the_header_keep_spreadsheet_row_numbers(tmp_path):
    table = read_table(write_text(tmp_path, "\n\r\n" + HEADER + "\nE1,C1,x,1,2\n"))
    assert table.frame[ROW_NUMBER].tolist() == [4]
    assert table.blank_rows == 0


def test_trailing_delimiters_beyond_the_header_are_tolerated_when_blank(tmp_path):
    table = read_table(write_text(tmp_path, "episode_id,child_id\nE1,C1,,,\nE2\n,,,,,,,\n"))
    assert rows_of(table) == [
        {ROW_NUMBER: 2, "episode_id": "E1", "child_id": "C1"},
        {ROW_NUMBER: 3, "episode_id": "E2", "child_id": ""},
    ]
    assert table.blank_rows == 1


def test_a_value_beyond_the_last_named_column_is_refused(tmp_path):
    path = write_text(tmp_path, "episode_id,child_id\nE1,C1\nE2,C2,,surprise\n")
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "row 3" in msg and "column D" in msg and "'surprise'" in msg and str(path) in msg


def test_leading_zeros_and_number_like_text_are_kept(tmp_path):
    path = write_text(tmp_path, "episode_id,child_id,age\n007,000123,1e3\n 08 , 9.50 ,  \n")
    table = read_table(path)
    assert table.frame["episode_id"].tolist() == ["007", "08"]
    assert table.frame["child_id"].tolist() == ["000123", "9.50"]
    assert table.frame["age"].tolist() == ["1e3", ""]


def test_header_only_gives_an_empty_frame_with_the_columns(tmp_path):
    table = read_table(write_text(tmp_path, HEADER + "\n"))
    assert table.frame.empty
    assert list(table.frame.columns) == [ROW_NUMBER, *HEADER.split(",")]


# --- files that are not tables ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n\t\r\n  ", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n\n", b",,,\n,,,\n", b"\xff\xfe"],
)
def test_empty_or_blank_file_is_refused(tmp_path, data):
    path = write_bytes(tmp_path, data)
    with pytest.raises(InputError, match=r"is empty") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_binary_garbage_is_refused(tmp_path):
    rng = random.Random(20200131)
    data = bytes(rng.randrange(256) for _ in range(5000)) + b"\x00\x00"
    path = write_bytes(tmp_path, data, "episodes.csv")
    with pytest.raises(InputError, match=r"not a text CSV file \(it contains binary data\)"):
        read_table(path)


def test_a_nul_byte_late_in_a_large_file_is_refused(tmp_path):
    data = (HEADER + "\n").encode() + b"E,C,2020-01-01,1,2\n" * 5000 + b"E,C\x00,x,1,2\n"
    with pytest.raises(InputError, match=r"binary data"):
        read_table(write_bytes(tmp_path, data))


def test_text_that_is_neither_utf8_nor_cp1252_is_refused(tmp_path):
    path = write_bytes(tmp_path, HEADER.encode() + b"\nE1,\x81\x8d,x,1,2\n")
    with pytest.raises(InputError, match=r"neither UTF-8 nor Windows-1252.*0x81"):
        read_table(path)


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError, match=r"does not exist") as info:
        read_table(path, what="homes register")
    assert str(path) in str(info.value)
    assert "homes register" in str(info.value)


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"is a folder, not a file"):
        read_table(tmp_path)


@pytest.mark.parametrize("name", ["old.xls", "protected.xlsx", "renamed.csv"])
def test_ole_workbook_is_refused_with_advice(tmp_path, name):
    path = write_bytes(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, name)
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "old Excel .xls workbook" in msg
    assert "save it as .xlsx or as CSV" in msg
    assert str(path) in msg


def test_a_text_file_named_xls_is_read_as_text_with_a_note(tmp_path):
    path = write_text(tmp_path, HEADER.replace(",", "\t") + "\nE1\tC1\tx\t1\t2\n", "export.xls")
    table = read_table(path)
    assert table.frame.at[0, "episode_id"] == "E1"
    assert table.notes[0] == "the file is named .xls but is a text file; read as tab-separated text"


def test_an_html_export_is_refused(tmp_path):
    path = write_text(tmp_path, "<html><table><tr><td>episode_id</td></tr></table></html>", "e.xls")
    with pytest.raises(InputError, match=r"web page or XML document"):
        read_table(path)


def test_sheet_name_for_a_csv_is_refused(tmp_path):
    path = write_text(tmp_path, HEADER + "\nE1,C1,x,1,2\n")
    with pytest.raises(InputError, match=r"sheet name \('Episodes'\) was given.*not an XLSX"):
        read_table(path, sheet="Episodes")


def test_input_error_is_a_hotspot_error_so_the_cli_prints_no_traceback(tmp_path):
    with pytest.raises(HotspotError):
        read_table(tmp_path / "missing.csv")


# --- XLSX --------------------------------------------------------------------------------------


def test_xlsx_cells_become_text(tmp_path):
    path = write_xlsx(
        tmp_path,
        {
            "Episodes": [
                ["Episode ID", "child_id", "missing_from", "returned", "age", "lat", "flag", "t"],
                ["007", 42, dt.datetime(2020, 1, 31, 14, 5), dt.date(2020, 2, 1), 12.0, 51.752,
                 True, dt.time(9, 30)],
                [8, "C2", dt.datetime(2020, 3, 1), dt.datetime(2020, 3, 1, 23, 59, 59, 999_999),
                 14, -1.5, False, None],
            ]
        },
    )  # fmt: skip
    table = read_table(path)
    assert table.encoding == "xlsx"
    assert table.delimiter is None
    assert table.sheet == "Episodes"
    assert table.notes == ()
    assert rows_of(table) == [
        {
            ROW_NUMBER: 2,
            "episode_id": "007",
            "child_id": "42",
            "missing_from": "2020-01-31 14:05:00",
            "returned": "2020-02-01",
            "age": "12",
            "lat": "51.752",
            "flag": "true",
            "t": "09:30:00",
        },
        {
            ROW_NUMBER: 3,
            "episode_id": "8",
            "child_id": "C2",
            "missing_from": "2020-03-01",
            "returned": "2020-03-02",
            "age": "14",
            "lat": "-1.5",
            "flag": "false",
            "t": "",
        },
    ]


def test_xlsx_blank_rows_are_skipped_and_counted(tmp_path):
    rows = [["episode_id", "child_id"], ["E1", "C1"], [], [None, "  "], ["E2", "C2"]]
    table = read_table(write_xlsx(tmp_path, {"S": rows}))
    assert table.frame[ROW_NUMBER].tolist() == [2, 5]
    assert table.blank_rows == 2


def test_xlsx_header_below_blank_rows(tmp_path):
    rows = [[], [], ["episode_id", "child_id"], ["E1", "C1"]]
    table = read_table(write_xlsx(tmp_path, {"S": rows}))
    assert table.frame[ROW_NUMBER].tolist() == [4]


def test_xlsx_several_sheets_reads_the_first_with_a_note(tmp_path):
    path = write_xlsx(
        tmp_path,
        {"Episodes": [["episode_id"], ["E1"]], "Lookup": [["code"], ["X"]], "Notes": [["n"]]},
    )
    table = read_table(path)
    assert table.sheet == "Episodes"
    assert table.frame["episode_id"].tolist() == ["E1"]
    assert len(table.notes) == 1
    expected = "3 sheets (Episodes, Lookup, Notes); read the first visible one, 'Episodes'"
    assert expected in table.notes[0]


@pytest.mark.parametrize("asked", ["Lookup", "lookup", " LOOKUP "])
def test_xlsx_sheet_chosen_by_name(tmp_path, asked):
    path = write_xlsx(tmp_path, {"Episodes": [["episode_id"], ["E1"]], "Lookup": [["code"], ["X"]]})
    table = read_table(path, sheet=asked)
    assert table.sheet == "Lookup"
    assert rows_of(table) == [{ROW_NUMBER: 2, "code": "X"}]
    assert table.notes == ()


def test_xlsx_missing_sheet_is_refused_listing_the_sheets(tmp_path):
    path = write_xlsx(tmp_path, {"Episodes": [["episode_id"]], "Homes": [["home_id"]]})
    with pytest.raises(InputError) as info:
        read_table(path, sheet="Missing")
    msg = str(info.value)
    assert "no sheet named 'Missing'" in msg
    assert "Sheets found: 'Episodes', 'Homes'" in msg
    assert str(path) in msg


def test_xlsx_empty_sheet_is_refused(tmp_path):
    path = write_xlsx(tmp_path, {"Episodes": [["episode_id"], ["E1"]], "Empty": []})
    with pytest.raises(InputError, match=r"sheet 'Empty', is empty"):
        read_table(path, sheet="Empty")


def test_xlsx_value_beyond_the_header_is_refused(tmp_path):
    path = write_xlsx(tmp_path, {"S": [["episode_id", "child_id"], ["E1", "C1", None, "x"]]})
    with pytest.raises(InputError) as info:
        read_table(path)
    msg = str(info.value)
    assert "sheet 'S'" in msg and "row 2" in msg and "column D" in msg and "'x'" in msg


def test_xlsx_duplicate_headers_are_refused(tmp_path):
    path = write_xlsx(tmp_path, {"S": [["lat", "LAT"], [1, 2]]})
    with pytest.raises(InputError, match=r"'lat'.*'LAT'"):
        read_table(path)


@pytest.mark.parametrize("name", ["corrupt.xlsx", "corrupt.xlsm"])
def test_corrupt_xlsx_is_refused(tmp_path, name):
    rng = random.Random(7)
    path = write_bytes(tmp_path, bytes(rng.randrange(256) for _ in range(4000)), name)
    with pytest.raises(InputError, match=r"is not an XLSX workbook") as info:
        read_table(path)
    assert str(path) in str(info.value)


def test_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "episodes.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("episodes.csv", HEADER)
    with pytest.raises(InputError, match=r"not a readable XLSX workbook"):
        read_table(path)


def test_truncated_xlsx_is_refused(tmp_path):
    good = write_xlsx(tmp_path, {"S": [["episode_id"], *[[f"E{i}"] for i in range(200)]]})
    path = write_bytes(tmp_path, good.read_bytes()[:-200], "truncated.xlsx")
    with pytest.raises(InputError, match=r"not a readable XLSX workbook"):
        read_table(path)


def test_xlsx_saved_under_a_csv_name_is_read_with_a_note(tmp_path):
    good = write_xlsx(tmp_path, {"S": [["episode_id"], ["E1"]]})
    path = write_bytes(tmp_path, good.read_bytes(), "episodes.csv")
    table = read_table(path)
    assert table.frame["episode_id"].tolist() == ["E1"]
    assert table.notes == ("the file is named .csv but is an XLSX workbook",)


def test_xlsx_with_a_wrong_recorded_size_is_read_in_full(tmp_path):
    good = write_xlsx(
        tmp_path, {"S": [["episode_id", "child_id"], *[[f"E{i}", "C"] for i in range(5)]]}
    )
    path = tmp_path / "small_dimension.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1"/>', data)
                assert n == 1
            dst.writestr(item, data)
    table = read_table(path)
    assert table.frame["episode_id"].tolist() == [f"E{i}" for i in range(5)]
    assert table.frame["child_id"].tolist() == ["C"] * 5


def test_xlsx_and_csv_of_the_same_data_read_the_same(tmp_path):
    rows = [["episode_id", "child_id", "missing_from"], ["001", "C1", "31/01/2020"], [],
            ["E2", "C2", "2020-02-01 10:00"]]  # fmt: skip
    xlsx = read_table(write_xlsx(tmp_path, {"S": rows}))
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    csv_table = read_table(write_text(tmp_path, buf.getvalue()))
    pd.testing.assert_frame_equal(xlsx.frame, csv_table.frame)
    assert xlsx.blank_rows == csv_table.blank_rows == 1


# --- property: what csv.writer writes, read_table reads back ---------------------------------

# Windows-1252 bytes of "£", "é" or a curly apostrophe can form valid UTF-8 sequences ("é££"),
# which no reader can tell apart; "üÿ" (bytes 0xFC, 0xFF) never can: the cp1252 cases use those.
_ASCII = list("abcXYZ019 ,;\"'\n\r\t-/.:")
_ALPHABETS = {"utf-8": "£é\u2019€", "utf-8-sig": "£é\u2019", "utf-16": "£é\u2019€", "cp1252": "üÿ"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), encoding=st.sampled_from(sorted(_ALPHABETS)))
def test_round_trip_of_csv_writer_output(tmp_path, data, encoding):
    cell = st.text(alphabet=st.sampled_from(_ASCII + list(_ALPHABETS[encoding])), max_size=12)
    rows = data.draw(st.lists(st.lists(cell, min_size=3, max_size=3), min_size=1, max_size=15))
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(["a", "b", "c"])
    writer.writerows(rows)
    path = write_text(tmp_path, buf.getvalue(), encoding=encoding)
    table = read_table(path)
    expected = [
        (number, [c.strip() for c in row])
        for number, row in enumerate(rows, start=2)
        if any(c.strip() for c in row)
    ]
    got = [(r[ROW_NUMBER], [r["a"], r["b"], r["c"]]) for r in table.frame.to_dict("records")]
    assert got == expected
    assert table.blank_rows == len(rows) - len(expected)


_CELL = st.text(alphabet=st.sampled_from(list("ab1 ,;\"\t\r\n\xa0\x0b")), max_size=6)


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=4), min_size=1, max_size=6),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_strip_screen_never_misses_a_cell_with_whitespace_at_an_edge(rows, delimiter):
    """The reader skips stripping when the screen says no cell needs it: it must be right."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    text = buffer.getvalue()
    if not _cells_may_need_strip(text.encode("utf-8"), delimiter):
        parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        assert all(cell == cell.strip() for row in parsed for cell in row)


def test_strip_screen_lets_plain_files_through():
    text = "episode_id,missing_from,lat\nE1,2020-01-01 10:00,51.7\nE2,2020-01-02,51.8\n"
    assert not _cells_may_need_strip(text.encode(), ",")
    for bad in ("E1 ,x\n", "E1, x\n", "E1,\"x \"\n", "E1,x\t\n", "E1,x\r\ny\rz\n", "é ,x\n"):
        assert _cells_may_need_strip(bad.encode(), ",")
    # tab-separated: a quoted cell with a tab at its edge (found in review)
    assert _cells_may_need_strip(b'episode_id\tchild_id\nE2\t"C2\t"\n', "\t")
    assert not _cells_may_need_strip(b"episode_id\tchild_id\nE2\tC2\n", "\t")
