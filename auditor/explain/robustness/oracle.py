"""The model behind a population search: one call for every input's rows, queries counted per input, budgets hard."""

from __future__ import annotations

import numpy as np

from auditor.explain.metrics import margin as any_class_margin
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
        labels = np.where(finite, np.nan_to_num(probs, nan=-1.0).argmax(axis=1), -1)
        source = self.sources[owners]
        if self.labels_only:
            margins = np.where(labels == source, 1.0, -1.0)
        else:
            margins = -any_class_margin(probs, -1, source)
        margins[~finite] = np.inf
        return margins, labels
