"""Rates: are there proportionately more missing children in an area?

Two denominators, both optional:

- **looked-after places**: the registered places (beds) of the fostering households,
  residential children's homes and semi-independent homes of the homes register located in
  the area (``--homes``). An area with many homes has many looked-after children, and so more
  episodes; `episodes_per_place` takes that into account.
- **children aged 0-17**: a population file (``--population FILE``), a CSV or XLSX with one row
  per area: `area_code` (a ward code such as ``E05010921`` or a local authority district code
  such as ``E07000177``, as in the boundary set) and `population_0_17`. The usual source is the
  ONS mid-year population estimates (single year of age, by ward and by local authority
  district: add the ages 0 to 17). `episodes_per_10k` = episodes / population x 10,000.

Without a denominator the rate columns are present and blank: no rate is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geo import schema as s
from geo.errors import InputError

POPULATION_CODE = "area_code"
POPULATION_VALUE = "population_0_17"
CODE_ALIASES = (POPULATION_CODE, "ward_code", "lad_code", "code")
VALUE_ALIASES = (POPULATION_VALUE, "pop_0_17", "population_0_to_17", "children_0_17")
PER = 10_000
LOOKED_AFTER_HOME_TYPES = ("foster", "residential", "semi_independent")
NO_POPULATION_NOTE = "rates per 10,000 are not available without --population"
NO_HOMES_NOTE = "rates per looked-after place are not available without --homes"

RATE_COLUMNS = (
    "registered_homes", "registered_places", "episodes_per_place", "children_per_place",
    "population_0_17", "episodes_per_10k", "children_per_10k",
)  # fmt: skip
LEVEL_KEYS = {"lpa": s.LPA_NAME, "district": s.LAD_CODE, "ward": s.WARD_CODE}


@dataclass(frozen=True)
class Population:
    """Children aged 0-17 by area code, as read from a population file."""

    path: Path
    values: dict[str, int]
    rows: int


def read_population(path: Path, *, sheet: str | None = None) -> Population:
    """Read a population file: `area_code` and `population_0_17` (whole numbers >= 0).

    Raises
    ------
    InputError
        The file cannot be read, lacks either column, has a blank or repeated code, or a
        population that is not a whole number >= 0. The message names the file.
    """
    from geo.episodes import read_table

    table = read_table(path, sheet=sheet, what="population")
    frame = table.frame
    code_col = next((c for c in CODE_ALIASES if c in frame.columns), None)
    value_col = next((c for c in VALUE_ALIASES if c in frame.columns), None)
    missing = [
        name
        for name, col in ((POPULATION_CODE, code_col), (POPULATION_VALUE, value_col))
        if col is None
    ]
    if missing:
        found = ", ".join(table.original_headers.values())
        msg = (
            f"The population file {path} is missing the column(s) "
            f"{', '.join(f'`{c}`' for c in missing)}. It needs `{POPULATION_CODE}` (a ward or "
            f"local authority district code, e.g. E05010921 or E07000177) and "
            f"`{POPULATION_VALUE}` (children aged 0-17, e.g. from the ONS mid-year population "
            f"estimates). Columns found: {found}."
        )
        raise InputError(msg, path=path)
    assert code_col is not None and value_col is not None
    codes = frame[code_col].astype(str).str.strip().str.upper()
    text = frame[value_col].astype(str).str.strip().str.replace(",", "", regex=False)
    values = pd.to_numeric(text, errors="coerce")
    rows = frame[s.ROW_NUMBER].astype(str)
    problems = [
        (codes == "", f"a blank `{POPULATION_CODE}`"),
        (codes.duplicated() & (codes != ""), f"a repeated `{POPULATION_CODE}`"),
        (values.isna() | (values < 0) | (values % 1 != 0),
         f"a `{POPULATION_VALUE}` that is not a whole number >= 0"),
    ]  # fmt: skip
    for mask, what in problems:
        if mask.any():
            where = ", ".join(rows[mask].head(5))
            msg = f"The population file {path} has {what} in row(s) {where}."
            raise InputError(msg, path=path)
    return Population(
        path=Path(path),
        values=dict(zip(codes, values.astype("int64").tolist(), strict=True)),
        rows=len(frame),
    )


@dataclass(frozen=True)
class AreaPopulation:
    """Population 0-17 per area of each level (NaN where unknown), and what was matched."""

    by_level: dict[str, pd.Series]  # level -> population indexed by the level's key
    total: float
    notes: tuple[str, ...]


def population_by_area(population: Population, wards: pd.DataFrame) -> AreaPopulation:
    """Match a population file to the boundary set's wards and districts.

    Ward rows give the wards; district rows give the districts (a district without its own
    row gets the sum of its wards when every one of them is given); an LPA gets the sum of
    its districts when every one is known, the whole area the sum of its LPAs likewise.

    Raises
    ------
    InputError
        No code of the file is a ward or district code of the boundary set.
    """
    areas = wards[[s.WARD_CODE, s.LAD_CODE, s.LPA_NAME]].astype(str).drop_duplicates(s.WARD_CODE)
    ward_codes = set(areas[s.WARD_CODE].str.upper())
    lad_codes = set(areas[s.LAD_CODE].str.upper())
    given = pd.Series(population.values, dtype="float64")
    matched_wards = given[given.index.isin(ward_codes)]
    matched_lads = given[given.index.isin(lad_codes)]
    unknown = sorted(set(given.index) - ward_codes - lad_codes)
    if matched_wards.empty and matched_lads.empty:
        example = ", ".join(sorted(ward_codes)[:1] + sorted(lad_codes)[:1])
        msg = (
            f"None of the {len(given)} area codes in the population file {population.path} is a "
            f"ward or district code of the boundary set (e.g. {example}); found e.g. "
            f"{', '.join(unknown[:3])}."
        )
        raise InputError(msg, path=population.path)
    upper = areas.assign(_w=areas[s.WARD_CODE].str.upper(), _d=areas[s.LAD_CODE].str.upper())
    ward_pop = pd.Series(
        upper["_w"].map(matched_wards).to_numpy(), index=upper[s.WARD_CODE].to_numpy()
    )
    from_wards = (
        upper.assign(p=upper["_w"].map(matched_wards))
        .groupby(s.LAD_CODE)["p"]
        .agg(lambda p: p.sum() if p.notna().all() else np.nan)
    )
    lad_index = upper.drop_duplicates(s.LAD_CODE).set_index(s.LAD_CODE)
    district_pop = lad_index["_d"].map(matched_lads).fillna(from_wards)
    lpa_of_lad = lad_index[s.LPA_NAME]
    lpa_pop = (
        pd.DataFrame({"p": district_pop, s.LPA_NAME: lpa_of_lad})
        .groupby(s.LPA_NAME)["p"]
        .agg(lambda p: p.sum() if p.notna().all() else np.nan)
    )
    total = float(lpa_pop.sum()) if lpa_pop.notna().all() else float("nan")
    notes = [
        f"population 0-17 from {population.path.name}: {int(ward_pop.notna().sum())} of "
        f"{len(ward_pop)} wards, {int(district_pop.notna().sum())} of {len(district_pop)} "
        f"districts, {int(lpa_pop.notna().sum())} of {len(lpa_pop)} LPAs"
    ]
    if unknown:
        notes.append(
            f"{len(unknown)} area code(s) of {population.path.name} are neither ward nor "
            f"district codes of the boundary set and were ignored (e.g. "
            f"{', '.join(unknown[:3])})"
        )
    return AreaPopulation(
        by_level={"ward": ward_pop, "district": district_pop, "lpa": lpa_pop},
        total=total,
        notes=tuple(notes),
    )


def places_by_area(homes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Registered looked-after homes and places per area of each level (and ``"all"``).

    Counts the homes of the register mapped inside the area whose type is foster,
    residential or semi-independent; a home with no `places` counts as a home, not a place.
    """
    usable = homes[
        (homes[s.STATUS] == s.MAPPED) & homes[s.HOME_TYPE].isin(LOOKED_AFTER_HOME_TYPES)
    ]
    places = usable[s.HOME_PLACES].astype("Float64").fillna(0)
    frame = pd.DataFrame(
        {
            **{key: usable[key].astype(str) for key in LEVEL_KEYS.values()},
            "registered_homes": 1,
            "registered_places": places.astype("float64"),
            "_all": "all",
        }
    )
    out = {
        level: frame.groupby(key)[["registered_homes", "registered_places"]].sum()
        for level, key in LEVEL_KEYS.items()
    }
    out["all"] = frame.groupby("_all")[["registered_homes", "registered_places"]].sum()
    return out


