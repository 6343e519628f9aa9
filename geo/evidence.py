"""Evidence behind each hotspot: Getis-Ord Gi* hot spots, bootstrap stability, plain words.

DBSCAN draws a hotspot wherever enough episodes lie close together; this module says how far
each one can be trusted (docs/evidence.md has the full method and the reasons for it):

- `gi_star_grid` / `gi_star_wards`: Getis-Ord Gi* (``esda.G_Local`` with ``star=True``,
  binary queen contiguity) on counts per square cell of a regular grid in metres, or per ward.
  Significance comes from the *exact* randomisation distribution of the window total (the
  limit of infinitely many permutations, computed by counting), corrected for the number of
  cells tested with the Benjamini-Hochberg false discovery rate. esda's own permutation
  pseudo p-value is reported alongside (``p_sim``).
- `hotspot_significance` / `hotspot_gi`: does a DBSCAN hotspot overlap a significant Gi* hot
  cell (or ward)?
- `hotspot_stability`: the hotspot's share of bootstrap resamples of *children* in which
  DBSCAN finds it again (Jaccard overlap > 0.5 on its distinct locations), its number of
  children and whether it rests on one child.
- `hotspot_evidence` and `describe_evidence`: one row per hotspot with a verdict, and the
  sentences for the method panel.

The module takes frames as arguments and knows nothing of the boundary sets or the map.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from esda import G_Local
from esda.crand import vec_permutations
from libpysal.graph import Graph
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.special import comb

from geo import schema as s
from geo.cluster import Locations, check_cluster_params, distinct_locations
from geo.errors import ParameterError

Measure = Literal["episodes", "children"]

DEFAULT_CELL_M = 500.0
DEFAULT_PERMUTATIONS = 999
DEFAULT_ALPHA = 0.05
DEFAULT_RUNS = 200
STABLE_SHARE = 0.8  # a hotspot found again in >= 80% of resamples is "stable"
JACCARD_MATCH = 0.5  # a resample hotspot "is" the original when Jaccard > 0.5
ONE_CHILD_SHARE = 0.5  # one child with >= 50% of a hotspot's episodes: it rests on one child
MAX_GRID_CELLS = 2_000_000
HOTSPOT_PRECISIONS = s.PRECISIONS[: s.PRECISIONS.index(s.DEFAULT_HOTSPOT_PRECISION) + 1]

GI_COLUMNS = (
    "count", "window_count", "window_cells", "expected", "gi", "z", "p_sim", "p_exact", "q",
    "hot", "cold",
)  # fmt: skip
STABILITY_COLUMNS = (
    s.HOTSPOT_ID, "episodes", "children", "locations", "top_child_episodes", "top_child_share",
    "rests_on_one_child", "stability", "mean_jaccard", "stable", "runs",
)  # fmt: skip


# --- Getis-Ord Gi* ------------------------------------------------------------------------------


def gi_star_grid(
    episodes: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    *,
    cell_m: float = DEFAULT_CELL_M,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    fdr: bool = True,
    alpha: float = DEFAULT_ALPHA,
    measure: Measure = "episodes",
    precisions: Sequence[str] | None = HOTSPOT_PRECISIONS,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* on a regular grid of square cells (metres, British National Grid).

    Parameters
    ----------
    episodes
        Mapped episodes with `x`, `y` (EPSG:27700 metres) and `child_id`; `status` and
        `precision` are used when present (only ``mapped`` rows, and only `precisions`).
    wards
        The ward polygons (any CRS). The grid covers their union; cells that do not overlap
        it are dropped and the cells on the edge are clipped to it.
    cell_m
        Side of a cell in metres (default 500). Cells are aligned on multiples of `cell_m` in
        easting and northing, so the same cell has the same id in every run.
    permutations
        Permutations for esda's conditional-randomisation pseudo p-value `p_sim` (0: skip).
        Memory is cells x permutations x 8 bytes (87 MB for Oxfordshire at 500 m).
    seed
        Seed of those permutations.
    fdr
        Flag cells by the Benjamini-Hochberg q-value (default) instead of the raw `p_exact`.
    alpha
        Significance level (default 0.05: a false discovery rate of 5% with `fdr`).
    measure
        Count ``"episodes"`` (default) or distinct ``"children"`` per cell.
    precisions
        Location precisions counted; default: the hotspot precisions (coordinates and full
        postcodes), since a sector or district centroid is not a place. ``None``: all.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell inside the area (WGS84 polygons): `cell_id` (``"<easting>_<northing>"``
        of the south-west corner), `cell_x`, `cell_y`, then `GI_COLUMNS`: `count`,
        `window_count` (the cell and its up-to-8 neighbours), `window_cells`, `expected`,
        `gi` (G*), `z`, `p_sim`, `p_exact` (two-sided), `q`, `hot`, `cold`. The settings are in
        ``.attrs["gi"]`` (`cell_m`, `permutations`, `seed`, `alpha`, `fdr`, `measure`,
        `cells`, `hot_cells`, `cold_cells`, `not_counted`: episodes in no cell, `seconds`).

    Notes
    -----
    About 0.5 s for a county at 500 m (~11,000 cells): building the grid ~0.2 s, the 999
    permutations ~0.25 s (esda's draws, their totals counted by `_conditional_p_sim`), the
    exact p-values ~0.05 s at a million episodes.
    """
    started = time.perf_counter()
    _check_gi_params(permutations, alpha, measure)
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        msg = f"`cell_m` must be a number of metres greater than 0. Got {cell_m!r} instead."
        raise ParameterError(msg)
    area = _area_union(wards)
    x0, y0, x1, y1 = area.bounds
    c0, r0 = math.floor(x0 / cell_m), math.floor(y0 / cell_m)
    n_cols = max(1, math.ceil(x1 / cell_m) - c0)
    n_rows = max(1, math.ceil(y1 / cell_m) - r0)
    if n_cols * n_rows > MAX_GRID_CELLS:
        msg = (
            f"`cell_m` = {cell_m:g} m makes a grid of {n_cols * n_rows:,} cells over the area; "
            f"the limit is {MAX_GRID_CELLS:,}. Use larger cells."
        )
        raise ParameterError(msg)
    col, row = (a.ravel() for a in np.meshgrid(np.arange(n_cols), np.arange(n_rows)))
    boxes = shapely.box(
        (c0 + col) * cell_m, (r0 + row) * cell_m, (c0 + col + 1) * cell_m, (r0 + row + 1) * cell_m
    )
    shapely.prepare(area)
    touches_area = shapely.intersects(area, boxes)
    inside = shapely.contains_properly(area, boxes)
    geoms = boxes.copy()
    edge = touches_area & ~inside
    geoms[edge] = shapely.intersection(boxes[edge], area)

    keep = _kept(episodes, precisions)
    ex = np.floor(episodes[s.X].to_numpy(dtype=float)[keep] / cell_m).astype(np.int64) - c0
    ey = np.floor(episodes[s.Y].to_numpy(dtype=float)[keep] / cell_m).astype(np.int64) - r0
    on_grid = (ex >= 0) & (ex < n_cols) & (ey >= 0) & (ey < n_rows)
    flat = np.where(on_grid, ey * n_cols + ex, -1)
    occupied = np.zeros(len(boxes), dtype=bool)
    occupied[flat[on_grid]] = True
    in_area = touches_area & (shapely.area(geoms) > 0)
    # an episode in a cell just outside the projected outline keeps its (whole) cell
    geoms[occupied & ~in_area] = boxes[occupied & ~in_area]
    keep = in_area | occupied
    kept = np.flatnonzero(keep)
    position = np.full(len(boxes), -1, dtype=np.int64)
    position[kept] = np.arange(len(kept))
    cell_of = np.where(on_grid, position[np.maximum(flat, 0)], -1)
    dropped = int((cell_of < 0).sum())
    y = _counts(episodes, keep, cell_of, len(kept), measure)

    adjacency = _queen_lattice(col[kept], row[kept], n_cols, n_rows)
    cell_x = (c0 + col[kept]) * cell_m
    cell_y = (r0 + row[kept]) * cell_m
    cells = pd.DataFrame(
        {
            "cell_id": [
                f"{a:.0f}_{b:.0f}" for a, b in zip(cell_x.tolist(), cell_y.tolist(), strict=True)
            ],
            "cell_x": cell_x,
            "cell_y": cell_y,
        }
    )
    stats = _gi_star(y, adjacency, permutations=permutations, seed=seed, fdr=fdr, alpha=alpha)
    out = gpd.GeoDataFrame(
        pd.concat([cells, stats], axis=1),
        geometry=gpd.GeoSeries(geoms[kept], crs=s.BNG).to_crs(s.WGS84).to_numpy(),
        crs=s.WGS84,
    )
    out.attrs["gi"] = _settings(
        out, "grid", started, cell_m=float(cell_m), permutations=permutations, seed=seed,
        alpha=alpha, fdr=fdr, measure=measure, precisions=precisions, not_counted=dropped,
    )  # fmt: skip
    return out


