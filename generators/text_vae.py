"""A small sentence VAE (Bowman et al., 2016) as a text prior, exported to ONNX as z -> token logits.

The decoder is not autoregressive: a GRU reads a learned position code beside a projection of z at
every step and scores the vocabulary at each of `length` positions in one pass. Its ONNX graph has no
loop, and argmax decoding needs no sampling, so the same z always gives the same sentence (the paper's
LSTM decoder samples at temperature 0.1). Needs torch (the `samples` extra); `auditor` never imports it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

from generators.pca import IR_VERSION, OPSET, set_metadata

EMBED = 64
HIDDEN = 128
POSITION = 32


class SentenceVAE(nn.Module):
    """Bidirectional GRU encoder q(z|tokens); non-autoregressive GRU decoder p(tokens|z)."""

    def __init__(self, vocab: int, length: int, latent: int, pad_id: int) -> None:
        super().__init__()
        self.length = length
        self.latent = latent
        self.embed = nn.Embedding(vocab, EMBED, padding_idx=pad_id)
        self.encoder = nn.GRU(EMBED, HIDDEN, batch_first=True, bidirectional=True)
        self.mean = nn.Linear(2 * HIDDEN, latent)
        self.log_var = nn.Linear(2 * HIDDEN, latent)
        self.positions = nn.Parameter(0.1 * torch.randn(length, POSITION))
        self.from_z = nn.Linear(latent, EMBED - POSITION)
        self.start = nn.Linear(latent, HIDDEN)
        self.decoder = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, vocab)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(ids), lengths, batch_first=True, enforce_sorted=False
        )
        _, hidden = self.encoder(packed)
        both = torch.cat([hidden[0], hidden[1]], dim=1)
        return self.mean(both), self.log_var(both)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Token logits (N, length, vocabulary)."""
        n = z.shape[0]
        steps = torch.cat(
            [
                self.positions.unsqueeze(0).expand(n, -1, -1),
                self.from_z(z).unsqueeze(1).expand(-1, self.length, -1),
            ],
            dim=2,
        )
        hidden, _ = self.decoder(steps, torch.tanh(self.start(z)).unsqueeze(0))
        return self.out(hidden)


def train_sentence_vae(
    ids: np.ndarray,
    lengths: np.ndarray,
    vocab: int,
    *,
    pad_id: int,
    latent: int = 16,
    epochs: int = 80,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 3e-3,
    beta: float = 0.5,
) -> SentenceVAE:
    """Train on token rows (n, length) padded with pad_id; the KL weight rises linearly to `beta` over half
    the epochs (KL annealing). Deterministic for a seed."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = torch.as_tensor(ids, dtype=torch.long)
    sizes = torch.as_tensor(lengths, dtype=torch.long)
    model = SentenceVAE(vocab, ids.shape[1], latent, pad_id)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        weight = beta * min(1.0, epoch / max(1, epochs // 2))
        for batch in torch.randperm(len(data), generator=generator).split(batch_size):
            mean, log_var = model.encode(data[batch], sizes[batch])
            noise = torch.randn(len(batch), latent, generator=generator)
            logits = model.decode(mean + torch.exp(0.5 * log_var) * noise)
            reconstruction = F.cross_entropy(logits.transpose(1, 2), data[batch], reduction="sum")
            kl = -0.5 * torch.sum(1 + log_var - mean.square() - log_var.exp())
            optimizer.zero_grad()
            ((reconstruction + weight * kl) / len(batch)).backward()
            optimizer.step()
    return model.eval()


class _Decoder(nn.Module):
    def __init__(self, vae: SentenceVAE) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)


def export_decoder(model: SentenceVAE, vocabulary: list[str], path: str | Path) -> None:
    """Write the decoder z (N, latent) -> logits (N, length, vocabulary) with its vocabulary in metadata."""
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            _Decoder(model.eval()),
            (torch.zeros(2, model.latent),),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["z"],
            output_names=["logits"],
            dynamic_axes={"z": {0: "N"}, "logits": {0: "N"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.graph.output[0].type.tensor_type.shape.CopyFrom(
        onnx.helper.make_tensor_type_proto(
            onnx.TensorProto.FLOAT, ["N", model.length, len(vocabulary)]
        ).tensor_type.shape
    )
    proto.ir_version = IR_VERSION
    proto.doc_string = (
        f"Sentence VAE decoder (non-autoregressive GRU, latent {model.latent}, prior N(0, I)): "
        f"z -> token logits over {len(vocabulary)} words at {model.length} positions; argmax decoding."
    )
    set_metadata(proto, "generator", model.latent, "sentence-vae")
    proto.metadata_props.add(key="auditor.vocabulary", value=json.dumps(vocabulary, ensure_ascii=False))
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))
