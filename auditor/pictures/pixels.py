"""Pixels from arrays: model inputs as RGB, signed maps through a colormap lookup table, grids and PNG bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

# Diverging blue-white-red anchors for signed maps (attributions, differences).
_DIVERGING = np.array(
    [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]], float
)


def _lut(anchors: np.ndarray, size: int = 256) -> np.ndarray:
    positions = np.linspace(0, 1, len(anchors))
    steps = np.linspace(0, 1, size)
    channels = [np.interp(steps, positions, anchors[:, channel]) for channel in range(3)]
    return np.stack(channels, axis=1).astype(np.uint8)


DIVERGING_LUT = _lut(_DIVERGING)


def to_hwc(x: np.ndarray, layout: str = "NCHW") -> np.ndarray:
    """One sample in model layout -> (H, W, C) float array; flat rows become a 1-pixel-high strip."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return x[None, :, None]
    if x.ndim == 2:
        return x[:, :, None]
    if layout == "NHWC":
        return x
    return x.transpose(1, 2, 0)


def to_uint8(x_hwc: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Scale to 0..255; grey for 1 channel, RGB for 3; other channel counts show their mean."""
    if value_range is None:  # the finite values' range (an all-NaN sample is drawn black, without warnings)
        finite = x_hwc[np.isfinite(x_hwc)]
        value_range = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    low, high = value_range
    scaled = np.clip((np.nan_to_num(x_hwc, nan=low) - low) / max(high - low, 1e-12), 0, 1)
    if scaled.shape[2] not in (1, 3):
        scaled = scaled.mean(axis=2, keepdims=True)
    if scaled.shape[2] == 1:
        scaled = np.repeat(scaled, 3, axis=2)
    return (scaled * 255 + 0.5).astype(np.uint8)


def colorize(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """A signed 2-D map -> RGB with the diverging LUT, symmetric around zero (±limit, default the largest |value|)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    limit = limit or float(np.abs(values).max()) or 1.0
    index = np.clip((values / limit + 1) / 2 * 255, 0, 255).astype(np.uint8)
    return DIVERGING_LUT[index]


def overlay(image_rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend a signed heatmap (H, W) over an RGB image (H, W, 3) of the same size."""
    colors = colorize(heat).astype(np.float64)
    grey = image_rgb.astype(np.float64).mean(axis=2, keepdims=True)
    return (alpha * colors + (1 - alpha) * grey).astype(np.uint8)


def upscale(rgb: np.ndarray, min_side: int = 112) -> np.ndarray:
    """Nearest-neighbour enlargement so small images stay crisp in reports."""
    factor = max(1, int(np.ceil(min_side / max(1, min(rgb.shape[:2])))))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def grid(tiles: list[np.ndarray], columns: int, pad: int = 2) -> np.ndarray:
    """Lay RGB tiles out in rows of `columns`, on white, each at the top left of a cell as large as the largest."""
    if not tiles:
        raise ValueError("grid needs at least one tile")
    height = max(tile.shape[0] for tile in tiles)
    width = max(tile.shape[1] for tile in tiles)
    rows = -(-len(tiles) // columns)
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        top, left = pad + row * (height + pad), pad + column * (width + pad)
        canvas[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return canvas


def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB array (H, W, 3) of uint8 as PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def grid_png(tiles: list[np.ndarray], columns: int) -> bytes:
    """Tiles laid out `columns` to a row, as PNG bytes."""
    return png_bytes(grid(tiles, columns))


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an RGB array as a PNG file; return its path."""
    path = Path(path)
    path.write_bytes(png_bytes(rgb))
    return path
