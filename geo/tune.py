"""Choosing eps: the k-distance curve of the episodes, consistent with weighted DBSCAN.

Definition. DBSCAN here runs on distinct locations weighted by their episodes: a location is
a *core* location when the episodes within `eps` of it (its own included) number at least
`min_samples`. The **k-distance** of a location is the smallest radius that holds
`min_samples` episodes around it (its own included):

    kdist(i) = min { r : sum of weight(j) over locations j with |i - j| <= r } >= min_samples

so a location is core exactly when ``kdist(i) <= eps``. An address with `min_samples` or more
episodes has k-distance 0; a location that no radius makes core (fewer episodes in the whole
file) has an infinite one. This is the usual k-distance (distance to the
``min_samples - 1``-th other point) of DBSCAN run on every episode, computed on the distinct
locations: the curve is the same.

The **curve** gives one value per episode (each location's k-distance repeated by its
episodes), sorted. Its y value at x% is the eps at which (100 - x)% of the episodes are at a
core location: flat at the start (episodes at busy addresses and in dense areas), then
rising steeply (isolated episodes).

**Suggested eps** (`suggest_eps`): the knee of the curve, i.e. the point farthest below the
straight line (the chord) from its first to its last point, with both axes scaled to 0-1,
rounded to the nearest 10 m (at least 10 m). The curve's finite values above the 99th
percentile are left out first so that a handful of remote episodes (tens of kilometres away)
does not flatten the rest of the curve.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo.cluster import check_cluster_params, distinct_locations
from geo.errors import ParameterError

ROUND_TO_M = 10
TAIL_PERCENTILE = 99.0
PERCENTILES = (10, 25, 50, 75, 90, 95, 99)
CANDIDATE_EPS = (100, 250, 500, 1000, 2000)
RULE = (
    "knee of the k-distance curve: the point farthest below the chord from its first to its "
    f"last point (axes scaled to 0-1, values above the {TAIL_PERCENTILE:g}th percentile left "
    f"out), rounded to {ROUND_TO_M} m"
)


@dataclass(frozen=True)
class KDistance:
    """The weighted k-distance of each distinct location, and the sorted per-episode curve."""

    min_samples: int
    location_kdist: np.ndarray  # per distinct location, metres (inf: never core)
    weight: np.ndarray  # episodes at each location

    @property
    def curve(self) -> np.ndarray:
        """One value per episode, ascending (inf last)."""
        order = np.argsort(self.location_kdist, kind="stable")
        return np.repeat(self.location_kdist[order], self.weight[order].astype(np.int64))

    @property
    def episodes(self) -> int:
        return int(self.weight.sum())

    def core_share(self, eps_m: float) -> float:
        """Share of the episodes at a location that is core at `eps_m`."""
        total = self.weight.sum()
        if total == 0:
            return float("nan")
        return float(self.weight[self.location_kdist <= eps_m].sum() / total)


def k_distances(x: np.ndarray, y: np.ndarray, *, min_samples: int) -> KDistance:
    """Weighted k-distances of the distinct locations of episodes at (x, y) metres."""
    from scipy.spatial import cKDTree

    check_cluster_params(1.0, min_samples)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(x) == 0:
        return KDistance(min_samples, np.empty(0), np.empty(0))
    loc = distinct_locations(x, y)
    n = len(loc.x)
    k = min(min_samples, n)  # each location holds >= 1 episode: k nearest always suffice
    xy = np.column_stack([loc.x, loc.y])
    dist, idx = cKDTree(xy).query(xy, k=k)
    dist = np.asarray(dist, dtype=float).reshape(n, k)
    idx = np.asarray(idx).reshape(n, k)
    cumulative = np.cumsum(loc.weight[idx], axis=1)
    enough = cumulative >= min_samples
    first = np.argmax(enough, axis=1)
    kdist = np.where(enough.any(axis=1), dist[np.arange(n), first], np.inf)
    return KDistance(min_samples, kdist, loc.weight)


@dataclass(frozen=True)
class Suggestion:
    """A suggested eps, the curve position it comes from, and the rule."""

    eps_m: float | None
    knee_index: int | None  # position in the finite, trimmed curve
    knee_value_m: float | None
    rule: str = RULE
    reason: str = ""


def suggest_eps(curve: np.ndarray) -> Suggestion:
    """The knee of an ascending k-distance curve (see the module notes)."""
    values = np.sort(np.asarray(curve, dtype=float)[np.isfinite(curve)])
    if len(values):
        values = values[values <= np.percentile(values, TAIL_PERCENTILE)]
    if len(values) < 3 or values[-1] <= values[0]:
        return Suggestion(None, None, None, reason="too few episodes, or all at one distance, "
                          "for a knee: choose eps from the percentiles")
    xs = np.arange(len(values)) / (len(values) - 1)
    ys = (values - values[0]) / (values[-1] - values[0])
    i = int(np.argmax(xs - ys))
    value = float(values[i])
    eps = float(max(ROUND_TO_M, round(value / ROUND_TO_M) * ROUND_TO_M))
    return Suggestion(eps, i, value)


def summary_text(kd: KDistance, suggestion: Suggestion, *, points_note: str = "") -> str:
    """The lines `hotspots tune` prints."""
    curve = kd.curve
    finite = curve[np.isfinite(curve)]
    lines = [
        f"k-distance for min_samples {kd.min_samples}: {kd.episodes:,} episodes at "
        f"{len(kd.weight):,} distinct locations{points_note}.",
        "  k-distance of an episode: the radius around its location holding min_samples "
        "episodes (its own included); its location is a core location exactly when this is "
        "<= eps.",
    ]
    never = kd.episodes - len(finite)
    if len(finite):
        pct = ", ".join(
            f"{p}% {np.percentile(finite, p):,.0f} m" for p in PERCENTILES
        )
        lines.append(f"  percentiles over episodes: {pct}")
    if never:
        lines.append(f"  {never:,} episodes can never be core (fewer than min_samples episodes "
                     "in the file)")
    shares = ", ".join(f"{e:,} m {kd.core_share(e):.0%}" for e in CANDIDATE_EPS)
    lines.append(f"  episodes at a core location with eps = {shares}")
    if suggestion.eps_m is not None:
        lines.append(
            f"Suggested eps: {suggestion.eps_m:,.0f} m ({kd.core_share(suggestion.eps_m):.0%} "
            f"of episodes at a core location); rule: {suggestion.rule}."
        )
    else:
        lines.append(f"No suggested eps: {suggestion.reason}.")
    return "\n".join(lines)


# --- drawing the curve ------------------------------------------------------------------------
def write_curve(kd: KDistance, suggestion: Suggestion, path: Path) -> Path:
    """Write the curve as PNG or SVG, by the file's extension."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        msg = f"`--out` must end in .png or .svg. Got {path.name!r}."
        raise ParameterError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".svg":
        path.write_text(curve_svg(kd, suggestion), encoding="utf-8")
    else:
        path.write_bytes(curve_png(kd, suggestion))
    return path


