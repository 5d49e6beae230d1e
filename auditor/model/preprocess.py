"""A BlackBox seen through a preprocessing contract: callers hand it rows in the user's pixel space.

The contract's tensor part (channel order, scale, mean/std, dtype; `auditor.preprocessing`) runs on
each whole batch right before the model's own `predict`, so searches, perturbations, distances and
pictures stay in pixel space (0-255 images) and only the model sees normalised tensors.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import numpy as np

from auditor.data import Dataset, Preprocess, is_images, load_data
from auditor.errors import ConventionError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.calibration import Calibration
from auditor.model.generator import Generator
from auditor.model.signature import CHANNEL_LAYOUTS
from auditor.preprocessing import PRESETS, PreprocessParams, channel_axis

PIXELS = (0.0, 255.0)  # the values of the user's pixel space, which a contract maps to the model's
PIXEL_SLACK = 0.5  # a generator's rounding at the edges of the pixel range
GENERATED_SAMPLE = 64  # prior draws a generator's output range is judged on


class PreprocessedBlackBox(BlackBox):
    """`blackbox` with `params`' tensor part applied before every call; every other attribute is the BlackBox's.

    A BlackBox wherever one is taken: its own predictions go through the contract, and every attribute
    it does not set is read from the wrapped BlackBox (queries, calls, the row cache and calibration are
    that BlackBox's own, on model tensors).
    """

    def __init__(self, blackbox: BlackBox, params: PreprocessParams) -> None:
        check_contract(blackbox, params)
        self.blackbox = blackbox
        self.params = params

    @classmethod
    def open_with(
        cls, path: str | os.PathLike[str], params: PreprocessParams, options: OpenOptions = OpenOptions()
    ) -> PreprocessedBlackBox:
        """Open a classifier under a contract (its `layout`, when set, decides the model's input layout)."""
        if params.layout is not None and options.layout is None:
            options = replace(options, layout=params.layout)
        return cls(BlackBox.open(path, options), params)

    def __getattr__(self, name: str) -> Any:
        if name in ("blackbox", "params"):  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.blackbox, name)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.blackbox.class_names

    @class_names.setter
    def class_names(self, names: tuple[str, ...]) -> None:
        self.blackbox.class_names = names

    def to_model(self, x: np.ndarray) -> np.ndarray:
        """Pixel rows -> the model's input tensors (shape checked and laid out as the model takes them)."""
        return self.params.to_tensor(self.blackbox.prepare(x), self.blackbox.layout)

    def predict(self, x: np.ndarray, cache: bool | int = True) -> np.ndarray:
        """Probabilities (n, K) float32 of pixel rows x (see `BlackBox.predict` for `cache`)."""
        return self.blackbox.predict(self.to_model(x), cache)

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """The score output as the model returns it for pixel rows x (see `BlackBox.predict_raw`)."""
        return self.blackbox.predict_raw(self.to_model(x))

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        """Argmax class indices of pixel rows x; NaN rows get -1."""
        return self.blackbox.predict_labels(self.to_model(x))

    def calibrate(self, x: np.ndarray | None = None) -> Calibration:
        return self.blackbox.calibrate(None if x is None else self.to_model(x))

    def contract(self) -> dict[str, Any]:
        """The contract in force: every field, and one line for people."""
        return contract_facts(self.params)


def contract_facts(params: PreprocessParams) -> dict[str, Any]:
    """A contract's fields and its one-line summary, JSON-ready (inspect, provenance)."""
    return {**params.to_dict(), "summary": params.describe()}


def contract_of(blackbox: BlackBox) -> dict[str, Any]:
    """The contract a classifier is called through (`none` for a plain BlackBox)."""
    if isinstance(blackbox, PreprocessedBlackBox):
        return blackbox.contract()
    return contract_facts(PRESETS["none"])


def check_contract(blackbox: BlackBox, params: PreprocessParams) -> None:
    """Refuse, in one line, a contract the model's input cannot take (channels, mean/std widths, dtype, layout)."""
    spec = blackbox.signature.input
    if params.layout is not None and params.layout != spec.layout:
        raise ConventionError(
            f"the preprocessing contract says layout {params.layout} but the model's input is read as {spec.layout}; "
            "open the model with that layout"
        )
    if params.dtype is not None and params.dtype != spec.dtype:
        raise ConventionError(
            f"the preprocessing contract casts to {params.dtype} but input '{spec.name}' takes {spec.dtype}"
        )
    axis = channel_axis(spec.layout, len(spec.sample_shape) + 1)
    if axis is None:
        if params.channels == "BGR" or len(params.mean) > 1 or len(params.std) > 1:
            raise ConventionError(
                f"the preprocessing contract sets per-channel values but input '{spec.name}' "
                f"{list(spec.sample_shape)} ({spec.layout}) has no channel axis"
            )
        return
    channels = spec.sample_shape[axis - 1]
    if params.channels == "BGR" and channels != 3:
        raise ConventionError(
            f"the preprocessing contract swaps RGB to BGR but input '{spec.name}' has {channels} channels"
        )
    for name in ("mean", "std"):
        width = len(getattr(params, name))
        if width not in (1, channels):
            raise ConventionError(
                f"the preprocessing contract's {name} has {width} values but input '{spec.name}' has {channels} channels"
            )


def fit_images(
    path: str | os.PathLike[str], data: Dataset, blackbox: BlackBox, params: PreprocessParams | None = None
) -> Dataset:
    """Image files read again in the model's channels (grey or RGB) and size when the first read does not fit.

    Without a contract, as the older form reads them (scaled to 0-1); under a contract that leaves the
    size open, at the model's size in pixel space; a contract that sets the size is left to decide.
    """
    if not is_images(path) or blackbox.layout not in CHANNEL_LAYOUTS:
        return data
    shape = blackbox.input_shape
    channels, height, width = shape if blackbox.layout == "NCHW" else (shape[2], shape[0], shape[1])
    if channels not in (1, 3) or data.x.shape[1:] == (channels, height, width):
        return data
    mode = "L" if channels == 1 else "RGB"
    if params is None:
        return load_data(path, Preprocess(size=(height, width), mode=mode))
    if params.output_size is not None:
        return data
    return load_data(path, replace(params, size=(height, width), mode=mode))


def check_generator_pixels(generator: Generator, params: PreprocessParams, seed: int = 0) -> None:
    """Refuse, in one line, a generator whose rows are not pixels when a contract rescales pixels for the model.

    Under a contract the generator's rows are the user's pixel space (0-255), as image files are; a
    generator of 0-1 images or of normalised tensors would reach the model rescaled twice. Judged on
    GENERATED_SAMPLE rows from the prior (`seed`): every value finite, within 0-255, and some above 1.
    """
    if all(v == 0 for v in params.mean) and all(v == 1 for v in params.std) and params.scale == 1.0:
        return  # values reach the model as they are: any range is the model's own
    rows = generator.generate(generator.sample_prior(GENERATED_SAMPLE, np.random.default_rng(seed)))
    finite = bool(np.isfinite(rows).all())
    low, high = (float(rows.min()), float(rows.max())) if finite else (float("nan"),) * 2
    if (
        finite
        and PIXELS[0] - PIXEL_SLACK <= low
        and high <= PIXELS[1] + PIXEL_SLACK
        and high > 1.0 + PIXEL_SLACK
    ):
        return
    seen = f"lie in [{low:.3f}, {high:.3f}]" if finite else "hold NaN or infinite values"
    raise ConventionError(
        f"the generator's rows {seen}, not 0-255 pixels, but the preprocessing contract ({params.describe()}) "
        "rescales pixels for the classifier; give a generator of 0-255 images, or no contract when the "
        "generator already gives the model's input values"
    )
