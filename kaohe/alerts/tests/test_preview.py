"""The preview and backtest of a rule not yet saved, over the reference story: Amy's Q1 2026
agreement is 100,000 a month; she sells 50,000 in January, 70,000 in February, nothing
in March."""

import datetime as dt
import re

import pytest
import time_machine

from kaohe.alerts.kinds import Spec
from kaohe.alerts.models import Alert, Kind
from kaohe.alerts.preview import month_ends, preview
from kaohe.alerts.tests.story import amy_below_target, at
from kaohe.ledger.models import Entry
from kaohe.lib import clock
from kaohe.notify.models import Notification

pytestmark = pytest.mark.django_db

BELOW = Spec(Kind.ATTAINMENT, {"metric": "", "threshold": "80", "periods": 2})


@pytest.fixture
def story(cast):
    return amy_below_target(cast)


def run(spec: Spec, when: str):
    with time_machine.travel(at(when), tick=False):
        return preview(spec, clock.now())


def test_a_backtest_over_2026_finds_amy_in_march_and_april(story):
    result = run(BELOW, "2027-01-05T09:00:00")
    assert [m.label for m in result.months] == [f"2026-{n:02d}" for n in range(1, 13)]
    flagged = {m.label: [f.subject for f in m.employees] for m in result.months if m.count}
    assert flagged == {"2026-03": ["E0003"], "2026-04": ["E0003"]}
    march = result.months[2].employees[0]
    assert (march.name, march.unit, march.period) == ("艾米", "华东销售部", "2026-02")
    assert march.figures["attainment"] == ["50.00", "70.00"]
    assert result.today == [] and result.population == 4 and result.warnings == []


def test_today_lists_whom_the_rule_flags_now_with_name_and_unit(story):
    result = run(BELOW, "2026-03-05T09:00:00")
    assert [(f.subject, f.name, f.unit) for f in result.today] == [("E0003", "艾米", "华东销售部")]
    assert result.months[-1].label == "2026-02" and result.months[-1].count == 0


def test_the_month_ends_are_the_last_instants_of_each_month_in_the_company_timezone(cast):
    ends = month_ends(at("2026-03-01T00:00:00"), 2)
    assert [label for label, _moment in ends] == ["2026-01", "2026-02"]
    assert ends[-1][1] == at("2026-03-01T00:00:00") - dt.timedelta(microseconds=1)


def test_a_preview_writes_nothing(story):
    counts = (Alert.objects.count(), Entry.objects.count(), Notification.objects.count())
    run(BELOW, "2027-01-05T09:00:00")
    run(Spec(Kind.CUSTOM, {"expression": "score[11] < 80"}), "2026-03-05T09:00:00")
    assert (Alert.objects.count(), Entry.objects.count(), Notification.objects.count()) == counts


def test_a_rule_flagging_half_the_scope_or_more_is_warned_about(story):
    result = run(Spec(Kind.CUSTOM, {"expression": "tenure_days > 0"}), "2026-03-05T09:00:00")
    assert len(result.today) == 4
    assert any(re.search(r"100%.*\b4\b|4.*100%", w) for w in result.warnings), result.warnings


def test_an_empty_scope_is_warned_about(story):
    result = run(Spec(Kind.ATTAINMENT, {}, positions=["宇航员"]), "2026-03-05T09:00:00")
    assert result.population == 0
    assert any(re.search(r"No one|没有|无人", w) for w in result.warnings)


def test_faulty_parameters_come_back_as_errors_and_nothing_is_evaluated(story):
    result = run(Spec(Kind.ATTAINMENT, {"threshold": "abc", "periods": 99}), "2026-03-05T09:00:00")
    assert set(result.errors) == {"threshold", "periods"}
    assert result.today == [] and result.months == []
    bad = run(Spec(Kind.CUSTOM, {"expression": "score <"}), "2026-03-05T09:00:00")
    assert re.search(r"column 8|第", bad.errors["expression"])


def test_employees_whose_expression_fails_are_counted_not_flagged(story):
    result = run(Spec(Kind.CUSTOM, {"expression": "score[11] < 80"}), "2026-03-05T09:00:00")
    assert [f.subject for f in result.today] == ["E0003"]
    assert result.failures == 3  # Dora, Mike and Olga have no score: null < 80
    assert any("E000" in w for w in result.warnings)


def test_the_backtest_sees_a_task_as_it_stood_and_counts_each_alert_once(cast):
    """A task due 2026-01-05 and done on 2026-03-10 was overdue at the end of January and
    February: one alert (raised in January), none after it was done."""
    from kaohe.pips.models import Plan, Task

    plan = Plan.objects.create(
        employee=cast.amy, title="PIP", starts_on=dt.date(2026, 1, 1),
        due_on=dt.date(2026, 12, 31), created_at=at("2026-01-01T09:00:00"),
    )  # fmt: skip
    Task.objects.create(plan=plan, title="T", due_on=dt.date(2026, 1, 5),
                        done_at=at("2026-03-10T09:00:00"))  # fmt: skip
    spec = Spec(Kind.PIP_OVERDUE, {"days": 10, "day_kind": "calendar"})
    result = run(spec, "2026-12-05T09:00:00")
    counts = {m.label: m.count for m in result.months if m.count}
    assert counts == {"2026-01": 1}
