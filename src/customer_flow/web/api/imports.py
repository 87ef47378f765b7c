"""``/api/v1/imports``: upload a customer file for a dry run (the preview), import it, list past
imports, read one, revert one, and download rejects files.

A preview stages the upload on disk (``web.uploads``) and answers with an ``upload`` token; the
import then takes that token (or a fresh file) with the same options as ``customer-flow
import``. The token belongs to the user who uploaded and expires after an hour. Each route that
touches the database calls exactly one Hub method, which checks the role and writes the audit:
agent and admin import and revert; a viewer lists and reads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, WithJsonSchema

from customer_flow.core.errors import NotFoundError, ValidationError
from customer_flow.core.models import NOT_NULL, WHITESPACE, Spec
from customer_flow.data.report import ImportBatch, ImportReport, RevertResult

from .. import uploads
from ..deps import CurrentAuth, UserHub, requires

__all__ = ["router"]

router = APIRouter(prefix="/imports", tags=["imports"])

BatchId = Annotated[int, Path(ge=1, le=2**53, description="The import batch's ID.")]
UploadToken = Annotated[str, Path(max_length=64, description="The preview's `upload` token.")]
CSV = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The rejects file", "content": {CSV: {"schema": {"type": "string"}}}}
}

OnConflict = Annotated[
    str,
    Form(
        pattern="^(skip|update|fail)$",
        description="On a matching ID or email: skip the row, update the customer, or fail.",
    ),
]
# ``uploads.import_options``: a blank line, or a column of the file (not blank, no "=") then
# "=" then a field (not blank). The spec states one line per item; the server also splits an
# item into its lines. Whether the column is in the file, the spec cannot know.
_LINE_BREAKS = "\\n\\r\\u000b\\u000c\\u001c-\\u001e\\u0085\\u2028\\u2029"
_MAPPING_LINE = (
    f"^([{WHITESPACE}]*|[^={_LINE_BREAKS}]*[^={WHITESPACE}][^={_LINE_BREAKS}]*"
    f"=[^{_LINE_BREAKS}]*[^{WHITESPACE}][^{_LINE_BREAKS}]*)$"
)
# A form field cannot be null (multipart has no null): the spec says sent or left out.
Mapping = Annotated[
    list[Annotated[str, Spec.of(pattern=_MAPPING_LINE)]] | None,
    NOT_NULL,
    Form(
        description="`Source column=Field`, repeated (or one per line): overrides the header. "
        "The column must be one of the file's; the field is ID, Name, Email, Phone, First Name, "
        "Last Name, `extra`, or `ignore`."
    ),
]
IgnoreUnknown = Annotated[
    bool, Form(description="Unknown columns are listed in the report instead of kept.")
]
RejectDuplicates = Annotated[
    bool,
    Form(
        description="Reject rows that look like a live customer or an earlier row of the file "
        "(error `possible_duplicate`, naming the candidates). By default they are imported, each "
        "with a `possible_duplicate` warning naming them, for review."
    ),
]


FILE = (
    "CSV, TSV, XLSX or JSON Lines, known by the file name's extension (.csv, .tsv, .tab, .txt, "
    ".xlsx, .xlsm, .jsonl, .ndjson), with a header that names a Name column (or First Name and "
    "Last Name)."
)
#: A multipart part cannot be null: the file is sent, or left out.
FILE_PART = WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"})
#: The file part's ``Content-Disposition``: its file name's extension tells the format.
FILE_ENCODING = {
    "file": {
        "headers": {
            "Content-Disposition": {
                "description": "The file name's extension tells the file's format.",
                "schema": {
                    "type": "string",
                    "example": 'form-data; name="file"; filename="customers.csv"',
                },
            }
        }
    }
}


class ImportPreview(BaseModel):
    """A dry run's report, and the token that imports the same file."""

    upload: str = Field(description="Pass as `upload` to `POST /imports` to import this file.")
    expires_in: int = Field(description="Seconds the staged upload is kept.")
    rejects_url: str | None = Field(description="The preview's rejects file, if rows failed.")
    report: ImportReport


class ImportResult(BaseModel):
    """What an import did, with its batch ID (for revert) and its rejects file."""

    batch_id: int
    rejects_url: str | None
    report: ImportReport


@router.post(
    "/preview",
    response_model=ImportPreview,
    dependencies=[requires("write")],
    summary="Upload a file for a dry run",
    openapi_extra={
        "requestBody": {"content": {"multipart/form-data": {"encoding": FILE_ENCODING}}}
    },
)
def preview_import(
    request: Request,
    auth: CurrentAuth,
    file: Annotated[UploadFile, File(description=FILE)],
    on_conflict: OnConflict = "skip",
    mapping: Mapping = None,
    ignore_unknown: IgnoreUnknown = False,
    reject_duplicates: RejectDuplicates = False,
) -> ImportPreview:
    """The import runs and is rolled back: counts (imported + updated + unchanged + rejected =
    rows read), per-rule cleaning counts and the first problems row by row. Nothing is written;
    the upload is kept for an hour so that `POST /imports` with its token imports it."""
    base = uploads.root(request)
    staged = uploads.stage(base, file.file, file.filename, auth.user.id)
    try:
        options = uploads.import_options(
            on_conflict=on_conflict,
            mapping=mapping,
            ignore_unknown=ignore_unknown,
            rejects_path=staged.preview_rejects,
            reject_duplicates=reject_duplicates,
            max_rows=auth.hub.settings.web_import_max_rows,
        )
        report = auth.hub.preview_import(staged.path, options)
    except BaseException:
        uploads.discard(staged)
        raise
    rejects = staged.preview_rejects.exists()
    return ImportPreview(
        upload=staged.token,
        expires_in=uploads.PREVIEW_TTL,
        rejects_url=f"/api/v1/imports/previews/{staged.token}/rejects" if rejects else None,
        report=uploads.public(report, staged),
    )


