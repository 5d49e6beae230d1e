"""ONNX Runtime sessions: provider choice, session options, quiet logs. The only module that builds sessions."""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import onnx
import onnxruntime as ort

from auditor.errors import ConventionError, DeviceError, ModelError
from auditor.model.budget import Budget
from auditor.model.loading import LoadedModel
from auditor.model.watchdog import watch

DEVICES = ("auto", "cpu", "cuda")
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class SessionSettings:
    """How to run a model: device, threads, verbosity."""

    device: str = "auto"
    threads: int | None = None
    spinning: bool = False
    verbose: bool = False
    call_timeout: float | None = None


def set_verbosity(verbose: bool) -> None:
    """Keep ONNX Runtime's own log lines off the terminal unless asked for."""
    ort.set_default_logger_severity(0 if verbose else 3)


#: CUDA provider options, set deliberately: grow the arena only by what is asked (no power-of-two
#: doubling on a shared GPU), cuDNN's heuristic instead of timing every algorithm for each new batch
#: shape, no TF32 so that results match the CPU to float32 tolerance, copies on the default stream.
CUDA_OPTIONS = {
    "device_id": "0",
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_algo_search": "HEURISTIC",
    "use_tf32": "0",
    "do_copy_in_default_stream": "1",
}


@cache
def cuda_available() -> bool:
    """True only when the CUDA provider is built in, a driver loads, and a tiny graph really runs on it."""
    if CUDA not in ort.get_available_providers():
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from nvidia-* wheels, when installed; it prints, so muted
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            ort.preload_dlls(cuda=True, cudnn=True, msvc=False, directory="")
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "probe", [value("x", 1, [1])], [value("y", 1, [1])])
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    proto.ir_version = 8
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=[(CUDA, CUDA_OPTIONS), CPU], enable_fallback=0
        )
    except Exception:  # any failure to bring the provider up means no CUDA here
        return False
    return session.get_providers()[0] == CUDA


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def spare_core() -> bool:
    """Whether about one core is free: the 1-minute load average (this process's busy threads included) is at
    most cores - 0.5. On a 2-core box, False as soon as a neighbour keeps the other core busy."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return True
    return load <= cpu_cores() - 0.5


def default_threads() -> int:
    """One intra-op thread on small shared runners (2 threads lose up to 45 % under contention)."""
    cores = cpu_cores()
    return 1 if cores <= 2 else min(cores // 2, 8)


def create_session(model: LoadedModel, settings: SessionSettings) -> ort.InferenceSession:
    """Build one session for a checked model; CUDA only when it really loads."""
    if settings.device not in DEVICES:
        raise DeviceError(f"unknown device '{settings.device}'; use one of {', '.join(DEVICES)}")
    set_verbosity(settings.verbose)
    options = ort.SessionOptions()
    options.log_severity_level = (
        0 if settings.verbose else 4
    )  # errors come back as exceptions: no second line
    options.intra_op_num_threads = settings.threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.spinning else "0")
    want_cuda = settings.device == "cuda" or (settings.device == "auto" and cuda_available())
    if settings.device == "cuda" and not cuda_available():
        raise DeviceError("--device cuda: no usable CUDA GPU or CUDA provider here; use --device cpu or auto")
    serialized = model.serialized()
    session = None
    if want_cuda:
        try:  # no ORT fallback (it prints to stdout); auto falls back to the CPU below, quietly
            session = ort.InferenceSession(
                serialized, sess_options=options, providers=[(CUDA, CUDA_OPTIONS), CPU], enable_fallback=0
            )
        except Exception as exc:  # ORT raises Fail/InvalidGraph/NotImplemented/RuntimeException subclasses
            if settings.device == "cuda":
                message = " ".join(str(exc).split())[:300]
                raise ModelError(
                    f"{model.path}: ONNX Runtime cannot load this model on CUDA: {message}"
                ) from None
    if session is None:
        try:
            session = ort.InferenceSession(
                serialized, sess_options=options, providers=[CPU], enable_fallback=0
            )
        except Exception as exc:  # ORT raises Fail/InvalidGraph/NotImplemented/RuntimeException subclasses
            message = " ".join(str(exc).split())[:300]
            raise ModelError(f"{model.path}: ONNX Runtime cannot load this model: {message}") from None
    if settings.device == "cuda" and session.get_providers()[0] != CUDA:
        raise DeviceError("--device cuda: the CUDA provider did not load; use --device cpu or auto")
    return session


def provider_of(session: ort.InferenceSession) -> str:
    return "cuda" if session.get_providers()[0] == CUDA else "cpu"


class BatchRunner:
    """Feeds rows to one session in chunks, honours a fixed batch size, and counts rows, calls and time."""

    def __init__(
        self,
        session: ort.InferenceSession,
        names: tuple[str, ...],
        dtypes: tuple[str, ...],
        fixed_batch: int | None,
        batch_size: int,
        call_timeout: float | None = None,
        batch_axis: int = 0,
    ) -> None:
        """batch_axis: where the outputs hold the rows (moved first; an EEG model's (time, N, K) has 1)."""
        self.session = session
        self.batch_axis = batch_axis
        self.call_timeout = call_timeout
        self.names = names
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        self.fixed_batch = fixed_batch
        self.batch_size = fixed_batch or max(1, batch_size)
        self.rows = 0
        self.calls = 0
        self.seconds = 0.0
        self.budget: Budget | None = None
        #: Told (rows, seconds) after every successful call: how the black box re-checks its thread choice.
        self.on_call: Callable[[int, float], None] | None = None

    def run(self, x: np.ndarray, outputs: list[str], index: np.ndarray | None = None) -> list[np.ndarray]:
        """Run rows x[index] (all rows when index is None; index ascending) and concatenate each output.

        x is already in the model's per-sample shape. Chunks are views of x where the index runs
        contiguously, and gathered one chunk at a time elsewhere, so a few skipped rows cost no full copy.
        """
        n = len(x) if index is None else len(index)
        budget = self.budget
        if budget is not None:
            budget.charge(n)
        parts: list[list[np.ndarray]] = [[] for _ in outputs]
        sent = 0
        try:
            for start in range(0, n, self.batch_size):
                if start and budget is not None:
                    budget.check_time()  # a large batch stops within one call of the deadline
                stop = min(n, start + self.batch_size)
                if index is None:
                    chunk = x[start:stop]
                else:
                    rows = index[start:stop]
                    contiguous = rows[-1] - rows[0] == len(rows) - 1
                    chunk = x[rows[0] : rows[-1] + 1] if contiguous else x[rows]
                for i, value in enumerate(self._run_chunk(chunk, outputs)):
                    parts[i].append(value)
                sent = stop
        finally:
            self.rows += sent
            if budget is not None and sent < n:
                budget.refund(n - sent)
        return [_concat(p) for p in parts]

    def _run_chunk(self, chunk: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        n = len(chunk)
        if self.fixed_batch and n < self.fixed_batch:
            pad = np.repeat(chunk[-1:], self.fixed_batch - n, axis=0)
            chunk = np.concatenate([chunk, pad])
        feed = self.feed(chunk)
        started = time.perf_counter()
        guard = watch(self.call_timeout)
        try:
            with guard:
                values = self.session.run(outputs, feed, guard.run_options)
        except Exception as exc:  # ORT raises its own exception types for bad shapes and kernels
            if guard.fired:
                raise ModelError(
                    f"one model call on {n} rows ran past the {self.call_timeout:g} s limit and was stopped; "
                    "raise --call-timeout if the model is just slow"
                ) from None
            message = " ".join(str(exc).split())[:300]
            raise ModelError(f"ONNX Runtime failed on a batch of {n} rows: {message}") from None
        finally:
            elapsed = time.perf_counter() - started
            self.seconds += elapsed
            self.calls += 1
        if self.on_call is not None:
            self.on_call(len(chunk), elapsed)
        if self.batch_axis:
            ranks = [np.ndim(v) for v in values]
            if min(ranks) <= self.batch_axis:
                raise ConventionError(
                    f"output batch axis {self.batch_axis}: the output has {min(ranks)} axes (0..{min(ranks) - 1})"
                )
            values = [np.moveaxis(np.asarray(v), self.batch_axis, 0) for v in values]
        return [_batched(np.asarray(v), len(chunk))[:n] for v in values]

    def cast(self, x: np.ndarray) -> np.ndarray:
        """Rows in the dtype a one-input session takes (no copy when they already are); others unchanged."""
        return _cast(x, self.dtypes[0]) if len(self.names) == 1 else x

    def feed(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """The input dict for one call on these rows."""
        if len(self.names) == 1:
            return {self.names[0]: _cast(chunk, self.dtypes[0])}
        if chunk.ndim == 3:  # token rows stack their inputs: (n, inputs, length)
            return {
                name: _cast(chunk[:, i], dtype)
                for i, (name, dtype) in enumerate(zip(self.names, self.dtypes))
            }
        return {
            name: _cast(chunk[:, i : i + 1], dtype)
            for i, (name, dtype) in enumerate(zip(self.names, self.dtypes))
        }


def _batched(value: np.ndarray, rows: int) -> np.ndarray:
    """Give a batch axis back to outputs of fixed-batch-1 models that drop it (e.g. logits of shape (K,))."""
    if rows == 1 and (value.ndim == 0 or value.shape[0] != 1):
        return value[None]
    return value


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype == dtype and x.flags.c_contiguous:
        return x
    if dtype.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        x = np.clip(np.rint(x), info.min, info.max)
    return np.ascontiguousarray(x, dtype=dtype)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
