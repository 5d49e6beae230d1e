"""open_vetted: the one way a model file is opened, vetted in the sandbox child first, refused if it then changed."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_factory import linear, save

import auditor.model.vetting
from auditor.errors import ArgumentError, ModelError
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.sandbox import SandboxLimits, check_in_child
from auditor.model.vetting import open_vetted

CPU = OpenOptions(device="cpu", threads=1)
RNG = np.random.default_rng(5)
W = RNG.normal(size=(3, 4)).astype(np.float32)


@pytest.mark.parametrize("sandbox", [SandboxLimits(), None], ids=["sandboxed", "trusted"])
def test_each_kind_opens_as_its_own_type_and_computes_its_map(tmp_path, sandbox):
    path = save(linear(W, np.zeros(4, np.float32)), tmp_path / "m.onnx")
    z = RNG.normal(size=(6, 3)).astype(np.float32)
    classifier = open_vetted(path, "classifier", CPU, sandbox)
    generator = open_vetted(path, "generator", CPU, sandbox)
    encoder = open_vetted(path, "encoder", CPU, sandbox)
    assert type(classifier) is BlackBox and type(generator) is Generator and type(encoder) is Encoder
    logits = z @ W
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        classifier.predict(z), expected / expected.sum(axis=1, keepdims=True), atol=1e-5
    )
    np.testing.assert_allclose(generator.generate(z), logits, atol=1e-5)
    np.testing.assert_allclose(encoder.encode(z), logits, atol=1e-5)


def test_a_file_swapped_after_the_child_checked_it_is_refused(tmp_path, monkeypatch):
    path = save(linear(W, np.zeros(4, np.float32)), tmp_path / "m.onnx")

    def check_then_swap(*args):
        contact = check_in_child(*args)
        save(linear(2 * W, np.zeros(4, np.float32)), path)  # another writer replaces the file meanwhile
        return contact

    monkeypatch.setattr(auditor.model.vetting, "check_in_child", check_then_swap)
    with pytest.raises(ModelError, match=r"m\.onnx: the model file changed while it was being checked"):
        open_vetted(path, "generator", CPU, SandboxLimits())


def test_trusted_files_skip_the_child_and_unknown_kinds_are_refused(tmp_path, monkeypatch):
    path = save(linear(W, np.zeros(4, np.float32)), tmp_path / "m.onnx")
    children: list[str] = []
    monkeypatch.setattr(auditor.model.vetting, "check_in_child", lambda *args: children.append(args[1]))
    open_vetted(path, "classifier", CPU, None)
    assert children == []
    with pytest.raises(
        ArgumentError, match="kind must be one of classifier, generator, encoder, text, not 'decoder'"
    ):
        open_vetted(path, "decoder", CPU, None)  # type: ignore[call-overload]
