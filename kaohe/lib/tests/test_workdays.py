"""Working days: the 2026 schedule of the State Council, the estimate, overrides, deadlines.

The 2026 dates come from 国务院办公厅关于2026年部分节假日安排的通知 (国办发明电〔2025〕7号,
gov.cn, November 2025), as the chinese_calendar package records them:
- 春节: 2月15日（农历腊月二十八）至23日放假调休，共9天。2月14日（星期六）、2月28日（星期六）上班。
- 国庆节、中秋节: 10月1日至7日放假调休，共7天。9月20日（星期日）、10月10日（星期六）上班。
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaohe.lib.workdays import CALENDAR, ESTIMATED, OFFICIAL, WORKING, WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = dt.date


def days(first: D, last: D) -> list[D]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def test_national_day_2026_is_seven_days_off_with_two_weekend_make_up_days():
    calendar = WorkCalendar()
    assert not any(calendar.is_working_day(day) for day in days(D(2026, 10, 1), D(2026, 10, 7)))
    assert calendar.is_working_day(D(2026, 9, 20))  # a Sunday
    assert calendar.is_working_day(D(2026, 10, 10))  # a Saturday
    assert calendar.is_working_day(D(2026, 9, 30))
    assert calendar.is_working_day(D(2026, 10, 8))
    assert not calendar.is_working_day(D(2026, 10, 11))  # an ordinary Sunday


def test_three_working_days_from_the_eve_of_national_day_end_with_the_make_up_saturday():
    calendar = WorkCalendar()
    start = dt.datetime(2026, 9, 30, 15, 0, tzinfo=SHANGHAI)
    assert calendar.deadline_date(start.date(), 3, WORKING) == D(2026, 10, 10)
    assert calendar.deadline(start, 3, WORKING, SHANGHAI) == dt.datetime(
        2026, 10, 11, tzinfo=SHANGHAI
    )
    assert calendar.deadline(start, 3, CALENDAR, SHANGHAI) == dt.datetime(
        2026, 10, 4, tzinfo=SHANGHAI
    )


def test_the_day_of_the_start_is_taken_in_the_company_timezone():
    # 2026-10-09 17:00 UTC is already Saturday 10 October 01:00 in Shanghai: counting
    # starts after the make-up Saturday, so the third working day is Wednesday 14 October
    # (by the UTC date it would be Tuesday 13 October).
    start = dt.datetime(2026, 10, 9, 17, 0, tzinfo=dt.UTC)
    deadline = WorkCalendar().deadline(start, 3, WORKING, SHANGHAI)
    assert deadline == dt.datetime(2026, 10, 15, tzinfo=SHANGHAI)
    assert deadline.tzinfo is SHANGHAI


def test_spring_festival_2026_is_nine_days_off_with_two_saturdays_worked():
    calendar = WorkCalendar()
    assert not any(calendar.is_working_day(day) for day in days(D(2026, 2, 15), D(2026, 2, 23)))
    assert calendar.is_working_day(D(2026, 2, 14))
    assert calendar.is_working_day(D(2026, 2, 28))
    assert calendar.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert calendar.add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)
    assert calendar.count_working_days(D(2026, 2, 13), D(2026, 2, 28)) == 6


def test_an_override_beats_the_official_schedule():
    calendar = WorkCalendar({D(2026, 10, 9): False, D(2026, 10, 3): True})
    assert not calendar.is_working_day(D(2026, 10, 9))
    assert calendar.is_working_day(D(2026, 10, 3))
    assert calendar.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)  # 3, 8, 10
    assert calendar.source(2026).overrides == 2


def test_2026_is_official_and_2027_is_estimated():
    calendar = WorkCalendar({D(2027, 10, 9): True})
    assert calendar.source(2026).source == OFFICIAL
    estimated = calendar.source(2027)
    assert (estimated.source, estimated.overrides, estimated.is_estimated) == (ESTIMATED, 1, True)


def test_2027_falls_back_to_statutory_holidays_by_rule_without_make_up_days():
    calendar = WorkCalendar()
    assert not calendar.is_working_day(D(2027, 10, 1))  # 国庆节, a Friday
    assert not calendar.is_working_day(D(2027, 10, 4))  # for 3 October, a Sunday (补假)
    assert calendar.is_working_day(D(2027, 10, 6))
    assert not calendar.is_working_day(D(2027, 10, 9))  # a Saturday: no make-up day guessed
    assert calendar.is_working_day(D(2027, 1, 4))


def test_counting_backwards_mirrors_adding():
    calendar = WorkCalendar()
    assert calendar.add_working_days(D(2026, 10, 10), -1) == D(2026, 10, 9)
    assert calendar.add_working_days(D(2026, 10, 8), -1) == D(2026, 9, 30)
    assert calendar.count_working_days(D(2026, 10, 8), D(2026, 9, 30)) == -1
    assert calendar.add_working_days(D(2027, 1, 1), -1) == D(2026, 12, 31)


def test_bad_arguments_are_refused_clearly():
    calendar = WorkCalendar()
    with pytest.raises(ValueError, match="kind"):
        calendar.deadline_date(D(2026, 1, 5), 3, "fortnights")
    with pytest.raises(ValueError, match="0 or more"):
        calendar.deadline_date(D(2026, 1, 5), -1, WORKING)
    with pytest.raises(ValueError):
        calendar.add_working_days(D(9999, 12, 30), 5)


dates = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
overrides = st.dictionaries(dates, st.booleans(), max_size=20)


@given(dates, st.integers(min_value=-400, max_value=400), overrides)
def test_adding_n_working_days_then_counting_gives_n(day, n, extra):
    calendar = WorkCalendar(extra)
    result = calendar.add_working_days(day, n)
    assert calendar.count_working_days(day, result) == n
    assert n == 0 or calendar.is_working_day(result)


@given(dates, dates, overrides)
def test_counting_matches_a_day_by_day_walk(start, end, extra):
    calendar = WorkCalendar(extra)
    one = dt.timedelta(days=1)
    if start <= end:
        sign, stepped_on = 1, days(start + one, end)
    else:
        sign, stepped_on = -1, days(end, start - one)
    expected = sign * sum(calendar.is_working_day(day) for day in stepped_on)
    assert calendar.count_working_days(start, end) == expected


moments = st.datetimes(
    min_value=dt.datetime(2024, 1, 1),
    max_value=dt.datetime(2028, 12, 31),
    timezones=st.just(dt.UTC),
)


@given(
    moments, moments, st.integers(min_value=0, max_value=30), st.sampled_from([CALENDAR, WORKING])
)
def test_the_overdue_cutoff_agrees_with_every_deadline(start, now, n, kind):
    calendar = WorkCalendar()
    cutoff = calendar.overdue_cutoff(now, n, kind, SHANGHAI)
    assert (start < cutoff) == (now >= calendar.deadline(start, n, kind, SHANGHAI))
