"""The click flags that the explain commands share (the model flags are `cli.models.ModelFlags`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from auditor.cli.models import model_options
from auditor.labels import class_names_argument
from auditor.search.registry import METHODS


class ClassNames(click.ParamType):
    """--class-names: a file of names (one per line, JSON list or {index: name}, config.json), else NAME,NAME."""

    name = "file|names"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value if isinstance(value, tuple) or value is None else class_names_argument(str(value))


def class_names_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--class-names",
        type=ClassNames(),
        default=None,
        help="A file of class names (one per line, a JSON list or {index: name}, a config.json with id2label), "
        "or comma-separated names (else the data's, the model's metadata, 0..K-1).",
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


def run_options(written: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--seed, --out (the folder for `written`) and every model flag: the last flags of each explain command."""
    seed = click.option(
        "--seed", type=click.IntRange(0), default=0, show_default=True, help="Seed of every random step."
    )
    out = click.option(
        "--out",
        "out_dir",
        default="audit-out",
        show_default=True,
        type=click.Path(file_okay=False),
        help=f"Folder for {written}; nothing is written elsewhere.",
    )
    return lambda func: seed(out(model_options(func)))


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
