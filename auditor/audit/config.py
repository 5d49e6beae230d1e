"""`audit.toml` read into frozen dataclasses; unknown keys, wrong types and missing files name key, file and line."""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from auditor.errors import ConfigError
from auditor.jsonable import jsonable
from auditor.model.session import DEVICES
from auditor.model.signature import SCORE_KINDS, SETTABLE_LAYOUTS

HTML_MODES = ("inline", "folder")
FAIL_ON = ("failed", "any", "never")
FORMATS = ("html", "json", "junit", "sarif", "markdown")
SEARCH_METHODS = ("momentum_es", "es", "cmaes", "random")
CF_TARGETS = ("second", "any")
ATTRIBUTION_METHODS = ("occlusion", "lime", "gaussian-lime")
ATTRIBUTION_BASELINES = ("auto", "zero", "mean", "blur", "noise")

# Upper bounds that keep a valid-looking number from exhausting memory or time before any limit can act.
MAX_SEARCH_BUDGET = 10**8  # classifier queries per search
MAX_TOTAL_QUERIES = 10**12  # classifier queries per audit
MAX_SECONDS = 7 * 86400.0  # a check's wall-clock limit
MAX_THREADS = 1024
MAX_BATCH = 2**20
MAX_DIM = 2**31 - 1  # one axis of an input shape
MAX_IMAGE_SIDE = 8192  # preprocess.size
MAX_ROWS = 10**6  # rows a check samples or perturbs
MAX_EXPLAINED = 10**5  # inputs a counterfactual or attribution check explains
MAX_REPEATS = 1000  # noisy copies of one row
MAX_PER_CLASS = 100  # exemplar searches per class
MAX_CLASSES = 10**5  # class indices in a list
MAX_BINS = 1000
MAX_NOISE = 10.0  # noise std over the value range or the feature std
MAX_WINDOW = 2**16
MAX_LIME_SAMPLES = 10**5
MAX_STEPS = 1000
MAX_ORDERS = 100
MAX_MATRIX_PER_CLASS = 1000
DEFAULT_MAX_QUERIES = 10**7  # total classifier queries per audit
DEFAULT_CHECK_TIMEOUT = 600.0  # seconds per check; 0 means no limit


@dataclass(frozen=True)
class ModelConfig:
    path: Path
    class_names: tuple[str, ...] | None = None
    output: str | None = None
    scores: str | None = None
    input_shape: tuple[int, ...] | None = None
    layout: str | None = None
    batch_size: int | None = None


@dataclass(frozen=True)
class GeneratorConfig:
    path: Path
    encoder: Path | None = None


@dataclass(frozen=True)
class DataConfig:
    path: Path
    limit: int | None = None  # use at most this many rows (the first ones)


@dataclass(frozen=True)
class PreprocessConfig:
    size: tuple[int, int] | None = None
    mode: str = "RGB"
    scale: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class RunConfig:
    seed: int = 0
    device: str = "auto"
    budget: int = 1000  # classifier queries per search (one exemplar, one counterfactual)
    threads: int | None = None
    max_queries: int = (
        DEFAULT_MAX_QUERIES  # classifier queries for the whole audit; a check past it is not finished
    )
    check_timeout: float = (
        DEFAULT_CHECK_TIMEOUT  # seconds per check (0: none); a check past it is not finished
    )
    out: Path = Path("audit-out")
    html_mode: str = "inline"
    fail_on: str = "failed"
    formats: tuple[str, ...] = FORMATS


@dataclass(frozen=True)
class BaselineConfig:
    path: Path | None = None
    max_regression: float = 0.02  # largest allowed worsening of any check's figure


@dataclass(frozen=True)
class AccuracySettings:
    enabled: bool = True
    min: float | None = None
    max_ece: float | None = None
    min_class_recall: float | None = None
    bins: int = 10
    timeout: float | None = None  # seconds for this check; None: [run] check_timeout, 0: no limit


@dataclass(frozen=True)
class StabilitySettings:
    enabled: bool = True
    noise: float = 0.05  # Gaussian noise std: a fraction of the value range (images) or feature std (tables)
    samples: int = 500  # rows tested
    repeats: int = 4  # noisy copies per row
    max_flip_rate: float | None = 0.05
    max_class_flip_rate: float | None = None
    timeout: float | None = None  # seconds for this check; None: [run] check_timeout, 0: no limit


