"""Occlusion (Zeiler & Fergus 2014; Captum's `Occlusion`): slide a window over the input, set it to the
baseline, and give every cell the mean drop of the score over the windows that cover it.

Windows are placed as Captum places them: they start at 0 and step by the stride, and the last one is cut
at the edge (3 cells, window 2, stride 2: {0, 1} and {2}). It is feature ablation with a sliding-window
mask, so it runs on the shared `ablate_batch` core; all windows of all inputs (plus each input and its
baseline) go to the model as one batched stream of rows.
"""

from __future__ import annotations

import functools

import numpy as np

from auditor.explain.attribution.baselines import Baseline, describe_baseline, resolve_baselines
from auditor.explain.attribution.core import (
    Attribution,
    Attributions,
    Features,
    Model,
    Perturbations,
    Score,
    Tally,
    Target,
    ablate_batch,
    batch_result,
    features_of,
    inputs_of,
    resolve_targets,
    score_kind,
)
from auditor.explain.attribution.features import as_stride, as_window, window_space

#: Occlusion masks up to this size are kept between calls (they depend only on the window geometry).
CACHED_MASK_BYTES = 4 * 2**20


def window_masks(length: int, size: int, stride: int) -> np.ndarray:
    """Masks (n, length) of Captum's windows along one axis: starts 0, stride, 2 stride, ... until a window
    reaches the edge; the last one is cut there."""
    count = -(-(length - size) // stride) + 1
    begin = np.arange(count)[:, None] * stride
    cells = np.arange(length)
    return (cells >= begin) & (cells < begin + size)


def window_count(
    view: Features, window: int | tuple[int, ...] | None, stride: int | tuple[int, ...] | None
) -> int:
    """How many windows `occlusion` slides over a model of features `view` with this window and stride."""
    space = window_space(view, window)
    sizes = as_window(window, space)
    steps = as_stride(stride, sizes, space)
    return int(np.prod([len(window_masks(n, s, t)) for n, s, t in zip(space.map_shape, sizes, steps)]))


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
    target: Target = None,
    baseline: Baseline = "zero",
    window: int | tuple[int, ...] | None = None,
    stride: int | tuple[int, ...] | None = None,
    score: str | None = None,
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Attribution | Attributions:
    """Occlusion map of `target` (default: the predicted class).

    `window`/`stride`: one size, one per map axis (images: windows over all channels), or one per input
    axis (window=(1, 4, 4) on NCHW: channels apart, a map of the input's shape). The stride defaults to
    half the window (Captum's is 1) and may not exceed it. x of shape [N, *input] is a batch: one
    Attributions with a map per input; a baseline of shape [N, ...] or [1, ...] gives one per input.
    """
    kind = score_kind(score, "probability", contrast)
    tally = Tally(model, raw=kind == "raw")
    xs, batched = inputs_of(model, x)
    model_view = features_of(model)
    view = window_space(model_view, window)
    bases = resolve_baselines(baseline, xs, model_view, reference, rng)
    sizes = as_window(window, view)
    steps = as_stride(stride, sizes, view)
    axes = [window_masks(n, s, t) for n, s, t in zip(view.map_shape, sizes, steps)]
    counts = tuple(len(a) for a in axes)
    n_windows = int(np.prod(counts))

    # small mask sets are built once for every input of this geometry
    small = (n_windows + 2) * view.size <= CACHED_MASK_BYTES
    every = all_window_keep(view.map_shape, sizes, steps) if small else None

    def keep(start: int, stop: int) -> np.ndarray:
        return every[start:stop] if every is not None else window_keep(axes, counts, start, stop)

    outputs = ablate_batch(
        tally, [Perturbations(x, b, keep, n_windows + 2) for x, b in zip(xs, bases)], view=view
    )
    targets = resolve_targets([out[0] for out in outputs], target, contrast)
    cover = np.ones(())
    for masks in axes:
        cover = np.multiply.outer(cover, masks.sum(axis=0))
    items = []
    for out, chosen in zip(outputs, targets):
        scorer = Score(kind, chosen, contrast)
        values = scorer(out)
        total = (values[0] - values[2:]).reshape(counts)
        for masks in axes:
            total = np.tensordot(total, masks.astype(np.float64), axes=([0], [0]))
        heat = total / cover
        items.append(
            Attribution(
                map=heat,
                method="occlusion",
                target=chosen,
                score=kind,
                contrast=contrast,
                settings={
                    "window": list(sizes),
                    "stride": list(steps),
                    "windows": n_windows,
                    "baseline": describe_baseline(baseline),
                    "score": kind,
                    "groups": None,  # windows, not caller-given group ids
                },
                queries=n_windows + 2,
                calls=tally.calls,
                seconds=tally.seconds,
                score_input=float(values[0]),
                score_baseline=float(values[1]),
                total=float(heat.sum()),
            )
        )
    return batch_result(items, tally, batched)
