"""Cost of the sandboxed first contact: `check_in_child` against one in-process open of the same model.

For each sample model (and a tiny linear one), the median of --repeats runs of: the in-process open
(`BlackBox.open` / `Generator.open` / `Encoder.open`, imports already warm), and the child (interpreter
start, imports, the same open, the JSON reply). The ratio child / in-process is what `--trust-model` saves;
the difference is mostly the child's interpreter start and imports. Also the child's peak memory.
Run: `.venv/bin/python benchmarks/sandbox.py [--repeats 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from onnx_factory import linear, save  # noqa: E402

from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402
from auditor.model.generator import Encoder, Generator  # noqa: E402
from auditor.model.sandbox import check_in_child  # noqa: E402
from auditor.model.session import SessionSettings  # noqa: E402

CPU = OpenOptions(device="cpu")
OPENERS: dict[str, Callable[[Path], object]] = {
    "classifier": lambda p: BlackBox.open(p, CPU),
    "generator": lambda p: Generator.open(p, SessionSettings(device="cpu")),
    "encoder": lambda p: Encoder.open(p, SessionSettings(device="cpu")),
}


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tiny = Path(tempfile.mkdtemp()) / "linear.onnx"
    rng = np.random.default_rng(0)
    save(linear(rng.normal(size=(30, 2)), rng.normal(size=2)), tiny)
    models = [("linear 30->2", tiny, "classifier")]
    for folder in ("digits", "tabular"):
        for kind in ("classifier", "generator", "encoder"):
            path = ROOT / "sample_models" / folder / f"{kind}.onnx"
            if path.exists():
                models.append((f"{folder}/{kind}", path, kind))
    print(f"{'model':<22}{'in-process s':>14}{'child s':>10}{'ratio':>8}{'child peak MiB':>16}")
    for name, path, kind in models:
        opener = OPENERS[kind]
        opener(path)  # warm imports and caches on our side
        ours = median_seconds(lambda p=path, o=opener: o(p), args.repeats)  # type: ignore[misc]
        contacts = [check_in_child(path, kind, CPU) for _ in range(args.repeats)]
        child = statistics.median(c.seconds for c in contacts)
        peak = max(c.peak_bytes for c in contacts) / 2**20
        print(f"{name:<22}{ours:>14.3f}{child:>10.3f}{child / ours:>8.1f}{peak:>16.0f}")


if __name__ == "__main__":
    main()
