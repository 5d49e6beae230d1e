"""`auditor counterfactual MODEL --input FILE`: the smallest change that makes MODEL say another class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from auditor.cli.drawing import draw_counterfactuals
from auditor.cli.lines import counterfactual_line
from auditor.cli.models import (
    ModelFlags,
    open_encoder,
    open_generator,
    open_with_data,
    read_more,
)
from auditor.cli.options import (
    budget_option,
    class_names_option,
    generator_options,
    method_option,
    run_options,
)
from auditor.cli.output import write_json
from auditor.cli.parsing import parse_features, parse_rows, parse_target
from auditor.cli.text_commands import (
    TextFlags,
    counterfactual_text,
    load_text_rows,
    open_text_model,
    text_options,
    wants_text,
)
from auditor.explain.counterfactuals import (
    DEFAULT_BUDGET,
    DISTANCES,
    CounterfactualParams,
    Distance,
    FeatureConstraints,
    counterfactuals,
)
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range
from auditor.search.registry import canonical_method


@click.command("counterfactual")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--input", "input_path", required=True, type=click.Path(), help="Rows to explain (.npz/.npy/.csv/images)."
)
@click.option(
    "--index", default="0", show_default=True, help="Row(s) of --input: an index, a list like 0,4,7, or all."
)
@click.option(
    "--target",
    default="second",
    show_default=True,
    help="A class index or name, 'second' (the runner-up class) or 'any' (any other class).",
)
@generator_options(
    "Generator .onnx: search its latent space for realistic counterfactuals.",
    "Encoder .onnx for the generator (else the start latent is found by search).",
)
@click.option(
    "--reference",
    "reference_path",
    default=None,
    type=click.Path(),
    help="Reference rows for scales, box and realism (default: X_reference or all rows of --input).",
)
@method_option("cmaes", "The search: cmaes; es (momentum evolution strategy); random (baseline).")
@budget_option(DEFAULT_BUDGET, "per input, all its counterfactuals included")
@click.option(
    "--k", "count", type=click.IntRange(1), default=1, show_default=True, help="Counterfactuals per input."
)
@click.option("--distance", type=click.Choice(DISTANCES), default="l1", show_default=True)
@click.option(
    "--immutable", default=None, help="Features that must not change: indices or names, comma-separated."
)
@click.option(
    "--integer", default=None, help="Features that must stay integers: indices or names, comma-separated."
)
@class_names_option
@text_options
@run_options("counterfactuals.json and images")
def command(
    model: str,
    input_path: str,
    index: str,
    target: str,
    generator_path: str | None,
    encoder_path: str | None,
    reference_path: str | None,
    method: str,
    budget: int,
    count: int,
    distance: Distance,
    immutable: str | None,
    integer: str | None,
    class_names: tuple[str, ...] | None,
    seed: int,
    out_dir: str,
    **model_flags: Any,
) -> None:
    """Find, for rows of --input, the smallest change that makes MODEL predict another class.

    Text models (texts in .txt/.csv/.jsonl, or --tokenizer): the fewest word substitutions or deletions,
    substitutes drawn from --reference's texts (default: --input's).
    """
    if encoder_path and not generator_path:
        raise click.UsageError("--encoder needs --generator")
    flags, text = ModelFlags.read(model_flags), TextFlags.read(model_flags)
    if wants_text(model, input_path, text):
        texts = load_text_rows(input_path)
        written, flipped = counterfactual_text(
            open_text_model(model, flags, text, class_names),
            texts,
            parse_rows(index, len(texts)),
            target=target,
            budget=budget,
            reference=reference_path,
            seed=seed,
            out=Path(out_dir),
            quiet=flags.quiet,
        )
        click.echo(written)
        if not flipped:
            raise SystemExit(1)
        return
    blackbox, data = open_with_data(model, flags, input_path, class_names)
    reference = read_more(reference_path, flags, blackbox).ref if reference_path else data.ref
    rows = parse_rows(index, len(data))
    size = data.x[0].size
    features = data.feature_names if data.feature_names and len(data.feature_names) == size else None
    params = CounterfactualParams(
        method=canonical_method(method), budget=budget, count=count, distance=distance
    )
    results = counterfactuals(
        blackbox,
        data.x[rows],
        parse_target(target, blackbox.class_names),
        generator=open_generator(generator_path, flags) if generator_path else None,
        encoder=open_encoder(encoder_path, flags) if encoder_path else None,
        reference=reference,
        constraints=FeatureConstraints(
            immutable=parse_features(immutable, features, size, "--immutable"),
            integer=parse_features(integer, features, size, "--integer"),
        ),
        params=params,
        rng=np.random.default_rng(seed),
    )
    if not flags.quiet:
        for row, result in zip(rows, results):
            click.echo(counterfactual_line(row, result), err=True)
    out = Path(out_dir)
    display = Display(blackbox.layout, display_range(reference))
    listed: list[dict[str, Any]] = []
    for row, result in zip(rows, results):
        entries = [{"index": row, **entry} for entry in result.entries(features)]
        if result.layout in IMAGE_LAYOUTS:
            draw_counterfactuals(row, result, entries, display, out)
        listed += entries
    document = {
        "method": params.method,
        "seed": seed,
        "queries": sum(result.queries for result in results),
        "generator_queries": sum(result.generator_queries for result in results),
        "model_sha256": blackbox.model.sha256,
        "counterfactuals": listed,
    }
    click.echo(write_json(out, "counterfactuals.json", document))
    if not all(result.found for result in results):
        raise SystemExit(1)
