"""How far to trust a map: deletion and insertion curves beside the same curves for random orders
(Petsiuk et al. 2018), rank correlation across seeds, and the model-randomisation sanity check
(Adebayo et al. 2018) done on a copy of the ONNX graph, which no black-box peer can do.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from auditor.errors import ArgumentError, DataError, ModelError
from auditor.explain.attribution.baselines import Baseline, resolve_baseline
from auditor.explain.attribution.core import (
    Attribution,
    Attributions,
    Model,
    Score,
    Tally,
    ablate,
    features_of,
    resolve_target,
    rng_of,
    sample_of,
    single,
)
from auditor.model.blackbox import BlackBox
from auditor.model.loading import LoadedModel

#: ONNX convention -> the --scores value that pins it, so a randomised copy is read the same way.
SCORES_OF = {
    "logits": "logits",
    "binary_logit": "logits",
    "log_probabilities": "log-probabilities",
    "probabilities": "probabilities",
    "label+probabilities": "probabilities",
    "binary_probability": "probabilities",
}
#: Inputs of these operators that hold statistics, not learned weights, and are left alone.
STATISTICS = {"BatchNormalization": (3, 4)}
#: Operators whose weight input starts a layer.
WEIGHT_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "LSTM", "GRU", "RNN"})
Method = Callable[..., Attribution | Attributions]


@dataclass(frozen=True)
class Faithfulness:
    """Deletion and insertion curves of the score, in attribution order and in random orders."""

    target: int
    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    random_deletion: np.ndarray  # median over the random orders, step by step
    random_insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float
    random_deletion_auc: float  # median AUC over the random orders
    random_insertion_auc: float
    orders: int
    queries: int
    calls: int
    seconds: float

    @classmethod
    def of_curves(
        cls, target: int, fractions: np.ndarray, curves: np.ndarray, queries: int, calls: int, seconds: float
    ) -> Faithfulness:
        """From score curves shaped (1 + random orders, deletion|insertion, steps + 1), attribution order first."""
        areas = np.asarray(np.trapezoid(curves, fractions, axis=2))
        return cls(
            target=target,
            fractions=fractions,
            deletion=curves[0, 0],
            insertion=curves[0, 1],
            random_deletion=np.median(curves[1:, 0], axis=0),
            random_insertion=np.median(curves[1:, 1], axis=0),
            deletion_auc=float(areas[0, 0]),
            insertion_auc=float(areas[0, 1]),
            random_deletion_auc=float(np.median(areas[1:, 0])),
            random_insertion_auc=float(np.median(areas[1:, 1])),
            orders=len(curves) - 1,
            queries=queries,
            calls=calls,
            seconds=seconds,
        )

    @property
    def deletion_ratio(self) -> float:
        """Deletion AUC over the random orders' (below 1: better than chance)."""
        return self.deletion_auc / self.random_deletion_auc if self.random_deletion_auc > 0 else float("nan")

    @property
    def beats_random(self) -> bool:
        """The audit's faithfulness rule: deleting by the map drops the score faster, and inserting by it
        raises the score faster, than the median random order."""
        return self.deletion_auc < self.random_deletion_auc and self.insertion_auc > self.random_insertion_auc

    @property
    def insertion_ratio(self) -> float:
        """Insertion AUC over the random orders' (above 1: better than chance)."""
        return (
            self.insertion_auc / self.random_insertion_auc if self.random_insertion_auc > 0 else float("nan")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "deletion_auc": self.deletion_auc,
            "insertion_auc": self.insertion_auc,
            "random_deletion_auc": self.random_deletion_auc,
            "random_insertion_auc": self.random_insertion_auc,
            "deletion_ratio": self.deletion_ratio,
            "insertion_ratio": self.insertion_ratio,
            "random_orders": self.orders,
            "curves": {
                "fractions": self.fractions.tolist(),
                "deletion": self.deletion.tolist(),
                "insertion": self.insertion.tolist(),
                "random_deletion": self.random_deletion.tolist(),
                "random_insertion": self.random_insertion.tolist(),
            },
            "metric_queries": self.queries,
        }


