import pytest

import cli
from geo import memory
from geo.memory import ResourceError, available_bytes, check_memory, estimated_peak_bytes
from tests.conftest import BANBURY, episode


def test_available_memory_is_known_on_linux():
    room = available_bytes()
    assert room is not None
    assert 0 < room < 2**50


def test_the_estimate_grows_with_the_file(tmp_path):
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    small.write_text("a,b\n" + "1,2\n" * 10)
    big.write_text("a,b\n" + "1,2\n" * 100_000)
    assert memory.BASE_BYTES < estimated_peak_bytes(small) < estimated_peak_bytes(big)
    assert estimated_peak_bytes(big) - memory.BASE_BYTES == memory.BYTES_PER_CSV_BYTE * (
        big.stat().st_size
    )


def test_a_file_beyond_the_memory_available_is_refused_with_a_message(tmp_path, monkeypatch):
    monkeypatch.delenv(memory.SKIP_ENV, raising=False)
    src = tmp_path / "episodes.csv"
    src.write_text("episode_id\n" + "E1\n" * 1000)
    with pytest.raises(ResourceError) as exc:
        check_memory(src, available=memory.BASE_BYTES)  # room for the libraries, no more
    text = str(exc.value)
    assert str(src) in text and "too big for the memory of this machine" in text
    assert "split the file" in text and memory.SKIP_ENV in text
    check_memory(src, available=2**40)  # plenty: no error
    monkeypatch.setenv(memory.SKIP_ENV, "1")
    check_memory(src, available=0)  # skipped on request


def test_cli_refuses_before_reading_and_exits_2(capsys, write_csv, tmp_path, monkeypatch):
    monkeypatch.delenv(memory.SKIP_ENV, raising=False)
    src = write_csv([episode(i, *BANBURY) for i in range(6)])
    monkeypatch.setattr(memory, "available_bytes", lambda: 1024)
    code = cli.main(["run", str(src), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "too big for the memory of this machine" in " ".join(err.split())
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_turns_running_out_of_memory_into_a_message(capsys, monkeypatch, tmp_path):
    def boom(args):
        raise MemoryError

    monkeypatch.setitem(cli._COMMANDS, "run", boom)
    code = cli.main(["run", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "ran out of memory" in err and "Traceback" not in err


def test_utf16_files_are_estimated_by_their_text(tmp_path):
    text = "episode_id,child_id\n" + "E1,C1\n" * 5000
    utf8, utf16 = tmp_path / "a.csv", tmp_path / "b.csv"
    utf8.write_text(text, encoding="utf-8")
    utf16.write_text(text, encoding="utf-16")  # with a byte-order mark
    assert abs(estimated_peak_bytes(utf16) - estimated_peak_bytes(utf8)) <= 2 * (
        memory.BYTES_PER_CSV_BYTE
    )


def test_container_page_cache_counts_as_room(tmp_path, monkeypatch):
    root = tmp_path / "cg"
    root.mkdir()
    (root / "memory.max").write_text(str(4 * 2**30))
    (root / "memory.current").write_text(str(3 * 2**30))
    (root / "memory.stat").write_text(f"anon 1000\ninactive_file {2 * 2**30}\n")
    def moved(path: str) -> str:
        return path.replace("/sys/fs/cgroup", str(root))

    real_int, real_stat = memory._read_int, memory._stat
    monkeypatch.setattr(
        memory, "_read_int",
        lambda p: real_int(moved(p)) if p.startswith("/sys/fs/cgroup/memory.") else None,
    )  # fmt: skip
    monkeypatch.setattr(memory, "_stat", lambda p: real_stat(moved(p)))
    room = available_bytes()
    # 4 GiB limit - (3 GiB used - 2 GiB of droppable cache) = 3 GiB, not 1 GiB
    assert room is not None and 1 * 2**30 < room <= 3 * 2**30
