"""Tiny text models built with onnx.helper, and a word-level tokenizer.json, for the text tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_factory import model, save

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: A bag-of-words vocabulary and each word's contribution to logit 1 - logit 0 (the log-odds of class 1).
WORDS = ["good", "bad", "movie", "plot", "great", "awful", "boring", "fine", "the", "was", "and"]
CONTRIBUTION = {
    "good": 1.0,
    "great": 2.0,
    "fine": 0.5,
    "bad": -1.5,
    "awful": -2.5,
    "boring": -1.0,
    "plot": 0.25,
}


def word_tokenizer(path: Path, words: Sequence[str], *, cls_sep: bool = True) -> dict[str, int]:
    """A WordLevel tokenizer.json (lowercase, whitespace/punctuation split); returns its vocabulary."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {token: i for i, token in enumerate([*SPECIALS, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if cls_sep:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
        )
    tokenizer.save(str(path))
    return vocab


def bag_of_words(
    weights: np.ndarray,
    bias: np.ndarray,
    *,
    attention: bool = True,
    length: int | str = "L",
    input_name: str = "input_ids",
) -> object:
    """logits = sum over tokens of weights[id] (+ bias); weights (V, K). With attention, masked by attention_mask."""
    weights = np.asarray(weights, np.float32)
    bias = np.asarray(bias, np.float32)
    k = weights.shape[1]
    nodes = [helper.make_node("Gather", ["W", input_name], ["per_token"], axis=0)]
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.INT64, ["N", length])]
    summed = "per_token"
    if attention:
        inputs.append(helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", length]))
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["per_token", "mask3"], ["masked"]),
        ]
        summed = "masked"
    nodes += [
        helper.make_node("ReduceSum", [summed, "axis1"], ["total"], keepdims=0),
        helper.make_node("Add", ["total", "B"], ["logits"]),
    ]
    initializers = [
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], np.int64), "axis2"),
    ]
    return model(
        nodes,
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", k])],
        initializers,
    )


def bert_shaped(
    vocab: int, k: int = 3, *, hidden: int = 8, positions: int = 64, extra: str | None = None, seed: int = 0
):
    """An Optimum-style graph: input_ids, attention_mask, token_type_ids (int64, N x L) -> logits (N, K).

    Token, type and position embeddings, a tanh layer, mask-weighted mean pooling and a dense head;
    `extra` adds one more int64 input of that name, which the graph ignores.
    """
    rng = np.random.default_rng(seed)
    arrays = {
        "E": rng.normal(0, 1, (vocab, hidden)),
        "T": rng.normal(0, 0.5, (2, hidden)),
        "P": rng.normal(0, 0.5, (positions, hidden)),
        "H": rng.normal(0, 0.7, (hidden, hidden)),
        "D": rng.normal(0, 1, (hidden, k)),
        "Db": rng.normal(0, 0.1, (k,)),
    }
    initializers = [numpy_helper.from_array(v.astype(np.float32), name) for name, v in arrays.items()]
    initializers += [
        numpy_helper.from_array(np.array(v, np.int64), name)
        for name, v in {"zero": 0, "one": 1, "axis1": [1], "axis2": [2], "start": [1], "stop": [2]}.items()
    ]
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["tok"], axis=0),
        helper.make_node("Gather", ["T", "token_type_ids"], ["typ"], axis=0),
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Slice", ["shape", "start", "stop"], ["len1"]),
        helper.make_node("Squeeze", ["len1"], ["length"]),
        helper.make_node("Range", ["zero", "length", "one"], ["pos_ids"]),
        helper.make_node("Gather", ["P", "pos_ids"], ["pos"], axis=0),
        helper.make_node("Add", ["tok", "typ"], ["sum1"]),
        helper.make_node("Add", ["sum1", "pos"], ["emb"]),
        helper.make_node("MatMul", ["emb", "H"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["act"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["act", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["pooled_sum"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
        helper.make_node("Div", ["pooled_sum", "count"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "D"], ["dense"]),
        helper.make_node("Add", ["dense", "Db"], ["logits"]),
    ]
    names = ["input_ids", "attention_mask", "token_type_ids"] + ([extra] if extra else [])
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch_size", "sequence_length"]) for n in names
    ]
    return model(
        nodes,
        inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", k])],
        initializers,
    )


def hf_config(path: Path, names: Sequence[str]) -> None:
    """A Hugging Face config.json with id2label."""
    path.write_text(json.dumps({"id2label": {str(i): n for i, n in enumerate(names)}, "model_type": "bert"}))


__all__ = ["bag_of_words", "bert_shaped", "hf_config", "save", "word_tokenizer"]
