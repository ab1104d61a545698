"""Rules and alerts for page and API tests, without running a sweep."""

from kaohe.alerts.actions import do_save_rule
from kaohe.alerts.models import Alert, Kind, Level, Rule, Status
from kaohe.lib import clock


def make_rule(actor, code: str = "below-80-2m", **overrides) -> Rule:
    """The reference story's rule: sales below 80% of target two months in a row."""
    data = {
        "code": code,
        "name": "连续两个月未达成目标80%",
        "kind": Kind.ATTAINMENT,
        "params": {"metric": "", "threshold": "80", "periods": 2},
        "level": Level.LEVEL1,
        "recipients": {"hr": True, "managers": 1},
        "channels": ["inbox"],
        **overrides,
    }
    return do_save_rule(actor, None, data)


def raise_alert(rule: Rule, employee=None, period: str = "2026-02", **fields) -> Alert:
    """An alert of `rule` about `employee` (or, without one, about the source "crm")."""
    figures = {
        "metric": "",
        "threshold": "80",
        "periods": ["2026-01", "2026-02"],
        "attainment": ["50.00", "70.00"],
    }
    return Alert.objects.create(
        rule=rule,
        rule_version=rule.version,
        employee=employee,
        subject=employee.employee_no if employee else "source:crm",
        period=period,
        level=fields.pop("level", rule.level),
        status=fields.pop("status", Status.NOTIFIED),
        figures=fields.pop("figures", figures),
        raised_at=fields.pop("raised_at", clock.now()),
        **fields,
    )
