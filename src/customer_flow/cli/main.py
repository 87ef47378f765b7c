"""The command line: a thin Typer app over the Hub.

Each command parses its options, calls one Hub method, and shows the result: a Rich table by
default, JSON on stdout with ``--json``. Messages go to stderr. Exit codes: 0 success; 1 a
rejected operation (validation, not found, conflict) with a one-line message; 2 a usage error.
A user's mistake never shows a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import Settings
from .errors import ConfigError, CustomerFlowError
from .hub import Hub, InitReport
from .models import (
    Customer,
    CustomerCreate,
    CustomerQuery,
    CustomerUpdate,
    parse,
)

__all__ = ["app", "main"]

out = Console(soft_wrap=False)
err = Console(stderr=True, soft_wrap=True)


class _Group(typer.core.TyperGroup):
    """The root group: turns Customer_Flow's errors, and the system's (``OSError``: a full
    disk, say), into one line on stderr and exit 1. A write in progress has been rolled back by
    then: each runs in one transaction."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CustomerFlowError as exc:
            for line in getattr(exc, "problems", [exc.message]):
                err.print(f"error: {line}", markup=False, highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:  # the machine's, not the user's: a full disk, a temporary file
            err.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted", highlight=False)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Customer_Flow: customer records and support tickets, kept clean.",
)
customers_app = typer.Typer(no_args_is_help=True, help="Create, find, change and delete customers.")
types_app = typer.Typer(no_args_is_help=True, help="The ticket types of ticket_types.json.")
db_app = typer.Typer(no_args_is_help=True, help="The database: migrations and where it is.")
app.add_typer(customers_app, name="customers")
app.add_typer(types_app, name="ticket-types")
app.add_typer(db_app, name="db")


class _State:
    """Options of the root command; the Hub is opened on first use, so --help needs no DB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hub: Hub | None = None

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            self._hub = Hub(self.settings)
        return self._hub

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()


def _hub(ctx: typer.Context) -> Hub:
    state: _State = ctx.find_root().obj
    return state.hub


def _version(value: bool) -> None:
    if value:
        out.print(f"customer-flow {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database: a SQLite file path or URL, or a PostgreSQL URL. "
            "Default: $CUSTOMER_FLOW_DATABASE_URL, else a SQLite file in your data folder.",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(help="Default phone region, e.g. US or GB.", show_default=False),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            help="Who the audit log names for changes (default: your login).", show_default=False
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Customer_Flow: customer records and support tickets, kept clean."""
    overrides: dict[str, Any] = {}
    if db is not None:
        overrides["database_url"] = db
    if region is not None:
        overrides["default_region"] = region.upper()
    if actor is not None:
        overrides["actor"] = actor
    try:
        settings = Settings(**overrides)
    except Exception as exc:  # pydantic-settings reports a bad environment value
        raise ConfigError(f"settings: {str(exc).splitlines()[0]}") from exc
    state = _State(settings)
    ctx.obj = state
    ctx.call_on_close(state.close)


