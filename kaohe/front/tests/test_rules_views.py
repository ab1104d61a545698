"""The HR admin's warning rules: list, a form per kind saved through do_save_rule with field
errors next to the fields, version history, and the preview."""

import datetime as dt

import pytest

from kaohe.alerts.models import Rule, RuleVersion
from kaohe.alerts.testing import make_rule, raise_alert
from kaohe.ledger.models import Entry
from kaohe.lib import clock
from kaohe.metrics.testing import make_sales_metrics
from kaohe.notify.models import Platform, Robot
from kaohe.pips.models import Plan

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    data = {
        "code": "below-80-2m",
        "name": "连续两个月未达成目标80%",
        "kind": "attainment_below",
        "metric": "",
        "threshold": "80",
        "periods": "2",
        "period_kind": "month",
        "level": "level1",
        "recipient_hr": "on",
        "recipient_managers": "1",
        "recipient_users": "",
        "channels": ["inbox"],
        "cooldown_days": "30",
        "escalate_after_days": "",
        "escalate_to": "",
        "escalate_managers": "0",
        "active": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def field_error(body: str, field: str) -> bool:
    """Whether the form shows an error right below the field."""
    return f'id="{field}-error"' in body


def test_only_hr_admins_reach_the_rule_pages(cast, client_for):
    make_rule(cast.ada)
    for user in (cast.hazel, cast.mike.user, cast.amy.user, cast.audrey):
        client = client_for(user)
        assert client.get("/settings/rules/").status_code == 403
        assert client.get("/settings/rules/below-80-2m/").status_code == 403
        assert client.post("/settings/rules/new/", form_data(code="x")).status_code == 403
        assert client.post("/settings/rules/preview/", form_data()).status_code == 403
    assert not Rule.objects.filter(code="x").exists()


def test_the_list_shows_kind_level_version_and_open_alerts(cast, client_for):
    rule = make_rule(cast.ada)
    raise_alert(rule, cast.amy)
    raise_alert(rule, cast.olga)
    body = text(client_for(cast.ada).get("/settings/rules/"))
    row = body.split('id="rules"')[1]
    assert rule.name in row and "?status=open&amp;rule=below-80-2m" in row
    assert ">2</a>" in row


def test_the_hr_admin_creates_a_rule_and_it_is_versioned_and_recorded(cast, client_for):
    robot = Robot.objects.create(
        name="销售群", platform=Platform.WECOM, url="http://127.0.0.1:9/x", created_at=clock.now()
    )
    data = form_data(
        channels=["inbox", f"robot:{robot.pk}"],
        recipient_users="audrey",
        scope_units=["EAST"],
        scope_positions="销售代表, 销售经理",
        escalate_after_days="5",
        escalate_to="level2",
        escalate_managers="1",
        active_from="2026-01-01",
    )
    response = client_for(cast.ada).post("/settings/rules/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = Rule.objects.get(code="below-80-2m")
    assert rule.params == {"metric": "", "threshold": "80", "periods": 2, "period_kind": "month"}
    assert rule.recipients == {
        "hr": True,
        "managers": 1,
        "employee": False,
        "users": [cast.audrey.pk],
    }
    assert rule.channels == ["inbox", f"robot:{robot.pk}"]
    assert [u.code for u in rule.scope_units.all()] == ["EAST"]
    assert rule.scope_positions == ["销售代表", "销售经理"]
    assert (rule.escalate_after_days, rule.escalate_to, rule.escalate_managers) == (5, "level2", 1)
    assert rule.active_from == dt.date(2026, 1, 1) and rule.cooldown_days == 30
    assert RuleVersion.objects.filter(rule=rule).count() == 1
    assert Entry.objects.filter(kind="alerts.rule.saved").count() == 1


def test_editing_makes_a_new_version_listed_with_what_changed(cast, client_for):
    make_rule(cast.ada)
    client = client_for(cast.ada)
    body = text(client.get("/settings/rules/below-80-2m/"))
    assert (
        'value="80"' in body
        and "disabled" in body.split('id="id_code"')[0][-200:] + body.split('id="id_code"')[1][:100]
    )
    response = client.post("/settings/rules/below-80-2m/", form_data(threshold="70"))
    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.version == 2 and rule.params["threshold"] == "70"
    history = text(client.get("/settings/rules/below-80-2m/")).split('id="rule-history"')[1]
    assert "params" in history and history.count("<li>") == 2


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"threshold": "0"}, "threshold"),
        ({"threshold": "abc"}, "threshold"),
        ({"periods": "13"}, "periods"),
        ({"code": "new"}, "code"),
        ({"code": "有空格 no"}, "code"),
        ({"recipient_users": "nobody"}, "recipient_users"),
        ({"recipient_hr": None, "recipient_managers": "0"}, "recipient_hr"),
        ({"channels": []}, "channels"),
        ({"active_from": "2026-05-01", "active_until": "2026-04-01"}, "active_until"),
        ({"kind": "custom", "expression": "score >"}, "expression"),
        ({"kind": "custom", "expression": "salary > 1"}, "expression"),
        ({"kind": "source_silent", "hours": "0"}, "hours"),
        ({"kind": "pip_overdue", "days": "400"}, "days"),
    ],
)
def test_faults_are_shown_next_to_their_fields(cast, client_for, overrides, field):
    response = client_for(cast.ada).post("/settings/rules/new/", form_data(**overrides))
    body = text(response)
    assert field_error(body, field), field
    assert not Rule.objects.exists()


