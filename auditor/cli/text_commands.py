"""Text classifiers on the command line: the text flags, how a command tells that it runs on text, and the
text forms of `attribute`, `counterfactual`, `exemplars` and `inspect` (each: flags -> one library call ->
to_dict -> write).

A command runs on text when --tokenizer or --max-length is given, when its data file is text (.txt,
.jsonl, or a .csv with a text column), or when the model itself takes token ids or strings.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from auditor.cli.models import ModelFlags, open_blackbox, say_device
from auditor.cli.output import printable, write_json
from auditor.cli.parsing import class_index, parse_target
from auditor.errors import AuditorError, DataError
from auditor.explain.exemplars import ExemplarParams
from auditor.explain.text import (
    WORD_METHODS,
    WordCounterfactual,
    WordEditParams,
    corpus_vocabulary,
    text_exemplars,
    word_attribution,
    word_counterfactual,
    word_faithfulness,
)
from auditor.model.blackbox import BlackBox
from auditor.model.text import DEFAULT_REMOVAL, REMOVALS, TextModel, declares_text
from auditor.model.text_generator import TextGenerator
from auditor.model.vetting import open_vetted
from auditor.texts import TEXT_COLUMNS, TextData, load_texts

#: Word attribution methods of `attribute` for text models, by the CLI's names.


@dataclass(frozen=True)
class TextFlags:
    """--tokenizer and --max-length: how token ids are made from texts."""

    tokenizer: str | None = None
    max_length: int | None = None

    @classmethod
    def read(cls, arguments: dict[str, Any]) -> TextFlags:
        return cls(arguments["tokenizer"], arguments["max_length"])

    @property
    def given(self) -> bool:
        return self.tokenizer is not None or self.max_length is not None


def text_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--tokenizer and --max-length, read back with `TextFlags.read`."""
    func = click.option(
        "--max-length",
        "max_length",
        type=click.IntRange(1, 2**20),
        default=None,
        help="Text models: tokens per row (the length a token-id model was trained on; default: the "
        "model's, the tokenizer's, 512).",
    )(func)
    return click.option(
        "--tokenizer",
        "tokenizer",
        type=click.Path(dir_okay=False),
        default=None,
        help="Text models: the tokenizer.json (default: the one beside the model).",
    )(func)


def removal_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--removal",
        type=click.Choice(REMOVALS),
        default=DEFAULT_REMOVAL,
        show_default=True,
        help="Text models: how a word is taken out: deleted, or replaced by the mask or unknown token.",
    )(func)


def is_text_data(path: str | None) -> bool:
    """Whether a data file holds texts: .txt, .jsonl, or a .csv whose header names a text column."""
    if path is None:
        return False
    suffix = Path(path).suffix.lower()
    if suffix in (".txt", ".jsonl"):
        return True
    if suffix != ".csv":
        return False
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return False  # the tabular reader says what is wrong with it
    return any(column.strip().lower() in TEXT_COLUMNS for column in header)


def wants_text(model_path: str, data_path: str | None, text: TextFlags) -> bool:
    """Whether a command runs on text: text flags given, text data, or a model whose inputs are text's."""
    return text.given or is_text_data(data_path) or declares_text(model_path)


def open_text_model(
    path: str, flags: ModelFlags, text: TextFlags, class_names: tuple[str, ...] | None = None
) -> TextModel:
    """A text classifier after its sandboxed first load; says where it runs."""
    options = replace(
        flags.to_open_options(class_names), tokenizer=text.tokenizer, max_length=text.max_length
    )
    model = open_vetted(path, "text", options, flags.sandbox_limits())
    say_device(model.blackbox.provider, flags)
    return model


def load_text_rows(path: str, index: int | None = None) -> TextData:
    """The texts of a data file; with `index`, checked to hold that row."""
    data = load_texts(path)
    if index is not None and index >= len(data):
        raise DataError(f"--index {index} is out of range: {path} holds {len(data)} texts")
    return data


# ------------------------------------------------------------------ attribute


def attribute_text(
    model: TextModel,
    data: TextData,
    *,
    index: int,
    method: str,
    target: str | None,
    samples: int,
    steps: int,
    removal: str,
    score: str | None,
    seed: int,
    out: Path,
    quiet: bool,
) -> Path:
    """`attribute` on a text: word weights, their deletion/insertion curves, attribution.json."""
    if method not in WORD_METHODS:
        raise click.UsageError(
            f"--method {method} does not apply to text models; use {', '.join(WORD_METHODS)}"
        )
    text = data.texts[index]
    chosen = None if target is None else class_index(target, model.class_names, "--target")
    scored = (score or "probability").replace("-", "_")
    explained = word_attribution(
        model, text, method, target=chosen, removal=removal, samples=samples, score=scored, rng=seed
    )
    curves = word_faithfulness(model, explained, steps=steps, rng=seed)
    labels = data.label_indices(model.class_names) if data.labels is not None else None
    document = {
        **explained.to_dict(),
        **curves.to_dict(),
        "seed": seed,
        "index": index,
        "label": None if labels is None else int(labels[index]),
        "total_queries": model.queries,
        "model_sha256": model.blackbox.model.sha256,
    }
    if not quiet:
        top = sorted(zip(explained.weights.tolist(), explained.words), reverse=True)[:5]
        words = ", ".join(f"{printable(word, 40)} {weight:+.3f}" for weight, word in top)
        click.echo(
            f"{method} for class {printable(explained.target_name, 80)} ({explained.removal} removal), "
            f"{explained.queries:,} queries; top words: {words}",
            err=True,
        )
    return write_json(out, "attribution.json", document)


