"""`auditor audit`: run the configured checks on a model and write the report formats into --out."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from auditor.audit.checks import Context
from auditor.audit.config import (
    AuditConfig,
    BaselineConfig,
    DataConfig,
    GeneratorConfig,
    ModelConfig,
    RunConfig,
    load_config,
    override,
    quick_config,
)
from auditor.audit.executors.registry import open_executor
from auditor.audit.planner import plan_audit
from auditor.audit.runner import run_audit
from auditor.audit.verdict import exit_code, problem
from auditor.cli.models import ModelFlags, model_options, say_device
from auditor.cli.options import class_names_option
from auditor.cli.output import printable
from auditor.cli.parsing import parse_range, parse_shape
from auditor.cli.progress import TerminalProgress, summary_lines
from auditor.cli.setting_flags import setting_flag
from auditor.errors import ConfigError
from auditor.report.interface import WriteOptions
from auditor.report.writer import write_report


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
    if data:  # a new path; the config's other [data] settings (limit, text and label columns) still hold
        kept = replace(config.data, path=Path(data)) if config.data else DataConfig(Path(data))
        config = replace(config, data=kept)
    return config


@click.command("audit")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="audit.toml (paths relative to it)."
)
@click.option("--generator", type=click.Path(dir_okay=False), help="Generator .onnx (z -> x).")
@click.option("--encoder", type=click.Path(dir_okay=False), help="Encoder .onnx (x -> z), with --generator.")
@click.option(
    "--data",
    type=click.Path(),
    help="Samples (.npz/.npy/.csv or images) with optional labels y; texts (.txt/.csv/.jsonl) for text models.",
)
@click.option("--out", type=click.Path(file_okay=False), help="Report folder [default: audit-out].")
@setting_flag("--seed", RunConfig, "seed")
@setting_flag("--budget", RunConfig, "budget")
@setting_flag("--max-queries", RunConfig, "max_queries")
@setting_flag("--check-timeout", RunConfig, "check_timeout")
@setting_flag("--executor", RunConfig, "executor")
@setting_flag("--time-budget", RunConfig, "time_budget")
@class_names_option
@setting_flag("--tokenizer", ModelConfig, "tokenizer")
@setting_flag("--max-length", ModelConfig, "max_length")
@setting_flag("--html-mode", RunConfig, "html_mode")
@setting_flag("--format", RunConfig, "formats")
@setting_flag("--fail-on", RunConfig, "fail_on")
@click.option("--baseline", type=click.Path(dir_okay=False), help="An earlier report.json to compare with.")
@setting_flag("--max-regression", BaselineConfig, "max_regression")
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
    executor: str | None,
    time_budget: float | None,
    class_names: tuple[str, ...] | None,
    tokenizer: str | None,
    max_length: int | None,
    html_mode: str | None,
    formats: tuple[str, ...] | None,
    fail_on: str | None,
    baseline: str | None,
    max_regression: float | None,
    **model_arguments: Any,
) -> int:
    """Audit a classifier: `auditor audit --config audit.toml` or `auditor audit MODEL [--generator G] [--data F]`.

    Exit 0: every threshold met; 1: a threshold missed; 2: bad usage or input.
    """
    flags = ModelFlags.read(model_arguments)
    config = read_config(model, config_path, generator, encoder, data)
    config = replace(
        config,
        model=override(
            config.model,
            class_names=class_names,
            tokenizer=Path(tokenizer) if tokenizer else None,
            max_length=max_length,
            output=flags.output_name,
            scores=flags.scores,
            input_shape=parse_shape(flags.input_shape),
            layout=flags.layout,
            batch_size=flags.batch_size,
            output_batch_axis=flags.output_batch_axis if _given("output_batch_axis") else None,
            discrete=True if flags.discrete else None,
            value_range=parse_range(flags.value_range, "--value-range"),
        ),
        preprocess=override(config.preprocess, preset=flags.preprocess),
        run=override(
            config.run,
            seed=seed,
            device=flags.device if _given("device") else None,
            threads=flags.threads,
            budget=budget,
            max_queries=max_queries,
            check_timeout=check_timeout,
            executor=executor,
            time_budget=time_budget,
            out=Path(out) if out else None,
            html_mode=html_mode,
            fail_on=fail_on,
            formats=formats,
        ),
        baseline=override(
            config.baseline, path=Path(baseline) if baseline else None, max_regression=max_regression
        ),
    )
    context = Context.open(config, flags.to_open_options(), flags.sandbox_limits())
    config = context.config  # its [checks.*] classes given by name now as indices
    if config.run.device == "auto":
        say_device(context.blackbox.provider, flags)
    quiet = flags.quiet
    plan = plan_audit(config, context)
    if not quiet:
        for line in plan.lines():
            click.echo(f"auditor: {printable(line, 2000)}", err=True)
    with open_executor(config.run.executor) as mapper:
        report = run_audit(config, context, TerminalProgress(sys.stderr, quiet, plan), mapper, plan=plan)
    files = write_report(
        report, config.run.out, config.run.formats, WriteOptions(html_mode=config.run.html_mode)
    )
    if not quiet:
        for line in summary_lines(report):
            click.echo(line, err=True)
    for path in files:
        click.echo(str(path))
    code = exit_code(report, config.run.fail_on)
    if code == 2:
        click.echo(f"auditor: error: {printable(problem(report), 500)}", err=True)
    return code
