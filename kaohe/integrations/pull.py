"""Pull connectors: kaohe fetches pages of JSON from a source that cannot push.

A run claims the connector with a conditional UPDATE (idle or failing -> running, or a
running claim nobody has advanced for STALE_AFTER), so two workers never run it at once on
SQLite or PostgreSQL. It then GETs `url` with the cursor (or page number) as a query
parameter, maps the page with the source's field mapping, and commits the page's facts,
its delivery log row and the connector's new cursor in one transaction. A run that fails
midway (a 500, a dropped connection, a body that is not JSON) keeps the last committed
cursor, so the next run resumes exactly there and counts nothing twice; the connector
backs off (twice its interval per failure in a row, at most a day).

`cursor` holds where the next fetch starts: the next cursor the previous page gave
("cursor" paging; empty: the first page) or the next page number ("page" paging, from 1).
A page says whether more follow through the mapping's `has_more` path; without one, a
cursor source has more while it gives a next cursor, a paged source until a page is
empty. The last page's position is kept, so the next run asks again from there: a source
that appends records is followed incrementally, and what was read before is unchanged. A
paged run that ends on an empty page keeps the last page that had records, since a source
fills its last page before it starts the next one.
"""

import datetime as dt
import logging
import urllib.error
import urllib.parse
from dataclasses import dataclass, field
from http.client import HTTPException
from zoneinfo import ZoneInfo

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _
from django_tasks import task

from kaohe.integrations import outbound
from kaohe.integrations.hooks import accept, parse_json
from kaohe.integrations.mapping import DocumentFault, Mapped, map_document
from kaohe.integrations.models import Channel, Outcome, PullConnector, PullState
from kaohe.integrations.sync import record_delivery
from kaohe.lib import clock
from kaohe.metrics.ingest import MAX_ITEMS
from kaohe.org.models import Company

logger = logging.getLogger(__name__)

MAX_PAGES = 100  # per run; a longer backlog continues in the next run, right away
TIMEOUT = 30  # seconds, to connect and between bytes
MAX_BYTES = 20 * 1024 * 1024
STALE_AFTER = dt.timedelta(minutes=30)
MAX_BACKOFF = dt.timedelta(days=1)
USER_AGENT = "kaohe-pull/1"


class PullFailed(Exception):
    """A page could not be fetched or read; the message is for the request log."""


class LostClaim(Exception):
    """Another worker took the connector over (this run stalled past STALE_AFTER)."""


@dataclass
class PullRun:
    busy: bool = False  # another run holds the connector
    pages: int = 0
    counts: dict = field(default_factory=dict)
    skipped: int = 0
    error: str = ""
    more: bool = False  # stopped at the page limit with more to fetch
    cursor: str = ""
    claimed_at: dt.datetime | None = None  # this run's claim, renewed with every page

    def add(self, counts: dict, skipped: int) -> None:
        for name, number in counts.items():
            self.counts[name] = self.counts.get(name, 0) + number
        self.skipped += skipped


# --- claiming --------------------------------------------------------------------------


def claim(connector: PullConnector, now: dt.datetime):
    """Marks the connector running; returns the claim's time (its token), or None."""
    free = Q(state__in=[PullState.IDLE, PullState.FAILING]) | Q(
        state=PullState.RUNNING, claimed_at__lt=now - STALE_AFTER
    )
    claimed = (
        PullConnector.objects.filter(free, pk=connector.pk, active=True, source__active=True)
        .update(state=PullState.RUNNING, claimed_at=now)
    )  # fmt: skip
    return now if claimed == 1 else None


def _advance(connector: PullConnector, token, cursor: str):
    """Commits the new cursor if the claim is still this run's; returns the new token."""
    now = clock.now()
    if now <= token:
        now = token + dt.timedelta(microseconds=1)
    moved = PullConnector.objects.filter(pk=connector.pk, claimed_at=token).update(
        cursor=cursor, claimed_at=now
    )
    if moved != 1:
        raise LostClaim
    return now


# --- running ---------------------------------------------------------------------------


def run_connector(connector: PullConnector, *, max_pages: int = MAX_PAGES, fetch=None) -> PullRun:
    """Runs the connector now, if no other run holds it; see the module docstring."""
    token = claim(connector, clock.now())
    if token is None:
        return PullRun(busy=True)
    connector.refresh_from_db()
    run = PullRun(cursor=connector.cursor, claimed_at=token)
    try:
        _pages(connector, run, max_pages, fetch or fetch_json)
    except LostClaim:
        logger.warning("pull %s: another worker took over", connector.source.code)
        run.error = _("Another run took the connector over.")
        return run
    except (PullFailed, DocumentFault) as failure:
        run.error = str(failure)
    except Exception as failure:  # a bug must not leave the connector marked running
        logger.exception("pull %s failed", connector.source.code)
        run.error = _("Unexpected error: %(error)s") % {"error": type(failure).__name__}
    if run.error:
        _failed(connector, run.claimed_at, run.error)
    else:
        _finished(connector, run.claimed_at, run.more)
    return run


def _pages(connector: PullConnector, run: PullRun, max_pages: int, fetch) -> None:
    source = connector.source
    if not source.mapping:
        raise PullFailed(_("The source has no field mapping yet."))
    tz = ZoneInfo(Company.get().timezone)
    if connector.paging == "page" and run.cursor and str(page_number(run.cursor)) != run.cursor:
        logger.warning("pull %s: cursor %r is no page number; from page 1", source.code, run.cursor)
        run.cursor = ""
    for _page in range(max_pages):
        body = fetch(page_url(connector, run.cursor), connector.headers)
        mapped = _read(source.mapping, body, tz)
        position, more = next_position(connector, run.cursor, mapped)
        with transaction.atomic():
            claimed_at = _advance(connector, run.claimed_at, position)
            result, skipped = accept(source, mapped, Channel.PULL, body=body)
        run.claimed_at = claimed_at
        run.pages += 1
        run.add(result.counts(), skipped)
        run.cursor = position
        if not more:
            return
    run.more = True


