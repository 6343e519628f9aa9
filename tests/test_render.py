"""maps.render: the self-contained meeting map (unit tests, then Chromium with no network)."""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from geo import schema as s
from geo.context import build_evidence
from geo.episodes import read_table
from geo.errors import ParameterError
from geo.pipeline import analyse
from geo.synth import generate_synthetic, write_synthetic
from maps import render
from maps.offline import find_external_urls
from maps.places import OXFORDSHIRE_TOWNS, place_labels
from maps.raster import classify, png_indexed
from maps.render import (
    EVIDENCE_LABELS,
    GI_LAYER_NAME,
    MapContext,
    TilesPrivacyWarning,
    class_breaks,
    map_html,
    rate_breaks,
    tile_url,
    tiles_warning,
    ward_measures,
    write_map,
)
from tests.browser import assert_offline_clean, click_path, hover_path, open_map
from tests.conftest import BANBURY, episode

pytest_plugins = ["tests.browser"]

EVIL = "<img src=x onerror=alert(1)>`${alert(2)}`"
EVIL_WARD = "E05010921"  # a Cherwell ward


def make_context(oxon, wards=None, **kw):
    kw.setdefault("title", "Test map")
    return MapContext(
        wards=oxon.wards if wards is None else wards,
        lpas=oxon.lpas,
        attribution=oxon.attribution,
        boundary_name=oxon.name,
        boundary_vintage=oxon.vintage,
        districts=oxon.districts,
        **kw,
    )


def small_result(wards, write_csv):
    rows = [episode(i, *BANBURY, child_id=f"SECRET{i % 2}") for i in range(6)]
    rows.append(episode(9, 51.75, -1.26, child_id="SECRET9"))
    return analyse(read_table(write_csv(rows)), wards=wards)


def synthetic_result(wards, tmp_path, n=600, seed=3):
    data = generate_synthetic(wards, seed=seed, n_episodes=n)
    data.episodes["child_id"] = "SECRET" + data.episodes["child_id"].astype(str)
    paths = write_synthetic(data, tmp_path / "synth")
    return analyse(read_table(paths["episodes"]), wards=wards,
                   homes_table=read_table(paths["homes"], what="homes register"))


def demo_with_evidence(wards, tmp_path):
    """Synthetic data of the demo's size and seed (1,000 episodes, seed 1) and its evidence
    (default settings: 500 m grid, 200 re-runs): Gi* hot cells and robust hotspots."""
    result = synthetic_result(wards, tmp_path, n=1000, seed=1)
    return result, build_evidence(result, wards)


@pytest.fixture
def written_map(oxon, write_csv, tmp_path):
    result = small_result(oxon.wards, write_csv)
    return write_map(result, make_context(oxon), tmp_path / "map.html"), result


@pytest.fixture(scope="module")
def synth(oxon, tmp_path_factory):
    """A half-year of synthetic episodes with a homes register; one ward has an evil name."""
    tmp = tmp_path_factory.mktemp("synth")
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result = synthetic_result(wards, tmp)
    return result, wards


@pytest.fixture(scope="module")
def demo(oxon, tmp_path_factory):
    """The demo data with its evidence; one ward has an evil name."""
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result, evidence = demo_with_evidence(wards, tmp_path_factory.mktemp("demo"))
    return result, wards, evidence


# ---------------------------------------------------------------------------------------------
# Unit tests
# ---------------------------------------------------------------------------------------------


def test_map_is_self_contained_and_names_its_layers(written_map, oxon):
    path, _ = written_map
    page = path.read_text(encoding="utf-8")
    assert find_external_urls(page) == []
    for name in ("Episodes", "Children", "None", "Place names", "Local Police Areas",
                 "Hotspots", "Episode density", "Episode locations (grid squares)"):
        assert f'"{name}"' in page, name
    for line in oxon.attribution:
        assert line in page
    assert "December 2019" in page and "eps 250 m" in page
    assert "data as of 1 Mar 2020" in page  # the latest missing_from
    assert "coordinates and full postcodes" in page  # the precision rule
    assert "Homes by type" not in page  # no homes register in this run


