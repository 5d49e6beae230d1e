"""Fuzzing (hypothesis, bounded and derandomized): every mutated ONNX file and every mutated audit config ends in
exit 0, 1 or 2 with no traceback, one error line, and nothing written beside it. The long run is in tests/slow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from config_mutations import CONFIG_MUTATIONS, absurd_configs, mutated_config, with_value
from hostile_models import W, generator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import (
    BYTE_MUTATIONS,
    PROTO_MUTATIONS,
    SEEDS,
    assert_clean_outcome,
    listing,
    run_cli_in_process,
    run_inspect_in_process,
    write_mutant,
)
from onnx_factory import linear, save

mutants = st.tuples(
    st.sampled_from(sorted(SEEDS)),
    st.lists(st.sampled_from(sorted(PROTO_MUTATIONS)), min_size=0, max_size=3),
    st.none() | st.sampled_from(sorted(BYTE_MUTATIONS)),
    st.integers(0, 2**32 - 1),
)
FUZZ = settings(
    max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@FUZZ
@given(mutants)
def test_inspect_survives_mutated_models(mutant):
    with tempfile.TemporaryDirectory() as folder:
        path = write_mutant(Path(folder), *mutant)
        before = listing(Path(folder))
        assert_clean_outcome(*run_inspect_in_process(path, "--trust-model"))
        assert listing(Path(folder)) == before


@pytest.mark.parametrize(
    "mutant",
    [("external", ["external"], None, 7), ("zipmap", ["dtype", "shape"], "flip", 3)],
    ids=["external", "flip"],
)
def test_inspect_subprocess_through_the_sandbox(tmp_path, mutant):
    path = write_mutant(tmp_path, *mutant)
    before = listing(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "inspect", path.name, "--json", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert_clean_outcome(done.returncode, done.stdout, done.stderr)
    assert listing(tmp_path) == before


@pytest.fixture(scope="module")
def config_folder(tmp_path_factory) -> Path:
    """model.onnx (3 features, 2 classes), generator.onnx (latent 4) and data.npz, for configs to point at."""
    folder = tmp_path_factory.mktemp("configs")
    save(linear(W, np.array([0.5, -0.5], np.float32)), folder / "model.onnx")
    save(generator(latent=4, features=3), folder / "generator.onnx")
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    np.savez(folder / "data.npz", X=x, y=(x @ W).argmax(axis=1))
    return folder


configs = st.tuples(
    st.lists(st.sampled_from(sorted(CONFIG_MUTATIONS)), min_size=1, max_size=3),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)


@FUZZ
@given(configs)
def test_validate_config_survives_mutated_configs(config_folder, mutant):
    before = listing(config_folder)
    path = config_folder / "audit.toml"
    path.write_bytes(mutated_config(*mutant))
    try:
        code, out, err = run_cli_in_process(config_folder, "validate-config", path.name)
    finally:
        path.unlink()
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 0:
        assert out.startswith("audit.toml: valid; checks: provenance")
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("auditor: error: audit.toml"), err
    assert listing(config_folder) == before


def audit_with_absurd_number(folder: Path, case: tuple[str, str, object]) -> None:
    """One value of the base config set to an absurd number: either refused naming its key and line, or an audit
    that ends in exit 0 or 1 with no traceback and no overflow warning, writing only into --out."""
    table, key, _ = case
    before = listing(folder)
    path = folder / "audit.toml"
    path.write_bytes(with_value(*case))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, _, err = run_cli_in_process(
                folder, "audit", "--config", path.name, "--out", "out", "--trust-model", "--quiet"
            )
    finally:
        path.unlink()
        shutil.rmtree(folder / "out", ignore_errors=True)
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("auditor: error: audit.toml:"), err
        assert f"'{table}.{key}'" in lines[0], err
    else:
        assert code in (0, 1), (code, err)
    assert listing(folder) == before


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(absurd_configs()))
def test_absurd_numbers_in_the_config_are_refused_or_audited_cleanly(config_folder, case):
    audit_with_absurd_number(config_folder, case)


@pytest.mark.slow
def test_every_absurd_number_in_the_config(config_folder):
    for case in absurd_configs():
        audit_with_absurd_number(config_folder, case)


NUMERIC_OPTIONS = [
    "--batch-size",
    "--threads",
    "--max-model-bytes",
    "--max-initializer-bytes",
    "--max-row-bytes",
    "--sandbox-memory",
    "--load-timeout",
    "--call-timeout",
]
ODD_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e-320", "abc", "", "1" * 30, "0x10", "3.5", "2"]


@FUZZ
@given(
    st.lists(
        st.tuples(st.sampled_from(NUMERIC_OPTIONS), st.sampled_from(ODD_NUMBERS)), min_size=1, max_size=3
    )
)
def test_absurd_numbers_on_the_command_line(config_folder, flags):
    args = [item for flag in flags for item in flag]
    code, _, err = run_cli_in_process(
        config_folder, "inspect", "model.onnx", "--device", "cpu", "--trust-model", *args
    )
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
