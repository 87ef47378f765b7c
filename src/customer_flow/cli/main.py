"""The command line: a thin Typer app over the Hub.

Each command parses its options, calls one Hub method, and shows the result: a Rich table by
default, JSON on stdout with ``--json``. Messages go to stderr. Exit codes: 0 success; 1 a
rejected operation (validation, not found, conflict) with a one-line message; 2 a usage error.
A user's mistake never shows a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from customer_flow.cli import (
    canned,
    customers,
    data,
    duplicates,
    mail,
    reports,
    teams,
    ticket_types,
    tickets,
    users,
    views,
    worker,
)
from customer_flow.cli.common import (
    JsonOpt,
    State,
    ask_password,
    err,
    get_hub,
    out,
    print_json,
    say,
)
from customer_flow.core.errors import ConfigError, CustomerFlowError, DuplicateError

if TYPE_CHECKING:
    from customer_flow.hub import Hub, InitReport

__all__ = ["app", "main"]


class _Group(typer.core.TyperGroup):
    """The root group: turns Customer_Flow's errors, and the system's (``OSError``: a full
    disk, say), into one line on stderr and exit 1. A write in progress has been rolled back by
    then: each runs in one transaction."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except DuplicateError as exc:
            err.print(
                f"error: {exc.message}. Merge them, or use --allow-duplicate to go on",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(1) from None
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
db_app = typer.Typer(no_args_is_help=True, help="The database: migrations and where it is.")


def _version(value: bool) -> None:
    if value:
        from customer_flow import __version__

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
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create the database if there is none (init always does; other commands "
            "refuse a database that is not there, so that a mistyped --db creates nothing).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Customer_Flow: customer records and support tickets, kept clean."""
    from customer_flow.core.config import Settings

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
    state = State(settings, create=create or ctx.invoked_subcommand == "init")
    ctx.obj = state
    ctx.call_on_close(state.close)


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
    hub = get_hub(ctx)
    # Ask for the password first, so that a missing one changes nothing.
    first_admin_password = None
    if admin_email is not None and not hub.list_users():
        first_admin_password = ask_password(admin_password, "CUSTOMER_FLOW_ADMIN_PASSWORD")
    report = hub.init(demo=demo, ticket_types_file=ticket_types)
    _report_init(report, demo=demo, as_json=as_json)
    if admin_email is not None:
        _init_admin(hub, admin_email, first_admin_password)


def _report_init(report: InitReport, *, demo: bool, as_json: bool) -> None:
    if as_json:
        print_json(
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
    hub = get_hub(ctx)
    say(f"{hub.store.url}: schema at {hub.store.current_revision()}")


@db_app.command("backup")
def db_backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
) -> None:
    """Copy the SQLite database to DEST while it is in use (SQLite's online backup API): the
    copy is the database as of one instant, checked with PRAGMA integrity_check, and written
    whole or not at all. Restore: stop the app, put the copy in the database's place. For
    PostgreSQL use pg_dump (docs/deploy.md)."""
    size, check = get_hub(ctx).backup_database(dest)
    say(f"backed up to {dest} ({size:,} bytes, integrity {check})")


@db_app.command("where")
def db_where(ctx: typer.Context) -> None:
    """Print the database URL in use."""
    state: State = ctx.find_root().obj
    out.print(state.settings.resolved_database_url(), markup=False, highlight=False)


def main() -> None:
    """The ``customer-flow`` console script."""
    app(prog_name="customer-flow")


# -- the commands of the other modules, in the order --help lists them ------------------------
# Commands and groups are listed apart: init, import, validate, export, report, serve; then
# customers, ticket-types, db, tickets, duplicates, imports, users, teams.
customers.register(app)
ticket_types.register(app)
app.add_typer(db_app, name="db")
tickets.register(app)
duplicates.register(app)
data.register(app)
reports.register(app)
users.register(app)
mail.register(app)
worker.register(app)
teams.register(app)
canned.register(app)
views.register(app)
