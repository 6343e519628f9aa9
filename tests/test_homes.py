import numpy as np
import pandas as pd
import pytest
import shapely

from geo import schema as s
from geo.homes import (
    HOME_LINK,
    LINKED_HOME_ID,
    driver_label,
    hotspot_homes,
    link_homes,
    linking_counts,
)


def _homes() -> pd.DataFrame:
    rows = [
        # home_id, type, status, precision, x, y
        ("R1", "residential", s.MAPPED, "coordinates", 0.0, 0.0),
        ("R2", "residential", s.MAPPED, "postcode", 1000.0, 1000.0),
        ("F1", "foster", s.MAPPED, "coordinates", 2000.0, 2000.0),
        ("F2", "foster", s.MAPPED, "coordinates", 2000.5, 2000.0),  # 0.5 m from F1
        ("S1", "semi_independent", s.REJECTED, "coordinates", 3000.0, 3000.0),
        ("F9", "foster", s.MAPPED, "sector", 4000.0, 4000.0),  # a sector centroid
    ]
    return pd.DataFrame(rows, columns=[s.HOME_ID, s.HOME_TYPE, s.STATUS, s.PRECISION, s.X, s.Y])


def _episodes() -> pd.DataFrame:
    rows = [
        # status, home_id, placement_type, precision, x, y, expected link, expected home
        (s.MAPPED, "R1", "residential", "coordinates", 50.0, 0.0, "id", "R1"),
        (s.MAPPED, "R1", "family_home", "coordinates", 9.0, 9.0, "id", "R1"),  # id wins
        (s.MAPPED, "S1", "semi_independent", "coordinates", 0.0, 0.0, "id", "S1"),  # rejected
        (s.MAPPED, "ZZ", "foster", "coordinates", 0.0, 0.0, "not_in_register", ""),
        (s.MAPPED, "", "residential", "coordinates", 1000.5, 1000.0, "location", "R2"),
        (s.MAPPED, "", "residential", "postcode", 1001.0, 1000.0, "location", "R2"),  # 1 m
        (s.MAPPED, "", "residential", "coordinates", 1001.5, 1000.0, "unlinked", ""),
        (s.MAPPED, "", "foster", "coordinates", 2000.2, 2000.0, "unlinked", ""),  # 2 homes
        (s.MAPPED, "", "semi_independent", "coordinates", 3000.0, 3000.0, "unlinked", ""),
        (s.MAPPED, "", "foster", "coordinates", 4000.0, 4000.0, "unlinked", ""),  # sector home
        (s.MAPPED, "", "residential", "sector", 1000.0, 1000.0, "unlinked", ""),  # sector ep
        (s.MAPPED, "", "family_home", "coordinates", 1000.0, 1000.0, "", ""),
        (s.MAPPED, "", "unknown", "coordinates", 1000.0, 1000.0, "", ""),
        (s.REJECTED, "R1", "residential", "", np.nan, np.nan, "", ""),
        (s.OUTSIDE_AREA, "", "residential", "coordinates", 1000.0, 1000.0, "", ""),
    ]
    return pd.DataFrame(
        rows,
        columns=[s.STATUS, s.HOME_ID, s.PLACEMENT_TYPE, s.PRECISION, s.X, s.Y, "want_link",
                 "want_home"],
    )


def test_linking_by_id_by_location_and_unlinked():
    episodes = _episodes()
    links = link_homes(episodes, _homes())
    assert links[HOME_LINK].tolist() == episodes["want_link"].tolist()
    assert links[LINKED_HOME_ID].tolist() == episodes["want_home"].tolist()


def test_linking_counts_for_run_json():
    episodes = _episodes()
    episodes[[LINKED_HOME_ID, HOME_LINK]] = link_homes(episodes, _homes())
    assert linking_counts(episodes) == {
        "linked_by_id": 3,
        "linked_by_location": 2,
        "unlinked": 5,
        "home_id_not_in_register": 1,
        "not_from_a_home": 2,  # the mapped family_home and unknown placements
    }


def test_no_register_links_nothing():
    links = link_homes(_episodes(), None)
    assert (links[HOME_LINK] == "").all() and (links[LINKED_HOME_ID] == "").all()


