"""The accuracy check: accuracy, per-class recall and precision, and calibration against the data's labels."""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.checks.core import (
    LARGE_ROWS_PER_UNIT,
    NAMED_ROWS,
    ROWS_PER_UNIT,
    Check,
    Slice,
    Unit,
    calls_for,
    chunks,
    criteria,
    per_unit,
)
from auditor.audit.config import AccuracySettings
from auditor.audit.plan import Work
from auditor.audit.results import Figure, Outcome
from auditor.pictures import png_bytes, reliability_diagram


def unmet(ctx: Context, settings: AccuracySettings) -> str | None:
    if ctx.data is None:
        return "no data given (add [data] path to the config or pass --data FILE with labels y)"
    if ctx.data.y is None:
        return "the data has no labels (y), so accuracy cannot be measured"
    return None


def plan(ctx: Context, settings: AccuracySettings, seed: int) -> list[Slice]:
    assert ctx.data is not None  # unmet() said so
    return chunks(range(len(ctx.data)), per_unit(ctx, ROWS_PER_UNIT, LARGE_ROWS_PER_UNIT))


def estimate(ctx: Context, settings: AccuracySettings, slices: list[Slice]) -> Work:
    sizes = [len(items) for _, items in slices]
    return Work(sum(sizes), calls_for(sizes, ctx.blackbox.batch_size))


def run(ctx: Context, settings: AccuracySettings, unit: Unit) -> np.ndarray:
    assert ctx.data is not None
    return ctx.blackbox.predict(ctx.data.x[list(unit.items)])


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, with the reliability table."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    hits = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    n = max(len(confidence), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = hits / counts
        mean_conf = conf_sum / counts
    ece = float(np.sum(np.where(counts > 0, np.abs(accuracy - mean_conf) * counts / n, 0.0)))
    return {
        "ece": ece,
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "accuracy": [float(a) if c else None for a, c in zip(accuracy, counts)],
        "confidence": [float(m) if c else None for m, c in zip(mean_conf, counts)],
    }


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [float(a / b) if b else None for a, b in zip(num, den)]


def _f1(recall: float | None, precision: float | None) -> float | None:
    if recall is None or precision is None or recall + precision <= 0:
        return None
    return 2 * recall * precision / (recall + precision)


def merge(ctx: Context, settings: AccuracySettings, parts: list[np.ndarray]) -> Outcome:
    assert ctx.data is not None and ctx.data.y is not None
    return accuracy_outcome(ctx, settings, np.concatenate(parts), ctx.data.y)


def accuracy_outcome(ctx: Context, settings: AccuracySettings, probs: np.ndarray, y: np.ndarray) -> Outcome:
    """The accuracy check's figures from the model's probabilities (n, K) and the labels (n,)."""
    k = ctx.blackbox.n_classes
    finite = np.isfinite(probs).all(axis=1)
    pred = np.where(finite, np.nan_to_num(probs).argmax(axis=1), -1)
    correct = pred == y
    confusion = np.zeros((k, k + 1), dtype=np.int64)  # last column: no prediction (non-finite scores)
    np.add.at(confusion, (y, np.where(pred < 0, k, pred)), 1)
    support = confusion.sum(axis=1)
    predicted = confusion[:, :k].sum(axis=0)
    true_pos = np.diag(confusion[:, :k])
    recall, precision = _ratio(true_pos, support), _ratio(true_pos, predicted)
    confidence = np.where(finite, np.nan_to_num(probs).max(axis=1), 0.0)
    cal = calibration(confidence, correct, settings.bins)
    accuracy = float(correct.mean())
    p_true = np.where(finite, np.nan_to_num(probs)[np.arange(len(y)), y], 0.0)
    present = [r for r in recall if r is not None]
    worst_recall = min(present) if present else None
    tests = criteria(
        ("accuracy", accuracy, ">=", settings.min),
        ("expected calibration error", cal["ece"], "<=", settings.max_ece),
        ("lowest per-class recall", worst_recall, ">=", settings.min_class_recall),
    )
    classes = [
        {
            "class": i,
            "name": ctx.class_name(i),
            "support": int(support[i]),
            "recall": recall[i],
            "precision": precision[i],
            "f1": _f1(recall[i], precision[i]),
        }
        for i in range(k)
    ]
    details = {
        "rows": len(y),
        "accuracy": accuracy,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "lowest_class_recall": worst_recall,
        "log_loss": float(-np.mean(np.log(np.clip(p_true, 1e-12, 1.0)))),
        "brier": float(np.mean(np.sum((np.nan_to_num(probs) - np.eye(k)[y]) ** 2, axis=1))),
        "nonfinite_rows": int((~finite).sum()),
        "nonfinite_row_indices": [int(i) for i in np.flatnonzero(~finite)[:NAMED_ROWS]],
        "per_class": classes,
        "confusion_matrix": confusion[:, :k].tolist(),
        "unpredicted": confusion[:, k].tolist(),
        "calibration": cal,
    }
    chart = reliability_diagram(cal["edges"], cal["accuracy"], cal["counts"])
    figures = (
        Figure("accuracy-reliability", f"Reliability diagram, ECE {cal['ece']:.3f}", png_bytes(chart)),
    )
    return Outcome(accuracy, "accuracy", "higher", tests, details, figures)


ACCURACY = Check(
    "accuracy",
    "Accuracy and calibration",
    settings=lambda config: config.checks.accuracy,
    unmet=unmet,
    plan=plan,
    run=run,
    merge=merge,
    estimate=estimate,
)
