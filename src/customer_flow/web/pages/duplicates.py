"""``/duplicates``: the review queue of likely duplicate customers.

- ``/duplicates``: the queue, one row per cluster (score and members), with a threshold form.
- ``/duplicates/review?ids=..``: the cluster side by side, the evidence per field of every pair,
  a radio button per field to pick the surviving value (or leave it to "most recent non-empty"),
  which record survives, a Merge button, and "Not a duplicate" per pair (remembered: the pair
  leaves the queue).
- The merge answers with its result and an Undo button; ``/duplicates/merges`` lists merges.

Every route calls one Hub method. Reading needs any role; merge, dismiss and undo need write
(the Hub refuses a viewer; the buttons are not shown to one). Every form works without JS.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from customer_flow.core.errors import NotFoundError, ValidationError
from customer_flow.duplicates.models import FIELD_WORDS, VERDICTS, DuplicateCluster, MergeResult

from .common import PageAuth, check_form_csrf, render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "email", "phone")
Id = Annotated[int, Path(ge=1, le=2**53)]


def _threshold(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(
            f"threshold: expected a number between 0 and 1, got {text!r}", field="threshold"
        ) from None
    if not 0.0 < value < 1.0:
        raise ValidationError(
            f"threshold: {text} must be between 0 and 1 (exclusive)", field="threshold"
        )
    return value


@router.get("/duplicates")
def queue(
    request: Request,
    auth: PageAuth,
    threshold: Annotated[str, Query(max_length=30)] = "",
) -> Response:
    try:
        found = auth.hub.find_duplicates(threshold=_threshold(threshold))
    except ValidationError as exc:
        return render(
            request,
            "duplicates/queue.html",
            {"found": None, "threshold": threshold, "error": exc.message},
            auth=auth,
            status_code=422,
        )
    return render(
        request,
        "duplicates/queue.html",
        {"found": found, "threshold": threshold, "error": None},
        auth=auth,
    )


def _cluster_of(clusters: list[DuplicateCluster], ids: list[int]) -> DuplicateCluster | None:
    wanted = set(ids)
    for cluster in clusters:
        if wanted <= set(cluster.ids):
            return cluster
    return None


@router.get("/duplicates/review")
def review(
    request: Request,
    auth: PageAuth,
    ids: Annotated[list[int], Query(min_length=2, max_length=100)],
    threshold: Annotated[str, Query(max_length=30)] = "",
) -> Response:
    found = auth.hub.find_duplicates(threshold=_threshold(threshold))
    cluster = _cluster_of(found.clusters, ids)
    if cluster is None:
        message = (
            "These customers are no longer in the queue: merged, marked not a duplicate, "
            "changed or moved to the trash since."
        )
        raise NotFoundError(message, code="not_in_queue")
    names = {c.id: c.name for c in cluster.customers}
    return render(
        request,
        "duplicates/review.html",
        {
            "cluster": cluster,
            "fields": FIELDS,
            "threshold": threshold,
            "names": names,
            "field_words": FIELD_WORDS,
            "verdicts": VERDICTS,
        },
        auth=auth,
    )


def _take(picks: dict[str, str]) -> dict[str, int]:
    take: dict[str, int] = {}
    for field, value in picks.items():
        if not value.strip():
            continue  # "most recent non-empty"
        try:
            take[field] = int(value)
        except ValueError:
            raise ValidationError(f"take: {field}={value!r} is not a customer ID") from None
    return take


@router.post("/duplicates/merge")
def merge(
    request: Request,
    auth: PageAuth,
    ids: Annotated[list[int], Form(min_length=2, max_length=100)],
    keep: Annotated[int, Form(ge=1, le=2**53)],
    take_name: Annotated[str, Form(max_length=30)] = "",
    take_email: Annotated[str, Form(max_length=30)] = "",
    take_phone: Annotated[str, Form(max_length=30)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    picks = {"name": take_name, "email": take_email, "phone": take_phone}
    others = [i for i in dict.fromkeys(ids) if i != keep]
    result = auth.hub.merge_customers(keep, others, take=_take(picks))
    return _result(request, auth, result, undone=False)


def _result(request: Request, auth: Any, result: MergeResult, *, undone: bool) -> Response:
    return render(
        request,
        "duplicates/merged.html",
        {"result": result, "undone": undone, "fields": FIELDS},
        auth=auth,
    )


@router.post("/duplicates/dismiss")
def dismiss(
    auth: PageAuth,
    a: Annotated[int, Form(ge=1, le=2**53)],
    b: Annotated[int, Form(ge=1, le=2**53)],
    csrf_token: Annotated[str, Form()] = "",
    threshold: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    auth.hub.dismiss_duplicate(a, b)
    target = "/duplicates" + (f"?threshold={threshold}" if _threshold(threshold) else "")
    return RedirectResponse(target, status_code=303)


@router.get("/duplicates/merges")
def merges(request: Request, auth: PageAuth) -> Response:
    return render(request, "duplicates/merges.html", {"merges": auth.hub.list_merges()}, auth=auth)


@router.post("/duplicates/merges/{merge_id}/undo")
def undo(
    request: Request, auth: PageAuth, merge_id: Id, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    check_form_csrf(auth, {"csrf_token": csrf_token})
    return _result(request, auth, auth.hub.unmerge_customers(merge_id), undone=True)
