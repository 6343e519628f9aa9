"""Privacy: keyed child pseudonyms, the key file, grid snapping, audiences, small hotspots,
and the checks that a public output folder discloses no fine coordinate or small count."""

import contextlib
import hashlib
import hmac
import io
import json
import os
import stat

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import cli
from geo import schema as s
from geo.errors import InputError, ParameterError
from geo.privacy import (
    KEY_FILE,
    PUBLIC_MIN_CHILDREN,
    DisclosureError,
    PublicReference,
    _hmac_sha256,
    assert_no_fine_coordinates,
    assert_no_small_counts,
    assert_publishable,
    derive_key,
    find_fine_coordinates,
    find_small_counts,
    hash_ids,
    load_or_create_key,
    make_audience,
    scan_outputs,
    snap_locations,
    snap_to_grid,
    suppress_small_hotspots,
    wards_touched,
)
from geo.sdc import SDC_RULES, apply_sdc

KEY = bytes(range(32))
SALT = "correct horse battery staple"


# --- pseudonyms ---------------------------------------------------------------------------------


def test_hash_ids_is_hmac_sha256_truncated_with_a_prefix():
    ids = pd.Series(["C1", " C1 ", "C2", "", None, 1001.0, "1001", "Zoë-7"], index=range(10, 18))
    out = hash_ids(ids, KEY)
    expected = "K-" + hmac.new(KEY, b"C1", hashlib.sha256).hexdigest()[:16]
    assert out.iloc[0] == expected == "K-3015ac8c55b4335a"  # pinned: the format must not drift
    assert out.iloc[1] == out.iloc[0]  # surrounding spaces ignored
    assert out.iloc[2] != out.iloc[0] and out.iloc[2].startswith("K-") and len(out.iloc[2]) == 18
    assert out.iloc[3] == "" and out.iloc[4] == ""  # blank ids stay blank
    assert out.iloc[5] == out.iloc[6]  # 1001.0 read as a number is the id 1001
    assert out.iloc[7] == "K-4148e50628d5a3a5"  # UTF-8
    assert out.index.equals(ids.index)


def test_hash_ids_is_stable_with_the_same_key_and_unrelated_with_another():
    ids = pd.Series([f"C{i}" for i in range(200)])
    first, again = hash_ids(ids, KEY), hash_ids(ids.sample(frac=1, random_state=1), KEY)
    assert first.equals(again.sort_index())
    other = hash_ids(ids, bytes(range(1, 33)))
    assert not (first == other).any()
    assert first.nunique() == 200
    with pytest.raises(ValueError, match="at least 16 bytes"):
        hash_ids(ids, b"short")


def test_key_file_is_created_0600_and_reused(tmp_path):
    out = tmp_path / "results"
    key, path = load_or_create_key(out, None)
    assert path == out / KEY_FILE and path.is_file()
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "KEEP IT SECRET" in text and key.hex() in text
    again, path2 = load_or_create_key(out, None)
    assert again == key and path2 == path
    ids = pd.Series(["C1", "C2"])
    assert hash_ids(ids, key).equals(hash_ids(ids, again))  # a later run: same pseudonyms
    other, _ = load_or_create_key(tmp_path / "elsewhere", None)
    assert other != key


def test_a_key_file_readable_by_others_is_tightened(tmp_path):
    key, path = load_or_create_key(tmp_path, None)
    os.chmod(path, 0o644)
    assert load_or_create_key(tmp_path, None)[0] == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_or_linked_key_file_is_refused(tmp_path):
    (tmp_path / KEY_FILE).write_text("not a key\n")
    with pytest.raises(InputError, match="damaged"):
        load_or_create_key(tmp_path, None)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / KEY_FILE).symlink_to(tmp_path / KEY_FILE)
    with pytest.raises(InputError, match="symbolic link"):
        load_or_create_key(linked, None)


