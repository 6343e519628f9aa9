import numpy as np
from sklearn.neighbors import NearestNeighbors

from geo.scale import neighbour_pairs_bound, snap_locations


def test_bound_is_an_upper_bound_on_true_pairs():
    rng = np.random.default_rng(1)
    xy = np.vstack([rng.normal(0, 200, (800, 2)), rng.uniform(-5000, 5000, (400, 2))])
    true = sum(len(n) for n in NearestNeighbors(radius=250).fit(xy).radius_neighbors(
        xy, return_distance=False))
    bound = neighbour_pairs_bound(xy[:, 0], xy[:, 1], 250)
    assert true <= bound <= 9 * len(xy) ** 2
    assert bound < 4 * true  # and not absurdly loose


def test_no_snapping_when_it_fits_and_snapping_when_it_does_not():
    rng = np.random.default_rng(2)
    xy = rng.normal(0, 30, (3000, 2))  # 3000 points all within ~100 m: 9M pairs
    w = np.ones(len(xy))
    assert snap_locations(xy[:, 0], xy[:, 1], w, 250, budget_bytes=10**9) is None
    snapped = snap_locations(xy[:, 0], xy[:, 1], w, 250, budget_bytes=10**6)
    assert snapped is not None
    assert snapped.weight.sum() == len(xy)  # every episode kept
    assert len(snapped.x) < len(xy)
    assert snapped.cell_m <= 125
    # each point is within one cell diagonal of its snapped location
    d = np.hypot(xy[:, 0] - snapped.x[snapped.inverse], xy[:, 1] - snapped.y[snapped.inverse])
    assert d.max() <= snapped.cell_m * np.sqrt(2) + 1e-6
