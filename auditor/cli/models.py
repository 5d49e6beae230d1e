"""The model flags, declared once (`ModelFlags`: each field its click option), and the classifier, generator
and encoder opened from them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from typing import Any

import click

from auditor.cli.parsing import Bounded, parse_range, parse_shape
from auditor.data import Dataset, load_data
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
from auditor.model.preprocess import PreprocessedBlackBox, check_generator_pixels, fit_images
from auditor.model.sandbox import SandboxLimits
from auditor.model.session import DEVICES
from auditor.model.signature import SCORE_KINDS, SETTABLE_LAYOUTS
from auditor.model.vetting import open_vetted
from auditor.preprocessing import PRESETS, PreprocessParams, preset


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
    output_batch_axis: int = flag(
        "--output-batch-axis", 0, "Axis of the score output that holds the rows.", click.IntRange(0, 16)
    )
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
    preprocess: str | None = flag(
        "--preprocess",
        None,
        "Preprocessing contract: data stay 0-255 pixels, the preset's tensor part runs before each call.",
        click.Choice(tuple(PRESETS)),
    )
    discrete: bool = flag("--discrete", False, "The input holds ids or bytes (integer types always do).")
    value_range: str | None = flag(
        "--value-range", None, "Values an input element may take, LOW,HIGH (e.g. 0,255 for bytes)."
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
        contract = self.contract()
        return OpenOptions(
            device=self.device,
            batch_size=self.batch_size,
            output=self.output_name,
            output_batch_axis=self.output_batch_axis,
            scores=self.scores,
            class_names=class_names,
            input_shape=parse_shape(self.input_shape),
            shape_hint=shape_hint,
            layout=self.layout or (contract.layout if contract is not None else None),
            discrete=True if self.discrete else None,
            value_range=parse_range(self.value_range, "--value-range"),
            threads=self.threads,
            verbose=self.verbose,
            limits=self.limits(),
            call_timeout=self.call_timeout or None,
            cache_dir=self.cache_dir,
        )

    def contract(self) -> PreprocessParams | None:
        """The preprocessing contract of --preprocess; None without it (values passed to the model as read)."""
        return preset(self.preprocess) if self.preprocess else None

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
    """Open a classifier after its sandboxed first load, under the --preprocess contract, and say where it runs."""
    blackbox = open_vetted(
        path, "classifier", flags.to_open_options(class_names, shape_hint), flags.sandbox_limits()
    )
    say_device(blackbox.provider, flags)
    contract = flags.contract()
    return blackbox if contract is None else PreprocessedBlackBox(blackbox, contract)


def open_with_data(
    path: str,
    flags: ModelFlags,
    data_path: str,
    class_names: tuple[str, ...] | None,
    labels: bool = False,
) -> tuple[BlackBox, Dataset]:
    """A classifier and its data: read under the contract (images at the model's size when it leaves it open),
    class names from the flag, else the data file's, else the model's; `labels` maps label names to indices."""
    contract = flags.contract()
    data = load_data(data_path, contract)
    blackbox = open_blackbox(path, flags, class_names, data.x.shape[1:])
    if class_names is None:
        blackbox.adopt_class_names(data.class_names)
    data = fit_images(data_path, data, blackbox, contract)
    return blackbox, data.with_class_names(blackbox.class_names, data_path) if labels else data


def read_more(path: str, flags: ModelFlags, blackbox: BlackBox) -> Dataset:
    """Further rows (a reference set) read like the command's data."""
    contract = flags.contract()
    return fit_images(path, load_data(path, contract), blackbox, contract)


def open_generator(path: str, flags: ModelFlags) -> Generator:
    """Open a generator (latent z -> model input) after its sandboxed first load; under --preprocess, one
    whose rows are pixels (0-255)."""
    generator = open_vetted(path, "generator", flags.to_open_options(), flags.sandbox_limits())
    contract = flags.contract()
    if contract is not None:
        check_generator_pixels(generator, contract)
    return generator


def open_encoder(path: str, flags: ModelFlags) -> Encoder:
    """Open an encoder (model input -> latent z) after its sandboxed first load."""
    return open_vetted(path, "encoder", flags.to_open_options(), flags.sandbox_limits())


def say_device(provider: str, flags: ModelFlags) -> None:
    """One line on stderr saying where the model runs (auto only, and not with --quiet)."""
    if flags.device == "auto" and not flags.quiet:
        click.echo(f"auditor: running on {'CUDA' if provider == 'cuda' else 'CPU'}", err=True)
