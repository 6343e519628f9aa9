import pandas as pd
import pytest

from geo import schema as s
from geo.episodes import read_table
from geo.errors import ParameterError
from geo.pipeline import AnalysisConfig, analyse
from geo.validate import Period
from tests.conftest import BANBURY, OUTSIDE, episode


def _rows() -> list[dict[str, object]]:
    rows = []
    # six episodes by two children at one Banbury address: a hotspot at min_samples 5
    for i in range(6):
        rows.append(episode(i, *BANBURY, child_id=f"K{i % 2}", placement_type="residential",
                            home_id="R1", sex="M", age=15))
    rows.append(episode(10, 51.75, -1.26, sex="F", age=13))  # Oxford, alone
    rows.append(episode(11, *OUTSIDE))  # Reading
    rows.append(episode(12, 51.75, -1.26, missing_from="31/02/2020"))
    return rows


def test_analyse_end_to_end(wards, write_csv):
    result = analyse(read_table(write_csv(_rows())), wards=wards)
    c = result.counts
    assert (c["read"], c["mapped"], c["rejected"], c["outside_area"]) == (9, 7, 1, 1)
    assert c["conserved"] is True
    assert c["rejected_by_reason"] == {"invalid_date": 1}
    assert c["hotspots"] == 1 and c["episodes_in_hotspots"] == 6
    ep = result.episodes
    assert ep[s.HOTSPOT_ID].tolist()[:7] == ["H01"] * 6 + [""]
    spot = result.hotspots.iloc[0]
    assert spot[s.HOTSPOT_ID] == "H01"
    assert (spot["episodes"], spot["children"], spot["repeat_children"]) == (6, 2, 2)
    assert spot["locations"] == 1
    assert spot[s.LPA_NAME] == "Cherwell and West Oxfordshire"
    assert spot[s.WARD_NAME] == "Banbury Cross and Neithrop"
    assert spot.geometry.contains(
        __import__("shapely").Point(BANBURY[1], BANBURY[0])
    )
    assert result.hotspots.crs.to_epsg() == 4326
    loc = result.localities
    assert len(loc["ward"]) == 112 and len(loc["district"]) == 5 and len(loc["lpa"]) == 3
    assert loc["ward"]["episodes"].sum() == 7
    assert loc["lpa"].set_index(s.LPA_NAME).loc["Cherwell and West Oxfordshire", "episodes"] == 6
    assert loc["lpa"].set_index(s.LPA_NAME).loc["Oxford", "episodes"] == 1
    assert result.totals.iloc[0]["episodes"] == 7


def test_eps_and_min_samples_change_the_hotspots(wards, write_csv):
    table = read_table(write_csv(_rows()))
    assert analyse(table, wards=wards, config=AnalysisConfig(min_samples=7)).counts["hotspots"] == 0
    assert analyse(table, wards=wards, config=AnalysisConfig(min_samples=1)).counts["hotspots"] == 2


def test_period_rejects_other_episodes_with_a_reason(wards, write_csv):
    rows = _rows()
    rows[0]["missing_from"] = "2019-12-31 23:59"
    rows[1]["missing_from"] = "2020-06-30 23:59"
    rows[1]["returned"] = ""
    cfg = AnalysisConfig(period=Period.parse("2020-01-01:2020-06-30"))
    result = analyse(read_table(write_csv(rows)), wards=wards, config=cfg)
    assert result.episodes.loc[0, s.REASON] == "outside_period"
    assert result.episodes.loc[1, s.STATUS] == s.MAPPED
    assert result.counts["rejected_by_reason"] == {"invalid_date": 1, "outside_period": 1}


def test_homes_near_hotspots(wards, write_csv, tmp_path):
    homes = pd.DataFrame(
        [
            {"home_id": "R1", "type": "residential", "places": 4, "lat": BANBURY[0],
             "lon": BANBURY[1] + 0.001},  # about 70 m away
            {"home_id": "F1", "type": "foster", "places": 2, "lat": 51.75, "lon": -1.26},
            {"home_id": "X", "type": "castle", "lat": 51.75, "lon": -1.26},
        ]
    )
    path = tmp_path / "homes.csv"
    homes.to_csv(path, index=False)
    result = analyse(read_table(write_csv(_rows())), wards=wards,
                     homes_table=read_table(path, what="homes register"))
    spot = result.hotspots.iloc[0]
    assert (spot["homes_residential"], spot["homes_foster"]) == (1, 0)
    h = result.homes.set_index(s.HOME_ID)
    assert h.loc["R1", s.HOTSPOT_ID] == "H01" and h.loc["F1", s.HOTSPOT_ID] == ""
    assert h.loc["X", s.STATUS] == s.REJECTED and h.loc["X", s.REASON] == "invalid_type"


def test_config_is_checked():
    with pytest.raises(ParameterError):
        AnalysisConfig(eps_m=0)
