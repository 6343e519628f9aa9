"""Words shared by the map and the report: escaping, numbers, dates, the period, the method.

Every piece of user-supplied text (titles, area names, boundary names, attribution, hotspot
drivers) goes through `esc` before it reaches HTML.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

import pandas as pd

from geo.pipeline import AnalysisResult

NO_VALUE = "\u2013"  # an en dash: no value

__all__ = [
    "NO_VALUE",
    "PRECISION_TEXT",
    "area_label",
    "data_as_of",
    "esc",
    "fmt_date",
    "fmt_int",
    "fmt_pct",
    "period_text",
]

PRECISION_TEXT = {
    "coordinates": "coordinates only",
    "postcode": "coordinates and full postcodes",
    "sector": "coordinates, full postcodes and postcode sectors",
    "district": "every mapped location",
}


def esc(value: object) -> str:
    """HTML-escape user text; also ` and $ so it is inert inside JS template strings."""
    return html.escape(str(value), quote=True).replace("`", "&#96;").replace("$", "&#36;")


def fmt_int(value: object) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NO_VALUE
    if math.isnan(number):
        return NO_VALUE
    return f"{round(number):,}"


def fmt_pct(num: float, den: float, digits: int = 0) -> str:
    if not den or math.isnan(den) or math.isnan(num):
        return NO_VALUE
    return f"{100 * num / den:.{digits}f}%"


def fmt_date(value: object) -> str:
    """``2020-06-30T23:59:00`` -> ``30 Jun 2020``; empty for nothing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if pd.isna(ts):
        return ""
    return f"{ts.day} {ts:%b %Y}"


def period_text(result: AnalysisResult) -> str:
    """The period analysed, e.g. ``1 Jan 2020 to 30 Jun 2020``: the ``--period`` given (open
    ends filled from the data), else the first and last ``missing_from`` mapped."""
    c = result.counts
    first, last = c.get("missing_from_first"), c.get("missing_from_last")
    period = result.config.period
    start = getattr(period, "start", None) if period is not None else None
    end = getattr(period, "end", None) if period is not None else None
    start = start if start is not None else first
    end = end if end is not None else last
    if start is None and end is None:
        return "no mapped episodes"
    return f"{fmt_date(start) or '…'} to {fmt_date(end) or '…'}"


def data_as_of(result: AnalysisResult) -> str:
    """The latest ``missing_from`` among mapped episodes, as a date (empty when none)."""
    return fmt_date(result.counts.get("missing_from_last"))


def area_label(boundary_name: str, area_name: str | None = None) -> str:
    """A readable area name: `area_name` if given, else the boundary set's name without a
    trailing year (``oxfordshire-2019`` -> ``Oxfordshire``)."""
    if area_name:
        return area_name
    name = re.sub(r"[-_ ]*(19|20)\d\d$", "", boundary_name.strip()) or boundary_name
    name = name.replace("-", " ").replace("_", " ")
    return name.title() if name == name.lower() else name


def join_lines(lines: Sequence[str], sep: str = " · ") -> str:
    return sep.join(esc(line) for line in lines)


def cluster_method(config: object) -> str:
    """``DBSCAN`` or ``HDBSCAN`` (the run's `method`; DBSCAN when the config has none)."""
    return "HDBSCAN" if str(getattr(config, "method", "dbscan")).lower() == "hdbscan" else "DBSCAN"


def hotspot_rule(config: object) -> str:
    """One sentence: how a hotspot is defined for this run."""
    eps = f"{getattr(config, 'eps_m', 250.0):g}"
    n = getattr(config, "min_samples", 5)
    if cluster_method(config) == "HDBSCAN":
        return (f"HDBSCAN in metres (British National Grid): clusters of at least {n} episodes "
                "of any size or spread, with no fixed radius")
    return (f"DBSCAN in metres (British National Grid), eps {eps} m: at least {n} episodes "
            "within eps of a core location")


def hotspot_short(config: object) -> str:
    """A short phrase for legends: what a hotspot is."""
    eps = f"{getattr(config, 'eps_m', 250.0):g}"
    n = getattr(config, "min_samples", 5)
    if cluster_method(config) == "HDBSCAN":
        return f"clusters of at least {n} episodes (HDBSCAN)"
    return f"places with at least {n} episodes within {eps} m (DBSCAN)"


_ID_ITEM = r"[A-Z]\d+(?: \([^()]*\))?"
_ID_RUN = re.compile(rf"{_ID_ITEM}(?:, {_ID_ITEM})+")
_ID_ONE = re.compile(_ID_ITEM)


def abridge_ids(text: str, keep: int = 30) -> str:
    """Shorten each list of hotspot ids in `text` (``H01 (97%), H02 (88%), ...``) to its first
    `keep` items and ``... and 1,234 more``: the evidence sentences name every hotspot, which
    is thousands at a million episodes."""

    def cut(match: re.Match[str]) -> str:
        items = _ID_ONE.findall(match.group(0))
        if len(items) <= keep:
            return match.group(0)
        return f"{', '.join(items[:keep])} and {len(items) - keep:,} more"

    return _ID_RUN.sub(cut, text)


def run_notes(result: object) -> list[str]:
    """The run's notes for the analyst (`AnalysisResult.notes` when the pipeline has them)."""
    notes = getattr(result, "notes", None) or ()
    return [str(n) for n in notes if str(n).strip()]
