"""Optional RFC 3161 timestamps on checkpoints, from the authority at settings.KAOHE_TSA_URL.

The request is for SHA-256 of the checkpoint's signed bytes. A token is kept only if it
holds up (kaohe.lib.rfc3161: its imprint, its CMS signature, the time-stamping key usage
and, when settings.KAOHE_TSA_ROOTS names a PEM bundle, its chain to those roots). A failure
is recorded on the checkpoint (status failed, the error, the attempt count), logged, and
retried by the scheduled checkpoint job; the local clock never stands in for the
authority's.

Retries stop once a checkpoint is older than rfc3161.LATE: a timestamp that late would show
only that the checkpoint existed then, and the next checkpoint's timestamp already vouches
for it through the chain ("previous"). So every stored token is at most LATE after its
checkpoint, and `kaohe ledger verify` treats a later one as planted.
"""

import asyncio
import concurrent.futures
import datetime as dt
import functools
import hashlib
import logging
from pathlib import Path

from asn1crypto import cms, x509
from django.conf import settings
from django.db.models import F
from pyhanko.sign.timestamps import HTTPTimeStamper

from kaohe.ledger.models import Checkpoint, TimestampStatus
from kaohe.lib import clock, rfc3161
from kaohe.lib.checkpoint import VerifyError

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
RETRY_BATCH = 50


def stamp(checkpoint: Checkpoint) -> bool:
    """Asks the authority for a token over the checkpoint; stores it or the failure."""
    url = settings.KAOHE_TSA_URL
    signed = checkpoint.body.encode()
    try:
        if too_late(checkpoint, clock.now()):
            raise ValueError(f"too late: the checkpoint is older than {rfc3161.LATE}")
        token = request_token(url, signed)
        problem = token_problem(token, signed) or _late_problem(checkpoint, token)
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
        timestamp_status__in=[TimestampStatus.PENDING, TimestampStatus.FAILED],
        created_at__gt=clock.now() - rfc3161.LATE,
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
    """Why `token` is not a sound timestamp over SHA-256 of `data` (imprint, signature,
    key usage, and the chain to settings.KAOHE_TSA_ROOTS when set), or None."""
    try:
        rfc3161.check_token(token, data, trust_roots())
    except VerifyError as exc:
        return str(exc)
    return None


def too_late(checkpoint: Checkpoint, stamped: dt.datetime) -> dt.timedelta | None:
    """How long after the checkpoint `stamped` is, when that is more than rfc3161.LATE."""
    return rfc3161.late_by(stamped, checkpoint.created_at)


def trust_roots() -> list[x509.Certificate] | None:
    """The TSA trust roots of settings.KAOHE_TSA_ROOTS, or None when it is not set. Raises
    VerifyError when the file cannot be read or holds no certificate."""
    path = settings.KAOHE_TSA_ROOTS
    if not path:
        return None
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise VerifyError(f"KAOHE_TSA_ROOTS {path}: {exc.strerror}") from None
    return _roots(str(path), stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _roots(path: str, mtime_ns: int) -> list[x509.Certificate]:
    return rfc3161.load_roots(Path(path).read_bytes(), f"KAOHE_TSA_ROOTS {path}")


def token_time(token: bytes) -> dt.datetime:
    """The time the authority put in the token."""
    return rfc3161.token_time(token)


def token_info(token: bytes):
    content = cms.ContentInfo.load(token)["content"]
    return content["encap_content_info"]["content"].parsed


def _late_problem(checkpoint: Checkpoint, token: bytes) -> str | None:
    late = too_late(checkpoint, token_time(token))
    return f"the authority's time is {late} after the checkpoint's: too late" if late else None


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
