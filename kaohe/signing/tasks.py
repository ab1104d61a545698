"""Background work of signing, run by the task worker."""

from django_tasks import task

from kaohe.signing.content import deliver


@task()
def deliver_documents(pks: list[int]) -> int:
    """Tells employees of their new documents and records the delivery."""
    return deliver(pks)
