"""Statistical disclosure control: hand-computed tables for each rule, and properties on the
tables geo/summary.py makes from synthetic data."""

import numpy as np
import pandas as pd
import pytest

from geo.errors import ParameterError
from geo.sdc import (
    RULES,
    SDC_RULES,
    SumGroup,
    additive_columns_of,
    apply_sdc,
    apply_sdc_with_total,
    breakdown_groups,
    column_kind,
    ratio_sources,
    sdc,
    sdc_tables,
)

C = "c"
SEX = ["episodes_sex_male", "episodes_sex_female", "episodes_sex_unknown"]


def _small() -> pd.DataFrame:
    """Four areas; episodes by sex add up to episodes in every row."""
    return pd.DataFrame(
        {
            "area": ["A", "B", "C", "D"],
            "episodes": [20, 4, 30, 25],
            "episodes_sex_male": [3, 4, 12, 2],
            "episodes_sex_female": [17, 0, 10, 20],
            "episodes_sex_unknown": [0, 0, 8, 3],
            "children": [12, 2, 9, 10],
            "episodes_per_child": [1.667, 2.0, 3.333, 2.5],
        }
    )


def _total() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area": ["All areas"], "episodes": [79], "episodes_sex_male": [21],
            "episodes_sex_female": [47], "episodes_sex_unknown": [11], "children": [30],
            "episodes_per_child": [2.633],
        }
    )  # fmt: skip


def _cells(frame: pd.DataFrame, columns: list[str]) -> list[list[object]]:
    return frame[columns].to_numpy(dtype=object).tolist()


COLS = ["episodes", *SEX, "children", "episodes_per_child"]


def test_dfe_primary_and_secondary_within_rows():
    out = apply_sdc(_small(), rule="dfe")
    assert _cells(out, COLS) == [
        # A: male 3 -> c; alone among the sex cells, so the smallest non-zero part (female 17)
        # goes too; the zero stays 0 (never a secondary cell).
        [20, C, C, 0, 12, 1.667],
        # B: episodes 4, male 4 and children 2 are 1-5; two hidden sex cells: nothing more.
        # The ratio goes with its counts.
        [C, C, 0, 0, C, C],
        [30, 12, 10, 8, 9, 3.333],
        # D: male 2 and unknown 3 hide each other.
        [25, C, 20, C, 10, 2.5],
    ]
    assert out["area"].tolist() == ["A", "B", "C", "D"]
    assert out.attrs["sdc"] == {"rule": "dfe", "primary": 6, "secondary": 1, "ratios": 1,
                                "rounded": 0}


def test_dfe_output_cells_are_c_or_python_ints():
    out = apply_sdc(_small(), rule="dfe")
    for column in ["episodes", *SEX, "children"]:
        for value in out[column]:
            assert value == C or type(value) is int, (column, value)


def test_dfe_secondary_down_columns_against_the_total_row():
    table, total = apply_sdc_with_total(_small(), _total(), rule="dfe")
    assert _cells(table, COLS) == [
        # episodes: only B hidden in the column, total 79 published -> the smallest non-zero
        # other area (A, 20) is hidden; female: only A hidden -> C (10, smaller than D's 20;
        # B's 0 is not a candidate); unknown: only D hidden -> C (8; A and B are 0).
        [C, C, C, 0, 12, C],
        [C, C, 0, 0, C, C],
        [30, 12, C, C, 9, 3.333],
        [25, C, 20, C, 10, 2.5],
    ]
    # children do not add up across areas (a child can go missing in two), so no column check
    assert _cells(total, COLS) == [[79, 21, 47, 11, 30, 2.633]]
    assert list(table.columns) == list(_small().columns) and table.index.equals(_small().index)


def test_dfe_column_secondary_never_picks_a_zero():
    table = pd.DataFrame({"area": ["A", "B", "C", "D"], "episodes": [3, 0, 9, 7]})
    total = pd.DataFrame({"area": ["all"], "episodes": [19]})
    out, tot = apply_sdc_with_total(table, total, rule="dfe")
    assert out["episodes"].tolist() == [C, 0, 9, C]
    assert tot["episodes"].tolist() == [19]


def test_dfe_total_row_inside_the_table():
    table = pd.DataFrame({"lpa": ["X", "Y", "Z", "total"], "episodes": [4, 30, 40, 74]})
    out = apply_sdc(table, rule="dfe", total_row_key=("lpa", "total"))
    assert out["episodes"].tolist() == [C, C, 40, 74]
    plain = apply_sdc(table, rule="dfe")  # without the key, no column check
    assert plain["episodes"].tolist() == [C, 30, 40, 74]


