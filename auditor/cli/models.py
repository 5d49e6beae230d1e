"""The model flags typed (`ModelFlags`), and the classifier, generator and encoder opened from them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import click

from auditor.cli.parsing import parse_shape
from auditor.data import Dataset, Preprocess, is_images, load_data
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
from auditor.model.sandbox import SandboxLimits
from auditor.model.signature import CHANNEL_LAYOUTS
from auditor.model.vetting import open_vetted


@dataclass(frozen=True)
class ModelFlags:
    """The flags `model_options` adds to a command, typed; `read` picks them out of click's keyword arguments."""

    device: str
    batch_size: int | None
    threads: int | None
    output_name: str | None
    scores: str | None
    input_shape: str | None
    layout: str | None
    max_model_bytes: float  # GiB
    max_initializer_bytes: float  # GiB
    max_row_bytes: float  # MiB
    trust_model: bool
    sandbox_memory: float  # GiB
    load_timeout: float  # seconds
    call_timeout: float  # seconds, 0: no limit
    cache_dir: str | None
    verbose: bool
    quiet: bool

    @classmethod
    def read(cls, arguments: dict[str, Any]) -> ModelFlags:
        """The model flags among a command's keyword arguments."""
        return cls(**{flag.name: arguments[flag.name] for flag in fields(cls)})

    def limits(self) -> Limits:
        return Limits(
            max_file_bytes=int(self.max_model_bytes * GiB),
            max_initializer_bytes=int(self.max_initializer_bytes * GiB),
            max_row_bytes=int(self.max_row_bytes * 2**20),
        )

    def to_open_options(
        self, class_names: tuple[str, ...] | None = None, shape_hint: tuple[int, ...] | None = None
    ) -> OpenOptions:
        """How to open models; `shape_hint` (the data's row shape) settles dynamic per-sample dimensions."""
        return OpenOptions(
            device=self.device,
            batch_size=self.batch_size,
            output=self.output_name,
            scores=self.scores,
            class_names=class_names,
            input_shape=parse_shape(self.input_shape),
            shape_hint=shape_hint,
            layout=self.layout,
            threads=self.threads,
            verbose=self.verbose,
            limits=self.limits(),
            call_timeout=self.call_timeout or None,
            cache_dir=self.cache_dir,
        )

    def sandbox_limits(self) -> SandboxLimits | None:
        """The limits of the first load of each model in a child process; None with --trust-model."""
        if self.trust_model:
            return None
        return SandboxLimits(memory_bytes=int(self.sandbox_memory * GiB), timeout=self.load_timeout)


def open_blackbox(
    path: str,
    flags: ModelFlags,
    class_names: tuple[str, ...] | None = None,
    shape_hint: tuple[int, ...] | None = None,
) -> BlackBox:
    """Open a classifier after its sandboxed first load and say where it runs."""
    blackbox = open_vetted(
        path, "classifier", flags.to_open_options(class_names, shape_hint), flags.sandbox_limits()
    )
    say_device(blackbox.provider, flags)
    return blackbox


def open_generator(path: str, flags: ModelFlags) -> Generator:
    """Open a generator (latent z -> model input) after its sandboxed first load."""
    return open_vetted(path, "generator", flags.to_open_options(), flags.sandbox_limits())


def open_encoder(path: str, flags: ModelFlags) -> Encoder:
    """Open an encoder (model input -> latent z) after its sandboxed first load."""
    return open_vetted(path, "encoder", flags.to_open_options(), flags.sandbox_limits())


def fit_images(path: str, data: Dataset, blackbox: BlackBox) -> Dataset:
    """Image files read again in the model's channels (grey or RGB) and size when the default read does not fit."""
    if not is_images(path) or blackbox.layout not in CHANNEL_LAYOUTS:
        return data
    shape = blackbox.input_shape
    channels, height, width = shape if blackbox.layout == "NCHW" else (shape[2], shape[0], shape[1])
    if channels not in (1, 3) or data.x.shape[1:] == (channels, height, width):
        return data
    return load_data(path, Preprocess(size=(height, width), mode="L" if channels == 1 else "RGB"))


def say_device(provider: str, flags: ModelFlags) -> None:
    """One line on stderr saying where the model runs (auto only, and not with --quiet)."""
    if flags.device == "auto" and not flags.quiet:
        click.echo(f"auditor: running on {'CUDA' if provider == 'cuda' else 'CPU'}", err=True)
