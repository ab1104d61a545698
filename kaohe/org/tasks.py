"""Background tasks of the org app: housekeeping of rows that have served their purpose."""

import datetime as dt

from django.conf import settings
from django_tasks import task

from kaohe.lib import clock
from kaohe.org.models import Invitation, LoginFailure

# Expired invitations stay this long, so HR can still see why a link did not work.
INVITATION_KEEP_DAYS = 30


@task()
def purge_login_failures() -> int:
    """Deletes failed logins older than the throttle window: they no longer count."""
    cutoff = clock.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    deleted, _by_model = LoginFailure.objects.filter(at__lt=cutoff).delete()
    return deleted


@task()
def purge_expired_invitations() -> int:
    """Deletes invitations that expired more than INVITATION_KEEP_DAYS ago."""
    cutoff = clock.now() - dt.timedelta(days=INVITATION_KEEP_DAYS)
    deleted, _by_model = Invitation.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
