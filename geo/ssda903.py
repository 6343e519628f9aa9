"""SSDA903 adapter: the DfE children-looked-after return turned into an episodes file.

A local authority already holds its 903 return. Three of its tables are read (CSV or XLSX, as
exported for the DfE collection, dates ``dd/mm/YYYY`` or ISO):

- ``Header``: one row per child (``CHILD``, ``SEX``, ``DOB``, ...);
- ``Episodes``: one row per change of legal status and/or placement (``CHILD``, ``DECOM``,
  ``PLACE``, ``PLACE_PROVIDER``, ``DEC``, ``PL_POST``, ``URN``, ...);
- ``Missing``: one row per period missing (``M``) or away from placement without
  authorisation (``A``) (``CHILD``, ``MISSING``, ``MIS_START``, ``MIS_END``).

Each usable ``Missing`` row becomes one episode (DATA-CONTRACT section 1) located at the
postcode of the placement in force on ``MIS_START``: the ``Episodes`` row of the same child with
``DECOM <= MIS_START < DEC`` (or ``DEC`` blank); when several are, the latest ``DECOM``. A row
that cannot become an episode goes to the audit with a reason; nothing is dropped silently.

Privacy: ``CHILD`` is the authority's own pseudonymous id. It is kept as ``child_id`` in the
episodes frame (the rest of the tool never publishes child ids) but never appears in an episode
id, a home id, an audit detail or a note. Home ids derived from a placement postcode are
one-way hashes, not the postcode.

See ``docs/ssda903.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from geo import schema as s
from geo.episodes import Table, read_table
from geo.errors import InputError

PLACE_CODES_PATH: Final = Path(__file__).with_name("place_codes.csv")

# Contract columns of the episodes frame (all text), then the 903 extras.
PLACE_CODE: Final = "place_code"
PLACE_PROVIDER: Final = "place_provider"
SOURCE_ROW: Final = "source_row"
EPISODE_COLUMNS: Final = (
    s.EPISODE_ID, s.CHILD_ID, s.MISSING_FROM, s.RETURNED, s.POSTCODE, s.SEX, s.DOB, s.AGE,
    s.CARE_STATUS, s.PLACEMENT_TYPE, s.HOME_ID, s.PLACING_AUTHORITY, s.CATEGORY,
    PLACE_CODE, PLACE_PROVIDER, SOURCE_ROW,
)
AUDIT_COLUMNS: Final = ("source_file", s.ROW_NUMBER, s.EPISODE_ID, s.REASON, s.DETAIL)

# Audit reasons for Missing rows that cannot become an episode, in the order they are checked.
AUDIT_REASONS: Final = {
    "missing_child_id": "`CHILD` is blank",
    "missing_date": "`MIS_START` is blank",
    "invalid_date": "`MIS_START` or `MIS_END` is not a date (dd/mm/YYYY or ISO YYYY-MM-DD)",
    "end_before_start": "`MIS_END` is before `MIS_START`",
    "unknown_missing_code": "`MISSING` is not `M` (missing) or `A` (away without authorisation)",
    "unknown_child": "`CHILD` is not in the Header table",
    "duplicate_period": "same child, `MIS_START` and `MIS_END` as an earlier Missing row",
    "no_placement_in_force": "no Episodes row of the child is in force on `MIS_START`",
}

# Required columns per table (normalised lower-case, as `read_table` gives them).
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "Header": ("child", "sex", "dob"),
    "Episodes": ("child", "decom", "dec", "place", "pl_post"),
    "Missing": ("child", "missing", "mis_start", "mis_end"),
}
# Other spellings met in 903 exports (the XML uses CHILDID and PL).
_ALIASES: Final[dict[str, tuple[str, ...]]] = {"child": ("childid",), "place": ("pl",)}

_SEX: Final = {"1": "M", "2": "F", "M": "M", "F": "F", "MALE": "M", "FEMALE": "F", "U": "unknown",
               "9": "unknown", "0": "unknown", "UNKNOWN": "unknown", "": "unknown"}  # fmt: skip
_CATEGORY: Final = {"M": "missing", "A": "absent"}
_PLACEHOLDER_URN: Final = re.compile(r"X+|0+|N/?A|NONE|UNKNOWN|NOT KNOWN|-+")
_FULL_POSTCODE: Final = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}")
_DMY: Final = re.compile(
    r"(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_YMD: Final = re.compile(
    r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_YEARS: Final = (1900, 2100)
_PLACEMENT_TYPES: Final = frozenset(s.PLACEMENT_TYPES)
_TABLE_FILE_KINDS: Final = ("Header", "Episodes", "Missing")
_NAME_WORDS: Final = {"Header": ("header",), "Episodes": ("episode",), "Missing": ("missing",)}
_SUFFIXES: Final = frozenset({".csv", ".xlsx", ".xlsm"})


@dataclass(frozen=True)
class Ssda903Result:
    """The episodes built from a 903 return, the Missing rows that could not be used, notes.

    Attributes
    ----------
    episodes
        One row per usable Missing row, in Missing-file order, every cell text:
        `EPISODE_COLUMNS` (the contract columns, then ``place_code``, ``place_provider`` and
        ``source_row`` such as ``"Missing row 14"``).
    audit
        One row per Missing row that could not become an episode: `AUDIT_COLUMNS`
        (``source_file``, ``row_number``, ``episode_id``, ``reason`` from `AUDIT_REASONS`,
        ``detail`` in words). Never holds a child id.
    notes
        Things the analyst should know (unknown PLACE codes mapped to ``other`` with counts,
        Episodes rows that cannot be used, ...). Never hold a child id.
    """

    episodes: pd.DataFrame
    audit: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def rows_read(self) -> int:
        """Missing rows read (blank rows excepted) = episodes + audit rows."""
        return len(self.episodes) + len(self.audit)


# --- the PLACE grouping ------------------------------------------------------------------------


def load_place_codes(path: Path | None = None) -> pd.DataFrame:
    """Read the PLACE-code grouping table (default: the shipped ``geo/place_codes.csv``).

    Columns: ``code`` and ``placement_type`` (required); ``subgroup``, ``urn_identifies_home``
    (``yes``/``no``: the placement's ``URN`` is the Ofsted number of the setting itself, so it
    can serve as the home id), ``years`` and ``description`` (optional, blank when absent).
    Codes are upper-cased; ``placement_type`` must be one of `geo.schema.PLACEMENT_TYPES`.

    Raises
    ------
    InputError
        The file is unreadable, lacks a required column, repeats a code or has an unknown
        placement type.
    """
    path = PLACE_CODES_PATH if path is None else Path(path)
    what = "PLACE code grouping"
    table = read_table(path, what=what)
    frame = table.frame
    missing = [c for c in ("code", "placement_type") if c not in frame.columns]
    if missing:
        raise InputError(
            f"The {what} file {path} is missing the column(s) {_names(missing)}. "
            f"Columns found: {_found(table)}.",
            path=path,
        )
    out = pd.DataFrame({
        "code": frame["code"].str.strip().str.upper(),
        "placement_type": frame["placement_type"].str.strip().str.lower(),
    })  # fmt: skip
    for column in ("subgroup", "urn_identifies_home", "years", "description"):
        out[column] = frame[column].str.strip() if column in frame.columns else ""
    yes = {"yes", "y", "true", "1"}
    out["urn_identifies_home"] = out["urn_identifies_home"].str.lower().isin(yes)
    rows = frame[s.ROW_NUMBER]
    blank = out["code"] == ""
    if blank.any():
        raise InputError(
            f"The {what} file {path}, row {rows[blank].iloc[0]}, has a blank `code`.", path=path
        )
    dup = out["code"].duplicated()
    if dup.any():
        code = out.loc[dup, "code"].iloc[0]
        raise InputError(
            f"The {what} file {path} lists code {code!r} twice (rows "
            f"{', '.join(str(r) for r in rows[out['code'] == code])}). Keep one row per code.",
            path=path,
        )
    bad = ~out["placement_type"].isin(_PLACEMENT_TYPES)
    if bad.any():
        first = bad.idxmax()
        raise InputError(
            f"The {what} file {path}, row {rows[first]}: placement_type "
            f"{frame.at[first, 'placement_type']!r} for code {out.at[first, 'code']!r} is not one "
            f"of {', '.join(s.PLACEMENT_TYPES)}.",
            path=path,
        )
    return out.reset_index(drop=True)


def placement_home_id(postcode: str, provider: str = "") -> str:
    """The home id derived from a placement's full postcode and ``PLACE_PROVIDER``.

    A one-way hash (``PL-`` + 12 hex digits), stable across runs and returns, so the postcode is
    not written in clear into output tables. It is a pseudonym, not encryption: anyone holding a
    postcode list can recompute it, so outputs carrying it stay OFFICIAL-SENSITIVE.

    >>> placement_home_id("ox16 9aa", "PR4") == placement_home_id("OX169AA", "pr4")
    True
    """
    compact = re.sub(r"\s+", "", postcode).upper()
    key = f"ssda903-home|{compact}|{provider.strip().upper()}"
    return "PL-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12].upper()


# --- finding the three files -------------------------------------------------------------------


def find_ssda903_files(folder: Path) -> tuple[Path, Path, Path]:
    """Locate the Header, Episodes and Missing tables in a folder.

    By file name first (case-insensitive; the stem contains ``header``, ``episode`` or
    ``missing``: ``header.csv``, ``Header_2024.csv``, ``SSDA903_2025_episodes.csv``,
    ``MISSING.CSV``), then, for a table not found by name, by the columns of the remaining
    CSV/XLSX files. Only the folder itself is searched, not sub-folders.

    Returns
    -------
    tuple[Path, Path, Path]
        ``(header, episodes, missing)``.

    Raises
    ------
    InputError
        The folder does not exist, or a table is not found, or two files could be the same
        table: the message lists what was found.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"The 903 folder {folder} does not exist or is not a folder.", path=folder)
    files = sorted(
        (p for p in folder.iterdir()
         if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith(("~$", "."))),
        key=lambda p: p.name.lower(),
    )  # fmt: skip
    by_name: dict[str, list[Path]] = {kind: [] for kind in _TABLE_FILE_KINDS}
    unclaimed: list[Path] = []
    for path in files:
        stem = path.stem.lower()
        kinds = [k for k in _TABLE_FILE_KINDS if any(w in stem for w in _NAME_WORDS[k])]
        if len(kinds) == 1:
            by_name[kinds[0]].append(path)
        else:
            unclaimed.append(path)
    found = dict(by_name)
    need = [k for k in _TABLE_FILE_KINDS if not by_name[k]]
    if need:
        for path in unclaimed:
            kind = _kind_by_columns(path)
            if kind in need:
                found[kind] = [*found[kind], path]
    problems = []
    for kind in _TABLE_FILE_KINDS:
        if not found[kind]:
            problems.append(f"no {kind} table")
        elif len(found[kind]) > 1:
            names = ", ".join(p.name for p in found[kind])
            problems.append(f"{len(found[kind])} files could be the {kind} table ({names})")
    if problems:
        listing = "; ".join(
            f"{kind}: {', '.join(p.name for p in found[kind]) or 'none'}"
            for kind in _TABLE_FILE_KINDS
        )
        all_files = ", ".join(p.name for p in files) or "(no CSV or XLSX files)"
        raise InputError(
            f"The 903 folder {folder}: {'; '.join(problems)}. Found {listing}. Files in the "
            f"folder: {all_files}. Name the files header.csv, episodes.csv and missing.csv (any "
            "case), or give the three files separately.",
            path=folder,
        )
    return found["Header"][0], found["Episodes"][0], found["Missing"][0]


