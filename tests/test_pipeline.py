from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN

from geo import schema as s
from geo.episodes import Table, read_table
from geo.errors import ParameterError
from geo.output import summary_tables
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


# --- issue 4: homes, focus table, rates, comparison, HDBSCAN --------------------------------
OXFORD = (51.737060, -1.251856)  # Hinksey Park, Oxford
THAME = (51.739285, -0.976678)  # Thame, South and Vale
HARDWICK = (52.079675, -1.350480)  # Banbury Hardwick, Cherwell and West Oxfordshire


def _homes_file(tmp_path, rows):
    path = tmp_path / "homes.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return read_table(path, what="homes register")


def test_homes_table_numbers_by_hand(wards, write_csv, tmp_path):
    from geo.output import homes_table

    rows = []
    # R1 at Banbury: children K0 x3, K1 x2, K2 x1; 4 missing, 2 absent
    for i, (child, cat) in enumerate([("K0", "missing"), ("K0", "missing"), ("K0", "absent"),
                                      ("K1", "missing"), ("K1", "absent"), ("K2", "missing")]):
        rows.append(episode(i, *BANBURY, child_id=child, category=cat, home_id="R1",
                            placement_type="residential"))
    # two foster episodes of K5 at F1's address, no home_id: linked by location
    rows += [episode(10 + i, *OXFORD, child_id="K5", placement_type="foster") for i in range(2)]
    rows.append(episode(20, *THAME, child_id="K6", home_id="NOPE"))  # not in the register
    rows.append(episode(21, *THAME, child_id="K7", placement_type="foster"))  # unlinked
    homes = _homes_file(tmp_path, [
        {"home_id": "R1", "type": "residential", "name": "Secret House", "places": 4,
         "lat": BANBURY[0], "lon": BANBURY[1]},
        {"home_id": "F1", "type": "foster", "name": "Hidden Carer", "places": 2,
         "lat": OXFORD[0], "lon": OXFORD[1]},
        {"home_id": "F2", "type": "foster", "places": "", "lat": HARDWICK[0],
         "lon": HARDWICK[1]},
    ])
    result = analyse(read_table(write_csv(rows)), wards=wards, homes_table=homes)
    assert result.counts["homes_linking"] == {
        "linked_by_id": 6, "linked_by_location": 2, "unlinked": 1,
        "home_id_not_in_register": 1, "not_from_a_home": 0,
    }
    table = homes_table(result).set_index(s.HOME_ID)
    r1, f1, f2 = table.loc["R1"], table.loc["F1"], table.loc["F2"]
    assert (r1["episodes"], r1["children"], r1["repeat_children"]) == (6, 3, 2)
    assert (r1["episodes_category_missing"], r1["episodes_category_absent"]) == (4, 2)
    assert (r1["episodes_linked_by_id"], r1["episodes_linked_by_location"]) == (6, 0)
    assert r1["episodes_per_place"] == 1.5 and r1["children_per_place"] == 0.75
    assert r1[s.HOTSPOT_ID] == "H01" and r1[s.LPA_NAME] == "Cherwell and West Oxfordshire"
    assert r1[s.WARD_NAME] == "Banbury Cross and Neithrop"
    assert (f1["episodes"], f1["children"], f1["repeat_children"]) == (2, 1, 1)
    assert (f1["episodes_linked_by_location"], f1["episodes_per_place"]) == (2, 1.0)
    assert f2["episodes"] == 0 and pd.isna(f2["episodes_per_place"])
    assert s.HOME_NAME not in table.columns  # names are left out by default
    named = homes_table(result, show_home_names=True)
    assert named[s.HOME_NAME].tolist()[:2] == ["Secret House", "Hidden Carer"]
    # the hotspot at R1: every episode from that one residential home
    spot = result.hotspots.set_index(s.HOTSPOT_ID).loc["H01"]
    assert (spot["episodes_from_homes"], spot["episodes_from_homes_share"]) == (6, 1.0)
    assert (spot["main_home_id"], spot["driver"]) == ("R1", "single residential home")
    # rates per looked-after place: the Banbury ward holds R1's 4 places
    ward = result.localities["ward"].set_index(s.WARD_NAME).loc["Banbury Cross and Neithrop"]
    assert (ward["registered_places"], ward["episodes_per_place"]) == (4, 1.5)
    hardwick = result.localities["ward"].set_index(s.WARD_NAME).loc["Banbury Hardwick"]
    assert (hardwick["registered_homes"], hardwick["registered_places"]) == (1, 0)