@dataclass(frozen=True)
class ExemplarSettings:
    enabled: bool = True
    classes: str | tuple[int, ...] = "all"
    per_class: int = 3
    min_confidence: float = 0.9
    method: str = "momentum_es"
    budget: int | None = None  # queries per search; defaults to [run] budget
    min_reached: float | None = 1.0  # share of classes that must reach min_confidence
    timeout: float | None = None  # seconds for this check; None: [run] check_timeout, 0: no limit


@dataclass(frozen=True)
class CounterfactualSettings:
    enabled: bool = True
    samples: int = 10
    target: str | int = "second"
    method: str = "cmaes"
    budget: int | None = None
    min_validity: float | None = 0.8
    matrix: bool = True  # the one-vs-one flip-distance matrix between classes
    matrix_per_class: int = 1  # inputs per predicted class sent to every other class
    matrix_budget: int = 300  # queries per matrix search (K·(K-1)·matrix_per_class searches)
    timeout: float | None = None  # seconds for this check; None: [run] check_timeout, 0: no limit


@dataclass(frozen=True)
class AttributionSettings:
    enabled: bool = True
    methods: tuple[str, ...] = ("occlusion",)
    samples: int = 4
    baseline: str | float = "auto"  # auto: zero for images, the reference mean for tables
    window: int | None = None
    stride: int | None = None
    lime_samples: int = 500
    steps: int = 50  # deletion / insertion curve steps
    orders: int = 5  # random orders the curves are compared with
    min_faithful: float | None = 0.5  # share of maps that beat random orders on deletion and insertion
    timeout: float | None = None  # seconds for this check; None: [run] check_timeout, 0: no limit


@dataclass(frozen=True)
class ChecksConfig:
    accuracy: AccuracySettings = AccuracySettings()
    stability: StabilitySettings = StabilitySettings()
    exemplars: ExemplarSettings = ExemplarSettings()
    counterfactuals: CounterfactualSettings = CounterfactualSettings()
    attributions: AttributionSettings = AttributionSettings()


