"""Baselines: what a feature becomes when it is "off" (zero, mean of reference data, blur, noise, a constant,
or any array such as a counterfactual); for a batch, one array shared by all inputs or one per input."""

from __future__ import annotations

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.attribution.core import Features, rng_of

BASELINES = ("zero", "mean", "blur", "noise")
Baseline = str | float | int | np.ndarray


def resolve_baseline(
    baseline: Baseline,
    x: np.ndarray,
    view: Features,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """The baseline as an array of x's shape (model layout); `rng` (generator or seed) is used by 'noise' only."""
    if isinstance(baseline, np.ndarray):
        return _array(baseline, x)
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return np.full(x.shape, float(baseline))
    if baseline == "zero":
        return np.zeros(x.shape)
    if baseline == "mean":
        if reference is None:
            raise ArgumentError(
                "baseline 'mean' needs reference data (rows of the training distribution); pass reference"
            )
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim < 2 or ref[0].size != x.size:
            raise DataError(
                f"reference rows of shape {list(ref.shape[1:])} do not match the input {list(x.shape)}"
            )
        return _array(ref.mean(axis=0), x)
    if baseline == "blur":
        if not view.image:
            raise ArgumentError(
                "baseline 'blur' needs an image input; use zero, mean or a constant for tabular data"
            )
        return blur(x, view)
    if baseline == "noise":
        if rng is None:
            raise ArgumentError("baseline 'noise' needs a seeded random generator")
        lo, hi = value_range(x, reference)
        return rng_of(rng).uniform(lo, hi, x.shape)
    raise ArgumentError(f"unknown baseline '{baseline}'; use {', '.join(BASELINES)}, a number or an array")


def resolve_baselines(
    baseline: Baseline,
    xs: np.ndarray,
    view: Features,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Baselines (N, *input shape) for inputs xs: an array with a leading axis of N (or 1) gives one per
    input (Captum's [N, F] / [1, F]); anything else is resolved per input ('noise' draws in input order)."""
    if (
        isinstance(baseline, np.ndarray)
        and len(xs) > 1
        and baseline.ndim == xs.ndim
        and len(baseline) in (1, len(xs))
    ):
        rows = np.broadcast_to(baseline, (len(xs), *baseline.shape[1:]))
        try:
            return np.stack([_array(b, x) for b, x in zip(rows, xs)])
        except DataError:
            pass  # not one per input: a baseline shared by all of them
    if isinstance(baseline, str) and baseline == "noise" and rng is not None:
        rng = rng_of(rng)  # one generator, so every input draws its own noise
    return np.stack([resolve_baseline(baseline, x, view, reference, rng) for x in xs])


def parse_baseline(text: str) -> Baseline:
    """A baseline given as text: a name, a number, or a .npy file."""
    if text in BASELINES:
        return text
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not np.isfinite(value):
            raise ArgumentError(f"baseline '{text}' is not a finite number")
        return value
    if text.endswith(".npy"):
        try:
            array = np.load(text, allow_pickle=False).astype(np.float64)
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"{text}: cannot read the baseline array ({exc})") from None
        if not np.isfinite(array).all():
            raise DataError(f"{text}: the baseline array holds NaN or Inf values")
        return array
    raise ArgumentError(f"unknown baseline '{text}'; use {', '.join(BASELINES)}, a number or a .npy file")


def describe_baseline(baseline: Baseline) -> str | float:
    return "array" if isinstance(baseline, np.ndarray) else baseline


def value_range(x: np.ndarray, reference: np.ndarray | None) -> tuple[float, float]:
    values = x if reference is None else np.asarray(reference)
    lo, hi = float(np.min(values)), float(np.max(values))
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def blur(x: np.ndarray, view: Features, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur over the two spatial axes (reflect padding); sigma defaults to 1/8 of the shorter side."""
    axes = [i for i in range(x.ndim) if i != view.channel_axis]
    sigma = sigma or max(1.0, min(x.shape[a] for a in axes) / 8)
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    out = x.astype(np.float64)
    for axis in axes:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if x.shape[axis] > radius else "edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, len(taps), axis=axis)
        out = windows @ taps
    return out


def _array(baseline: np.ndarray, x: np.ndarray) -> np.ndarray:
    b = np.asarray(baseline, dtype=np.float64)
    if b.shape == x.shape:
        return b
    if b.ndim == x.ndim == 3 and np.moveaxis(b, -1, 0).shape == x.shape:
        return np.moveaxis(b, -1, 0)
    if b.ndim == x.ndim == 3 and np.moveaxis(b, 0, -1).shape == x.shape:
        return np.moveaxis(b, 0, -1)
    if b.size == x.size:
        return b.reshape(x.shape)
    try:
        return np.broadcast_to(b, x.shape).copy()
    except ValueError:
        raise DataError(
            f"a baseline of shape {list(b.shape)} does not fit the input {list(x.shape)}"
        ) from None
