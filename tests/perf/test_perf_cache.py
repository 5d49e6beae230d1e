"""The row cache answers repeated rows exactly as the model would, and counts them apart from queries."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from onnx_factory import conv_image, linear, model, save

from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.cache import RowCache, deterministic_graph

RNG = np.random.default_rng(7)


def rowwise(x: np.ndarray) -> np.ndarray:
    """A per-row function that tells rows apart by every bit, including the sign of zero."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    return np.stack(
        [flat.sum(axis=1), np.signbit(flat).sum(axis=1), (flat * np.arange(flat.shape[1])).sum(axis=1)], 1
    )


class Spy:
    def __init__(self) -> None:
        self.rows: list[int] = []

    def __call__(self, x: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        rows = x if index is None else x[index]
        self.rows.append(len(rows))
        return rowwise(rows).astype(np.float32)


def test_repeated_rows_are_answered_exactly_and_counted():
    cache = RowCache((2, 3), np.float32, 3)
    spy = Spy()
    base = RNG.normal(size=(50, 2, 3)).astype(np.float32)
    first = cache.answer(base, spy)
    np.testing.assert_array_equal(first, rowwise(base).astype(np.float32))
    mixed = np.concatenate([base[[3, 3, 10]], RNG.normal(size=(4, 2, 3)).astype(np.float32), base[[3]]])
    mixed[5] = mixed[4]  # a new row repeated within the batch
    second = cache.answer(mixed, spy)
    np.testing.assert_array_equal(second, rowwise(mixed).astype(np.float32))
    assert spy.rows == [50, 3]  # only the 3 distinct new rows ran
    assert cache.hits == 5


def test_hash_collisions_never_change_a_result(monkeypatch):
    cache = RowCache((4,), np.float32, 3)
    monkeypatch.setattr(cache, "_hash", lambda words: np.zeros(len(words), dtype=np.uint64))
    x = RNG.normal(size=(20, 4)).astype(np.float32)
    x[7] = x[2]
    np.testing.assert_array_equal(cache.answer(x, Spy()), rowwise(x).astype(np.float32))
    y = np.concatenate([x[:5], RNG.normal(size=(5, 4)).astype(np.float32)])
    np.testing.assert_array_equal(cache.answer(y, Spy()), rowwise(y).astype(np.float32))


def test_rows_equal_as_numbers_but_not_as_bits_are_kept_apart():
    cache = RowCache((3,), np.float32, 3)
    zeros = np.zeros((1, 3), np.float32)
    x = np.concatenate([zeros, -zeros, zeros])
    out = cache.answer(x, Spy())
    assert out[0, 1] == 0 and out[1, 1] == 3 and out[2, 1] == 0
    assert cache.hits == 1
    nan = np.full((2, 3), np.nan, np.float32)
    assert np.isnan(cache.answer(nan, Spy())[:, 0]).all() and cache.hits == 2


def test_bounded_and_least_recently_used_goes_first():
    cache = RowCache((8,), np.float32, 3, max_bytes=10 * (32 + 12 + 16))
    assert cache.capacity == 10
    rows = RNG.normal(size=(30, 8)).astype(np.float32)
    spy = Spy()
    cache.answer(rows[:10], spy)
    cache.answer(rows[:1], spy)  # row 0 becomes the most recent
    cache.answer(rows[10:19], spy)  # evicts rows 1..9, keeps row 0
    assert cache.size == 10
    hits = cache.hits
    cache.answer(rows[:2], spy)
    assert cache.hits == hits + 1 and spy.rows[-1] == 1
    big = RNG.normal(size=(25, 8)).astype(np.float32)
    np.testing.assert_array_equal(cache.answer(big, spy), rowwise(big).astype(np.float32))
    assert cache.size == 10


def test_blackbox_cache_never_changes_predictions(tmp_path):
    path = save(conv_image((1, 12, 12), 4, seed=3), tmp_path / "c.onnx")
    cached = BlackBox.open(path, OpenOptions(device="cpu", batch_size=16))
    plain = BlackBox.open(path, OpenOptions(device="cpu", batch_size=16, cache=False))
    assert cached.cache is not None and plain.cache is None
    x = RNG.random((40, 1, 12, 12), dtype=np.float32)
    batches = [x, np.concatenate([x[5:9], RNG.random((3, 1, 12, 12), dtype=np.float32), x[5:6]]), x[::-1]]
    for batch in batches:
        np.testing.assert_array_equal(cached.predict(batch), plain.predict(batch))
    assert cached.cache_hits == 5 + 40
    assert cached.queries == 40 + 3 and plain.queries == 40 + 8 + 40
    nhwc = np.ascontiguousarray(
        x.transpose(0, 2, 3, 1)
    )  # other layouts and dtypes reach the same cache entries
    np.testing.assert_array_equal(cached.predict(nhwc.astype(np.float64)), plain.predict(x))
    assert cached.cache_hits == 45 + 40


def random_model() -> object:
    """x (N, 3) -> x + RandomNormalLike(x): a different answer on every call."""
    nodes = [helper.make_node("RandomNormalLike", ["x"], ["n"]), helper.make_node("Add", ["x", "n"], ["y"])]
    value = helper.make_tensor_value_info
    return model(nodes, [value("x", TensorProto.FLOAT, ["N", 3])], [value("y", TensorProto.FLOAT, ["N", 3])])


def test_models_that_draw_random_numbers_are_not_cached(tmp_path):
    proto = random_model()
    assert not deterministic_graph(proto)
    assert deterministic_graph(conv_image())
    branch = helper.make_graph(list(proto.graph.node), "branch", [], list(proto.graph.output))
    cond = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
    nested = helper.make_model(
        helper.make_graph([cond], "g", list(proto.graph.input), list(proto.graph.output))
    )
    assert not deterministic_graph(nested)  # a random node inside a subgraph counts too
    bb = BlackBox.open(save(proto, tmp_path / "r.onnx"), OpenOptions(device="cpu", scores="logits"))
    assert bb.cache is None
    x = np.zeros((2, 3), np.float32)
    x[1] = x[0]
    first, second = bb.predict(x), bb.predict(x)
    assert not np.array_equal(first, second) and bb.cache_hits == 0


@pytest.mark.parametrize("shape", [(3,), (2,), (4,), (5, 1)])
def test_odd_row_sizes_hash_by_smaller_words(shape):
    cache = RowCache(shape, np.float16, 3)
    x = RNG.normal(size=(6, *shape)).astype(np.float16)
    x[4] = x[1]
    np.testing.assert_array_equal(cache.answer(x, Spy()), rowwise(x).astype(np.float32))
    assert cache.hits == 1


def test_auto_cache_is_dropped_when_it_costs_more_than_the_model(tmp_path):
    cheap = linear(RNG.normal(size=(5, 3)), np.zeros(3))
    auto = BlackBox.open(save(cheap, tmp_path / "l.onnx"), OpenOptions(device="cpu"))
    forced = BlackBox.open(tmp_path / "l.onnx", OpenOptions(device="cpu", cache=True))
    x = RNG.normal(size=(500, 5)).astype(np.float32)
    assert auto.cache is not None
    np.testing.assert_array_equal(auto.predict(x), forced.predict(x))
    assert auto.calibration is not None and auto.cache is None  # a 5x3 matmul is cheaper than hashing its row
    assert forced.cache is not None


def test_runner_skips_rows_by_index_without_copying_contiguous_runs(tmp_path):
    bb = BlackBox.open(
        save(conv_image((1, 6, 6), 3), tmp_path / "c.onnx"), OpenOptions(device="cpu", batch_size=8)
    )
    x = RNG.random((50, 1, 6, 6), dtype=np.float32)
    index = np.setdiff1d(np.arange(50), [3, 30])
    fed: list[np.ndarray] = []
    session = bb.runner.session

    class Spy:
        def run(self, names, feed, *args):
            fed.extend(feed.values())
            return session.run(names, feed, *args)

    bb.runner.session = Spy()
    (indexed,) = bb.runner.run(x, [bb.fetch], index)
    (gathered,) = bb.runner.run(np.ascontiguousarray(x[index]), [bb.fetch])
    np.testing.assert_array_equal(indexed, gathered)
    shared = [np.shares_memory(f, x) for f in fed[:6]]  # chunks of the indexed run: rows 0-8, 9-16, ...
    assert shared.count(False) == 2 and bb.queries == 96


def test_predict_can_skip_the_cache_for_rows_known_to_be_new(tmp_path):
    bb = BlackBox.open(
        save(conv_image((1, 6, 6), 3), tmp_path / "c.onnx"), OpenOptions(device="cpu", cache=True)
    )
    x = RNG.random((10, 1, 6, 6), dtype=np.float32)
    first = bb.predict(x, cache=False)
    np.testing.assert_array_equal(bb.predict(x), first)
    assert bb.cache_hits == 0 and bb.queries == 20  # nothing was stored by the uncached call
    np.testing.assert_array_equal(bb.predict(x, cache=False), first)
    assert bb.cache_hits == 0 and bb.queries == 30
    bb.predict(x)
    assert bb.cache_hits == 10


def test_head_limits_lookups_to_the_first_rows():
    """`head=k` hashes and stores only the first k rows; the others are always computed."""
    calls: list[int] = []

    def model(x: np.ndarray, index: np.ndarray | None) -> np.ndarray:
        rows = x if index is None else x[index]
        calls.append(len(rows))
        return rows.reshape(len(rows), -1)[:, :2] * 3

    cache = RowCache((2, 3), np.float32, 2)
    a = np.random.default_rng(0).random((5, 2, 3)).astype(np.float32)
    x = np.concatenate([a[:2], a, a])  # rows 0, 1, then a twice
    expected = x.reshape(len(x), -1)[:, :2] * 3
    np.testing.assert_array_equal(cache.answer(x, model, head=2), expected)
    assert cache.hits == 0 and cache.size == 2 and calls[-1] == 12
    np.testing.assert_array_equal(cache.answer(x, model, head=2), expected)
    assert cache.hits == 2 and calls[-1] == 10  # only the head was looked up
    np.testing.assert_array_equal(cache.answer(x, model), expected)
    assert calls[-1] == 3  # the whole batch: cached rows and in-batch repeats are answered
