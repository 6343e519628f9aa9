"""The homes register (DATA-CONTRACT section 2): fostering households, children's homes and
other placements, with their locations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo import schema as s
from geo.episodes import Table
from geo.errors import InputError
from geo.postcodes import PostcodeIndex
from geo.validate import _Audit, _col, _locations

_TYPES = {
    "foster": "foster", "fostering": "foster", "foster carer": "foster",
    "residential": "residential", "children's home": "residential",
    "childrens home": "residential", "childrens_home": "residential",
    "semi_independent": "semi_independent", "semi-independent": "semi_independent",
    "semi independent": "semi_independent", "supported accommodation": "semi_independent",
    "other": "other",
}  # fmt: skip


def validate_homes(table: Table, postcodes: PostcodeIndex | None = None) -> pd.DataFrame:
    """Type and audit a homes register; unusable rows get `status` ``rejected`` and a reason.

    Reasons: ``missing_home_id``, ``duplicate_home_id``, ``invalid_type`` and the location
    reasons of the episodes file. Rows that survive have `status` blank (areas decide later).
    """
    raw = table.frame
    cols = set(raw.columns)
    found = ", ".join(table.original_headers.values())
    missing = [c for c in (s.HOME_ID, s.HOME_TYPE) if c not in cols]
    if missing:
        msg = (
            f"The homes register {table.path} is missing the required column(s) "
            f"{', '.join(f'`{c}`' for c in missing)}. Columns found: {found}."
        )
        raise InputError(msg, path=table.path)
    if not any(all(c in cols for c in form) for form in s.LOCATION_FORMS):
        msg = (
            f"The homes register {table.path} has no location columns: expected `lat` and "
            f"`lon`, `easting` and `northing`, or `postcode`. Columns found: {found}."
        )
        raise InputError(msg, path=table.path)
    if raw.empty:
        msg = f"The homes register {table.path} has a header row but no data rows."
        raise InputError(msg, path=table.path)
    audit = _Audit(raw.index)
    out = pd.DataFrame({s.ROW_NUMBER: raw[s.ROW_NUMBER].astype("int64")}, index=raw.index)
    home_id = _col(raw, s.HOME_ID)
    out[s.HOME_ID] = home_id
    audit.reject(home_id == "", "missing_home_id", "`home_id` is blank")
    dup = home_id.duplicated() & (home_id != "")
    audit.reject(dup, "duplicate_home_id", "`home_id` " + home_id.map(repr) + " used twice")
    kind_text = _col(raw, s.HOME_TYPE)
    kind = kind_text.str.lower().map(_TYPES)
    audit.reject(
        kind.isna(),
        "invalid_type",
        "`type` = " + kind_text.map(repr) + ": expected foster, residential, semi_independent "
        "or other",
    )
    out[s.HOME_TYPE] = kind.fillna("")
    out[s.HOME_NAME] = _col(raw, s.HOME_NAME)
    out[s.HOME_PROVIDER] = _col(raw, s.HOME_PROVIDER)
    places_text = _col(raw, s.HOME_PLACES)
    places = pd.to_numeric(places_text, errors="coerce")
    bad_places = (places_text != "") & (places.isna() | (places < 0) | (places % 1 != 0))
    audit.warn(bad_places, "invalid_places")
    out[s.HOME_PLACES] = places.where(~bad_places).astype("Int64")
    _locations(raw, out, audit, postcodes)
    out[s.STATUS] = np.where(audit.reason != "", s.REJECTED, "")
    out[s.REASON] = audit.reason
    out[s.DETAIL] = audit.detail
    out[s.WARNINGS] = audit.warnings
    return out
