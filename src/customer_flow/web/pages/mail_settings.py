"""``/settings/mail``: the mail servers for admins (issue 18 item 5): the list, a form that adds
or replaces one, Remove, and Test (what ``customer-flow mail test`` does); and the background
jobs that failed after their retries (mail and web imports, ``worker failures``). Thin doors to
``Hub.list_mail_accounts``, ``save_mail_account``, ``remove_mail_account``,
``test_mail_settings`` and ``retry_mail`` (the outgoing mail that may have been sent, or
failed, with Retry), the CLI's own calls; the Hub checks the admin role again.

No password is ever typed here, stored or shown: the form names the environment variable or
the file that holds it, on the machines that fetch and send. Every form works without
JavaScript and carries the CSRF token; a refusal is shown on the page with its status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import CustomerFlowError, PermissionDeniedError
from customer_flow.core.models import parse
from customer_flow.mail.models import RETRYABLE, MailAccountCreate

from ..deps import Auth
from .common import PageAuth, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(max_length=64)]
Text = Annotated[str, Form(max_length=1000)]
FIELDS = ("name", "kind", "host", "port", "security", "username", "address", "folder",
          "default_type", "ca_file", "password_source", "password_ref")  # fmt: skip
BLANK = {"kind": "imap", "security": "tls", "folder": "INBOX", "password_source": "env"}


def _admin(auth: Auth) -> None:
    if auth.user.role != "admin":
        raise PermissionDeniedError("only an admin sets the mail servers", code="forbidden")


def _values(account: Any) -> dict[str, str]:
    """A saved account as the form shows it: where its password is read from, never more."""
    data = {k: "" if v is None else str(v) for k, v in account.model_dump().items()}
    source = "env" if account.password_env else "file"
    data |= {"password_source": source, "password_ref": data[f"password_{source}"]}
    return data


def _page(
    request: Request,
    auth: Auth,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    checks: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    _admin(auth)
    context = {
        "accounts": auth.hub.list_mail_accounts(),
        "types": auth.hub.list_ticket_types(),
        "values": {**BLANK, **(values or {})},
        "error": error,
        "checks": checks,
        "failures": auth.hub.list_job_failures(limit=20),
        "problems": auth.hub.list_outbox(statuses=RETRYABLE, limit=50),
    }
    return render(request, "settings/mail.html", context, auth=auth, status_code=status_code)


@router.get("/settings/mail")
def mail_settings(
    request: Request, auth: PageAuth, edit: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    _admin(auth)
    values = None
    if edit:
        found = [a for a in auth.hub.list_mail_accounts() if a.name == edit]
        values = _values(found[0]) if found else None
    return _page(request, auth, values=values)


@router.post("/settings/mail")
def save_account(
    request: Request,
    auth: PageAuth,
    name: Text = "",
    kind: Text = "imap",
    host: Text = "",
    port: Text = "",
    security: Text = "tls",
    username: Text = "",
    address: Text = "",
    folder: Text = "INBOX",
    default_type: Text = "",
    ca_file: Text = "",
    password_source: Text = "env",
    password_ref: Text = "",
    active: Text = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    values = dict(zip(FIELDS, (name, kind, host, port, security, username, address, folder,
                               default_type, ca_file, password_source, password_ref),
                      strict=True))  # fmt: skip
    data: dict[str, Any] = {
        "name": name.strip(), "kind": kind, "host": host.strip(),
        "port": port.strip() or None, "security": security, "username": username.strip(),
        "address": address.strip(), "folder": folder.strip() or "INBOX",
        "default_type": (default_type or None) if kind == "imap" else None,
        "ca_file": ca_file.strip() or None, "active": active != "no",
        "password_env" if password_source == "env" else "password_file": password_ref.strip(),
    }  # fmt: skip
    try:
        auth.hub.save_mail_account(parse(MailAccountCreate, data))
    except CustomerFlowError as exc:
        return _page(request, auth, values=values, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/settings/mail", status_code=303)


@router.post("/settings/mail/{name}/remove")
def remove_account(
    request: Request,
    auth: PageAuth,
    name: Name,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        auth.hub.remove_mail_account(name)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/settings/mail", status_code=303)


@router.post("/settings/mail/outbox/{mail_id}/retry")
def retry_mail(
    request: Request,
    auth: PageAuth,
    mail_id: Annotated[int, Path(ge=1, le=2**53)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Send again a message that may have been sent, or that failed (``Hub.retry_mail``)."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    _admin(auth)
    try:
        auth.hub.retry_mail(mail_id)
    except CustomerFlowError as exc:
        return _page(request, auth, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/settings/mail#outbox", status_code=303)


@router.post("/settings/mail/test")
def test_mail(
    request: Request, auth: PageAuth, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """Log in to each server and render the templates; the page lists what failed."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    _admin(auth)
    return _page(request, auth, checks=auth.hub.test_mail_settings())
