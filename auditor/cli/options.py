"""Options shared by every command that runs a model, and how they turn into library objects."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

from auditor.data import Dataset, Preprocess, is_images, load_data
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
from auditor.model.sandbox import SandboxLimits
from auditor.model.session import DEVICES
from auditor.model.signature import CHANNEL_LAYOUTS, SCORE_KINDS, SETTABLE_LAYOUTS
from auditor.model.vetting import open_vetted


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """A per-sample shape like '3,224,224' (or 3x224x224); None when not given."""
    if text is None:
        return None
    try:
        shape = tuple(int(size) for size in text.replace("x", ",").split(",") if size.strip())
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a shape like 3,224,224") from None
    if not shape or min(shape) <= 0:
        raise click.BadParameter(f"'{text}' is not a shape of positive sizes")
    return shape


class Bounded(click.FloatRange):
    """A float within [low, high]; unlike click.FloatRange it refuses nan (which passes every comparison)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --device, --batch-size, --output, --scores, --input-shape, --layout, limits, sandbox and verbosity."""
    decorators = [
        click.option(
            "--device",
            type=click.Choice(DEVICES),
            default="auto",
            show_default=True,
            help="auto: CUDA when its provider really loads, else CPU.",
        ),
        click.option(
            "--batch-size", type=click.IntRange(1, 2**20), default=None, help="Rows per ONNX Runtime call."
        ),
        click.option(
            "--threads", type=click.IntRange(1, 1024), default=None, help="ONNX Runtime intra-op threads."
        ),
        click.option(
            "--output", "output_name", default=None, help="Name of the output holding class scores."
        ),
        click.option(
            "--scores",
            type=click.Choice(SCORE_KINDS),
            default=None,
            help="What the score output holds, when detection cannot tell.",
        ),
        click.option(
            "--input-shape", default=None, help="Per-sample input shape for dynamic models, e.g. 3,224,224."
        ),
        click.option(
            "--layout",
            type=click.Choice(SETTABLE_LAYOUTS),
            default=None,
            help="Input layout, when detection cannot tell.",
        ),
        click.option(
            "--max-model-bytes",
            type=Bounded(0, 1024),
            default=4.0,
            show_default=True,
            help="Model size cap, GiB.",
        ),
        click.option(
            "--max-initializer-bytes",
            type=Bounded(0, 1024),
            default=4.0,
            show_default=True,
            help="Weights cap, GiB.",
        ),
        click.option(
            "--max-row-bytes",
            type=Bounded(0, 2**20),
            default=256.0,
            show_default=True,
            help="One sample's cap, MiB.",
        ),
        click.option(
            "--trust-model",
            is_flag=True,
            help="Skip the sandboxed first load (child process with memory and time caps) of each model.",
        ),
        click.option(
            "--sandbox-memory",
            type=Bounded(0.25, 1024),
            default=4.0,
            show_default=True,
            help="Memory cap of the sandboxed first load, GiB.",
        ),
        click.option(
            "--load-timeout",
            type=Bounded(1, 86400),
            default=60.0,
            show_default=True,
            help="Time cap of the sandboxed first load, seconds.",
        ),
        click.option(
            "--call-timeout",
            type=Bounded(0, 86400),
            default=300.0,
            show_default=True,
            help="Stop any single model call running longer, seconds (0: no limit).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Keep batch-size and thread calibrations in DIR/calibration.json (nothing is written without it).",
        ),
        click.option("--verbose", is_flag=True, help="Show ONNX Runtime's own log lines."),
        click.option("--quiet", is_flag=True, help="No progress lines on stderr."),
    ]
    return functools.reduce(lambda decorated, option: option(decorated), reversed(decorators), func)


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


def printable(text: object, limit: int = 2000) -> str:
    """Untrusted text made safe for a terminal: control characters escaped, length capped."""
    escaped = "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode("ascii")
        for char in str(text)
    )
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


# ---------------------------------------------------------------- options shared by the explain commands


def class_names_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--class-names", default=None, help="Comma-separated class names (else the data's, metadata, 0..K-1)."
    )(func)


def seed_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of every random step."
    )(func)


def budget_option(
    default: int, what: str, least: int = 1
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--budget",
        type=click.IntRange(least, 10**9),
        default=default,
        show_default=True,
        help=f"Classifier queries {what}.",
    )


def out_option(written: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--out",
        "out_dir",
        default="audit-out",
        show_default=True,
        type=click.Path(file_okay=False),
        help=f"Folder for {written}; nothing is written elsewhere.",
    )


def generator_options(
    generator_help: str, encoder_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--generator and --encoder, as paths to .onnx files."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--encoder", "encoder_path", default=None, type=click.Path(dir_okay=False), help=encoder_help
        )(func)
        return click.option(
            "--generator",
            "generator_path",
            default=None,
            type=click.Path(dir_okay=False),
            help=generator_help,
        )(func)

    return decorate


def parse_class_names(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated class names; None when not given."""
    return tuple(name.strip() for name in text.split(",")) if text else None


def write_json(out: Path, name: str, document: dict[str, Any]) -> Path:
    """Write one document into the output folder as strict JSON (`auditor.jsonable`: NaN as null)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(jsonable(document), indent=2, ensure_ascii=True, allow_nan=False) + "\n")
    return path
