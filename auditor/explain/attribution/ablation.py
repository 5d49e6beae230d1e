"""Feature ablation (Captum's `FeatureAblation`): set one group of features to the baseline at a time and
give every feature of the group the drop of the score.

Groups are integer (or boolean) ids over the map's features or over every input value, shared by all
inputs or one mask per input; ids may repeat anywhere (a group need not be contiguous). Without groups
every feature is its own group. One-hot columns of a table, superpixels and words are groups.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from auditor.explain.attribution.baselines import Baseline, describe_baseline, resolve_baselines
from auditor.explain.attribution.core import (
    Attribution,
    Attributions,
    Model,
    Perturbations,
    Score,
    Tally,
    Target,
    ablate_batch,
    batch_result,
    features_of,
    inputs_of,
    resolve_targets,
    score_kind,
)
from auditor.explain.attribution.features import group_labels


def group_keep(labels: np.ndarray, ids: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """Keep masks (stop - start, F): row 0 keeps x, row 1 is all baseline, row 2 + j hides group ids[j]."""

    def keep(start: int, stop: int) -> np.ndarray:
        rows = np.arange(start, stop)
        masks = labels[None, :] != ids[np.maximum(rows - 2, 0)][:, None]
        masks[rows == 0] = True
        masks[rows == 1] = False
        return masks

    return keep


def feature_ablation(
    model: Model,
    x: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    baseline: Baseline = "zero",
    target: Target = None,
    score: str | None = None,
    contrast: int | None = None,
    reference: np.ndarray | None = None,
    rng: np.random.Generator | int = 0,
) -> Attribution | Attributions:
    """Feature-ablation map of `target` (default: the predicted class): each feature gets the score's drop
    when its group, and only its group, takes the baseline's values.

    `groups`: ids shaped like the map, like the input, or either with a leading axis of one mask per input
    (see `features.group_labels`); the map has the groups' shape. x of shape [N, *input] is a batch: one
    Attributions with a map per input. `total` is the sum of the drops over groups.
    """
    kind = score_kind(score, "probability", contrast)
    tally = Tally(model, raw=kind == "raw")
    xs, batched = inputs_of(model, x)
    model_view = features_of(model)
    bases = resolve_baselines(baseline, xs, model_view, reference, rng)
    if groups is None:
        view, labels = model_view, [np.arange(model_view.size)] * len(xs)
    else:
        view, labels = group_labels(groups, model_view, len(xs))
    uniques = [np.unique(ids, return_inverse=True) for ids in labels]
    plans = [
        Perturbations(x, b, group_keep(ids, ids_unique), len(ids_unique) + 2)
        for x, b, ids, (ids_unique, _) in zip(xs, bases, labels, uniques)
    ]
    outputs = ablate_batch(tally, plans, view=view)
    targets = resolve_targets([out[0] for out in outputs], target, contrast)
    items = []
    for out, chosen, ids, (ids_unique, member) in zip(outputs, targets, labels, uniques):
        values = Score(kind, chosen, contrast)(out)
        drops = values[0] - values[2:]
        items.append(
            Attribution(
                map=drops[member].reshape(view.map_shape),
                method="feature-ablation",
                target=chosen,
                score=kind,
                contrast=contrast,
                settings={
                    "groups": None if groups is None else ids.reshape(view.map_shape),
                    "features": len(ids_unique),
                    "baseline": describe_baseline(baseline),
                    "score": kind,
                },
                queries=len(ids_unique) + 2,
                calls=tally.calls,
                seconds=tally.seconds,
                score_input=float(values[0]),
                score_baseline=float(values[1]),
                total=float(drops.sum()),
            )
        )
    return batch_result(items, tally, batched)
