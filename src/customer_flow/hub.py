"""The Hub: the application layer. One ``Hub`` per database, one method per use case.

The CLI, the REST API and the web pages are thin doors to these methods. A Hub method owns the
transaction, checks the actor's permission, calls the domain modules (``customers``,
``ticket_types``, ``data``, ...) and lets them write the audit entry on the same connection.

    with Hub.open("sqlite:///team.db", actor="ana") as hub:
        customer = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from . import audit, customers, data, exports, imports, ticket_types
from .config import Settings
from .errors import ConflictError, PermissionDeniedError
from .exports import ExportReport
from .imports import ImportBatch, ImportOptions, ImportReport
from .models import (
    AuditEntry,
    Customer,
    CustomerCreate,
    CustomerQuery,
    CustomerUpdate,
    Page,
    TicketType,
    TicketTypeSync,
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
    ) -> None:
        self.settings = settings or Settings()
        self.store = store or Store(self.settings.resolved_database_url())
        self.actor = actor or self.settings.actor
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        self.role = role

    @classmethod
    def open(cls, url: str | None = None, *, actor: str | None = None, **settings: Any) -> Hub:
        """Open the database at ``url`` (or the configured default), migrating it if needed."""
        if url is not None:
            settings["database_url"] = url
        return cls(Settings(**settings), actor=actor)

    def as_actor(self, actor: str, role: str = "admin") -> Hub:
        """The same database, acting as someone else (the web app does this per request)."""
        return Hub(self.settings, store=self.store, actor=actor, role=role)

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

    # -- imports and exports (issue 3) ---------------------------------------------------------

    def import_file(
        self,
        path: Path,
        options: ImportOptions | None = None,
        *,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import a customer file in one transaction, recorded as a batch (``imports list``).

        With ``dry_run`` the very same import runs and is rolled back: the report says what
        would be created, updated and rejected, and nothing is written."""
        options = options or ImportOptions()
        outcome: list[ImportReport] = []
        try:
            with self._write() as conn:
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
                audit.record(
                    conn,
                    actor=self.actor,
                    action="import",
                    entity=imports.ENTITY,
                    entity_id=report.batch_id,
                    before=None,
                    after=report.model_dump(mode="json", exclude={"rejects", "outcomes"}),
                )
                return report
        except _RollBack:
            return outcome[0]

    def preview_import(self, path: Path, options: ImportOptions | None = None) -> ImportReport:
        """What importing ``path`` would do (a dry run)."""
        return self.import_file(path, options, dry_run=True)

    def validate_file(self, path: Path, options: ImportOptions | None = None) -> ImportReport:
        """The data-quality report of a file, without the database: per-rule cleaning counts,
        error and warning counts, and the first failing rows. ``imported`` counts valid rows."""
        self._require("read")
        options = options or ImportOptions()
        with self.store.engine.connect() as conn:
            return imports.run_import(
                conn, Path(path), options, actor=self.actor, region=self.region, load=False
            )

    def list_imports(self, *, limit: int = 100) -> list[ImportBatch]:
        """Past imports, the most recent first."""
        with self._read() as conn:
            return imports.list_batches(conn, limit=limit)

    def get_import(self, batch_id: int) -> ImportBatch:
        with self._read() as conn:
            return imports.get_batch(conn, batch_id)

    def revert_import(self, batch_id: int) -> ImportBatch:
        """Undo an import exactly: its new customers go, its updated ones get their old values."""
        with self._write() as conn:
            before = imports.get_batch(conn, batch_id)
            batch = imports.revert(conn, batch_id, actor=self.actor)
            audit.record(
                conn,
                actor=self.actor,
                action="revert",
                entity=imports.ENTITY,
                entity_id=batch_id,
                before=before.model_dump(mode="json"),
                after=batch.model_dump(mode="json"),
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


class _RollBack(Exception):
    """Raised inside a write transaction to roll it back on purpose (a dry run)."""
