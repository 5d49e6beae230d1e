"""Report pictures of model inputs: tile grids, signed change maps and heat overlays."""

from __future__ import annotations

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.results import Figure
from auditor.images import colorize, grid, overlay, png_bytes, to_hwc, to_uint8, upscale


def picture(name: str, caption: str, tiles: list[np.ndarray], columns: int) -> Figure:
    """A figure of image tiles laid out `columns` to a row."""
    return Figure(name, caption, png_bytes(grid(tiles, columns)))


def diff_tile(ctx: Context, before: np.ndarray, after: np.ndarray, min_side: int = 84) -> np.ndarray:
    """The change between two image inputs as a signed blue-white-red map (channels summed)."""
    change = np.asarray(after, np.float64) - np.asarray(before, np.float64)
    delta = to_hwc(change, ctx.blackbox.layout).sum(axis=2)
    return upscale(colorize(delta), min_side)


def heat_tile(ctx: Context, x: np.ndarray, heat: np.ndarray, min_side: int = 84) -> np.ndarray:
    """An image input with a heat map laid over it."""
    rgb = to_uint8(to_hwc(x, ctx.blackbox.layout), ctx.value_range)
    heat = np.asarray(heat, np.float64).reshape(rgb.shape[:2])
    return upscale(overlay(rgb, heat), min_side)
