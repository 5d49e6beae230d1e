"""What the engine needs of a search space: the input space and the generator's latent space both fit it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from auditor.explain.counterfactuals.objective import Task


class Space(Protocol):
    """Where a counterfactual search moves: `dim` parameters per row, decoded into flattened model rows."""

    @property
    def kind(self) -> Literal["input", "latent"]: ...

    @property
    def dim(self) -> int: ...

    def decode(self, tasks: Sequence[Task], asks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each task's parameter rows as model rows (flattened, inside the data's box)."""
        ...

    def proximity(self, task: Task, rows: np.ndarray, z: np.ndarray | None) -> np.ndarray:
        """How far each row is from the task's input (lower is closer); `z`: the rows' parameters, if any."""
        ...

    def popsize_for(self, method: str) -> int | None:
        """Rows per generation this space prefers for `method` (None: the method's default)."""
        ...
