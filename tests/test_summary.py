import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import schema as s
from geo.summary import (
    CHILD_CODE,
    _first_seen,
    prepare_for_summaries,
    report_checks,
    summarise,
    summarise_totals,
)


def _episodes() -> pd.DataFrame:
    t = pd.Timestamp
    rows = [
        # area A: child 1 three times (repeat, screened once), child 2 once
        ("A", "c1", "male", "14_16", "looked_after", "residential", "other", "missing",
         t("2020-01-01 10:00"), t("2020-01-02 10:00"), t("2020-01-03 09:00"), "yes", "H01"),
        ("A", "c1", "male", "14_16", "looked_after", "residential", "other", "absent",
         t("2020-01-05 10:00"), t("2020-01-05 12:00"), t("2020-01-09 12:00"), "no", "H01"),
        ("A", "c1", "male", "14_16", "looked_after", "residential", "other", "missing",
         t("2020-01-07 10:00"), pd.NaT, pd.NaT, "no", "H01"),
        ("A", "c2", "female", "11_13", "none", "family_home", "host", "missing",
         t("2020-01-08 10:00"), t("2020-01-08 20:00"), pd.NaT, "unknown", ""),
        # area B: child 3 twice (repeat, never screened); child 1 once (not repeat in B)
        ("B", "c3", "female", "17_plus", "child_in_need", "foster", "host", "absent",
         t("2020-02-01 10:00"), t("2020-02-01 11:00"), t("2020-02-04 11:00"), "no", ""),
        ("B", "c3", "female", "17_plus", "child_in_need", "foster", "host", "missing",
         t("2020-02-02 10:00"), t("2020-02-02 11:00"), pd.NaT, "no", ""),
        ("B", "c1", "male", "14_16", "looked_after", "residential", "other", "missing",
         t("2020-02-03 10:00"), t("2020-02-03 11:00"), pd.NaT, "yes", ""),
    ]
    cols = ["area", s.CHILD_ID, s.SEX, s.AGE_BAND, s.CARE_STATUS, s.PLACEMENT_TYPE,
            s.PLACED_BY_OTHER_LA, s.CATEGORY, s.MISSING_FROM, s.RETURNED, s.RHI_COMPLETED,
            s.CE_SCREENING, s.HOTSPOT_ID]
    frame = pd.DataFrame(rows, columns=cols)
    frame[s.EPISODE_ID] = [f"E{i}" for i in range(len(frame))]
    frame[s.RHI_OFFERED] = frame[s.RHI_COMPLETED]
    frame.loc[3, s.RHI_OFFERED] = pd.Timestamp("2020-01-09")  # offered, never completed
    frame[s.LOOKED_AFTER] = frame[s.CARE_STATUS].map(
        lambda c: "looked_after" if c == "looked_after" else "not_looked_after"
    )
    return frame


def test_counts_by_hand():
    index = pd.DataFrame({"area": ["A", "B", "C"], "label": ["Area A", "Area B", "Area C"]})
    table = summarise(_episodes(), ["area"], index).set_index("area")
    a, b, c = table.loc["A"], table.loc["B"], table.loc["C"]
    assert list(table.columns[:1]) == ["label"]
    assert (a["episodes"], a["children"], a["repeat_children"]) == (4, 2, 1)
    assert (a["repeat_children_3plus"], a["repeat_children_5plus"]) == (1, 0)
    assert a["episodes_per_child"] == 2.0
    assert (b["episodes"], b["children"], b["repeat_children"]) == (3, 2, 1)
    assert (a["episodes_sex_male"], a["episodes_sex_female"]) == (3, 1)
    assert (a["children_male"], a["children_female"]) == (1, 1)
    assert (a["episodes_age_14_16"], a["episodes_age_11_13"]) == (3, 1)
    assert (a["episodes_looked_after"], a["episodes_not_looked_after"]) == (3, 1)
    assert (a["episodes_placement_residential"], a["episodes_placement_family_home"]) == (3, 1)
    assert (a["episodes_placed_by_other"], a["children_placed_by_other"]) == (3, 1)
    assert (a["episodes_category_missing"], a["episodes_category_absent"]) == (3, 1)
    # RHI: A has 3 returned episodes; completions at +23 h (in time) and +96 h (late)
    assert (a["episodes_returned"], a["rhi_offered"], a["rhi_completed"]) == (3, 3, 2)
    assert a["rhi_completed_within_72h"] == 1
    assert a["rhi_completed_within_72h_share"] == pytest.approx(1 / 3, abs=1e-3)
    # B: completion exactly 72 h after return counts as within
    assert b["rhi_completed_within_72h"] == 1
    # CE screening of repeat children: c1 in A screened once -> screened; c3 in B never
    assert (a["repeat_children_ce_screened"], a["repeat_children_ce_not_screened"]) == (1, 0)
    assert (b["repeat_children_ce_screened"], b["repeat_children_ce_not_screened"]) == (0, 1)
    assert a["hotspot_episodes"] == 3 and b["hotspot_episodes"] == 0
    # an area with no episode is kept, all zeros, ratios blank
    assert c["episodes"] == 0 and c["children"] == 0 and c["label"] == "Area C"
    assert pd.isna(c["episodes_per_child"])


def test_totals_count_children_once_across_areas():
    totals = summarise_totals(_episodes(), "All")
    row = totals.iloc[0]
    assert row["area"] == "All"
    assert (row["episodes"], row["children"], row["repeat_children"]) == (7, 3, 2)
    assert row["repeat_children_ce_screened"] == 1  # c1 yes, c3 no


