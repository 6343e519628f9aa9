"""Writing the tables, the workbook and run.json (DATA-CONTRACT section 5), and what each
audience may see of them (`publish`).

Tables are written deterministically (fixed column order, sorted rows, fixed float format, the
workbook's timestamps pinned), so the same inputs and parameters give byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import schema as s
from geo.compare import CHANGE_MEASURES
from geo.homes import DRIVERS, HOME_MEASURES
from geo.pipeline import AnalysisResult
from geo.privacy import Audience, DisclosureError, hash_ids, snap_locations, wards_touched
from geo.sdc import SDC_RULES, SDC_THRESHOLDS, SUPPRESSED, apply_sdc, column_kind, sdc_tables
from geo.summary import CHILD_CODE, DURATION_BANDS, report_checks
from geo.xlsx import SheetSpec, write_workbook

EPISODE_COLUMNS = (
    s.ROW_NUMBER, s.EPISODE_ID, s.STATUS, s.REASON, s.PRECISION, s.LAT, s.LON, s.WARD_CODE,
    s.WARD_NAME, s.LAD_CODE, s.LAD_NAME, s.LPA_NAME, s.HOTSPOT_ID, s.HOME_ID,
)  # fmt: skip
AUDIT_COLUMNS = (s.ROW_NUMBER, s.EPISODE_ID, s.STATUS, s.REASON, s.DETAIL, s.WARNINGS)
HOME_COLUMNS = (
    s.ROW_NUMBER, s.HOME_ID, s.HOME_TYPE, s.HOME_PLACES, s.STATUS, s.REASON, s.PRECISION,
    s.WARD_CODE, s.WARD_NAME, s.LAD_NAME, s.LPA_NAME, s.HOTSPOT_ID,
    *HOME_MEASURES, "episodes_linked_by_id", "episodes_linked_by_location",
    "episodes_per_place", "children_per_place",
)  # fmt: skip
HOME_NAME_COLUMNS = (s.HOME_NAME, s.HOME_PROVIDER)  # only with show_home_names
PSEUDONYM_COLUMN = "child_pseudonym"  # last column of episodes.csv with a pseudonymisation key
# Summary sheets also written as tables/<name>.csv (the others are in tables.xlsx only).
CSV_SHEETS = (
    "localities_lpa", "localities_district", "localities_ward", "hotspots", "focus_lpa",
    "hotspots_gone", "homes",
)  # fmt: skip
_PINNED_TIME = dt.datetime(2000, 1, 1)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_plain_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table as UTF-8 CSV, the way every table of the output folder is written."""
    frame = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return _csv(frame, path)


def _csv(frame: pd.DataFrame, path: Path, float_format: str | None = None) -> Path:
    """Write `frame` as pandas' ``to_csv(index=False, lineterminator="\\n")`` would, byte for
    byte, in a third of its time on large tables: each column is made text once
    (`_csv_fields`), then the lines are joined (`_write_csv_fields`).

    pandas writes it when the fast writer cannot: a `float_format`, a file name pandas would
    compress (not ``.csv``), a column type `_csv_fields` does not convert, or a Python or
    pandas whose CSV differs from the fast writer's (`_fast_csv_agrees`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = None
    if float_format is None and path.suffix.lower() == ".csv" and _fast_csv_agrees():
        fields = _csv_fields(frame)
    if fields is None:
        frame.to_csv(
            path, index=False, lineterminator="\n", encoding="utf-8", float_format=float_format
        )
        return path
    with path.open("w", encoding="utf-8", newline="") as fh:
        _write_csv_fields(fh, *fields)
    return path


_CSV_CHUNK_ROWS = 5_000  # lines joined at a time: small enough to stay in the CPU cache


def _csv_fields(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]] | None:
    """The header and the columns of `frame` as the text pandas' ``to_csv`` writes for each
    field, quoted where needed; None when a column label is not a string or a column's type is
    not one `_csv_texts` converts."""
    labels = list(frame.columns)
    if not labels or not all(isinstance(label, str) for label in labels):
        return None
    columns = []
    for j in range(len(labels)):
        texts = _csv_texts(frame.iloc[:, j])
        if texts is None:
            return None
        columns.append(_csv_quoted(texts))
    header = _csv_quoted(labels)
    if len(labels) == 1:  # the csv module writes a record of one empty field as ""
        header = [v or '""' for v in header]
        columns = [[v or '""' for v in columns[0]]]
    return header, columns


def _csv_texts(values: pd.Series) -> list[str] | None:
    """Each value of a column as pandas' ``to_csv`` writes it, unquoted: what its
    ``_get_values_for_csv`` hands to the csv module, which writes ``str()`` of it; a missing
    value as "". None for dtypes it formats otherwise (datetimes, nullable floats, ...)."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        array = values.to_numpy()
        if dtype.kind in "iu":
            return list(map(str, array.tolist()))
        if dtype.kind == "b":
            return np.where(array, "True", "False").tolist()
        if dtype.kind == "f":
            return _csv_float_texts(array)
        if dtype.kind not in "Oc":
            return None  # datetimes and timedeltas: pandas formats them per chunk
        source: np.ndarray | pd.api.extensions.ExtensionArray = array
        objects = np.asarray(array, dtype=object)
    else:
        source = values.array
        if isinstance(dtype, pd.CategoricalDtype):
            if dtype.categories.dtype.kind in "Mm":
                return None
        elif not isinstance(dtype, pd.StringDtype) and not isinstance(
            source, pd.arrays.IntegerArray | pd.arrays.BooleanArray
        ):
            return None
        objects = np.asarray(source.astype(object))
    if pd.api.types.infer_dtype(objects, skipna=False) == "string":
        return objects.tolist()  # text only, so nothing missing
    objects = np.where(np.asarray(pd.isna(source)), "", objects)
    return [v if isinstance(v, str) else str(v) for v in objects.tolist()]


