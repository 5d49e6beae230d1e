"""`auditor fit-generator`: fit a framework-free PCA generator (and encoder) on a data array."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from auditor.data import load_data
from auditor.errors import AuditorError, DataError
from generators.pca import save_pca


@click.command("fit-generator")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Rows to fit (.npz/.npy/.csv).",
)
@click.option("--kind", type=click.Choice(["pca"]), default="pca", show_default=True)
@click.option("--latent", type=click.IntRange(1), default=8, show_default=True, help="Latent size.")
@click.option(
    "-o", "--output", "out", required=True, type=click.Path(dir_okay=False), help="Generator .onnx to write."
)
@click.option(
    "--encoder",
    "encoder_out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Encoder .onnx to write (default: beside the generator, *_encoder.onnx).",
)
@click.option(
    "--clip/--no-clip", default=True, show_default=True, help="Clip generated rows to the data's range."
)
@click.option(
    "--standardize/--no-standardize",
    default=None,
    help="Scale features to unit variance before PCA (default: on for tabular rows, off for images).",
)
def command(
    data_path: str,
    kind: str,
    latent: int,
    out: str,
    encoder_out: str | None,
    clip: bool,
    standardize: bool | None,
) -> None:
    """Fit a linear-Gaussian generator z ~ N(0, I) -> x and its encoder, written as ONNX graphs."""
    data = load_data(data_path)
    x = data.ref
    features = int(np.prod(x.shape[1:]))
    if latent > min(len(x), features):
        raise DataError(
            f"--latent {latent} is more than the data supports ({len(x)} rows, {features} features)"
        )
    out_path = Path(out)
    enc_path = Path(encoder_out) if encoder_out else out_path.with_name(out_path.stem + "_encoder.onnx")
    lower, upper = (x.min(axis=0), x.max(axis=0)) if clip else (None, None)
    if standardize is None:
        standardize = x.ndim == 2
    try:
        save_pca(x, latent, out_path, enc_path, lower=lower, upper=upper, standardize=standardize)
    except ValueError as exc:  # the fit checks the rows: too few, NaN/Inf, no variance
        raise DataError(f"{data_path}: cannot fit a PCA generator ({exc}); fix the data") from None
    except OSError as exc:
        raise AuditorError(f"cannot write {exc.filename}: {exc.strerror}; choose a writable path") from None
    click.echo(f"{out_path}\n{enc_path}")
