"""The context every check reads: the opened models, the data and the config, checked to fit each other."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from auditor.audit.config import (
    AuditConfig,
    config_error,
    configured_class_names,
    preprocess_contract,
    resolve_classes,
)
from auditor.audit.seeds import unit_seed
from auditor.data import Dataset, Preprocess, load_data
from auditor.errors import DataError
from auditor.explain.attribution.core import Features
from auditor.model.blackbox import BlackBox, OpenOptions
from auditor.model.generator import Encoder, Generator
from auditor.model.preprocess import PreprocessedBlackBox, check_generator_pixels, fit_images
from auditor.model.sandbox import SandboxLimits
from auditor.model.signature import IMAGE_LAYOUTS
from auditor.model.text import TextModel, declares_text, stack_inputs
from auditor.model.text_generator import TextGenerator
from auditor.model.vetting import open_vetted
from auditor.pictures import Display, display_range
from auditor.preprocessing import PreprocessParams
from auditor.texts import TextData, load_texts

#: Cached properties checks share; computed in the audit's process and carried to workers (`settled`).
SHARED_FACTS = ("predicted_labels", "reference")
REFERENCE_ROWS = 512  # generated rows standing in for data when only a generator is given
REPORT_TILE = 84  # least side of an input's tile in the report, pixels


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
        text: TextContext | None = None,
    ) -> None:
        self.config = config
        self.blackbox = blackbox
        self.generator = generator
        self.encoder = encoder
        self.data = data
        self.sandbox = sandbox  # the limits of the first load in a child process; None when it was skipped
        self.text = text  # a text classifier's model, texts and decoder; None for other models

    @classmethod
    def open(
        cls,
        config: AuditConfig,
        base: OpenOptions = OpenOptions(),
        sandbox: SandboxLimits | None = None,
    ) -> Context:
        """Open the model files and the data a config names; the same config gives the same context.

        `base` carries what the config does not decide (limits, timeouts, verbosity); each model is
        first loaded in a child process limited by `sandbox` (recorded in the report; None: trusted,
        no child) and must then be the file the child checked.
        """
        options = configured_options(config, base)
        if is_text_config(config):
            return cls._open_text(config, options, sandbox)
        contract = preprocess_contract(config)
        raw = _read_data(config, contract)
        if raw is not None and options.input_shape is None:
            options = replace(options, shape_hint=raw.x.shape[1:])
        if contract is not None and contract.layout is not None and options.layout is None:
            options = replace(options, layout=contract.layout)
        blackbox = open_vetted(config.model.path, "classifier", options, sandbox)
        if contract is not None:
            blackbox = PreprocessedBlackBox(blackbox, contract)
        if raw is not None and config.model.class_names is None:
            blackbox.adopt_class_names(raw.class_names)
        config = resolve_classes(config, blackbox.class_names)  # [checks.*] classes by name, as indices
        check_fits(config, blackbox)
        generator = encoder = None
        if config.generator is not None:
            generator = open_vetted(config.generator.path, "generator", options, sandbox)
            if contract is not None:
                check_generator_pixels(generator, contract, config.run.seed)
            if config.generator.encoder is not None:
                encoder = open_vetted(config.generator.encoder, "encoder", options, sandbox)
        data = None
        if raw is not None and config.data is not None:  # raw is read from config.data
            if contract is not None:
                raw = fit_images(config.data.path, raw, blackbox, contract)
            named = raw.with_class_names(blackbox.class_names, str(config.data.path))  # labels as names
            data = _model_data(blackbox, config, named)
        return cls(config, blackbox, generator, encoder, data, sandbox)

    @classmethod
    def _open_text(cls, config: AuditConfig, options: OpenOptions, sandbox: SandboxLimits | None) -> Context:
        """A text classifier with its tokenizer, its texts ([data]) and sentence decoder ([generator])."""
        m = config.model
        options = replace(
            options, tokenizer=str(m.tokenizer) if m.tokenizer else None, max_length=m.max_length
        )
        model = open_vetted(m.path, "text", options, sandbox)
        generator = decoder = None
        if config.generator is not None:
            generator = open_vetted(config.generator.path, "generator", options, sandbox)
            tokenizer = model.tokenizer
            decoder = TextGenerator.of(generator, tokenizer.path if tokenizer is not None else None)
        texts = labels = None
        if config.data is not None:
            d = config.data
            texts = load_texts(d.path, text_column=d.text_column, label_column=d.label_column)
            if d.limit:
                texts = TextData(
                    texts.texts[: d.limit], texts.labels[: d.limit] if texts.labels else None, texts.source
                )
            labels = texts.label_indices(model.class_names) if texts.labels is not None else None
        model.blackbox.class_names = model.class_names
        config = resolve_classes(config, model.class_names)
        text = TextContext(model, texts, labels, decoder)
        return cls(config, model.blackbox, generator, None, None, sandbox, text)

    @property
    def is_image(self) -> bool:
        return self.blackbox.layout in IMAGE_LAYOUTS

    def settle(self) -> None:
        """Compute the reference rows now, outside every unit (the runner does, before a check's units), so
        that no unit's query count depends on which units ran before it in its process."""
        _ = self.reference

    def settled(self) -> dict[str, Any]:
        """The shared facts computed so far, for a copy of this context elsewhere (`adopt`)."""
        return {name: self.__dict__[name] for name in SHARED_FACTS if name in self.__dict__}

    def adopt(self, facts: dict[str, Any]) -> None:
        """Take shared facts another process computed (`settled`): the same values, no query here."""
        self.__dict__.update({name: value for name, value in facts.items() if name in SHARED_FACTS})

    @cached_property
    def reference(self) -> np.ndarray | None:
        """Rows that describe the input distribution: the data's reference rows, else generated rows (for a text
        model: its texts' token rows, or strings)."""
        if self.text is not None:
            return self.text.reference_rows()
        if self.data is not None:
            return self.data.ref
        if self.generator is not None:
            rng = np.random.default_rng(unit_seed(self.config.run.seed, "reference", 0))
            rows = self.generator.generate(self.generator.sample_prior(REFERENCE_ROWS, rng))
            return self.blackbox.prepare(rows)
        return None

    @cached_property
    def predicted_labels(self) -> np.ndarray:
        """The model's class for each data row (-1: non-finite scores); one batched prediction, made once."""
        assert self.data is not None  # callers check for data first
        return self.blackbox.predict_labels(self.data.x)

    @cached_property
    def value_range(self) -> tuple[float, float]:
        ref = self.reference
        if ref is None or not np.isfinite(ref).any():
            return (0.0, 1.0)
        return float(np.nanmin(ref)), float(np.nanmax(ref))

    @cached_property
    def display(self) -> Display:
        """How the report draws this model's inputs (the value-range rule of `auditor.pictures`)."""
        ref = self.reference
        return Display(
            self.blackbox.layout, display_range(ref) if ref is not None else (0.0, 1.0), REPORT_TILE
        )

    def class_name(self, k: int) -> str:
        return self.blackbox.class_names[k] if 0 <= k < self.blackbox.n_classes else "none"


@dataclass(frozen=True)
class TextContext:
    """What the text checks read: the classifier, the texts and their labels (class indices), the decoder."""

    model: TextModel
    data: TextData | None
    labels: np.ndarray | None
    decoder: TextGenerator | None
    #: the plan's probe of the decoder's prior (text exemplars), by (seed, confidence): made once a context
    prior_reach: dict[tuple[int, float], np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def texts(self) -> tuple[str, ...]:
        return self.data.texts if self.data is not None else ()

    def reference_rows(self) -> np.ndarray | None:
        """Up to REFERENCE_ROWS of the texts as the BlackBox takes them (for timings): strings, or token rows
        cut or padded to the BlackBox's row length."""
        if not self.texts:
            return None
        chosen = list(self.texts[:REFERENCE_ROWS])
        spec = self.model.blackbox.signature.input
        tokenizer = self.model.tokenizer
        if tokenizer is None:
            rows = np.empty(len(chosen), dtype=object)
            rows[:] = chosen
            return rows.reshape(len(chosen), *spec.sample_shape)
        return stack_inputs(spec, tokenizer.batch(tokenizer.encode(chosen), spec.sample_shape[-1]))


def is_text_config(config: AuditConfig) -> bool:
    """Whether a config audits a text classifier: a tokenizer or length set, or a model whose inputs are text's."""
    m = config.model
    return m.tokenizer is not None or m.max_length is not None or declares_text(m.path)


def configured_options(config: AuditConfig, base: OpenOptions = OpenOptions()) -> OpenOptions:
    """The classifier's open options: what the config says, on top of `base` for everything else."""
    m, run = config.model, config.run
    return replace(
        base,
        device=run.device,
        batch_size=m.batch_size,
        output=m.output,
        output_batch_axis=m.output_batch_axis,
        scores=m.scores,
        class_names=configured_class_names(config),
        input_shape=m.input_shape,
        layout=m.layout,
        threads=run.threads,
        discrete=m.discrete,
        value_range=m.value_range,
    )


def check_fits(config: AuditConfig, blackbox: BlackBox) -> None:
    """Refuse, before any check runs, settings that only the model shows to be wrong (window sizes, methods);
    class choices are refused as their names are resolved (`resolve_classes`)."""
    attributions = config.checks.attributions
    if not attributions.enabled:
        return
    if "gaussian-lime" in attributions.methods and blackbox.discrete_input:
        raise config_error(
            config,
            "checks.attributions.methods",
            "holds gaussian-lime, which adds Gaussian noise; discrete inputs (ids, bytes) take occlusion, "
            "feature-ablation or lime",
        )
    view = Features(blackbox.input_shape, blackbox.layout)
    methods = set(attributions.methods)
    used = {"window": {"occlusion", "lime"} & methods, "stride": {"occlusion"} & methods}
    for key, value in (("window", attributions.window), ("stride", attributions.stride)):
        if value is not None and used[key] and value > min(view.map_shape):
            raise config_error(
                config,
                f"checks.attributions.{key}",
                f"is {value}, larger than the model's input map {' x '.join(map(str, view.map_shape))}; choose at most "
                f"{min(view.map_shape)}",
            )
    if attributions.baseline == "blur" and not view.image:
        raise config_error(
            config, "checks.attributions.baseline", "is 'blur', which needs an image input; use zero or mean"
        )


def _read_data(config: AuditConfig, contract: PreprocessParams | None) -> Dataset | None:
    """The data file; image files read under the contract (pixel space), else scaled as the older form says."""
    if config.data is None:
        return None
    if contract is not None:
        return load_data(config.data.path, contract)
    p = config.preprocess
    scale = p.scale if isinstance(p.scale, tuple) else (0.0, 1.0)
    return load_data(config.data.path, Preprocess(p.size, p.mode, scale))


def _model_data(blackbox: BlackBox, config: AuditConfig, data: Dataset) -> Dataset:
    """The data file read, cut to `limit` rows, in the model's layout, with labels checked against its classes."""
    assert config.data is not None
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
