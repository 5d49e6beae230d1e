"""Attributions on the digits CNN: our wall time over raw ONNX Runtime time for the same rows, beside the peers.

For each of five test images (the first of classes 0-4) and each method, the rows a method sends are
recorded once; then the method's wall time and the time of a bare `session.run` over exactly those
rows, in the same batch pattern, are each the median of --repeats runs. ONNX Runtime runs with one
intra-op thread on both sides (PERF_ANCHORS.md §2b: two threads collapse on a shared 2-core box) and
BLAS with one thread. Ours: occlusion (4x4 window, stride 2: 169 windows) and LIME (4x4 grid, 49
features, 1000 samples), batches of 256. Peers, each only when installed (the `bench` extra):
`lime`'s LimeImageExplainer with our grid as its segmentation, the same 1000 samples and kernel, at its
default batch of 10 and at 256, plus the rank correlation of its map with ours against its own and our
seed-to-seed correlation; `shap`'s Partition explainer (blur(4,4) masker, 1000 evaluations); Captum's
Occlusion (same windows, on a torch copy of the CNN built from the ONNX graph) with one perturbation per
call (its default) and all 169 in one call. Peers' raw time is ONNX Runtime on the rows they sent.
Run: `.venv/bin/python benchmarks/attributions.py [--repeats 7] [--json out.json]`.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # lime 0.2.0.1 always draws a progress bar otherwise

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.explain.attribution import lime, occlusion, rank_correlation  # noqa: E402
from auditor.explain.attribution.core import features_of  # noqa: E402
from auditor.explain.attribution.features import grid_segments  # noqa: E402
from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402

DIGITS = ROOT / "sample_models" / "digits"
BATCH = 256
SAMPLES = 1000
WINDOW = 4


class Recorder:
    """A BlackBox look-alike that keeps every batch of rows a method asks for."""

    def __init__(self, bb: BlackBox) -> None:
        self.bb = bb
        self.input_shape = bb.input_shape
        self.layout = bb.layout
        self.batch_size = bb.batch_size
        self.rows: list[np.ndarray] = []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.rows.append(np.array(x, dtype=np.float32))
        return self.bb.predict(x)


def raw_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def raw_seconds(session: ort.InferenceSession, batches: list[np.ndarray], batch: int) -> float:
    """Bare session.run over the given rows, cut exactly as the method cut them (and then by `batch`)."""
    name = session.get_inputs()[0].name
    started = time.perf_counter()
    for rows in batches:
        for start in range(0, len(rows), batch):
            session.run(None, {name: rows[start : start + batch]})
    return time.perf_counter() - started


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times)), float(np.min(times)), float(np.max(times))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_images() -> tuple[np.ndarray, np.ndarray]:
    with np.load(DIGITS / "samples.npz") as data:
        X, y = data["X"].astype(np.float32), data["y"]
    chosen = [int(np.flatnonzero(y == c)[0]) for c in range(5)]
    return X[chosen], y[chosen]


def ours(bb: BlackBox, session: ort.InferenceSession, X: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    methods: dict[str, Callable[[Any, np.ndarray, int], Any]] = {
        "ours occlusion 4x4/2": lambda m, x, s: occlusion(m, x, window=WINDOW, stride=2, rng=s),
        "ours LIME 4x4 grid": lambda m, x, s: lime(m, x, samples=SAMPLES, window=WINDOW, rng=s),
    }
    rows = []
    for name, method in methods.items():
        ratios, walls, raws, counts = [], [], [], []
        for i, x in enumerate(X):
            recorder = Recorder(bb)
            result = method(recorder, x, i)
            calls = bb.calls
            method(bb, x, i)
            counts.append((result.queries, bb.calls - calls))
            wall = median_seconds(lambda method=method, x=x, i=i: method(bb, x, i), repeats)
            raw = median_seconds(lambda rec=recorder: raw_seconds(session, rec.rows, bb.batch_size), repeats)
            walls.append(wall[0])
            raws.append(raw[0])
            ratios.append(wall[0] / raw[0])
        rows.append(row(name, walls, raws, ratios, counts))
    return rows


def row(
    name: str, walls: list[float], raws: list[float], ratios: list[float], counts: list[tuple[int, int]]
) -> dict[str, Any]:
    return {
        "method": name,
        "wall_s": float(np.median(walls)),
        "rows": counts[0][0],
        "calls": counts[0][1],
        "raw_s": float(np.median(raws)),
        "ratio": float(np.median(ratios)),
        "ratio_min": float(np.min(ratios)),
        "ratio_max": float(np.max(ratios)),
    }


def lime_peer(
    bb: BlackBox, session: ort.InferenceSession, X: np.ndarray, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from lime.lime_image import LimeImageExplainer

    name = session.get_inputs()[0].name
    labels = grid_segments(features_of(bb), WINDOW).reshape(bb.input_shape[1:])
    targets = bb.predict_labels(X)

    def explain(
        x: np.ndarray, target: int, seed: int, batch: int, calls: list[np.ndarray] | None = None
    ) -> np.ndarray:
        def classifier(images: np.ndarray) -> np.ndarray:
            rows = np.ascontiguousarray(images[..., :1].transpose(0, 3, 1, 2), dtype=np.float32)
            if calls is not None:
                calls.append(rows)
            return softmax(session.run(None, {name: rows})[0])

        explanation = LimeImageExplainer(random_state=seed).explain_instance(
            x[0].astype(np.float64),
            classifier,
            labels=(target,),
            top_labels=None,
            hide_color=0,
            num_samples=SAMPLES,
            batch_size=batch,
            segmentation_fn=lambda _: labels,
        )
        coef = np.zeros(int(labels.max()) + 1)
        for segment, weight in explanation.local_exp[target]:
            coef[segment] = weight
        return coef

    table = []
    for batch in (10, BATCH):
        walls, raws, ratios, counts = [], [], [], []
        for i, x in enumerate(X):
            calls: list[np.ndarray] = []
            explain(x, int(targets[i]), 0, batch, calls)
            counts.append((sum(len(c) for c in calls), len(calls)))
            wall = median_seconds(
                lambda x=x, i=i, batch=batch: explain(x, int(targets[i]), 0, batch), repeats
            )
            raw = median_seconds(lambda calls=calls, batch=batch: raw_seconds(session, calls, batch), repeats)
            walls.append(wall[0])
            raws.append(raw[0])
            ratios.append(wall[0] / raw[0])
        table.append(row(f"lime 0.2 LimeImageExplainer, grid, batch {batch}", walls, raws, ratios, counts))
    agreement: dict[str, list[float]] = {"ours_vs_lime": [], "lime_seed_to_seed": [], "ours_seed_to_seed": []}
    for i, x in enumerate(X):
        target = int(targets[i])
        lime_a, lime_b = explain(x, target, 0, BATCH), explain(x, target, 1, BATCH)
        ours_a = lime(bb, x, samples=SAMPLES, window=WINDOW, target=target, rng=0).extra["coefficients"]
        ours_b = lime(bb, x, samples=SAMPLES, window=WINDOW, target=target, rng=1).extra["coefficients"]
        agreement["ours_vs_lime"].append(rank_correlation(ours_a, lime_a))
        agreement["lime_seed_to_seed"].append(rank_correlation(lime_a, lime_b))
        agreement["ours_seed_to_seed"].append(rank_correlation(ours_a, ours_b))
    summary = {
        k: {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v))}
        for k, v in agreement.items()
    }
    return table, summary


def shap_peer(
    session: ort.InferenceSession, X: np.ndarray, targets: np.ndarray, repeats: int
) -> list[dict[str, Any]]:
    import shap

    name = session.get_inputs()[0].name
    calls: list[np.ndarray] = []

    def f(images: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(images.reshape(-1, 28, 28, 1).transpose(0, 3, 1, 2), dtype=np.float32)
        calls.append(rows)
        return softmax(session.run(None, {name: rows})[0])

    masker = shap.maskers.Image("blur(4,4)", (28, 28, 1))
    walls, raws, ratios, counts = [], [], [], []
    for i, x in enumerate(X):
        image = x.transpose(1, 2, 0)[None]
        explainer = shap.Explainer(f, masker, output_names=[str(k) for k in range(10)])
        calls.clear()
        explainer(image, max_evals=SAMPLES, outputs=[int(targets[i])], silent=True)
        recorded = list(calls)
        counts.append((sum(len(c) for c in recorded), len(recorded)))
        wall = median_seconds(
            lambda image=image, i=i, explainer=explainer: explainer(
                image, max_evals=SAMPLES, outputs=[int(targets[i])], silent=True
            ),
            repeats,
        )
        raw = median_seconds(lambda recorded=recorded: raw_seconds(session, recorded, 10**9), repeats)
        walls.append(wall[0])
        raws.append(raw[0])
        ratios.append(wall[0] / raw[0])
    return [row("shap Partition, blur(4,4), 1000 evals", walls, raws, ratios, counts)]


def torch_copy(path: Path) -> Any:
    """The CNN as a torch Sequential, layer by layer from its ONNX graph (Conv, Relu, MaxPool, Flatten, Gemm)."""
    import onnx
    import torch
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in proto.graph.initializer}
    layers: list[Any] = []
    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            w = weights[node.input[1]]
            conv = torch.nn.Conv2d(
                w.shape[1],
                w.shape[0],
                tuple(w.shape[2:]),
                stride=tuple(attrs["strides"]),
                padding=tuple(attrs["pads"][:2]),
            )
            conv.weight.data, conv.bias.data = w, weights[node.input[2]]
            layers.append(conv)
        elif node.op_type == "Relu":
            layers.append(torch.nn.ReLU())
        elif node.op_type == "MaxPool":
            layers.append(torch.nn.MaxPool2d(tuple(attrs["kernel_shape"]), tuple(attrs["strides"])))
        elif node.op_type == "Flatten":
            layers.append(torch.nn.Flatten())
        elif node.op_type == "Gemm":
            w = weights[node.input[1]]
            dense = torch.nn.Linear(w.shape[1], w.shape[0])
            dense.weight.data, dense.bias.data = w, weights[node.input[2]]
            layers.append(dense)
        else:
            raise SystemExit(f"torch copy: operator {node.op_type} is not handled")
    return torch.nn.Sequential(*layers).eval()


def captum_peer(
    bb: BlackBox, session: ort.InferenceSession, X: np.ndarray, targets: np.ndarray, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import torch
    from captum.attr import Occlusion

    torch.set_num_threads(1)
    net = torch_copy(DIGITS / "classifier.onnx")
    name = session.get_inputs()[0].name
    with torch.no_grad():
        gap = float(
            (net(torch.from_numpy(X)) - torch.from_numpy(session.run(None, {name: X})[0])).abs().max()
        )
    calls: list[np.ndarray] = []

    def forward(images: Any) -> Any:
        calls.append(images.detach().numpy().copy())
        return torch.softmax(net(images), dim=1)

    table, agreement = [], []
    for ppe in (1, 169):
        walls, raws, ratios, counts = [], [], [], []
        for i, x in enumerate(X):
            image = torch.from_numpy(x[None])
            target = int(targets[i])

            def attribute(image: Any = image, target: int = target, ppe: int = ppe) -> Any:
                with torch.no_grad():
                    return Occlusion(forward).attribute(
                        image,
                        sliding_window_shapes=(1, WINDOW, WINDOW),
                        strides=(1, 2, 2),
                        baselines=0,
                        target=target,
                        perturbations_per_eval=ppe,
                    )

            calls.clear()
            heat = attribute()[0, 0].numpy()
            recorded = list(calls)
            counts.append((sum(len(c) for c in recorded), len(recorded)))
            if ppe == 1:
                agreement.append(
                    rank_correlation(heat, occlusion(bb, x, window=WINDOW, stride=2, target=target).map)
                )
            wall = median_seconds(attribute, repeats)
            raw = median_seconds(lambda recorded=recorded: raw_seconds(session, recorded, 10**9), repeats)
            walls.append(wall[0])
            raws.append(raw[0])
            ratios.append(wall[0] / raw[0])
        table.append(
            row(f"captum 0.9 Occlusion (torch), perturbations_per_eval {ppe}", walls, raws, ratios, counts)
        )
    return table, {
        "max_abs_logit_gap_torch_vs_ort": gap,
        "spearman_captum_vs_ours": float(np.median(agreement)),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'method':48} {'wall s':>8} {'rows':>6} {'calls':>6} {'raw ORT s':>10} {'wall/raw':>9} {'(min-max)':>13}"
    )
    for r in rows:
        print(
            f"{r['method']:48} {r['wall_s']:8.4f} {r['rows']:6d} {r['calls']:6d} {r['raw_s']:10.4f} "
            f"{r['ratio']:9.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not (DIGITS / "classifier.onnx").exists():
        sys.exit("sample_models/digits is not built; run python sample_models/build.py first")
    bb = BlackBox.open(
        DIGITS / "classifier.onnx", OpenOptions(device="cpu", threads=1, batch_size=BATCH, cache=False)
    )
    session = raw_session(DIGITS / "classifier.onnx")
    X, _ = test_images()
    targets = bb.predict_labels(X)
    table = ours(bb, session, X, args.repeats)
    result: dict[str, Any] = {"images": len(X), "repeats": args.repeats, "load_average": os.getloadavg()}
    notes = []
    if importlib.util.find_spec("lime") is not None:
        peer_rows, agreement = lime_peer(bb, session, X, args.repeats)
        table += peer_rows
        result["lime_agreement"] = agreement
    else:
        notes.append("lime: not installed (pip install lime)")
    if importlib.util.find_spec("shap") is not None:
        table += shap_peer(session, X, targets, args.repeats)
    else:
        notes.append("shap: not installed (pip install shap opencv-python-headless)")
    if importlib.util.find_spec("captum") is not None and importlib.util.find_spec("torch") is not None:
        captum_rows, agreement = captum_peer(bb, session, X, targets, args.repeats)
        table += captum_rows
        result["captum_agreement"] = agreement
    else:
        notes.append("captum Occlusion: not run (needs captum and torch)")
    result["table"] = table
    result["notes"] = notes
    print(
        f"digits CNN, {len(X)} images, median of {args.repeats} repeats, ORT intra-op threads 1, load {os.getloadavg()[0]:.2f}"
    )
    print_table(table)
    if "captum_agreement" in result:
        print(f"captum vs ours (occlusion): {result['captum_agreement']}")
    if "lime_agreement" in result:
        for key, value in result["lime_agreement"].items():
            print(f"spearman {key:20} median {value['median']:.2f} ({value['min']:.2f}-{value['max']:.2f})")
    for note in notes:
        print(note)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
