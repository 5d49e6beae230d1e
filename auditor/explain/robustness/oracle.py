"""The model behind a population search: one call for every input's rows, queries counted per input, budgets hard."""

from __future__ import annotations

import numpy as np

from auditor.explain.counterfactuals.measures import LOG_FLOOR
from auditor.model.blackbox import BlackBox


class Oracle:
    """Answers rows owned by inputs: the margin of each input's own class and the label the model gives.

    `queries[i]` counts the rows sent for input i, its own prediction included; a call that would take an
    input past `budget` is refused (a bookkeeping bug in the search, never the user's input).
    """

    def __init__(self, blackbox: BlackBox, sources: np.ndarray, budget: int, labels_only: bool) -> None:
        self.blackbox = blackbox
        self.sources = sources
        self.budget = budget
        self.labels_only = labels_only or blackbox.signature.hard_label
        self.queries = np.ones(len(sources), dtype=np.int64)  # each input's own prediction

    def remaining(self) -> np.ndarray:
        return self.budget - self.queries

    def query(self, rows: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(margin, label) per row: margin = log p_source − max other log p (labels only: +1 kept, −1 flipped;
        +inf for rows with non-finite scores, which never count as flipped); label −1 for those rows."""
        if not len(rows):
            return np.empty(0), np.empty(0, dtype=np.int64)
        counts = np.bincount(owners, minlength=len(self.sources))
        if (counts > self.remaining()).any():
            raise RuntimeError("robustness search bookkeeping: a call would exceed an input's query budget")
        probs = self.blackbox.predict(rows.reshape(len(rows), *self.blackbox.input_shape), cache=False)
        self.queries += counts
        finite = np.isfinite(probs).all(axis=1)
        if not finite.all():
            probs = np.where(finite[:, None], probs, 0.0)
        labels = np.where(finite, probs.argmax(axis=1), -1)
        source = self.sources[owners]
        margins = np.where(labels == source, 1.0, -1.0) if self.labels_only else _margin(probs, source)
        margins[~finite] = np.inf
        return margins, labels


def _margin(probs: np.ndarray, source: np.ndarray) -> np.ndarray:
    """log p_source − max_{k≠source} log p_k per row, in float64 (probabilities floored at 1e-30)."""
    rows = np.arange(len(probs))
    own = probs[rows, source].astype(np.float64)
    others = probs.copy()
    others[rows, source] = -1.0
    return np.log(np.maximum(own, LOG_FLOOR)) - np.log(
        np.maximum(others.max(axis=1).astype(np.float64), LOG_FLOOR)
    )
