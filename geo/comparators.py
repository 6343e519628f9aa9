"""Comparison with published figures: the host against its statistical neighbours, region, England.

The analyst supplies the published figures (e.g. from DfE's Explore Education Statistics or a
police force's returns) as a small CSV or XLSX, one row per local authority and period; the
host's own figures come from this analysis (`host_figures`). Three measures are compared:

- `children_missing_rate_per_10k`: children who went missing per 10,000 children aged 0-17
  (or `children_missing` and `population_0_17`, from which it is computed);
- `incidents_per_child`: missing episodes (incidents) per child who went missing (or
  `incidents` and `children_missing`);
- `share_2plus`: the share of those children with 2 or more episodes, a proportion 0-1 (``42%``
  is read as 0.42; or `children_2plus` and `children_missing`).

Means over neighbours or a region are simple (unweighted) means of the authorities' figures,
as in DfE's statistical-neighbour averages; a blank or suppressed figure (``c``, ``z``, ``x``,
``k``, ``:``, ``..``) is left out of that measure's mean. docs/evidence.md has the file layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from geo import schema as s
from geo.episodes import read_table
from geo.errors import InputError, ParameterError

ENGLAND_CODE = "E92000001"
MEASURES = ("children_missing_rate_per_10k", "incidents_per_child", "share_2plus")
# each measure: the column itself, or the columns it is computed from
MEASURE_SOURCES: dict[str, tuple[str, ...]] = {
    "children_missing_rate_per_10k": ("children_missing", "population_0_17"),
    "incidents_per_child": ("incidents", "children_missing"),
    "share_2plus": ("children_2plus", "children_missing"),
}
BENCHMARK_KEYS = ("la_code", "la_name", "period")
NEIGHBOUR_COLUMNS = ("la_code", "neighbour_code", "rank")
COMPARISON_COLUMNS = (
    "comparator", "label", "la_code", "period", "n_las", *MEASURES, "note",
)  # fmt: skip
COMPARATORS = ("host", "host_published", "statistical_neighbours", "region", "england")
_SUPPRESSED = frozenset({"", "c", "z", "x", "k", "u", "low", ":", "..", "-", "*", "n/a", "na"})
_TRUE = frozenset({"y", "yes", "true", "1", "x", "region"})
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


# --- reading ------------------------------------------------------------------------------------


def _expected_benchmark_columns() -> str:
    options = "; ".join(
        f"`{m}` (or {' + '.join(f'`{c}`' for c in MEASURE_SOURCES[m])})" for m in MEASURES
    )
    return (
        "Expected columns: `la_code`, `la_name`, `period`, and the measures " + options + ". "
        "Optional: `region` (yes for the authorities of the host's region), `region_code`, "
        "`neighbour_of` (the host's code on its statistical neighbours)."
    )


def read_benchmarks(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read a file of published local-authority figures.

    Parameters
    ----------
    path
        CSV (any encoding or delimiter the episodes reader accepts) or XLSX.
    sheet
        Worksheet of an XLSX file (default: the first).

    Returns
    -------
    pandas.DataFrame
        `la_code` (upper case), `la_name`, `period`, the three `MEASURES` as floats (computed
        from their source columns where the measure column is absent or blank), the source
        columns present, `region` (bool), `region_code` and `neighbour_of` (text, blank if
        absent), and `row_number` (the spreadsheet row).

    Raises
    ------
    InputError
        The file is unreadable or empty, lacks `la_code`/`la_name`/`period` or the columns of
        a measure (the message names the file and the missing columns and lists the expected
        ones), holds a value that is not a number or a suppression symbol, a share above 1
        written without ``%``, or the same `la_code` twice for one period.
    """
    table = read_table(path, sheet=sheet, what="benchmarks")
    frame = table.frame
    cols = set(frame.columns)
    missing = [f"`{c}`" for c in BENCHMARK_KEYS if c not in cols]
    for measure in MEASURES:
        sources = MEASURE_SOURCES[measure]
        if measure not in cols and not all(c in cols for c in sources):
            lacking = [c for c in sources if c not in cols]
            missing.append(
                f"`{measure}` (or {' + '.join(sources)}: lacks {', '.join(lacking)})"
            )
    if missing:
        found = ", ".join(repr(h.strip()) for h in table.original_headers.values()) or "(none)"
        msg = (
            f"The benchmarks file {table.path} is missing the column(s) "
            f"{'; '.join(missing)}. {_expected_benchmark_columns()} Columns found: {found}. "
            "Headers are matched ignoring case, spaces and '-'."
        )
        raise InputError(msg, path=table.path)
    if frame.empty:
        msg = f"The benchmarks file {table.path} has a header row but no data rows."
        raise InputError(msg, path=table.path)

    out = pd.DataFrame(
        {
            "la_code": frame["la_code"].str.strip().str.upper(),
            "la_name": frame["la_name"].str.strip(),
            "period": frame["period"].str.strip(),
        }
    )
    numbers = {
        c: _numbers(frame, c, table.path, share=c == "share_2plus")
        for c in dict.fromkeys((*MEASURES, *(c for src in MEASURE_SOURCES.values() for c in src)))
        if c in cols
    }
    for measure in MEASURES:
        direct = numbers.get(measure, pd.Series(np.nan, index=frame.index))
        a, b = MEASURE_SOURCES[measure]
        if a in numbers and b in numbers:
            with np.errstate(divide="ignore", invalid="ignore"):
                derived = numbers[a] / numbers[b].where(numbers[b] > 0)
            if measure == "children_missing_rate_per_10k":
                derived = derived * 10_000
            direct = direct.fillna(derived)
        out[measure] = direct.astype(float)
    for col, values in numbers.items():
        if col not in MEASURES:
            out[col] = values
    out["region"] = (
        frame["region"].str.strip().str.lower().isin(_TRUE)
        if "region" in cols
        else pd.Series(False, index=frame.index)
    )
    for col in ("region_code", "neighbour_of"):
        out[col] = frame[col].str.strip().str.upper() if col in cols else ""
    out[s.ROW_NUMBER] = frame[s.ROW_NUMBER].to_numpy()
    blank = out["la_code"] == ""
    if blank.any():
        row = int(out.loc[blank, s.ROW_NUMBER].iloc[0])
        msg = f"The benchmarks file {table.path}: row {row} has no `la_code`."
        raise InputError(msg, path=table.path)
    dup = out.duplicated(["la_code", "period"], keep="first")
    if dup.any():
        first = out[dup].iloc[0]
        msg = (
            f"The benchmarks file {table.path}: `la_code` {first['la_code']} appears more than "
            f"once for period {first['period']!r} (row {int(first[s.ROW_NUMBER])}). Keep one "
            "row per authority and period."
        )
        raise InputError(msg, path=table.path)
    return out.reset_index(drop=True)