def test_focus_table_has_the_lpa_wards_and_its_total(wards, write_csv):
    rows = _rows()
    # one child missing once in each of two Cherwell wards: a repeat child of the LPA only
    rows += [episode(30, *BANBURY, child_id="TWO"), episode(31, *HARDWICK, child_id="TWO")]
    result = analyse(read_table(write_csv(rows)), wards=wards)
    focus = result.focus_lpa
    n_wards = int((wards[s.LPA_NAME] == "Cherwell and West Oxfordshire").sum())
    assert len(focus) == n_wards + 1
    assert focus["row"].tolist() == ["ward"] * n_wards + ["total"]
    first, second, total = focus.iloc[0], focus.iloc[1], focus.iloc[-1]
    assert (first[s.WARD_NAME], first["episodes"]) == ("Banbury Cross and Neithrop", 7)
    assert (second[s.WARD_NAME], second["episodes"]) == ("Banbury Hardwick", 1)
    assert (total[s.WARD_NAME], total[s.WARD_CODE]) == ("All wards (LPA total)", "")
    assert (total["episodes"], total["children"]) == (8, 3)
    # K0, K1 (3 each at Banbury) and TWO (one in each ward): 3 repeat children in the LPA,
    # but the ward rows add up to 2
    assert total["repeat_children"] == 3
    assert focus.loc[focus["row"] == "ward", "repeat_children"].sum() == 2
    assert result.info["focus_lpa"] == {"name": "Cherwell and West Oxfordshire",
                                        "wards": n_wards}


def test_focus_lpa_missing_from_the_boundary_set(wards, write_csv):
    renamed = wards.copy()
    renamed[s.LPA_NAME] = renamed[s.LPA_NAME].str.replace("Cherwell and West Oxfordshire",
                                                          "North")
    table = read_table(write_csv(_rows()))
    result = analyse(table, wards=renamed)
    assert result.focus_lpa is None
    assert any("no focus table" in n for n in result.notes)
    with pytest.raises(ParameterError, match="'Nowhere' is not an LPA of the boundary set"):
        analyse(table, wards=wards, config=AnalysisConfig(focus_lpa="Nowhere",
                                                          focus_lpa_given=True))


def _two_periods():
    rows = []
    n = 0
    for day, where, label in (
        ("2019-07-01", BANBURY, "persistent"), ("2020-02-01", BANBURY, "persistent"),
        ("2020-03-01", OXFORD, "new"), ("2019-09-01", THAME, "gone"),
    ):
        for i in range(6):
            rows.append(episode(n, *where, child_id=f"{label}{i % 3}{day[:4]}",
                                missing_from=f"{day} 1{i}:00", returned=""))
            n += 1
    return rows


