"""``/imports``: upload a customer file → preview (counts, cleaning counts, per-row problems)
→ Import → the result with its rejects file to download; and the list of past imports, each
with a Revert button.

Every form is a plain POST (multipart for the upload) protected by the session's CSRF token, so
the flow works without JavaScript. The upload is staged on disk by ``web.uploads`` (in the
``import_dir`` every app server and worker shares); the preview (a dry run) and the import each
run as a job on the worker (``customer-flow worker``), so the request answers at once with the
job's page, which shows its progress (rows read of about how many) until it ends.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path as FsPath
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
from customer_flow.data.report import ImportOptions, ImportReport
from customer_flow.jobs.imports import ImportJob

from .. import uploads
from ..deps import Auth
from .common import PageAuth, can, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
BatchId = Annotated[int, Path(ge=1, le=2**53)]
JobId = Annotated[int, Path(ge=1, le=2**53)]
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


def _queue(request: Request) -> Any:
    """The worker's queue (``customer_flow.worker``), opened on first use."""
    state = request.app.state
    queue = getattr(state, "queue", None)
    if queue is None:
        from customer_flow.worker import make_queue

        queue = state.queue = make_queue(state.hub.settings)
    return queue


def _start(
    request: Request, auth: Auth, kind: str, staged: uploads.Staged, opts: ImportOptions
) -> Response:
    """Hand the job to the worker and answer at once with its page (which shows progress)."""
    queue = _queue(request)
    job = auth.hub.start_import_job(
        kind,  # type: ignore[arg-type]
        staged.folder,
        staged.name,
        opts,
        queue.import_job,
    )
    return RedirectResponse(f"/imports/jobs/{job.id}", status_code=303)


@router.post("/imports/preview")
async def preview(request: Request, auth: PageAuth) -> Response:
    """Stage the upload and start its preview (a dry run) on the worker."""
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
            max_errors=_max_errors(options["max_errors"]),
            rejects_path=staged.preview_rejects,
            reject_duplicates=options["reject_duplicates"],
            max_rows=auth.hub.settings.import_job_max_rows,
        )
        return await run_in_threadpool(_start, request, auth, "preview", staged, opts)
    except CustomerFlowError as exc:
        uploads.discard(staged)
        return await _failed(request, auth, options, exc.message, exc.http_status)


@router.post("/imports/commit")
async def commit(request: Request, auth: PageAuth) -> Response:
    """Start the import of a previewed upload on the worker."""
    _writer(auth)
    form = await request.form()
    check_form_csrf(auth, form)
    options = _options(form)
    base = uploads.root(request)
    try:
        staged = uploads.find(base, str(form.get("upload") or ""), auth.user.id)
        opts = uploads.import_options(
            on_conflict=options["on_conflict"],
            mapping=[options["mapping"]],
            ignore_unknown=options["ignore_unknown"],
            max_errors=_max_errors(options["max_errors"]),
            rejects_path=staged.import_rejects,
            reject_duplicates=options["reject_duplicates"],
            max_rows=auth.hub.settings.import_job_max_rows,
        )
        return await run_in_threadpool(_start, request, auth, "import", staged, opts)
    except CustomerFlowError as exc:
        return await _failed(request, auth, options, exc.message, exc.http_status)


def _form_options(job: ImportJob) -> dict[str, Any]:
    """The form's options again, from the job's (to carry from the preview to the import)."""
    o = job.options
    return {
        "on_conflict": o.get("on_conflict", "skip"),
        "mapping": "\n".join(f"{k}={v}" for k, v in (o.get("mapping") or {}).items()),
        "ignore_unknown": bool(o.get("ignore_unknown")),
        "reject_duplicates": bool(o.get("reject_duplicates")),
        "max_errors": "" if o.get("max_errors") is None else str(o["max_errors"]),
    }


def _progress_context(job: ImportJob) -> dict[str, Any]:
    share = None
    if job.rows_total:
        share = min(100, round(100 * job.rows_done / job.rows_total))
    return {"job": job, "share": share}


@router.get("/imports/jobs/{job_id:int}")
def job_page(request: Request, auth: PageAuth, job_id: JobId) -> Response:
    """A job's page: its progress while it runs (HTMX polls ``progress``; without
    JavaScript the page reloads itself), then the preview, the import's result or the error."""
    job = auth.hub.get_import_job(job_id)
    if job.status == "failed":
        message = job.error or "the job failed"
        if (job.error_status or 500) >= 500:
            message = (
                f"The {job.kind} of {job.source} failed after {job.attempts} tries: {message}. "
                "An admin sees it under Mail settings, background jobs that failed."
            )
        status = job.error_status if job.error_status and job.error_status < 500 else 200
        return _upload_page(
            request, auth, options=_form_options(job), error=message, status_code=status
        )
    if job.status == "done" and job.kind == "import":
        return RedirectResponse(f"/imports/{job.batch_id}", status_code=303)
    if job.status == "done":
        folder = FsPath(job.folder)
        context = {
            "report": ImportReport.model_validate(job.report),
            "upload": folder.name,
            "options": _form_options(job),
            "has_rejects": (folder / "preview.rejects.csv").exists(),
        }
        return render(request, "imports/preview.html", context, auth=auth)
    return render(request, "imports/job.html", _progress_context(job), auth=auth)


@router.get("/imports/jobs/{job_id:int}/progress")
def job_progress(request: Request, auth: PageAuth, job_id: JobId) -> Response:
    """The progress fragment HTMX polls; once the job has ended, the whole page moves on."""
    job = auth.hub.get_import_job(job_id)
    if job.finished:
        return Response(status_code=200, headers={"HX-Redirect": f"/imports/jobs/{job.id}"})
    return render(request, "imports/_progress.html", _progress_context(job), auth=auth)


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
