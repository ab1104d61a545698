"""The sender: claims due deliveries, sends each once, retries failures with backoff.

A run claims a batch with one conditional UPDATE (status waiting -> sending, with a token of
its own), after picking the rows with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL (so
concurrent workers pick different rows instead of queueing behind each other; on SQLite the
IMMEDIATE transaction serialises them). Only rows still waiting are taken, so two workers
never hold the same delivery. A sent delivery is marked sent under its token and is never
claimed again.

A failure keeps its reason and waits 1 min, 5 min, 30 min, 2 h, then 12 h before the next
attempt; after the sixth failed attempt the delivery is dead: kept in the log as failed
until an HR admin retries it. A claim whose worker died (still sending after STALE_AFTER)
is taken over; that attempt may have reached the receiver, so a crash can repeat a message,
but nothing is lost. E-mail that falls in the recipient's quiet hours waits until they end,
without counting an attempt.
"""

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from kaohe.lib import clock
from kaohe.notify import channels
from kaohe.notify.models import WAITING_STATES, Channel, Delivery, Preference, Status
from kaohe.notify.quiet import quiet_until
from kaohe.org.models import Company

logger = logging.getLogger(__name__)

BACKOFF = (
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
STALE_AFTER = dt.timedelta(minutes=10)
BATCH = 50
MAX_BATCHES = 20  # per run; the rest waits for the next minute


@dataclass
class SendRun:
    sent: int = 0
    failed: int = 0
    deferred: int = 0


def _due(now: dt.datetime) -> Q:
    waiting = Q(status__in=WAITING_STATES, next_attempt_at__lte=now)
    return waiting | Q(status=Status.SENDING, claimed_at__lt=now - STALE_AFTER)


def claim(now: dt.datetime, limit: int = BATCH, only: Q | None = None) -> list[Delivery]:
    """Takes up to `limit` due deliveries for this run; returns them (with their attempt
    counted)."""
    due = _due(now) & (only or Q())
    token = uuid.uuid4()
    with transaction.atomic():
        picked = Delivery.objects.filter(due).order_by("next_attempt_at", "id")
        ids = list(picked.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Delivery.objects.filter(due, pk__in=ids).update(
            status=Status.SENDING, claim=token, claimed_at=now, attempts=F("attempts") + 1
        )
    related = ("robot", "endpoint", "user")
    return list(Delivery.objects.filter(claim=token).select_related(*related).order_by("id"))


def send_due(max_batches: int = MAX_BATCHES) -> SendRun:
    """Sends what is due now; see the module docstring."""
    run = SendRun()
    for _batch in range(max_batches):
        batch = claim(clock.now())
        if not batch:
            break
        for delivery in batch:
            attempt(delivery, run)
    return run


def send_now(delivery: Delivery) -> Delivery:
    """Tries one delivery right away if it is waiting (a test message from the settings page)."""
    run = SendRun()
    for claimed in claim(clock.now(), 1, Q(pk=delivery.pk)):
        attempt(claimed, run)
    delivery.refresh_from_db()
    return delivery


def attempt(delivery: Delivery, run: SendRun) -> None:
    now = clock.now()
    quiet_end = _quiet_end(delivery, now)
    if quiet_end is not None:
        _release(delivery, quiet_end)
        run.deferred += 1
        return
    try:
        channels.send(delivery)
    except channels.Failed as failure:
        _failed(delivery, str(failure))
        run.failed += 1
    except Exception as error:  # a bug must not leave the delivery claimed
        logger.exception("delivery %s failed", delivery.pk)
        _failed(delivery, _("Unexpected error: %(error)s") % {"error": type(error).__name__})
        run.failed += 1
    else:
        _sent(delivery)
        run.sent += 1


def _quiet_end(delivery: Delivery, now: dt.datetime) -> dt.datetime | None:
    if delivery.channel != Channel.EMAIL or delivery.user_id is None:
        return None
    preference = Preference.objects.filter(user_id=delivery.user_id).first()
    if preference is None:
        return None
    tz = Company.get().timezone
    return quiet_until(now, preference.quiet_start, preference.quiet_end, tz)


def _mine(delivery: Delivery):
    return Delivery.objects.filter(pk=delivery.pk, claim=delivery.claim, status=Status.SENDING)


def _release(delivery: Delivery, when: dt.datetime) -> None:
    """Gives the delivery back, untried, to wait until `when`."""
    _mine(delivery).update(
        status=Status.PENDING, next_attempt_at=when, claim=None, attempts=F("attempts") - 1
    )


def _sent(delivery: Delivery) -> None:
    if not _mine(delivery).update(status=Status.SENT, sent_at=clock.now(), claim=None):
        logger.warning("delivery %s was sent after its claim was taken over", delivery.pk)


def _failed(delivery: Delivery, reason: str) -> None:
    now = clock.now()
    if delivery.attempts >= MAX_ATTEMPTS:
        status, when = Status.DEAD, now
    else:
        status, when = Status.FAILING, now + BACKOFF[max(delivery.attempts, 1) - 1]
    _mine(delivery).update(status=status, next_attempt_at=when, last_error=reason, claim=None)
    logger.info("delivery %s (%s) failed: %s", delivery.pk, delivery.channel, reason)