def test_comparison_with_the_previous_period(wards, write_csv):
    cfg = AnalysisConfig(period=Period.parse("2020-01-01:2020-06-30"))
    result = analyse(read_table(write_csv(_two_periods())), wards=wards, config=cfg)
    comp = result.info["comparison"]
    assert comp["period"] == "2019-07-01:2019-12-31"
    assert comp["source"] == "automatic: the previous period of the same length"
    lpa = result.localities["lpa"].set_index(s.LPA_NAME)
    cw, ox, sv = (lpa.loc[n] for n in ("Cherwell and West Oxfordshire", "Oxford",
                                      "South and Vale"))
    assert (cw["episodes"], cw["episodes_prev"], cw["episodes_change"]) == (6, 6, 0)
    assert (cw["children_prev"], cw["repeat_children_prev"], cw["repeat_children_change"]) == (
        3, 3, 0)
    assert (ox["episodes"], ox["episodes_prev"], ox["episodes_change"]) == (6, 0, 6)
    assert pd.isna(ox["episodes_change_share"])
    assert (sv["episodes"], sv["episodes_prev"], sv["episodes_change"]) == (0, 6, -6)
    assert sv["episodes_change_share"] == -1.0
    assert result.totals.iloc[0]["episodes_prev"] == 12
    spots = result.hotspots.set_index(s.LPA_NAME)
    assert spots.loc["Cherwell and West Oxfordshire", "trend"] == "persistent"
    assert spots.loc["Cherwell and West Oxfordshire", "episodes_prev"] == 6
    assert spots.loc["Oxford", "trend"] == "new"
    gone = result.comparison.gone
    assert len(gone) == 1 and gone.iloc[0][s.LPA_NAME] == "South and Vale"
    assert gone.iloc[0][s.HOTSPOT_ID].startswith("P") and gone.iloc[0]["episodes"] == 6
    assert comp["hotspots"] == {"new": 1, "persistent": 1, "gone": 1,
                                "comparison_period_hotspots": 2}
    focus_total = result.focus_lpa.iloc[-1]
    assert (focus_total["episodes_prev"], focus_total["episodes_change"]) == (6, 0)


def test_no_automatic_comparison_when_the_file_does_not_cover_it(wards, write_csv):
    rows = [r for r in _two_periods() if not r["missing_from"].startswith("2019-07")]
    cfg = AnalysisConfig(period=Period.parse("2020-01-01:2020-06-30"))
    result = analyse(read_table(write_csv(rows)), wards=wards, config=cfg)
    assert result.comparison is None and "episodes_prev" not in result.localities["lpa"]
    assert "does not cover the previous period 2019-07-01:2019-12-31" in (
        result.info["comparison"]["reason"])
    given = AnalysisConfig(period=cfg.period, compare_period=Period.parse("2019-08-01:2019-12-31"))
    result = analyse(read_table(write_csv(rows)), wards=wards, config=given)
    assert result.info["comparison"]["source"] == "given (--compare-period)"
    assert result.totals.iloc[0]["episodes_prev"] == 6  # the Thame ones


def test_hdbscan_method_end_to_end(wards, write_csv):
    rows = [episode(i, *BANBURY, child_id=f"K{i % 2}") for i in range(6)]
    rows += [episode(10 + i, *OXFORD, child_id=f"J{i}") for i in range(5)]
    rows.append(episode(20, *THAME))
    cfg = AnalysisConfig(method="hdbscan", min_samples=5)
    result = analyse(read_table(write_csv(rows)), wards=wards, config=cfg)
    assert result.counts["hotspots"] == 2
    ids = result.episodes[s.HOTSPOT_ID].tolist()
    # HDBSCAN has no radius: the lone Thame episode, 19 km from Oxford and farther from
    # Banbury, falls out of the Oxford cluster but stays labelled with it ...
    assert ids[:6] == ["H01"] * 6 and ids[6:12] == ["H02"] * 6
    # ... where DBSCAN (eps 250 m) leaves it out of every hotspot
    dbscan = analyse(read_table(write_csv(rows)), wards=wards,
                     config=AnalysisConfig(min_samples=5))
    assert dbscan.episodes[s.HOTSPOT_ID].tolist()[6:12] == ["H02"] * 5 + [""]
    assert result.info["method"]["name"] == "hdbscan"
    assert result.info["method"]["min_cluster_size"] == 5


