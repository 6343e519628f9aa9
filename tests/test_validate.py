"""geo.validate: the per-row audit of the episodes file (DATA-CONTRACT section 1).

All data are synthetic. Most tables are built in memory (as `read_table` would return them);
the tests that need a file write it under tmp_path.
"""

import csv
import datetime as dt
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from pyproj import Transformer

from geo import schema as s
from geo.episodes import Table, read_table
from geo.errors import InputError, ParameterError
from geo.validate import (
    _PLAIN_ISO,
    DateParse,
    Period,
    _Audit,
    _col,
    _plain_iso,
    check_columns,
    parse_dates,
    validate_episodes,
)

COLUMNS = ["episode_id", "child_id", "missing_from", "returned", "lat", "lon", "easting",
           "northing", "postcode"]  # fmt: skip
OXFORD = ("51.752", "-1.2577")


def make_table(rows, columns=None, path="episodes.csv", first_row=2) -> Table:
    """A `Table` as `read_table` returns it: str cells, `row_number` from `first_row`."""
    cols = (
        list(columns)
        if columns is not None
        else list(dict.fromkeys([*COLUMNS, *(k for r in rows for k in r)]))
    )
    frame = pd.DataFrame(
        {c: pd.Series([str(r.get(c, "")) for r in rows], dtype="str") for c in cols}
    )
    frame.insert(0, s.ROW_NUMBER, np.arange(first_row, first_row + len(rows), dtype="int64"))
    return Table(frame, Path(path), "utf-8", ",", None, {c: c for c in cols})


def ep(i=1, **fields) -> dict[str, str]:
    row = {"episode_id": f"E{i}", "child_id": f"C{i}", "missing_from": "2020-01-31 14:05",
           "lat": OXFORD[0], "lon": OXFORD[1]}  # fmt: skip
    row.update(fields)
    return row


def validate_rows(rows, **kwargs) -> pd.DataFrame:
    return validate_episodes(make_table(rows), **kwargs)


def one(**fields) -> pd.Series:
    return validate_rows([ep(**fields)]).iloc[0]


def write_csv(tmp_path: Path, rows: list[dict[str, str]], name="episodes.csv") -> Path:
    path = tmp_path / name
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in cols} for r in rows)
    return path


# --- a good row ------------------------------------------------------------------------------


def test_a_good_row_is_kept_with_typed_columns():
    out = validate_rows([ep(returned="31/01/2020 20:35", sex="F", age="15")])
    assert len(out) == 1
    row = out.iloc[0]
    assert row[s.ROW_NUMBER] == 2
    assert row[s.STATUS] == ""
    assert row[s.REASON] == ""
    assert row[s.DETAIL] == ""
    assert row[s.WARNINGS] == ""
    assert row[s.MISSING_FROM] == pd.Timestamp("2020-01-31 14:05")
    assert row[s.RETURNED] == pd.Timestamp("2020-01-31 20:35")
    assert row[s.DURATION_HOURS] == pytest.approx(6.5)
    assert (row[s.LAT], row[s.LON]) == (51.752, -1.2577)
    assert row[s.PRECISION] == "coordinates"
    assert row[s.SEX] == "female"
    assert row[s.AGE] == 15
    assert row[s.AGE_BAND] == "14_16"
    assert out[s.MISSING_FROM].dtype == "datetime64[ns]"
    assert out[s.AGE].dtype == "Int64"
    assert out[s.ROW_NUMBER].dtype == "int64"


def test_missing_returned_gives_no_duration():
    row = one(returned="")
    assert pd.isna(row[s.RETURNED])
    assert pd.isna(row[s.DURATION_HOURS])
    assert row[s.STATUS] == ""


