"""The facts API: `POST /api/v1/facts`, a batch of business records from one source.

The envelope (`source`, `items`) is checked here; each item is passed as sent to
`ingest_facts`, which checks it and reports its faults by index, so one bad item never
costs the rest of the batch. The body is read and parsed here too, not by ninja, so that
an oversized or malformed body is a problem response that the sync log records.
"""

import json
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http.request import RawPostDataException
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import ConfigDict, Field, WithJsonSchema

from kaohe.integrations.models import Channel, Outcome, Source
from kaohe.integrations.sync import record_delivery
from kaohe.lib.problem import Problem, ProblemError, field_problem
from kaohe.metrics.ingest import MAX_ITEMS, IngestResult, ingest_facts
from kaohe.org.api import ApiKeyAuth, Caller, SessionAuth
from kaohe.org.models import employees_visible_to_key, is_hr_admin

SCOPE = "facts:write"
ENVELOPE_FIELDS = ("source", "items")


class HrAdminSession(SessionAuth):
    """A signed-in HR admin: facts are company data, like the console's fact import."""

    openapi_description = "A signed-in HR admin's session; POST also needs the X-CSRFToken header."

    def authenticate(self, request, key: str | None) -> Caller | None:
        if key is None:
            return None
        if not is_hr_admin(request.user):
            raise ProblemError(403, _("Only HR admins may send facts."))
        return Caller(user=request.user)


# --- what goes in and out ---------------------------------------------------------------

ITEM_SCHEMA = {
    "type": "object",
    "required": ["external_id"],
    "additionalProperties": False,
    "properties": {
        "external_id": {
            "type": "string",
            "maxLength": 200,
            "description": "The record's id in the source; upserts are by (source, external_id).",
        },
        "employee": {"type": "string", "maxLength": 32, "description": "The employee number."},
        "metric": {"type": "string", "maxLength": 50, "description": "The metric's code."},
        "value": {
            "type": ["string", "number"],
            "description": 'A decimal, best as a string ("125000.00"); at most 4 places.',
        },
        "occurred_at": {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a UTC offset; not more than a day ahead.",
        },
        "attributes": {
            "type": "object",
            "description": "Up to 50 named strings, whole numbers, booleans or nulls.",
        },
        "void": {
            "type": "boolean",
            "default": False,
            "description": "true withdraws the record sent before under this external_id; "
            "false, sent explicitly, makes a withdrawn record count again (without it, a "
            "repeat of the original leaves the withdrawal in place).",
        },
    },
    "examples": [
        {
            "external_id": "D-1001",
            "employee": "E0042",
            "metric": "sales_amount",
            "value": "125000.00",
            "occurred_at": "2026-01-15T10:00:00+08:00",
            "attributes": {"customer": "华东某客户"},
        }
    ],
}


class FactBatch(Schema):
    """A batch of records from one source."""

    # Documents the body only: the view reads it itself (see `_envelope`), so that one
    # malformed item is that item's rejection, not the batch's.

    model_config = ConfigDict(extra="forbid")  # `_envelope` refuses other fields

    source: str = Field(description="The code of an active source, e.g. `crm`.")
    items: Annotated[
        list[Any],
        WithJsonSchema({"type": "array", "maxItems": MAX_ITEMS, "items": ITEM_SCHEMA}),
    ] = Field(description=f"Up to {MAX_ITEMS:,} records.")


class RejectionOut(Schema):
    index: int = Field(description="The position of the item in `items`, from 0.")
    field: str = Field(description='The field at fault, e.g. "employee"; "" for the item.')
    code: str = Field(description='A stable reason, e.g. "unknown", "duplicate", "in_future".')
    message: str = Field(description="What is wrong, in the request's language.")


class CountsOut(Schema):
    created: int = Field(description="New records.")
    updated: int = Field(description="Known records whose content changed.")
    unchanged: int = Field(description="Known records sent again as they were (or re-voided).")
    voided: int = Field(description="Records withdrawn by `void: true`.")
    rejected: int = Field(description="Items not applied; see `rejected`.")


class FactsResult(Schema):
    source: str
    counts: CountsOut
    rejected: list[RejectionOut] = Field(description="Every rejected item, by index.")


# --- the endpoint -----------------------------------------------------------------------

router = Router(tags=["facts"])

DESCRIPTION = f"""Takes a batch of up to {MAX_ITEMS:,} business records from one source.

Records are upserted by `(source, external_id)`: a new id is created, the same record
sent again changes nothing (`unchanged`), a changed one is updated, and `"void": true`
withdraws its effect (a repeat of the original record does not undo that; `"void": false`
or changed content does). A key limited to org units can neither change nor void a record
about anyone outside them. Every item is checked on its own: unknown employee (or one outside
the key's org units), unknown metric, a metric the source may not feed, a bad number, a
time without offset or more than a day ahead, an external_id twice in the batch, ... The
faulty items are listed in `rejected` with their index, field, code and reason, and all
the others are applied, in one transaction. A batch may be retried safely (with the same
`Idempotency-Key`, or simply sent again): nothing is counted twice.

Refused as a whole: a body that is not JSON (400); a source outside the key's `sources`
(403); an unknown or inactive source, or an envelope that is not `{{source, items}}`
(422); more than {MAX_ITEMS:,} items, or a body larger than the server's limit (20 MB
unless configured otherwise) (413, problem type `.../batch-too-large` or
`.../body-too-large`): split the batch.

Scope: `facts:write`; a key whose `sources` list is not empty may only send those
sources. A signed-in HR admin may post too.
"""


