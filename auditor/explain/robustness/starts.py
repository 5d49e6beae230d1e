"""Where a label-only search starts: the nearest reference rows the model labels differently, else random rows."""

from __future__ import annotations

import numpy as np

from auditor.explain.robustness.box import Box, norms
from auditor.explain.robustness.oracle import Oracle

NOISE_ROWS = 16  # uniform rows in the box tried per input that has no differently-labelled reference row


def starting_points(
    oracle: Oracle,
    box: Box,
    x0: np.ndarray,
    reference: np.ndarray,
    reference_labels: np.ndarray,
    count: int,
    rng: np.random.Generator,
    norm: str,
    tried: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flipped points to walk from: (owners, rows in the box, their labels); inputs with none get none.

    `tried[i]` (in place) becomes the largest distance (`norm`) of a queried row that kept input i's label."""
    owners, picks = unlike_rows(x0, oracle.sources, reference, reference_labels, count)
    targets = box.project(reference[picks].astype(np.float32), x0, owners)
    labels = reference_labels[picks]
    changed = np.flatnonzero((targets != reference[picks]).any(axis=1))
    if changed.size:  # projection moved these rows (box, integers, immutables): ask their label again
        _, labels[changed] = oracle.query(targets[changed], owners[changed])
    keep = (labels >= 0) & (labels != oracle.sources[owners])
    owners, targets, labels = owners[keep], targets[keep], labels[keep]
    lacking = np.setdiff1d(np.arange(len(x0)), owners)
    if lacking.size:
        extra_owners, extra, extra_labels = noise_rows(oracle, box, x0, lacking, rng, norm, tried)
        first = np.r_[True, np.diff(extra_owners) != 0] if len(extra_owners) else np.empty(0, dtype=bool)
        owners = np.concatenate([owners, extra_owners[first]])
        targets = np.concatenate([targets, extra[first]])
        labels = np.concatenate([labels, extra_labels[first]])
    return owners, targets, labels


def unlike_rows(
    x0: np.ndarray, sources: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per input, the nearest (L2) reference row of each other label, the `count` nearest of those kept (one
    per label, so that the walks start toward different classes): (owners, reference indices)."""
    ref = reference.astype(np.float64)
    ref_sq = np.einsum("ij,ij->i", ref, ref)
    classes = np.unique(reference_labels[reference_labels >= 0])
    members = [np.flatnonzero(reference_labels == k) for k in classes]
    take = min(count, len(classes))
    owners, picks = [], []
    chunk = max(1, 2**24 // max(len(ref), 1))
    for start in range(0, len(x0), chunk):
        rows = x0[start : start + chunk].astype(np.float64)
        d2 = ref_sq[None, :] - 2.0 * rows @ ref.T
        nearest = np.zeros((len(rows), len(classes)), dtype=np.int64)
        for j, columns in enumerate(members):
            nearest[:, j] = columns[d2[:, columns].argmin(axis=1)]
        best = np.take_along_axis(d2, nearest, axis=1)
        best[sources[start : start + chunk, None] == classes[None, :]] = np.inf
        order = np.argsort(best, axis=1, kind="stable")[:, :take]
        ok = np.isfinite(np.take_along_axis(best, order, axis=1))
        owners.append(np.repeat(np.arange(start, start + len(rows)), take)[ok.reshape(-1)])
        picks.append(np.take_along_axis(nearest, order, axis=1)[ok])
    return np.concatenate(owners), np.concatenate(picks)


def noise_rows(
    oracle: Oracle,
    box: Box,
    x0: np.ndarray,
    inputs: np.ndarray,
    rng: np.random.Generator,
    norm: str,
    tried: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For inputs without a start: uniform rows in the box, one call; (owners, rows, labels) of those labelled
    differently. `tried` (in place): each input's largest distance of a row that kept its label."""
    allowed = np.minimum(NOISE_ROWS, np.maximum(oracle.remaining()[inputs] - 1, 0))
    owners = np.repeat(inputs, allowed)
    lower, upper = (
        np.where(np.isfinite(box.lower), box.lower, -1.0),
        np.where(np.isfinite(box.upper), box.upper, 1.0),
    )
    rows = box.project(
        rng.uniform(lower, upper, size=(len(owners), x0.shape[1])).astype(np.float32), x0, owners
    )
    _, labels = oracle.query(rows, owners)
    flipped = (labels >= 0) & (labels != oracle.sources[owners])
    kept = ~flipped & (labels >= 0)
    np.maximum.at(tried, owners[kept], norms(rows[kept] - x0[owners[kept]], norm))
    return owners[flipped], rows[flipped], labels[flipped]