def test_salt_derives_the_key_and_writes_no_file(tmp_path):
    key, path = load_or_create_key(tmp_path / "o", SALT)
    assert path is None and not (tmp_path / "o").exists()
    assert key == derive_key(SALT) == load_or_create_key(tmp_path / "p", SALT)[0]
    assert key != derive_key(SALT + "!")
    assert key == hashlib.pbkdf2_hmac(
        "sha256", SALT.encode(), b"hotspots: child_id pseudonyms, v1", 600_000
    )
    with pytest.raises(ParameterError, match="at least 16 characters"):
        load_or_create_key(tmp_path, "short")


# --- grid snapping ------------------------------------------------------------------------------


def _on_grid(geom, cell):
    xy = shapely.get_coordinates(geom)
    return bool(np.all(np.abs(xy / cell - np.round(xy / cell)) < 1e-9))


def test_snap_locations_single_point_is_its_cell():
    snapped = snap_locations([451_123.0], [206_789.0], ["H01"], cell_m=250)
    assert snapped.crs == "EPSG:27700" and list(snapped.index) == ["H01"]
    assert snapped["H01"].equals(shapely.box(451_000, 206_750, 451_250, 207_000))


def test_snap_locations_vertices_on_the_grid_and_covers_the_hull():
    rng = np.random.default_rng(4)
    x = 450_000 + rng.uniform(0, 1_900, 40)
    y = 206_000 + rng.uniform(0, 1_300, 40)
    groups = np.where(np.arange(40) < 25, "H01", "H02")
    snapped = snap_locations(x, y, groups, cell_m=250)
    assert list(snapped.index) == ["H01", "H02"]
    for name, geom in snapped.items():
        mine = groups == name
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x[mine], y[mine]])))
        assert _on_grid(geom, 250)
        assert geom.covers(hull)
        assert geom.geom_type == "Polygon"
        cells = geom.area / 250**2
        assert cells == int(cells)  # whole cells


def test_snapping_depends_only_on_the_cells_holding_the_locations():
    rng = np.random.default_rng(9)
    ix = rng.integers(1_800, 1_808, 15)
    iy = rng.integers(820, 826, 15)
    one = snap_locations(ix * 250 + rng.uniform(0, 249.9, 15), iy * 250 + rng.uniform(0, 249.9, 15),
                         ["a"] * 15, cell_m=250)
    two = snap_locations(ix * 250 + rng.uniform(0, 249.9, 15), iy * 250 + rng.uniform(0, 249.9, 15),
                         ["a"] * 15, cell_m=250)
    assert one["a"].equals(two["a"])


def test_snap_locations_fills_the_cells_between_distant_locations():
    snapped = snap_locations([100.0, 1_100.0], [100.0, 100.0], ["a", "a"], cell_m=250)
    assert snapped["a"].equals(shapely.normalize(shapely.box(0, 0, 1_250, 250)))
    diagonal = snap_locations([10.0, 760.0], [10.0, 760.0], ["d", "d"], cell_m=250)["d"]
    assert diagonal.area == 10 * 250**2  # 4 diagonal cells and the 6 the hull crosses
    assert _on_grid(diagonal, 250)


def test_snap_to_grid_covers_dbscan_hulls(wards):
    from geo.cluster import cluster_episodes, hotspot_outlines

    rng = np.random.default_rng(2)
    x = np.r_[451_000 + rng.normal(0, 120, 30), 446_000 + rng.normal(0, 80, 20)]
    y = np.r_[206_000 + rng.normal(0, 120, 30), 240_000 + rng.normal(0, 80, 20)]
    labels = cluster_episodes(x, y, eps_m=250, min_samples=5)
    outlines = hotspot_outlines(x, y, labels)
    snapped = snap_to_grid(outlines.geometry, 500)
    assert snapped.index.equals(outlines.index) and snapped.crs == "EPSG:27700"
    for hull, geom in zip(outlines.geometry, snapped, strict=True):
        assert geom.covers(hull) and _on_grid(geom, 500)
    # a WGS84 series is reprojected first
    again = snap_to_grid(outlines.geometry.to_crs(s.WGS84), 500)
    for a, b in zip(snapped, again, strict=True):
        assert a.symmetric_difference(b).area < 1