def test_rates_with_and_without_population(wards, write_csv, tmp_path):
    from geo.rates import NO_POPULATION_NOTE, read_population

    table = read_table(write_csv(_rows()))
    plain = analyse(table, wards=wards)
    assert plain.localities["ward"]["episodes_per_10k"].isna().all()
    assert NO_POPULATION_NOTE in plain.notes
    assert plain.info["rates"]["per_10k"] == NO_POPULATION_NOTE
    # Banbury Cross and Neithrop: 2,000 children; Cherwell (E07000177): 30,000
    pop_file = tmp_path / "pop.csv"
    pop_file.write_text("area_code,population_0_17\nE05010921,2000\nE07000177,30000\n")
    result = analyse(table, wards=wards, population=read_population(pop_file))
    ward = result.localities["ward"].set_index(s.WARD_CODE).loc["E05010921"]
    assert (ward["population_0_17"], ward["episodes_per_10k"], ward["children_per_10k"]) == (
        2000, 30.0, 10.0)  # 6 episodes and 2 children per 2,000
    district = result.localities["district"].set_index(s.LAD_CODE)
    assert district.loc["E07000177", "episodes_per_10k"] == 2.0  # 6 / 30,000
    assert pd.isna(district.loc["E07000178", "episodes_per_10k"])  # Oxford not given
    assert NO_POPULATION_NOTE not in result.notes


# --- small hotspots, the validation hook -------------------------------------------------------


def test_small_hotspots_are_dropped_before_the_tables(wards, write_csv):
    rows = _rows()  # H01 at Banbury: 6 episodes of 2 children
    rows += [episode(40 + i, 51.752, -1.2577, child_id=f"X{i}") for i in range(7)]  # 7 children
    table = read_table(write_csv(rows))
    every = analyse(table, wards=wards, config=AnalysisConfig())
    assert every.counts["hotspots"] == 2 and every.counts["hotspots_suppressed"] == 0
    big = every.hotspots.set_index(s.HOTSPOT_ID)
    assert big.loc["H01", "children"] == 7 and big.loc["H02", "children"] == 2

    result = analyse(table, wards=wards, config=AnalysisConfig(min_children_per_hotspot=3))
    assert result.counts["hotspots"] == 1 and result.counts["hotspots_suppressed"] == 1
    assert result.hotspots[s.HOTSPOT_ID].tolist() == ["H01"]
    assert result.hotspots["children"].tolist() == [7]
    assert result.hotspots.geometry.iloc[0].equals(every.hotspots.geometry.iloc[0])
    # the Banbury episodes are in no hotspot, so no table counts them as hotspot episodes
    banbury = result.episodes[s.WARD_NAME] == "Banbury Cross and Neithrop"
    assert (result.episodes.loc[banbury, s.HOTSPOT_ID] == "").all()
    ward = result.localities["ward"].set_index(s.WARD_NAME)
    assert ward.loc["Banbury Cross and Neithrop", "hotspot_episodes"] == 0
    assert result.totals["hotspot_episodes"].iloc[0] == 7
    with pytest.raises(ParameterError, match="min_children_per_hotspot"):
        AnalysisConfig(min_children_per_hotspot=0)


def test_after_validation_sees_every_row_and_can_stop_the_run(wards, write_csv):
    seen = []

    class Stop(Exception):
        pass

    def hook(validated):
        seen.append(validated[[s.ROW_NUMBER, s.STATUS, s.REASON]].copy())
        raise Stop

    with pytest.raises(Stop):
        analyse(read_table(write_csv(_rows())), wards=wards, after_validation=hook)
    frame = seen[0]
    assert frame[s.ROW_NUMBER].tolist() == list(range(2, 11))
    assert frame[s.REASON].tolist()[-1] == "invalid_date"


# --- properties ---------------------------------------------------------------------------------

_PLACES = [  # a few addresses within a few hundred metres in Banbury and in Oxford, one outside
    (52.0665, -1.3412), (52.0668, -1.3405), (52.0671, -1.3420), (52.0690, -1.3380),
    (51.7520, -1.2577), (51.7524, -1.2570), (51.7531, -1.2590), (51.4540, -0.9730),
]
_ROW = st.tuples(
    st.integers(0, len(_PLACES) - 1),  # where
    st.integers(0, 7),  # child
    st.integers(0, 170),  # day of 2020
    st.sampled_from(["M", "F", ""]),
    st.sampled_from(["12", "15", "16", ""]),
    st.sampled_from(["residential", "foster", "family_home", ""]),
)


