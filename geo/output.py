"""Writing the tables, the workbook and run.json (DATA-CONTRACT section 5).

Tables are written deterministically (fixed column order, sorted rows, fixed float format, the
workbook's timestamps pinned), so the same inputs and parameters give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from geo import schema as s
from geo.pipeline import AnalysisResult

EPISODE_COLUMNS = (
    s.ROW_NUMBER, s.EPISODE_ID, s.STATUS, s.REASON, s.PRECISION, s.LAT, s.LON, s.WARD_CODE,
    s.WARD_NAME, s.LAD_CODE, s.LAD_NAME, s.LPA_NAME, s.HOTSPOT_ID, s.HOME_ID,
)  # fmt: skip
AUDIT_COLUMNS = (s.ROW_NUMBER, s.EPISODE_ID, s.STATUS, s.REASON, s.DETAIL, s.WARNINGS)
HOME_COLUMNS = (
    s.ROW_NUMBER, s.HOME_ID, s.HOME_TYPE, s.HOME_PLACES, s.STATUS, s.REASON, s.PRECISION,
    s.WARD_CODE, s.WARD_NAME, s.LAD_NAME, s.LPA_NAME, s.HOTSPOT_ID,
)  # fmt: skip
_PINNED_TIME = dt.datetime(2000, 1, 1)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _csv(frame: pd.DataFrame, path: Path, float_format: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(
        path, index=False, lineterminator="\n", encoding="utf-8", float_format=float_format
    )
    return path


def episodes_table(result: AnalysisResult) -> pd.DataFrame:
    """The per-episode table: exactly the contract's columns, input order."""
    return result.episodes[list(EPISODE_COLUMNS)]


def audit_table(result: AnalysisResult) -> pd.DataFrame:
    """Rows that were not mapped, or were mapped with warnings, with the reason in words."""
    ep = result.episodes
    keep = (ep[s.STATUS] != s.MAPPED) | (ep[s.WARNINGS] != "")
    return ep.loc[keep, list(AUDIT_COLUMNS)].reset_index(drop=True)


def homes_table(result: AnalysisResult) -> pd.DataFrame | None:
    """Per home: type, places, area, hotspot, and its episodes and children."""
    if result.homes is None:
        return None
    homes = result.homes[list(HOME_COLUMNS)].copy()
    mapped = result.mapped
    linked = mapped[mapped[s.HOME_ID] != ""]
    per_home = linked.groupby(s.HOME_ID).agg(
        episodes=(s.EPISODE_ID, "size"), children=(s.CHILD_ID, "nunique")
    )
    homes = homes.merge(per_home, left_on=s.HOME_ID, right_index=True, how="left")
    homes[["episodes", "children"]] = homes[["episodes", "children"]].fillna(0).astype("int64")
    places = homes[s.HOME_PLACES].astype("Float64")
    homes["episodes_per_place"] = (homes["episodes"] / places.where(places > 0)).round(2)
    return homes


def hotspots_table(result: AnalysisResult) -> pd.DataFrame:
    """The hotspot table without geometry."""
    return pd.DataFrame(result.hotspots.drop(columns="geometry"))


def summary_tables(result: AnalysisResult) -> dict[str, pd.DataFrame]:
    """The tables that go into tables.xlsx, by sheet name."""
    sheets = {
        "localities_lpa": result.localities["lpa"],
        "localities_district": result.localities["district"],
        "localities_ward": result.localities["ward"],
        "totals": result.totals,
        "hotspots": hotspots_table(result),
    }
    homes = homes_table(result)
    if homes is not None:
        sheets["homes"] = homes
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


def write_xlsx(sheets: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Write one sheet per table (header bold and frozen) with openpyxl's streaming writer.

    The workbook is byte-identical for the same tables: its document timestamps are pinned,
    and the zip entries are rewritten with a fixed date (zip stores each file's write time).
    """
    import io
    import zipfile

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, frame in sheets.items():
        ws = wb.create_sheet(title=name[:31])
        ws.freeze_panes = "A2"
        for i, col in enumerate(frame.columns, start=1):
            letter = _column_letter(i)
            ws.column_dimensions[letter].width = max(10, min(40, len(str(col)) + 2))
        header = []
        for col in frame.columns:
            cell = WriteOnlyCell(ws, value=str(col))
            cell.font = bold
            header.append(cell)
        ws.append(header)
        for row in frame.itertuples(index=False):
            ws.append([_excel_value(v) for v in row])
    wb.properties.created = _PINNED_TIME
    wb.properties.modified = _PINNED_TIME
    wb.properties.creator = "hotspots"
    buffer = io.BytesIO()
    wb.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(
        path, "w", compression=zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2000-01-01T00:00:00Z\g<2>",
                    data,
                )
            dst.writestr(fixed, data)
    return path


def _column_letter(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _excel_value(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()  # numpy scalar -> Python
    return value


def write_tables(result: AnalysisResult, out_dir: Path) -> dict[str, Path]:
    """Write tables/*.csv and tables.xlsx; return the paths by name."""
    tables = out_dir / "tables"
    paths = {
        # lat/lon are already rounded to 6 decimals; blank when missing
        "episodes": _csv(episodes_table(result), tables / "episodes.csv"),
        "audit": _csv(audit_table(result), tables / "audit.csv"),
        "localities_lpa": _csv(result.localities["lpa"], tables / "localities_lpa.csv"),
        "localities_district": _csv(
            result.localities["district"], tables / "localities_district.csv"
        ),
        "localities_ward": _csv(result.localities["ward"], tables / "localities_ward.csv"),
        "hotspots": _csv(hotspots_table(result), tables / "hotspots.csv"),
    }
    homes = homes_table(result)
    if homes is not None:
        paths["homes"] = _csv(homes, tables / "homes.csv")
    paths["xlsx"] = write_xlsx(summary_tables(result), out_dir / "tables.xlsx")
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
) -> Path:
    """Write run.json: parameters, input checksums, counts, versions, boundary vintage."""
    config = result.config
    counts = dict(result.counts)
    doc: dict[str, object] = {
        "tool": "hotspots",
        "version": version,
        "parameters": {
            "eps_m": config.eps_m,
            "min_samples": config.min_samples,
            "min_samples_counts": "episodes (each location weighted by its episodes)",
            "crs_for_clustering": s.BNG,
            "period": str(config.period) if config.period else None,
            "host_authority": config.host_authority,
        },
        "inputs": inputs,
        "boundaries": dict(boundaries),
        "counts": counts,
        "row_conservation": (
            f"read {counts['read']} = mapped {counts['mapped']} + rejected "
            f"{counts['rejected']} + outside_area {counts['outside_area']}"
        ),
        "outputs": {k: str(v.relative_to(path.parent)) for k, v in sorted(outputs.items())},
        "timings_s": result.timings,
        "run_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }
    if extra:
        doc.update(extra)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", "utf-8")
    return path
