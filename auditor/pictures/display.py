"""How model inputs are drawn: one value-range rule and one `Display` for tiles, change maps and heat overlays.

The rule, for every picture of a model input (CLI and audit alike): values from `low` (black) to
`high` (white), where (low, high) is the finite range of the reference rows (the data; the rows drawn
when there is no data), widened to hold [0, 1] so [0, 1] images are never stretched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.pictures.pixels import colorize, grid, overlay, to_hwc, to_uint8, upscale

TILE_SIDE = 112  # least side of a tile in pixels, after nearest-neighbour enlargement
STRIP_HEIGHT = 24  # a table row's colour strip: pixels high, and about STRIP_WIDTH wide
STRIP_WIDTH = 480


def display_range(rows: np.ndarray) -> tuple[float, float]:
    """The values drawn black and white: the finite range of `rows`, widened to hold [0, 1]."""
    values = np.asarray(rows, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    return min(0.0, float(finite.min())), max(1.0, float(finite.max()))


@dataclass(frozen=True)
class Display:
    """How to draw inputs of one model: its layout, the value range drawn black..white, the least tile side."""

    layout: str
    value_range: tuple[float, float] = (0.0, 1.0)
    min_side: int = TILE_SIDE

    def rgb(self, row: np.ndarray) -> np.ndarray:
        """One input as an RGB array (H, W, 3) at its own size."""
        return to_uint8(to_hwc(row, self.layout), self.value_range)

    def tile(self, row: np.ndarray) -> np.ndarray:
        """One input as an enlarged RGB tile."""
        return upscale(self.rgb(row), self.min_side)

    def change_tile(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The change between two inputs, mean over channels, as a signed map (blue: lower, red: higher)."""
        change = to_hwc(after, self.layout) - to_hwc(before, self.layout)
        return upscale(colorize(change.mean(axis=2)), self.min_side)

    def comparison(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """before | after | their change (`change_tile`), side by side."""
        return grid([self.tile(before), self.tile(after), self.change_tile(before, after)], 3)

    def heat_tile(self, row: np.ndarray, heat: np.ndarray) -> np.ndarray:
        """An input in grey with a signed heat map (one value per pixel) laid over it."""
        rgb = self.rgb(row)
        return upscale(overlay(rgb, np.asarray(heat, np.float64).reshape(rgb.shape[:2])), self.min_side)

    def map_tile(self, heat: np.ndarray) -> np.ndarray:
        """A signed 2-D map alone."""
        return upscale(colorize(heat), self.min_side)


def feature_strip(values: np.ndarray) -> np.ndarray:
    """Signed values of a table row's features as a colour strip, one block per feature."""
    strip = colorize(np.asarray(values, np.float64).reshape(1, -1))
    return np.repeat(np.repeat(strip, STRIP_HEIGHT, axis=0), max(1, STRIP_WIDTH // strip.shape[1]), axis=1)
