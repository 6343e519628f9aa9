"""Reading tabular input files (CSV or XLSX) into a frame of strings, as the analyst typed them.

Every cell comes back as text (blank = ``""``), so no value is silently changed by type
guessing: ids keep their leading zeros and dates are parsed later, day-first or ISO only.
Whole-file problems raise `InputError` naming the file and what is wrong.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from geo.errors import InputError
from geo.schema import ROW_NUMBER
from geo.xlsx import column_letter as _column_letter

_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # OLE2: .xls, and password-protected .xlsx
_XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_FILE_ROW_NUMBER = "file_row_number"
_SEP_LINE = re.compile(r"\"?sep=([,;\t|])\"?[ \t]*(?:\r\n|\n|\r)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")


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
    text = str(name).replace("\ufeff", "").replace("\u200b", "").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def read_table(path: str | Path, *, sheet: str | None = None, what: str = "episodes") -> Table:
    """Read a CSV or XLSX file into a `Table` of strings.

    Parameters
    ----------
    path
        CSV (UTF-8, UTF-8 with BOM, UTF-16, or Windows-1252 as Excel exports it; comma,
        semicolon, tab or pipe delimited) or XLSX workbook. The format is decided by the
        content (an XLSX is a ZIP archive), not only by the file name.
    sheet
        Worksheet name for XLSX (default: the first sheet). Matched exactly, else ignoring
        case and surrounding spaces.
    what
        What the file is, for messages ("episodes", "homes register").

    Raises
    ------
    InputError
        The file is missing, empty, unreadable, not a table, has duplicate or blank headers,
        or a row with more cells than the header.
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
        msg = f"The {what} file {path} cannot be read: {exc.strerror or exc}."
        raise InputError(msg, path=path) from exc
    suffix = path.suffix.lower()
    if head.startswith(_XLS_MAGIC):
        raise InputError(
            f"The {what} file {path} is an old Excel .xls workbook (or a password-protected "
            "workbook), which is not supported. Open it in Excel, remove any password and save "
            "it as .xlsx or as CSV (UTF-8).",
            path=path,
        )
    if head.startswith(_XLSX_MAGIC):
        return _read_xlsx(path, sheet=sheet, what=what)
    if suffix in _XLSX_SUFFIXES:
        raise InputError(
            f"The {what} file {path} is named {suffix} but is not an XLSX workbook (an .xlsx "
            "file is a ZIP archive; this one is damaged or is another kind of file). Open it in "
            "Excel and save it again as .xlsx, or export it as CSV (UTF-8).",
            path=path,
        )
    if sheet is not None:
        raise InputError(
            f"A sheet name ({sheet!r}) was given, but the {what} file {path} is not an XLSX "
            "workbook.",
            path=path,
        )
    table = _read_csv(path, what=what)
    if suffix == ".xls":  # some systems export delimited text under an Excel name
        name = _DELIMITER_NAMES.get(table.delimiter or ",", "comma")
        note = f"the file is named .xls but is a text file; read as {name}-separated text"
        table = replace(table, notes=(note, *table.notes))
    return table


