import re

import pytest

from geo import schema as s
from geo.episodes import read_table
from geo.pipeline import analyse
from maps.offline import find_external_urls
from maps.render import MapContext, class_breaks, write_map
from tests.browser import assert_offline_clean, hover_path, open_map
from tests.conftest import BANBURY, episode

pytest_plugins = ["tests.browser"]

EVIL = "<img src=x onerror=alert(1)>`${alert(2)}`"


def _context(oxon, wards=None, title="Test map"):
    return MapContext(
        wards=oxon.wards if wards is None else wards,
        lpas=oxon.lpas,
        attribution=oxon.attribution,
        boundary_name=oxon.name,
        boundary_vintage=oxon.vintage,
        title=title,
    )


def _result(wards, write_csv):
    rows = [episode(i, *BANBURY, child_id=f"SECRET{i % 2}") for i in range(6)]
    rows.append(episode(9, 51.75, -1.26, child_id="SECRET9"))
    return analyse(read_table(write_csv(rows)), wards=wards)


@pytest.fixture
def written_map(oxon, write_csv, tmp_path):
    result = _result(oxon.wards, write_csv)
    return write_map(result, _context(oxon), tmp_path / "map.html"), result


def test_map_is_self_contained_and_names_its_layers(written_map, oxon):
    path, _ = written_map
    page = path.read_text(encoding="utf-8")
    assert find_external_urls(page) == []
    for name in ("Wards: episodes (choropleth)", "Local Police Areas (outlines)",
                 "Hotspots (DBSCAN hulls)"):
        assert name in page
    for line in oxon.attribution:
        assert line in page
    assert "December 2019" in page and "eps 250 m" in page


def test_child_ids_never_reach_the_map(written_map):
    path, _ = written_map
    assert "SECRET" not in path.read_text(encoding="utf-8")


def test_user_text_is_escaped(oxon, write_csv, tmp_path):
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == "E05010921", s.WARD_NAME] = EVIL
    result = _result(wards, write_csv)
    page = write_map(result, _context(oxon, wards, title=EVIL), tmp_path / "m.html").read_text()
    assert "<img src=x" not in page
    assert "${alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0, 0, 0], []), ([0, 5, 5, 5], [5]), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 4, 6, 8, 10])],
)
def test_class_breaks(values, expected):
    assert class_breaks(values) == expected


@pytest.mark.browser
def test_map_works_offline_in_chromium(page, written_map, tmp_path):
    path, _ = written_map
    name = open_map(page, path)
    assert_offline_clean(page)
    n_paths = page.evaluate(f"""() => {{
        let n = 0; {name}.eachLayer(l => {{ if (l instanceof L.Polygon) n++; }}); return n; }}""")
    # 112 wards + 3 LPAs + 1 hotspot hull (polygons; the hotspot dot is a circle)
    assert n_paths == 112 + 3 + 1
    # the layer control lists the three layers
    control = page.inner_text(".leaflet-control-layers")
    assert "Hotspots (DBSCAN hulls)" in control and "Wards: episodes" in control
    # hovering a hotspot shows its counts, never a child id
    page.evaluate(f"() => {name}.setView([{BANBURY[0]}, {BANBURY[1]}], 15, {{animate: false}})")
    page.wait_for_timeout(300)
    circle = page.locator("path.leaflet-interactive[stroke='#3f007d']").last
    hover_path(page, circle)
    tip = page.locator(".leaflet-tooltip").last.inner_text()
    assert "Hotspot H01" in tip and re.search(r"Episodes\s+6", tip)
    assert "SECRET" not in page.content()
    page.screenshot(path=str(tmp_path / "map.png"))
