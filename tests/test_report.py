"""maps.report: the printable, self-contained meeting report."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import pytest

from geo import schema as s
from geo.context import build_evidence
from geo.episodes import read_table
from geo.pipeline import analyse
from maps.offline import find_external_urls
from maps.render import map_html
from maps.report import DEFAULT_FOCUS_LPA, focus_lpa, report_html, write_report
from maps.svg import bar_chart, column_chart
from tests.browser import assert_offline_clean
from tests.conftest import episode
from tests.test_render import (
    EVIL,
    EVIL_WARD,
    GI_LAYER_NAME,
    demo_with_evidence,
    make_context,
    synthetic_result,
)

pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="module")
def synth(oxon, tmp_path_factory):
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result = synthetic_result(wards, tmp_path_factory.mktemp("synth"), n=800, seed=11)
    return result, wards


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def demo(oxon, tmp_path_factory):
    """Demo-sized synthetic data with its evidence, and the evidence with the example
    (synthetic) benchmark and neighbour files."""
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result, evidence = demo_with_evidence(wards, tmp_path_factory.mktemp("demo"))
    compared = build_evidence(result, wards, benchmarks=EXAMPLES / "benchmarks_example.csv",
                              neighbours=EXAMPLES / "neighbours_example.csv")
    return result, wards, evidence, compared


def _config_without_focus(result):
    """The result as an older pipeline made it: a config with no `focus_lpa`."""

    @dataclasses.dataclass(frozen=True)
    class OldConfig:
        eps_m: float = 250.0
        min_samples: int = 5
        period: object = None
        hotspot_precision: str = "postcode"

        @property
        def hotspot_precisions(self):
            return ("coordinates", "postcode")

    return dataclasses.replace(result, config=OldConfig())


def test_report_is_self_contained_and_has_the_sections(oxon, synth):
    result, wards = synth
    page = report_html(result, make_context(oxon, wards), map_html=None)
    assert find_external_urls(page) == []
    assert "<script" not in page  # the report itself runs no code
    for anchor in ("headline", "howto", "charts", "overview", "focus", "table-lpa",
                   "table-district", "table-hotspots", "method"):
        assert f"id='{anchor}'" in page, anchor
    assert "How to read this map and report" in page
    assert f"Wards of {DEFAULT_FOCUS_LPA}" in page
    assert f"{int(result.counts['mapped']):,}" in page
    for line in oxon.attribution:
        assert line in page
    assert "@page" in page and "size: A4" in page and "break-inside: avoid" in page
    assert "href='map.html'" in page  # linked, not embedded


def test_charts_are_inline_svg(oxon, synth):
    result, wards = synth
    page = report_html(result, make_context(oxon, wards))
    assert page.count("<figure class='chart") >= 7
    for title in ("Episodes by month", "Episodes by sex", "Episodes by age",
                  "Children by number of episodes", "Return Home Interviews (RHI)",
                  "Episodes by placing authority", "Episodes by Local Police Area"):
        assert f"<b>{title}</b>" in page, title
    assert "<svg class='map-svg'" in page


def test_no_child_id_anywhere(oxon, synth):
    result, wards = synth
    assert result.episodes[s.CHILD_ID].str.startswith("SECRET").all()
    page = report_html(result, make_context(oxon, wards), map_html=map_html(result,
                                                                             make_context(oxon)))
    assert "SECRET" not in page


def test_user_text_is_escaped(oxon, synth):
    result, wards = synth
    spots = result.hotspots.copy()
    spots["driver"] = EVIL
    result = dataclasses.replace(result, hotspots=spots)
    context = dataclasses.replace(make_context(oxon, wards, title=EVIL), attribution=(EVIL,),
                                  area_name=EVIL)
    page = report_html(result, context, map_html=map_html(result, context), map_href=EVIL)
    assert "<img src=x" not in page
    assert "${alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "What drives it" in page


def test_embedded_map_is_the_self_contained_page(oxon, synth, tmp_path):
    result, wards = synth
    context = make_context(oxon, wards)
    mh = map_html(result, context)
    path = write_report(result, context, tmp_path / "report.html", map_html=mh)
    page = path.read_text(encoding="utf-8")
    assert "<iframe class='map no-print'" in page and "srcdoc=\"" in page
    assert find_external_urls(page) == []
    assert "href='map.html'" not in page
    no_link = report_html(result, context, map_href=None)
    assert "<iframe" not in no_link and "map.html" not in no_link


def test_focus_lpa_choice(oxon, synth):
    result, wards = synth
    assert focus_lpa(result, make_context(oxon, wards)) == DEFAULT_FOCUS_LPA
    assert focus_lpa(result, make_context(oxon, wards, focus_lpa="Oxford")) == "Oxford"
    page = report_html(result, make_context(oxon, wards, focus_lpa="Oxford"))
    assert "Wards of Oxford" in page
    # an older config without focus_lpa: the default when present
    old = _config_without_focus(result)
    assert focus_lpa(old, make_context(oxon, wards)) == DEFAULT_FOCUS_LPA
    # no such LPA in the boundary set: the busiest LPA
    lpa = old.localities["lpa"].copy()
    lpa[s.LPA_NAME] = lpa[s.LPA_NAME].replace(DEFAULT_FOCUS_LPA, "Elsewhere")
    other = dataclasses.replace(old, localities={**old.localities, "lpa": lpa})
    busiest = lpa.sort_values("episodes", ascending=False)[s.LPA_NAME].iloc[0]
    assert focus_lpa(other, make_context(oxon, wards)) == busiest
    # the pipeline said "no focus table"
    if hasattr(result.config, "focus_lpa"):
        none = dataclasses.replace(result, config=dataclasses.replace(result.config,
                                                                      focus_lpa=None))
        assert focus_lpa(none, make_context(oxon, wards)) is None
        assert "id='focus'" not in report_html(none, make_context(oxon, wards))


def test_extra_and_missing_columns_are_tolerated(oxon, synth):
    result, wards = synth
    loc = {k: v.copy() for k, v in result.localities.items()}
    loc["lpa"]["episodes_per_10k"] = 12.345
    loc["lpa"]["a_brand_new_measure"] = 7
    totals = result.totals.drop(columns=["rhi_offered", "rhi_completed_within_72h",
                                         "episodes_sex_unknown"])
    for key in loc:
        loc[key] = loc[key].drop(columns=["rhi_completed_within_72h_share"])
    changed = dataclasses.replace(result, localities=loc, totals=totals)
    page = report_html(changed, make_context(oxon, wards))
    assert "Episodes per 10,000" in page and "12.3" in page
    assert "Return Home Interviews (RHI)" not in page  # its columns are gone
    assert "RHI within 72 h" not in page


def test_a_run_with_nothing_mapped(oxon, write_csv):
    rows = [episode(1, 0, 0), episode(2, 51.454, -0.973)]
    result = analyse(read_table(write_csv(rows)), wards=oxon.wards)
    page = report_html(result, make_context(oxon))
    assert "No hotspot was found" in page
    assert find_external_urls(page) == []


def test_svg_helpers_escape_and_scale():
    svg = bar_chart([(EVIL, 3), ("b", 1)], title=EVIL, total=4)
    assert "<img" not in svg and "75%" in svg
    col = column_chart([("Jan", 0), ("Feb", 5)], title="t")
    assert col.count("<rect") == 2 and "viewBox='0 0 700 190'" in col
    long = bar_chart([("Cherwell and West Oxfordshire and a very long name", 1)], title="t")
    assert "\u2026" in long and "<title>Cherwell and West" in long


# ---------------------------------------------------------------------------------------------
# Browser
# ---------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_report_in_chromium(page, oxon, synth, tmp_path):
    result, wards = synth
    context = make_context(oxon, wards, title="Missing children: meeting report")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    path = write_report(result, context, tmp_path / "report.html",
                        map_html=map_html(result, context))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    # the embedded map runs inside the report, offline
    frame = page.frame_locator("iframe.map")
    frame.locator(".leaflet-container").wait_for(timeout=10_000)
    frame.locator("#hs-title").wait_for(timeout=10_000)
    page.wait_for_timeout(500)
    assert_offline_clean(page)

    headline = page.locator("#headline").inner_text()
    assert f"{int(result.counts['mapped']):,}" in headline
    assert "episodes mapped" in headline and "hotspots" in headline
    assert page.locator("figure.chart svg").count() >= 7
    assert page.locator("#overview svg path").count() >= 112
    sizes = page.evaluate("() => [...document.querySelectorAll('figure.chart svg')].map("
                          "s => s.getBoundingClientRect().width)")
    assert all(w > 200 for w in sizes), sizes
    assert EVIL in page.locator("#focus + table").inner_text()
    assert page.locator("img").count() == 0
    assert dialogs == []
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    # print: A4 pages, the iframe hidden, the static map kept
    page.emulate_media(media="print")
    assert not page.locator("iframe.map").is_visible()
    assert page.locator("#overview svg").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 4 <= pages <= 20, pages
    (tmp_path / "report.pdf").write_bytes(pdf)


# ---------------------------------------------------------------------------------------------
# Evidence for the panel (issue 8)
# ---------------------------------------------------------------------------------------------


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _section(page: str) -> str:
    return page[page.index("<section class='evidence'"):page.index("</section>")]


def test_evidence_section_answers_the_three_claims(oxon, demo):
    result, wards, _, evidence = demo
    page = report_html(result, make_context(oxon, wards, evidence=evidence))
    assert find_external_urls(page) == [] and "<script" not in page
    for anchor in ("evidence", "evidence-placed-out", "evidence-comparison",
                   "evidence-hotspots"):
        assert f"id='{anchor}'" in page, anchor
    text = _text(_section(page))
    assert "Evidence for the panel" in text
    # (a) the synthetic data hold no child placed out of area: said plainly
    assert "No episode in this file is of a child placed by Oxfordshire" in text
    # (b) the comparison, with the period caveat: 1 Jan to 30 Jun 2020 against a whole year
    host = evidence.comparison.set_index("comparator").loc["host"]
    rate = f"{host['children_missing_rate_per_10k']:.1f}"
    assert f"Oxfordshire {rate} in this analysis" in text
    assert "Statistical neighbours (mean of 10)" in text and "England" in text
    assert "This analysis covers 182 days (1 Jan 2020 to 30 Jun 2020)" in text
    assert "population aged 0-17 of Oxfordshire's row in the benchmarks file (146,000)" in text
    # (c) which hotspots are genuine: the sentences, a table and the method
    robust = evidence.hotspot_evidence.query("evidence == 'robust'")[s.HOTSPOT_ID].tolist()
    assert f"Robust: {', '.join(robust)}." in text
    assert "Fragile, found again in fewer than 80% of the re-runs" in text
    assert "Rests on one child" in text
    assert "200 bootstrap resamples of the children" in text
    assert "500 m grid" in text and "false discovery rate is then held at 5%" in text
    # the hotspot table gains the verdict
    assert "<th>Evidence</th>" in page[page.index("id='table-hotspots'"):]
    assert "SECRET" not in page


def test_without_benchmarks_the_report_says_how_to_supply_them(oxon, demo):
    result, wards, evidence, _ = demo
    page = report_html(result, make_context(oxon, wards, evidence=evidence))
    text = _text(_section(page))
    assert "No published figures were supplied" in text and "--benchmarks FILE" in text
    assert "Statistical neighbours (mean" not in text
    # and without evidence at all, no section
    plain = report_html(result, make_context(oxon, wards))
    assert "id='evidence'" not in plain and "<th>Evidence</th>" not in plain


def test_placed_out_table_by_hand_and_escaped(oxon, write_csv):
    reading, swindon = (51.4545, -0.9780), (51.5600, -1.7800)
    rows = [
        episode(1, *reading, child_id="SECRETA", placing_authority="Oxfordshire",
                placement_la=EVIL, rhi_completed="2020-03-04 08:00", ce_screening="yes"),
        episode(2, *reading, child_id="SECRETA", placing_authority="Oxfordshire",
                placement_la=EVIL),
        episode(3, *reading, child_id="SECRETB", placing_authority="Oxfordshire",
                placement_la=EVIL, rhi_completed="2020-03-05 09:00"),
        episode(4, *swindon, child_id="SECRETC", placing_authority="Oxfordshire",
                placement_la="Swindon", ce_screening="no"),
        episode(5, *swindon, child_id="SECRETC", placing_authority="Oxfordshire",
                placement_la="Swindon", ce_screening="no"),
        episode(6, *reading, child_id="SECRETD", placing_authority="Reading",
                placement_la="Reading"),  # another authority's child: not ours
    ]
    result = analyse(read_table(write_csv(rows)), wards=oxon.wards)
    evidence = build_evidence(result, oxon.wards, permutations=0, stability_runs=5)
    page = report_html(result, make_context(oxon, evidence=evidence))
    section = _section(page)
    assert "<img src=x" not in page and "${alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    text = _text(section)
    # 5 episodes of 3 children; returned 5 (all rows have `returned`), RHI in 72 h: 2
    assert "5 episodes of 3 Oxfordshire children placed out of area" in text
    assert "within 72 hours for 40% (2 of 5)" in text
    assert "1 of the 2 children who went missing more than once there have no CE screening" \
        in text
    body = section[section.index("id='evidence-placed-out'"):
                   section.index("id='evidence-comparison'")]
    cells = re.findall(r"<td class='n'>([^<]*)</td>", body)
    # Reading (escaped name): 3 episodes, 2 children, 1 repeat, RHI 67% (2 of 3), 1 / 0
    assert cells[:6] == ["3", "2", "1", "67% (2 of 3)", "1", "0"]
    assert cells[-6:] == ["5", "3", "2", "40% (2 of 5)", "1", "1"]  # the total row
    assert "SECRET" not in page


@pytest.mark.browser
def test_report_with_evidence_in_chromium(page, oxon, demo, tmp_path):
    result, wards, _, evidence = demo
    context = make_context(oxon, wards, evidence=evidence)
    path = write_report(result, context, tmp_path / "report.html",
                        map_html=map_html(result, context))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    frame = page.frame_locator("iframe.map")
    frame.locator(".leaflet-container").wait_for(timeout=10_000)
    n_hot = int(evidence.gi_grid["hot"].sum())
    frame.locator("path.hs-gi-cell").first.wait_for(timeout=10_000)
    assert frame.locator("path.hs-gi-cell").count() == n_hot
    assert GI_LAYER_NAME in frame.locator(".leaflet-control-layers").inner_text()
    page.wait_for_timeout(300)
    assert_offline_clean(page)
    section = page.locator("#evidence")
    assert section.is_visible()
    assert section.locator("h3").count() == 3
    text = section.inner_text()
    assert "Evidence for the panel" in text and "Which hotspots are genuine" in text
    assert section.locator("table").count() == 2  # the comparison and the hotspots
    page.locator("#evidence").screenshot(path=str(tmp_path / "report-evidence.png"))
    page.emulate_media(media="print")
    assert section.is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 5 <= pages <= 24, pages
    assert "SECRET" not in page.content()


def test_long_lists_of_hotspots_are_abridged():
    from maps.text import abridge_ids

    sentence = ("Fragile, found again in fewer than 80% of the re-runs: "
                + ", ".join(f"H{i:04d} ({50 + i % 30}%, Gi* hot spot)" for i in range(1, 2001))
                + ". Treat them as possible rather than established hotspots.")
    short = abridge_ids(sentence, keep=3)
    assert short == ("Fragile, found again in fewer than 80% of the re-runs: H0001 (51%, Gi* "
                     "hot spot), H0002 (52%, Gi* hot spot), H0003 (53%, Gi* hot spot) and 1,997 "
                     "more. Treat them as possible rather than established hotspots.")
    assert abridge_ids("Robust: H02, H04.", keep=3) == "Robust: H02, H04."
    assert abridge_ids("The Gi* test found 16 hot-spot cells among 10,898.") == (
        "The Gi* test found 16 hot-spot cells among 10,898.")