def test_child_ids_never_reach_the_map(written_map):
    path, _ = written_map
    assert "SECRET" not in path.read_text(encoding="utf-8")


def test_user_text_is_escaped(oxon, write_csv, tmp_path):
    wards = oxon.wards.copy()
    wards.loc[wards[s.WARD_CODE] == EVIL_WARD, s.WARD_NAME] = EVIL
    result = small_result(wards, write_csv)
    result.hotspots["driver"] = EVIL
    context = replace(make_context(oxon, wards, title=EVIL), attribution=(EVIL,),
                      area_name=EVIL, boundary_name=EVIL)
    page = write_map(result, context, tmp_path / "m.html").read_text()
    assert "<img src=x" not in page
    assert "${alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    ("values", "expected"),
    [([0, 0, 0], []), ([0, 5, 5, 5], [5]), ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 4, 6, 8, 10])],
)
def test_class_breaks(values, expected):
    assert class_breaks(values) == expected


def test_rate_breaks_round_up_to_two_significant_digits():
    assert rate_breaks([0, 0.123, 0.5, 1.234, 12.34, 45.6]) == [0.13, 0.5, 1.3, 13, 46]
    assert rate_breaks([0, float("nan")]) == []


def test_ward_measures_offer_rate_columns_but_not_episodes_per_child():
    table = pd.DataFrame({"episodes": [1], "children": [1], "episodes_per_child": [1.0],
                          "episodes_per_place": [0.5], "episodes_per_10k": [2.5],
                          "children_per_10k": [1.5], "episodes_per_1000_children": [0.3],
                          "episodes_per_100k": [float("nan")]})
    assert ward_measures(table) == [
        ("episodes", "Episodes", True),
        ("children", "Children", True),
        ("episodes_per_10k", "Episodes per 10,000", False),
        ("children_per_10k", "Children per 10,000", False),
        ("episodes_per_1000_children", "Episodes per 1,000 children", False),
    ]


def test_a_rate_column_becomes_a_ward_shading(oxon, write_csv):
    result = small_result(oxon.wards, write_csv)
    ward = result.localities["ward"]
    ward["episodes_per_10k"] = ward["episodes"] * 1.5
    ward["some_new_measure"] = 1  # extra columns are tolerated
    page = map_html(result, make_context(oxon))
    assert '"Episodes per 10,000"' in page
    assert "Wards: episodes per 10,000" in page  # its legend


def test_homes_by_type_and_names_only_on_request(oxon, synth):
    result, _ = synth
    page = map_html(result, make_context(oxon))
    assert '"Homes by type"' in page
    assert "Foster household (" in page  # legend with counts
    home = result.homes[result.homes[s.STATUS] == s.MAPPED].iloc[0]
    assert str(home[s.HOME_NAME]) not in page
    named = map_html(result, make_context(oxon, show_home_names=True))
    assert str(home[s.HOME_NAME]) in named
    hidden = map_html(result, make_context(oxon, show_homes=False))
    assert '"Homes by type"' not in hidden
    assert "not shown on this map" in hidden


def test_episode_locations_are_squares_capped(oxon, synth, monkeypatch):
    result, _ = synth
    monkeypatch.setattr(render, "MAX_LOCATION_SQUARES", 25)
    data, _, note = render._location_squares(result)
    assert 0 < len(data["rows"]) <= 25
    assert sum(r[2] for r in data["rows"]) <= int(result.counts["mapped"])
    assert "busiest" in note or int(data["cell"].replace(",", "")) > 100


def test_location_squares_sum_to_the_hotspot_episodes(oxon, synth):
    result, _ = synth
    data, _, note = render._location_squares(result)
    used = result.episodes[(result.episodes[s.STATUS] == s.MAPPED)
                           & result.episodes[s.PRECISION].isin(result.config.hotspot_precisions)]
    assert sum(r[2] for r in data["rows"]) == len(used)
    assert "not at any address" in note