def add_rates(
    table: pd.DataFrame,
    key: str | None,
    level: str,
    places: dict[str, pd.DataFrame] | None,
    population: AreaPopulation | None,
) -> pd.DataFrame:
    """Add `RATE_COLUMNS` to a locality table (`key` None: the one-row totals table).

    Areas with no registered place or no known population get blank rates; without a
    register or a population file the columns are blank throughout.
    """
    out = table.copy()
    keys = out[key].astype(str) if key is not None else pd.Series("all", index=out.index)
    n = len(out)
    if places is not None:
        by_area = places["all" if key is None else level]
        homes_n = keys.map(by_area["registered_homes"]).fillna(0).to_numpy(dtype=float)
        places_n = keys.map(by_area["registered_places"]).fillna(0).to_numpy(dtype=float)
    else:
        homes_n = np.full(n, np.nan)
        places_n = np.full(n, np.nan)
    out["registered_homes"] = pd.array(_whole(homes_n), dtype="Int64")
    out["registered_places"] = pd.array(_whole(places_n), dtype="Int64")
    out["episodes_per_place"] = _rate(out["episodes"], places_n, 1)
    out["children_per_place"] = _rate(out["children"], places_n, 1)
    if population is not None:
        if key is None:
            pop = np.full(n, population.total)
        else:
            pop = keys.map(population.by_level[level]).to_numpy(dtype=float)
    else:
        pop = np.full(n, np.nan)
    out["population_0_17"] = pd.array(_whole(pop), dtype="Int64")
    out["episodes_per_10k"] = _rate(out["episodes"], pop, PER)
    out["children_per_10k"] = _rate(out["children"], pop, PER)
    return out


def _whole(values: np.ndarray) -> list[int | None]:
    return [None if np.isnan(v) else round(v) for v in values]


def _rate(num: pd.Series, den: np.ndarray, per: int) -> np.ndarray:
    numer = num.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.where(den > 0, numer * per / np.where(den > 0, den, 1), np.nan), 2)
