"""Validation of the episodes file: typed, normalised columns and an audit reason per row.

Every input record stays in the frame. A record that cannot be used gets `status` =
``rejected`` and a `reason` from `geo.schema.REASONS` (with a human `detail` naming the column
and value); a usable record gets `status` = ``""`` until `geo.areas.assign_areas` decides
``mapped`` or ``outside_area``. Problems in optional columns never reject a row: the value
becomes ``unknown`` and the row's `warnings` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo import schema as s
from geo.episodes import Table
from geo.errors import InputError, ParameterError

_ISO = re.compile(
    r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?$"
)
_UK = re.compile(
    r"^(?P<d>\d{1,2})[/.\-](?P<m>\d{1,2})[/.\-](?P<y>\d{4})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?)?$"
)
_TWO_DIGIT_YEAR = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(?:\s|$)")

_SEX = {
    "m": "male", "male": "male", "1": "male", "boy": "male",
    "f": "female", "female": "female", "2": "female", "girl": "female",
    "u": "unknown", "unknown": "unknown", "9": "unknown", "0": "unknown",
    "not known": "unknown", "other": "unknown", "": "unknown",
}  # fmt: skip
_CARE = {
    "looked_after": "looked_after", "looked after": "looked_after", "lac": "looked_after",
    "cla": "looked_after", "cic": "looked_after", "child_in_need": "child_in_need",
    "child in need": "child_in_need", "cin": "child_in_need",
    "child_protection": "child_protection", "child protection": "child_protection",
    "cp": "child_protection", "cpp": "child_protection", "none": "none", "no": "none",
    "unknown": "unknown", "": "unknown",
}  # fmt: skip
_PLACEMENT = {
    "foster": "foster", "fostering": "foster", "foster care": "foster",
    "foster_care": "foster", "residential": "residential",
    "children's home": "residential", "childrens home": "residential",
    "childrens_home": "residential", "children_home": "residential",
    "semi_independent": "semi_independent", "semi-independent": "semi_independent",
    "semi independent": "semi_independent", "supported accommodation": "semi_independent",
    "family_home": "family_home", "family home": "family_home", "home": "family_home",
    "family": "family_home", "other": "other", "unknown": "unknown", "": "unknown",
}  # fmt: skip
_CATEGORY = {
    "missing": "missing", "m": "missing", "absent": "absent", "a": "absent",
    "away": "absent", "unknown": "unknown", "": "unknown",
}  # fmt: skip
_RISK = {
    "high": "high", "medium": "medium", "low": "low", "no_apparent_risk": "no_apparent_risk",
    "no apparent risk": "no_apparent_risk", "none": "no_apparent_risk",
    "unknown": "unknown", "": "unknown",
}  # fmt: skip
_YES = {"yes", "y", "true", "1", "done", "completed"}
_NO = {"no", "n", "false", "0", "not done"}

# Great Britain and its waters, generously: anything beyond cannot be a British address.
_GB_LAT = (49.0, 61.5)
_GB_LON = (-9.0, 2.5)
_BNG_E = (0.0, 700_000.0)
_BNG_N = (0.0, 1_300_000.0)

_TO_BNG = Transformer.from_crs(s.WGS84, s.BNG, always_xy=True)
_FROM_BNG = Transformer.from_crs(s.BNG, s.WGS84, always_xy=True)


@dataclass(frozen=True)
class Period:
    """An inclusive range of dates for `missing_from`; either end may be open."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``START:END`` (ISO dates, either may be blank), e.g. ``2020-01-01:2020-06-30``."""
        if text.count(":") != 1:
            msg = (
                "`--period` must be START:END with ISO dates, e.g. 2020-01-01:2020-06-30. "
                f"Got {text!r}."
            )
            raise ParameterError(msg)
        left, right = (p.strip() for p in text.split(":"))
        start = cls._date(left, text) if left else None
        end = cls._date(right, text) if right else None
        if start is not None and end is not None and end < start:
            msg = f"`--period` ends before it starts: {text!r}."
            raise ParameterError(msg)
        return cls(start, end)

    @staticmethod
    def _date(value: str, text: str) -> pd.Timestamp:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            msg = f"`--period` dates must be ISO (YYYY-MM-DD). Got {value!r} in {text!r}."
            raise ParameterError(msg)
        try:
            return pd.Timestamp(value)
        except ValueError as exc:
            msg = f"`--period` has an impossible date {value!r}."
            raise ParameterError(msg) from exc

    def contains(self, when: pd.Series) -> pd.Series:
        """Boolean mask of the timestamps inside the period (end date inclusive)."""
        mask = pd.Series(True, index=when.index)
        if self.start is not None:
            mask &= when >= self.start
        if self.end is not None:
            mask &= when < self.end + pd.Timedelta(days=1)
        return mask

    def __str__(self) -> str:
        fmt = "%Y-%m-%d"
        left = self.start.strftime(fmt) if self.start is not None else ""
        right = self.end.strftime(fmt) if self.end is not None else ""
        return f"{left}:{right}"


