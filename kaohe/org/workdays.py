"""The company's working-day calendar: kaohe.lib.workdays with the admins' overrides.

`company_calendar()` costs one small query (the override rows) and rebuilds the calendar
only when they differ from the ones it was built with, so every process sees an override
as soon as it is committed, and a sweep that keeps one calendar pays for each year's tables
once.
"""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

from kaohe.lib import clock
from kaohe.lib.workdays import WorkCalendar, YearSource
from kaohe.org.models import Company, WorkdayOverride

_lock = threading.Lock()
_cached: tuple[tuple, WorkCalendar] | None = None


def company_calendar() -> WorkCalendar:
    """The calendar with the overrides as they are now in the database."""
    global _cached
    rows = tuple(WorkdayOverride.objects.order_by("date").values_list("date", "is_working_day"))
    with _lock:
        if _cached is None or _cached[0] != rows:
            _cached = (rows, WorkCalendar(dict(rows)))
        return _cached[1]


def company_deadline(start: dt.datetime, days: int, kind: str | None = None) -> dt.datetime:
    """The deadline moment of `days` days from `start` in the company's timezone.

    `kind` defaults to the company's setting (calendar or working days); see
    kaohe.lib.workdays for how days are counted.
    """
    company = Company.get()
    zone = ZoneInfo(company.timezone)
    return company_calendar().deadline(start, days, kind or company.deadline_day_kind, zone)


def years_in_use(company: Company | None = None) -> list[int]:
    """The years deadlines fall in now: this year and the next, in the company's timezone."""
    company = company or Company.get()
    year = clock.today(company.timezone).year
    return [year, year + 1]


def year_sources(years: list[int] | None = None) -> list[YearSource]:
    """Where each year's schedule comes from (official, estimated) and its overrides."""
    calendar = company_calendar()
    return [calendar.source(year) for year in years or years_in_use()]


def estimated_years(years: list[int] | None = None) -> list[YearSource]:
    """The years in use whose schedule is only estimated: HR should enter the official one."""
    return [source for source in year_sources(years) if source.is_estimated]
