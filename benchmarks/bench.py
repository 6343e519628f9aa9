"""End-to-end benchmark of `hotspots run`, with the naive pipeline and the floor in the same run.

Usage: ``python benchmarks/bench.py [--sizes 10000,100000,1000000] [--out DIR]`` (``make bench``).

For each size and variant (``repeat``: most episodes share a few thousand addresses, as in real
data; ``distinct``: every location different, the hardest case for DBSCAN) it writes a
synthetic episodes CSV, then, each in a fresh subprocess so peak memory is its own:

- ``ours``: the whole `hotspots run` pipeline, stage by stage (wall time and peak RSS);
- ``floor``: pandas reading the same CSV (``pd.read_csv(path, dtype=str)``), nothing else;
- ``naive``: all points to ``geopandas.sjoin``, DBSCAN on every episode, one Folium marker per
  episode, where it fits (DBSCAN on all points is skipped above 100k: it exhausts memory; the
  markers above 10k: about a minute per 100k).

It prints markdown tables: per-stage figures, ratios (ours / floor, naive / ours) and the
growth exponent of each stage between the two largest sizes (log t2/t1 / log n2/n1; 1 is
linear, 1.1 about n log n).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Meter:
    """Wall time and peak RSS per stage; RSS is sampled every 5 ms by a thread."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
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


def _child_ours(csv_path: Path, homes: Path | None, out_dir: Path) -> list[dict[str, object]]:
    from boundaries import bundled_boundaries
    from geo.episodes import read_table
    from geo.output import write_tables
    from geo.pipeline import AnalysisConfig, analyse
    from maps.render import MapContext, write_map

    meter = Meter()
    with meter.stage("boundaries"):
        bset = bundled_boundaries()
    with meter.stage("read"):
        table = read_table(csv_path)
        homes_table = read_table(homes, what="homes register") if homes else None

    # analyse() reports its own steps; time each by hooking the progress callback
    current: list[object] = []

    def progress(message: str) -> None:
        if current:
            current[0].__exit__(None, None, None)  # type: ignore[attr-defined]
            current.clear()
        name = message.split(" ")[0].lower()
        ctx = meter.stage({"validating": "validate", "assigning": "areas",
                           "finding": "hotspots", "reading": "homes",
                           "summarising": "tables"}.get(name, name))
        ctx.__enter__()
        current.append(ctx)

    result = analyse(table, wards=bset.wards, config=AnalysisConfig(), homes_table=homes_table,
                     progress=progress)
    if current:
        current[0].__exit__(None, None, None)  # type: ignore[attr-defined]
    with meter.stage("write tables+xlsx"):
        write_tables(result, out_dir)
    with meter.stage("map"):
        context = MapContext(wards=bset.wards, lpas=bset.lpas, attribution=bset.attribution,
                             boundary_name=bset.name, boundary_vintage=bset.vintage)
        path = write_map(result, context, out_dir / "map.html")
    meter.close()
    rows = meter.rows
    rows.append({"stage": "map.html MB", "seconds": path.stat().st_size / 1e6,
                 "peak_rss_mib": float("nan")})
    return rows


def _child_floor(csv_path: Path) -> list[dict[str, object]]:
    import pandas as pd

    meter = Meter()
    with meter.stage("pandas read_csv"):
        pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    meter.close()
    return meter.rows


def _child_naive(csv_path: Path, out_dir: Path) -> list[dict[str, object]]:
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
    n = len(frame)
    with meter.stage("sjoin all points"):
        points = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat),
                                  crs="EPSG:4326")
        joined = gpd.sjoin(points, wards, how="left", predicate="within")
    if n <= 100_000:
        with meter.stage("DBSCAN all episodes"):
            xy = np.column_stack([joined.geometry.to_crs(27700).x, joined.geometry.to_crs(27700).y])
            DBSCAN(eps=250, min_samples=5).fit(xy)
    else:
        meter.rows.append({"stage": "DBSCAN all episodes", "seconds": float("nan"),
                           "peak_rss_mib": float("nan"), "note": "skipped: > 12 GiB"})
    if n <= 10_000:
        with meter.stage("one marker per episode"):
            m = folium.Map(tiles=None)
            for lat, lon in zip(frame.lat, frame.lon, strict=True):
                folium.CircleMarker([lat, lon], radius=2).add_to(m)
            m.save(str(out_dir / "naive.html"))
    else:
        meter.rows.append({"stage": "one marker per episode", "seconds": float("nan"),
                           "peak_rss_mib": float("nan"), "note": "skipped: ~1 min per 100k"})
    meter.close()
    return meter.rows


def _generate(n: int, variant: str, folder: Path) -> tuple[Path, Path]:
    from boundaries import bundled_boundaries
    from geo.synth import generate_synthetic, write_synthetic

    data = generate_synthetic(bundled_boundaries().wards, seed=11, n_episodes=n,
                              distinct_locations=variant == "distinct")
    paths = write_synthetic(data, folder)
    return paths["episodes"], paths["homes"]