def _binary(path: Path, what: str) -> InputError:
    return InputError(
        f"The {what} file {path} is not a text CSV file (it contains binary data). "
        "Expected a CSV file or an XLSX workbook.",
        path=path,
    )


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the bytes look like mostly-ASCII UTF-16 text."""
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


_FIRST_LINE = re.compile(r"[^\r\n]*\S[^\r\n]*")  # the first line that is not blank
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
# A byte that cannot start or continue a valid UTF-8 sequence where it stands (approximate:
# used only to say where stray Windows-1252 bytes are)
_NOT_UTF8 = re.compile(
    rb"(?<![\xc2-\xf4])[\x80-\xbf](?![\x80-\xbf])|[\xc0\xc1\xf5-\xff]"
    rb"|[\xc2-\xf4](?![\x80-\xbf])"
)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: decode the invalid bytes of a UTF-8 file as Windows-1252."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return bad.decode("cp1252", errors="strict"), exc.end


codecs.register_error("hotspots-cp1252", _cp1252_fallback)


def _decode(raw: bytes, path: Path, what: str) -> tuple[str, str]:
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            text, encoding = raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The {what} file {path} starts with a UTF-8 byte-order mark but is not valid "
                f"UTF-8 (bad byte at position {exc.start + 3}). Save it again as 'CSV UTF-8'.",
                path=path,
            ) from exc
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(raw[:4096]):
        codec = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else None
        codec = codec or _utf16_without_bom(raw[:4096]) or "utf-16"
        try:
            text, encoding = raw.decode(codec), "utf-16"
        except UnicodeDecodeError as exc:
            raise InputError(
                f"The {what} file {path} looks like UTF-16 but cannot be decoded "
                f"(bad bytes at position {exc.start}). Save it again as 'CSV UTF-8'.",
                path=path,
            ) from exc
    else:
        if b"\x00" in raw:
            raise _binary(path, what)
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                if _UTF8_MULTIBYTE.search(raw):
                    # Mostly UTF-8 with a few stray Windows-1252 bytes (text pasted from another
                    # export): keep the UTF-8 text; read only the invalid bytes as Windows-1252.
                    text = raw.decode("utf-8", errors="hotspots-cp1252")
                    encoding = "utf-8 (with Windows-1252 bytes)"
                else:
                    text, encoding = raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"The {what} file {path} is neither UTF-8 nor Windows-1252 text (byte "
                    f"0x{raw[exc.start]:02x} at position {exc.start}). Save it again as "
                    "'CSV UTF-8'.",
                    path=path,
                ) from exc
    # Text files hold no NULs and few control characters; binary files hold many.
    sample = text[:65536]
    if "\x00" in text or len(_CONTROL.findall(sample)) > max(2, len(sample) // 100):
        raise _binary(path, what)
    return text, encoding


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def _read_csv(path: Path, *, what: str) -> Table:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"The {what} file {path} cannot be read: {exc.strerror or exc}."
        raise InputError(msg, path=path) from exc
    empty = InputError(
        f"The {what} file {path} is empty. Expected a header row and one row per record.",
        path=path,
    )
    if not raw or raw.isspace():  # (not raw.strip(): that copies the whole file)
        raise empty
    text, encoding = _decode(raw, path, what)
    decode_notes: tuple[str, ...] = ()
    if encoding.startswith("utf-8 (with"):
        bad = [m.start() for m in _NOT_UTF8.finditer(raw)]
        line = raw[: bad[0]].count(b"\n") + 1 if bad else 0
        decode_notes = (
            f"{len(bad)} byte(s) were not UTF-8 and were read as Windows-1252 (the first on "
            f"line {line}); the rest of the file is UTF-8",
        )
    if not text or text.isspace():
        raise empty
    if text.lstrip()[:9].lower().startswith(("<html", "<!doctype", "<table", "<?xml")):
        raise InputError(
            f"The {what} file {path} is a web page or XML document, not a CSV file or an XLSX "
            "workbook. Open it in Excel and save it as .xlsx or as CSV (UTF-8).",
            path=path,
        )
    notes: tuple[str, ...] = decode_notes
    hint = _SEP_LINE.match(text)
    if hint:  # Excel's "sep=;" first line names the delimiter; Excel does not show it as a row
        delimiter = hint.group(1)
        text = text[hint.end() :]
        notes = (*notes, f"the first line {hint.group(0).strip()!r} set the delimiter",)
    else:
        first_line = _FIRST_LINE.search(text)[0]  # type: ignore[index]  # (text is not blank)
        delimiter = _sniff_delimiter(first_line)
    same_bytes = encoding == "utf-8" and not hint  # the bytes are the text: no re-encoding
    fast = _read_csv_fast(text, delimiter, data=raw if same_bytes else None)
    if fast is not None:
        header, header_row, columns, n_rows = fast
        frame, original, blank, more = _finish(
            columns, n_rows, header, path, what, first_row=header_row + 1
        )
        notes = (*notes, *more)
        if len(frame.columns) == 2 and delimiter == ",":  # row_number + one column
            notes = (*notes, "the header has a single column: is the file really comma-separated?")
        return Table(frame, path, encoding, delimiter, None, original, blank, notes)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_row = 0
    records: list[list[str]] = []
    count = 0  # records read so far = spreadsheet rows (a quoted line break stays in its row)
    try:
        for record in reader:
            count += 1
            if header is None:
                if any(cell.strip() for cell in record):
                    header, header_row = record, count
                continue
            records.append(record)
    except csv.Error as exc:
        raise InputError(
            f"The {what} file {path}, row {count + 1}, is not well-formed CSV ({exc}). Check "
            'for an unbalanced double quote (") in or above that row.',
            path=path,
        ) from exc
    if header is None:  # only delimiters and blank lines
        raise empty
    _refuse_title_line(header, header_row, records, path, what)
    fixed = _fit_rows(records, len(header), path, what, header_row, where=f"file {path}")
    frame, original, blank, more = _finish(
        _columns(fixed, len(header)), len(fixed), header, path, what, first_row=header_row + 1
    )
    notes = (*notes, *more)
    if len(frame.columns) == 2 and delimiter == ",":  # row_number + one column
        notes = (*notes, "the header has a single column: is the file really comma-separated?")
    return Table(frame, path, encoding, delimiter, None, original, blank, notes)


def _refuse_title_line(
    header: Sequence[str], header_row: int, records: list[list[str]], path: Path, what: str
) -> None:
    """A one-cell first line above a wider row is a title, not the header: say so."""
    if sum(1 for c in header if c.strip()) != 1:
        return
    for offset, record in enumerate(records[:20], start=1):
        filled = sum(1 for c in record if c.strip())
        if filled >= 3:
            title = next(c for c in header if c.strip()).strip()
            raise InputError(
                f"The {what} file {path} starts with a line that is not the header: row "
                f"{header_row} holds only {title!r}, and the table seems to start at row "
                f"{header_row + offset}. Delete the lines above the header row (the row of "
                "column names) and try again.",
                path=path,
            )
        if filled:
            return


def _read_csv_fast(
    text: str, delimiter: str, *, data: bytes | None = None
) -> tuple[list[str], int, list[np.ndarray], int] | None:
    """Parse well-formed CSV with pandas' C parser (about 10x faster than the csv module).

    Returns the header, its record number, one stripped object array per column and the
    number of data records; or None when the file is not regular (a row wider than the first,
    an unbalanced quote, a blank first line...), in which case the careful csv-module path
    reads it and names the row at fault.
    """
    if not text or text[0] in "\r\n":
        return None
    if data is None:  # `data`: `text` as UTF-8, when the caller has it
        data = text.encode("utf-8")  # the C parser reads bytes much faster than text
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            header=None,
            dtype=object,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
            encoding="utf-8",
            quoting=csv.QUOTE_MINIMAL,
            doublequote=True,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    if frame.empty:
        return None
    strip = _cells_may_need_strip(data, delimiter)
    del data
    raw_header = ["" if pd.isna(v) else str(v) for v in frame.iloc[0]]
    # Short rows and blank lines: pandas fills the cells they lack with NaN, so a row that
    # lacks any cell lacks the last one: only those rows need looking at in the other columns.
    short = np.flatnonzero(pd.isna(frame[frame.columns[-1]].to_numpy(dtype=object)))
    columns = []
    for col in list(frame.columns):
        values = frame.pop(col).to_numpy(dtype=object)
        if len(short):
            missing = short[pd.isna(values[short])]
            if len(missing):
                values = values.copy()
                values[missing] = ""
        if strip:
            values = np.asarray(pd.Series(values, dtype=object).str.strip(), dtype=object)
        columns.append(values)
    header = raw_header  # an unnamed empty column is dropped by `_finish`
    if not any(h.strip() for h in header):
        return None
    return header, 1, [c[1:] for c in columns], len(columns[0]) - 1


_STRIP_CHUNK = 1 << 24


def _cells_may_need_strip(data: bytes, delimiter: str) -> bool:
    """False when no cell of this UTF-8 CSV text can start or end with whitespace.

    Stripping a million-row file cell by cell costs seconds; this screen costs a fraction of
    that. It is conservative: the text must be ASCII, hold no whitespace control character
    but line breaks (and a tab delimiter), and every space must sit between two bytes that
    are neither the delimiter, a line break nor a double quote, and not at either end; a
    carriage return must end a line, and no double quote may touch a line break (nor, in a
    tab-separated file, a tab).
    """
    if not data.isascii():
        return True  # non-ASCII whitespace (no-break space...) could sit at an edge
    arr = np.frombuffer(data, dtype=np.uint8)
    if len(arr) == 0:
        return False
    if arr[0] == 32 or arr[-1] == 32:
        return True
    delim = ord(delimiter)
    edges = np.zeros(256, dtype=bool)
    edges[[delim, 10, 13, 34]] = True
    breaks = np.zeros(256, dtype=bool)  # next to a quote: a quoted cell may end with it
    breaks[[10, 13]] = True
    if delim < 32:  # a tab delimiter: a quoted cell can hold a tab at its edge
        breaks[delim] = True
    for start in range(0, len(arr), _STRIP_CHUNK):
        part = arr[start : start + _STRIP_CHUNK]
        control = part < 32
        if control.any():
            allowed = np.count_nonzero(part == 10) + np.count_nonzero(part == 13)
            if delim < 32:
                allowed += np.count_nonzero(part == delim)
            if np.count_nonzero(control) != allowed:
                return True  # a tab, form feed, ... that str.strip would remove
        spaces = np.flatnonzero(part == 32) + start
        if len(spaces) and (edges[arr[spaces - 1]].any() or edges[arr[spaces + 1]].any()):
            return True
        returns = np.flatnonzero(part == 13) + start
        returns = returns[returns + 1 < len(arr)]
        if len(returns) and (arr[returns + 1] != 10).any():
            return True  # a carriage return that does not end a line
        quotes = np.flatnonzero(part == 34) + start
        if len(quotes):  # a quoted cell that starts or ends with a line break
            near = np.concatenate([quotes[quotes > 0] - 1, quotes[quotes + 1 < len(arr)] + 1])
            if breaks[arr[near]].any():
                return True
    return False


def _columns(rows: list[list[str]], width: int) -> list[np.ndarray]:
    """Rows of equal width -> one object array per column."""
    if not rows:
        return [np.array([], dtype=object) for _ in range(width)]
    return [np.array(col, dtype=object) for col in zip(*rows, strict=True)]


def _fit_rows(
    rows: list[list[str]], width: int, path: Path, what: str, header_row: int, *, where: str
) -> list[list[str]]:
    """Pad short rows with blanks; refuse a row with a value beyond the last named column."""
    fixed: list[list[str]] = []
    for offset, cells in enumerate(rows, start=1):
        if len(cells) > width:
            extra = cells[width:]
            filled = [i for i, v in enumerate(extra) if v.strip()]
            if filled:
                col = _column_letter(width + 1 + filled[0])
                raise InputError(
                    f"The {what} {where}, row {header_row + offset}, has a value "
                    f"({extra[filled[0]].strip()!r}) in column {col}, beyond the last named "
                    f"column (the header has {width} columns). Name that column in the header "
                    "or remove the value.",
                    path=path,
                )
            cells = cells[:width]
        elif len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        fixed.append([c.strip() for c in cells])
    return fixed


def _cell_to_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.microsecond:  # Excel stores times as fractions of a day: round to the second
            value = (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.hour == value.minute == value.second == 0:
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
    from openpyxl import load_workbook

    def unreadable(exc: Exception) -> InputError:
        return InputError(
            f"The {what} file {path} is not a readable XLSX workbook ({type(exc).__name__}: "
            f"{exc}). Expected an .xlsx file saved by Excel, or a CSV file.",
            path=path,
        )

    notes: list[str] = []
    if path.suffix.lower() not in _XLSX_SUFFIXES:
        notes.append(f"the file is named {path.suffix or '(no suffix)'} but is an XLSX workbook")
    try:
        fh = path.open("rb")
    except OSError as exc:
        msg = f"The {what} file {path} cannot be read: {exc.strerror or exc}."
        raise InputError(msg, path=path) from exc
    with fh:
        try:
            # A file object, not the path: openpyxl would refuse a workbook named .csv.
            wb = load_workbook(fh, read_only=True, data_only=True)
        except Exception as exc:  # any failure to parse the user's file is a user error
            raise unreadable(exc) from exc
        try:
            names = [ws.title for ws in wb.worksheets]
            if not names:
                raise InputError(f"The {what} workbook {path} has no worksheets.", path=path)
            if sheet is None:
                visible = [ws.title for ws in wb.worksheets if ws.sheet_state == "visible"]
                chosen = (visible or names)[0]
                hidden = [n for n in names if n not in visible]
                if len(names) > 1:
                    notes.append(
                        f"the workbook has {len(names)} sheets ({', '.join(names)}"
                        + (f"; hidden: {', '.join(hidden)}" if hidden else "")
                        + f"); read the first visible one, {chosen!r}. Use --sheet to choose "
                        "another."
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
            # Some writers record a wrong sheet size; openpyxl would then cut rows silently.
            ws.reset_dimensions()
            header: list[str] | None = None
            header_row = 0
            data: list[list[str]] = []
            try:
                rows: Iterable[Sequence[object]] = ws.iter_rows(values_only=True)
                for index, row in enumerate(rows, start=1):
                    cells = [_cell_to_text(v) for v in row]
                    if header is None:
                        if any(cells):
                            header = cells
                            header_row = index
                        continue
                    data.append(cells)
            except Exception as exc:  # a damaged sheet inside a valid ZIP
                raise unreadable(exc) from exc
        finally:
            wb.close()
    if header is None:
        raise InputError(
            f"The {what} workbook {path}, sheet {chosen!r}, is empty. Expected a header row and "
            "one row per record.",
            path=path,
        )
    where = f"workbook {path}, sheet {chosen!r}"
    fixed = _fit_rows(data, len(header), path, what, header_row, where=where)
    frame, original, blank, more = _finish(
        _columns(fixed, len(header)), len(fixed), header, path, what, first_row=header_row + 1
    )
    return Table(frame, path, "xlsx", None, chosen, original, blank, (*notes, *more))


def _finish(
    columns: list[np.ndarray],
    n_rows: int,
    headers: list[str],
    path: Path,
    what: str,
    *,
    first_row: int,
) -> tuple[pd.DataFrame, dict[str, str], int, tuple[str, ...]]:
    """Normalise headers, refuse blank or duplicate ones, drop blank rows, add `row_number`.

    `columns` hold stripped cells (object arrays of `n_rows` strings), one per header;
    `first_row` is the spreadsheet row of the first record.
    """
    original: dict[str, str] = {}
    letters: dict[str, str] = {}
    kept: dict[str, int] = {}
    notes: list[str] = []
    for position, raw in enumerate(headers, start=1):
        name = normalise_header(raw)
        letter = _column_letter(position)
        if name == "":
            values = columns[position - 1]
            filled = np.flatnonzero(values != "")
            if len(filled) == 0:
                continue  # an empty column with no name: ignored
            first = int(filled[0])
            raise InputError(
                f"The {what} file {path} has a blank column header (column {letter}) above "
                f"cells that hold values (row {first_row + first}: {values[first]!r}). Every "
                "column needs a name.",
                path=path,
            )
        if name == ROW_NUMBER:  # reserved for the spreadsheet row we add
            notes.append(
                f"column {letter} ({str(raw).strip()!r}) was renamed `{_FILE_ROW_NUMBER}`: "
                f"`{ROW_NUMBER}` is the spreadsheet row counted by this tool"
            )
            name = _FILE_ROW_NUMBER
        if name in original:
            raise InputError(
                f"The {what} file {path} has two columns that both mean {name!r}: column "
                f"{letters[name]} ({original[name].strip()!r}) and column {letter} "
                f"({str(raw).strip()!r}). Headers are matched ignoring case, spaces and '-'. "
                "Remove or rename one of them.",
                path=path,
            )
        original[name] = str(raw)
        letters[name] = letter
        kept[name] = position - 1
    row_numbers = np.arange(first_row, first_row + n_rows, dtype="int64")
    # a row is blank when every cell is: test the first column, then only its blank rows
    candidates = np.flatnonzero(columns[0] == "") if columns else np.arange(n_rows)
    for values in columns[1:]:
        if not len(candidates):
            break
        candidates = candidates[values[candidates] == ""]
    nonblank = np.ones(n_rows, dtype=bool)
    nonblank[candidates] = False
    blank = int(n_rows - nonblank.sum())
    every = not len(candidates)
    data: dict[str, object] = {ROW_NUMBER: row_numbers if every else row_numbers[nonblank]}
    for name, i in kept.items():
        data[name] = pd.Series(columns[i] if every else columns[i][nonblank], dtype="str")
    frame = pd.DataFrame(data)
    frame.index = pd.RangeIndex(len(frame))
    return frame, original, blank, tuple(notes)