def read_neighbours(path: str | Path, *, sheet: str | None = None) -> pd.DataFrame:
    """Read a statistical-neighbours file: `la_code`, `neighbour_code` and optional `rank`.

    Returns
    -------
    pandas.DataFrame
        `la_code`, `neighbour_code` (upper case) and `rank` (int; without a `rank` column, the
        order of the file within each `la_code`, from 1).

    Raises
    ------
    InputError
        The file is unreadable, empty or lacks `la_code` / `neighbour_code`, or a rank is not a
        whole number.
    """
    table = read_table(path, sheet=sheet, what="neighbours")
    frame = table.frame
    missing = [c for c in NEIGHBOUR_COLUMNS[:2] if c not in frame.columns]
    if missing:
        found = ", ".join(repr(h.strip()) for h in table.original_headers.values()) or "(none)"
        msg = (
            f"The neighbours file {table.path} is missing the column(s) "
            f"{', '.join(f'`{c}`' for c in missing)}. Expected columns: `la_code`, "
            f"`neighbour_code` and optionally `rank` (1 = closest). Columns found: {found}."
        )
        raise InputError(msg, path=table.path)
    if frame.empty:
        msg = f"The neighbours file {table.path} has a header row but no data rows."
        raise InputError(msg, path=table.path)
    out = pd.DataFrame(
        {
            "la_code": frame["la_code"].str.strip().str.upper(),
            "neighbour_code": frame["neighbour_code"].str.strip().str.upper(),
        }
    )
    if "rank" in frame.columns:
        rank = pd.to_numeric(frame["rank"].str.strip(), errors="coerce")
        bad = rank.isna() | (rank % 1 != 0)
        if bad.any():
            row = int(frame.loc[bad, s.ROW_NUMBER].iloc[0])
            msg = (
                f"The neighbours file {table.path}: `rank` in row {row} is "
                f"{frame.loc[bad, 'rank'].iloc[0]!r}, not a whole number."
            )
            raise InputError(msg, path=table.path)
        out["rank"] = rank.astype(np.int64)
    else:
        out["rank"] = out.groupby("la_code").cumcount() + 1
    out = out[(out["la_code"] != "") & (out["neighbour_code"] != "")]
    return out.sort_values(["la_code", "rank"], kind="stable").reset_index(drop=True)