def _read(mapping: dict, body: bytes, tz: ZoneInfo) -> Mapped:
    try:
        document = parse_json(body)
    except ValueError:
        raise PullFailed(_("The response is not valid JSON.")) from None
    mapped = map_document(mapping, document, tz)
    if len(mapped.items) > MAX_ITEMS:
        message = _("A page may hold at most %(max)s items; this one has %(count)s.")
        raise PullFailed(message % {"max": MAX_ITEMS, "count": len(mapped.items)})
    return mapped


def next_position(connector: PullConnector, cursor: str, mapped: Mapped) -> tuple[str, bool]:
    """Where the next fetch starts, and whether it belongs to this run.

    A paged run that ends on an empty page keeps the page before it: records the source
    appends to that page later are found when it is read again (upserts make re-reading
    count nothing twice); the empty page's number would skip them."""
    if connector.paging == "page":
        page = page_number(cursor)
        more = mapped.has_more if mapped.has_more is not None else mapped.records > 0
        if more:
            return str(page + 1), True
        return str(page - 1 if mapped.records == 0 and page > 1 else page), False
    following = mapped.next_cursor
    more = mapped.has_more if mapped.has_more is not None else bool(following)
    if more and not following:
        raise PullFailed(_("The page says more follow but gives no next cursor."))
    if more and following == cursor:
        raise PullFailed(_("The next cursor is the same as this page's; stopping."))
    return following or cursor, more


def page_number(cursor: str) -> int:
    """The page a paged connector's cursor names; anything else (a cursor kept from cursor
    paging) is page 1."""
    return int(cursor) if cursor.isdecimal() and 0 < len(cursor) < 10 and int(cursor) else 1


def page_url(connector: PullConnector, cursor: str) -> str:
    """The connector's URL with the cursor or page number added to its query."""
    if connector.paging == "page":
        cursor = str(page_number(cursor))
    parts = urllib.parse.urlsplit(connector.url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if k != connector.cursor_param]  # fmt: skip
    if cursor:
        query.append((connector.cursor_param, cursor))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def fetch_json(url: str, headers: dict) -> bytes:
    """GETs `url`; any failure (status, network, size, an address kaohe may not reach) is a
    PullFailed saying what. See kaohe/integrations/outbound.py for addresses and redirects."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PullFailed(_("Only http:// and https:// addresses may be pulled."))
    defaults = {"Accept": "application/json", "User-Agent": USER_AGENT}
    try:
        with outbound.open_url(url, {**defaults, **headers}, TIMEOUT) as response:
            body = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as error:
        raise PullFailed(
            _("The source answered HTTP %(status)s.") % {"status": error.code}
        ) from None
    except (urllib.error.URLError, HTTPException, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise PullFailed(_("Could not fetch the page: %(reason)s") % {"reason": reason}) from None
    if len(body) > MAX_BYTES:
        raise PullFailed(_("The page is larger than %(max)s bytes.") % {"max": f"{MAX_BYTES:,}"})
    return body


# --- ending a run ----------------------------------------------------------------------


def _finished(connector: PullConnector, token, more: bool) -> None:
    now = clock.now()
    following = now if more else now + dt.timedelta(minutes=connector.every_minutes)
    PullConnector.objects.filter(pk=connector.pk, claimed_at=token).update(
        state=PullState.IDLE, claimed_at=None, last_run_at=now, next_run_at=following,
        failures=0, last_error="",
    )  # fmt: skip


def _failed(connector: PullConnector, token, error: str) -> None:
    now = clock.now()
    connector.refresh_from_db(fields=["failures"])
    PullConnector.objects.filter(pk=connector.pk, claimed_at=token).update(
        state=PullState.FAILING, claimed_at=None, last_run_at=now,
        next_run_at=now + backoff(connector.every_minutes, connector.failures + 1),
        failures=F("failures") + 1, last_error=error[:2000],
    )  # fmt: skip
    record_delivery(connector.source.code, Channel.PULL, outcome=Outcome.FAILED, reason=error)


def backoff(every_minutes: int, failures: int) -> dt.timedelta:
    """Twice the interval per failure in a row, at most MAX_BACKOFF."""
    minutes = every_minutes * 2 ** min(failures, 20)
    return min(dt.timedelta(minutes=minutes), MAX_BACKOFF)


# --- the schedule ----------------------------------------------------------------------


def due_connectors(now: dt.datetime):
    """Active connectors whose time has come and which no live run holds."""
    return PullConnector.objects.filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now),
        Q(state__in=[PullState.IDLE, PullState.FAILING])
        | Q(state=PullState.RUNNING, claimed_at__lt=now - STALE_AFTER),
        active=True,
        source__active=True,
    )


@task()
def pull_task(connector_id: int) -> dict:
    connector = PullConnector.objects.select_related("source").filter(pk=connector_id).first()
    if connector is None:
        return {"missing": True}
    run = run_connector(connector)
    return {"busy": run.busy, "pages": run.pages, "error": run.error, **run.counts}


@task()
def pull_due_task() -> int:
    """Enqueues a run of every due connector (the scheduler calls this every minute)."""
    ids = list(due_connectors(clock.now()).values_list("pk", flat=True))
    for connector_id in ids:
        try:
            pull_task.enqueue(connector_id)
        except DatabaseError:
            logger.warning("could not enqueue pull %s; next minute", connector_id)
    return len(ids)
