"""maps.offline: self-contained folium HTML that loads nothing from the network."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import folium
import pytest
from folium.plugins import HeatMap

import maps.offline as offline
from maps.offline import OfflineAssetError, find_external_urls, make_self_contained
from tests.browser import assert_offline_clean, click_path, hover_path, open_map

pytest_plugins = ["tests.browser"]

SCREENSHOT = "/tmp/offline_map.png"


def bare_map() -> folium.Map:
    m = folium.Map(location=[51.75, -1.25], zoom_start=11, tiles=None)
    m.options["max_zoom"] = 18
    return m


def square(x: float, y: float, d: float = 0.04) -> list[list[list[float]]]:
    return [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]


WARDS = [  # name, episodes, lon, lat, fill colour
    ("Ward A", 12, -1.30, 51.72, "#e41a1c"),
    ("Ward B", 5, -1.25, 51.72, "#377eb8"),
    ("Ward C", 0, -1.30, 51.77, "#4daf4a"),
]
LEGEND_HTML = """
<div id="legend" style="position: fixed; bottom: 24px; left: 24px; z-index: 1000;
     background: white; padding: 6px 10px; border: 1px solid #888;
     font: 13px/1.4 sans-serif;">
  <b>Episodes</b><br>
  <span style="background:#e41a1c;width:12px;height:12px;display:inline-block"></span> high<br>
  <span style="background:#377eb8;width:12px;height:12px;display:inline-block"></span> low<br>
  <a href="https://example.org/about-the-data">About the data</a>
</div>
"""


def ward_map() -> folium.Map:
    """The kind of map the project draws: polygons with tooltip and popup, a CircleMarker (on
    top of Ward A's centre), a LayerControl and an HTML legend."""
    m = bare_map()
    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "episodes": n, "colour": colour},
            "geometry": {"type": "Polygon", "coordinates": square(lon, lat)},
        }
        for name, n, lon, lat, colour in WARDS
    ]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name="Wards",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#333333",
            "weight": 1,
            "fillOpacity": 0.6,
        },
        tooltip=folium.GeoJsonTooltip(["name", "episodes"], aliases=["Ward", "Episodes"]),
        popup=folium.GeoJsonPopup(["name", "episodes"], aliases=["Ward", "Episodes"]),
    ).add_to(m)
    hotspots = folium.FeatureGroup(name="Hotspots").add_to(m)
    folium.CircleMarker(
        [51.74, -1.28], radius=12, color="#000000", fill=True, fill_color="#ffff33",
        fill_opacity=0.9, tooltip="Hotspot 1",
    ).add_to(hotspots)
    folium.LayerControl(collapsed=False).add_to(m)
    m.get_root().html.add_child(folium.Element(LEGEND_HTML))
    m.fit_bounds([[51.71, -1.31], [51.82, -1.20]])
    return m


# ---------------------------------------------------------------------------------------------
# Unit tests (no browser)
# ---------------------------------------------------------------------------------------------


def test_default_map_becomes_self_contained():
    raw = bare_map().get_root().render()
    assert any("leaflet.js" in u for u in find_external_urls(raw))  # folium does use CDNs

    out = make_self_contained(raw)

    assert find_external_urls(out) == []
    assert "cdn.jsdelivr.net" not in out and "code.jquery.com" not in out
    assert "bootstrap" not in out.lower() and "awesome-markers" not in out
    assert f"Leaflet {offline.LEAFLET_VERSION}, inlined" in out
    assert f"jQuery {offline.JQUERY_VERSION}, inlined" in out
    assert "L.Icon.Default.mergeOptions({iconUrl: 'data:image/png;base64," in out
    assert "url(images/" not in out  # leaflet.css images are data URIs now
    assert out.count('url("data:image/png;base64,') == 3
    assert make_self_contained(out) == out  # idempotent


def test_ward_map_is_self_contained():
    out = make_self_contained(ward_map().get_root().render())
    assert find_external_urls(out) == []


def test_unknown_external_script_raises_naming_it():
    m = bare_map()
    url = "https://example.org/x.js"
    # folium.JavascriptLink(url).add_to(m) renders nothing in folium 0.20; plugins put their
    # links in the root header, as here.
    m.get_root().header.add_child(folium.JavascriptLink(url))

    with pytest.raises(OfflineAssetError, match=re.escape(url)) as info:
        make_self_contained(m.get_root().render())
    assert info.value.urls == (url,)


def test_tile_layer_raises_naming_its_template():
    m = bare_map()
    folium.TileLayer("OpenStreetMap").add_to(m)
    with pytest.raises(OfflineAssetError, match=re.escape("tile.openstreetmap.org/{z}/{x}/{y}")):
        make_self_contained(m.get_root().render())