def _numbers(frame: pd.DataFrame, column: str, path: Path, *, share: bool) -> pd.Series:
    text = frame[column].fillna("").astype(str).str.strip()
    percent = text.str.endswith("%")
    clean = text.str.rstrip("%").str.strip().str.replace(",", "", regex=False)
    suppressed = clean.str.lower().isin(_SUPPRESSED)
    good = clean.str.match(_NUMBER)
    bad = ~suppressed & ~good
    if bad.any():
        row = int(frame.loc[bad, s.ROW_NUMBER].iloc[0])
        msg = (
            f"The benchmarks file {path}: `{column}` in row {row} is "
            f"{text[bad].iloc[0]!r}, not a number (blank or a suppression symbol such as c, "
            "z, x, k, : is read as not available)."
        )
        raise InputError(msg, path=path)
    values = pd.to_numeric(clean.where(good), errors="coerce").astype(float)
    if share:
        values = values.where(~percent, values / 100)
        over = (values > 1) & ~percent
        if over.any():
            row = int(frame.loc[over, s.ROW_NUMBER].iloc[0])
            msg = (
                f"The benchmarks file {path}: `share_2plus` in row {row} is "
                f"{text[over].iloc[0]!r}: a share is a proportion from 0 to 1 (write 0.42, "
                "or 42%)."
            )
            raise InputError(msg, path=path)
    elif percent.any():
        row = int(frame.loc[percent, s.ROW_NUMBER].iloc[0])
        msg = f"The benchmarks file {path}: `{column}` in row {row} is a percentage."
        raise InputError(msg, path=path)
    return values


# --- the host's own figures ---------------------------------------------------------------------


def host_figures(
    episodes: pd.DataFrame,
    *,
    population_0_17: float | None = None,
    basis: Literal["in_area", "host_children"] = "in_area",
    child_codes: np.ndarray | None = None,
) -> dict[str, float]:
    """The three measures for the host, from the episodes of this analysis.

    Parameters
    ----------
    episodes
        Episodes with `child_id` (and `status`, `placed_by_other_la`), e.g.
        `AnalysisResult.episodes`. Rejected rows are never counted.
    population_0_17
        Children aged 0-17 living in the area (e.g. ONS mid-year estimates); without it the
        rate per 10,000 is NaN.
    basis
        ``"in_area"`` (default): every episode located in the area (``mapped``), whoever placed
        the child, as a police force counts. ``"host_children"``: the host's own children
        (`placed_by_other_la` ``host``) wherever they went missing (``mapped`` or
        ``outside_area``), closer to DfE's figures for the children an authority looks after.
    child_codes
        Optional, to save hashing the child ids again on a large input: the codes of
        ``episodes["child_id"].astype(str)`` by `pandas.factorize`, one per row of `episodes`.

    Returns
    -------
    dict
        `children_missing`, `incidents`, `children_2plus`, `population_0_17` and the three
        `MEASURES`.
    """
    if population_0_17 is not None and not (
        isinstance(population_0_17, int | float)
        and not isinstance(population_0_17, bool)
        and math.isfinite(population_0_17)
        and population_0_17 > 0
    ):
        msg = f"`population_0_17` must be a number above 0. Got {population_0_17!r} instead."
        raise ParameterError(msg)
    if basis not in ("in_area", "host_children"):
        msg = f"`basis` must be 'in_area' or 'host_children'. Got {basis!r} instead."
        raise ParameterError(msg)
    keep = np.ones(len(episodes), dtype=bool)
    if basis == "in_area":
        if s.STATUS in episodes.columns:
            keep &= (episodes[s.STATUS] == s.MAPPED).to_numpy()
    else:
        if s.STATUS in episodes.columns:
            keep &= episodes[s.STATUS].isin([s.MAPPED, s.OUTSIDE_AREA]).to_numpy()
        keep &= (episodes[s.PLACED_BY_OTHER_LA] == "host").to_numpy()
    if child_codes is None:
        codes = pd.factorize(episodes[s.CHILD_ID][keep].astype(str))[0]
    else:
        codes = np.asarray(child_codes)
        if codes.shape != (len(episodes),):
            msg = f"`child_codes` must hold one code per episode ({len(episodes):,})."
            raise ParameterError(msg)
        codes = codes[keep]
    per_child = np.bincount(codes[codes >= 0])  # episodes per child (-1: no child id)
    per_child = per_child[per_child > 0]
    children = len(per_child)
    incidents = int(per_child.sum())
    two_plus = int((per_child >= 2).sum())
    nan = float("nan")
    return {
        "children_missing": float(children),
        "incidents": float(incidents),
        "children_2plus": float(two_plus),
        "population_0_17": float(population_0_17) if population_0_17 else nan,
        "children_missing_rate_per_10k": (
            children / population_0_17 * 10_000 if population_0_17 else nan
        ),
        "incidents_per_child": incidents / children if children else nan,
        "share_2plus": two_plus / children if children else nan,
    }


