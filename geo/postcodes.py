"""Offline postcode lookup (DATA-CONTRACT section 3): import a postcode directory once into a
compact local index, then resolve full postcodes, sectors and districts to coordinates.

Nothing here talks to a network. The index is built from public data only (ONSPD, Code-Point
Open or a plain CSV); the postcodes being looked up never leave the process.

Normalisation rules (see docs/postcodes.md):

* a **full postcode** is matched after removing all whitespace and upper-casing: outward code
  ``A9``, ``A99``, ``AA9``, ``AA99``, ``A9A`` or ``AA9A`` followed by an inward code ``9AA``
  (``ox16 9aa``, ``OX169AA`` and `` OX16  9AA `` are all ``OX16 9AA``), plus ``GIR 0AA``;
* a **sector** is an outward code, whitespace, and one digit (``OX16 9``). Without the space it
  is not recognised (``OX169`` could be misread), so it is invalid;
* a **district** is an outward code on its own (``OX16``);
* letters and digits are never swapped (``0X16 9AA`` is invalid, not ``OX16 9AA``); only ASCII
  letters and digits count.

The index stores full postcodes in their display form (``OX16 9AA``, one space) as sorted
fixed-width bytes (``S8``), so the display form *is* the key.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata as _metadata
from pathlib import Path
from typing import IO, Final

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo.errors import HotspotError, InputError

__all__ = [
    "FORMAT_VERSION",
    "ImportSummary",
    "PostcodeIndex",
    "default_index_path",
    "import_postcodes",
    "load_postcode_index",
    "normalise_postcodes",
]

FORMAT_VERSION: Final = 1
INDEX_FILENAME: Final = "postcodes.npz"
CHUNK_ROWS: Final = 100_000  # ~50 MB of ONSPD text per chunk
PROGRESS_ROWS: Final = 500_000  # a progress line each time this many more rows are read

# Kinds returned by normalise_postcodes, and statuses/precisions returned by lookup.
BLANK: Final = "blank"
FULL: Final = "full"
SECTOR: Final = "sector"
DISTRICT: Final = "district"
INVALID: Final = "invalid"
_KINDS: Final = (BLANK, FULL, SECTOR, DISTRICT, INVALID)  # position = internal code
_K_BLANK, _K_FULL, _K_SECTOR, _K_DISTRICT, _K_INVALID = range(5)

FOUND: Final = "found"
NOT_FOUND: Final = "postcode_not_found"
INVALID_POSTCODE: Final = "invalid_postcode"
STATUSES: Final = (FOUND, NOT_FOUND, INVALID_POSTCODE, BLANK)
PRECISIONS: Final = ("postcode", "sector", "district", "")

# Import skip reasons, in the order they are checked.
SKIP_REASONS: Final = {
    "blank_postcode": "the postcode cell is blank",
    "invalid_postcode": "not a full UK postcode (sectors and districts are derived, not imported)",
    "invalid_coordinates": "coordinates outside the UK or outside the British National Grid",
    "no_grid_reference": "the directory gives no position (ONSPD lat 99.999999, blank "
    "eastings; Code-Point quality 90)",
    "missing_coordinates": "latitude/longitude and easting/northing blank or not numbers",
    "duplicate_postcode": "the postcode was already imported from an earlier row",
}

SOURCE_KINDS: Final = {
    "onspd": "ONS Postcode Directory (ONSPD)",
    "codepoint": "OS Code-Point Open",
    "plain": "plain postcode CSV",
}

ACCEPTED_FORMATS: Final = (
    "the ONS Postcode Directory (ONSPD) as one CSV, its `multi_csv` folder or the zip "
    "(columns `pcds` or `pcd`, `lat`, `long`, `oseast1m`, `osnrth1m`, `doterm`); "
    "OS Code-Point Open as the zip or a folder of its header-less CSVs "
    "(postcode, quality, eastings, northings, ...); "
    "or a CSV with a header `postcode,lat,lon` or `postcode,easting,northing`"
)

# Generous bounds of the UK (with the Channel Islands and the Isle of Man) and of the grid.
LAT_RANGE: Final = (49.0, 62.0)
LON_RANGE: Final = (-9.0, 3.0)
EASTING_RANGE: Final = (0.0, 700_000.0)
NORTHING_RANGE: Final = (0.0, 1_300_000.0)
ONSPD_NO_LAT: Final = 99.999999  # ONSPD's placeholder latitude for "no grid reference"
CODEPOINT_NO_COORDS: Final = 90  # Code-Point Open positional quality "no coordinates"

_OUTWARD = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_FULL_RE: Final = re.compile(rf"(?:{_OUTWARD}[0-9][A-Z]{{2}}|GIR0AA)")
_SECTOR_RE: Final = re.compile(rf"{_OUTWARD} [0-9]")
_DISTRICT_RE: Final = re.compile(_OUTWARD)
_POSTCODE_COLUMNS: Final = {
    "onspd": ("pcds", "pcd8", "pcd", "pcd7", "pcd2"),
    "plain": ("postcode",),
}
_LAT_NAMES: Final = ("lat", "latitude")
_LON_NAMES: Final = ("long", "lon", "lng", "longitude")
_EAST_NAMES: Final = {"onspd": ("oseast1m", "east1m"), "plain": ("easting", "eastings")}
_NORTH_NAMES: Final = {"onspd": ("osnrth1m", "north1m"), "plain": ("northing", "northings")}


# --------------------------------------------------------------------------------------------
# normalisation


def normalise_postcodes(values: pd.Series) -> pd.DataFrame:
    """Normalise postcodes, sectors and districts.

    Returns a frame with the index of `values` and the columns `postcode` (display form:
    ``OX16 9AA``, ``OX16 9``, ``OX16``; ``""`` when invalid or blank) and `kind` (``full``,
    ``sector``, ``district``, ``invalid``, ``blank``). Missing values and whitespace are
    ``blank``; anything that is not text (a number read from a spreadsheet) is ``invalid``.
    """
    codes, uniques = _factorize(values)
    norm = _normalise_unique(uniques)
    kind = np.append(norm.kind, np.int8(_K_BLANK))[codes]
    display = np.append(norm.display, "")[codes]
    return pd.DataFrame(
        {
            "postcode": pd.array(display, dtype="str"),
            "kind": pd.array(np.asarray(_KINDS, dtype=object)[kind], dtype="str"),
        },
        index=values.index,
    )


def _factorize(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes into unique values (missing values get code len(uniques)) and the uniques as text.

    Non-text values (numbers from a spreadsheet) become an impossible text, hence invalid."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    uniq = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(uniq, skipna=False) not in ("string", "empty"):
        not_text = np.fromiter((not isinstance(v, str) for v in uniq), bool, len(uniq))
        uniq = uniq.copy()
        uniq[not_text] = "\x00"  # never a postcode, sector or district
    codes = np.where(codes < 0, len(uniq), codes)
    return codes, pd.Series(uniq, dtype=object)


@dataclass(frozen=True)
class _Norm:
    kind: np.ndarray  # int8 codes into _KINDS
    display: np.ndarray  # object: display form or ""
    full_key: np.ndarray  # S8: display form of full postcodes, b"" otherwise


def _normalise_unique(values: pd.Series) -> _Norm:
    """Vectorised normalisation of text values (no missing values).

    Ordinary full postcodes (any case, spaces anywhere) are checked character by character on
    a fixed-width array; everything else (sectors, districts, tabs or no-break spaces,
    garbage) takes the slower path of `_classify_one`, value by value."""
    text = values.to_numpy(dtype=object)
    n = len(text)
    kind = np.full(n, _K_INVALID, dtype=np.int8)
    display = np.full(n, "", dtype=object)
    full_key = np.zeros(n, dtype="S8")
    fast, keys = _fast_full(text)
    if len(fast):
        full_key[fast] = keys
        display[fast] = keys.astype("U8").astype(object)
        kind[fast] = _K_FULL
    rest = np.ones(n, dtype=bool)
    rest[fast] = False
    rest = np.flatnonzero(rest)
    if len(rest):
        pairs = [_classify_one(v) for v in text[rest]]
        kind[rest] = [k for k, _ in pairs]
        display[rest] = [d for _, d in pairs]
        full_rest = rest[kind[rest] == _K_FULL]
        if len(full_rest):
            full_key[full_rest] = np.asarray(display[full_rest].tolist(), dtype="S8")
    return _Norm(kind, display, full_key)


def _char_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per byte: its upper-case form, and a class (1 letter, 2 digit, 0 anything else)."""
    upper = np.arange(256, dtype=np.uint8)
    upper[ord("a") : ord("z") + 1] -= 32
    cls = np.zeros(256, dtype=np.uint8)
    cls[ord("A") : ord("Z") + 1] = 1
    cls[ord("a") : ord("z") + 1] = 1
    cls[ord("0") : ord("9") + 1] = 2
    return upper, cls


