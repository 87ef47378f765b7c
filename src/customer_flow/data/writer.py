"""One thread that does an import's database work, in order, while the next batch is checked.

An import's batches go through two kinds of work: settling and checking (Polars and DuckDB,
which leave the GIL) and writing (SQLite and psycopg, which leave it while the database works).
Done in turn they use one core at a time. ``Writer`` takes the writes of batch *k* while the
caller settles and checks batch *k + 1*:

- ``submit(fn)`` queues ``fn`` (it is given nothing and returns nothing) and returns at once;
- ``call(fn)`` runs ``fn`` after everything queued before it and returns its result: a read
  that must see the import's earlier writes, on the one connection the writes use;
- ``flush()`` waits for everything queued.

Every use of the connection goes through the one thread, in the order given, so the connection
is never used by two threads at once. The queue holds at most ``depth`` items: memory stays that
of a few batches. The first error stops the work: what was queued after it is dropped, and the
error is raised in the caller at its next ``submit``, ``call`` or ``flush``. ``close`` stops the
thread and waits for it, so that the caller may roll back knowing nothing else touches the
connection.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Writer"]

T = TypeVar("T")
_STOP = object()


class Writer:
    def __init__(self, depth: int = 4, *, name: str = "customer-flow-writer") -> None:
        self._box: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self._discard = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._box.get()
            if item is _STOP:
                return
            fn, done = item
            if fn is not None and self._error is None and not self._discard:
                try:
                    fn()
                except BaseException as error:  # raised in the caller, in order
                    self._error = error
            if done is not None:
                done.set()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, fn: Callable[[], object]) -> None:
        """Queue ``fn``; raises the error of an earlier item, if one failed."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._check()
        self._box.put((fn, None))

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` after everything queued so far; its result, or the first error."""
        out: list[T] = []
        self.submit(lambda: out.append(fn()))
        self.flush()
        return out[0]

    def flush(self) -> None:
        """Wait for everything queued; raises the first error."""
        if self._closed:
            self._check()
            return
        done = threading.Event()
        self._box.put((None, done))
        done.wait()
        self._check()

    def close(self, *, discard: bool = False) -> None:
        """Stop and wait for the thread. What is still queued runs first, unless ``discard``
        (the caller is giving up: its transaction is about to be rolled back) or an item
        failed."""
        if self._closed:
            return
        self._closed = True
        self._discard = discard
        self._box.put(_STOP)
        self._thread.join()
