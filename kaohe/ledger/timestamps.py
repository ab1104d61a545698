"""Optional RFC 3161 timestamps on checkpoints, from the authority at settings.KAOHE_TSA_URL.

The request is for SHA-256 of the checkpoint's signed bytes. A failure is recorded on the
checkpoint (status failed, the error, the attempt count), logged, and retried by the
scheduled checkpoint job; the local clock never stands in for the authority's.
"""

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import logging

from asn1crypto import cms
from django.conf import settings
from django.db.models import F
from pyhanko.sign.timestamps import HTTPTimeStamper

from kaohe.ledger.models import Checkpoint, TimestampStatus

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
RETRY_BATCH = 50


def stamp(checkpoint: Checkpoint) -> bool:
    """Asks the authority for a token over the checkpoint; stores it or the failure."""
    url = settings.KAOHE_TSA_URL
    signed = checkpoint.body.encode()
    try:
        token = request_token(url, signed)
        problem = token_problem(token, signed)
        if problem:
            raise ValueError(problem)
    except Exception as exc:  # whatever the network or the authority did: record, retry later
        error = _describe(exc)
        _record(checkpoint, TimestampStatus.FAILED, error=error)
        logger.error("RFC 3161 timestamp for checkpoint %s failed: %s", checkpoint.pk, error)
        return False
    _record(checkpoint, TimestampStatus.STAMPED, token=token)
    return True


def stamp_owed(limit: int = RETRY_BATCH) -> int:
    """Retries the checkpoints still owed a timestamp, newest first, until one fails (the
    authority is probably still away); returns how many got one."""
    if not settings.KAOHE_TSA_URL:
        return 0
    owed = Checkpoint.objects.filter(
        timestamp_status__in=[TimestampStatus.PENDING, TimestampStatus.FAILED]
    ).order_by("-tree_size", "-pk")[:limit]
    stamped = 0
    for checkpoint in owed:
        if not stamp(checkpoint):
            break
        stamped += 1
    return stamped


def request_token(url: str, data: bytes) -> bytes:
    """The DER TimeStampToken (a CMS ContentInfo) for SHA-256 of `data`."""
    stamper = HTTPTimeStamper(url, timeout=TIMEOUT_SECONDS)
    digest = hashlib.sha256(data).digest()
    token = _run(stamper.async_timestamp(digest, "sha256"))
    return token.dump()


def token_problem(token: bytes, data: bytes) -> str | None:
    """Why `token` is not a timestamp over SHA-256 of `data` (its signature and certificate
    chain are for the verifier with the authority's certificate), or None."""
    try:
        info = token_info(token)
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
    except (ValueError, TypeError, KeyError) as exc:
        return f"the timestamp token cannot be read ({exc})"
    if algorithm != "sha256" or hashed != hashlib.sha256(data).digest():
        return "the timestamp token covers other data than this checkpoint"
    return None


def token_time(token: bytes) -> dt.datetime:
    """The time the authority put in the token."""
    return token_info(token)["gen_time"].native


def token_info(token: bytes):
    content = cms.ContentInfo.load(token)["content"]
    return content["encap_content_info"]["content"].parsed


def _record(checkpoint: Checkpoint, status, token: bytes | None = None, error: str = ""):
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        timestamp_status=status,
        timestamp_token=token,
        timestamp_error=error,
        timestamp_attempts=F("timestamp_attempts") + 1,
    )
    checkpoint.refresh_from_db(fields=["timestamp_status", "timestamp_token",
                                       "timestamp_error", "timestamp_attempts"])  # fmt: skip


def _describe(exc: BaseException) -> str:
    reasons = [str(exc) or type(exc).__name__]
    if exc.__cause__ is not None:
        reasons.append(str(exc.__cause__) or type(exc.__cause__).__name__)
    return ": ".join(reasons)[:1000]


def _run(coroutine):
    """asyncio.run, also from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
