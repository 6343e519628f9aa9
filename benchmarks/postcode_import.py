"""Benchmark `hotspots postcodes import` on a synthetic, ONSPD-shaped CSV.

    .venv/bin/python benchmarks/postcode_import.py [--rows 2700000] [--dir /tmp/hotspots-bench]

Writes a CSV shaped like the national ONS Postcode Directory (52 columns, ~1 GB for 2.7 million
rows; about a third of the postcodes terminated, 0.5% without a grid reference, some Northern
Ireland postcodes), keeps it in --dir for the next run, then imports it in a fresh process
(so that the peak RSS is the import's own) and prints: rows, file size, import seconds, peak
RSS, index size, index load time and the time to look up 1 million postcodes (full postcodes
in mixed case and spacing, with some sectors, districts, unknown and malformed ones).
All data are synthetic: random postcodes and positions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = (
    "pcd pcd2 pcds dointr doterm oscty ced oslaua osward parish usertype oseast1m osnrth1m "
    "osgrdind oshlthau nhser ctry rgn streg pcon eer teclec ttwa pct itl statsward oa01 "
    "casward npark lsoa01 msoa01 ur01ind oac01 oa11 lsoa11 msoa11 wz11 sicbl bua22 pfa "
    "ru11ind oac11 lat long lep1 lep2 imd calncv icb oa21 lsoa21 msoa21"
).split()
AREAS = (
    "AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT "
    "DY E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL "
    "LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL "
    "SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE"
).split()
UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
DISTRICTS_PER_AREA = 24
SECTORS_PER_DISTRICT = 4


def _s(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.dtypes.StringDType())


def _decimal(micro: np.ndarray) -> np.ndarray:
    """Integer millionths -> text with six decimals (vectorised)."""
    sign = np.where(micro < 0, "-", "")
    whole, frac = np.divmod(np.abs(micro), 1_000_000)
    return _s(sign) + _s(whole.astype(str)) + "." + np.strings.zfill(_s(frac.astype(str)), 6)


def generate(path: Path, rows: int, seed: int = 2024) -> None:
    """A synthetic ONSPD-shaped CSV with `rows` unique postcodes."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    n_districts = len(AREAS) * DISTRICTS_PER_AREA
    n_sectors = n_districts * SECTORS_PER_DISTRICT
    candidates = n_sectors * len(UNIT_LETTERS) ** 2
    if rows > candidates:
        raise SystemExit(f"at most {candidates:,} rows")
    pick = np.sort(rng.choice(candidates, size=rows, replace=False))
    sector, unit = np.divmod(pick, len(UNIT_LETTERS) ** 2)
    district, sector_no = np.divmod(sector, SECTORS_PER_DISTRICT)
    area, district_no = np.divmod(district, DISTRICTS_PER_AREA)
    digit = (district_no * 3 + sector_no * 2) % 10
    outward = _s(np.asarray(AREAS)[area]) + _s((district_no + 1).astype(str))
    inward = (
        _s(digit.astype(str))
        + _s(UNIT_LETTERS[unit // len(UNIT_LETTERS)])
        + _s(UNIT_LETTERS[unit % len(UNIT_LETTERS)])
    )
    pcds = outward + " " + inward
    pcd = np.strings.ljust(outward, 4) + inward  # 7 characters, ONSPD `pcd`
    pcd2 = np.strings.ljust(outward, 5) + inward  # 8 characters, ONSPD `pcd2`
    d_e = rng.uniform(150_000, 650_000, n_districts)
    d_n = rng.uniform(20_000, 1_000_000, n_districts)
    s_off = rng.normal(0, 2_000, (n_sectors, 2))
    east = np.rint(d_e[district] + s_off[sector, 0] + rng.normal(0, 300, rows)).astype(np.int64)
    north = np.rint(d_n[district] + s_off[sector, 1] + rng.normal(0, 300, rows)).astype(np.int64)
    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(
        east, north
    )
    lat_t, lon_t = (
        _decimal(np.rint(lat * 1e6).astype(np.int64)),
        _decimal(np.rint(lon * 1e6).astype(np.int64)),
    )
    no_ref = rng.random(rows) < 0.005
    lat_t[no_ref], lon_t[no_ref] = "99.999999", "0.000000"
    east_t, north_t = _s(east.astype(str)), _s(north.astype(str))
    east_t[no_ref] = north_t[no_ref] = ""
    year = rng.integers(1980, 2025, rows)
    dointr = _s(year.astype(str)) + np.strings.zfill(_s(rng.integers(1, 13, rows).astype(str)), 2)
    terminated = rng.random(rows) < 0.35
    doterm = np.where(terminated, _s(np.minimum(year + 5, 2025).astype(str)) + "06", _s(""))
    # The administrative codes depend on the district only: one pre-joined text per district.
    code = np.arange(n_districts)

    def codes(k: int, blank: tuple[int, ...] = ()) -> np.ndarray:
        """k comma-separated GSS-like codes (``E0` + 7 digits), some columns left blank."""
        parts = [
            _s("") if j in blank else _s(f"E{j % 10}") + _s((1_000_000 + code * 7 + j).astype(str))
            for j in range(k)
        ]
        out = parts[0]
        for p in parts[1:]:
            out = out + "," + p
        return out

    before = codes(5)  # oscty ced oslaua osward parish
    middle = codes(28, blank=(11, 13, 14, 26, 27))  # oshlthau .. oac11 (a few blank, as in ONSPD)
    after = codes(8, blank=(1, 3))  # lep1 .. msoa21
    usertype = _s(rng.integers(0, 2, rows).astype(str))
    with path.open("w", encoding="ascii", newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        block = 200_000
        for lo in range(0, rows, block):
            sl = slice(lo, lo + block)
            d = district[sl]
            line = (
                pcd[sl] + "," + pcd2[sl] + "," + pcds[sl] + "," + dointr[sl] + "," + doterm[sl]
                + "," + before[d] + "," + usertype[sl] + "," + east_t[sl] + ","
                + north_t[sl] + ",1," + middle[d] + "," + lat_t[sl] + "," + lon_t[sl] + ","
                + after[d]
            )  # fmt: skip
            fh.write("\n".join(line.tolist()))
            fh.write("\n")


def measure(csv_path: Path, out_dir: Path, lookups: int) -> dict[str, float | int | str]:
    """Import, load and look up, in this (fresh) process."""
    import pandas as pd

    from geo.postcodes import import_postcodes, load_postcode_index

    index_path = out_dir / "postcodes.npz"
    t0 = time.perf_counter()
    summary = import_postcodes(csv_path, index_path)
    import_s = time.perf_counter() - t0
    rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    index = load_postcode_index(index_path)
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(7)
    full = index.postcodes[rng.integers(0, len(index), lookups)].astype(str).astype(object)
    style = rng.random(lookups)
    full[style < 0.2] = [p.lower() for p in full[style < 0.2]]
    full[(style >= 0.2) & (style < 0.3)] = [
        p.replace(" ", "") for p in full[(style >= 0.2) & (style < 0.3)]
    ]
    sectors = index.sectors[rng.integers(0, len(index.sectors), lookups)].astype(str)
    districts = index.districts[rng.integers(0, len(index.districts), lookups)].astype(str)
    full[(style >= 0.3) & (style < 0.32)] = sectors[(style >= 0.3) & (style < 0.32)]
    full[(style >= 0.32) & (style < 0.33)] = districts[(style >= 0.32) & (style < 0.33)]
    full[(style >= 0.33) & (style < 0.34)] = "ZZ99 9ZZ"
    full[(style >= 0.34) & (style < 0.35)] = "not a postcode"
    queries = pd.Series(full, dtype="str")
    times = []
    for _ in range(3):  # the machine may be busy: report the first run and the best of three
        t0 = time.perf_counter()
        result = index.lookup(queries)
        times.append(time.perf_counter() - t0)
    status = result["status"].value_counts().to_dict()
    return {
        "imported": summary.imported,
        "skipped": json.dumps(summary.skipped),
        "terminated": summary.terminated,
        "sectors": summary.sectors,
        "districts": summary.districts,
        "import_s": round(import_s, 2),
        "peak_rss_import_mb": round(rss_import),
        "index_mb": round(index_path.stat().st_size / 1e6, 1),
        "load_s": round(load_s, 2),
        "lookups": lookups,
        "lookup_s": round(times[0], 2),
        "lookup_best_s": round(min(times), 2),
        "lookup_status": json.dumps(status),
        "peak_rss_total_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_700_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/hotspots-bench"))
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dir, args.lookups)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.dir / f"onspd_synthetic_{args.rows}.csv"
    if not csv_path.exists():
        print(f"generating {csv_path} ...", flush=True)
        t0 = time.perf_counter()
        tmp = csv_path.with_suffix(".tmp")
        generate(tmp, args.rows)
        tmp.replace(csv_path)
        print(f"  generated in {time.perf_counter() - t0:.1f} s", flush=True)
    child = subprocess.run(
        [sys.executable, __file__, "--measure", str(csv_path), "--dir", str(args.dir),
         "--lookups", str(args.lookups)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"rows in CSV:        {args.rows:,}")
    print(f"CSV size:           {csv_path.stat().st_size / 1e6:,.0f} MB ({len(COLUMNS)} columns)")
    print(f"imported:           {result['imported']:,} (terminated {result['terminated']:,})")
    print(f"skipped:            {result['skipped']}")
    print(f"sectors, districts: {result['sectors']:,}, {result['districts']:,}")
    print(f"import time:        {result['import_s']} s")
    print(f"peak RSS (import):  {result['peak_rss_import_mb']} MB")
    print(f"index size:         {result['index_mb']} MB")
    print(f"index load time:    {result['load_s']} s")
    print(
        f"lookup {result['lookups']:,}:    {result['lookup_s']} s (best of 3: "
        f"{result['lookup_best_s']} s)  {result['lookup_status']}"
    )
    print(f"peak RSS (all):     {result['peak_rss_total_mb']} MB")


if __name__ == "__main__":
    main()