# --- the comparison -----------------------------------------------------------------------------


def compare_with_benchmarks(
    host_code: str,
    host_figures: Mapping[str, float],
    benchmarks: pd.DataFrame,
    neighbours: pd.DataFrame | None = None,
    *,
    region_codes: Iterable[str] | None = None,
    period: str | None = None,
    max_neighbours: int | None = None,
    host_label: str | None = None,
) -> pd.DataFrame:
    """The host's figures beside its statistical neighbours, its region and England.

    Parameters
    ----------
    host_code
        The host's ONS code (e.g. ``E10000025`` for Oxfordshire).
    host_figures
        Its measures from this analysis (`host_figures`); missing keys are NaN.
    benchmarks
        `read_benchmarks` output.
    neighbours
        `read_neighbours` output; ``None``: the benchmarks rows whose `neighbour_of` lists the
        host (several codes may be separated by ``;``).
    region_codes
        The authorities whose mean is the region row. Default: the benchmarks rows flagged
        `region`, else those sharing the host's `region_code`.
    period
        The period of the published figures to use. Default: the only one, or the latest
        (greatest in sort order: ``2020/21`` after ``2019/20``).
    max_neighbours
        Use only the closest N neighbours by rank (default: all listed).
    host_label
        Name of the host row (default: its `la_name` in the benchmarks, else the code).

    Returns
    -------
    pandas.DataFrame
        `COMPARISON_COLUMNS`, one row per comparator in the order ``host`` (this analysis),
        ``host_published`` (only when the host is in the benchmarks), ``statistical_neighbours``,
        ``region``, ``england``: `label`, `la_code` (the codes averaged, ``;``-separated),
        `period`, `n_las` (authorities averaged), the three measures and a `note` (what is
        missing, if anything). Rows that cannot be computed hold NaN and say why in `note`.
    """
    host = str(host_code).strip().upper()
    bench = benchmarks
    periods = sorted(bench["period"].astype(str).unique().tolist())
    if period is None:
        if not periods:
            msg = "The benchmarks hold no rows."
            raise ParameterError(msg)
        period = periods[-1]
    elif period not in periods:
        msg = f"Period {period!r} is not in the benchmarks (periods: {', '.join(periods)})."
        raise ParameterError(msg)
    rows_p = bench[bench["period"] == period]
    by_code = rows_p.set_index("la_code")
    host_row = by_code.loc[host] if host in by_code.index else None
    label = host_label or (str(host_row["la_name"]) if host_row is not None else host)

    rows: list[dict[str, object]] = []
    nan_values = {m: float("nan") for m in MEASURES}
    rows.append(
        {
            "comparator": "host",
            "label": label,
            "la_code": host,
            "period": "this analysis",
            "n_las": 1,
            **{m: _float(host_figures.get(m)) for m in MEASURES},
            "note": "" if math.isfinite(_float(host_figures.get(MEASURES[0])))
            else "no population given: rate per 10,000 not computed",
        }
    )
    if host_row is not None:
        rows.append(
            {
                "comparator": "host_published",
                "label": f"{host_row['la_name']} (published)",
                "la_code": host,
                "period": period,
                "n_las": 1,
                **{m: float(host_row[m]) for m in MEASURES},
                "note": "",
            }
        )

    # statistical neighbours
    if neighbours is not None:
        listed = neighbours[neighbours["la_code"] == host].sort_values("rank", kind="stable")
        codes = listed["neighbour_code"].tolist()
        source = "neighbours file"
    else:
        lists = rows_p["neighbour_of"].fillna("").astype(str).str.split(r"[;|,]\s*")
        codes = rows_p.loc[lists.map(lambda xs: host in [x.strip() for x in xs]), "la_code"]
        codes = codes.tolist()
        source = "`neighbour_of` column"
    if max_neighbours is not None:
        codes = codes[:max_neighbours]
    rows.append(
        _mean_row("statistical_neighbours", "Statistical neighbours", codes, by_code, period,
                  nan_values, empty_note=f"no neighbours of {host} in the {source}")
    )  # fmt: skip

    # region
    if region_codes is not None:
        codes = [str(c).strip().upper() for c in region_codes]
        empty = "no region codes given"
    elif rows_p["region"].any():
        codes = rows_p.loc[rows_p["region"], "la_code"].tolist()
        empty = ""
    elif host_row is not None and str(host_row.get("region_code", "")):
        region = str(host_row["region_code"])
        codes = rows_p.loc[
            (rows_p["region_code"] == region) & (rows_p["la_code"] != ENGLAND_CODE), "la_code"
        ].tolist()
        empty = f"no authority with region_code {region}"
    else:
        codes = []
        empty = "no rows flagged `region` (nor a `region_code` for the host) in the benchmarks"
    rows.append(_mean_row("region", "Region", codes, by_code, period, nan_values, empty))

    # England
    england = rows_p[
        (rows_p["la_code"] == ENGLAND_CODE) | (rows_p["la_name"].str.casefold() == "england")
    ]
    if len(england):
        first = england.iloc[0]
        rows.append(
            {
                "comparator": "england",
                "label": "England",
                "la_code": str(first["la_code"]),
                "period": period,
                "n_las": 1,
                **{m: float(first[m]) for m in MEASURES},
                "note": "published figure",
            }
        )
    else:
        rows.append(
            {
                "comparator": "england", "label": "England", "la_code": ENGLAND_CODE,
                "period": period, "n_las": 0, **nan_values,
                "note": f"no row with code {ENGLAND_CODE} or name England for {period}",
            }
        )  # fmt: skip
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    out["n_las"] = out["n_las"].astype(np.int64)
    for measure in MEASURES:
        out[measure] = out[measure].astype(float).round(3)
    return out


