"""Flag text read into values: bounded numbers, shapes, class and feature names or indices, row lists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click
import numpy as np

from auditor import labels
from auditor.cli.output import printable
from auditor.errors import ArgumentError, DataError
from auditor.explain.counterfactuals import NAMED_TARGETS, NamedTarget


class Bounded(click.FloatRange):
    """A float within [low, high]; unlike click.FloatRange it refuses nan (which passes every comparison)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


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


def parse_range(text: str | None, flag: str) -> tuple[float, float] | None:
    """LOW,HIGH (e.g. 0,255); None when not given."""
    if text is None:
        return None
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{flag}: '{printable(text, 40)}' is not LOW,HIGH like 0,255") from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise click.BadParameter(f"{flag}: '{printable(text, 40)}' must be finite with LOW <= HIGH")
    return low, high


def named_index(text: str, names: Sequence[str] | None, size: int, what: str, flag: str) -> int:
    """One item given by its name (among `names`) or its index below `size`; `what` names the kind."""
    text = text.strip()
    if names and text in names:
        return list(names).index(text)
    if text.isdigit() and int(text) < size:
        return int(text)
    raise ArgumentError(
        f"{flag}: '{printable(text, 40)}' is neither a {what} index 0..{size - 1} nor a {what} name"
    )


def class_index(text: str, class_names: tuple[str, ...], flag: str) -> int:
    """A class given by name or index (`auditor.labels`: a name first, then an index)."""
    return labels.class_index(text, class_names, flag)


def parse_classes(text: str, class_names: tuple[str, ...]) -> list[int] | None:
    """--classes: 'all' -> None; otherwise comma-separated class names or indices -> indices."""
    if text.strip().lower() == "all":
        return None
    return list(labels.class_indices(text, class_names, "--classes"))


def parse_features(text: str | None, names: tuple[str, ...] | None, size: int, flag: str) -> tuple[int, ...]:
    """Comma-separated feature indices or names -> indices; () when not given."""
    if not text:
        return ()
    return tuple(named_index(item, names, size, "feature", flag) for item in text.split(",") if item.strip())


def parse_rows(text: str, n: int) -> list[int]:
    """--index: 'all', one index, or comma-separated indices into n rows."""
    if text.strip().lower() == "all":
        return list(range(n))
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ArgumentError(
            f"--index: '{printable(text, 40)}' is not an index, a list like 0,4,7, or all"
        ) from None
    if not rows or any(not 0 <= row < n for row in rows):
        raise DataError(f"--index: rows must be in 0..{n - 1}, got {printable(text, 40)}")
    return rows


def parse_target(text: str, class_names: tuple[str, ...]) -> int | NamedTarget:
    """--target: 'second' or 'any' as they are, else a class name or index."""
    for word in NAMED_TARGETS:
        if text.strip() == word:
            return word
    return class_index(text, class_names, "--target")


def load_groups(path: str) -> np.ndarray:
    """--groups: group ids from a .npy array or a CSV of integers (one row of a table, or an image's rows)."""
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, delimiter=",", ndmin=1)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(
            f"{printable(path, 80)}: cannot read the group ids ({printable(str(exc), 120)})"
        ) from None