_UPPER, _CLASS = _char_tables()
_GIR = np.frombuffer(b"GIR0AA", dtype=np.uint8)


def _fast_full(text: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the values that are full postcodes once spaces are removed, and their
    ``S8`` display keys. Same rule as `_FULL_RE`, on an array of characters."""
    a = np.asarray(text, dtype=np.dtypes.StringDType())
    compact = np.strings.replace(a, " ", "")
    length = np.strings.str_len(compact)
    cand = np.flatnonzero((length >= 5) & (length <= 7))
    if not len(cand):
        return cand, np.zeros(0, dtype="S8")
    points = np.ascontiguousarray(compact[cand].astype("U7")).view(np.uint32).reshape(-1, 7)
    m = np.where(points < 128, points, 0).astype(np.uint8)  # non-ASCII -> NUL: no class
    cls = _CLASS[m]
    letter, digit = cls == 1, cls == 2
    alnum = cls != 0
    size = length[cand]
    rows = np.arange(len(cand))
    inward = digit[rows, size - 3] & letter[rows, size - 2] & letter[rows, size - 1]
    out = size - 3
    outward = letter[:, 0] & (
        ((out == 2) & digit[:, 1])
        | ((out == 3) & ((letter[:, 1] & digit[:, 2]) | (digit[:, 1] & alnum[:, 2])))
        | ((out == 4) & letter[:, 1] & digit[:, 2] & alnum[:, 3])
    )
    upper = _UPPER[m]
    gir = (size == 6) & (upper[:, :6] == _GIR).all(axis=1)
    good = (inward & outward) | gir
    compact7 = np.ascontiguousarray(upper[good]).view("S7").ravel()
    return cand[good], _display_keys(compact7)


def _classify_one(value: str) -> tuple[int, str]:
    """The slow path for anything that is not an ordinary full postcode."""
    text = " ".join(value.split())  # every run of whitespace (tabs, no-break spaces) -> " "
    if not text:
        return _K_BLANK, ""
    if not text.isascii():
        return _K_INVALID, ""
    text = text.upper()
    compact = text.replace(" ", "")
    if _FULL_RE.fullmatch(compact):
        return _K_FULL, f"{compact[:-3]} {compact[-3:]}"
    if _SECTOR_RE.fullmatch(text):
        return _K_SECTOR, text
    if _DISTRICT_RE.fullmatch(text):
        return _K_DISTRICT, text
    return _K_INVALID, ""


def _display_keys(compact: np.ndarray) -> np.ndarray:
    """``S7`` compact full postcodes (``OX169AA``) -> ``S8`` display form (``OX16 9AA``)."""
    n = len(compact)
    src = np.zeros((n, 8), dtype=np.uint8)
    src[:, :7] = np.ascontiguousarray(compact, dtype="S7").view(np.uint8).reshape(n, 7)
    split = ((src != 0).sum(axis=1) - 3)[:, None]  # position of the space
    j = np.arange(8)
    shifted = src[:, (j - 1) % 8]  # each character moved one place right
    out = np.where(j < split, src, np.where(j == split, ord(" "), shifted))
    return np.ascontiguousarray(out, dtype=np.uint8).view("S8").ravel()


def _prefix_keys(keys: np.ndarray, drop: int, width: int) -> np.ndarray:
    """Drop the last `drop` characters of ``S8`` display keys: 2 -> sector, 4 -> district."""
    n = len(keys)
    mat = np.ascontiguousarray(keys, dtype="S8").view(np.uint8).reshape(n, 8)
    keep = ((mat != 0).sum(axis=1) - drop)[:, None]
    out = np.where(np.arange(8)[None, :] < keep, mat, 0).astype(np.uint8)
    return np.ascontiguousarray(out).view("S8").ravel().astype(f"S{width}")


def _as_u8(keys: np.ndarray) -> np.ndarray:
    """Byte-string keys (up to 8 bytes) as native unsigned integers in the same sort order."""
    return np.ascontiguousarray(keys, dtype="S8").view(">u8").astype(np.uint64)


def _search(table: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `queries` in the sorted `table` (both from `_as_u8`), and whether found."""
    if len(table) == 0 or len(queries) == 0:
        return np.zeros(len(queries), dtype=np.intp), np.zeros(len(queries), dtype=bool)
    order = np.argsort(queries)  # sorted queries make the binary searches cache-friendly
    pos = np.empty(len(queries), dtype=np.intp)
    pos[order] = np.searchsorted(table, queries[order])
    pos = np.minimum(pos, len(table) - 1)
    return pos, table[pos] == queries


# --------------------------------------------------------------------------------------------
# the index


@dataclass(frozen=True, eq=False)
class PostcodeIndex:
    """A loaded postcode index: sorted full postcodes with their positions, and sector and
    district tables holding the mean position of their full postcodes.

    Eastings/northings are British National Grid metres (EPSG:27700), lat/lon WGS84
    (EPSG:4326). `doterm` is the ONSPD termination month as ``YYYYMM`` (0 = live,
    -1 = terminated on a date that could not be read).
    """

    postcodes: np.ndarray = field(repr=False)  # S8, sorted display form
    easting: np.ndarray = field(repr=False)
    northing: np.ndarray = field(repr=False)
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)
    doterm: np.ndarray = field(repr=False)  # int32 YYYYMM, 0 = live
    sectors: np.ndarray = field(repr=False)  # S6, sorted ("OX16 9")
    sector_xy: np.ndarray = field(repr=False)  # (n, 4) easting, northing, lat, lon means
    sector_count: np.ndarray = field(repr=False)  # int32
    districts: np.ndarray = field(repr=False)  # S4, sorted ("OX16")
    district_xy: np.ndarray = field(repr=False)
    district_count: np.ndarray = field(repr=False)
    meta: dict[str, object] = field(default_factory=dict, repr=False)
    path: Path | None = None
    _int_keys: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        keys = tuple(_as_u8(k) for k in (self.postcodes, self.sectors, self.districts))
        object.__setattr__(self, "_int_keys", keys)

    def __len__(self) -> int:
        return len(self.postcodes)

    def __repr__(self) -> str:
        return (
            f"PostcodeIndex({len(self):,} postcodes, {len(self.sectors):,} sectors, "
            f"{len(self.districts):,} districts, from {self.meta.get('source_name')!r})"
        )

    @property
    def metadata(self) -> dict[str, object]:
        """Provenance: format and tool version, source kind/name/sha256, counts."""
        return json.loads(json.dumps(self.meta))  # a deep copy

    def lookup(self, postcodes: pd.Series) -> pd.DataFrame:
        """Resolve postcodes, sectors and districts (any case and spacing).

        Returns a frame with the index of `postcodes` and the columns `postcode` (display
        form, ``""`` when invalid or blank), `precision` (``postcode``, ``sector``,
        ``district``; ``""`` unless found), `status` (``found``, ``postcode_not_found``,
        ``invalid_postcode``, ``blank``) and `easting`, `northing`, `lat`, `lon` (NaN unless
        found). A sector or district resolves to the mean position of its full postcodes.
        """
        if not isinstance(postcodes, pd.Series):
            postcodes = pd.Series(postcodes, dtype=object)
        codes, uniques = _factorize(postcodes)
        norm = _normalise_unique(uniques)
        n = len(uniques)
        xy = np.full((n + 1, 4), np.nan)  # the extra last row is for missing values
        status = np.full(n + 1, 3, dtype=np.int8)  # index into STATUSES; 3 = blank
        precision = np.full(n + 1, 3, dtype=np.int8)  # index into PRECISIONS; 3 = ""
        kind = norm.kind
        status[:n][kind == _K_INVALID] = 2
        full_keys, sector_keys, district_keys = self._int_keys
        for k, prec, table, values in (
            (_K_FULL, 0, full_keys, None),
            (_K_SECTOR, 1, sector_keys, self.sector_xy),
            (_K_DISTRICT, 2, district_keys, self.district_xy),
        ):
            rows = np.flatnonzero(kind == k)
            if not len(rows):
                continue
            if k == _K_FULL:
                queries = _as_u8(norm.full_key[rows])
            else:
                queries = _as_u8(np.asarray(norm.display[rows].tolist(), dtype="S8"))
            pos, hit = _search(table, queries)
            status[rows] = np.where(hit, 0, 1)
            found_rows, found_pos = rows[hit], pos[hit]
            precision[found_rows] = prec
            if values is None:
                xy[found_rows] = np.column_stack([
                    self.easting[found_pos], self.northing[found_pos],
                    self.lat[found_pos], self.lon[found_pos],
                ])  # fmt: skip
            else:
                xy[found_rows] = values[found_pos]
        display = np.append(norm.display, "")
        out = xy[codes]
        return pd.DataFrame(
            {
                "postcode": pd.array(display[codes], dtype="str"),
                "precision": pd.array(
                    np.asarray(PRECISIONS, dtype=object)[precision[codes]], dtype="str"
                ),
                "status": pd.array(np.asarray(STATUSES, dtype=object)[status[codes]], dtype="str"),
                "easting": out[:, 0],
                "northing": out[:, 1],
                "lat": out[:, 2],
                "lon": out[:, 3],
            },
            index=postcodes.index,
        )

    def save(self, path: Path) -> Path:
        """Write the index as a compressed ``.npz`` (atomically: a temporary file, renamed).
        Returns `path`."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            arrays = {
                "format_version": np.int32(FORMAT_VERSION),
                "meta": np.array(json.dumps(self.meta, sort_keys=True)),
                "postcode": self.postcodes,
                "easting": self.easting,
                "northing": self.northing,
                "lat": self.lat,
                "lon": self.lon,
                "doterm": self.doterm,
                "sector": self.sectors,
                "sector_xy": self.sector_xy,
                "sector_count": self.sector_count,
                "district": self.districts,
                "district_xy": self.district_xy,
                "district_count": self.district_count,
            }
            _write_npz(tmp, arrays)
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            msg = f"Cannot write the postcode index to {path}: {exc.strerror or exc}."
            raise HotspotError(msg) from exc
        return path


def _write_npz(path: Path, arrays: dict[str, object]) -> None:
    """What `np.savez_compressed` writes (a zip of ``.npy`` files, deflated), at compression
    level 1 instead of 6: four times faster on coordinates, and no bigger."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


