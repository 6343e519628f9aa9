"""Tests for boundaries/: the bundled Oxfordshire set and user boundary sets.

Every user fixture is written under tmp_path by the tests themselves, from the bundled wards
(reprojected) or from small boxes in British National Grid metres.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

import boundaries
from boundaries import BoundarySet, bundled_boundaries, list_boundaries, load_boundaries
from geo.errors import BoundaryError
from geo.schema import BNG, LAD_CODE, LAD_NAME, LPA_NAME, WARD_CODE, WARD_NAME, WGS84

DATA = Path(boundaries.__file__).resolve().parent / "data"

OGL_LINE = "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
OS_LINE = "Contains OS data © Crown copyright and database right 2021"

DISTRICTS = {
    "E07000177": ("Cherwell", "Cherwell and West Oxfordshire", 16),
    "E07000178": ("Oxford", "Oxford", 24),
    "E07000179": ("South Oxfordshire", "South and Vale", 21),
    "E07000180": ("Vale of White Horse", "South and Vale", 24),
    "E07000181": ("West Oxfordshire", "Cherwell and West Oxfordshire", 27),
}
LPAS = ("Cherwell and West Oxfordshire", "Oxford", "South and Vale")

# The three bundled data files must stay byte-identical to the copies described in
# boundaries/PROVENANCE.md.
CHECKSUMS = {
    "wards.geojson": "fcf3a6b6072b5edb9b104c972bb04972e697df61b08ef6cd98d13bf37454be93",
    "districts.geojson": "901ef1ff7f8defa5338897c57985ddf8b51830d8161479b0776b1d78de26142d",
    "lpa_lookup.csv": "ef9442e1741b3ab6cf3eaa543e678823c95c56fe78c9e3ffaaf6f9d2810855c5",
}

ONS_COLUMNS = {WARD_CODE: "WD19CD", WARD_NAME: "WD19NM", LAD_CODE: "LAD19CD", LAD_NAME: "LAD19NM"}
OFFSET = (450_000, 200_000)  # box fixtures sit in Oxfordshire on the British National Grid


# --- helpers ----------------------------------------------------------------------------------


def _write(gdf: gpd.GeoDataFrame, path: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "crs was not provided" for CRS-less files
        gdf.to_file(path, engine="pyogrio", **kwargs)
    return path


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _lookup(path: Path, rows: dict[str, str]) -> Path:
    lines = ["lad_code,lpa_name"] + [f"{code},{lpa}" for code, lpa in rows.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ons_wards(codes: tuple[str, ...] = ("E07000177", "E07000178")) -> gpd.GeoDataFrame:
    """Bundled wards of some districts, with ONS-style column names."""
    wards = bundled_boundaries().wards
    subset = wards.loc[wards[LAD_CODE].isin(codes)].drop(columns=[LPA_NAME])
    return subset.rename(columns=ONS_COLUMNS).reset_index(drop=True)


def _shift(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.affinity.translate(geom, *OFFSET)


def _boxes(rows: list[tuple[str, str, str, shapely.Geometry]], crs: str | None = BNG):
    """Wards (ward_code, ward_name, lad_code, geometry) near OFFSET on the BNG."""
    return gpd.GeoDataFrame(
        {
            "ward_code": [r[0] for r in rows],
            "ward_name": [r[1] for r in rows],
            "lad_code": [r[2] for r in rows],
        },
        geometry=[_shift(r[3]) for r in rows],
        crs=crs,
    )


def _area_km2(gdf: gpd.GeoDataFrame) -> float:
    return float(gdf.to_crs(BNG).geometry.union_all().area) / 1e6


@pytest.fixture
def kent_like(tmp_path: Path) -> Path:
    """A complete user set: wards GeoPackage in EPSG:27700, LAD codes, a lookup CSV and a TOML."""
    _write(_ons_wards().to_crs(BNG), tmp_path / "wards.gpkg", layer="wards")
    _lookup(tmp_path / "lpa_lookup.csv", {"E07000177": "North", "E07000178": "City"})
    return _toml(
        tmp_path / "set.toml",
        f"""
