import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kaohe.lib.periods import Period
from kaohe.metrics.actions import ItemSpec, do_draft_agreement, do_publish_agreement, do_set_items
from kaohe.metrics.attainment import (
    Actuals,
    percent,
    rounded,
    scorecard,
    scorecards,
    weighted_score,
)
from kaohe.metrics.ingest import ingest_facts
from kaohe.metrics.models import Actual, Aggregation, Direction, Unit
from kaohe.metrics.testing import make_metric, make_sales_metrics
from kaohe.org.actions import do_move_employee
from kaohe.org.testing import make_unit

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 4, 20, 2, 0, tzinfo=dt.UTC)
Q1 = Period.parse("2026-Q1")
JAN, FEB, MAR = (Period.parse(f"2026-{m:02d}") for m in (1, 2, 3))


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def m(cast):
    metrics = make_sales_metrics()
    metrics["overtime"] = make_metric(
        "overtime_hours", unit=Unit.HOURS, direction=Direction.LOWER, sources=["attendance"]
    )
    metrics["csat"] = make_metric("csat", Aggregation.AVERAGE, unit=Unit.SCORE)
    return metrics


def put(employee, metric, month: str, total="0", count=1, unit=None, latest=None, at=None):
    """An Actual row as ingest would keep it: total in ten-thousandths."""
    Actual.objects.create(
        employee=employee,
        metric=metric,
        month=dt.date.fromisoformat(month + "-01"),
        org_unit=unit or employee.org_unit,
        total_e4=int(Decimal(total) * 10_000),
        count=count,
        latest_value=None if latest is None else Decimal(latest),
        latest_at=at,
        updated_at=NOW,
    )


def agree(cast, period, *items, actor=None):
    actor = actor or cast.hazel
    version = do_draft_agreement(actor, cast.amy, period)
    do_set_items(actor, version, list(items))
    return do_publish_agreement(actor, version)


def figure(card, code):
    return next(f for f in card.figures if f.metric.code == code)


# --- the pure rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "target", "direction", "expected"),
    [
        ("30", "100", "higher", "30"),
        ("150", "100", "higher", "150"),
        ("-20", "100", "higher", "-20"),
        ("100", "100", "lower", "100"),
        ("50", "100", "lower", "150"),
        ("0", "100", "lower", "200"),
        ("200", "100", "lower", "0"),
        ("300", "100", "lower", "-100"),
        ("0", "0", "higher", "100"),
        ("5", "0", "higher", "100"),
        ("-5", "0", "higher", "0"),
        ("0", "0", "lower", "100"),
        ("3", "0", "lower", "0"),
    ],
)
def test_attainment_follows_the_direction_and_handles_a_zero_target(
    actual, target, direction, expected
):
    assert percent(Decimal(actual), Decimal(target), direction) == Decimal(expected)


def test_no_actual_or_no_target_is_no_attainment_not_zero():
    assert percent(None, Decimal(1), "higher") is None
    assert percent(Decimal(1), None, "higher") is None


def test_the_weighted_score_is_uncapped_and_covers_only_what_has_figures():
    assert weighted_score([(Decimal(60), Decimal(150)), (Decimal(40), Decimal(50))]) == (
        Decimal(110),
        Decimal(100),
    )
    score, covered = weighted_score([(Decimal(60), Decimal(80)), (Decimal(40), None)])
    assert (score, covered) == (Decimal(80), Decimal(60))
    assert weighted_score([(Decimal(100), None)]) == (None, Decimal(0))
    assert weighted_score([]) == (None, Decimal(0))


def test_rounding_is_half_up_to_two_places():
    assert rounded(Decimal("33.335")) == Decimal("33.34")
    assert rounded(None) is None


# --- period actuals from monthly rows -----------------------------------------------------