# --- every rejection reason --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason", "detail"),
    [
        ({"episode_id": ""}, "missing_episode_id", "`episode_id` is blank"),
        ({"child_id": ""}, "missing_child_id", "`child_id` is blank"),
        ({"missing_from": ""}, "missing_date", "`missing_from` is blank"),
        (
            {"missing_from": "31/02/2020"},
            "invalid_date",
            "`missing_from` = '31/02/2020': no such date",
        ),
        ({"missing_from": "2020-02-30"}, "invalid_date", "'2020-02-30': no such date"),
        ({"missing_from": "29/02/2021"}, "invalid_date", "no such date"),
        ({"missing_from": "yesterday"}, "invalid_date", "'yesterday': not a date in a recognised"),
        ({"missing_from": "Jan 31 2020"}, "invalid_date", "not a date in a recognised format"),
        ({"missing_from": "31/01/20"}, "invalid_date", "'31/01/20': two-digit years are ambiguous"),
        ({"missing_from": "31/01/20 14:05"}, "invalid_date", "two-digit years are ambiguous"),
        ({"missing_from": "2020-01-31 25:00"}, "invalid_date", "no such time of day"),
        ({"missing_from": "2020-01-31 14:60"}, "invalid_date", "no such time of day"),
        ({"missing_from": "0202-01-31"}, "invalid_date", "the year is outside 1900-2100"),
        ({"missing_from": "31/01/3020"}, "invalid_date", "the year is outside 1900-2100"),
        ({"missing_from": "31/01-2020"}, "invalid_date", "not a date in a recognised format"),
        ({"returned": "2020-02-30"}, "invalid_date", "`returned` = '2020-02-30': no such date"),
        ({"returned": "soon"}, "invalid_date", "`returned` = 'soon'"),
        (
            {"returned": "2020-01-31 14:04"},
            "returned_before_missing",
            "`returned` '2020-01-31 14:04' is before `missing_from` '2020-01-31 14:05'",
        ),
        ({"lat": "51.7", "lon": ""}, "invalid_coordinates", "both `lat` and `lon` are needed"),
        ({"lat": "", "lon": "-1.2"}, "invalid_coordinates", "both `lat` and `lon` are needed"),
        (
            {"lat": "51.7N", "lon": "-1.2"},
            "invalid_coordinates",
            "`lat` = '51.7N', `lon` = '-1.2': not numbers",
        ),
        ({"lat": "51,75", "lon": "-1,26"}, "invalid_coordinates", "not numbers"),
        ({"lat": "nan", "lon": "inf"}, "invalid_coordinates", "not numbers"),
        ({"lat": "-1.2577", "lon": "51.752"}, "invalid_coordinates", "lat and lon look swapped"),
        ({"lat": "0", "lon": "0.0"}, "invalid_coordinates", "0,0 is a placeholder"),
        ({"lat": "95", "lon": "-1.2"}, "invalid_coordinates", "out of range for WGS84 degrees"),
        ({"lat": "51.7", "lon": "-200"}, "invalid_coordinates", "out of range for WGS84 degrees"),
        ({"lat": "206000", "lon": "451000"}, "invalid_coordinates", "out of range for WGS84"),
        (
            {"lat": "", "lon": "", "easting": "451", "northing": "206"},
            "invalid_coordinates",
            "`easting` = '451', `northing` = '206': looks like kilometres; expected metres",
        ),
        (
            {"lat": "", "lon": "", "easting": "800000", "northing": "206000"},
            "invalid_coordinates",
            "outside the British National Grid",
        ),
        (
            {"lat": "", "lon": "", "easting": "-5", "northing": "206000"},
            "invalid_coordinates",
            "outside the British National Grid",
        ),
        (
            {"lat": "", "lon": "", "easting": "451000", "northing": ""},
            "invalid_coordinates",
            "both `easting` and `northing` are needed",
        ),
        (
            {"lat": "", "lon": "", "easting": "451 000", "northing": "206000"},
            "invalid_coordinates",
            "not numbers",
        ),
        (
            {"lat": "", "lon": "", "easting": "0", "northing": "0"},
            "invalid_coordinates",
            "0,0 is a placeholder",
        ),
        (
            {"lat": "", "lon": "", "postcode": "OX1 1AA"},
            "no_location",
            "only a `postcode` ('OX1 1AA')",
        ),
        (
            {"lat": "", "lon": ""},
            "no_location",
            "no `lat`/`lon`, `easting`/`northing` or `postcode` given",
        ),
    ],
)
def test_rejection_reasons(fields, reason, detail):
    row = one(**fields)
    assert row[s.STATUS] == s.REJECTED
    assert row[s.REASON] == reason
    assert reason in s.REASONS
    assert detail in row[s.DETAIL]
    # a rejected row keeps its row number and ids, and has no position
    assert row[s.ROW_NUMBER] == 2
    assert np.isnan(row[s.LAT]) and np.isnan(row[s.X])
    assert row[s.PRECISION] == ""


def test_invalid_date_detail_says_what_was_expected():
    row = one(missing_from="31/01/20")
    assert row[s.DETAIL] == (
        "`missing_from` = '31/01/20': two-digit years are ambiguous; write the year in full; "
        "expected ISO (2020-01-31 14:05) or UK day-first (31/01/2020 14:05)"
    )


def test_duplicate_episode_ids_name_the_first_row():
    rows = [ep(1), ep(2), ep(1, child_id="X"), ep(1), ep(3, episode_id="e1")]
    out = validate_rows(rows)
    assert out[s.REASON].tolist() == ["", "", "duplicate_episode_id", "duplicate_episode_id", ""]
    assert out[s.DETAIL].tolist()[2:4] == ["`episode_id` 'E1' already used in row 2"] * 2


def test_duplicate_of_a_rejected_row_is_still_a_duplicate():
    out = validate_rows([ep(1, child_id=""), ep(1)])
    assert out[s.REASON].tolist() == ["missing_child_id", "duplicate_episode_id"]


def test_blank_episode_ids_are_missing_not_duplicates():
    out = validate_rows([ep(1, episode_id=""), ep(2, episode_id="")])
    assert out[s.REASON].tolist() == ["missing_episode_id", "missing_episode_id"]