@dataclass(frozen=True)
class AuditConfig:
    model: ModelConfig
    generator: GeneratorConfig | None = None
    data: DataConfig | None = None
    preprocess: PreprocessConfig = PreprocessConfig()
    run: RunConfig = RunConfig()
    baseline: BaselineConfig = BaselineConfig()
    checks: ChecksConfig = ChecksConfig()
    source: Path | None = field(default=None, compare=False)  # the config file, when there is one

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (paths as given strings), for the report and the config hash."""
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self) if f.name != "source"}

    def digest(self) -> str:
        """SHA-256 of the settings that decide the results (output options excluded)."""
        data = self.to_dict()
        for key in ("out", "html_mode", "fail_on", "formats"):
            data["run"].pop(key, None)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


# --------------------------------------------------------------------------- reading


class _Reader:
    """Validates one parsed TOML document, reporting errors with the file and the key's line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.base = path.parent
        self.lines = text.splitlines()

    def fail(self, dotted: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{self.line_of(dotted)}: '{dotted}' {message}")

    def line_of(self, dotted: str) -> int:
        """1-based line of a dotted key: its own [header], else the key inside its table, else anywhere."""
        parts = dotted.split(".")
        key, table = parts[-1], ".".join(parts[:-1])
        headers = [
            (i, m.group(1).replace(" ", ""))
            for i, line in enumerate(self.lines)
            if (m := _HEADER.match(line))
        ]
        for i, name in headers:
            if name == dotted:
                return i + 1
        key_re = re.compile(rf"^\s*(?:[\w\"'-]+\s*\.\s*)*[\"']?{re.escape(key)}[\"']?\s*=")

        def matches(line: str) -> bool:
            return key_re.match(line) is not None or _inline_key(line, key)

        bounds = [i for i, _ in headers] + [len(self.lines)]
        if not table:
            span = range(0, bounds[0])
        else:
            found = [(i, bounds[bounds.index(i) + 1]) for i, name in headers if name == table]
            span = range(found[0][0] + 1, found[0][1]) if found else range(0)
        for i in [*span, *range(len(self.lines))]:
            if matches(self.lines[i]):
                return i + 1
        for i, name in headers:
            if name == table:
                return i + 1
        return 1

    def table(self, raw: dict[str, Any], name: str, known: tuple[str, ...]) -> dict[str, Any]:
        for key in raw:
            if key not in known:
                raise self.fail(
                    f"{name}.{key}" if name else key, f"is not a known key (known: {', '.join(known)})"
                )
        return raw

    def sub(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        value = raw.get(name.split(".")[-1], {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return value

    def get(
        self,
        raw: dict[str, Any],
        dotted: str,
        kind: str,
        default: Any = None,
        choices: tuple[Any, ...] = (),
        within: tuple[float, float] | None = None,
    ) -> Any:
        """The key's value checked against its kind, its choices and its bounds (each element of a list)."""
        key = dotted.split(".")[-1]
        if key not in raw:
            return default
        value = _coerce(raw[key], kind)
        if value is _WRONG:
            raise self.fail(dotted, f"must be {_KIND_WORDS[kind]}, got {_describe(raw[key])}")
        if choices and value not in choices:
            raise self.fail(dotted, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        if within is not None:
            low, high = within
            for v in value if isinstance(value, tuple) else (value,):
                if not low <= v <= high:
                    words = "each value" if isinstance(value, tuple) else "the value"
                    raise self.fail(
                        dotted,
                        f"is out of range: {words} must be from {_num(low)} to {_num(high)}, got {_num(v)}",
                    )
        return value

    def file(
        self, raw: dict[str, Any], dotted: str, required: bool = True, folder_ok: bool = False
    ) -> Path | None:
        value = self.get(raw, dotted, "str")
        if value is None:
            if required:
                raise self.fail(dotted, "is required (a path relative to this file)")
            return None
        path = (self.base / value) if not Path(value).is_absolute() else Path(value)
        if not path.exists():
            raise self.fail(dotted, f"points to {path}, which does not exist")
        if path.is_dir() and not folder_ok:
            raise self.fail(dotted, f"points to {path}, which is a folder; give the path of a file")
        return path


_WRONG = object()
_HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
_KIND_WORDS = {
    "str": "a string",
    "int": "an integer",
    "pos": "a positive integer",
    "float": "a finite number",
    "frac": "a number between 0 and 1",
    "bool": "true or false",
    "strs": "a list of strings",
    "ints": "a list of integers",
    "shape": "a list of positive integers",
    "pair": "a list of two finite numbers",
    "size": "a list of two positive integers",
}


def _num(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _inline_key(line: str, key: str) -> bool:
    return re.search(rf"[{{,]\s*[\"']?{re.escape(key)}[\"']?\s*=", line) is not None


def _describe(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__) + f" ({json.dumps(value, default=str)[:40]})"


def _coerce(value: Any, kind: str) -> Any:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_num = is_int or isinstance(value, float)
    if kind == "str":
        return value if isinstance(value, str) else _WRONG
    if kind == "int":
        return value if is_int else _WRONG
    if kind == "pos":
        return value if is_int and value > 0 else _WRONG
    if kind == "float":
        return float(value) if is_num and math.isfinite(value) else _WRONG
    if kind == "frac":
        return float(value) if is_num and 0.0 <= value <= 1.0 else _WRONG
    if kind == "bool":
        return value if isinstance(value, bool) else _WRONG
    if kind == "strs":
        return tuple(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else _WRONG
    if kind in ("ints", "shape", "size"):
        ok = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if ok and kind != "ints":
            ok = all(v > 0 for v in value) and len(value) > 0 and (kind != "size" or len(value) == 2)
        return tuple(value) if ok else _WRONG
    if kind == "pair":
        ok = isinstance(value, list) and len(value) == 2
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
        return (float(value[0]), float(value[1])) if ok else _WRONG
    raise ValueError(kind)


TOP_KEYS = ("model", "generator", "data", "preprocess", "run", "baseline", "checks")
CHECK_NAMES = ("accuracy", "stability", "exemplars", "counterfactuals", "attributions")


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate an audit.toml; raise ConfigError (exit 2) naming the file, the line and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    r = _Reader(path, text)
    r.table(raw, "", TOP_KEYS)
    if "model" not in raw:
        raise ConfigError(f"{path}:1: '[model]' table is required (with path = \"model.onnx\")")
    model = _model(r, r.sub(raw, "model"))
    generator = None
    if "generator" in raw:
        g = r.table(r.sub(raw, "generator"), "generator", ("path", "encoder"))
        generator = GeneratorConfig(
            r.file(g, "generator.path"), r.file(g, "generator.encoder", required=False)
        )  # type: ignore[arg-type]
    data = None
    if "data" in raw:
        d = r.table(r.sub(raw, "data"), "data", ("path", "limit"))
        data = DataConfig(r.file(d, "data.path", folder_ok=True), r.get(d, "data.limit", "pos"))  # type: ignore[arg-type]
    p = r.table(r.sub(raw, "preprocess"), "preprocess", ("size", "mode", "scale"))
    preprocess = PreprocessConfig(
        r.get(p, "preprocess.size", "size", within=(1, MAX_IMAGE_SIDE)),
        r.get(p, "preprocess.mode", "str", "RGB", ("L", "RGB")),
        r.get(p, "preprocess.scale", "pair", (0.0, 1.0)),
    )
    if not preprocess.scale[0] < preprocess.scale[1]:
        raise r.fail("preprocess.scale", f"must be [low, high] with low < high, got {list(preprocess.scale)}")
    run = _run(r, r.sub(raw, "run"))
    b = r.table(r.sub(raw, "baseline"), "baseline", ("path", "max_regression"))
    baseline = BaselineConfig(
        r.file(b, "baseline.path", required=False),
        r.get(b, "baseline.max_regression", "float", 0.02, within=(0.0, 1e12)),
    )
    checks = _checks(r, r.sub(raw, "checks"))
    return AuditConfig(model, generator, data, preprocess, run, baseline, checks, source=path)


def _model(r: _Reader, m: dict[str, Any]) -> ModelConfig:
    r.table(m, "model", ("path", "class_names", "output", "scores", "input_shape", "layout", "batch_size"))
    return ModelConfig(
        r.file(m, "model.path"),  # type: ignore[arg-type]
        r.get(m, "model.class_names", "strs"),
        r.get(m, "model.output", "str"),
        r.get(m, "model.scores", "str", None, SCORE_KINDS),
        r.get(m, "model.input_shape", "shape", within=(1, MAX_DIM)),
        r.get(m, "model.layout", "str", None, SETTABLE_LAYOUTS),
        r.get(m, "model.batch_size", "pos", within=(1, MAX_BATCH)),
    )


def _run(r: _Reader, u: dict[str, Any]) -> RunConfig:
    keys = (
        "seed",
        "device",
        "budget",
        "threads",
        "max_queries",
        "check_timeout",
        "out",
        "html_mode",
        "fail_on",
        "formats",
    )
    r.table(u, "run", keys)
    formats = r.get(u, "run.formats", "strs", FORMATS)
    for name in formats:
        if name not in FORMATS:
            raise r.fail("run.formats", f"holds unknown format {name!r} (known: {', '.join(FORMATS)})")
    out = r.get(u, "run.out", "str")
    return RunConfig(
        seed=r.get(u, "run.seed", "int", 0, within=(0, 2**63 - 1)),
        device=r.get(u, "run.device", "str", "auto", DEVICES),
        budget=r.get(u, "run.budget", "pos", RunConfig.budget, within=(1, MAX_SEARCH_BUDGET)),
        threads=r.get(u, "run.threads", "pos", within=(1, MAX_THREADS)),
        max_queries=r.get(u, "run.max_queries", "pos", RunConfig.max_queries, within=(1, MAX_TOTAL_QUERIES)),
        check_timeout=r.get(
            u, "run.check_timeout", "float", RunConfig.check_timeout, within=(0.0, MAX_SECONDS)
        ),
        out=(r.base / out) if out else RunConfig.out,
        html_mode=r.get(u, "run.html_mode", "str", "inline", HTML_MODES),
        fail_on=r.get(u, "run.fail_on", "str", "failed", FAIL_ON),
        formats=formats,
    )


SEARCH_BUDGET = (1, MAX_SEARCH_BUDGET)
SECONDS = (0.0, MAX_SECONDS)


def _checks(r: _Reader, c: dict[str, Any]) -> ChecksConfig:
    r.table(c, "checks", CHECK_NAMES)

    def table(name: str, keys: tuple[str, ...]) -> tuple[dict[str, Any], str]:
        raw = r.sub(c, f"checks.{name}")
        return r.table(raw, f"checks.{name}", ("enabled", *keys, "timeout")), f"checks.{name}"

    a, n = table("accuracy", ("min", "max_ece", "min_class_recall", "bins"))
    accuracy = AccuracySettings(
        r.get(a, f"{n}.enabled", "bool", True),
        r.get(a, f"{n}.min", "frac"),
        r.get(a, f"{n}.max_ece", "frac"),
        r.get(a, f"{n}.min_class_recall", "frac"),
        r.get(a, f"{n}.bins", "pos", 10, within=(1, MAX_BINS)),
        r.get(a, f"{n}.timeout", "float", within=SECONDS),
    )
    s, n = table("stability", ("noise", "samples", "repeats", "max_flip_rate", "max_class_flip_rate"))
    default_s = StabilitySettings()
    stability = StabilitySettings(
        r.get(s, f"{n}.enabled", "bool", True),
        r.get(s, f"{n}.noise", "float", default_s.noise, within=(0.0, MAX_NOISE)),
        r.get(s, f"{n}.samples", "pos", default_s.samples, within=(1, MAX_ROWS)),
        r.get(s, f"{n}.repeats", "pos", default_s.repeats, within=(1, MAX_REPEATS)),
        r.get(s, f"{n}.max_flip_rate", "frac", default_s.max_flip_rate),
        r.get(s, f"{n}.max_class_flip_rate", "frac"),
        r.get(s, f"{n}.timeout", "float", within=SECONDS),
    )
    if stability.noise <= 0:
        raise r.fail(f"{n}.noise", "must be a positive number")
    e, n = table("exemplars", ("classes", "per_class", "min_confidence", "method", "budget", "min_reached"))
    classes: str | tuple[int, ...] = "all"
    if e.get("classes", "all") != "all":
        classes = r.get(e, f"{n}.classes", "ints")
        if not classes or min(classes) < 0 or len(classes) > MAX_CLASSES:
            raise r.fail(
                f"{n}.classes",
                f'must be "all" or a non-empty list of at most {MAX_CLASSES:,} class indices >= 0',
            )
        if len(set(classes)) != len(classes):
            raise r.fail(f"{n}.classes", "holds a class index twice; list each class once")
    exemplars = ExemplarSettings(
        r.get(e, f"{n}.enabled", "bool", True),
        classes,
        r.get(e, f"{n}.per_class", "pos", 3, within=(1, MAX_PER_CLASS)),
        r.get(e, f"{n}.min_confidence", "frac", 0.9),
        r.get(e, f"{n}.method", "str", "momentum_es", SEARCH_METHODS),
        r.get(e, f"{n}.budget", "pos", within=SEARCH_BUDGET),
        r.get(e, f"{n}.min_reached", "frac", 1.0),
        r.get(e, f"{n}.timeout", "float", within=SECONDS),
    )
    if not 0.0 < exemplars.min_confidence < 1.0:
        raise r.fail(
            f"{n}.min_confidence",
            f"must be a probability strictly between 0 and 1, got {exemplars.min_confidence:g}",
        )
    f, n = table(
        "counterfactuals",
        (
            "samples",
            "target",
            "method",
            "budget",
            "min_validity",
            "matrix",
            "matrix_per_class",
            "matrix_budget",
        ),
    )
    target: str | int = "second"
    if "target" in f:
        if isinstance(f["target"], int) and not isinstance(f["target"], bool):
            target = r.get(f, f"{n}.target", "int", within=(0, MAX_CLASSES))
        else:
            target = r.get(f, f"{n}.target", "str", "second", CF_TARGETS)
    counterfactuals = CounterfactualSettings(
        r.get(f, f"{n}.enabled", "bool", True),
        r.get(f, f"{n}.samples", "pos", 10, within=(1, MAX_EXPLAINED)),
        target,
        r.get(f, f"{n}.method", "str", "cmaes", SEARCH_METHODS),
        r.get(f, f"{n}.budget", "pos", within=SEARCH_BUDGET),
        r.get(f, f"{n}.min_validity", "frac", 0.8),
        r.get(f, f"{n}.matrix", "bool", True),
        r.get(f, f"{n}.matrix_per_class", "pos", 1, within=(1, MAX_MATRIX_PER_CLASS)),
        r.get(f, f"{n}.matrix_budget", "pos", CounterfactualSettings.matrix_budget, within=SEARCH_BUDGET),
        r.get(f, f"{n}.timeout", "float", within=SECONDS),
    )
    t, n = table(
        "attributions",
        (
            "methods",
            "samples",
            "baseline",
            "window",
            "stride",
            "lime_samples",
            "steps",
            "orders",
            "min_faithful",
        ),
    )
    methods = r.get(t, f"{n}.methods", "strs", ("occlusion",))
    for m in methods:
        if m not in ATTRIBUTION_METHODS:
            raise r.fail(
                f"{n}.methods", f"holds unknown method {m!r} (known: {', '.join(ATTRIBUTION_METHODS)})"
            )
    baseline: str | float = "auto"
    if isinstance(t.get("baseline"), int | float) and not isinstance(t.get("baseline"), bool):
        baseline = r.get(t, f"{n}.baseline", "float", within=(-1e38, 1e38))  # float32 range
    else:
        baseline = r.get(t, f"{n}.baseline", "str", "auto", ATTRIBUTION_BASELINES)
    attributions = AttributionSettings(
        r.get(t, f"{n}.enabled", "bool", True),
        methods,
        r.get(t, f"{n}.samples", "pos", 4, within=(1, MAX_EXPLAINED)),
        baseline,
        r.get(t, f"{n}.window", "pos", within=(1, MAX_WINDOW)),
        r.get(t, f"{n}.stride", "pos", within=(1, MAX_WINDOW)),
        r.get(t, f"{n}.lime_samples", "pos", 500, within=(4, MAX_LIME_SAMPLES)),
        r.get(t, f"{n}.steps", "pos", 50, within=(1, MAX_STEPS)),
        r.get(t, f"{n}.orders", "pos", 5, within=(1, MAX_ORDERS)),
        r.get(t, f"{n}.min_faithful", "frac", 0.5),
        r.get(t, f"{n}.timeout", "float", within=SECONDS),
    )
    return ChecksConfig(accuracy, stability, exemplars, counterfactuals, attributions)


def config_error(config: AuditConfig, dotted: str, message: str) -> ConfigError:
    """A setting found wrong once the model is known: named with the config file and line when there is one."""
    if config.source is not None:
        try:
            return _Reader(config.source, config.source.read_text(encoding="utf-8")).fail(dotted, message)
        except (OSError, UnicodeDecodeError):
            pass
    return ConfigError(f"'{dotted}' {message}")


def quick_config(
    model: str | Path,
    generator: str | Path | None = None,
    encoder: str | Path | None = None,
    data: str | Path | None = None,
) -> AuditConfig:
    """The config of `auditor audit MODEL [--generator GEN] [--data FILE]`: default checks, no file."""
    for label, value in (
        ("MODEL", model),
        ("--generator", generator),
        ("--encoder", encoder),
        ("--data", data),
    ):
        if value is not None and not Path(value).exists():
            raise ConfigError(f"{label} {value}: no such file; check the path")
    if encoder is not None and generator is None:
        raise ConfigError("--encoder needs --generator")
    return AuditConfig(
        model=ModelConfig(Path(model)),
        generator=GeneratorConfig(Path(generator), Path(encoder) if encoder else None) if generator else None,
        data=DataConfig(Path(data)) if data else None,
    )


def with_overrides(config: AuditConfig, **changes: Any) -> AuditConfig:
    """Apply CLI flags: keys are `section.field` in dotted form with `__` (e.g. run__seed); None means unset."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        if value is None:
            continue
        section, name = key.split("__")
        sections.setdefault(section, {})[name] = value
    result = config
    for section, values in sections.items():
        current = getattr(result, section)
        result = replace(result, **{section: replace(current, **values)})
    return result
