"""Options shared by every command that runs a model, and how they turn into library objects."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from auditor.data import Dataset, Preprocess, is_images, load_data
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
from auditor.model.sandbox import FirstContact, SandboxLimits, check_in_child, confirm_unchanged
from auditor.model.session import DEVICES, SessionSettings


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
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
            type=click.Choice(["logits", "probabilities", "log-probabilities"]),
            default=None,
            help="What the score output holds, when detection cannot tell.",
        ),
        click.option(
            "--input-shape", default=None, help="Per-sample input shape for dynamic models, e.g. 3,224,224."
        ),
        click.option(
            "--layout",
            type=click.Choice(["NCHW", "NHWC", "HW", "flat", "tensor"]),
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
    return functools.reduce(lambda f, d: d(f), reversed(decorators), func)


def limits_from(kw: dict[str, Any]) -> Limits:
    return Limits(
        max_file_bytes=int(kw["max_model_bytes"] * GiB),
        max_initializer_bytes=int(kw["max_initializer_bytes"] * GiB),
        max_row_bytes=int(kw["max_row_bytes"] * 2**20),
    )


def open_options(kw: dict[str, Any], class_names: tuple[str, ...] | None = None) -> OpenOptions:
    return OpenOptions(
        device=kw["device"],
        batch_size=kw["batch_size"],
        output=kw["output_name"],
        scores=kw["scores"],
        class_names=class_names,
        input_shape=_shape(kw["input_shape"]),
        layout=kw["layout"],
        threads=kw["threads"],
        verbose=kw["verbose"],
        limits=limits_from(kw),
        call_timeout=kw["call_timeout"] or None,
        cache_dir=kw.get("cache_dir"),
    )


def session_settings(kw: dict[str, Any]) -> SessionSettings:
    return SessionSettings(
        device=kw["device"],
        threads=kw["threads"],
        verbose=kw["verbose"],
        call_timeout=kw["call_timeout"] or None,
    )


def sandbox_limits(kw: dict[str, Any]) -> SandboxLimits | None:
    """The sandbox for first contact with each model, or None with --trust-model."""
    if kw["trust_model"]:
        return None
    return SandboxLimits(memory_bytes=int(kw["sandbox_memory"] * GiB), timeout=kw["load_timeout"])


def first_contact(path: str, kind: str, kw: dict[str, Any], options: OpenOptions) -> FirstContact | None:
    """Load the model once in the sandbox before this process opens it (None with --trust-model)."""
    sandbox = sandbox_limits(kw)
    return check_in_child(path, kind, options, sandbox) if sandbox is not None else None


def open_blackbox(
    path: str,
    kw: dict[str, Any],
    class_names: tuple[str, ...] | None = None,
    shape_hint: tuple[int, ...] | None = None,
) -> BlackBox:
    """Open a classifier after its sandboxed first load; `shape_hint` (the data's row shape) settles dynamic dims."""
    options = dataclasses.replace(open_options(kw, class_names), shape_hint=shape_hint)
    contact = first_contact(path, "classifier", kw, options)
    blackbox = BlackBox.open(path, options)
    confirm_unchanged(contact, blackbox.model)
    say_device(blackbox.provider, kw)
    return blackbox


def fit_images(path: str, data: Dataset, blackbox: BlackBox) -> Dataset:
    """Image files read again in the model's channels (grey or RGB) and size when the default read does not fit."""
    if not is_images(path) or blackbox.layout not in ("NCHW", "NHWC"):
        return data
    shape = blackbox.input_shape
    c, h, w = shape if blackbox.layout == "NCHW" else (shape[2], shape[0], shape[1])
    if c not in (1, 3) or data.x.shape[1:] == (c, h, w):
        return data
    return load_data(path, Preprocess(size=(h, w), mode="L" if c == 1 else "RGB"))


def open_generator(path: str, kw: dict[str, Any]) -> Generator:
    contact = first_contact(path, "generator", kw, open_options(kw))
    generator = Generator.open(path, session_settings(kw), limits_from(kw))
    confirm_unchanged(contact, generator.model)
    return generator


def open_encoder(path: str, kw: dict[str, Any]) -> Encoder:
    contact = first_contact(path, "encoder", kw, open_options(kw))
    encoder = Encoder.open(path, session_settings(kw), limits_from(kw))
    confirm_unchanged(contact, encoder.model)
    return encoder


def say_device(provider: str, kw: dict[str, Any]) -> None:
    """One line on stderr saying where the model runs (auto only, and not with --quiet)."""
    if kw["device"] == "auto" and not kw["quiet"]:
        click.echo(f"auditor: running on {'CUDA' if provider == 'cuda' else 'CPU'}", err=True)


def printable(text: object, limit: int = 2000) -> str:
    """Untrusted text made safe for a terminal: control characters escaped, length capped."""
    s = str(text)
    s = "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in s
    )
    return s if len(s) <= limit else s[: limit - 3] + "..."


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
    return tuple(n.strip() for n in text.split(",")) if text else None


def write_json(out: Path, name: str, document: dict[str, Any]) -> Path:
    """Write one JSON document into the output folder (strict JSON: NaN must already be None)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False) + "\n")
    return path
