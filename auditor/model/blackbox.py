"""BlackBox: a vendor's ONNX classifier as a function X (n, *input_shape) -> probabilities (n, K)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from auditor.errors import ArgumentError, ConventionError, DataError, ModelError
from auditor.model import calibration
from auditor.model.cache import DEFAULT_CACHE_BYTES, RowCache, deterministic_graph
from auditor.model.calibration import Calibration
from auditor.model.loading import Limits, LoadedModel, load_model
from auditor.model.prefetch import prefetch
from auditor.model.session import (
    BatchRunner,
    SessionSettings,
    create_session,
    default_threads,
    provider_of,
    spare_core,
)
from auditor.model.signature import (
    CHANNEL_LAYOUTS,
    InputSpec,
    Signature,
    TensorInfo,
    detect_input,
    detect_outputs,
    dims_of,
    expose_zipmap_inputs,
    metadata_class_names,
)
from auditor.value_sets import ValueSet

DEFAULT_BATCH_BYTES = 32 * 2**20
MAX_DEFAULT_BATCH = 1024
PROBE_ROWS = 4


@dataclass(frozen=True)
class OpenOptions:
    """Everything that decides how a classifier is loaded and read; CLI flags map onto it one to one."""

    device: str = "auto"
    batch_size: int | None = None
    output: str | None = None
    output_batch_axis: int = 0  # the axis of the score output that holds the rows
    discrete: bool | None = None  # the input holds ids or bytes (None: integer dtypes are, floats are not)
    value_range: tuple[float, float] | None = None  # the values an input element may take, when declared
    scores: str | None = None
    class_names: tuple[str, ...] | None = None
    input_shape: tuple[int, ...] | None = None
    shape_hint: tuple[int, ...] | None = None  # the data's row shape, for dynamic per-sample dimensions
    layout: str | None = None
    threads: int | None = None
    verbose: bool = False
    limits: Limits = Limits()
    call_timeout: float | None = None
    cache: bool | None = None
    cache_bytes: int = DEFAULT_CACHE_BYTES
    memory_budget: int | None = None
    cache_dir: str | None = None
    tokenizer: str | None = None  # text models: the tokenizer.json (None: the one beside the model)
    max_length: int | None = None  # text models: tokens per row (None: the model's, the tokenizer's)

    def session_settings(self) -> SessionSettings:
        """How a generator or encoder opened beside this classifier runs: same device, threads, verbosity, timeout."""
        return SessionSettings(
            device=self.device, threads=self.threads, verbose=self.verbose, call_timeout=self.call_timeout
        )


class BlackBox:
    """One ONNX Runtime session behind `predict`, which returns float32 probabilities and counts every row.

    Batch size and CPU threads are calibrated on the first `predict` of at least
    `calibration.MIN_ROWS` rows (unless given); a choice of several threads is re-checked on every
    call and given up for one thread when calls fall behind what one thread did (a busy neighbour);
    repeated rows are answered from an exact row cache,
    on by default for CPU sessions of models without random operators (ONNX Runtime on the CPU
    gives a row the same output whatever batch it is in), counted in `cache_hits`, not in `queries`.
    """

    def __init__(
        self, model: LoadedModel, session: ort.InferenceSession, signature: Signature, options: OpenOptions
    ):
        self.model = model
        self.options = options
        self.session = session
        self.signature = signature
        self.provider = provider_of(session)
        metadata = model_metadata(model)
        self.class_names: tuple[str, ...] = (
            options.class_names
            or metadata_class_names(metadata, signature.n_classes)
            or signature.class_labels
            or tuple(str(i) for i in range(signature.n_classes))
        )
        if len(self.class_names) != signature.n_classes:
            raise ConventionError(
                f"{len(self.class_names)} class names given but the model has {signature.n_classes} classes; fix class_names"
            )
        spec = signature.input
        batch = options.batch_size or default_batch(spec)
        self.runner = BatchRunner(
            session, spec.names, spec.dtypes, spec.batch, batch, options.call_timeout, signature.batch_axis
        )
        self.threads = options.threads or default_threads()
        self.memory_budget = options.memory_budget or calibration.MEMORY_BUDGETS[self.provider]
        self.calibration: Calibration | None = None
        use_cache = spec.layout != "text" and (
            options.cache
            if options.cache is not None
            else self.provider == "cpu" and deterministic_graph(model.proto)
        )
        row_dtype = spec.dtype if len(spec.names) == 1 else "float32"
        self.cache = (
            RowCache(spec.sample_shape, row_dtype, signature.n_classes, options.cache_bytes)
            if use_cache
            else None
        )
        self.nonfinite = 0
        self._label_index = {label: i for i, label in enumerate(signature.class_labels)}

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: OpenOptions = OpenOptions()) -> BlackBox:
        """Load a classifier safely, detect its conventions by probing, and keep one session."""
        return cls.from_loaded(load_model(path, options.limits), options)

    @classmethod
    def from_loaded(
        cls,
        model: LoadedModel,
        options: OpenOptions = OpenOptions(),
        make_probe: Callable[[InputSpec], np.ndarray] | None = None,
    ) -> BlackBox:
        """A BlackBox over an already checked model (e.g. a copy with randomised weights).

        `make_probe` makes the rows that confirm the output convention (default: `probe_rows` below;
        a text model passes valid token ids of its own vocabulary).
        """
        if options.output_batch_axis < 0:
            raise ArgumentError(f"output_batch_axis must be 0 or more, got {options.output_batch_axis}")
        declared = {o.name for o in model.proto.graph.output}
        zipmaps = expose_zipmap_inputs(model.proto)
        check_declared_inputs(model, options.limits)
        session = create_session(
            model, SessionSettings(options.device, options.threads, verbose=options.verbose)
        )
        inputs = tuple(TensorInfo(i.name, i.type, dims_of(i.shape)) for i in session.get_inputs())
        outputs = tuple(TensorInfo(o.name, o.type, dims_of(o.shape)) for o in session.get_outputs())
        spec = detect_input(inputs, options.input_shape, options.layout, options.shape_hint)
        check_row_bytes(model.path, spec, options.limits)
        axis = options.output_batch_axis
        prober = BatchRunner(
            session, spec.names, spec.dtypes, spec.batch, PROBE_ROWS, options.call_timeout, axis
        )
        probe_x = (make_probe or probe_rows)(spec)

        def probe(names: list[str]) -> list[np.ndarray]:
            return prober.run(probe_x, names)

        n_labels = len(options.class_names) if options.class_names else None
        convention, score, label, k, labels, reason = detect_outputs(
            model.proto, outputs, zipmaps, probe, options.output, options.scores, n_labels, len(probe_x)
        )
        public = tuple(o for o in outputs if o.name in declared)  # not the tensors exposed from ZipMap
        signature = Signature(spec, inputs, public, convention, score, label, k, labels, reason, axis)
        return cls(model, session, signature, options)

    # -------------------------------------------------------------- properties

    @property
    def path(self) -> Path:
        return self.model.path

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.signature.input.sample_shape

    @property
    def layout(self) -> str:
        return self.signature.input.layout

    @property
    def n_classes(self) -> int:
        return self.signature.n_classes

    @property
    def batch_size(self) -> int:
        return self.runner.batch_size

    @property
    def queries(self) -> int:
        return self.runner.rows

    @property
    def calls(self) -> int:
        return self.runner.calls

    @property
    def ort_seconds(self) -> float:
        return self.runner.seconds

    @property
    def cache_hits(self) -> int:
        """Rows answered from the row cache (not sent to the model, not counted in `queries`)."""
        return self.cache.hits if self.cache is not None else 0

    @property
    def fetch(self) -> str:
        """The output read for class scores (the label output for hard-label models)."""
        sig = self.signature
        return (sig.label_output if sig.hard_label else sig.score_output) or ""

    # -------------------------------------------------------------- prediction

    def predict(self, x: np.ndarray, cache: bool | int = True) -> np.ndarray:
        """Probabilities (n, K) float32; rows with NaN/Inf scores come back as NaN rows and are counted.

        cache=False skips the row cache for rows the caller knows are new (a search's fresh candidates);
        an int k uses it for the first k rows only (e.g. the input and baseline ahead of random coalitions).
        """
        x = self.runner.cast(self.prepare(x))
        if len(x) == 0:
            return np.empty((0, self.n_classes), dtype=np.float32)
        if self.calibration is None and len(x) >= calibration.MIN_ROWS and self.calibrates:
            self.calibrate(x)
        flag = isinstance(cache, bool | np.bool_)
        use = self.cache if cache or not flag else None
        head = None if flag else int(cache)
        probs = use.answer(x, self._predict_rows, head) if use is not None else self._predict_rows(x)
        self.nonfinite += int(np.isnan(probs).any(axis=1).sum())
        return probs

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """The score output as the model returns it, (n, k) float64: logits stay logits, and an [N] or
        [N, 1] output is one column (no softmax, no [1 - s, s]). Rows are counted as by `predict`;
        the row cache is skipped (it holds probabilities)."""
        if self.signature.hard_label:
            raise ConventionError("the model returns labels only; it has no raw scores to read")
        x = self.runner.cast(self.prepare(x))
        if self.calibration is None and len(x) >= calibration.MIN_ROWS and self.calibrates:
            self.calibrate(x)
        (values,) = self.runner.run(x, [self.fetch])
        return np.asarray(values, dtype=np.float64).reshape(len(x), -1)

    def predict_batches(
        self,
        batches: Iterable[np.ndarray],
        cache: bool | int = True,
        depth: int = 1,
        background: bool | None = None,
    ) -> Iterator[np.ndarray]:
        """`predict(rows, cache)` for each batch in turn, while one background thread builds the next ones.

        The same probabilities, queries, calls and cache hits as the plain loop; the batches' own
        work (masks, perturbations, decoding) overlaps the model calls when a core is free (see `prefetch`).
        """
        for rows in prefetch(batches, depth, background):
            yield self.predict(rows, cache)

    def _predict_rows(self, x: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        (values,) = self.runner.run(x, [self.fetch], index)
        return self.probabilities(values)

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        """The score output's values as float32 probabilities; rows with NaN/Inf become NaN rows."""
        probs = self._to_probabilities(values)
        bad = ~np.isfinite(probs).all(axis=1)
        if bad.any():
            probs[bad] = np.nan
        return probs

    # -------------------------------------------------------------- calibration

    def calibrate(self, x: np.ndarray | None = None) -> Calibration:
        """Choose batch size and threads by timing rows x (default: the probe rows), or recall the earlier choice."""
        spec = self.signature.input
        rows = self.runner.cast(self.prepare(x)) if x is not None and len(x) else probe_rows(spec)
        opts = self.options
        key = calibration.key(
            self.model.sha256,
            self.provider,
            opts.threads,
            opts.batch_size,
            spec.sample_shape,
            spec.dtype,
            self.memory_budget,
        )
        found = calibration.recall(key, opts.cache_dir)
        sessions = {self.threads: self.session}
        if found is None:
            plan = self._plan()

            def runner(threads: int) -> calibration.Runner:
                if threads not in sessions:
                    settings = SessionSettings(self.provider, threads, plan.spinning, opts.verbose)
                    sessions[threads] = create_session(self.model, settings)
                session, names = sessions[threads], [self.fetch]
                return lambda rows: session.run(names, self.runner.feed(rows))

            cpu_clock = time.thread_time if self.provider == "cpu" else None
            found = calibration.calibrate(runner, rows, plan, cpu_clock=cpu_clock)
            calibration.remember(key, found, opts.cache_dir)
        self._use_threads(found.threads, found.spinning, sessions.get(found.threads))
        if not opts.batch_size and not spec.batch:
            self.runner.batch_size = found.batch_size
        if (
            opts.cache is None and self.cache is not None
        ):  # auto: drop a cache that costs more than it can save
            cost = calibration.cache_cost(self.cache.row_shape, self.cache.dtype.name, self.n_classes)
            if cost * found.rows_per_second > calibration.CACHE_SHARE:
                self.cache = None
        self.calibration = found
        self._recheck(key)
        return found

    def _use_threads(self, threads: int, spinning: bool, session: ort.InferenceSession | None = None) -> None:
        """Run on a session with this many threads from now on (the one given, or a new one)."""
        if session is None:
            settings = SessionSettings(self.provider, threads, spinning, self.options.verbose)
            session = create_session(self.model, settings)
        self.session = self.runner.session = session
        self.threads = threads

    def _recheck(self, key: str) -> None:
        """With several threads chosen, judge every call against the fewer-thread timing; fall back when slower."""
        found = self.calibration
        if found is None or found.fallback is None or found.threads <= found.fallback.threads:
            self.runner.on_call = None
            return
        fallback = found.fallback
        watch = calibration.Recheck(fallback)

        def on_call(rows: int, seconds: float) -> None:
            if watch.observe(rows, seconds):
                self.runner.on_call = None
                self._use_threads(fallback.threads, False)
                self.calibration = replace(
                    found,
                    threads=fallback.threads,
                    spinning=False,
                    rows_per_second=fallback.rows_per_second,
                    source="rechecked",
                )
                calibration.remember(key, self.calibration)  # for this process: later black boxes start there

        self.runner.on_call = on_call

    @property
    def calibrates(self) -> bool:
        """Whether there is anything to choose: batch size (not given, not fixed) or threads (CPU, not given)."""
        return len(self._thread_plan()) > 1 or not (self.options.batch_size or self.signature.input.batch)

    def _thread_plan(self) -> tuple[int, ...]:
        """Thread counts to compare, the current session's first; one when there is no choice."""
        busy = self.provider == "cpu" and not self.options.threads and not spare_core()
        choices = calibration.thread_choices(
            self.options.threads, calibration.cpu_cores(), self.provider, spare=not busy
        )
        if len(choices) > 1:
            return (self.threads, *[t for t in choices if t != self.threads])
        return choices if busy else (self.threads,)  # busy: one thread, whatever the default

    def _plan(self) -> calibration.Plan:
        """What the calibration may try: batch sizes within the memory budget, thread counts."""
        spec = self.signature.input
        opts = self.options
        cores = calibration.cpu_cores()
        threads = self._thread_plan()
        if opts.batch_size:
            return calibration.Plan((opts.batch_size,), threads, cores > 2)
        return calibration.make_plan(self.max_batch(), spec.batch, threads, cores > 2)

    def max_batch(self) -> int:
        """Most rows per call that fit the memory budget (input, output and largest intermediate, with margin)."""
        spec = self.signature.input
        in_bytes = int(np.prod(spec.sample_shape)) * sum(np.dtype(d).itemsize for d in spec.dtypes)
        footprint = calibration.row_footprint(
            self.model.proto, spec.sample_shape, in_bytes, 4 * self.n_classes
        )
        return calibration.max_rows(footprint, self.memory_budget)

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Check the batch's shape against the model's sample shape; transpose NCHW<->NHWC when needed."""
        x = np.asarray(x)
        shape = self.input_shape
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] == shape:
            return x
        if x.ndim == 4 and self.layout in CHANNEL_LAYOUTS:
            swap = (0, 3, 1, 2) if self.layout == "NCHW" else (0, 2, 3, 1)
            if tuple(x.shape[i] for i in swap[1:]) == shape:
                return np.ascontiguousarray(x.transpose(swap))
        if (
            x.ndim >= 2
            and int(np.prod(x.shape[1:])) == int(np.prod(shape))
            and self.layout in ("flat", "columns")
        ):
            return x.reshape(len(x), *shape)
        raise DataError(
            f"rows of shape {list(x.shape[1:])} do not fit the model's input {list(shape)} ({self.layout})"
        )

    def _to_probabilities(self, values: np.ndarray) -> np.ndarray:
        transform = self.signature.transform
        if transform == "onehot":
            return self._onehot(values)
        scores = values.reshape(len(values), -1).astype(np.float64)
        if transform == "softmax":
            exps = np.exp(scores - scores.max(axis=1, keepdims=True))
            probabilities = exps / exps.sum(axis=1, keepdims=True)
        elif transform == "exp":
            probabilities = np.exp(scores)
        elif transform == "binary":
            probabilities = np.hstack([1.0 - scores, scores])
        elif transform == "binary_sigmoid":
            positive = 1.0 / (1.0 + np.exp(-scores))
            probabilities = np.hstack([1.0 - positive, positive])
        elif transform == "normalise":
            probabilities = scores / scores.sum(axis=1, keepdims=True)
        else:
            probabilities = scores
        return probabilities.astype(np.float32)

    def _onehot(self, labels: np.ndarray) -> np.ndarray:
        flat = np.asarray(labels).reshape(-1)
        uniq, inverse = np.unique(flat, return_inverse=True)
        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in uniq]
        index = np.array([self._label_index.get(k, -1) for k in keys], dtype=np.int64)
        if (index < 0).any():
            unknown = [k for k, i in zip(keys, index) if i < 0][:5]
            raise ModelError(f"the model returned labels {unknown} that are not among its declared classes")
        out = np.zeros((len(flat), self.n_classes), dtype=np.float32)
        out[np.arange(len(flat)), index[inverse]] = 1.0
        return out

    def adopt_class_names(self, names: tuple[str, ...] | None) -> None:
        """Take a data file's class names when the model has only index names of its own and the count fits."""
        if (
            names
            and len(names) == self.n_classes
            and self.class_names == tuple(map(str, range(self.n_classes)))
        ):
            self.class_names = tuple(names)

    def input_values(self, reference: np.ndarray | None = None) -> ValueSet:
        """The values an input element takes: discrete (ids, bytes) when declared or integer-typed (one-tensor
        inputs), bounded by the declared range, else a small integer dtype's, else the `reference` rows' range."""
        spec = self.signature.input
        return ValueSet.infer(spec.dtype, reference, self.options.value_range, self.discrete_input)

    @property
    def discrete_input(self) -> bool:
        """Whether the input holds ids or bytes: as declared, else an integer-typed one-tensor input (not text)."""
        if self.options.discrete is not None:
            return self.options.discrete
        spec = self.signature.input
        return len(spec.names) == 1 and spec.layout != "text" and np.dtype(spec.dtype).kind in "iu"

    def predict_labels(self, x: np.ndarray) -> np.ndarray:
        """Argmax class indices; NaN rows get -1."""
        probs = self.predict(x)
        labels = np.full(len(probs), -1, dtype=np.int64)
        ok = np.isfinite(probs).all(axis=1)
        labels[ok] = probs[ok].argmax(axis=1)
        return labels


def default_batch(spec: InputSpec) -> int:
    """Rows per call: large enough to keep ONNX Runtime busy, small enough for a modest memory budget."""
    row_bytes = int(np.prod(spec.sample_shape)) * max(np.dtype(d).itemsize for d in spec.dtypes)
    return int(max(1, min(MAX_DEFAULT_BATCH, DEFAULT_BATCH_BYTES // max(row_bytes, 1))))


def model_metadata(model: LoadedModel) -> dict[str, str]:
    return {p.key: p.value for p in model.proto.metadata_props}


def check_declared_inputs(model: LoadedModel, limits: Limits) -> None:
    """Refuse, before any session exists, a declared input whose single sample exceeds the row limit."""
    initializers = {t.name for t in model.proto.graph.initializer}
    for value in model.proto.graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim[1:] if d.HasField("dim_value")]
        elements = int(np.prod(np.array(dims, dtype=np.float64))) if dims else 1
        itemsize = 8
        if elements * itemsize > limits.max_row_bytes:
            raise ModelError(
                f"{model.path}: input '{value.name}' declares {elements:,} elements per sample, over the "
                f"{limits.max_row_bytes / 2**20:.0f} MiB row limit; raise it with --max-row-bytes if this is intended"
            )


def check_row_bytes(path: Path, spec: InputSpec, limits: Limits) -> None:
    row = int(np.prod(np.array(spec.sample_shape, dtype=np.float64))) * 8
    if row > limits.max_row_bytes:
        raise ModelError(
            f"{path}: one sample of shape {list(spec.sample_shape)} needs {row / 2**20:.0f} MiB, over the "
            f"{limits.max_row_bytes / 2**20:.0f} MiB row limit; raise it with --max-row-bytes if this is intended"
        )
    if spec.batch and spec.batch * row > limits.max_row_bytes:  # every call is padded to the fixed batch
        raise ModelError(
            f"{path}: the input's fixed batch of {spec.batch:,} rows needs {spec.batch * row / 2**20:,.0f} MiB per call, "
            f"over the {limits.max_row_bytes / 2**20:.0f} MiB row limit; raise it with --max-row-bytes if this is intended"
        )


def probe_rows(spec: InputSpec) -> np.ndarray:
    """A few fixed rows (zeros, ones, uniform, normal) to confirm the output convention.

    Text models get rows of their kind: short strings, or token ids 0..3 (ids every vocabulary has)
    with a full attention mask (a TextModel probes with ids drawn from its tokenizer's vocabulary).
    """
    if spec.layout == "text":
        texts = ["", "a", "the of and to", "hello world"][:PROBE_ROWS]
        return np.array(texts, dtype=object).reshape(len(texts), *spec.sample_shape)
    if spec.layout == "tokens":
        ids = np.arange(PROBE_ROWS)[:, None] % 4 * np.ones(spec.sample_shape[-1], np.int64)
        if len(spec.names) == 1:
            return ids
        planes = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return np.stack([planes.get(name, ids) for name in spec.names], axis=1)
    rng = np.random.default_rng(0)
    shape = spec.sample_shape
    rows = [np.zeros(shape), np.ones(shape), rng.uniform(0, 1, shape), rng.normal(0, 1, shape)]
    return np.stack(rows)[:PROBE_ROWS].astype(np.float32)