W, H = 760, 480
LEFT, RIGHT, TOP, BOTTOM = 100, 24, 44, 58


def _axes(kd: KDistance, suggestion: Suggestion) -> tuple[np.ndarray, float, float]:
    """The finite curve, and the y-axis top (a nice number covering the 99th percentile)."""
    curve = kd.curve
    finite = curve[np.isfinite(curve)]
    if len(finite) == 0:
        return finite, 1.0, 1.0
    top = float(np.percentile(finite, TAIL_PERCENTILE))
    if suggestion.eps_m is not None:
        top = max(top, 2 * suggestion.eps_m)
    top = _nice(max(top, 10.0))
    return finite, top, float(kd.episodes)


def _nice(value: float) -> float:
    exp = 10 ** np.floor(np.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= value:
            return float(m * exp)
    return float(10 * exp)


def _ticks(top: float) -> list[float]:
    return [top * i / 5 for i in range(6)]


def _title(kd: KDistance, suggestion: Suggestion) -> str:
    eps = f"suggested eps {suggestion.eps_m:,.0f} m" if suggestion.eps_m else "no suggested eps"
    return f"k-distance, min_samples {kd.min_samples}: {eps}"


def curve_svg(kd: KDistance, suggestion: Suggestion) -> str:
    """The curve as a small standalone SVG document."""
    finite, top, n = _axes(kd, suggestion)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def sx(i: float) -> float:
        return LEFT + pw * i / max(n - 1, 1)

    def sy(v: float) -> float:
        return TOP + ph * (1 - min(v, top) / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="24" font-size="15">{_title(kd, suggestion)}</text>',
    ]
    for v in _ticks(top):
        y = sy(v)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        x = LEFT + pw * frac
        parts.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">'
                     f'{frac:.0%}</text>')
    parts.append(f'<text x="{LEFT + pw / 2}" y="{H - 14}" text-anchor="middle">episodes, '
                 'sorted by k-distance</text>')
    parts.append(f'<text transform="translate(18 {TOP + ph / 2}) rotate(-90)" '
                 'text-anchor="middle">k-distance (m)</text>')
    if len(finite):
        step = max(1, len(finite) // 1500)
        idx = np.unique(np.r_[np.arange(0, len(finite), step), len(finite) - 1])
        points = " ".join(f"{sx(i):.1f},{sy(finite[i]):.1f}" for i in idx)
        parts.append(f'<polyline fill="none" stroke="#1f4e99" stroke-width="2" '
                     f'points="{points}"/>')
    if suggestion.eps_m is not None:
        y = sy(suggestion.eps_m)
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#c0392b" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{LEFT + 8}" y="{y - 6:.1f}" '
                     f'fill="#c0392b">eps {suggestion.eps_m:,.0f} m</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" '
                 'stroke="#333"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def curve_png(kd: KDistance, suggestion: Suggestion) -> bytes:
    """The curve as a PNG (pure numpy + zlib; a built-in 5x7 pixel font for the labels)."""
    finite, top, _ = _axes(kd, suggestion)
    img = np.full((H, W, 3), 255, dtype=np.uint8)
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    grey, dark, blue, red = (221, 221, 221), (51, 51, 51), (31, 78, 153), (192, 57, 43)

    def row_of(v: float) -> int:
        return round(TOP + ph * (1 - min(v, top) / top))

    for v in _ticks(top):
        r = row_of(v)
        img[r, LEFT : W - RIGHT] = grey
        label = f"{v:,.0f}"
        _text(img, label, LEFT - 8 - _text_width(label), r - 7)
    for frac in (0, 0.25, 0.5, 0.75, 1):
        c = round(LEFT + pw * frac)
        label = f"{frac:.0%}"
        _text(img, label, c - _text_width(label) // 2, H - BOTTOM + 8)
    _text(img, _title(kd, suggestion), LEFT, 12)
    caption = "episodes, sorted by k-distance; y: k-distance (m)"
    _text(img, caption, LEFT + (pw - _text_width(caption)) // 2, H - 26)
    if len(finite):
        cols = np.arange(pw + 1)
        pos = np.minimum((cols / pw * (len(finite) - 1)).round().astype(int), len(finite) - 1)
        rows = np.array([row_of(v) for v in finite[pos]])
        prev = rows[0]
        for c, r in zip(cols, rows, strict=True):
            lo, hi = sorted((prev, r))
            img[lo : hi + 1, LEFT + c - 1 : LEFT + c + 1] = blue
            img[r : r + 2, LEFT + c - 1 : LEFT + c + 1] = blue
            prev = r
    if suggestion.eps_m is not None:
        r = row_of(suggestion.eps_m)
        dashes = (np.arange(LEFT, W - RIGHT) // 6) % 2 == 0
        img[r, np.arange(LEFT, W - RIGHT)[dashes]] = red
        label = f"eps {suggestion.eps_m:,.0f} m"
        _text(img, label, LEFT + 8, r - 18, colour=red)
    img[TOP, LEFT : W - RIGHT + 1] = dark
    img[TOP + ph, LEFT : W - RIGHT + 1] = dark
    img[TOP : TOP + ph + 1, LEFT] = dark
    img[TOP : TOP + ph + 1, W - RIGHT] = dark
    return encode_png(img)


def encode_png(img: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as a PNG (deterministic)."""
    height, width, _ = img.shape
    raw = np.concatenate(
        [np.zeros((height, 1), dtype=np.uint8), img.reshape(height, width * 3)], axis=1
    ).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


_SCALE = 2  # each font pixel is 2x2 image pixels
_FONT_ROWS = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "a": "00000 00000 01110 00001 01111 10001 01111",
    "b": "10000 10000 10110 11001 10001 10001 11110",
    "c": "00000 00000 01110 10000 10000 10001 01110",
    "d": "00001 00001 01101 10011 10001 10001 01111",
    "e": "00000 00000 01110 10001 11111 10000 01110",
    "f": "00110 01001 01000 11100 01000 01000 01000",
    "g": "00000 01111 10001 10001 01111 00001 01110",
    "h": "10000 10000 10110 11001 10001 10001 10001",
    "i": "00100 00000 01100 00100 00100 00100 01110",
    "j": "00010 00000 00110 00010 00010 10010 01100",
    "k": "10000 10000 10010 10100 11000 10100 10010",
    "l": "01100 00100 00100 00100 00100 00100 01110",
    "m": "00000 00000 11010 10101 10101 10001 10001",
    "n": "00000 00000 10110 11001 10001 10001 10001",
    "o": "00000 00000 01110 10001 10001 10001 01110",
    "p": "00000 00000 11110 10001 11110 10000 10000",
    "q": "00000 00000 01101 10011 01111 00001 00001",
    "r": "00000 00000 10110 11001 10000 10000 10000",
    "s": "00000 00000 01110 10000 01110 00001 11110",
    "t": "01000 01000 11100 01000 01000 01001 00110",
    "u": "00000 00000 10001 10001 10001 10011 01101",
    "v": "00000 00000 10001 10001 10001 01010 00100",
    "w": "00000 00000 10001 10001 10101 10101 01010",
    "x": "00000 00000 10001 01010 00100 01010 10001",
    "y": "00000 00000 10001 10001 01111 00001 01110",
    "z": "00000 00000 11111 00010 00100 01000 11111",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    ";": "00000 01100 01100 00000 01100 00100 01000",
    "%": "11000 11001 00010 00100 01000 10011 00011",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "/": "00000 00001 00010 00100 01000 10000 00000",
}
_FONT = {
    ch: np.array([[c == "1" for c in row] for row in rows.split()], dtype=bool)
    for ch, rows in _FONT_ROWS.items()
}


def _text_width(text: str) -> int:
    return len(text) * 6 * _SCALE


def _text(
    img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int] = (51, 51, 51)
) -> None:
    for k, ch in enumerate(text.lower()):
        glyph = _FONT.get(ch, _FONT[" "])
        big = np.kron(glyph, np.ones((_SCALE, _SCALE), dtype=bool))
        x0 = x + k * 6 * _SCALE
        h, w = big.shape
        if x0 < 0 or y < 0 or x0 + w > img.shape[1] or y + h > img.shape[0]:
            continue
        img[y : y + h, x0 : x0 + w][big] = colour