def test_a_quarter_adds_its_months_and_a_transfer_splits_no_figure(cast, m):
    put(cast.amy, m["sales_amount"], "2026-01", "100000.5")
    put(cast.amy, m["sales_amount"], "2026-02", "20000", unit=cast.east)
    put(cast.amy, m["sales_amount"], "2026-02", "30000", unit=cast.east_sales)
    put(cast.amy, m["sales_amount"], "2026-04", "999")  # outside the quarter
    actuals = Actuals.load(cast.amy, Q1.start, Q1.end, dt.date(2026, 2, 27))
    assert actuals.actual(m["sales_amount"], Q1) == Decimal("150000.5")
    assert actuals.actual(m["sales_amount"], FEB) == Decimal("50000")
    assert actuals.actual(m["sales_amount"], MAR) is None  # yet to come


def test_a_sum_or_count_of_nothing_is_0_once_begun_but_an_average_or_ratio_has_none(cast, m):
    actuals = Actuals.load(cast.amy, Q1.start, Q1.end, dt.date(2026, 3, 1))
    assert actuals.actual(m["sales_amount"], MAR) == 0
    assert actuals.actual(m["deals_signed"], Q1) == 0
    assert actuals.actual(m["sales_amount"], Period.parse("2026-04")) is None
    for code in ("csat", "satisfaction", "attendance_rate"):
        assert actuals.actual(m[code], Q1) is None, code


def test_a_count_adds_the_number_of_records(cast, m):
    put(cast.amy, m["deals_signed"], "2026-01", "5000000", count=3)
    put(cast.amy, m["deals_signed"], "2026-03", "1", count=2)
    assert Actuals.load(cast.amy, Q1.start, Q1.end).actual(m["deals_signed"], Q1) == 5


def test_an_average_weighs_every_record_alike(cast, m):
    put(cast.amy, m["csat"], "2026-01", "18", count=2)  # 9 and 9
    put(cast.amy, m["csat"], "2026-02", "24", count=4)  # 6 each
    assert Actuals.load(cast.amy, Q1.start, Q1.end).actual(m["csat"], Q1) == Decimal(7)


def test_latest_takes_the_newest_value_across_months_and_units(cast, m):
    at = dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
    put(cast.amy, m["satisfaction"], "2026-01", latest="4.5", at=at - dt.timedelta(days=20))
    put(cast.amy, m["satisfaction"], "2026-02", latest="3.9", at=at, unit=cast.east)
    put(cast.amy, m["satisfaction"], "2026-02", latest="4.1", at=at - dt.timedelta(hours=1))
    actuals = Actuals.load(cast.amy, Q1.start, Q1.end)
    assert actuals.actual(m["satisfaction"], Q1) == Decimal("3.9")
    assert actuals.actual(m["satisfaction"], JAN) == Decimal("4.5")


def test_a_ratio_divides_its_parts_over_the_whole_period_as_a_percent(cast, m):
    put(cast.amy, m["days_present"], "2026-01", "20")
    put(cast.amy, m["days_required"], "2026-01", "21")
    put(cast.amy, m["days_present"], "2026-02", "19")
    put(cast.amy, m["days_required"], "2026-02", "19")
    actuals = Actuals.load(cast.amy, Q1.start, Q1.end)
    assert rounded(actuals.actual(m["attendance_rate"], Q1)) == Decimal("97.50")
    assert actuals.actual(m["attendance_rate"], FEB) == 100
    assert actuals.actual(m["attendance_rate"], MAR) is None


def test_a_ratio_over_nothing_required_has_no_value(cast, m):
    put(cast.amy, m["days_present"], "2026-01", "0")
    put(cast.amy, m["days_required"], "2026-01", "0")
    assert Actuals.load(cast.amy, Q1.start, Q1.end).actual(m["attendance_rate"], Q1) is None


# --- targets and scorecards ---------------------------------------------------------------


