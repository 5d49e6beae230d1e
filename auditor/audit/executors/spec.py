"""The executor vocabulary: `local`, `ray` (a cluster started on this machine) or `ray:ADDRESS` (one to join)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.errors import ArgumentError

#: Executor names, as `[run] executor` and --executor take them (`ray` may carry `:ADDRESS`).
EXECUTORS = ("local", "ray")
RAY_EXTRA = "pip install 'onnx-auditor[ray]' (in a checkout: pip install -e '.[ray]')"  # the extra Ray needs


@dataclass(frozen=True)
class ExecutorSpec:
    """Which executor runs the units; for Ray, the address of a cluster to join (None: start one here)."""

    name: str = "local"
    address: str | None = None


def executor_problem(text: str) -> str | None:
    """Why `text` names no executor, or None."""
    name, colon, address = text.partition(":")
    if name not in EXECUTORS:
        return f"must be local, ray or ray:ADDRESS, got {text!r}"
    if colon and (name != "ray" or not address.strip() or any(c.isspace() for c in address)):
        return f"must be local, ray or ray:ADDRESS (an address without spaces), got {text!r}"
    return None


def parse_executor(text: str) -> ExecutorSpec:
    """`local`, `ray` or `ray:ADDRESS` as an ExecutorSpec; ArgumentError for anything else."""
    problem = executor_problem(text)
    if problem:
        raise ArgumentError(f"executor {problem}")
    name, _, address = text.partition(":")
    return ExecutorSpec(name, address or None)
