"""`auditor audit-many FLEET.toml --out DIR`: audit every model of a fleet, one report folder each, and an index."""

from __future__ import annotations

from pathlib import Path

import click

from auditor.audit.config import RunConfig
from auditor.audit.executors.registry import open_executor
from auditor.audit.fleet import FleetAudit, load_fleet, run_fleet
from auditor.cli.output import printable
from auditor.cli.setting_flags import setting_flag
from auditor.model.blackbox import OpenOptions
from auditor.model.sandbox import SandboxLimits
from auditor.report.index import write_fleet


@click.command("audit-many")
@click.argument("fleet_path", metavar="FLEET.toml", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="audit-out",
    show_default=True,
    help="Folder of the reports (one sub-folder per model) and the index.",
)
@setting_flag("--executor", RunConfig, "executor")
@click.option(
    "--trust-model",
    is_flag=True,
    help="Skip the sandboxed first load (child process with memory and time caps) of each model.",
)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def command(fleet_path: str, out: str, executor: str | None, trust_model: bool, quiet: bool) -> int:
    """Audit every model of FLEET.toml ([models.NAME] with config = "audit.toml", or model = "x.onnx").

    Models run at once where the executor has workers for them (Ray); each model's own
    [run] executor is not read. Exit code: the worst model's (0 pass, 1 a threshold missed, 2 bad input).
    """
    fleet = load_fleet(fleet_path)
    spec = executor or "local"

    def done(audit: FleetAudit) -> None:
        if quiet:
            return
        verdict = audit.report.verdict.upper() if audit.report else "ERROR"
        why = f": {printable(audit.error, 300)}" if audit.error else ""
        click.echo(f"auditor: {audit.name}: {verdict} (exit {audit.exit_code}){why}", err=True)

    sandbox = None if trust_model else SandboxLimits()
    with open_executor(spec, share=len(fleet.entries)) as runner:
        result = run_fleet(fleet, runner, spec, OpenOptions(), sandbox, done)
    for path in write_fleet(result, Path(out)):
        click.echo(str(path))
    return result.exit_code
