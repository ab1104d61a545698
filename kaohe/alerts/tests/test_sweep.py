"""The sweep and the standard kinds, from the reference story: Amy (sales representative in
East Sales, manager Mike, whose manager is Dora; HR partner Hazel) sells well below her
monthly target in January and February 2026."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from kaohe.alerts.actions import do_acknowledge, do_save_rule
from kaohe.alerts.kinds import Spec, evaluate
from kaohe.alerts.models import Alert, Kind, Level, Status
from kaohe.alerts.sweep import sweep
from kaohe.alerts.tasks import deliver_task
from kaohe.ledger.models import Entry
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.ingest import ingest_facts
from kaohe.metrics.testing import make_sales_metrics
from kaohe.notify.models import Notification
from kaohe.org.actions import ActionError
from kaohe.pips.models import Plan, Task

pytestmark = pytest.mark.django_db

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def m(cast):
    from kaohe.integrations.models import Source
    from kaohe.lib import clock

    Source.objects.create(code="crm", name="CRM", created_at=clock.now())
    return make_sales_metrics()


def agree(cast, period, target, employee=None):
    employee = employee or cast.amy
    with time_machine.travel(at("2025-12-20T10:00:00"), tick=False):
        version = do_draft_agreement(cast.ada, employee, period)
        do_set_items(cast.ada, version, [ItemSpec(_metric("sales_amount"), target, 100)])
        return do_publish_agreement(cast.ada, version)


def _metric(code):
    from kaohe.metrics.models import Metric

    return Metric.objects.get(code=code)


def sell(employee, month: int, amount: str, n: int = 0):
    with time_machine.travel(at("2026-04-01T09:00:00"), tick=False):
        result = ingest_facts(
            "crm",
            [
                {
                    "external_id": f"D-{employee.employee_no}-{month}-{n}",
                    "employee": employee.employee_no,
                    "metric": "sales_amount",
                    "value": amount,
                    "occurred_at": f"2026-{month:02d}-10T10:00:00+08:00",
                }
            ],
            None,
        )
        assert result.created == 1, result.rejected


def below_rule(cast, **overrides):
    data = {
        "code": "below-80-2m",
        "name": "连续两个月未达成目标80%",
        "kind": Kind.ATTAINMENT,
        "params": {"metric": "sales_amount", "threshold": "80", "periods": 2},
        "level": Level.LEVEL1,
        "recipients": {"hr": True, "managers": 1},
        "channels": ["inbox"],
        **overrides,
    }
    with time_machine.travel(at("2026-01-02T09:00:00"), tick=False):
        return do_save_rule(cast.ada, None, data)


def test_two_complete_months_below_80_percent_raise_one_level_1_alert(cast, m):
    agree(cast, "2026-Q1", "300000")  # 100,000 a month
    rule = below_rule(cast)
    sell(cast.amy, 1, "50000")
    sell(cast.amy, 2, "70000")
    sell(cast.olga, 1, "10")  # no agreement: nothing to judge
    with time_machine.travel(at("2026-03-05T09:00:00"), tick=False):
        result = sweep()
    alert = Alert.objects.get()
    assert result.raised == [alert.pk]
    assert (alert.rule, alert.employee, alert.period) == (rule, cast.amy, "2026-02")
    assert alert.level == Level.LEVEL1 and alert.status == Status.RAISED
    assert alert.figures["attainment"] == ["50.00", "70.00"]
    assert Entry.objects.filter(kind="alerts.alert.raised", employee_no="E0003").count() == 1


def test_the_running_month_never_counts_and_a_rerun_changes_nothing(cast, m):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast)
    sell(cast.amy, 2, "10")
    with time_machine.travel(at("2026-02-27T09:00:00"), tick=False):
        # January (nothing sold) is complete, February still runs: one month only.
        assert sweep().raised == []
    with time_machine.travel(at("2026-03-01T00:30:00"), tick=False):
        assert len(sweep().raised) == 1
        entries = Entry.objects.count()
        again = sweep()
    assert again.raised == [] and again.resolved == 0
    assert Alert.objects.count() == 1 and Entry.objects.count() == entries


def test_a_recovered_employee_has_the_alert_resolved_and_no_new_one_while_open(cast, m):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        sweep()
    alert = Alert.objects.get()
    sell(cast.amy, 2, "100000")  # a late deal lifts February to 100%
    with time_machine.travel(at("2026-03-03T09:00:00"), tick=False):
        result = sweep()
    alert.refresh_from_db()
    assert result.resolved == 1 and alert.status == Status.RESOLVED


def test_the_recipients_are_told_after_commit_and_may_acknowledge(cast, m):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        ids = sweep(deliver=False).raised
        deliver_task.call(ids)
    alert = Alert.objects.get()
    assert alert.status == Status.NOTIFIED
    told = set(Notification.objects.values_list("user__username", flat=True))
    assert told == {"hazel", "mike"}  # HR partner of East, the manager one level up
    with pytest.raises(ActionError):
        do_acknowledge(cast.olga.user, alert, "不关我的事")
    with pytest.raises(ActionError):
        do_acknowledge(cast.harry, alert, "other unit")
    do_acknowledge(cast.mike.user, alert, "已约谈，制定改进计划")
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED and alert.acknowledged_by == cast.mike.user


def test_unacknowledged_alerts_escalate_once_to_the_next_level_and_manager(cast, m):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast, escalate_after_days=5, escalate_to=Level.LEVEL2, escalate_managers=1)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        deliver_task.call(sweep(deliver=False).raised)
    with time_machine.travel(at("2026-03-08T09:00:00"), tick=False):
        assert sweep().escalated == 1
        assert sweep().escalated == 0
    alert = Alert.objects.get()
    assert (alert.status, alert.level, alert.escalations) == (Status.ESCALATED, Level.LEVEL2, 1)
    assert Notification.objects.filter(user=cast.dora.user).exists()  # the next manager up


def test_an_unacknowledged_target_agreement_is_chased_after_3_working_days(cast, m):
    """Published on Wednesday 2026-09-30: the National Day holiday (10-01..07) does not
    count, Saturday 10-10 is a make-up working day, so the deadline ends with 10-10."""
    with time_machine.travel(at("2026-09-30T15:00:00"), tick=False):
        version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q4")
        do_set_items(cast.hazel, version, [ItemSpec(_metric("sales_amount"), "90000", 100)])
        do_publish_agreement(cast.hazel, version)
    spec = Spec(Kind.UNCONFIRMED, {"days": 3, "day_kind": "working"})
    assert evaluate(spec, at("2026-10-10T23:00:00")) == []
    found = evaluate(spec, at("2026-10-11T00:00:01"))
    assert [f.subject for f in found] == ["E0003"]
    assert found[0].period == f"agreement:{version.pk}"


def test_an_overdue_improvement_task_is_found_after_10_days(cast, m):
    now = at("2026-05-20T09:00:00")
    plan = Plan.objects.create(
        employee=cast.amy, title="PIP", starts_on=dt.date(2026, 4, 1),
        due_on=dt.date(2026, 6, 30), created_at=now,
    )  # fmt: skip
    Task.objects.create(plan=plan, title="拜访10家客户", due_on=dt.date(2026, 5, 10))
    spec = Spec(Kind.PIP_OVERDUE, {"days": 10, "day_kind": "calendar"})
    assert evaluate(spec, at("2026-05-19T09:00:00")) == []
    assert [f.period for f in evaluate(spec, now)] == [f"pip-task:{plan.tasks.get().pk}"]


def test_a_silent_source_is_reported_once_per_silence(cast, m):
    from kaohe.integrations.models import Source

    Source.objects.filter(code="crm").update(created_at=at("2026-03-01T00:00:00"))
    spec = Spec(Kind.SOURCE_SILENT, {"hours": 24})
    assert evaluate(spec, at("2026-03-01T23:00:00")) == []
    found = evaluate(spec, at("2026-03-02T01:00:00"))
    assert [(f.subject, f.employee_id) for f in found] == [("source:crm", None)]


def test_the_scope_limits_whom_a_rule_watches(cast, m):
    agree(cast, "2026-Q1", "300000")
    agree(cast, "2026-Q1", "300000", employee=cast.olga)
    spec = Spec(Kind.ATTAINMENT, {"metric": "sales_amount", "threshold": "80", "periods": 2},
                unit_ids=[cast.south.pk])  # fmt: skip
    found = evaluate(spec, at("2026-03-02T09:00:00"))
    assert [f.subject for f in found] == ["E0004"]
    weighted = Spec(Kind.ATTAINMENT, {"metric": "", "threshold": "80", "periods": 2})
    assert {f.subject for f in evaluate(weighted, at("2026-03-02T09:00:00"))} == {
        "E0003",
        "E0004",
    }
    assert Decimal(evaluate(weighted, at("2026-03-02T09:00:00"))[0].figures["attainment"][0]) == 0


def test_overdue_by_working_days_counts_the_working_days_after_the_due_day(cast, m):
    """Due Thursday 2026-09-17: ten working days after it end on 2026-10-09 (National Day
    10-01..07 rests; Sunday 09-20 and Saturday 10-10 are make-up working days), so the task
    is overdue by 10 working days on 10-09, not on 10-01 (a holiday)."""
    from kaohe.org.workdays import company_calendar

    plan = Plan.objects.create(
        employee=cast.amy, title="PIP", starts_on=dt.date(2026, 9, 1),
        due_on=dt.date(2026, 12, 31), created_at=at("2026-09-01T09:00:00"),
    )  # fmt: skip
    Task.objects.create(plan=plan, title="复盘", due_on=dt.date(2026, 9, 17))
    spec = Spec(Kind.PIP_OVERDUE, {"days": 10, "day_kind": "working"})
    calendar = company_calendar()
    for day in range(17, 40):
        today = dt.date(2026, 9, 1) + dt.timedelta(days=day)
        found = bool(evaluate(spec, dt.datetime.combine(today, dt.time(12), SHANGHAI)))
        assert found == (calendar.count_working_days(dt.date(2026, 9, 17), today) >= 10), today
    assert not evaluate(spec, at("2026-10-01T12:00:00"))


def test_each_overdue_task_has_its_own_alert_and_a_done_one_resolves(cast, m):
    rule_data = {
        "code": "pip-late", "name": "改进任务逾期", "kind": Kind.PIP_OVERDUE,
        "params": {"days": 1, "day_kind": "calendar"}, "level": Level.LEVEL2,
        "recipients": {"hr": True}, "channels": ["inbox"],
    }  # fmt: skip
    with time_machine.travel(at("2026-05-01T09:00:00"), tick=False):
        do_save_rule(cast.ada, None, rule_data)
    plan = Plan.objects.create(
        employee=cast.amy, title="PIP", starts_on=dt.date(2026, 4, 1),
        due_on=dt.date(2026, 6, 30), created_at=at("2026-04-01T09:00:00"),
    )  # fmt: skip
    first = Task.objects.create(plan=plan, title="T1", due_on=dt.date(2026, 5, 1))
    Task.objects.create(plan=plan, title="T2", due_on=dt.date(2026, 5, 1))
    with time_machine.travel(at("2026-05-05T09:00:00"), tick=False):
        assert len(sweep().raised) == 2
    first.done_at = at("2026-05-06T09:00:00")
    first.save()
    Task.objects.create(plan=plan, title="T3", due_on=dt.date(2026, 5, 4))
    with time_machine.travel(at("2026-05-07T09:00:00"), tick=False):
        result = sweep()
    assert len(result.raised) == 1 and result.resolved == 1
    assert Alert.objects.get(period=f"pip-task:{first.pk}").status == Status.RESOLVED


def test_an_acknowledged_alert_does_not_silence_the_next_period(cast, m):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        deliver_task.call(sweep(deliver=False).raised)
    do_acknowledge(cast.mike.user, Alert.objects.get(), "已约谈")
    with time_machine.travel(at("2026-04-02T09:00:00"), tick=False):
        raised = sweep(deliver=False).raised
    assert [Alert.objects.get(pk=pk).period for pk in raised] == ["2026-03"]
    assert Alert.objects.get(period="2026-02").status == Status.ACKNOWLEDGED


def test_a_switched_off_rule_escalates_nothing_and_an_untold_alert_is_not_escalated(cast, m):
    agree(cast, "2026-Q1", "300000")
    rule = below_rule(cast, escalate_after_days=5, escalate_to=Level.LEVEL2)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        sweep(deliver=False)
    with time_machine.travel(at("2026-03-09T09:00:00"), tick=False):
        assert sweep(deliver=False).escalated == 0  # never told: first the notice
        deliver_task.call([Alert.objects.get().pk])
        rule.active = False
        rule.save()
        assert sweep(deliver=False).escalated == 0
    assert Alert.objects.get().status == Status.NOTIFIED


def test_an_alert_whose_delivery_was_lost_is_delivered_by_the_next_sweep(
    cast, m, django_capture_on_commit_callbacks
):
    agree(cast, "2026-Q1", "300000")
    below_rule(cast)
    with time_machine.travel(at("2026-03-02T09:00:00"), tick=False):
        sweep(deliver=False)  # as if the delivery task never ran
    with (
        time_machine.travel(at("2026-03-02T09:20:00"), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sweep().raised == []
    assert Alert.objects.get().status == Status.NOTIFIED
    assert Notification.objects.filter(user=cast.mike.user).count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'")
@pytest.mark.django_db(transaction=True)
def test_several_workers_sweeping_at_once_raise_each_alert_once(cast, m):
    """Four workers sweep the same rules at the same moment (the scheduler's sweep and
    re-evaluations after facts overlap): the rule's row lock and the unique constraint
    leave one alert and one ledger entry per person and period."""
    import threading

    agree(cast, "2026-Q1", "300000")
    agree(cast, "2026-Q1", "300000", employee=cast.olga)
    below_rule(cast)
    now = at("2026-03-02T09:00:00")
    errors = []

    def work():
        try:
            sweep(now, deliver=False)
        except Exception as fault:
            errors.append(fault)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sorted(Alert.objects.values_list("subject", flat=True)) == ["E0003", "E0004"]
    assert Entry.objects.filter(kind="alerts.alert.raised").count() == 2


def _document(employee, kind, issued_at, **fields):
    from kaohe.signing.models import Document

    n = Document.objects.count()
    fields = {"source_type": "test", "source_id": str(n), **fields}
    return Document.objects.create(
        kind=kind, employee=employee, title=f"文件{n}",
        data={}, data_json="{}", pdf=b"%PDF", data_sha256="0" * 64, pdf_sha256="0" * 64,
        doc_sha256=f"{n:064x}", issued_at=issued_at, issued_entry=n, **fields,
    )  # fmt: skip


def test_a_result_left_unsigned_is_chased_but_a_signed_one_or_a_disclosed_standard_is_not(cast, m):
    from kaohe.signing.models import AGREEMENT_SOURCE, DocumentState

    issued = at("2026-09-30T15:00:00")
    result = _document(cast.amy, "result", issued)
    _document(cast.amy, "standard", issued)
    _document(cast.olga, "result", issued, state=DocumentState.SIGNED)
    _document(cast.olga, "pip", issued, state=DocumentState.WITHDRAWN)
    spec = Spec(Kind.UNCONFIRMED, {"days": 3, "day_kind": "working"})
    assert evaluate(spec, at("2026-10-10T23:00:00")) == []
    found = evaluate(spec, at("2026-10-11T00:00:01"))
    assert [(f.subject, f.period) for f in found] == [("E0003", f"document:{result.pk}")]
    assert found[0].figures["document_id"] == str(result.public_id)
    # A target agreement issued as a document is chased through its document only.
    with time_machine.travel(issued, tick=False):
        version = do_draft_agreement(cast.hazel, cast.amy, "2026-Q4")
        do_set_items(cast.hazel, version, [ItemSpec(_metric("sales_amount"), "90000", 100)])
        do_publish_agreement(cast.hazel, version)
    assert len(evaluate(spec, at("2026-10-11T00:00:01"))) == 2
    agreement = _document(
        cast.amy, "agreement", issued, source_type=AGREEMENT_SOURCE, source_id=str(version.pk)
    )
    periods = {f.period for f in evaluate(spec, at("2026-10-11T00:00:01"))}
    assert periods == {f"document:{result.pk}", f"document:{agreement.pk}"}
