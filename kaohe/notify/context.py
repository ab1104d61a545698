"""The unread count in every page's navigation (one COUNT on a partial index)."""

from kaohe.notify.models import Notification


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def inbox(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_unread": unread_count(user)}
