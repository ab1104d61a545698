import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from kaohe.org.actions import do_remove_workday_override, do_set_workday_override
from kaohe.org.models import Company, DayKind
from kaohe.org.workdays import company_calendar, company_deadline, estimated_years, year_sources

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
EVE_OF_NATIONAL_DAY = dt.datetime(2026, 9, 30, 15, 0, tzinfo=SHANGHAI)


def test_the_calendar_sees_an_override_as_soon_as_it_is_saved_and_removed(cast):
    assert company_calendar().is_working_day(dt.date(2026, 10, 9))
    do_set_workday_override(cast.ada, dt.date(2026, 10, 9), False, "公司周年庆")
    assert not company_calendar().is_working_day(dt.date(2026, 10, 9))
    do_set_workday_override(cast.ada, dt.date(2026, 10, 9), True)
    assert company_calendar().is_working_day(dt.date(2026, 10, 9))
    do_remove_workday_override(cast.ada, dt.date(2026, 10, 9))
    assert company_calendar().overrides == {}


def test_an_unchanged_calendar_is_reused_for_one_query(cast, django_assert_num_queries):
    do_set_workday_override(cast.ada, dt.date(2026, 10, 9), False)
    first = company_calendar()
    with django_assert_num_queries(1):
        assert company_calendar() is first


def test_the_company_deadline_counts_the_days_the_company_chose(cast):
    assert company_deadline(EVE_OF_NATIONAL_DAY, 3) == dt.datetime(2026, 10, 11, tzinfo=SHANGHAI)
    calendar_days = company_deadline(EVE_OF_NATIONAL_DAY, 3, DayKind.CALENDAR)
    assert calendar_days == dt.datetime(2026, 10, 4, tzinfo=SHANGHAI)


def test_the_deadline_ends_at_midnight_in_the_company_timezone(cast):
    Company.objects.update(timezone="Asia/Urumqi", deadline_day_kind=DayKind.CALENDAR)
    urumqi = ZoneInfo("Asia/Urumqi")
    deadline = company_deadline(EVE_OF_NATIONAL_DAY, 1)
    assert deadline == dt.datetime(2026, 10, 2, tzinfo=urumqi)
    assert deadline.utcoffset() == dt.timedelta(hours=6)


@time_machine.travel(dt.datetime(2026, 11, 28, 2, 0, tzinfo=dt.UTC), tick=False)
def test_late_in_2026_the_next_year_is_reported_as_estimated(cast):
    do_set_workday_override(cast.ada, dt.date(2027, 2, 20), True, "春节调休")
    assert [(s.year, s.source, s.overrides) for s in year_sources()] == [
        (2026, "official", 0),
        (2027, "estimated", 1),
    ]
    assert [s.year for s in estimated_years()] == [2027]
