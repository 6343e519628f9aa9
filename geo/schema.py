"""Column names, statuses, audit reasons and other constants shared by every module."""

from __future__ import annotations

from typing import Final

WGS84: Final = "EPSG:4326"
BNG: Final = "EPSG:27700"  # British National Grid, metres
NOISE: Final = -1

# --- episodes file (DATA-CONTRACT section 1) -------------------------------------------------
EPISODE_ID: Final = "episode_id"
CHILD_ID: Final = "child_id"
MISSING_FROM: Final = "missing_from"
RETURNED: Final = "returned"
LAT: Final = "lat"
LON: Final = "lon"
EASTING: Final = "easting"
NORTHING: Final = "northing"
POSTCODE: Final = "postcode"
SEX: Final = "sex"
AGE: Final = "age"
DOB: Final = "dob"
CARE_STATUS: Final = "care_status"
PLACEMENT_TYPE: Final = "placement_type"
HOME_ID: Final = "home_id"
PLACING_AUTHORITY: Final = "placing_authority"
PLACEMENT_LA: Final = "placement_la"
CATEGORY: Final = "category"
RISK: Final = "risk"
RHI_OFFERED: Final = "rhi_offered"
RHI_COMPLETED: Final = "rhi_completed"
CE_SCREENING: Final = "ce_screening"
FOUND_LAT: Final = "found_lat"
FOUND_LON: Final = "found_lon"
FOUND_POSTCODE: Final = "found_postcode"

REQUIRED_COLUMNS: Final = (EPISODE_ID, CHILD_ID, MISSING_FROM)
LOCATION_FORMS: Final = ((LAT, LON), (EASTING, NORTHING), (POSTCODE,))
KNOWN_COLUMNS: Final = (
    EPISODE_ID, CHILD_ID, MISSING_FROM, RETURNED, LAT, LON, EASTING, NORTHING, POSTCODE, SEX,
    AGE, DOB, CARE_STATUS, PLACEMENT_TYPE, HOME_ID, PLACING_AUTHORITY, PLACEMENT_LA, CATEGORY,
    RISK, RHI_OFFERED, RHI_COMPLETED, CE_SCREENING, FOUND_LAT, FOUND_LON, FOUND_POSTCODE,
)

# --- derived columns --------------------------------------------------------------------------
ROW_NUMBER: Final = "row_number"  # spreadsheet row of the record: the header is row 1
STATUS: Final = "status"
REASON: Final = "reason"
DETAIL: Final = "detail"
PRECISION: Final = "precision"
WARNINGS: Final = "warnings"
WARD_CODE: Final = "ward_code"
WARD_NAME: Final = "ward_name"
LAD_CODE: Final = "lad_code"
LAD_NAME: Final = "lad_name"
LPA_NAME: Final = "lpa_name"
HOTSPOT_ID: Final = "hotspot_id"
X: Final = "x"  # easting in metres (EPSG:27700)
Y: Final = "y"  # northing in metres (EPSG:27700)
AGE_BAND: Final = "age_band"
LOOKED_AFTER: Final = "looked_after"
PLACED_BY_OTHER_LA: Final = "placed_by_other_la"
DURATION_HOURS: Final = "duration_hours"

# --- statuses and reasons ---------------------------------------------------------------------
MAPPED: Final = "mapped"
REJECTED: Final = "rejected"
OUTSIDE_AREA: Final = "outside_area"
STATUSES: Final = (MAPPED, REJECTED, OUTSIDE_AREA)

# Rejection reasons, in the order they are checked (the first that applies is recorded).
REASONS: Final = {
    "missing_episode_id": "`episode_id` is blank",
    "duplicate_episode_id": "`episode_id` already used by an earlier row",
    "missing_child_id": "`child_id` is blank",
    "missing_date": "`missing_from` is blank",
    "invalid_date": "a date is not ISO (2020-01-31) or UK day-first (31/01/2020)",
    "returned_before_missing": "`returned` is before `missing_from`",
    "outside_period": "`missing_from` is outside the `--period` analysed",
    "invalid_coordinates": "coordinates out of range, partial, swapped or not numbers",
    "no_location": "no lat/lon, easting/northing or usable postcode",
    "postcode_not_found": "postcode not in the postcode lookup",
    "invalid_postcode": "postcode is not a UK postcode, sector or district",
    # from the SSDA903 return (Missing rows that cannot become an episode)
    "unknown_missing_code": "903 `MISSING` is not M (missing) or A (away from placement)",
    "unknown_child": "903 `CHILD` is not in the Header table",
    "duplicate_period": "903: same child, start and end as an earlier Missing row",
    "no_placement_in_force": "903: no placement of the child in force on `MIS_START`",
}
# 903 audit reasons that are the contract's reasons under another name
SSDA903_REASONS: Final = {"end_before_start": "returned_before_missing"}
OUTSIDE_REASON: Final = "outside_boundaries"

# Precision of a mapped location, most precise first.
PRECISIONS: Final = ("coordinates", "postcode", "sector", "district")
# Hotspots use only locations at least this precise (the rest are counted in areas only).
DEFAULT_HOTSPOT_PRECISION: Final = "postcode"

# --- normalised category values ---------------------------------------------------------------
SEXES: Final = ("male", "female", "unknown")
CARE_STATUSES: Final = ("looked_after", "child_in_need", "child_protection", "none", "unknown")
PLACEMENT_TYPES: Final = (
    "foster", "residential", "semi_independent", "family_home", "other", "unknown",
)
CATEGORIES: Final = ("missing", "absent", "unknown")
RISKS: Final = ("high", "medium", "low", "no_apparent_risk", "unknown")
AGE_BANDS: Final = ("under_11", "11_13", "14_16", "17_plus", "unknown")
HOME_TYPES: Final = ("foster", "residential", "semi_independent", "other")

# --- homes register (DATA-CONTRACT section 2) -------------------------------------------------
HOME_TYPE: Final = "type"
HOME_NAME: Final = "name"
HOME_PROVIDER: Final = "provider"
HOME_PLACES: Final = "places"

DEFAULT_HOST_AUTHORITY: Final = "Oxfordshire"