def test_place_labels_towns_or_district_names(oxon):
    towns = place_labels(oxon.wards, oxon.districts)
    assert {p.name for p in towns} == {p.name for p in OXFORDSHIRE_TOWNS}
    fallback = place_labels(oxon.wards, oxon.districts, shipped=())
    assert {p.name for p in fallback} == set(oxon.districts[s.LAD_NAME])
    # works without a districts frame too
    assert len(place_labels(oxon.wards, None, shipped=())) == len(oxon.districts)


def test_tiles_are_opt_in_with_a_warning_and_only_their_url(oxon, write_csv):
    result = small_result(oxon.wards, write_csv)
    with pytest.warns(TilesPrivacyWarning, match="tile.openstreetmap.org"):
        page = map_html(result, make_context(oxon, tiles="OpenStreetMap"))
    assert find_external_urls(page) == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert "OpenStreetMap" in page and "tile server learns" in page
    assert "area of interest" in tiles_warning("OpenStreetMap")


@pytest.mark.parametrize("name", ["CartoDB", "NoSuchTiles"])
def test_keyed_or_unknown_tiles_are_refused(oxon, name):
    with pytest.raises(ParameterError):
        make_context(oxon, tiles=name)


def test_png_encoder_round_trip():
    index = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    png = png_indexed(index, [(0, 0, 0, 0), (255, 0, 0, 128), (0, 0, 255, 255)])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (width, height, depth, colour) == (3, 2, 8, 3)
    start = png.index(b"IDAT") + 4
    length = struct.unpack(">I", png[start - 8:start - 4])[0]
    raw = zlib.decompress(png[start:start + length])
    rows = np.frombuffer(raw, np.uint8).reshape(2, 4)
    assert (rows[:, 0] == 0).all() and (rows[:, 1:] == index).all()
    assert classify(np.array([0.0, 1.0, 5.0, 50.0]), [40.0, 2.0]).tolist() == [0, 0, 1, 2]


def test_the_density_is_an_inline_png(written_map):
    path, _ = written_map
    page = path.read_text(encoding="utf-8")
    assert '"uri":"data:image/png;base64,' in page
    assert "Densest areas holding 50%" in page


def test_twenty_thousand_episodes_make_a_small_page(oxon, tmp_path):
    result = synthetic_result(oxon.wards, tmp_path, n=20_000, seed=5)
    page = map_html(result, make_context(oxon))
    assert len(page.encode()) < 3_000_000
    # never one marker per episode
    assert page.count("SECRET") == 0


def test_a_run_with_nothing_mapped_still_draws(oxon, write_csv):
    rows = [episode(1, 0, 0), episode(2, 51.454, -0.973)]  # invalid, outside the county
    result = analyse(read_table(write_csv(rows)), wards=oxon.wards)
    page = map_html(result, make_context(oxon))
    assert find_external_urls(page) == []
    assert "no mapped episodes" in page and "No episodes to show" in page


# ---------------------------------------------------------------------------------------------
# Browser tests
# ---------------------------------------------------------------------------------------------

_LAYERS_JS = """() => {
    // folium's LayerControl keeps its layers in a global `layer_control_<id>_layers`
    const key = Object.keys(window).find(k => /^layer_control_[0-9a-f]+_layers$/.test(k));
    const all = {...window[key].base_layers, ...window[key].overlays};
    const leaves = l => (l instanceof L.LayerGroup)
        ? l.getLayers().reduce((n, x) => n + leaves(x), 0) : 1;
    const out = {};
    Object.entries(all).forEach(([name, layer]) => { out[name] = {n: leaves(layer),
        on: HS.map.hasLayer(layer),
        image: layer instanceof L.ImageOverlay ? layer._url.slice(0, 22) : null}; });
    return out;
}"""


def _legend_visible(page, key):
    return page.locator(f"#hs-legend-{key}").is_visible()


