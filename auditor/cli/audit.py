"""`auditor audit`: run the configured checks on a model and write the report formats into --out."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TextIO

import click

from auditor.audit.checks import Context
from auditor.audit.config import (
    AuditConfig,
    BaselineConfig,
    DataConfig,
    GeneratorConfig,
    RunConfig,
    load_config,
    override,
    quick_config,
)
from auditor.audit.results import AuditReport
from auditor.audit.runner import run_audit
from auditor.audit.schema import Knob
from auditor.audit.verdict import exit_code, problem
from auditor.cli.options import (
    Bounded,
    _shape,
    first_contact,
    model_options,
    open_options,
    printable,
    sandbox_limits,
)
from auditor.errors import ConfigError
from auditor.model.blackbox import OpenOptions
from auditor.model.sandbox import FirstContact
from auditor.report.interface import WriteOptions, fmt, status_word
from auditor.report.writer import write_report

PROGRESS_EVERY_S = 5.0


class TerminalProgress:
    """A bar on a terminal; on anything else, plain lines on stderr at most every few seconds."""

    def __init__(self, stream: TextIO, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.tty = stream.isatty()
        self.last = 0.0

    def __call__(self, check: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if self.tty:
            width = 24
            filled = width * done // max(total, 1)
            end = "\n" if done == total else ""
            self.stream.write(f"\r{check:<16} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
            self.stream.flush()
        elif done == 0 or done == total or now - self.last >= PROGRESS_EVERY_S:
            state = "started" if done == 0 else "done" if done == total else "running"
            self.stream.write(f"auditor: {check}: {state} ({done}/{total} units)\n")
            self.stream.flush()
            self.last = now


def setting_option(flag: str, section: type[Any], name: str) -> Callable[[Any], Any]:
    """A flag that overrides the config setting `name` of `section`: its type, bounds and help come from the knob."""
    spec = next(f for f in fields(section) if f.name == name)
    knob: Knob = spec.metadata["knob"]
    kind: click.ParamType | None = None
    if knob.choices:
        kind = click.Choice(knob.choices)
    elif knob.kind in ("int", "pos") and knob.within is not None:
        kind = click.IntRange(int(knob.within[0]), int(knob.within[1]))
    elif knob.kind == "float" and knob.within is not None:
        kind = Bounded(*knob.within)
    shown = fmt(spec.default) if isinstance(spec.default, int | float) else spec.default
    return click.option(
        flag, name, type=kind, default=None, help=f"{knob.help[0].upper()}{knob.help[1:]} [default: {shown}]."
    )


def _given(name: str) -> bool:
    """Whether an option was set on the command line (not left at its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def read_config(
    model: str | None, config_path: str | None, generator: str | None, encoder: str | None, data: str | None
) -> AuditConfig:
    """The config file (or the quick form's defaults) with the model files and data of the command line."""
    if model is not None and config_path is None:
        return quick_config(model, generator, encoder, data)
    if model is not None or config_path is None:
        raise click.UsageError(
            "give either MODEL (quick form) or --config AUDIT.toml, not both and not neither"
        )
    config = load_config(config_path)
    for flag, path in (("--generator", generator), ("--encoder", encoder), ("--data", data)):
        if path is not None and not Path(path).exists():
            raise ConfigError(f"{flag} {path}: no such file; check the path")
    if generator:
        encoder_path = config.generator.encoder if config.generator else None
        config = replace(config, generator=GeneratorConfig(Path(generator), encoder_path))
    if encoder:
        if config.generator is None:
            raise ConfigError("--encoder needs a generator (--generator or [generator] in the config)")
        config = replace(config, generator=replace(config.generator, encoder=Path(encoder)))
    if data:
        config = replace(config, data=DataConfig(Path(data), config.data.limit if config.data else None))
    return config


def _summary_lines(report: AuditReport) -> list[str]:
    lines = []
    for c in report.checks:
        figure = f" {c.figure_name} {fmt(c.figure)}" if c.figure is not None else ""
        why = f" ({printable(c.reason, 300)})" if c.reason and c.status != "passed" else ""
        lines.append(f"auditor: {c.name:<16} {status_word(c.status):<8}{printable(figure, 200)}{why}")
    lines.append(
        f"auditor: verdict {report.verdict.upper()} ({report.queries:,} queries, {report.seconds:.1f} s)"
    )
    return lines


@click.command("audit")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="audit.toml (paths relative to it)."
)
@click.option("--generator", type=click.Path(dir_okay=False), help="Generator .onnx (z -> x).")
@click.option("--encoder", type=click.Path(dir_okay=False), help="Encoder .onnx (x -> z), with --generator.")
@click.option("--data", type=click.Path(), help="Samples (.npz/.npy/.csv or images) with optional labels y.")
@click.option("--out", type=click.Path(file_okay=False), help="Report folder [default: audit-out].")
@setting_option("--seed", RunConfig, "seed")
@setting_option("--budget", RunConfig, "budget")
@setting_option("--max-queries", RunConfig, "max_queries")
@setting_option("--check-timeout", RunConfig, "check_timeout")
@click.option("--class-names", default=None, help="Comma-separated class names.")
@setting_option("--html-mode", RunConfig, "html_mode")
@click.option("--format", "formats", default=None, help="Comma-separated report formats [default: all].")
@setting_option("--fail-on", RunConfig, "fail_on")
@click.option("--baseline", type=click.Path(dir_okay=False), help="An earlier report.json to compare with.")
@setting_option("--max-regression", BaselineConfig, "max_regression")
@model_options
def command(
    model: str | None,
    config_path: str | None,
    generator: str | None,
    encoder: str | None,
    data: str | None,
    out: str | None,
    seed: int | None,
    budget: int | None,
    max_queries: int | None,
    check_timeout: float | None,
    class_names: str | None,
    html_mode: str | None,
    formats: str | None,
    fail_on: str | None,
    baseline: str | None,
    max_regression: float | None,
    **model_flags: Any,
) -> int:
    """Audit a classifier: `auditor audit --config audit.toml` or `auditor audit MODEL [--generator G] [--data F]`.

    Exit 0: every threshold met; 1: a threshold missed; 2: bad usage or input.
    """
    config = read_config(model, config_path, generator, encoder, data)
    config = replace(
        config,
        model=override(
            config.model,
            class_names=tuple(n.strip() for n in class_names.split(",")) if class_names else None,
            output=model_flags["output_name"],
            scores=model_flags["scores"],
            input_shape=_shape(model_flags["input_shape"]),
            layout=model_flags["layout"],
            batch_size=model_flags["batch_size"],
        ),
        run=override(
            config.run,
            seed=seed,
            device=model_flags["device"] if _given("device") else None,
            threads=model_flags["threads"],
            budget=budget,
            max_queries=max_queries,
            check_timeout=check_timeout,
            out=Path(out) if out else None,
            html_mode=html_mode,
            fail_on=fail_on,
            formats=tuple(f.strip() for f in formats.split(",")) if formats else None,
        ),
        baseline=override(
            config.baseline, path=Path(baseline) if baseline else None, max_regression=max_regression
        ),
    )

    def vet(path: str, kind: str, options: OpenOptions) -> FirstContact | None:
        return first_contact(path, kind, model_flags, options)

    context = Context.open(config, open_options(model_flags), vet, sandbox_limits(model_flags))
    quiet = model_flags["quiet"]
    if model_flags["device"] == "auto" and config.run.device == "auto" and not quiet:
        click.echo(
            f"auditor: running on {'CUDA' if context.blackbox.provider == 'cuda' else 'CPU'}", err=True
        )
    report = run_audit(config, context, TerminalProgress(sys.stderr, quiet))
    files = write_report(
        report, config.run.out, config.run.formats, WriteOptions(html_mode=config.run.html_mode)
    )
    if not quiet:
        for line in _summary_lines(report):
            click.echo(line, err=True)
    for path in files:
        click.echo(str(path))
    code = exit_code(report, config.run.fail_on)
    if code == 2:
        click.echo(f"auditor: error: {printable(problem(report), 500)}", err=True)
    return code
