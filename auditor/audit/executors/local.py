"""The in-process executor: units run one after another on the one context the audit opened.

Each unit starts with an empty row cache, here as on every other executor, so its query count is a
function of the unit alone (not of the units or checks that ran before it in the same process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from auditor.audit.checks import Check, Context, Unit
from auditor.audit.checks.core import PartT, SettingsT

# (check, context, settings, units) -> (part, classifier queries, generator queries) per unit, in unit order
UnitMapper = Callable[[Check[Any, Any], Context, Any, list[Unit]], Iterator[tuple[Any, int, int]]]


def local_mapper(
    check: Check[SettingsT, PartT], ctx: Context, settings: SettingsT, units: list[Unit]
) -> Iterator[tuple[PartT, int, int]]:
    """Run units one after another in this process; yield (part, classifier queries, generator queries)."""
    for unit in units:
        forget_cached_rows(ctx)
        queries, generator_queries = _sent(ctx)
        part = check.run(ctx, settings, unit)
        queries_after, generator_after = _sent(ctx)
        yield part, queries_after - queries, generator_after - generator_queries


def forget_cached_rows(ctx: Context) -> None:
    """Empty the classifier's row cache: what follows counts its queries as if it ran first."""
    if ctx.blackbox.cache is not None:
        ctx.blackbox.cache.clear()


def _sent(ctx: Context) -> tuple[int, int]:
    """Rows sent so far to the classifier and to the generator."""
    return ctx.blackbox.queries, ctx.generator.queries if ctx.generator is not None else 0


class LocalExecutor:
    """Units in this process, one audit at a time (in the thread that runs it)."""

    slots = 1
    workers = 1

    def __call__(
        self, check: Check[SettingsT, PartT], ctx: Context, settings: SettingsT, units: list[Unit]
    ) -> Iterator[tuple[PartT, int, int]]:
        return local_mapper(check, ctx, settings, units)

    def release(self, ctx: Context) -> None:
        """Nothing is held for a context here."""

    def cancel(self) -> None:
        """Nothing runs elsewhere: an interrupt stops the one audit where it runs."""
