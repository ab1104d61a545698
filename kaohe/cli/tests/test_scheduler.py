import datetime as dt
import os
import signal
import subprocess
import sys
import time
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError
from django_tasks_db.models import DBTaskResult, get_date_max

from kaohe.cli.schedule import JOBS, Job, Scheduler, prune_task_results
from kaohe.org.models import Invitation, LoginFailure
from kaohe.org.tasks import purge_login_failures

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def failure(seconds_ago: int) -> LoginFailure:
    return LoginFailure.objects.create(username="amy", at=NOW - dt.timedelta(seconds=seconds_ago))


def invitation(cast, n: int, expired_days_ago: int) -> Invitation:
    expires = NOW - dt.timedelta(days=expired_days_ago)
    return Invitation.objects.create(
        employee=cast.amy,
        token_hash=f"{n:064x}",
        created_at=expires - dt.timedelta(hours=72),
        expires_at=expires,
    )


def task_result(status: str, finished_days_ago: float | None) -> DBTaskResult:
    finished = None if finished_days_ago is None else NOW - dt.timedelta(days=finished_days_ago)
    return DBTaskResult.objects.create(
        status=status,
        finished_at=finished,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="kaohe.org.tasks.purge_login_failures",
        backend_name="default",
        run_after=get_date_max(),
        exception_class_path="",
        traceback="",
    )


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_purging_login_failures_keeps_those_inside_the_throttle_window(settings, frozen):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 900
    recent, old = failure(899), failure(901)
    assert purge_login_failures.enqueue().return_value == 1
    assert list(LoginFailure.objects.all()) == [recent]
    assert not LoginFailure.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_pruning_task_results_removes_finished_ones_older_than_a_week(frozen):
    old_ok = task_result("SUCCESSFUL", finished_days_ago=8)
    old_failed = task_result("FAILED", finished_days_ago=30)
    kept = {
        task_result("SUCCESSFUL", finished_days_ago=6),
        task_result("READY", finished_days_ago=None),
        task_result("RUNNING", finished_days_ago=None),
    }
    assert prune_task_results.enqueue().return_value == 2
    assert set(DBTaskResult.objects.all()) == kept
    assert not DBTaskResult.objects.filter(pk__in=[old_ok.pk, old_failed.pk]).exists()


@pytest.mark.django_db
def test_scheduler_once_runs_every_due_job_and_exits(cast, frozen):
    failure(3600)
    invitation(cast, 1, expired_days_ago=60)
    task_result("SUCCESSFUL", finished_days_ago=10)
    out = StringIO()
    call_command("scheduler", "--once", stdout=out)
    assert out.getvalue().splitlines() == [f"enqueued {job.name}" for job in JOBS]
    assert not LoginFailure.objects.exists()
    assert Invitation.objects.count() == 1, "invitations are kept as a record"
    assert not DBTaskResult.objects.exists()


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def counting_job(name: str, every: dt.timedelta, calls: list) -> Job:
    return Job(name, every, lambda: calls.append(name))


def test_a_job_runs_at_start_and_then_once_per_interval():
    calls, fake = [], FakeClock()
    scheduler = Scheduler(
        [counting_job("hourly", dt.timedelta(hours=1), calls),
         counting_job("daily", dt.timedelta(days=1), calls)],
        monotonic=fake,
    )  # fmt: skip
    scheduler.run_due()
    fake.now += 3599
    scheduler.run_due()
    fake.now += 1
    scheduler.run_due()
    assert calls == ["hourly", "daily", "hourly"]


def test_a_job_that_fails_to_enqueue_is_due_again_on_the_next_tick(caplog):
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise DatabaseError("no such table: django_tasks_database_dbtaskresult")

    scheduler = Scheduler([Job("flaky", dt.timedelta(days=1), flaky)], monotonic=FakeClock())
    assert scheduler.run_due() == [("flaky", False)]
    assert "could not enqueue flaky" in caplog.text
    assert scheduler.run_due() == [("flaky", True)]
    assert scheduler.run_due() == []


def test_registered_jobs_have_unique_names_and_sane_intervals():
    assert len({job.name for job in JOBS}) == len(JOBS)
    assert all(job.every >= dt.timedelta(minutes=1) for job in JOBS)


def test_the_scheduler_stops_cleanly_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "KAOHE_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "KAOHE_TASK_BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "PYTHONUNBUFFERED": "1",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "kaohe", "scheduler", "--interval", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        assert "scheduler started" in child.stdout.readline()
        started = time.monotonic()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert "scheduler stopped" in child.stdout.read()
    finally:
        child.kill()
        child.wait()