def gi_star_wards(
    episodes: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    fdr: bool = True,
    alpha: float = DEFAULT_ALPHA,
    measure: Measure = "episodes",
    precisions: Sequence[str] | None = None,
) -> gpd.GeoDataFrame:
    """Getis-Ord Gi* on counts per ward, neighbours by queen contiguity (libpysal).

    Parameters
    ----------
    episodes
        Mapped episodes with `ward_code` and `child_id` (`status`, `precision` used when
        present).
    wards
        Ward polygons with `ward_code` (and `ward_name`, `lad_name`, `lpa_name` if present,
        carried through). Any CRS; the result is in WGS84.
    permutations, seed, fdr, alpha, measure
        As in `gi_star_grid`.
    precisions
        Location precisions counted; default ``None``: every mapped episode, as in the ward
        tables (a sector centroid still lies in a ward).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per ward, sorted by `ward_code`: the ward's code and names, then `GI_COLUMNS`.
        Settings in ``.attrs["gi"]``.

    Notes
    -----
    With ~100 wards a single busy ward can never be significant: one ward in a window of
    about 7 has a chance of about 7 in 100 to be drawn at random. Ward Gi* finds groups of
    adjacent busy wards; the grid finds smaller groups of busy cells.
    """
    started = time.perf_counter()
    _check_gi_params(permutations, alpha, measure)
    if s.WARD_CODE not in wards.columns:
        msg = "`wards` lacks the column `ward_code`."
        raise ParameterError(msg)
    if wards.crs is None:
        msg = "`wards` has no CRS."
        raise ParameterError(msg)
    ordered = wards.sort_values(s.WARD_CODE, kind="stable").reset_index(drop=True)
    keep_cols = [c for c in (s.WARD_CODE, s.WARD_NAME, s.LAD_NAME, s.LPA_NAME) if c in ordered]
    keep = _kept(episodes, precisions)
    codes = pd.Index(ordered[s.WARD_CODE].astype(str))
    # each distinct ward code is looked up once
    ward_of, ward_codes = pd.factorize(
        episodes[s.WARD_CODE][keep].astype(str), use_na_sentinel=False
    )
    cell_of = codes.get_indexer(ward_codes)[ward_of]
    dropped = int((cell_of < 0).sum())
    y = _counts(episodes, keep, cell_of, len(ordered), measure)
    graph = Graph.build_contiguity(ordered, rook=False, strict=False)
    adjacency = graph.sparse.tocsr()
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    adjacency.data[:] = 1.0
    stats = _gi_star(y, adjacency, permutations=permutations, seed=seed, fdr=fdr, alpha=alpha)
    out = gpd.GeoDataFrame(
        pd.concat([ordered[keep_cols].astype(str), stats], axis=1),
        geometry=ordered.geometry.to_crs(s.WGS84).to_numpy(),
        crs=s.WGS84,
    )
    out.attrs["gi"] = _settings(
        out, "wards", started, cell_m=None, permutations=permutations, seed=seed, alpha=alpha,
        fdr=fdr, measure=measure, precisions=precisions, not_counted=dropped,
    )  # fmt: skip
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (false discovery rate adjusted p-values).

    ``q_(i) = min_{j >= i} p_(j) * m / j`` over the sorted p-values, capped at 1. A test is
    significant at FDR `alpha` when its q-value is at most `alpha`.

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q


