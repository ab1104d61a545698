import datetime as dt

from django.conf import settings
from django_tasks import task

from kaohe.integrations.idempotency import KEEP_FOR
from kaohe.integrations.models import Delivery, IdempotentRequest
from kaohe.lib import clock

PURGE_BATCH = 5000  # rows per DELETE, so that SQLite's writers wait no longer than that


@task()
def purge_idempotent_requests() -> int:
    """Forgets first responses older than the replay window."""
    cutoff = clock.now() - KEEP_FOR
    deleted, _by_model = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@task()
def purge_deliveries() -> int:
    """Deletes request log rows older than KAOHE_DELIVERY_RETENTION_DAYS (0: keeps them).
    The sources' running figures are kept; only the log of single deliveries goes."""
    days = settings.KAOHE_DELIVERY_RETENTION_DAYS
    if days <= 0:
        return 0
    old = Delivery.objects.filter(received_at__lt=clock.now() - dt.timedelta(days=days))
    deleted = 0
    while ids := list(old.order_by().values_list("pk", flat=True)[:PURGE_BATCH]):
        deleted += Delivery.objects.filter(pk__in=ids).delete()[0]
    return deleted
