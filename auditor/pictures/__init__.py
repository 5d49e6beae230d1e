"""Pictures from arrays, for the CLI and the audit report alike: a ground module that knows no check or command.

`pixels` turns arrays into RGB and PNG bytes, `display` draws model inputs under one value-range rule,
`charts` draws reliability diagrams and score curves with Pillow alone.
"""

from __future__ import annotations

from auditor.pictures.charts import curves, reliability_diagram
from auditor.pictures.display import Display, display_range, feature_strip
from auditor.pictures.pixels import (
    DIVERGING_LUT,
    colorize,
    grid,
    grid_png,
    overlay,
    png_bytes,
    save_png,
    to_hwc,
    to_uint8,
    upscale,
)

__all__ = [
    "DIVERGING_LUT",
    "Display",
    "colorize",
    "curves",
    "display_range",
    "feature_strip",
    "grid",
    "grid_png",
    "overlay",
    "png_bytes",
    "reliability_diagram",
    "save_png",
    "to_hwc",
    "to_uint8",
    "upscale",
]
