"""The app factory: ``create_app(hub=...)`` or ``create_app(settings=...)``.

It wires the security middleware (and, with ``CUSTOMER_FLOW_TRUSTED_PROXIES``, uvicorn's
proxy-headers middleware), the API routers under ``/api/v1``, the page routers, the
static files, and the error handlers: API errors become RFC 9457 problem details; page errors
become an HTML page with the same message (or a redirect to the login page).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from customer_flow import __version__
from customer_flow.core.config import Settings
from customer_flow.core.errors import ConfigError, CustomerFlowError

from ..hub import Hub
from . import pages
from .api import api_router
from .controls import document_controls, refuse_control_characters
from .pages.common import LoginRequired, login_url, render
from .problems import from_error, problem_response
from .security import SecurityMiddleware

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent / "static"
API_PREFIX = "/api/"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    auth = getattr(request.state, "auth", None)
    return render(
        request, "error.html", {"status": status, "message": message}, auth=auth, status_code=status
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]


def _allowed_methods(request: Request) -> str:
    """Every method the routes of this request's path take, for the ``Allow`` header of a 405
    (RFC 9110 15.5.6). Starlette names only the methods of the first route whose path matched,
    and FastAPI makes one route per method: ``PUT /api/v1/customers`` said ``Allow: GET``
    where the path takes GET and POST."""
    scope = request.scope
    # The path as the app's router saw it: a mount that matched has moved ``root_path``.
    root = {"type": "http", "method": scope["method"], "path": scope["path"]}
    root["root_path"] = scope.get("app_root_path", scope.get("root_path", ""))
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        match, _ = route.matches(root)
        if match is not Match.NONE:
            # A route without methods is the static files' mount, which serves GET and HEAD.
            methods.update(route.methods or ("GET", "HEAD"))
    return ", ".join(sorted(methods))


def _warm_sla_policy(hub: Hub) -> str | None:
    """Read the SLA policy (the calendar file) once, so every request's Hub shares it
    (``Hub.as_actor`` copies it). A bad calendar must not break the customer pages: the
    problem is returned, and the ticket pages report it (each ticket request tries again)."""
    try:
        hub.sla_policy  # noqa: B018 - loads and caches the policy
    except ConfigError as exc:
        return exc.message
    return None


def create_app(hub: Hub | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The web app over ``hub`` (or a Hub opened from ``settings``)."""
    hub = hub or Hub(settings)
    app = FastAPI(
        title="Customer_Flow",
        version=__version__,
        description=(
            "Customer records and support tickets. Authenticate with `Authorization: Bearer "
            "<token>` (create one with `customer-flow users token create` or `POST "
            "/api/v1/tokens`). Errors are RFC 9457 problem details with a stable `code`. "
            "Lists use keyset pagination: pass `next` as `after`."
        ),
        openapi_url="/api/openapi.json",
        # Every route refuses text with a NUL or another control character (issue 15).
        dependencies=[Depends(refuse_control_characters)],
        docs_url=None,
        redoc_url=None,
    )
    app.state.hub = hub
    app.state.sla_problem = _warm_sla_policy(hub)
    app.add_middleware(
        SecurityMiddleware,
        max_body=hub.settings.max_upload_bytes,
        hsts_seconds=hub.settings.hsts_seconds,
        cookie_secure=hub.settings.cookie_secure,
    )
    if hub.settings.trusted_proxies:
        # Added last, so it runs first: the client's address and scheme are the ones a trusted
        # proxy names (X-Forwarded-For, X-Forwarded-Proto) before anything else looks at them.
        # `serve` turns uvicorn's own reading of these headers off: this is the only one.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=hub.settings.trusted_proxies)

    @app.exception_handler(CustomerFlowError)
    async def on_error(request: Request, exc: CustomerFlowError) -> Response:
        if _is_api(request):
            return from_error(exc)
        return _error_page(request, exc.http_status, exc.message)

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_url)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p not in ("body", "query", "path"))
        detail = f"{where}: {first['msg']}" if where else str(first["msg"])
        if _is_api(request):
            return problem_response(422, "invalid", detail, field=where or None, errors=errors)
        return _error_page(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request)
        if _is_api(request) or exc.status_code == 413:
            return problem_response(
                exc.status_code,
                codes.get(exc.status_code, "error"),
                str(exc.detail),
                headers=headers or None,
            )
        page = _error_page(request, exc.status_code, str(exc.detail))
        page.headers.update(headers)
        return page

    app.include_router(api_router())
    _openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_controls(_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for router in pages.ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness: the process answers (a proxy or orchestrator restarts it otherwise)."""
        return JSONResponse({"ok": True})

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        """Readiness: the database answers and its schema is the code's; 503 (and why) while
        not, so a load balancer sends requests elsewhere (docs/deploy.md)."""
        problem = hub.ready()
        if problem is not None:
            return JSONResponse({"ok": False, "problem": problem}, status_code=503)
        return JSONResponse({"ok": True})

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        """The API reference, rendered here from the spec (no CDN scripts, so the CSP holds)."""
        spec = app.openapi()
        return render(request, "api_docs.html", {"spec": spec})

    return app
