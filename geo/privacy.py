"""Privacy of the outputs: who they are for, pseudonymous child ids, coarsened hotspot
geometry, and checks that a public output folder discloses nothing it should not.

- `Audience` / `make_audience`: what an ``internal`` (partner analysts) and a ``public`` output
  shows. See docs/privacy.md.
- `hash_ids`, `load_or_create_key`: child ids as keyed hashes (HMAC-SHA256), so repeat
  children can be counted across runs without the ids leaving the analyst's machine.
- `snap_locations`, `snap_to_grid`, `wards_touched`: hotspot areas made only of whole grid
  cells (or whole wards), so no vertex is finer than the grid.
- `suppress_small_hotspots`: drop hotspots with too few distinct children, renumber the rest.
- `find_fine_coordinates`, `find_small_counts`, `scan_outputs` and their ``assert_*``
  forms: the last check before a public folder is released.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geo import schema as s
from geo.errors import HotspotError, InputError, ParameterError
from geo.sdc import RULES, SDC_THRESHOLDS, check_rule, column_kind

# --- audiences --------------------------------------------------------------------------------
AUDIENCES: Final = ("internal", "public")
HOTSPOT_GEOMETRIES: Final = ("hull", "grid", "wards")
MIN_GRID_M: Final = 250
PUBLIC_GRID_M: Final = 500  # cell size when a public run asks for grid cells without a size
# Distinct children a hotspot must hold to appear in a public output (docs/privacy.md):
# ONS secure-research outputs use a threshold of 10 (notes/domain.md section 5), the strictest
# of the UK rules cited there; a hotspot is a place *and* a count, often one children's home,
# so it gets the strictest threshold, applied to distinct children, not episodes.
PUBLIC_MIN_CHILDREN: Final = 10
# Hotspot table columns a public output never shows: exact centres, the number of distinct
# addresses (1 = one address, usually a home), the hull's area, and homes near the hotspot.
# The main home's id is hidden too: a home id (often an Ofsted URN) names an address.
PUBLIC_HIDDEN_HOTSPOT_COLUMNS: Final = (
    "centroid_lat", "centroid_lon", "locations", "area_ha", "main_home_id",
)  # fmt: skip
PUBLIC_HIDDEN_HOTSPOT_PREFIXES: Final = ("homes_",)


@dataclass(frozen=True)
class Audience:
    """What one kind of output shows. Build with `make_audience`.

    Attributes
    ----------
    name
        ``internal``: analysts of the partner agencies (council, police, health) working under
        an information-sharing agreement. ``public``: anyone (a published report, a committee
        paper on a council website, a freedom-of-information reply).
    sdc_rule
        Disclosure control of the tables and map counts (`geo.sdc`).
    point_locations
        Episode coordinates appear anywhere (episodes.csv lat/lon, hull vertices, centres).
    episodes_csv, audit_csv, homes_csv
        Whether tables/episodes.csv, tables/audit.csv and tables/homes.csv are written.
        The audit names the value at fault (a postcode, coordinates), so it is row-level
        personal data like episodes.csv.
    child_pseudonyms
        episodes.csv carries `child_pseudonym` (`hash_ids` with the folder's key).
    homes_drawn, home_names
        Homes are drawn on the map (at their location); with their names.
    hotspot_geometry
        ``hull`` (exact convex hull), ``grid`` (whole cells of `grid_m` metres, `snap_locations`)
        or ``wards`` (whole wards holding the hotspot's episodes, `wards_touched`).
    min_children_per_hotspot
        Hotspots with fewer distinct children are not shown at all (`suppress_small_hotspots`).
    hotspot_centres
        The centre dot and `centroid_lat`/`centroid_lon` (the mean of the episodes' positions:
        for a one-address hotspot, the address itself).
    input_paths
        run.json gives the full path of each input (else the file name only: a folder name
        such as a user name or a child's name must not travel with a public output).
    """

    name: str
    sdc_rule: str
    point_locations: bool
    episodes_csv: bool
    audit_csv: bool
    homes_csv: bool
    child_pseudonyms: bool
    homes_drawn: bool
    home_names: bool
    hotspot_geometry: str
    grid_m: int | None
    min_children_per_hotspot: int
    hotspot_centres: bool
    input_paths: bool
    hidden_hotspot_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def public(self) -> bool:
        """True for the public audience."""
        return self.name == "public"

    def hotspot_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """The hotspot table without the columns this audience does not see."""
        drop = [
            c for c in table.columns
            if c in self.hidden_hotspot_columns
            or (self.public and str(c).startswith(PUBLIC_HIDDEN_HOTSPOT_PREFIXES))
        ]  # fmt: skip
        return table.drop(columns=drop)

    def describe(self) -> dict[str, object]:
        """Settings and what the outputs show, in words, for run.json and the report."""
        return {
            "audience": self.name,
            "sdc_rule": self.sdc_rule,
            "settings": {
                "point_locations": self.point_locations,
                "episodes_csv": self.episodes_csv,
                "audit_csv": self.audit_csv,
                "homes_csv": self.homes_csv,
                "child_pseudonyms": self.child_pseudonyms,
                "homes_drawn": self.homes_drawn,
                "home_names": self.home_names,
                "hotspot_geometry": self.hotspot_geometry,
                "grid_m": self.grid_m,
                "min_children_per_hotspot": self.min_children_per_hotspot,
                "hotspot_centres": self.hotspot_centres,
                "input_paths": self.input_paths,
                "hidden_hotspot_columns": list(self.hidden_hotspot_columns),
            },
            "shows": self.shows(),
        }

    def shows(self) -> list[str]:
        """One sentence per output: what this audience sees."""
        if not self.public:
            homes = (
                "Homes are drawn at their location"
                + (" with their names." if self.home_names else ", without names.")
            )
            spots = (
                "its exact outline (convex hull) and centre"
                if self.hotspot_geometry == "hull"
                else "whole wards holding its episodes"
                if self.hotspot_geometry == "wards"
                else f"whole {self.grid_m} m grid cells"
            )
            return [
                "For partner analysts under an information-sharing agreement; not for "
                "publication.",
                "The map shows the ward choropleth, LPA outlines and every hotspot "
                f"(with at least {self.min_children_per_hotspot} distinct children) as {spots}. "
                + homes,
                "tables/episodes.csv has one row per input row with its coordinates and areas; "
                "child ids appear only as keyed pseudonyms (child_pseudonym), never in clear.",
                "tables/audit.csv names the value at fault in each rejected row.",
                f"Tables: disclosure control '{self.sdc_rule}'.",
            ]
        where = (
            "whole wards holding its episodes"
            if self.hotspot_geometry == "wards"
            else f"whole {self.grid_m} m grid cells"
        )
        return [
            "For publication.",
            "No point location appears anywhere: no episode, home or hotspot centre.",
            f"A hotspot is shown only if it holds at least {self.min_children_per_hotspot} "
            f"distinct children, renumbered, and only as {where}.",
            "Homes are never drawn or listed (no homes.csv).",
            "No row-level table: tables/episodes.csv and tables/audit.csv are not written.",
            f"Every count is controlled with the '{self.sdc_rule}' rule (see run.json).",
            "run.json names the input files without their folders.",
        ]


def check_grid(cell_m: float) -> int:
    """A grid cell size: a whole number of metres, at least `MIN_GRID_M`."""
    ok = isinstance(cell_m, int | float) and not isinstance(cell_m, bool)
    if not ok or not math.isfinite(cell_m) or cell_m != int(cell_m) or cell_m < MIN_GRID_M:
        msg = (
            f"The grid cell size must be a whole number of metres, at least {MIN_GRID_M}. "
            f"Got {cell_m!r} instead."
        )
        raise ParameterError(msg)
    if cell_m > 50_000:
        msg = f"The grid cell size must be at most 50000 metres. Got {cell_m!r} instead."
        raise ParameterError(msg)
    return int(cell_m)


def make_audience(
    name: str = "internal",
    *,
    sdc: str | None = None,
    show_home_names: bool = False,
    hotspot_geometry: str | None = None,
    grid_m: float | None = None,
    min_children: int | None = None,
) -> Audience:
    """The settings for `name` (``internal`` or ``public``), with the user's choices checked.

    Defaults: internal -- SDC ``none``, exact hulls, every hotspot; public -- SDC ``dfe``,
    hotspots as whole wards (a reader cannot place anything closer than the ward, as the data
    contract asks for homes), at least `PUBLIC_MIN_CHILDREN` distinct children. Giving
    `grid_m` selects grid cells. Raises `ParameterError` for a combination that would disclose
    more than the audience allows (public with SDC ``none``, home names, exact hulls, or a
    child threshold at or below the SDC rule's suppression threshold).
    """
    audience = str(name).strip().lower()
    if audience not in AUDIENCES:
        msg = f"`--audience` must be one of {', '.join(AUDIENCES)}. Got {name!r} instead."
        raise ParameterError(msg)
    geometry = None if hotspot_geometry is None else str(hotspot_geometry).strip().lower()
    if geometry is not None and geometry not in HOTSPOT_GEOMETRIES:
        msg = (
            f"The hotspot geometry must be one of {', '.join(HOTSPOT_GEOMETRIES)}. "
            f"Got {hotspot_geometry!r} instead."
        )
        raise ParameterError(msg)
    grid = check_grid(grid_m) if grid_m is not None else None
    if grid is not None and geometry is None:
        geometry = "grid"
    if grid is not None and geometry != "grid":
        msg = f"A grid size ({grid} m) was given, but the hotspot geometry is {geometry!r}."
        raise ParameterError(msg)
    if min_children is not None and (
        isinstance(min_children, bool) or not isinstance(min_children, int) or min_children < 1
    ):
        msg = (
            "The minimum number of children per hotspot must be a whole number >= 1. "
            f"Got {min_children!r}."
        )
        raise ParameterError(msg)

    if audience == "internal":
        rule = check_rule(sdc) if sdc is not None else "none"
        geometry = geometry or "hull"
        return Audience(
            name="internal", sdc_rule=rule, point_locations=True,
            episodes_csv=True, audit_csv=True, homes_csv=True, child_pseudonyms=True,
            homes_drawn=True, home_names=bool(show_home_names), hotspot_geometry=geometry,
            grid_m=(grid or PUBLIC_GRID_M) if geometry == "grid" else None,
            min_children_per_hotspot=min_children or 1, hotspot_centres=geometry == "hull",
            input_paths=True,
        )  # fmt: skip

    rule = check_rule(sdc) if sdc is not None else "dfe"
    if rule == "none":
        msg = (
            "A public output needs disclosure control: `--sdc none` is for internal outputs "
            f"only. Use one of {', '.join(r for r in RULES if r != 'none')}."
        )
        raise ParameterError(msg)
    if show_home_names:
        msg = "Home names are never shown in a public output (homes are not drawn at all)."
        raise ParameterError(msg)
    geometry = geometry or "wards"
    if geometry == "hull":
        msg = (
            "A public output cannot show exact hotspot outlines (their corners are episode "
            "locations): use whole wards (the default) or grid cells (--grid-m)."
        )
        raise ParameterError(msg)
    floor = SDC_THRESHOLDS[rule] + 1
    children = PUBLIC_MIN_CHILDREN if min_children is None else min_children
    if children < floor:
        msg = (
            f"A public hotspot must hold at least {floor} distinct children under the "
            f"'{rule}' rule (counts up to {floor - 1} are suppressed). Got {children}."
        )
        raise ParameterError(msg)
    return Audience(
        name="public", sdc_rule=rule, point_locations=False, episodes_csv=False,
        audit_csv=False, homes_csv=False, child_pseudonyms=False, homes_drawn=False,
        home_names=False, hotspot_geometry=geometry,
        grid_m=(grid or PUBLIC_GRID_M) if geometry == "grid" else None,
        min_children_per_hotspot=children, hotspot_centres=False, input_paths=False,
        hidden_hotspot_columns=PUBLIC_HIDDEN_HOTSPOT_COLUMNS,
    )  # fmt: skip


# --- pseudonymous child ids -------------------------------------------------------------------
KEY_FILE: Final = ".hotspots-key"
KEY_BYTES: Final = 32
PSEUDONYM_PREFIX: Final = "K-"
PSEUDONYM_HEX: Final = 16  # 64 bits: collisions are negligible for any number of children
MIN_SALT_CHARS: Final = 16
_KDF_SALT: Final = b"hotspots: child_id pseudonyms, v1"
_KDF_ITERATIONS: Final = 600_000  # PBKDF2-HMAC-SHA256, as OWASP recommends (2023)
_KEY_HEADER: Final = (
    "# hotspots pseudonymisation key for the child ids in this folder's outputs.\n"
    "# KEEP IT SECRET. Anyone holding this key and a list of child ids can work out which\n"
    "# pseudonym (K-...) is which child. Do not copy, email or publish it with the outputs.\n"
    "# Runs into this folder reuse it, so the same child keeps the same pseudonym; delete it\n"
    "# to start new pseudonyms. See docs/privacy.md.\n"
)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def derive_key(salt: str) -> bytes:
    """A 32-byte key from a passphrase given with ``--salt`` (PBKDF2-HMAC-SHA256).

    The same passphrase gives the same key on any machine, so two analysts who share it get
    the same pseudonyms. The iterations make guessing a weak passphrase slow, not impossible:
    `MIN_SALT_CHARS` characters at least.
    """
    text = str(salt)
    if len(text.strip()) < MIN_SALT_CHARS:
        msg = (
            f"`--salt` must be at least {MIN_SALT_CHARS} characters (a passphrase nobody could "
            "guess): with a short one, anyone could recompute the pseudonyms of known child "
            f"ids. Got {len(text.strip())} characters. Or leave it out, and a random key is kept "
            f"in the output folder ({KEY_FILE})."
        )
        raise ParameterError(msg)
    return hashlib.pbkdf2_hmac("sha256", text.encode("utf-8"), _KDF_SALT, _KDF_ITERATIONS)


def load_or_create_key(
    out_dir: Path, salt: str | None, *, key_file: Path | None = None
) -> tuple[bytes, Path | None]:
    """The key for `hash_ids`, and the file it is kept in (None when derived from `salt`).

    With `salt`: `derive_key(salt)`; no file is read or written. Without: the key in
    ``out_dir/.hotspots-key`` (or `key_file`), created with 32 random bytes and permissions
    0600 if absent, and reused on later runs into the same folder so a child keeps the same
    pseudonym across runs. A key file readable by others is tightened to 0600. Call it with
    the *final* output folder (not a temporary one) before writing.

    Raises
    ------
    ParameterError
        `salt` is too short.
    InputError
        The key file is a link, not a regular file, damaged, or cannot be read or written.
    """
    if salt is not None:
        return derive_key(salt), None
    path = Path(key_file) if key_file is not None else Path(out_dir) / KEY_FILE
    if path.exists() or path.is_symlink():
        return _read_key(path), path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:  # another run created it meanwhile
        return _read_key(path), path
    except OSError as exc:
        msg = f"The key file {path} cannot be created: {exc.strerror or exc}."
        raise InputError(msg, path=path) from exc
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        if hasattr(os, "fchmod"):
            os.fchmod(fh.fileno(), 0o600)
        fh.write(_KEY_HEADER + key.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return key, path


def _read_key(path: Path) -> bytes:
    def refuse(why: str) -> InputError:
        return InputError(
            f"The key file {path} {why}. Child pseudonyms cannot be made without it. If you "
            "do not need the same pseudonyms as earlier runs, delete it and run again.",
            path=path,
        )

    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise refuse("is a symbolic link, which is not followed for safety") from exc
        raise refuse(f"cannot be read ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise refuse("is not a regular file")
        if info.st_mode & 0o077 and hasattr(os, "fchmod"):
            try:
                os.fchmod(fh.fileno(), 0o600)
            except OSError as exc:
                raise refuse("is readable by other users and its permissions cannot be "
                             "tightened to 0600") from exc
        raw = fh.read(4096)
    lines = [ln.strip() for ln in raw.decode("ascii", "replace").splitlines()]
    body = [ln for ln in lines if ln and not ln.startswith("#")]
    if len(body) != 1 or not re.fullmatch(r"[0-9a-fA-F]{64}", body[0]):
        raise refuse("is damaged (expected one line of 64 hexadecimal digits)")
    return bytes.fromhex(body[0])


def _id_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1001.0 read by pandas is the id 1001
    return str(value).strip()


def _hmac_sha256(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 (RFC 2104) with `key`, as a function of the message giving the hex digest:
    the key's inner and outer pads are hashed once, then copied for each message (2.5 times
    faster than `hmac.digest` per message, for the hundreds of thousands of ids of a big file).
    """
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def mac(message: bytes) -> str:
        i = inner.copy()
        i.update(message)
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()

    return mac


def hash_ids(
    ids: pd.Series,
    key: bytes,
    *,
    prefix: str = PSEUDONYM_PREFIX,
    codes: np.ndarray | None = None,
) -> pd.Series:
    """Keyed pseudonyms of child ids: ``prefix`` + the first 16 hex digits of
    HMAC-SHA256(key, id as UTF-8, surrounding spaces removed).

    The same id and key always give the same pseudonym; another key gives unrelated ones.
    Blank ids stay blank (one pseudonym for every blank would look like one child). Without
    the key a pseudonym cannot be linked to an id, even by trying every possible id.

    `codes`, when the caller has them: ``pd.factorize`` codes of `ids` (0, 1, ... for equal
    ids, no missing code), so the ids need not be hashed again to find the distinct ones.
    """
    if not isinstance(key, bytes | bytearray) or len(key) < 16:
        msg = "hash_ids needs a key of at least 16 bytes (see load_or_create_key)."
        raise ValueError(msg)
    if codes is None:
        codes, uniques = pd.factorize(ids.astype(object), use_na_sentinel=True)
    else:
        codes = np.asarray(codes, dtype=np.int64)
        if len(codes) != len(ids) or (len(codes) and codes.min() < 0):
            msg = "hash_ids: `codes` must be one factorize code (>= 0) per id."
            raise ValueError(msg)
        row_of = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
        row_of[codes] = np.arange(len(codes))  # a row of each code (they share the id)
        uniques = ids.to_numpy(dtype=object)[row_of]
    digests = []
    mac = _hmac_sha256(bytes(key))
    for value in uniques:
        text = _id_text(value)
        digests.append(prefix + mac(text.encode("utf-8"))[:PSEUDONYM_HEX] if text else "")
    table = np.array([*digests, ""], dtype=object)  # code -1 (missing) -> ""
    return pd.Series(table[codes], index=ids.index, name=ids.name, dtype=object)


# --- hotspots for a public output -------------------------------------------------------------
def suppress_small_hotspots(
    episodes: pd.DataFrame, *, min_children: int, prefix: str = "H"
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Blank the `hotspot_id` of hotspots with fewer than `min_children` distinct children,
    and renumber the others ``H01``, ``H02``... (``P01``... with `prefix` ``P``) in their old
    order (most episodes first).

    Call it before the tables are summarised, so `hotspot_episodes` and the hotspot table
    count only the hotspots shown (a gap in the numbering, or hotspot episodes in a ward with
    no visible hotspot, would tell a reader a small hotspot exists there). Returns the new
    frame and the mapping old id -> new id (``""`` for dropped hotspots); keep the mapping
    out of public outputs.
    """
    if min_children < 1:
        msg = f"min_children must be >= 1. Got {min_children!r}."
        raise ValueError(msg)
    out = episodes.copy()
    ids = out[s.HOTSPOT_ID].fillna("").astype(str)
    in_spot = ids != ""
    children = out.loc[in_spot].groupby(ids[in_spot])[s.CHILD_ID].nunique()
    kept = sorted(h for h, n in children.items() if n >= min_children)
    width = max(2, len(str(len(kept))))
    mapping = {h: "" for h in children.index}
    mapping.update({h: f"{prefix}{i + 1:0{width}d}" for i, h in enumerate(kept)})
    out[s.HOTSPOT_ID] = ids.map(lambda h: mapping.get(h, "") if h else "")
    return out, mapping


def _cells(x: np.ndarray, y: np.ndarray, cell: int) -> np.ndarray:
    """Unique (column, row) indices of the cells holding the points."""
    ij = np.column_stack([np.floor(x / cell), np.floor(y / cell)]).astype(np.int64)
    return np.unique(ij, axis=0)


def _cells_area(cells: np.ndarray, cell: int) -> BaseGeometry:
    """The whole cells meeting the convex hull of the given cells: one polygon, every vertex
    a grid node. It covers every cell given, and depends on nothing else."""
    i, j = cells[:, 0], cells[:, 1]
    corners = np.concatenate(
        [np.column_stack([i + di, j + dj]) for di in (0, 1) for dj in (0, 1)]
    ).astype(float) * cell
    hull = shapely.convex_hull(shapely.multipoints(corners))
    x0, x1 = float(corners[:, 0].min()), float(corners[:, 0].max())
    rows = []
    for row in range(int(j.min()), int(j.max()) + 1):
        strip = shapely.box(x0 - cell, row * cell, x1 + cell, (row + 1) * cell)
        part = shapely.intersection(hull, strip)
        if shapely.area(part) <= 1e-6 * cell * cell:
            continue
        bx0, _, bx1, _ = shapely.bounds(part)
        first = math.floor(bx0 / cell + 1e-9)
        last = math.ceil(bx1 / cell - 1e-9)
        rows.append(shapely.box(first * cell, row * cell, last * cell, (row + 1) * cell))
    area = shapely.union_all(rows)
    return shapely.normalize(shapely.simplify(area, 0))


def snap_locations(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    groups: Sequence[object] | np.ndarray | pd.Series,
    *,
    cell_m: float = PUBLIC_GRID_M,
) -> gpd.GeoSeries:
    """Each group's locations (EPSG:27700 metres) as an area of whole grid cells.

    Each location is replaced by the `cell_m` cell holding it; the area is every cell that
    meets the convex hull of those cells. So it covers every location and the convex hull of
    the locations; every vertex is a multiple of `cell_m`; and it depends only on which
    cells hold a location, never on where inside a cell a location is: moving a location
    within its cell changes nothing, so a reader learns no more than the cells.
    Groups blank (``""``/None/NaN) and locations that are not finite are ignored.

    Returns a GeoSeries (EPSG:27700) indexed by the sorted group labels.
    """
    cell = check_grid(cell_m)
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    labels = pd.Series(np.asarray(groups, dtype=object)).fillna("").astype(str).to_numpy()
    ok = np.isfinite(xs) & np.isfinite(ys) & (labels != "")
    names = sorted(set(labels[ok].tolist()))
    geoms = []
    for name in names:
        mine = ok & (labels == name)
        geoms.append(_cells_area(_cells(xs[mine], ys[mine], cell), cell))
    return gpd.GeoSeries(geoms, index=pd.Index(names, name="group"), crs=s.BNG)


def snap_to_grid(
    geoms: gpd.GeoSeries | gpd.GeoDataFrame | Sequence[BaseGeometry] | np.ndarray,
    cell_m: float = PUBLIC_GRID_M,
) -> gpd.GeoSeries:
    """Geometries (EPSG:27700; reprojected if the series has another CRS) as whole grid cells.

    The same rule as `snap_locations`, with each geometry's vertices as its locations: the
    result covers the geometry, every vertex is a grid node, and it depends only on the
    cells holding the vertices. For a DBSCAN convex hull the vertices are episode locations.
    A one-address hotspot is drawn as a small circle whose vertices are 25 m from the address,
    so for those (and generally) prefer `snap_locations` with the episodes' x/y: a circle
    straddling a cell edge would touch two cells and tell that the address is near the edge.
    Empty or missing geometries stay empty.
    """
    cell = check_grid(cell_m)
    if isinstance(geoms, gpd.GeoDataFrame):
        geoms = geoms.geometry
    if isinstance(geoms, gpd.GeoSeries):
        series = geoms.to_crs(s.BNG) if geoms.crs is not None else geoms
        index = series.index
        values = np.asarray(series.values, dtype=object)
    else:
        values = np.asarray(list(geoms), dtype=object)
        index = pd.RangeIndex(len(values))
    out = []
    for geom in values:
        if geom is None or shapely.is_empty(geom):
            out.append(shapely.Polygon())
            continue
        xy = shapely.get_coordinates(geom)
        out.append(_cells_area(_cells(xy[:, 0], xy[:, 1], cell), cell))
    return gpd.GeoSeries(out, index=index, crs=s.BNG)


def wards_touched(
    groups: Sequence[object] | np.ndarray | pd.Series,
    ward_codes: Sequence[object] | np.ndarray | pd.Series,
    wards: gpd.GeoDataFrame,
) -> gpd.GeoSeries:
    """Each group (hotspot) as the union of the whole wards that hold its episodes.

    Given per episode: its group (`hotspot_id`, blank = none) and its `ward_code`. Which wards
    hold a hotspot's episodes is already public in the ward table (`hotspot_episodes`), so
    this area adds nothing a reader could not know; the wards a convex hull merely crosses
    would (they tell where between two wards the hull's corners are). Returns a GeoSeries
    in the CRS of `wards`, indexed by the sorted group labels.
    """
    frame = pd.DataFrame(
        {
            "g": pd.Series(np.asarray(groups, dtype=object)).fillna("").astype(str),
            "w": pd.Series(np.asarray(ward_codes, dtype=object)).fillna("").astype(str),
        }
    )
    frame = frame[(frame["g"] != "") & (frame["w"] != "")]
    by_code = wards.set_index(wards[s.WARD_CODE].astype(str)).geometry
    unknown = sorted(set(frame["w"]) - set(by_code.index))
    if unknown:
        msg = f"wards_touched: ward code(s) not in the boundary set: {', '.join(unknown[:5])}"
        raise ValueError(msg)
    names = sorted(frame["g"].unique().tolist())
    geoms = [
        shapely.union_all(np.asarray(by_code.loc[sorted(set(part["w"]))].values))
        for _, part in frame.groupby("g", sort=True)
    ]
    return gpd.GeoSeries(geoms, index=pd.Index(names, name="group"), crs=wards.crs)


# --- checks on a public output ----------------------------------------------------------------
class DisclosureError(HotspotError):
    """An output would disclose what its audience must not see; nothing is released."""

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        self.findings = tuple(findings)
        super().__init__(message)


@dataclass(frozen=True)
class Finding:
    """One thing a public output must not contain."""

    source: str  # file (relative to the output folder) or "text"
    where: str  # character offset, table row and column...
    text: str  # the offending text (short)
    problem: str

    def __str__(self) -> str:
        return f"{self.source} ({self.where}): {self.problem}: {self.text}"


_GB_LAT: Final = (49.0, 61.5)
_GB_LON: Final = (-9.0, 2.5)
_BNG_E: Final = (0.0, 700_000.0)
_BNG_N: Final = (0.0, 1_300_000.0)
_M_PER_DEG: Final = 111_320.0
_NUMBER = re.compile(r"(?<![\w.\-])-?\d+(?:\.\d+)?(?!\w|\.\d)")
_TIGHT_GAP = re.compile(r"\s*\"?\s*[,;\t|]\s*\"?\s*|\s+")
_LOOSE_GAP_CHARS: Final = 64
# GeoJSON bounding boxes mix the smallest longitude of one vertex with the smallest latitude
# of another: no more precise than the vertices, which are checked themselves.
_BBOX = re.compile(r"\"bbox\"\s*:\s*\[[^\]]*\]")
_TO_BNG = Transformer.from_crs(s.WGS84, s.BNG, always_xy=True)


@dataclass(frozen=True)
class PublicReference:
    """Coordinates a public output may contain although they are not on the grid: those of
    the published boundaries (ward and LPA outlines drawn on the map) and points derived from
    them only (the corners and centre of their extent, where the map opens).

    Build with `PublicReference.from_boundaries(wards)`.
    """

    lines: np.ndarray  # boundary line strings, EPSG:27700
    points: np.ndarray  # (n, 2) EPSG:27700
    tree: shapely.STRtree

    @classmethod
    def from_boundaries(cls, *layers: gpd.GeoDataFrame | gpd.GeoSeries) -> PublicReference:
        """From one or more boundary layers (any CRS; ward polygons are enough, as LPAs and
        districts are made of whole wards)."""
        lines: list[BaseGeometry] = []
        points: list[tuple[float, float]] = []
        for layer in layers:
            geo = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
            bng = geo.to_crs(s.BNG)
            parts = shapely.get_parts(shapely.boundary(np.asarray(bng.values)))
            lines.extend(parts.tolist())
            minx, miny, maxx, maxy = geo.to_crs(s.WGS84).total_bounds
            for lon, lat in (
                (minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy),
                ((minx + maxx) / 2, (miny + maxy) / 2),
            ):  # fmt: skip
                points.append(tuple(_TO_BNG.transform(lon, lat)))
        arr = np.asarray(lines, dtype=object)
        return cls(arr, np.asarray(points, dtype=float).reshape(-1, 2), shapely.STRtree(arr))

    def allows(self, e: np.ndarray, n: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """Which points lie within `tol` metres of a boundary line or reference point."""
        ok = np.zeros(len(e), dtype=bool)
        if len(e) == 0:
            return ok
        pts = shapely.points(e, n)
        if len(self.lines):
            hit, _ = self.tree.query(pts, predicate="dwithin", distance=tol)
            ok[np.unique(hit)] = True
        for px, py in self.points:
            ok |= np.hypot(e - px, n - py) <= tol
        return ok


Allowed = PublicReference | gpd.GeoDataFrame | gpd.GeoSeries | None


def _reference(allowed: Allowed) -> PublicReference | None:
    if allowed is None or isinstance(allowed, PublicReference):
        return allowed
    return PublicReference.from_boundaries(allowed)


def _decimals(token: str) -> int:
    return len(token.partition(".")[2])


@dataclass
class _Candidates:
    """Coordinate pairs found, before the grid check."""

    kind: list[str] = field(default_factory=list)  # "latlon" or "en"
    a: list[float] = field(default_factory=list)  # lat or easting
    b: list[float] = field(default_factory=list)  # lon or northing
    da: list[int] = field(default_factory=list)  # decimals written
    db: list[int] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def add(self, kind: str, a: float, b: float, da: int, db: int, where: str, text: str) -> None:
        for name, value in (("kind", kind), ("a", a), ("b", b), ("da", da), ("db", db),
                            ("where", where), ("text", text)):
            getattr(self, name).append(value)


def _pair(a: float, b: float, da: int, db: int, en: bool) -> tuple[str, float, float, int, int]:
    """Classify two numbers as a British lat/lon (either order) or easting/northing pair."""
    if da >= 1 and db >= 1:
        if _GB_LAT[0] <= a <= _GB_LAT[1] and _GB_LON[0] <= b <= _GB_LON[1]:
            return "latlon", a, b, da, db
        if _GB_LON[0] <= a <= _GB_LON[1] and _GB_LAT[0] <= b <= _GB_LAT[1]:
            return "latlon", b, a, db, da
    if (
        en and abs(a) >= 10_000 and abs(b) >= 10_000
        and _BNG_E[0] <= a <= _BNG_E[1] and _BNG_N[0] <= b <= _BNG_N[1]
    ):  # fmt: skip
        return "en", a, b, da, db
    return "", a, b, da, db


def _scan_text(text: str, found: _Candidates, *, en: bool, prefix: str = "char ") -> None:
    if '"bbox"' in text:  # blank them out, keeping the offsets of everything else
        text = _BBOX.sub(lambda m: " " * len(m.group()), text)
    tokens = list(_NUMBER.finditer(text))
    if len(tokens) < 2:
        return
    values = [float(t.group()) for t in tokens]
    decimals = [_decimals(t.group()) for t in tokens]
    used = [False] * len(tokens)
    for tight in (True, False):
        for i in range(len(tokens) - 1):
            if used[i] or used[i + 1]:
                continue
            gap = text[tokens[i].end() : tokens[i + 1].start()]
            if tight and not _TIGHT_GAP.fullmatch(gap):
                continue
            if not tight and len(gap) > _LOOSE_GAP_CHARS:
                continue
            kind, a, b, da, db = _pair(
                values[i], values[i + 1], decimals[i], decimals[i + 1], en and tight
            )
            if kind:
                used[i] = used[i + 1] = True
                start, end = tokens[i].start(), tokens[i + 1].end()
                found.add(kind, a, b, da, db, f"{prefix}{start}", text[start:end][:120])


def _judge(found: _Candidates, grid_m: float, allowed: PublicReference | None,
           source: str) -> list[Finding]:
    """Findings for the candidate pairs finer than the grid and not on public boundaries."""
    if not found.kind:
        return []
    kind = np.array(found.kind)
    a = np.array(found.a, dtype=float)
    b = np.array(found.b, dtype=float)
    da = np.array(found.da, dtype=float)
    db = np.array(found.db, dtype=float)
    e = np.empty(len(a))
    n = np.empty(len(a))
    step_e = np.empty(len(a))
    step_n = np.empty(len(a))
    ll = kind == "latlon"
    if ll.any():
        e[ll], n[ll] = _TO_BNG.transform(b[ll], a[ll])
        step_n[ll] = 10.0 ** -da[ll] * _M_PER_DEG
        step_e[ll] = 10.0 ** -db[ll] * _M_PER_DEG * np.cos(np.radians(a[ll]))
    en = ~ll
    if en.any():
        e[en], n[en] = a[en], b[en]
        step_e[en] = 10.0 ** -da[en]
        step_n[en] = 10.0 ** -db[en]
    coarse = (step_e >= grid_m) & (step_n >= grid_m)
    tol_e = step_e / 2 + 1.0
    tol_n = step_n / 2 + 1.0
    off_e = np.abs(e - np.round(e / grid_m) * grid_m)
    off_n = np.abs(n - np.round(n / grid_m) * grid_m)
    on_grid = (off_e <= tol_e) & (off_n <= tol_n)
    bad = ~coarse & ~on_grid
    if allowed is not None and bad.any():
        idx = np.flatnonzero(bad)
        ok = allowed.allows(e[idx], n[idx], np.hypot(tol_e[idx], tol_n[idx]) + 1.0)
        bad[idx[ok]] = False
    out = []
    for i in np.flatnonzero(bad):
        what = "latitude/longitude" if kind[i] == "latlon" else "easting/northing"
        out.append(Finding(
            source, found.where[i], found.text[i],
            f"{what} finer than the {grid_m:g} m grid (easting {e[i]:.0f}, northing "
            f"{n[i]:.0f})",
        ))  # fmt: skip
    return out


def find_fine_coordinates(
    text: str,
    grid_m: float,
    *,
    allowed: Allowed = None,
    source: str = "text",
    eastings_northings: bool = True,
) -> list[Finding]:
    """Coordinates in `text` that are finer than a `grid_m` grid.

    Looks for pairs of adjacent numbers that are a British latitude/longitude (either order,
    as in GeoJSON ``[lon, lat]`` or Leaflet ``[lat, lon]``; each with a decimal point) or,
    with `eastings_northings`, an easting/northing (both at least 10,000 metres, separated by
    a comma, semicolon, tab, pipe or spaces). A pair passes when it is a grid node within the
    precision it is written with (lat/lon are converted to the British National Grid), when
    it is written too coarsely to be finer than the grid (``52.07, -1.34``), or when it lies
    on a public boundary line or point of `allowed` (`PublicReference` or boundary layers).
    """
    found = _Candidates()
    _scan_text(text, found, en=eastings_northings)
    return _judge(found, float(grid_m), _reference(allowed), source)


def _raise(findings: Sequence[Finding], what: str) -> None:
    if not findings:
        return
    shown = "; ".join(str(f) for f in findings[:5])
    more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
    msg = f"Refusing to release the output: {len(findings)} {what}: {shown}{more}."
    raise DisclosureError(msg, findings)


def assert_no_fine_coordinates(
    text: str, grid_m: float, *, allowed: Allowed = None, source: str = "text"
) -> None:
    """Raise `DisclosureError` if `find_fine_coordinates` finds anything."""
    _raise(
        find_fine_coordinates(text, grid_m, allowed=allowed, source=source),
        "coordinate(s) finer than the grid",
    )


def find_small_counts(
    tables: Mapping[str, pd.DataFrame] | pd.DataFrame,
    threshold: int,
    *,
    count_columns: Iterable[str] = (),
) -> list[Finding]:
    """Cells of count columns (recognised by name, `geo.sdc.column_kind`, plus
    `count_columns`) holding a value from 1 to `threshold`. ``c``, blanks and 0 pass;
    numbers written as text (a CSV read as strings) are checked too."""
    frames = {"table": tables} if isinstance(tables, pd.DataFrame) else dict(tables)
    extra = set(count_columns)
    out: list[Finding] = []
    for name, frame in frames.items():
        for column in frame.columns:
            if column_kind(column) != "count" and column not in extra:
                continue
            values = pd.to_numeric(
                frame[column].astype(object).map(lambda v: v.strip() if isinstance(v, str) else v),
                errors="coerce",
            )
            small = (values >= 1) & (values <= threshold)
            for pos in np.flatnonzero(small.to_numpy(dtype=bool)):
                out.append(Finding(
                    name, f"row {pos + 1}, column {column}", repr(frame[column].iloc[pos]),
                    f"a count from 1 to {threshold} is published",
                ))  # fmt: skip
    return out


def assert_no_small_counts(
    tables: Mapping[str, pd.DataFrame] | pd.DataFrame,
    threshold: int,
    *,
    count_columns: Iterable[str] = (),
) -> None:
    """Raise `DisclosureError` if `find_small_counts` finds anything."""
    _raise(find_small_counts(tables, threshold, count_columns=count_columns), "small count(s)")


# Columns that make a table row-level (one row per episode, child or home).
_ROW_LEVEL_COLUMNS: Final = frozenset(
    {s.EPISODE_ID, s.CHILD_ID, "child_pseudonym", s.ROW_NUMBER, s.HOME_ID}
)
_TEXT_SUFFIXES: Final = frozenset(
    {".html", ".htm", ".json", ".geojson", ".txt", ".md", ".js", ".svg", ".xml", ".css"}
)


def _coordinate_columns(columns: Sequence[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(lat, lon, "latlon") and (easting, northing, "en") column pairs; unpaired columns."""
    names = {c.lower(): c for c in columns}
    pairs: list[tuple[str, str, str]] = []
    paired: set[str] = set()
    lone: list[str] = []
    for low, col in names.items():
        for a, b, kind in (("lat", "lon", "latlon"), ("latitude", "longitude", "latlon"),
                           ("easting", "northing", "en"), ("x", "y", "en")):
            if low == a or low.endswith(f"_{a}"):
                other = low[: len(low) - len(a)] + b
                if other in names:
                    pairs.append((col, names[other], kind))
                    paired.update({low, other})
                else:
                    lone.append(col)
    for low, col in names.items():
        is_b = low in ("lon", "longitude", "northing", "y") or low.endswith(
            ("_lon", "_longitude", "_northing", "_y")
        )
        if is_b and low not in paired:
            lone.append(col)
    return pairs, lone


def _scan_table(frame: pd.DataFrame, source: str, grid_m: float,
                allowed: PublicReference | None, threshold: int) -> list[Finding]:
    text = frame.astype(object).where(frame.notna(), "").astype(str)
    out: list[Finding] = []
    row_level = sorted(set(map(str, frame.columns)) & _ROW_LEVEL_COLUMNS)
    if row_level and len(frame):
        out.append(Finding(source, "header", ", ".join(row_level),
                           "a row-level table (one row per episode, child or home)"))
    found = _Candidates()
    pairs, lone = _coordinate_columns([str(c) for c in frame.columns])
    for a_col, b_col, kind in pairs:
        for pos, (ta, tb) in enumerate(zip(text[a_col], text[b_col], strict=True)):
            try:
                a, b = float(ta), float(tb)
            except ValueError:
                continue
            if math.isfinite(a) and math.isfinite(b):
                da, db = _decimals(ta), _decimals(tb)
                if kind == "latlon":
                    found.add("latlon", a, b, max(da, 1), max(db, 1),
                              f"row {pos + 1}, {a_col}/{b_col}", f"{ta},{tb}")
                else:
                    found.add("en", a, b, da, db, f"row {pos + 1}, {a_col}/{b_col}", f"{ta},{tb}")
    for col in lone:
        filled = [v for v in text[col] if v.strip()]
        if filled:
            out.append(Finding(source, f"column {col}", filled[0],
                               "a coordinate column without its pair"))
    named = {c for a_col, b_col, _ in pairs for c in (a_col, b_col)}
    rest = text[[c for c in text.columns if c not in named]]
    for pos, row in enumerate(rest.itertuples(index=False)):  # unnamed adjacent pairs
        _scan_text(",".join(row), found, en=False, prefix=f"row {pos + 1}, char ")
    out.extend(_judge(found, grid_m, allowed, source))
    if threshold > 0:
        out.extend(find_small_counts({source: frame}, threshold, count_columns=("rows",)))
    return out


def _read_csv_text(path: Path) -> pd.DataFrame:
    text = path.read_text("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return pd.DataFrame()
    width = max(len(r) for r in rows)
    header = rows[0] + [f"column_{i + 1}" for i in range(len(rows[0]), width)]
    body = [r + [""] * (width - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header, dtype=object)


def _read_xlsx_sheets(path: Path) -> dict[str, pd.DataFrame]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = {}
        for ws in wb.worksheets:
            rows = [
                ["" if v is None else str(v) for v in row]
                for row in ws.iter_rows(values_only=True)
            ]
            if not rows:
                continue
            width = max(len(r) for r in rows)
            header = rows[0] + [f"column_{i + 1}" for i in range(len(rows[0]), width)]
            body = [r + [""] * (width - len(r)) for r in rows[1:]]
            sheets[ws.title] = pd.DataFrame(body, columns=header, dtype=object)
        return sheets
    finally:
        wb.close()


def scan_outputs(
    out_dir: Path,
    *,
    grid_m: float,
    count_threshold: int,
    allowed: Allowed = None,
    skip: Iterable[str] = (),
) -> list[Finding]:
    """Everything in an output folder a public audience must not see.

    Every file is checked: CSV files and XLSX sheets for row-level tables, coordinate
    columns and coordinate pairs finer than `grid_m`, and counts from 1 to `count_threshold`
    in count columns (and ``rows``); HTML, JSON and other text for coordinate pairs finer
    than the grid (lat/lon and easting/northing). A pseudonymisation key file, or a binary
    file that cannot be checked (an image), is a finding too. `skip`: paths relative to
    `out_dir` not to check. `allowed`: the published boundaries (`PublicReference`).
    """
    out_dir = Path(out_dir)
    reference = _reference(allowed)
    skipped = {str(Path(p)) for p in skip}
    findings: list[Finding] = []
    for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out_dir))
        if rel in skipped:
            continue
        suffix = path.suffix.lower()
        if path.name == KEY_FILE:
            findings.append(Finding(rel, "file", path.name,
                                    "a pseudonymisation key must never be published"))
        elif suffix == ".csv":
            findings.extend(_scan_table(_read_csv_text(path), rel, grid_m, reference,
                                        count_threshold))
        elif suffix in (".xlsx", ".xlsm"):
            for sheet, frame in _read_xlsx_sheets(path).items():
                findings.extend(_scan_table(frame, f"{rel}[{sheet}]", grid_m, reference,
                                            count_threshold))
        else:
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is None or (suffix not in _TEXT_SUFFIXES and "\x00" in text):
                findings.append(Finding(rel, "file", f"{len(raw)} bytes",
                                        "a binary file that cannot be checked"))
                continue
            found = _Candidates()
            _scan_text(text, found, en=True)
            findings.extend(_judge(found, float(grid_m), reference, rel))
    return findings


def assert_publishable(
    out_dir: Path,
    *,
    grid_m: float,
    count_threshold: int,
    allowed: Allowed = None,
    skip: Iterable[str] = (),
) -> None:
    """Raise `DisclosureError` (a one-paragraph message naming the first findings) if
    `scan_outputs` finds anything. Run it on the finished folder before releasing it."""
    _raise(
        scan_outputs(out_dir, grid_m=grid_m, count_threshold=count_threshold,
                     allowed=allowed, skip=skip),
        "disclosure problem(s)",
    )
