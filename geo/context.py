"""Context and evidence for the panel (issue 8): one call after the analysis, tables to write.

`build_evidence` runs, on an `AnalysisResult`, everything the missing-children panel needs to
read the hotspots and to test the committee report's claims:

- the Getis-Ord Gi* hot-spot test on a grid in metres and on the wards (`geo.evidence`);
- the stability of each hotspot when the children are resampled, and whether it rests on one
  child (`geo.evidence.hotspot_stability`), and one verdict per hotspot (robust / stable only /
  fragile) with the sentences for the method panel;
- the county's own children placed out of area, by local authority (`geo.placed_out`);
- the county beside its statistical neighbours, its region and England, when a file of
  published figures is given (`geo.comparators`).

`evidence_tables` gives the tables to write; `evidence_summary` a JSON-friendly summary for
run.json. The map (`maps.render.MapContext.evidence`) and the report draw from the same
`Evidence`.

Bounded work. The grid costs grow with the area (cells) and esda's permutations; the stability
check with the runs and, per run, with the episodes and the DBSCAN neighbourhoods. Both are
sized from the inputs alone (never from a clock), so the same inputs give the same tables:

- the grid is coarsened (``cell_m`` doubled) while it would hold more than `MAX_CELLS` cells,
  and esda's reference permutations are reduced while cells x permutations exceeds
  `MAX_PERMUTATION_CELLS` (they only give ``p_sim``; the flags come from the exact p-values);
- the default number of stability runs is 200 while a run is estimated to take at most
  1/200 of `STABILITY_BUDGET_S`, else as many (in tens) as fit, but never fewer than
  `MIN_STABILITY_RUNS`; when even those would take over `STABILITY_MAX_S`, or when DBSCAN's
  neighbourhoods exceed the memory budget of `geo.scale` (the analysis then clustered snapped
  locations), the check is not run and the notes say so.

Every change from what was asked is recorded in `Evidence.parameters` and `Evidence.notes`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo import comparators as cmp
from geo import evidence as ev
from geo import schema as s
from geo.cluster import Locations, distinct_locations
from geo.errors import ParameterError
from geo.pipeline import AnalysisResult
from geo.placed_out import summarise_placed_out
from geo.scale import BYTES_PER_PAIR, DEFAULT_BUDGET_BYTES, neighbour_pairs_bound
from geo.summary import CHILD_CODE

__all__ = [
    "EVIDENCE_COLUMNS",
    "GI_CELL_COLUMNS",
    "Evidence",
    "build_evidence",
    "default_stability_runs",
    "evidence_summary",
    "evidence_tables",
]

DEFAULT_CELL_M = ev.DEFAULT_CELL_M  # 500 m
DEFAULT_PERMUTATIONS = ev.DEFAULT_PERMUTATIONS  # 999
DEFAULT_STABILITY_RUNS = ev.DEFAULT_RUNS  # 200
MIN_STABILITY_RUNS = 20
STABILITY_BUDGET_S = 1.0  # the default runs aim at about this many seconds
STABILITY_MAX_S = 30.0  # above this even at MIN_STABILITY_RUNS: the check is not run
# memory of the stability check per neighbour pair (the k-d tree's output, its int32 copy, the
# CSR graph): measured about 39 bytes; above `geo.scale.DEFAULT_BUDGET_BYTES` it is not run
STABILITY_BYTES_PER_PAIR = 40
MAX_CELLS = 60_000  # grid cells at most (Oxfordshire at 500 m: ~10,900)
MAX_PERMUTATION_CELLS = 12_000_000  # cells x esda permutations at most (~100 MB, ~1 s)
MIN_PERMUTATIONS = 99
ALPHA = ev.DEFAULT_ALPHA
FDR = True

# Estimated seconds of one stability run on a 2-core machine (geo.evidence.hotspot_stability):
# drawing the children and weighting the locations grows with the episodes, the labelling
# with the distinct locations and their neighbour pairs. Measured on the synthetic data
# (geo.synth, 20 and 60 runs): 0.0016 s at 10,000 episodes (1,037 locations, 3,845 pairs),
# 0.0024 s at 100,000 (3,675; 40,713), 0.0087 s at 1,000,000 (11,637; 373,283) and 0.22 s at
# 100,000 all-distinct locations (20.3 million pairs, counted: the bound says 70.9 million).
_RUN_BASE_S = 1.5e-3
_RUN_PER_EPISODE_S = 6e-9
_RUN_PER_LOCATION_S = 5e-8
_RUN_PER_PAIR_S = 1.05e-8

EVIDENCE_COLUMNS = (
    s.HOTSPOT_ID, "gi_significant", "gi_max_z", "gi_min_q", "stability",
    "rests_on_one_child", "top_child_share", "evidence",
)  # fmt: skip
GI_CELL_COLUMNS = (
    "cell_id", "centre_easting", "centre_northing", "cell_m", "spot", "window_count",
    "window_cells", "expected", "z", "p_exact", "q",
)  # fmt: skip
VERDICTS = ("robust", "stable_only", "fragile", "not_tested")


@dataclass(frozen=True, eq=False)
class Evidence:
    """Everything `build_evidence` found, for the tables, the map and the report.

    Attributes
    ----------
    gi_grid
        `geo.evidence.gi_star_grid` on the mapped episodes (WGS84 cell polygons, settings in
        ``.attrs["gi"]``).
    gi_wards
        `geo.evidence.gi_star_wards`: the same test on counts per ward.
    stability
        `geo.evidence.hotspot_stability`, one row per hotspot (`stability` NaN and `runs` 0
        when the check was not run: HDBSCAN, or too much work; see `notes`).
    hotspot_evidence
        `geo.evidence.hotspot_evidence` indexed like ``result.hotspots``; `evidence` is
        ``robust``, ``stable_only``, ``fragile`` or ``not_tested``.
    placed_out
        `geo.placed_out.summarise_placed_out` on every episode of the run: the host's own
        children located outside the area, by local authority, with a total row.
    comparison
        `geo.comparators.compare_with_benchmarks` (``None`` without a benchmarks file).
    host_figures
        `geo.comparators.host_figures` for this analysis (always computed).
    sentences
        `geo.evidence.describe_evidence`: plain-language sentences, no child id.
    parameters
        What was used: cell_m (and asked), permutations (and asked), stability runs (and how
        chosen), seed, fdr, alpha, robust share, DBSCAN parameters, population and its source,
        host code, files, the period analysed.
    timings
        Seconds per step and in all.
    notes
        What the analyst should know (scaled-down work, checks not run, missing inputs).
    """

    gi_grid: gpd.GeoDataFrame
    gi_wards: gpd.GeoDataFrame
    stability: pd.DataFrame
    hotspot_evidence: pd.DataFrame
    placed_out: pd.DataFrame
    comparison: pd.DataFrame | None
    host_figures: dict[str, float]
    sentences: tuple[str, ...]
    parameters: dict[str, object]
    timings: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def hot_cells(self) -> gpd.GeoDataFrame:
        """The significant Gi* hot cells of the grid."""
        return self.gi_grid[self.gi_grid["hot"].to_numpy(dtype=bool)]

    def verdict_counts(self) -> dict[str, int]:
        """Hotspots per verdict, every verdict listed (0 when none)."""
        counts = self.hotspot_evidence["evidence"].value_counts()
        return {v: int(counts.get(v, 0)) for v in VERDICTS}


# --- sizing ---------------------------------------------------------------------------------


def default_stability_runs(episodes: int, locations: int, pairs: int) -> int:
    """The number of bootstrap runs for a stability check of about `STABILITY_BUDGET_S`.

    200 (`DEFAULT_STABILITY_RUNS`) while a run is estimated to take at most 1/200 of the
    budget (every county-sized input: 10,000 episodes take about 0.3 s in all); above, the runs
    that fit in the budget, rounded down to tens, never fewer than `MIN_STABILITY_RUNS`. On the
    synthetic data (`geo.synth`, Oxfordshire): 200 at 10,000 and at 100,000 episodes (about
    0.3 and 0.5 s), 80 at 1,000,000 (1 s); 20 at 100,000 all-distinct locations (about 5 s:
    their 20 million neighbour pairs are relabelled in every run).

    `episodes` are those clustered, `locations` their distinct locations and `pairs`
    `geo.scale.neighbour_pairs_bound` of those locations at the run's eps.
    """
    per_run = _run_seconds(episodes, locations, pairs)
    fit = int(STABILITY_BUDGET_S / per_run) // 10 * 10
    return int(min(DEFAULT_STABILITY_RUNS, max(MIN_STABILITY_RUNS, fit)))


def _run_seconds(episodes: int, locations: int, pairs: int) -> float:
    return (
        _RUN_BASE_S
        + _RUN_PER_EPISODE_S * episodes
        + _RUN_PER_LOCATION_S * locations
        + _RUN_PER_PAIR_S * pairs
    )


def _grid_size(wards: gpd.GeoDataFrame, cell_m: float, permutations: int) -> tuple[
    float, int, list[str]
]:
    """The cell size and permutations to use, and notes on any change from those asked."""
    notes: list[str] = []
    area = float(wards.to_crs(s.BNG).area.sum())
    used = float(cell_m)

    def cells(size: float) -> float:  # cells over the area, plus a ring of edge cells
        return area / size**2 + 4 * math.sqrt(area) / size

    while cells(used) > MAX_CELLS:
        used *= 2
    if used != cell_m:
        notes.append(
            f"Gi* grid: {cell_m:g} m cells would make about {cells(cell_m):,.0f} cells over "
            f"this area (limit {MAX_CELLS:,}), so {used:g} m cells were used."
        )
    n_cells = cells(used)
    perms = int(permutations)
    if perms > 0 and n_cells * perms > MAX_PERMUTATION_CELLS:
        perms = max(MIN_PERMUTATIONS, int(MAX_PERMUTATION_CELLS / n_cells))
        if perms < permutations:
            notes.append(
                f"Gi* grid: esda's reference permutations reduced from {permutations:,} to "
                f"{perms:,} for about {n_cells:,.0f} cells (they give p_sim only; hot and cold "
                "cells come from the exact p-values)."
            )
        else:
            perms = int(permutations)
    return used, perms, notes


# --- building -------------------------------------------------------------------------------


def build_evidence(
    result: AnalysisResult,
    wards: gpd.GeoDataFrame,
    *,
    cell_m: float = DEFAULT_CELL_M,
    permutations: int = DEFAULT_PERMUTATIONS,
    stability_runs: int | None = None,
    seed: int = 0,
    la_boundaries: gpd.GeoDataFrame | str | Path | None = None,
    benchmarks: str | Path | pd.DataFrame | None = None,
    neighbours: str | Path | pd.DataFrame | None = None,
    host_code: str | None = None,
    population_0_17: float | None = None,
    region_codes: Iterable[str] | None = None,
    basis: str = "in_area",
) -> Evidence:
    """Gi*, stability, verdicts, placed-out and benchmark comparison for an analysis.

    Parameters
    ----------
    result
        The analysis (`geo.pipeline.analyse`).
    wards
        The boundary set's ward polygons (as given to `analyse`).
    cell_m
        Side of the Gi* grid cells in metres (default 500). Doubled while the grid would hold
        more than `MAX_CELLS` cells (recorded).
    permutations
        esda's reference permutations for ``p_sim`` (default 999; 0 skips them). Reduced while
        cells x permutations exceeds `MAX_PERMUTATION_CELLS` (recorded).
    stability_runs
        Bootstrap resamples of the children. ``None`` (default): `default_stability_runs`,
        200 for any county-sized input, fewer for very large ones (recorded). A number given
        is used as it is.
    seed
        Seed of the permutations and of the resampling.
    la_boundaries
        A national local-authority boundary layer (GeoDataFrame or a file geopandas reads),
        for placing the out-of-area episodes in their authority; ``None``: the
        `placement_la` text, then ``unknown``.
    benchmarks, neighbours
        The published-figures file and the statistical-neighbours file (paths, or frames
        already read by `geo.comparators.read_benchmarks` / `read_neighbours`). Without
        benchmarks there is no comparison.
    host_code
        The host's ONS code (e.g. ``E10000025``). Default: the benchmarks row whose
        `la_name` is the run's host authority (``result.config.host_authority``).
    population_0_17
        Children aged 0-17 in the area, for the rate per 10,000. Default: the area total of
        the run's ``--population`` (``result.totals["population_0_17"]``) when it has one,
        else the host's `population_0_17` in the benchmarks file, else none (no rate).
    region_codes
        The authorities whose mean is the region row (default: see
        `geo.comparators.compare_with_benchmarks`).
    basis
        ``"in_area"`` (default: every episode located in the area) or ``"host_children"``
        (the host's own children wherever they went missing); see `geo.comparators.host_figures`.

    Returns
    -------
    Evidence

    Raises
    ------
    ParameterError
        A benchmarks file is given but the host cannot be found in it and no `host_code` is
        given; or a parameter is out of range.
    InputError, BoundaryError
        A benchmarks, neighbours or boundary file cannot be used (the message names it).
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    notes: list[str] = []
    config = result.config
    precisions = tuple(config.hotspot_precisions)
    episodes = result.episodes
    if wards.crs is None:
        msg = "`wards` has no CRS."
        raise ParameterError(msg)
    # hashed once, for the stability check and the host's figures (by the analysis, when it
    # kept them: the same codes)
    if CHILD_CODE in episodes.columns:
        child_codes = episodes[CHILD_CODE].to_numpy(dtype=np.int64)
    else:
        child_codes = pd.factorize(episodes[s.CHILD_ID].astype(str))[0]
    clustered = _Clustered(episodes, precisions)

    # Gi* on the grid and on the wards
    t0 = time.perf_counter()
    used_cell, used_perms, grid_notes = _grid_size(wards, cell_m, permutations)
    notes += grid_notes
    gi_grid = ev.gi_star_grid(
        episodes, wards, cell_m=used_cell, permutations=used_perms, seed=seed, fdr=FDR,
        alpha=ALPHA, precisions=precisions,
    )  # fmt: skip
    timings["gi_grid"] = _since(t0)
    t0 = time.perf_counter()
    gi_wards = ev.gi_star_wards(
        episodes, wards, permutations=permutations, seed=seed, fdr=FDR,
        alpha=ALPHA,
    )  # fmt: skip
    timings["gi_wards"] = _since(t0)

    # stability and verdicts
    t0 = time.perf_counter()
    runs, how, stability_note = _stability_runs(result, stability_runs, clustered)
    if stability_note:
        notes.append(stability_note)
    hotspots = result.hotspots
    if runs > 0:
        stability = ev.hotspot_stability(
            episodes, hotspots, eps_m=config.eps_m, min_samples=config.min_samples,
            runs=runs, seed=seed, precisions=precisions, child_codes=child_codes,
            locations=clustered.locations(),
        )  # fmt: skip
    else:
        stability = _untested_stability(episodes, hotspots, precisions, child_codes, clustered)
    timings["stability"] = _since(t0)
    t0 = time.perf_counter()
    verdicts = ev.hotspot_evidence(hotspots, stability, gi_grid)
    if runs == 0:
        verdicts["evidence"] = "not_tested"
    if runs > 0:
        sentences = ev.describe_evidence(verdicts, gi_cells=gi_grid, stability_runs=runs)
    else:
        sentences = _untested_sentences(verdicts, gi_grid, stability_note)
    timings["verdicts"] = _since(t0)

    # placed out of area
    t0 = time.perf_counter()
    layer = _la_layer(la_boundaries)
    placed_out = summarise_placed_out(episodes, la_boundaries=layer)
    timings["placed_out"] = _since(t0)

    # published figures
    t0 = time.perf_counter()
    bench = _read(benchmarks, cmp.read_benchmarks)
    neigh = _read(neighbours, cmp.read_neighbours)
    host = _host_code(host_code, bench, config.host_authority)
    population, population_source = _population(population_0_17, result, bench, host)
    if basis not in ("in_area", "host_children"):
        msg = f"`basis` must be 'in_area' or 'host_children'. Got {basis!r} instead."
        raise ParameterError(msg)
    figures = cmp.host_figures(
        episodes, population_0_17=population, basis=basis, child_codes=child_codes,  # type: ignore[arg-type]
    )
    comparison = None
    if bench is not None:
        assert host is not None
        comparison = cmp.compare_with_benchmarks(
            host, figures, bench, neigh, region_codes=region_codes,
            host_label=f"{config.host_authority} (this analysis)",
        )  # fmt: skip
    if population is None and bench is not None:
        notes.append(
            "No population of children aged 0-17 was given: the rate of children missing per "
            "10,000 is not computed (give --population, or a host row with population_0_17 "
            "in the benchmarks file)."
        )
    elif population_source == "benchmarks":
        notes.append(
            f"The rate per 10,000 uses the population 0-17 of the host's row in the benchmarks "
            f"file ({population:,.0f})."
        )
    timings["comparison"] = _since(t0)
    timings["total"] = _since(started)

    parameters: dict[str, object] = {
        "cell_m": used_cell,
        "cell_m_asked": float(cell_m),
        "permutations": used_perms,
        "permutations_asked": int(permutations),
        "stability_runs": runs,
        "stability_runs_asked": stability_runs,
        "stability_runs_chosen_by": how,
        "seed": int(seed),
        "fdr": FDR,
        "alpha": ALPHA,
        "robust_stability": ev.STABLE_SHARE,
        "jaccard_match": ev.JACCARD_MATCH,
        "one_child_share": ev.ONE_CHILD_SHARE,
        "eps_m": float(config.eps_m),
        "min_samples": int(config.min_samples),
        "method": str(config.method),
        "precisions": list(precisions),
        "gi_cells": len(gi_grid),
        "gi_hot_cells": int(gi_grid["hot"].sum()),
        "gi_cold_cells": int(gi_grid["cold"].sum()),
        "gi_ward_hot": int(gi_wards["hot"].sum()),
        "population_0_17": population,
        "population_source": population_source,
        "comparison_basis": basis,
        "host_code": host,
        "host_authority": str(config.host_authority),
        "benchmarks": _name(benchmarks),
        "neighbours": _name(neighbours),
        "la_boundaries": _name(la_boundaries) if la_boundaries is not None else None,
        **_period(result),
    }
    return Evidence(
        gi_grid=gi_grid,
        gi_wards=gi_wards,
        stability=stability,
        hotspot_evidence=verdicts,
        placed_out=placed_out,
        comparison=comparison,
        host_figures=figures,
        sentences=tuple(sentences),
        parameters=parameters,
        timings=timings,
        notes=tuple(notes),
    )


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


class _Clustered:
    """The episodes that were clustered, as masks, and their distinct locations (found once,
    when first asked for: the run count and the stability check both need them)."""

    def __init__(self, episodes: pd.DataFrame, precisions: tuple[str, ...]) -> None:
        self.episodes = episodes
        self.kept = ev.clustered_rows(episodes, precisions, located=False)  # mapped, precision
        located = episodes[s.X].notna().to_numpy() & episodes[s.Y].notna().to_numpy()
        self.rows = self.kept & located  # ... and with coordinates: those clustered
        self.count = int(self.rows.sum())
        self._locations: Locations | None = None

    def locations(self) -> Locations:
        if self._locations is None:
            x = self.episodes[s.X].to_numpy(dtype=float)[self.rows]
            y = self.episodes[s.Y].to_numpy(dtype=float)[self.rows]
            self._locations = distinct_locations(x, y)
        return self._locations


def _stability_runs(
    result: AnalysisResult, asked: int | None, clustered: _Clustered
) -> tuple[int, str, str]:
    """(runs, how they were chosen, a note): 0 runs when the check is not run."""
    if str(result.config.method) != "dbscan":
        return 0, "not run", (
            "Stability was not tested: this run used HDBSCAN, and the re-run check repeats "
            "the DBSCAN clustering only (run with the default method to test it)."
        )
    if asked is not None:
        if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
            msg = f"`stability_runs` must be a whole number >= 1. Got {asked!r} instead."
            raise ParameterError(msg)
        return asked, "given", ""
    episodes = clustered.count
    if episodes == 0 or len(result.hotspots) == 0:
        return DEFAULT_STABILITY_RUNS, "default", ""
    loc = clustered.locations()
    pairs = neighbour_pairs_bound(loc.x, loc.y, float(result.config.eps_m))
    if pairs * BYTES_PER_PAIR > DEFAULT_BUDGET_BYTES:
        return 0, "not run", (
            f"Stability was not tested: the {len(loc.x):,} distinct locations are too dense "
            "for DBSCAN's memory budget, so the analysis clustered them merged onto a fine "
            "grid, and re-running that 20 or more times would take too long."
        )
    if pairs * STABILITY_BYTES_PER_PAIR > DEFAULT_BUDGET_BYTES:
        # the bound is loose for dense data: count the pairs (the k-d tree stores none)
        pairs = ev.count_neighbour_pairs(loc.x, loc.y, float(result.config.eps_m))
        if pairs * STABILITY_BYTES_PER_PAIR > DEFAULT_BUDGET_BYTES:
            need = pairs * STABILITY_BYTES_PER_PAIR / 2**30
            return 0, "not run", (
                f"Stability was not tested: the {len(loc.x):,} distinct locations have "
                f"{pairs:,} pairs within {result.config.eps_m:g} m, and holding them for the "
                f"re-runs would take about {need:.1f} GiB of memory (give stability_runs to "
                "run it anyway)."
            )
    per_run = _run_seconds(episodes, len(loc.x), pairs)
    if per_run * MIN_STABILITY_RUNS > STABILITY_MAX_S:
        return 0, "not run", (
            f"Stability was not tested: {MIN_STABILITY_RUNS} re-runs of the clustering on "
            f"{episodes:,} episodes at {len(loc.x):,} locations would take about "
            f"{per_run * MIN_STABILITY_RUNS:.0f} s (give stability_runs to run it anyway)."
        )
    runs = default_stability_runs(episodes, len(loc.x), pairs)
    if runs < DEFAULT_STABILITY_RUNS:
        half = 1.96 * math.sqrt(0.8 * 0.2 / runs)
        return runs, "scaled", (
            f"Stability: {runs} re-runs instead of {DEFAULT_STABILITY_RUNS}, to bound the time "
            f"of the check on {episodes:,} episodes at {len(loc.x):,} locations; a share "
            f"near 80% is then known to about \u00b1{half:.0%}."
        )
    return runs, "default", ""


def _untested_stability(
    episodes: pd.DataFrame,
    hotspots: pd.DataFrame,
    precisions: tuple[str, ...],
    child_codes: np.ndarray,
    clustered: _Clustered,
) -> pd.DataFrame:
    """`hotspot_stability`'s columns without the resampling: who each hotspot rests on.

    Counted on codes (`child_codes`, the clustered locations) when every episode in a hotspot
    has coordinates and a child id, as after the pipeline; else by `_untested_from_frame`,
    whose groups leave out a missing child id. Both give the same table.
    """
    spot = episodes[s.HOTSPOT_ID].fillna("").astype(str)
    in_spot = clustered.kept & (spot != "").to_numpy()
    ids = hotspots[s.HOTSPOT_ID].astype(str)
    child = child_codes[in_spot]
    if not ids.is_unique or (in_spot & ~clustered.rows).any() or (child < 0).any():
        return _untested_from_frame(episodes, hotspots, precisions)
    names_of, names = pd.factorize(spot[in_spot])
    spot_code = pd.Index(ids).get_indexer(names)[names_of]
    location = np.full(len(episodes), -1, dtype=np.int64)
    location[clustered.rows] = clustered.locations().inverse
    table = ev.hotspot_members(spot_code, child, location[in_spot], len(ids))
    return _untested_table(hotspots, table)


def _untested_from_frame(
    episodes: pd.DataFrame, hotspots: pd.DataFrame, precisions: tuple[str, ...]
) -> pd.DataFrame:
    """`_untested_stability` by grouping the rows themselves (any input)."""
    frame = episodes
    keep = np.ones(len(frame), dtype=bool)
    if s.STATUS in frame.columns:
        keep &= (frame[s.STATUS] == s.MAPPED).to_numpy()
    if s.PRECISION in frame.columns:
        keep &= frame[s.PRECISION].astype(str).isin(precisions).to_numpy()
    frame = frame.loc[keep & (frame[s.HOTSPOT_ID].fillna("").astype(str) != "").to_numpy()]
    spot = frame[s.HOTSPOT_ID].astype(str)
    per_child = frame.groupby([spot, frame[s.CHILD_ID].astype(str)]).size()
    grouped = per_child.groupby(level=0)
    locations = frame.assign(_h=spot).drop_duplicates(["_h", s.X, s.Y]).groupby("_h").size()
    ids = hotspots[s.HOTSPOT_ID].astype(str)
    n_ep = grouped.sum().reindex(ids).fillna(0).astype(np.int64).to_numpy()
    top = grouped.max().reindex(ids).fillna(0).astype(np.int64).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_ep > 0, top / np.maximum(n_ep, 1), np.nan)
    table = {
        "episodes": n_ep,
        "children": grouped.size().reindex(ids).fillna(0).astype(np.int64).to_numpy(),
        "locations": locations.reindex(ids).fillna(0).astype(np.int64).to_numpy(),
        "top_child_episodes": top,
        "top_child_share": np.round(share, 3),
        "rests_on_one_child": share >= ev.ONE_CHILD_SHARE,
    }
    return _untested_table(hotspots, table)


