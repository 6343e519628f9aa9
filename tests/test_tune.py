import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.cluster import dbscan_fit, distinct_locations
from geo.errors import ParameterError
from geo.tune import (
    Suggestion,
    curve_png,
    curve_svg,
    k_distances,
    suggest_eps,
    summary_text,
    write_curve,
)


def test_k_distance_counts_episodes_not_addresses():
    # three episodes at (0, 0), one at (30, 0), two at (100, 0), one far away
    x = np.array([0.0, 0, 0, 30, 100, 100, 5000])
    y = np.zeros(7)
    kd = k_distances(x, y, min_samples=4)
    # locations sorted by x: (0,0) w3, (30,0) w1, (100,0) w2, (5000,0) w1
    # (0,0): 3 own + 1 at 30 m -> 30; (30,0): 1 + 3 at 30 m -> 30;
    # (100,0): 2 + 1 at 70 m + 3 at 100 m -> 100; (5000,0): 1 + 2 at 4900 m + ... -> 4970
    assert kd.location_kdist.tolist() == [30.0, 30.0, 100.0, 4970.0]
    assert kd.curve.tolist() == [30.0] * 4 + [100.0] * 2 + [4970.0]
    assert kd.core_share(30) == pytest.approx(4 / 7)
    # an address with min_samples episodes has k-distance 0
    assert k_distances(x, y, min_samples=3).location_kdist[0] == 0.0


def test_never_core_when_the_file_has_fewer_episodes():
    kd = k_distances(np.array([0.0, 10.0]), np.zeros(2), min_samples=5)
    assert np.isinf(kd.location_kdist).all()
    assert "can never be core" in summary_text(kd, suggest_eps(kd.curve))


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(1, 5)), min_size=1,
        max_size=50,
    ),
    min_samples=st.integers(1, 10),
    eps=st.sampled_from([1.5, 2.5, 4.5, 7.5]),
)
def test_core_exactly_when_k_distance_at_most_eps(points, min_samples, eps):
    # the definition matches weighted DBSCAN: core <=> k-distance <= eps
    xy = np.array([(x, y) for x, y, n in points for _ in range(n)], dtype=float) * 10
    kd = k_distances(xy[:, 0], xy[:, 1], min_samples=min_samples)
    loc = distinct_locations(xy[:, 0], xy[:, 1])
    _, core = dbscan_fit(loc.x, loc.y, eps_m=eps * 10, min_samples=min_samples,
                         sample_weight=loc.weight)
    assert np.array_equal(core, kd.location_kdist <= eps * 10)


def test_suggested_eps_is_the_knee_of_a_constructed_curve():
    # 60 values flat at 0-59 m, then 40 rising steeply by 100 m each: the knee is at 59 m
    # (x 59/99, y 59/3959 from the chord: the farthest point below it)
    curve = np.r_[np.arange(60.0), 59.0 + 100.0 * np.arange(1, 41)]
    s = suggest_eps(np.r_[curve, np.inf])  # inf (never core) is left out
    # the 99th percentile trims the last value: 99 values, max 3959
    xs = np.arange(99) / 98
    ys = (curve[:99] - 0) / (curve[98] - 0)
    assert s.knee_index == int(np.argmax(xs - ys)) == 59
    assert s.knee_value_m == 59.0 and s.eps_m == 60.0  # rounded to 10 m
    assert "knee" in s.rule and "10 m" in s.rule


def test_suggestion_rounds_and_has_a_floor():
    curve = np.r_[np.zeros(50), np.linspace(1, 3, 50) ** 6]
    s = suggest_eps(curve)
    assert s.eps_m is not None and s.eps_m >= 10 and s.eps_m % 10 == 0


def test_no_suggestion_on_a_flat_or_tiny_curve():
    assert suggest_eps(np.zeros(20)).eps_m is None
    assert suggest_eps(np.array([5.0, 9.0])).eps_m is None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_png_and_svg_are_written(tmp_path):
    rng = np.random.default_rng(3)
    xy = np.r_[rng.normal(0, 50, (80, 2)), rng.uniform(-5000, 5000, (40, 2))]
    kd = k_distances(xy[:, 0], xy[:, 1], min_samples=5)
    s = suggest_eps(kd.curve)
    png = curve_png(kd, s)
    width, height = _png_size(png)
    # the IDAT holds one filter byte plus RGB per pixel per row
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    assert len(raw) == height * (1 + 3 * width)
    assert png == curve_png(kd, s)  # deterministic
    svg = curve_svg(kd, s)
    assert svg.startswith("<svg") and "polyline" in svg and f"eps {s.eps_m:,.0f} m" in svg
    assert write_curve(kd, s, tmp_path / "k.png").read_bytes() == png
    assert "k-distance (m)" in write_curve(kd, s, tmp_path / "k.svg").read_text()
    with pytest.raises(ParameterError, match=r"\.png or \.svg"):
        write_curve(kd, s, tmp_path / "k.jpg")


def test_png_without_a_suggestion():
    kd = k_distances(np.zeros(3), np.zeros(3), min_samples=2)
    assert _png_size(curve_png(kd, Suggestion(None, None, None))) == (760, 480)