@dataclass(frozen=True)
class DateParse:
    """Result of `parse_dates` for one column."""

    values: pd.Series  # datetime64[ns]; NaT where blank or invalid
    blank: pd.Series  # bool
    invalid: pd.Series  # bool: non-blank and not a valid ISO / UK day-first date
    month_first: pd.Series  # bool: only valid when read month-first (e.g. 01/31/2020)
    day_first_only: pd.Series  # bool: unambiguous day-first (first number > 12)


def parse_dates(text: pd.Series) -> DateParse:
    """Parse ISO 8601 and UK day-first date-times; never month-first.

    Accepted: ``2020-01-31``, ``2020-01-31 14:05``, ``2020-01-31T14:05:00`` (a ``Z`` or
    ``+01:00`` offset is converted to UK local time), ``31/01/2020``, ``31/01/2020 14:05``
    (also with ``-`` or ``.``). Two-digit years are refused as ambiguous.
    """
    text = text.fillna("").astype(str).str.strip()
    blank = text == ""
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    iso = text.str.extract(_ISO)
    uk = text.str.extract(_UK)
    is_iso = iso["y"].notna()
    is_uk = uk["y"].notna() & ~is_iso
    parts = iso.where(is_iso, uk)
    has = is_iso | is_uk
    if has.any():
        sub = parts.loc[has]
        comp = pd.DataFrame(
            {
                "year": sub["y"].astype(int),
                "month": sub["m"].astype(int),
                "day": sub["d"].astype(int),
                "hour": sub["H"].fillna("0").astype(int),
                "minute": sub["M"].fillna("0").astype(int),
                "second": sub["S"].fillna("0").astype(int),
            }
        )
        parsed = pd.to_datetime(comp, errors="coerce")
        tz = iso["tz"].where(is_iso).loc[has]
        with_tz = tz.notna()
        if with_tz.any():
            aware = pd.to_datetime(
                text.loc[has][with_tz], utc=True, errors="coerce", format="ISO8601"
            )
            parsed.loc[with_tz] = aware.dt.tz_convert("Europe/London").dt.tz_localize(None)
        result.loc[has] = parsed.astype("datetime64[ns]")
    invalid = ~blank & result.isna()
    first = pd.to_numeric(uk["d"], errors="coerce")
    second = pd.to_numeric(uk["m"], errors="coerce")
    month_first = is_uk & (second > 12) & (first <= 12)
    day_first_only = is_uk & (first > 12) & (second <= 12)
    return DateParse(
        result, blank, invalid, month_first.fillna(False), day_first_only.fillna(False)
    )


def _lookup(values: pd.Series, table: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    key = values.fillna("").astype(str).str.strip().str.lower()
    mapped = key.map(table)
    bad = mapped.isna()
    return mapped.fillna("unknown"), bad


def _age_band(age: pd.Series) -> pd.Series:
    bands = pd.Series("unknown", index=age.index, dtype=object)
    bands[age < 11] = "under_11"
    bands[(age >= 11) & (age <= 13)] = "11_13"
    bands[(age >= 14) & (age <= 16)] = "14_16"
    bands[age >= 17] = "17_plus"
    return bands


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name].astype(str)
    return pd.Series("", index=frame.index, dtype=str)


