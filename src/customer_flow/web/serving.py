"""How the app is served: uvicorn's HTTP protocol with Nagle's algorithm off on every
connection, whatever made the listening socket.

Why: a response goes out as two writes (the head, then the body). With Nagle's algorithm on,
the body waits until the client acknowledges the head, and a client delays that
acknowledgement (Linux: 40 ms) since it has nothing to send until the body arrives. So every
response on a keep-alive connection took 40 ms or more, whatever the app did: the floor of
``benchmarks/bench_web.py`` (``/healthz`` under 20 clients) was 44 ms with ``serve --workers
2``, and 1 ms with one worker. asyncio turns the algorithm off (``TCP_NODELAY``) only on
connections accepted from a socket it recognises as TCP: with ``--workers`` above 1, uvicorn
binds the socket itself without naming the protocol, so asyncio left it on (uvicorn issue
#3149, open in 0.54); a socket passed by ``--fd`` is taken for a Unix socket, with the same
result. ``HttpProtocol`` sets the option itself when a connection is made.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.auto import AutoHTTPProtocol

__all__ = ["HttpProtocol", "no_delay"]


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
