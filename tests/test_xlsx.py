import datetime as dt
import math
import re
import zipfile
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from geo.output import write_xlsx
from geo.xlsx import SheetSpec, _sheet_names, column_letter, write_workbook

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
WHEN = dt.datetime(2000, 1, 1)


def _table():
    return pd.DataFrame({
        "ward_name": ["Carfax & Jericho", None, "  padded  ", "<b>bold</b>"],
        "episodes": np.array([1200, 5, 0, 7], dtype=np.int64),
        "rhi_completed_within_72h_share": [0.5, np.nan, 1.0, 1 / 3],
        "episodes_per_child": np.array([1.25, 2.0, np.inf, 0.1 + 0.2]),
        "centroid_lat": [51.752021, 51.0, np.nan, -0.0],
        "row_number": [2, 3, 4, 5],
        "population_0_17": pd.array([30000, None, 1, 2], dtype="Int64"),
        "flag": [True, False, True, False],
        "mixed": pd.Series([np.int64(3), "c", np.float64(2.5), pd.NA], dtype=object),
        "category": pd.Categorical(["x", "y", None, "x"]),
        "str": pd.Series(["a", None, "", "b"], dtype="str"),
    })  # fmt: skip


def test_workbook_reads_back_with_values_formats_and_layout(tmp_path):
    path = write_xlsx({"localities_lpa": _table()}, tmp_path / "t.xlsx")
    wb = load_workbook(path)  # not read-only: formats, fonts, widths
    assert wb.sheetnames == ["README", "localities_lpa"]
    ws = wb["localities_lpa"]
    assert ws.freeze_panes == "A2" and wb["README"].freeze_panes == "A2"
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == tuple(_table().columns)
    assert rows[1] == ("Carfax & Jericho", 1200, 0.5, 1.25, 51.752021, 2, 30000, True, 3, "x",
                       "a")
    assert rows[2] == (None, 5, None, 2, 51, 3, None, False, "c", "y", None)
    assert rows[3][0] == "  padded  " and rows[3][3] is None  # infinity: empty
    assert rows[4][0] == "<b>bold</b>" and rows[4][3] == 0.1 + 0.2 and rows[4][2] == 1 / 3
    assert rows[3][8] == 2.5 and rows[4][8] is None
    header = {c.value: c for c in ws[1]}
    assert all(c.font.b for c in ws[1])
    assert not any(c.font.b for c in ws[2])
    formats = {h: ws.cell(row=3, column=j + 1).number_format for j, h in enumerate(header)}
    assert formats == {
        "ward_name": "General", "episodes": "#,##0", "rhi_completed_within_72h_share": "0.0%",
        "episodes_per_child": "0.00", "centroid_lat": "0.00000", "row_number": "0",
        "population_0_17": "#,##0", "flag": "General", "mixed": "General",
        "category": "General", "str": "General",
    }  # fmt: skip
    assert ws.column_dimensions["A"].width == len("Carfax & Jericho") + 2
    assert ws.column_dimensions["B"].width == 10  # "episodes" + 2
    readme = wb["README"]
    assert [c.value for c in readme[1]] == ["sheet", "column", "description"]
    assert readme.column_dimensions["C"].width == 60
    cell = readme["C2"]
    assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
    assert not readme["A1"].alignment.wrap_text and readme["A1"].font.b


def test_pandas_reads_it(tmp_path):
    path = write_xlsx({"t": _table()}, tmp_path / "t.xlsx", readme=False)
    back = pd.read_excel(path, sheet_name="t")
    assert list(back.columns) == list(_table().columns)
    assert back["episodes"].tolist() == [1200, 5, 0, 7]
    assert back["ward_name"].iloc[0] == "Carfax & Jericho" and pd.isna(back["ward_name"].iloc[1])


def test_same_tables_same_bytes_and_pinned_dates(tmp_path):
    a = write_xlsx({"t": _table()}, tmp_path / "a.xlsx").read_bytes()
    b = write_xlsx({"t": _table()}, tmp_path / "b.xlsx").read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.xlsx") as zf:
        assert {i.date_time for i in zf.infolist()} == {(2000, 1, 1, 0, 0, 0)}
        assert zf.namelist()[0] == "[Content_Types].xml"
        core = zf.read("docProps/core.xml").decode()
    assert "<dc:creator>hotspots</dc:creator>" in core
    assert core.count("2000-01-01T00:00:00Z") == 2
    props = load_workbook(tmp_path / "a.xlsx").properties
    assert props.creator == "hotspots" and props.created == props.modified == WHEN


