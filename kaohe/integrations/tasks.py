from django_tasks import task

from kaohe.integrations.idempotency import KEEP_FOR
from kaohe.integrations.models import IdempotentRequest
from kaohe.lib import clock


@task()
def purge_idempotent_requests() -> int:
    """Forgets first responses older than the replay window."""
    cutoff = clock.now() - KEEP_FOR
    deleted, _by_model = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
