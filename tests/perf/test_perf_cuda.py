"""CUDA: the provider is really used, IO binding matches the CPU, float16 stays float16. Run with -m cuda."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import conv_image, linear, save, softmax
from pipeline_models import CASES, LATENT

from auditor.model import calibration
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Generator
from auditor.model.pipeline import Pipeline
from auditor.model.session import CUDA, SessionSettings, cuda_available

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not cuda_available(), reason="no CUDA GPU with a working CUDA execution provider here"
    ),
]
RNG = np.random.default_rng(9)
TOL = 1e-5


def test_blackbox_runs_on_cuda_and_matches_cpu(tmp_path):
    path = save(conv_image((3, 32, 32), 10, seed=4), tmp_path / "c.onnx")
    gpu = BlackBox.open(path, OpenOptions(device="cuda"))
    cpu = BlackBox.open(path, OpenOptions(device="cpu"))
    assert gpu.provider == "cuda" and gpu.session.get_providers()[0] == CUDA
    x = RNG.random((300, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), atol=TOL)
    assert gpu.cache is None  # off by default on CUDA
    assert gpu.calibration is not None and {t.threads for t in gpu.calibration.trials} == {1}
    assert gpu.batch_size <= gpu.max_batch()


@pytest.mark.parametrize("case", sorted(CASES))
def test_pipeline_binds_on_cuda_and_matches_cpu(tmp_path, case):
    gen_proto, clf_proto, _ = CASES[case]
    g, c = save(gen_proto, tmp_path / "g.onnx"), save(clf_proto, tmp_path / "c.onnx")
    pipe = Pipeline(Generator.open(g, SessionSettings("cuda")), BlackBox.open(c, OpenOptions(device="cuda")))
    assert pipe.bound
    z = RNG.normal(size=(200, LATENT)).astype(np.float32)
    ref_gen = Generator.open(g, SessionSettings("cpu"))
    ref = BlackBox.open(c, OpenOptions(device="cpu")).predict(ref_gen.generate(z))
    tol = 2e-3 if case == "float16_flat" else TOL
    got = pipe.predict(z)
    if case == "uint8":  # rounding at .5 may differ by one grey level between devices
        assert np.mean(np.abs(got - ref).max(axis=1) < 1e-3) > 0.95
    else:
        np.testing.assert_allclose(got, ref, atol=tol)
    assert pipe.blackbox.queries == 200 and pipe.generator.queries == 200


def test_float16_model_runs_in_float16(tmp_path):
    w, b = RNG.normal(size=(20, 4)), RNG.normal(size=4)
    bb = BlackBox.open(save(linear(w, b, dtype=np.float16), tmp_path / "h.onnx"), OpenOptions(device="cuda"))
    assert bb.session.get_inputs()[0].type == "tensor(float16)"
    x = RNG.normal(size=(100, 20)).astype(np.float32)
    expected = softmax(x.astype(np.float16).astype(np.float64) @ w + b)
    np.testing.assert_allclose(bb.predict(x), expected, atol=2e-2)


def test_digits_sample_on_cuda(digits_dir):
    calibration.forget()
    bb = BlackBox.open(digits_dir / "classifier.onnx", OpenOptions(device="cuda"))
    gen = Generator.open(digits_dir / "generator.onnx", SessionSettings("cuda"))
    pipe = Pipeline(gen, bb)
    z = RNG.normal(size=(640, gen.latent_dim)).astype(np.float32)
    ref_bb = BlackBox.open(digits_dir / "classifier.onnx", OpenOptions(device="cpu"))
    ref_gen = Generator.open(digits_dir / "generator.onnx", SessionSettings("cpu"))
    assert pipe.bound
    np.testing.assert_allclose(pipe.predict(z), ref_bb.predict(ref_gen.generate(z)), atol=1e-4)
