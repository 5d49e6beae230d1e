"""How an input splits into features: windows and strides (occlusion, LIME's grid), group ids given by the
caller (feature ablation, LIME, KernelSHAP), or k-means superpixels over colour and position (SLIC's idea in
plain numpy, so no optional dependency is needed). Tabular rows: one feature each."""

from __future__ import annotations

import numpy as np

from auditor.errors import ArgumentError
from auditor.explain.attribution.core import Features

FEATURES = ("grid", "superpixels")
KMEANS_ROUNDS = 10


def default_window(view: Features) -> tuple[int, ...]:
    """A seventh of the shorter image side (4 on 28x28, as in the anchors); one value for other inputs."""
    if view.image:
        side = max(1, int(np.ceil(min(view.map_shape) / 7)))
        return (side, side)
    return (1,) * len(view.map_shape)


def as_window(
    value: int | tuple[int, ...] | None, view: Features, name: str = "window", bounded: bool = True
) -> tuple[int, ...]:
    """A window (or stride) given as one int or one int per map axis, checked against the map's shape."""
    shape = view.map_shape
    if value is None:
        return default_window(view)
    sizes = (value,) * len(shape) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(sizes) != len(shape) or min(sizes) < 1:
        raise ArgumentError(
            f"{name} {list(sizes)} does not fit a map of shape {list(shape)}; give positive sizes"
        )
    if bounded and any(s > n for s, n in zip(sizes, shape)):
        raise ArgumentError(f"{name} {list(sizes)} is larger than the map {list(shape)}")
    return sizes


def window_space(view: Features, window: int | tuple[int, ...] | None) -> Features:
    """The features a window slides over: the map's, or every input value when the window has one entry per
    input dimension (window=(1, 4, 4) on an NCHW image: channels apart)."""
    elements = view.elements()
    if isinstance(window, int) or window is None or elements is view:
        return view
    return elements if len(tuple(window)) == len(view.input_shape) else view


def as_stride(
    stride: int | tuple[int, ...] | None, sizes: tuple[int, ...], view: Features
) -> tuple[int, ...]:
    """The stride per axis (default: half the window, at least 1). Captum's rule: a stride larger than the
    window leaves cells no window covers, so it is refused unless the window spans the whole axis."""
    steps = as_window(
        stride if stride is not None else tuple(max(1, s // 2) for s in sizes), view, "stride", bounded=False
    )
    for step, size, length in zip(steps, sizes, view.map_shape):
        if step > size and size < length:
            raise ArgumentError(
                f"stride {list(steps)} is larger than the window {list(sizes)}: cells between windows would "
                "never be occluded; use a stride of at most the window"
            )
    return steps


def group_labels(groups: np.ndarray, view: Features, n: int) -> tuple[Features, list[np.ndarray]]:
    """Group ids -> (the features they cover, one flat array of ids per input).

    Ids are integers or booleans, any values, repeated and not adjacent as needed. The shape is the map's
    (image positions, all channels together) or the input's (every value), shared by all n inputs or with
    a leading axis of one mask per input; a flat array of the right size is read in the same order.
    """
    ids = np.asarray(groups)
    if ids.dtype.kind == "f" and np.isfinite(ids).all() and (ids == np.round(ids)).all():
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "biu":
        raise ArgumentError(f"groups must hold integer or boolean group ids, not {ids.dtype} values")
    ids = ids.astype(np.int64)
    spaces = [view] if view.elements() is view else [view, view.elements()]
    for space in spaces:
        if ids.shape == space.map_shape:
            return space, [ids.reshape(-1)] * n
        if ids.shape[1:] == space.map_shape and len(ids) in (1, n):
            return space, [row.reshape(-1) for row in np.broadcast_to(ids, (n, *space.map_shape))]
    for space in spaces:
        if ids.size == space.size:
            return space, [ids.reshape(-1)] * n
        if n > 1 and ids.size == n * space.size:
            return space, list(ids.reshape(n, -1))
    inputs = f" (or [{n}, ...]: one per input)" if n > 1 else ""
    raise ArgumentError(
        f"groups of shape {list(ids.shape)} fit neither the map {list(view.map_shape)} nor the input "
        f"{list(view.input_shape)}{inputs}"
    )


def grid_segments(view: Features, window: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Labels (F,) of non-overlapping patches of `window` cells (the last patch on each axis may be smaller)."""
    sizes = as_window(window, view)
    shape = view.map_shape
    cells = [np.arange(n) // s for n, s in zip(shape, sizes)]
    counts = [int(c[-1]) + 1 for c in cells]
    labels = np.zeros(shape, dtype=np.int64)
    for axis, c in enumerate(cells):
        stride = int(np.prod(counts[axis + 1 :]))
        labels += (c * stride).reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return labels.reshape(-1)


def grid_cells(view: Features, window: int | tuple[int, ...] | None = None) -> list[np.ndarray]:
    """Cells per patch along each map axis (the `grid_segments` patches; the last one may be smaller)."""
    cells = []
    for n, s in zip(view.map_shape, as_window(window, view)):
        count = -(-n // s)
        cells.append(np.array([s] * (count - 1) + [n - s * (count - 1)]))
    return cells


def expand_grid(masks: np.ndarray, cells: list[np.ndarray]) -> np.ndarray:
    """Masks (m, S) over grid patches -> masks (m, F) over map cells, C-ordered: masks[:, grid_segments(...)].

    np.repeat along each axis costs half of the gather and gives C order (the gather gives Fortran order).
    """
    out = masks.reshape(len(masks), *(len(c) for c in cells))
    for axis in reversed(range(len(cells))):  # the last axis first, while the array is smallest
        c = cells[axis]
        out = np.repeat(
            out, int(c[0]) if c.min() == c.max() else c, axis=axis + 1
        )  # a scalar count: 2x faster
    return out.reshape(len(masks), -1)


def superpixels(
    x: np.ndarray, view: Features, segments: int, rng: np.random.Generator, compactness: float = 0.3
) -> np.ndarray:
    """Labels (F,) from k-means over (colour, position): compact regions that follow edges, SLIC-style."""
    if not view.image:
        raise ArgumentError("superpixels need an image input; use features='grid' for tabular data")
    h, w = view.map_shape
    segments = int(min(max(2, segments), h * w))
    colour = np.moveaxis(x, view.channel_axis, -1) if view.channel_axis is not None else x[..., None]
    colour = colour.reshape(h * w, -1).astype(np.float64)
    spread = float(colour.max() - colour.min()) or 1.0
    interval = np.sqrt(h * w / segments)
    rows, cols = np.divmod(np.arange(h * w), w)
    points = np.hstack([colour / spread, compactness * np.stack([rows, cols], axis=1) / interval])
    centres = points[rng.choice(h * w, size=segments, replace=False)]
    labels = np.zeros(h * w, dtype=np.int64)
    for _ in range(KMEANS_ROUNDS):
        distances = (points**2).sum(1)[:, None] - 2 * points @ centres.T + (centres**2).sum(1)[None, :]
        labels = distances.argmin(axis=1)
        counts = np.bincount(labels, minlength=segments)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, points)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)
