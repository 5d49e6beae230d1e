"""`auditor inspect MODEL`: IO signature, detected convention, classes, provenance."""

from __future__ import annotations

import json
from typing import Any

import click

from auditor.cli.models import ModelFlags, model_options
from auditor.cli.options import class_names_option
from auditor.cli.output import printable
from auditor.cli.text_commands import TextFlags, inspect_text, text_lines, text_options
from auditor.jsonable import jsonable
from auditor.model.describe import describe


@click.command("inspect")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@class_names_option
@text_options
@model_options
def command(model: str, as_json: bool, class_names: tuple[str, ...] | None, **flags: Any) -> None:
    """Show what the classifier takes and returns, how its scores are read, and the preprocessing in force.

    For a text model, also its kind (optimum, token_ids, strings) and tokenizer, or the flag that settles them.
    """
    model_flags, text = ModelFlags.read(flags), TextFlags.read(flags)
    blackbox, described = inspect_text(model, model_flags, text, class_names)
    info = describe(blackbox)
    if described is not None:
        info["text"] = described
        if described.get("class_names"):  # config.json's id2label beside the model
            info["class_names"] = described["class_names"]
    if as_json:
        click.echo(json.dumps(jsonable(info), indent=2, ensure_ascii=True))
        return
    for line in _lines(info) + (text_lines(described) if described is not None else []):
        click.echo(line)


def values_line(values: dict[str, Any]) -> str:
    """How input values are perturbed: discrete ids replaced within their set, real values given noise."""
    low, high = values["low"], values["high"]
    bounds = "" if low is None or high is None else f" {low:g}..{high:g}"
    if values["discrete"]:
        return f"discrete{bounds or ' (range from the data)'}: perturbed by replacement within the set"
    return f"real{bounds or ''}: perturbed by noise"


def _lines(info: dict[str, Any]) -> list[str]:
    declared = info["input"]
    lines = [
        f"model        {printable(info['path'])}",
        f"sha256       {info['sha256']}",
        f"size         {info['size']:,} bytes, {info['parameters']:,} parameters",
        f"format       IR {info['ir_version']}, opsets {printable(info['opsets'])}",
        f"producer     {printable(info['producer']) or '-'}",
        f"input        {printable(', '.join(declared['names']))}: {declared['dtype']} "
        f"{declared['sample_shape']} {declared['layout']}, batch {declared['fixed_batch'] or 'dynamic'}",
    ]
    lines += [
        f"output       {printable(output['name'])}: {printable(output['type'])} {printable(output['shape'])}"
        for output in info["outputs"]
    ]
    lines += [
        f"convention   {info['convention']} (score output: {printable(info['score_output'])}) - {printable(info['convention_reason'])}",
        f"classes      {info['n_classes']}: {printable(', '.join(info['class_names']), 500)}",
        f"preprocess   {printable(info['preprocess']['summary'], 300)}",
        f"values       {values_line(info['input_values'])}",
        f"device       {info['provider']} (available: {', '.join(info['providers_available'])})",
    ]
    for key, value in info["metadata"].items():
        lines.append(f"metadata     {printable(key, 100)} = {printable(value, 300)}")
    if info["doc_string"]:
        lines.append(f"doc          {printable(info['doc_string'], 300)}")
    return lines