def _mean_row(
    comparator: str,
    label: str,
    codes: list[str],
    by_code: pd.DataFrame,
    period: str,
    nan_values: dict[str, float],
    empty_note: str,
) -> dict[str, object]:
    codes = list(dict.fromkeys(codes))  # unique, order kept
    found = [c for c in codes if c in by_code.index]
    absent = [c for c in codes if c not in by_code.index]
    notes = []
    if absent:
        notes.append(
            f"{len(absent)} of {len(codes)} not in the benchmarks for {period}: "
            + ", ".join(absent)
        )
    if not found:
        return {
            "comparator": comparator, "label": label, "la_code": "", "period": period,
            "n_las": 0, **nan_values, "note": "; ".join(notes) or empty_note,
        }  # fmt: skip
    rows = by_code.loc[found]
    values = {m: float(rows[m].mean(skipna=True)) for m in MEASURES}
    blanks = {m: int(rows[m].isna().sum()) for m in MEASURES if rows[m].isna().any()}
    if blanks:
        notes.append(
            "not available (left out of the mean): "
            + ", ".join(f"{m} for {n}" for m, n in blanks.items())
        )
    return {
        "comparator": comparator,
        "label": f"{label} (mean of {len(found)})",
        "la_code": ";".join(found),
        "period": period,
        "n_las": len(found),
        **values,
        "note": "; ".join(notes),
    }


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