def faithfulness(
    model: Model,
    x: np.ndarray,
    heat: np.ndarray,
    *,
    target: int,
    baseline: Baseline = "zero",
    steps: int = 50,
    orders: int = 5,
    score: str = "probability",
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Faithfulness:
    """Remove (deletion) or reveal (insertion) features in map order, `steps` equal steps, all rows in one batch.

    Lower deletion and higher insertion AUC than the random orders mean the map ranks features better than chance.
    """
    if steps < 1 or orders < 1:
        raise ArgumentError("steps and orders must be at least 1")
    gen = rng_of(rng)
    tally = Tally(model)
    view = features_of(model)
    x = sample_of(model, x)
    heat = np.asarray(heat, dtype=np.float64)
    base = resolve_baseline(baseline, x, view, reference, gen)
    if heat.size != view.size and heat.size == view.elements().size:
        view = view.elements()  # a map of every input value (channels apart)
    if heat.size != view.size:
        raise DataError(
            f"a map of shape {list(heat.shape)} does not fit the model's features {list(view.map_shape)}"
        )
    first = np.argsort(-np.nan_to_num(heat.reshape(-1), nan=-np.inf), kind="stable")
    sequences = np.vstack([first] + [gen.permutation(view.size) for _ in range(orders)])
    ranks = np.empty_like(sequences)
    np.put_along_axis(ranks, sequences, np.arange(view.size)[None, :], axis=1)
    removed = np.rint(np.arange(steps + 1) * view.size / steps).astype(np.int64)
    shape = (orders + 1, 2, steps + 1)

    def keep(start: int, stop: int) -> np.ndarray:
        order, curve, step = np.unravel_index(np.arange(start, stop), shape)
        ahead = ranks[order] < removed[step][:, None]
        return np.where(curve[:, None] == 0, ~ahead, ahead)

    probs = ablate(tally, x, base, keep, int(np.prod(shape)), view=view)
    resolve_target(probs[0], target, contrast)
    curves = Score(score, target, contrast)(probs).reshape(shape)
    fractions = removed / view.size
    return Faithfulness.of_curves(target, fractions, curves, tally.rows, tally.calls, tally.seconds)


def rank_correlation(a: np.ndarray, b: np.ndarray, absolute: bool = False) -> float:
    """Spearman's rank correlation of two maps (ties get their average rank); NaN when one map is constant."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise DataError(f"maps of {a.size} and {b.size} values cannot be compared")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = float(np.sqrt((ra @ ra) * (rb @ rb)))
    return float(ra @ rb / norm) if norm > 0 else float("nan")


def _ranks(values: np.ndarray) -> np.ndarray:
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + ends - 1) / 2)[inverse]


@dataclass(frozen=True)
class Stability:
    """Rank correlation between the maps of one method run with different seeds."""

    seeds: tuple[int, ...]
    correlations: tuple[float, ...]  # every pair of seeds
    mean: float
    minimum: float


def seed_stability(
    method: Method, model: Model, x: np.ndarray, *, seeds: tuple[int, ...] = (0, 1, 2), **options: Any
) -> Stability:
    """Run `method` once per seed on the same target; report the pairwise rank correlations of the maps."""
    if len(seeds) < 2:
        raise ArgumentError("stability needs at least two seeds")
    first = single(method(model, x, rng=seeds[0], **options))
    options = {**options, "target": first.target}
    maps = [first.map] + [single(method(model, x, rng=s, **options)).map for s in seeds[1:]]
    pairs = [rank_correlation(maps[i], maps[j]) for i in range(len(maps)) for j in range(i + 1, len(maps))]
    return Stability(tuple(seeds), tuple(pairs), float(np.mean(pairs)), float(np.min(pairs)))


@dataclass(frozen=True)
class RandomisationCheck:
    """Cascading randomisation from the output backwards: how the map's ranks move away from the original's."""

    target: int
    layers: tuple[int, ...]  # number of top layers randomised at each step
    names: tuple[tuple[str, ...], ...]  # initializers of each layer, top layer first
    correlations: tuple[float, ...]  # rank correlation with the original map at each step
    seed_correlation: float  # the same method, same model, another seed: the noise ceiling
    maps: tuple[np.ndarray, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "layers": list(self.layers),
            "names": [list(n) for n in self.names],
            "correlations": self.correlations,
            "seed_correlation": self.seed_correlation,
        }


def weight_layers(proto: onnx.ModelProto) -> list[tuple[str, ...]]:
    """Float initializers grouped by layer in topological order: a layer starts at each Conv/Gemm/MatMul-like
    node with a weight matrix or kernel; later tensors (biases, scales) join the current layer. Single values
    and tensors consumed before the first layer (input scaling) are left out."""
    floats = {
        t.name: t
        for t in proto.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)
        and int(np.prod(t.dims)) > 1
    }
    layers: list[list[str]] = []
    seen: set[str] = set()
    for node in proto.graph.node:
        skip = STATISTICS.get(node.op_type, ())
        used = [n for i, n in enumerate(node.input) if n in floats and n not in seen and i not in skip]
        if node.op_type in WEIGHT_OPS and any(len(floats[n].dims) >= 2 for n in used):
            layers.append([])
        if layers:
            layers[-1].extend(used)
            seen.update(used)
    return [tuple(layer) for layer in layers if layer]


def randomise(model: LoadedModel, layers: int, rng: np.random.Generator) -> LoadedModel:
    """A copy of the model whose top `layers` layers hold fresh N(0, std) weights (each tensor keeps its std)."""
    groups = weight_layers(model.proto)
    if not 1 <= layers <= len(groups):
        raise ArgumentError(
            f"the model has {len(groups)} weight layers; randomise between 1 and {len(groups)}"
        )
    return reinitialise(model, {name for group in groups[-layers:] for name in group}, rng)


def reinitialise(model: LoadedModel, chosen: set[str], rng: np.random.Generator) -> LoadedModel:
    """A copy of the model in which the named initializers are redrawn from N(0, their own std)."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    for tensor in proto.graph.initializer:
        if tensor.name in chosen:
            old = numpy_helper.to_array(tensor)
            fresh = rng.normal(0.0, float(old.std()), old.shape).astype(old.dtype)
            tensor.CopyFrom(numpy_helper.from_array(fresh, tensor.name))
    digest = hashlib.sha256(proto.SerializeToString()).hexdigest()
    return dataclasses.replace(model, proto=proto, sha256=digest)


def reopen(bb: BlackBox, model: LoadedModel) -> BlackBox:
    """A BlackBox over `model` read exactly like `bb`: same options, output, score convention, shape, layout,
    batch size and threads (so nothing is re-detected or re-calibrated on the copy)."""
    sig = bb.signature
    options = dataclasses.replace(
        bb.options,
        device=bb.provider,
        batch_size=bb.batch_size,
        output=sig.score_output,
        scores=SCORES_OF.get(sig.convention),
        class_names=bb.class_names,
        input_shape=bb.input_shape,
        layout=bb.layout,
        threads=bb.threads,
    )
    return BlackBox.from_loaded(model, options)


def randomisation_check(
    bb: BlackBox,
    method: Method,
    x: np.ndarray,
    *,
    target: int | None = None,
    layers: int | None = None,
    seeds: tuple[int, int] = (0, 1),
    rng: np.random.Generator | int = 0,
    absolute: bool = False,
    **options: Any,
) -> RandomisationCheck:
    """Re-run `method` on copies of the model with the top 1..`layers` layers randomised in cascade (default: all)."""
    gen = rng_of(rng)
    groups = weight_layers(bb.model.proto)
    if not groups:
        raise ModelError("the model has no weight initializers to randomise")
    depth = len(groups) if layers is None else layers
    if not 1 <= depth <= len(groups):
        raise ArgumentError(
            f"the model has {len(groups)} weight layers; randomise between 1 and {len(groups)}"
        )
    x = sample_of(bb, x)
    original = single(method(bb, x, target=target, rng=seeds[0], **options))
    fixed = {**options, "target": original.target}
    again = single(method(bb, x, rng=seeds[1], **fixed))
    maps, correlations = [], []
    current = bb.model
    for k in range(1, depth + 1):
        current = reinitialise(current, set(groups[-k]), gen)
        heat = single(method(reopen(bb, current), x, rng=seeds[0], **fixed)).map
        maps.append(heat)
        correlations.append(rank_correlation(original.map, heat, absolute))
    return RandomisationCheck(
        target=original.target,
        layers=tuple(range(1, depth + 1)),
        names=tuple(groups[::-1][:depth]),
        correlations=tuple(correlations),
        seed_correlation=rank_correlation(original.map, again.map, absolute),
        maps=tuple(maps),
    )
