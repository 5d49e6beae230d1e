"""`audit.toml` read into frozen dataclasses: each setting is declared once, as a `knob()` field (schema.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

from auditor.audit.executors.spec import executor_problem
from auditor.audit.schema import Source, knob, plain, read_table, table
from auditor.audit.verdict import FAIL_ON
from auditor.errors import ArgumentError, ConfigError
from auditor.explain import attribution
from auditor.explain.robustness import METHODS as ROBUSTNESS_METHODS
from auditor.explain.robustness import NORMS
from auditor.labels import find_class, read_class_names, shown, unknown_class
from auditor.model.session import DEVICES
from auditor.model.signature import SCORE_KINDS, SETTABLE_LAYOUTS
from auditor.model.text import DEFAULT_REMOVAL, REMOVALS
from auditor.preprocessing import (
    CHANNEL_ORDERS,
    MAX_SIDE,
    PRESETS,
    RESAMPLING,
    TENSOR_DTYPES,
    TENSOR_LAYOUTS,
    PreprocessParams,
    preset_with,
)
from auditor.search.registry import METHODS as SEARCH_METHODS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Section = TypeVar("Section", bound="DataclassInstance")

HTML_MODES = ("inline", "folder")
FORMATS = ("html", "json", "junit", "sarif", "markdown")
COLOUR_MODES = ("L", "RGB")
CfTarget = Literal["second", "any"]  # besides a class: each input's runner-up, or any class but its own
CF_TARGETS = get_args(CfTarget)
Classes = Literal["all", "auto"] | tuple[int | str, ...]  # names are resolved to indices: `resolve_classes`
CLASS_WORDS = ("auto", "all")  # auto: every class of a small model, a prioritised selection of a large one
ATTRIBUTION_METHODS = tuple(attribution.METHODS)
BASELINES = ("auto", *attribution.BASELINES)  # auto: zero for images, the reference mean for tables
COMPARED_BASELINES = ("auto", "zero", "blur", "mean")  # the one-vs-one check's one-vs-all fill

# Upper bounds that keep a valid-looking number from exhausting memory or time before any limit can act.
MAX_SEARCH_BUDGET = 10**8  # classifier queries per search
MAX_TOTAL_QUERIES = 10**12  # classifier queries per audit
MAX_SECONDS = 7 * 86400.0  # a check's wall-clock limit
MAX_CLASSES = 10**5  # class indices in a list
CLASS = (0, MAX_CLASSES)
SEARCH_BUDGET = (1, MAX_SEARCH_BUDGET)
SECONDS = (0.0, MAX_SECONDS)
EXPLAINED = (1, 10**5)  # inputs a counterfactual or attribution check explains
WINDOW = (1, 2**16)
NOISE = (0.0, 10.0)  # noise std over the value range or the feature std
FLOAT32 = (-1e38, 1e38)
TIMEOUT_HELP = "seconds for this check; unset: [run] check_timeout, 0: no limit"


def _classes(value: tuple[int | str, ...]) -> str | None:
    indices = [item for item in value if isinstance(item, int)]
    if not value or (indices and min(indices) < 0) or len(value) > MAX_CLASSES:
        return f'must be "auto", "all" or a non-empty list of at most {MAX_CLASSES:,} class names or indices >= 0'
    return "holds a class twice; list each class once" if len(set(value)) != len(value) else None


def _ordered(pair: tuple[float, float]) -> str | None:
    return None if pair[0] < pair[1] else f"must be [low, high] with low < high, got {list(pair)}"


def _ordered_or_equal(pair: tuple[float, float]) -> str | None:
    return None if pair[0] <= pair[1] else f"must be [low, high] with low <= high, got {list(pair)}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be a positive number"


def _probability(value: float) -> str | None:
    return None if 0.0 < value < 1.0 else f"must be a probability strictly between 0 and 1, got {value:g}"


@dataclass(frozen=True)
class ModelConfig:
    path: Path = knob(MISSING, "file", "the classifier .onnx")
    class_names: tuple[str, ...] | None = knob(None, "strs", "class names, in class order")
    output: str | None = knob(None, "str", "name of the output holding class scores")
    scores: str | None = knob(None, "str", "what the score output holds", choices=SCORE_KINDS)
    input_shape: tuple[int, ...] | None = knob(None, "shape", "per-sample input shape", within=(1, 2**31 - 1))
    layout: str | None = knob(
        None, "str", "input layout, when detection cannot tell", choices=SETTABLE_LAYOUTS
    )
    batch_size: int | None = knob(None, "pos", "rows per model call", within=(1, 2**20))
    tokenizer: Path | None = knob(None, "file", "text models: the tokenizer.json (default: beside the model)")
    max_length: int | None = knob(None, "pos", "text models: tokens per row", within=(1, 2**20))
    class_names_file: Path | None = knob(
        None,
        "file",
        "class names: one per line, a JSON list or {index: name}, or a config.json with id2label",
        added=True,
    )
    output_batch_axis: int = knob(
        0, "int", "the axis of the score output that holds the rows", within=(0, 16), added=True
    )
    discrete: bool | None = knob(
        None, "bool", "the input holds ids or bytes (unset: integer types do)", added=True
    )
    value_range: tuple[float, float] | None = knob(
        None, "pair", "the values an input element may take, [low, high]", rule=_ordered_or_equal, added=True
    )


@dataclass(frozen=True)
class GeneratorConfig:
    path: Path = knob(MISSING, "file", "the generator .onnx (z -> x)")
    encoder: Path | None = knob(None, "file", "the encoder .onnx (x -> z)")


@dataclass(frozen=True)
class DataConfig:
    path: Path = knob(MISSING, "file_or_folder", "samples (.npz/.npy/.csv or images) with optional labels y")
    limit: int | None = knob(None, "pos", "use at most this many rows (the first ones)")
    text_column: str | None = knob(None, "str", "text data (.csv/.jsonl): the column of the texts")
    label_column: str | None = knob(None, "str", "text data (.csv/.jsonl): the column of the labels")


def _scale(value: float | tuple[float, float]) -> str | None:
    if isinstance(value, tuple):
        return _ordered(value)
    return None if value != 0 else "must be a non-zero factor"


@dataclass(frozen=True)
class PreprocessConfig:
    """How image files become model inputs. Without `preset` or a contract field, the older form: images read
    at `size`, pixel 0 and 255 mapped to `scale` [low, high] at once. With them, a contract: data stays
    in pixel space (0-255) and the tensor part runs before every model call (`auditor.preprocessing`)."""

    size: tuple[int, int] | None = knob(None, "size", "images resized to [height, width]", within=(1, 8192))
    mode: str = knob("RGB", "str", "colour mode of image files", choices=COLOUR_MODES)
    scale: float | tuple[float, float] = knob(
        (0.0, 1.0), "scale", "a factor (contract), or [low, high] that pixels 0 and 255 map to", rule=_scale
    )
    preset: str | None = knob(None, "str", "a named contract", choices=tuple(PRESETS), added=True)
    resize: int | None = knob(
        None, "pos", "the shorter side resized to this (contract)", within=(1, MAX_SIDE), added=True
    )
    crop: tuple[int, int] | None = knob(
        None, "side", "centre crop [height, width] or one side (contract)", within=(1, MAX_SIDE), added=True
    )
    resample: str | None = knob(
        None, "str", "resize filter (contract)", choices=tuple(RESAMPLING), added=True
    )
    channels: str | None = knob(
        None, "str", "channel order the model takes (contract)", choices=CHANNEL_ORDERS, added=True
    )
    mean: tuple[float, ...] | None = knob(
        None, "floats", "subtracted after scaling, per model channel (contract)", added=True
    )
    std: tuple[float, ...] | None = knob(
        None, "floats", "divided by after the mean, per model channel (contract)", added=True
    )
    layout: str | None = knob(None, "str", "tensor layout (contract)", choices=TENSOR_LAYOUTS, added=True)
    dtype: str | None = knob(None, "str", "tensor dtype (contract)", choices=TENSOR_DTYPES, added=True)

    def contract(self) -> PreprocessParams | None:
        """The preprocessing contract these settings declare; None for the older form (see the class)."""
        extra = {
            name: getattr(self, name)
            for name in ("resize", "crop", "resample", "channels", "mean", "std", "layout", "dtype")
            if getattr(self, name) is not None
        }
        if self.preset is None and not extra and not isinstance(self.scale, float):
            return None
        if isinstance(self.scale, tuple):
            if self.scale != (0.0, 1.0):
                raise ArgumentError(
                    "preprocess.scale: [low, high] is the older form; with a preset or contract fields give "
                    "a factor (e.g. 0.00392156 for 1/255) and mean/std"
                )
        else:
            extra["scale"] = self.scale
        if self.size is not None:
            extra["size"] = self.size
        return preset_with(self.preset or "none", {**extra, "mode": self.mode})


@dataclass(frozen=True)
class RunConfig:
    seed: int = knob(0, "int", "seed of every randomized step", within=(0, 2**63 - 1))
    device: str = knob("auto", "str", "where the models run", choices=DEVICES)
    budget: int = knob(1000, "pos", "classifier queries per search", within=SEARCH_BUDGET)
    threads: int | None = knob(None, "pos", "threads per model session", within=(1, 1024))
    max_queries: int = knob(10**7, "pos", "classifier queries per audit", within=(1, MAX_TOTAL_QUERIES))
    check_timeout: float = knob(600.0, "float", "seconds per check, 0: no limit", within=SECONDS)
    executor: str = knob(
        "local", "str", "where units run: local, ray or ray:ADDRESS", rule=executor_problem, output=True
    )
    time_budget: float = knob(
        600.0,
        "float",
        "seconds for the whole audit, CPU or CUDA; the plan scales checks to fit, 0: none",
        within=SECONDS,
    )
    out: Path = knob(Path("audit-out"), "out", "report folder", output=True)
    html_mode: str = knob("inline", "str", "one report.html, or a folder", choices=HTML_MODES, output=True)
    fail_on: str = knob("failed", "str", "what makes the exit code 1", choices=FAIL_ON, output=True)
    formats: tuple[str, ...] = knob(FORMATS, "strs", "report formats", choices=FORMATS, output=True)


@dataclass(frozen=True)
class BaselineConfig:
    path: Path | None = knob(None, "file", "an earlier report.json to compare with")
    max_regression: float = knob(0.02, "float", "largest allowed worsening of a figure", within=(0.0, 1e12))


@dataclass(frozen=True)
class AccuracySettings:
    enabled: bool = knob(True, "bool", "run this check")
    min: float | None = knob(None, "frac", "lowest accuracy on the labelled data")
    max_ece: float | None = knob(None, "frac", "highest expected calibration error")
    min_class_recall: float | None = knob(None, "frac", "lowest per-class recall")
    bins: int = knob(10, "pos", "confidence bins of the calibration", within=(1, 1000))
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class StabilitySettings:
    enabled: bool = knob(True, "bool", "run this check")
    noise: float = knob(0.05, "float", "std over value range or feature std", within=NOISE, rule=_positive)
    samples: int = knob(500, "pos", "rows tested", within=(1, 10**6))
    repeats: int = knob(4, "pos", "noisy copies per row", within=(1, 1000))
    max_flip_rate: float | None = knob(0.05, "frac", "highest share of noisy copies that flip")
    max_class_flip_rate: float | None = knob(None, "frac", "highest flip rate of any class")
    word_edits: int = knob(1, "pos", "text models: words removed in each perturbed copy", within=(1, 1000))
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class ExemplarSettings:
    enabled: bool = knob(True, "bool", "run this check")
    classes: Classes = knob(
        "auto", "classes", '"auto", "all" or class names or indices', choices=CLASS_WORDS, rule=_classes
    )
    per_class: int = knob(3, "pos", "exemplar searches per class", within=(1, 100))
    min_confidence: float = knob(0.9, "frac", "confidence an exemplar must reach", rule=_probability)
    method: str = knob("momentum_es", "str", "search method", choices=SEARCH_METHODS)
    budget: int | None = knob(None, "pos", "queries per search; unset: [run] budget", within=SEARCH_BUDGET)
    min_reached: float | None = knob(1.0, "frac", "share of classes that must reach min_confidence")
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class CounterfactualSettings:
    enabled: bool = knob(True, "bool", "run this check")
    samples: int = knob(10, "pos", "data rows explained", within=EXPLAINED)
    target: CfTarget | int | str = knob(
        "second", "class", "a class name or index, second or any", within=CLASS, choices=CF_TARGETS
    )
    method: str = knob("cmaes", "str", "search method", choices=SEARCH_METHODS)
    budget: int | None = knob(None, "pos", "queries per search; unset: [run] budget", within=SEARCH_BUDGET)
    min_validity: float | None = knob(0.8, "frac", "share of searches that must flip the prediction")
    matrix: bool = knob(True, "bool", "the one-vs-one flip-distance matrix between classes")
    matrix_classes: Classes = knob(
        "auto",
        "classes",
        'flip matrix classes: "auto", "all" or class names or indices',
        choices=CLASS_WORDS,
        rule=_classes,
    )
    matrix_per_class: int = knob(1, "pos", "inputs per class sent to every other class", within=(1, 1000))
    matrix_budget: int = knob(300, "pos", "queries per matrix search", within=SEARCH_BUDGET)
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class AttributionSettings:
    enabled: bool = knob(True, "bool", "run this check")
    methods: tuple[str, ...] = knob(
        ("occlusion",), "strs", "attribution methods", choices=ATTRIBUTION_METHODS
    )
    samples: int = knob(4, "pos", "inputs explained", within=EXPLAINED)
    baseline: str | float = knob("auto", "float", "fill of removed inputs", within=FLOAT32, choices=BASELINES)
    window: int | None = knob(None, "pos", "occlusion and LIME patch side", within=WINDOW)
    stride: int | None = knob(None, "pos", "occlusion step", within=WINDOW)
    lime_samples: int = knob(500, "pos", "perturbed inputs per LIME map", within=(4, 10**5))
    steps: int = knob(50, "pos", "deletion and insertion curve steps", within=(1, 1000))
    orders: int = knob(5, "pos", "random orders the curves are compared with", within=(1, 100))
    min_faithful: float | None = knob(0.5, "frac", "share of maps that must beat random orders")
    removal: str = knob(
        DEFAULT_REMOVAL, "str", "text models: how a word is removed (delete, mask, unk)", choices=REMOVALS
    )
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class RobustnessSettings:
    enabled: bool = knob(True, "bool", "run this check")
    samples: int = knob(
        20, "pos", "data rows whose smallest flipping perturbation is searched", within=EXPLAINED
    )
    norm: str = knob("linf", "str", "perturbation norm, in model input units", choices=NORMS)
    method: str = knob(
        "auto",
        "str",
        "square, momentum_es (es), cmaes: scores; hopskipjump: labels only; auto: by model",
        choices=ROBUSTNESS_METHODS,
    )
    budget: int = knob(
        2000, "pos", "queries per input, its own prediction included", within=(10, MAX_SEARCH_BUDGET)
    )
    labels_only: bool = knob(False, "bool", "read only the predicted label, even where scores exist")
    min_median_radius: float | None = knob(
        None, "float", "lowest median radius (model input units)", within=(0.0, 1e38)
    )
    eps: float | None = knob(None, "float", "the radius the accuracy drop is measured at", within=(0.0, 1e38))
    max_accuracy_drop_at_eps: float | None = knob(None, "frac", "highest accuracy lost within eps; needs eps")
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class OneVsOneSettings:
    enabled: bool = knob(True, "bool", "run this check")
    samples: int = knob(6, "pos", "data rows explained against their runner-up class", within=EXPLAINED)
    method: str = knob("cmaes", "str", "counterfactual search method", choices=SEARCH_METHODS)
    budget: int | None = knob(
        None, "pos", "queries per counterfactual search; unset: [run] budget", within=SEARCH_BUDGET
    )
    baseline: str = knob(
        "auto", "str", "the compared map's fill; auto: blur for images, else mean", choices=COMPARED_BASELINES
    )
    window: int | None = knob(None, "pos", "occlusion patch side", within=WINDOW)
    stride: int | None = knob(None, "pos", "occlusion step", within=WINDOW)
    steps: int = knob(20, "pos", "deletion curve steps", within=(1, 1000))
    orders: int = knob(3, "pos", "random orders the curves are compared with", within=(1, 100))
    max_deletion_auc: float | None = knob(
        None, "frac", "highest median deletion AUC of the one-vs-one maps (share of the gap)"
    )
    min_better_share: float | None = knob(
        None, "frac", "lowest share of rows whose one-vs-one map deletes faster than the compared map"
    )
    timeout: float | None = knob(None, "float", TIMEOUT_HELP, within=SECONDS)


@dataclass(frozen=True)
class ChecksConfig:
    accuracy: AccuracySettings = table(AccuracySettings, AccuracySettings())
    stability: StabilitySettings = table(StabilitySettings, StabilitySettings())
    exemplars: ExemplarSettings = table(ExemplarSettings, ExemplarSettings())
    counterfactuals: CounterfactualSettings = table(CounterfactualSettings, CounterfactualSettings())
    attributions: AttributionSettings = table(AttributionSettings, AttributionSettings())
    robustness: RobustnessSettings | None = table(RobustnessSettings)  # opt-in: runs only with its table
    one_vs_one: OneVsOneSettings | None = table(OneVsOneSettings)  # opt-in: runs only with its table


@dataclass(frozen=True)
class AuditConfig:
    model: ModelConfig = table(ModelConfig, MISSING, 'with path = "model.onnx"')
    generator: GeneratorConfig | None = table(GeneratorConfig)
    data: DataConfig | None = table(DataConfig)
    preprocess: PreprocessConfig = table(PreprocessConfig, PreprocessConfig())
    run: RunConfig = table(RunConfig, RunConfig())
    baseline: BaselineConfig = table(BaselineConfig, BaselineConfig())
    checks: ChecksConfig = table(ChecksConfig, ChecksConfig())
    source: Path | None = field(default=None, compare=False)  # the config file, when there is one
    # the config as written, when this one has its class names resolved to indices (`resolve_classes`)
    written: AuditConfig | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings as written (paths as given strings, classes as named), for the report and the hash."""
        return _without_absent_checks(plain(self.written or self))

    def digest(self) -> str:
        """SHA-256 of the settings as written that decide the results (output options excluded)."""
        settings = _without_absent_checks(plain(self.written or self, digest=True))
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _without_absent_checks(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings less the opt-in checks' tables the config leaves out: an absent check changes no hash."""
    checks = {name: table for name, table in settings["checks"].items() if table is not None}
    return {**settings, "checks": checks}


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate an audit.toml; raise ConfigError (exit 2) naming the file, the line and the key."""
    path = Path(path)
    source, raw = Source.read(path, "config file")
    config = replace(read_table(source, AuditConfig, raw), source=path)
    preprocess_contract(config)  # fields that cannot go together: refused with the file and the line
    names = configured_class_names(config)
    if (
        names is not None
    ):  # [checks.*] classes by name checked now; else the data's or the model's names decide
        resolve_classes(config, names)
    return config


def configured_class_names(config: AuditConfig) -> tuple[str, ...] | None:
    """The class names `[model]` gives (class_names, or class_names_file read), else None."""
    m = config.model
    if m.class_names_file is None:
        return m.class_names
    if m.class_names is not None:
        raise config_error(config, "model.class_names_file", "and model.class_names are both set; keep one")
    return read_class_names(m.class_names_file)


def resolve_classes(config: AuditConfig, names: Sequence[str]) -> AuditConfig:
    """`config` with the classes its enabled checks choose (exemplars.classes, counterfactuals.target and
    matrix_classes) as indices among `names`, the model's K class names: a name first, then an index, as the
    --classes flag reads them. A name no class has, or an index >= K, is a ConfigError naming the key.
    `to_dict` and `digest` of the result still describe the config as written."""
    exemplars, counterfactuals = config.checks.exemplars, config.checks.counterfactuals
    classes, matrix, target = exemplars.classes, counterfactuals.matrix_classes, counterfactuals.target
    if exemplars.enabled:
        classes = _class_choice(config, "checks.exemplars.classes", classes, names)
    if counterfactuals.enabled and counterfactuals.matrix:
        matrix = _class_choice(config, "checks.counterfactuals.matrix_classes", matrix, names)
    if counterfactuals.enabled:
        target = _class_choice(config, "checks.counterfactuals.target", target, names)
    if (classes, matrix, target) == (
        exemplars.classes,
        counterfactuals.matrix_classes,
        counterfactuals.target,
    ):
        return config
    checks = replace(
        config.checks,
        exemplars=replace(exemplars, classes=classes),
        counterfactuals=replace(counterfactuals, matrix_classes=matrix, target=target),
    )
    return replace(config, checks=checks, written=config.written or config)


def resolved_target(target: CfTarget | int | str) -> CfTarget | int:
    """`counterfactuals.target` once its name is an index (`resolve_classes`): "second", "any" or a class."""
    if target == "second":
        return "second"
    if target == "any":
        return "any"
    if isinstance(target, int):
        return target
    raise ArgumentError(
        f"counterfactuals.target {shown(target)} is a class name; resolve it first (resolve_classes)"
    )


def resolved_classes(choice: Classes) -> Literal["all", "auto"] | tuple[int, ...]:
    """A class list once its names are indices (`resolve_classes`), or its word."""
    if choice == "all":
        return "all"
    if choice == "auto":
        return "auto"
    indices = tuple(item for item in choice if isinstance(item, int))
    if len(indices) != len(choice):
        raise ArgumentError(f"classes {list(choice)} hold class names; resolve them first (resolve_classes)")
    return indices


def _class_choice(config: AuditConfig, key: str, value: Any, names: Sequence[str]) -> Any:
    """One class setting (a class, or a list of them) with its names as indices; a word ("auto", "second")
    as it is."""
    if isinstance(value, str) and value in (*CLASS_WORDS, *CF_TARGETS):
        return value
    items = value if isinstance(value, tuple) else (value,)
    k = len(names)
    indices: list[int] = []
    for item in items:
        index = find_class(item, names) if isinstance(item, str) else item
        if index is None:
            if tuple(names) == tuple(map(str, range(k))):  # index names only
                raise config_error(
                    config,
                    key,
                    f"holds {shown(item)}, but the model's classes have no names (only indices 0..{k - 1}); "
                    "give [model] class_names_file or class_names, or a data file with class names",
                )
            raise config_error(config, key, f"holds {shown(item)}, {unknown_class(names)}")
        if index >= k:
            held = "holds class" if isinstance(value, tuple) else "is class"
            raise config_error(config, key, f"{held} {index}, but the model has {k} classes (0..{k - 1})")
        if index in indices:
            raise config_error(
                config, key, f"holds class {index} ({shown(names[index])}) twice; list each class once"
            )
        indices.append(index)
    return tuple(indices) if isinstance(value, tuple) else indices[0]


def preprocess_contract(config: AuditConfig) -> PreprocessParams | None:
    """The `[preprocess]` contract, or None for the older form; a contract that cannot hold names its key."""
    try:
        return config.preprocess.contract()
    except ArgumentError as exc:
        first, _, rest = str(exc).partition(" ")
        key = first.rstrip(":")  # the library names the field: "preprocess.crop ...", "preprocess: ..."
        raise config_error(config, key, rest) from None


def config_error(config: AuditConfig, dotted: str, message: str) -> ConfigError:
    """A setting found wrong once the model is known: named with the config file and line when there is one."""
    if config.source is not None:
        try:
            return Source(config.source, config.source.read_text(encoding="utf-8")).fail(dotted, message)
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


def override(section: Section, **values: object) -> Section:
    """`section` with each value that is not None put in (flags over the file); unknown names raise TypeError."""
    return replace(section, **{name: value for name, value in values.items() if value is not None})
