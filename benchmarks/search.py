"""Exemplar search on the digits sample: queries and seconds to reach p_target, and where time goes.

For each search method and objective, every (class, seed) runs alone through `auditor.explain.exemplars`
to p >= 0.95, 0.99 and 0.9999 (same seed, so each run is a prefix of the next), within 20,000
queries and with the no-improvement rule off. Then all ten classes run in lockstep (the product's
way), `cma`'s own ask/tell time is measured for latent sizes 16..512 with random linear generators,
and, when torch is installed, a white-box gradient baseline runs through a torch copy of the same
weights. Run: `.venv/bin/python benchmarks/search.py [--seeds 3] [--json results.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# As `import auditor` does for the CLI, before numpy loads: one BLAS thread (a multi-threaded BLAS
# fights ONNX Runtime for a small machine's cores and slows cma's ask/tell many times over).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="Could not import matplotlib")

from auditor.explain.exemplars import OBJECTIVES, ExemplarParams, exemplars  # noqa: E402
from auditor.model.blackbox import BlackBox, OpenOptions  # noqa: E402
from auditor.model.generator import Generator  # noqa: E402
from auditor.model.session import SessionSettings  # noqa: E402
from auditor.search import Evaluation, Search, StopRule, make_search, minimize  # noqa: E402
from auditor.search.registry import STRATEGIES  # noqa: E402

DIGITS = ROOT / "sample_models" / "digits"
LEVELS = (0.95, 0.99, 0.9999)
METHODS = tuple(STRATEGIES)  # each strategy once, by its own name (no aliases)
LATENTS = (16, 64, 128, 256, 512)


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """'median (min–max)' of values, or '–' when empty."""
    if not values:
        return "–"
    return f"{fmt.format(np.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def open_digits() -> tuple[BlackBox, Generator]:
    # As in PERF_ANCHORS §4: one ORT thread; one call per generation; no row cache, so that a
    # rerun at a higher level (same seed, same first rows) queries the model again.
    blackbox = BlackBox.open(
        DIGITS / "classifier.onnx", OpenOptions(device="cpu", threads=1, batch_size=1024, cache=False)
    )
    generator = Generator.open(DIGITS / "generator.onnx", SessionSettings(device="cpu", threads=1))
    exemplars(blackbox, generator, 0, rng=0)  # warm both sessions up
    return blackbox, generator


def single_runs(
    blackbox: BlackBox, generator: Generator, seeds: int, budget: int
) -> tuple[list[dict], list[str]]:
    """Every (method, objective, level, class, seed) alone; one table row per (method, objective, level)."""
    records, lines = [], []
    lines.append(
        "| method | objective | p ≥ | reached | queries to first hit | queries spent | ms | ORT share of wall |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    for method in METHODS:
        for objective in OBJECTIVES:
            for level in LEVELS:
                runs = []
                for seed in range(seeds):
                    for target in range(blackbox.n_classes):
                        result = exemplars(
                            blackbox,
                            generator,
                            target,
                            params=ExemplarParams(
                                method=method,
                                objective=objective,
                                threshold=level,
                                budget=budget,
                                patience=budget,
                            ),
                            rng=seed,
                        )
                        found = result.classes[0].exemplars[0]
                        runs.append(
                            {
                                "method": method,
                                "objective": objective,
                                "level": level,
                                "target": target,
                                "seed": seed,
                                "success": found.success,
                                "queries": found.first_success_queries,
                                "spent": found.queries,
                                "seconds": result.seconds,
                                "ort_seconds": result.ort_seconds,
                            }
                        )
                hits = [r for r in runs if r["success"]]
                share = sum(r["ort_seconds"] for r in runs) / sum(r["seconds"] for r in runs)
                lines.append(
                    f"| {method} | {objective} | {level} | {len(hits)}/{len(runs)} | "
                    f"{spread([r['queries'] for r in hits])} | {spread([r['spent'] for r in hits])} | "
                    f"{spread([1e3 * r['seconds'] for r in hits], '{:.1f}')} | {share:.2f} |"
                )
                records += runs
    return records, lines


def lockstep_runs(
    blackbox: BlackBox, generator: Generator, seeds: int, budget: int
) -> tuple[list[dict], list[str]]:
    """All classes at once per seed at the hardest level: one classifier batch per generation.

    The last row runs the default method as the CLI does: row cache on, batch size and threads
    calibrated (after a warm-up on other seeds).
    """
    product = BlackBox.open(DIGITS / "classifier.onnx", OpenOptions(device="cpu"))
    product_generator = Generator.open(DIGITS / "generator.onnx", SessionSettings(device="cpu"))
    exemplars(product, product_generator, rng=10**6)
    configurations = [
        (method, objective, "1 thread, batch 1024, no cache", blackbox, generator)
        for method in METHODS
        for objective in OBJECTIVES
    ]
    configurations.append(("momentum_es", "brier", "CLI defaults", product, product_generator))
    records = []
    lines = [
        f"| method | objective | settings | reached p ≥ {LEVELS[-1]} | classifier calls | queries | wall ms "
        "| ORT share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, objective, settings, model, decoder in configurations:
        runs = []
        for seed in range(seeds):
            result = exemplars(
                model,
                decoder,
                None,
                params=ExemplarParams(
                    method=method, objective=objective, threshold=LEVELS[-1], budget=budget, patience=budget
                ),
                rng=seed,
            )
            runs.append(
                {
                    "method": method,
                    "objective": objective,
                    "settings": settings,
                    "seed": seed,
                    "successes": sum(c.exemplars[0].success for c in result.classes),
                    "classes": len(result.classes),
                    "calls": result.calls,
                    "queries": result.queries,
                    "seconds": result.seconds,
                    "ort_seconds": result.ort_seconds,
                }
            )
        share = sum(r["ort_seconds"] for r in runs) / sum(r["seconds"] for r in runs)
        lines.append(
            f"| {method} | {objective} | {settings} | "
            f"{sum(r['successes'] for r in runs)}/{sum(r['classes'] for r in runs)} | "
            f"{spread([r['calls'] for r in runs])} | {spread([r['queries'] for r in runs])} | "
            f"{spread([1e3 * r['seconds'] for r in runs], '{:.1f}')} | {share:.2f} |"
        )
        records += runs
    return records, lines


def linear_generator(latent: int, folder: Path) -> Generator:
    """A random-weight linear generator z (N, latent) -> sigmoid(zW + b) as (N, 1, 28, 28)."""
    rng = np.random.default_rng(latent)
    weights = rng.normal(0, 1 / np.sqrt(latent), (latent, 784)).astype(np.float32)
    bias = rng.normal(-1.0, 0.5, 784).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["z", "W"], ["zw"]),
        helper.make_node("Add", ["zw", "B"], ["a"]),
        helper.make_node("Sigmoid", ["a"], ["s"]),
        helper.make_node("Reshape", ["s", "shape"], ["x"]),
    ]
    graph = helper.make_graph(
        nodes,
        f"linear{latent}",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", latent])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [
            numpy_helper.from_array(weights, "W"),
            numpy_helper.from_array(bias, "B"),
            numpy_helper.from_array(np.array([-1, 1, 28, 28], np.int64), "shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / f"linear{latent}.onnx"
    onnx.save_model(model, str(path))
    return Generator.open(path, SessionSettings(device="cpu"))


class Timed:
    """A search whose ask and tell time is summed in `seconds`."""

    def __init__(self, search: Search) -> None:
        self.search, self.dim, self.seconds = search, search.dim, 0.0

    def ask(self) -> np.ndarray:
        started = time.perf_counter()
        z = self.search.ask()
        self.seconds += time.perf_counter() - started
        return z

    def tell(self, z: np.ndarray, evaluation: Evaluation) -> None:
        started = time.perf_counter()
        self.search.tell(z, evaluation)
        self.seconds += time.perf_counter() - started


def overhead_by_latent(blackbox: BlackBox, generations: int, seeds: int) -> tuple[list[dict], list[str]]:
    """ask+tell and ORT time per generation, 60 generations without early stop, by latent size."""
    variants = [
        ("cmaes (full)", "cmaes", {"diagonal": False}),
        ("cmaes (diagonal)", "cmaes", {"diagonal": True}),
        ("momentum_es", "momentum_es", {}),
    ]
    records = []
    lines = [
        "| latent | search | rows/gen | constructor ms | ask+tell ms/gen | ORT ms/gen | share ask+tell | share ORT |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for latent in LATENTS:
            generator = linear_generator(latent, Path(folder))
            generator.generate(np.zeros((32, latent)))
            for label, method, options in variants:
                rows = []
                for seed in range(seeds):
                    started = time.perf_counter()
                    search = Timed(make_search(method, latent, np.random.default_rng(seed), **options))
                    built = time.perf_counter() - started
                    ort_before = blackbox.ort_seconds + generator.ort_seconds

                    def objective(z: np.ndarray, generator: Generator = generator) -> Evaluation:
                        p = blackbox.predict(generator.generate(z)).astype(np.float64)
                        loss = np.sum(p**2, axis=1) - 2 * p[:, 0] + 1
                        return Evaluation(loss, np.zeros(len(z), dtype=bool))

                    first = 50 if method == "momentum_es" else 32
                    rest = 20 if method == "momentum_es" else 32
                    stop = StopRule(
                        budget=first + rest * (generations - 1), patience=10**9, stop_on_success=False
                    )
                    started = time.perf_counter()
                    result = minimize(objective, search, stop)
                    wall = time.perf_counter() - started
                    ort = blackbox.ort_seconds + generator.ort_seconds - ort_before
                    rows.append(
                        {
                            "latent": latent,
                            "search": label,
                            "generations": result.generations,
                            "constructor_seconds": built,
                            "ask_tell_seconds": search.seconds,
                            "ort_seconds": ort,
                            "wall_seconds": wall,
                        }
                    )
                gens = rows[0]["generations"]
                lines.append(
                    f"| {latent} | {label} | {rest} | {np.median([1e3 * r['constructor_seconds'] for r in rows]):.1f} | "
                    f"{np.median([1e3 * r['ask_tell_seconds'] / gens for r in rows]):.2f} | "
                    f"{np.median([1e3 * r['ort_seconds'] / gens for r in rows]):.2f} | "
                    f"{sum(r['ask_tell_seconds'] for r in rows) / sum(r['wall_seconds'] for r in rows):.2f} | "
                    f"{sum(r['ort_seconds'] for r in rows) / sum(r['wall_seconds'] for r in rows):.2f} |"
                )
                records += rows
    return records, lines


def torch_copy(blackbox: BlackBox, generator: Generator) -> tuple[Any, Any, Any]:
    """The sample's CNN and VAE decoder rebuilt in torch from the ONNX weights (names match state dicts)."""
    import importlib.util

    import torch

    from generators.vae import VAE

    spec = importlib.util.spec_from_file_location("sample_build", ROOT / "sample_models" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)

    def weights(model: onnx.ModelProto, prefix: str = "") -> dict:
        return {
            init.name.removeprefix(prefix): torch.from_numpy(numpy_helper.to_array(init).copy())
            for init in model.graph.initializer
        }

    cnn = build.CNN()
    cnn.load_state_dict(weights(blackbox.model.proto))
    vae = VAE(generator.output_shape, generator.latent_dim)
    vae.decoder.load_state_dict(weights(generator.model.proto, "vae.decoder."))
    return torch, cnn.eval(), vae.eval()