def _csv_float_texts(array: np.ndarray) -> list[str]:
    """Floats as pandas writes them (``astype(str)``; NaN as ""), each distinct value formatted
    once. Distinct by bit pattern: 0.0 and -0.0 are written differently."""
    array = np.ascontiguousarray(array)
    bits = array.view(f"i{array.dtype.itemsize}")
    codes, unique_bits = pd.factorize(bits)
    uniques = unique_bits.view(array.dtype)
    if array.dtype == np.float64:  # repr is numpy's float64 str, and 4 times faster
        texts = [repr(v) for v in uniques.tolist()]
    else:
        texts = uniques.astype(str).tolist()
    table = np.array([*texts, ""], dtype=object)
    table[:-1][np.isnan(uniques)] = ""
    return table[codes].tolist()


def _csv_quoted(texts: list[str]) -> list[str]:
    """`texts` quoted as the csv module quotes them (QUOTE_MINIMAL): a field holding one of
    `_csv_quote_chars` in double quotes, its own double quotes doubled."""
    chars = _csv_quote_chars()
    joined = "".join(texts)
    if not any(c in joined for c in chars):
        return texts
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    quoted = np.array(
        [
            '"' + u.replace('"', '""') + '"' if any(c in u for c in chars) else u
            for u in uniques.tolist()
        ],
        dtype=object,
    )
    return quoted[codes].tolist()


@functools.cache
def _csv_quote_chars() -> str:
    """The characters that make the csv module (as pandas uses it: "," and "\\n") quote a
    field: the delimiter, the quote, "\\n", and "\\r" on Python versions that quote it too."""
    chars = ""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for c in ',"\n\r':
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([c, ""])
        if buffer.getvalue() != c + ",\n":
            chars += c
    return chars


def _write_csv_fields(fh: TextIO, header: list[str], columns: list[list[str]]) -> None:
    """Write quoted fields as CSV lines ("," and "\\n"), `_CSV_CHUNK_ROWS` lines at a time."""
    fh.write(",".join(header) + "\n")
    rows = len(columns[0])
    for start in range(0, rows, _CSV_CHUNK_ROWS):
        chunk = [c[start:start + _CSV_CHUNK_ROWS] for c in columns]
        fh.write("\n".join(map(",".join, zip(*chunk, strict=False))) + "\n")


@functools.cache
def _fast_csv_agrees() -> bool:
    """Whether the fast writer writes awkward tables exactly as this pandas and Python do
    (checked once per process): if either ever changes how it writes CSV, pandas writes."""
    nan = float("nan")
    probe = pd.DataFrame({
        "text": pd.Series(["a,b", 'say "hi"', "two\nlines", "cr\rhere", " pad ", "", None,
                           "é ✓ 中"], dtype=object),
        "str": pd.Series(["x", None, "", "a,b", 'q"', "\t", "y", "z"]),
        "int": np.arange(-3, 5, dtype=np.int64) * 10**15,
        "Int64": pd.array([1, None, 3, 4, None, 6, 7, 8], dtype="Int64"),
        "float": [0.1, 1e-05, 1e16, -0.0, nan, 2.5, 123456789.125, float("inf")],
        "float32": np.array([0.1, nan, 1e-05, -0.0, 3.25, 1e20, 7.0, 0.3], dtype=np.float32),
        "bool": [True, False] * 4,
        "category": pd.Categorical(["a", "b,c", None, "a", "d", "d", "a", "b,c"]),
        "mixed": pd.Series([1, "c", 2.5, None, np.float64(0.5), True, pd.NA, nan],
                           dtype=object),
    })  # fmt: skip
    lone = pd.DataFrame({"only": ["", None, "x", "a,b"]})
    for frame in (probe, lone):
        fields = _csv_fields(frame)
        if fields is None:
            return False
        fast = io.StringIO()
        _write_csv_fields(fast, *fields)
        if fast.getvalue() != frame.to_csv(None, index=False, lineterminator="\n"):
            return False
    return True


def episodes_table(result: AnalysisResult, *, pseudonym_key: bytes | None = None) -> pd.DataFrame:
    """The per-episode table: exactly the contract's columns, input order; with
    `pseudonym_key`, then `child_pseudonym` (`geo.privacy.hash_ids` of the child id). The child
    id itself is never in it."""
    table = result.episodes[list(EPISODE_COLUMNS)]
    if pseudonym_key is None:
        return table
    codes = (result.episodes[CHILD_CODE].to_numpy()
             if CHILD_CODE in result.episodes.columns else None)
    if codes is not None and len(codes) and codes.min() < 0:  # a missing id: hash by value
        codes = None
    return table.assign(**{PSEUDONYM_COLUMN: hash_ids(result.episodes[s.CHILD_ID],
                                                      pseudonym_key, codes=codes)})


def audit_table(result: AnalysisResult) -> pd.DataFrame:
    """Rows that were not mapped, or were mapped with warnings, with the reason in words."""
    ep = result.episodes
    keep = (ep[s.STATUS] != s.MAPPED) | (ep[s.WARNINGS] != "")
    return ep.loc[keep, list(AUDIT_COLUMNS)].reset_index(drop=True)


def homes_table(result: AnalysisResult, *, show_home_names: bool = False) -> pd.DataFrame | None:
    """Per home: type, places, area, hotspot, and the episodes and children linked to it.

    Names and providers are left out unless `show_home_names` is set: a home's name can
    identify a children's home whose address is not published.
    """
    if result.homes is None:
        return None
    columns = [*HOME_COLUMNS, *(HOME_NAME_COLUMNS if show_home_names else ())]
    return result.homes[columns].reset_index(drop=True)


