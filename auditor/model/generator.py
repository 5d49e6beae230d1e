"""Generator (z -> x) and Encoder (x -> z) wrappers around single-input, single-output ONNX graphs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

import numpy as np

from auditor.errors import ConventionError, DataError, ModelError
from auditor.model.loading import Limits, LoadedModel, load_model
from auditor.model.session import BatchRunner, SessionSettings, create_session, provider_of
from auditor.model.signature import FLOAT_TYPES, ORT_DTYPES, dims_of

PRIORS = ("normal", "uniform")
DEFAULT_BATCH = 1024
MAX_FIXED_BATCH = 4096


class OnnxFunction:
    """A checked ONNX graph with one numeric input and one float output, run in batches with counters."""

    role = "model"

    def __init__(self, model: LoadedModel, settings: SessionSettings) -> None:
        self.model = model
        self.session = create_session(model, settings)
        self.provider = provider_of(self.session)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or inputs[0].type not in ORT_DTYPES:
            raise ConventionError(f"{model.path}: a {self.role} needs exactly one numeric tensor input")
        float_outputs = [o for o in outputs if o.type in FLOAT_TYPES]
        if not float_outputs:
            raise ConventionError(f"{model.path}: a {self.role} needs a float tensor output")
        self.input_name = inputs[0].name
        self.input_dims = dims_of(inputs[0].shape)
        self.output_name = float_outputs[0].name
        first = self.input_dims[0] if self.input_dims else None
        fixed = first if isinstance(first, int) and first > 0 else None
        if fixed is not None and fixed > MAX_FIXED_BATCH:  # every call is padded to it
            raise ModelError(
                f"{model.path}: a {self.role} with a fixed batch of {fixed:,} rows is not supported (at most "
                f"{MAX_FIXED_BATCH:,}); ask for an export with a dynamic batch axis"
            )
        self.runner = BatchRunner(
            self.session,
            (self.input_name,),
            (ORT_DTYPES[inputs[0].type],),
            fixed,
            DEFAULT_BATCH,
            settings.call_timeout,
        )
        self.metadata = {p.key: p.value for p in model.proto.metadata_props}

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        settings: SessionSettings = SessionSettings(),
        limits: Limits = Limits(),
    ) -> Self:
        return cls(load_model(path, limits), settings)

    @property
    def path(self) -> Path:
        return self.model.path

    @property
    def queries(self) -> int:
        return self.runner.rows

    @property
    def ort_seconds(self) -> float:
        return self.runner.seconds

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if len(x) == 0:
            raise DataError(f"{self.role} called with no rows")
        (out,) = self.runner.run(x, [self.output_name])
        return np.asarray(out, dtype=np.float32)


class Generator(OnnxFunction):
    """Maps latent vectors z (n, d) to inputs x (n, *output_shape); the prior is read from metadata."""

    role = "generator"

    def __init__(self, model: LoadedModel, settings: SessionSettings) -> None:
        super().__init__(model, settings)
        declared = self.input_dims[1:] if len(self.input_dims) == 2 else ()
        latent = (
            declared[0]
            if declared and isinstance(declared[0], int)
            else self.metadata.get("auditor.latent_dim")
        )
        try:
            self.latent_dim = int(latent)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConventionError(
                f"{model.path}: cannot tell the latent size (input {list(self.input_dims)}); declare it as (N, d)"
            ) from None
        self.prior = self.metadata.get("auditor.prior", "normal")
        if self.prior not in PRIORS:
            raise ConventionError(
                f"{model.path}: unknown prior '{self.prior[:40]}' in metadata; use normal or uniform"
            )
        self.output_shape = tuple(self(np.zeros((1, self.latent_dim), np.float32)).shape[1:])
        self.runner.rows = 0

    def generate(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f"latent vectors must have shape (n, {self.latent_dim}), got {list(z.shape)}")
        return self(z)

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.prior == "uniform":
            return rng.uniform(-1.0, 1.0, (n, self.latent_dim))
        return rng.standard_normal((n, self.latent_dim))


class Encoder(OnnxFunction):
    """Maps inputs x (n, *shape) to latent vectors z (n, d)."""

    role = "encoder"

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        want = self.input_dims[1:]
        if self.input_dims and (
            len(want) != x.ndim - 1
            or any(isinstance(w, int) and w != got for w, got in zip(want, x.shape[1:]))
        ):
            raise DataError(
                f"{self.path}: the encoder takes rows of shape {list(want)}, got {list(x.shape[1:])}; "
                "use the encoder made for this generator"
            )
        z = self(x)
        return z.reshape(len(z), -1)
