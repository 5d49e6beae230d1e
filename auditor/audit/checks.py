"""The audit's checks. Each is a plan of work units and two pure functions over them.

`plan(context, settings, seed)` splits the work into slices (rows or classes); `run(context,
settings, unit)` computes one slice's partial result from the shared black box, using only the
unit's seed; `merge(context, settings, parts)` turns the partial results into an `Outcome`. The
runner maps units (locally today; another process or machine later) and merges, so a check never
knows how its units were executed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from auditor import __version__
from auditor.audit.config import AuditConfig, config_error
from auditor.data import Dataset, Preprocess, load_data
from auditor.errors import DataError
from auditor.images import colorize, grid, overlay, png_bytes, to_hwc, to_uint8, upscale
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.describe import describe
from auditor.model.generator import Encoder, Generator
from auditor.model.sandbox import FirstContact, SandboxLimits, confirm_unchanged
from auditor.model.session import SessionSettings
from auditor.report.charts import curves, reliability_diagram

IMAGE_LAYOUTS = ("NCHW", "NHWC", "HW")
REFERENCE_ROWS = 512  # generated rows standing in for data when only a generator is given
ROWS_PER_UNIT = 4096
NAMED_ROWS = 100  # at most this many row indices are listed for a finding


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Figure:
    """A picture for the report. `name` is ours (a safe file stem); `caption` may hold untrusted text."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Criterion:
    """One threshold test: `value op threshold`, with op '>=' (higher is better) or '<=' (lower is better)."""

    name: str
    value: float | None
    op: str
    threshold: float

    @property
    def passed(self) -> bool:
        if self.value is None or not np.isfinite(self.value):
            return False
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "op": self.op, "threshold": self.threshold, "passed": self.passed}