def hotspots_table(result: AnalysisResult) -> pd.DataFrame:
    """The hotspot table without geometry."""
    return pd.DataFrame(result.hotspots.drop(columns="geometry"))


def hotspots_gone_table(result: AnalysisResult) -> pd.DataFrame | None:
    """The comparison period's hotspots with no current hotspot near them (None: no
    comparison)."""
    if result.comparison is None:
        return None
    gone = result.comparison.gone
    return pd.DataFrame(gone.drop(columns="geometry")).reset_index(drop=True)


def report_checks_table(result: AnalysisResult) -> pd.DataFrame:
    """The committee report's claims checked against the totals."""
    checks = result.info.get("report_checks") or []
    assert isinstance(checks, list)
    frame = pd.DataFrame(checks, columns=["claim", "measure", "value", "holds"])
    frame["holds"] = frame["holds"].map({True: "yes", False: "no"}).fillna("cannot tell")
    return frame


def summary_tables(
    result: AnalysisResult, *, show_home_names: bool = False
) -> dict[str, pd.DataFrame]:
    """The tables that go into tables.xlsx, by sheet name (the README sheet is added by
    `write_xlsx`)."""
    sheets = {
        "localities_lpa": result.localities["lpa"],
        "localities_district": result.localities["district"],
        "localities_ward": result.localities["ward"],
    }
    if result.focus_lpa is not None:
        sheets["focus_lpa"] = result.focus_lpa
    sheets["totals"] = result.totals
    sheets["hotspots"] = hotspots_table(result)
    gone = hotspots_gone_table(result)
    if gone is not None:
        sheets["hotspots_gone"] = gone
    homes = homes_table(result, show_home_names=show_home_names)
    if homes is not None:
        sheets["homes"] = homes
    sheets["report_checks"] = report_checks_table(result)
    reasons = result.counts["rejected_by_reason"]
    assert isinstance(reasons, dict)
    sheets["audit_summary"] = pd.DataFrame(
        [
            {"status": s.MAPPED, "reason": "", "rows": result.counts["mapped"]},
            *(
                {"status": s.REJECTED, "reason": k, "rows": v}
                for k, v in sorted(reasons.items())
            ),
            {"status": s.OUTSIDE_AREA, "reason": s.OUTSIDE_REASON,
             "rows": result.counts["outside_area"]},
            {"status": "read", "reason": "", "rows": result.counts["read"]},
        ]
    )
    return sheets


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame], path: Path, *, readme: bool = True
) -> Path:
    """Write one sheet per table (`geo.xlsx.write_workbook`), for people: a README sheet first
    (every column of every sheet described, its text wrapped), the header bold and frozen,
    column widths fitted, integers with thousands separators, shares as percentages.

    The workbook is byte-identical for the same tables: its document dates are pinned
    (2000-01-01, creator "hotspots") and so are the dates of its zip entries.
    """
    if readme:
        sheets = {"README": readme_table(sheets), **sheets}
    specs = []
    for name, frame in sheets.items():
        columns = [(str(label), frame.iloc[:, j]) for j, label in enumerate(frame.columns)]
        specs.append(SheetSpec(
            name=name,
            frame=frame,
            number_formats=[number_format(label, values) for label, values in columns],
            widths=[_width(label, values) for label, values in columns],
            wrap=name == "README",
        ))  # fmt: skip
    return write_workbook(specs, path, creator="hotspots", created=_PINNED_TIME)


_RATIO_SUFFIXES = ("_per_child", "_per_place", "_per_10k", "area_ha")


def number_format(column: str, values: pd.Series) -> str | None:
    """The Excel number format of a column: shares as %, counts with thousands separators."""
    kind = values.dtype.kind if not isinstance(values.dtype, pd.CategoricalDtype) else "O"
    if column.endswith("_share"):
        return "0.0%"
    if column in (s.ROW_NUMBER, s.HOME_PLACES, "population_0_17") and kind in "iuf":
        return "0" if column != "population_0_17" else "#,##0"
    if kind in "iu" or str(values.dtype) in ("Int64", "Int32"):
        return "#,##0"
    if kind == "f":
        if column in (s.LAT, s.LON, "centroid_lat", "centroid_lon"):
            return "0.00000"
        if column.endswith(_RATIO_SUFFIXES):
            return "0.00"
        return "0.000"
    return None


def _width(column: str, values: pd.Series) -> float:
    """The width of a column in characters: its longest value among the first 2,000 rows, or
    its name, plus 2; from 8 to 40 (60 for descriptions)."""
    sample = values.head(2000).to_numpy(dtype=object).tolist()
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iufb":
        shown = [v for v in sample if v == v]  # NaN: an empty cell
    else:
        shown = [v for v in sample if _excel_value(v) is not None]
    longest = max(map(len, map(str, shown)), default=0)
    return float(max(8, min(60 if column == "description" else 40, max(len(column), longest) + 2)))


def _excel_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()  # numpy scalar -> Python
    return value


