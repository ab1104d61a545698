"""One scheduler leader at a time: the lease row is taken and renewed by a conditional
UPDATE, and a standby takes over once the leader stops renewing."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError

from kaohe.cli.models import SchedulerLease
from kaohe.cli.schedule import Job, Lease, Scheduler

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=90)


def scheduler(holder: str, calls: list) -> Scheduler:
    job = Job("minutely", dt.timedelta(minutes=1), lambda: calls.append(holder))
    return Scheduler([job], monotonic=lambda: dt.datetime.now(dt.UTC).timestamp(),
                     lease=Lease(holder=holder, ttl=TTL))  # fmt: skip


def test_only_the_leader_enqueues():
    calls = []
    a, b = scheduler("a", calls), scheduler("b", calls)
    with time_machine.travel(NOW, tick=False) as traveller:
        for _tick in range(4):
            a.run_due()
            b.run_due()
            traveller.shift(30)
    assert calls == ["a", "a"]  # at 0 s and 60 s
    assert (a.leading, b.leading) == (True, False)
    lease = SchedulerLease.objects.get()
    assert lease.holder == "a" and lease.expires_at == NOW + dt.timedelta(seconds=90) + TTL


def test_a_standby_takes_over_when_the_leader_stops_renewing():
    calls = []
    a, b = scheduler("a", calls), scheduler("b", calls)
    with time_machine.travel(NOW, tick=False) as traveller:
        a.run_due()
        b.run_due()
        traveller.shift(89)
        assert b.run_due() == []  # a's lease still runs
        traveller.shift(2)
        assert b.run_due() == [("minutely", True)]
        assert a.run_due() == [] and not a.leading  # a came back: it stands by now
    assert calls == ["a", "b"]
    assert SchedulerLease.objects.get().holder == "b"


def test_a_released_lease_is_taken_at_the_next_tick():
    calls = []
    a, b = scheduler("a", calls), scheduler("b", calls)
    with time_machine.travel(NOW, tick=False):
        a.run_due()
        a.lease.release()
        b.run_due()
    assert calls == ["a", "b"]


def test_without_the_lease_table_the_scheduler_stands_by(monkeypatch, caplog):
    def broken(self):
        raise DatabaseError("no such table: cli_schedulerlease")

    monkeypatch.setattr(Lease, "hold", broken)
    calls = []
    assert scheduler("a", calls).run_due() == []
    assert calls == [] and "could not take the scheduler lease" in caplog.text


def test_the_scheduler_command_runs_under_the_lease():
    with time_machine.travel(NOW, tick=False):
        call_command("scheduler", "--once", stdout=StringIO())
    lease = SchedulerLease.objects.get()
    assert lease.expires_at == NOW + dt.timedelta(seconds=90)
