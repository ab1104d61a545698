"""Quiet hours: when a user's e-mail waits. Times are in the company's timezone."""

import datetime as dt
from zoneinfo import ZoneInfo


def in_quiet_hours(local: dt.time, start: dt.time, end: dt.time) -> bool:
    """Whether `local` falls in [start, end); a start after the end spans midnight."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(
    when: dt.datetime, start: dt.time | None, end: dt.time | None, tz: str
) -> dt.datetime | None:
    """The end of the quiet hours `when` falls in (aware, UTC), or None when it does not."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(tz)
    local = when.astimezone(zone)
    if not in_quiet_hours(local.time(), start, end):
        return None
    day = local.date() if local.time() < end else local.date() + dt.timedelta(days=1)
    # A wall-clock time in the zone; Asia/Shanghai has no DST, others are resolved by fold.
    return dt.datetime.combine(day, end, tzinfo=zone).astimezone(dt.UTC)