def write_tables(
    result: AnalysisResult,
    out_dir: Path,
    *,
    show_home_names: bool = False,
    sheets: Mapping[str, pd.DataFrame] | None = None,
    row_level: bool = True,
    pseudonym_key: bytes | None = None,
) -> dict[str, Path]:
    """Write tables/*.csv and tables.xlsx; return the paths by name.

    `sheets`: the summary tables to write (default `summary_tables`; `publish` gives them as
    an audience may see them). `row_level`: write tables/episodes.csv and tables/audit.csv
    (a public output has neither). `pseudonym_key`: add `child_pseudonym` to episodes.csv.
    Home names and providers go into homes.csv and the workbook only with `show_home_names`.
    """
    tables = out_dir / "tables"
    if sheets is None:
        sheets = summary_tables(result, show_home_names=show_home_names)
    paths: dict[str, Path] = {}
    if row_level:
        # lat/lon are already rounded to 6 decimals; blank when missing
        paths["episodes"] = _csv(episodes_table(result, pseudonym_key=pseudonym_key),
                                 tables / "episodes.csv")
        paths["audit"] = _csv(audit_table(result), tables / "audit.csv")
    for name in CSV_SHEETS:
        if name in sheets:
            paths[name] = _csv(sheets[name], tables / f"{name}.csv")
    paths["xlsx"] = write_xlsx(sheets, out_dir / "tables.xlsx")
    return paths


