"""The tool against bare ONNX Runtime, same process, same rows: one table, medians of repeats, ratios.

    .venv/bin/python benchmarks/run.py [--device cpu|cuda] [--repeats 5] [--repeats-resnet 3]
        [--threads N] [--only digits|resnet50|text] [--texts 10] [--out benchmarks/RESULTS.md]

For the digits sample and a ResNet-50-sized model (3x224x224 -> 1,000 classes, 25.6 M random weights,
built by benchmarks/resnet.py into a temporary folder, about 100 MB, removed at the end):
(a) `BlackBox.predict` rows/s over a bare `InferenceSession.run` loop at the best batch size (swept),
with the same session options; (b) occlusion and LIME wall time over bare ONNX Runtime time for the
very rows they asked for, in the same calls: recorded per `predict`, then replayed on a session with
the same threads and spinning (those of the moment: when the black box's re-check falls back to fewer
threads, so does the reference), each call cut at the black box's batch size as its runner cuts it (the
same rows, batch pattern and threads on both sides; rows that the row cache answers for ours are still
replayed); (c) exemplar search for 10 classes, wall time over the ONNX Runtime time inside it. Each
repeat runs ours and the bare reference back to back on fresh inputs (alternating which goes first),
and each figure is the median over repeats of the per-repeat ratio. Writes RESULTS.md with the machine
and versions; the last stdout line is `ratios: predict=A occlusion=B lime=C search=D` for the digits
sample. (d) On the CPU, word LIME on the text sample (benchmarks/text.py): wall time over raw ONNX
Runtime with tokenization, beside lime's LimeTextExplainer; its line is `ratios (text): text_lime=E`.
Every case also notes the load average before and after it and the calibration's thread
comparison (rows/s per thread count, wall clock, median of its interleaved pairs).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import resnet  # noqa: E402
from text import measure_texts, summary_lines  # noqa: E402

import auditor  # noqa: E402
from auditor.explain.attribution import lime, occlusion  # noqa: E402
from auditor.explain.exemplars import ExemplarParams, exemplars  # noqa: E402
from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402
from auditor.model.calibration import LADDER  # noqa: E402
from auditor.model.generator import Generator  # noqa: E402
from auditor.model.session import CPU, CUDA, CUDA_OPTIONS, SessionSettings  # noqa: E402


@dataclass(frozen=True)
class Case:
    """One model and the workload sizes used on it."""

    name: str
    classifier: Path
    generator: Path
    images: (
        np.ndarray
    )  # attribution inputs: fresh ones per repeat (`inputs` of them per method), then one for warm-up
    predict_rows: int
    occlusion: dict[str, object]
    lime: dict[str, object]
    search: ExemplarParams
    per_repeat: int  # search seeds per timed repeat, so each timing spans more than a few ms
    repeats: int
    inputs: dict[str, int]  # attribution inputs per timed repeat, per method (likewise)
    search_targets: list[int] | None = None  # None: every class


@dataclass
class Result:
    """Per-repeat measurements of one case; figures are medians over repeats."""

    name: str
    batch: int = 0
    threads: int = 0
    best_bare_batch: int = 0
    calibration_s: float = 0.0
    cache: bool = False
    per_repeat: int = 1
    inputs: dict[str, int] = field(default_factory=dict)
    ours_rate: list[float] = field(default_factory=list)
    bare_rate: dict[int, list[float]] = field(default_factory=dict)  # the sweep
    bare_paired: list[float] = field(default_factory=list)  # at the best batch, paired with ours
    default_rate: list[float] = field(default_factory=list)
    timings: dict[str, list[tuple[float, float, float]]] = field(
        default_factory=dict
    )  # wall, ORT inside, raw
    cpu: dict[str, list[float]] = field(default_factory=dict)  # per-repeat ratios of process CPU time
    rows: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average before and after the case
    compared: dict[int, float] = field(default_factory=dict)  # the calibration's thread comparison, rows/s
    search_classes: int = 10


def bare_session(bb: BlackBox, device: str, defaults: bool = False) -> ort.InferenceSession:
    """A plain session on the same bytes: the black box's thread/spinning choice, or ORT's defaults."""
    options = ort.SessionOptions()
    if not defaults:
        options.intra_op_num_threads = bb.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = bb.calibration is not None and bb.calibration.spinning
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    providers = [(CUDA, CUDA_OPTIONS), CPU] if device == "cuda" else [CPU]
    return ort.InferenceSession(bb.model.serialized(), options, providers=providers)


class BareSessions:
    """Bare sessions at the black box's thread count of the moment: its re-check may move it to fewer
    threads mid-run, and the reference must then run on as many (a new one is warmed up before use)."""

    def __init__(self, bb: BlackBox, device: str) -> None:
        self.bb, self.device = bb, device
        self.sessions: dict[int, ort.InferenceSession] = {}

    def now(self) -> ort.InferenceSession:
        threads = self.bb.threads
        if threads not in self.sessions:
            session = self.sessions[threads] = bare_session(self.bb, self.device)
            _replay(session, self.bb, np.zeros((1, *self.bb.input_shape), np.float32), 1)
        return self.sessions[threads]


def replay(session: ort.InferenceSession, bb: BlackBox, x: np.ndarray, batch: int) -> float:
    """Seconds for the bare session to run rows x in chunks of batch."""
    return clocked(lambda: _replay(session, bb, x, batch))[0]


def _replay(session: ort.InferenceSession, bb: BlackBox, x: np.ndarray, batch: int) -> None:
    name, fetch = bb.signature.input.name, [bb.fetch]
    for i in range(0, len(x), batch):
        session.run(fetch, {name: x[i : i + batch]})


def _replay_calls(session: ort.InferenceSession, bb: BlackBox, calls: list[np.ndarray], batch: int) -> None:
    """Each recorded predict call's rows, cut into chunks of batch, as the black box's runner cuts them."""
    for rows in calls:
        _replay(session, bb, rows, batch)


def clocked(run: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and process CPU seconds (all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


class Recorder:
    """Passes predict through to the black box and keeps a copy of every row sent."""

    def __init__(self, bb: BlackBox) -> None:
        self.bb = bb
        self.sent: list[np.ndarray] = []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.sent.append(self.bb.runner.cast(self.bb.prepare(x)).copy())
        return self.bb.predict(x)

    def __getattr__(self, name: str) -> object:
        return getattr(self.bb, name)


def measure(case: Case, device: str, rng: np.random.Generator, threads: int | None = None) -> Result:
    load = os.getloadavg()[0]
    repeats = case.repeats
    bb = BlackBox.open(case.classifier, OpenOptions(device=device, threads=threads))
    gen = Generator.open(case.generator, SessionSettings(device, threads))
    result = Result(case.name, per_repeat=case.per_repeat, inputs=case.inputs)
    targets = case.search_targets
    result.search_classes = len(targets) if targets is not None else bb.n_classes
    shape = bb.input_shape
    started = time.perf_counter()
    found = bb.calibrate(rng.random((64, *shape), dtype=np.float32))
    result.calibration_s = time.perf_counter() - started
    result.batch, result.threads, result.cache = bb.batch_size, bb.threads, bb.cache is not None
    result.compared = {t.threads: t.rows_per_second for t in found.compared}
    bares, default = BareSessions(bb, device), bare_session(bb, device, defaults=True)
    batches = [b for b in LADDER if b <= min(bb.max_batch(), case.predict_rows)]
    result.bare_rate = {b: [] for b in batches}
    for b in batches:  # warm every shape once
        replay(bares.now(), bb, rng.random((b, *shape), dtype=np.float32), b)

    # (a) the bare session's best batch size (sweep), then predict and bare run in pairs on fresh rows,
    # alternating which goes first
    for _ in range(repeats):
        x = rng.random((case.predict_rows, *shape), dtype=np.float32)
        for b in batches:
            result.bare_rate[b].append(len(x) / replay(bares.now(), bb, x, b))
    best = max(batches, key=lambda b: float(np.median(result.bare_rate[b])))
    result.best_bare_batch = best
    result.cpu["predict"] = []
    for r in range(repeats):
        x, y = (rng.random((case.predict_rows, *shape), dtype=np.float32) for _ in range(2))
        bare = bares.now()
        pair = [lambda: bb.predict(x), lambda: _replay(bare, bb, y, best)]  # noqa: B023
        (ours, ours_cpu), (raw, raw_cpu) = _pair(pair, r)
        result.ours_rate.append(len(x) / ours)
        result.bare_paired.append(len(y) / raw)
        result.cpu["predict"].append(raw_cpu / ours_cpu)
    replay(default, bb, x[:best], best)
    for _ in range(repeats):
        x = rng.random((case.predict_rows, *shape), dtype=np.float32)
        result.default_rate.append(len(x) / replay(default, bb, x, best))

    # (b) attributions: wall and ORT inside; then the same rows replayed on the bare session
    methods: dict[str, Callable[[object, np.ndarray], object]] = {
        "occlusion": lambda model, img: occlusion(model, img, **case.occlusion),  # type: ignore[arg-type]
        "lime": lambda model, img: lime(model, img, **case.lime),  # type: ignore[arg-type]
    }
    # the same predict calls as bb (batch size decides how evaluate() splits very large sets of rows)
    reference = BlackBox.open(
        case.classifier, OpenOptions(device=device, cache=False, batch_size=bb.batch_size, threads=threads)
    )
    for method, run in methods.items():
        run(bb, case.images[-1])  # warm-up
        result.timings[method], result.cpu[method] = [], []
        hits = bb.cache_hits
        k = case.inputs[method]
        for r in range(repeats):
            images = case.images[r * k : (r + 1) * k]
            recorder = Recorder(reference)  # the rows the method sends (they do not depend on the scores)
            for image in images:
                run(recorder, image)
            calls, batch, bare = recorder.sent, bb.batch_size, bares.now()
            ort0 = bb.ort_seconds
            pair = [
                lambda: [run(bb, image) for image in images],  # noqa: B023
                lambda: _replay_calls(bare, bb, calls, batch),  # noqa: B023
            ]
            (wall, cpu), (raw, raw_cpu) = _pair(pair, r)
            result.timings[method].append((wall, bb.ort_seconds - ort0, raw))
            result.cpu[method].append(cpu / raw_cpu)
            result.rows[method] = sum(len(c) for c in calls)
        result.hits[method] = bb.cache_hits - hits

    # (c) exemplar search, every target in lockstep
    exemplars(bb, gen, case.search_targets, params=case.search, rng=999)
    result.timings["search"] = []
    for r in range(repeats):
        ort0, q0, t = bb.ort_seconds + gen.ort_seconds, bb.queries, time.perf_counter()
        for seed in range(r * case.per_repeat, (r + 1) * case.per_repeat):
            exemplars(bb, gen, case.search_targets, params=case.search, rng=seed)
        wall, inside = time.perf_counter() - t, bb.ort_seconds + gen.ort_seconds - ort0
        result.timings["search"].append((wall, inside, inside))
        result.rows["search"] = bb.queries - q0
    result.load = (load, os.getloadavg()[0])
    if bb.threads != result.threads:
        print(
            f"  {case.name}: the re-check moved ONNX Runtime to {bb.threads} thread(s); the bare reference "
            "followed from the next pair on",
            file=sys.stderr,
        )
    return result


def _pair(runs: list[Callable[[], object]], r: int) -> list[tuple[float, float]]:
    """Wall and CPU seconds of two runs back to back; the second goes first on odd repeats."""
    order = (0, 1) if r % 2 == 0 else (1, 0)
    timed = {i: clocked(runs[i]) for i in order}
    return [timed[0], timed[1]]


def _rates(compared: dict[int, float]) -> str:
    if len(compared) < 2:
        return "not run (one thread count to try)"
    return ", ".join(f"{k} thread(s) {v:,.0f} rows/s" for k, v in sorted(compared.items()))


def med(values: list[float]) -> float:
    return float(np.median(values))


def ratios(result: Result) -> dict[str, float]:
    """Per-repeat ratios, medians: predict ours/bare throughput; others wall / ORT time."""
    out = {"predict": med([o / b for o, b in zip(result.ours_rate, result.bare_paired)])}
    for method in ("occlusion", "lime"):
        out[method] = med([wall / raw for wall, _, raw in result.timings[method]])
    out["search"] = med([wall / inside for wall, inside, _ in result.timings["search"]])
    return out


def table(results: list[Result]) -> list[str]:
    lines = [
        "| model | measure | ours | bare ONNX Runtime | ratio (median of per-repeat ratios) | same ratio in process CPU time |",
        "|---|---|---|---|---|---|",
    ]
    for res in results:
        r = ratios(res)
        best = res.bare_paired
        lines.append(
            f"| {res.name} | (a) predict rows/s (ours: batch {res.batch}, {res.threads} thread(s); bare: best batch "
            f"{res.best_bare_batch}) | {med(res.ours_rate):,.0f} | {med(best):,.0f} | **{r['predict']:.3f}** | "
            f"{med(res.cpu['predict']):.3f} |"
        )
        for method in ("occlusion", "lime"):
            wall = med([w for w, _, _ in res.timings[method]])
            inside = med([i for _, i, _ in res.timings[method]])
            raw = med([x for _, _, x in res.timings[method]])
            lines.append(
                f"| {res.name} | (b) {method}, {res.inputs[method]} input(s): wall s ({res.rows[method]} rows; "
                f"ORT inside {inside:.4f} s) | "
                f"{wall:.4f} | {raw:.4f} (same rows and calls, batch {res.batch}) | **{r[method]:.3f}** | "
                f"{med(res.cpu[method]):.3f} |"
            )
        wall = med([w for w, _, _ in res.timings["search"]])
        inside = med([i for _, i, _ in res.timings["search"]])
        lines.append(
            f"| {res.name} | (c) exemplar search, {res.search_classes} classes x {res.per_repeat} seed(s): wall s "
            f"({res.rows['search']} classifier rows) | "
            f"{wall:.4f} | {inside:.4f} (ORT inside: generator + classifier) | **{r['search']:.3f}** | – |"
        )
    return lines


def machine() -> list[str]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in _lines("/proc/cpuinfo") if ln.startswith("model name")), "?"
    )
    mem = next(
        (ln.split(":", 1)[1].strip() for ln in _lines("/proc/meminfo") if ln.startswith("MemTotal")), "?"
    )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"- Machine: {cpu}, {cores} cores available, {mem} RAM, {platform.platform()}",
        f"- Python {platform.python_version()}, numpy {np.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())}), onnx-auditor {auditor.__version__}",
    ]


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def cases(
    folder: Path, repeats: int, big_repeats: int, rng: np.random.Generator, only: str | None
) -> list[Case]:
    digits = ROOT / "sample_models" / "digits"
    samples = np.load(digits / "samples.npz")
    chosen = []
    if only in (None, "digits"):
        chosen.append(
            Case(
                "digits",
                digits / "classifier.onnx",
                digits / "generator.onnx",
                samples["X"][: 32 * repeats + 1],
                8192,
                {"window": 4, "stride": 2},
                {"samples": 1000, "window": 4},
                ExemplarParams(budget=20_000),
                8,  # search seeds per timed repeat: about 250 ms timings on a quiet machine
                repeats,
                # 32 occlusions (~0.25 s quiet, 5,472 rows) and 8 LIMEs (~0.3 s): timings long
                # enough that a busy machine's time slices average out
                {"occlusion": 32, "lime": 8},
            )
        )
    if only in (None, "resnet50"):
        res_path, gen_path = folder / "resnet50.onnx", folder / "image_generator.onnx"
        res_path.write_bytes(resnet.resnet50().SerializeToString())
        gen_path.write_bytes(resnet.image_generator().SerializeToString())
        # 0.1-0.4 s a row on one core: 8 rows for predict, 3x3 occlusion windows (11 rows), LIME on a
        # 4x4 grid with 24 samples, and 2 target classes of exemplar search with 20 queries each
        chosen.append(
            Case(
                "resnet50 (3x224x224, 1000 classes)",
                res_path,
                gen_path,
                rng.random((big_repeats + 1, 3, 224, 224), dtype=np.float32),
                8,
                {"window": 112, "stride": 56},
                {"samples": 24, "window": 56},
                ExemplarParams(budget=20, popsize=10),
                1,
                big_repeats,
                {"occlusion": 1, "lime": 1},
                [0, 1],
            )
        )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--repeats-resnet", type=int, default=3, help="Repeats of the ResNet-50 case.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    parser.add_argument("--only", choices=("digits", "resnet50", "text"), default=None)
    parser.add_argument("--texts", type=int, default=10, help="Sample texts of the word-LIME case.")
    parser.add_argument(
        "--threads", type=int, default=None, help="Pin ORT intra-op threads (default: calibrated)."
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for case in cases(Path(tmp), args.repeats, args.repeats_resnet, rng, args.only):
            print(f"measuring {case.name} ...", file=sys.stderr, flush=True)
            results.append(measure(case, args.device, rng, args.threads))
    text_summary = None
    if args.only in (None, "text") and args.device == "cpu":
        print("measuring word LIME on the text sample ...", file=sys.stderr, flush=True)
        text_load = os.getloadavg()[0]
        text_summary = measure_texts(args.texts, args.repeats, echo=False)
        text_summary["load"] = text_load
    load_after = os.getloadavg()
    lines = table(results) if results else []
    if text_summary is not None:
        lines += [
            "",
            "(d) Word LIME on the text sample (benchmarks/text.py: our wall time over raw ONNX Runtime with "
            f"tokenization, one thread each side, load average {text_summary['load']:.2f} at its start):",
            "",
            *[f"- {line}" for line in summary_lines(text_summary)],
        ]
    command = (
        f"python benchmarks/run.py --device {args.device} --repeats {args.repeats}"
        + (f" --repeats-resnet {args.repeats_resnet}" if args.only in (None, "resnet50") else "")
        + (f" --only {args.only}" if args.only else "")
        + (f" --threads {args.threads}" if args.threads else "")
    )
    notes = [
        f"- Device: {args.device}; load average (1 min) {load[0]:.2f} at start, {load_after[0]:.2f} at the end",
        *[
            f"- {r.name}: calibration {r.calibration_s:.2f} s chose batch {r.batch}, {r.threads} thread(s); "
            f"bare sweep over batches {sorted(r.bare_rate)}; ORT-default session options at batch {r.best_bare_batch}: "
            f"{med(r.default_rate):,.0f} rows/s; row cache {'on' if r.cache else 'off (it would cost over 5 % of a row)'}, "
            f"hits {r.hits}; thread comparison {_rates(r.compared)}; load average {r.load[0]:.2f} -> {r.load[1]:.2f}"
            for r in results
        ],
    ]
    legend = (
        "(a) is our throughput over bare ONNX Runtime's (1 = parity, higher is better); (b) and (c) are our wall "
        "time over ONNX Runtime time (1 = no overhead, lower is better). The last column is the same ratio in "
        "process CPU seconds (all threads), which a shared machine disturbs less than wall time."
    )
    report = [
        "# Benchmark results",
        "",
        f"Command: `{command}` (medians over repeats)",
        "",
        *machine(),
        *notes,
        "",
        legend,
        "",
        *lines,
        "",
    ]
    args.out.write_text("\n".join(report))
    print("\n".join(lines))
    if text_summary is not None:
        print(f"ratios (text): text_lime={text_summary['ours_over_raw']:.3f}")
    for result in results:
        r = ratios(result)
        print(
            f"ratios ({result.name}, {result.threads} thread(s), load {result.load[0]:.1f}->{result.load[1]:.1f}): "
            f"predict={r['predict']:.3f} occlusion={r['occlusion']:.3f} lime={r['lime']:.3f} search={r['search']:.3f}"
        )


if __name__ == "__main__":
    main()
