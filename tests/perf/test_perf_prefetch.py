"""Pipelined predict: the next batch is built while the model runs, with exactly the plain loop's answers."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from onnx_factory import conv_image, save
from pipeline_models import CASES, LATENT

from auditor.errors import ArgumentError, DataError
from auditor.model import calibration
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Generator
from auditor.model.pipeline import predict_decoded
from auditor.model.prefetch import prefetch
from auditor.model.session import SessionSettings

SHAPE = (1, 12, 12)
WAIT = 10.0  # seconds a test waits for the other thread before it counts as not overlapping


@pytest.fixture(autouse=True)
def fresh_memory():
    calibration.forget()
    yield
    calibration.forget()


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "auditor-prefetch"]


def batches(seed: int, sizes: list[int], built: list[int] | None = None):
    """Random rows, some repeated within and across batches (row cache hits), built lazily from one seed."""
    rng = np.random.default_rng(seed)
    earlier = rng.random((5, *SHAPE), dtype=np.float32)
    for i, n in enumerate(sizes):
        rows = rng.random((n, *SHAPE), dtype=np.float32)
        rows[: min(3, n)] = earlier[: min(3, n)]
        rows[-1] = rows[0]
        if built is not None:
            built.append(i)
        yield rows


def open_model(path, **options) -> BlackBox:
    return BlackBox.open(path, OpenOptions(device="cpu", **options))


@pytest.fixture
def model_path(tmp_path):
    return save(conv_image(SHAPE, 5, seed=2), tmp_path / "conv.onnx")


SIZES = [70, 3, 130, 1, 64, 9]


@pytest.mark.parametrize("cache", [True, False, 2])
def test_pipelined_predict_equals_the_plain_loop_in_order_and_counts(model_path, cache):
    plain, piped = open_model(model_path, cache=True), open_model(model_path, cache=True)
    expected = [plain.predict(rows, cache) for rows in batches(0, SIZES)]
    got = list(piped.predict_batches(batches(0, SIZES), cache, background=True))
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected):
        np.testing.assert_array_equal(ours, theirs)
    assert (piped.queries, piped.calls, piped.cache_hits) == (plain.queries, plain.calls, plain.cache_hits)
    assert piped.batch_size == plain.batch_size
    if cache is True:
        assert piped.cache_hits > 0  # the repeated rows really went through the cache
    assert not prefetch_threads()


def test_the_next_batch_is_built_while_the_current_one_is_used():
    # Building item 1 waits until the consumer holds item 0, and the consumer waits for item 1 to be
    # built before asking for it: only a source that runs ahead in another thread gets through.
    holding, built = threading.Event(), threading.Event()

    def source():
        yield 0
        assert holding.wait(WAIT)
        built.set()
        yield 1

    seen = []
    for item in prefetch(source(), background=True):
        seen.append(item)
        if item == 0:
            holding.set()
            assert built.wait(WAIT), "item 1 was not built while item 0 was in use"
    assert seen == [0, 1]


def test_an_error_while_building_is_raised_at_its_place(model_path):
    bb = open_model(model_path, cache=False)

    def broken():
        yield from batches(1, [8, 8])
        raise RuntimeError("mask builder failed")

    got = []
    with pytest.raises(RuntimeError, match="mask builder failed") as raised:
        for probs in bb.predict_batches(broken(), background=True):
            got.append(probs)
    assert len(got) == 2 and bb.queries == 16
    assert any(frame.name == "broken" for frame in raised.traceback)  # the builder's own traceback
    assert not prefetch_threads()


def test_an_error_in_predict_stops_the_builder(model_path):
    bb = open_model(model_path, cache=False)
    built: list[int] = []
    bad = (np.zeros((4, 3, 3), np.float32) for _ in range(1))

    def source():
        yield from batches(2, [8], built)
        yield from bad  # a shape the model refuses
        yield from batches(3, [8] * 50, built)

    with pytest.raises(DataError):
        list(bb.predict_batches(source(), depth=2, background=True))
    assert bb.queries == 8
    assert len(built) <= 1 + 3  # at most `depth` (+ the one being built) beyond the failing batch
    assert not prefetch_threads()


def test_stopping_early_stops_the_builder(model_path):
    bb = open_model(model_path, cache=False)
    built: list[int] = []
    for i, _ in enumerate(bb.predict_batches(batches(4, [8] * 100, built), background=True)):
        if i == 2:
            break
    assert not prefetch_threads()
    assert bb.queries == 24 and len(built) <= 3 + 2


def test_prefetch_refuses_a_bad_depth():
    for depth in (0, -1, 1.5, True):
        with pytest.raises(ArgumentError, match="depth"):
            prefetch(iter([1]), depth)  # type: ignore[arg-type]


def test_decoding_overlapped_with_the_classifier_gives_the_plain_rows_and_counts(tmp_path):
    gen_proto, clf_proto, _ = CASES["nchw"]
    opened = []
    for name in ("plain", "piped"):
        gen = Generator.open(save(gen_proto, tmp_path / f"{name}_g.onnx"), SessionSettings("cpu"))
        bb = BlackBox.open(
            save(clf_proto, tmp_path / f"{name}_c.onnx"), OpenOptions(device="cpu", batch_size=16)
        )
        opened.append((gen, bb))
    z = np.random.default_rng(6).normal(size=(100, LATENT)).astype(np.float32)
    (gen, bb), (piped_gen, piped_bb) = opened
    x = bb.prepare(gen.generate(z))
    p = bb.predict(x, cache=False)
    generator_calls = piped_gen.runner.calls
    piped_x, piped_p = predict_decoded(
        piped_bb, lambda rows: piped_bb.prepare(piped_gen.generate(rows)), z, background=True
    )
    np.testing.assert_array_equal(piped_x, x)
    np.testing.assert_array_equal(piped_p, p)
    assert (piped_gen.queries, piped_bb.queries, piped_bb.calls) == (gen.queries, bb.queries, bb.calls)
    assert piped_gen.runner.calls - generator_calls == -(-100 // 16)  # one per classifier batch
    assert not prefetch_threads()


def test_without_a_spare_core_the_batches_are_built_inline(model_path, monkeypatch):
    import auditor.model.prefetch as prefetch_module

    monkeypatch.setattr(prefetch_module, "spare_core", lambda: False)
    bb = open_model(model_path, cache=False)
    seen: list[str] = []

    def source():
        for rows in batches(5, [8, 8]):
            seen.append(threading.current_thread().name)
            yield rows

    assert len(list(bb.predict_batches(source()))) == 2
    assert seen == [threading.current_thread().name] * 2 and bb.queries == 16
    assert list(prefetch(iter([1, 2]), background=False)) == [1, 2]
