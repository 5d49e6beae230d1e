"""Word LIME on the text sample: our wall time over raw ONNX Runtime time (tokenization included), beside
`lime`'s LimeTextExplainer on the same model and texts.

For each of the first --texts sentences of sample_models/text/samples.jsonl, three runs with 1000 samples:
- ours: `word_lime(..., removal="unk")`: one tokenization of the text, then its perturbations built on
  the token ids and scored in one call;
- raw: the same perturbed texts (words replaced by "[UNK]", built before the clock starts) tokenized with
  `tokenizers` (encode_batch), padded, and run through a bare `InferenceSession` in one call;
- lime: LimeTextExplainer(bow=False, mask_string="[UNK]", our words as its split), the same 1000
  samples, its classifier function doing exactly what raw does (timed inside, as its raw time).
The two LIMEs perturb alike (a removed word becomes the unknown token) and fit the same kernel and ridge,
so their word weights should rank alike: Spearman correlation over the words, with our own seed-to-seed
correlation beside it. Repeats alternate which runs first; figures are medians over texts of the
per-text medians over repeats. ONNX Runtime and BLAS run with one thread on every side.
Run: `.venv/bin/python benchmarks/text.py [--texts 10] [--repeats 5]` (lime comes with the bench extra).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.explain.attribution import rank_correlation  # noqa: E402
from auditor.explain.text import text_coalitions, word_lime  # noqa: E402
from auditor.model.blackbox import OpenOptions  # noqa: E402
from auditor.model.text import TextModel  # noqa: E402

SAMPLE = ROOT / "sample_models" / "text"
SAMPLES = 1000
UNK = "[UNK]"


class Raw:
    """Texts -> probabilities the plain way: encode_batch, pad to the longest, one session.run."""

    def __init__(self, model: TextModel) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = model.tokenizer.tokenizer  # type: ignore[union-attr]
        self.pad = model.tokenizer.pad_id  # type: ignore[union-attr]
        self.seconds = 0.0

    def __call__(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(texts), width), self.pad, np.int64)
        for i, e in enumerate(encodings):
            ids[i, : len(e.ids)] = e.ids
        (logits,) = self.session.run(
            ["logits"], {"input_ids": ids, "attention_mask": (ids != self.pad).astype(np.int64)}
        )
        self.seconds += time.perf_counter() - started
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def bench_text(
    model: TextModel, raw: Raw, text: str, repeats: int, *, seed: int, peer: bool
) -> dict[str, float]:
    """Per-text medians over repeats; ours, raw and lime alternate which runs first."""
    segmented = model.segment(text)
    n = len(segmented)
    target = int(model.predict([text])[0].argmax())
    seconds: dict[str, list[float]] = {"ours": [], "raw": [], "lime": [], "lime_raw": []}
    weights: dict[str, list[np.ndarray]] = {"ours": [], "lime": []}
    names = ["ours", "raw"] + (["lime"] if peer else [])
    for repeat in range(repeats):
        on, _ = text_coalitions(n, SAMPLES, 0.25, np.random.default_rng(seed + repeat))
        perturbed = [segmented.edited({j: UNK for j in np.flatnonzero(~row)}) for row in on]
        for name in names if repeat % 2 == 0 else names[::-1]:
            raw.seconds = 0.0
            started = time.perf_counter()
            if name == "ours":
                found = word_lime(
                    model, text, target=target, removal="unk", samples=SAMPLES, rng=seed + repeat
                )
                weights["ours"].append(found.weights)
            elif name == "raw":
                raw(perturbed)
            else:
                weights["lime"].append(lime_weights(model, raw, text, target, n, seed + repeat))
                seconds["lime_raw"].append(raw.seconds)
            seconds[name].append(time.perf_counter() - started)
    ours = np.array(seconds["ours"])
    row = {
        "words": float(n),
        "ours_ms": 1e3 * float(np.median(ours)),
        "raw_ms": 1e3 * float(np.median(seconds["raw"])),
        "ours_over_raw": float(np.median(ours / np.array(seconds["raw"]))),
        "seed_correlation": float(
            np.median([rank_correlation(weights["ours"][0], w) for w in weights["ours"][1:]])
        ),
    }
    if peer:
        row |= {
            "lime_ms": 1e3 * float(np.median(seconds["lime"])),
            "lime_raw_ms": 1e3 * float(np.median(seconds["lime_raw"])),
            "lime_over_ours": float(np.median(np.array(seconds["lime"]) / ours)),
            "correlation_with_lime": float(
                np.median([rank_correlation(a, b) for a, b in zip(weights["ours"], weights["lime"])])
            ),
        }
    return row


def lime_weights(model: TextModel, raw: Raw, text: str, target: int, n: int, seed: int) -> np.ndarray:
    """LimeTextExplainer's weights of our words (its split is ours; a removed word becomes [UNK])."""
    from lime.lime_text import LimeTextExplainer  # optional peer (bench extra)

    explainer = LimeTextExplainer(
        bow=False,
        mask_string=UNK,
        split_expression=lambda s: list(model.segment(s).words),
        feature_selection="none",
        random_state=seed,
    )
    found = explainer.explain_instance(text, raw, labels=(target,), num_features=n, num_samples=SAMPLES)
    weights = np.zeros(n)
    for position, weight in found.as_map()[target]:
        weights[position] = weight
    return weights


def measure_texts(count: int, repeats: int, echo: bool = True) -> dict[str, float]:
    """Medians over the first `count` sample texts of the per-text medians (see the module docstring)."""
    model = TextModel.open(SAMPLE / "classifier.onnx", options=OpenOptions(threads=1))
    raw = Raw(model)
    with (SAMPLE / "samples.jsonl").open(encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh][:count]
    have_lime = importlib.util.find_spec("lime") is not None
    rows = []
    for index, text in enumerate(texts):
        row = bench_text(model, raw, text, repeats, seed=1000 * index, peer=have_lime)
        rows.append(row)
        if echo:
            print(json.dumps({"text": index} | {k: round(v, 3) for k, v in row.items()}))
    return {"texts": float(len(texts))} | {key: float(np.median([r[key] for r in rows])) for key in rows[0]}


def summary_lines(summary: dict[str, float]) -> list[str]:
    """The figures in words: ours over raw ORT, and beside lime's LimeTextExplainer when it is installed."""
    lines = [
        f"word LIME, {SAMPLES} samples, {summary['texts']:.0f} texts (median): ours {summary['ours_ms']:.1f} ms, "
        f"raw ORT with tokenization {summary['raw_ms']:.1f} ms, ours/raw {summary['ours_over_raw']:.3f}; "
        f"seed-to-seed rank correlation {summary['seed_correlation']:.3f}"
    ]
    if "lime_ms" in summary:
        lines.append(
            f"lime LimeTextExplainer: {summary['lime_ms']:.1f} ms (its raw ORT with tokenization "
            f"{summary['lime_raw_ms']:.1f} ms), lime/ours {summary['lime_over_ours']:.2f}; rank correlation "
            f"with ours {summary['correlation_with_lime']:.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    summary = measure_texts(args.texts, args.repeats)
    print("\n".join(summary_lines(summary)))
    print(f"ratios: text_lime={summary['ours_over_raw']:.3f}")


if __name__ == "__main__":
    main()
