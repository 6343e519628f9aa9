"""Reading tabular input files (CSV or XLSX) into a frame of strings, as the analyst typed them.

Every cell comes back as text (blank = ``""``), so no value is silently changed by type
guessing: ids keep their leading zeros and dates are parsed later, day-first or ISO only.
Whole-file problems raise `InputError` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.errors import InputError
from geo.schema import ROW_NUMBER

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


@dataclass(frozen=True)
class Table:
    """A file read as text.

    Attributes
    ----------
    frame
        One column per (normalised) header, every cell a string, plus `row_number`: the
        spreadsheet row of each record (the header is row 1).
    path
        The file read.
    encoding
        ``utf-8``, ``utf-8-sig``, ``utf-16`` or ``cp1252`` for CSV; ``xlsx`` for workbooks.
    delimiter
        The CSV delimiter found (``None`` for XLSX).
    sheet
        The worksheet read (``None`` for CSV).
    original_headers
        Normalised name -> header as written in the file.
    blank_rows
        Rows with every cell blank, skipped and not counted as records.
    notes
        Things the analyst should know (e.g. "workbook has 3 sheets; read the first").
    """

    frame: pd.DataFrame
    path: Path
    encoding: str
    delimiter: str | None
    sheet: str | None
    original_headers: dict[str, str]
    blank_rows: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def normalise_header(name: object) -> str:
    """Normalise a header: case-insensitive, surrounding spaces ignored, ``-``/space -> ``_``.

    Examples
    --------
    >>> normalise_header(" Missing-From ")
    'missing_from'
    """
    text = str(name).replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def read_table(path: str | Path, *, sheet: str | None = None, what: str = "episodes") -> Table:
    """Read a CSV or XLSX file into a `Table` of strings.

    Parameters
    ----------
    path
        CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, or Windows-1252 as Excel exports it;
        comma, semicolon, tab or pipe delimited) or XLSX workbook.
    sheet
        Worksheet name for XLSX (default: the first sheet).
    what
        What the file is, for messages ("episodes", "homes register").

    Raises
    ------
    InputError
        The file is missing, empty, unreadable, not a table, or has duplicate headers.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"The {what} file {path} does not exist.", path=path)
    if path.is_dir():
        raise InputError(f"The {what} file {path} is a folder, not a file.", path=path)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        msg = f"The {what} file {path} cannot be read: {exc.strerror}."
        raise InputError(msg, path=path) from exc
    if head.startswith(_XLSX_MAGIC) or path.suffix.lower() in {".xlsx", ".xlsm"}:
        return _read_xlsx(path, sheet=sheet, what=what)
    if head.startswith(_XLS_MAGIC) or path.suffix.lower() == ".xls":
        raise InputError(
            f"The {what} file {path} is an old Excel .xls workbook, which is not supported. "
            "Open it in Excel and save it as .xlsx or as CSV (UTF-8).",
            path=path,
        )
    if sheet is not None:
        raise InputError(
            f"A sheet name ({sheet!r}) was given, but the {what} file {path} is not an XLSX "
            "workbook.",
            path=path,
        )
    return _read_csv(path, what=what)


def _decode(raw: bytes, path: Path, what: str) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The {what} file {path} starts with a UTF-8 byte-order mark but is not valid "
                f"UTF-8 (bad byte at position {exc.start}). Save it again as 'CSV UTF-8'.",
                path=path,
            ) from exc
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The {what} file {path} looks like UTF-16 but cannot be decoded. "
                "Save it again as 'CSV UTF-8'.",
                path=path,
            ) from exc
    sample = raw[:65536]
    if b"\x00" in sample:
        raise InputError(
            f"The {what} file {path} is not a text CSV file (it contains binary data). "
            "Expected a CSV file or an XLSX workbook.",
            path=path,
        )
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"The {what} file {path} is neither UTF-8 nor Windows-1252 text (byte "
            f"0x{raw[exc.start]:02x} at position {exc.start}). Save it again as 'CSV UTF-8'.",
            path=path,
        ) from exc


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, *, what: str) -> Table:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"The {what} file {path} cannot be read: {exc.strerror}."
        raise InputError(msg, path=path) from exc
    if not raw.strip():
        raise InputError(
            f"The {what} file {path} is empty. Expected a header row and one row per episode.",
            path=path,
        )
    text, encoding = _decode(raw, path, what)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _sniff_delimiter(first_line)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            header=None,
            engine="c",
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.ParserError as exc:
        raise InputError(
            f"The {what} file {path} is not a well-formed CSV file: {exc}. Check for unbalanced "
            "quotes or rows with more cells than the header.",
            path=path,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"The {what} file {path} has no header row.", path=path) from exc
    # Leading blank lines before the header are skipped by pandas; count them for row numbers.
    leading = len(text) - len(text.lstrip("\r\n"))
    offset = text[:leading].count("\n")
    headers = [str(c) for c in frame.iloc[0]]
    frame = frame.iloc[1:]
    frame, original, blank, notes = _finish(frame, headers, path, what, first_row=2 + offset)
    if len(frame.columns) == 2 and delimiter == ",":  # row_number + one column
        notes = (*notes, "the header has a single column: is the file really comma-separated?")
    return Table(frame, path, encoding, delimiter, None, original, blank, notes)