name = "Test county 2019"
vintage = "December 2019"
attribution = ["{OGL_LINE}", "Contains OS data © Crown copyright and database right 2019"]
[wards]
file = "wards.gpkg"
layer = "wards"
code = "WD19CD"
name = "WD19NM"
lad_code = "LAD19CD"
lad_name = "LAD19NM"
[lpas]
lookup = "lpa_lookup.csv"
""",
    )


# --- the bundled set --------------------------------------------------------------------------


def test_bundled_data_files_unchanged():
    for name, digest in CHECKSUMS.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_bundled_boundaries_counts_and_names():
    bset = bundled_boundaries()
    assert bset.name == "oxfordshire-2019"
    assert bset.vintage == "December 2019"
    assert len(bset.wards) == 112
    assert bset.wards[WARD_CODE].is_unique
    assert len(bset.districts) == 5
    assert dict(zip(bset.districts[LAD_CODE], bset.districts[LAD_NAME], strict=True)) == {
        code: name for code, (name, _, _) in DISTRICTS.items()
    }
    assert tuple(bset.lpas[LPA_NAME]) == LPAS
    assert "Bundled" in bset.source and "December 2019" in bset.source


def test_bundled_boundaries_district_membership():
    bset = bundled_boundaries()
    counts = bset.wards.groupby(LAD_CODE).size().to_dict()
    assert counts == {code: n for code, (_, _, n) in DISTRICTS.items()}
    for code, (name, lpa, _) in DISTRICTS.items():
        wards = bset.wards.loc[bset.wards[LAD_CODE] == code]
        assert set(wards[LAD_NAME]) == {name}
        assert set(wards[LPA_NAME]) == {lpa}
        row = bset.districts.loc[bset.districts[LAD_CODE] == code].iloc[0]
        assert row[LPA_NAME] == lpa
    # Some wards spot-checked against the ward list in PROVENANCE.md.
    names = dict(zip(bset.wards[WARD_CODE], bset.wards[WARD_NAME], strict=True))
    assert names["E05006547"] == "Carfax"
    assert names["E05012853"] == "Henley-on-Thames"
    assert names["E05010783"] == "Hailey, Minster Lovell and Leafield"


def test_bundled_boundaries_wards_follow_lookup():
    with (DATA / "lpa_lookup.csv").open(encoding="utf-8", newline="") as fh:
        lookup = {row["lad_code"]: row["lpa_name"] for row in csv.DictReader(fh)}
    wards = bundled_boundaries().wards
    assert set(wards[LAD_CODE]) == set(lookup)
    for code, lad, lpa in zip(wards[WARD_CODE], wards[LAD_CODE], wards[LPA_NAME], strict=True):
        assert lpa == lookup[lad], code


def test_bundled_boundaries_lpa_area_equals_ward_area():
    bset = bundled_boundaries()
    wards_km2 = _area_km2(bset.wards)
    assert wards_km2 == pytest.approx(2605.867, abs=0.01)
    assert _area_km2(bset.lpas) == pytest.approx(wards_km2, rel=1e-4)
    assert _area_km2(bset.districts) == pytest.approx(wards_km2, rel=1e-4)
    # Each LPA covers the same ground as its wards.
    lpas_bng = bset.lpas.to_crs(BNG).set_index(LPA_NAME).area
    wards_bng = bset.wards.to_crs(BNG).dissolve(by=LPA_NAME).area
    for lpa in LPAS:
        assert lpas_bng[lpa] == pytest.approx(wards_bng[lpa], rel=1e-4)


def test_bundled_boundaries_attribution_word_for_word():
    bset = bundled_boundaries()
    assert bset.attribution == (OGL_LINE, OS_LINE)
    provenance = (DATA.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert OGL_LINE in provenance
    assert OS_LINE in provenance
    assert "project brief" in provenance


def test_bundled_boundaries_frames_follow_contract():
    bset = bundled_boundaries()
    expected = {
        "wards": ([WARD_CODE, WARD_NAME, LAD_CODE, LAD_NAME, LPA_NAME, "geometry"], WARD_CODE),
        "districts": ([LAD_CODE, LAD_NAME, LPA_NAME, "geometry"], LAD_CODE),
        "lpas": ([LPA_NAME, "geometry"], LPA_NAME),
    }
    for attr, (columns, key) in expected.items():
        gdf = getattr(bset, attr)
        assert isinstance(gdf, gpd.GeoDataFrame), attr
        assert list(gdf.columns) == columns, attr
        assert gdf.crs == WGS84, attr
        assert isinstance(gdf.index, pd.RangeIndex) and gdf.index.start == 0, attr
        assert gdf[key].is_monotonic_increasing, attr
        assert gdf.geometry.is_valid.all(), attr
        assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}, attr
        assert not gdf.drop(columns="geometry").isna().any().any(), attr
    assert bset.notes == ()


def test_bundled_boundaries_cached_frozen_and_named():
    bset = bundled_boundaries()
    assert bundled_boundaries() is bset
    assert load_boundaries() is bset
    assert load_boundaries("oxfordshire") is bset
    assert load_boundaries("Oxfordshire") is bset
    assert load_boundaries("oxfordshire-2019") is bset
    assert list_boundaries() == ["oxfordshire"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        bset.name = "changed"  # type: ignore[misc]
    assert isinstance(bset, BoundarySet)


def test_bundled_boundaries_loads_fast():
    bundled_boundaries.cache_clear()
    start = time.perf_counter()
    bset = bundled_boundaries()
    elapsed = time.perf_counter() - start
    assert len(bset.wards) == 112
    assert elapsed < 1.0, f"bundled set took {elapsed:.2f} s"


def test_bundled_boundaries_files_listed():
    files = bundled_boundaries().files
    assert all(path.is_file() and path.is_absolute() for path in files)
    assert {path.name for path in files} == {
        "wards.geojson", "districts.geojson", "lpa_lookup.csv", "oxfordshire.toml",
    }


def test_bundled_boundaries_truth_points_fall_in_expected_wards():
    truth = pd.read_csv(Path(__file__).parent / "data" / "truth_points.csv", dtype=str,
                        keep_default_na=False)
    wards = bundled_boundaries().wards
    points = gpd.GeoDataFrame(
        truth, geometry=gpd.points_from_xy(truth["lon"].astype(float), truth["lat"].astype(float)),
        crs=WGS84,
    )
    joined = gpd.sjoin(points, wards, how="left", predicate="within")
    assert len(joined) == len(truth)
    got = joined[WARD_CODE].fillna("")
    assert (got == joined["expected_ward_code"]).all()
    assert (joined[LPA_NAME].fillna("") == joined["expected_lpa_name"]).all()


# --- user sets --------------------------------------------------------------------------------


def test_load_boundaries_toml_geopackage_bng_is_reprojected(kent_like: Path):
    bset = load_boundaries(kent_like)
    assert bset.name == "Test county 2019"
    assert bset.vintage == "December 2019"
    assert bset.attribution[0] == OGL_LINE
    assert bset.wards.crs == WGS84 and bset.districts.crs == WGS84 and bset.lpas.crs == WGS84
    assert len(bset.wards) == 40
    assert set(bset.districts[LAD_CODE]) == {"E07000177", "E07000178"}
    assert tuple(bset.lpas[LPA_NAME]) == ("City", "North")
    assert set(bset.wards.loc[bset.wards[LAD_CODE] == "E07000178", LPA_NAME]) == {"City"}
    # Back in degrees, close to where the bundled wards are (round trip through metres).
    original = bundled_boundaries().wards.set_index(WARD_CODE).geometry
    for code, geom in zip(bset.wards[WARD_CODE], bset.wards.geometry, strict=True):
        assert geom.equals_exact(original[code], tolerance=1e-6), code  # about 10 cm
    minx, miny, maxx, maxy = bset.wards.total_bounds
    assert -2 < minx < maxx < 0 and 51 < miny < maxy < 53
    assert {p.name for p in bset.files} == {"wards.gpkg", "lpa_lookup.csv", "set.toml"}
    assert bset.wards[WARD_CODE].is_monotonic_increasing
    assert isinstance(bset.wards.index, pd.RangeIndex)


def test_load_boundaries_toml_layer_required_for_several_layers(tmp_path: Path, kent_like: Path):
    _write(_ons_wards(("E07000178",)).to_crs(BNG), tmp_path / "wards.gpkg", layer="other")
    text = kent_like.read_text(encoding="utf-8")
    assert len(load_boundaries(kent_like).wards) == 40  # layer = "wards" picks the right one
    _toml(kent_like, text.replace('layer = "wards"\n', ""))
    with pytest.raises(BoundaryError, match=r"2 layers \(wards, other\)") as info:
        load_boundaries(kent_like)
    assert str(tmp_path / "wards.gpkg") in str(info.value)
    assert 'layer = "wards"' in str(info.value)
    _toml(kent_like, text.replace('layer = "wards"', 'layer = "nope"'))
    with pytest.raises(BoundaryError, match="no layer 'nope'"):
        load_boundaries(kent_like)


def test_load_boundaries_bare_file_ons_columns_detected(tmp_path: Path):
    path = _write(_ons_wards(), tmp_path / "wards.geojson")
    bset = load_boundaries(path)
    assert len(bset.wards) == 40
    assert set(bset.wards[LAD_NAME]) == {"Cherwell", "Oxford"}
    # No LPA information: each district is its own LPA, and the source says so.
    assert tuple(bset.lpas[LPA_NAME]) == ("Cherwell", "Oxford")
    assert (bset.wards[LPA_NAME] == bset.wards[LAD_NAME]).all()
    assert "each district is its own LPA" in bset.source
    assert "WD19CD" in bset.source
    assert bset.vintage.startswith("2019")
    assert bset.name == "wards"
    assert any("own LPA" in note for note in bset.notes)


def test_load_boundaries_bare_file_lowercase_ons_columns_and_lpa_column(tmp_path: Path):
    wards = _ons_wards().rename(columns=str.lower)
    wards["lpa_name"] = wards["lad19cd"].map({"E07000177": "North", "E07000178": "City"})
    bset = load_boundaries(_write(wards, tmp_path / "wards.geojson"))
    assert tuple(bset.lpas[LPA_NAME]) == ("City", "North")
    assert dict(zip(bset.districts[LAD_CODE], bset.districts[LPA_NAME], strict=True)) == {
        "E07000177": "North", "E07000178": "City",
    }
    assert _area_km2(bset.lpas) == pytest.approx(_area_km2(bset.wards), rel=1e-4)


def test_load_boundaries_bare_file_ambiguous_columns_refused(tmp_path: Path):
    wards = _ons_wards()
    wards["WD20CD"] = wards["WD19CD"]
    path = _write(wards, tmp_path / "wards.geojson")
    with pytest.raises(BoundaryError, match="several columns could be the ward code") as info:
        load_boundaries(path)
    message = str(info.value)
    assert str(path) in message
    assert "WD19CD, WD20CD" in message
    assert "LAD19NM" in message  # lists the columns found
    assert 'code = "<column>"' in message and "[wards]" in message


def test_load_boundaries_bare_file_missing_columns_refused(tmp_path: Path):
    wards = _ons_wards().rename(columns={"WD19NM": "label"})
    path = _write(wards, tmp_path / "wards.geojson")
    with pytest.raises(BoundaryError, match="no column for the ward name") as info:
        load_boundaries(path)
    assert str(path) in str(info.value) and "label" in str(info.value)
    assert 'name = "<column>"' in str(info.value)

    no_lad = _ons_wards().drop(columns=["LAD19CD", "LAD19NM"])
    path = _write(no_lad, tmp_path / "no_lad.geojson")
    with pytest.raises(BoundaryError, match="no district code column") as info:
        load_boundaries(path)
    assert "[districts]" in str(info.value) and str(path) in str(info.value)


def test_load_boundaries_no_crs_refused_naming_file(tmp_path: Path):
    wards = _ons_wards().to_crs(BNG).set_crs(None, allow_override=True)
    gpkg = _write(wards, tmp_path / "wards.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\n')
    with pytest.raises(BoundaryError, match="no coordinate reference system") as info:
        load_boundaries(toml)
    message = str(info.value)
    assert str(gpkg) in message
    assert 'crs = "EPSG:27700"' in message
    assert "British National Grid" in message and "metres" in message
    assert str(toml) in message

    # A bare Shapefile without its .prj file.
    shp = _write(wards, tmp_path / "wards.shp")
    assert not (tmp_path / "wards.prj").exists()
    with pytest.raises(BoundaryError, match="no coordinate reference system") as info:
        load_boundaries(shp)
    assert str(shp) in str(info.value) and ".prj" in str(info.value)
    assert 'crs = "EPSG:27700"' in str(info.value)

    # Degrees without a CRS: the hint says so.
    degrees = _write(_ons_wards().set_crs(None, allow_override=True), tmp_path / "deg.gpkg")
    with pytest.raises(BoundaryError, match="longitude/latitude") as info:
        load_boundaries(degrees)
    assert 'crs = "EPSG:4326"' in str(info.value)


def test_load_boundaries_no_crs_uses_toml_crs(tmp_path: Path):
    wards = _ons_wards().to_crs(BNG).set_crs(None, allow_override=True)
    _write(wards, tmp_path / "wards.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\ncrs = "EPSG:27700"\n')
    bset = load_boundaries(toml)
    assert bset.wards.crs == WGS84
    assert _area_km2(bset.wards) == pytest.approx(_area_km2(_ons_wards()), rel=1e-6)
    assert bset.name == "set"
    assert bset.vintage.startswith("2019")  # guessed from WD19CD
    assert any("attribution" in note for note in bset.notes)


def test_load_boundaries_lookup_missing_district_refused(tmp_path: Path, kent_like: Path):
    lookup = _lookup(tmp_path / "lpa_lookup.csv", {"E07000177": "North"})
    with pytest.raises(BoundaryError, match="no row for 1 district") as info:
        load_boundaries(kent_like)
    message = str(info.value)
    assert "E07000178 (Oxford)" in message
    assert "E07000177" not in message
    assert str(lookup) in message


def test_load_boundaries_lookup_missing_column_refused(tmp_path: Path, kent_like: Path):
    (tmp_path / "lpa_lookup.csv").write_text("lad_code,force_area\nE07000177,North\n")
    with pytest.raises(BoundaryError, match="no lpa_name column") as info:
        load_boundaries(kent_like)
    assert "force_area" in str(info.value) and "lpa_lookup.csv" in str(info.value)


def test_load_boundaries_lookup_with_bom_names_and_conflicts(tmp_path: Path, kent_like: Path):
    lookup = tmp_path / "lpa_lookup.csv"
    lookup.write_text(
        "\ufeffLAD_Code, lad_name ,LPA_Name\nE07000177,Cherwell,North\nE07000178,Oxford,City\n",
        encoding="utf-8",
    )
    assert tuple(load_boundaries(kent_like).lpas[LPA_NAME]) == ("City", "North")
    lookup.write_text("lad_code,lpa_name\nE07000177,North\nE07000177,South\nE07000178,City\n")
    with pytest.raises(BoundaryError, match="more than one LPA: E07000177"):
        load_boundaries(kent_like)


L_WARD = shapely.union_all([box(0, 0, 600, 3000), box(0, 0, 4000, 600)])


def test_load_boundaries_lpa_polygons_assign_by_representative_point(tmp_path: Path):
    # The L-shaped ward has most of its area, and its centroid, east of x = 700, but its
    # representative point is west of it: representative point must win.
    assert L_WARD.representative_point().x < 700 < L_WARD.centroid.x
    assert L_WARD.intersection(box(700, -100, 6100, 3100)).area > L_WARD.area / 2
    wards = _boxes([
        ("W1", "West box", "D1", box(-2000, 0, -1000, 1000)),
        ("W2", "L shape", "D1", L_WARD),
        ("W3", "East box", "D2", box(5000, 0, 6000, 1000)),
        ("W4", "Far east", "D2", box(5000, 1000, 6000, 2000)),
        ("W5", "D1 in the east", "D1", box(5000, 2000, 6000, 3000)),
    ])
    _write(wards, tmp_path / "wards.gpkg")
    lpas = gpd.GeoDataFrame(
        {"LPA_NAME": ["West", "East", "Elsewhere"]},
        geometry=[_shift(box(-2100, -100, 700, 3100)), _shift(box(700, -100, 6100, 3100)),
                  _shift(box(90_000, 0, 91_000, 1000))],
        crs=BNG,
    ).to_crs(WGS84)
    _write(lpas, tmp_path / "lpa.geojson")
    toml = _toml(
        tmp_path / "set.toml",
        '[wards]\nfile = "wards.gpkg"\n[lpas]\nfile = "lpa.geojson"\nname = "LPA_NAME"\n',
    )
    bset = load_boundaries(toml)
    got = dict(zip(bset.wards[WARD_CODE], bset.wards[LPA_NAME], strict=True))
    assert got == {"W1": "West", "W2": "West", "W3": "East", "W4": "East", "W5": "East"}
    assert tuple(bset.lpas[LPA_NAME]) == ("East", "West")  # "Elsewhere" has no wards
    assert any("Elsewhere" in note for note in bset.notes)
    assert dict(zip(bset.districts[LAD_CODE], bset.districts[LPA_NAME], strict=True)) == {
        "D1": "West", "D2": "East",  # D1: the LPA of most of its wards
    }
    assert any("D1 has wards in several LPAs" in note for note in bset.notes)
    assert bset.districts[LAD_NAME].tolist() == ["D1", "D2"]  # no names anywhere: codes
    assert "representative point" in bset.source


def test_load_boundaries_lpa_polygons_missing_name_column_refused(tmp_path: Path):
    wards = _boxes([("W1", "One", "D1", box(0, 0, 1000, 1000))])
    _write(wards, tmp_path / "wards.gpkg")
    lpas = gpd.GeoDataFrame({"force": ["A"]}, geometry=[_shift(box(-10, -10, 2000, 2000))],
                            crs=BNG)
    lpa_path = _write(lpas, tmp_path / "lpa.gpkg")
    toml = _toml(tmp_path / "set.toml",
                 '[wards]\nfile = "wards.gpkg"\n[lpas]\nfile = "lpa.gpkg"\nname = "LPA"\n')
    with pytest.raises(BoundaryError, match="no column 'LPA'") as info:
        load_boundaries(toml)
    assert str(lpa_path) in str(info.value) and "force" in str(info.value)
    # Without `name`, lpa_name is looked for and is missing too.
    _toml(toml, '[wards]\nfile = "wards.gpkg"\n[lpas]\nfile = "lpa.gpkg"\n')
    with pytest.raises(BoundaryError, match="no column for the LPA name") as info:
        load_boundaries(toml)
    assert str(lpa_path) in str(info.value)


def test_load_boundaries_ward_outside_lpa_polygons_refused(tmp_path: Path):
    wards = _boxes([("W1", "One", "D1", box(0, 0, 1000, 1000)),
                    ("W2", "Two", "D1", box(50_000, 0, 51_000, 1000))])
    _write(wards, tmp_path / "wards.gpkg")
    lpas = gpd.GeoDataFrame({"lpa_name": ["A"]}, geometry=[_shift(box(-10, -10, 2000, 2000))],
                            crs=BNG)
    _write(lpas, tmp_path / "lpa.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\n[lpas]\nfile = "lpa.gpkg"\n')
    with pytest.raises(BoundaryError, match="in no LPA polygon: W2"):
        load_boundaries(toml)


def test_load_boundaries_shapefile_input(tmp_path: Path):
    shp = _write(_ons_wards().to_crs(BNG), tmp_path / "wards.shp")
    assert (tmp_path / "wards.prj").exists()
    bset = load_boundaries(shp)
    assert len(bset.wards) == 40 and bset.wards.crs == WGS84
    assert {p.suffix for p in bset.files} >= {".shp", ".shx", ".dbf", ".prj"}
    # The same file through a TOML with a lookup.
    _lookup(tmp_path / "lookup.csv", {"E07000177": "North", "E07000178": "City"})
    toml = _toml(
        tmp_path / "set.toml", '[wards]\nfile = "wards.shp"\n[lpas]\nlookup = "lookup.csv"\n'
    )
    assert tuple(load_boundaries(toml).lpas[LPA_NAME]) == ("City", "North")
    # A Shapefile without its .dbf is refused.
    (tmp_path / "wards.dbf").unlink()
    with pytest.raises(BoundaryError, match=r"Shapefile is incomplete: no \.dbf"):
        load_boundaries(shp)


def test_load_boundaries_districts_by_representative_point(tmp_path: Path):
    bundled = bundled_boundaries()
    wards = _ons_wards(tuple(DISTRICTS)).drop(columns=["LAD19CD", "LAD19NM"]).to_crs(BNG)
    _write(wards, tmp_path / "wards.gpkg")
    districts = gpd.read_file(DATA / "districts.geojson").rename(
        columns={"lad_code": "LAD19CD", "lad_name": "LAD19NM"}
    )
    _write(districts, tmp_path / "lad.geojson")
    toml = _toml(tmp_path / "set.toml", """
