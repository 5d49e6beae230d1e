"""SIGTERM handled like Ctrl-C: the run unwinds through every `finally` (temporary folders removed, nothing
moved into --out) and the CLI exits 143, or 130 for Ctrl-C, with one line.

SIGTERM raises Terminated, a BaseException like KeyboardInterrupt and not an AuditorError, so no
`except Exception` on the way (a check's error handling, an ONNX Runtime call's) can swallow it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from auditor.errors import Interrupted


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives."""


class Cancelled(BaseException):
    """Raised in a worker thread whose run was interrupted in the main thread, so that it stops there too."""


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated in the main thread; the previous handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.signal(
        signal.SIGTERM, signal.SIG_IGN
    )  # a second SIGTERM must not cut the cleanup of the first short
    raise Terminated()


def interrupted(exc: BaseException) -> Interrupted:
    """The user-facing error for a KeyboardInterrupt (Ctrl-C, exit 130) or a Terminated (SIGTERM, exit 143)."""
    while exc.__cause__ is not None and not isinstance(
        exc, KeyboardInterrupt | Terminated
    ):  # click's Abort wraps
        exc = exc.__cause__
    if isinstance(exc, Terminated):
        return Interrupted("stopped by SIGTERM; nothing partial was written", 143)
    return Interrupted("interrupted (Ctrl-C); nothing partial was written", 130)
