"""Failed-login throttle, kept in the database so every web process sees the same count."""

import datetime as dt

from django.conf import settings
from django.db.models import Q

from kaohe.lib import clock
from kaohe.org.models import LoginFailure


def _window_start() -> dt.datetime:
    return clock.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def is_throttled(username: str, ip: str | None) -> bool:
    """True when this username or this IP has failed too often within the window."""
    recent = LoginFailure.objects.filter(at__gte=_window_start())
    by_user = recent.filter(username=username.lower()).count()
    by_ip = recent.filter(ip=ip).count() if ip else 0
    return max(by_user, by_ip) >= settings.LOGIN_FAILURE_LIMIT


def record_failure(username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:150], ip=ip, at=clock.now())


def clear_failures(username: str) -> None:
    LoginFailure.objects.filter(Q(username=username.lower())).delete()