def _cell_to_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == 0 and value.microsecond == 0:
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value).strip()


def _read_xlsx(path: Path, *, sheet: str | None, what: str) -> Table:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError(
            f"The {what} file {path} is not a readable XLSX workbook ({exc}). "
            "Expected an .xlsx file saved by Excel, or a CSV file.",
            path=path,
        ) from exc
    try:
        names = list(wb.sheetnames)
        notes: list[str] = []
        if sheet is None:
            chosen = names[0]
            if len(names) > 1:
                notes.append(
                    f"the workbook has {len(names)} sheets ({', '.join(names)}); read the first, "
                    f"{chosen!r}. Use --sheet to choose another."
                )
        else:
            matches = [n for n in names if n == sheet] or [
                n for n in names if n.strip().lower() == sheet.strip().lower()
            ]
            if not matches:
                raise InputError(
                    f"The {what} workbook {path} has no sheet named {sheet!r}. "
                    f"Sheets found: {', '.join(repr(n) for n in names)}.",
                    path=path,
                )
            chosen = matches[0]
        ws = wb[chosen]
        rows: Iterable[Sequence[object]] = ws.iter_rows(values_only=True)
        header: list[str] | None = None
        header_row = 0
        data: list[list[str]] = []
        for index, row in enumerate(rows, start=1):
            cells = [_cell_to_text(v) for v in row]
            if header is None:
                if any(cells):
                    header = cells
                    header_row = index
                continue
            data.append(cells)
    finally:
        wb.close()
    if header is None:
        raise InputError(
            f"The {what} workbook {path}, sheet {chosen!r}, is empty. Expected a header row and "
            "one row per episode.",
            path=path,
        )
    width = len(header)
    fixed: list[list[str]] = []
    for cells in data:
        extra = cells[width:]
        if any(extra):
            row_no = header_row + 1 + len(fixed)
            col = _column_letter(width + 1 + next(i for i, v in enumerate(extra) if v))
            raise InputError(
                f"The {what} workbook {path}, sheet {chosen!r}, row {row_no} has a value in "
                f"column {col}, beyond the last named column.",
                path=path,
            )
        cells = cells[:width] + [""] * max(0, width - len(cells))
        fixed.append(cells)
    frame = pd.DataFrame(fixed, columns=range(width), dtype=str)
    if frame.empty:
        frame = pd.DataFrame({i: pd.Series([], dtype=str) for i in range(width)})
    frame, original, blank, more = _finish(frame, header, path, what, first_row=header_row + 1)
    return Table(frame, path, "xlsx", None, chosen, original, blank, (*notes, *more))


def _column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _finish(
    frame: pd.DataFrame, headers: list[str], path: Path, what: str, *, first_row: int
) -> tuple[pd.DataFrame, dict[str, str], int, tuple[str, ...]]:
    """Normalise headers, refuse blank or duplicate ones, drop blank rows, add `row_number`."""
    original: dict[str, str] = {}
    normalised: list[str] = []
    for position, raw in enumerate(headers, start=1):
        name = normalise_header(raw)
        if name == "":
            if (frame.iloc[:, position - 1] == "").all():
                normalised.append(f"__blank_{position}")  # an empty trailing column: ignored
                continue
            raise InputError(
                f"The {what} file {path} has a blank column header (column "
                f"{_column_letter(position)}) above cells that hold values. "
                "Every column needs a name.",
                path=path,
            )
        if name in original:
            raise InputError(
                f"The {what} file {path} has two columns that both mean {name!r} "
                f"({original[name]!r} and {raw!r}). Remove or rename one of them.",
                path=path,
            )
        original[name] = raw
        normalised.append(name)
    frame = frame.copy()
    frame.columns = normalised
    frame = frame[[c for c in normalised if not c.startswith("__blank_")]]
    frame = frame.fillna("").astype(str)
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    row_numbers = pd.RangeIndex(first_row, first_row + len(frame))
    blank = 0
    if len(frame.columns):
        nonblank = (frame != "").any(axis=1).to_numpy()
        if not nonblank.all():
            blank = int((~nonblank).sum())
            frame = frame.loc[nonblank]
            row_numbers = row_numbers[nonblank]
    frame.insert(0, ROW_NUMBER, row_numbers.to_numpy())
    frame = frame.reset_index(drop=True)
    return frame, original, blank, ()