def test_grid_size_is_checked():
    for bad in (100, 249, 250.5, float("nan"), 60_000):
        with pytest.raises(ParameterError, match="grid cell size"):
            snap_locations([0.0], [0.0], ["a"], cell_m=bad)


def test_wards_touched_is_the_union_of_the_wards_holding_episodes(wards):
    codes = wards["ward_code"].sort_values().tolist()
    out = wards_touched(["H01", "H01", "H02", "", "H01"],
                        [codes[0], codes[1], codes[2], codes[3], codes[0]], wards)
    assert list(out.index) == ["H01", "H02"]
    by_code = wards.set_index("ward_code").geometry
    assert out["H01"].symmetric_difference(by_code[codes[0]].union(by_code[codes[1]])).area < 1e-12
    assert out["H02"].equals(by_code[codes[2]])
    with pytest.raises(ValueError, match="not in the boundary set"):
        wards_touched(["H01"], ["E05999999"], wards)


# --- hotspots in a public output ----------------------------------------------------------------


def test_suppress_small_hotspots_drops_and_renumbers():
    rows = (
        [("H01", f"A{i}") for i in range(12)]
        + [("H02", f"B{i % 3}") for i in range(20)]  # 20 episodes but 3 children
        + [("H03", f"C{i}") for i in range(10)]
        + [("", "Z1")]
    )
    episodes = pd.DataFrame(rows, columns=[s.HOTSPOT_ID, s.CHILD_ID])
    out, mapping = suppress_small_hotspots(episodes, min_children=10)
    assert mapping == {"H01": "H01", "H02": "", "H03": "H02"}
    assert out[s.HOTSPOT_ID].tolist() == ["H01"] * 12 + [""] * 20 + ["H02"] * 10 + [""]
    assert episodes[s.HOTSPOT_ID].iloc[12] == "H02"  # the input is not changed


# --- audiences ----------------------------------------------------------------------------------


def test_audience_defaults():
    internal = make_audience("internal")
    assert internal.sdc_rule == "none" and internal.episodes_csv and internal.child_pseudonyms
    assert internal.hotspot_geometry == "hull" and not internal.home_names
    public = make_audience("public")
    assert public.public and public.sdc_rule == "dfe"
    assert public.min_children_per_hotspot == PUBLIC_MIN_CHILDREN == 10
    assert public.hotspot_geometry == "wards" and public.grid_m is None
    assert not (public.point_locations or public.episodes_csv or public.audit_csv
                or public.homes_csv or public.homes_drawn or public.hotspot_centres
                or public.input_paths)
    grid = make_audience("public", grid_m=1000, sdc="nhs")
    assert (grid.hotspot_geometry, grid.grid_m, grid.sdc_rule) == ("grid", 1000, "nhs")
    doc = json.loads(json.dumps(public.describe()))
    assert doc["audience"] == "public" and any("No point location" in x for x in doc["shows"])
    table = pd.DataFrame(columns=["hotspot_id", "episodes", "centroid_lat", "centroid_lon",
                                  "locations", "area_ha", "homes_residential"])
    assert list(public.hotspot_table(table).columns) == ["hotspot_id", "episodes"]
    assert list(internal.hotspot_table(table).columns) == list(table.columns)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "everyone"}, "must be one of internal, public"),
        ({"name": "public", "sdc": "none"}, "needs disclosure control"),
        ({"name": "public", "show_home_names": True}, "never shown in a public output"),
        ({"name": "public", "hotspot_geometry": "hull"}, "cannot show exact hotspot outlines"),
        ({"name": "public", "min_children": 5}, "at least 6 distinct children"),
        ({"name": "public", "sdc": "nhs", "min_children": 7}, "at least 8 distinct children"),
        ({"name": "public", "grid_m": 100}, "at least 250"),
        ({"name": "public", "hotspot_geometry": "wards", "grid_m": 500}, "grid size"),
        ({"name": "internal", "sdc": "round"}, "`--sdc` must be one of"),
    ],
)
def test_audience_refuses_disclosive_combinations(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        make_audience(**kwargs)


# --- the fine-coordinate scanner ----------------------------------------------------------------


def test_scanner_catches_a_six_decimal_lat_lon_in_html():
    html = "<script>L.marker([52.066495, -1.341187]).addTo(map);</script>"
    found = find_fine_coordinates(html, 250, source="map.html")
    assert len(found) == 1
    assert found[0].source == "map.html" and "52.066495, -1.341187" in found[0].text
    with pytest.raises(DisclosureError, match="finer than the 250 m grid"):
        assert_no_fine_coordinates(html, 250)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "Point", "coordinates": [-1.341187, 52.066495]}',  # GeoJSON: lon, lat
        "row,52.066495,-1.341187,E05010921",  # a CSV row
        "The home is at 52.06649, -1.34119.",  # 5 decimals, in a sentence
        "<td>52.0665</td><td>-1.3412</td>",  # table cells (4 decimals = about 10 m)
        "easting,northing\n445123,206789\n",  # British National Grid metres
    ],
)
def test_scanner_catches_fine_coordinates_in_every_form(text):
    assert find_fine_coordinates(text, 250), text


