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

from customer_flow.core.errors import ConfigError, CustomerFlowError, StateError, ValidationError
from customer_flow.core.models import PRIORITIES, parse
from customer_flow.customers.models import Customer, CustomerQuery
from customer_flow.tickets.models import (
    TICKET_STATUSES,
    VIEW_FIELDS,
    CommentCreate,
    SavedViewCreate,
    TicketBulk,
    TicketCreate,
    TicketQuery,
    TicketType,
    TicketUpdate,
)
from customer_flow.tickets.records import TRANSITIONS
from customer_flow.tickets.types import format_duration

from ..deps import Auth
from ..uploads import attached
from .common import PageAuth, can, check_form_csrf, export_file, form_error, render

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
SORTS = (
    ("id", "Oldest first"), ("-id", "Newest first"), ("due", "Next due first"),
    ("-due", "Next due last"), ("priority", "Most urgent first"),
    ("-priority", "Least urgent first"), ("sla", "Breached first"), ("-sla", "On track first"),
    ("customer", "Customer A–Z"), ("-customer", "Customer Z–A"), ("subject", "Subject A–Z"),
    ("-subject", "Subject Z–A"), ("status", "Status (new first)"),
    ("-status", "Status (closed first)"), ("assignee", "Agent A–Z (unassigned first)"),
    ("-assignee", "Agent Z–A"), ("-updated", "Recently updated"),
    ("updated", "Least recently updated"), ("-created", "Recently opened"),
    ("created", "Opened earliest"),
)  # fmt: skip
#: The queue's columns whose header sorts it: (column, its first sort).
SORTABLE = {
    "id": "id", "customer": "customer", "subject": "subject", "status": "status",
    "priority": "priority", "assignee": "assignee", "sla": "sla", "due": "due",
    "updated": "-updated",
}  # fmt: skip


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
    status: Annotated[str, Query(max_length=60)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    priority: Annotated[str, Query(max_length=60)] = "",
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
        "status_sets": _choices(status),
        "priority_sets": _choices(priority),
        "sla_states": SLA_STATES,
        "views": [(v, label, _queue_url({**filters, "view": v}, None)) for v, label in VIEWS],
        "sorts": [(s, label, _queue_url({**filters, "sort": s}, None)) for s, label in SORTS],
        "sort": query.sort,
        "sort_urls": {s: _queue_url({**filters, "sort": s}, None) for s, _ in SORTS},
        "headers": _headers(filters, query.sort),
        "teams": auth.hub.list_teams(),
        "types": auth.hub.list_ticket_types(include_inactive=True),
        "saved_views": _saved_views(auth, filters),
        "filter_fields": {k: v for k, v in filters.items() if v},
        "bulk": can(auth, "write"),
        "agents": auth.hub.list_agents() if can(auth, "write") else [],
        "back_url": _queue_url(filters, after),
        "export_urls": {
            fmt: _queue_url({**filters, "format": fmt}, None, path="/tickets/export")
            for fmt in ("csv", "xlsx")
        },
        "first_url": _queue_url(filters, None),
        "next_url": _queue_url(filters, page.next) if page.next else None,
    }
    if request.headers.get("hx-target") == "results":
        return render(request, "tickets/_results.html", context, auth=auth)
    return render(request, "tickets/queue.html", context, auth=auth)


def _filters_of(query: dict[str, Any]) -> dict[str, str]:
    """A saved view's query as the queue's form fields: several statuses or priorities are
    one value, comma-separated ("open,pending"), which the filter form offers and keeps."""
    status = query.get("status") or []
    priority = query.get("priority") or []
    assignee = "-" if query.get("unassigned") else str(query.get("assignee") or "")
    values = {
        "view": query.get("view") or "",
        "status": "all" if query.get("all_statuses") else ",".join(status),
        "type": query.get("type") or "",
        "priority": ",".join(priority),
        "assignee": assignee,
        "team": query.get("team") or "",
        "sla": query.get("sla") or "",
        "customer_id": str(query.get("customer_id") or ""),
        "search": query.get("search") or "",
        "sort": "" if query.get("sort", "id") == "id" else str(query.get("sort")),
    }
    return {k: str(v) for k, v in values.items()}


def _saved_views(auth: Auth, filters: dict[str, str]) -> list[dict[str, Any]]:
    """The user's and the shared saved views as the queue lists them: a link each, whether
    it is the queue shown now, and whether this user may delete it."""
    shown = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "id")}
    out = []
    for v in auth.hub.list_saved_views():
        fields = _filters_of(v.query)
        mine = v.owner == auth.user.email
        out.append({
            "id": v.id, "title": v.title, "shared": v.shared,
            "url": _queue_url(fields, None),
            "current": {k: x for k, x in fields.items() if x} == shown,
            "deletable": mine or (v.shared and auth.user.role == "admin"),
        })  # fmt: skip
    return out


