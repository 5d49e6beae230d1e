"""The executors by name: `open_executor("local" | "ray" | "ray:ADDRESS")` gives the mapper an audit runs on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from auditor.audit.checks import Check, Context, Unit
from auditor.audit.executors.local import LocalExecutor
from auditor.audit.executors.ray import RayExecutor
from auditor.audit.executors.spec import ExecutorSpec, parse_executor


class Executor(Protocol):
    """A `UnitMapper` that says how many units it runs at once, frees what it holds for a context (its
    audit is over) and stops every audit on it (`cancel`, when the run is interrupted)."""

    def __call__(
        self, check: Check[Any, Any], ctx: Context, settings: Any, units: list[Unit]
    ) -> Iterator[tuple[Any, int, int]]: ...

    @property
    def slots(self) -> int: ...  # units it runs at once, over all audits

    @property
    def workers(self) -> int: ...  # units one audit runs at once

    def release(self, ctx: Context) -> None: ...

    def cancel(self) -> None: ...


@contextmanager
def open_executor(spec: str | ExecutorSpec, share: int = 1, workers: int | None = None) -> Iterator[Executor]:
    """The executor `spec` names, open for the block: Ray's actors and the cluster it started end with it.

    `share` audits run on it at once (each gets its part of the workers); `workers` caps them.
    """
    spec = parse_executor(spec) if isinstance(spec, str) else spec
    if spec.name == "local":
        yield LocalExecutor()
        return
    with RayExecutor(spec.address, workers, share) as executor:
        yield executor
