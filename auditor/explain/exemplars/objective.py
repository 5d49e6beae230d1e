"""What an exemplar search minimises for one target: the Brier or margin loss, repelled from earlier exemplars."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from auditor.search import Evaluation

# Probabilities are clipped here before logs: float32's smallest normal number.
TINY = float(np.finfo(np.float32).tiny)
# The worst value each objective can take; rows too close to an earlier exemplar score above it.
WORST = {"brier": 2.0, "margin": float(-np.log(TINY))}

Scorer = Callable[[np.ndarray, np.ndarray, np.ndarray], Evaluation]
"""(latent rows, classifier rows, probabilities) -> loss and success for one target."""


def scorer(
    target: int,
    objective: str,
    threshold: float,
    prior_penalty: float,
    repel: np.ndarray,
    min_distance: float,
) -> Scorer:
    """The loss of `objective` for `target`; success at p_target >= threshold and `min_distance`
    (latent) from every row of `repel`; plus prior_penalty·||z||²/d."""

    def score(z: np.ndarray, x: np.ndarray, probs: np.ndarray) -> Evaluation:
        probs = probs.astype(np.float64)
        p_target = probs[:, target]
        if objective == "brier":
            loss = np.sum(probs**2, axis=1) - 2 * p_target + 1.0
        else:
            logs = np.log(np.clip(probs, TINY, 1.0))
            loss = np.delete(logs, target, axis=1).max(axis=1) - logs[:, target]
        success = p_target >= threshold
        if repel.size and min_distance > 0:
            distance = np.sqrt(((z[:, None, :] - repel[None]) ** 2).sum(axis=2)).min(axis=1)
            close = distance < min_distance
            loss = np.where(close, WORST[objective] + 1.0 - distance / min_distance, loss)
            success &= ~close
        if prior_penalty:
            loss = loss + prior_penalty * np.sum(z**2, axis=1) / z.shape[1]
        return Evaluation(loss, success, {"probabilities": probs, "input": x})

    return score
