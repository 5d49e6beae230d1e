"""Word attributions for text classifiers: occlusion, LIME and KernelSHAP over the words of one text, and
deletion/insertion curves over words against random orders.

A word is "off" when it is removed as `removal` says (model/text.py: deleted by default, or replaced by
the mask or unknown token). Every perturbed copy of the text is built on its token ids and scored in
large batches. LIME follows the `lime` package's LimeTextExplainer (bow=False): the number of removed
words is uniform in 1..W, the kernel is sqrt(exp(-D^2/0.25^2)) on the cosine distance D to the full
text, and a weighted ridge (alpha 1) with an intercept is fitted; KernelSHAP uses the Shapley kernel's
coalition sizes and no penalty (explain/attribution/lime.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.attribution.core import Score, rng_of, seed_of
from auditor.explain.attribution.lime import sample_coalitions, weighted_ridge
from auditor.explain.attribution.metrics import Faithfulness
from auditor.jsonable import jsonable
from auditor.model.text import DEFAULT_REMOVAL, Segmented, TextModel

KERNELS = ("lime", "shap")
DEFAULT_SAMPLES = 1000
KERNEL_WIDTH = 0.25  # lime's text default: 25 on cosine distances scaled by 100
STEPS = 50  # at most this many deletion/insertion steps; one a word for shorter texts


@dataclass(frozen=True, eq=False)
class WordAttribution:
    """One text's word weights for `target` and the figures that say how far to trust them.

    `weights[i]` belongs to `words[i]`, found at `spans[i]` (character offsets into `text`).
    """

    text: str
    words: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    weights: np.ndarray
    method: str
    target: int
    target_name: str
    score: str
    removal: str
    settings: dict[str, Any]
    queries: int
    calls: int
    seconds: float
    score_input: float
    score_removed: float | None  # the score with every word removed
    fidelity: float | None = None  # the surrogate's weighted R² (LIME, KernelSHAP)
    faithfulness: Faithfulness | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures; `map` and `shape` as in attribution.json, with the words beside them."""
        out: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "target_name": self.target_name,
            "seed": self.settings.get("seed"),
            "queries": self.queries,
            "calls": self.calls,
            "seconds": self.seconds,
            "shape": [len(self.words)],
            "map": jsonable(self.weights),
            "text": self.text,
            "words": list(self.words),
            "spans": [list(span) for span in self.spans],
            "score": self.score,
            "removal": self.removal,
            "settings": jsonable(self.settings),
            "score_input": jsonable(self.score_input),
            "score_removed": jsonable(self.score_removed),
            "fidelity": jsonable(self.fidelity),
        }
        if self.faithfulness is not None:
            out.update(jsonable(self.faithfulness.to_dict()))
        out.update({key: jsonable(value) for key, value in self.extra.items()})
        return out


class _Run:
    """Queries, calls and wall time one attribution spends on a TextModel."""

    def __init__(self, model: TextModel) -> None:
        self.model = model
        self.queries0, self.calls0 = model.queries, model.calls
        self.started = time.perf_counter()

    @property
    def queries(self) -> int:
        return self.model.queries - self.queries0

    @property
    def calls(self) -> int:
        return self.model.calls - self.calls0

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def _segment(model: TextModel, text: str) -> Segmented:
    segmented = model.segment(text)
    if len(segmented) == 0:
        raise DataError("the text has no words to attribute")
    return segmented


def _check_score(score: str) -> None:
    """Text models are read through their probabilities: every score kind but the raw output column."""
    if score == "raw":
        raise ArgumentError(
            "score 'raw' is not available for text models (they are read as probabilities); use probability, "
            "log_probability or log_odds"
        )


def _target(probs: np.ndarray, target: int | None, n_classes: int) -> int:
    if not np.isfinite(probs).all():
        raise DataError("the model returns NaN or Inf for this text; it cannot be explained")
    chosen = int(np.argmax(probs)) if target is None else target
    if isinstance(chosen, bool) or not 0 <= chosen < n_classes:
        raise ArgumentError(f"target class {chosen} is out of range: the model has {n_classes} classes")
    return int(chosen)


def word_occlusion(
    model: TextModel,
    text: str,
    *,
    target: int | None = None,
    removal: str = DEFAULT_REMOVAL,
    score: str = "probability",
) -> WordAttribution:
    """Each word's weight is the drop in the score when that word alone is removed: W + 2 rows, one batch."""
    _check_score(score)
    run = _Run(model)
    segmented = _segment(model, text)
    n = len(segmented)
    keep = np.vstack([np.ones((1, n), bool), np.zeros((1, n), bool), ~np.eye(n, dtype=bool)])
    probs = model.predict_kept(segmented, keep, removal)
    scorer = Score(score, _target(probs[0], target, model.n_classes))
    values = scorer(probs)
    return WordAttribution(
        text=segmented.text,
        words=segmented.words,
        spans=segmented.spans,
        weights=values[0] - values[2:],
        method="occlusion",
        target=scorer.target,
        target_name=model.class_names[scorer.target],
        score=score,
        removal=removal,
        settings={"removal": removal, "window": 1},
        queries=run.queries,
        calls=run.calls,
        seconds=run.seconds,
        score_input=float(values[0]),
        score_removed=float(values[1]),
    )