@router.post(
    "",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires("write")],
    summary="Import a file (or a previewed upload)",
    # ``file``, or the ``upload`` token of a preview: one of the two (else 422 ``no_file``).
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "anyOf": [
                            {"required": ["file"]},
                            {"required": ["upload"], "properties": {"upload": {"minLength": 1}}},
                        ]
                    },
                    "encoding": FILE_ENCODING,
                }
            }
        }
    },
)
def import_file(
    request: Request,
    auth: CurrentAuth,
    file: Annotated[
        UploadFile | None, FILE_PART, File(description="The file, when not previewed. " + FILE)
    ] = None,
    upload: Annotated[
        str | None, NOT_NULL, Form(max_length=64, description="The `upload` token of a preview.")
    ] = None,
    on_conflict: OnConflict = "skip",
    mapping: Mapping = None,
    ignore_unknown: IgnoreUnknown = False,
    max_errors: Annotated[
        int | None,
        NOT_NULL,
        Form(ge=0, le=2**53, description="Refuse the import past this many rejects."),
    ] = None,
    reject_duplicates: RejectDuplicates = False,
) -> ImportResult:
    """One transaction, recorded as a batch: it all lands, or (past `max_errors`, or a match
    with `on_conflict=fail`) nothing does."""
    base = uploads.root(request)
    if upload:
        staged = uploads.find(base, upload, auth.user.id)
    elif file is not None:
        staged = uploads.stage(base, file.file, file.filename, auth.user.id)
    else:
        raise ValidationError("send a file, or the upload token of a preview", code="no_file")
    try:
        options = uploads.import_options(
            on_conflict=on_conflict,
            mapping=mapping,
            ignore_unknown=ignore_unknown,
            max_errors=max_errors,
            rejects_path=staged.import_rejects,
            reject_duplicates=reject_duplicates,
            max_rows=auth.hub.settings.web_import_max_rows,
        )
        report = auth.hub.import_file(staged.path, options)
    except ValidationError as exc:
        if not upload:
            uploads.discard(staged)
        raise uploads.scrubbed(exc, staged) from None
    except BaseException:
        if not upload:
            uploads.discard(staged)
        raise
    assert report.batch_id is not None
    uploads.keep_batch(base, staged, report)
    return ImportResult(
        batch_id=report.batch_id,
        rejects_url=f"/api/v1/imports/{report.batch_id}/rejects" if report.rejected else None,
        report=uploads.public(report, staged),
    )


@router.get(
    "/previews/{upload}/rejects",
    response_class=FileResponse,
    responses=CSV_RESPONSE,
    summary="A preview's rejects file (CSV)",
)
def preview_rejects(request: Request, auth: CurrentAuth, upload: UploadToken) -> FileResponse:
    """Only the user who uploaded the file may read it."""
    staged = uploads.find(uploads.root(request), upload, auth.user.id)
    if not staged.preview_rejects.exists():
        raise NotFoundError("the preview rejected no rows", code="no_rejects")
    return FileResponse(
        staged.preview_rejects, media_type=CSV, filename=f"{staged.path.stem}.rejects.csv"
    )


@router.get("", response_model=list[ImportBatch], summary="Past imports, the latest first")
def list_imports(
    hub: UserHub, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[ImportBatch]:
    return hub.list_imports(limit=limit)


@router.get("/{batch_id:int}", response_model=ImportBatch, summary="One past import")
def get_import(hub: UserHub, batch_id: BatchId) -> ImportBatch:
    return hub.get_import(batch_id)


@router.post(
    "/{batch_id:int}/revert",
    response_model=RevertResult,
    dependencies=[requires("write")],
    summary="Undo an import exactly",
)
def revert_import(
    hub: UserHub,
    batch_id: BatchId,
    skip_changed: Annotated[
        bool,
        Query(
            description="Leave the customers that cannot be undone (changed since the import, "
            "or holding tickets) as they are, and revert the rest; `kept` lists them."
        ),
    ] = False,
) -> RevertResult:
    """Its new customers go (their IDs free again for a file that gives them) and its updated
    ones get their old values back; each customer's history records it. Refused (409
    `changed_since_import`, naming the customers and why) when some cannot be undone, unless
    `skip_changed`; 409 `already_reverted` when it was reverted already."""
    return hub.revert_import(batch_id, skip_changed=skip_changed)


@router.get(
    "/{batch_id:int}/rejects",
    response_class=FileResponse,
    responses=CSV_RESPONSE,
    summary="An import's rejects file (CSV)",
)
def import_rejects(request: Request, hub: UserHub, batch_id: BatchId) -> FileResponse:
    """Row number, column, reason code and message, then the row's original values. Kept for
    imports made in the web app."""
    path = uploads.batch_rejects(uploads.root(request), hub.get_import(batch_id))
    return FileResponse(path, media_type=CSV, filename=f"import-{batch_id}-rejects.csv")
