"""DBSCAN hotspots in metres (British National Grid), on distinct locations weighted by episodes.

Many episodes share one address (a children's home, a family home), so the clustering runs on
the distinct locations with `sample_weight` = the number of episodes there. For DBSCAN this is
exactly equivalent to clustering every episode: a location's neighbourhood weight is the number
of episodes within `eps_m`, identical copies are always neighbours of each other, and so core
points and the partition are the same (a border point within reach of two hotspots may go to
either, as in DBSCAN itself). It is far cheaper: the work grows with distinct locations.

HDBSCAN (``method="hdbscan"``) is offered for comparison. scikit-learn's `HDBSCAN.fit` takes
no `sample_weight`, so each distinct location is given to it as ``min(episodes, min_samples)``
identical points. This keeps every core distance (the distance to the `min_samples`-th
nearest episode) and so every mutual-reachability distance exactly as with one point per
episode; what changes is the size HDBSCAN sees for a cluster when it decides which clusters
to keep: an address with more than `min_samples` episodes counts as `min_samples` points. When
no address has more than `min_samples` episodes the result is HDBSCAN on every episode (an
address takes the label most of its copies get: HDBSCAN can split identical points). The
cost grows roughly with the square of the points given to it (about 1.5 s for 20,000).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sklearn.cluster import DBSCAN, HDBSCAN

from geo import schema as s
from geo.errors import ParameterError
from geo.scale import DEFAULT_BUDGET_BYTES, snap_locations

METHODS = ("dbscan", "hdbscan")


def check_method(method: str) -> None:
    """Refuse a clustering method other than those in `METHODS`."""
    if method not in METHODS:
        msg = f"`method` must be one of {', '.join(METHODS)}. Got {method!r} instead."
        raise ParameterError(msg)


def check_cluster_params(eps_m: float, min_samples: int) -> None:
    """Refuse parameters DBSCAN cannot use, with the scikit-learn style message."""
    if not (isinstance(eps_m, int | float) and np.isfinite(eps_m) and eps_m > 0):
        msg = f"`eps_m` must be a number of metres greater than 0. Got {eps_m!r} instead."
        raise ParameterError(msg)
    if eps_m > 50_000:
        msg = f"`eps_m` must be at most 50000 metres (50 km). Got {eps_m!r} instead."
        raise ParameterError(msg)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        msg = f"`min_samples` must be a whole number of episodes >= 1. Got {min_samples!r} instead."
        raise ParameterError(msg)


@dataclass(frozen=True)
class Locations:
    """Distinct locations and, for every episode, the position of its location."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray  # episodes at each location
    inverse: np.ndarray  # episode -> location position


def unique_sorted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What ``np.unique(keys, return_inverse=True, return_counts=True)`` gives: the distinct
    keys sorted, each key's position among them, and how often each occurs.

    When keys repeat (a million episodes at a few thousand addresses) they are hashed first
    and only the distinct ones sorted, several times faster; when most are distinct (judged on
    a sample), or one is missing (NaN), `np.unique` itself, which is then as fast.
    """
    keys = np.asarray(keys)
    sample = keys[:65_536]
    if len(sample) and len(pd.unique(sample)) <= len(sample) // 2:
        codes, distinct = pd.factorize(keys)
        if not (codes < 0).any():
            distinct = np.asarray(distinct)
            order = np.argsort(distinct, kind="stable")
            rank = np.empty(len(order), dtype=np.intp)
            rank[order] = np.arange(len(order))
            inverse = rank[codes]
            return distinct[order], inverse, np.bincount(inverse, minlength=len(order))
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return uniq, inverse.ravel(), counts


def distinct_locations(x: np.ndarray, y: np.ndarray) -> Locations:
    """Group identical (x, y) pairs; locations come out sorted by (x, y)."""
    # complex numbers sort by real then imaginary part: a fast, exact (x, y) lexicographic key
    key = np.asarray(x, dtype=np.float64) + 1j * np.asarray(y, dtype=np.float64)
    uniq, inverse, counts = unique_sorted(key)
    return Locations(uniq.real.copy(), uniq.imag.copy(), counts.astype(np.float64), inverse)


def dbscan_fit(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps_m: float,
    min_samples: int,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw DBSCAN labels (-1 = noise) and the core-point mask, for points in metres."""
    check_cluster_params(eps_m, min_samples)
    if len(x) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    model = DBSCAN(eps=float(eps_m), min_samples=int(min_samples), metric="euclidean")
    model.fit(np.column_stack([x, y]), sample_weight=sample_weight)
    core = np.zeros(len(x), dtype=bool)
    core[model.core_sample_indices_] = True
    return model.labels_.astype(np.int64), core


