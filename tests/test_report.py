"""maps.report: the printable, self-contained meeting report."""

from __future__ import annotations

import dataclasses
import re

import pytest

from geo import schema as s
from geo.episodes import read_table
from geo.pipeline import analyse
from maps.offline import find_external_urls
from maps.render import map_html
from maps.report import DEFAULT_FOCUS_LPA, focus_lpa, report_html, write_report
from maps.svg import bar_chart, column_chart
from tests.browser import assert_offline_clean
from tests.conftest import episode
from tests.test_render import EVIL, EVIL_WARD, make_context, synthetic_result

pytest_plugins = ["tests.browser"]


@pytest.fixture(scope="module")
def synth(oxon, tmp_path_factory):
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result = synthetic_result(wards, tmp_path_factory.mktemp("synth"), n=800, seed=11)
    return result, wards


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
