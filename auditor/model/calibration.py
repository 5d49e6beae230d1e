"""Batch size and CPU threads chosen by a short measurement on first use, re-checked, and remembered.

On the first large `predict`, the black box times its session at a few batch sizes (those that fit the
memory budget, smallest first, while a ~0.3 s time budget lasts), then, on a multi-core CPU, times one
thread against several at the chosen batch (a model too slow for that: at the next larger batch, which
more threads need to win) and keeps the faster. With one thread, ONNX Runtime computes on the calling
thread, so batch sizes are compared in that thread's CPU time, which a busy neighbour leaves alone (a
preemption in one wall-clock timing used to pick batch 1 on a loaded machine). Threads are compared in
wall-clock time, under the load of the moment, in interleaved pairs: more threads are kept only when they
win clearly in the median and never lose a pair, since they lose most when the machine gets busy (two ORT
threads on a 2-core box fall by 40-70 % when the other core is taken; one thread by 5 %). A choice of
more threads is then re-checked on the calls themselves (`Recheck`): calls slower than one thread was at
calibration, for two half-second windows in a row, switch the black box back to one thread. Results are
kept per (model SHA-256, provider, thread and batch requests, input shape, budget) for the process, and
in `calibration.json` under a cache folder only when one is given. The black box also drops its automatic
row cache when hashing a row would cost more than CACHE_SHARE of running it (tiny tabular models).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import ModelProto, TensorProto, helper

from auditor.errors import ConfigError
from auditor.model.cache import RowCache
from auditor.model.session import cpu_cores

MiB = 2**20
MEMORY_BUDGETS = {"cpu": 512 * MiB, "cuda": 2048 * MiB}
#: Bytes per row held while it runs: (input + output + largest intermediate) times this margin.
MEMORY_FACTOR = 2
#: Margin over (input + output) when shape inference cannot size the intermediates.
FALLBACK_FACTOR = 16
LADDER = (1, 4, 16, 64, 256, 1024)
TIME_BUDGET = 0.3
#: Shares of the time budget: batch sizes first, then the thread comparison (the rest: step 3).
LADDER_SHARE = 0.4
THREAD_SHARE = 0.15
#: Extra interleaved timing rounds over the batch sizes, while the time budget lasts.
ROUNDS = 2
#: Shortest timing: small batches are called several times in a row to fill it.
UNIT = 0.008
#: A batch size this much slower than the best so far counts as past the peak.
PAST_PEAK = 0.9
#: Batch sizes re-timed in the extra rounds: those within this share of the best rate.
CONTENDER = 0.75
#: More threads are kept only when at least this much faster in the median pair (they lose most when the
#: machine gets busy), and no slower in any pair.
THREAD_GAIN = 1.25
#: Interleaved pairs of timings (fewer threads, more threads) in the thread comparison.
THREAD_ROUNDS = 3
#: Longest call (seconds) at the next larger batch that a slow model's thread comparison may use (past
#: the time budget: `comparison_rows`).
COMPARE_CALL = 1.0
#: Seconds of calls the re-check of a multi-thread choice judges together.
RECHECK_SECONDS = 0.5
#: Slow windows in a row that make the re-check fall back to fewer threads.
RECHECK_WINDOWS = 2
#: Batches within this share of the best throughput count as equal (then MIN_CALL decides). When repeated
#: timings of one size spread wider (a busy machine), that spread is used instead, up to MAX_TIE.
TIE = 0.10
MAX_TIE = 0.25
#: Among equal batches, the smallest whose calls last this long is chosen (the per-call work outside ONNX
#: Runtime then costs ~1 %, and larger calls only touch more memory); the largest when none does.
MIN_CALL = 0.002
#: A predict call with at least this many rows triggers the calibration.
MIN_ROWS = 64
#: The row cache stays on only while its own cost per row is under this share of the model's.
CACHE_SHARE = 0.05
CACHE_FILE = "calibration.json"
MAX_FILE_BYTES = 1 * MiB
MAX_ENTRIES = 256

Runner = Callable[[np.ndarray], object]


@dataclass(frozen=True)
class Trial:
    """One timed configuration."""

    batch: int
    threads: int
    rows_per_second: float


@dataclass(frozen=True)
class Calibration:
    """What the measurement chose, what it measured and how long it took."""

    batch_size: int
    threads: int
    spinning: bool
    rows_per_second: float
    trials: tuple[Trial, ...]
    seconds: float
    source: str = "measured"  # measured | file | rechecked (more threads fell behind one thread in use)
    #: The fewer-thread timing (wall clock, rows of the comparison) that calls with more threads must beat.
    fallback: Trial | None = None
    #: The thread comparison: median wall-clock rows/s of each thread count (empty when there was no choice).
    compared: tuple[Trial, ...] = ()


@dataclass(frozen=True)
class Plan:
    """What may be tried: batch sizes (ascending) and thread counts (the current session's first)."""

    batches: tuple[int, ...]
    threads: tuple[int, ...]
    spinning: bool


# ---------------------------------------------------------------- memory


def row_footprint(proto: ModelProto, sample_shape: Sequence[int], in_bytes: int, out_bytes: int) -> int:
    """Bytes one row needs while the model runs, estimated from ONNX shape inference."""
    largest = largest_intermediate(proto, sample_shape)
    if largest is None:
        return FALLBACK_FACTOR * (in_bytes + out_bytes)
    return MEMORY_FACTOR * (in_bytes + out_bytes + largest)


def largest_intermediate(
    proto: ModelProto, sample_shape: Sequence[int], input_dims: Sequence[int] | None = None
) -> int | None:
    """Bytes of the largest tensor inside the graph for one row, or None when shapes do not resolve.

    `input_dims` (batch axis included) sets the shape of every input, for models with several.
    """
    graph = proto.graph
    initializers = {t.name for t in graph.initializer}
    inputs = []
    for value in graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        dims = list(input_dims) if input_dims else [1, *sample_shape] if len(graph.input) == 1 else [1, 1]
        inputs.append(helper.make_tensor_value_info(value.name, value.type.tensor_type.elem_type, dims))
    inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in graph.initializer]
    stripped = helper.make_graph(list(graph.node), "sizes", inputs, list(graph.output))
    model = helper.make_model(
        stripped, opset_imports=list(proto.opset_import), functions=list(proto.functions)
    )
    model.ir_version = proto.ir_version
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # onnx raises InferenceError/ValidationError/RuntimeError on odd graphs
        return None
    sizes = [_tensor_bytes(v) for v in inferred.graph.value_info]
    known = [s for s in sizes if s is not None]
    return max(known) if known else None


