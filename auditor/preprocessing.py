"""The preprocessing contract: how a user's image becomes the model's input tensor.

The contract has two parts. The file part runs once per image when data is read: decode to `mode`
(RGB or grey L), resize (exactly to `size`, or the shorter side to `resize`), centre-crop to `crop`.
The result stays in the user's pixel space: 0-255 values in RGB (or grey) order, channels first.
The tensor part runs on whole batches before every model call (see `auditor.model.preprocess`):
reorder the channels to `channels`, multiply by `scale`, subtract `mean` and divide by `std` (both
listed in the order of the channels fed to the model), cast to `dtype`. Searches, perturbations,
distances and pictures therefore all live in pixel space, and only the model sees normalised tensors.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from auditor.errors import ArgumentError, DataError

MODES = ("RGB", "L")
CHANNEL_ORDERS = ("RGB", "BGR")
TENSOR_LAYOUTS = ("NCHW", "NHWC")
TENSOR_DTYPES = ("float32", "float16", "float64", "uint8", "int8", "int32", "int64")
RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}
MAX_IMAGE_PIXELS = 64_000_000
MAX_SIDE = 16_384
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True, kw_only=True)
class PreprocessParams:
    """One preprocessing contract: the file part (mode, size/resize, crop, resample) and the tensor part.

    `preset` names the preset it started from ("none" when built field by field); `layout` and `dtype`,
    when given, override what is read from the model's input (None: the model's own).
    """

    preset: str = "none"
    mode: str = "RGB"
    size: tuple[int, int] | None = None  # (height, width): resize exactly
    resize: int | None = None  # the shorter side, keeping the aspect ratio
    crop: tuple[int, int] | None = None  # (height, width) from the centre
    resample: str = "bilinear"
    channels: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        for name in ("size", "crop"):  # a config gives lists, or one number for a square
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, (value, value))
            elif isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        for name in ("mean", "std"):
            value = getattr(self, name)
            values = value if isinstance(value, list | tuple) else [value]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise ArgumentError(f"preprocess.{name} must be numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in values))
        _one_of("mode", self.mode, MODES)
        _one_of("resample", self.resample, tuple(RESAMPLING))
        _one_of("channels", self.channels, CHANNEL_ORDERS)
        if self.layout is not None:
            _one_of("layout", self.layout, TENSOR_LAYOUTS)
        if self.dtype is not None:
            _one_of("dtype", self.dtype, TENSOR_DTYPES)
        for name in ("size", "crop"):
            pair = getattr(self, name)
            if pair is not None and (
                len(pair) != 2 or not all(isinstance(v, int) and 0 < v <= MAX_SIDE for v in pair)
            ):
                raise ArgumentError(
                    f"preprocess.{name} must be [height, width] in pixels (1..{MAX_SIDE}), got {pair}"
                )
        if self.resize is not None and not (isinstance(self.resize, int) and 0 < self.resize <= MAX_SIDE):
            raise ArgumentError(f"preprocess.resize must be the shorter side in pixels (1..{MAX_SIDE})")
        if self.size is not None and self.resize is not None:
            raise ArgumentError("preprocess: give size (exact) or resize (shorter side), not both")
        if (
            self.crop is not None
            and self.size is not None
            and (self.crop[0] > self.size[0] or self.crop[1] > self.size[1])
        ):
            raise ArgumentError(f"preprocess.crop {list(self.crop)} is larger than size {list(self.size)}")
        if self.crop is not None and self.resize is not None and min(self.crop) > self.resize:
            raise ArgumentError(
                f"preprocess.crop {list(self.crop)} is larger than the resized shorter side {self.resize}"
            )
        if self.channels == "BGR" and self.mode != "RGB":
            raise ArgumentError("preprocess.channels BGR needs colour images (mode RGB)")
        if not (math.isfinite(self.scale) and self.scale != 0):
            raise ArgumentError(f"preprocess.scale must be a finite, non-zero factor, got {self.scale}")
        width = 3 if self.mode == "RGB" else 1
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, width) or not all(math.isfinite(v) for v in values):
                raise ArgumentError(
                    f"preprocess.{name} must be 1 or {width} finite numbers, got {list(values)}"
                )
        if not all(v > 0 for v in self.std):
            raise ArgumentError(f"preprocess.std must be positive, got {list(self.std)}")

    # ------------------------------------------------------------ tensor part

    @property
    def identity(self) -> bool:
        """Whether the tensor part leaves pixels unchanged (beyond the model's own dtype cast)."""
        return (
            self.channels == "RGB"
            and self.scale == 1.0
            and all(v == 0 for v in self.mean)
            and all(v == 1 for v in self.std)
            and self.dtype is None
        )

    def to_tensor(self, pixels: np.ndarray, layout: str) -> np.ndarray:
        """Rows in pixel space (n, *sample) in the model's `layout` -> the model's input values, whole batch at once."""
        x = np.asarray(pixels)
        if self.identity:
            return x
        axis = channel_axis(layout, x.ndim)
        if axis is None and (self.channels == "BGR" or len(self.mean) > 1 or len(self.std) > 1):
            raise ArgumentError(
                f"preprocess: per-channel settings (channels BGR, mean/std per channel) need an image input "
                f"with a channel axis (NCHW or NHWC), not {layout}"
            )
        shape = [1] * x.ndim
        if axis is not None:
            if self.channels == "BGR":
                x = np.flip(x, axis=axis)
            shape[axis] = -1
        std = np.asarray(self.std, dtype=np.float64)
        gain = (self.scale / std).astype(np.float32).reshape(shape)
        offset = (np.asarray(self.mean, dtype=np.float64) / std).astype(np.float32).reshape(shape)
        out = x.astype(np.float32) * gain
        out -= offset
        if self.dtype is None or np.dtype(self.dtype).kind == "f":
            return out.astype(self.dtype or np.float32, copy=False)
        info = np.iinfo(np.dtype(self.dtype))
        return np.clip(np.rint(out), info.min, info.max).astype(self.dtype)

    # ------------------------------------------------------------ file part

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of every image after the file part, when it is fixed."""
        return self.crop or self.size

    def read_image(self, path: str | os.PathLike[str]) -> np.ndarray:
        """One image file -> (C, H, W) float32 pixels 0-255 in RGB (or grey) order: decode, resize, crop."""
        path = Path(path)
        bomb = (Image.DecompressionBombError, Image.DecompressionBombWarning)
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused, not warned
                with Image.open(path) as opened:
                    img = self.resized(opened.convert(self.mode))
                    pixels = np.asarray(img, dtype=np.float32)
        except (OSError, UnidentifiedImageError, ValueError, *bomb) as exc:
            raise DataError(f"{path}: cannot read the image ({' '.join(str(exc).split())[:200]})") from None
        if self.crop is not None:
            pixels = centre_crop(pixels, self.crop, path)
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)

    def resized(self, img: Image.Image) -> Image.Image:
        """The exact or shorter-side resize of the file part (the image unchanged when neither is set)."""
        filt = RESAMPLING[self.resample]
        if self.size is not None:
            return img.resize((self.size[1], self.size[0]), filt)
        if self.resize is not None:
            w, h = img.size
            ratio = self.resize / min(w, h)
            return img.resize((max(1, round(w * ratio)), max(1, round(h * ratio))), filt)
        return img

    # ------------------------------------------------------------ description

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (for provenance and `inspect --json`)."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        """One line: the preset and what differs from it, then every step in order."""
        if self == PRESETS["none"]:
            return "none: values passed to the model as read"
        base = PRESETS.get(self.preset)
        changed = [
            f"{f.name}={_text(getattr(self, f.name))}"
            for f in fields(self)
            if f.name != "preset" and base is not None and getattr(self, f.name) != getattr(base, f.name)
        ]
        head = self.preset + (f" with {', '.join(changed)}" if changed else "")
        steps = [self.mode if self.mode == "L" else "colour"]
        if self.size is not None:
            steps.append(f"resize to {self.size[0]}×{self.size[1]} ({self.resample})")
        if self.resize is not None:
            steps.append(f"shorter side to {self.resize} ({self.resample})")
        if self.crop is not None:
            steps.append(f"centre crop {self.crop[0]}×{self.crop[1]}")
        if self.channels == "BGR":
            steps.append("RGB→BGR")
        if self.scale != 1.0:
            steps.append(f"×{_number(self.scale)}")
        if any(v != 0 for v in self.mean):
            steps.append(f"− mean {_text(self.mean)}")
        if any(v != 1 for v in self.std):
            steps.append(f"÷ std {_text(self.std)}")
        if self.layout is not None:
            steps.append(self.layout)
        if self.dtype is not None:
            steps.append(self.dtype)
        return f"{head}: {', '.join(steps)}"


def channel_axis(layout: str, ndim: int) -> int | None:
    """The channel axis of a batch in `layout` (None when it has none)."""
    if ndim == 4 and layout == "NCHW":
        return 1
    if ndim == 4 and layout == "NHWC":
        return 3
    return None


def centre_crop(pixels: np.ndarray, crop: tuple[int, int], path: Path) -> np.ndarray:
    """The centre (height, width) window of an (H, W[, C]) image, as the vendors' CenterCrop takes it."""
    h, w = pixels.shape[:2]
    ch, cw = crop
    if h < ch or w < cw:
        raise DataError(
            f"{path}: the image is {h}×{w} after resizing, smaller than the crop {ch}×{cw}; resize it first"
        )
    top, left = (h - ch) // 2, (w - cw) // 2
    return pixels[top : top + ch, left : left + cw]


def _one_of(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ArgumentError(f"preprocess.{name} must be one of {', '.join(choices)}, got {value!r}")


def _number(value: float) -> str:
    return "1/255" if math.isclose(value, 1 / 255) else f"{value:g}"


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_number(v) if isinstance(v, float) else str(v) for v in value) + ")"
    return _number(value) if isinstance(value, float) else str(value)


PRESETS: dict[str, PreprocessParams] = {
    "none": PreprocessParams(preset="none"),
    "unit": PreprocessParams(preset="unit", scale=1 / 255),
    "imagenet": PreprocessParams(
        preset="imagenet", resize=256, crop=(224, 224), scale=1 / 255, mean=IMAGENET_MEAN, std=IMAGENET_STD
    ),
    "imagenet-bgr-caffe": PreprocessParams(
        preset="imagenet-bgr-caffe", resize=256, crop=(224, 224), channels="BGR", mean=CAFFE_MEAN_BGR
    ),
}


def preset(name: str) -> PreprocessParams:
    """A named preset: imagenet, imagenet-bgr-caffe, unit (0-255 -> 0-1) or none."""
    if name not in PRESETS:
        raise ArgumentError(f"unknown preprocess preset '{name}'; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_with(name: str, changes: dict[str, Any]) -> PreprocessParams:
    """A preset with some fields set explicitly (a config's `[preprocess]` table: preset plus overrides)."""
    unknown = sorted(set(changes) - ({f.name for f in fields(PreprocessParams)} - {"preset"}))
    if unknown:
        raise ArgumentError(f"unknown preprocess setting '{unknown[0]}'")
    return replace(preset(name), **changes)


def legacy(size: tuple[int, int] | None, mode: str, value_range: tuple[float, float]) -> PreprocessParams:
    """Today's `[preprocess]` (size, mode, scale = [low, high] for pixels 0..255) as a contract."""
    low, high = value_range
    return PreprocessParams(size=size, mode=mode, scale=(high - low) / 255, mean=(-low,))
