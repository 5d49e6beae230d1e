"""Scaling one audit out on Ray: local vs Ray with 1 and 2 workers, Ray's cost per unit, a projection to N workers.

Two audits: the digits sample's own audit.toml (13 units) and a synthetic 100-class tabular MLP
(32 -> 64 -> K, data labelled by the model) whose exemplar and counterfactual-matrix checks make
many units. Each runs in this process (every unit timed), then on a local Ray cluster with 1 and
2 workers (actors started and ready before the clock starts; their start-up is reported apart).
Ray's cost per unit is the wall of units sent one after another to one actor less their time inside
it, for one-row accuracy units (the least a unit carries) and for the 100-class model's
counterfactual-matrix units (99 searches and results each). The projection to N workers schedules
the measured unit times on N workers (longest first), each unit plus the larger cost, after the
serial part (provenance, plans, merges); for a 1,000-class model of the same recipe it plans the audit (unit counts) and times the
first units of each check. Run: `.venv/bin/python benchmarks/scale.py [--json results.json]`
(needs the `ray` extra; about 20 minutes on 2 cores with 3 repeats).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import pickle
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median
from typing import Any

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.audit.checks import CHECKS, Check, Context, Unit, listed_checks  # noqa: E402
from auditor.audit.config import AuditConfig, load_config  # noqa: E402
from auditor.audit.executors.local import UnitMapper, local_mapper  # noqa: E402
from auditor.audit.executors.ray import RayExecutor, UnitWorker  # noqa: E402
from auditor.audit.executors.replica import Replica  # noqa: E402
from auditor.audit.planner import plan_audit  # noqa: E402
from auditor.audit.results import Stage, without_timings  # noqa: E402
from auditor.audit.runner import plan_units, run_audit  # noqa: E402
from auditor.model.blackbox import OpenOptions  # noqa: E402
from auditor.model.budget import Budget  # noqa: E402

DIGITS = ROOT / "sample_models" / "digits" / "audit.toml"
FEATURES, HIDDEN, ROWS = 32, 64, 2000
OPTIONS = OpenOptions(device="cpu", threads=1)  # one ORT thread here, as each 1-CPU actor has
SYNTHETIC = """\
[model]
path = "classifier.onnx"

[data]
path = "data.npz"

[run]
device = "cpu"
threads = 1
budget = 300

[checks.stability]
samples = 2000
repeats = 4

[checks.exemplars]
per_class = 1
min_reached = 0.0

[checks.counterfactuals]
samples = 40
method = "es"
min_validity = 0.0
matrix_budget = 100

[checks.attributions]
samples = 8
min_faithful = 0.0
"""


def synthetic(folder: Path, classes: int, seed: int = 0) -> Path:
    """A K-class MLP on 32 features with data it labels itself; returns its audit.toml."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 1 / np.sqrt(FEATURES), (FEATURES, HIDDEN)).astype(np.float32)
    w2 = rng.normal(0, 3 / np.sqrt(HIDDEN), (HIDDEN, classes)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "W2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        f"mlp{classes}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, folder / "classifier.onnx")
    x = rng.normal(0, 1, (ROWS, FEATURES)).astype(np.float32)
    y = (np.maximum(x @ w1, 0) @ w2).argmax(axis=1)
    np.savez(folder / "data.npz", X=x, y=y)
    (folder / "audit.toml").write_text(SYNTHETIC, encoding="utf-8")
    return folder / "audit.toml"


def timed(mapper: UnitMapper, times: dict[str, list[float]]) -> UnitMapper:
    """`mapper`, recording the seconds between yields (one unit each, run in order) by check."""

    def mapped(
        check: Check[Any, Any], ctx: Context, settings: Any, units: list[Unit]
    ) -> Iterator[tuple[Any, int, int]]:
        started = time.perf_counter()
        for result in mapper(check, ctx, settings, units):
            times[check.name].append(time.perf_counter() - started)
            yield result
            started = time.perf_counter()

    return mapped


def figures(doc: dict[str, Any]) -> str:
    """The report without timings and the plan's estimates made from them (query counts are kept)."""
    return json.dumps(without_timings(doc), sort_keys=True)


def schedule(times: list[float], workers: int, overhead: float) -> float:
    """Makespan of `times` on `workers` (longest first to the least loaded), each unit costing `overhead` more."""
    loads = [0.0] * workers
    for seconds in sorted(times, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + seconds + overhead)
    return max(loads)


def ready(executor: RayExecutor, ctx: Context, workers: int) -> float:
    """Seconds until `workers` actors of `ctx` are up (each has built its sessions)."""
    executor.wanted = workers
    started = time.perf_counter()
    pool = executor.pool(ctx)
    while pool.starting:
        done, _ = executor.ray.wait(list(pool.starting), num_returns=1)
        pool.admit(done[0])
    return time.perf_counter() - started


