"""`auditor counterfactual MODEL --input FILE`: the smallest change that makes MODEL say another class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from auditor.cli.options import (
    ModelFlags,
    budget_option,
    class_names_option,
    fit_images,
    generator_options,
    model_options,
    open_blackbox,
    open_encoder,
    open_generator,
    out_option,
    parse_class_names,
    printable,
    seed_option,
    write_json,
)
from auditor.data import load_data
from auditor.errors import ConfigError, DataError
from auditor.explain.counterfactuals import (
    DEFAULT_BUDGET,
    CounterfactualParams,
    CounterfactualResult,
    FeatureConstraints,
    counterfactuals,
)
from auditor.jsonable import jsonable
from auditor.model.blackbox import BlackBox
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range, grid, save_png

METHOD_NAMES = {"es": "momentum_es", "cmaes": "cmaes"}


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
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default="cmaes", show_default=True)
@budget_option(DEFAULT_BUDGET, "per input, all its counterfactuals included")
@click.option(
    "--k", "count", type=click.IntRange(1), default=1, show_default=True, help="Counterfactuals per input."
)
@click.option("--distance", type=click.Choice(["l1", "l2"]), default="l1", show_default=True)
@click.option(
    "--immutable", default=None, help="Features that must not change: indices or names, comma-separated."
)
@click.option(
    "--integer", default=None, help="Features that must stay integers: indices or names, comma-separated."
)
@class_names_option
@seed_option
@out_option("counterfactuals.json and images")
@model_options
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
    distance: str,
    immutable: str | None,
    integer: str | None,
    class_names: str | None,
    seed: int,
    out_dir: str,
    **kw: Any,
) -> None:
    """Find, for rows of --input, the smallest change that makes MODEL predict another class."""
    if encoder_path and not generator_path:
        raise click.UsageError("--encoder needs --generator")
    flags = ModelFlags.read(kw)
    data = load_data(input_path)
    names = parse_class_names(class_names) or data.class_names
    blackbox = open_blackbox(model, flags, names, data.x.shape[1:])
    data = fit_images(input_path, data, blackbox)
    generator = open_generator(generator_path, flags) if generator_path else None
    encoder = open_encoder(encoder_path, flags) if encoder_path else None
    reference = (
        fit_images(reference_path, load_data(reference_path), blackbox).ref if reference_path else data.ref
    )
    rows = parse_rows(index, len(data))
    features = (
        data.feature_names if data.feature_names and len(data.feature_names) == data.x[0].size else None
    )
    constraints = FeatureConstraints(
        immutable=parse_features(immutable, features, data.x[0].size, "--immutable"),
        integer=parse_features(integer, features, data.x[0].size, "--integer"),
    )
    results = counterfactuals(
        blackbox,
        data.x[rows],
        parse_target(target, blackbox.class_names),
        generator=generator,
        encoder=encoder,
        reference=reference,
        constraints=constraints,
        params=CounterfactualParams(
            method=METHOD_NAMES[method],
            budget=budget,
            count=count,
            distance=distance,  # type: ignore[arg-type]
        ),
        rng=np.random.default_rng(seed),
    )
    if not flags.quiet:
        for row, result in zip(rows, results):
            click.echo(summary(row, result, blackbox.class_names), err=True)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    display = Display(blackbox.layout, display_range(reference))
    click.echo(write(results, rows, blackbox, METHOD_NAMES[method], seed, out, features, display))
    if not all(r.found for r in results):
        raise SystemExit(1)


def parse_rows(text: str, n: int) -> list[int]:
    """'all', one index, or comma-separated indices into n rows."""
    if text.strip().lower() == "all":
        return list(range(n))
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--index: '{printable(text, 40)}' is not an index, a list like 0,4,7, or all"
        ) from None
    bad = [r for r in rows if not 0 <= r < n]
    if not rows or bad:
        raise DataError(f"--index: rows must be in 0..{n - 1}, got {printable(text, 40)}")
    return rows


def parse_target(text: str, class_names: tuple[str, ...]) -> int | str:
    """'second' / 'any', a class name, or a class index."""
    text = text.strip()
    if text in ("second", "any"):
        return text
    if text in class_names:
        return class_names.index(text)
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    raise ConfigError(
        f"--target: '{printable(text, 40)}' is not a class index 0..{len(class_names) - 1}, "
        "a class name, 'second' or 'any'"
    )


def parse_features(
    text: str | None, names: tuple[str, ...] | None, size: int, option: str
) -> tuple[int, ...]:
    """Comma-separated feature indices or names -> indices."""
    if not text:
        return ()
    chosen = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        if names and item in names:
            chosen.append(names.index(item))
        elif item.isdigit() and int(item) < size:
            chosen.append(int(item))
        else:
            raise ConfigError(
                f"{option}: '{printable(item, 40)}' is neither a feature index 0..{size - 1} nor a feature name"
            )
    return tuple(chosen)


def summary(row: int, result: CounterfactualResult, class_names: tuple[str, ...]) -> str:
    source = printable(class_names[result.source], 40)
    found = int(result.valid.sum())
    best = int(np.argmax(result.valid)) if result.found else 0
    state = (
        f"valid, p={result.confidence[best]:.3f}, scaled L1 {result.l1_scaled[best]:.3g}, "
        f"{int(result.changed[best])} changed"
        if result.found
        else "no valid counterfactual within the budget"
    )
    return (
        f"row {row}: {source} -> {printable(class_names[int(result.targets[best])], 40)}: {found}/{len(result.valid)} "
        f"{state}; {result.queries} queries"
    )


def write(
    results: list[CounterfactualResult],
    rows: list[int],
    blackbox: BlackBox,
    method: str,
    seed: int,
    out: Path,
    features: tuple[str, ...] | None,
    display: Display,
) -> Path:
    """Write counterfactuals.json and, for images, one PNG (original | counterfactual | difference) each."""
    is_image = blackbox.layout in IMAGE_LAYOUTS
    if is_image:
        (out / "images").mkdir(exist_ok=True)
    entries = []
    for row, result in zip(rows, results):
        for j in range(len(result.valid)):
            target = int(result.targets[j])
            entry: dict[str, Any] = {
                "index": row,
                "rank": j,
                "source": result.source,
                "source_name": blackbox.class_names[result.source],
                "target": target,
                "target_name": blackbox.class_names[target],
                "valid": bool(result.valid[j]),
                "confidence": jsonable(result.confidence[j]),
                "l1": jsonable(result.l1[j]),
                "l2": jsonable(result.l2[j]),
                "l1_scaled": jsonable(result.l1_scaled[j]),
                "changed": int(result.changed[j]),
                "realism": jsonable(result.realism[j]),
                "reconstruction": jsonable(result.reconstruction[j]),
                "z0_error": None if result.z0_error is None else jsonable(result.z0_error),
                "queries": result.queries,
                "generator_queries": result.generator_queries,
                "stop_reason": result.stop_reasons[j],
                "probabilities": [jsonable(p) for p in result.probabilities[j]],
                "space": result.space,
            }
            if is_image:
                path = Path("images") / f"counterfactual_{row}_{j}.png"
                save_png(picture(result, j, display), out / path)
                entry["image"] = path.as_posix()
            else:
                entry["changes"] = changes(result, j, features)
            entries.append(entry)
    document = {
        "method": method,
        "seed": seed,
        "queries": int(sum(r.queries for r in results)),
        "generator_queries": int(sum(r.generator_queries for r in results)),
        "model_sha256": blackbox.model.sha256,
        "counterfactuals": entries,
    }
    path = write_json(out, "counterfactuals.json", document)
    return path


def picture(result: CounterfactualResult, j: int, display: Display) -> np.ndarray:
    """original | counterfactual | difference (blue: darker, red: brighter), enlarged side by side."""
    original, changed = result.x, result.counterfactuals[j]
    return grid([display.tile(original), display.tile(changed), display.change_tile(original, changed)], 3)


def changes(result: CounterfactualResult, j: int, features: tuple[str, ...] | None) -> list[dict[str, Any]]:
    """The features a tabular counterfactual changed: name, old and new value."""
    before, after = np.ravel(result.x), np.ravel(result.counterfactuals[j])
    moved = np.flatnonzero(before != after)
    return [
        {
            "feature": int(i),
            "name": features[i] if features else f"x{i}",
            "from": jsonable(before[i]),
            "to": jsonable(after[i]),
        }
        for i in moved
    ]