def test_integer_columns_and_order_follow_the_index():
    index = pd.DataFrame({"area": ["C", "B", "A"]})
    table = summarise(_episodes(), ["area"], index)
    assert table["area"].tolist() == ["C", "B", "A"]
    ratios = ["area", "episodes_per_child", "rhi_completed_within_72h_share",
              "repeat_children_ce_screened_share"]
    counts = table.drop(columns=ratios)
    assert all(str(t) == "int64" for t in counts.dtypes)


def test_duration_bands_of_the_hand_built_episodes():
    table = summarise(_episodes(), ["area"], pd.DataFrame({"area": ["A", "B"]})).set_index("area")
    a, b = table.loc["A"], table.loc["B"]
    # A: 24 h exactly (1-3 days), 2 h, ongoing (no returned), 10 h
    assert (a["episodes_duration_under_24h"], a["episodes_duration_1_3_days"]) == (2, 1)
    assert (a["episodes_duration_over_3_days"], a["episodes_duration_ongoing"]) == (0, 1)
    # B: three episodes of one hour
    assert b["episodes_duration_under_24h"] == 3 and b["episodes_duration_ongoing"] == 0


@pytest.mark.parametrize(
    ("returned", "band"),
    [
        ("2020-03-02 09:59", "under_24h"),  # 23 h 59 min
        ("2020-03-02 10:00", "1_3_days"),  # exactly 24 h
        ("2020-03-04 10:00", "1_3_days"),  # exactly 72 h
        ("2020-03-04 10:01", "over_3_days"),  # 72 h 1 min
        ("2020-03-01 10:00", "under_24h"),  # returned the minute it started
        (None, "ongoing"),
    ],
)
def test_duration_band_boundaries(returned, band):
    frame = _episodes().iloc[[0]].copy()
    frame[s.MISSING_FROM] = pd.Timestamp("2020-03-01 10:00")
    frame[s.RETURNED] = pd.Timestamp(returned) if returned else pd.NaT
    row = summarise(frame, ["area"]).iloc[0]
    bands = ["under_24h", "1_3_days", "over_3_days", "ongoing"]
    assert [row[f"episodes_duration_{b}"] for b in bands] == [int(b == band) for b in bands]


def test_children_placed_by_host_and_ce_share():
    table = summarise(_episodes(), ["area"], pd.DataFrame({"area": ["A", "B"]})).set_index("area")
    a, b = table.loc["A"], table.loc["B"]
    # A: c1 placed by another authority, c2 by the host; B: c3 host, c1 other
    assert (a["children_placed_by_host"], a["children_placed_by_other"]) == (1, 1)
    assert (b["children_placed_by_host"], b["children_placed_by_other"]) == (1, 1)
    assert a["repeat_children_ce_screened_share"] == 1.0
    assert b["repeat_children_ce_screened_share"] == 0.0


def test_report_checks_against_the_totals():
    checks = {c["measure"]: c for c in report_checks(summarise_totals(_episodes(), "All"))}
    # repeat children c1 (screened) and c3 (never): the report's CE claim does not hold here
    ce = checks["repeat_children_ce_not_screened"]
    assert (ce["value"], ce["holds"]) == (1, False)
    # 4 episodes of boys (c1), 3 of girls (c2, c3)
    sex = checks["episodes_sex_male - episodes_sex_female"]
    assert (sex["value"], sex["holds"]) == (1, True)
    # 4 of 7 episodes aged 14-16
    age = checks["episodes_age_14_16 / episodes"]
    assert age["value"] == pytest.approx(4 / 7, abs=1e-3) and age["holds"] is True
    # 6 returned episodes, 2 with the RHI within 72 h (23 h and exactly 72 h)
    rhi = checks["rhi_completed_within_72h_share"]
    assert rhi["value"] == pytest.approx(2 / 6, abs=1e-3) and rhi["holds"] is True


def test_totals_of_no_episodes_is_one_row_of_zeros():
    totals = summarise_totals(_episodes().iloc[0:0], "All")
    assert len(totals) == 1 and totals.iloc[0]["episodes"] == 0
    assert all(c["holds"] is None for c in report_checks(totals))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60))
def test_first_seen_matches_numpy_unique(values):
    keys = np.array(values, dtype=np.int64)
    pair, first, of_row, counts = _first_seen(keys)
    u, u_first, _, u_counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    order = np.argsort(pair)  # same sets, different order: sorted, they must agree
    assert pair[order].tolist() == u.tolist()
    assert first[order].tolist() == u_first.tolist()
    assert counts[order].tolist() == u_counts.tolist()
    assert pair[of_row].tolist() == keys.tolist()


def test_prepare_with_rows_equals_preparing_those_rows():
    episodes = _episodes()
    rows = np.array([6, 4, 0, 2])  # a subset, out of order: category values drop out
    taken = prepare_for_summaries(episodes, rows=rows)
    direct = prepare_for_summaries(episodes.iloc[rows])
    assert list(taken.columns) == list(direct.columns)
    for column in taken.columns:
        if column == CHILD_CODE:  # codes are labels: the same partition of rows
            labels = [pd.factorize(f[column])[0].tolist() for f in (taken, direct)]
            assert labels[0] == labels[1]
            continue
        pd.testing.assert_series_equal(taken[column], direct[column], check_names=False)
    assert list(taken[s.SEX].cat.categories) == ["female", "male"]
    assert summarise(taken, [s.SEX]).equals(summarise(direct, [s.SEX]))
