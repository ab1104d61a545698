"""The one clock kaohe reads. Tests freeze it with time-machine; `--as-of` replays history."""

import datetime as dt
from zoneinfo import ZoneInfo

UTC = dt.UTC


def now() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(tz=UTC)


def today(tz: str | ZoneInfo = "Asia/Shanghai") -> dt.date:
    """Today's date in the given timezone (the company's, by default Asia/Shanghai)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return now().astimezone(zone).date()
