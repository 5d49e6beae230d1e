"""Shared core of the perturbation attributions: the result types, scores, the feature view of an input,
and the batched evaluation that every method (and every metric) sends its perturbed rows through.

Captum's habit, without its default of one perturbation per call: occlusion, feature ablation, LIME and
the deletion curves are all "keep x here, take the baseline there", so they share `ablate`; a batch of
inputs is one stream of rows (`ablate_batch`), cut into as few model calls as memory allows.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox

#: Scalars an attribution can explain: the model's raw output column, or read from the class probabilities.
SCORES = ("raw", "probability", "log_probability", "log_odds", "log_ratio")
#: Targets: one class for every input, one per input, or None (each input's predicted class).
Target = int | Sequence[int] | None
#: Bytes of perturbed rows built at once; predict then cuts them into the model's batches.
CHUNK_BYTES = 64 * 2**20
DEFAULT_BATCH = 256
TINY = float(np.finfo(np.float32).tiny)


class Model(Protocol):
    """What the attributions need of a classifier: a BlackBox, or anything shaped like one."""

    @property
    def input_shape(self) -> tuple[int, ...]: ...

    @property
    def layout(self) -> str: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def score_kind(name: str | None, default: str, contrast: int | None = None) -> str:
    """The score's name in the library's spelling ('log-odds' -> 'log_odds'); None: log_ratio with a
    contrast class, else `default`."""
    if name is None:
        return "log_ratio" if contrast is not None else default
    kind = str(name).replace("-", "_")
    if kind not in SCORES:
        raise ArgumentError(f"unknown score '{name}'; use one of {', '.join(SCORES)}")
    return kind


@dataclass(frozen=True)
class Score:
    """The scalar explained: the raw output column t, p_t, log p_t, log-odds of t, or
    log p_t - log p_contrast (one-vs-one)."""

    kind: str = "probability"
    target: int = 0
    contrast: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in SCORES:
            raise ArgumentError(f"unknown score '{self.kind}'; use one of {', '.join(SCORES)}")
        if (self.kind == "log_ratio") != (self.contrast is not None):
            raise ArgumentError(
                "score 'log_ratio' needs a contrast class, and a contrast class needs score 'log_ratio'"
            )
        if self.contrast is not None and self.contrast == self.target:
            raise ArgumentError(f"the contrast class must differ from the target ({self.target})")

    @property
    def raw(self) -> bool:
        """Whether it reads the model's raw output (`predict_raw`) rather than its probabilities."""
        return self.kind == "raw"

    def __call__(self, outputs: np.ndarray) -> np.ndarray:
        """The score of every row of model outputs (n, K): raw outputs for 'raw', else probabilities."""
        p = outputs.astype(np.float64)
        t = p[:, self.target]
        if self.kind in ("raw", "probability"):
            return t
        if self.kind == "log_probability":
            return np.log(np.maximum(t, TINY))
        if self.kind == "log_odds":
            others = np.delete(p, self.target, axis=1).sum(axis=1)
            return np.log(np.maximum(t, TINY)) - np.log(np.maximum(others, TINY))
        return np.log(np.maximum(t, TINY)) - np.log(np.maximum(p[:, self.contrast], TINY))


