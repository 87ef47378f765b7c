"""Run a generator one step ahead in a thread of its own.

An import reads, cleans and validates a batch (Polars, which leaves the GIL while it works)
while the batch before it is written to the database (SQLite leaves the GIL while it steps): on
two cores the two overlap instead of taking turns. The queue holds at most ``depth`` items, so
memory stays that of a few batches however long the file.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@contextmanager
def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """Yield an iterator over ``items``, produced in a worker thread up to ``depth`` items
    ahead. An exception in the worker is raised in the reader, at the item it stopped at.
    Leaving the block early (an error, a break) stops the worker and waits for it, so that
    nothing it reads (an open file) outlives the block."""
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # handed to the reader, raised there
            put(_Failed(error))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        put(_DONE)

    def read() -> Iterator[T]:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]

    worker = threading.Thread(target=work, name="customer-flow-prefetch", daemon=True)
    worker.start()
    try:
        yield read()
    finally:
        stop.set()
        while worker.is_alive():
            with suppress(queue.Empty):
                box.get(timeout=0.1)
        worker.join()
