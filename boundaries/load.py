"""Load a boundary set: wards, districts and Local Police Areas (LPAs), all in EPSG:4326.

Three ways in, all through `load_boundaries`:

- nothing, or the name ``"oxfordshire"``: the bundled Oxfordshire set (cached, see
  `bundled_boundaries`);
- a ``.toml`` file describing a user's own set (wards file, optional districts file, and an
  LPA lookup CSV or LPA polygons), with paths relative to the TOML file;
- a bare wards file (GeoJSON, GeoPackage or Shapefile) whose columns are detected by name.

The format is documented in docs/boundaries.md. Every problem a user can fix raises
`geo.errors.BoundaryError` with a message that names the file and says what was expected.
Repairs that do not stop loading (invalid geometries fixed with make_valid, districts left out,
each district used as its own LPA...) are listed in `BoundarySet.notes` and logged.
"""

from __future__ import annotations

import functools
import logging
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import BoundaryError
from geo.schema import BNG, LAD_CODE, LAD_NAME, LPA_NAME, WARD_CODE, WARD_NAME, WGS84

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
BUNDLED_TOML = DATA_DIR / "oxfordshire.toml"
BUNDLED_NAMES = ("oxfordshire",)
_BUNDLED_ALIASES = frozenset({"oxfordshire", "oxfordshire-2019"})

GEOMETRY = "geometry"
WARD_COLUMNS = (WARD_CODE, WARD_NAME, LAD_CODE, LAD_NAME, LPA_NAME, GEOMETRY)
DISTRICT_COLUMNS = (LAD_CODE, LAD_NAME, LPA_NAME, GEOMETRY)
LPA_COLUMNS = (LPA_NAME, GEOMETRY)

_FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile"}
_FORMAT_LIST = "GeoJSON (.geojson), GeoPackage (.gpkg) or Shapefile (.shp)"
_SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")
_POLYGONAL = ("Polygon", "MultiPolygon")
_DOCS = "docs/boundaries.md"
_SHOW = 5  # how many offending codes or names a message lists

# Auto-detected column names (case-insensitive, whole name): ours, then the ONS style.
_WARD_CODE_PATTERNS = (r"ward_code", r"WD\d\dCD")
_WARD_NAME_PATTERNS = (r"ward_name", r"WD\d\dNM")
_LAD_CODE_PATTERNS = (r"lad_code", r"LAD\d\dCD")
_LAD_NAME_PATTERNS = (r"lad_name", r"LAD\d\dNM")
_LPA_NAME_PATTERNS = (r"lpa_name",)

# Keys a boundaries TOML file may use, per table ("" is the top level).
_TOML_KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "vintage", "attribution", "source", "wards", "districts", "lpas"),
    "wards": ("file", "layer", "code", "name", "lad_code", "lad_name", "crs", "keep_districts"),
    "districts": ("file", "layer", "code", "name", "crs"),
    "lpas": ("lookup", "file", "layer", "name", "crs"),
}


@dataclass(frozen=True, eq=False)
class BoundarySet:
    """A complete set of boundaries for one area, ready for `geo` to assign episodes to.

    All three frames are in EPSG:4326 with a RangeIndex. The bundled set is cached and shared:
    treat the frames as read-only (call ``.copy()`` before changing them).

    Attributes
    ----------
    name : str
        Short name, e.g. ``"oxfordshire-2019"`` or the ``name`` given in the user's TOML.
    wards : geopandas.GeoDataFrame
        ``ward_code, ward_name, lad_code, lad_name, lpa_name, geometry``, sorted by ward_code.
    districts : geopandas.GeoDataFrame
        ``lad_code, lad_name, lpa_name, geometry``, sorted by lad_code (dissolved from the
        wards when no districts file is given).
    lpas : geopandas.GeoDataFrame
        ``lpa_name, geometry``, sorted by lpa_name (districts dissolved through the lookup, or
        the user's LPA polygons).
    vintage : str
        e.g. ``"December 2019"``.
    attribution : tuple of str
        Lines that must be printed on maps and reports.
    source : str
        Short human description of where the boundaries came from.
    files : tuple of pathlib.Path
        Every file read (data files first, then the TOML), for checksums in run.json.
    notes : tuple of str
        Repairs and automatic choices made while loading (empty when there were none).
    """

    name: str
    wards: gpd.GeoDataFrame
    districts: gpd.GeoDataFrame
    lpas: gpd.GeoDataFrame
    vintage: str
    attribution: tuple[str, ...]
    source: str
    files: tuple[Path, ...]
    notes: tuple[str, ...] = ()


# --- public API -------------------------------------------------------------------------------


def list_boundaries() -> list[str]:
    """Return the names of the bundled boundary sets (each accepted by `load_boundaries`)."""
    return list(BUNDLED_NAMES)


@functools.lru_cache(maxsize=1)
def bundled_boundaries() -> BoundarySet:
    """Return the bundled Oxfordshire set: 112 wards, 5 districts, 3 LPAs (December 2019).

    The result is cached: every call returns the same object. Its frames are shared, so callers
    must not modify them in place (copy first).
    """
    return _load_toml(BUNDLED_TOML)


