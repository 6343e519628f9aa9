"""Keeping DBSCAN within memory on very large inputs.

scikit-learn's DBSCAN stores, for every point, the list of its neighbours within `eps`. On
distinct locations that is usually small (a county has a few thousand addresses), but a
million all-distinct points packed in towns can have thousands of neighbours each: billions of
entries, far beyond the machine (issue: one million distinct points exceeded 12 GiB).

`neighbour_pairs_bound` bounds that number cheaply, from counts on a grid of `eps`-sized cells
(every neighbour of a point lies in the 3 x 3 block of cells around it). When the bound
exceeds the memory budget, `snap_locations` merges locations onto a fine grid (a fraction of
`eps`, doubling until the bound fits): each occupied cell becomes one weighted location at the
cell's weighted mean. Clustering the snapped locations is an approximation of clustering the
original ones, with a positional error below the cell size; the run records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BYTES_PER_PAIR = 8  # scikit-learn keeps neighbour indices as int64
DEFAULT_BUDGET_BYTES = 1 << 30  # 1 GiB for the neighbourhood lists


def _cells(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    ix = np.floor((x - x.min()) / size).astype(np.int64)
    iy = np.floor((y - y.min()) / size).astype(np.int64)
    return ix, iy


def neighbour_pairs_bound(x: np.ndarray, y: np.ndarray, eps: float) -> int:
    """An upper bound on the number of (point, neighbour within eps) pairs, self included."""
    if len(x) == 0:
        return 0
    ix, iy = _cells(x, y, eps)
    width = int(iy.max()) + 3
    key = (ix + 1) * width + (iy + 1)
    cells, counts = np.unique(key, return_counts=True)
    block = np.zeros(len(cells), dtype=np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            other = cells + dx * width + dy
            pos = np.searchsorted(cells, other)
            pos = np.minimum(pos, len(cells) - 1)
            hit = cells[pos] == other
            block[hit] += counts[pos[hit]]
    return int((counts * block).sum())


@dataclass(frozen=True)
class Snapped:
    """Locations merged onto a grid: cell centres (weighted means), weights, point -> cell."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    inverse: np.ndarray
    cell_m: float


def snap_locations(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    eps: float,
    *,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    start_fraction: float = 0.05,
) -> Snapped | None:
    """Merge locations onto the finest grid that keeps DBSCAN within `budget_bytes`.

    Returns None when no snapping is needed (the original locations fit). The grid starts at
    `start_fraction` x eps (12.5 m for eps 250 m) and doubles until the bound fits, up to
    eps / 2.
    """
    if neighbour_pairs_bound(x, y, eps) * BYTES_PER_PAIR <= budget_bytes:
        return None
    size = eps * start_fraction
    while True:
        ix, iy = _cells(x, y, size)
        width = int(iy.max()) + 1
        _, inverse = np.unique(ix * width + iy, return_inverse=True)
        inverse = inverse.ravel()
        w = np.bincount(inverse, weights=weight)
        sx = np.bincount(inverse, weights=weight * x) / w
        sy = np.bincount(inverse, weights=weight * y) / w
        if neighbour_pairs_bound(sx, sy, eps) * BYTES_PER_PAIR <= budget_bytes or size >= eps / 2:
            return Snapped(sx, sy, w, inverse, size)
        size *= 2
