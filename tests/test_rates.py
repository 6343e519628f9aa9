import numpy as np
import pandas as pd
import pytest

from geo import schema as s
from geo.errors import InputError
from geo.rates import (
    NO_POPULATION_NOTE,
    RATE_COLUMNS,
    add_rates,
    places_by_area,
    population_by_area,
    read_population,
)

# Two LPAs: "North" = district D1 (wards W1, W2) + district D2 (ward W3); "South" = D3 (W4).
WARDS = pd.DataFrame(
    {
        s.WARD_CODE: ["W1", "W2", "W3", "W4"],
        s.LAD_CODE: ["D1", "D1", "D2", "D3"],
        s.LPA_NAME: ["North", "North", "North", "South"],
    }
)


def _population(tmp_path, text, name="pop.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_population(path)


def test_ward_rows_sum_to_districts_and_lpas(tmp_path):
    pop = _population(tmp_path, "area_code,population_0_17\nW1,1000\nW2,3000\nW3,500\n"
                      "D3,\"2,000\"\nE99999999,7\n")
    area = population_by_area(pop, WARDS)
    wards = area.by_level["ward"]
    assert wards[["W1", "W2", "W3"]].tolist() == [1000, 3000, 500] and np.isnan(wards["W4"])
    assert area.by_level["district"].to_dict() == {"D1": 4000, "D2": 500, "D3": 2000}
    assert area.by_level["lpa"].to_dict() == {"North": 4500, "South": 2000}
    assert area.total == 6500
    assert any("E99999999" in note and "ignored" in note for note in area.notes)


def test_a_district_missing_a_ward_is_blank_and_so_is_its_lpa(tmp_path):
    area = population_by_area(_population(tmp_path, "area_code,population_0_17\nW1,1000\nD3,9\n"),
                              WARDS)
    assert np.isnan(area.by_level["district"]["D1"])  # W2 not given
    assert np.isnan(area.by_level["lpa"]["North"]) and area.by_level["lpa"]["South"] == 9
    assert np.isnan(area.total)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ward,population_0_17\nW1,10\n", "missing the column(s) `area_code`"),
        ("area_code,population\nW1,10\n", "missing the column(s) `population_0_17`"),
        ("name,people\nW1,10\n", "missing the column(s) `area_code`, `population_0_17`"),
        ("area_code,population_0_17\nW1,ten\n", "not a whole number >= 0 in row(s) 2"),
        ("area_code,population_0_17\nW1,-5\n", "not a whole number >= 0"),
        ("area_code,population_0_17\nW1,5\nW1,6\n", "a repeated `area_code` in row(s) 3"),
    ],
)
def test_bad_population_files_are_refused_naming_the_file(tmp_path, text, expected):
    with pytest.raises(InputError) as exc:
        _population(tmp_path, text, name="bad-pop.csv")
    assert str(tmp_path / "bad-pop.csv") in str(exc.value)
    assert expected in str(exc.value)


def test_codes_that_match_nothing_are_refused(tmp_path):
    pop = _population(tmp_path, "area_code,population_0_17\nX1,10\n")
    with pytest.raises(InputError, match="None of the 1 area codes"):
        population_by_area(pop, WARDS)


def test_aliases_and_case(tmp_path):
    pop = _population(tmp_path, "Ward Code,Pop 0-17\nw1,12\n")
    assert pop.values == {"W1": 12}


def _homes():
    return pd.DataFrame(
        {
            s.HOME_ID: ["R1", "F1", "F2", "S1", "O1", "R9"],
            s.HOME_TYPE: ["residential", "foster", "foster", "semi_independent", "other",
                          "residential"],
            s.HOME_PLACES: pd.array([4, 2, None, 3, 5, 6], dtype="Int64"),
            s.STATUS: [s.MAPPED, s.MAPPED, s.MAPPED, s.MAPPED, s.MAPPED, s.REJECTED],
            s.WARD_CODE: ["W1", "W1", "W2", "W4", "W1", ""],
            s.LAD_CODE: ["D1", "D1", "D1", "D3", "D1", ""],
            s.LPA_NAME: ["North", "North", "North", "South", "North", ""],
        }
    )


def _ward_table():
    return pd.DataFrame({s.WARD_CODE: ["W1", "W2", "W3", "W4"], "episodes": [12, 5, 3, 0],
                         "children": [6, 1, 3, 0]})


def test_rates_per_place_and_per_10k_by_hand(tmp_path):
    pop = _population(tmp_path, "area_code,population_0_17\nW1,4000\nW2,2500\nW3,0\n")
    out = add_rates(_ward_table(), s.WARD_CODE, "ward", places_by_area(_homes()),
                    population_by_area(pop, WARDS)).set_index(s.WARD_CODE)
    # W1: R1 (4) + F1 (2) looked-after places; "other" and rejected homes do not count
    assert (out.loc["W1", "registered_homes"], out.loc["W1", "registered_places"]) == (2, 6)
    assert out.loc["W1", "episodes_per_place"] == 2.0  # 12 / 6
    assert out.loc["W1", "children_per_place"] == 1.0  # 6 / 6
    assert out.loc["W1", "episodes_per_10k"] == 30.0  # 12 / 4000 * 10,000
    assert out.loc["W1", "children_per_10k"] == 15.0
    # W2: one foster home without places: a home, no place, no rate per place
    assert (out.loc["W2", "registered_homes"], out.loc["W2", "registered_places"]) == (1, 0)
    assert pd.isna(out.loc["W2", "episodes_per_place"])
    assert out.loc["W2", "episodes_per_10k"] == 20.0  # 5 / 2500 * 10,000
    # W3: population 0 -> blank rate; W4: no population given -> blank
    assert pd.isna(out.loc["W3", "episodes_per_10k"]) and pd.isna(out.loc["W4", "episodes_per_10k"])
    assert out.loc["W4", "registered_places"] == 3 and out.loc["W4", "episodes_per_place"] == 0.0


def test_without_denominators_the_rate_columns_are_blank():
    out = add_rates(_ward_table(), s.WARD_CODE, "ward", None, None)
    for col in RATE_COLUMNS:
        assert out[col].isna().all(), col
    assert "--population" in NO_POPULATION_NOTE


def test_totals_row(tmp_path):
    pop = _population(tmp_path, "area_code,population_0_17\nD1,1000\nD2,1000\nD3,2000\n")
    totals = pd.DataFrame({"area": ["All"], "episodes": [20], "children": [10]})
    out = add_rates(totals, None, "all", places_by_area(_homes()), population_by_area(pop, WARDS))
    row = out.iloc[0]
    assert (row["registered_homes"], row["registered_places"]) == (4, 9)
    assert row["population_0_17"] == 4000 and row["episodes_per_10k"] == 50.0
