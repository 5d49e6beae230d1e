"""ONNX Runtime sessions: provider choice, session options, quiet logs. The only module that builds sessions."""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass
from functools import cache

import numpy as np
import onnxruntime as ort

from auditor.errors import DeviceError, ModelError
from auditor.model.loading import LoadedModel

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


def set_verbosity(verbose: bool) -> None:
    """Keep ONNX Runtime's own log lines off the terminal unless asked for."""
    ort.set_default_logger_severity(0 if verbose else 3)


@cache
def cuda_available() -> bool:
    """True only when the CUDA provider is built in and a CUDA driver can be loaded."""
    if CUDA not in ort.get_available_providers():
        return False
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def default_threads() -> int:
    """One intra-op thread on small shared runners (2 threads lose up to 45 % under contention)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1 if cores <= 2 else min(cores // 2, 8)


def create_session(model: LoadedModel, settings: SessionSettings) -> ort.InferenceSession:
    """Build one session for a checked model; CUDA only when it really loads."""
    if settings.device not in DEVICES:
        raise DeviceError(f"unknown device '{settings.device}'; use one of {', '.join(DEVICES)}")
    set_verbosity(settings.verbose)
    options = ort.SessionOptions()
    options.log_severity_level = 0 if settings.verbose else 3
    options.intra_op_num_threads = settings.threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.spinning else "0")
    want_cuda = settings.device == "cuda" or (settings.device == "auto" and cuda_available())
    if settings.device == "cuda" and not cuda_available():
        raise DeviceError("--device cuda: no usable CUDA GPU or CUDA provider here; use --device cpu or auto")
    providers: list[str | tuple[str, dict[str, str]]] = [CPU]
    if want_cuda:
        providers.insert(0, (CUDA, {"arena_extend_strategy": "kSameAsRequested", "cudnn_conv_algo_search": "HEURISTIC"}))
    try:
        session = ort.InferenceSession(model.serialized(), sess_options=options, providers=providers)
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
    ) -> None:
        self.session = session
        self.names = names
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        self.fixed_batch = fixed_batch
        self.batch_size = fixed_batch or max(1, batch_size)
        self.rows = 0
        self.calls = 0
        self.seconds = 0.0

    def run(self, x: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        """Run all rows of x (already in the model's per-sample shape) and concatenate each output."""
        parts: list[list[np.ndarray]] = [[] for _ in outputs]
        for start in range(0, len(x), self.batch_size):
            chunk = x[start : start + self.batch_size]
            for i, value in enumerate(self._run_chunk(chunk, outputs)):
                parts[i].append(value)
        self.rows += len(x)
        return [_concat(p) for p in parts]

    def _run_chunk(self, chunk: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        n = len(chunk)
        if self.fixed_batch and n < self.fixed_batch:
            pad = np.repeat(chunk[-1:], self.fixed_batch - n, axis=0)
            chunk = np.concatenate([chunk, pad])
        feed = self._feed(chunk)
        started = time.perf_counter()
        try:
            values = self.session.run(outputs, feed)
        except Exception as exc:  # ORT raises its own exception types for bad shapes and kernels
            message = " ".join(str(exc).split())[:300]
            raise ModelError(f"ONNX Runtime failed on a batch of {n} rows: {message}") from None
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1
        return [_as_array(v)[:n] for v in values]

    def _feed(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        if len(self.names) == 1:
            return {self.names[0]: _cast(chunk, self.dtypes[0])}
        return {name: _cast(chunk[:, i : i + 1], dtype) for i, (name, dtype) in enumerate(zip(self.names, self.dtypes))}


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype == dtype and x.flags.c_contiguous:
        return x
    if dtype.kind in "iu" and x.dtype.kind == "f":
        info = np.iinfo(dtype)
        x = np.clip(np.rint(x), info.min, info.max)
    return np.ascontiguousarray(x, dtype=dtype)


def _as_array(value: object) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    return np.asarray(value)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