def _untested_table(hotspots: pd.DataFrame, table: Mapping[str, np.ndarray]) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            s.HOTSPOT_ID: hotspots[s.HOTSPOT_ID].astype(str).to_numpy(),
            **table,
            "stability": np.nan,
            "mean_jaccard": np.nan,
            "stable": False,
            "runs": 0,
        },
        columns=list(ev.STABILITY_COLUMNS),
        index=hotspots.index,
    )
    out.attrs["stability"] = {"runs": 0}
    return out


def _untested_sentences(
    verdicts: pd.DataFrame, gi_grid: gpd.GeoDataFrame, why: str
) -> list[str]:
    settings = dict(gi_grid.attrs.get("gi", {}))
    sentences = [
        f"Each hotspot was checked with the Getis-Ord Gi* hot-spot test on a "
        f"{settings.get('cell_m', DEFAULT_CELL_M):g} m grid (false discovery rate "
        f"{settings.get('alpha', ALPHA):.0%}).",
        why,
    ]
    if verdicts.empty:
        sentences.append("No hotspot was found, so there is nothing to test.")
    else:
        sig = verdicts["gi_significant"].to_numpy(dtype=bool)
        ids = verdicts[s.HOTSPOT_ID].astype(str)
        sentences.append(
            f"Overlapping a significant Gi* hot spot: {', '.join(ids[sig])}."
            if sig.any() else "No hotspot overlaps a significant Gi* hot spot."
        )
        one = verdicts["rests_on_one_child"].to_numpy(dtype=bool)
        if one.any():
            parts = [
                f"{row[s.HOTSPOT_ID]} ({int(row['top_child_episodes'])} of "
                f"{int(row['episodes'])} episodes)"
                for _, row in verdicts[one].iterrows()
            ]
            sentences.append(
                "Rests on one child (one child accounts for half or more of its episodes): "
                f"{', '.join(parts)}."
            )
    hot, cold = int(gi_grid["hot"].sum()), int(gi_grid["cold"].sum())
    text = f"The Gi* test found {hot} hot-spot cells among {len(gi_grid):,}"
    sentences.append(text + (f" and {cold} cold-spot cells." if cold else "."))
    return sentences