[wards]
file = "wards.gpkg"
[districts]
file = "lad.geojson"
[lpas]
lookup = "lpa_lookup.csv"
""")
    (tmp_path / "lpa_lookup.csv").write_bytes((DATA / "lpa_lookup.csv").read_bytes())
    bset = load_boundaries(toml)
    pd.testing.assert_frame_equal(
        bset.wards.drop(columns="geometry"), bundled.wards.drop(columns="geometry")
    )
    assert bset.districts[LAD_NAME].tolist() == bundled.districts[LAD_NAME].tolist()
    assert any("representative point" in note for note in bset.notes)

    # keep_districts keeps only the wards (and districts) listed.
    text = toml.read_text(encoding="utf-8").replace(
        '[wards]\nfile = "wards.gpkg"\n',
        '[wards]\nfile = "wards.gpkg"\nkeep_districts = ["E07000178"]\n',
    )
    _toml(toml, text)
    bset = load_boundaries(toml)
    assert len(bset.wards) == 24 and bset.districts[LAD_CODE].tolist() == ["E07000178"]
    assert bset.lpas[LPA_NAME].tolist() == ["Oxford"]


def test_load_boundaries_ward_district_not_in_districts_file_refused(tmp_path: Path):
    _write(_ons_wards().to_crs(BNG), tmp_path / "wards.gpkg")
    districts = gpd.read_file(DATA / "districts.geojson")
    _write(districts.loc[districts["lad_code"] != "E07000178"], tmp_path / "lad.geojson")
    toml = _toml(tmp_path / "set.toml",
                 '[wards]\nfile = "wards.gpkg"\n[districts]\nfile = "lad.geojson"\n')
    with pytest.raises(BoundaryError, match="not in the districts file") as info:
        load_boundaries(toml)
    assert "E07000178" in str(info.value)


def test_load_boundaries_invalid_geometry_repaired_and_noted(tmp_path: Path):
    bowtie = shapely.Polygon([(0, 0), (1000, 1000), (1000, 0), (0, 1000)])
    assert not bowtie.is_valid
    wards = _boxes([("W1", "Bow tie", "D1", bowtie), ("W2", "Box", "D1", box(2000, 0, 3000, 1000))])
    path = _write(wards, tmp_path / "wards.gpkg")
    bset = load_boundaries(path)
    assert bset.wards.geometry.is_valid.all()
    assert bset.wards.to_crs(BNG).area.iloc[0] == pytest.approx(500_000, rel=1e-3)
    assert any("make_valid" in note and "W1" in note for note in bset.notes)


REJECTED = [
    pytest.param(
        lambda d: gpd.GeoDataFrame(
            {"ward_code": ["W1"], "ward_name": ["A"], "lad_code": ["D1"]},
            geometry=[Point(-1.2, 51.7)], crs=WGS84),
        r"1 ward feature\(s\) are not polygons \(Point: 1; first: W1\)", id="points"),
    pytest.param(
        lambda d: _boxes([("W1", "A", "D1", box(0, 0, 1000, 1000)),
                          ("W1", "B", "D1", box(2000, 0, 3000, 1000))]),
        "appear more than once.*W1", id="duplicate-codes"),
    pytest.param(
        lambda d: _boxes([("W1", "A", "D1", box(0, 0, 1000, 1000)),
                          ("  ", "B", "D1", box(2000, 0, 3000, 1000))]),
        "1 feature.* blank ward code", id="blank-code"),
    pytest.param(
        lambda d: _boxes([("W1", "", "D1", box(0, 0, 1000, 1000))]),
        "blank ward name.*W1", id="blank-name"),
    pytest.param(
        lambda d: _boxes([("W1", "A", "D1", box(0, 0, 1000, 1000)),
                          ("W2", "B", "D1", shapely.Polygon())]),
        "have no geometry: W2", id="empty-geometry"),
    pytest.param(
        lambda d: _boxes([("W1", "A", "D1", shapely.Polygon([(0, 0), (1000, 0), (2000, 0)]))]),
        "no area left after repair: W1", id="collapsed-geometry"),
]


@pytest.mark.parametrize(("make", "match"), REJECTED)
def test_load_boundaries_bad_wards_refused(tmp_path: Path, make, match):
    path = _write(make(tmp_path), tmp_path / "wards.gpkg")
    with pytest.raises(BoundaryError, match=match) as info:
        load_boundaries(path)
    assert str(path) in str(info.value)


def test_load_boundaries_bad_files_refused(tmp_path: Path):
    missing = tmp_path / "nowhere.geojson"
    with pytest.raises(BoundaryError, match="wards file not found") as info:
        load_boundaries(missing)
    assert str(missing) in str(info.value)

    text = tmp_path / "notes.geojson"
    text.write_text("these are not boundaries", encoding="utf-8")
    with pytest.raises(BoundaryError, match="cannot read the wards file as GeoJSON"):
        load_boundaries(text)

    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(BoundaryError, match="has no features") as info:
        load_boundaries(empty)
    assert str(empty) in str(info.value)

    csv_wards = tmp_path / "wards.csv"
    csv_wards.write_text("ward_code\nW1\n", encoding="utf-8")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.csv"\n')
    with pytest.raises(BoundaryError, match=r"not a supported format \(\.csv\)"):
        load_boundaries(toml)
    with pytest.raises(BoundaryError, match="not a boundary set"):
        load_boundaries(csv_wards)
    with pytest.raises(BoundaryError, match="Unknown boundary set 'kent'"):
        load_boundaries("kent")
    with pytest.raises(BoundaryError, match="boundaries TOML file not found"):
        load_boundaries(tmp_path / "absent.toml")


def test_load_boundaries_metres_in_geojson_refused(tmp_path: Path):
    # A GeoJSON is read as longitude/latitude; metre coordinates in one are a mistake.
    wards = _boxes([("W1", "A", "D1", box(0, 0, 1000, 1000))]).set_crs(WGS84, allow_override=True)
    path = _write(wards, tmp_path / "wards.geojson")
    with pytest.raises(BoundaryError, match="not longitude/latitude degrees") as info:
        load_boundaries(path)
    assert str(path) in str(info.value) and "EPSG:27700" in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[wards]\nfile = "w.gpkg"\nlad_cod = "X"\n', r"unknown key\(s\) `lad_cod` at \[wards\]"),
        ('title = "x"\n[wards]\nfile = "w.gpkg"\n', "unknown key.*at the top level"),
        ('name = "x"\n', r"no \[wards\] table"),
        ("[wards]\n", "needs `file"),
        ('[wards]\nfile = "w.gpkg"\n[lpas]\nlookup = "a.csv"\nfile = "b.gpkg"\n', "not both"),
        ('[wards]\nfile = "w.gpkg"\n[lpas]\nname = "LPA"\n', "needs either `lookup`"),
        ('[wards]\nfile = "w.gpkg"\nkeep_districts = "E07000177"\n', "must be a list"),
        ('attribution = 3\n[wards]\nfile = "w.gpkg"\n', "must be a list of lines"),
        ("[wards\n", "not a valid TOML file"),
    ],
)
def test_load_boundaries_bad_toml_refused(tmp_path: Path, text: str, match: str):
    toml = _toml(tmp_path / "set.toml", text)
    with pytest.raises(BoundaryError, match=match) as info:
        load_boundaries(toml)
    assert str(toml) in str(info.value)


def test_load_boundaries_bad_toml_crs_refused(tmp_path: Path):
    wards = _boxes([("W1", "A", "D1", box(0, 0, 1000, 1000))], crs=None)
    _write(wards, tmp_path / "wards.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\ncrs = "EPSG:99999999"\n')
    with pytest.raises(BoundaryError, match="not a known coordinate reference system"):
        load_boundaries(toml)


def test_load_boundaries_user_sets_are_fresh_objects(kent_like: Path):
    first = load_boundaries(kent_like)
    second = load_boundaries(kent_like)
    assert first is not second
    assert first.wards is not second.wards


def test_load_boundaries_degrees_with_projected_crs_refused(tmp_path: Path):
    wards = _ons_wards().set_crs(None, allow_override=True)
    path = _write(wards, tmp_path / "wards.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\ncrs = "EPSG:27700"\n')
    with pytest.raises(BoundaryError, match="look like longitude/latitude degrees") as info:
        load_boundaries(toml)
    assert str(path) in str(info.value) and 'crs = "EPSG:4326"' in str(info.value)


def test_load_boundaries_file_crs_wins_over_toml_crs(tmp_path: Path):
    _write(_ons_wards().to_crs(BNG), tmp_path / "wards.gpkg")
    toml = _toml(tmp_path / "set.toml", '[wards]\nfile = "wards.gpkg"\ncrs = "EPSG:4326"\n')
    bset = load_boundaries(toml)
    assert bset.wards.crs == WGS84 and len(bset.wards) == 40
    assert any("EPSG:27700" in note and "ignored" in note for note in bset.notes)


def test_docs_example_toml_uses_only_known_keys(tmp_path: Path):
    docs = Path(__file__).resolve().parents[1] / "docs" / "boundaries.md"
    text = docs.read_text(encoding="utf-8")
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    toml = _toml(tmp_path / "boundaries.toml", example)
    # Every key is accepted: loading gets as far as looking for the (absent) wards file.
    with pytest.raises(BoundaryError, match="wards file not found"):
        load_boundaries(toml)
