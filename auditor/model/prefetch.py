"""Build the next batch of rows while ONNX Runtime runs the current one.

ONNX Runtime releases the GIL inside `run`, and numpy does for most of its work on large arrays, so a
second Python thread can build the next rows (masks, perturbations, decoding) while the model computes.
`prefetch` runs an iterable in one background thread, at most `depth` items ahead of the consumer, and
hands the items over in their order: the same items as iterating it directly, so results, query
counts and the row cache's hits do not change. An error raised while building an item is raised by
`prefetch` at that item's place, with its own traceback. When the consumer stops early (break, an
error of its own, garbage collection), the background thread is told to stop and joined before
`prefetch` returns, after the item it is building; nothing runs on behind the caller's back.

The overlap needs a free core. On a busy machine the second thread only competes for the cores and
every hand-over waits for the scheduler (measured on this project's shared 2-core machine at load
average 5-7: occlusion, LIME and exemplar search ran 1.2-1.7x slower with it), so by default the items
are built in the background only when `session.spare_core()` says a core is free, and inline otherwise.

The iterable must not share mutable state with the consumer (e.g. draw from a random generator that
the consumer also draws from while it iterates): it runs ahead, in another thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from auditor.errors import ArgumentError
from auditor.model.session import spare_core

Item = TypeVar("Item")
#: Seconds between checks for the stop request while the consumer is gone and the queue is full.
_POLL = 0.05


class _End:
    """The source is exhausted, or raised `error`."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetch(items: Iterable[Item], depth: int = 1, background: bool | None = None) -> Iterator[Item]:
    """The items of `items` in order, built by one background thread at most `depth` items ahead.

    background: True always uses the thread, False never (plain iteration), None when a core is free.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ArgumentError(f"prefetch depth must be a positive integer, got {depth!r}")
    if background is False or (background is None and not spare_core()):
        return iter(items)
    return _prefetched(iter(items), depth)


def _prefetched(source: Iterator[Item], depth: int) -> Iterator[Item]:
    """The generator behind `prefetch`: the background thread starts with the first `next`."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(value: object) -> bool:
        """Put value in the queue unless told to stop first; False when stopped."""
        while not stop.is_set():
            try:
                ready.put(value, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not hand_over(item):
                    return
        except BaseException as error:  # handed to the consumer, which raises it at this item's place
            hand_over(_End(error))
            return
        hand_over(_End())

    worker = threading.Thread(target=produce, name="auditor-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            value = ready.get()
            if isinstance(value, _End):
                if value.error is not None:
                    raise value.error
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        if threading.current_thread() is not worker:  # a garbage collection may close us from any thread
            worker.join()
