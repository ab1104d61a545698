"""Background work of the ledger, run by the task worker."""

from django_tasks import task

from kaohe.ledger.checkpoints import make_checkpoint
from kaohe.ledger.timestamps import stamp_owed


@task()
def checkpoint_task(force: bool = False) -> int | None:
    """Retries owed RFC 3161 timestamps, then checkpoints the log if it grew. Enqueued every
    few minutes by the scheduler and, with transaction.on_commit, after important events.
    Returns the new checkpoint's tree size, or None when there was nothing new to sign."""
    stamp_owed()
    checkpoint = make_checkpoint(force=force)
    return checkpoint.tree_size if checkpoint else None