@dataclass(frozen=True)
class Outcome:
    """What a check's merge returns: its headline figure, criteria, details and pictures."""

    figure: float | None
    figure_name: str
    direction: str  # "higher" or "lower": which way the figure improves
    criteria: tuple[Criterion, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # derived settings worth recording


@dataclass(frozen=True)
class Unit:
    """One slice of a check's work: which part, which items (rows or classes), and the seed for its randomness."""

    check: str
    index: int
    part: str
    items: tuple[int, ...]
    seed: int


Slice = tuple[str, tuple[int, ...]]  # (part of the check, row or class indices)


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    settings: Callable[[AuditConfig], Any]
    missing: Callable[[Context, Any], str | None]  # why the check cannot run, or None
    plan: Callable[[Context, Any, int], list[Slice]]
    run: Callable[[Context, Any, Unit], Any]
    merge: Callable[[Context, Any, list[Any]], Outcome]
    shared_seed: bool = False  # every unit gets the check's seed (the function splits streams itself)


def unit_seed(seed: int, check: str, index: int) -> int:
    """A seed for one unit that depends only on the run's seed, the check and the unit's position."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(check.encode()), index])
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def chunks(items: Sequence[int], size: int, part: str = "rows") -> list[Slice]:
    return [(part, tuple(int(i) for i in items[s : s + size])) for s in range(0, len(items), size)]


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# --------------------------------------------------------------------------- context


class Context:
    """What every check reads: one black box, the optional generator and encoder, the data, the config."""

    def __init__(
        self,
        config: AuditConfig,
        blackbox: BlackBox,
        generator: Generator | None = None,
        encoder: Encoder | None = None,
        data: Dataset | None = None,
        sandbox: SandboxLimits | None = None,
    ) -> None:
        self.config = config
        self.blackbox = blackbox
        self.generator = generator
        self.encoder = encoder
        self.data = data
        self.sandbox = sandbox  # the limits of the first load in a child process; None when it was skipped

    @classmethod
    def open(
        cls,
        config: AuditConfig,
        base: OpenOptions = OpenOptions(),
        vet: Callable[[str, str, OpenOptions], FirstContact | None] | None = None,
        sandbox: SandboxLimits | None = None,
    ) -> Context:
        """Open the model files and the data a config names; the same config gives the same context.

        `base` carries what the config does not decide (limits, timeouts, verbosity); `vet(path, kind,
        options)` runs before each model is opened in this process (the CLI's sandboxed first load, with
        the limits `sandbox`, recorded in the report) and each model then opened must be the file it vetted.
        """
        options = open_options(config, base)
        models = [(config.model.path, "classifier")]
        if config.generator is not None:
            models.append((config.generator.path, "generator"))
            if config.generator.encoder is not None:
                models.append((config.generator.encoder, "encoder"))
        contacts = {kind: vet(str(path), kind, options) if vet is not None else None for path, kind in models}
        blackbox = BlackBox.open(config.model.path, options)
        confirm_unchanged(contacts["classifier"], blackbox.model)
        check_fits(config, blackbox)
        settings = SessionSettings(
            device=options.device, threads=options.threads, verbose=options.verbose, call_timeout=options.call_timeout
        )
        generator = encoder = None
        if config.generator is not None:
            generator = Generator.open(config.generator.path, settings, options.limits)
            confirm_unchanged(contacts["generator"], generator.model)
            if config.generator.encoder is not None:
                encoder = Encoder.open(config.generator.encoder, settings, options.limits)
                confirm_unchanged(contacts["encoder"], encoder.model)
        data = None
        if config.data is not None:
            data = _model_data(blackbox, config)
            default_names = tuple(str(i) for i in range(blackbox.n_classes))
            names = data.class_names
            if config.model.class_names is None and blackbox.class_names == default_names and names and len(names) == len(default_names):
                blackbox.class_names = names
        return cls(config, blackbox, generator, encoder, data, sandbox if vet is not None else None)

    @property
    def is_image(self) -> bool:
        return self.blackbox.layout in IMAGE_LAYOUTS

    @cached_property
    def reference(self) -> np.ndarray | None:
        """Rows that describe the input distribution: the data's reference rows, else generated rows."""
        if self.data is not None:
            return self.data.ref
        if self.generator is not None:
            rng = np.random.default_rng(unit_seed(self.config.run.seed, "reference", 0))
            rows = self.generator.generate(self.generator.sample_prior(REFERENCE_ROWS, rng))
            return self.blackbox.prepare(rows)
        return None

    @cached_property
    def value_range(self) -> tuple[float, float]:
        ref = self.reference
        if ref is None or not np.isfinite(ref).any():
            return (0.0, 1.0)
        return float(np.nanmin(ref)), float(np.nanmax(ref))

    def tile(self, row: np.ndarray, min_side: int = 84) -> np.ndarray:
        """One image input as an RGB tile in the data's value range."""
        return upscale(to_uint8(to_hwc(row, self.blackbox.layout), self.value_range), min_side)

    def class_name(self, k: int) -> str:
        return self.blackbox.class_names[k] if 0 <= k < self.blackbox.n_classes else "none"


def open_options(config: AuditConfig, base: OpenOptions = OpenOptions()) -> OpenOptions:
    """The classifier's open options: what the config says, on top of `base` for everything else."""
    m, run = config.model, config.run
    return replace(
        base,
        device=run.device,
        batch_size=m.batch_size,
        output=m.output,
        scores=m.scores,
        class_names=m.class_names,
        input_shape=m.input_shape,
        layout=m.layout,
        threads=run.threads,
    )


def check_fits(config: AuditConfig, blackbox: BlackBox) -> None:
    """Refuse, before any check runs, settings that only the model shows to be wrong (class indices, window sizes)."""
    k = blackbox.n_classes
    checks = config.checks
    e, f, t = checks.exemplars, checks.counterfactuals, checks.attributions
    if e.enabled and e.classes != "all" and max(e.classes) >= k:
        raise config_error(config, "checks.exemplars.classes", f"holds class {max(e.classes)}, but the model has {k} classes (0..{k - 1})")
    if f.enabled and isinstance(f.target, int) and f.target >= k:
        raise config_error(config, "checks.counterfactuals.target", f"is class {f.target}, but the model has {k} classes (0..{k - 1})")
    if not t.enabled:
        return
    from auditor.explain.attribution.core import Features

    view = Features(blackbox.input_shape, blackbox.layout)
    used = {"window": {"occlusion", "lime"} & set(t.methods), "stride": {"occlusion"} & set(t.methods)}
    for key, value in (("window", t.window), ("stride", t.stride)):
        if value is not None and used[key] and value > min(view.map_shape):
            raise config_error(
                config,
                f"checks.attributions.{key}",
                f"is {value}, larger than the model's input map {' x '.join(map(str, view.map_shape))}; choose at most "
                f"{min(view.map_shape)}",
            )
    if t.baseline == "blur" and not view.image:
        raise config_error(config, "checks.attributions.baseline", "is 'blur', which needs an image input; use zero or mean")


def _model_data(blackbox: BlackBox, config: AuditConfig) -> Dataset:
    """The data file read, cut to `limit` rows, in the model's layout, with labels checked against its classes."""
    assert config.data is not None
    p = config.preprocess
    data = load_data(config.data.path, Preprocess(p.size, p.mode, p.scale))
    limit = config.data.limit or len(data)
    x = blackbox.prepare(data.x[:limit])
    ref = blackbox.prepare(data.reference) if data.reference is not None else None
    y = data.y[:limit] if data.y is not None else None
    if y is not None and (y.min() < 0 or y.max() >= blackbox.n_classes):
        raise DataError(
            f"{config.data.path}: labels run from {y.min()} to {y.max()} but the model has {blackbox.n_classes} "
            "classes (0..K-1); check the data or the model"
        )
    return Dataset(x, y, data.feature_names, data.class_names, ref)


# --------------------------------------------------------------------------- provenance


def _file_facts(path: os.PathLike[str] | str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"path": str(path), "sha256": digest.hexdigest(), "size": size}


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    return {
        "auditor": __version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


CI_VARIABLES = {
    "commit": ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"),
    "run_url": ("CI_JOB_URL", "BUILD_URL"),
}


def _ci() -> dict[str, str]:
    facts = {key: next((os.environ[v] for v in names if os.environ.get(v)), "") for key, names in CI_VARIABLES.items()}
    gh = os.environ
    if not facts["run_url"] and gh.get("GITHUB_SERVER_URL") and gh.get("GITHUB_REPOSITORY") and gh.get("GITHUB_RUN_ID"):
        facts["run_url"] = f"{gh['GITHUB_SERVER_URL']}/{gh['GITHUB_REPOSITORY']}/actions/runs/{gh['GITHUB_RUN_ID']}"
    return {k: v for k, v in facts.items() if v}


def provenance_facts(ctx: Context) -> dict[str, Any]:
    """Everything needed to reproduce or identify this audit, JSON-ready; model strings are untrusted data."""
    facts = describe(ctx.blackbox)
    facts.pop("providers_available", None)
    config = ctx.config
    generator = config.generator
    facts.update(
        {
            "generator": _file_facts(generator.path) if generator else None,
            "encoder": _file_facts(generator.encoder) if generator and generator.encoder else None,
            "data": _file_facts(config.data.path) if config.data else None,
            "rows": len(ctx.data) if ctx.data is not None else 0,
            "labels": bool(ctx.data is not None and ctx.data.y is not None),
            "seed": config.run.seed,
            "config_sha256": config.digest(),
            "config_file": str(config.source) if config.source else None,
            "limits": limits_facts(ctx),
            "versions": _versions(),
            "platform": {"system": platform.system(), "machine": platform.machine(), "cpus": os.cpu_count()},
            "ci": _ci(),
        }
    )
    return facts


def time_limit(config: AuditConfig, settings: Any) -> float | None:
    """A check's wall-clock limit in seconds: its own `timeout`, else [run] check_timeout; None when 0 (no limit)."""
    own = getattr(settings, "timeout", None)
    seconds = own if own is not None else config.run.check_timeout
    return float(seconds) if seconds else None


def limits_facts(ctx: Context) -> dict[str, Any]:
    """Every limit this audit ran under (all configurable): model and row sizes, queries, time, the sandbox."""
    options, config = ctx.blackbox.options, ctx.config
    sandbox = ctx.sandbox
    return {
        "max_model_bytes": options.limits.max_file_bytes,
        "max_initializer_bytes": options.limits.max_initializer_bytes,
        "max_row_bytes": options.limits.max_row_bytes,
        "max_queries": config.run.max_queries,
        "check_timeout_s": {check.name: time_limit(config, check.settings(config)) for check in CHECKS},
        "call_timeout_s": options.call_timeout,
        "sandbox": {"memory_bytes": sandbox.memory_bytes, "timeout_s": sandbox.timeout} if sandbox else None,
    }


def nonfinite_facts(rows: Sequence[int], handling: str) -> dict[str, Any]:
    """The inputs whose own (unperturbed) scores were NaN or infinite: a finding, listed with what was done."""
    rows = sorted({int(r) for r in rows})
    return {"nonfinite_rows": len(rows), "nonfinite_row_indices": rows[:NAMED_ROWS], "nonfinite_handling": handling}


def _provenance_merge(ctx: Context, settings: None, parts: list[dict[str, Any]]) -> Outcome:
    return Outcome(None, "facts recorded", "higher", details=parts[0])


PROVENANCE = Check(
    name="provenance",
    title="Provenance",
    settings=lambda config: None,
    missing=lambda ctx, s: None,
    plan=lambda ctx, s, seed: [("facts", ())],
    run=lambda ctx, s, unit: provenance_facts(ctx),
    merge=_provenance_merge,
)


# --------------------------------------------------------------------------- accuracy


def _needs_labels(ctx: Context, settings: Any) -> str | None:
    if ctx.data is None:
        return "no data given (add [data] path to the config or pass --data FILE with labels y)"
    if ctx.data.y is None:
        return "the data has no labels (y), so accuracy cannot be measured"
    return None


def _row_plan(ctx: Context, settings: Any, seed: int) -> list[Slice]:
    assert ctx.data is not None
    return chunks(range(len(ctx.data)), ROWS_PER_UNIT)


def _accuracy_run(ctx: Context, settings: Any, unit: Unit) -> np.ndarray:
    assert ctx.data is not None
    return ctx.blackbox.predict(ctx.data.x[list(unit.items)])


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int) -> dict[str, Any]:
    """Expected calibration error over equal-width confidence bins, with the reliability table."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    hits = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    n = max(len(confidence), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = hits / counts
        mean_conf = conf_sum / counts
    ece = float(np.sum(np.where(counts > 0, np.abs(accuracy - mean_conf) * counts / n, 0.0)))
    return {
        "ece": ece,
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "accuracy": [float(a) if c else None for a, c in zip(accuracy, counts)],
        "confidence": [float(m) if c else None for m, c in zip(mean_conf, counts)],
    }


def _ratio(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [float(a / b) if b else None for a, b in zip(num, den)]


def _accuracy_merge(ctx: Context, s: Any, parts: list[np.ndarray]) -> Outcome:
    assert ctx.data is not None and ctx.data.y is not None
    probs = np.concatenate(parts)
    y = ctx.data.y
    k = ctx.blackbox.n_classes
    finite = np.isfinite(probs).all(axis=1)
    pred = np.where(finite, np.nan_to_num(probs).argmax(axis=1), -1)
    correct = pred == y
    confusion = np.zeros((k, k + 1), dtype=np.int64)  # last column: no prediction (non-finite scores)
    np.add.at(confusion, (y, np.where(pred < 0, k, pred)), 1)
    support = confusion.sum(axis=1)
    predicted = confusion[:, :k].sum(axis=0)
    true_pos = np.diag(confusion[:, :k])
    recall, precision = _ratio(true_pos, support), _ratio(true_pos, predicted)
    confidence = np.where(finite, np.nan_to_num(probs).max(axis=1), 0.0)
    cal = calibration(confidence, correct, s.bins)
    accuracy = float(correct.mean())
    p_true = np.where(finite, np.nan_to_num(probs)[np.arange(len(y)), y], 0.0)
    criteria = []
    if s.min is not None:
        criteria.append(Criterion("accuracy", accuracy, ">=", s.min))
    if s.max_ece is not None:
        criteria.append(Criterion("expected calibration error", cal["ece"], "<=", s.max_ece))
    present = [r for r in recall if r is not None]
    worst_recall = min(present) if present else None
    if s.min_class_recall is not None:
        criteria.append(Criterion("lowest per-class recall", worst_recall, ">=", s.min_class_recall))
    classes = [
        {
            "class": i,
            "name": ctx.class_name(i),
            "support": int(support[i]),
            "recall": recall[i],
            "precision": precision[i],
            "f1": (2 * recall[i] * precision[i] / (recall[i] + precision[i]))
            if recall[i] is not None and precision[i] is not None and (recall[i] + precision[i]) > 0
            else None,
        }
        for i in range(k)
    ]
    details = {
        "rows": len(y),
        "accuracy": accuracy,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "lowest_class_recall": worst_recall,
        "log_loss": float(-np.mean(np.log(np.clip(p_true, 1e-12, 1.0)))),
        "brier": float(np.mean(np.sum((np.nan_to_num(probs) - np.eye(k)[y]) ** 2, axis=1))),
        "nonfinite_rows": int((~finite).sum()),
        "nonfinite_row_indices": [int(i) for i in np.flatnonzero(~finite)[:NAMED_ROWS]],
        "per_class": classes,
        "confusion_matrix": confusion[:, :k].tolist(),
        "unpredicted": confusion[:, k].tolist(),
        "calibration": cal,
    }
    chart = reliability_diagram(cal["edges"], cal["accuracy"], cal["counts"])
    figures = (Figure("accuracy-reliability", f"Reliability diagram, ECE {cal['ece']:.3f}", png_bytes(chart)),)
    return Outcome(accuracy, "accuracy", "higher", tuple(criteria), details, figures)


ACCURACY = Check(
    name="accuracy",
    title="Accuracy and calibration",
    settings=lambda config: config.checks.accuracy,
    missing=_needs_labels,
    plan=_row_plan,
    run=_accuracy_run,
    merge=_accuracy_merge,
)


# --------------------------------------------------------------------------- stability

FLIP_EXAMPLES = 8


def _stability_missing(ctx: Context, s: Any) -> str | None:
    if ctx.data is None and ctx.generator is None:
        return "no inputs to perturb: give data ([data] / --data) or a generator"
    return None


def _stability_plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    per_unit = max(1, ROWS_PER_UNIT // s.repeats)  # a unit's noisy rows stay near ROWS_PER_UNIT
    if ctx.data is None:
        return chunks(range(s.samples), per_unit)
    rng = np.random.default_rng(unit_seed(seed, "stability-rows", 0))
    n = len(ctx.data)
    rows = np.sort(rng.permutation(n)[: min(s.samples, n)])
    return chunks(rows, per_unit)


def noise_scale(ctx: Context, noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element noise std and clip bounds: a fraction of the value range for images, of each feature's std else."""
    ref = ctx.reference
    assert ref is not None
    if ctx.is_image:
        lo, hi = ctx.value_range
        shape = ref.shape[1:]
        return np.full(shape, noise * (hi - lo)), np.full(shape, lo), np.full(shape, hi)
    return noise * np.nanstd(ref, axis=0), np.nanmin(ref, axis=0), np.nanmax(ref, axis=0)


def _stability_rows(ctx: Context, unit: Unit, rng: np.random.Generator) -> np.ndarray:
    if ctx.data is not None:
        return ctx.data.x[list(unit.items)]
    assert ctx.generator is not None
    z = ctx.generator.sample_prior(len(unit.items), rng)
    return ctx.blackbox.prepare(ctx.generator.generate(z))


def _stability_run(ctx: Context, s: Any, unit: Unit) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(unit.seed)
    x = _stability_rows(ctx, unit, rng).astype(np.float32)
    std, lo, hi = noise_scale(ctx, s.noise)
    noisy = np.repeat(x, s.repeats, axis=0)
    noisy = np.clip(noisy + rng.standard_normal(noisy.shape) * std, lo, hi).astype(np.float32)
    labels = ctx.blackbox.predict_labels(np.concatenate([x, noisy]))
    clean, perturbed = labels[: len(x)], labels[len(x) :].reshape(len(x), s.repeats)
    flipped = np.flatnonzero((perturbed != clean[:, None]).any(axis=1) & (clean >= 0))[:FLIP_EXAMPLES]
    first = [int(np.flatnonzero(perturbed[i] != clean[i])[0]) for i in flipped]
    return {
        "items": np.asarray(unit.items, dtype=np.int64),
        "clean": clean,
        "noisy": perturbed,
        "example_clean": x[flipped],
        "example_noisy": noisy.reshape(len(x), s.repeats, *x.shape[1:])[flipped, first],
        "example_labels": np.array([[clean[i], perturbed[i, j]] for i, j in zip(flipped, first)]).reshape(-1, 2),
    }


def _stability_merge(ctx: Context, s: Any, parts: list[dict[str, np.ndarray]]) -> Outcome:
    clean_all = np.concatenate([p["clean"] for p in parts])
    noisy_all = np.concatenate([p["noisy"] for p in parts])
    scored = clean_all >= 0  # rows whose own prediction is finite; the others cannot flip and are left out
    skipped = np.concatenate([p["items"] for p in parts])[~scored]
    clean, noisy = clean_all[scored], noisy_all[scored]
    flips = noisy != clean[:, None]
    k = ctx.blackbox.n_classes
    rate = float(flips.mean()) if flips.size else None
    per_class = []
    for c in range(k):
        rows = clean == c
        targets = np.bincount(noisy[rows][flips[rows]].clip(-1) + 1, minlength=k + 1)[1:]
        per_class.append(
            {
                "class": c,
                "name": ctx.class_name(c),
                "rows": int(rows.sum()),
                "flip_rate": float(flips[rows].mean()) if rows.any() else None,
                "most_common_target": int(targets.argmax()) if targets.any() else None,
            }
        )
    rates = [c["flip_rate"] for c in per_class if c["flip_rate"] is not None]
    criteria = []
    if s.max_flip_rate is not None:
        criteria.append(Criterion("flip rate", rate, "<=", s.max_flip_rate))
    if s.max_class_flip_rate is not None:
        criteria.append(Criterion("highest per-class flip rate", max(rates) if rates else None, "<=", s.max_class_flip_rate))
    std, _, _ = noise_scale(ctx, s.noise)
    details = {
        "inputs": "data rows" if ctx.data is not None else "generator prior samples",
        "rows": len(clean),
        "perturbed_rows": int(flips.size),
        "flip_rate": rate,
        "rows_with_a_flip": float(flips.any(axis=1).mean()) if len(clean) else None,
        "highest_class_flip_rate": max(rates) if rates else None,
        "invalid_predictions": int((noisy_all < 0).sum() + (~scored).sum()),
        "nonfinite_noisy": int((noisy < 0).sum()),  # noisy copies of a scored row without a finite prediction
        **nonfinite_facts(skipped, "these inputs were left out of the flip rates"),
        "per_class": per_class,
        "noise": {"kind": "gaussian", "relative_to": "value range" if ctx.is_image else "feature std",
                  "fraction": s.noise, "mean_std": float(np.mean(std))},
    }
    figures: tuple[Figure, ...] = ()
    examples = [(c, n, lab) for p in parts for c, n, lab in zip(p["example_clean"], p["example_noisy"], p["example_labels"])]
    examples = examples[:FLIP_EXAMPLES]
    if ctx.is_image and examples:
        tiles = [t for c, n, _ in examples for t in (ctx.tile(c), ctx.tile(n))]
        caption = "Pairs (clean, noisy) whose prediction flipped: " + "; ".join(
            f"{ctx.class_name(int(a))} → {ctx.class_name(int(b))}" for _, _, (a, b) in examples
        )
        figures = (Figure("stability-flips", caption, png_bytes(grid(tiles, 4))),)
    details["examples"] = [{"clean": int(a), "noisy": int(b)} for _, _, (a, b) in examples]
    return Outcome(rate, "flip rate", "lower", tuple(criteria), details, figures)


STABILITY = Check(
    name="stability",
    title="Stability under input noise",
    settings=lambda config: config.checks.stability,
    missing=_stability_missing,
    plan=_stability_plan,
    run=_stability_run,
    merge=_stability_merge,
)


def settings_dict(settings: Any) -> dict[str, Any]:
    """A check's settings as JSON-ready values."""
    if settings is None:
        return {}
    out = asdict(settings)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


# --------------------------------------------------------------------------- exemplars

EXEMPLAR_CLASSES_PER_UNIT = 5


def _exemplars_missing(ctx: Context, s: Any) -> str | None:
    if not module_available("auditor.explain.exemplars"):
        return "the exemplar search (auditor.explain.exemplars) is not part of this build"
    if ctx.generator is None and (ctx.is_image or ctx.data is None):
        return "no generator given ([generator] path / --generator); image exemplars need one, tables need data"
    return None


def _exemplar_classes(ctx: Context, s: Any) -> list[int]:
    return list(range(ctx.blackbox.n_classes)) if s.classes == "all" else list(s.classes)


def _exemplars_plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    return chunks(_exemplar_classes(ctx, s), EXEMPLAR_CLASSES_PER_UNIT, "classes")


def _exemplars_run(ctx: Context, s: Any, unit: Unit) -> Any:
    from auditor.explain.exemplars import exemplars

    return exemplars(
        ctx.blackbox,
        ctx.generator,
        list(unit.items),
        n=s.per_class,
        method=s.method,
        budget=s.budget or ctx.config.run.budget,
        rng=unit.seed,
        threshold=s.min_confidence,
        reference=ctx.reference if ctx.generator is None else None,
    )


def _exemplars_merge(ctx: Context, s: Any, parts: list[Any]) -> Outcome:
    classes = [c for part in parts for c in part.classes]
    rows, figures, listed = [], [], []
    for c in classes:
        conf = [e.confidence for e in c.exemplars]
        firsts = [e.first_success_queries for e in c.exemplars if e.success and e.first_success_queries is not None]
        rows.append(
            {
                "class": c.target,
                "name": c.target_name,
                "best_confidence": float(max(conf)),
                "found": int(sum(e.success for e in c.exemplars)),
                "searches": len(c.exemplars),
                "queries": int(c.queries),
                "median_queries_to_reach": float(np.median(firsts)) if firsts else None,
                "mean_latent_distance": c.mean_distance,
                "stop_reasons": sorted({e.stop_reason for e in c.exemplars}),
            }
        )
        for e in c.exemplars:
            entry: dict[str, Any] = {
                "target": c.target,
                "target_name": c.target_name,
                "confidence": e.confidence,
                "success": e.success,
                "queries": e.queries,
                "latent": [float(v) for v in e.latent],
            }
            if not ctx.is_image:
                entry["input"] = [float(v) for v in np.asarray(e.input).reshape(-1)]
            listed.append(entry)
        if ctx.is_image:
            tiles = [ctx.tile(e.input) for e in c.exemplars]
            caption = f"Class {c.target_name}: confidence " + ", ".join(f"{v:.3f}" for v in conf)
            figures.append(Figure(f"exemplars-class-{c.target}", caption, png_bytes(grid(tiles, len(tiles)))))
    reached = [r for r in rows if r["found"] > 0]
    share = len(reached) / len(rows) if rows else 0.0
    criteria = (Criterion("classes reached", share, ">=", s.min_reached),) if s.min_reached is not None else ()
    space = parts[0].space if parts else "latent"
    details = {
        "space": space,
        "method": s.method,
        "threshold": s.min_confidence,
        "classes_reached": share,
        "unreached": [r["name"] for r in rows if r["found"] == 0],
        "per_class": rows,
        "exemplars": listed,
    }
    derived = {"budget": s.budget or ctx.config.run.budget, "space": space}
    return Outcome(share, "classes reached", "higher", criteria, details, tuple(figures), derived)


EXEMPLARS = Check(
    name="exemplars",
    title="Class exemplars through the generator",
    settings=lambda config: config.checks.exemplars,
    missing=_exemplars_missing,
    plan=_exemplars_plan,
    run=_exemplars_run,
    merge=_exemplars_merge,
    shared_seed=True,
)


# --------------------------------------------------------------------------- shared helpers for the explanation checks


def pick_rows(ctx: Context, n: int, seed: int, tag: str) -> list[int]:
    """n data rows spread over the classes: round robin over the labels after a seeded shuffle."""
    assert ctx.data is not None
    order = np.random.default_rng(unit_seed(seed, tag, 0)).permutation(len(ctx.data))
    if ctx.data.y is None:
        return [int(i) for i in order[:n]]
    y = ctx.data.y[order]
    rank = np.zeros(len(order), dtype=np.int64)
    for c in np.unique(y):
        rank[y == c] = np.arange(int((y == c).sum()))
    return [int(i) for i in order[np.lexsort((y, rank))][:n]]


def _diff_tile(ctx: Context, before: np.ndarray, after: np.ndarray, min_side: int = 84) -> np.ndarray:
    """The change between two image inputs as a signed blue-white-red map (channels summed)."""
    delta = to_hwc(np.asarray(after, np.float64) - np.asarray(before, np.float64), ctx.blackbox.layout).sum(axis=2)
    return upscale(colorize(delta), min_side)


def _heat_tile(ctx: Context, x: np.ndarray, heat: np.ndarray, min_side: int = 84) -> np.ndarray:
    rgb = to_uint8(to_hwc(x, ctx.blackbox.layout), ctx.value_range)
    heat = np.asarray(heat, np.float64).reshape(rgb.shape[:2])
    return upscale(overlay(rgb, heat), min_side)


# --------------------------------------------------------------------------- counterfactuals

CF_ROWS_PER_UNIT = 10
CF_PAIRS_PER_UNIT = 40


def _cf_missing(ctx: Context, s: Any) -> str | None:
    if not module_available("auditor.explain.counterfactuals"):
        return "the counterfactual search (auditor.explain.counterfactuals) is not part of this build"
    if ctx.data is None:
        return "no inputs to explain: give data ([data] path / --data)"
    return None


def _cf_plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    slices = chunks(pick_rows(ctx, s.samples, seed, "counterfactual-rows"), CF_ROWS_PER_UNIT, "samples")
    k = ctx.blackbox.n_classes
    if s.matrix and k >= 2:
        rows = pick_rows(ctx, s.matrix_per_class * k, seed, "matrix-rows")
        slices += chunks(rows, max(1, CF_PAIRS_PER_UNIT // (k - 1)), "matrix")
    return slices


CfPart = tuple[str, list[int], list[Any], list[int]]  # (part, explained rows, their results, non-finite rows)


def _cf_run(ctx: Context, s: Any, unit: Unit) -> CfPart:
    from auditor.explain.counterfactuals import counterfactuals

    assert ctx.data is not None
    budget = s.budget or ctx.config.run.budget
    common: dict[str, Any] = {
        "generator": ctx.generator,
        "encoder": ctx.encoder,
        "reference": ctx.reference,
        "method": s.method,
        "rng": unit.seed,
    }
    x = ctx.data.x[list(unit.items)]
    labels = ctx.blackbox.predict_labels(x)  # -1: the input's own scores are NaN or infinite; it cannot be explained
    skipped = [unit.items[i] for i in np.flatnonzero(labels < 0)]
    if unit.part == "samples":
        keep = np.flatnonzero(labels >= 0)
        if not keep.size:
            return unit.part, [], [], skipped
        results = counterfactuals(ctx.blackbox, x[keep], s.target, budget=budget, **common)
        return unit.part, [unit.items[i] for i in keep], results, skipped
    pairs = [(i, b) for i, a in enumerate(labels) if a >= 0 for b in range(ctx.blackbox.n_classes) if b != a]
    if not pairs:
        return unit.part, [], [], skipped
    rows, goals = np.array([i for i, _ in pairs]), np.array([b for _, b in pairs])
    results = counterfactuals(ctx.blackbox, x[rows], goals, budget=s.matrix_budget, **common)
    return unit.part, [unit.items[i] for i in rows], results, skipped


def _flip_matrix(ctx: Context, results: list[Any]) -> dict[str, Any]:
    k = ctx.blackbox.n_classes
    distance: list[list[float | None]] = [[None] * k for _ in range(k)]
    success: list[list[float | None]] = [[None] * k for _ in range(k)]
    attempts = np.zeros((k, k), dtype=np.int64)
    groups: dict[tuple[int, int], list[Any]] = {}
    for r in results:
        groups.setdefault((r.source, int(r.targets[0])), []).append(r)
    for (a, b), group in groups.items():
        ok = [float(r.l2[0]) for r in group if r.valid[0]]
        attempts[a, b] = len(group)
        success[a][b] = len(ok) / len(group)
        distance[a][b] = float(np.median(ok)) if ok else None
    finite = [v for row in distance for v in row if v is not None]
    return {
        "distance_l2": distance,
        "success": success,
        "attempts": attempts.tolist(),
        "max_distance": max(finite) if finite else None,
    }


def _cf_merge(ctx: Context, s: Any, parts: list[CfPart]) -> Outcome:
    from auditor.explain.metrics import summarize

    samples = [(row, r) for part, rows, results, _ in parts if part == "samples" for row, r in zip(rows, results)]
    matrix = [r for part, _, results, _ in parts if part == "matrix" for r in results]
    skipped = [row for _, _, _, rows in parts for row in rows]
    summary = summarize([r for _, r in samples])
    validity = summary.validity_rate if np.isfinite(summary.validity_rate) else None
    listed, figures = [], []
    for row, r in samples:
        listed.append(
            {
                "index": row,
                "source": r.source,
                "source_name": ctx.class_name(r.source),
                "target": r.target,
                "target_name": ctx.class_name(r.target),
                "valid": bool(r.valid[0]),
                "confidence": float(r.confidence[0]),
                "l1": float(r.l1[0]),
                "l2": float(r.l2[0]),
                "l1_scaled": float(r.l1_scaled[0]),
                "changed": int(r.changed[0]),
                "realism": float(r.realism[0]),
                "reconstruction": float(r.reconstruction[0]),
                "queries": int(r.queries),
                "stop_reason": r.stop_reasons[0] if r.stop_reasons else None,
            }
        )
        if ctx.is_image:
            x, xc = r.x, r.counterfactuals[0]
            tiles = [ctx.tile(x), ctx.tile(xc), _diff_tile(ctx, x, xc)]
            verdict = "valid" if r.valid[0] else "not valid"
            caption = (
                f"Row {row}: {ctx.class_name(r.source)} → {ctx.class_name(r.target)} ({verdict}, "
                f"p = {float(r.confidence[0]):.3f}, L2 {float(r.l2[0]):.3g}); input, counterfactual, change"
            )
            figures.append(Figure(f"counterfactual-{len(figures)}", caption, png_bytes(grid(tiles, 3))))
    criteria = (Criterion("validity", validity, ">=", s.min_validity),) if s.min_validity is not None else ()
    space = samples[0][1].space if samples else ("latent" if ctx.generator is not None else "input")
    details: dict[str, Any] = {
        "space": space,
        "method": s.method,
        "target": s.target,
        "inputs": summary.inputs,
        "validity": validity,
        "median_l1": summary.median_l1,
        "median_l2": summary.median_l2,
        "median_l1_scaled": summary.median_l1_scaled,
        "median_changed": summary.median_changed,
        "median_realism": summary.median_realism,
        "median_queries": summary.median_queries,
        "counterfactuals": listed,
        "flip_matrix": _flip_matrix(ctx, matrix) if matrix else None,
        **nonfinite_facts(skipped, "these inputs were not explained and are left out of the figures"),
    }
    derived = {"budget": s.budget or ctx.config.run.budget, "space": space}
    return Outcome(validity, "validity", "higher", criteria, details, tuple(figures), derived)


COUNTERFACTUALS = Check(
    name="counterfactuals",
    title="Counterfactuals and flip distances",
    settings=lambda config: config.checks.counterfactuals,
    missing=_cf_missing,
    plan=_cf_plan,
    run=_cf_run,
    merge=_cf_merge,
)


# --------------------------------------------------------------------------- attributions

TOP_FEATURES = 8


def _attr_missing(ctx: Context, s: Any) -> str | None:
    if not module_available("auditor.explain.attribution.metrics"):
        return "the attribution methods (auditor.explain.attribution) are not part of this build"
    if ctx.data is None and ctx.generator is None:
        return "no inputs to explain: give data ([data] / --data) or a generator"
    return None


def _attr_plan(ctx: Context, s: Any, seed: int) -> list[Slice]:
    rows = pick_rows(ctx, s.samples, seed, "attribution-rows") if ctx.data is not None else list(range(s.samples))
    return chunks(rows, 1, "samples")


def attribution_baseline(ctx: Context, s: Any) -> str | float:
    if s.baseline != "auto":
        return s.baseline
    return "zero" if ctx.is_image or ctx.reference is None else "mean"


AttrPart = tuple[int, np.ndarray, list[tuple[Any, Any]], bool]  # (row, input, (map, faithfulness) per method, scored)


def _attr_run(ctx: Context, s: Any, unit: Unit) -> AttrPart:
    from auditor.explain.attribution import faithfulness, gaussian_lime, lime, occlusion

    rng = np.random.default_rng(unit.seed)
    x = _stability_rows(ctx, unit, rng)[0]
    bb, ref = ctx.blackbox, ctx.reference
    if bb.predict_labels(x[None])[0] < 0:  # NaN or infinite scores for the input itself: nothing to explain
        return unit.items[0], x, [], False
    baseline = attribution_baseline(ctx, s)
    maps = []
    for method in s.methods:
        seed = int(rng.integers(2**31))
        if method == "occlusion":
            a = occlusion(bb, x, baseline=baseline, window=s.window, stride=s.stride, reference=ref, rng=seed)
        elif method == "lime":
            a = lime(bb, x, baseline=baseline, samples=s.lime_samples, window=s.window, reference=ref, rng=seed)
        else:
            a = gaussian_lime(bb, x, samples=s.lime_samples, reference=ref, rng=seed)
        f = faithfulness(
            bb, x, a.map, target=a.target, baseline=baseline, steps=s.steps, orders=s.orders, reference=ref, rng=seed
        )
        maps.append((a, f))
    return unit.items[0], x, maps, True


def _attr_merge(ctx: Context, s: Any, parts: list[AttrPart]) -> Outcome:
    rows, figures = [], []
    names = ctx.data.feature_names if ctx.data is not None else None
    for row, x, maps, _ in parts:
        for a, f in maps:
            faithful = f.deletion_auc < f.random_deletion_auc and f.insertion_auc > f.random_insertion_auc
            entry: dict[str, Any] = {
                "index": row,
                "method": a.method,
                "target": a.target,
                "target_name": ctx.class_name(a.target),
                "score": a.score,
                "score_input": a.score_input,
                "deletion_auc": f.deletion_auc,
                "insertion_auc": f.insertion_auc,
                "random_deletion_auc": f.random_deletion_auc,
                "random_insertion_auc": f.random_insertion_auc,
                "faithful": bool(faithful),
                "fidelity": a.fidelity,
                "queries": int(a.queries + f.queries),
                "shape": list(a.shape),
            }
            if not ctx.is_image:
                flat_map = np.asarray(a.map, np.float64).reshape(-1)
                top = np.argsort(-np.abs(flat_map), kind="stable")[:TOP_FEATURES]
                entry["top_features"] = [
                    {
                        "feature": int(i),
                        "name": names[i] if names and i < len(names) else str(int(i)),
                        "attribution": float(flat_map[i]),
                        "value": float(np.asarray(x).reshape(-1)[i]),
                    }
                    for i in top
                ]
            rows.append(entry)
        label = ctx.class_name(maps[0][0].target) if maps else ""
        if ctx.is_image and maps:
            tiles = [ctx.tile(x)] + [_heat_tile(ctx, x, a.map) for a, _ in maps]
            caption = f"Row {row}, explained class {label}: input, then " + ", ".join(a.method for a, _ in maps)
            figures.append(Figure(f"attribution-{len(figures)}", caption, png_bytes(grid(tiles, len(tiles)))))
        if maps:
            series = {}
            for a, f in maps:
                series[f"{a.method} deletion"] = (f.fractions, _unit_curve(f.deletion, f.deletion[0]))
            first = maps[0][1]
            series["random deletion"] = (first.fractions, _unit_curve(first.random_deletion, first.deletion[0]))
            chart = curves(series, "share of features removed", "score / score of the input", f"Deletion, row {row}")
            figures.append(Figure(f"attribution-{len(figures)}", f"Deletion curves, row {row} ({label})", png_bytes(chart)))
    share = float(np.mean([r["faithful"] for r in rows])) if rows else None
    criteria = (Criterion("faithful maps", share, ">=", s.min_faithful),) if s.min_faithful is not None else ()
    details = {
        "baseline": attribution_baseline(ctx, s),
        "methods": list(s.methods),
        "faithful_share": share,
        "median_deletion_auc": float(np.median([r["deletion_auc"] for r in rows])) if rows else None,
        "median_random_deletion_auc": float(np.median([r["random_deletion_auc"] for r in rows])) if rows else None,
        "median_insertion_auc": float(np.median([r["insertion_auc"] for r in rows])) if rows else None,
        "median_random_insertion_auc": float(np.median([r["random_insertion_auc"] for r in rows])) if rows else None,
        "maps": rows,
        **nonfinite_facts([row for row, _, _, scored in parts if not scored], "these inputs were not explained"),
    }
    return Outcome(share, "faithful maps", "higher", criteria, details, tuple(figures), {"baseline": details["baseline"]})


def _unit_curve(values: np.ndarray, start: float) -> np.ndarray:
    """A score curve over the input's own score, so curves of different scales share one chart."""
    return np.asarray(values, np.float64) / start if start else np.asarray(values, np.float64)


ATTRIBUTIONS = Check(
    name="attributions",
    title="Attribution maps and their faithfulness",
    settings=lambda config: config.checks.attributions,
    missing=_attr_missing,
    plan=_attr_plan,
    run=_attr_run,
    merge=_attr_merge,
)


#: Every check, in report order.
CHECKS = (PROVENANCE, ACCURACY, STABILITY, EXEMPLARS, COUNTERFACTUALS, ATTRIBUTIONS)
