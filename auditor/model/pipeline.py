"""z -> generator -> classifier -> probabilities as one step, for searches in a generator's latent space.

On CUDA the two sessions are chained with IO binding: latent rows go in, the generator's output
stays on the GPU and is bound as the classifier's input (through a small on-device "glue" graph
when layout or dtype differ), and only the scores come back. Anywhere else, or when the shapes
cannot be chained on the device, it is `blackbox.predict(generator.generate(z))`. Both ways count
rows, calls and ONNX Runtime time on the two models as usual, and repeated latent rows are answered
from a row cache when both models are deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from auditor.errors import DataError, ModelError
from auditor.model import calibration
from auditor.model.blackbox import BlackBox
from auditor.model.cache import RowCache, deterministic_graph
from auditor.model.generator import Generator
from auditor.model.loading import LoadedModel
from auditor.model.prefetch import prefetch
from auditor.model.preprocess import PreprocessedBlackBox
from auditor.model.session import BatchRunner, SessionSettings, create_session
from auditor.model.signature import CHANNEL_LAYOUTS, ORT_DTYPES
from auditor.model.watchdog import watch

ELEM_TYPES = {
    "float32": TensorProto.FLOAT,
    "float16": TensorProto.FLOAT16,
    "float64": TensorProto.DOUBLE,
    "int64": TensorProto.INT64,
    "int32": TensorProto.INT32,
    "uint8": TensorProto.UINT8,
    "int8": TensorProto.INT8,
}


@dataclass(frozen=True)
class Link:
    """How generator output becomes classifier input on the device: transpose, reshape, dtype change."""

    source_dtype: str
    target_dtype: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    perm: tuple[int, ...] | None

    @property
    def identity(self) -> bool:
        return (
            self.perm is None
            and self.source_shape == self.target_shape
            and self.source_dtype == self.target_dtype
        )


def link(generator: Generator, blackbox: BlackBox) -> Link | None:
    """The on-device link between the two models, or None when only the host path can join them."""
    spec = blackbox.signature.input
    if len(spec.names) != 1 or spec.batch or generator.runner.fixed_batch or blackbox.signature.hard_label:
        return None
    if blackbox.signature.batch_axis or isinstance(blackbox, PreprocessedBlackBox):
        return None  # the host path moves the batch axis and applies the contract
    source = tuple(generator.output_shape)
    target = tuple(spec.sample_shape)
    out_type = next(o.type for o in generator.session.get_outputs() if o.name == generator.output_name)
    source_dtype, target_dtype = ORT_DTYPES.get(out_type), spec.dtype
    if source_dtype is None or np.dtype(source_dtype).kind != "f":
        return None
    perm = None
    if source != target:
        swap = (0, 3, 1, 2) if spec.layout == "NCHW" else (0, 2, 3, 1)
        if (
            len(source) == 3
            and spec.layout in CHANNEL_LAYOUTS
            and tuple(source[i - 1] for i in swap[1:]) == target
        ):
            perm = swap
        elif not (int(np.prod(source)) == int(np.prod(target)) and spec.layout in ("flat", "columns")):
            return None
    return Link(source_dtype, target_dtype, source, target, perm)


def glue_model(link: Link) -> LoadedModel:
    """A one-purpose graph (Transpose / Reshape / Round-Clip-Cast) applying link on the device."""
    nodes, inits, name = [], [], "x"
    if link.perm is not None:
        nodes.append(helper.make_node("Transpose", [name], ["t"], perm=list(link.perm)))
        name = "t"
    elif link.source_shape != link.target_shape:
        inits.append(
            helper.make_tensor(
                "shape", TensorProto.INT64, [len(link.target_shape) + 1], [-1, *link.target_shape]
            )
        )
        nodes.append(helper.make_node("Reshape", [name, "shape"], ["r"]))
        name = "r"
    target = np.dtype(link.target_dtype)
    if target.kind in "iu":  # what BatchRunner does on the host: round, clip to the type's range, cast
        info = np.iinfo(target)
        source_type = ELEM_TYPES[link.source_dtype]
        inits += [
            helper.make_tensor("lo", source_type, [], [float(info.min)]),
            helper.make_tensor("hi", source_type, [], [float(info.max)]),
        ]
        nodes += [
            helper.make_node("Round", [name], ["q"]),
            helper.make_node("Clip", ["q", "lo", "hi"], ["c"]),
        ]
        name = "c"
    nodes.append(helper.make_node("Cast", [name], ["y"], to=ELEM_TYPES[link.target_dtype]))
    graph = helper.make_graph(
        nodes,
        "glue",
        [helper.make_tensor_value_info("x", ELEM_TYPES[link.source_dtype], ["N", *link.source_shape])],
        [helper.make_tensor_value_info("y", ELEM_TYPES[link.target_dtype], ["N", *link.target_shape])],
        inits,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx-auditor"
    )
    proto.ir_version = 8
    return LoadedModel(Path("<pipeline glue>"), proto, "", 0, 0, ())


class Pipeline:
    """Probabilities of the generator's images for latent rows z (n, d), with the images kept on the device."""

    def __init__(self, generator: Generator, blackbox: BlackBox, bind: bool | None = None) -> None:
        """bind: chain the sessions with IO binding (default: only when both run on CUDA)."""
        self.generator = generator
        self.blackbox = blackbox
        self.device = blackbox.provider
        self.link = link(generator, blackbox)
        wanted = bind if bind is not None else self.device == "cuda"
        self.bound = bool(wanted and self.link is not None and generator.provider == blackbox.provider)
        self.glue: ort.InferenceSession | None = None
        if self.bound and self.link is not None and not self.link.identity:
            self.glue = create_session(glue_model(self.link), SessionSettings(self.device, 1))
        cacheable = blackbox.cache is not None and deterministic_graph(generator.model.proto)
        width = blackbox.n_classes
        self.cache = (
            RowCache((generator.latent_dim,), np.dtype(np.float32), width, blackbox.options.cache_bytes)
            if cacheable
            else None
        )

    @property
    def cache_hits(self) -> int:
        """Latent rows answered from the cache: neither generator nor classifier ran for them."""
        return self.cache.hits if self.cache is not None else 0

    def predict(self, z: np.ndarray) -> np.ndarray:
        """Probabilities (n, K) float32 of generator(z); NaN rows are counted in `blackbox.nonfinite`."""
        z = np.ascontiguousarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.generator.latent_dim:
            raise DataError(
                f"latent vectors must have shape (n, {self.generator.latent_dim}), got {list(z.shape)}"
            )
        if len(z) == 0:
            return np.empty((0, self.blackbox.n_classes), dtype=np.float32)
        compute = self._bound if self.bound else self._host
        probs = self.cache.answer(z, compute) if self.cache is not None else compute(z)
        if self.bound:
            self.blackbox.nonfinite += int(np.isnan(probs).any(axis=1).sum())
        return probs

    def _host(self, z: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        images = self.generator.generate(z if index is None else z[index])
        return self.blackbox.predict(images, cache=self.cache is None)  # repeats are caught on z already

    def _bound(self, z: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        z = z if index is None else z[index]
        blackbox, generator = self.blackbox, self.generator
        if blackbox.calibration is None and len(z) >= calibration.MIN_ROWS and blackbox.calibrates:
            head = z[: calibration.MIN_ROWS]
            (images,) = generator.session.run(
                [generator.output_name], {generator.input_name: generator.runner.cast(head)}
            )
            blackbox.calibrate(np.asarray(images))
        for runner in (generator.runner, blackbox.runner):
            if runner.budget is not None:
                runner.budget.charge(len(z))
        z = generator.runner.cast(z)
        step = blackbox.batch_size
        parts = [self._chunk(z[i : i + step]) for i in range(0, len(z), step)]
        generator.runner.rows += len(z)
        blackbox.runner.rows += len(z)
        return blackbox.probabilities(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def _chunk(self, z: np.ndarray) -> np.ndarray:
        """One generator call and one classifier call; only z goes to the device and scores come back."""
        generator, blackbox = self.generator, self.blackbox
        binding = generator.session.io_binding()
        binding.bind_cpu_input(generator.input_name, z)
        binding.bind_output(generator.output_name, self.device)
        self._run(generator.session, binding, generator.runner)
        images = binding.get_outputs()[0]
        if self.glue is not None:
            glued = self.glue.io_binding()
            glued.bind_ortvalue_input("x", images)
            glued.bind_output("y", self.device)
            self._run(self.glue, glued, blackbox.runner, count=False)
            images = glued.get_outputs()[0]
        scored = blackbox.session.io_binding()
        scored.bind_ortvalue_input(blackbox.signature.input.name, images)
        scored.bind_output(blackbox.fetch, "cpu")
        self._run(blackbox.session, scored, blackbox.runner)
        return scored.copy_outputs_to_cpu()[0]

    @staticmethod
    def _run(
        session: ort.InferenceSession, binding: ort.IOBinding, runner: BatchRunner, count: bool = True
    ) -> None:
        """One run_with_iobinding, timed into the runner's counters (a call when count), errors as ModelError."""
        guard = watch(runner.call_timeout)
        started = time.perf_counter()
        try:
            with guard:
                session.run_with_iobinding(binding, guard.run_options)
        except Exception as exc:  # ORT raises its own exception types
            message = " ".join(str(exc).split())[:300]
            raise ModelError(f"ONNX Runtime failed in the generator-classifier pipeline: {message}") from None
        finally:
            runner.seconds += time.perf_counter() - started
            runner.calls += int(count)


def predict_decoded(
    blackbox: BlackBox,
    decode: Callable[[np.ndarray], np.ndarray],
    z: np.ndarray,
    cache: bool = False,
    background: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(decode(z), blackbox.predict(decode(z), cache)), one classifier batch at a time, decoding the next
    batch (a generator's ONNX Runtime call, a box's numpy) in a background thread while the classifier runs.

    The same rows, probabilities and row counts (generator and classifier) as decoding all of z and
    predicting it at once, provided `decode` treats rows independently, as generators and boxes do.
    It pays only when decoding costs about as much as classifying and a core is free (`prefetch`);
    on the digits sample (decoding ~5 % of the classifier) it did not.
    """
    step = max(1, blackbox.batch_size)
    if len(z) <= step:
        x = decode(z)
        return x, blackbox.predict(x, cache)
    rows, probs = [], []
    for x in prefetch((decode(z[start : start + step]) for start in range(0, len(z), step)), 1, background):
        rows.append(x)
        probs.append(blackbox.predict(x, cache))
    return np.concatenate(rows), np.concatenate(probs)