_ARRAYS: Final = (
    "postcode", "easting", "northing", "lat", "lon", "doterm", "sector", "sector_xy",
    "sector_count", "district", "district_xy", "district_count",
)  # fmt: skip


def _is_index_file(path: Path) -> bool:
    """A zip holding ``format_version.npy`` and ``postcode.npy``: one of our indexes."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return {"format_version.npy", "postcode.npy"} <= names


def _read_index(path: Path) -> PostcodeIndex:
    what = f"The postcode index {path}"
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            msg = f"{what} is not a hotspots postcode index (a single NumPy array)."
            raise InputError(msg, path=path)
        with loaded as z:
            names = set(z.files)
            if "format_version" not in names:
                msg = f"{what} is not a hotspots postcode index (no format version)."
                raise InputError(msg, path=path)
            version = int(z["format_version"])
            if version != FORMAT_VERSION:
                msg = (
                    f"{what} has format version {version}; this version of the tool reads "
                    f"version {FORMAT_VERSION}. Import the postcode directory again with "
                    "`hotspots postcodes import`."
                )
                raise InputError(msg, path=path)
            missing = [a for a in (*_ARRAYS, "meta") if a not in names]
            if missing:
                msg = f"{what} is incomplete (missing {', '.join(missing)}); import it again."
                raise InputError(msg, path=path)
            arrays = {a: z[a] for a in _ARRAYS}
            meta = json.loads(str(z["meta"]))
    except InputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        msg = f"{what} cannot be read ({exc}). Import the postcode directory again."
        raise InputError(msg, path=path) from exc
    return PostcodeIndex(
        postcodes=arrays["postcode"], easting=arrays["easting"], northing=arrays["northing"],
        lat=arrays["lat"], lon=arrays["lon"], doterm=arrays["doterm"],
        sectors=arrays["sector"], sector_xy=arrays["sector_xy"],
        sector_count=arrays["sector_count"], districts=arrays["district"],
        district_xy=arrays["district_xy"], district_count=arrays["district_count"],
        meta=meta, path=path,
    )  # fmt: skip


def default_index_path() -> Path:
    """``$XDG_DATA_HOME/hotspots/postcodes.npz``, by default
    ``~/.local/share/hotspots/postcodes.npz`` (a relative XDG_DATA_HOME is ignored, as the
    XDG specification says)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "hotspots" / INDEX_FILENAME


