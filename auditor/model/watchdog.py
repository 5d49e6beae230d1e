"""Run-time cancellation: one watchdog thread sets `RunOptions.terminate` on an ONNX Runtime call past its limit.

ONNX Runtime checks the flag between kernels (and between Loop iterations), so a call that loops or
runs too long ends with an error instead of holding the audit; a single kernel that never returns
cannot be stopped this way (the sandbox's wall-clock timeout covers the first contact).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import onnxruntime as ort


class CallGuard:
    """One guarded call: pass `run_options` to `session.run`; `fired` says whether the watchdog stopped it."""

    __slots__ = ("deadline", "fired", "run_options", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.run_options = ort.RunOptions() if seconds else None
        self.deadline = 0.0
        self.fired = False

    def __enter__(self) -> CallGuard:
        if self.run_options is not None:
            self.deadline = time.monotonic() + float(self.seconds)  # type: ignore[arg-type]
            _WATCHDOG.arm(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.run_options is not None:
            _WATCHDOG.disarm(self)


class _Watchdog:
    """A daemon thread that sleeps until the earliest deadline; arming a later deadline does not wake it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[CallGuard] = set()
        self._wake: float | None = None
        self._thread: threading.Thread | None = None

    def arm(self, guard: CallGuard) -> None:
        with self._cond:
            self._armed.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="auditor-watchdog", daemon=True)
                self._thread.start()
            if self._wake is None or guard.deadline < self._wake:
                self._wake = guard.deadline
                self._cond.notify()

    def disarm(self, guard: CallGuard) -> None:
        with self._cond:
            self._armed.discard(guard)

    def _watch(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for guard in [g for g in self._armed if g.deadline <= now]:
                    guard.run_options.terminate = True  # type: ignore[union-attr]
                    guard.fired = True
                    self._armed.discard(guard)
                self._wake = min((g.deadline for g in self._armed), default=None)
                self._cond.wait(None if self._wake is None else self._wake - now)


_WATCHDOG = _Watchdog()


def watch(seconds: float | None) -> CallGuard:
    """A guard for one `session.run`; None or 0 seconds means no limit (and no RunOptions)."""
    return CallGuard(seconds if seconds and seconds > 0 else None)
