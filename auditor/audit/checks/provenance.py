"""The provenance check: what identifies and reproduces this audit (files, versions, limits, CI)."""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

from auditor import __version__
from auditor.audit.checks.context import Context
from auditor.audit.checks.core import Check, Slice, Unit, time_limit
from auditor.audit.results import Outcome, Stage
from auditor.model.describe import describe

NAME = "provenance"


def _file_facts(path: os.PathLike[str] | str | None) -> dict[str, Any] | None:
    """Path, SHA-256 and size of a file; of a folder (image files), over its files' relative names and bytes."""
    if path is None:
        return None
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    size = 0
    for file in files:
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    facts: dict[str, Any] = {"path": str(path), "sha256": digest.hexdigest(), "size": size}
    if root.is_dir():
        facts["files"] = len(files)
    return facts


def _versions() -> dict[str, str]:
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
    facts = {
        key: next((os.environ[v] for v in names if os.environ.get(v)), "")
        for key, names in CI_VARIABLES.items()
    }
    gh = os.environ
    if (
        not facts["run_url"]
        and gh.get("GITHUB_SERVER_URL")
        and gh.get("GITHUB_REPOSITORY")
        and gh.get("GITHUB_RUN_ID")
    ):
        facts["run_url"] = (
            f"{gh['GITHUB_SERVER_URL']}/{gh['GITHUB_REPOSITORY']}/actions/runs/{gh['GITHUB_RUN_ID']}"
        )
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


def limits_facts(ctx: Context) -> dict[str, Any]:
    """Every limit this audit ran under (all configurable): model and row sizes, queries, time, the sandbox."""
    options, config = ctx.blackbox.options, ctx.config
    sandbox = ctx.sandbox
    return {
        "max_model_bytes": options.limits.max_file_bytes,
        "max_initializer_bytes": options.limits.max_initializer_bytes,
        "max_row_bytes": options.limits.max_row_bytes,
        "max_queries": config.run.max_queries,
        "time_budget_s": config.run.time_budget or None,
        "check_timeout_s": {
            NAME: time_limit(config, None),  # this check has no settings of its own
            **{  # an opt-in check whose table is absent does not run: no limit of its own
                f.name: time_limit(config, settings)
                for f in fields(config.checks)
                if (settings := getattr(config.checks, f.name)) is not None
            },
        },
        "call_timeout_s": options.call_timeout,
        "sandbox": {"memory_bytes": sandbox.memory_bytes, "timeout_s": sandbox.timeout} if sandbox else None,
    }


def plan(ctx: Context, settings: None, seed: int) -> list[Slice]:
    return [("facts", ())]


def run(ctx: Context, settings: None, unit: Unit) -> dict[str, Any]:
    return provenance_facts(ctx)


def merge(ctx: Context, settings: None, parts: list[dict[str, Any]]) -> Outcome:
    return Outcome(None, "facts recorded", "higher", details=parts[0])


PROVENANCE = Check(
    NAME,
    "Provenance",
    settings=lambda config: None,
    unmet=lambda ctx, settings: None,
    plan=plan,
    run=run,
    merge=merge,
    stage=Stage.FACTS,
)
