"""What every check shares: its declaration, its units of work, and small helpers over them."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from auditor.audit.checks.context import Context
from auditor.audit.config import AuditConfig
from auditor.audit.plan import Reduction, Work
from auditor.audit.results import Criterion, Outcome, Stage
from auditor.audit.schema import plain

ROWS_PER_UNIT = 4096
#: Samples above this many values (64 x 64 grey: 224 x 224 images and the like) come with models that take
#: tenths of a second a row on a CPU: their checks use small units (`per_unit`), so that a time limit
#: stops a check after minutes of work are kept, not discarded with a unit of many minutes.
LARGE_INPUT_VALUES = 64 * 64
LARGE_ROWS_PER_UNIT = 64  # rows a unit predicts for large inputs (tens of seconds on a CPU)
NAMED_ROWS = 100  # at most this many row indices are listed for a finding
#: Rows a search asks per generation, for the plan's count of calls (momentum ES asks 20, CMA-ES 32 or 64).
NOMINAL_POPULATION = 32


class CheckSettings(Protocol):
    """What the runner reads of every check's settings ([checks.<name>] in the config)."""

    @property
    def enabled(self) -> bool: ...
    @property
    def timeout(self) -> float | None: ...


SettingsT = TypeVar("SettingsT", bound="CheckSettings | None")
PartT = TypeVar("PartT")
Reduced = tuple[SettingsT, tuple[Reduction, ...]]


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
class Check(Generic[SettingsT, PartT]):
    """A check: its settings, why it cannot run (or None), its plan of slices, one slice's run, the merge of parts.

    `settings(config)` is the check's [checks.<name>] table (None for a check without one); `run` returns
    one unit's part, and `merge` turns all parts into the `Outcome`.
    """

    name: str
    title: str
    settings: Callable[[AuditConfig], SettingsT]
    unmet: Callable[[Context, SettingsT], str | None]
    plan: Callable[[Context, SettingsT, int], list[Slice]]
    run: Callable[[Context, SettingsT, Unit], PartT]
    merge: Callable[[Context, SettingsT, list[PartT]], Outcome]
    estimate: Callable[[Context, SettingsT, list[Slice]], Work] = lambda ctx, settings, slices: Work(0, 0)
    # settings doing about `share` of the work, with the reductions made and why; None: not reducible
    reduce: Callable[[Context, SettingsT, float, str], Reduced[SettingsT]] | None = None
    stage: Stage = Stage.MEASURE
    shared_seed: bool = False  # every unit gets the check's seed (the function splits streams itself)
    opt_in: bool = False  # runs, and is listed, only when the config has its [checks.<name>] table

    def listed(self, config: AuditConfig) -> bool:
        """Whether the audit lists this check: always, unless it is opt-in and its table is absent."""
        return not self.opt_in or getattr(config.checks, self.name) is not None

    def enabled(self, config: AuditConfig) -> bool:
        """Whether the config runs this check (a check without settings always runs)."""
        settings = self.settings(config)
        return settings is None or settings.enabled


def chunks(items: Sequence[int] | np.ndarray, size: int, part: str = "rows") -> list[Slice]:
    return [(part, tuple(int(i) for i in items[s : s + size])) for s in range(0, len(items), size)]


def calls_for(rows: Iterable[int], batch_size: int) -> int:
    """Model calls for predictions of these row counts, each split into batches of `batch_size`."""
    return sum(-(-n // max(batch_size, 1)) for n in rows)


def search_work(
    rounds: list[int],
    budget: int,
    method: str,
    dim: int,
    generator: bool,
    extra_rows: int = 0,
    overshoot: int = 0,
) -> Work:
    """The work of lockstep searches of `budget` queries each (`overshoot` more at most, for searches whose
    last generation may pass the budget): `rounds` lists how many searches run together in each lockstep
    round (one model call per generation); `generator`: every row is generated first."""
    generations = -(-budget // NOMINAL_POPULATION)
    searches = sum(rounds)
    queries = searches * (budget + overshoot) + extra_rows
    return Work(
        queries=queries,
        calls=len(rounds) * generations + (1 if extra_rows else 0),
        generator_rows=searches * (budget + overshoot) if generator else 0,
        steps={(method, dim): searches * generations},
    )


def add_work(first: Work, second: Work) -> Work:
    """Two parts' work together."""
    steps = dict(first.steps)
    for key, count in second.steps.items():
        steps[key] = steps.get(key, 0) + count
    return Work(
        first.queries + second.queries,
        first.calls + second.calls,
        first.generator_rows + second.generator_rows,
        steps,
        first.classes if first.classes is not None else second.classes,
        first.texts + second.texts,
    )


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


def search_budget(ctx: Context, own: int | None) -> int:
    """A search check's query budget: its own `budget`, else [run] budget."""
    return own or ctx.config.run.budget


def nonfinite_facts(rows: Iterable[int], handling: str) -> dict[str, Any]:
    """The inputs whose own (unperturbed) scores were NaN or infinite: a finding, listed with what was done."""
    listed = sorted({int(r) for r in rows})
    return {
        "nonfinite_rows": len(listed),
        "nonfinite_row_indices": listed[:NAMED_ROWS],
        "nonfinite_handling": handling,
    }


def time_limit(config: AuditConfig, settings: CheckSettings | None) -> float | None:
    """A check's wall-clock limit in seconds: its own `timeout`, else [run] check_timeout; None when 0 (no limit)."""
    own = settings.timeout if settings is not None else None
    seconds = own if own is not None else config.run.check_timeout
    return float(seconds) if seconds else None


def settings_dict(settings: CheckSettings | None) -> dict[str, Any]:
    """A check's settings as JSON-ready values."""
    return {} if settings is None else dict(plain(settings))


def per_unit(ctx: Context, usual: int, large: int) -> int:
    """Items per unit: `usual`, or `large` (fewer) when one sample has more than LARGE_INPUT_VALUES values.

    Decided by the input's shape alone, so a seed gives the same units (and figures) on every machine.
    """
    return large if int(np.prod(ctx.blackbox.input_shape)) > LARGE_INPUT_VALUES else usual
