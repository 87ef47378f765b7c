"""``/canned``: canned replies (issue 17): the list you see (shared and your own), add one,
change or delete one you may change. Thin doors to the Hub's canned-reply use cases, which
check the placeholders and who may share or change what. Every form works without
JavaScript; a refusal is shown beside the form with its status.

The ticket page inserts them in the reply box (``tickets.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import CustomerFlowError
from customer_flow.core.models import parse
from customer_flow.tickets.canned import PLACEHOLDERS
from customer_flow.tickets.models import CannedCreate, CannedUpdate

from ..deps import Auth
from .common import PageAuth, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
ReplyId = Annotated[int, Path(ge=1, le=2**53)]


def _values(form: Any) -> dict[str, Any]:
    """The form's fields; ``shared`` only where the form offered the box (to admins)."""
    values: dict[str, Any] = {
        "title": str(form.get("title", "")),
        "body": str(form.get("body", "")),
    }
    if form.get("shared_offered") == "yes":
        values["shared"] = form.get("shared") == "yes"
    return values


def _list(
    request: Request,
    auth: Auth,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    replies = auth.hub.list_canned_replies()
    mine = auth.user.id
    context = {
        "replies": replies,
        "editable": {
            r.id
            for r in replies
            if (r.shared and (auth.user.role == "admin" or r.owner == auth.user.email))
            or (not r.shared and r.owner == auth.user.email)
        },
        "values": values or {"title": "", "body": "", "shared": False},
        "error": error,
        "placeholders": PLACEHOLDERS,
        "me": mine,
    }
    return render(request, "canned/list.html", context, auth=auth, status_code=status_code)


@router.get("/canned")
def canned_list(request: Request, auth: PageAuth) -> Response:
    return _list(request, auth)


@router.post("/canned")
async def canned_add(request: Request, auth: PageAuth) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    values = _values(form)
    try:
        auth.hub.add_canned_reply(parse(CannedCreate, values))
    except CustomerFlowError as exc:
        return _list(request, auth, values=values, error=exc.message, status_code=exc.http_status)
    return RedirectResponse("/canned", status_code=303)


def _edit(
    request: Request,
    auth: Auth,
    reply_id: int,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    reply = auth.hub.get_canned_reply(reply_id)
    context = {
        "reply": reply,
        "values": values or {"title": reply.title, "body": reply.body, "shared": reply.shared},
        "error": error,
        "placeholders": PLACEHOLDERS,
    }
    return render(request, "canned/edit.html", context, auth=auth, status_code=status_code)


@router.get("/canned/{reply_id}/edit")
def canned_edit_form(request: Request, auth: PageAuth, reply_id: ReplyId) -> Response:
    return _edit(request, auth, reply_id)


@router.post("/canned/{reply_id}/edit")
async def canned_edit(request: Request, auth: PageAuth, reply_id: ReplyId) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    values = _values(form)
    try:
        auth.hub.update_canned_reply(reply_id, parse(CannedUpdate, values))
    except CustomerFlowError as exc:
        return _edit(
            request, auth, reply_id, values=values, error=exc.message, status_code=exc.http_status
        )
    return RedirectResponse("/canned", status_code=303)


@router.post("/canned/{reply_id}/delete")
async def canned_delete(request: Request, auth: PageAuth, reply_id: ReplyId) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    auth.hub.delete_canned_reply(reply_id)
    return RedirectResponse("/canned", status_code=303)
