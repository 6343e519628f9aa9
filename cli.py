"""`hotspots`: the command line. A thin shell over the `geo`, `boundaries` and `maps` packages.

Every user error (a `HotspotError`) is printed as one paragraph and exits with code 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

    from boundaries import BoundarySet
    from geo.episodes import Table
    from geo.output import Publication
    from geo.pipeline import AnalysisConfig, AnalysisResult
    from geo.postcodes import PostcodeIndex
    from geo.privacy import Audience
    from geo.validate import Period
    from maps.places import PlaceLabel

EXIT_USER_ERROR = 2

_EPILOG_RUN = """\
examples:
  hotspots run episodes.csv --out out
  hotspots run episodes.xlsx --sheet Episodes --homes homes.csv --period 2020-01-01:2020-06-30
  hotspots run episodes.csv --homes homes.csv --population pop_0_17.csv --out out
  hotspots run episodes.csv --period 2020-01-01:2020-06-30 --compare-period 2019-01-01:2019-06-30
  hotspots run episodes.csv --boundaries kent.toml --eps-m 300 --min-samples 8 --out kent
  hotspots run episodes.csv --method hdbscan --min-samples 8 --out hdbscan
  hotspots run episodes.csv --audience public --out published     # for publication
  hotspots run episodes.csv --audience public --grid-m 500 --sdc nhs --out published
  hotspots run episodes.csv --strict --salt "our shared passphrase 2020" --out out
"""
_EPILOG_TUNE = """\
examples:
  hotspots tune episodes.csv                       # k-distance summary and a suggested eps
  hotspots tune episodes.csv --min-samples 8 --out k-distance.png
"""
_EPILOG_VALIDATE = """\
example:
  hotspots validate episodes.csv          # prints what would be mapped, rejected and why
"""
_EPILOG_SYNTH = """\
example:
  hotspots synth --seed 7 --out data      # writes data/episodes.csv and data/homes.csv
"""
_EPILOG_DEMO = """\
examples:
  hotspots demo --out demo                # synthetic data in demo/data, results in demo/output
  hotspots demo --out demo --audience public   # the outputs as they would be published
"""
_EPILOG_POSTCODES = """\
examples:
  hotspots postcodes import ONSPD_FEB_2024_UK.zip     # once; writes the default index
  hotspots postcodes import codepo_gb.zip --into /shared/postcodes.npz
  hotspots postcodes info                              # what the default index holds
  hotspots run episodes.csv --postcodes /shared/postcodes.npz --out out
"""
_EPILOG_BOUNDARIES = """\
example:
  hotspots boundaries                     # the bundled boundary sets
  hotspots boundaries kent.toml           # check a boundary set of your own and summarise it