def _tensor_bytes(value: onnx.ValueInfoProto) -> int | None:
    if not value.type.HasField("tensor_type"):
        return None
    tensor = value.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
    if not tensor.HasField("shape") or min(dims, default=0) < 0:
        return None
    if tensor.elem_type == TensorProto.STRING:
        return None
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).itemsize
    return int(np.prod(dims, dtype=np.int64)) * itemsize


def max_rows(footprint: int, budget: int) -> int:
    """Most rows per call within the budget; a single row always runs."""
    return max(1, budget // max(footprint, 1))


def make_plan(max_batch: int, fixed_batch: int | None, threads: tuple[int, ...], spinning: bool) -> Plan:
    """The batch sizes worth timing: the ladder up to max_batch (and max_batch itself), or the fixed batch."""
    if fixed_batch:
        return Plan((fixed_batch,), threads, spinning)
    batches = sorted({b for b in LADDER if b <= max_batch} | {min(max_batch, LADDER[-1])})
    return Plan(tuple(batches), threads, spinning)


def thread_choices(requested: int | None, cores: int, provider: str, spare: bool = True) -> tuple[int, ...]:
    """Thread counts to compare: several only for CPU without --threads, and only with a core to spare
    (`session.spare_core`): when the machine is already busy, more threads cannot win clearly."""
    if requested:
        return (requested,)
    if provider != "cpu" or cores < 2 or not spare:
        return (1,)
    return (1, max(2, min(cores // 2, 8)))


# ---------------------------------------------------------------- measurement


def calibrate(
    runners: Callable[[int], Runner],
    rows: np.ndarray,
    plan: Plan,
    time_budget: float = TIME_BUDGET,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] | None = None,
) -> Calibration:
    """Time the plan's batch sizes on rows (tiled as needed) and its thread counts; keep the fastest.

    1. Batch sizes with the current thread count, within LADDER_SHARE of the time budget (`ladder`);
       when that count is 1 and `cpu_clock` is given (the calling thread's CPU time, for CPU sessions),
       timed and budgeted on it, so that other processes' load neither skews nor starves the choice,
       with as much again for the re-timing rounds.
    2. Thread counts at that batch in THREAD_ROUNDS interleaved wall-clock pairs, with as many rows
       as fit in THREAD_SHARE of the budget (a slow model: the next larger batch, `comparison_rows`);
       more threads must win clearly (`more_threads_win`).
    3. When more threads won, batch sizes from the largest down to the chosen one again with them
       (more threads usually want larger batches), in what is left of the budget; a slow model
       compared at a larger batch keeps it.
    """
    started = clock()
    first = plan.threads[0]
    on_cpu = cpu_clock is not None and first == 1
    meter = cpu_clock if on_cpu and cpu_clock is not None else clock
    deadline = meter() + LADDER_SHARE * time_budget
    # in CPU time, a busy machine does not starve the ladder but still blurs it (caches, a shared
    # core): the re-timing rounds, whose best timings converge on each size's own rate, get as long again
    extra = LADDER_SHARE * time_budget if on_cpu else 0.0
    timings = ladder(runners(first), rows, plan.batches, deadline, meter, extra=extra)
    rates = best_rates(timings)
    trials = [Trial(b, first, r) for b, r in rates.items()]
    batch, threads = pick(rates, tie_of(timings)), first
    rate = rates[batch]
    fallback = None
    compared: tuple[Trial, ...] = ()
    if len(plan.threads) > 1:
        share = THREAD_SHARE * time_budget / ((THREAD_ROUNDS + 1) * len(plan.threads))
        n = comparison_rows(plan.batches, batch, rate, share)
        threads, by_threads = _compare_threads(runners, tile(rows, n), plan.threads, clock)
        compared = tuple(Trial(n, k, r) for k, r in by_threads.items())
        trials += compared
        if n > batch and threads != first:  # a slow model won with more threads at a larger batch: keep it
            batch, rate = n, by_threads[threads]
        else:
            rate *= by_threads[threads] / by_threads[first]
        fewest = min(plan.threads)
        if threads != fewest:
            fallback = Trial(n, fewest, by_threads[fewest])
        if threads != first:
            larger = tuple(sorted((b for b in plan.batches if b >= batch), reverse=True))
            retimed = ladder(runners(threads), rows, larger, started + time_budget, clock, hint=rate)
            again = best_rates(retimed)
            trials += [Trial(b, threads, r) for b, r in again.items()]
            again.setdefault(batch, rate)  # as estimated from the thread comparison
            batch = pick(again, tie_of(retimed))
            rate = again[batch]
    spinning = plan.spinning and threads > 1
    seconds = clock() - started
    return Calibration(
        batch, threads, spinning, rate, tuple(trials), seconds, fallback=fallback, compared=compared
    )


def comparison_rows(batches: Sequence[int], batch: int, rate: float, share: float) -> int:
    """Rows a call in the thread comparison: what `share` seconds allow, up to the chosen batch; for a
    model too slow for one row in its share, the next size above the chosen batch, when such calls take
    at most COMPARE_CALL.

    More threads need more rows a call to win: on the ResNet-50-sized benchmark (0.1 s a row on one
    core), two threads run 11 rows/s at batch 1, where they lose the comparison, and 14-16 at 2-4 rows.
    """
    above = [b for b in batches if b > batch]
    if rate * share < 1 and above and min(above) / rate <= COMPARE_CALL:
        return min(above)
    return int(np.clip(rate * share, 1, batch))


def ladder(
    run: Runner,
    rows: np.ndarray,
    batches: tuple[int, ...],
    deadline: float,
    clock: Callable[[], float],
    hint: float | None = None,
    extra: float = 0.0,
) -> dict[int, list[float]]:
    """Every timing (rows/s) of each batch size (in the order given) tried before the deadline.

    Sizes whose calls would overrun the deadline, at the best rate of the last size tried (or
    `hint` rows/s before any), are skipped; without a hint the first size is always tried.

    Every timing covers at least UNIT seconds (several calls for small batches), so that short and
    long calls are equally exposed to a busy machine's preemptions. A size is tried (one warm-up
    and one timing) while that fits and until two sizes in a row fall under PAST_PEAK of the best;
    then up to ROUNDS interleaved rounds re-time the contenders, until `extra` seconds past the deadline.
    """
    reps: dict[int, int] = {}
    timings: dict[int, list[float]] = {}

    def best() -> dict[int, float]:
        return {b: max(t) for b, t in timings.items()}

    falling, last = 0, min(batches, default=0)
    for batch in batches:
        if falling == 2:
            break  # two sizes in a row clearly past the peak
        known = best()[last] if timings else hint
        if known is not None:
            call = batch / known * (2.0 if batch > last else 1.0)  # per-row cost often grows with the batch
            if clock() + call + max(call, UNIT) > deadline:
                continue
        x = tile(rows, batch)
        reps[batch] = max(1, int(UNIT / _timed(run, x, 1, clock)))  # the first run at a new shape allocates
        timings[batch] = [batch * reps[batch] / _timed(run, x, reps[batch], clock)]
        last = batch
        rates = best()
        falling = falling + 1 if rates[batch] < PAST_PEAK * max(rates.values()) else 0
    for _ in range(ROUNDS):
        rates = best()
        contenders = [b for b, r in rates.items() if r >= CONTENDER * max(rates.values())]
        if clock() + sum(max(b / rates[b], UNIT) for b in contenders) > deadline + extra:
            break
        for batch in contenders:
            timings[batch].append(batch * reps[batch] / _timed(run, tile(rows, batch), reps[batch], clock))
    return timings


def best_rates(timings: dict[int, list[float]]) -> dict[int, float]:
    """The best timing of each batch size (a busy machine only ever slows a timing down)."""
    return {b: max(t) for b, t in timings.items()}


def spread(timings: dict[int, list[float]]) -> float:
    """How far repeated timings of one size disagree: median over sizes timed more than once of
    (best - worst) / best; 0 when no size was timed twice."""
    gaps = [1 - min(t) / max(t) for t in timings.values() if len(t) > 1]
    return float(np.median(gaps)) if gaps else 0.0


def pick(rates: dict[int, float], tie: float = TIE, min_call: float = MIN_CALL) -> int:
    """Among batch sizes within `tie` of the best rate, the smallest whose calls last `min_call`, else the largest.

    Past a couple of milliseconds a call's fixed costs (ours and ONNX Runtime's) hardly count, while
    larger batches hold larger intermediates (on the digits CNN, 256 rows run 9 % slower than 64 on a
    quiet machine): so a size counts as long enough, not larger as better.
    """
    best = max(rates.values())
    equal = sorted(b for b, r in rates.items() if r >= (1 - tie) * best)
    long_enough = [b for b in equal if b / rates[b] >= min_call]
    return long_enough[0] if long_enough else equal[-1]


def tie_of(timings: dict[int, list[float]]) -> float:
    """TIE, or the timings' own spread when wider (up to MAX_TIE)."""
    return float(np.clip(spread(timings), TIE, MAX_TIE))


def _compare_threads(
    runners: Callable[[int], Runner], x: np.ndarray, choices: tuple[int, ...], clock: Callable[[], float]
) -> tuple[int, dict[int, float]]:
    """The thread count to keep and each count's median rows/s over THREAD_ROUNDS interleaved rounds.

    Each round times every count once (each timing >= UNIT, the order alternating between rounds),
    so the counts share the load of the moment; more threads replace fewer only when they win
    clearly against them (`more_threads_win`).
    """
    choices = tuple(sorted(choices))
    runs = {k: runners(k) for k in choices}
    reps = {k: max(1, int(UNIT / _timed(run, x, 1, clock))) for k, run in runs.items()}
    rounds: list[dict[int, float]] = []
    for i in range(THREAD_ROUNDS):
        order = choices if i % 2 == 0 else choices[::-1]
        rounds.append({k: len(x) * reps[k] / _timed(runs[k], x, reps[k], clock) for k in order})
    chosen = choices[0]
    for k in choices[1:]:
        if more_threads_win([(r[chosen], r[k]) for r in rounds]):
            chosen = k
    return chosen, {k: float(np.median([r[k] for r in rounds])) for k in choices}


def more_threads_win(pairs: Sequence[tuple[float, float]], gain: float = THREAD_GAIN) -> bool:
    """Whether more threads win clearly over paired timings (rows/s with fewer, rows/s with more).

    Clearly: at least `gain` times faster in the median pair and no slower in any pair. A neighbour
    that takes a core for part of the measurement makes more threads lose the pairs it overlaps, and
    then fewer threads are kept: they lose little under load, more threads lose most.
    """
    if not pairs:
        return False
    speedups = [more / fewer for fewer, more in pairs]
    return float(np.median(speedups)) >= gain and min(speedups) >= 1.0


class Recheck:
    """Watches calls made with more threads against the calibration's fewer-thread timing.

    Calls of at least the timing's row count are added up until they span `window` seconds; RECHECK_WINDOWS
    windows in a row at fewer rows/s than the fewer threads managed at calibration mean the machine got
    busy since (more threads lose most then), and `observe` says so. One slow window is not enough: a
    burst of a fraction of a second would otherwise cost the rest of the run the faster choice.
    """

    def __init__(self, fallback: Trial, window: float | None = None) -> None:
        self.fallback = fallback
        self.window = RECHECK_SECONDS if window is None else window
        self.rows = 0
        self.seconds = 0.0
        self.slow_windows = 0

    def observe(self, rows: int, seconds: float) -> bool:
        """Note one call; True when the window it closes is the RECHECK_WINDOWS-th slow one in a row."""
        if rows < self.fallback.batch:
            return False  # smaller calls run at fewer rows/s anyway: not comparable
        self.rows += rows
        self.seconds += seconds
        if self.seconds < self.window:
            return False
        slow = self.rows < self.fallback.rows_per_second * self.seconds
        self.rows, self.seconds = 0, 0.0
        self.slow_windows = self.slow_windows + 1 if slow else 0
        return self.slow_windows >= RECHECK_WINDOWS


def cache_cost(row_shape: Sequence[int], dtype: str, width: int) -> float:
    """Seconds per row the row cache adds when nothing hits (hash, lookup, store), on ~1 MiB of synthetic rows."""
    row_bytes = int(np.prod(row_shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    n = int(np.clip(MiB // max(row_bytes, 1), 2, 1024))
    scratch = RowCache(tuple(row_shape), dtype, width, max_bytes=n * (row_bytes + 4 * width + 16))
    rows = np.random.default_rng(0).integers(0, 256, (3, n, row_bytes), dtype=np.uint8).view(dtype)
    rows = rows.reshape(3, n, *row_shape)
    answer = np.zeros((n, width), np.float32)
    times = []
    for batch in rows:  # the first pass touches the scratch ring's memory; the others run warm
        started = time.perf_counter()
        scratch.answer(batch, lambda x, index: answer[: len(x) if index is None else len(index)])
        times.append(time.perf_counter() - started)
    return min(times[1:]) / n


def tile(rows: np.ndarray, n: int) -> np.ndarray:
    """n rows: the first n of rows, or rows repeated."""
    return rows[:n] if len(rows) >= n else rows[np.arange(n) % len(rows)]


def _timed(run: Runner, x: np.ndarray, reps: int, clock: Callable[[], float]) -> float:
    """Seconds for reps calls on x, on the clock given (wall or the calling thread's CPU time)."""
    started = clock()
    for _ in range(reps):
        run(x)
    return max(clock() - started, 1e-9)


# ---------------------------------------------------------------- memory of past calibrations

_REMEMBERED: dict[str, Calibration] = {}


def key(
    sha256: str,
    provider: str,
    threads: int | None,
    batch: int | None,
    sample_shape: Sequence[int],
    dtype: str,
    budget: int,
) -> str:
    """Identifies a calibration: model, device, thread and batch requests, row shape, budget, cores, ORT version."""
    shape = "x".join(str(d) for d in sample_shape)
    requests = f"t{threads or 'auto'}|b{batch or 'auto'}"
    return f"{sha256}|{provider}|{requests}|{shape}|{dtype}|{budget}|c{cpu_cores()}|ort{ort.__version__}"


def recall(k: str, cache_dir: str | os.PathLike[str] | None = None) -> Calibration | None:
    """A calibration made earlier in this process or stored in cache_dir (which then gets it too)."""
    found = _REMEMBERED.get(k)
    if cache_dir is None:
        return found
    entry = _read(Path(cache_dir) / CACHE_FILE).get(k)
    if found is None:
        found = _from_json(entry) if entry is not None else None
        if found is not None:
            _REMEMBERED[k] = found
    elif entry is None:
        remember(k, found, cache_dir)
    return found


def remember(k: str, calibration: Calibration, cache_dir: str | os.PathLike[str] | None = None) -> None:
    """Keep a calibration for the process, and in cache_dir/calibration.json when a folder is given."""
    _REMEMBERED[k] = calibration
    if cache_dir is None:
        return
    path = Path(cache_dir) / CACHE_FILE
    entries = _read(path)
    entries.pop(k, None)
    entries[k] = {**asdict(calibration), "source": "file"}
    entries = dict(list(entries.items())[-MAX_ENTRIES:])
    tmp = path.with_name(f".{CACHE_FILE}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": 1, "entries": entries}, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"--cache-dir {cache_dir}: cannot write {CACHE_FILE} ({exc.strerror}); use a writable folder"
        ) from None


def forget() -> None:
    """Drop what this process remembers (tests and benchmarks)."""
    _REMEMBERED.clear()


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return {}
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("version") == 1 else None
    return {k: v for k, v in entries.items() if isinstance(v, dict)} if isinstance(entries, dict) else {}


def _from_json(entry: dict[str, object]) -> Calibration | None:
    """A stored entry, when every field has a sane type and range; None otherwise."""
    try:
        batch, threads = _int(entry["batch_size"]), _int(entry["threads"])
        rate, seconds = _float(entry["rows_per_second"]), _float(entry["seconds"])
        raw_trials = entry["trials"]
        if not isinstance(raw_trials, list):
            return None
        trials = tuple(_trial(t) for t in raw_trials)
        fallback = entry.get("fallback")
        fallback = None if fallback is None else _trial(fallback)
        raw_compared = entry.get("compared", [])
        if not isinstance(raw_compared, list):
            return None
        compared = tuple(_trial(t) for t in raw_compared)
    except (KeyError, TypeError, ValueError):
        return None
    spinning = entry.get("spinning")
    if not (1 <= batch <= 1 << 20 and 1 <= threads <= 1024 and isinstance(spinning, bool)):
        return None
    return Calibration(batch, threads, spinning, rate, trials, seconds, "file", fallback, compared)


def _trial(entry: object) -> Trial:
    if not isinstance(entry, dict):
        raise TypeError("not a trial")
    return Trial(_int(entry["batch"]), _int(entry["threads"]), _float(entry["rows_per_second"]))


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def _float(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
        raise TypeError("not a number")
    return float(value)
