"""``/tickets``: the queue (filters as you go, keyset paging), the ticket page (details, SLA
state and due times, comments, the comment form, status buttons for the allowed moves, the
assignee and the timeline), the "open a ticket" form (also reached from a customer's page) and
the form that changes a ticket's subject, description, priority, tags and extra fields.

Every form works without JavaScript (a plain POST and a redirect); HTMX only refreshes the
queue as filters change and swaps in the extra fields of the chosen type. A rejected value
re-renders the form with the message next to the field at fault.

A calendar file that cannot be read is reported on these pages (the customer pages go on).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from customer_flow.core.errors import ConfigError, CustomerFlowError, ValidationError
from customer_flow.core.models import PRIORITIES, parse
from customer_flow.customers.models import Customer, CustomerQuery
from customer_flow.tickets.models import (
    TICKET_STATUSES,
    CommentCreate,
    TicketCreate,
    TicketQuery,
    TicketType,
    TicketUpdate,
)
from customer_flow.tickets.records import TRANSITIONS
from customer_flow.tickets.types import format_duration

from ..deps import Auth
from ..uploads import attached
from .common import PageAuth, check_form_csrf, form_error, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
TicketId = Annotated[int, Path(ge=1, le=2**53)]
SLA_STATES = ("on_track", "at_risk", "breached")
FORM_FIELDS = (
    "customer_id", "type", "subject", "description", "priority", "tags", "assignee", "team",
)  # fmt: skip
FILTERS = ("view", "status", "type", "priority", "assignee", "team", "sla", "customer_id", "search")
#: The saved views every user has, as the queue's tabs offer them.
VIEWS = (
    ("", "All"),
    ("mine", "My tickets"),
    ("unassigned", "Unassigned"),
    ("at_risk", "At risk or breached"),
    ("my_team", "My team"),
)
#: The sorts the queue's column headers offer: (value, label).
SORTS = (("id", "Oldest first"), ("-id", "Newest first"), ("due", "Next due first"))


def _unavailable(request: Request, auth: Auth, exc: ConfigError) -> Response:
    """The page that stands in for a ticket page while the SLA policy cannot be read."""
    message = f"Tickets are unavailable: the SLA calendar could not be read ({exc.message})."
    return render(
        request, "error.html", {"status": 503, "message": message}, auth=auth, status_code=503
    )


def _sla_ready(auth: Auth) -> ConfigError | None:
    try:
        auth.hub.sla_policy  # noqa: B018 - loads (or re-uses) the calendar
    except ConfigError as exc:
        return exc
    return None


# -- the queue ---------------------------------------------------------------------------------


@router.get("/tickets")
def tickets_queue(
    request: Request,
    auth: PageAuth,
    status: Annotated[str, Query(max_length=20)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    priority: Annotated[str, Query(max_length=20)] = "",
    assignee: Annotated[str, Query(max_length=320)] = "",
    team: Annotated[str, Query(max_length=64)] = "",
    sla: Annotated[str, Query(max_length=20)] = "",
    customer_id: Annotated[str, Query(max_length=20)] = "",
    search: Annotated[str, Query(max_length=300)] = "",
    view: Annotated[str, Query(max_length=20)] = "",
    sort: Annotated[str, Query(max_length=10)] = "",
    after: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The queue: saved views as tabs, filters that combine with them, columns for triage
    (the customer, the agent or team, the next due time and which target it is), and a sort
    (``?sort=id``, ``-id`` or ``due``) that keeps keyset paging."""
    problem = _sla_ready(auth)
    if problem:
        return _unavailable(request, auth, problem)
    filters = {
        "view": view,
        "status": status,
        "type": type,
        "priority": priority,
        "assignee": assignee,
        "team": team,
        "sla": sla,
        "customer_id": customer_id,
        "search": search,
        "sort": sort,
    }
    error = None
    try:
        query = _query(filters, after)
        page = auth.hub.list_tickets(query)
    except CustomerFlowError as exc:
        error = exc.message
        query = _query({**filters, **{k: "" for k in (*FILTERS, "sort") if k != "search"}}, None)
        page = auth.hub.list_tickets(query)
    context = {
        "page": page,
        "filters": filters,
        "after": after,
        "error": error,
        "statuses": TICKET_STATUSES,
        "priorities": PRIORITIES,
        "sla_states": SLA_STATES,
        "views": [(v, label, _queue_url({**filters, "view": v}, None)) for v, label in VIEWS],
        "sorts": [(s, label, _queue_url({**filters, "sort": s}, None)) for s, label in SORTS],
        "sort": query.sort,
        "sort_urls": {s: _queue_url({**filters, "sort": s}, None) for s, _ in SORTS},
        "teams": auth.hub.list_teams(),
        "types": auth.hub.list_ticket_types(include_inactive=True),
        "first_url": _queue_url(filters, None),
        "next_url": _queue_url(filters, page.next) if page.next else None,
    }
    if request.headers.get("hx-target") == "results":
        return render(request, "tickets/_results.html", context, auth=auth)
    return render(request, "tickets/queue.html", context, auth=auth)


