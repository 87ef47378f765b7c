"""The web app's staging folder for imports: ``data.staging`` (the files) and where it is.

``root`` is ``app.state.import_dir`` when set (tests), else the ``import_dir`` setting, else a
folder in the user data folder keyed by the database URL. It must be shared by every app server
and worker (see ``data/staging.py``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request

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

__all__ = [
    "ALLOWED_SUFFIXES",
    "PREVIEW_TTL",
    "Staged",
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