def _memory_table(rows, ids=None) -> Table:
    """An episodes table built in memory (as read_table would give it): one row per tuple,
    episode ids `ids` (default E0, E1...)."""
    start = pd.Timestamp("2020-01-01 18:00")
    ids = range(len(rows)) if ids is None else ids
    records = [
        {
            "episode_id": f"E{i}", "child_id": f"C{child}",
            "missing_from": (start + pd.Timedelta(days=day)).strftime("%Y-%m-%d %H:%M"),
            "returned": (start + pd.Timedelta(days=day, hours=20)).strftime("%Y-%m-%d %H:%M"),
            "lat": f"{_PLACES[where][0]}", "lon": f"{_PLACES[where][1]}", "sex": sex,
            "age": age, "placement_type": placement,
        }
        for i, (where, child, day, sex, age, placement) in zip(ids, rows, strict=True)
    ]  # fmt: skip
    frame = pd.DataFrame(records, dtype=str)
    frame.insert(0, s.ROW_NUMBER, range(2, len(frame) + 2))
    return Table(frame, Path("memory.csv"), "utf-8", ",", None, {c: c for c in records[0]})


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(_ROW, min_size=1, max_size=40),
    min_samples=st.sampled_from([2, 3, 5]),
    min_children=st.sampled_from([1, 2]),
    data=st.data(),
)
def test_permuting_the_rows_changes_no_summary_table(wards, rows, min_samples, min_children,
                                                     data):
    order = data.draw(st.permutations(range(len(rows))))
    config = AnalysisConfig(min_samples=min_samples, min_children_per_hotspot=min_children)
    first = analyse(_memory_table(rows), wards=wards, config=config)
    again = analyse(_memory_table([rows[i] for i in order], order), wards=wards, config=config)
    a, b = summary_tables(first), summary_tables(again)
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    for one, two in zip(first.hotspots.geometry, again.hotspots.geometry, strict=True):
        assert one.normalize().equals_exact(two.normalize(), 1e-9)
    # and every episode is in the same hotspot
    by_id = first.episodes.set_index(s.EPISODE_ID)[s.HOTSPOT_ID]
    assert again.episodes.set_index(s.EPISODE_ID)[s.HOTSPOT_ID].to_dict() == by_id.to_dict()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    places=st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6)), min_size=1, max_size=12),
    min_samples=st.integers(1, 9),
    eps=st.sampled_from([60.0, 120.0, 250.0]),
)
def test_duplicate_locations_as_identical_rows_give_dbscan_on_every_row(wards, places,
                                                                       min_samples, eps):
    # each location given `count` times as identical rows (different episodes, same address):
    # the pipeline clusters distinct locations weighted by their rows, which must be DBSCAN on
    # every row
    rows = [(where, k, 10, "M", "15", "") for where, count in places for k in range(count)]
    result = analyse(_memory_table(rows), wards=wards,
                     config=AnalysisConfig(eps_m=eps, min_samples=min_samples))
    mapped = result.episodes[result.episodes[s.STATUS] == s.MAPPED]
    xy = mapped[[s.X, s.Y]].to_numpy(float)
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(xy)
    core = np.zeros(len(xy), dtype=bool)
    core[model.core_sample_indices_] = True
    ours = mapped[s.HOTSPOT_ID].to_numpy(dtype=object)
    assert np.array_equal(ours == "", model.labels_ == -1)  # the same episodes in hotspots
    pairs = set(zip(ours[core].tolist(), model.labels_[core].tolist(), strict=True))
    assert len(pairs) == len(set(ours[core].tolist())) == len(set(model.labels_[core].tolist()))
    assert result.counts["hotspots"] == len(set(model.labels_) - {-1})