def load_postcode_index(path: Path) -> PostcodeIndex:
    """Load an index written by `import_postcodes`, or build one in memory from a source
    (ONSPD / Code-Point Open / plain CSV, zip or folder) without writing anything."""
    path = Path(path)
    if not path.exists():
        msg = (
            f"The postcode lookup {path} does not exist. Give an index made by "
            "`hotspots postcodes import`, or a postcode directory: " + ACCEPTED_FORMATS + "."
        )
        raise InputError(msg, path=path)
    if path.is_file() and (path.suffix.lower() == ".npz" or _is_index_file(path)):
        return _read_index(path)
    index, _ = _build(path, progress=None)
    return index


# --------------------------------------------------------------------------------------------
# import


@dataclass(frozen=True)
class ImportSummary:
    """What `import_postcodes` did. `skipped` maps each reason of SKIP_REASONS to a count."""

    path: Path | None
    kind: str
    imported: int
    skipped: dict[str, int]
    terminated: int
    sectors: int
    districts: int
    seconds: float


def import_postcodes(
    source: Path,
    into: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> ImportSummary:
    """Read a postcode directory and write the index to `into` (a file, or a folder that gets
    ``postcodes.npz``), by default `default_index_path()`. An existing index is replaced only
    once the new one is complete."""
    start = time.perf_counter()
    source = Path(source)
    if not source.exists():
        msg = f"The postcode directory {source} does not exist. Accepted: {ACCEPTED_FORMATS}."
        raise InputError(msg, path=source)
    target = Path(into) if into is not None else default_index_path()
    if target.is_dir():
        target = target / INDEX_FILENAME
    index, counts = _build(source, progress=progress)
    if progress:
        progress(f"writing {target}")
    index.save(target)
    meta = index.meta
    return ImportSummary(
        path=target,
        kind=str(meta["source_kind"]),
        imported=len(index),
        skipped={k: v for k, v in counts.items() if v},
        terminated=int(np.count_nonzero(index.doterm)),
        sectors=len(index.sectors),
        districts=len(index.districts),
        seconds=round(time.perf_counter() - start, 3),
    )


@dataclass(frozen=True)
class _Member:
    """One CSV of a source: a plain file, a file in a folder, or a zip member."""

    name: str  # as shown to the user
    opener: Callable[[], IO[bytes]]
    source: Path  # the file or folder the user named
    in_multi_csv: bool = False


@dataclass(frozen=True)
class _Layout:
    kind: str
    header: bool
    columns: dict[str, str | int]  # role -> column name in the file (or position)
    skiprows: tuple[int, ...] = ()  # header rows of a header-less layout


def _build(
    source: Path, progress: Callable[[str], None] | None
) -> tuple[PostcodeIndex, dict[str, int]]:
    say = progress or (lambda _msg: None)
    with contextlib.ExitStack() as stack:
        members = _members(source, stack)
        kind, chosen = _choose(source, members)
        say(f"reading {SOURCE_KINDS[kind]} from {source} ({len(chosen)} file(s))")
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest: Future[str] = pool.submit(_source_sha256, source, [m for m, _ in chosen])
            counts = dict.fromkeys(SKIP_REASONS, 0)
            parts: list[dict[str, np.ndarray]] = []
            rows = 0
            for member, layout in chosen:
                n, member_parts, local = _read_member(member, layout, rows, say)
                rows += n
                parts.extend(member_parts)
                for k, v in local.items():
                    counts[k] += v
            sha = digest.result()
    if rows == 0:
        msg = f"The postcode directory {source} has a header but no data rows."
        raise InputError(msg, path=source)
    say("sorting and building the sector and district tables")
    index = _assemble(parts, counts)
    if len(index) == 0:
        reasons = ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)
        msg = f"No usable postcode in {source}: every row was skipped ({reasons})."
        raise InputError(msg, path=source)
    meta: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "tool_version": _tool_version(),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source_kind": kind,
        "source_description": SOURCE_KINDS[kind],
        "source_name": source.name,
        "source_files": [m.name for m, _ in chosen],
        "source_sha256": sha,
        "rows_read": rows,
        "imported": len(index),
        "skipped": {k: v for k, v in counts.items() if v},
        "terminated": int(np.count_nonzero(index.doterm)),
        "sectors": len(index.sectors),
        "districts": len(index.districts),
        "crs": {"easting_northing": "EPSG:27700", "lat_lon": "EPSG:4326"},
    }
    return replace(index, meta=meta, path=source), counts


