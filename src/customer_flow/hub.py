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
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from . import customers, data, dedupe, merging, ticket_types
from .config import Settings
from .errors import ConflictError, PermissionDeniedError
from .models import (
    AuditEntry,
    Customer,
    CustomerCreate,
    CustomerQuery,
    CustomerUpdate,
    DuplicateCandidate,
    DuplicateReport,
    Merge,
    MergeResult,
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
            dedupe.index_customers(conn, [created])
            return merging.refresh_duplicate_warnings(conn, created.id, allow=allow_duplicate)

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
            if all(getattr(before, f) == getattr(after, f) for f in merging.MERGE_FIELDS):
                return after
            dedupe.index_customers(conn, [after])
            return merging.refresh_duplicate_warnings(conn, customer_id, allow=allow_duplicate)

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
            return ticket_types.sync(conn, wanted, actor=self.actor)

    # -- duplicates (dedupe.py, merging.py) ------------------------------------------------------

    def check_duplicates(
        self, name: str | None, email: str | None = None, phone: str | None = None
    ) -> list[DuplicateCandidate]:
        """The live customers a customer with these values would look like, and why."""
        with self._read() as conn:
            email_clean = customers.clean_email(email)[0] if email else None
            phone_clean = customers.clean_phone(phone, self.region)[0] if phone else None
            return dedupe.entry_candidates(conn, name, email_clean, phone_clean)

    def find_duplicates(
        self,
        *,
        threshold: float | None = None,
        fields: list[str] | None = None,
        train: bool | None = None,
    ) -> DuplicateReport:
        """Likely duplicates over all live customers, as clusters with a score and the evidence
        per field (Splink). Pairs marked "not a duplicate" are left out."""
        params = dedupe.load_params()
        chosen = float(params["default_threshold"]) if threshold is None else threshold
        wanted = dedupe.check_fields(fields or [])
        with self._read() as conn:
            columns = dedupe.read_live(conn, wanted)
            dismissed = dedupe.all_dismissed(conn)
        return dedupe.find(
            columns,
            threshold=chosen,
            fields=wanted,
            dismissed=dismissed,
            train=train,
            params=params,
        )

    def export_duplicates_model(
        self, out_dir: Path, *, fields: list[str] | None = None, dialect: str = "spark"
    ) -> tuple[Path, Path]:
        """Write the live customers as the model's input (Parquet) and the Splink settings for
        ``dialect``, to run the same model on Spark past one machine (docs/duplicates.md)."""
        from . import dedupe_model

        wanted = dedupe.check_fields(fields or [])
        with self._read() as conn:
            columns = dedupe.read_live(conn, wanted)
        return dedupe_model.export(
            columns, fields=wanted, params=dedupe.load_params(), out_dir=out_dir, dialect=dialect
        )

    def merge_customers(
        self, keep_id: int, other_ids: list[int], *, take: dict[str, int] | None = None
    ) -> MergeResult:
        """Merge ``other_ids`` into ``keep_id`` (see ``merging.merge``); undone by
        ``unmerge_customers``."""
        with self._write() as conn:
            return merging.merge(conn, keep_id, other_ids, take=take, actor=self.actor)

    def unmerge_customers(self, merge_id: int) -> MergeResult:
        """Undo merge ``merge_id`` exactly; refused if one of its records changed since."""
        with self._write() as conn:
            return merging.unmerge(conn, merge_id, actor=self.actor)

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
