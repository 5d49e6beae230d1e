"""What every check shares: its declaration, its units of work, its results, and small helpers over them."""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.audit.config import AuditConfig

if TYPE_CHECKING:
    from auditor.audit.checks.context import Context

ROWS_PER_UNIT = 4096
NAMED_ROWS = 100  # at most this many row indices are listed for a finding


@dataclass(frozen=True)
class Figure:
    """A picture for the report. `name` is ours (a safe file stem); `caption` may hold untrusted text."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Criterion:
    """One threshold test: `value op threshold`, with op '>=' (higher is better) or '<=' (lower is better)."""

    name: str
    value: float | None
    op: str
    threshold: float

    @property
    def passed(self) -> bool:
        if self.value is None or not np.isfinite(self.value):
            return False
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "op": self.op,
            "threshold": self.threshold,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Outcome:
    """What a check's merge returns: its headline figure, criteria, details and pictures."""

    figure: float | None
    figure_name: str
    direction: str  # "higher" or "lower": which way the figure improves
    criteria: tuple[Criterion, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    figures: tuple[Figure, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # derived settings worth recording


@dataclass(frozen=True)
class Unit:
    """One slice of a check's work: which part, which items (rows or classes), and the seed for its randomness."""

    check: str
    index: int
    part: str
    items: tuple[int, ...]
    seed: int


Slice = tuple[str, tuple[int, ...]]  # (part of the check, row or class indices)


@dataclass(frozen=True)
class Check:
    """A check: why it cannot run (or None), its plan of slices, one slice's run, and the merge of their parts."""

    name: str
    title: str
    missing: Callable[[Context, Any], str | None]
    plan: Callable[[Context, Any, int], list[Slice]]
    run: Callable[[Context, Any, Unit], Any]
    merge: Callable[[Context, Any, list[Any]], Outcome]
    shared_seed: bool = False  # every unit gets the check's seed (the function splits streams itself)

    def settings(self, config: AuditConfig) -> Any:
        """The config's section named after this check ([checks.<name>]); None for a check without one."""
        return getattr(config.checks, self.name, None)


def unit_seed(seed: int, check: str, index: int) -> int:
    """A seed for one unit that depends only on the run's seed, the check and the unit's position."""
    sequence = np.random.SeedSequence([seed, zlib.crc32(check.encode()), index])
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def chunks(items: Sequence[int], size: int, part: str = "rows") -> list[Slice]:
    return [(part, tuple(int(i) for i in items[s : s + size])) for s in range(0, len(items), size)]


def module_available(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def build_lacks(module: str, what: str) -> str | None:
    """Why a check cannot run when `module` is not part of this build (`what` names it), else None."""
    return None if module_available(module) else f"{what} is not part of this build"


def criteria(*tests: tuple[str, float | None, str, float | None]) -> tuple[Criterion, ...]:
    """The criteria (name, value, op, threshold) whose threshold is set; None means no test was asked for."""
    return tuple(
        Criterion(name, value, op, threshold) for name, value, op, threshold in tests if threshold is not None
    )


def search_budget(ctx: Context, s: Any) -> int:
    """A search check's query budget: its own `budget`, else [run] budget."""
    return s.budget or ctx.config.run.budget


def nonfinite_facts(rows: Sequence[int], handling: str) -> dict[str, Any]:
    """The inputs whose own (unperturbed) scores were NaN or infinite: a finding, listed with what was done."""
    rows = sorted({int(r) for r in rows})
    return {
        "nonfinite_rows": len(rows),
        "nonfinite_row_indices": rows[:NAMED_ROWS],
        "nonfinite_handling": handling,
    }


def time_limit(config: AuditConfig, settings: Any) -> float | None:
    """A check's wall-clock limit in seconds: its own `timeout`, else [run] check_timeout; None when 0 (no limit)."""
    own = getattr(settings, "timeout", None)
    seconds = own if own is not None else config.run.check_timeout
    return float(seconds) if seconds else None


def settings_dict(settings: Any) -> dict[str, Any]:
    """A check's settings as JSON-ready values."""
    if settings is None:
        return {}
    out = asdict(settings)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