def _kind_by_columns(path: Path) -> str | None:
    try:
        cols = set(read_table(path, what="903").frame.columns)
    except InputError:
        return None
    cols |= {name for name, aliases in _ALIASES.items() if cols & set(aliases)}
    if {"missing", "mis_start"} <= cols:
        return "Missing"
    if {"decom", "place"} <= cols:
        return "Episodes"
    if {"child", "sex", "dob"} <= cols and "duc" not in cols:
        return "Header"
    return None


# --- reading -----------------------------------------------------------------------------------


def read_ssda903(
    header: Path,
    episodes: Path,
    missing: Path,
    *,
    host_authority: str = s.DEFAULT_HOST_AUTHORITY,
    place_codes: Path | None = None,
) -> Ssda903Result:
    """Turn the 903 Header, Episodes and Missing tables into episodes (contract section 1).

    Parameters
    ----------
    header, episodes, missing
        The three tables (CSV or XLSX), as exported for the DfE collection.
    host_authority
        The authority making the return: every child in it is its own, so this is the
        ``placing_authority`` of every episode.
    place_codes
        An edited PLACE-code grouping (see `load_place_codes`); default the shipped one.

    Raises
    ------
    InputError
        A file is missing, unreadable, empty, or lacks a required column (named, with the
        columns found).
    """
    codes = load_place_codes(place_codes)
    h_table = _read(header, "Header")
    e_table = _read(episodes, "Episodes")
    m_table = _read(missing, "Missing")
    notes: list[str] = []
    for table, kind in ((h_table, "Header"), (e_table, "Episodes"), (m_table, "Missing")):
        notes.extend(f"903 {kind} file {table.path.name}: {n}" for n in table.notes)

    children = _children(h_table, notes)
    placements = _placements(e_table, notes)
    m = m_table.frame
    rows = m[s.ROW_NUMBER].astype("int64")
    episode_id = "903-M" + rows.astype(str)
    child = m["child"].str.strip()
    code = m["missing"].str.strip().str.upper()
    start_text, end_text = m["mis_start"], m["mis_end"]
    start, start_bad = _parse_dates(start_text)
    end, end_bad = _parse_dates(end_text)

    reason = pd.Series("", index=m.index, dtype=object)
    detail = pd.Series("", index=m.index, dtype=object)

    def reject(mask: pd.Series, why: str, text: pd.Series | str) -> None:
        take = mask.fillna(False).astype(bool) & (reason == "")
        if take.any():
            reason[take] = why
            detail[take] = text[take] if isinstance(text, pd.Series) else text

    reject(child == "", "missing_child_id", "`CHILD` is blank")
    reject(start_text.str.strip() == "", "missing_date", "`MIS_START` is blank")
    expected = ": not a date (expected dd/mm/YYYY or YYYY-MM-DD)"
    reject(start_bad, "invalid_date", "`MIS_START` = " + start_text.map(repr) + expected)
    reject(end_bad, "invalid_date", "`MIS_END` = " + end_text.map(repr) + expected)
    reject(end.notna() & start.notna() & (end < start), "end_before_start",
           "`MIS_END` " + end_text.map(repr) + " is before `MIS_START` " + start_text.map(repr))
    reject(~code.isin(_CATEGORY), "unknown_missing_code",
           "`MISSING` = " + m["missing"].map(repr) + ": expected M (missing) or A (away from "
           "placement without authorisation)")
    reject(~child.isin(children.index), "unknown_child",
           f"`CHILD` is not in the Header file ({h_table.path.name}); the child id is not "
           "repeated here")  # fmt: skip

    # Identical periods (same child, start and end) among the rows still usable.
    ok = reason == ""
    key = child + "|" + start.dt.strftime("%Y%m%d").fillna("") + "|"
    key = key + end.dt.strftime("%Y%m%d").fillna("open")
    dup = ok & key.where(ok).duplicated(keep="first")
    if dup.any():
        first_row = rows[ok].groupby(key[ok]).transform("first").reindex(m.index)
        reject(dup, "duplicate_period",
               "same child, `MIS_START` and `MIS_END` as Missing row "
               + first_row.fillna(0).astype("int64").astype(str))  # fmt: skip

    # The placement in force on MIS_START.
    ok = reason == ""
    link = _link(child[ok], start[ok], placements)
    has_eps = child.isin(placements["child"])
    no_place = ok & ~m.index.isin(link.index)
    if no_place.any():
        day = start.dt.strftime("%d/%m/%Y")
        count = child.map(placements["child"].value_counts()).fillna(0).astype(int)
        text = pd.Series(
            np.where(
                has_eps,
                "no Episodes row of this child has DECOM <= MIS_START (" + day + ") < DEC (or "
                "DEC blank); the child has " + count.astype(str) + " usable Episodes row(s)",
                "the child has no usable Episodes row",
            ),
            index=m.index,
        )
        reject(no_place, "no_placement_in_force", text)

    ok = reason == ""
    audit = pd.DataFrame({
        "source_file": m_table.path.name,
        s.ROW_NUMBER: rows,
        s.EPISODE_ID: episode_id,
        s.REASON: reason,
        s.DETAIL: detail,
    })[~ok].reset_index(drop=True)  # fmt: skip

    out = _episodes(
        m[ok], rows[ok], episode_id[ok], child[ok], code[ok], start[ok], end[ok],
        link.reindex(m.index[ok]), children, codes, host_authority, notes,
    )  # fmt: skip
    _overlap_note(out, start[ok], end[ok], notes)
    return Ssda903Result(out.reset_index(drop=True), audit, tuple(notes))


