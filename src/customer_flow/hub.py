"""The Hub: the application layer. One ``Hub`` per database, one method per use case.

The CLI, the REST API and the web pages are thin doors to these methods. A Hub method owns the
transaction, checks the actor's permission, calls the domain modules (``customers``,
``ticket_types``, ``data``, ...) and lets them write the audit entry on the same connection.

    with Hub.open("sqlite:///team.db", actor="ana") as hub:
        customer = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from . import customers, data, ticket_types, users
from .config import Settings
from .errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TooManyAttemptsError,
)
from .models import (
    ApiToken,
    AuditEntry,
    Customer,
    CustomerCreate,
    CustomerQuery,
    CustomerUpdate,
    LoginSession,
    NewApiToken,
    Page,
    TicketType,
    TicketTypeSync,
    User,
    UserCreate,
)
from .store import Store

__all__ = ["ROLES", "Hub", "InitReport"]

#: What each role may do. The web issue adds users; locally the CLI acts as an admin.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "write", "purge", "admin"}),
    "agent": frozenset({"read", "write"}),
    "viewer": frozenset({"read"}),
}


@dataclass
class InitReport:
    """What ``Hub.init`` did."""

    database: str
    revision: str | None
    ticket_types: TicketTypeSync | None = None
    customers_added: list[int] = field(default_factory=list)


def bundled_example(name: str) -> Path:
    """The path of a file shipped in the package's ``examples/`` folder."""
    return Path(str(resources.files(__package__) / "examples" / name))


