"""Working days in mainland China: the official schedule, an estimate, and admin overrides.

Which days are working days, for one date, is decided in this order:

1. an admin override for that date (`WorkCalendar(overrides)`);
2. the official schedule of the State Council, as published each year (国务院办公厅关于
   部分节假日安排的通知) and kept in the `chinese_calendar` package (2004 to the last year
   it knows), including the make-up working days on weekends (调休);
3. for any other year, an estimate: Monday to Friday minus the statutory holidays computed
   by rule in the `holidays` package (a holiday on a weekend moves to the next weekday),
   without make-up days, since those are only known once the State Council publishes them.

Deadlines count from the day of the start, in the company's timezone: a deadline of N days
ends with the Nth day after the day of the start (calendar days, or working days for
`WORKING`); the day of the start itself never counts, whatever its hour. The deadline moment
is the midnight that ends that day, the first instant at which the deadline has passed.
"""

import datetime as dt
import functools
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from zoneinfo import ZoneInfo

CALENDAR = "calendar"
WORKING = "working"
OFFICIAL = "official"
ESTIMATED = "estimated"
DAY_KINDS = (CALENDAR, WORKING)


@dataclass(frozen=True)
class YearSource:
    """Where a year's schedule comes from, so pages can warn about estimated years."""

    year: int
    source: str  # OFFICIAL or ESTIMATED
    overrides: int  # admin overrides dated in this year

    @property
    def is_estimated(self) -> bool:
        return self.source == ESTIMATED


@functools.cache
def base_rest_days(year: int) -> tuple[frozenset[dt.date], str]:
    """The rest days of a year before overrides, and their source (OFFICIAL or ESTIMATED)."""
    official = _official_rest_days(year)
    if official is not None:
        return official, OFFICIAL
    return _estimated_rest_days(year), ESTIMATED


def _days_of(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range((dt.date(year, 12, 31) - first).days + 1)]


def _official_rest_days(year: int) -> frozenset[dt.date] | None:
    import chinese_calendar

    try:
        return frozenset(day for day in _days_of(year) if not chinese_calendar.is_workday(day))
    except NotImplementedError:  # the package raises this for a year it has no data for
        return None


def _estimated_rest_days(year: int) -> frozenset[dt.date]:
    import holidays

    statutory = holidays.China(years=year)  # observed days included: the 补假 rule
    return frozenset(day for day in _days_of(year) if day.weekday() >= 5 or day in statutory)


