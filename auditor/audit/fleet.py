"""A fleet: many models audited in one run, each with its own audit.toml or the shared defaults.

FLEET.toml:

    [defaults]
    config = "shared/audit.toml"        # for every model that names no config of its own

    [models.digits]                     # the name is the model's report folder under --out
    config = "digits/audit.toml"

    [models.vendor-b]
    model = "vendor_b.onnx"             # over the config's [model] path (here the defaults')
    data = "vendor_b.npz"               # over its [data] path

Paths are relative to the fleet file. A model's own config that cannot be read, or a model that cannot
be opened, makes that model's exit code 2 and the others still run; the fleet's exit code is the worst.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from auditor.audit.checks import Context
from auditor.audit.config import AuditConfig, DataConfig, load_config, quick_config
from auditor.audit.executors.registry import Executor
from auditor.audit.results import AuditReport
from auditor.audit.runner import run_audit
from auditor.audit.schema import Source, knob, read_table, table
from auditor.audit.verdict import exit_code, problem
from auditor.errors import AuditorError
from auditor.interrupts import Cancelled
from auditor.jsonable import jsonable
from auditor.model.blackbox import OpenOptions
from auditor.model.sandbox import SandboxLimits

INDEX_VERSION = 1
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
JOIN_S = 0.5  # longest wait on a model's thread before this thread looks at signals again


def _folder_name(name: str) -> str | None:
    if FOLDER_NAME.fullmatch(name) is None:
        return "must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


@dataclass(frozen=True)
class FleetDefaults:
    config: Path | None = knob(None, "file", "the audit.toml of every model that names none")


@dataclass(frozen=True)
class FleetModel:
    config: Path | None = knob(None, "file", "this model's audit.toml; unset: [defaults] config")
    model: Path | None = knob(None, "file", "the classifier .onnx, over the config's [model] path")
    data: Path | None = knob(None, "file_or_folder", "samples, over the config's [data] path")


@dataclass(frozen=True)
class FleetFile:
    defaults: FleetDefaults = table(FleetDefaults, FleetDefaults())


@dataclass(frozen=True)
class FleetEntry:
    """One model of the fleet: its folder name and its config, or why the config could not be read."""

    name: str
    config: AuditConfig | None
    error: str | None = None


@dataclass(frozen=True)
class Fleet:
    source: Path
    entries: tuple[FleetEntry, ...]


def load_fleet(path: str | Path) -> Fleet:
    """Read FLEET.toml; ConfigError for the fleet file itself, a per-model error for a model's own config."""
    path = Path(path)
    source, raw = Source.read(path, "fleet file")
    models = raw.pop("models", None)
    defaults = read_table(source, FleetFile, raw).defaults
    if not isinstance(models, dict) or not models:
        raise source.fail("models", 'needs at least one model: [models.NAME] with config = "audit.toml"')
    entries = []
    for name, table_raw in models.items():
        problem_text = _folder_name(name)
        if problem_text:
            raise source.fail(f"models.{name}", problem_text)
        spec = read_table(source, FleetModel, table_raw, f"models.{name}")
        config_path = spec.config or defaults.config
        if config_path is None and spec.model is None:
            raise source.fail(f"models.{name}", "needs config or model (or a [defaults] config)")
        try:
            config = _model_config(config_path, spec)
        except AuditorError as exc:
            entries.append(FleetEntry(name, None, str(exc)))
            continue
        entries.append(FleetEntry(name, config))
    return Fleet(path, tuple(entries))


def _model_config(config_path: Path | None, spec: FleetModel) -> AuditConfig:
    if config_path is None:
        assert spec.model is not None  # load_fleet said so
        return quick_config(spec.model, data=spec.data)
    config = load_config(config_path)
    if spec.model is not None:
        config = replace(config, model=replace(config.model, path=spec.model))
    if spec.data is not None:
        config = replace(config, data=DataConfig(spec.data, config.data.limit if config.data else None))
    return config


