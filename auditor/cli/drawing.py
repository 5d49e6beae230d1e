"""The PNGs the explain commands write into --out beside their JSON; each picture's path goes into its entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from auditor.explain.attribution import Features, resolve_baseline
from auditor.explain.attribution.explanation import Explanation
from auditor.explain.counterfactuals import CounterfactualResult
from auditor.explain.exemplars import ExemplarSet
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.pictures import Display, display_range, grid, save_png

IMAGES = "images"  # the pictures' folder inside --out


def save_picture(out: Path, stem: str, rgb: np.ndarray) -> str:
    """Save an RGB picture as `images/<stem>.png` inside the output folder; its path relative to the folder."""
    relative = Path(IMAGES) / f"{stem}.png"
    (out / IMAGES).mkdir(parents=True, exist_ok=True)
    save_png(rgb, out / relative)
    return relative.as_posix()


def save_comparison(
    out: Path,
    stem: str,
    display: Display,
    before: np.ndarray,
    after: np.ndarray,
    titles: tuple[str, str, str] | None = None,
) -> str:
    """before | after | their change, side by side under their titles, saved as `images/<stem>.png`; its
    relative path."""
    return save_picture(out, stem, display.comparison(before, after, titles))


def draw_exemplars(
    result: ExemplarSet, document: dict[str, Any], reference: np.ndarray | None, out: Path
) -> None:
    """One grid per class and one tile per exemplar, drawn in the value range of `reference` (else of the
    exemplars themselves); their paths go into the document's `classes` and `exemplars` entries."""
    rows = np.stack([exemplar.input for found in result.classes for exemplar in found.exemplars])
    display = Display(result.layout, display_range(rows if reference is None else reference))
    entries = iter(document["exemplars"])
    for found, class_entry in zip(result.classes, document["classes"]):
        tiles = [display.tile(exemplar.input) for exemplar in found.exemplars]
        class_entry["image"] = save_picture(out, f"exemplars_{found.target}", grid(tiles, min(len(tiles), 8)))
        for exemplar, tile in zip(found.exemplars, tiles):
            next(entries)["image"] = save_picture(out, f"exemplar_{exemplar.target}_{exemplar.restart}", tile)


def draw_counterfactuals(
    row: int, result: CounterfactualResult, entries: list[dict[str, Any]], display: Display, out: Path
) -> None:
    """input | counterfactual | change, one PNG per entry of `result` (input row `row`), path in its entry."""
    for entry in entries:
        rank = entry["rank"]
        after = result.counterfactuals[rank]
        titles = (
            f"input {row}: class {entry['source_name']}",
            f"counterfactual: class {entry['target_name']}",
            "change",
        )
        entry["image"] = save_comparison(
            out, f"counterfactual_{row}_{rank}", display, result.x, after, titles
        )


def draw_attribution(
    explained: Explanation, view: Features, display: Display, out: Path, index: int, with_baseline: bool
) -> dict[str, str]:
    """The map over the input, the map alone and the input (images; the baseline too `with_baseline`), or a
    bar chart of the map and a line chart of the input (rows of values); their paths by name. Maps of more
    than two axes: none."""
    heat = np.asarray(explained.attribution.map, dtype=np.float64)
    if heat.ndim > 2:
        return {}
    x = explained.x
    if display.layout in IMAGE_LAYOUTS and view.image:
        pictures = {
            "overlay": display.heat_tile(x, heat),
            "map": display.map_tile(heat),
            "input": display.tile(x),
        }
        if with_baseline:
            pictures["baseline"] = display.tile(resolve_baseline(np.asarray(explained.baseline), x, view))
    else:
        pictures = {"map": display.map_tile(heat.reshape(-1)), "input": display.tile(x.reshape(-1))}
    return {name: save_picture(out, f"{name}_{index}", rgb) for name, rgb in pictures.items()}