def test_image_in_popup_raises():
    m = bare_map()
    folium.Marker([51.75, -1.25], popup='<img src="https://example.org/p.png">').add_to(m)
    with pytest.raises(OfflineAssetError, match=re.escape("https://example.org/p.png")):
        make_self_contained(m.get_root().render())


def test_attribution_links_are_allowed():
    m = bare_map()
    m.get_root().html.add_child(
        folium.Element('<a href="https://example.org/about">About the data</a>')
    )
    folium.Marker(
        [51.75, -1.25], popup='<a href="https://example.org/w">ward page</a>'
    ).add_to(m)
    out = make_self_contained(m.get_root().render())
    assert '<a href="https://example.org/about">' in out


def test_heatmap_plugin_is_inlined_from_folium():
    m = bare_map()
    HeatMap([[51.75, -1.25, 1.0], [51.76, -1.24, 2.0]]).add_to(m)
    out = make_self_contained(m.get_root().render())
    assert find_external_urls(out) == []
    assert "leaflet_heat.min.js, inlined" in out


def test_leaflet_version_mismatch_raises():
    raw = bare_map().get_root().render().replace("leaflet@1.9.3", "leaflet@2.0.0")
    with pytest.raises(OfflineAssetError, match="XStatic-Leaflet"):
        make_self_contained(raw)


class _ScriptBodies(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in = True
            self.bodies.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in = False

    def handle_data(self, data):
        if self._in:
            self.bodies[-1] += data


def test_script_end_tag_in_inlined_asset_is_escaped(monkeypatch):
    evil = 'var a = "</script><b>x</b>"; var b = "</SCRIPT >"; var ok = 1;'
    real = offline._read_text

    def fake_read(path):
        return evil if path.name == "jquery.min.js" else real(path)

    monkeypatch.setattr(offline, "_read_text", fake_read)
    out = make_self_contained(bare_map().get_root().render())

    escaped = 'var a = "<\\/script><b>x</b>"; var b = "<\\/SCRIPT >"; var ok = 1;'
    parser = _ScriptBodies()
    parser.feed(out)
    assert any(escaped in body for body in parser.bodies)  # still one whole <script> element


def _b64_html(html: str) -> str:
    return "data:text/html;charset=utf-8;base64," + base64.b64encode(html.encode()).decode()


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img src="https://x.org/a.png">', ["https://x.org/a.png"]),
        ("<iframe src='//x.org/frame'></iframe>", ["//x.org/frame"]),
        ('<link rel="preconnect" href="https://x.org">', ["https://x.org"]),
        ('<img srcset="a.png 1x, http://x.org/b.png 2x">', ["http://x.org/b.png"]),
        ('<a href="https://x.org/page" title="t">x</a>', []),
        ('<a href="https://x.org/page" ping="https://x.org/track">x</a>', ["https://x.org/track"]),
        ('<style>@import url("https://x.org/a.css");</style>', ["https://x.org/a.css"]),
        ("<style>@import 'https://x.org/b.css';</style>", ["https://x.org/b.css"]),
        ("<style>.a{background:url(https://x.org/c.png)}</style>", ["https://x.org/c.png"]),
        ("<div style=\"background: url('http://x.org/d.png')\"></div>", ["http://x.org/d.png"]),
        (
            '<script>L.tileLayer("https://t.org/{z}/{x}/{y}.png", {}).addTo(m)</script>',
            ["https://t.org/{z}/{x}/{y}.png"],
        ),
        ("<script>L.imageOverlay('https://x.org/o.png', b)</script>", ["https://x.org/o.png"]),
        ('<script>$.ajax("https://x.org/d.json", {async: false})</script>', ["https://x.org/d.json"]),
        (
            '<script>var h = $(`<div><img src="https://x.org/e.png">'
            '<a href="https://x.org/ok">ok</a></div>`)[0];</script>',
            ["https://x.org/e.png"],
        ),
        (
            '<script>var i = {"html": "\\u003cimg src=\\"https://x.org/f.png\\"\\u003e"};</script>',
            ["https://x.org/f.png"],
        ),
        (f'<iframe src="{_b64_html("<img src=https://x.org/g.png>")}"></iframe>',
         ["https://x.org/g.png"]),
        (
            f"<script>var f = $(`<iframe src=\"{_b64_html('<a href=https://x.org/h>h</a>')}\">"
            "</iframe>`)[0];</script>",
            [],
        ),
        ('<meta http-equiv="refresh" content="0; url=https://x.org/r">', ["https://x.org/r"]),
        ('<meta http-equiv="content-type" content="text/html; charset=UTF-8" />', []),
        ('<script>var s = "see https://x.org for more";</script>', []),
        ('<script src="data:text/javascript,1"></script><img src="data:image/png;base64,AA">', []),
        ('<img src="https://x.org/a.png"><img src="https://x.org/a.png">', ["https://x.org/a.png"]),
    ],
)
def test_find_external_urls(html, expected):
    assert find_external_urls(html) == expected


