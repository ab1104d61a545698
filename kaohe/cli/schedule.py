"""Periodic jobs: what runs how often, and the loop step that enqueues those that are due.

A job only enqueues a django-tasks task; the task worker (`kaohe db_worker`) runs it. Add a
periodic job by adding it to JOBS (entry points may import any app; the apps never import
this module).
"""

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from kaohe.alerts.tasks import sweep_task
from kaohe.cli.models import SchedulerLease
from kaohe.integrations.pull import pull_due_task
from kaohe.integrations.tasks import purge_deliveries, purge_idempotent_requests
from kaohe.ledger.tasks import checkpoint_task
from kaohe.lib import clock
from kaohe.notify.tasks import send_due_task
from kaohe.org.tasks import purge_login_failures
from kaohe.signing.tasks import finish_pending_signatures, issue_agreements

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
    # Target agreements published through the API or in bulk, put before the employee to sign.
    Job("issue_agreements", dt.timedelta(minutes=1), issue_agreements.enqueue),
    # Signatures whose receipt or sealed letter failed (checkpoint, seal, TSA): tried again.
    Job("finish_signatures", dt.timedelta(minutes=5), finish_pending_signatures.enqueue),
    # Every active warning rule for everyone (time-based conditions), then escalations.
    Job("alerts_sweep", dt.timedelta(minutes=15), sweep_task.enqueue),
)


class Lease:
    """Leadership among scheduler processes: a row in the database that one holder renews
    each tick with a conditional UPDATE (holder is me, or the lease has expired) and checks
    the row count, so it is correct on SQLite and PostgreSQL alike. A standby takes over
    once the leader has not renewed for `ttl`."""

    def __init__(self, name: str = "scheduler", holder: str | None = None,
                 ttl: dt.timedelta = dt.timedelta(seconds=90)) -> None:  # fmt: skip
        self.name, self.ttl = name, ttl
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def hold(self) -> bool:
        """Takes or renews the lease; True while this process is the leader."""
        now = clock.now()
        if self._renew(now):
            return True
        try:
            with transaction.atomic():
                SchedulerLease.objects.create(
                    name=self.name, holder=self.holder, expires_at=now + self.ttl
                )
        except IntegrityError:  # another process holds it, or created it just now
            return False
        return True

    def release(self) -> None:
        """Lets a standby take over at its next tick (on a clean stop)."""
        SchedulerLease.objects.filter(name=self.name, holder=self.holder).update(
            expires_at=clock.now()
        )

    def _renew(self, now: dt.datetime) -> bool:
        mine_or_expired = Q(holder=self.holder) | Q(expires_at__lte=now)
        taken = SchedulerLease.objects.filter(mine_or_expired, name=self.name).update(
            holder=self.holder, expires_at=now + self.ttl
        )
        return taken == 1


class Scheduler:
    """Enqueues each job when its interval has passed since it was last enqueued.

    Several scheduler processes may run (one per host, say): with a `lease`, only its
    holder enqueues, the others stand by and take over when it stops renewing. "Last run"
    is kept in memory, per process, so a restart or a takeover enqueues every job once right
    away, which is fine while all jobs are idempotent.
    """

    def __init__(
        self, jobs: Sequence[Job] = JOBS, monotonic=time.monotonic, lease: Lease | None = None
    ) -> None:
        # A monotonic clock: a wall-clock jump must not skip or repeat jobs.
        self.jobs, self.monotonic, self.lease = jobs, monotonic, lease
        self.last_run: dict[str, float] = {}
        self.leading = lease is None

    def lead(self) -> bool:
        """Whether this process may enqueue now (always, without a lease)."""
        if self.lease is None:
            return True
        try:
            leading = self.lease.hold()
        except DatabaseError as exc:  # not migrated yet, or the server is away
            logger.warning("could not take the scheduler lease (%s); standing by", exc)
            leading = False
        if leading != self.leading:
            logger.info("scheduler %s: %s", self.lease.holder, "leader" if leading else "standby")
            self.last_run.clear()  # a new leader does not know when the old one ran the jobs
        self.leading = leading
        return leading

    def due(self) -> list[Job]:
        now = self.monotonic()
        return [
            job
            for job in self.jobs
            if job.name not in self.last_run
            or now - self.last_run[job.name] >= job.every.total_seconds()
        ]

    def run_due(self) -> list[tuple[str, bool]]:
        """Enqueues the due jobs; returns (name, enqueued). A failed job is due again next tick.
        A standby enqueues nothing."""
        if not self.lead():
            return []
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
