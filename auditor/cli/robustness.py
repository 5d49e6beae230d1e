"""`auditor robustness MODEL --data F`: each row's smallest perturbation that changes MODEL's label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from auditor.cli.options import (
    ModelFlags,
    budget_option,
    class_names_option,
    fit_images,
    model_options,
    open_blackbox,
    out_option,
    parse_class_names,
    printable,
    seed_option,
    write_json,
)
from auditor.data import load_data
from auditor.explain.robustness import DEFAULT_BUDGET, METHODS, NORMS, RobustnessParams, robustness
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range, grid, save_png


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
    help="square: scores (Square Attack); hopskipjump: labels only; auto: square for linf with scores, else hopskipjump.",
)
@click.option("--labels-only", is_flag=True, help="Read only the predicted label, even where scores exist.")
@class_names_option
@seed_option
@out_option("robustness.json and images")
@model_options
def command(
    model: str,
    data_path: str,
    norm: str,
    budget: int,
    method: str,
    labels_only: bool,
    class_names: str | None,
    seed: int,
    out_dir: str,
    **kw: Any,
) -> None:
    """Find, for every row of --data, the smallest L∞ or L2 change (inside the data's box) that flips MODEL's label."""
    data = load_data(data_path)
    names = parse_class_names(class_names) or data.class_names
    flags = ModelFlags.read(kw)
    blackbox = open_blackbox(model, flags, names, data.x.shape[1:])
    data = fit_images(data_path, data, blackbox)
    params = RobustnessParams(method=method, norm=norm, budget=budget, labels_only=labels_only)  # type: ignore[arg-type]
    result = robustness(blackbox, data.x, params, labels=data.y, reference=data.reference, rng=seed)
    document = result.to_dict()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if blackbox.layout in IMAGE_LAYOUTS:
        (out / "images").mkdir(exist_ok=True)
        display = Display(
            blackbox.layout, display_range(data.reference if data.reference is not None else data.x)
        )
        for entry in document["inputs"]:
            if entry["found"]:
                index = entry["index"]
                path = Path("images") / f"robustness_{index}.png"
                tiles = [display.tile(result.x[index]), display.tile(result.perturbed[index])]
                tiles.append(display.change_tile(result.x[index], result.perturbed[index]))
                save_png(grid(tiles, 3), out / path)
                entry["image"] = path.as_posix()
    if not flags.quiet:
        median = document["median_radius"]
        click.echo(
            f"auditor: {document['found']}/{len(result.inputs)} flipped within {budget:,} queries each "
            f"({printable(result.method)}, {norm}); median radius "
            f"{'not reached' if median is None else f'{median:.4g}'}",
            err=True,
        )
    click.echo(write_json(out, "robustness.json", document))
