"""Rebuild the committed sample models deterministically: `python sample_models/build.py [NAME ...]`.

digits/: a CNN on scikit-learn's digits upsampled to 28x28, with an MLP-VAE generator and encoder.
tabular/: a scikit-learn MLP pipeline on breast_cancer (skl2onnx, ZipMap output), with a PCA prior.
text/: a word-embedding classifier exported like Hugging Face Optimum (input_ids, attention_mask ->
logits), a TF-IDF + logistic regression pipeline (skl2onnx, string input) and a sentence-VAE decoder,
over three categories of Debian's `fortunes` package (`apt-get install fortunes`).
Needs the `samples` extra (torch, scikit-learn, skl2onnx, tokenizers); a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import io
import json
import math
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from scipy.ndimage import zoom
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import StringTensorType
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers import models as tokenizer_models
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generators.pca import OPSET, save_pca  # noqa: E402
from generators.text_vae import export_decoder, train_sentence_vae  # noqa: E402
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


# --- text ---------------------------------------------------------------------------------------------

FORTUNES = Path("/usr/share/games/fortunes")
TEXT_CLASSES = ("linux", "love", "sports")
TEXT_PER_CLASS = 400  # sentences kept per category at most (linux has 473)
TEXT_WORDS = (4, 20)  # sentence length in words, inclusive
TEXT_MIN_COUNT = 2  # words seen fewer times in the training split are unknown
TEXT_LENGTH = TEXT_WORDS[1] + 1  # the decoder's positions: the words and [EOS]
TEXT_DIM = 32
TEXT_EPOCHS = 60
TEXT_VAE_LATENT = 16
TEXT_VAE_EPOCHS = 120
TEXT_VAE_BETA = 0.1  # a light KL weight: more varied sentences from the prior
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]")


def fortune_sentences(category: str) -> list[str]:
    """Sentences of one fortunes file: attributions ("-- Author") dropped, whitespace folded, split at
    sentence ends, kept when they have TEXT_WORDS words."""
    path = FORTUNES / category
    if not path.is_file():
        raise SystemExit(f"{path} is missing: install Debian's fortunes package (apt-get install fortunes)")
    sentences = []
    for item in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
        lines = [line for line in item.splitlines() if not re.match(r"\s*--", line)]
        body = " ".join(" ".join(lines).split())
        for sentence in re.split(r"(?<=[.!?])\s+", body):
            if TEXT_WORDS[0] <= len(re.findall(r"\w+", sentence)) <= TEXT_WORDS[1]:
                sentences.append(sentence)
    return sentences


def word_tokenizer(vocabulary: list[str]) -> Tokenizer:
    """WordLevel tokenizer: lower-case, split at whitespace and punctuation, [CLS] text [SEP]."""
    tokenizer = Tokenizer(
        tokenizer_models.WordLevel({w: i for i, w in enumerate(vocabulary)}, unk_token="[UNK]")
    )
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    cls, sep = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.enable_truncation(TEXT_LENGTH + 1)
    return tokenizer


class WordClassifier(nn.Module):
    """Word embeddings, mean over the attention mask, a tanh layer and a linear head; returns logits."""

    def __init__(self, vocab: int, classes: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, TEXT_DIM)
        self.hidden = nn.Linear(TEXT_DIM, TEXT_DIM)
        self.head = nn.Linear(TEXT_DIM, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        pooled = (self.embed(input_ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(torch.tanh(self.hidden(pooled)))


def padded(rows: list[list[int]], width: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.full((len(rows), width), pad, np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row[:width]
    return ids, (ids != pad).astype(np.int64)


def train_word_classifier(ids: np.ndarray, mask: np.ndarray, y: np.ndarray, vocab: int) -> WordClassifier:
    """Adam with weight decay; each epoch drops 10 % of the words at random (word dropout)."""
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    model = WordClassifier(vocab, len(TEXT_CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-5)
    data, keep, labels = torch.as_tensor(ids), torch.as_tensor(mask), torch.as_tensor(y)
    for _ in range(TEXT_EPOCHS):
        model.train()
        for batch in torch.randperm(len(data), generator=generator).split(BATCH_SIZE):
            dropped = keep[batch] * (torch.rand(keep[batch].shape, generator=generator) > 0.1)
            optimizer.zero_grad()
            F.cross_entropy(model(data[batch], dropped), labels[batch]).backward()
            optimizer.step()
    return model.eval()


def export_word_classifier(model: WordClassifier, path: Path) -> None:
    """Inputs input_ids, attention_mask int64 (batch_size, sequence_length) -> logits (batch_size, 3)."""
    buffer = io.BytesIO()
    example = (torch.ones(2, 5, dtype=torch.long), torch.ones(2, 5, dtype=torch.long))
    axes = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        torch.onnx.export(
            model,
            example,
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch_size"}},
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.ir_version = 8
    proto.doc_string = "Fortune category classifier: input_ids, attention_mask (tokenizer.json) -> 3 logits (linux, love, sports)."
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


def export_tfidf(train: list[str], y: np.ndarray, path: Path) -> None:
    """TF-IDF + logistic regression over raw strings, exported with the C.UTF-8 locale (skl2onnx asks
    ONNX Runtime for en_US.UTF-8 by default, which minimal systems lack)."""
    pipe = Pipeline(
        [
            ("tfidf", TfidfVectorizer(min_df=TEXT_MIN_COUNT)),
            ("linear", LogisticRegression(C=10.0, max_iter=2000)),
        ]
    ).fit(train, y)
    proto = convert_sklearn(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        options={TfidfVectorizer: {"locale": "C.UTF-8"}},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    sort_opsets(proto)
    proto.graph.name = "fortune_tfidf"  # skl2onnx names the graph with a random UUID
    proto.doc_string = (
        "Fortune category classifier: TF-IDF + logistic regression over the text (string (N, 1))."
    )
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path))


def build_text(out: Path) -> float:
    """Write text/{classifier,tfidf,generator}.onnx, tokenizer.json, config.json, samples and reference
    sentences; return the classifier's ORT test accuracy."""
    rng = np.random.default_rng(SEED)
    sentences, labels = [], []
    for k, category in enumerate(TEXT_CLASSES):
        found = sorted(set(fortune_sentences(category)))
        chosen = rng.permutation(len(found))[:TEXT_PER_CLASS]
        sentences += [found[i] for i in sorted(chosen)]
        labels += [k] * len(chosen)
    train, test, y_train, y_test = split(np.array(sentences, dtype=object), np.array(labels, np.int64))
    splitter = pre_tokenizers.Whitespace()
    counts: dict[str, int] = {}
    for sentence in train:
        for word, _ in splitter.pre_tokenize_str(sentence.lower()):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(w for w, c in counts.items() if c >= TEXT_MIN_COUNT)
    vocabulary = [*SPECIAL_TOKENS, *words]
    tokenizer = word_tokenizer(vocabulary)
    tokenizer.save(str(out / "tokenizer.json"))
    pad, eos = vocabulary.index("[PAD]"), vocabulary.index("[EOS]")

    encoded = [e.ids for e in tokenizer.encode_batch(list(train))]
    ids, mask = padded(encoded, TEXT_LENGTH + 1, pad)
    classifier = train_word_classifier(ids, mask, y_train, len(vocabulary))
    export_word_classifier(classifier, out / "classifier.onnx")
    export_tfidf(list(train), y_train, out / "tfidf.onnx")
    (out / "config.json").write_text(
        json.dumps({"id2label": {str(k): c for k, c in enumerate(TEXT_CLASSES)}}, indent=1) + "\n"
    )

    bare = [[*row[1:-1], eos] for row in encoded]  # no [CLS]/[SEP]; [EOS] ends the sentence
    vae_ids, _ = padded(bare, TEXT_LENGTH, pad)
    lengths = np.minimum([len(row) for row in bare], TEXT_LENGTH)
    vae = train_sentence_vae(
        vae_ids,
        lengths,
        len(vocabulary),
        pad_id=pad,
        latent=TEXT_VAE_LATENT,
        epochs=TEXT_VAE_EPOCHS,
        seed=SEED,
        beta=TEXT_VAE_BETA,
    )
    export_decoder(vae, vocabulary, out / "generator.onnx")

    for name, texts, ys in (("samples.jsonl", test, y_test), ("reference.jsonl", train, y_train)):
        with (out / name).open("w", encoding="utf-8") as fh:
            for text, k in zip(texts, ys):
                fh.write(json.dumps({"text": text, "label": TEXT_CLASSES[k]}, ensure_ascii=False) + "\n")
    test_ids, test_mask = padded([e.ids for e in tokenizer.encode_batch(list(test))], TEXT_LENGTH + 1, pad)
    logits = session(out / "classifier.onnx").run(
        ["logits"], {"input_ids": test_ids, "attention_mask": test_mask}
    )[0]
    return float(np.mean(logits.argmax(axis=1) == y_test))


def main() -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # The legacy exporter is chosen on purpose (dynamo needs onnxscript); its notice is noise here.
    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
    builds = {"digits": build_digits, "tabular": build_tabular, "text": build_text}
    chosen = sys.argv[1:] or list(builds)
    unknown = sorted(set(chosen) - set(builds))
    if unknown:
        raise SystemExit(f"unknown sample {', '.join(unknown)}; choose from {', '.join(builds)}")
    for name, build in [(name, builds[name]) for name in chosen]:
        start = time.perf_counter()
        (HERE / name).mkdir(exist_ok=True)
        accuracy = build(HERE / name)
        print(f"{name}: test accuracy (onnxruntime) {accuracy:.4f} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