@pytest.mark.browser
def test_map_in_chromium_layers_popup_and_toggles(page, synth, oxon, tmp_path):
    result, wards = synth
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    path = write_map(result, make_context(oxon, wards), tmp_path / "map.html")
    open_map(page, path)
    assert_offline_clean(page)

    layers = page.evaluate(_LAYERS_JS)
    n_spots = len(result.hotspots)
    homes = result.homes[result.homes[s.STATUS] == s.MAPPED]
    locations, _, _ = render._location_squares(result)
    assert layers["Episodes"] == {"n": 112, "on": True, "image": None}
    assert layers["Children"]["n"] == 112 and not layers["Children"]["on"]
    assert layers["Local Police Areas"]["n"] == 3
    assert layers["Hotspots"] == {"n": 2 * n_spots, "on": True, "image": None}  # hull + dot
    assert layers["Homes by type"]["n"] == len(homes) and not layers["Homes by type"]["on"]
    assert layers["Episode locations (grid squares)"]["n"] == len(locations["rows"])
    assert layers["Episode density"]["image"] == "data:image/png;base64,"
    assert layers["Place names"]["n"] == len(OXFORDSHIRE_TOWNS)
    assert page.locator(".hs-place").count() == len(OXFORDSHIRE_TOWNS)
    page.screenshot(path=str(tmp_path / "map-county.png"))

    # the largest hotspot: click its dot, the popup gives its numbers
    top = result.hotspots.sort_values("episodes", ascending=False).iloc[0]
    # (statements in braces: returning the map object would make Playwright serialise it)
    page.evaluate(f"() => {{ HS.map.setView([{top['centroid_lat']}, {top['centroid_lon']}], 16,"
                  " {animate: false}); }")
    page.wait_for_timeout(300)
    click_path(page, page.locator(f"path.hs-spot-dot.hs-spot-{top[s.HOTSPOT_ID]}"))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=3000)
    text = popup.inner_text()
    assert f"Hotspot {top[s.HOTSPOT_ID]}" in text
    assert re.search(rf"Episodes\s+{int(top['episodes']):,}\b", text), text
    assert re.search(rf"Children\s+{int(top['children']):,}\b", text), text
    assert re.search(rf"LPA\s+{re.escape(str(top[s.LPA_NAME]))}", text), text
    assert "Homes within 250 m: children's home (residential)" in text
    page.wait_for_timeout(400)  # popup fade-in
    page.screenshot(path=str(tmp_path / "map-popup.png"))
    page.keyboard.press("Escape")

    # the layer control toggles layers and their legends
    control = page.locator(".leaflet-control-layers")
    assert _legend_visible(page, "hotspots") and not _legend_visible(page, "homes")
    control.get_by_text("Hotspots", exact=True).click()
    assert not page.evaluate("() => HS.map.hasLayer(HS.layers.hotspots)")
    assert not _legend_visible(page, "hotspots")
    control.get_by_text("Homes by type").click()
    assert page.evaluate("() => HS.map.hasLayer(HS.layers.homes)")
    assert _legend_visible(page, "homes")
    control.get_by_text("Children", exact=True).click()
    assert page.evaluate("() => HS.map.hasLayer(HS.layers.wards1)"
                         " && !HS.map.hasLayer(HS.layers.wards0)")
    assert _legend_visible(page, "wards1") and not _legend_visible(page, "wards0")
    control.get_by_text("Episode density").click()
    assert page.locator("img.leaflet-image-layer").count() == 1
    assert _legend_visible(page, "density")

    # the evil ward name is shown as text in its tooltip, never run
    page.evaluate("() => { HS.map.fitBounds(HS.layers.wards1.getLayers().find("
                  f"l => l.feature.properties.c === '{EVIL_WARD}').getBounds(),"
                  " {animate: false}); }")
    page.wait_for_timeout(300)
    control.get_by_text("Episode density").click()
    idx = page.evaluate("() => HS.layers.wards1.getLayers().findIndex("
                        f"l => l.feature.properties.c === '{EVIL_WARD}')")
    ward_path = page.evaluate_handle(
        f"() => HS.layers.wards1.getLayers()[{idx}].getElement()").as_element()
    box = ward_path.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tooltip = page.locator(".leaflet-tooltip").last
    tooltip.wait_for(state="visible", timeout=3000)
    if EVIL_WARD in tooltip.inner_text():
        assert "<img src=x onerror=alert(1)>" in tooltip.inner_text()
    assert page.locator(".leaflet-tooltip img").count() == 0
    assert dialogs == []
    assert "SECRET" not in page.content()
    assert_offline_clean(page)


