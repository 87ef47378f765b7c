"""Login throttling: exponential backoff per (account, address), per address and per account.

A failed login (or a wrong current password on a password change) is a row in
``login_failures``: the account's email key, the client's address and when. The rows live in
the database, so every app server sees the same counts. Three limits apply, each the same
shape: ``free`` failures within ``window`` go unhindered; after that, the next attempt waits
``first`` after the last failure, twice as long with each further failure, up to ``cap``:

- one account from one address (``PAIR``): 5 free in 24 hours, then 1 s, 2 s, 4 s, ... up to
  15 minutes. A good login from that address clears them.
- one address, whatever the accounts (``ADDRESS``): 10 free in an hour, then the same. This
  stops one address from trying a password or two on every account.
- one account, whatever the addresses (``ACCOUNT``): 10 free in 24 hours, then the same, but
  only for addresses that have themselves failed on the account in that time. So an attack from
  many addresses gets one try from each, while the account's owner, logging in from an address
  that has not failed, is never kept out by it: throttling cannot lock anyone out.

A throttled attempt is refused before any password is checked, and is not counted. Addresses
are keyed as given, except IPv6, which is keyed by its /64 network (one host usually has all of
it). A client with no address (the CLI, tests) counts as the address ``""``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select

from customer_flow.core.errors import TooManyAttemptsError
from customer_flow.core.times import aware
from customer_flow.store.schema import login_failures

__all__ = [
    "ACCOUNT",
    "ADDRESS",
    "PAIR",
    "Limit",
    "address_key",
    "forget",
    "record_failure",
    "retry_after",
    "too_many",
]

MAX_ADDRESS = 64


@dataclass(frozen=True)
class Limit:
    """``free`` failures within ``window`` go unhindered; then the next attempt waits ``first``
    after the last failure, doubling with each failure more, at most ``cap``."""

    free: int
    window: timedelta
    first: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(minutes=15)

    def wait(self, failures: int) -> timedelta:
        """How long after the last of ``failures`` the next attempt must wait."""
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 30)
        wait: timedelta = min(self.cap, self.first * 2**doublings)
        return wait


PAIR = Limit(free=5, window=timedelta(hours=24))
ADDRESS = Limit(free=10, window=timedelta(hours=1))
ACCOUNT = Limit(free=10, window=timedelta(hours=24))
#: Rows older than every window are deleted now and then.
KEEP = max(PAIR.window, ADDRESS.window, ACCOUNT.window)
#: One failure in this many also clears the old rows of every account.
_CLEAN_EVERY = 64


def address_key(host: str | None) -> str:
    """The throttling key of a client address: an IPv6 address by its /64 network."""
    if not host:
        return ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ADDRESS]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _count(conn: Connection, where: list[object], since: datetime) -> tuple[int, datetime | None]:
    stmt = select(func.count(), func.max(login_failures.c.at)).where(
        login_failures.c.at > since,
        *where,  # type: ignore[arg-type]
    )
    count, last = conn.execute(stmt).one()
    return int(count), aware(last)


def retry_after(conn: Connection, email_key: str, address: str, now: datetime) -> int:
    """Seconds until ``address`` may try to log in to ``email_key`` again; 0: now."""
    c = login_failures.c
    pair, pair_last = _count(
        conn, [c.email_key == email_key, c.address == address], now - PAIR.window
    )
    waits = [(PAIR, pair, pair_last)]
    waits.append((ADDRESS, *_count(conn, [c.address == address], now - ADDRESS.window)))
    if pair:
        waits.append((ACCOUNT, *_count(conn, [c.email_key == email_key], now - ACCOUNT.window)))
    longest = 0.0
    for limit, failures, last in waits:
        if last is not None:
            left = (last + limit.wait(failures) - now).total_seconds()
            longest = max(longest, left)
    return math.ceil(longest) if longest > 0 else 0


def record_failure(conn: Connection, email_key: str, address: str, now: datetime) -> int:
    """Count a failed attempt; returns its row's ID (the Hub counts an attempt as failed before
    checking the password, and deletes the row when the password was right)."""
    failure_id = int(
        conn.execute(
            insert(login_failures)
            .values(email_key=email_key, address=address, at=now)
            .returning(login_failures.c.id)
        ).scalar_one()
    )
    if failure_id % _CLEAN_EVERY == 0:
        conn.execute(delete(login_failures).where(login_failures.c.at < now - KEEP))
    return failure_id


def forget(
    conn: Connection,
    email_key: str,
    address: str | None = None,
    *,
    failure_id: int | None = None,
) -> None:
    """After a good password: delete the account's failures from ``address`` (every address
    with ``None``), and the attempt's own row."""
    c = login_failures.c
    stmt = delete(login_failures).where(c.email_key == email_key)
    if address is not None:
        stmt = stmt.where(c.address == address)
    conn.execute(stmt)
    if failure_id is not None:
        conn.execute(delete(login_failures).where(c.id == failure_id))


def too_many(seconds: int) -> TooManyAttemptsError:
    """The error for an attempt refused for ``seconds`` more."""
    if seconds < 120:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        wait = f"{math.ceil(seconds / 60)} minutes"
    return TooManyAttemptsError(
        f"too many failed logins; try again in {wait}", retry_after=max(seconds, 1)
    )