def _la_layer(layer: gpd.GeoDataFrame | str | Path | None) -> gpd.GeoDataFrame | None:
    if layer is None or isinstance(layer, gpd.GeoDataFrame):
        return layer
    return gpd.read_file(layer)


def _read(value: object, reader) -> pd.DataFrame | None:  # noqa: ANN001 - a reader function
    if value is None:
        return None
    if isinstance(value, pd.DataFrame):
        return value
    return reader(Path(value))  # type: ignore[arg-type]


def _name(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | Path):
        return str(value)
    return "(frame given)"


def _host_code(code: str | None, bench: pd.DataFrame | None, authority: str) -> str | None:
    if code:
        return str(code).strip().upper()
    if bench is None:
        return None
    match = bench[bench["la_name"].astype(str).str.casefold() == str(authority).casefold()]
    codes = sorted(set(match["la_code"].astype(str)))
    if len(codes) == 1:
        return codes[0]
    msg = (
        f"The benchmarks file has no single row named {authority!r} (the run's host "
        "authority): give the host's ONS code (host_code, e.g. E10000025 for Oxfordshire)."
    )
    raise ParameterError(msg)


def _population(
    given: float | None, result: AnalysisResult, bench: pd.DataFrame | None, host: str | None
) -> tuple[float | None, str | None]:
    if given is not None:
        value = float(given)
        if not (math.isfinite(value) and value > 0):
            msg = f"`population_0_17` must be a number above 0. Got {given!r} instead."
            raise ParameterError(msg)
        return value, "given"
    totals = result.totals
    if "population_0_17" in totals.columns and len(totals):
        value = pd.to_numeric(totals["population_0_17"], errors="coerce").iloc[0]
        if pd.notna(value) and value > 0:
            return float(value), "population file"
    if bench is not None and host is not None and "population_0_17" in bench.columns:
        rows = bench[bench["la_code"] == host]
        if len(rows):
            latest = rows.sort_values("period", kind="stable").iloc[-1]
            value = pd.to_numeric(pd.Series([latest["population_0_17"]]), errors="coerce")[0]
            if pd.notna(value) and value > 0:
                return float(value), "benchmarks"
    return None, None


