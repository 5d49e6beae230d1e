"""`auditor attribute MODEL --input FILE`: one attribution map, its faithfulness figures, heatmap PNGs and JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor.cli.drawing import draw_attribution
from auditor.cli.lines import attribution_lines
from auditor.cli.models import ModelFlags, open_encoder, open_generator, open_with_data
from auditor.cli.options import budget_option, class_names_option, generator_options, run_options
from auditor.cli.output import write_json
from auditor.cli.parsing import class_index, load_groups
from auditor.cli.text_commands import (
    TextFlags,
    attribute_text,
    load_text_rows,
    open_text_model,
    removal_option,
    text_options,
    wants_text,
)
from auditor.errors import DataError
from auditor.explain.attribution import GROUPED, METHODS, SCORES, parse_baseline
from auditor.explain.attribution.core import features_of
from auditor.explain.attribution.explanation import COUNTERFACTUAL, ExplainParams, explain_input
from auditor.explain.attribution.onevsone import EXPLAINERS
from auditor.explain.counterfactuals import DEFAULT_BUDGET
from auditor.pictures import Display, display_range

#: --score: the library's score kinds in the CLI's spelling (log-odds), and the older log_odds spelling
SCORE_CHOICES = tuple(
    dict.fromkeys([k.replace("_", "-") for k in SCORES if k != "log_ratio"] + ["log_probability", "log_odds"])
)


@click.command("attribute")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--input", "input_path", required=True, type=click.Path(), help="Data file or image(s) holding the input."
)
@click.option("--index", type=click.IntRange(0), default=0, show_default=True, help="Which row of --input.")
@click.option(
    "--method",
    type=click.Choice((*METHODS, COUNTERFACTUAL)),
    default="occlusion",
    show_default=True,
    help="counterfactual: 'why TARGET and not CONTRAST' with a counterfactual toward CONTRAST as baseline.",
)
@click.option("--target", default=None, help="Class index or name to explain (default: the predicted class).")
@click.option(
    "--contrast", default=None, help="counterfactual: the other class (default: the second most likely)."
)
@click.option(
    "--baseline",
    default=None,
    help="zero, mean (of --input's rows), blur, noise, a number, or a .npy array. Default: zero; for "
    "counterfactual: a counterfactual searched toward --contrast (or the .npy array given).",
)
@click.option(
    "--window",
    type=click.IntRange(1),
    default=None,
    help="Occlusion window / LIME grid cell (default: side/7).",
)
@click.option("--stride", type=click.IntRange(1), default=None, help="Occlusion stride (default: window/2).")
@click.option(
    "--samples", type=click.IntRange(4), default=1000, show_default=True, help="LIME / Gaussian LIME samples."
)
@click.option(
    "--features",
    type=click.Choice(["grid", "superpixels"]),
    default=None,
    help="LIME's interpretable features (default: grid).",
)
@click.option(
    "--groups",
    "groups_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="feature-ablation / lime: group ids (.npy or CSV of integers) shaped like the map or the input; "
    "features with the same id are ablated together.",
)
@click.option(
    "--explainer",
    type=click.Choice(tuple(EXPLAINERS)),
    default="occlusion",
    show_default=True,
    help="counterfactual: which explainer attributes the score difference.",
)
@click.option(
    "--score",
    type=click.Choice(SCORE_CHOICES),
    default=None,
    help="Scalar explained: raw (the model's output column as it returns it), probability, log-probability, "
    "log-odds (default: probability; log-probability for gaussian-lime).",
)
@click.option(
    "--steps", type=click.IntRange(1), default=50, show_default=True, help="Deletion/insertion steps."
)
@click.option("--sanity", is_flag=True, help="Also run the cascading model-randomisation check.")
@generator_options(
    "counterfactual: generator .onnx for a latent search (else the search runs in input space).",
    "counterfactual: its encoder.",
)
@budget_option(DEFAULT_BUDGET, "for the counterfactual search", least=2)
@class_names_option
@removal_option
@text_options
@run_options("attribution.json and images/")
def command(
    model: str,
    input_path: str,
    index: int,
    method: str,
    target: str | None,
    contrast: str | None,
    baseline: str | None,
    window: int | None,
    stride: int | None,
    samples: int,
    features: str | None,
    groups_path: str | None,
    explainer: str,
    score: str | None,
    steps: int,
    sanity: bool,
    generator_path: str | None,
    encoder_path: str | None,
    budget: int,
    class_names: tuple[str, ...] | None,
    removal: str,
    seed: int,
    out_dir: str,
    **model_flags: Any,
) -> None:
    """Explain MODEL's score for one input, with deletion/insertion curves beside random orders.

    Text models (texts in .txt/.csv/.jsonl, or --tokenizer): weights of the words by occlusion, lime or
    kernel-shap, each word removed as --removal says.
    """
    flags, text = ModelFlags.read(model_flags), TextFlags.read(model_flags)
    if wants_text(model, input_path, text):
        texts = load_text_rows(input_path, index)
        written = attribute_text(
            open_text_model(model, flags, text, class_names),
            texts,
            index=index,
            method=method,
            target=target,
            samples=samples,
            steps=steps,
            removal=removal,
            score=score,
            seed=seed,
            out=Path(out_dir),
            quiet=flags.quiet,
        )
        click.echo(written)
        return
    if groups_path is not None and method not in GROUPED:
        raise click.UsageError(f"--groups applies to --method {' or '.join(GROUPED)}")
    groups = load_groups(groups_path) if groups_path is not None else None
    blackbox, data = open_with_data(model, flags, input_path, class_names, labels=True)
    if index >= len(data):
        raise DataError(f"--index {index} is out of range: {input_path} holds {len(data)} rows")
    names, searched = blackbox.class_names, method == COUNTERFACTUAL
    params = ExplainParams(
        method=method,
        target=None if target is None else class_index(target, names, "--target"),
        contrast=None if contrast is None else class_index(contrast, names, "--contrast"),
        baseline="zero" if baseline is None else parse_baseline(baseline),
        window=window,
        stride=stride,
        samples=samples,
        features=features,
        groups=groups,
        explainer=explainer,
        score=score,
        steps=steps,
        sanity=sanity,
        budget=budget,
    )
    explained = explain_input(
        blackbox,
        data.x[index],
        params,
        generator=open_generator(generator_path, flags) if searched and generator_path else None,
        encoder=open_encoder(encoder_path, flags) if searched and encoder_path else None,
        reference=data.ref,
        rng=seed,
    )
    document = {
        **explained.to_dict(),
        "seed": seed,
        "index": index,
        "label": None if data.y is None else int(data.y[index]),
        "total_queries": blackbox.queries,
        "model_sha256": blackbox.model.sha256,
    }
    out = Path(out_dir)
    display = Display(blackbox.layout, display_range(data.ref))
    document["images"] = draw_attribution(explained, features_of(blackbox), display, out, index, searched)
    path = write_json(out, "attribution.json", document)
    if not flags.quiet:
        for line in attribution_lines(explained):
            click.echo(line, err=True)
    click.echo(path)
