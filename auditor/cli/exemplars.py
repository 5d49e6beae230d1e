"""`auditor exemplars MODEL`: inputs the classifier scores as each chosen class, found by search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from auditor.cli.drawing import draw_exemplars
from auditor.cli.lines import exemplars_line
from auditor.cli.models import ModelFlags, open_blackbox, open_generator, open_with_data
from auditor.cli.options import (
    budget_option,
    class_names_option,
    method_option,
    run_options,
)
from auditor.cli.output import write_csv, write_json
from auditor.cli.parsing import parse_classes
from auditor.cli.text_commands import (
    TextFlags,
    exemplars_text,
    open_text_model,
    text_options,
    wants_text,
)
from auditor.explain.exemplars import (
    DEFAULT_BUDGET,
    OBJECTIVES,
    ExemplarParams,
    exemplars,
)
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.search.registry import canonical_method


@click.command("exemplars")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--generator",
    "generator_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Generator .onnx (latent z -> model input). Without it, --data sets an input-space box.",
)
@click.option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(),
    help="Reference rows: the search box without a generator; feature names for the CSV.",
)
@click.option("--classes", default="all", show_default=True, help="all, or class indices/names like 0,3,7.")
@class_names_option
@click.option(
    "--per-class", type=click.IntRange(1), default=1, show_default=True, help="Exemplars per class."
)
@method_option("es", "es: the paper's momentum evolution strategy; cmaes; random (baseline).")
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default="brier",
    show_default=True,
    help="brier: ||p - onehot||^2 (the paper's); margin: max other log p - log p_target.",
)
@budget_option(DEFAULT_BUDGET, "per exemplar search")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Target probability that counts as found.",
)
@click.option(
    "--prior-penalty",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Weight of ||z||^2/d in the loss (keeps exemplars typical of the prior).",
)
@click.option(
    "--min-distance",
    type=click.FloatRange(0),
    default=None,
    help="Least latent distance between exemplars of a class (default sqrt(2d)/4).",
)
@text_options
@run_options("exemplars.json and the images or CSV")
def command(
    model: str,
    generator_path: str | None,
    data_path: str | None,
    classes: str,
    class_names: tuple[str, ...] | None,
    per_class: int,
    method: str,
    objective: str,
    budget: int,
    threshold: float,
    prior_penalty: float,
    min_distance: float | None,
    seed: int,
    out_dir: str,
    **model_flags: Any,
) -> None:
    """Find inputs that MODEL scores as each chosen class, by searching GEN's latent space."""
    if generator_path is None and data_path is None:
        raise click.UsageError("give --generator GEN, or --data FILE for an input-space search")
    flags, text = ModelFlags.read(model_flags), TextFlags.read(model_flags)
    params = ExemplarParams(
        per_class=per_class,
        method=canonical_method(method),
        budget=budget,
        objective=objective,
        threshold=threshold,
        prior_penalty=prior_penalty,
        min_distance=min_distance,
    )
    if wants_text(model, data_path, text):  # exemplar sentences through a text decoder
        if generator_path is None:
            raise click.UsageError("a text model's exemplars need --generator (a text decoder .onnx)")
        text_model = open_text_model(model, flags, text, class_names)
        written, reached = exemplars_text(
            text_model,
            generator_path,
            flags,
            parse_classes(classes, text_model.class_names),
            params,
            seed=seed,
            out=Path(out_dir),
        )
        click.echo(written)
        if not reached:
            raise SystemExit(1)
        return
    if data_path:
        blackbox, data = open_with_data(model, flags, data_path, class_names)
    else:
        blackbox, data = open_blackbox(model, flags, class_names), None
    result = exemplars(
        blackbox,
        open_generator(generator_path, flags) if generator_path else None,
        parse_classes(classes, blackbox.class_names),
        reference=None if generator_path or data is None else data.ref,
        params=params,
        rng=np.random.default_rng(seed),
    )
    if not flags.quiet:
        for found in result.classes:
            click.echo(exemplars_line(found, threshold), err=True)
    document = {**result.to_dict(), "seed": seed, "model_sha256": blackbox.model.sha256}
    out = Path(out_dir)
    if result.layout in IMAGE_LAYOUTS:
        draw_exemplars(result, document, data.ref if data else None, out)
    else:
        write_rows(document["exemplars"], out / "exemplars.csv", data.feature_names if data else None)
    click.echo(write_json(out, "exemplars.json", document))
    if not result.success:
        raise SystemExit(1)


def write_rows(entries: list[dict[str, Any]], path: Path, feature_names: tuple[str, ...] | None) -> None:
    """exemplars.csv: one row per exemplar, its figures then its input's features (named when the data has names)."""
    width = len(entries[0]["input"])
    names = [f"x{i}" for i in range(width)]
    if feature_names is not None and len(feature_names) == width:
        names = list(feature_names)
    keys = ("target", "target_name", "restart", "confidence", "success")
    write_csv(path, [*keys, *names], ([entry[key] for key in keys] + entry["input"] for entry in entries))