def _tool_version() -> str:
    try:
        return _metadata.version("missing-hotspots")
    except _metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


def _is_csv(name: str) -> bool:
    parts = Path(name).parts
    return name.lower().endswith(".csv") and not any(p.startswith((".", "__MACOSX")) for p in parts)


def _members(source: Path, stack: contextlib.ExitStack) -> list[_Member]:
    """The CSVs of a source (a CSV, a zip or a folder), in a stable order."""
    if source.is_dir():
        files = sorted(
            p for p in source.rglob("*") if p.is_file() and _is_csv(str(p.relative_to(source)))
        )
        if not files:
            msg = f"The folder {source} holds no CSV file. Accepted: {ACCEPTED_FORMATS}."
            raise InputError(msg, path=source)
        return [
            _Member(
                str(p.relative_to(source)),
                lambda p=p: p.open("rb"),
                source,
                "multi_csv" in (q.lower() for q in p.relative_to(source).parts[:-1]),
            )
            for p in files
        ]
    if zipfile.is_zipfile(source):
        try:
            zf = stack.enter_context(zipfile.ZipFile(source))
            names = sorted(i.filename for i in zf.infolist() if not i.is_dir())
        except (OSError, zipfile.BadZipFile) as exc:
            msg = f"The zip {source} cannot be read ({exc})."
            raise InputError(msg, path=source) from exc
        csvs = [n for n in names if _is_csv(n)]
        if not csvs:
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            msg = (
                f"The zip {source} holds no CSV file (it holds: {shown or 'nothing'}). "
                f"Accepted: {ACCEPTED_FORMATS}."
            )
            raise InputError(msg, path=source)
        return [
            _Member(
                n,
                lambda n=n: zf.open(n),
                source,
                "multi_csv" in (q.lower() for q in n.split("/")[:-1]),
            )
            for n in csvs
        ]
    if source.stat().st_size == 0:
        msg = f"The postcode directory {source} is empty."
        raise InputError(msg, path=source)
    return [_Member(source.name, lambda: source.open("rb"), source)]


