"""How the app is served: uvicorn's HTTP protocol with Nagle's algorithm off on every
connection, and several worker processes that share new connections evenly.

Nagle's algorithm. A response goes out as two writes (the head, then the body). With the
algorithm on, the body waits until the client acknowledges the head, and a client delays that
acknowledgement (Linux: 40 ms) since it has nothing to send until the body arrives. So every
response on a keep-alive connection took 40 ms or more, whatever the app did: the floor of
``benchmarks/bench_web.py`` (``/healthz`` under 20 clients) was 44 ms with ``serve --workers
2``, and 1 ms with one worker. asyncio turns the algorithm off (``TCP_NODELAY``) only on
connections accepted from a socket it recognises as TCP: with ``--workers`` above 1, uvicorn
binds the socket itself without naming the protocol, so asyncio left it on (uvicorn issue
#3149, open in 0.54); a socket passed by ``--fd`` is taken for a Unix socket, with the same
result. ``HttpProtocol`` sets the option itself when a connection is made.

Workers. uvicorn's ``--workers`` hands every worker the same listening socket, and the worker
the kernel wakes first accepts every connection waiting: 20 clients connecting at once ended
up 17 on one worker and 3 on the other (one core's worth of work for 17 clients, while the
other core idled), and the split changed from one burst to the next (20/1 to 10/10 in the web
benchmark's phases). A keep-alive connection stays with its worker, so its latency followed
the split. ``serve_workers`` gives each worker a listening socket of its own on the same port
(``SO_REUSEPORT``), and Linux spreads new connections over them by a hash of their addresses:
an even share on average. It is a small supervisor of its own (uvicorn's cannot give each
worker its own socket): it restarts a worker that dies, stops when one fails to start, and
stops them all on SIGINT or SIGTERM. Elsewhere than Linux (no such spreading), ``serve`` keeps
uvicorn's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = [
    "APP",
    "HttpProtocol",
    "can_share_port",
    "cannot_listen",
    "no_delay",
    "serve_workers",
]

#: The app factory each worker process imports (settings come from the environment).
APP = "customer_flow.web.app:create_app"
#: The exit code uvicorn gives a worker that could not start (its app, its socket, lifespan).
STARTUP_FAILURE = 3

log = logging.getLogger("customer_flow.serving")


def no_delay(transport: asyncio.BaseTransport) -> bool:
    """Turn Nagle's algorithm off on the transport's socket; False when it has none that takes
    the option (a Unix socket, a test transport)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


class HttpProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's own HTTP protocol (httptools when installed, else h11), with ``no_delay`` on
    each new connection. Give it to uvicorn as ``http=HttpProtocol`` (``--http
    customer_flow.web.serving:HttpProtocol``)."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        no_delay(transport)
        super().connection_made(transport)


def can_share_port() -> bool:
    """Whether the kernel spreads connections over sockets sharing a port (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other sockets of this user may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(host: str, port: int) -> str | None:
    """Why ``serve`` could not listen on ``host:port`` (``None``: it can), asked before it says
    it is serving. The port is bound once, as uvicorn binds it (``SO_REUSEADDR``, which only
    lets a port in TIME_WAIT be reused) and never with ``SO_REUSEPORT``: so a port that any
    other socket holds, ``SO_REUSEPORT`` or not (another ``serve --workers``), is found taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"port {port} on {host} is in use"
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _worker(app: str, host: str, port: int, log_level: str) -> None:
    """One worker process: uvicorn on a listening socket of its own."""
    config = uvicorn.Config(
        app, factory=True, http=HttpProtocol, proxy_headers=False, log_level=log_level
    )
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from exc
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(
    host: str, port: int, workers: int, *, app: str = APP, log_level: str = "warning"
) -> int:
    """Serve ``app`` (an import string of a factory) in ``workers`` processes until SIGINT or
    SIGTERM; returns the exit code. The port is bound here first, so a port in use fails
    before any worker starts; that socket never listens (only listening sockets are given
    connections) and holds the port while a worker restarts."""
    if workers < 1:
        raise ValueError("workers must be 1 or more")
    try:
        held = _bind(host, port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return STARTUP_FAILURE
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(app, host, port, log_level), daemon=False)
        process.start()
        return process

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    processes = [start() for _ in range(workers)]
    code = 0
    try:
        while not stop.wait(0.2):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start (exit code %s)", process.exitcode)
                    code = STARTUP_FAILURE
                    stop.set()
                    break
                log.warning(
                    "worker %s ended (exit code %s): restarting", process.pid, process.exitcode
                )
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
        held.close()
    return code
