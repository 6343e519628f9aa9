import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import schema as s
from geo.compare import (
    GIVEN,
    PREVIOUS,
    add_changes,
    choose_comparison,
    hotspot_trends,
    previous_period,
    trend_counts,
)
from geo.validate import Period


@pytest.mark.parametrize(
    ("period", "previous"),
    [
        ("2020-01-01:2020-06-30", "2019-07-01:2019-12-31"),  # whole months: 6 months before
        ("2020-03-01:2020-03-31", "2020-02-01:2020-02-29"),  # one month, leap year
        ("2020-01-01:2020-12-31", "2019-01-01:2019-12-31"),
        ("2020-01-10:2020-01-19", "2019-12-31:2020-01-09"),  # 10 days before
        ("2020-03-15:2020-06-30", "2019-11-28:2020-03-14"),  # not whole months: 108 days
    ],
)
def test_previous_period(period, previous):
    assert str(previous_period(Period.parse(period))) == previous


def test_open_period_has_no_previous():
    assert previous_period(Period.parse("2020-01-01:")) is None


def test_choose_comparison():
    period = Period.parse("2020-01-01:2020-06-30")
    auto = choose_comparison(period, None, pd.Timestamp("2019-07-01 03:00"))
    assert (str(auto.period), auto.source) == ("2019-07-01:2019-12-31", PREVIOUS)
    # an extract may start a few days before its first episode: up to 7 days into the period
    week = choose_comparison(period, None, pd.Timestamp("2019-07-08 23:59"))
    assert str(week.period) == "2019-07-01:2019-12-31"
    late = choose_comparison(period, None, pd.Timestamp("2019-07-09 00:00"))
    assert late.period is None and "does not cover" in late.reason and "2019-07-09" in late.reason
    # a short period allows 10% of its length: 10 days -> 1 day
    short = Period.parse("2020-01-11:2020-01-20")
    assert choose_comparison(short, None, pd.Timestamp("2020-01-02 10:00")).period is not None
    assert choose_comparison(short, None, pd.Timestamp("2020-01-03 00:00")).period is None
    given = choose_comparison(period, Period.parse("2019-01-01:2019-06-30"), None)
    assert (str(given.period), given.source) == ("2019-01-01:2019-06-30", GIVEN)
    assert "overlaps" not in given.reason
    overlap = choose_comparison(None, Period.parse("2019-01-01:2019-06-30"), None)
    assert "overlaps" in overlap.reason
    assert choose_comparison(None, None, pd.Timestamp("2019-01-01")).period is None
    assert "open-ended" in choose_comparison(Period.parse(":2020-06-30"), None, None).reason


def test_change_columns_by_hand():
    current = pd.DataFrame({"lpa_name": ["A", "B", "C"], "episodes": [10, 0, 4],
                            "children": [5, 0, 4], "repeat_children": [2, 0, 0]})
    previous = pd.DataFrame({"lpa_name": ["C", "A", "B"], "episodes": [0, 8, 3],
                             "children": [0, 6, 1], "repeat_children": [0, 1, 1]})
    out = add_changes(current, previous, "lpa_name").set_index("lpa_name")
    assert out["episodes_prev"].tolist() == [8, 3, 0]
    assert out["episodes_change"].tolist() == [2, -3, 4]
    assert out["children_change"].tolist() == [-1, -1, 4]
    assert out["repeat_children_prev"].tolist() == [1, 1, 0]
    assert out["repeat_children_change"].tolist() == [1, -1, 0]
    assert out.loc["A", "episodes_change_share"] == 0.25  # +2 on 8
    assert out.loc["B", "episodes_change_share"] == -1.0
    assert np.isnan(out.loc["C", "episodes_change_share"])  # nothing before


def _spots(prefix, boxes, episodes):
    geom = gpd.GeoSeries([shapely.box(*b) for b in boxes], crs=s.BNG).to_crs(s.WGS84)
    frame = pd.DataFrame({s.HOTSPOT_ID: [f"{prefix}{i + 1:02d}" for i in range(len(boxes))],
                          "episodes": episodes})
    return gpd.GeoDataFrame(frame, geometry=geom.to_numpy(), crs=s.WGS84)


def test_new_persistent_and_gone_hotspots():
    base = (450_000, 200_000)

    def box(dx, dy, size=100):
        return (base[0] + dx, base[1] + dy, base[0] + dx + size, base[1] + dy + size)

    current = _spots("H", [box(0, 0), box(5000, 0), box(10_000, 0)], [30, 20, 10])
    previous = _spots("P", [
        box(50, 50),  # overlaps H01
        box(5300, 0),  # 200 m from H02: within eps 250
        box(10_400, 0),  # 300 m from H03: not within eps -> H03 new, P03 gone
        box(20_000, 0),  # far from everything: gone
        box(-200, 0),  # 100 m from H01 as well: H01 matches two
    ], [12, 7, 5, 4, 3])
    cur, prev = hotspot_trends(current, previous, eps_m=250)
    assert cur["trend"].tolist() == ["persistent", "persistent", "new"]
    assert cur["previous_hotspots"].tolist() == ["P01;P05", "P02", ""]
    assert cur["episodes_prev"].tolist() == [15, 7, 0]
    assert prev["trend"].tolist() == ["persistent", "persistent", "gone", "gone", "persistent"]
    assert prev["current_hotspots"].tolist() == ["H01", "H02", "", "", "H01"]
    assert trend_counts(cur, prev) == {"new": 1, "persistent": 2, "gone": 2,
                                       "comparison_period_hotspots": 5}


def test_no_hotspots_on_either_side():
    empty = _spots("P", [], [])
    current = _spots("H", [(0, 0, 10, 10)], [5])
    cur, prev = hotspot_trends(current, empty, eps_m=250)
    assert cur["trend"].tolist() == ["new"] and len(prev) == 0
    cur, prev = hotspot_trends(empty, current, eps_m=250)
    assert prev["trend"].tolist() == ["gone"]
