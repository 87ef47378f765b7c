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
    User,
    UserCreate,
    parse,
)

__all__ = ["app", "main"]

out = Console(soft_wrap=False)
err = Console(stderr=True, soft_wrap=True)


class _Group(typer.core.TyperGroup):
    """The root group: turns Customer_Flow's errors into one line on stderr and exit 1."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except CustomerFlowError as exc:
            for line in getattr(exc, "problems", [exc.message]):
                err.print(f"error: {line}", markup=False, highlight=False)
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
# -- users, API tokens and the web server (web issue) ---------------------------------------

users_app = typer.Typer(no_args_is_help=True, help="Logins for the web app and the API.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens (Bearer) of a user.")
users_app.add_typer(tokens_app, name="token")
app.add_typer(users_app, name="users")

EmailArg = Annotated[str, typer.Argument(help="The user's email.")]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        help="The password (default: $CUSTOMER_FLOW_PASSWORD, else asked for).",
        show_default=False,
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


def _users_table(items: list[User]) -> Table:
    table = Table()
    for col in ("ID", "Email", "Name", "Role", "Active"):
        table.add_column(col)
    for u in items:
        table.add_row(str(u.id), u.email, u.name, u.role, "yes" if u.active else "no")
    return table


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: EmailArg,
    role: Annotated[str, typer.Option(help="admin, agent or viewer.")] = "agent",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: PasswordOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a login. Passwords have at least 8 characters."""
    new = parse(
        UserCreate, {"email": email, "role": role, "name": name, "password": _password(password)}
    )
    user = _hub(ctx).add_user(new)
    if as_json:
        _print_json(user)
    else:
        say(f"added user {user.id}: {user.email} ({user.role})")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the users."""
    items = _hub(ctx).list_users()
    if as_json:
        _print_json(items)
    else:
        out.print(_users_table(items))


@users_app.command("disable")
def users_disable(ctx: typer.Context, email: EmailArg, as_json: JsonOpt = False) -> None:
    """Disable a login: its sessions end now and its API tokens stop working."""
    hub = _hub(ctx)
    user = hub.disable_user(hub.find_user(email).id)
    if as_json:
        _print_json(user)
    else:
        say(f"user {user.email} disabled")


@users_app.command("set-password")
def users_set_password(ctx: typer.Context, email: EmailArg, password: PasswordOpt = None) -> None:
    """Set a user's password; their sessions end."""
    hub = _hub(ctx)
    user = hub.set_password(hub.find_user(email).id, _password(password))
    say(f"password of {user.email} changed")


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    email: EmailArg,
    name: Annotated[str, typer.Option(help="What the token is for.")],
    expires_days: Annotated[
        float | None,
        typer.Option(help="Expire after this many days (default: never).", min=0.001),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token; the token is printed once, on stdout."""
    from datetime import UTC, datetime, timedelta

    hub = _hub(ctx)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    token = hub.create_token(name, expires_at=expires, user_id=hub.find_user(email).id)
    if as_json:
        _print_json(token)
    else:
        sys.stdout.write(token.token + "\n")
        say(f"token {token.id} ({token.prefix}…) created; it is shown only now")


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Argument(help="Only this user's tokens.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List API tokens (never their secrets)."""
    hub = _hub(ctx)
    items = hub.list_tokens(hub.find_user(email).id if email else None)
    if as_json:
        _print_json(items)
        return
    table = Table()
    for col in ("ID", "User", "Name", "Prefix", "Expires", "Revoked"):
        table.add_column(col)
    for t in items:
        table.add_row(
            str(t.id),
            str(t.user_id),
            t.name,
            t.prefix,
            t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never",
            t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "",
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's ID (see token list).", min=1)],
) -> None:
    """Revoke an API token; it stops working at once."""
    token = _hub(ctx).revoke_token(token_id)
    say(f"token {token.id} ({token.prefix}…) revoked")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option(help="Server processes (sessions live in the database).", min=1)
    ] = 1,
) -> None:
    """Serve the web app and the REST API (FastAPI on uvicorn)."""
    import os

    import uvicorn

    from .web.app import create_app

    hub = _hub(ctx)
    if not hub.list_users():
        say("no users yet: create one with `customer-flow users add EMAIL --role admin`")
    say(f"serving {hub.store.url} on http://{host}:{port}/ (API docs at /api/docs)")
    if workers == 1:
        uvicorn.run(create_app(hub=hub), host=host, port=port, log_level="warning")
        return
    # Each worker process builds its own app from the same settings, passed by environment.
    s = hub.settings
    os.environ.update(
        CUSTOMER_FLOW_DATABASE_URL=s.resolved_database_url(),
        CUSTOMER_FLOW_DEFAULT_REGION=s.default_region,
        CUSTOMER_FLOW_ACTOR=s.actor,
    )
    hub.close()
    uvicorn.run(
        "customer_flow.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


# -- duplicates (cli_duplicates.py) ----------------------------------------------------------

from .cli_duplicates import duplicates_app  # noqa: E402  (it imports the helpers above)

app.add_typer(duplicates_app, name="duplicates")

# -- reports (issue 6): the ``report`` command lives in cli_reports.py -------------------------

from . import cli_reports  # noqa: E402, F401  (registers ``report`` on ``app``)

# -- imports, validate and export (issue 3) ------------------------------------------------

imports_app = typer.Typer(no_args_is_help=True, help="Past imports: list them, revert one.")
app.add_typer(imports_app, name="imports")

MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Map a file column to a field, e.g. 'Phone Number=Phone'; 'Notes=' ignores a "
        "column. Repeatable.",
        show_default=False,
    ),
]
IgnoreOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-unknown",
        help="Do not keep columns that are not customer fields as extra attributes "
        "(the report lists them).",
    ),
]
FormatInOpt = Annotated[
    str | None,
    typer.Option(
        "--format", help="csv, tsv, xlsx or jsonl (default: from the file).", show_default=False
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(help="The file's encoding (default: detected).", show_default=False),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(help="The CSV delimiter (default: sniffed).", show_default=False),
]


def _import_options(
    mapping: list[str] | None,
    ignore_unknown: bool,
    fmt: str | None,
    encoding: str | None,
    delimiter: str | None,
    **more: Any,
) -> Any:
    from .data import parse_mapping
    from .imports import ImportOptions

    if delimiter == "\\t":
        delimiter = "\t"
    return parse(
        ImportOptions,
        {
            "mapping": parse_mapping(mapping or []),
            "ignore_unknown": ignore_unknown,
            "format": fmt,
            "encoding": encoding,
            "delimiter": delimiter,
            **more,
        },
    )


def _counts_table(report: Any, *, validating: bool = False) -> Table:
    table = Table(title=f"{report.source}" + (" (dry run)" if report.dry_run else ""))
    table.add_column("Rows", style="bold")
    table.add_column("Count", justify="right")
    if validating:
        table.add_row("valid", f"{report.imported:,}")
    else:
        table.add_row("imported", f"{report.imported:,}")
        table.add_row("updated", f"{report.updated:,}")
        skipped = f" ({report.skipped:,} skipped)" if report.skipped else ""
        table.add_row("unchanged", f"{report.unchanged:,}{skipped}")
    table.add_row("rejected", f"{report.rejected:,}")
    table.add_row("rows read", f"{report.rows_read:,}", style="bold")
    return table


def _rule_table(title: str, counts: dict[str, int], total: int, meanings: dict[str, str]) -> Table:
    table = Table(title=title)
    table.add_column("Rule")
    table.add_column("Values", justify="right")
    table.add_column("%", justify="right")
    table.add_column("Meaning", style="dim")
    for rule, n in counts.items():
        pct = f"{100 * n / total:.1f}" if total else "—"
        table.add_row(rule, f"{n:,}", pct, meanings.get(rule, ""))
    return table


def _show_report(report: Any, *, validating: bool = False, first: int = 10) -> None:
    from .data_clean import CLEAN_RULES, ERROR_CODES, WARNING_CODES

    err.print(_counts_table(report, validating=validating))
    if report.cleaning:
        err.print(
            _rule_table("Cleaning: values changed", report.cleaning, report.rows_read, CLEAN_RULES)
        )
    if report.errors:
        err.print(
            _rule_table("Errors: rows rejected", report.errors, report.rows_read, ERROR_CODES)
        )
    if report.warnings:
        err.print(
            _rule_table(
                "Warnings: imported, flagged", report.warnings, report.rows_read, WARNING_CODES
            )
        )
    if report.rejects and first:
        table = Table(title=f"First rejected rows (of {report.rejected:,})")
        for col in ("Row", "Column", "Code", "Message"):
            table.add_column(col)
        for r in report.rejects[:first]:
            table.add_row(str(r.row), r.column, r.code, _short(r.message).replace("…", "…"))
        err.print(table)
    for note in report.notes:
        say(f"note: {note}")
    if report.rejects_file:
        say(f"rejected rows written to {report.rejects_file}")
    say(report.balance())


def _progress(as_json: bool) -> Any:
    """A Rich progress display on stderr, only for a person at a terminal."""
    from contextlib import nullcontext

    if as_json or not err.is_terminal:
        return nullcontext(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("importing: {task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@app.command("import")
def import_file(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, TSV, XLSX or JSON Lines file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; write nothing.")
    ] = False,
    on_conflict: Annotated[
        str,
        typer.Option(
            help="When a row matches a customer by ID (or by email, without an ID): "
            "skip it, update the customer, or fail the import."
        ),
    ] = "skip",
    mapping: MapOpt = None,
    ignore_unknown: IgnoreOpt = False,
    max_errors: Annotated[
        int | None,
        typer.Option(
            help="Import nothing and exit 1 if more rows than this are rejected.",
            min=0,
            show_default=False,
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Where to write rejected rows (default: FILE.rejects.csv beside the file).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatInOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import customers from a file: map, clean, validate and load them in one transaction.

    Every row read is imported, updated, unchanged or rejected; rejected rows go to a rejects
    file with their row number, values, column, reason code and message.
    """
    if on_conflict not in ("skip", "update", "fail"):
        raise typer.BadParameter("choose skip, update or fail", param_hint="--on-conflict")
    options = _import_options(
        mapping,
        ignore_unknown,
        fmt,
        encoding,
        delimiter,
        on_conflict=on_conflict,
        max_errors=max_errors,
        # A dry run writes nothing unless asked to: no rejects file beside the input by default.
        rejects_path=rejects or (None if dry_run else path.with_name(f"{path.stem}.rejects.csv")),
    )
    hub = _hub(ctx)
    with _progress(as_json) as bar:
        task = bar.add_task("import", total=None) if bar is not None else None

        def tick(rows: int) -> None:
            if bar is not None:
                bar.update(task, completed=rows)

        report = hub.import_file(path, options, dry_run=dry_run, progress=tick)
    if as_json:
        _print_json(report)
        return
    _show_report(report)
    if report.batch_id is not None:
        n = report.batch_id
        say(f"import {n} done; undo it with: customer-flow imports revert {n}")
    elif dry_run:
        say("dry run: nothing was written")


@app.command("validate")
def validate_file(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, TSV, XLSX or JSON Lines file.")],
    mapping: MapOpt = None,
    ignore_unknown: IgnoreOpt = False,
    first: Annotated[int, typer.Option(help="How many failing rows to show.", min=0)] = 10,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Also write the failing rows to this file.", show_default=False),
    ] = None,
    fmt: FormatInOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The data-quality report of a file, without importing it: per-rule counts and
    percentages, and the first failing rows."""
    options = _import_options(
        mapping, ignore_unknown, fmt, encoding, delimiter, rejects_path=rejects
    )
    report = _hub(ctx).validate_file(path, options)
    if as_json:
        _print_json(report)
        return
    _show_report(report, validating=True, first=first)


def _batch_table(batches: list[Any]) -> Table:
    table = Table()
    for col in (
        "Import",
        "When",
        "Who",
        "File",
        "Read",
        "Imported",
        "Updated",
        "Unchanged",
        "Rejected",
        "Status",
    ):
        table.add_column(
            col,
            justify="right"
            if col in ("Import", "Read", "Imported", "Updated", "Unchanged", "Rejected")
            else "left",
        )
    for b in batches:
        table.add_row(
            str(b.id),
            b.created_at.isoformat(timespec="seconds"),
            b.actor,
            b.source,
            f"{b.rows_read:,}",
            f"{b.imported:,}",
            f"{b.updated:,}",
            f"{b.unchanged:,}",
            f"{b.rejected:,}",
            b.status,
        )
    return table


@imports_app.command("list")
def imports_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, most recent first.", min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List past imports, most recent first."""
    batches = _hub(ctx).list_imports(limit=limit)
    if as_json:
        _print_json(batches)
    else:
        out.print(_batch_table(batches))


@imports_app.command("revert")
def imports_revert(
    ctx: typer.Context,
    batch_id: Annotated[int, typer.Argument(help="The import's number (see imports list).", min=1)],
    as_json: JsonOpt = False,
) -> None:
    """Undo an import exactly: remove the customers it created, restore the ones it updated."""
    batch = _hub(ctx).revert_import(batch_id)
    if as_json:
        _print_json(batch)
    else:
        say(
            f"import {batch_id} reverted: {batch.imported:,} customers removed, "
            f"{batch.updated:,} restored"
        )


@app.command("export")
def export(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The file to write, or - for stdout.")],
    fmt: Annotated[
        str, typer.Option("--format", help="csv (id.csv format), json, jsonl, xlsx or parquet.")
    ] = "csv",
    search: Annotated[
        str | None, typer.Option(help="Text to find in name, email or phone.", show_default=False)
    ] = None,
    sort: Annotated[str, typer.Option(help="id, name or created; prefix - to reverse.")] = "id",
    trash: Annotated[bool, typer.Option("--trash", help="Export the trash instead.")] = False,
    with_warnings: Annotated[
        bool, typer.Option("--with-warnings", help="Only customers with open warnings.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Do not neutralise CSV cells that start with =, +, -, @, tab or CR "
            "(formula injection).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export customers, with the filters of customers list."""
    from .exports import FORMATS

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    query = parse(
        CustomerQuery,
        {"search": search, "sort": sort, "trash": trash, "with_warnings": with_warnings},
    )
    hub = _hub(ctx)
    if path == "-":
        if fmt in ("xlsx", "parquet"):
            raise typer.BadParameter(f"{fmt} needs a file, not stdout", param_hint="PATH")
        report = hub.export_customers(sys.stdout, query, format=fmt, raw=raw)
    else:
        report = hub.export_customers(Path(path), query, format=fmt, raw=raw)
    if as_json:
        _print_json(report)
    else:
        cells = f"; {report.neutralised:,} cells neutralised" if report.neutralised else ""
        say(f"exported {report.rows:,} customers to {report.path} ({report.format}){cells}")