@router.get("/tickets/views")
def views_home(auth: PageAuth) -> Response:
    """The saved views live in the queue: a GET here goes back there."""
    return RedirectResponse("/tickets", status_code=303)


@router.post("/tickets/views")
async def save_view(request: Request, auth: PageAuth) -> Response:
    """Save the queue's current filters and sort under a name (shared: admins only)."""
    form = await request.form()
    check_form_csrf(auth, form)
    filters = {k: str(form.get(k, "")) for k in (*FILTERS, "sort")}
    try:
        query = _query(filters, None).model_dump(
            include=set(VIEW_FIELDS), exclude_defaults=True, mode="json"
        )
        new = parse(
            SavedViewCreate,
            {
                "title": str(form.get("title", "")),
                "query": query,
                "shared": form.get("shared") == "yes",
            },
        )
        await run_in_threadpool(auth.hub.add_saved_view, new)
    except CustomerFlowError as exc:
        context = {"result": None, "error": exc.message, "back": _queue_url(filters, None),
                   "action": "save"}  # fmt: skip
        return render(
            request, "tickets/bulk_done.html", context, auth=auth, status_code=exc.http_status
        )
    return RedirectResponse(_queue_url(filters, None), status_code=303)


@router.post("/tickets/views/{view_id}/delete")
async def delete_view(request: Request, auth: PageAuth, view_id: TicketId) -> Response:
    form = await request.form()
    check_form_csrf(auth, form)
    await run_in_threadpool(auth.hub.delete_saved_view, view_id)
    return RedirectResponse("/tickets", status_code=303)


