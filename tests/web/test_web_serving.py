"""How the app is served (web/serving.py): Nagle's algorithm is off on every connection,
including those accepted from a socket bound the way uvicorn's ``--workers`` binds it; several
workers share new connections, restart when they die, stop together."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from customer_flow.cli.main import app
from customer_flow.web import serving
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
    """``serve`` hands uvicorn ``HttpProtocol``: in its own process with one worker, and in
    each worker with several (``serve_workers`` on Linux, uvicorn's supervisor elsewhere)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append(kw))
    monkeypatch.setattr(
        serving, "serve_workers", lambda *a, **kw: calls.append({"workers": a[2]}) or 0
    )
    for name in ("DATABASE_URL", "DEFAULT_REGION", "ACTOR"):  # set by serve for its workers
        monkeypatch.delenv(f"CUSTOMER_FLOW_{name}", raising=False)
    port = str(_free_port())
    r = CliRunner().invoke(
        app, ["--db", db_url, "serve", "--workers", str(workers), "--port", port]
    )
    assert r.exit_code == 0, r.output
    (kw,) = calls
    assert kw.get("workers", 1) == workers
    if workers == 1 or not serving.can_share_port():
        assert kw["http"] is HttpProtocol
        # uvicorn must not trust X-Forwarded-For from 127.0.0.1 by itself: the app decides,
        # from CUSTOMER_FLOW_TRUSTED_PROXIES only.
        assert kw["proxy_headers"] is False


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("reuse_port", [False, True])
def test_serve_on_a_port_in_use_says_so_in_one_line_and_exits_1(
    workers: int, reuse_port: bool, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before it says "serving": a port held by another socket, whether that one allows
    sharing (another `serve --workers`) or not, is reported, and nothing starts."""
    for name in ("DATABASE_URL", "DEFAULT_REGION", "ACTOR"):
        monkeypatch.delenv(f"CUSTOMER_FLOW_{name}", raising=False)
    with socket.socket() as taken:
        if reuse_port:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        r = CliRunner().invoke(
            app, ["--db", db_url, "serve", "--port", str(port), "--workers", str(workers)]
        )
    assert 1 == r.exit_code, r.output
    assert [f"error: port {port} on 127.0.0.1 is in use"] == r.stderr.splitlines()


def test_cannot_listen_names_other_reasons() -> None:
    assert serving.cannot_listen("127.0.0.1", _free_port()) is None
    problem = serving.cannot_listen("192.0.2.1", _free_port())  # not an address of this host
    assert problem is not None and problem.startswith("cannot listen on 192.0.2.1:")


# -- workers -----------------------------------------------------------------------------------

PID_APP = """
import os


def create_app():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

    return app
"""

needs_shared_port = pytest.mark.skipif(
    not serving.can_share_port(), reason="the kernel spreads connections over a shared port"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pid(port: int) -> int:
    """The worker that answers a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return int(conn.getresponse().read())
    finally:
        conn.close()


@contextmanager
def _workers(tmp_path: Path, count: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``serve_workers`` in a process of its own, serving an app that answers its PID."""
    (tmp_path / "pid_app.py").write_text(PID_APP)
    port = _free_port()
    code = (
        "from customer_flow.web import serving; "
        f"raise SystemExit(serving.serve_workers('127.0.0.1', {port}, {count}, "
        "app='pid_app:create_app', log_level='error'))"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    supervisor = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 30
        seen: set[int] = set()
        while len(seen) < count:  # every worker listening
            assert time.monotonic() < deadline, f"workers did not start: {seen}"
            try:
                seen.add(_pid(port))
            except OSError:
                time.sleep(0.1)
        yield port, supervisor
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(timeout=40)


def _burst(port: int, count: int) -> Counter[int]:
    """The workers that answer ``count`` connections opened at once, before any request."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(count)]
    for conn in conns:
        conn.connect()
    answered: Counter[int] = Counter()
    for conn in conns:
        conn.request("GET", "/")
        answered[int(conn.getresponse().read())] += 1
        conn.close()
    return answered


@needs_shared_port
def test_workers_share_a_burst_of_connections(tmp_path: Path) -> None:
    """80 connections at once go to both workers about evenly (with uvicorn's one shared
    socket, the worker woken first took 34, 39 or all 40 of 40); SIGTERM stops the workers
    and the supervisor."""
    with _workers(tmp_path, 2) as (port, supervisor):
        answered = _burst(port, 80)
        # An even share is 40 each; fewer than 20 happens by chance about once in 10^5 runs.
        assert len(answered) == 2 and min(answered.values()) >= 20, answered
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=40) == 0
        with pytest.raises(OSError):
            _pid(port)


@needs_shared_port
def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    with _workers(tmp_path, 2) as (port, supervisor):
        first = {_pid(port) for _ in range(40)}
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        now: set[int] = set()
        while len(now - first) < 1 or victim in now:
            assert time.monotonic() < deadline, (first, now)
            try:
                now = {_pid(port) for _ in range(20)}
            except OSError:
                time.sleep(0.1)
        assert supervisor.poll() is None and len(now) == 2


@needs_shared_port
def test_a_port_in_use_fails_before_any_worker_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        assert serving.serve_workers("127.0.0.1", port, 2) == serving.STARTUP_FAILURE
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@needs_shared_port
def test_a_worker_that_cannot_start_stops_them_all() -> None:
    """An app that does not import: the workers exit with uvicorn's startup failure, and the
    supervisor stops instead of restarting them for ever."""
    code = serving.serve_workers(
        "127.0.0.1", _free_port(), 2, app="customer_flow.nowhere:app", log_level="critical"
    )
    assert code == serving.STARTUP_FAILURE