def _read(path: Path, kind: str) -> Table:
    path = Path(path)
    table = read_table(path, what=f"903 {kind}")
    frame = table.frame
    for name, aliases in _ALIASES.items():
        if name not in frame.columns:
            alias = next((a for a in aliases if a in frame.columns), None)
            if alias is not None:
                frame = frame.rename(columns={alias: name})
    missing = [c for c in _REQUIRED[kind] if c not in frame.columns]
    if missing:
        raise InputError(
            f"The 903 {kind} file {path} is missing the required column(s) {_names(missing)}. "
            f"Columns found: {_found(table)}. Expected the DfE column names "
            f"({', '.join(c.upper() for c in _REQUIRED[kind])}, ...); is this the {kind} table?",
            path=path,
        )
    if frame.empty:
        raise InputError(
            f"The 903 {kind} file {path} has a header row but no data rows.", path=path
        )
    return dataclasses.replace(table, frame=frame)


def _children(table: Table, notes: list[str]) -> pd.DataFrame:
    """Header rows indexed by CHILD (first row of a repeated CHILD), with sex and DOB."""
    h = table.frame
    child = h["child"]
    keep = (child != "") & ~child.duplicated(keep="first")
    repeated = (child != "") & child.duplicated(keep="first")
    if repeated.any():
        notes.append(
            f"903 Header file {table.path.name}: {int(repeated.sum())} row(s) repeat a CHILD "
            f"already listed (rows {_rows_text(h.loc[repeated, s.ROW_NUMBER])}); the first row "
            "of each child was used."
        )
    blank = child == ""
    if blank.any():
        notes.append(
            f"903 Header file {table.path.name}: {int(blank.sum())} row(s) with a blank CHILD "
            f"(rows {_rows_text(h.loc[blank, s.ROW_NUMBER])}) were ignored."
        )
    sex_text = h["sex"].str.upper()
    sex = sex_text.map(_SEX)
    bad_sex = keep & sex.isna()
    if bad_sex.any():
        values = ", ".join(sorted(repr(v) for v in h.loc[bad_sex, "sex"].unique()))
        notes.append(
            f"903 Header file {table.path.name}: {int(bad_sex.sum())} child(ren) with an "
            f"unrecognised SEX ({values}) were given sex `unknown` (expected 1/2 or M/F/U)."
        )
    dob, dob_bad = _parse_dates(h["dob"])
    if (keep & dob_bad).any():
        notes.append(
            f"903 Header file {table.path.name}: {int((keep & dob_bad).sum())} DOB value(s) are "
            f"not dates (rows {_rows_text(h.loc[keep & dob_bad, s.ROW_NUMBER])}); age unknown."
        )
    out = pd.DataFrame({"sex": sex.fillna("unknown"), "dob": dob}, index=h.index)[keep]
    out.index = pd.Index(child[keep], name="child")
    return out


