"""`auditor robustness MODEL --data F`: each row's smallest perturbation that changes MODEL's label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor.cli.drawing import save_comparison
from auditor.cli.models import ModelFlags, open_with_data
from auditor.cli.options import budget_option, class_names_option, run_options
from auditor.cli.output import printable, write_json
from auditor.explain.robustness import DEFAULT_BUDGET, METHODS, NORMS, RobustnessParams, robustness
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range


@click.command("robustness")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(),
    help="Rows to test (.npz/.npy/.csv/images); their labels, when given, count in the accuracy curve.",
)
@click.option("--norm", type=click.Choice(NORMS), default="linf", show_default=True)
@budget_option(DEFAULT_BUDGET, "per input, its own prediction included")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="auto",
    show_default=True,
    help="square: scores (Square Attack); momentum_es (es), cmaes: scores (our evolution strategies on the margin "
    "loss); hopskipjump: labels only; auto: square for linf with scores, else hopskipjump.",
)
@click.option("--labels-only", is_flag=True, help="Read only the predicted label, even where scores exist.")
@class_names_option
@run_options("robustness.json and images")
def command(
    model: str,
    data_path: str,
    norm: str,
    budget: int,
    method: str,
    labels_only: bool,
    class_names: tuple[str, ...] | None,
    seed: int,
    out_dir: str,
    **model_flags: Any,
) -> None:
    """Find, for every row of --data, the smallest L∞ or L2 change (inside the data's box) that flips MODEL's label."""
    flags = ModelFlags.read(model_flags)
    blackbox, data = open_with_data(model, flags, data_path, class_names, labels=True)
    params = RobustnessParams(method=method, norm=norm, budget=budget, labels_only=labels_only)  # type: ignore[arg-type]
    result = robustness(blackbox, data.x, params, labels=data.y, reference=data.reference, rng=seed)
    document = result.to_dict()
    out = Path(out_dir)
    if blackbox.layout in IMAGE_LAYOUTS:
        display = Display(blackbox.layout, display_range(data.ref))
        for entry in document["inputs"]:
            if entry["found"]:
                index = entry["index"]
                before, after = result.x[index], result.perturbed[index]
                names = blackbox.class_names
                titles = (
                    f"input {index}: {names[entry['source']]}",
                    f"perturbed: {names[entry['flipped_to']]}",
                    "difference",
                )
                entry["image"] = save_comparison(out, f"robustness_{index}", display, before, after, titles)
    if not flags.quiet:
        median, at_least = document["median_radius"], document["median_radius_at_least"]
        if document["median_radius_censored"]:  # decided by an input not flipped: only a lower bound
            median_text = f"at least {at_least:.4g} (inputs not flipped count at the largest radius tried)"
        else:
            median_text = "not reached" if median is None else f"{median:.4g}"
        click.echo(
            f"auditor: {document['found']}/{len(result.inputs)} flipped within {budget:,} queries each "
            f"({printable(result.method)}, {norm}); median radius {median_text}",
            err=True,
        )
    click.echo(write_json(out, "robustness.json", document))