def test_dfe_secondary_cascades_until_nothing_is_alone():
    table = pd.DataFrame(
        {
            "area": ["A", "B", "C"],
            "episodes": [5, 40, 60],
            "episodes_sex_male": [0, 0, 30],
            "episodes_sex_female": [5, 40, 30],
        }
    )
    total = pd.DataFrame(
        {"area": ["all"], "episodes": [105], "episodes_sex_male": [30],
         "episodes_sex_female": [75]}
    )  # fmt: skip
    out, tot = apply_sdc_with_total(table, total, rule="dfe")
    # 1. primary: A's episodes and female (5).
    # 2. columns: episodes -> B (40 < 60); female -> C (30 < 40).
    # 3. rows: B's sex breakdown now has one hidden cell (its total) -> B female (male is 0);
    #    C's has one (female) -> C male.
    # 4. columns: male has C alone, and the other areas are 0 -> C's male would be 30 - 0 - 0,
    #    so a zero must go: A's (the first).
    assert _cells(out, ["episodes", "episodes_sex_male", "episodes_sex_female"]) == [
        [C, C, C],
        [C, 0, C],
        [60, C, C],
    ]
    assert _cells(tot, ["episodes", "episodes_sex_male", "episodes_sex_female"]) == [
        [105, 30, 75]
    ]


def test_nhs_suppresses_1_to_7_and_rounds_the_rest_to_5():
    values = [0, 1, 7, 8, 12, 13, 17, 18, 22, 23, 100]
    out = apply_sdc(pd.DataFrame({"episodes": values}), rule="nhs")
    assert out["episodes"].tolist() == [0, C, C, 10, 10, 15, 15, 20, 20, 25, 100]


def test_nhs_on_the_small_table_recomputes_ratios_from_rounded_counts():
    out = apply_sdc(_small(), rule="nhs")
    assert _cells(out, COLS) == [
        # A: female 17 -> 15; children 12 -> 10, so episodes per child 20/10 = 2.0, not 1.667
        # (an exact ratio would undo the rounding of children)
        [20, C, 15, 0, 10, 2.0],
        [C, C, 0, 0, C, C],
        [30, 10, 10, 10, 10, 3.0],
        [25, C, 20, C, 10, 2.5],
    ]
    assert out.attrs["sdc"]["secondary"] == 0


@pytest.mark.parametrize("rule", ["dfe", "nhs"])
def test_controlling_a_controlled_table_changes_nothing(rule):
    once = apply_sdc(_small(), rule=rule)
    twice = apply_sdc(once, rule=rule)
    pd.testing.assert_frame_equal(once, twice)
    as_read_back = once.astype(str)  # a CSV read back as text: "c" and digits
    again = apply_sdc(as_read_back, rule=rule)
    assert (again[COLS[:-1]] == C).equals(once[COLS[:-1]] == C)


def test_a_total_row_inside_another_sheet_is_used():
    focus = pd.DataFrame({"row": ["ward", "ward", "ward", "total"], "name": list("ABCT"),
                          "episodes": [3, 40, 57, 100]})
    out = sdc_tables({"focus_lpa": focus, "hotspots": focus.iloc[:3]}, rule="dfe")
    assert out["focus_lpa"]["episodes"].tolist() == [C, C, 57, 100]
    assert out["hotspots"]["episodes"].tolist() == [C, 40, 57]


def test_none_returns_the_table_unchanged():
    table = _small()
    out = apply_sdc(table, rule="none")
    pd.testing.assert_frame_equal(out, table)
    assert out is not table


def test_shares_are_hidden_with_the_counts_they_are_computed_from():
    table = pd.DataFrame(
        {
            "ward_code": ["W1", "W2", "W3"],
            "episodes_returned": [40, 3, 50],
            "rhi_completed_within_72h": [3, 3, 45],
            "rhi_completed_within_72h_share": [0.075, 1.0, 0.9],
            "repeat_children": [8, 10, 0],
            "repeat_children_ce_screened": [8, 6, 0],
            "repeat_children_ce_not_screened": [0, 4, 0],
            "repeat_children_ce_screened_share": [1.0, 0.6, np.nan],
        }
    )
    out = apply_sdc(table, rule="dfe")
    # numerator hidden (W1), both hidden (W2), none hidden (W3)
    assert out["rhi_completed_within_72h_share"].tolist() == [C, C, 0.9]
    # W2: not screened 4 -> c, alone in the group repeat_children = screened + not screened,
    # so screened 6 goes too, and the share with it; W3's blank share stays blank
    assert _cells(out, ["repeat_children", "repeat_children_ce_screened",
                        "repeat_children_ce_not_screened"]) == [[8, 8, 0], [10, C, C], [0, 0, 0]]
    share = out["repeat_children_ce_screened_share"].tolist()
    assert share[:2] == [1.0, C] and np.isnan(share[2])


