"""Attributions on the digits CNN: our wall time over raw ONNX Runtime time for the same rows, beside the peers.

For each of five test images (the first of classes 0-4) and each method, the rows the method sends are
recorded once; then the method and a bare `session.run` replay of exactly those rows, in the same batch
pattern, are timed alternately --repeats times (so both see the same load) and each median is kept. ONNX
Runtime runs with one intra-op thread on both sides (PERF_ANCHORS.md §2b: two threads collapse on a
shared 2-core box) and BLAS with one thread. Ours: occlusion (4x4 window, stride 2: 169 windows) and LIME
(4x4 grid, 49 features, 1000 samples), batches of 256. Peers, each only when installed (the `bench`
extra): `lime`'s LimeImageExplainer with our grid as its segmentation, the same 1000 samples and kernel,
at its default batch of 10 and at 256, with the rank correlation of its map with ours beside its own and
our seed-to-seed correlation; `shap`'s Partition explainer (blur(4,4) masker, 1000 evaluations); Captum's
Occlusion (same windows, on a torch copy of the CNN built from the ONNX graph) with one perturbation per
call (its default) and all 169 in one call. A peer's raw time is ONNX Runtime on the rows that peer sent.
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
STRIDE = 2


class Recorder:
    """Keeps the batches of rows a model function is given while `on`; costs nothing while off."""

    def __init__(self) -> None:
        self.on = False
        self.batches: list[np.ndarray] = []

    def keep(self, rows: np.ndarray) -> None:
        if self.on:
            self.batches.append(np.ascontiguousarray(rows, dtype=np.float32))

    def record(self, run: Callable[[], object]) -> list[np.ndarray]:
        self.batches, self.on = [], True
        try:
            run()
        finally:
            self.on = False
        return self.batches


class RecordingModel:
    """Our BlackBox behind a recorder: what our methods see when their rows are being recorded."""

    def __init__(self, bb: BlackBox, recorder: Recorder) -> None:
        self.bb, self.recorder = bb, recorder
        self.input_shape, self.layout, self.batch_size = bb.input_shape, bb.layout, bb.batch_size

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.recorder.keep(x)
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


def replay(session: ort.InferenceSession, batches: list[np.ndarray], batch: int) -> None:
    """Bare session.run over recorded rows, cut as the method cut them (and at most `batch` rows a call)."""
    name = session.get_inputs()[0].name
    for rows in batches:
        for start in range(0, len(rows), batch):
            session.run(None, {name: rows[start : start + batch]})


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


class Timings:
    """Per image: the method and the bare replay of its rows, timed alternately; one table row per method."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.walls: list[float] = []
        self.raws: list[float] = []
        self.counts: list[tuple[int, int]] = []

    def measure(
        self,
        run: Callable[[], object],
        session: ort.InferenceSession,
        batches: list[np.ndarray],
        batch: int,
        repeats: int,
    ) -> None:
        """Time `run` and the replay of `batches` (at most `batch` rows a call) alternately."""
        walls, raws = [], []
        for _ in range(repeats):
            walls.append(seconds(run))
            raws.append(seconds(lambda: replay(session, batches, batch)))
        self.walls.append(float(np.median(walls)))
        self.raws.append(float(np.median(raws)))
        self.counts.append((sum(len(b) for b in batches), sum(-(-len(b) // batch) for b in batches)))

    def row(self) -> dict[str, Any]:
        ratios = np.array(self.walls) / np.array(self.raws)
        return {
            "method": self.name,
            "wall_s": float(np.median(self.walls)),
            "rows": self.counts[0][0],
            "ort_calls": self.counts[0][1],
            "raw_s": float(np.median(self.raws)),
            "ratio": float(np.median(ratios)),
            "ratio_min": float(ratios.min()),
            "ratio_max": float(ratios.max()),
        }


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def test_images() -> np.ndarray:
    with np.load(DIGITS / "samples.npz") as data:
        X, y = data["X"].astype(np.float32), data["y"]
    return X[[int(np.flatnonzero(y == c)[0]) for c in range(5)]]


def ours(bb: BlackBox, session: ort.InferenceSession, X: np.ndarray, repeats: int) -> list[dict[str, Any]]:
    methods: dict[str, Callable[[Any, np.ndarray, int], Any]] = {
        "ours occlusion 4x4/2, batch 256": lambda m, x, s: occlusion(
            m, x, window=WINDOW, stride=STRIDE, rng=s
        ),
        "ours LIME 4x4 grid, 1000 samples, batch 256": lambda m, x, s: lime(
            m, x, samples=SAMPLES, window=WINDOW, rng=s
        ),
    }
    recorder = Recorder()
    spy = RecordingModel(bb, recorder)
    table = []
    for name, method in methods.items():
        timings = Timings(name)
        for i, x in enumerate(X):
            batches = recorder.record(lambda method=method, x=x, i=i: method(spy, x, i))
            timings.measure(
                lambda method=method, x=x, i=i: method(bb, x, i), session, batches, bb.batch_size, repeats
            )
        table.append(timings.row())
    return table


def lime_peer(
    bb: BlackBox, session: ort.InferenceSession, X: np.ndarray, targets: np.ndarray, repeats: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from lime.lime_image import LimeImageExplainer

    name = session.get_inputs()[0].name
    labels = grid_segments(features_of(bb), WINDOW).reshape(bb.input_shape[1:])
    recorder = Recorder()

    def classifier(images: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(images[..., :1].transpose(0, 3, 1, 2), dtype=np.float32)
        recorder.keep(rows)
        return softmax(session.run(None, {name: rows})[0])

    def explain(x: np.ndarray, target: int, seed: int, batch: int) -> np.ndarray:
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
        timings = Timings(f"lime 0.2 LimeImageExplainer, grid, batch {batch}")
        for i, x in enumerate(X):

            def run(x: np.ndarray = x, target: int = int(targets[i]), batch: int = batch) -> np.ndarray:
                return explain(x, target, 0, batch)

            batches = recorder.record(run)
            timings.measure(run, session, batches, batch, repeats)
        table.append(timings.row())
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
    recorder = Recorder()

    def f(images: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(images.reshape(-1, 28, 28, 1).transpose(0, 3, 1, 2), dtype=np.float32)
        recorder.keep(rows)
        return softmax(session.run(None, {name: rows})[0])

    masker = shap.maskers.Image("blur(4,4)", (28, 28, 1))
    explainer = shap.Explainer(f, masker, output_names=[str(k) for k in range(10)])
    explainer(
        X[:1].transpose(0, 2, 3, 1), max_evals=SAMPLES, outputs=[0], silent=True
    )  # shap's one-time start-up
    timings = Timings("shap 0.51 Partition, blur(4,4), 1000 evals")
    for i, x in enumerate(X):
        image = x.transpose(1, 2, 0)[None]

        def run(image: np.ndarray = image, target: int = int(targets[i])) -> Any:
            return explainer(image, max_evals=SAMPLES, outputs=[target], silent=True)

        batches = recorder.record(run)
        timings.measure(run, session, batches, 10**9, repeats)
    return [timings.row()]


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
    recorder = Recorder()

    def forward(images: Any) -> Any:
        recorder.keep(images.numpy())
        return torch.softmax(net(images), dim=1)

    table, agreement = [], []
    for ppe in (1, 169):
        timings = Timings(f"captum 0.9 Occlusion (torch), perturbations_per_eval {ppe}")
        for i, x in enumerate(X):
            image = torch.from_numpy(x[None])

            def attribute(image: Any = image, target: int = int(targets[i]), ppe: int = ppe) -> Any:
                with torch.no_grad():
                    return Occlusion(forward).attribute(
                        image,
                        sliding_window_shapes=(1, WINDOW, WINDOW),
                        strides=(1, STRIDE, STRIDE),
                        baselines=0,
                        target=target,
                        perturbations_per_eval=ppe,
                    )

            batches = recorder.record(attribute)
            if ppe == 1:
                ours_map = occlusion(bb, x, window=WINDOW, stride=STRIDE, target=int(targets[i])).map
                agreement.append(rank_correlation(attribute()[0, 0].numpy(), ours_map))
            timings.measure(attribute, session, batches, 10**9, repeats)
        table.append(timings.row())
    return table, {
        "max_abs_logit_gap_torch_vs_ort": gap,
        "spearman_captum_vs_ours_median": float(np.median(agreement)),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"| {'method':58} | wall s | rows | ORT calls | raw ORT s | wall/raw (min-max) |")
    print(f"|{'-' * 60}|-------:|-----:|----------:|----------:|:-------------------|")
    for r in rows:
        print(
            f"| {r['method']:58} | {r['wall_s']:.4f} | {r['rows']:4d} | {r['ort_calls']:9d} | {r['raw_s']:9.4f} | "
            f"{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |"
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
    X = test_images()
    targets = bb.predict_labels(X)
    load = os.getloadavg()[0]
    table = ours(bb, session, X, args.repeats)
    result: dict[str, Any] = {"images": len(X), "repeats": args.repeats}
    notes = []
    if importlib.util.find_spec("lime") is not None:
        rows, result["lime_agreement"] = lime_peer(bb, session, X, targets, args.repeats)
        table += rows
    else:
        notes.append("lime: not installed (pip install lime)")
    if importlib.util.find_spec("shap") is not None:
        table += shap_peer(session, X, targets, args.repeats)
    else:
        notes.append("shap: not installed (pip install shap opencv-python-headless)")
    if importlib.util.find_spec("captum") is not None and importlib.util.find_spec("torch") is not None:
        rows, result["captum_agreement"] = captum_peer(bb, session, X, targets, args.repeats)
        table += rows
    else:
        notes.append("captum Occlusion: not run (needs captum and torch)")
    result.update(table=table, notes=notes, load_average=[load, os.getloadavg()[0]])
    print(
        f"digits CNN, {len(X)} images, median of {args.repeats} alternating repeats, ORT intra-op threads 1, "
        f"load average {load:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    )
    print_table(table)
    for key in ("captum_agreement", "lime_agreement"):
        for name, value in result.get(key, {}).items():
            shown = (
                f"median {value['median']:.2f} ({value['min']:.2f}-{value['max']:.2f})"
                if isinstance(value, dict)
                else f"{value:.3g}"
            )
            print(f"{name:34} {shown}")
    for note in notes:
        print(note)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
