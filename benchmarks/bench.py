"""End-to-end benchmark of `hotspots run`, with the naive pipeline and the floor in the same run.

Usage: ``python benchmarks/bench.py [--sizes 10000,100000,1000000]
[--variants repeat,distinct,postcode] [--out DIR] [--keep] [--budget SECONDS]`` (``make bench``).

For each size and variant it writes synthetic episodes (`geo.synth`):

- ``repeat``: most episodes share a few thousand addresses, as in real data;
- ``distinct``: every location different, the hardest case for DBSCAN;
- ``postcode``: the ``repeat`` episodes located by postcode only. Each distinct (lat, lon) gets
  a synthetic, well-formed postcode (``OX1 0AA`` ... ``OX49 9ZZ``, one per location; every
  tenth episode writes it in lower case without the space, as spreadsheets do); the episodes
  CSV has a ``postcode`` column instead of ``lat``/``lon``, and the lookup CSV
  (``postcode,lat,lon``) is imported with ``hotspots postcodes import`` into an offline index
  that the runs use (``--postcodes``). The index holds only those postcodes (a national one
  has 2.7 million: ``benchmarks/postcode_import.py`` measures that import and its look-ups).

Then, each in a fresh subprocess so that peak memory is its own:

- ``ours``: the analysis in process, stage by stage (wall time and peak RSS sampled every
  5 ms): boundaries, read, validate (which geocodes), areas, homes, hotspots, tables, the
  tables and xlsx, the map. It leaves out interpreter start-up, imports, disclosure control,
  the evidence, the report and run.json;
- ``CLI``: the real ``hotspots run EPISODES --homes HOMES --out DIR --verbose`` (plus
  ``--postcodes INDEX``), wall time and peak RSS of the whole process (``getrusage`` of an
  intermediate process whose only child it is), with its own per-step timings (the
  ``Timings (s):`` line of ``--verbose``);
- ``floor``: pandas reading the same CSV (``pd.read_csv(path, dtype=str)``), nothing else;
- ``naive``: all points to ``geopandas.sjoin``, DBSCAN on every episode, one Folium marker per
  episode, where it fits (DBSCAN on all points is skipped above 100k: it exhausts memory; the
  markers above 10k: about a minute per 100k). Not for ``postcode``: it has no coordinates.

It prints markdown: the machine, per-run tables, a summary with ratios (ours / floor,
CLI / floor, naive / ours), the issue's target (1M episodes with coordinates end to end
within 15 s and 2 GiB), and the growth exponent of each stage between the two largest sizes
(log t2/t1 / log n2/n1; 1 is linear, 1.1 about n log n). Whatever is skipped, to keep the
whole run within ``--budget`` seconds (default 570), is said so. Without ``--out`` the data go
to a temporary folder that is deleted at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("repeat", "distinct", "postcode")
PACKAGES = ("pandas", "numpy", "scikit-learn", "geopandas", "shapely", "pyproj", "folium")
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
TARGET_N, TARGET_S, TARGET_MIB = 1_000_000, 15.0, 2048.0
MAP_MB = "map.html MB"

Rows = list[dict[str, Any]]


# --- measuring ------------------------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Meter:
    """Wall time and peak RSS per stage; RSS is sampled every 5 ms by a thread."""

    def __init__(self) -> None:
        self.rows: Rows = []
        self._peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_mib())
            time.sleep(0.005)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._peak = _rss_mib()
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self._peak = max(self._peak, _rss_mib())
        self.rows.append({"stage": name, "seconds": seconds, "peak_rss_mib": self._peak})

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# --- the children (each runs in its own process) ----------------------------------------------


def _child_ours(csv_path: Path, homes: Path | None, out_dir: Path,
                postcodes: Path | None) -> Rows:
    from boundaries import bundled_boundaries
    from geo.episodes import read_table
    from geo.output import write_tables
    from geo.pipeline import AnalysisConfig, analyse
    from geo.postcodes import load_postcode_index
    from maps.render import MapContext, write_map

    meter = Meter()
    with meter.stage("boundaries"):
        bset = bundled_boundaries()
    with meter.stage("read"):
        table = read_table(csv_path)
        homes_table = read_table(homes, what="homes register") if homes else None
    index = None
    if postcodes is not None:
        with meter.stage("postcode index"):
            index = load_postcode_index(postcodes)

    # analyse() reports its own steps; time each by hooking the progress callback
    current: list[Any] = []

    def progress(message: str) -> None:
        if current:
            current[0].__exit__(None, None, None)
            current.clear()
        name = message.split(" ")[0].lower()
        ctx = meter.stage({"validating": "validate", "assigning": "areas",
                           "finding": "hotspots", "reading": "homes",
                           "summarising": "tables", "comparing": "compare"}.get(name, name))
        ctx.__enter__()
        current.append(ctx)

    result = analyse(table, wards=bset.wards, config=AnalysisConfig(), homes_table=homes_table,
                     postcodes=index, progress=progress)
    if current:
        current[0].__exit__(None, None, None)
    with meter.stage("write tables+xlsx"):
        write_tables(result, out_dir)
    with meter.stage("map"):
        context = MapContext(wards=bset.wards, lpas=bset.lpas, attribution=bset.attribution,
                             boundary_name=bset.name, boundary_vintage=bset.vintage)
        path = write_map(result, context, out_dir / "map.html")
    meter.close()
    rows = meter.rows
    rows.append({"stage": MAP_MB, "seconds": path.stat().st_size / 1e6,
                 "peak_rss_mib": float("nan")})
    return rows


def _child_floor(csv_path: Path) -> Rows:
    import pandas as pd

    meter = Meter()
    with meter.stage("pandas read_csv"):
        pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    meter.close()
    return meter.rows


def _child_naive(csv_path: Path, out_dir: Path, do_dbscan: bool, do_markers: bool) -> Rows:
    import folium
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from sklearn.cluster import DBSCAN

    from boundaries import bundled_boundaries

    meter = Meter()
    wards = bundled_boundaries().wards
    with meter.stage("read"):
        frame = pd.read_csv(csv_path)
    with meter.stage("sjoin all points"):
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat),
                                  crs="EPSG:4326")
        joined = gpd.sjoin(points, wards, how="left", predicate="within")
    if do_dbscan:
        with meter.stage("DBSCAN all episodes"):
            xy = np.column_stack([joined.geometry.to_crs(27700).x, joined.geometry.to_crs(27700).y])
            DBSCAN(eps=250, min_samples=5).fit(xy)
    if do_markers:
        with meter.stage("one marker per episode"):
            m = folium.Map(tiles=None)
            for lat, lon in zip(frame.lat, frame.lon, strict=True):
                folium.CircleMarker([lat, lon], radius=2).add_to(m)
            m.save(str(out_dir / "naive.html"))
    meter.close()
    return meter.rows


def _hotspots_cmd() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m cli``."""
    script = Path(sys.executable).with_name("hotspots")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _parse_timings(stderr: str) -> dict[str, float]:
    """``Timings (s): read 3.25, validate 4.32, write tables 1.10`` -> {stage: seconds}."""
    prefix = "Timings (s):"
    line = next((x for x in stderr.splitlines() if x.startswith(prefix)), "")
    steps: dict[str, float] = {}
    for part in line[len(prefix):].split(","):
        name, _, value = part.strip().rpartition(" ")
        if name:
            try:
                steps[name] = float(value)
            except ValueError:
                continue
    return steps


