"""Word counterfactuals for text classifiers: few word substitutions or deletions that move the predicted
class to a target, each edit chosen by the model's answers alone.

1. Importance: each word's occlusion drop of the source class's probability (W + 2 rows).
2. Greedy: every single edit of an unedited word among the `positions` most important (each substitute
   from the vocabulary, or deletion) is scored on top of the edits so far, all in one batch; the edit
   with the best margin log p_target - max_other log p is kept, until the class flips. When the budget
   left is smaller than the batch, each position keeps its first options (deletion, then the most
   frequent words) as far as the budget goes.
3. Prune: edits whose undoing keeps the text valid are undone.
4. Zero-order search over substitution choices: with k edits, an elitist evolution over sets of k - 1
   edits (positions among the most important, options drawn by their single-edit margins from step 2)
   looks for a valid text with fewer edits; every success lowers k. Batches of `batch` candidates.

For a model whose margin is a sum of per-word terms (a linear bag of words, two classes) the greedy
step alone finds the fewest edits. Substitutes come from a reference corpus (`corpus_vocabulary`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from auditor.errors import ArgumentError, DataError
from auditor.explain.attribution.core import rng_of, seed_of
from auditor.jsonable import jsonable
from auditor.model.text import WORD_PATTERN, Segmented, TextModel

TINY = float(np.finfo(np.float32).tiny)
TARGETS = ("second", "any")
DEFAULT_VOCABULARY = 200
StopReason = Literal["flipped", "budget", "no_edit_left"]


@dataclass(frozen=True, kw_only=True)
class WordEditParams:
    """How hard the search tries: `budget` model queries in all, the `positions` most important words tried
    in each greedy step (None: every word), the `substitutes` most frequent vocabulary words as options,
    `deletion` of words as an option, and the refinement's `batch` and `patience` (generations without a
    better candidate)."""

    budget: int = 20_000
    positions: int | None = 8
    substitutes: int = DEFAULT_VOCABULARY
    deletion: bool = True
    refine: bool = True
    batch: int = 512
    patience: int = 5

    def __post_init__(self) -> None:
        for name in ("budget", "substitutes", "batch", "patience"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (0 if name == "substitutes" else 1)
            ):
                raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
        if self.positions is not None and (isinstance(self.positions, bool) or self.positions < 1):
            raise ArgumentError(f"positions must be a positive integer or None, got {self.positions!r}")


@dataclass(frozen=True)
class WordEdit:
    """Word `position` of the text, `old`, becomes `new` ("" deletes it)."""

    position: int
    old: str
    new: str

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "old": self.old, "new": self.new}


@dataclass(frozen=True, eq=False)
class WordCounterfactual:
    """The edited text, its edits, and whether the model now predicts the target.

    `marked` shows the changes in git's word-diff style: [-old-]{+new+}, [-old-] for a deletion.
    `edit_distance` is the word-level Levenshtein distance between the two texts.
    """

    text: str
    edited: str
    marked: str
    edits: tuple[WordEdit, ...]
    source: int
    target: int
    source_name: str
    target_name: str
    valid: bool
    confidence: float  # the model's probability of the target for the edited text
    probabilities: np.ndarray
    edit_distance: int
    queries: int
    seconds: float
    stop_reason: StopReason
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_name": self.source_name,
            "target": self.target,
            "target_name": self.target_name,
            "valid": self.valid,
            "confidence": jsonable(self.confidence),
            "changed": len(self.edits),
            "edit_distance": self.edit_distance,
            "text": self.text,
            "edited": self.edited,
            "marked": self.marked,
            "edits": [edit.to_dict() for edit in self.edits],
            "probabilities": jsonable(self.probabilities),
            "queries": self.queries,
            "seconds": self.seconds,
            "stop_reason": self.stop_reason,
            "settings": jsonable(self.settings),
        }


def corpus_vocabulary(texts: Sequence[str], size: int = DEFAULT_VOCABULARY) -> tuple[str, ...]:
    """The `size` most frequent words of a corpus (lower-cased, letters or digits only), most frequent first."""
    counts = Counter(
        match.group().lower()
        for text in texts
        for match in WORD_PATTERN.finditer(text)
        if match.group()[0].isalnum()
    )
    return tuple(word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size])


class _Scorer:
    """Margins and validity of texts for one source/target, within the query budget."""

    def __init__(self, model: TextModel, source: int, target: int | None, budget: int) -> None:
        self.model = model
        self.source = source
        self.target = target  # None: any class but the source
        self.budget = budget
        self.spent = 0

    def left(self) -> int:
        return self.budget - self.spent

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(margins, valid flags, probabilities); margin > 0 means valid."""
        probs = self.model.predict(texts)
        self.spent += len(texts)
        logs = np.log(np.clip(probs.astype(np.float64), TINY, 1.0))
        if self.target is None:
            margin = np.delete(logs, self.source, axis=1).max(axis=1) - logs[:, self.source]
        else:
            margin = logs[:, self.target] - np.delete(logs, self.target, axis=1).max(axis=1)
        margin = np.where(np.isfinite(margin), margin, -np.inf)
        return margin, margin > 0, probs