def check_columns(table: Table, *, what: str = "episodes") -> None:
    """Refuse a file that lacks the required columns or any location column."""
    cols = set(table.frame.columns) - {s.ROW_NUMBER}
    found = ", ".join(table.original_headers.values()) or "(none)"
    missing = [c for c in s.REQUIRED_COLUMNS if c not in cols]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        msg = (
            f"The {what} file {table.path} is missing the required column(s) {names}. "
            f"Columns found: {found}. Headers are matched ignoring case, spaces and '-' "
            "(e.g. 'Missing From' = `missing_from`)."
        )
        raise InputError(msg, path=table.path)
    for a, b in ((s.LAT, s.LON), (s.EASTING, s.NORTHING)):
        if (a in cols) != (b in cols):
            have, lack = (a, b) if a in cols else (b, a)
            msg = (
                f"The {what} file {table.path} has a `{have}` column but no `{lack}` column. "
                f"Locations need both. Columns found: {found}."
            )
            raise InputError(msg, path=table.path)
    if not any(all(c in cols for c in form) for form in s.LOCATION_FORMS):
        msg = (
            f"The {what} file {table.path} has no location columns: expected `lat` and `lon`, "
            f"`easting` and `northing`, or `postcode`. Columns found: {found}."
        )
        raise InputError(msg, path=table.path)
    if table.frame.empty:
        msg = f"The {what} file {table.path} has a header row but no data rows."
        raise InputError(msg, path=table.path)


def _refuse_month_first(table: Table, column: str, parse: DateParse) -> None:
    if parse.month_first.any() and not parse.day_first_only.any():
        first = parse.month_first.idxmax()
        row = table.frame.at[first, s.ROW_NUMBER]
        value = table.frame.at[first, column]
        n = int(parse.month_first.sum())
        msg = (
            f"The episodes file {table.path}: column `{column}` looks month-first (US style): "
            f"{n} value(s) such as {value!r} in row {row} only make sense as month/day/year, and "
            "no value is clearly day/month/year. Dates like 03/04/2020 would be misread, so "
            "the file is refused. Export the dates as ISO (2020-01-31) or UK day-first "
            "(31/01/2020)."
        )
        raise InputError(msg, path=table.path)


