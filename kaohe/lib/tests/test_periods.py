import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaohe.lib.periods import Period, PeriodError, PeriodKind, add_months, month_of


@pytest.mark.parametrize(
    ("label", "start", "kind", "months"),
    [
        ("2026-01", dt.date(2026, 1, 1), PeriodKind.MONTH, 1),
        ("2026-12", dt.date(2026, 12, 1), PeriodKind.MONTH, 1),
        ("2026-Q1", dt.date(2026, 1, 1), PeriodKind.QUARTER, 3),
        ("2026-Q4", dt.date(2026, 10, 1), PeriodKind.QUARTER, 3),
        ("2026-H2", dt.date(2026, 7, 1), PeriodKind.HALF, 6),
        ("2026", dt.date(2026, 1, 1), PeriodKind.YEAR, 12),
    ],
)
def test_it_reads_the_labels_of_the_api(label, start, kind, months):
    period = Period.parse(label)

    assert (period.start, period.kind, len(period.months)) == (start, kind, months)
    assert period.label == label


@pytest.mark.parametrize(
    "label", ["2026-13", "2026-00", "2026-Q5", "2026-H3", "26-01", "2026-1", "1999", "Q1", "", None]
)
def test_it_names_what_is_expected_for_a_bad_label(label):
    with pytest.raises(PeriodError, match=r"2026-Q1|year|month"):
        Period.parse(label)


def test_a_period_must_start_on_its_boundary():
    with pytest.raises(PeriodError):
        Period(dt.date(2026, 2, 1), PeriodKind.QUARTER)


def test_the_end_is_the_first_day_after():
    q4 = Period.parse("2026-Q4")

    assert q4.end == dt.date(2027, 1, 1)
    assert dt.date(2026, 12, 31) in q4 and dt.date(2027, 1, 1) not in q4
    assert q4.next().label == "2027-Q1" and q4.previous().label == "2026-Q3"


def test_a_month_is_taken_in_the_given_timezone():
    moment = dt.datetime(2026, 1, 31, 20, 0, tzinfo=dt.UTC)

    assert month_of(moment, ZoneInfo("Asia/Shanghai")) == dt.date(2026, 2, 1)
    assert month_of(moment, dt.UTC) == dt.date(2026, 1, 1)


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), st.sampled_from(list(PeriodKind)))
def test_the_period_containing_a_day_contains_it_and_round_trips(day, kind):
    period = Period.containing(kind, day)

    assert day in period
    assert Period.parse(period.label) == period
    assert period.months == [add_months(period.start, i) for i in range(len(period.months))]


@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)), st.integers(-1200, 1200))
def test_adding_months_lands_on_a_first_day(day, months):
    result = add_months(day, months)

    assert result.day == 1
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