def _placements(table: Table, notes: list[str]) -> pd.DataFrame:
    """Usable Episodes rows: CHILD, DECOM, DEC (NaT = open), PLACE, PLACE_PROVIDER, PL_POST, URN."""
    e = table.frame
    decom, _ = _parse_dates(e["decom"])
    dec, dec_bad = _parse_dates(e["dec"])
    unusable = (e["child"] == "") | decom.isna() | dec_bad
    if unusable.any():
        notes.append(
            f"903 Episodes file {table.path.name}: {int(unusable.sum())} row(s) with a blank "
            f"CHILD, a blank or invalid DECOM or an invalid DEC (rows "
            f"{_rows_text(e.loc[unusable, s.ROW_NUMBER])}) cannot be used to place a missing "
            "period."
        )
    backwards = ~unusable & dec.notna() & (dec < decom)
    if backwards.any():
        notes.append(
            f"903 Episodes file {table.path.name}: {int(backwards.sum())} row(s) end before "
            f"they start (DEC < DECOM; rows {_rows_text(e.loc[backwards, s.ROW_NUMBER])}) and "
            "are never in force."
        )
    use = ~unusable & ~backwards
    empty = pd.Series("", index=e.index, dtype=object)
    return pd.DataFrame({
        "child": e["child"],
        "decom": decom,
        "dec": dec,
        "place": e["place"].str.upper(),
        "provider": e["place_provider"].str.upper() if "place_provider" in e.columns else empty,
        "pl_post": e["pl_post"].str.upper().str.replace(r"\s+", " ", regex=True),
        "urn": e["urn"].str.upper() if "urn" in e.columns else empty,
        "row": e[s.ROW_NUMBER].astype("int64"),
    })[use].reset_index(drop=True)  # fmt: skip


