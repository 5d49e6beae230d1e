"""`auditor validate-config FILE`: check an audit.toml alone (keys, types, files) without running a model."""

from __future__ import annotations

import click

from auditor.audit.checks import CHECKS
from auditor.audit.config import load_config
from auditor.cli.output import printable


@click.command("validate-config")
@click.argument("config_path", metavar="FILE", type=click.Path(dir_okay=False))
def command(config_path: str) -> None:
    """Validate an audit config: exit 0 when it is usable, 2 with the key, file and line when not."""
    config = load_config(config_path)
    enabled = [check.name for check in CHECKS if check.enabled(config)]
    click.echo(f"{printable(config_path)}: valid; checks: {', '.join(enabled)}; seed {config.run.seed}")