def load_boundaries(spec: str | Path | None = None) -> BoundarySet:
    """Load a boundary set.

    Parameters
    ----------
    spec : str, pathlib.Path or None
        ``None`` or ``"oxfordshire"``: the bundled set. A path ending in ``.toml``: a user set
        described by that file. A path to a wards file (.geojson, .gpkg, .shp): a user set
        whose columns are detected automatically.

    Raises
    ------
    geo.errors.BoundaryError
        If the set cannot be used; the message names the file and what was expected.
    """
    if spec is None:
        return bundled_boundaries()
    if isinstance(spec, str):
        text = spec.strip()
        if text.lower() in _BUNDLED_ALIASES:
            return bundled_boundaries()
        path = Path(text).expanduser()
    else:
        path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _load_toml(path)
    if suffix in _FORMATS:
        return _load_bare_wards(path)
    if not path.exists():
        raise BoundaryError(
            f"Unknown boundary set {str(spec)!r}: it is not a bundled set and no such file "
            f"exists. Bundled sets: {', '.join(BUNDLED_NAMES)}. Otherwise give a boundaries "
            f"TOML file (.toml) or a wards file: {_FORMAT_LIST} (see {_DOCS})."
        )
    raise BoundaryError(
        f"{path}: not a boundary set. Expected a boundaries TOML file (.toml) or a wards file: "
        f"{_FORMAT_LIST} (see {_DOCS})."
    )


# --- how a set is described -------------------------------------------------------------------


@dataclass(frozen=True)
class _LayerSpec:
    """One vector file of a set, as described in the TOML (or guessed for a bare wards file)."""

    path: Path
    table: str  # "wards", "districts" or "lpas": the TOML table, used in messages
    layer: str | None = None
    crs: str | None = None
    columns: tuple[tuple[str, str], ...] = ()  # (TOML key, column name) pairs that were given

    def column(self, key: str) -> str | None:
        return dict(self.columns).get(key)


@dataclass(frozen=True)
class _SetSpec:
    name: str
    vintage: str | None
    attribution: tuple[str, ...]
    source: str | None
    wards: _LayerSpec
    districts: _LayerSpec | None = None
    lpa_lookup: Path | None = None
    lpa_polygons: _LayerSpec | None = None
    keep_districts: tuple[str, ...] | None = None
    toml: Path | None = None

    def where(self, table: str) -> str:
        """Where a setting goes, for hints: 'under [wards] in /path/set.toml'."""
        if self.toml is None:
            return f"under [{table}] in a boundaries TOML file (see {_DOCS})"
        return f"under [{table}] in {self.toml}"


def _load_toml(toml: Path) -> BoundarySet:
    return _build(_read_toml(toml))


def _load_bare_wards(path: Path) -> BoundarySet:
    path = path.resolve()
    spec = _SetSpec(
        name=path.stem,
        vintage=None,
        attribution=(),
        source=None,
        wards=_LayerSpec(path=path, table="wards"),
    )
    return _build(spec)


def _read_toml(toml: Path) -> _SetSpec:
    toml = toml.resolve()
    if not toml.is_file():
        raise BoundaryError(f"{toml}: boundaries TOML file not found (see {_DOCS}).")
    try:
        with toml.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BoundaryError(f"{toml}: not a valid TOML file ({exc}). See {_DOCS}.") from exc
    except OSError as exc:
        raise BoundaryError(f"{toml}: cannot read the boundaries TOML file ({exc}).") from exc

    _check_keys(toml, "", data)
    for table in ("wards", "districts", "lpas"):
        if table in data:
            if not isinstance(data[table], dict):
                raise BoundaryError(f"{toml}: `{table}` must be a table, written [{table}].")
            _check_keys(toml, table, data[table])
    if "wards" not in data:
        raise BoundaryError(
            f"{toml}: no [wards] table. Expected at least:\n[wards]\nfile = \"wards.gpkg\"\n"
            f"(see {_DOCS})."
        )
    base = toml.parent
    wards_t: dict[str, Any] = data["wards"]
    wards = _layer_from_table(
        toml, base, "wards", wards_t, ("code", "name", "lad_code", "lad_name")
    )
    keep = wards_t.get("keep_districts")
    keep_districts: tuple[str, ...] | None = None
    if keep is not None:
        if not isinstance(keep, list) or not keep or not all(isinstance(k, str) for k in keep):
            raise BoundaryError(
                f"{toml}: `keep_districts` under [wards] must be a list of district codes, "
                f'e.g. keep_districts = ["E07000105", "E07000106"].'
            )
        keep_districts = tuple(k.strip() for k in keep)

    districts = None
    if "districts" in data:
        districts = _layer_from_table(toml, base, "districts", data["districts"], ("code", "name"))

    lpa_lookup = None
    lpa_polygons = None
    if "lpas" in data:
        lpas_t: dict[str, Any] = data["lpas"]
        if "lookup" in lpas_t and "file" in lpas_t:
            raise BoundaryError(
                f"{toml}: [lpas] has both `lookup` and `file`. Give either a district to LPA "
                f"lookup CSV (lookup = \"lpa_lookup.csv\") or LPA polygons (file = "
                f"\"lpa.gpkg\" and name = \"<LPA name column>\"), not both."
            )
        if "lookup" in lpas_t:
            extra = sorted(set(lpas_t) - {"lookup"})
            if extra:
                raise BoundaryError(
                    f"{toml}: [lpas] with `lookup` takes no other keys (found: "
                    f"{', '.join(extra)}). Those keys are for LPA polygons (file = ...)."
                )
            lpa_lookup = base / _str_value(toml, "lpas", "lookup", lpas_t["lookup"])
        elif "file" in lpas_t:
            lpa_polygons = _layer_from_table(toml, base, "lpas", lpas_t, ("name",))
        else:
            raise BoundaryError(
                f"{toml}: [lpas] needs either `lookup` (a CSV with columns lad_code, lpa_name) "
                f"or `file` (LPA polygons) and `name` (their LPA name column)."
            )

    attribution = data.get("attribution", [])
    if isinstance(attribution, str):
        attribution = [attribution]
    if not isinstance(attribution, list) or not all(isinstance(a, str) for a in attribution):
        raise BoundaryError(
            f"{toml}: `attribution` must be a list of lines, e.g. attribution = "
            f'["Source: Office for National Statistics licensed under the Open Government '
            f'Licence v.3.0"].'
        )
    return _SetSpec(
        name=_str_value(toml, "", "name", data.get("name", toml.stem)),
        vintage=_optional_str(toml, "", "vintage", data.get("vintage")),
        attribution=tuple(a.strip() for a in attribution if a.strip()),
        source=_optional_str(toml, "", "source", data.get("source")),
        wards=wards,
        districts=districts,
        lpa_lookup=lpa_lookup,
        lpa_polygons=lpa_polygons,
        keep_districts=keep_districts,
        toml=toml,
    )


