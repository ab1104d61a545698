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

from kaohe.integrations.models import Outcome, PullConnector, Source
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
    """The health of every source (or of `sources`), in a fixed number of queries."""
    now = now or clock.now()
    recent = Q(deliveries__received_at__gte=now - RECENT)
    rows = (
        (sources if sources is not None else Source.objects.all())
        .select_related("pull")
        .annotate(
            recent_count=Count("deliveries", filter=recent),
            recent_refused=Count("deliveries", filter=recent & Q(deliveries__outcome__in=REFUSED)),
        )
        .order_by("code")
    )
    return [
        SourceHealth(
            source=source,
            silent=is_silent(source, now),
            since_success=_ago(now, source.last_success_at),
            fact_lag=_ago(now, source.last_fact_at),
            recent=source.recent_count,
            recent_refused=source.recent_refused,
            pull=getattr(source, "pull", None),
        )
        for source in rows
    ]