@pytest.mark.parametrize(
    "text",
    [
        "52.07, -1.34",  # two decimals: about 1 km, coarser than the grid
        "episodes 12, children 7, share 0.583",
        "445000,206750",  # a grid node
        "Hotspots: 3 holding 45 of 400 mapped episodes; eps 250 m; 2020-01-01",
    ],
)
def test_scanner_accepts_coarse_or_grid_coordinates_and_ordinary_numbers(text):
    assert find_fine_coordinates(text, 250) == []


def test_scanner_accepts_grid_snapped_areas_written_as_geojson():
    rng = np.random.default_rng(5)
    x = 452_000 + rng.uniform(0, 900, 30)
    y = 207_000 + rng.uniform(0, 700, 30)
    snapped = snap_locations(x, y, ["H01"] * 30, cell_m=250).to_crs(s.WGS84)
    rounded = shapely.transform(np.asarray(snapped.values), lambda c: np.round(c, 5))
    text = gpd.GeoSeries(rounded, crs=s.WGS84).to_json()  # as maps/render writes hotspots
    assert len(shapely.get_coordinates(rounded[0])) >= 5
    assert find_fine_coordinates(text, 250) == []
    # ... but not a 500 m grid, nor the exact hull of the same locations
    assert find_fine_coordinates(text, 500)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    exact = gpd.GeoSeries([hull], crs=s.BNG).to_crs(s.WGS84).to_json()
    assert find_fine_coordinates(exact, 250)


def test_public_boundaries_are_allowed(wards):
    ward = wards.to_crs(s.WGS84).iloc[0]
    lon, lat = np.round(shapely.get_coordinates(ward.geometry)[7], 5)
    text = f"[{lon}, {lat}]"
    assert find_fine_coordinates(text, 250)
    reference = PublicReference.from_boundaries(wards)
    assert find_fine_coordinates(text, 250, allowed=reference) == []
    assert find_fine_coordinates(text, 250, allowed=wards) == []
    # the centre of the boundaries' extent (where the map opens) is derived from them only
    minx, miny, maxx, maxy = wards.to_crs(s.WGS84).total_bounds
    assert find_fine_coordinates(f"center: [{(miny + maxy) / 2}, {(minx + maxx) / 2}]", 250,
                                 allowed=reference) == []
    # a point inside a ward, away from its boundary, is still caught
    inside = ward.geometry.representative_point()
    assert find_fine_coordinates(f"[{inside.x:.6f}, {inside.y:.6f}]", 250, allowed=reference)


# --- small counts -------------------------------------------------------------------------------


