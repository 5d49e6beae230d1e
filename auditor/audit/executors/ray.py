"""The Ray executor: a check's units run on Ray actors, each holding one ONNX Runtime session per model.

Each actor rebuilds the audit's context in its constructor from the verified model bytes (`Replica`;
sessions cannot be pickled), with ONNX Runtime's intra-op threads set to the actor's CPUs (ONNX
Runtime would size its pool from the machine's cores); where the cluster has GPUs, one actor per GPU.
Units keep the seeds the plan gave them, from (seed, check, unit), so which actor runs a unit changes
no figure, and parts come back in unit order for the merge. A worker forgets its cached rows before
each unit (`local_mapper`, as in process), so a unit's query count does not depend on what that worker
ran before.
Facts about the run (`Stage.FACTS`) are gathered in this process.

Budgets: each unit gets what is left of the audit's query cap and of its check's time when it is
sent; units running at once can pass the cap together by what they send (never one unit alone).

Faults: an actor whose process dies is replaced by a fresh one and its unit retried once, on the
first actor free (counted here rather than by Ray's `max_restarts` / `max_task_retries`, so that
"twice" means two deaths of this unit's worker); a unit whose worker dies twice ends its check as
not finished. Ctrl-C or SIGTERM kills the actors this executor made, and the cluster it started.

`AUDITOR_TEST_UNIT_EXIT=CHECK:INDEX` makes the worker running that unit exit on every try;
`CHECK:INDEX@FILE` only on the try that creates FILE (the first). Tests use it to kill workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from auditor.audit.checks import Check, Context, Unit
from auditor.audit.checks.core import PartT, SettingsT
from auditor.audit.executors.local import local_mapper
from auditor.audit.executors.replica import Replica
from auditor.audit.executors.spec import RAY_EXTRA
from auditor.audit.results import Stage
from auditor.errors import ArgumentError, DeviceError, NotFinished
from auditor.interrupts import Cancelled
from auditor.model.budget import Allowance, Budget

UNIT_TRIES = 2  # a unit whose worker dies runs once more, on another actor; a second death: not finished
WAIT_S = 0.5  # longest wait for a result before this process looks at signals again
STOP_WAIT_S = 60.0  # longest wait for a cluster's start-up to end, then its shutdown, when stopping
JOIN_WAIT_S = 10.0  # longest wait for a TCP connection to ray:HOST:PORT before joining it
FAULT_ENV = "AUDITOR_TEST_UNIT_EXIT"


def import_ray() -> ModuleType:
    """The `ray` package (an optional extra: imported only when the Ray executor is used)."""
    # Ray's C++ core otherwise installs a crash handler for SIGTERM that aborts the process, so that a
    # SIGTERM during start-up would leave the cluster's processes behind; this process handles SIGTERM.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise ArgumentError(f"executor ray needs the optional extra 'ray': {RAY_EXTRA}") from None
    return ray


class UnitWorker:
    """A Ray actor's state: the audit's context with its own sessions, and the units it runs on it."""

    def __init__(self, replica: Replica, threads: int) -> None:
        self.context = replica.open(threads)

    def ready(self) -> int:
        """The worker's process id, once the sessions are built."""
        return os.getpid()

    def run(
        self,
        job: tuple[Check[Any, Any], Any, dict[str, Any]],
        unit: Unit,
        allowance: Allowance,
        generator_allowance: Allowance,
        fault: str | None = None,
    ) -> tuple[Any, int, int]:
        """One unit under what is left of the audit's budget and the check's time: (part, queries, generator queries).

        `fault` is the test hook's value (see the module's docstring), read where the units are sent.
        """
        exit_if_due(fault, unit)
        check, settings, facts = job
        ctx = self.context
        ctx.adopt(facts)  # the shared facts as this process has them: never computed (nor counted) here
        ctx.blackbox.runner.budget = allowance.budget()
        for model in (ctx.generator, ctx.encoder):
            if model is not None:
                model.runner.budget = generator_allowance.budget()
        (result,) = local_mapper(check, ctx, settings, [unit])
        return result


def exit_if_due(fault: str | None, unit: Unit) -> None:
    """End this process at once when the test hook names `unit` (see the module's docstring)."""
    if fault is None:
        return
    target, _, marker = fault.partition("@")
    if target != f"{unit.check}:{unit.index}":
        return
    if marker:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
    os._exit(1)


