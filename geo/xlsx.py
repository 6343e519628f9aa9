"""A small, fast .xlsx (SpreadsheetML, ECMA-376) writer for tables, used for tables.xlsx.

Each table becomes one sheet: the header row bold and frozen, the column widths and number
formats given, optionally every other cell wrapped and aligned to the top. The XML of a
column is made at once (openpyxl makes a cell object per value, about 15 microseconds each),
and the file is byte-identical for identical tables: the document dates are given, the zip
entries carry a fixed date.

Values: None, NaN, NA, NaT, infinities and "" are empty cells; numbers (numpy too) are numbers;
bools are booleans; text is an inline string, with the characters XML 1.0 does not allow
(control characters but tab, newline and carriage return) left out; anything else (dates
included) is written as its text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ZIP_DATE = (2000, 1, 1, 0, 0, 0)
#: number formats Excel knows by id (ECMA-376 part 1, 18.8.30); others get ids from 164
_BUILTIN_FORMATS = {
    "General": 0, "0": 1, "0.00": 2, "#,##0": 3, "#,##0.00": 4, "0%": 9, "0.00%": 10,
    "0.00E+00": 11, "@": 49,
}  # fmt: skip
_SHEET_NAME_MAX = 31
_BAD_SHEET_NAME = re.compile(r"[\\*?:/\[\]]")
#: not allowed in XML 1.0 (lone surrogates cannot be encoded either)
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Excel reads _xHHHH_ in text as the character HHHH: its "_" is escaped as _x005F_
_EXCEL_ESCAPE = re.compile("_(?=x[0-9A-Fa-f]{4}_)")
_NEEDS_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x")
_XML_SPACE = (" ", "\t", "\n", "\r")


@dataclass(frozen=True)
class SheetSpec:
    """One sheet of a workbook.

    Attributes
    ----------
    name
        The sheet name: cut to 31 characters, and made unique (Excel ignores case) by a
        number at its end.
    frame
        The table: its column labels are the header row, its rows the rows below.
    number_formats
        An Excel number format per column (None: General), for every cell below the header.
    widths
        The width of each column, in characters.
    wrap
        Wrap the text of every cell below the header, aligned to the top.
    """

    name: str
    frame: pd.DataFrame
    number_formats: Sequence[str | None]
    widths: Sequence[float]
    wrap: bool = False


def write_workbook(
    sheets: Sequence[SheetSpec], path: Path, *, creator: str, created: dt.datetime
) -> Path:
    """Write `sheets` to `path` as an .xlsx workbook, the first sheet active.

    Each sheet has its header row bold and frozen (the pane at A2). `creator` and `created`
    (also the modified date) go into the document properties; with the zip entries dated
    2000-01-01, the same sheets give the same bytes.
    """
    for spec in sheets:
        width = len(spec.frame.columns)
        if len(spec.number_formats) != width or len(spec.widths) != width:
            msg = f"Sheet {spec.name!r}: one number format and one width per column are needed."
            raise ValueError(msg)
    names = _sheet_names([spec.name for spec in sheets])
    styles = _Styles()
    parts = {
        f"xl/worksheets/sheet{i}.xml": _sheet_xml(spec, styles, selected=i == 1)
        for i, spec in enumerate(sheets, start=1)
    }
    when = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    package = {
        "[Content_Types].xml": _content_types(len(sheets)),
        "_rels/.rels": _ROOT_RELS,
        "docProps/app.xml": _APP,
        "docProps/core.xml": _CORE.format(creator=_escape(creator), when=when),
        "xl/workbook.xml": _workbook_xml(names),
        "xl/_rels/workbook.xml.rels": _workbook_rels(len(sheets)),
        "xl/styles.xml": styles.xml(),
        **parts,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in package.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the system writing it
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    return path


def column_letter(n: int) -> str:
    """The letters of the `n`-th column (1: A, 27: AA)."""
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _sheet_names(names: Sequence[str]) -> list[str]:
    """Sheet names as Excel allows them: 1 to 31 characters, none of \\ / ? * [ ] :, unique
    ignoring case (a clash gets a number at its end)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        if not name or _BAD_SHEET_NAME.search(name):
            msg = f"Sheet name {name!r} is empty or has one of \\ / ? * [ ] : in it."
            raise ValueError(msg)
        candidate, n = name[:_SHEET_NAME_MAX], 1
        while candidate.casefold() in seen:
            suffix = str(n)
            candidate, n = name[: _SHEET_NAME_MAX - len(suffix)] + suffix, n + 1
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


class _Styles:
    """The cell formats (cellXfs) in use: bold or not, a number format, wrapped or not.
    Format 0 is the default; the others are numbered in the order first asked for."""

    def __init__(self) -> None:
        self._xfs: dict[tuple[bool, str | None, bool], int] = {(False, None, False): 0}
        self._formats: dict[str, int] = {}

    def index(self, *, bold: bool = False, number_format: str | None = None,
              wrap: bool = False) -> int:
        """The index of a cell format (for a cell's ``s`` attribute)."""
        key = (bold, None if number_format == "General" else number_format, wrap)
        if key not in self._xfs:
            self._xfs[key] = len(self._xfs)
            fmt = key[1]
            if fmt is not None and fmt not in _BUILTIN_FORMATS and fmt not in self._formats:
                self._formats[fmt] = 164 + len(self._formats)
        return self._xfs[key]

    def xml(self) -> str:
        """xl/styles.xml."""
        num_fmts = "".join(
            f'<numFmt numFmtId="{i}" formatCode="{_escape(code)}"/>'
            for code, i in self._formats.items()
        )
        xfs = []
        for bold, fmt, wrap in self._xfs:
            fmt_id = 0 if fmt is None else _BUILTIN_FORMATS.get(fmt) or self._formats[fmt]
            attrs = f'numFmtId="{fmt_id}" fontId="{int(bold)}" fillId="0" borderId="0" xfId="0"'
            attrs += ' applyNumberFormat="1"' if fmt_id else ""
            attrs += ' applyFont="1"' if bold else ""
            if wrap:
                xfs.append(f'<xf {attrs} applyAlignment="1">'
                           '<alignment vertical="top" wrapText="1"/></xf>')
            else:
                xfs.append(f"<xf {attrs}/>")
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{_XML_DECL}<styleSheet xmlns="{_MAIN}">'
            + (f'<numFmts count="{len(self._formats)}">{num_fmts}</numFmts>' if num_fmts else "")
            + f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        )