def hdbscan_fit(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, min_samples: int
) -> np.ndarray:
    """HDBSCAN labels (-1 = noise) of distinct locations weighted by their episodes.

    Each location is repeated ``min(weight, min_samples)`` times (see the module notes);
    `min_cluster_size` is `min_samples` (at least 2, HDBSCAN's minimum). A location takes the
    label of most of its copies (HDBSCAN can, on tied distances, leave one copy of an address
    out of the cluster that holds the others).
    """
    check_cluster_params(1.0, min_samples)
    copies = np.minimum(np.asarray(weight, dtype=np.int64), min_samples)
    labels = np.full(len(x), s.NOISE, dtype=np.int64)
    if copies.sum() < max(2, min_samples):  # too few points for any cluster (and for sklearn)
        return labels
    owner = np.repeat(np.arange(len(x)), copies)
    points = np.column_stack([np.asarray(x, float)[owner], np.asarray(y, float)[owner]])
    model = HDBSCAN(min_cluster_size=max(2, min_samples), min_samples=min_samples, copy=True)
    raw = model.fit(points).labels_.astype(np.int64)
    raw[raw < 0] = s.NOISE  # -2 / -3 mark infinite or missing values: not in a hotspot
    return _majority(owner, raw, len(x))


def _majority(owner: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """The label most of each location's copies got (ties: a hotspot before noise, then the
    lowest). scikit-learn's HDBSCAN can split identical points when distances tie."""
    pairs, counts = np.unique(np.column_stack([owner, labels]), axis=0, return_counts=True)
    order = np.lexsort((pairs[:, 1], pairs[:, 1] == s.NOISE, -counts, pairs[:, 0]))
    pairs = pairs[order]
    first = np.r_[True, pairs[1:, 0] != pairs[:-1, 0]]
    out = np.full(n, s.NOISE, dtype=np.int64)
    out[pairs[first, 0]] = pairs[first, 1]
    return out


@dataclass(frozen=True)
class ClusterInfo:
    """How the clustering ran: for run.json and the method notes."""

    method: str
    episodes: int
    locations: int
    snapped_cell_m: float | None = None  # set when locations were merged to stay in memory
    snapped_locations: int | None = None

    def describe(self) -> dict[str, object]:
        """A plain dict for run.json."""
        doc: dict[str, object] = {
            "method": self.method,
            "episodes": self.episodes,
            "distinct_locations": self.locations,
        }
        if self.snapped_cell_m is not None:
            doc["memory_fallback"] = (
                f"the distinct locations would need more than "
                f"{DEFAULT_BUDGET_BYTES // 2**20} MiB of DBSCAN neighbourhood lists, so they "
                f"were merged onto a {self.snapped_cell_m:g} m grid ({self.snapped_locations} "
                "weighted cells) before clustering: an approximation, with each location "
                "moved by less than one cell"
            )
        return doc


def cluster_episodes(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps_m: float = 250.0,
    min_samples: int = 5,
    method: str = "dbscan",
) -> np.ndarray:
    """Label each episode with a hotspot number (0, 1, ...; -1 = not in a hotspot).

    Numbers are stable: hotspot 0 holds the most episodes; ties are broken by the position of
    the hotspot's first location in (x, y) order. Input order never changes the result.
    `method` is ``dbscan`` (default) or ``hdbscan`` (`eps_m` is then not used).
    """
    return cluster_episodes_info(x, y, eps_m=eps_m, min_samples=min_samples, method=method)[0]


def cluster_episodes_info(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps_m: float = 250.0,
    min_samples: int = 5,
    method: str = "dbscan",
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> tuple[np.ndarray, ClusterInfo]:
    """`cluster_episodes`, also saying how it ran (and whether the memory fallback was used).

    DBSCAN keeps every location's neighbour list; when `geo.scale` bounds those lists above
    `budget_bytes` (a million distinct points packed in towns), the locations are merged onto
    the finest grid that fits (12.5 m upwards for eps 250 m) and the weighted cells are
    clustered instead, so memory stays bounded. The info records it.
    """
    check_cluster_params(eps_m, min_samples)
    check_method(method)
    if len(x) == 0:
        return np.empty(0, dtype=np.int64), ClusterInfo(method, 0, 0)
    loc = distinct_locations(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    info = ClusterInfo(method, len(x), len(loc.x))
    if method == "hdbscan":
        raw = hdbscan_fit(loc.x, loc.y, loc.weight, min_samples=min_samples)
    else:
        snapped = snap_locations(loc.x, loc.y, loc.weight, eps_m, budget_bytes=budget_bytes)
        if snapped is None:
            raw, _ = dbscan_fit(
                loc.x, loc.y, eps_m=eps_m, min_samples=min_samples, sample_weight=loc.weight
            )
        else:
            cells, _ = dbscan_fit(
                snapped.x, snapped.y, eps_m=eps_m, min_samples=min_samples,
                sample_weight=snapped.weight,
            )
            raw = cells[snapped.inverse]
            info = ClusterInfo(method, len(x), len(loc.x), snapped.cell_m, len(snapped.x))
    relabelled = _relabel(raw, loc.weight)
    return relabelled[loc.inverse], info


def _relabel(raw: np.ndarray, weight: np.ndarray) -> np.ndarray:
    out = np.full(len(raw), s.NOISE, dtype=np.int64)
    member = raw != s.NOISE
    if not member.any():
        return out
    clusters, first = np.unique(raw[member], return_index=True)
    firsts = np.flatnonzero(member)[first]
    sizes = np.bincount(raw[member], weights=weight[member], minlength=int(clusters.max()) + 1)
    order = np.lexsort((firsts, -sizes[clusters]))
    mapping = np.full(int(clusters.max()) + 1, s.NOISE, dtype=np.int64)
    mapping[clusters[order]] = np.arange(len(clusters))
    out[member] = mapping[raw[member]]
    return out


def hotspot_ids(labels: np.ndarray, prefix: str = "H") -> np.ndarray:
    """Turn numeric labels into ids ``H01``, ``H02``... (blank for noise)."""
    n = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    width = max(2, len(str(n)))
    ids = np.array([""] + [f"{prefix}{i + 1:0{width}d}" for i in range(n)], dtype=object)
    return ids[labels + 1]


def hotspot_outlines(
    x: np.ndarray, y: np.ndarray, labels: np.ndarray, *, min_width_m: float = 50.0
) -> gpd.GeoDataFrame:
    """One polygon per hotspot in EPSG:27700: the convex hull of its locations.

    A hotspot whose locations are all one point, or on one line, has no area; it is drawn as a
    circle or band of `min_width_m` around them so it can be seen and clicked on a map.
    """
    member = np.flatnonzero(labels != s.NOISE)
    if len(member) == 0:
        empty = pd.DataFrame({"label": pd.Series([], dtype="int64")})
        return gpd.GeoDataFrame(empty, geometry=gpd.GeoSeries([], crs=s.BNG), crs=s.BNG)
    # a hull depends only on the distinct points (episodes repeat addresses many times)
    points = pd.DataFrame({"x": x[member], "y": y[member], "label": labels[member]})
    member = member[~points.duplicated().to_numpy()]
    order = member[np.argsort(labels[member], kind="stable")]
    sorted_labels = labels[order]
    present, dense = np.unique(sorted_labels, return_inverse=True)
    # one vectorised call: a MultiPoint per hotspot, then their convex hulls
    multipoints = shapely.multipoints(np.column_stack([x[order], y[order]]), indices=dense)
    hulls = shapely.convex_hull(multipoints)
    flat = shapely.area(hulls) == 0
    if flat.any():
        hulls[flat] = shapely.buffer(hulls[flat], min_width_m / 2)
    rows = list(zip(present.astype(int).tolist(), hulls, strict=True))
    frame = pd.DataFrame(rows, columns=["label", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=s.BNG)