class RayExecutor:
    """Units on actors of a Ray cluster: joined at `address`, else started here sized to this machine.

    Use it as a context manager; inside, it is a `UnitMapper`. Each audited context gets its own
    actors (`workers` of them, default: one per CPU, or one per GPU where there are GPUs, divided
    among `share` audits running at once), made at its first unit and killed by `release(ctx)`.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, share: int = 1) -> None:
        if workers is not None and workers < 1:
            raise ArgumentError(f"workers must be 1 or more, got {workers}")
        if share < 1:
            raise ArgumentError(f"share must be 1 or more, got {share}")
        self.ray = import_ray()
        self.address = address
        self.wanted = workers
        self.share = share
        self.keeper: threading.Thread | None = None  # started or joined the cluster; None: it was up already
        self.stopping = threading.Event()
        self.cancelled = threading.Event()
        self.pools: dict[int, tuple[Context, Pool]] = {}
        self.lock = threading.Lock()
        self.cpus = self.gpus = 0

    def __enter__(self) -> RayExecutor:
        ray = self.ray
        if not ray.is_initialized():
            self.reachable()
            self.start()
        resources = ray.cluster_resources()
        self.cpus, self.gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        return self

    def reachable(self) -> None:
        """Refuse at once a ray:HOST:PORT where nothing answers (Ray itself would retry for minutes)."""
        host, colon, port = (self.address or "").rpartition(":")
        if not colon or not port.isdigit() or "://" in host:
            return  # "auto", ray://, or no address: Ray decides
        try:
            socket.create_connection((host, int(port)), timeout=JOIN_WAIT_S).close()
        except OSError as exc:
            raise DeviceError(
                f"executor ray:{self.address}: nothing answers there ({exc.strerror or exc}); start the "
                "cluster (ray start --head) or check the address"
            ) from None

    def start(self) -> None:
        """Join the cluster at `address`, or start one here, from a keeper thread that stops it on `__exit__`.

        Ray ties the processes it starts to the thread that started them and, in the main thread, puts
        its own SIGTERM handler in place while it starts; from the keeper it does neither, so Ctrl-C or
        SIGTERM here unwind as without Ray: the start-up is let finish, the cluster stopped, then raised.
        """
        up = threading.Event()
        failed: list[BaseException] = []

        def keep() -> None:
            try:
                self.ray.init(
                    address=self.address,
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
            except BaseException as exc:  # handed to the caller below
                failed.append(exc)
                return
            finally:
                up.set()
            self.stopping.wait()
            self.ray.shutdown()

        self.keeper = threading.Thread(target=keep, name="auditor-ray-cluster", daemon=True)
        self.keeper.start()
        try:
            while not up.wait(WAIT_S):
                pass
        except BaseException:
            self.stop()
            raise
        if failed and isinstance(failed[0], Exception):  # no cluster at the address, a start that failed
            where = f"join the Ray cluster at {self.address}" if self.address else "start a Ray cluster here"
            raise DeviceError(f"executor ray: cannot {where} ({_short(failed[0])})") from None
        if failed:
            raise failed[0]

    def stop(self) -> None:
        """Stop (or leave) the cluster this executor started or joined, waiting a while for a start-up to end.

        After STOP_WAIT_S this process goes on without the keeper: a start-up that hangs (an address
        where no cluster answers) must not hold an interrupted run, and the processes Ray started
        from the keeper end with this process.
        """
        if self.keeper is not None:
            self.stopping.set()
            self.keeper.join(STOP_WAIT_S)
            self.keeper = None

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            pools = [pool for _, pool in self.pools.values()]
            self.pools.clear()
        for pool in pools:
            pool.close()
        self.stop()

    @property
    def slots(self) -> int:
        """Actors at once: one per GPU where there are GPUs, else one per CPU; at most `workers` if given."""
        cluster = self.gpus or self.cpus or 1
        return min(self.wanted or cluster, cluster)

    @property
    def workers(self) -> int:
        """Actors each audit gets when `share` audits run at once."""
        return max(1, self.slots // min(self.share, self.slots))

    def cancel(self) -> None:
        """Stop every audit on this executor (the run was interrupted): their threads raise Cancelled."""
        self.cancelled.set()

    def __call__(
        self, check: Check[SettingsT, PartT], ctx: Context, settings: SettingsT, units: list[Unit]
    ) -> Iterator[tuple[PartT, int, int]]:
        if check.stage is Stage.FACTS:  # facts describe the process that runs the audit
            return local_mapper(check, ctx, settings, units)
        return self.pool(ctx).map(check, ctx, settings, units)

    def pool(self, ctx: Context) -> Pool:
        """The actors of this context, made on first use."""
        with self.lock:
            if id(ctx) not in self.pools:
                self.pools[id(ctx)] = (ctx, self.make_pool(ctx))
            return self.pools[id(ctx)][1]

    def make_pool(self, ctx: Context) -> Pool:
        device = ctx.blackbox.options.device
        gpus = 1 if self.gpus and device != "cpu" else 0
        if device == "cuda" and not self.gpus:
            raise DeviceError("device cuda: the Ray cluster has no GPU; use device cpu or auto")
        cpus = max(1, self.cpus // self.gpus) if gpus else 1
        return Pool(self.ray, Replica.of(ctx), self.workers, cpus, gpus, self.cancelled)

    def release(self, ctx: Context) -> None:
        """Kill the actors of `ctx` (its audit is over), freeing their CPUs and GPUs for other audits."""
        with self.lock:
            held = self.pools.pop(id(ctx), None)
        if held is not None:
            held[1].close()


class Pool:
    """The actors of one context: units go only to actors that are up, one at a time each."""

    def __init__(
        self,
        ray: ModuleType,
        replica: Replica,
        size: int,
        cpus: int,
        gpus: int,
        cancelled: threading.Event,
    ) -> None:
        self.ray = ray
        self.cancelled = cancelled
        self.actor = ray.remote(UnitWorker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=0)
        self.replica = ray.put(replica)
        self.cpus = cpus
        self.starting: dict[Any, Any] = {}  # ready() call -> actor
        self.idle: deque[Any] = deque()
        self.actors: set[Any] = set()
        self.failures: list[str] = []  # why actors could not start
        for _ in range(size):
            self.add()

    def add(self) -> None:
        actor = self.actor.remote(self.replica, self.cpus)
        self.actors.add(actor)
        self.starting[actor.ready.remote()] = actor

    def kill(self, actor: Any) -> None:
        self.actors.discard(actor)
        self.ray.kill(actor, no_restart=True)

    def close(self) -> None:
        for actor in list(self.actors):
            self.kill(actor)
        self.starting.clear()
        self.idle.clear()

    def map(
        self, check: Check[SettingsT, PartT], ctx: Context, settings: SettingsT, units: list[Unit]
    ) -> Iterator[tuple[PartT, int, int]]:
        """Run `units` on the actors; yield (part, queries, generator queries) in unit order.

        A unit whose actor dies goes back to the queue and the actor is replaced; a second death of
        its worker ends the check as not finished. An error the unit raises is raised here, as it
        would be in this process.
        """
        ray = self.ray
        job = ray.put((check, settings, ctx.settled()))  # with the facts this process computed
        fault = os.environ.get(FAULT_ENV)
        budget = ctx.blackbox.runner.budget or Budget()
        generator = ctx.generator.runner.budget if ctx.generator is not None else None
        waiting = deque(units)
        tries = dict.fromkeys((unit.index for unit in units), 0)
        running: dict[Any, tuple[Unit, Any]] = {}
        finished: dict[int, tuple[PartT, int, int]] = {}
        position = 0
        try:
            while position < len(units):
                if self.cancelled.is_set():
                    raise Cancelled()
                while waiting and self.idle:
                    unit, actor = waiting.popleft(), self.idle.popleft()
                    tries[unit.index] += 1
                    limits = (budget.allowance(), (generator or Budget()).allowance())
                    running[actor.run.remote(job, unit, *limits, fault)] = (unit, actor)
                if not running and not self.starting:
                    raise NotFinished(
                        f"not finished: no Ray worker could start ({'; '.join(self.failures[-2:])})"
                    )
                for ref in _wait(ray, [*running, *self.starting]):
                    if ref in self.starting:
                        self.admit(ref)
                        continue
                    unit, actor = running.pop(ref)
                    try:
                        part, queries, generator_queries = _get(ray, ref)
                    except ray.exceptions.RayTaskError as exc:  # the unit raised: as it would have here
                        self.idle.append(actor)
                        raise exc.cause from None
                    except ray.exceptions.RayActorError as exc:  # its process died: a fresh actor
                        self.kill(actor)
                        self.add()
                        if tries[unit.index] >= UNIT_TRIES:
                            raise NotFinished(
                                f"not finished: unit {unit.index} of {unit.check} failed {UNIT_TRIES} times, "
                                f"its worker died ({_short(exc)})"
                            ) from None
                        waiting.appendleft(unit)
                        continue
                    self.idle.append(actor)
                    budget.record(queries)
                    if generator is not None:
                        generator.record(generator_queries)
                    finished[unit.index] = (part, queries, generator_queries)
                while position < len(units) and units[position].index in finished:
                    yield finished.pop(units[position].index)
                    position += 1
        finally:
            for ref, (_, actor) in running.items():  # units still out when the check stops early
                ray.cancel(ref)
                self.idle.append(actor)

    def admit(self, ready: Any) -> None:
        """An actor's ready() call came back: the actor takes units, or it failed to start and is dropped."""
        actor = self.starting.pop(ready)
        try:
            _get(self.ray, ready)
        except self.ray.exceptions.RayActorError as exc:
            self.failures.append(_short(exc))
            self.kill(actor)
            return
        self.idle.append(actor)


def _wait(ray: ModuleType, refs: list[Any]) -> list[Any]:
    """The calls among `refs` that are done, after at most WAIT_S seconds (then signals are looked at)."""
    try:
        done, _ = ray.wait(refs, num_returns=1, timeout=WAIT_S)
    except SystemError as exc:
        raise _signal_of(exc) from None
    return list(done)


def _get(ray: ModuleType, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except SystemError as exc:
        raise _signal_of(exc) from None


def _signal_of(exc: SystemError) -> BaseException:
    """What a signal handler raised inside Ray's compiled code (Ctrl-C, SIGTERM), which wraps it in a SystemError."""
    cause = exc.__cause__ or exc.__context__
    return cause if cause is not None and not isinstance(cause, Exception) else exc


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