def test_a_taken_code_is_refused_next_to_the_code(cast, client_for):
    make_rule(cast.ada)
    body = text(client_for(cast.ada).post("/settings/rules/new/", form_data()))
    assert field_error(body, "code")


def test_choosing_a_kind_shows_its_parameters(cast, client_for):
    client = client_for(cast.ada)
    silent = text(client.get("/settings/rules/new/", {"kind": "source_silent"}))
    assert 'id="id_hours"' in silent and 'id="id_threshold"' not in silent
    late = text(client.get("/settings/rules/new/", {"kind": "pip_overdue"}))
    assert 'id="id_days"' in late and 'value="10"' in late
    plain = text(client.get("/settings/rules/new/", {"kind": "nonsense"}))
    assert 'id="id_threshold"' in plain
    assert 'id="id_metric"' in plain and "id_channels_0" in plain


def test_the_preview_lists_whom_the_rule_flags_and_each_month(cast, client_for):
    make_sales_metrics()
    today = clock.now().date()
    Plan.objects.create(
        employee=cast.amy, title="改进计划", starts_on=today - dt.timedelta(days=90),
        due_on=today - dt.timedelta(days=40), created_at=clock.now(),
    )  # fmt: skip
    data = form_data(kind="pip_overdue", days="10", day_kind="calendar")
    response = client_for(cast.ada).post("/settings/rules/preview/", data)
    body = text(response)
    assert "<html" not in body and 'id="preview-today"' in body
    assert "艾米" in body.split('id="preview-today"')[1].split("<h3>")[0]
    assert body.count("<tr><td>") == 12
    assert not Rule.objects.exists()


def test_the_preview_warns_when_a_rule_flags_most_people(cast, client_for):
    today = clock.now().date()
    for person in (cast.amy, cast.mike, cast.dora, cast.olga):
        Plan.objects.create(
            employee=person, title="计划", starts_on=today - dt.timedelta(days=90),
            due_on=today - dt.timedelta(days=40), created_at=clock.now(),
        )  # fmt: skip
    data = form_data(kind="pip_overdue", days="10", day_kind="calendar")
    body = text(client_for(cast.ada).post("/settings/rules/preview/", data))
    assert "msg-warning" in body


def test_the_preview_names_faulty_parameters_instead_of_running(cast, client_for):
    body = text(client_for(cast.ada).post("/settings/rules/preview/", form_data(threshold="-5")))
    assert 'class="errorlist"' in body and "preview-today" not in body
