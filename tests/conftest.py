"""Shared fixtures: the bundled wards, and a small episodes-file writer."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from boundaries import BoundarySet, bundled_boundaries

DATA = Path(__file__).parent / "data"

# Representative points of three Oxfordshire wards (from tests/data/truth_points.csv).
BANBURY = (52.066495, -1.341187)  # Banbury Cross and Neithrop, Cherwell
OXFORD_CARFAX = (51.752, -1.2577)  # Oxford city centre
OUTSIDE = (51.454, -0.973)  # Reading: outside Oxfordshire


@pytest.fixture(autouse=True)
def _isolated_data_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real postcode index (~/.local/share/hotspots)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture(scope="session")
def oxon() -> BoundarySet:
    return bundled_boundaries()


@pytest.fixture(scope="session")
def wards(oxon: BoundarySet) -> gpd.GeoDataFrame:
    return oxon.wards


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write rows (dicts) to a CSV in tmp_path and return its path."""

    def write(rows: Sequence[dict[str, object]], name: str = "episodes.csv",
              columns: Sequence[str] | None = None, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        cols = list(columns) if columns is not None else list(dict.fromkeys(
            k for row in rows for k in row
        ))
        with path.open("w", newline="", encoding=encoding) as fh:
            writer = csv.DictWriter(fh, fieldnames=cols)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: row.get(k, "") for k in cols})
        return path

    return write


def episode(i: int, lat: float, lon: float, **extra: object) -> dict[str, object]:
    """One valid episode row at (lat, lon)."""
    row: dict[str, object] = {
        "episode_id": f"E{i:05d}",
        "child_id": f"C{i:05d}",
        "missing_from": "2020-03-01 18:00",
        "returned": "2020-03-02 09:00",
        "lat": lat,
        "lon": lon,
    }
    row.update(extra)
    return row


def uniform_points(rng: np.random.Generator, area: shapely.Geometry, n: int) -> np.ndarray:
    """`n` points (x, y) spread uniformly over `area` (rejection sampling in its bounds)."""
    x0, y0, x1, y1 = area.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform((x0, y0), (x1, y1), size=(4 * n, 2))
        out = np.vstack([out, xy[shapely.contains_xy(area, xy[:, 0], xy[:, 1])]])
    return out[:n]


def disc_points(
    rng: np.random.Generator, centre: tuple[float, float], radius: float, n: int
) -> np.ndarray:
    """`n` points (x, y) spread uniformly over the disc of `radius` around `centre`."""
    r = radius * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * math.pi, n)
    return np.column_stack([centre[0] + r * np.cos(a), centre[1] + r * np.sin(a)])
