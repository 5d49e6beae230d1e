"""The checks of a text classifier: the same names, settings and verdict rules as for images and tables,
computed over words (auditor.explain.text).

- accuracy: the texts' predictions against their labels (the accuracy check's figures);
- stability: each text with `word_edits` random words removed, `repeats` times; the share of copies
  whose predicted class changes;
- exemplars: sentences the model gives each class, searched through the sentence decoder ([generator]);
- counterfactuals: the fewest word substitutions or deletions that flip each text's class, with the
  data's most frequent words as substitutes;
- attributions: word occlusion and LIME (KernelSHAP) weights, faithful when deletion in their order
  drops the score faster, and insertion raises it faster, than random orders.

Every perturbed text of a unit is scored in one batch; every randomized step takes the unit's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.audit.checks.accuracy import ACCURACY, accuracy_outcome
from auditor.audit.checks.attributions import ATTRIBUTIONS
from auditor.audit.checks.attributions import LEAST as ATTRIBUTION_LEAST
from auditor.audit.checks.context import Context, TextContext
from auditor.audit.checks.core import (
    ROWS_PER_UNIT,
    Check,
    Reduced,
    Slice,
    Unit,
    calls_for,
    chunks,
    criteria,
    search_budget,
)
from auditor.audit.checks.counterfactuals import COUNTERFACTUALS, LEAST_SAMPLES
from auditor.audit.checks.exemplars import EXEMPLARS, OVERSHOOT
from auditor.audit.checks.exemplars import LEAST as EXEMPLAR_LEAST
from auditor.audit.checks.inputs import covered_classes
from auditor.audit.checks.robustness import ROBUSTNESS
from auditor.audit.checks.stability import LEAST as STABILITY_LEAST
from auditor.audit.checks.stability import STABILITY, flip_figures
from auditor.audit.config import (
    AccuracySettings,
    AttributionSettings,
    CounterfactualSettings,
    ExemplarSettings,
    RobustnessSettings,
    StabilitySettings,
)
from auditor.audit.plan import Work, scale
from auditor.audit.results import Outcome
from auditor.audit.seeds import unit_seed
from auditor.errors import ArgumentError, DataError
from auditor.explain.exemplars import ExemplarParams
from auditor.explain.text import (
    WORD_METHODS,
    TextExemplars,
    WordCounterfactual,
    WordEditParams,
    corpus_vocabulary,
    text_exemplars,
    word_attribution,
    word_counterfactual,
    word_faithfulness,
)
from auditor.search import Evaluation
from auditor.search.registry import make_search

FLIP_EXAMPLES = 8
TEXTS_PER_UNIT = 256  # stability: texts whose copies are scored in one batch
LISTED_WORDS = 60  # words of one text shown with their weights in the report
PROBE_ROWS = 256  # draws of the decoder's prior the plan classifies once, to learn how soon exemplars succeed
#: What a removed word becomes, in the report's words.
REMOVAL_WORDS = {
    "delete": "words deleted",
    "mask": "words replaced by the mask token",
    "unk": "words replaced by the unknown token",
}


def _text(ctx: Context) -> TextContext:
    assert ctx.text is not None  # text checks run on text contexts only
    return ctx.text


def _need_texts(ctx: Context) -> str | None:
    if not _text(ctx).texts:
        return "no texts given (add [data] path = a .txt, .csv or .jsonl file to the config, or --data)"
    return None


def _spread_rows(text: TextContext, n: int, seed: int, tag: str) -> list[int]:
    """n texts, round robin over the labels after a seeded shuffle (the first ones shuffled without labels)."""
    order = np.random.default_rng(unit_seed(seed, tag, 0)).permutation(len(text.texts))
    if text.labels is None:
        return [int(i) for i in order[:n]]
    y = text.labels[order]
    rank = np.zeros(len(order), dtype=np.int64)
    for c in np.unique(y):
        rank[y == c] = np.arange(int((y == c).sum()))
    return [int(i) for i in order[np.lexsort((y, rank))][:n]]


# ------------------------------------------------------------------ accuracy


def _accuracy_unmet(ctx: Context, settings: AccuracySettings) -> str | None:
    if _need_texts(ctx):
        return _need_texts(ctx)
    return (
        None if _text(ctx).labels is not None else "the texts have no labels, so accuracy cannot be measured"
    )


def _accuracy_plan(ctx: Context, settings: AccuracySettings, seed: int) -> list[Slice]:
    return chunks(range(len(_text(ctx).texts)), ROWS_PER_UNIT)


def _accuracy_estimate(ctx: Context, settings: AccuracySettings, slices: list[Slice]) -> Work:
    sizes = [len(items) for _, items in slices]
    return Work(sum(sizes), calls_for(sizes, ctx.blackbox.batch_size), texts=sum(sizes))


def _accuracy_run(ctx: Context, settings: AccuracySettings, unit: Unit) -> np.ndarray:
    text = _text(ctx)
    return text.model.predict([text.texts[i] for i in unit.items])


def _accuracy_merge(ctx: Context, settings: AccuracySettings, parts: list[np.ndarray]) -> Outcome:
    labels = _text(ctx).labels
    assert labels is not None  # unmet() said so
    return accuracy_outcome(ctx, settings, np.concatenate(parts), labels)


TEXT_ACCURACY = Check(
    ACCURACY.name,
    ACCURACY.title,
    settings=ACCURACY.settings,
    unmet=_accuracy_unmet,
    plan=_accuracy_plan,
    run=_accuracy_run,
    merge=_accuracy_merge,
    estimate=_accuracy_estimate,
)


# ------------------------------------------------------------------ stability


@dataclass(frozen=True)
class WordFlips:
    """One unit's texts: their predicted class, their copies' classes (rows x repeats), flipped examples."""

    items: np.ndarray
    clean: np.ndarray
    noisy: np.ndarray
    examples: tuple[dict[str, Any], ...]


def _stability_unmet(ctx: Context, settings: StabilitySettings) -> str | None:
    return _need_texts(ctx)


def _stability_plan(ctx: Context, settings: StabilitySettings, seed: int) -> list[Slice]:
    rows = _spread_rows(_text(ctx), settings.samples, seed, "stability")
    return chunks(rows, TEXTS_PER_UNIT)


def _stability_estimate(ctx: Context, settings: StabilitySettings, slices: list[Slice]) -> Work:
    sizes = [len(items) * (1 + settings.repeats) for _, items in slices]
    return Work(sum(sizes), calls_for(sizes, ctx.blackbox.batch_size), texts=sum(sizes))


def _stability_reduce(
    ctx: Context, settings: StabilitySettings, share: float, why: str
) -> Reduced[StabilitySettings]:
    """Cut from the texts really tested (no more than the data holds), then the copies (the pixel rule)."""
    rows = min(settings.samples, len(_text(ctx).texts))
    return scale(replace(settings, samples=rows), STABILITY_LEAST, share, why)


def _stability_run(ctx: Context, settings: StabilitySettings, unit: Unit) -> WordFlips:
    """Each text and `repeats` copies without `word_edits` random words (deleted), all in one batch."""
    text = _text(ctx)
    rng = np.random.default_rng(unit.seed)
    originals = [text.texts[i] for i in unit.items]
    copies: list[str] = []
    removed: list[list[int]] = []
    segments = [text.model.segment(t) for t in originals]
    for segmented in segments:
        for _ in range(settings.repeats):
            n = len(segmented)
            chosen = sorted(rng.choice(n, min(settings.word_edits, n), replace=False).tolist()) if n else []
            removed.append(chosen)
            copies.append(segmented.edited({j: "" for j in chosen}))
    probs = text.model.predict(originals + copies)
    finite = np.isfinite(probs).all(axis=1)
    labels = np.where(finite, np.nan_to_num(probs).argmax(axis=1), -1)
    clean = labels[: len(originals)]
    noisy = labels[len(originals) :].reshape(len(originals), settings.repeats)
    examples: list[dict[str, Any]] = []
    for i, segmented in enumerate(segments):
        hits = np.flatnonzero((noisy[i] != clean[i]) & (clean[i] >= 0))
        if len(hits) and len(examples) < FLIP_EXAMPLES:
            j = int(hits[0])
            gone = removed[i * settings.repeats + j]
            examples.append(
                {
                    "index": int(unit.items[i]),
                    "text": segmented.text,
                    "removed": [segmented.words[w] for w in gone],
                    "marked": _marks(segmented.text, [segmented.spans[w] for w in gone], "removed"),
                    "clean": int(clean[i]),
                    "noisy": int(noisy[i, j]),
                }
            )
    return WordFlips(np.asarray(unit.items, np.int64), clean, noisy, tuple(examples))


def _stability_merge(ctx: Context, settings: StabilitySettings, parts: list[WordFlips]) -> Outcome:
    clean_all = np.concatenate([p.clean for p in parts])
    noisy_all = np.concatenate([p.noisy for p in parts])
    rate, tests, figures_of_flips = flip_figures(ctx, settings, clean_all, noisy_all)
    examples = [
        {**e, "clean_name": ctx.class_name(e["clean"]), "noisy_name": ctx.class_name(e["noisy"])}
        for p in parts
        for e in p.examples
    ][:FLIP_EXAMPLES]
    details = {
        "input_kind": "text",
        "inputs": "texts",
        **figures_of_flips,
        "noise": {"kind": "word deletion", "words": settings.word_edits, "repeats": settings.repeats},
        "text_examples": examples,
    }
    return Outcome(rate, "flip rate", "lower", tests, details)


TEXT_STABILITY = Check(
    STABILITY.name,
    "Stability under word deletion",
    settings=STABILITY.settings,
    unmet=_stability_unmet,
    plan=_stability_plan,
    run=_stability_run,
    merge=_stability_merge,
    estimate=_stability_estimate,
    reduce=_stability_reduce,
)


# ------------------------------------------------------------------ exemplars


def _exemplars_unmet(ctx: Context, settings: ExemplarSettings) -> str | None:
    if _text(ctx).decoder is None:
        return (
            "no sentence decoder given ([generator] path / --generator): text exemplars are decoded sentences"
        )
    return None


def _exemplars_plan(ctx: Context, settings: ExemplarSettings, seed: int) -> list[Slice]:
    return chunks(list(covered_classes(ctx, settings.classes)), 1, "classes")


def _exemplars_estimate(ctx: Context, settings: ExemplarSettings, slices: list[Slice]) -> Work:
    """The queries the searches are expected to spend, not their budgets: a search stops at the end of the
    first generation with a sentence of the class at `min_confidence`, and on the text sample that is the
    first one (50 rows of 20,000). The first generation draws the decoder's prior (momentum ES from the
    prior, CMA-ES from its centre at one prior deviation), so the share p of PROBE_ROWS prior draws that
    reach a class (`prior_reach`) gives the chance that a generation of n rows finds none, (1 - p)^n. A
    search is planned at its first generation plus the expected further generations as if they drew
    the prior too (they search nearer the class, so this errs high); a class that no draw reached is
    planned at its whole budget. Every query is a decoded row, and each restart's classes run in lockstep
    (one decoder and one classifier call per generation)."""
    budget = search_budget(ctx, settings.budget)
    reach = prior_reach(ctx, settings.min_confidence)
    first, later = _populations(ctx, settings.method)
    queries = calls = 0
    steps = 0
    for _, items in slices:
        spent = [expected_search_queries(float(reach[k]), first, later, budget) for k in items]
        generations = [1 + max(q - first, 0) / later for q in spent]
        queries += settings.per_class * round(sum(spent))
        steps += settings.per_class * round(sum(generations))
        calls += settings.per_class * int(np.ceil(max(generations, default=0)))
    assert _text(ctx).decoder is not None  # unmet() said so
    dim = _text(ctx).decoder.latent_dim  # type: ignore[union-attr]
    steps_of = {(settings.method, dim): steps}
    return Work(queries, calls, generator_rows=queries, steps=steps_of, texts=queries)


def prior_reach(ctx: Context, confidence: float) -> np.ndarray:
    """Per class, the share of PROBE_ROWS draws of the decoder's prior that the classifier gives that class
    with at least `confidence`: one decoder call and one classifier call (planning queries), made once."""
    text = _text(ctx)
    decoder = text.decoder
    assert decoder is not None  # unmet() said so
    key = (ctx.config.run.seed, confidence)
    if key not in text.prior_reach:
        rng = np.random.default_rng(unit_seed(ctx.config.run.seed, "plan-text-exemplars", 0))
        probs = text.model.predict(decoder.texts(decoder.decode(decoder.sample_prior(PROBE_ROWS, rng))))
        text.prior_reach[key] = (np.nan_to_num(probs, nan=0.0) >= confidence).mean(axis=0)
    return text.prior_reach[key]


def _populations(ctx: Context, method: str) -> tuple[int, int]:
    """Rows the search asks in its first generation and in each later one (as built for the search)."""
    decoder = _text(ctx).decoder
    assert decoder is not None  # unmet() said so
    search = make_search(method, decoder.latent_dim, np.random.default_rng(0))
    z = search.ask()
    search.tell(z, Evaluation(np.zeros(len(z)), np.zeros(len(z), dtype=bool)))
    return len(z), len(search.ask())


def expected_search_queries(reach: float, first: int, later: int, budget: int) -> float:
    """Queries of one search whose every row reaches its class with chance `reach`, stopped at the end of
    the generation of its first success, or at its budget (passed by less than a generation)."""
    cap = budget + OVERSHOOT
    if reach <= 0.0:
        return float(cap)
    missed = (1.0 - reach) ** first
    found_later = 1.0 - (1.0 - reach) ** later
    return min(first + (missed * later / found_later if found_later > 0 else cap), cap)


def _exemplars_reduce(
    ctx: Context, settings: ExemplarSettings, share: float, why: str
) -> Reduced[ExemplarSettings]:
    """The pixel rule (searches per class, then the budget, then classes), the budget cut only when some
    class is planned to spend it (a cut that stops no search saves nothing)."""
    full = replace(
        settings, classes=covered_classes(ctx, settings.classes), budget=search_budget(ctx, settings.budget)
    )
    reach = prior_reach(ctx, settings.min_confidence)
    spends = any(reach[k] <= 0.0 for k in full.classes)  # a tuple of indices now
    return scale(full, tuple(d for d in EXEMPLAR_LEAST if spends or d[0] != "budget"), share, why)


def _exemplars_run(ctx: Context, settings: ExemplarSettings, unit: Unit) -> TextExemplars:
    text = _text(ctx)
    assert text.decoder is not None  # unmet() said so
    params = ExemplarParams(
        per_class=settings.per_class,
        method=settings.method,
        budget=search_budget(ctx, settings.budget),
        threshold=settings.min_confidence,
    )
    return text_exemplars(text.model, text.decoder, list(unit.items), params=params, rng=unit.seed)


def _exemplars_merge(ctx: Context, settings: ExemplarSettings, parts: list[TextExemplars]) -> Outcome:
    rows = []
    sentences = []
    found_queries = []
    for part in parts:
        for group, texts in zip(part.result.classes, part.texts, strict=True):
            found = [e for e in group.exemplars if e.success]
            found_queries += [e.first_success_queries for e in found if e.first_success_queries is not None]
            rows.append(
                {
                    "class": group.target,
                    "name": group.target_name,
                    "found": len(found),
                    "searched": len(group.exemplars),
                    "best_confidence": max((e.confidence for e in group.exemplars), default=None),
                }
            )
            sentences += [
                {
                    "target": e.target,
                    "target_name": group.target_name,
                    "confidence": e.confidence,
                    "success": e.success,
                    "queries": e.queries,
                    "first_success_queries": e.first_success_queries,
                    "text": sentence,
                }
                for e, sentence in zip(group.exemplars, texts, strict=True)
            ]
    share = sum(1 for row in rows if row["found"]) / len(rows) if rows else 0.0
    tests = criteria(("classes reached", share, ">=", settings.min_reached))
    details = {
        "input_kind": "text",
        "space": "latent",
        "method": settings.method,
        "threshold": settings.min_confidence,
        "classes_reached": share,
        "unreached": [row["name"] for row in rows if not row["found"]],
        "median_queries_to_success": float(np.median(found_queries)) if found_queries else None,
        "per_class": rows,
        "exemplars": sentences,
    }
    derived = {"budget": search_budget(ctx, settings.budget), "space": "latent"}
    return Outcome(share, "classes reached", "higher", tests, details, (), derived)


TEXT_EXEMPLARS = Check(
    EXEMPLARS.name,
    "Class exemplars through the sentence decoder",
    settings=EXEMPLARS.settings,
    unmet=_exemplars_unmet,
    plan=_exemplars_plan,
    run=_exemplars_run,
    merge=_exemplars_merge,
    estimate=_exemplars_estimate,
    reduce=_exemplars_reduce,
    shared_seed=True,
)


# ------------------------------------------------------------------ counterfactuals


def _counterfactuals_unmet(ctx: Context, settings: CounterfactualSettings) -> str | None:
    return _need_texts(ctx)


def _counterfactuals_plan(ctx: Context, settings: CounterfactualSettings, seed: int) -> list[Slice]:
    return chunks(_spread_rows(_text(ctx), settings.samples, seed, "counterfactuals"), 1)


def _counterfactuals_estimate(ctx: Context, settings: CounterfactualSettings, slices: list[Slice]) -> Work:
    """Each text's search as far as its first greedy step, capped at the budget: the text with each of its W
    words deleted (W + 1 rows, scored as token rows), then every option (deletion and the corpus's most
    frequent words) at each of the `positions` most important words, texts tokenized and scored in one
    batch. A search stops once an edit flips the text; a text that needs k edits spends about k such
    steps (and a pruning and a refinement), so this is the search of a one-word counterfactual, as every
    one of the text sample's is (10 of 10, 1,009 to 1,626 queries planned at about 1,620; planned at
    its whole budget instead, 20,000 a text, the plan was 12 times the queries spent)."""
    queries = calls = edited = 0
    for words, step, spent in _word_searches(ctx, settings, [row for _, items in slices for row in items]):
        queries += spent
        edited += max(spent - words - 1, 0)
        calls += calls_for([words + 1, step], ctx.blackbox.batch_size)
    return Work(queries, calls, texts=edited)


def _word_searches(
    ctx: Context, settings: CounterfactualSettings, rows: list[int]
) -> list[tuple[int, int, int]]:
    """Per text: its words, the queries of one greedy step, and the queries planned (see the estimate)."""
    text = _text(ctx)
    params = WordEditParams(budget=search_budget(ctx, settings.budget))
    options = int(params.deletion) + min(params.substitutes, len(corpus_vocabulary(text.texts)))
    planned = []
    for row in rows:
        words = len(text.model.segment(text.texts[row]))
        step = min(params.positions or words, words) * options
        planned.append((words, step, min(words + 1 + step, params.budget)))
    return planned


def _counterfactuals_reduce(
    ctx: Context, settings: CounterfactualSettings, share: float, why: str
) -> Reduced[CounterfactualSettings]:
    """The pixel rule for the explained rows (each search's budget, then the texts; text has no flip
    matrix), the budget cut only when a text is planned to spend it (a cut that stops no search saves
    nothing, and one below a greedy step's queries leaves the search few of its options)."""
    budget = search_budget(ctx, settings.budget)
    full = replace(settings, budget=budget, samples=min(settings.samples, len(_text(ctx).texts)))
    rows = [row for _, items in _counterfactuals_plan(ctx, full, ctx.config.run.seed) for row in items]
    spends = any(spent >= budget for _, _, spent in _word_searches(ctx, full, rows))
    return scale(full, tuple(d for d in LEAST_SAMPLES if spends or d[0] != "budget"), share, why)


def _counterfactuals_run(
    ctx: Context, settings: CounterfactualSettings, unit: Unit
) -> list[tuple[int, WordCounterfactual | str, list[dict[str, str]]]]:
    """Each text's counterfactual with its edits marked, or why the search could not work on it."""
    text = _text(ctx)
    vocabulary = corpus_vocabulary(text.texts)
    out: list[tuple[int, WordCounterfactual | str, list[dict[str, str]]]] = []
    for row in unit.items:
        segmented = text.model.segment(text.texts[row])
        try:
            result = word_counterfactual(
                text.model,
                segmented.text,
                target=settings.target,
                vocabulary=vocabulary,
                params=WordEditParams(budget=search_budget(ctx, settings.budget)),
                rng=unit.seed,
            )
        except (ArgumentError, DataError) as exc:  # no words, or the target is its own class
            out.append((row, str(exc), []))
            continue
        edits = {e.position: e.new for e in result.edits}
        pieces = _marks(segmented.text, [segmented.spans[i] for i in edits], "edit")
        replacements = iter(edits[i] for i in sorted(edits))
        for piece in pieces:
            if piece["kind"] == "edit":
                piece["new"] = next(replacements)
        out.append((row, result, pieces))
    return out


def _counterfactuals_merge(
    ctx: Context,
    settings: CounterfactualSettings,
    parts: list[list[tuple[int, WordCounterfactual | str, list[dict[str, str]]]]],
) -> Outcome:
    listed: list[dict[str, Any]] = []
    results: list[WordCounterfactual] = []
    skipped: list[dict[str, Any]] = []
    for part in parts:
        for row, found, pieces in part:
            if isinstance(found, str):
                skipped.append({"index": row, "reason": found})
                continue
            results.append(found)
            listed.append({"index": row, **found.to_dict(), "segments": pieces})
    valid = [r for r in results if r.valid]
    share = len(valid) / len(results) if results else None
    tests = criteria(("valid counterfactuals", share, ">=", settings.min_validity))
    details = {
        "input_kind": "text",
        "space": "words",
        "target": settings.target,
        "rows": len(results),
        "validity": share,
        "median_edits": float(np.median([len(r.edits) for r in valid])) if valid else None,
        "median_edit_distance": float(np.median([r.edit_distance for r in valid])) if valid else None,
        "median_queries": float(np.median([r.queries for r in results])) if results else None,
        "counterfactuals": listed,
        "skipped": skipped,
    }
    derived = {"budget": search_budget(ctx, settings.budget), "space": "words"}
    return Outcome(share, "valid counterfactuals", "higher", tests, details, (), derived)


TEXT_COUNTERFACTUALS = Check(
    COUNTERFACTUALS.name,
    "Counterfactual word edits",
    settings=COUNTERFACTUALS.settings,
    unmet=_counterfactuals_unmet,
    plan=_counterfactuals_plan,
    run=_counterfactuals_run,
    merge=_counterfactuals_merge,
    estimate=_counterfactuals_estimate,
    reduce=_counterfactuals_reduce,
)


# ------------------------------------------------------------------ attributions


def _attributions_unmet(ctx: Context, settings: AttributionSettings) -> str | None:
    unknown = [m for m in settings.methods if m not in WORD_METHODS]
    if unknown:
        return f"{', '.join(unknown)} do not apply to text models; use {', '.join(WORD_METHODS)}"
    return _need_texts(ctx)


def _attributions_plan(ctx: Context, settings: AttributionSettings, seed: int) -> list[Slice]:
    return chunks(_spread_rows(_text(ctx), settings.samples, seed, "attributions"), 1)


def _attributions_estimate(ctx: Context, settings: AttributionSettings, slices: list[Slice]) -> Work:
    """Per text of W words: occlusion W + 2 rows, LIME its samples, and each map's curves
    (orders + 1) x 2 x (min(W, steps) + 1) rows; two calls a map."""
    text = _text(ctx)
    queries = calls = 0
    for _, items in slices:
        for row in items:
            words = len(text.model.segment(text.texts[row]))
            for method in settings.methods:
                queries += words + 2 if method == "occlusion" else settings.lime_samples
                queries += (settings.orders + 1) * 2 * (min(words, settings.steps) + 1)
                calls += 2
    return Work(queries, calls)


def _attributions_reduce(
    ctx: Context, settings: AttributionSettings, share: float, why: str
) -> Reduced[AttributionSettings]:
    """The pixel rule: texts, LIME's samples (when a sampled method runs), curve steps, random orders."""
    sampled = any(method != "occlusion" for method in settings.methods)  # lime, kernel-shap
    dials = tuple(d for d in ATTRIBUTION_LEAST if sampled or d[0] != "lime_samples")
    return scale(replace(settings, samples=min(settings.samples, len(_text(ctx).texts))), dials, share, why)


def _attributions_run(ctx: Context, settings: AttributionSettings, unit: Unit) -> list[dict[str, Any]]:
    text = _text(ctx)
    out = []
    for row in unit.items:
        sentence = text.texts[row]
        for method in settings.methods:
            found = word_attribution(
                text.model,
                sentence,
                method,
                removal=settings.removal,
                samples=settings.lime_samples,
                rng=unit.seed,
            )
            faith = word_faithfulness(
                text.model, found, orders=settings.orders, steps=settings.steps, rng=unit.seed
            )
            faithful = faith.beats_random
            weights = np.asarray(found.weights, np.float64)
            scale = float(np.max(np.abs(weights))) if weights.size and np.isfinite(weights).all() else 0.0
            out.append(
                {
                    "index": int(row),
                    "method": found.method,
                    "target": found.target,
                    "target_name": found.target_name,
                    "score": found.score,
                    "score_input": found.score_input,
                    "removal": found.removal,
                    "deletion_auc": faith.deletion_auc,
                    "insertion_auc": faith.insertion_auc,
                    "random_deletion_auc": faith.random_deletion_auc,
                    "random_insertion_auc": faith.random_insertion_auc,
                    "faithful": bool(faithful),
                    "fidelity": found.fidelity,
                    "queries": int(found.queries + faith.queries),
                    "shape": [len(found.words)],
                    "text": found.text,
                    "words": [
                        {
                            "word": word,
                            "start": span[0],
                            "stop": span[1],
                            "weight": float(weight),
                            "shade": _shade(float(weight), scale),
                        }
                        for word, span, weight in list(zip(found.words, found.spans, weights))[:LISTED_WORDS]
                    ],
                }
            )
    return out


def _shade(weight: float, scale: float) -> str:
    """A CSS class for a word's weight: pos-1..4 (for the class) or neg-1..4 (against it), 0 when negligible."""
    if not scale or not np.isfinite(weight):
        return "w0"
    level = min(4, int(np.ceil(4 * abs(weight) / scale)))
    if level == 0 or abs(weight) < 0.05 * scale:
        return "w0"
    return f"{'pos' if weight > 0 else 'neg'}{level}"


def _attributions_merge(
    ctx: Context, settings: AttributionSettings, parts: list[list[dict[str, Any]]]
) -> Outcome:
    rows = [entry for part in parts for entry in part]
    for entry in rows:
        entry["segments"] = _weight_segments(entry)
    share = float(np.mean([r["faithful"] for r in rows])) if rows else None
    tests = criteria(("faithful maps", share, ">=", settings.min_faithful))
    keys = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc")
    details = {
        "baseline": REMOVAL_WORDS[settings.removal],
        "input_kind": "text",
        "removal": settings.removal,
        "methods": list(settings.methods),
        "faithful_share": share,
        **{f"median_{key}": float(np.median([r[key] for r in rows])) if rows else None for key in keys},
        "maps": rows,
    }
    return Outcome(share, "faithful maps", "higher", tests, details, (), {"baseline": details["baseline"]})


def _weight_segments(entry: dict[str, Any]) -> list[dict[str, str]]:
    """The text as pieces: plain text between the words, and each listed word with its shade."""
    pieces: list[dict[str, str]] = []
    last = 0
    sentence = entry["text"]
    for word in entry["words"]:
        pieces.append({"kind": "text", "text": sentence[last : word["start"]]})
        pieces.append(
            {"kind": "word", "text": sentence[word["start"] : word["stop"]], "shade": word["shade"],
             "weight": f"{word['weight']:+.3f}"}
        )  # fmt: skip
        last = word["stop"]
    pieces.append({"kind": "text", "text": sentence[last:]})
    return pieces


def _marks(sentence: str, spans: list[tuple[int, int]], kind: str) -> list[dict[str, str]]:
    """The text as pieces: plain text, and the spans marked as `kind`."""
    pieces: list[dict[str, str]] = []
    last = 0
    for start, stop in sorted(spans):
        pieces.append({"kind": "text", "text": sentence[last:start]})
        pieces.append({"kind": kind, "text": sentence[start:stop]})
        last = stop
    pieces.append({"kind": "text", "text": sentence[last:]})
    return pieces


TEXT_ATTRIBUTIONS = Check(
    ATTRIBUTIONS.name,
    "Word attributions and their faithfulness",
    settings=ATTRIBUTIONS.settings,
    unmet=_attributions_unmet,
    plan=_attributions_plan,
    run=_attributions_run,
    merge=_attributions_merge,
    estimate=_attributions_estimate,
    reduce=_attributions_reduce,
)


# ------------------------------------------------------------------ robustness


def _robustness_unmet(ctx: Context, settings: RobustnessSettings | None) -> str | None:
    return "robustness radii are measured in input space, which token ids and strings do not have"


TEXT_ROBUSTNESS = Check(
    ROBUSTNESS.name,
    ROBUSTNESS.title,
    settings=ROBUSTNESS.settings,
    unmet=_robustness_unmet,
    plan=lambda ctx, settings, seed: [],
    run=lambda ctx, settings, unit: None,
    merge=lambda ctx, settings, parts: Outcome(None, "", "higher"),
    opt_in=True,
)

#: The text form of each check that differs for text models, by name.
TEXT_CHECKS: dict[str, Check[Any, Any]] = {
    check.name: check
    for check in (
        TEXT_ACCURACY,
        TEXT_STABILITY,
        TEXT_EXEMPLARS,
        TEXT_COUNTERFACTUALS,
        TEXT_ATTRIBUTIONS,
        TEXT_ROBUSTNESS,
    )
}
