"""Reporting periods: month, quarter, half-year and year, written "2026-01", "2026-Q1",
"2026-H1" and "2026" (the labels of the integration API).

A period is identified by its kind and its first day; every period is a whole number of
calendar months, so actuals kept per month add up to any period.
"""

import datetime as dt
import enum
import re
from dataclasses import dataclass


class PeriodKind(enum.StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF = "half"
    YEAR = "year"


MONTHS_IN = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.HALF: 6, PeriodKind.YEAR: 12}
FIRST_YEAR, LAST_YEAR = 2000, 2100

_LABEL = re.compile(r"^(\d{4})(?:-(?:(\d{2})|Q([1-4])|H([12])))?$")


class PeriodError(ValueError):
    """A period label that cannot be read; the message says what is expected."""


@dataclass(frozen=True, order=True)
class Period:
    start: dt.date
    kind: PeriodKind

    def __post_init__(self) -> None:
        size = MONTHS_IN[self.kind]
        if self.start.day != 1 or (self.start.month - 1) % size:
            raise PeriodError(f"{self.start} does not start a {self.kind}")

    @classmethod
    def parse(cls, label: str) -> "Period":
        """ "2026-01", "2026-Q1", "2026-H1" or "2026"; raises PeriodError otherwise."""
        match = _LABEL.match(label.strip()) if isinstance(label, str) else None
        if match is None:
            raise PeriodError(f"{label!r} is not a period: use 2026-01, 2026-Q1, 2026-H1 or 2026")
        year, month, quarter, half = match.groups()
        if not FIRST_YEAR <= int(year) <= LAST_YEAR:
            raise PeriodError(f"{label!r}: the year must lie between {FIRST_YEAR} and {LAST_YEAR}")
        if month is not None:
            if not 1 <= int(month) <= 12:
                raise PeriodError(f"{label!r}: the month must lie between 01 and 12")
            return cls(dt.date(int(year), int(month), 1), PeriodKind.MONTH)
        if quarter is not None:
            return cls(dt.date(int(year), 3 * int(quarter) - 2, 1), PeriodKind.QUARTER)
        if half is not None:
            return cls(dt.date(int(year), 6 * int(half) - 5, 1), PeriodKind.HALF)
        return cls(dt.date(int(year), 1, 1), PeriodKind.YEAR)

    @classmethod
    def containing(cls, kind: PeriodKind | str, day: dt.date) -> "Period":
        kind = PeriodKind(kind)
        size = MONTHS_IN[kind]
        month = (day.month - 1) // size * size + 1
        return cls(dt.date(day.year, month, 1), kind)

    @property
    def label(self) -> str:
        year, month = self.start.year, self.start.month
        match self.kind:
            case PeriodKind.MONTH:
                return f"{year}-{month:02d}"
            case PeriodKind.QUARTER:
                return f"{year}-Q{(month + 2) // 3}"
            case PeriodKind.HALF:
                return f"{year}-H{(month + 5) // 6}"
        return str(year)

    @property
    def chinese_label(self) -> str:
        """How documents name it: "2026年3月", "2026年第一季度", "2026年上半年", "2026年度"."""
        year, month = self.start.year, self.start.month
        match self.kind:
            case PeriodKind.MONTH:
                return f"{year}年{month}月"
            case PeriodKind.QUARTER:
                return f"{year}年第{'一二三四'[(month - 1) // 3]}季度"
            case PeriodKind.HALF:
                return f"{year}年{'上' if month == 1 else '下'}半年"
        return f"{year}年度"

    @property
    def months(self) -> list[dt.date]:
        """The first day of each month in the period, in order."""
        return [add_months(self.start, i) for i in range(MONTHS_IN[self.kind])]

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        return add_months(self.start, MONTHS_IN[self.kind])

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day < self.end

    def next(self) -> "Period":
        return Period(self.end, self.kind)

    def previous(self) -> "Period":
        return Period(add_months(self.start, -MONTHS_IN[self.kind]), self.kind)

    def __str__(self) -> str:
        return self.label


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_of(moment: dt.datetime, tz: dt.tzinfo) -> dt.date:
    """The first day of the month `moment` falls in, in timezone `tz` (the company's)."""
    local = moment.astimezone(tz)
    return dt.date(local.year, local.month, 1)