@dataclass(frozen=True)
class FleetAudit:
    """One model's outcome: its report (None when it could not be audited), exit code and any error."""

    name: str
    config: AuditConfig | None
    report: AuditReport | None
    exit_code: int
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The model's row of index.json."""
        report = self.report
        counts = dict.fromkeys(("passed", "failed"), 0)  # then any other status the checks have, counted
        for check in report.checks if report else ():
            counts[check.status] = counts.get(check.status, 0) + 1
        return {
            "name": self.name,
            "folder": self.name,
            "model": str(self.config.model.path) if self.config else None,
            "config_file": str(self.config.source) if self.config and self.config.source else None,
            "sha256": report.provenance.get("sha256") if report else None,
            "verdict": report.verdict if report else "error",
            "exit_code": self.exit_code,
            "error": self.error,
            "checks": counts,
            "failed_checks": [c.name for c in report.checks if c.status == "failed"] if report else [],
            "queries": report.queries if report else 0,
            "seconds": report.seconds if report else 0.0,
        }


@dataclass(frozen=True)
class FleetResult:
    """Every model's outcome, in fleet order, and how the run went."""

    source: Path
    executor: str
    audits: tuple[FleetAudit, ...]
    seconds: float
    concurrency: int = 1

    @property
    def exit_code(self) -> int:
        """The worst model's: 2 (bad input) over 1 (a threshold missed) over 0."""
        return max((audit.exit_code for audit in self.audits), default=0)

    def to_dict(self) -> dict[str, Any]:
        """index.json."""
        doc: dict[str, Any] = jsonable(
            {
                "schema_version": INDEX_VERSION,
                "fleet": str(self.source),
                "executor": self.executor,
                "exit_code": self.exit_code,
                "models": [audit.to_dict() for audit in self.audits],
                "seconds": self.seconds,
                "concurrency": self.concurrency,
            }
        )
        return doc


def audit_model(
    entry: FleetEntry, executor: Executor, base: OpenOptions, sandbox: SandboxLimits | None
) -> FleetAudit:
    """Open and audit one model on `executor`; an input error is that model's exit code 2, not the fleet's end."""
    config = entry.config
    if config is None:
        return FleetAudit(entry.name, None, None, 2, entry.error)
    try:
        context = Context.open(config, base, sandbox)
        try:
            report = run_audit(config, context, mapper=executor)
        finally:
            executor.release(context)
    except AuditorError as exc:
        return FleetAudit(entry.name, config, None, 2, str(exc))
    code = exit_code(report, config.run.fail_on)
    return FleetAudit(entry.name, config, report, code, problem(report) if code == 2 else None)


def run_fleet(
    fleet: Fleet,
    executor: Executor,
    executor_name: str,
    base: OpenOptions = OpenOptions(),
    sandbox: SandboxLimits | None = SandboxLimits(),
    done: Callable[[FleetAudit], None] | None = None,
) -> FleetResult:
    """Audit every model of `fleet`, as many at once as the executor has workers for; `done(audit)` after each.

    An interrupt (Ctrl-C, SIGTERM) in this thread cancels the executor's work, waits for the models'
    threads to stop, and is raised again: nothing is returned, so nothing is written.
    """
    started = time.perf_counter()
    entries = fleet.entries
    concurrency = max(1, min(len(entries), executor.slots // executor.workers))
    results: dict[str, FleetAudit] = {}

    def finish(audit: FleetAudit) -> None:
        results[audit.name] = audit
        if done is not None:
            done(audit)

    if concurrency == 1:
        for entry in entries:
            finish(audit_model(entry, executor, base, sandbox))
    else:
        queue = deque(entries)
        lock = threading.Lock()
        raised: list[BaseException] = []

        def work() -> None:
            try:
                while True:
                    with lock:
                        if not queue:
                            return
                        entry = queue.popleft()
                    finish(audit_model(entry, executor, base, sandbox))
            except Cancelled:
                return  # the main thread was interrupted and raises it
            except BaseException as exc:  # a bug: raised again in the main thread
                raised.append(exc)
                with lock:
                    queue.clear()

        threads = [threading.Thread(target=work, name=f"auditor-fleet-{i}") for i in range(concurrency)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(JOIN_S)
        except BaseException:
            with lock:
                queue.clear()
            executor.cancel()
            for thread in threads:
                thread.join()
            raise
        if raised:
            raise raised[0]
    audits = tuple(results[entry.name] for entry in entries)
    return FleetResult(fleet.source, executor_name, audits, time.perf_counter() - started, concurrency)
