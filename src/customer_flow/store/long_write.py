"""Waiting for a long SQLite write instead of failing behind it (issue 19, item 5).

SQLite has one writer at a time, and an import holds the write lock for its whole run (its
rows, search index and duplicate keys go in one transaction, so that it is all or nothing). A
write that waited more than the busy timeout (30 s) behind it failed with "database is
locked": an agent's reply, lost to an import.

Now a long writer says so. While it runs it holds an exclusive ``flock`` on a file beside the
database (``<database>.long-write``), whose text says what it is (``import of people.csv, pid
123, since 14:20:05 UTC``). A write whose ``BEGIN IMMEDIATE`` times out looks at that file:
when a long writer holds it, the write waits for it to end (up to ``LONG_WAIT_S``), then
begins again; otherwise the error stands. A second long writer waits for the first in the
same way, and can say why it waits. The kernel drops a ``flock`` when its process dies, so an
import killed with -9 leaves a file that holds nobody up.

The waits are as long as the import's run; only the writes wait, never the reads (WAL). Taking
the lock only for a short write phase at the end is the rest of the item.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: the old behaviour there
    fcntl = None  # type: ignore[assignment]

__all__ = ["LONG_WAIT_S", "holder", "lock_path", "long_write", "wait_for_long_write"]

log = logging.getLogger(__name__)

#: The longest a write waits for a long writer before it fails as before.
LONG_WAIT_S = 3600.0
_POLL_S = 0.1


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".long-write")


def _try(fd: int, kind: int) -> bool:
    assert fcntl is not None
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(lock: Path) -> str | None:
    """What long write holds ``lock`` now, in words; ``None`` when none does."""
    if fcntl is None:
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try(fd, fcntl.LOCK_SH):
            return None
        return os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "a long write"
    finally:
        os.close(fd)


def wait_for_long_write(lock: Path, *, limit_s: float = LONG_WAIT_S) -> bool:
    """Wait while a long writer holds ``lock``: True once it has ended (begin again), False
    when none held it or it outlasted ``limit_s`` (the caller's error stands)."""
    what = holder(lock)
    if what is None:
        return False
    log.info("a write waits for %s to end", what)
    deadline = time.monotonic() + limit_s
    while holder(lock) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True


@contextmanager
def long_write(
    lock: Path, what: str, *, waiting: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``lock`` for a long write described by ``what``. When another long write holds it,
    tell ``waiting`` (what that one is) and wait for it to end first."""
    if fcntl is None:
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try(fd, fcntl.LOCK_EX):
            other = holder(lock) or "another long write"
            if waiting is not None:
                waiting(other)
            fcntl.flock(fd, fcntl.LOCK_EX)
        since = datetime.now(UTC).strftime("%H:%M:%S UTC")
        text = f"{what}, pid {os.getpid()}, since {since}".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text, 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # drops the lock
