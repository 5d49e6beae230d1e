"""`auditor exemplars MODEL`: inputs the classifier scores as each chosen class, found by search."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from auditor.cli.options import (
    ModelFlags,
    budget_option,
    class_names_option,
    fit_images,
    model_options,
    open_blackbox,
    open_generator,
    out_option,
    parse_class_names,
    printable,
    seed_option,
    write_json,
)
from auditor.data import load_data
from auditor.errors import ConfigError
from auditor.explain.exemplars import DEFAULT_BUDGET, ClassExemplars, ExemplarParams, ExemplarSet, exemplars
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range, grid, save_png

METHOD_NAMES = {"es": "momentum_es", "cmaes": "cmaes", "random": "random"}


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
@click.option(
    "--method",
    type=click.Choice(list(METHOD_NAMES)),
    default="es",
    show_default=True,
    help="es: the paper's momentum evolution strategy; cmaes; random (baseline).",
)
@click.option(
    "--objective",
    type=click.Choice(["brier", "margin"]),
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
@seed_option
@out_option("exemplars.json and the images or CSV")
@model_options
def command(
    model: str,
    generator_path: str | None,
    data_path: str | None,
    classes: str,
    class_names: str | None,
    per_class: int,
    method: str,
    objective: str,
    budget: int,
    threshold: float,
    prior_penalty: float,
    min_distance: float | None,
    seed: int,
    out_dir: str,
    **kw: Any,
) -> None:
    """Find inputs that MODEL scores as each chosen class, by searching GEN's latent space."""
    if generator_path is None and data_path is None:
        raise click.UsageError("give --generator GEN, or --data FILE for an input-space search")
    flags = ModelFlags.read(kw)
    names = parse_class_names(class_names)
    data = load_data(data_path) if data_path else None
    blackbox = open_blackbox(model, flags, names, data.x.shape[1:] if data is not None else None)
    data = fit_images(data_path, data, blackbox) if data_path and data is not None else data
    generator = open_generator(generator_path, flags) if generator_path else None
    result = exemplars(
        blackbox,
        generator,
        parse_classes(classes, blackbox.class_names),
        reference=None if generator is not None or data is None else data.ref,
        params=ExemplarParams(
            per_class=per_class,
            method=METHOD_NAMES[method],
            budget=budget,
            objective=objective,
            threshold=threshold,
            prior_penalty=prior_penalty,
            min_distance=min_distance,
        ),
        rng=np.random.default_rng(seed),
    )
    if not flags.quiet:
        for found in result.classes:
            click.echo(summary(found, threshold), err=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    feature_names = data.feature_names if data is not None else None
    click.echo(write(result, blackbox, seed, out, feature_names, data.ref if data is not None else None))
    if not result.success:
        raise SystemExit(1)


def parse_classes(text: str, class_names: tuple[str, ...]) -> list[int] | None:
    """'all' -> None; otherwise comma-separated class indices or class names -> indices."""
    if text.strip().lower() == "all":
        return None
    chosen = []
    for item in (part.strip() for part in text.split(",")):
        if item in class_names:
            chosen.append(class_names.index(item))
        elif item.isdigit() and int(item) < len(class_names):
            chosen.append(int(item))
        else:
            raise ConfigError(
                f"--classes: '{printable(item, 40)}' is neither a class index 0..{len(class_names) - 1} "
                "nor a class name"
            )
    return chosen


def summary(found: ClassExemplars, threshold: float) -> str:
    hits = sum(e.success for e in found.exemplars)
    spread = "" if math.isnan(found.mean_distance) else f", mean latent distance {found.mean_distance:.2f}"
    return (
        f"class {found.target} ({printable(found.target_name, 40)}): {hits}/{len(found.exemplars)} with "
        f"p >= {threshold:g}, best p {found.confidence.max():.6f}, {found.queries} queries{spread}"
    )


def write(
    result: ExemplarSet,
    blackbox: BlackBox,
    seed: int,
    out: Path,
    feature_names: tuple[str, ...] | None,
    reference: np.ndarray | None,
) -> Path:
    """Write exemplars.json plus one PNG grid per class (images) or exemplars.csv (rows); return the JSON path."""
    is_image = blackbox.layout in IMAGE_LAYOUTS
    rows: list[dict[str, Any]] = []
    classes: list[dict[str, Any]] = []
    drawn = np.stack([e.input for found in result.classes for e in found.exemplars])
    display = Display(blackbox.layout, display_range(reference if reference is not None else drawn))
    if is_image:
        (out / "images").mkdir(exist_ok=True)
    for found in result.classes:
        entry: dict[str, Any] = {
            "target": found.target,
            "target_name": found.target_name,
            "queries": found.queries,
            "mean_distance": jsonable(found.mean_distance),
            "min_distance": jsonable(found.min_distance),
        }
        tiles = [display.tile(e.input) for e in found.exemplars] if is_image else []
        if is_image:
            grid_path = Path("images") / f"exemplars_{found.target}.png"
            save_png(grid(tiles, min(len(tiles), 8)), out / grid_path)
            entry["image"] = grid_path.as_posix()
        classes.append(entry)
        for e in found.exemplars:
            row: dict[str, Any] = {
                "target": e.target,
                "target_name": found.target_name,
                "confidence": jsonable(e.confidence),
                "queries": e.queries,
                "latent": [jsonable(v) for v in e.latent],
                "restart": e.restart,
                "success": e.success,
                "probabilities": [jsonable(v) for v in e.probabilities],
                "stop_reason": e.stop_reason,
                "first_success_queries": e.first_success_queries,
            }
            if is_image:
                tile_path = Path("images") / f"exemplar_{e.target}_{e.restart}.png"
                save_png(tiles[e.restart], out / tile_path)
                row["image"] = tile_path.as_posix()
            else:
                row["input"] = [jsonable(v) for v in np.ravel(e.input)]
            rows.append(row)
    if not is_image:
        _write_csv(rows, out / "exemplars.csv", feature_names)
    summary_json = {
        "method": result.method,
        "seed": seed,
        "queries": result.queries,
        "objective": result.objective,
        "threshold": result.threshold,
        "budget": result.budget,
        "space": result.space,
        "generator_queries": result.generator_queries,
        "calls": result.calls,
        "seconds": result.seconds,
        "ort_seconds": result.ort_seconds,
        "model_sha256": blackbox.model.sha256,
        "classes": classes,
        "exemplars": rows,
    }
    path = write_json(out, "exemplars.json", summary_json)
    return path


def _write_csv(rows: list[dict[str, Any]], path: Path, feature_names: tuple[str, ...] | None) -> None:
    width = len(rows[0]["input"])
    names = (
        list(feature_names)
        if feature_names and len(feature_names) == width
        else [f"x{i}" for i in range(width)]
    )
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["target", "target_name", "restart", "confidence", "success", *names])
        for row in rows:
            writer.writerow(
                [
                    row["target"],
                    row["target_name"],
                    row["restart"],
                    row["confidence"],
                    row["success"],
                    *row["input"],
                ]
            )
