"""``customer-flow customers``: create, find, change and delete customers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from customer_flow.cli.common import IdArg, JsonOpt, get_hub, out, print_json, say, short

if TYPE_CHECKING:  # --help imports no Pydantic: each command imports the models it parses
    from customer_flow.customers.models import Customer

customers_app = typer.Typer(no_args_is_help=True, help="Create, find, change and delete customers.")


def _customer_table(items: list[Customer], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("ID", justify="right", style="cyan", no_wrap=True)
    table.add_column("Name")
    table.add_column("Email")
    table.add_column("Phone", no_wrap=True)
    table.add_column("⚠", justify="right", header_style="yellow")
    for c in items:
        table.add_row(str(c.id), c.name, c.email or "", c.phone or "", str(len(c.warnings) or ""))
    return table


def _show_customer(customer: Customer) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("ID", str(customer.id))
    table.add_row("Name", customer.name)
    table.add_row("Email", customer.email or "—")
    table.add_row("Phone", customer.phone or "—")
    for key, value in customer.extra.items():
        table.add_row(key, str(value))
    table.add_row("Created", customer.created_at.isoformat(timespec="seconds"))
    table.add_row("Updated", customer.updated_at.isoformat(timespec="seconds"))
    if customer.deleted_at:
        table.add_row("In trash since", customer.deleted_at.isoformat(timespec="seconds"))
    out.print(table)
    for w in customer.warnings:
        out.print(f"[yellow]warning[/] {w.field}: {w.message} [dim]({w.code})[/]")


def _emit_customer(customer: Customer, as_json: bool) -> None:
    if as_json:
        print_json(customer)
    else:
        _show_customer(customer)


def _warn_about(customer: Customer) -> None:
    for w in customer.warnings:
        say(f"warning: customer {customer.id}: {w.field}: {w.message}")


def _parse_extra(pairs: list[str]) -> dict[str, str]:
    extra: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--extra")
        extra[key.strip()] = value
    return extra


AllowDuplicateOpt = Annotated[
    bool,
    typer.Option(
        "--allow-duplicate",
        help="Go on even if it looks like a live customer (it keeps a warning).",
    ),
]


# -- customers -----------------------------------------------------------------------------


@customers_app.command("add")
def customers_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Full name.")],
    email: Annotated[str, typer.Option(help="Email address; unique among live customers.")],
    phone: Annotated[
        str | None, typer.Option(help="Phone, any format.", show_default=False)
    ] = None,
    customer_id: Annotated[
        int | None,
        typer.Option(
            "--id", help="Use this ID instead of the next free one.", min=1, show_default=False
        ),
    ] = None,
    extra: Annotated[
        list[str] | None, typer.Option(help="An extra attribute KEY=VALUE; repeatable.")
    ] = None,
    allow_duplicate: AllowDuplicateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a customer.

    A customer that looks like a live one (the duplicates model's probability at or above its
    threshold: see `duplicates find`) is refused, naming the candidates and why, unless
    --allow-duplicate: then it is added and keeps a warning naming them.
    """
    from customer_flow.core.models import parse
    from customer_flow.customers.models import CustomerCreate

    new = parse(
        CustomerCreate,
        {
            "id": customer_id,
            "name": name,
            "email": email,
            "phone": phone,
            "extra": _parse_extra(extra or []),
        },
    )
    customer = get_hub(ctx).add_customer(new, allow_duplicate=allow_duplicate)
    _warn_about(customer)
    if as_json:
        print_json(customer)
    else:
        say(f"added customer {customer.id}")