def test_small_counts_are_found_in_count_columns_only():
    table = pd.DataFrame(
        {
            "ward_code": ["W1", "W2", "W3", "W4"],
            "episodes": [0, 3, "c", 12],
            "children": ["0", "c", "7", " 2 "],  # as read back from a CSV
            "episodes_per_child": [0.0, 3.0, 1.5, 2.0],
            "wards": [1, 2, 3, 9],
        }
    )
    found = find_small_counts({"localities": table}, 5)
    assert [(f.where, f.text) for f in found] == [
        ("row 2, column episodes", "3"),
        ("row 4, column children", "' 2 '"),
    ]
    with pytest.raises(DisclosureError, match="2 small count"):
        assert_no_small_counts(table, 5)
    assert_no_small_counts(apply_sdc(table, rule="dfe"), 5)
    wheres = [f.where for f in find_small_counts(table, 5, count_columns=["wards"])]
    assert "row 1, column wards" in wheres and "row 4, column wards" not in wheres


# --- a whole output folder ----------------------------------------------------------------------


def _public_like_folder(tmp_path, wards):
    """What a public run should write: controlled tables, boundaries and snapped areas."""
    out = tmp_path / "public"
    (out / "tables").mkdir(parents=True)
    table = pd.DataFrame({"ward_code": ["W1", "W2", "W3"], "episodes": [3, 40, 57],
                          "children": [2, 20, 30], "episodes_per_child": [1.5, 2.0, 1.9]})
    apply_sdc(table, rule="dfe").to_csv(out / "tables" / "localities_ward.csv", index=False)
    rng = np.random.default_rng(3)
    areas = snap_locations(451_000 + rng.uniform(0, 800, 20), 206_000 + rng.uniform(0, 800, 20),
                           ["H01"] * 20, cell_m=250).to_crs(s.WGS84)
    areas = gpd.GeoSeries(shapely.transform(np.asarray(areas.values), lambda c: np.round(c, 5)),
                          crs=s.WGS84)
    boundary = wards.to_crs(s.WGS84).iloc[:5].geometry.apply(
        lambda g: shapely.transform(g, lambda c: np.round(c, 5)))
    (out / "map.html").write_text(
        "<html><script>var wards = " + gpd.GeoSeries(boundary).to_json()
        + "; var spots = " + areas.to_json() + ";</script></html>"
    )
    (out / "run.json").write_text(json.dumps({"parameters": {"eps_m": 250}, "counts": {}}))
    return out


