"""The attributions check runs each configured method by its name, with the same options as `auditor attribute`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx_factory import linear, save

from auditor.audit import checks
from auditor.audit.config import load_config
from auditor.audit.runner import run_check

RNG = np.random.default_rng(7)
CONFIG = """\
[model]
path = "m.onnx"
[data]
path = "d.npz"
[run]
device = "cpu"
[checks.stability]
enabled = false
[checks.exemplars]
enabled = false
[checks.counterfactuals]
enabled = false
[checks.attributions]
methods = ["feature-ablation", "occlusion"]
samples = 2
window = 1
stride = 1
baseline = 0.0
"""


def test_feature_ablation_is_run_as_itself_and_matches_single_feature_occlusion(tmp_path: Path) -> None:
    save(linear(RNG.normal(size=(4, 3)), RNG.normal(size=3), head="softmax"), tmp_path / "m.onnx")
    np.savez(tmp_path / "d.npz", X=RNG.normal(size=(20, 4)).astype(np.float32))
    (tmp_path / "audit.toml").write_text(CONFIG)
    result = run_check(checks.ATTRIBUTIONS, checks.Context.open(load_config(tmp_path / "audit.toml")))
    maps = result.details["maps"]
    assert [entry["method"] for entry in maps] == ["feature-ablation", "occlusion"] * 2
    for ablation, occlusion in zip(maps[::2], maps[1::2], strict=True):
        # one feature at a time to the baseline: occlusion with a window and stride of 1 is feature ablation
        assert ablation["index"] == occlusion["index"] and ablation["target"] == occlusion["target"]
        by_feature = {f["feature"]: f["attribution"] for f in occlusion["top_features"]}
        assert len(by_feature) == 4
        for feature in ablation["top_features"]:
            assert np.isclose(feature["attribution"], by_feature[feature["feature"]], rtol=1e-6, atol=1e-9)