def test_duplicate_row_numbers_follow_the_file_after_blank_rows(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        "episode_id,child_id,missing_from,lat,lon\n\n\nE1,C1,2020-01-01,51.7,-1.2\n"
        ",,,,\nE1,C2,2020-01-01,51.7,-1.2\n",
        encoding="utf-8",
    )
    out = validate_episodes(read_table(path))
    assert out[s.ROW_NUMBER].tolist() == [4, 6]
    assert out[s.DETAIL].iloc[1] == "`episode_id` 'E1' already used in row 4"


def test_precedence_follows_the_order_of_reasons():
    """A row with every problem gets the first reason; fixing each reveals the next."""
    fields = {"episode_id": "", "child_id": "", "missing_from": "", "lat": "", "lon": ""}
    steps = [
        ("missing_episode_id", {"episode_id": "E1"}),
        ("missing_child_id", {"child_id": "C1"}),
        ("missing_date", {"missing_from": "31/02/2020"}),
        ("invalid_date", {"missing_from": "2020-07-01", "returned": "2020-06-30"}),
        ("returned_before_missing", {"returned": ""}),
        ("outside_period", {"missing_from": "2020-06-30 23:59", "lat": "51.7"}),
        ("invalid_coordinates", {"lat": ""}),
        ("no_location", {"lat": "51.7", "lon": "-1.2"}),
        ("", {}),
    ]
    period = Period.parse("2020-01-01:2020-06-30")
    seen = []
    for reason, fix in steps:
        row = validate_rows([ep(**fields)], period=period).iloc[0]
        assert row[s.REASON] == reason, (fields, row[s.DETAIL])
        seen.append(reason)
        fields.update(fix)
    order = [r for r in s.REASONS if r in seen]
    assert order == [r for r in seen if r and r != "duplicate_episode_id"]


def test_duplicate_comes_before_missing_child():
    out = validate_rows([ep(1), ep(1, child_id="", missing_from="")])
    assert out[s.REASON].tolist() == ["", "duplicate_episode_id"]


def test_invalid_missing_from_comes_before_invalid_returned():
    row = one(missing_from="32/01/2020", returned="nope")
    assert row[s.REASON] == "invalid_date"
    assert row[s.DETAIL].startswith("`missing_from` = '32/01/2020'")


# --- dates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-01-31", "2020-01-31 00:00"),
        ("2020-1-5", "2020-01-05 00:00"),
        ("2020-01-31 14:05", "2020-01-31 14:05"),
        ("2020-01-31T14:05", "2020-01-31 14:05"),
        ("2020-01-31T14:05:00", "2020-01-31 14:05"),
        ("2020-01-31 14:05:09", "2020-01-31 14:05:09"),
        ("2020-01-31 14:05:09.250", "2020-01-31 14:05:09.250"),
        ("2020-01-31T14:05:00Z", "2020-01-31 14:05"),  # winter: UTC = UK time
        ("2020-06-30T13:05:00Z", "2020-06-30 14:05"),  # summer: BST = UTC+1
        ("2020-06-30T14:05:00+01:00", "2020-06-30 14:05"),
        ("2020-06-30T14:05:00+0100", "2020-06-30 14:05"),
        ("2020-06-30 09:05-04:00", "2020-06-30 14:05"),
        ("2020-03-29T01:30:00Z", "2020-03-29 02:30"),  # the clocks went forward at 01:00 UTC
        ("31/01/2020", "2020-01-31 00:00"),
        ("31/01/2020 14:05", "2020-01-31 14:05"),
        ("31/01/2020 14:05:30", "2020-01-31 14:05:30"),
        ("5/1/2020", "2020-01-05 00:00"),
        ("31-01-2020", "2020-01-31 00:00"),
        ("31.01.2020", "2020-01-31 00:00"),
        ("  31/01/2020  ", "2020-01-31 00:00"),
        # Decision: year-first with '/' or '.' is as unambiguous as ISO, so it is accepted.
        ("2020/01/31", "2020-01-31 00:00"),
        ("2020.01.31 14:05", "2020-01-31 14:05"),
        ("29/02/2020", "2020-02-29 00:00"),
    ],
)
def test_accepted_date_formats(text, expected):
    parsed = parse_dates(pd.Series([text]))
    assert parsed.values.iloc[0] == pd.Timestamp(expected)
    assert not parsed.invalid.iloc[0]
    assert not parsed.blank.iloc[0]
    row = one(missing_from=text)
    assert row[s.STATUS] == ""
    assert row[s.MISSING_FROM] == pd.Timestamp(expected)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("01/31/2020", "month_first"),
        ("2020/31/01", "no_such_date"),
        ("Jan 31 2020", "format"),
        ("31 January 2020", "format"),
        ("31/01/20", "two_digit_year"),
        ("20200131", "format"),
        ("2020-01-31+01:00", "format"),  # an offset needs a time
        ("31/01/2020 2:05 PM", "format"),
        ("2020-01-31 24:00", "no_such_time"),
        ("2020-06-30T14:05:00+15:00", "no_such_time"),
        ("1899-12-31", "year_range"),
        ("43861", "format"),  # an Excel serial number exported as text
    ],
)
def test_rejected_date_formats(text, why):
    parsed = parse_dates(pd.Series([text]))
    assert parsed.invalid.iloc[0]
    assert pd.isna(parsed.values.iloc[0])
    assert parsed.why.iloc[0] == why