def _link(child: pd.Series, start: pd.Series, placements: pd.DataFrame) -> pd.DataFrame:
    """For each Missing row (index kept), the Episodes row in force on its start date.

    In force: same CHILD and ``DECOM <= start < DEC`` (or DEC blank). Several in force: the
    latest DECOM, then the later Episodes row.
    """
    left = pd.DataFrame({"child": child, "start": start, "m_index": child.index})
    merged = left.merge(placements, on="child", how="inner")
    in_force = (merged["decom"] <= merged["start"]) & (
        merged["dec"].isna() | (merged["start"] < merged["dec"])
    )
    merged = merged[in_force].sort_values(["m_index", "decom", "row"], kind="mergesort")
    chosen = merged.groupby("m_index", sort=False).tail(1).set_index("m_index")
    chosen.index.name = None
    return chosen[["place", "provider", "pl_post", "urn", "row"]]


def _episodes(
    m: pd.DataFrame,
    rows: pd.Series,
    episode_id: pd.Series,
    child: pd.Series,
    code: pd.Series,
    start: pd.Series,
    end: pd.Series,
    link: pd.DataFrame,
    children: pd.DataFrame,
    codes: pd.DataFrame,
    host_authority: str,
    notes: list[str],
) -> pd.DataFrame:
    info = children.reindex(child.to_numpy())
    info.index = m.index
    dob = info["dob"]
    if "dob" in m.columns:  # the Missing table repeats DOB: use it where the Header has none
        m_dob, _ = _parse_dates(m["dob"])
        dob = dob.fillna(m_dob)
    age = _age(dob, start)

    place = link["place"]
    groups = codes.set_index("code")
    known = place.isin(groups.index)
    placement_type = place.map(groups["placement_type"]).where(known, "other")
    placement_type = placement_type.where(place != "", "unknown")
    unknown_codes = place[~known & (place != "")].value_counts()
    for value, count in sorted(unknown_codes.items()):
        notes.append(
            f"PLACE code {value!r} is not in the PLACE grouping table: {count} missing period(s) "
            "in such a placement were given placement_type `other`. Add the code to the "
            "grouping table (a copy of geo/place_codes.csv, see docs/ssda903.md) to group it."
        )
    if (place == "").any():
        notes.append(
            f"{int((place == '').sum())} missing period(s) began in a placement with a blank "
            "PLACE: placement_type `unknown`."
        )
    subgroup = place.map(groups["subgroup"]).fillna("")
    temporary = int((subgroup == "temporary").sum())
    if temporary:
        notes.append(
            f"{temporary} missing period(s) began during a temporary placement (T0-T4); they are "
            "located at the temporary placement's postcode."
        )

    postcode = link["pl_post"]
    full = postcode.str.fullmatch(_FULL_POSTCODE.pattern)
    urn = link["urn"]
    urn_ok = (urn != "") & ~urn.str.fullmatch(_PLACEHOLDER_URN.pattern)
    urn_home = place.isin(groups.index[groups["urn_identifies_home"].to_numpy()])
    derived = pd.Series(
        [placement_home_id(p, v) if f else "" for p, v, f in
         zip(postcode, link["provider"], full, strict=True)],
        index=m.index, dtype=object,
    )  # fmt: skip
    home_id = urn.where(urn_ok & urn_home, derived)
    no_post = int((postcode == "").sum())
    if no_post:
        notes.append(
            f"{no_post} missing period(s) began in a placement with a blank PL_POST: they have "
            "no location and will be rejected as `no_location`."
        )
    partial = int(((postcode != "") & ~full).sum())
    if partial:
        notes.append(
            f"{partial} missing period(s) have a partial PL_POST (a sector such as 'OX16 9' or "
            "a district): they are located at that level and given no home_id."
        )

    def iso(values: pd.Series) -> pd.Series:
        return values.dt.strftime("%Y-%m-%d").fillna("").astype(object)

    out = pd.DataFrame(
        {
            s.EPISODE_ID: episode_id,
            s.CHILD_ID: child,
            s.MISSING_FROM: iso(start),
            s.RETURNED: iso(end),
            s.POSTCODE: postcode,
            s.SEX: info["sex"].fillna("unknown"),
            s.DOB: iso(dob),
            s.AGE: age.astype("Int64").astype(str).replace("<NA>", ""),
            s.CARE_STATUS: "looked_after",
            s.PLACEMENT_TYPE: placement_type,
            s.HOME_ID: home_id,
            s.PLACING_AUTHORITY: host_authority,
            s.CATEGORY: code.map(_CATEGORY),
            PLACE_CODE: place,
            PLACE_PROVIDER: link["provider"],
            SOURCE_ROW: "Missing row " + rows.astype(str),
        },
        index=m.index,
        columns=list(EPISODE_COLUMNS),
    )
    return out.astype(object).fillna("").astype(str)


