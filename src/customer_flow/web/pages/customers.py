"""``/customers``: the list (search as you type, keyset paging), the detail page with history,
and the create, edit, delete, restore and purge forms.

Every form works without JavaScript (a plain POST and a redirect); HTMX only makes the search
box update the results in place. A rejected value re-renders the form with the message next to
the field at fault.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import (
    ConfigError,
    CustomerFlowError,
    DuplicateError,
    NotFoundError,
    ValidationError,
)
from customer_flow.core.models import Page, parse
from customer_flow.customers.models import CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.tickets.models import Ticket, TicketQuery

from .common import PageAuth, check_form_csrf, export_file, form_error, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25
CustomerId = Annotated[int, Path(ge=1, le=2**53)]
FIELDS = ("name", "email", "phone")


@router.get("/")
def home() -> Response:
    return RedirectResponse("/customers", status_code=303)


@router.get("/customers")
def customers_list(
    request: Request,
    auth: PageAuth,
    search: Annotated[str, Query(max_length=300)] = "",
    after: Annotated[str | None, Query(max_length=500)] = None,
    trash: bool = False,
) -> Response:
    error = None
    try:
        page = auth.hub.list_customers(
            CustomerQuery(search=search or None, after=after, trash=trash, limit=PAGE_SIZE)
        )
    except ValidationError as exc:
        error = exc.message
        page = auth.hub.list_customers(
            CustomerQuery(search=search or None, trash=trash, limit=PAGE_SIZE)
        )
    exports = {"search": search, "trash": "true" if trash else ""}
    context = {
        "page": page,
        "search": search,
        "trash": trash,
        "export_urls": {
            fmt: "/customers/export?"
            + urlencode({k: v for k, v in {**exports, "format": fmt}.items() if v})
            for fmt in ("csv", "xlsx")
        },
        "after": after,
        "error": error,
        "first_url": _list_url(search, trash, None),
        "next_url": _list_url(search, trash, page.next) if page.next else None,
    }
    # The search box asks for the results only (HTMX); everything else gets the whole page.
    if request.headers.get("hx-target") == "results":
        return render(request, "customers/_results.html", context, auth=auth)
    return render(request, "customers/list.html", context, auth=auth)


@router.get("/customers/export")
def customers_export(
    auth: PageAuth,
    format: Annotated[str, Query(max_length=10)] = "csv",
    search: Annotated[str, Query(max_length=300)] = "",
    trash: bool = False,
) -> Response:
    """The customers the list shows (its search, or the trash), every page, as CSV or XLSX:
    the export of ``customer-flow export``, formulas defused."""
    query = CustomerQuery(search=search or None, trash=trash)
    name = "customers-trash" if trash else "customers"
    return export_file(
        name, format, lambda path: auth.hub.export_customers(path, query, format=format)
    )


def _list_url(search: str, trash: bool, after: str | None) -> str:
    params = {"search": search, "trash": "true" if trash else "", "after": after or ""}
    query = urlencode({k: v for k, v in params.items() if v})
    return "/customers" + (f"?{query}" if query else "")


def _form(
    request: Request,
    auth: Any,
    *,
    values: dict[str, str],
    customer_id: int | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    candidates: list[Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "customers/form.html",
        {
            "values": values,
            "customer_id": customer_id,
            "errors": errors or {},
            "error": error,
            "candidates": candidates or [],
        },
        auth=auth,
        status_code=status_code,
    )


def _rejected(
    request: Request, auth: Any, exc: CustomerFlowError, values: dict[str, str], cid: int | None
) -> Response:
    errors, error = form_error(
        exc, lambda f: f.split(".")[0] if f.split(".")[0] in FIELDS else None
    )
    # A likely duplicate: the form lists who it looks like and offers to go on anyway.
    candidates = exc.candidates if isinstance(exc, DuplicateError) else None
    return _form(
        request,
        auth,
        values=values,
        customer_id=cid,
        errors=errors,
        error=error,
        candidates=candidates,
        status_code=exc.http_status,
    )


@router.get("/customers/new")
def new_customer_form(request: Request, auth: PageAuth) -> Response:
    return _form(request, auth, values={"name": "", "email": "", "phone": ""})


@router.post("/customers/new")
def create_customer(
    request: Request,
    auth: PageAuth,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    allow_duplicate: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    values = {"name": name, "email": email, "phone": phone}
    try:
        new = parse(
            CustomerCreate,
            {"name": name, "email": email.strip() or None, "phone": phone.strip() or None},
        )
        customer = auth.hub.add_customer(new, allow_duplicate=bool(allow_duplicate))
    except CustomerFlowError as exc:
        return _rejected(request, auth, exc, values, None)
    return RedirectResponse(f"/customers/{customer.id}", status_code=303)


@router.get("/customers/{customer_id}")
def customer_detail(request: Request, auth: PageAuth, customer_id: CustomerId) -> Response:
    try:
        customer = auth.hub.get_customer(customer_id)
    except NotFoundError as gone:
        # A customer removed by a revert (or purged) keeps its history: show that, as 404.
        history = auth.hub.customer_history(customer_id)  # NotFoundError when none
        return render(
            request,
            "customers/gone.html",
            {"customer_id": customer_id, "message": gone.message, "history": history[::-1]},
            auth=auth,
            status_code=404,
        )
    history = auth.hub.customer_history(customer_id)
    tickets, problem = _customer_tickets(auth, customer_id)
    return render(
        request,
        "customers/detail.html",
        {
            "customer": customer,
            "history": list(reversed(history)),
            "tickets": tickets,
            "tickets_problem": problem,
        },
        auth=auth,
    )


def _customer_tickets(auth: Any, customer_id: int) -> tuple[Page[Ticket] | None, str | None]:
    """The customer's latest tickets, every status; a calendar that cannot be read is named
    here instead of breaking the customer's page."""
    query = TicketQuery(customer_id=customer_id, all_statuses=True, sort="-id", limit=PAGE_SIZE)
    try:
        return auth.hub.list_tickets(query), None
    except ConfigError as exc:
        return None, f"Tickets are unavailable: the SLA calendar could not be read ({exc.message})."