@customers_app.command("show")
def customers_show(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show one customer, with its warnings."""
    _emit_customer(get_hub(ctx).get_customer(customer_id), as_json)


@customers_app.command("list")
def customers_list(
    ctx: typer.Context,
    search: Annotated[
        str | None, typer.Option(help="Text to find in name, email or phone.", show_default=False)
    ] = None,
    sort: Annotated[str, typer.Option(help="id, name or created; prefix - to reverse.")] = "id",
    limit: Annotated[int, typer.Option(help="How many per page.", min=1, max=1000)] = 50,
    after: Annotated[
        str | None,
        typer.Option(help="The cursor printed after the previous page.", show_default=False),
    ] = None,
    trash: Annotated[bool, typer.Option("--trash", help="List the trash instead.")] = False,
    with_warnings: Annotated[
        bool, typer.Option("--with-warnings", help="Only customers with open warnings.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List customers, a page at a time."""
    from customer_flow.core.models import parse
    from customer_flow.customers.models import CustomerQuery

    query = parse(
        CustomerQuery,
        {
            "search": search,
            "sort": sort,
            "limit": limit,
            "after": after,
            "trash": trash,
            "with_warnings": with_warnings,
        },
    )
    page = get_hub(ctx).list_customers(query)
    if as_json:
        print_json(page.items)
    else:
        out.print(_customer_table(page.items, "Trash" if trash else None))
    if page.next:
        say(f"more: --after {page.next}")


@customers_app.command("update")
def customers_update(
    ctx: typer.Context,
    customer_id: IdArg,
    name: Annotated[str | None, typer.Option(show_default=False)] = None,
    email: Annotated[str | None, typer.Option(help="'' clears it.", show_default=False)] = None,
    phone: Annotated[str | None, typer.Option(help="'' clears it.", show_default=False)] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option(help="Set KEY=VALUE; KEY= removes it. Repeatable."),
    ] = None,
    allow_duplicate: AllowDuplicateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Change some of a customer's fields; the others stay.

    A change that makes the customer look like another live one is refused, naming the
    candidates, unless --allow-duplicate.
    """
    from customer_flow.core.models import parse
    from customer_flow.customers.models import CustomerUpdate

    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if email is not None:
        changes["email"] = email or None
    if phone is not None:
        changes["phone"] = phone or None
    if extra:
        changes["extra"] = {k: (v or None) for k, v in _parse_extra(extra).items()}
    if not changes:
        raise typer.BadParameter("give at least one of --name, --email, --phone, --extra")
    customer = get_hub(ctx).update_customer(
        customer_id, parse(CustomerUpdate, changes), allow_duplicate=allow_duplicate
    )
    _warn_about(customer)
    if as_json:
        print_json(customer)
    else:
        say(f"updated customer {customer.id}")


@customers_app.command("delete")
def customers_delete(
    ctx: typer.Context,
    customer_id: IdArg,
    force: Annotated[
        bool, typer.Option("--force", help="Close the customer's open tickets too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Move a customer to the trash (restore brings it back). Refused while it has open
    tickets, unless --force, which closes them."""
    customer = get_hub(ctx).delete_customer(customer_id, force=force)
    if as_json:
        print_json(customer)
    else:
        say(f"customer {customer_id} moved to the trash")


@customers_app.command("restore")
def customers_restore(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Bring a customer back from the trash."""
    customer = get_hub(ctx).restore_customer(customer_id)
    if as_json:
        print_json(customer)
    else:
        say(f"customer {customer_id} restored")


@customers_app.command("purge")
def customers_purge(
    ctx: typer.Context,
    customer_id: IdArg,
    with_tickets: Annotated[
        bool, typer.Option("--with-tickets", help="Purge the customer's tickets too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a customer in the trash for good. Its ID is never reused; its history stays.
    Refused while it has tickets, unless --with-tickets."""
    customer = get_hub(ctx).purge_customer(customer_id, with_tickets=with_tickets)
    if as_json:
        print_json(customer)
    else:
        say(f"customer {customer_id} purged")


@customers_app.command("history")
def customers_history(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Every change to a customer: when, who, what, before and after."""
    entries = get_hub(ctx).customer_history(customer_id)
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"History of customer {customer_id}")
    table.add_column("When", no_wrap=True)
    # After a merge, the history holds the merged customers' entries too: say whose each is.
    merged = any(e.entity_id != str(customer_id) for e in entries)
    if merged:
        table.add_column("Customer")
    table.add_column("Who")
    table.add_column("What")
    table.add_column("Changes")
    for e in entries:
        before, after = e.before or {}, e.after or {}
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        changes = "; ".join(
            f"{k}: {short(before.get(k))} → {short(after.get(k))}"
            for k in keys
            if k not in ("id", "warnings")
        )
        whose = [f"{e.entity_id}" + ("" if e.entity_id == str(customer_id) else " (merged)")]
        when = e.at.isoformat(timespec="seconds")
        # The note says where a change came from ("import 12", a merge): part of what it was.
        what = f"{e.action} ({e.note})" if e.note else e.action
        table.add_row(when, *(whose if merged else []), e.actor, what, changes)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``customers`` to the root app."""
    app.add_typer(customers_app, name="customers")
