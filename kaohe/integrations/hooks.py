"""Signed webhooks: `POST /api/v1/hooks/<source>` takes a source's own JSON.

The signature is the authentication (no API key): `X-Kaohe-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, with the source's webhook secret. A
timestamp more than five minutes from now (either way) or a signature that does not match
is refused with 401, and so are an unknown or inactive source and a source without a secret;
the answer is the same for all of them, so it does not tell whether a source exists, and
the request log says which it was (without touching the source's figures: anyone can send
such a request).

The body is read with the source's field mapping (kaohe/integrations/mapping.py) and the
mapped items go through `ingest_facts`, so a delivery sent again (a retry inside the window)
is upserted by external id and counts nothing twice. Rejections name the record's index in
the sender's own list.
"""

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.security import APIKeyHeader
from pydantic import Field

from kaohe.integrations.mapping import DocumentFault, Mapped, map_document
from kaohe.integrations.models import Channel, Outcome, Source
from kaohe.integrations.sync import record_delivery
from kaohe.lib import clock
from kaohe.lib.problem import Problem, ProblemError
from kaohe.metrics.ingest import MAX_ITEMS, IngestResult, Rejection, ingest_facts
from kaohe.org.models import Company

HEADER = "X-Kaohe-Signature"
TOLERANCE = dt.timedelta(minutes=5)
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")
# Compared against when the source is unknown, so that the answer takes as long.
_DECOY_SECRET = b"kaohe-no-such-source"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Kaohe-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret.encode(), timestamp, body)}"