@router.get("/customers/{customer_id}/edit")
def edit_customer_form(request: Request, auth: PageAuth, customer_id: CustomerId) -> Response:
    c = auth.hub.get_customer(customer_id)
    values = {"name": c.name, "email": c.email or "", "phone": c.phone or ""}
    return _form(request, auth, values=values, customer_id=customer_id)


@router.post("/customers/{customer_id}/edit")
def edit_customer(
    request: Request,
    auth: PageAuth,
    customer_id: CustomerId,
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    allow_duplicate: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    values = {"name": name, "email": email, "phone": phone}
    try:
        changes = parse(
            CustomerUpdate,
            {"name": name, "email": email.strip() or None, "phone": phone.strip() or None},
        )
        auth.hub.update_customer(customer_id, changes, allow_duplicate=bool(allow_duplicate))
    except CustomerFlowError as exc:
        return _rejected(request, auth, exc, values, customer_id)
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


def _action(auth: Any, customer_id: int, csrf_token: str, action: str) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    hub = auth.hub
    {"delete": hub.delete_customer, "restore": hub.restore_customer, "purge": hub.purge_customer}[
        action
    ](customer_id)
    target = "/customers?trash=true" if action == "purge" else f"/customers/{customer_id}"
    return RedirectResponse(target, status_code=303)


@router.post("/customers/{customer_id}/delete")
def delete_customer(
    auth: PageAuth, customer_id: CustomerId, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _action(auth, customer_id, csrf_token, "delete")


@router.post("/customers/{customer_id}/restore")
def restore_customer(
    auth: PageAuth, customer_id: CustomerId, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _action(auth, customer_id, csrf_token, "restore")


@router.post("/customers/{customer_id}/purge")
def purge_customer(
    auth: PageAuth, customer_id: CustomerId, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    return _action(auth, customer_id, csrf_token, "purge")
