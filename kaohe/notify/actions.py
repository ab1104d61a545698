"""Changes to notification settings and the inbox.

Robots and webhook endpoints are an HR admin's: where kaohe sends word of employees'
performance is recorded in the evidence ledger (the address's origin and a fingerprint of
the whole address and of the secret, never the token or secret themselves). Reading one's
inbox and one's own preferences are the user's alone and not recorded.
"""

import datetime as dt
import hashlib
import re
import secrets
import urllib.parse

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from kaohe.integrations import outbound
from kaohe.lib import clock
from kaohe.notify.models import (
    FAILED_STATES,
    TEST_KIND,
    Channel,
    Delivery,
    Notification,
    Platform,
    Preference,
    Robot,
    Status,
    WebhookEndpoint,
)
from kaohe.notify.send import Message, event_body, queue, robot_payload
from kaohe.org.actions import FieldErrors
from kaohe.org.evidence import record
from kaohe.org.models import is_hr_admin

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MIN_SECRET = 16


def _require_hr_admin(actor) -> None:
    if not is_hr_admin(actor):
        raise PermissionDenied(_("Only an HR admin may do this."))


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else ""


def origin(url: str) -> str:
    """Scheme, host and port: what the ledger may show of an address holding a token."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))


def check_url(url: str) -> str:
    """An http(s) address, without user:password, to a host kaohe may reach."""
    url = (url or "").strip()
    try:
        parts = urllib.parse.urlsplit(url)  # "http://[::1" is refused here
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError:
        raise FieldErrors({"url": _("Give an http:// or https:// address.")}) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise FieldErrors({"url": _("Give an http:// or https:// address.")})
    if parts.username is not None or parts.password is not None:
        raise FieldErrors({"url": _("Leave user name and password out of the address.")})
    refusal = outbound.refusal_for_host(parts.hostname)
    if refusal:
        raise FieldErrors({"url": refusal})
    return url


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise FieldErrors({"name": _("Give a name.")})
    if len(name) > 100:
        raise FieldErrors({"name": _("Use at most 100 characters.")})
    return name


def _unique_name(model, name: str, instance) -> None:
    others = model.objects.filter(name=name).exclude(pk=getattr(instance, "pk", None))
    if others.exists():
        raise FieldErrors({"name": _("The name %(name)s is already in use.") % {"name": name}})


def _changes(instance, wanted: dict) -> dict:
    """Sets the wanted values; returns {field: (old, new)} of those that changed."""
    changed = {}
    for name, value in wanted.items():
        if getattr(instance, name) != value:
            changed[name] = (getattr(instance, name), value)
            setattr(instance, name, value)
    return changed


def _described(changed: dict) -> dict:
    """The ledger's view of a change: addresses by origin and fingerprint, secrets by
    fingerprint only."""
    payload = {}
    for name, (old, new) in changed.items():
        if name == "url":
            payload["url"] = {
                "old": origin(old), "new": origin(new),
                "old_sha256": fingerprint(old), "new_sha256": fingerprint(new),
            }  # fmt: skip
        elif name == "secret":
            payload["secret"] = {"old_sha256": fingerprint(old), "new_sha256": fingerprint(new)}
        else:
            payload[name] = {"old": old, "new": new}
    return payload


def _as_new(values: dict) -> dict:
    return _described({name: ("", value) for name, value in values.items()})


# --- robots ------------------------------------------------------------------------------


@transaction.atomic
def do_save_robot(
    actor, robot: Robot | None, *, name: str, platform: str, url: str, secret: str = "",
    active: bool = True,
) -> Robot:  # fmt: skip
    """Creates a robot (robot=None) or changes one."""
    _require_hr_admin(actor)
    name, url, secret = check_name(name), check_url(url), (secret or "").strip()
    if platform not in Platform.values:
        raise FieldErrors({"platform": _("Choose WeCom, DingTalk or Feishu.")})
    if len(secret) > 200 or any(c.isspace() for c in secret):
        raise FieldErrors({"secret": _("A secret is one word of at most 200 characters.")})
    _unique_name(Robot, name, robot)
    created = robot is None
    if created:
        robot = Robot(created_at=clock.now())
    wanted = {"name": name, "platform": platform, "url": url, "secret": secret, "active": active}
    changed = _changes(robot, wanted)
    if created:
        robot.save()
        record("notify.robot.created", actor, _as_new(wanted), robot=str(robot.pk))
    elif changed:
        robot.save(update_fields=list(changed))
        record("notify.robot.changed", actor, _described(changed), robot=str(robot.pk))
    return robot


# --- webhook endpoints -------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_event_types(event_types) -> list[str]:
    names = sorted({str(name).strip() for name in event_types if str(name).strip()})
    if not names:
        raise FieldErrors({"event_types": _("Name at least one event type, or * for all.")})
    for name in names:
        if name != WebhookEndpoint.ALL_EVENTS and not EVENT_TYPE.match(name):
            message = _("%(name)s is not an event type (such as alert.raised).")
            raise FieldErrors({"event_types": message % {"name": name}})
    return names


@transaction.atomic
def do_save_endpoint(
    actor, endpoint: WebhookEndpoint | None, *, name: str, url: str, event_types,
    secret: str = "", active: bool = True,
) -> WebhookEndpoint:  # fmt: skip
    """Creates an endpoint (endpoint=None) or changes one. An empty secret keeps the stored
    one, or makes a new one for a new endpoint."""
    _require_hr_admin(actor)
    name, url, types = check_name(name), check_url(url), check_event_types(event_types)
    secret = (secret or "").strip()
    if secret and (len(secret) < MIN_SECRET or len(secret) > 200 or " " in secret):
        message = _("Use %(n)s to 200 characters without spaces.") % {"n": MIN_SECRET}
        raise FieldErrors({"secret": message})
    _unique_name(WebhookEndpoint, name, endpoint)
    created = endpoint is None
    if created:
        endpoint = WebhookEndpoint(created_at=clock.now(), secret=secret or new_secret())
    wanted = {"name": name, "url": url, "event_types": types, "active": active}
    if secret:
        wanted["secret"] = secret
    changed = _changes(endpoint, wanted)
    if created:
        endpoint.save()
        payload = _as_new({**wanted, "secret": endpoint.secret})
        record("notify.endpoint.created", actor, payload, endpoint=str(endpoint.pk))
    elif changed:
        endpoint.save(update_fields=list(changed))
        payload = _described(changed)
        record("notify.endpoint.changed", actor, payload, endpoint=str(endpoint.pk))
    return endpoint


# --- test messages and retries -----------------------------------------------------------


def test_message(actor) -> Message:
    title = _("Test message from kaohe")
    body = _("%(user)s sent this test from the notification settings.") % {
        "user": actor.get_username()
    }
    return Message(TEST_KIND, title=title, body=body, url="/settings/notifications/")


@transaction.atomic
def do_test_robot(actor, robot: Robot) -> Delivery:
    """Queues a test message to the robot, even a disabled one (checking it before enabling
    it is the point); the caller sends it right away."""
    _require_hr_admin(actor)
    now = clock.now()
    payload = robot_payload(test_message(actor))
    return queue(robot.platform, robot.name, TEST_KIND, payload, "", now, now, robot=robot)


@transaction.atomic
def do_test_endpoint(actor, endpoint: WebhookEndpoint) -> Delivery:
    """Queues a `kaohe.test` event to this endpoint only, whatever it subscribes to."""
    _require_hr_admin(actor)
    now = clock.now()
    event_id, body = event_body(TEST_KIND, {"sent_by": actor.get_username()}, now)
    payload = {"body": body, "event_id": event_id}
    return queue(Channel.WEBHOOK, endpoint.name, TEST_KIND, payload, "", now, now,
                 endpoint=endpoint)  # fmt: skip


@transaction.atomic
def do_retry_delivery(actor, delivery: Delivery) -> bool:
    """Puts a failing or dead delivery back in the queue, due now, with a fresh count."""
    _require_hr_admin(actor)
    retried = Delivery.objects.filter(pk=delivery.pk, status__in=FAILED_STATES).update(
        status=Status.PENDING, next_attempt_at=clock.now(), attempts=0
    )
    return bool(retried)


# --- the inbox and preferences -----------------------------------------------------------


def do_mark_read(user, notification: Notification) -> None:
    if notification.user_id != user.pk:
        raise PermissionDenied
    Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=clock.now()
    )


def do_mark_all_read(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=clock.now())


def do_save_preference(
    user, *, email: bool, quiet_start: dt.time | None, quiet_end: dt.time | None, language: str
) -> Preference:
    if (quiet_start is None) != (quiet_end is None):
        raise FieldErrors({"quiet_end": _("Give both the start and the end of quiet hours.")})
    if quiet_start is not None and quiet_start == quiet_end:
        raise FieldErrors({"quiet_end": _("Quiet hours must end at another time than they start.")})
    if language and language not in {code for code, _name in settings.LANGUAGES}:
        raise FieldErrors({"language": _("Choose one of the offered languages.")})
    preference, _created = Preference.objects.update_or_create(
        user=user,
        defaults={"email": email, "quiet_start": quiet_start, "quiet_end": quiet_end,
                  "language": language},
    )  # fmt: skip
    return preference