def test_every_part_is_well_formed_and_in_schema_order(tmp_path):
    path = write_xlsx({"t": _table(), "empty": pd.DataFrame({"a": []})}, tmp_path / "t.xlsx")
    with zipfile.ZipFile(path) as zf:
        parts = {name: ElementTree.fromstring(zf.read(name)) for name in zf.namelist()}
    types = parts["[Content_Types].xml"]
    overrides = {e.get("PartName") for e in types}
    assert {f"/{n}" for n in parts if not n.endswith(".rels")} - overrides == {
        "/[Content_Types].xml"
    }
    # CT_Worksheet: sheetPr?, dimension?, sheetViews?, sheetFormatPr?, cols*, sheetData, ...
    order = ["sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData",
             "pageMargins"]
    for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml",
                 "xl/worksheets/sheet3.xml"):
        tags = [child.tag.removeprefix(MAIN) for child in parts[name]]
        assert tags == sorted(tags, key=order.index), (name, tags)
    dims = parts["xl/worksheets/sheet2.xml"].find(f"{MAIN}dimension")
    assert dims is not None and dims.get("ref") == "A1:K5"
    assert parts["xl/worksheets/sheet3.xml"].find(f"{MAIN}dimension").get("ref") == "A1:A1"
    styles = parts["xl/styles.xml"]
    tags = [child.tag.removeprefix(MAIN) for child in styles]
    assert tags == ["numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs",
                    "cellStyles"]
    xfs = styles.find(f"{MAIN}cellXfs")
    assert int(xfs.get("count")) == len(xfs)


def test_text_is_escaped_and_illegal_characters_left_out(tmp_path):
    texts = ["a & b", "<tag>", 'say "hi"', "tab\tnew\nline", "cr\rhere", "bell\x07ring",
             "\x00\x01", " lead", "trail\n", "é 中 😀", "\ufffe", "\ud800lone", "=1+1",
             "_x0041_"]
    path = write_xlsx({"t": pd.DataFrame({"text": texts})}, tmp_path / "t.xlsx", readme=False)
    back = [r[0] for r in load_workbook(path).active.iter_rows(min_row=2, values_only=True)]
    assert back == ["a & b", "<tag>", 'say "hi"', "tab\tnew\nline", "cr\rhere", "bellring",
                    None, " lead", "trail\n", "é 中 😀", None, "lone",
                    "=1+1",  # text, never a formula
                    "_x005F_x0041_"]  # Excel reads _xHHHH_ as a character: so "_x0041_"
    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert '<t xml:space="preserve"> lead</t>' in sheet and "<t>a &amp; b</t>" in sheet
    assert "<f>" not in sheet


def test_sheet_names_are_cut_and_made_unique():
    long = "a_sheet_name_longer_than_thirty_one"
    names = _sheet_names([long, long + "_2", "README", "readme"])
    assert names == [long[:31], long[:30] + "1", "README", "readme1"]
    with pytest.raises(ValueError, match="Sheet name"):
        _sheet_names(["a/b"])
    with pytest.raises(ValueError, match="Sheet name"):
        _sheet_names([""])


def test_write_workbook_checks_formats_and_widths(tmp_path):
    frame = pd.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(ValueError, match="one number format and one width per column"):
        write_workbook([SheetSpec("s", frame, [None], [8.0, 8.0])], tmp_path / "x.xlsx",
                       creator="me", created=WHEN)


def test_column_letters():
    assert [column_letter(n) for n in (1, 26, 27, 52, 53, 702, 703, 16384)] == [
        "A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"
    ]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(_VALUES, min_size=3, max_size=3), max_size=8))
def test_any_values_read_back(rows, tmp_path_factory):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype=object)
    path = tmp_path_factory.mktemp("x") / "t.xlsx"
    write_xlsx({"t": frame}, path, readme=False)
    back = list(load_workbook(path).active.iter_rows(min_row=2, values_only=True))
    expected = []
    for row in rows:
        out = []
        for v in row:
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            elif isinstance(v, str):
                v = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "", v)
                v = re.sub("_(?=x[0-9A-Fa-f]{4}_)", "_x005F_", v) or None
            out.append(v)
        expected.append(tuple(out))
    # openpyxl leaves out trailing empty rows
    while expected and all(v is None for v in expected[-1]):
        expected.pop()
    assert [tuple(r) for r in back] == expected
    for got, want in zip(back, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            assert type(g) is type(w) or (isinstance(w, float) and w == int(w)), (g, w)