def _query(filters: dict[str, str], after: str | None) -> TicketQuery:
    """The queue's filters as a ``TicketQuery``: status "" is the open queue, "all" every
    status; assignee "-" is the unassigned tickets."""
    status = filters["status"]
    assignee = filters["assignee"].strip()
    customer = filters["customer_id"].strip()
    if customer and not customer.isdigit():
        raise ValidationError("customer_id: give the customer's ID (a number)", field="customer_id")
    return parse(
        TicketQuery,
        {
            "status": [status] if status and status != "all" else None,
            "all_statuses": status == "all",
            "customer_id": int(customer) if customer else None,
            "type": filters["type"] or None,
            "priority": [filters["priority"]] if filters["priority"] else None,
            "assignee": assignee if assignee and assignee != "-" else None,
            "unassigned": assignee == "-",
            "team": filters["team"] or None,
            "view": filters["view"] or None,
            "sla": filters["sla"] or None,
            "search": filters["search"] or None,
            "sort": filters["sort"] or "id",
            "limit": PAGE_SIZE,
            "after": after,
        },
    )


def _queue_url(filters: dict[str, str], after: str | None) -> str:
    params = {**filters, "after": after or ""}
    query = urlencode({k: v for k, v in params.items() if v})
    return "/tickets" + (f"?{query}" if query else "")


# -- opening a ticket --------------------------------------------------------------------------


def _active_types(auth: Auth) -> list[TicketType]:
    return auth.hub.list_ticket_types()


def _new_form(
    request: Request,
    auth: Auth,
    *,
    values: dict[str, str],
    extra: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    fragment: bool = False,
) -> Response:
    types = _active_types(auth)
    chosen = next((t for t in types if t.key == values.get("type")), types[0] if types else None)
    customer_q = values.get("customer_q", "")
    context = {
        "customer_q": customer_q,
        "customer_matches": [] if fragment else _customer_matches(auth, customer_q, values),
        "values": values,
        "extra": extra or {},
        "errors": errors or {},
        "error": error,
        "types": types,
        "chosen": chosen,
        "priorities": PRIORITIES,
        "agents": [] if fragment else auth.hub.list_agents(),
        "teams": [] if fragment else auth.hub.list_teams(),
    }
    name = "tickets/_type_fields.html" if fragment else "tickets/new.html"
    return render(request, name, context, auth=auth, status_code=status_code)


#: How many of the customer's other tickets the ticket page lists (open, and recent closed).
CUSTOMER_TICKETS = 5
#: How many customers the new-ticket form offers for a search.
MATCHES = 8


def _customer_matches(auth: Auth, text: str, values: dict[str, str]) -> list[Customer]:
    """The customers the search finds (live ones), or the one already chosen."""
    if text.strip():
        return auth.hub.list_customers(CustomerQuery(search=text, limit=MATCHES)).items
    chosen = values.get("customer_id", "").strip()
    if chosen.isdigit():
        try:
            return [auth.hub.get_customer(int(chosen))]
        except CustomerFlowError:
            return []
    return []