@dataclass(frozen=True)
class Features:
    """How one sample splits into features: image positions (all channels together) or single values."""

    input_shape: tuple[int, ...]
    layout: str

    @property
    def channel_axis(self) -> int | None:
        if self.layout == "NCHW" and len(self.input_shape) == 3:
            return 0
        if self.layout == "NHWC" and len(self.input_shape) == 3:
            return 2
        return None

    @property
    def map_shape(self) -> tuple[int, ...]:
        axis = self.channel_axis
        return (
            self.input_shape
            if axis is None
            else tuple(s for i, s in enumerate(self.input_shape) if i != axis)
        )

    @property
    def image(self) -> bool:
        return self.layout in ("NCHW", "NHWC", "HW") and len(self.map_shape) == 2

    @property
    def size(self) -> int:
        return int(np.prod(self.map_shape))

    @property
    def channels(self) -> int:
        axis = self.channel_axis
        return 1 if axis is None else self.input_shape[axis]

    def elements(self) -> Features:
        """The view in which every input value is its own feature (channels apart)."""
        return self if self.channel_axis is None else Features(self.input_shape, "tensor")

    def expand(self, keep: np.ndarray) -> np.ndarray:
        """Masks (m, F) over features -> an array that broadcasts against rows (m, *input_shape)."""
        m = len(keep)
        shape = list(self.input_shape)
        if self.channel_axis is not None:
            shape[self.channel_axis] = 1
        return keep.reshape(m, *shape)

    def to_map(self, values: np.ndarray) -> np.ndarray:
        """Per-element values (*input_shape) -> per-feature values (map shape), summed over channels."""
        axis = self.channel_axis
        return values if axis is None else values.sum(axis=axis)

    def index(self) -> np.ndarray:
        """Flat element indices (F, C): which input elements make up each feature."""
        flat = np.arange(int(np.prod(self.input_shape))).reshape(self.input_shape)
        axis = self.channel_axis
        if axis is not None:
            flat = np.moveaxis(flat, axis, -1)
        return flat.reshape(self.size, self.channels)


def features_of(model: Model) -> Features:
    return Features(tuple(int(s) for s in model.input_shape), str(model.layout))


