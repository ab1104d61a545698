"""Metrics the tests of several apps start from (the demo company has its own)."""

from kaohe.lib import clock
from kaohe.metrics.models import Aggregation, Direction, Metric, Unit


def make_metric(code: str, aggregation: str = Aggregation.SUM, **fields) -> Metric:
    fields.setdefault("name_zh", code)
    fields.setdefault("name_en", code)
    fields.setdefault("unit", Unit.CNY if aggregation == Aggregation.SUM else Unit.COUNT)
    fields.setdefault("direction", Direction.HIGHER)
    fields.setdefault("sources", ["crm"])
    return Metric.objects.create(
        code=code, aggregation=aggregation, created_at=clock.now(), **fields
    )


def make_sales_metrics() -> dict[str, Metric]:
    """Sales amount (sum, CNY), deals signed (count), satisfaction (latest score), and
    attendance rate (days present / days required)."""
    present = make_metric("days_present", unit=Unit.DAYS, sources=["attendance"])
    required = make_metric("days_required", unit=Unit.DAYS, sources=["attendance"])
    return {
        "sales_amount": make_metric("sales_amount"),
        "deals_signed": make_metric("deals_signed", Aggregation.COUNT),
        "satisfaction": make_metric("satisfaction", Aggregation.LATEST, unit=Unit.SCORE),
        "days_present": present,
        "days_required": required,
        "attendance_rate": make_metric(
            "attendance_rate",
            Aggregation.RATIO,
            unit=Unit.PERCENT,
            numerator=present,
            denominator=required,
            sources=[],
        ),
    }
