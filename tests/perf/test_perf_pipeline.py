"""Generator -> classifier with IO binding gives exactly the host path's answers, and counts the same."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import linear, save
from pipeline_models import CASES, LATENT, generator

from auditor.errors import DeviceError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.budget import Budget, BudgetExhausted
from auditor.model.generator import Generator
from auditor.model.pipeline import Pipeline
from auditor.model.session import SessionSettings, cuda_available

RNG = np.random.default_rng(3)


def open_pair(
    tmp_path, case: str, device: str = "cpu", cache: bool | None = None
) -> tuple[Generator, BlackBox]:
    gen_proto, clf_proto, _ = CASES[case]
    gen = Generator.open(save(gen_proto, tmp_path / f"{case}_g.onnx"), SessionSettings(device))
    bb = BlackBox.open(save(clf_proto, tmp_path / f"{case}_c.onnx"), OpenOptions(device=device, cache=cache))
    return gen, bb


@pytest.mark.parametrize("case", sorted(CASES))
def test_io_binding_path_equals_plain_path(tmp_path, case):
    gen, bb = open_pair(tmp_path, case)
    pipe = Pipeline(gen, bb, bind=True)
    assert pipe.bound and (pipe.glue is not None) == CASES[case][2]
    z = RNG.normal(size=(150, LATENT)).astype(np.float32)
    gen_calls = gen.runner.calls
    bound = pipe.predict(z)
    ref_gen, ref_bb = open_pair(tmp_path, case, cache=False)
    plain = ref_bb.predict(ref_gen.generate(z))
    np.testing.assert_array_equal(bound, plain)
    assert bb.queries == gen.queries == 150 and bb.calls >= 1 and gen.runner.calls - gen_calls == bb.calls
    assert bb.ort_seconds > 0 and gen.ort_seconds > 0


def test_pipeline_cache_counts_repeated_latents_and_charges_budget(tmp_path):
    gen, bb = open_pair(tmp_path, "nchw")
    pipe = Pipeline(gen, bb, bind=True)
    z = RNG.normal(size=(20, LATENT)).astype(np.float32)
    first = pipe.predict(z)
    again = pipe.predict(np.concatenate([z[:5], z[:5]]))
    np.testing.assert_array_equal(again, np.concatenate([first[:5], first[:5]]))
    assert pipe.cache_hits == 10 and bb.queries == 20 and gen.queries == 20
    bb.runner.budget = Budget(queries=5)
    with pytest.raises(BudgetExhausted):
        pipe.predict(RNG.normal(size=(10, LATENT)))
    assert bb.queries == 20


def test_host_path_when_the_device_cannot_chain_the_models(tmp_path):
    gen = Generator.open(save(generator((64,)), tmp_path / "g.onnx"), SessionSettings("cpu"))
    fixed = BlackBox.open(save(linear(RNG.normal(size=(64, 3)), np.zeros(3), batch=8), tmp_path / "f.onnx"))
    pipe = Pipeline(gen, fixed, bind=True)
    assert not pipe.bound
    z = RNG.normal(size=(13, LATENT)).astype(np.float32)
    np.testing.assert_array_equal(pipe.predict(z), fixed.predict(gen.generate(z)))
    default = Pipeline(
        gen, BlackBox.open(save(linear(RNG.normal(size=(64, 3)), np.zeros(3)), tmp_path / "l.onnx"))
    )
    assert not default.bound  # on the CPU the host path is already copy-free


@pytest.mark.skipif(cuda_available(), reason="checks the fallback on machines without CUDA")
def test_without_cuda_auto_is_cpu_quietly_and_cuda_is_refused(tmp_path, capfd):
    gen, bb = open_pair(tmp_path, "nchw", device="auto")
    assert bb.provider == "cpu" and gen.provider == "cpu"
    assert not Pipeline(gen, bb).bound
    out, err = capfd.readouterr()
    assert out == "" and "EP Error" not in err
    with pytest.raises(DeviceError):
        open_pair(tmp_path, "nchw", device="cuda")


def test_host_path_hands_generator_output_to_onnx_runtime_without_copies(tmp_path):
    gen, bb = open_pair(tmp_path, "nchw", cache=False)
    z = RNG.normal(size=(40, LATENT)).astype(np.float32)
    x = gen.generate(z)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert bb.runner.cast(bb.prepare(x)) is x
    fed: list[np.ndarray] = []
    session = bb.runner.session

    class Spy:
        def run(self, names, feed, *args):
            fed.extend(feed.values())
            return session.run(names, feed, *args)

    bb.runner.session = Spy()
    bb.predict(x)
    assert fed and all(np.shares_memory(f, x) for f in fed)
