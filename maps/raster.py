"""The density surface as a small PNG for a Leaflet image overlay (a ``data:`` URI, offline).

Leaflet stretches an image linearly between its south-west and north-east corners in Web
Mercator (EPSG:3857). The density grid is square in the British National Grid, which is
rotated against Mercator by up to a degree or two (about 0.5 degrees in Oxfordshire: half a
kilometre across the county), so the grid is *resampled* onto a regular Mercator raster:
each pixel centre is projected to BNG and the density read there (bilinear). The projection is
computed exactly on a lattice every `LATTICE` pixels and interpolated in between (the mapping
is smooth; the error is far below a pixel).

The image is classed (a few colours, transparent below the lowest class), written as an
indexed PNG (one byte per pixel, with a transparency chunk) by a tiny encoder here, so no
imaging library is needed. Classed images of a smooth surface compress to tens of kilobytes.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from pyproj import Transformer
from scipy import ndimage

from geo import schema as s
from geo.density import DensityGrid

__all__ = ["classify", "density_png", "png_indexed"]

LATTICE = 16
MAX_PX = 2000
WEB_MERCATOR = "EPSG:3857"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_indexed(index: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Encode a 2-D array of palette indices (row 0 at the top) as an 8-bit indexed PNG.

    `palette` holds RGBA tuples (0-255); alpha is written as a tRNS chunk.
    """
    index = np.ascontiguousarray(index, dtype=np.uint8)
    if index.ndim != 2 or not 1 <= len(palette) <= 256:
        raise ValueError("png_indexed needs a 2-D index array and 1 to 256 colours")
    if index.size and int(index.max()) >= len(palette):
        raise ValueError("png_indexed: an index is outside the palette")
    h, w = index.shape
    header = struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0)
    plte = b"".join(struct.pack("BBB", *c[:3]) for c in palette)
    trns = bytes(int(c[3]) for c in palette)
    rows = np.zeros((h, w + 1), dtype=np.uint8)  # filter byte 0 (None) per row
    rows[:, 1:] = index
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", plte)
        + _chunk(b"tRNS", trns)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def classify(values: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Class of each value: 0 below the lowest level, k for values >= the k-th lowest level.

    `levels` may be given in any order; non-finite levels are ignored.
    """
    lv = np.sort(np.asarray([v for v in levels if np.isfinite(v)], dtype=float))
    return np.searchsorted(lv, values, side="right").astype(np.uint8)


def density_png(
    grid: DensityGrid,
    levels: Sequence[float],
    palette: Sequence[tuple[int, int, int, int]],
    *,
    max_px: int = MAX_PX,
) -> tuple[str, list[list[float]]]:
    """The grid resampled to Web Mercator, classed by `levels` and coloured by `palette`
    (``palette[0]`` for values below every level, usually fully transparent).

    Returns the PNG as a ``data:image/png;base64,...`` URI and its bounds
    ``[[south, west], [north, east]]`` for ``L.imageOverlay``.
    """
    xmin, ymin, xmax, ymax = grid.bounds
    to_wgs = Transformer.from_crs(s.BNG, s.WGS84, always_xy=True)
    to_merc = Transformer.from_crs(s.BNG, WEB_MERCATOR, always_xy=True)
    # the BNG rectangle's outline, densely sampled, gives the Mercator extent
    t = np.linspace(0, 1, 65)
    ex = np.concatenate([xmin + t * (xmax - xmin), np.full(65, xmax),
                         xmax - t * (xmax - xmin), np.full(65, xmin)])
    ey = np.concatenate([np.full(65, ymin), ymin + t * (ymax - ymin),
                         np.full(65, ymax), ymax - t * (ymax - ymin)])
    mx, my = to_merc.transform(ex, ey)
    mx0, mx1, my0, my1 = float(mx.min()), float(mx.max()), float(my.min()), float(my.max())
    _, lat = to_wgs.transform(ex, ey)
    scale = 1.0 / np.cos(np.radians(float(np.mean(lat))))  # Mercator metres per metre
    px = grid.cell_m * scale / 1.5  # 1.5 pixels per cell: smoother class edges
    width = int(np.clip(np.ceil((mx1 - mx0) / px), 1, max_px))
    height = int(np.clip(np.ceil((my1 - my0) / px), 1, max_px))

    # exact BNG coordinates on a coarse lattice of pixel centres, interpolated in between
    lat_cols = np.unique(np.r_[np.arange(0, width, LATTICE), width - 1])
    lat_rows = np.unique(np.r_[np.arange(0, height, LATTICE), height - 1])
    cx = mx0 + (lat_cols + 0.5) * (mx1 - mx0) / width
    cy = my1 - (lat_rows + 0.5) * (my1 - my0) / height  # row 0 is the north edge
    gx, gy = np.meshgrid(cx, cy)
    from_merc = Transformer.from_crs(WEB_MERCATOR, s.BNG, always_xy=True)
    bx, by = from_merc.transform(gx, gy)
    # fractional (row, column) of the density grid's cell centres at the lattice points
    gcol = (bx - grid.x0) / grid.cell_m - 0.5
    grow = (by - grid.y0) / grid.cell_m - 0.5
    fc = np.interp(np.arange(width), lat_cols, np.arange(lat_cols.size)).astype(np.float32)
    fr = np.interp(np.arange(height), lat_rows, np.arange(lat_rows.size)).astype(np.float32)
    rr, cc = np.meshgrid(fr, fc, indexing="ij")
    full_col = ndimage.map_coordinates(gcol, [rr, cc], order=1, mode="nearest")
    full_row = ndimage.map_coordinates(grow, [rr, cc], order=1, mode="nearest")
    del rr, cc
    values = ndimage.map_coordinates(grid.values, [full_row, full_col], order=1,
                                     mode="constant", cval=0.0)

    index = classify(values, levels)
    png = png_indexed(index, palette)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    inv_lon, inv_lat = Transformer.from_crs(WEB_MERCATOR, s.WGS84, always_xy=True).transform(
        [mx0, mx1], [my0, my1]
    )
    bounds = [[round(float(inv_lat[0]), 6), round(float(inv_lon[0]), 6)],
              [round(float(inv_lat[1]), 6), round(float(inv_lon[1]), 6)]]
    return uri, bounds
