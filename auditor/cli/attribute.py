"""`auditor attribute MODEL --input FILE`: one attribution map, its faithfulness figures, heatmap PNGs and JSON."""

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
from auditor.explain.attribution import (
    METHODS,
    SCORES,
    Attribution,
    faithfulness,
    one_vs_one,
    parse_baseline,
    randomisation_check,
    resolve_baseline,
)
from auditor.explain.attribution.core import Features, features_of, sample_of
from auditor.explain.attribution.metrics import Method
from auditor.explain.counterfactuals import (
    DEFAULT_BUDGET,
    CounterfactualParams,
    CounterfactualResult,
    counterfactual,
)
from auditor.jsonable import jsonable
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range, feature_strip, save_png

CHOICES = (*METHODS, "counterfactual")
#: --score: the library's score kinds in the CLI's spelling (log-odds), and the older log_odds spelling
SCORE_CHOICES = tuple(
    dict.fromkeys([k.replace("_", "-") for k in SCORES if k != "log_ratio"] + ["log_probability", "log_odds"])
)
GROUPED = ("feature-ablation", "lime")


@click.command("attribute")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--input", "input_path", required=True, type=click.Path(), help="Data file or image(s) holding the input."
)
@click.option("--index", type=click.IntRange(0), default=0, show_default=True, help="Which row of --input.")
@click.option(
    "--method",
    type=click.Choice(CHOICES),
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
    type=click.Choice(["occlusion", "lime"]),
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
@seed_option
@out_option("attribution.json and images/")
@model_options
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
    class_names: str | None,
    seed: int,
    out_dir: str,
    **kw: Any,
) -> None:
    """Explain MODEL's score for one input, with deletion/insertion curves beside random orders."""
    flags = ModelFlags.read(kw)
    if groups_path is not None and method not in GROUPED:
        raise click.UsageError(f"--groups applies to --method {' or '.join(GROUPED)}")
    groups = load_groups(groups_path) if groups_path is not None else None
    names = parse_class_names(class_names)
    data = load_data(input_path)
    bb = open_blackbox(model, flags, names, data.x.shape[1:])
    data = fit_images(input_path, data, bb)
    if index >= len(data):
        raise DataError(f"--index {index} is out of range: {input_path} holds {len(data)} rows")
    x = sample_of(bb, data.x[index])
    probs = bb.predict(x[None])[0]
    chosen = parse_class(target, bb.class_names, "--target") if target is not None else int(np.argmax(probs))
    fill = parse_baseline(baseline) if baseline is not None else "zero"
    found: CounterfactualResult | None = None
    if method == "counterfactual":
        if score is not None:
            raise click.UsageError(
                "--method counterfactual explains log p_target - log p_contrast; drop --score"
            )
        other = (
            parse_class(contrast, bb.class_names, "--contrast")
            if contrast is not None
            else second(probs, chosen)
        )
        if other == chosen:
            raise ConfigError(f"--contrast {other} is the explained class itself; choose another class")
        if not isinstance(fill, np.ndarray):
            generator = open_generator(generator_path, flags) if generator_path else None
            encoder = open_encoder(encoder_path, flags) if encoder_path else None
            found = counterfactual(
                bb,
                x,
                other,
                generator=generator,
                encoder=encoder,
                reference=data.ref,
                params=CounterfactualParams(budget=budget),
                rng=seed,
            )
            fill = found.counterfactuals[0].astype(np.float64)
        method_fn: Method = one_vs_one
        options = {
            "counterfactual": fill,
            "contrast": other,
            "explainer": explainer,
            **shape_options(explainer, window, stride, samples, features),
        }
    else:
        method_fn = METHODS[method]
        options = method_options(method, fill, data, window, stride, samples, features)
        if score is not None:
            options["score"] = score
        if groups is not None:
            options["groups"] = groups
    result = method_fn(bb, x, target=chosen, rng=seed, **options)
    curves = faithfulness(
        bb, x, result.map, target=result.target, baseline=fill, steps=steps, reference=data.ref, rng=seed
    )
    check = None
    if sanity:
        check = randomisation_check(
            bb, method_fn, x, target=result.target, seeds=(seed, seed + 1), rng=seed, **options
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    display = Display(bb.layout, display_range(data.ref))
    pictures = draw(
        result, x, features_of(bb), display, fill if method == "counterfactual" else None, out, index
    )
    report = {
        "method": result.method,
        "target": result.target,
        "target_name": bb.class_names[result.target],
        "seed": seed,
        "queries": result.queries,
        "shape": list(result.shape),
        "map": jsonable(result.map),
        **jsonable(curves.to_dict()),
        "index": index,
        "label": None if data.y is None else int(data.y[index]),
        "probabilities": jsonable(probs),
        "contrast_name": None if result.contrast is None else bb.class_names[result.contrast],
        "attribution": {
            k: v
            for k, v in result.to_dict().items()
            if k not in ("method", "target", "queries", "map", "shape")
        },
        "counterfactual": None if found is None else counterfactual_figures(found),
        "sanity": None if check is None else jsonable(check.to_dict()),
        "total_queries": bb.queries,
        "model_sha256": bb.model.sha256,
        "images": pictures,
    }
    path = write_json(out, "attribution.json", report)
    if not flags.quiet:
        click.echo(summary(result, curves.to_dict(), check, bb.class_names), err=True)
        if found is not None and not found.found:
            click.echo(
                "auditor: the counterfactual search did not reach the contrast class; the baseline is "
                "its closest attempt (raise --budget or give --generator)",
                err=True,
            )
    click.echo(path)


def counterfactual_figures(found: CounterfactualResult) -> dict[str, Any]:
    return {
        "valid": bool(found.valid[0]),
        "confidence": jsonable(found.confidence[0]),
        "l1": jsonable(found.l1[0]),
        "l2": jsonable(found.l2[0]),
        "changed": jsonable(found.changed[0]),
        "space": found.space,
        "queries": found.queries,
    }


def method_options(
    method: str,
    fill: Any,
    data: Any,
    window: int | None,
    stride: int | None,
    samples: int,
    features: str | None,
) -> dict[str, Any]:
    """The CLI flags each method takes, in the library's vocabulary."""
    if method == "gaussian-lime":
        return {"samples": samples, "reference": data.ref}
    shaped = shape_options(method, window, stride, samples, features)
    return {**shaped, "baseline": fill, "reference": data.ref}


def shape_options(
    method: str, window: int | None, stride: int | None, samples: int, features: str | None
) -> dict[str, Any]:
    if method == "occlusion":
        return {"window": window, "stride": stride}
    if method == "feature-ablation":
        return {}
    return {"samples": samples, "features": features, "window": window}


def load_groups(path: str) -> np.ndarray:
    """Group ids from a .npy array or a CSV of integers (one row of a table, or the rows of an image)."""
    try:
        if path.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, delimiter=",", ndmin=1)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(
            f"{printable(path, 80)}: cannot read the group ids ({printable(str(exc), 120)})"
        ) from None


