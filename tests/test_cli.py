import html
import json
import os
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
    for rel in ("map.html", "report.html", "run.json", "tables.xlsx", "tables/episodes.csv",
                "tables/localities_lpa.csv", "tables/localities_ward.csv",
                "tables/localities_district.csv", "tables/hotspots.csv", "tables/audit.csv",
                ".hotspots-key"):
        assert (tmp_path / "o" / rel).is_file(), rel
    assert "Rows read 6: mapped 6, rejected 0, outside the area 0." in out
    assert f"Report:  {tmp_path / 'o' / 'report.html'}" in out
    assert "Audience: internal; disclosure control: none." in out
    assert f"Key:     {tmp_path / 'o' / '.hotspots-key'} (created;" in out
    doc = json.loads((tmp_path / "o" / "run.json").read_text())
    assert doc["inputs"][0]["sha256"] and doc["boundaries"]["vintage"] == "December 2019"
    assert len(doc["boundaries"]["files"]) >= 3
    assert doc["outputs"]["report"] == "report.html" and doc["outputs"]["map"] == "map.html"
    assert doc["audience"]["audience"] == "internal"
    assert doc["disclosure_control"]["rule"] == "none"
    assert "timings_s" not in doc
    # the report embeds the map it sits next to
    page = (tmp_path / "o" / "map.html").read_text()
    report = (tmp_path / "o" / "report.html").read_text()
    assert "<iframe" in report and "srcdoc=" in report
    assert html.escape(page[:200], quote=True) in report
    # episodes.csv: the child as a keyed pseudonym, last; the child id nowhere
    table = pd.read_csv(tmp_path / "o" / "tables" / "episodes.csv", dtype=str)
    assert table.columns[-1] == "child_pseudonym"
    assert table["child_pseudonym"].str.fullmatch(r"K-[0-9a-f]{16}").all()
    for path in (tmp_path / "o").rglob("*"):
        if path.is_file() and path.name != ".hotspots-key" and path.suffix != ".xlsx":
            assert "C00001" not in path.read_text(encoding="utf-8"), path


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
    assert f"Report:  {tmp_path / 'demo' / 'output' / 'report.html'}" in out
    assert "Rows read 1000" in out or "Rows read" in out
    # again: the previous demo output is replaced, the pseudonym key kept
    key = (tmp_path / "demo" / "output" / ".hotspots-key").read_bytes()
    code, out, err = _run(capsys, "demo", "--out", str(tmp_path / "demo"), "-q")
    assert code == 0, err
    assert (tmp_path / "demo" / "output" / ".hotspots-key").read_bytes() == key
    assert "(reused;" in out


def test_demo_takes_the_audience_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.build_parser().parse_args(
        ["demo", "--audience", "public", "--sdc", "nhs", "--grid-m", "500",
         "--min-children", "12", "--tiles", "OpenStreetMap", "-v"])
    assert (args.audience, args.sdc, args.grid_m, args.min_children) == ("public", "nhs", 500, 12)
    code = cli.main(["demo", "--audience", "public", "--show-home-names", "-q"])
    assert code == 2  # refused before anything is written
    assert list(tmp_path.iterdir()) == []


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

    def map_html(result, context):
        return "<!DOCTYPE html><title>map not drawn in this test</title>"

    monkeypatch.setattr(maps.render, "map_html", map_html)


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


# --- the output folder, determinism, --strict, --tiles, --verbose ------------------------------


def _table_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted((folder / "tables").iterdir())} | {
        "tables.xlsx": (folder / "tables.xlsx").read_bytes()}