# ---------------------------------------------------------------------------------------------
# Browser tests: headless Chromium, every non-file:/data:/blob: request aborted
# ---------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_ward_map_works_offline_in_browser(page, tmp_path):
    path = tmp_path / "wards.html"
    path.write_text(make_self_contained(ward_map().get_root().render()), encoding="utf-8")

    name = open_map(page, path)

    assert page.evaluate(
        f"() => {{ let n = 0; {name}.eachLayer(l => {{ if (l instanceof L.Polygon) n++; }});"
        " return n; }"
    ) == len(WARDS)
    assert page.locator(".leaflet-overlay-pane path").count() == len(WARDS) + 1  # + circle
    assert page.locator("#legend").is_visible()
    assert page.locator(".leaflet-control-layers").get_by_text("Hotspots").is_visible()
    assert page.locator("img.leaflet-tile").count() == 0

    # Hover Ward B: the tooltip shows its fields.
    hover_path(page, 'path[fill="#377eb8"]')
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(state="visible", timeout=3000)
    assert "Ward B" in tooltip.inner_text()
    page.mouse.move(5, 5)

    # Click Ward A, whose centre is under the CircleMarker: its popup opens.
    click_path(page, 'path[fill="#e41a1c"]')
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=3000)
    assert "Ward A" in popup.inner_text() and "12" in popup.inner_text()

    page.wait_for_timeout(400)  # popup fade-in
    page.screenshot(path=SCREENSHOT)
    assert_offline_clean(page)


@pytest.mark.browser
def test_default_marker_and_div_icon_work_offline(page, tmp_path):
    m = bare_map()
    folium.Marker([51.75, -1.25], tooltip="default icon").add_to(m)
    folium.Marker(
        [51.76, -1.22], icon=folium.DivIcon(html='<div class="ward-label">Ward A</div>')
    ).add_to(m)
    path = tmp_path / "markers.html"
    path.write_text(make_self_contained(m.get_root().render()), encoding="utf-8")

    open_map(page, path)

    icon = page.locator("img.leaflet-marker-icon")
    assert icon.count() == 1
    assert icon.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate(
        "() => [...document.querySelectorAll('img.leaflet-marker-icon, img.leaflet-marker-shadow')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".ward-label").inner_text() == "Ward A"
    assert_offline_clean(page)


@pytest.mark.browser
def test_fixture_blocks_the_network(page, tmp_path):
    """Control: folium's own HTML needs CDNs, so with the network blocked it must fail."""
    path = tmp_path / "cdn.html"
    path.write_text(bare_map().get_root().render(), encoding="utf-8")

    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")

    assert any("leaflet" in url for url in page.blocked)
    assert any("L is not defined" in e for e in page.page_errors)


# ---------------------------------------------------------------------------------------------
# data: URIs and the one allowed tile URL
# ---------------------------------------------------------------------------------------------

PNG_1PX = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
           "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def test_data_uri_image_overlay_is_accepted():
    m = bare_map()
    folium.raster_layers.ImageOverlay(PNG_1PX, bounds=[[51.7, -1.3], [51.8, -1.2]],
                                      pixelated=False).add_to(m)
    out = make_self_contained(m.get_root().render())
    assert find_external_urls(out) == []
    assert PNG_1PX in out


def test_image_overlay_from_the_network_is_refused():
    m = bare_map()
    folium.raster_layers.ImageOverlay("https://example.org/o.png",
                                      bounds=[[51.7, -1.3], [51.8, -1.2]]).add_to(m)
    with pytest.raises(OfflineAssetError, match=re.escape("https://example.org/o.png")):
        make_self_contained(m.get_root().render())


OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def test_allowed_tile_url_passes_and_nothing_else():
    m = bare_map()
    folium.TileLayer(OSM, attr="OpenStreetMap contributors").add_to(m)
    out = make_self_contained(m.get_root().render(), allowed_urls=[OSM])
    assert find_external_urls(out) == [OSM]

    m.get_root().header.add_child(folium.JavascriptLink("https://example.org/x.js"))
    with pytest.raises(OfflineAssetError) as info:
        make_self_contained(m.get_root().render(), allowed_urls=[OSM])
    assert info.value.urls == ("https://example.org/x.js",)


@pytest.mark.parametrize("near_miss", [
    "https://tile.openstreetmap.org/{z}/{x}/{y}.png?x=1",
    "https://a.tile.openstreetmap.org/{z}/{x}/{y}.png",
    "http://tile.openstreetmap.org/{z}/{x}/{y}.png",
])
def test_allowed_urls_must_match_exactly(near_miss):
    m = bare_map()
    folium.TileLayer(near_miss, attr="x").add_to(m)
    with pytest.raises(OfflineAssetError, match=re.escape(near_miss)):
        make_self_contained(m.get_root().render(), allowed_urls=[OSM])