def _sheet_xml(spec: SheetSpec, styles: _Styles, *, selected: bool) -> str:
    """xl/worksheets/sheetN.xml, its elements in the order of the schema (CT_Worksheet)."""
    frame = spec.frame
    width, height = len(frame.columns), len(frame) + 1
    letters = [column_letter(j) for j in range(1, width + 1)]
    bold = styles.index(bold=True)
    header = "".join(
        f'<c r="{letter}1"{body}'
        for letter, label in zip(letters, frame.columns, strict=True)
        if (body := _string_cell(str(label), f' s="{bold}"')) is not None
    )
    columns = [
        _column_cells(frame.iloc[:, j], styles.index(number_format=fmt, wrap=spec.wrap))
        for j, fmt in enumerate(spec.number_formats)
    ]
    rows = [f'<row r="1">{header}</row>']
    for r, cells in enumerate(zip(*columns, strict=True), start=2):
        row = "".join([
            f'<c r="{letter}{r}"{body}'
            for letter, body in zip(letters, cells, strict=True)
            if body is not None
        ])  # fmt: skip
        rows.append(f'<row r="{r}">{row}</row>')
    cols = "".join(
        f'<col min="{j}" max="{j}" width="{w:g}" customWidth="1"/>'
        for j, w in enumerate(spec.widths, start=1)
    )
    ref = f"A1:{letters[-1]}{height}" if width else "A1"
    tab = ' tabSelected="1"' if selected else ""
    return (
        f'{_XML_DECL}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f'<dimension ref="{ref}"/>'
        f'<sheetViews><sheetView{tab} workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "")
        + f'<sheetData>{"".join(rows)}</sheetData>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
        'footer="0.3"/></worksheet>'
    )


def _column_cells(values: pd.Series, style: int) -> list[str | None]:
    """The XML of each cell of a column after ``<c r="A2"``; None: no cell (empty, unstyled).
    Numeric numpy columns are done without looking at each value's type."""
    attr = f' s="{style}"' if style else ""
    empty = f"{attr}/>" if style else None
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return [f"{attr}><v>{v}</v></c>" for v in values.to_numpy().tolist()]
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return [
            f"{attr}><v>{_number(v)}</v></c>" if math.isfinite(v) else empty
            for v in values.to_numpy(dtype=np.float64).tolist()
        ]
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return [f'{attr} t="b"><v>{int(v)}</v></c>' for v in values.to_numpy().tolist()]
    return [_cell(v, attr) or empty for v in values.to_numpy(dtype=object).tolist()]


def _cell(value: object, attr: str) -> str | None:
    """The XML of one cell after ``<c r="A2"`` (`attr`: its style attribute); None: empty."""
    if isinstance(value, str):
        return _string_cell(value, attr)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return f'{attr} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | np.integer):
        return f"{attr}><v>{int(value)}</v></c>"
    if isinstance(value, float | np.floating):
        number = float(value)
        return f"{attr}><v>{_number(number)}</v></c>" if math.isfinite(number) else None
    missing = pd.isna(value)  # e.g. numpy's NaT; an array for a list
    if isinstance(missing, bool | np.bool_) and missing:
        return None
    return _string_cell(str(value), attr)


def _number(value: float) -> str:
    """A float as Excel writes it: the shortest text that reads back as the same float, a
    whole number without ".0"."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _string_cell(text: str, attr: str) -> str | None:
    if _NEEDS_ESCAPE.search(text):
        text = _EXCEL_ESCAPE.sub("_x005F_", _XML_ILLEGAL.sub("", text))
    if not text:
        return None
    space = ' xml:space="preserve"' if text.startswith(_XML_SPACE) or text.endswith(
        _XML_SPACE) else ""  # fmt: skip
    return f'{attr} t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


def _escape(text: str) -> str:
    """`text` for XML character data or a double-quoted attribute; a carriage return as a
    character reference (XML readers turn a raw one into a newline)."""
    if _NEEDS_ESCAPE.search(text):
        text = _XML_ILLEGAL.sub("", text)
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = text.replace("\r", "&#13;")
    return text.replace('"', "&quot;") if '"' in text else text


def _content_types(n_sheets: int) -> str:
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{sheets}"
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )


def _workbook_xml(names: Sequence[str]) -> str:
    sheets = "".join(
        f'<sheet name="{_escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(names, start=1)
    )
    return (
        f'{_XML_DECL}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        '<bookViews><workbookView activeTab="0"/></bookViews>'
        f"<sheets>{sheets}</sheets></workbook>"
    )


def _workbook_rels(n_sheets: int) -> str:
    sheets = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}">{sheets}'
        f'<Relationship Id="rId{n_sheets + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )


_ROOT_RELS = (
    f'{_XML_DECL}<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
    'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP = (
    f"{_XML_DECL}<Properties "
    'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>hotspots</Application></Properties>"
)
_CORE = (
    _XML_DECL
    + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
    'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:creator>{creator}</dc:creator>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{when}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{when}</dcterms:modified>'
    "</cp:coreProperties>"
)