class _Audit:
    """Accumulates the first rejection reason and the warnings of every row."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series("", index=index, dtype=object)
        self.detail = pd.Series("", index=index, dtype=object)
        self.warnings = pd.Series("", index=index, dtype=object)

    def reject(self, mask: pd.Series, reason: str, detail: pd.Series | str) -> None:
        take = mask & (self.reason == "")
        if not take.any():
            return
        self.reason[take] = reason
        self.detail[take] = detail[take] if isinstance(detail, pd.Series) else detail

    def warn(self, mask: pd.Series, code: str) -> None:
        if not mask.any():
            return
        cur = self.warnings[mask]
        self.warnings[mask] = np.where(cur == "", code, cur + ";" + code)


def _describe(column: str, values: pd.Series, expected: str) -> pd.Series:
    return f"`{column}` = " + values.map(repr) + f": {expected}"


def validate_episodes(
    table: Table,
    *,
    host_authority: str = s.DEFAULT_HOST_AUTHORITY,
    period: Period | None = None,
) -> pd.DataFrame:
    """Type, normalise and audit every record of an episodes file.

    Parameters
    ----------
    table
        The file as read by `geo.episodes.read_table`.
    host_authority
        The local authority whose area this is; a `placing_authority` that differs means the
        child was placed here by another authority.
    period
        Keep only episodes whose `missing_from` falls in this period; the others are rejected
        with reason ``outside_period``.

    Returns
    -------
    pandas.DataFrame
        One row per record, in input order, with `row_number`, the normalised contract columns,
        `x`/`y` (British National Grid metres), `lat`/`lon` (WGS84, 6 decimals), `precision`,
        `status` (``rejected`` or blank), `reason`, `detail` and `warnings`.

    Raises
    ------
    InputError
        Required columns are missing, there is no location column, there are no rows, or a
        date column is month-first.
    """
    check_columns(table)
    raw = table.frame
    idx = raw.index
    audit = _Audit(idx)
    out = pd.DataFrame({s.ROW_NUMBER: raw[s.ROW_NUMBER].astype("int64")}, index=idx)

    # --- ids -------------------------------------------------------------------------------
    episode_id = _col(raw, s.EPISODE_ID)
    child_id = _col(raw, s.CHILD_ID)
    out[s.EPISODE_ID] = episode_id
    out[s.CHILD_ID] = child_id
    audit.reject(episode_id == "", "missing_episode_id", "`episode_id` is blank")
    dup = episode_id.duplicated(keep="first") & (episode_id != "")
    if dup.any():
        first_row = raw[s.ROW_NUMBER].groupby(episode_id).transform("first")
        audit.reject(
            dup,
            "duplicate_episode_id",
            "`episode_id` "
            + episode_id.map(repr)
            + " already used in row "
            + first_row.astype(str),
        )
    audit.reject(child_id == "", "missing_child_id", "`child_id` is blank")

    # --- dates -----------------------------------------------------------------------------
    start = parse_dates(raw[s.MISSING_FROM])
    _refuse_month_first(table, s.MISSING_FROM, start)
    audit.reject(start.blank, "missing_date", "`missing_from` is blank")
    expected = "expected ISO (2020-01-31 14:05) or UK day-first (31/01/2020 14:05)"
    start_detail = _describe(s.MISSING_FROM, raw[s.MISSING_FROM], expected)
    two_digit = raw[s.MISSING_FROM].str.match(_TWO_DIGIT_YEAR)
    start_detail[two_digit] = start_detail[two_digit] + " (two-digit years are ambiguous)"
    start_detail[start.month_first] = _describe(
        s.MISSING_FROM, raw[s.MISSING_FROM], "looks month-first; expected day-first"
    )
    audit.reject(start.invalid, "invalid_date", start_detail)
    out[s.MISSING_FROM] = start.values

    ret_text = _col(raw, s.RETURNED)
    ret = parse_dates(ret_text)
    if s.RETURNED in raw.columns:
        _refuse_month_first(table, s.RETURNED, ret)
    audit.reject(ret.invalid, "invalid_date", _describe(s.RETURNED, ret_text, expected))
    before = ret.values.notna() & start.values.notna() & (ret.values < start.values)
    audit.reject(
        before,
        "returned_before_missing",
        "`returned` "
        + ret_text.map(repr)
        + " is before `missing_from` "
        + raw[s.MISSING_FROM].map(repr),
    )
    out[s.RETURNED] = ret.values
    out[s.DURATION_HOURS] = (ret.values - start.values).dt.total_seconds() / 3600.0

    # --- period ----------------------------------------------------------------------------
    if period is not None:
        inside = period.contains(start.values)
        audit.reject(
            start.values.notna() & ~inside,
            "outside_period",
            "`missing_from` " + raw[s.MISSING_FROM].map(repr) + f" is outside --period {period}",
        )

    # --- optional attributes ---------------------------------------------------------------
    _optional_columns(raw, out, audit, host_authority, start.values)

    # --- location --------------------------------------------------------------------------
    _locations(raw, out, audit)

    out[s.STATUS] = np.where(audit.reason != "", s.REJECTED, "")
    out[s.REASON] = audit.reason
    out[s.DETAIL] = audit.detail
    out[s.WARNINGS] = audit.warnings
    return out


def _optional_columns(
    raw: pd.DataFrame,
    out: pd.DataFrame,
    audit: _Audit,
    host_authority: str,
    start: pd.Series,
) -> None:
    for column, table, target in (
        (s.SEX, _SEX, s.SEX),
        (s.CARE_STATUS, _CARE, s.CARE_STATUS),
        (s.PLACEMENT_TYPE, _PLACEMENT, s.PLACEMENT_TYPE),
        (s.CATEGORY, _CATEGORY, s.CATEGORY),
        (s.RISK, _RISK, s.RISK),
    ):
        values, bad = _lookup(_col(raw, column), table)
        out[target] = values
        audit.warn(bad, f"unrecognised_{column}")
    out[s.LOOKED_AFTER] = np.where(
        out[s.CARE_STATUS] == "unknown",
        "unknown",
        np.where(out[s.CARE_STATUS] == "looked_after", "looked_after", "not_looked_after"),
    )

    age_text = _col(raw, s.AGE)
    age = pd.to_numeric(age_text, errors="coerce")
    bad_age = (age_text != "") & (age.isna() | (age % 1 != 0) | (age < 0) | (age > 25))
    audit.warn(bad_age, "invalid_age")
    age = age.where(~bad_age)
    dob = parse_dates(_col(raw, s.DOB))
    audit.warn(dob.invalid, "invalid_dob")
    years = start.dt.year - dob.values.dt.year
    had_birthday = (start.dt.month > dob.values.dt.month) | (
        (start.dt.month == dob.values.dt.month) & (start.dt.day >= dob.values.dt.day)
    )
    derived = years - (~had_birthday).astype(int)
    derived = derived.where(dob.values.notna() & start.notna())
    bad_derived = derived.notna() & ((derived < 0) | (derived > 25)) & age.isna()
    audit.warn(bad_derived, "invalid_dob")
    derived = derived.where(~bad_derived)
    age = age.fillna(derived)
    out[s.AGE] = age.astype("Int64")
    out[s.AGE_BAND] = _age_band(age)

    out[s.HOME_ID] = _col(raw, s.HOME_ID)
    placing = _col(raw, s.PLACING_AUTHORITY)
    out[s.PLACING_AUTHORITY] = placing
    host = _authority_key(pd.Series([host_authority]))[0]
    key = _authority_key(placing)
    out[s.PLACED_BY_OTHER_LA] = np.where(
        placing == "", "unknown", np.where(key == host, "host", "other")
    )
    out[s.PLACEMENT_LA] = _col(raw, s.PLACEMENT_LA)

    for column in (s.RHI_OFFERED, s.RHI_COMPLETED):
        parsed = parse_dates(_col(raw, column))
        audit.warn(parsed.invalid, f"invalid_{column}")
        out[column] = parsed.values
    ce = _col(raw, s.CE_SCREENING).str.lower()
    ce_date = parse_dates(ce)
    out[s.CE_SCREENING] = np.select(
        [ce.isin(_YES) | ce_date.values.notna(), ce.isin(_NO)], ["yes", "no"], "unknown"
    )
    unrecognised = (ce != "") & ~ce.isin(_YES | _NO) & ce_date.values.isna()
    audit.warn(unrecognised, "unrecognised_ce_screening")


def _authority_key(names: pd.Series) -> pd.Series:
    key = names.fillna("").astype(str).str.lower()
    council = r"\b(county|city|borough|district|metropolitan)?\s*council\b"
    key = key.str.replace(council, "", regex=True)
    key = key.str.replace(r"^(london borough of|royal borough of|city of)\s+", "", regex=True)
    return key.str.replace(r"[^a-z]", "", regex=True)


def _locations(raw: pd.DataFrame, out: pd.DataFrame, audit: _Audit) -> None:
    n = len(raw)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    precision = np.full(n, "", dtype=object)
    decided = pd.Series(False, index=raw.index)

    lat_t, lon_t = _col(raw, s.LAT), _col(raw, s.LON)
    filled = (lat_t != "") | (lon_t != "")
    if filled.any():
        la = pd.to_numeric(lat_t, errors="coerce")
        lo = pd.to_numeric(lon_t, errors="coerce")
        detail = "`lat` = " + lat_t.map(repr) + ", `lon` = " + lon_t.map(repr)
        partial = filled & ((lat_t == "") | (lon_t == ""))
        audit.reject(partial, "invalid_coordinates", detail + ": both `lat` and `lon` are needed")
        nonnum = filled & ~partial & (la.isna() | lo.isna() | ~np.isfinite(la) | ~np.isfinite(lo))
        audit.reject(nonnum, "invalid_coordinates", detail + ": not numbers")
        ok = filled & ~partial & ~nonnum
        swapped = ok & la.between(*_GB_LON) & lo.between(*_GB_LAT)
        audit.reject(
            swapped, "invalid_coordinates", detail + ": lat and lon look swapped (lat is ~50-60)"
        )
        zero = ok & (la == 0) & (lo == 0)
        audit.reject(zero, "invalid_coordinates", detail + ": 0,0 is a placeholder, not a place")
        world = ok & ~swapped & ~zero & ~(la.between(-90, 90) & lo.between(-180, 180))
        audit.reject(world, "invalid_coordinates", detail + ": out of range for WGS84 degrees")
        good = (ok & ~swapped & ~zero & ~world).to_numpy()
        lat[good] = la.to_numpy()[good]
        lon[good] = lo.to_numpy()[good]
        precision[good] = "coordinates"
        decided |= filled

    e_t, n_t = _col(raw, s.EASTING), _col(raw, s.NORTHING)
    filled = ((e_t != "") | (n_t != "")) & ~decided
    if filled.any():
        ea = pd.to_numeric(e_t, errors="coerce")
        no = pd.to_numeric(n_t, errors="coerce")
        detail = "`easting` = " + e_t.map(repr) + ", `northing` = " + n_t.map(repr)
        partial = filled & ((e_t == "") | (n_t == ""))
        audit.reject(
            partial, "invalid_coordinates", detail + ": both `easting` and `northing` are needed"
        )
        nonnum = filled & ~partial & (ea.isna() | no.isna() | ~np.isfinite(ea) | ~np.isfinite(no))
        audit.reject(nonnum, "invalid_coordinates", detail + ": not numbers")
        ok = filled & ~partial & ~nonnum
        km = ok & ea.between(0, 700) & no.between(0, 1300) & ~((ea == 0) & (no == 0))
        audit.reject(
            km, "invalid_coordinates", detail + ": looks like kilometres; expected metres"
        )
        rng = ok & ~km & ~(ea.between(*_BNG_E) & no.between(*_BNG_N))
        audit.reject(
            rng, "invalid_coordinates", detail + ": outside the British National Grid (metres)"
        )
        zero = ok & (ea == 0) & (no == 0)
        audit.reject(zero, "invalid_coordinates", detail + ": 0,0 is a placeholder, not a place")
        good = (ok & ~km & ~rng & ~zero).to_numpy()
        if good.any():
            x[good] = ea.to_numpy()[good]
            y[good] = no.to_numpy()[good]
            lo2, la2 = _FROM_BNG.transform(x[good], y[good])
            lon[good] = lo2
            lat[good] = la2
            precision[good] = "coordinates"
        decided |= filled

    pc = _col(raw, s.POSTCODE)
    has_pc = (pc != "") & ~decided
    audit.reject(
        has_pc,
        "no_location",
        "only a `postcode` (" + pc.map(repr) + "): postcode geocoding is not available yet",
    )
    audit.reject(
        ~decided & ~has_pc,
        "no_location",
        "no `lat`/`lon`, `easting`/`northing` or `postcode` given",
    )

    # Round lat/lon to 6 decimals (about 0.1 m), then project lat/lon rows to metres.
    lat = np.round(lat, 6)
    lon = np.round(lon, 6)
    need = np.isnan(x) & ~np.isnan(lat)
    if need.any():
        x[need], y[need] = _TO_BNG.transform(lon[need], lat[need])
    rejected = (audit.reason != "").to_numpy()
    precision[rejected] = ""
    for arr in (lat, lon, x, y):
        arr[rejected] = np.nan
    out[s.LAT] = lat
    out[s.LON] = lon
    out[s.X] = x
    out[s.Y] = y
    out[s.PRECISION] = precision
