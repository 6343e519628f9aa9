"""Placed out of area: the host's own children missing from placements elsewhere, by LA."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo import schema as s
from geo.errors import BoundaryError
from geo.placed_out import PLACED_OUT_COLUMNS, TOTAL_LABEL, summarise_placed_out

READING = (51.45, -0.97)
SWINDON = (51.56, -1.78)
GLASGOW = (55.86, -4.25)  # outside the (two-polygon) LA layer, as are the next two
EDINBURGH = (55.95, -3.19)
CARDIFF = (51.48, -3.18)

_LAYER = gpd.GeoDataFrame(
    {"CTYUA23CD": ["E06000038", "E06000030"], "CTYUA23NM": ["Reading", "Swindon"]},
    geometry=[shapely.box(-1.05, 51.40, -0.90, 51.50), shapely.box(-1.85, 51.50, -1.70, 51.62)],
    crs=s.WGS84,
)


def _row(child, where, *, status=s.OUTSIDE_AREA, placed="host", returned=None, rhi=None,
         ce="unknown", placement_la="", postcode=""):
    return {
        s.CHILD_ID: child, s.STATUS: status, s.PLACED_BY_OTHER_LA: placed,
        s.LAT: where[0], s.LON: where[1],
        s.RETURNED: pd.Timestamp(returned) if returned else pd.NaT,
        s.RHI_COMPLETED: pd.Timestamp(rhi) if rhi else pd.NaT,
        s.CE_SCREENING: ce, s.PLACEMENT_LA: placement_la, s.POSTCODE: postcode,
    }  # fmt: skip


def _episodes() -> pd.DataFrame:
    rows = [
        # C1: three episodes in Reading, one in Swindon
        _row("C1", READING, returned="2020-01-01 10:00", rhi="2020-01-03 09:00",  # 47 h: in
             placement_la="Reading Borough Council"),
        _row("C1", READING, returned="2020-01-05 00:00", rhi="2020-01-08 01:00",  # 73 h: late
             ce="yes", placement_la="Reading Borough Council"),
        _row("C1", READING),  # ongoing: cannot qualify
        _row("C1", SWINDON, returned="2020-03-01 12:00"),
        # C2: two in Reading, the RHI exactly 72 h after the return counts
        _row("C2", READING, returned="2020-02-01 00:00", rhi="2020-02-04 00:00", ce="no"),
        _row("C2", READING, returned="2020-02-10 00:00", ce="no"),
        # C3: once in Reading
        _row("C3", READING, returned="2020-02-11 00:00"),
        # C4: twice outside the layer, placement_la spelt two ways
        _row("C4", GLASGOW, returned="2020-04-01 00:00", rhi="2020-04-02 00:00",
             placement_la="Glasgow City"),
        _row("C4", GLASGOW, placement_la=" glasgow  city ", ce="no"),
        # C5: outside the layer, only a postcode; C6: nothing at all
        _row("C5", EDINBURGH, postcode="eh1 1aa"),
        _row("C6", CARDIFF),
        # not placed out: placed by another LA, inside the area, rejected, placing LA unknown
        _row("C7", READING, placed="other"),
        _row("C8", READING, status=s.MAPPED),
        _row("C9", READING, status=s.REJECTED),
        _row("C10", READING, placed="unknown"),
    ]
    return pd.DataFrame(rows)


def _by_name(table: pd.DataFrame) -> pd.DataFrame:
    return table.set_index("la_name")


def test_counts_with_a_boundary_layer_by_hand():
    table = summarise_placed_out(_episodes(), la_boundaries=_LAYER)
    assert list(table.columns) == list(PLACED_OUT_COLUMNS)
    assert table["la_name"].tolist() == [
        "Reading", "Glasgow City", "EH postcode area", "Swindon", "unknown", TOTAL_LABEL,
    ]  # fmt: skip
    t = _by_name(table)
    reading = t.loc["Reading"]
    assert (reading["la_code"], reading["assigned_by"]) == ("E06000038", "boundary")
    assert reading[list(PLACED_OUT_COLUMNS[3:])].tolist() == [
        6,  # episodes: C1 x3, C2 x2, C3
        3,  # children
        2,  # repeat children: C1 (3 here), C2 (2)
        5,  # returned: all but C1's ongoing one
        3,  # RHI completed
        2,  # within 72 h: C1's 47 h and C2's exactly 72 h (C1's 73 h is late)
        0.4,  # 2 of 5 returned
        1,  # repeat children screened: C1 (on one episode)
        1,  # not screened: C2
    ]
    swindon = t.loc["Swindon"]
    assert (swindon["la_code"], swindon["episodes"], swindon["children"]) == ("E06000030", 1, 1)
    assert swindon["repeat_children"] == 0  # C1 went missing once *in Swindon*
    assert np.isnan(t.loc["unknown", "rhi_completed_within_72h_share"])
    glasgow = t.loc["Glasgow City"]
    assert (glasgow["assigned_by"], glasgow["la_code"], glasgow["episodes"]) == (
        "placement_la", "", 2,
    )  # fmt: skip
    assert (glasgow["repeat_children"], glasgow["repeat_children_ce_not_screened"]) == (1, 1)
    assert t.loc["EH postcode area", "assigned_by"] == "postcode_area"
    assert t.loc["unknown", "assigned_by"] == "unknown"
    total = t.loc[TOTAL_LABEL]
    assert total[["episodes", "children", "repeat_children", "rhi_completed_within_72h"]].tolist(
    ) == [11, 6, 3, 3]  # repeat: C1 (4), C2, C4
    assert (total["repeat_children_ce_screened"], total["repeat_children_ce_not_screened"]) == (
        1, 2,
    )  # fmt: skip


def test_without_a_layer_placement_la_then_postcode_then_unknown():
    table = _by_name(summarise_placed_out(_episodes()))
    # two Reading episodes carry a placement_la; the other four share their exact location
    assert table.loc["Reading Borough Council", "episodes"] == 6
    assert table.loc["Reading Borough Council", "children"] == 3
    assert table.loc["Reading Borough Council", "assigned_by"] == "placement_la"
    assert table.loc["Glasgow City", "episodes"] == 2
    assert table.loc["EH postcode area", "episodes"] == 1
    assert table.loc["unknown", "episodes"] == 2  # Swindon and Cardiff
    assert table["la_code"].eq("").all()


def test_layer_in_another_crs_and_named_columns():
    layer = _LAYER.to_crs(s.BNG).rename(columns={"CTYUA23CD": "code", "CTYUA23NM": "name"})
    table = summarise_placed_out(
        _episodes(), la_boundaries=layer, la_code_col="code", la_name_col="name",
        include_total=False,
    )  # fmt: skip
    assert _by_name(table).loc["Reading", "episodes"] == 6
    assert TOTAL_LABEL not in table["la_name"].tolist()


def test_bad_layers_are_refused():
    with pytest.raises(BoundaryError, match="CTYUA23CD"):
        summarise_placed_out(_episodes(), la_boundaries=_LAYER.rename(columns={
            "CTYUA23CD": "a", "CTYUA23NM": "b"}))  # fmt: skip
    with pytest.raises(BoundaryError, match="no CRS"):
        summarise_placed_out(_episodes(), la_boundaries=_LAYER.set_crs(None, allow_override=True))


def test_no_placed_out_episodes_gives_only_a_zero_total():
    episodes = _episodes()
    episodes[s.STATUS] = s.MAPPED
    table = summarise_placed_out(episodes, la_boundaries=_LAYER)
    assert table["la_name"].tolist() == [TOTAL_LABEL]
    assert table.loc[0, "episodes"] == 0 and table.loc[0, "children"] == 0
