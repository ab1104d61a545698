"""Background tasks of the org app: housekeeping of rows that have served their purpose."""

import datetime as dt

from django.conf import settings
from django_tasks import task

from kaohe.lib import clock
from kaohe.org.models import LoginFailure

# Invitations are never purged: they record who sent which person a password link, when.


@task()
def purge_login_failures() -> int:
    """Deletes failed logins older than the throttle window: they no longer count."""
    cutoff = clock.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    deleted, _by_model = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted
