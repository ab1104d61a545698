"""The reference story's figures for the alerts tests: Amy's Q1 2026 target agreement
(100,000 a month of sales) and her sales, entered as HR and the CRM would."""

import datetime as dt

import time_machine

from kaohe.integrations.models import Source
from kaohe.lib import clock
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.ingest import ingest_facts
from kaohe.metrics.models import Metric
from kaohe.metrics.testing import make_sales_metrics

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def sales_metrics():
    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    return make_sales_metrics()


def agree(cast, employee, period="2026-Q1", target="300000", when="2025-12-20T10:00:00"):
    with time_machine.travel(at(when), tick=False):
        version = do_draft_agreement(cast.ada, employee, period)
        metric = Metric.objects.get(code="sales_amount")
        do_set_items(cast.ada, version, [ItemSpec(metric, target, 100)])
        return do_publish_agreement(cast.ada, version)


def sell(employee, month: int, amount: str, n: int = 0) -> None:
    with time_machine.travel(at("2026-04-01T09:00:00"), tick=False):
        fact = {
            "external_id": f"D-{employee.employee_no}-{month}-{n}",
            "employee": employee.employee_no,
            "metric": "sales_amount",
            "value": amount,
            "occurred_at": f"2026-{month:02d}-10T10:00:00+08:00",
        }
        result = ingest_facts("crm", [fact], None)
        assert result.created == 1, result.rejected


def amy_below_target(cast):
    """Amy's Q1 agreement of 100,000 a month; she sells 50,000 in January, 70,000 in
    February and nothing in March."""
    sales_metrics()
    agree(cast, cast.amy)
    sell(cast.amy, 1, "50000")
    sell(cast.amy, 2, "70000")
    return cast