def _check_keys(toml: Path, table: str, values: dict[str, Any]) -> None:
    allowed = _TOML_KEYS[table]
    unknown = [k for k in values if k not in allowed]
    if unknown:
        place = f"[{table}]" if table else "the top level"
        raise BoundaryError(
            f"{toml}: unknown key(s) {', '.join(f'`{k}`' for k in unknown)} at {place}. "
            f"Allowed there: {', '.join(allowed)} (see {_DOCS})."
        )


def _str_value(toml: Path, table: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        place = f"under [{table}]" if table else "at the top level"
        raise BoundaryError(f"{toml}: `{key}` {place} must be a non-empty text in quotes.")
    return value.strip()


def _optional_str(toml: Path, table: str, key: str, value: object) -> str | None:
    return None if value is None else _str_value(toml, table, key, value)


def _layer_from_table(
    toml: Path, base: Path, table: str, values: dict[str, Any], column_keys: tuple[str, ...]
) -> _LayerSpec:
    if "file" not in values:
        raise BoundaryError(f'{toml}: [{table}] needs `file = "..."` (the path to the file).')
    file = _str_value(toml, table, "file", values["file"])
    layer = _optional_str(toml, table, "layer", values.get("layer"))
    crs = _optional_str(toml, table, "crs", values.get("crs"))
    columns = tuple(
        (key, _str_value(toml, table, key, values[key])) for key in column_keys if key in values
    )
    return _LayerSpec(
        path=(base / Path(file).expanduser()).resolve(),
        table=table,
        layer=layer,
        crs=crs,
        columns=columns,
    )


# --- building a set ---------------------------------------------------------------------------


def _build(spec: _SetSpec) -> BoundarySet:
    notes: list[str] = []
    files: list[Path] = []

    wards, detected = _load_wards(spec, notes, files)
    district_polygons: gpd.GeoDataFrame | None = None
    if spec.districts is not None:
        district_polygons = _load_districts(spec, spec.districts, notes, files)

    wards = _assign_districts(spec, wards, district_polygons, notes)
    lookup: pd.DataFrame | None = None
    if spec.lpa_lookup is not None:
        lookup = _read_lookup(spec.lpa_lookup)
        files.append(spec.lpa_lookup)

    # One name per district: districts file, then the wards' own column, then the lookup.
    names = _district_names(wards, district_polygons, lookup, notes)
    wards[LAD_NAME] = wards[LAD_CODE].map(names)

    if district_polygons is not None and spec.districts is not None:
        used = district_polygons[LAD_CODE].isin(wards[LAD_CODE])
        if (~used).any():
            _note(notes, f"{spec.districts.path}: {int((~used).sum())} district(s) with no "
                  f"wards were left out.")
        districts = district_polygons.loc[used, [LAD_CODE, GEOMETRY]].copy()
    else:
        districts = wards[[LAD_CODE, GEOMETRY]].dissolve(by=LAD_CODE, as_index=False)
    districts[LAD_NAME] = districts[LAD_CODE].map(names)

    lpa_method, wards, districts, lpas = _assign_lpas(spec, wards, districts, lookup, notes, files)

    if spec.toml is not None:
        files.append(spec.toml)
    wards = _finish(wards, WARD_COLUMNS, WARD_CODE)
    districts = _finish(districts, DISTRICT_COLUMNS, LAD_CODE)
    lpas = _finish(lpas, LPA_COLUMNS, LPA_NAME)

    vintage = spec.vintage or _guess_vintage(detected)
    if vintage is None:
        vintage = "not stated"
        _note(notes, f"No vintage given: add vintage = \"May 2023\" (say) {_top_level(spec)}.")
    if not spec.attribution:
        _note(notes, f"No attribution lines given: add attribution = [...] {_top_level(spec)} "
              f"(ONS boundaries need the OGL and OS lines, see {_DOCS}).")
    source = spec.source or _describe(spec, detected, lpa_method, len(wards), len(districts),
                                      len(lpas))
    return BoundarySet(
        name=spec.name,
        wards=wards,
        districts=districts,
        lpas=lpas,
        vintage=vintage,
        attribution=spec.attribution,
        source=source,
        files=tuple(_dedupe(files)),
        notes=tuple(notes),
    )


def _load_wards(
    spec: _SetSpec, notes: list[str], files: list[Path]
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Read the wards file; return ward_code, ward_name[, lad_code, lad_name, lpa_name], geometry.

    The second value maps each role (code, name, lad_code, lad_name, lpa_name) to the file's
    column that was used.
    """
    layer = spec.wards
    raw = _read_vector(layer, "wards", spec)
    files.extend(_files_of(layer.path))
    where = spec.where("wards")
    detected: dict[str, str] = {}
    for role, key, patterns, required, what in (
        ("code", "code", _WARD_CODE_PATTERNS, True, "ward code"),
        ("name", "name", _WARD_NAME_PATTERNS, True, "ward name"),
        ("lad_code", "lad_code", _LAD_CODE_PATTERNS, False, "district code"),
        ("lad_name", "lad_name", _LAD_NAME_PATTERNS, False, "district name"),
    ):
        column = _pick_column(raw, layer, key, patterns, required, what, where)
        if column is not None:
            detected[role] = column
    if "lad_code" not in detected and spec.districts is None:
        columns = [str(c) for c in raw.columns if c != raw.geometry.name]
        raise BoundaryError(
            f"{layer.path}: no district code column in the wards file (looked for lad_code or "
            f"LADnnCD). Columns found: {_columns_of(columns)}. Set lad_code = \"<column>\" "
            f"{where}, or give a [districts] file so that each ward is placed in a district by "
            f"its representative point."
        )
    if spec.lpa_lookup is None and spec.lpa_polygons is None:
        column = _pick_column(raw, layer, None, _LPA_NAME_PATTERNS, False, "LPA name", where)
        if column is not None:
            detected["lpa_name"] = column

    wards = gpd.GeoDataFrame(
        {
            WARD_CODE: _text(raw[detected["code"]]),
            WARD_NAME: _text(raw[detected["name"]]),
        },
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
    )
    _require_filled(wards, WARD_CODE, layer.path, "ward code", detected["code"], None)
    _require_filled(wards, WARD_NAME, layer.path, "ward name", detected["name"], WARD_CODE)
    _require_unique(wards, WARD_CODE, layer.path, "ward code", detected["code"])
    for role, column in ((LAD_CODE, "lad_code"), (LAD_NAME, "lad_name"), (LPA_NAME, "lpa_name")):
        if column in detected:
            wards[role] = _text(raw[detected[column]])
    wards = _check_polygons(wards, layer.path, "ward", wards[WARD_CODE], notes)
    wards = _to_wgs84(wards, layer, "wards", spec, notes)
    return wards, detected


def _load_districts(
    spec: _SetSpec, layer: _LayerSpec, notes: list[str], files: list[Path]
) -> gpd.GeoDataFrame:
    raw = _read_vector(layer, "districts", spec)
    files.extend(_files_of(layer.path))
    where = spec.where("districts")
    code = _pick_column(raw, layer, "code", _LAD_CODE_PATTERNS, True, "district code", where)
    name = _pick_column(raw, layer, "name", _LAD_NAME_PATTERNS, False, "district name", where)
    assert code is not None  # required=True
    districts = gpd.GeoDataFrame(
        {LAD_CODE: _text(raw[code])}, geometry=raw.geometry.to_numpy(), crs=raw.crs
    )
    if name is not None:
        districts[LAD_NAME] = _text(raw[name])
    _require_filled(districts, LAD_CODE, layer.path, "district code", code, None)
    districts = _check_polygons(districts, layer.path, "district", districts[LAD_CODE], notes)
    districts = _to_wgs84(districts, layer, "districts", spec, notes)
    if districts[LAD_CODE].duplicated().any():
        # Several features for one district (e.g. islands stored apart): merge them.
        districts = districts.dissolve(by=LAD_CODE, as_index=False, aggfunc="first")
    return districts


def _assign_districts(
    spec: _SetSpec,
    wards: gpd.GeoDataFrame,
    district_polygons: gpd.GeoDataFrame | None,
    notes: list[str],
) -> gpd.GeoDataFrame:
    path = spec.wards.path
    if LAD_CODE in wards.columns:
        _require_filled(wards, LAD_CODE, path, "district code", LAD_CODE, WARD_CODE)
        if district_polygons is not None:
            unknown = sorted(set(wards[LAD_CODE]) - set(district_polygons[LAD_CODE]))
            if unknown:
                assert spec.districts is not None
                raise BoundaryError(
                    f"{path}: the wards name {len(unknown)} district code(s) that are not in "
                    f"the districts file {spec.districts.path}: {_first(unknown)}. Expected "
                    f"every ward's district code in the districts file (same vintage?)."
                )
    elif district_polygons is not None:
        assert spec.districts is not None
        codes = _codes_by_point(wards, district_polygons, LAD_CODE, spec.districts.path)
        outside = wards.loc[codes.isna(), WARD_CODE].tolist()
        if outside and spec.keep_districts is None:
            raise BoundaryError(
                f"{path}: {len(outside)} ward(s) have their representative point in no district "
                f"of {spec.districts.path}: {_first(outside)}. Expected every ward inside one "
                f"district. If the wards file covers more than your area, list your districts "
                f"with keep_districts = [...] {spec.where('wards')}."
            )
        wards[LAD_CODE] = codes
        if outside:
            wards = wards.loc[codes.notna()].copy()
        _note(notes, f"{path}: wards were given their district by representative point in "
              f"{spec.districts.path}.")
    else:  # pragma: no cover - _load_wards refuses this case
        raise AssertionError("wards without lad_code and no districts file")

    if spec.keep_districts is not None:
        present = set(wards[LAD_CODE].dropna())
        missing = [k for k in spec.keep_districts if k not in present]
        if missing:
            raise BoundaryError(
                f"{path}: keep_districts lists {len(missing)} district code(s) with no wards: "
                f"{_first(missing)}. Expected codes of districts that the wards fall in "
                f"(found: {_first(sorted(present))})."
            )
        keep = wards[LAD_CODE].isin(spec.keep_districts)
        _note(notes, f"{path}: kept {int(keep.sum())} of {len(wards)} ward(s) (the districts in "
              f"keep_districts).")
        wards = wards.loc[keep].copy()
    return wards


def _district_names(
    wards: gpd.GeoDataFrame,
    district_polygons: gpd.GeoDataFrame | None,
    lookup: pd.DataFrame | None,
    notes: list[str],
) -> dict[str, str]:
    codes = sorted(set(wards[LAD_CODE]))
    names: dict[str, str] = {}
    sources: list[pd.Series] = []
    if district_polygons is not None and LAD_NAME in district_polygons.columns:
        sources.append(district_polygons.set_index(LAD_CODE)[LAD_NAME])
    if LAD_NAME in wards.columns:
        sources.append(wards.drop_duplicates(LAD_CODE).set_index(LAD_CODE)[LAD_NAME])
    if lookup is not None and LAD_NAME in lookup.columns:
        sources.append(lookup.set_index(LAD_CODE)[LAD_NAME])
    for series in sources:
        for code, name in series.items():
            if code not in names and isinstance(name, str) and name:
                names[str(code)] = name
    unnamed = [c for c in codes if c not in names]
    if unnamed:
        _note(notes, f"No name found for {len(unnamed)} district(s) ({_first(unnamed)}): their "
              f"code is used as the name.")
        names.update({c: c for c in unnamed})
    return {c: names[c] for c in codes}


def _assign_lpas(
    spec: _SetSpec,
    wards: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame,
    lookup: pd.DataFrame | None,
    notes: list[str],
    files: list[Path],
) -> tuple[str, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Give every ward and district an LPA and build the LPA polygons.

    Returns a short description of the method, then wards, districts and LPAs.
    """
    if lookup is not None:
        assert spec.lpa_lookup is not None
        lpa_of = lookup.set_index(LAD_CODE)[LPA_NAME]
        missing = districts.loc[~districts[LAD_CODE].isin(lpa_of.index)]
        if len(missing):
            listed = [f"{c} ({n})" for c, n in zip(missing[LAD_CODE], missing[LAD_NAME],
                                                   strict=True)]
            raise BoundaryError(
                f"{spec.lpa_lookup}: the LPA lookup has no row for {len(listed)} district(s) "
                f"that the wards fall in: {_first(listed)}. Expected one row per district, "
                f"with columns lad_code, lpa_name."
            )
        wards[LPA_NAME] = wards[LAD_CODE].map(lpa_of)
        districts[LPA_NAME] = districts[LAD_CODE].map(lpa_of)
        lpas = districts[[LPA_NAME, GEOMETRY]].dissolve(by=LPA_NAME, as_index=False)
        return f"LPAs from the district lookup {spec.lpa_lookup.name}", wards, districts, lpas

    if spec.lpa_polygons is not None:
        layer = spec.lpa_polygons
        polygons = _load_lpa_polygons(spec, layer, notes, files)
        names = _codes_by_point(wards, polygons, LPA_NAME, layer.path)
        outside = wards.loc[names.isna(), WARD_CODE].tolist()
        if outside:
            raise BoundaryError(
                f"{layer.path}: {len(outside)} ward(s) have their representative point in no "
                f"LPA polygon: {_first(outside)}. Expected the LPA polygons to cover every ward."
            )
        wards[LPA_NAME] = names
        used = polygons[LPA_NAME].isin(set(names))
        if (~used).any():
            _note(notes, f"{layer.path}: {int((~used).sum())} LPA(s) with no wards were left "
                  f"out: {_first(polygons.loc[~used, LPA_NAME].tolist())}.")
        districts[LPA_NAME] = districts[LAD_CODE].map(_main_lpa(wards, notes))
        lpas = polygons.loc[used, [LPA_NAME, GEOMETRY]]
        return (f"LPAs from polygons in {layer.path.name} (wards placed by representative "
                f"point)", wards, districts, lpas)

    if LPA_NAME in wards.columns:
        _require_filled(wards, LPA_NAME, spec.wards.path, "LPA name", LPA_NAME, WARD_CODE)
        districts[LPA_NAME] = districts[LAD_CODE].map(_main_lpa(wards, notes))
        lpas = wards[[LPA_NAME, GEOMETRY]].dissolve(by=LPA_NAME, as_index=False)
        return "LPAs from the wards' lpa_name column", wards, districts, lpas

    wards[LPA_NAME] = wards[LAD_NAME]
    districts[LPA_NAME] = districts[LAD_NAME]
    lpas = districts[[LPA_NAME, GEOMETRY]].dissolve(by=LPA_NAME, as_index=False)
    _note(notes, "No LPA lookup, LPA polygons or lpa_name column: each district is used as its "
          "own LPA.")
    return "no LPA information, so each district is its own LPA", wards, districts, lpas


def _load_lpa_polygons(
    spec: _SetSpec, layer: _LayerSpec, notes: list[str], files: list[Path]
) -> gpd.GeoDataFrame:
    raw = _read_vector(layer, "LPA", spec)
    files.extend(_files_of(layer.path))
    name = _pick_column(raw, layer, "name", _LPA_NAME_PATTERNS, True, "LPA name",
                        spec.where("lpas"))
    assert name is not None
    polygons = gpd.GeoDataFrame(
        {LPA_NAME: _text(raw[name])}, geometry=raw.geometry.to_numpy(), crs=raw.crs
    )
    _require_filled(polygons, LPA_NAME, layer.path, "LPA name", name, None)
    polygons = _check_polygons(polygons, layer.path, "LPA", polygons[LPA_NAME], notes)
    polygons = _to_wgs84(polygons, layer, "LPA", spec, notes)
    if polygons[LPA_NAME].duplicated().any():
        polygons = polygons.dissolve(by=LPA_NAME, as_index=False)
    return polygons


def _main_lpa(wards: gpd.GeoDataFrame, notes: list[str]) -> pd.Series:
    """Each district's LPA: the one most of its wards are in (noted when wards are split)."""
    counts = (
        wards.groupby([LAD_CODE, LPA_NAME]).size().rename("n").reset_index()
        .sort_values([LAD_CODE, "n", LPA_NAME], ascending=[True, False, True])
    )
    split = counts[LAD_CODE].duplicated(keep=False)
    for code, group in counts[split].groupby(LAD_CODE):
        shares = ", ".join(f"{lpa}: {n}" for lpa, n in zip(group[LPA_NAME], group["n"],
                                                           strict=True))
        _note(notes, f"District {code} has wards in several LPAs ({shares} wards); the "
              f"districts table gives it {group[LPA_NAME].iloc[0]}, the LPA of most of them.")
    return counts.drop_duplicates(LAD_CODE).set_index(LAD_CODE)[LPA_NAME]


def _finish(gdf: gpd.GeoDataFrame, columns: tuple[str, ...], key: str) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame(
        {c: gdf[c].astype(str).to_numpy() for c in columns if c != GEOMETRY},
        geometry=gdf.geometry.to_numpy(),
        crs=WGS84,
    )
    return out.sort_values(key, kind="stable", ignore_index=True)


# --- reading and checking files ---------------------------------------------------------------


def _read_vector(layer: _LayerSpec, what: str, spec: _SetSpec) -> gpd.GeoDataFrame:
    path = layer.path
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise BoundaryError(
            f"{path}: the {what} file is not a supported format ({suffix or 'no extension'}). "
            f"Expected {_FORMAT_LIST}."
        )
    fmt = _FORMATS[suffix]
    if not path.exists():
        raise BoundaryError(f"{path}: {what} file not found. Expected a {fmt} file there.")
    if not path.is_file():
        raise BoundaryError(f"{path}: expected a {fmt} file for the {what}, found a folder.")
    if suffix == ".shp":
        missing = [ext for ext in (".shx", ".dbf") if _sibling(path, ext) is None]
        if missing:
            raise BoundaryError(
                f"{path}: the Shapefile is incomplete: no {' or '.join(missing)} file beside it. "
                f"A Shapefile is several files sharing one name; copy them all together."
            )
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except (RuntimeError, OSError, ValueError) as exc:
        raise BoundaryError(
            f"{path}: cannot read the {what} file as {fmt} ({exc}). Expected {_FORMAT_LIST}."
        ) from exc
    if not layers:
        raise BoundaryError(f"{path}: the {what} file contains no layers.")
    name = layer.layer
    if name is None:
        if len(layers) > 1:
            raise BoundaryError(
                f"{path}: the {what} file has {len(layers)} layers ({', '.join(layers)}). Say "
                f"which to use with layer = \"{layers[0]}\" (say) {spec.where(layer.table)}."
            )
        name = layers[0]
    elif name not in layers:
        raise BoundaryError(
            f"{path}: no layer {name!r} in the {what} file. Layers found: {', '.join(layers)}."
        )
    try:
        gdf = gpd.read_file(path, layer=name, engine="pyogrio")
    except (RuntimeError, OSError, ValueError) as exc:
        raise BoundaryError(f"{path}: cannot read the {what} file as {fmt} ({exc}).") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.active_geometry_name is None:
        raise BoundaryError(f"{path}: the {what} file has no geometry; expected polygons.")
    if len(gdf) == 0:
        raise BoundaryError(f"{path}: the {what} file has no features; expected polygons.")
    return gdf


def _pick_column(
    raw: gpd.GeoDataFrame,
    layer: _LayerSpec,
    key: str | None,
    patterns: tuple[str, ...],
    required: bool,
    what: str,
    where: str,
) -> str | None:
    """The column for one role: the TOML setting if given, else the single name that matches."""
    columns = [str(c) for c in raw.columns if c != raw.geometry.name]
    given = layer.column(key) if key is not None else None
    if given is not None:
        if given in columns:
            return given
        folded = [c for c in columns if c.lower() == given.lower()]
        if len(folded) == 1:
            return folded[0]
        raise BoundaryError(
            f"{layer.path}: no column {given!r} (the {what}, set by {key} {where}). "
            f"Columns found: {_columns_of(columns)}."
        )
    found = [c for c in columns if any(re.fullmatch(p, c, re.IGNORECASE) for p in patterns)]
    if len(found) == 1:
        return found[0]
    looked = " or ".join(p.replace(r"\d\d", "nn") for p in patterns)
    hint = f' Set {key} = "<column>" {where}.' if key is not None else ""
    if len(found) > 1:
        raise BoundaryError(
            f"{layer.path}: several columns could be the {what}: {', '.join(found)}. "
            f"Columns found: {_columns_of(columns)}.{hint}"
        )
    if required:
        raise BoundaryError(
            f"{layer.path}: no column for the {what} (looked for {looked}). "
            f"Columns found: {_columns_of(columns)}.{hint}"
        )
    return None


def _text(values: pd.Series) -> pd.Series:
    """Column values as stripped text; missing values become ''."""
    out = [("" if _is_missing(v) else str(v).strip()) for v in values]
    return pd.Series(out, index=values.index, dtype=str)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _require_filled(
    gdf: pd.DataFrame, column: str, path: Path, what: str, source: str, label: str | None
) -> None:
    blank = gdf[column] == ""
    if blank.any():
        if label is not None:
            which = f"wards {_first(gdf.loc[blank, label].tolist())}"
        else:
            which = f"feature(s) {_first([str(i + 1) for i in np.flatnonzero(blank)])}"
        raise BoundaryError(
            f"{path}: {int(blank.sum())} feature(s) have a blank {what} (column {source}; "
            f"{which}). Expected a {what} on every feature."
        )


def _require_unique(gdf: pd.DataFrame, column: str, path: Path, what: str, source: str) -> None:
    dup = gdf[column].duplicated(keep=False)
    if dup.any():
        codes = sorted(set(gdf.loc[dup, column]))
        raise BoundaryError(
            f"{path}: {len(codes)} {what}(s) appear more than once (column {source}): "
            f"{_first(codes)}. Expected one feature per ward; merge the parts of each ward."
        )


def _check_polygons(
    gdf: gpd.GeoDataFrame, path: Path, what: str, labels: pd.Series, notes: list[str]
) -> gpd.GeoDataFrame:
    """Refuse empty and non-polygon geometries; repair invalid ones with make_valid."""
    geoms = gdf.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        raise BoundaryError(
            f"{path}: {int(empty.sum())} {what} feature(s) have no geometry: "
            f"{_first(labels[empty].tolist())}. Expected a polygon for every feature."
        )
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    types = shapely.get_type_id(geoms)
    wrong = ~np.isin(types, (3, 6))  # Polygon, MultiPolygon
    if wrong.any():
        kinds = pd.Series(shapely.get_type_id(geoms[wrong])).map(_type_name).value_counts()
        listed = ", ".join(f"{k}: {n}" for k, n in kinds.items())
        raise BoundaryError(
            f"{path}: {int(wrong.sum())} {what} feature(s) are not polygons ({listed}; first: "
            f"{labels[wrong].iloc[0]}). Expected Polygon or MultiPolygon boundaries."
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        collapsed = shapely.is_empty(fixed)
        if collapsed.any():
            bad = labels[invalid][collapsed].tolist()
            raise BoundaryError(
                f"{path}: {len(bad)} {what} feature(s) have invalid geometry with no area left "
                f"after repair: {_first(bad)}. Expected polygons with an area."
            )
        geoms = geoms.copy()
        geoms[invalid] = fixed
        _note(notes, f"{path}: repaired {int(invalid.sum())} invalid {what} geometr"
              f"{'y' if invalid.sum() == 1 else 'ies'} with make_valid: "
              f"{_first(labels[invalid].tolist())}.")
    out = gdf.copy()
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs)
    return out


def _type_name(type_id: int) -> str:
    names = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
             "MultiPolygon", "GeometryCollection")
    return names[type_id] if 0 <= type_id < len(names) else "unknown"


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    if geom.geom_type in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    if not parts:
        return shapely.MultiPolygon()
    return shapely.union_all(parts)


def _to_wgs84(
    gdf: gpd.GeoDataFrame, layer: _LayerSpec, what: str, spec: _SetSpec, notes: list[str]
) -> gpd.GeoDataFrame:
    path = layer.path
    if gdf.crs is None:
        if layer.crs is None:
            raise BoundaryError(_no_crs_message(gdf, layer, what, spec))
        gdf = gdf.set_crs(_parse_crs(layer, spec))
    elif layer.crs is not None and not gdf.crs.equals(_parse_crs(layer, spec)):
        _note(notes, f"{path}: the file says its CRS is {gdf.crs.to_string()}; that is used and "
              f"crs = {layer.crs!r} {spec.where(layer.table)} is ignored.")
    if gdf.crs.is_geographic:
        _check_degrees(gdf, layer, what, spec)
    elif _looks_like_degrees(*gdf.total_bounds):
        raise BoundaryError(
            f"{path}: the {what} coordinates look like longitude/latitude degrees, but the "
            f"file's CRS is {gdf.crs.to_string()}, a projected CRS. Expected coordinates in "
            f"the file's CRS; if the file has no CRS, set crs = \"EPSG:4326\" "
            f"{spec.where(layer.table)}."
        )
    if not gdf.crs.equals(CRS.from_user_input(WGS84)):
        gdf = gdf.to_crs(WGS84)
        _check_degrees(gdf, layer, what, spec)
    return gdf


def _parse_crs(layer: _LayerSpec, spec: _SetSpec) -> CRS:
    try:
        return CRS.from_user_input(layer.crs)
    except CRSError as exc:
        raise BoundaryError(
            f"{spec.toml}: crs = {layer.crs!r} under [{layer.table}] is not a known coordinate "
            f"reference system ({exc}). Expected e.g. \"EPSG:27700\" (British National Grid) "
            f"or \"EPSG:4326\" (longitude/latitude)."
        ) from exc


def _check_degrees(gdf: gpd.GeoDataFrame, layer: _LayerSpec, what: str, spec: _SetSpec) -> None:
    minx, miny, maxx, maxy = gdf.total_bounds
    if _looks_like_degrees(minx, miny, maxx, maxy):
        return
    raise BoundaryError(
        f"{layer.path}: the {what} coordinates (x {_num(minx)} to {_num(maxx)}, y {_num(miny)} "
        f"to {_num(maxy)}) are not longitude/latitude degrees, but the file is read as "
        f"{gdf.crs.to_string() if gdf.crs else 'degrees'}. {_guess_crs(minx, miny, maxx, maxy)} "
        f"GeoJSON files must be in longitude/latitude; save the file as a GeoPackage with its "
        f"real CRS, or set crs {spec.where(layer.table)} for a file without one."
    )


def _no_crs_message(gdf: gpd.GeoDataFrame, layer: _LayerSpec, what: str, spec: _SetSpec) -> str:
    minx, miny, maxx, maxy = gdf.total_bounds
    guess = _guess_crs(minx, miny, maxx, maxy)
    example = "EPSG:4326" if "EPSG:4326" in guess else "EPSG:27700"
    is_shp = layer.path.suffix.lower() == ".shp"
    prj = "; a Shapefile keeps it in a .prj file beside the .shp" if is_shp else ""
    if spec.toml is None:
        how = (f"Describe the set in a boundaries TOML file (see {_DOCS}) with file = "
               f"\"{layer.path.name}\" and crs = \"{example}\" under [{layer.table}].")
    else:
        how = (f"Add crs = \"{example}\" (or the right EPSG code) under [{layer.table}] in "
               f"{spec.toml}.")
    return (
        f"{layer.path}: the {what} file has no coordinate reference system (CRS{prj}), so its "
        f"coordinates cannot be placed on a map. They run x {_num(minx)} to {_num(maxx)}, "
        f"y {_num(miny)} to {_num(maxy)}. {guess} {how}"
    )


def _looks_like_degrees(minx: float, miny: float, maxx: float, maxy: float) -> bool:
    return bool(-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90)


def _guess_crs(minx: float, miny: float, maxx: float, maxy: float) -> str:
    if _looks_like_degrees(minx, miny, maxx, maxy):
        return ("These look like longitude/latitude in degrees, which is EPSG:4326.")
    if 0 <= minx <= maxx <= 700_000 and 0 <= miny <= maxy <= 1_300_000:
        return (f"These look like metres on the British National Grid, which is {BNG}.")
    return ("These look like projected coordinates (metres?) outside the British National Grid "
            "range; ask whoever supplied the file which CRS it uses.")


def _num(value: float) -> str:
    return f"{value:.5f}" if abs(value) < 1000 else f"{value:.0f}"


def _read_lookup(path: Path) -> pd.DataFrame:
    """The district to LPA lookup: lad_code, lpa_name[, lad_name], one row per district."""
    if not path.is_file():
        raise BoundaryError(
            f"{path}: LPA lookup file not found. Expected a CSV with columns lad_code, lpa_name "
            f"(lad_name optional)."
        )
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise BoundaryError(
            f"{path}: the LPA lookup is empty. Expected a CSV with columns lad_code, lpa_name."
        ) from exc
    except (UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise BoundaryError(
            f"{path}: cannot read the LPA lookup as a UTF-8 CSV ({exc}). Expected columns "
            f"lad_code, lpa_name (lad_name optional)."
        ) from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in (LAD_CODE, LPA_NAME) if c not in table.columns]
    if missing:
        raise BoundaryError(
            f"{path}: the LPA lookup has no {' or '.join(missing)} column. Expected columns "
            f"lad_code, lpa_name (lad_name optional). Columns found: "
            f"{_columns_of(list(table.columns))}."
        )
    keep = [c for c in (LAD_CODE, LAD_NAME, LPA_NAME) if c in table.columns]
    table = table[keep].apply(lambda col: col.str.strip())
    table = table.loc[(table != "").any(axis=1)].reset_index(drop=True)
    if table.empty:
        raise BoundaryError(f"{path}: the LPA lookup has no rows; expected one per district.")
    for column in (LAD_CODE, LPA_NAME):
        blank = table[column] == ""
        if blank.any():
            raise BoundaryError(
                f"{path}: {int(blank.sum())} row(s) of the LPA lookup have a blank {column} "
                f"(first at line {int(np.flatnonzero(blank)[0]) + 2}). Expected a value on "
                f"every row."
            )
    conflicts = table.groupby(LAD_CODE)[LPA_NAME].nunique()
    conflicts = conflicts[conflicts > 1]
    if len(conflicts):
        raise BoundaryError(
            f"{path}: {len(conflicts)} district(s) are given more than one LPA: "
            f"{_first(list(conflicts.index))}. Expected one LPA per district."
        )
    return table.drop_duplicates(LAD_CODE).reset_index(drop=True)


def _codes_by_point(
    wards: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame, key: str, path: Path
) -> pd.Series:
    """For each ward, the `key` of the polygon its representative point lies in (NaN if none)."""
    points = wards.geometry.representative_point().to_numpy()
    point_idx, poly_idx = polygons.sindex.query(points, predicate="within")
    hits = pd.DataFrame({"point": point_idx, key: polygons[key].to_numpy()[poly_idx]})
    several = hits.groupby("point")[key].nunique()
    several = several[several > 1]
    if len(several):
        labels = wards[WARD_CODE].to_numpy()[several.index.to_numpy()].tolist()
        raise BoundaryError(
            f"{path}: {len(several)} ward(s) have their representative point in more than one "
            f"polygon ({_first(labels)}), so the polygons overlap. Expected polygons that do "
            f"not overlap."
        )
    found = hits.drop_duplicates("point").set_index("point")[key]
    values = pd.Series(np.full(len(wards), np.nan, dtype=object), index=wards.index)
    values.iloc[found.index.to_numpy()] = found.to_numpy()
    return values


# --- small helpers ----------------------------------------------------------------------------


def _files_of(path: Path) -> list[Path]:
    """The file itself, plus the parts of a Shapefile."""
    files = [path]
    if path.suffix.lower() == ".shp":
        files.extend(p for ext in _SHAPEFILE_PARTS if (p := _sibling(path, ext)) is not None)
    return files


def _sibling(path: Path, ext: str) -> Path | None:
    for candidate in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if candidate.is_file():
            return candidate
    return None


def _dedupe(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)


def _first(items: list[str]) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOW])
    return shown + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def _columns_of(columns: list[str]) -> str:
    return ", ".join(columns) if columns else "(none)"