def word_lime(
    model: TextModel,
    text: str,
    *,
    target: int | None = None,
    removal: str = DEFAULT_REMOVAL,
    samples: int = DEFAULT_SAMPLES,
    kernel: str = "lime",
    kernel_width: float = KERNEL_WIDTH,
    alpha: float | None = None,
    score: str = "probability",
    rng: np.random.Generator | int = 0,
) -> WordAttribution:
    """LIME (kernel="lime") or KernelSHAP (kernel="shap") weights of the words, all samples in one batch."""
    _check_score(score)
    if kernel not in KERNELS:
        raise ArgumentError(f"unknown kernel {kernel!r}; use one of {', '.join(KERNELS)}")
    if samples < 3:
        raise ArgumentError(f"LIME needs at least 3 samples, got {samples}")
    if not (np.isfinite(kernel_width) and kernel_width > 0):
        raise ArgumentError(f"kernel_width must be > 0, got {kernel_width}")
    gen = rng_of(rng)
    run = _Run(model)
    segmented = _segment(model, text)
    n = len(segmented)
    if kernel == "lime":
        on, weights = text_coalitions(n, samples, kernel_width, gen)
    else:
        on, weights = sample_coalitions(n, samples, "shap", kernel_width, gen)
    probs = model.predict_kept(segmented, on, removal)
    scorer = Score(score, _target(probs[0], target, model.n_classes))
    values = scorer(probs)
    ok = np.isfinite(values)
    penalty = alpha if alpha is not None else (1.0 if kernel == "lime" else 0.0)
    coef, intercept, r2 = weighted_ridge(on[ok].astype(np.float64), values[ok], weights[ok], penalty)
    settings: dict[str, Any] = {
        "samples": samples,
        "kernel": kernel,
        "alpha": penalty,
        "removal": removal,
        "seed": seed_of(rng),
    }
    if kernel == "lime":
        settings["kernel_width"] = kernel_width
    return WordAttribution(
        text=segmented.text,
        words=segmented.words,
        spans=segmented.spans,
        weights=coef,
        method="lime" if kernel == "lime" else "kernel-shap",
        target=scorer.target,
        target_name=model.class_names[scorer.target],
        score=score,
        removal=removal,
        settings=settings,
        queries=run.queries,
        calls=run.calls,
        seconds=run.seconds,
        score_input=float(values[0]),
        score_removed=float(values[1]),
        fidelity=r2,
        extra={"intercept": intercept},
    )


#: Word attribution methods by name ("kernel-shap" is LIME's engine with the Shapley kernel).
WORD_METHODS = ("occlusion", "lime", "kernel-shap")


def word_attribution(
    model: TextModel,
    text: str,
    method: str,
    *,
    target: int | None = None,
    removal: str = DEFAULT_REMOVAL,
    samples: int = DEFAULT_SAMPLES,
    score: str = "probability",
    rng: np.random.Generator | int = 0,
) -> WordAttribution:
    """The words' weights by `method` (one of WORD_METHODS): occlusion, LIME or KernelSHAP."""
    if method not in WORD_METHODS:
        raise ArgumentError(f"{method} does not apply to text models; use {', '.join(WORD_METHODS)}")
    if method == "occlusion":
        return word_occlusion(model, text, target=target, removal=removal, score=score)
    kernel = "lime" if method == "lime" else "shap"
    return word_lime(
        model, text, target=target, removal=removal, samples=samples, kernel=kernel, score=score, rng=rng
    )


def text_coalitions(
    n_words: int, samples: int, width: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """LimeTextExplainer's neighbourhood: row 0 keeps every word, row 1 none, the others drop a uniform
    number (1..W) of words at random; weights sqrt(exp(-D^2/width^2)), D the cosine distance to row 0."""
    removed = rng.integers(1, n_words + 1, samples)
    ranks = rng.random((samples, n_words)).argsort(axis=1).argsort(axis=1)
    on = ranks >= removed[:, None]
    on[0], on[1] = True, False
    distance = 1.0 - np.sqrt(on.sum(axis=1) / n_words)
    return on, np.sqrt(np.exp(-(distance**2) / width**2))


def word_faithfulness(
    model: TextModel,
    attribution: WordAttribution,
    *,
    orders: int = 5,
    steps: int = STEPS,
    rng: np.random.Generator | int = 0,
) -> Faithfulness:
    """Probability of the target as words are removed (deletion) or revealed (insertion) in the order of
    the weights, beside `orders` random orders; one batch. One step a word up to `steps` words."""
    if orders < 1 or steps < 1:
        raise ArgumentError("orders and steps must be at least 1")
    gen = rng_of(rng)
    run = _Run(model)
    segmented = _segment(model, attribution.text)
    n = len(segmented)
    if n != len(attribution.weights):
        raise ArgumentError(f"the attribution has {len(attribution.weights)} weights for {n} words")
    first = np.argsort(-np.nan_to_num(attribution.weights, nan=-np.inf), kind="stable")
    sequences = np.vstack([first] + [gen.permutation(n) for _ in range(orders)])
    ranks = np.empty_like(sequences)
    np.put_along_axis(ranks, sequences, np.arange(n)[None, :], axis=1)
    count = min(n, steps)
    removed = np.rint(np.arange(count + 1) * n / count).astype(np.int64)
    ahead = ranks[:, None, :] < removed[None, :, None]  # (orders + 1, steps + 1, W)
    keep = np.stack([~ahead, ahead], axis=1).reshape(-1, n)
    probs = model.predict_kept(segmented, keep, attribution.removal)
    curves = probs[:, attribution.target].astype(np.float64).reshape(orders + 1, 2, count + 1)
    fractions = removed / n
    return Faithfulness.of_curves(attribution.target, fractions, curves, run.queries, run.calls, run.seconds)
