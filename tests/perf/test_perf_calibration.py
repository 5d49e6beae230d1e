"""Batch size and threads: measured on first large use, within the memory budget, remembered, overridable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx_factory import conv_image, linear, save

import auditor.model.blackbox as blackbox_module
from auditor.errors import ConfigError
from auditor.model import calibration
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.calibration import Plan

RNG = np.random.default_rng(11)
SHAPE = (1, 28, 28)
# conv_image: 4 filters at 28x28 float32 is the largest intermediate; 10 float32 logits come out.
LARGEST = 4 * 28 * 28 * 4
FOOTPRINT = calibration.MEMORY_FACTOR * (28 * 28 * 4 + 10 * 4 + LARGEST)


@pytest.fixture(autouse=True)
def fresh_memory():
    calibration.forget()
    yield
    calibration.forget()


class Recorder:
    """A session that notes the number of rows of every run."""

    def __init__(self, session, log: list[int]) -> None:
        self._session = session
        self._log = log

    def run(self, names, feed, *args):
        self._log.append(len(next(iter(feed.values()))))
        return self._session.run(names, feed, *args)

    def __getattr__(self, name):
        return getattr(self._session, name)


@pytest.fixture
def runs(monkeypatch) -> list[int]:
    log: list[int] = []
    create = blackbox_module.create_session
    monkeypatch.setattr(
        blackbox_module, "create_session", lambda model, settings: Recorder(create(model, settings), log)
    )
    return log


@pytest.fixture
def conv_path(tmp_path):
    return save(conv_image(SHAPE, 10, seed=1), tmp_path / "conv.onnx")


def test_footprint_counts_the_largest_intermediate():
    proto = conv_image(SHAPE, 10)
    assert calibration.largest_intermediate(proto, SHAPE) == LARGEST
    assert calibration.row_footprint(proto, SHAPE, 28 * 28 * 4, 40) == FOOTPRINT


@pytest.mark.parametrize("rows_in_budget", [1, 5, 20, 300])
def test_calibration_never_exceeds_the_memory_budget(conv_path, runs, rows_in_budget):
    budget = rows_in_budget * FOOTPRINT + FOOTPRINT // 2
    bb = BlackBox.open(conv_path, OpenOptions(device="cpu", memory_budget=budget))
    assert bb.max_batch() == rows_in_budget
    probs = bb.predict(RNG.random((400, *SHAPE), dtype=np.float32))
    assert bb.calibration is not None and probs.shape == (400, 10)
    assert max(t.batch for t in bb.calibration.trials) <= rows_in_budget
    assert bb.batch_size <= rows_in_budget
    assert max(runs[1:]) * FOOTPRINT <= budget  # runs[0] is the 4-row probe at open
    assert bb.queries == 400


def test_calibration_is_lazy_and_remembered(conv_path, runs):
    bb = BlackBox.open(conv_path, OpenOptions(device="cpu"))
    bb.predict(RNG.random((10, *SHAPE), dtype=np.float32))
    assert bb.calibration is None and len(runs) == 2  # probe, then one call
    x = RNG.random((200, *SHAPE), dtype=np.float32)
    bb.predict(x)
    measured = bb.calibration
    assert measured is not None and measured.source == "measured"
    assert set(measured.trials[0].__dict__) == {"batch", "threads", "rows_per_second"}
    again = BlackBox.open(conv_path, OpenOptions(device="cpu", cache=False))
    before = len(runs)
    again.predict(x)
    assert again.calibration is measured
    assert len(runs) - before == -(-200 // measured.batch_size)  # no timing runs the second time


def test_batch_size_option_and_fixed_batches_win(tmp_path, runs):
    bb = BlackBox.open(
        save(conv_image(SHAPE, 10), tmp_path / "c.onnx"), OpenOptions(device="cpu", batch_size=7)
    )
    bb.predict(RNG.random((100, *SHAPE), dtype=np.float32))
    assert bb.batch_size == 7 and max(runs[1:]) <= 7
    fixed = BlackBox.open(save(linear(RNG.normal(size=(6, 3)), np.zeros(3), batch=8), tmp_path / "f.onnx"))
    runs.clear()
    out = fixed.predict(RNG.normal(size=(100, 6)).astype(np.float32))
    assert out.shape == (100, 3) and set(runs) == {8} and fixed.batch_size == 8


def test_stored_only_under_a_given_cache_dir(conv_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = sorted(p.name for p in tmp_path.iterdir())
    x = RNG.random((100, *SHAPE), dtype=np.float32)
    BlackBox.open(conv_path, OpenOptions(device="cpu")).predict(x)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written by default
    store = tmp_path / "store"
    first = BlackBox.open(conv_path, OpenOptions(device="cpu", cache_dir=str(store)))
    first.predict(x)
    entries = json.loads((store / calibration.CACHE_FILE).read_text())["entries"]
    assert len(entries) == 1
    calibration.forget()
    second = BlackBox.open(conv_path, OpenOptions(device="cpu", cache_dir=str(store)))
    second.predict(x)
    assert second.calibration is not None and second.calibration.source == "file"
    assert second.batch_size == first.batch_size and second.threads == first.threads


def test_an_unwritable_cache_dir_is_one_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    found = calibration.Calibration(8, 1, False, 1000.0, (), 0.1)
    with pytest.raises(ConfigError, match="cannot write"):
        calibration.remember("k", found, blocker / "store")


def test_a_corrupt_store_is_ignored_and_rewritten(conv_path, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / calibration.CACHE_FILE).write_text('{"version": 1, "entries": {"k": {"batch_size": "many"}}}')
    bb = BlackBox.open(conv_path, OpenOptions(device="cpu", cache_dir=str(store)))
    bb.predict(RNG.random((100, *SHAPE), dtype=np.float32))
    assert bb.calibration is not None and bb.calibration.source == "measured"
    assert calibration.recall("k", store) is None
    for garbage in ("[1, 2]", "not json", json.dumps({"version": 1, "entries": {"k": {"trials": 3}}})):
        (store / calibration.CACHE_FILE).write_text(garbage)
        assert calibration.recall("k", store) is None


class FakeMachine:
    """Runs that take overhead + rows * per_row(threads, rows) seconds on a fake clock."""

    def __init__(self, per_row, overhead: float = 1e-4) -> None:
        self.now = 0.0
        self.per_row = per_row
        self.overhead = overhead
        self.batches: list[tuple[int, int]] = []

    def clock(self) -> float:
        return self.now

    def runners(self, threads: int):
        def run(x: np.ndarray) -> None:
            self.batches.append((threads, len(x)))
            self.now += self.overhead + len(x) * self.per_row(threads, len(x))

        return run


def test_chooses_the_fastest_batch_within_the_time_budget():
    machine = FakeMachine(lambda t, n: 20e-6 if n <= 64 else 45e-6)
    rows = np.zeros((3, 4), np.float32)
    cal = calibration.calibrate(
        machine.runners, rows, Plan(calibration.LADDER, (1,), False), clock=machine.clock
    )
    assert cal.batch_size == 64 and cal.threads == 1
    assert cal.seconds <= calibration.LADDER_SHARE * calibration.TIME_BUDGET


def test_slow_models_stop_the_ladder_early():
    machine = FakeMachine(lambda t, n: 0.02)
    cal = calibration.calibrate(
        machine.runners, np.zeros((2, 4)), Plan(calibration.LADDER, (1, 2), False), clock=machine.clock
    )
    assert {n for _, n in machine.batches} <= {1, 4}
    # too slow for one row in the thread comparison's share: the threads are compared at 4 rows a call
    # (a warm-up and THREAD_ROUNDS timings per count), and nothing else past the budget
    assert {n for t, n in machine.batches if t == 2} == {4}
    comparison = 2 * (calibration.THREAD_ROUNDS + 1) * 4 * 0.02
    assert cal.seconds < 2 * calibration.TIME_BUDGET + comparison


@pytest.mark.parametrize(("speedup", "chosen"), [(1.6, 2), (1.05, 1), (0.6, 1)])
def test_more_threads_only_when_clearly_faster(speedup, chosen):
    machine = FakeMachine(lambda t, n: 30e-6 / (speedup if t == 2 else 1.0))
    plan = Plan(calibration.LADDER, (1, 2), True)
    cal = calibration.calibrate(machine.runners, np.zeros((5, 4)), plan, clock=machine.clock)
    assert cal.threads == chosen and cal.spinning == (chosen > 1)
    assert {t for t, _ in machine.batches} == {1, 2}


def test_thread_choices():
    assert calibration.thread_choices(3, 16, "cpu") == (3,)
    assert calibration.thread_choices(None, 2, "cpu") == (1, 2)
    assert calibration.thread_choices(None, 16, "cpu") == (1, 8)
    assert calibration.thread_choices(None, 16, "cuda") == (1,)
    assert calibration.thread_choices(None, 1, "cpu") == (1,)
    assert calibration.thread_choices(None, 16, "cpu", spare=False) == (1,)  # a busy machine: one thread


def test_a_load_spike_during_one_timing_does_not_decide():
    seen = {"n": 0}

    def per_row(threads: int, n: int) -> float:
        if n == 64:
            seen["n"] += 1
            return 60e-6 if seen["n"] == 2 else 20e-6  # the first timed run at 64 rows hits a spike
        return 20e-6 if n < 64 else 45e-6

    machine = FakeMachine(per_row)
    cal = calibration.calibrate(
        machine.runners, np.zeros((3, 4)), Plan(calibration.LADDER, (1,), False), clock=machine.clock
    )
    assert cal.batch_size == 64


def test_batch_is_chosen_again_for_the_winning_thread_count():
    def per_row(threads: int, n: int) -> float:
        if threads == 1:
            return 20e-6 if n <= 16 else 30e-6
        return 12e-6 if n <= 16 else (8e-6 if n <= 256 else 15e-6)

    machine = FakeMachine(per_row)
    cal = calibration.calibrate(
        machine.runners, np.zeros((3, 4)), Plan(calibration.LADDER, (1, 2), False), clock=machine.clock
    )
    assert (cal.batch_size, cal.threads) == (256, 2)
    assert cal.seconds <= calibration.TIME_BUDGET + 0.05


def test_ladder_stops_two_sizes_past_the_peak():
    machine = FakeMachine(lambda t, n: 20e-6 if n <= 4 else 60e-6, overhead=1e-6)
    cal = calibration.calibrate(
        machine.runners, np.zeros((3, 4)), Plan(calibration.LADDER, (1,), False), clock=machine.clock
    )
    assert cal.batch_size == 4
    assert {n for _, n in machine.batches} == {1, 4, 16, 64}


def test_a_slow_model_compares_threads_at_a_larger_batch_and_keeps_it():
    # ResNet-50-like on 2 cores: 0.12 s a row on one thread at any batch; two threads 0.09 s a row at
    # batch 1 but 0.065 s from 4 rows. The time budget alone covers batch 1 only.
    def per_row(threads: int, n: int) -> float:
        return 0.12 if threads == 1 else (0.09 if n < 4 else 0.065)

    machine = FakeMachine(per_row)
    plan = Plan((1, 4, 16, 64), (1, 2), False)
    cal = calibration.calibrate(machine.runners, np.zeros((3, 4)), plan, clock=machine.clock)
    assert (cal.batch_size, cal.threads) == (4, 2)
    assert {n for t, n in machine.batches if t == 2} == {4}  # compared at 4 rows, larger ones too slow
    assert cal.seconds < 4.0