def test_parse_dates_keeps_the_index_and_flags_blanks():
    text = pd.Series(
        ["", " ", "03/04/2020", "13/04/2020", "04/13/2020", None], index=[5, 7, 9, 11, 13, 15]
    )
    parsed = parse_dates(text)
    assert isinstance(parsed, DateParse)
    for series in (parsed.values, parsed.blank, parsed.invalid, parsed.month_first):
        assert series.index.tolist() == [5, 7, 9, 11, 13, 15]
    assert parsed.blank.tolist() == [True, True, False, False, False, True]
    assert parsed.invalid.tolist() == [False, False, False, False, True, False]
    assert parsed.month_first.tolist() == [False, False, False, False, True, False]
    assert parsed.day_first_only.tolist() == [False, False, False, True, False, False]
    assert parsed.values[9] == pd.Timestamp("2020-04-03")  # ambiguous: read day-first


def test_month_first_value_in_a_day_first_column_rejects_only_that_row():
    out = validate_rows([ep(1, missing_from="13/01/2020"), ep(2, missing_from="01/31/2020"),
                         ep(3, missing_from="03/04/2020")])  # fmt: skip
    assert out[s.REASON].tolist() == ["", "invalid_date", ""]
    assert "`missing_from` = '01/31/2020': looks month-first (US style" in out[s.DETAIL].iloc[1]
    assert out[s.MISSING_FROM].iloc[2] == pd.Timestamp("2020-04-03")


def test_month_first_column_is_refused_naming_column_row_and_value(tmp_path):
    rows = [ep(1, missing_from="03/04/2020"), ep(2, missing_from="04/05/2020"),
            ep(3, missing_from="01/31/2020"), ep(4, missing_from="02/28/2020")]  # fmt: skip
    path = write_csv(tmp_path, rows)
    with pytest.raises(InputError) as info:
        validate_episodes(read_table(path))
    msg = str(info.value)
    assert str(path) in msg
    assert "column `missing_from` looks month-first" in msg
    assert "2 value(s) such as '01/31/2020' in row 4" in msg


def test_month_first_returned_column_is_refused(tmp_path):
    rows = [ep(1, missing_from="2020-01-01", returned="01/31/2020")]
    with pytest.raises(
        InputError, match=r"column `returned` looks month-first.*'01/31/2020' in row 2"
    ):
        validate_episodes(read_table(write_csv(tmp_path, rows)))


def test_ambiguous_only_column_is_read_day_first():
    out = validate_rows([ep(1, missing_from="03/04/2020"), ep(2, missing_from="12/11/2020 10:00")])
    assert out[s.REASON].tolist() == ["", ""]
    assert out[s.MISSING_FROM].tolist() == [pd.Timestamp("2020-04-03"),
                                            pd.Timestamp("2020-11-12 10:00")]  # fmt: skip


