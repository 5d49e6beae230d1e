"""`auditor audit`: run the configured checks on a model and write the report formats into --out."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import click

from auditor.audit.checks import Context
from auditor.audit.config import (
    DEFAULT_CHECK_TIMEOUT,
    DEFAULT_MAX_QUERIES,
    FAIL_ON,
    FORMATS,
    HTML_MODES,
    MAX_SEARCH_BUDGET,
    MAX_SECONDS,
    MAX_TOTAL_QUERIES,
    AuditConfig,
    DataConfig,
    GeneratorConfig,
    load_config,
    quick_config,
    with_overrides,
)
from auditor.audit.runner import AuditReport, exit_code, problem, run_audit
from auditor.cli.options import (
    Bounded,
    ModelFlags,
    model_options,
    parse_shape,
    printable,
)
from auditor.errors import ConfigError
from auditor.report.interface import WriteOptions, fmt, status_word
from auditor.report.writer import write_report

PROGRESS_EVERY_S = 5.0


class Progress:
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


def _given(name: str) -> bool:
    """Whether an option was set on the command line (not left at its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def build_config(model: str | None, config_path: str | None, kw: dict[str, Any]) -> AuditConfig:
    """The config file (or the quick form's defaults) with the command-line flags applied on top."""
    if (model is None) == (config_path is None):
        raise click.UsageError(
            "give either MODEL (quick form) or --config AUDIT.toml, not both and not neither"
        )
    if config_path is None:
        assert model is not None
        config = quick_config(model, kw["generator"], kw["encoder"], kw["data"])
    else:
        config = load_config(config_path)
        for flag, path in (
            ("--generator", kw["generator"]),
            ("--encoder", kw["encoder"]),
            ("--data", kw["data"]),
        ):
            if path is not None and not Path(path).exists():
                raise ConfigError(f"{flag} {path}: no such file; check the path")
        if kw["generator"]:
            encoder = config.generator.encoder if config.generator else None
            config = replace(config, generator=GeneratorConfig(Path(kw["generator"]), encoder))
        if kw["encoder"]:
            if config.generator is None:
                raise ConfigError("--encoder needs a generator (--generator or [generator] in the config)")
            config = replace(config, generator=replace(config.generator, encoder=Path(kw["encoder"])))
        if kw["data"]:
            config = replace(
                config, data=DataConfig(Path(kw["data"]), config.data.limit if config.data else None)
            )
    names = tuple(n.strip() for n in kw["class_names"].split(",")) if kw["class_names"] else None
    return with_overrides(
        config,
        model__class_names=names,
        model__output=kw["output_name"],
        model__scores=kw["scores"],
        model__input_shape=parse_shape(kw["input_shape"]),
        model__layout=kw["layout"],
        model__batch_size=kw["batch_size"],
        run__seed=kw["seed"],
        run__device=kw["device"] if _given("device") else None,
        run__threads=kw["threads"],
        run__budget=kw["budget"],
        run__max_queries=kw["max_queries"],
        run__check_timeout=kw["check_timeout"],
        run__out=Path(kw["out"]) if kw["out"] else None,
        run__html_mode=kw["html_mode"],
        run__fail_on=kw["fail_on"],
        run__formats=tuple(f.strip() for f in kw["formats"].split(",")) if kw["formats"] else None,
        baseline__path=Path(kw["baseline"]) if kw["baseline"] else None,
        baseline__max_regression=kw["max_regression"],
    )


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
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Report folder [default: audit-out]."
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Seed of every randomized step [default: 0].",
)
@click.option(
    "--budget", type=click.IntRange(1, MAX_SEARCH_BUDGET), default=None, help="Classifier queries per search."
)
@click.option(
    "--max-queries",
    type=click.IntRange(1, MAX_TOTAL_QUERIES),
    default=None,
    help=f"Classifier queries for the whole audit [default: {DEFAULT_MAX_QUERIES:,}].",
)
@click.option(
    "--check-timeout",
    type=Bounded(0, MAX_SECONDS),
    default=None,
    help=f"Seconds per check, 0: no limit [default: {DEFAULT_CHECK_TIMEOUT:g}]; a check past it is not finished.",
)
@click.option("--class-names", default=None, help="Comma-separated class names.")
@click.option(
    "--html-mode",
    type=click.Choice(HTML_MODES),
    default=None,
    help="inline: one self-contained report.html; folder: CSS and PNGs as separate files.",
)
@click.option(
    "--format", "formats", default=None, help=f"Comma-separated formats [default: {','.join(FORMATS)}]."
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default=None,
    help="failed: exit 1 when a threshold is missed; any: also when a check did not run; never: report only.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    default=None,
    help="An earlier report.json to compare with.",
)
@click.option(
    "--max-regression",
    type=Bounded(0, 1e12),
    default=None,
    help="Largest allowed worsening of a figure [0.02].",
)
@model_options
def command(model: str | None, config_path: str | None, **kw: Any) -> int:
    """Audit a classifier: `auditor audit --config audit.toml` or `auditor audit MODEL [--generator G] [--data F]`.

    Exit 0: every threshold met; 1: a threshold missed; 2: bad usage or input.
    """
    config = build_config(model, config_path, kw)
    flags = ModelFlags.read(kw)
    context = Context.open(config, flags.to_open_options(), flags.sandbox_limits())
    if kw["device"] == "auto" and config.run.device == "auto" and not kw["quiet"]:
        click.echo(
            f"auditor: running on {'CUDA' if context.blackbox.provider == 'cuda' else 'CPU'}", err=True
        )
    report = run_audit(config, context, Progress(sys.stderr, kw["quiet"]))
    files = write_report(
        report, config.run.out, config.run.formats, WriteOptions(html_mode=config.run.html_mode)
    )
    if not kw["quiet"]:
        for line in _summary_lines(report):
            click.echo(line, err=True)
    for path in files:
        click.echo(str(path))
    code = exit_code(report, config.run.fail_on)
    if code == 2:
        click.echo(f"auditor: error: {printable(problem(report), 500)}", err=True)
    return code
