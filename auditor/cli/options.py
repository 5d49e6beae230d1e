"""Options shared by every command that runs a model, and how they turn into library objects."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.loading import GiB, Limits
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


def model_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add --device, --batch-size, --output, --scores, --input-shape, --layout, limits and verbosity."""
    decorators = [
        click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
                     help="auto: CUDA when its provider really loads, else CPU."),
        click.option("--batch-size", type=click.IntRange(1), default=None, help="Rows per ONNX Runtime call."),
        click.option("--threads", type=click.IntRange(1), default=None, help="ONNX Runtime intra-op threads."),
        click.option("--output", "output_name", default=None, help="Name of the output holding class scores."),
        click.option("--scores", type=click.Choice(["logits", "probabilities", "log-probabilities"]), default=None,
                     help="What the score output holds, when detection cannot tell."),
        click.option("--input-shape", default=None, help="Per-sample input shape for dynamic models, e.g. 3,224,224."),
        click.option("--layout", type=click.Choice(["NCHW", "NHWC", "HW", "flat", "tensor"]), default=None,
                     help="Input layout, when detection cannot tell."),
        click.option("--max-model-bytes", type=float, default=4.0, show_default=True, help="Model size cap, GiB."),
        click.option("--max-initializer-bytes", type=float, default=4.0, show_default=True, help="Weights cap, GiB."),
        click.option("--max-row-bytes", type=float, default=256.0, show_default=True, help="One sample's cap, MiB."),
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
    )


def session_settings(kw: dict[str, Any]) -> SessionSettings:
    return SessionSettings(device=kw["device"], threads=kw["threads"], verbose=kw["verbose"])


def open_blackbox(path: str, kw: dict[str, Any], class_names: tuple[str, ...] | None = None) -> BlackBox:
    blackbox = BlackBox.open(path, open_options(kw, class_names))
    say_device(blackbox.provider, kw)
    return blackbox


def open_generator(path: str, kw: dict[str, Any]) -> Generator:
    return Generator.open(path, session_settings(kw), limits_from(kw))


def open_encoder(path: str, kw: dict[str, Any]) -> Encoder:
    return Encoder.open(path, session_settings(kw), limits_from(kw))


def say_device(provider: str, kw: dict[str, Any]) -> None:
    """One line on stderr saying where the model runs (auto only, and not with --quiet)."""
    if kw["device"] == "auto" and not kw["quiet"]:
        click.echo(f"auditor: running on {'CUDA' if provider == 'cuda' else 'CPU'}", err=True)


def printable(text: object, limit: int = 2000) -> str:
    """Untrusted text made safe for a terminal: control characters escaped, length capped."""
    s = str(text)
    s = "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii") for ch in s)
    return s if len(s) <= limit else s[: limit - 3] + "..."