def test_an_employee_at_30_percent_of_her_quarter(cast, m):
    agree(cast, Q1, ItemSpec(m["sales_amount"], "300000", "100"))
    put(cast.amy, m["sales_amount"], "2026-01", "60000")
    put(cast.amy, m["sales_amount"], "2026-02", "30000")
    card = scorecard(cast.amy, Q1)
    sales = figure(card, "sales_amount")
    assert (sales.actual, sales.target, sales.attainment) == (90000, 300000, 30)
    assert card.score == 30 and card.covered == 100
    assert [(f.month.label, f.target, f.actual) for f in sales.months] == [
        ("2026-01", 100000, 60000),
        ("2026-02", 100000, 30000),
        ("2026-03", 100000, 0),  # nothing sold in March
    ]
    assert sales.months[2].attainment == 0


def test_refunds_make_attainment_negative_and_big_deals_push_it_past_100(cast, m):
    agree(cast, Q1, ItemSpec(m["sales_amount"], "100000", "100"))
    put(cast.amy, m["sales_amount"], "2026-01", "-25000")
    assert scorecard(cast.amy, Q1).score == -25
    put(cast.amy, m["sales_amount"], "2026-02", "275000")
    assert scorecard(cast.amy, Q1).score == 250


def test_a_monthly_split_sets_each_months_target(cast, m):
    split = {"2026-01": "50000", "2026-03": "250000"}
    agree(cast, Q1, ItemSpec(m["sales_amount"], "300000", "100", split))
    put(cast.amy, m["sales_amount"], "2026-02", "10")
    months = figure(scorecard(cast.amy, Q1), "sales_amount").months
    assert [f.target for f in months] == [50000, 0, 250000]
    assert months[1].attainment == 100  # a target of 0 is met
    assert figure(scorecard(cast.amy, JAN), "sales_amount").target == 50000


def test_a_month_inside_a_year_agreement_takes_an_even_share_or_the_same_rate(cast, m):
    agree(
        cast,
        Period.parse("2026"),
        ItemSpec(m["sales_amount"], "1200000", "50"),
        ItemSpec(m["attendance_rate"], "95", "30"),
        ItemSpec(m["satisfaction"], "4.5", "20"),
    )
    card = scorecard(cast.amy, FEB)
    assert figure(card, "sales_amount").target == 100000
    assert figure(card, "attendance_rate").target == 95
    assert figure(card, "satisfaction").target == Decimal("4.5")
    assert figure(scorecard(cast.amy, Q1), "sales_amount").target == 300000


def test_the_smallest_agreement_in_force_covering_the_period_sets_its_targets(cast, m):
    agree(cast, Period.parse("2026"), ItemSpec(m["sales_amount"], "1200000", "100"))
    agree(cast, Q1, ItemSpec(m["sales_amount"], "600000", "100"))
    draft = do_draft_agreement(cast.hazel, cast.amy, JAN)  # a draft sets nothing
    do_set_items(cast.hazel, draft, [ItemSpec(m["sales_amount"], "1", "100")])
    assert figure(scorecard(cast.amy, JAN), "sales_amount").target == 200000
    assert figure(scorecard(cast.amy, Period.parse("2026-Q2")), "sales_amount").target == 300000
    assert scorecard(cast.amy, Period.parse("2025-Q4")).agreement is None


def test_lower_is_better_counts_overtime_under_the_limit_as_over_100(cast, m):
    agree(cast, Q1, ItemSpec(m["overtime"], "30", "100"))
    put(cast.amy, m["overtime"], "2026-01", "12")
    assert figure(scorecard(cast.amy, Q1), "overtime_hours").attainment == 160


def test_the_weighted_score_of_an_agreement(cast, m):
    agree(
        cast,
        Q1,
        ItemSpec(m["sales_amount"], "300000", "60"),
        ItemSpec(m["deals_signed"], "10", "20"),
        ItemSpec(m["attendance_rate"], "100", "20"),
    )
    put(cast.amy, m["sales_amount"], "2026-01", "450000")  # 150 %
    put(cast.amy, m["deals_signed"], "2026-01", "0", count=5)  # 50 %
    put(cast.amy, m["days_present"], "2026-01", "18")
    put(cast.amy, m["days_required"], "2026-01", "20")  # 90 %
    card = scorecard(cast.amy, Q1)
    assert card.score == Decimal(90 + 10 + 18)
    assert [f.metric.code for f in card.targeted] == [
        "sales_amount",
        "attendance_rate",
        "deals_signed",
    ]
    assert {f.metric.code for f in card.untargeted} == {"days_present", "days_required"}


