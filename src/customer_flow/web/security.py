"""Security at the edge, as one plain ASGI middleware (cheap on every request):

- headers on every response: a strict Content-Security-Policy (scripts only from this origin,
  no framing), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and a
  referrer policy;
- a cross-site state-changing request carrying cookies is refused with 403 before it reaches
  a route (``Sec-Fetch-Site: cross-site`` or an ``Origin`` that is not this host); routes check
  the per-session CSRF token as well;
- a request body over ``max_body`` bytes is refused with 413, whether it declares its length
  or streams it;
- ``Cache-Control: no-store`` on every response but the static files: pages, API answers and
  downloads hold personal data, which no browser or proxy cache should keep;
- ``Strict-Transport-Security`` on responses over https (or with Secure cookies configured,
  for a proxy that terminates TLS), for ``hsts_seconds`` (0: none).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

__all__ = ["SAFE_METHODS", "SecurityMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The static files (CSS, scripts): the same for everyone, so caches may keep them.
STATIC = "/static/"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class BodyTooLarge(HTTPException):
    """Raised while reading a streamed body past the limit; an HTTPException so that FastAPI's
    body parsing passes it on unchanged (it becomes a 413 problem)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


async def _problem(
    send: Send, status: int, code: str, detail: str, extra: list[tuple[bytes, bytes]]
) -> None:
    titles = {403: "Forbidden", 413: "Content Too Large"}
    body = json.dumps(
        {
            "type": "about:blank",
            "title": titles[status],
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_cross_site(scope: Scope) -> bool:
    """True when the browser says the request came from another site."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    return bool(urlsplit(origin).netloc.lower() != headers.get("host", "").lower())


class SecurityMiddleware:
    """Security headers, the cross-site check and the body size limit (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        hsts_seconds: int = 0,
        cookie_secure: bool | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.hsts = f"max-age={hsts_seconds}".encode() if hsts_seconds > 0 else None
        self.cookie_secure = cookie_secure

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        """The headers this response gets besides ``HEADERS``."""
        extra = []
        if not scope["path"].startswith(STATIC):
            extra.append((b"cache-control", b"no-store"))
        secure = scope.get("scheme") == "https" or self.cookie_secure is True
        if self.hsts is not None and secure:
            extra.append((b"strict-transport-security", self.hsts))
        return extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and is_cross_site(scope):
            await _problem(
                send,
                403,
                "cross_site",
                "cross-site requests may not change data",
                self._headers(scope),
            )
            return
        declared = next((v for k, v in scope["headers"] if k.lower() == b"content-length"), None)
        limit = self.max_body
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _problem(send, 413, "too_large", _too_large(limit), self._headers(scope))
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        always = self._headers(scope)
        forced = {k for k, _ in always}

        async def secured_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # A route's own Cache-Control (a download's, say) gives way to no-store.
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in forced]
                present = {k.lower() for k, _ in kept}
                extra = [(k, v) for k, v in HEADERS if k not in present]
                message["headers"] = [*kept, *extra, *always]
            await send(message)

        try:
            await self.app(scope, counting_receive, secured_send)
        except BodyTooLarge:
            if not started:
                await _problem(send, 413, "too_large", _too_large(limit), always)


def _too_large(limit: int) -> str:
    size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    return f"the request body is larger than the limit of {size}"
