"""The Hub: the application layer. One ``Hub`` per database, one method per use case.

The CLI, the REST API and the web pages are thin doors to these methods. A Hub method owns the
transaction, checks the actor's permission, calls the domain modules (``customers``,
``ticket_types``, ``data``, ...) and lets them write the audit entry on the same connection.

    with Hub.open("sqlite:///team.db", actor="ana") as hub:
        customer = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.exc import IntegrityError

from customer_flow.core.config import Settings
from customer_flow.core.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    CustomerFlowError,
    MailServerError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
    StorageError,
    TooLargeError,
    ValidationError,
)
from customer_flow.core.lazy import lazy
from customer_flow.core.models import AuditEntry, Page, RecordWarning
from customer_flow.customers import records as customers
from customer_flow.customers import search
from customer_flow.customers.models import Customer, CustomerCreate, CustomerQuery, CustomerUpdate
from customer_flow.duplicates import merge as merging
from customer_flow.jobs import failures as job_failures
from customer_flow.jobs import imports as import_jobs
from customer_flow.jobs.failures import JobFailure
from customer_flow.jobs.imports import ImportJob
from customer_flow.mail import accounts as mail_accounts
from customer_flow.mail import files as mail_files
from customer_flow.mail import inbound as mail_inbound
from customer_flow.mail import notifications as mail_notifications
from customer_flow.mail import outbox as mail_outbox
from customer_flow.mail import parsing as mail_parsing
from customer_flow.mail import quotes as mail_quotes
from customer_flow.mail import templates as mail_templates
from customer_flow.mail import transport as mail_transport
from customer_flow.mail.models import (
    FetchReport,
    InboundMessage,
    MailAccount,
    MailAccountCreate,
    OutgoingMail,
    ParsedMail,
    SendReport,
)
from customer_flow.store import audit, schema
from customer_flow.store.engine import Store, require_database, unique_violation
from customer_flow.teams import records as team_records
from customer_flow.teams.models import Agent, Team, TeamCreate, TeamUpdate, UnmatchedAssignee
from customer_flow.tickets import bulk as ticket_bulk
from customer_flow.tickets import calendar as sla
from customer_flow.tickets import canned, owned
from customer_flow.tickets import queue as ticket_queue
from customer_flow.tickets import records as tickets
from customer_flow.tickets import types as ticket_types
from customer_flow.tickets import views as saved_views
from customer_flow.tickets.models import (
    BulkResult,
    BulkSkip,
    CannedCreate,
    CannedReply,
    CannedUpdate,
    Comment,
    CommentCreate,
    RenderedReply,
    SavedView,
    SavedViewCreate,
    SavedViewUpdate,
    Ticket,
    TicketBulk,
    TicketCreate,
    TicketQuery,
    TicketType,
    TicketTypeSync,
    TicketUpdate,
)

# The capabilities a light command never touches (Polars, Splink, matplotlib and argon2 below
# them) are imported when a method first uses them (core/lazy.py); a test keeps `customers
# show` and `tickets list` free of them (tests/cli/test_cli_startup.py). ``tickets`` stays
# eager: importing it registers the re-pointer every merge needs.
if TYPE_CHECKING:
    from customer_flow.data import exports, imports
    from customer_flow.data import sources as data
    from customer_flow.data.exports import ExportReport
    from customer_flow.data.imports import ImportBatch, ImportOptions, ImportReport, RevertResult
    from customer_flow.duplicates import fields as dedupe_fields
    from customer_flow.duplicates import find as dedupe
    from customer_flow.duplicates import scorer as dedupe_scorer
    from customer_flow.duplicates.models import (
        ComparedField,
        DuplicateCandidate,
        DuplicateReport,
        Merge,
        MergeResult,
    )
    from customer_flow.duplicates.spark import SparkEngine
    from customer_flow.reports import metrics as reports
    from customer_flow.reports import rollup as report_rollup
    from customer_flow.reports.models import Report, ReportQuery
    from customer_flow.users import accounts as users
    from customer_flow.users import throttle
    from customer_flow.users.models import (
        ApiToken,
        LoginSession,
        NewApiToken,
        PasswordChange,
        User,
        UserCreate,
    )
else:
    exports = lazy("customer_flow.data.exports")
    imports = lazy("customer_flow.data.imports")
    data = lazy("customer_flow.data.sources")
    dedupe_fields = lazy("customer_flow.duplicates.fields")
    dedupe = lazy("customer_flow.duplicates.find")
    dedupe_scorer = lazy("customer_flow.duplicates.scorer")
    reports = lazy("customer_flow.reports.metrics")
    report_rollup = lazy("customer_flow.reports.rollup")
    users = lazy("customer_flow.users.accounts")
    throttle = lazy("customer_flow.users.throttle")

__all__ = ["ROLES", "Hub", "InitReport", "MailCheck"]

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


@dataclass(frozen=True)
class _Attempt:
    """A password checked against an account (``Hub._attempt``): ``account`` when it was
    right, and the failure row counted for it meanwhile."""

    key: str
    address: str
    failure_id: int
    account: users.Credentials | None

    @property
    def good(self) -> bool:
        return self.account is not None


@dataclass(frozen=True)
class MailCheck:
    """One mail server as ``Hub.test_mail`` found it."""

    name: str
    kind: str
    ok: bool
    message: str


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
        create: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        #: Create (and migrate) the database when there is none; the CLI says no except for
        #: ``init`` and ``--create``, so that a mistyped ``--db`` creates nothing.
        self.create = create
        self._store = store
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
        """The same database, acting as someone else (the web app does this per request).

        The copy shares the store, the clock and the SLA policy already read from the settings,
        so a request does not re-read the calendar file."""
        other = Hub(self.settings, store=self.store, actor=actor, role=role, user_id=user_id)
        other._clock = self._clock
        other._sla_policy = self._sla_policy
        return other

    @property
    def store(self) -> Store:
        """The database, opened (and migrated) on first use: checking a file
        (``validate_file``) opens none."""
        if self._store is None:
            url = self.settings.resolved_database_url()
            if not self.create:
                require_database(url)
            self._store = Store(url)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

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
    def _read(self, *, autocommit: bool = False) -> Iterator[Connection]:
        self._require("read")
        with self.store.read(autocommit=autocommit) as conn:
            yield conn

    @property
    def region(self) -> str:
        return self.settings.default_region

    # -- operations ------------------------------------------------------------------------------

    def ready(self) -> str | None:
        """``None`` when this server can take requests (the database answers, at the code's
        schema or a newer one); else why not, in one line."""
        try:
            return self.store.ready()
        except StorageError as exc:
            return exc.message

    def backup_database(self, dest: Path) -> tuple[int, str]:
        """A consistent copy of a SQLite database, taken while others write (``Store.backup``):
        its size in bytes and its integrity check."""
        self._require("admin")
        return self.store.backup(dest)

    # -- set-up --------------------------------------------------------------------------------

    def init(self, *, demo: bool = False, ticket_types_file: Path | None = None) -> InitReport:
        """Prepare the database: migrate it, load the ticket types, and with ``demo`` the
        bundled example customers. Running it again changes nothing that is already there."""
        self._require("admin")
        report = InitReport(database=self.store.url, revision=self.store.current_revision())
        source = ticket_types_file or self.settings.ticket_types_file
        if source is None and not self.list_ticket_types(include_inactive=True):
            # Only a database with no types gets the bundled ones: never overwrite the user's.
            source = bundled_example("ticket_types.json")
        if source is not None:
            report.ticket_types = self.load_ticket_types(source)
        if demo:
            with self._write() as conn:
                for row in data.read_id_csv(bundled_example("id.csv")):
                    if customers.id_is_known(conn, row.id):
                        continue
                    created = customers.create(conn, row, actor=self.actor, region=self.region)
                    dedupe.index_customers(conn, [created])
                    report.customers_added.append(created.id)
        return report

    # -- customers -----------------------------------------------------------------------------

    def add_customer(self, new: CustomerCreate, *, allow_duplicate: bool = False) -> Customer:
        """Create a customer; its ID is the one given or the next free one.

        A customer that looks like a live one is refused with ``DuplicateError`` naming the
        candidates; with ``allow_duplicate`` it is created and keeps a warning naming them.
        """
        with self._write() as conn:
            created = customers.create(conn, new, actor=self.actor, region=self.region)
            dedupe.index_customers(conn, [created], fresh=True)
            return merging.refresh_duplicate_warnings(conn, created.id, allow=allow_duplicate)

    def get_customer(self, customer_id: int) -> Customer:
        """One customer, live or in the trash."""
        with self._read() as conn:
            return customers.get(conn, customer_id)

    def list_customers(self, query: CustomerQuery | None = None) -> Page[Customer]:
        """A page of customers with search, sort and keyset pagination."""
        with self._read(autocommit=True) as conn:  # one statement (PostgreSQL: no BEGIN)
            return customers.list_customers(conn, query or CustomerQuery())

    def count_customers(self, *, trash: bool = False) -> int:
        with self._read() as conn:
            return customers.count_customers(conn, trash=trash)

    def update_customer(
        self, customer_id: int, changes: CustomerUpdate, *, allow_duplicate: bool = False
    ) -> Customer:
        """Change the fields that are set in ``changes``.

        A change of name, email or phone that makes the customer look like another live one is
        refused with ``DuplicateError``, unless ``allow_duplicate``.
        """
        with self._write() as conn:
            before = customers.get(conn, customer_id)
            after = customers.update_customer(
                conn, customer_id, changes, actor=self.actor, region=self.region
            )
            if all(
                getattr(before, f) == getattr(after, f) for f in merging.MERGE_FIELDS
            ) and dedupe_fields.field_values(before.extra) == dedupe_fields.field_values(
                after.extra
            ):
                return after  # nothing the duplicates model compares changed
            dedupe.index_customers(conn, [after])
            return merging.refresh_duplicate_warnings(conn, customer_id, allow=allow_duplicate)

    def delete_customer(self, customer_id: int, *, force: bool = False) -> Customer:
        """Move a customer to the trash. Refused while it has tickets that are not closed,
        unless ``force``, which closes them (each with an audit note)."""
        with self._write() as conn:
            customers.get(conn, customer_id)  # a missing customer is named before its tickets
            unclosed = tickets.count_for_customer(conn, customer_id, unclosed_only=True)
            note = None
            if unclosed and not force:
                raise StateError(
                    f"customer {customer_id} has {unclosed} open ticket"
                    f"{'s' if unclosed != 1 else ''} (not closed): close "
                    f"{'them' if unclosed != 1 else 'it'} first, or use --force to close "
                    f"{'them' if unclosed != 1 else 'it'}",
                    code="customer_has_open_tickets",
                )
            if unclosed:
                closed = tickets.close_for_customer(
                    conn,
                    customer_id,
                    self.sla_policy,
                    self._now(),
                    actor=self.actor,
                    note=f"closed because customer {customer_id} was moved to the trash (--force)",
                )
                note = f"forced: closed tickets {', '.join(map(str, closed))}"
            return customers.delete(conn, customer_id, actor=self.actor, note=note)

    def restore_customer(self, customer_id: int) -> Customer:
        """Bring a customer back from the trash."""
        with self._write() as conn:
            return customers.restore(conn, customer_id, actor=self.actor)

    def purge_customer(self, customer_id: int, *, with_tickets: bool = False) -> Customer:
        """Delete a customer in the trash for good; its ID is never reused. Refused while it
        has tickets, unless ``with_tickets``, which purges them too."""
        with self._write("purge") as conn:
            current = customers.get(conn, customer_id)
            count = tickets.count_for_customer(conn, customer_id)
            if count and current.in_trash and not with_tickets:
                raise StateError(
                    f"customer {customer_id} has {count} ticket{'s' if count != 1 else ''}: "
                    f"purge {'them' if count != 1 else 'it'} too with --with-tickets, "
                    "or keep the customer",
                    code="customer_has_tickets",
                )
            if count and current.in_trash:
                tickets.purge_for_customer(
                    conn, customer_id, self.sla_policy, self._now(), actor=self.actor
                )
            return customers.purge(conn, customer_id, actor=self.actor)

    def customer_history(self, customer_id: int) -> list[AuditEntry]:
        """Every change to a customer, oldest first, with the history of the customers merged
        into it (their entries keep their own ``entity_id``)."""
        with self._read() as conn:
            entries = customers.history(conn, customer_id)
            for other in merging.folded_into(conn, customer_id):
                entries += customers.history(conn, other)
            return sorted(entries, key=lambda e: (e.at, e.id))

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
            _check_default_teams(conn, wanted, path.name)
            return ticket_types.sync(conn, wanted, actor=self.actor)

    # -- tickets -------------------------------------------------------------------------------
    # The SLA policy is read from the settings on first use, so a bad calendar file is reported
    # by the first command that needs it, not by every command. ``clock`` can be replaced (tests,
    # imports of old tickets); every ticket change is stamped with it.

    _clock: Callable[[], datetime] | None = None
    _sla_policy: sla.SlaPolicy | None = None

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """Stamp ticket changes with ``clock()`` instead of the wall clock (None restores it)."""
        self._clock = clock

    def _now(self) -> datetime:
        return audit.now() if self._clock is None else audit.aware(self._clock()).astimezone(UTC)  # type: ignore[union-attr]

    @property
    def sla_policy(self) -> sla.SlaPolicy:
        """The business calendar, priority factors and at-risk share from the settings."""
        if self._sla_policy is None:
            self._sla_policy = sla.SlaPolicy(
                calendar=sla.load_calendar(self.settings.calendar_file),
                priority_factors=dict(self.settings.sla_priority_factors),
                at_risk_share=self.settings.sla_at_risk_share,
            )
        return self._sla_policy

    def open_ticket(self, new: TicketCreate) -> Ticket:
        """Open a ticket for a live customer, of an active type; its SLA clock starts.

        The ticket goes to the team named, else to its type's default team; with no assignee
        named, a round-robin team gives it to its next active agent. A named assignee must be
        an active agent (and a member of the team named with it); a named team with no active
        agent is refused, while a type's default team without one keeps the ticket unassigned
        in its queue (a customer's ticket is never refused for the team's make-up)."""
        policy = self.sla_policy
        with self._write() as conn:
            return self._open(conn, new, policy, self._now(), self.actor)

    def _open(
        self, conn: Connection, new: TicketCreate, policy: sla.SlaPolicy, now: datetime, actor: str
    ) -> Ticket:
        """``open_ticket`` in the caller's transaction (a mailbox's new message uses it too)."""
        ttype = ticket_types.get(conn, new.type)
        team = new.team or ttype.default_team
        assignee, team = self._assignment(conn, new.assignee, team, named_team=new.team is not None)
        new = new.model_copy(update={"assignee": assignee, "team": team})
        ticket = tickets.create(conn, new, policy, now, actor=actor)
        self._notify_new_ticket(conn, ticket)
        # Given to an agent on opening (named, or a round-robin team's pick): "assigned to me".
        person = self._user_by_email(conn, ticket.assignee)
        if person is not None:
            self._notify(conn, "assigned", ticket, f"{ticket.id}:{now.isoformat()}", [person])
        return ticket

    def _assignment(
        self, conn: Connection, assignee: str | None, team: str | None, *, named_team: bool
    ) -> tuple[str | None, str | None]:
        """The (agent's email key, team key) a ticket goes to, checked; see ``open_ticket``."""
        # A blank agent is nobody, as the forms send it.
        chosen = (
            team_records.resolve_agent(conn, assignee) if assignee and assignee.strip() else None
        )
        if team is None:
            return (chosen.key if chosen else None), None
        found = team_records.require_team(conn, team)
        if named_team and found.active_members == 0:
            raise ValidationError(
                f"team: team {team!r} has no active agents; add one with "
                f"`teams add-member {team} EMAIL`",
                field="team",
                code="team_has_no_agents",
            )
        if chosen is not None:
            if named_team and all(a.id != chosen.id for a in found.members):
                raise ValidationError(
                    f"assignee: {chosen.email} is not in team {team!r}",
                    field="assignee",
                    code="assignee_not_in_team",
                )
            return chosen.key, team
        if found.active_members == 0:
            return None, team
        picked = team_records.next_agent(conn, team)
        return (picked.key if picked else None), team

    def get_ticket(self, ticket_id: int) -> Ticket:
        """One ticket with its SLA state and the business time used (a purged one is gone)."""
        policy = self.sla_policy
        with self._read() as conn:
            return tickets.get(conn, ticket_id, policy, self._now())

    def list_tickets(self, query: TicketQuery | None = None) -> Page[Ticket]:
        """A page of tickets: the open queue by default, with filters and keyset pagination."""
        policy = self.sla_policy
        query = query or TicketQuery()
        with self._read() as conn:
            return ticket_queue.list_tickets(conn, self._queue(conn, query), policy, self._now())

    def _queue(self, conn: Connection, query: TicketQuery) -> TicketQuery:
        """``query`` with its saved views (a user's, then the built-in one it names) and its
        assignee resolved for the acting user."""
        if query.saved_view is not None:
            view = saved_views.get(conn, query.saved_view, self._who(conn))
            query = saved_views.as_query(view, limit=query.limit, after=query.after)
        query = self._resolve_view(conn, query)
        if query.assignee is not None and query.assignee.strip():
            key = team_records.user_key(conn, query.assignee)
            query = query.model_copy(update={"assignee": key})
        return query

    #: The columns of a ticket export, in order.
    TICKET_EXPORT_COLUMNS = (
        "ID", "Customer ID", "Customer", "Subject", "Type", "Status", "Priority", "Assignee",
        "Team", "Tags", "SLA", "Next due", "Next due target", "Created", "Updated",
    )  # fmt: skip

    def export_tickets(
        self, out: Path, query: TicketQuery | None = None, *, format: str = "csv"
    ) -> ExportReport:
        """Write the tickets ``query`` selects (the queue's filters, view and sort; every
        page) to ``out`` as CSV or XLSX, a thousand at a time, through the customers export's
        writer and its formula protection."""
        policy = self.sla_policy
        with self._read() as conn:
            now = self._now()
            base = self._queue(conn, query or TicketQuery()).model_copy(
                update={"limit": 1000, "after": None}
            )

            def rows() -> Iterator[list[Any]]:
                page_query = base
                while True:
                    page = ticket_queue.list_tickets(conn, page_query, policy, now)
                    for t in page.items:
                        due = t.sla.next_due_at
                        yield [
                            t.id, t.customer_id, t.customer_name, t.subject, t.type, t.status,
                            t.priority, t.assignee, t.team, ", ".join(t.tags), t.sla.state,
                            due.isoformat() if due else None, t.sla.next_due,
                            t.created_at.isoformat(), t.updated_at.isoformat(),
                        ]  # fmt: skip
                    if not page.next:
                        return
                    page_query = page_query.model_copy(update={"after": page.next})

            return exports.export_table(
                out, list(self.TICKET_EXPORT_COLUMNS), rows(), format=format, sheet="Tickets"
            )

    def _resolve_view(self, conn: Connection, query: TicketQuery) -> TicketQuery:
        """A saved view as the filters it means for the acting user: "mine" their tickets,
        "my_team" their teams' tickets, "unassigned" nobody's, "at_risk" at risk or breached.
        The acting user is the signed-in user (the web), else the user the actor names."""
        if query.view is None:
            return query
        changes: dict[str, Any] = {"view": None}
        if query.view == "mine":
            changes["assignee"] = self.actor
        elif query.view == "unassigned":
            changes["unassigned"] = True
        elif query.view == "at_risk":
            changes["sla"] = "at_risk_or_breached"
        else:
            changes["teams"] = team_records.teams_of(conn, self.actor)
        return query.model_copy(update=changes)

    def update_ticket(self, ticket_id: int, changes: TicketUpdate) -> Ticket:
        """Change a ticket's subject, description, priority, tags or extra fields."""
        policy = self.sla_policy
        with self._write() as conn:
            return tickets.update_ticket(
                conn, ticket_id, changes, policy, self._now(), actor=self.actor
            )

    def assign_ticket(
        self, ticket_id: int, assignee: str | None, *, team: str | None = None
    ) -> Ticket:
        """Give a ticket to an active agent (by email or name), to a team (round-robin picks
        its next agent), to both (the agent must be in the team), or to nobody (both None)."""
        policy = self.sla_policy
        with self._write() as conn:
            key, team_key = self._assignment(conn, assignee, team, named_team=True)
            ticket = tickets.assign(
                conn, ticket_id, key, team_key, policy, self._now(), actor=self.actor
            )
            person = self._user_by_email(conn, ticket.assignee)
            if person is not None:
                note = f"{ticket.id}:{self._now().isoformat()}"
                self._notify(conn, "assigned", ticket, note, [person])
            return ticket

    def bulk_tickets(self, bulk: TicketBulk) -> BulkResult:
        """One change to many tickets (assign, set status, set priority or close), in one
        transaction with one audit entry per ticket changed.

        A ticket whose ``updated_at`` is no longer the one the caller saw was changed by
        someone meanwhile: it is skipped, not overwritten. So is one the change does not fit
        (already closed, a move the lifecycle refuses, already so) and one that is gone. A
        value wrong for every ticket (an unknown or disabled agent, a viewer, a team with no
        agents) refuses the whole action, and nothing changes."""
        kind = bulk.action
        if kind == "status" and bulk.status is None:
            raise ValidationError("status: say which status to set", field="status")
        if kind == "priority" and bulk.priority is None:
            raise ValidationError("priority: say which priority to set", field="priority")
        policy = self.sla_policy
        seen: dict[int, datetime | None] = {}
        for item in bulk.tickets:
            seen.setdefault(item.id, item.updated_at)
        result = BulkResult()
        # The tickets each agent was given, told once per agent after the loop.
        given: dict[str, tuple[User, list[Ticket]]] = {}
        with self._write() as conn:
            now = self._now()
            stored = ticket_bulk.versions(conn, list(seen))
            if kind == "assign":  # checked once, before any ticket: refused whole
                self._check_assignment(conn, bulk.assignee, bulk.team)
            for ticket_id, version in seen.items():
                if ticket_id not in stored:
                    result.skipped.append(BulkSkip(
                        id=ticket_id, code="ticket_not_found", reason="no such ticket",
                    ))  # fmt: skip
                    continue
                before = stored[ticket_id]
                if version is not None and not ticket_bulk.same_version(version, before.updated_at):
                    result.skipped.append(BulkSkip(
                        id=ticket_id, code="changed_meanwhile",
                        reason="changed by someone else since you saw it; nothing overwritten",
                    ))  # fmt: skip
                    continue
                if kind == "priority" and before.priority == bulk.priority:
                    result.skipped.append(BulkSkip(
                        id=ticket_id, code="unchanged", reason=f"already {bulk.priority}",
                    ))  # fmt: skip
                    continue
                try:
                    after = self._bulk_one(conn, bulk, ticket_id, policy, now)
                except (StateError, ValidationError) as exc:
                    result.skipped.append(BulkSkip(id=ticket_id, code=exc.code, reason=exc.message))
                    continue
                if kind == "assign" and (after.assignee, after.team) == (
                    before.assignee,
                    before.team,
                ):
                    result.skipped.append(BulkSkip(
                        id=ticket_id, code="unchanged", reason="already assigned so",
                    ))  # fmt: skip
                    continue
                result.changed.append(ticket_id)
                if kind == "assign" and after.assignee:
                    if after.assignee not in given:
                        person = self._user_by_email(conn, after.assignee)
                        if person is None:
                            continue
                        given[after.assignee] = (person, [])
                    given[after.assignee][1].append(after)
            for person, theirs in given.values():
                if len(theirs) == 1:  # as one assignment tells it
                    key = f"{theirs[0].id}:{now.isoformat()}"
                    self._notify(conn, "assigned", theirs[0], key, [person])
                else:
                    self._notify_assigned_many(conn, person, theirs, now)
        return result

    #: How many of the tickets a bulk assignment's one notification lists by ID and subject.
    DIGEST_LISTED = 10

    def _notify_assigned_many(
        self, conn: Connection, person: User, given: list[Ticket], now: datetime
    ) -> None:
        """One notification for many tickets given to ``person`` at once (a bulk assign of
        5,000 tickets is one mail, not 5,000): how many, the first few by ID and subject, and
        where to find them all (their queue's "My tickets")."""
        count = len(given)
        key = f"bulk:{given[0].id}:{count}:{now.isoformat()}"
        smtp = mail_accounts.smtp_account(conn)
        if smtp is None or not self._wants(conn, person, "assigned", key, now):
            return
        listed = given[: self.DIGEST_LISTED]
        lines = [f"#{t.id}: {t.subject} ({t.priority})" for t in listed]
        if count > len(listed):
            lines.append(f"... and {count - len(listed):,} more.")
        lines.append(
            'All of them: the queue\'s "My tickets" view (/tickets?view=mine), or '
            f"`customer-flow tickets list --assignee {person.email}`."
        )
        headline = f"{count:,} tickets assigned to you"
        first = given[0]
        # No "[#id]" token in the subject: a reply to the digest belongs to no one ticket.
        self._queue_notification(
            conn,
            smtp.address,
            person,
            f"{headline} (#{first.id} and {count - 1:,} more)",
            headline,
            "\n".join(lines),
            listed,
            count,
            now,
        )

    def _queue_notification(
        self,
        conn: Connection,
        sender: str,
        person: User,
        subject: str,
        headline: str,
        detail: str,
        tickets: list[Ticket],
        count: int,
        now: datetime,
    ) -> None:
        """Render the notification templates for ``tickets`` (the first is the one the mail is
        filed under; ``count`` how many it is about) and put the mail in the outbox."""
        context = {
            "headline": headline,
            "detail": detail,
            "link": "",
            "team": self.settings.mail_team_name,
            "count": count,
            "tickets": [self._ticket_context(t) for t in tickets],
            "ticket": self._ticket_context(tickets[0]),
        }
        folder = self.settings.mail_template_dir
        mail_outbox.enqueue(
            conn,
            ticket_id=tickets[0].id,
            comment_id=None,
            to_address=person.email,
            subject=subject[:400],
            body=mail_templates.render("notify.txt", context, folder),
            html=mail_templates.render("notify.html", context, folder),
            kind="notification",
            domain=sender.rsplit("@", 1)[-1],
            in_reply_to=None,
            references=[],
            now=now,
        )

    def _check_assignment(self, conn: Connection, assignee: str | None, team: str | None) -> None:
        """``_assignment``'s refusals, without picking a round-robin team's next agent."""
        if assignee and assignee.strip():
            self._assignment(conn, assignee, team, named_team=True)
        elif team is not None and team_records.require_team(conn, team).active_members == 0:
            raise ValidationError(
                f"team: team {team!r} has no active agents; add one with "
                f"`teams add-member {team} EMAIL`",
                field="team",
                code="team_has_no_agents",
            )

    def _bulk_one(
        self, conn: Connection, bulk: TicketBulk, ticket_id: int, policy: sla.SlaPolicy,
        now: datetime,
    ) -> Ticket:  # fmt: skip
        """One ticket of ``bulk_tickets``, as the one-ticket use case changes it."""
        if bulk.action == "assign":
            key, team_key = self._assignment(conn, bulk.assignee, bulk.team, named_team=True)
            return tickets.assign(conn, ticket_id, key, team_key, policy, now, actor=self.actor)
        if bulk.action == "priority":
            changes = TicketUpdate(priority=bulk.priority)
            return tickets.update_ticket(conn, ticket_id, changes, policy, now, actor=self.actor)
        status = "closed" if bulk.action == "close" else str(bulk.status)
        return tickets.set_status(
            conn, ticket_id, status, policy, now, actor=self.actor, note=bulk.note
        )

    # -- canned replies (issue 17) -------------------------------------------------------------

    def _who(self, conn: Connection) -> owned.Who:
        """The acting user for personal and shared items: the signed-in user (the web), else
        the user the CLI's actor names (none: shared items only)."""
        user_id = self.user_id
        if user_id is None:
            person = self._user_by_email(conn, self.actor)
            user_id = person.id if person is not None else None
        return owned.Who(user_id=user_id, admin="admin" in ROLES[self.role])

    def list_canned_replies(self) -> list[CannedReply]:
        """The canned replies the acting user sees: the shared ones and their own."""
        with self._read() as conn:
            return canned.list_for(conn, self._who(conn))

    def get_canned_reply(self, reply_id: int) -> CannedReply:
        with self._read() as conn:
            return canned.get(conn, reply_id, self._who(conn))

    def add_canned_reply(self, new: CannedCreate) -> CannedReply:
        """Save a canned reply; an unknown placeholder is refused, naming it. Personal by
        default; only an admin shares one."""
        with self._write() as conn:
            return canned.create(conn, new, self._who(conn), self._now(), actor=self.actor)

    def update_canned_reply(self, reply_id: int, changes: CannedUpdate) -> CannedReply:
        """Change a canned reply: your own, or (admins and its owner) a shared one."""
        with self._write() as conn:
            who = self._who(conn)
            return canned.update_reply(conn, reply_id, changes, who, self._now(), actor=self.actor)

    def delete_canned_reply(self, reply_id: int) -> CannedReply:
        with self._write() as conn:
            return canned.remove(conn, reply_id, self._who(conn), self._now(), actor=self.actor)

    def render_canned_replies(
        self, ticket_id: int, reply_id: int | None = None
    ) -> list[RenderedReply]:
        """The canned replies the acting user sees (or the one ``reply_id``), with their
        placeholders filled in for ``ticket_id`` and the acting agent."""
        policy = self.sla_policy
        with self._read() as conn:
            who = self._who(conn)
            ticket = tickets.get(conn, ticket_id, policy, self._now(), detail=False)
            customer = customers.get(conn, ticket.customer_id)
            agent = self._user_by_email(conn, self.actor) if self.user_id is None else None
            if self.user_id is not None:
                agent = users.get(conn, self.user_id)
            agent_name = (agent.name or agent.email) if agent is not None else self.actor
            values = {
                "customer.name": customer.name,
                "customer.first_name": (customer.name.split() or [""])[0],
                "customer.email": customer.email or "",
                "customer.phone": customer.phone or "",
                "ticket.id": str(ticket.id),
                "ticket.subject": ticket.subject,
                "ticket.status": ticket.status,
                "ticket.priority": ticket.priority,
                "ticket.type": ticket.type,
                "agent.name": agent_name,
                "agent.first_name": (agent_name.split() or [""])[0],
                "agent.email": agent.email if agent is not None else "",
            }
            chosen = (
                [canned.get(conn, reply_id, who)]
                if reply_id is not None
                else canned.list_for(conn, who)
            )
            return [
                RenderedReply(
                    id=r.id, ticket_id=ticket_id, title=r.title, text=canned.render(r.body, values)
                )
                for r in chosen
            ]

    # -- saved views (issue 17) ---------------------------------------------------------------

    def list_saved_views(self) -> list[SavedView]:
        """The saved views the acting user sees: the shared ones and their own."""
        with self._read() as conn:
            return saved_views.list_for(conn, self._who(conn))

    def get_saved_view(self, view_id: int) -> SavedView:
        with self._read() as conn:
            return saved_views.get(conn, view_id, self._who(conn))

    def add_saved_view(self, new: SavedViewCreate) -> SavedView:
        """Save a queue's filters and sort under a name; personal unless an admin shares it."""
        with self._write() as conn:
            return saved_views.create(conn, new, self._who(conn), self._now(), actor=self.actor)

    def update_saved_view(self, view_id: int, changes: SavedViewUpdate) -> SavedView:
        with self._write() as conn:
            who = self._who(conn)
            return saved_views.update_view(
                conn, view_id, changes, who, self._now(), actor=self.actor
            )

    def delete_saved_view(self, view_id: int) -> SavedView:
        with self._write() as conn:
            return saved_views.remove(conn, view_id, self._who(conn), self._now(), actor=self.actor)

    # -- agents and teams (issue 17) -----------------------------------------------------------

    def list_agents(self) -> list[Agent]:
        """Everyone who can work tickets now: active users whose role is agent or admin."""
        with self._read() as conn:
            return team_records.list_agents(conn)

    def list_teams(self) -> list[Team]:
        """Every team, with its members."""
        with self._read() as conn:
            return team_records.list_teams(conn)

    def get_team(self, key: str) -> Team:
        with self._read() as conn:
            return team_records.get(conn, key)

    def add_team(self, new: TeamCreate) -> Team:
        """Add a team (admin only)."""
        with self._write("admin") as conn:
            return team_records.create(conn, new, self._now(), actor=self.actor)

    def update_team(self, key: str, changes: TeamUpdate) -> Team:
        """Rename a team or change its assignment rule (admin only)."""
        with self._write("admin") as conn:
            return team_records.update_team(conn, key, changes, self._now(), actor=self.actor)

    def add_team_member(self, key: str, agent: str) -> Team:
        """Put an active agent (by email or name) in a team (admin only)."""
        with self._write("admin") as conn:
            return team_records.add_member(conn, key, agent, self._now(), actor=self.actor)

    def remove_team_member(self, key: str, member: str) -> Team:
        """Take someone out of a team (admin only); the tickets they hold stay theirs."""
        with self._write("admin") as conn:
            return team_records.remove_member(conn, key, member, self._now(), actor=self.actor)

    def unmatched_assignees(self) -> list[UnmatchedAssignee]:
        """Migration 0015's report: the free-text assignees that matched no user."""
        with self._read() as conn:
            return team_records.list_unmatched(conn)

    def set_ticket_status(self, ticket_id: int, status: str, *, note: str | None = None) -> Ticket:
        """Move a ticket along its lifecycle; an error names the allowed next statuses."""
        policy = self.sla_policy
        with self._write() as conn:
            return tickets.set_status(
                conn, ticket_id, status, policy, self._now(), actor=self.actor, note=note
            )

    def close_ticket(self, ticket_id: int, *, note: str | None = None) -> Ticket:
        """Close a ticket (from any status but closed)."""
        return self.set_ticket_status(ticket_id, "closed", note=note)

    def reopen_ticket(self, ticket_id: int, *, note: str | None = None) -> Ticket:
        """Reopen a resolved or closed ticket; the time it sat resolved does not count."""
        policy = self.sla_policy
        with self._write() as conn:
            current = tickets.get(conn, ticket_id, policy, self._now(), detail=False)
            if current.status not in ("resolved", "closed"):
                raise StateError(
                    f"ticket {ticket_id} is {current.status}: only a resolved or closed ticket "
                    "can be reopened",
                    code="not_reopenable",
                )
            return tickets.set_status(
                conn, ticket_id, "open", policy, self._now(), actor=self.actor, note=note
            )

    def add_comment(
        self,
        ticket_id: int,
        new: CommentCreate,
        *,
        files: list[tuple[str, bytes, str]] | list[mail_files.NewFile] | None = None,
    ) -> Comment:
        """Add a public reply or an internal note; the first agent reply is the first response.

        With ``new.set_status`` ("send and set pending", "send and resolve") the ticket moves
        to that status in the same transaction; a move the lifecycle refuses saves nothing.
        An agent's public reply to a customer with an email goes to the outbox in the same
        transaction when an SMTP server is set (``send_mail`` sends it), with ``files``
        attached ((name, bytes, content type), or ``NewFile``s read as they are kept); they are
        kept with the ticket either way. Refused before anything is written: more than
        ``mail_max_attachments`` files (422), a file over ``mail_max_attachment_bytes`` or all
        of them over ``mail_max_message_bytes`` (413)."""
        if new.set_status is not None and new.by_customer:
            raise ValidationError(
                "set_status: only an agent's comment moves the ticket", field="set_status"
            )
        wanted = [
            f
            if isinstance(f, mail_files.NewFile)
            else mail_files.NewFile(f[0], f[2], len(f[1]), f[1])
            for f in files or []
        ]
        self._check_files(wanted)
        policy = self.sla_policy
        store = mail_files.FileStore(self.settings.resolved_attachment_dir())
        kept = [self._keep_file(store, f) for f in wanted]  # before the write lock: no row yet
        with self._write() as conn:
            comment, ticket = tickets.add_comment(
                conn, ticket_id, new, policy, self._now(), actor=self.actor
            )
            for f, (sha256, size) in zip(wanted, kept, strict=True):
                mail_files.add(
                    conn, ticket_id=ticket_id, comment_id=comment.id, inbound_id=None,
                    sha256=sha256, size=size, filename=mail_parsing.clean_filename(f.name),
                    content_type=f.content_type or "application/octet-stream", now=self._now(),
                )  # fmt: skip
            if comment.public and not comment.by_customer:
                self._queue_reply(conn, ticket, comment)
            if new.set_status is not None and ticket.status != new.set_status:
                tickets.set_status(
                    conn, ticket_id, new.set_status, policy, self._now(), actor=self.actor
                )
            return comment

    def _check_files(self, files: list[mail_files.NewFile]) -> None:
        most = self.settings.mail_max_attachments
        limit, total = self.settings.mail_max_attachment_bytes, self.settings.mail_max_message_bytes
        if len(files) > most:
            raise ValidationError(
                f"files: {len(files)} files, at most {most} per comment", code="too_many_files",
                field="files",
            )  # fmt: skip
        for f in files:
            if f.size > limit:
                raise TooLargeError(
                    f"files: {mail_parsing.clean_filename(f.name)} is {f.size:,} bytes, over the "
                    f"limit of {limit:,} per file", code="file_too_large", field="files",
                )  # fmt: skip
        if sum(f.size for f in files) > total:
            raise TooLargeError(
                f"files: {sum(f.size for f in files):,} bytes in all, over the limit of "
                f"{total:,} per message", code="files_too_large", field="files",
            )  # fmt: skip

    def _keep_file(self, store: mail_files.FileStore, f: mail_files.NewFile) -> tuple[str, int]:
        """Put one file in the content-addressed store; its SHA-256 and real size."""
        if isinstance(f.source, bytes):
            return store.put(f.source), len(f.source)
        try:
            return store.put_stream(f.source, self.settings.mail_max_attachment_bytes)
        except OverflowError:
            raise TooLargeError(
                f"files: {mail_parsing.clean_filename(f.name)} is over the limit of "
                f"{self.settings.mail_max_attachment_bytes:,} bytes per file",
                code="file_too_large", field="files",
            ) from None  # fmt: skip

    def list_comments(self, ticket_id: int, *, include_notes: bool = True) -> list[Comment]:
        """A ticket's comments, oldest first."""
        with self._read() as conn:
            return tickets.list_comments(conn, ticket_id, include_notes=include_notes)

    def ticket_history(self, ticket_id: int) -> list[AuditEntry]:
        """A ticket's timeline: every change and comment, oldest first."""
        with self._read() as conn:
            return tickets.history(conn, ticket_id)

    def ticket_due(self, ticket_id: int, target: str = "resolution") -> datetime:
        """When a ticket's ``target`` (first_response or resolution) falls due.

        While the ticket is pending its clock is stopped, and this instant moves out by the
        business time of the pause when the clock resumes. Raises ``StateError`` when the
        ticket's type sets no such target.
        """
        if target not in ("first_response", "resolution"):
            raise ValidationError(
                f"target: expected first_response or resolution, got {target!r}", field="target"
            )
        ticket = self.get_ticket(ticket_id)
        due = getattr(ticket.sla, target).due_at
        if due is None:
            raise StateError(
                f"ticket {ticket_id} has no {target.replace('_', ' ')} target: its type "
                f"{ticket.type!r} sets none",
                code="no_sla",
            )
        return due  # type: ignore[no-any-return]

    def purge_ticket(self, ticket_id: int) -> Ticket:
        """Delete a closed ticket and its comments for good; its timeline stays."""
        policy = self.sla_policy
        with self._write("purge") as conn:
            current = tickets.get(conn, ticket_id, policy, self._now(), detail=False)
            if current.status != "closed":
                raise StateError(
                    f"ticket {ticket_id} is {current.status}: close it before you purge it",
                    code="not_closed",
                )
            mail_files.forget_ticket(conn, ticket_id)
            return tickets.purge(conn, ticket_id, policy, self._now(), actor=self.actor)

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
        self._require("admin")
        users.check_new_user(new)
        password_hash = self.passwords.hash(new.password)  # outside the write: it takes a while
        with self._write("admin") as conn:
            return users.create(conn, new, password_hash=password_hash, actor=self.actor)

    def create_first_admin(self, email: str, password: str) -> User | None:
        """Create the first admin when there are no users yet; ``None`` if there already are."""
        from customer_flow.users.models import UserCreate

        new = UserCreate(email=email, name="", role="admin", password=password)
        self._require("admin")
        with self._read() as conn:
            if users.list_users(conn):
                return None
        users.check_new_user(new)
        password_hash = self.passwords.hash(password)
        with self._write("admin") as conn:
            if users.list_users(conn):
                return None
            return users.create(conn, new, password_hash=password_hash, actor=self.actor)

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

    def set_role(self, user_id: int, role: str) -> User:
        """Change a user's role (admin only); the last active admin keeps theirs."""
        with self._write("admin") as conn:
            return users.set_role(conn, user_id, role, actor=self.actor)

    def set_time_zone(
        self, user_id: int, time_zone: str | None, *, only_if_unset: bool = False
    ) -> User:
        """Set the time zone a user's pages show times in: yours, or (admin) anyone's. An
        unknown name is refused; None goes back to UTC. ``only_if_unset``: the browser's
        guess, which never replaces a zone the user chose."""
        self._require_self_or_admin(user_id, "change the time zone of")
        with self._auth_write() as conn:
            return users.set_time_zone(
                conn, user_id, time_zone, actor=self.actor, only_if_unset=only_if_unset
            )

    def set_user_time_zone(self, email: str, time_zone: str | None) -> User:
        """``set_time_zone`` for the user with this email (the CLI names users by email)."""
        return self.set_time_zone(self.find_user(email).id, time_zone)

    def set_password(
        self,
        user_id: int,
        password: str,
        *,
        current_password: str | None = None,
        revoke_tokens: bool = False,
        keep_session: str | None = None,
        client: str | None = None,
    ) -> PasswordChange:
        """Set a password: two use cases, told apart by whose account it is.

        - Your own: ``current_password`` is required. A wrong one counts as a failed login of
          your account from ``client`` and is throttled like one (403, then 429). Your other
          sessions end; ``keep_session`` (the web's current one) stays.
        - Someone else's (admin only; the local CLI is an admin): a reset, audited as such;
          ``current_password`` is not used. All their sessions end and their failed logins
          are forgotten.

        ``revoke_tokens`` revokes the user's API tokens as well."""
        own = self.user_id is not None and user_id == self.user_id
        self._require_self_or_admin(user_id, "change the password of")
        with self._read() as conn:
            target = users.get(conn, user_id)
        users.check_password_rule(password, email=target.email)
        attempt: _Attempt | None = None
        if own:
            if not current_password:
                raise ValidationError(
                    "current_password: give your current password to change it",
                    field="current_password",
                    code="current_password_missing",
                )
            attempt = self._attempt(target.email, current_password, client)
            if not attempt.good:
                raise PermissionDeniedError(
                    "current_password: that is not your current password",
                    field="current_password",
                    code="wrong_password",
                )
        password_hash = self.passwords.hash(password)
        with self._write("read") as conn:
            if attempt is not None:
                throttle.forget(conn, attempt.key, attempt.address, failure_id=attempt.failure_id)
            else:
                throttle.forget(conn, users.login_key(target.email))
            return users.set_password(
                conn,
                user_id,
                password_hash,
                reset=not own,
                keep_session=keep_session if own else None,
                revoke_tokens=revoke_tokens,
                actor=self.actor,
            )

    def _attempt(self, email: str, password: str, client: str | None) -> _Attempt:
        """Check a password against an account, throttled (``users/throttle.py``).

        The attempt is counted as a failure first, in a short write that checks the throttle
        again (on SQLite, whose write lock makes the two one step, concurrent attempts cannot
        slip through together; on PostgreSQL at most those running at the same moment can).
        The password is then verified outside any transaction: argon2 takes tens of
        milliseconds, and SQLite's write lock must not wait for it. The caller deletes the
        failure when the password was right. Raises ``TooManyAttemptsError`` (with
        ``retry_after``) when throttled."""
        key = users.login_key(email)
        address = throttle.address_key(client)
        now = audit.now()
        with self.store.read() as conn:
            wait = throttle.retry_after(conn, key, address, now)
            account = users.credentials(conn, key)
        failure_id = 0
        if not wait:
            with self._auth_write() as conn:
                wait = throttle.retry_after(conn, key, address, now)
                if not wait:
                    failure_id = throttle.record_failure(conn, key, address, now)
        if wait:
            raise throttle.too_many(wait)
        stored = account.password_hash if account is not None else None
        good = self.passwords.verify(stored, password)
        return _Attempt(
            key=key,
            address=address,
            failure_id=failure_id,
            account=account if good and account is not None and account.active else None,
        )

    def login(self, email: str, password: str, *, client: str | None = None) -> LoginSession:
        """Check an email and password from ``client`` (its address; throttled per account and
        address, see ``users/throttle.py``) and open a session."""
        attempt = self._attempt(email, password, client)
        if attempt.account is None:
            raise AuthenticationError(users.BAD_LOGIN, code="bad_login")
        checked = attempt.account
        rehash = self.passwords.needs_rehash(checked.password_hash)
        new_hash = self.passwords.hash(password) if rehash else None
        now = audit.now()
        with self._auth_write() as conn:
            session = users.open_session(
                conn,
                checked,
                now=now,
                ttl=timedelta(hours=self.settings.session_hours),
                idle=timedelta(minutes=self.settings.session_idle_minutes),
                new_hash=new_hash,
            )
            if session is not None:
                throttle.forget(conn, attempt.key, attempt.address, failure_id=attempt.failure_id)
        if session is None:  # disabled or given a new password while we checked: a failure
            raise AuthenticationError(users.BAD_LOGIN, code="bad_login")
        return session

    def logout(self, session_id: str) -> bool:
        """End a session; True when there was one."""
        with self._auth_write() as conn:
            return users.end_session(conn, session_id)

    def authenticate_session(self, session_id: str) -> tuple[User, str]:
        """The user behind a session cookie, and the session's CSRF token. The session's
        last-seen time is written at most once a minute, and only when no other write holds
        SQLite's lock (else the next request does it)."""
        now = audit.now()
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        with self.store.read(autocommit=True) as conn:  # one statement, on every request
            user, csrf, seen = users.authenticate_session(conn, session_id, now=now, idle=idle)
        if now - seen >= users.SESSION_TOUCH:
            with self.store.write_if_free() as conn:
                if conn is not None:
                    users.touch_session(conn, session_id, now)
        return user, csrf

    def authenticate_token(self, secret: str) -> User:
        """The user behind a Bearer token."""
        with self.store.read(autocommit=True) as conn:  # one statement, on every request
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
            _check_default_teams(conn, wanted, "request body")
            return ticket_types.sync(conn, wanted, actor=self.actor)

    # -- duplicates (dedupe.py, merging.py) ------------------------------------------------------

    def check_duplicates(
        self,
        name: str | None,
        email: str | None = None,
        phone: str | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> list[DuplicateCandidate]:
        """The live customers a customer with these values (and extra attributes) would look
        like, the most likely first, and why."""
        with self._read() as conn:
            email_clean = customers.clean_email(email)[0] if email else None
            phone_clean = customers.clean_phone(phone, self.region)[0] if phone else None
            return dedupe.entry_candidates(conn, name, email_clean, phone_clean, extra)

    def find_duplicates(
        self,
        *,
        threshold: float | None = None,
        fields: list[str] | None = None,
        auto_fields: bool = True,
        train: bool | None = None,
        spark: SparkEngine | None = None,
    ) -> DuplicateReport:
        """Likely duplicates over all live customers, as clusters with a score and the evidence
        per field (Splink on DuckDB, or on Spark with ``spark``: the same model, the model
        ``find`` last stored unless ``train``). Pairs marked "not a duplicate" are left out.

        Besides name, email and phone, the model compares the extra attributes ``fields`` names
        and, unless ``auto_fields`` is off, those it recognises as identifying (postcode,
        address, date of birth) when enough live customers have one (``dedupe_fields``); the
        report lists the fields compared and why."""
        params = dedupe.load_params()
        chosen = float(params["default_threshold"]) if threshold is None else threshold
        wanted = dedupe.check_fields(fields or [])
        with self._read() as conn:
            attributes = self._duplicate_attributes(conn, wanted, auto_fields)
            columns = dedupe.read_live(conn, attributes)
            dismissed = dedupe.all_dismissed(conn)
            stored = dedupe_scorer.active_model(conn, params) if spark is not None else None
        report, model = dedupe.find(
            columns,
            threshold=chosen,
            attributes=attributes,
            auto_fields=auto_fields,
            dismissed=dismissed,
            train=train,
            params=params,
            spark=spark,
            stored=stored,
        )
        if "write" in ROLES[self.role]:
            # The check on entry scores with what find used from now on (same verdicts).
            with self.store.write() as conn:
                dedupe_scorer.store_model(conn, model, report.customers)
                dedupe.set_live_count(conn, report.customers)
        return report

    @staticmethod
    def _duplicate_attributes(
        conn: Connection, wanted: list[str], auto: bool
    ) -> list[dedupe_fields.Attribute]:
        # Without anything to look for, the pass over the extra attributes is skipped.
        counts = dedupe_fields.key_counts(conn) if wanted or auto else {}
        return dedupe_fields.candidates(counts, wanted, auto=auto)

    def export_duplicates_model(
        self,
        out_dir: Path,
        *,
        fields: list[str] | None = None,
        auto_fields: bool = True,
        dialect: str = "spark",
    ) -> tuple[Path, Path, list[ComparedField]]:
        """Write the live customers as the model's input (Parquet) and the Splink settings for
        ``dialect``, to run the same model on Spark past one machine (docs/duplicates.md). The
        fields are chosen as ``find_duplicates`` chooses them, and returned with why."""
        from customer_flow.duplicates import model as dedupe_model

        params = dedupe.load_params()
        wanted = dedupe.check_fields(fields or [])
        with self._read() as conn:
            attributes = self._duplicate_attributes(conn, wanted, auto_fields)
            columns = dedupe.read_live(conn, attributes)
            stored = dedupe_scorer.active_model(conn, params)
        chosen, compared, _left_out = dedupe_fields.choose(columns, attributes, params)
        names = [f.name for f in compared if f.source == "built-in" and f.name != "name"]
        names += [a.name for a in chosen]
        comparisons = dedupe_model.comparisons(names)
        # The m and u find last used (trained on this database), where they cover these fields.
        trained = stored.mu if stored.stored else None
        mu = dedupe_model.mu_of(comparisons, params, trained)
        data, settings = dedupe_model.export(
            columns, fields=names, params=params, mu=mu, out_dir=out_dir, dialect=dialect
        )
        return data, settings, compared

    def merge_customers(
        self, keep_id: int, other_ids: list[int], *, take: dict[str, int] | None = None
    ) -> MergeResult:
        """Merge ``other_ids`` into ``keep_id`` (see ``merging.merge``); undone by
        ``unmerge_customers``."""
        with self._write() as conn:
            result = merging.merge(conn, keep_id, other_ids, take=take, actor=self.actor)
            search.refresh(conn, [keep_id])
            return result

    def unmerge_customers(self, merge_id: int) -> MergeResult:
        """Undo merge ``merge_id`` exactly; refused if one of its records changed since."""
        with self._write() as conn:
            result = merging.unmerge(conn, merge_id, actor=self.actor)
            search.refresh(conn, [result.survivor.id, *(o.id for o in result.others)])
            return result

    def list_merges(self, customer_id: int | None = None) -> list[Merge]:
        with self._read() as conn:
            return merging.list_merges(conn, customer_id)

    def get_merge(self, merge_id: int) -> Merge:
        with self._read() as conn:
            return merging.get_merge(conn, merge_id)

    def dismiss_duplicate(self, a: int, b: int) -> tuple[Customer, Customer]:
        """Remember that two customers are not the same; ``find`` and entry checks skip them."""
        with self._write() as conn:
            return merging.dismiss(conn, a, b, actor=self.actor)

    # -- reports -------------------------------------------------------------------------------

    def report(self, query: ReportQuery | None = None) -> Report:
        """Every ticket and customer metric for a period, computed in the database.

        The business calendar is the one the SLA uses; the durations were measured in it when
        each event happened. First, if the database is free this instant, the days that ticket
        changes marked are recounted into the report rollup (a cache of counts, written without
        an audit entry); if it is busy, the report counts those days itself.
        """
        from customer_flow.reports.models import ReportQuery

        self._require("read")
        self.refresh_report_rollup()
        policy = self.sla_policy
        with self.store.read(snapshot=True) as conn:
            return reports.build_report(
                conn,
                query or ReportQuery(),
                now=self._now(),
                calendar=policy.calendar.describe(),
            )

    def refresh_report_rollup(self) -> int:
        """Recount the days ticket changes marked into the report rollup, unless another
        writer holds the database right now; returns how many days were recounted."""
        with self.store.write_if_free() as conn:
            return 0 if conn is None else report_rollup.refresh(conn)

    def rebuild_report_rollup(self) -> None:
        """Count the report rollup again from every ticket: after tickets were written outside
        Customer_Flow (a bulk load, a hand-made fix)."""
        with self._write("admin") as conn:
            report_rollup.rebuild(conn)

    # -- imports and exports (issue 3) ---------------------------------------------------------

    def import_file(
        self,
        path: Path,
        options: ImportOptions | None = None,
        *,
        dry_run: bool = False,
        progress: Callable[[int, int | None], None] | None = None,
        job_id: int | None = None,
        waiting: Callable[[str], None] | None = None,
    ) -> ImportReport:
        """Import a customer file in one transaction, recorded as a batch (``imports list``).

        With ``dry_run`` the very same import runs and is rolled back: the report says what
        would be created, updated and rejected, and nothing is written. ``progress`` is told,
        batch after batch, the records read and about how many the file holds (None when
        unknown). ``job_id``: the web import job this is (``run_import_job``), marked done in
        the same transaction; when it was done already, nothing is written. On SQLite, other
        writes wait for it instead of failing, and a second import waits for it; ``waiting``
        is told what it waits for."""
        from customer_flow.data.imports import ImportOptions

        options = options or ImportOptions()
        outcome: list[ImportReport] = []
        what = f"the import of {Path(path).name}"
        try:
            # SQLite: others' writes wait for it instead of failing (store/long_write.py); a
            # second import waits for the first, and ``waiting`` hears what it waits for.
            with self.store.long_write(what, waiting=waiting), self._write() as conn:
                report = imports.run_import(
                    conn,
                    Path(path),
                    options,
                    actor=self.actor,
                    region=self.region,
                    dry_run=dry_run,
                    progress=progress,
                )
                if dry_run:
                    report.batch_id = None
                    outcome.append(report)
                    raise _RollBack
                assert report.batch_id is not None
                # The search index follows the customers this import created or updated (the
                # duplicate check's keys were written by the pipeline itself).
                created, updated = imports.touched(conn, report.batch_id)
                search.refresh(conn, updated, fresh=created)
                audit.record(
                    conn,
                    actor=self.actor,
                    action="import",
                    entity=imports.ENTITY,
                    entity_id=report.batch_id,
                    before=None,
                    after=report.model_dump(
                        mode="json", exclude={"rejects", "outcomes", "duplicates"}
                    ),
                )
                if job_id is not None:
                    public = report.model_copy(update={"rejects_file": None})
                    if not import_jobs.finish(
                        conn, job_id, public.model_dump(mode="json"), report.batch_id, self._now()
                    ):
                        raise StateError(
                            f"import job {job_id} was done already", code="import_job_done"
                        )
                return report
        except _RollBack:
            return outcome[0]
        except Exception as exc:
            # PostgreSQL: others write while an import runs (it holds no lock they need). One
            # who saved a customer with an ID or email the file also gives, after the import
            # had checked it, wins; the import is rolled back whole.
            clash = unique_violation(exc)
            if clash is None or isinstance(exc, ConflictError):
                raise
            raise ConflictError(
                f"{Path(path).name}: a customer saved while the import ran has an ID or email "
                f"the file also gives ({clash.rstrip('.')}); nothing was imported; run the "
                "import again",
                code="import_conflict",
            ) from exc

    def preview_import(self, path: Path, options: ImportOptions | None = None) -> ImportReport:
        """What importing ``path`` would do (a dry run)."""
        return self.import_file(path, options, dry_run=True)

    def validate_file(self, path: Path, options: ImportOptions | None = None) -> ImportReport:
        """The data-quality report of a file, without the database: per-rule cleaning counts,
        error and warning counts, and the first failing rows. ``imported`` counts valid rows."""
        from customer_flow.data.imports import ImportOptions

        self._require("read")
        options = options or ImportOptions()
        # A private in-memory database: the check needs no customer, and the user's database
        # is neither created nor migrated by it.
        engine = create_engine("sqlite://")
        try:
            with engine.connect() as conn:
                # The duplicate check reads its model from here: none stored, the shipped one.
                schema.duplicate_model.create(conn)
                return imports.run_import(
                    conn, Path(path), options, actor=self.actor, region=self.region, load=False
                )
        finally:
            engine.dispose()

    def list_imports(self, *, limit: int = 100) -> list[ImportBatch]:
        """Past imports, the most recent first."""
        with self._read() as conn:
            return imports.list_batches(conn, limit=limit)

    def get_import(self, batch_id: int) -> ImportBatch:
        with self._read() as conn:
            return imports.get_batch(conn, batch_id)

    def revert_import(self, batch_id: int, *, skip_changed: bool = False) -> RevertResult:
        """Undo an import exactly: its new customers go (their IDs free again for a file that
        gives them), its updated ones get their old values, and each one's history says so.
        Refused, naming them, when some cannot be undone (changed since, or holding tickets);
        with ``skip_changed`` those stay and the rest is undone."""
        with self._write() as conn:
            before = imports.get_batch(conn, batch_id)
            created, updated = imports.touched(conn, batch_id)
            batch = imports.revert(conn, batch_id, actor=self.actor, skip_changed=skip_changed)
            dedupe.reindex(conn, updated)  # created ones are gone, their keys with them
            dedupe.set_live_count(conn)  # the duplicates model's n
            search.refresh(conn, [*created, *updated])
            audit.record(
                conn,
                actor=self.actor,
                action="revert",
                entity=imports.ENTITY,
                entity_id=batch_id,
                before=before.model_dump(mode="json"),
                after=batch.model_dump(mode="json", exclude={"kept"})
                | {"kept": [k.id for k in batch.kept]},
            )
            return batch

    def export_customers(
        self,
        out: Path | IO[str],
        query: CustomerQuery | None = None,
        *,
        format: str = "csv",
        raw: bool = False,
    ) -> ExportReport:
        """Write the customers that ``query`` selects (the filters of ``customers list``)."""
        with self._read() as conn:
            return exports.export_customers(
                conn, out, query or CustomerQuery(), format=format, raw=raw
            )

    # -- imports started from the web, run by the worker (issues 18 and 19) -------------------

    def start_import_job(
        self,
        kind: import_jobs.Kind,
        folder: Path,
        source: str,
        options: ImportOptions,
        enqueue: Callable[[int], object],
    ) -> ImportJob:
        """Record a preview (``kind="preview"``, a dry run) or an import of the upload staged
        in ``folder``, and hand it to the worker's queue (``enqueue(job_id)``). The worker runs
        it as this user (``run_import_job``); ``get_import_job`` follows it."""
        with self._write() as conn:
            job = import_jobs.create(
                conn, kind=kind, user_id=self.user_id, actor=self.actor, role=self.role,
                source=source, folder=folder, options=options.model_dump(mode="json"),
                now=self._now(),
            )  # fmt: skip
        try:
            enqueue(job.id)
        except Exception as exc:  # the queue's own errors (Redis down, a full disk)
            message = f"the job queue is not available: {type(exc).__name__}: {exc}"[:500]
            with self.store.write() as conn:
                import_jobs.fail(conn, job.id, message, 503, self._now(), final=True)
            raise StorageError(message, code="queue_unavailable") from None
        return job

    def get_import_job(self, job_id: int) -> ImportJob:
        """An import job, with its progress; only its owner (or an admin) may see it."""
        with self._read() as conn:
            job = import_jobs.get(conn, job_id)
        if self.user_id is not None and job.user_id != self.user_id and self.role != "admin":
            raise NotFoundError(f"no import job {job_id}", code="import_job_not_found")
        return job

    def run_import_job(self, job_id: int, *, final: bool = True) -> ImportJob:
        """Run a web import job (the worker calls this), as the user who started it.

        An import commits all or nothing, and its job turns done in the same transaction. A
        problem of the file (a ``ValidationError``, too many rejects) ends the job with its
        message. A problem of the place (the staged upload not there, the database busy) is
        raised again for the queue to retry, and ends the job only on the last try
        (``final``)."""
        import shutil

        from customer_flow.data import staging
        from customer_flow.data.imports import ImportOptions

        with self._read() as conn:
            job = import_jobs.get(conn, job_id)
        if job.finished:
            return job
        with self._write() as conn:
            import_jobs.start(conn, job_id, self._now())
        folder = Path(job.folder)
        runner = self.as_actor(job.actor, job.role, job.user_id)
        try:
            try:
                staged = staging.staged_at(folder)
            except (OSError, ValueError):
                raise StorageError(
                    f"the upload {job.source} is not in {folder}: every app server and worker "
                    "must share the import folder (the import_dir setting)",
                    code="upload_not_shared",
                ) from None
            options = ImportOptions.model_validate(job.options)

            def tick(done: int, total: int | None) -> None:
                import_jobs.write_progress(folder, done, total)

            if job.kind == "preview":  # it shows every reject: max_errors is the import's
                options = options.model_copy(update={"max_errors": None})
                report = runner.import_file(staged.path, options, dry_run=True, progress=tick)
                with self._write() as conn:
                    public = staging.public(report, staged).model_dump(mode="json")
                    import_jobs.finish(conn, job_id, public, None, self._now())
            else:
                try:
                    report = runner.import_file(staged.path, options, progress=tick, job_id=job_id)
                except StateError as exc:
                    if exc.code != "import_job_done":
                        raise
                else:
                    staging.keep_batch(folder.parent.parent, staged, report)
        except CustomerFlowError as exc:
            again = isinstance(exc, StorageError | ConfigError)
            message = exc.message
            if isinstance(exc, ValidationError):
                message = staging.scrubbed(exc, staging.Staged(folder.name, folder, "")).message
            ended = final or not again
            with self.store.write() as conn:
                import_jobs.fail(conn, job_id, message, exc.http_status, self._now(), final=ended)
            if ended and job.kind == "preview":  # nothing to import: the upload goes
                shutil.rmtree(folder, ignore_errors=True)
            if again:
                raise
        except Exception as exc:
            with self.store.write() as conn:
                error = f"{type(exc).__name__}: {exc}"
                import_jobs.fail(conn, job_id, error, 500, self._now(), final=final)
            raise
        with self._read() as conn:
            return import_jobs.get(conn, job_id)

    # -- mail (issue 18) -----------------------------------------------------------------------

    def save_mail_account(self, new: MailAccountCreate) -> MailAccount:
        """Add a mail server (an IMAP mailbox or the SMTP server) or replace the one of that
        name. Its password stays where it names: an environment variable or a file."""
        with self._write("admin") as conn:
            known = {t.key for t in ticket_types.list_types(conn)}
            return mail_accounts.save(conn, new, self._now(), actor=self.actor, known_types=known)

    def list_mail_accounts(self) -> list[MailAccount]:
        """The mail servers, IMAP mailboxes first."""
        self._require("admin")
        with self._read() as conn:
            return mail_accounts.list_accounts(conn)

    def remove_mail_account(self, name: str) -> MailAccount:
        """Forget a mail server; what it read and sent stays."""
        with self._write("admin") as conn:
            return mail_accounts.remove(conn, name, self._now(), actor=self.actor)

    @staticmethod
    def mail_password(account: MailAccount) -> str:
        """The account's password, read from its environment variable or file; an error names
        where it looked, never the value."""
        import os

        if account.password_env:
            value = os.environ.get(account.password_env)
            if not value:
                raise ConfigError(
                    f"mail account {account.name}: the environment variable "
                    f"{account.password_env} is not set",
                    code="mail_password_missing",
                )
            return value
        path = Path(account.password_file or "").expanduser()
        try:
            with path.open("rb") as handle:
                data = handle.read(4097)
        except OSError as exc:
            raise ConfigError(
                f"mail account {account.name}: cannot read the password file {path}: "
                f"{exc.strerror or exc}",
                code="mail_password_missing",
            ) from None
        value = data[:4096].decode("utf-8", "replace").rstrip("\r\n")
        if not value or len(data) > 4096:
            raise ConfigError(
                f"mail account {account.name}: the password file {path} is empty or too long",
                code="mail_password_missing",
            )
        return value

    def _our_addresses(self, conn: Connection) -> set[str]:
        return {a.address for a in mail_accounts.list_accounts(conn)}

    def _queue_reply(self, conn: Connection, ticket: Ticket, comment: Comment) -> None:
        """Write an agent's public reply to the outbox, if it can go anywhere."""
        smtp = mail_accounts.smtp_account(conn)
        if smtp is None:
            return
        customer = customers.get(conn, ticket.customer_id)
        if not customer.email:
            return
        in_reply_to, references = mail_inbound.thread_ids(conn, ticket.id)
        context = self._reply_context(ticket, comment, customer)
        override = self.settings.mail_template_dir
        mail_outbox.enqueue(
            conn,
            ticket_id=ticket.id,
            comment_id=comment.id,
            to_address=customer.email,
            subject=mail_outbox.reply_subject(ticket.id, ticket.subject),
            body=mail_templates.render("reply.txt", context, override),
            html=mail_templates.render("reply.html", context, override),
            domain=smtp.address.rsplit("@", 1)[-1],
            in_reply_to=in_reply_to,
            references=references,
            now=self._now(),
        )

    def _reply_context(
        self, ticket: Ticket, comment: Comment, customer: Customer
    ) -> dict[str, Any]:
        """What the reply templates may use: the reply's text, who wrote it, the ticket (its ID,
        subject, status, priority, type) and the customer's name."""
        return {
            "body": comment.body,
            "agent": comment.author,
            "team": self.settings.mail_team_name,
            "customer": {"name": customer.name},
            "ticket": {
                "id": ticket.id,
                "subject": ticket.subject,
                "status": ticket.status,
                "priority": ticket.priority,
                "type": ticket.type,
            },
        }

    def check_mail_templates(self) -> list[str]:
        """What is wrong with the admin's mail templates (empty: they all render)."""
        ticket = {"id": 1, "subject": "A question", "status": "open", "priority": "normal",
                  "type": "support", "assignee": "agent@example.org"}  # fmt: skip
        reply = {
            "body": "Thank you for writing.", "agent": "agent@example.org",
            "team": self.settings.mail_team_name, "customer": {"name": "Ana Lima"},
            "ticket": ticket,
        }  # fmt: skip
        notify = {"headline": "Assigned to you", "detail": "", "link": "",
                  "team": self.settings.mail_team_name, "ticket": ticket, "count": 1,
                  "tickets": [ticket]}  # fmt: skip
        return mail_templates.check(
            self.settings.mail_template_dir,
            {"reply.txt": reply, "reply.html": reply, "notify.txt": notify, "notify.html": notify},
        )

    # -- notifications -------------------------------------------------------------------------

    _HEADLINES: dict[str, str] = {  # noqa: RUF012 -- read only
        "new_ticket": "New ticket",
        "assigned": "Assigned to you",
        "customer_replied": "The customer replied",
        "sla_at_risk": "SLA at risk",
        "sla_breached": "SLA breached",
    }

    def _user_by_email(self, conn: Connection, email: str | None) -> User | None:
        if not email:
            return None
        try:
            return users.find_by_email(conn, email)
        except NotFoundError:
            return None

    def _notify(
        self,
        conn: Connection,
        event: str,
        ticket: Ticket,
        key: str,
        people: list[User],
        *,
        detail: str = "",
    ) -> None:
        """Queue ``event``'s notification for each of ``people`` who wants it, once per event
        (``key``), never to the one who caused it. Nothing without an SMTP server."""
        smtp = mail_accounts.smtp_account(conn)
        if smtp is None:
            return
        now = self._now()
        headline = self._HEADLINES[event]
        for person in people:
            if not self._wants(conn, person, event, key, now):
                continue
            self._queue_notification(
                conn,
                smtp.address,
                person,
                f"[#{ticket.id}] {headline}: {ticket.subject}",
                headline,
                detail,
                [ticket],
                1,
                now,
            )

    def _wants(self, conn: Connection, person: User, event: str, key: str, now: datetime) -> bool:
        """Whether ``person`` is to be told of ``event`` (``key``): active, not the one who
        caused it, wanting such mail, and not told already (which this records)."""
        if not person.active or person.email == self.actor or person.id == self.user_id:
            return False
        if not mail_notifications.enabled_for(conn, person.id)[event]:
            return False
        return mail_notifications.claim(conn, person.id, f"{event}:{key}", now)

    @staticmethod
    def _ticket_context(ticket: Ticket) -> dict[str, Any]:
        return {
            "id": ticket.id, "subject": ticket.subject, "status": ticket.status,
            "priority": ticket.priority, "type": ticket.type, "assignee": ticket.assignee,
        }  # fmt: skip

    def _notify_new_ticket(self, conn: Connection, ticket: Ticket) -> None:
        if mail_accounts.smtp_account(conn) is None:
            return
        # "New ticket in my team": the members of the ticket's team. A ticket with no team is
        # in nobody's team and everybody's queue: every agent hears of it.
        people = [u for u in users.list_users(conn) if u.role != "viewer"]
        if ticket.team is not None:
            members = {a.id for a in team_records.get(conn, ticket.team).members}
            people = [u for u in people if u.id in members]
        self._notify(conn, "new_ticket", ticket, str(ticket.id), people)

    def notify_sla(self) -> int:
        """Queue the SLA notifications (at risk, breached) of open assigned tickets, once per
        ticket, target and due time; the worker runs it with every mail pass. How many."""
        policy = self.sla_policy
        queued = 0
        with self._write() as conn:
            if mail_accounts.smtp_account(conn) is None:
                return 0
            from sqlalchemy import func, select

            before = conn.execute(
                select(func.count()).select_from(schema.notifications_sent)
            ).scalar_one()
            for state, event in (("at_risk", "sla_at_risk"), ("breached", "sla_breached")):
                after: str | None = None
                while True:
                    page = ticket_queue.list_tickets(
                        conn, TicketQuery(sla=state, limit=500, after=after), policy, self._now()
                    )
                    for ticket in page.items:
                        person = self._user_by_email(conn, ticket.assignee)
                        if person is None:
                            continue
                        for target in ("first_response", "resolution"):
                            t = getattr(ticket.sla, target)
                            if t.state != state or t.due_at is None:
                                continue
                            name = target.replace("_", " ")
                            self._notify(
                                conn, event, ticket,
                                f"{ticket.id}:{target}:{t.due_at.isoformat()}", [person],
                                detail=f"{name} due {t.due_at:%Y-%m-%d %H:%M} UTC",
                            )  # fmt: skip
                    after = page.next
                    if not after:
                        break
            queued = (
                conn.execute(
                    select(func.count()).select_from(schema.notifications_sent)
                ).scalar_one()
                - before
            )
        return int(queued)

    def notification_choices(self, user_id: int) -> dict[str, bool]:
        """Which notifications a user gets by email (themself or an admin)."""
        self._require_self_or_admin(user_id, "see the notifications of")
        with self._read() as conn:
            users.get(conn, user_id)
            return mail_notifications.enabled_for(conn, user_id)

    def set_notification_choices(self, user_id: int, choices: dict[str, bool]) -> dict[str, bool]:
        """Turn notifications on or off for a user (themself or an admin)."""
        unknown = sorted(set(choices) - set(mail_notifications.EVENTS))
        if unknown:
            raise ValidationError(
                f"events: unknown {', '.join(unknown)}; the events are "
                f"{', '.join(mail_notifications.EVENTS)}",
                field="events",
            )
        self._require_self_or_admin(user_id, "change the notifications of")
        with self._auth_write() as conn:  # a viewer may choose their own too
            users.get(conn, user_id)
            return mail_notifications.set_choices(conn, user_id, choices)

    def receive_mail(
        self, account: MailAccount, fetched: mail_transport.Fetched
    ) -> InboundMessage | None:
        """File one message read from a mailbox: a new ticket, a customer comment on the ticket
        it answers, or nothing (a machine's message, a flood, one read before). None when this
        (mailbox, UIDVALIDITY, UID) was read already.

        Everything happens in one transaction with the message's row, whose unique keys make
        a second reader fail instead of filing it twice."""
        parsed = mail_parsing.parse(fetched.raw, headers_only=not fetched.whole)
        if not fetched.whole:
            parsed.text = (
                f"(This message is {fetched.size:,} bytes, over the limit of "
                f"{self.settings.mail_max_message_bytes:,}: only its header was read. It stays "
                f"in the mailbox {account.name}.)"
            )
        policy = self.sla_policy
        now = self._now()
        actor = f"mail:{account.name}"
        with self._write() as conn:
            if mail_inbound.is_known(conn, account.name, fetched.uidvalidity, fetched.uid):
                return None
            seen = parsed.message_id is not None and mail_inbound.message_known(
                conn, parsed.message_id
            )
            row = mail_inbound.claim(
                conn,
                account.name,
                fetched.uidvalidity,
                fetched.uid,
                parsed,
                fetched.raw,
                fetched.size,
                now,
                keep_message_id=not seen,
            )
            outcome, reason, ticket_id, comment_id = self._file_mail(
                conn, account, parsed, seen, policy, now, actor
            )
            mail_inbound.finish(
                conn, row, outcome, reason, ticket_id=ticket_id, comment_id=comment_id
            )
            if ticket_id is not None and fetched.whole and parsed.attachments:
                self._keep_attachments(conn, fetched.raw, ticket_id, comment_id, row, now)
            return mail_inbound.get(conn, row)

    def _file_mail(
        self,
        conn: Connection,
        account: MailAccount,
        parsed: ParsedMail,
        seen: bool,
        policy: sla.SlaPolicy,
        now: datetime,
        actor: str,
    ) -> tuple[str, str, int | None, int | None]:
        """What becomes of a message: (outcome, reason, ticket, comment)."""
        if seen:
            return "duplicate", "a message with this Message-ID was read before", None, None
        reason = parsed.automatic
        if reason is None and parsed.sender in self._our_addresses(conn):
            reason = f"from our own address {parsed.sender}"
        if reason is not None or parsed.sender is None:
            return "ignored", reason or "no sender address", None, None
        sender = parsed.sender
        hour = now - timedelta(hours=1)
        limit = self.settings.mail_sender_hourly_limit
        if mail_inbound.recent_count(conn, sender, hour) >= limit:
            return (
                "rate_limited",
                f"{sender} sent more than {limit} messages in an hour",
                None,
                None,
            )
        body = mail_quotes.trim_quoted(parsed.text) or "(no text)"
        if parsed.attachments:
            body += "\n\n" + self._attachment_note(parsed)
        body = body[:99_000]
        ticket_id = mail_inbound.thread_ticket(conn, parsed.in_reply_to + parsed.references)
        if ticket_id is None:
            token = mail_quotes.subject_token(parsed.subject)
            # A token alone is trusted only from the ticket's own customer.
            if token is not None and self._ticket_customer_email(conn, token) == sender:
                ticket_id = token
        note = ""
        if ticket_id is not None:
            try:
                current: Ticket | None = tickets.get(conn, ticket_id, policy, now, detail=False)
            except NotFoundError:
                current, note = None, f"(A reply to ticket #{ticket_id}, which is gone.)\n\n"
            if current is not None and current.status == "closed":
                current, note = None, f"(A reply to closed ticket #{ticket_id}.)\n\n"
            if current is not None:
                author = parsed.sender_name or sender
                comment, _ = tickets.add_comment(
                    conn,
                    ticket_id,
                    CommentCreate(body=body, by_customer=True, author=author[:200]),
                    policy,
                    now,
                    actor=actor,
                )
                person = self._user_by_email(conn, current.assignee)
                if person is not None:
                    self._notify(
                        conn, "customer_replied", current, str(comment.id), [person],
                        detail=body[:2000],
                    )  # fmt: skip
                if current.status == "resolved":
                    tickets.set_status(
                        conn, ticket_id, "open", policy, now, actor=actor,
                        note="the customer replied by email",
                    )  # fmt: skip
                return "comment", "", ticket_id, comment.id
        customer = customers.find_by_email(conn, sender) or self._mail_customer(
            conn, sender, parsed.sender_name, actor
        )
        if customer is None:
            return "ignored", f"the sender address {sender!r} is not valid", None, None
        if customer.in_trash:
            return "ignored", f"the sender's customer {customer.id} is in the trash", None, None
        # The mailbox's type, and that type's team (its round-robin agent), as any new ticket.
        ticket = self._open(
            conn,
            TicketCreate(
                customer_id=customer.id,
                type=account.default_type or "",
                subject=mail_quotes.ticket_subject(parsed.subject),
                description=(note + body)[:100_000],
            ),
            policy,
            now,
            actor,
        )
        return "ticket", "", ticket.id, None

    def _attachment_kept(self, index: int, size: int) -> bool:
        return (
            index < self.settings.mail_max_attachments
            and size <= self.settings.mail_max_attachment_bytes
        )

    def _attachment_note(self, parsed: ParsedMail) -> str:
        """The attachments named on the comment, saying which were not kept and why."""
        names = []
        for index, a in enumerate(parsed.attachments[:20]):
            kept = self._attachment_kept(index, a.size)
            names.append(f"{a.filename} ({a.size:,} bytes{'' if kept else ', not kept'})")
        more = len(parsed.attachments) - 20
        dropped = sum(
            1 for i, a in enumerate(parsed.attachments) if not self._attachment_kept(i, a.size)
        )
        note = f"[attachments: {', '.join(names)}{f' and {more} more' if more > 0 else ''}]"
        if dropped:
            note += (
                f"\n[{dropped} not kept: over {self.settings.mail_max_attachments} files or "
                f"{self.settings.mail_max_attachment_bytes:,} bytes each; the message stays in "
                "the mailbox]"
            )
        return note

    def _keep_attachments(
        self,
        conn: Connection,
        raw: bytes,
        ticket_id: int,
        comment_id: int | None,
        inbound_id: int,
        now: datetime,
    ) -> None:
        store = mail_files.FileStore(self.settings.resolved_attachment_dir())
        for index, (meta, content) in enumerate(mail_parsing.attachment_parts(raw)):
            if not self._attachment_kept(index, meta.size):
                continue
            mail_files.add(
                conn,
                ticket_id=ticket_id,
                comment_id=comment_id,
                inbound_id=inbound_id,
                sha256=store.put(content),
                size=meta.size,
                filename=meta.filename,
                content_type=meta.content_type,
                now=now,
            )

    def list_attachments(self, ticket_id: int) -> list[mail_files.StoredAttachment]:
        """The files kept with a ticket, oldest first."""
        policy = self.sla_policy
        with self._read() as conn:
            tickets.get(conn, ticket_id, policy, self._now(), detail=False)  # 404 if none
            return mail_files.list_for_ticket(conn, ticket_id)

    def open_attachment(
        self, ticket_id: int, attachment_id: int
    ) -> tuple[mail_files.StoredAttachment, Path]:
        """One of a ticket's files and where its bytes are (for a download)."""
        policy = self.sla_policy
        with self._read() as conn:
            tickets.get(conn, ticket_id, policy, self._now(), detail=False)
            found = mail_files.get(conn, ticket_id, attachment_id)
        path = mail_files.FileStore(self.settings.resolved_attachment_dir()).path(found.sha256)
        if not path.is_file():
            raise NotFoundError(
                f"the file of attachment {attachment_id} is missing from the store",
                code="attachment_missing",
            )
        return found, path

    @staticmethod
    def _ticket_customer_email(conn: Connection, ticket_id: int) -> str | None:
        from sqlalchemy import select

        row = conn.execute(
            select(schema.customers.c.email_key)
            .join(schema.tickets, schema.tickets.c.customer_id == schema.customers.c.id)
            .where(schema.tickets.c.id == ticket_id)
        ).first()
        return None if row is None else row.email_key

    def _mail_customer(
        self, conn: Connection, address: str, name: str, actor: str
    ) -> Customer | None:
        """A new customer for an unknown sender: through the duplicate check on entry (kept
        with a warning naming look-alikes), and flagged for someone to check."""
        try:
            customers.clean_email(address)
        except ValidationError:
            return None
        created = None
        for candidate in (name, address.split("@")[0], address):
            try:
                created = customers.create(
                    conn,
                    CustomerCreate(name=candidate or address, email=address),
                    actor=actor,
                    region=self.region,
                )
                break
            except ValidationError as exc:
                if exc.field != "name":
                    return None
        if created is None:
            return None
        dedupe.index_customers(conn, [created], fresh=True)
        merging.refresh_duplicate_warnings(conn, created.id, allow=True)
        return customers.add_warning(
            conn,
            created.id,
            RecordWarning(
                field="email",
                code="from_unknown_sender",
                message="created from an email by an unknown sender: check the name and "
                "whether it is someone we know",
            ),
        )

    def _last_uid(self, mailbox: str, uidvalidity: int) -> int:
        with self._read() as conn:
            return mail_inbound.last_uid(conn, mailbox, uidvalidity)

    def fetch_mail(self, mailbox: str | None = None) -> FetchReport:
        """Read the new messages of every active mailbox (or the one named) into tickets and
        comments. A server that fails is reported and the others are still read; what was
        filed before a failure stays filed, and the next fetch goes on from there."""
        self._require("write")
        with self._read() as conn:
            boxes = [
                a
                for a in mail_accounts.list_accounts(conn, "imap")
                if (a.active and mailbox is None) or a.name == mailbox
            ]
        if mailbox is not None and not boxes:
            raise NotFoundError(f"no mailbox named {mailbox!r}", code="mail_account_not_found")
        report = FetchReport()
        for account in boxes:
            try:
                self._fetch_one(account, report)
            except (MailServerError, ConfigError) as exc:
                report.errors.append(str(exc))
        return report

    def _fetch_one(self, account: MailAccount, report: FetchReport) -> None:
        password = self.mail_password(account)
        with mail_transport.imap_session(account, password) as box:
            for fetched in mail_transport.read_new(
                box,
                account,
                lambda validity: self._last_uid(account.name, validity),
                max_bytes=self.settings.mail_max_message_bytes,
                limit=self.settings.mail_fetch_batch,
            ):
                try:
                    try:
                        filed = self.receive_mail(account, fetched)
                    except ConflictError:
                        # Another fetch filed it (or its sender) at the same moment: once
                        # more, and the unique keys say what is there now.
                        filed = self.receive_mail(account, fetched)
                except CustomerFlowError as exc:
                    # Never skip a message: the next fetch starts from the highest UID
                    # filed, so this mailbox stops here until the message can be filed.
                    report.errors.append(
                        f"{account.name}: message UID {fetched.uid} could not be filed ({exc}); "
                        "the mailbox waits until it can"
                    )
                    break
                if filed is None:
                    report.duplicates += 1
                    continue
                report.read += 1
                if filed.outcome == "ticket" and filed.ticket_id is not None:
                    report.tickets.append(filed.ticket_id)
                elif filed.outcome == "comment" and filed.comment_id is not None:
                    report.comments.append(filed.comment_id)
                elif filed.outcome == "rate_limited":
                    if filed.sender and filed.sender not in report.rate_limited:
                        report.rate_limited.append(filed.sender)
                elif filed.outcome == "duplicate":
                    report.duplicates += 1
                else:
                    report.ignored += 1

    def send_mail(self, *, limit: int = 100) -> SendReport:
        """Send what the outbox holds that is due: a 4xx answer or a connection lost before the
        message was handed over is tried again later (1, 2, 4, ... minutes), a 5xx answer or
        the last attempt fails the message and says so on its ticket as an internal note.

        At most once: each message is marked ``sending`` (committed) in an open, logged-in
        SMTP session, just before it goes out. One whose worker died there, or whose
        connection was lost after it was handed over, may have been sent: it becomes
        ``uncertain``, says so on its ticket, and waits for someone to ``retry_mail`` it."""
        report = SendReport()
        self._require("write")
        with self._write() as conn:
            for stale in mail_outbox.expire_leases(conn, self._now()):
                self._mail_note(conn, stale, "may have been sent", stale.last_error or "")
                report.uncertain.append(stale.id)
                report.errors.append(
                    f"message {stale.id} (ticket #{stale.ticket_id}): {stale.last_error}"
                )
            smtp = mail_accounts.smtp_account(conn)
        if smtp is None:
            report.configured = False
            report.errors.append("no SMTP server is set: customer-flow mail set-smtp")
            return report
        try:
            password = self.mail_password(smtp)
        except ConfigError as exc:
            report.errors.append(str(exc))
            return report
        left = limit
        while left > 0:
            with self._read() as conn:
                due = mail_outbox.next_due(conn, self._now())
            if due is None:
                break
            try:
                # The server's trouble (no connection, the login refused) comes before any
                # message is taken: they all wait, their attempts uncounted.
                with mail_transport.smtp_session(smtp, password) as send:
                    # One session for the messages due, while each goes well: after any
                    # trouble (the server may have closed it) the next gets a new session.
                    for _ in range(min(left, mail_outbox.SESSION_MESSAGES)):
                        left -= 1
                        if not self._send_one(send, smtp, due, report) or left == 0:
                            break
                        with self._read() as conn:
                            found = mail_outbox.next_due(conn, self._now())
                        if found is None:
                            left = 0
                            break
                        due = found
            except MailServerError as exc:
                report.errors.append(str(exc))
                break
        return report

    def _send_one(
        self,
        send: Callable[[Any], None],
        smtp: MailAccount,
        due: OutgoingMail,
        report: SendReport,
    ) -> bool:
        """Take ``due`` (unless another worker did) and send it in the open session. Whether
        the session may carry the next message: not after an error sending this one."""
        now = self._now()
        problem = None
        try:
            message = mail_outbox.compose(due, smtp.address, self.settings.mail_team_name, now)
            if due.kind == "reply" and due.comment_id is not None:
                self._attach_files(message, due)
        except (OSError, ValueError) as exc:  # a file gone from the store, a bad header
            problem = MailServerError(
                f"the message could not be put together: {exc}", temporary=False
            )
        with self._write() as conn:
            mail = mail_outbox.claim(conn, due.id, now)
        if mail is None:
            return True
        if problem is not None:
            # Failed, with a note, rather than left pending in front of the others for ever.
            self._send_failed(mail, problem, report)
            return True
        try:
            send(message)
        except MailServerError as exc:
            if exc.code == "mail_uncertain":
                with self._write() as conn:
                    mail_outbox.mark_uncertain(conn, mail.id, str(exc))
                    self._mail_note(conn, mail, "may have been sent", str(exc))
                report.uncertain.append(mail.id)
                report.errors.append(f"message {mail.id} (ticket #{mail.ticket_id}): {exc}")
                return False
            self._send_failed(mail, exc, report)
            return False
        with self._write() as conn:
            mail_outbox.mark_sent(conn, mail.id, self._now())
        report.sent.append(mail.id)
        return True

    def retry_mail(self, mail_id: int) -> OutgoingMail:
        """Send again a message that may have been sent (``uncertain``) or that failed: it is
        due at once, with a fresh count of attempts. The person asking accepts that an
        uncertain one may reach its reader twice."""
        with self._write() as conn:
            mail = mail_outbox.retry(conn, mail_id, self._now())
            audit.record(
                conn,
                actor=self.actor,
                action="update",
                entity="mail_outbox",
                entity_id=str(mail_id),
                before=None,
                after={"status": "pending", "retried": True},
                at=self._now(),
            )
            return mail

    def _attach_files(self, message: Any, mail: OutgoingMail) -> None:
        """Put the reply's files on its message (read from the store one at a time)."""
        store = mail_files.FileStore(self.settings.resolved_attachment_dir())
        with self._read() as conn:
            kept = mail_files.list_for_comment(conn, mail.comment_id or 0)
        for a in kept:
            maintype, _, subtype = a.content_type.partition("/")
            data = store.path(a.sha256).read_bytes()
            params = {}
            if maintype == "text":  # name the charset, else readers take it for ASCII
                with suppress(UnicodeDecodeError):
                    data.decode("utf-8")
                    params["charset"] = "utf-8"
            message.add_attachment(
                data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=a.filename,
                params=params,
            )

    def _send_failed(self, mail: OutgoingMail, exc: MailServerError, report: SendReport) -> None:
        report.errors.append(f"message {mail.id} (ticket #{mail.ticket_id}): {exc}")
        now = self._now()
        with self._write() as conn:
            if exc.temporary and mail.attempts < self.settings.mail_send_attempts:
                mail_outbox.mark_retry(conn, mail, str(exc), now)
                report.retrying.append(mail.id)
                return
            mail_outbox.mark_failed(conn, mail.id, str(exc))
            report.failed.append(mail.id)
            self._mail_note(conn, mail, "could not be sent", str(exc))

    def _mail_note(self, conn: Connection, mail: OutgoingMail, what: str, why: str) -> None:
        """Say on a message's ticket, as an internal note, that it failed or may have been
        sent, and how to send it again."""
        tries = f"after {mail.attempts} attempt{'s' if mail.attempts != 1 else ''}"
        body = f"The email to {mail.to_address} {what} ({tries}): {why}"
        if what == "may have been sent":
            body += (
                ". It is not sent again by itself: check whether it arrived, then send it "
                f"again if need be (`customer-flow mail retry {mail.id}`, or Retry on the mail "
                "settings page)."
            )
        else:
            body += f". To send it again: `customer-flow mail retry {mail.id}`."
        # A purged ticket takes no note: the outbox row keeps the failure.
        with suppress(NotFoundError):
            tickets.add_comment(
                conn,
                mail.ticket_id,
                CommentCreate(body=body[:99_000], public=False),
                self.sla_policy,
                self._now(),
                actor="mail",
            )

    def list_inbound_mail(
        self, *, limit: int = 100, outcome: str | None = None
    ) -> list[InboundMessage]:
        """The messages read, newest first, with what became of each."""
        with self._read() as conn:
            return mail_inbound.list_inbound(conn, limit=limit, outcome=outcome)

    def list_outbox(
        self,
        *,
        ticket_id: int | None = None,
        statuses: tuple[str, ...] | None = None,
        limit: int = 100,
    ) -> list[OutgoingMail]:
        """The messages to send and sent, newest first; a ticket's with ``ticket_id``, those of
        some statuses with ``statuses`` (``("uncertain", "failed")``: the ones to look at)."""
        with self._read() as conn:
            return mail_outbox.list_outbox(
                conn, ticket_id=ticket_id, statuses=statuses, limit=limit
            )

    def test_mail(self) -> list[MailCheck]:
        """Log in to every mail server (IMAP: open the folder; SMTP: log in, send nothing)
        and say, for each, what failed."""
        checks = []
        for account in self.list_mail_accounts():
            try:
                password = self.mail_password(account)
                if account.kind == "imap":
                    with mail_transport.imap_session(account, password) as box:
                        status = box.folder.status(account.folder, ["MESSAGES"])
                    message = f"logged in; {account.folder} holds {status['MESSAGES']} messages"
                else:
                    mail_transport.smtp_check(account, password)
                    message = "logged in; ready to send"
                checks.append(MailCheck(account.name, account.kind, True, message))
            except (MailServerError, ConfigError) as exc:
                checks.append(MailCheck(account.name, account.kind, False, str(exc)))
        return checks

    def test_mail_settings(self) -> list[MailCheck]:
        """``test_mail`` and then the admin's mail templates (``check_mail_templates``), as one
        list: what ``customer-flow mail test`` and the mail settings page's Test button say."""
        checks = self.test_mail()
        problems = self.check_mail_templates()
        message = "; ".join(problems) or "they all render"
        return [*checks, MailCheck("templates", "templates", not problems, message)]

    # -- background jobs (issue 18) ------------------------------------------------------------

    def record_job_failure(self, job: str, error: str, attempts: int) -> JobFailure:
        """Keep a job the worker gave up on (after its retries) for admins to see."""
        with self._write() as conn:
            return job_failures.record(conn, job, error, attempts, self._now())

    def list_job_failures(self, *, limit: int = 100) -> list[JobFailure]:
        """The jobs that failed for good, newest first (admins)."""
        self._require("admin")
        with self._read() as conn:
            return job_failures.list_failures(conn, limit=limit)


def _check_default_teams(conn: Connection, wanted: dict[str, TicketType], source: str) -> None:
    """A type's default team must exist before the file that names it is loaded."""
    known = {t.key for t in team_records.list_teams(conn)}
    for key, ttype in wanted.items():
        if ttype.default_team is not None and ttype.default_team not in known:
            raise ConfigError(
                f"{source}: $.{key}.default_team: no team {ttype.default_team!r}; add it first "
                f"(`teams add {ttype.default_team}`)",
                code="team_unknown",
            )


class _RollBack(Exception):
    """Raised inside a write transaction to roll it back on purpose (a dry run)."""