def test_without_data_or_agreement_the_figures_are_none_not_zero(cast, m):
    card = scorecard(cast.amy, Q1)
    assert (card.agreement, card.figures, card.score) == (None, [], None)
    q3 = Period.parse("2026-Q3")
    agree(cast, q3, ItemSpec(m["sales_amount"], "300000", "60"),
          ItemSpec(m["satisfaction"], "4.5", "40"))  # fmt: skip
    card = scorecard(cast.amy, q3)  # ahead of us
    sales = figure(card, "sales_amount")
    assert (sales.actual, sales.target, sales.attainment, card.score) == (None, 300000, None, None)
    agree(cast, Q1, ItemSpec(m["sales_amount"], "300000", "60"),
          ItemSpec(m["satisfaction"], "4.5", "40"))  # fmt: skip
    card = scorecard(cast.amy, Q1)  # behind us: nothing sold, no survey
    assert [(f.actual, f.attainment) for f in card.figures] == [(0, 0), (None, None)]
    assert (card.score, card.covered) == (0, 60)
    put(cast.amy, m["deals_signed"], "2026-01", "0", count=2)
    other = figure(scorecard(cast.amy, Q1), "deals_signed")
    assert (other.actual, other.target, other.weight) == (2, None, None)


def test_a_mid_month_transfer_attributes_facts_by_their_time_and_keeps_her_total(cast, m):
    west = make_unit("WEST", "华西大区", cast.root)
    with time_machine.travel(dt.datetime(2026, 2, 16, 2, 0, tzinfo=dt.UTC), tick=False):
        do_move_employee(cast.ada, cast.amy, west, dt.date(2026, 2, 16))
    agree(cast, Q1, ItemSpec(m["sales_amount"], "300000", "100"), actor=cast.ada)
    deals = [
        {"external_id": "D-1", "employee": "E0003", "metric": "sales_amount",
         "value": "40000", "occurred_at": "2026-02-10T10:00:00+08:00"},
        {"external_id": "D-2", "employee": "E0003", "metric": "sales_amount",
         "value": "50000", "occurred_at": "2026-02-20T10:00:00+08:00"},
    ]  # fmt: skip
    assert ingest_facts("crm", deals, None).counts()["created"] == 2
    rows = Actual.objects.filter(employee=cast.amy).values_list("org_unit__code", "total_e4")
    assert sorted(rows) == [("EAST-S", 400_000_000), ("WEST", 500_000_000)]
    card = scorecard(cast.amy, FEB)
    assert figure(card, "sales_amount").actual == 90000
    assert figure(card, "sales_amount").attainment == 90  # 90000 of a 100000 month


def test_a_scorecard_costs_the_same_few_queries_for_one_month_or_24_of_data(cast, m):
    agree(cast, Period.parse("2025"), ItemSpec(m["sales_amount"], "1200000", "100"))
    agree(cast, Q1, ItemSpec(m["sales_amount"], "300000", "50"),
          ItemSpec(m["attendance_rate"], "95", "50"))  # fmt: skip
    years = [Period.parse("2025"), Period.parse("2026")]

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scorecards(cast.amy, years)
        return len(captured)

    put(cast.amy, m["sales_amount"], "2025-01", "1")
    few = queries()
    for year in (2025, 2026):
        for month in range(1, 13):
            label = f"{year}-{month:02d}"
            if label != "2025-01":
                put(cast.amy, m["sales_amount"], label, "1000")
            for code in ("days_present", "days_required", "deals_signed", "csat"):
                put(cast.amy, m[code], label, "20")
    assert queries() == few <= 5
