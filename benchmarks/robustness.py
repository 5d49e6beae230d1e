"""Robustness on the digits CNN: ours against IBM ART's HopSkipJump and SquareAttack, same inputs, same budget.

The first N correctly classified held-out rows of `sample_models/digits`, a budget of 2,000 queries per
input. ART 1.20 (optional: `pip install adversarial-robustness-toolbox`, the `bench` extra) sees the same
ONNX file through its own ONNX Runtime session (1 intra-op thread, as ours) wrapped in `BlackBoxClassifier`
(HopSkipJump, labels only: max_iter 22, init_eval 25, max_eval 100, batch 64, ≈ 2,000 queries) and
`BlackBoxClassifierNeuralNetwork` (SquareAttack, scores: a binary search on ε, one `generate` of max_iter 100
per ε, while at least 300 queries are left; L∞ from ε 0.3, L2 from ε 5). ART has no seed for these attacks
and no query counter: a wrapper counts every row given to the model and times `session.run`.
Every figure is recomputed here from the returned points with a separate session: success (the label
differs from the clean prediction and the point lies in [0, 1]), median radius over the successes (L2 or
L∞ as the method's norm), median queries per input, wall seconds per input, and the share of wall time
spent outside ONNX Runtime; the methods are interleaved within each of --repeats rounds and the table gives
the median of the rounds. Ours runs all inputs in lockstep. CPU columns: process CPU seconds per input and the
share of them outside ONNX Runtime (thread CPU time of each `session.run`), which a busy machine's time
slicing leaves alone; the load average is printed with the table, and the ratios ART / ours per input.
Our momentum ES row is the generic evolution strategy on the margin loss (no localized updates); cmaes is
left out (cma's own ask/tell, ~10 ms a generation per input in 784 dimensions, dominates).
Run: `.venv/bin/python benchmarks/robustness.py [--rows 50] [--budget 2000] [--repeats 2]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

# auditor sets one BLAS thread when imported before numpy (auditor/__init__.py); here numpy comes first
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="Could not import matplotlib")

from auditor.explain.robustness import RobustnessParams, robustness  # noqa: E402
from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402

DIGITS = ROOT / "sample_models" / "digits"
ART_STEP_ITERATIONS = 100
ART_STEP_RESERVE = 300  # ART's Square spends up to 3 queries per iteration


class CountedSession:
    """softmax(session.run) for ART, counting rows and the seconds spent inside ONNX Runtime."""

    def __init__(self, path: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name
        self.rows = 0
        self.seconds = 0.0
        self.cpu = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), 1, 28, 28)
        started, cpu = time.perf_counter(), time.thread_time()
        (logits,) = self.session.run(None, {self.name: x})
        self.seconds += time.perf_counter() - started
        self.cpu += time.thread_time() - cpu
        self.rows += len(x)
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class TimedSession:
    """Our black box's ONNX Runtime session, timing the thread CPU seconds of each call (load-independent)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.cpu = 0.0

    def run(self, *args: object) -> list:
        cpu = time.thread_time()
        try:
            return self.session.run(*args)
        finally:
            self.cpu += time.thread_time() - cpu

    def __getattr__(self, name: str) -> object:
        return getattr(self.session, name)


def radius(x: np.ndarray, adv: np.ndarray, norm: str) -> float:
    delta = (adv.astype(np.float64) - x).reshape(-1)
    return float(np.abs(delta).max() if norm == "linf" else np.sqrt((delta**2).sum()))


def ours(name: str, params: RobustnessParams) -> Callable[[np.ndarray], dict]:
    def run(X: np.ndarray) -> dict:
        blackbox = BlackBox.open(DIGITS / "classifier.onnx", OpenOptions(device="cpu", threads=1))
        blackbox.calibrate(np.repeat(X, 4, axis=0))
        timed = TimedSession(blackbox.runner.session)
        blackbox.runner.session = timed  # type: ignore[assignment]
        started, cpu = time.perf_counter(), time.process_time()
        result = robustness(blackbox, X, params, bounds=(0.0, 1.0), rng=0)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {
            "points": result.perturbed,
            "found": [e.found for e in result.inputs],
            "queries": [e.queries for e in result.inputs],
            "wall": wall,
            "ort": result.ort_seconds,
            "cpu": cpu,
            "ort_cpu": timed.cpu,
        }

    run.__name__ = name
    return run


