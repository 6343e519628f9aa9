import json
import re

import pandas as pd
import pytest

import cli
from tests.conftest import BANBURY, episode


def _run(capsys, *argv):
    """Run the CLI in-process; stderr comes back with its line wrapping undone."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, " ".join(out.err.split(" ")).replace("\n", " ")


@pytest.mark.parametrize("command", ["run", "validate", "synth", "demo", "boundaries", "tune"])
def test_every_command_has_help_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text
    assert f"hotspots {command}" in text


def test_every_command_is_in_the_readme():
    readme = (cli.Path(__file__).parents[1] / "README.md").read_text()
    for command in cli._COMMANDS:
        assert f"hotspots {command}" in readme, command


def test_run_writes_the_outputs(capsys, write_csv, tmp_path):
    rows = [episode(i, *BANBURY) for i in range(6)]
    src = write_csv(rows)
    code, out, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"), "--quiet")
    assert code == 0, err
    assert err == ""
    for rel in ("map.html", "run.json", "tables.xlsx", "tables/episodes.csv",
                "tables/localities_lpa.csv", "tables/localities_ward.csv",
                "tables/localities_district.csv", "tables/hotspots.csv", "tables/audit.csv"):
        assert (tmp_path / "o" / rel).is_file(), rel
    assert "Rows read 6: mapped 6, rejected 0, outside the area 0." in out
    doc = json.loads((tmp_path / "o" / "run.json").read_text())
    assert doc["inputs"][0]["sha256"] and doc["boundaries"]["vintage"] == "December 2019"
    assert len(doc["boundaries"]["files"]) >= 3


def test_progress_goes_to_stderr(capsys, write_csv, tmp_path):
    src = write_csv([episode(1, *BANBURY)])
    code, out, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"))
    assert code == 0
    assert "Finding hotspots" in err and "Finding hotspots" not in out


def test_validate_prints_the_audit_and_writes_nothing(capsys, write_csv, tmp_path, monkeypatch):
    rows = [episode(1, *BANBURY), episode(1, *BANBURY), episode(2, 51.45, -0.97)]
    src = write_csv(rows)
    before = sorted(p.name for p in tmp_path.iterdir())
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(capsys, "validate", str(src), "-q")
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert re.search(r"mapped\s+1", out) and re.search(r"duplicate_episode_id\s+1", out)
    assert re.search(r"outside_area\s+1", out)
    assert "row 3, episode 'E00001': duplicate_episode_id" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("episode_id,lat,lon\nE1,51.7,-1.2\n", "missing the required column(s) `child_id`, "
                                               "`missing_from`"),
        ("episode_id,child_id,missing_from,lat,lon\n", "header row but no data rows"),
        ("episode_id,child_id,missing_from,lat\nE1,C1,2020-01-01,51\n", "no `lon` column"),
        ("episode_id,child_id,missing_from,lat,lon\nE1,C1,01/13/2020,51.7,-1.2\n",
         "looks month-first"),
    ],
)
def test_whole_file_problems_exit_2_with_one_message_and_no_traceback(
    capsys, tmp_path, content, expected
):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    code, _out, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"), "-q")
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("hotspots: error: ")
    assert str(src) in err
    assert expected in " ".join(err.split())
    assert not (tmp_path / "o").exists()


def test_missing_file_and_bad_parameters_exit_2(capsys, write_csv, tmp_path):
    code, _, err = _run(capsys, "run", str(tmp_path / "nope.csv"))
    assert code == 2 and "does not exist" in err
    src = write_csv([episode(1, *BANBURY)])
    code, _, err = _run(capsys, "run", str(src), "--eps-m", "0", "-q")
    assert code == 2 and "`eps_m` must be a number of metres greater than 0" in err
    code, _, err = _run(capsys, "run", str(src), "--period", "2020-06-30:2020-01-01", "-q")
    assert code == 2 and "ends before it starts" in err
    code, _, err = _run(capsys, "run", str(src), "--boundaries", str(tmp_path / "x.toml"), "-q")
    assert code == 2 and "x.toml" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", str(src), "--min-samples", "many"])
    assert exc.value.code == 2


def test_synth_then_run_on_its_output(capsys, tmp_path):
    code, out, _ = _run(capsys, "synth", "--seed", "3", "--out", str(tmp_path / "d"),
                        "--episodes", "300", "-q")
    assert code == 0
    episodes = pd.read_csv(tmp_path / "d" / "episodes.csv")
    assert len(episodes) == 300
    code, out, err = _run(capsys, "run", str(tmp_path / "d" / "episodes.csv"), "--homes",
                          str(tmp_path / "d" / "homes.csv"), "--out", str(tmp_path / "o"), "-q")
    assert code == 0, err
    assert "Rows read 300: mapped 300" in out
    assert (tmp_path / "o" / "tables" / "homes.csv").is_file()


def test_demo_prints_where_the_outputs_are(capsys, tmp_path):
    code, out, _ = _run(capsys, "demo", "--out", str(tmp_path / "demo"), "-q")
    assert code == 0
    assert f"Map:     {tmp_path / 'demo' / 'output' / 'map.html'}" in out
    assert "Rows read 1000" in out or "Rows read" in out


def test_boundaries_lists_and_checks(capsys):
    code, out, _ = _run(capsys, "boundaries")
    assert code == 0 and "oxfordshire" in out
    code, out, _ = _run(capsys, "boundaries", "oxfordshire")
    assert code == 0 and "112 wards, 5 districts, 3 LPAs" in out
    assert "Source: Office for National Statistics" in out


def _postcode_index(tmp_path):
    src = tmp_path / "pc.csv"
    src.write_text(
        "postcode,lat,lon\n"
        "OX16 9AA,52.0629,-1.3398\n"   # Banbury
        "OX16 9AB,52.0640,-1.3420\n"
        "OX14 3AA,51.6700,-1.2800\n"   # Abingdon
        "OX2 6AB,51.7600,-1.2700\n"    # Oxford
    )
    return src


def test_postcodes_import_info_and_run(capsys, tmp_path, write_csv):
    index = tmp_path / "pc.npz"
    code, out, _ = _run(capsys, "postcodes", "import", str(_postcode_index(tmp_path)),
                        "--into", str(index), "-q")
    assert code == 0 and "Imported 4 postcodes" in out and index.is_file()
    code, out, _ = _run(capsys, "postcodes", "info", str(index))
    assert code == 0 and "4 postcodes" in out
    rows = [
        {"episode_id": f"E{i}", "child_id": "C1", "missing_from": "2020-02-01", "postcode": pc}
        for i, pc in enumerate(["ox16 9aa"] * 5 + ["OX16 9"] * 3 + ["OX16", "ZZ99 9ZZ", "X"])
    ]
    src = write_csv(rows)
    out_dir = tmp_path / "o"
    code, out, err = _run(capsys, "run", str(src), "--postcodes", str(index), "--out",
                          str(out_dir), "-q")
    assert code == 0, err
    table = pd.read_csv(out_dir / "tables" / "episodes.csv", dtype=str, keep_default_na=False)
    assert table["precision"].tolist() == ["postcode"] * 5 + ["sector"] * 3 + ["district", "", ""]
    assert table["reason"].tolist()[-2:] == ["postcode_not_found", "invalid_postcode"]
    # sector/district locations are mapped but never make a hotspot (default threshold)
    assert set(table["hotspot_id"][:5]) == {"H01"} and set(table["hotspot_id"][5:]) == {""}
    doc = json.loads((out_dir / "run.json").read_text())
    assert doc["hotspot_precision"]["threshold"] == "postcode"
    assert doc["postcode_index"]["imported"] == 4
    assert doc["counts"]["mapped_by_precision"] == {"district": 1, "postcode": 5, "sector": 3}
    lpa = pd.read_csv(out_dir / "tables" / "localities_lpa.csv")
    assert lpa["episodes_precision_sector"].sum() == 3
    # with the threshold at sector, the sector rows join the hotspot
    code, _, _ = _run(capsys, "run", str(src), "--postcodes", str(index), "--out",
                      str(tmp_path / "o2"), "--hotspot-precision", "sector", "-q")
    table2 = pd.read_csv(tmp_path / "o2" / "tables" / "episodes.csv", dtype=str,
                         keep_default_na=False)
    assert (table2["hotspot_id"][:8] != "").all()


def test_postcode_rows_without_an_index_are_no_location_with_a_hint(capsys, write_csv, tmp_path):
    src = write_csv([{"episode_id": "E1", "child_id": "C1", "missing_from": "2020-01-01",
                      "postcode": "OX16 9AA"}])
    code, out, _ = _run(capsys, "validate", str(src), "-q")
    assert code == 0
    assert "no_location" in out and "hotspots postcodes import" in out


def test_ssda903_run_conserves_every_missing_row(capsys, tmp_path):
    from tests.conftest import DATA

    index = tmp_path / "pc.npz"
    _run(capsys, "postcodes", "import", str(_postcode_index(tmp_path)), "--into", str(index),
         "-q")
    out_dir = tmp_path / "o"
    code, _, err = _run(capsys, "run", "--ssda903", str(DATA / "ssda903"), "--postcodes",
                          str(index), "--out", str(out_dir), "-q")
    assert code == 0, err
    table = pd.read_csv(out_dir / "tables" / "episodes.csv", dtype=str, keep_default_na=False)
    assert len(table) == 10  # every Missing row, in order
    assert table["row_number"].tolist() == [str(i) for i in range(2, 12)]
    assert set(table["status"]) <= {"mapped", "rejected", "outside_area"}
    reasons = set(table.loc[table["status"] == "rejected", "reason"])
    assert {"unknown_missing_code", "returned_before_missing", "unknown_child",
            "duplicate_period", "no_placement_in_force"} <= reasons
    assert "S1001" not in (out_dir / "tables" / "episodes.csv").read_text()
    doc = json.loads((out_dir / "run.json").read_text())
    assert doc["counts"]["read"] == 10
    assert [i["role"] for i in doc["inputs"]] == ["ssda903 header", "ssda903 episodes",
                                                 "ssda903 missing"]


def test_episodes_and_ssda903_are_exclusive(capsys, write_csv):
    from tests.conftest import DATA

    src = write_csv([episode(1, *BANBURY)])
    code, _, err = _run(capsys, "run", str(src), "--ssda903", str(DATA / "ssda903"), "-q")
    assert code == 2 and "not both" in err
    code, _, err = _run(capsys, "run", "-q")
    assert code == 2 and "needs an EPISODES file" in err


OXFORD = (51.737060, -1.251856)


@pytest.fixture
def no_map(monkeypatch):
    """Skip drawing the map (tested in test_render): these tests are about tables and options."""
    import maps.render

    def write_map(result, context, path):
        path.write_text("map not drawn in this test", encoding="utf-8")
        return path

    monkeypatch.setattr(maps.render, "write_map", write_map)


def _homes_csv(tmp_path):
    path = tmp_path / "homes.csv"
    path.write_text(f"home_id,type,name,places,lat,lon\nR1,residential,Secret House,4,"
                    f"{BANBURY[0]},{BANBURY[1]}\n")
    return path


def test_bad_population_file_exits_2_naming_the_file_and_columns(capsys, write_csv, tmp_path,
                                                                 no_map):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    pop = tmp_path / "children.csv"
    pop.write_text("ward,people\nE05010921,100\n")
    code, _, err = _run(capsys, "run", str(src), "--population", str(pop), "--out",
                        str(tmp_path / "o"), "-q")
    assert code == 2 and "Traceback" not in err
    assert str(pop) in err and "`area_code`" in err and "`population_0_17`" in err
    assert not (tmp_path / "o").exists()
    code, _, err = _run(capsys, "run", str(src), "--population", str(tmp_path / "none.csv"),
                        "-q", "--out", str(tmp_path / "o"))
    assert code == 2 and "none.csv" in err and "does not exist" in err


def test_run_with_population_homes_and_names(capsys, write_csv, tmp_path, no_map):
    rows = [episode(i, *BANBURY, home_id="R1", placement_type="residential")
            for i in range(6)]
    src = write_csv(rows)
    pop = tmp_path / "pop.csv"
    pop.write_text("area_code,population_0_17\nE05010921,3000\n")
    out = tmp_path / "o"
    code, stdout, err = _run(capsys, "run", str(src), "--homes", str(_homes_csv(tmp_path)),
                             "--population", str(pop), "--out", str(out), "-q",
                             "--show-home-names")
    assert code == 0, err
    assert f"Focus:   {out / 'tables' / 'focus_lpa.csv'}" in stdout
    ward = pd.read_csv(out / "tables" / "localities_ward.csv").set_index("ward_code")
    assert ward.loc["E05010921", "episodes_per_10k"] == 20.0  # 6 / 3,000 x 10,000
    assert ward.loc["E05010921", "episodes_per_place"] == 1.5  # 6 / 4 places
    assert "Secret House" in (out / "tables" / "homes.csv").read_text()
    doc = json.loads((out / "run.json").read_text())
    assert [i["role"] for i in doc["inputs"]] == ["episodes", "homes", "population"]
    assert doc["homes_register"]["names_in_outputs"] is True
    assert doc["parameters"]["eps_m_source"].startswith("default")
    assert "rates per 10,000 are not available" not in " ".join(doc["notes"])


def test_run_without_population_says_rates_are_not_available(capsys, write_csv, tmp_path, no_map):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    code, stdout, _ = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"), "-q",
                           "--eps-m", "300")
    assert code == 0
    assert "Note: rates per 10,000 are not available without --population" in stdout
    doc = json.loads((tmp_path / "o" / "run.json").read_text())
    assert "rates per 10,000 are not available without --population" in doc["notes"]
    assert doc["parameters"]["eps_m_source"] == "given (--eps-m)"
    lpa = pd.read_csv(tmp_path / "o" / "tables" / "localities_lpa.csv")
    assert lpa["episodes_per_10k"].isna().all()


def test_focus_lpa_option(capsys, write_csv, tmp_path, no_map):
    src = write_csv([episode(i, *OXFORD) for i in range(6)])
    code, _, err = _run(capsys, "run", str(src), "--focus-lpa", "Nowhere", "-q",
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "'Nowhere' is not an LPA of the boundary set" in err
    assert "Cherwell and West Oxfordshire, Oxford, South and Vale" in err
    code, _, err = _run(capsys, "run", str(src), "--focus-lpa", "Oxford", "-q",
                        "--out", str(tmp_path / "o"))
    assert code == 0, err
    focus = pd.read_csv(tmp_path / "o" / "tables" / "focus_lpa.csv")
    assert set(focus["lpa_name"]) == {"Oxford"} and focus["episodes"].iloc[-1] == 6


def test_compare_period_and_hdbscan(capsys, write_csv, tmp_path, no_map):
    # HDBSCAN never returns the whole data as one cluster: two groups in each period
    thame = (51.739285, -0.976678)
    rows = []
    for k, (where, day) in enumerate([(BANBURY, "2020-02-01"), (OXFORD, "2020-03-01"),
                                      (OXFORD, "2019-02-01"), (thame, "2019-03-01")]):
        rows += [episode(10 * k + i, *where, missing_from=day) for i in range(6)]
    src = write_csv(rows)
    out = tmp_path / "o"
    code, _, err = _run(capsys, "run", str(src), "--period", "2020-01-01:2020-06-30",
                        "--compare-period", "2019-01-01:2019-06-30", "--method", "hdbscan",
                        "--out", str(out), "-q")
    assert code == 0, err
    doc = json.loads((out / "run.json").read_text())
    assert doc["comparison"]["source"] == "given (--compare-period)"
    assert doc["comparison"]["hotspots"] == {"new": 1, "persistent": 1, "gone": 1,
                                             "comparison_period_hotspots": 2}
    assert doc["parameters"]["method"] == "hdbscan"
    gone = pd.read_csv(out / "tables" / "hotspots_gone.csv")
    assert gone["lpa_name"].tolist() == ["South and Vale"]
    spots = pd.read_csv(out / "tables" / "hotspots.csv").set_index("lpa_name")
    assert spots.loc["Oxford", "trend"] == "persistent"
    assert spots.loc["Cherwell and West Oxfordshire", "trend"] == "new"
    code, _, err = _run(capsys, "run", str(src), "--compare-period", "2019-06-30:2019-01-01",
                        "-q", "--out", str(out))
    assert code == 2 and "ends before it starts" in err
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", str(src), "--method", "kmeans"])
    assert exc.value.code == 2


def test_tune_prints_a_suggestion_and_writes_the_curve(capsys, write_csv, tmp_path):
    rows = [episode(i, *BANBURY) for i in range(8)]
    rows += [episode(20 + i, 51.65 + 0.01 * i, -1.35 + 0.01 * i) for i in range(12)]
    src = write_csv(rows)
    code, out, err = _run(capsys, "tune", str(src), "--min-samples", "5", "--out",
                          str(tmp_path / "k.png"), "-q")
    assert code == 0, err
    assert "k-distance for min_samples 5: 20 episodes" in out
    assert "Suggested eps:" in out and "knee" in out
    assert (tmp_path / "k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = _run(capsys, "tune", str(src), "--out", str(tmp_path / "k.svg"), "-q")
    assert code == 0 and (tmp_path / "k.svg").read_text().startswith("<svg")
    code, _, err = _run(capsys, "tune", str(src), "--out", str(tmp_path / "k.jpg"), "-q")
    assert code == 2 and ".png or .svg" in err