def measure(name: str, config: AuditConfig, executor: RayExecutor, repeats: int) -> dict[str, Any]:
    """Best walls of `repeats` rounds, each a run here, then on 1, then on 2 workers (interleaved, so that
    the load of a shared machine falls alike on all three); actors are up before the clock starts."""
    local_walls: list[float] = []
    serials: list[float] = []  # provenance, plans, merges: in this process whatever runs the units
    runs: list[dict[str, list[float]]] = []
    remote: dict[int, dict[str, list[Any]]] = {w: defaultdict(list) for w in (1, 2)}
    queries = 0
    # one plan for every run: under [run] time_budget a plan follows the speed measured when it is made,
    # and the runs compare executors on the same work
    plan = plan_audit(config, Context.open(config, OPTIONS, None))
    for _ in range(repeats):
        times: dict[str, list[float]] = defaultdict(list)
        ctx = Context.open(config, OPTIONS, None)
        started = time.perf_counter()
        local = run_audit(config, ctx, mapper=timed(local_mapper, times), plan=plan)
        local_walls.append(time.perf_counter() - started)
        runs.append(times)
        serials.append(local_walls[-1] - sum(sum(t) for t in times.values()))
        reference, queries = figures(local.to_dict()), local.queries
        for workers in (1, 2):
            ctx = Context.open(config, OPTIONS, None)
            remote[workers]["startup"].append(ready(executor, ctx, workers))
            started = time.perf_counter()
            report = run_audit(config, ctx, mapper=executor, plan=plan)
            remote[workers]["wall"].append(time.perf_counter() - started)
            remote[workers]["same"].append(figures(report.to_dict()) == reference)
            executor.release(ctx)
    times = {
        check: [median([run[check][i] for run in runs]) for i in range(len(runs[0][check]))]
        for check in runs[0]
    }
    local_wall = min(local_walls)
    ray = {
        workers: {
            "wall": min(got["wall"]),
            "median": median(got["wall"]),
            "walls": got["wall"],
            "startup": median(got["startup"]),
            "same_figures": all(got["same"]),
        }
        for workers, got in remote.items()
    }
    return {
        "name": name,
        "units": {check: len(t) for check, t in times.items()},
        "unit_seconds": {check: sum(t) for check, t in times.items()},
        "times": times,
        "local": local_wall,
        "locals": local_walls,
        "local_median": median(local_walls),
        "serial": median(serials),
        "ray": ray,
        "queries": queries,
    }


class TimedWorker(UnitWorker):
    """A worker that also says how long each unit took inside it (Ray pickles this class by value)."""

    def timed(self, *arguments: Any) -> tuple[tuple[Any, int, int], float]:
        started = time.perf_counter()
        result = self.run(*arguments)
        return result, time.perf_counter() - started