@router.get("/tickets/new/customers")
def new_ticket_customers(
    request: Request,
    auth: PageAuth,
    customer_q: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """The customers matching what was typed in the new-ticket form (HTMX swaps them in)."""
    matches = _customer_matches(auth, customer_q, {})
    context = {"customer_matches": matches, "customer_q": customer_q, "values": {}}
    return render(request, "tickets/_customer_matches.html", context, auth=auth)


@router.get("/tickets/new")
def new_ticket_form(
    request: Request,
    auth: PageAuth,
    customer_id: Annotated[str, Query(max_length=20)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    customer_q: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    problem = _sla_ready(auth)
    if problem:
        return _unavailable(request, auth, problem)
    values = {k: "" for k in FORM_FIELDS} | {
        "customer_id": customer_id,
        "type": type,
        "customer_q": customer_q,
    }
    # The type select asks for its extra fields only (HTMX); a plain GET gets the whole form.
    fragment = request.headers.get("hx-target") == "type-fields"
    return _new_form(request, auth, values=values, fragment=fragment)


@router.post("/tickets/new")
async def open_ticket(request: Request, auth: PageAuth) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    values = {k: str(form.get(k, "")) for k in (*FORM_FIELDS, "customer_q")}
    extra = {
        str(k)[len("fields.") :]: str(v)
        for k, v in form.multi_items()
        if str(k).startswith("fields.") and isinstance(v, str)
    }
    try:
        customer_id = values["customer_id"].strip()
        if not customer_id.isdigit():
            raise ValidationError(
                "customer_id: choose the customer: search by name, email or phone",
                field="customer_id",
            )
        types = {t.key: t for t in await run_in_threadpool(_active_types, auth)}
        spec = types.get(values["type"])
        fields = {k: v for k, v in extra.items() if spec is None or k in spec.fields}
        new = parse(
            TicketCreate,
            {
                "customer_id": int(customer_id),
                "type": values["type"],
                "subject": values["subject"],
                "description": values["description"],
                "priority": values["priority"] or None,
                "tags": [t for t in values["tags"].split(",") if t.strip()],
                "assignee": values["assignee"].strip() or None,
                "team": values["team"].strip() or None,
                "fields": fields,
            },
        )
        ticket = await run_in_threadpool(auth.hub.open_ticket, new)
    except ConfigError as exc:
        return _unavailable(request, auth, exc)
    except CustomerFlowError as exc:
        errors, error = form_error(
            exc, lambda f: f if f in FORM_FIELDS or f.startswith("fields.") else None
        )
        code = exc.http_status
        return await run_in_threadpool(
            lambda: _new_form(
                request,
                auth,
                values=values,
                extra=extra,
                errors=errors,
                error=error,
                status_code=code,
            )
        )
    return RedirectResponse(f"/tickets/{ticket.id}", status_code=303)


# -- one ticket --------------------------------------------------------------------------------


def _ticket_page(
    request: Request,
    auth: Auth,
    ticket_id: int,
    *,
    comment: dict[str, Any] | None = None,
    comment_error: str | None = None,
    assign_error: str | None = None,
    status_code: int = 200,
) -> Response:
    hub = auth.hub
    ticket = hub.get_ticket(ticket_id)
    agents = hub.list_agents()
    teams = hub.list_teams()
    # The customer beside the ticket: who they are, their other open tickets, their latest.
    customer = hub.get_customer(ticket.customer_id)
    theirs = TicketQuery(customer_id=ticket.customer_id, limit=CUSTOMER_TICKETS + 1)
    other_open = [t for t in hub.list_tickets(theirs).items if t.id != ticket.id]
    latest = hub.list_tickets(theirs.model_copy(update={"all_statuses": True, "sort": "-id"})).items
    recent = [t for t in latest if t.id != ticket.id and t.status in ("resolved", "closed")]
    comments = hub.list_comments(ticket_id)
    history = hub.ticket_history(ticket_id)
    moves = [s for s in TRANSITIONS[ticket.status]]
    return render(
        request,
        "tickets/detail.html",
        {
            "ticket": ticket,
            "comments": comments,
            "attachments": hub.list_attachments(ticket_id),
            "history": list(reversed(history)),
            "moves": moves,
            "comment": comment or {"body": "", "public": True},
            "comment_error": comment_error,
            "file_limits": hub.settings,
            "assign_error": assign_error,
            "customer": customer,
            "other_open": other_open[:CUSTOMER_TICKETS],
            "recent": recent[:CUSTOMER_TICKETS],
            "agents": agents,
            "teams": teams,
            "duration": format_duration,
        },
        auth=auth,
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id}")
def ticket_detail(request: Request, auth: PageAuth, ticket_id: TicketId) -> Response:
    problem = _sla_ready(auth)
    if problem:
        return _unavailable(request, auth, problem)
    return _ticket_page(request, auth, ticket_id)


@router.post("/tickets/{ticket_id}/comments")
def add_comment(
    request: Request,
    auth: PageAuth,
    ticket_id: TicketId,
    body: Annotated[str, Form(max_length=100_000)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "public",
    csrf_token: Annotated[str, Form()] = "",
    # A browser sends an empty file input as a part with no file name: a plain "" here.
    files: Annotated[list[UploadFile | str] | None, File()] = None,
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    public = visibility != "internal"
    try:
        auth.hub.add_comment(
            ticket_id,
            CommentCreate(body=body, public=public),
            files=attached([f for f in files or [] if not isinstance(f, str)]),
        )
    except ValidationError as exc:
        message = exc.message.split(": ", 1)[-1]
        return _ticket_page(
            request,
            auth,
            ticket_id,
            comment={"body": body, "public": public},
            comment_error=message,
            status_code=exc.http_status,
        )
    return RedirectResponse(f"/tickets/{ticket_id}#comments", status_code=303)


@router.post("/tickets/{ticket_id}/status")
def change_status(
    auth: PageAuth,
    ticket_id: TicketId,
    status: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    auth.hub.set_ticket_status(ticket_id, status)
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


@router.post("/tickets/{ticket_id}/assign")
def assign(
    request: Request,
    auth: PageAuth,
    ticket_id: TicketId,
    assignee: Annotated[str, Form(max_length=320)] = "",
    team: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Give the ticket to an agent, a team or both; a refusal (a viewer, a disabled user, a
    team with no agents) is shown next to the form, and nothing changes."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    try:
        auth.hub.assign_ticket(ticket_id, assignee.strip() or None, team=team.strip() or None)
    except ValidationError as exc:
        return _ticket_page(
            request,
            auth,
            ticket_id,
            assign_error=exc.message.split(": ", 1)[-1],
            status_code=exc.http_status,
        )
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)


# -- changing a ticket's content ---------------------------------------------------------------

EDIT_FIELDS = ("subject", "description", "priority", "tags")


def _as_text(value: Any) -> str:
    """A stored extra field's value as its form control holds it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _edit_form(
    request: Request,
    auth: Auth,
    ticket_id: int,
    *,
    values: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    ticket = auth.hub.get_ticket(ticket_id)
    if values is None:
        values = {
            "subject": ticket.subject,
            "description": ticket.description,
            "priority": ticket.priority,
            "tags": ", ".join(ticket.tags),
        }
        extra = {k: _as_text(v) for k, v in ticket.fields.items()}
    context = {
        "ticket": ticket,
        "values": values,
        "extra": extra or {},
        "errors": errors or {},
        "error": error,
        "chosen": auth.hub.get_ticket_type(ticket.type),
        "priorities": PRIORITIES,
    }
    return render(request, "tickets/edit.html", context, auth=auth, status_code=status_code)


@router.get("/tickets/{ticket_id}/edit")
def edit_ticket_form(request: Request, auth: PageAuth, ticket_id: TicketId) -> Response:
    problem = _sla_ready(auth)
    if problem:
        return _unavailable(request, auth, problem)
    return _edit_form(request, auth, ticket_id)


@router.post("/tickets/{ticket_id}/edit")
async def edit_ticket(request: Request, auth: PageAuth, ticket_id: TicketId) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    values = {k: str(form.get(k, "")) for k in EDIT_FIELDS}
    extra = {
        str(k)[len("fields.") :]: str(v)
        for k, v in form.multi_items()
        if str(k).startswith("fields.") and isinstance(v, str)
    }
    try:
        changes = parse(
            TicketUpdate,
            {
                "subject": values["subject"],
                "description": values["description"],
                "priority": values["priority"] or None,
                "tags": [t for t in values["tags"].split(",") if t.strip()],
                "fields": extra,
            },
        )
        await run_in_threadpool(auth.hub.update_ticket, ticket_id, changes)
    except ConfigError as exc:
        return _unavailable(request, auth, exc)
    except CustomerFlowError as exc:
        errors, error = form_error(
            exc, lambda f: f if f in EDIT_FIELDS or f.startswith("fields.") else None
        )
        code = exc.http_status
        return await run_in_threadpool(
            lambda: _edit_form(
                request,
                auth,
                ticket_id,
                values=values,
                extra=extra,
                errors=errors,
                error=error,
                status_code=code,
            )
        )
    return RedirectResponse(f"/tickets/{ticket_id}", status_code=303)
