"""Localized updates for random-search attacks: squares of an image's pixels, or random feature subsets.

An image (NCHW, NHWC or HW layout) gets squares of side s at random positions, all channels; any other
layout gets random subsets of features (a table's columns have no neighbourhood). Indices are into the
flattened sample, shaped (m, channels, cells) so that one value per channel can be broadcast over a window.
"""

from __future__ import annotations

import numpy as np


class Windows:
    """Window geometry of one sample shape and layout."""

    def __init__(self, shape: tuple[int, ...], layout: str) -> None:
        self.size = int(np.prod(shape))
        self.layout = layout
        self.image = layout in ("NCHW", "NHWC", "HW") and len(shape) in (2, 3)
        if not self.image:
            self.channels, self.height, self.width = 1, 1, self.size
            return
        if layout == "HW" or len(shape) == 2:
            self.channels, (self.height, self.width) = 1, shape[-2:]
            self.strides = (0, self.width, 1)
        elif layout == "NCHW":
            self.channels, self.height, self.width = shape
            self.strides = (self.height * self.width, self.width, 1)
        else:
            self.height, self.width, self.channels = shape
            self.strides = (1, self.width * self.channels, self.channels)

    @property
    def pixels(self) -> int:
        """Cells a window can cover per channel: H·W for images, D for other layouts."""
        return self.height * self.width

    def side(self, share: float, least: int = 1) -> int:
        """Window side (image) or feature count (others) covering about `share` of the cells."""
        if self.image:
            side = round(float(np.sqrt(share * self.pixels)))
            return int(min(max(side, least), self.height, self.width))
        return int(min(max(round(share * self.size), least), self.size))

    def draw(self, rng: np.random.Generator, m: int, side: int) -> np.ndarray:
        """(m, channels, cells) flat indices of m random windows: squares side×side, or `side` random features."""
        if not self.image:
            keys = rng.random((m, self.size))
            return np.argpartition(keys, side - 1, axis=1)[:, :side][:, None, :]
        return self.squares(rng, m, side)[0]

    def squares(
        self, rng: np.random.Generator, m: int, side: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Images: m random side×side squares, all channels: (m, channels, side²) flat indices, tops, lefts."""
        top = rng.integers(0, self.height - side + 1, size=m)
        left = rng.integers(0, self.width - side + 1, size=m)
        steps = np.arange(side)
        channel, row, column = self.strides
        cells = (
            (top[:, None] + steps)[:, :, None] * row + (left[:, None] + steps)[:, None, :] * column
        ).reshape(m, 1, side * side)
        return cells + (np.arange(self.channels) * channel)[None, :, None], top, left
