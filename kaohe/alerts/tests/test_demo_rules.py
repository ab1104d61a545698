"""The demo company ships with the reference story's three rules, and its load ends with a
sweep, so the demo shows alerts (the story's director closes no deal at all)."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from kaohe.alerts.models import Alert, Kind, Level, Rule, Status
from kaohe.ledger.models import Entry

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def load_demo() -> str:
    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_demo_has_the_three_rules_and_raises_alerts():
    out = load_demo()
    rules = {r.code: r for r in Rule.objects.all()}
    assert {(r.kind, r.level) for r in rules.values()} == {
        (Kind.ATTAINMENT, Level.LEVEL1),
        (Kind.UNCONFIRMED, Level.REMINDER),
        (Kind.PIP_OVERDUE, Level.LEVEL2),
    }
    below = rules["below-80-2m"]
    assert below.params["threshold"] == "80" and below.params["periods"] == 2
    assert below.recipients == {"hr": True, "managers": 1}
    assert rules["agreement-unconfirmed-3wd"].params == {"days": 3, "day_kind": "working"}
    assert rules["agreement-unconfirmed-3wd"].recipients == {"employee": True, "managers": 1}
    assert rules["pip-overdue-10d"].recipients == {"hr": True, "managers": 2}
    assert all(r.active and r.versions.get().saved_by.username == "hradmin" for r in rules.values())
    director = Alert.objects.filter(rule=below, employee__user__username="director").get()
    assert director.status == Status.NOTIFIED and director.period == "2026-02"
    assert f"{Alert.objects.count()} alerts raised" in out
    assert Entry.objects.filter(kind="alerts.rule.saved").count() == 3


def test_loading_the_demo_again_adds_no_rule_and_no_alert():
    load_demo()
    alerts = Alert.objects.count()
    out = load_demo()
    assert "0 rules saved, 0 alerts raised" in out
    assert Rule.objects.count() == 3 and Alert.objects.count() == alerts
