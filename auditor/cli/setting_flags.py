"""Flags over config settings: a flag's type, bounds, choices and help come from the setting's `knob()`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

import click

from auditor.audit.schema import Knob
from auditor.cli.parsing import Bounded
from auditor.report.interface import fmt


class CommaList(click.ParamType):
    """A comma-separated list, read as a tuple of stripped strings (an empty text: not given)."""

    name = "list"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple) or not value:
            return value or None
        return tuple(item.strip() for item in str(value).split(","))


def setting_flag(flag: str, section: type[Any], name: str, dest: str | None = None) -> Callable[[Any], Any]:
    """A flag (parameter `dest`, else `name`) that overrides setting `name` of the config dataclass `section`."""
    spec = next(f for f in fields(section) if f.name == name)
    knob: Knob = spec.metadata["knob"]
    kind: click.ParamType | None = CommaList() if knob.kind == "strs" else None
    if knob.choices and knob.kind == "str":
        kind = click.Choice(knob.choices)
    elif knob.within is not None and knob.kind in ("int", "pos"):
        kind = click.IntRange(int(knob.within[0]), int(knob.within[1]))
    elif knob.within is not None and knob.kind == "float":
        kind = Bounded(*knob.within)
    help_text = knob.help[0].upper() + knob.help[1:]
    if spec.default not in (MISSING, None):
        shown = ",".join(spec.default) if isinstance(spec.default, tuple) else fmt(spec.default)
        help_text += f" [default: {shown}]"
    return click.option(flag, dest or name, type=kind, default=None, help=f"{help_text}.")