def _period(result: AnalysisResult) -> dict[str, object]:
    """The dates analysed (the --period given, open ends filled from the data) and days."""
    period = getattr(result.config, "period", None)
    start = getattr(period, "start", None) if period is not None else None
    end = getattr(period, "end", None) if period is not None else None
    start = start if start is not None else result.counts.get("missing_from_first")
    end = end if end is not None else result.counts.get("missing_from_last")
    if start is None or end is None:
        return {"period_start": None, "period_end": None, "period_days": None}
    first, last = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    return {
        "period_start": first.date().isoformat(),
        "period_end": last.date().isoformat(),
        "period_days": int((last - first).days) + 1,
    }


# --- tables ---------------------------------------------------------------------------------


def evidence_tables(evidence: Evidence) -> dict[str, pd.DataFrame]:
    """The tables to write, by name (in this order):

    - ``hotspot_evidence``: `EVIDENCE_COLUMNS`, one row per hotspot, to merge into
      hotspots.csv on `hotspot_id` (z to 2 decimals, q to 3 significant digits);
    - ``gi_cells``: the significant Gi* cells only (hot, then cold, by cell id):
      `GI_CELL_COLUMNS`, the cell centre in British National Grid metres (a multiple of half
      a cell: never an address), ``spot`` hot/cold, the window's episodes and its expected
      count, z, the exact p-value and q;
    - ``placed_out``: `geo.placed_out.PLACED_OUT_COLUMNS` with the total row;
    - ``benchmark_comparison``: `geo.comparators.COMPARISON_COLUMNS` (only with benchmarks).

    No child id, and no per-child figure other than `top_child_share`.
    """
    verdicts = evidence.hotspot_evidence
    table = pd.DataFrame(
        {
            s.HOTSPOT_ID: verdicts[s.HOTSPOT_ID].astype(str).to_numpy(),
            "gi_significant": verdicts["gi_significant"].astype(bool).to_numpy(),
            "gi_max_z": np.round(verdicts["gi_max_z"].to_numpy(dtype=float), 2),
            "gi_min_q": _sig3(verdicts["gi_min_q"].to_numpy(dtype=float)),
            "stability": verdicts["stability"].to_numpy(dtype=float),
            "rests_on_one_child": verdicts["rests_on_one_child"].astype(bool).to_numpy(),
            "top_child_share": verdicts["top_child_share"].to_numpy(dtype=float),
            "evidence": verdicts["evidence"].astype(str).to_numpy(),
        },
        columns=list(EVIDENCE_COLUMNS),
    )
    grid = evidence.gi_grid
    cell = float(grid.attrs.get("gi", {}).get("cell_m") or evidence.parameters["cell_m"])
    sig = grid[grid["hot"].to_numpy(dtype=bool) | grid["cold"].to_numpy(dtype=bool)]
    cells = pd.DataFrame(
        {
            "cell_id": sig["cell_id"].astype(str).to_numpy(),
            "centre_easting": _whole(sig["cell_x"].to_numpy(dtype=float) + cell / 2),
            "centre_northing": _whole(sig["cell_y"].to_numpy(dtype=float) + cell / 2),
            "cell_m": _whole(np.full(len(sig), cell)),
            "spot": np.where(sig["hot"].to_numpy(dtype=bool), "hot", "cold"),
            "window_count": sig["window_count"].to_numpy(dtype=np.int64),
            "window_cells": sig["window_cells"].to_numpy(dtype=np.int64),
            "expected": np.round(sig["expected"].to_numpy(dtype=float), 2),
            "z": np.round(sig["z"].to_numpy(dtype=float), 2),
            "p_exact": _sig3(sig["p_exact"].to_numpy(dtype=float)),
            "q": _sig3(sig["q"].to_numpy(dtype=float)),
        },
        columns=list(GI_CELL_COLUMNS),
    )
    cells = cells.sort_values(["spot", "cell_id"], ascending=[False, True], kind="stable")
    tables = {
        "hotspot_evidence": table,
        "gi_cells": cells.reset_index(drop=True),
        "placed_out": evidence.placed_out.reset_index(drop=True),
    }
    if evidence.comparison is not None:
        tables["benchmark_comparison"] = evidence.comparison.reset_index(drop=True)
    return tables