def test_same_inputs_give_the_same_tables_and_run_json_but_for_run_at(capsys, tmp_path,
                                                                      write_csv, no_map):
    rows = [episode(i, *BANBURY, child_id=f"K{i % 3}") for i in range(8)]
    rows += [episode(20 + i, *OXFORD, missing_from="2020-05-01") for i in range(3)]
    src = write_csv(rows)
    salt = ["--salt", "a passphrase for both runs"]
    for name in ("a", "b"):
        code, _, err = _run(capsys, "run", str(src), "--out", str(tmp_path / name), "-q", *salt)
        assert code == 0, err
    assert _table_bytes(tmp_path / "a") == _table_bytes(tmp_path / "b")
    docs = [json.loads((tmp_path / n / "run.json").read_text()) for n in ("a", "b")]
    assert docs[0].pop("run_at") and docs[1].pop("run_at")
    assert docs[0] == docs[1]
    assert docs[0]["pseudonyms"]["key"] == "derived from --salt (no file)"
    assert not (tmp_path / "a" / ".hotspots-key").exists()  # the key comes from the passphrase
    # without --salt each folder gets its own key: only the pseudonyms differ
    for name in ("c", "d"):
        _run(capsys, "run", str(src), "--out", str(tmp_path / name), "-q")
    c, d = _table_bytes(tmp_path / "c"), _table_bytes(tmp_path / "d")
    assert c.pop("tables/episodes.csv") != d.pop("tables/episodes.csv")
    assert c == d


def test_the_key_file_is_private_and_reused(capsys, tmp_path, write_csv, no_map):
    src = write_csv([episode(i, *BANBURY, child_id=f"K{i % 2}") for i in range(6)])
    out = tmp_path / "o"
    _run(capsys, "run", str(src), "--out", str(out), "-q")
    key = out / ".hotspots-key"
    assert stat_mode(key) == 0o600
    first = pd.read_csv(out / "tables" / "episodes.csv")["child_pseudonym"]
    code, stdout, _ = _run(capsys, "run", str(src), "--out", str(out), "-q")
    assert code == 0 and "(reused;" in stdout
    assert pd.read_csv(out / "tables" / "episodes.csv")["child_pseudonym"].equals(first)
    assert first.nunique() == 2
    code, _, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "x"), "-q",
                        "--salt", "too short")
    assert code == 2 and "at least 16 characters" in err and not (tmp_path / "x").exists()


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_a_folder_that_is_not_a_previous_run_is_refused_without_force(capsys, tmp_path,
                                                                      write_csv, no_map):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    out = tmp_path / "o"
    out.mkdir()
    (out / "minutes.docx").write_text("the panel's minutes")
    code, _, err = _run(capsys, "run", str(src), "--out", str(out), "-q")
    assert code == 2 and "is not empty" in err and "--force" in err and "minutes.docx" in err
    assert sorted(p.name for p in out.iterdir()) == ["minutes.docx"]
    code, _, err = _run(capsys, "run", str(src), "--out", str(out), "-q", "--force")
    assert code == 0, err
    assert (out / "minutes.docx").read_text() == "the panel's minutes"  # left alone
    assert (out / "map.html").is_file() and (out / "tables" / "episodes.csv").is_file()
    code, _, err = _run(capsys, "run", str(src), "--out", str(src), "-q")
    assert code == 2 and "is a file" in err


def test_a_previous_run_is_replaced_whole(capsys, tmp_path, write_csv, no_map):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    out = tmp_path / "o"
    assert _run(capsys, "run", str(src), "--out", str(out), "-q")[0] == 0
    stale = out / "tables" / "hotspots_gone.csv"  # e.g. from a run with a comparison
    stale.write_text("hotspot_id\nP01\n")
    code, _, err = _run(capsys, "run", str(src), "--out", str(out), "-q")
    assert code == 0, err
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.csv", "o"]  # no leftovers


