"""The schema comparison the migration tests share."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from customer_flow.customers import search
from customer_flow.store.schema import metadata


def schema_diff(conn: Connection) -> list[Any]:
    """What differs between the migrated database and ``schema.metadata``, leaving out the
    search index (migration 0008), which differs per database and is not in ``metadata``:
    ``tests/test_search.py`` checks it."""

    def include(name: str | None, _type: str, _parents: dict[str, str | None]) -> bool:
        return not search.in_search_index(name)

    context = MigrationContext.configure(conn, opts={"include_name": include})
    return list(compare_metadata(context, metadata))