def test_excel_dates_from_an_xlsx_are_parsed(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Episode ID", "Child ID", "Missing From", "Returned", "Lat", "Lon", "DOB"])
    ws.append(["E1", "C1", dt.datetime(2020, 1, 31, 14, 5), dt.datetime(2020, 2, 1, 9, 0),
               51.752, -1.2577, dt.date(2005, 2, 1)])  # fmt: skip
    ws.append(["E2", "C2", dt.date(2020, 2, 1), None, 51.752, -1.2577, dt.date(2005, 2, 1)])
    path = tmp_path / "episodes.xlsx"
    wb.save(path)
    out = validate_episodes(read_table(path))
    assert out[s.REASON].tolist() == ["", ""]
    assert out[s.MISSING_FROM].tolist() == [pd.Timestamp("2020-01-31 14:05"),
                                            pd.Timestamp("2020-02-01")]  # fmt: skip
    assert out[s.RETURNED].iloc[0] == pd.Timestamp("2020-02-01 09:00")
    assert out[s.DURATION_HOURS].iloc[0] == pytest.approx(18 + 55 / 60)
    assert out[s.AGE].tolist() == [14, 15]


# --- whole-file problems -----------------------------------------------------------------------


def test_missing_required_columns_are_listed_with_the_columns_found():
    table = make_table([{"Episode ID": "E1", "lat": "1", "lon": "2"}],
                       columns=["episode_id", "lat", "lon"])  # fmt: skip
    with pytest.raises(InputError) as info:
        validate_episodes(table)
    msg = str(info.value)
    assert "episodes.csv is missing the required column(s) `child_id`, `missing_from`" in msg
    assert "Columns found: 'episode_id', 'lat', 'lon'" in msg


@pytest.mark.parametrize(
    ("columns", "fragment"),
    [
        (["episode_id", "child_id", "missing_from", "lat", "postcode"],
         "has a `lat` column but no `lon` column"),
        (["episode_id", "child_id", "missing_from", "lon"], "has a `lon` column but no `lat`"),
        (["episode_id", "child_id", "missing_from", "easting", "postcode"],
         "has an `easting` column but no `northing`"),
        (["episode_id", "child_id", "missing_from", "sex"], "has no location columns"),
    ],
)  # fmt: skip
def test_incomplete_location_columns_are_refused(columns, fragment):
    table = make_table([dict.fromkeys(columns, "1")], columns=columns)
    with pytest.raises(InputError, match=fragment):
        check_columns(table)
    with pytest.raises(InputError, match=fragment):
        validate_episodes(table)


def test_postcode_alone_is_an_acceptable_location_column():
    table = make_table([ep(postcode="OX1 1AA")], columns=["episode_id", "child_id",
                                                         "missing_from", "postcode"])  # fmt: skip
    check_columns(table)


def test_header_only_is_refused(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("episode_id,child_id,missing_from,lat,lon\n,,,,\n\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"has a header row but no data rows \(2 blank rows"):
        validate_episodes(read_table(path))
    with pytest.raises(InputError, match=r"has a header row but no data rows\.$"):
        validate_episodes(make_table([]))


# --- coordinates -------------------------------------------------------------------------------


def test_easting_northing_converted_to_lat_lon():
    to_wgs = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs.transform(451000, 206000)
    row = one(lat="", lon="", easting="451000", northing="206000")
    assert row[s.STATUS] == ""
    assert row[s.PRECISION] == "coordinates"
    assert (row[s.X], row[s.Y]) == (451000.0, 206000.0)
    assert row[s.LAT] == round(lat, 6)
    assert row[s.LON] == round(lon, 6)
    assert row[s.LAT] == pytest.approx(51.75, abs=0.01)
    assert row[s.LON] == pytest.approx(-1.26, abs=0.01)


def test_lat_lon_projected_to_bng_metres():
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = to_bng.transform(-1.2577, 51.752)
    row = one()
    assert row[s.X] == pytest.approx(x, abs=1e-6)
    assert row[s.Y] == pytest.approx(y, abs=1e-6)


def test_lat_lon_rounded_to_six_decimals():
    row = one(lat="51.75212345678", lon="-1.25771234567")
    assert (row[s.LAT], row[s.LON]) == (51.752123, -1.257712)


def test_lat_lon_takes_precedence_over_easting_northing():
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, _ = to_bng.transform(-1.2577, 51.752)
    row = one(easting="300000", northing="100000")
    assert row[s.STATUS] == ""
    assert row[s.X] == pytest.approx(x, abs=1e-6)


def test_invalid_lat_lon_is_not_replaced_by_easting_northing():
    """Documented: the first location form that is filled in decides, even when it is wrong."""
    row = one(lat="51.7", lon="", easting="451000", northing="206000")
    assert row[s.REASON] == "invalid_coordinates"
    assert "both `lat` and `lon` are needed" in row[s.DETAIL]


def test_easting_northing_take_precedence_over_postcode():
    row = one(lat="", lon="", easting="451000", northing="206000", postcode="ZZ99 9ZZ")
    assert row[s.STATUS] == ""
    assert row[s.X] == 451000.0


def test_coordinates_abroad_are_kept_for_the_area_step():
    row = one(lat="48.8566", lon="2.3522")  # Paris: valid WGS84, outside every boundary later
    assert row[s.STATUS] == ""
    assert row[s.LAT] == 48.8566


# --- optional columns --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "raw", "expected"),
    [
        ("sex", "M", "male"),
        ("sex", "male", "male"),
        ("sex", "1", "male"),
        ("sex", " F ", "female"),
        ("sex", "2", "female"),
        ("sex", "Girl", "female"),
        ("sex", "9", "unknown"),
        ("sex", "", "unknown"),
        ("care_status", "LAC", "looked_after"),
        ("care_status", "CLA", "looked_after"),
        ("care_status", "Looked After", "looked_after"),
        ("care_status", "looked-after", "looked_after"),
        ("care_status", "CIN", "child_in_need"),
        ("care_status", "Child in Need", "child_in_need"),
        ("care_status", "CP", "child_protection"),
        ("care_status", "none", "none"),
        ("placement_type", "Foster", "foster"),
        ("placement_type", "children's home", "residential"),
        ("placement_type", "Children\u2019s Home", "residential"),
        ("placement_type", "Semi-Independent", "semi_independent"),
        ("placement_type", "semi_independent", "semi_independent"),
        ("placement_type", "Family Home", "family_home"),
        ("placement_type", "other", "other"),
        ("category", "M", "missing"),
        ("category", "A", "absent"),
        ("category", "Absent", "absent"),
        ("category", "missing", "missing"),
        ("risk", "High", "high"),
        ("risk", "MEDIUM", "medium"),
        ("risk", "low", "low"),
        ("risk", "No Apparent Risk", "no_apparent_risk"),
        ("risk", "no_apparent_risk", "no_apparent_risk"),
    ],
)
def test_category_columns_are_normalised(column, raw, expected):
    row = one(**{column: raw})
    assert row[column] == expected
    assert row[s.WARNINGS] == ""
    assert row[s.STATUS] == ""


@pytest.mark.parametrize(
    ("column", "raw"),
    [("sex", "X"), ("care_status", "LAC?"), ("placement_type", "tent"), ("category", "gone"),
     ("risk", "very high")],
)  # fmt: skip
def test_unrecognised_category_values_become_unknown_with_a_warning(column, raw):
    row = one(**{column: raw})
    assert row[column] == "unknown"
    assert row[s.WARNINGS] == f"unrecognised_{column}"
    assert row[s.STATUS] == ""
    assert row[s.REASON] == ""


def test_several_warnings_are_joined():
    row = one(sex="X", risk="??", age="-3", ce_screening="perhaps")
    assert (
        row[s.WARNINGS]
        == "unrecognised_sex;unrecognised_risk;invalid_age;unrecognised_ce_screening"
    )
    assert row[s.STATUS] == ""


def test_looked_after_flag():
    out = validate_rows([ep(1, care_status="LAC"), ep(2, care_status="CIN"), ep(3)])
    assert out[s.LOOKED_AFTER].tolist() == ["looked_after", "not_looked_after", "unknown"]


@pytest.mark.parametrize(
    ("missing_from", "dob", "age"),
    [
        ("2020-01-31", "2005-02-01", 14),  # the day before the 15th birthday
        ("2020-02-01", "2005-02-01", 15),  # on the birthday
        ("01/02/2020 00:00", "01/02/2005", 15),
        ("2021-02-28", "2004-02-29", 16),  # leap-day birthday not reached on 28 February
        ("2021-03-01", "2004-02-29", 17),
    ],
)
def test_age_from_dob_when_age_is_blank(missing_from, dob, age):
    row = one(missing_from=missing_from, dob=dob)
    assert row[s.AGE] == age
    assert row[s.WARNINGS] == ""


def test_age_column_wins_over_dob():
    assert one(age="12", dob="2005-02-01")[s.AGE] == 12


@pytest.mark.parametrize("raw", ["-1", "14.5", "26", "150", "fourteen", "inf"])
def test_absurd_ages_are_unknown_with_a_warning(raw):
    row = one(age=raw)
    assert pd.isna(row[s.AGE])
    assert row[s.AGE_BAND] == "unknown"
    assert row[s.WARNINGS] == "invalid_age"
    assert row[s.STATUS] == ""


def test_invalid_age_falls_back_to_dob():
    row = one(age="fourteen", dob="2005-02-01", missing_from="2020-02-01")
    assert row[s.AGE] == 15
    assert row[s.WARNINGS] == "invalid_age"


@pytest.mark.parametrize("dob", ["2021-01-01", "1990-01-01", "31/02/2005", "someday"])
def test_bad_dob_is_a_warning(dob):
    row = one(dob=dob)
    assert pd.isna(row[s.AGE])
    assert row[s.WARNINGS] == "invalid_dob"
    assert row[s.STATUS] == ""


@pytest.mark.parametrize(
    ("age", "band"), [("0", "under_11"), ("10", "under_11"), ("11", "11_13"), ("13", "11_13"),
                      ("14", "14_16"), ("16", "14_16"), ("17", "17_plus"), ("25", "17_plus")]
)  # fmt: skip
def test_age_bands(age, band):
    assert one(age=age)[s.AGE_BAND] == band


@pytest.mark.parametrize(
    ("placing", "expected"),
    [
        ("Oxfordshire County Council", "host"),
        ("oxfordshire", "host"),
        ("OXFORDSHIRE CC", "host"),
        (" Oxfordshire  ", "host"),
        ("Swindon Borough Council", "other"),
        ("London Borough of Hackney", "other"),
        ("Buckinghamshire Council", "other"),
        ("", "unknown"),
        ("Not known", "unknown"),
        ("n/a", "unknown"),
    ],
)
def test_placing_authority(placing, expected):
    row = one(placing_authority=placing)
    assert row[s.PLACED_BY_OTHER_LA] == expected
    assert row[s.PLACING_AUTHORITY] == placing  # kept as written


def test_placing_authority_with_another_host():
    out = validate_rows(
        [
            ep(1, placing_authority="Swindon Borough Council"),
            ep(2, placing_authority="Oxfordshire"),
        ],
        host_authority="Swindon",
    )
    assert out[s.PLACED_BY_OTHER_LA].tolist() == ["host", "other"]


@pytest.mark.parametrize(
    ("raw", "expected", "warning"),
    [("yes", "yes", ""), ("Y", "yes", ""), ("TRUE", "yes", ""), ("1", "yes", ""),
     ("no", "no", ""), ("n", "no", ""), ("false", "no", ""), ("0", "no", ""),
     ("03/02/2020", "yes", ""), ("2020-02-03", "yes", ""), ("", "unknown", ""),
     ("maybe", "unknown", "unrecognised_ce_screening")],
)  # fmt: skip
def test_ce_screening(raw, expected, warning):
    row = one(ce_screening=raw)
    assert row[s.CE_SCREENING] == expected
    assert row[s.WARNINGS] == warning


def test_rhi_dates_are_parsed_and_bad_ones_warned():
    row = one(rhi_offered="01/02/2020 10:00", rhi_completed="tomorrow")
    assert row[s.RHI_OFFERED] == pd.Timestamp("2020-02-01 10:00")
    assert pd.isna(row[s.RHI_COMPLETED])
    assert row[s.WARNINGS] == "invalid_rhi_completed"
    assert row[s.STATUS] == ""


def test_home_id_and_placement_la_are_carried_as_text():
    row = one(home_id="0042", placement_la="Reading")
    assert row[s.HOME_ID] == "0042"
    assert row[s.PLACEMENT_LA] == "Reading"


# --- period ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2020-01-01:2020-06-30", "2020-01-01", "2020-06-30"),
        (":2020-06-30", None, "2020-06-30"),
        ("2020-01-01:", "2020-01-01", None),
        (" 2020-01-01 : 2020-01-01 ", "2020-01-01", "2020-01-01"),
    ],
)
def test_period_parse(text, start, end):
    period = Period.parse(text)
    assert period.start == (pd.Timestamp(start) if start else None)
    assert period.end == (pd.Timestamp(end) if end else None)
    assert Period.parse(str(period)) == period


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2020-06-30:2020-01-01", "ends before it starts"),
        ("2020-1-1:x", "must be ISO (YYYY-MM-DD). Got '2020-1-1'"),
        ("2020-01-01:31/12/2020", "Got '31/12/2020'"),
        ("2020-01-01", "must be START:END"),
        ("2020-01-01:2020-06-30:2020-12-31", "must be START:END"),
        ("2020-02-30:", "impossible date '2020-02-30'"),
    ],
)
def test_period_parse_errors(text, fragment):
    with pytest.raises(ParameterError) as info:
        Period.parse(text)
    assert fragment in str(info.value)


