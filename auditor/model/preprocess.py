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

from auditor.errors import ConventionError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.calibration import Calibration
from auditor.preprocessing import PreprocessParams, channel_axis


class PreprocessedBlackBox:
    """`blackbox` with `params`' tensor part applied before every call; every other attribute is the BlackBox's.

    Queries, calls, the row cache and calibration are the wrapped BlackBox's own (on model tensors).
    """

    def __init__(self, blackbox: BlackBox, params: PreprocessParams) -> None:
        check_contract(blackbox, params)
        self.blackbox = blackbox
        self.params = params

    @classmethod
    def open(
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

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        """Argmax class indices of pixel rows x; NaN rows get -1."""
        return self.blackbox.predict_labels(self.to_model(x))

    def calibrate(self, x: np.ndarray | None = None) -> Calibration:
        return self.blackbox.calibrate(None if x is None else self.to_model(x))

    def describe(self) -> dict[str, Any]:
        """The contract in force: every field, and one line for people."""
        return {**self.params.to_dict(), "summary": self.params.describe()}


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
