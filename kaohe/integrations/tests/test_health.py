"""Sync health: last success, lag, counts, errors, and the silent-source flag."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.integrations import sync
from kaohe.integrations.actions import do_create_source
from kaohe.integrations.health import silent_sources, source_health
from kaohe.integrations.models import Channel, Outcome, Source
from kaohe.integrations.sync import record_delivery
from kaohe.metrics.ingest import IngestResult

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def accepted(code: str, newest: dt.datetime | None = None) -> None:
    record_delivery(
        code, Channel.WEBHOOK, result=IngestResult(created=3, newest_occurred_at=newest)
    )


def refused(code: str, reason: str = "bad signature") -> None:
    record_delivery(code, Channel.WEBHOOK, outcome=Outcome.REJECTED, http_status=401, reason=reason)


@pytest.fixture
def attendance(cast):
    with time_machine.travel(START, tick=False):
        return do_create_source(cast.ada, "attendance", "考勤", silent_after_hours=24)


def test_a_source_that_sends_nothing_for_its_limit_is_flagged_silent(attendance):
    with time_machine.travel(START + 24 * HOUR, tick=False):
        assert silent_sources() == []  # exactly at the limit: not yet
    with time_machine.travel(START + 25 * HOUR, tick=False):
        assert silent_sources() == [attendance]
        accepted("attendance")
        assert silent_sources() == []
    with time_machine.travel(START + 49 * HOUR + dt.timedelta(seconds=1), tick=False):
        assert silent_sources() == [attendance]


def test_refused_deliveries_do_not_keep_a_source_from_going_silent(attendance):
    with time_machine.travel(START + 30 * HOUR, tick=False):
        refused("attendance")
        assert silent_sources() == [attendance]


def test_inactive_sources_and_sources_without_a_limit_are_never_silent(attendance, cast):
    with time_machine.travel(START, tick=False):
        do_create_source(cast.ada, "crm", "CRM")
    Source.objects.filter(code="attendance").update(active=False)

    assert silent_sources(START + 1000 * HOUR) == []


def test_health_reports_last_success_lag_counts_and_the_last_error(attendance):
    with time_machine.travel(START + 2 * HOUR, tick=False):
        accepted("attendance", newest=START - 10 * HOUR)
    with time_machine.travel(START + 3 * HOUR, tick=False):
        refused("attendance", "The signature is 400 s old")

    [health] = source_health(START + 5 * HOUR)

    assert health.since_success == 3 * HOUR
    assert health.fact_lag == 15 * HOUR
    assert (health.total, health.source.created, health.source.rejected) == (3, 3, 0)
    assert (health.recent, health.recent_refused) == (2, 1)
    assert "400 s old" in health.source.last_error
    assert health.silent is False and health.pull is None


def test_the_health_of_many_sources_costs_the_same_queries(cast):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            source_health(START)
        return len(captured)

    do_create_source(cast.ada, "s1", "one")
    one = queries()
    for n in range(2, 8):
        do_create_source(cast.ada, f"s{n}", "more")
        accepted(f"s{n}")
    assert queries() == one


def test_recent_deliveries_are_counted_with_a_where_bound_not_over_the_whole_log(attendance):
    with time_machine.travel(START - 48 * HOUR, tick=False):
        accepted("attendance")  # too old to count
    with time_machine.travel(START + HOUR, tick=False):
        accepted("attendance")
        refused("attendance")

    with CaptureQueriesContext(connection) as captured:
        [health] = source_health(START + 2 * HOUR)

    assert (health.recent, health.recent_refused) == (2, 1)
    [counting] = [q["sql"] for q in captured if "integrations_delivery" in q["sql"]]
    read, _sep, where = counting.partition(" WHERE ")
    assert read.endswith('FROM "integrations_delivery"') and "received_at" in where


def test_last_fact_at_only_moves_forward_when_deliveries_overlap(attendance):
    stale = Source.objects.get(pk=attendance.pk)  # read before the other delivery commits
    with time_machine.travel(START + HOUR, tick=False):
        accepted("attendance", newest=START)
        sync._update_source(stale, START + HOUR, Outcome.ACCEPTED, {"created": 1}, "",
                            IngestResult(created=1, newest_occurred_at=START - HOUR))  # fmt: skip

    attendance.refresh_from_db()
    assert attendance.last_fact_at == START
    assert attendance.created == 4
