"""Attachments: a content-addressed store on disk (SHA-256, each file once) and their rows.

A file is written to a temporary name and renamed into place, so a reader never sees half a
file; the same bytes arriving twice are stored once. A file whose row never committed (a
fetch rolled back after writing it) is harmless: it is only reachable through a row.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from pydantic import BaseModel
from sqlalchemy import Connection, select

from customer_flow.core.errors import NotFoundError
from customer_flow.store.schema import attachments

__all__ = ["FileStore", "NewFile", "StoredAttachment", "add", "forget_ticket", "get",
           "list_for_comment", "list_for_ticket"]  # fmt: skip


@dataclass(frozen=True)
class NewFile:
    """A file an agent attaches: its name, type and announced size, and its bytes (or a binary
    file to read them from, so that a large upload is checked before it is read)."""

    name: str
    content_type: str
    size: int
    source: bytes | IO[bytes]


class StoredAttachment(BaseModel):
    """A file kept with a ticket."""

    id: int
    ticket_id: int
    comment_id: int | None
    sha256: str
    size: int
    filename: str
    content_type: str
    created_at: datetime


class FileStore:
    """Files under ``root``, named by their SHA-256 (``ab/cd/abcd...``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Keep ``data``; its SHA-256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_stream(self, source: IO[bytes], limit: int) -> tuple[str, int]:
        """Keep what ``source`` holds, read in blocks (never whole in memory); its SHA-256 and
        size. ``OverflowError`` past ``limit`` bytes, and nothing is kept."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".part-")
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as handle:
                while block := source.read(1 << 20):
                    size += len(block)
                    if size > limit:
                        raise OverflowError(size)
                    digest.update(block)
                    handle.write(block)
            os.chmod(tmp, 0o600)
            target = self.path(digest.hexdigest())
            if target.exists():
                Path(tmp).unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest.hexdigest(), size


def add(
    conn: Connection,
    *,
    ticket_id: int,
    comment_id: int | None,
    inbound_id: int | None,
    sha256: str,
    size: int,
    filename: str,
    content_type: str,
    now: datetime,
) -> None:
    conn.execute(
        attachments.insert().values(
            ticket_id=ticket_id,
            comment_id=comment_id,
            inbound_id=inbound_id,
            sha256=sha256,
            size=size,
            filename=filename[:255],
            content_type=content_type[:100],
            created_at=now,
        )
    )


def forget_ticket(conn: Connection, ticket_id: int) -> None:
    """Drop a purged ticket's rows; the files stay (another ticket may hold the same bytes)."""
    conn.execute(attachments.delete().where(attachments.c.ticket_id == ticket_id))


def list_for_ticket(conn: Connection, ticket_id: int) -> list[StoredAttachment]:
    rows = conn.execute(
        select(attachments).where(attachments.c.ticket_id == ticket_id).order_by(attachments.c.id)
    )
    return [StoredAttachment.model_validate(dict(r._mapping)) for r in rows]


def list_for_comment(conn: Connection, comment_id: int) -> list[StoredAttachment]:
    rows = conn.execute(
        select(attachments)
        .where(attachments.c.comment_id == comment_id, attachments.c.inbound_id.is_(None))
        .order_by(attachments.c.id)
    )
    return [StoredAttachment.model_validate(dict(r._mapping)) for r in rows]


def get(conn: Connection, ticket_id: int, attachment_id: int) -> StoredAttachment:
    row = conn.execute(
        select(attachments).where(
            attachments.c.id == attachment_id, attachments.c.ticket_id == ticket_id
        )
    ).first()
    if row is None:
        raise NotFoundError(
            f"ticket {ticket_id} has no attachment {attachment_id}", code="attachment_not_found"
        )
    return StoredAttachment.model_validate(dict(row._mapping))