# ------------------------------------------------------------------ counterfactual


def counterfactual_text(
    model: TextModel,
    data: TextData,
    rows: list[int],
    *,
    target: str,
    budget: int,
    reference: str | None,
    seed: int,
    out: Path,
    quiet: bool,
) -> tuple[Path, bool]:
    """`counterfactual` on texts: the fewest word edits per row; counterfactuals.json and whether all flipped."""
    wanted = parse_target(target, model.class_names)
    corpus = load_texts(reference).texts if reference else data.texts
    vocabulary = corpus_vocabulary(corpus)
    results: list[WordCounterfactual] = []
    for row in rows:
        result = word_counterfactual(
            model,
            data.texts[row],
            target=wanted,
            vocabulary=vocabulary,
            params=WordEditParams(budget=budget),
            rng=seed + row,
        )
        results.append(result)
        if not quiet:
            state = "flipped" if result.valid else "not flipped"
            click.echo(
                f"row {row}: {printable(result.source_name, 80)} -> {printable(result.target_name, 80)} "
                f"{state} with {len(result.edits)} word edit(s): {printable(result.marked, 300)}",
                err=True,
            )
    document = {
        "method": "word-edits",
        "seed": seed,
        "queries": sum(result.queries for result in results),
        "generator_queries": 0,
        "model_sha256": model.blackbox.model.sha256,
        "counterfactuals": [{"index": row, **result.to_dict()} for row, result in zip(rows, results)],
    }
    return write_json(out, "counterfactuals.json", document), all(result.valid for result in results)


# ------------------------------------------------------------------ exemplars


def exemplars_text(
    model: TextModel,
    generator_path: str,
    flags: ModelFlags,
    targets: list[int] | None,
    params: ExemplarParams,
    *,
    seed: int,
    out: Path,
) -> tuple[Path, bool]:
    """`exemplars` through a text decoder: exemplar sentences per class; exemplars.json and whether all found."""
    options = flags.to_open_options()
    decoder = TextGenerator.open(
        generator_path,
        model.tokenizer.path if model.tokenizer is not None else None,
        options.session_settings(),
        options.limits,
    )
    found = text_exemplars(model, decoder, targets, params=params, rng=seed)
    if not flags.quiet:
        for group, texts in zip(found.result.classes, found.texts):
            best = max(group.exemplars, key=lambda e: e.confidence, default=None)
            shown = printable(texts[group.exemplars.index(best)], 200) if best is not None else "-"
            click.echo(
                f"class {printable(group.target_name, 80)}: best p={best.confidence if best else float('nan'):.3f}"
                f" {shown!r}",
                err=True,
            )
    document = {**found.to_dict(), "model_sha256": model.blackbox.model.sha256}
    return write_json(out, "exemplars.json", document), found.result.success


# ------------------------------------------------------------------ inspect


def inspect_text(
    path: str, flags: ModelFlags, text: TextFlags, class_names: tuple[str, ...] | None = None
) -> tuple[BlackBox, dict[str, Any] | None]:
    """The classifier `inspect` describes, and what it adds for a text model: its kind and tokenizer, or the
    flag that settles them (None for a model that is not text; a single int input gets a hint)."""
    if not wants_text(path, None, text):
        blackbox = open_blackbox(path, flags, class_names)
        spec = blackbox.signature.input
        if len(spec.names) == 1 and spec.dtypes[0].startswith("int"):
            hint = (
                "one int input: if it holds token ids, give --tokenizer (and --max-length) to read it as text"
            )
            return blackbox, {"kind": None, "note": hint}
        return blackbox, None
    try:
        model = open_text_model(path, flags, text, class_names)
    except AuditorError as exc:  # the plain classifier may still open; the note names the flag
        try:
            plain = open_blackbox(path, replace(flags, layout="tokens"), class_names)
        except AuditorError:
            raise exc from None
        return plain, {"kind": None, "note": str(exc)}
    return model.blackbox, model.describe()


def text_lines(described: dict[str, Any]) -> list[str]:
    """inspect's lines for the text part."""
    if described.get("kind") is None:
        return [f"text         {printable(described['note'], 500)}"]
    tokenizer = described["tokenizer"]
    lines = [f"text kind    {described['kind']} (inputs {printable(', '.join(described['inputs']))})"]
    if tokenizer is None:
        lines.append("tokenizer    none: the model takes strings")
    else:
        lines.append(
            f"tokenizer    {printable(tokenizer['path'])} ({printable(tokenizer['model'])}, "
            f"{tokenizer['vocab_size']:,} tokens; pad {tokenizer['pad_id']}, unk {tokenizer['unk_id']}, "
            f"mask {tokenizer['mask_id']})"
        )
        lines.append(f"max length   {described['max_length']} tokens, padding {described['padding']}")
    return lines
