"""Validation of the episodes file: typed, normalised columns and an audit reason per row.

Every input record stays in the frame. A record that cannot be used gets `status` =
``rejected`` and a `reason` from `geo.schema.REASONS` (with a human `detail` naming the column
and value); a usable record gets `status` = ``""`` until `geo.areas.assign_areas` decides
``mapped`` or ``outside_area``. Problems in optional columns never reject a row: the value
becomes ``unknown`` and the row's `warnings` says why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo import schema as s
from geo.episodes import Table
from geo.errors import InputError, ParameterError
from geo.postcodes import PostcodeIndex

_TIME = (
    r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"%s)?"
)
# Year first: ISO 8601 (2020-01-31, 2020-01-31T14:05:00+01:00); also 2020/01/31 and 2020.01.31,
# which are just as unambiguous. A UTC offset is allowed after a time, as ISO 8601 writes it.
_YEAR_FIRST = re.compile(
    r"(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    + _TIME % r"(?:\s*(?P<tz>Z|[+-]\d{2}(?::?\d{2})?))?"
)
# UK day-first: 31/01/2020, 31-01-2020, 31.01.2020, optionally with a time.
_DAY_FIRST = re.compile(
    r"(?P<d>\d{1,2})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})" + _TIME % ""
)
_TWO_DIGIT_YEAR = re.compile(r"\d{1,2}([-/.])\d{1,2}\1\d{2}(?:[T\s].*)?")
_YEARS = (1900, 2100)  # a year outside this range is a typo (0202, 2202), not a real episode

# Why a date was not accepted (`DateParse.why`), for the audit detail.
_WHY_TEXT = {
    "format": "not a date in a recognised format",
    "two_digit_year": "two-digit years are ambiguous; write the year in full",
    "no_such_date": "no such date",
    "no_such_time": "no such time of day",
    "year_range": f"the year is outside {_YEARS[0]}-{_YEARS[1]}",
    "month_first": "looks month-first (US style: month/day/year)",
}
_DATE_EXPECTED = "expected ISO (2020-01-31 14:05) or UK day-first (31/01/2020 14:05)"


def _norm(value: str) -> str:
    """Lower-case, curly quotes straightened, runs of spaces / ``_`` / ``-`` as one space."""
    value = value.strip().lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"[\s_\-]+", " ", value).strip()


def _table(pairs: dict[str, str]) -> dict[str, str]:
    return {_norm(k): v for k, v in pairs.items()}


_SEX = _table({
    "m": "male", "male": "male", "1": "male", "boy": "male",
    "f": "female", "female": "female", "2": "female", "girl": "female",
    "u": "unknown", "unknown": "unknown", "9": "unknown", "0": "unknown",
    "not known": "unknown", "other": "unknown", "": "unknown",
})  # fmt: skip
_CARE = _table({
    "looked_after": "looked_after", "lac": "looked_after", "cla": "looked_after",
    "cic": "looked_after", "child looked after": "looked_after",
    "looked after child": "looked_after", "child in care": "looked_after",
    "child_in_need": "child_in_need", "cin": "child_in_need",
    "child_protection": "child_protection", "cp": "child_protection",
    "cpp": "child_protection", "child protection plan": "child_protection",
    "none": "none", "no": "none", "unknown": "unknown", "not known": "unknown", "": "unknown",
})  # fmt: skip
_PLACEMENT = _table({
    "foster": "foster", "fostering": "foster", "foster care": "foster",
    "foster carer": "foster", "foster placement": "foster",
    "residential": "residential", "children's home": "residential",
    "childrens home": "residential", "children home": "residential",
    "residential home": "residential", "semi_independent": "semi_independent",
    "semi independent living": "semi_independent",
    "supported accommodation": "semi_independent",
    "family_home": "family_home", "home": "family_home", "family": "family_home",
    "parents": "family_home", "with parents": "family_home",
    "other": "other", "unknown": "unknown", "not known": "unknown", "": "unknown",
})  # fmt: skip
_CATEGORY = _table({
    "missing": "missing", "m": "missing", "absent": "absent", "a": "absent",
    "away": "absent", "unknown": "unknown", "": "unknown",
})  # fmt: skip
_RISK = _table({
    "high": "high", "high risk": "high", "h": "high",
    "medium": "medium", "medium risk": "medium", "med": "medium", "m": "medium",
    "low": "low", "low risk": "low", "l": "low",
    "no_apparent_risk": "no_apparent_risk", "none": "no_apparent_risk",
    "no risk": "no_apparent_risk", "nar": "no_apparent_risk",
    "unknown": "unknown", "not known": "unknown", "": "unknown",
})  # fmt: skip
_YES = {"yes", "y", "true", "1", "done", "completed"}
_NO = {"no", "n", "false", "0", "not done", "not completed"}
# `placing_authority` values that say the authority is not known (not "another authority").
_UNKNOWN_AUTHORITY = {"", "unknown", "not known", "n/a", "na", "none", "not recorded", "-"}

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
    why: pd.Series | None = None  # str: why an invalid value was refused (a `_WHY_TEXT` key)


_MONTH_FIRST, _DAY_FIRST_ONLY = 1, 2
# ISO values that pandas parses exactly as `_parse_one` would (no zone, no fraction)
_PLAIN_ISO = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"


def _parse_one(value: str) -> tuple[dt.datetime | None, dt.timedelta | None, str, int]:
    """(naive date-time, UTC offset or None, why refused, flags) for one non-blank value."""
    flags = 0
    match = _YEAR_FIRST.fullmatch(value)
    if match is None:
        match = _DAY_FIRST.fullmatch(value)
        if match is None:
            why = "two_digit_year" if _TWO_DIGIT_YEAR.fullmatch(value) else "format"
            return None, None, why, 0
        first, second = int(match["d"]), int(match["m"])
        if first > 12 and second <= 12:
            flags = _DAY_FIRST_ONLY
        elif first <= 12 and second > 12:
            flags = _MONTH_FIRST
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None, None, "month_first" if flags == _MONTH_FIRST else "no_such_date", flags
    if not _YEARS[0] <= year <= _YEARS[1]:
        return None, None, "year_range", flags
    hour, minute, second = (int(match[k] or 0) for k in ("H", "M", "S"))
    if hour > 23 or minute > 59 or second > 59:
        return None, None, "no_such_time", flags
    micro = int((match["f"] or "0")[:6].ljust(6, "0"))
    when = dt.datetime(date.year, date.month, date.day, hour, minute, second, micro)
    offset = None
    tz = match.groupdict().get("tz")
    if tz:
        if tz == "Z":
            offset = dt.timedelta(0)
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if hours > 14 or minutes > 59:
                return None, None, "no_such_time", flags
            offset = sign * dt.timedelta(hours=hours, minutes=minutes)
    return when, offset, "", flags


def _plain_iso(values: np.ndarray) -> np.ndarray:
    """Which `values` (strings) have a `_PLAIN_ISO` form: ``YYYY-MM-DD``, then optionally
    ``[ T]HH:MM`` and ``:SS``, in ASCII digits. Vectorised: the regex on a million distinct
    date-times costs a tenth of a second per column."""
    n = len(values)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=n)
    cand = np.flatnonzero(np.isin(lengths, (10, 16, 19)))
    if len(cand) == 0:
        return out
    chars = values[cand].astype("U19").view(np.uint32).reshape(len(cand), 19)  # no truncation
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    size = lengths[cand]
    ok = digit[:, [0, 1, 2, 3, 5, 6, 8, 9]].all(axis=1)
    ok &= (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    time_ok = (chars[:, 10] == ord(" ")) | (chars[:, 10] == ord("T"))
    time_ok &= digit[:, [11, 12, 14, 15]].all(axis=1) & (chars[:, 13] == ord(":"))
    ok &= (size == 10) | time_ok
    ok &= (size != 19) | ((chars[:, 16] == ord(":")) & digit[:, [17, 18]].all(axis=1))
    out[cand] = ok
    return out


def parse_dates(text: pd.Series) -> DateParse:
    """Parse ISO 8601 and UK day-first date-times; never month-first.

    Accepted: ``2020-01-31``, ``2020-01-31 14:05``, ``2020-01-31T14:05:00`` (a ``Z`` or
    ``+01:00`` offset is converted to UK local time), also year-first with ``/`` or ``.``
    (``2020/01/31``); ``31/01/2020``, ``31/01/2020 14:05`` (also with ``-`` or ``.``). Refused:
    two-digit years, month names, impossible dates and times, years outside 1900-2100.
    A value such as ``01/31/2020`` is flagged `month_first`; ``03/04/2020`` is read day-first.
    """
    index = text.index
    codes_all, uniques_all = pd.factorize(text.fillna("").astype(str).to_numpy())
    # distinct values, stripped; values equal after stripping share one code
    codes_u, uniques = pd.factorize(np.array([str(u).strip() for u in uniques_all], dtype=object))
    codes_row = codes_u[codes_all] if len(codes_all) else np.zeros(0, dtype=np.int64)
    n = len(codes_row)
    blank_u = uniques == ""
    blank = blank_u[codes_row] if n else np.zeros(0, dtype=bool)
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    why = np.full(n, "", dtype=object)
    flags = np.zeros(n, dtype=np.int8)
    if n and (~blank_u).any():
        codes = codes_row
        u_values = np.full(len(uniques), np.datetime64("NaT"), dtype="datetime64[ns]")
        u_why = np.full(len(uniques), "", dtype=object)
        u_flags = np.zeros(len(uniques), dtype=np.int8)
        # Fast path for plain ISO values (most files): vectorised; anything it cannot parse
        # cleanly (no such date, year out of range...) goes through `_parse_one` for its reason.
        plain = _plain_iso(np.asarray(uniques, dtype=object))
        if plain.any():
            stamps = pd.to_datetime(
                pd.Series(uniques[plain], dtype=object), format="ISO8601", errors="coerce"
            )
            years = stamps.dt.year
            good = (stamps.notna() & years.between(*_YEARS)).to_numpy()
            where = np.flatnonzero(plain)[good]
            u_values[where] = stamps.to_numpy(dtype="datetime64[ns]")[good]
            plain[np.flatnonzero(plain)[~good]] = False
        slow = np.flatnonzero(~plain & ~blank_u)
        parsed = [_parse_one(str(uniques[i])) for i in slow]
        naive = [p[0] for p in parsed]
        aware = [i for i, p in enumerate(parsed) if p[0] is not None and p[1] is not None]
        if aware:  # a UTC offset: convert to UK local time (GMT or BST), then drop the zone
            utc = pd.DatetimeIndex([parsed[i][0] - parsed[i][1] for i in aware])  # type: ignore[operator]
            local = utc.tz_localize("UTC").tz_convert("Europe/London").tz_localize(None)
            for i, when in zip(aware, local, strict=True):
                naive[i] = when.to_pydatetime()
        if len(slow):
            u_values[slow] = np.array(
                [np.datetime64(v, "ns") if v is not None else np.datetime64("NaT") for v in naive],
                dtype="datetime64[ns]",
            )
            u_why[slow] = np.array([p[2] for p in parsed], dtype=object)
            u_flags[slow] = np.array([p[3] for p in parsed], dtype=np.int8)
        values = u_values[codes]
        why = u_why[codes]
        flags = u_flags[codes]
    result = pd.Series(values, index=index, dtype="datetime64[ns]")
    return DateParse(
        values=result,
        blank=pd.Series(blank, index=index),
        invalid=pd.Series(~blank & np.isnat(values), index=index),
        month_first=pd.Series(flags == _MONTH_FIRST, index=index),
        day_first_only=pd.Series(flags == _DAY_FIRST_ONLY, index=index),
        why=pd.Series(why, index=index, dtype=object),
    )


def _lookup(values: pd.Series, table: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """Normalise the values of a category column; unrecognised -> ``unknown`` (and flagged)."""
    codes, uniques = pd.factorize(values.fillna("").astype(str).to_numpy())
    mapped = [table.get(_norm(str(u))) for u in uniques] + [None]
    # per distinct value, then indexed: code -1 (missing) takes the trailing entry
    bad_u = np.array([v is None for v in mapped], dtype=bool)
    named = np.array(["unknown" if v is None else v for v in mapped], dtype=object)
    bad = pd.Series(bad_u[codes], index=values.index, dtype=bool)
    return pd.Series(named[codes], index=values.index, dtype=str), bad


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


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def require_location_columns(table: Table, subject: str, found: str) -> None:
    """Refuse a table with no complete location form (lat/lon, easting/northing, postcode)."""
    cols = set(table.frame.columns)
    if not any(all(c in cols for c in form) for form in s.LOCATION_FORMS):
        msg = (
            f"The {subject} {table.path} has no location columns: expected `lat` and `lon`, "
            f"`easting` and `northing`, or `postcode`. Columns found: {found}."
        )
        raise InputError(msg, path=table.path)


def require_coordinate_pairs(table: Table, subject: str, found: str) -> None:
    """Refuse a table with one column of a coordinate pair (`lat` but no `lon`...)."""
    cols = set(table.frame.columns)
    for a, b in ((s.LAT, s.LON), (s.EASTING, s.NORTHING)):
        if (a in cols) != (b in cols):
            have, lack = (a, b) if a in cols else (b, a)
            msg = (
                f"The {subject} {table.path} has {_article(have)} `{have}` column but no "
                f"`{lack}` column. Locations need both. Columns found: {found}."
            )
            raise InputError(msg, path=table.path)


def check_columns(table: Table, *, what: str = "episodes") -> None:
    """Refuse a file that lacks the required columns or any location column, or has no rows."""
    cols = set(table.frame.columns) - {s.ROW_NUMBER}
    found = ", ".join(repr(h.strip()) for h in table.original_headers.values()) or "(none)"
    missing = [c for c in s.REQUIRED_COLUMNS if c not in cols]
    if missing:
        names = ", ".join(f"`{c}`" for c in missing)
        where = f" (sheet {table.sheet!r})" if table.sheet else ""
        msg = (
            f"The {what} file {table.path}{where} is missing the required column(s) {names}. "
            f"Columns found: {found}. Headers are matched ignoring case, spaces and '-' "
            "(e.g. 'Missing From' = `missing_from`)."
        )
        sheets = [n for n in table.notes if "sheets" in n]
        if table.sheet and sheets:
            msg += f" Note: {sheets[0]}"
        elif table.sheet:
            msg += " Use --sheet to read another sheet."
        raise InputError(msg, path=table.path)
    require_coordinate_pairs(table, f"{what} file", found)
    require_location_columns(table, f"{what} file", found)
    if table.frame.empty:
        blank = f" ({table.blank_rows} blank rows were skipped)" if table.blank_rows else ""
        msg = f"The {what} file {table.path} has a header row but no data rows{blank}."
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
        self._open = np.ones(len(index), dtype=bool)  # rows with no reason yet

    def reject(self, mask: pd.Series, reason: str, detail: pd.Series | str) -> None:
        """Record `reason` for the rows of `mask` that have none yet.

        `detail` is one text for all, or a Series holding (at least) the rows of `mask`.
        """
        take = pd.Series(
            mask.fillna(False).to_numpy(dtype=bool) & self._open, index=self.reason.index
        )
        if not take.any():
            return
        self._open &= ~take.to_numpy()
        self.reason[take] = reason
        if isinstance(detail, pd.Series):
            self.detail[take] = detail.reindex(take.index[take.to_numpy()]).to_numpy()
        else:
            self.detail[take] = detail

    def warn(self, mask: pd.Series, code: str) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        cur = self.warnings[mask]
        self.warnings[mask] = np.where(cur == "", code, cur + ";" + code)


def _describe(column: str, values: pd.Series, expected: str) -> pd.Series:
    return f"`{column}` = " + values.astype(object).map(repr) + f": {expected}"


def _date_detail(column: str, text: pd.Series, parse: DateParse, mask: pd.Series) -> pd.Series:
    """`column` = 'value': why it was refused; what was expected (for the rows of `mask`)."""
    values = text[mask].astype(object)
    why = parse.why[mask] if parse.why is not None else pd.Series("format", index=values.index)
    reasons = why.map(lambda w: _WHY_TEXT.get(w, _WHY_TEXT["format"]))
    return f"`{column}` = " + values.map(repr) + ": " + reasons + f"; {_DATE_EXPECTED}"


def validate_episodes(
    table: Table,
    *,
    host_authority: str = s.DEFAULT_HOST_AUTHORITY,
    period: Period | None = None,
    postcodes: PostcodeIndex | None = None,
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
    postcodes
        An offline postcode index (`geo.postcodes`) for rows located only by `postcode`;
        without one such rows are rejected as ``no_location``, with a hint.

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
            + episode_id[dup].astype(object).map(repr)
            + " already used in row "
            + first_row[dup].astype(str),
        )
    audit.reject(child_id == "", "missing_child_id", "`child_id` is blank")

    # --- dates -----------------------------------------------------------------------------
    start_text = _col(raw, s.MISSING_FROM)
    start = parse_dates(start_text)
    _refuse_month_first(table, s.MISSING_FROM, start)
    audit.reject(start.blank, "missing_date", "`missing_from` is blank")
    audit.reject(
        start.invalid,
        "invalid_date",
        _date_detail(s.MISSING_FROM, start_text, start, start.invalid),
    )
    out[s.MISSING_FROM] = start.values

    ret_text = _col(raw, s.RETURNED)
    ret = parse_dates(ret_text)
    if s.RETURNED in raw.columns:
        _refuse_month_first(table, s.RETURNED, ret)
    audit.reject(ret.invalid, "invalid_date", _date_detail(s.RETURNED, ret_text, ret, ret.invalid))
    before = ret.values.notna() & start.values.notna() & (ret.values < start.values)
    if before.any():
        audit.reject(
            before,
            "returned_before_missing",
            "`returned` "
            + ret_text[before].astype(object).map(repr)
            + " is before `missing_from` "
            + start_text[before].astype(object).map(repr),
        )
    out[s.RETURNED] = ret.values
    hours = (ret.values - start.values).dt.total_seconds() / 3600.0
    out[s.DURATION_HOURS] = hours.where(hours >= 0)

    # --- period ----------------------------------------------------------------------------
    if period is not None:
        outside = start.values.notna() & ~period.contains(start.values)
        if outside.any():
            audit.reject(
                outside,
                "outside_period",
                "`missing_from` "
                + start_text[outside].astype(object).map(repr)
                + f" is outside --period {period}",
            )

    # --- optional attributes ---------------------------------------------------------------
    _optional_columns(raw, out, audit, host_authority, start.values)

    # --- location --------------------------------------------------------------------------
    _locations(raw, out, audit, postcodes)

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
    care_codes, care_values = pd.factorize(out[s.CARE_STATUS].to_numpy(dtype=object))
    looked_after = np.array(
        [v if v in ("unknown", "looked_after") else "not_looked_after" for v in care_values],
        dtype=object,
    )
    out[s.LOOKED_AFTER] = pd.Series(looked_after[care_codes], index=out.index, dtype=str)

    age_text = _col(raw, s.AGE)
    age_codes, age_values = pd.factorize(age_text.to_numpy(dtype=object))  # a few ages, repeated
    age_u = pd.to_numeric(pd.Series(age_values, dtype=object).replace("", None), errors="coerce")
    age = pd.Series(
        np.append(age_u.to_numpy(dtype="float64"), np.nan)[age_codes], index=age_text.index
    )
    bad_age = (age_text != "") & (
        age.isna() | ~np.isfinite(age) | (age % 1 != 0) | (age < 0) | (age > 25)
    )
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
    host = _authority_key(pd.Series([host_authority])).iloc[0]
    key = _authority_key(placing)
    unknown = _by_unique(placing, lambda v: v.strip().lower() in _UNKNOWN_AUTHORITY) | (
        key == ""
    ).to_numpy()
    out[s.PLACED_BY_OTHER_LA] = np.where(unknown, "unknown", np.where(key == host, "host", "other"))
    out[s.PLACEMENT_LA] = _col(raw, s.PLACEMENT_LA)

    for column in (s.RHI_OFFERED, s.RHI_COMPLETED):
        parsed = parse_dates(_col(raw, column))
        audit.warn(parsed.invalid, f"invalid_{column}")
        out[column] = parsed.values
    ce_raw = _col(raw, s.CE_SCREENING)
    ce = pd.Series(_by_unique(ce_raw, lambda v: v.strip().lower()), index=ce_raw.index)
    ce_date = parse_dates(ce)
    out[s.CE_SCREENING] = np.select(
        [ce.isin(_YES) | ce_date.values.notna(), ce.isin(_NO)], ["yes", "no"], "unknown"
    )
    unrecognised = (ce != "") & ~ce.isin(_YES | _NO) & ce_date.values.isna()
    audit.warn(unrecognised, "unrecognised_ce_screening")


def _by_unique(values: pd.Series, func: Callable[[str], object]) -> np.ndarray:
    """Apply `func` to each distinct value once (columns repeat a few values a million times)."""
    codes, uniques = pd.factorize(values.fillna("").astype(str).to_numpy())
    mapped = np.array([func(str(u)) for u in uniques] + [func("")], dtype=object)
    out = mapped[codes]
    if all(isinstance(v, bool | np.bool_) for v in mapped):
        return out.astype(bool)
    return out


def _authority_key(names: pd.Series) -> pd.Series:
    """A comparable key for a local authority name: 'Oxfordshire County Council' = 'Oxfordshire'."""
    codes, uniques = pd.factorize(names.fillna("").astype(str).to_numpy())
    keys = np.array([_authority_one(str(u)) for u in uniques] + [""], dtype=object)
    return pd.Series(keys[codes], index=names.index, dtype=object)


def _authority_one(name: str) -> str:
    key = name.lower().replace("&", " and ")
    key = re.sub(r"\b(county|city|borough|district|metropolitan)?\s*(council|cc)\b", "", key)
    key = re.sub(r"^\s*(london borough of|royal borough of|city of)\s+", "", key)
    return re.sub(r"[^a-z]", "", key)


def _pair_detail(
    a_name: str, a: pd.Series, b_name: str, b: pd.Series
) -> Callable[[pd.Series], pd.Series]:
    """Describe a coordinate pair in words, built only for the rows asked for (it is slow)."""

    def make(mask: pd.Series) -> pd.Series:
        rows = mask.to_numpy(dtype=bool)
        return (
            f"`{a_name}` = " + a[rows].astype(object).map(repr)
            + f", `{b_name}` = " + b[rows].astype(object).map(repr)
        )  # fmt: skip

    return make


def _pair_basics(
    audit: _Audit,
    filled: pd.Series,
    names: tuple[str, str],
    text: tuple[pd.Series, pd.Series],
    value: tuple[pd.Series, pd.Series],
    detail: Callable[[pd.Series], pd.Series],
    expected: str,
) -> tuple[pd.Series, pd.Series]:
    """Reject the rows of a coordinate pair with one value only, values that are not numbers,
    or 0,0; return the rows with two numbers (`ok`, 0,0 included) and the 0,0 rows."""
    a_name, b_name = names
    partial = filled & ((text[0] == "") | (text[1] == ""))
    audit.reject(partial, "invalid_coordinates",
                 detail(partial) + f": both `{a_name}` and `{b_name}` are needed")
    nonnum = filled & ~partial & ~(np.isfinite(value[0]) & np.isfinite(value[1]))
    audit.reject(nonnum, "invalid_coordinates",
                 detail(nonnum) + f": not numbers (expected {expected})")
    ok = filled & ~partial & ~nonnum
    zero = ok & (value[0] == 0) & (value[1] == 0)
    audit.reject(zero, "invalid_coordinates", detail(zero) + ": 0,0 is a placeholder, not a place")
    return ok, zero


def _locations(
    raw: pd.DataFrame, out: pd.DataFrame, audit: _Audit, postcodes: PostcodeIndex | None = None
) -> None:
    n = len(raw)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    precision = np.full(n, "", dtype=object)
    decided = pd.Series(False, index=raw.index)

    def numbers(text: pd.Series) -> pd.Series:
        return pd.to_numeric(text.where(text != ""), errors="coerce").astype("float64")

    lat_t, lon_t = _col(raw, s.LAT), _col(raw, s.LON)
    filled = (lat_t != "") | (lon_t != "")
    if filled.any():
        la, lo = numbers(lat_t), numbers(lon_t)
        detail = _pair_detail("lat", lat_t, "lon", lon_t)
        ok, zero = _pair_basics(audit, filled, ("lat", "lon"), (lat_t, lon_t), (la, lo), detail,
                                "decimal degrees such as 51.752, -1.258")
        swapped = ok & ~zero & la.between(*_GB_LON) & lo.between(*_GB_LAT)
        audit.reject(
            swapped,
            "invalid_coordinates",
            detail(swapped) + ": lat and lon look swapped (lat is ~50-60)"
        )
        world = ok & ~swapped & ~zero & ~(la.between(-90, 90) & lo.between(-180, 180))
        audit.reject(
            world,
            "invalid_coordinates",
            detail(world) + ": out of range for WGS84 degrees (lat -90..90, lon -180..180)",
        )
        good = (ok & ~swapped & ~zero & ~world).to_numpy()
        lat[good] = la.to_numpy()[good]
        lon[good] = lo.to_numpy()[good]
        precision[good] = "coordinates"
        decided |= filled

    e_t, n_t = _col(raw, s.EASTING), _col(raw, s.NORTHING)
    filled = ((e_t != "") | (n_t != "")) & ~decided
    if filled.any():
        ea, no = numbers(e_t), numbers(n_t)
        detail = _pair_detail("easting", e_t, "northing", n_t)
        ok, zero = _pair_basics(audit, filled, ("easting", "northing"), (e_t, n_t), (ea, no),
                                detail, "metres such as 451000, 206000")
        km = ok & ~zero & ea.between(0, 700) & no.between(0, 1300)
        audit.reject(
            km,
            "invalid_coordinates",
            detail(km) + ": looks like kilometres; expected metres")
        rng = ok & ~zero & ~km & ~(ea.between(*_BNG_E) & no.between(*_BNG_N))
        audit.reject(
            rng,
            "invalid_coordinates",
            detail(rng) + ": outside the British National Grid (easting 0-700000, northing "
            "0-1300000 metres)",
        )
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
    if has_pc.any() and postcodes is None:
        audit.reject(
            has_pc,
            "no_location",
            "only a `postcode` ("
            + pc[has_pc].astype(object).map(repr)
            + "): no postcode index was given. Import one once with `hotspots postcodes "
            "import ONSPD.zip`, then run with `--postcodes`",
        )
    elif has_pc.any():
        assert postcodes is not None
        rows = np.flatnonzero(has_pc.to_numpy())
        found = postcodes.lookup(pc.iloc[rows])
        status = found["status"].to_numpy(dtype=object)
        ok = status == "found"
        for reason, expected in (
            ("invalid_postcode", "not a UK postcode, sector (OX16 9) or district (OX16)"),
            ("postcode_not_found", "not in the postcode index"),
        ):
            bad = pd.Series(False, index=raw.index)
            bad.iloc[rows[status == reason]] = True
            if bad.any():
                detail = "`postcode` = " + pc[bad].astype(object).map(repr) + f": {expected}"
                audit.reject(bad, reason, detail)
        take = rows[ok]
        lat[take] = found["lat"].to_numpy(dtype=float)[ok]
        lon[take] = found["lon"].to_numpy(dtype=float)[ok]
        x[take] = found["easting"].to_numpy(dtype=float)[ok]
        y[take] = found["northing"].to_numpy(dtype=float)[ok]
        precision[take] = found["precision"].to_numpy(dtype=object)[ok]
    audit.reject(
        ~decided & ~has_pc,
        "no_location",
        "no `lat`/`lon`, `easting`/`northing` or `postcode` given",
    )

    # Round lat/lon to 6 decimals (about 0.1 m), then project lat/lon rows to metres.
    lat = np.round(lat, 6)
    lon = np.round(lon, 6)
    need = np.isnan(x) & ~np.isnan(lat)  # postcodes and BNG rows already have x/y
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
