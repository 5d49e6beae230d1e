"""Which values an input element may take, and perturbations that stay within them.

Integer inputs that hold ids or bytes (a file-type model fed 2,048 byte values as int32, token ids)
are discrete: a perturbation replaces a value by another value of the set, never adds Gaussian
noise to an id. Real-valued inputs take noise clipped to their range. The set is read from the
model input's dtype, or declared when the dtype cannot tell (bytes carried as float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from auditor.errors import ArgumentError

#: Integer dtypes whose whole range is a natural value set (larger ones take the data's range).
SMALL_INTEGERS = ("uint8", "int8", "uint16", "int16")


@dataclass(frozen=True)
class ValueSet:
    """The values of every input element: the integers low..high when `discrete`, else the interval [low, high]."""

    discrete: bool
    low: float
    high: float

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low > self.high:
            raise ArgumentError(f"a value set needs low <= high, got {self.low}..{self.high}")
        if self.discrete and not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ArgumentError("a discrete value set needs finite bounds; declare the value range")

    @property
    def size(self) -> int:
        """How many integers a discrete set holds."""
        return int(math.floor(self.high) - math.ceil(self.low)) + 1

    @classmethod
    def infer(
        cls,
        dtype: str,
        reference: np.ndarray | None = None,
        declared_range: tuple[float, float] | None = None,
        discrete: bool | None = None,
    ) -> ValueSet:
        """The set of a model input: discrete when declared or integer-typed; bounds declared, else from a
        small integer dtype, else the reference rows' range (else unbounded for real values)."""
        kind = np.dtype(dtype).kind
        is_discrete = discrete if discrete is not None else kind in "iu"
        if declared_range is not None:
            low, high = declared_range
        elif is_discrete and dtype in SMALL_INTEGERS:
            info = np.iinfo(np.dtype(dtype))
            low, high = info.min, info.max
        elif reference is not None and np.isfinite(reference).any():
            low, high = float(np.nanmin(reference)), float(np.nanmax(reference))
        elif is_discrete:
            raise ArgumentError(
                f"input values of type {dtype} are discrete but their range is unknown; "
                "declare it (e.g. 0..255 for bytes) or give data"
            )
        else:
            low, high = -math.inf, math.inf
        if is_discrete:
            low, high = math.ceil(low), math.floor(high)
        return cls(is_discrete, float(low), float(high))

    def project(self, rows: np.ndarray) -> np.ndarray:
        """Rows moved onto the set: clipped to the bounds, and rounded to integers when discrete."""
        rows = np.clip(rows, self.low, self.high)
        return np.rint(rows) if self.discrete else rows

    def replace_values(self, rows: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
        """Copies of discrete rows with each element, with probability `rate`, replaced by another value of the set.

        A replaced element always changes: it takes a value drawn uniformly among the set's other values.
        """
        if not self.discrete:
            raise ArgumentError("replacement perturbs discrete values; add noise to real values instead")
        if not 0 <= rate <= 1:
            raise ArgumentError(f"a replacement rate is a probability in [0, 1], got {rate}")
        out = np.array(rows, copy=True)
        if self.size < 2:
            return out
        chosen = rng.random(out.shape) < rate
        low = math.ceil(self.low)
        current = np.rint(out[chosen]).astype(np.int64) - low
        shift = rng.integers(1, self.size, size=current.shape)
        out[chosen] = low + (current + shift) % self.size
        return out

    def perturb(
        self,
        rows: np.ndarray,
        noise: float,
        rng: np.random.Generator,
        std: np.ndarray | float = 0.0,
        bounds: tuple[np.ndarray | float, np.ndarray | float] | None = None,
    ) -> np.ndarray:
        """Perturbed copies of rows: discrete values replaced at rate `noise`; real values given Gaussian
        noise of `std` (per element) clipped to `bounds` (default the set's)."""
        if self.discrete:
            return self.replace_values(rows, noise, rng)
        low, high = bounds if bounds is not None else (self.low, self.high)
        return np.clip(rows + rng.standard_normal(rows.shape) * std, low, high)

    def to_dict(self) -> dict[str, object]:
        return {"discrete": self.discrete, "low": self.low, "high": self.high}