def _child_cli(csv_path: Path, homes: Path, out_dir: Path,
               postcodes: Path | None) -> dict[str, Any]:
    """Run the real CLI as this process's only child; its peak RSS is RUSAGE_CHILDREN's."""
    import resource

    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [*_hotspots_cmd(), "run", str(csv_path), "--homes", str(homes), "--out", str(out_dir),
           "--verbose"]
    if postcodes is not None:
        cmd += ["--postcodes", str(postcodes)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env(), check=False)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    sizes = {p.name: p.stat().st_size / 1e6 for p in out_dir.rglob("*") if p.is_file()} \
        if out_dir.is_dir() else {}
    return {
        "wall": wall, "peak_rss_mib": peak, "returncode": done.returncode,
        "timings": _parse_timings(done.stderr),
        "summary": done.stdout.strip().splitlines()[:2],
        "error": None if done.returncode == 0 else "\n".join(done.stderr.strip().splitlines()[-3:]),
        "outputs_mb": {k: sizes[k] for k in ("map.html", "report.html") if k in sizes}
        | {"all files": sum(sizes.values())},
    }


def _in_child(kind: str, *args: str) -> Any:
    """Run one child of this script; its JSON result, or {"error": ...} if it failed."""
    cmd = [sys.executable, __file__, "--child", kind, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {"error": f"{kind} failed: {tail[0]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- data ----------------------------------------------------------------------------------


def _postcode_names(count: int) -> list[str]:
    """`count` distinct well-formed synthetic postcodes: OX1 0AA, OX2 0AA, ..."""
    letters = UNIT_LETTERS
    capacity = 49 * 10 * len(letters) ** 2
    if count > capacity:
        msg = f"{count:,} locations need more synthetic postcodes than {capacity:,}"
        raise ValueError(msg)
    out = []
    for i in range(count):
        unit = i // 490
        out.append(f"OX{1 + i % 49} {i // 49 % 10}"
                   f"{letters[unit // len(letters)]}{letters[unit % len(letters)]}")
    return out


def _write_postcode_variant(episodes: Any, folder: Path) -> tuple[Path, Path, int]:
    """Episodes CSV with `postcode` instead of lat/lon, and the `postcode,lat,lon` lookup."""
    import numpy as np
    import pandas as pd

    lat, lon = episodes["lat"].to_numpy(float), episodes["lon"].to_numpy(float)
    key = (np.round(lat * 1e6).astype(np.int64) << 32) + (np.round(lon * 1e6).astype(np.int64)
                                                           & 0xFFFFFFFF)
    codes, uniques = pd.factorize(key)
    names = np.asarray(_postcode_names(len(uniques)), dtype=object)
    _, first = np.unique(codes, return_index=True)  # first row of each location
    lookup = pd.DataFrame({"postcode": names, "lat": lat[first], "lon": lon[first]})
    lookup_path = folder / "postcodes.csv"
    lookup.to_csv(lookup_path, index=False, lineterminator="\n", float_format="%.6f")
    sloppy = np.asarray([n.replace(" ", "").lower() for n in names], dtype=object)
    column = np.where(np.arange(len(codes)) % 10 == 0, sloppy[codes], names[codes])
    frame = episodes.drop(columns=["lat", "lon"])
    frame.insert(list(episodes.columns).index("lat"), "postcode", column)
    path = folder / "episodes.csv"
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path, lookup_path, len(uniques)


@dataclass
class Inputs:
    episodes: Path
    homes: Path
    postcodes: Path | None = None
    notes: list[str] = field(default_factory=list)


def _generate(n: int, variant: str, folder: Path) -> Inputs:
    from boundaries import bundled_boundaries
    from geo.synth import generate_synthetic, write_synthetic

    data = generate_synthetic(bundled_boundaries().wards, seed=11, n_episodes=n,
                              distinct_locations=variant == "distinct")
    paths = write_synthetic(data, folder)
    if variant != "postcode":
        return Inputs(paths["episodes"], paths["homes"])
    episodes, lookup, count = _write_postcode_variant(data.episodes, folder)
    index = folder / "postcodes.npz"
    index.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run([*_hotspots_cmd(), "postcodes", "import", str(lookup), "--into",
                           str(index), "--quiet"], capture_output=True, text=True, cwd=ROOT,
                          env=_env(), check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        msg = f"hotspots postcodes import {lookup} failed"
        raise RuntimeError(msg)
    note = (f"postcode index: {count:,} synthetic postcodes imported by `hotspots postcodes "
            f"import` in {time.perf_counter() - start:.1f} s (process included), "
            f"{index.stat().st_size / 1e6:.2f} MB")
    return Inputs(episodes, paths["homes"], index, [note])


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    variant: str
    n: int
    ours: Rows | dict[str, Any]
    cli: dict[str, Any]
    floor: Rows | dict[str, Any]
    naive: Rows | dict[str, Any]
    notes: list[str] = field(default_factory=list)


def _meminfo() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in fh)}
        return (f"{info['MemTotal'] / 2**20:.1f} GiB RAM "
                f"({info['MemAvailable'] / 2**20:.1f} GiB available)")
    except (OSError, KeyError, ValueError):
        return "RAM unknown"


def _git() -> str:
    def out(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = out("rev-parse", "--short", "HEAD")
    dirty = len(out("status", "--porcelain", "--untracked-files=no").splitlines())
    if not head:
        return "not a git checkout"
    return f"commit {head}" + (f" with {dirty} modified tracked file(s)" if dirty else "")


def _machine() -> str:
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"Machine: {platform.platform()}; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, {_meminfo()}; load average {load} at the start.\n"
            f"Python {platform.python_version()} ({platform.python_implementation()}); "
            f"{', '.join(versions)}.\n"
            f"Code: {_git()}.")


def _estimate(n: int) -> float:
    """Rough seconds for one size (generate, ours, CLI, floor) on a busy 2-core machine."""
    return 15.0 + n * 9e-5


def _naive_plan(n: int, elapsed: float, budget: float,
                to_go: float) -> tuple[bool, bool, list[str]]:
    """Which naive stages to run, and why the others are skipped."""
    skipped = []
    do_dbscan, do_markers = n <= 100_000, n <= 10_000
    if not do_dbscan:
        skipped.append("naive DBSCAN on all episodes (above 100k it exhausts memory)")
    if not do_markers:
        skipped.append("naive one marker per episode (above 10k: about a minute per 100k)")
    # the naive read + sjoin take ~10 s at 1M: the first thing to go when the budget is tight
    if elapsed + n * 1.5e-5 + to_go > budget:
        skipped.append(f"the whole naive pipeline (time budget: {elapsed:.0f} s used of "
                       f"{budget:.0f} s, about {to_go:.0f} s of runs to go)")
        return False, False, skipped
    return do_dbscan, do_markers, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the data and outputs here (default: a temporary folder, "
                        "deleted at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--budget", type=float, default=570.0,
                        help="seconds for the whole benchmark; optional parts (the naive "
                        "pipeline at 1M) are skipped when it is tight (default: 570)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        _run_child(ns.child, ns.args)
        return

    sizes = [int(s) for s in ns.sizes.split(",")]
    variants = ns.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    work = ns.out or Path(tempfile.mkdtemp(prefix="hotspots-bench-"))
    started = time.perf_counter()
    print(_machine())
    print(f"Work folder {work}" + ("" if ns.out or ns.keep else " (deleted at the end)")
          + f"; time budget {ns.budget:.0f} s.\n")
    sys.stdout.flush()
    runs: dict[tuple[str, int], Run] = {}
    todo = [(v, n) for v in variants for n in sizes]
    try:
        for i, (variant, n) in enumerate(todo):
            folder = work / f"{variant}-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            inputs = _generate(n, variant, folder)
            print(f"generated {variant} {n:,} in {time.perf_counter() - t0:.1f} s "
                  f"({inputs.episodes.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
            pcs = [str(inputs.postcodes)] if inputs.postcodes else []
            ours = _in_child("ours", str(inputs.episodes), str(inputs.homes),
                             str(folder / "out"), *pcs)
            cli = _in_child("cli", str(inputs.episodes), str(inputs.homes),
                            str(folder / "cli-out"), *pcs)
            floor = _in_child("floor", str(inputs.episodes))
            notes = list(inputs.notes)
            if variant == "postcode":
                naive: Rows | dict[str, Any] = {"na": "n/a: the episodes have postcodes only"}
            else:
                to_go = sum(_estimate(m) for _, m in todo[i + 1:])
                dbscan, markers, skipped = _naive_plan(
                    n, time.perf_counter() - started, ns.budget, to_go)
                notes += [f"skipped: {s}" for s in skipped]
                if any("whole naive" in s for s in skipped):
                    naive = {"na": "skipped (time budget)"}
                else:
                    naive = _in_child("naive", str(inputs.episodes), str(folder),
                                      str(int(dbscan)), str(int(markers)))
            run = Run(variant, n, ours, cli, floor, naive, notes)
            runs[(variant, n)] = run
            _print_run(run)
        _print_summary(runs, sizes, variants)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nTotal benchmark wall time {time.perf_counter() - started:.0f} s "
              f"(budget {ns.budget:.0f} s); load average {load} at the end.")
    finally:
        if ns.out is None and not ns.keep:
            shutil.rmtree(work, ignore_errors=True)


def _run_child(kind: str, args: list[str]) -> None:
    def opt(i: int) -> Path | None:
        return Path(args[i]) if len(args) > i else None

    runners: dict[str, Callable[[], Any]] = {
        "ours": lambda: _child_ours(Path(args[0]), Path(args[1]), Path(args[2]), opt(3)),
        "cli": lambda: _child_cli(Path(args[0]), Path(args[1]), Path(args[2]), opt(3)),
        "floor": lambda: _child_floor(Path(args[0])),
        "naive": lambda: _child_naive(Path(args[0]), Path(args[1]), args[2] == "1",
                                      args[3] == "1"),
    }
    print(json.dumps(runners[kind]()))


# --- printing ----------------------------------------------------------------------------------


def _fmt(value: object, digits: int = 2) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.{digits}f}"
    return str(value)


def _ok(rows: Rows | dict[str, Any]) -> bool:
    return isinstance(rows, list)


def _why(rows: Rows | dict[str, Any]) -> str:
    assert isinstance(rows, dict)
    return str(rows.get("error") or rows.get("na") or "n/a")


def _total(rows: Rows | dict[str, Any]) -> float:
    if not isinstance(rows, list):
        return float("nan")
    return sum(float(r["seconds"]) for r in rows
               if r["stage"] != MAP_MB and not math.isnan(float(r["seconds"])))


def _peak(rows: Rows | dict[str, Any]) -> float:
    if not isinstance(rows, list):
        return float("nan")
    values = [float(r["peak_rss_mib"]) for r in rows]
    values = [v for v in values if not math.isnan(v)]
    return max(values) if values else float("nan")


def _cli_ok(cli: dict[str, Any]) -> bool:
    return not cli.get("error") and "wall" in cli


def _ratio(a: float, b: float) -> str:
    return "n/a" if math.isnan(a) or math.isnan(b) or b <= 0 else f"{a / b:.1f}"


def _print_run(run: Run) -> None:
    print(f"\n### {run.variant}, {run.n:,} episodes\n")
    for note in run.notes:
        print(f"- {note}")
    if run.notes:
        print()
    print("In process, stage by stage (peak RSS per stage), with the floor and the naive "
          "pipeline:\n")
    print("| pipeline | stage | seconds | peak RSS MiB |")
    print("|---|---|---:|---:|")
    for kind, rows in (("ours", run.ours), ("floor", run.floor), ("naive", run.naive)):
        if not isinstance(rows, list):
            print(f"| {kind} | {_why(rows)} | n/a | n/a |")
            continue
        for row in rows:
            if row["stage"] == MAP_MB:
                print(f"| {kind} | map.html size | {_fmt(row['seconds'])} MB | |")
                continue
            print(f"| {kind} | {row['stage']} | {_fmt(row['seconds'])} | "
                  f"{_fmt(row['peak_rss_mib'], 0)} |")
        print(f"| **{kind}** | **total** | **{_fmt(_total(rows))}** | "
              f"**{_fmt(_peak(rows), 0)}** |")
    cli = run.cli
    print("\n`hotspots run --verbose` in a fresh process (its own `Timings (s):`; peak RSS of "
          "the whole process):\n")
    if "wall" not in cli:
        print(f"CLI: {_why(cli)}")
        sys.stdout.flush()
        return
    if cli.get("error"):
        print(f"**CLI failed (exit {cli['returncode']})**: `{cli['error']}`\n")
    print("| stage | seconds | share |")
    print("|---|---:|---:|")
    wall = float(cli["wall"])
    timings: dict[str, float] = cli["timings"]
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.2f} | {seconds / wall:.0%} |")
    rest = wall - sum(timings.values())
    print(f"| start-up, imports, exit (wall - stages) | {rest:.2f} | {rest / wall:.0%} |")
    print(f"| **total (wall)** | **{wall:.2f}** | peak RSS **{cli['peak_rss_mib']:,.0f} MiB** |")
    outputs = ", ".join(f"{k} {v:.2f}" for k, v in cli["outputs_mb"].items())
    print(f"\nOutputs (MB): {outputs}.")
    if cli["summary"]:
        print("CLI says: " + " ".join(cli["summary"]))
    sys.stdout.flush()


