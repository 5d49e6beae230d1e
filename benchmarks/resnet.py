"""ResNet-style image classifiers (3x224x224 NCHW -> class logits) with random weights, built with onnx.helper.

Weights do not matter for speed, so no training and no torch: stem conv 7x7/2 + BN + ReLU + max-pool,
four stages of residual blocks, global average pooling and a dense head. Basic blocks (two 3x3 conv +
BN) with `width=64, blocks=(2, 2, 2, 2)` are ResNet-18's layout; bottleneck blocks (1x1 reduce, 3x3,
1x1 expand to 4x, as torchvision's v1.5 with the stride on the 3x3) with `width=64, blocks=(3, 4, 6, 3)`
are ResNet-50's (25.6 M parameters, about 4.1 G multiply-adds per image, a 102 MB file): `resnet50()`.
The last BN of each residual branch starts small (gamma 0.2) so that random logits stay moderate.

    python benchmarks/resnet.py out.onnx [--preset resnet50] [--width 32] [--blocks 1,1,1,1] [--classes 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Builder:
    """Accumulates nodes and He-initialised weights; every method returns its output tensor's name."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def weight(self, kind: str, array: np.ndarray) -> str:
        name = self.name(kind)
        self.weights.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv_bn(
        self, x: str, c_in: int, c_out: int, k: int, stride: int, relu: bool, gamma: float | None = None
    ) -> str:
        w = self.rng.normal(0, np.sqrt(2.0 / (c_in * k * k)), (c_out, c_in, k, k))
        conv = self.name("conv")
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, self.weight("w", w)],
                [conv],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
            )
        )
        params = [
            self.weight(
                "gamma", self.rng.uniform(0.5, 1.0, c_out) if gamma is None else np.full(c_out, gamma)
            ),
            self.weight("beta", self.rng.normal(0, 0.1, c_out)),
            self.weight("mean", self.rng.normal(0, 0.1, c_out)),
            self.weight("var", self.rng.uniform(0.5, 1.5, c_out)),
        ]
        bn = self.name("bn")
        self.nodes.append(helper.make_node("BatchNormalization", [conv, *params], [bn]))
        return self.relu(bn) if relu else bn

    def relu(self, x: str) -> str:
        out = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def block(self, x: str, c_in: int, c_out: int, stride: int) -> str:
        h = self.conv_bn(x, c_in, c_out, 3, stride, relu=True)
        h = self.conv_bn(h, c_out, c_out, 3, 1, relu=False)
        shortcut = x if stride == 1 and c_in == c_out else self.conv_bn(x, c_in, c_out, 1, stride, relu=False)
        added = self.name("add")
        self.nodes.append(helper.make_node("Add", [h, shortcut], [added]))
        return self.relu(added)

    def bottleneck(self, x: str, c_in: int, c_out: int, stride: int) -> str:
        inner = c_out // EXPANSION
        h = self.conv_bn(x, c_in, inner, 1, 1, relu=True)
        h = self.conv_bn(h, inner, inner, 3, stride, relu=True)
        h = self.conv_bn(h, inner, c_out, 1, 1, relu=False, gamma=RESIDUAL_GAMMA)
        shortcut = x if stride == 1 and c_in == c_out else self.conv_bn(x, c_in, c_out, 1, stride, relu=False)
        added = self.name("add")
        self.nodes.append(helper.make_node("Add", [h, shortcut], [added]))
        return self.relu(added)


EXPANSION = 4
RESIDUAL_GAMMA = 0.2


def resnet50(classes: int = 1000, seed: int = 0) -> onnx.ModelProto:
    """ResNet-50's layout and size (bottleneck blocks 3, 4, 6, 3 at width 64), random weights."""
    return build(64, (3, 4, 6, 3), classes, seed, bottleneck=True)


def build(
    width: int = 32,
    blocks: tuple[int, ...] = (1, 1, 1, 1),
    classes: int = 1000,
    seed: int = 0,
    bottleneck: bool = False,
) -> onnx.ModelProto:
    """input (N, 3, 224, 224) float32 -> logits (N, classes); deterministic for a seed."""
    b = Builder(np.random.default_rng(seed))
    x = b.conv_bn("input", 3, width, 7, 2, relu=True)
    pooled = b.name("pool")
    b.nodes.append(
        helper.make_node("MaxPool", [x], [pooled], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    )
    x, channels = pooled, width
    for stage, count in enumerate(blocks):
        out = width * 2**stage * (EXPANSION if bottleneck else 1)
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            x = (b.bottleneck if bottleneck else b.block)(x, channels, out, stride)
            channels = out
    b.nodes += [
        helper.make_node("GlobalAveragePool", [x], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["features"]),
        helper.make_node(
            "Gemm",
            [
                "features",
                b.weight("fc", b.rng.normal(0, np.sqrt(1.0 / channels), (channels, classes))),
                b.weight("fcb", np.zeros(classes)),
            ],
            ["logits"],
        ),
    ]
    graph = helper.make_graph(
        b.nodes,
        "resnet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        b.weights,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="onnx-auditor-bench"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def image_generator(latent: int = 16, seed: int = 1) -> onnx.ModelProto:
    """A random 'decoder' z (N, latent) -> (N, 3, 224, 224) in [0, 1]: dense to 3x28x28, sigmoid, 8x bilinear upsampling."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(
            rng.normal(0, 1 / np.sqrt(latent), (latent, 3 * 28 * 28)).astype(np.float32), "W"
        ),
        numpy_helper.from_array(np.array([-1, 3, 28, 28], np.int64), "shape"),
        numpy_helper.from_array(np.array([1, 1, 8, 8], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["h"]),
        helper.make_node("Sigmoid", ["h"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["small"]),
        helper.make_node("Resize", ["small", "", "scales"], ["x"], mode="linear"),
    ]
    graph = helper.make_graph(
        nodes,
        "image_generator",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="onnx-auditor-bench"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--preset", choices=("resnet50",), default=None, help="Overrides width and blocks.")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--blocks", default="1,1,1,1")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    blocks = tuple(int(v) for v in args.blocks.split(","))
    if args.preset == "resnet50":
        proto = resnet50(args.classes, args.seed)
    else:
        proto = build(args.width, blocks, args.classes, args.seed)
    args.output.write_bytes(proto.SerializeToString())
    params = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    print(f"wrote {args.output} ({params:,} parameters)")


if __name__ == "__main__":
    main()
