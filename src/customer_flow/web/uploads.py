"""The web app's uploads: the staging folder for imports (``data.staging``, the files, and
``root``, where it is), and the files attached to a reply (``attached``).

``root`` is ``app.state.import_dir`` when set (tests), else the ``import_dir`` setting, else a
folder in the user data folder keyed by the database URL. It must be shared by every app server
and worker (see ``data/staging.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request, UploadFile

from customer_flow.data.staging import (
    ALLOWED_SUFFIXES,
    PREVIEW_TTL,
    Staged,
    batch_rejects,
    batch_report,
    discard,
    find,
    import_options,
    keep_batch,
    public,
    safe_name,
    scrubbed,
    stage,
)
from customer_flow.mail.files import NewFile

__all__ = [
    "ALLOWED_SUFFIXES",
    "PREVIEW_TTL",
    "Staged",
    "attached",
    "batch_rejects",
    "batch_report",
    "discard",
    "find",
    "import_options",
    "keep_batch",
    "public",
    "root",
    "root_of",
    "safe_name",
    "scrubbed",
    "stage",
]


def root(request: Request) -> Path:
    """The folder that holds staged uploads and kept rejects files."""
    return root_of(request.app)


def root_of(app: FastAPI) -> Path:
    """``root`` for an app rather than a request."""
    state = app.state
    found = getattr(state, "import_dir", None)
    if found is None:
        found = state.hub.settings.resolved_import_dir()
        state.import_dir = found
    return Path(found)


def attached(files: list[UploadFile] | None) -> list[NewFile]:
    """The files of a reply form or request, to be read as they are kept (an empty file input
    sends one part with no name: left out)."""
    return [
        NewFile(
            name=f.filename or "attachment",
            content_type=f.content_type or "application/octet-stream",
            size=f.size if f.size is not None else 0,
            source=f.file,
        )
        for f in files or []
        if f.filename or f.size
    ]