# -- output helpers ------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def say(message: str) -> None:
    """A message for the person at the terminal: on stderr, so stdout stays data."""
    err.print(message, markup=False, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    say(f"error: {message}")
    raise typer.Exit(code)


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
        _print_json(customer)
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


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
IdArg = Annotated[int, typer.Argument(help="The customer's ID.", min=1)]
AllowDuplicateOpt = Annotated[
    bool,
    typer.Option(
        "--allow-duplicate",
        help="Go on even if it looks like a live customer (it keeps a warning).",
    ),
]


def _password(given: str | None, env: str = "CUSTOMER_FLOW_PASSWORD") -> str:
    import os

    if given is not None:
        return given
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise typer.BadParameter(f"give --password or set ${env} (no terminal to ask on)")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _init_admin(hub: Hub, email: str, password: str | None) -> None:
    user = hub.create_first_admin(email, password) if password is not None else None
    if user is None:
        say("users exist already: no admin created")
    else:
        say(f"first admin created: {user.email}")


# -- init and db ---------------------------------------------------------------------------


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option(help="Also load the bundled example customers.")] = False,
    ticket_types: Annotated[
        Path | None,
        typer.Option(
            "--ticket-types",
            help="A ticket_types.json to load (default: bundled).",
            show_default=False,
        ),
    ] = None,
    admin_email: Annotated[
        str | None,
        typer.Option(help="Create the first admin with this email (if there are no users yet)."),
    ] = None,
    admin_password: Annotated[
        str | None,
        typer.Option(
            help="The first admin's password (default: $CUSTOMER_FLOW_ADMIN_PASSWORD, "
            "else asked for).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or upgrade the database and load the ticket types (and, with --demo, examples)."""
    hub = _hub(ctx)
    # Ask for the password first, so that a missing one changes nothing.
    first_admin_password = None
    if admin_email is not None and not hub.list_users():
        first_admin_password = _password(admin_password, "CUSTOMER_FLOW_ADMIN_PASSWORD")
    report = hub.init(demo=demo, ticket_types_file=ticket_types)
    _report_init(report, demo=demo, as_json=as_json)
    if admin_email is not None:
        _init_admin(hub, admin_email, first_admin_password)


def _report_init(report: InitReport, *, demo: bool, as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "database": report.database,
                "revision": report.revision,
                "ticket_types": report.ticket_types.model_dump() if report.ticket_types else None,
                "customers_added": report.customers_added,
            }
        )
        return
    say(f"database ready: {report.database} (schema {report.revision})")
    if report.ticket_types:
        t = report.ticket_types
        say(
            f"ticket types: {len(t.created)} created, {len(t.updated)} updated, "
            f"{len(t.unchanged)} unchanged, {len(t.deactivated)} deactivated"
        )
    if demo:
        say(f"example customers added: {len(report.customers_added)}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply any pending migrations (opening the database does this too)."""
    hub = _hub(ctx)
    say(f"{hub.store.url}: schema at {hub.store.current_revision()}")


@db_app.command("where")
def db_where(ctx: typer.Context) -> None:
    """Print the database URL in use."""
    out.print(_hub(ctx).settings.resolved_database_url(), markup=False, highlight=False)


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

    A customer that looks like a live one (same email or phone; or a similar name with the same
    email domain or phone digits) is refused, naming the candidates and why, unless
    --allow-duplicate: then it is added and keeps a warning naming them.
    """
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
    customer = _hub(ctx).add_customer(new, allow_duplicate=allow_duplicate)
    _warn_about(customer)
    if as_json:
        _print_json(customer)
    else:
        say(f"added customer {customer.id}")


@customers_app.command("show")
def customers_show(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show one customer, with its warnings."""
    _emit_customer(_hub(ctx).get_customer(customer_id), as_json)


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
    page = _hub(ctx).list_customers(query)
    if as_json:
        _print_json(page.items)
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
    customer = _hub(ctx).update_customer(
        customer_id, parse(CustomerUpdate, changes), allow_duplicate=allow_duplicate
    )
    _warn_about(customer)
    if as_json:
        _print_json(customer)
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
    customer = _hub(ctx).delete_customer(customer_id, force=force)
    if as_json:
        _print_json(customer)
    else:
        say(f"customer {customer_id} moved to the trash")


@customers_app.command("restore")
def customers_restore(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Bring a customer back from the trash."""
    customer = _hub(ctx).restore_customer(customer_id)
    if as_json:
        _print_json(customer)
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
    customer = _hub(ctx).purge_customer(customer_id, with_tickets=with_tickets)
    if as_json:
        _print_json(customer)
    else:
        say(f"customer {customer_id} purged")


@customers_app.command("history")
def customers_history(ctx: typer.Context, customer_id: IdArg, as_json: JsonOpt = False) -> None:
    """Every change to a customer: when, who, what, before and after."""
    entries = _hub(ctx).customer_history(customer_id)
    if as_json:
        _print_json(entries)
        return
    table = Table(title=f"History of customer {customer_id}")
    table.add_column("When", no_wrap=True)
    table.add_column("Who")
    table.add_column("What")
    table.add_column("Changes")
    for e in entries:
        before, after = e.before or {}, e.after or {}
        keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
        changes = "; ".join(
            f"{k}: {_short(before.get(k))} → {_short(after.get(k))}"
            for k in keys
            if k not in ("id", "warnings")
        )
        table.add_row(e.at.isoformat(timespec="seconds"), e.actor, e.action, changes)
    out.print(table)


def _short(value: Any) -> str:
    text = "—" if value in (None, "", {}) else str(value)
    return text if len(text) <= 40 else text[:39] + "…"


# -- ticket types --------------------------------------------------------------------------


@types_app.command("list")
def types_list(
    ctx: typer.Context,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include inactive types.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the ticket types."""
    from .ticket_types import format_duration

    types = _hub(ctx).list_ticket_types(include_inactive=include_inactive)
    if as_json:
        _print_json(types)
        return
    table = Table()
    table.add_column("Key", no_wrap=True, style="cyan")
    table.add_column("Name")
    table.add_column("Priority", no_wrap=True)
    table.add_column("1st reply", no_wrap=True)
    table.add_column("Resolve", no_wrap=True)
    table.add_column("Fields", overflow="fold")
    table.add_column("Active", no_wrap=True)
    for t in types:
        table.add_row(
            t.key,
            t.name,
            t.default_priority,
            format_duration(t.sla["first_response"]) if "first_response" in t.sla else "—",
            format_duration(t.sla["resolution"]) if "resolution" in t.sla else "—",
            ", ".join(t.fields) or "—",
            "yes" if t.active else "no",
        )
    out.print(table)


@types_app.command("show")
def types_show(ctx: typer.Context, key: str, as_json: JsonOpt = False) -> None:
    """Show one ticket type with its SLA targets and extra fields."""
    from .ticket_types import format_duration

    t = _hub(ctx).get_ticket_type(key)
    if as_json:
        _print_json(t)
        return
    out.print(f"[bold]{t.key}[/]: {t.name}" + ("" if t.active else " [red](inactive)[/]"))
    if t.description:
        out.print(t.description, markup=False)
    out.print(f"default priority: {t.default_priority}")
    for target, seconds in t.sla.items():
        out.print(f"SLA {target.replace('_', ' ')}: {format_duration(seconds)}")
    for fname, spec in t.fields.items():
        req = " (required)" if spec.get("required") else ""
        choices = f": {', '.join(spec['choices'])}" if spec.get("choices") else ""
        out.print(f"field {fname}: {spec['type']}{req}{choices}", markup=False)


@types_app.command("validate")
def types_validate(
    path: Annotated[Path, typer.Argument(help="The ticket_types.json to check.")],
) -> None:
    """Check a ticket_types.json and list every problem, without loading it."""
    types = Hub.check_ticket_types_file(path)
    say(f"{path.name}: ok, {len(types)} ticket types")


@types_app.command("load")
def types_load(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The ticket_types.json to load.")],
    as_json: JsonOpt = False,
) -> None:
    """Sync a ticket_types.json into the database. Types missing from it are deactivated."""
    report = _hub(ctx).load_ticket_types(path)
    if as_json:
        _print_json(report)
        return
    say(
        f"{path.name}: {len(report.created)} created, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.deactivated)} deactivated"
    )


def main() -> None:
    """The ``customer-flow`` console script."""
    app(prog_name="customer-flow")


# -- tickets (issue 4): the sub-app lives in cli_tickets.py ------------------------------------

from .cli_tickets import tickets_app  # noqa: E402  (it imports this module's helpers)

app.add_typer(tickets_app, name="tickets")
# -- duplicates (cli_duplicates.py) ----------------------------------------------------------

from .cli_duplicates import duplicates_app  # noqa: E402  (it imports the helpers above)

app.add_typer(duplicates_app, name="duplicates")

# -- reports (issue 6): the ``report`` command lives in cli_reports.py -------------------------

# -- users and serve (cli_users.py), imports and export (cli_data.py) -------------------------
from . import (  # noqa: E402, F401  (they register their commands on ``app``)
    cli_data,
    cli_reports,
    cli_users,
)