def whitebox_runs(
    blackbox: BlackBox, generator: Generator, seeds: int, cap: int
) -> tuple[list[dict], list[str]]:
    """Gradient descent through torch copies, batch 1: paper 1's momentum GD on Brier, Adam on -log p."""
    try:
        torch, cnn, vae = torch_copy(blackbox, generator)
    except ImportError as exc:
        return [], [f"white-box reference skipped: {exc}"]
    torch.set_num_threads(1)
    probe = np.random.default_rng(0).standard_normal((64, generator.latent_dim))
    with torch.no_grad():
        mine = torch.softmax(cnn(vae.decode(torch.as_tensor(probe, dtype=torch.float32))), 1).numpy()
    agreement = float(np.abs(mine - blackbox.predict(generator.generate(probe))).max())
    records = []
    for protocol in ("paper GD (Brier, momentum 0.7/0.3, step 1)", "Adam lr 0.1 on -log p"):
        for seed in range(seeds):
            for target in range(blackbox.n_classes):
                z0 = np.random.default_rng([seed, target]).standard_normal(generator.latent_dim)
                z = torch.tensor(z0, dtype=torch.float32, requires_grad=True)
                adam = torch.optim.Adam([z], lr=0.1) if protocol.startswith("Adam") else None
                velocity = torch.zeros_like(z)
                hits: dict[float, tuple[int, float]] = {}
                started = time.perf_counter()
                for step in range(1, cap + 1):
                    p = torch.softmax(cnn(vae.decode(z[None])), 1)[0]
                    p_target = float(p[target].detach())
                    for level in LEVELS:
                        if p_target >= level and level not in hits:
                            hits[level] = (step, time.perf_counter() - started)
                    if len(hits) == len(LEVELS):
                        break
                    if adam is None:
                        loss = ((p - torch.nn.functional.one_hot(torch.tensor(target), len(p))) ** 2).sum()
                        (grad,) = torch.autograd.grad(loss, z)
                        with torch.no_grad():
                            velocity = 0.7 * velocity + 0.3 * grad
                            z -= velocity
                    else:
                        adam.zero_grad()
                        (-torch.log(p[target])).backward()
                        adam.step()
                records.append({"protocol": protocol, "seed": seed, "target": target, "hits": hits})
    lines = [
        f"torch copy vs ONNX Runtime: max |Δp| = {agreement:.1e} over 64 prior draws; one step = one "
        f"forward+backward of one row; cap {cap} steps",
        "",
        "| protocol | p ≥ | reached | steps | ms |",
        "|---|---|---|---|---|",
    ]
    for protocol in dict.fromkeys(r["protocol"] for r in records):
        runs = [r for r in records if r["protocol"] == protocol]
        for level in LEVELS:
            hit = [r["hits"][level] for r in runs if level in r["hits"]]
            lines.append(
                f"| {protocol} | {level} | {len(hit)}/{len(runs)} | {spread([h[0] for h in hit])} | "
                f"{spread([1e3 * h[1] for h in hit], '{:.1f}')} |"
            )
    for r in records:
        r["hits"] = {str(level): list(value) for level, value in r["hits"].items()}
    return records, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per class (default 3: 30 runs per row)")
    parser.add_argument("--budget", type=int, default=20_000, help="classifier queries per search")
    parser.add_argument("--generations", type=int, default=60, help="generations per latent-size run")
    parser.add_argument("--gd-cap", type=int, default=2_000, help="white-box steps per run")
    parser.add_argument("--json", type=Path, default=None, help="write every raw figure here")
    parser.add_argument("--only", nargs="*", default=None, help="section functions to run (default: all)")
    args = parser.parse_args()
    if not (DIGITS / "classifier.onnx").exists():
        sys.exit("sample_models/digits is not built: run sample_models/build.py")
    import cma
    import onnxruntime

    blackbox, generator = open_digits()
    print(
        f"# Exemplar search benchmark (digits sample, latent {generator.latent_dim})\n\n"
        f"onnxruntime {onnxruntime.__version__}, cma {cma.__version__}, numpy {np.__version__}, "
        f"ORT threads 1 (auditor default on <= 2 cores), OPENBLAS_NUM_THREADS="
        f"{os.environ['OPENBLAS_NUM_THREADS']}, load average at start "
        f"{', '.join(f'{v:.2f}' for v in __import__('os').getloadavg())}; "
        f"{args.seeds} seeds x {blackbox.n_classes} classes, budget {args.budget} queries, "
        "medians (min–max) over the runs that reached the level\n"
    )
    results: dict[str, list] = {}
    sections = [
        (
            "One class at a time (queries = classifier rows up to the first hit; ms = the whole call)",
            single_runs,
            (blackbox, generator, args.seeds, args.budget),
        ),
        (
            "All classes in lockstep, one batch per generation",
            lockstep_runs,
            (blackbox, generator, args.seeds, args.budget),
        ),
        (
            f"Search overhead by latent size (random linear generators, {args.generations} generations, no early stop)",
            overhead_by_latent,
            (blackbox, args.generations, args.seeds),
        ),
        (
            "White-box gradient reference (torch copy of the same weights)",
            whitebox_runs,
            (blackbox, generator, args.seeds, args.gd_cap),
        ),
    ]
    for title, function, arguments in sections:
        if args.only is not None and function.__name__ not in args.only:
            continue
        started = time.perf_counter()
        records, lines = function(*arguments)
        results[function.__name__] = records
        print(f"## {title}\n")
        print("\n".join(lines))
        print(f"\n({time.perf_counter() - started:.0f} s)\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
