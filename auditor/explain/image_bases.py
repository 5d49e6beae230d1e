"""Low-dimensional image bases: where searches for large image models run without a generator.

A search over every pixel of a 224×224 image finds nothing in budget, and a search over coarse cells
finds mosaics of saturated blocks. `ImageBasis` instead maps z (n, d) to the reference data's mean
image plus the lowest `side`×`side` frequencies of a 2-D DCT per channel, each scaled by the spread
of the reference data along it: smooth images with the data's own variation, a linear map that plays
a `Generator`'s role (prior N(0, I), batched `generate`) and whose left inverse `encode` gives the
start z0 of an input. Images with more than `BASIS_MIN_VALUES` values per sample use it
(`uses_basis`); smaller ones are searched pixel by pixel (exemplars) or cell by cell (counterfactuals).
"""

from __future__ import annotations

import numpy as np

from auditor.errors import DataError
from auditor.model.signature import IMAGE_LAYOUTS

BASIS_MIN_VALUES = 4096  # above 64×64 grey values per sample, search a basis instead of the pixels
DCT_SIDE = 8  # lowest 8×8 frequencies per channel
MIN_RELATIVE_SCALE = 1e-3  # coefficient spreads below this share of the largest are floored


def uses_basis(layout: str, shape: tuple[int, ...]) -> bool:
    """Whether a model input of this layout and sample shape is searched in an `ImageBasis`."""
    return layout in IMAGE_LAYOUTS and int(np.prod(shape)) > BASIS_MIN_VALUES


def dct_rows(length: int, count: int) -> np.ndarray:
    """The first `count` orthonormal DCT-II basis vectors of a signal of `length` samples, (count, length)."""
    samples = np.arange(length)
    frequencies = np.arange(count)[:, None]
    rows = np.cos(np.pi * (2 * samples[None, :] + 1) * frequencies / (2 * length))
    rows[0] /= np.sqrt(2.0)
    return rows * np.sqrt(2.0 / length)


class ImageBasis:
    """z (n, channels·side²) -> mean + Σ z·scale·DCT frequency, per channel, in the model's layout.

    Fitted on reference rows in the model's layout; `clipped` keeps outputs inside the reference's
    global [min, max] (leave it off where the caller clips, e.g. residual counterfactuals, whose
    x + G(z) − G(z0) needs G linear). `queries` counts the rows decoded or encoded.
    """

    prior = "normal"
    ort_seconds = 0.0  # numpy only: nothing runs in ONNX Runtime

    def __init__(
        self, reference: np.ndarray, layout: str, *, side: int = DCT_SIDE, clipped: bool = True
    ) -> None:
        if layout not in IMAGE_LAYOUTS:
            raise DataError(
                f"an image basis needs an image layout ({', '.join(IMAGE_LAYOUTS)}), got {layout}"
            )
        rows = np.asarray(reference, dtype=np.float64)
        if len(rows) < 2 or not np.isfinite(rows).all():
            raise DataError(
                "the reference data needs at least two rows of finite values to fit an image basis"
            )
        self.layout = layout
        self.output_shape = tuple(int(size) for size in rows.shape[1:])
        images = self._canonical(rows)
        _, _, height, width = images.shape
        self.side = min(side, height, width)
        self.name = f"dct-{self.side}x{self.side}"
        self.along_height = dct_rows(height, self.side)
        self.along_width = dct_rows(width, self.side)
        self.mean = images.mean(axis=0)
        self.lower, self.upper = float(rows.min()), float(rows.max())
        self.clipped = clipped
        spread = self._coefficients(images - self.mean).std(axis=0).reshape(-1)
        floor = MIN_RELATIVE_SCALE * float(spread.max()) if spread.max() > 0 else 1.0
        self.scales = np.maximum(spread, floor)
        self.latent_dim = int(self.scales.size)
        self.queries = 0
        self._height_t32 = np.ascontiguousarray(self.along_height.T, dtype=np.float32)
        self._width32 = self.along_width.astype(np.float32)
        self._mean32 = self.mean.astype(np.float32)

    def _canonical(self, rows: np.ndarray) -> np.ndarray:
        """Model-layout rows -> (n, channels, height, width)."""
        if self.layout == "HW":
            return rows[:, None]
        if self.layout == "NHWC":
            return rows.transpose(0, 3, 1, 2)
        return rows

    def _to_layout(self, images: np.ndarray) -> np.ndarray:
        if self.layout == "HW":
            return images[:, 0]
        if self.layout == "NHWC":
            return images.transpose(0, 2, 3, 1)
        return images

    def _coefficients(self, images: np.ndarray) -> np.ndarray:
        """(n, c, h, w) -> (n, c, side, side): the low-frequency DCT coefficients."""
        return self.along_height @ images @ self.along_width.T

    def generate(self, z: np.ndarray) -> np.ndarray:
        """Latent rows (n, latent_dim) -> images (n, *output_shape) in the model's layout, float32."""
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latent vectors must have shape (n, {self.latent_dim}), got {list(z.shape)}")
        self.queries += len(z)
        channels = self.mean.shape[0]
        coefficients = (z * self.scales).astype(np.float32).reshape(len(z), channels, self.side, self.side)
        images = self._height_t32 @ coefficients @ self._width32  # float32: what the model reads
        images += self._mean32
        if self.clipped:
            np.clip(images, self.lower, self.upper, out=images)
        return np.ascontiguousarray(self._to_layout(images))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Images (n, *output_shape) -> their latent rows (the left inverse of `generate` on the basis)."""
        rows = np.asarray(x, dtype=np.float64)
        if rows.shape[1:] != self.output_shape:
            raise DataError(
                f"rows of shape {list(rows.shape[1:])} do not fit the basis's {list(self.output_shape)}"
            )
        self.queries += len(rows)
        coefficients = self._coefficients(self._canonical(rows) - self.mean).reshape(len(rows), -1)
        return coefficients / self.scales

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.latent_dim))