def test_period_end_date_is_inclusive():
    period = Period.parse("2020-01-01:2020-06-30")
    times = ["2019-12-31 23:59", "2020-01-01 00:00", "2020-06-30 23:59", "2020-06-30 23:59:59",
             "2020-07-01 00:00"]  # fmt: skip
    out = validate_rows([ep(i, missing_from=t) for i, t in enumerate(times)], period=period)
    assert out[s.REASON].tolist() == ["outside_period", "", "", "", "outside_period"]
    assert out[s.DETAIL].iloc[0] == (
        "`missing_from` '2019-12-31 23:59' is outside --period 2020-01-01:2020-06-30"
    )


def test_open_ended_periods():
    rows = [ep(1, missing_from="2019-01-01"), ep(2, missing_from="2021-01-01")]
    assert validate_rows(rows, period=Period.parse("2020-01-01:"))[s.REASON].tolist() == [
        "outside_period",
        "",
    ]
    assert validate_rows(rows, period=Period.parse(":2020-01-01"))[s.REASON].tolist() == [
        "",
        "outside_period",
    ]


# --- the audit helpers that geo.homes shares ---------------------------------------------------


def test_audit_keeps_the_first_reason_and_accepts_partial_details():
    index = pd.Index([10, 11, 12])
    audit = _Audit(index)
    audit.reject(pd.Series([True, False, False], index=index), "first", "one")
    audit.reject(pd.Series([True, True, False], index=index), "second",
                 pd.Series(["ignored", "two"], index=[10, 11]))  # fmt: skip
    audit.warn(pd.Series([False, True, True], index=index), "w1")
    audit.warn(pd.Series([False, True, False], index=index), "w2")
    assert audit.reason.tolist() == ["first", "second", ""]
    assert audit.detail.tolist() == ["one", "two", ""]
    assert audit.warnings.tolist() == ["", "w1;w2", "w1"]


