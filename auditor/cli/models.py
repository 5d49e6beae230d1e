"""The model flags, declared once (`ModelFlags`: each field its click option), and the classifier, generator
and encoder opened from them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from typing import Any

import click

from auditor.cli.parsing import Bounded, parse_shape
from auditor.data import Dataset, Preprocess, is_images, load_data
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
from auditor.model.sandbox import SandboxLimits
from auditor.model.session import DEVICES
from auditor.model.signature import CHANNEL_LAYOUTS, SCORE_KINDS, SETTABLE_LAYOUTS
from auditor.model.vetting import open_vetted


def flag(name: str, default: Any, help_text: str, kind: click.ParamType | None = None) -> Any:
    """A field of `ModelFlags` and its click option `name` (a switch when the default is a bool)."""
    return field(default=default, metadata={"flag": (name, kind, help_text)})


def as_option(spec: Field[Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of a `ModelFlags` field; its value arrives under the field's name."""
    name, kind, help_text = spec.metadata["flag"]
    if isinstance(spec.default, bool):
        return click.option(name, spec.name, is_flag=True, help=help_text)
    shown = spec.default is not None
    return click.option(name, spec.name, type=kind, default=spec.default, show_default=shown, help=help_text)


@dataclass(frozen=True)
class ModelFlags:
    """The flags `model_options` adds to a command, typed; `read` picks them out of click's keyword arguments."""

    device: str = flag(
        "--device", "auto", "auto: CUDA when its provider really loads, else CPU.", click.Choice(DEVICES)
    )
    batch_size: int | None = flag(
        "--batch-size", None, "Rows per ONNX Runtime call.", click.IntRange(1, 2**20)
    )
    threads: int | None = flag("--threads", None, "ONNX Runtime intra-op threads.", click.IntRange(1, 1024))
    output_name: str | None = flag("--output", None, "Name of the output holding class scores.")
    scores: str | None = flag(
        "--scores",
        None,
        "What the score output holds, when detection cannot tell.",
        click.Choice(SCORE_KINDS),
    )
    input_shape: str | None = flag(
        "--input-shape", None, "Per-sample input shape for dynamic models, e.g. 3,224,224."
    )
    layout: str | None = flag(
        "--layout", None, "Input layout, when detection cannot tell.", click.Choice(SETTABLE_LAYOUTS)
    )
    max_model_bytes: float = flag("--max-model-bytes", 4.0, "Model size cap, GiB.", Bounded(0, 1024))
    max_initializer_bytes: float = flag("--max-initializer-bytes", 4.0, "Weights cap, GiB.", Bounded(0, 1024))
    max_row_bytes: float = flag("--max-row-bytes", 256.0, "One sample's cap, MiB.", Bounded(0, 2**20))
    trust_model: bool = flag(
        "--trust-model",
        False,
        "Skip the sandboxed first load (child process with memory and time caps) of each model.",
    )
    sandbox_memory: float = flag(
        "--sandbox-memory", 4.0, "Memory cap of the sandboxed first load, GiB.", Bounded(0.25, 1024)
    )
    load_timeout: float = flag(
        "--load-timeout", 60.0, "Time cap of the sandboxed first load, seconds.", Bounded(1, 86400)
    )
    call_timeout: float = flag(
        "--call-timeout",
        300.0,
        "Stop any single model call running longer, seconds (0: no limit).",
        Bounded(0, 86400),
    )
    cache_dir: str | None = flag(
        "--cache-dir",
        None,
        "Keep batch-size and thread calibrations in DIR/calibration.json (nothing is written without it).",
        click.Path(file_okay=False),
    )
    verbose: bool = flag("--verbose", False, "Show ONNX Runtime's own log lines.")
    quiet: bool = flag("--quiet", False, "No progress lines on stderr.")

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


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add every `ModelFlags` option: device, batch size, output, scores, shape, layout, caps, sandbox, verbosity."""
    return functools.reduce(
        lambda decorated, spec: as_option(spec)(decorated), reversed(fields(ModelFlags)), func
    )


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