def _where(member: _Member) -> str:
    if member.source.is_file() and member.source.name == member.name:
        return str(member.source)
    return f"{member.name} in {member.source}"


def _norm_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lstrip("\ufeff").strip()).lower()


def _sniff(member: _Member) -> list[list[str]]:
    """The first three rows of a CSV (as text)."""
    try:
        with member.opener() as fh:
            head = fh.read(65536)
    except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
        msg = f"{_where(member)} cannot be read ({exc})."
        raise InputError(msg, path=member.source) from exc
    text = head.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()[:3]
    return [row for row in csv.reader(lines)]


def _layout(rows: list[list[str]]) -> _Layout | None:
    """Recognise a CSV by its first rows: ONSPD, plain (by header) or Code-Point (by shape)."""
    if not rows or not any(c.strip() for c in rows[0]):
        return None
    first = rows[0]
    if _looks_codepoint(first):
        return _Layout("codepoint", False, _CODEPOINT_COLUMNS)
    if _is_codepoint_header(first):
        # Code-Point files combined as the OS guide suggests, under one or both header rows
        # of Doc/Code-Point_Open_Column_Headers.csv. That file itself has no data: ignored.
        skip = 2 if len(rows) > 1 and _is_codepoint_header(rows[1]) else 1
        if len(rows) > skip and _looks_codepoint(rows[skip]):
            return _Layout("codepoint", False, _CODEPOINT_COLUMNS, tuple(range(skip)))
        return None
    names: dict[str, str] = {}
    for raw in first:
        names.setdefault(_norm_name(raw), raw)

    def pick(options: Sequence[str]) -> str | None:
        return next((names[o] for o in options if o in names), None)

    for kind in ("onspd", "plain"):
        pc = pick(_POSTCODE_COLUMNS[kind])
        if pc is None:
            continue
        cols: dict[str, str | int] = {"pc": pc}
        lat, lon = pick(_LAT_NAMES), pick(_LON_NAMES)
        east, north = pick(_EAST_NAMES[kind]), pick(_NORTH_NAMES[kind])
        if lat is not None and lon is not None:
            cols.update(lat=lat, lon=lon)
        if east is not None and north is not None:
            cols.update(e=east, n=north)
        if len(cols) == 1:
            continue
        if kind == "onspd" and (doterm := pick(("doterm",))) is not None:
            cols["doterm"] = doterm
        return _Layout(kind, True, cols)
    return None


_CODEPOINT_COLUMNS: Final[dict[str, str | int]] = {"pc": 0, "pqi": 1, "e": 2, "n": 3}
_CODEPOINT_HEADERS: Final = (
    ["pc", "pq", "ea", "no"],
    ["postcode", "positional_quality_indicator", "eastings", "northings"],
)


def _is_codepoint_header(row: list[str]) -> bool:
    return [_norm_name(c) for c in row[:4]] in _CODEPOINT_HEADERS


def _looks_codepoint(row: list[str]) -> bool:
    """A header-less Code-Point Open row: postcode, quality, eastings, northings, codes..."""
    if len(row) < 4:
        return False
    if _classify_one(row[0])[0] != _K_FULL:
        return False
    return all(re.fullmatch(r"\s*-?[0-9]+(\.[0-9]*)?\s*", c) for c in row[1:4])


def _describe(rows: list[list[str]]) -> str:
    if not rows or not any(c.strip() for c in rows[0]):
        return "no header row (empty)"
    cols = [c.strip() for c in rows[0]]
    shown = ", ".join(cols[:15]) + (f" ... ({len(cols)} columns)" if len(cols) > 15 else "")
    return f"columns {shown}"