def test_col_gives_blank_text_for_an_absent_column():
    frame = pd.DataFrame({"a": ["x", "y"]}, index=[3, 4])
    assert _col(frame, "a").tolist() == ["x", "y"]
    missing = _col(frame, "b")
    assert missing.tolist() == ["", ""]
    assert missing.index.tolist() == [3, 4]


# --- properties --------------------------------------------------------------------------------

_values = {
    "episode_id": st.sampled_from(["E1", "E2", "E3", "", "007", "E1 "]),
    "child_id": st.sampled_from(["C1", "", "C2"]),
    "missing_from": st.sampled_from(
        [
            "2020-01-31",
            "31/01/2020 10:00",
            "",
            "31/02/2020",
            "x",
            "2020-06-30T23:59:00Z",
            "13/01/2020",
            "2019-05-05",
            "01/31/2020",
            "0202-01-31",
            "2020-01-31 25:00",
            "31/01/20",
        ]
    ),
    "returned": st.sampled_from(
        ["", "2020-02-01", "2020-01-01", "bad", "01/02/2020", "9999-01-01"]
    ),
    "lat": st.sampled_from(["", "51.75", "0", "-1.2", "abc", "95"]),
    "lon": st.sampled_from(["", "-1.26", "0", "51.7", "1e400"]),
    "easting": st.sampled_from(["", "451000", "451", "-1"]),
    "northing": st.sampled_from(["", "206000", "206"]),
    "postcode": st.sampled_from(["", "OX1 1AA"]),
    "sex": st.sampled_from(["", "M", "?"]),
    "age": st.sampled_from(["", "14", "-2", "x"]),
    "dob": st.sampled_from(["", "2005-02-01", "nope"]),
    "placing_authority": st.sampled_from(["", "Oxfordshire County Council", "Swindon"]),
    "ce_screening": st.sampled_from(["", "yes", "2020-01-01", "hmm"]),
}
_row = st.fixed_dictionaries(_values)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(_row, min_size=1, max_size=25), use_period=st.booleans())
def test_every_row_comes_out_once_in_order_with_a_known_reason(rows, use_period):
    period = Period.parse("2020-01-01:2020-12-31") if use_period else None
    table = make_table(rows, columns=list(_values), first_row=5)
    starts = [r["missing_from"] for r in rows]
    day_first = {"13/01/2020", "31/02/2020", "31/01/2020 10:00"}  # first number > 12
    if "01/31/2020" in starts and not day_first & set(starts):
        # only month-first evidence in the column: the whole file is refused, naming the row
        with pytest.raises(InputError, match=r"`missing_from` looks month-first") as info:
            validate_episodes(table, period=period)
        assert f"in row {5 + starts.index('01/31/2020')}" in str(info.value)
        return
    out = validate_episodes(table, period=period)
    assert len(out) == len(rows)
    assert out[s.ROW_NUMBER].tolist() == list(range(5, 5 + len(rows)))
    assert out[s.EPISODE_ID].tolist() == [r["episode_id"] for r in rows]
    assert set(out[s.STATUS]) <= {s.REJECTED, ""}
    rejected = out[s.STATUS] == s.REJECTED
    assert out.loc[rejected, s.REASON].isin(list(s.REASONS)).all()
    assert (out.loc[rejected, s.DETAIL] != "").all()
    assert (out.loc[~rejected, s.REASON] == "").all()
    assert (out.loc[~rejected, s.DETAIL] == "").all()
    kept = out.loc[~rejected]
    assert kept[s.LAT].notna().all() and kept[s.X].notna().all()
    assert (kept[s.PRECISION] == "coordinates").all()
    assert out.loc[rejected, s.LAT].isna().all()
    assert (kept[s.DURATION_HOURS].dropna() >= 0).all()
    # ids that are used by an earlier row are always rejected
    ids = [r["episode_id"] for r in rows]
    for i, eid in enumerate(ids):
        if eid and eid in ids[:i]:
            assert out[s.REASON].iloc[i] in {"missing_episode_id", "duplicate_episode_id"}