def test_scan_outputs_accepts_a_public_like_folder_and_catches_each_leak(tmp_path, wards):
    out = _public_like_folder(tmp_path, wards)
    reference = PublicReference.from_boundaries(wards)
    assert scan_outputs(out, grid_m=250, count_threshold=5, allowed=reference) == []
    assert_publishable(out, grid_m=250, count_threshold=5, allowed=reference)

    pd.DataFrame({"row_number": [2], "episode_id": ["E1"], "lat": [52.066495],
                  "lon": [-1.341187]}).to_csv(out / "tables" / "episodes.csv", index=False)
    pd.DataFrame({"hotspot_id": ["H01"], "episodes": [4]}).to_csv(
        out / "tables" / "hotspots.csv", index=False)
    (out / KEY_FILE).write_text("# key\n" + "ab" * 32 + "\n")
    (out / "map.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    found = scan_outputs(out, grid_m=250, count_threshold=5, allowed=reference)
    problems = {(f.source, f.problem.split(" (")[0]) for f in found}
    assert problems == {
        ("tables/episodes.csv", "a row-level table"),
        ("tables/episodes.csv", "latitude/longitude finer than the 250 m grid"),
        ("tables/hotspots.csv", "a count from 1 to 5 is published"),
        (KEY_FILE, "a pseudonymisation key must never be published"),
        ("map.png", "a binary file that cannot be checked"),
    }
    with pytest.raises(DisclosureError, match="Refusing to release the output"):
        assert_publishable(out, grid_m=250, count_threshold=5, allowed=reference)
    assert scan_outputs(out, grid_m=250, count_threshold=5, allowed=reference,
                        skip=["map.png", KEY_FILE, "tables/episodes.csv",
                              "tables/hotspots.csv"]) == []


def test_scan_outputs_reads_xlsx_sheets(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "hotspots"
    ws.append(["hotspot_id", "episodes", "centroid_lat", "centroid_lon"])
    ws.append(["H01", 2, 52.06649, -1.34119])
    wb.save(tmp_path / "tables.xlsx")
    found = scan_outputs(tmp_path, grid_m=250, count_threshold=5)
    assert {f.source for f in found} == {"tables.xlsx[hotspots]"}
    assert {f.problem.split(" (")[0] for f in found} == {
        "a count from 1 to 5 is published", "latitude/longitude finer than the 250 m grid"}


def test_an_internal_run_is_caught_by_the_public_checks(tmp_path, write_csv, wards):
    """The scanner finds what an internal output holds (this is why it is not public)."""
    from tests.conftest import BANBURY, episode

    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", str(src), "--out", str(tmp_path / "o"), "-q"])
    assert code == 0
    found = scan_outputs(tmp_path / "o", grid_m=250, count_threshold=5,
                         allowed=PublicReference.from_boundaries(wards))
    sources = {f.source for f in found}
    assert {"map.html", "tables/episodes.csv", "tables/hotspots.csv"} <= sources


# --- acceptance test for the public run ------------------------------------------------------


def test_public_run_discloses_no_fine_coordinate_and_no_small_count(tmp_path, wards):
    from geo.synth import generate_synthetic, write_synthetic

    data = write_synthetic(generate_synthetic(wards, seed=5, n_episodes=800), tmp_path / "d")
    out = tmp_path / "pub"
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["run", str(data["episodes"]), "--homes", str(data["homes"]),
                         "--audience", "public", "--out", str(out), "-q"])
    assert code == 0
    assert not (out / "tables" / "episodes.csv").exists()
    assert not (out / KEY_FILE).exists()
    found = scan_outputs(out, grid_m=250, count_threshold=5,
                         allowed=PublicReference.from_boundaries(wards))
    assert found == [], "\n".join(map(str, found[:20]))


def _public_data(tmp_path):
    """12 children missing from one Oxford address (a hotspot a public output shows), one
    child 6 times from one Banbury home (a hotspot it must not show), and a few scattered
    episodes (small counts); a homes register."""
    from tests.conftest import BANBURY, OXFORD_CARFAX, episode

    rows = [episode(i, *OXFORD_CARFAX, child_id=f"OX{i}", home_id="H-OX",
                    placement_type="residential") for i in range(12)]
    rows += [episode(20 + i, *BANBURY, child_id="BAN1", home_id="H-BAN",
                     placement_type="residential") for i in range(6)]
    rows += [episode(40, 51.6, -1.25, child_id="LONE"), episode(41, 51.9, -1.15, child_id="Z")]
    src = tmp_path / "in" / "episodes.csv"
    src.parent.mkdir()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    pd.DataFrame(rows, columns=columns).to_csv(src, index=False)
    homes = tmp_path / "in" / "homes.csv"
    homes.write_text(
        "home_id,type,name,places,lat,lon\n"
        f"H-OX,residential,Carfax House,12,{OXFORD_CARFAX[0]},{OXFORD_CARFAX[1]}\n"
        f"H-BAN,residential,Secret House,2,{BANBURY[0]},{BANBURY[1]}\n"
    )
    return src, homes


def _quiet_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), " ".join(err.getvalue().split())