def _in_child(kind: str, *args: str) -> list[dict[str, object]]:
    cmd = [sys.executable, __file__, "--child", kind, *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        msg = f"benchmark child {kind} failed"
        raise RuntimeError(msg)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fmt(value: object, digits: int = 2) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.{digits}f}"
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--variants", default="repeat,distinct")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        runners: dict[str, Callable[..., list[dict[str, object]]]] = {
            "ours": lambda c, h, o: _child_ours(Path(c), Path(h), Path(o)),
            "floor": lambda c: _child_floor(Path(c)),
            "naive": lambda c, o: _child_naive(Path(c), Path(o)),
        }
        print(json.dumps(runners[ns.child](*ns.args)))
        return

    sizes = [int(s) for s in ns.sizes.split(",")]
    variants = ns.variants.split(",")
    work = ns.out or Path(tempfile.mkdtemp(prefix="hotspots-bench-"))
    print(f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; work folder {work}\n")
    results: dict[tuple[str, int], dict[str, list[dict[str, object]]]] = {}
    for variant in variants:
        for n in sizes:
            folder = work / f"{variant}-{n}"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            csv_path, homes = _generate(n, variant, folder)
            print(f"generated {variant} {n:,} in {time.perf_counter() - t0:.1f} s "
                  f"({csv_path.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)
            res = {
                "ours": _in_child("ours", str(csv_path), str(homes), str(folder / "out")),
                "floor": _in_child("floor", str(csv_path)),
                "naive": _in_child("naive", str(csv_path), str(folder)),
            }
            results[(variant, n)] = res
            _print_run(variant, n, res)
    _print_summary(results, sizes, variants)


def _total(rows: list[dict[str, object]]) -> float:
    return sum(float(r["seconds"]) for r in rows  # type: ignore[arg-type]
               if r["stage"] != "map.html MB" and not math.isnan(float(r["seconds"])))  # type: ignore[arg-type]


def _peak(rows: list[dict[str, object]]) -> float:
    values = [float(r["peak_rss_mib"]) for r in rows]  # type: ignore[arg-type]
    values = [v for v in values if not math.isnan(v)]
    return max(values) if values else float("nan")


def _print_run(variant: str, n: int, res: dict[str, list[dict[str, object]]]) -> None:
    print(f"\n### {variant}, {n:,} episodes\n")
    print("| pipeline | stage | seconds | peak RSS MiB |")
    print("|---|---|---:|---:|")
    for kind in ("ours", "floor", "naive"):
        for row in res[kind]:
            label = "MB" if row["stage"] == "map.html MB" else ""
            print(f"| {kind} | {row['stage']} | {_fmt(row['seconds'])}{label and ' MB'} | "
                  f"{_fmt(row['peak_rss_mib'], 0)} {row.get('note', '')}|")
        print(f"| **{kind}** | **total** | **{_fmt(_total(res[kind]))}** | "
              f"**{_fmt(_peak(res[kind]), 0)}** |")
    sys.stdout.flush()


def _print_summary(results: dict[tuple[str, int], dict[str, list[dict[str, object]]]],
                   sizes: list[int], variants: list[str]) -> None:
    print("\n### Summary\n")
    print("| variant | episodes | ours s | peak MiB | floor s | ours/floor | naive s (what ran) |"
          " naive/ours | map.html MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        for n in sizes:
            res = results[(variant, n)]
            ours, floor, naive = _total(res["ours"]), _total(res["floor"]), _total(res["naive"])
            ran = [r["stage"] for r in res["naive"] if not math.isnan(float(r["seconds"]))]  # type: ignore[arg-type]
            size = next(float(r["seconds"]) for r in res["ours"] if r["stage"] == "map.html MB")  # type: ignore[arg-type]
            print(f"| {variant} | {n:,} | {ours:.2f} | {_peak(res['ours']):,.0f} | {floor:.2f} | "
                  f"{ours / floor:.1f} | {naive:.2f} ({', '.join(map(str, ran))}) | "
                  f"{naive / ours:.1f} | {size:.2f} |")
    if len(sizes) >= 2:
        n1, n2 = sizes[-2], sizes[-1]
        print(f"\n### Growth exponent per stage, {n1:,} -> {n2:,} episodes "
              "(1.0 linear, ~1.1 n log n)\n")
        print("| variant | stage | exponent |")
        print("|---|---|---:|")
        for variant in variants:
            a = {r["stage"]: float(r["seconds"]) for r in results[(variant, n1)]["ours"]}  # type: ignore[arg-type]
            b = {r["stage"]: float(r["seconds"]) for r in results[(variant, n2)]["ours"]}  # type: ignore[arg-type]
            for stage, t1 in a.items():
                t2 = b.get(stage, float("nan"))
                if stage == "map.html MB" or t1 <= 0.005 or math.isnan(t2):
                    continue
                exp = math.log(t2 / t1) / math.log(n2 / n1)
                print(f"| {variant} | {stage} | {exp:.2f} |")


if __name__ == "__main__":
    main()