def word_counterfactual(
    model: TextModel,
    text: str,
    *,
    target: int | str = "second",
    vocabulary: Sequence[str] | None = None,
    params: WordEditParams = WordEditParams(),
    rng: np.random.Generator | int = 0,
) -> WordCounterfactual:
    """Few word edits that make the model predict `target` (a class, "second": the runner-up, "any")."""
    started = time.perf_counter()
    gen = rng_of(rng)
    segmented = model.segment(text)
    n = len(segmented)
    if n == 0:
        raise DataError("the text has no words to edit")
    options = _options(vocabulary, params)
    first = model.predict_kept(segmented, np.vstack([np.ones((1, n), bool), ~np.eye(n, dtype=bool)]))
    if not np.isfinite(first).all():
        raise DataError("the model returns NaN or Inf for this text; it cannot be explained")
    source = int(np.argmax(first[0]))
    wanted = _resolve_target(target, first[0], model.n_classes)
    if wanted == source:
        raise ArgumentError(f"the text is already predicted as class {source}; choose another target")
    scorer = _Scorer(model, source, wanted, params.budget - 1)  # one row is kept for the final check
    scorer.spent = len(first)
    importance = first[0, source] - first[1:, source]
    ranked = [int(i) for i in np.argsort(-importance, kind="stable")]
    search = _Search(segmented, scorer, options, ranked, params, gen)
    edits, reason = search.run()
    edited = segmented.edited(edits)
    _, valid, probs = scorer([edited])
    final_target = wanted if wanted is not None else int(np.argmax(probs[0]))
    changes = tuple(WordEdit(i, segmented.words[i], edits[i]) for i in sorted(edits))
    return WordCounterfactual(
        text=segmented.text,
        edited=edited,
        marked=segmented.edited(
            {e.position: f"[-{e.old}-]" + (f"{{+{e.new}+}}" if e.new else "") for e in changes}
        ),
        edits=changes,
        source=source,
        target=final_target,
        source_name=model.class_names[source],
        target_name=model.class_names[final_target],
        valid=bool(valid[0]),
        confidence=float(probs[0, final_target]),
        probabilities=probs[0],
        edit_distance=word_distance(segmented.words, model.segment(edited).words),
        queries=scorer.spent,
        seconds=time.perf_counter() - started,
        stop_reason=reason,
        settings={
            "budget": params.budget,
            "positions": params.positions,
            "substitutes": len(options) - int(params.deletion),
            "deletion": params.deletion,
            "refine": params.refine,
            "target": target if isinstance(target, str) else int(target),
            "seed": seed_of(rng),
        },
    )


def _options(vocabulary: Sequence[str] | None, params: WordEditParams) -> list[str]:
    """Replacement options: "" (deletion) first when allowed, then the substitutes."""
    words = (
        []
        if vocabulary is None
        else [w for w in dict.fromkeys(vocabulary) if isinstance(w, str) and w.strip()]
    )
    options = ([""] if params.deletion else []) + words[: params.substitutes]
    if not options:
        raise ArgumentError("no edit is possible: give a vocabulary of substitutes or allow deletion")
    return options


def _resolve_target(target: int | str, probs: np.ndarray, n_classes: int) -> int | None:
    if target == "any":
        return None
    if target == "second":
        if n_classes < 2:
            raise ArgumentError("the model has one class; there is no second one")
        return int(np.argsort(-probs, kind="stable")[1])
    if isinstance(target, bool) or not isinstance(target, int | np.integer) or not 0 <= target < n_classes:
        raise ArgumentError(
            f"target must be a class index 0..{n_classes - 1}, 'second' or 'any', got {target!r}"
        )
    return int(target)


