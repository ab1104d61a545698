"""The reviews API: `GET /api/v1/cycles` and `GET /api/v1/cycles/{public_id}/results`,
within the caller's reach."""

import datetime as dt
import uuid
from typing import Annotated

from django.http import Http404
from ninja import Query, Router, Schema
from pydantic import Field, StringConstraints, WithJsonSchema

from kaohe.lib.problem import Problem
from kaohe.org.api import Caller, auth_for
from kaohe.reviews.models import Result
from kaohe.reviews.scoring import text
from kaohe.reviews.visibility import (
    cycles_visible_to,
    cycles_visible_to_key,
    results_visible_to,
    results_visible_to_key,
)

SCOPE = "reviews:read"
CURSOR_PATTERN = r"^[0-9]{1,18}$"  # the id of the last item of the previous page

router = Router(tags=["reviews"])

Cursor = Annotated[
    Annotated[str, StringConstraints(max_length=18, pattern=CURSOR_PATTERN)] | None,
    WithJsonSchema({"type": "string", "maxLength": 18, "pattern": CURSOR_PATTERN}),
]


class Paging(Schema):
    cursor: Cursor = Field(None, description="The `next_cursor` of the previous page.")
    limit: int = Field(100, ge=1, le=500, description="At most this many items.")


class CycleOut(Schema):
    id: uuid.UUID = Field(description="The cycle's public id; its page is /cycles/{id}/.")
    name: str
    period: str = Field(description='"2026-Q1", "2026-01", "2026-H1" or "2026".')
    state: str = Field(
        description="`draft`, `standard_published`, `scoring`, `results_published`, `closed`."
    )
    template: str
    standard_published_at: dt.datetime | None
    standard_late: bool = Field(description="Published on or after the period's first day.")
    results_published_at: dt.datetime | None
    closed_at: dt.datetime | None


class CyclePage(Schema):
    items: list[CycleOut]
    next_cursor: str | None


class ResultOut(Schema):
    id: uuid.UUID
    employee: str = Field(description="The employee number.")
    name: str
    org_unit: str = Field(description="The org unit's code when the population was taken.")
    state: str = Field(description="`draft`, `published` or `changed` (after publication).")
    version: int
    total: str | None = Field(description='The weighted total, e.g. "86.00"; null until scored.')
    grade: str
    document: uuid.UUID | None = Field(description="The result document in force, if published.")
    document_state: str | None = Field(description="`pending`, `signed`, `disputed`, `served`, ...")
    published_at: dt.datetime | None


class ResultPage(Schema):
    items: list[ResultOut]
    next_cursor: str | None


def _page(rows, paging: Paging):
    if paging.cursor:
        rows = rows.filter(pk__gt=int(paging.cursor))
    page = list(rows.order_by("pk")[: paging.limit + 1])
    more = len(page) > paging.limit
    page = page[: paging.limit]
    return page, (str(page[-1].pk) if more else None)


def _cycles(caller: Caller):
    return cycles_visible_to_key(caller.key) if caller.key else cycles_visible_to(caller.user)


def _results(caller: Caller):
    return results_visible_to_key(caller.key) if caller.key else results_visible_to(caller.user)


@router.get(
    "/cycles",
    auth=auth_for(SCOPE),
    response={200: CyclePage, 401: Problem, 403: Problem, 422: Problem},
    summary="List assessment cycles",
)
def list_cycles(request, paging: Query[Paging]):
    """The assessment cycles within the caller's reach, oldest first, a page at a time.

    Scope: `reviews:read`.
    """
    page, cursor = _page(_cycles(request.auth).select_related("template"), paging)
    items = [
        {"id": c.public_id, "name": c.name, "period": c.period.label, "state": c.state,
         "template": c.template.name, "standard_published_at": c.standard_published_at,
         "standard_late": c.standard_late, "results_published_at": c.results_published_at,
         "closed_at": c.closed_at}
        for c in page
    ]  # fmt: skip
    return {"items": items, "next_cursor": cursor}


def _result_out(r: Result) -> dict:
    document = r.document
    return {
        "id": r.public_id, "employee": r.employee.employee_no, "name": r.employee.name,
        "org_unit": r.org_unit.code, "state": r.state, "version": r.version,
        "total": text(r.total) or None, "grade": r.grade,
        "document": document.public_id if document else None,
        "document_state": document.state if document else None,
        "published_at": r.published_at,
    }  # fmt: skip


@router.get(
    "/cycles/{public_id}/results",
    auth=auth_for(SCOPE),
    response={200: ResultPage, 401: Problem, 403: Problem, 404: Problem, 422: Problem},
    summary="List a cycle's results",
)
def list_results(request, public_id: uuid.UUID, paging: Query[Paging]):
    """The results of one cycle that the caller may see (a manager: their subtree; HR:
    their units), a page at a time. A cycle unknown or outside the caller's reach is a 404.

    Scope: `reviews:read`.
    """
    cycle = _cycles(request.auth).filter(public_id=public_id).first()
    if cycle is None:
        raise Http404
    rows = _results(request.auth).filter(cycle=cycle)
    rows = rows.select_related("employee", "org_unit", "document").defer(
        "document__pdf", "document__data", "document__data_json"
    )
    page, cursor = _page(rows, paging)
    return {"items": [_result_out(r) for r in page], "next_cursor": cursor}
