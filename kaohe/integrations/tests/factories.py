"""What the fact-intake tests share: sources, keys, items."""

from kaohe.integrations.models import Source
from kaohe.lib import clock
from kaohe.metrics.models import Actual
from kaohe.org.actions import do_create_api_key
from kaohe.org.models import ApiKey


def make_source(code: str = "crm", **fields) -> Source:
    fields.setdefault("name", code.upper())
    return Source.objects.create(code=code, created_at=clock.now(), **fields)


def key_headers(scopes=("facts:write",), sources=(), org_units=None) -> dict:
    """Request headers with a new API key."""
    key, secret = do_create_api_key(None, "crm-sync", list(scopes), org_units)
    if sources:
        ApiKey.objects.filter(pk=key.pk).update(sources=list(sources))
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def deal(external_id="D-1", value="125000.00", employee="E0003",
         at="2026-01-15T10:00:00+08:00", **extra) -> dict:  # fmt: skip
    return {"external_id": external_id, "employee": employee, "metric": "sales_amount",
            "value": value, "occurred_at": at, **extra}  # fmt: skip


def actuals() -> list[dict]:
    """Every actual, every column, in a stable order."""
    return list(
        Actual.objects.order_by("employee_id", "metric_id", "month", "org_unit_id").values()
    )