def test_a_public_run_writes_only_what_the_public_may_see(tmp_path, wards):
    src, homes = _public_data(tmp_path)
    out = tmp_path / "pub"
    code, stdout, err = _quiet_main(["run", src, "--homes", homes, "--audience", "public",
                                     "--out", out, "-q"])
    assert code == 0, err
    assert "Hotspots: 1 holding 12 of 20 mapped episodes; 1 with fewer than 10 children " \
           "left out." in stdout
    assert "Release check passed" in stdout
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "map.html", "report.html", "run.json", "tables.xlsx", "tables/focus_lpa.csv",
        "tables/hotspots.csv", "tables/localities_district.csv", "tables/localities_lpa.csv",
        "tables/localities_ward.csv",
    ]
    spots = pd.read_csv(out / "tables" / "hotspots.csv", dtype=str, keep_default_na=False)
    assert spots["hotspot_id"].tolist() == ["H01"] and spots["children"].tolist() == ["12"]
    for hidden in ("centroid_lat", "centroid_lon", "locations", "area_ha", "main_home_id",
                   "homes_residential"):
        assert hidden not in spots.columns
    ward = pd.read_csv(out / "tables" / "localities_ward.csv", dtype=str,
                       keep_default_na=False).set_index("ward_name")
    assert ward.loc["Banbury Cross and Neithrop", "children"] == "c"  # one child
    assert ward.loc["Banbury Cross and Neithrop", "hotspot_episodes"] == "0"  # no small hotspot
    doc = json.loads((out / "run.json").read_text())
    assert [i["path"] for i in doc["inputs"]] == ["episodes.csv", "homes.csv"]
    assert all("/" not in f["path"] for f in doc["boundaries"]["files"])
    assert doc["audience"]["audience"] == "public"
    assert doc["audience"]["settings"]["hotspot_geometry"] == "wards"
    assert doc["disclosure_control"]["rule"] == "dfe"
    assert doc["disclosure_control"]["rule_text"] == SDC_RULES["dfe"]
    assert doc["disclosure_control"]["cells_hidden"]["localities_ward"] > 0
    assert "hotspots_suppressed" not in doc["counts"] and doc["counts"]["homes_linking"] is None
    assert doc["pseudonyms"] is None
    assert not any("linked to the homes register" in n for n in doc["notes"])
    text = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*")
                   if p.suffix in (".html", ".json", ".csv"))
    for secret in ("OX1", "BAN1", "LONE", "H-OX", "H-BAN", "Secret House", str(tmp_path)):
        assert secret not in text, secret
    assert not scan_outputs(out, grid_m=250, count_threshold=5,
                            allowed=PublicReference.from_boundaries(wards))


def test_a_public_run_with_a_comparison_controls_its_changes_too(tmp_path, wards):
    from tests.conftest import OXFORD_CARFAX, episode

    src, _ = _public_data(tmp_path)
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    earlier = [episode(100 + i, *OXFORD_CARFAX, child_id=f"OX{i}", missing_from="2019-09-01")
               for i in range(3)]
    pd.concat([frame, pd.DataFrame(earlier, dtype=str)]).to_csv(src, index=False)
    out = tmp_path / "pub"
    code, _, err = _quiet_main(["run", src, "--audience", "public", "--out", out, "-q",
                                "--period", "2020-01-01:2020-06-30", "--compare-period",
                                "2019-07-01:2019-12-31"])
    assert code == 0, err
    lpa = pd.read_csv(out / "tables" / "localities_lpa.csv", dtype=str,
                      keep_default_na=False).set_index("lpa_name")
    assert lpa.loc["Oxford", "episodes_prev"] == "c"  # 3 episodes then
    assert lpa.loc["Oxford", "episodes_change"] == "c"  # else 12 - change = 3
    assert lpa.loc["Oxford", "episodes_change_share"] == "c"
    doc = json.loads((out / "run.json").read_text())
    assert "hotspots_suppressed" not in doc["comparison"]["counts"]
    assert doc["comparison"]["counts"]["mapped"] == "c"