def test_an_interrupted_run_leaves_nothing_half_written(capsys, tmp_path, write_csv,
                                                        monkeypatch, no_map):
    import maps.report

    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    out = tmp_path / "o"
    original = maps.report.write_report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(maps.report, "write_report", interrupted)
    code, _, err = _run(capsys, "run", str(src), "--out", str(out), "-q")
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.csv"]  # no out, no tmp
    monkeypatch.setattr(maps.report, "write_report", original)
    assert _run(capsys, "run", str(src), "--out", str(out), "-q")[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(maps.report, "write_report", interrupted)
    code, _, _ = _run(capsys, "run", str(src), "--out", str(out), "-q", "--eps-m", "100")
    assert code == 130
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episodes.csv", "o"]


def test_strict_stops_on_any_rejected_row_and_writes_nothing(capsys, tmp_path, write_csv,
                                                              no_map):
    rows = [episode(i, *BANBURY) for i in range(6)]
    rows.append(episode(7, *BANBURY, missing_from="31/02/2020"))
    rows.append(episode(8, *BANBURY, child_id=""))
    rows.append(episode(9, 51.454, -0.973))  # outside the area: not a rejection
    src = write_csv(rows)
    out = tmp_path / "o"
    code, _, err = _run(capsys, "run", str(src), "--out", str(out), "-q", "--strict")
    assert code == 2 and "Traceback" not in err
    assert "--strict: 2 of 9 rows were rejected (invalid_date 1, missing_child_id 1)" in err
    assert f"hotspots validate {src}" in err and "tables/audit.csv" in err
    assert not out.exists()
    earlier = episode(10, *BANBURY, missing_from="2019-03-01")
    good = write_csv([episode(i, *BANBURY) for i in range(6)] + [rows[-1], earlier],
                     name="good.csv")
    code, stdout, err = _run(capsys, "run", str(good), "--out", str(out), "-q", "--strict",
                             "--period", "2020-01-01:2020-06-30")
    assert code == 0, err  # outside the area, outside --period: not a problem in the data
    assert "rejected 1 (outside_period 1), outside the area 1" in stdout


def test_tiles_print_their_privacy_warning_even_when_quiet(capsys, tmp_path, write_csv):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    code, _, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"), "-q",
                        "--tiles", "OpenStreetMap")
    assert code == 0, err
    assert err.startswith("Warning: the map will load background tiles from")
    assert "TilesPrivacyWarning" not in err and err.count("Warning:") == 1
    assert "tile.openstreetmap.org" in (tmp_path / "o" / "map.html").read_text()
    code, _, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "p"), "-q",
                        "--tiles", "NoSuchTiles")
    assert code == 2 and "Unknown tile provider" in err and not (tmp_path / "p").exists()


def test_verbose_prints_the_timings_that_run_json_leaves_out(capsys, tmp_path, write_csv,
                                                             no_map):
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    code, _, err = _run(capsys, "run", str(src), "--out", str(tmp_path / "o"), "-q", "-v")
    assert code == 0
    assert "Timings (s): read " in err and "hotspots " in err and "map " in err


def test_an_internal_run_can_control_its_tables_too(capsys, tmp_path, write_csv):
    rows = [episode(i, *BANBURY, child_id=f"K{i % 2}") for i in range(6)]
    rows += [episode(20 + i, *OXFORD, child_id=f"X{i}") for i in range(9)]
    src = write_csv(rows)
    out = tmp_path / "o"
    code, stdout, err = _run(capsys, "run", str(src), "--out", str(out), "-q", "--sdc", "dfe",
                             "--min-children", "3")
    assert code == 0, err
    assert "1 with fewer than 3 children left out" in stdout
    assert "disclosure control: dfe; the figures above are exact" in stdout
    assert (out / "tables" / "episodes.csv").is_file()  # still an internal output
    ward = pd.read_csv(out / "tables" / "localities_ward.csv", dtype=str,
                       keep_default_na=False).set_index("ward_name")
    assert ward.loc["Banbury Cross and Neithrop", "children"] == "c"
    doc = json.loads((out / "run.json").read_text())
    assert doc["disclosure_control"]["rule"] == "dfe"
    assert doc["counts"]["hotspots_suppressed"] == 1 and doc["counts"]["children_mapped"] == 11
    assert doc["parameters"]["min_children_per_hotspot"] == 3


def test_console_script_exits_with_the_code_and_flushes_its_output(write_csv, tmp_path):
    """`cli.console` ends the process without the interpreter's clean-up: the output piped
    out must still be complete and the exit code main's."""
    import subprocess
    import sys

    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    ok = subprocess.run(
        [sys.executable, "-c", "import cli; cli.console()", "run", str(src), "--out",
         str(tmp_path / "o")],
        capture_output=True, text=True, check=False, cwd=cli.Path(cli.__file__).parent,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "Rows read 6: mapped 6" in ok.stdout and "Run log:" in ok.stdout
    assert (tmp_path / "o" / "run.json").is_file()
    bad = subprocess.run(
        [sys.executable, "-c", "import cli; cli.console()", "run", str(tmp_path / "nope.csv")],
        capture_output=True, text=True, check=False, cwd=cli.Path(cli.__file__).parent,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "does not exist" in " ".join(bad.stderr.split())