def write_run_json(
    result: AnalysisResult,
    path: Path,
    *,
    inputs: list[dict[str, object]],
    boundaries: Mapping[str, object],
    outputs: Mapping[str, Path],
    version: str,
    extra: Mapping[str, object] | None = None,
    counts: Mapping[str, object] | None = None,
) -> Path:
    """Write run.json: parameters, input checksums, counts, versions, boundary vintage.

    `counts`: the counts as published (`Publication.counts`; default ``result.counts``).
    Nothing in it depends on the time or the place of the run except `run_at` (timings are
    not written: ``hotspots run --verbose`` prints them), so two runs of the same inputs and
    options give the same file but for that line.
    """
    config = result.config
    counts = dict(result.counts if counts is None else counts)
    exact = all(isinstance(counts.get(k), int) for k in ("read", "mapped", "rejected",
                                                         "outside_area"))
    conservation = (
        f"read {counts['read']} = mapped {counts['mapped']} + rejected "
        f"{counts['rejected']} + outside_area {counts['outside_area']}"
        if exact and counts["read"] == counts["mapped"] + counts["rejected"]
        + counts["outside_area"] else
        "read = mapped + rejected + outside_area: checked on the exact counts ("
        + ("holds" if counts.get("conserved") else "DOES NOT HOLD")
        + "); the published counts are controlled (disclosure control), so they need not "
        "add up"
    )
    doc: dict[str, object] = {
        "tool": "hotspots",
        "version": version,
        "parameters": {
            "method": config.method,
            "eps_m": config.eps_m,
            "eps_m_source": "given (--eps-m)" if config.eps_given else (
                "default (250 m); 'hotspots tune' suggests a value for your data"
            ),
            "min_samples": config.min_samples,
            "min_samples_counts": "episodes (each location weighted by its episodes)",
            "crs_for_clustering": s.BNG,
            "period": str(config.period) if config.period else None,
            "compare_period": str(config.compare_period) if config.compare_period else None,
            "focus_lpa": config.focus_lpa,
            "host_authority": config.host_authority,
            "min_children_per_hotspot": config.min_children_per_hotspot,
        },
        "inputs": inputs,
        "boundaries": dict(boundaries),
        "counts": counts,
        "row_conservation": conservation,
        "outputs": {k: v.relative_to(path.parent).as_posix() for k, v in sorted(outputs.items())},
        "run_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    for key in ("method", "rates", "comparison", "focus_lpa", "report_checks"):
        if key in result.info:
            doc[key] = result.info[key]
    doc["notes"] = list(result.notes)
    if extra:
        doc.update(extra)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
    return path


# --- what an audience may see ------------------------------------------------------------------
@dataclass(frozen=True)
class Publication:
    """A run as its audience may see it (`publish`).

    Attributes
    ----------
    result
        What the map and the report draw: the analysis with the published tables (controlled
        counts, hotspot geometry and columns of the audience). For a public audience it has
        no row-level data at all (an empty `episodes` frame, no homes).
    sheets
        The summary tables as published: the CSV files and tables.xlsx.
    counts
        The run's counts as published, for run.json (controlled under disclosure control).
    audience
        The audience's settings (`geo.privacy.make_audience`).
    disclosure
        For run.json: the rule, its text, and what was hidden.
    """

    result: AnalysisResult
    sheets: dict[str, pd.DataFrame]
    counts: dict[str, object]
    audience: Audience
    disclosure: dict[str, object] = field(default_factory=dict)


def publish(
    result: AnalysisResult, audience: Audience, wards: gpd.GeoDataFrame
) -> Publication:
    """The tables, counts and map data of `result` that `audience` may see.

    - Hotspots: drawn as the audience says (exact hulls; whole wards holding their episodes,
      `wards_touched`; or whole grid cells, `snap_locations`), without the columns it must not
      see (`Audience.hotspot_table`). Too-small hotspots were already dropped by the pipeline
      (`AnalysisConfig.min_children_per_hotspot`), before anything was counted.
    - Homes: left out unless the audience lists them.
    - Disclosure control (`Audience.sdc_rule`): every summary table (`geo.sdc.sdc_tables`),
      the committee-report checks, the counts of run.json, the map and the report (they draw
      these controlled tables). A suppressed cell is ``c``. Notes that quote counts are left
      out.

    Raises `DisclosureError` when the area's own total of episodes or children would be
    suppressed: nothing could be published.
    """
    rule = audience.sdc_rule
    hotspots = result.hotspots
    if audience.hotspot_geometry != "hull" and len(hotspots):
        hotspots = hotspots.set_geometry(
            _coarse_hotspots(result, audience, wards), crs=s.WGS84
        )
    hotspots = audience.hotspot_table(hotspots)
    comparison = result.comparison
    if comparison is not None:
        previous = audience.hotspot_table(comparison.hotspots)
        if audience.hotspot_geometry != "hull":  # its episodes are not kept: no coarse shape
            previous = previous.set_geometry(
                gpd.GeoSeries([None] * len(previous), index=previous.index, crs=s.WGS84)
            )
        comparison = dataclasses.replace(comparison, hotspots=previous)
    staged = dataclasses.replace(
        result, hotspots=hotspots, comparison=comparison,
        homes=result.homes if audience.homes_csv else None,
    )  # fmt: skip
    sheets = summary_tables(staged, show_home_names=audience.home_names)
    if rule == "none":
        counts = dict(result.counts)
        if not audience.homes_csv:
            counts["homes_linking"] = None
        return Publication(staged, sheets, counts, audience,
                           {"rule": rule, "rule_text": SDC_RULES[rule]})

    controlled = sdc_tables(sheets, rule=rule)
    totals = controlled["totals"]
    controlled["audit_summary"] = _controlled_audit(sheets["audit_summary"], totals, rule)
    for column in ("episodes", "children"):
        if column in totals.columns and totals[column].iloc[0] == SUPPRESSED:
            msg = (
                f"Too few mapped {column} for an output under disclosure control: the area's "
                f"own total of {column} would be suppressed (counts from 1 to "
                f"{SDC_THRESHOLDS[rule]} are not shown under the '{rule}' rule), so there is "
                "nothing to publish. Nothing was written."
            )
            raise DisclosureError(msg)
    checks = _controlled_checks(result.info.get("report_checks") or [], totals)
    controlled["report_checks"] = report_checks_table(
        dataclasses.replace(result, info={"report_checks": checks})
    )
    counts = _published_counts(result.counts, controlled, rule, audience)
    # the map and the report format these as numbers: a hidden one is left blank
    for_map = {k: None if v == SUPPRESSED else v for k, v in counts.items()}
    reasons = counts["rejected_by_reason"]
    assert isinstance(reasons, dict)
    for_map["rejected_by_reason"] = {k: v for k, v in reasons.items() if v != SUPPRESSED}

    if comparison is not None:
        prev_table = apply_sdc(pd.DataFrame(comparison.hotspots.drop(columns="geometry")),
                               rule=rule)
        prev_sheets = sdc_tables(
            {"localities_lpa": comparison.localities["lpa"],
             "localities_district": comparison.localities["district"],
             "localities_ward": comparison.localities["ward"],
             "totals": comparison.totals},
            rule=rule,
        )  # fmt: skip
        comparison = dataclasses.replace(
            comparison,
            hotspots=gpd.GeoDataFrame(prev_table, geometry=comparison.hotspots.geometry.values,
                                      crs=comparison.hotspots.crs),
            localities={k: prev_sheets[f"localities_{k}"] for k in ("lpa", "district", "ward")},
            totals=prev_sheets["totals"],
            counts={k: _control_one(v, rule) if k in _COUNTED else v
                    for k, v in comparison.counts.items()
                    if not (audience.public and k == "hotspots_suppressed")},
        )  # fmt: skip
    info = dict(result.info)
    info["report_checks"] = checks
    if isinstance(info.get("comparison"), dict) and comparison is not None:
        info["comparison"] = {**info["comparison"], "counts": comparison.counts}
    hidden_notes = set(result.info.get("notes_with_counts") or ())
    info["notes"] = [n for n in result.notes if n not in hidden_notes]
    published = dataclasses.replace(
        staged,
        episodes=result.episodes if audience.point_locations else result.episodes.iloc[0:0],
        hotspots=gpd.GeoDataFrame(controlled["hotspots"].reset_index(drop=True),
                                  geometry=np.asarray(hotspots.geometry.values), crs=s.WGS84),
        localities={k: controlled[f"localities_{k}"] for k in ("lpa", "district", "ward")},
        totals=totals,
        focus_lpa=controlled.get("focus_lpa"),
        comparison=comparison,
        counts=for_map,
        notes=tuple(info["notes"]),
        info=info,
    )  # fmt: skip
    disclosure = {
        "rule": rule,
        "rule_text": SDC_RULES[rule],
        "cells_hidden": {name: _hidden_cells(frame) for name, frame in controlled.items()},
        "left_out": [
            "notes that quote counts (homes linking)" if hidden_notes else "",
            "" if audience.homes_csv else "the homes register and its linking counts",
        ],
    }
    disclosure["left_out"] = [x for x in disclosure["left_out"] if x]  # type: ignore[union-attr]
    return Publication(published, controlled, counts, audience, disclosure)


_COUNTED = ("rows_in_period", "mapped", "episodes_in_hotspots")  # comparison counts


def _coarse_hotspots(
    result: AnalysisResult, audience: Audience, wards: gpd.GeoDataFrame
) -> np.ndarray:
    """Each hotspot (in table order) as whole wards or whole grid cells, WGS84."""
    ep = result.episodes
    spot = ep[(ep[s.STATUS] == s.MAPPED) & (ep[s.HOTSPOT_ID].astype(str) != "")]
    if audience.hotspot_geometry == "wards":
        shapes = wards_touched(spot[s.HOTSPOT_ID], spot[s.WARD_CODE], wards)
    else:
        assert audience.grid_m is not None
        shapes = snap_locations(spot[s.X].to_numpy(float), spot[s.Y].to_numpy(float),
                                spot[s.HOTSPOT_ID], cell_m=audience.grid_m)
    shapes = shapes.to_crs(s.WGS84)
    ids = result.hotspots[s.HOTSPOT_ID].astype(str)
    return np.asarray(shapes.reindex(ids).values)


def _controlled_audit(audit: pd.DataFrame, totals: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The audit summary under disclosure control, consistent with the totals table.

    Its `mapped` row is the totals' `episodes` (published, else nothing is), so it cannot hide
    a rejection reason: the reasons and `outside_area` are controlled against their own sum
    (rows not mapped) instead, and `read` on its own. The rows not mapped as a whole remain
    `read` - `mapped`, as any published total minus published parts (docs/privacy.md)."""
    status = audit["status"].astype(str)
    inner = audit[status.isin([s.REJECTED, s.OUTSIDE_AREA])]
    rest = pd.DataFrame([{"status": "not mapped", "reason": "", "rows": int(inner["rows"].sum())}])
    part = apply_sdc(pd.concat([inner, rest], ignore_index=True), rule=rule,
                     count_columns=["rows"], groups=[], total_row_key=("status", "not mapped"),
                     additive_columns=["rows"])
    out = audit.copy()
    rows = out["rows"].astype(object).to_numpy().copy()
    rows[np.flatnonzero(status.isin([s.REJECTED, s.OUTSIDE_AREA]).to_numpy())] = (
        part["rows"].iloc[: len(inner)].to_numpy()
    )
    for i, name in enumerate(status):
        if name == s.MAPPED:
            rows[i] = totals["episodes"].iloc[0]
        elif name == "read":
            rows[i] = _control_one(int(audit["rows"].iloc[i]), rule)
    out["rows"] = pd.Series(rows, index=out.index, dtype=object)
    return out


def _control_one(value: object, rule: str) -> object:
    """One count on its own (not part of a table): hidden from 1 to the rule's threshold,
    rounded to 5 under ``nhs``."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | np.integer):
        return value
    frame = apply_sdc(pd.DataFrame({"rows": [int(value)]}), rule=rule, count_columns=["rows"],
                      groups=[])
    return frame["rows"].iloc[0]


def _published_counts(
    counts: Mapping[str, object], sheets: Mapping[str, pd.DataFrame], rule: str,
    audience: Audience,
) -> dict[str, object]:
    """run.json's counts from the controlled tables: the audit summary (rows by status and
    reason) and the totals row; counts found in no table are controlled one by one."""
    audit = sheets["audit_summary"]
    by = {(str(r["status"]), str(r["reason"])): r["rows"] for _, r in audit.iterrows()}
    total = sheets["totals"].iloc[0]
    reasons = counts.get("rejected_by_reason") or {}
    warnings = counts.get("warnings_by_code") or {}
    precision = counts.get("mapped_by_precision") or {}
    linking = counts.get("homes_linking")
    assert isinstance(reasons, dict) and isinstance(warnings, dict)
    assert isinstance(precision, dict)
    out: dict[str, object] = {
        "read": by[("read", "")],
        "mapped": by[(s.MAPPED, "")],
        "rejected": _control_one(counts["rejected"], rule),
        "outside_area": by[(s.OUTSIDE_AREA, s.OUTSIDE_REASON)],
        "conserved": counts.get("conserved"),
        "blank_rows_skipped": counts.get("blank_rows_skipped"),
        "rejected_by_reason": {k: by[(s.REJECTED, k)] for k in reasons},
        "warnings_by_code": {k: _control_one(v, rule) for k, v in warnings.items()},
        "mapped_by_precision": {
            k: total.get(f"episodes_precision_{k}", _control_one(v, rule))
            for k, v in precision.items()
        },
        "children_mapped": total.get("children"),
        "hotspots": counts.get("hotspots"),
        "episodes_in_hotspots": total.get("hotspot_episodes",
                                          _control_one(counts.get("episodes_in_hotspots"), rule)),
        "missing_from_first": counts.get("missing_from_first"),
        "missing_from_last": counts.get("missing_from_last"),
        "homes_linking": (
            {k: _control_one(v, rule) for k, v in linking.items()}
            if audience.homes_csv and isinstance(linking, dict) else None
        ),
    }
    if not audience.public:  # a public output does not say that small hotspots exist
        out["hotspots_suppressed"] = counts.get("hotspots_suppressed", 0)
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in out.items()}


def _controlled_checks(
    checks: list[dict[str, object]], totals: pd.DataFrame
) -> list[dict[str, object]]:
    """The committee report's checks with each value recomputed from the controlled totals,
    and ``c`` when a count it uses is hidden; whether each claim holds is kept (a yes or no
    tells no count)."""
    numeric = totals.copy()
    for column in numeric.columns:
        if column_kind(column) != "other":
            numeric[column] = pd.to_numeric(
                numeric[column].astype(object).where(numeric[column] != SUPPRESSED),
                errors="coerce",
            )
    again = report_checks(numeric)
    out = []
    for raw, new in zip(checks, again, strict=True):
        used = [t for t in re.findall(r"[a-z0-9_]+", str(raw["measure"])) if t in totals]
        hidden = any(totals[c].iloc[0] == SUPPRESSED for c in used)
        out.append({**raw, "value": SUPPRESSED if hidden else new["value"]})
    return out


def _hidden_cells(frame: pd.DataFrame) -> int:
    return int(sum((frame[c].astype(object) == SUPPRESSED).sum() for c in frame.columns))


# --- column descriptions: the README sheet of tables.xlsx and docs/tables.md -----------------
_LABELS = {
    "male": "boys", "female": "girls", "unknown": "sex not recorded",
}  # fmt: skip


def _general_descriptions() -> dict[str, str]:
    d: dict[str, str] = {
        # keys and identifiers
        "row": "`ward` for a ward of the focus LPA, `total` for the LPA as a whole",
        "area": "the whole area of the boundary set (the totals row)",
        s.LPA_NAME: "Local Police Area",
        s.LAD_CODE: "local authority district code (ONS)",
        s.LAD_NAME: "local authority district name",
        s.WARD_CODE: "electoral ward code (ONS)",
        s.WARD_NAME: "electoral ward name",
        s.ROW_NUMBER: "the row in the input file as a spreadsheet shows it (the header is row 1)",
        s.EPISODE_ID: "the episode id, as given",
        s.STATUS: "`mapped`, `rejected` or `outside_area`",
        s.REASON: "why the row was not mapped (blank when mapped); `outside_boundaries` for "
        "outside_area",
        s.DETAIL: "the column and value at fault, in words",
        s.WARNINGS: "warning codes (semicolon-separated) for optional values treated as unknown",
        s.PRECISION: "how precisely the row is located: `coordinates`, `postcode`, `sector` or "
        "`district`; blank unless located",
        s.LAT: "latitude, WGS84, 6 decimals; blank when rejected",
        s.LON: "longitude, WGS84, 6 decimals; blank when rejected",
        s.HOTSPOT_ID: "the hotspot (`H01`, ... from the largest) or blank",
        s.HOME_ID: "the home the episode is recorded against, as given",
        PSEUDONYM_COLUMN: "the child as a keyed pseudonym (`K-` and 16 hex digits, the same "
        "for the same child with the same key; blank without a child id); the child id itself "
        "is never written",
        # counts
        "episodes": "mapped episodes in the area",
        "children": "distinct children among those episodes",
        "repeat_children": "children with 2 or more episodes in the area (counted within the "
        "area, so they do not add up across areas)",
        "repeat_children_3plus": "children with 3 or more episodes in the area",
        "repeat_children_5plus": "children with 5 or more episodes in the area",
        "episodes_per_child": "episodes / children",
        "children_male": "children whose first episode in the area records a boy",
        "children_female": "children whose first episode in the area records a girl",
        "episodes_looked_after": "episodes of looked-after children (care status looked_after)",
        "episodes_not_looked_after": "episodes of children not looked after (child in need, "
        "child protection, none)",
        "episodes_looked_after_unknown": "episodes with no recognised care status",
        "episodes_placed_by_host": "episodes of children placed by the host authority "
        "(--host-authority)",
        "episodes_placed_by_other": "episodes of children placed here by another authority",
        "episodes_placed_by_unknown": "episodes with no placing authority recorded",
        "children_placed_by_host": "children with an episode placed by the host authority",
        "children_placed_by_other": "children with an episode placed by another authority",
        "episodes_returned": "episodes with a `returned` date-time",
        "rhi_offered": "episodes with a Return Home Interview offered",
        "rhi_completed": "episodes with a Return Home Interview completed",
        "rhi_completed_within_72h": "episodes with the RHI completed no later than 72 hours "
        "after `returned`",
        "rhi_completed_within_72h_share": "rhi_completed_within_72h / episodes_returned (blank "
        "if none returned)",
        "hotspot_episodes": "episodes in the area that belong to a hotspot",
        "repeat_children_ce_screened": "repeat children with a CE (child exploitation) "
        "screening recorded on any of their episodes in the area",
        "repeat_children_ce_not_screened": "repeat children with no CE screening recorded; "
        "the report's claim that every child missing more than once was screened holds when "
        "this is 0 in the totals",
        "repeat_children_ce_screened_share": "repeat_children_ce_screened / repeat_children",
        # rates
        "registered_homes": "foster, residential and semi-independent homes of the register "
        "in the area (blank without --homes)",
        "registered_places": "their registered places (beds); homes without `places` add none",
        "episodes_per_place": "episodes / registered_places (blank when there is no place)",
        "children_per_place": "children / registered_places",
        "population_0_17": "children aged 0-17 living in the area, from --population (ONS "
        "mid-year estimates); blank without it",
        "episodes_per_10k": "episodes per 10,000 children aged 0-17",
        "children_per_10k": "children who went missing per 10,000 children aged 0-17",
        # comparison
        "episodes_change_share": "episodes_change / episodes_prev (blank if episodes_prev is 0)",
        # hotspots
        "wards": "number of wards its episodes fall in",
        "locations": "distinct locations (addresses) among its episodes",
        "centroid_lat": "mean latitude of its episodes",
        "centroid_lon": "mean longitude of its episodes",
        "area_ha": "area of its outline (convex hull) in hectares",
        "episodes_from_homes": "its episodes linked to a registered home inside its outline or "
        "within eps of it",
        "episodes_from_homes_share": "episodes_from_homes / episodes",
        "contributing_homes": "registered homes near it with at least one of its episodes",
        "main_home_id": "the home near it with most of its episodes",
        "main_home_type": "that home's type",
        "main_home_share": "the share of its episodes from that home",
        "driver": "what drives it: " + "; ".join(f"`{k}`: {v}" for k, v in DRIVERS.items()),
        "trend": "`new` (no hotspot of the comparison period within eps of its outline) or "
        "`persistent`",
        "previous_hotspots": "the comparison period's hotspots (`P01`...) within eps of it",
        "current_hotspots": "the current hotspots within eps of it (blank: gone)",
        # homes
        s.HOME_TYPE: "`foster`, `residential`, `semi_independent` or `other`",
        s.HOME_PLACES: "registered places (beds), as given",
        s.HOME_NAME: "the home's name (only with --show-home-names)",
        s.HOME_PROVIDER: "the provider (only with --show-home-names)",
        "episodes_linked_by_id": "its episodes linked by `home_id`",
        "episodes_linked_by_location": "its episodes linked by location (no `home_id`, a home "
        "placement, and this the only registered home within 1 m)",
        # small tables
        "rows": "number of input rows",
        "claim": "a claim of the committee report",
        "measure": "the measure that checks it (totals)",
        "value": "its value in this data",
        "holds": "`yes`, `no`, or `cannot tell` (no data for it)",
        "sheet": "the sheet of this workbook",
        "column": "the column of that sheet",
        "description": "what the column holds",
    }
    for value in s.SEXES:
        d[f"episodes_sex_{value}"] = f"episodes of {_LABELS[value]}"
    ages = {"under_11": "under 11", "11_13": "11 to 13", "14_16": "14 to 16",
            "17_plus": "17 or older", "unknown": "unknown"}
    for value in s.AGE_BANDS:
        d[f"episodes_age_{value}"] = (
            f"episodes of children aged {ages[value]} at `missing_from` (from `age`, else `dob`)"
        )
    for value in s.CARE_STATUSES:
        d[f"episodes_care_{value}"] = f"episodes with care status `{value}`"
    for value in s.PLACEMENT_TYPES:
        d[f"episodes_placement_{value}"] = f"episodes with placement type `{value}`"
    for value in s.CATEGORIES:
        d[f"episodes_category_{value}"] = f"episodes recorded as `{value}`" + (
            " (away from placement without authorisation)" if value == "absent" else ""
        )
    for value in s.PRECISIONS:
        d[f"episodes_precision_{value}"] = f"mapped episodes located by {value}"
    bands = {
        "under_24h": "under 24 hours from `missing_from` to `returned`",
        "1_3_days": "24 to 72 hours (both included)",
        "over_3_days": "more than 72 hours",
        "ongoing": "no `returned`: still missing, or the return was not recorded",
    }
    for band in DURATION_BANDS:
        d[f"episodes_duration_{band}"] = f"episodes lasting {bands[band]}" if band != "ongoing" \
            else f"episodes with {bands[band]}"
    for kind in s.HOME_TYPES:
        d[f"homes_{kind}"] = (
            f"registered {kind.replace('_', '-')} homes inside its outline or within eps of it"
        )
    for measure in CHANGE_MEASURES:
        d[f"{measure}_prev"] = f"{measure.replace('_', ' ')} in the comparison period"
        d[f"{measure}_change"] = f"{measure} - {measure}_prev"
    return d


COLUMN_DESCRIPTIONS: dict[str, str] = _general_descriptions()

# Where a column means something particular in one table.
TABLE_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "hotspots": {
        "episodes": "mapped episodes in the hotspot",
        "children": "distinct children among them",
        "repeat_children": "children with 2 or more episodes in the hotspot",
        s.LPA_NAME: "the LPA holding most of its episodes",
        s.LAD_NAME: "the district holding most of its episodes",
        s.WARD_NAME: "the ward holding most of its episodes",
        "episodes_prev": "episodes of the comparison-period hotspots within eps of it",
    },
    "hotspots_gone": {
        s.HOTSPOT_ID: "the comparison period's hotspot (`P01`...)",
        "episodes": "its episodes in the comparison period",
        "children": "distinct children among them",
        "repeat_children": "children with 2 or more episodes in it",
        s.LPA_NAME: "the LPA holding most of its episodes",
        s.LAD_NAME: "the district holding most of its episodes",
        s.WARD_NAME: "the ward holding most of its episodes",
        "trend": "`gone`: no current hotspot within eps of its outline",
    },
    "homes": {
        s.ROW_NUMBER: "the row in the homes register",
        s.STATUS: "`mapped` (inside the area), `outside_area` or `rejected`",
        s.REASON: "why the home is not usable (`missing_home_id`, `duplicate_home_id`, "
        "`invalid_type`, a location reason)",
        s.PRECISION: "how precisely the home is located",
        s.WARD_CODE: "the home's ward code",
        s.WARD_NAME: "the home's ward",
        s.LAD_NAME: "the home's district",
        s.LPA_NAME: "the home's LPA",
        s.HOTSPOT_ID: "the nearest hotspot within eps of the home (blank: none)",
        "episodes": "episodes linked to the home (by `home_id`, or by location)",
        "children": "distinct children among them",
        "repeat_children": "children with 2 or more of them",
        "episodes_per_place": "episodes / places (blank without places)",
        "children_per_place": "children / places",
    },
    "audit_summary": {
        s.STATUS: "`mapped`, `rejected`, `outside_area`; `read` is the total",
        s.REASON: "the rejection reason",
    },
    "focus_lpa": {
        s.WARD_CODE: "electoral ward code (blank on the total row)",
        s.WARD_NAME: "electoral ward name (`All wards (LPA total)` on the total row)",
    },
}


def describe(table: str, column: str) -> str | None:
    """The description of `column` in `table` (None: undescribed)."""
    return TABLE_DESCRIPTIONS.get(table, {}).get(column) or COLUMN_DESCRIPTIONS.get(column)


def readme_table(sheets: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per column of every sheet: sheet, column, description."""
    rows = [
        {"sheet": name, "column": str(col), "description": describe(name, str(col)) or ""}
        for name, frame in sheets.items()
        for col in frame.columns
    ]
    return pd.DataFrame(rows, columns=["sheet", "column", "description"])


def columns_markdown() -> str:
    """The column dictionary as markdown (the generated part of docs/tables.md)."""
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in COLUMN_DESCRIPTIONS.items()]
    for table, overrides in TABLE_DESCRIPTIONS.items():
        lines += ["", f"In `{table}`:", "", "| column | meaning |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in overrides.items()]
    return "\n".join(lines) + "\n"


