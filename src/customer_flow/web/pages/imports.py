"""``/imports``: upload a customer file → preview (counts, cleaning counts, per-row problems)
→ Import → the result with its rejects file to download; and the list of past imports, each
with a Revert button.

Every form is a plain POST (multipart for the upload) protected by the session's CSRF token, so
the flow works without JavaScript. The upload is staged on disk by ``web.uploads`` between the
preview and the import; each database step is one Hub call.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from customer_flow.core.errors import (
    CustomerFlowError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)

from .. import uploads
from ..deps import Auth
from .common import PageAuth, can, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
BatchId = Annotated[int, Path(ge=1, le=2**53)]
CSV = "text/csv; charset=utf-8"


def _writer(auth: Auth) -> None:
    if not can(auth, "write"):
        raise PermissionDeniedError(
            f"{auth.user.email} ({auth.user.role}) may not import or revert", code="forbidden"
        )


def _options(form: Any) -> dict[str, Any]:
    """The form's import options, as entered (to re-fill the form and carry to the import)."""
    return {
        "on_conflict": str(form.get("on_conflict") or "skip"),
        "mapping": str(form.get("mapping") or ""),
        "ignore_unknown": bool(form.get("ignore_unknown")),
        "reject_duplicates": bool(form.get("reject_duplicates")),
        "max_errors": str(form.get("max_errors") or "").strip(),
    }


def _max_errors(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 15:
        raise ValidationError("max errors: give a whole number", field="max_errors")
    return int(value)


def _upload_page(
    request: Request,
    auth: Auth,
    *,
    options: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    batches = auth.hub.list_imports(limit=50)
    context = {
        "batches": batches,
        "options": options or _options({}),
        "error": error,
        "accept": ",".join(uploads.ALLOWED_SUFFIXES),
        "limit_mb": max(1, request.app.state.hub.settings.max_upload_bytes // (1024 * 1024)),
    }
    return render(request, "imports/index.html", context, auth=auth, status_code=status_code)


async def _failed(
    request: Request, auth: Auth, options: dict[str, Any], message: str, status_code: int
) -> Response:
    """The upload page again, with the options as entered and the message above the form."""
    return await run_in_threadpool(
        partial(
            _upload_page, request, auth, options=options, error=message, status_code=status_code
        )
    )


@router.get("/imports")
def imports_page(request: Request, auth: PageAuth) -> Response:
    return _upload_page(request, auth)


@router.post("/imports/preview")
async def preview(request: Request, auth: PageAuth) -> Response:
    _writer(auth)
    form = await request.form()
    check_form_csrf(auth, form)
    options = _options(form)
    file = form.get("file")
    base = uploads.root(request)
    try:
        if not isinstance(file, UploadFile):
            raise ValidationError("choose a file to upload", field="file")
        staged = await run_in_threadpool(
            uploads.stage, base, file.file, file.filename, auth.user.id
        )
    except CustomerFlowError as exc:
        return await _failed(request, auth, options, exc.message, exc.http_status)
    try:
        opts = uploads.import_options(
            on_conflict=options["on_conflict"],
            mapping=[options["mapping"]],
            ignore_unknown=options["ignore_unknown"],
            rejects_path=staged.preview_rejects,
            reject_duplicates=options["reject_duplicates"],
            max_rows=auth.hub.settings.web_import_max_rows,
        )
        report = await run_in_threadpool(auth.hub.preview_import, staged.path, opts)
    except CustomerFlowError as exc:
        uploads.discard(staged)
        return await _failed(request, auth, options, exc.message, exc.http_status)
    context = {
        "report": uploads.public(report, staged),
        "upload": staged.token,
        "options": options,
        "has_rejects": staged.preview_rejects.exists(),
    }
    return render(request, "imports/preview.html", context, auth=auth)


@router.post("/imports/commit")
async def commit(request: Request, auth: PageAuth) -> Response:
    _writer(auth)
    form = await request.form()
    check_form_csrf(auth, form)
    options = _options(form)
    base = uploads.root(request)
    try:
        staged = uploads.find(base, str(form.get("upload") or ""), auth.user.id)
    except CustomerFlowError as exc:
        return await _failed(request, auth, options, exc.message, exc.http_status)
    try:
        opts = uploads.import_options(
            on_conflict=options["on_conflict"],
            mapping=[options["mapping"]],
            ignore_unknown=options["ignore_unknown"],
            max_errors=_max_errors(options["max_errors"]),
            rejects_path=staged.import_rejects,
            reject_duplicates=options["reject_duplicates"],
            max_rows=auth.hub.settings.web_import_max_rows,
        )
        report = await run_in_threadpool(auth.hub.import_file, staged.path, opts)
    except ValidationError as exc:
        message = uploads.scrubbed(exc, staged).message
        return await _failed(request, auth, options, message, exc.http_status)
    except CustomerFlowError as exc:
        return await _failed(request, auth, options, exc.message, exc.http_status)
    assert report.batch_id is not None
    uploads.keep_batch(base, staged, report)
    return RedirectResponse(f"/imports/{report.batch_id}", status_code=303)


@router.get("/imports/{batch_id:int}")
def result(request: Request, auth: PageAuth, batch_id: BatchId) -> Response:
    batch = auth.hub.get_import(batch_id)
    report = uploads.batch_report(uploads.root(request), batch)
    return render(request, "imports/result.html", {"batch": batch, "report": report}, auth=auth)


@router.get("/imports/{batch_id:int}/rejects.csv")
def batch_rejects(request: Request, auth: PageAuth, batch_id: BatchId) -> Response:
    path = uploads.batch_rejects(uploads.root(request), auth.hub.get_import(batch_id))
    return FileResponse(path, media_type=CSV, filename=f"import-{batch_id}-rejects.csv")


@router.get("/imports/previews/{upload}/rejects.csv")
def preview_rejects(request: Request, auth: PageAuth, upload: str) -> Response:
    staged = uploads.find(uploads.root(request), upload, auth.user.id)
    if not staged.preview_rejects.exists():
        raise NotFoundError("the preview rejected no rows", code="no_rejects")
    return FileResponse(
        staged.preview_rejects, media_type=CSV, filename=f"{staged.path.stem}.rejects.csv"
    )


@router.post("/imports/{batch_id:int}/revert")
async def revert(request: Request, auth: PageAuth, batch_id: BatchId) -> Response:
    _writer(auth)
    form = await request.form()
    check_form_csrf(auth, form)
    skip = form.get("skip_changed") == "1"
    await run_in_threadpool(lambda: auth.hub.revert_import(batch_id, skip_changed=skip))
    return RedirectResponse(f"/imports/{batch_id}", status_code=303)