def test_a_ratio_of_unknown_counts_is_hidden_whenever_its_row_hides_anything():
    table = pd.DataFrame({"episodes": [3, 30], "mystery_share": [0.5, 0.25]})
    assert apply_sdc(table, rule="dfe")["mystery_share"].tolist() == [C, 0.25]
    assert apply_sdc(table, rule="nhs")["mystery_share"].tolist() == [C, C]


def test_column_kinds_from_names():
    kinds = {
        "episodes": "count", "children": "count", "repeat_children_5plus": "count",
        "episodes_sex_male": "count", "children_placed_by_other": "count",
        "rhi_completed_within_72h": "count", "homes_residential": "count",
        "hotspot_episodes": "count", "registered_places": "count",
        "episodes_per_child": "ratio", "rhi_completed_within_72h_share": "ratio",
        "episodes_per_10k": "ratio", "ward_code": "other", "locations": "other",
        "wards": "other", "area_ha": "other", "centroid_lat": "other", "places": "other",
        "population_0_17": "other",
    }  # fmt: skip
    assert {name: column_kind(name) for name in kinds} == kinds


def test_breakdown_groups_from_summary_column_names():
    columns = [
        "ward_code", "episodes", "children", "repeat_children", *SEX,
        "episodes_age_under_11", "episodes_age_11_13", "episodes_looked_after",
        "episodes_not_looked_after", "episodes_looked_after_unknown", "episodes_care_none",
        "episodes_placement_foster", "episodes_placed_by_host", "episodes_placed_by_other",
        "episodes_category_missing", "episodes_precision_postcode", "episodes_duration_ongoing",
        "children_male", "children_female", "repeat_children_ce_screened",
        "repeat_children_ce_not_screened", "episodes_per_child", "episodes_returned",
    ]  # fmt: skip
    assert breakdown_groups(columns) == [
        SumGroup("episodes", tuple(SEX)),
        SumGroup("episodes", ("episodes_age_under_11", "episodes_age_11_13")),
        SumGroup("episodes", ("episodes_care_none",)),
        SumGroup("episodes", ("episodes_placement_foster",)),
        SumGroup("episodes", ("episodes_placed_by_host", "episodes_placed_by_other")),
        SumGroup("episodes", ("episodes_category_missing",)),
        SumGroup("episodes", ("episodes_precision_postcode",)),
        SumGroup("episodes", ("episodes_duration_ongoing",)),
        SumGroup("episodes", ("episodes_looked_after", "episodes_not_looked_after",
                              "episodes_looked_after_unknown")),
        SumGroup("repeat_children", ("repeat_children_ce_screened",
                                     "repeat_children_ce_not_screened")),
        SumGroup("children", ("children_male", "children_female")),
    ]
    assert "children" not in additive_columns_of(columns)
    assert "episodes_returned" in additive_columns_of(columns)


def test_ratio_sources():
    cols = ["episodes", "children", "registered_places", "population_0_17", "x_episodes"]
    assert ratio_sources("episodes_per_child", cols) == ("episodes", "children")
    assert ratio_sources("episodes_per_place", cols) == ("episodes", "registered_places")
    assert ratio_sources("children_per_10k", cols) == ("children", "population_0_17")
    assert ratio_sources("x_episodes_share", cols) == ("x_episodes", None)


def test_bad_rule_and_bad_counts_are_refused():
    with pytest.raises(ParameterError, match="`--sdc` must be one of dfe, nhs, none"):
        apply_sdc(_small(), rule="ons")
    with pytest.raises(ValueError, match="not a count"):
        apply_sdc(pd.DataFrame({"episodes": [1, -2]}), rule="dfe")
    with pytest.raises(ValueError, match="matches 0 rows"):
        apply_sdc(_small(), rule="dfe", total_row_key=("area", "nowhere"))
    assert set(SDC_RULES) == set(RULES) and all(len(v) > 40 for v in SDC_RULES.values())


def test_caller_groups_override_the_names():
    table = pd.DataFrame({"total_a": [10], "part_1": [4], "part_2": [6]})
    out = apply_sdc(
        table, rule="dfe", count_columns=["total_a", "part_1", "part_2"],
        groups=[("total_a", ["part_1", "part_2"])],
    )  # fmt: skip
    assert out.iloc[0].tolist() == [10, C, C]


