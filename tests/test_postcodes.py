"""Offline postcode lookup: normalisation, import of every source kind, lookups, the index file.

All postcodes and positions here are made up for the tests (synthetic rows shaped like ONSPD,
Code-Point Open and plain CSVs)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.errors import InputError
from geo.postcodes import (
    FORMAT_VERSION,
    ImportSummary,
    PostcodeIndex,
    default_index_path,
    import_postcodes,
    load_postcode_index,
    normalise_postcodes,
)

TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)

# --------------------------------------------------------------------------------------------
# normalisation

ACCEPTED = [
    # (input, display form, kind)
    ("OX16 9AA", "OX16 9AA", "full"),
    ("ox16 9aa", "OX16 9AA", "full"),  # lower case
    ("OX169AA", "OX16 9AA", "full"),  # no space
    (" OX16  9AA ", "OX16 9AA", "full"),  # extra spaces
    ("O X 1 6 9 A A", "OX16 9AA", "full"),  # all spaces are removed
    ("Ox16 9aA", "OX16 9AA", "full"),
    ("OX16\t9AA", "OX16 9AA", "full"),  # tab
    ("OX16\u00a09AA", "OX16 9AA", "full"),  # no-break space, as pasted from a web page
    ("OX16 0AA", "OX16 0AA", "full"),  # a real zero in the inward code
    ("M1 1AE", "M1 1AE", "full"),  # A9
    ("B33 8TH", "B33 8TH", "full"),  # A99
    ("CR2 6XH", "CR2 6XH", "full"),  # AA9
    ("DN55 1PT", "DN55 1PT", "full"),  # AA99
    ("W1A 0AX", "W1A 0AX", "full"),  # A9A
    ("EC1A 1BB", "EC1A 1BB", "full"),  # AA9A
    ("ec1a1bb", "EC1A 1BB", "full"),
    ("GIR 0AA", "GIR 0AA", "full"),  # the special one
    ("gir0aa", "GIR 0AA", "full"),
    ("OX16 9", "OX16 9", "sector"),
    ("ox16   9", "OX16 9", "sector"),
    (" OX1 6 ", "OX1 6", "sector"),
    ("EC1A 1", "EC1A 1", "sector"),
    ("OX16", "OX16", "district"),
    (" ox16 ", "OX16", "district"),
    ("M1", "M1", "district"),
    ("W1A", "W1A", "district"),
    ("EC1A", "EC1A", "district"),
]

REJECTED = [
    "0X16 9AA",  # zero for the letter O: not guessed
    "OX16 OAA",  # letter O for zero: not guessed
    "0X16",
    "OX169",  # a sector needs its space (could be misread)
    "OX16 9A",
    "OX16 9AAA",
    "OX16 99A",
    "OXX1 9AA",
    "1X16 9AA",
    "OX16-9AA",
    "OX16 9AÁ",
    "ÖX16 9AA",
    "\uff2f\uff3816 9AA",  # full-width letters
    "GIR 1AA",
    "GIR",
    "OX16 9AA X",
    "O X16",  # a district has no inner space
    "hello",
    "12345",
    "OX",
    "9",
    "\x00",
]


@pytest.mark.parametrize(("raw", "display", "kind"), ACCEPTED)
def test_normalise_accepts(raw, display, kind):
    out = normalise_postcodes(pd.Series([raw]))
    assert out.loc[0, "postcode"] == display
    assert out.loc[0, "kind"] == kind


@pytest.mark.parametrize("raw", REJECTED)
def test_normalise_rejects(raw):
    out = normalise_postcodes(pd.Series([raw]))
    assert (out.loc[0, "postcode"], out.loc[0, "kind"]) == ("", "invalid")


@pytest.mark.parametrize("raw", ["", "   ", "\t", None, np.nan, pd.NA])
def test_normalise_blank(raw):
    out = normalise_postcodes(pd.Series([raw], dtype=object))
    assert (out.loc[0, "postcode"], out.loc[0, "kind"]) == ("", "blank")


def test_normalise_numbers_are_invalid_and_index_kept():
    values = pd.Series([12345, 1.5, "ox16 9aa", None], index=[7, 3, 9, 1], dtype=object)
    out = normalise_postcodes(values)
    assert list(out.index) == [7, 3, 9, 1]
    assert out["kind"].tolist() == ["invalid", "invalid", "full", "blank"]
    assert out["postcode"].tolist() == ["", "", "OX16 9AA", ""]


def test_normalise_many_in_one_call_matches_one_by_one():
    raws = [r for r, _, _ in ACCEPTED] + REJECTED + ["", None]
    together = normalise_postcodes(pd.Series(raws * 3, dtype=object))
    for i, raw in enumerate(raws * 3):
        alone = normalise_postcodes(pd.Series([raw], dtype=object)).iloc[0]
        assert together.iloc[i].tolist() == alone.tolist(), raw


_OUT = r"[A-Z]{1,2}[0-9][A-Z0-9]?"


def _reference(value: str) -> tuple[str, str]:
    """The documented rules, written out independently of the vectorised code."""
    text = " ".join(value.split())
    if not text:
        return "", "blank"
    if not text.isascii():
        return "", "invalid"
    text = text.upper()
    compact = text.replace(" ", "")
    if re.fullmatch(_OUT + r"[0-9][A-Z]{2}", compact) or compact == "GIR0AA":
        return f"{compact[:-3]} {compact[-3:]}", "full"
    if re.fullmatch(_OUT + r" [0-9]", text):
        return text, "sector"
    if re.fullmatch(_OUT, text):
        return text, "district"
    return "", "invalid"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="AOXBGIRoxa019 \t\u00a0é", max_size=10), max_size=60))
def test_normalise_agrees_with_the_rules(values):
    out = normalise_postcodes(pd.Series(values, dtype=object))
    assert list(zip(out["postcode"], out["kind"], strict=True)) == [_reference(v) for v in values]


# --------------------------------------------------------------------------------------------
# sources

ONSPD_HEADER = [
    "pcd", "pcd2", "pcds", "dointr", "doterm", "oscty", "oseast1m", "osnrth1m", "osgrdind",
    "lat", "long", "ctry",
]  # fmt: skip

# pcds, doterm, oseast1m, osnrth1m, lat, long
ONSPD_ROWS = [
    ("OX16 9AA", "", "445000", "240000", "52.060000", "-1.340000"),
    ("OX16 9AB", "200012", "445100", "240200", "52.062000", "-1.338000"),  # terminated
    ("OX16 9AD", "", "445200", "240400", "52.064000", "-1.336000"),
    ("OX16 8ZZ", "", "446000", "241000", "52.070000", "-1.324000"),
    ("OX17 1AA", "", "450000", "245000", "52.100000", "-1.260000"),
    ("GY1 1AA", "", "", "", "99.999999", "0.000000"),  # Guernsey: no grid reference
    ("BAD", "", "445000", "240000", "52.060000", "-1.340000"),  # malformed postcode
    ("BT1 1AA", "", "333831", "374015", "54.596000", "-5.930000"),  # Irish Grid E/N
]


def _pcd(pcds: str) -> str:
    out, _, inw = pcds.partition(" ")
    return f"{out:<4}{inw}"[:7] if inw else pcds


def onspd_csv(path: Path, rows=ONSPD_ROWS) -> Path:
    lines = [",".join(ONSPD_HEADER)]
    for pcds, doterm, east, north, lat, lon in rows:
        lines.append(
            ",".join([_pcd(pcds), pcds, pcds, "198001", doterm, "E10000025", east, north, "1",
                      lat, lon, "E92000001"])
        )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CODEPOINT_ROWS = (
    '"OX169AA",10,445000,240000,"E92000001","E19000002","E18000007","E10000025","E07000177",'
    '"E05008421"\n'
    '"OX169AB",10,445100,240200,"E92000001","E19000002","E18000007","E10000025","E07000177",'
    '"E05008421"\n'
    '"M1  1AE",10,384500,398000,"E92000001","E19000001","E18000002","","E08000003","E05000698"\n'
    '"OX169ZZ",90,0,0,"E92000001","E19000002","E18000007","E10000025","E07000177","E05008421"\n'
)


def codepoint_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Data/CSV/ox.csv", CODEPOINT_ROWS)
        zf.writestr("Doc/Code-Point_Open_Column_Headers.csv",
                    "PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC\nPostcode,Positional_quality_indicator,"
                    "Eastings,Northings,Country_code,NHS_regional_HA_code,NHS_HA_code,"
                    "Admin_county_code,Admin_district_code,Admin_ward_code\n")  # fmt: skip
        zf.writestr("Doc/licence.txt", "Contains OS data (test fixture)\n")
    return path


@pytest.fixture
def onspd_index(tmp_path) -> tuple[PostcodeIndex, ImportSummary]:
    src = onspd_csv(tmp_path / "ONSPD_TEST_UK.csv")
    summary = import_postcodes(src, tmp_path / "index.npz")
    return load_postcode_index(summary.path), summary


# --------------------------------------------------------------------------------------------
# import: ONSPD


def test_onspd_csv_import_counts(onspd_index, tmp_path):
    index, summary = onspd_index
    assert summary.kind == "onspd"
    assert summary.path == tmp_path / "index.npz"
    assert summary.imported == 6 == len(index)
    assert summary.skipped == {"no_grid_reference": 1, "invalid_postcode": 1}
    assert summary.terminated == 1
    assert summary.sectors == 4  # OX16 9, OX16 8, OX17 1, BT1 1
    assert summary.districts == 3  # OX16, OX17, BT1
    assert summary.seconds >= 0
    assert [p.decode() for p in index.postcodes] == [
        "BT1 1AA", "OX16 8ZZ", "OX16 9AA", "OX16 9AB", "OX16 9AD", "OX17 1AA",
    ]  # fmt: skip


def test_onspd_metadata(onspd_index, tmp_path):
    index, _ = onspd_index
    meta = index.metadata
    src = tmp_path / "ONSPD_TEST_UK.csv"
    assert meta["source_kind"] == "onspd"
    assert meta["source_name"] == "ONSPD_TEST_UK.csv"
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert meta["imported"] == 6
    assert meta["skipped"] == {"no_grid_reference": 1, "invalid_postcode": 1}
    assert meta["terminated"] == 1
    assert meta["format_version"] == FORMAT_VERSION
    assert isinstance(meta["tool_version"], str) and meta["tool_version"]
    meta["imported"] = -1  # a copy: the index is not changed
    assert index.metadata["imported"] == 6


def test_full_postcode_and_terminated_found(onspd_index):
    index, _ = onspd_index
    out = index.lookup(pd.Series(["ox169aa", "OX16 9AB"], index=["a", "b"]))
    assert list(out.index) == ["a", "b"]
    assert list(out.columns) == [
        "postcode", "precision", "status", "easting", "northing", "lat", "lon",
    ]  # fmt: skip
    assert out["status"].tolist() == ["found", "found"]
    assert out["precision"].tolist() == ["postcode", "postcode"]
    assert out["postcode"].tolist() == ["OX16 9AA", "OX16 9AB"]
    assert out[["easting", "northing", "lat", "lon"]].to_numpy().tolist() == [
        [445000, 240000, 52.06, -1.34],
        [445100, 240200, 52.062, -1.338],  # terminated in 2000: still geocoded
    ]
    assert index.doterm[index.postcodes == b"OX16 9AB"].tolist() == [200012]


def test_sector_and_district_are_means_of_their_postcodes(onspd_index):
    index, _ = onspd_index
    out = index.lookup(pd.Series(["OX16 9", "ox16", "OX17 1", "OX16 8"]))
    assert out["status"].tolist() == ["found"] * 4
    assert out["precision"].tolist() == ["sector", "district", "sector", "sector"]
    sector = out.iloc[0]
    # OX16 9AA, 9AB, 9AD
    assert sector["easting"] == pytest.approx((445000 + 445100 + 445200) / 3)
    assert sector["northing"] == pytest.approx((240000 + 240200 + 240400) / 3)
    assert sector["lat"] == pytest.approx((52.060 + 52.062 + 52.064) / 3)
    assert sector["lon"] == pytest.approx((-1.340 - 1.338 - 1.336) / 3)
    district = out.iloc[1]
    # the three above and OX16 8ZZ
    assert district["easting"] == pytest.approx((445000 + 445100 + 445200 + 446000) / 4)
    assert district["northing"] == pytest.approx((240000 + 240200 + 240400 + 241000) / 4)
    assert district["lat"] == pytest.approx((52.060 + 52.062 + 52.064 + 52.070) / 4)
    assert district["lon"] == pytest.approx((-1.340 - 1.338 - 1.336 - 1.324) / 4)
    assert out.iloc[2][["easting", "northing"]].tolist() == [450000, 245000]  # one postcode
    sectors = {k.decode(): int(c) for k, c in zip(index.sectors, index.sector_count, strict=True)}
    assert sectors == {"BT1 1": 1, "OX16 8": 1, "OX16 9": 3, "OX17 1": 1}
    districts = {k.decode(): int(c) for k, c in zip(index.districts, index.district_count,
                                                    strict=True)}  # fmt: skip
    assert districts == {"BT1": 1, "OX16": 4, "OX17": 1}


def test_lookup_statuses(onspd_index):
    index, _ = onspd_index
    values = pd.Series(
        ["OX16 9ZZ", "OX16 7", "OX18", "GY1 1AA", "0X16 9AA", "OX169", "garbage", "", "  ",
         None, 42],
        index=range(100, 111), dtype=object,
    )  # fmt: skip
    out = index.lookup(values)
    assert list(out.index) == list(range(100, 111))
    assert out["status"].tolist() == [
        "postcode_not_found", "postcode_not_found", "postcode_not_found",
        "postcode_not_found",  # skipped at import: no grid reference
        "invalid_postcode", "invalid_postcode", "invalid_postcode",
        "blank", "blank", "blank", "invalid_postcode",
    ]  # fmt: skip
    assert out["postcode"].tolist() == [
        "OX16 9ZZ", "OX16 7", "OX18", "GY1 1AA", "", "", "", "", "", "", "",
    ]  # fmt: skip
    assert (out["precision"] == "").all()
    assert out[["easting", "northing", "lat", "lon"]].isna().all().all()


def test_lookup_repeated_and_empty(onspd_index):
    index, _ = onspd_index
    out = index.lookup(pd.Series(["OX16 9AA", "ox16 9aa", "OX16 9AA", None, "OX16 9AA"]))
    assert out["status"].tolist() == ["found", "found", "found", "blank", "found"]
    assert out["easting"].tolist()[:3] == [445000, 445000, 445000]
    empty = index.lookup(pd.Series([], dtype=object))
    assert len(empty) == 0
    assert list(empty.columns) == [
        "postcode", "precision", "status", "easting", "northing", "lat", "lon",
    ]  # fmt: skip


def test_northern_ireland_grid_references_are_recomputed(onspd_index):
    """ONSPD gives BT postcodes Irish Grid eastings; the index holds British National Grid."""
    index, _ = onspd_index
    row = index.lookup(pd.Series(["BT1 1AA"])).iloc[0]
    east, north = TO_BNG.transform(-5.93, 54.596)
    assert (row["easting"], row["northing"]) == pytest.approx((east, north), abs=0.01)
    assert row["easting"] != 333831
    assert (row["lat"], row["lon"]) == (54.596, -5.93)


def test_onspd_pcd_column_and_new_column_names(tmp_path):
    """`pcd` (7 characters, padded) when `pcds` is absent; the 2025 names east1m/north1m."""
    src = write(
        tmp_path / "new.csv",
        "PCD7,EAST1M,NORTH1M,LAT,LONG,DOTERM\nM1  1AE,384500,398000,53.48,-2.24,\n"
        "OX169AA,445000,240000,52.06,-1.34,202401\n",
    )
    index = load_postcode_index(src)
    assert index.metadata["source_kind"] == "onspd"
    assert [p.decode() for p in index.postcodes] == ["M1 1AE", "OX16 9AA"]
    assert index.easting.tolist() == [384500, 445000]
    assert index.metadata["terminated"] == 1


def test_onspd_multi_csv_folder(tmp_path):
    folder = tmp_path / "ONSPD_TEST"
    onspd_csv(folder / "Data" / "multi_csv" / "ONSPD_TEST_UK_OX.csv", ONSPD_ROWS[:5])
    onspd_csv(folder / "Data" / "multi_csv" / "ONSPD_TEST_UK_GY.csv", ONSPD_ROWS[5:6])
    write(folder / "Documents" / "LA_UA names and codes.csv", "LAD25CD,LAD25NM\nE1,Cherwell\n")
    (tmp_path / "out").mkdir()
    summary = import_postcodes(folder, tmp_path / "out")
    assert summary.kind == "onspd"
    assert summary.imported == 5
    assert summary.skipped == {"no_grid_reference": 1}
    assert summary.path == tmp_path / "out" / "postcodes.npz"  # --into an existing folder
    index = load_postcode_index(summary.path)
    assert index.metadata["source_files"] == [
        "Data/multi_csv/ONSPD_TEST_UK_GY.csv", "Data/multi_csv/ONSPD_TEST_UK_OX.csv",
    ]  # fmt: skip
    assert index.lookup(pd.Series(["OX17 1AA"]))["status"].tolist() == ["found"]


def test_onspd_zip_reads_the_national_file_not_also_multi_csv(tmp_path):
    national = onspd_csv(tmp_path / "national.csv").read_bytes()
    part = onspd_csv(tmp_path / "part.csv", ONSPD_ROWS[:2]).read_bytes()
    src = tmp_path / "ONSPD_TEST_2025.zip"
    with zipfile.ZipFile(src, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Data/ONSPD_TEST_2025_UK.csv", national)
        zf.writestr("Data/multi_csv/ONSPD_TEST_2025_UK_OX.csv", part)
        zf.writestr("Documents/Country names and codes UK as at 08_12.csv", "CTRY12CD,CTRY12NM\n")
        zf.writestr("User Guide/ONSPD User Guide.txt", "guide")
    summary = import_postcodes(src, tmp_path / "zip.npz")
    assert (summary.kind, summary.imported, summary.terminated) == ("onspd", 6, 1)
    assert "duplicate_postcode" not in summary.skipped
    meta = load_postcode_index(summary.path).metadata
    assert meta["source_files"] == ["Data/ONSPD_TEST_2025_UK.csv"]
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------
# import: Code-Point Open and plain CSVs


def test_codepoint_zip(tmp_path):
    src = codepoint_zip(tmp_path / "codepo_gb.zip")
    summary = import_postcodes(src, tmp_path / "cp.npz")
    assert summary.kind == "codepoint"
    assert summary.imported == 3
    assert summary.skipped == {"no_grid_reference": 1}  # quality 90, 0/0
    assert summary.terminated == 0
    index = load_postcode_index(summary.path)
    assert index.metadata["source_files"] == ["Data/CSV/ox.csv"]
    out = index.lookup(pd.Series(["M1 1AE", "OX16 9AB", "OX16 9ZZ"]))
    assert out["status"].tolist() == ["found", "found", "postcode_not_found"]
    lon, lat = TO_WGS84.transform(384500, 398000)
    assert out.loc[0, ["easting", "northing"]].tolist() == [384500, 398000]
    assert (out.loc[0, "lat"], out.loc[0, "lon"]) == pytest.approx((lat, lon), abs=1e-9)


def test_codepoint_folder(tmp_path):
    folder = tmp_path / "codepo_gb"
    write(folder / "Data" / "CSV" / "ox.csv", CODEPOINT_ROWS)
    index = load_postcode_index(folder)
    assert index.metadata["source_kind"] == "codepoint"
    assert len(index) == 3


def test_codepoint_combined_file_with_its_header_rows(tmp_path):
    """The OS guide combines the CSVs into one file under the two rows of the headers file."""
    headers = (
        "PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC\nPostcode,Positional_quality_indicator,Eastings,"
        "Northings,Country_code,NHS_regional_HA_code,NHS_HA_code,Admin_county_code,"
        "Admin_district_code,Admin_ward_code\n"
    )
    src = write(tmp_path / "outputfile.csv", headers + CODEPOINT_ROWS)
    summary = import_postcodes(src, tmp_path / "c.npz")
    assert (summary.kind, summary.imported, summary.skipped) == (
        "codepoint", 3, {"no_grid_reference": 1},
    )  # fmt: skip
    one_header = write(tmp_path / "one.csv", headers.split("\n")[0] + "\n" + CODEPOINT_ROWS)
    assert len(load_postcode_index(one_header)) == 3
    only_headers = write(tmp_path / "Doc" / "Code-Point_Open_Column_Headers.csv", headers)
    with pytest.raises(InputError, match="not a postcode directory"):
        load_postcode_index(only_headers)


def test_plain_lat_lon_csv(tmp_path):
    src = write(
        tmp_path / "mine.csv",
        "Postcode, LAT ,Lon,notes\n"
        "ox16 9aa,52.06,-1.34,a\n"
        "OX16 9AB,,-1.34,no latitude\n"
        "OX16 9AD,40.0,-1.34,outside the UK\n"
        "OX16 9AA,53.0,-1.0,a repeat: the first row wins\n"
        "OX16,52.0,-1.3,a district is not imported\n"
        ",52.0,-1.3,blank\n",
    )
    summary = import_postcodes(src, tmp_path / "plain.npz")
    assert summary.kind == "plain"
    assert summary.imported == 1
    assert summary.skipped == {
        "missing_coordinates": 1, "invalid_coordinates": 1, "duplicate_postcode": 1,
        "invalid_postcode": 1, "blank_postcode": 1,
    }  # fmt: skip
    row = load_postcode_index(summary.path).lookup(pd.Series(["OX16 9AA"])).iloc[0]
    east, north = TO_BNG.transform(-1.34, 52.06)
    assert (row["lat"], row["lon"]) == (52.06, -1.34)
    assert (row["easting"], row["northing"]) == pytest.approx((east, north), abs=1e-6)


def test_plain_easting_northing_csv_gets_lat_lon(tmp_path):
    src = write(
        tmp_path / "en.csv",
        "POSTCODE,Easting,Northing\nOX16 9AA,445000,240000\nOX16 9AB,445100.5,240200.25\n",
    )
    index = load_postcode_index(src)
    out = index.lookup(pd.Series(["OX16 9AA", "OX16 9AB"]))
    lon, lat = TO_WGS84.transform([445000, 445100.5], [240000, 240200.25])
    assert out["lat"].to_numpy() == pytest.approx(lat, abs=1e-9)
    assert out["lon"].to_numpy() == pytest.approx(lon, abs=1e-9)
    assert out["easting"].tolist() == [445000, 445100.5]
    assert 51.9 < out.loc[0, "lat"] < 52.2 and -1.5 < out.loc[0, "lon"] < -1.2  # Banbury


def test_plain_csv_with_text_in_a_number_column(tmp_path):
    src = write(
        tmp_path / "text.csv",
        "postcode,easting,northing\nOX16 9AA,445000,240000\nOX16 9AB,n/a,240200\n",
    )
    summary = import_postcodes(src, tmp_path / "t.npz")
    assert summary.imported == 1
    assert summary.skipped == {"missing_coordinates": 1}


def test_windows_1252_plain_csv(tmp_path):
    src = tmp_path / "excel.csv"
    src.write_bytes("postcode,lat,lon,town\r\nOX16 9AA,52.06,-1.34,Bánbury\r\n".encode("cp1252"))
    assert len(load_postcode_index(src)) == 1


# --------------------------------------------------------------------------------------------
# the index file


def test_round_trip(tmp_path):
    src = onspd_csv(tmp_path / "ONSPD.csv")
    summary = import_postcodes(src, tmp_path / "rt.npz")
    saved = load_postcode_index(summary.path)
    direct = load_postcode_index(src)  # built in memory from the source
    arrays = (
        "postcodes easting northing lat lon doterm sectors sector_xy sector_count districts "
        "district_xy district_count"
    ).split()
    for name in arrays:
        np.testing.assert_array_equal(getattr(saved, name), getattr(direct, name), err_msg=name)
    assert saved.postcodes.dtype == np.dtype("S8")
    queries = pd.Series(["OX16 9AA", "OX16 9", "OX16", "OX16 9ZZ", "bad", None])
    pd.testing.assert_frame_equal(saved.lookup(queries), direct.lookup(queries))
    a, b = saved.metadata, direct.metadata
    a.pop("created"), b.pop("created")
    assert a == b
    assert saved.path == summary.path


def test_loading_a_source_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    src = onspd_csv(tmp_path / "ONSPD.csv")
    index = load_postcode_index(src)
    assert len(index) == 6
    assert not (tmp_path / "data").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ONSPD.csv"]


def test_import_to_the_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    summary = import_postcodes(onspd_csv(tmp_path / "ONSPD.csv"))
    assert summary.path == tmp_path / "xdg" / "hotspots" / "postcodes.npz"
    assert summary.path.is_file()
    assert len(load_postcode_index(summary.path)) == 6
    assert [p.name for p in summary.path.parent.iterdir()] == ["postcodes.npz"]  # no temp file


def test_default_path_honours_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_index_path() == tmp_path / "hotspots" / "postcodes.npz"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME")
    expected = tmp_path / "home" / ".local" / "share" / "hotspots" / "postcodes.npz"
    assert default_index_path() == expected
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # ignored, as XDG says
    assert default_index_path() == expected


def test_index_with_another_suffix_is_recognised(tmp_path):
    summary = import_postcodes(onspd_csv(tmp_path / "ONSPD.csv"), tmp_path / "lookup.bin")
    assert summary.path == tmp_path / "lookup.bin"
    assert len(load_postcode_index(summary.path)) == 6


# --------------------------------------------------------------------------------------------
# whole-file errors


def test_unknown_csv_is_refused_naming_its_columns(tmp_path):
    src = write(tmp_path / "people.csv", "name,town\nAnn,Banbury\n")
    with pytest.raises(InputError) as err:
        import_postcodes(src, tmp_path / "x.npz")
    text = str(err.value)
    assert str(src) in text
    assert "name, town" in text
    assert "ONSPD" in text and "Code-Point" in text and "postcode,lat,lon" in text
    assert err.value.path == src
    assert not (tmp_path / "x.npz").exists()


def test_empty_and_header_only_files(tmp_path):
    empty = write(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match="empty") as err:
        load_postcode_index(empty)
    assert err.value.path == empty
    header = write(tmp_path / "header.csv", "postcode,lat,lon\n")
    with pytest.raises(InputError, match="no data rows"):
        load_postcode_index(header)


def test_nothing_usable(tmp_path):
    src = write(tmp_path / "bad.csv", "postcode,lat,lon\nnope,52,-1\nOX16 9AA,,\n")
    with pytest.raises(InputError, match="No usable postcode") as err:
        load_postcode_index(src)
    assert "invalid_postcode 1" in str(err.value) and "missing_coordinates 1" in str(err.value)


def test_zip_without_csv(tmp_path):
    src = tmp_path / "nothing.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("readme.txt", "no data here")
    with pytest.raises(InputError, match="no CSV") as err:
        import_postcodes(src, tmp_path / "x.npz")
    assert str(src) in str(err.value) and "readme.txt" in str(err.value)


def test_folder_of_unknown_csvs(tmp_path):
    write(tmp_path / "src" / "a.csv", "x,y\n1,2\n")
    write(tmp_path / "src" / "b.csv", "")
    with pytest.raises(InputError) as err:
        load_postcode_index(tmp_path / "src")
    assert "a.csv: columns x, y" in str(err.value)
    assert "b.csv: no header row (empty)" in str(err.value)


def test_missing_source(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_postcode_index(tmp_path / "nope.npz")
    with pytest.raises(InputError, match="does not exist"):
        import_postcodes(tmp_path / "nope.csv", tmp_path / "x.npz")


def test_unreadable_index(tmp_path):
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match="cannot be read") as err:
        load_postcode_index(broken)
    assert err.value.path == broken
    other = tmp_path / "other.npz"
    np.savez(other, something=np.arange(3))
    with pytest.raises(InputError, match="not a hotspots postcode index"):
        load_postcode_index(other)


def test_index_of_another_format_version(tmp_path):
    path = import_postcodes(onspd_csv(tmp_path / "ONSPD.csv"), tmp_path / "v.npz").path
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["format_version"] = np.int32(FORMAT_VERSION + 98)
    future = tmp_path / "future.npz"
    np.savez_compressed(future, **arrays)
    with pytest.raises(InputError, match=f"format version {FORMAT_VERSION + 98}") as err:
        load_postcode_index(future)
    assert "hotspots postcodes import" in str(err.value)
    assert err.value.path == future


def test_index_metadata_is_json(tmp_path):
    path = import_postcodes(onspd_csv(tmp_path / "ONSPD.csv"), tmp_path / "m.npz").path
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        assert int(z["format_version"]) == FORMAT_VERSION
    assert meta["source_kind"] == "onspd"