"""


def version() -> str:
    """The installed version of the tool."""
    try:
        return metadata.version("missing-hotspots")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0+unknown"


class Progress:
    """One line per step on stderr with the elapsed time; silent with --quiet."""

    def __init__(self, stream: TextIO, *, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.1f}s] {message}", file=self.stream, flush=True)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"expected a number of metres, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _privacy_options(p: argparse.ArgumentParser, *, salt: bool = True) -> None:
    """--audience, --sdc, --grid-m, --min-children, --show-home-names (and --salt)."""
    g = p.add_argument_group(
        "who the outputs are for (docs/privacy.md)",
        "internal: partner analysts under an information-sharing agreement (row-level tables, "
        "exact hotspot outlines, child ids as keyed pseudonyms). public: for publication (no "
        "row-level table, no point location, small hotspots left out, every count under "
        "disclosure control, checked before it is released).",
    )
    g.add_argument("--audience", choices=("internal", "public"), default="internal",
                   help="default: internal")
    g.add_argument("--sdc", choices=("dfe", "nhs", "none"), default=None,
                   help="disclosure control of every published count: dfe (1-5 shown as 'c', "
                   "with secondary suppression), nhs (1-7 as 'c', the rest rounded to 5) or "
                   "none (default: none for internal, dfe for public; none is refused for "
                   "public)")
    g.add_argument("--grid-m", type=_int, default=None, metavar="M",
                   help="draw public hotspots as whole grid cells of M metres (at least 250) "
                   "instead of the whole wards holding their episodes (the default)")
    g.add_argument("--min-children", type=_int, default=None, metavar="N",
                   help="leave out hotspots with fewer than N distinct children (default: 10 "
                   "for public, every hotspot for internal)")
    g.add_argument("--show-home-names", action="store_true",
                   help="put home names and providers in homes.csv and on the map (internal "
                   "only; default: left out)")
    if salt:
        g.add_argument("--salt", metavar="TEXT", default=None,
                       help="derive the child-pseudonym key from this passphrase (16+ "
                       "characters; the same pseudonyms on any machine) instead of the random "
                       "key kept in --out/.hotspots-key")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="hotspots",
        description=(
            "Map missing-children episodes to wards, districts and Local Police Areas, find "
            "DBSCAN hotspots, and write an offline map, tables and run.json. Everything runs "
            "on this machine: no data is sent anywhere."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'hotspots COMMAND --help' for the options and an example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"hotspots {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--boundaries",
            metavar="SET",
            default=None,
            help="boundary set: 'oxfordshire' (bundled, default), a TOML file describing your "
            "own, or a wards file (GeoJSON/GeoPackage/Shapefile); see docs/boundaries.md",
        )
        p.add_argument("--sheet", help="worksheet of an XLSX episodes file (default: the first)")
        p.add_argument(
            "--period",
            metavar="START:END",
            help="analyse only episodes starting in this period (ISO dates, end inclusive; "
            "either side may be blank), e.g. 2020-01-01:2020-06-30",
        )
        p.add_argument(
            "--host-authority",
            default="Oxfordshire",
            metavar="NAME",
            help="the local authority of this area; other placing authorities count as "
            "'placed by another authority' (default: Oxfordshire)",
        )
        p.add_argument(
            "--postcodes",
            metavar="INDEX",
            default=None,
            help="offline postcode index made by 'hotspots postcodes import' (or a source "
            "file to index on the fly); default: the imported index, if there is one",
        )
        src = p.add_argument_group(
            "SSDA903 input (instead of EPISODES): the children-looked-after return"
        )
        src.add_argument("--ssda903", type=Path, metavar="DIR",
                         help="folder holding the Header, Episodes and Missing CSV files")
        src.add_argument("--903-header", dest="ssda903_header", type=Path, metavar="FILE")
        src.add_argument("--903-episodes", dest="ssda903_episodes", type=Path, metavar="FILE")
        src.add_argument("--903-missing", dest="ssda903_missing", type=Path, metavar="FILE")
        src.add_argument("--903-place-codes", dest="ssda903_place_codes", type=Path,
                         metavar="FILE", help="your edited copy of the PLACE-code grouping "
                         "(see docs/ssda903.md)")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")

    run = sub.add_parser(
        "run",
        help="the full analysis: tables, map.html, report.html and run.json",
        description="Read an episodes file, validate and map every row, find hotspots, and "
        "write tables/, tables.xlsx, map.html, report.html and run.json into --out, for an "
        "internal or a public audience. The outputs are written to a hidden folder next to "
        "--out and moved into place only when all are written (and, for public, checked).",
        epilog=_EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("episodes", type=Path, metavar="EPISODES", nargs="?",
                     help="CSV or XLSX episodes file (or use --ssda903)")
    run.add_argument("--homes", type=Path, metavar="FILE", help="homes register (CSV or XLSX)")
    run.add_argument("--out", type=Path, default=Path("hotspots-output"), metavar="DIR",
                     help="output folder: new, empty, or holding a previous run's outputs, "
                     "which are replaced (default: hotspots-output; see --force)")
    run.add_argument("--eps-m", type=_positive_float, default=None, metavar="M",
                     help="DBSCAN neighbourhood radius in metres (default: 250; "
                     "'hotspots tune' suggests one)")
    run.add_argument("--min-samples", type=_int, default=5, metavar="N",
                     help="episodes needed within --eps-m to make a hotspot core (default: 5)")
    run.add_argument("--method", choices=("dbscan", "hdbscan"), default="dbscan",
                     help="clustering: dbscan (default) or hdbscan (min cluster size = "
                     "--min-samples; see docs/method.md)")
    run.add_argument("--population", type=Path, metavar="FILE",
                     help="children aged 0-17 by ward or district code (CSV/XLSX with columns "
                     "area_code, population_0_17; e.g. ONS mid-year estimates) for rates per "
                     "10,000")
    run.add_argument("--focus-lpa", metavar="NAME", default=None,
                     help="LPA of the focus table tables/focus_lpa.csv (default: 'Cherwell and "
                     "West Oxfordshire' when the boundary set has it)")
    run.add_argument("--compare-period", metavar="START:END",
                     help="compare with this period: change columns and new / persistent / gone "
                     "hotspots (default with --period: the previous period of the same length, "
                     "when the file covers it)")
    run.add_argument("--title", default=None, help="title shown on the map and the report")
    run.add_argument(
        "--hotspot-precision",
        choices=("coordinates", "postcode", "sector", "district"),
        default="postcode",
        help="least precise location used for hotspots; coarser ones are counted in areas "
        "only (default: postcode, i.e. full postcodes and coordinates)",
    )
    run.add_argument("--tiles", metavar="NAME", default=None,
                     help="draw an online street map under the layers (e.g. OpenStreetMap): "
                     "the map then contacts that server when opened (default: none, offline)")
    _privacy_options(run)
    _evidence_options(run)
    out = run.add_argument_group("checks and the output folder")
    out.add_argument("--strict", action="store_true",
                     help="stop (exit code 2, nothing written) if any row is rejected (rows "
                     "outside --period or outside the area do not count); the message counts "
                     "them by reason")
    out.add_argument("--force", action="store_true",
                     help="write into a non-empty --out folder that does not hold only a "
                     "previous run (the outputs replace files of the same name; other files "
                     "are left alone)")
    common(run)
    run.add_argument("-v", "--verbose", action="store_true",
                     help="print how long each step took (not written to run.json)")

    tune = sub.add_parser(
        "tune",
        help="help choose eps: the k-distance curve and a suggested eps",
        description="Print the k-distance curve of the episodes for --min-samples (the radius "
        "around each episode's location holding min_samples episodes, as DBSCAN counts them), "
        "suggest an eps (the knee of the curve) and draw the curve (PNG or SVG).",
        epilog=_EPILOG_TUNE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune.add_argument("episodes", type=Path, metavar="EPISODES", nargs="?",
                      help="CSV or XLSX episodes file (or use --ssda903)")
    tune.add_argument("--min-samples", type=_int, default=5, metavar="N",
                      help="episodes needed within eps to make a core location (default: 5)")
    tune.add_argument("--out", type=Path, default=Path("k-distance.png"), metavar="FILE",
                      help="the curve: .png or .svg (default: k-distance.png)")
    tune.add_argument(
        "--hotspot-precision",
        choices=("coordinates", "postcode", "sector", "district"),
        default="postcode",
        help="least precise location used, as for 'run' (default: postcode)",
    )
    common(tune)

    val = sub.add_parser(
        "validate",
        help="check an episodes file and print the audit summary; writes nothing",
        description="Read and validate an episodes file as 'run' would, and print how many "
        "rows would be mapped, rejected (and why) or outside the area. Writes no file.",
        epilog=_EPILOG_VALIDATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    val.add_argument("episodes", type=Path, metavar="EPISODES", nargs="?",
                     help="CSV or XLSX episodes file (or use --ssda903)")
    val.add_argument("--show", type=_int, default=10, metavar="N",
                     help="list the first N problem rows (default: 10)")
    common(val)

    syn = sub.add_parser(
        "synth",
        help="write a synthetic episodes file and homes register",
        description="Write synthetic (made-up) data in the contract format, modelled on the "
        "Oxfordshire committee report: see docs/synthetic-data.md.",
        epilog=_EPILOG_SYNTH,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    syn.add_argument("--seed", type=_int, default=1, help="random seed (default: 1)")
    syn.add_argument("--out", type=Path, default=Path("synthetic"), metavar="DIR",
                     help="output folder (default: synthetic)")
    syn.add_argument("--episodes", type=_int, default=1000, metavar="N",
                     help="number of episodes (default: 1000)")
    syn.add_argument("-q", "--quiet", action="store_true", help="no progress messages")

    demo = sub.add_parser(
        "demo",
        help="generate synthetic data and run the full analysis on it",
        description="Write synthetic data into DIR/data and run the full analysis into "
        "DIR/output, then print where the map and tables are.",
        epilog=_EPILOG_DEMO,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", type=Path, default=Path("demo"), metavar="DIR",
                      help="demo folder (default: demo)")
    demo.add_argument("--seed", type=_int, default=1, help="random seed (default: 1)")
    demo.add_argument("--eps-m", type=_positive_float, default=None, metavar="M",
                      help="DBSCAN neighbourhood radius in metres (default: 250)")
    demo.add_argument("--min-samples", type=_int, default=5, metavar="N",
                      help="episodes needed within --eps-m to make a hotspot core (default: 5)")
    demo.add_argument("--tiles", metavar="NAME", default=None,
                      help="online street map under the layers, as for 'run' (default: none)")
    _privacy_options(demo, salt=False)
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    demo.add_argument("-v", "--verbose", action="store_true",
                      help="print how long each step took")

    pcs = sub.add_parser(
        "postcodes",
        help="build or inspect the offline postcode index",
        description="Postcodes are looked up offline, in an index built once from the ONS "
        "Postcode Directory (ONSPD), OS Code-Point Open or a plain postcode,lat,lon CSV. "
        "No postcode is ever sent to an online service. See docs/postcodes.md.",
        epilog=_EPILOG_POSTCODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pcs_sub = pcs.add_subparsers(dest="postcodes_command", metavar="ACTION", required=True)
    imp = pcs_sub.add_parser("import", help="build the index from a downloaded source",
                             epilog=_EPILOG_POSTCODES,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("source", type=Path, metavar="SOURCE",
                     help="ONSPD zip/CSV/multi_csv folder, Code-Point Open zip/folder, or a "
                     "plain CSV")
    imp.add_argument("--into", type=Path, default=None, metavar="PATH",
                     help="where to write the index (default: ~/.local/share/hotspots/"
                     "postcodes.npz, or under $XDG_DATA_HOME)")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    info = pcs_sub.add_parser("info", help="describe an index",
                              epilog=_EPILOG_POSTCODES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("index", type=Path, nargs="?", default=None, metavar="INDEX",
                      help="the index (default: the imported one)")

    bnd = sub.add_parser(
        "boundaries",
        help="list the bundled boundary sets, or check one of your own",
        description="Without an argument, list the bundled boundary sets. With a TOML or "
        "wards file, load it as 'run' would and summarise it.",
        epilog=_EPILOG_BOUNDARIES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bnd.add_argument("spec", nargs="?", default=None, metavar="SET")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hotspots` console script."""
    from geo.errors import HotspotError

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    try:
        return handler(args)
    except HotspotError as exc:
        message = textwrap.fill(
            str(exc), width=100, break_on_hyphens=False, break_long_words=False
        )
        print(f"hotspots: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError:
        print("hotspots: error: this machine ran out of memory. Close other programs, split the "
              "input (e.g. one file per year) and analyse each part, or use a machine with more "
              "memory.", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("hotspots: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def _ssda903_paths(args: argparse.Namespace) -> Ssda903Paths | None:
    given = (args.ssda903_header, args.ssda903_episodes, args.ssda903_missing)
    if args.ssda903 is None and not any(given):
        return None
    return Ssda903Paths(args.ssda903, *given, place_codes=args.ssda903_place_codes)


def _check_source(parser_name: str, args: argparse.Namespace) -> None:
    from geo.errors import ParameterError

    has_903 = _ssda903_paths(args) is not None
    if args.episodes is not None and has_903:
        msg = (f"`hotspots {parser_name}` takes either an EPISODES file or --ssda903 "
               "(and the --903-* files), not both.")
        raise ParameterError(msg)
    if args.episodes is None and not has_903:
        msg = (f"`hotspots {parser_name}` needs an EPISODES file (CSV or XLSX) or --ssda903 DIR. "
               f"See 'hotspots {parser_name} --help'.")
        raise ParameterError(msg)


def _tiles_warning(name: str | None) -> None:
    """The tiles privacy warning on stderr (even with --quiet); checks the name first."""
    if name is None:
        return
    from maps.render import tile_provider, tiles_warning

    tile_provider(name)
    print(textwrap.fill(tiles_warning(name), width=100, break_on_hyphens=False,
                        break_long_words=False), file=sys.stderr, flush=True)


def _print_timings(outcome: RunOutcome) -> None:
    steps = ", ".join(f"{k} {v:.2f}" for k, v in outcome.timings.items())
    print(f"Timings (s): {steps}", file=sys.stderr)


def _evidence_options(p: argparse.ArgumentParser) -> None:
    ev = p.add_argument_group(
        "evidence for the panel (internal audience only; docs/evidence.md)"
    )
    ev.add_argument("--benchmarks", type=Path, metavar="FILE",
                    help="published local-authority figures to compare with (CSV/XLSX: la_code, "
                    "la_name, period and the measures; see examples/benchmarks_example.csv)")
    ev.add_argument("--neighbours", type=Path, metavar="FILE",
                    help="statistical neighbours (la_code, neighbour_code, rank)")
    ev.add_argument("--host-code", metavar="CODE",
                    help="the host's code in the benchmarks file (default: found by name)")
    ev.add_argument("--la-boundaries", type=Path, metavar="FILE",
                    help="local authority polygons covering England, to name where the "
                    "county's own children placed out of area went missing")
    ev.add_argument("--stability-runs", type=_int, default=None, metavar="N",
                    help="bootstrap re-runs of the clustering per hotspot (default: 200, "
                    "fewer for very large inputs)")
    ev.add_argument("--gi-cell-m", type=_positive_float, default=500.0, metavar="M",
                    help="Getis-Ord Gi* grid cell in metres (default: 500)")
    ev.add_argument("--no-evidence", action="store_true",
                    help="skip the Gi* test, stability and placed-out tables (faster)")


def _evidence_args(args: argparse.Namespace) -> EvidenceOptions:
    return EvidenceOptions(
        enabled=not args.no_evidence, benchmarks=args.benchmarks, neighbours=args.neighbours,
        host_code=args.host_code, la_boundaries=args.la_boundaries,
        stability_runs=args.stability_runs, cell_m=args.gi_cell_m,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    _check_source("run", args)
    progress = Progress(sys.stderr, quiet=args.quiet)
    _tiles_warning(args.tiles)
    outcome = run_analysis(
        episodes=args.episodes,
        ssda903=_ssda903_paths(args),
        postcodes=args.postcodes,
        hotspot_precision=args.hotspot_precision,
        out_dir=args.out,
        homes=args.homes,
        boundaries=args.boundaries,
        sheet=args.sheet,
        eps_m=args.eps_m,
        min_samples=args.min_samples,
        method=args.method,
        population=args.population,
        focus_lpa=args.focus_lpa,
        compare_period=args.compare_period,
        show_home_names=args.show_home_names,
        period=args.period,
        host_authority=args.host_authority,
        title=args.title,
        audience=args.audience,
        sdc=args.sdc,
        grid_m=args.grid_m,
        min_children=args.min_children,
        salt=args.salt,
        strict=args.strict,
        force=args.force,
        tiles=args.tiles,
        progress=progress,
    )
    print(outcome.summary())
    if args.verbose:
        _print_timings(outcome)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    _check_source("tune", args)
    progress = Progress(sys.stderr, quiet=args.quiet)
    text, path = tune_eps(
        episodes=args.episodes,
        ssda903=_ssda903_paths(args),
        postcodes=args.postcodes,
        hotspot_precision=args.hotspot_precision,
        boundaries=args.boundaries,
        sheet=args.sheet,
        period=args.period,
        host_authority=args.host_authority,
        min_samples=args.min_samples,
        out=args.out,
        progress=progress,
    )
    print(text)
    print(f"Curve:   {path}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    _check_source("validate", args)
    progress = Progress(sys.stderr, quiet=args.quiet)
    report = validate_only(
        episodes=args.episodes,
        ssda903=_ssda903_paths(args),
        postcodes=args.postcodes,
        boundaries=args.boundaries,
        sheet=args.sheet,
        period=args.period,
        host_authority=args.host_authority,
        show=args.show,
        progress=progress,
    )
    print(report)
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr, quiet=args.quiet)
    paths = write_synthetic_data(args.out, seed=args.seed, n_episodes=args.episodes,
                                 progress=progress)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from geo.privacy import make_audience

    progress = Progress(sys.stderr, quiet=args.quiet)
    make_audience(args.audience, sdc=args.sdc, show_home_names=args.show_home_names,
                  grid_m=args.grid_m, min_children=args.min_children)  # refuse before writing
    _tiles_warning(args.tiles)
    data = write_synthetic_data(args.out / "data", seed=args.seed, placed_out=True,
                                progress=progress)
    outcome = run_analysis(
        episodes=data["episodes"],
        eps_m=args.eps_m,
        min_samples=args.min_samples,
        homes=data["homes"],
        out_dir=args.out / "output",
        title="Synthetic demo: missing episodes, Oxfordshire, January to June 2020",
        audience=args.audience,
        sdc=args.sdc,
        grid_m=args.grid_m,
        min_children=args.min_children,
        show_home_names=args.show_home_names,
        tiles=args.tiles,
        evidence=_demo_evidence(),
        progress=progress,
    )
    print(f"Synthetic data: {data['episodes']} and {data['homes']}")
    print(outcome.summary())
    if args.verbose:
        _print_timings(outcome)
    return 0


def _cmd_postcodes(args: argparse.Namespace) -> int:
    from geo.errors import InputError
    from geo.postcodes import default_index_path, import_postcodes, load_postcode_index

    if args.postcodes_command == "import":
        progress = Progress(sys.stderr, quiet=args.quiet)
        summary = import_postcodes(args.source, args.into, progress=progress)
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.skipped.items()))
        print(f"Imported {summary.imported:,} postcodes ({summary.terminated:,} terminated, "
              f"kept) from {args.source} ({summary.kind}) in {summary.seconds:.1f} s"
              + (f"; skipped: {skipped}" if skipped else "") + ".")
        print(f"Sectors {summary.sectors:,}, districts {summary.districts:,}.")
        print(f"Index: {summary.path}")
        return 0
    path = args.index or default_index_path()
    if not path.exists():
        msg = (f"No postcode index at {path}. Build one with "
               "'hotspots postcodes import SOURCE' (see docs/postcodes.md).")
        raise InputError(msg, path=path)
    index = load_postcode_index(path)
    print(f"{path}: {len(index):,} postcodes")
    for key, value in sorted(index.metadata.items()):
        print(f"  {key}: {value}")
    return 0


def _cmd_boundaries(args: argparse.Namespace) -> int:
    print(describe_boundaries(args.spec))
    return 0


# --------------------------------------------------------------------------------------------
# Workflow: composes the library packages (geo <- boundaries, maps <- here). No analysis here.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """What `run_analysis` wrote and counted (exact counts: for the analyst's terminal)."""

    out_dir: Path
    paths: dict[str, Path]
    counts: dict[str, object]
    notes: tuple[str, ...] = ()
    audience: str = "internal"
    sdc_rule: str = "none"
    min_children: int = 1
    key: str | None = None  # where the pseudonym key is, and whether it was created
    checked: bool = False  # the public release check ran and passed
    left_out: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """A few lines for the terminal: counts and where the outputs are."""
        c = self.counts
        reasons = c.get("rejected_by_reason") or {}
        assert isinstance(reasons, dict)
        why = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
        small = int(c.get("hotspots_suppressed", 0) or 0)  # type: ignore[call-overload]
        tables = self.paths["localities_lpa"].parent
        lines = [
            f"Rows read {c['read']}: mapped {c['mapped']}, rejected {c['rejected']}"
            + (f" ({why})" if why else "")
            + f", outside the area {c['outside_area']}.",
            f"Hotspots: {c['hotspots']} holding {c['episodes_in_hotspots']} of "
            f"{c['mapped']} mapped episodes"
            + (f"; {small} with fewer than {self.min_children} children left out."
               if small else "."),
            f"Audience: {self.audience}; disclosure control: {self.sdc_rule}"
            + ("; the figures above are exact, the outputs hold controlled ones."
               if self.sdc_rule != "none" else "."),
        ]
        if self.checked:
            lines.append("Release check passed: no point location, no small count, no "
                         "row-level table, no key.")
        lines += [
            f"Report:  {self.paths['report']}",
            f"Map:     {self.paths['map']}",
            f"Tables:  {tables}/ and {self.paths['xlsx']}"
            + (f" (not written: {', '.join(self.left_out)})" if self.left_out else ""),
        ]
        if "focus_lpa" in self.paths:
            lines.append(f"Focus:   {self.paths['focus_lpa']}")
        lines.append(f"Run log: {self.paths['run_json']}")
        if self.key:
            lines.append(f"Key:     {self.key}")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _load_boundaries(spec: str | None, progress: Callable[[str], None]) -> BoundarySet:
    from boundaries import load_boundaries

    progress(f"Loading boundaries ({spec or 'oxfordshire, bundled'})")
    return load_boundaries(spec)


@dataclass(frozen=True)
class Ssda903Paths:
    """Where the three SSDA903 tables are: a folder, and/or each file named."""

    folder: Path | None = None
    header: Path | None = None
    episodes: Path | None = None
    missing: Path | None = None
    place_codes: Path | None = None

    def resolve(self) -> tuple[Path, Path, Path]:
        """The three files: named ones win over those found in the folder."""
        from geo.errors import InputError
        from geo.ssda903 import find_ssda903_files

        found: tuple[Path | None, Path | None, Path | None] = (None, None, None)
        if self.folder is not None and not all((self.header, self.episodes, self.missing)):
            found = find_ssda903_files(self.folder)
        files = (self.header or found[0], self.episodes or found[1], self.missing or found[2])
        names = ("--903-header", "--903-episodes", "--903-missing")
        lacking = [n for n, f in zip(names, files, strict=True) if f is None]
        if lacking:
            msg = f"SSDA903 input needs --ssda903 DIR or all of {', '.join(names)}; missing: " + (
                ", ".join(lacking)
            )
            raise InputError(msg)
        return files  # type: ignore[return-value]


@dataclass(frozen=True)
class LoadedEpisodes:
    """The episodes as a table (from a file or built from SSDA903), and what was read."""

    table: Table
    prerejected: pd.DataFrame | None
    inputs: list[dict[str, object]]
    notes: tuple[str, ...]


def _load_episodes(
    episodes: Path | None,
    ssda903: Ssda903Paths | None,
    *,
    sheet: str | None,
    host_authority: str,
    progress: Callable[[str], None],
) -> LoadedEpisodes:
    import pandas as pd

    from geo import schema as s
    from geo.episodes import Table, read_table

    if ssda903 is None:
        assert episodes is not None
        if episodes.is_file():
            from geo.memory import check_memory

            check_memory(episodes)  # a clear message now, not the out-of-memory killer later
        progress(f"Reading {episodes}")
        table = read_table(episodes, sheet=sheet)
        for note in table.notes:
            progress(f"Note: {episodes}: {note}")
        return LoadedEpisodes(table, None, [_input_record(table, "episodes")], table.notes)

    from geo.ssda903 import read_ssda903

    header, eps, missing = ssda903.resolve()
    progress(f"Reading the SSDA903 return ({header.name}, {eps.name}, {missing.name})")
    res = read_ssda903(header, eps, missing, host_authority=host_authority,
                       place_codes=ssda903.place_codes)
    for note in res.notes:
        progress(f"Note: SSDA903: {note}")
    frame = res.episodes.copy()
    frame.insert(0, s.ROW_NUMBER, frame[s.EPISODE_ID].str.extract(r"(\d+)$")[0].astype("int64"))
    frame = frame.fillna("").astype({c: str for c in frame.columns if c != s.ROW_NUMBER})
    table = Table(frame, missing, "ssda903", None, None,
                  {c: c for c in frame.columns if c != s.ROW_NUMBER}, 0, res.notes)
    inputs = [
        {"role": f"ssda903 {role}", "path": str(path), "sha256": sha256_file(path),
         "bytes": path.stat().st_size}
        for role, path in (("header", header), ("episodes", eps), ("missing", missing))
    ]
    inputs[-1]["rows"] = res.rows_read
    inputs[-1]["notes"] = list(res.notes)
    audit = res.audit if len(res.audit) else pd.DataFrame(
        columns=[s.ROW_NUMBER, s.EPISODE_ID, s.REASON, s.DETAIL]
    )
    return LoadedEpisodes(table, audit, inputs, res.notes)


def _load_postcodes(spec: str | None, progress: Callable[[str], None]) -> PostcodeIndex | None:
    from geo.postcodes import default_index_path, load_postcode_index

    if spec is not None:
        progress(f"Loading the postcode index {spec}")
        return load_postcode_index(Path(spec))
    default = default_index_path()
    if default.exists():
        progress(f"Loading the postcode index {default}")
        return load_postcode_index(default)
    return None


def _period(text: str | None) -> Period | None:
    from geo.validate import Period

    return Period.parse(text) if text else None


def _input_record(table: Table, role: str) -> dict[str, object]:
    from geo.output import sha256

    return {
        "role": role,
        "path": str(table.path),
        "sha256": sha256(table.path),
        "bytes": table.path.stat().st_size,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "sheet": table.sheet,
        "rows": len(table.frame),
        "blank_rows_skipped": table.blank_rows,
        "notes": list(table.notes),
    }


def run_analysis(
    *,
    episodes: Path | None,
    out_dir: Path,
    ssda903: Ssda903Paths | None = None,
    postcodes: str | None = None,
    hotspot_precision: str = "postcode",
    homes: Path | None = None,
    boundaries: str | None = None,
    sheet: str | None = None,
    eps_m: float | None = None,
    min_samples: int = 5,
    method: str = "dbscan",
    population: Path | None = None,
    focus_lpa: str | None = None,
    compare_period: str | None = None,
    show_home_names: bool = False,
    period: str | None = None,
    host_authority: str = "Oxfordshire",
    title: str | None = None,
    audience: str = "internal",
    sdc: str | None = None,
    grid_m: float | None = None,
    min_children: int | None = None,
    salt: str | None = None,
    strict: bool = False,
    force: bool = False,
    tiles: str | None = None,
    evidence: EvidenceOptions | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> RunOutcome:
    """Read, analyse and write everything for one run.

    `eps_m` None is the default (250 m), recorded as such in run.json; `focus_lpa` None is the
    default focus LPA, silently skipped when the boundary set has no such LPA (a name given
    that the boundary set lacks is an error). `audience`, `sdc`, `grid_m`, `min_children` and
    `show_home_names` are checked together (`geo.privacy.make_audience`) before anything is
    read. Everything is written into a hidden sibling of `out_dir` and moved into place at the
    end (see `_check_output_folder`); a public output is scanned first
    (`geo.privacy.assert_publishable`) and nothing is released if the scan finds anything.
    """
    import warnings

    from geo.episodes import read_table
    from geo.errors import ParameterError
    from geo.output import publish, write_run_json, write_tables
    from geo.pipeline import DEFAULT_EPS_M, DEFAULT_FOCUS_LPA, AnalysisConfig, analyse
    from geo.privacy import derive_key, make_audience
    from geo.rates import read_population
    from maps.render import MapContext, TilesPrivacyWarning, map_html, tile_provider
    from maps.report import write_report

    clock = _Clock()
    who = make_audience(audience, sdc=sdc, show_home_names=show_home_names, grid_m=grid_m,
                        min_children=min_children)
    if salt is not None and not who.child_pseudonyms:
        msg = ("`--salt` sets the key of the child pseudonyms in tables/episodes.csv, which "
               "only an internal output has; a public output has no pseudonyms. Leave it out.")
        raise ParameterError(msg)
    if tiles is not None:
        tile_provider(tiles)
    final = _check_output_folder(out_dir, force=force, public=who.public)
    key = derive_key(salt) if salt is not None else None
    config = AnalysisConfig(
        eps_m=DEFAULT_EPS_M if eps_m is None else eps_m, eps_given=eps_m is not None,
        min_samples=min_samples, method=method, period=_period(period),
        compare_period=_period(compare_period),
        focus_lpa=focus_lpa or DEFAULT_FOCUS_LPA, focus_lpa_given=focus_lpa is not None,
        host_authority=host_authority, hotspot_precision=hotspot_precision,
        min_children_per_hotspot=who.min_children_per_hotspot,
    )
    pop = read_population(population) if population is not None else None
    bset = _load_boundaries(boundaries, progress)
    loaded = _load_episodes(episodes, ssda903, sheet=sheet, host_authority=host_authority,
                            progress=progress)
    index = _load_postcodes(postcodes, progress)
    homes_table = read_table(homes, what="homes register") if homes is not None else None
    clock.lap("read")
    source = (f"'hotspots validate {episodes}'" if episodes is not None
              else f"'hotspots validate --ssda903 {ssda903.folder}'"
              if ssda903 is not None and ssda903.folder is not None
              else "'hotspots validate' with the same --903-* files")
    result = analyse(loaded.table, wards=bset.wards, config=config, homes_table=homes_table,
                     postcodes=index, prerejected=loaded.prerejected, population=pop,
                     progress=progress,
                     after_validation=_refuse_rejected(source) if strict else None)
    clock.add(result.timings)
    pub = publish(result, who, bset.wards)
    clock.lap("disclosure control")

    ev = None
    evidence = evidence or EvidenceOptions()
    if evidence.enabled and not who.public:
        from geo.context import build_evidence

        progress("Testing the hotspots (Gi*, stability by child) and placed-out episodes")
        ev = build_evidence(
            result, bset.wards, cell_m=evidence.cell_m, stability_runs=evidence.stability_runs,
            la_boundaries=evidence.la_boundaries, benchmarks=evidence.benchmarks,
            neighbours=evidence.neighbours, host_code=evidence.host_code,
        )  # fmt: skip
        clock.lap("evidence")
    elif evidence.enabled:
        progress("Evidence tables are internal only (they hold per-child figures): skipped")

    focus = result.info.get("focus_lpa")
    context = MapContext(
        wards=bset.wards,
        lpas=bset.lpas,
        attribution=(*bset.attribution, *(_POSTCODE_CREDITS if index is not None else ())),
        boundary_name=bset.name,
        boundary_vintage=bset.vintage,
        title=title or "Missing episodes: wards, LPAs and hotspots",
        districts=bset.districts,
        tiles=tiles,
        show_homes=who.homes_drawn,
        show_home_names=who.home_names,
        focus_lpa=focus.get("name") if isinstance(focus, dict) else None,
        show_hotspot_centres=who.hotspot_centres,
        show_locations=who.point_locations,
        place_labels=None if who.point_locations else _coarse_labels(bset),
        evidence=ev,
    )
    with _staging(final) as tmp:
        key_note = None
        if who.child_pseudonyms:
            key, key_note = _pseudonym_key(final, tmp, key)
        progress(f"Writing tables to {out_dir / 'tables'}")
        paths = write_tables(pub.result, tmp, show_home_names=who.home_names, sheets=pub.sheets,
                             row_level=who.episodes_csv,
                             pseudonym_key=key if who.child_pseudonyms else None)
        if ev is not None:
            from geo.context import evidence_tables
            from geo.output import write_plain_csv

            for name, table in evidence_tables(ev).items():
                paths[name] = write_plain_csv(table, tmp / "tables" / f"{name}.csv")
        clock.lap("write tables")
        progress("Drawing the map")
        drawn = _for_maps(pub.result)
        with warnings.catch_warnings():  # the warning was printed when the run started
            warnings.simplefilter("ignore", TilesPrivacyWarning)
            page = map_html(drawn, context)
        paths["map"] = tmp / "map.html"
        paths["map"].write_text(page, encoding="utf-8")
        clock.lap("map")
        progress("Writing the report")
        paths["report"] = write_report(drawn, context, tmp / "report.html", map_html=page)
        clock.lap("report")
        paths["run_json"] = tmp / "run.json"
        write_run_json(
            pub.result, paths["run_json"],
            inputs=_inputs_doc(loaded, homes_table, pop, full_paths=who.input_paths),
            boundaries=_boundaries_doc(bset, full_paths=who.input_paths),
            outputs=paths, version=version(), counts=pub.counts,
            extra={**_run_extra(result, pub, index, config, salt is not None),
                   **({"evidence": _evidence_doc(ev)} if ev is not None else {})},
        )  # fmt: skip
        if who.public:
            progress("Checking the public output before release")
            _release_check(tmp, final, bset, who)
            clock.lap("release check")
        _move_into_place(tmp, final)
    clock.lap("move into place")
    progress("Done")
    return RunOutcome(
        out_dir, {k: out_dir / p.relative_to(tmp) for k, p in paths.items()},
        dict(result.counts), result.notes, audience=who.name, sdc_rule=who.sdc_rule,
        min_children=who.min_children_per_hotspot,
        key=(f"{out_dir / KEY_FILE_NAME} ({key_note}; keep it secret: with it and a list of "
             "child ids anyone can tell whose child_pseudonym is whose)") if key_note else None,
        checked=who.public,
        left_out=tuple(n for n, on in (("episodes.csv", who.episodes_csv),
                                       ("audit.csv", who.audit_csv),
                                       ("homes.csv", who.homes_csv or homes is None)) if not on),
        timings=clock.timings,
    )


@dataclass(frozen=True)
class EvidenceOptions:
    """What `run_analysis` does for issue 8's evidence (internal audience only)."""

    enabled: bool = True
    benchmarks: Path | None = None
    neighbours: Path | None = None
    host_code: str | None = None
    la_boundaries: Path | None = None
    stability_runs: int | None = None
    cell_m: float = 500.0


def _demo_evidence() -> EvidenceOptions:
    """The demo compares with the shipped synthetic benchmark files, when they are there."""
    examples = Path(__file__).resolve().parent / "examples"
    bench, neigh = examples / "benchmarks_example.csv", examples / "neighbours_example.csv"
    if bench.is_file() and neigh.is_file():
        return EvidenceOptions(benchmarks=bench, neighbours=neigh)
    return EvidenceOptions()


def _evidence_doc(ev: object) -> dict[str, object]:
    from geo.context import evidence_summary

    doc = dict(evidence_summary(ev))  # type: ignore[arg-type]
    doc.pop("timings", None)  # run.json holds nothing that varies between identical runs
    return doc


def _for_maps(result: AnalysisResult) -> AnalysisResult:
    """The published result with its suppressed cells (``c``) as blanks (NaN) and its counts
    as numbers, for `maps.render` and `maps.report`, which format and sort these columns as
    numbers (a ``c`` there stops the report: ``float('c')``, or sorting ``c`` with numbers).
    They then show a suppressed cell as a dash, like a blank one. Interim: once maps/ shows
    ``c`` itself, pass the published result unchanged."""
    import dataclasses

    import pandas as pd

    from geo.sdc import SUPPRESSED, column_kind

    def numeric(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        out = frame.copy()
        for column in out.columns:
            if column != "geometry" and column_kind(column) != "other" and (
                out[column].dtype == object
            ):
                values = out[column].where(out[column] != SUPPRESSED)
                out[column] = pd.to_numeric(values, errors="coerce")
        return out

    comparison = result.comparison
    if comparison is not None:
        comparison = dataclasses.replace(
            comparison, hotspots=numeric(comparison.hotspots), totals=numeric(comparison.totals),
            localities={k: numeric(v) for k, v in comparison.localities.items()},
        )  # fmt: skip
    return dataclasses.replace(
        result, localities={k: numeric(v) for k, v in result.localities.items()},
        totals=numeric(result.totals), focus_lpa=numeric(result.focus_lpa),
        hotspots=numeric(result.hotspots), comparison=comparison,
    )  # fmt: skip


def _coarse_labels(bset: BoundarySet) -> list[PlaceLabel]:
    """The map's place names at two decimals of a degree (about 1 km): a public output shows
    no position finer than its grid, and town names need no more."""
    from maps.places import PlaceLabel, place_labels

    return [PlaceLabel(p.name, round(p.lat, 2), round(p.lon, 2), p.rank)
            for p in place_labels(bset.wards, bset.districts)]


KEY_FILE_NAME = ".hotspots-key"  # geo.privacy.KEY_FILE
# What a run writes into --out (a folder holding only these, with run.json written by hotspots,
# is a previous run and is replaced without --force).
OUTPUT_NAMES = ("map.html", "report.html", "run.json", "tables.xlsx", "tables")


class _Clock:
    """Seconds per step, for --verbose (never written to run.json: they differ every run)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self.last, 3)
        self.last = now

    def add(self, steps: dict[str, float]) -> None:
        self.timings.update(steps)
        self.last = time.perf_counter()


def _refuse_rejected(source: str) -> Callable[[pd.DataFrame], None]:
    """--strict: stop after validation if any row is rejected."""
    from geo import schema as s
    from geo.errors import InputError

    def check(validated: pd.DataFrame) -> None:
        reasons = validated.loc[validated[s.STATUS] == s.REJECTED, s.REASON]
        rejected = reasons[reasons != "outside_period"]  # the analyst's own --period filter
        if not len(rejected):
            return
        by = ", ".join(f"{k} {v}" for k, v in rejected.value_counts().sort_index().items())
        msg = (
            f"--strict: {len(rejected)} of {len(validated)} rows were rejected ({by}), so "
            f"nothing was written. {source} lists each rejected row with "
            "the column and value at fault (the audit); without --strict they are kept in "
            "tables/audit.csv and the run goes on."
        )
        raise InputError(msg)

    return check


def _is_previous_output(folder: Path, entries: Sequence[Path]) -> bool:
    """Whether `folder` holds only what a previous run wrote (run.json by hotspots)."""
    import json

    allowed = {*OUTPUT_NAMES, KEY_FILE_NAME}
    if any(p.name not in allowed for p in entries):
        return False
    tables = folder / "tables"
    if tables.is_symlink() or (tables.exists() and not tables.is_dir()):
        return False
    if tables.is_dir() and any(
        not p.is_file() or p.is_symlink() or p.suffix != ".csv" for p in tables.iterdir()
    ):
        return False
    try:
        doc = json.loads((folder / "run.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("tool") == "hotspots"


def _check_output_folder(out_dir: Path, *, force: bool, public: bool) -> Path:
    """The folder the outputs go into (resolved), refused when writing there could lose or mix
    up someone's files.

    - a new or empty folder: used;
    - a folder holding only a previous run's outputs (map.html, report.html, run.json by
      hotspots, tables.xlsx, tables/*.csv, .hotspots-key): its outputs are replaced;
    - any other non-empty folder: refused, unless `force` (the outputs then replace files of
      the same names, tables/ as a whole; other files are left alone);
    - a public output is refused in a folder holding a pseudonymisation key (.hotspots-key of
      an internal run), even with `force`: the key must not be released, nor deleted.
    """
    from geo.errors import ParameterError

    final = Path(out_dir).resolve()
    if final.exists() and not final.is_dir():
        msg = f"`--out` {out_dir} is a file, not a folder."
        raise ParameterError(msg)
    entries = sorted(final.iterdir()) if final.exists() else []
    key = final / KEY_FILE_NAME
    if public and (key.exists() or key.is_symlink()):
        msg = (
            f"The output folder {out_dir} holds a pseudonymisation key ({KEY_FILE_NAME}) from "
            "an internal run: a public output must not contain it, and deleting it would lose "
            "your child pseudonyms. Choose another --out for the public output."
        )
        raise ParameterError(msg)
    if not entries or force or _is_previous_output(final, entries):
        return final
    names = ", ".join(p.name for p in entries[:5]) + (" ..." if len(entries) > 5 else "")
    msg = (
        f"The output folder {out_dir} is not empty and does not hold only a previous hotspots "
        f"run (it holds {names}). Choose a new or empty folder, or add --force to write into "
        "it (the outputs replace files of the same names, tables/ as a whole; other files are "
        "left alone)."
    )
    raise ParameterError(msg)


@contextlib.contextmanager
def _staging(final: Path) -> Iterator[Path]:
    """A new hidden folder next to `final` (same file system, so the outputs can be moved into
    place by renaming), removed on the way out whatever happens (a half-written output is never
    left behind; after a hard kill a `.NAME.hotspots-tmp-*` folder may remain)."""
    import shutil

    tmp = _sibling(final, "tmp")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sibling(final: Path, tag: str) -> Path:
    import secrets

    from geo.errors import InputError

    while True:
        path = final.parent / f".{final.name}.hotspots-{tag}-{secrets.token_hex(4)}"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            msg = (f"Cannot write the outputs next to {final}: {exc.strerror or exc}. Choose "
                   "an --out folder you can write to.")
            raise InputError(msg, path=final) from exc
        return path


def _move_into_place(tmp: Path, final: Path) -> None:
    """Move the finished outputs from `tmp` into `final`: by renaming the whole folder when
    `final` is new or empty, else by moving the previous outputs aside, renaming each new one
    into place and deleting the old ones."""
    import os
    import shutil

    if not final.exists():
        os.replace(tmp, final)
        return
    if not any(final.iterdir()):
        try:
            final.rmdir()
            os.replace(tmp, final)
            return
        except OSError:
            final.mkdir(exist_ok=True)
    old = _sibling(final, "old")
    for name in OUTPUT_NAMES:
        path = final / name
        if path.exists() or path.is_symlink():
            os.replace(path, old / name)
    for entry in sorted(tmp.iterdir()):
        os.replace(entry, final / entry.name)
    tmp.rmdir()
    shutil.rmtree(old, ignore_errors=True)


def _pseudonym_key(final: Path, tmp: Path, derived: bytes | None) -> tuple[bytes, str | None]:
    """The child-pseudonym key: derived from --salt, else the key file of the output folder
    (reused), else a new one written into the staging folder (moved into place with the
    outputs). Returns the key and, for a key file, whether it was created or reused."""
    from geo.privacy import KEY_FILE, load_or_create_key

    if derived is not None:
        return derived, None
    kept = final / KEY_FILE
    if kept.exists() or kept.is_symlink():
        return load_or_create_key(final, None)[0], "reused"
    return load_or_create_key(final, None, key_file=tmp / KEY_FILE)[0], "created"


def _release_check(tmp: Path, final: Path, bset: BoundarySet, who: Audience) -> None:
    """The last check of a public output: everything written, and any other file that will
    sit next to it in `final` (with --force)."""
    from geo.privacy import MIN_GRID_M, PublicReference, assert_publishable
    from geo.sdc import SDC_THRESHOLDS

    allowed = PublicReference.from_boundaries(bset.wards)
    grid = who.grid_m or MIN_GRID_M
    threshold = SDC_THRESHOLDS[who.sdc_rule]
    assert_publishable(tmp, grid_m=grid, count_threshold=threshold, allowed=allowed)
    if final.exists():
        ours = {*OUTPUT_NAMES}
        others = [p for p in final.rglob("*")
                  if p.is_file() and p.relative_to(final).parts[0] not in ours]
        if others:
            skip = [p.relative_to(final).as_posix() for p in final.rglob("*")
                    if p.is_file() and p.relative_to(final).parts[0] in ours]
            assert_publishable(final, grid_m=grid, count_threshold=threshold, allowed=allowed,
                               skip=skip)


def _inputs_doc(
    loaded: LoadedEpisodes, homes: Table | None, pop: object | None, *, full_paths: bool
) -> list[dict[str, object]]:
    inputs = [dict(i) for i in loaded.inputs]
    if homes is not None:
        inputs.append(_input_record(homes, "homes"))
    if pop is not None:
        path = pop.path  # type: ignore[attr-defined]
        inputs.append({"role": "population", "path": str(path), "sha256": sha256_file(path),
                       "bytes": path.stat().st_size, "rows": pop.rows})  # type: ignore[attr-defined]
    if not full_paths:  # a folder name (a user's, a child's) must not travel with the output
        for record in inputs:
            record["path"] = Path(str(record["path"])).name
    return inputs


def _boundaries_doc(bset: BoundarySet, *, full_paths: bool) -> dict[str, object]:
    def where(path: object) -> str:
        return str(path) if full_paths else Path(str(path)).name

    return {
        "name": bset.name,
        "vintage": bset.vintage,
        "source": where(bset.source) if any(c in str(bset.source) for c in "/\\")
        else bset.source,
        "attribution": list(bset.attribution),
        "wards": len(bset.wards),
        "districts": len(bset.districts),
        "lpas": len(bset.lpas),
        "files": [{"path": where(p), "sha256": sha256_file(p)} for p in bset.files],
        "notes": list(bset.notes),
    }


def _run_extra(
    result: AnalysisResult, pub: Publication, index: PostcodeIndex | None,
    config: AnalysisConfig, salted: bool,
) -> dict[str, object]:
    from geo.output import PSEUDONYM_COLUMN
    from geo.privacy import KEY_FILE

    who = pub.audience
    return {
        "postcode_index": index.metadata if index is not None else None,
        "hotspot_precision": {
            "threshold": config.hotspot_precision,
            "used": list(config.hotspot_precisions),
            "rule": "hotspots are computed only from locations at least this precise; "
            "coarser ones (postcode sectors, districts) are counted in the area tables only",
        },
        "homes_register": {
            "names_in_outputs": who.home_names,
            "linking": pub.counts.get("homes_linking"),
        },
        "audience": who.describe(),
        "disclosure_control": {
            **pub.disclosure,
            "small_hotspots": (
                f"hotspots with fewer than {who.min_children_per_hotspot} distinct children "
                "are left out before anything is counted, and the rest renumbered"
                if who.min_children_per_hotspot > 1 else "every hotspot is shown"
            ),
        },
        "pseudonyms": {
            "column": f"tables/episodes.csv {PSEUDONYM_COLUMN}",
            "method": "K- + the first 16 hex digits of HMAC-SHA256(key, child id)",
            "key": "derived from --salt (no file)" if salted
            else f"{KEY_FILE} in the output folder: keep it secret, never share it",
        } if who.child_pseudonyms else None,
    }


_POSTCODE_CREDITS = (
    "Postcodes: Contains OS data © Crown copyright and database right; "
    "Contains Royal Mail data © Royal Mail copyright and database right; "
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0",
)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file (for run.json)."""
    from geo.output import sha256

    return sha256(path)


def validate_only(
    *,
    episodes: Path | None,
    ssda903: Ssda903Paths | None = None,
    postcodes: str | None = None,
    boundaries: str | None = None,
    sheet: str | None = None,
    period: str | None = None,
    host_authority: str = "Oxfordshire",
    show: int = 10,
    progress: Callable[[str], None] = lambda _: None,
) -> str:
    """Validate and locate an episodes file; return the audit summary as text."""
    from geo import schema as s
    from geo.pipeline import AnalysisConfig, analyse

    bset = _load_boundaries(boundaries, progress)
    loaded = _load_episodes(episodes, ssda903, sheet=sheet, host_authority=host_authority,
                            progress=progress)
    index = _load_postcodes(postcodes, progress)
    table = loaded.table
    config = AnalysisConfig(period=_period(period), host_authority=host_authority,
                            auto_compare=False)
    frame = analyse(table, wards=bset.wards, config=config, postcodes=index,
                    prerejected=loaded.prerejected, progress=progress).episodes
    source = episodes if episodes is not None else f"SSDA903 return ({table.path.name})"
    status = frame[s.STATUS]
    read = len(frame)
    mapped = int((status == s.MAPPED).sum())
    rejected = int((status == s.REJECTED).sum())
    outside = int((status == s.OUTSIDE_AREA).sum())
    lines = [
        f"{source}: {read} rows read ({table.encoding}"
        + (f", sheet {table.sheet!r}" if table.sheet else "")
        + (f", {table.blank_rows} blank rows skipped" if table.blank_rows else "")
        + ")",
        f"  mapped        {mapped}",
        f"  rejected      {rejected}",
    ]
    for reason, n in frame.loc[status == s.REJECTED, s.REASON].value_counts().sort_index().items():
        lines.append(f"    {reason:<24} {n}")
    lines.append(f"  outside_area  {outside}")
    lines.append(f"  (read {read} = mapped + rejected + outside_area: "
                 f"{'yes' if read == mapped + rejected + outside else 'NO'})")
    warn = frame[s.WARNINGS].str.split(";").explode()
    warn = warn[warn != ""].value_counts().sort_index()
    if len(warn):
        lines.append("  warnings (row kept, value treated as unknown):")
        lines.extend(f"    {code:<24} {n}" for code, n in warn.items())
    for note in loaded.notes:
        lines.append(f"  note: {note}")
    precision = frame.loc[status == s.MAPPED, s.PRECISION].value_counts().sort_index()
    if len(precision):
        lines.append("  mapped by precision: "
                     + ", ".join(f"{k} {v}" for k, v in precision.items()))
    problems = frame[status != s.MAPPED].head(show)
    if len(problems) and show > 0:
        lines.append(f"First {len(problems)} rows not mapped:")
        for _, row in problems.iterrows():
            lines.append(
                f"  row {row[s.ROW_NUMBER]}, episode {row[s.EPISODE_ID]!r}: "
                f"{row[s.REASON]}: {row[s.DETAIL]}"
            )
    return "\n".join(lines)


def tune_eps(
    *,
    episodes: Path | None,
    out: Path,
    min_samples: int = 5,
    ssda903: Ssda903Paths | None = None,
    postcodes: str | None = None,
    hotspot_precision: str = "postcode",
    boundaries: str | None = None,
    sheet: str | None = None,
    period: str | None = None,
    host_authority: str = "Oxfordshire",
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[str, Path]:
    """The k-distance summary and suggested eps as text, and the curve written to `out`."""
    from geo.errors import ParameterError
    from geo.pipeline import AnalysisConfig, clustering_points, locate
    from geo.tune import k_distances, suggest_eps, summary_text, write_curve

    if out.suffix.lower() not in (".png", ".svg"):
        msg = f"`--out` must end in .png or .svg. Got {out.name!r}."
        raise ParameterError(msg)
    config = AnalysisConfig(min_samples=min_samples, period=_period(period),
                            host_authority=host_authority, hotspot_precision=hotspot_precision)
    bset = _load_boundaries(boundaries, progress)
    loaded = _load_episodes(episodes, ssda903, sheet=sheet, host_authority=host_authority,
                            progress=progress)
    index = _load_postcodes(postcodes, progress)
    progress("Validating and locating the episodes")
    located = locate(loaded.table, wards=bset.wards, config=config, postcodes=index)
    x, y = clustering_points(located, config)
    progress(f"k-distances of {len(x):,} episodes (min_samples {min_samples})")
    kd = k_distances(x, y, min_samples=min_samples)
    suggestion = suggest_eps(kd.curve)
    note = f" (mapped, located at least to {hotspot_precision} precision)"
    path = write_curve(kd, suggestion, out)
    return summary_text(kd, suggestion, points_note=note), path


def write_synthetic_data(
    out_dir: Path,
    *,
    seed: int = 1,
    n_episodes: int = 1000,
    placed_out: bool = False,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Path]:
    """Generate synthetic episodes and homes inside the bundled wards, and write them.

    With `placed_out`, a few of the county's own looked-after children are placed in
    neighbouring authorities (their episodes fall outside the boundary set), as in the demo."""
    from boundaries import bundled_boundaries
    from geo.errors import ParameterError
    from geo.synth import add_placed_out, generate_synthetic, write_synthetic

    if n_episodes < 1:
        msg = f"`--episodes` must be at least 1. Got {n_episodes} instead."
        raise ParameterError(msg)
    progress(f"Generating {n_episodes:,} synthetic episodes (seed {seed})")
    data = generate_synthetic(bundled_boundaries().wards, seed=seed, n_episodes=n_episodes)
    if placed_out:
        data = add_placed_out(data, seed=seed)
    return write_synthetic(data, out_dir)


def describe_boundaries(spec: str | None) -> str:
    """List the bundled sets, or load one set and summarise it."""
    from boundaries import list_boundaries, load_boundaries

    if spec is None:
        names = list_boundaries()
        return "Bundled boundary sets:\n" + "\n".join(f"  {n}" for n in names)
    bset = load_boundaries(spec)
    lines = [
        f"{bset.name} ({bset.vintage}): {len(bset.wards)} wards, {len(bset.districts)} "
        f"districts, {len(bset.lpas)} LPAs",
        f"  source: {bset.source}",
        *(f"  LPA {name}: {n} wards" for name, n in
          bset.wards.groupby("lpa_name").size().sort_index().items()),
        *(f"  note: {n}" for n in bset.notes),
        *(f"  credit: {a}" for a in bset.attribution),
    ]
    return "\n".join(lines)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": _cmd_run,
    "tune": _cmd_tune,
    "validate": _cmd_validate,
    "synth": _cmd_synth,
    "demo": _cmd_demo,
    "postcodes": _cmd_postcodes,
    "boundaries": _cmd_boundaries,
}


def console() -> None:
    """The `hotspots` console script: `main`, then an immediate exit with its code.

    A run over a million episodes leaves gigabytes of Python objects, and freeing them one
    by one at interpreter exit takes most of a second. Every output file is closed by the
    time `main` returns, so the process flushes its streams and ends without that clean-up.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed, or a broken pipe
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