@dataclass(frozen=True)
class Attribution:
    """One explanation: a map over the input's features and the figures that say how far to trust it."""

    map: np.ndarray
    method: str
    target: int
    score: str
    settings: dict[str, Any]
    queries: int  # rows the method asked the model for (a row cache may answer some without a call)
    calls: int  # ONNX Runtime runs it took (predict calls, for models that do not count them)
    seconds: float
    score_input: float
    score_baseline: float | None = None
    contrast: int | None = None
    total: float | None = None  # the attribution's total, to hold against score_input - score_baseline
    fidelity: float | None = None  # surrogate R² (weighted for LIME)
    stderr: np.ndarray | None = None  # Gaussian LIME: standard error of every map value
    gradient: np.ndarray | None = None  # Gaussian LIME: the gradient estimate in the input's shape
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.map.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (NaN becomes None)."""
        out: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "contrast": self.contrast,
            "score": self.score,
            "settings": {k: jsonable(v) for k, v in self.settings.items()},
            "queries": self.queries,
            "calls": self.calls,
            "seconds": self.seconds,
            "shape": list(self.shape),
            "map": jsonable(self.map),
            "score_input": jsonable(self.score_input),
            "score_baseline": jsonable(self.score_baseline),
            "total": jsonable(self.total),
            "fidelity": jsonable(self.fidelity),
        }
        if self.stderr is not None:
            out["stderr"] = jsonable(self.stderr)
        out.update({k: jsonable(v) for k, v in self.extra.items()})
        return out


@dataclass(frozen=True)
class Attributions:
    """The maps of a batch of inputs (Captum's [N, ...] convention), explained in one stream of model calls.

    Each item counts its own rows in `queries`; the inputs share calls, so its `calls` and `seconds` are
    those of the whole batch.
    """

    items: tuple[Attribution, ...]
    queries: int
    calls: int
    seconds: float

    @property
    def maps(self) -> np.ndarray:
        """Every input's map, stacked: (N, *map shape)."""
        return np.stack([a.map for a in self.items])

    @property
    def targets(self) -> np.ndarray:
        return np.array([a.target for a in self.items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Attribution:
        return self.items[index]

    def __iter__(self) -> Iterator[Attribution]:
        return iter(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "calls": self.calls,
            "seconds": self.seconds,
            "items": [a.to_dict() for a in self.items],
        }


class Tally:
    """Rows and calls one run spends, and its wall time; reads the model's own counters when it has them.

    raw=True reads the model's raw output (`predict_raw`) instead of its probabilities.
    """

    def __init__(self, model: Model, raw: bool = False) -> None:
        if raw and not callable(getattr(model, "predict_raw", None)):
            raise ArgumentError(
                "score 'raw' needs a model with predict_raw (a BlackBox); use a probability score"
            )
        self.model = model
        self.raw = raw
        self.rows = 0
        self.predicts = 0
        self.calls0 = getattr(model, "calls", None)
        self.started = time.perf_counter()

    def predict(self, rows: np.ndarray, cached: int | None = None) -> np.ndarray:
        """The model's outputs; with `cached`, a BlackBox's row cache sees only the first `cached` rows."""
        if self.raw:
            outputs = np.asarray(self.model.predict_raw(rows))  # type: ignore[attr-defined]
        elif cached is not None and isinstance(self.model, BlackBox):
            outputs = self.model.predict(rows, cache=cached)
        else:
            outputs = np.asarray(self.model.predict(rows))
        self.rows += len(rows)
        self.predicts += 1
        return outputs

    @property
    def calls(self) -> int:
        now = getattr(self.model, "calls", None)
        return self.predicts if now is None or self.calls0 is None else int(now - self.calls0)

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def chunk_rows(model: Model, row_bytes: int) -> int:
    """Rows built per chunk: a multiple of the model's batch, so chunking adds no ONNX Runtime calls."""
    batch = int(getattr(model, "batch_size", DEFAULT_BATCH) or DEFAULT_BATCH)
    fit = max(1, CHUNK_BYTES // max(1, row_bytes))
    return max(batch, fit // batch * batch)


def evaluate(
    tally: Tally, n: int, rows: Callable[[int, int], np.ndarray], row_bytes: int, cached: int | None = None
) -> np.ndarray:
    """Outputs (n, K) of the rows that `rows(start, stop)` builds, sent in as few calls as memory allows.

    `cached`: only the first `cached` rows can repeat earlier queries (None: any row can).
    """
    step = chunk_rows(tally.model, row_bytes)
    parts = [
        tally.predict(rows(start, min(n, start + step)), None if cached is None else max(0, cached - start))
        for start in range(0, n, step)
    ]
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class Perturbations:
    """The rows of one input: copies of x whose feature f is x's where keep(start, stop)[i, f] is true,
    the baseline's elsewhere (rows start..stop of `rows`)."""

    x: np.ndarray
    baseline: np.ndarray
    keep: Callable[[int, int], np.ndarray]
    rows: int


def ablate(
    tally: Tally,
    x: np.ndarray,
    baseline: np.ndarray,
    keep: Callable[[int, int], np.ndarray],
    n: int,
    cached: int | None = None,
    view: Features | None = None,
) -> np.ndarray:
    """Outputs of n copies of x whose feature f is x's where keep[i, f] is true, the baseline's elsewhere.

    `view`: the features the masks run over (default: the model's); `cached`: see `evaluate`.
    """
    return ablate_batch(tally, [Perturbations(x, baseline, keep, n)], cached, view)[0]


def ablate_batch(
    tally: Tally,
    inputs: Sequence[Perturbations],
    cached: int | None = None,
    view: Features | None = None,
) -> list[np.ndarray]:
    """The outputs of every input's rows, one array per input; all rows go out as one stream of calls."""
    view = view or features_of(tally.model)
    ends = list(itertools.accumulate(p.rows for p in inputs))
    starts = [0, *ends[:-1]]
    bits = [select_bits(p.x, p.baseline) for p in inputs]

    def rows(start: int, stop: int) -> np.ndarray:
        parts = []
        for i in range(bisect.bisect_right(ends, start), len(inputs)):
            if starts[i] >= stop:
                break
            low, high = max(start, starts[i]) - starts[i], min(stop, ends[i]) - starts[i]
            outside, differ, zero = bits[i]
            # a bitwise select: the same values as np.where(keep, x, baseline), 3x faster
            mask = view.expand(np.ascontiguousarray(inputs[i].keep(low, high), dtype=bool))
            chosen = np.multiply(mask, differ, dtype=np.uint32)  # kept: the differing bits; else 0
            if not zero:
                chosen ^= outside
            parts.append(chosen.view(np.float32))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    outputs = evaluate(tally, ends[-1], rows, inputs[0].x.size * 4, cached)
    return np.split(outputs, ends[:-1]) if len(inputs) > 1 else [outputs]


def select_bits(x: np.ndarray, baseline: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The baseline's float32 bits, the bits where x differs from it, and whether the baseline is all zero."""
    outside = baseline.astype(np.float32).view(np.uint32)
    differ = x.astype(np.float32).view(np.uint32) ^ outside
    return outside, differ, not outside.any()


def sample_of(model: Model, x: np.ndarray) -> np.ndarray:
    """One input as float64 in the model's own layout (an image may come in the other channel order)."""
    x = np.asarray(x, dtype=np.float64)
    shape = tuple(model.input_shape)
    if x.shape == shape:
        return x
    if len(shape) == 3 and x.ndim == 3 and model.layout in ("NCHW", "NHWC"):
        moved = np.moveaxis(x, -1, 0) if model.layout == "NCHW" else np.moveaxis(x, 0, -1)
        if moved.shape == shape:
            return moved
    if x.size == int(np.prod(shape)) and model.layout in ("flat", "columns"):
        return x.reshape(shape)
    raise DataError(
        f"an input of shape {list(x.shape)} does not fit the model's input {list(shape)} ({model.layout})"
    )


def inputs_of(model: Model, x: np.ndarray) -> tuple[np.ndarray, bool]:
    """(inputs (N, *input shape) as float64 in the model's layout, whether x was a batch).

    A batch has one more axis than the model's input (Captum's convention: [N, ...]); anything else is one input.
    """
    x = np.asarray(x)
    if x.ndim == len(model.input_shape) + 1 and len(x) > 0:
        try:
            return np.stack([sample_of(model, row) for row in x]), True
        except DataError:
            pass
    return sample_of(model, x)[None], False


def resolve_target(outputs_x: np.ndarray, target: int | None, contrast: int | None = None) -> int:
    """The explained class: as given, else the predicted one; checked against the number of classes."""
    if not np.isfinite(outputs_x).all():
        raise DataError("the model returns NaN or Inf for this input; it cannot be explained")
    k = len(outputs_x)
    chosen = int(np.argmax(outputs_x)) if target is None else int(target)
    for name, value in (("target", chosen), ("contrast", contrast)):
        if value is not None and not 0 <= value < k:
            raise ArgumentError(
                f"{name} class {value} is out of range: the model's scores have {k} columns (0..{k - 1})"
            )
    return chosen


def resolve_targets(
    outputs_x: Sequence[np.ndarray], target: Target, contrast: int | None = None
) -> list[int]:
    """One explained class per input: `target` for all, `target[i]` for input i, or each input's predicted class."""
    n = len(outputs_x)
    if target is None or isinstance(target, int | np.integer):
        wanted: list[int | None] = [None if target is None else int(target)] * n
    else:
        wanted = [int(t) for t in target]
        if len(wanted) != n:
            raise ArgumentError(
                f"{len(wanted)} targets given for {n} inputs; give one per input or one for all"
            )
    return [resolve_target(out, t, contrast) for out, t in zip(outputs_x, wanted)]


def single(result: Attribution | Attributions) -> Attribution:
    """The map of a call on one input (no batch axis); ArgumentError for a batch's maps."""
    if isinstance(result, Attributions):
        raise ArgumentError(f"one input expected here, got the maps of a batch of {len(result)}")
    return result


def batch_result(items: list[Attribution], tally: Tally, batched: bool) -> Attribution | Attributions:
    """One input's Attribution, or the batch's Attributions with the shared stream's calls and time."""
    if not batched:
        return items[0]
    return Attributions(tuple(items), tally.rows, tally.calls, tally.seconds)


def rng_of(rng: np.random.Generator | int) -> np.random.Generator:
    """The generator given, or a fresh one from the seed given (never an unseeded one)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ArgumentError(f"rng must be a numpy Generator or an integer seed, got {type(rng).__name__}")


def seed_of(rng: np.random.Generator | int) -> int | None:
    """The seed, for the record (None when a generator was passed)."""
    return int(rng) if isinstance(rng, int | np.integer) else None
