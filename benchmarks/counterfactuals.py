"""Counterfactuals on the tabular sample: ours against DiCE's `random` and `genetic`, same model, same rows.

The first N held-out rows of `sample_models/tabular` (breast-cancer MLP, ZipMap output), one
counterfactual each, to the opposite class. DiCE (optional: `pip install dice-ml pandas`, the `bench`
extra) sees the same ONNX model through a `predict_proba` wrapper around our BlackBox, with float64
columns (DiCE's `random` fails on float32 under pandas 3) and its defaults otherwise. Every figure
is recomputed here from the returned rows: validity by the model's argmax, L1 over the features
scaled by the reference MAD (and by the reference std, PERF_ANCHORS.md §5's unit), features changed
(|Δ|/std > 1e-3), and wall seconds per counterfactual (the median over --repeats rounds, the methods
interleaved within each round so that they share the machine's load). Ours runs all rows in lockstep
(the library's way) and also one row at a time.
Run: `.venv/bin/python benchmarks/counterfactuals.py [--rows 10] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# auditor sets one BLAS thread when imported before numpy (auditor/__init__.py); here numpy comes first
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="Could not import matplotlib")

from auditor.data import load_data  # noqa: E402
from auditor.explain.counterfactuals import CounterfactualParams, counterfactual, counterfactuals  # noqa: E402
from auditor.explain.counterfactuals.measures import feature_scale  # noqa: E402
from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402

TABULAR = ROOT / "sample_models" / "tabular"


def figures(
    name: str,
    bb: BlackBox,
    X: np.ndarray,
    cfs: list[np.ndarray | None],
    seconds: float,
    mad: np.ndarray,
    std: np.ndarray,
    rows_queried: int | None,
) -> dict[str, Any]:
    """Validity (model argmax differs from the input's), median L1 (MAD and std units) and features
    changed over the valid counterfactuals, seconds per counterfactual."""
    source = bb.predict_labels(X)
    valid, l1_mad, l1_std, changed = [], [], [], []
    for x, s, cf in zip(X, source, cfs):
        if cf is None:
            valid.append(False)
            continue
        ok = bool(bb.predict_labels(cf[None].astype(np.float32))[0] != s)
        valid.append(ok)
        if ok:
            delta = np.abs(cf.astype(np.float64) - x)
            l1_mad.append(float((delta / mad).sum()))
            l1_std.append(float((delta / std).sum()))
            changed.append(int((delta / std > 1e-3).sum()))
    return {
        "method": name,
        "valid": int(sum(valid)),
        "rows": len(X),
        "l1_mad": float(np.median(l1_mad)) if l1_mad else float("nan"),
        "l1_std": float(np.median(l1_std)) if l1_std else float("nan"),
        "changed": float(np.median(changed)) if changed else float("nan"),
        "changed_max": int(max(changed)) if changed else 0,
        "seconds_per_cf": seconds / len(X),
        "model_rows_per_cf": None if rows_queried is None else rows_queried / len(X),
    }


def run_ours(bb: BlackBox, X: np.ndarray, ref: np.ndarray, method: str, seed: int, lockstep: bool):
    before = bb.queries
    params = CounterfactualParams(method=method)
    start = time.perf_counter()
    if lockstep:
        results = counterfactuals(bb, X, "second", reference=ref, params=params, rng=seed)
    else:
        results = [
            counterfactual(bb, x, "second", reference=ref, params=params, rng=seed + i)
            for i, x in enumerate(X)
        ]
    seconds = time.perf_counter() - start
    cfs = [r.counterfactuals[0].reshape(-1) for r in results]
    return cfs, seconds, bb.queries - before


def run_dice(bb: BlackBox, X: np.ndarray, ref: np.ndarray, names: list[str], method: str, seed: int):
    import dice_ml
    import pandas as pd

    class Wrapped:
        """The ONNX model as a scikit-learn-like classifier for DiCE."""

        def __init__(self) -> None:
            self.rows = 0

        def predict_proba(self, frame: Any) -> np.ndarray:
            values = np.asarray(frame, dtype=np.float32)
            self.rows += len(values)
            return bb.predict(values).astype(np.float64)

        def predict(self, frame: Any) -> np.ndarray:
            return self.predict_proba(frame).argmax(axis=1)

    model = Wrapped()
    train = pd.DataFrame(ref.astype(np.float64), columns=names)
    train["label"] = bb.predict_labels(ref.astype(np.float32))
    data = dice_ml.Data(dataframe=train, continuous_features=names, outcome_name="label")
    explainer = dice_ml.Dice(data, dice_ml.Model(model=model, backend="sklearn"), method=method)
    cfs: list[np.ndarray | None] = []
    np.random.seed(seed)  # DiCE draws from numpy's global RNG
    start = time.perf_counter()
    for x in X:
        query = pd.DataFrame(x[None].astype(np.float64), columns=names)
        try:
            out = explainer.generate_counterfactuals(
                query, total_CFs=1, desired_class="opposite", verbose=False
            )
            frame = out.cf_examples_list[0].final_cfs_df
            cfs.append(
                None if frame is None or not len(frame) else frame[names].to_numpy(dtype=np.float64)[0]
            )
        except Exception:  # DiCE raises when it finds nothing; that counts as invalid
            cfs.append(None)
    return cfs, time.perf_counter() - start, model.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    bb = BlackBox.open(TABULAR / "classifier.onnx", OpenOptions(device="cpu"))
    data = load_data(TABULAR / "samples.npz")
    X, ref = data.x[: args.rows].astype(np.float64), data.ref.astype(np.float64)
    names = list(data.feature_names or [f"f{i}" for i in range(X.shape[1])])
    mad, std = feature_scale(ref), ref.std(axis=0)
    counterfactuals(bb, X[:1], "second", reference=ref)  # warm-up: imports, first session run
    runs: dict[str, Any] = {}
    for method in ("cmaes", "es"):
        runs[f"ours {method}, lockstep"] = lambda m=method: run_ours(bb, X, ref, m, args.seed, lockstep=True)
        runs[f"ours {method}, one by one"] = lambda m=method: run_ours(
            bb, X, ref, m, args.seed, lockstep=False
        )
    try:
        import dice_ml  # noqa: F401
    except ImportError:
        print("dice-ml is not installed: `pip install dice-ml pandas` for the side-by-side", file=sys.stderr)
    else:
        for method in ("random", "genetic"):
            runs[f"DiCE {method}"] = lambda m=method: run_dice(bb, X, ref, names, m, args.seed)
    outcomes: dict[str, list[Any]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            outcomes[name].append(run())
    rows = []
    for name, results in outcomes.items():
        cfs, _, queried = results[0]  # seeded: every round returns the same rows
        seconds = float(np.median([r[1] for r in results]))
        rows.append(figures(name, bb, X, cfs, seconds, mad, std, queried))
    print(
        f"{'method':<26} {'valid':>6} {'L1 (MAD)':>9} {'L1 (std)':>9} {'changed':>8} {'s per CF':>9} {'rows/CF':>8}"
    )
    for r in rows:
        per = "-" if r["model_rows_per_cf"] is None else f"{r['model_rows_per_cf']:.0f}"
        print(
            f"{r['method']:<26} {r['valid']:>3}/{r['rows']:<2} {r['l1_mad']:>9.2f} {r['l1_std']:>9.2f} "
            f"{r['changed']:>8.1f} {r['seconds_per_cf']:>9.4f} {per:>8}"
        )
    dice = {r["method"]: r for r in rows if r["method"].startswith("DiCE")}
    if "DiCE random" in dice:
        ours = rows[0]
        print(
            f"speed-up of ours (cmaes, lockstep) over DiCE random: "
            f"{dice['DiCE random']['seconds_per_cf'] / ours['seconds_per_cf']:.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
