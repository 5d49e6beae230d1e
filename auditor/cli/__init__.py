"""The `auditor` command: a thin layer over the library that maps errors to exit codes."""

from __future__ import annotations

import importlib
import os
import sys

import click

from auditor import __version__
from auditor.cli.output import printable
from auditor.errors import AuditorError
from auditor.interrupts import Terminated, interrupted, sigterm_unwinds

#: Modules under auditor.cli that each define one click command named like the module.
COMMANDS = (
    "inspect",
    "fit_generator",
    "exemplars",
    "audit",
    "audit_many",
    "validate_config",
    "attribute",
    "counterfactual",
    "robustness",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def cli() -> None:
    """Audit black-box ONNX classifiers: exemplars, counterfactuals, attributions, CI reports."""


for _name in COMMANDS:
    _module = importlib.import_module(f"auditor.cli.{_name}")
    cli.add_command(_module.command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: exit 0/1 from the command, 2 for bad usage or input, 130/143 on signals."""
    try:
        with sigterm_unwinds():
            code = cli.main(args=argv, prog_name="auditor", standalone_mode=False)
    except AuditorError as exc:
        click.echo(f"auditor: error: {printable(exc)}", err=True)  # messages may quote model text
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt, Terminated) as exc:  # click turns Ctrl-C into Abort
        stop = interrupted(exc)
        click.echo(f"auditor: {stop}", err=True)
        sys.exit(stop.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except Exception as exc:  # a bug in the tool: one line, traceback only on request
        if os.environ.get("AUDITOR_DEBUG"):
            raise
        click.echo(
            f"auditor: internal error ({type(exc).__name__}: {printable(exc, 500)}); rerun with AUDITOR_DEBUG=1",
            err=True,
        )
        sys.exit(3)
    sys.exit(code if isinstance(code, int) else 0)