def cost_per_unit(
    config: AuditConfig, executor: RayExecutor, check_name: str, part: str, count: int
) -> dict[str, Any]:
    """Ray's cost per unit on one actor: the wall of `count` units sent one after another, less their time inside
    the actor (sending the unit and its budget, running it, the part's trip back, pickling both ways)."""
    ctx = Context.open(config, OPTIONS, None)
    check = next(c for c in CHECKS if c.name == check_name)
    settings = check.settings(config)
    units = [u for u in plan_units(check, ctx, settings, config.run.seed) if u.part == part]
    ctx.settle()  # as the runner does before a check's units
    if check_name == "accuracy":  # one row each: the least a unit can carry
        assert ctx.data is not None
        units = [Unit(check.name, i, "rows", (i % len(ctx.data),), 0) for i in range(count)]
    units = (units * (count // len(units) + 1))[:count]
    ray = executor.ray
    actor = ray.remote(TimedWorker).options(num_cpus=1).remote(Replica.of(ctx), 1)
    ray.get(actor.ready.remote())
    job = ray.put((check, settings, ctx.settled()))
    free = Budget().allowance()
    ray.get(actor.timed.remote(job, units[0], free, free))  # the first unit calibrates the batch size
    inside, sizes = 0.0, []
    started = time.perf_counter()
    for unit in units:
        (part_value, _, _), seconds = ray.get(actor.timed.remote(job, unit, free, free))
        inside += seconds
        sizes.append(len(pickle.dumps(part_value)))
    wall = time.perf_counter() - started
    ray.kill(actor)
    return {
        "units": f"{check_name}/{part}",
        "count": count,
        "wall": wall,
        "inside": inside,
        "per_unit": (wall - inside) / count,
        "part_bytes": int(median(sizes)),
    }


def plan_1000(folder: Path, sample_units: int = 2) -> dict[str, Any]:
    """Unit counts of the synthetic recipe at 1,000 classes, and the first units of each check timed."""
    config = load_config(synthetic(folder, 1000))
    ctx = Context.open(config, OPTIONS, None)
    counts, per_unit = {}, {}
    for check in listed_checks(config):  # the checks the audit runs (opt-in ones only with their table)
        if check.stage is Stage.FACTS:
            continue
        settings = check.settings(config)
        units = plan_units(check, ctx, settings, config.run.seed)
        kinds = defaultdict(list)
        for unit in units:
            kinds[unit.part].append(unit)
        for part, listed in kinds.items():
            key = f"{check.name}/{part}"
            counts[key] = len(listed)
            started = time.perf_counter()
            for _ in local_mapper(check, ctx, settings, listed[:sample_units]):
                pass
            per_unit[key] = (time.perf_counter() - started) / min(sample_units, len(listed))
    return {"counts": counts, "per_unit": per_unit}


def projection(times: list[float], serial: float, overhead: float, workers: int) -> float:
    """Wall time on `workers`: the serial part, then the units scheduled with Ray's overhead (never below 0)."""
    return serial + schedule(times, workers, max(overhead, 0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each audit per executor (median)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args()
    results: dict[str, Any] = {"load_start": os.getloadavg()[0], "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp, RayExecutor() as executor:
        digits = load_config(DIGITS)
        k100 = load_config(synthetic(Path(tmp) / "k100", 100))
        results["costs"] = [
            cost_per_unit(digits, executor, "accuracy", "rows", 300),
            cost_per_unit(k100, executor, "counterfactuals", "matrix", 40),
        ]
        cases = [("digits (sample audit.toml)", digits), ("synthetic 100 classes", k100)]
        results["cases"] = [measure(name, config, executor, args.repeats) for name, config in cases]
        results["k1000"] = plan_1000(Path(tmp) / "k1000")
    results["load_end"] = os.getloadavg()[0]
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def report(results: dict[str, Any]) -> None:
    say: Callable[[str], None] = print
    cpus = os.cpu_count()
    say(
        f"Machine: {cpus} CPUs; load average {results['load_start']:.2f} at start, {results['load_end']:.2f} "
        f"at the end; best of {results['repeats']} interleaved rounds (medians in the JSON)"
    )
    for cost in results["costs"]:
        say(
            f"Ray's cost per unit, {cost['units']}: {1000 * cost['per_unit']:.1f} ms ({cost['count']} units sent "
            f"one after another to one actor: {cost['wall']:.2f} s, {cost['inside']:.2f} s of it inside the actor; "
            f"a part pickles to {cost['part_bytes']:,} bytes)"
        )
    overhead = max(cost["per_unit"] for cost in results["costs"])
    say("")
    say(
        "| audit | units | queries | local s | Ray 1 worker s | Ray 2 workers s | speed-up over local 1 / 2 workers "
        "| 2 workers over 1 | actors up (1 / 2) | same figures |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|")
    for case in results["cases"]:
        ray1, ray2 = case["ray"][1], case["ray"][2]
        units = sum(case["units"].values())
        say(
            f"| {case['name']} | {units} | {case['queries']:,} | {case['local']:.1f} | {ray1['wall']:.1f} | "
            f"{ray2['wall']:.1f} | {case['local'] / ray1['wall']:.2f}x / {case['local'] / ray2['wall']:.2f}x | "
            f"{ray1['wall'] / ray2['wall']:.2f}x | {ray1['startup']:.1f} s / {ray2['startup']:.1f} s | "
            f"{ray1['same_figures'] and ray2['same_figures']} |"
        )
    say("")
    for case in results["cases"]:
        say(
            f"{case['name']}: units by check "
            + ", ".join(
                f"{check} {n} ({case['unit_seconds'][check]:.2f} s)" for check, n in case["units"].items()
            )
            + f"; serial part {case['serial']:.2f} s"
        )
    say("")
    say(
        "Projection to N workers (measured unit times, longest first, each plus Ray's cost per unit; serial part kept):"
    )
    say("")
    say("| audit | N=1 | 2 | 4 | 8 | 16 | 64 |")
    say("|---|---|---|---|---|---|---|")
    for case in results["cases"]:
        times = [t for listed in case["times"].values() for t in listed]
        cells = [projection(times, case["serial"], overhead, n) for n in (1, 2, 4, 8, 16, 64)]
        say(f"| {case['name']} | " + " | ".join(f"{c:.1f} s" for c in cells) + " |")
    k1000 = results["k1000"]
    times = [k1000["per_unit"][key] for key, n in k1000["counts"].items() for _ in range(n)]
    cells = [schedule(times, n, max(overhead, 0.0)) for n in (1, 2, 4, 8, 16, 64)]
    say("| synthetic 1,000 classes (units only) | " + " | ".join(f"{c / 60:.1f} min" for c in cells) + " |")
    say("")
    say(
        "1,000 classes, same recipe: "
        + ", ".join(f"{key} {n} units x {k1000['per_unit'][key]:.2f} s" for key, n in k1000["counts"].items())
        + f"; {sum(k1000['counts'].values())} units, {sum(times) / 60:.1f} min of unit time in all"
    )


if __name__ == "__main__":
    main()