def _choose(source: Path, members: list[_Member]) -> tuple[str, list[tuple[_Member, _Layout]]]:
    """Recognise every CSV and keep those of one kind (ONSPD, else Code-Point, else plain).

    An ONSPD zip or folder holds the whole directory twice (one national CSV and the
    `multi_csv` split): the national file is read, or the `multi_csv` files when it is absent.
    Files of other shapes (ONSPD's lookup tables, Code-Point's header list) are ignored."""
    found: list[tuple[_Member, _Layout | None, list[list[str]]]] = []
    for member in members:
        rows = _sniff(member)
        found.append((member, _layout(rows), rows))
    for kind in ("onspd", "codepoint", "plain"):
        mine = [(m, lay) for m, lay, _ in found if lay is not None and lay.kind == kind]
        if not mine:
            continue
        if kind == "onspd" and any(not m.in_multi_csv for m, _ in mine):
            mine = [(m, lay) for m, lay in mine if not m.in_multi_csv]
        return kind, mine
    if len(members) == 1:
        what = _describe(found[0][2])
        if what.startswith("no header"):
            msg = f"The postcode directory {source} is empty. Accepted: {ACCEPTED_FORMATS}."
        else:
            msg = (
                f"{source} is not a postcode directory this tool can read: {what}. "
                f"Accepted: {ACCEPTED_FORMATS}."
            )
    else:
        listing = "; ".join(f"{m.name}: {_describe(rows)}" for m, _, rows in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        msg = (
            f"No CSV in {source} is a postcode directory this tool can read ({listing}{more}). "
            f"Accepted: {ACCEPTED_FORMATS}."
        )
    raise InputError(msg, path=source)


class _NotNumeric(Exception):
    """A float column of the CSV holds something that is not a number."""


def _read_member(
    member: _Member, layout: _Layout, before: int, say: Callable[[str], None]
) -> tuple[int, list[dict[str, np.ndarray]], dict[str, int]]:
    """Rows read, parsed chunks and skip counts of one CSV. Numeric columns are parsed as
    floats by the C parser; if a cell is not a number, the file is read again as text and the
    cells that are not numbers become NaN (and their rows are skipped)."""
    for numeric in (True, False):
        counts = dict.fromkeys(SKIP_REASONS, 0)
        parts: list[dict[str, np.ndarray]] = []
        rows = 0
        try:
            for n, part in _parse(member, layout, counts, numeric=numeric):
                if (before + rows) // PROGRESS_ROWS != (before + rows + n) // PROGRESS_ROWS:
                    say(f"  {before + rows + n:,} rows read ({member.name})")
                rows += n
                parts.append(part)
        except _NotNumeric:
            say(f"  {member.name}: some coordinates are not numbers, reading it again as text")
            continue
        return rows, parts, counts
    raise AssertionError("unreachable")  # pragma: no cover


def _parse(
    member: _Member, layout: _Layout, counts: dict[str, int], *, numeric: bool
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    roles = layout.columns
    names = {v: k for k, v in roles.items()}  # file column -> role
    num_type = "float64" if numeric else "str"
    dtype = {col: ("str" if role == "pc" else num_type) for col, role in names.items()}

    def unreadable(exc: Exception) -> InputError:
        msg = f"{_where(member)} cannot be read as CSV ({exc})."
        return InputError(msg, path=member.source)

    with contextlib.ExitStack() as stack:
        try:
            fh = stack.enter_context(member.opener())
            reader = stack.enter_context(
                pd.read_csv(
                    fh,
                    header=0 if layout.header else None,
                    skiprows=list(layout.skiprows) or None,
                    usecols=list(names),
                    dtype=dtype,
                    keep_default_na=False,
                    na_values=[""],
                    encoding="utf-8-sig",
                    encoding_errors="replace",
                    chunksize=CHUNK_ROWS,
                    engine="c",
                )
            )
        except pd.errors.EmptyDataError:
            return
        except (OSError, zipfile.BadZipFile, UnicodeError, ValueError) as exc:
            raise unreadable(exc) from exc
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                break
            except (OSError, zipfile.BadZipFile, UnicodeError, pd.errors.ParserError) as exc:
                raise unreadable(exc) from exc
            except ValueError as exc:  # a cell of a float column is not a number
                if not numeric:
                    raise unreadable(exc) from exc
                raise _NotNumeric from exc
            yield len(chunk), _process(chunk.rename(columns=names), layout.kind, counts)


def _numbers(frame: pd.DataFrame, role: str) -> np.ndarray:
    if role not in frame:
        return np.full(len(frame), np.nan)
    col = frame[role]
    if col.dtype != np.float64:
        col = pd.to_numeric(col.str.strip(), errors="coerce")
    return np.array(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)  # a copy


def _within(a: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (a >= lo_hi[0]) & (a <= lo_hi[1])


@lru_cache(maxsize=2)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _process(frame: pd.DataFrame, kind: str, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """One chunk -> arrays of the kept rows; skipped rows are counted by reason."""
    n = len(frame)
    pc = frame["pc"].fillna("")
    norm = _normalise_unique(pc)
    lat, lon = _numbers(frame, "lat"), _numbers(frame, "lon")
    east, north = _numbers(frame, "e"), _numbers(frame, "n")
    no_ref = np.zeros(n, dtype=bool)  # the directory says "no position"
    if kind == "onspd":
        with np.errstate(invalid="ignore"):
            placeholder = np.abs(lat - ONSPD_NO_LAT) < 1e-4
        no_ref |= placeholder
        lat[placeholder] = lon[placeholder] = np.nan
        # ONSPD gives Northern Ireland (BT) postcodes Irish Grid references: use lat/long.
        irish = np.char.startswith(norm.full_key, b"BT")
        east[irish] = north[irish] = np.nan
    if kind == "codepoint":
        pqi = _numbers(frame, "pqi")
        no_ref |= pqi == CODEPOINT_NO_COORDS
        east[no_ref] = north[no_ref] = np.nan
    origin = (east == 0) & (north == 0)  # (0, 0) is a "no position" marker, never a postcode
    east[origin] = north[origin] = np.nan
    no_ref |= origin & (kind != "plain")
    ll_num = np.isfinite(lat) & np.isfinite(lon)
    en_num = np.isfinite(east) & np.isfinite(north)
    ll_ok = ll_num & _within(lat, LAT_RANGE) & _within(lon, LON_RANGE)
    en_ok = en_num & _within(east, EASTING_RANGE) & _within(north, NORTHING_RANGE)
    fill_en = ll_ok & ~en_ok
    if fill_en.any():
        e, nn = _transformer("EPSG:4326", "EPSG:27700").transform(lon[fill_en], lat[fill_en])
        east[fill_en], north[fill_en] = e, nn
    fill_ll = en_ok & ~ll_ok
    if fill_ll.any():
        x, y = _transformer("EPSG:27700", "EPSG:4326").transform(east[fill_ll], north[fill_ll])
        lon[fill_ll], lat[fill_ll] = x, y
    reason = np.full(n, "", dtype=object)
    has_pos = ll_ok | en_ok
    checks = (
        ("blank_postcode", norm.kind == _K_BLANK),
        ("invalid_postcode", norm.kind != _K_FULL),
        ("invalid_coordinates", ~has_pos & ((ll_num & ~ll_ok) | (en_num & ~en_ok))),
        ("no_grid_reference", ~has_pos & (no_ref | (kind != "plain"))),
        ("missing_coordinates", ~has_pos),
    )
    for name, mask in checks:
        new = mask & (reason == "")
        counts[name] += int(new.sum())
        reason[new] = name
    keep = reason == ""
    doterm = np.zeros(n, dtype=np.int32)
    if "doterm" in frame:
        raw = frame["doterm"]
        if raw.dtype == np.float64:
            val = raw.to_numpy(dtype=np.float64, na_value=np.nan)
            doterm = np.where(np.isfinite(val), val, 0).astype(np.int32)
        else:
            text = raw.fillna("").str.strip()
            val = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            doterm = np.where(
                np.isfinite(val), val, np.where(text.to_numpy(dtype=object) != "", -1, 0)
            ).astype(np.int32)
    return {
        "key": norm.full_key[keep],
        "easting": east[keep],
        "northing": north[keep],
        "lat": lat[keep],
        "lon": lon[keep],
        "doterm": doterm[keep],
    }


def _group_means(
    keys: np.ndarray, columns: Sequence[np.ndarray], width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique byte-string keys, the mean of each column per key, and the counts."""
    uniq, inverse, count = np.unique(_as_u8(keys), return_inverse=True, return_counts=True)
    sums = np.column_stack([np.bincount(inverse, weights=c, minlength=len(uniq)) for c in columns])
    names = uniq.astype(">u8").view("S8").astype(f"S{width}")
    return names, sums / count[:, None], count.astype(np.int32)


def _assemble(parts: list[dict[str, np.ndarray]], counts: dict[str, int]) -> PostcodeIndex:
    def cat(name: str, dtype: object) -> np.ndarray:
        arrays = [p.pop(name) for p in parts]  # each chunk's array is freed once copied
        return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)

    keys = np.ascontiguousarray(cat("key", "S8"))
    # Big-endian uint64 order is the byte order of the keys: a fast stable integer sort.
    order = np.argsort(keys.view(">u8"), kind="stable")
    keys = keys[order]
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    counts["duplicate_postcode"] += int((~first).sum())
    take = order[first]
    del order
    keys = keys[first]
    cols = {n: cat(n, np.float64)[take] for n in ("easting", "northing", "lat", "lon")}
    doterm = cat("doterm", np.int32)[take]
    xy = [cols["easting"], cols["northing"], cols["lat"], cols["lon"]]
    sectors, sector_xy, sector_count = _group_means(_prefix_keys(keys, 2, 6), xy, 6)
    districts, district_xy, district_count = _group_means(_prefix_keys(keys, 4, 4), xy, 4)
    return PostcodeIndex(
        postcodes=keys, easting=cols["easting"], northing=cols["northing"], lat=cols["lat"],
        lon=cols["lon"], doterm=doterm, sectors=sectors, sector_xy=sector_xy,
        sector_count=sector_count, districts=districts, district_xy=district_xy,
        district_count=district_count,
    )  # fmt: skip


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_sha256(source: Path, members: list[_Member]) -> str:
    """sha256 of the file as downloaded (CSV or zip); for a folder, the sha256 of a manifest
    listing ``<sha256>  <relative path>`` of each CSV read, one per line, in path order."""
    if not source.is_dir():
        return _sha256_file(source)
    lines = []
    for m in sorted(members, key=lambda m: m.name):
        lines.append(f"{_sha256_file(source / m.name)}  {Path(m.name).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()