def _naive_text(rows: Rows | dict[str, Any]) -> str:
    if not isinstance(rows, list):
        return _why(rows)
    ran = [str(r["stage"]) for r in rows]
    return f"{_total(rows):.2f} ({', '.join(ran)})"


def _print_summary(runs: dict[tuple[str, int], Run], sizes: list[int],
                   variants: list[str]) -> None:
    print("\n### Summary\n")
    print("ours = in process, without start-up, evidence, report and run.json; CLI = the whole "
          "`hotspots run`; floor = pandas read_csv of the same file.\n")
    print("| variant | episodes | ours s | ours peak MiB | CLI s | CLI peak MiB | floor s |"
          " ours/floor | CLI/floor | naive s (what ran) | naive/ours | map.html MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for variant in variants:
        for n in sizes:
            run = runs.get((variant, n))
            if run is None:
                continue
            ours, floor, naive = _total(run.ours), _total(run.floor), _total(run.naive)
            cli_s = float(run.cli["wall"]) if _cli_ok(run.cli) else float("nan")
            cli_mib = float(run.cli["peak_rss_mib"]) if _cli_ok(run.cli) else float("nan")
            size = next((float(r["seconds"]) for r in run.ours if r["stage"] == MAP_MB),
                        float("nan")) if isinstance(run.ours, list) else float("nan")
            print(f"| {variant} | {n:,} | {_fmt(ours) or 'failed'} | {_fmt(_peak(run.ours), 0)} | "
                  f"{_fmt(cli_s) or 'failed'} | {_fmt(cli_mib, 0)} | {_fmt(floor) or 'n/a'} | "
                  f"{_ratio(ours, floor)} | {_ratio(cli_s, floor)} | {_naive_text(run.naive)} | "
                  f"{_ratio(naive, ours)} | {_fmt(size)} |")
    _print_target(runs, variants)
    if len(sizes) >= 2:
        _print_exponents(runs, sizes[-2], sizes[-1], variants)


def _print_target(runs: dict[tuple[str, int], Run], variants: list[str]) -> None:
    lines = []
    for variant in variants:
        run = runs.get((variant, TARGET_N))
        if run is None or variant == "postcode":
            continue
        if not _cli_ok(run.cli):
            lines.append(f"- {variant}: CLI failed")
            continue
        wall, mib = float(run.cli["wall"]), float(run.cli["peak_rss_mib"])
        lines.append(f"- {variant}: {wall:.1f} s ({'met' if wall <= TARGET_S else 'missed'}), "
                     f"{mib:,.0f} MiB ({'met' if mib <= TARGET_MIB else 'missed'})")
    if lines:
        print(f"\nTarget: {TARGET_N:,} episodes with coordinates, `hotspots run` end to end "
              f"within {TARGET_S:.0f} s and {TARGET_MIB / 1024:.0f} GiB:\n")
        print("\n".join(lines))


def _stage_seconds(run: Run | None) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"ours": {}, "CLI": {}}
    if run is None:
        return out
    if isinstance(run.ours, list):
        out["ours"] = {str(r["stage"]): float(r["seconds"]) for r in run.ours
                       if r["stage"] != MAP_MB}
        out["ours"]["total"] = _total(run.ours)
    if _cli_ok(run.cli):
        out["CLI"] = dict(run.cli["timings"])
        out["CLI"]["total (wall)"] = float(run.cli["wall"])
    return out


def _print_exponents(runs: dict[tuple[str, int], Run], n1: int, n2: int,
                     variants: list[str]) -> None:
    print(f"\n### Growth exponent per stage, {n1:,} -> {n2:,} episodes "
          "(1.0 linear, ~1.1 n log n; stages under 0.05 s at the smaller size left out)\n")
    print("| variant | pipeline | stage | s at smaller | s at larger | exponent |")
    print("|---|---|---|---:|---:|---:|")
    for variant in variants:
        a, b = _stage_seconds(runs.get((variant, n1))), _stage_seconds(runs.get((variant, n2)))
        for kind in ("ours", "CLI"):
            for stage, t1 in a[kind].items():
                t2 = b[kind].get(stage, float("nan"))
                if t1 < 0.05 or math.isnan(t1) or math.isnan(t2) or t2 <= 0:
                    continue
                exp = math.log(t2 / t1) / math.log(n2 / n1)
                print(f"| {variant} | {kind} | {stage} | {t1:.2f} | {t2:.2f} | {exp:.2f} |")


if __name__ == "__main__":
    main()