def art_hopskipjump(X: np.ndarray) -> dict:
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import BlackBoxClassifier

    model = CountedSession(DIGITS / "classifier.onnx")
    classifier = BlackBoxClassifier(model, (1, 28, 28), 10, clip_values=(0.0, 1.0))
    attack = HopSkipJump(
        classifier,
        batch_size=64,
        norm=2,
        max_iter=22,
        max_eval=100,
        init_eval=25,
        init_size=100,
        verbose=False,
    )
    points, queries = [], []
    started, cpu = time.perf_counter(), time.process_time()
    for x in X:
        before = model.rows
        points.append(attack.generate(x[None])[0])
        queries.append(model.rows - before + 1)  # + the clean prediction, as ours counts it
    return art_run(model, points, queries, started, cpu)


def art_run(
    model: CountedSession, points: list[np.ndarray], queries: list[int], started: float, cpu: float
) -> dict:
    """An ART run's points and counts, timed from `started` (wall) and `cpu` (process CPU)."""
    return {
        "points": np.stack(points),
        "found": None,
        "queries": queries,
        "wall": time.perf_counter() - started,
        "ort": model.seconds,
        "cpu": time.process_time() - cpu,
        "ort_cpu": model.cpu,
    }


def art_square(norm: str, budget: int) -> Callable[[np.ndarray], dict]:
    def run(X: np.ndarray) -> dict:
        from art.attacks.evasion import SquareAttack
        from art.estimators.classification import BlackBoxClassifierNeuralNetwork

        model = CountedSession(DIGITS / "classifier.onnx")
        classifier = BlackBoxClassifierNeuralNetwork(model, (1, 28, 28), 10, clip_values=(0.0, 1.0))
        points, queries = [], []
        started, cpu = time.perf_counter(), time.process_time()
        for x in X:
            source = int(model(x[None]).argmax())
            first = model.rows
            lo, hi, eps, best = 0.0, np.inf, (0.3 if norm == "linf" else 5.0), x
            while model.rows - first + ART_STEP_RESERVE <= budget:
                attack = SquareAttack(
                    classifier,
                    norm=np.inf if norm == "linf" else 2,
                    eps=eps,
                    max_iter=ART_STEP_ITERATIONS,
                    p_init=0.8,
                    batch_size=128,
                    verbose=False,
                )
                adv = attack.generate(x[None])[0]
                if int(model(adv[None]).argmax()) != source:
                    hi, best = min(hi, radius(x, adv, norm)), adv
                    eps = (lo + hi) / 2 if lo > 0 else hi / 2
                else:
                    lo = eps
                    eps = (lo + hi) / 2 if np.isfinite(hi) else eps * 2
            points.append(best)
            queries.append(model.rows - first + 1)
        return art_run(model, points, queries, started, cpu)

    run.__name__ = f"art_square_{norm}"
    return run


def figures(run: dict, X: np.ndarray, source: np.ndarray, norm: str, judge: CountedSession) -> dict:
    """Success, radii and costs recomputed from the returned points."""
    points = np.asarray(run["points"], dtype=np.float32).reshape(X.shape)
    labels = judge(points).argmax(axis=1)
    inside = ((points >= 0) & (points <= 1)).reshape(len(X), -1).all(axis=1)
    success = (labels != source) & inside
    radii = [radius(x, p, norm) for x, p, ok in zip(X, points, success) if ok]
    return {
        "success": int(success.sum()),
        "radius": float(np.median(radii)) if radii else float("nan"),
        "queries": float(np.median(run["queries"])),
        "max_queries": int(max(run["queries"])),
        "seconds": run["wall"] / len(X),
        "outside": 1 - run["ort"] / run["wall"],
        "cpu": run["cpu"] / len(X),
        "outside_cpu": 1 - run["ort_cpu"] / run["cpu"],
    }


