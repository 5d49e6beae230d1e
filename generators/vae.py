"""A small MLP variational autoencoder (Kingma & Welling, 2014) as an image prior, exported to ONNX.

Needs torch (the `samples` extra); only the sample-model build script imports it, never `auditor`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

from generators.pca import IR_VERSION, OPSET, set_metadata

HIDDEN = (256, 128)


class VAE(nn.Module):
    """MLP VAE for images in [0, 1]: Gaussian encoder q(z|x), Bernoulli decoder p(x|z)."""

    def __init__(self, image_shape: tuple[int, ...], latent: int) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent = latent
        pixels = int(np.prod(image_shape))
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pixels, HIDDEN[0]),
            nn.ReLU(),
            nn.Linear(HIDDEN[0], HIDDEN[1]),
            nn.ReLU(),
        )
        self.mean = nn.Linear(HIDDEN[1], latent)
        self.log_var = nn.Linear(HIDDEN[1], latent)
        self.decoder = nn.Sequential(
            nn.Linear(latent, HIDDEN[1]),
            nn.ReLU(),
            nn.Linear(HIDDEN[1], HIDDEN[0]),
            nn.ReLU(),
            nn.Linear(HIDDEN[0], pixels),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x)."""
        hidden = self.body(x)
        return self.mean(hidden), self.log_var(hidden)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel means in [0, 1], shaped (N, *image_shape)."""
        return torch.sigmoid(self.decoder(z)).reshape(-1, *self.image_shape)


def _loss(model: VAE, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Negative ELBO per sample: Bernoulli cross-entropy plus KL(q(z|x) || N(0, I))."""
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * noise
    logits = model.decoder(z)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="sum")
    kl = -0.5 * torch.sum(1 + log_var - mean.square() - log_var.exp())
    return (reconstruction + kl) / x.shape[0]


def train_vae(
    X: np.ndarray,
    latent: int = 16,
    epochs: int = 60,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 1e-3,
) -> VAE:
    """Train a VAE on images X (n, *image_shape) with values in [0, 1]; deterministic for a seed."""
    if X.ndim < 2 or X.min() < 0 or X.max() > 1:
        raise ValueError("X must be a batch of images with values in [0, 1]")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = torch.as_tensor(X, dtype=torch.float32)
    model = VAE(tuple(X.shape[1:]), latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(data), generator=generator).split(batch_size):
            noise = torch.randn(len(batch), latent, generator=generator)
            optimizer.zero_grad()
            _loss(model, data[batch], noise).backward()
            optimizer.step()
    return model.eval()


class _Decoder(nn.Module):
    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


class _Encoder(nn.Module):
    def __init__(self, vae: VAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(x)[0]


def export_module(
    module: nn.Module, example: torch.Tensor, names: tuple[str, str], doc_string: str
) -> onnx.ModelProto:
    """Export a one-input, one-output module with the legacy (TorchScript) exporter, in memory.

    Opset 17, IR version 8, batch axis "N" dynamic and the other output dims static; the producer stays
    the exporter's ("pytorch"); checked with onnx.checker.
    """
    buffer = io.BytesIO()
    source, target = names
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[source],
            output_names=[target],
            dynamic_axes={source: {0: "N"}, target: {0: "N"}},
        )
        tail = tuple(module(example).shape[1:])
    model = onnx.load_from_string(buffer.getvalue())
    _set_output_shape(model, tail)
    model.ir_version = IR_VERSION
    model.doc_string = doc_string
    onnx.checker.check_model(model, full_check=True)
    return model


def _set_output_shape(model: onnx.ModelProto, tail: tuple[int, ...]) -> None:
    """Replace the exporter's symbolic non-batch output dims (e.g. "Reshapex_dim_1") by their values."""
    output = model.graph.output[0]
    output.type.tensor_type.shape.CopyFrom(
        onnx.helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, ["N", *tail]).tensor_type.shape
    )


def export_vae(model: VAE, generator_path: str | Path, encoder_path: str | Path) -> None:
    """Write the decoder (z -> x) and the encoder mean (x -> z) as self-contained ONNX files."""
    model = model.eval()
    parts = [
        (_Decoder(model), torch.zeros(2, model.latent), ("z", "x"), "generator", generator_path),
        (_Encoder(model), torch.zeros(2, *model.image_shape), ("x", "z"), "encoder", encoder_path),
    ]
    for module, example, names, kind, path in parts:
        onnx_model = export_module(
            module, example, names, f"VAE {kind} (MLP, latent {model.latent}, prior N(0, I))"
        )
        set_metadata(onnx_model, kind, model.latent, "vae")
        onnx.save_model(onnx_model, str(path))
