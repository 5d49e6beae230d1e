"""The click flags that several commands share: model flags (typed by `cli.models.ModelFlags`) and explain flags."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import click

from auditor.model.session import DEVICES
from auditor.model.signature import SCORE_KINDS, SETTABLE_LAYOUTS
from auditor.search.registry import METHODS


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


def method_option(default: str, help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--method: a search method of `auditor.search.registry` (aliases included)."""
    return click.option(
        "--method", type=click.Choice(METHODS), default=default, show_default=True, help=help_text
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
