"""RFC 9457 problem details: how the API reports every error, with a stable ``code``.

``CustomerFlowError`` subclasses carry their HTTP status and code; request validation and
routing errors are mapped here too, so an API client only ever sees one error shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from customer_flow.core.errors import (
    AuthenticationError,
    CustomerFlowError,
    DuplicateError,
    TooManyAttemptsError,
)

__all__ = ["PROBLEM_RESPONSES", "Problem", "problem_response"]

MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """An error, as RFC 9457 problem details plus a stable ``code`` (and the ``field`` at
    fault, or a list of ``errors`` for a body that fails validation, or the ``candidates`` a
    ``possible_duplicate`` looks like)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[dict[str, Any]] | None = None
    candidates: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    candidates: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        field=field,
        errors=errors,
        candidates=candidates,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def from_error(exc: CustomerFlowError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    if isinstance(exc, TooManyAttemptsError):
        headers = {"Retry-After": str(exc.retry_after)}
    # A ticket_types.json document can have many problems: list them all.
    problems = getattr(exc, "problems", None)
    errors = [{"msg": str(p)} for p in problems] if problems else None
    detail, candidates = exc.message, None
    if isinstance(exc, DuplicateError):
        # The way on, in this door's words: the CLI says --allow-duplicate, the page a button.
        detail += ". Merge them, or send allow_duplicate=true to save it anyway"
        candidates = [_dump(c) for c in exc.candidates]
    return problem_response(
        exc.http_status,
        exc.code,
        detail,
        field=exc.field,
        errors=errors,
        headers=headers,
        candidates=candidates,
    )


def _dump(value: object) -> dict[str, Any]:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else {"value": str(value)}


_SCHEMA = Problem.model_json_schema()
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not logged in, or the token is unknown, expired or revoked",
    403: "The role does not allow it, or a CSRF check failed",
    404: "No such record",
    409: "Conflicts with what is stored, or not allowed in the record's state",
    413: "The request body is larger than the configured limit",
    422: "A value breaks a rule, or the body has the wrong types",
    429: "Too many failed logins: try again after `Retry-After` seconds",
}
#: The error responses every API route documents in the OpenAPI spec.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {MEDIA_TYPE: {"schema": _SCHEMA}}}
    for status, text in _DESCRIPTIONS.items()
}