def _age(dob: pd.Series, when: pd.Series) -> pd.Series:
    """Whole years from `dob` to `when`; NA when unknown or outside 0-25."""
    years = when.dt.year - dob.dt.year
    before = (when.dt.month < dob.dt.month) | (
        (when.dt.month == dob.dt.month) & (when.dt.day < dob.dt.day)
    )
    age = (years - before.astype(int)).where(dob.notna() & when.notna())
    return age.where((age >= 0) & (age <= 25))


def _overlap_note(out: pd.DataFrame, start: pd.Series, end: pd.Series, notes: list[str]) -> None:
    """Count periods that overlap an earlier-starting period of the same child (DfE rule 574)."""
    if out.empty:
        return
    frame = pd.DataFrame({
        "c": out[s.CHILD_ID], "s": start, "e": end.fillna(pd.Timestamp.max),
    }).sort_values(["c", "s"], kind="mergesort")  # fmt: skip
    prev_end = frame.groupby("c")["e"].transform(lambda e: e.cummax().shift(1))
    overlap = int((prev_end.notna() & (frame["s"] < prev_end)).sum())
    if overlap:
        notes.append(
            f"{overlap} missing period(s) overlap an earlier period of the same child (the "
            "DfE return should not have overlapping periods); all were kept."
        )


