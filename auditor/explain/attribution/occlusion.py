"""Occlusion (Zeiler & Fergus 2014; Captum's `Occlusion`): slide a window over the input, set it to the
baseline, and give every cell the mean drop of the score over the windows that cover it.

It is feature ablation with a sliding-window mask, so it runs on the shared `ablate` core; all windows
(plus the input and the baseline themselves) go to the model as one batched set of rows.
"""

from __future__ import annotations

import functools

import numpy as np

from auditor.explain.attribution.baselines import Baseline, describe_baseline, resolve_baseline
from auditor.explain.attribution.core import (
    Attribution,
    Model,
    Score,
    Tally,
    ablate,
    features_of,
    resolve_target,
    sample_of,
)
from auditor.explain.attribution.features import as_window

#: Occlusion masks up to this size are kept between calls (they depend only on the window geometry).
CACHED_MASK_BYTES = 4 * 2**20


def window_masks(length: int, size: int, stride: int) -> np.ndarray:
    """Masks (n, length) of the windows along one axis; a last window is added so every cell is covered."""
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    cells = np.arange(length)
    begin = np.array(starts)[:, None]
    return (cells >= begin) & (cells < begin + size)


def window_keep(axes: list[np.ndarray], counts: tuple[int, ...], start: int, stop: int) -> np.ndarray:
    """Keep masks (stop - start, F): row 0 keeps x, row 1 is all baseline, row 2 + i hides window i."""
    ids = np.arange(start, stop) - 2
    position = np.unravel_index(np.maximum(ids, 0), counts)
    hidden = np.ones((len(ids),) + (1,) * len(axes), dtype=bool)
    for axis, (masks, where) in enumerate(zip(axes, position)):
        shape = [len(ids)] + [1] * len(axes)
        shape[axis + 1] = masks.shape[1]
        hidden = hidden & masks[where].reshape(shape)
    hidden[ids == -2] = False
    hidden[ids == -1] = True
    return ~hidden.reshape(len(ids), -1)


@functools.lru_cache(maxsize=8)
def all_window_keep(map_shape: tuple[int, ...], sizes: tuple[int, ...], steps: tuple[int, ...]) -> np.ndarray:
    """Every keep mask of one window geometry, read-only: built once, not once per explained input."""
    axes = [window_masks(n, s, t) for n, s, t in zip(map_shape, sizes, steps)]
    counts = tuple(len(a) for a in axes)
    masks = window_keep(axes, counts, 0, int(np.prod(counts)) + 2)
    masks.flags.writeable = False
    return masks


def occlusion(
    model: Model,
    x: np.ndarray,
    *,
    target: int | None = None,
    baseline: Baseline = "zero",
    window: int | tuple[int, ...] | None = None,
    stride: int | tuple[int, ...] | None = None,
    score: str | None = None,
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Attribution:
    """Occlusion map of `target` (default: the predicted class); images: windows over all channels, tables: one feature."""
    tally = Tally(model)
    view = features_of(model)
    x = sample_of(model, x)
    base = resolve_baseline(baseline, x, view, reference, rng)
    sizes = as_window(window, view)
    steps = as_window(stride if stride is not None else tuple(max(1, s // 2) for s in sizes), view, "stride")
    axes = [window_masks(n, s, t) for n, s, t in zip(view.map_shape, sizes, steps)]
    counts = tuple(len(a) for a in axes)
    n_windows = int(np.prod(counts))

    small = (
        n_windows + 2
    ) * view.size <= CACHED_MASK_BYTES  # then built once for every input of this geometry
    every = all_window_keep(view.map_shape, sizes, steps) if small else None

    def keep(start: int, stop: int) -> np.ndarray:
        return every[start:stop] if every is not None else window_keep(axes, counts, start, stop)

    probs = ablate(tally, x, base, keep, n_windows + 2)
    target = resolve_target(probs[0], target, contrast)
    scorer = Score(score or ("log_ratio" if contrast is not None else "probability"), target, contrast)
    values = scorer(probs)
    drops = (values[0] - values[2:]).reshape(counts)
    total, cover = drops, np.ones(())
    for masks in axes:
        total = np.tensordot(total, masks.astype(np.float64), axes=([0], [0]))
        cover = np.multiply.outer(cover, masks.sum(axis=0))
    heat = total / cover
    return Attribution(
        map=heat,
        method="occlusion",
        target=target,
        score=scorer.kind,
        contrast=contrast,
        settings={
            "window": list(sizes),
            "stride": list(steps),
            "windows": n_windows,
            "baseline": describe_baseline(baseline),
        },
        queries=tally.rows,
        calls=tally.calls,
        seconds=tally.seconds,
        score_input=float(values[0]),
        score_baseline=float(values[1]),
        total=float(heat.sum()),
    )