def _digest(secret: bytes, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


class Refused(Exception):
    """Why a delivery was refused, for the request log (the sender hears less)."""


def check_signature(source: Source | None, header: str | None, body: bytes, now) -> None:
    """Raises Refused unless `header` signs `body` with the source's secret, recently."""
    if not header:
        raise Refused(_("No %(header)s header.") % {"header": HEADER})
    match = _SIGNATURE.match(header.strip())
    if match is None:
        raise Refused(_("The %(header)s header is garbled.") % {"header": HEADER})
    timestamp, given = int(match.group(1)), match.group(2)
    secret = source.webhook_secret.encode() if source and source.webhook_secret else None
    expected = _digest(secret or _DECOY_SECRET, timestamp, body)
    matches = hmac.compare_digest(expected, given)
    if source is None:
        raise Refused(_("There is no source with this code."))
    if not source.active:
        raise Refused(_("The source is inactive."))
    if secret is None:
        raise Refused(_("The source has no webhook secret; generate one first."))
    skew = int(now.timestamp()) - timestamp
    if abs(skew) > TOLERANCE.total_seconds():
        if skew > 0:
            raise Refused(
                _("The signature is %(seconds)s s old (at most 300 s).") % {"seconds": skew}
            )
        raise Refused(_("The signature is %(seconds)s s in the future.") % {"seconds": -skew})
    if not matches:
        raise Refused(_("The signature does not match the body and the secret."))


class HookSignature(APIKeyHeader):
    """The signed-webhook scheme; see the module docstring."""

    param_name = HEADER
    openapi_description = (
        'HMAC-SHA256 of "<t>.<raw body>" with the source\'s webhook secret: '
        "`t=<unix seconds>,v1=<hex>`. At most 5 minutes off."
    )

    def authenticate(self, request, key: str | None) -> Source:
        # A NUL is in no code, and PostgreSQL refuses it even in a query or a log row.
        code = (request.resolver_match.kwargs.get("source") or "").replace("\x00", "")[:40]
        body = _read_body(request, code)
        source = Source.objects.filter(code=code).first()
        try:
            check_signature(source, key, body, clock.now())
        except Refused as refusal:
            _log_refusal(code, 401, str(refusal), request, body, authenticated=False)
            detail = _("The signature is missing, stale or does not match.")
            raise ProblemError(401, detail, headers={"WWW-Authenticate": HEADER}) from None
        request.hook_body = body
        return source


def _read_body(request, code: str) -> bytes:
    """The raw body; beyond the API's body limit a 413, before it is read."""
    limit = getattr(settings, "KAOHE_API_MAX_BODY_BYTES", settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    limit = min(limit, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    declared = request.META.get("CONTENT_LENGTH") or ""
    body, too_large = b"", declared.isdigit() and int(declared) > limit
    if not too_large:
        try:
            body = request.body
        except RequestDataTooBig:
            too_large = True
    if too_large or len(body) > limit:
        detail = _("The request body is larger than %(max)s bytes.") % {"max": f"{limit:,}"}
        _log_refusal(code, 413, detail, request, b"", authenticated=False)
        raise ProblemError(413, detail, slug="body-too-large")
    return body


def _log_refusal(code: str, status: int, reason: str, request, body: bytes,
                 authenticated: bool = True) -> None:  # fmt: skip
    record_delivery(code, Channel.WEBHOOK, outcome=Outcome.REJECTED, http_status=status,
                    reason=reason, request=request, body=body,
                    authenticated=authenticated)  # fmt: skip


# --- the endpoint -----------------------------------------------------------------------


class HookRejection(Schema):
    index: int = Field(description="The record's position in the sender's list, from 0.")
    field: str = Field(description='The fact field at fault, e.g. "employee".')
    code: str = Field(description='A stable reason, e.g. "unknown", "missing", "bad_time".')
    message: str = Field(description="What is wrong, in the request's language.")


class HookCounts(Schema):
    created: int
    updated: int
    unchanged: int
    voided: int
    rejected: int
    skipped: int = Field(description="Records the mapping leaves out, or voids of nothing.")


class HookResult(Schema):
    source: str
    counts: HookCounts
    rejected: list[HookRejection]


router = Router(tags=["webhooks"])

DESCRIPTION = """Takes a source's own JSON (a DingTalk or WeCom attendance body, a CRM's
event, ...), signed with the source's webhook secret.

Sign `"<t>.<raw body>"` with HMAC-SHA256 and send `X-Kaohe-Signature: t=<t>,v1=<hex>`,
where `t` is the current unix time in seconds; more than 5 minutes off, or a wrong
signature, is a 401 (logged with the reason for the HR admins). The source's field mapping
turns the body into facts, upserted by external id: a retry changes nothing. Records the
mapping cannot read are listed in `rejected` with their index in the sender's list; the
others apply. A body that is not JSON is a 400; one the mapping cannot read at all (not the
expected shape, or the sender's own error code) a 422; more than 10,000 records a 413.
"""


@router.post(
    "/hooks/{source}",
    auth=HookSignature(),
    response={200: HookResult, 400: Problem, 401: Problem, 413: Problem, 422: Problem},
    summary="Receive a signed webhook",
    description=DESCRIPTION,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def receive(request, source: str):
    hooked: Source = request.auth
    body: bytes = request.hook_body
    try:
        mapped = _map(hooked, body)
    except ProblemError as refusal:
        _log_refusal(hooked.code, refusal.status, refusal.detail, request, body)
        raise
    result, skipped = accept(hooked, mapped, Channel.WEBHOOK, request=request, body=body)
    return {
        "source": hooked.code,
        "counts": {**result.counts(), "skipped": skipped},
        "rejected": result.rejected,
    }


def _map(source: Source, body: bytes) -> Mapped:
    try:
        document = parse_json(body)
    except ValueError:
        raise ProblemError(400, _("The request body is not valid JSON.")) from None
    if not source.mapping:
        raise ProblemError(422, _("The source has no field mapping yet."), slug="no-mapping")
    try:
        mapped = map_document(source.mapping, document, ZoneInfo(Company.get().timezone))
    except DocumentFault as fault:
        raise ProblemError(422, str(fault), slug="unreadable-document") from None
    if len(mapped.items) > MAX_ITEMS:
        detail = _("Send at most %(max)s items per batch; this one has %(count)s.")
        detail %= {"max": MAX_ITEMS, "count": len(mapped.items)}
        raise ProblemError(413, detail, slug="batch-too-large")
    return mapped


def parse_json(body: bytes):
    """The body as JSON, numbers with a fraction as Decimal; raises ValueError."""

    def refuse(constant: str):
        raise ValueError(constant)

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=refuse)
    except RecursionError:
        raise ValueError("too deep") from None


def accept(source: Source, mapped: Mapped, channel: str, *, request=None, body=b""):
    """Ingests the mapped items and logs the delivery, in one transaction.

    Returns the result (rejections by the sender's index) and the number of records left
    out: those the mapping's `when` skips, and voids of records never received, which the
    mapping produces for a day of absence: there is nothing to take back.
    """
    with transaction.atomic():
        result = ingest_facts(source.code, mapped.items, None, channel=channel)
        result, nothing_to_void = _in_sender_terms(result, mapped)
        record_delivery(source.code, channel, result=result, http_status=200 if request else None,
                        request=request, body=body)  # fmt: skip
    return result, mapped.skipped + nothing_to_void


def _in_sender_terms(result: IngestResult, mapped: Mapped) -> tuple[IngestResult, int]:
    voids = {i for i, item in enumerate(mapped.items) if item.get("void")}
    rejected, nothing_to_void = [], 0
    for rejection in result.rejected:
        if rejection.index in voids and rejection.code == "unknown":
            nothing_to_void += 1
            continue
        origin = mapped.origins[rejection.index]
        rejected.append(Rejection(origin, rejection.field, rejection.code, rejection.message))
    rejected += [Rejection(r.index, r.field, r.code, r.message) for r in mapped.rejected]
    rejected.sort(key=lambda r: r.index)
    return dataclasses.replace(result, rejected=rejected), nothing_to_void
