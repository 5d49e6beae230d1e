"""How model inputs are drawn: one value-range rule and one `Display` for tiles, change maps and heat overlays.

The rule, for every picture of a model input (CLI and audit alike): values from `low` (black) to
`high` (white), where (low, high) is the finite range of the reference rows (the data; the rows drawn
when there is no data), widened to hold [0, 1] so [0, 1] images are never stretched. Inputs of one row
(a table row, a spectrum, bytes) are drawn as charts; signed maps carry a colour bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.pictures.annotate import bar_chart, limit_of, line_chart, titled, with_colour_bar
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

    def series(self, row: np.ndarray) -> bool:
        """Whether an input is one row of values (drawn as a chart), not an image."""
        shape = to_hwc(row, self.layout).shape
        return shape[0] == 1 and shape[1] > 1

    def tile(self, row: np.ndarray) -> np.ndarray:
        """One input as an enlarged RGB tile (a line chart for a row of values)."""
        if self.series(row):
            return line_chart(np.asarray(row).reshape(-1), self.value_range)
        return upscale(self.rgb(row), self.min_side)

    def change_tile(self, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The change between two inputs, mean over channels, as a signed map (blue: lower, red: higher) with
        its colour bar; a signed bar chart for rows of values."""
        change = to_hwc(after, self.layout) - to_hwc(before, self.layout)
        if self.series(before):
            return bar_chart(change.reshape(-1))
        mean = change.mean(axis=2)
        return with_colour_bar(upscale(colorize(mean), self.min_side), limit_of(mean))

    def comparison(
        self, before: np.ndarray, after: np.ndarray, titles: tuple[str, str, str] | None = None
    ) -> np.ndarray:
        """before | after | their change (`change_tile`), side by side, each under its title when given."""
        panels = [self.tile(before), self.tile(after), self.change_tile(before, after)]
        if titles is not None:
            panels = [titled(panel, title) for panel, title in zip(panels, titles)]
        return grid(panels, 3)

    def heat_tile(self, row: np.ndarray, heat: np.ndarray) -> np.ndarray:
        """An input in grey with a signed heat map (one value per pixel) laid over it; a row of values as its
        line over the map's colours."""
        if self.series(row):
            return line_chart(np.asarray(row).reshape(-1), self.value_range, np.asarray(heat).reshape(-1))
        rgb = self.rgb(row)
        return upscale(overlay(rgb, np.asarray(heat, np.float64).reshape(rgb.shape[:2])), self.min_side)

    def map_tile(self, heat: np.ndarray) -> np.ndarray:
        """A signed map alone with its colour bar: 2-D as colours, 1-D as bars."""
        heat = np.asarray(heat, np.float64)
        if heat.ndim == 1 or (heat.ndim == 2 and heat.shape[0] == 1):
            return bar_chart(heat.reshape(-1))
        return with_colour_bar(upscale(colorize(heat), self.min_side), limit_of(heat))


def feature_strip(values: np.ndarray) -> np.ndarray:
    """Signed values of a table row's features as a colour strip, one block per feature."""
    strip = colorize(np.asarray(values, np.float64).reshape(1, -1))
    return np.repeat(np.repeat(strip, STRIP_HEIGHT, axis=0), max(1, STRIP_WIDTH // strip.shape[1]), axis=1)
