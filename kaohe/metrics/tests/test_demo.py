import datetime as dt
import random
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command

from kaohe.integrations.models import Source
from kaohe.ledger.models import Entry
from kaohe.lib.periods import Period
from kaohe.metrics import demo
from kaohe.metrics.attainment import scorecard
from kaohe.metrics.models import Actual, AgreementVersion, Fact, Metric, TargetAgreement

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 5, 20, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def load(*args) -> str:
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def user(name):
    return get_user_model().objects.get(username=name)


def figure(card, code):
    return next(f for f in card.figures if f.metric.code == code)


def snapshot() -> tuple:
    return (Entry.objects.count(), Fact.objects.count(), Actual.objects.count(),
            AgreementVersion.objects.count(), Metric.objects.count())  # fmt: skip


def test_the_demo_defines_the_metrics_the_agreements_and_a_few_months_of_facts():
    out = load()
    assert "10 defined" in out
    assert set(Metric.objects.values_list("code", flat=True)) == set(demo.METRICS)
    rate = Metric.objects.get(code="attendance_rate")
    assert (rate.numerator.code, rate.denominator.code) == ("days_present", "days_required")
    assert set(Source.objects.values_list("code", flat=True)) == set(demo.SOURCES)
    assert TargetAgreement.objects.filter(in_force__isnull=True).count() == 0
    periods = set(TargetAgreement.objects.values_list("period_kind", "period_start"))
    assert periods == {("year", dt.date(2026, 1, 1)), ("quarter", dt.date(2026, 4, 1))}
    months = set(Fact.objects.values_list("month", flat=True))
    assert months == {dt.date(2026, m, 1) for m in range(1, 6)}
    assert Entry.objects.filter(kind="metrics.agreement.published").count() == (
        TargetAgreement.objects.count()
    )


def test_the_regional_director_signed_targets_and_closes_no_deal():
    load()
    director = user("director").employee
    assert TargetAgreement.objects.filter(employee=director, in_force__isnull=False).count() == 2
    assert not Fact.objects.filter(employee=director, metric__code="sales_amount").exists()
    card = scorecard(director, Period.parse("2026-Q2"))
    sales = figure(card, "sales_amount")
    assert (sales.actual, sales.attainment) == (0, 0)
    assert card.score < 40  # only attendance, satisfaction and overtime score
    rep = user("employee").employee
    assert figure(scorecard(rep, Period.parse("2026-Q2")), "sales_amount").actual > 0


def test_a_second_run_changes_nothing():
    load()
    before = snapshot()
    out = load()
    assert "already loaded" in out and "0 facts new or changed" in out
    assert snapshot() == before


def test_the_facts_follow_the_seed():
    load()
    people = demo.sales_people()
    today = dt.date(2026, 5, 20)

    def batches(seed):
        return demo.fact_batches(people, random.Random(seed), today)

    assert batches(1) == batches(1)
    assert batches(1) != batches(2)
    items = [item for source in batches(1).values() for item in source]
    assert all(item["occurred_at"] <= "2026-05-20T23:59" for item in items)
