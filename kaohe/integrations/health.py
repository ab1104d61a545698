"""Sync health per source: when it last delivered, how far behind its data is, its counts
and last error, and whether it has gone silent.

A source is silent when it has a `silent_after_hours` limit and no accepted delivery (on any
channel) came within that many hours: counted from its last success, or from its creation
if it never succeeded. Inactive sources are never silent. The warning rules call
`silent_sources(now)`; the sources page shows `source_health(now)`.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q

from kaohe.integrations.models import Delivery, Outcome, PullConnector, Source
from kaohe.lib import clock

RECENT = dt.timedelta(hours=24)
REFUSED = (Outcome.REJECTED, Outcome.FAILED)


def silent_since(source: Source) -> dt.datetime:
    return source.last_success_at or source.created_at


def is_silent(source: Source, now: dt.datetime) -> bool:
    if not source.active or source.silent_after_hours is None:
        return False
    return now - silent_since(source) > dt.timedelta(hours=source.silent_after_hours)


def silent_sources(now: dt.datetime | None = None) -> list[Source]:
    """Active sources that have sent nothing accepted for longer than their limit."""
    now = now or clock.now()
    watched = Source.objects.filter(active=True, silent_after_hours__isnull=False)
    return [source for source in watched if is_silent(source, now)]


@dataclass
class SourceHealth:
    source: Source
    silent: bool
    since_success: dt.timedelta | None  # now - last accepted delivery
    fact_lag: dt.timedelta | None  # now - the newest fact's occurred_at
    recent: int  # deliveries in the last 24 hours
    recent_refused: int  # of those, rejected or failed
    pull: PullConnector | None

    @property
    def total(self) -> int:
        s = self.source
        return s.created + s.updated + s.unchanged + s.voided


def _ago(now: dt.datetime, moment: dt.datetime | None) -> dt.timedelta | None:
    return None if moment is None else max(now - moment, dt.timedelta(0))


def source_health(now: dt.datetime | None = None, sources=None) -> list[SourceHealth]:
    """The health of every source (or of `sources`), in two queries."""
    now = now or clock.now()
    rows = list(
        (sources if sources is not None else Source.objects.all())
        .select_related("pull")
        .order_by("code")
    )
    counts = _recent_counts([source.pk for source in rows], now - RECENT)
    return [
        SourceHealth(
            source=source,
            silent=is_silent(source, now),
            since_success=_ago(now, source.last_success_at),
            fact_lag=_ago(now, source.last_fact_at),
            recent=counts.get(source.pk, (0, 0))[0],
            recent_refused=counts.get(source.pk, (0, 0))[1],
            pull=getattr(source, "pull", None),
        )
        for source in rows
    ]


def _recent_counts(source_ids: list[int], since: dt.datetime) -> dict[int, tuple[int, int]]:
    """Source id -> (deliveries since `since`, of those refused). The WHERE bound reads
    only the recent rows (delivery_source_recent_idx), however long the log has grown."""
    if not source_ids:
        return {}
    rows = (
        Delivery.objects.filter(source_id__in=source_ids, received_at__gte=since)
        .values("source_id")
        .annotate(count=Count("id"), refused=Count("id", filter=Q(outcome__in=REFUSED)))
        .order_by()
    )
    return {row["source_id"]: (row["count"], row["refused"]) for row in rows}
