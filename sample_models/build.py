"""Rebuild the committed sample models deterministically: `python sample_models/build.py`.

digits/: a CNN on scikit-learn's digits upsampled to 28x28, with an MLP-VAE generator and encoder.
tabular/: a scikit-learn MLP pipeline on breast_cancer (skl2onnx, ZipMap output), with a PCA prior.
Needs the `samples` extra (torch, scikit-learn, skl2onnx); takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from scipy.ndimage import zoom
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generators.pca import OPSET, save_pca  # noqa: E402
from generators.vae import export_module, export_vae, train_vae  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 0
TEST_SIZE = 0.25
DIGITS_SIZE = 28
CNN_EPOCHS = 20
BATCH_SIZE = 64
MAX_SHIFT = 2
VAE_LATENT = 16
VAE_EPOCHS = 120
PCA_LATENT = 8


def split(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 75/25 train/test split with the fixed seed."""
    return train_test_split(X, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# --- digits -------------------------------------------------------------------------------------------


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """sklearn digits (8x8, 0..16) upsampled bilinearly to 28x28, scaled to [0, 1], as (n, 1, 28, 28)."""
    digits = load_digits()
    factor = DIGITS_SIZE / digits.images.shape[1]
    images = zoom(digits.images, (1, factor, factor), order=1) / 16.0
    return np.clip(images, 0, 1).astype(np.float32)[:, None], digits.target.astype(np.int64)


class CNN(nn.Module):
    """conv16-pool-conv32-pool-conv64-fc on 1x28x28 inputs; returns logits."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(64 * 7 * 7, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def shift(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to MAX_SHIFT pixels in each direction, filling with zeros."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (len(images), 2), generator=generator).tolist()
    return torch.stack([padded[i, :, r : r + height, c : c + width] for i, (r, c) in enumerate(offsets)])


def train_cnn(X: np.ndarray, y: np.ndarray) -> CNN:
    """Adam with a cosine learning-rate decay, batch 64, random shifts; deterministic for SEED."""
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    data, labels = torch.as_tensor(X), torch.as_tensor(y)
    model = CNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = CNN_EPOCHS * math.ceil(len(data) / BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(CNN_EPOCHS):
        for batch in torch.randperm(len(data), generator=generator).split(BATCH_SIZE):
            optimizer.zero_grad()
            F.cross_entropy(model(shift(data[batch], generator)), labels[batch]).backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def export_cnn(model: CNN, path: Path) -> None:
    """Input "input" (N, 1, 28, 28) -> output "logits" (N, 10), dynamic batch."""
    example = torch.zeros(2, 1, DIGITS_SIZE, DIGITS_SIZE)
    doc = "Digit classifier: 1x28x28 grey image in [0, 1] (NCHW) -> 10 logits."
    onnx.save_model(export_module(model, example, ("input", "logits"), doc), str(path))


def build_digits(out: Path) -> float:
    """Write digits/{classifier,generator,encoder}.onnx and samples.npz; return ORT test accuracy."""
    X, y = digits_data()
    X_train, X_test, y_train, y_test = split(X, y)
    export_cnn(train_cnn(X_train, y_train), out / "classifier.onnx")
    export_vae(train_vae(X_train, VAE_LATENT, VAE_EPOCHS, SEED), out / "generator.onnx", out / "encoder.onnx")
    class_names = np.array([str(k) for k in range(10)])
    np.savez_compressed(out / "samples.npz", X=X_test, y=y_test, class_names=class_names)
    logits = session(out / "classifier.onnx").run(["logits"], {"input": X_test})[0]
    return float(np.mean(logits.argmax(axis=1) == y_test))


# --- tabular ------------------------------------------------------------------------------------------


def sort_opsets(model: onnx.ModelProto) -> None:
    """Order opset imports by domain: skl2onnx lists them in set order, which varies with PYTHONHASHSEED."""
    opsets = [
        onnx.helper.make_opsetid(o.domain, o.version)
        for o in sorted(model.opset_import, key=lambda o: o.domain)
    ]
    del model.opset_import[:]
    model.opset_import.extend(opsets)


def build_tabular(out: Path) -> float:
    """Write tabular/{classifier,generator,encoder}.onnx and samples.npz; return ORT test accuracy."""
    data = load_breast_cancer()
    X_train, X_test, y_train, y_test = split(data.data, data.target.astype(np.int64))
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("mlp", MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=SEED)),
        ]
    ).fit(X_train, y_train)
    classifier = to_onnx(pipe, X_train[:1].astype(np.float32), target_opset={"": OPSET, "ai.onnx.ml": 3})
    sort_opsets(classifier)
    classifier.doc_string = (
        "Breast-cancer classifier (StandardScaler + MLP): 30 float features -> label, ZipMap."
    )
    onnx.checker.check_model(classifier, full_check=True)
    onnx.save_model(classifier, str(out / "classifier.onnx"))
    save_pca(
        X_train,
        PCA_LATENT,
        out / "generator.onnx",
        out / "encoder.onnx",
        lower=X_train.min(axis=0),
        upper=X_train.max(axis=0),
        standardize=True,
    )
    np.savez_compressed(
        out / "samples.npz",
        X=X_test.astype(np.float32),
        y=y_test,
        feature_names=np.array(data.feature_names),
        class_names=np.array(["malignant", "benign"]),
        X_reference=X_train.astype(np.float32),
    )
    labels = session(out / "classifier.onnx").run(["output_label"], {"X": X_test.astype(np.float32)})[0]
    return float(np.mean(labels == y_test))


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # The legacy exporter is chosen on purpose (dynamo needs onnxscript); its notice is noise here.
    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
    for name, build in [("digits", build_digits), ("tabular", build_tabular)]:
        start = time.perf_counter()
        (HERE / name).mkdir(exist_ok=True)
        accuracy = build(HERE / name)
        print(f"{name}: test accuracy (onnxruntime) {accuracy:.4f} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
