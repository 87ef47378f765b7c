"""The worker's queue on Redis, shared by several workers: each job taken by one worker, and a
job whose worker died taken again.

huey's Redis queue pops a job off the list (``BRPOP``): a worker killed mid-job takes the job
with it. Here a worker *moves* the job into a list of its own (``BLMOVE``, atomic: two workers
never get one job) and removes it from there when the job has ended, however it ended (a
failure is retried by huey itself, as a new message). While it lives, each worker keeps a key
saying so (``huey.alive.<queue>.<worker>``, refreshed by a thread, expiring after ``lease``
seconds). Every worker, when it starts and then every ``lease`` seconds, puts back on the
queue the jobs of workers whose key has expired: they died mid-job.

A job may thus run again after its worker died: the jobs are written for that. Sending mail
claims each message with a lease in the outbox (``mail/outbox.py``), so a message another worker
was sending is not sent again before that lease ends; filing mail is exactly once by unique keys
(``mail/inbound.py``).

:meth:`ReliableRedisHuey.once` lets one worker among several run a periodic job for a given
minute (each worker's scheduler enqueues the periodic jobs).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from huey import RedisHuey
from huey.storage import RedisStorage

__all__ = ["ReliableRedisHuey", "ReliableRedisStorage"]


class ReliableRedisStorage(RedisStorage):  # type: ignore[misc]
    """huey's Redis storage, dequeuing into an in-flight list per worker."""

    def __init__(self, name: str = "huey", *, lease: int = 60, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.lease = lease
        self.worker_id = uuid.uuid4().hex[:16]
        self.inflight_prefix = f"huey.inflight.{self.name}."
        self.alive_prefix = f"huey.alive.{self.name}."

    @property
    def inflight_key(self) -> str:
        return self.inflight_prefix + self.worker_id

    def dequeue(self) -> bytes | None:
        try:
            got: bytes | None = self.conn.blmove(
                self.queue_key, self.inflight_key, self.read_timeout, "RIGHT", "LEFT"
            )
        except (TimeoutError, TypeError, IndexError):
            return None
        return got

    def ack(self, data: bytes) -> None:
        """The job ended: it leaves this worker's in-flight list."""
        self.conn.lrem(self.inflight_key, 1, data)

    def heartbeat(self) -> None:
        self.conn.set(self.alive_prefix + self.worker_id, b"1", ex=self.lease)

    def recover(self) -> int:
        """Put back on the queue the in-flight jobs of workers that are no longer alive
        (their key expired); the number of jobs put back. Moved one by one (``LMOVE``), so a
        job is never both in flight and queued, nor lost if this worker dies here."""
        moved = 0
        for key in self.conn.scan_iter(match=self.inflight_prefix + "*", count=100):
            owner = key.decode()[len(self.inflight_prefix) :]
            if owner == self.worker_id or self.conn.exists(self.alive_prefix + owner):
                continue
            # The oldest first, to the end the workers read from: taken before newer jobs.
            while self.conn.lmove(key, self.queue_key, "RIGHT", "RIGHT") is not None:
                moved += 1
        return moved

    def claim(self, key: str, ttl: int) -> bool:
        """True for the first caller of ``key`` within ``ttl`` seconds, on every worker."""
        return bool(self.conn.set(f"huey.once.{self.name}.{key}", b"1", nx=True, ex=ttl))


class ReliableRedisHuey(RedisHuey):  # type: ignore[misc]
    """A ``RedisHuey`` whose jobs survive the death of the worker running them."""

    storage_class = ReliableRedisStorage

    def __init__(self, name: str, *, lease: int = 60, **kwargs: Any) -> None:
        super().__init__(name, lease=lease, **kwargs)
        self._raw: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def dequeue(self) -> Any:
        data = self.storage.dequeue()
        if data is None:
            return None
        task = self.deserialize_task(data)
        with self._lock:
            self._raw[task.id] = data
        return task

    def execute(self, task: Any, timestamp: Any = None) -> Any:
        try:
            return super().execute(task, timestamp)
        finally:
            with self._lock:
                data = self._raw.pop(task.id, None)
            if data is not None:
                self.storage.ack(data)

    def once(self, key: str, ttl: int = 300) -> bool:
        """True for one worker only per ``key`` (within ``ttl`` seconds)."""
        return bool(self.storage.claim(key, ttl))

    def start_keeping_alive(self) -> None:
        """Say this worker is alive, now and every third of the lease (a thread), and take
        back the jobs of dead workers now and every lease."""
        storage: ReliableRedisStorage = self.storage
        storage.heartbeat()
        storage.recover()

        def beat() -> None:
            ticks = 0
            while not self._stop.wait(storage.lease / 3):
                try:
                    storage.heartbeat()
                    ticks += 1
                    if ticks % 3 == 0:
                        storage.recover()
                except Exception:  # Redis away for a while: the next beat tries again
                    continue

        threading.Thread(target=beat, name="huey-alive", daemon=True).start()

    def stop_keeping_alive(self) -> None:
        self._stop.set()