# --- properties on real summary tables ---------------------------------------------------------


@pytest.fixture(scope="module")
def summary_sheets(wards, tmp_path_factory):
    """Ward, district and LPA tables and the totals row for 600 synthetic episodes."""
    from geo.areas import assign_areas
    from geo.episodes import read_table
    from geo.summary import prepare_for_summaries, summarise, summarise_totals
    from geo.synth import generate_synthetic, write_synthetic
    from geo.validate import validate_episodes

    paths = write_synthetic(generate_synthetic(wards, seed=11, n_episodes=600),
                            tmp_path_factory.mktemp("synth"))
    episodes = assign_areas(validate_episodes(read_table(paths["episodes"])), wards)
    mapped = prepare_for_summaries(episodes[episodes["status"] == "mapped"])
    index = wards[["ward_code", "ward_name", "lad_code", "lad_name", "lpa_name"]].astype(str)
    index = index.sort_values("ward_code").reset_index(drop=True)
    lads = index[["lad_code", "lad_name", "lpa_name"]].drop_duplicates("lad_code")
    lpas = index[["lpa_name"]].drop_duplicates().sort_values("lpa_name")
    return {
        "localities_ward": summarise(mapped, ["ward_code"], index),
        "localities_district": summarise(mapped, ["lad_code"], lads.reset_index(drop=True)),
        "localities_lpa": summarise(mapped, ["lpa_name"], lpas.reset_index(drop=True)),
        "totals": summarise_totals(mapped, "All areas"),
    }


def test_breakdown_groups_add_up_in_real_tables(summary_sheets):
    ward = summary_sheets["localities_ward"]
    groups = breakdown_groups(ward.columns)
    assert len(groups) >= 9
    for total, parts in groups:
        if total == "children":  # children of unknown sex are left out: at most
            assert (ward[list(parts)].sum(axis=1) <= ward[total]).all()
        else:
            assert (ward[list(parts)].sum(axis=1) == ward[total]).all(), (total, parts)
    for column in additive_columns_of(ward.columns):
        assert ward[column].sum() == summary_sheets["totals"][column].iloc[0], column


@pytest.mark.parametrize("rule", ["dfe", "nhs"])
def test_real_tables_publish_no_small_count_and_no_lonely_hidden_cell(summary_sheets, rule):
    out = sdc_tables(summary_sheets, rule=rule)
    limit = {"dfe": 5, "nhs": 7}[rule]
    total = out["totals"]
    for name, raw in summary_sheets.items():
        got = out[name]
        counts = [c for c in raw.columns if column_kind(c) == "count"]
        if rule == "nhs":  # no secondary suppression: exactly the counts 1-7 are hidden
            hidden = (got[counts] == C).to_numpy()
            assert (hidden == ((raw[counts] >= 1) & (raw[counts] <= 7)).to_numpy()).all()
        for c in counts:
            for before, after in zip(raw[c], got[c], strict=True):
                if after == C:
                    continue
                assert not 1 <= after <= limit, (name, c, after)
                if rule == "dfe":
                    assert after == before  # dfe never changes a published count
                else:
                    assert after % 5 == 0 and abs(after - before) <= 2
        if rule != "dfe":
            continue
        for g in breakdown_groups(counts):
            hidden = (got[[g.total, *g.parts]] == C).sum(axis=1)
            assert not (hidden == 1).any(), (name, g)
        if name != "totals":
            for c in additive_columns_of(counts):
                if total[c].iloc[0] != C:
                    assert int((got[c] == C).sum()) != 1, (name, c)


def test_the_total_row_comes_out_the_same_with_every_area_table(summary_sheets):
    totals = [
        apply_sdc_with_total(summary_sheets[name], summary_sheets["totals"], rule="dfe")[1]
        for name in ("localities_lpa", "localities_district", "localities_ward")
    ]
    for other in totals[1:]:
        pd.testing.assert_frame_equal(totals[0], other)
    alone = apply_sdc(summary_sheets["totals"], rule="dfe")
    pd.testing.assert_frame_equal(totals[0], alone, check_like=False, check_dtype=False)


def test_sdc_reports_what_it_hid(summary_sheets):
    result = sdc(summary_sheets["localities_ward"], rule="dfe")
    summary = result.summary()
    assert summary["primary"] > 0 and summary["rule"] == "dfe"
    hidden = (result.table[result.primary.columns] == C).to_numpy()
    assert hidden.sum() == summary["primary"] + summary["secondary"]


