"""Answers for rows already seen: an exact, bounded LRU cache keyed by the bytes of each row.

A row's key is a 64-bit hash of its bytes, computed for the whole batch at once; a key match is
confirmed by comparing the stored row bit for bit, so a hash collision costs a miss and never a
wrong answer. Identical rows within one batch are computed once. Results are only reused for
models whose output depends on nothing but the row (see `deterministic_graph`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import ModelProto

from auditor.model.loading import iter_nodes

DEFAULT_CACHE_BYTES = 8 * 2**20
MAX_CACHE_ROWS = 1 << 18
#: Operators whose output changes from call to call for the same input.
RANDOM_OPS = frozenset(
    {
        "RandomNormal",
        "RandomNormalLike",
        "RandomUniform",
        "RandomUniformLike",
        "Multinomial",
        "Bernoulli",
        "Dropout",
    }
)
_WORDS = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}
#: compute(x, index) -> results for rows x[index] (every row when index is None); index is ascending.
Compute = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


def deterministic_graph(proto: ModelProto) -> bool:
    """True when no node (subgraphs and functions included) draws random numbers."""
    return not any(node.op_type in RANDOM_OPS for node in iter_nodes(proto))


class RowCache:
    """Results (n, width) for rows of one shape and dtype; least recently used rows go first."""

    def __init__(
        self,
        row_shape: tuple[int, ...],
        dtype: np.dtype | str,
        width: int,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.out_dtype = np.dtype(np.float32)  # results are probabilities
        row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self.word = np.dtype(next(w for size, w in _WORDS.items() if row_bytes % size == 0))
        self.n_words = row_bytes // self.word.itemsize
        entry = row_bytes + width * self.out_dtype.itemsize + 16
        self.capacity = int(min(MAX_CACHE_ROWS, max_bytes // max(entry, 1)))
        self.width = width
        self.hits = 0
        self._multipliers = np.random.default_rng(0x5EED).integers(
            1, 2**63, self.n_words, dtype=np.uint64
        ) | np.uint64(1)
        self._slot_of: dict[int, int] = {}  # key -> ring slot (stale entries are checked and skipped)
        self._head = 0
        self._rows: np.ndarray | None = None
        self._results: np.ndarray | None = None
        self._keys: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Rows held now."""
        return 0 if self._keys is None else int(min(self._head, self.capacity))

    def clear(self) -> None:
        """Forget every row (the memory stays allocated for the next ones)."""
        self._slot_of.clear()
        self._head = 0

    def fits(self, x: np.ndarray) -> bool:
        return self.capacity > 0 and x.dtype == self.dtype and x.shape[1:] == self.row_shape

    def answer(self, x: np.ndarray, compute: Compute, head: int | None = None) -> np.ndarray:
        """Results for every row of x; compute(x, index) runs only rows neither cached nor repeated earlier in x.

        With `head`, only the first `head` rows are looked up and stored; the caller knows the others are new.
        """
        n = len(x)
        k = n if head is None else max(0, min(n, int(head)))
        if k == 0 or not self.fits(x):
            return compute(x, None)
        x = np.ascontiguousarray(x)
        words = x.reshape(n, -1).view(self.word)
        keys = self._hash(words[:k])
        listed = keys.tolist()
        get = self._slot_of.get
        known = [get(key, -1) for key in listed]
        distinct = len(set(listed)) == k
        if distinct and max(known) < 0:  # the usual case: all rows new
            out = np.asarray(compute(x, None), dtype=self.out_dtype)
            self._store(None, words[:k], keys, out[:k])
            return out
        rows = np.arange(k)
        if distinct:  # no repeats within x: only look up the few keys seen before, in key order
            candidates = np.flatnonzero(np.array(known) >= 0)
            first = candidates[np.argsort(keys[candidates], kind="stable")]
            uniq, rep, repeated = keys[first], rows, rows[:0]
        else:
            uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            rep = first[inverse]  # the first row with the same key
            repeated = np.flatnonzero(rep != rows)
        if len(repeated):  # a repeated key counts only when the row equals its representative bit for bit
            differs = repeated[~(words[repeated] == words[rep[repeated]]).all(axis=1)]
            rep[differs] = differs  # a hash collision: computed on its own
            repeated = np.flatnonzero(rep != rows)
        slots = self._lookup(uniq, first, words)
        hit_rows = first[slots >= 0]
        cached = np.zeros(k, dtype=bool)
        cached[hit_rows] = True
        need = np.flatnonzero((rep == rows) & ~cached)
        if k < n:
            need = np.concatenate([need, np.arange(k, n)])
        if len(need) == n:
            out = np.asarray(compute(x, None), dtype=self.out_dtype)
        else:
            out = np.empty((n, self.width), dtype=self.out_dtype)
            if len(need):
                out[need] = compute(x, need)
            if len(hit_rows):
                assert self._results is not None
                out[hit_rows] = self._results[slots[slots >= 0]]
            if len(repeated):
                out[repeated] = out[rep[repeated]]
        self.hits += n - len(need)
        stored = need[need < k] if k < n else need
        self._store(np.concatenate([stored, hit_rows]) if len(hit_rows) else stored, words, keys, out)
        return out

    def _hash(self, words: np.ndarray) -> np.ndarray:
        w = words if words.dtype == np.uint64 else words.astype(np.uint64)
        return w @ self._multipliers

    def _lookup(self, keys: np.ndarray, first: np.ndarray, words: np.ndarray) -> np.ndarray:
        """For each distinct key, the slot holding the same row bit for bit, else -1."""
        if not self._slot_of:
            return np.full(len(keys), -1, dtype=np.int64)
        assert self._rows is not None and self._keys is not None
        get = self._slot_of.get
        slots = np.array([get(k, -1) for k in keys.tolist()], dtype=np.int64)
        found = np.flatnonzero(slots >= 0)
        found = found[self._keys[slots[found]] == keys[found]]
        same = (self._rows[slots[found]] == words[first[found]]).all(axis=1)
        hits = np.full(len(keys), -1, dtype=np.int64)
        hits[found[same]] = slots[found[same]]
        return hits

    def _store(self, rows: np.ndarray | None, words: np.ndarray, keys: np.ndarray, out: np.ndarray) -> None:
        """Write rows (None: all, in order; newest last) at the head of the ring, over the least recently used."""
        if rows is None:
            skip = max(0, len(words) - self.capacity)
            m = len(words) - skip

            def part(a: int, b: int) -> slice | np.ndarray:
                return slice(skip + a, skip + b)
        else:
            rows = rows[-self.capacity :]
            m = len(rows)

            def part(a: int, b: int) -> slice | np.ndarray:
                return rows[a:b]

        if not m:
            return
        if self._keys is None:
            self._rows = np.empty((self.capacity, self.n_words), dtype=self.word)
            self._results = np.empty((self.capacity, self.width), dtype=self.out_dtype)
            self._keys = np.zeros(self.capacity, dtype=np.uint64)
        assert self._rows is not None and self._results is not None
        start = self._head % self.capacity
        done = 0
        while done < m:  # at most two runs of slots: the ring wraps once
            run = min(m - done, self.capacity - start)
            chosen = part(done, done + run)
            if isinstance(chosen, slice):
                self._rows[start : start + run] = words[chosen]
                self._results[start : start + run] = out[chosen]
                self._keys[start : start + run] = keys[chosen]
            else:  # gathered straight into the ring (indices are valid: "clip" only skips a buffer copy)
                np.take(words, chosen, axis=0, out=self._rows[start : start + run], mode="clip")
                np.take(out, chosen, axis=0, out=self._results[start : start + run], mode="clip")
                np.take(keys, chosen, out=self._keys[start : start + run], mode="clip")
            self._slot_of.update(zip(self._keys[start : start + run].tolist(), range(start, start + run)))
            done += run
            start = 0
        self._head += m
        if len(self._slot_of) > 2 * self.capacity:  # forget keys whose slot was overwritten, oldest first
            live = min(self._head, self.capacity)
            order = (self._head + np.arange(live)) % live
            self._slot_of = dict(zip(self._keys[order].tolist(), order.tolist()))