def _headers(filters: dict[str, str], sort: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the link its header gives (the other direction when the queue is
    sorted by it already) and its ``aria-sort``."""
    out: dict[str, dict[str, str]] = {}
    for column, first in SORTABLE.items():
        current = sort.lstrip("-") == column
        descending = sort.startswith("-")
        flipped = column if descending else f"-{column}"
        target = flipped if current else first
        out[column] = {
            "url": _queue_url({**filters, "sort": target}, None),
            "aria": ("descending" if descending else "ascending") if current else "",
        }
    return out


def _query(filters: dict[str, str], after: str | None) -> TicketQuery:
    """The queue's filters as a ``TicketQuery``: status "" is the open queue, "all" every
    status, "open,pending" either; priority likewise; assignee "-" is the unassigned tickets."""
    status = filters["status"]
    statuses = _several(status)
    priorities = _several(filters["priority"])
    assignee = filters["assignee"].strip()
    customer = filters["customer_id"].strip()
    if customer and not customer.isdigit():
        raise ValidationError("customer_id: give the customer's ID (a number)", field="customer_id")
    return parse(
        TicketQuery,
        {
            "status": statuses if statuses and status != "all" else None,
            "all_statuses": status == "all",
            "customer_id": int(customer) if customer else None,
            "type": filters["type"] or None,
            "priority": priorities or None,
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


def _several(value: str) -> list[str]:
    """A filter's values: one ("open"), or several comma-separated ("open,pending")."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _choices(value: str) -> list[tuple[str, str]]:
    """A filter's options beyond the single values: the combination ``value`` names, when it
    names several (a saved view's "open, pending"), so that the form shows and keeps it."""
    parts = _several(value)
    if len(parts) < 2 or value == "all":
        return []
    return [(",".join(parts), ", ".join(parts))]


def _queue_url(filters: dict[str, str], after: str | None, *, path: str = "/tickets") -> str:
    params = {**filters, "after": after or ""}
    query = urlencode({k: v for k, v in params.items() if v})
    return path + (f"?{query}" if query else "")


# -- bulk actions ------------------------------------------------------------------------------


def _bulk_items(values: list[str]) -> list[dict[str, Any]]:
    """The checkboxes' ``ID@UPDATED_AT`` values as bulk items (the version the agent saw)."""
    items: list[dict[str, Any]] = []
    for value in values:
        ident, _, seen = value.partition("@")
        if not ident.isdigit():
            raise ValidationError(f"tickets: not a ticket: {value[:40]!r}", field="tickets")
        items.append({"id": int(ident), **({"updated_at": seen} if seen else {})})
    return items


@router.get("/tickets/export")
def tickets_export(
    auth: PageAuth,
    format: Annotated[str, Query(max_length=10)] = "csv",
    status: Annotated[str, Query(max_length=60)] = "",
    type: Annotated[str, Query(max_length=64)] = "",
    priority: Annotated[str, Query(max_length=60)] = "",
    assignee: Annotated[str, Query(max_length=320)] = "",
    team: Annotated[str, Query(max_length=64)] = "",
    sla: Annotated[str, Query(max_length=20)] = "",
    customer_id: Annotated[str, Query(max_length=20)] = "",
    search: Annotated[str, Query(max_length=300)] = "",
    view: Annotated[str, Query(max_length=20)] = "",
    sort: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The tickets of the queue as it is filtered (its view, filters and sort), every page,
    as CSV or XLSX through the export's writer (formulas defused)."""
    filters = {
        "view": view, "status": status, "type": type, "priority": priority,
        "assignee": assignee, "team": team, "sla": sla, "customer_id": customer_id,
        "search": search, "sort": sort,
    }  # fmt: skip
    query = _query(filters, None)
    return export_file(
        "tickets", format, lambda path: auth.hub.export_tickets(path, query, format=format)
    )


@router.get("/tickets/bulk")
def bulk_form(auth: PageAuth) -> Response:
    """The bulk bar lives in the queue: a GET here (a reload of the result) goes back there."""
    return RedirectResponse("/tickets", status_code=303)


@router.post("/tickets/bulk")
async def bulk_tickets(request: Request, auth: PageAuth) -> Response:
    """Apply the bulk bar's action to the ticked tickets (or every ticket on the page), then
    say what changed and what was skipped, with a way back to the same queue."""
    form = await request.form()
    check_form_csrf(auth, form)
    back = str(form.get("back", "/tickets"))
    if not back.startswith("/tickets") or back.startswith("//"):
        back = "/tickets"
    scope = str(form.get("scope", "selected"))
    chosen = [str(v) for v in form.getlist("page" if scope == "page" else "ticket")]
    action = str(form.get("action", ""))
    status_code = 200
    result = None
    error = None
    try:
        if not chosen:
            raise ValidationError("tickets: select at least one ticket", field="tickets")
        bulk = parse(
            TicketBulk,
            {
                "action": action,
                "tickets": _bulk_items(chosen),
                "assignee": str(form.get("assignee", "")).strip() or None,
                "team": str(form.get("team", "")).strip() or None,
                "status": str(form.get("status", "")) or None if action == "status" else None,
                "priority": str(form.get("priority", "")) or None if action == "priority" else None,
            },
        )
        if action != "assign":
            bulk = bulk.model_copy(update={"assignee": None, "team": None})
        result = await run_in_threadpool(auth.hub.bulk_tickets, bulk)
    except CustomerFlowError as exc:
        error = exc.message.split(": ", 1)[-1] if exc.field else exc.message
        status_code = exc.http_status
    context = {"result": result, "error": error, "back": back, "action": action}
    return render(request, "tickets/bulk_done.html", context, auth=auth, status_code=status_code)


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
            "canned": hub.render_canned_replies(ticket_id) if can(auth, "write") else [],
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
    set_status: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form()] = "",
    # A browser sends an empty file input as a part with no file name: a plain "" here.
    files: Annotated[list[UploadFile | str] | None, File()] = None,
) -> Response:
    """Add the comment; "Send and set pending" and "Send and resolve" move the ticket with it
    (one Hub call, one transaction)."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    public = visibility != "internal"
    try:
        new = parse(
            CommentCreate, {"body": body, "public": public, "set_status": set_status or None}
        )
        auth.hub.add_comment(
            ticket_id, new, files=attached([f for f in files or [] if not isinstance(f, str)])
        )
    except (ValidationError, StateError) as exc:
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


@router.post("/tickets/{ticket_id}/canned")
def insert_canned(
    request: Request,
    auth: PageAuth,
    ticket_id: TicketId,
    body: Annotated[str, Form(max_length=100_000)] = "",
    visibility: Annotated[str, Form(max_length=20)] = "public",
    canned: Annotated[int, Form(ge=1, le=2**53)] = 1,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Insert a canned reply without JavaScript: the page again, with the reply box holding
    what was typed and the canned text, filled in for this ticket, after it."""
    check_form_csrf(auth, {"csrf_token": csrf_token})
    text = auth.hub.render_canned_replies(ticket_id, canned)[0].text
    joined = f"{body.rstrip()}\n\n{text}" if body.strip() else text
    comment = {"body": joined, "public": visibility != "internal"}
    return _ticket_page(request, auth, ticket_id, comment=comment)


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