@pytest.mark.browser
def test_map_opens_with_hover_tooltips(page, written_map, tmp_path):
    path, result = written_map
    spot = result.hotspots[s.HOTSPOT_ID].iloc[0]
    name = open_map(page, path)
    assert_offline_clean(page)
    n_polygons = page.evaluate(f"""() => {{
        let n = 0; {name}.eachLayer(l => {{ if (l instanceof L.Polygon) n++; }}); return n; }}""")
    # basemap: 112 ward lines + 5 districts + county (x2: land and outline) ; 112 shaded wards;
    # 3 LPAs; 1 hotspot hull
    assert n_polygons == 112 + 5 + 2 + 112 + 3 + 1
    page.evaluate(f"() => {{ {name}.setView([{BANBURY[0]}, {BANBURY[1]}], 15,"
                  " {animate: false}); }")
    page.wait_for_timeout(300)
    hover_path(page, f"path.hs-spot-dot.hs-spot-{spot}")
    tip = page.locator(".leaflet-tooltip").last.inner_text()
    assert f"Hotspot {spot}" in tip and "6 episodes" in tip
    page.screenshot(path=str(tmp_path / "map-zoom.png"))


@pytest.mark.browser
def test_tiles_map_requests_only_its_tiles(page, oxon, write_csv, tmp_path):
    result = small_result(oxon.wards, write_csv)
    with pytest.warns(TilesPrivacyWarning):
        path = write_map(result, make_context(oxon, tiles="OpenStreetMap"), tmp_path / "t.html")
    open_map(page, path)
    page.wait_for_timeout(500)
    template = re.escape(tile_url("OpenStreetMap")).replace(r"\{z\}", r"\d+").replace(
        r"\{x\}", r"\d+").replace(r"\{y\}", r"\d+")
    assert page.blocked, "the tile layer should have tried to load tiles"
    assert all(re.fullmatch(template, u) for u in page.blocked), page.blocked
    assert page.page_errors == []
    assert all("Failed to load resource" in e for e in page.console_errors)


def test_public_style_map_without_positions(oxon, synth):
    """What a public output needs: no centre dots, no layers made of episode positions, and a
    hotspot table without centres, locations, areas or homes (tolerated)."""
    result, wards = synth
    hidden = ["centroid_lat", "centroid_lon", "locations", "area_ha",
              *[c for c in result.hotspots.columns if str(c).startswith("homes_")]]
    public = replace(result, hotspots=result.hotspots.drop(columns=hidden), homes=None)
    page = map_html(public, make_context(oxon, wards, show_locations=False))
    assert '"Episode density"' not in page and '"Episode locations' not in page
    assert '"lat":null' in page and '"lat":5' not in page
    assert '"uri":"data:image/png' not in page
    no_dots = map_html(result, make_context(oxon, wards, show_hotspot_centres=False))
    assert '"lat":5' not in no_dots


# ---------------------------------------------------------------------------------------------
# Evidence (issue 8): the Gi* layer and the hotspot verdicts
# ---------------------------------------------------------------------------------------------


