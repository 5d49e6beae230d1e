"""Small charts drawn with Pillow (no plotting dependency): reliability diagrams and score curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

INK = (40, 40, 40)
GRID = (225, 225, 225)
PALETTE = ((33, 102, 172), (178, 24, 43), (90, 160, 90), (150, 110, 40), (120, 80, 160))


def _font(size: int = 13) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Axes:
    """A unit square [0, 1]² mapped into a white canvas with margins, ticks and axis labels."""

    def __init__(
        self, width: int, height: int, xlabel: str, ylabel: str, title: str, bottom_space: int = 42
    ) -> None:
        self.image = Image.new("RGB", (width, height), "white")
        self.draw = ImageDraw.Draw(self.image)
        self.left, self.right, self.top, self.bottom = 52, width - 14, 46, height - bottom_space
        font = _font()
        self.draw.text((6, 6), title, fill=INK, font=font)
        self.draw.text(
            ((self.left + self.right) // 2, self.bottom + 30), xlabel, fill=INK, font=font, anchor="mm"
        )
        self.draw.text((6, self.top - 18), ylabel, fill=INK, font=_font(12))
        for tick in np.linspace(0, 1, 6):
            x, y = self.xy(tick, tick)
            self.draw.line([(x, self.top), (x, self.bottom)], fill=GRID)
            self.draw.line([(self.left, y), (self.right, y)], fill=GRID)
            self.draw.text((x, self.bottom + 12), f"{tick:.1f}", fill=INK, font=_font(11), anchor="mm")
            self.draw.text((self.left - 6, y), f"{tick:.1f}", fill=INK, font=_font(11), anchor="rm")
        self.draw.rectangle([self.left, self.top, self.right, self.bottom], outline=INK)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        """Canvas pixel of a point of the unit square (clipped to it)."""
        return (
            self.left + float(np.clip(x, 0, 1)) * (self.right - self.left),
            self.bottom - float(np.clip(y, 0, 1)) * (self.bottom - self.top),
        )

    def pixels(self) -> np.ndarray:
        """The chart as an RGB array (H, W, 3)."""
        return np.asarray(self.image)


def reliability_diagram(
    edges: Sequence[float], accuracy: Sequence[float | None], counts: Sequence[int]
) -> np.ndarray:
    """Bars of accuracy per confidence bin against the diagonal; empty bins are left out."""
    axes = _Axes(360, 330, "confidence", "accuracy", "Accuracy per confidence bin; line: perfect calibration")
    draw = axes.draw
    for low, high, share, count in zip(edges[:-1], edges[1:], accuracy, counts):
        if not count or share is None:
            continue
        x0, y0 = axes.xy(low, share)
        x1, y1 = axes.xy(high, 0)
        draw.rectangle([x0 + 1, y0, x1 - 1, y1], fill=(146, 197, 222), outline=PALETTE[0])
    draw.line([axes.xy(0, 0), axes.xy(1, 1)], fill=PALETTE[1], width=2)
    return axes.pixels()


def curves(
    series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str
) -> np.ndarray:
    """Line chart of named (x, y) series on [0, 1]², with a legend; names are ours, not the model's."""
    legend = 18 * len(series)
    axes = _Axes(360, 330 + legend, xlabel, ylabel, title, bottom_space=42 + legend)
    draw = axes.draw
    for i, (name, (xs, ys)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = [axes.xy(x, y) for x, y in zip(xs, ys) if np.isfinite(y)]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        key_x, key_y = axes.left, axes.bottom + 40 + 18 * i
        draw.line([(key_x, key_y + 7), (key_x + 18, key_y + 7)], fill=color, width=3)
        draw.text((key_x + 24, key_y), name, fill=INK, font=_font(12))
    return axes.pixels()
