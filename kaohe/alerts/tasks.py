"""The alerts' background work: tell recipients, sweep on schedule, re-evaluate after facts."""

from django_tasks import task

from kaohe.alerts.actions import deliver
from kaohe.alerts.models import Alert


@task()
def deliver_task(alert_ids: list[int]) -> int:
    """Notifies the recipients of newly raised alerts; returns how many were told."""
    told = 0
    for alert in Alert.objects.filter(pk__in=alert_ids).order_by("pk"):
        deliver(alert)
        told += 1
    return told


@task()
def sweep_task() -> dict:
    """The scheduled sweep: every active rule for everyone, then escalations."""
    from kaohe.alerts.sweep import sweep

    result = sweep()
    return {"raised": len(result.raised), "resolved": result.resolved,
            "escalated": result.escalated}  # fmt: skip


# New facts come first: a fact batch should turn into its alert within seconds even while
# the worker is busy telling the recipients of a large sweep.
@task(priority=50)
def reevaluate_task(employee_ids: list[int]) -> int:
    """After a fact batch: the figure-based rules for the employees it touched."""
    from kaohe.alerts.sweep import reevaluate

    return len(reevaluate(employee_ids).raised)
