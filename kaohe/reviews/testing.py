"""Test helpers for assessments: a template of one quantitative and one qualitative item,
and a cycle over the cast's East region with amy's quarter of sales."""

import datetime as dt

from kaohe.lib.periods import Period
from kaohe.metrics.actions import ItemSpec, do_bulk_assign
from kaohe.metrics.ingest import ingest_facts
from kaohe.metrics.models import Metric
from kaohe.metrics.testing import make_metric
from kaohe.reviews.actions import ItemInput, do_create_cycle, do_save_template
from kaohe.reviews.models import Cycle, ItemKind, Template

SCALE = [("S", "95"), ("A", "85"), ("B", "70"), ("C", "60"), ("D", "")]
Q1 = Period.parse("2026-Q1")


def sales_metric() -> Metric:
    return Metric.objects.filter(code="sales_amount").first() or make_metric("sales_amount")


def make_template(actor, metric: Metric | None = None, **extra) -> Template:
    metric = metric or sales_metric()
    items = [
        ItemInput("销售额", ItemKind.QUANTITATIVE, "60", metric),
        ItemInput("团队协作", ItemKind.QUALITATIVE, "40"),
    ]
    fields = {"name": "销售季度考核", "scale": SCALE, "items": items} | extra
    return do_save_template(actor, **fields)


def make_cycle(cast, template: Template | None = None, period=Q1, **extra) -> Cycle:
    template = template or make_template(cast.ada)
    fields = {"name": "2026年第一季度考核", "period": period, "template": template,
              "org_units": [cast.east]} | extra  # fmt: skip
    return do_create_cycle(cast.ada, **fields)


def give_sales(cast, employees, target: int = 100_000, period=Q1, sold: dict | None = None):
    """Agreements with one sales item for `employees`, and deals for those in `sold`
    ({employee_no: amount}) in the period's first month."""
    metric = sales_metric()
    do_bulk_assign(cast.ada, employees, period, [ItemSpec(metric, target, 100)], publish=True)
    items = [
        {"external_id": f"D-{no}", "employee": no, "metric": metric.code, "value": str(value),
         "occurred_at": dt.datetime.combine(period.start, dt.time(10)).isoformat() + "+08:00"}
        for no, value in (sold or {}).items()
    ]  # fmt: skip
    if items:
        ingest_facts("crm", items, None, channel="test")
