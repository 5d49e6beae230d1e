"""Seeds for the audit's randomized steps: each depends only on the run's seed, a name and a position."""

from __future__ import annotations

import zlib

import numpy as np


def unit_seed(seed: int, name: str, index: int) -> int:
    """A seed for one unit of work (or one named step) from the run's seed, its name and its position."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(name.encode()), index])
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))
