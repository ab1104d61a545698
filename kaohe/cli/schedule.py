"""Periodic jobs: what runs how often, and the loop step that enqueues those that are due.

A job only enqueues a django-tasks task; the task worker (`kaohe db_worker`) runs it. Add a
periodic job by adding it to JOBS (entry points may import any app; the apps never import
this module).
"""

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import DatabaseError
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from kaohe.integrations.pull import pull_due_task
from kaohe.integrations.tasks import purge_deliveries, purge_idempotent_requests
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib import clock
from kaohe.notify.tasks import send_due_task
from kaohe.org.tasks import purge_login_failures

logger = logging.getLogger(__name__)

TASK_RESULT_KEEP_DAYS = 7


@task()
def prune_task_results() -> int:
    """Deletes finished (successful or failed) task results older than a week."""
    cutoff = clock.now() - dt.timedelta(days=TASK_RESULT_KEEP_DAYS)
    deleted, _by_model = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return deleted


@dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta
    enqueue: Callable[[], object]


JOBS: tuple[Job, ...] = (
    Job("purge_login_failures", dt.timedelta(hours=1), purge_login_failures.enqueue),
    Job("prune_task_results", dt.timedelta(days=1), prune_task_results.enqueue),
    Job("purge_idempotent_requests", dt.timedelta(hours=1), purge_idempotent_requests.enqueue),
    # The sources' request log, kept for KAOHE_DELIVERY_RETENTION_DAYS.
    Job("purge_deliveries", dt.timedelta(days=1), purge_deliveries.enqueue),
    # Signs the tree head when the log grew and retries owed RFC 3161 timestamps.
    Job("ledger_checkpoint", dt.timedelta(minutes=5), checkpoint_task.enqueue),
    # Runs the pull connectors whose time has come (each claims its connector itself).
    Job("pull_connectors", dt.timedelta(minutes=1), pull_due_task.enqueue),
    # Sends due notifications: retries after backoff, e-mail held through quiet hours.
    Job("notify_send", dt.timedelta(minutes=1), send_due_task.enqueue),
)


class Scheduler:
    """Enqueues each job when its interval has passed since it was last enqueued.

    "Last run" is kept in memory, per process: a single scheduler process is assumed for
    now (leader election through a database lock comes later). So a restart enqueues every
    job once right away, which is fine while all jobs are idempotent housekeeping.
    """

    def __init__(self, jobs: Sequence[Job] = JOBS, monotonic=time.monotonic) -> None:
        # A monotonic clock: a wall-clock jump must not skip or repeat jobs.
        self.jobs, self.monotonic = jobs, monotonic
        self.last_run: dict[str, float] = {}

    def due(self) -> list[Job]:
        now = self.monotonic()
        return [
            job
            for job in self.jobs
            if job.name not in self.last_run
            or now - self.last_run[job.name] >= job.every.total_seconds()
        ]

    def run_due(self) -> list[tuple[str, bool]]:
        """Enqueues the due jobs; returns (name, enqueued). A failed job is due again next tick."""
        outcomes = []
        for job in self.due():
            try:
                job.enqueue()
            except DatabaseError as exc:  # not migrated yet, or the server is away: one line
                logger.warning("could not enqueue %s (%s); trying again next tick", job.name, exc)
                outcomes.append((job.name, False))
                continue
            except Exception:
                logger.exception("could not enqueue %s; trying again next tick", job.name)
                outcomes.append((job.name, False))
                continue
            self.last_run[job.name] = self.monotonic()
            outcomes.append((job.name, True))
        return outcomes
