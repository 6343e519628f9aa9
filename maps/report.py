"""The meeting report: one self-contained, printable HTML page (A4) with the headline figures,
the seed report's measures as small inline SVG charts, the locality and hotspot tables, a
static overview map that prints, and the interactive map (embedded, or linked).

Nothing is loaded from the network: no script, font or image comes from outside the file. The
page holds no script of its own; the embedded interactive map (an ``<iframe srcdoc>``) is the
self-contained map page. No child id is used anywhere.

Tables tolerate extra columns (the locality tables grow) and missing ones (a column that is not
there is left out). A rate column such as ``episodes_per_10k`` is shown when present.

With ``MapContext.evidence`` (`geo.context.build_evidence`) the report gains an "Evidence for the
panel" section that answers three claims of the committee report with numbers: the county's own
children placed out of area, the comparison with statistical neighbours, the region and
England (or how to supply the published figures), and which hotspots are genuine (Gi* and
stability) with the method; the hotspot table gains an "Evidence" column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from geo import schema as s
from geo.pipeline import AnalysisResult
from maps import style
from maps.offline import OfflineAssetError, find_external_urls
from maps.places import place_labels
from maps.render import (
    EVIDENCE_LABELS,
    RATE_COLUMN_RE,
    MapContext,
    check_evidence,
    class_breaks,
    class_labels,
    class_of,
    how_to_read,
    rate_label,
    tile_url,
)
from maps.svg import bar_chart, column_chart, overview_map
from maps.text import (
    NO_VALUE,
    PRECISION_TEXT,
    abridge_ids,
    area_label,
    data_as_of,
    esc,
    fmt_date,
    fmt_int,
    fmt_pct,
    hotspot_rule,
    hotspot_short,
    period_text,
    run_notes,
)

if TYPE_CHECKING:
    from geo.context import Evidence

__all__ = ["DEFAULT_FOCUS_LPA", "evidence_section", "report_html", "write_report"]

DEFAULT_FOCUS_LPA = "Cherwell and West Oxfordshire"
MAX_HOTSPOT_ROWS = 25

CSS = f"""
@page {{ size: A4; margin: 14mm 12mm 16mm 12mm; }}
* {{ box-sizing: border-box; }}
body {{ font: 14px/1.45 {style.FONT}; color: #1a1a1a; margin: 0; background: #f3f4f6; }}
main {{ max-width: 980px; margin: 0 auto; background: #fff; padding: 24px 32px 40px; }}
h1 {{ font-size: 26px; margin: 0 0 4px; }}
h2 {{ font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid #1f2a44;
  padding-bottom: 3px; break-after: avoid; page-break-after: avoid; }}
h3 {{ font-size: 15px; margin: 16px 0 6px; break-after: avoid; }}
.sub {{ color: #333; font-size: 15px; }}
.meta {{ color: #555; font-size: 12px; margin-top: 4px; }}
.cards {{ display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 18px 0 6px; }}
.card {{ border: 1px solid #d0d5dd; border-radius: 8px; padding: 10px 12px;
  break-inside: avoid; background: #fafbfc; }}
.card .v {{ font-size: 26px; font-weight: 700; line-height: 1.1; }}
.card .k {{ font-size: 12.5px; color: #333; margin-top: 3px; }}
.card .x {{ font-size: 11.5px; color: #666; }}
.howto {{ border-left: 5px solid #0b3c8c; background: #eef3fb; padding: 10px 16px;
  margin: 16px 0; break-inside: avoid; }}
.howto h2 {{ border: 0; margin: 0 0 4px; font-size: 16px; }}
.howto ul {{ margin: 4px 0; padding-left: 20px; }}
.charts {{ display: grid; grid-template-columns: 1fr 1fr; gap: 8px 28px; }}
figure.chart {{ margin: 8px 0 14px; break-inside: avoid; page-break-inside: avoid; }}
figure.chart-wide {{ grid-column: 1 / -1; }}
figcaption {{ font-size: 13.5px; margin-bottom: 4px; }}
figcaption .chart-note {{ display: block; font-size: 11.5px; color: #555; }}
.mapfig {{ margin: 8px 0; break-inside: avoid; page-break-inside: avoid; }}
.mapfig svg {{ display: block; margin: 0 auto; border: 1px solid #ccc; max-height: 235mm; }}
.legend {{ font-size: 12px; display: flex; flex-wrap: wrap; gap: 4px 14px; margin-top: 6px; }}
.legend span.sw {{ display: inline-block; width: 14px; height: 11px; border: 1px solid #777;
  vertical-align: -1px; margin-right: 4px; }}
iframe.map {{ width: 100%; height: 640px; border: 1px solid #999; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0 12px; }}
thead {{ display: table-header-group; }}
th, td {{ border-bottom: 1px solid #dde1e6; padding: 4px 6px; vertical-align: top; }}
th {{ background: #eef1f5; text-align: left; font-weight: 600; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr {{ break-inside: avoid; page-break-inside: avoid; }}
tr.total td {{ font-weight: 700; border-top: 2px solid #999; }}
.note {{ font-size: 12px; color: #555; }}
.method p {{ margin: 4px 0; font-size: 13px; }}
.claim {{ border-left: 4px solid #999; padding: 2px 10px; color: #333; font-style: italic;
  margin: 6px 0; break-inside: avoid; }}
.evidence p {{ margin: 5px 0; }}
.evidence p.reading {{ font-weight: 600; }}
footer {{ margin-top: 26px; font-size: 11.5px; color: #444; border-top: 1px solid #ccc;
  padding-top: 6px; }}
.print-only {{ display: none; }}
@media (max-width: 760px) {{
  main {{ padding: 12px; }} .cards {{ grid-template-columns: repeat(2, 1fr); }}
  .charts {{ grid-template-columns: 1fr; }}
}}
@media print {{
  body {{ background: #fff; font-size: 11pt; }}
  main {{ max-width: none; padding: 0; }}
  .no-print {{ display: none !important; }}
  .print-only {{ display: block; }}
  .cards {{ grid-template-columns: repeat(4, 1fr); }}
  .charts {{ grid-template-columns: 1fr 1fr; gap: 4px 20px; }}
  table {{ font-size: 8pt; }}
  th, td {{ padding: 2px 4px; }}
  .card .v {{ font-size: 20pt; }}
  h2.new-page {{ break-before: page; page-break-before: always; }}
  a {{ color: inherit; text-decoration: none; }}
}}
"""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _total(result: AnalysisResult, column: str) -> float:
    t = result.totals
    if column not in t.columns or t.empty:
        return float("nan")
    value = pd.to_numeric(t[column], errors="coerce").iloc[0]
    return float(value) if pd.notna(value) else float("nan")


def _num(value: object) -> float:
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return float(v) if pd.notna(v) else float("nan")


def _pct_cell(value: object) -> str:
    v = _num(value)
    return NO_VALUE if v != v else f"{100 * v:.0f}%"


def _dec_cell(value: object) -> str:
    v = _num(value)
    return NO_VALUE if v != v else f"{v:.2f}"


def _rate_cell(value: object) -> str:
    v = _num(value)
    return NO_VALUE if v != v else f"{v:.1f}"


Column = tuple[str, str, Callable[[object], str], bool]  # column, heading, format, numeric


def _locality_columns(table: pd.DataFrame) -> list[Column]:
    wanted: list[Column] = [
        ("episodes", "Episodes", fmt_int, True),
        ("children", "Children", fmt_int, True),
        ("repeat_children", "Repeat children (2+)", fmt_int, True),
        ("episodes_per_child", "Episodes per child", _dec_cell, True),
    ]
    wanted += [(str(c), rate_label(str(c)), _rate_cell, True)
               for c in table.columns if RATE_COLUMN_RE.match(str(c))
               and pd.to_numeric(table[c], errors="coerce").notna().any()]
    wanted += [
        ("hotspot_episodes", "Episodes in hotspots", fmt_int, True),
        ("episodes_placed_by_other", "Episodes, placed by other LAs", fmt_int, True),
        ("rhi_completed_within_72h_share", "RHI within 72 h (of returned)", _pct_cell, True),
        ("repeat_children_ce_not_screened", "Repeat children without CE screening", fmt_int,
         True),
    ]
    return [c for c in wanted if c[0] in table.columns]


def _table(frame: pd.DataFrame, keys: Sequence[tuple[str, str]], columns: Sequence[Column],
           *, total: pd.Series | None = None, caption: str = "", cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for _, h in keys) + "".join(
        f"<th class='n'>{esc(h)}</th>" for _, h, _, _ in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{esc(row.get(k, ''))}</td>" for k, _ in keys)
        cells += "".join(f"<td class='n'>{esc(f(row.get(c)))}</td>" for c, _, f, _ in columns)
        rows.append(f"<tr>{cells}</tr>")
    if total is not None:
        cells = f"<td colspan='{len(keys)}'>{esc(total.get('_label', 'All areas'))}</td>"
        cells += "".join(f"<td class='n'>{esc(f(total.get(c)))}</td>" for c, _, f, _ in columns)
        rows.append(f"<tr class='total'>{cells}</tr>")
    cap = f"<caption class='note' style='caption-side:bottom;text-align:left'>{esc(caption)}" \
          "</caption>" if caption else ""
    return (f"<table class='{cls}'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def focus_lpa(result: AnalysisResult, context: MapContext) -> str | None:
    """The LPA whose wards the report lists: ``context.focus_lpa``, else
    ``result.config.focus_lpa`` (when the config has it), else `DEFAULT_FOCUS_LPA` when the
    boundary set has it, else the LPA with the most episodes (None without LPAs)."""
    lpa = result.localities.get("lpa")
    names = [] if lpa is None or s.LPA_NAME not in lpa.columns else list(lpa[s.LPA_NAME])
    if context.focus_lpa:
        return str(context.focus_lpa)
    if hasattr(result.config, "focus_lpa"):  # the pipeline's choice; None: no focus table
        chosen = result.config.focus_lpa
        return str(chosen) if chosen and (not names or chosen in names) else None
    if DEFAULT_FOCUS_LPA in names:
        return DEFAULT_FOCUS_LPA
    if not names:
        return None
    top = lpa.sort_values(["episodes", s.LPA_NAME], ascending=[False, True], kind="stable")
    return str(top[s.LPA_NAME].iloc[0])


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


def _cards(result: AnalysisResult) -> str:
    c = result.counts
    mapped = float(c.get("mapped", 0) or 0)
    children = _total(result, "children")
    repeat = _total(result, "repeat_children")
    returned = _total(result, "episodes_returned")
    within = _total(result, "rhi_completed_within_72h")
    other = _total(result, "episodes_placed_by_other")
    other_children = _total(result, "children_placed_by_other")
    in_spots = float(c.get("episodes_in_hotspots", 0) or 0)
    cards = [
        (fmt_int(mapped), "episodes mapped", f"of {fmt_int(c.get('read'))} rows read"),
        (fmt_int(children), "children", f"{mapped / children:.1f} episodes per child"
         if children and children == children else ""),
        (fmt_int(repeat), "children missing 2+ times", f"{fmt_pct(repeat, children)} of children"),
        (fmt_int(c.get("hotspots")), "hotspots", f"holding {fmt_pct(in_spots, mapped)} of "
                                                 "episodes"),
        (fmt_pct(within, returned), "RHI completed within 72 h",
         f"{fmt_int(within)} of {fmt_int(returned)} returned episodes"),
        (fmt_pct(other, mapped), "episodes of children placed by other authorities",
         f"{fmt_int(other)} episodes, {fmt_int(other_children)} children"),
        (fmt_int(_total(result, "repeat_children_ce_not_screened")),
         "repeat children without a CE screening", "child exploitation screening"),
        (fmt_int(c.get("rejected", 0)) + " / " + fmt_int(c.get("outside_area", 0)),
         "rows rejected / outside the area", "see tables/audit.csv"),
    ]
    body = "".join(
        f"<div class='card'><div class='v'>{esc(v)}</div><div class='k'>{esc(k)}</div>"
        f"<div class='x'>{esc(x)}</div></div>"
        for v, k, x in cards
    )
    return f"<div class='cards' id='headline'>{body}</div>"


def _month_chart(result: AnalysisResult) -> str:
    ep = result.episodes
    mapped = ep[ep[s.STATUS] == s.MAPPED]
    dates = pd.to_datetime(mapped.get(s.MISSING_FROM), errors="coerce").dropna()
    if dates.empty:
        return column_chart([], title="Episodes by month", note="No mapped episodes.")
    months = dates.dt.to_period("M")
    counts = months.value_counts()
    full = pd.period_range(months.min(), months.max(), freq="M")
    items = [(f"{p:%b %y}" if len(full) > 12 else f"{p:%b %Y}", float(counts.get(p, 0)))
             for p in full]
    return column_chart(items, title="Episodes by month",
                        note="Mapped episodes by the month they started (missing_from).")


def _charts(result: AnalysisResult) -> str:
    def t(col: str) -> float:
        return _total(result, col)

    mapped = float(result.counts.get("mapped", 0) or 0)
    charts = [_month_chart(result)]
    sexes = [("Male", t("episodes_sex_male")), ("Female", t("episodes_sex_female")),
             ("Unknown", t("episodes_sex_unknown"))]
    charts.append(bar_chart([x for x in sexes if x[1] == x[1]], title="Episodes by sex",
                            total=mapped, note="Share of all mapped episodes."))
    ages = [("Under 11", "under_11"), ("11-13", "11_13"), ("14-16", "14_16"),
            ("17 and over", "17_plus"), ("Unknown", "unknown")]
    age_items = [(k, t(f"episodes_age_{v}")) for k, v in ages]
    charts.append(bar_chart([x for x in age_items if x[1] == x[1]], title="Episodes by age",
                            total=mapped, note="Age when the episode started."))
    children, r2, r3, r5 = (t("children"), t("repeat_children"), t("repeat_children_3plus"),
                            t("repeat_children_5plus"))
    if all(v == v for v in (children, r2, r3, r5)):
        charts.append(bar_chart(
            [("1 episode", children - r2), ("2 episodes", r2 - r3), ("3-4 episodes", r3 - r5),
             ("5 or more", r5)],
            title="Children by number of episodes", total=children, highlight=(3,),
            note=f"{fmt_int(r2)} of {fmt_int(children)} children went missing more than once "
                 "(counted across the whole area)."))
    returned, offered, completed, within = (t("episodes_returned"), t("rhi_offered"),
                                            t("rhi_completed"), t("rhi_completed_within_72h"))
    rhi = [("Returned", returned), ("RHI offered", offered), ("RHI completed", completed),
           ("Within 72 hours", within)]
    if all(v == v for _, v in rhi):
        charts.append(bar_chart(
            rhi, title="Return Home Interviews (RHI)", total=returned, highlight=(3,),
            note="Episodes; shares are of episodes with a return recorded. Within 72 hours: "
                 "completed no later than 72 hours after the return."))
    placed = [("Placed by the host", t("episodes_placed_by_host")),
              ("By other authorities", t("episodes_placed_by_other")),
              ("Not recorded", t("episodes_placed_by_unknown"))]
    if all(v == v for _, v in placed):
        charts.append(bar_chart(
            placed, title="Episodes by placing authority", total=mapped, highlight=(1,),
            note=f"{fmt_int(t('children_placed_by_other'))} children placed in the area by "
                 "other authorities."))
    lpa = result.localities.get("lpa")
    if lpa is not None and len(lpa) and s.LPA_NAME in lpa.columns:
        order = lpa.sort_values("episodes", ascending=False, kind="stable")
        charts.append(bar_chart(
            [(str(r[s.LPA_NAME]), float(r["episodes"])) for _, r in order.iterrows()],
            title="Episodes by Local Police Area", total=mapped))
    return f"<div class='charts' id='charts'>{''.join(charts)}</div>"


def _overview(result: AnalysisResult, context: MapContext) -> str:
    wards = context.wards
    ward_table = result.localities["ward"].drop_duplicates(s.WARD_CODE).set_index(s.WARD_CODE)
    counts = (pd.to_numeric(wards[s.WARD_CODE].astype(str).map(ward_table["episodes"]),
                            errors="coerce").fillna(0).to_numpy())
    breaks = class_breaks(counts)
    palette = style.sequential(len(breaks) + 1)
    classes = [class_of(float(v), breaks) for v in counts]
    labels = (list(context.place_labels) if context.place_labels is not None
              else place_labels(wards, context.districts))
    svg = overview_map(wards, classes, palette, context.lpas, result.hotspots, labels,
                       title="Overview map: episodes by ward, hotspots and Local Police Areas",
                       centres=context.show_hotspot_centres)
    legend = "".join(f"<span><span class='sw' style='background:{palette[i]}'></span>"
                     f"{esc(text)}</span>" for i, text in enumerate(class_labels(breaks)))
    legend += (f"<span><span class='sw' style='background:{style.HOTSPOT_FILL};"
               "border-radius:50%'></span>hotspot (area = episodes)</span>"
               f"<span><span class='sw' style='background:none;border:2px solid "
               f"{style.LPA_LINE}'></span>Local Police Area</span>")
    return (f"<figure class='mapfig' id='overview'>{svg}<figcaption class='legend'>"
            f"<b>Episodes per ward:</b> {legend}</figcaption></figure>")


def _map_section(result: AnalysisResult, context: MapContext, map_html: str | None,
                 map_href: str | None) -> str:
    parts = ["<h2 class='new-page'>The map</h2>", _overview(result, context)]
    if map_html is not None:
        parts.append(
            "<p class='no-print note'>The interactive map below works offline: hover over a "
            "ward, click a hotspot, switch layers in the list at its top right.</p>"
            f"<iframe class='map no-print' title='Interactive map' srcdoc=\"{esc(map_html)}\">"
            "</iframe>"
            "<p class='print-only note'>The interactive map is in the electronic copy of this "
            "report.</p>"
        )
    elif map_href:
        parts.append(
            f"<p class='note'>Interactive map: <a href='{esc(map_href)}'>{esc(map_href)}</a> "
            "(open it from the same folder as this report; it works offline).</p>"
        )
    return "".join(parts)


def _howto(result: AnalysisResult, context: MapContext) -> str:
    lines = [
        "Figures count mapped episodes of going missing or being absent in the period. A child "
        "who went missing three times counts as three episodes and one child.",
        *how_to_read(result, context),
        "Repeat children are counted within each area, so area rows do not add up to the "
        "total; the totals count each child once.",
    ]
    items = "".join(f"<li>{esc(x)}</li>" for x in lines)
    return f"<div class='howto' id='howto'><h2>How to read this map and report</h2>" \
           f"<ul>{items}</ul></div>"


def _locality_tables(result: AnalysisResult, context: MapContext) -> str:
    parts = []
    ward = result.localities.get("ward")
    focus = focus_lpa(result, context)
    if ward is not None and focus is not None and s.LPA_NAME in ward.columns:
        rows = ward[ward[s.LPA_NAME].astype(str) == focus]
        rows = rows.sort_values(["episodes", s.WARD_NAME], ascending=[False, True],
                                kind="stable")
        cols = _locality_columns(ward)
        lpa = result.localities.get("lpa")
        total = None
        if lpa is not None and s.LPA_NAME in lpa.columns:
            match = lpa[lpa[s.LPA_NAME].astype(str) == focus]
            if len(match):
                total = match.iloc[0].copy()
                total["_label"] = f"{focus} (all wards)"
        parts.append(f"<h2 class='new-page' id='focus'>Wards of {esc(focus)}</h2>")
        if rows.empty:
            parts.append(f"<p class='note'>No ward of the boundary set is in {esc(focus)}.</p>")
        else:
            parts.append(_table(rows, [(s.WARD_NAME, "Ward"), (s.LAD_NAME, "District")], cols,
                                total=total, caption="All wards of the LPA, most episodes "
                                "first; wards with no episode are included."))
    for key, title, keys in (
        ("lpa", "Local Police Areas", [(s.LPA_NAME, "Local Police Area")]),
        ("district", "Districts", [(s.LAD_NAME, "District"), (s.LPA_NAME, "LPA")]),
    ):
        table = result.localities.get(key)
        if table is None:
            continue
        keys = [k for k in keys if k[0] in table.columns]
        total = result.totals.iloc[0].copy() if len(result.totals) else None
        if total is not None:
            total["_label"] = "All areas"
        parts.append(f"<h2 id='table-{key}'>{esc(title)}</h2>")
        parts.append(_table(table, keys, _locality_columns(table), total=total))
    return "".join(parts)


def _hotspot_table(result: AnalysisResult, evidence: Evidence | None = None) -> str:
    spots = result.hotspots
    eps = f"{result.config.eps_m:g}"
    head = "<h2 class='new-page' id='table-hotspots'>Hotspots</h2>"
    if spots.empty:
        return head + "<p class='note'>No hotspot was found with these settings.</p>"
    order = spots.sort_values("episodes", ascending=False, kind="stable")
    shown = order.head(MAX_HOTSPOT_ROWS).copy()
    keys = [(k, h) for k, h in ((s.HOTSPOT_ID, "Hotspot"), (s.LPA_NAME, "LPA"),
                                (s.WARD_NAME, "Main ward")) if k in shown.columns]
    cols: list[Column] = [c for c in [
        ("episodes", "Episodes", fmt_int, True),
        ("children", "Children", fmt_int, True),
        ("repeat_children", "Repeat children (2+)", fmt_int, True),
        ("locations", "Locations", fmt_int, True),
        ("area_ha", "Area (ha)", _rate_cell, True),
    ] if c[0] in shown.columns]
    home_cols = [c for c in shown.columns if str(c).startswith("homes_")]
    for c in home_cols:
        kind = str(c).removeprefix("homes_")
        label = style.HOME_PLURALS.get(kind, kind.replace("_", " "))
        cols.append((str(c), f"{label} within {eps} m", fmt_int, True))
    if "driver" in shown.columns:
        shown["driver"] = shown["driver"].fillna("").astype(str)
        keys.append(("driver", "What drives it"))
    if evidence is not None:
        verdict = evidence.hotspot_evidence.set_index(
            evidence.hotspot_evidence[s.HOTSPOT_ID].astype(str))["evidence"]
        shown["_evidence"] = [EVIDENCE_LABELS.get(str(v), str(v)) for v in
                              shown[s.HOTSPOT_ID].astype(str).map(verdict).fillna("")]
        keys.append(("_evidence", "Evidence"))
    more = len(order) - len(shown)
    caption = (f"The {len(shown)} largest of {len(order):,} hotspots; all are in "
               "tables/hotspots.csv." if more > 0 else "")
    return head + _table(shown, keys, cols, caption=caption)


# --------------------------------------------------------------------------------------------
# Evidence for the panel
# --------------------------------------------------------------------------------------------

PLACED_OUT_BASIS = {
    "boundary": "boundary layer",
    "placement_la": "placement LA recorded",
    "postcode_area": "postcode area",
    "unknown": "not known",
    "": "",
}
MEASURE_TEXT = {
    "children_missing_rate_per_10k": "Children who went missing per 10,000 children aged 0-17",
    "incidents_per_child": "Episodes per child who went missing",
    "share_2plus": "Share of those children missing 2 or more times",
}


def _share_text(num: float, den: float) -> str:
    return f"{fmt_pct(num, den)} ({fmt_int(num)} of {fmt_int(den)})" if den else NO_VALUE


def _placed_out_html(evidence: Evidence, host: str) -> str:
    table = evidence.placed_out
    total_rows = table[table["la_name"] == "All placed out of area"]
    total = total_rows.iloc[0] if len(total_rows) else None
    n = int(total["episodes"]) if total is not None else 0
    head = (
        f"<h3 id='evidence-placed-out'>1. {esc(host)}'s own children placed out of area</h3>"
        f"<p class='claim'>The committee report says there are clear and robustly monitored "
        f"processes for {esc(host)} children placed out of area who are reported missing.</p>"
    )
    if total is None or n == 0:
        return head + (
            f"<p class='reading'>No episode in this file is of a child placed by {esc(host)} "
            "and located outside the boundary set, so the data cannot show how children placed "
            "out of area were followed up when they went missing: there is nothing here to "
            "support or test the claim.</p>"
            f"<p class='note'>To count them, include those episodes with their location (or "
            f"<code>placement_la</code>) and <code>placing_authority</code> {esc(host)}: they "
            "are kept as outside the area and counted here by the local authority they were "
            "in (docs/evidence.md, section 1).</p>"
        )
    body = table[table["la_name"] != "All placed out of area"].copy()
    body["_basis"] = body["assigned_by"].astype(str).map(PLACED_OUT_BASIS).fillna("")
    body["_rhi"] = [
        _share_text(float(r["rhi_completed_within_72h"]), float(r["episodes_returned"]))
        for _, r in body.iterrows()
    ]
    total = total.copy()
    total["_label"] = "All placed out of area"
    total["_rhi"] = _share_text(float(total["rhi_completed_within_72h"]),
                                float(total["episodes_returned"]))
    cols: list[Column] = [
        ("episodes", "Episodes", fmt_int, True),
        ("children", "Children", fmt_int, True),
        ("repeat_children", "Repeat children (2+)", fmt_int, True),
        ("_rhi", "RHI within 72 h (of returned)", str, True),
        ("repeat_children_ce_screened", "Repeat children with CE screening", fmt_int, True),
        ("repeat_children_ce_not_screened", "Repeat children without CE screening", fmt_int,
         True),
    ]
    repeat = int(total["repeat_children"])
    not_screened = int(total["repeat_children_ce_not_screened"])
    returned = float(total["episodes_returned"])
    within = float(total["rhi_completed_within_72h"])
    names = body["la_name"].astype(str)
    authorities = int(names[names != "unknown"].nunique())
    reading = (
        f"{fmt_int(n)} episodes of {fmt_int(total['children'])} {esc(host)} children placed "
        f"out of area are in this file, in {authorities:,} local "
        f"{'authority' if authorities == 1 else 'authorities'} (or areas) known. "
        f"Return home interviews were completed within 72 hours for "
        f"{_share_text(within, returned) if returned else 'none (no return recorded)'} of the "
        "returned episodes"
        + (f"; {not_screened:,} of the {repeat:,} children who went missing more than once "
           "there have no CE screening recorded." if repeat else
           "; no child went missing more than once in one authority.")
    )
    return head + f"<p class='reading'>{reading}</p>" + _table(
        body, [("la_name", "Local authority"), ("_basis", "Placed by")], cols, total=total,
        caption="One row per authority and how it was found (boundary layer, placement LA "
        "recorded, postcode area); repeat children are counted within each authority.")


def _fmt_measure(measure: str, value: float) -> str:
    if value != value:
        return NO_VALUE
    if measure == "share_2plus":
        return f"{100 * value:.0f}%"
    if measure == "incidents_per_child":
        return f"{value:.2f}"
    return f"{value:.1f}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _versus(value: float, others: pd.DataFrame, measure: str,
            names: dict[str, str]) -> tuple[list[str], str]:
    """The comparators' figures in words, and ": lower than all three" (or which)."""
    lower, higher, parts = [], [], []
    for _, row in others.iterrows():
        other = float(row[measure])
        if other != other:
            continue
        parts.append(f"{names[row['comparator']]} {_fmt_measure(measure, other)}")
        if round(value, 3) != round(other, 3):
            (lower if value < other else higher).append(names[row["comparator"]])
    every = {2: "both", 3: "all three"}
    if lower and not higher:
        verdict = (f" lower than {every[len(lower)]}" if len(lower) > 1
                   else f" lower than {lower[0]}")
    elif higher and not lower:
        verdict = (f" higher than {every[len(higher)]}" if len(higher) > 1
                   else f" higher than {higher[0]}")
    elif lower:
        verdict = f" lower than {_and(lower)} but higher than {_and(higher)}"
    else:
        verdict = ""
    return parts, (":" + verdict if verdict else "")


def _comparison_html(evidence: Evidence, host: str) -> str:
    head = (
        "<h3 id='evidence-comparison'>2. Compared with statistical neighbours, the region and "
        "England</h3><p class='claim'>The committee report says fewer children went missing, "
        "and less often, than in its statistical neighbours, the region and England.</p>"
    )
    comparison = evidence.comparison
    if comparison is None:
        return head + (
            "<p class='reading'>No published figures were supplied, so this report cannot "
            f"compare {esc(host)} with its statistical neighbours, its region or England, and "
            "the claim is not tested here.</p><p class='note'>Supply them with "
            "<code>--benchmarks FILE</code>: a CSV or XLSX with one row per local authority "
            "and period (<code>la_code</code>, <code>la_name</code>, <code>period</code>, and "
            "children missing per 10,000, episodes per child and the share missing 2 or more "
            "times, or the counts they come from), e.g. from DfE's published tables; a list "
            "of statistical neighbours can be given too (docs/evidence.md, section 2).</p>"
        )
    p = evidence.parameters
    rows = comparison.copy()
    measures = list(MEASURE_TEXT)
    cols: list[Column] = [
        (m, {"children_missing_rate_per_10k": "Children missing per 10,000 aged 0-17",
             "incidents_per_child": "Episodes per child",
             "share_2plus": "Share missing 2+ times"}[m],
         (lambda v, m=m: _fmt_measure(m, float(v) if v is not None else math.nan)), True)
        for m in measures
    ]
    rows["_n"] = [str(int(v)) if int(v) > 1 else "" for v in rows["n_las"]]
    cols.append(("_n", "Authorities", str, True))
    rows["note"] = rows["note"].fillna("").astype(str)
    if (rows["note"] != "").any():
        cols.append(("note", "Note", str, False))
    table = _table(rows, [("label", "Compared with"), ("period", "Period")], cols)
    host_row = rows[rows["comparator"] == "host"].iloc[0]
    others = rows[rows["comparator"].isin(["statistical_neighbours", "region", "england"])]
    names = {"statistical_neighbours": "its statistical neighbours", "region": "the region",
             "england": "England"}
    lines = []
    for m in measures:
        mine = float(host_row[m])
        if mine != mine:
            lines.append(f"{MEASURE_TEXT[m]}: not computed for {esc(host)} (" + (
                "no population of children aged 0-17 was given)." if m == measures[0]
                else "no episodes)."))
            continue
        parts, verdict = _versus(mine, others, m, names)
        line = (f"{MEASURE_TEXT[m]}: {esc(host)} {_fmt_measure(m, mine)} in this analysis, "
                f"against {', '.join(parts) or 'no published figure'}{verdict}.")
        published = rows[rows["comparator"] == "host_published"]
        if len(published) and float(published[m].iloc[0]) == float(published[m].iloc[0]):
            value = float(published[m].iloc[0])
            _, verdict = _versus(value, others, m, names)
            line += (f" Its own published figure for {esc(published['period'].iloc[0])}, "
                     f"{_fmt_measure(m, value)}, is{verdict.removeprefix(':') or ' as given'}.")
        lines.append(line)
    caveats = []
    days = p.get("period_days")
    period = str(rows[rows["comparator"] != "host"]["period"].iloc[0]) if len(rows) > 1 else ""
    if isinstance(days, int) and days < 330:
        lines.append(esc(
            f"This analysis covers {days:,} days ({fmt_date(p.get('period_start'))} to "
            f"{fmt_date(p.get('period_end'))}); the published figures are for {period}, "
            "usually a whole year. All three measures grow with the length of the period, so a "
            "shorter period looks lower: compare a whole year (such as the published figure "
            "for the county itself) before reading the claim as supported."))
    basis = p.get("comparison_basis")
    caveats.append(
        "This analysis counts every episode located in the area, whoever placed the child (as "
        "the police count); published local-authority figures count the authority's own "
        "children wherever they are placed." if basis == "in_area" else
        "This analysis counts the county's own children wherever they went missing.")
    source = p.get("population_source")
    population = p.get("population_0_17")
    if source == "benchmarks":
        caveats.append(f"The rate per 10,000 uses the population aged 0-17 of {host}'s "
                       f"row in the benchmarks file ({fmt_int(population)}).")
    elif source:
        caveats.append(f"The rate per 10,000 uses a population aged 0-17 of "
                       f"{fmt_int(population)}.")
    caveats.append("Means over neighbours and the region are simple means of the "
                   "authorities' published figures.")
    body = "".join(f"<p class='reading'>{x}</p>" for x in lines)
    return (head + body + table
            + "".join(f"<p class='note'>{esc(x)}</p>" for x in caveats))


def _genuine_html(result: AnalysisResult, evidence: Evidence) -> str:
    p = evidence.parameters
    head = (
        "<h3 id='evidence-hotspots'>3. Which hotspots are genuine</h3>"
        "<p class='claim'>The committee report asks for focus on the areas with "
        "proportionately higher numbers of missing children. Before acting on a hotspot, check "
        "that it is more than chance and more than one child.</p>"
    )
    body = "".join(f"<p>{esc(abridge_ids(x, keep=60))}</p>" for x in evidence.sentences)
    table = ""
    verdicts = evidence.hotspot_evidence
    if len(verdicts):
        spots = result.hotspots.copy()
        spots[s.HOTSPOT_ID] = spots[s.HOTSPOT_ID].astype(str)
        merged = spots.merge(
            verdicts.drop(columns=[c for c in ("episodes", "children") if c in verdicts])
            .assign(**{s.HOTSPOT_ID: verdicts[s.HOTSPOT_ID].astype(str)}),
            on=s.HOTSPOT_ID, how="left")
        merged = merged.sort_values("episodes", ascending=False, kind="stable")
        shown = merged.head(MAX_HOTSPOT_ROWS).copy()
        shown["_gi"] = ["yes" if bool(v) else "no" for v in shown["gi_significant"].fillna(False)]
        shown["_stab"] = [NO_VALUE if v != v else f"{100 * v:.0f}%"
                          for v in shown["stability"].astype(float)]
        shown["_one"] = ["yes" if bool(v) else "no"
                         for v in shown["rests_on_one_child"].fillna(False)]
        shown["_ev"] = [EVIDENCE_LABELS.get(str(v), str(v)) for v in shown["evidence"]]
        keys = [(k, h) for k, h in ((s.HOTSPOT_ID, "Hotspot"), (s.LPA_NAME, "LPA"),
                                    (s.WARD_NAME, "Main ward")) if k in shown.columns]
        cols: list[Column] = [c for c in [
            ("episodes", "Episodes", fmt_int, True),
            ("children", "Children", fmt_int, True),
            ("_gi", "Gi* hot spot", str, True),
            ("_stab", "Found again in re-runs", str, True),
            ("_one", "Rests on one child", str, True),
            ("_ev", "Evidence", str, True),
        ] if c[0] in shown.columns]
        more = len(merged) - len(shown)
        caption = (f"The {len(shown)} largest of {len(merged):,} hotspots; every hotspot's "
                   "evidence is in tables/hotspots.csv." if more > 0 else "")
        table = _table(shown, keys, cols, caption=caption)
    runs = int(p.get("stability_runs") or 0)
    alpha = float(p.get("alpha", 0.05))
    perms = int(p.get("permutations") or 0)
    method = (
        f"Method. Getis-Ord Gi* on a {float(p['cell_m']):g} m grid of the British National "
        f"Grid ({int(p.get('gi_cells', 0)):,} squares over the area): each square is tested "
        "with the 8 around it (queen neighbours, binary weights, the square itself included). "
        "Its p-value is that of a permutation test with every permutation, computed exactly "
        "by counting the ways the counts could fall in its window"
        + (f" (esda's {perms:,} conditional permutations, seed {int(p.get('seed', 0))}, are "
           "reported for reference only)" if perms else "")
        + f"; the Benjamini-Hochberg false discovery rate is then held at {alpha:.0%} over all "
        "the squares. "
        + (f"Stability: {runs:,} bootstrap resamples of the children (each draws as many "
           "children as there are, with replacement, and a drawn child brings all of their "
           "episodes); DBSCAN is re-run on each with the same eps "
           f"({float(p.get('eps_m', 250)):g} m) and minimum "
           f"({int(p.get('min_samples', 5))} episodes), and a hotspot is found again when "
           "a hotspot of the resample shares more than half of its locations (Jaccard index "
           "above 0.5). "
           if runs else "Stability was not tested. ")
        + f"Robust: overlaps a significant Gi* hot square and found again in at least "
        f"{float(p.get('robust_stability', 0.8)):.0%} of the resamples. Rests on one child: "
        "one child accounts for half or more of its episodes (no child is named)."
    )
    notes = "".join(f"<p class='note'>Note: {esc(n)}</p>" for n in evidence.notes
                    if n.startswith(("Gi*", "Stability")))
    return head + body + table + f"<p class='note'>{esc(method)}</p>" + notes


def evidence_section(result: AnalysisResult, evidence: Evidence) -> str:
    """The report's "Evidence for the panel" section (HTML, user text escaped)."""
    host = str(evidence.parameters.get("host_authority")
               or getattr(result.config, "host_authority", "") or "the county")
    return (
        "<section class='evidence' id='evidence'>"
        "<h2 class='new-page'>Evidence for the panel</h2>"
        "<p>Three statements of the committee report, set against this data.</p>"
        f"{_placed_out_html(evidence, host)}{_comparison_html(evidence, host)}"
        f"{_genuine_html(result, evidence)}</section>"
    )


def _method(result: AnalysisResult, context: MapContext) -> str:
    cfg = result.config
    c = result.counts
    precision = PRECISION_TEXT.get(cfg.hotspot_precision, str(cfg.hotspot_precision))
    rejected = c.get("rejected_by_reason") or {}
    reasons = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in rejected.items())
    lines = [
        f"Hotspots: {hotspot_rule(cfg)}; from {precision} (coarser locations count in the "
        "ward totals only).",
        f"Rows read {fmt_int(c.get('read'))}: mapped {fmt_int(c.get('mapped'))}, rejected "
        f"{fmt_int(c.get('rejected'))}{' (' + reasons + ')' if reasons else ''}, outside the "
        f"area {fmt_int(c.get('outside_area'))}.",
        "Ward classes: nested quantiles of the wards with any episode; 0 is its own class.",
        f"Boundaries: {context.boundary_name}, {context.boundary_vintage}.",
        *(f"Note: {note}" for note in run_notes(result)),
    ]
    body = "".join(f"<p>{esc(x)}</p>" for x in lines)
    return f"<h2 id='method'>Method and sources</h2><div class='method'>{body}</div>"


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def report_html(result: AnalysisResult, context: MapContext, *, map_html: str | None = None,
                map_href: str | None = "map.html") -> str:
    """The report page as a string; see `write_report`."""
    check_evidence(result, context.evidence)
    area = area_label(context.boundary_name, context.area_name)
    as_of = data_as_of(result)
    credits = "<br>".join(esc(line) for line in context.attribution)
    page = (
        "<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(context.title)}: report</title><style>{CSS}</style></head><body><main>"
        f"<header><h1>{esc(context.title)}</h1>"
        f"<div class='sub'>{esc(area)} \u00b7 episodes starting {esc(period_text(result))}"
        f"{' · data as of ' + esc(as_of) if as_of else ''}</div>"
        f"<div class='meta'>Boundaries {esc(context.boundary_name)} "
        f"({esc(context.boundary_vintage)}) \u00b7 hotspots: "
        f"{esc(hotspot_short(result.config))}</div>"
        "</header>"
        f"{_cards(result)}{_howto(result, context)}"
        f"<h2 id='measures'>Measures</h2>{_charts(result)}"
        f"{_map_section(result, context, map_html, map_href)}"
        f"{_locality_tables(result, context)}{_hotspot_table(result, context.evidence)}"
        f"{evidence_section(result, context.evidence) if context.evidence is not None else ''}"
        f"{_method(result, context)}"
        f"<footer>{credits}</footer></main></body></html>"
    )
    allowed = (tile_url(context.tiles),) if context.tiles else ()
    urls = [u for u in find_external_urls(page) if u not in allowed]
    if urls:
        raise OfflineAssetError(
            "The report would load resources from the network: " + ", ".join(urls),
            urls=tuple(urls),
        )
    return page


def write_report(result: AnalysisResult, context: MapContext, path: Path, *,
                 map_html: str | None = None, map_href: str | None = "map.html") -> Path:
    """Write the printable report to `path` and return it.

    `map_html` is the self-contained map page (`maps.render.map_html`, or the text of the
    written ``map.html``): it is embedded (``<iframe srcdoc>``), so the report is one file that
    works offline on its own. Without it, the report links to `map_href` (relative to the
    report; ``None`` for no link). Either way a static overview map is drawn, which prints.
    """
    page = report_html(result, context, map_html=map_html, map_href=map_href)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