class WorkCalendar:
    """The working-day calendar with a company's overrides ({date: is_working_day}).

    Immutable once built; each year's tables are computed on first use and kept, so one
    calendar serves a whole sweep. Build a new one when the overrides change.
    """

    def __init__(self, overrides: Mapping[dt.date, bool] | None = None):
        self.overrides: Mapping[dt.date, bool] = MappingProxyType(dict(overrides or {}))
        self._rest: dict[int, frozenset[dt.date]] = {}
        self._working: dict[int, list[int]] = {}
        self._deadlines: dict[tuple, dt.datetime] = {}  # (day, days, kind, tz) -> moment

    def source(self, year: int) -> YearSource:
        _rest, source = base_rest_days(_check_year(year))
        overrides = sum(1 for day in self.overrides if day.year == year)
        return YearSource(year, source, overrides)

    def is_working_day(self, day: dt.date) -> bool:
        return day not in self.rest_days(day.year)

    def rest_days(self, year: int) -> frozenset[dt.date]:
        """The year's rest days, overrides applied."""
        rest = self._rest.get(year)
        if rest is None:
            rest = self._rest[year] = self._build_rest_days(year)
        return rest

    def _build_rest_days(self, year: int) -> frozenset[dt.date]:
        base, _source = base_rest_days(_check_year(year))
        ours = {day: working for day, working in self.overrides.items() if day.year == year}
        working = {day for day, is_working in ours.items() if is_working}
        resting = {day for day, is_working in ours.items() if not is_working}
        return frozenset((base - working) | resting)

    def _working_ordinals(self, year: int) -> list[int]:
        ordinals = self._working.get(year)
        if ordinals is None:
            rest = self.rest_days(year)
            ordinals = [day.toordinal() for day in _days_of(year) if day not in rest]
            self._working[year] = ordinals
        return ordinals

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The Nth working day after `day` (before it when N < 0); `day` itself never counts.

        `add_working_days(day, 0)` is `day`, working day or not.
        """
        if n >= 0:
            return self._forward(day, n) if n else day
        return self._backward(day, -n)

    def _forward(self, day: dt.date, n: int) -> dt.date:
        year = day.year
        ordinals = self._working_ordinals(year)
        i = bisect_right(ordinals, day.toordinal())
        while i + n > len(ordinals):
            n -= len(ordinals) - i
            year += 1
            ordinals, i = self._working_ordinals(year), 0
        return dt.date.fromordinal(ordinals[i + n - 1])

    def _backward(self, day: dt.date, n: int) -> dt.date:
        year = day.year
        ordinals = self._working_ordinals(year)
        i = bisect_left(ordinals, day.toordinal())
        while i - n < 0:
            n -= i
            year -= 1
            ordinals = self._working_ordinals(year)
            i = len(ordinals)
        return dt.date.fromordinal(ordinals[i - n])

    def count_working_days(self, start: dt.date, end: dt.date) -> int:
        """Working days stepped onto going from `start` to `end`: those in (start, end].

        Negative when `end` is before `start` (minus those in [end, start)), so that
        `count_working_days(day, add_working_days(day, n)) == n` for every n.
        """
        if end < start:
            return -self._count_from(end, start, bisect_left)
        return self._count_from(start, end, bisect_right)

    def _count_from(self, low: dt.date, high: dt.date, bisect) -> int:
        # Working days in (low, high] with bisect_right, in [low, high) with bisect_left.
        total = 0
        for year in range(low.year, high.year + 1):
            ordinals = self._working_ordinals(year)
            start = bisect(ordinals, low.toordinal()) if year == low.year else 0
            stop = bisect(ordinals, high.toordinal()) if year == high.year else len(ordinals)
            total += stop - start
        return total

    def deadline_date(self, start_day: dt.date, days: int, kind: str) -> dt.date:
        """The last day of a deadline of `days` days (of `kind`) counted from `start_day`."""
        _check_deadline(days, kind)
        if kind == CALENDAR:
            return start_day + dt.timedelta(days=days)
        return self.add_working_days(start_day, days)

    def deadline(self, start: dt.datetime, days: int, kind: str, tz: ZoneInfo) -> dt.datetime:
        """The moment a deadline of `days` days from `start` has passed, aware, in `tz`.

        That is the midnight (in `tz`) ending the day `deadline_date` gives for the day of
        `start` in `tz`: for 3 working days from 2026-09-30 15:00 Shanghai, the end of
        Saturday 2026-10-10 (a make-up working day), i.e. 2026-10-11 00:00+08:00.
        """
        key = (start.astimezone(tz).date(), days, kind, tz)
        moment = self._deadlines.get(key)
        if moment is None:  # a sweep meets the same few start days again and again
            last = self.deadline_date(key[0], days, kind)
            moment = self._deadlines[key] = start_of_day(last + dt.timedelta(days=1), tz)
        return moment

    def overdue_cutoff(self, now: dt.datetime, days: int, kind: str, tz: ZoneInfo) -> dt.datetime:
        """The moment before which every start is overdue at `now`.

        `start < overdue_cutoff(now, ...)` exactly when `now >= deadline(start, ...)`, so a
        sweep selects overdue rows with one SQL comparison instead of one deadline per row.
        """
        _check_deadline(days, kind)
        today = now.astimezone(tz).date()
        if kind == CALENDAR or days == 0:
            return start_of_day(today - dt.timedelta(days=days), tz)
        return start_of_day(self.add_working_days(today, -days), tz)


def start_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Midnight at the start of `day` in `tz`, aware."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def _check_deadline(days: int, kind: str) -> None:
    if kind not in DAY_KINDS:
        raise ValueError(f"unknown kind of days {kind!r}; expected one of {DAY_KINDS}")
    if days < 0:
        raise ValueError(f"a deadline needs 0 or more days, not {days}")


def _check_year(year: int) -> int:
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise ValueError(f"year {year} is outside the calendar")
    return year