def test_gi_layer_draws_the_significant_hot_cells_as_grid_squares(oxon, demo):
    result, wards, evidence = demo
    hot = evidence.gi_grid[evidence.gi_grid["hot"]]
    assert len(hot) >= 5  # the synthetic county's busy towns
    data, legend, note = render._gi_data(evidence, show_counts=True)
    features = data["cells"]["features"]
    assert len(features) == len(hot)
    # each is a whole 500 m square of the grid (4 corners and the closing one), even at the edge
    assert all(len(f["geometry"]["coordinates"][0]) == 5 for f in features)
    assert [f["properties"]["w"] for f in features] == hot["window_count"].tolist()
    assert legend.key == "gi" and "Gi* hot spot (FDR q &lt; 0.05)" in legend.html
    assert f"{len(hot)} of {len(evidence.gi_grid):,} squares of 500 m" in note
    page = map_html(result, make_context(oxon, wards, evidence=evidence))
    assert f'"{GI_LAYER_NAME}"' in page
    assert "Evidence behind the hotspots" in page and "Robust: " in page
    assert find_external_urls(page) == [] and "SECRET" not in page
    # without evidence, nothing of it
    plain = map_html(result, make_context(oxon, wards))
    assert GI_LAYER_NAME not in plain and "Evidence behind the hotspots" not in plain


def test_hotspot_popups_carry_the_verdict_stability_and_one_child(demo):
    result, _, evidence = demo
    data, legend, _ = render._hotspot_data(result, True, evidence)
    by_id = evidence.hotspot_evidence.set_index(s.HOTSPOT_ID)
    assert len(data["spots"]) == len(result.hotspots) > 10
    for spot in data["spots"]:
        row = by_id.loc[spot["id"]]
        assert spot["ev"] == row["evidence"]
        assert spot["stab"] == f"{row['stability']:.0%} of 200"
        assert spot["one"] == int(row["rests_on_one_child"])
        assert spot["gi"] == int(row["gi_significant"])
    assert data["evidence"]["labels"] == EVIDENCE_LABELS
    assert data["evidence"]["one"][1].startswith("yes")
    counts = evidence.verdict_counts()
    assert counts["robust"] >= 1 and counts["fragile"] >= 1
    assert (f"Evidence: {counts['robust']} robust, {counts['stable_only']} stable only, "
            f"{counts['fragile']} fragile (in each popup)") in legend.html
    # a map without evidence has no such fields
    plain, _, _ = render._hotspot_data(result, True, None)
    assert "ev" not in plain["spots"][0]


def test_gi_cell_counts_are_left_out_of_a_map_without_positions(oxon, demo):
    result, wards, evidence = demo
    data, _, _ = render._gi_data(evidence, show_counts=False)
    assert all(f["properties"]["n"] is None for f in data["cells"]["features"])
    page = map_html(result, make_context(oxon, wards, evidence=evidence, show_locations=False))
    assert f'"{GI_LAYER_NAME}"' in page and '"Episode density"' not in page


@pytest.mark.browser
def test_map_with_evidence_in_chromium(page, oxon, demo, tmp_path):
    result, wards, evidence = demo
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    path = write_map(result, make_context(oxon, wards, evidence=evidence),
                     tmp_path / "map.html")
    open_map(page, path)
    assert_offline_clean(page)
    layers = page.evaluate(_LAYERS_JS)
    n_hot = int(evidence.gi_grid["hot"].sum())
    assert layers[GI_LAYER_NAME] == {"n": n_hot, "on": True, "image": None}
    assert page.locator("path.hs-gi-cell").count() == n_hot
    assert _legend_visible(page, "gi")
    assert "Gi* hot spot (FDR q < 0.05)" in page.locator("#hs-legend-gi").inner_text()

    # the largest robust hotspot: its popup gives the verdict, stability and one child
    verdicts = evidence.hotspot_evidence.merge(result.hotspots[[s.HOTSPOT_ID, "centroid_lat",
                                                                "centroid_lon"]])
    robust = verdicts[verdicts["evidence"] == "robust"].iloc[0]
    page.evaluate(f"() => {{ HS.map.setView([{robust['centroid_lat']}, "
                  f"{robust['centroid_lon']}], 16, {{animate: false}}); }}")
    page.wait_for_timeout(300)
    click_path(page, page.locator(f"path.hs-spot-dot.hs-spot-{robust[s.HOTSPOT_ID]}"))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=3000)
    text = popup.inner_text()
    assert f"Hotspot {robust[s.HOTSPOT_ID]}" in text
    assert re.search(r"Evidence\s+robust", text), text
    assert re.search(rf"Found again in re-runs\s+{robust['stability']:.0%} of 200", text), text
    assert re.search(r"Overlaps a Gi\* hot spot\s+yes", text), text
    assert re.search(r"Rests on one child\s+(yes|no)", text), text
    assert "Evidence: robust" in text
    page.keyboard.press("Escape")

    # a Gi* square's tooltip, then the layer and its legend switched off
    page.evaluate("() => { HS.map.fitBounds(HS.layers.gi.getLayers()[0].getBounds(),"
                  " {animate: false, maxZoom: 15}); }")
    page.wait_for_timeout(300)
    hover_path(page, page.locator("path.hs-gi-cell").first)
    tip = page.locator(".leaflet-tooltip").last
    tip.wait_for(state="visible", timeout=3000)
    assert "Gi* hot spot (FDR q < 0.05)" in tip.inner_text()
    assert "Expected by chance" in tip.inner_text()
    page.screenshot(path=str(tmp_path / "map-evidence.png"))
    page.locator(".leaflet-control-layers").get_by_text(GI_LAYER_NAME).click()
    assert not page.evaluate("() => HS.map.hasLayer(HS.layers.gi)")
    assert not _legend_visible(page, "gi")
    assert page.locator("path.hs-gi-cell").count() == 0
    assert dialogs == [] and "SECRET" not in page.content()
    assert_offline_clean(page)


