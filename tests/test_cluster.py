import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN, HDBSCAN

from geo.cluster import (
    check_cluster_params,
    check_method,
    cluster_episodes,
    dbscan_fit,
    distinct_locations,
    hdbscan_fit,
    hotspot_ids,
    hotspot_outlines,
)
from geo.errors import ParameterError


def _full(xy: np.ndarray, eps: float, min_samples: int) -> tuple[np.ndarray, np.ndarray]:
    model = DBSCAN(eps=eps, min_samples=min_samples).fit(xy)
    core = np.zeros(len(xy), dtype=bool)
    core[model.core_sample_indices_] = True
    return model.labels_, core


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Same grouping of items, whatever the label names."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@settings(max_examples=80, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(1, 6)), min_size=1,
        max_size=60,
    ),
    eps=st.sampled_from([1.0, 1.5, 2.0, 3.5]),
    min_samples=st.integers(1, 12),
    scale=st.sampled_from([1.0, 100.0]),
)
def test_weighted_distinct_locations_equal_dbscan_on_every_episode(points, eps, min_samples,
                                                                  scale):
    # every (x, y) repeated `count` times: many episodes at one address
    xy = np.array([(x, y) for x, y, count in points for _ in range(count)], dtype=float) * scale
    eps = eps * scale
    full_labels, full_core = _full(xy, eps, min_samples)

    loc = distinct_locations(xy[:, 0], xy[:, 1])
    w_labels, w_core = dbscan_fit(loc.x, loc.y, eps_m=eps, min_samples=min_samples,
                                  sample_weight=loc.weight)
    ep_labels, ep_core = w_labels[loc.inverse], w_core[loc.inverse]

    # identical core points
    assert np.array_equal(ep_core, full_core)
    # identical noise
    assert np.array_equal(ep_labels == -1, full_labels == -1)
    # identical partition of the core points
    assert _same_partition(ep_labels[full_core], full_labels[full_core])
    # a border point joins a hotspot that has a core point within eps of it
    border = (full_labels != -1) & ~full_core
    for i in np.flatnonzero(border):
        cores = np.flatnonzero(full_core & (ep_labels == ep_labels[i]))
        assert np.min(np.hypot(*(xy[cores] - xy[i]).T)) <= eps + 1e-9

    # and the public function gives the same partition as the full DBSCAN
    public = cluster_episodes(xy[:, 0], xy[:, 1], eps_m=eps, min_samples=min_samples)
    assert np.array_equal(public == -1, full_labels == -1)
    assert _same_partition(public[full_core], full_labels[full_core])


def test_labels_ordered_by_size_and_independent_of_input_order():
    rng = np.random.default_rng(4)
    big = rng.normal(0, 30, (40, 2))
    small = rng.normal(0, 30, (12, 2)) + np.array([3000.0, 0.0])
    noise = rng.uniform(-20000, 20000, (15, 2))
    xy = np.vstack([small, noise, big])
    labels = cluster_episodes(xy[:, 0], xy[:, 1], eps_m=250, min_samples=5)
    assert set(labels[:12]) == {1} and set(labels[-40:]) == {0}
    perm = rng.permutation(len(xy))
    again = cluster_episodes(xy[perm, 0], xy[perm, 1], eps_m=250, min_samples=5)
    assert np.array_equal(again, labels[perm])


def test_min_samples_counts_episodes_not_addresses():
    # four episodes at one address and one next door: 5 episodes within eps
    x = np.array([0.0, 0, 0, 0, 10])
    y = np.zeros(5)
    assert (cluster_episodes(x, y, eps_m=50, min_samples=5) == 0).all()
    assert (cluster_episodes(x, y, eps_m=50, min_samples=6) == -1).all()


def test_hotspot_ids_and_outlines():
    labels = np.array([-1, 0, 0, 1, 1, 1, 0])
    assert hotspot_ids(labels).tolist() == ["", "H01", "H01", "H02", "H02", "H02", "H01"]
    assert hotspot_ids(np.array([-1, -1])).tolist() == ["", ""]
    many = np.arange(120)
    assert hotspot_ids(many)[-1] == "H120" and hotspot_ids(many)[0] == "H001"
    x = np.array([0.0, 0, 100, 0, 0, 0, 50])
    y = np.array([0.0, 0, 0, 500, 500, 500, 80])
    out = hotspot_outlines(x, y, labels)
    assert out["label"].tolist() == [0, 1]
    assert out.crs.to_epsg() == 27700
    assert out.geometry.iloc[0].area == pytest.approx(0.5 * 100 * 80)  # the triangle
    # one location only: drawn as a 50 m circle so it can be seen
    assert out.geometry.iloc[1].area == pytest.approx(np.pi * 25**2, rel=0.02)


@pytest.mark.parametrize(
    ("eps", "n", "match"),
    [
        (0, 5, "`eps_m` must be"),
        (-1, 5, "`eps_m` must be"),
        (float("nan"), 5, "`eps_m` must be"),
        (60_000, 5, "at most 50000"),
        (250, 0, "`min_samples` must be"),
        (250, 2.5, "`min_samples` must be"),
        (250, True, "`min_samples` must be"),
    ],
)
def test_parameters_refused(eps, n, match):
    with pytest.raises(ParameterError, match=match):
        check_cluster_params(eps, n)


@pytest.mark.parametrize(("eps", "n"), [(250, 5), (0.5, 1), (50_000, 1000)])
def test_parameters_accepted(eps, n):
    check_cluster_params(eps, n)


def test_empty_input():
    assert cluster_episodes(np.array([]), np.array([])).shape == (0,)