def parse_class(text: str, class_names: tuple[str, ...], flag: str) -> int:
    if text in class_names:
        return class_names.index(text)
    if text.isdigit() and int(text) < len(class_names):
        return int(text)
    raise ConfigError(
        f"{flag}: '{printable(text, 40)}' is neither a class index 0..{len(class_names) - 1} nor a class name"
    )


def second(probs: np.ndarray, chosen: int) -> int:
    order = [int(i) for i in np.argsort(-probs, kind="stable") if i != chosen]
    return order[0]


def draw(
    result: Attribution,
    x: np.ndarray,
    view: Features,
    display: Display,
    counterfactual: Any,
    out: Path,
    index: int,
) -> dict[str, str]:
    """Heatmap PNGs: the map over the input (images) or a colour strip of feature values (tables)."""
    heat = np.asarray(result.map, dtype=np.float64)
    if heat.ndim > 2:
        return {}
    folder = out / "images"
    folder.mkdir(exist_ok=True)
    paths: dict[str, str] = {}
    if display.layout in IMAGE_LAYOUTS and view.image:
        files = {
            "overlay": display.heat_tile(x, heat),
            "map": display.map_tile(heat),
            "input": display.tile(x),
        }
        if counterfactual is not None:
            files["baseline"] = display.tile(resolve_baseline(np.asarray(counterfactual), x, view))
    else:
        files = {"map": feature_strip(heat)}
    for name, rgb in files.items():
        relative = Path("images") / f"{name}_{index}.png"
        save_png(rgb, out / relative)
        paths[name] = relative.as_posix()
    return paths


def summary(result: Attribution, curves: dict[str, Any], check: Any, class_names: tuple[str, ...]) -> str:
    line = (
        f"{result.method} of class {result.target} ({printable(class_names[result.target], 40)}): "
        f"{result.queries} queries in {result.calls} calls, {result.seconds:.3f} s; deletion AUC "
        f"{curves['deletion_auc']:.3f} (random {curves['random_deletion_auc']:.3f}), insertion AUC "
        f"{curves['insertion_auc']:.3f} (random {curves['random_insertion_auc']:.3f})"
    )
    if result.fidelity is not None:
        line += f", surrogate R^2 {result.fidelity:.3f}"
    if check is not None:
        line += (
            f"; rank correlation with the map after randomising all {len(check.layers)} layers "
            f"{check.correlations[-1]:.2f} (seed-to-seed {check.seed_correlation:.2f})"
        )
    return line
