from django_tasks import task

from kaohe.notify.sending import send_due


@task()
def send_due_task() -> dict:
    """Sends the deliveries that are due (woken after a commit, and every minute)."""
    run = send_due()
    return {"sent": run.sent, "failed": run.failed, "deferred": run.deferred}