def test_a_public_run_with_nhs_rounding_and_a_grid(tmp_path, wards):
    src, _ = _public_data(tmp_path)
    out = tmp_path / "pub"
    code, _, err = _quiet_main(["run", src, "--audience", "public", "--sdc", "nhs",
                                "--grid-m", "500", "--out", out, "-q"])
    assert code == 0, err
    spots = pd.read_csv(out / "tables" / "hotspots.csv", dtype=str, keep_default_na=False)
    assert spots["episodes"].tolist() == ["10"] and spots["children"].tolist() == ["10"]
    doc = json.loads((out / "run.json").read_text())
    assert doc["audience"]["settings"]["grid_m"] == 500
    assert doc["counts"]["mapped"] == 20 and doc["counts"]["children_mapped"] == 15
    assert doc["row_conservation"] == "read 20 = mapped 20 + rejected 0 + outside_area 0"
    assert not scan_outputs(out, grid_m=500, count_threshold=7,
                            allowed=PublicReference.from_boundaries(wards))


def test_public_runs_refuse_what_would_disclose(tmp_path):
    from tests.conftest import BANBURY, episode

    src, _ = _public_data(tmp_path)
    internal = tmp_path / "internal"
    assert _quiet_main(["run", src, "--out", internal, "-q"])[0] == 0
    code, _, err = _quiet_main(["run", src, "--audience", "public", "--out", internal, "-q"])
    assert code == 2 and "holds a pseudonymisation key" in err  # even with --force
    assert _quiet_main(["run", src, "--audience", "public", "--out", internal, "-q",
                        "--force"])[0] == 2
    for extra, message in (
        (["--sdc", "none"], "`--sdc none` is for internal outputs only"),
        (["--show-home-names"], "Home names are never shown"),
        (["--min-children", "5"], "at least 6 distinct children"),
        (["--grid-m", "100"], "at least 250"),
        (["--salt", "a long enough passphrase"], "a public output has no pseudonyms"),
    ):
        code, _, err = _quiet_main(["run", src, "--audience", "public", "--out",
                                    tmp_path / "x", "-q", *extra])
        assert code == 2 and message in err, (extra, err)
    assert not (tmp_path / "x").exists()
    # too few episodes: the area's own total would be 'c'
    tiny = tmp_path / "tiny.csv"
    pd.DataFrame([episode(i, *BANBURY, child_id="A") for i in range(4)]).to_csv(tiny,
                                                                               index=False)
    code, _, err = _quiet_main(["run", tiny, "--audience", "public", "--out", tmp_path / "x",
                                "-q"])
    assert code == 2 and "nothing to publish" in err and not (tmp_path / "x").exists()


def test_a_forced_public_run_checks_the_files_already_in_the_folder(tmp_path):
    src, _ = _public_data(tmp_path)
    out = tmp_path / "pub"
    out.mkdir()
    (out / "addresses.csv").write_text("name,lat,lon\nA home,51.752301,-1.257712\n")
    code, _, err = _quiet_main(["run", src, "--audience", "public", "--out", out, "-q",
                                "--force"])
    assert code == 2 and "Refusing to release the output" in err and "addresses.csv" in err
    assert [p.name for p in out.iterdir()] == ["addresses.csv"]  # nothing moved in
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "pub"]  # no staging left


@pytest.mark.parametrize("key_len", [16, 32, 64, 65, 200])
def test_hmac_with_precomputed_pads_is_hmac_sha256(key_len):
    rng = np.random.default_rng(key_len)
    key = rng.bytes(key_len)
    mac = _hmac_sha256(key)
    for message in (b"", b"C1", "Zoë-7".encode(), rng.bytes(300)):
        assert mac(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_hash_ids_with_codes_gives_the_same_pseudonyms():
    ids = pd.Series(["C1", "C2", "C1", "", "C3", "C2"], dtype="str")
    codes = pd.factorize(ids.astype(str))[0]
    pd.testing.assert_series_equal(hash_ids(ids, KEY, codes=codes), hash_ids(ids, KEY))
    with pytest.raises(ValueError, match="codes"):
        hash_ids(ids, KEY, codes=codes[:3])
