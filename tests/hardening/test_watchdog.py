"""Run-time cancellation: a model call past --call-timeout is stopped by the watchdog and named; calls within
the limit are untouched, and an earlier deadline armed after a later one still fires on time."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hostile_models import W, endless_loop
from onnx_factory import linear, save

from auditor.errors import ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Generator
from auditor.model.session import SessionSettings
from auditor.model.watchdog import watch

B = np.array([0.5, -0.5], dtype=np.float32)


def test_endless_loop_is_stopped_at_the_call_timeout(tmp_path):
    path = save(endless_loop(), tmp_path / "loop.onnx")
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"ran past the 0\.5 s limit and was stopped; raise --call-timeout"):
        BlackBox.open(path, OpenOptions(device="cpu", call_timeout=0.5))
    assert time.perf_counter() - started < 10


def test_generator_calls_are_guarded_too(tmp_path):
    path = save(endless_loop(output="x_out", k=3), tmp_path / "gen.onnx")
    with pytest.raises(ModelError, match=r"ran past the 0\.5 s limit"):
        Generator.open(path, SessionSettings(device="cpu", call_timeout=0.5))


def test_calls_within_the_limit_are_untouched(tmp_path):
    bb = BlackBox.open(save(linear(W, B), tmp_path / "ok.onnx"), OpenOptions(device="cpu", call_timeout=5.0))
    x = np.random.default_rng(0).normal(size=(200, 7, 3)).astype(np.float32)  # fresh rows: every call runs
    for batch in x:
        np.testing.assert_allclose(bb.predict(batch).sum(axis=1), 1.0, rtol=1e-5)
    assert bb.calls >= 200 and bb.nonfinite == 0


def test_an_earlier_deadline_armed_later_fires_on_time():
    with watch(60.0) as slow, watch(0.2) as fast:
        time.sleep(0.6)
    assert fast.fired and fast.run_options.terminate
    assert not slow.fired and not slow.run_options.terminate


def test_no_limit_means_no_run_options():
    for seconds in (None, 0, 0.0):
        with watch(seconds) as guard:
            pass
        assert guard.run_options is None and not guard.fired