@pytest.mark.parametrize(
    ("episodes", "from_homes", "main", "kind", "label"),
    [
        (10, 6, 6, "foster", "single foster home"),  # exactly 60% from one home
        (10, 9, 7, "residential", "single residential home"),
        (10, 8, 6, "semi_independent", "single semi-independent home"),
        (10, 6, 5, "residential", "several homes"),  # 60% from homes, no single home 60%
        (10, 10, 5, "foster", "several homes"),
        (10, 3, 3, "residential", "community / family homes"),  # 30% < 40%
        (10, 0, 0, "", "community / family homes"),
        (10, 4, 2, "residential", "mixed"),  # exactly 40%: not community
        (10, 5, 4, "foster", "mixed"),
        (0, 0, 0, "", ""),
    ],
)
def test_driver_rule(episodes, from_homes, main, kind, label):
    assert driver_label(episodes, from_homes, main, kind) == label


def test_hotspot_homes_counts_types_shares_and_driver():
    hulls = pd.Series(
        [shapely.box(0, 0, 100, 100), shapely.box(5000, 0, 5100, 100)], index=["H01", "H02"]
    )
    homes = pd.DataFrame(
        [
            ("R1", "residential", s.MAPPED, 50.0, 50.0),  # inside H01
            ("F1", "foster", s.MAPPED, 300.0, 50.0),  # 200 m from H01: within eps 250
            ("F2", "foster", s.MAPPED, 400.0, 50.0),  # 300 m: not near
            ("R9", "residential", s.REJECTED, 60.0, 60.0),  # rejected: never counted
            ("S1", "semi_independent", s.MAPPED, 5050.0, 50.0),  # inside H02
            ("R2", "residential", s.MAPPED, 5050.0, 60.0),  # inside H02
            ("O1", "other", s.OUTSIDE_AREA, 5060.0, 60.0),  # outside the area
        ],
        columns=[s.HOME_ID, s.HOME_TYPE, s.STATUS, s.X, s.Y],
    )
    linked = (
        ["R1"] * 7 + ["F1", "F2", ""]  # H01: 8 of 10 from homes near it (F2 is too far)
        + ["S1"] * 4 + ["R2"] * 3 + ["", "", ""]  # H02: 7 of 10, at most 4 from one home
    )
    in_spot = pd.DataFrame({s.HOTSPOT_ID: ["H01"] * 10 + ["H02"] * 10, LINKED_HOME_ID: linked})
    out = hotspot_homes(in_spot, hulls, homes, eps_m=250)
    h1, h2 = out.loc["H01"], out.loc["H02"]
    assert (h1["homes_residential"], h1["homes_foster"], h1["homes_semi_independent"]) == (1, 1, 0)
    assert (h2["homes_residential"], h2["homes_semi_independent"], h2["homes_other"]) == (1, 1, 0)
    assert (h1["episodes_from_homes"], h1["episodes_from_homes_share"]) == (8, 0.8)
    assert (h1["contributing_homes"], h1["main_home_id"], h1["main_home_share"]) == (2, "R1", 0.7)
    assert h1["driver"] == "single residential home"
    assert (h2["episodes_from_homes"], h2["contributing_homes"]) == (7, 2)
    assert (h2["main_home_id"], h2["main_home_type"], h2["main_home_share"]) == (
        "S1", "semi_independent", 0.4)
    assert h2["driver"] == "several homes"


@pytest.mark.parametrize(("columns", "have", "lack"), [
    (["home_id", "type", "lat"], "lat", "lon"),
    (["home_id", "type", "northing", "postcode"], "northing", "easting"),
])
def test_a_register_with_half_a_coordinate_pair_is_refused(tmp_path, columns, have, lack):
    """Like the episodes file: `lat` without `lon` is a whole-file problem, named."""
    from geo.episodes import read_table
    from geo.errors import InputError
    from geo.homes import validate_homes

    path = tmp_path / "homes.csv"
    pd.DataFrame([{c: "1" for c in columns}]).to_csv(path, index=False)
    with pytest.raises(InputError) as exc:
        validate_homes(read_table(path, what="homes register"))
    text = str(exc.value)
    assert f"The homes register {path} has" in text
    assert f"`{have}` column but no `{lack}` column" in text
