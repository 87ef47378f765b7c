"""The ``users`` commands (logins, roles, API tokens) and ``serve``: the web app's CLI side."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from customer_flow.cli.common import JsonOpt, ask_password, fail, get_hub, out, print_json, say

if TYPE_CHECKING:
    from customer_flow.users.models import User

# -- users, API tokens and the web server (web issue) ---------------------------------------

users_app = typer.Typer(no_args_is_help=True, help="Logins for the web app and the API.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens (Bearer) of a user.")
users_app.add_typer(tokens_app, name="token")

EmailArg = Annotated[str, typer.Argument(help="The user's email.")]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        help="The password (default: $CUSTOMER_FLOW_PASSWORD, else asked for).",
        show_default=False,
    ),
]


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
    from customer_flow.core.models import parse
    from customer_flow.users.models import UserCreate

    new = parse(
        UserCreate, {"email": email, "role": role, "name": name, "password": ask_password(password)}
    )
    user = get_hub(ctx).add_user(new)
    if as_json:
        print_json(user)
    else:
        say(f"added user {user.id}: {user.email} ({user.role})")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the users."""
    items = get_hub(ctx).list_users()
    if as_json:
        print_json(items)
    else:
        out.print(_users_table(items))


@users_app.command("set-role")
def users_set_role(
    ctx: typer.Context,
    email: EmailArg,
    role: Annotated[str, typer.Argument(help="admin, agent or viewer.")],
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role; the last active admin keeps theirs."""
    hub = get_hub(ctx)
    user = hub.set_role(hub.find_user(email).id, role)
    if as_json:
        print_json(user)
    else:
        say(f"user {user.email} is now {user.role}")


@users_app.command("set-time-zone")
def users_set_time_zone(
    ctx: typer.Context,
    email: EmailArg,
    time_zone: Annotated[
        str, typer.Argument(help="An IANA name such as Europe/Lisbon; UTC to go back.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Set the time zone the web pages show a user's times in; an unknown name is refused."""
    user = get_hub(ctx).set_user_time_zone(email, time_zone)
    if as_json:
        print_json(user)
    else:
        say(f"user {user.email} sees times in {user.time_zone}")


@users_app.command("disable")
def users_disable(ctx: typer.Context, email: EmailArg, as_json: JsonOpt = False) -> None:
    """Disable a login: its sessions end now and its API tokens stop working."""
    hub = get_hub(ctx)
    user = hub.disable_user(hub.find_user(email).id)
    if as_json:
        print_json(user)
    else:
        say(f"user {user.email} disabled")


@users_app.command("set-password")
def users_set_password(
    ctx: typer.Context,
    email: EmailArg,
    password: PasswordOpt = None,
    revoke_tokens: Annotated[
        bool, typer.Option("--revoke-tokens", help="Also revoke the user's API tokens.")
    ] = False,
) -> None:
    """Reset a user's password (as an admin); their sessions end. Common passwords and ones
    holding the email are refused."""
    hub = get_hub(ctx)
    changed = hub.set_password(
        hub.find_user(email).id, ask_password(password), revoke_tokens=revoke_tokens
    )
    tokens = f"; {changed.tokens_revoked} API token(s) revoked" if revoke_tokens else ""
    say(
        f"password of {changed.user.email} changed; "
        f"{changed.sessions_ended} session(s) ended{tokens}"
    )


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

    hub = get_hub(ctx)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    token = hub.create_token(name, expires_at=expires, user_id=hub.find_user(email).id)
    if as_json:
        print_json(token)
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
    hub = get_hub(ctx)
    items = hub.list_tokens(hub.find_user(email).id if email else None)
    if as_json:
        print_json(items)
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
    token = get_hub(ctx).revoke_token(token_id)
    say(f"token {token.id} ({token.prefix}…) revoked")


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

    from customer_flow.web import serving
    from customer_flow.web.app import create_app

    hub = get_hub(ctx)
    problem = serving.cannot_listen(host, port)  # before saying "serving": see web/serving.py
    if problem:
        fail(problem)
    if not hub.list_users():
        say("no users yet: create one with `customer-flow users add EMAIL --role admin`")
    say(f"serving {hub.store.url} on http://{host}:{port}/ (API docs at /api/docs)")
    if workers == 1:
        uvicorn.run(
            create_app(hub=hub),
            host=host,
            port=port,
            http=serving.HttpProtocol,  # Nagle's algorithm off: see web/serving.py
            proxy_headers=False,  # the app reads them, from trusted proxies only
            log_level="warning",
        )
        return
    # Each worker process builds its own app from the same settings, passed by environment.
    s = hub.settings
    os.environ.update(
        CUSTOMER_FLOW_DATABASE_URL=s.resolved_database_url(),
        CUSTOMER_FLOW_DEFAULT_REGION=s.default_region,
        CUSTOMER_FLOW_ACTOR=s.actor,
    )
    hub.close()
    if serving.can_share_port():
        # A listening socket per worker, so that connections are shared evenly.
        code = serving.serve_workers(host, port, workers)
        if code:
            raise typer.Exit(code)
        return
    uvicorn.run(
        serving.APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=serving.HttpProtocol,
        proxy_headers=False,
        log_level="warning",
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
