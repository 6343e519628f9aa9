"""geo.density: Gaussian kernel density in metres on a BNG grid."""

from __future__ import annotations

import time

import numpy as np
import pytest

from geo import schema as s
from geo.density import DensityGrid, episode_density, kernel_density
from geo.episodes import read_table
from geo.errors import ParameterError
from geo.pipeline import AnalysisConfig, analyse
from tests.conftest import BANBURY, OXFORD_CARFAX, episode

H = 250.0


def exact_kde(px, py, x, y, w, h):
    """The textbook sum, episodes per km^2."""
    d2 = (px[:, None] - x[None, :]) ** 2 + (py[:, None] - y[None, :]) ** 2
    return (w[None, :] * np.exp(-d2 / (2 * h * h))).sum(axis=1) / (2 * np.pi * h * h) * 1e6


def test_single_point_peak_and_mass():
    grid = kernel_density(np.array([450_000.0]), np.array([200_000.0]), bandwidth_m=H)
    expected_peak = 1e6 / (2 * np.pi * H * H)  # ~2.55 episodes per km^2
    # within 4%: the peak falls between cell centres and binning adds (h/8)^2 of variance
    assert grid.peak == pytest.approx(expected_peak, rel=0.04)
    mass = grid.values.sum() * grid.cell_m**2 / 1e6
    assert mass == pytest.approx(1.0, rel=1e-9)
    assert grid.total == 1.0
    assert grid.cell_m == H / 4
    # the grid reaches 4 bandwidths beyond the point
    xmin, ymin, xmax, ymax = grid.bounds
    assert xmin <= 450_000 - 4 * H and xmax >= 450_000 + 4 * H
    assert ymin <= 200_000 - 4 * H and ymax >= 200_000 + 4 * H


def test_matches_the_exact_sum():
    rng = np.random.default_rng(3)
    x = 450_000 + rng.normal(0, 800, 400)
    y = 200_000 + rng.normal(0, 500, 400)
    w = rng.integers(1, 6, 400).astype(float)
    grid = kernel_density(x, y, w, bandwidth_m=H)
    px = 450_000 + rng.uniform(-1500, 1500, 300)
    py = 200_000 + rng.uniform(-1000, 1000, 300)
    exact = exact_kde(px, py, x, y, w, H)
    approx = grid.at(px, py)
    strong = exact > 0.05 * exact.max()
    rel = np.abs(approx[strong] - exact[strong]) / exact[strong]
    assert rel.max() < 0.03, rel.max()
    assert grid.values.sum() * grid.cell_m**2 / 1e6 == pytest.approx(w.sum(), rel=1e-9)


def test_weight_is_the_same_as_repeated_points():
    x = np.array([450_000.0, 451_000.0])
    y = np.array([200_000.0, 200_300.0])
    weighted = kernel_density(x, y, np.array([3.0, 1.0]), bandwidth_m=H)
    repeated = kernel_density(np.r_[x[0], x[0], x[0], x[1]], np.r_[y[0], y[0], y[0], y[1]],
                              bandwidth_m=H)
    np.testing.assert_allclose(weighted.values, repeated.values, rtol=1e-9, atol=1e-12)


def test_units_are_metres_bandwidth_scales_the_peak():
    one = kernel_density(np.array([0.0]), np.array([0.0]), bandwidth_m=100)
    two = kernel_density(np.array([0.0]), np.array([0.0]), bandwidth_m=200)
    assert one.peak / two.peak == pytest.approx(4.0, rel=0.03)


def test_mass_levels_of_one_gaussian():
    grid = kernel_density(np.array([450_000.0]), np.array([200_000.0]), bandwidth_m=H,
                          cell_m=H / 8)
    # a share p lies inside the circle where the density is peak * (1 - p)
    levels = grid.mass_levels([0.25, 0.5, 0.9])
    expected = grid.peak * (1 - np.array([0.25, 0.5, 0.9]))
    np.testing.assert_allclose(levels, expected, rtol=0.04)
    assert list(levels) == sorted(levels, reverse=True)


def test_empty_input_gives_an_empty_surface():
    grid = kernel_density(np.array([]), np.array([]), bandwidth_m=H,
                          bounds=(440_000, 190_000, 450_000, 200_000))
    assert grid.peak == 0 and grid.total == 0
    assert np.all(np.isinf(grid.mass_levels([0.5])))


def test_nan_and_zero_weights_are_ignored():
    grid = kernel_density(np.array([0.0, np.nan, 10.0]), np.array([0.0, 5.0, 10.0]),
                          np.array([1.0, 1.0, 0.0]), bandwidth_m=H)
    assert grid.total == 1.0


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf")])
def test_bad_bandwidth_is_refused(bad):
    with pytest.raises(ParameterError, match="bandwidth"):
        kernel_density(np.array([0.0]), np.array([0.0]), bandwidth_m=bad)


def test_large_areas_get_larger_cells():
    grid = kernel_density(np.array([0.0, 100_000.0]), np.array([0.0, 100_000.0]),
                          bandwidth_m=H, max_cells=100_000)
    assert grid.values.size <= 100_000
    assert grid.cell_m > H / 4
    assert grid.values.sum() * grid.cell_m**2 / 1e6 == pytest.approx(2.0, rel=1e-9)


def test_a_million_episodes_in_under_two_seconds():
    rng = np.random.default_rng(1)
    # Oxfordshire-sized extent (about 70 x 90 km), clustered like real episodes
    centres = rng.uniform([420_000, 180_000], [490_000, 270_000], size=(3000, 2))
    pick = rng.integers(0, len(centres), 1_000_000)
    x = centres[pick, 0] + rng.normal(0, 150, pick.size)
    y = centres[pick, 1] + rng.normal(0, 150, pick.size)
    start = time.perf_counter()
    grid = kernel_density(x, y, bandwidth_m=H, bounds=(415_000, 175_000, 495_000, 275_000))
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert grid.values.sum() * grid.cell_m**2 / 1e6 == pytest.approx(1e6, rel=1e-6)


def test_bilinear_lookup_is_zero_outside():
    grid = kernel_density(np.array([0.0]), np.array([0.0]), bandwidth_m=H)
    assert grid.at(np.array([1e7]), np.array([0.0]))[0] == 0.0
    assert isinstance(grid, DensityGrid)


def test_episode_density_uses_hotspot_precision_locations(write_csv):
    rows = [episode(i, *BANBURY) for i in range(6)]
    rows += [episode(10 + i, *OXFORD_CARFAX) for i in range(3)]
    result = analyse(read_table(write_csv(rows)), wards=_wards(),
                     config=AnalysisConfig(eps_m=300))
    grid = episode_density(result)
    assert grid.bandwidth_m == 300 and grid.total == 9
    mapped = result.episodes[result.episodes[s.STATUS] == s.MAPPED]
    at_banbury = grid.at(mapped[s.X].to_numpy()[:1], mapped[s.Y].to_numpy()[:1])[0]
    at_oxford = grid.at(mapped[s.X].to_numpy()[-1:], mapped[s.Y].to_numpy()[-1:])[0]
    assert at_banbury == pytest.approx(2 * at_oxford, rel=0.05)
    # coarser locations (a postcode sector centroid) would make a false peak: excluded
    result.episodes.loc[result.episodes.index[:6], s.PRECISION] = "sector"
    assert episode_density(result).total == 3


def _wards():
    from boundaries import bundled_boundaries

    return bundled_boundaries().wards
