"""How the app is served: Nagle's algorithm is off on every connection, including those
accepted from a socket bound the way ``serve --workers N`` binds it (web/serving.py)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from customer_flow.cli import app
from customer_flow.web.serving import HttpProtocol, no_delay


class _Transport(asyncio.Transport):
    def __init__(self, sock: socket.socket | None) -> None:
        super().__init__()
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sock if name == "socket" else default


def _nodelay(sock: Any) -> int:
    return int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


def test_no_delay_sets_the_option_on_a_tcp_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert _nodelay(sock) == 0
        assert no_delay(_Transport(sock)) is True
        assert _nodelay(sock) == 1


def test_no_delay_leaves_what_is_not_tcp_alone() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert no_delay(_Transport(a)) is False
    assert no_delay(_Transport(None)) is False


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def _recording(base: type[asyncio.Protocol], seen: list[int]) -> type[asyncio.Protocol]:
    """``base``, noting the option on each connection it is given."""

    class Recording(base):  # type: ignore[misc,valid-type]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            seen.append(_nodelay(transport.get_extra_info("socket")))

    return Recording


@contextmanager
def _serving(http: type[asyncio.Protocol] | str) -> Iterator[int]:
    """uvicorn in a thread on a socket bound as ``--workers`` binds it (its protocol number
    left at 0, so asyncio does not recognise it as TCP)."""
    sock = socket.socket(socket.AF_INET)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(_hello, http=http, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _get_twice(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(2):  # keep-alive: the second response is the one Nagle held back
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"hello"
    conn.close()


def test_connections_from_a_socket_bound_for_workers_get_no_delay() -> None:
    """The socket ``--workers`` hands to each worker: the app's protocol turns Nagle's
    algorithm off on the connections accepted from it."""
    seen: list[int] = []
    with _serving(_recording(HttpProtocol, seen)) as port:
        _get_twice(port)
    assert seen == [1]


def test_uvicorns_own_protocol_leaves_it_on_there() -> None:
    """What ``HttpProtocol`` is for: uvicorn's own protocol leaves the algorithm on there.
    When uvicorn fixes its socket (issue #3149), this fails: then ``web/serving.py`` can go."""
    seen: list[int] = []
    with _serving(_recording(AutoHTTPProtocol, seen)) as port:
        _get_twice(port)
    assert seen == [0]


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_uvicorn_with_the_apps_protocol(
    workers: int, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``serve`` hands uvicorn ``HttpProtocol`` with one worker and with several."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append(kw))
    for name in ("DATABASE_URL", "DEFAULT_REGION", "ACTOR"):  # set by serve for its workers
        monkeypatch.delenv(f"CUSTOMER_FLOW_{name}", raising=False)
    r = CliRunner().invoke(app, ["--db", db_url, "serve", "--workers", str(workers)])
    assert r.exit_code == 0, r.output
    (kw,) = calls
    assert kw["http"] is HttpProtocol
    assert kw.get("workers", 1) == workers
