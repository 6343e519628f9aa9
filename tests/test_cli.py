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


@pytest.mark.parametrize("command", ["run", "validate", "synth", "demo", "boundaries"])
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