# --- helpers -----------------------------------------------------------------------------------


def _parse_dates(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(dates, invalid): ``dd/mm/YYYY`` (also ``-`` or ``.``) or ISO ``YYYY-MM-DD``.

    A time after the date is ignored (the 903 records dates only). Blank -> NaT, not invalid.
    """
    text = text.fillna("").astype(str).str.strip()
    codes, uniques = pd.factorize(text.to_numpy())
    parsed = [_parse_one(str(u)) for u in uniques]
    values = np.array(
        [np.datetime64(p, "ns") if p is not None else np.datetime64("NaT") for p in parsed]
        + [np.datetime64("NaT")],
        dtype="datetime64[ns]",
    )
    result = pd.Series(values[codes], index=text.index, dtype="datetime64[ns]")
    return result, (text != "") & result.isna()


def _parse_one(value: str) -> np.datetime64 | None:
    if not value:
        return None
    match = _DMY.fullmatch(value) or _YMD.fullmatch(value)
    if match is None:
        return None
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    if not _YEARS[0] <= year <= _YEARS[1]:
        return None
    try:
        return np.datetime64(pd.Timestamp(year=year, month=month, day=day).date(), "D")
    except ValueError:
        return None


def _rows_text(rows: Iterable[object], limit: int = 10) -> str:
    items = [str(r) for r in rows]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _names(columns: Iterable[str]) -> str:
    return ", ".join(f"`{c.upper()}`" for c in columns)


def _found(table: Table) -> str:
    return ", ".join(repr(h.strip()) for h in table.original_headers.values()) or "(none)"