def test_evidence_of_another_analysis_is_refused(oxon, demo, synth):
    _, wards, evidence = demo
    other, _ = synth
    spots = other.hotspots.copy()
    spots[s.HOTSPOT_ID] = "X" + spots[s.HOTSPOT_ID].astype(str)
    with pytest.raises(ParameterError, match="built for another analysis"):
        map_html(replace(other, hotspots=spots), make_context(oxon, wards, evidence=evidence))


def test_hotspots_sharing_one_outline_draw_it_once_and_name_each_other(oxon, synth):
    """Public hotspots are drawn as the wards they touch: identical outlines are drawn once,
    and the popup of the one drawn names the others."""
    import json
    import re

    result, wards = synth
    spots = result.hotspots.copy()
    spots.loc[spots.index[1:3], "geometry"] = spots.geometry.iloc[0]  # three share a shape
    page = map_html(replace(result, hotspots=spots), make_context(oxon, wards))
    data = json.loads(re.search(r"var HS = hsLib\(map_\w+, (\{.*?\})\);", page, re.S).group(1))
    drawn = [f["properties"]["i"] for f in data["hulls"]["features"]]
    assert len(drawn) == len(spots) - 2 and 1 not in drawn and 2 not in drawn and 0 in drawn
    shared = [r for r in data["spots"][0]["homes"] if "same outline" in r[0]]
    ids = spots[s.HOTSPOT_ID].tolist()
    assert shared == [["Other hotspots drawn with the same outline", f"{ids[1]}, {ids[2]}"]]


@pytest.mark.browser
def test_a_popup_near_the_top_opens_below_the_title_panel(page, written_map):
    """The title panel sits above popups: a hotspot at the top edge pans the map so that its
    popup opens clear of the panel."""
    path, result = written_map
    spot = result.hotspots[s.HOTSPOT_ID].iloc[0]
    name = open_map(page, path)
    # put the hotspot just below the title panel: its popup, opening upwards, would cover it
    page.evaluate(f"""() => {{
        {name}.setView([{BANBURY[0]}, {BANBURY[1]}], 15, {{animate: false}});
        {name}.panBy([0, {name}.getSize().y / 2 - 110], {{animate: false}}); }}""")
    page.wait_for_timeout(300)
    page.locator(f"path.hs-spot-dot.hs-spot-{spot}").click(force=True)
    page.wait_for_timeout(600)
    popup = page.locator(".leaflet-popup").bounding_box()
    title = page.locator(".leaflet-top.leaflet-left .leaflet-control").last.bounding_box()
    assert popup is not None and title is not None
    assert popup["y"] >= title["y"] + title["height"]