def window_total_tails(
    values: np.ndarray, sizes: np.ndarray, totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact randomisation tail probabilities of window totals.

    Under the null hypothesis the `values` (whole numbers, one per cell) are shuffled at
    random over the cells, so a window of `k` cells holds a random `k`-subset of them. For
    each window (its size in `sizes`, its observed total in `totals`) this returns
    ``P(T >= total)`` and ``P(T <= total)``: the p-values of a permutation test with every
    permutation, computed by counting the k-subsets with each sum (a knapsack over the
    distinct values) instead of sampling.

    Returns
    -------
    (upper, lower)
        Two float arrays aligned with `sizes`.
    """
    values = np.asarray(values)
    sizes = np.asarray(sizes, dtype=np.int64)
    totals = np.asarray(totals, dtype=np.int64)
    if len(sizes) == 0:
        return np.empty(0), np.empty(0)
    if np.any(values < 0) or np.any(values != np.round(values)):
        msg = "window_total_tails needs whole, non-negative values (counts)."
        raise ValueError(msg)
    n = len(values)
    k_max = int(sizes.max())
    cap = max(int(totals.max()), 0)
    distinct, mult = np.unique(values.astype(np.int64), return_counts=True)
    ways = np.zeros((k_max + 1, cap + 1))  # ways[k, t]: k-subsets with total t (t >= cap: cap)
    ways[0, 0] = 1.0
    largest: list[int] = []  # the k_max largest values added so far (values come in order)
    for value, count in zip(distinct.tolist(), mult.tolist(), strict=True):
        copies = min(count, k_max)
        # no subset of k_max values or fewer totals more than the k_max largest: the columns
        # from reach + 1 to cap - 1 hold only zeros
        reach = min(sum(largest), cap - 1)
        largest = (largest + [value] * copies)[-k_max:]
        if value == 0 or reach + copies * value <= cap:
            _add_value_in_reach(ways, value, count, copies, reach)
            continue
        if copies == 1:
            _add_single_value(ways, value, count)
            continue
        new = ways.copy()
        for r in range(1, copies + 1):
            shift = r * value
            weight = float(comb(count, r, exact=True))
            src = ways[: k_max + 1 - r]
            if shift > cap:
                new[r:, cap] += src.sum(axis=1) * weight
                continue
            new[r:, shift:] += src[:, : cap + 1 - shift] * weight
            if shift > 0:
                new[r:, cap] += src[:, cap + 1 - shift :].sum(axis=1) * weight
        ways = new
    try:
        all_ways = np.array([float(comb(n, k, exact=True)) for k in range(k_max + 1)])
    except OverflowError:
        msg = "Too many cells and neighbours for exact Gi* p-values; use larger cells."
        raise ParameterError(msg) from None
    pmf = ways / all_ways[:, None]
    upper = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # adds the small tail terms first
    lower = np.cumsum(pmf, axis=1)
    t = np.clip(totals, 0, cap)
    return np.minimum(upper[sizes, t], 1.0), np.minimum(lower[sizes, t], 1.0)


def _add_value_in_reach(
    ways: np.ndarray, value: int, count: int, copies: int, reach: int
) -> None:
    """`window_total_tails`' step for one value, in place, when its sums stay below the cap.

    The same additions, in the same order, as the general step, on the columns that can hold
    anything other than zero: ``0..reach`` (every column from ``reach + 1`` to ``cap - 1`` is
    zero) and the cap column. When ``reach + copies * value <= cap`` the shifted columns
    stay within the table, and each tail that the general step sums (columns ``cap + 1 -
    shift`` to ``cap``) is zero but for its last entry, so its sum is that entry, exactly.
    Adding a zero leaves a number unchanged, so the table is bit for bit the general step's.
    """
    k_max, cap = ways.shape[0] - 1, ways.shape[1] - 1
    old = ways[:, : reach + 1].copy()
    old_cap = ways[:, cap].copy()
    for r in range(1, copies + 1):
        shift = r * value
        weight = float(comb(count, r, exact=True))
        ways[r:, shift : shift + reach + 1] += old[: k_max + 1 - r] * weight
        ways[r:, cap] += old_cap[: k_max + 1 - r] * weight  # its tail (for 0: the column)


def _add_single_value(ways: np.ndarray, value: int, count: int) -> None:
    """`window_total_tails`' general step, in place, for a value > 0 of which subsets hold
    at most one (it occurs once, or windows are single cells).

    With one copy every term reads a row below the one it adds to, as it was before the
    step: each is computed (into a new array) before any addition, which saves the copy of
    the table and gives the same numbers.
    """
    k_max, cap = ways.shape[0] - 1, ways.shape[1] - 1
    weight = float(comb(count, 1, exact=True))
    src = ways[:k_max]
    if value > cap:
        ways[1:, cap] += src.sum(axis=1) * weight
        return
    tail = src[:, cap + 1 - value :].sum(axis=1)
    ways[1:, value:] += src[:, : cap + 1 - value] * weight
    ways[1:, cap] += tail * weight


def _gi_star(
    y: np.ndarray,
    adjacency: sp.csr_matrix,
    *,
    permutations: int,
    seed: int,
    fdr: bool,
    alpha: float,
) -> pd.DataFrame:
    """Gi* statistics, p-values and flags for counts `y` and a binary, zero-diagonal adjacency."""
    n = len(y)
    window = (adjacency + sp.identity(n, format="csr")).tocsr()
    window_count = np.rint(window @ y).astype(np.int64)
    window_cells = np.diff(window.indptr).astype(np.int64)
    total = float(y.sum())
    expected = window_cells * total / n if n else np.zeros(0)
    gi = np.full(n, np.nan)
    z = np.full(n, np.nan)
    p_sim = np.full(n, np.nan)
    if n > 1 and total > 0 and np.ptp(y) > 0:
        graph = Graph.from_sparse(adjacency)
        values = y.astype(float)
        exact = _whole_counts(values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # esda's notice on `alternative`, islands
            stat = G_Local(
                values, graph, transform="B", star=True,
                permutations=0 if exact else permutations, seed=seed, n_jobs=1,
                keep_simulations=permutations > 0 and not exact,
            )  # fmt: skip
        gi = np.asarray(stat.Gs, dtype=float)
        z = np.asarray(stat.Zs, dtype=float)
        if permutations > 0 and exact:
            p_sim = _conditional_p_sim(values, adjacency, gi, permutations, seed)
        elif permutations > 0:
            p_sim = _pseudo_p(gi, np.asarray(stat.rGs), permutations)
    upper, lower = window_total_tails(y, window_cells, window_count)
    p_exact = np.minimum(1.0, 2.0 * np.minimum(upper, lower))
    q = benjamini_hochberg(p_exact) if fdr else p_exact.copy()
    significant = q <= alpha
    return pd.DataFrame(
        {
            "count": y.astype(np.int64),
            "window_count": window_count,
            "window_cells": window_cells,
            "expected": np.round(expected, 4),
            "gi": gi,
            "z": z,
            "p_sim": p_sim,
            "p_exact": p_exact,
            "q": q,
            "hot": significant & (window_count > expected),
            "cold": significant & (window_count < expected),
        }
    )


def _pseudo_p(observed: np.ndarray, simulated: np.ndarray, permutations: int) -> np.ndarray:
    """One-sided pseudo p-value in the more extreme direction, ties counted on both sides.

    esda 2.9's default (``alternative="directed"``) counts ties as extreme in the "lower"
    direction, so a cell whose window is empty, like every random window, gets the smallest
    possible p (0.001): here it gets 1.
    """
    tol = 1e-12 * np.maximum(np.abs(observed), 1e-300)
    at_least = (simulated >= (observed - tol)[:, None]).sum(axis=1)
    at_most = (simulated <= (observed + tol)[:, None]).sum(axis=1)
    return (np.minimum(at_least, at_most) + 1.0) / (permutations + 1.0)


def _whole_counts(values: np.ndarray) -> bool:
    """Whether `values` are whole numbers whose sums are exact in floating point."""
    return bool(
        np.all(np.isfinite(values))
        and np.all(values == np.round(values))
        and np.abs(values).sum() < 2.0**52
    )


def _conditional_p_sim(
    values: np.ndarray,
    adjacency: sp.csr_matrix,
    observed: np.ndarray,
    permutations: int,
    seed: int,
    block: int = 512,
) -> np.ndarray:
    """`_pseudo_p` of esda's conditional randomisation of Gi* (binary weights), without esda.

    esda's ``G_Local(..., transform="B", star=True, permutations, seed)`` draws, once for all
    cells, ``permutations`` rows of `max_card` ids of the other cells
    (`esda.crand.vec_permutations`, the same call here, so the same ids); for cell ``i`` with
    ``k`` neighbours, id ``j`` of the first ``k`` in a row stands for cell ``j + (j >= i)``,
    and the simulated G* is the total of those cells plus cell ``i``, over the total of all
    cells (0 for a cell without neighbours). The totals are whole numbers, so they are exact
    in any order of addition: this function counts them without a Python loop over the cells
    (for the cells with ``k`` neighbours, in order, a drawn id counts as ``j + 1`` for the
    first cells and as ``j`` after cell ``j``: a cumulative sum down the cells), and gives
    exactly esda's simulated values, hence exactly `_pseudo_p` of them.

    `values` must pass `_whole_counts`; `observed` is esda's ``Gs``.
    """
    n = len(values)
    counts = values.astype(np.int64)
    adj = sp.csr_matrix(adjacency, copy=True)
    adj.setdiag(0)
    adj.eliminate_zeros()
    card = np.diff(adj.indptr)
    ids = vec_permutations(int(card.max()) if n else 0, n, permutations, seed)
    scaling = values.sum()
    tol = 1e-12 * np.maximum(np.abs(observed), 1e-300)
    at_least = np.zeros(n, dtype=np.int64)
    at_most = np.zeros(n, dtype=np.int64)
    islands = card == 0  # esda gives them a "fake" neighbour of weight 0: simulated G* = 0
    at_least[islands] = permutations * (0.0 >= observed[islands] - tol[islands])
    at_most[islands] = permutations * (0.0 <= observed[islands] + tol[islands])
    draws = np.arange(permutations)
    for k in np.unique(card[card > 0]).tolist():
        cells = np.flatnonzero(card == k)  # in order: cell q of the group is cells[q]
        drawn = ids[:, :k]
        before, after = counts[drawn], counts[drawn + 1]  # drawn id j: cell j, or cell j + 1
        # id j stands for cell j + 1 for the group's cells q < upto (cells[q] <= j), then j
        upto = np.searchsorted(cells, drawn, side="right").ravel()
        step = (after - before).ravel()
        order = np.argsort(upto, kind="stable")
        upto, col, step = upto[order], np.repeat(draws, k)[order], step[order]
        base = before.sum(axis=1)
        extra = (after - before).sum(axis=1)  # for the cells before the first of the group
        for start in range(0, len(cells), block):
            stop = min(start + block, len(cells))
            lo, hi = np.searchsorted(upto, [start, stop])
            passed = np.zeros((stop - start, permutations), dtype=np.int64)
            np.add.at(passed, (upto[lo:hi] - start, col[lo:hi]), step[lo:hi])
            window = extra - np.cumsum(passed, axis=0)  # the ids after cell q still count j + 1
            extra = window[-1].copy()
            here = cells[start:stop]
            sim = (base + window + counts[here][:, None]) / scaling
            obs, t = observed[here][:, None], tol[here][:, None]
            at_least[here] = (sim >= obs - t).sum(axis=1)
            at_most[here] = (sim <= obs + t).sum(axis=1)
    return (np.minimum(at_least, at_most) + 1.0) / (permutations + 1.0)


def _queen_lattice(col: np.ndarray, row: np.ndarray, n_cols: int, n_rows: int) -> sp.csr_matrix:
    """Binary queen adjacency of grid cells given by their column and row numbers."""
    n = len(col)
    index = np.full((n_rows, n_cols), -1, dtype=np.int64)
    index[row, col] = np.arange(n)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r2, c2 = row + dr, col + dc
            ok = (r2 >= 0) & (r2 < n_rows) & (c2 >= 0) & (c2 < n_cols)
            other = np.full(n, -1, dtype=np.int64)
            other[ok] = index[r2[ok], c2[ok]]
            has = other >= 0
            src.append(np.flatnonzero(has))
            dst.append(other[has])
    i = np.concatenate(src) if src else np.empty(0, np.int64)
    j = np.concatenate(dst) if dst else np.empty(0, np.int64)
    return sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))


def _area_union(wards: gpd.GeoDataFrame) -> shapely.Geometry:
    if wards.crs is None:
        msg = "`wards` has no CRS."
        raise ParameterError(msg)
    if len(wards) == 0:
        msg = "`wards` holds no polygon."
        raise ParameterError(msg)
    return wards.to_crs(s.BNG).union_all()


def _kept(episodes: pd.DataFrame, precisions: Sequence[str] | None) -> np.ndarray:
    """The rows to count: ``mapped`` (when `status` is there) and of one of `precisions`.

    A mask rather than the rows themselves: selecting rows copies every column of the frame.
    """
    keep = np.ones(len(episodes), dtype=bool)
    if s.STATUS in episodes.columns:
        keep &= (episodes[s.STATUS] == s.MAPPED).to_numpy()
    if precisions is not None and s.PRECISION in episodes.columns:
        keep &= episodes[s.PRECISION].astype(str).isin(list(precisions)).to_numpy()
    return keep


def _counts(
    episodes: pd.DataFrame, keep: np.ndarray, cell_of: np.ndarray, n: int, measure: Measure
) -> np.ndarray:
    """Episodes (or distinct children) per cell; `cell_of` is aligned with the kept rows."""
    ok = cell_of >= 0
    if measure == "episodes":
        return np.bincount(cell_of[ok], minlength=n).astype(np.int64)
    child = pd.factorize(episodes[s.CHILD_ID][keep].astype(str))[0][ok]
    pairs = np.unique(np.column_stack([cell_of[ok], child]), axis=0)
    return np.bincount(pairs[:, 0], minlength=n).astype(np.int64) if len(pairs) else np.zeros(
        n, np.int64
    )


def _check_gi_params(permutations: int, alpha: float, measure: str) -> None:
    if isinstance(permutations, bool) or not isinstance(permutations, int) or permutations < 0:
        msg = f"`permutations` must be a whole number >= 0. Got {permutations!r} instead."
        raise ParameterError(msg)
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        msg = f"`alpha` must be between 0 and 1. Got {alpha!r} instead."
        raise ParameterError(msg)
    if measure not in ("episodes", "children"):
        msg = f"`measure` must be 'episodes' or 'children'. Got {measure!r} instead."
        raise ParameterError(msg)


def _settings(
    out: pd.DataFrame, unit: str, started: float, **values: object
) -> dict[str, object]:
    precisions = values.pop("precisions")
    return {
        "unit": unit,
        **values,
        "precisions": None if precisions is None else list(precisions),
        "neighbours": "queen contiguity, binary weights, the cell itself included (Gi*)",
        "p_value": "exact randomisation p-value of the window total, two-sided",
        "cells": len(out),
        "hot_cells": int(out["hot"].sum()),
        "cold_cells": int(out["cold"].sum()),
        "seconds": round(time.perf_counter() - started, 3),
    }


# --- hotspots against Gi* -----------------------------------------------------------------------


def hotspot_gi(hotspots: gpd.GeoDataFrame, gi_cells: gpd.GeoDataFrame) -> pd.DataFrame:
    """How each hotspot outline meets the significant Gi* hot cells (or wards).

    Parameters
    ----------
    hotspots
        Hotspot outlines (any CRS), e.g. `AnalysisResult.hotspots`.
    gi_cells
        The result of `gi_star_grid` or `gi_star_wards`.

    Returns
    -------
    pandas.DataFrame
        Indexed like `hotspots`: `gi_significant` (overlaps at least one hot cell with a
        positive area), `gi_hot_cells` (how many), `gi_max_z` and `gi_min_q` over those cells
        (NaN when none).
    """
    n = len(hotspots)
    out = pd.DataFrame(
        {
            "gi_significant": np.zeros(n, dtype=bool),
            "gi_hot_cells": np.zeros(n, dtype=np.int64),
            "gi_max_z": np.full(n, np.nan),
            "gi_min_q": np.full(n, np.nan),
        },
        index=hotspots.index,
    )
    hot = gi_cells[gi_cells["hot"].to_numpy(dtype=bool)]
    if n == 0 or hot.empty:
        return out
    outlines = np.asarray(hotspots.to_crs(s.BNG).geometry.values)
    cells = np.asarray(hot.to_crs(s.BNG).geometry.values)
    spot_idx, cell_idx = shapely.STRtree(cells).query(outlines, predicate="intersects")
    overlap = shapely.area(shapely.intersection(outlines[spot_idx], cells[cell_idx])) > 0
    spot_idx, cell_idx = spot_idx[overlap], cell_idx[overlap]
    if len(spot_idx) == 0:
        return out
    pairs = pd.DataFrame(
        {
            "spot": spot_idx,
            "z": hot["z"].to_numpy(dtype=float)[cell_idx],
            "q": hot["q"].to_numpy(dtype=float)[cell_idx],
        }
    ).groupby("spot")
    counts = pairs.size()
    pos = counts.index.to_numpy()
    out.iloc[pos, out.columns.get_loc("gi_hot_cells")] = counts.to_numpy()
    out.iloc[pos, out.columns.get_loc("gi_max_z")] = pairs["z"].max().to_numpy()
    out.iloc[pos, out.columns.get_loc("gi_min_q")] = pairs["q"].min().to_numpy()
    out["gi_significant"] = out["gi_hot_cells"] > 0
    return out


def hotspot_significance(hotspots: gpd.GeoDataFrame, gi_cells: gpd.GeoDataFrame) -> pd.Series:
    """Whether each hotspot overlaps a significant Gi* hot cell (bool Series like `hotspots`)."""
    return hotspot_gi(hotspots, gi_cells)["gi_significant"].rename("gi_significant")


# --- bootstrap stability ------------------------------------------------------------------------


def hotspot_stability(
    episodes: pd.DataFrame,
    hotspots: pd.DataFrame | None = None,
    *,
    eps_m: float,
    min_samples: int,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    precisions: Sequence[str] | None = HOTSPOT_PRECISIONS,
    child_codes: np.ndarray | None = None,
    locations: Locations | None = None,
) -> pd.DataFrame:
    """How often each hotspot reappears when the children are resampled, and who it rests on.

    Parameters
    ----------
    episodes
        Mapped episodes with `child_id`, `x`, `y` and `hotspot_id` (blank: not in a hotspot),
        as clustered: pass the same precisions as the run (`AnalysisConfig.hotspot_precisions`).
    hotspots
        A frame with a `hotspot_id` column (the hotspots table): one output row each, in its
        order. ``None``: every hotspot id in `episodes`, sorted.
    eps_m, min_samples
        The DBSCAN parameters of the run.
    runs
        Bootstrap resamples (default 200: about 1 s for 1,000 episodes at 250 locations).
    seed
        Seed of the resampling.
    precisions
        Location precisions that were clustered (default: coordinates and full postcodes).
    child_codes
        Optional, to save hashing the child ids again on a large input: the codes of
        ``episodes["child_id"].astype(str)`` by `pandas.factorize`, one per row of `episodes`.
    locations
        Optional, likewise: `geo.cluster.distinct_locations` of the `x`, `y` of the rows used
        (``mapped``, of `precisions`, with coordinates; `clustered_rows`), in their order.

    Returns
    -------
    pandas.DataFrame
        One row per hotspot, `STABILITY_COLUMNS`: `hotspot_id`, `episodes`, `children`,
        `locations`, `top_child_episodes` and `top_child_share` (the child with most of its
        episodes), `rests_on_one_child` (that share >= 0.5), `stability` (share of resamples
        in which some resample hotspot has Jaccard > 0.5 with it), `mean_jaccard`, `stable`
        (stability >= 0.8), `runs`. Settings in ``.attrs["stability"]``.

    Notes
    -----
    Each resample draws as many children as there are, with replacement; a drawn child brings
    all their episodes (twice if drawn twice). DBSCAN then runs exactly as in the analysis
    (as `geo.cluster.dbscan_fit` on the distinct locations weighted by their episodes, which
    is what `geo.cluster.cluster_episodes` does). A hotspot is compared with each resample
    hotspot by the Jaccard index of their sets of distinct locations, the original restricted
    to the locations present in the resample (Hennig 2007, as in R's ``fpc::clusterboot``); a
    hotspot none of whose locations were drawn counts as not found.

    The work of DBSCAN that does not depend on the resample is done once: the pairs of
    locations within `eps_m` of each other (`_neighbour_pairs`, held as a `_NeighbourGraph`);
    each run then weighs them and labels the locations as scikit-learn's DBSCAN does
    (`_weighted_dbscan`).
    """
    started = time.perf_counter()
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        msg = f"`runs` must be a whole number >= 1. Got {runs!r} instead."
        raise ParameterError(msg)
    keep = clustered_rows(episodes, precisions)
    spot_of_episode = episodes[s.HOTSPOT_ID][keep].fillna("").astype(str)
    spot_of, spot_names = pd.factorize(spot_of_episode)
    named = set(spot_names.tolist())
    if hotspots is None:
        ids = sorted(named - {""})
    else:
        ids = hotspots[s.HOTSPOT_ID].astype(str).tolist()
    unknown = sorted(set(ids) - named)
    if unknown:
        msg = (
            f"Hotspot(s) {', '.join(unknown)} have no episodes in `episodes` (with precision "
            f"{', '.join(precisions or ['any'])}): pass the episodes that were clustered."
        )
        raise ParameterError(msg)
    n_spots = len(ids)
    spot_code = pd.Index(ids).get_indexer(spot_names)[spot_of]  # -1: in no listed hotspot

    if locations is None:
        locations = distinct_locations(
            episodes[s.X].to_numpy(dtype=float)[keep], episodes[s.Y].to_numpy(dtype=float)[keep]
        )
    elif len(locations.inverse) != len(spot_code):
        msg = (
            f"`locations` holds {len(locations.inverse):,} episodes, not the {len(spot_code):,} "
            "clustered ones of `episodes`."
        )
        raise ParameterError(msg)
    loc_of = np.asarray(locations.inverse, dtype=np.int64)
    n_loc = len(locations.x)
    orig = np.full(n_loc, -1, dtype=np.int64)
    orig[loc_of[spot_code >= 0]] = spot_code[spot_code >= 0]
    if child_codes is None:
        child, _ = pd.factorize(episodes[s.CHILD_ID][keep].astype(str))
    else:
        child = _refactorize(_aligned(child_codes, episodes)[keep])
    n_children = int(child.max()) + 1 if len(child) else 0

    table = hotspot_members(spot_code, child, loc_of, n_spots)
    best = np.zeros((runs, n_spots))
    rng = np.random.default_rng(seed)
    if n_spots and n_children:
        check_cluster_params(eps_m, min_samples)
        graph = _NeighbourGraph(
            _neighbour_pairs(locations.x, locations.y, float(eps_m)), n_loc
        )  # the pairs, built once for all the runs
        # each child's episodes per location, so that a run weighs children, not episodes
        pair, per_pair = _tally(child.astype(np.int64) * n_loc + loc_of)
        pair_child, pair_loc = np.divmod(pair, n_loc)
        for run in range(runs):
            drawn = np.bincount(rng.integers(0, n_children, n_children), minlength=n_children)
            weight = np.bincount(pair_loc, weights=drawn[pair_child] * per_pair, minlength=n_loc)
            present = weight > 0
            labels = graph.labels(weight, int(min_samples))
            best[run] = _best_jaccard(orig[present], labels[present], n_spots)
    stability = (best > JACCARD_MATCH).mean(axis=0) if runs else np.zeros(n_spots)
    out = pd.DataFrame(
        {
            s.HOTSPOT_ID: ids,
            **table,
            "stability": np.round(stability, 3),
            "mean_jaccard": np.round(best.mean(axis=0), 3),
            "stable": stability >= STABLE_SHARE,
            "runs": runs,
        },
        columns=list(STABILITY_COLUMNS),
    )
    if hotspots is not None:
        out.index = hotspots.index
    out.attrs["stability"] = {
        "runs": runs,
        "seed": seed,
        "eps_m": float(eps_m),
        "min_samples": int(min_samples),
        "jaccard_match": JACCARD_MATCH,
        "stable_share": STABLE_SHARE,
        "one_child_share": ONE_CHILD_SHARE,
        "children": n_children,
        "locations": n_loc,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return out


def clustered_rows(
    episodes: pd.DataFrame, precisions: Sequence[str] | None, *, located: bool = True
) -> np.ndarray:
    """The rows that were clustered, as a mask: ``mapped``, of one of `precisions` and (with
    `located`) with coordinates."""
    keep = _kept(episodes, precisions)
    if located:
        keep &= episodes[s.X].notna().to_numpy() & episodes[s.Y].notna().to_numpy()
    return keep


def _aligned(codes: np.ndarray, episodes: pd.DataFrame) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.shape != (len(episodes),):
        msg = f"`child_codes` must hold one code per episode ({len(episodes):,})."
        raise ParameterError(msg)
    return codes


def _refactorize(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered in order of first appearance, as `pandas.factorize` numbers values.

    On some of the rows coded by ``pd.factorize(column)``, this gives exactly
    ``pd.factorize(column[rows])`` (-1, a missing value, stays -1) without hashing the
    values again.
    """
    out = np.full(len(codes), -1, dtype=np.intp)
    valid = codes >= 0
    out[valid] = pd.factorize(codes[valid])[0]
    return out


def count_neighbour_pairs(x: np.ndarray, y: np.ndarray, eps: float) -> int:
    """The number of pairs ``i < j`` of points within `eps` of each other, counted by a k-d
    tree without storing them (a tenth of a second for 100,000 dense points)."""
    if len(x) < 2:
        return 0
    tree = cKDTree(np.column_stack([x, y]))
    return int((tree.count_neighbors(tree, float(eps)) - len(x)) // 2)


def _neighbour_pairs(x: np.ndarray, y: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``i < j`` of points within `eps` of each other, as DBSCAN finds them.

    scikit-learn's DBSCAN (a k-d tree, euclidean metric) counts ``j`` a neighbour of ``i``
    when ``dx * dx + dy * dy <= eps * eps``; the tree's candidates, taken a little wider, are
    checked with that same arithmetic. Memory: the pairs, about what DBSCAN itself keeps.
    """
    small = np.int32 if len(x) < 2**31 else np.int64
    if len(x) < 2:
        return np.empty(0, dtype=small), np.empty(0, dtype=small)
    tree = cKDTree(np.column_stack([x, y]))
    found = tree.query_pairs(eps * (1 + 1e-6), output_type="ndarray")
    parts_i, parts_j = [np.empty(0, dtype=small)], [np.empty(0, dtype=small)]
    for start in range(0, len(found), 1 << 22):  # in chunks: a few bytes a pair at most
        i, j = found[start : start + (1 << 22), 0], found[start : start + (1 << 22), 1]
        dx, dy = x[i] - x[j], y[i] - y[j]
        near = dx * dx + dy * dy <= eps * eps
        parts_i.append(i[near].astype(small))
        parts_j.append(j[near].astype(small))
    del found
    return np.concatenate(parts_i), np.concatenate(parts_j)


def _weighted_dbscan(
    pairs: tuple[np.ndarray, np.ndarray], weight: np.ndarray, min_samples: int
) -> np.ndarray:
    """scikit-learn's DBSCAN labels of the points of positive `weight`, on given neighbours.

    `pairs`: `_neighbour_pairs` of all the points; the points of weight 0 are left out (label
    -1), exactly as if DBSCAN were run on the others only. As in scikit-learn: a point is
    core when the weight within eps, its own included, is at least `min_samples`; clusters
    are the connected groups of core points, numbered in the order of their first point; a
    non-core point within eps of a core point joins the first such cluster (the cluster that
    scikit-learn's depth-first expansion, in that order, reaches it from first); the rest
    are noise (-1). Whole-number weights give exactly scikit-learn's labels.
    """
    return _NeighbourGraph(pairs, len(weight)).labels(weight, min_samples)


class _NeighbourGraph:
    """The neighbours of `_neighbour_pairs`, kept for DBSCAN runs with new weights.

    Built once from the pairs ``i < j`` of `n` points: an upper-triangular CSR adjacency
    (row ``i``, column ``j``; data 1.0). Each run (`labels`) then takes two sparse products
    for the weight within eps and filters this adjacency for the links between core points,
    instead of gathering and sorting the pairs again. Memory: 12 bytes a pair (the float64
    data doubles as the edge weights of the core graph, so a run allocates no array of ones).
    """

    def __init__(self, pairs: tuple[np.ndarray, np.ndarray], n: int) -> None:
        i, j = pairs
        self.n = n
        self.adjacency = sp.csr_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        self.per_row = np.diff(self.adjacency.indptr)

    def labels(self, weight: np.ndarray, min_samples: int) -> np.ndarray:
        """`_weighted_dbscan` of these pairs with `weight` (one per point)."""
        a, n = self.adjacency, self.n
        weight = np.asarray(weight, dtype=np.float64)
        labels = np.full(n, -1, dtype=np.int64)
        present = weight > 0
        within = weight + a @ weight
        within += a.T @ weight
        core = present & (within >= min_samples)
        core_at = np.flatnonzero(core)
        if len(core_at) == 0:
            return labels
        from_core = np.repeat(core, self.per_row)  # per pair: is its row (i) core
        to_core = core[a.indices]  # is its column (j) core
        linked = from_core & to_core
        starts = a.indptr[:-1]
        busy = self.per_row > 0
        kept = np.zeros(n + 1, dtype=np.int64)
        if len(a.indices):
            kept[1:][busy] = np.add.reduceat(linked, starts[busy], dtype=np.int64)
        indptr = np.cumsum(kept).astype(a.indptr.dtype)
        links = (a.data[: int(indptr[-1])], a.indices[linked], indptr)  # data: all 1.0
        graph = sp.csr_matrix(links, shape=(n, n))
        del linked
        _, component = connected_components(graph, directed=False)
        del graph
        _, first, which = np.unique(component[core_at], return_index=True, return_inverse=True)
        number = np.empty(len(first), dtype=np.int64)
        number[np.argsort(first, kind="stable")] = np.arange(len(first))
        labels[core_at] = number[which.ravel()]
        border = present & ~core
        if border.any():
            to_j = from_core & border[a.indices]
            to_i = to_core & np.repeat(border, self.per_row)
            at_j, at_i = np.flatnonzero(to_j), np.flatnonzero(to_i)
            del to_j, to_i
            row_j = np.searchsorted(a.indptr, at_j, side="right") - 1
            row_i = np.searchsorted(a.indptr, at_i, side="right") - 1
            target = np.concatenate([a.indices[at_j], row_i])
            joined = np.full(n, np.iinfo(np.int64).max)
            np.minimum.at(joined, target, np.concatenate([labels[row_j], labels[a.indices[at_i]]]))
            hit = joined < np.iinfo(np.int64).max
            labels[hit] = joined[hit]
        return labels


def hotspot_members(
    spot_code: np.ndarray, child: np.ndarray, loc_of: np.ndarray, n_spots: int
) -> dict[str, np.ndarray]:
    """Episodes, children, locations and the top child of each hotspot, from codes.

    `spot_code` (the hotspot's position, -1: none), `child` (>= 0) and `loc_of` (the
    location) are whole-number codes, one per episode. Returns the `STABILITY_COLUMNS` from
    `episodes` to `rests_on_one_child`, as arrays of `n_spots` values.
    """
    member = spot_code >= 0
    sc, ch, lo = spot_code[member], child[member], loc_of[member]
    episodes = np.bincount(sc, minlength=n_spots)
    n_child = int(ch.max()) + 1 if len(ch) else 1
    pair, per_pair = _tally(sc.astype(np.int64) * n_child + ch)
    pair_spot = pair // n_child
    children = np.bincount(pair_spot, minlength=n_spots)
    top = np.zeros(n_spots, dtype=np.int64)
    np.maximum.at(top, pair_spot, per_pair)
    n_loc = int(lo.max()) + 1 if len(lo) else 1
    locations = np.bincount(_tally(sc.astype(np.int64) * n_loc + lo)[0] // n_loc, minlength=n_spots)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(episodes > 0, top / np.maximum(episodes, 1), np.nan)
    return {
        "episodes": episodes.astype(np.int64),
        "children": children.astype(np.int64),
        "locations": locations.astype(np.int64),
        "top_child_episodes": top,
        "top_child_share": np.round(share, 3),
        "rests_on_one_child": share >= ONE_CHILD_SHARE,
    }


def _tally(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct `keys` (in order of first appearance) and how often each occurs: what
    ``np.unique(keys, return_counts=True)`` gives, unsorted, by hashing (faster on 1M)."""
    codes, distinct = pd.factorize(keys)
    return np.asarray(distinct), np.bincount(codes, minlength=len(distinct)).astype(np.int64)


def _best_jaccard(orig: np.ndarray, labels: np.ndarray, n_spots: int) -> np.ndarray:
    """For each original hotspot, the best Jaccard index with a resample hotspot.

    `orig` and `labels` are aligned on the locations present in the resample.
    """
    best = np.zeros(n_spots)
    size_orig = np.bincount(orig[orig >= 0], minlength=n_spots)
    clustered = labels >= 0
    if not clustered.any():
        return best
    size_new = np.bincount(labels[clustered])
    both = (orig >= 0) & clustered
    if not both.any():
        return best
    n_new = len(size_new)
    pair, inter = np.unique(orig[both] * n_new + labels[both], return_counts=True)
    o, c = pair // n_new, pair % n_new
    jaccard = inter / (size_orig[o] + size_new[c] - inter)
    np.maximum.at(best, o, jaccard)
    return best


# --- verdicts and sentences ---------------------------------------------------------------------


def hotspot_evidence(
    hotspots: pd.DataFrame,
    stability: pd.DataFrame,
    gi_cells: gpd.GeoDataFrame | None = None,
    *,
    robust_stability: float = STABLE_SHARE,
) -> pd.DataFrame:
    """One row per hotspot: its Gi* overlap, stability and a verdict, ready for hotspots.csv.

    Parameters
    ----------
    hotspots
        The hotspots table (a GeoDataFrame when `gi_cells` is given), with `hotspot_id`.
    stability
        The result of `hotspot_stability` for these hotspots.
    gi_cells
        The result of `gi_star_grid` (or `gi_star_wards`); ``None``: no Gi* test.
    robust_stability
        The stability a robust hotspot needs (default 0.8).

    Returns
    -------
    pandas.DataFrame
        Indexed like `hotspots`: `hotspot_id`, `gi_significant` (NA without `gi_cells`),
        `gi_hot_cells`, `gi_max_z`, `gi_min_q`, `stability`, `mean_jaccard`, `children`,
        `top_child_share`, `rests_on_one_child` and `evidence`: ``robust`` (Gi*-significant
        and stability >= `robust_stability`), ``stable_only`` (stable, but no significant
        Gi* cell: typically one busy address), or ``fragile`` (found again in fewer than
        `robust_stability` of the resamples).
    """
    ids = hotspots[s.HOTSPOT_ID].astype(str)
    stab = stability.set_index(stability[s.HOTSPOT_ID].astype(str))
    missing = sorted(set(ids) - set(stab.index))
    if missing:
        msg = f"`stability` has no row for hotspot(s) {', '.join(missing)}."
        raise ParameterError(msg)
    stab = stab.loc[ids.to_numpy()]
    out = pd.DataFrame({s.HOTSPOT_ID: ids.to_numpy()}, index=hotspots.index)
    if gi_cells is not None:
        gi = hotspot_gi(hotspots, gi_cells)  # type: ignore[arg-type]
        for col in gi.columns:
            out[col] = gi[col].to_numpy()
    else:
        out["gi_significant"] = pd.array([pd.NA] * len(out), dtype="boolean")
        out["gi_hot_cells"] = pd.array([pd.NA] * len(out), dtype="Int64")
        out["gi_max_z"] = np.nan
        out["gi_min_q"] = np.nan
    for col in ("stability", "mean_jaccard", "children", "top_child_episodes", "episodes",
                "top_child_share", "rests_on_one_child"):  # fmt: skip
        out[col] = stab[col].to_numpy()
    stable = out["stability"].to_numpy(dtype=float) >= robust_stability
    significant = (
        out["gi_significant"].to_numpy(dtype=bool)
        if gi_cells is not None
        else np.zeros(len(out), dtype=bool)
    )
    out["evidence"] = np.select(
        [stable & significant, stable], ["robust", "stable_only"], "fragile"
    )
    return out


MAX_NAMED = 40  # hotspots named in one sentence of `describe_evidence`; the rest are counted


def describe_evidence(
    evidence: pd.DataFrame,
    *,
    gi_cells: gpd.GeoDataFrame | None = None,
    stability_runs: int | None = None,
    robust_stability: float = STABLE_SHARE,
) -> list[str]:
    """Plain-language sentences for the method panel: which hotspots can be relied on.

    Parameters
    ----------
    evidence
        The result of `hotspot_evidence`.
    gi_cells
        The Gi* result used (its ``attrs["gi"]`` settings are described), if any.
    stability_runs
        The number of bootstrap resamples (for the wording).
    robust_stability
        As in `hotspot_evidence`.

    Returns
    -------
    list of str
        Sentences, in order: what was done, the robust hotspots, the stable-only ones, the
        fragile ones, those that rest on one child, and what the Gi* grid found. No child id
        is ever named.
    """
    pct = f"{robust_stability:.0%}"
    runs = f"{stability_runs} " if stability_runs else ""
    settings = dict(gi_cells.attrs.get("gi", {})) if gi_cells is not None else {}
    if gi_cells is not None:
        where = (
            f"a {settings['cell_m']:g} m grid" if settings.get("cell_m") else "the wards"
        )
        fdr = (
            f"false discovery rate {settings.get('alpha', DEFAULT_ALPHA):.0%}"
            if settings.get("fdr", True)
            else f"p below {settings.get('alpha', DEFAULT_ALPHA):g}, no correction for "
            "the number of cells"
        )
        test = (
            f"the Getis-Ord Gi* hot-spot test on {where} ({fdr}), and "
        )
    else:
        test = ""
    sentences = [
        f"Each hotspot was checked with {test}{runs}re-runs of the clustering on resampled "
        "children (each child's episodes kept together): a hotspot is robust when it "
        f"{'overlaps a significant Gi* hot spot and ' if gi_cells is not None else ''}"
        f"is found again in at least {pct} of the re-runs."
    ]
    if evidence.empty:
        sentences.append("No hotspot was found, so there is nothing to test.")
        return sentences + _gi_sentences(gi_cells, settings)

    def names(mask: np.ndarray, detail: str = "") -> str:
        parts = []
        chosen = evidence[mask]
        for row in chosen.head(MAX_NAMED).to_dict("records"):
            extra = _detail(row, detail)
            parts.append(f"{row[s.HOTSPOT_ID]}{f' ({extra})' if extra else ''}")
        if len(chosen) > MAX_NAMED:  # a sentence, not a list of thousands: the table has all
            parts.append(f"and {len(chosen) - MAX_NAMED:,} more (see hotspot_evidence.csv)")
        return ", ".join(parts)

    verdict = evidence["evidence"].to_numpy()
    robust = verdict == "robust"
    if robust.any():
        sentences.append(f"Robust: {names(robust)}.")
    elif gi_cells is not None:
        sentences.append("No hotspot is robust by both tests.")
    else:
        sentences.append("Without the Gi* test no hotspot can be called robust.")
    only = verdict == "stable_only"
    if only.any() and gi_cells is None:
        sentences.append(
            f"Stable, found again in at least {pct} of the re-runs: {names(only, 'stability')}."
        )
    elif only.any():
        sentences.append(
            "Stable but not a significant Gi* hot spot (share of re-runs in which it was "
            f"found again): {names(only, 'stability')}. They reappear whichever children are "
            "drawn, but the cells around them are not busy: usually one address, such as a "
            "children's home."
        )
    fragile = verdict == "fragile"
    if fragile.any():
        sentences.append(
            f"Fragile, found again in fewer than {pct} of the re-runs: "
            f"{names(fragile, 'stability')}. Treat them as possible rather than established "
            "hotspots."
        )
    one = evidence["rests_on_one_child"].to_numpy(dtype=bool)
    if one.any():
        sentences.append(
            "Rests on one child (one child accounts for half or more of its episodes): "
            f"{names(one, 'one_child')}. Much of the pattern there is one child's, so read it "
            "with that child's plan in mind as well as the place."
        )
    return sentences + _gi_sentences(gi_cells, settings)


def _detail(row: Mapping[str, Any], detail: str) -> str:
    if detail == "stability":
        text = f"{row['stability']:.0%}"
        gi = row.get("gi_significant")
        if row["evidence"] == "fragile" and gi is not None and not pd.isna(gi) and bool(gi):
            text += ", Gi* hot spot"
        return text
    if detail == "one_child":
        return f"{int(row['top_child_episodes'])} of {int(row['episodes'])} episodes"
    return ""


def _gi_sentences(gi_cells: gpd.GeoDataFrame | None, settings: dict[str, object]) -> list[str]:
    if gi_cells is None:
        return []
    unit = "cells" if settings.get("cell_m") else "wards"
    hot = int(gi_cells["hot"].sum())
    cold = int(gi_cells["cold"].sum())
    text = f"The Gi* test found {hot} hot-spot {unit} among {len(gi_cells):,}"
    text += f" and {cold} cold-spot {unit}." if cold else "."
    return [
        text,
        "Gi* asks whether a cell and its neighbours together hold more episodes than the same "
        "counts shuffled at random over the map would give; a concentration inside one cell "
        "(one address) is therefore rarely a Gi* hot spot, while a busy neighbourhood is.",
    ]
