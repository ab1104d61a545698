"""`Idempotency-Key` on every POST under /api/: a retried request gets the first response.

Follows the IETF httpapi draft "The Idempotency-Key HTTP Header Field": the same key with
a different request is 422, a retry while the first is still being answered is 409.
Server errors (5xx) are not kept, so the client may retry them. A request that never
answered (its server was killed mid-request) stops blocking its key after IN_FLIGHT_LEASE:
the next retry takes the key over and is answered afresh.
"""

import datetime as dt
import hashlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.translation import gettext as _

from kaohe.integrations.models import IdempotentRequest
from kaohe.lib import clock
from kaohe.lib.problem import problem_response

HEADER = "HTTP_IDEMPOTENCY_KEY"
KEEP_FOR = dt.timedelta(hours=24)
# Longer than any request runs (gunicorn kills a worker after 30 s by default).
IN_FLIGHT_LEASE = dt.timedelta(minutes=2)
MAX_KEY_LENGTH = 255


def _principal(request) -> str | None:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    if authorization.lower().startswith("bearer "):
        return "key:" + hashlib.sha256(authorization[7:].strip().encode()).hexdigest()[:64]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.get_full_path(), request.content_type or ""):
        digest.update(part.encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get(HEADER)
        principal = _principal(request)
        if request.method != "POST" or key is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        if principal is None:
            return self.get_response(request)  # authentication will refuse it
        if not key or len(key) > MAX_KEY_LENGTH:
            detail = _("The Idempotency-Key header must be 1 to %(max)s characters long.")
            return problem_response(400, detail % {"max": MAX_KEY_LENGTH})
        return self._answer_once(request, principal, key)

    def _answer_once(self, request, principal: str, key: str):
        try:
            fingerprint = _fingerprint(request)
        except RequestDataTooBig:
            detail = _("The request body is larger than %(max)s bytes.")
            limit = f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}"
            return problem_response(413, detail % {"max": limit}, slug="body-too-large")
        record, refusal = _claim(principal, key, fingerprint)
        if refusal is not None:
            return refusal
        if record.status is not None:
            return _replay(record)
        response = self.get_response(request)
        _keep(record, response)
        return response


def _claim(principal: str, key: str, fingerprint: str):
    """The record for this key, created if new; or a refusal for a misused key."""
    IdempotentRequest.objects.filter(created_at__lt=clock.now() - KEEP_FOR).filter(
        principal=principal, key=key
    ).delete()
    try:
        with transaction.atomic():
            record, created = IdempotentRequest.objects.get_or_create(
                principal=principal,
                key=key,
                defaults={"fingerprint": fingerprint, "created_at": clock.now()},
            )
    except IntegrityError:
        record, created = IdempotentRequest.objects.get(principal=principal, key=key), False
    if record.fingerprint != fingerprint:
        detail = _("This Idempotency-Key was already used for a different request.")
        return None, problem_response(422, detail, slug="idempotency-key-reused")
    if not created and record.status is None and not _take_over_lost(record):
        detail = _("A request with this Idempotency-Key is still being processed; retry later.")
        return None, problem_response(409, detail, headers={"Retry-After": "1"})
    return record, None


def _take_over_lost(record: IdempotentRequest) -> bool:
    """Claims a request whose first attempt never answered within the lease; only one
    retry wins (a conditional update, so this holds on SQLite and PostgreSQL alike)."""
    now = clock.now()
    claimed = IdempotentRequest.objects.filter(
        pk=record.pk, status__isnull=True, created_at__lt=now - IN_FLIGHT_LEASE
    ).update(created_at=now)
    return claimed == 1


def _keep(record: IdempotentRequest, response) -> None:
    if response.status_code >= 500 or getattr(response, "streaming", False):
        record.delete()  # let the client retry
        return
    record.status = response.status_code
    record.content_type = response.get("Content-Type", "")
    record.body = response.content
    record.save(update_fields=["status", "content_type", "body"])


def _replay(record: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(
        bytes(record.body), status=record.status, content_type=record.content_type
    )
    response["Idempotency-Replayed"] = "true"
    return response