@router.post(
    "/facts",
    auth=[ApiKeyAuth(SCOPE), HrAdminSession()],
    response={200: FactsResult, **{status: Problem for status in (400, 401, 403, 413, 422)}},
    summary="Send a batch of facts",
    description=DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FactBatch.model_json_schema()}},
        }
    },
)
def post_facts(request):
    caller: Caller = request.auth
    body, source_code = b"", ""
    try:
        body = _read_body(request)
        source_code, items = _envelope(body)
        source = _source_for(caller, source_code)
        if len(items) > MAX_ITEMS:
            detail = _("Send at most %(max)s items per batch; this one has %(count)s.")
            raise ProblemError(
                413, detail % {"max": MAX_ITEMS, "count": len(items)}, slug="batch-too-large"
            )
    except ProblemError as refusal:
        if refusal.status != 403:  # a key cannot spoil the log of a source it may not use
            record_delivery(source_code, Channel.API, outcome=Outcome.REJECTED,
                            http_status=refusal.status, reason=refusal.detail, request=request,
                            body=body)  # fmt: skip
        raise
    result = accept_facts(caller, source, items, request, body)
    return {"source": source.code, "counts": result.counts(), "rejected": result.rejected}


def accept_facts(caller: Caller, source: Source, items: list, request, body: bytes):
    """Applies the batch and logs the delivery, together or not at all.

    `result.employees` names whose actuals changed: where re-evaluating their warnings
    will be enqueued once alerts exist.
    """
    employees = None
    if caller.key is not None and caller.key.org_units.exists():
        employees = employees_visible_to_key(caller.key)
    with transaction.atomic():
        result: IngestResult = ingest_facts(
            source.code, items, caller.key or caller.user, employees=employees
        )
        record_delivery(
            source.code, Channel.API, result=result, http_status=200, request=request, body=body
        )
    return result


def _read_body(request) -> bytes:
    """The raw body, refused (413) beyond KAOHE_API_MAX_BODY_BYTES before it is read."""
    limit = min(settings.KAOHE_API_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _body_too_large(limit)
    try:
        body = request.body
    except RequestDataTooBig:
        raise _body_too_large(limit) from None
    except RawPostDataException:  # a form upload, already parsed by the CSRF check
        raise ProblemError(400, _("The request body is not valid JSON.")) from None
    if len(body) > limit:
        raise _body_too_large(limit)
    return body


def _body_too_large(limit: int) -> ProblemError:
    detail = _("The request body is larger than %(max)s bytes; send smaller batches.")
    return ProblemError(413, detail % {"max": f"{limit:,}"}, slug="body-too-large")


def _envelope(body: bytes) -> tuple[str, list]:
    """(source, items) from `{"source": ..., "items": [...]}`; every fault of the envelope
    is a 422 naming its field. The items themselves are not looked at."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ProblemError(400, _("The request body is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise _invalid([field_problem("body", "", "type", _("Send a JSON object."))])
    errors = [
        field_problem("body", str(name), "extra_forbidden", _("This field is not allowed."))
        for name in data
        if name not in ENVELOPE_FIELDS
    ]
    source, items = data.get("source"), data.get("items")
    if source is None or source == "":
        errors.append(field_problem("body", "source", "missing", _("This field is required.")))
    elif not isinstance(source, str):
        errors.append(field_problem("body", "source", "string_type", _("Send a string.")))
    if items is None:
        errors.append(field_problem("body", "items", "missing", _("This field is required.")))
    elif not isinstance(items, list):
        errors.append(field_problem("body", "items", "list_type", _("Send a JSON array.")))
    if errors:
        raise _invalid(errors)
    return source, items


def _invalid(errors: list[dict]) -> ProblemError:
    return ProblemError(422, _("Some fields are invalid; see errors."), errors=errors)


def _source_for(caller: Caller, code: str) -> Source:
    """The active source `code`, if the caller may send it."""
    key = caller.key
    if key is not None and key.sources and code not in key.sources:
        detail = _("This API key may not send facts of the source %(source)s.")
        raise ProblemError(403, detail % {"source": code[:40]})
    # A NUL is in no code, and PostgreSQL refuses it even in a query.
    source = None if "\x00" in code else Source.objects.filter(code=code, active=True).first()
    if source is None:
        message = _("There is no active source with this code.")
        raise _invalid([field_problem("body", "source", "unknown", message)])
    return source