PAIRS = (
    ("ours hopskipjump, labels only", "ART HopSkipJump, labels only"),
    ("ours square Linf (scores)", "ART SquareAttack Linf, bisection"),
    ("ours square L2 (scores)", "ART SquareAttack L2, bisection"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = np.load(DIGITS / "samples.npz")
    judge = CountedSession(DIGITS / "classifier.onnx")
    right = np.flatnonzero(judge(data["X"]).argmax(axis=1) == data["y"])[: args.rows]
    X, source = data["X"][right], data["y"][right]
    budget = args.budget
    methods: list[tuple[str, str, Callable[[np.ndarray], dict]]] = [
        (
            "ours hopskipjump, labels only",
            "l2",
            ours(
                "hsj_l2", RobustnessParams(method="hopskipjump", norm="l2", budget=budget, labels_only=True)
            ),
        ),
        ("ART HopSkipJump, labels only", "l2", art_hopskipjump),
        (
            "ours square Linf (scores)",
            "linf",
            ours("square_linf", RobustnessParams(method="square", norm="linf", budget=budget)),
        ),
        ("ART SquareAttack Linf, bisection", "linf", art_square("linf", budget)),
        (
            "ours square L2 (scores)",
            "l2",
            ours("square_l2", RobustnessParams(method="square", norm="l2", budget=budget)),
        ),
        ("ART SquareAttack L2, bisection", "l2", art_square("l2", budget)),
        (
            "ours momentum_es Linf (scores)",
            "linf",
            ours("es_linf", RobustnessParams(method="momentum_es", norm="linf", budget=budget)),
        ),
        (
            "ours hopskipjump Linf, labels only",
            "linf",
            ours(
                "hsj_linf",
                RobustnessParams(method="hopskipjump", norm="linf", budget=budget, labels_only=True),
            ),
        ),
    ]
    rounds: dict[str, list[dict]] = {label: [] for label, _, _ in methods}
    loads = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for label, norm, run in methods:
            rounds[label].append(figures(run(X), X, source, norm, judge))
            loads.append(os.getloadavg()[0])
    print(
        f"digits CNN, {len(X)} correctly classified held-out inputs, budget {budget} queries each, "
        f"ORT 1 intra-op thread, median of {args.repeats} rounds; 1-min load average "
        f"{min(loads):.2f}..{max(loads):.2f} (median {np.median(loads):.2f}) on {os.cpu_count()} cores"
    )
    header = (
        f"{'method':38s} {'norm':4s} {'success':>8s} {'median radius':>13s} {'median q':>9s} {'max q':>6s} "
        f"{'s/input':>8s} {'cpu s/in':>8s} {'outside ORT':>11s} {'(cpu)':>6s}"
    )
    print(header)
    print("-" * len(header))
    medians = {}
    for label, norm, _ in methods:
        runs = rounds[label]
        med = medians[label] = {key: float(np.median([r[key] for r in runs])) for key in runs[0]}
        print(
            f"{label:38s} {norm:4s} {int(med['success']):>5d}/{len(X):<2d} {med['radius']:13.4f} "
            f"{med['queries']:9.0f} {int(med['max_queries']):6d} {med['seconds']:8.4f} {med['cpu']:8.4f} "
            f"{100 * med['outside']:10.1f}% {100 * med['outside_cpu']:5.1f}%"
        )
    print("ART / ours per input (wall, process CPU):")
    for mine, theirs in PAIRS:
        a, b = medians[theirs], medians[mine]
        print(f"  {mine:38s} {a['seconds'] / b['seconds']:5.2f}x wall {a['cpu'] / b['cpu']:5.2f}x cpu")


if __name__ == "__main__":
    main()