def _sig3(values: np.ndarray) -> np.ndarray:
    """Round to 3 significant digits (NaN kept): small q-values stay readable and stable."""
    out = np.array(values, dtype=float)
    ok = np.isfinite(out) & (out != 0)
    digits = 2 - np.floor(np.log10(np.abs(out[ok])))
    out[ok] = [round(float(v), int(d)) for v, d in zip(out[ok], digits, strict=True)]
    return out


def _whole(values: np.ndarray) -> np.ndarray:
    """Metres as whole numbers when they are (500 m cells), else to the centimetre."""
    if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return np.round(values, 2)


def evidence_summary(evidence: Evidence) -> dict[str, object]:
    """A JSON-friendly summary for run.json: parameters, verdict counts, notes, timings."""

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, np.generic):
            return clean(value.item())
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    placed = evidence.placed_out
    total = placed[placed["la_name"] == "All placed out of area"]
    return clean(
        {
            "parameters": evidence.parameters,
            "hotspots": evidence.verdict_counts(),
            "rests_on_one_child": int(
                evidence.hotspot_evidence["rests_on_one_child"].astype(bool).sum()
            ),
            "placed_out_episodes": int(total["episodes"].iloc[0]) if len(total) else 0,
            "host_figures": evidence.host_figures,
            "comparison": evidence.comparison is not None,
            "sentences": list(evidence.sentences),
            "notes": list(evidence.notes),
            "timings": evidence.timings,
        }
    )  # type: ignore[return-value]