class _Search:
    """Greedy edits, pruning, then the refinement; edits are {position: replacement}."""

    def __init__(
        self,
        segmented: Segmented,
        scorer: _Scorer,
        options: list[str],
        ranked: list[int],
        params: WordEditParams,
        rng: np.random.Generator,
    ) -> None:
        self.segmented = segmented
        self.scorer = scorer
        self.options = options
        self.ranked = ranked
        self.params = params
        self.rng = rng
        self.singles: dict[tuple[int, int], float] = {}  # (position, option) -> margin of that edit alone

    def _candidates(self, position: int) -> list[int]:
        word = self.segmented.words[position].lower()
        return [j for j, option in enumerate(self.options) if option.lower() != word]

    def run(self) -> tuple[dict[int, str], StopReason]:
        edits: dict[int, str] = {}
        reason: StopReason = "no_edit_left"
        while True:
            free = [i for i in self.ranked if i not in edits][: self.params.positions or None]
            pairs = [(i, j) for i in free for j in self._candidates(i)]
            if not pairs:
                break
            if self.scorer.left() < 1:
                reason = "budget"
                break
            if len(pairs) > self.scorer.left():  # what the budget allows: every position's first options
                rank = {i: r for r, i in enumerate(free)}
                pairs = sorted(pairs, key=lambda pair: (pair[1], rank[pair[0]]))[: self.scorer.left()]
            texts = [self.segmented.edited({**edits, i: self.options[j]}) for i, j in pairs]
            margins, valid, _ = self.scorer(texts)
            if not edits:
                self.singles = {pair: float(m) for pair, m in zip(pairs, margins)}
            best = int(np.argmax(margins))
            i, j = pairs[best]
            edits[i] = self.options[j]
            if valid[best]:
                reason = "flipped"
                break
        if reason != "flipped":
            return edits, reason
        edits = self._prune(edits)
        if self.params.refine:
            edits = self._refine(edits)
        return edits, "flipped"

    def _prune(self, edits: dict[int, str]) -> dict[int, str]:
        """Undo, one at a time, the edits that the text stays valid without (within the budget)."""
        for position in sorted(edits, key=lambda p: self.ranked.index(p), reverse=True):
            if len(edits) <= 1 or self.scorer.left() < 1:
                break
            trial = {p: r for p, r in edits.items() if p != position}
            _, valid, _ = self.scorer([self.segmented.edited(trial)])
            if valid[0]:
                edits = trial
        return edits

    def _refine(self, edits: dict[int, str]) -> dict[int, str]:
        """Elitist search over sets of len(edits) - 1 edits; every valid set found lowers the count."""
        params = self.params
        ranked = [i for i in self.ranked if self._candidates(i)]
        pool = ranked[: max(params.positions or len(ranked), len(edits) + 2)]
        weights = {i: self._option_weights(i) for i in pool}
        while len(edits) > 1 and self.scorer.left() >= params.batch:
            size = len(edits) - 1
            population = [self._draw(pool, weights, size) for _ in range(params.batch)]
            best_margin, stale, found = -np.inf, 0, None
            while found is None and stale < params.patience and self.scorer.left() >= len(population):
                margins, valid, _ = self.scorer(
                    [self.segmented.edited({i: self.options[j] for i, j in cand}) for cand in population]
                )
                if valid.any():
                    found = population[int(np.argmax(np.where(valid, margins, -np.inf)))]
                    break
                order = np.argsort(-margins, kind="stable")
                stale = 0 if margins[order[0]] > best_margin + 1e-9 else stale + 1
                best_margin = max(best_margin, float(margins[order[0]]))
                elites = [population[k] for k in order[: max(1, params.batch // 8)]]
                population = elites + [
                    self._mutate(elites[k % len(elites)], pool, weights)
                    for k in range(params.batch - len(elites))
                ]
            if found is None:
                break
            edits = self._prune({i: self.options[j] for i, j in found})
        return edits

    def _option_weights(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """Options of a position and their draw probabilities: softmax of the single-edit margins."""
        candidates = np.array(self._candidates(position))
        margins = np.array([self.singles.get((position, int(j)), np.nan) for j in candidates])
        known = np.isfinite(margins)
        scores = np.where(known, margins, np.nanmax(margins) if known.any() else 0.0)
        p = np.exp(scores - scores.max())
        return candidates, p / p.sum()

    def _draw(
        self, pool: list[int], weights: dict[int, tuple[np.ndarray, np.ndarray]], size: int
    ) -> tuple[tuple[int, int], ...]:
        positions = self.rng.choice(len(pool), size=min(size, len(pool)), replace=False)
        return tuple(sorted((pool[k], self._option(pool[k], weights)) for k in positions))

    def _option(self, position: int, weights: dict[int, tuple[np.ndarray, np.ndarray]]) -> int:
        candidates, p = weights[position]
        return int(candidates[self.rng.choice(len(candidates), p=p)])

    def _mutate(
        self,
        parent: tuple[tuple[int, int], ...],
        pool: list[int],
        weights: dict[int, tuple[np.ndarray, np.ndarray]],
    ) -> tuple[tuple[int, int], ...]:
        """Change one edit's option, or move it to an unused position."""
        child = dict(parent)
        k = int(self.rng.integers(len(parent)))
        position = parent[k][0]
        unused = [i for i in pool if i not in child]
        if unused and self.rng.random() < 0.5:
            del child[position]
            position = unused[int(self.rng.integers(len(unused)))]
        child[position] = self._option(position, weights)
        return tuple(sorted(child.items()))


def word_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (case-insensitive)."""
    a = [w.lower() for w in a]
    b = [w.lower() for w in b]
    row = np.arange(len(b) + 1)
    for i, word in enumerate(a, start=1):
        previous, row = row, np.empty_like(row)
        row[0] = i
        for j, other in enumerate(b, start=1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (word != other))
    return int(row[-1])