# --- changes between periods, the focus table -------------------------------------------------


def _with_changes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "area": ["A", "B", "C"],
            "episodes": [20, 4, 13],
            "episodes_prev": [12, 9, 3],
            "episodes_change": [8, -5, 10],
            "episodes_change_share": [0.667, -0.556, 3.333],
        }
    )


def test_changes_are_hidden_with_either_count_and_may_be_negative():
    assert column_kind("episodes_change") == "change"
    assert column_kind("episodes_change_share") == "ratio"
    out = apply_sdc(_with_changes(), rule="dfe", groups=[])
    assert out["episodes"].tolist() == [20, C, 13]
    assert out["episodes_prev"].tolist() == [12, 9, C]
    assert out["episodes_change"].tolist() == [8, C, C]
    assert out["episodes_change_share"].tolist() == [0.667, C, C]


def test_nhs_changes_are_recomputed_from_the_rounded_counts():
    out = apply_sdc(_with_changes(), rule="nhs")
    assert out["episodes"].tolist() == [20, C, 15]
    assert out["episodes_prev"].tolist() == [10, 10, C]
    assert out["episodes_change"].tolist() == [10, C, C]  # 20 - 10, not the exact 8
    assert out["episodes_change_share"].tolist() == [1.0, C, C]


@pytest.fixture(scope="module")
def with_focus(summary_sheets):
    from geo.pipeline import _focus_table

    sheets = dict(summary_sheets)
    localities = {"ward": sheets["localities_ward"], "lpa": sheets["localities_lpa"]}
    sheets["focus_lpa"] = _focus_table(localities, "Cherwell and West Oxfordshire")
    return sheets


def test_the_focus_table_publishes_what_the_ward_and_lpa_tables_publish(with_focus):
    out = sdc_tables(with_focus, rule="dfe")
    focus, ward, lpa = out["focus_lpa"], out["localities_ward"], out["localities_lpa"]
    counts = [c for c in focus.columns if column_kind(c) != "other"]
    rows = focus[focus["row"] == "ward"].set_index("ward_code")[counts]
    same = ward.set_index("ward_code").loc[rows.index, counts]
    pd.testing.assert_frame_equal(rows.astype(object), same.astype(object), check_dtype=False)
    total = focus[focus["row"] == "total"][counts].iloc[0]
    mine = lpa.set_index("lpa_name").loc["Cherwell and West Oxfordshire", counts]
    pd.testing.assert_series_equal(total.astype(object), mine.astype(object), check_dtype=False,
                                   check_names=False)
    # and within the focus table no hidden ward is alone against its published LPA total
    for c in additive_columns_of(counts):
        if total[c] != C:
            assert int((rows[c] == C).sum()) != 1, c
    # the ward table is still protected against the county total
    for c in additive_columns_of(counts):
        if out["totals"][c].iloc[0] != C:
            assert int((ward[c] == C).sum()) != 1, c


def test_a_ward_hidden_for_the_focus_table_is_hidden_in_the_ward_table_too():
    # two hidden wards in the county (F1, O1) protect each other in the ward table; in the
    # focus table of LPA F, F1 would be alone against F's total, so F2 is hidden, there and in
    # the ward table (else the ward table would give F2, and F1 = F - F2)
    ward = pd.DataFrame({"ward_code": ["F1", "F2", "O1", "O2"], "lpa_name": ["F", "F", "O", "O"],
                         "episodes": [3, 20, 3, 30]})
    lpa = pd.DataFrame({"lpa_name": ["F", "O"], "episodes": [23, 33]})
    totals = pd.DataFrame({"area": ["All areas"], "episodes": [56]})
    focus = pd.DataFrame({"row": ["ward", "ward", "total"], "ward_code": ["F2", "F1", ""],
                          "lpa_name": ["F", "F", "F"], "episodes": [20, 3, 23]})
    alone = sdc_tables({"localities_ward": ward, "localities_lpa": lpa, "totals": totals},
                       rule="dfe")
    assert alone["localities_ward"]["episodes"].tolist() == [C, 20, C, 30]
    out = sdc_tables({"localities_ward": ward, "localities_lpa": lpa, "totals": totals,
                      "focus_lpa": focus}, rule="dfe")
    assert out["focus_lpa"]["episodes"].tolist() == [C, C, 23]
    assert out["localities_ward"]["episodes"].tolist() == [C, C, C, 30]
    assert out["localities_lpa"]["episodes"].tolist() == [23, 33]
