"""An audit's context rebuilt in another process from the verified model bytes, never from a path.

The context this process opened (`Context.open`: sandboxed first load, then the same SHA-256 here)
holds each model as checked bytes with external data inlined. A `Replica` carries those bytes, a
SHA-256 of them, and what else the checks read (config, open options, class names, data); `open`
checks the bytes and builds fresh ONNX Runtime sessions from them (sessions cannot be pickled).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import onnx

from auditor.audit.checks import Context
from auditor.audit.config import AuditConfig
from auditor.data import Dataset
from auditor.errors import ArgumentError, ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import ExternalFile, LoadedModel
from auditor.model.sandbox import SandboxLimits


@dataclass(frozen=True)
class ModelBytes:
    """A checked model's bytes (external data inlined) and what identifies the file they came from."""

    path: Path  # for messages and facts only: never read again
    serialized: bytes
    digest: str  # SHA-256 of `serialized`, checked where the model is rebuilt
    sha256: str  # of the file, as checked
    size: int
    initializer_bytes: int
    external_files: tuple[ExternalFile, ...]

    @classmethod
    def of(cls, model: LoadedModel, keep_outputs: set[str] | None = None) -> ModelBytes:
        """The bytes of `model`; `keep_outputs` drops graph outputs this process added (exposed ZipMap inputs)."""
        proto = model.proto
        if keep_outputs is not None and any(o.name not in keep_outputs for o in proto.graph.output):
            proto = onnx.ModelProto()
            proto.CopyFrom(model.proto)
            kept = [o for o in proto.graph.output if o.name in keep_outputs]
            del proto.graph.output[:]
            proto.graph.output.extend(kept)
        serialized = proto.SerializeToString()
        return cls(
            model.path,
            serialized,
            hashlib.sha256(serialized).hexdigest(),
            model.sha256,
            model.size,
            model.initializer_bytes,
            model.external_files,
        )

    def loaded(self) -> LoadedModel:
        """The model again, after checking that its bytes are those this process was given."""
        if hashlib.sha256(self.serialized).hexdigest() != self.digest:
            raise ModelError(f"{self.path}: the model's bytes changed on their way to a worker; run again")
        proto = onnx.load_model_from_string(self.serialized)
        return LoadedModel(
            self.path, proto, self.sha256, self.size, self.initializer_bytes, self.external_files
        )


@dataclass(frozen=True)
class Replica:
    """Everything a worker needs to run any unit of an audit as this process would."""

    config: AuditConfig
    classifier: ModelBytes
    options: OpenOptions  # how the classifier was opened (the generator and encoder run alike)
    class_names: tuple[str, ...]
    generator: ModelBytes | None
    encoder: ModelBytes | None
    data: Dataset | None
    sandbox: SandboxLimits | None

    @classmethod
    def of(cls, ctx: Context) -> Replica:
        """The replica of an opened context (not of a text classifier's: its tokenizer stays here)."""
        if ctx.text is not None:
            raise ArgumentError(
                "the Ray executor does not run text classifiers yet; audit this model with --executor local"
            )
        blackbox = ctx.blackbox
        if blackbox.calibration is None and blackbox.calibrates:
            blackbox.calibrate()  # settles the row cache (below) before the workers are made
        declared = {o.name for o in blackbox.signature.outputs}
        return cls(
            ctx.config,
            ModelBytes.of(blackbox.model, declared),
            # the row cache as this process settled it (on "auto" the calibration's timings decide),
            # so that a worker counts a unit's queries as this process would
            replace(blackbox.options, cache=blackbox.cache is not None),
            blackbox.class_names,
            ModelBytes.of(ctx.generator.model) if ctx.generator is not None else None,
            ModelBytes.of(ctx.encoder.model) if ctx.encoder is not None else None,
            ctx.data,
            ctx.sandbox,
        )

    def open(self, threads: int) -> Context:
        """A context with its own sessions, each with `threads` intra-op threads (the worker's CPUs)."""
        options = replace(self.options, threads=threads)
        blackbox = BlackBox.from_loaded(self.classifier.loaded(), options)
        blackbox.class_names = self.class_names
        if blackbox.calibrates:  # now, so that no unit's query count holds the calibration's rows
            blackbox.calibrate()
        settings = options.session_settings()
        generator = Generator(self.generator.loaded(), settings) if self.generator is not None else None
        encoder = Encoder(self.encoder.loaded(), settings) if self.encoder is not None else None
        return Context(self.config, blackbox, generator, encoder, self.data, self.sandbox)