def _note(notes: list[str], text: str) -> None:
    notes.append(text)
    log.info("%s", text)


def _top_level(spec: _SetSpec) -> str:
    return f"at the top of {spec.toml}" if spec.toml else f"in a boundaries TOML file ({_DOCS})"


def _guess_vintage(detected: dict[str, str]) -> str | None:
    for column in (detected.get("code"), detected.get("lad_code")):
        match = re.fullmatch(r"(?:WD|LAD)(\d\d)CD", column or "", re.IGNORECASE)
        if match:
            return f"20{match.group(1)} (guessed from column {column})"
    return None


def _describe(
    spec: _SetSpec, detected: dict[str, str], lpa_method: str, n_wards: int, n_districts: int,
    n_lpas: int,
) -> str:
    origin = f"User boundary set from {spec.toml}" if spec.toml else "User wards file"
    columns = ", ".join(f"{role}={col}" for role, col in detected.items())
    counts = f"{n_wards} wards, {n_districts} districts, {n_lpas} LPAs"
    if spec.districts is not None:
        district_part = f"districts from {spec.districts.path.name}"
    else:
        district_part = "districts dissolved from the wards"
    return (f"{origin}: wards from {spec.wards.path.name} ({columns}); {district_part}; "
            f"{lpa_method} ({counts})")
