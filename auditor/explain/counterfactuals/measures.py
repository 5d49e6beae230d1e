"""What a counterfactual is measured by: validity, proximity, sparsity, realism, and the data's scale and box.

Rows are flattened samples (n, D). Scales and boxes come from reference data: per-feature median
absolute deviation and [min, max] for tables, one global range for images (pixels share units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from auditor.model.generator import Encoder, Generator

MAD_TO_STD = 1.4826  # MAD of a normal distribution times this is its standard deviation
CHANGE_TOLERANCE = 1e-3  # a feature counts as changed when it moved by more than this share of its range
LOG_FLOOR = 1e-30
TYPICAL_ROWS = 1000
CHUNK_ROWS = 512


def flat(x: np.ndarray) -> np.ndarray:
    """(n, ...) -> (n, D) float64."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def feature_scale(reference: np.ndarray, per_feature: bool = True) -> np.ndarray:
    """Scale of each feature: MAD·1.4826 (else std, else 1) per feature, or one global range for images."""
    ref = flat(reference)
    if not per_feature:
        span = float(np.nanmax(ref) - np.nanmin(ref))
        return np.full(ref.shape[1], span if span > 0 else 1.0)
    median = np.nanmedian(ref, axis=0)
    scale = MAD_TO_STD * np.nanmedian(np.abs(ref - median), axis=0)
    std = np.nanstd(ref, axis=0)
    scale = np.where(scale > 0, scale, std)
    return np.where(scale > 0, scale, 1.0)


def data_box(reference: np.ndarray, per_feature: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """[min, max] of the reference per feature, or its global [min, max] broadcast to every feature."""
    ref = flat(reference)
    if per_feature:
        return np.nanmin(ref, axis=0), np.nanmax(ref, axis=0)
    return np.full(ref.shape[1], float(np.nanmin(ref))), np.full(ref.shape[1], float(np.nanmax(ref)))


def margin(probs: np.ndarray, target: np.ndarray | int, source: np.ndarray | int) -> np.ndarray:
    """log p_t − max_{j≠t} log p_j per row; a target of −1 means "any class but the source"."""
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), LOG_FLOOR))
    rows = np.arange(len(logp))
    target = np.broadcast_to(np.asarray(target), (len(logp),))
    source = np.broadcast_to(np.asarray(source), (len(logp),))
    anyclass = target < 0
    pivot = np.where(anyclass, source, target)
    own = logp[rows, pivot]
    others = logp.copy()
    others[rows, pivot] = -np.inf
    best_other = others.max(axis=1)
    return np.where(anyclass, best_other - own, own - best_other)


def reached(probs: np.ndarray, target: np.ndarray | int, source: np.ndarray | int) -> np.ndarray:
    """The class each row aims at: the target, or for "any" (−1) the best class but the source."""
    probs = np.asarray(probs, dtype=np.float64)
    target = np.broadcast_to(np.asarray(target), (len(probs),))
    source = np.broadcast_to(np.asarray(source), (len(probs),))
    others = np.where(np.isfinite(probs), probs, -np.inf)
    others[np.arange(len(probs)), source] = -np.inf
    return np.where(target < 0, others.argmax(axis=1), target)


def validity(
    probs: np.ndarray, target: np.ndarray | int, source: np.ndarray | int, tau: float = 0.0
) -> np.ndarray:
    """True where the model's top class is the target (any class but the source for −1) and p_t ≥ tau."""
    probs = np.asarray(probs, dtype=np.float64)
    finite = np.isfinite(probs).all(axis=1)
    aim = reached(probs, target, source)
    p_aim = probs[np.arange(len(probs)), aim]
    return finite & (margin(probs, target, source) > 0) & (p_aim >= tau)


def l1_distance(x: np.ndarray, xc: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Σ|x' − x| (divided by `scale` per feature when given) per row."""
    delta = np.abs(flat(xc) - flat(x))
    return (delta if scale is None else delta / scale).sum(axis=1)


def l2_distance(x: np.ndarray, xc: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """||x' − x||₂ (on features divided by `scale` when given) per row."""
    delta = flat(xc) - flat(x)
    return np.sqrt(((delta if scale is None else delta / scale) ** 2).sum(axis=1))


def mean_square_scaled(rows: np.ndarray, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """mean(((rows − x)/scale)²) per row, in float64 with one working array (rows may be float32: the
    subtraction upcasts, so the figures equal those of float64 rows)."""
    delta = np.subtract(rows, x, dtype=np.float64)
    delta /= scale
    np.square(delta, out=delta)
    return delta.mean(axis=1)


def changed_features(
    x: np.ndarray, xc: np.ndarray, tolerance: np.ndarray | float = CHANGE_TOLERANCE
) -> np.ndarray:
    """How many features moved by more than `tolerance` (per feature or one value), per row."""
    return (np.abs(flat(xc) - flat(x)) > tolerance).sum(axis=1)


def change_tolerance(box: tuple[np.ndarray, np.ndarray], scale: np.ndarray) -> np.ndarray:
    """1e-3 of each feature's box width; the feature's scale where the box is unbounded or flat."""
    width = box[1] - box[0]
    return CHANGE_TOLERANCE * np.where(np.isfinite(width) & (width > 0), width, scale)


def _squared_norms(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a)


def nearest_distances(rows: np.ndarray, reference: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """Euclidean distance from each row to its nearest reference row (chunked; optional self-exclusion)."""
    ref_norms = _squared_norms(reference)
    out = np.empty(len(rows))
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        d2 = _squared_norms(chunk)[:, None] + ref_norms[None, :] - 2.0 * chunk @ reference.T
        if exclude_self:
            d2[np.arange(len(chunk)), np.arange(start, start + len(chunk))] = np.inf
        out[start : start + len(chunk)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


class NearestReference:
    """Realism: distance to the nearest reference row over the typical nearest-neighbour distance in the data.

    1 means "as close to the data as a typical data row is to its neighbour"; larger is less realistic.
    The typical distance is the median leave-one-out distance over up to 1000 evenly spaced rows.
    """

    def __init__(self, reference: np.ndarray, scale: np.ndarray | None = None) -> None:
        ref = flat(reference)
        self.scale = np.ones(ref.shape[1]) if scale is None else np.asarray(scale, dtype=np.float64)
        self.reference = ref / self.scale
        if len(ref) < 2:
            self.typical = 1.0
            return
        picks = np.unique(np.linspace(0, len(ref) - 1, min(len(ref), TYPICAL_ROWS)).astype(int))
        ordered = np.concatenate([self.reference[picks], np.delete(self.reference, picks, axis=0)])
        nn = nearest_distances(ordered[: len(picks)], ordered, exclude_self=True)
        positive = nn[nn > 0]
        self.typical = float(np.median(positive)) if positive.size else 1.0

    def realism(self, rows: np.ndarray) -> np.ndarray:
        """Nearest-reference distance of each row divided by the typical distance (lower is more realistic)."""
        return nearest_distances(flat(rows) / self.scale, self.reference) / self.typical


def reconstruction_error(
    generator: Generator, encoder: Encoder, rows: np.ndarray, scale: np.ndarray | None = None
) -> np.ndarray:
    """RMS of (x − G(E(x))) per row, on features divided by `scale` when given (rows in the generator's layout)."""
    rows = np.asarray(rows, dtype=np.float32)
    back = generator.generate(encoder.encode(rows))
    delta = flat(back) - flat(rows)
    if scale is not None:
        delta = delta / scale
    return np.sqrt((delta**2).mean(axis=1))