# --- size -------------------------------------------------------------------------------------


def test_two_hundred_thousand_rows():
    n = 200_000
    rng = np.random.default_rng(7)
    ids = pd.Series(np.arange(n)).astype(str)
    day = pd.Series(rng.integers(1, 29, n)).astype(str).str.zfill(2)
    month = pd.Series(rng.integers(1, 13, n)).astype(str).str.zfill(2)
    columns = {
        "episode_id": "E" + ids,
        "child_id": "C" + (pd.Series(np.arange(n)) % 5000).astype(str),
        "missing_from": day + "/" + month + "/2020 10:30",
        "returned": "2020-" + month + "-" + day + " 22:00",
        "lat": pd.Series(np.round(51.5 + rng.random(n), 5)).astype(str),
        "lon": pd.Series(np.round(-1.6 + rng.random(n), 5)).astype(str),
        "sex": pd.Series(rng.choice(["M", "F", "1", "2", "x"], n)),
        "care_status": pd.Series(rng.choice(["LAC", "CIN", ""], n)),
    }
    frame = pd.DataFrame({k: v.astype("str") for k, v in columns.items()})
    frame.loc[::1000, "lat"] = ""  # one row in a thousand has half a location
    frame.insert(0, s.ROW_NUMBER, np.arange(2, n + 2, dtype="int64"))
    table = Table(frame, Path("big.csv"), "utf-8", ",", None, {c: c for c in columns})
    started = time.perf_counter()
    out = validate_episodes(table)
    elapsed = time.perf_counter() - started
    assert len(out) == n
    assert (out[s.REASON] == "invalid_coordinates").sum() == n // 1000
    assert (out[s.STATUS] == "").sum() == n - n // 1000
    assert out[s.ROW_NUMBER].is_monotonic_increasing
    assert (out[s.WARNINGS] == "unrecognised_sex").sum() == (frame["sex"] == "x").sum()
    print(f"validated {n:,} rows in {elapsed:.1f} s")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?\Z"),
    st.text(alphabet="0123456789-: T/.Z+x", max_size=22),
), max_size=30))
def test_plain_iso_screen_matches_the_regex(values):
    arr = np.array(values, dtype=object)
    expected = [
        bool(re.fullmatch(_PLAIN_ISO, v)) and v.isascii() for v in values
    ]
    assert _plain_iso(arr).tolist() == expected
