"""Housekeeping: the request log is kept for KAOHE_DELIVERY_RETENTION_DAYS."""

import datetime as dt

import pytest
import time_machine

from kaohe.cli.schedule import JOBS
from kaohe.integrations import tasks
from kaohe.integrations.actions import do_create_source
from kaohe.integrations.models import Channel, Delivery, Outcome, Source
from kaohe.integrations.sync import record_delivery
from kaohe.integrations.tasks import purge_deliveries

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 4, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def refused_at(moment: dt.datetime, code: str = "crm") -> None:
    with time_machine.travel(moment, tick=False):
        record_delivery(code, Channel.WEBHOOK, outcome=Outcome.REJECTED, http_status=401,
                        reason="bad signature", authenticated=False)  # fmt: skip


def test_deliveries_older_than_the_retention_are_purged_in_batches(cast, settings, monkeypatch):
    settings.KAOHE_DELIVERY_RETENTION_DAYS = 30
    monkeypatch.setattr(tasks, "PURGE_BATCH", 2)
    do_create_source(cast.ada, "crm", "CRM")
    for age in (31, 31, 40, 400, 30, 1):
        refused_at(NOW - age * DAY)
    refused_at(NOW - 50 * DAY, code="nosuch")

    with time_machine.travel(NOW, tick=False):
        assert purge_deliveries.enqueue().return_value == 5

    assert sorted(d.received_at for d in Delivery.objects.all()) == [NOW - 30 * DAY, NOW - DAY]
    assert Source.objects.filter(code="crm").exists()


def test_a_retention_of_zero_keeps_the_log(cast, settings):
    settings.KAOHE_DELIVERY_RETENTION_DAYS = 0
    refused_at(NOW - 4000 * DAY)

    with time_machine.travel(NOW, tick=False):
        assert purge_deliveries.enqueue().return_value == 0

    assert Delivery.objects.count() == 1


def test_the_scheduler_purges_the_log_daily():
    [job] = [job for job in JOBS if job.name == "purge_deliveries"]

    assert job.every == DAY