class Hub:
    """Every use case of Customer_Flow, on one database, as one actor."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        actor: str | None = None,
        role: str = "admin",
        user_id: int | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.store = store or Store(self.settings.resolved_database_url())
        self.actor = actor or self.settings.actor
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.role = role
        #: The logged-in user's ID in the web app; ``None`` for the local CLI.
        self.user_id = user_id

    @classmethod
    def open(cls, url: str | None = None, *, actor: str | None = None, **settings: Any) -> Hub:
        """Open the database at ``url`` (or the configured default), migrating it if needed."""
        if url is not None:
            settings["database_url"] = url
        return cls(Settings(**settings), actor=actor)

    def as_actor(self, actor: str, role: str = "admin", user_id: int | None = None) -> Hub:
        """The same database, acting as someone else (the web app does this per request)."""
        return Hub(self.settings, store=self.store, actor=actor, role=role, user_id=user_id)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _require(self, permission: str) -> None:
        if permission not in ROLES[self.role]:
            raise PermissionDeniedError(
                f"{self.actor} ({self.role}) may not {permission}", code="forbidden"
            )

    @contextmanager
    def _write(self, permission: str = "write") -> Iterator[Connection]:
        self._require(permission)
        try:
            with self.store.write() as conn:
                yield conn
        except IntegrityError as exc:
            # The domain checks first and names the field; this is the race it cannot see.
            raise ConflictError(
                "the change conflicts with one saved at the same time; try again",
                code="write_conflict",
            ) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._require("read")
        with self.store.read() as conn:
            yield conn

    @property
    def region(self) -> str:
        return self.settings.default_region

    # -- set-up --------------------------------------------------------------------------------

    def init(self, *, demo: bool = False, ticket_types_file: Path | None = None) -> InitReport:
        """Prepare the database: migrate it, load the ticket types, and with ``demo`` the
        bundled example customers. Running it again changes nothing that is already there."""
        self._require("admin")
        report = InitReport(database=self.store.url, revision=self.store.current_revision())
        source = ticket_types_file or self.settings.ticket_types_file
        if source is None and (demo or not self.list_ticket_types(include_inactive=True)):
            source = bundled_example("ticket_types.json")
        if source is not None:
            report.ticket_types = self.load_ticket_types(source)
        if demo:
            with self._write() as conn:
                for row in data.read_id_csv(bundled_example("id.csv")):
                    if customers.id_is_known(conn, row.id):
                        continue
                    created = customers.create(conn, row, actor=self.actor, region=self.region)
                    report.customers_added.append(created.id)
        return report

    # -- customers -----------------------------------------------------------------------------

    def add_customer(self, new: CustomerCreate) -> Customer:
        """Create a customer; its ID is the one given or the next free one."""
        with self._write() as conn:
            return customers.create(conn, new, actor=self.actor, region=self.region)

    def get_customer(self, customer_id: int) -> Customer:
        """One customer, live or in the trash."""
        with self._read() as conn:
            return customers.get(conn, customer_id)

    def list_customers(self, query: CustomerQuery | None = None) -> Page[Customer]:
        """A page of customers with search, sort and keyset pagination."""
        with self._read() as conn:
            return customers.list_customers(conn, query or CustomerQuery())

    def count_customers(self, *, trash: bool = False) -> int:
        with self._read() as conn:
            return customers.count_customers(conn, trash=trash)

    def update_customer(self, customer_id: int, changes: CustomerUpdate) -> Customer:
        """Change the fields that are set in ``changes``."""
        with self._write() as conn:
            return customers.update_customer(
                conn, customer_id, changes, actor=self.actor, region=self.region
            )

    def delete_customer(self, customer_id: int) -> Customer:
        """Move a customer to the trash."""
        with self._write() as conn:
            return customers.delete(conn, customer_id, actor=self.actor)

    def restore_customer(self, customer_id: int) -> Customer:
        """Bring a customer back from the trash."""
        with self._write() as conn:
            return customers.restore(conn, customer_id, actor=self.actor)

    def purge_customer(self, customer_id: int) -> Customer:
        """Delete a customer in the trash for good; its ID is never reused."""
        with self._write("purge") as conn:
            return customers.purge(conn, customer_id, actor=self.actor)

    def customer_history(self, customer_id: int) -> list[AuditEntry]:
        """Every change to a customer, oldest first."""
        with self._read() as conn:
            return customers.history(conn, customer_id)

    # -- ticket types --------------------------------------------------------------------------

    def list_ticket_types(self, *, include_inactive: bool = False) -> list[TicketType]:
        with self._read() as conn:
            return ticket_types.list_types(conn, include_inactive=include_inactive)

    def get_ticket_type(self, key: str) -> TicketType:
        with self._read() as conn:
            return ticket_types.get(conn, key)

    @staticmethod
    def check_ticket_types_file(path: Path) -> dict[str, TicketType]:
        """Check a ticket_types.json without loading it (no database needed); raises
        ``ConfigError`` listing every problem."""
        return ticket_types.read_file(path)

    def load_ticket_types(self, path: Path) -> TicketTypeSync:
        """Sync a ticket_types.json into the database; missing types are deactivated."""
        wanted = ticket_types.read_file(path)
        with self._write("admin") as conn:
            return ticket_types.sync(conn, wanted, actor=self.actor)

    # -- users, logins and API tokens (web issue) ----------------------------------------------

    @property
    def passwords(self) -> users.Passwords:
        """The argon2id parameters in force (from the settings)."""
        return users.Passwords(
            memory_kib=self.settings.password_memory_kib,
            time_cost=self.settings.password_time_cost,
        )

    def for_user(self, user: User) -> Hub:
        """The same database, acting as ``user`` with their role (the web app, per request)."""
        return self.as_actor(user.email, user.role, user_id=user.id)

    def _require_self_or_admin(self, user_id: int, doing: str) -> None:
        """The object check: a user may act on their own account; an admin on anyone's."""
        self._require("read")
        if user_id != self.user_id and "admin" not in ROLES[self.role]:
            raise PermissionDeniedError(
                f"{self.actor} ({self.role}) may not {doing} another user's account",
                code="forbidden",
            )

    @contextmanager
    def _auth_write(self) -> Iterator[Connection]:
        """A write for logging in and out: no permission needed, the caller is not known yet."""
        with self.store.write() as conn:
            yield conn

    def add_user(self, new: UserCreate) -> User:
        """Add a login (admin only)."""
        with self._write("admin") as conn:
            return users.create(conn, new, passwords=self.passwords, actor=self.actor)

    def create_first_admin(self, email: str, password: str) -> User | None:
        """Create the first admin when there are no users yet; ``None`` if there already are."""
        with self._write("admin") as conn:
            if users.list_users(conn):
                return None
            new = UserCreate(email=email, name="", role="admin", password=password)
            return users.create(conn, new, passwords=self.passwords, actor=self.actor)

    def list_users(self) -> list[User]:
        """Every user (admin only)."""
        self._require("admin")
        with self._read() as conn:
            return users.list_users(conn)

    def get_user(self, user_id: int) -> User:
        """One user: yourself, or anyone if you are an admin."""
        self._require_self_or_admin(user_id, "see")
        with self._read() as conn:
            return users.get(conn, user_id)

    def find_user(self, email: str) -> User:
        """A user by email (admin only; the CLI names users by email)."""
        self._require("admin")
        with self._read() as conn:
            return users.find_by_email(conn, email)

    def disable_user(self, user_id: int) -> User:
        """Disable a login (admin only): its sessions end and its tokens stop working."""
        with self._write("admin") as conn:
            return users.disable(conn, user_id, actor=self.actor)

    def set_password(self, user_id: int, password: str) -> User:
        """Set a user's password: your own, or anyone's if you are an admin."""
        self._require_self_or_admin(user_id, "change the password of")
        with self._write("read") as conn:
            return users.set_password(
                conn, user_id, password, passwords=self.passwords, actor=self.actor
            )

    def login(self, email: str, password: str) -> LoginSession:
        """Check an email and password and open a session (throttled per account)."""
        ttl = timedelta(hours=self.settings.session_hours)
        with self._auth_write() as conn:
            result = users.login(conn, email, password, passwords=self.passwords, session_ttl=ttl)
        if isinstance(result, AuthenticationError | TooManyAttemptsError):
            raise result  # after the commit, so the failure is counted
        return result

    def logout(self, session_id: str) -> bool:
        """End a session; True when there was one."""
        with self._auth_write() as conn:
            return users.end_session(conn, session_id)

    def authenticate_session(self, session_id: str) -> tuple[User, str]:
        """The user behind a session cookie, and the session's CSRF token."""
        with self.store.read() as conn:
            return users.authenticate_session(conn, session_id)

    def authenticate_token(self, secret: str) -> User:
        """The user behind a Bearer token."""
        with self.store.read() as conn:
            return users.authenticate_token(conn, secret)

    def create_token(
        self, name: str, *, expires_at: datetime | None = None, user_id: int | None = None
    ) -> NewApiToken:
        """A new API token for yourself (or, as an admin, for ``user_id``)."""
        owner = user_id if user_id is not None else self.user_id
        if owner is None:
            raise PermissionDeniedError("name the user the token is for", code="forbidden")
        self._require_self_or_admin(owner, "create a token for")
        with self._write("read") as conn:
            return users.create_token(conn, owner, name, expires_at, actor=self.actor)

    def list_tokens(self, user_id: int | None = None) -> list[ApiToken]:
        """Your tokens; an admin may list anyone's, or everyone's with no ``user_id``."""
        if user_id is None and "admin" not in ROLES[self.role]:
            user_id = self.user_id if self.user_id is not None else -1
        if user_id is not None:
            self._require_self_or_admin(user_id, "list the tokens of")
        with self._read() as conn:
            return users.list_tokens(conn, user_id)

    def revoke_token(self, token_id: int) -> ApiToken:
        """Revoke a token: your own, or anyone's if you are an admin."""
        self._require("read")
        with self._write("read") as conn:
            token = users.get_token(conn, token_id)
            if token.user_id != self.user_id and "admin" not in ROLES[self.role]:
                # Someone else's token is reported as missing: its existence is not yours to know.
                raise NotFoundError(
                    f"no API token with ID {token_id}", field="id", code="token_not_found"
                )
            return users.revoke_token(conn, token_id, actor=self.actor)

    # -- ticket types and exports for the API (web issue) --------------------------------------

    def sync_ticket_types(self, document: Any) -> TicketTypeSync:
        """Sync a ticket_types.json document (already parsed) into the database (admin)."""
        wanted = ticket_types.check(document, "request body")
        with self._write("admin") as conn:
            return ticket_types.sync(conn, wanted, actor=self.actor)

    def export_customers(self, *, trash: bool = False) -> list[Customer]:
        """Every live customer (or every one in the trash), by ID, in one consistent read."""
        items: list[Customer] = []
        with self._read() as conn:
            after: str | None = None
            while True:
                page = customers.list_customers(
                    conn, CustomerQuery(trash=trash, limit=1000, after=after)
                )
                items.extend(page.items)
                if page.next is None:
                    return items
                after = page.next