def test_hdbscan_finds_two_groups_and_leaves_noise():
    # two tight groups of 8 and 6 episodes 5 km apart, and three scattered episodes
    a = np.array([[0.0, 0], [10, 0], [0, 10], [10, 10], [5, 5], [5, 5], [5, 5], [5, 5]])
    b = np.array([[5000.0, 0], [5010, 0], [5000, 10], [5010, 10], [5005, 5], [5005, 5]])
    noise = np.array([[20000.0, 20000], [-20000, 15000], [30000, -25000]])
    xy = np.vstack([a, b, noise])
    labels = cluster_episodes(xy[:, 0], xy[:, 1], min_samples=4, method="hdbscan")
    assert set(labels[:8]) == {0} and set(labels[8:14]) == {1}  # larger group first
    assert (labels[14:] == -1).all()


def test_hdbscan_repeats_each_address_at_most_min_samples_times():
    # 40 episodes at one address and 4 at another 3 km away: with min_samples 5 each address
    # is given as min(episodes, 5) points; the busy address is a hotspot on its own
    xy = np.array([[0.0, 0]] * 40 + [[3000.0, 0]] * 4 + [[3001.0, 0]] * 2)
    loc = distinct_locations(xy[:, 0], xy[:, 1])
    raw = hdbscan_fit(loc.x, loc.y, loc.weight, min_samples=5)
    assert raw.shape == (3,)
    assert raw[0] != -1 and raw[1] == raw[2] != -1 and raw[0] != raw[1]


@settings(max_examples=25, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 4)), min_size=2,
        max_size=40, unique_by=lambda p: (p[0], p[1]),
    ),
)
def test_hdbscan_equals_hdbscan_on_every_episode_when_no_address_exceeds_min_samples(points):
    min_samples = 4  # every address holds at most 4 episodes: nothing is capped
    xy = np.array([(x, y) for x, y, n in points for _ in range(n)], dtype=float) * 100
    loc = distinct_locations(xy[:, 0], xy[:, 1])
    ours = hdbscan_fit(loc.x, loc.y, loc.weight, min_samples=min_samples)
    order = np.lexsort((xy[:, 1], xy[:, 0]))  # the same (x, y) order as the distinct locations
    full = np.full(len(xy), -1)
    if len(xy) >= min_samples:
        model = HDBSCAN(min_cluster_size=min_samples, min_samples=min_samples, copy=True)
        full[order] = model.fit(xy[order]).labels_
    full[full < 0] = -1
    # HDBSCAN can split the copies of one address on tied distances: we take the label most
    # copies got; where all copies agree, the labelling must be the same
    agree = np.ones(len(loc.x), dtype=bool)
    for i in range(len(loc.x)):
        labels = full[loc.inverse == i]
        agree[i] = (labels == labels[0]).all()
        assert ours[i] in set(labels.tolist())
    per_location = np.array([full[loc.inverse == i][0] for i in range(len(loc.x))])
    assert np.array_equal(ours[agree] == -1, per_location[agree] == -1)
    both = agree & (ours != -1)
    assert _same_partition(ours[both], per_location[both])


def test_an_address_takes_the_label_of_most_of_its_copies():
    from geo.cluster import _majority

    owner = np.array([0, 0, 0, 1, 1, 2, 2, 3])
    labels = np.array([1, 1, -1, -1, 0, 2, 3, -1])
    # 0: two of three in 1; 1: tie between noise and 0 -> 0; 2: tie 2/3 -> 2; 3: noise
    assert _majority(owner, labels, 5).tolist() == [1, 0, 2, -1, -1]


def test_unknown_method_is_refused():
    with pytest.raises(ParameterError, match="`method` must be one of dbscan, hdbscan"):
        check_method("kmeans")
    with pytest.raises(ParameterError):
        cluster_episodes(np.zeros(3), np.zeros(3), method="optics")


def test_memory_fallback_merges_locations_and_keeps_the_big_hotspots():
    from geo.cluster import cluster_episodes_info

    rng = np.random.default_rng(9)
    town = rng.normal(0, 60, (4000, 2))  # 4,000 distinct points within a few hundred metres
    far = rng.normal(0, 60, (300, 2)) + np.array([20_000.0, 0.0])
    xy = np.vstack([town, far])
    exact, info = cluster_episodes_info(xy[:, 0], xy[:, 1], eps_m=250, min_samples=5)
    assert info.snapped_cell_m is None and info.locations == len(xy)
    # a tiny budget forces the fallback
    labels, small = cluster_episodes_info(xy[:, 0], xy[:, 1], eps_m=250, min_samples=5,
                                          budget_bytes=200_000)
    assert small.snapped_cell_m is not None and small.snapped_locations < len(xy)
    assert "memory_fallback" in small.describe()
    # same two hotspots, same sizes
    assert sorted(np.bincount(labels[labels >= 0])) == sorted(np.bincount(exact[exact >= 0]))
    assert set(labels[:4000]) == {0} and set(labels[4000:]) == {1}


def test_unique_sorted_is_np_unique_with_repeats_distinct_and_missing_keys():
    from geo.cluster import unique_sorted

    rng = np.random.default_rng(5)
    for keys in (rng.integers(0, 30, 10_000), rng.random(10_000),
                 np.r_[rng.integers(0, 30, 1_000).astype(float), np.nan, np.nan],
                 np.array([], dtype=float)):
        got = unique_sorted(keys)
        want = np.unique(keys, return_inverse=True, return_counts=True)
        assert np.array_equal(got[0], want[0], equal_nan=True)
        assert np.array_equal(got[1], want[1].ravel()) and np.array_equal(got[2], want[2])
