"""`auditor fit-generator` writes a PCA generator and encoder that the tool can load and use."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from auditor.cli import cli, main
from auditor.model.generator import Encoder, Generator
from auditor.model.session import SessionSettings


def test_fit_generator_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 12))
    x = (rng.normal(size=(200, 3)) @ basis * [1, 5, 20, 1, 1, 1, 2, 2, 2, 3, 3, 3] + 7).astype(np.float32)
    np.savez(tmp_path / "data.npz", X=x)
    result = CliRunner().invoke(
        cli,
        [
            "fit-generator",
            "--data",
            str(tmp_path / "data.npz"),
            "--latent",
            "3",
            "-o",
            str(tmp_path / "g.onnx"),
        ],
    )
    assert result.exit_code == 0, result.output
    cpu = SessionSettings(device="cpu")
    generator = Generator.open(tmp_path / "g.onnx", cpu)
    encoder = Encoder.open(tmp_path / "g_encoder.onnx", cpu)
    assert generator.latent_dim == 3 and generator.output_shape == (12,)
    recon = generator.generate(encoder.encode(x[:20]))
    np.testing.assert_allclose(recon, x[:20], rtol=1e-3, atol=1e-3)  # rank-3 data is reproduced exactly
    samples = generator.generate(generator.sample_prior(500, rng))
    assert (samples >= x.min(axis=0) - 1e-5).all() and (samples <= x.max(axis=0) + 1e-5).all()


def test_fit_generator_refuses_too_large_latent(tmp_path):
    np.savez(tmp_path / "data.npz", X=np.zeros((5, 4), np.float32))
    result = CliRunner().invoke(
        cli,
        [
            "fit-generator",
            "--data",
            str(tmp_path / "data.npz"),
            "--latent",
            "9",
            "-o",
            str(tmp_path / "g.onnx"),
        ],
    )
    assert result.exit_code != 0 and "--latent 9" in str(result.exception)


@pytest.mark.parametrize(
    ("rows", "output", "message"),
    [
        (np.ones((20, 4)), "g.onnx", "no variance"),
        (np.full((20, 4), np.nan), "g.onnx", "NaN"),
        (np.random.default_rng(1).normal(size=(20, 4)), "missing/g.onnx", "cannot write"),
    ],
)
def test_fit_generator_errors_are_one_line_exit_2(tmp_path, capsys, rows, output, message):
    np.save(tmp_path / "data.npy", rows)
    args = [
        "fit-generator",
        "--data",
        str(tmp_path / "data.npy"),
        "--latent",
        "2",
        "-o",
        str(tmp_path / output),
    ]
    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and err.count("\n") == 1 and "internal error" not in err
