"""The sync log: every delivery from a source, on any channel, and the source's running
figures (last success, counts, last error) that the health page and the silence rule read.

Anyone can send a webhook a bad signature; such refusals are logged (the request log shows
them) but leave the source's figures alone, so a flood cannot bury the source's real last
error. The log itself is kept for KAOHE_DELIVERY_RETENTION_DAYS (see tasks.py)."""

import hashlib

from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce, Greatest

from kaohe.integrations.models import Delivery, Outcome, Source
from kaohe.lib import clock
from kaohe.lib.http import client_ip

KEPT_REJECTIONS = 50
MAX_REASON = 2000


def record_delivery(
    source_code: str,
    channel: str,
    *,
    result=None,
    outcome: str | None = None,
    http_status: int | None = None,
    reason: str = "",
    request=None,
    body: bytes = b"",
    authenticated: bool = True,
) -> Delivery:
    """Logs one delivery and updates its source's figures. `result` is the IngestResult of
    an accepted delivery; a refused one passes `outcome` (rejected/failed) and `reason`.
    A delivery refused before its sender was authenticated (`authenticated=False`) is
    logged only."""
    now = clock.now()
    source_code = source_code.replace("\x00", "")  # as sent, less what no code holds
    source = Source.objects.filter(code=source_code).first()
    counts = result.counts() if result is not None else {}
    outcome = outcome or _outcome(counts)
    delivery = Delivery.objects.create(
        source=source,
        source_code=source_code[:40],
        channel=channel,
        received_at=now,
        outcome=outcome,
        http_status=http_status,
        reason=str(reason)[:MAX_REASON],
        ip=client_ip(request) if request is not None else None,
        body_sha256=hashlib.sha256(body).hexdigest() if body else "",
        body_bytes=len(body),
        rejections=[vars(r) for r in result.rejected[:KEPT_REJECTIONS]] if result else [],
        **counts,
    )
    if source is not None and authenticated:
        _update_source(source, now, outcome, counts, reason, result)
    return delivery


def _outcome(counts: dict) -> str:
    applied = sum(n for name, n in counts.items() if name != "rejected")
    if not counts.get("rejected"):
        return Outcome.ACCEPTED
    return Outcome.PARTLY if applied else Outcome.REJECTED


def _update_source(source: Source, now, outcome: str, counts: dict, reason: str, result) -> None:
    changes: dict = {"last_received_at": now}
    changes.update({name: F(name) + n for name, n in counts.items() if n})
    if outcome in (Outcome.ACCEPTED, Outcome.PARTLY):
        changes["last_success_at"] = now
        newest = getattr(result, "newest_occurred_at", None)
        if newest is not None:  # in SQL: a delivery committed meanwhile may have a newer one
            newest = Value(newest, output_field=DateTimeField())
            changes["last_fact_at"] = Greatest(Coalesce("last_fact_at", newest), newest)
    if outcome != Outcome.ACCEPTED:
        changes["last_error_at"] = now
        changes["last_error"] = str(reason or _first_rejection(result))[:MAX_REASON]
    Source.objects.filter(pk=source.pk).update(**changes)


def _first_rejection(result) -> str:
    if result is None or not result.rejected:
        return ""
    first = result.rejected[0]
    return f"#{first.index} {first.field}: {first.message}"
